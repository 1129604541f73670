/* dur_recover and dur_checkpoint_publish: round trip, consistency checks (missing
 * prefix, gap, WAL shorter than the checkpoint), callback errors, torn-tail repair
 * and its idempotence, and publish under a failure at every step. */
#include "model.h"

#include "durability/testing.h"

#include <errno.h>
#include <pthread.h>
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

static void open_wal(dur_dir *d, dur_wal **w)
{
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.segment_size = 512;
    dur_error err;
    assert_int_equal(dur_wal_open(d, WAL, &o, w, NULL, &err), DUR_OK);
}

static void append_n(model *m, dur_wal *w, int n, bool durable)
{
    dur_error err;
    for (int i = 0; i < n; i++)
        assert_int_equal(model_append(m, w, durable, &err), DUR_OK);
}

static dur_code recover_check(dur_dir *d, const model *m, dur_read_mode mode, bool repair,
                              model_check *c, dur_recovery_report *rep, dur_error *err)
{
    model_check_init(c, m);
    dur_recovery_options ro = {WAL, CKPT, mode, repair};
    dur_recovery_callbacks cb = model_check_callbacks(c);
    return dur_recover(d, &ro, &cb, rep, err);
}

static void cut(dur_dir *crash, bool torn)
{
    dur_crash_options co = {torn, torn};
    dur_crash_power_cut(crash, &co);
}

/* A WAL of 60 records with a checkpoint at 25, closed cleanly. */
static void build(dur_dir *d, model *m, uint64_t seed)
{
    dur_wal *w;
    dur_error err;
    model_init(m, seed);
    open_wal(d, &w);
    append_n(m, w, 40, false);
    assert_int_equal(model_publish(m, w, d, CKPT, 25, &err), DUR_OK);
    append_n(m, w, 20, false);
    assert_int_equal(dur_wal_close(w, &err), DUR_OK);
    m->acked = m->last; /* close synced everything */
}

static void test_empty_directory(void **state)
{
    (void)state;
    dur_dir *d;
    dur_error err;
    assert_int_equal(dur_dir_new_crash(1, &d, &err), DUR_OK);
    model m;
    model_init(&m, 1);
    model_check c;
    dur_recovery_report rep;
    assert_int_equal(recover_check(d, &m, DUR_READ_STRICT, true, &c, &rep, &err), DUR_OK);
    assert_false(rep.checkpoint_found);
    assert_int_equal(rep.records_replayed, 0);
    assert_int_equal(rep.last_lsn, 0);
    assert_true(model_check_final(&c));
    dur_dir_close(d);
}

static void test_round_trip_report(void **state)
{
    (void)state;
    dur_dir *d;
    dur_error err;
    assert_int_equal(dur_dir_new_crash(2, &d, &err), DUR_OK);
    model m;
    build(d, &m, 2);
    model_check c;
    dur_recovery_report rep;
    assert_int_equal(recover_check(d, &m, DUR_READ_STRICT, false, &c, &rep, &err), DUR_OK);
    assert_true(model_check_final(&c));
    assert_true(rep.checkpoint_found);
    assert_int_equal(rep.checkpoint_lsn, 25);
    assert_string_equal(rep.checkpoint_name, "checkpoint-00000000000000000025.ckpt");
    assert_int_equal(rep.first_lsn, 26);
    assert_int_equal(rep.last_lsn, m.last); /* 60 records + 1 marker */
    assert_int_equal(m.last, 61);
    assert_int_equal(rep.records_replayed, 61 - 25); /* the marker is passed through */
    assert_int_equal(c.lsn, 61);
    assert_true(rep.segments >= 1);
    /* Segments wholly below the checkpoint are gone: recovery needs only the suffix. */
    dur_wal_reader *r;
    assert_int_equal(dur_wal_reader_open(d, WAL, DUR_READ_STRICT, 0, &r, &err), DUR_OK);
    dur_wal_record rec;
    bool eof;
    assert_int_equal(dur_wal_reader_next(r, &rec, &eof, &err), DUR_OK);
    assert_false(eof);
    assert_true(rec.lsn > 1 && rec.lsn <= 26);
    dur_wal_reader_close(r);
    model_free(&m);
    dur_dir_close(d);
}

