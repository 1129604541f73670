/* WAL reader: streams records from the segments of a WAL directory.
 *
 * Validation rules (also docs/format-wal.md; the writer's resume relies on them):
 *
 * Every segment, in id order (ids consecutive, names "wal-<20 digits>.log"):
 *   - header: magic, checksum, version 1, size 40, id == the file name's id, and
 *     first LSN == the LSN following the previous segment's last record (the first
 *     segment present may start anywhere >= 1, after truncation);
 *   - frames back to back from offset 40 to exactly the end of the file; each with
 *     length <= DUR_WAL_MAX_PAYLOAD, type != 0, a matching XXH3-64,
 *     LSN <= DUR_WAL_MAX_LSN (2^64-1 has no successor: a writer resuming after it would
 *     wrap to LSN 0) and LSN == previous + 1;
 *   - except that the LAST segment may go on with zero bytes after its last frame up
 *     to the end of the file (zero fill written ahead by the writer, see
 *     zero_fill_bytes in wal.h): a clean end in both modes, reported in
 *     dur_wal_tail.zero_fill.  A record's type byte is never 0, so an all-zero
 *     region holds no record.  Non-last segments are trimmed at rotation, so zeros
 *     there are corruption.
 * A violation is DUR_E_CORRUPT naming segment file and byte offset, EXCEPT in the
 * LAST segment in best-effort mode, where damage that a power cut can produce is a
 * torn tail and ends the stream cleanly:
 *   T1 (torn header) the file is shorter than 40 bytes, or is exactly 40 bytes, or
 *      is all zeros, and its header does not validate.  The writer fsyncs a new
 *      segment's header before writing any record, so a header can be torn only in
 *      a segment that never held a record; a bad header in a longer file holding
 *      non-zero bytes is corruption.
 *   T2 (torn frame) at offset X a frame is partial at EOF, implausible (length over
 *      the cap or past EOF, type 0) or fails its checksum, AND no intact frame
 *      (plausible, within the file, checksum OK, LSN >= the expected one n) that
 *      was written after record n was durable starts anywhere in (X, EOF): one
 *      whose unsynced distance says records up to n were durable before it was
 *      written, or one carrying LSN n itself.  Zero fill, a cut, random garbage and
 *      a hole among records written since the last sync (pages of an overwritten
 *      zero fill reaching the disk out of order) are all torn tails; a damaged
 *      record followed by a record written after it was durable is corruption, as a
 *      power cut only loses what was written after the last sync.
 *   An intact frame with the wrong LSN is never a torn tail (it is a gap).
 * Strict mode forgives nothing: T1 and T2 are DUR_E_CORRUPT too.
 *
 * from_lsn: records below it are validated and dropped, except that a whole segment
 * is skipped unread when the next segment's valid header starts at or below from_lsn
 * (recovery after a checkpoint need not read the log the checkpoint covers).
 *
 * Memory: one buffer, 64 KiB, grown only to the size of a frame whose length has
 * been checked against the cap and the file size.  Never loads the log in memory.
 */
#include "wal_reader.h"

#include "wal_format.h"
#include "wal_segments.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READER_CHUNK (64u * 1024u)

struct dur_wal_reader {
    dur_dir *d;
    char dir[WAL_PATH_BUF];
    dur_read_mode mode;
    uint64_t from_lsn;
    uint64_t *ids;
    size_t nseg;
    size_t cur; /* index of the segment being read */
    dur_file *f;
    char path[WAL_PATH_BUF];
    uint64_t file_len;
    uint64_t off;      /* next frame offset in the current segment */
    uint64_t next_lsn; /* LSN the next frame must carry; 0 until a header says */
    uint8_t *buf;
    size_t cap;
    uint64_t buf_off;
    size_t buf_len;
    bool done;
    bool failed;
    dur_error fail_err;
    dur_wal_tail tail;
    uint64_t last_first_lsn;
    bool last_header_ok;
};

static dur_code fail(dur_wal_reader *r, dur_error *err)
{
    r->failed = true;
    if (err)
        *err = r->fail_err;
    return r->fail_err.code;
}

