/* tests/dir: the same behaviour cases against every backend (fs in a mkdtemp
 * directory, mem, crash simulator, and the fault injector wrapping mem with nothing
 * armed).  Keeps the in-memory backends faithful to the real filesystem. */
#include "dir_test_util.h"
#include "dir_util.h"
#include "durability/sync.h"
#include "durability/testing.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

enum kind { K_FS, K_MEM, K_CRASH, K_FAULT };

typedef struct fixture {
    enum kind kind;
    dur_dir *d;
    dur_dir *inner; /* K_FAULT */
    char *root;     /* K_FS */
} fixture;

static int setup_kind(void **state, enum kind k)
{
    fixture *fx = calloc(1, sizeof *fx);
    dur_error err;
    fx->kind = k;
    switch (k) {
    case K_FS:
        fx->root = tu_mkdtemp();
        if (dur_dir_open_fs(fx->root, false, &fx->d, &err) != DUR_OK)
            return -1;
        break;
    case K_MEM:
        if (dur_dir_new_mem(&fx->d, &err) != DUR_OK)
            return -1;
        break;
    case K_CRASH:
        if (dur_dir_new_crash(42, &fx->d, &err) != DUR_OK)
            return -1;
        break;
    case K_FAULT:
        if (dur_dir_new_mem(&fx->inner, &err) != DUR_OK ||
            dur_dir_new_fault(fx->inner, true, &fx->d, &err) != DUR_OK)
            return -1;
        break;
    }
    *state = fx;
    return 0;
}
static int setup_fs(void **s)
{
    return setup_kind(s, K_FS);
}
static int setup_mem(void **s)
{
    return setup_kind(s, K_MEM);
}
static int setup_crash(void **s)
{
    return setup_kind(s, K_CRASH);
}
static int setup_fault(void **s)
{
    return setup_kind(s, K_FAULT);
}

static int teardown(void **state)
{
    fixture *fx = *state;
    dur_dir_close(fx->d);
    if (fx->root) {
        tu_rmtree(fx->root);
        free(fx->root);
    }
    free(fx);
    return 0;
}

static bool can_sync(const fixture *fx)
{
    return fx->kind == K_FS || fx->kind == K_CRASH;
}

/* ---- cases ---- */

static void test_write_read_size_truncate(void **state)
{
    fixture *fx = *state;
    dur_dir *d = fx->d;
    dur_error err;
    dur_file *f;
    OK(dur_dir_create(d, "f", &f, &err));
    assert_string_equal(f->path, "f");
    assert_ptr_equal(f->dir, d);
    OK(f->ops->pwrite(f, "hello world", 11, 0, &err));
    OK(f->ops->pwrite(f, "W", 1, 6, &err));
    uint64_t size;
    OK(f->ops->size(f, &size, &err));
    assert_int_equal(size, 11);
    char buf[32];
    size_t got;
    OK(f->ops->pread(f, buf, sizeof buf, 0, &got, &err));
    assert_int_equal(got, 11);
    assert_memory_equal(buf, "hello World", 11);
    OK(f->ops->pread(f, buf, sizeof buf, 11, &got, &err));
    assert_int_equal(got, 0); /* EOF */
    OK(f->ops->pread(f, buf, sizeof buf, 1000, &got, &err));
    assert_int_equal(got, 0);
    /* Writing past the end leaves a zero-filled gap. */
    OK(f->ops->pwrite(f, "!", 1, 15, &err));
    OK(f->ops->pread(f, buf, sizeof buf, 0, &got, &err));
    assert_int_equal(got, 16);
    assert_memory_equal(buf + 11, "\0\0\0\0!", 5);
    OK(f->ops->truncate(f, 5, &err));
    OK(f->ops->size(f, &size, &err));
    assert_int_equal(size, 5);
    OK(f->ops->truncate(f, 8, &err));
    OK(f->ops->pread(f, buf, sizeof buf, 0, &got, &err));
    assert_int_equal(got, 8);
    assert_memory_equal(buf, "hello\0\0\0", 8);
    OK(dur_file_append(f, "xy", 2, &err));
    OK(f->ops->size(f, &size, &err));
    assert_int_equal(size, 10);
    dur_code rc = f->ops->allocate(f, 0, 4096, &err);
    assert_true(rc == DUR_OK || rc == DUR_E_NOTSUP);
    OK(f->ops->size(f, &size, &err));
    assert_int_equal(size, 10); /* KEEP_SIZE */
    assert_true((f->ops->fd(f) >= 0) == (fx->kind == K_FS));
    dur_file_close(f);
    /* TRUNC on reopen empties; plain reopen keeps. */
    OK(dur_dir_open(d, "f", DUR_O_READ, &f, &err));
    OK(f->ops->size(f, &size, &err));
    assert_int_equal(size, 10);
    dur_file_close(f);
    OK(dur_dir_create(d, "f", &f, &err));
    OK(f->ops->size(f, &size, &err));
    assert_int_equal(size, 0);
    dur_file_close(f);
}

