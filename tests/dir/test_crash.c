/* tests/dir: the crash simulator's durability model, and dur_atomic_write proven
 * crash-safe by cutting power after every sync point -- and proven SENSITIVE: with
 * either of its syncs skipped (test switch) the same loop finds a violation. */
#include "dir_test_util.h"
#include "durability/sync.h"
#include "durability/testing.h"

#include <errno.h>
#include <stdlib.h>

static dur_dir *new_crash(uint64_t seed)
{
    dur_error err;
    dur_dir *d;
    OK(dur_dir_new_crash(seed, &d, &err));
    return d;
}

static void cut(dur_dir *d)
{
    dur_crash_power_cut(d, NULL);
}

static bool exists(dur_dir *d, const char *p)
{
    dur_error err;
    bool ex = false;
    OK(dur_dir_exists(d, p, &ex, &err));
    return ex;
}

/* Create path with content, sync its data and its parent: fully durable. */
static void durable_write(dur_dir *d, const char *path, const char *s)
{
    dur_error err;
    dur_file *f;
    OK(dur_dir_create(d, path, &f, &err));
    OK(f->ops->pwrite(f, s, strlen(s), 0, &err));
    OK(f->ops->sync_data(f, &err));
    dur_file_close(f);
    OK(dur_sync_parent_dir(d, path, &err));
}

static void test_synced_survives_unsynced_append_lost(void **state)
{
    (void)state;
    dur_error err;
    dur_dir *d = new_crash(1);
    durable_write(d, "log", "durable");
    dur_file *f;
    OK(dur_dir_open(d, "log", DUR_O_WRITE, &f, &err));
    OK(dur_file_append(f, "-lost", 5, &err));
    dur_file_close(f);
    assert_true(tu_content_is(d, "log", "durable-lost"));
    cut(d);
    assert_true(tu_content_is(d, "log", "durable"));
    /* Now sync the append: it survives. */
    OK(dur_dir_open(d, "log", DUR_O_WRITE, &f, &err));
    OK(dur_file_append(f, "+kept", 5, &err));
    OK(f->ops->sync_all(f, &err));
    dur_file_close(f);
    cut(d);
    assert_true(tu_content_is(d, "log", "durable+kept"));
    dur_dir_close(d);
}

static void test_create_without_dir_sync_lost(void **state)
{
    (void)state;
    dur_error err;
    dur_dir *d = new_crash(2);
    dur_file *f;
    OK(dur_dir_create(d, "new", &f, &err));
    OK(f->ops->pwrite(f, "data", 4, 0, &err));
    OK(f->ops->sync_data(f, &err)); /* data synced, but the name is not */
    dur_file_close(f);
    cut(d);
    assert_false(exists(d, "new"));
    /* Remove without dir sync is undone too. */
    durable_write(d, "keep", "k");
    OK(dur_dir_remove(d, "keep", &err));
    cut(d);
    assert_true(tu_content_is(d, "keep", "k"));
    dur_dir_close(d);
}

static void test_rename_without_dir_sync_undone(void **state)
{
    (void)state;
    dur_error err;
    dur_dir *d = new_crash(3);
    durable_write(d, "a", "A");
    durable_write(d, "b", "B");
    OK(dur_dir_rename(d, "a", "b", &err));
    assert_true(tu_content_is(d, "b", "A"));
    cut(d);
    assert_true(tu_content_is(d, "a", "A"));
    assert_true(tu_content_is(d, "b", "B"));
    /* dur_rename_durable across directories survives. */
    OK(dur_dir_mkdir_p(d, "x", &err));
    OK(dur_dir_sync_dir(d, "", &err));
    OK(dur_rename_durable(d, "a", "x/a", &err));
    cut(d);
    assert_false(exists(d, "a"));
    assert_true(tu_content_is(d, "x/a", "A"));
    dur_dir_close(d);
}

