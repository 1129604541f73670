/* libdurability: checkpoints.
 *
 * A checkpoint is a self-validating file (docs/format-checkpoint.md: magic, version, covered
 * LSN, payload length, XXH3-64 over header and payload, payload) named
 * checkpoint-<20-digit LSN>.ckpt in a checkpoint directory, written with
 * dur_atomic_write so it is either absent or whole.
 *
 * Publishing is crash-safe in this order (after first syncing the WAL through the
 * covered LSN, so a checkpoint never covers records the WAL could still lose):
 *   1. checkpoint file durable (atomic write: temp, fsync, rename, dir fsync)
 *   2. a DUR_WAL_TYPE_CHECKPOINT marker record durable in the WAL
 *   3. WAL segments wholly below the covered LSN deleted, directory synced
 *   4. older checkpoint files deleted
 * Any failure stops the sequence: at worst extra segments or checkpoints remain;
 * recovery never gets worse.
 *
 * Thread safety: functions are safe to call concurrently with WAL appends; do not
 * publish two checkpoints at once on the same directory.
 */
#ifndef DURABILITY_CHECKPOINT_H
#define DURABILITY_CHECKPOINT_H

#include "durability/wal.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DUR_CHECKPOINT_MAX_PAYLOAD (256u * 1024u * 1024u)

typedef struct dur_checkpoint {
    uint64_t lsn;  /* every WAL record with LSN <= lsn is covered */
    void *payload; /* malloc'd; free with dur_checkpoint_free */
    size_t len;
    char name[64]; /* file name it was read from */
    /* Set by dur_checkpoint_load_latest: newer invalid checkpoints skipped (best effort
     * only) and names in the directory that are not checkpoint files (ignored). */
    unsigned skipped;
    unsigned ignored_names;
} dur_checkpoint;

void dur_checkpoint_free(dur_checkpoint *c);

/* Write checkpoint-<lsn>.ckpt durably into directory path of d (created if needed). */
dur_code dur_checkpoint_write(dur_dir *d, const char *path, uint64_t lsn, const void *payload,
                              size_t len, dur_error *err);

/* Decode a checkpoint image in memory (used by load and by the fuzzer). */
dur_code dur_checkpoint_decode(const void *data, size_t len, const char *name, dur_checkpoint *out,
                               dur_error *err);

/* Find the newest valid checkpoint.  Invalid newer ones are skipped only in
 * best-effort mode; strict mode reports them.  *found=false when none exists. */
dur_code dur_checkpoint_load_latest(dur_dir *d, const char *path, dur_read_mode mode,
                                    dur_checkpoint *out, bool *found, dur_error *err);

/* Steps 1-4 above.  lsn must be <= dur_wal_last_lsn(w). */
dur_code dur_checkpoint_publish(dur_wal *w, dur_dir *d, const char *path, uint64_t lsn,
                                const void *payload, size_t len, dur_error *err);

#ifdef __cplusplus
}
#endif
#endif
