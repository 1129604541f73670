/* Namespace journal: file-data sync policy per mode, and small files' content in
 * the journal.
 *
 * Crash reasoning.  File data is made durable at the points the mode promises
 * (close in CLOSE/SYNC, every write in SYNC, fsync always), and before a regular
 * file is renamed in EVERY mode, so a rename that survives a power cut never
 * exposes a file whose data did not (the atomic-replace idiom, R2).  Two ways:
 *
 *  - In place: fdatasync/fsync of the backing file.  Sync failures are sticky per
 *    dur_file_state (R6): once one failed, every later sync of that file fails.
 *  - Logged (CLOSE mode, files of at most data_journal_max bytes, at close, before
 *    a rename, and at an fdatasync where that saves a flush: fdatasync_logs): the
 *    whole content is read and appended as one
 *    FILE_DATA record, which is durable with the group commit that follows -- one
 *    device flush shared with other requests, where an fdatasync of a new file
 *    commits the filesystem journal.  Replay writes the content of the newest
 *    FILE_DATA of each object back (ns_replay.c).  The backing file's own copy
 *    reaches the disk by writeback, at the latest at the next checkpoint's syncfs;
 *    a failed syncfs poisons the journal (ns_journal.c), so records whose data the
 *    kernel could not write back are never dropped.
 *
 * Replay must not write logged content over newer content that became durable in
 * place.  So when an object may have a FILE_DATA record after the published
 * checkpoint (ns->data_set), every in-place sync of it is followed by FILE_SYNCED
 * (obj, covers), durable before the sync is acknowledged.  covers is the last LSN
 * read under the ordering lock BEFORE the sync; a FILE_DATA snapshot is taken and
 * appended under that lock, so a FILE_DATA record <= covers was read before the
 * sync started (the in-place content holds it or newer writes: replay skips it),
 * and one > covers was read after every write the sync acknowledges (replay may
 * apply it).  A truncate is an in-place sync too: its SETATTR(SIZE) record is
 * appended under the lock with the ftruncate and fsynced before the ack, so replay
 * treats it like FILE_SYNCED(covers = its own LSN).  A write through an O_DSYNC
 * backing fd is durable in place by itself: for such an object it is followed by a
 * full sync and FILE_SYNCED (a ranged sync would leave the logged content's other
 * bytes only in the journal, which FILE_SYNCED then hides).
 *
 * ORDERED mode on a filesystem whose file fsync can persist one inode's changes
 * ahead of older, unrelated ones (btrfs's log tree; any filesystem not known to
 * commit metadata globally): such an fsync would leave BACKING in a state that is
 * no prefix of the operations, and replay cannot undo an operation.  There the file
 * sync is a syncfs of BACKING instead: one filesystem commit persists the file's
 * data together with every earlier operation, in order (found by the power-cut rig:
 * churn on btrfs, ordered mode, lost hard links).  CLOSE/SYNC need no such care:
 * every acknowledged operation is already committed by the group commit's syncfs.
 *
 * ext4 with fast_commit, every mode: an fsync there writes a fast commit, and the
 * power-cut rig saw fsync'ed appends lost after a cut (kernel 6.18; raw programs,
 * no durfs involved).  Every in-place sync is a syncfs there (a full jbd2 commit).
 */
#include "ns_internal.h"
#include "ns_record.h"

#include "durability/sync.h"
#include "durability/testing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static bool skipping(unsigned what)
{
#ifdef DUR_TEST_HOOKS
    return (dur_test_get_skip() & what) != 0;
#else
    (void)what;
    return false;
#endif
}

static dur_code syncfs_backing(void *ns, dur_error *err)
{
    return ns_syncfs_backing(ns, err);
}

/* Make st's data durable: fdatasync/fsync of fd, or syncfs where a file sync would
 * break the prefix order (see top of file). */