static void test_cross_dir_rename_needs_both_syncs(void **state)
{
    (void)state;
    dur_error err;
    dur_dir *d = new_crash(4);
    OK(dur_dir_mkdir_p(d, "x", &err));
    OK(dur_dir_mkdir_p(d, "y", &err));
    OK(dur_dir_sync_dir(d, "", &err));
    durable_write(d, "x/f", "F");
    OK(dur_dir_rename(d, "x/f", "y/f", &err));
    OK(dur_dir_sync_dir(d, "y", &err)); /* only the target directory */
    cut(d);
    /* The source entry was never removed durably: both names survive. */
    assert_true(tu_content_is(d, "x/f", "F"));
    assert_true(tu_content_is(d, "y/f", "F"));
    dur_dir_close(d);
}

static void test_subdirectory_entries_need_their_own_sync(void **state)
{
    (void)state;
    dur_error err;
    dur_dir *d = new_crash(5);
    OK(dur_dir_mkdir_p(d, "a/b", &err));
    OK(dur_dir_sync_dir(d, "", &err)); /* makes "a" durable, not "a/b" */
    cut(d);
    assert_true(exists(d, "a"));
    assert_false(exists(d, "a/b"));
    OK(dur_dir_mkdir_p(d, "a/b", &err));
    OK(dur_dir_sync_dir(d, "a", &err));
    durable_write(d, "a/b/f", "deep");
    cut(d);
    assert_true(tu_content_is(d, "a/b/f", "deep"));
    dur_dir_close(d);
}

static void test_directory_rename_and_two_parents(void **state)
{
    (void)state;
    dur_error err;
    dur_dir *d = new_crash(11);
    OK(dur_dir_mkdir_p(d, "x/dir", &err));
    OK(dur_dir_mkdir_p(d, "y", &err));
    OK(dur_dir_sync_dir(d, "", &err));
    OK(dur_dir_sync_dir(d, "x", &err));
    durable_write(d, "x/dir/f", "F");
    /* Unsynced directory rename: undone, contents intact. */
    OK(dur_dir_rename(d, "x/dir", "y/dir", &err));
    cut(d);
    assert_true(tu_content_is(d, "x/dir/f", "F"));
    assert_false(exists(d, "y/dir"));
    /* Only the target synced: a directory cannot have two parents -- it survives
     * under exactly one name, with its contents. */
    OK(dur_dir_rename(d, "x/dir", "y/dir", &err));
    OK(dur_dir_sync_dir(d, "y", &err));
    cut(d);
    int names = exists(d, "x/dir") + exists(d, "y/dir");
    assert_int_equal(names, 1);
    assert_true(tu_content_is(d, exists(d, "x/dir") ? "x/dir/f" : "y/dir/f", "F"));
    /* With both parents synced it is moved for good. */
    if (exists(d, "x/dir"))
        OK(dur_rename_durable(d, "x/dir", "y/dir", &err));
    cut(d);
    assert_false(exists(d, "x/dir"));
    assert_true(tu_content_is(d, "y/dir/f", "F"));
    dur_dir_close(d);
}

static void test_unsynced_overwrite_and_truncate_revert(void **state)
{
    (void)state;
    dur_error err;
    dur_dir *d = new_crash(6);
    size_t n = 3 * 4096 + 123;
    char *orig = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        orig[i] = (char)('a' + i % 26);
    orig[n] = '\0';
    durable_write(d, "f", orig);
    dur_file *f;
    OK(dur_dir_open(d, "f", DUR_O_WRITE, &f, &err));
    OK(f->ops->pwrite(f, "XXXXXXXXXX", 10, 4090, &err)); /* spans a page boundary */
    OK(f->ops->truncate(f, 100, &err));
    OK(f->ops->pwrite(f, "YY", 2, 50, &err));
    OK(f->ops->truncate(f, 9000, &err));
    dur_file_close(f);
    cut(d);
    assert_true(tu_content_is(d, "f", orig));
    /* And a synced overwrite is kept, including in the middle. */
    OK(dur_dir_open(d, "f", DUR_O_WRITE, &f, &err));
    OK(f->ops->pwrite(f, "ZZ", 2, 5000, &err));
    OK(f->ops->sync_data(f, &err));
    OK(f->ops->pwrite(f, "QQ", 2, 5000, &err)); /* unsynced again */
    dur_file_close(f);
    cut(d);
    orig[5000] = orig[5001] = 'Z';
    assert_true(tu_content_is(d, "f", orig));
    free(orig);
    dur_dir_close(d);
}

