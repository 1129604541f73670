/* The whole-library crash loop.
 *
 * A seeded, model-based workload (appends, durable appends, syncs, flushes,
 * checkpoints whose payload is the model state, truncations; segments small enough
 * to rotate every few records) runs on the crash simulator.  For every sync point k
 * the workload is re-run and the power cut right after sync k (with and without torn
 * tails); also at random points with torn tails.  dur_recover must then give a state
 * equal to the model's at some prefix that includes every record acknowledged
 * durable.  Then the power is cut during that recovery, at each of its own sync
 * points, and a second recovery must stream exactly the same sequence.
 *
 * With a sync removed (DUR_SKIP_WAL_SYNC, DUR_SKIP_ATOMIC_DIR_SYNC) the same loop
 * must find a violation: that is what shows the loop can see missing syncs.
 *
 * Arguments/environment: CKPT_LOOP_SEEDS (default 4), CKPT_LOOP_OPS (default 120),
 * CKPT_LOOP_FIRST_SEED (default 1).  The failing seed is printed.
 */
#include "freeze_dir.h"
#include "model.h"

#include "durability/testing.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define WAL "wal"
#define CKPT "ckpt"
#define MAX_SYNCS 4096

typedef struct scenario {
    uint64_t seed;
    uint64_t ops;
    int64_t cut_at;     /* freeze after this workload sync index; -1 = run to the end */
    bool torn;          /* torn tails (with garbage) at the cut */
    int64_t rec_cut_at; /* freeze after this sync index during the first recovery; -1 none */
} scenario;

typedef struct outcome {
    bool ok;
    char why[400];
    uint64_t digest, lsn, records;
    /* sync indices seen (to enumerate cut points) */
    uint64_t wl_syncs[MAX_SYNCS];
    size_t n_wl;
    uint64_t rec_syncs[64];
    size_t n_rec;
} outcome;

typedef struct hook_ctx {
    dur_dir *fz;
    int64_t cut_at;
    bool in_recovery;
    outcome *out;
} hook_ctx;

static void sync_hook(void *ctx, uint64_t idx)
{
    hook_ctx *h = ctx;
    if (!h->in_recovery && h->out->n_wl < MAX_SYNCS)
        h->out->wl_syncs[h->out->n_wl++] = idx;
    if (h->in_recovery && h->out->n_rec < 64)
        h->out->rec_syncs[h->out->n_rec++] = idx;
    if (h->cut_at >= 0 && (uint64_t)h->cut_at == idx)
        freeze_dir_set(h->fz, true);
}

