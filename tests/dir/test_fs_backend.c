/* tests/dir: what only the filesystem backend does -- confinement against symlink
 * escapes, the cross-process lock, root creation, fd constructors. */
#include "dir_test_util.h"
#include "dir_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *root;
static dur_dir *d;

static int setup(void **state)
{
    (void)state;
    dur_error err;
    root = tu_mkdtemp();
    return dur_dir_open_fs(root, false, &d, &err) == DUR_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    dur_dir_close(d);
    tu_rmtree(root);
    free(root);
    return 0;
}

static void in_root(char *buf, size_t size, const char *rel)
{
    snprintf(buf, size, "%s/%s", root, rel);
}

static void test_symlink_escape_refused(void **state)
{
    (void)state;
    dur_error err;
    char p[1024];
    in_root(p, sizeof p, "evil");
    assert_int_equal(symlink("/etc", p), 0);
    in_root(p, sizeof p, "evilfile");
    assert_int_equal(symlink("/etc/passwd", p), 0);
    in_root(p, sizeof p, "up");
    assert_int_equal(symlink("..", p), 0);
    dur_file *f;
    bool ex;
    dur_names ns;
    FAILS(dur_dir_open(d, "evil/passwd", DUR_O_READ, &f, &err), DUR_E_INVAL);
    assert_string_equal(err.path, "evil/passwd");
    assert_non_null(strstr(err.msg, "escapes"));
    FAILS(dur_dir_open(d, "evilfile", DUR_O_READ, &f, &err), DUR_E_INVAL);
    FAILS(dur_dir_open(d, "up/x", DUR_O_WRITE | DUR_O_CREATE, &f, &err), DUR_E_INVAL);
    FAILS(dur_dir_exists(d, "evil/passwd", &ex, &err), DUR_E_INVAL);
    FAILS(dur_dir_list(d, "evil", &ns, &err), DUR_E_INVAL);
    FAILS(dur_dir_sync_dir(d, "evil", &err), DUR_E_INVAL);
    assert_int_not_equal(dur_dir_mkdir_p(d, "evil/durfs-test-should-not-exist", &err), DUR_OK);
    assert_int_not_equal(dur_dir_remove(d, "evil/hostname", &err), DUR_OK);
    assert_int_not_equal(dur_dir_rename(d, "evil/hostname", "stolen", &err), DUR_OK);
    assert_int_not_equal(access("/etc/durfs-test-should-not-exist", F_OK), 0);
    /* The symlink itself is an entry in the root and may be removed. */
    OK(dur_dir_exists(d, "evil", &ex, &err));
    assert_true(ex);
    OK(dur_dir_remove(d, "evilfile", &err));
    assert_int_equal(access("/etc/passwd", F_OK), 0);
}

/* Without openat2 the backend walks components with O_NOFOLLOW: every symlink is
 * refused, escaping or not. */
static void test_walk_fallback_refuses_symlinks(void **state)
{
    (void)state;
    dur_error err;
    char p[1024];
    in_root(p, sizeof p, "evil");
    assert_int_equal(symlink("/etc", p), 0);
    OK(dur_dir_mkdir_p(d, "sub", &err));
    tu_write_str(d, "sub/f", "inside");
    in_root(p, sizeof p, "in");
    assert_int_equal(symlink("sub", p), 0);
    dir_fs_force_walk(true);
    dur_file *f;
    FAILS(dur_dir_open(d, "evil/passwd", DUR_O_READ, &f, &err), DUR_E_INVAL);
    assert_non_null(strstr(err.msg, "symlink"));
    FAILS(dur_dir_open(d, "in/f", DUR_O_READ, &f, &err), DUR_E_INVAL);
    FAILS(dur_dir_open(d, "in", DUR_O_READ, &f, &err), DUR_E_INVAL);
    assert_true(tu_content_is(d, "sub/f", "inside"));
    dir_fs_force_walk(false);
    assert_true(tu_content_is(d, "in/f", "inside"));
}

static void test_symlink_inside_root_followed(void **state)
{
    (void)state;
    dur_error err;
    OK(dur_dir_mkdir_p(d, "sub", &err));
    tu_write_str(d, "sub/f", "inside");
    char p[1024];
    in_root(p, sizeof p, "in");
    assert_int_equal(symlink("sub", p), 0);
    assert_true(tu_content_is(d, "in/f", "inside"));
}

