/* Durability modes and the data-sync policy of the namespace journal.
 *  - CLOSE: dur_ns_end returns with the record durable; ORDERED: it does not, the
 *    committer makes it durable within commit_seconds, dir fsync at once;
 *  - file close syncs dirty data in CLOSE/SYNC only; SYNC syncs every write;
 *  - prepare_rename syncs a dirty source in every mode; the skip switches
 *    (DUR_SKIP_CLOSE_SYNC, DUR_SKIP_RENAME_SOURCE_SYNC) make those assertions fail,
 *    which is what shows the tests depend on the syncs;
 *  - a size change is fsynced before the ack; checkpoints; read-only journals.
 * Waiting on the background thread is bounded (30 s) and never asserts speed. */
#include "ns_test_util.h"

#include "durability/testing.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include "ns_internal.h"
#include "ns_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <syslog.h>
#include <unistd.h>

typedef struct fixture {
    char *root;
    int bfd;
    nt t;
} fixture;

static void open_mode(fixture *f, dur_ns_mode mode, unsigned commit_seconds, uint64_t ckpt_bytes)
{
    dur_ns_options o;
    dur_ns_options_default(&o);
    o.mode = mode;
    o.commit_seconds = commit_seconds;
    o.checkpoint_bytes = ckpt_bytes;
    o.checkpoint_seconds = 1u << 30;
    dur_error err;
    if (dur_ns_open(f->bfd, &o, &f->t.ns, NULL, &err) != DUR_OK)
        fail_msg("dur_ns_open: %s", err.msg);
    f->t.backing = f->bfd;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->root = nt_tempdir("modes");
    f->bfd = open(f->root, O_RDONLY | O_DIRECTORY);
    assert_true(f->bfd >= 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    dur_test_set_skip(DUR_SKIP_NONE);
    if (f->t.ns)
        dur_ns_close(f->t.ns, NULL);
    close(f->bfd);
    nt_rm_rf(f->root);
    free(f->root);
    free(f);
    return 0;
}

static dur_ns_status status(fixture *f)
{
    dur_ns_status s;
    dur_ns_get_status(f->t.ns, &s);
    return s;
}

/* Wait (bounded) until pred holds; returns whether it did. */
static bool wait_for(fixture *f, bool (*pred)(const dur_ns_status *, uint64_t), uint64_t arg)
{
    for (int i = 0; i < 300; i++) {
        dur_ns_status s = status(f);
        if (pred(&s, arg))
            return true;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}
static bool durable_at_least(const dur_ns_status *s, uint64_t lsn)
{
    return s->durable_lsn >= lsn;
}
static bool checkpoints_at_least(const dur_ns_status *s, uint64_t n)
{
    return s->checkpoints >= n;
}

static void test_mode_names(void **state)
{
    (void)state;
    dur_ns_mode m;
    dur_error err;
    for (int i = DUR_NS_CLOSE; i <= DUR_NS_ORDERED; i++) {
        assert_int_equal(dur_ns_mode_parse(dur_ns_mode_name((dur_ns_mode)i), &m, &err), DUR_OK);
        assert_int_equal(m, i);
    }
    assert_int_equal(dur_ns_mode_parse("fast", &m, &err), DUR_E_INVAL);
    assert_non_null(strstr(err.msg, "fast"));
}

static void test_close_mode_waits(void **state)
{
    fixture *f = *state;
    open_mode(f, DUR_NS_CLOSE, 5, UINT64_MAX);
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        assert_int_equal(nt_create(&f->t, name, 0644, NULL), DUR_OK);
        dur_ns_status s = status(f);
        assert_true(s.last_lsn > 0);
        assert_int_equal(s.durable_lsn, s.last_lsn); /* durable before the ack */
        assert_true(s.all_durable);
    }
}

static void test_ordered_mode_does_not_wait(void **state)
{
    fixture *f = *state;
    open_mode(f, DUR_NS_ORDERED, 3600, UINT64_MAX); /* the committer never fires here */
    assert_int_equal(nt_mkdir(&f->t, "d", 0755), DUR_OK);
    dur_ns_status s = status(f);
    assert_true(s.durable_lsn < s.last_lsn);
    assert_false(s.all_durable);
    dur_error err;
    assert_int_equal(dur_ns_dir_fsync(f->t.ns, &err), DUR_OK); /* fsync(dir): everything */
    s = status(f);
    assert_int_equal(s.durable_lsn, s.last_lsn);
}

static void test_ordered_committer_flushes(void **state)
{
    fixture *f = *state;
    open_mode(f, DUR_NS_ORDERED, 1, UINT64_MAX);
    assert_int_equal(nt_mkdir(&f->t, "d", 0755), DUR_OK);
    uint64_t lsn = status(f).last_lsn;
    assert_true(wait_for(f, durable_at_least, lsn));
}

/* write + close: which modes fdatasync at close. */
static bool close_leaves_clean(fixture *f, dur_ns_mode mode, unsigned skip)
{
    open_mode(f, mode, 3600, UINT64_MAX);
    assert_int_equal(nt_create(&f->t, "data", 0644, NULL), DUR_OK);
    int fd = openat(f->bfd, "data", O_WRONLY);
    assert_true(fd >= 0);
    dur_file_state st;
    dur_file_state_init(&st);
    assert_int_equal(write(fd, "hello", 5), 5);
    dur_error err;
    assert_int_equal(dur_ns_file_written(f->t.ns, &st, fd, NULL, &err), DUR_OK);
    bool dirty_after_write = dur_file_state_dirty(&st);
    assert_int_equal(dirty_after_write, mode != DUR_NS_SYNC); /* SYNC: synced at write */
    dur_test_set_skip(skip);
    assert_int_equal(dur_ns_file_close(f->t.ns, &st, fd, NULL, &err), DUR_OK);
    dur_test_set_skip(DUR_SKIP_NONE);
    close(fd);
    bool clean = !dur_file_state_dirty(&st);
    dur_ns_close(f->t.ns, NULL);
    f->t.ns = NULL;
    unlinkat(f->bfd, "data", 0);
    return clean;
}

static void test_close_sync_per_mode(void **state)
{
    fixture *f = *state;
    assert_true(close_leaves_clean(f, DUR_NS_CLOSE, DUR_SKIP_NONE));
    assert_true(close_leaves_clean(f, DUR_NS_SYNC, DUR_SKIP_NONE));
    assert_false(close_leaves_clean(f, DUR_NS_ORDERED, DUR_SKIP_NONE));
    /* the switch that removes the sync is caught by the same assertion */
    assert_false(close_leaves_clean(f, DUR_NS_CLOSE, DUR_SKIP_CLOSE_SYNC));
}

static bool rename_source_synced(fixture *f, unsigned skip)
{
    open_mode(f, DUR_NS_ORDERED, 3600, UINT64_MAX);
    assert_int_equal(nt_create(&f->t, "tmp", 0644, NULL), DUR_OK);
    int fd = openat(f->bfd, "tmp", O_WRONLY);
    dur_file_state st;
    dur_file_state_init(&st);
    assert_int_equal(write(fd, "new content", 11), 11);
    dur_error err;
    assert_int_equal(dur_ns_file_written(f->t.ns, &st, fd, NULL, &err), DUR_OK);
    uint64_t syncs = status(f).file_syncs;
    dur_test_set_skip(skip);
    assert_int_equal(dur_ns_prepare_rename(f->t.ns, &st, fd, NULL, &err), DUR_OK);
    dur_test_set_skip(DUR_SKIP_NONE);
    bool synced = !dur_file_state_dirty(&st) && status(f).file_syncs == syncs + 1;
    assert_int_equal(nt_rename(&f->t, "tmp", "final", 0), DUR_OK);
    close(fd);
    dur_ns_close(f->t.ns, NULL);
    f->t.ns = NULL;
    unlinkat(f->bfd, "final", 0);
    return synced;
}

static void test_prepare_rename_syncs_source_in_every_mode(void **state)
{
    fixture *f = *state;
    assert_true(rename_source_synced(f, DUR_SKIP_NONE)); /* even ORDERED */
    assert_false(rename_source_synced(f, DUR_SKIP_RENAME_SOURCE_SYNC));
}

static void test_fsync_makes_everything_durable(void **state)
{
    fixture *f = *state;
    open_mode(f, DUR_NS_ORDERED, 3600, UINT64_MAX);
    assert_int_equal(nt_create(&f->t, "x", 0644, NULL), DUR_OK);
    int fd = openat(f->bfd, "x", O_WRONLY);
    dur_file_state st;
    dur_file_state_init(&st);
    dur_error err;
    assert_int_equal(write(fd, "abc", 3), 3);
    dur_ns_file_written(f->t.ns, &st, fd, NULL, &err);
    assert_true(status(f).durable_lsn < status(f).last_lsn);
    assert_int_equal(dur_ns_file_fsync(f->t.ns, &st, fd, NULL, true, &err), DUR_OK);
    dur_ns_status s = status(f);
    assert_int_equal(s.durable_lsn, s.last_lsn);
    assert_false(dur_file_state_dirty(&st));
    close(fd);
}

static void test_truncate_is_hardened_before_ack(void **state)
{
    fixture *f = *state;
    open_mode(f, DUR_NS_ORDERED, 3600, UINT64_MAX);
    assert_int_equal(nt_create(&f->t, "t", 0644, "0123456789"), DUR_OK);
    uint64_t syncs = status(f).file_syncs;
    assert_int_equal(nt_truncate(&f->t, "t", 3), DUR_OK);
    assert_int_equal(status(f).file_syncs, syncs + 1);
    /* SIZE without an fd is refused */
    dur_ns_op op;
    dur_fh fh;
    dur_error err;
    assert_int_equal(dur_fh_get(f->bfd, "t", &fh, &err), DUR_OK);
    dur_ns_attr a = {.valid = DUR_NS_ATTR_SIZE, .size = 1};
    dur_ns_begin(f->t.ns, &op);
    assert_int_equal(dur_ns_log_setattr(&op, &fh, -1, &a), DUR_E_INVAL);
    assert_int_equal(dur_ns_end(&op, &err), DUR_E_INVAL);
}

/* A chown to the owner a file already has (SQLite does it to every journal file it
 * creates as root) logs nothing, but still returns only once every record logged
 * before it is durable: the owner it found may come from an operation whose record
 * is not.  Fails if dur_ns_end ignores op.wait_lsn (durable_lsn stays behind). */
static void test_unchanged_owner_logs_nothing_but_waits(void **state)
{
    fixture *f = *state;
    open_mode(f, DUR_NS_CLOSE, 5, UINT64_MAX);
    assert_int_equal(nt_create(&f->t, "c", 0644, "x"), DUR_OK);
    dur_fh fh;
    dur_error err;
    assert_int_equal(dur_fh_get(f->bfd, "c", &fh, &err), DUR_OK);
    struct stat st;
    assert_int_equal(fstatat(f->bfd, "c", &st, 0), 0);
    /* A record appended but not yet durable, as an operation in flight leaves it. */
    ns_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = NS_REC_SETATTR;
    rec.obj = fh;
    rec.valid = DUR_NS_ATTR_MODE;
    rec.mode = st.st_mode;
    unsigned char buf[4096];
    size_t len = 0;
    assert_int_equal(ns_record_encode(&rec, buf, &len, &err), DUR_OK);
    uint64_t pending = 0;
    assert_int_equal(dur_wal_append(f->t.ns->wal, NS_REC_SETATTR, buf, len, &pending, &err),
                     DUR_OK);
    assert_true(status(f).durable_lsn < pending);

    dur_ns_attr same = {.valid = DUR_NS_ATTR_UID | DUR_NS_ATTR_GID,
                        .mode = st.st_mode,
                        .uid = st.st_uid,
                        .gid = st.st_gid};
    dur_ns_op op;
    dur_ns_begin(f->t.ns, &op);
    assert_int_equal(dur_ns_log_setattr_change(&op, &fh, -1, &same, &same), DUR_OK);
    assert_int_equal(op.lsn, 0);
    assert_int_equal(op.wait_lsn, pending);
    assert_int_equal(dur_ns_end(&op, &err), DUR_OK);
    dur_ns_status s = status(f);
    assert_int_equal(s.last_lsn, pending); /* nothing logged */
    assert_int_equal(s.durable_lsn, pending);

    /* A real change, or anything besides mode and owner, is logged. */
    dur_ns_attr other = same;
    other.uid = st.st_uid + 1;
    dur_ns_begin(f->t.ns, &op);
    assert_int_equal(dur_ns_log_setattr_change(&op, &fh, -1, &same, &other), DUR_OK);
    assert_int_equal(dur_ns_end(&op, &err), DUR_OK);
    assert_int_equal(op.lsn, pending + 1);
    dur_ns_attr times = same;
    times.valid = DUR_NS_ATTR_MTIME;
    dur_ns_begin(f->t.ns, &op);
    assert_int_equal(dur_ns_log_setattr_change(&op, &fh, -1, &same, &times), DUR_OK);
    assert_int_equal(dur_ns_end(&op, &err), DUR_OK);
    assert_int_equal(op.lsn, pending + 2);
}

static void test_checkpoints(void **state)
{
    fixture *f = *state;
    open_mode(f, DUR_NS_CLOSE, 5, UINT64_MAX);
    assert_int_equal(nt_mkdir(&f->t, "a", 0755), DUR_OK);
    dur_error err;
    uint64_t before = status(f).checkpoints;
    assert_int_equal(dur_ns_checkpoint(f->t.ns, &err), DUR_OK);
    dur_ns_status s = status(f);
    assert_int_equal(s.checkpoints, before + 1);
    assert_true(s.checkpoint_lsn >= 1);
    dur_ns_verify_result vr;
    assert_int_equal(dur_ns_verify(f->root, &vr, NULL, &err), DUR_OK);
    assert_int_equal(vr, DUR_NS_CLEAN);
    assert_int_equal(nt_mkdir(&f->t, "b", 0755), DUR_OK);
    assert_int_equal(dur_ns_verify(f->root, &vr, NULL, &err), DUR_OK);
    assert_int_equal(vr, DUR_NS_NEEDS_RECOVERY);
    dur_ns_close(f->t.ns, NULL);
    f->t.ns = NULL;
    assert_int_equal(dur_ns_verify(f->root, &vr, NULL, &err), DUR_OK);
    assert_int_equal(vr, DUR_NS_CLEAN); /* clean close leaves nothing to replay */

    /* background checkpoint when the WAL outgrows checkpoint_bytes */
    open_mode(f, DUR_NS_CLOSE, 5, 1);
    before = status(f).checkpoints;
    assert_int_equal(nt_mkdir(&f->t, "c", 0755), DUR_OK);
    assert_true(wait_for(f, checkpoints_at_least, before + 1));
}

static void test_read_only_refuses_logging(void **state)
{
    fixture *f = *state;
    open_mode(f, DUR_NS_CLOSE, 5, UINT64_MAX);
    dur_ns_close(f->t.ns, NULL);
    f->t.ns = NULL;
    dur_ns_options o;
    dur_ns_options_default(&o);
    o.read_only = true;
    dur_error err;
    dur_ns *ns = NULL;
    assert_int_equal(dur_ns_open(f->bfd, &o, &ns, NULL, &err), DUR_OK);
    dur_ns_op op;
    dur_fh fh;
    assert_int_equal(dur_fh_get(f->bfd, "", &fh, &err), DUR_OK);
    dur_ns_begin(ns, &op);
    assert_int_equal(dur_ns_log_remove(&op, &fh, "x", &fh, false), DUR_E_CLOSED);
    assert_int_equal(dur_ns_end(&op, &err), DUR_E_CLOSED);
    assert_non_null(strstr(err.msg, "read-only"));
    assert_int_equal(dur_ns_close(ns, &err), DUR_OK);
}

/* Hardening policy: where a file's data sync does not commit every earlier metadata
 * change in order (ext4 without a journal, btrfs, ...), every group commit syncfs()es
 * BACKING; on journaled ext4 and XFS programs' data syncs do, replay brings BACKING
 * forward for the rest, and no syncfs is spent (docs/design.md section 4). */
static void test_hardening_policy(void **state)
{
    fixture *f = *state;
    open_mode(f, DUR_NS_CLOSE, 5, UINT64_MAX);
    const dur_fs_policy *p = dur_ns_fs_policy(f->t.ns);
    uint64_t before = status(f).syncfs_calls;
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "h%d", i);
        assert_int_equal(nt_mkdir(&f->t, name, 0755), DUR_OK);
    }
    uint64_t after = status(f).syncfs_calls;
    print_message("backing %s: %s, %llu syncfs for 3 operations\n", p->name,
                  p->fsync_hardens_all_metadata ? "no syncfs needed" : "syncfs per commit",
                  (unsigned long long)(after - before));
    if (p->fsync_hardens_all_metadata)
        assert_int_equal(after, before);
    else
        assert_true(after >= before + 3); /* one per group commit, each op its own here */
}