/* Changes what the installed sync_hook does from its next call on. */
static void hook_arm(hook_ctx *h, bool in_recovery, int64_t cut_at)
{
    h->in_recovery = in_recovery;
    h->cut_at = cut_at;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void set_why(outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_why(outcome *o, const char *fmt, ...)
{
    if (!o->ok)
        return;
    o->ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->why, sizeof(o->why), fmt, ap);
    va_end(ap);
}

/* The workload; stops at the first error (expected once frozen). */
static void workload(const scenario *sc, model *m, dur_dir *fz, outcome *o)
{
    dur_error err;
    dur_wal_options opt;
    dur_wal_options_default(&opt);
    opt.segment_size = 768;
    opt.buffer_size = 4096;
    switch (sc->seed % 3) {
    case 0:
        opt.flush_policy = DUR_FLUSH_MANUAL;
        break;
    case 1:
        opt.flush_policy = DUR_FLUSH_PER_APPEND;
        break;
    default:
        opt.flush_policy = DUR_FLUSH_EVERY_N;
        opt.every_n = 3;
    }
    dur_wal *w = NULL;
    if (dur_wal_open(fz, WAL, &opt, &w, NULL, &err) != DUR_OK) {
        if (!freeze_dir_frozen(fz))
            set_why(o, "dur_wal_open failed: %s", err.msg);
        return;
    }
    uint64_t rng = sc->seed * 2654435761u + 1, last_cp = 0;
    dur_code rc = DUR_OK;
    for (uint64_t i = 0; i < sc->ops && rc == DUR_OK; i++) {
        unsigned pick = (unsigned)(rng_next(&rng) % 100);
        uint64_t last = dur_wal_last_lsn(w);
        if (pick < 50) {
            rc = model_append(m, w, false, &err);
        } else if (pick < 70) {
            rc = model_append(m, w, true, &err);
        } else if (pick < 76) {
            rc = dur_wal_sync(w, 0, &err);
            if (rc == DUR_OK && last > m->acked)
                m->acked = last;
        } else if (pick < 80) {
            rc = dur_wal_flush(w, &err);
        } else if (pick < 92) {
            uint64_t lsn = last_cp + rng_next(&rng) % (last - last_cp + 1);
            rc = model_publish(m, w, fz, CKPT, lsn, &err);
            if (rc == DUR_OK)
                last_cp = lsn;
        } else {
            rc = dur_wal_truncate_below(w, 1 + rng_next(&rng) % (last_cp + 1), &err);
        }
        if (rc != DUR_OK && !freeze_dir_frozen(fz)) {
            char buf[400];
            set_why(o, "workload op %" PRIu64 " failed with the power on: %s", i,
                    dur_error_format(&err, buf, sizeof(buf)));
        }
    }
    freeze_dir_set(fz, true); /* the power goes off now: close must not reach the disk */
    dur_wal_close(w, &err);
}

static void recover_into(dur_dir *d, const model *m, model_check *c, dur_code *rc, dur_error *err)
{
    model_check_init(c, m);
    dur_recovery_options ro = {WAL, CKPT, DUR_READ_BEST_EFFORT, true};
    dur_recovery_callbacks cb = model_check_callbacks(c);
    dur_recovery_report rep;
    *rc = dur_recover(d, &ro, &cb, &rep, err);
}

static void run(const scenario *sc, outcome *o)
{
    memset(o, 0, sizeof(*o));
    o->ok = true;
    dur_error err;
    dur_dir *crash = NULL;
    if (dur_dir_new_crash(sc->seed, &crash, &err) != DUR_OK) {
        set_why(o, "dur_dir_new_crash: %s", err.msg);
        return;
    }
    dur_dir *fz = freeze_dir_new(crash);
    hook_ctx h = {fz, sc->cut_at, false, o};
    dur_crash_set_sync_hook(crash, sync_hook, &h);
    model m;
    model_init(&m, sc->seed);
    workload(sc, &m, fz, o);

    dur_crash_options co = {sc->torn, sc->torn};
    dur_crash_power_cut(crash, &co);
    freeze_dir_set(fz, false);

    /* First recovery, possibly cut at one of its sync points. */
    hook_arm(&h, true, sc->rec_cut_at);
    model_check c;
    dur_code rc;
    recover_into(fz, &m, &c, &rc, &err);
    if (sc->rec_cut_at >= 0) {
        dur_crash_options co2 = {true, true};
        dur_crash_power_cut(crash, &co2);
        freeze_dir_set(fz, false);
        hook_arm(&h, true, -1);
        recover_into(fz, &m, &c, &rc, &err);
    }
    dur_crash_set_sync_hook(crash, NULL, NULL);
    if (o->ok && rc != DUR_OK) {
        char buf[400];
        set_why(o, "recovery failed: %s%s%s", dur_error_format(&err, buf, sizeof(buf)),
                c.bad ? " / model: " : "", c.bad ? c.why : "");
    } else if (o->ok && !model_check_final(&c)) {
        set_why(o, "%s", c.why);
    }
    o->digest = c.digest;
    o->lsn = c.lsn;
    o->records = c.records;
    model_free(&m);
    dur_dir_close(fz);
    dur_dir_close(crash);
}

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : def;
}

typedef struct loop_result {
    uint64_t runs, violations;
    uint64_t cut_points, recovery_cuts, records_checked;
    char first[600];
} loop_result;

static void note(loop_result *r, const scenario *sc, const outcome *o, const char *what)
{
    r->violations++;
    if (r->violations == 1)
        snprintf(r->first, sizeof(r->first),
                 "seed %" PRIu64 " ops %" PRIu64 " cut_at %" PRId64 " torn %d rec_cut_at %" PRId64
                 ": %s%s",
                 sc->seed, sc->ops, sc->cut_at, sc->torn, sc->rec_cut_at, what, o->why);
}