static void test_torn_tail_is_a_prefix(void **state)
{
    (void)state;
    dur_error err;
    char live[2000];
    for (size_t i = 0; i < sizeof live; i++)
        live[i] = (char)(1 + i % 250);
    size_t shortest = sizeof live, longest = 0;
    for (uint64_t seed = 0; seed < 200; seed++) {
        dur_dir *d = new_crash(seed);
        dur_file *f;
        OK(dur_dir_create(d, "f", &f, &err));
        OK(f->ops->pwrite(f, live, 100, 0, &err));
        OK(f->ops->sync_data(f, &err));
        OK(dur_dir_sync_dir(d, "", &err));
        OK(f->ops->pwrite(f, live + 100, sizeof live - 100, 100, &err));
        dur_file_close(f);
        dur_crash_options o = {.torn_tails = true, .keep_garbage = false};
        dur_crash_power_cut(d, &o);
        size_t n;
        char *got = tu_read(d, "f", &n, NULL);
        assert_non_null(got);
        assert_true(n >= 100 && n <= sizeof live);
        assert_memory_equal(got, live, n); /* exactly a prefix of what was written */
        shortest = n < shortest ? n : shortest;
        longest = n > longest ? n : longest;
        free(got);
        dur_dir_close(d);
    }
    /* The seeds really vary the cut. */
    assert_true(shortest < 600);
    assert_true(longest > 1500);
}

static void test_torn_tail_with_garbage_keeps_durable_bytes(void **state)
{
    (void)state;
    dur_error err;
    char live[1000];
    memset(live, 'L', sizeof live);
    int saw_garbage = 0;
    for (uint64_t seed = 0; seed < 100; seed++) {
        dur_dir *d = new_crash(seed);
        dur_file *f;
        OK(dur_dir_create(d, "f", &f, &err));
        OK(f->ops->pwrite(f, live, 200, 0, &err));
        OK(f->ops->sync_data(f, &err));
        OK(dur_dir_sync_dir(d, "", &err));
        OK(f->ops->pwrite(f, live, sizeof live, 200, &err));
        dur_file_close(f);
        dur_crash_options o = {.torn_tails = true, .keep_garbage = true};
        dur_crash_power_cut(d, &o);
        size_t n;
        char *got = tu_read(d, "f", &n, NULL);
        assert_true(n >= 200 && n <= 1200);
        assert_memory_equal(got, live, 200);
        saw_garbage += n > 200 && got[n - 1] != 'L';
        free(got);
        dur_dir_close(d);
    }
    assert_true(saw_garbage > 0);
}

static void test_open_files_and_locks_die_with_power(void **state)
{
    (void)state;
    dur_error err;
    dur_dir *d = new_crash(7);
    durable_write(d, "f", "x");
    dur_file *f;
    OK(dur_dir_open(d, "f", DUR_O_WRITE, &f, &err));
    dur_lock *lk, *lk2;
    OK(dur_dir_lock(d, "LOCK", &lk, &err));
    cut(d);
    char buf[4];
    size_t got;
    uint64_t size;
    FAILS(f->ops->pread(f, buf, 1, 0, &got, &err), DUR_E_CLOSED);
    assert_string_equal(err.path, "f");
    FAILS(f->ops->pwrite(f, "y", 1, 0, &err), DUR_E_CLOSED);
    FAILS(f->ops->sync_data(f, &err), DUR_E_CLOSED);
    FAILS(f->ops->size(f, &size, &err), DUR_E_CLOSED);
    FAILS(f->ops->truncate(f, 0, &err), DUR_E_CLOSED);
    dur_file_close(f);
    OK(dur_dir_lock(d, "LOCK", &lk2, &err)); /* released by the cut */
    dur_lock_release(lk);                    /* stale: harmless */
    FAILS(dur_dir_lock(d, "LOCK", &lk, &err), DUR_E_LOCKED);
    dur_lock_release(lk2);
    assert_true(tu_content_is(d, "f", "x"));
    dur_dir_close(d);
}

