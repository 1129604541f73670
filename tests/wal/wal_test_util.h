/* Helpers shared by the WAL tests: a fence around a crash dir (so a writer that
 * outlives a simulated power cut cannot touch the rebooted tree), deterministic
 * payloads, and whole-log readers. */
#ifndef WAL_TEST_UTIL_H
#define WAL_TEST_UTIL_H

#include "durability/testing.h"
#include "durability/wal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deterministic payload of record `lsn` under `seed`: length and bytes. */
size_t tu_payload(uint64_t seed, uint64_t lsn, size_t max_len, uint8_t *out);

/* A dur_dir forwarding to `inner`; after tu_fence_kill() every directory operation
 * fails with DUR_E_IO (files opened before keep working as the inner backend lets
 * them; the crash simulator closes them at a power cut). */
dur_dir *tu_fence_new(dur_dir *inner);
void tu_fence_kill(dur_dir *fence);
void tu_fence_free(dur_dir *fence);

/* All records of the WAL at `path` (mode), copied; returns the dur_code of the read.
 * lsns/types/payload lengths arrays are malloc'd; payload bytes concatenated. */
typedef struct tu_log {
    size_t n;
    uint64_t *lsn;
    uint8_t *type;
    size_t *len;
    uint8_t **data;
    dur_wal_tail tail;
    dur_error err;
} tu_log;
dur_code tu_read_log(dur_dir *d, const char *path, dur_read_mode mode, uint64_t from_lsn,
                     tu_log *log);
void tu_log_free(tu_log *log);

/* Whole-file helpers on any dur_dir. */
void *tu_read_file(dur_dir *d, const char *path, size_t *len);
void tu_write_file(dur_dir *d, const char *path, const void *data, size_t len);

/* Segment path of id in dir. */
void tu_seg_path(char *out, size_t size, const char *dir, uint64_t id);

/* cmocka: assert expr returns DUR_OK, printing the dur_error `e` in scope otherwise. */
#define TU_OK(expr)                                                                                \
    do {                                                                                           \
        dur_code tu_rc_ = (expr);                                                                  \
        if (tu_rc_ != DUR_OK) {                                                                    \
            char tu_b_[1024];                                                                      \
            fail_msg("%s: %s", #expr, dur_error_format(&e, tu_b_, sizeof tu_b_));                  \
        }                                                                                          \
    } while (0)

#endif
