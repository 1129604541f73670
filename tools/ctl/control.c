/* durfsctl: getxattr/setxattr on the mount point, with errors an operator can act on. */
#include "control.h"

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

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* The control xattrs live on the mount's root: map any path inside a FUSE mount
 * to that root (the innermost mount containing it), so `durfsctl status
 * /var/lib/app/sub` works.  Other paths are returned unchanged. */
static const char *mount_root(const char *dir, char *out, size_t size)
{
    char real[PATH_MAX];
    if (realpath(dir, real) == NULL)
        return dir;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (f == NULL)
        return dir;
    char line[8192], best[PATH_MAX] = "";
    bool best_fuse = false;
    size_t best_len = 0;
    while (fgets(line, sizeof line, f)) {
        /* id parent maj:min root MOUNTPOINT options [optional...] - FSTYPE source super */
        char mnt[PATH_MAX], *sep = strstr(line, " - ");
        char fstype[64];
        if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(sep + 3, "%63s", fstype) != 1)
            continue;
        unescape(mnt);
        size_t n = strlen(mnt);
        bool inside = strcmp(mnt, "/") == 0 ||
                      (strncmp(real, mnt, n) == 0 && (real[n] == '\0' || real[n] == '/'));
        if (inside && n >= best_len) { /* later entries are mounted on top */
            best_len = n;
            snprintf(best, sizeof best, "%s", mnt);
            best_fuse = strncmp(fstype, "fuse", 4) == 0;
        }
    }
    fclose(f);
    if (!best_fuse || strcmp(best, real) == 0)
        return dir;
    snprintf(out, size, "%s", best);
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
    if (setxattr(dir, CTL_XATTR_CHECKPOINT, "1", 1, 0) != 0) {
        explain(dir, CTL_XATTR_CHECKPOINT, errno);
        return -1;
    }
    return 0;
}
