/* Group commit on a real directory (fdatasync really waits for the disk).
 *
 * Deterministic: 16 threads each append_durable one record while the first leader's
 * hook holds it until all 16 are appended; the second leader must then cover the 15
 * others with ONE fdatasync: exactly 2 syncs for 16 records.
 * Stress: 16 threads x 100 durable appends; every record present once, each thread's
 * records in its own order, and fewer fdatasyncs than records. */
#include "wal_test_util.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define THREADS 16
#define PER_THREAD 100

typedef struct ctx {
    dur_wal *w;
    int id;
    int count;
    int failures;
} ctx;

static char tmp_root[256];

static dur_dir *real_dir(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/durfs-wal-group-XXXXXX");
    if (!mkdtemp(tmp_root))
        fail_msg("mkdtemp failed");
    dur_dir *d = NULL;
    dur_error e;
    TU_OK(dur_dir_open_fs(tmp_root, false, &d, &e));
    return d;
}

static void rm_real_dir(dur_dir *d)
{
    dur_dir_close(d);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_root);
}

static void *worker(void *arg)
{
    ctx *c = arg;
    dur_error e;
    for (int i = 0; i < c->count; i++) {
        uint32_t rec[2] = {(uint32_t)c->id, (uint32_t)i};
        uint64_t lsn;
        if (dur_wal_append_durable(c->w, 3, rec, sizeof rec, &lsn, &e) != DUR_OK ||
            dur_wal_durable_lsn(c->w) < lsn)
            c->failures++;
    }
    return NULL;
}

