/* libdurability: segmented, checksummed write-ahead log with group commit.
 *
 * On-disk format: docs/format-wal.md (segment header, record frame, XXH3-64 over the
 * whole frame).  LSNs start at 1 and increase by exactly 1 across segments, up to
 * DUR_WAL_MAX_LSN.
 *
 * Durability levels of a record:
 *   dur_wal_append()          in the writer's buffer (or written, per flush policy)
 *   dur_wal_flush()           written to the OS: survives a process crash
 *   dur_wal_sync(lsn)         on stable storage: survives a power cut
 *   dur_wal_append_durable()  append + sync of that record, with group commit
 *
 * Group commit: many threads may call dur_wal_append_durable()/dur_wal_sync() at
 * once; one leader writes the buffer and calls fdatasync for every record appended
 * so far, the others wait; each returns only when its own record is durable.
 *
 * Poisoning: any failed write, sync or segment creation poisons the writer; every
 * later call fails with DUR_E_CLOSED naming the first error.  A record is never
 * reported durable when it might not be.
 *
 * Thread safety: a dur_wal is safe to use from any number of threads.  A
 * dur_wal_reader is for one thread.  Only one writer may have a WAL directory open
 * (an flock on <wal dir>/LOCK, DUR_E_LOCKED "locked by pid N" otherwise).
 */
#ifndef DURABILITY_WAL_H
#define DURABILITY_WAL_H

#include "durability/dir.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dur_wal dur_wal;
typedef struct dur_wal_reader dur_wal_reader;

#define DUR_WAL_MAX_PAYLOAD (16u * 1024u * 1024u)
/* The largest LSN a record (or a checkpoint) may carry: 2^64-2, so that the LSN after
 * any record exists.  A record or checkpoint above it is DUR_E_CORRUPT; a writer whose
 * last record has it refuses further appends (DUR_E_INVAL). */
#define DUR_WAL_MAX_LSN (UINT64_MAX - 1)
/* The largest segment id: 2^64-2, so that the next segment's id exists.  A segment
 * named above it is DUR_E_CORRUPT; a writer in segment DUR_WAL_MAX_SEGMENT_ID refuses
 * to rotate (DUR_E_INVAL). */
#define DUR_WAL_MAX_SEGMENT_ID (UINT64_MAX - 1)
/* Record types: 1..239 are the caller's, 240..255 are reserved for the library. */
#define DUR_WAL_TYPE_USER_MAX 239
#define DUR_WAL_TYPE_CHECKPOINT 240 /* payload: u64 LE checkpoint LSN */

typedef enum dur_flush_policy {
    DUR_FLUSH_PER_APPEND, /* write(2) every append */
    DUR_FLUSH_EVERY_N,    /* write(2) every `every_n` appends */
    DUR_FLUSH_INTERVAL,   /* write(2) when interval_ms has passed since the last flush */
    DUR_FLUSH_MANUAL,     /* only on dur_wal_flush / sync / buffer full */
} dur_flush_policy;

typedef struct dur_wal_options {
    uint64_t segment_size;   /* rotate when a segment would exceed this (default 64 MiB) */
    uint64_t prealloc_bytes; /* fallocate this much of a new segment (0 = none; default 0) */
    /* Keep up to this many bytes past the last record written as zeros (and synced
     * with the next record), refilled when less than half is left (0 = off, the
     * default).  An fdatasync of records that land in such a region changes no file
     * metadata, so on ext4/XFS it costs one data write and one device flush instead
     * of a filesystem journal commit.  A rotated segment is trimmed to its records
     * (ftruncate + fsync) before the next one is created. */
    uint64_t zero_fill_bytes;
    /* Without zero fill: keep up to this many bytes past the last record reserved
     * (fallocate FALLOC_FL_KEEP_SIZE: the file still grows only by appends),
     * re-reserved when less than half is left (0 = off, the default).  Records
     * written there need no new block, so dur_wal_room can report the room as with
     * zero fill, where the filesystem can reserve (ext4, XFS, tmpfs; btrfs mostly). */
    uint64_t reserve_bytes;
    size_t buffer_size;            /* user-space buffer (default 256 KiB) */
    dur_flush_policy flush_policy; /* default DUR_FLUSH_MANUAL */
    unsigned every_n;
    unsigned interval_ms;
    /* Called by the group-commit leader after it has written a batch and before it
     * fdatasyncs the segment, so whatever it does covers every record of the batch
     * (durfs uses it to syncfs a backing filesystem whose metadata an fdatasync of the
     * WAL does not harden).  A failure poisons the writer like a failed sync.  NULL = none. */
    dur_code (*leader_hook)(void *ctx, dur_error *err);
    void *leader_hook_ctx;
} dur_wal_options;

