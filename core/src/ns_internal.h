/* Namespace journal: the dur_ns object shared by ns_journal.c, ns_data.c, ns_offline.c. */
#ifndef DUR_NS_INTERNAL_H
#define DUR_NS_INTERNAL_H

#include "durability/checkpoint.h"
#include "durability/nsjournal.h"
#include "durability/wal.h"

#include <pthread.h>
#include <stdatomic.h>

#define NS_JOURNAL_SUBDIR "journal"     /* inside BACKING/.durfs */
#define NS_LOCK_NAME "lock"             /* inside BACKING/.durfs */
#define NS_WAL_DIR "wal"                /* inside the journal */
#define NS_CKPT_DIR "checkpoints"       /* inside the journal */
#define NS_IDENTITY_NAME "identity"     /* inside the journal */
#define NS_REPLAY_MAP_FILE "replay-map" /* inside the journal, only during recovery */

#define NS_ORPHANS_NAME "replay-orphans" /* inside BACKING/.durfs, only during recovery */
/* inside BACKING/.durfs while a session with journal=DIR is not cleanly closed: DIR */
#define NS_ELSEWHERE_NAME "journal-elsewhere"

/* Zero fill kept ahead of the WAL's records on ext4/XFS (wal.h zero_fill_bytes): a
 * group commit's fdatasync then costs one device flush, not a journal commit. */
#define NS_WAL_ZERO_FILL (1024u * 1024u)
/* Room in that fill a change needs before it is applied (ns_journal.c,
 * ensure_room): any record, plus a reserve that only changes freeing space
 * (dur_ns_begin_freeing: unlink, rmdir, removexattr, a shrinking truncate; their records
 * are small) and FILE_SYNCED records may use, down to one small record.  With the
 * WAL buffer (256 KiB) well under half the fill, which is refilled below half,
 * the check waits for WAL I/O only on a full disk. */
#define NS_ROOM_SMALL_RECORD 4096u
#define NS_ROOM_RESERVE (128u * 1024u)
#define NS_ROOM_FRAME 64u /* a WAL frame's head and tail (24 bytes), rounded up */
/* After a failed periodic checkpoint the next try waits this long (at most
 * checkpoint_seconds): a full disk must not get a syncfs and a log line a second. */
#define NS_CKPT_RETRY_SECONDS 30

/* FILE_DATA bookkeeping: slots of handle hashes (a power of two). */
#define NS_DATA_SLOTS 4096u

#define NS_CKPT_PAYLOAD_VERSION 1
#define NS_CKPT_PAYLOAD_LEN 24 /* u32 version, u32 mode, u64 lsn, u64 unix time */

/* The mode of the session that wrote the records after checkpoint cp (the daemon
 * publishes a checkpoint whenever a session's mode differs from the latest one's);
 * false when cp holds no valid namespace payload. */
bool ns_checkpoint_mode(const dur_checkpoint *cp, dur_ns_mode *mode);

/* Handle hashes of objects with FILE_DATA after the published checkpoint -> the
 * newest such LSN (ns_data_set.c; guarded by dur_ns.order). */
typedef struct ns_data_entry {
    uint64_t key, lsn; /* key 0: free slot */
} ns_data_entry;
typedef struct ns_data_set {
    ns_data_entry *tab;
    size_t cap, count;
    uint64_t overflow_lsn; /* an insert failed: every lookup answers at least this */
} ns_data_set;
void ns_data_set_put(ns_data_set *s, uint64_t key, uint64_t lsn);
/* Newest FILE_DATA LSN of key, 0 if none (collisions and overflow: higher). */
uint64_t ns_data_set_get(const ns_data_set *s, uint64_t key);
/* Forget entries <= covered (a checkpoint at covered was published). */
void ns_data_set_prune(ns_data_set *s, uint64_t covered);
void ns_data_set_free(ns_data_set *s);

struct dur_ns {
    int backing_fd; /* not owned */
    dur_ns_options opts;
    char journal_path[4096];
    dur_dir *reserved; /* BACKING/.durfs */
    dur_lock *lock;
    dur_dir *jdir; /* the journal directory */
    dur_wal *wal;  /* NULL when read-only */
    dur_fs_policy policy;
    bool journal_same_fs;
    bool hook_syncfs;       /* the WAL leader syncfs()es BACKING at each group commit */
    bool journal_zero_fill; /* the journal's filesystem is ext4 or XFS */
    bool replay_hardens;    /* an fdatasync of a growing file in the journal hardens BACKING */
    bool ckpt_mode_known;   /* at open: the latest checkpoint's payload names a mode */
    dur_ns_mode ckpt_mode;

    /* Ordering lock: held from dur_ns_begin until the record is appended, so LSN
     * order is the order in which the backing calls were applied. */
    pthread_mutex_t order;
    unsigned char *encbuf; /* record encoding buffer, used under `order` */
    uint64_t user_records; /* records appended by this instance (under `order`) */

