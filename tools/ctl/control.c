/* durfsctl: getxattr/setxattr on the mount point, with errors an operator can act on. */
#include "control.h"
#include "procfs.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#define FUSE_SUPER_MAGIC 0x65735546

/* Why an xattr call on dir failed, in operator terms. */
static void explain(const char *dir, const char *what, int e)
{
    if (e == EPERM || e == EACCES || (geteuid() != 0 && e == ENODATA)) {
        /* trusted.* is hidden from non-root: ENODATA means "not for you" there. */
        fprintf(stderr, "durfsctl: %s: permission denied: the control interface is root-only\n",
                dir);
        return;
    }
    struct statfs sfs;
    if (e == ENOENT || e == ENOTDIR) {
        fprintf(stderr, "durfsctl: %s: %s\n", dir, strerror(e));
        return;
    }
    if (statfs(dir, &sfs) == 0 && sfs.f_type != FUSE_SUPER_MAGIC) {
        fprintf(stderr, "durfsctl: %s is not a durfs mount point (no FUSE filesystem here)\n", dir);
        return;
    }
    if (e == ENODATA || e == ENOTSUP) {
        fprintf(stderr,
                "durfsctl: %s is not a durfs mount point, or not its root (%s unavailable)\n", dir,
                what);
        return;
    }
    if (e == ENOTCONN) {
        fprintf(stderr,
                "durfsctl: %s: the durfs daemon is gone (transport endpoint not "
                "connected); unmount with umount -l and remount\n",
                dir);
        return;
    }
    fprintf(stderr, "durfsctl: %s: %s: %s\n", dir, what, strerror(e));
}

/* The control xattrs live on the mount's root: map any path inside a FUSE mount
 * to that root, so `durfsctl status /var/lib/app/sub` works.  Other paths are
 * returned unchanged. */
static const char *mount_root(const char *dir, char *out, size_t size)
{
    char fstype[64];
    if (!procfs_mount_containing(dir, out, size, fstype, sizeof fstype) ||
        strncmp(fstype, "fuse", 4) != 0)
        return dir;
    return out;
}

json *ctl_read(const char *dir_arg, const char *xattr, char **raw)
{
    char root[PATH_MAX];
    const char *dir = mount_root(dir_arg, root, sizeof root);
    if (geteuid() != 0) {
        fprintf(stderr, "durfsctl: %s: permission denied: the control interface is root-only\n",
                dir);
        return NULL;
    }
    /* The document can grow between the size probe and the read: retry a few times. */
    for (int attempt = 0; attempt < 4; attempt++) {
        ssize_t n = getxattr(dir, xattr, NULL, 0);
        if (n < 0) {
            explain(dir, xattr, errno);
            return NULL;
        }
        size_t cap = (size_t)n + 4096;
        char *buf = malloc(cap + 1);
        if (buf == NULL) {
            fprintf(stderr, "durfsctl: out of memory\n");
            return NULL;
        }
        ssize_t got = getxattr(dir, xattr, buf, cap);
        if (got < 0 && errno == ERANGE) {
            free(buf);
            continue;
        }
        if (got < 0) {
            int e = errno;
            free(buf);
            explain(dir, xattr, e);
            return NULL;
        }
        buf[got] = '\0';
        char err[128];
        json *j = json_parse(buf, (size_t)got, err, sizeof err);
        if (j == NULL || j->type != JSON_OBJECT) {
            fprintf(stderr, "durfsctl: %s: %s is not a valid status document: %s\n", dir, xattr,
                    j ? "not an object" : err);
            json_free(j);
            free(buf);
            return NULL;
        }
        if (raw)
            *raw = buf;
        else
            free(buf);
        return j;
    }
    fprintf(stderr, "durfsctl: %s: %s keeps changing size; try again\n", dir, xattr);
    return NULL;
}

int ctl_checkpoint(const char *dir_arg)
{
    char root[PATH_MAX];
    const char *dir = mount_root(dir_arg, root, sizeof root);
    if (geteuid() != 0) {
        fprintf(stderr, "durfsctl: %s: permission denied: the control interface is root-only\n",
                dir);
        return -1;
    }
    /* Only a durfs root answers the status: on any other directory the
     * setxattr below would succeed and leave a trusted.* attribute there (on
     * BACKING, behind the journal's back). */
    if (getxattr(dir, CTL_XATTR_STATUS, NULL, 0) < 0) {
        explain(dir, CTL_XATTR_STATUS, errno);
        return -1;
    }
    if (setxattr(dir, CTL_XATTR_CHECKPOINT, "1", 1, 0) != 0) {
        explain(dir, CTL_XATTR_CHECKPOINT, errno);
        return -1;
    }
    return 0;
}