void dur_wal_options_default(dur_wal_options *opts);

typedef struct dur_wal_open_report {
    unsigned segments;  /* segments found */
    uint64_t last_lsn;  /* last valid LSN (0 if empty) */
    uint64_t bytes_cut; /* torn tail removed from the last segment */
} dur_wal_open_report;

/* Open the WAL in directory `path` of d (created if missing): create or resume.
 * Resume validates every segment, cuts a torn tail of the last one back to the last
 * whole record (ftruncate + fsync), and refuses corruption anywhere else with
 * DUR_E_CORRUPT naming segment and offset.  report may be NULL. */
dur_code dur_wal_open(dur_dir *d, const char *path, const dur_wal_options *opts, dur_wal **out,
                      dur_wal_open_report *report, dur_error *err);

/* Append one record; *lsn (may be NULL) receives its LSN.  DUR_E_INVAL when the
 * record would need an LSN above DUR_WAL_MAX_LSN, or a new segment above
 * DUR_WAL_MAX_SEGMENT_ID (only a journal that starts near either can get there); the
 * writer stays usable. */
dur_code dur_wal_append(dur_wal *w, uint8_t type, const void *payload, size_t len, uint64_t *lsn,
                        dur_error *err);
/* Write buffered records to the OS. */
dur_code dur_wal_flush(dur_wal *w, dur_error *err);
/* Return once every record with LSN <= lsn is durable (group commit). lsn 0 = all so far. */
dur_code dur_wal_sync(dur_wal *w, uint64_t lsn, dur_error *err);
/* dur_wal_append + dur_wal_sync(that lsn). */
dur_code dur_wal_append_durable(dur_wal *w, uint8_t type, const void *payload, size_t len,
                                uint64_t *lsn, dur_error *err);

/* *room = bytes of records the current segment can still take without the
 * filesystem allocating a block: the zero fill (zero_fill_bytes) written ahead of
 * them.  Below `want`, first writes what is buffered and tries to extend the fill
 * (failing to, on a full disk, is no error: *room says how much there is).
 * UINT64_MAX where the writer keeps no fill.  Where the fill reaches the
 * segment's end the next record starts a segment, a new file: then UINT64_MAX when
 * the filesystem has free space for it (and a margin), else what is left in this
 * segment (another program can still take the space first).  A caller that
 * refuses a change when the room is short keeps a full disk from failing, and so
 * poisoning, a later append. */
dur_code dur_wal_room(dur_wal *w, uint64_t want, uint64_t *room, dur_error *err);

/* Give back the active segment's zero fill (cut the file at its last record, fsync)
 * and keep none in it from now on: before a last checkpoint on a full filesystem,
 * whose file and the next segment's header need that space.  A failed fsync
 * poisons the writer. */
dur_code dur_wal_release_fill(dur_wal *w, dur_error *err);