/* ORDERED mode where a file fsync may persist one inode ahead of older operations
 * (btrfs's log tree; any fs not known to commit metadata globally): the syncs of a
 * rename source, an fsync and a truncate are syncfs of BACKING, so BACKING stays a
 * prefix of the operations (the power-cut rig lost hard links on btrfs when they
 * were fdatasyncs).  Where a file fsync commits everything (journaled ext4, XFS),
 * the cheaper file sync is kept.  This test fails if sync_file() in ns_data.c or the
 * truncate path in dur_ns_end() goes back to a plain file fsync. */
static void test_ordered_file_syncs_keep_prefix(void **state)
{
    fixture *f = *state;
    open_mode(f, DUR_NS_ORDERED, 3600, UINT64_MAX);
    bool prefix_fs = dur_ns_fs_policy(f->t.ns)->fsync_hardens_all_metadata;
    assert_int_equal(nt_create(&f->t, "tmp", 0644, "0123456789"), DUR_OK);
    int fd = openat(f->bfd, "tmp", O_WRONLY);
    assert_true(fd >= 0);
    dur_file_state st;
    dur_file_state_init(&st);
    dur_error err;
    assert_int_equal(write(fd, "new", 3), 3);
    assert_int_equal(dur_ns_file_written(f->t.ns, &st, fd, NULL, &err), DUR_OK);

    uint64_t before = status(f).syncfs_calls;
    assert_int_equal(dur_ns_prepare_rename(f->t.ns, &st, fd, NULL, &err), DUR_OK);
    assert_false(dur_file_state_dirty(&st));
    uint64_t after_rename = status(f).syncfs_calls;
    assert_int_equal(nt_truncate(&f->t, "tmp", 2), DUR_OK);
    uint64_t after_truncate = status(f).syncfs_calls;
    close(fd);
    print_message("backing %s: rename-source sync %llu syncfs, truncate %llu syncfs\n",
                  dur_ns_fs_policy(f->t.ns)->name, (unsigned long long)(after_rename - before),
                  (unsigned long long)(after_truncate - after_rename));
    if (prefix_fs) {
        assert_int_equal(after_rename, before);
        assert_int_equal(after_truncate, after_rename);
    } else {
        assert_int_equal(after_rename, before + 1);
        assert_int_equal(after_truncate, after_rename + 1);
    }
}

