/* LD_PRELOAD shim for the power-cut rig's "sync removed" control.
 *
 * Preloaded into the durfs daemon, it turns fsync, fdatasync, syncfs, sync and
 * sync_file_range into successful no-ops.  durfs then acknowledges operations
 * whose data and journal records are only in the page cache, and the rig must
 * report the resulting losses after a cut -- the proof that the rig's durfs
 * rows would fail if durfs's syncs were missing.  Test-only; never install.
 */
#include <fcntl.h>
#include <unistd.h>

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