static void test_open_errors(void **state)
{
    fixture *fx = *state;
    dur_dir *d = fx->d;
    dur_error err;
    dur_file *f = (dur_file *)1;
    FAILS(dur_dir_open(d, "missing", DUR_O_READ, &f, &err), DUR_E_NOTFOUND);
    assert_null(f);
    assert_string_equal(err.path, "missing");
    FAILS(dur_dir_open(d, "nodir/x", DUR_O_WRITE | DUR_O_CREATE, &f, &err), DUR_E_NOTFOUND);
    tu_write_str(d, "exists", "1");
    FAILS(dur_dir_open(d, "exists", DUR_O_WRITE | DUR_O_CREATE | DUR_O_EXCL, &f, &err),
          DUR_E_EXISTS);
    assert_string_equal(err.path, "exists");
    assert_true(tu_content_is(d, "exists", "1"));
    /* A path through a regular file. */
    dur_code rc = dur_dir_open(d, "exists/x", DUR_O_READ, &f, &err);
    assert_int_equal(rc, DUR_E_IO);
    assert_int_equal(err.sys_errno, ENOTDIR);
    OK(dur_dir_mkdir_p(d, "adir", &err));
    FAILS(dur_dir_open(d, "adir", DUR_O_READ, &f, &err), DUR_E_INVAL);
    FAILS(dur_dir_open(d, "", DUR_O_READ, &f, &err), DUR_E_INVAL);
    /* Writing through a read-only handle fails and changes nothing. */
    OK(dur_dir_open(d, "exists", DUR_O_READ, &f, &err));
    assert_int_not_equal(f->ops->pwrite(f, "zz", 2, 0, &err), DUR_OK);
    dur_file_close(f);
    assert_true(tu_content_is(d, "exists", "1"));
}

static void test_exists(void **state)
{
    fixture *fx = *state;
    dur_dir *d = fx->d;
    dur_error err;
    bool ex = false;
    OK(dur_dir_exists(d, "", &ex, &err));
    assert_true(ex);
    OK(dur_dir_exists(d, "nope", &ex, &err));
    assert_false(ex);
    OK(dur_dir_exists(d, "no/such/parent", &ex, &err));
    assert_false(ex);
    tu_write_str(d, "file", "x");
    OK(dur_dir_exists(d, "file", &ex, &err));
    assert_true(ex);
    OK(dur_dir_exists(d, "file/under", &ex, &err));
    assert_false(ex);
    OK(dur_dir_mkdir_p(d, "a/b", &err));
    OK(dur_dir_exists(d, "a/b", &ex, &err));
    assert_true(ex);
}

static void test_remove(void **state)
{
    fixture *fx = *state;
    dur_dir *d = fx->d;
    dur_error err;
    bool ex;
    tu_write_str(d, "f", "x");
    OK(dur_dir_remove(d, "f", &err));
    OK(dur_dir_exists(d, "f", &ex, &err));
    assert_false(ex);
    FAILS(dur_dir_remove(d, "f", &err), DUR_E_NOTFOUND);
    assert_string_equal(err.path, "f");
    OK(dur_dir_mkdir_p(d, "dir/sub", &err));
    dur_code rc = dur_dir_remove(d, "dir", &err);
    assert_int_not_equal(rc, DUR_OK);
    assert_int_equal(err.sys_errno, ENOTEMPTY);
    OK(dur_dir_exists(d, "dir/sub", &ex, &err));
    assert_true(ex);
    OK(dur_dir_remove(d, "dir/sub", &err));
    OK(dur_dir_remove(d, "dir", &err));
    OK(dur_dir_exists(d, "dir", &ex, &err));
    assert_false(ex);
    FAILS(dur_dir_remove(d, "", &err), DUR_E_INVAL);
}

static void test_removed_file_stays_readable_while_open(void **state)
{
    fixture *fx = *state;
    dur_dir *d = fx->d;
    dur_error err;
    tu_write_str(d, "f", "still here");
    dur_file *f;
    OK(dur_dir_open(d, "f", DUR_O_READ, &f, &err));
    OK(dur_dir_remove(d, "f", &err));
    char buf[16];
    size_t got;
    OK(f->ops->pread(f, buf, sizeof buf, 0, &got, &err));
    assert_int_equal(got, 10);
    assert_memory_equal(buf, "still here", 10);
    dur_file_close(f);
}

