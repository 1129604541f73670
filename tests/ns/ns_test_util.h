/* Helpers for namespace-journal tests: perform an operation on BACKING and log it
 * exactly as the daemon does (dur_ns_begin, syscall, dur_ns_log_*, dur_ns_end), and
 * render a whole tree as comparable text. */
#ifndef NS_TEST_UTIL_H
#define NS_TEST_UTIL_H

#include "durability/nsjournal.h"

#include <stdbool.h>
#include <sys/types.h>

/* mkdtemp under /var/tmp (a real, handle-capable filesystem); caller frees. */
char *nt_tempdir(const char *tag);
void nt_rm_rf(const char *path);
/* Remove everything in dir except the entry named keep (may be NULL). */
void nt_wipe(const char *dir, const char *keep);
/* cp -a src dst (dst must not exist). */
void nt_copy_tree(const char *src, const char *dst);

/* Sorted lines "path type perm uid gid size nlink content-hash target xattrs", one per
 * object under dirfd (not following symlinks, skipping .durfs at the top).  malloc'd. */
char *nt_listing(int dirfd);

/* Operations: path is relative to backing.  Each asserts the syscall succeeded and
 * returns what dur_ns_end returned. */
typedef struct nt {
    dur_ns *ns;
    int backing;
} nt;
dur_code nt_create(nt *t, const char *path, mode_t perm, const char *content);
dur_code nt_mkdir(nt *t, const char *path, mode_t perm);
dur_code nt_symlink(nt *t, const char *target, const char *path);
dur_code nt_mknod_fifo(nt *t, const char *path);
dur_code nt_link(nt *t, const char *from, const char *to);
dur_code nt_unlink(nt *t, const char *path);
dur_code nt_rmdir(nt *t, const char *path);
dur_code nt_rename(nt *t, const char *from, const char *to, unsigned flags);
dur_code nt_chmod(nt *t, const char *path, mode_t perm);
dur_code nt_chown(nt *t, const char *path, uid_t uid, gid_t gid);
dur_code nt_truncate(nt *t, const char *path, off_t size);
dur_code nt_setxattr(nt *t, const char *path, const char *name, const char *value);
/* As the daemon: set with flags' XATTR_CREATE/REPLACE bits, log flags as given. */
dur_code nt_setxattr_flags(nt *t, const char *path, const char *name, const void *value,
                           size_t size, unsigned flags);
dur_code nt_removexattr(nt *t, const char *path, const char *name);
/* Data only (not a namespace op): replace the content of a regular file. */
void nt_write(nt *t, const char *path, const char *content);

#endif
