/* Crash tests of the WAL on the crash simulator.
 *
 * A deterministic workload (appends, durable appends, syncs, flushes, rotations of
 * tiny segments and explicit ones, truncations) runs on a crash dir.  Power is cut right after sync
 * point k for every k the workload performs, and at random operations with torn
 * tails (random prefix of unsynced bytes, possibly ending in garbage or zeros).
 * After each cut the WAL is reopened and must hold a contiguous run of exactly the
 * records appended (payloads derive from the LSN), ending at or after the last LSN
 * acknowledged durable and never beyond the last appended.
 *
 * Seeds alternate between no zero fill (half of those with reserve_bytes) and two
 * zero_fill_bytes settings.
 *
 * Sensitivity: with DUR_SKIP_WAL_SYNC, DUR_SKIP_WAL_DIR_SYNC or DUR_SKIP_WAL_TRIM_SYNC
 * the same check must find a lost acknowledged record or an unreadable log -- proof
 * that the test depends on those syncs.
 */
#include "wal_test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define WAL_DIR "db/wal"

/* Coverage counters, printed so a reader can see the runs exercise something. */
static unsigned long g_runs, g_torn_runs, g_acked_records, g_rotations;

/* --many (suite 'slow'): more seeds for the same tests. */
static uint64_t g_seeds = 3, g_random_runs = 300;
#define MAX_PAYLOAD 100

typedef struct run {
    uint64_t seed;
    dur_dir *crash;
    dur_dir *fence;
    uint64_t cut_at_sync; /* cut right after this sync point (UINT64_MAX: never) */
    uint64_t cut_at_op;   /* or before this operation (UINT64_MAX: never) */
    dur_crash_options copts;
    bool cut_done;
    uint64_t acked;     /* highest LSN acknowledged durable */
    uint64_t appended;  /* highest LSN whose append returned OK */
    uint64_t truncated; /* highest lsn passed to truncate_below */
    uint64_t syncs_seen;
    uint64_t zero_fill; /* the writer's zero_fill_bytes */
    int ops;
} run;

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void cut(run *r)
{
    if (r->cut_done)
        return;
    r->cut_done = true;
    tu_fence_kill(r->fence); /* the dying writer must not touch the rebooted tree */
    dur_crash_power_cut(r->crash, &r->copts);
}

static void on_sync(void *ctx, uint64_t idx)
{
    run *r = ctx;
    r->syncs_seen = idx + 1;
    if (idx == r->cut_at_sync)
        cut(r);
}

static uint8_t type_of(uint64_t lsn)
{
    return (uint8_t)(1 + lsn % 200);
}

/* Run the workload until it ends or fails after the cut.  Returns false if an
 * operation failed although no cut happened (a bug). */
static bool workload(run *r)
{
    dur_error e;
    dur_wal_options o;
    dur_wal_options_default(&o);
    uint64_t s = r->seed;
    o.segment_size = 512;
    o.buffer_size = 64 + rng(&s) % 400;
    o.flush_policy = (dur_flush_policy)(rng(&s) % 4);
    o.every_n = 3;
    o.interval_ms = 1;
    o.prealloc_bytes = rng(&s) % 2 ? 1024 : 0;
    o.zero_fill_bytes = r->zero_fill;
    /* without fill, half the runs reserve room instead (its trim at rotation) */
    o.reserve_bytes = r->zero_fill == 0 && rng(&s) % 2 ? 300 : 0;
    dur_wal *w = NULL;
    if (dur_wal_open(r->fence, WAL_DIR, &o, &w, NULL, &e) != DUR_OK)
        return r->cut_done;
    bool ok = true;
    uint8_t buf[MAX_PAYLOAD];
    for (int i = 0; i < r->ops; i++) {
        if ((uint64_t)i == r->cut_at_op)
            cut(r);
        unsigned op = (unsigned)(rng(&s) % 100);
        uint64_t lsn = r->appended + 1;
        size_t len = tu_payload(r->seed, lsn, MAX_PAYLOAD, buf);
        dur_code rc;
        uint64_t got = 0;
        if (op < 60) {
            rc = dur_wal_append(w, type_of(lsn), buf, len, &got, &e);
            if (rc == DUR_OK)
                r->appended = got;
        } else if (op < 85) {
            rc = dur_wal_append(w, type_of(lsn), buf, len, &got, &e);
            if (rc == DUR_OK) {
                r->appended = got;
                rc = dur_wal_sync(w, got, &e);
                if (rc == DUR_OK)
                    r->acked = got;
            }
        } else if (op < 93) {
            uint64_t upto = r->appended;
            rc = dur_wal_sync(w, 0, &e);
            if (rc == DUR_OK)
                r->acked = upto;
        } else if (op < 96) {
            rc = dur_wal_flush(w, &e);
        } else if (op < 98) {
            uint64_t upto = r->appended;
            rc = dur_wal_rotate(w, &e); /* syncs the old segment */
            if (rc == DUR_OK)
                r->acked = upto;
        } else {
            uint64_t below = r->acked / 2;
            if (below > r->truncated) /* even a failed attempt may have deleted some */
                r->truncated = below;
            rc = dur_wal_truncate_below(w, below, &e);
        }
        if (rc == DUR_OK && r->acked > dur_wal_durable_lsn(w)) {
            ok = false; /* acknowledged beyond what the writer itself claims durable */
            break;
        }
        if (rc != DUR_OK) {
            ok = r->cut_done;
            break;
        }
    }
    if (ok && !r->cut_done)
        cut(r); /* the workload ended: cut now, with whatever is unsynced */
    (void)dur_wal_close(w, &e);
    return ok;
}

