/* Test model for checkpoint/recovery tests: a deterministic record stream and a
 * checker that verifies a recovery's callback sequence against it.
 *
 * Record LSN n carries a payload and type derived only from (seed, n), so the model
 * needs to remember just which LSNs are checkpoint markers.  State after LSN n is a
 * hash chain over the user records 1..n; a checkpoint's payload is that state, so a
 * recovered (checkpoint + replayed records) state equals the model's at some prefix
 * exactly when nothing was lost, reordered or invented.
 */
#ifndef CKPT_TEST_MODEL_H
#define CKPT_TEST_MODEL_H

#include "durability/recovery.h"

#include <stdbool.h>
#include <stdint.h>

#define MODEL_MAX_PAYLOAD 160
#define MODEL_CKPT_PAYLOAD 16

typedef struct model {
    uint64_t seed;
    uint64_t last;  /* last LSN appended */
    uint64_t acked; /* every LSN <= acked was acknowledged durable */
    uint64_t cap;
    uint64_t *hash;  /* hash[n]: state after LSN n */
    uint64_t *marks; /* marks[n]: covered LSN + 1 when LSN n is a checkpoint marker */
} model;

void model_init(model *m, uint64_t seed);
void model_free(model *m);
/* Payload and type of user record lsn; returns its length. */
size_t model_payload(uint64_t seed, uint64_t lsn, uint8_t *buf, uint8_t *type);
void model_note_user(model *m, uint64_t lsn);
void model_note_marker(model *m, uint64_t lsn, uint64_t covered);
/* The checkpoint payload for state at lsn. */
void model_ckpt_payload(const model *m, uint64_t lsn, uint8_t out[MODEL_CKPT_PAYLOAD]);

/* Append user record m->last+1 (durable or not); notes it on success. */
dur_code model_append(model *m, dur_wal *w, bool durable, dur_error *err);
/* Publish a checkpoint at lsn; notes the marker (and the ack) as far as it got. */
dur_code model_publish(model *m, dur_wal *w, dur_dir *d, const char *path, uint64_t lsn,
                       dur_error *err);

typedef struct model_check {
    const model *m;
    uint64_t lsn; /* recovered state: last LSN applied */
    uint64_t hash;
    uint64_t digest; /* of the whole callback sequence (for idempotence) */
    uint64_t records;
    bool bad;
    char why[300];
} model_check;

void model_check_init(model_check *c, const model *m);
dur_recovery_callbacks model_check_callbacks(model_check *c);
/* After recovery: state is the model's at c->lsn and covers every acked record. */
bool model_check_final(model_check *c);

#endif