static void test_rename(void **state)
{
    fixture *fx = *state;
    dur_dir *d = fx->d;
    dur_error err;
    bool ex;
    tu_write_str(d, "a", "A");
    tu_write_str(d, "b", "B");
    OK(dur_dir_rename(d, "a", "b", &err)); /* replaces */
    assert_true(tu_content_is(d, "b", "A"));
    OK(dur_dir_exists(d, "a", &ex, &err));
    assert_false(ex);
    FAILS(dur_dir_rename(d, "a", "c", &err), DUR_E_NOTFOUND);
    assert_string_equal(err.path, "a");
    OK(dur_dir_rename(d, "b", "b", &err)); /* same file: nothing happens */
    assert_true(tu_content_is(d, "b", "A"));
    OK(dur_dir_mkdir_p(d, "x/y", &err));
    OK(dur_dir_rename(d, "b", "x/y/b", &err)); /* across directories */
    assert_true(tu_content_is(d, "x/y/b", "A"));
    FAILS(dur_dir_rename(d, "x/y/b", "nodir/b", &err), DUR_E_NOTFOUND);
    assert_true(tu_content_is(d, "x/y/b", "A"));
    /* Directories: onto an empty dir replaces it, onto a non-empty one fails. */
    OK(dur_dir_mkdir_p(d, "empty", &err));
    OK(dur_dir_rename(d, "x/y", "empty", &err));
    assert_true(tu_content_is(d, "empty/b", "A"));
    OK(dur_dir_mkdir_p(d, "full/z", &err));
    OK(dur_dir_mkdir_p(d, "other", &err));
    assert_int_not_equal(dur_dir_rename(d, "other", "full", &err), DUR_OK);
    assert_int_equal(err.sys_errno, ENOTEMPTY);
    /* Into itself. */
    assert_int_not_equal(dur_dir_rename(d, "full", "full/z/in", &err), DUR_OK);
    OK(dur_dir_exists(d, "full/z", &ex, &err));
    assert_true(ex);
    /* File over directory and directory over file. */
    tu_write_str(d, "file", "F");
    assert_int_not_equal(dur_dir_rename(d, "file", "other", &err), DUR_OK);
    assert_int_not_equal(dur_dir_rename(d, "other", "file", &err), DUR_OK);
    assert_true(tu_content_is(d, "file", "F"));
}

static void test_mkdir_p_and_list(void **state)
{
    fixture *fx = *state;
    dur_dir *d = fx->d;
    dur_error err;
    OK(dur_dir_mkdir_p(d, "a/b/c", &err));
    OK(dur_dir_mkdir_p(d, "a/b/c", &err)); /* idempotent */
    OK(dur_dir_mkdir_p(d, "", &err));
    tu_write_str(d, "a/file", "x");
    FAILS(dur_dir_mkdir_p(d, "a/file/sub", &err), DUR_E_EXISTS);
    FAILS(dur_dir_mkdir_p(d, "a/file", &err), DUR_E_EXISTS);
    static const char *const names[] = {"b", "a", "c", "B", "aa", "a.tmp"};
    OK(dur_dir_mkdir_p(d, "l", &err));
    for (size_t i = 0; i < 6; i++) {
        char p[16];
        snprintf(p, sizeof p, "l/%s", names[i]);
        tu_write_str(d, p, "");
    }
    dur_names ns;
    OK(dur_dir_list(d, "l", &ns, &err));
    assert_int_equal(ns.count, 6);
    static const char *const sorted[] = {"B", "a", "a.tmp", "aa", "b", "c"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(ns.names[i], sorted[i]);
    dur_names_free(&ns);
    OK(dur_dir_list(d, "", &ns, &err));
    assert_int_equal(ns.count, 2);
    assert_string_equal(ns.names[0], "a");
    assert_string_equal(ns.names[1], "l");
    dur_names_free(&ns);
    OK(dur_dir_list(d, "a/b/c", &ns, &err));
    assert_int_equal(ns.count, 0);
    dur_names_free(&ns);
    FAILS(dur_dir_list(d, "missing", &ns, &err), DUR_E_NOTFOUND);
    assert_int_equal(ns.count, 0);
    assert_int_not_equal(dur_dir_list(d, "a/file", &ns, &err), DUR_OK);
}

static void test_hostile_paths_refused(void **state)
{
    fixture *fx = *state;
    dur_dir *d = fx->d;
    dur_error err;
    static const char *const bad[] = {"/etc/passwd", "../x", "a/../../x", "..",
                                      "a//b",        "a/",   "./a"};
    OK(dur_dir_mkdir_p(d, "a", &err));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *p = bad[i];
        dur_file *f;
        bool ex;
        dur_names ns;
        dur_lock *lk;
        FAILS(dur_dir_open(d, p, DUR_O_READ, &f, &err), DUR_E_INVAL);
        assert_string_equal(err.path, p);
        FAILS(dur_dir_create(d, p, &f, &err), DUR_E_INVAL);
        FAILS(dur_dir_exists(d, p, &ex, &err), DUR_E_INVAL);
        FAILS(dur_dir_remove(d, p, &err), DUR_E_INVAL);
        FAILS(dur_dir_rename(d, "a", p, &err), DUR_E_INVAL);
        FAILS(dur_dir_rename(d, p, "a", &err), DUR_E_INVAL);
        FAILS(dur_dir_mkdir_p(d, p, &err), DUR_E_INVAL);
        FAILS(dur_dir_list(d, p, &ns, &err), DUR_E_INVAL);
        FAILS(dur_dir_sync_dir(d, p, &err), DUR_E_INVAL);
        FAILS(dur_dir_lock(d, p, &lk, &err), DUR_E_INVAL);
    }
}

