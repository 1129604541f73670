/* Writer and reader behaviour on the crash simulator (used as a plain in-memory
 * directory that supports sync): create, resume, lock, flush policies, rotation,
 * truncation, options, hook failures. */
#include "wal_test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#define WD "wal"

static dur_dir *new_dir(void)
{
    dur_dir *d = NULL;
    dur_error e;
    TU_OK(dur_dir_new_crash(1, &d, &e));
    return d;
}

static dur_wal *open_wal(dur_dir *d, const char *path, const dur_wal_options *o,
                         dur_wal_open_report *rep)
{
    dur_wal *w = NULL;
    dur_error e;
    TU_OK(dur_wal_open(d, path, o, &w, rep, &e));
    return w;
}

static uint64_t append_n(dur_wal *w, uint64_t seed, unsigned n, size_t max_len)
{
    dur_error e;
    uint8_t *buf = malloc(max_len + 1);
    uint64_t lsn = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t next = dur_wal_last_lsn(w) + 1;
        size_t len = tu_payload(seed, next, max_len, buf);
        TU_OK(dur_wal_append(w, (uint8_t)(1 + next % 200), buf, len, &lsn, &e));
        assert_int_equal(lsn, next);
    }
    free(buf);
    return lsn;
}

/* The log holds exactly LSNs first..last with the payloads of `seed`. */
static void check_log(dur_dir *d, const char *path, uint64_t seed, uint64_t first, uint64_t last,
                      size_t max_len)
{
    tu_log log;
    dur_code rc = tu_read_log(d, path, DUR_READ_STRICT, 0, &log);
    if (rc != DUR_OK)
        fail_msg("strict read: %s", log.err.msg);
    assert_int_equal(log.n, last + 1 - first);
    uint8_t *buf = malloc(max_len + 1);
    for (size_t i = 0; i < log.n; i++) {
        assert_int_equal(log.lsn[i], first + i);
        size_t len = tu_payload(seed, first + i, max_len, buf);
        assert_int_equal(log.len[i], len);
        assert_int_equal(log.type[i], 1 + (first + i) % 200);
        assert_memory_equal(log.data[i], buf, len);
    }
    free(buf);
    assert_false(log.tail.torn);
    tu_log_free(&log);
}

static void test_create_append_resume(void **state)
{
    (void)state;
    dur_dir *d = new_dir();
    dur_error e;
    dur_wal_open_report rep;
    dur_wal *w = open_wal(d, "data/x/" WD, NULL, &rep);
    assert_int_equal(rep.segments, 1);
    assert_int_equal(rep.last_lsn, 0);
    assert_int_equal(dur_wal_last_lsn(w), 0);
    assert_int_equal(append_n(w, 5, 20, 300), 20);
    TU_OK(dur_wal_close(w, &e));
    w = open_wal(d, "data/x/" WD, NULL, &rep);
    assert_int_equal(rep.segments, 1);
    assert_int_equal(rep.last_lsn, 20);
    assert_int_equal(rep.bytes_cut, 0);
    assert_int_equal(dur_wal_durable_lsn(w), 20);
    assert_int_equal(append_n(w, 5, 5, 300), 25);
    TU_OK(dur_wal_close(w, &e));
    check_log(d, "data/x/" WD, 5, 1, 25, 300);
    /* close made everything durable, and creation synced every new directory */
    dur_crash_power_cut(d, NULL);
    check_log(d, "data/x/" WD, 5, 1, 25, 300);
    dur_dir_close(d);
}

static void test_wal_at_root(void **state)
{
    (void)state;
    dur_dir *d = new_dir();
    dur_error e;
    dur_wal *w = open_wal(d, "", NULL, NULL);
    append_n(w, 1, 3, 10);
    TU_OK(dur_wal_close(w, &e));
    bool ex = false;
    TU_OK(dur_dir_exists(d, "wal-00000000000000000001.log", &ex, &e));
    assert_true(ex);
    check_log(d, "", 1, 1, 3, 10);
    dur_dir_close(d);
}