static dur_code sync_file(dur_ns *ns, dur_file_state *st, int fd, bool datasync, bool force,
                          const char *what, dur_error *err)
{
    if (!force && !dur_file_state_dirty(st) && atomic_load(&st->failed_errno) == 0)
        return DUR_OK; /* nothing to sync: not counted as one */
    atomic_fetch_add(&ns->file_syncs, 1);
    uint64_t start = ns_now_ns();
    dur_code c = ns_file_sync_is_syncfs(ns)
                     ? dur_file_state_sync_with(st, syncfs_backing, ns, force, what, err)
                     : dur_file_state_sync(st, fd, datasync, force, what, err);
    ns_note_sync(ns, what, start);
    return ns_count_error(ns, c);
}

/* ---- FILE_DATA bookkeeping ---- */
static bool has_identity(const dur_fh *obj)
{
    return obj && obj->len > 0;
}

static uint64_t handle_hash(const dur_fh *obj)
{
    return XXH3_64bits_withSeed(obj->data, obj->len, (uint64_t)(uint32_t)obj->type);
}

static atomic_uint_fast64_t *data_slot(dur_ns *ns, uint64_t hash)
{
    return &ns->data_lsn[hash & (NS_DATA_SLOTS - 1)];
}

/* Lock-free first look: false means no FILE_DATA of obj can be replayed. */
static bool data_maybe_logged(dur_ns *ns, const dur_fh *obj)
{
    return ns->data_journal && has_identity(obj) && ns->wal &&
           atomic_load(data_slot(ns, handle_hash(obj))) > atomic_load(&ns->published_lsn);
}

/* Could a FILE_DATA record of obj be replayed: one after the published checkpoint
 * and after the `covers` of the last durable FILE_SYNCED of obj logged through st?
 * The set's LSN is obj's newest FILE_DATA or higher (a hash collision), so
 * comparing it with st's superseded_lsn errs only towards "yes".  *covers: the
 * last LSN, read under the ordering lock now. */
static bool data_may_be_replayed(dur_ns *ns, dur_file_state *st, const dur_fh *obj,
                                 uint64_t *covers)
{
    *covers = 0;
    if (!data_maybe_logged(ns, obj))
        return false;
    uint64_t dead = atomic_load(&ns->published_lsn);
    uint64_t superseded = atomic_load(&st->superseded_lsn);
    if (superseded > dead)
        dead = superseded;
    pthread_mutex_lock(&ns->order);
    bool logged = ns_data_set_get(&ns->data_set, handle_hash(obj)) > dead;
    *covers = dur_wal_last_lsn(ns->wal);
    pthread_mutex_unlock(&ns->order);
    return logged;
}

/* FILE_SYNCED(obj, covers): the in-place content supersedes FILE_DATA <= covers.
 * Durable before return (CLOSE/SYNC: the only modes with FILE_DATA); then later
 * in-place syncs through st need none until obj gets a newer FILE_DATA. */
static dur_code log_file_synced(dur_ns *ns, dur_file_state *st, const dur_fh *obj, uint64_t covers,
                                dur_error *err)
{
    if (skipping(DUR_SKIP_FILE_SYNCED_RECORD))
        return DUR_OK;
    ns_record r;
    memset(&r, 0, sizeof r);
    r.type = NS_REC_FILE_SYNCED;
    r.obj = *obj;
    r.covers = covers;
    dur_ns_op op;
    dur_ns_begin_freeing(ns, &op); /* small, and owed for content already in place */
    ns_op_append(&op, &r);
    dur_code c = dur_ns_end(&op, err);
    uint_fast64_t cur = atomic_load(&st->superseded_lsn);
    while (c == DUR_OK && cur < covers &&
           !atomic_compare_exchange_weak(&st->superseded_lsn, &cur, covers)) {
    }
    return c;
}

/* A file last made durable at a size above the logging limit is taken to stay
 * large: its fdatasync syncs in place without an fstat (random writes into a large
 * file are the fdatasync-heavy case).  Only a hint: one that shrank is still
 * synced correctly, just not logged. */
