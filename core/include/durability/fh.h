/* libdurability: file identities (kernel file handles) and backing-filesystem probing.
 *
 * A dur_fh names an inode independently of its path (name_to_handle_at), so a
 * journal record can say "rename THIS file" rather than "whatever is at this name",
 * and replay can tell whether an operation already happened (R10, SplitFS#67).
 * On ext4/XFS/btrfs a handle encodes (inode, generation) and survives remounts and
 * crashes for inodes that existed at the last durable point.
 *
 * Thread safety: all functions are safe from any thread.
 */
#ifndef DURABILITY_FH_H
#define DURABILITY_FH_H

#include "durability/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DUR_FH_MAX_BYTES 128

typedef struct dur_fh {
    uint32_t len; /* bytes used in data; 0 = no handle */
    int32_t type; /* handle_type from name_to_handle_at */
    unsigned char data[DUR_FH_MAX_BYTES];
} dur_fh;

bool dur_fh_equal(const dur_fh *a, const dur_fh *b);
/* Handle of dirfd/name (name "" with AT_EMPTY_PATH semantics = dirfd itself). Never
 * follows a final symlink.  DUR_E_NOTSUP when the filesystem has no handles. */
dur_code dur_fh_get(int dirfd, const char *name, dur_fh *out, dur_error *err);
/* Open the inode a handle names, relative to any fd on the same filesystem.
 * Needs CAP_DAC_READ_SEARCH.  DUR_E_NOTFOUND (ESTALE) when the inode is gone. */
dur_code dur_fh_open(int mount_fd, const dur_fh *fh, int flags, int *fd_out, dur_error *err);
/* Hex rendering for logs and `durfsctl dump`. */
char *dur_fh_format(const dur_fh *fh, char *buf, size_t size);

/* ---- backing filesystem probe ---- */
typedef enum dur_fs_kind {
    DUR_FS_EXT4,
    DUR_FS_XFS,
    DUR_FS_BTRFS,
    DUR_FS_TMPFS, /* volatile: nothing survives a power cut */
    DUR_FS_RAMFS, /* volatile */
    DUR_FS_OVERLAY,
    DUR_FS_NFS,
    DUR_FS_FUSE,
    DUR_FS_UNKNOWN,
} dur_fs_kind;

typedef struct dur_fs_policy {
    dur_fs_kind kind;
    char name[32];    /* "ext4", "xfs", ... or "unknown (magic 0x...)" */
    bool is_volatile; /* tmpfs/ramfs: warn loudly, nothing survives a power cut */
    /* Metadata reaches disk as a prefix of completed syscalls and one fsync that
     * commits the fs journal hardens every earlier metadata change (ext4 with a
     * journal, XFS).  When false, the journal must syncfs the backing fs at each
     * commit point instead of relying on that (btrfs, unknown). */
    bool fsync_hardens_all_metadata;
    /* An fsync/fdatasync of one file makes that file's data and size durable.
     * False on ext4 with fast_commit: the power-cut rig saw fsync'ed appends lost
     * there (docs/powercut.md), so file syncs must be syncfs (a full commit).  Also
     * false on an ext4 whose device cannot be named (fast_commit unknown). */
    bool file_fsync_trusted;
    /* Mounted nobarrier (or barrier=0): the filesystem never flushes the device's
     * write cache, so no sync makes anything durable across a power cut on a
     * device with a volatile cache.  durfs warns loudly, like for tmpfs. */
    bool flushes_disabled;
    bool has_handles; /* name_to_handle_at works */
} dur_fs_policy;

/* Probe the filesystem holding fd (statfs f_type, ext4 journal and fast_commit, mount
 * options, handles). */
dur_code dur_fs_probe(int fd, dur_fs_policy *out, dur_error *err);
/* Same filesystem (st_dev)? */
bool dur_fs_same(int fd_a, int fd_b);

#ifdef __cplusplus
}
#endif
#endif