static char slow_log[512];
static int slow_log_count;
static void capture_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level == LOG_WARNING && strstr(msg, "slow sync")) {
        snprintf(slow_log, sizeof slow_log, "%s", msg);
        slow_log_count++;
    }
}

/* A sync slower than NS_SLOW_SYNC_NS is logged with its duration and a count, at
 * most once every 10 s; fast ones are not. */
static void test_slow_syncs_are_logged(void **state)
{
    fixture *f = *state;
    dur_ns_options o;
    dur_ns_options_default(&o);
    o.log = capture_log;
    dur_error err;
    assert_int_equal(dur_ns_open(f->bfd, &o, &f->t.ns, NULL, &err), DUR_OK);
    f->t.backing = f->bfd;
    slow_log_count = 0;
    ns_note_sync(f->t.ns, "fast one", ns_now_ns());
    assert_int_equal(slow_log_count, 0);
    ns_note_sync(f->t.ns, "closed file", ns_now_ns() - 2 * NS_SLOW_SYNC_NS);
    assert_int_equal(slow_log_count, 1);
    assert_non_null(strstr(slow_log, "slow sync (closed file): 2."));
    assert_non_null(strstr(slow_log, "1 slow syncs"));
    ns_note_sync(f->t.ns, "closed file", ns_now_ns() - 2 * NS_SLOW_SYNC_NS);
    assert_int_equal(slow_log_count, 1); /* rate-limited, but counted */
    assert_int_equal(atomic_load(&f->t.ns->slow_syncs), 2);
}