/* Make [off, off+n) of the current segment available; off + n <= file_len.  On
 * success *out points at byte off; on failure *out is NULL and fail_err says why. */
static dur_code ensure(dur_wal_reader *r, uint64_t off, size_t n, const uint8_t **out)
{
    assert(off + n <= r->file_len);
    *out = NULL;
    if (off >= r->buf_off && off + n <= r->buf_off + r->buf_len) {
        *out = r->buf + (off - r->buf_off);
        return DUR_OK;
    }
    r->buf_len = 0;
    if (n > r->cap) {
        uint8_t *nb = realloc(r->buf, n);
        if (!nb) {
            dur_error_set(&r->fail_err, DUR_E_NOMEM, 0, r->path,
                          "out of memory for a %zu-byte WAL frame", n);
            return DUR_E_NOMEM;
        }
        r->buf = nb;
        r->cap = n;
    }
    uint64_t left = r->file_len - off;
    size_t want = left < r->cap ? (size_t)left : r->cap;
    size_t have = 0;
    while (have < want) {
        size_t got = 0;
        dur_code rc =
            r->f->ops->pread(r->f, r->buf + have, want - have, off + have, &got, &r->fail_err);
        if (rc != DUR_OK)
            return rc;
        if (got == 0) {
            dur_error_set_at(&r->fail_err, DUR_E_IO, 0, r->path, off + have,
                             "segment shrank while being read (expected %" PRIu64 " bytes)",
                             r->file_len);
            return DUR_E_IO;
        }
        have += got;
    }
    r->buf_off = off;
    r->buf_len = have;
    *out = r->buf;
    return DUR_OK;
}

static dur_code corrupt(dur_wal_reader *r, uint64_t off, const char *why)
{
    return dur_error_set_at(&r->fail_err, DUR_E_CORRUPT, 0, r->path, off, "%s", why);
}

static bool is_last(const dur_wal_reader *r)
{
    return r->cur + 1 == r->nseg;
}

/* The stream ends in the last segment after valid_length bytes of whole records. */
static void end_at(dur_wal_reader *r, uint64_t valid_length)
{
    /* The relative path when it fits, else the file name (which always fits). */
    const char *name = r->path;
    if (strlen(name) >= sizeof r->tail.segment)
        name = strrchr(r->path, '/') + 1;
    memcpy(r->tail.segment, name, strlen(name) + 1);
    r->tail.valid_length = valid_length;
    r->tail.file_length = r->file_len;
    r->done = true;
}

static void end_torn(dur_wal_reader *r, uint64_t valid_length)
{
    r->tail.torn = true;
    end_at(r, valid_length);
}

static dur_code all_zero_from(dur_wal_reader *r, uint64_t from, bool *zero)
{
    *zero = true;
    for (uint64_t o = from; o < r->file_len;) {
        size_t n = r->file_len - o < READER_CHUNK ? (size_t)(r->file_len - o) : READER_CHUNK;
        const uint8_t *p;
        dur_code rc = ensure(r, o, n, &p);
        if (rc != DUR_OK)
            return rc;
        for (size_t i = 0; i < n; i++) {
            if (p[i]) {
                *zero = false;
                return DUR_OK;
            }
        }
        o += n;
    }
    return DUR_OK;
}

/* Is there an intact frame starting in [from, EOF) that proves the bad frame (which
 * should carry LSN r->next_lsn) was durable before it was written?  (rule T2) */
