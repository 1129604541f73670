/* Error paths through the fault injector: the Nth write, sync, open (segment
 * creation), allocate, read or list fails.  The first failure is returned as it was;
 * the writer is then poisoned (every later call DUR_E_CLOSED carrying the original
 * text), durable_lsn does not move, and after a power cut every record acknowledged
 * before the failure is still there. */
#include "wal_test_util.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define WD "wal"
#define MAXP 80
#define SMALL_SEGMENT 200

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void check_after_cut(dur_dir *crash, uint64_t seed, uint64_t acked, uint64_t appended)
{
    dur_error e;
    dur_crash_power_cut(crash, NULL);
    dur_wal *w = NULL;
    TU_OK(dur_wal_open(crash, WD, NULL, &w, NULL, &e));
    TU_OK(dur_wal_close(w, &e));
    tu_log log;
    dur_code rc = tu_read_log(crash, WD, DUR_READ_STRICT, 0, &log);
    if (rc != DUR_OK)
        fail_msg("read after cut: %s", log.err.msg);
    uint8_t buf[MAXP];
    for (size_t i = 0; i < log.n; i++) {
        assert_int_equal(log.lsn[i], i + 1);
        size_t len = tu_payload(seed, i + 1, MAXP, buf);
        assert_int_equal(log.len[i], len);
        assert_memory_equal(log.data[i], buf, len);
    }
    assert_true(log.n >= acked);
    assert_true(log.n <= appended);
    tu_log_free(&log);
}

/* Returns true if the armed fault fired. */
static bool run_with_fault(dur_fault_op op, uint64_t nth, uint64_t seed)
{
    dur_error e;
    dur_dir *crash = NULL, *fd = NULL;
    TU_OK(dur_dir_new_crash(seed, &crash, &e));
    TU_OK(dur_dir_new_fault(crash, false, &fd, &e));
    dur_fault_arm(fd, op, nth, EIO);
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.segment_size = 300;
    o.prealloc_bytes = 256;
    o.buffer_size = 200;
    uint64_t s = seed;
    o.flush_policy = rng(&s) % 2 ? DUR_FLUSH_PER_APPEND : DUR_FLUSH_MANUAL;
    dur_wal *w = NULL;
    uint64_t acked = 0, appended = 0;
    bool fired = false;
    dur_code rc = dur_wal_open(fd, WD, &o, &w, NULL, &e);
    if (rc != DUR_OK) {
        /* failed open: a clear error, nothing leaked; the directory is still usable */
        assert_int_equal(rc, DUR_E_IO);
        assert_int_equal(e.sys_errno, EIO);
        assert_null(w);
        fired = true;
    } else {
        uint8_t buf[MAXP];
        for (int i = 0; i < 60; i++) {
            uint64_t lsn = appended + 1;
            size_t len = tu_payload(seed, lsn, MAXP, buf);
            uint64_t got = 0;
            bool durable = rng(&s) % 3 == 0;
            rc = dur_wal_append(w, 1, buf, len, &got, &e);
            if (rc == DUR_OK) {
                appended = got;
                if (durable && (rc = dur_wal_sync(w, got, &e)) == DUR_OK)
                    acked = got;
            }
            if (rc != DUR_OK) {
                fired = true;
                assert_int_equal(rc, DUR_E_IO);
                assert_non_null(strstr(e.msg, "injected"));
                assert_true(dur_wal_poisoned(w));
                /* whatever the writer claims durable must survive the cut below (a
                 * rotation inside the failing append may have synced some) */
                uint64_t durable_before = dur_wal_durable_lsn(w);
                assert_true(durable_before >= acked);
                assert_true(durable_before <= appended);
                acked = durable_before;
                char first[256];
                snprintf(first, sizeof first, "%s", e.msg);
                assert_int_equal(dur_wal_append(w, 1, "x", 1, NULL, &e), DUR_E_CLOSED);
                assert_non_null(strstr(e.msg, first));
                dur_fault_disarm_all(fd);
                assert_int_equal(dur_wal_sync(w, 0, &e), DUR_E_CLOSED); /* no retry */
                assert_int_equal(dur_wal_durable_lsn(w), durable_before);
                break;
            }
        }
        rc = dur_wal_close(w, &e);
        assert_int_equal(rc, fired ? DUR_E_CLOSED : DUR_OK);
    }
    if (!fired)
        acked = appended; /* close synced everything */
    dur_dir_close(fd);
    check_after_cut(crash, seed, acked, appended);
    dur_dir_close(crash);
    return fired;
}