static int stop_after;
static dur_code stopping_record(void *ctx, const dur_wal_record *rec, dur_error *err)
{
    (void)rec;
    int *seen = ctx;
    if (++*seen == stop_after)
        return dur_error_set(err, DUR_E_INVAL, 0, NULL, "application refused record");
    return DUR_OK;
}

static void test_callback_error_stops(void **state)
{
    (void)state;
    dur_dir *d;
    dur_error err;
    assert_int_equal(dur_dir_new_crash(3, &d, &err), DUR_OK);
    model m;
    build(d, &m, 3);
    int seen = 0;
    stop_after = 3;
    dur_recovery_options ro = {WAL, CKPT, DUR_READ_STRICT, false};
    dur_recovery_callbacks cb = {NULL, stopping_record, &seen};
    dur_recovery_report rep;
    assert_int_equal(dur_recover(d, &ro, &cb, &rep, &err), DUR_E_INVAL);
    assert_string_equal(err.msg, "application refused record");
    assert_int_equal(seen, 3);
    model_free(&m);
    dur_dir_close(d);
}

static void remove_ckpt(dur_dir *d, uint64_t lsn)
{
    char path[128];
    dur_error err;
    snprintf(path, sizeof(path), CKPT "/checkpoint-%020" PRIu64 ".ckpt", lsn);
    assert_int_equal(dur_dir_remove(d, path, &err), DUR_OK);
}

static void test_missing_prefix_and_gap_are_corruption(void **state)
{
    (void)state;
    dur_dir *d;
    dur_error err;
    assert_int_equal(dur_dir_new_crash(4, &d, &err), DUR_OK);
    model m;
    build(d, &m, 4);
    model_check c;
    dur_recovery_report rep;
    /* No checkpoint left, WAL truncated: LSN 1.. is covered by nothing. */
    remove_ckpt(d, 25);
    for (int mode = 0; mode < 2; mode++) {
        assert_int_equal(recover_check(d, &m, (dur_read_mode)mode, false, &c, &rep, &err),
                         DUR_E_CORRUPT);
        assert_non_null(strstr(err.msg, "no checkpoint covers LSN 1.."));
    }
    /* An older checkpoint that does not reach the WAL's first record: a gap. */
    uint8_t payload[MODEL_CKPT_PAYLOAD];
    model_ckpt_payload(&m, 3, payload);
    assert_int_equal(dur_checkpoint_write(d, CKPT, 3, payload, sizeof(payload), &err), DUR_OK);
    assert_int_equal(recover_check(d, &m, DUR_READ_BEST_EFFORT, true, &c, &rep, &err),
                     DUR_E_CORRUPT);
    assert_non_null(strstr(err.msg, "missing"));
    assert_non_null(strstr(err.msg, "checkpoint-00000000000000000003.ckpt"));
    /* A checkpoint beyond the end of the WAL: a writer would reuse LSNs. */
    for (uint64_t l = m.last + 1; l <= 100; l++)
        model_note_user(&m, l);
    model_ckpt_payload(&m, 100, payload);
    assert_int_equal(dur_checkpoint_write(d, CKPT, 100, payload, sizeof(payload), &err), DUR_OK);
    assert_int_equal(recover_check(d, &m, DUR_READ_STRICT, false, &c, &rep, &err), DUR_E_CORRUPT);
    assert_non_null(strstr(err.msg, "reuse"));
    model_free(&m);
    dur_dir_close(d);
}