static void test_lock(void **state)
{
    (void)state;
    dur_dir *d = new_dir();
    dur_error e;
    dur_wal *w = open_wal(d, WD, NULL, NULL), *w2 = NULL;
    assert_int_equal(dur_wal_open(d, WD, NULL, &w2, NULL, &e), DUR_E_LOCKED);
    assert_null(w2);
    TU_OK(dur_wal_close(w, &e));
    w = open_wal(d, WD, NULL, NULL);
    TU_OK(dur_wal_close(w, &e));
    dur_dir_close(d);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    dur_dir *d = new_dir();
    dur_error e;
    dur_wal *w = NULL;
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.segment_size = 10;
    assert_int_equal(dur_wal_open(d, WD, &o, &w, NULL, &e), DUR_E_INVAL);
    assert_non_null(strstr(e.msg, "segment_size"));
    dur_wal_options_default(&o);
    o.flush_policy = DUR_FLUSH_EVERY_N;
    o.every_n = 0;
    assert_int_equal(dur_wal_open(d, WD, &o, &w, NULL, &e), DUR_E_INVAL);
    dur_wal_options_default(&o);
    o.buffer_size = 0;
    assert_int_equal(dur_wal_open(d, WD, &o, &w, NULL, &e), DUR_E_INVAL);
    assert_int_equal(dur_wal_open(d, "../wal", NULL, &w, NULL, &e), DUR_E_INVAL);
    assert_int_equal(dur_wal_open(d, "/abs", NULL, &w, NULL, &e), DUR_E_INVAL);
    w = open_wal(d, WD, NULL, NULL);
    assert_int_equal(dur_wal_append(w, 0, "x", 1, NULL, &e), DUR_E_INVAL);
    static uint8_t big[DUR_WAL_MAX_PAYLOAD + 1];
    assert_int_equal(dur_wal_append(w, 1, big, sizeof big, NULL, &e), DUR_E_INVAL);
    assert_int_equal(dur_wal_sync(w, 5, &e), DUR_E_INVAL); /* nothing appended yet */
    assert_false(dur_wal_poisoned(w));
    /* the largest record is accepted and read back */
    uint64_t lsn;
    big[0] = 0xAB;
    big[DUR_WAL_MAX_PAYLOAD - 1] = 0xCD;
    TU_OK(dur_wal_append_durable(w, 255, big, DUR_WAL_MAX_PAYLOAD, &lsn, &e));
    assert_int_equal(lsn, 1);
    TU_OK(dur_wal_close(w, &e));
    tu_log log;
    TU_OK(tu_read_log(d, WD, DUR_READ_STRICT, 0, &log));
    assert_int_equal(log.n, 1);
    assert_int_equal(log.len[0], DUR_WAL_MAX_PAYLOAD);
    assert_int_equal(log.type[0], 255);
    assert_memory_equal(log.data[0], big, DUR_WAL_MAX_PAYLOAD);
    tu_log_free(&log);
    dur_dir_close(d);
}

/* Every policy and buffer size gives byte-identical segments. */
static void test_flush_policies_same_bytes(void **state)
{
    (void)state;
    struct {
        dur_flush_policy p;
        unsigned n;
        size_t buf;
    } cfg[] = {
        {DUR_FLUSH_MANUAL, 1, 256 * 1024}, {DUR_FLUSH_MANUAL, 1, 1},  {DUR_FLUSH_PER_APPEND, 1, 64},
        {DUR_FLUSH_EVERY_N, 3, 100},       {DUR_FLUSH_EVERY_N, 1, 7}, {DUR_FLUSH_INTERVAL, 1, 333},
    };
    uint8_t *ref[8] = {0};
    size_t ref_len[8] = {0};
    unsigned nseg_ref = 0;
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        dur_dir *d = new_dir();
        dur_error e;
        dur_wal_options o;
        dur_wal_options_default(&o);
        o.flush_policy = cfg[c].p;
        o.every_n = cfg[c].n;
        o.interval_ms = 1;
        o.buffer_size = cfg[c].buf;
        o.segment_size = 1500;
        dur_wal *w = open_wal(d, WD, &o, NULL);
        append_n(w, 9, 10, 120);
        TU_OK(dur_wal_sync(w, 4, &e));
        append_n(w, 9, 15, 120);
        TU_OK(dur_wal_flush(w, &e));
        append_n(w, 9, 10, 120);
        dur_wal_stats st;
        dur_wal_get_stats(w, &st);
        TU_OK(dur_wal_close(w, &e));
        assert_true(st.live_segments >= 3);
        if (c == 0)
            nseg_ref = st.live_segments;
        assert_int_equal(st.live_segments, nseg_ref);
        for (unsigned s = 1; s <= nseg_ref; s++) {
            char p[256];
            tu_seg_path(p, sizeof p, WD, s);
            size_t len;
            uint8_t *b = tu_read_file(d, p, &len);
            if (c == 0) {
                ref[s] = b;
                ref_len[s] = len;
                continue;
            }
            assert_int_equal(len, ref_len[s]);
            assert_memory_equal(b, ref[s], len);
            free(b);
        }
        dur_dir_close(d);
    }
    for (unsigned s = 0; s < 8; s++)
        free(ref[s]);
}