static void test_lock_in_process(void **state)
{
    fixture *fx = *state;
    dur_dir *d = fx->d;
    dur_error err;
    dur_lock *l1, *l2;
    OK(dur_dir_lock(d, "LOCK", &l1, &err));
    FAILS(dur_dir_lock(d, "LOCK", &l2, &err), DUR_E_LOCKED);
    char want[64];
    snprintf(want, sizeof want, "locked by pid %ld", (long)getpid());
    assert_string_equal(err.msg, want);
    assert_string_equal(err.path, "LOCK");
    OK(dur_dir_lock(d, "OTHER", &l2, &err)); /* a different lock file is independent */
    dur_lock_release(l2);
    dur_lock_release(l1);
    OK(dur_dir_lock(d, "LOCK", &l1, &err));
    dur_lock_release(l1);
    dur_lock_release(NULL);
}

static void test_sync_ops(void **state)
{
    fixture *fx = *state;
    dur_dir *d = fx->d;
    dur_error err;
    dur_file *f;
    OK(dur_dir_mkdir_p(d, "s", &err));
    OK(dur_dir_create(d, "s/f", &f, &err));
    dur_code want = can_sync(fx) ? DUR_OK : DUR_E_NOTSUP;
    assert_int_equal(f->ops->sync_data(f, &err), want);
    assert_int_equal(f->ops->sync_all(f, &err), want);
    assert_int_equal(dur_sync_file(f, &err), want);
    dur_file_close(f);
    assert_int_equal(dur_dir_sync_dir(d, "s", &err), want);
    assert_int_equal(dur_dir_sync_dir(d, "", &err), want);
    assert_int_equal(dur_sync_parent_dir(d, "s/f", &err), want);
    if (can_sync(fx)) {
        FAILS(dur_dir_sync_dir(d, "missing", &err), DUR_E_NOTFOUND);
        OK(dur_rename_durable(d, "s/f", "g", &err));
        assert_true(tu_content_is(d, "g", ""));
    }
}

static void test_atomic_write(void **state)
{
    fixture *fx = *state;
    dur_dir *d = fx->d;
    dur_error err;
    OK(dur_dir_mkdir_p(d, "cfg", &err));
    tu_write_str(d, "cfg/x", "old");
    dur_code rc = dur_atomic_write(d, "cfg/x", "new content", 11, &err);
    dur_names ns;
    OK(dur_dir_list(d, "cfg", &ns, &err));
    assert_int_equal(ns.count, 1); /* never a leftover temp, success or not */
    assert_string_equal(ns.names[0], "x");
    dur_names_free(&ns);
    if (can_sync(fx)) {
        OK(rc);
        assert_true(tu_content_is(d, "cfg/x", "new content"));
        OK(dur_atomic_write(d, "fresh", "", 0, &err)); /* empty, new file */
        assert_true(tu_content_is(d, "fresh", ""));
    } else {
        assert_int_equal(rc, DUR_E_NOTSUP);
        assert_true(tu_content_is(d, "cfg/x", "old"));
    }
    FAILS(dur_atomic_write(d, "", "x", 1, &err), DUR_E_INVAL);
    FAILS(dur_atomic_write(d, "../x", "x", 1, &err), DUR_E_INVAL);
    FAILS(dur_atomic_write(d, "nodir/x", "x", 1, &err), DUR_E_NOTFOUND);
}