static void sweep(dur_fault_op op, unsigned min_fired)
{
    unsigned fired = 0;
    for (uint64_t nth = 1; nth < 400; nth++) {
        if (!run_with_fault(op, nth, 1000 + nth))
            break;
        fired++;
    }
    print_message("fault kind %d: failed each of the first %u calls in turn\n", (int)op, fired);
    assert_true(fired >= min_fired);
}

static void test_failing_write(void **state)
{
    (void)state;
    sweep(DUR_FAULT_WRITE, 10);
}

static void test_failing_sync(void **state)
{
    (void)state;
    sweep(DUR_FAULT_SYNC, 10);
}

static void test_failing_segment_create(void **state)
{
    (void)state;
    sweep(DUR_FAULT_OPEN, 3);
}

static void test_failing_allocate(void **state)
{
    (void)state;
    sweep(DUR_FAULT_ALLOCATE, 3);
}

/* Zero fill only saves time: failing to write it (a full disk) must not poison the
 * writer.  Records go on landing after the last record, rotation still leaves the
 * old segment exact, and everything acknowledged survives a power cut. */
static void test_failing_zero_fill_is_not_an_error(void **state)
{
    (void)state;
    dur_error e;
    dur_dir *crash = NULL, *fd = NULL;
    TU_OK(dur_dir_new_crash(7, &crash, &e));
    TU_OK(dur_dir_new_fault(crash, false, &fd, &e));
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.zero_fill_bytes = 4096;
    dur_wal *w = NULL;
    TU_OK(dur_wal_open(fd, WD, &o, &w, NULL, &e));
    dur_fault_arm(fd, DUR_FAULT_WRITE, 2, ENOSPC); /* 1: the first batch, 2: its zero fill */
    uint8_t buf[MAXP];
    uint64_t lsn = 0;
    for (uint64_t i = 1; i <= 5; i++) {
        size_t len = tu_payload(7, i, MAXP, buf);
        TU_OK(dur_wal_append_durable(w, 1, buf, len, &lsn, &e));
        if (i == 3)
            TU_OK(dur_wal_rotate(w, &e));
    }
    assert_int_equal(dur_fault_count(fd, DUR_FAULT_WRITE) >= 2, true);
    assert_false(dur_wal_poisoned(w));
    TU_OK(dur_wal_close(w, &e));
    dur_dir_close(fd);
    check_after_cut(crash, 7, 5, 5);
    dur_dir_close(crash);
}

static void test_failing_open_steps(void **state)
{
    (void)state;
    /* list, mkdir and lock fail only inside dur_wal_open */
    assert_true(run_with_fault(DUR_FAULT_LIST, 1, 7));
    assert_true(run_with_fault(DUR_FAULT_MKDIR, 1, 7));
    assert_true(run_with_fault(DUR_FAULT_LOCK, 1, 7));
}

/* Resume reads every segment and truncates a torn tail: failures there are errors. */
static void test_failing_resume(void **state)
{
    (void)state;
    dur_error e;
    for (int kind = 0; kind < 3; kind++) {
        dur_dir *crash = NULL, *fd = NULL;
        TU_OK(dur_dir_new_crash(5, &crash, &e));
        dur_wal *w = NULL;
        TU_OK(dur_wal_open(crash, WD, NULL, &w, NULL, &e));
        TU_OK(dur_wal_append(w, 1, "abc", 3, NULL, &e));
        TU_OK(dur_wal_close(w, &e));
        /* tear the last record so resume has to truncate */
        char seg[256];
        tu_seg_path(seg, sizeof seg, WD, 1);
        size_t len;
        uint8_t *b = tu_read_file(crash, seg, &len);
        tu_write_file(crash, seg, b, len - 2);
        free(b);
        TU_OK(dur_dir_new_fault(crash, false, &fd, &e));
        dur_fault_op op = kind == 0   ? DUR_FAULT_READ
                          : kind == 1 ? DUR_FAULT_TRUNCATE
                                      : DUR_FAULT_SYNC;
        dur_fault_arm(fd, op, 1, EIO);
        assert_int_equal(dur_wal_open(fd, WD, NULL, &w, NULL, &e), DUR_E_IO);
        assert_string_equal(e.path, seg);
        dur_fault_disarm_all(fd);
        dur_wal_open_report rep;
        TU_OK(dur_wal_open(fd, WD, NULL, &w, &rep, &e));
        assert_int_equal(rep.last_lsn, 0);
        TU_OK(dur_wal_close(w, &e));
        dur_dir_close(fd);
        dur_dir_close(crash);
    }
}