static void last_segment(dur_dir *d, char *path, size_t size)
{
    dur_names names;
    dur_error err;
    assert_int_equal(dur_dir_list(d, WAL, &names, &err), DUR_OK);
    const char *last = NULL;
    for (size_t i = 0; i < names.count; i++)
        if (strncmp(names.names[i], "wal-", 4) == 0)
            last = names.names[i];
    assert_non_null(last);
    snprintf(path, size, WAL "/%s", last);
    dur_names_free(&names);
}

static void test_torn_tail_repair_is_idempotent(void **state)
{
    (void)state;
    dur_dir *d;
    dur_error err;
    assert_int_equal(dur_dir_new_crash(5, &d, &err), DUR_OK);
    model m;
    build(d, &m, 5);
    /* A torn frame: 11 bytes of a frame header, durable. */
    char seg[300];
    last_segment(d, seg, sizeof(seg));
    dur_file *f;
    assert_int_equal(dur_dir_open(d, seg, DUR_O_WRITE, &f, &err), DUR_OK);
    uint64_t size0;
    assert_int_equal(f->ops->size(f, &size0, &err), DUR_OK);
    assert_int_equal(dur_file_append(f, "\x20\0\0\0\x07\0\0\0\x3e\0\0", 11, &err), DUR_OK);
    assert_int_equal(f->ops->sync_data(f, &err), DUR_OK);
    dur_file_close(f);

    model_check c;
    dur_recovery_report rep;
    assert_int_equal(recover_check(d, &m, DUR_READ_STRICT, true, &c, &rep, &err), DUR_E_CORRUPT);
    /* Read-only best effort: same records, nothing cut. */
    assert_int_equal(recover_check(d, &m, DUR_READ_BEST_EFFORT, false, &c, &rep, &err), DUR_OK);
    assert_true(model_check_final(&c));
    assert_int_equal(rep.bytes_cut, 0);
    uint64_t digest = c.digest;
    /* Repair cuts the 11 bytes, durably. */
    assert_int_equal(recover_check(d, &m, DUR_READ_BEST_EFFORT, true, &c, &rep, &err), DUR_OK);
    assert_true(model_check_final(&c));
    assert_int_equal(rep.bytes_cut, 11);
    assert_int_equal(c.digest, digest);
    cut(d, true);
    /* Again: nothing left to cut, same sequence, and now strict is happy too. */
    assert_int_equal(recover_check(d, &m, DUR_READ_BEST_EFFORT, true, &c, &rep, &err), DUR_OK);
    assert_int_equal(rep.bytes_cut, 0);
    assert_int_equal(c.digest, digest);
    assert_int_equal(recover_check(d, &m, DUR_READ_STRICT, false, &c, &rep, &err), DUR_OK);
    assert_int_equal(c.digest, digest);
    model_free(&m);
    dur_dir_close(d);
}

static unsigned count_names(dur_dir *d, const char *path, const char *prefix)
{
    dur_names names;
    dur_error err;
    if (dur_dir_list(d, path, &names, &err) != DUR_OK)
        return 0;
    unsigned n = 0;
    for (size_t i = 0; i < names.count; i++)
        if (strncmp(names.names[i], prefix, strlen(prefix)) == 0 &&
            !strstr(names.names[i], ".tmp."))
            n++;
    dur_names_free(&names);
    return n;
}

