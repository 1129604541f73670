/* A failed journal write poisons the namespace journal (R6): the operation that hit
 * it gets an error (the daemon answers EIO), every later operation fails, and a
 * remount recovers the durable prefix.  The failure is real: the journal lives on a
 * tiny tmpfs that is filled up (ENOSPC).  Suite 'fs': needs root to mount. */
#include "ns_internal.h"
#include "ns_test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static void fill(const char *dir)
{
    char p[600];
    snprintf(p, sizeof p, "%s/filler", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    static char buf[4096];
    while (write(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
}

static void test_wal_failure_poisons(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char *root = nt_tempdir("poison");
    char backing[400], jfs[400], journal[500], filler[500];
    snprintf(backing, sizeof backing, "%s/backing", root);
    snprintf(jfs, sizeof jfs, "%s/jfs", root);
    snprintf(journal, sizeof journal, "%s/journal", jfs);
    snprintf(filler, sizeof filler, "%s/filler", jfs);
    assert_int_equal(mkdir(backing, 0755), 0);
    assert_int_equal(mkdir(jfs, 0755), 0);
    if (mount("durfs-ns-test", jfs, "tmpfs", 0, "size=256k") != 0) {
        nt_rm_rf(root);
        skip();
    }
    int bfd = open(backing, O_RDONLY | O_DIRECTORY);
    dur_ns_options o;
    dur_ns_options_default(&o);
    o.journal_dir = journal;
    o.checkpoint_bytes = UINT64_MAX;
    o.checkpoint_seconds = 1u << 30;
    dur_error err;
    nt t = {.backing = bfd};
    /* A journal that reserves room ahead is refused changes (ENOSPC) before a
     * write can fail on a full tmpfs; one that cannot reserve (a filesystem
     * without fallocate) still meets the failed write this test is about. */
    setenv("DUR_TEST_NO_WAL_RESERVE", "1", 1);
    assert_int_equal(dur_ns_open(bfd, &o, &t.ns, NULL, &err), DUR_OK);
    assert_int_equal(nt_mkdir(&t, "before", 0755), DUR_OK);
    fill(jfs);

    dur_code c = DUR_OK;
    int i;
    char name[300];
    for (i = 0; i < 2000 && c == DUR_OK; i++) {
        snprintf(name, sizeof name, "f%04d-%0200d", i, 0); /* long names fill the WAL fast */
        c = nt_create(&t, name, 0644, NULL);
    }
    assert_int_not_equal(c, DUR_OK); /* the op that hit ENOSPC is reported failed */
    dur_ns_status s;
    dur_ns_get_status(t.ns, &s);
    assert_true(s.errors >= 1);
    assert_false(s.all_durable);
    /* every later metadata operation fails too (poisoned), never "succeeds", and is
     * refused before the backing call: it has no effect at all */
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "after%d", k);
        dur_code c2 = nt_create(&t, name, 0644, NULL);
        assert_int_not_equal(c2, DUR_OK);
        assert_int_equal(dur_code_to_errno(c2, 0), -EIO);
        assert_int_equal(faccessat(bfd, name, F_OK, AT_SYMLINK_NOFOLLOW), -1);
    }
    dur_ns_op refused;
    dur_error e2;
    assert_int_not_equal(dur_ns_begin(t.ns, &refused), DUR_OK);
    assert_int_not_equal(dur_ns_end(&refused, &e2), DUR_OK);
    assert_non_null(strstr(e2.msg, "poison"));
    assert_int_not_equal(dur_ns_dir_fsync(t.ns, &e2), DUR_OK);
    assert_int_not_equal(dur_ns_close(t.ns, &e2), DUR_OK);

    /* Operator: free space, remount: recovery replays the durable prefix. */
    char *tree = nt_listing(bfd);
    assert_int_equal(unlink(filler), 0);
    dur_ns_recovery rec;
    assert_int_equal(dur_ns_open(bfd, &o, &t.ns, &rec, &err), DUR_OK);
    assert_true(rec.wal.records_replayed >= 1);
    char *after = nt_listing(bfd);
    assert_string_equal(tree, after); /* replay never undoes what BACKING already has */
    assert_int_equal(nt_mkdir(&t, "works-again", 0755), DUR_OK);
    assert_int_equal(dur_ns_close(t.ns, &err), DUR_OK);
    unsetenv("DUR_TEST_NO_WAL_RESERVE");
    free(tree);
    free(after);
    close(bfd);
    umount(jfs);
    nt_rm_rf(root);
    free(root);
}

/* A checkpoint whose syncfs of BACKING fails poisons the journal: syncfs reports a
 * writeback error once, so without the poison the next checkpoint would succeed
 * and truncate records (FILE_DATA) whose data the disk never got. */
static void test_failed_syncfs_poisons(void **state)
{
    (void)state;
    char *root = nt_tempdir("syncfs");
    int bfd = open(root, O_RDONLY | O_DIRECTORY);
    assert_true(bfd >= 0);
    dur_ns_options o;
    dur_ns_options_default(&o);
    nt t = {.backing = bfd};
    dur_error err;
    assert_int_equal(dur_ns_open(bfd, &o, &t.ns, NULL, &err), DUR_OK);
    assert_int_equal(nt_mkdir(&t, "a", 0755), DUR_OK);
    ns_test_syncfs_errno = EIO;
    assert_int_not_equal(dur_ns_checkpoint(t.ns, &err), DUR_OK);
    ns_test_syncfs_errno = 0;
    /* the device is fine again, the error is not forgotten */
    assert_int_not_equal(dur_ns_checkpoint(t.ns, &err), DUR_OK);
    dur_ns_op op;
    dur_ns_begin(t.ns, &op);
    assert_int_equal(mkdirat(bfd, "b", 0755), 0);
    dur_fh p, b;
    assert_int_equal(dur_fh_get(bfd, "", &p, &err), DUR_OK);
    assert_int_equal(dur_fh_get(bfd, "b", &b, &err), DUR_OK);
    dur_ns_log_create(&op, &p, "b", &b, S_IFDIR | 0755, 0, 0, 0, NULL);
    assert_int_not_equal(dur_ns_end(&op, &err), DUR_OK);
    assert_non_null(strstr(err.msg, "syncfs"));
    assert_int_not_equal(dur_ns_close(t.ns, &err), DUR_OK);
    close(bfd);
    nt_rm_rf(root);
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wal_failure_poisons),
        cmocka_unit_test(test_failed_syncfs_poisons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
