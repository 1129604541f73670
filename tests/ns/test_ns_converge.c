/* THE convergence test (suite 'fs': root, loop devices).
 *
 * A seeded random workload of namespace operations runs through the journal on a
 * loop-mounted ext4 image.  At random points a point-in-time snapshot of the image
 * is taken (fsfreeze, sparse copy, thaw).  At the end the final durable journal is
 * copied into every OLDER snapshot, recovery runs there, and the tree must be
 * identical to the final tree (names, types, modes, owners, sizes, content, link
 * counts, xattrs).  Each snapshot is also recovered with interruptions first
 * (stopped after k re-created records; stopped after replay but before the
 * checkpoint), then again (idempotence).  Sensitivity: the SplitFS#67 sequence
 * (create A; rename A->B; create A) is in every snapshot; with the deliberately
 * broken RENAME-by-name rule recovery of the first snapshot must NOT converge.
 *
 * Usage: test_ns_converge [seed] [ops] [ext4|xfs]   (defaults 1, 300, ext4) */
#include "ns_internal.h"
#include "ns_replay.h"
#include "ns_test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static unsigned g_seed = 1, g_ops = 300;
static const char *g_fstype = "ext4";
#define MAX_SNAPS 5

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int r = system(cmd);
    if (r != 0)
        fail_msg("command failed (%d): %s", r, cmd);
}

/* ---- the live tree, scanned (no model to get wrong) ---- */
typedef struct paths {
    char v[512][256];
    bool dir[512];
    size_t n;
} paths;

static void scan(int bfd, const char *rel, paths *p)
{
    int fd = openat(bfd, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    DIR *d = fdopendir(fd);
    struct dirent *de;
    while ((de = readdir(d)) && p->n < 512) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            (!rel[0] && (!strcmp(de->d_name, DUR_NS_RESERVED_NAME) || !strcmp(de->d_name, "A") ||
                         !strcmp(de->d_name, "B")))) /* the SplitFS#67 pair stays as it is */
            continue;
        char path[600];
        snprintf(path, sizeof path, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        assert_true(strlen(path) < 256);
        struct stat st;
        assert_int_equal(fstatat(bfd, path, &st, AT_SYMLINK_NOFOLLOW), 0);
        memcpy(p->v[p->n], path, strlen(path) + 1);
        p->dir[p->n] = S_ISDIR(st.st_mode);
        p->n++;
        if (S_ISDIR(st.st_mode))
            scan(bfd, path, p);
    }
    closedir(d);
}