static int hook_calls;
static dur_code hold_first_leader(void *arg, dur_error *err)
{
    (void)err;
    dur_wal *w = *(dur_wal **)arg;
    if (hook_calls++ == 0) {
        /* wait (not a timing assertion) until every thread has appended */
        for (int i = 0; i < 20000 && dur_wal_last_lsn(w) < THREADS; i++) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return DUR_OK;
}

static void run_threads(dur_wal *w, int per_thread)
{
    pthread_t th[THREADS];
    ctx c[THREADS];
    for (int i = 0; i < THREADS; i++) {
        c[i] = (ctx){.w = w, .id = i, .count = per_thread};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &c[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(c[i].failures, 0);
    }
}

static void check_records(dur_dir *d, int per_thread)
{
    tu_log log;
    if (tu_read_log(d, "wal", DUR_READ_STRICT, 0, &log) != DUR_OK)
        fail_msg("read: %s", log.err.msg);
    assert_int_equal(log.n, THREADS * per_thread);
    int next[THREADS] = {0};
    for (size_t i = 0; i < log.n; i++) {
        assert_int_equal(log.lsn[i], i + 1);
        assert_int_equal(log.len[i], 8);
        uint32_t rec[2];
        memcpy(rec, log.data[i], sizeof rec);
        assert_true(rec[0] < THREADS);
        assert_int_equal(rec[1], next[rec[0]]); /* in each thread's order, none missing */
        next[rec[0]]++;
    }
    tu_log_free(&log);
}

static void test_one_sync_covers_all_waiters(void **state)
{
    (void)state;
    dur_dir *d = real_dir();
    dur_error e;
    dur_wal *w = NULL;
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.leader_hook = hold_first_leader;
    o.leader_hook_ctx = &w;
    hook_calls = 0;
    TU_OK(dur_wal_open(d, "wal", &o, &w, NULL, &e));
    run_threads(w, 1);
    dur_wal_stats st;
    dur_wal_get_stats(w, &st);
    assert_int_equal(st.appends, THREADS);
    assert_int_equal(st.syncs, 2);
    assert_int_equal(st.synced_records, THREADS);
    assert_int_equal(hook_calls, 2);
    assert_int_equal(dur_wal_durable_lsn(w), THREADS);
    TU_OK(dur_wal_close(w, &e));
    check_records(d, 1);
    rm_real_dir(d);
}

static void test_many_threads(void **state)
{
    (void)state;
    dur_dir *d = real_dir();
    dur_error e;
    dur_wal *w = NULL;
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.segment_size = 16 * 1024; /* rotations while threads commit */
    TU_OK(dur_wal_open(d, "wal", &o, &w, NULL, &e));
    run_threads(w, PER_THREAD);
    dur_wal_stats st;
    dur_wal_get_stats(w, &st);
    print_message("%d threads x %d durable appends: %llu fdatasyncs, %.1f records per sync, "
                  "%llu segments\n",
                  THREADS, PER_THREAD, (unsigned long long)st.syncs,
                  (double)st.synced_records / (double)(st.syncs ? st.syncs : 1),
                  (unsigned long long)st.segments_created);
    assert_int_equal(st.appends, THREADS * PER_THREAD);
    assert_int_equal(st.synced_records, THREADS * PER_THREAD);
    assert_true(st.syncs < st.appends);
    assert_true(st.segments_created > 1);
    TU_OK(dur_wal_close(w, &e));
    check_records(d, PER_THREAD);
    rm_real_dir(d);
}

/* ---- group commit on the crash simulator, then a power cut ---- */
#define CT 8
#define CPER 60
static uint32_t lsn_owner[CT * CPER + 1][2]; /* LSN -> (thread, seq); LSNs are unique */
static bool lsn_acked[CT * CPER + 1];

typedef struct cjob {
    dur_wal *w;
    int id;
    int failures;
} cjob;

static void *crash_worker(void *arg)
{
    cjob *c = arg;
    dur_error e;
    for (int i = 0; i < CPER; i++) {
        uint32_t rec[2] = {(uint32_t)c->id, (uint32_t)i};
        uint64_t lsn = 0;
        if (dur_wal_append(c->w, 4, rec, sizeof rec, &lsn, &e) != DUR_OK) {
            c->failures++;
            continue;
        }
        lsn_owner[lsn][0] = rec[0];
        lsn_owner[lsn][1] = rec[1];
        if (i % 3 != 0) {
            if (dur_wal_sync(c->w, lsn, &e) == DUR_OK)
                lsn_acked[lsn] = true;
            else
                c->failures++;
        }
    }
    return NULL;
}

/* Returns the number of acknowledged records lost (or -1 if the log is unreadable). */
static int threads_then_cut(uint64_t seed, bool torn)
{
    dur_error e;
    dur_dir *d = NULL;
    TU_OK(dur_dir_new_crash(seed, &d, &e));
    memset(lsn_owner, 0xFF, sizeof lsn_owner);
    memset(lsn_acked, 0, sizeof lsn_acked);
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.segment_size = 512; /* rotations race with leaders */
    o.buffer_size = 128;
    dur_wal *w = NULL;
    TU_OK(dur_wal_open(d, "wal", &o, &w, NULL, &e));
    pthread_t th[CT];
    cjob c[CT];
    for (int i = 0; i < CT; i++) {
        c[i] = (cjob){.w = w, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, crash_worker, &c[i]), 0);
    }
    for (int i = 0; i < CT; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(c[i].failures, 0);
    }
    dur_crash_options co = {.torn_tails = torn, .keep_garbage = torn};
    dur_crash_power_cut(d, &co);
    (void)dur_wal_close(w, &e); /* fails: its files died with the power */
    int lost = 0;
    if (dur_wal_open(d, "wal", NULL, &w, NULL, &e) != DUR_OK) {
        dur_dir_close(d);
        return -1;
    }
    (void)dur_wal_close(w, &e);
    tu_log log;
    assert_int_equal(tu_read_log(d, "wal", DUR_READ_STRICT, 0, &log), DUR_OK);
    for (size_t i = 0; i < log.n; i++) {
        uint64_t lsn = log.lsn[i];
        assert_int_equal(lsn, i + 1);
        uint32_t rec[2];
        memcpy(rec, log.data[i], sizeof rec);
        assert_int_equal(rec[0], lsn_owner[lsn][0]);
        assert_int_equal(rec[1], lsn_owner[lsn][1]);
    }
    for (uint64_t lsn = log.n + 1; lsn <= CT * CPER; lsn++)
        lost += lsn_acked[lsn];
    tu_log_free(&log);
    dur_dir_close(d);
    return lost;
}

static void test_threads_then_power_cut(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 10; seed++)
        assert_int_equal(threads_then_cut(seed, seed % 2 == 0), 0);
    /* sensitivity: without the segment fdatasync acknowledged records are lost */
    dur_test_set_skip(DUR_SKIP_WAL_SYNC);
    int lost = threads_then_cut(99, false);
    dur_test_set_skip(DUR_SKIP_NONE);
    print_message("with DUR_SKIP_WAL_SYNC: %d acknowledged records lost (expected > 0)\n", lost);
    assert_true(lost != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_sync_covers_all_waiters),
        cmocka_unit_test(test_many_threads),
        cmocka_unit_test(test_threads_then_power_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
