/* WAL writer: buffered appends, group commit, rotation, truncation, resume.
 *
 * Crash reasoning (docs/format-wal.md, core/WAL_README.md):
 *   - A record is reported durable (durable_lsn advances over it) only after the
 *     fdatasync of the segment holding it returned success, after the leader hook
 *     (durfs: syncfs of the backing filesystem) returned success, and only if the
 *     segment's name is durable (segments are created header + fsync + directory
 *     fsync before any record goes in, see wal_segments.c).
 *   - Rotation writes and fdatasyncs the old segment BEFORE creating the next one,
 *     so every segment but the last is complete on disk; the reader may therefore
 *     forgive a torn tail only in the last segment.
 *   - Zero fill (zero_fill_bytes): zeros are written past the last record and made
 *     durable by the next sync, so later records overwrite allocated, written blocks
 *     and their fdatasync needs no filesystem metadata.  Correctness never depends
 *     on the fill: a crash keeps some prefix of it, and zeros after the last record
 *     are a clean end (the reader).  Rotation trims the old segment back to its
 *     records and fsyncs it before the next segment exists, so zeros can only ever
 *     follow the last record of the last segment.  A torn tail is cut (ftruncate)
 *     before writing resumes, so no stale bytes ever lie past the write position:
 *     only zeros or nothing.
 *   - Resume makes what it found durable (fdatasync the last segment, fsync the
 *     directory) before continuing: a crashed previous process may have left
 *     written-but-unsynced records in the page cache, which a later power cut would
 *     lose while we report later records durable.
 *   - Any failed write, hook, sync or segment creation poisons the writer: after a
 *     failed fsync the kernel may have dropped dirty pages, so nothing written since
 *     the last good sync can be trusted and retrying would lie (crash-rules R6).
 *     One exception: a new segment not created for want of a resource (fds,
 *     memory, space) that left nothing behind.  The old segment is then synced and
 *     still the last one, so records may go on into it past segment_size; the
 *     rotation is retried ROTATE_RETRY_MS later.  Poisoning there would turn a
 *     program holding many files open into a journal that refuses every change.
 *
 * Concurrency: `mu` protects everything below it in struct dur_wal.  The I/O role
 * (`io_busy`, waited for on `cv`) is the I/O mutex: exactly one thread at a time
 * writes, syncs, rotates or truncates, with `mu` dropped, while other threads keep
 * appending into the other buffer.  Group commit: dur_wal_sync(lsn) returns at once
 * if durable_lsn >= lsn; waits while someone holds the I/O role; otherwise becomes
 * the leader, takes the whole buffer, writes it, calls the hook, fdatasyncs once and
 * advances durable_lsn to the last LSN appended before it took the batch, which
 * covers every waiting follower.
 */
#include "durability/testing.h"
#include "durability/wal.h"
#include "wal_format.h"
#include "wal_reader.h"
#include "wal_segments.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* After a rotation put off for want of a resource, appends go on in the current
 * segment for this long before trying again (each try costs a sync). */
#define ROTATE_RETRY_MS 1000u

typedef struct wal_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} wal_buf;

typedef struct wal_seg_info {
    uint64_t id;
    uint64_t first_lsn;
    uint64_t size;
} wal_seg_info;

enum io_kind { IO_WRITE, IO_SYNC, IO_ROTATE };

struct dur_wal {
    dur_dir *d;
    char dir[WAL_PATH_BUF];
    dur_wal_options o;
    dur_lock *lock;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool io_busy;   /* the I/O role is taken */
    wal_buf active; /* appends go here */
    wal_buf spare;  /* empty; swapped in when the I/O holder takes `active` */
    uint64_t next_lsn;
    uint64_t written_lsn; /* handed to the OS */
    uint64_t durable_lsn; /* fdatasync'd (and hooked) */
    uint64_t seg_end;     /* logical end of the newest segment incl. buffered frames */
    /* room_end() as of the last I/O step (the holder owns the real one): a lower
     * bound while a step runs, which only grows it, except rotation, which resets
     * this first.  For dur_wal_room without waiting for the I/O role. */
    uint64_t known_room_end;
    uint64_t appends_since_flush;
    uint64_t last_flush_ms;
    uint64_t rotate_not_before_ms; /* a rotation was put off (ROTATE_RETRY_MS) */
    bool poisoned;
    dur_error poison;
    dur_wal_stats st;
    wal_seg_info *segs; /* live segments, oldest first; the last is active */
    size_t nsegs;
    size_t segs_cap;

    /* Owned by the I/O role holder. */
    dur_file *seg; /* the active segment */
    uint64_t seg_id;
    uint64_t seg_write_off;
    uint64_t seg_file_end; /* its file size: >= seg_write_off, beyond it only zeros */
    /* reserve_bytes: allocated (FALLOC_FL_KEEP_SIZE) up to here; 0 = nothing reserved */
    uint64_t seg_reserved_end;
    bool seg_fill_failed; /* zero fill or reservation failed (disk full): no more in this segment */
    atomic_bool reserve_unsupported; /* the filesystem cannot reserve: room unbounded */
};

