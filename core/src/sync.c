/* libdurability: durable sync helpers.
 *
 * Crash reasoning these helpers rely on (POSIX plus Linux practice):
 *  - File data is durable only after fdatasync/fsync of that file returned 0.
 *  - A directory entry (create, rename, remove) is durable only after fsync of the
 *    directory that holds it.  A rename touches two directories when they differ:
 *    both must be synced, or the old name may come back (and the new one vanish).
 *  - Atomic replace = write temp, fsync temp, rename over target, fsync parent.
 *    Without the temp fsync the rename can reach disk before the data and the
 *    target becomes empty/partial after a crash (the ext4 "zero-length file" bug);
 *    without the parent fsync the rename itself may be undone.
 *  - A failed fsync is never retried (R6): the kernel may already have dropped the
 *    dirty pages and marked them clean, so a later success proves nothing.
 *    dur_file_state remembers the first failure forever.
 */
#include "dir_util.h"
#include "durability/sync.h"
#include "durability/testing.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool skip(unsigned bit)
{
    return (dur_test_get_skip() & bit) != 0;
}

dur_code dur_sync_file(dur_file *f, dur_error *err)
{
    return f->ops->sync_data(f, err);
}

dur_code dur_sync_parent_dir(dur_dir *d, const char *path, dur_error *err)
{
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    char *parent = dir_parent_dup(path);
    if (!parent)
        return dir_nomem(err, path);
    rc = d->ops->sync_dir(d, parent, err);
    free(parent);
    return rc;
}

dur_code dur_rename_durable(dur_dir *d, const char *from, const char *to, dur_error *err)
{
    dur_code rc = d->ops->rename(d, from, to, err);
    if (rc != DUR_OK)
        return rc;
    /* The new entry first: once it is durable the data is reachable by its new name. */
    rc = dur_sync_parent_dir(d, to, err);
    if (rc != DUR_OK)
        return rc;
    size_t fl = dir_parent_len(from), tl = dir_parent_len(to);
    if (fl != tl || memcmp(from, to, fl) != 0)
        rc = dur_sync_parent_dir(d, from, err);
    return rc;
}

static atomic_uint_fast64_t temp_counter;

dur_code dur_atomic_write(dur_dir *d, const char *path, const void *data, size_t len,
                          dur_error *err)
{
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    if (path[0] == '\0')
        return dur_error_set(err, DUR_E_INVAL, 0, path, "atomic write needs a file name");
    size_t tmplen = strlen(path) + 64;
    char *tmp = malloc(tmplen);
    if (!tmp)
        return dir_nomem(err, path);
    /* A temp left by a crashed process with the same pid may exist: pick the next
     * counter value rather than fail (bounded, so a broken dir cannot loop us). */
    dur_file *f = NULL;
    for (int attempt = 0;; attempt++) {
        snprintf(tmp, tmplen, "%s.tmp.%ld.%llu", path, (long)getpid(),
                 (unsigned long long)atomic_fetch_add(&temp_counter, 1));
        rc = d->ops->open(d, tmp, DUR_O_WRITE | DUR_O_CREATE | DUR_O_EXCL, &f, err);
        if (rc != DUR_E_EXISTS || attempt >= 1000)
            break;
    }
    if (rc != DUR_OK) {
        free(tmp);
        return rc;
    }
    bool created = true;
    if (len)
        rc = f->ops->pwrite(f, data, len, 0, err);
    if (rc == DUR_OK && !skip(DUR_SKIP_ATOMIC_FILE_SYNC))
        rc = f->ops->sync_all(f, err);
    dur_file_close(f);
    if (rc == DUR_OK) {
        rc = d->ops->rename(d, tmp, path, err);
        if (rc == DUR_OK)
            created = false; /* the temp name is gone: nothing to clean up */
    }
    if (rc == DUR_OK && !skip(DUR_SKIP_ATOMIC_DIR_SYNC))
        rc = dur_sync_parent_dir(d, path, err);
    if (created && rc != DUR_OK)
        (void)d->ops->remove(d, tmp, NULL); /* best effort; the first error is what matters */
    free(tmp);
    return rc;
}

/* ---- fd flavour ---- */

