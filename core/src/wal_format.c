/* WAL on-disk format: segment header, record frame, segment names.
 *
 * Layout (all integers little-endian, XXH3-64 = XXH3_64bits):
 *   segment header, 40 bytes:
 *     [0] "DURFSWAL"  [8] u32 version=1  [12] u32 header size=40
 *     [16] u64 segment id  [24] u64 first LSN  [32] u64 XXH3-64 of bytes 0..31
 *   record frame, 24 + len bytes, no padding:
 *     [0] u32 len (<= DUR_WAL_MAX_PAYLOAD)  [4] u8 type (1..255)
 *     [5] u24 unsynced distance (LSN - the writer's durable LSN at append)
 *     [8] u64 LSN (1..2^64-2)  [16] payload  [16+len] u64 XXH3-64 of bytes [0, 16+len)
 *   segment ids are 1..2^64-2 (a segment after the last is always nameable), first
 *   LSNs 1..2^64-1 (2^64-1 only in a segment that can never hold a record).
 *
 * Why this shape: type 0 is invalid so a zero-filled region (a torn tail on many
 * filesystems) never decodes as a record; the checksum covers length, type and LSN,
 * so a torn or flipped head is caught; the LSN in every frame lets the reader prove
 * contiguity across segments without trusting file names; the distance lets it tell
 * a hole left by a power cut among unsynced records (possible when records overwrite
 * zero fill and pages reach the disk out of order) from damage to records that were
 * already durable.
 */
#include "wal_format.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

_Static_assert(WAL_HEADER_SIZE == 40, "segment header is 40 bytes");
_Static_assert(WAL_FRAME_OVERHEAD == 24, "frame overhead is 24 bytes");

uint32_t wal_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t wal_get_u64(const uint8_t *p)
{
    return (uint64_t)wal_get_u32(p) | (uint64_t)wal_get_u32(p + 4) << 32;
}

void wal_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void wal_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t wal_checksum(const void *data, size_t len)
{
    return XXH3_64bits(data, len);
}

void wal_header_encode(uint8_t out[WAL_HEADER_SIZE], const wal_header *h)
{
    /* The writer never makes a segment it could not name (wal_segment_name_parse). */
    assert(h->segment_id >= 1 && h->segment_id <= DUR_WAL_MAX_SEGMENT_ID && h->first_lsn >= 1);
    memcpy(out, WAL_MAGIC, WAL_MAGIC_LEN); /* NOLINT(bugprone-not-null-terminated-result) */
    wal_put_u32(out + 8, WAL_FORMAT_VERSION);
    wal_put_u32(out + 12, WAL_HEADER_SIZE);
    wal_put_u64(out + 16, h->segment_id);
    wal_put_u64(out + 24, h->first_lsn);
    wal_put_u64(out + 32, wal_checksum(out, 32));
}

bool wal_header_decode(const uint8_t in[WAL_HEADER_SIZE], wal_header *h, char *why, size_t why_size)
{
    if (memcmp(in, WAL_MAGIC, WAL_MAGIC_LEN) != 0) {
        snprintf(why, why_size, "bad segment magic (expected \"DURFSWAL\")");
        return false;
    }
    uint64_t stored = wal_get_u64(in + 32), computed = wal_checksum(in, 32);
    if (stored != computed) {
        snprintf(why, why_size,
                 "segment header checksum mismatch (expected 0x%016" PRIx64 ", found 0x%016" PRIx64
                 ")",
                 computed, stored);
        return false;
    }
    uint32_t version = wal_get_u32(in + 8), hsize = wal_get_u32(in + 12);
    if (version != WAL_FORMAT_VERSION) {
        snprintf(why, why_size, "unsupported WAL format version (expected %u, found %" PRIu32 ")",
                 WAL_FORMAT_VERSION, version);
        return false;
    }
    if (hsize != WAL_HEADER_SIZE) {
        snprintf(why, why_size, "bad segment header size (expected %u, found %" PRIu32 ")",
                 WAL_HEADER_SIZE, hsize);
        return false;
    }
    h->segment_id = wal_get_u64(in + 16);
    h->first_lsn = wal_get_u64(in + 24);
    if (h->segment_id == 0 || h->first_lsn == 0) {
        snprintf(why, why_size,
                 "segment id and first LSN must be >= 1 (found id %" PRIu64 ", first LSN %" PRIu64
                 ")",
                 h->segment_id, h->first_lsn);
        return false;
    }
    /* A first LSN of 2^64-1 is possible (an empty segment after record 2^64-2); an id
     * of 2^64-1 is not, because no segment could follow it. */
    if (h->segment_id > DUR_WAL_MAX_SEGMENT_ID) {
        snprintf(why, why_size, "segment id %" PRIu64 " is out of range (1..%" PRIu64 ")",
                 h->segment_id, (uint64_t)DUR_WAL_MAX_SEGMENT_ID);
        return false;
    }
    return true;
}

