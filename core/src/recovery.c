/* Recovery: newest valid checkpoint + every WAL record after it, in LSN order.
 *
 * Crash reasoning:
 *  - LSNs are dense (wal.h), so the records after a checkpoint covering LSN c must
 *    start at c+1.  A WAL whose first record after c is > c+1 has lost records that
 *    no checkpoint covers: that is corruption, never something to paper over.
 *  - Publish syncs the WAL through c before writing the checkpoint (checkpoint.c),
 *    and truncation never removes the active segment, so a healthy directory always
 *    has WAL records up to at least c.  A WAL that ends before c would make a resumed
 *    writer hand out LSNs <= c again, and a later recovery would skip those new
 *    records as "covered": refused as corruption too.
 *  - Repair (best effort + repair=true) cuts the torn tail BEFORE streaming, by
 *    opening the writer (dur_wal_open resumes: validates, ftruncates back to the last
 *    whole record, fsyncs) and closing it.  Why before:
 *      * the callbacks then see exactly the records that stay in the log; the writer
 *        the application opens next continues right after the last record delivered,
 *        so no delivered record can vanish later and have its LSN reused;
 *      * idempotence: the cut only removes bytes after the last whole record, so a
 *        crash during or after it leaves the same valid prefix; the next run cuts the
 *        rest (or nothing) and streams the same sequence.  Streaming is read only, so a
 *        crash while streaming changes nothing on disk.
 *    In strict mode there is nothing to cut: a torn tail is an error.
 */
#include "durability/recovery.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Cut a torn tail by resuming the writer and closing it again. */
static dur_code cut_torn_tail(dur_dir *d, const char *wal_path, uint64_t *bytes_cut, dur_error *err)
{
    dur_wal_options o;
    dur_wal_options_default(&o);
    dur_wal *w = NULL;
    dur_wal_open_report rep;
    memset(&rep, 0, sizeof(rep));
    dur_code rc = dur_wal_open(d, wal_path, &o, &w, &rep, err);
    if (rc != DUR_OK)
        return rc;
    *bytes_cut = rep.bytes_cut;
    return dur_wal_close(w, err);
}

/* The last LSN present in the WAL (0 if none); only needed when nothing follows the
 * checkpoint, to tell "WAL ends exactly at the checkpoint" from "WAL too short". */
static dur_code wal_last_lsn(dur_dir *d, const char *wal_path, dur_read_mode mode, uint64_t *last,
                             dur_error *err)
{
    dur_wal_reader *r = NULL;
    dur_code rc = dur_wal_reader_open(d, wal_path, mode, 0, &r, err);
    if (rc != DUR_OK)
        return rc;
    *last = 0;
    for (;;) {
        dur_wal_record rec;
        bool eof = false;
        rc = dur_wal_reader_next(r, &rec, &eof, err);
        if (rc != DUR_OK || eof)
            break;
        *last = rec.lsn;
    }
    dur_wal_reader_close(r);
    return rc;
}