static dur_code fd_err(dur_error *err, int e, const char *what, const char *call)
{
    return dur_error_set(err, DUR_E_IO, e, what, "%s failed", call);
}

dur_code dur_fd_fdatasync(int fd, const char *what, dur_error *err)
{
    if (fdatasync(fd) != 0)
        return fd_err(err, errno, what, "fdatasync");
    return DUR_OK;
}

dur_code dur_fd_fsync(int fd, const char *what, dur_error *err)
{
    if (fsync(fd) != 0)
        return fd_err(err, errno, what, "fsync");
    return DUR_OK;
}

dur_code dur_fd_sync_dir(int dirfd, const char *what, dur_error *err)
{
    if (fsync(dirfd) != 0)
        return fd_err(err, errno, what, "fsync of directory");
    return DUR_OK;
}

dur_code dur_fd_syncfs(int fd, const char *what, dur_error *err)
{
    if (syncfs(fd) != 0)
        return fd_err(err, errno, what, "syncfs");
    return DUR_OK;
}

/* ---- sticky per-file state ---- */

void dur_file_state_init(dur_file_state *st)
{
    atomic_init(&st->write_gen, 0);
    atomic_init(&st->sync_gen, 0);
    atomic_init(&st->failed_errno, 0);
    atomic_init(&st->synced_size, DUR_SIZE_UNKNOWN);
    atomic_init(&st->superseded_lsn, 0);
}

void dur_file_state_note_write(dur_file_state *st)
{
    atomic_fetch_add(&st->write_gen, 1);
}

bool dur_file_state_note_lost_write(dur_file_state *st, int errnum)
{
    int expected = 0;
    /* Only the first failure is remembered, as in dur_file_state_sync_with. */
    return atomic_compare_exchange_strong(&st->failed_errno, &expected, errnum > 0 ? errnum : EIO);
}

bool dur_file_state_dirty(const dur_file_state *st)
{
    dur_file_state *s = (dur_file_state *)st; /* atomic_load takes non-const in C17 */
    return atomic_load(&s->sync_gen) != atomic_load(&s->write_gen);
}

dur_code dur_file_state_sync_with(dur_file_state *st, dur_file_state_sync_fn sync, void *ctx,
                                  bool force, const char *what, dur_error *err)
{
    int failed = atomic_load(&st->failed_errno);
    if (failed)
        return dur_error_set(err, DUR_E_IO, failed, what,
                             "an earlier sync or write-back failed; data may have been lost");
    /* Snapshot before syncing: writes that land during the sync are not covered. */
    uint_fast64_t gen = atomic_load(&st->write_gen);
    if (!force && atomic_load(&st->sync_gen) == gen)
        return DUR_OK;
    /* The errno of a failed sync must reach the sticky state even when the caller
     * passed no error object. */
    dur_error local;
    if (!err)
        err = &local;
    dur_code rc = sync(ctx, err);
    if (rc == DUR_E_NOROOM) /* refused before anything was done: nothing lost */
        return rc;
    if (rc != DUR_OK) {
        int e = err && err->sys_errno ? err->sys_errno : EIO;
        int expected = 0;
        /* Only the first failure is remembered; every later sync reports it. */
        atomic_compare_exchange_strong(&st->failed_errno, &expected, e);
        return rc;
    }
    /* sync_gen only moves forward: a slower concurrent sync must not lower it. */
    uint_fast64_t cur = atomic_load(&st->sync_gen);
    while (cur < gen && !atomic_compare_exchange_weak(&st->sync_gen, &cur, gen)) {
    }
    assert(atomic_load(&st->sync_gen) >= gen);
    return DUR_OK;
}

struct fd_sync_ctx {
    int fd;
    bool datasync;
    const char *what;
};

static dur_code fd_sync(void *ctx, dur_error *err)
{
    const struct fd_sync_ctx *c = ctx;
    return c->datasync ? dur_fd_fdatasync(c->fd, c->what, err) : dur_fd_fsync(c->fd, c->what, err);
}

dur_code dur_file_state_sync(dur_file_state *st, int fd, bool datasync, bool force,
                             const char *what, dur_error *err)
{
    struct fd_sync_ctx ctx = {fd, datasync, what};
    return dur_file_state_sync_with(st, fd_sync, &ctx, force, what, err);
}
