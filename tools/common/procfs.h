/* Small /proc readers shared by mount.durfs and durfsctl.  They only read, so
 * looking never disturbs a daemon (no lock is taken, no file is opened for write). */
#ifndef DURFS_TOOLS_PROCFS_H
#define DURFS_TOOLS_PROCFS_H

#include <stdbool.h>
#include <stddef.h>

/* PID holding a flock(2) on path (from /proc/locks), or 0 when none / unknown. */
long procfs_lock_holder(const char *path);

/* The innermost mount containing path (which must exist): its mount point and
 * filesystem type ("fuse.durfs", "ext4", ...).  false when it cannot be read. */
bool procfs_mount_containing(const char *path, char *mnt, size_t mnt_size, char *fstype,
                             size_t fstype_size);

#endif
