/* Namespace journal: mode names and the offline tools (verify, recover, dump).
 *
 * Crash reasoning: verify and dump never write (recovery with repair=false, readers
 * only), so they are safe on a journal a crashed daemon left behind.  Offline
 * recovery is exactly a mount's recovery (dur_ns_open) followed by a clean close,
 * which leaves a checkpoint covering everything, i.e. a CLEAN journal.
 */
#include "ns_internal.h"
#include "ns_record.h"

#include "durability/recovery.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *dur_ns_mode_name(dur_ns_mode m)
{
    switch (m) {
    case DUR_NS_CLOSE:
        return "close";
    case DUR_NS_SYNC:
        return "sync";
    case DUR_NS_ORDERED:
        return "ordered";
    }
    return "unknown";
}

dur_code dur_ns_mode_parse(const char *s, dur_ns_mode *out, dur_error *err)
{
    for (int m = DUR_NS_CLOSE; m <= DUR_NS_ORDERED; m++) {
        if (s && strcmp(s, dur_ns_mode_name((dur_ns_mode)m)) == 0) {
            *out = (dur_ns_mode)m;
            return DUR_OK;
        }
    }
    return dur_error_set(err, DUR_E_INVAL, 0, NULL,
                         "unknown durability mode \"%s\" (expected close, sync or ordered)",
                         s ? s : "(null)");
}

/* A BACKING directory or a journal directory: find the journal. */
static dur_code open_journal(const char *dir, dur_dir **out, dur_error *err)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/%s", dir, DUR_NS_RESERVED_NAME, NS_JOURNAL_SUBDIR);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        snprintf(path, sizeof path, "%s", dir);
    snprintf(path + strlen(path), sizeof path - strlen(path), "/%s", NS_WAL_DIR);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return dur_error_set(err, DUR_E_NOTFOUND, errno, dir,
                             "no namespace journal in %s (expected %s/ or %s/%s/%s/)", dir,
                             NS_WAL_DIR, DUR_NS_RESERVED_NAME, NS_JOURNAL_SUBDIR, NS_WAL_DIR);
    path[strlen(path) - strlen(NS_WAL_DIR) - 1] = '\0';
    return dur_dir_open_fs(path, false, out, err);
}

typedef struct verify_ctx {
    uint64_t user_records;
} verify_ctx;

static dur_code verify_record(void *ctx, const dur_wal_record *rec, dur_error *err)
{
    verify_ctx *v = ctx;
    if (rec->type > DUR_WAL_TYPE_USER_MAX)
        return DUR_OK;
    ns_record r;
    dur_code c = ns_record_decode(rec->type, rec->payload, rec->len, rec->lsn, &r, err);
    if (c == DUR_OK)
        v->user_records++;
    return c;
}

/* Bytes of torn tail after the last valid record (0: none), read from that
 * record's segment on: recovery without repair passes a torn tail over
 * silently, and verify must tell it (a mount would cut it). */
static dur_code torn_tail_bytes(dur_dir *d, uint64_t last_lsn, uint64_t *bytes, dur_error *err)
{
    *bytes = 0;
    dur_wal_reader *rd = NULL;
    dur_code c = dur_wal_reader_open(d, NS_WAL_DIR, DUR_READ_BEST_EFFORT, last_lsn, &rd, err);
    if (c == DUR_E_NOTFOUND)
        return DUR_OK; /* no WAL */
    for (bool eof = false; c == DUR_OK && !eof;) {
        dur_wal_record rec;
        c = dur_wal_reader_next(rd, &rec, &eof, err);
    }
    if (c == DUR_OK) {
        dur_wal_tail t;
        dur_wal_reader_tail(rd, &t);
        if (t.torn)
            *bytes = t.file_length - t.valid_length;
    }
    dur_wal_reader_close(rd);
    return c;
}

dur_code dur_ns_verify(const char *journal_dir, dur_ns_verify_result *result,
                       dur_recovery_report *report, dur_error *err)
{
    return ns_verify_counting(journal_dir, result, report, NULL, err);
}

