/* Namespace journal: open/recover/close, the ordering lock, logging, group commit,
 * the background committer/checkpointer and status.
 *
 * Crash reasoning this file relies on (full argument: docs/design.md):
 *  - Log order == apply order: `order` is held from dur_ns_begin (before the daemon's
 *    backing call) until the record is appended, so two conflicting operations are
 *    applied to BACKING and logged in the same order.
 *  - Acknowledged == durable (CLOSE/SYNC): dur_ns_end returns only after
 *    dur_wal_sync(op lsn); ORDERED acks at once and the committer syncs every
 *    commit_seconds, so what survives is a prefix of the acknowledged operations.
 *  - Replay converges from any BACKING between the checkpoint and the end of the
 *    log (ns_replay.c), so the WAL's own fdatasync need not harden BACKING's
 *    metadata: on ext4/XFS it does not (records overwrite zero fill, so it is one
 *    device flush, not a filesystem journal commit).  What must not happen is that
 *    replay re-creates empty an object whose data a program was told is durable.
 *    On ext4-with-journal/XFS that cannot: a data sync that writes any metadata of
 *    the file commits the filesystem journal in order, with every metadata call
 *    before it (the object's creation and names included).  On every other
 *    filesystem the WAL leader hook syncfs()es BACKING before each segment
 *    fdatasync, so BACKING is at least as new as the durable WAL.
 *  - A checkpoint at L is published only after syncfs(BACKING) that started after
 *    every operation <= L had completed (L read under `order`), so nothing <= L is
 *    ever needed again.
 *  - A failed WAL write/sync poisons the WAL (wal.h); every later op fails (EIO).
 */
#include "ns_internal.h"
#include "wal_format.h"
#include "ns_record.h"
#include "ns_replay.h"

#include "durability/recovery.h"
#include "durability/sync.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

bool ns_test_fail_before_checkpoint = false;
bool ns_test_force_data_journal = false;
int ns_test_syncfs_errno = 0;
ns_test_trust ns_test_fsync_trust = NS_TEST_TRUST_PROBED;
bool ns_test_journal_elsewhere = false;

void ns_log(dur_ns *ns, int level, const char *fmt, ...)
{
    if (!ns->opts.log)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ns->opts.log(ns->opts.log_ctx, level, msg);
}

uint64_t ns_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void ns_note_sync(dur_ns *ns, const char *what, uint64_t start_ns)
{
    uint64_t now = ns_now_ns();
    uint64_t took = now - start_ns;
    if (took < NS_SLOW_SYNC_NS)
        return;
    uint64_t n = atomic_fetch_add(&ns->slow_syncs, 1) + 1;
    uint64_t last = atomic_load(&ns->slow_sync_logged);
    if (last != 0 && now - last < 10 * 1000000000ull)
        return;
    if (!atomic_compare_exchange_strong(&ns->slow_sync_logged, &last, now))
        return; /* another thread reports this interval */
    ns_log(ns, LOG_WARNING, "durfs: slow sync (%s): %.3f s (%" PRIu64 " slow syncs since mount)",
           what, (double)took / 1e9, n);
}

dur_code ns_syncfs_backing(dur_ns *ns, dur_error *err)
{
    atomic_fetch_add(&ns->syncfs_calls, 1);
    if (ns_test_syncfs_errno)
        return dur_error_set(err, DUR_E_IO, ns_test_syncfs_errno, "backing filesystem",
                             "syncfs failed (test switch)");
    uint64_t start = ns_now_ns();
    dur_code c = dur_fd_syncfs(ns->backing_fd, "backing filesystem", err);
    ns_note_sync(ns, "syncfs of the backing filesystem", start);
    return c;
}

static dur_code leader_hook_syncfs(void *ctx, dur_error *err)
{
    return ns_syncfs_backing(ctx, err);
}

static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- checkpoints ---- */
static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static dur_code ns_checkpoint_now(dur_ns *ns, bool force, dur_error *err)
{
    if (!ns->wal)
        return dur_error_set(err, DUR_E_INVAL, 0, ns->journal_path,
                             "checkpoint: the journal is open read-only");
    pthread_mutex_lock(&ns->ckpt_mu);
    pthread_mutex_lock(&ns->order);
    uint64_t L = dur_wal_last_lsn(ns->wal);
    uint64_t recs = ns->user_records;
    pthread_mutex_unlock(&ns->order);
    dur_code c = DUR_OK;
    if (!force && recs == ns->records_at_ckpt)
        goto out; /* nothing logged since the last checkpoint */
    if (L == 0 && !force)
        goto out;                    /* empty journal: nothing to cover */
    assert(L >= ns->checkpoint_lsn); /* LSNs only grow; a checkpoint never moves back */
    /* Every operation <= L has completed its backing call (L was read under the
     * ordering lock); this syncfs starts after all of them, so it hardens them all,
     * and all file data written so far. */
    uint64_t start = ns_now_ns();
    if ((c = ns_syncfs_backing(ns, err)) != DUR_OK) {
        /* Data the kernel could not write back may be durable only in the journal
         * (FILE_DATA), and the error is reported once: a later syncfs would
         * succeed and a checkpoint would drop those records.  Never again. */
        dur_wal_poison(ns->wal, err);
        ns_log(ns, LOG_ERR,
               "durfs: syncfs of the backing filesystem failed: journal poisoned, every "
               "later operation fails; unmount and mount again to replay the journal");
        goto out;
    }
    unsigned char payload[NS_CKPT_PAYLOAD_LEN];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    put_le(payload, NS_CKPT_PAYLOAD_VERSION, 4);
    put_le(payload + 4, (uint64_t)ns->opts.mode, 4);
    put_le(payload + 8, L, 8);
    put_le(payload + 16, (uint64_t)now.tv_sec, 8);
    c = dur_checkpoint_publish(ns->wal, ns->jdir, NS_CKPT_DIR, L, payload, sizeof payload, err);
    if (c != DUR_OK)
        goto out;
    ns->checkpoint_lsn = L;
    atomic_store(&ns->published_lsn, L);
    pthread_mutex_lock(&ns->order);
    ns_data_set_prune(&ns->data_set, L); /* FILE_DATA <= L is never replayed again */
    pthread_mutex_unlock(&ns->order);
    ns->checkpoint_time = now;
    clock_gettime(CLOCK_MONOTONIC, &ns->checkpoint_mono);
    atomic_fetch_add(&ns->checkpoints, 1);
    ns_log(ns, LOG_INFO,
           "durfs: checkpoint at LSN %" PRIu64 " published (%" PRIu64
           " records since the last one, %.3f s)",
           L, recs - ns->records_at_ckpt, (double)(ns_now_ns() - start) / 1e9);
    ns->records_at_ckpt = recs;
out:
    pthread_mutex_unlock(&ns->ckpt_mu);
    return c;
}

dur_code dur_ns_checkpoint(dur_ns *ns, dur_error *err)
{
    return ns_count_error(ns, ns_checkpoint_now(ns, false, err));
}