static bool known_large(dur_ns *ns, dur_file_state *st)
{
    uint64_t size = atomic_load(&st->synced_size);
    return size != DUR_SIZE_UNKNOWN && size > ns->opts.data_journal_max;
}

/* Remember the size st's file had when it was made durable: the hint by which
 * fdatasync chooses between logging and syncing in place (fdatasync_logs). */
static void note_synced_size(dur_ns *ns, dur_file_state *st, int fd)
{
    struct stat sb;
    if (ns->data_journal && !known_large(ns, st))
        atomic_store(&st->synced_size,
                     fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : DUR_SIZE_UNKNOWN);
}

/* After a successful in-place sync of obj: its size for the hint, and FILE_SYNCED
 * when replay could otherwise write older logged content over it (mark, covers:
 * data_may_be_replayed before the sync).  dur_ns_end counts a failed record. */
static dur_code after_in_place_sync(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj,
                                    bool mark, uint64_t covers, dur_error *err)
{
    note_synced_size(ns, st, fd);
    return mark ? log_file_synced(ns, st, obj, covers, err) : DUR_OK;
}

/* An in-place sync of obj (sync_file counts its failure). */
static dur_code sync_in_place(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj,
                              bool datasync, bool force, const char *what, dur_error *err)
{
    uint64_t covers;
    bool mark = data_may_be_replayed(ns, st, obj, &covers);
    dur_code c = sync_file(ns, st, fd, datasync, force, what, err);
    return c == DUR_OK ? after_in_place_sync(ns, st, fd, obj, mark, covers, err) : c;
}

ssize_t ns_read_prefix(int fd, unsigned char *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        size_t want = cap - got;
        ssize_t n = pread(fd, buf + got, want, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        got += (size_t)n;
        if ((size_t)n < want)
            break; /* end of file */
    }
    return (ssize_t)got;
}

typedef struct content_ctx {
    dur_ns *ns;
    dur_file_state *st;
    int fd;
    const dur_fh *obj;
    const char *what;
} content_ctx;

/* dur_file_state sync function: log the content (FILE_DATA), or -- file too large
 * or fd not readable -- fdatasync it in place. */
