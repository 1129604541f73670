/* durfs daemon: namespace changes -- mknod, mkdir, symlink, link, unlink, rmdir,
 * rename.  Each one is
 *     dur_ns_begin / [caller's creds] backing call [our creds] / dur_ns_log_* / dur_ns_end
 * so the journal's order is the order the calls were applied (R8), and a reply of
 * success means the record is as durable as the mode promises (R1).  Handles of
 * the objects involved are taken inside the bracket, where no other journaled
 * operation can move them. */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* mknod / mkdir / symlink */
static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev,
                      const char *link)
{
    dnode *p = inode_get(parent);
    if (is_reserved(p, name)) {
        reply_err(req, EPERM);
        return;
    }
    fdref r;
    int e = fdref_get(p, &r);
    if (e) {
        reply_err(req, e);
        return;
    }
    struct fuse_entry_param ent;
    memset(&ent, 0, sizeof(ent));
    bool have_entry = false;
    dur_ns_op op;
    e = begin_op(&op);
    creds_saved cs;
    if (!e)
        e = creds_enter(req, &cs);
    if (!e) {
        creds_keep_caps(&cs);
        int rc = S_ISDIR(mode)   ? mkdirat(r.fd, name, mode & ~S_IFMT)
                 : S_ISLNK(mode) ? symlinkat(link ? link : "", r.fd, name)
                                 : mknodat(r.fd, name, mode, rdev);
        e = rc < 0 ? errno : 0;
        creds_leave(&cs);
    }
    if (!e) {
        dur_fh fh = {0};
        e = entry_of_created(r.fd, name, true, &ent, &fh);
        if (!e) {
            have_entry = true;
            dur_fh pfh;
            inode_fh(p, &pfh);
            dur_ns_log_create(&op, &pfh, name, &fh, ent.attr.st_mode, ent.attr.st_uid,
                              ent.attr.st_gid, ent.attr.st_rdev, link);
        } else if (e != EMFILE && e != ENFILE && e != ENOMEM) {
            log_msg(LOG_ERR, "%s created but unreadable: %s", name, strerror(e));
            e = EIO;
        }
    }
    e = end_op(&op, e);
    fdref_put(&r);
    if (e) {
        if (have_entry)
            inode_forget(inode_get(ent.ino), 1);
        reply_err(req, e);
    } else {
        fuse_reply_entry(req, &ent);
    }
}

void h_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    if (S_ISDIR(mode) || S_ISLNK(mode)) {
        reply_err(req, EINVAL);
        return;
    }
    make_node(req, parent, name, mode, rdev, NULL);
}

void h_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    make_node(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

void h_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    make_node(req, parent, name, S_IFLNK | 0777, 0, link);
}

