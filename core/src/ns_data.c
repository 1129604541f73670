/* Namespace journal: file-data sync policy per mode.
 *
 * Crash reasoning: file data is not journaled; it is made durable by fdatasync of
 * the backing file at the points the mode promises (close in CLOSE/SYNC, every
 * write in SYNC, fsync always).  Before a regular file is renamed its data is made
 * durable in EVERY mode, so a rename that survives a power cut never exposes a file
 * whose data did not (the atomic-replace idiom, R2).  Sync failures are sticky per
 * dur_file_state (R6): once an fdatasync failed, every later sync of that file fails.
 *
 * ORDERED mode on a filesystem whose file fsync can persist one inode's changes
 * ahead of older, unrelated ones (btrfs's log tree; any filesystem not known to
 * commit metadata globally): such an fsync would leave BACKING in a state that is
 * no prefix of the operations, and replay cannot undo an operation.  There the file
 * sync is a syncfs of BACKING instead: one filesystem commit persists the file's
 * data together with every earlier operation, in order (found by the power-cut rig:
 * churn on btrfs, ordered mode, lost hard links).  CLOSE/SYNC need no such care:
 * every acknowledged operation is already committed by the group commit's syncfs.
 */
#include "ns_internal.h"

#include "durability/sync.h"
#include "durability/testing.h"

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
    atomic_fetch_add(&ns->file_syncs, 1);
    uint64_t start = ns_now_ns();
    dur_code c = ns_file_sync_breaks_prefix(ns)
                     ? dur_file_state_sync_with(st, syncfs_backing, ns, force, what, err)
                     : dur_file_state_sync(st, fd, datasync, force, what, err);
    ns_note_sync(ns, what, start);
    return ns_count_error(ns, c);
}

static dur_code sync_if_dirty(dur_ns *ns, dur_file_state *st, int fd, const char *what,
                              dur_error *err)
{
    if (!dur_file_state_dirty(st) && atomic_load(&st->failed_errno) == 0)
        return DUR_OK;
    return sync_file(ns, st, fd, true, false, what, err);
}

static dur_code wal_sync_all(dur_ns *ns, dur_error *err)
{
    if (!ns->wal)
        return DUR_OK; /* read-only: nothing is ever logged */
    return ns_count_error(ns, dur_wal_sync(ns->wal, 0, err));
}

dur_code dur_ns_file_written(dur_ns *ns, dur_file_state *st, int fd, dur_error *err)
{
    dur_file_state_note_write(st);
    if (ns->opts.mode != DUR_NS_SYNC)
        return DUR_OK;
    return sync_if_dirty(ns, st, fd, "written file", err);
}

dur_code dur_ns_file_close(dur_ns *ns, dur_file_state *st, int fd, dur_error *err)
{
    if (ns->opts.mode == DUR_NS_ORDERED || skipping(DUR_SKIP_CLOSE_SYNC))
        return DUR_OK;
    return sync_if_dirty(ns, st, fd, "closed file", err);
}

dur_code dur_ns_file_fsync(dur_ns *ns, dur_file_state *st, int fd, bool datasync, dur_error *err)
{
    dur_code c = sync_file(ns, st, fd, datasync, true, "fsync of file", err);
    if (c != DUR_OK)
        return c;
    /* The file's name (and every earlier namespace operation) durable too. */
    return wal_sync_all(ns, err);
}

dur_code dur_ns_dir_fsync(dur_ns *ns, dur_error *err)
{
    return wal_sync_all(ns, err);
}

dur_code dur_ns_prepare_rename(dur_ns *ns, dur_file_state *st, int fd, dur_error *err)
{
    if (skipping(DUR_SKIP_RENAME_SOURCE_SYNC))
        return DUR_OK;
    return sync_if_dirty(ns, st, fd, "rename source", err);
}
