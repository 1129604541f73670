/* durfs daemon: extended attributes (journaled when they change), and the entry
 * point of the control interface: trusted.durfs.* on the root (control.c). */
#include "ops.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

/* The kernel asks for security.capability before every write(2) to a file
 * (FUSE mounts have no SB_NOSEC, so it cannot remember the answer): 11 times
 * per SQLite transaction.  Files almost never have one, and while mounted only
 * a setxattr through durfs can add one (changes made directly in BACKING are
 * outside the contract), so a node remembers "absent" and the answer costs no
 * syscall.  The round trip itself stays: that is the kernel's.
 *
 * node->fcaps = generation << 1 | absent.  setxattr/removexattr of the name
 * bump the generation (clearing "absent") before and after the call, and a
 * getxattr records "absent" only if the generation it started with is still
 * there, so a lookup racing with a setxattr never leaves a stale "absent". */
static const char FCAPS_NAME[] = "security.capability";

static bool is_fcaps(const char *name)
{
    return strcmp(name, FCAPS_NAME) == 0;
}

static void fcaps_invalidate(dnode *n)
{
    unsigned old = atomic_load(&n->fcaps);
    while (!atomic_compare_exchange_weak(&n->fcaps, &old, (old + 2u) & ~1u))
        ;
}

static void fcaps_note_absent(dnode *n, unsigned seen)
{
    atomic_compare_exchange_strong(&n->fcaps, &seen, seen | 1u);
}

void xattr_note_created(dnode *n)
{
    fcaps_note_absent(n, atomic_load(&n->fcaps));
}

bool xattr_fcaps_on(dnode *n, int fd)
{
    if (atomic_load(&n->fcaps) & 1u)
        return false;
    return fgetxattr(fd, FCAPS_NAME, NULL, 0) >= 0;
}

int xattr_log_fcaps_removed(dnode *n)
{
    fcaps_invalidate(n);
    dur_ns_op op;
    int e = begin_freeing_op(&op); /* owed: BACKING dropped them already */
    if (!e) {
        dur_fh fh;
        inode_fh(n, &fh);
        dur_ns_log_removexattr(&op, &fh, FCAPS_NAME);
    }
    return end_op(&op, e);
}

/* xattr calls need a path: O_PATH fds are not accepted by f*xattr. */
static void proc_path(char *buf, size_t size, int fd)
{
    snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* Setting an access ACL rewrites the file's mode, and a local filesystem then
 * clears the setgid bit unless the caller is in the file's group or holds
 * CAP_FSETID (CVE-2016-7097).  The kernel leaves that to a FUSE daemon, and tells
 * it only through FUSE_CAP_SETXATTR_EXT, whose flags libfuse 3.14 does not pass.
 * So the call runs as the caller (ids, groups, and its own CAP_FSETID; CAP_FOWNER
 * because the kernel checked owner-or-CAP_FOWNER already), and BACKING's kernel
 * decides as it would natively; the record says whether the bit went (replay
 * runs as root). */
static const char ACL_ACCESS_NAME[] = "system.posix_acl_access";

static int set_xattr(const char *path, const char *name, const char *value, size_t size, int flags)
{
    return setxattr(path, name, value, size, flags) < 0 ? errno : 0;
}

static int set_access_acl_as_caller(fuse_req_t req, const char *path, const char *value,
                                    size_t size, int flags)
{
    creds_saved cs;
    int e = creds_enter(req, &cs);
    if (e)
        return e;
    creds_for_access_acl(req, &cs);
    e = set_xattr(path, ACL_ACCESS_NAME, value, size, flags);
    creds_leave(&cs);
    return e;
}

/* DUR_NS_XATTR_KILL_SGID if the object had the setgid bit before and not now. */
static unsigned sgid_killed(int fd, const struct stat *before)
{
    struct stat now;
    bool killed = (before->st_mode & S_ISGID) && fstat(fd, &now) == 0 && !(now.st_mode & S_ISGID);
    return killed ? DUR_NS_XATTR_KILL_SGID : 0;
}

void h_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                int flags)
{
    dnode *n = inode_get(ino);
    if (n == g_fs.root && control_is_name(name)) {
        control_setxattr(req, name);
        return;
    }
    fdref r;
    int e = fdref_get(n, &r);
    if (e) {
        reply_err(req, e);
        return;
    }
    char path[64];
    proc_path(path, sizeof(path), r.fd);
    bool fcaps = is_fcaps(name);
    if (fcaps)
        fcaps_invalidate(n);
    bool acl_access = strcmp(name, ACL_ACCESS_NAME) == 0;
    struct stat before = {0};
    dur_ns_op op;
    e = begin_op(&op);
    if (!e && acl_access && fstat(r.fd, &before) < 0)
        e = errno;
    if (!e)
        e = acl_access ? set_access_acl_as_caller(req, path, value, size, flags)
                       : set_xattr(path, name, value, size, flags);
    if (fcaps)
        fcaps_invalidate(n);
    if (!e) {
        dur_fh fh;
        inode_fh(n, &fh);
        unsigned logged = (unsigned)flags | (acl_access ? sgid_killed(r.fd, &before) : 0);
        dur_ns_log_setxattr(&op, &fh, name, value, size, (int)logged);
    }
    e = end_op(&op, e);
    fdref_put(&r);
    reply_err(req, e);
}