static void test_read_only_without_journal(void **state)
{
    fixture *f = *state; /* a tree durfs never saw */
    dur_ns_options o;
    dur_ns_options_default(&o);
    o.read_only = true;
    dur_error err;
    dur_ns *ns = NULL;
    assert_int_equal(dur_ns_open(f->bfd, &o, &ns, NULL, &err), DUR_OK);
    struct stat st;
    assert_int_not_equal(fstatat(f->bfd, DUR_NS_RESERVED_NAME, &st, 0), 0); /* nothing written */
    assert_int_equal(dur_ns_dir_fsync(ns, &err), DUR_OK);
    assert_int_equal(dur_ns_checkpoint(ns, &err), DUR_E_INVAL);
    assert_int_equal(dur_ns_close(ns, &err), DUR_OK);
}

static void test_bad_options(void **state)
{
    fixture *f = *state;
    dur_ns_options o;
    dur_ns_options_default(&o);
    o.journal_dir = "relative/path";
    dur_error err;
    dur_ns *ns = NULL;
    assert_int_equal(dur_ns_open(f->bfd, &o, &ns, NULL, &err), DUR_E_INVAL);
    assert_non_null(strstr(err.msg, "absolute"));
    /* inside BACKING the journal would be reachable through the mount */
    char inside[4096];
    snprintf(inside, sizeof inside, "%s/sub/journal", f->root);
    o.journal_dir = inside;
    assert_int_equal(dur_ns_open(f->bfd, &o, &ns, NULL, &err), DUR_E_INVAL);
    assert_non_null(strstr(err.msg, "inside BACKING"));
    struct stat st;
    assert_int_not_equal(fstatat(f->bfd, "sub", &st, 0), 0); /* checked before creating */
    o.journal_dir = f->root;
    assert_int_equal(dur_ns_open(f->bfd, &o, &ns, NULL, &err), DUR_E_INVAL);
    snprintf(inside, sizeof inside, "%s/missing/../journal", f->root); /* made, then resolved */
    o.journal_dir = inside;
    assert_int_equal(dur_ns_open(f->bfd, &o, &ns, NULL, &err), DUR_E_INVAL);
    assert_non_null(strstr(err.msg, ".."));
    /* inside the covered MOUNTPOINT the mount would hide it and block the next
     * mount; refused before anything is created (without the check, opens) */
    char *covered = nt_tempdir("covered");
    snprintf(inside, sizeof inside, "%s/journal", covered);
    o.journal_dir = inside;
    o.covered_dir = covered;
    assert_int_equal(dur_ns_open(f->bfd, &o, &ns, NULL, &err), DUR_E_INVAL);
    assert_non_null(strstr(err.msg, "inside MOUNTPOINT"));
    assert_int_not_equal(stat(inside, &st), 0);
    rmdir(covered);
    free(covered);
    dur_ns_options_default(&o);
    o.mode = (dur_ns_mode)7;
    assert_int_equal(dur_ns_open(f->bfd, &o, &ns, NULL, &err), DUR_E_INVAL);
    assert_int_equal(dur_ns_open(-1, NULL, &ns, NULL, &err), DUR_E_INVAL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode_names),
        T(test_close_mode_waits),
        T(test_ordered_mode_does_not_wait),
        T(test_ordered_committer_flushes),
        T(test_close_sync_per_mode),
        T(test_prepare_rename_syncs_source_in_every_mode),
        T(test_ordered_file_syncs_keep_prefix),
        T(test_slow_syncs_are_logged),
        T(test_fsync_makes_everything_durable),
        T(test_truncate_is_hardened_before_ack),
        T(test_unchanged_owner_logs_nothing_but_waits),
        T(test_checkpoints),
        T(test_read_only_refuses_logging),
        T(test_hardening_policy),
        T(test_read_only_without_journal),
        T(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