static dur_code make_content_durable(void *arg, dur_error *err)
{
    content_ctx *x = arg;
    dur_ns *ns = x->ns;
    size_t cap = ns->opts.data_journal_max;
    /* A writeback error of this file that fd has not reported yet (errseq: one
     * since fd was opened, or one nobody has seen): the failed pages may have been
     * evicted and the snapshot would read stale blocks.  The fdatasync this
     * replaces would report it, so must we (R6).  WAIT_BEFORE only waits for
     * writeback already under way. */
    if (sync_file_range(x->fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE) != 0 && errno != EINVAL &&
        errno != ESPIPE)
        return ns_count_error(ns, dur_error_set(err, DUR_E_IO, errno, x->what,
                                                "writing the file back failed; its data "
                                                "may be lost"));
    struct stat sb;
    /* The size can still grow before the read below, which then sees more than cap. */
    bool small = fstat(x->fd, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size <= cap;
    unsigned char *buf = small ? malloc(cap + 1) : NULL;
    ssize_t n = -1;
    dur_ns_op op;
    if (dur_ns_begin(ns, &op) == DUR_E_NOROOM) {
        free(buf); /* the journal's filesystem is full: in place, below */
        buf = NULL;
    }
    /* Snapshot and append under the ordering lock (see top of file: covers). */
    uint64_t h = handle_hash(x->obj);
    if (buf) {
        /* Announce the record before the snapshot: the lock-free filter of an
         * in-place sync that starts after this store sees it (and then waits for
         * this lock); one that read the filter before it started before the
         * snapshot, so the snapshot holds every write that sync acknowledges.
         * LSNs grow under `order`, so this store keeps the slot's maximum. */
        atomic_store(data_slot(ns, h), dur_wal_last_lsn(ns->wal) + 1);
        n = ns_read_prefix(x->fd, buf, cap + 1);
    }
    if (n >= 0 && (size_t)n <= cap) {
        ns_record r;
        memset(&r, 0, sizeof r);
        r.type = NS_REC_FILE_DATA;
        r.obj = *x->obj;
        r.value = buf;
        r.value_len = (uint32_t)n;
        if (ns_op_append(&op, &r) == DUR_OK) {
            /* >= the announced LSN: a checkpoint marker, appended without `order`,
             * may have taken that one */
            atomic_store(data_slot(ns, h), op.lsn);
            ns_data_set_put(&ns->data_set, h, op.lsn);
            atomic_fetch_add(&ns->file_data_records, 1);
            atomic_fetch_add(&ns->file_data_bytes, (uint64_t)n);
        }
        free(buf);
        uint64_t start = ns_now_ns();
        dur_code c = dur_ns_end(&op, err);
        ns_note_sync(ns, "journal commit of a file's content", start);
        if (c == DUR_OK)
            atomic_store(&x->st->synced_size, (uint64_t)n);
        return c;
    }
    free(buf);
    dur_ns_end(&op, NULL); /* nothing appended: nothing to wait for */
    uint64_t covers;
    bool mark = data_may_be_replayed(ns, x->st, x->obj, &covers);
    atomic_fetch_add(&ns->file_syncs, 1);
    uint64_t start = ns_now_ns();
    dur_code c = ns_file_sync_is_syncfs(ns) ? ns_syncfs_backing(ns, err)
                                            : dur_fd_fdatasync(x->fd, x->what, err);
    ns_note_sync(ns, x->what, start);
    return c == DUR_OK ? after_in_place_sync(ns, x->st, x->fd, x->obj, mark, covers, err)
                       : ns_count_error(ns, c);
}

/* Dirty data durable, logged if small (too large: in place).  make_content_durable
 * counts its own errors; an earlier failure repeated (sticky) is counted here. */
static dur_code log_content(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj,
                            const char *what, dur_error *err)
{
    content_ctx x = {ns, st, fd, obj, what};
    bool failed_before = atomic_load(&st->failed_errno) != 0;
    dur_code c = dur_file_state_sync_with(st, make_content_durable, &x, false, what, err);
    return failed_before ? ns_count_error(ns, c) : c;
}

/* Dirty data durable, logged if small (CLOSE), else in place. */
static dur_code content_durable_if_dirty(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj,
                                         const char *what, dur_error *err)
{
    if (!dur_file_state_dirty(st) && atomic_load(&st->failed_errno) == 0)
        return DUR_OK;
    if (!ns->data_journal || !has_identity(obj))
        return sync_in_place(ns, st, fd, obj, true, false, what, err);
    return log_content(ns, st, fd, obj, what, err);
}

static dur_code wal_sync_all(dur_ns *ns, dur_error *err)
{
    if (!ns->wal)
        return DUR_OK; /* read-only: nothing is ever logged */
    return ns_count_error(ns, dur_wal_sync(ns->wal, 0, err));
}

/* Was fd opened O_DSYNC/O_SYNC (every write durable in place by itself)? */
static bool fd_syncs_writes(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_DSYNC) != 0;
}

dur_code dur_ns_file_written(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj,
                             dur_error *err)
{
    dur_file_state_note_write(st);
    if (ns->opts.mode == DUR_NS_SYNC) /* no FILE_DATA in SYNC mode */
        return sync_in_place(ns, st, fd, obj, true, false, "written file", err);
    /* The kernel's own sync of an O_DSYNC write is not trusted on ext4 fast_commit:
     * sync_in_place makes it a syncfs there. */
    if ((data_maybe_logged(ns, obj) || !ns->policy.file_fsync_trusted) && fd_syncs_writes(fd))
        return sync_in_place(ns, st, fd, obj, true, true, "synchronous write", err);
    return DUR_OK;
}