typedef struct hook_log {
    uint64_t calls;
    uint64_t last;
} hook_log;

static void log_hook(void *ctx, uint64_t idx)
{
    hook_log *h = ctx;
    assert_int_equal(idx, h->calls); /* indices are 0, 1, 2, ... */
    h->calls++;
    h->last = idx;
}

static void test_control_calls_see_through_a_fault_wrapper(void **state)
{
    (void)state;
    dur_error err;
    dur_dir *crash = new_crash(10), *d;
    OK(dur_dir_new_fault(crash, true, &d, &err));
    tu_write_str(d, "f", "x"); /* never synced */
    OK(dur_dir_sync_dir(d, "", &err));
    assert_int_equal(dur_crash_sync_count(d), 1);
    dur_crash_power_cut(d, NULL); /* the wrapper is unwrapped */
    assert_true(tu_content_is(d, "f", ""));
    dur_dir_close(d);
}

static void test_sync_count_and_hook(void **state)
{
    (void)state;
    dur_error err;
    dur_dir *d = new_crash(8);
    hook_log h = {0};
    dur_crash_set_sync_hook(d, log_hook, &h);
    assert_int_equal(dur_crash_sync_count(d), 0);
    durable_write(d, "f", "x"); /* sync_data + sync_dir */
    assert_int_equal(dur_crash_sync_count(d), 2);
    assert_int_equal(h.calls, 2);
    OK(dur_atomic_write(d, "f", "y", 1, &err)); /* fsync temp + sync parent */
    assert_int_equal(dur_crash_sync_count(d), 4);
    assert_int_equal(h.last, 3);
    dur_crash_set_sync_hook(d, NULL, NULL);
    OK(dur_dir_sync_dir(d, "", &err));
    assert_int_equal(h.calls, 4);
    dur_dir_close(d);
}

/* ---- atomic write under power cuts ---- */

typedef struct cut_plan {
    dur_dir *d;
    uint64_t cut_at; /* absolute sync index after which to cut */
    bool did_cut;
} cut_plan;

static void cut_hook(void *ctx, uint64_t idx)
{
    cut_plan *p = ctx;
    if (!p->did_cut && idx == p->cut_at) {
        dur_crash_power_cut(p->d, NULL);
        p->did_cut = true;
    }
}

static const char OLD[] = "old contents of the config file";
static const char NEW[] = "the NEW contents, longer than the old, spanning more bytes";

/* Run one atomic write with a cut after its k-th sync point (k == its number of
 * sync points: cut after it returned).  Returns true when the outcome obeys the
 * contract: old-or-new if cut mid-way, new if cut after success. */
static bool atomic_write_survives_cut(uint64_t k, uint64_t *nsyncs)
{
    dur_error err;
    dur_dir *d = new_crash(100 + k);
    durable_write(d, "cfg", OLD);
    uint64_t base = dur_crash_sync_count(d);
    cut_plan plan = {.d = d, .cut_at = base + k};
    dur_crash_set_sync_hook(d, cut_hook, &plan);
    dur_code rc = dur_atomic_write(d, "cfg", NEW, strlen(NEW), &err);
    dur_crash_set_sync_hook(d, NULL, NULL);
    *nsyncs = dur_crash_sync_count(d) - base;
    bool completed = !plan.did_cut;
    if (completed)
        assert_int_equal(rc, DUR_OK);
    cut(d); /* power goes out (again) after the call returned */
    bool is_old = tu_content_is(d, "cfg", OLD), is_new = tu_content_is(d, "cfg", NEW);
    dur_names ns;
    OK(dur_dir_list(d, "", &ns, &err));
    dur_names_free(&ns);
    dur_dir_close(d);
    return completed ? is_new : (is_old || is_new);
}