static dur_code find_intact(dur_wal_reader *r, uint64_t from, bool *found, uint64_t *at,
                            uint64_t *lsn)
{
    *found = false;
    for (uint64_t y = from; y + WAL_FRAME_OVERHEAD <= r->file_len; y++) {
        const uint8_t *p;
        dur_code rc = ensure(r, y, WAL_FRAME_HEAD, &p);
        if (rc != DUR_OK)
            return rc;
        wal_frame_head h;
        wal_frame_head_decode(p, &h);
        char why[8];
        /* An intact later record carries an LSN between the expected one and what could
         * fit in the bytes since `from` (cheap test first: keeps garbage from making us
         * read and hash megabytes). */
        uint64_t span = (y - from) / WAL_FRAME_OVERHEAD + 1;
        uint64_t max_lsn = r->next_lsn > UINT64_MAX - span ? UINT64_MAX : r->next_lsn + span;
        if (!wal_frame_head_plausible(&h, why, sizeof why) || h.lsn < r->next_lsn ||
            h.lsn > max_lsn || (uint64_t)h.len + WAL_FRAME_OVERHEAD > r->file_len - y)
            continue;
        rc = ensure(r, y, WAL_FRAME_OVERHEAD + h.len, &p);
        if (rc != DUR_OK)
            return rc;
        uint64_t stored, computed;
        if (!wal_frame_checksum_ok(p, h.len, &stored, &computed))
            continue;
        /* Written while the expected record was not yet durable: the hole may be a
         * power cut among unsynced pages.  Look on past it. */
        if (h.lsn != r->next_lsn && wal_frame_durable_before(&h) < r->next_lsn) {
            y += WAL_FRAME_OVERHEAD + h.len - 1;
            continue;
        }
        *found = true;
        *at = y;
        *lsn = h.lsn;
        return DUR_OK;
    }
    return DUR_OK;
}

/* A frame at r->off cannot be accepted: torn tail or corruption. */
static dur_code bad_frame(dur_wal_reader *r, const char *why)
{
    uint64_t x = r->off;
    if (!is_last(r))
        return corrupt(r, x, why);
    bool zero;
    dur_code rc = all_zero_from(r, x, &zero);
    if (rc != DUR_OK)
        return rc;
    if (zero) { /* the writer's zero fill: a clean end in either mode */
        r->tail.zero_fill = r->file_len - x;
        end_at(r, x);
        return DUR_OK;
    }
    if (r->mode == DUR_READ_STRICT)
        return corrupt(r, x, why);
    bool found;
    uint64_t at = 0, lsn = 0;
    rc = find_intact(r, x + 1, &found, &at, &lsn);
    if (rc != DUR_OK)
        return rc;
    if (found) {
        char msg[DUR_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg,
                 "%s; not a torn tail: an intact record (LSN %" PRIu64
                 ") follows at offset %" PRIu64,
                 why, lsn, at);
        return corrupt(r, x, msg);
    }
    end_torn(r, x);
    return DUR_OK;
}

static dur_code open_segment(dur_wal_reader *r)
{
    uint64_t id = r->ids[r->cur];
    wal_segment_path(r->path, r->dir, id);
    dur_code rc = dur_dir_open(r->d, r->path, DUR_O_READ, &r->f, &r->fail_err);
    if (rc != DUR_OK)
        return rc;
    rc = r->f->ops->size(r->f, &r->file_len, &r->fail_err);
    if (rc != DUR_OK)
        return rc;
    r->buf_len = 0;
    r->off = 0;
    bool last = is_last(r);
    if (last) {
        r->last_header_ok = false;
        r->last_first_lsn = r->next_lsn;
    }
    char why[DUR_ERROR_MSG_MAX];
    if (r->file_len < WAL_HEADER_SIZE) {
        if (last && r->mode == DUR_READ_BEST_EFFORT) {
            end_torn(r, 0);
            return DUR_OK;
        }
        snprintf(why, sizeof why,
                 "segment shorter than its header (%" PRIu64 " bytes, expected at least %u)",
                 r->file_len, WAL_HEADER_SIZE);
        return corrupt(r, 0, why);
    }
    const uint8_t *p;
    rc = ensure(r, 0, WAL_HEADER_SIZE, &p);
    if (rc != DUR_OK)
        return rc;
    wal_header h;
    if (!wal_header_decode(p, &h, why, sizeof why)) {
        if (last && r->mode == DUR_READ_BEST_EFFORT) {
            bool zero = r->file_len == WAL_HEADER_SIZE;
            if (!zero && (rc = all_zero_from(r, 0, &zero)) != DUR_OK)
                return rc;
            if (zero) {
                end_torn(r, 0);
                return DUR_OK;
            }
        }
        return corrupt(r, 0, why);
    }
    if (h.segment_id != id) {
        snprintf(why, sizeof why, "header names segment %" PRIu64 ", file name says %" PRIu64,
                 h.segment_id, id);
        return corrupt(r, 16, why);
    }
    if (r->next_lsn != 0 && h.first_lsn != r->next_lsn) {
        snprintf(why, sizeof why,
                 "first LSN %" PRIu64 " does not follow the previous segment (expected %" PRIu64
                 ")",
                 h.first_lsn, r->next_lsn);
        return corrupt(r, 24, why);
    }
    r->next_lsn = h.first_lsn;
    if (last) {
        r->last_header_ok = true;
        r->last_first_lsn = h.first_lsn;
    }
    r->off = WAL_HEADER_SIZE;
    return DUR_OK;
}