/* One publish with the nth operation of kind op failing.  Returns whether it hit. */
static bool publish_with_fault(dur_fault_op op, uint64_t nth)
{
    dur_dir *crash, *fd;
    dur_error err;
    assert_int_equal(dur_dir_new_crash(6, &crash, &err), DUR_OK);
    assert_int_equal(dur_dir_new_fault(crash, false, &fd, &err), DUR_OK);
    model m;
    model_init(&m, 6);
    dur_wal *w;
    open_wal(fd, &w);
    append_n(&m, w, 30, false);
    assert_int_equal(model_publish(&m, w, fd, CKPT, 12, &err), DUR_OK);
    append_n(&m, w, 25, true);
    append_n(&m, w, 5, false);
    unsigned segs0 = count_names(crash, WAL, "wal-");
    uint64_t before = dur_wal_last_lsn(w);

    uint64_t calls0 = dur_fault_count(fd, op);
    dur_fault_arm(fd, op, nth, op == DUR_FAULT_WRITE ? ENOSPC : EIO);
    dur_code rc = model_publish(&m, w, fd, CKPT, before - 3, &err);
    bool hit = dur_fault_count(fd, op) - calls0 >= nth;
    dur_fault_disarm_all(fd);
    if (hit) {
        if (rc == DUR_OK)
            fail_msg("fault %d #%" PRIu64 " was swallowed by publish", (int)op, nth);
        bool marker_durable = dur_wal_durable_lsn(w) > before;
        if (!marker_durable) {
            /* Nothing may have been deleted before the marker was durable. */
            assert_true(count_names(crash, WAL, "wal-") >= segs0);
            assert_int_equal(count_names(crash, CKPT, "checkpoint-") >= 1, 1);
            char old[128];
            snprintf(old, sizeof(old), CKPT "/checkpoint-%020d.ckpt", 12);
            bool exists = false;
            assert_int_equal(dur_dir_exists(crash, old, &exists, &err), DUR_OK);
            assert_true(exists);
        }
    } else {
        assert_int_equal(rc, DUR_OK);
    }
    dur_wal_close(w, &err);
    cut(crash, true);
    model_check c;
    dur_recovery_report rep;
    rc = recover_check(crash, &m, DUR_READ_BEST_EFFORT, true, &c, &rep, &err);
    if (rc != DUR_OK)
        fail_msg("fault %d #%" PRIu64 ": recovery failed: %s %s", (int)op, nth, err.msg, c.why);
    if (!model_check_final(&c))
        fail_msg("fault %d #%" PRIu64 ": %s", (int)op, nth, c.why);
    model_free(&m);
    dur_dir_close(fd);
    dur_dir_close(crash);
    return hit;
}

static void test_publish_fails_at_every_step(void **state)
{
    (void)state;
    /* Minimum number of calls of each kind publish must make (so each one's failure
     * was injected): writes = temp file + marker; syncs = WAL sync, temp file, checkpoint
     * dir, marker, WAL dir after deletes, checkpoint dir after deletes; rename = atomic
     * write; removes = covered segments + the older checkpoint. */
    struct {
        const char *name;
        dur_fault_op op;
        unsigned min;
    } kinds[] = {
        {"open", DUR_FAULT_OPEN, 1},     {"write", DUR_FAULT_WRITE, 2},
        {"sync", DUR_FAULT_SYNC, 6},     {"rename", DUR_FAULT_RENAME, 1},
        {"remove", DUR_FAULT_REMOVE, 2}, {"list", DUR_FAULT_LIST, 1},
        {"mkdir", DUR_FAULT_MKDIR, 0},   {"truncate", DUR_FAULT_TRUNCATE, 0},
    };
    unsigned total = 0;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        uint64_t nth = 1;
        while (publish_with_fault(kinds[i].op, nth) && nth < 64)
            nth++;
        printf("publish: %s failed at each of its %u calls; recovery complete after each\n",
               kinds[i].name, (unsigned)(nth - 1));
        if (nth - 1 < kinds[i].min)
            fail_msg("publish made only %u %s calls, expected >= %u", (unsigned)(nth - 1),
                     kinds[i].name, kinds[i].min);
        total += (unsigned)(nth - 1);
    }
    assert_true(total >= 13);
}

/* ---- publish concurrent with durable appends from several threads ---- */
#define CONC_THREADS 4
#define CONC_PER_THREAD 250

typedef struct conc_worker {
    dur_wal *w;
    uint32_t id;
    bool failed;
} conc_worker;