/* PER_APPEND hands each record to the OS at once; MANUAL only at flush. */
static void test_flush_visibility(void **state)
{
    (void)state;
    dur_error e;
    for (int per_append = 0; per_append < 2; per_append++) {
        dur_dir *d = new_dir();
        dur_wal_options o;
        dur_wal_options_default(&o);
        o.flush_policy = per_append ? DUR_FLUSH_PER_APPEND : DUR_FLUSH_MANUAL;
        dur_wal *w = open_wal(d, WD, &o, NULL);
        append_n(w, 3, 2, 50);
        tu_log log;
        TU_OK(tu_read_log(d, WD, DUR_READ_STRICT, 0, &log));
        assert_int_equal(log.n, per_append ? 2 : 0);
        tu_log_free(&log);
        TU_OK(dur_wal_flush(w, &e));
        TU_OK(tu_read_log(d, WD, DUR_READ_STRICT, 0, &log));
        assert_int_equal(log.n, 2);
        tu_log_free(&log);
        /* written but not synced: a power cut loses them */
        assert_int_equal(dur_wal_durable_lsn(w), 0);
        TU_OK(dur_wal_close(w, &e));
        dur_dir_close(d);
    }
}

static void test_rotation(void **state)
{
    (void)state;
    dur_dir *d = new_dir();
    dur_error e;
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.segment_size = 200;
    dur_wal *w = open_wal(d, WD, &o, NULL);
    uint8_t p[600];
    memset(p, 0x5A, sizeof p);
    uint64_t lsn;
    /* 40 + 74 + 74 = 188 <= 200: two records per segment */
    for (int i = 0; i < 4; i++)
        TU_OK(dur_wal_append(w, 1, p, 50, &lsn, &e));
    /* larger than a segment: alone in its own */
    TU_OK(dur_wal_append(w, 2, p, 500, &lsn, &e));
    TU_OK(dur_wal_append(w, 1, p, 50, &lsn, &e));
    TU_OK(dur_wal_flush(w, &e));
    dur_wal_stats st;
    dur_wal_get_stats(w, &st);
    TU_OK(dur_wal_close(w, &e));
    assert_int_equal(lsn, 6);
    assert_int_equal(st.segments_created, 4);
    assert_int_equal(st.live_segments, 4);
    uint64_t expect_size[] = {0, 188, 188, 40 + 524, 40 + 74};
    uint64_t total = 0;
    for (unsigned s = 1; s <= 4; s++) {
        char path[256];
        tu_seg_path(path, sizeof path, WD, s);
        size_t len;
        free(tu_read_file(d, path, &len));
        assert_int_equal(len, expect_size[s]);
        total += len;
    }
    assert_int_equal(st.bytes_on_disk, total);
    tu_log log;
    TU_OK(tu_read_log(d, WD, DUR_READ_STRICT, 0, &log));
    assert_int_equal(log.n, 6);
    assert_int_equal(log.len[4], 500);
    tu_log_free(&log);
    /* rotation fdatasynced every old segment: a power cut keeps records 1..5 */
    dur_crash_power_cut(d, NULL);
    TU_OK(tu_read_log(d, WD, DUR_READ_STRICT, 0, &log));
    assert_int_equal(log.n, 6); /* close synced the last one too */
    tu_log_free(&log);
    dur_dir_close(d);
}