/* from_lsn: segment cur holds only LSNs < from_lsn when the NEXT segment's header is
 * valid and says it starts at or below from_lsn; then cur is skipped unread (and so
 * unvalidated: the writer's resume validates everything).  Any doubt: do not skip. */
static dur_code skip_below_from(dur_wal_reader *r, bool *skip)
{
    *skip = false;
    if (r->from_lsn <= 1 || r->cur + 1 >= r->nseg)
        return DUR_OK;
    char path[WAL_PATH_BUF];
    wal_segment_path(path, r->dir, r->ids[r->cur + 1]);
    dur_file *f = NULL;
    dur_error e;
    if (dur_dir_open(r->d, path, DUR_O_READ, &f, &e) != DUR_OK)
        return DUR_OK; /* reading it in turn will report the problem */
    uint8_t hdr[WAL_HEADER_SIZE];
    size_t got = 0;
    dur_code rc = f->ops->pread(f, hdr, sizeof hdr, 0, &got, &e);
    dur_file_close(f);
    wal_header h;
    char why[DUR_ERROR_MSG_MAX];
    if (rc != DUR_OK || got != sizeof hdr || !wal_header_decode(hdr, &h, why, sizeof why) ||
        h.segment_id != r->ids[r->cur + 1] || h.first_lsn > r->from_lsn ||
        (r->next_lsn != 0 && h.first_lsn < r->next_lsn))
        return DUR_OK;
    r->next_lsn = h.first_lsn;
    *skip = true;
    return DUR_OK;
}

static void close_segment(dur_wal_reader *r)
{
    dur_file_close(r->f);
    r->f = NULL;
    r->buf_len = 0;
}

/* One frame at r->off: *have set when a record was decoded into rec. */
static dur_code read_frame(dur_wal_reader *r, dur_wal_record *rec, bool *have)
{
    *have = false;
    assert(r->off >= WAL_HEADER_SIZE && r->off < r->file_len);
    char why[DUR_ERROR_MSG_MAX];
    uint64_t left = r->file_len - r->off;
    if (left < WAL_FRAME_OVERHEAD) {
        snprintf(why, sizeof why,
                 "partial frame at end of segment (%" PRIu64 " bytes, a frame needs at least %u)",
                 left, WAL_FRAME_OVERHEAD);
        return bad_frame(r, why);
    }
    const uint8_t *p;
    dur_code rc = ensure(r, r->off, WAL_FRAME_HEAD, &p);
    if (rc != DUR_OK)
        return rc;
    wal_frame_head h;
    wal_frame_head_decode(p, &h);
    if (!wal_frame_head_plausible(&h, why, sizeof why))
        return bad_frame(r, why);
    uint64_t size = WAL_FRAME_OVERHEAD + (uint64_t)h.len;
    if (size > left) {
        snprintf(why, sizeof why,
                 "frame of %" PRIu64 " bytes runs past end of segment (%" PRIu64 " bytes left)",
                 size, left);
        return bad_frame(r, why);
    }
    rc = ensure(r, r->off, (size_t)size, &p);
    if (rc != DUR_OK)
        return rc;
    uint64_t stored, computed;
    if (!wal_frame_checksum_ok(p, h.len, &stored, &computed)) {
        snprintf(why, sizeof why,
                 "record checksum mismatch (expected 0x%016" PRIx64 ", found 0x%016" PRIx64 ")",
                 computed, stored);
        return bad_frame(r, why);
    }
    /* Like a gap, never a torn tail: the frame is intact. */
    if (h.lsn > DUR_WAL_MAX_LSN) {
        snprintf(why, sizeof why,
                 "record LSN %" PRIu64 " is out of range (1..%" PRIu64 "): no LSN could follow it",
                 h.lsn, (uint64_t)DUR_WAL_MAX_LSN);
        return corrupt(r, r->off + 8, why);
    }
    if (h.lsn != r->next_lsn) {
        snprintf(why, sizeof why, "LSN gap: expected LSN %" PRIu64 ", found %" PRIu64, r->next_lsn,
                 h.lsn);
        return corrupt(r, r->off + 8, why);
    }
    r->off += size;
    r->next_lsn++;
    assert(r->off <= r->file_len && h.lsn + 1 == r->next_lsn && r->next_lsn != 0);
    if (h.lsn < r->from_lsn)
        return DUR_OK;
    rec->lsn = h.lsn;
    rec->type = h.type;
    rec->payload = p + WAL_FRAME_HEAD;
    rec->len = h.len;
    *have = true;
    return DUR_OK;
}

