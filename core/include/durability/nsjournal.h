/* libdurability: the namespace journal -- crash-consistent metadata for a
 * passthrough directory tree.
 *
 * This is all of durfs's durability logic; the FUSE daemon only brackets each
 * backing-filesystem call with it.  Design and replay rules: docs/design.md and
 * core/README.md; guarantees per mode: docs/guarantees.md.
 *
 * Pattern for every metadata operation (create, mkdir, mknod, symlink, link, unlink,
 * rmdir, rename, setattr, setxattr, removexattr):
 *
 *     dur_ns_op op;                           // ordering lock: log order == apply order;
 *     if (dur_ns_begin(ns, &op) == DUR_OK)    // refused if the journal is poisoned
 *         r = renameat2(...);                 // the daemon performs the real call
 *     if (r == 0) dur_ns_log_rename(&op, ...);// record appended (not yet durable)
 *     else op_errno = errno;
 *     dur_code c = dur_ns_end(&op, &err);     // unlock; wait until durable per mode
 *     reply(r == 0 ? (c == DUR_OK ? 0 : -dur_code_to_errno(...)) : -op_errno);
 *
 * Modes:
 *   DUR_NS_CLOSE    metadata durable when the call returns (group commit); file data
 *                   durable at close (flush) and fsync (small files: content logged).
 *   DUR_NS_SYNC     as CLOSE, and every write durable when it returns.
 *   DUR_NS_ORDERED  nothing waits; state after a power cut is a prefix of the
 *                   acknowledged metadata operations, at most commit_seconds old.
 * In every mode a rename of a regular file first makes the source's data durable
 * (dur_ns_prepare_rename), and fsync/fdatasync give full durability.
 *
 * Thread safety: every function is safe to call from any number of threads.
 */
#ifndef DURABILITY_NSJOURNAL_H
#define DURABILITY_NSJOURNAL_H

#include "durability/fh.h"
#include "durability/recovery.h"
#include "durability/sync.h"

#include <sys/stat.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dur_ns dur_ns;

typedef enum dur_ns_mode { DUR_NS_CLOSE = 0, DUR_NS_SYNC, DUR_NS_ORDERED } dur_ns_mode;
const char *dur_ns_mode_name(dur_ns_mode m);
dur_code dur_ns_mode_parse(const char *s, dur_ns_mode *out, dur_error *err);

/* Name of the reserved directory inside BACKING (hidden by the daemon). */
#define DUR_NS_RESERVED_NAME ".durfs"

typedef void (*dur_ns_log_fn)(void *ctx, int syslog_level, const char *msg);

typedef struct dur_ns_options {
    dur_ns_mode mode;
    unsigned commit_seconds; /* ORDERED: max age of unsynced metadata (default 5) */
    const char *journal_dir; /* absolute path, or NULL = BACKING/.durfs/journal */
    /* A directory the journal must not be inside, or NULL: the daemon's
     * MOUNTPOINT, which its mount covers (a journal there would block the next
     * mount and be unreachable to the operator tools). */
    const char *covered_dir;
    uint64_t checkpoint_bytes;   /* checkpoint when the WAL exceeds this (default 64 MiB) */
    unsigned checkpoint_seconds; /* and at least this often when it has records (default 300) */
    dur_ns_log_fn log;           /* where to report recovery, checkpoints, errors (may be NULL) */
    void *log_ctx;
    /* ro mounts: recover (replay writes BACKING, then a checkpoint), then refuse
     * logging; a journal holding changes on a read-only filesystem is refused */
    bool read_only;
    /* CLOSE mode: a dirty file of at most this many bytes is made durable at close
     * (and before a rename) by logging its whole content in the journal (FILE_DATA,
     * one group commit shared with other requests) instead of an fdatasync, which on
     * ext4/XFS commits the filesystem journal.  0 = never; at most 65536 (the
     * default).  Not used where each group commit syncfs()es BACKING anyway. */
    uint32_t data_journal_max;
} dur_ns_options;
void dur_ns_options_default(dur_ns_options *o);

typedef struct dur_ns_recovery {
    dur_recovery_report wal; /* what the WAL layer saw */
    uint64_t ops_redone;     /* records whose effect was missing and was re-applied */
    uint64_t ops_already;    /* records already reflected in the backing tree */
    uint64_t ops_skipped;    /* records that could not apply (logged with reasons) */
    uint64_t elapsed_ns;
} dur_ns_recovery;

/* Lock BACKING (DUR_E_LOCKED "locked by pid N"), probe the filesystem, recover
 * (replay since the last checkpoint), checkpoint, start the background committer.
 * backing_fd is an O_DIRECTORY fd of BACKING's root (kept; not closed). */
dur_code dur_ns_open(int backing_fd, const dur_ns_options *opts, dur_ns **out,
                     dur_ns_recovery *recovery, dur_error *err);