static void test_real_path_and_root_fd(void **state)
{
    fixture *fx = *state;
    dur_dir *d = fx->d;
    dur_error err;
    char buf[4096];
    if (fx->kind == K_FS) {
        OK(d->ops->real_path(d, "a/b", buf, sizeof buf, &err));
        char *rp = realpath(fx->root, NULL);
        char want[4096];
        snprintf(want, sizeof want, "%s/a/b", rp);
        assert_string_equal(buf, want);
        free(rp);
        assert_true(d->ops->root_fd(d) >= 0);
        FAILS(d->ops->real_path(d, "a", buf, 4, &err), DUR_E_INVAL);
    } else {
        FAILS(d->ops->real_path(d, "a/b", buf, sizeof buf, &err), DUR_E_NOTSUP);
        assert_int_equal(d->ops->root_fd(d), -1);
    }
}

typedef struct worker {
    fixture *fx;
    int id;
    int failures;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    dur_dir *d = w->fx->d;
    dur_error err;
    char path[32], tmp[32];
    snprintf(path, sizeof path, "t/w%d", w->id);
    dur_file *f;
    if (dur_dir_create(d, path, &f, &err) != DUR_OK) {
        w->failures++;
        return NULL;
    }
    for (int i = 0; i < 300; i++) {
        char rec[8];
        memset(rec, 'a' + w->id, sizeof rec);
        w->failures += dur_file_append(f, rec, sizeof rec, &err) != DUR_OK;
        if (w->fx->kind == K_CRASH && i % 10 == 0) {
            w->failures += f->ops->sync_data(f, &err) != DUR_OK;
            w->failures += dur_dir_sync_dir(d, "t", &err) != DUR_OK;
        }
        /* Churn the shared directory too. */
        snprintf(tmp, sizeof tmp, "t/tmp%d", w->id);
        tu_write_str(d, tmp, "x");
        w->failures += dur_dir_rename(d, tmp, "t/shared", &err) != DUR_OK;
        dur_names ns;
        w->failures += dur_dir_list(d, "t", &ns, &err) != DUR_OK;
        dur_names_free(&ns);
    }
    dur_file_close(f);
    return NULL;
}

/* The header promises a dur_dir may be used from several threads at once. */
static void test_concurrent_use(void **state)
{
    fixture *fx = *state;
    dur_error err;
    OK(dur_dir_mkdir_p(fx->d, "t", &err));
    enum { N = 4 };
    pthread_t th[N];
    worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){.fx = fx, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    for (int i = 0; i < N; i++) {
        char path[32];
        snprintf(path, sizeof path, "t/w%d", i);
        size_t n;
        char *s = tu_read(fx->d, path, &n, NULL);
        assert_int_equal(n, 300 * 8);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(s[k], 'a' + i);
        free(s);
    }
    dur_names ns;
    OK(dur_dir_list(fx->d, "t", &ns, &err));
    assert_int_equal(ns.count, N + 1); /* w0..w3 and shared; no temp survived */
    dur_names_free(&ns);
}

#define CASES(setup)                                                                               \
    cmocka_unit_test_setup_teardown(test_write_read_size_truncate, setup, teardown),               \
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(test_exists, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_removed_file_stays_readable_while_open, setup,        \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_rename, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_mkdir_p_and_list, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(test_hostile_paths_refused, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_lock_in_process, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(test_sync_ops, setup, teardown),                           \
        cmocka_unit_test_setup_teardown(test_atomic_write, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_real_path_and_root_fd, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_concurrent_use, setup, teardown)

int main(void)
{
    const struct CMUnitTest fs[] = {CASES(setup_fs)};
    const struct CMUnitTest mem[] = {CASES(setup_mem)};
    const struct CMUnitTest crash[] = {CASES(setup_crash)};
    const struct CMUnitTest fault[] = {CASES(setup_fault)};
    int failed = 0;
    failed += cmocka_run_group_tests_name("fs backend", fs, NULL, NULL);
    /* The same cases through the O_NOFOLLOW walk used on kernels without openat2. */
    dir_fs_force_walk(true);
    failed += cmocka_run_group_tests_name("fs backend, no openat2", fs, NULL, NULL);
    dir_fs_force_walk(false);
    failed += cmocka_run_group_tests_name("mem backend", mem, NULL, NULL);
    failed += cmocka_run_group_tests_name("crash backend", crash, NULL, NULL);
    failed += cmocka_run_group_tests_name("fault backend over mem", fault, NULL, NULL);
    return failed ? 1 : 0;
}