void h_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    dnode *n = inode_get(ino), *np = inode_get(newparent);
    if (is_reserved(np, newname)) {
        reply_err(req, EPERM);
        return;
    }
    fdref src, dst;
    int e = fdref_get2(n, &src, np, &dst);
    if (e) {
        reply_err(req, e);
        return;
    }
    dur_ns_op op;
    e = begin_op(&op);
    /* a link makes no new inode: no owner to set, so no creds switch */
    if (!e)
        e = linkat(src.fd, "", dst.fd, newname, AT_EMPTY_PATH) < 0 ? errno : 0;
    struct fuse_entry_param ent;
    memset(&ent, 0, sizeof(ent));
    if (!e) {
        dur_fh fh, pfh;
        inode_fh(n, &fh);
        inode_fh(np, &pfh);
        dur_ns_log_link(&op, &fh, &pfh, newname);
        if (fstatat(src.fd, "", &ent.attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
            e = errno;
    }
    e = end_op(&op, e);
    if (!e) {
        dur_fh fh;
        inode_fh(n, &fh);
        int er = 0;
        dnode *got = inode_add(&ent.attr, &fh, -1, &er); /* one more lookup ref */
        if (!got)
            e = er;
        else {
            ent.ino = inode_id(got);
            ent.attr_timeout = ent.entry_timeout = g_fs.timeout;
        }
    }
    fdref_put(&src);
    fdref_put(&dst);
    if (e)
        reply_err(req, e);
    else
        fuse_reply_entry(req, &ent);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, bool is_dir)
{
    dnode *p = inode_get(parent);
    if (is_reserved(p, name)) {
        reply_err(req, EPERM);
        return;
    }
    fdref r;
    int e = fdref_get(p, &r);
    if (e) {
        reply_err(req, e);
        return;
    }
    dur_ns_op op;
    e = begin_freeing_op(&op);
    struct stat st;
    dur_fh fh = {0};
    if (!e)
        e = fstatat(r.fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
    if (!e)
        e = journal_handle(r.fd, name, &fh);
    bool last_name = !e && (is_dir || st.st_nlink <= 1);
    inode_hold hold = INODE_HOLD_NONE;
    if (last_name) {
        inode_prepare_hold(r.fd, name, &st, &hold);
        inode_test_evict_at_remove(name); /* TEST ONLY (no-op in release builds) */
    }
    if (!e)
        e = unlinkat(r.fd, name, is_dir ? AT_REMOVEDIR : 0) < 0 ? errno : 0;
    if (!e) {
        dur_fh pfh;
        inode_fh(p, &pfh);
        dur_ns_log_remove(&op, &pfh, name, &fh, is_dir);
    }
    if (!e && last_name)
        inode_hold_removed(&st, &hold);
    else
        inode_hold_cancel(&hold);
    e = end_op(&op, e);
    fdref_put(&r);
    reply_err(req, e);
}

void h_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    remove_entry(req, parent, name, false);
}

void h_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    remove_entry(req, parent, name, true);
}

/* Writeback cache: a file still open for writing (or mapped: RELEASE comes only
 * at munmap) may hold written pages the kernel has not sent us -- it writes back
 * before FLUSH and FSYNC, not before RENAME.  Invalidating the file's pages makes
 * it launder the dirty ones as WRITEs now, which the other worker threads serve
 * while this one waits in the notification.  So that WRITEs always find a
 * thread, at most half the workers wait so; a rename that finds no place within
 * a second (the kernel's directory locks let one RENAME per directory in at a
 * time: that takes DURFS_MAX_THREADS / 2 directories renaming such files at
 * once) fails with EBUSY rather than go on without its data. */
static pthread_mutex_t g_notify_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_notify_freed = PTHREAD_COND_INITIALIZER; /* CLOCK_REALTIME */
static unsigned g_in_notify;

unsigned renames_writing_back(void)
{
    pthread_mutex_lock(&g_notify_mu);
    unsigned n = g_in_notify;
    pthread_mutex_unlock(&g_notify_mu);
    return n;
}

static int write_back_kernel_pages(dnode *n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&g_notify_mu);
    int e = 0;
    while (!e && g_in_notify >= DURFS_MAX_THREADS / 2)
        e = pthread_cond_timedwait(&g_notify_freed, &g_notify_mu, &until) == ETIMEDOUT ? EBUSY : 0;
    unsigned busy = g_in_notify;
    if (!e)
        g_in_notify++;
    pthread_mutex_unlock(&g_notify_mu);
    if (e) {
        log_msg(LOG_WARNING,
                "rename: %u renames already wait for the kernel's write-back of "
                "open files: EBUSY",
                busy);
        return e;
    }
    int r = fuse_lowlevel_notify_inval_inode(g_fs.se, inode_id(n), 0, 0);
    if (r < 0 && r != -ENOENT) { /* ENOENT: the kernel has no such inode, so no pages */
        /* the pages may not have come: no rename without them */
        log_msg(LOG_WARNING, "rename: asking the kernel to write back inode %llu: %s",
                (unsigned long long)n->ino, strerror(-r));
        e = EIO;
    }
    /* The kernel reports no failed write-back here: after an abort (conn_abort.c,
     * `umount -f`, fusectl) the pages may not have come, and the rename must not
     * go on without them. */
    if (conn_is_aborted())
        e = EIO;
    pthread_mutex_lock(&g_notify_mu);
    g_in_notify--;
    pthread_cond_signal(&g_notify_freed);
    pthread_mutex_unlock(&g_notify_mu);
    return e;
}