static void *conc_append(void *arg)
{
    conc_worker *k = arg;
    dur_error err;
    for (uint32_t seq = 0; seq < CONC_PER_THREAD; seq++) {
        uint32_t rec[2] = {k->id, seq};
        if (dur_wal_append_durable(k->w, 1, rec, sizeof(rec), NULL, &err) != DUR_OK)
            k->failed = true;
    }
    return NULL;
}

typedef struct conc_state {
    uint64_t users; /* user records covered by the checkpoint + replayed */
    int64_t last_seq[CONC_THREADS];
    bool bad;
} conc_state;

static dur_code conc_cp(void *ctx, const dur_checkpoint *cp, dur_error *err)
{
    (void)err;
    conc_state *s = ctx;
    for (int i = 0; i < CONC_THREADS; i++)
        s->last_seq[i] = -1;
    if (cp) {
        if (cp->len != 8)
            s->bad = true;
        else
            memcpy(&s->users, cp->payload, 8);
    }
    return DUR_OK;
}

static dur_code conc_rec(void *ctx, const dur_wal_record *rec, dur_error *err)
{
    (void)err;
    conc_state *s = ctx;
    if (rec->type == DUR_WAL_TYPE_CHECKPOINT)
        return DUR_OK;
    uint32_t v[2];
    if (rec->len != sizeof(v)) {
        s->bad = true;
        return DUR_OK;
    }
    memcpy(v, rec->payload, sizeof(v));
    /* Each thread's records appear in its own order without holes. */
    if (v[0] >= CONC_THREADS || (s->last_seq[v[0]] >= 0 && (int64_t)v[1] != s->last_seq[v[0]] + 1))
        s->bad = true;
    else
        s->last_seq[v[0]] = v[1];
    s->users++;
    return DUR_OK;
}

static void test_publish_concurrent_with_appends(void **state)
{
    (void)state;
    dur_dir *d;
    dur_error err;
    assert_int_equal(dur_dir_new_crash(8, &d, &err), DUR_OK);
    dur_wal *w;
    open_wal(d, &w);
    conc_worker k[CONC_THREADS];
    pthread_t tid[CONC_THREADS];
    for (uint32_t i = 0; i < CONC_THREADS; i++) {
        k[i] = (conc_worker){w, i, false};
        assert_int_equal(pthread_create(&tid[i], NULL, conc_append, &k[i]), 0);
    }
    /* Every earlier marker has an LSN <= the next checkpoint's (taken after it), so the
     * user records covered are lsn - markers published so far. */
    uint64_t markers = 0;
    for (int c = 0; c < 12; c++) {
        uint64_t lsn = dur_wal_last_lsn(w);
        uint64_t users = lsn - markers;
        assert_int_equal(dur_checkpoint_publish(w, d, CKPT, lsn, &users, 8, &err), DUR_OK);
        markers++;
    }
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(tid[i], NULL);
        assert_false(k[i].failed);
    }
    assert_int_equal(dur_wal_close(w, &err), DUR_OK);
    cut(d, true);
    conc_state s;
    memset(&s, 0, sizeof(s));
    dur_recovery_options ro = {WAL, CKPT, DUR_READ_STRICT, false};
    dur_recovery_callbacks cb = {conc_cp, conc_rec, &s};
    dur_recovery_report rep;
    assert_int_equal(dur_recover(d, &ro, &cb, &rep, &err), DUR_OK);
    assert_false(s.bad);
    assert_true(rep.checkpoint_found);
    assert_int_equal(s.users, CONC_THREADS * CONC_PER_THREAD);
    dur_dir_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_directory),
        cmocka_unit_test(test_round_trip_report),
        cmocka_unit_test(test_callback_error_stops),
        cmocka_unit_test(test_missing_prefix_and_gap_are_corruption),
        cmocka_unit_test(test_torn_tail_repair_is_idempotent),
        cmocka_unit_test(test_publish_fails_at_every_step),
        cmocka_unit_test(test_publish_concurrent_with_appends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