void h_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    dnode *n = inode_get(ino);
    if (n == g_fs.root && control_is_name(name)) {
        reply_err(req, EPERM);
        return;
    }
    fdref r;
    int e = fdref_get(n, &r);
    if (e) {
        reply_err(req, e);
        return;
    }
    char path[64];
    proc_path(path, sizeof(path), r.fd);
    bool fcaps = is_fcaps(name);
    if (fcaps)
        fcaps_invalidate(n);
    dur_ns_op op;
    e = begin_freeing_op(&op);
    if (!e)
        e = removexattr(path, name) < 0 ? errno : 0;
    if (fcaps)
        fcaps_invalidate(n);
    if (!e) {
        dur_fh fh;
        inode_fh(n, &fh);
        dur_ns_log_removexattr(&op, &fh, name);
    }
    e = end_op(&op, e);
    fdref_put(&r);
    reply_err(req, e);
}

/* getxattr and listxattr share the size protocol: size 0 asks for the length.
 * Returns the errno replied (0: success). */
static int reply_sized(fuse_req_t req, size_t size,
                       ssize_t (*call)(void *ctx, char *buf, size_t size), void *ctx)
{
    char *buf = NULL;
    if (size && !(buf = malloc(size))) {
        reply_err(req, ENOMEM);
        return ENOMEM;
    }
    ssize_t len = call(ctx, buf, size);
    int e = len < 0 ? errno : 0;
    if (e)
        reply_err(req, e);
    else if (size == 0)
        fuse_reply_xattr(req, (size_t)len);
    else
        fuse_reply_buf(req, buf, (size_t)len);
    free(buf);
    return e;
}

typedef struct xattr_call {
    const char *path, *name;
    fuse_req_t req;
} xattr_call;

static ssize_t call_get(void *ctx, char *buf, size_t size)
{
    xattr_call *c = ctx;
    return getxattr(c->path, c->name, buf, size);
}

static bool is_trusted(const char *name)
{
    return strncmp(name, "trusted.", 8) == 0;
}

/* BACKING's whole list of names, malloc'ed; its length in *len. */
static char *list_all(const char *path, ssize_t *len)
{
    for (int tries = 0; tries < 8; tries++) {
        ssize_t want = listxattr(path, NULL, 0);
        if (want <= 0) {
            *len = want;
            return NULL;
        }
        char *all = malloc((size_t)want);
        if (!all) {
            errno = ENOMEM;
            *len = -1;
            return NULL;
        }
        if ((*len = listxattr(path, all, (size_t)want)) >= 0)
            return all;
        free(all);
        if (errno != ERANGE) /* else a name was added in between: again */
            return NULL;
    }
    *len = -1;
    return NULL;
}

static bool lists_trusted(const char *list, ssize_t len)
{
    for (ssize_t i = 0; i < len; i += (ssize_t)strnlen(list + i, (size_t)(len - i)) + 1)
        if (is_trusted(list + i))
            return true;
    return false;
}

/* Copies the names of list (len bytes) but trusted.* ones to buf (size bytes;
 * 0: count only); the length, or -1 with ERANGE. */
static ssize_t copy_untrusted(const char *list, ssize_t len, char *buf, size_t size)
{
    size_t out = 0;
    for (ssize_t i = 0; i < len;) {
        size_t n = strnlen(list + i, (size_t)(len - i)) + 1;
        if (!is_trusted(list + i)) {
            if (size && out + n > size) {
                errno = ERANGE;
                return -1;
            }
            if (size)
                memmove(buf + out, list + i, n);
            out += n;
        }
        i += (ssize_t)n;
    }
    return (ssize_t)out;
}

/* A local filesystem lists trusted.* names only to callers with CAP_SYS_ADMIN;
 * the daemon has it, so they are dropped here for the others (a size query
 * then needs the names themselves). */
static ssize_t call_list(void *ctx, char *buf, size_t size)
{
    xattr_call *c = ctx;
    ssize_t len = size ? listxattr(c->path, buf, size) : -1; /* size 0: the names are needed */
    if (len < 0 && size && errno != ERANGE)
        return len;
    char *all = len < 0 ? list_all(c->path, &len) : buf;
    if (!all)
        return len;
    if (lists_trusted(all, len) && !creds_caller_has_cap(c->req, CAP_SYS_ADMIN))
        len = copy_untrusted(all, len, buf, size);
    else if (all != buf && size) { /* ERANGE from the first call stands */
        errno = ERANGE;
        len = -1;
    }
    if (all != buf)
        free(all);
    return len;
}

/* Returns the errno replied (0: success). */
static int xattr_read(fuse_req_t req, dnode *n, const char *name, size_t size)
{
    fdref r;
    int e = fdref_get(n, &r);
    if (e) {
        reply_err(req, e);
        return e;
    }
    char path[64];
    proc_path(path, sizeof(path), r.fd);
    xattr_call c = {path, name, req};
    e = reply_sized(req, size, name ? call_get : call_list, &c);
    fdref_put(&r);
    return e;
}

void h_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    dnode *n = inode_get(ino);
    if (n == g_fs.root && control_is_name(name)) {
        control_getxattr(req, name, size);
        return;
    }
    if (!is_fcaps(name)) {
        xattr_read(req, n, name, size);
        return;
    }
    unsigned seen = atomic_load(&n->fcaps);
    if (seen & 1u)
        reply_err(req, ENODATA);
    else if (xattr_read(req, n, name, size) == ENODATA)
        fcaps_note_absent(n, seen);
}

void h_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    xattr_read(req, inode_get(ino), NULL, size);
}