void wal_frame_head_encode(uint8_t out[WAL_FRAME_HEAD], uint32_t len, uint8_t type, uint64_t lsn,
                           uint64_t durable_lsn)
{
    assert(len <= DUR_WAL_MAX_PAYLOAD && type != 0 && lsn >= 1 && lsn <= DUR_WAL_MAX_LSN &&
           durable_lsn < lsn);
    uint64_t distance = lsn - durable_lsn;
    if (distance > WAL_DISTANCE_UNKNOWN)
        distance = WAL_DISTANCE_UNKNOWN;
    wal_put_u32(out, len);
    out[4] = type;
    out[5] = (uint8_t)distance;
    out[6] = (uint8_t)(distance >> 8);
    out[7] = (uint8_t)(distance >> 16);
    wal_put_u64(out + 8, lsn);
}

uint64_t wal_frame_durable_before(const wal_frame_head *h)
{
    if (h->distance >= WAL_DISTANCE_UNKNOWN || h->distance > h->lsn)
        return 0;
    return h->lsn - (h->distance ? h->distance : 1);
}

void wal_frame_head_decode(const uint8_t in[WAL_FRAME_HEAD], wal_frame_head *h)
{
    h->len = wal_get_u32(in);
    h->type = in[4];
    h->distance = (uint32_t)in[5] | (uint32_t)in[6] << 8 | (uint32_t)in[7] << 16;
    h->lsn = wal_get_u64(in + 8);
}

bool wal_frame_head_plausible(const wal_frame_head *h, char *why, size_t why_size)
{
    if (h->len > DUR_WAL_MAX_PAYLOAD) {
        snprintf(why, why_size, "record length %" PRIu32 " exceeds the cap %u", h->len,
                 DUR_WAL_MAX_PAYLOAD);
        return false;
    }
    if (h->type == 0) {
        snprintf(why, why_size, "record type 0 (expected 1..255)");
        return false;
    }
    return true;
}

void wal_frame_encode(uint8_t *out, uint8_t type, uint64_t lsn, uint64_t durable_lsn,
                      const void *payload, uint32_t len)
{
    wal_frame_head_encode(out, len, type, lsn, durable_lsn);
    if (len)
        memcpy(out + WAL_FRAME_HEAD, payload, len);
    wal_put_u64(out + WAL_FRAME_HEAD + len, wal_checksum(out, WAL_FRAME_HEAD + (size_t)len));
}

bool wal_frame_checksum_ok(const uint8_t *frame, uint32_t len, uint64_t *stored, uint64_t *computed)
{
    *stored = wal_get_u64(frame + WAL_FRAME_HEAD + len);
    *computed = wal_checksum(frame, WAL_FRAME_HEAD + (size_t)len);
    return *stored == *computed;
}

void wal_segment_name(char out[WAL_SEGMENT_NAME_BUF], uint64_t id)
{
    snprintf(out, WAL_SEGMENT_NAME_BUF, "wal-%020" PRIu64 ".log", id);
}

int wal_segment_name_parse(const char *name, uint64_t *id)
{
    size_t n = strlen(name);
    if (n < 8 || strncmp(name, "wal-", 4) != 0 || strcmp(name + n - 4, ".log") != 0)
        return 0;
    if (n != WAL_SEGMENT_NAME_LEN)
        return -1;
    uint64_t v = 0;
    for (size_t i = 4; i < 24; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        unsigned digit = (unsigned)(name[i] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return -1; /* overflows u64 */
        v = v * 10 + digit;
    }
    if (v == 0 || v > DUR_WAL_MAX_SEGMENT_ID)
        return -1; /* 0, or 2^64-1, after which no segment id exists */
    *id = v;
    return 1;
}