/* Final checkpoint (nothing left to replay), stop threads, unlock. */
dur_code dur_ns_close(dur_ns *ns, dur_error *err);

const dur_fs_policy *dur_ns_fs_policy(dur_ns *ns);

/* ---- metadata operations ---- */
typedef struct dur_ns_op {
    dur_ns *ns;
    uint64_t lsn;       /* LSN of the record appended, 0 if none */
    dur_code log_error; /* first logging failure */
    dur_error err;
    int harden_fd;     /* fd to fsync before ack (truncate), -1 if none */
    uint64_t wait_lsn; /* no record, but wait for this LSN (dur_ns_log_setattr_change) */
    bool frees_space;  /* begun with dur_ns_begin_freeing: its record is small */
} dur_ns_op;

/* Takes the ordering lock (dur_ns_end releases it, whatever this returns).  Returns
 * DUR_OK, or an error when the journal can take no record: it is poisoned, or its
 * filesystem is full (DUR_E_NOROOM, errno ENOSPC, the journal unharmed:
 * changes go on once there is room).  The caller should then skip its backing call
 * (the change would not be journaled) and still call dur_ns_end, which returns the
 * same error. */
dur_code dur_ns_begin(dur_ns *ns, dur_ns_op *op);
/* dur_ns_begin for a change that frees space on BACKING (unlink, rmdir,
 * removexattr, a shrinking truncate) and logs a small record (asserted): on a
 * full filesystem it may use room the journal keeps for such changes, so that a
 * full disk can be cleared through the mount. */
dur_code dur_ns_begin_freeing(dur_ns *ns, dur_ns_op *op);

/* The new object obj was created as parent/name. kind is the S_IFMT part of mode. */
dur_code dur_ns_log_create(dur_ns_op *op, const dur_fh *parent, const char *name, const dur_fh *obj,
                           mode_t mode, uid_t uid, gid_t gid, dev_t rdev,
                           const char *symlink_target);
dur_code dur_ns_log_link(dur_ns_op *op, const dur_fh *obj, const dur_fh *new_parent,
                         const char *new_name);
/* unlink (is_dir false) or rmdir (true) of obj at parent/name. */
dur_code dur_ns_log_remove(dur_ns_op *op, const dur_fh *parent, const char *name, const dur_fh *obj,
                           bool is_dir);
/* flags: 0, RENAME_NOREPLACE, RENAME_EXCHANGE.  replaced: the object that was at the
 * target (unlinked by a plain rename, or swapped by EXCHANGE), or NULL. */
dur_code dur_ns_log_rename(dur_ns_op *op, const dur_fh *old_parent, const char *old_name,
                           const dur_fh *new_parent, const char *new_name, unsigned flags,
                           const dur_fh *obj, const dur_fh *replaced);

/* setattr: which fields are set (FUSE_SET_ATTR_* bit values). */
enum {
    DUR_NS_ATTR_MODE = 1 << 0,
    DUR_NS_ATTR_UID = 1 << 1,
    DUR_NS_ATTR_GID = 1 << 2,
    DUR_NS_ATTR_SIZE = 1 << 3,
    DUR_NS_ATTR_ATIME = 1 << 4,
    DUR_NS_ATTR_MTIME = 1 << 5,
};
typedef struct dur_ns_attr {
    unsigned valid;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    uint64_t size;
    struct timespec atime, mtime; /* resolved values (no UTIME_NOW) */
} dur_ns_attr;
/* obj_fd: an fd of the object (needed for SIZE: a size change is hardened by an
 * fsync of the object before the ack, so replay never has to guess; -1 otherwise). */
dur_code dur_ns_log_setattr(dur_ns_op *op, const dur_fh *obj, int obj_fd, const dur_ns_attr *attr);
/* chown/chmod that may have changed nothing (e.g. SQLite, as root, fchown()s each
 * new journal file to the owner it already has).  before: the object's attributes
 * read after dur_ns_begin (under the ordering lock), after: once applied
 * (after->valid: the fields the call set).  When the call set anything but mode and
 * owner, or mode or owner changed (a chown may clear set-id bits), this is
 * dur_ns_log_setattr.  Otherwise nothing is logged, and dur_ns_end still waits
 * until every record logged so far is durable: the values the call found may come
 * from an operation not yet durable. */
dur_code dur_ns_log_setattr_change(dur_ns_op *op, const dur_fh *obj, int obj_fd,
                                   const dur_ns_attr *before, const dur_ns_attr *after);
/* flags: XATTR_CREATE/XATTR_REPLACE as called, or'ed with DUR_NS_XATTR_KILL_SGID when
 * setting a POSIX access ACL also cleared the object's setgid bit (the kernel does
 * when the caller is neither in the file's group nor holds CAP_FSETID).  Replay
 * runs as root, which keeps the bit, so it clears it itself. */