uint64_t dur_wal_last_lsn(dur_wal *w);    /* last appended */
uint64_t dur_wal_durable_lsn(dur_wal *w); /* last known durable */
bool dur_wal_poisoned(dur_wal *w);
/* Poison the writer from outside (a failure the WAL's records depend on, e.g. the
 * data they describe could not be written back): every later append/sync fails
 * with cause's text.  The first poison wins. */
void dur_wal_poison(dur_wal *w, const dur_error *cause);

/* Start the next segment now: the current one is written, the leader hook runs, it is
 * fdatasynced, then the new segment is created durably.  Nothing happens when the
 * current segment holds no record.  A checkpoint calls it before appending its marker
 * so that dur_wal_truncate_below() can delete every segment the checkpoint covers.
 * DUR_E_INVAL when the current segment's id is DUR_WAL_MAX_SEGMENT_ID.  When the new
 * segment cannot be created for want of a resource (EMFILE, ENFILE, ENOMEM, ENOSPC,
 * EDQUOT) and nothing of it is left behind, that error is returned and the writer
 * stays usable: records go on into the current segment, past segment_size, and an
 * append retries the rotation a second later (rotations_put_off counts these).  Any
 * other failure poisons the writer. */
dur_code dur_wal_rotate(dur_wal *w, dur_error *err);

/* Delete every segment whose records all have LSN < lsn (never the active one),
 * oldest first, then sync the directory.  Keeps the remaining suffix contiguous. */
dur_code dur_wal_truncate_below(dur_wal *w, uint64_t lsn, dur_error *err);

typedef struct dur_wal_stats {
    uint64_t appends;        /* records appended */
    uint64_t syncs;          /* fdatasync calls on segments */
    uint64_t synced_records; /* records made durable by those syncs */
    uint64_t bytes_written;
    uint64_t segments_created;
    uint64_t segments_deleted;
    uint64_t bytes_on_disk; /* sum of live segment sizes */
    unsigned live_segments;
    /* rotations put off because the next segment could not be created for want of
     * a resource (fds, memory, space); the current segment grew past segment_size */
    uint64_t rotations_put_off;
} dur_wal_stats;
void dur_wal_get_stats(dur_wal *w, dur_wal_stats *out);

/* Flush, sync and close; releases the lock.  Returns the first error (or the poison). */
dur_code dur_wal_close(dur_wal *w, dur_error *err);

/* ---- reader ---- */
typedef enum dur_read_mode {
    DUR_READ_STRICT,      /* any damage or truncation is an error */
    DUR_READ_BEST_EFFORT, /* a torn tail in the last segment ends the stream cleanly */
} dur_read_mode;

typedef struct dur_wal_record {
    uint64_t lsn;
    uint8_t type;
    const void *payload; /* valid until the next call on the reader */
    size_t len;
} dur_wal_record;

typedef struct dur_wal_tail {
    bool torn;             /* a torn tail was found (best-effort only) */
    char segment[256];     /* which segment file (set when torn or zero_fill) */
    uint64_t valid_length; /* bytes of whole records in it */
    uint64_t file_length;
    uint64_t zero_fill; /* the last segment ends in this many zero bytes after its last
                         * record: a clean end (zero_fill_bytes), not a torn tail */
} dur_wal_tail;

/* Stream records with LSN >= from_lsn (0 or 1 = all).  Never loads the log in memory. */
dur_code dur_wal_reader_open(dur_dir *d, const char *path, dur_read_mode mode, uint64_t from_lsn,
                             dur_wal_reader **out, dur_error *err);
/* *rec is filled and *eof false, or *eof true at the end. */
dur_code dur_wal_reader_next(dur_wal_reader *r, dur_wal_record *rec, bool *eof, dur_error *err);
/* After EOF: whether and where a torn tail ended the stream. */
void dur_wal_reader_tail(dur_wal_reader *r, dur_wal_tail *out);
unsigned dur_wal_reader_segments(dur_wal_reader *r);
void dur_wal_reader_close(dur_wal_reader *r);

#ifdef __cplusplus
}
#endif
#endif