/* Every cut point for one seed; idempotence checked on every other one (cost). */
static void loop_seed(uint64_t seed, uint64_t ops, loop_result *r)
{
    outcome *base = malloc(sizeof(*base)), *o = malloc(sizeof(*o)), *o2 = malloc(sizeof(*o2));
    if (!base || !o || !o2)
        abort();
    scenario sc = {seed, ops, -1, false, -1};
    run(&sc, base);
    r->runs++;
    r->cut_points += base->n_wl;
    if (!base->ok)
        note(r, &sc, base, "");
    uint64_t rng = seed ^ 0x5bd1e995;
    for (size_t k = 0; k < base->n_wl; k++) {
        for (int torn = 0; torn < 2; torn++) {
            scenario s1 = {seed, ops, (int64_t)base->wl_syncs[k], torn, -1};
            run(&s1, o);
            r->runs++;
            r->records_checked += o->records;
            if (!o->ok) {
                note(r, &s1, o, "");
                continue;
            }
            if ((k + (size_t)torn) % 2)
                continue;
            for (size_t j = 0; j < o->n_rec; j++) {
                scenario s2 = s1;
                s2.rec_cut_at = (int64_t)o->rec_syncs[j];
                run(&s2, o2);
                r->runs++;
                r->recovery_cuts++;
                if (!o2->ok)
                    note(r, &s2, o2, "after a crash during recovery: ");
                else if (o2->digest != o->digest || o2->lsn != o->lsn)
                    note(r, &s2, o2, "recovery is not idempotent (different record sequence)");
            }
        }
    }
    /* Random cut points between sync points, with torn tails. */
    for (int i = 0; i < 4; i++) {
        scenario s3 = {seed, 1 + rng_next(&rng) % ops, -1, true, -1};
        run(&s3, o);
        r->runs++;
        if (!o->ok)
            note(r, &s3, o, "");
    }
    free(base);
    free(o);
    free(o2);
}

static loop_result loop(void)
{
    loop_result r;
    memset(&r, 0, sizeof(r));
    uint64_t seeds = env_u64("CKPT_LOOP_SEEDS", 4), ops = env_u64("CKPT_LOOP_OPS", 120);
    uint64_t first = env_u64("CKPT_LOOP_FIRST_SEED", 1);
    for (uint64_t s = first; s < first + seeds; s++)
        loop_seed(s, ops, &r);
    return r;
}

static void test_crash_loop_clean(void **state)
{
    (void)state;
    dur_test_set_skip(DUR_SKIP_NONE);
    loop_result r = loop();
    printf("crash loop: %" PRIu64 " runs, %" PRIu64 " workload sync points cut (x2 torn),"
           " %" PRIu64 " cuts during recovery, %" PRIu64 " replayed records checked,"
           " %" PRIu64 " violations\n",
           r.runs, r.cut_points, r.recovery_cuts, r.records_checked, r.violations);
    if (r.violations)
        fail_msg("first violation: %s", r.first);
}

static void expect_violation(unsigned skip)
{
    dur_test_set_skip(skip);
    loop_result r = loop();
    dur_test_set_skip(DUR_SKIP_NONE);
    printf("skip 0x%x: %" PRIu64 " runs, %" PRIu64 " violations; e.g. %s\n", skip, r.runs,
           r.violations, r.first);
    assert_true(r.violations > 0);
}

static void test_crash_loop_sees_missing_wal_sync(void **state)
{
    (void)state;
    expect_violation(DUR_SKIP_WAL_SYNC);
}

static void test_crash_loop_sees_missing_atomic_dir_sync(void **state)
{
    (void)state;
    expect_violation(DUR_SKIP_ATOMIC_DIR_SYNC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_loop_clean),
        cmocka_unit_test(test_crash_loop_sees_missing_wal_sync),
        cmocka_unit_test(test_crash_loop_sees_missing_atomic_dir_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
