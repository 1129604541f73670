/* mount.durfs option translation: what reaches the daemon, what is dropped, and
 * that every bad option is refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mount_options.h"

#include <string.h>

static void translates(const char *in, const char *want)
{
    mount_opts_result r;
    assert_true(mount_opts_translate(in, false, &r));
    assert_string_equal(r.daemon_opts, want);
}

static void refuses(const char *in, const char *named)
{
    mount_opts_result r;
    assert_false(mount_opts_translate(in, false, &r));
    assert_non_null(strstr(r.error, named));
}

static void test_empty(void **state)
{
    (void)state;
    translates(NULL, "");
    translates("", "");
    translates("defaults", "");
}

static void test_daemon_options_pass(void **state)
{
    (void)state;
    translates("durability=ordered,commit=7,journal=/j,checkpoint_mb=64,checkpoint_secs=300",
               "durability=ordered,commit=7,journal=/j,checkpoint_mb=64,checkpoint_secs=300");
    translates("allow_other,default_permissions", "allow_other,default_permissions");
    translates("data_journal=0", "data_journal=0");
    translates("data_journal=65536", "data_journal=65536");
}

static void test_fstab_only_options_dropped(void **state)
{
    (void)state;
    translates("defaults,auto,noauto,nofail,_netdev,user,users,nouser,owner,"
               "x-systemd.requires=app-prep.service,x-systemd.automount,X-mount.mkdir,"
               "comment=systemd.wants=foo,durability=close",
               "durability=close");
}

static void test_fuse_flags_pass(void **state)
{
    (void)state;
    translates("rw,nodev,nosuid,noexec,noatime", "rw,nodev,nosuid,noexec,noatime");
    translates("fsname=/data,subtype=durfs", "fsname=/data,subtype=durfs");
    /* atime policies reach the daemon, which drops them (FUSE keeps no atime) */
    translates("relatime,nodiratime,lazytime,nostrictatime",
               "relatime,nodiratime,lazytime,nostrictatime");
}

static void test_read_only_tracks_last(void **state)
{
    (void)state;
    mount_opts_result r;
    assert_true(mount_opts_translate("ro", false, &r));
    assert_true(r.read_only);
    assert_true(mount_opts_translate("ro,rw", false, &r));
    assert_false(r.read_only);
}

static void test_bad_values_refused(void **state)
{
    (void)state;
    refuses("durability=fast", "durability=fast");
    refuses("durability=", "durability");
    refuses("durability", "durability");
    refuses("commit=0", "commit=0");
    refuses("commit=abc", "commit=abc");
    refuses("commit=-3", "commit=-3");
    refuses("commit=99999999999999999999", "commit=");
    refuses("checkpoint_mb=0", "checkpoint_mb");
    refuses("checkpoint_secs=1x", "checkpoint_secs");
    refuses("data_journal=65537", "data_journal");
    refuses("journal=relative/dir", "absolute");
    refuses("remount,ro", "unmount and mount again");
    refuses("bind", "not a durfs option");
}

static void test_unknown_refused_or_sloppy(void **state)
{
    (void)state;
    refuses("rw,bogus_opt", "bogus_opt");
    refuses("durablity=sync", "durablity"); /* a typo must not mount with other guarantees */
    mount_opts_result r;
    assert_true(mount_opts_translate("bogus_opt,ro", true, &r));
    assert_string_equal(r.daemon_opts, "ro");
    assert_non_null(strstr(r.warnings, "bogus_opt"));
}

static void test_empty_items_tolerated(void **state)
{
    (void)state;
    translates(",ro,,nodev,", "ro,nodev");
}

static void test_overlong_refused(void **state)
{
    (void)state;
    char big[MOUNT_OPTS_MAX * 2];
    big[0] = '\0';
    while (strlen(big) + 8 < sizeof big)
        strcat(big, "noatime,");
    mount_opts_result r;
    assert_false(mount_opts_translate(big, false, &r));
    assert_non_null(strstr(r.error, "too long"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_daemon_options_pass),
        cmocka_unit_test(test_fstab_only_options_dropped),
        cmocka_unit_test(test_fuse_flags_pass),
        cmocka_unit_test(test_read_only_tracks_last),
        cmocka_unit_test(test_bad_values_refused),
        cmocka_unit_test(test_unknown_refused_or_sloppy),
        cmocka_unit_test(test_empty_items_tolerated),
        cmocka_unit_test(test_overlong_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
