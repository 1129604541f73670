/* tests/dir (suite 'fs', needs root + loop devices): dur_fs_probe on real ext4
 * with and without a journal, XFS and btrfs images mounted from loop devices --
 * fsync_hardens_all_metadata must be true exactly for journaled ext4 and XFS, and
 * file_fsync_trusted false exactly for ext4 with fast_commit, flushes_disabled
 * exactly for nobarrier mounts. */
#include "dir_test_util.h"
#include "durability/fh.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

static char *work;

static int setup(void **state)
{
    (void)state;
    work = tu_mkdtemp();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "umount -q %s/mnt 2>/dev/null; rm -rf %s", work, work);
    (void)system(cmd);
    free(work);
    return 0;
}

/* Make an image with mkfs_cmd ("%s" = image path), mount it with mount_opts added
 * to "loop", probe the mount. */
static void probe_image_with(const char *mkfs_cmd, unsigned size_mb, const char *mount_opts,
                             dur_fs_policy *pol)
{
    if (geteuid() != 0) {
        print_message("skipped: needs root to mount loop devices\n");
        skip();
    }
    char img[600], mnt[600], cmd[4200], mk[1400];
    snprintf(img, sizeof img, "%s/img", work);
    snprintf(mnt, sizeof mnt, "%s/mnt", work);
    snprintf(mk, sizeof mk, mkfs_cmd, img);
    snprintf(cmd, sizeof cmd,
             "truncate -s %uM %s && %s >/dev/null 2>&1 && mkdir -p %s && "
             "mount -o loop%s %s %s",
             size_mb, img, mk, mnt, mount_opts, img, mnt);
    if (system(cmd) != 0) {
        print_message("skipped: could not make/mount image (%s)\n", mk);
        skip();
    }
    int fd = open(mnt, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    dur_error err;
    OK(dur_fs_probe(fd, pol, &err));
    print_message("%s -> %s hardens=%d handles=%d\n", mkfs_cmd, pol->name,
                  pol->fsync_hardens_all_metadata, pol->has_handles);
    close(fd);
    snprintf(cmd, sizeof cmd, "umount %s", mnt);
    assert_int_equal(system(cmd), 0);
}

static void probe_image(const char *mkfs_cmd, unsigned size_mb, dur_fs_policy *pol)
{
    probe_image_with(mkfs_cmd, size_mb, "", pol);
}

static void test_ext4_journaled(void **state)
{
    (void)state;
    dur_fs_policy pol;
    probe_image("mkfs.ext4 -q -F %s", 64, &pol);
    assert_int_equal(pol.kind, DUR_FS_EXT4);
    assert_true(pol.fsync_hardens_all_metadata);
    assert_true(pol.file_fsync_trusted);
    assert_false(pol.flushes_disabled);
    assert_false(pol.is_volatile);
    assert_true(pol.has_handles);
}

/* nobarrier: no device cache flush ever; durfs must say so (flushes_disabled). */
static void check_nobarrier(const char *mkfs_cmd, unsigned size_mb, dur_fs_kind kind)
{
    dur_fs_policy pol;
    probe_image_with(mkfs_cmd, size_mb, ",nobarrier", &pol);
    assert_int_equal(pol.kind, kind);
    assert_true(pol.flushes_disabled);
}

static void test_ext4_nobarrier(void **state)
{
    (void)state;
    check_nobarrier("mkfs.ext4 -q -F %s", 64, DUR_FS_EXT4);
}

static void test_btrfs_nobarrier(void **state)
{
    (void)state;
    check_nobarrier("mkfs.btrfs -q -f %s", 128, DUR_FS_BTRFS);
}

/* The power-cut rig saw fast commits lose fsync'ed appends (docs/powercut.md). */
static void test_ext4_fast_commit(void **state)
{
    (void)state;
    dur_fs_policy pol;
    probe_image("mkfs.ext4 -q -F -O fast_commit %s", 64, &pol);
    assert_int_equal(pol.kind, DUR_FS_EXT4);
    assert_string_equal(pol.name, "ext4 (fast_commit)");
    assert_false(pol.file_fsync_trusted);
    assert_false(pol.fsync_hardens_all_metadata);
}

static void test_ext4_without_journal(void **state)
{
    (void)state;
    dur_fs_policy pol;
    probe_image("mkfs.ext4 -q -F -O ^has_journal %s", 64, &pol);
    assert_int_equal(pol.kind, DUR_FS_EXT4);
    assert_false(pol.fsync_hardens_all_metadata);
}

static void test_xfs(void **state)
{
    (void)state;
    dur_fs_policy pol;
    probe_image("mkfs.xfs -q -f %s", 320, &pol);
    assert_int_equal(pol.kind, DUR_FS_XFS);
    assert_true(pol.fsync_hardens_all_metadata);
    assert_true(pol.has_handles);
}

static void test_btrfs(void **state)
{
    (void)state;
    dur_fs_policy pol;
    probe_image("mkfs.btrfs -q -f %s", 128, &pol);
    assert_int_equal(pol.kind, DUR_FS_BTRFS);
    assert_false(pol.fsync_hardens_all_metadata);
    assert_false(pol.flushes_disabled);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ext4_journaled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ext4_without_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ext4_fast_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ext4_nobarrier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_btrfs_nobarrier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xfs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_btrfs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
