/* durfs daemon: directory handles -- opendir, readdir(plus), releasedir,
 * fsyncdir.  The journal's directory (.durfs in the root) is never listed. */
#include "ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

/* The DIR stream is made at the first readdir: a directory is often opened
 * only to be fsynced (SQLite, atomic-replace idioms), and fdopendir costs an
 * fstat, two fcntls and a 32 KiB buffer per open. */
typedef struct dir_handle {
    int fd;
    DIR *dp;              /* NULL until the first readdir; then owns fd */
    struct dirent *entry; /* read but not yet returned (did not fit) */
    off_t offset;
    bool is_root;
} dir_handle;

void h_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    dnode *n = inode_get(ino);
    dir_handle *d = calloc(1, sizeof(*d));
    int e = d ? fd_budget_take() : ENOMEM;
    if (!e) {
        fdref r;
        e = fdref_get(n, &r);
        if (!e) {
            d->fd = openat(r.fd, ".", O_RDONLY | O_DIRECTORY);
            fdref_put(&r); /* keeps errno */
            e = d->fd < 0 ? errno : 0;
        }
        if (e)
            fd_budget_give();
    }
    if (e) {
        free(d);
        reply_err(req, e);
        return;
    }
    d->is_root = n == g_fs.root;
    fi->fh = (uintptr_t)d;
    if (fuse_reply_open(req, fi) != 0) { /* interrupted: the kernel never saw it */
        close(d->fd);
        free(d);
        fd_budget_give();
    }
}

/* The handle's stream, made on first use (see dir_handle); NULL with errno. */
static DIR *dir_stream(dir_handle *d)
{
    if (!d->dp)
        d->dp = fdopendir(d->fd);
    return d->dp;
}

static bool dot_or_dotdot(const char *s)
{
    return s[0] == '.' && (s[1] == '\0' || (s[1] == '.' && s[2] == '\0'));
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi, bool plus)
{
    dir_handle *d = (dir_handle *)(uintptr_t)fi->fh;
    dnode *dir = inode_get(ino);
    if (!dir_stream(d)) {
        reply_err(req, errno);
        return;
    }
    char *buf = calloc(1, size);
    if (!buf) {
        reply_err(req, ENOMEM);
        return;
    }
    if (off != d->offset) {
        seekdir(d->dp, off);
        d->entry = NULL;
        d->offset = off;
    }
    size_t rem = size;
    char *p = buf;
    int e = 0;
    for (;;) {
        if (!d->entry) {
            errno = 0;
            d->entry = readdir(d->dp);
            if (!d->entry) {
                e = errno;
                break;
            }
        }
        off_t next = d->entry->d_off;
        const char *name = d->entry->d_name;
        if (d->is_root && strcmp(name, DUR_NS_RESERVED_NAME) == 0) {
            d->entry = NULL;
            d->offset = next;
            continue;
        }
        size_t sz;
        fuse_ino_t added = 0;
        if (plus) {
            struct fuse_entry_param ent;
            if (dot_or_dotdot(name)) {
                ent = (struct fuse_entry_param){.attr.st_ino = d->entry->d_ino,
                                                .attr.st_mode = d->entry->d_type << 12};
            } else {
                e = entry_lookup(dir, dirfd(d->dp), name, &ent);
                if (e == ENOENT) { /* removed since readdir saw it */
                    e = 0;
                    d->entry = NULL;
                    d->offset = next;
                    continue;
                }
                if (e)
                    break;
                added = ent.ino;
            }
            sz = fuse_add_direntry_plus(req, p, rem, name, &ent, next);
        } else {
            struct stat st = {.st_ino = d->entry->d_ino, .st_mode = d->entry->d_type << 12};
            sz = fuse_add_direntry(req, p, rem, name, &st, next);
        }
        if (sz > rem) { /* full: keep the entry for the next call */
            if (added)
                inode_forget(inode_get(added), 1);
            break;
        }
        p += sz;
        rem -= sz;
        d->entry = NULL;
        d->offset = next;
    }
    /* an error after entries were added cannot be reported without losing their
     * lookup counts: return what we have, the next call reports it */
    if (e && rem == size)
        reply_err(req, e);
    else
        fuse_reply_buf(req, buf, size - rem);
    free(buf);
}

void h_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, false);
}

void h_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, true);
}

void h_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    dir_handle *d = (dir_handle *)(uintptr_t)fi->fh;
    if (d->dp)
        closedir(d->dp);
    else
        close(d->fd);
    free(d);
    fd_budget_give();
    reply_err(req, 0);
}

/* R5: a directory fsync is real: every journaled operation so far is durable. */
void h_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)ino;
    (void)datasync;
    (void)fi;
    dur_error err;
    if (dur_ns_dir_fsync(g_fs.ns, &err) != DUR_OK) {
        log_dur_error("fsyncdir", &err);
        reply_err(req, EIO);
        return;
    }
    reply_err(req, 0);
}