#define DUR_NS_XATTR_KILL_SGID 0x100u
dur_code dur_ns_log_setxattr(dur_ns_op *op, const dur_fh *obj, const char *name, const void *value,
                             size_t size, int flags);
dur_code dur_ns_log_removexattr(dur_ns_op *op, const dur_fh *obj, const char *name);

/* Unlock and wait until the record is durable as the mode requires.  Returns the
 * logging/sync error if any (the operation then must be reported failed: EIO). */
dur_code dur_ns_end(dur_ns_op *op, dur_error *err);

/* ---- file data ----
 * obj: the file's handle (dur_fh_get), the same one its metadata records use; NULL
 * or empty only for a file the journal never names (its content is then never
 * logged, only fdatasynced). */
/* After a successful write to fd (SYNC mode: fdatasync now, sticky errors; a write
 * that fd's O_DSYNC made durable in place is recorded as such). */
dur_code dur_ns_file_written(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj,
                             dur_error *err);
/* After a successful write the program asked to be durable when it returns
 * (O_SYNC, O_DSYNC, RWF_DSYNC: datasync false only for O_SYNC) where no fsync
 * request will follow it: durable now, in place or by a syncfs, as the mode and
 * the filesystem require.  Open fd itself without O_SYNC/O_DSYNC: the backing
 * kernel's own sync of one file could persist it ahead of older operations
 * (btrfs's log tree, ext4 fast_commit), which this call never does. */
dur_code dur_ns_file_written_durable(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj,
                                     bool datasync, dur_error *err);
/* FUSE flush (close): CLOSE/SYNC: dirty data durable -- logged (FILE_DATA) when the
 * file is small and fd readable, else fdatasync.  ORDERED: nothing. */
dur_code dur_ns_file_close(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj,
                           dur_error *err);
/* fsync/fdatasync from the program: file data (always, in place) plus every metadata
 * record so far. */
dur_code dur_ns_file_fsync(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj, bool datasync,
                           dur_error *err);
/* fsync of a directory: every metadata record so far durable. */
dur_code dur_ns_dir_fsync(dur_ns *ns, dur_error *err);
/* Before renaming a regular file: its data durable first (atomic replace, R2), as
 * at close. */
dur_code dur_ns_prepare_rename(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj,
                               dur_error *err);

/* ---- control and status ---- */
/* Publish a checkpoint now.  A failed syncfs of BACKING poisons the journal: the
 * kernel could not write back data that may be durable only in the journal, so
 * the journal is never truncated again in this session and every later operation
 * fails (EIO); unmount and mount again to replay. */
dur_code dur_ns_checkpoint(dur_ns *ns, dur_error *err);

typedef struct dur_ns_status {
    dur_ns_mode mode;
    dur_fs_policy fs;
    char journal_dir[4096];
    uint64_t last_lsn, durable_lsn;
    uint64_t checkpoint_lsn;
    struct timespec checkpoint_time; /* CLOCK_REALTIME */
    uint64_t checkpoints;
    dur_wal_stats wal;
    dur_ns_recovery last_recovery;
    uint64_t file_syncs;        /* fdatasync/fsync of data files */
    uint64_t file_data_records; /* file contents logged instead (FILE_DATA) */
    uint64_t file_data_bytes;
    uint64_t syncfs_calls;
    uint64_t errors;     /* journal or sync errors returned to programs */
    bool all_durable;    /* durable_lsn == last_lsn and no dirty state */
    bool journal_failed; /* poisoned (a failed journal write or sync, or syncfs of BACKING):
                          * every change fails until a remount replays it */
} dur_ns_status;
void dur_ns_get_status(dur_ns *ns, dur_ns_status *out);

/* ---- offline tools (no daemon) ---- */
/* Verify journal + checkpoints of BACKING (or a journal directory) read-only.
 * NEEDS_RECOVERY: records after the checkpoint, or a torn tail (report->bytes_cut
 * then holds its size: what a recovery would cut). */
typedef enum dur_ns_verify_result {
    DUR_NS_CLEAN,
    DUR_NS_NEEDS_RECOVERY,
    DUR_NS_CORRUPT
} dur_ns_verify_result;
dur_code dur_ns_verify(const char *journal_dir, dur_ns_verify_result *result,
                       dur_recovery_report *report, dur_error *err);
/* Recover BACKING without mounting (progress callback may be NULL). */
dur_code dur_ns_recover_offline(int backing_fd, const dur_ns_options *opts, dur_ns_recovery *out,
                                dur_error *err);
/* Render every record of the journal as text lines to a callback. */
dur_code dur_ns_dump(const char *journal_dir, void (*line)(void *ctx, const char *text), void *ctx,
                     dur_error *err);

#ifdef __cplusplus
}
#endif
#endif
