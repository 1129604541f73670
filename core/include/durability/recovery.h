/* libdurability: recovery.
 *
 * One call: load the newest valid checkpoint, stream every WAL record after its LSN
 * to the caller, cut a torn tail in the last segment, and report what happened.
 * Idempotent: a crash during recovery followed by recovery gives the same result
 * (recovery only ever removes a torn tail, which a second run finds already gone).
 *
 * Thread safety: call from one thread, with no writer open on the WAL.
 */
#ifndef DURABILITY_RECOVERY_H
#define DURABILITY_RECOVERY_H

#include "durability/checkpoint.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dur_recovery_report {
    bool checkpoint_found;
    uint64_t checkpoint_lsn;
    char checkpoint_name[64];
    uint64_t records_replayed; /* records passed to on_record */
    uint64_t first_lsn;        /* first replayed (0 if none) */
    uint64_t last_lsn;         /* last valid LSN in the WAL (or checkpoint LSN) */
    uint64_t bytes_cut;        /* torn tail removed */
    unsigned segments;
    uint64_t elapsed_ns;
    unsigned checkpoints_skipped; /* newer invalid checkpoints passed over (best effort) */
} dur_recovery_report;

typedef struct dur_recovery_callbacks {
    /* Called once with the checkpoint (or NULL when none); may be NULL. */
    dur_code (*on_checkpoint)(void *ctx, const dur_checkpoint *cp, dur_error *err);
    /* Called for each record with LSN > checkpoint LSN, in order (markers included). */
    dur_code (*on_record)(void *ctx, const dur_wal_record *rec, dur_error *err);
    void *ctx;
} dur_recovery_callbacks;

typedef struct dur_recovery_options {
    const char *wal_path;        /* WAL directory inside d */
    const char *checkpoint_path; /* checkpoint directory inside d */
    dur_read_mode mode;          /* best effort: torn tail tolerated (and cut) */
    bool repair;                 /* cut the torn tail on disk (false = read only, e.g. verify) */
} dur_recovery_options;

dur_code dur_recover(dur_dir *d, const dur_recovery_options *opts, const dur_recovery_callbacks *cb,
                     dur_recovery_report *report, dur_error *err);

#ifdef __cplusplus
}
#endif
#endif
