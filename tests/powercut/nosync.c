/* LD_PRELOAD shim for the power-cut rig's "sync removed" control.
 *
 * Preloaded into the durfs daemon, it turns fsync, fdatasync, syncfs, sync and
 * sync_file_range into successful no-ops, and drops O_SYNC/O_DSYNC from every
 * open (durfs no longer opens backing files with them, but a daemon that did
 * would still sync there: on btrfs those syncs can commit everything, and the
 * control stopped losing data once the rewrite workload wrote O_DSYNC).  durfs
 * then acknowledges operations whose data and journal records are only in the
 * page cache, and the rig must report the resulting losses after a cut -- the
 * proof that the rig's durfs rows would fail if durfs's syncs were missing.
 * Test-only; never install.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/types.h>
#include <unistd.h>

#define NO_SYNC_FLAGS(f) ((f) & ~(O_SYNC | O_DSYNC))

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & (O_CREAT | __O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
}

int openat(int dirfd, const char *path, int flags, ...)
{
    static int (*real)(int, const char *, int, ...);
    if (!real)
        real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return real(dirfd, path, NO_SYNC_FLAGS(flags), mode);
}

int open(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    if (!real)
        real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return real(path, NO_SYNC_FLAGS(flags), mode);
}

int open_by_handle_at(int mount_fd, struct file_handle *handle, int flags)
{
    static int (*real)(int, struct file_handle *, int);
    if (!real)
        real = (int (*)(int, struct file_handle *, int))dlsym(RTLD_NEXT, "open_by_handle_at");
    return real(mount_fd, handle, NO_SYNC_FLAGS(flags));
}

int fsync(int fd)
{
    (void)fd;
    return 0;
}

int fdatasync(int fd)
{
    (void)fd;
    return 0;
}

int syncfs(int fd)
{
    (void)fd;
    return 0;
}

void sync(void) {}

int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags)
{
    (void)fd;
    (void)offset;
    (void)nbytes;
    (void)flags;
    return 0;
}