/* Reopen after the cut and check the log.  Returns NULL when fine, else a message. */
static const char *verify(run *r, char *msg, size_t msz)
{
    dur_error e;
    dur_wal *w = NULL;
    dur_wal_open_report rep;
    if (dur_wal_open(r->crash, WAL_DIR, NULL, &w, &rep, &e) != DUR_OK) {
        char b[1024];
        snprintf(msg, msz, "reopen failed: %s", dur_error_format(&e, b, sizeof b));
        return msg;
    }
    g_runs++;
    g_acked_records += r->acked;
    if (rep.bytes_cut)
        g_torn_runs++;
    if (rep.segments > 1)
        g_rotations++;
    tu_log log;
    dur_code rc = tu_read_log(r->crash, WAL_DIR, DUR_READ_STRICT, 0, &log);
    const char *bad = NULL;
    uint8_t buf[MAX_PAYLOAD];
    if (rc != DUR_OK) {
        snprintf(msg, msz, "strict read after reopen failed: %s", log.err.msg);
        bad = msg;
    }
    uint64_t first = log.n ? log.lsn[0] : 0, last = log.n ? log.lsn[log.n - 1] : 0;
    for (size_t i = 0; !bad && i < log.n; i++) {
        size_t len = tu_payload(r->seed, log.lsn[i], MAX_PAYLOAD, buf);
        if (log.lsn[i] != first + i || log.type[i] != type_of(log.lsn[i]) || log.len[i] != len ||
            memcmp(log.data[i], buf, len) != 0) {
            snprintf(msg, msz, "record %zu (LSN %llu) is not what was appended", i,
                     (unsigned long long)log.lsn[i]);
            bad = msg;
        }
    }
    if (!bad && last < r->acked) {
        snprintf(msg, msz, "lost acknowledged records: last LSN %llu < acked %llu",
                 (unsigned long long)last, (unsigned long long)r->acked);
        bad = msg;
    }
    if (!bad && last > r->appended) {
        snprintf(msg, msz, "LSN %llu was never appended", (unsigned long long)last);
        bad = msg;
    }
    if (!bad && log.n && first > (r->truncated > 1 ? r->truncated : 1)) {
        snprintf(msg, msz, "log starts at LSN %llu, truncation allowed only below %llu",
                 (unsigned long long)first, (unsigned long long)r->truncated);
        bad = msg;
    }
    if (!bad && rep.last_lsn != last) {
        snprintf(msg, msz, "open report says last LSN %llu, log ends at %llu",
                 (unsigned long long)rep.last_lsn, (unsigned long long)last);
        bad = msg;
    }
    /* The resumed writer continues the LSN sequence. */
    if (!bad) {
        uint64_t lsn = 0;
        if (dur_wal_append_durable(w, 7, "again", 5, &lsn, &e) != DUR_OK ||
            lsn != rep.last_lsn + 1) {
            snprintf(msg, msz, "append after resume failed or got LSN %llu",
                     (unsigned long long)lsn);
            bad = msg;
        }
    }
    tu_log_free(&log);
    (void)dur_wal_close(w, &e);
    return bad;
}

/* One run: returns NULL or a violation message. */
static const char *one_run(uint64_t seed, int ops, uint64_t cut_sync, uint64_t cut_op, bool torn,
                           uint64_t *syncs, char *msg, size_t msz)
{
    dur_error e;
    /* A third of the seeds each without zero fill, with a fill shorter than a
     * segment, and with one that reaches the segment's end. */
    static const uint64_t fills[3] = {0, 200, 4096};
    run r = {.seed = seed,
             .cut_at_sync = cut_sync,
             .cut_at_op = cut_op,
             .ops = ops,
             .zero_fill = fills[seed % 3]};
    r.copts.torn_tails = torn;
    r.copts.keep_garbage = torn;
    if (dur_dir_new_crash(seed ^ 0xC0FFEE, &r.crash, &e) != DUR_OK)
        fail_msg("crash dir: %s", e.msg);
    r.fence = tu_fence_new(r.crash);
    dur_crash_set_sync_hook(r.crash, on_sync, &r);
    const char *bad = NULL;
    if (!workload(&r)) {
        snprintf(msg, msz, "seed %llu: an operation failed before any power cut",
                 (unsigned long long)seed);
        bad = msg;
    }
    dur_crash_set_sync_hook(r.crash, NULL, NULL);
    if (syncs)
        *syncs = r.syncs_seen;
    if (!bad)
        bad = verify(&r, msg, msz);
    tu_fence_free(r.fence);
    dur_dir_close(r.crash);
    return bad;
}