/* ---- background committer (ORDERED) and checkpointer ---- */
static void *ns_thread(void *arg)
{
    dur_ns *ns = arg;
    uint64_t last_commit = mono_ns();
    /* A failed checkpoint (a full disk, say) is retried after retry_seconds, not at
     * every tick: each try costs a syncfs of BACKING and a log line. */
    time_t last_failure = 0; /* CLOCK_MONOTONIC seconds; 0 = the last one worked */
    time_t retry_seconds = ns->opts.checkpoint_seconds < NS_CKPT_RETRY_SECONDS
                               ? (time_t)ns->opts.checkpoint_seconds
                               : NS_CKPT_RETRY_SECONDS;
    pthread_mutex_lock(&ns->thr_mu);
    while (!ns->stopping) {
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += 1; /* poll tick: bounds commit and checkpoint lateness to ~1 s */
        pthread_cond_timedwait(&ns->thr_cv, &ns->thr_mu, &dl);
        if (ns->stopping)
            break;
        pthread_mutex_unlock(&ns->thr_mu);
        dur_error e;
        dur_error_clear(&e);
        uint64_t now = mono_ns();
        if (ns->opts.mode == DUR_NS_ORDERED &&
            now - last_commit >= (uint64_t)ns->opts.commit_seconds * 1000000000u) {
            last_commit = now;
            if (!dur_wal_poisoned(ns->wal) && dur_wal_sync(ns->wal, 0, &e) != DUR_OK) {
                char b[600];
                ns_log(ns, LOG_ERR,
                       "durfs: journal commit failed: %s (journal poisoned; remount to recover)",
                       dur_error_format(&e, b, sizeof b));
            }
        }
        dur_wal_stats st;
        dur_wal_get_stats(ns->wal, &st);
        pthread_mutex_lock(&ns->order);
        bool has_records = ns->user_records != ns->records_at_ckpt;
        pthread_mutex_unlock(&ns->order);
        struct timespec m;
        clock_gettime(CLOCK_MONOTONIC, &m);
        bool old = m.tv_sec - ns->checkpoint_mono.tv_sec >= (time_t)ns->opts.checkpoint_seconds;
        bool retry_due = last_failure == 0 || m.tv_sec - last_failure >= retry_seconds;
        if (has_records && retry_due && !dur_wal_poisoned(ns->wal) &&
            (st.bytes_on_disk > ns->opts.checkpoint_bytes || old)) {
            if (ns_checkpoint_now(ns, false, &e) != DUR_OK) {
                char b[600];
                ns_log(ns, LOG_ERR, "durfs: checkpoint failed (next try in %ld s): %s",
                       (long)retry_seconds, dur_error_format(&e, b, sizeof b));
                last_failure = m.tv_sec > 0 ? m.tv_sec : 1;
            } else {
                last_failure = 0;
            }
        }
        pthread_mutex_lock(&ns->thr_mu);
    }
    pthread_mutex_unlock(&ns->thr_mu);
    return NULL;
}

/* ---- identity: a journal belongs to one backing tree ---- */
static dur_code ns_identity(dur_ns *ns, dur_error *err)
{
    struct statfs sf;
    if (fstatfs(ns->backing_fd, &sf) != 0)
        return dur_error_set(err, DUR_E_IO, errno, NULL, "statfs of the backing directory failed");
    dur_fh root;
    dur_code c = dur_fh_get(ns->backing_fd, "", &root, err);
    if (c != DUR_OK)
        return c;
    char fh[300], want[512];
    dur_fh_format(&root, fh, sizeof fh);
    int fsid[2];
    memcpy(fsid, &sf.f_fsid, sizeof fsid);
    snprintf(want, sizeof want, "durfs-journal-identity 1\nfsid %08x%08x\nroot %s\n",
             (unsigned)fsid[0], (unsigned)fsid[1], fh);
    bool exists = false;
    if ((c = dur_dir_exists(ns->jdir, NS_IDENTITY_NAME, &exists, err)) != DUR_OK)
        return c;
    if (!exists) {
        if (ns->opts.read_only)
            return DUR_OK;
        return dur_atomic_write(ns->jdir, NS_IDENTITY_NAME, want, strlen(want), err);
    }
    void *have = NULL;
    size_t len = 0;
    if ((c = dur_file_read_all(ns->jdir, NS_IDENTITY_NAME, 4096, &have, &len, err)) != DUR_OK)
        return c;
    /* The handle of BACKING (inode + generation) decides.  The filesystem id may
     * change when the same filesystem is mounted from another device (XFS derives
     * it from the device number), so a different one is only reported. */
    char root_line[400];
    snprintf(root_line, sizeof root_line, "\nroot %s\n", fh);
    const char *fsid_end = strchr(want, '\n');
    fsid_end = fsid_end ? strchr(fsid_end + 1, '\n') : NULL;
    bool same_root = len < 4096 && memmem(have, len, root_line, strlen(root_line)) != NULL;
    bool same_fsid = fsid_end && len >= (size_t)(fsid_end - want) &&
                     memcmp(have, want, (size_t)(fsid_end - want)) == 0;
    free(have);
    if (!same_root)
        return dur_error_set(err, DUR_E_INVAL, 0, NS_IDENTITY_NAME,
                             "journal %s belongs to a different backing tree (handle of the "
                             "backing directory differs): refusing to replay it here",
                             ns->journal_path);
    if (!same_fsid)
        ns_log(ns, LOG_WARNING,
               "durfs: journal %s was written on a filesystem with another id (same backing "
               "directory handle): assuming the filesystem moved to another device",
               ns->journal_path);
    return DUR_OK;
}

/* ---- recovery callbacks ---- */
typedef struct ns_rec_ctx {
    ns_replay *replay;
    uint64_t ns_records; /* namespace records seen (checkpoint markers excluded) */
} ns_rec_ctx;

bool ns_checkpoint_mode(const dur_checkpoint *cp, dur_ns_mode *mode)
{
    const unsigned char *p = cp->payload;
    if (!p || cp->len < NS_CKPT_PAYLOAD_LEN)
        return false;
    uint32_t version =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    uint32_t m = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
    if (version != NS_CKPT_PAYLOAD_VERSION ||
        (m != DUR_NS_CLOSE && m != DUR_NS_SYNC && m != DUR_NS_ORDERED))
        return false;
    *mode = (dur_ns_mode)m;
    return true;
}

static dur_code on_record(void *ctx, const dur_wal_record *rec, dur_error *err)
{
    ns_rec_ctx *rc = ctx;
    if (rec->type <= DUR_WAL_TYPE_USER_MAX)
        rc->ns_records++;
    return ns_replay_record(rc->replay, rec->type, rec->payload, rec->len, rec->lsn, err);
}

void dur_ns_options_default(dur_ns_options *o)
{
    memset(o, 0, sizeof *o);
    o->mode = DUR_NS_CLOSE;
    o->commit_seconds = 5;
    o->checkpoint_bytes = 64u << 20;
    o->checkpoint_seconds = 300;
    o->data_journal_max = 65536;
}

static dur_code open_subdir(int dirfd, const char *name, bool create, int *out, dur_error *err)
{
    if (create && mkdirat(dirfd, name, 0700) != 0 && errno != EEXIST)
        return dur_error_set(err, DUR_E_IO, errno, name, "cannot create directory %s", name);
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return dur_error_set(err, errno == ENOENT ? DUR_E_NOTFOUND : DUR_E_IO, errno, name,
                             "cannot open directory %s", name);
    *out = fd;
    return DUR_OK;
}

static void ns_free(dur_ns *ns)
{
    if (ns->wal) {
        dur_wal_close(ns->wal, NULL);
        ns->wal = NULL;
    }
    dur_dir_close(ns->jdir);
    if (ns->lock)
        dur_lock_release(ns->lock);
    dur_dir_close(ns->reserved);
    free(ns->encbuf);
    ns_data_set_free(&ns->data_set);
    pthread_mutex_destroy(&ns->order);
    pthread_mutex_destroy(&ns->ckpt_mu);
    pthread_mutex_destroy(&ns->thr_mu);
    pthread_cond_destroy(&ns->thr_cv);
    free(ns);
}