dur_code dur_ns_file_written_durable(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj,
                                     bool datasync, dur_error *err)
{
    dur_file_state_note_write(st);
    return sync_in_place(ns, st, fd, obj, datasync, false, "synchronous write", err);
}

dur_code dur_ns_file_close(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj,
                           dur_error *err)
{
    if (ns->opts.mode == DUR_NS_ORDERED || skipping(DUR_SKIP_CLOSE_SYNC))
        return DUR_OK;
    return content_durable_if_dirty(ns, st, fd, obj, "closed file", err);
}

/* Should this fdatasync log the content instead of syncing in place?  Only where
 * it saves a device flush: the file is small and dirty, and either its size
 * changed since it was last made durable (an in-place fdatasync would then also
 * commit the filesystem journal: two flushes) or it already has a FILE_DATA
 * record replay could apply (an in-place sync would then need FILE_SYNCED: two
 * commits).  A file rewritten in place at its old size is synced in place: one
 * flush either way, and fewer bytes.  A choice of cost only: both ways make the
 * data durable before the ack. */
static bool fdatasync_logs(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj)
{
    struct stat sb;
    if (!ns->data_journal || !has_identity(obj) || !dur_file_state_dirty(st) ||
        known_large(ns, st) || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        (uint64_t)sb.st_size > ns->opts.data_journal_max)
        return false;
    uint64_t covers;
    return (uint64_t)sb.st_size != atomic_load(&st->synced_size) ||
           data_may_be_replayed(ns, st, obj, &covers);
}

/* Every write this session saw is durable already (a sync here covered it, and
 * the kernel hands its dirty pages over before an FSYNC), and no logged content
 * of the file can be replayed, so an fdatasync has nothing to do.  In SYNC mode
 * each write is synced before it is acknowledged: a program's fdatasync (or the
 * kernel's, after an O_DSYNC write) paid a second flush for nothing.  No sync
 * yet in this session (sync_gen 0): an earlier one may have left pages dirty in
 * BACKING's cache, so it syncs. */
static bool fdatasync_is_noop(dur_ns *ns, dur_file_state *st, const dur_fh *obj)
{
    return atomic_load(&st->sync_gen) > 0 && !dur_file_state_dirty(st) &&
           !data_maybe_logged(ns, obj);
}

dur_code dur_ns_file_fsync(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj, bool datasync,
                           dur_error *err)
{
    dur_code c;
    /* fsync keeps the in-place sync: it promises the inode's times too, which a
     * logged content does not restore (replay writes it back at recovery time). */
    if (datasync && fdatasync_is_noop(ns, st, obj)) {
        /* a failed sync still fails; a write landing meanwhile is synced */
        c = sync_file(ns, st, fd, true, false, "fdatasync of file", err);
    } else if (datasync && fdatasync_logs(ns, st, fd, obj)) {
        c = skipping(DUR_SKIP_FDATASYNC_LOG)
                ? DUR_OK
                : log_content(ns, st, fd, obj, "fdatasync of file", err);
    } else {
        c = sync_in_place(ns, st, fd, obj, datasync, true, "fsync of file", err);
    }
    if (c != DUR_OK)
        return c;
    /* The file's name (and every earlier namespace operation) durable too. */
    return wal_sync_all(ns, err);
}

dur_code dur_ns_dir_fsync(dur_ns *ns, dur_error *err)
{
    return wal_sync_all(ns, err);
}

dur_code dur_ns_prepare_rename(dur_ns *ns, dur_file_state *st, int fd, const dur_fh *obj,
                               dur_error *err)
{
    if (skipping(DUR_SKIP_RENAME_SOURCE_SYNC))
        return DUR_OK;
    return content_durable_if_dirty(ns, st, fd, obj, "rename source", err);
}
