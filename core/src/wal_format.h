/* Internal: the WAL's on-disk byte layout (docs/format-wal.md).
 *
 * Pure functions: encoding, decoding and validating segment headers and record
 * frames, and segment file names.  No I/O here, so the reader, the writer,
 * durfsctl and the fuzzers share one definition of "valid".
 */
#ifndef DURABILITY_WAL_FORMAT_H
#define DURABILITY_WAL_FORMAT_H

#include "durability/wal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAL_MAGIC "DURFSWAL"
#define WAL_MAGIC_LEN 8
#define WAL_FORMAT_VERSION 1u
#define WAL_HEADER_SIZE 40u
#define WAL_FRAME_HEAD 16u /* length, type, 3-byte unsynced distance, LSN */
#define WAL_FRAME_TAIL 8u  /* XXH3-64 over head + payload */
#define WAL_FRAME_OVERHEAD (WAL_FRAME_HEAD + WAL_FRAME_TAIL)
#define WAL_MAX_FRAME ((uint64_t)WAL_FRAME_OVERHEAD + DUR_WAL_MAX_PAYLOAD)

/* "wal-" + 20 digits + ".log" */
#define WAL_SEGMENT_NAME_LEN 28u
#define WAL_SEGMENT_NAME_BUF 32u

typedef struct wal_header {
    uint64_t segment_id;
    uint64_t first_lsn;
} wal_header;

/* Bytes 5..7 of a frame: the record's LSN minus the writer's durable LSN when it was
 * appended, so every record below lsn - distance was on stable storage before this
 * frame was written (the reader's torn-versus-corrupt rule).  Saturates at
 * WAL_DISTANCE_UNKNOWN, which claims nothing; 0 (older writers) claims everything
 * below lsn. */
#define WAL_DISTANCE_UNKNOWN 0xFFFFFFu

typedef struct wal_frame_head {
    uint32_t len;
    uint8_t type;
    uint32_t distance; /* 24 bits on disk */
    uint64_t lsn;
} wal_frame_head;

/* Little-endian helpers (the format is LE whatever the host). */
uint32_t wal_get_u32(const uint8_t *p);
uint64_t wal_get_u64(const uint8_t *p);
void wal_put_u32(uint8_t *p, uint32_t v);
void wal_put_u64(uint8_t *p, uint64_t v);

uint64_t wal_checksum(const void *data, size_t len);

/* Header: encode into 40 bytes; decode+validate 40 bytes.  On failure `why` receives a
 * sentence saying what was expected and what was found. */
void wal_header_encode(uint8_t out[WAL_HEADER_SIZE], const wal_header *h);
bool wal_header_decode(const uint8_t in[WAL_HEADER_SIZE], wal_header *h, char *why,
                       size_t why_size);

/* Frame head: encode the 16 head bytes; decode them (no validation). */
void wal_frame_head_encode(uint8_t out[WAL_FRAME_HEAD], uint32_t len, uint8_t type, uint64_t lsn,
                           uint64_t durable_lsn);
void wal_frame_head_decode(const uint8_t in[WAL_FRAME_HEAD], wal_frame_head *h);
/* Structural checks on a head that need no payload: length cap, type != 0.
 * Returns false with `why` filled. */
bool wal_frame_head_plausible(const wal_frame_head *h, char *why, size_t why_size);
/* Encode a whole frame (head, payload, checksum) into out (24 + len bytes);
 * durable_lsn < lsn is the writer's durable LSN at the time of the append. */
void wal_frame_encode(uint8_t *out, uint8_t type, uint64_t lsn, uint64_t durable_lsn,
                      const void *payload, uint32_t len);
/* Every record with an LSN <= the result was durable before h's frame was written. */
uint64_t wal_frame_durable_before(const wal_frame_head *h);
/* Checksum of a complete frame in memory: compares the stored tail with the computed one. */
bool wal_frame_checksum_ok(const uint8_t *frame, uint32_t len, uint64_t *stored,
                           uint64_t *computed);

/* Segment names. */
void wal_segment_name(char out[WAL_SEGMENT_NAME_BUF], uint64_t id);
/* Classify a directory entry: 0 = not a segment (ignore), 1 = a segment (*id set),
 * -1 = looks like a segment ("wal-*.log") but does not parse or its id is outside
 * 1..DUR_WAL_MAX_SEGMENT_ID (corrupt). */
int wal_segment_name_parse(const char *name, uint64_t *id);

#endif