static void test_rotation_syncs_old_segment(void **state)
{
    (void)state;
    dur_dir *d = new_dir();
    dur_error e;
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.segment_size = 200;
    dur_wal *w = open_wal(d, WD, &o, NULL);
    uint8_t p[50] = {0};
    for (int i = 0; i < 5; i++) /* segments: {1,2} {3,4} {5} */
        TU_OK(dur_wal_append(w, 1, p, sizeof p, NULL, &e));
    assert_int_equal(dur_wal_durable_lsn(w), 4); /* rotation synced 1..4 */
    dur_crash_power_cut(d, NULL);
    (void)dur_wal_close(w, &e);
    w = open_wal(d, WD, &o, NULL);
    assert_int_equal(dur_wal_last_lsn(w), 4);
    TU_OK(dur_wal_close(w, &e));
    dur_dir_close(d);
}

static void test_truncate_below(void **state)
{
    (void)state;
    dur_dir *d = new_dir();
    dur_error e;
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.segment_size = 200;
    dur_wal *w = open_wal(d, WD, &o, NULL);
    uint8_t p[50] = {0};
    for (int i = 0; i < 9; i++) /* segments: {1,2} {3,4} {5,6} {7,8} {9} */
        TU_OK(dur_wal_append(w, 1, p, sizeof p, NULL, &e));
    TU_OK(dur_wal_truncate_below(w, 2, &e)); /* segment 1 still holds LSN 2 */
    dur_wal_stats st;
    dur_wal_get_stats(w, &st);
    assert_int_equal(st.live_segments, 5);
    TU_OK(dur_wal_truncate_below(w, 6, &e)); /* removes {1,2} {3,4}; keeps {5,6} */
    dur_wal_get_stats(w, &st);
    assert_int_equal(st.live_segments, 3);
    assert_int_equal(st.segments_deleted, 2);
    TU_OK(dur_wal_flush(w, &e));
    tu_log log;
    TU_OK(tu_read_log(d, WD, DUR_READ_STRICT, 0, &log));
    assert_int_equal(log.n, 5);
    assert_int_equal(log.lsn[0], 5);
    tu_log_free(&log);
    TU_OK(dur_wal_truncate_below(w, UINT64_MAX, &e)); /* never the active segment */
    dur_wal_get_stats(w, &st);
    assert_int_equal(st.live_segments, 1);
    TU_OK(dur_wal_append(w, 1, p, sizeof p, NULL, &e));
    TU_OK(dur_wal_close(w, &e));
    /* deletions were synced; the suffix is contiguous and resumable */
    dur_crash_power_cut(d, NULL);
    dur_wal_open_report rep;
    w = open_wal(d, WD, &o, &rep);
    assert_int_equal(rep.last_lsn, 10);
    TU_OK(dur_wal_close(w, &e));
    TU_OK(tu_read_log(d, WD, DUR_READ_STRICT, 0, &log));
    assert_int_equal(log.n, 2);
    assert_int_equal(log.lsn[0], 9);
    tu_log_free(&log);
    dur_dir_close(d);
}

/* Explicit rotation: a checkpoint rotates before its marker, then truncates. */
static void test_rotate_then_truncate(void **state)
{
    (void)state;
    dur_dir *d = new_dir();
    dur_error e;
    dur_wal *w = open_wal(d, WD, NULL, NULL);
    TU_OK(dur_wal_rotate(w, &e)); /* empty segment: nothing to do */
    dur_wal_stats st;
    dur_wal_get_stats(w, &st);
    assert_int_equal(st.segments_created, 1);
    uint64_t last = append_n(w, 6, 50, 100); /* buffered, not yet written */
    TU_OK(dur_wal_rotate(w, &e));
    dur_wal_get_stats(w, &st);
    assert_int_equal(st.segments_created, 2);
    assert_int_equal(dur_wal_durable_lsn(w), last); /* the old segment was synced */
    uint64_t marker;
    TU_OK(dur_wal_append_durable(w, DUR_WAL_TYPE_CHECKPOINT, "12345678", 8, &marker, &e));
    TU_OK(dur_wal_truncate_below(w, last + 1, &e));
    dur_wal_get_stats(w, &st);
    assert_int_equal(st.live_segments, 1);
    assert_int_equal(st.bytes_on_disk, 40 + 24 + 8);
    TU_OK(dur_wal_rotate(w, &e));
    TU_OK(dur_wal_close(w, &e));
    dur_crash_power_cut(d, NULL);
    tu_log log;
    TU_OK(tu_read_log(d, WD, DUR_READ_STRICT, 0, &log));
    assert_int_equal(log.n, 1);
    assert_int_equal(log.lsn[0], marker);
    tu_log_free(&log);
    dur_wal_open_report rep;
    w = open_wal(d, WD, NULL, &rep);
    assert_int_equal(rep.segments, 2);
    assert_int_equal(rep.last_lsn, marker);
    TU_OK(dur_wal_close(w, &e));
    dur_dir_close(d);
}