    /* FILE_DATA (ns_data.c): content of small files logged at close.  An in-place
     * sync of an object with a FILE_DATA after the published checkpoint logs
     * FILE_SYNCED, so replay does not write the older logged content over it.
     * data_lsn[slot of a handle's hash] = newest FILE_DATA LSN of any handle in the
     * slot: a lock-free filter; data_set (under `order`) is exact per handle hash. */
    bool data_journal; /* CLOSE mode, data_journal_max > 0, no syncfs per commit */
    bool journal_full; /* under `order`: the last room check came up short (logged once) */
    atomic_uint_fast64_t data_lsn[NS_DATA_SLOTS];
    ns_data_set data_set;
    atomic_uint_fast64_t published_lsn; /* = checkpoint_lsn, readable without ckpt_mu */
    atomic_uint_fast64_t file_data_records, file_data_bytes;

    pthread_mutex_t ckpt_mu; /* one checkpoint at a time */
    uint64_t checkpoint_lsn;
    uint64_t records_at_ckpt;        /* user_records when the last checkpoint read its LSN */
    struct timespec checkpoint_time; /* CLOCK_REALTIME */
    struct timespec checkpoint_mono;
    atomic_uint_fast64_t checkpoints;

    pthread_mutex_t thr_mu; /* background thread control */
    pthread_cond_t thr_cv;
    pthread_t thread;
    bool thread_started, stopping;
    bool journal_elsewhere; /* journal_dir given: NS_ELSEWHERE_NAME names it until closed */

    atomic_uint_fast64_t file_syncs, syncfs_calls, errors;
    atomic_uint_fast64_t slow_syncs;       /* syncs slower than NS_SLOW_SYNC_NS */
    atomic_uint_fast64_t slow_sync_logged; /* CLOCK_MONOTONIC ns of the last report */
    dur_ns_recovery last_recovery;
};

/* TEST ONLY: make dur_ns_open fail after replay, before the post-recovery checkpoint
 * (a crash at the worst moment: everything replayed, nothing covered). */
extern bool ns_test_fail_before_checkpoint;
/* TEST ONLY: log small files' content at close even where each group commit
 * syncfs()es BACKING (the test machines' /var/tmp has no filesystem journal). */
extern bool ns_test_force_data_journal;
/* TEST ONLY: syncfs of BACKING fails with this errno (0 = off). */
extern int ns_test_syncfs_errno;
/* TEST ONLY: what to trust of BACKING's fsync, whatever the probe found: nothing
 * (the policy durfs takes on ext4 with fast_commit) or everything (plain ext4/XFS:
 * a file fsync is trusted and hardens all metadata). */
typedef enum ns_test_trust {
    NS_TEST_TRUST_PROBED,
    NS_TEST_TRUST_NONE,
    NS_TEST_TRUST_ALL
} ns_test_trust;
extern ns_test_trust ns_test_fsync_trust;
/* TEST ONLY: take the journal for one on another filesystem than BACKING. */
extern bool ns_test_journal_elsewhere;

/* dur_ns_verify, also counting the records a recovery would replay (*pending;
 * a torn tail alone holds none). */
dur_code ns_verify_counting(const char *journal_dir, dur_ns_verify_result *result,
                            dur_recovery_report *report, uint64_t *pending, dur_error *err);

/* printf-style log through opts.log (no-op when NULL). */
void ns_log(dur_ns *ns, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Count an error that was returned to a program. */
static inline dur_code ns_count_error(dur_ns *ns, dur_code c)
{
    if (c != DUR_OK)
        atomic_fetch_add(&ns->errors, 1);
    return c;
}
/* A sync (fdatasync, syncfs, journal commit) slower than this is logged with its
 * duration: a failing or overloaded device shows up in the log before it fails. */
#define NS_SLOW_SYNC_NS 1000000000ull
uint64_t ns_now_ns(void);
/* Log (at most every 10 s, with the count in between) a sync that started at
 * start_ns if it was slow. */
void ns_note_sync(dur_ns *ns, const char *what, uint64_t start_ns);

/* Append record r for op (between dur_ns_begin and dur_ns_end); one per op. */
struct ns_record;
dur_code ns_op_append(dur_ns_op *op, const struct ns_record *r);

/* Read the first cap bytes of fd (all of it if shorter) into buf: the count read,
 * or -1 (errno).  A regular file's pread returns less than asked only at its end. */
ssize_t ns_read_prefix(int fd, unsigned char *buf, size_t cap);

/* syncfs(BACKING), counted. */
dur_code ns_syncfs_backing(dur_ns *ns, dur_error *err);

/* Must a file sync be a syncfs of BACKING instead (see ns_data.c)?  In ORDERED mode
 * on a filesystem where fsync of one file may persist its changes ahead of older
 * unrelated ones (btrfs, unknown), or BACKING stops being a prefix of the
 * operations; in every mode where a file's fsync is not trusted to make even that
 * file durable (ext4 with fast_commit). */
static inline bool ns_file_sync_is_syncfs(const dur_ns *ns)
{
    return (ns->opts.mode == DUR_NS_ORDERED && !ns->policy.fsync_hardens_all_metadata) ||
           !ns->policy.file_fsync_trusted;
}

#endif
