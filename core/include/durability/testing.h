/* libdurability: backends for testing crash safety.
 *
 * The crash simulator keeps, for every file, the bytes that are durable (covered
 * by a sync_data/sync_all) and the bytes that are merely written, and for every
 * directory the entries that are durable (covered by sync_dir of that directory)
 * and the live ones.  dur_crash_power_cut() throws away everything not durable,
 * exactly as a power cut on a filesystem that promises nothing more than POSIX
 * would: unsynced appends vanish (or, with torn tails enabled, a random prefix of
 * them survives), creates/renames/removes not followed by a directory sync are
 * undone.  Open files become invalid (DUR_E_CLOSED) after a cut.
 *
 * The fault injector wraps any dur_dir and fails the Nth call of a chosen kind
 * with a chosen errno, to prove that every error path is handled.
 *
 * Thread safety: both are safe to use from several threads; the control calls
 * (power_cut, fault_arm) must not race with operations in flight.
 */
#ifndef DURABILITY_TESTING_H
#define DURABILITY_TESTING_H

#include "durability/dir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- crash simulator ---- */
dur_code dur_dir_new_crash(uint64_t seed, dur_dir **out, dur_error *err);

/* Simulate a power cut now.  With torn_tails, each file keeps a random prefix
 * (chosen from the seed) of its unsynced bytes beyond the durable length, possibly
 * followed by garbage or zeros where keep_garbage is set. */
typedef struct dur_crash_options {
    bool torn_tails;   /* keep a random prefix of unsynced appended bytes */
    bool keep_garbage; /* the torn prefix may end in random bytes, not just a cut */
} dur_crash_options;
void dur_crash_power_cut(dur_dir *crash_dir, const dur_crash_options *opts);

/* Number of sync points (sync_data, sync_all, sync_dir) performed so far; lets a
 * test enumerate "crash right after sync point k". */
uint64_t dur_crash_sync_count(dur_dir *crash_dir);

/* Call cb after each sync point (with its index) -- a test can cut power there. */
typedef void (*dur_crash_sync_cb)(void *ctx, uint64_t sync_index);
void dur_crash_set_sync_hook(dur_dir *crash_dir, dur_crash_sync_cb cb, void *ctx);

/* ---- fault injector ---- */
typedef enum dur_fault_op {
    DUR_FAULT_OPEN,
    DUR_FAULT_READ,
    DUR_FAULT_WRITE,
    DUR_FAULT_SYNC, /* sync_data, sync_all and sync_dir */
    DUR_FAULT_TRUNCATE,
    DUR_FAULT_ALLOCATE,
    DUR_FAULT_RENAME,
    DUR_FAULT_REMOVE,
    DUR_FAULT_MKDIR,
    DUR_FAULT_LIST,
    DUR_FAULT_LOCK,
    DUR_FAULT_OP_COUNT
} dur_fault_op;

/* Wrap inner (not owned unless take_ownership). */
dur_code dur_dir_new_fault(dur_dir *inner, bool take_ownership, dur_dir **out, dur_error *err);
/* Fail the nth (1-based, counted from now) call of kind op with errno e; 0 disarms. */
void dur_fault_arm(dur_dir *fault_dir, dur_fault_op op, uint64_t nth, int e);
/* Make every call of kind op fail from now on (sticky), until disarmed. */
void dur_fault_arm_sticky(dur_dir *fault_dir, dur_fault_op op, int e);
void dur_fault_disarm_all(dur_dir *fault_dir);
/* Calls of kind op seen so far. */
uint64_t dur_fault_count(dur_dir *fault_dir, dur_fault_op op);

/* ---- test-only switches compiled in with -Dtest_hooks=true ----
 * Lets a test prove that a crash test catches a missing sync: when a switch is
 * on, the library skips that sync.  Never set outside tests. */
typedef enum dur_test_skip {
    DUR_SKIP_NONE = 0,
    DUR_SKIP_WAL_SYNC = 1 << 0,           /* group commit skips the fdatasync of the segment */
    DUR_SKIP_WAL_DIR_SYNC = 1 << 1,       /* skip the directory sync after creating a segment */
    DUR_SKIP_ATOMIC_FILE_SYNC = 1 << 2,   /* atomic write skips fsync of the temp file */
    DUR_SKIP_ATOMIC_DIR_SYNC = 1 << 3,    /* atomic write skips the parent directory sync */
    DUR_SKIP_RENAME_SOURCE_SYNC = 1 << 4, /* ns journal: rename does not sync the source data */
    DUR_SKIP_CLOSE_SYNC = 1 << 5,         /* ns journal: close does not sync file data */
    DUR_SKIP_WAL_TRIM_SYNC = 1 << 6,      /* rotation skips the fsync after trimming zero fill */
    DUR_SKIP_FILE_SYNCED_RECORD = 1 << 7, /* ns journal: an in-place sync logs no FILE_SYNCED */
    DUR_SKIP_FDATASYNC_LOG = 1 << 8, /* ns journal: fdatasync logs no FILE_DATA (and no sync) */
} dur_test_skip;
void dur_test_set_skip(unsigned mask);
unsigned dur_test_get_skip(void);

#ifdef __cplusplus
}
#endif
#endif