/* The directory at PATH, or its nearest existing ancestor when PATH is still to
 * be created, as an O_PATH fd; -1 when none can be opened. */
static int open_nearest_existing(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (;;) {
        int fd = open(buf, O_PATH | O_DIRECTORY | O_CLOEXEC);
        char *slash = strrchr(buf, '/');
        if (fd >= 0 || errno != ENOENT || !slash || slash == buf)
            return fd >= 0 ? fd : open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        *slash = '\0';
    }
}

static bool same_inode(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* "." or ".." among PATH's components: the nearest existing ancestor would not
 * be where the directory gets created (a/missing/../../BACKING/j). */
static bool has_dot_component(const char *path)
{
    for (const char *p = path; *p;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return true;
        p += len + (end ? 1 : 0);
    }
    return false;
}

/* A journal directory inside BACKING would be reachable through the mount: a
 * program could list, change or delete the journal (`rm -rf MOUNTPOINT/x`).
 * Only the reserved directory is hidden, so a journal there is fine.  One
 * inside the covered directory (MOUNTPOINT) would be hidden under the mount
 * and make it non-empty for the next one.  Walks up by ".." from fd (consumed):
 * before anything is created, the journal directory or the ancestor it will be
 * created in; after, the directory itself.  A bind mount is not seen. */
static dur_code check_journal_placement(dur_ns *ns, int fd, const char *path, dur_error *err)
{
    struct stat backing, reserved, covered, cur, parent;
    bool has_covered = ns->opts.covered_dir && stat(ns->opts.covered_dir, &covered) == 0;
    if (fstat(ns->backing_fd, &backing) != 0 ||
        fstat(ns->reserved->ops->root_fd(ns->reserved), &reserved) != 0) {
        if (fd >= 0)
            close(fd);
        return dur_error_set(err, DUR_E_IO, errno, NULL, "cannot stat BACKING");
    }
    bool in_backing = false, in_covered = false;
    while (fd >= 0 && fstat(fd, &cur) == 0 && !same_inode(&cur, &reserved)) {
        if ((in_backing = same_inode(&cur, &backing)))
            break;
        if ((in_covered = has_covered && same_inode(&cur, &covered)))
            break;
        int up = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        close(fd);
        fd = up;
        if (fd >= 0 && (fstat(fd, &parent) != 0 || same_inode(&parent, &cur)))
            break; /* reached "/" */
    }
    if (fd >= 0)
        close(fd);
    if (in_backing)
        return dur_error_set(err, DUR_E_INVAL, 0, path,
                             "the journal directory is inside BACKING, where programs could "
                             "change or delete it through the mount: choose one outside "
                             "BACKING, or leave out journal= (the default, BACKING/%s/%s, "
                             "is hidden)",
                             DUR_NS_RESERVED_NAME, NS_JOURNAL_SUBDIR);
    if (in_covered)
        return dur_error_set(err, DUR_E_INVAL, 0, path,
                             "the journal directory is inside MOUNTPOINT %s, which the mount "
                             "covers: the journal would be out of the operator tools' reach "
                             "and the next mount would find MOUNTPOINT not empty; choose one "
                             "outside MOUNTPOINT",
                             ns->opts.covered_dir);
    return DUR_OK;
}

/* A journal that still holds changes to replay must be replayed from where it
 * is: a session started from another journal would leave them behind, and a
 * later mount from that one would replay them over newer data.  One without a
 * WAL holds nothing; an unreadable one counts as holding some.  err names
 * path; the message says why it matters and how to proceed (fix). */
static dur_code refuse_if_unreplayed(const char *path, const char *fix, dur_error *err)
{
    dur_ns_verify_result v = DUR_NS_CORRUPT;
    dur_error e;
    dur_error_clear(&e);
    uint64_t pending = 0;
    dur_code c = ns_verify_counting(path, &v, NULL, &pending, &e);
    /* a torn tail alone is no change (nothing acknowledged is in it) */
    if (c == DUR_E_NOTFOUND || (c == DUR_OK && v != DUR_NS_CORRUPT && pending == 0))
        return DUR_OK;
    return dur_error_set(err, DUR_E_INVAL, 0, path,
                         "this journal holds changes not yet replayed (%s): %s",
                         c == DUR_OK ? "needs recovery" : e.msg, fix);
}

/* path is the journal this session opened (ns->jdir), by identity: a journal=
 * spelled with a trailing slash, through a symlink or as the default path is
 * still the same journal. */
static bool is_our_journal(dur_ns *ns, const char *path)
{
    assert(ns->jdir); /* opened before the other journals are looked at */
    struct stat a, b;
    return stat(path, &a) == 0 && fstat(ns->jdir->ops->root_fd(ns->jdir), &b) == 0 &&
           same_inode(&a, &b);
}

/* Which journal BACKING's last unfinished session used (NS_ELSEWHERE_NAME), and
 * the default one: each must be clean before a session starts from another.
 * *names_ours: NS_ELSEWHERE_NAME already holds this session's journal= as given
 * (it need not be written again). */
static dur_code check_other_journals(dur_ns *ns, bool *names_ours, dur_error *err)
{
    *names_ours = false;
    int rfd = ns->reserved->ops->root_fd(ns->reserved);
    char path[4096];
    if (faccessat(rfd, NS_JOURNAL_SUBDIR, F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
        ns->reserved->ops->real_path(ns->reserved, NS_JOURNAL_SUBDIR, path, sizeof path, NULL) ==
            DUR_OK &&
        !is_our_journal(ns, path)) {
        dur_code c = refuse_if_unreplayed(
            path,
            "mount once without journal= (or run `durfsctl recover BACKING`) first, or they "
            "would be replayed later over newer data",
            err);
        if (c != DUR_OK)
            return c;
    }
    void *data = NULL;
    size_t len = 0;
    bool exists = false;
    dur_code c = dur_dir_exists(ns->reserved, NS_ELSEWHERE_NAME, &exists, err);
    if (c != DUR_OK || !exists)
        return c;
    if ((c = dur_file_read_all(ns->reserved, NS_ELSEWHERE_NAME, sizeof path - 1, &data, &len,
                               err)) != DUR_OK)
        return c;
    memcpy(path, data, len);
    path[len] = '\0';
    free(data);
    if (path[0] != '/' || strlen(path) != len) /* journal= is absolute, without NUL */
        return dur_error_set(err, DUR_E_CORRUPT, 0, NULL,
                             "BACKING/%s/%s names no absolute journal directory: it is damaged; "
                             "find the journal of BACKING's last session, mount with it, or "
                             "remove the file to go on without its changes",
                             DUR_NS_RESERVED_NAME, NS_ELSEWHERE_NAME);
    if (is_our_journal(ns, path)) {
        *names_ours = ns->opts.journal_dir && strcmp(path, ns->opts.journal_dir) == 0;
        return DUR_OK;
    }
    /* Missing is not clean: its filesystem may just not be mounted, and once it
     * is, a mount from it would replay its changes over newer ones. */
    struct stat st;
    if (stat(path, &st) != 0)
        return dur_error_set(err, DUR_E_INVAL, errno, path,
                             "BACKING's last session used this journal and did not close it, "
                             "and it cannot be opened: make it available and mount with that "
                             "journal= (if it is lost for good, remove BACKING/%s/%s to go on "
                             "without its changes)",
                             DUR_NS_RESERVED_NAME, NS_ELSEWHERE_NAME);
    c = refuse_if_unreplayed(path,
                             "BACKING's last session used it: mount with that journal= (or "
                             "run `durfsctl recover --journal` on it) first, or they would be "
                             "replayed later over newer data",
                             err);
    if (c != DUR_OK)
        return c;
    return ns->opts.read_only || ns->opts.journal_dir
               ? DUR_OK
               : dur_dir_remove(ns->reserved, NS_ELSEWHERE_NAME, err);
}

/* The journal decides what replay does, with the daemon's privileges, to any
 * object of BACKING's filesystem its handles name: a reserved or journal
 * directory another user can write would let them plant records (found by
 * probing: the owner of BACKING swapped .durfs for a directory of their own
 * while durfs was not mounted, and root's next mount rewrote a root-only file
 * outside BACKING for them). */
static dur_code check_private_dir(int fd, const char *path, dur_error *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return dur_error_set(err, DUR_E_IO, errno, path, "cannot stat directory");
    if (st.st_uid == geteuid() && !(st.st_mode & (S_IWGRP | S_IWOTH)))
        return DUR_OK;
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return dur_error_set(err, DUR_E_INVAL, 0, path,
                             "owned by uid %u with mode %04o: a journal directory must be "
                             "writable by the daemon's user alone, or others could plant records "
                             "that replay would apply; find out how it got so, then fix its mode",
                             (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    /* e.g. the journal of an unprivileged mount, which only root can replay
     * (open_by_handle_at): root may take it over once it trusts it */
    return dur_error_set(err, DUR_E_INVAL, 0, path,
                         "owned by uid %u (mode %04o), not uid %u: replay could change files "
                         "uid %u cannot; if it is that user's own (unprivileged) durfs journal, "
                         "chown -R %u:%u BACKING/" DUR_NS_RESERVED_NAME " and try again",
                         (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), (unsigned)geteuid(),
                         (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)getegid());
}

static dur_code ns_open_dirs(dur_ns *ns, dur_error *err)
{
    int fd = -1;
    dur_code c = open_subdir(ns->backing_fd, DUR_NS_RESERVED_NAME, !ns->opts.read_only, &fd, err);
    if (c != DUR_OK)
        return c;
    if ((c = check_private_dir(fd, "BACKING/" DUR_NS_RESERVED_NAME, err)) != DUR_OK) {
        close(fd);
        return c;
    }
    c = dur_dir_open_fs_fd(fd, &ns->reserved, err);
    close(fd);
    if (c != DUR_OK)
        return c;
    if ((c = dur_dir_lock(ns->reserved, NS_LOCK_NAME, &ns->lock, err)) != DUR_OK)
        return c;
    if (ns->opts.journal_dir) {
        if (ns->opts.journal_dir[0] != '/')
            return dur_error_set(err, DUR_E_INVAL, 0, NULL,
                                 "journal_dir must be an absolute path (got \"%s\")",
                                 ns->opts.journal_dir);
        if (has_dot_component(ns->opts.journal_dir))
            return dur_error_set(err, DUR_E_INVAL, 0, NULL,
                                 "journal_dir must not contain . or .. (got \"%s\")",
                                 ns->opts.journal_dir);
        const char *jd = ns->opts.journal_dir;
        if ((c = check_journal_placement(ns, open_nearest_existing(jd), jd, err)) != DUR_OK)
            return c;
        if ((c = dur_dir_open_fs(jd, true, &ns->jdir, err)) != DUR_OK)
            return c;
        int jfd = fcntl(ns->jdir->ops->root_fd(ns->jdir), F_DUPFD_CLOEXEC, 0);
        if ((c = check_journal_placement(ns, jfd, jd, err)) != DUR_OK)
            return c; /* raced with a rename or symlink change since the first check */
        snprintf(ns->journal_path, sizeof ns->journal_path, "%s", ns->opts.journal_dir);
        if ((c = check_private_dir(ns->jdir->ops->root_fd(ns->jdir), jd, err)) != DUR_OK)
            return c;
        bool named = false;
        if ((c = check_other_journals(ns, &named, err)) != DUR_OK)
            return c;
        if (!ns->opts.read_only) {
            if (!named && (c = dur_atomic_write(ns->reserved, NS_ELSEWHERE_NAME, jd, strlen(jd),
                                                err)) != DUR_OK)
                return c;
            ns->journal_elsewhere = true;
        }
    } else {
        int rfd = ns->reserved->ops->root_fd(ns->reserved);
        if ((c = open_subdir(rfd, NS_JOURNAL_SUBDIR, true, &fd, err)) != DUR_OK)
            return c;
        c = dur_dir_open_fs_fd(fd, &ns->jdir, err);
        close(fd);
        if (c != DUR_OK)
            return c;
        if (ns->jdir->ops->real_path(ns->jdir, "", ns->journal_path, sizeof ns->journal_path,
                                     NULL) != DUR_OK)
            snprintf(ns->journal_path, sizeof ns->journal_path, "BACKING/%s/%s",
                     DUR_NS_RESERVED_NAME, NS_JOURNAL_SUBDIR);
        if ((c = check_private_dir(ns->jdir->ops->root_fd(ns->jdir), ns->journal_path, err)) !=
            DUR_OK)
            return c;
        bool named = false;
        if ((c = check_other_journals(ns, &named, err)) != DUR_OK)
            return c;
    }
    return DUR_OK;
}

/* Why each group commit syncfs()es BACKING, for the mount log. */
static const char *syncfs_reason(const dur_fs_policy *p)
{
    if (p->fsync_hardens_all_metadata)
        return "ordered mode with the journal on another filesystem";
    if (!p->file_fsync_trusted)
        return "a file's fsync is not trusted there: fsync'ed appends were lost after power "
               "cuts; every sync point is a full commit, slower";
    return "it does not harden all metadata on fsync; slower";
}

static dur_code ns_probe(dur_ns *ns, dur_error *err)
{
    dur_code c = dur_fs_probe(ns->backing_fd, &ns->policy, err);
    if (c != DUR_OK)
        return c;
    if (ns_test_fsync_trust != NS_TEST_TRUST_PROBED) {
        ns->policy.file_fsync_trusted = ns_test_fsync_trust == NS_TEST_TRUST_ALL;
        ns->policy.fsync_hardens_all_metadata = ns_test_fsync_trust == NS_TEST_TRUST_ALL;
    }
    if (!ns->policy.has_handles)
        return dur_error_set(err, DUR_E_NOTSUP, 0, NULL,
                             "backing filesystem %s has no file handles (name_to_handle_at); "
                             "durfs needs them to journal by identity",
                             ns->policy.name);
    if (ns->policy.flushes_disabled)
        ns_log(ns, LOG_WARNING,
               "durfs: WARNING: backing filesystem %s is mounted nobarrier: it never flushes the "
               "device's write cache, so a power cut can lose acknowledged changes; remount it "
               "with barriers",
               ns->policy.name);
    if (ns->policy.is_volatile)
        ns_log(ns, LOG_WARNING,
               "durfs: WARNING: backing filesystem is %s (volatile): NOTHING survives a power cut",
               ns->policy.name);
    int jfd = ns->jdir->ops->root_fd(ns->jdir);
    ns->journal_same_fs =
        jfd >= 0 && dur_fs_same(ns->backing_fd, jfd) && !ns_test_journal_elsewhere;
    /* ORDERED needs every group commit to harden BACKING (replay leaves its trees
     * alone); a WAL on another filesystem cannot. */
    ns->hook_syncfs = !ns->policy.fsync_hardens_all_metadata ||
                      (ns->opts.mode == DUR_NS_ORDERED && !ns->journal_same_fs);
    ns->replay_hardens = ns->policy.fsync_hardens_all_metadata && ns->journal_same_fs;
    if (ns->hook_syncfs)
        ns_log(ns, LOG_NOTICE,
               "durfs: backing filesystem %s: each group commit will syncfs() it (%s)",
               ns->policy.name, syncfs_reason(&ns->policy));
    dur_fs_policy jpolicy = ns->policy;
    if (!ns->journal_same_fs && (jfd < 0 || dur_fs_probe(jfd, &jpolicy, NULL) != DUR_OK))
        jpolicy.kind = DUR_FS_UNKNOWN;
    ns->journal_zero_fill = jpolicy.kind == DUR_FS_EXT4 || jpolicy.kind == DUR_FS_XFS;
    if (!ns->journal_same_fs && jpolicy.flushes_disabled)
        ns_log(ns, LOG_WARNING,
               "durfs: WARNING: the journal %s is on %s mounted nobarrier: a power cut can lose "
               "acknowledged changes; remount it with barriers",
               ns->journal_path, jpolicy.name);
    if (!ns->journal_same_fs && !jpolicy.is_volatile && !jpolicy.file_fsync_trusted)
        ns_log(ns, LOG_WARNING,
               "durfs: WARNING: the journal %s is on %s, whose fsync is not trusted: a power "
               "cut may lose acknowledged changes; put the journal on another filesystem",
               ns->journal_path, jpolicy.name);
    if (!ns->journal_same_fs && jpolicy.is_volatile)
        ns_log(ns, LOG_WARNING,
               "durfs: WARNING: the journal %s is on %s (volatile): no journaled change or file "
               "content survives a power cut",
               ns->journal_path, jpolicy.name);
    return DUR_OK;
}

/* A damaged checkpoint stops the mount (docs/guarantees.md): recovery's best
 * effort would skip it for an older one or none, and the new checkpoint would
 * then delete it, unseen.  It names the covered LSN and the writer's mode (an
 * ORDERED session's records must not be replayed as a CLOSE one's). */
static dur_code check_checkpoints(dur_ns *ns, dur_error *err)
{
    dur_checkpoint cp;
    bool found = false;
    dur_code c =
        dur_checkpoint_load_latest(ns->jdir, NS_CKPT_DIR, DUR_READ_STRICT, &cp, &found, err);
    if (c == DUR_OK) {
        /* its time (payload bytes 16..23): status gives the age of the
         * checkpoint in place, also when this session has published none */
        const unsigned char *p = cp.payload;
        if (found && p && cp.len >= NS_CKPT_PAYLOAD_LEN) {
            uint64_t t = 0;
            for (int i = 7; i >= 0; i--)
                t = (t << 8) | p[16 + i];
            ns->checkpoint_time.tv_sec = (time_t)t;
        }
        dur_checkpoint_free(&cp);
        return DUR_OK;
    }
    if (c == DUR_E_CORRUPT && err) {
        dur_error was = *err;
#define DAMAGED_CHECKPOINT                                                                         \
    "%s; not mounted: durfs will not guess what it covered (keep a copy of %s; `durfsctl "         \
    "verify`, "                                                                                    \
    "docs/operations.md)"
        if (was.has_offset)
            dur_error_set_at(err, c, 0, was.path, was.offset, DAMAGED_CHECKPOINT, was.msg,
                             ns->journal_path);
        else
            dur_error_set(err, c, 0, was.path, DAMAGED_CHECKPOINT, was.msg, ns->journal_path);
#undef DAMAGED_CHECKPOINT
    }
    return c;
}

static bool on_read_only_fs(int fd)
{
    struct statvfs sv;
    return fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_RDONLY);
}

/* A read-only mount recovers like any other: replay writes BACKING and its map.
 * Where BACKING or the journal sits on a read-only filesystem it cannot, so a
 * journal holding changes is refused before anything is tried (replay would
 * skip every record as failed, and the mount would show BACKING without them). */
static bool on_writable_fs(dur_ns *ns)
{
    return !on_read_only_fs(ns->backing_fd) && !on_read_only_fs(ns->jdir->ops->root_fd(ns->jdir));
}

/* ...and then checkpoints what it replayed: without one every read-only mount
 * replayed the journal again, and a later mount found the objects an earlier
 * one had re-created under handles no record knows. */
static dur_code checkpoint_read_only_recovery(dur_ns *ns, dur_error *err)
{
    dur_wal_options wo;
    dur_wal_options_default(&wo);
    dur_code c = dur_wal_open(ns->jdir, NS_WAL_DIR, &wo, &ns->wal, NULL, err);
    if (c == DUR_OK)
        c = ns_checkpoint_now(ns, true, err);
    if (c == DUR_OK)
        c = ns_replay_discard_map(ns->jdir, err);
    if (ns->wal) {
        dur_error e2;
        dur_code c2 = dur_wal_close(ns->wal, c == DUR_OK ? err : &e2);
        ns->wal = NULL;
        if (c == DUR_OK)
            c = c2;
    }
    return c;
}

static dur_code ns_recover(dur_ns *ns, dur_ns_recovery *rep, dur_error *err)
{
    uint64_t t0 = mono_ns();
    ns_replay *rp = NULL;
    dur_code c = check_checkpoints(ns, err);
    bool writable = on_writable_fs(ns);
    if (c == DUR_OK && !writable && !ns->opts.read_only)
        c = dur_error_set(err, DUR_E_INVAL, EROFS, ns->journal_path,
                          "BACKING or the journal is on a read-only filesystem: mount with -o ro");
    if (c == DUR_OK && !writable)
        c = refuse_if_unreplayed(ns->journal_path,
                                 "BACKING or the journal is on a read-only filesystem: mount it "
                                 "read-write once (or run `durfsctl recover` where it is writable)",
                                 err);
    if (c != DUR_OK)
        return c;
    c = ns_replay_new(ns->backing_fd, ns->jdir, ns->replay_hardens, ns->journal_same_fs,
                      ns->opts.log, ns->opts.log_ctx, &rp, err);
    if (c != DUR_OK)
        return c;
    ns->ckpt_mode_known = ns_replay_writer_mode(rp, &ns->ckpt_mode);
    ns_rec_ctx rc = {.replay = rp, .ns_records = 0};
    dur_recovery_options ro = {.wal_path = NS_WAL_DIR,
                               .checkpoint_path = NS_CKPT_DIR,
                               .mode = DUR_READ_BEST_EFFORT,
                               /* also read-only: the WAL's tail durable (a torn one cut)
                                * before replay persists marks that name its records, or
                                * a power cut could leave the map ahead of the WAL
                                * (found in review) */
                               .repair = writable};
    dur_recovery_callbacks cb = {.on_checkpoint = NULL, .on_record = on_record, .ctx = &rc};
    c = dur_recover(ns->jdir, &ro, &cb, &rep->wal, err);
    if (c == DUR_OK)
        c = ns_replay_check_marks(rp, rep->wal.last_lsn, err);
    /* Report namespace records only: the marker a checkpoint leaves after its own
     * LSN is not something that was replayed (a clean unmount reports 0). */
    rep->wal.records_replayed = rc.ns_records;
    ns_replay_counts(rp, &rep->ops_redone, &rep->ops_already, &rep->ops_skipped);
    ns_replay_free(rp);
    rep->elapsed_ns = mono_ns() - t0;
    if (c == DUR_OK)
        ns->checkpoint_lsn = rep->wal.checkpoint_found ? rep->wal.checkpoint_lsn : 0;
    atomic_store(&ns->published_lsn, ns->checkpoint_lsn);
    return c;
}

dur_code dur_ns_open(int backing_fd, const dur_ns_options *opts, dur_ns **out,
                     dur_ns_recovery *recovery, dur_error *err)
{
    *out = NULL;
    if (backing_fd < 0)
        return dur_error_set(err, DUR_E_INVAL, EBADF, NULL, "dur_ns_open: invalid backing fd");
    dur_ns *ns = calloc(1, sizeof *ns);
    if (!ns)
        return dur_error_set(err, DUR_E_NOMEM, ENOMEM, NULL, "dur_ns_open: out of memory");
    if (opts)
        ns->opts = *opts;
    else
        dur_ns_options_default(&ns->opts);
    ns->opts.journal_dir = NULL; /* do not keep the caller's pointer; copied below */
    ns->backing_fd = backing_fd;
    pthread_mutex_init(&ns->order, NULL);
    pthread_mutex_init(&ns->ckpt_mu, NULL);
    pthread_mutex_init(&ns->thr_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ns->thr_cv, &ca);
    pthread_condattr_destroy(&ca);
    clock_gettime(CLOCK_MONOTONIC, &ns->checkpoint_mono);

    dur_code c = DUR_OK;
    if (ns->opts.mode > DUR_NS_ORDERED) {
        c = dur_error_set(err, DUR_E_INVAL, 0, NULL, "invalid durability mode %d",
                          (int)ns->opts.mode);
        goto fail;
    }
    if (ns->opts.data_journal_max > NS_FILE_DATA_MAX) {
        c = dur_error_set(err, DUR_E_INVAL, 0, NULL,
                          "data_journal_max %" PRIu32 " exceeds %u (the largest FILE_DATA record)",
                          ns->opts.data_journal_max, NS_FILE_DATA_MAX);
        goto fail;
    }
    if (opts && opts->journal_dir)
        ns->opts.journal_dir = opts->journal_dir; /* used only during open */
    ns->encbuf = malloc(NS_REC_MAX_BYTES);
    if (!ns->encbuf) {
        c = dur_error_set(err, DUR_E_NOMEM, ENOMEM, NULL, "dur_ns_open: out of memory");
        goto fail;
    }
    if (ns->opts.read_only && !ns->opts.journal_dir &&
        faccessat(backing_fd, DUR_NS_RESERVED_NAME, F_OK, AT_SYMLINK_NOFOLLOW) != 0 &&
        errno == ENOENT) {
        /* Read-only and never journaled: nothing to recover, nothing may be written. */
        if ((c = dur_fs_probe(backing_fd, &ns->policy, err)) != DUR_OK)
            goto fail;
        snprintf(ns->journal_path, sizeof ns->journal_path, "(none: read-only, no %s)",
                 DUR_NS_RESERVED_NAME);
        ns_log(ns, LOG_INFO, "durfs: read-only and no journal in BACKING: nothing to recover");
        if (recovery)
            memset(recovery, 0, sizeof *recovery);
        *out = ns;
        return DUR_OK;
    }
    if ((c = ns_open_dirs(ns, err)) != DUR_OK || (c = ns_probe(ns, err)) != DUR_OK ||
        (c = ns_identity(ns, err)) != DUR_OK)
        goto fail;
    ns->opts.journal_dir = ns->opts.covered_dir = NULL; /* the caller's; used only in open */

    dur_ns_recovery rep;
    memset(&rep, 0, sizeof rep);
    if ((c = ns_recover(ns, &rep, err)) != DUR_OK)
        goto fail;
    ns->last_recovery = rep;
    ns_log(ns, LOG_INFO,
           "durfs: recovery of %s: checkpoint LSN %" PRIu64 ", %" PRIu64
           " records replayed (%" PRIu64 " redone, %" PRIu64 " already applied, %" PRIu64
           " skipped), %" PRIu64 " torn bytes cut, %.3f s",
           ns->journal_path, rep.wal.checkpoint_lsn, rep.wal.records_replayed, rep.ops_redone,
           rep.ops_already, rep.ops_skipped, rep.wal.bytes_cut, (double)rep.elapsed_ns / 1e9);
    if (ns->opts.read_only && rep.wal.records_replayed > 0 &&
        (c = checkpoint_read_only_recovery(ns, err)) != DUR_OK)
        goto fail;

    if (!ns->opts.read_only) {
        dur_wal_options wo;
        dur_wal_options_default(&wo);
        if (ns->hook_syncfs) {
            wo.leader_hook = leader_hook_syncfs;
            wo.leader_hook_ctx = ns;
        }
        /* ORDERED keeps append-only segments: its rare group commits then harden
         * BACKING, which replay relies on to leave a prefix (ns_replay.c).  It, and
         * filesystems where zero fill saves nothing, reserve the room instead
         * (KEEP_SIZE), for ensure_room. */
        if (ns->journal_zero_fill && ns->opts.mode != DUR_NS_ORDERED)
            wo.zero_fill_bytes = NS_WAL_ZERO_FILL;
        else
            wo.reserve_bytes = NS_WAL_ZERO_FILL;
#ifdef DUR_TEST_HOOKS
        /* tests of a journal write that fails: a filesystem that cannot reserve */
        if (getenv("DUR_TEST_NO_WAL_RESERVE"))
            wo.reserve_bytes = 0;
#endif
        if ((c = dur_wal_open(ns->jdir, NS_WAL_DIR, &wo, &ns->wal, NULL, err)) != DUR_OK)
            goto fail;
#ifdef DUR_TEST_HOOKS
        /* the daemon's tests run on the test machines' unjournaled /var/tmp */
        if (getenv("DUR_TEST_FORCE_DATA_JOURNAL"))
            ns_test_force_data_journal = true;
#endif
        /* Where each group commit syncfs()es BACKING, an fdatasync of the file is no
         * dearer than the commit that would carry its content. */
        ns->data_journal = ns->opts.mode == DUR_NS_CLOSE && ns->opts.data_journal_max > 0 &&
                           (!ns->hook_syncfs || ns_test_force_data_journal);
        if (ns_test_fail_before_checkpoint) {
            c = dur_error_set(err, DUR_E_IO, EINTR, NULL,
                              "test switch: stopped before the checkpoint");
            goto fail;
        }
        /* Replayed records (and a fresh journal) are covered by a checkpoint now, so
         * a crash during the next session never replays them again.  A checkpoint
         * also says which mode wrote the records after it (replay needs that), so a
         * session whose mode differs from the latest checkpoint's starts with one. */
        if (rep.wal.records_replayed > 0 || dur_wal_last_lsn(ns->wal) > ns->checkpoint_lsn + 1 ||
            !ns->ckpt_mode_known || ns->ckpt_mode != ns->opts.mode) {
            if ((c = ns_checkpoint_now(ns, true, err)) != DUR_OK)
                goto fail;
        }
        if ((c = ns_replay_discard_map(ns->jdir, err)) != DUR_OK)
            goto fail;
        if (pthread_create(&ns->thread, NULL, ns_thread, ns) != 0) {
            c = dur_error_set(err, DUR_E_IO, errno, NULL, "cannot start the journal thread");
            goto fail;
        }
        ns->thread_started = true;
    }
    if (recovery)
        *recovery = rep;
    *out = ns;
    return DUR_OK;
fail:
    ns->opts.journal_dir = ns->opts.covered_dir = NULL;
    ns_free(ns);
    return c;
}

static void ns_stop_thread(dur_ns *ns)
{
    if (!ns->thread_started)
        return;
    pthread_mutex_lock(&ns->thr_mu);
    ns->stopping = true;
    pthread_cond_broadcast(&ns->thr_cv);
    pthread_mutex_unlock(&ns->thr_mu);
    pthread_join(ns->thread, NULL);
    ns->thread_started = false;
}

dur_code dur_ns_close(dur_ns *ns, dur_error *err)
{
    if (!ns)
        return DUR_OK;
    ns_stop_thread(ns);
    dur_code c = DUR_OK;
    if (ns->wal) {
        if (dur_wal_poisoned(ns->wal))
            c = dur_wal_sync(ns->wal, 0, err); /* reports the poison */
        /* The fill is room for changes, and none come now; on a full disk it is
         * what the last checkpoint's file and the next segment need, and without
         * that checkpoint the next mount has records to replay and is refused
         * until there is room. */
        else if ((c = dur_wal_release_fill(ns->wal, err)) == DUR_OK)
            c = ns_checkpoint_now(ns, false, err);
        dur_error e2;
        if (c == DUR_OK && ns->journal_elsewhere) /* nothing left to replay there */
            dur_dir_remove(ns->reserved, NS_ELSEWHERE_NAME, &e2);
        dur_code c2 = dur_wal_close(ns->wal, c == DUR_OK ? err : &e2);
        ns->wal = NULL;
        if (c == DUR_OK)
            c = c2;
    }
    ns_free(ns);
    return c;
}

const dur_fs_policy *dur_ns_fs_policy(dur_ns *ns)
{
    return &ns->policy;
}

/* ---- metadata operations ---- */
/* Under `order`, before the change is applied: room in the journal for its record.
 * Records go into the zero fill written ahead of them (dur_wal_room); on a full
 * filesystem one appended past it would fail to be written and poison the journal,
 * and from then on even an unlink, the way out of a full disk, would fail.  So the
 * change is refused instead (ENOSPC, nothing applied, the journal unharmed) while
 * the room is short, keeping NS_ROOM_RESERVE for changes that free space.  Where
 * the WAL keeps no fill (ORDERED, btrfs, other filesystems) it reserves blocks
 * ahead instead (reserve_bytes); where the filesystem cannot reserve them either,
 * the room is unbounded and a full disk still poisons (docs/design.md). */
_Static_assert(NS_ROOM_FRAME >= WAL_FRAME_OVERHEAD, "room per record frame");

static dur_code ensure_room(dur_ns *ns, dur_ns_op *op)
{
    const uint64_t need_any = (uint64_t)NS_REC_MAX_BYTES + NS_ROOM_FRAME + NS_ROOM_RESERVE;
    uint64_t need = op->frees_space ? NS_ROOM_SMALL_RECORD : need_any;
    uint64_t room = 0;
    dur_code c = dur_wal_room(ns->wal, need, &room, &op->err);
    if (c != DUR_OK)
        return c;
    if (room >= need) {
        /* Room again only when any change fits: a freeing change let through on
         * the reserve must not flip the state (and the log) back and forth. */
        if (ns->journal_full && room >= need_any) {
            ns_log(ns, LOG_NOTICE, "durfs: journal %s has room again", ns->journal_path);
            ns->journal_full = false;
        }
        return DUR_OK;
    }
    if (!ns->journal_full)
        ns_log(ns, LOG_WARNING,
               "durfs: journal %s: its filesystem is full: changes fail with ENOSPC until "
               "there is room (unlink, rmdir and truncate still work for a while)",
               ns->journal_path);
    ns->journal_full = true;
    return dur_error_set(&op->err, DUR_E_NOROOM, ENOSPC, ns->journal_path,
                         "no room for a journal record: %" PRIu64 " bytes written ahead of the "
                         "last record, %" PRIu64 " needed (its filesystem is full)",
                         room, need);
}

static dur_code ns_begin(dur_ns *ns, dur_ns_op *op, bool frees_space)
{
    memset(op, 0, sizeof *op);
    op->ns = ns;
    op->harden_fd = -1;
    op->frees_space = frees_space;
    pthread_mutex_lock(&ns->order);
    /* A poisoned journal (dur_wal_room returns the poison's error) or one without
     * room takes no record: refuse now, so that a caller that checks skips its
     * backing call and the refused change has no effect at all. */
    if (ns->wal)
        op->log_error = ensure_room(ns, op);
    return op->log_error;
}

dur_code dur_ns_begin(dur_ns *ns, dur_ns_op *op)
{
    return ns_begin(ns, op, false);
}

dur_code dur_ns_begin_freeing(dur_ns *ns, dur_ns_op *op)
{
    return ns_begin(ns, op, true);
}

/* Encode and append under the ordering lock (held since dur_ns_begin). */
dur_code ns_op_append(dur_ns_op *op, const ns_record *r)
{
    dur_ns *ns = op->ns;
    if (op->log_error != DUR_OK)
        return op->log_error;
    dur_code c;
    if (!ns->wal) {
        c = dur_error_set(&op->err, DUR_E_CLOSED, EROFS, ns->journal_path,
                          "namespace journal is read-only");
    } else if (op->lsn != 0) {
        c = dur_error_set(&op->err, DUR_E_INVAL, 0, NULL,
                          "one journal record per dur_ns_begin/dur_ns_end");
    } else {
        size_t len = 0;
        c = ns_record_encode(r, ns->encbuf, &len, &op->err);
        /* ensure_room made room for no more than this */
        assert(c != DUR_OK || !op->frees_space || len + NS_ROOM_FRAME <= NS_ROOM_SMALL_RECORD);
        if (c == DUR_OK)
            c = dur_wal_append(ns->wal, r->type, ns->encbuf, len, &op->lsn, &op->err);
        if (c == DUR_OK) {
            assert(op->lsn > 0); /* the WAL numbers records from 1 */
            ns->user_records++;
        }
    }
    op->log_error = c;
    return c;
}

dur_code dur_ns_log_create(dur_ns_op *op, const dur_fh *parent, const char *name, const dur_fh *obj,
                           mode_t mode, uid_t uid, gid_t gid, dev_t rdev,
                           const char *symlink_target)
{
    ns_record r;
    memset(&r, 0, sizeof r);
    r.type = NS_REC_CREATE;
    r.parent = *parent;
    r.obj = *obj;
    snprintf(r.name, sizeof r.name, "%s", name ? name : "");
    if (name && strlen(name) > NS_NAME_MAX)
        r.name[0] = '\0'; /* refused as invalid by the encoder */
    r.mode = (uint32_t)mode;
    r.uid = uid;
    r.gid = gid;
    r.rdev = (uint64_t)rdev;
    if (S_ISLNK(mode) && symlink_target) {
        r.target = symlink_target;
        r.target_len = (uint32_t)strlen(symlink_target);
    }
    return ns_op_append(op, &r);
}

static void copy_name(char *dst, const char *src)
{
    if (!src || strlen(src) > NS_NAME_MAX)
        dst[0] = '\0'; /* invalid: the encoder refuses "" */
    else
        memcpy(dst, src, strlen(src) + 1);
}

dur_code dur_ns_log_link(dur_ns_op *op, const dur_fh *obj, const dur_fh *new_parent,
                         const char *new_name)
{
    ns_record r;
    memset(&r, 0, sizeof r);
    r.type = NS_REC_LINK;
    r.obj = *obj;
    r.parent2 = *new_parent;
    copy_name(r.name2, new_name);
    return ns_op_append(op, &r);
}

dur_code dur_ns_log_remove(dur_ns_op *op, const dur_fh *parent, const char *name, const dur_fh *obj,
                           bool is_dir)
{
    ns_record r;
    memset(&r, 0, sizeof r);
    r.type = NS_REC_REMOVE;
    r.parent = *parent;
    copy_name(r.name, name);
    r.obj = *obj;
    r.is_dir = is_dir;
    return ns_op_append(op, &r);
}

dur_code dur_ns_log_rename(dur_ns_op *op, const dur_fh *old_parent, const char *old_name,
                           const dur_fh *new_parent, const char *new_name, unsigned flags,
                           const dur_fh *obj, const dur_fh *replaced)
{
    ns_record r;
    memset(&r, 0, sizeof r);
    r.type = NS_REC_RENAME;
    r.parent = *old_parent;
    copy_name(r.name, old_name);
    r.parent2 = *new_parent;
    copy_name(r.name2, new_name);
    r.flags = flags;
    r.obj = *obj;
    if (replaced)
        r.other = *replaced;
    return ns_op_append(op, &r);
}

dur_code dur_ns_log_setattr(dur_ns_op *op, const dur_fh *obj, int obj_fd, const dur_ns_attr *attr)
{
    ns_record r;
    memset(&r, 0, sizeof r);
    r.type = NS_REC_SETATTR;
    r.obj = *obj;
    r.valid = attr->valid;
    r.mode = (uint32_t)attr->mode;
    r.uid = attr->uid;
    r.gid = attr->gid;
    r.size = attr->size;
    r.atime_sec = attr->atime.tv_sec;
    r.atime_nsec = (uint32_t)attr->atime.tv_nsec;
    r.mtime_sec = attr->mtime.tv_sec;
    r.mtime_nsec = (uint32_t)attr->mtime.tv_nsec;
    if (!(attr->valid & DUR_NS_ATTR_ATIME))
        r.atime_sec = 0, r.atime_nsec = 0;
    if (!(attr->valid & DUR_NS_ATTR_MTIME))
        r.mtime_sec = 0, r.mtime_nsec = 0;
    if (r.atime_nsec >= 1000000000u || r.mtime_nsec >= 1000000000u) {
        op->log_error = dur_error_set(&op->err, DUR_E_INVAL, 0, NULL,
                                      "setattr: timestamp nanoseconds out of range (UTIME_NOW/OMIT "
                                      "must be resolved by the caller)");
        return op->log_error;
    }
    dur_code c = ns_op_append(op, &r);
    /* Replay never re-applies a size (a later write could be cut off): the size change
     * itself is made durable before the operation is acknowledged. */
    if (c == DUR_OK && (attr->valid & DUR_NS_ATTR_SIZE)) {
        if (obj_fd < 0)
            return op->log_error = dur_error_set(&op->err, DUR_E_INVAL, 0, NULL,
                                                 "setattr with SIZE needs the object's fd");
        op->harden_fd = obj_fd;
    }
    return c;
}

dur_code dur_ns_log_setattr_change(dur_ns_op *op, const dur_fh *obj, int obj_fd,
                                   const dur_ns_attr *before, const dur_ns_attr *after)
{
    /* Only owner and mode can be skipped: their current values always come from
     * logged operations.  A size or a time may come from writes, which are not
     * logged, so setting it "again" must still make it durable. */
    unsigned skippable = DUR_NS_ATTR_MODE | DUR_NS_ATTR_UID | DUR_NS_ATTR_GID;
    bool changed = (after->valid & ~skippable) != 0 || before->mode != after->mode ||
                   before->uid != after->uid || before->gid != after->gid;
    if (changed)
        return dur_ns_log_setattr(op, obj, obj_fd, after);
    /* Under the ordering lock: every operation whose effect the call observed has
     * appended its record by now. */
    if (op->ns->wal)
        op->wait_lsn = dur_wal_last_lsn(op->ns->wal);
    return op->log_error;
}

dur_code dur_ns_log_setxattr(dur_ns_op *op, const dur_fh *obj, const char *name, const void *value,
                             size_t size, int flags)
{
    ns_record r;
    memset(&r, 0, sizeof r);
    r.type = NS_REC_SETXATTR;
    r.obj = *obj;
    copy_name(r.xname, name);
    if (size > NS_XATTR_VALUE_MAX) {
        op->log_error = dur_error_set(&op->err, DUR_E_INVAL, 0, NULL,
                                      "setxattr: value of %zu bytes exceeds 65536", size);
        return op->log_error;
    }
    r.value = value;
    r.value_len = (uint32_t)size;
    r.flags = (uint32_t)flags;
    return ns_op_append(op, &r);
}

dur_code dur_ns_log_removexattr(dur_ns_op *op, const dur_fh *obj, const char *name)
{
    ns_record r;
    memset(&r, 0, sizeof r);
    r.type = NS_REC_REMOVEXATTR;
    r.obj = *obj;
    copy_name(r.xname, name);
    return ns_op_append(op, &r);
}

dur_code dur_ns_end(dur_ns_op *op, dur_error *err)
{
    dur_ns *ns = op->ns;
    assert(ns != NULL); /* dur_ns_begin was called: the ordering lock is held */
    uint64_t lsn = op->lsn ? op->lsn : op->wait_lsn;
    dur_code c = op->log_error;
    if (c != DUR_OK && err)
        *err = op->err;
    pthread_mutex_unlock(&ns->order);
    if (c != DUR_OK) /* a change refused for room failed nothing */
        return c == DUR_E_NOROOM ? c : ns_count_error(ns, c);
    if (op->harden_fd >= 0) {
        atomic_fetch_add(&ns->file_syncs, 1);
        uint64_t start = ns_now_ns();
        c = ns_file_sync_is_syncfs(ns) ? ns_syncfs_backing(ns, err)
                                       : dur_fd_fsync(op->harden_fd, "truncated file", err);
        ns_note_sync(ns, "fsync of a truncated file", start);
        if (c != DUR_OK)
            return ns_count_error(ns, c);
    }
    if (lsn != 0 && ns->opts.mode != DUR_NS_ORDERED) {
        uint64_t start = ns_now_ns();
        c = dur_wal_sync(ns->wal, lsn, err); /* group commit with concurrent ops */
        ns_note_sync(ns, "journal commit", start);
    }
    return ns_count_error(ns, c);
}

void dur_ns_get_status(dur_ns *ns, dur_ns_status *out)
{
    memset(out, 0, sizeof *out);
    out->mode = ns->opts.mode;
    out->fs = ns->policy;
    snprintf(out->journal_dir, sizeof out->journal_dir, "%s", ns->journal_path);
    pthread_mutex_lock(&ns->ckpt_mu);
    out->checkpoint_lsn = ns->checkpoint_lsn;
    out->checkpoint_time = ns->checkpoint_time;
    pthread_mutex_unlock(&ns->ckpt_mu);
    out->checkpoints = atomic_load(&ns->checkpoints);
    if (ns->wal) {
        out->last_lsn = dur_wal_last_lsn(ns->wal);
        out->durable_lsn = dur_wal_durable_lsn(ns->wal);
        dur_wal_get_stats(ns->wal, &out->wal);
    }
    out->last_recovery = ns->last_recovery;
    out->file_syncs = atomic_load(&ns->file_syncs);
    out->file_data_records = atomic_load(&ns->file_data_records);
    out->file_data_bytes = atomic_load(&ns->file_data_bytes);
    out->syncfs_calls = atomic_load(&ns->syncfs_calls);
    out->errors = atomic_load(&ns->errors);
    out->journal_failed = ns->wal && dur_wal_poisoned(ns->wal);
    out->all_durable = out->durable_lsn == out->last_lsn && !out->journal_failed;
}