/* A failed segment removal is reported but poisons nothing: no record is at risk. */
/* A writer of 200-byte segments (two 50-byte records each) through a fault
 * injector over a crash simulator. */
static dur_wal *open_two_record_segments(uint64_t seed, dur_dir **crash, dur_dir **fd)
{
    dur_error e;
    TU_OK(dur_dir_new_crash(seed, crash, &e));
    TU_OK(dur_dir_new_fault(*crash, false, fd, &e));
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.segment_size = SMALL_SEGMENT;
    dur_wal *w = NULL;
    TU_OK(dur_wal_open(*fd, WD, &o, &w, NULL, &e));
    return w;
}

static void test_failing_remove_does_not_poison(void **state)
{
    (void)state;
    dur_error e;
    dur_dir *crash = NULL, *fd = NULL;
    dur_wal *w = open_two_record_segments(6, &crash, &fd);
    uint8_t p[50] = {0};
    for (int i = 0; i < 7; i++) /* {1,2} {3,4} {5,6} {7} */
        TU_OK(dur_wal_append(w, 1, p, sizeof p, NULL, &e));
    dur_fault_arm(fd, DUR_FAULT_REMOVE, 2, ENOSPC);
    assert_int_equal(dur_wal_truncate_below(w, 7, &e), DUR_E_IO);
    assert_int_equal(e.sys_errno, ENOSPC);
    assert_false(dur_wal_poisoned(w));
    dur_wal_stats st;
    dur_wal_get_stats(w, &st);
    assert_int_equal(st.segments_deleted, 1);
    assert_int_equal(st.live_segments, 3);
    TU_OK(dur_wal_append_durable(w, 1, p, sizeof p, NULL, &e));
    TU_OK(dur_wal_truncate_below(w, 7, &e));
    dur_wal_get_stats(w, &st);
    assert_int_equal(st.live_segments, 1); /* {7,8}: record 8 still fitted */
    TU_OK(dur_wal_close(w, &e));
    tu_log log;
    TU_OK(tu_read_log(crash, WD, DUR_READ_STRICT, 0, &log));
    assert_int_equal(log.n, 2);
    assert_int_equal(log.lsn[0], 7);
    tu_log_free(&log);
    dur_dir_close(fd);
    dur_dir_close(crash);
}

/* A new segment that cannot be created for want of a resource -- the daemon at its
 * fd limit (EMFILE at the open), a full disk (ENOSPC at the header's fsync, the file
 * taken back) -- puts the rotation off instead of poisoning: records go on into the
 * current segment past segment_size, acknowledged and surviving a power cut, and the
 * rotation happens once the resource is back (a second later, or dur_wal_rotate).
 * Without the put-off (do_io poisoning on every segment creation failure) the append
 * after the fault fails with DUR_E_IO and every later one with DUR_E_CLOSED. */
static void test_rotation_put_off_for_want_of_a_resource(void **state)
{
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        dur_error e;
        dur_dir *crash = NULL, *fd = NULL;
        dur_wal *w = open_two_record_segments(11, &crash, &fd);
        uint8_t p[50] = {0};
        uint64_t lsn = 0;
        for (int i = 0; i < 2; i++) /* segment 1 full: {1,2} */
            TU_OK(dur_wal_append_durable(w, 1, p, sizeof p, &lsn, &e));
        if (variant == 0)
            dur_fault_arm(fd, DUR_FAULT_OPEN, 1, EMFILE);
        else
            dur_fault_arm(fd, DUR_FAULT_SYNC, 1, ENOSPC); /* the new segment's fsync */
        for (int i = 0; i < 4; i++)                       /* {1..6}: past segment_size */
            TU_OK(dur_wal_append_durable(w, 1, p, sizeof p, &lsn, &e));
        assert_int_equal(lsn, 6);
        assert_false(dur_wal_poisoned(w));
        dur_wal_stats st;
        dur_wal_get_stats(w, &st);
        assert_int_equal(st.rotations_put_off, 1); /* retried a second later, not at once */
        assert_int_equal(st.live_segments, 1);
        assert_true(st.bytes_on_disk > SMALL_SEGMENT);
        dur_names names = {0};
        TU_OK(dur_dir_list(fd, WD, &names, &e));
        assert_int_equal(names.count, 2); /* LOCK and segment 1: a half-made 2 is gone */
        dur_names_free(&names);
        /* the resource is back: an explicit rotation, or an append a second later */
        if (variant == 0) {
            TU_OK(dur_wal_rotate(w, &e));
        } else {
            sleep(1);
            TU_OK(dur_wal_append_durable(w, 1, p, sizeof p, &lsn, &e));
        }
        dur_wal_get_stats(w, &st);
        assert_int_equal(st.live_segments, 2);
        TU_OK(dur_wal_append_durable(w, 1, p, sizeof p, &lsn, &e));
        TU_OK(dur_wal_close(w, &e));
        dur_dir_close(fd);
        dur_crash_power_cut(crash, NULL);
        tu_log log;
        TU_OK(tu_read_log(crash, WD, DUR_READ_STRICT, 0, &log));
        assert_int_equal(log.n, lsn);
        assert_int_equal(log.lsn[log.n - 1], lsn);
        tu_log_free(&log);
        dur_dir_close(crash);
    }
}