static dur_code stream(dur_dir *d, const dur_recovery_options *opts,
                       const dur_recovery_callbacks *cb, const dur_checkpoint *cp,
                       dur_recovery_report *rep, dur_error *err)
{
    /* dur_checkpoint_load_latest refuses a checkpoint LSN above DUR_WAL_MAX_LSN. */
    assert(!cp || cp->lsn <= DUR_WAL_MAX_LSN);
    uint64_t from = cp ? cp->lsn + 1 : 1;
    dur_wal_reader *r = NULL;
    dur_code rc = dur_wal_reader_open(d, opts->wal_path, opts->mode, from, &r, err);
    if (rc != DUR_OK)
        return rc;
    uint64_t expect = from;
    for (;;) {
        dur_wal_record rec;
        bool eof = false;
        rc = dur_wal_reader_next(r, &rec, &eof, err);
        if (rc != DUR_OK || eof)
            break;
        if (rec.lsn < from)
            continue; /* a reader may start at the segment holding `from` */
        if (rec.lsn != expect) {
            if (expect == 1)
                rc = dur_error_set(err, DUR_E_CORRUPT, 0, opts->wal_path,
                                   "WAL starts at LSN %" PRIu64
                                   " but no checkpoint covers LSN 1..%" PRIu64,
                                   rec.lsn, rec.lsn - 1);
            else if (expect == from)
                rc = dur_error_set(err, DUR_E_CORRUPT, 0, opts->wal_path,
                                   "WAL resumes at LSN %" PRIu64 " but checkpoint %s covers"
                                   " only up to LSN %" PRIu64 " (LSN %" PRIu64 "..%" PRIu64
                                   " missing)",
                                   rec.lsn, cp ? cp->name : "(none)", from - 1, from, rec.lsn - 1);
            else
                rc = dur_error_set(err, DUR_E_CORRUPT, 0, opts->wal_path,
                                   "WAL record LSN %" PRIu64 " where %" PRIu64 " was expected",
                                   rec.lsn, expect);
            break;
        }
        if (rep->records_replayed == 0)
            rep->first_lsn = rec.lsn;
        rep->records_replayed++;
        rep->last_lsn = rec.lsn;
        expect = rec.lsn + 1;
        if (cb && cb->on_record) {
            rc = cb->on_record(cb->ctx, &rec, err);
            if (rc != DUR_OK)
                break;
        }
    }
    /* Invariant: what was delivered is exactly LSN from..expect-1, dense. */
    assert(rep->records_replayed == expect - from);
    assert(rep->records_replayed == 0 || (rep->first_lsn == from && rep->last_lsn == expect - 1));
    rep->segments = dur_wal_reader_segments(r);
    dur_wal_reader_close(r);
    if (rc != DUR_OK)
        return rc;
    if (cp && rep->records_replayed == 0 && cp->lsn > 0) {
        uint64_t last = 0;
        rc = wal_last_lsn(d, opts->wal_path, opts->mode, &last, err);
        if (rc != DUR_OK)
            return rc;
        if (last < cp->lsn)
            return dur_error_set(err, DUR_E_CORRUPT, 0, opts->wal_path,
                                 "WAL ends at LSN %" PRIu64 " but checkpoint %s covers LSN %" PRIu64
                                 ": a writer would reuse LSNs %" PRIu64 "..%" PRIu64,
                                 last, cp->name, cp->lsn, last + 1, cp->lsn);
    }
    return DUR_OK;
}

dur_code dur_recover(dur_dir *d, const dur_recovery_options *opts, const dur_recovery_callbacks *cb,
                     dur_recovery_report *report, dur_error *err)
{
    uint64_t start = now_ns();
    dur_recovery_report local = {0};
    dur_recovery_report *rep = report ? report : &local;
    memset(rep, 0, sizeof(*rep));
    if (!d || !opts || !opts->wal_path || !opts->checkpoint_path)
        return dur_error_set(err, DUR_E_INVAL, 0, NULL,
                             "recovery needs a directory, a WAL path and a checkpoint path");

    dur_checkpoint cp;
    bool found = false;
    dur_code rc =
        dur_checkpoint_load_latest(d, opts->checkpoint_path, opts->mode, &cp, &found, err);
    if (rc != DUR_OK)
        return rc;
    rep->checkpoint_found = found;
    rep->checkpoints_skipped = cp.skipped;
    if (found) {
        rep->checkpoint_lsn = cp.lsn;
        rep->last_lsn = cp.lsn;
        memcpy(rep->checkpoint_name, cp.name, sizeof(rep->checkpoint_name));
    }

    bool wal_exists = false;
    rc = dur_dir_exists(d, opts->wal_path, &wal_exists, err);
    if (rc == DUR_OK && wal_exists && opts->repair && opts->mode == DUR_READ_BEST_EFFORT)
        rc = cut_torn_tail(d, opts->wal_path, &rep->bytes_cut, err);
    if (rc == DUR_OK && cb && cb->on_checkpoint)
        rc = cb->on_checkpoint(cb->ctx, found ? &cp : NULL, err);
    if (rc == DUR_OK && wal_exists)
        rc = stream(d, opts, cb, found ? &cp : NULL, rep, err);
    else if (rc == DUR_OK && found && cp.lsn > 0)
        rc = dur_error_set(err, DUR_E_CORRUPT, 0, opts->wal_path,
                           "WAL directory missing but checkpoint %s covers LSN %" PRIu64
                           ": a new WAL would reuse its LSNs",
                           cp.name, cp.lsn);
    if (rc == DUR_OK && rep->last_lsn < rep->checkpoint_lsn)
        rep->last_lsn = rep->checkpoint_lsn;
    assert(rc != DUR_OK || !found || rep->first_lsn == 0 || rep->first_lsn == cp.lsn + 1);
    dur_checkpoint_free(&cp);
    rep->elapsed_ns = now_ns() - start;
    return rc;
}