/* Number of cut points (out of all) that violate the contract. */
static int count_violations(void)
{
    uint64_t total = 0;
    int bad = 0;
    atomic_write_survives_cut(UINT64_MAX, &total); /* dry run: how many sync points */
    assert_true(total >= 1);
    for (uint64_t k = 0; k <= total; k++) {
        uint64_t n;
        bad += !atomic_write_survives_cut(k, &n);
    }
    return bad;
}

static void test_atomic_write_crash_safe_at_every_sync_point(void **state)
{
    (void)state;
    dur_test_set_skip(DUR_SKIP_NONE);
    assert_int_equal(count_violations(), 0);
}

static void test_atomic_write_loop_catches_missing_file_sync(void **state)
{
    (void)state;
    dur_test_set_skip(DUR_SKIP_ATOMIC_FILE_SYNC);
    int bad = count_violations();
    dur_test_set_skip(DUR_SKIP_NONE);
    assert_true(bad > 0); /* the test is sensitive to the missing fsync */
}

static void test_atomic_write_loop_catches_missing_dir_sync(void **state)
{
    (void)state;
    dur_test_set_skip(DUR_SKIP_ATOMIC_DIR_SYNC);
    int bad = count_violations();
    dur_test_set_skip(DUR_SKIP_NONE);
    assert_true(bad > 0); /* the test is sensitive to the missing directory sync */
}

static void test_many_cuts_are_cheap_for_big_appended_files(void **state)
{
    (void)state;
    /* A 64 MiB log appended and synced 4 KiB at a time: the simulator must not copy
     * the file per operation (this would take minutes if it did). */
    dur_error err;
    dur_dir *d = new_crash(9);
    dur_file *f;
    OK(dur_dir_create(d, "log", &f, &err));
    OK(dur_dir_sync_dir(d, "", &err));
    static char block[4096];
    memset(block, 'b', sizeof block);
    for (int i = 0; i < 16384; i++) {
        OK(dur_file_append(f, block, sizeof block, &err));
        OK(f->ops->sync_data(f, &err));
    }
    OK(dur_file_append(f, block, 100, &err)); /* not synced */
    dur_file_close(f);
    for (int i = 0; i < 200; i++)
        cut(d);
    dur_file *r;
    uint64_t size;
    OK(dur_dir_open(d, "log", DUR_O_READ, &r, &err));
    OK(r->ops->size(r, &size, &err));
    assert_int_equal(size, (uint64_t)16384 * 4096);
    dur_file_close(r);
    dur_dir_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synced_survives_unsynced_append_lost),
        cmocka_unit_test(test_create_without_dir_sync_lost),
        cmocka_unit_test(test_rename_without_dir_sync_undone),
        cmocka_unit_test(test_cross_dir_rename_needs_both_syncs),
        cmocka_unit_test(test_subdirectory_entries_need_their_own_sync),
        cmocka_unit_test(test_directory_rename_and_two_parents),
        cmocka_unit_test(test_unsynced_overwrite_and_truncate_revert),
        cmocka_unit_test(test_torn_tail_is_a_prefix),
        cmocka_unit_test(test_torn_tail_with_garbage_keeps_durable_bytes),
        cmocka_unit_test(test_open_files_and_locks_die_with_power),
        cmocka_unit_test(test_sync_count_and_hook),
        cmocka_unit_test(test_control_calls_see_through_a_fault_wrapper),
        cmocka_unit_test(test_atomic_write_crash_safe_at_every_sync_point),
        cmocka_unit_test(test_atomic_write_loop_catches_missing_file_sync),
        cmocka_unit_test(test_atomic_write_loop_catches_missing_dir_sync),
        cmocka_unit_test(test_many_cuts_are_cheap_for_big_appended_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