dur_code dur_wal_reader_next(dur_wal_reader *r, dur_wal_record *rec, bool *eof, dur_error *err)
{
    if (r->failed)
        return fail(r, err);
    for (;;) {
        if (r->done || r->cur >= r->nseg) {
            r->done = true;
            *eof = true;
            return DUR_OK;
        }
        if (!r->f) {
            bool skip = false;
            if (skip_below_from(r, &skip) != DUR_OK)
                return fail(r, err);
            if (skip) {
                r->cur++;
                continue;
            }
            if (open_segment(r) != DUR_OK)
                return fail(r, err);
            continue;
        }
        if (r->off == r->file_len) {
            close_segment(r);
            r->cur++;
            continue;
        }
        bool have;
        if (read_frame(r, rec, &have) != DUR_OK)
            return fail(r, err);
        if (have) {
            *eof = false;
            return DUR_OK;
        }
    }
}

dur_code dur_wal_reader_open(dur_dir *d, const char *path, dur_read_mode mode, uint64_t from_lsn,
                             dur_wal_reader **out, dur_error *err)
{
    if (!d || !path || !out || (mode != DUR_READ_STRICT && mode != DUR_READ_BEST_EFFORT))
        return dur_error_set(err, DUR_E_INVAL, 0, path, "dur_wal_reader_open: bad argument");
    if (strlen(path) > WAL_DIR_MAX)
        return dur_error_set(err, DUR_E_INVAL, 0, NULL, "WAL directory path longer than %u bytes",
                             WAL_DIR_MAX);
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    dur_wal_reader *r = calloc(1, sizeof *r);
    if (!r)
        return dur_error_set(err, DUR_E_NOMEM, 0, path, "out of memory for a WAL reader");
    r->d = d;
    snprintf(r->dir, sizeof r->dir, "%s", path);
    r->mode = mode;
    r->from_lsn = from_lsn;
    r->cap = READER_CHUNK;
    r->buf = malloc(r->cap);
    if (!r->buf) {
        free(r);
        return dur_error_set(err, DUR_E_NOMEM, 0, path, "out of memory for a WAL reader");
    }
    rc = wal_list_segments(d, path, &r->ids, &r->nseg, err);
    if (rc != DUR_OK) {
        dur_wal_reader_close(r);
        return rc;
    }
    *out = r;
    return DUR_OK;
}

void dur_wal_reader_tail(dur_wal_reader *r, dur_wal_tail *out)
{
    *out = r->tail;
}

unsigned dur_wal_reader_segments(dur_wal_reader *r)
{
    return (unsigned)r->nseg;
}

void wal_reader_last_segment(dur_wal_reader *r, uint64_t *id, uint64_t *first_lsn, bool *header_ok)
{
    *id = r->nseg ? r->ids[r->nseg - 1] : 0;
    *first_lsn = r->last_first_lsn;
    *header_ok = r->last_header_ok;
}

uint64_t wal_reader_next_lsn(dur_wal_reader *r)
{
    return r->next_lsn;
}

void dur_wal_reader_close(dur_wal_reader *r)
{
    if (!r)
        return;
    dur_file_close(r->f);
    free(r->buf);
    free(r->ids);
    free(r);
}
