/* Unit tests of the daemon's command line (options.c) and stats JSON (stats.c). */
#include "options.h"
#include "stats.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

/* argv[0] is "durfs"; args is NULL-terminated. */
static int parse_v(durfs_options *o, char *msg, const char *const *args)
{
    static char store[32][256];
    char *argv[32];
    int argc = 1;
    argv[0] = "durfs";
    for (; args[argc - 1] && argc < 32; argc++) {
        snprintf(store[argc], sizeof(store[argc]), "%s", args[argc - 1]);
        argv[argc] = store[argc];
    }
    return options_parse(argc, argv, o, msg, 512);
}
#define parse(o, msg, n, ...) parse_v(o, msg, (const char *const[]){__VA_ARGS__, NULL})

static void defaults_and_positionals(void **state)
{
    (void)state;
    durfs_options o;
    char msg[512];
    assert_int_equal(parse(&o, msg, 3, "/b", "/m"), 0);
    assert_string_equal(o.backing, "/b");
    assert_string_equal(o.mountpoint, "/m");
    assert_int_equal(o.mode, DUR_NS_CLOSE);
    assert_int_equal(o.commit_seconds, 5);
    assert_false(o.foreground);
    assert_string_equal(o.fuse_opts, "");
}

static void durfs_options_consumed(void **state)
{
    (void)state;
    durfs_options o;
    char msg[512];
    assert_int_equal(
        parse(&o, msg, 8, "-f", "-s", "-o",
              "durability=ordered,commit=7,journal=/j,checkpoint_mb=3",
              "-ocheckpoint_secs=9,data_journal=0,allow_other,ro,nonempty,fsname=x,noatime", "/b",
              "/m"),
        0);
    assert_true(o.foreground);
    assert_true(o.single_thread);
    assert_int_equal(o.mode, DUR_NS_ORDERED);
    assert_int_equal(o.commit_seconds, 7);
    assert_string_equal(o.journal_dir, "/j");
    assert_int_equal(o.checkpoint_mb, 3);
    assert_int_equal(o.checkpoint_secs, 9);
    assert_int_equal(o.data_journal, 0);
    assert_true(o.allow_other && o.read_only && o.nonempty);
    assert_string_equal(o.fuse_opts, "fsname=x,noatime"); /* only FUSE's own pass on */
}

/* fstab's atime policies are accepted and dropped (libfuse 3.14 refuses them and
 * FUSE keeps no atime); max_read passes on and is kept for init; blksize is for
 * block-device FUSE only and refused. */
static void fstab_atime_policies_and_max_read(void **state)
{
    (void)state;
    durfs_options o;
    char msg[512];
    assert_int_equal(parse(&o, msg, 4,
                           "-orelatime,norelatime,strictatime,nostrictatime,diratime,nodiratime,"
                           "lazytime,nolazytime,max_read=65536,noatime",
                           "/b", "/m"),
                     0);
    assert_string_equal(o.fuse_opts, "max_read=65536,noatime");
    assert_int_equal(o.max_read, 65536);
    assert_int_equal(parse(&o, msg, 4, "-oblksize=4096", "/b", "/m"), 2);
    assert_non_null(strstr(msg, "blksize"));
    assert_int_equal(parse(&o, msg, 4, "-omax_read=0", "/b", "/m"), 2);
    assert_non_null(strstr(msg, "max_read=0"));
}

/* Options for mount(8), systemd or the admin reach the daemon through
 * mount.fuse3 (where mount.durfs is not installed): accepted and dropped, as
 * mount.durfs drops them (nouser_xattr was an unknown option here). */
static void fstab_only_options_dropped(void **state)
{
    (void)state;
    durfs_options o;
    char msg[512];
    assert_int_equal(parse(&o, msg, 4,
                           "-odefaults,auto,noauto,nofail,_netdev,user,users,nouser,owner,group,"
                           "nouser_xattr,x-systemd.automount,X-mount.mkdir,comment=c,nodev",
                           "/b", "/m"),
                     0);
    assert_string_equal(o.fuse_opts, "nodev");
}

static void usage_errors_name_the_argument(void **state)
{
    (void)state;
    durfs_options o;
    char msg[512];
    assert_int_equal(parse(&o, msg, 4, "-o", "durabilty=sync", "/b", "/m"), 2);
    assert_non_null(strstr(msg, "durabilty"));
    assert_int_equal(parse(&o, msg, 5, "-o", "durability=fast", "/b", "/m"), 2);
    assert_non_null(strstr(msg, "durability=fast"));
    assert_int_equal(parse(&o, msg, 5, "-o", "commit=0", "/b", "/m"), 2);
    assert_int_equal(parse(&o, msg, 5, "-o", "commit=5x", "/b", "/m"), 2);
    assert_int_equal(parse(&o, msg, 5, "-o", "data_journal=65537", "/b", "/m"), 2);
    assert_non_null(strstr(msg, "data_journal=65537"));
    assert_int_equal(parse(&o, msg, 5, "-o", "journal=rel/dir", "/b", "/m"), 2);
    assert_non_null(strstr(msg, "absolute"));
    assert_int_equal(parse(&o, msg, 2, "/b"), 2);
    assert_non_null(strstr(msg, "MOUNTPOINT"));
    assert_int_equal(parse_v(&o, msg, (const char *const[]){NULL}), 2);
    assert_non_null(strstr(msg, "BACKING"));
    assert_int_equal(parse(&o, msg, 4, "/b", "/m", "/extra"), 2);
    assert_int_equal(parse(&o, msg, 4, "-x", "/b", "/m"), 2);
    assert_int_equal(parse(&o, msg, 2, "-o"), 2);
    assert_int_equal(parse(&o, msg, 2, "--version"), 0);
    assert_true(o.show_version);
}

static void stats_json_has_every_op(void **state)
{
    (void)state;
    uint64_t t = stats_begin(OP_rename);
    stats_error();
    stats_end(OP_rename, t);
    static char buf[16384];
    int len = stats_json(buf, sizeof(buf), 1.5);
    assert_true(len > 0 && (size_t)len == strlen(buf));
    assert_non_null(strstr(buf, "\"uptime_seconds\":1.500"));
    assert_non_null(strstr(buf, "\"rename\":{\"count\":1,\"errors\":1,"));
    assert_non_null(strstr(buf, "\"copy_file_range\":{\"count\":0,"));
    assert_int_equal(buf[len - 1], '}');
    assert_int_equal(stats_json(buf, 64, 0), -1); /* too small: refused, not cut */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_and_positionals),
        cmocka_unit_test(durfs_options_consumed),
        cmocka_unit_test(fstab_atime_policies_and_max_read),
        cmocka_unit_test(fstab_only_options_dropped),
        cmocka_unit_test(usage_errors_name_the_argument),
        cmocka_unit_test(stats_json_has_every_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
