/* mount.durfs: translate an fstab/mount(8) option string into the daemon's -o string.
 *
 * Every option is in exactly one class:
 *   daemon   durability=, commit=, journal=, checkpoint_mb=, checkpoint_secs=,
 *            allow_other, default_permissions, nonempty -- checked, passed on
 *   fuse     ro/rw, nodev/nosuid/noexec/dev/suid/exec, atime family, sync/async,
 *            dirsync, fsname=, subtype=, max_read=, auto_unmount, ... -- passed on
 *   dropped  defaults, auto, noauto, nofail, _netdev, user, users, nouser, owner,
 *            group, x-*, comment=* -- for mount(8)/systemd only, never the daemon's
 * Anything else is an error naming the option (or, with sloppy, dropped with a
 * warning), so a typo in /etc/fstab never silently mounts with other guarantees.
 */
#ifndef DURFS_MOUNT_OPTIONS_H
#define DURFS_MOUNT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#define MOUNT_OPTS_MAX 4096

typedef struct mount_opts_result {
    char daemon_opts[MOUNT_OPTS_MAX]; /* comma-separated, "" when none */
    char error[256];                  /* set when mount_opts_translate returns false */
    char warnings[512];               /* dropped unknown options (sloppy mode) */
    bool read_only;
} mount_opts_result;

/* Translate opts (may be NULL or ""). Returns false with out->error set on a bad
 * option or value. */
bool mount_opts_translate(const char *opts, bool sloppy, mount_opts_result *out);

#endif