/* Child: try the lock, exit 0 iff it fails with the expected message. */
static int child_expect_locked(const char *lockpath, long holder)
{
    dur_error err;
    dur_dir *cd;
    if (dur_dir_open_fs(root, false, &cd, &err) != DUR_OK)
        return 10;
    dur_lock *lk;
    dur_code rc = dur_dir_lock(cd, lockpath, &lk, &err);
    char want[64];
    snprintf(want, sizeof want, "locked by pid %ld", holder);
    if (rc != DUR_E_LOCKED)
        return 11;
    if (strcmp(err.msg, want) != 0)
        return 12;
    dur_dir_close(cd);
    return 0;
}

static int run_child(int (*fn)(const char *, long), const char *lp, long holder)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn(lp, holder));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static int child_take_and_die(const char *lockpath, long unused)
{
    (void)unused;
    dur_error err;
    dur_dir *cd;
    dur_lock *lk;
    if (dur_dir_open_fs(root, false, &cd, &err) != DUR_OK)
        return 10;
    if (dur_dir_lock(cd, lockpath, &lk, &err) != DUR_OK)
        return 11;
    return 0; /* exit without releasing: the kernel drops the flock */
}

static void test_lock_across_processes(void **state)
{
    (void)state;
    dur_error err;
    dur_lock *lk;
    OK(dur_dir_lock(d, "LOCK", &lk, &err));
    assert_int_equal(run_child(child_expect_locked, "LOCK", (long)getpid()), 0);
    dur_lock_release(lk);
    /* A holder that dies leaves no stale lock. */
    assert_int_equal(run_child(child_take_and_die, "LOCK", 0), 0);
    OK(dur_dir_lock(d, "LOCK", &lk, &err));
    /* The file names the current holder. */
    char *s = tu_read(d, "LOCK", NULL, NULL);
    assert_int_equal(strtol(s, NULL, 10), (long)getpid());
    free(s);
    dur_lock_release(lk);
    FAILS(dur_dir_lock(d, "nodir/LOCK", &lk, &err), DUR_E_NOTFOUND);
}

static void test_open_root_create_and_fd(void **state)
{
    (void)state;
    dur_error err;
    char p[1024];
    in_root(p, sizeof p, "x/y/z");
    dur_dir *d2;
    FAILS(dur_dir_open_fs(p, false, &d2, &err), DUR_E_NOTFOUND);
    assert_string_equal(err.path, p);
    OK(dur_dir_open_fs(p, true, &d2, &err));
    tu_write_str(d2, "f", "z");
    dur_dir_close(d2);
    assert_true(tu_content_is(d, "x/y/z/f", "z"));
    FAILS(dur_dir_open_fs("", true, &d2, &err), DUR_E_INVAL);
    in_root(p, sizeof p, "x/y/z/f");
    FAILS(dur_dir_open_fs(p, false, &d2, &err), DUR_E_IO); /* a file, not a directory */
    assert_int_equal(err.sys_errno, ENOTDIR);

    int fd = open(root, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    OK(dur_dir_open_fs_fd(fd, &d2, &err));
    close(fd); /* the dir keeps its own dup */
    assert_true(tu_content_is(d2, "x/y/z/f", "z"));
    dur_dir_close(d2);
    fd = open(p, O_RDONLY);
    FAILS(dur_dir_open_fs_fd(fd, &d2, &err), DUR_E_INVAL);
    close(fd);
    FAILS(dur_dir_open_fs_fd(-1, &d2, &err), DUR_E_IO);
}

static void test_fifo_and_special_files_refused_without_blocking(void **state)
{
    (void)state;
    dur_error err;
    char p[1024];
    in_root(p, sizeof p, "fifo");
    assert_int_equal(mkfifo(p, 0644), 0);
    dur_file *f;
    FAILS(dur_dir_open(d, "fifo", DUR_O_READ, &f, &err), DUR_E_INVAL);
    assert_non_null(strstr(err.msg, "not a regular file"));
    dur_lock *lk;
    FAILS(dur_dir_lock(d, "fifo", &lk, &err), DUR_E_INVAL);
    void *data;
    size_t len;
    FAILS(dur_file_read_all(d, "fifo", 100, &data, &len, &err), DUR_E_INVAL);
}

static void test_files_are_cloexec_and_modes(void **state)
{
    (void)state;
    dur_error err;
    dur_file *f;
    OK(dur_dir_create(d, "f", &f, &err));
    int flags = fcntl(f->ops->fd(f), F_GETFD);
    assert_true(flags & FD_CLOEXEC);
    assert_false(fcntl(f->ops->fd(f), F_GETFL) & O_NONBLOCK);
    dur_file_close(f);
    assert_true(fcntl(d->ops->root_fd(d), F_GETFD) & FD_CLOEXEC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_symlink_escape_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_inside_root_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_walk_fallback_refuses_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_across_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_root_create_and_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_are_cloexec_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_and_special_files_refused_without_blocking, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
