/* durfs daemon: extended attributes (journaled when they change), and the entry
 * point of the control interface: trusted.durfs.* on the root (control.c). */
#include "ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/xattr.h>

/* xattr calls need a path: O_PATH fds are not accepted by f*xattr. */
static void proc_path(char *buf, size_t size, int fd)
{
    snprintf(buf, size, "/proc/self/fd/%d", fd);
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
    dur_ns_op op;
    dur_ns_begin(g_fs.ns, &op);
    e = setxattr(path, name, value, size, flags) < 0 ? errno : 0;
    if (!e) {
        dur_fh fh;
        inode_fh(n, &fh);
        dur_ns_log_setxattr(&op, &fh, name, value, size, flags);
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
    dur_ns_op op;
    dur_ns_begin(g_fs.ns, &op);
    e = removexattr(path, name) < 0 ? errno : 0;
    if (!e) {
        dur_fh fh;
        inode_fh(n, &fh);
        dur_ns_log_removexattr(&op, &fh, name);
    }
    e = end_op(&op, e);
    fdref_put(&r);
    reply_err(req, e);
}

/* getxattr and listxattr share the size protocol: size 0 asks for the length. */
static void reply_sized(fuse_req_t req, size_t size,
                        ssize_t (*call)(void *ctx, char *buf, size_t size), void *ctx)
{
    char *buf = NULL;
    if (size && !(buf = malloc(size))) {
        reply_err(req, ENOMEM);
        return;
    }
    ssize_t len = call(ctx, buf, size);
    if (len < 0)
        reply_err(req, errno);
    else if (size == 0)
        fuse_reply_xattr(req, (size_t)len);
    else
        fuse_reply_buf(req, buf, (size_t)len);
    free(buf);
}

typedef struct xattr_call {
    const char *path, *name;
} xattr_call;

static ssize_t call_get(void *ctx, char *buf, size_t size)
{
    xattr_call *c = ctx;
    return getxattr(c->path, c->name, buf, size);
}

static ssize_t call_list(void *ctx, char *buf, size_t size)
{
    xattr_call *c = ctx;
    return listxattr(c->path, buf, size);
}

static void xattr_read(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    fdref r;
    int e = fdref_get(inode_get(ino), &r);
    if (e) {
        reply_err(req, e);
        return;
    }
    char path[64];
    proc_path(path, sizeof(path), r.fd);
    xattr_call c = {path, name};
    reply_sized(req, size, name ? call_get : call_list, &c);
    fdref_put(&r);
}

void h_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    if (inode_get(ino) == g_fs.root && control_is_name(name)) {
        control_getxattr(req, name, size);
        return;
    }
    xattr_read(req, ino, name, size);
}

void h_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    xattr_read(req, ino, NULL, size);
}