dur_code ns_verify_counting(const char *journal_dir, dur_ns_verify_result *result,
                            dur_recovery_report *report, uint64_t *pending, dur_error *err)
{
    dur_dir *d = NULL;
    dur_recovery_report rep;
    memset(&rep, 0, sizeof rep);
    *result = DUR_NS_CORRUPT;
    dur_code c = open_journal(journal_dir, &d, err);
    if (c != DUR_OK)
        return c;
    /* Strict: a damaged newer checkpoint is reported, not silently passed over. */
    dur_checkpoint cp;
    bool found = false;
    memset(&cp, 0, sizeof cp);
    c = dur_checkpoint_load_latest(d, NS_CKPT_DIR, DUR_READ_STRICT, &cp, &found, err);
    if (found)
        dur_checkpoint_free(&cp);
    if (c == DUR_E_CORRUPT) {
        dur_dir_close(d);
        return DUR_OK; /* verdict CORRUPT; err names file and offset */
    }
    if (c != DUR_OK && c != DUR_E_NOTFOUND) {
        dur_dir_close(d);
        return c;
    }
    verify_ctx v = {0};
    dur_recovery_options ro = {.wal_path = NS_WAL_DIR,
                               .checkpoint_path = NS_CKPT_DIR,
                               .mode = DUR_READ_BEST_EFFORT,
                               .repair = false};
    dur_recovery_callbacks cb = {.on_checkpoint = NULL, .on_record = verify_record, .ctx = &v};
    c = dur_recover(d, &ro, &cb, &rep, err);
    if (c == DUR_OK)
        c = torn_tail_bytes(d, rep.last_lsn, &rep.bytes_cut, err);
    dur_dir_close(d);
    if (report)
        *report = rep;
    if (c == DUR_E_CORRUPT)
        return DUR_OK;
    if (c != DUR_OK)
        return c;
    if (pending)
        *pending = v.user_records;
    *result = (v.user_records > 0 || rep.bytes_cut > 0) ? DUR_NS_NEEDS_RECOVERY : DUR_NS_CLEAN;
    return DUR_OK;
}

dur_code dur_ns_recover_offline(int backing_fd, const dur_ns_options *opts, dur_ns_recovery *out,
                                dur_error *err)
{
    dur_ns *ns = NULL;
    dur_ns_options o;
    if (opts)
        o = *opts;
    else
        dur_ns_options_default(&o);
    o.read_only = false;
    dur_code c = dur_ns_open(backing_fd, &o, &ns, out, err);
    if (c != DUR_OK)
        return c;
    return dur_ns_close(ns, err);
}

dur_code dur_ns_dump(const char *journal_dir, void (*line)(void *ctx, const char *text), void *ctx,
                     dur_error *err)
{
    dur_dir *d = NULL;
    dur_code c = open_journal(journal_dir, &d, err);
    if (c != DUR_OK)
        return c;
    char *buf = malloc(8192);
    if (!buf) {
        dur_dir_close(d);
        return dur_error_set(err, DUR_E_NOMEM, ENOMEM, NULL, "dump: out of memory");
    }
    dur_checkpoint cp;
    bool found = false;
    memset(&cp, 0, sizeof cp);
    if (dur_checkpoint_load_latest(d, NS_CKPT_DIR, DUR_READ_BEST_EFFORT, &cp, &found, NULL) ==
            DUR_OK &&
        found) {
        snprintf(buf, 8192, "# checkpoint %s covers LSN <= %" PRIu64, cp.name, cp.lsn);
        line(ctx, buf);
        dur_checkpoint_free(&cp);
    } else {
        line(ctx, "# no checkpoint");
    }
    dur_wal_reader *rd = NULL;
    dur_code first_bad = DUR_OK;
    if ((c = dur_wal_reader_open(d, NS_WAL_DIR, DUR_READ_BEST_EFFORT, 0, &rd, err)) == DUR_OK) {
        for (;;) {
            dur_wal_record rec;
            bool eof = false;
            if ((c = dur_wal_reader_next(rd, &rec, &eof, err)) != DUR_OK || eof)
                break;
            if (rec.type > DUR_WAL_TYPE_USER_MAX) {
                uint64_t cl = 0;
                if (rec.type == DUR_WAL_TYPE_CHECKPOINT && rec.len == 8)
                    for (int i = 7; i >= 0; i--)
                        cl = (cl << 8) | ((const unsigned char *)rec.payload)[i];
                snprintf(buf, 8192, "%" PRIu64 " CHECKPOINT-MARKER type=%u lsn=%" PRIu64, rec.lsn,
                         rec.type, cl);
            } else {
                ns_record r;
                dur_error e;
                if (ns_record_decode(rec.type, rec.payload, rec.len, rec.lsn, &r, &e) == DUR_OK) {
                    ns_record_format(&r, rec.lsn, buf, 8192);
                } else {
                    snprintf(buf, 8192, "%" PRIu64 " CORRUPT %s", rec.lsn, e.msg);
                    if (first_bad == DUR_OK) {
                        first_bad = DUR_E_CORRUPT;
                        if (err)
                            *err = e;
                    }
                }
            }
            line(ctx, buf);
        }
        if (c == DUR_OK) {
            dur_wal_tail t;
            dur_wal_reader_tail(rd, &t);
            if (t.torn) {
                snprintf(buf, 8192, "# torn tail in %s: %" PRIu64 " of %" PRIu64 " bytes valid",
                         t.segment, t.valid_length, t.file_length);
                line(ctx, buf);
            }
        }
        dur_wal_reader_close(rd);
    }
    free(buf);
    dur_dir_close(d);
    return c != DUR_OK ? c : first_bad;
}