/* A writer that died (here: its syncs fail, then it is closed) leaves records
 * written but not synced, or a segment whose name was never synced.  The next
 * writer reports everything it found as durable, so resume must harden it. */
static void test_resume_hardens_what_it_found(void **state)
{
    (void)state;
    dur_error e;
    for (int variant = 0; variant < 2; variant++) {
        dur_dir *crash = NULL, *fd = NULL;
        TU_OK(dur_dir_new_crash(8, &crash, &e));
        TU_OK(dur_dir_new_fault(crash, false, &fd, &e));
        dur_wal_options o;
        dur_wal_options_default(&o);
        o.segment_size = 200;
        o.flush_policy = DUR_FLUSH_PER_APPEND;
        dur_wal *w = NULL;
        TU_OK(dur_wal_open(fd, WD, &o, &w, NULL, &e));
        uint8_t p[50] = {0};
        TU_OK(dur_wal_append(w, 1, p, sizeof p, NULL, &e)); /* {1,2} */
        TU_OK(dur_wal_append(w, 1, p, sizeof p, NULL, &e));
        if (variant == 0) {
            /* records 1, 2 written, never synced */
            dur_fault_arm_sticky(fd, DUR_FAULT_SYNC, EIO);
        } else {
            /* rotation: data sync, new segment fsync succeed; the directory sync fails */
            dur_fault_arm(fd, DUR_FAULT_SYNC, 3, EIO);
            assert_int_equal(dur_wal_append(w, 1, p, sizeof p, NULL, &e), DUR_E_IO);
            bool ex = false;
            char seg2[256];
            tu_seg_path(seg2, sizeof seg2, WD, 2);
            TU_OK(dur_dir_exists(crash, seg2, &ex, &e));
            assert_true(ex); /* created, name not durable */
        }
        (void)dur_wal_close(w, &e);
        dur_fault_disarm_all(fd);
        /* the successor */
        dur_wal_open_report rep;
        TU_OK(dur_wal_open(crash, WD, &o, &w, &rep, &e));
        uint64_t last = rep.last_lsn;
        assert_int_equal(last, 2);
        assert_int_equal(dur_wal_durable_lsn(w), last);
        TU_OK(dur_wal_sync(w, last, &e)); /* returns at once: already durable */
        uint64_t lsn;
        TU_OK(dur_wal_append_durable(w, 1, p, 10, &lsn, &e)); /* lands in segment 2 */
        dur_crash_power_cut(crash, NULL);
        (void)dur_wal_close(w, &e);
        tu_log log;
        if (tu_read_log(crash, WD, DUR_READ_STRICT, 0, &log) != DUR_OK)
            fail_msg("variant %d: log unreadable after the cut: %s", variant, log.err.msg);
        if (log.n != lsn)
            fail_msg("variant %d: %zu records after the cut, %llu were acknowledged", variant,
                     log.n, (unsigned long long)lsn);
        tu_log_free(&log);
        dur_dir_close(fd);
        dur_dir_close(crash);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failing_write),
        cmocka_unit_test(test_failing_sync),
        cmocka_unit_test(test_failing_segment_create),
        cmocka_unit_test(test_failing_allocate),
        cmocka_unit_test(test_failing_zero_fill_is_not_an_error),
        cmocka_unit_test(test_failing_open_steps),
        cmocka_unit_test(test_failing_resume),
        cmocka_unit_test(test_failing_remove_does_not_poison),
        cmocka_unit_test(test_rotation_put_off_for_want_of_a_resource),
        cmocka_unit_test(test_resume_hardens_what_it_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
