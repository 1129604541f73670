/* tests/dir: kernel file handles and the backing-filesystem probe. */
#include "dir_test_util.h"
#include "durability/fh.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

static char *root;
static int rootfd = -1;

static int setup(void **state)
{
    (void)state;
    root = tu_mkdtemp();
    rootfd = open(root, O_RDONLY | O_DIRECTORY);
    return rootfd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    close(rootfd);
    tu_rmtree(root);
    free(root);
    return 0;
}

static int create_file(const char *name, const char *content)
{
    int fd = openat(rootfd, name, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    return fd;
}

static void test_handle_identifies_inode_not_name(void **state)
{
    (void)state;
    dur_error err;
    close(create_file("a", "A"));
    dur_fh h1, h2, h3;
    dur_code rc = dur_fh_get(rootfd, "a", &h1, &err);
    if (rc == DUR_E_NOTSUP) {
        print_message("skipped: %s has no file handles (%s)\n", root, err.msg);
        skip();
    }
    OK(rc);
    assert_true(h1.len > 0 && h1.len <= DUR_FH_MAX_BYTES);
    assert_int_equal(renameat(rootfd, "a", rootfd, "b"), 0);
    OK(dur_fh_get(rootfd, "b", &h2, &err));
    assert_true(dur_fh_equal(&h1, &h2)); /* same inode under a new name */
    close(create_file("a", "other"));
    OK(dur_fh_get(rootfd, "a", &h3, &err));
    assert_false(dur_fh_equal(&h1, &h3));
    dur_fh self;
    OK(dur_fh_get(rootfd, "", &self, &err)); /* the directory itself */
    assert_false(dur_fh_equal(&self, &h1));
    char buf[2 * DUR_FH_MAX_BYTES + 16];
    dur_fh_format(&h1, buf, sizeof buf);
    assert_int_equal(strlen(buf),
                     strlen(strchr(buf, ':') + 1) + (size_t)(strchr(buf, ':') - buf) + 1);
    assert_int_equal(strlen(strchr(buf, ':') + 1), 2 * h1.len);
    char tiny[4];
    dur_fh_format(&h1, tiny, sizeof tiny);
    assert_true(strlen(tiny) < sizeof tiny);
    FAILS(dur_fh_get(rootfd, "missing", &h3, &err), DUR_E_NOTFOUND);
    assert_string_equal(err.path, "missing");
}

static void test_handle_does_not_follow_symlink(void **state)
{
    (void)state;
    dur_error err;
    close(create_file("target", "T"));
    assert_int_equal(symlinkat("target", rootfd, "link"), 0);
    dur_fh ht, hl;
    if (dur_fh_get(rootfd, "target", &ht, &err) == DUR_E_NOTSUP)
        skip();
    OK(dur_fh_get(rootfd, "link", &hl, &err));
    assert_false(dur_fh_equal(&ht, &hl));
}

static void test_open_by_handle_round_trip(void **state)
{
    (void)state;
    dur_error err;
    close(create_file("f", "payload"));
    dur_fh h;
    if (dur_fh_get(rootfd, "f", &h, &err) == DUR_E_NOTSUP)
        skip();
    int fd;
    dur_code rc = dur_fh_open(rootfd, &h, O_RDONLY, &fd, &err);
    if (geteuid() != 0) {
        print_message("skipped: open_by_handle_at needs root (CAP_DAC_READ_SEARCH)\n");
        assert_int_equal(rc, DUR_E_NOTSUP);
        assert_non_null(strstr(err.msg, "CAP_DAC_READ_SEARCH"));
        skip();
    }
    OK(rc);
    char buf[16] = {0};
    assert_int_equal(read(fd, buf, sizeof buf), 7);
    assert_string_equal(buf, "payload");
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    /* Once the inode is gone the handle is stale. */
    assert_int_equal(unlinkat(rootfd, "f", 0), 0);
    sync(); /* let the inode really be evicted on filesystems that defer it */
    rc = dur_fh_open(rootfd, &h, O_RDONLY, &fd, &err);
    if (rc == DUR_OK)
        close(fd); /* some fs keep an unlinked inode openable briefly: not an error */
    else if (rc !=
             DUR_E_NOTFOUND) /* was ENOMEM twice in CI: see test_stale_handle_while_evicting */
        fail_msg("stale handle: code %d, errno %d, %s", (int)rc, err.sys_errno, err.msg);
    dur_fh bad = {0};
    FAILS(dur_fh_open(rootfd, &bad, O_RDONLY, &fd, &err), DUR_E_INVAL);
    assert_int_equal(fd, -1);
}

/* A handle of a file just unlinked, opened while the kernel is still evicting
 * the inode: open_by_handle_at answered ENOMEM there (kernel 6.18, ext4) when
 * other threads synced and the page cache was being dropped.  dur_fh_open must
 * report the inode gone (NOTFOUND) or open it, never fail with an I/O error:
 * durfs would hand ENOMEM to a program.  Without the ENOMEM retry in
 * dur_fh_open this fails (a few times per 10,000 rounds here). */
typedef struct churn {
    int n, rounds, errors;
    char msg[sizeof(((dur_error *)0)->msg) + 64];
} churn;

static atomic_bool churn_done;

static void *churn_handles(void *arg)
{
    churn *c = arg;
    char name[32];
    snprintf(name, sizeof name, "churn%d", c->n);
    for (int i = 0; i < c->rounds; i++) {
        close(create_file(name, "x"));
        dur_fh h;
        dur_error err;
        if (dur_fh_get(rootfd, name, &h, &err) != DUR_OK || unlinkat(rootfd, name, 0) != 0) {
            c->errors++;
            continue;
        }
        if (c->n == 0)
            sync();
        int fd;
        dur_code rc = dur_fh_open(rootfd, &h, O_RDONLY, &fd, &err);
        if (rc == DUR_OK)
            close(fd);
        else if (rc != DUR_E_NOTFOUND && c->errors++ == 0)
            snprintf(c->msg, sizeof c->msg, "round %d: code %d, errno %d: %s", i, (int)rc,
                     err.sys_errno, err.msg);
    }
    return NULL;
}

static void *drop_caches(void *arg)
{
    (void)arg;
    while (!atomic_load(&churn_done)) {
        int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
        if (fd < 0)
            return NULL; /* not root: the churn alone */
        (void)!write(fd, "2", 1);
        close(fd);
        usleep(10000);
    }
    return NULL;
}

static void test_stale_handle_while_evicting(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* open_by_handle_at needs CAP_DAC_READ_SEARCH */
    churn c[2] = {{.n = 0, .rounds = 10000}, {.n = 1, .rounds = 10000}};
    pthread_t t[3];
    atomic_store(&churn_done, false);
    assert_int_equal(pthread_create(&t[2], NULL, drop_caches, NULL), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn_handles, &c[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    atomic_store(&churn_done, true);
    pthread_join(t[2], NULL);
    for (int i = 0; i < 2; i++)
        if (c[i].errors)
            fail_msg("thread %d: %d error(s); first: %s", i, c[i].errors, c[i].msg);
}

static void test_probe_reports_fs_of_tmp(void **state)
{
    (void)state;
    dur_error err;
    dur_fs_policy pol;
    OK(dur_fs_probe(rootfd, &pol, &err));
    struct statfs sf;
    assert_int_equal(fstatfs(rootfd, &sf), 0);
    print_message("probe of %s: %s, volatile=%d, fsync_hardens_all_metadata=%d, "
                  "handles=%d\n",
                  root, pol.name, pol.is_volatile, pol.fsync_hardens_all_metadata, pol.has_handles);
    switch ((unsigned long)sf.f_type & 0xFFFFFFFFul) {
    case 0xEF53:
        assert_int_equal(pol.kind, DUR_FS_EXT4);
        break;
    case 0x58465342:
        assert_int_equal(pol.kind, DUR_FS_XFS);
        assert_true(pol.fsync_hardens_all_metadata);
        break;
    case 0x9123683E:
        assert_int_equal(pol.kind, DUR_FS_BTRFS);
        assert_false(pol.fsync_hardens_all_metadata);
        break;
    case 0x01021994:
        assert_int_equal(pol.kind, DUR_FS_TMPFS);
        assert_true(pol.is_volatile);
        assert_false(pol.fsync_hardens_all_metadata);
        break;
    case 0x794C7630:
        assert_int_equal(pol.kind, DUR_FS_OVERLAY);
        assert_false(pol.fsync_hardens_all_metadata);
        break;
    default:
        break;
    }
    assert_true(pol.name[0] != '\0');
    dur_fh h;
    assert_int_equal(pol.has_handles, dur_fh_get(rootfd, "", &h, NULL) == DUR_OK);
    FAILS(dur_fs_probe(-1, &pol, &err), DUR_E_IO);
    assert_int_equal(err.sys_errno, EBADF);
}

static void test_fs_same(void **state)
{
    (void)state;
    int fd = create_file("x", "");
    assert_true(dur_fs_same(rootfd, fd));
    int procfd = open("/proc/self", O_RDONLY | O_DIRECTORY);
    assert_true(procfd >= 0);
    assert_false(dur_fs_same(rootfd, procfd));
    assert_false(dur_fs_same(rootfd, -1));
    close(procfd);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handle_identifies_inode_not_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handle_does_not_follow_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_by_handle_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_handle_while_evicting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_reports_fs_of_tmp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fs_same, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