static void test_reader_from_lsn(void **state)
{
    (void)state;
    dur_dir *d = new_dir();
    dur_error e;
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.segment_size = 300;
    dur_wal *w = open_wal(d, WD, &o, NULL);
    append_n(w, 4, 30, 60);
    TU_OK(dur_wal_close(w, &e));
    for (uint64_t from = 0; from <= 31; from++) {
        tu_log log;
        TU_OK(tu_read_log(d, WD, DUR_READ_STRICT, from, &log));
        uint64_t first = from ? from : 1;
        assert_int_equal(log.n, 31 - first);
        if (log.n)
            assert_int_equal(log.lsn[0], first);
        tu_log_free(&log);
    }
    dur_wal_reader *r;
    TU_OK(dur_wal_reader_open(d, WD, DUR_READ_STRICT, 0, &r, &e));
    assert_true(dur_wal_reader_segments(r) > 3);
    dur_wal_reader_close(r);
    /* Segments wholly below from_lsn are skipped unread: damage in segment 1 stops a
     * full read but not a read from the start of segment 3. */
    {
        char seg1[256], seg3[256];
        tu_seg_path(seg1, sizeof seg1, WD, 1);
        tu_seg_path(seg3, sizeof seg3, WD, 3);
        size_t len;
        uint8_t *b = tu_read_file(d, seg1, &len);
        b[len - 1] ^= 1;
        tu_write_file(d, seg1, b, len);
        free(b);
        b = tu_read_file(d, seg3, &len);
        uint64_t first3 = (uint64_t)b[24] | (uint64_t)b[25] << 8;
        free(b);
        tu_log log;
        assert_int_equal(tu_read_log(d, WD, DUR_READ_STRICT, 0, &log), DUR_E_CORRUPT);
        assert_string_equal(log.err.path, seg1);
        tu_log_free(&log);
        TU_OK(tu_read_log(d, WD, DUR_READ_STRICT, first3, &log));
        assert_int_equal(log.n, 31 - first3);
        assert_int_equal(log.lsn[0], first3);
        tu_log_free(&log);
        /* from inside segment 2: segment 1 skipped, segment 2 read and filtered */
        TU_OK(tu_read_log(d, WD, DUR_READ_STRICT, first3 - 1, &log));
        assert_int_equal(log.lsn[0], first3 - 1);
        tu_log_free(&log);
    }
    /* a missing WAL directory is an error naming it, an empty one is an empty log */
    assert_int_not_equal(dur_wal_reader_open(d, "nope", DUR_READ_STRICT, 0, &r, &e), DUR_OK);
    TU_OK(dur_dir_mkdir_p(d, "empty", &e));
    tu_log log;
    TU_OK(tu_read_log(d, "empty", DUR_READ_STRICT, 0, &log));
    assert_int_equal(log.n, 0);
    tu_log_free(&log);
    dur_dir_close(d);
}

static int hook_calls;
static dur_code failing_hook(void *ctx, dur_error *err)
{
    (void)ctx;
    hook_calls++;
    return dur_error_set(err, DUR_E_IO, 5, "backing", "syncfs failed: Input/output error");
}

static void test_hook_failure_poisons(void **state)
{
    (void)state;
    dur_dir *d = new_dir();
    dur_error e;
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.leader_hook = failing_hook;
    dur_wal *w = open_wal(d, WD, &o, NULL);
    uint64_t lsn;
    hook_calls = 0;
    assert_int_equal(dur_wal_append_durable(w, 1, "a", 1, &lsn, &e), DUR_E_IO);
    assert_int_equal(hook_calls, 1);
    assert_non_null(strstr(e.msg, "syncfs failed"));
    assert_true(dur_wal_poisoned(w));
    assert_int_equal(dur_wal_durable_lsn(w), 0);
    assert_int_equal(dur_wal_append(w, 1, "b", 1, &lsn, &e), DUR_E_CLOSED);
    assert_non_null(strstr(e.msg, "syncfs failed"));
    assert_int_equal(dur_wal_sync(w, 0, &e), DUR_E_CLOSED);
    assert_int_equal(dur_wal_flush(w, &e), DUR_E_CLOSED);
    assert_int_equal(dur_wal_truncate_below(w, 1, &e), DUR_E_CLOSED);
    assert_int_equal(dur_wal_close(w, &e), DUR_E_CLOSED);
    assert_int_equal(hook_calls, 1); /* never retried */
    dur_dir_close(d);
}