/* Atomic replace (R2): the data of a regular file being renamed must be durable
 * before the rename is.  Only files written through durfs can have data not yet
 * durable, and their state is in the node (kept even after forget, inode.c). */
static int prepare_rename(int dirfd, const char *name, const struct stat *st)
{
    if (!S_ISREG(st->st_mode))
        return 0;
    dnode *n = inode_find(st->st_dev, st->st_ino);
    dnode_file *f = n ? atomic_load(&n->file) : NULL;
    if (f && g_fs.writeback && atomic_load(&f->writable_opens) > 0) {
        int e = write_back_kernel_pages(n);
        if (e)
            return e;
    }
    if (!f || (!dur_file_state_dirty(&f->st) && atomic_load(&f->st.failed_errno) == 0))
        return 0;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return errno;
    dur_error err;
    dur_fh fh;
    inode_fh(n, &fh);
    dur_code c = dur_ns_prepare_rename(g_fs.ns, &f->st, fd, &fh, &err);
    close(fd);
    if (c != DUR_OK) {
        log_dur_error("rename: making the source's data durable", &err);
        return sync_failure_errno(&err);
    }
    return 0;
}

void h_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
              const char *newname, unsigned int flags)
{
    dnode *p = inode_get(parent), *np = inode_get(newparent);
    if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
        reply_err(req, EINVAL);
        return;
    }
    if (is_reserved(p, name) || is_reserved(np, newname)) {
        reply_err(req, EPERM);
        return;
    }
    fdref from, to;
    int e = fdref_get2(p, &from, np, &to);
    if (e) {
        reply_err(req, e);
        return;
    }
    struct stat sst, dst;
    e = fstatat(from.fd, name, &sst, AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
    if (!e)
        e = prepare_rename(from.fd, name, &sst);
    if (!e && (flags & RENAME_EXCHANGE) && fstatat(to.fd, newname, &dst, AT_SYMLINK_NOFOLLOW) == 0)
        e = prepare_rename(to.fd, newname, &dst);
    if (e) {
        fdref_put(&from);
        fdref_put(&to);
        reply_err(req, e);
        return;
    }
    dur_ns_op op;
    e = begin_op(&op);
    dur_fh sfh = {0}, dfh = {0};
    bool replaced = fstatat(to.fd, newname, &dst, AT_SYMLINK_NOFOLLOW) == 0;
    if (!e)
        e = journal_handle(from.fd, name, &sfh);
    if (!e && replaced)
        e = journal_handle(to.fd, newname, &dfh);
    bool same = replaced && dst.st_dev == sst.st_dev && dst.st_ino == sst.st_ino;
    bool last_name = replaced && !same && !(flags & RENAME_EXCHANGE) &&
                     (S_ISDIR(dst.st_mode) || dst.st_nlink <= 1);
    inode_hold hold = INODE_HOLD_NONE;
    if (last_name) {
        inode_prepare_hold(to.fd, newname, &dst, &hold);
        inode_test_evict_at_remove(newname); /* TEST ONLY (no-op in release builds) */
    }
    if (!e)
        e = renameat2(from.fd, name, to.fd, newname, flags) < 0 ? errno : 0;
    if (!e) {
        dur_fh pfh, npfh;
        inode_fh(p, &pfh);
        inode_fh(np, &npfh);
        dur_ns_log_rename(&op, &pfh, name, &npfh, newname, flags, &sfh, replaced ? &dfh : NULL);
    }
    if (!e && last_name)
        inode_hold_removed(&dst, &hold);
    else
        inode_hold_cancel(&hold);
    e = end_op(&op, e);
    fdref_put(&from);
    fdref_put(&to);
    reply_err(req, e);
}