static bool exists(int bfd, const char *path)
{
    struct stat st;
    return fstatat(bfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool is_dir(int bfd, const char *path)
{
    struct stat st;
    return fstatat(bfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static const char *pick(const paths *p, bool want_dir, bool allow_root)
{
    size_t cand[513], k = 0;
    if (want_dir && allow_root)
        cand[k++] = 512;
    for (size_t i = 0; i < p->n; i++)
        if (p->dir[i] == want_dir)
            cand[k++] = i;
    if (!k)
        return NULL;
    size_t c = cand[(size_t)rand() % k];
    return c == 512 ? "" : p->v[c];
}

static void new_path(const paths *p, char *out, size_t size)
{
    const char *d = pick(p, true, true);
    snprintf(out, size, "%s%sn%d", d, d[0] ? "/" : "", rand() % 8);
}

/* One random valid operation; returns false if the chosen one did not apply. */
static bool random_op(nt *t)
{
    paths *p = calloc(1, sizeof *p);
    scan(t->backing, "", p);
    char a[300], b[300];
    const char *x, *y;
    bool done = true;
    int op = rand() % 14;
    switch (op) {
    case 0:
    case 1:
        new_path(p, a, sizeof a);
        if ((done = !exists(t->backing, a)))
            assert_int_equal(nt_create(t, a, 0600 | (mode_t)(rand() % 0100), NULL), DUR_OK);
        break;
    case 2:
        new_path(p, a, sizeof a);
        if ((done = !exists(t->backing, a) && strlen(a) < 60))
            assert_int_equal(nt_mkdir(t, a, 0700 | (mode_t)(rand() % 0100)), DUR_OK);
        break;
    case 3:
        new_path(p, a, sizeof a);
        if ((done = !exists(t->backing, a)))
            assert_int_equal(nt_symlink(t, rand() % 2 ? "n1" : "../x/y", a), DUR_OK);
        break;
    case 4: /* hard link */
        x = pick(p, false, false);
        new_path(p, b, sizeof b);
        if ((done = x && !exists(t->backing, b)))
            assert_int_equal(nt_link(t, x, b), DUR_OK);
        break;
    case 5:
        x = pick(p, false, false);
        if ((done = (x != NULL)))
            assert_int_equal(nt_unlink(t, x), DUR_OK);
        break;
    case 6: { /* rmdir of an empty directory */
        x = pick(p, true, false);
        done = false;
        if (x) {
            size_t l = strlen(x);
            bool empty = true;
            for (size_t i = 0; i < p->n; i++)
                if (!strncmp(p->v[i], x, l) && p->v[i][l] == '/')
                    empty = false;
            if ((done = empty))
                assert_int_equal(nt_rmdir(t, x), DUR_OK);
        }
        break;
    }
    case 7:
    case 8: { /* rename a file (maybe over another file) or a directory (to a free name) */
        bool dir = op == 8;
        x = pick(p, dir, false);
        new_path(p, b, sizeof b);
        done = false;
        if (!x || !strcmp(x, b))
            break;
        if (dir) {
            size_t l = strlen(x);
            if (exists(t->backing, b) || (!strncmp(b, x, l) && b[l] == '/') || strlen(b) > 60)
                break;
        } else if (is_dir(t->backing, b)) {
            break;
        }
        /* renaming a name onto another name of the same inode is a no-op in POSIX */
        struct stat s1, s2;
        if (fstatat(t->backing, b, &s2, AT_SYMLINK_NOFOLLOW) == 0 &&
            fstatat(t->backing, x, &s1, AT_SYMLINK_NOFOLLOW) == 0 && s1.st_ino == s2.st_ino)
            break;
        done = true;
        assert_int_equal(nt_rename(t, x, b, 0), DUR_OK);
        break;
    }
    case 9: /* exchange two files */
        x = pick(p, false, false);
        y = pick(p, false, false);
        if ((done = x && y && strcmp(x, y) != 0))
            assert_int_equal(nt_rename(t, x, y, RENAME_EXCHANGE), DUR_OK);
        break;
    case 10: {
        x = pick(p, rand() % 2, false);
        struct stat st;
        if ((done = x && fstatat(t->backing, x, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    !S_ISLNK(st.st_mode)))
            assert_int_equal(nt_chmod(t, x, 0600 | (mode_t)(rand() % 0200)), DUR_OK);
        break;
    }
    case 11:
        x = pick(p, rand() % 2, false);
        if ((done = (x != NULL)))
            assert_int_equal(nt_chown(t, x, 1000 + (uid_t)(rand() % 3), 100 + (gid_t)(rand() % 3)),
                             DUR_OK);
        break;
    case 12: {
        x = pick(p, rand() % 2, false);
        struct stat st;
        if ((done = x && fstatat(t->backing, x, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    !S_ISLNK(st.st_mode))) {
            snprintf(a, sizeof a, "v%d", rand() % 100);
            assert_int_equal(nt_setxattr(t, x, rand() % 2 ? "user.a" : "user.b", a), DUR_OK);
        }
        break;
    }
    default: {
        x = pick(p, rand() % 2, false);
        char pp[400];
        done = false;
        if (x) {
            snprintf(pp, sizeof pp, "/proc/self/fd/%d/%s", t->backing, x);
            if ((done = (lgetxattr(pp, "user.a", a, sizeof a) >= 0)))
                assert_int_equal(nt_removexattr(t, x, "user.a"), DUR_OK);
        }
    }
    }
    free(p);
    return done;
}

typedef struct env {
    char *root;
    char img[300], mnt[300], backing[400], journal[500], final_journal[300], smnt[300];
} env;

static void snapshot(env *e, int k)
{
    sh("fsfreeze -f '%s'", e->mnt);
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "cp --sparse=always '%s' '%s.snap%d'", e->img, e->img, k);
    int rc = system(cmd);
    sh("fsfreeze -u '%s'", e->mnt);
    assert_int_equal(rc, 0);
}

static void log_warn(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= 4 || getenv("NS_TEST_VERBOSE"))
        fprintf(stderr, "[ns log %d] %s\n", level, msg);
}

static dur_code recover_at(env *e, dur_ns_recovery *rec, dur_error *err)
{
    char b[500];
    snprintf(b, sizeof b, "%s/backing", e->smnt);
    int bfd = open(b, O_RDONLY | O_DIRECTORY);
    assert_true(bfd >= 0);
    dur_ns_options o;
    dur_ns_options_default(&o);
    o.log = log_warn;
    dur_code c = dur_ns_recover_offline(bfd, &o, rec, err);
    close(bfd);
    return c;
}

static char *listing_at(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    char *l = nt_listing(fd);
    close(fd);
    return l;
}

static void mount_snap(env *e, const char *img)
{
    sh("mount -o loop '%s' '%s'", img, e->smnt);
    sh("rm -rf '%s/backing/.durfs/journal' && cp -a '%s' '%s/backing/.durfs/journal'", e->smnt,
       e->final_journal, e->smnt);
}

static env e; /* global so teardown can unmount after a failed assertion */

static int teardown(void **state)
{
    (void)state;
    ns_replay_test_rename_by_name = false;
    ns_replay_test_fail_after = 0;
    ns_replay_test_fail_mid_create = 0;
    ns_test_fail_before_checkpoint = false;
    ns_replay_test_no_evidence = false;
    if (e.root) {
        char cmd[1000];
        snprintf(cmd, sizeof cmd, "umount '%s' 2>/dev/null; umount '%s' 2>/dev/null; true", e.smnt,
                 e.mnt);
        if (system(cmd) != 0)
            return 0;
        if (!getenv("NS_TEST_KEEP"))
            nt_rm_rf(e.root);
        free(e.root);
        e.root = NULL;
    }
    return 0;
}

static void test_convergence(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    e.root = nt_tempdir("converge");
    snprintf(e.img, sizeof e.img, "%s/fs.img", e.root);
    snprintf(e.mnt, sizeof e.mnt, "%s/mnt", e.root);
    snprintf(e.smnt, sizeof e.smnt, "%s/smnt", e.root);
    snprintf(e.backing, sizeof e.backing, "%s/backing", e.mnt);
    snprintf(e.journal, sizeof e.journal, "%s/.durfs/journal", e.backing);
    snprintf(e.final_journal, sizeof e.final_journal, "%s/final-journal", e.root);
    /* fixed UUID and directory hash seed: same readdir order, same workload per seed */
    if (!strcmp(g_fstype, "xfs"))
        sh("truncate -s 320M '%s' && mkfs.xfs -q -f -m uuid=6a0ad0ab-5d55-4f2c-9d6e-0123456789ab "
           "'%s' && mkdir '%s' '%s'",
           e.img, e.img, e.mnt, e.smnt);
    else
        sh("truncate -s 64M '%s' && mkfs.ext4 -q -F -U 6a0ad0ab-5d55-4f2c-9d6e-0123456789ab -E "
           "hash_seed=1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9 '%s' && mkdir '%s' '%s'",
           e.img, e.img, e.mnt, e.smnt);
    sh("mount -o loop '%s' '%s' && mkdir '%s'", e.img, e.mnt, e.backing);

    int bfd = open(e.backing, O_RDONLY | O_DIRECTORY);
    dur_ns_options o;
    dur_ns_options_default(&o);
    o.checkpoint_bytes = UINT64_MAX; /* all records stay after the (empty) checkpoint */
    o.checkpoint_seconds = 1u << 30;
    o.log = log_warn;
    dur_error err;
    nt t = {.backing = bfd};
    assert_int_equal(dur_ns_open(bfd, &o, &t.ns, NULL, &err), DUR_OK);
    assert_true(dur_ns_fs_policy(t.ns)->fsync_hardens_all_metadata);
    dur_ns_status st;
    dur_ns_get_status(t.ns, &st);
    uint64_t syncfs_at_open = st.syncfs_calls; /* the checkpoint that opens the session */

    /* SplitFS#67, then the first snapshot: newer than these three records. */
    assert_int_equal(nt_create(&t, "A", 0644, NULL), DUR_OK);
    assert_int_equal(nt_rename(&t, "A", "B", 0), DUR_OK);
    assert_int_equal(nt_create(&t, "A", 0600, NULL), DUR_OK);
    int snaps = 0;
    snapshot(&e, snaps++);
    srand(g_seed);
    unsigned applied = 0;
    for (unsigned i = 0; i < g_ops; i++) {
        if (random_op(&t))
            applied++;
        if (snaps < MAX_SNAPS && rand() % (int)(g_ops / (MAX_SNAPS - 1) + 1) == 0)
            snapshot(&e, snaps++);
    }
    print_message("%s seed %u: %u operations applied, %d snapshots\n", g_fstype, g_seed, applied,
                  snaps);
    dur_ns_get_status(t.ns, &st);
    /* journaled fs: no syncfs per group commit (data syncs harden BACKING, replay the rest) */
    assert_int_equal(st.syncfs_calls, syncfs_at_open);
    sh("cp -a '%s' '%s'", e.journal, e.final_journal); /* CLOSE mode: all durable */
    char *final = nt_listing(bfd);
    assert_int_equal(dur_ns_close(t.ns, &err), DUR_OK);
    close(bfd);
    sh("umount '%s'", e.mnt);
    char sb[500];
    snprintf(sb, sizeof sb, "%s/backing", e.smnt);

    /* Sensitivity: the broken rule on the first snapshot must NOT converge. */
    char img[400];
    snprintf(img, sizeof img, "%s.snap0", e.img);
    sh("cp --sparse=always '%s' '%s.broken'", img, img);
    snprintf(img, sizeof img, "%s.snap0.broken", e.img);
    mount_snap(&e, img);
    dur_ns_recovery rec;
    ns_replay_test_rename_by_name = true;
    ns_replay_test_no_evidence = true; /* else A(o2) existing proves LSN 3 applied */
    assert_int_equal(recover_at(&e, &rec, &err), DUR_OK);
    ns_replay_test_rename_by_name = false;
    ns_replay_test_no_evidence = false;
    char *broken = listing_at(sb);
    assert_string_not_equal(broken, final);
    free(broken);
    sh("umount '%s'", e.smnt);

    for (int k = 0; k < snaps; k++) {
        snprintf(img, sizeof img, "%s.snap%d", e.img, k);
        if (getenv("NS_TEST_DUAL")) { /* debugging aid: uninterrupted on a copy first */
            char cp[500];
            snprintf(cp, sizeof cp, "%s.plain", img);
            sh("cp --sparse=always '%s' '%s'", img, cp);
            mount_snap(&e, cp);
            recover_at(&e, &rec, &err);
            char *plain = listing_at(sb);
            fprintf(stderr, "snapshot %d uninterrupted: %s\n", k,
                    strcmp(plain, final) ? "DIVERGES" : "converges");
            free(plain);
            sh("umount '%s'", e.smnt);
        }
        mount_snap(&e, img);
        /* interrupted after some re-created records (may finish if fewer) */
        bool interrupt = !getenv("NS_TEST_NO_INTERRUPT");
        if (interrupt) {
            /* between records, or inside a re-creation (after the create,
             * before its mapping) */
            uint64_t at = 1 + (uint64_t)(rand() % 30);
            if (rand() % 2)
                ns_replay_test_fail_mid_create = at;
            else
                ns_replay_test_fail_after = at;
            recover_at(&e, &rec, &err); /* fails, or succeeds if fewer records */
            ns_replay_test_fail_after = 0;
            ns_replay_test_fail_mid_create = 0;
            /* interrupted after replay, before the checkpoint */
            ns_test_fail_before_checkpoint = true;
            recover_at(&e, &rec, &err);
            ns_test_fail_before_checkpoint = false;
        }
        dur_code c = recover_at(&e, &rec, &err);
        if (c != DUR_OK)
            fail_msg("snapshot %d: recovery failed: %s", k, err.msg);
        char *got = listing_at(sb);
        if (strcmp(got, final) != 0) {
            char fe[400], fg[400];
            snprintf(fe, sizeof fe, "%s/expected.txt", e.root);
            snprintf(fg, sizeof fg, "%s/got.txt", e.root);
            FILE *f1 = fopen(fe, "w"), *f2 = fopen(fg, "w");
            fputs(final, f1);
            fputs(got, f2);
            fclose(f1);
            fclose(f2);
            fprintf(stderr, "snapshot %d did not converge (seed %u); diff expected got:\n", k,
                    g_seed);
            sh("diff '%s' '%s' >&2 || true", fe, fg);
            fail();
        }
        char orphans[600];
        struct stat ost;
        snprintf(orphans, sizeof orphans, "%s/%s/%s", sb, DUR_NS_RESERVED_NAME, NS_ORPHANS_NAME);
        assert_int_not_equal(stat(orphans, &ost), 0);
        print_message("snapshot %d: converged (%lu redone, %lu already, %lu skipped)\n", k,
                      (unsigned long)rec.ops_redone, (unsigned long)rec.ops_already,
                      (unsigned long)rec.ops_skipped);
        /* once more: nothing left to do, same tree */
        assert_int_equal(recover_at(&e, &rec, &err), DUR_OK);
        char *again = listing_at(sb);
        assert_string_equal(again, final);
        free(got);
        free(again);
        sh("umount '%s'", e.smnt);
    }
    free(final);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        g_seed = (unsigned)strtoul(argv[1], NULL, 10);
    if (argc > 2)
        g_ops = (unsigned)strtoul(argv[2], NULL, 10);
    if (argc > 3)
        g_fstype = argv[3];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_convergence, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