static int ok_hook_calls;
static dur_code ok_hook(void *ctx, dur_error *err)
{
    (void)err;
    /* runs before the fdatasync: the batch is written, nothing of it is durable yet */
    dur_wal *w = *(dur_wal **)ctx;
    (void)w;
    ok_hook_calls++;
    return DUR_OK;
}

static void test_hook_runs_per_sync(void **state)
{
    (void)state;
    dur_dir *d = new_dir();
    dur_error e;
    dur_wal *w = NULL;
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.leader_hook = ok_hook;
    o.leader_hook_ctx = &w;
    o.segment_size = 200;
    w = open_wal(d, WD, &o, NULL);
    ok_hook_calls = 0;
    uint8_t p[50] = {0};
    TU_OK(dur_wal_append_durable(w, 1, p, sizeof p, NULL, &e));
    assert_int_equal(ok_hook_calls, 1);
    TU_OK(dur_wal_sync(w, 0, &e)); /* nothing new: no sync, no hook */
    assert_int_equal(ok_hook_calls, 1);
    TU_OK(dur_wal_append(w, 1, p, sizeof p, NULL, &e));
    TU_OK(dur_wal_append(w, 1, p, sizeof p, NULL, &e)); /* rotates: hook + sync of old */
    assert_int_equal(ok_hook_calls, 2);
    dur_wal_stats st;
    dur_wal_get_stats(w, &st);
    assert_int_equal(st.syncs, 2);
    assert_int_equal(st.synced_records, 2);
    TU_OK(dur_wal_close(w, &e));
    dur_dir_close(d);
}

/* Preallocation (real directory) reserves blocks but keeps i_size at the end of the
 * records: durfs relies on every WAL fdatasync also changing i_size. */
static void test_prealloc_keeps_size(void **state)
{
    (void)state;
    char root[] = "/tmp/durfs-wal-prealloc-XXXXXX";
    if (!mkdtemp(root))
        fail_msg("mkdtemp failed");
    dur_dir *d = NULL;
    dur_error e;
    TU_OK(dur_dir_open_fs(root, false, &d, &e));
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.prealloc_bytes = 1u << 20;
    o.segment_size = 1u << 20;
    dur_wal *w = open_wal(d, WD, &o, NULL);
    char seg[256];
    tu_seg_path(seg, sizeof seg, WD, 1);
    uint64_t expect = 40;
    for (int i = 0; i < 3; i++) {
        TU_OK(dur_wal_append_durable(w, 1, "0123456789", 10, NULL, &e));
        expect += 34;
        dur_file *f = NULL;
        uint64_t size = 0;
        TU_OK(dur_dir_open(d, seg, DUR_O_READ, &f, &e));
        TU_OK(f->ops->size(f, &size, &e));
        dur_file_close(f);
        assert_int_equal(size, expect);
    }
    char real[4096];
    struct stat sb;
    TU_OK(d->ops->real_path(d, seg, real, sizeof real, &e));
    assert_int_equal(stat(real, &sb), 0);
    assert_true((uint64_t)sb.st_blocks * 512 >= (1u << 20) - 4096); /* blocks reserved */
    TU_OK(dur_wal_close(w, &e));
    tu_log log;
    TU_OK(tu_read_log(d, WD, DUR_READ_STRICT, 0, &log));
    assert_int_equal(log.n, 3);
    tu_log_free(&log);
    dur_dir_close(d);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_append_resume),
        cmocka_unit_test(test_wal_at_root),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_flush_policies_same_bytes),
        cmocka_unit_test(test_flush_visibility),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_rotation_syncs_old_segment),
        cmocka_unit_test(test_truncate_below),
        cmocka_unit_test(test_rotate_then_truncate),
        cmocka_unit_test(test_reader_from_lsn),
        cmocka_unit_test(test_hook_failure_poisons),
        cmocka_unit_test(test_hook_runs_per_sync),
        cmocka_unit_test(test_prealloc_keeps_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