void dur_wal_options_default(dur_wal_options *o)
{
    memset(o, 0, sizeof *o);
    o->segment_size = 64u * 1024u * 1024u;
    o->prealloc_bytes = 0;
    o->zero_fill_bytes = 0;
    o->reserve_bytes = 0;
    o->buffer_size = 256u * 1024u;
    o->flush_policy = DUR_FLUSH_MANUAL;
    o->every_n = 1;
    o->interval_ms = 1000;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Return DUR_E_CLOSED carrying the first error's text, path and offset. */
static dur_code poisoned_error(dur_wal *w, dur_error *err)
{
    if (err) {
        char orig[DUR_ERROR_PATH_MAX + DUR_ERROR_MSG_MAX + 64];
        dur_error_format(&w->poison, orig, sizeof orig);
        *err = w->poison;
        err->code = DUR_E_CLOSED;
        snprintf(err->msg, sizeof err->msg, "WAL poisoned by an earlier failure: %.200s", orig);
    }
    return DUR_E_CLOSED;
}

static void poison(dur_wal *w, const dur_error *e)
{
    if (!w->poisoned) {
        w->poisoned = true;
        w->poison = *e;
    }
}

/* Room in segs for one more (a rotation makes sure of it before it starts, so that
 * a segment it created is never lost to a failed allocation). */
static dur_code seg_room(dur_wal *w)
{
    if (w->nsegs == w->segs_cap) {
        size_t cap = w->segs_cap ? w->segs_cap * 2 : 8;
        wal_seg_info *n = realloc(w->segs, cap * sizeof *n);
        if (!n)
            return DUR_E_NOMEM;
        w->segs = n;
        w->segs_cap = cap;
    }
    return DUR_OK;
}

static dur_code seg_push(dur_wal *w, uint64_t id, uint64_t first_lsn, uint64_t size)
{
    if (seg_room(w) != DUR_OK)
        return DUR_E_NOMEM;
    w->segs[w->nsegs++] = (wal_seg_info){.id = id, .first_lsn = first_lsn, .size = size};
    return DUR_OK;
}

/* I/O role held: the end of the room allocated ahead of the records, zeros
 * written or blocks reserved. */
static uint64_t room_end(const dur_wal *w)
{
    return w->seg_reserved_end > w->seg_file_end ? w->seg_reserved_end : w->seg_file_end;
}

/* I/O role held, reserve_bytes without zero fill: keep at least half of it
 * allocated past the write position (never past segment_size) with KEEP_SIZE,
 * so the file's size still grows only by appends.  Like the fill, in 64 KiB
 * steps, and a failure (a full disk) keeps what was reserved and stops
 * reserving in this segment; a filesystem that cannot reserve at all leaves the
 * room unbounded, as without the option. */
static void reserve_ahead(dur_wal *w)
{
    const uint64_t step = 64 * 1024;
    uint64_t want = w->o.reserve_bytes;
    if (want == 0 || w->seg_fill_failed || atomic_load(&w->reserve_unsupported) ||
        room_end(w) - w->seg_write_off >= want / 2)
        return;
    uint64_t end = w->seg_write_off + want;
    if (end > w->o.segment_size)
        end = w->o.segment_size;
    while (room_end(w) < end) {
        uint64_t from = room_end(w), n = end - from < step ? end - from : step;
        dur_error ignored;
        dur_code rc = w->seg->ops->allocate(w->seg, from, n, &ignored);
        if (rc != DUR_OK) {
            if (rc == DUR_E_NOTSUP)
                atomic_store(&w->reserve_unsupported, true);
            else
                w->seg_fill_failed = true;
            return;
        }
        w->seg_reserved_end = from + n;
    }
}

/* I/O role held: keep at least half of zero_fill_bytes of zeros past the write
 * position (never growing the file past segment_size), written now, made durable by
 * the sync that follows.  The fill only saves time, so a failure to write it (a
 * full disk) is not an error: filling stops for this segment, and the file's real
 * size is what rotation will trim.  Only not knowing that size is an error.
 * Without zero fill, reserve_bytes are reserved instead (reserve_ahead). */
static dur_code zero_fill_ahead(dur_wal *w, dur_error *err)
{
    static const uint8_t zeros[64 * 1024];
    uint64_t want = w->o.zero_fill_bytes;
    if (want == 0) {
        reserve_ahead(w);
        return DUR_OK;
    }
    if (w->seg_fill_failed || w->seg_file_end - w->seg_write_off >= want / 2)
        return DUR_OK;
    uint64_t end = w->seg_write_off + want;
    if (end > w->o.segment_size)
        end = w->o.segment_size;
    while (w->seg_file_end < end) {
        uint64_t n = end - w->seg_file_end < sizeof zeros ? end - w->seg_file_end : sizeof zeros;
        dur_error ignored;
        if (w->seg->ops->pwrite(w->seg, zeros, (size_t)n, w->seg_file_end, &ignored) != DUR_OK) {
            w->seg_fill_failed = true; /* a short write may still have grown the file */
            uint64_t size = 0;
            dur_code rc = w->seg->ops->size(w->seg, &size, err);
            if (rc == DUR_OK && size > w->seg_file_end)
                w->seg_file_end = size;
            return rc;
        }
        w->seg_file_end += n;
    }
    return DUR_OK;
}

/* I/O role held, the segment's records synced: cut the zero fill off a segment that is
 * about to stop being the last one, durably, before its successor can exist.  A
 * reservation goes the same way (ext4 and XFS free blocks past the end of file at a
 * truncate to the same size). */
static dur_code trim_zero_fill(dur_wal *w, dur_error *err)
{
    if (room_end(w) == w->seg_write_off)
        return DUR_OK;
    assert(room_end(w) > w->seg_write_off);
    dur_code rc = w->seg->ops->truncate(w->seg, w->seg_write_off, err);
    if (rc == DUR_OK && !(dur_test_get_skip() & DUR_SKIP_WAL_TRIM_SYNC))
        rc = w->seg->ops->sync_all(w->seg, err);
    if (rc == DUR_OK) {
        w->seg_file_end = w->seg_write_off;
        w->seg_reserved_end = 0;
    }
    return rc;
}

static void refresh_disk_stats(dur_wal *w)
{
    uint64_t total = 0;
    for (size_t i = 0; i < w->nsegs; i++)
        total += w->segs[i].size;
    w->st.bytes_on_disk = total;
    w->st.live_segments = (unsigned)w->nsegs;
}

/* mu held: whether the segment's size calls for a rotation before a frame of `frame`
 * bytes.  Never split a record; a record larger than a segment goes alone into one. */
static bool rotation_due(dur_wal *w, size_t frame)
{
    return w->seg_end > WAL_HEADER_SIZE && w->seg_end + frame > w->o.segment_size &&
           (w->rotate_not_before_ms == 0 || now_ms() >= w->rotate_not_before_ms);
}

/* mu held: the rotation waits ROTATE_RETRY_MS; until then records go on into the
 * current segment. */
static void put_off_rotation(dur_wal *w)
{
    w->rotate_not_before_ms = now_ms() + ROTATE_RETRY_MS;
    w->st.rotations_put_off++;
}

/* The I/O step.  Called with mu held, the I/O role free and the writer not poisoned;
 * returns with mu held and the role free again.  Takes the active buffer as the batch.
 * IO_WRITE writes it; IO_SYNC also calls the hook and fdatasyncs; IO_ROTATE does what
 * IO_SYNC does and then creates the next segment (the caller has checked that the
 * active buffer holds only records of the current segment).  A failure poisons the
 * writer, except a rotation put off (see the top comment): then the batch is synced,
 * the old segment stays the active one, and the error is returned unpoisoned. */
static dur_code do_io(dur_wal *w, enum io_kind kind, dur_error *err)
{
    assert(!w->io_busy && !w->poisoned);
    assert(w->spare.len == 0);
    if (kind == IO_ROTATE && seg_room(w) != DUR_OK) {
        put_off_rotation(w);
        return dur_error_set(err, DUR_E_NOMEM, ENOMEM, w->dir,
                             "out of memory tracking WAL segments: rotation put off");
    }
    w->io_busy = true;
    wal_buf batch = w->active;
    w->active = w->spare;
    w->spare = (wal_buf){0};
    uint64_t target = w->next_lsn - 1; /* every record appended so far is in batch or written */
    uint64_t new_first = w->next_lsn;
    /* Callers refuse to rotate out of the last segment id (segment_ids_exhausted). */
    assert(kind != IO_ROTATE || w->seg_id < DUR_WAL_MAX_SEGMENT_ID);
    uint64_t new_id = w->seg_id + 1;
    if (kind == IO_ROTATE)
        w->seg_end = w->known_room_end = WAL_HEADER_SIZE; /* later appends: the new segment */
    uint64_t before_durable = w->durable_lsn;
    pthread_mutex_unlock(&w->mu);

    dur_error e;
    dur_error_clear(&e);
    dur_code rc = DUR_OK;
    dur_file *new_seg = NULL;
    bool synced = false;
    if (batch.len) {
        rc = w->seg->ops->pwrite(w->seg, batch.data, batch.len, w->seg_write_off, &e);
        if (rc == DUR_OK)
            w->seg_write_off += batch.len;
        if (w->seg_file_end < w->seg_write_off)
            w->seg_file_end = w->seg_write_off;
    }
    if (rc == DUR_OK && kind != IO_ROTATE)
        rc = zero_fill_ahead(w, &e);
    if (rc == DUR_OK && kind != IO_WRITE && target > before_durable) {
        if (w->o.leader_hook)
            rc = w->o.leader_hook(w->o.leader_hook_ctx, &e);
        if (rc == DUR_OK && !(dur_test_get_skip() & DUR_SKIP_WAL_SYNC)) {
            rc = w->seg->ops->sync_data(w->seg, &e);
            synced = rc == DUR_OK;
        }
    }
    if (rc == DUR_OK && kind == IO_ROTATE)
        rc = trim_zero_fill(w, &e);
    bool put_off = false;
    if (rc == DUR_OK && kind == IO_ROTATE) {
        rc = wal_segment_create(w->d, w->dir, new_id, new_first, w->o.prealloc_bytes, &new_seg,
                                &put_off, &e);
    }
    uint64_t old_size = w->seg_write_off;
    if (rc == DUR_OK && kind == IO_ROTATE) {
        dur_file_close(w->seg);
        w->seg = new_seg;
        w->seg_id = new_id;
        w->seg_write_off = w->seg_file_end = WAL_HEADER_SIZE;
        w->seg_reserved_end = 0;
        w->seg_fill_failed = false;
        /* the new segment's fill now, not in the path of its first record's
         * dur_wal_room (which waits for this step) */
        rc = zero_fill_ahead(w, &e);
    }

    pthread_mutex_lock(&w->mu);
    size_t batch_bytes = batch.len;
    batch.len = 0;
    w->spare = batch;
    w->io_busy = false;
    if (rc != DUR_OK && !put_off) {
        poison(w, &e);
        pthread_cond_broadcast(&w->cv);
        if (err)
            *err = e;
        return rc;
    }
    w->written_lsn = target;
    w->st.bytes_written += batch_bytes;
    if (kind != IO_WRITE && target > w->durable_lsn) {
        if (synced) {
            w->st.syncs++;
            w->st.synced_records += target - w->durable_lsn;
        }
        w->durable_lsn = target;
    }
    w->segs[w->nsegs - 1].size = old_size;
    w->known_room_end = room_end(w);
    if (put_off) {
        /* Appends made meanwhile counted from an empty new segment: the old one it is. */
        w->seg_end = w->seg_write_off + w->active.len;
        put_off_rotation(w);
    } else if (kind == IO_ROTATE) {
        w->rotate_not_before_ms = 0;
        w->st.segments_created++;
        w->st.bytes_written += WAL_HEADER_SIZE;
        dur_code pushed = seg_push(w, new_id, new_first, WAL_HEADER_SIZE);
        assert(pushed == DUR_OK); /* seg_room before the step */
        (void)pushed;
    }
    refresh_disk_stats(w);
    w->appends_since_flush = 0;
    w->last_flush_ms = now_ms();
    /* durable <= written <= appended; nothing acknowledged that is not written. */
    assert(w->durable_lsn <= w->written_lsn && w->written_lsn < w->next_lsn);
    assert(kind != IO_ROTATE || put_off || w->seg_write_off == WAL_HEADER_SIZE);
    pthread_cond_broadcast(&w->cv);
    if (put_off && err)
        *err = e;
    return put_off ? rc : DUR_OK;
}

/* mu held.  The ends of the LSN and segment id ranges (DUR_WAL_MAX_LSN,
 * DUR_WAL_MAX_SEGMENT_ID): reachable only from a journal that starts near them, which
 * the reader accepts, so they are refused here rather than left to the encoders'
 * asserts.  Nothing is written, so the writer is not poisoned. */
static dur_code lsn_exhausted(dur_wal *w, dur_error *err)
{
    return dur_error_set(err, DUR_E_INVAL, 0, w->dir,
                         "WAL LSNs exhausted: the last record has LSN %" PRIu64
                         ", the largest a record may carry",
                         w->next_lsn - 1);
}

/* mu held, I/O role free (seg_id is stable). */
static dur_code segment_ids_exhausted(dur_wal *w, dur_error *err)
{
    return dur_error_set(err, DUR_E_INVAL, 0, w->dir,
                         "WAL segment ids exhausted: segment %" PRIu64
                         " is the largest segment id, so it cannot rotate",
                         w->seg_id);
}

static bool flush_due(dur_wal *w)
{
    switch (w->o.flush_policy) {
    case DUR_FLUSH_PER_APPEND:
        return true;
    case DUR_FLUSH_EVERY_N:
        return w->appends_since_flush >= w->o.every_n;
    case DUR_FLUSH_INTERVAL:
        return now_ms() - w->last_flush_ms >= w->o.interval_ms;
    case DUR_FLUSH_MANUAL:
        break;
    }
    return false;
}

/* Write everything appended up to `target` to the OS (mu held). */
static dur_code write_up_to(dur_wal *w, uint64_t target, dur_error *err)
{
    for (;;) {
        if (w->poisoned)
            return poisoned_error(w, err);
        if (w->written_lsn >= target)
            return DUR_OK;
        if (w->io_busy) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        dur_code rc = do_io(w, IO_WRITE, err);
        if (rc != DUR_OK)
            return rc;
    }
}

dur_code dur_wal_append(dur_wal *w, uint8_t type, const void *payload, size_t len, uint64_t *lsn,
                        dur_error *err)
{
    if (!w)
        return dur_error_set(err, DUR_E_INVAL, 0, NULL, "dur_wal_append: NULL writer");
    if (type == 0)
        return dur_error_set(err, DUR_E_INVAL, 0, w->dir, "WAL record type 0 is invalid (1..255)");
    if (len > DUR_WAL_MAX_PAYLOAD)
        return dur_error_set(err, DUR_E_INVAL, 0, w->dir,
                             "WAL record payload of %zu bytes exceeds the cap of %u", len,
                             DUR_WAL_MAX_PAYLOAD);
    if (len && !payload)
        return dur_error_set(err, DUR_E_INVAL, 0, w->dir, "WAL record payload is NULL");
    size_t frame = WAL_FRAME_OVERHEAD + len;
    dur_code rc = DUR_OK;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (w->poisoned) {
            rc = poisoned_error(w, err);
            goto out;
        }
        if (w->next_lsn > DUR_WAL_MAX_LSN) {
            rc = lsn_exhausted(w, err);
            goto out;
        }
        bool rotate = rotation_due(w, frame);
        bool full = w->active.len > 0 && w->active.len + frame > w->o.buffer_size;
        if (!rotate && !full)
            break;
        if (w->io_busy) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        if (rotate && w->seg_id >= DUR_WAL_MAX_SEGMENT_ID) {
            rc = segment_ids_exhausted(w, err);
            goto out;
        }
        if ((rc = do_io(w, rotate ? IO_ROTATE : IO_WRITE, err)) != DUR_OK && w->poisoned)
            goto out;
        rc = DUR_OK; /* or the rotation was put off: this record joins the current segment */
    }
    if (w->active.cap - w->active.len < frame) {
        /* Only when the buffer is empty: a frame bigger than buffer_size. */
        uint8_t *n = realloc(w->active.data, w->active.len + frame);
        if (!n) {
            rc = dur_error_set(err, DUR_E_NOMEM, 0, w->dir,
                               "out of memory buffering a %zu-byte "
                               "WAL record",
                               frame);
            goto out;
        }
        w->active.data = n;
        w->active.cap = w->active.len + frame;
    }
    uint64_t my = w->next_lsn++;
    wal_frame_encode(w->active.data + w->active.len, type, my, w->durable_lsn, payload,
                     (uint32_t)len);
    w->active.len += frame;
    w->seg_end += frame;
    /* the buffer never holds more than the newest segment can receive */
    assert(w->active.len <= w->active.cap && w->active.len + WAL_HEADER_SIZE <= w->seg_end);
    w->st.appends++;
    w->appends_since_flush++;
    if (lsn)
        *lsn = my;
    if (flush_due(w))
        rc = write_up_to(w, my, err);
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

dur_code dur_wal_flush(dur_wal *w, dur_error *err)
{
    pthread_mutex_lock(&w->mu);
    dur_code rc = write_up_to(w, w->next_lsn - 1, err);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

dur_code dur_wal_sync(dur_wal *w, uint64_t lsn, dur_error *err)
{
    pthread_mutex_lock(&w->mu);
    dur_code rc = DUR_OK;
    uint64_t last = w->next_lsn - 1;
    if (lsn == 0)
        lsn = last;
    if (lsn > last) {
        rc = dur_error_set(err, DUR_E_INVAL, 0, w->dir,
                           "cannot sync LSN %" PRIu64 ": last appended is %" PRIu64, lsn, last);
        goto out;
    }
    for (;;) {
        if (w->poisoned) {
            rc = poisoned_error(w, err);
            break;
        }
        if (w->durable_lsn >= lsn)
            break;
        if (w->io_busy) { /* a leader is at work: its sync may cover us */
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        if ((rc = do_io(w, IO_SYNC, err)) != DUR_OK)
            break;
    }
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

dur_code dur_wal_append_durable(dur_wal *w, uint8_t type, const void *payload, size_t len,
                                uint64_t *lsn, dur_error *err)
{
    uint64_t my = 0;
    dur_code rc = dur_wal_append(w, type, payload, len, &my, err);
    if (rc != DUR_OK)
        return rc;
    if (lsn)
        *lsn = my;
    return dur_wal_sync(w, my, err);
}

/* mu held.  What the current segment can still take without allocating: the
 * fill or reservation ahead of its records (a lower bound); unbounded where the
 * writer keeps neither. */
static uint64_t fill_room(const dur_wal *w)
{
    if (w->o.zero_fill_bytes == 0 &&
        (w->o.reserve_bytes == 0 || atomic_load(&w->reserve_unsupported)))
        return UINT64_MAX;
    return w->known_room_end > w->seg_end ? w->known_room_end - w->seg_end : 0;
}

/* The fill stops at the segment's end: past it the next record starts a segment,
 * a new file, which needs free space rather than fill.  Whether the filesystem
 * has room for it (its header, its fill, and a margin: another program may take
 * space before the rotation) is all that can be said in advance. */
static bool next_segment_fits(const dur_wal *w)
{
    int fd = w->d->ops->root_fd ? w->d->ops->root_fd(w->d) : -1;
    struct statvfs sv;
    if (fd < 0 || fstatvfs(fd, &sv) != 0)
        return true; /* not a filesystem we can ask (the in-memory backend) */
    uint64_t free_blocks = geteuid() == 0 ? sv.f_bfree : sv.f_bavail;
    uint64_t ahead = w->o.zero_fill_bytes ? w->o.zero_fill_bytes : w->o.reserve_bytes;
    uint64_t need = WAL_HEADER_SIZE + w->o.prealloc_bytes + 2 * ahead;
    return free_blocks * sv.f_frsize >= need;
}

dur_code dur_wal_room(dur_wal *w, uint64_t want, uint64_t *room, dur_error *err)
{
    pthread_mutex_lock(&w->mu);
    dur_code rc = DUR_OK;
    bool filled = false;
    for (;;) {
        if (w->poisoned) {
            rc = poisoned_error(w, err);
            break;
        }
        *room = fill_room(w);
        if (*room >= want)
            break;
        if (w->known_room_end >= w->o.segment_size) {
            if (next_segment_fits(w))
                *room = UINT64_MAX;
            break;
        }
        if (filled)
            break;
        if (w->io_busy) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        /* Write what is buffered and extend the fill, also where it failed
         * before in this segment: space may have been freed since. */
        w->seg_fill_failed = false;
        if ((rc = do_io(w, IO_WRITE, err)) != DUR_OK)
            break;
        filled = true;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

dur_code dur_wal_release_fill(dur_wal *w, dur_error *err)
{
    pthread_mutex_lock(&w->mu);
    while (w->io_busy && !w->poisoned)
        pthread_cond_wait(&w->cv, &w->mu);
    if (w->poisoned) {
        dur_code rc = poisoned_error(w, err);
        pthread_mutex_unlock(&w->mu);
        return rc;
    }
    w->io_busy = true;
    pthread_mutex_unlock(&w->mu);

    dur_error e;
    dur_error_clear(&e);
    w->seg_fill_failed = true; /* no more fill in this segment */
    dur_code rc = trim_zero_fill(w, &e);

    pthread_mutex_lock(&w->mu);
    w->io_busy = false;
    if (rc != DUR_OK) {
        poison(w, &e); /* its fsync failed: the records' durability is in doubt */
        if (err)
            *err = e;
    } else {
        w->known_room_end = room_end(w);
        refresh_disk_stats(w);
    }
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

uint64_t dur_wal_last_lsn(dur_wal *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t v = w->next_lsn - 1;
    pthread_mutex_unlock(&w->mu);
    return v;
}

uint64_t dur_wal_durable_lsn(dur_wal *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t v = w->durable_lsn;
    pthread_mutex_unlock(&w->mu);
    return v;
}

bool dur_wal_poisoned(dur_wal *w)
{
    pthread_mutex_lock(&w->mu);
    bool v = w->poisoned;
    pthread_mutex_unlock(&w->mu);
    return v;
}

void dur_wal_poison(dur_wal *w, const dur_error *cause)
{
    pthread_mutex_lock(&w->mu);
    poison(w, cause);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void dur_wal_get_stats(dur_wal *w, dur_wal_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->st;
    pthread_mutex_unlock(&w->mu);
}

dur_code dur_wal_rotate(dur_wal *w, dur_error *err)
{
    pthread_mutex_lock(&w->mu);
    dur_code rc = DUR_OK;
    for (;;) {
        if (w->poisoned) {
            rc = poisoned_error(w, err);
            break;
        }
        if (w->seg_end == WAL_HEADER_SIZE) /* no record in the newest segment */
            break;
        if (w->io_busy) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        if (w->seg_id >= DUR_WAL_MAX_SEGMENT_ID) {
            rc = segment_ids_exhausted(w, err);
            break;
        }
        rc = do_io(w, IO_ROTATE, err);
        break;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Oldest first, one directory fsync per removal: whatever a crash keeps, the
 * surviving segments are a contiguous suffix (a hole would make the WAL unreadable). */
dur_code dur_wal_truncate_below(dur_wal *w, uint64_t lsn, dur_error *err)
{
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (w->poisoned) {
            dur_code rc = poisoned_error(w, err);
            pthread_mutex_unlock(&w->mu);
            return rc;
        }
        if (!w->io_busy)
            break;
        pthread_cond_wait(&w->cv, &w->mu);
    }
    size_t k = 0;
    while (k + 1 < w->nsegs && w->segs[k + 1].first_lsn <= lsn)
        k++;
    if (k == 0) {
        pthread_mutex_unlock(&w->mu);
        return DUR_OK;
    }
    w->io_busy = true; /* keeps rotation (which appends to segs) out */
    pthread_mutex_unlock(&w->mu);

    dur_code rc = DUR_OK;
    size_t done = 0;
    for (; done < k; done++) {
        char path[WAL_PATH_BUF];
        wal_segment_path(path, w->dir, w->segs[done].id);
        if ((rc = dur_dir_remove(w->d, path, err)) != DUR_OK)
            break;
        if ((rc = dur_dir_sync_dir(w->d, w->dir, err)) != DUR_OK) {
            done++; /* removed, only its durability is in doubt */
            break;
        }
    }

    pthread_mutex_lock(&w->mu);
    memmove(w->segs, w->segs + done, (w->nsegs - done) * sizeof *w->segs);
    w->nsegs -= done;
    w->st.segments_deleted += done;
    refresh_disk_stats(w);
    w->io_busy = false;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

static void wal_free(dur_wal *w)
{
    dur_file_close(w->seg);
    if (w->lock)
        dur_lock_release(w->lock);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->active.data);
    free(w->spare.data);
    free(w->segs);
    free(w);
}

dur_code dur_wal_close(dur_wal *w, dur_error *err)
{
    if (!w)
        return DUR_OK;
    dur_code rc = dur_wal_sync(w, 0, err);
    wal_free(w);
    return rc;
}

static dur_code check_options(const dur_wal_options *o, const char *path, dur_error *err)
{
    if (o->segment_size < WAL_HEADER_SIZE + WAL_FRAME_OVERHEAD)
        return dur_error_set(err, DUR_E_INVAL, 0, path,
                             "WAL segment_size %" PRIu64 " is below the minimum of %u bytes",
                             o->segment_size, WAL_HEADER_SIZE + WAL_FRAME_OVERHEAD);
    if (o->zero_fill_bytes > (uint64_t)1 << 30)
        return dur_error_set(err, DUR_E_INVAL, 0, path,
                             "WAL zero_fill_bytes %" PRIu64 " is over the maximum of 1 GiB",
                             o->zero_fill_bytes);
    if (o->reserve_bytes > (uint64_t)1 << 30)
        return dur_error_set(err, DUR_E_INVAL, 0, path,
                             "WAL reserve_bytes %" PRIu64 " is over the maximum of 1 GiB",
                             o->reserve_bytes);
    if (o->buffer_size == 0 || o->buffer_size > (size_t)1 << 30)
        return dur_error_set(err, DUR_E_INVAL, 0, path,
                             "WAL buffer_size %zu must be between 1 byte and 1 GiB",
                             o->buffer_size);
    switch (o->flush_policy) {
    case DUR_FLUSH_PER_APPEND:
    case DUR_FLUSH_MANUAL:
        break;
    case DUR_FLUSH_EVERY_N:
        if (o->every_n == 0)
            return dur_error_set(err, DUR_E_INVAL, 0, path,
                                 "WAL flush policy EVERY_N needs every_n >= 1");
        break;
    case DUR_FLUSH_INTERVAL:
        if (o->interval_ms == 0)
            return dur_error_set(err, DUR_E_INVAL, 0, path,
                                 "WAL flush policy INTERVAL needs interval_ms >= 1");
        break;
    default:
        return dur_error_set(err, DUR_E_INVAL, 0, path, "unknown WAL flush policy %d",
                             (int)o->flush_policy);
    }
    return DUR_OK;
}

static void parent_of(char out[WAL_PATH_BUF], const char *path)
{
    snprintf(out, WAL_PATH_BUF, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
    else
        out[0] = '\0';
}

/* mkdir -p the WAL directory; when anything was created, fsync the parent of every
 * created directory (deepest first) so the WAL directory survives a crash. */
static dur_code make_wal_dir(dur_dir *d, const char *path, dur_error *err)
{
    if (!path[0])
        return DUR_OK;
    bool exists = false;
    dur_code rc = dur_dir_exists(d, path, &exists, err);
    if (rc != DUR_OK || exists)
        return rc;
    /* The shallowest missing ancestor: everything from it down is created by us. */
    char first_missing[WAL_PATH_BUF];
    snprintf(first_missing, sizeof first_missing, "%s", path);
    for (const char *p = path; (p = strchr(p, '/')) != NULL; p++) {
        char prefix[WAL_PATH_BUF];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(p - path), path);
        if ((rc = dur_dir_exists(d, prefix, &exists, err)) != DUR_OK)
            return rc;
        if (!exists) {
            snprintf(first_missing, sizeof first_missing, "%s", prefix);
            break;
        }
    }
    if ((rc = dur_dir_mkdir_p(d, path, err)) != DUR_OK)
        return rc;
    char cur[WAL_PATH_BUF];
    snprintf(cur, sizeof cur, "%s", path);
    for (;;) {
        char parent[WAL_PATH_BUF];
        parent_of(parent, cur);
        if ((rc = dur_dir_sync_dir(d, parent, err)) != DUR_OK)
            return rc;
        if (strcmp(cur, first_missing) == 0)
            return DUR_OK;
        snprintf(cur, sizeof cur, "%s", parent);
    }
}

static dur_code read_segment_info(dur_wal *w, uint64_t id, wal_seg_info *out, dur_error *err)
{
    char path[WAL_PATH_BUF];
    wal_segment_path(path, w->dir, id);
    dur_file *f = NULL;
    dur_code rc = dur_dir_open(w->d, path, DUR_O_READ, &f, err);
    if (rc != DUR_OK)
        return rc;
    uint8_t hdr[WAL_HEADER_SIZE];
    size_t got = 0;
    rc = f->ops->pread(f, hdr, sizeof hdr, 0, &got, err);
    if (rc == DUR_OK)
        rc = f->ops->size(f, &out->size, err);
    dur_file_close(f);
    if (rc != DUR_OK)
        return rc;
    wal_header h;
    char why[DUR_ERROR_MSG_MAX];
    if (got != sizeof hdr || !wal_header_decode(hdr, &h, why, sizeof why))
        return dur_error_set_at(err, DUR_E_CORRUPT, 0, path, 0,
                                "segment header changed while the WAL was being opened");
    out->id = id;
    out->first_lsn = h.first_lsn;
    return DUR_OK;
}

/* Validate the existing log (best effort for the last segment), cut a torn tail,
 * repair a torn last header, and make what is there durable before continuing. */
static dur_code resume(dur_wal *w, const uint64_t *ids, size_t nids, dur_wal_open_report *rep,
                       dur_error *err)
{
    dur_wal_reader *r = NULL;
    dur_code rc = dur_wal_reader_open(w->d, w->dir, DUR_READ_BEST_EFFORT, 0, &r, err);
    if (rc != DUR_OK)
        return rc;
    for (;;) {
        dur_wal_record rec;
        bool eof = false;
        if ((rc = dur_wal_reader_next(r, &rec, &eof, err)) != DUR_OK) {
            dur_wal_reader_close(r);
            return rc;
        }
        if (eof)
            break;
    }
    dur_wal_tail tail;
    dur_wal_reader_tail(r, &tail);
    uint64_t last_id, first_lsn;
    bool header_ok;
    wal_reader_last_segment(r, &last_id, &first_lsn, &header_ok);
    uint64_t next = wal_reader_next_lsn(r);
    dur_wal_reader_close(r);
    if (last_id != ids[nids - 1])
        return dur_error_set(err, DUR_E_CORRUPT, 0, w->dir,
                             "WAL segments changed while the WAL was being opened");

    for (size_t i = 0; i + 1 < nids; i++) {
        wal_seg_info si;
        if ((rc = read_segment_info(w, ids[i], &si, err)) != DUR_OK)
            return rc;
        if (seg_push(w, si.id, si.first_lsn, si.size) != DUR_OK)
            return dur_error_set(err, DUR_E_NOMEM, 0, w->dir, "out of memory opening the WAL");
    }
    char path[WAL_PATH_BUF];
    wal_segment_path(path, w->dir, last_id);
    if (!header_ok) {
        /* Rule T1: crash while the segment was being created; it never held a record. */
        if (first_lsn == 0) {
            if (last_id != 1)
                return dur_error_set_at(err, DUR_E_CORRUPT, 0, path, 0,
                                        "torn header in the only segment, which is not segment 1: "
                                        "its first LSN cannot be known");
            first_lsn = 1;
        }
        if ((rc = wal_segment_rewrite(w->d, w->dir, last_id, first_lsn, &w->seg, err)) != DUR_OK)
            return rc;
        rep->bytes_cut = tail.file_length;
        next = first_lsn;
        w->seg_write_off = w->seg_file_end = WAL_HEADER_SIZE;
    } else {
        if ((rc = dur_dir_open(w->d, path, DUR_O_WRITE, &w->seg, err)) != DUR_OK)
            return rc;
        /* A torn tail is cut; so is zero fill when this writer keeps none, so its
         * file stays append-only and every fdatasync grows it (durfs's ORDERED mode
         * relies on that). */
        if (tail.torn || (tail.zero_fill && w->o.zero_fill_bytes == 0)) {
            rc = w->seg->ops->truncate(w->seg, tail.valid_length, err);
            if (rc == DUR_OK)
                rc = w->seg->ops->sync_all(w->seg, err);
            if (rc != DUR_OK)
                return rc;
            if (tail.torn)
                rep->bytes_cut = tail.file_length - tail.valid_length;
            w->seg_write_off = w->seg_file_end = tail.valid_length;
        } else if (tail.zero_fill) {
            w->seg_write_off = tail.valid_length;
            w->seg_file_end = tail.file_length;
        } else if ((rc = w->seg->ops->size(w->seg, &w->seg_write_off, err)) != DUR_OK) {
            return rc;
        } else {
            w->seg_file_end = w->seg_write_off;
        }
    }
    /* A crashed predecessor may have left written-but-unsynced records and an unsynced
     * segment name; harden both before anything found here counts as durable. */
    if ((rc = w->seg->ops->sync_data(w->seg, err)) != DUR_OK)
        return rc;
    if ((rc = dur_dir_sync_dir(w->d, w->dir, err)) != DUR_OK)
        return rc;
    /* The reader refuses a record LSN above DUR_WAL_MAX_LSN, so next never wraps. */
    assert(next >= 1);
    if (seg_push(w, last_id, first_lsn, w->seg_write_off) != DUR_OK)
        return dur_error_set(err, DUR_E_NOMEM, 0, w->dir, "out of memory opening the WAL");
    w->seg_id = last_id;
    w->next_lsn = next;
    return DUR_OK;
}

dur_code dur_wal_open(dur_dir *d, const char *path, const dur_wal_options *opts, dur_wal **out,
                      dur_wal_open_report *report, dur_error *err)
{
    if (!d || !path || !out)
        return dur_error_set(err, DUR_E_INVAL, 0, path, "dur_wal_open: NULL argument");
    *out = NULL;
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    if (strlen(path) > WAL_DIR_MAX)
        return dur_error_set(err, DUR_E_INVAL, 0, NULL, "WAL directory path longer than %u bytes",
                             WAL_DIR_MAX);
    dur_wal_options o;
    if (opts)
        o = *opts;
    else
        dur_wal_options_default(&o);
    if ((rc = check_options(&o, path, err)) != DUR_OK)
        return rc;

    dur_wal *w = calloc(1, sizeof *w);
    if (!w)
        return dur_error_set(err, DUR_E_NOMEM, 0, path, "out of memory opening the WAL");
    w->d = d;
    snprintf(w->dir, sizeof w->dir, "%s", path);
    w->o = o;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->active = (wal_buf){.data = malloc(o.buffer_size), .cap = o.buffer_size};
    w->spare = (wal_buf){.data = malloc(o.buffer_size), .cap = o.buffer_size};
    dur_wal_open_report rep = {0};
    uint64_t *ids = NULL;
    size_t nids = 0;
    if (!w->active.data || !w->spare.data) {
        rc = dur_error_set(err, DUR_E_NOMEM, 0, path, "out of memory for WAL buffers");
        goto fail;
    }
    if ((rc = make_wal_dir(d, path, err)) != DUR_OK)
        goto fail;
    char lock_path[WAL_PATH_BUF];
    wal_join(lock_path, path, "LOCK");
    if ((rc = dur_dir_lock(d, lock_path, &w->lock, err)) != DUR_OK)
        goto fail;
    if ((rc = wal_list_segments(d, path, &ids, &nids, err)) != DUR_OK)
        goto fail;
    if (nids == 0) {
        bool can_do_without; /* not here: a WAL needs its first segment */
        rc = wal_segment_create(d, path, 1, 1, o.prealloc_bytes, &w->seg, &can_do_without, err);
        if (rc != DUR_OK)
            goto fail;
        w->seg_id = 1;
        w->next_lsn = 1;
        w->seg_write_off = w->seg_file_end = WAL_HEADER_SIZE;
        w->st.segments_created = 1;
        w->st.bytes_written = WAL_HEADER_SIZE;
        if (seg_push(w, 1, 1, WAL_HEADER_SIZE) != DUR_OK) {
            rc = dur_error_set(err, DUR_E_NOMEM, 0, path, "out of memory opening the WAL");
            goto fail;
        }
    } else if ((rc = resume(w, ids, nids, &rep, err)) != DUR_OK) {
        goto fail;
    }
    free(ids);
    w->durable_lsn = w->written_lsn = w->next_lsn - 1;
    w->seg_end = w->seg_write_off;
    w->known_room_end = room_end(w);
    w->last_flush_ms = now_ms();
    refresh_disk_stats(w);
    rep.segments = (unsigned)w->nsegs;
    rep.last_lsn = w->next_lsn - 1;
    if (report)
        *report = rep;
    *out = w;
    return DUR_OK;
fail:
    free(ids);
    wal_free(w);
    return rc;
}