static void every_sync_point(bool torn)
{
    char msg[512];
    for (uint64_t seed = 1; seed <= g_seeds; seed++) {
        uint64_t n = 0;
        const char *bad = one_run(seed, 120, UINT64_MAX, UINT64_MAX, false, &n, msg, sizeof msg);
        if (bad)
            fail_msg("seed %llu, no cut: %s", (unsigned long long)seed, bad);
        assert_true(n > 20); /* the workload does sync, rotate and truncate */
        for (uint64_t k = 0; k < n; k++) {
            bad = one_run(seed, 120, k, UINT64_MAX, torn, NULL, msg, sizeof msg);
            if (bad)
                fail_msg("seed %llu, cut after sync point %llu of %llu: %s",
                         (unsigned long long)seed, (unsigned long long)k, (unsigned long long)n,
                         bad);
        }
    }
}

static void print_coverage(void)
{
    print_message("%lu reopens, %lu with a torn tail cut, %lu with >1 segment, %lu records "
                  "acknowledged in total\n",
                  g_runs, g_torn_runs, g_rotations, g_acked_records);
    g_runs = g_torn_runs = g_rotations = g_acked_records = 0;
}

static void test_cut_at_every_sync_point(void **state)
{
    (void)state;
    every_sync_point(false);
    print_coverage();
}

static void test_cut_at_every_sync_point_torn(void **state)
{
    (void)state;
    every_sync_point(true);
    print_coverage();
}

static void test_cut_at_random_ops_torn(void **state)
{
    (void)state;
    char msg[512];
    uint64_t s = 42;
    for (uint64_t i = 0; i < g_random_runs; i++) {
        uint64_t seed = 100000 * (g_seeds > 3) + 100 + i;
        uint64_t op = rng(&s) % 150;
        const char *bad = one_run(seed, 150, UINT64_MAX, op, true, NULL, msg, sizeof msg);
        if (bad)
            fail_msg("seed %llu, cut before op %llu: %s", (unsigned long long)seed,
                     (unsigned long long)op, bad);
    }
    print_coverage();
}

/* With the switch on, some run must lose an acknowledged record (or be unreadable). */
static void expect_violation(unsigned skip)
{
    char msg[512];
    int violations = 0, runs = 0;
    dur_test_set_skip(skip);
    for (uint64_t seed = 1; seed <= 20; seed++, runs++) {
        if (one_run(seed, 120, UINT64_MAX, UINT64_MAX, false, NULL, msg, sizeof msg)) {
            if (violations++ == 0)
                print_message("first violation (expected): %s\n", msg);
        }
    }
    dur_test_set_skip(DUR_SKIP_NONE);
    print_message("skip mask %u: %d of %d runs lost acknowledged records\n", skip, violations,
                  runs);
    assert_true(violations > 0);
    /* And the same runs are clean with the sync in place. */
    for (uint64_t seed = 1; seed <= 20; seed++) {
        const char *bad = one_run(seed, 120, UINT64_MAX, UINT64_MAX, false, NULL, msg, sizeof msg);
        if (bad)
            fail_msg("seed %llu without skip: %s", (unsigned long long)seed, bad);
    }
}

static void test_sensitivity_skip_wal_sync(void **state)
{
    (void)state;
    expect_violation(DUR_SKIP_WAL_SYNC);
}

static void test_sensitivity_skip_wal_dir_sync(void **state)
{
    (void)state;
    expect_violation(DUR_SKIP_WAL_DIR_SYNC);
}

/* Without the fsync after trimming a rotated segment, a cut can leave zero fill
 * inside a segment that is no longer the last: the reopen must then fail. */
static void test_sensitivity_skip_wal_trim_sync(void **state)
{
    (void)state;
    expect_violation(DUR_SKIP_WAL_TRIM_SYNC);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--many") == 0) {
        g_seeds = 60;
        g_random_runs = 20000;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_at_every_sync_point),
        cmocka_unit_test(test_cut_at_every_sync_point_torn),
        cmocka_unit_test(test_cut_at_random_ops_torn),
        cmocka_unit_test(test_sensitivity_skip_wal_sync),
        cmocka_unit_test(test_sensitivity_skip_wal_dir_sync),
        cmocka_unit_test(test_sensitivity_skip_wal_trim_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
