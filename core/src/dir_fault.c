/* libdurability: the fault-injecting directory backend.
 *
 * Wraps any dur_dir (and every file opened through it) and counts calls per
 * operation kind.  An armed fault makes exactly the nth call of that kind from
 * now fail with the chosen errno (DUR_E_IO, sys_errno = that errno, message
 * "injected fault"); sticky mode fails every call until disarmed.
 *
 * A failed call does NOTHING on the inner directory: in particular an injected
 * WRITE failure writes no prefix, and an injected SYNC failure syncs nothing --
 * which is exactly the pessimistic case callers must survive (after a failed
 * fsync the data may or may not be on disk; code must not assume either).
 *
 * exists(), size(), fd(), real_path() and root_fd() are never failed or counted.
 */
#include "dir_util.h"
#include "durability/testing.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct fault_slot {
    uint64_t count;   /* calls seen */
    uint64_t fail_at; /* count value whose call fails; 0 = not armed */
    bool sticky;
    int err;
} fault_slot;

typedef struct fault_dir {
    dur_dir base;
    dur_dir *inner;
    bool own;
    pthread_mutex_t mu;
    fault_slot slot[DUR_FAULT_OP_COUNT];
} fault_dir;

typedef struct fault_file {
    dur_file base;
    fault_dir *d;
    dur_file *inner;
} fault_file;

static const struct dur_dir_ops fault_dir_ops;
static const struct dur_file_ops fault_file_ops;

static const char *op_name(dur_fault_op op)
{
    static const char *const names[DUR_FAULT_OP_COUNT] = {
        "open",   "read",   "write", "sync", "truncate", "allocate",
        "rename", "remove", "mkdir", "list", "lock",
    };
    return (unsigned)op < DUR_FAULT_OP_COUNT ? names[op] : "?";
}

/* Count a call of kind op; return the errno to inject, or 0. */
static int hit(fault_dir *d, dur_fault_op op)
{
    pthread_mutex_lock(&d->mu);
    fault_slot *s = &d->slot[op];
    s->count++;
    int e = 0;
    if (s->sticky) {
        e = s->err;
    } else if (s->fail_at && s->count == s->fail_at) {
        e = s->err;
        s->fail_at = 0; /* one shot */
    }
    pthread_mutex_unlock(&d->mu);
    return e;
}

static dur_code injected(dur_error *err, int e, dur_fault_op op, const char *path)
{
    return dur_error_set(err, DUR_E_IO, e, path, "injected fault: %s", op_name(op));
}

#define FAULT_CHECK(d, op, path)                                                                   \
    do {                                                                                           \
        int e_ = hit((d), (op));                                                                   \
        if (e_)                                                                                    \
            return injected(err, e_, (op), (path));                                                \
    } while (0)

/* ---- files ---- */

static dur_code ft_pread(dur_file *df, void *buf, size_t len, uint64_t off, size_t *got,
                         dur_error *err)
{
    fault_file *f = (fault_file *)df;
    *got = 0;
    FAULT_CHECK(f->d, DUR_FAULT_READ, df->path);
    return f->inner->ops->pread(f->inner, buf, len, off, got, err);
}

static dur_code ft_pwrite(dur_file *df, const void *buf, size_t len, uint64_t off, dur_error *err)
{
    fault_file *f = (fault_file *)df;
    FAULT_CHECK(f->d, DUR_FAULT_WRITE, df->path);
    return f->inner->ops->pwrite(f->inner, buf, len, off, err);
}

static dur_code ft_sync_data(dur_file *df, dur_error *err)
{
    fault_file *f = (fault_file *)df;
    FAULT_CHECK(f->d, DUR_FAULT_SYNC, df->path);
    return f->inner->ops->sync_data(f->inner, err);
}

static dur_code ft_sync_all(dur_file *df, dur_error *err)
{
    fault_file *f = (fault_file *)df;
    FAULT_CHECK(f->d, DUR_FAULT_SYNC, df->path);
    return f->inner->ops->sync_all(f->inner, err);
}

static dur_code ft_truncate(dur_file *df, uint64_t size, dur_error *err)
{
    fault_file *f = (fault_file *)df;
    FAULT_CHECK(f->d, DUR_FAULT_TRUNCATE, df->path);
    return f->inner->ops->truncate(f->inner, size, err);
}

static dur_code ft_allocate(dur_file *df, uint64_t off, uint64_t len, dur_error *err)
{
    fault_file *f = (fault_file *)df;
    FAULT_CHECK(f->d, DUR_FAULT_ALLOCATE, df->path);
    return f->inner->ops->allocate(f->inner, off, len, err);
}

static dur_code ft_size(dur_file *df, uint64_t *size, dur_error *err)
{
    fault_file *f = (fault_file *)df;
    return f->inner->ops->size(f->inner, size, err);
}

static int ft_fd(dur_file *df)
{
    fault_file *f = (fault_file *)df;
    return f->inner->ops->fd(f->inner);
}

static void ft_close(dur_file *df)
{
    fault_file *f = (fault_file *)df;
    dur_file_close(f->inner);
    free(df->path);
    free(f);
}

static const struct dur_file_ops fault_file_ops = {
    .pread = ft_pread,
    .pwrite = ft_pwrite,
    .sync_data = ft_sync_data,
    .sync_all = ft_sync_all,
    .truncate = ft_truncate,
    .allocate = ft_allocate,
    .size = ft_size,
    .fd = ft_fd,
    .close = ft_close,
};

/* ---- directory ---- */

static fault_dir *fdir(dur_dir *d)
{
    assert(d->ops == &fault_dir_ops);
    return (fault_dir *)d;
}

static dur_code fa_open(dur_dir *dd, const char *path, unsigned flags, dur_file **out,
                        dur_error *err)
{
    fault_dir *d = fdir(dd);
    *out = NULL;
    FAULT_CHECK(d, DUR_FAULT_OPEN, path);
    fault_file *f = calloc(1, sizeof *f);
    char *pcopy = strdup(path);
    if (!f || !pcopy) {
        free(f);
        free(pcopy);
        return dir_nomem(err, path);
    }
    dur_code rc = d->inner->ops->open(d->inner, path, flags, &f->inner, err);
    if (rc != DUR_OK) {
        free(f);
        free(pcopy);
        return rc;
    }
    f->base.ops = &fault_file_ops;
    f->base.dir = dd;
    f->base.path = pcopy;
    f->d = d;
    *out = &f->base;
    return DUR_OK;
}

static dur_code fa_exists(dur_dir *dd, const char *path, bool *out, dur_error *err)
{
    fault_dir *d = fdir(dd);
    return d->inner->ops->exists(d->inner, path, out, err);
}

static dur_code fa_remove(dur_dir *dd, const char *path, dur_error *err)
{
    fault_dir *d = fdir(dd);
    FAULT_CHECK(d, DUR_FAULT_REMOVE, path);
    return d->inner->ops->remove(d->inner, path, err);
}

static dur_code fa_rename(dur_dir *dd, const char *from, const char *to, dur_error *err)
{
    fault_dir *d = fdir(dd);
    FAULT_CHECK(d, DUR_FAULT_RENAME, from);
    return d->inner->ops->rename(d->inner, from, to, err);
}

static dur_code fa_mkdir_p(dur_dir *dd, const char *path, dur_error *err)
{
    fault_dir *d = fdir(dd);
    FAULT_CHECK(d, DUR_FAULT_MKDIR, path);
    return d->inner->ops->mkdir_p(d->inner, path, err);
}

static dur_code fa_list(dur_dir *dd, const char *path, dur_names *out, dur_error *err)
{
    fault_dir *d = fdir(dd);
    out->names = NULL;
    out->count = 0;
    FAULT_CHECK(d, DUR_FAULT_LIST, path);
    return d->inner->ops->list(d->inner, path, out, err);
}

static dur_code fa_sync_dir(dur_dir *dd, const char *path, dur_error *err)
{
    fault_dir *d = fdir(dd);
    FAULT_CHECK(d, DUR_FAULT_SYNC, path);
    return d->inner->ops->sync_dir(d->inner, path, err);
}

static dur_code fa_lock(dur_dir *dd, const char *path, dur_lock **out, dur_error *err)
{
    fault_dir *d = fdir(dd);
    *out = NULL;
    FAULT_CHECK(d, DUR_FAULT_LOCK, path);
    return d->inner->ops->lock(d->inner, path, out, err);
}

static dur_code fa_real_path(dur_dir *dd, const char *path, char *buf, size_t size, dur_error *err)
{
    fault_dir *d = fdir(dd);
    return d->inner->ops->real_path(d->inner, path, buf, size, err);
}

static int fa_root_fd(dur_dir *dd)
{
    fault_dir *d = fdir(dd);
    return d->inner->ops->root_fd(d->inner);
}

static void fa_destroy(dur_dir *dd)
{
    fault_dir *d = fdir(dd);
    if (d->own)
        dur_dir_close(d->inner);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static const struct dur_dir_ops fault_dir_ops = {
    .open = fa_open,
    .exists = fa_exists,
    .remove = fa_remove,
    .rename = fa_rename,
    .mkdir_p = fa_mkdir_p,
    .list = fa_list,
    .sync_dir = fa_sync_dir,
    .lock = fa_lock,
    .real_path = fa_real_path,
    .root_fd = fa_root_fd,
    .destroy = fa_destroy,
};

dur_dir *dir_fault_inner(dur_dir *d)
{
    return d && d->ops == &fault_dir_ops ? ((fault_dir *)d)->inner : NULL;
}

dur_code dur_dir_new_fault(dur_dir *inner, bool take_ownership, dur_dir **out, dur_error *err)
{
    *out = NULL;
    if (!inner)
        return dur_error_set(err, DUR_E_INVAL, EINVAL, NULL, "fault injector needs an inner dir");
    fault_dir *d = calloc(1, sizeof *d);
    if (!d)
        return dir_nomem(err, NULL);
    d->base.ops = &fault_dir_ops;
    d->inner = inner;
    d->own = take_ownership;
    pthread_mutex_init(&d->mu, NULL);
    *out = &d->base;
    return DUR_OK;
}

void dur_fault_arm(dur_dir *fault_dir_, dur_fault_op op, uint64_t nth, int e)
{
    fault_dir *d = fdir(fault_dir_);
    if ((unsigned)op >= DUR_FAULT_OP_COUNT)
        return;
    pthread_mutex_lock(&d->mu);
    fault_slot *s = &d->slot[op];
    s->sticky = false;
    s->fail_at = nth ? s->count + nth : 0;
    s->err = e ? e : EIO;
    pthread_mutex_unlock(&d->mu);
}

void dur_fault_arm_sticky(dur_dir *fault_dir_, dur_fault_op op, int e)
{
    fault_dir *d = fdir(fault_dir_);
    if ((unsigned)op >= DUR_FAULT_OP_COUNT)
        return;
    pthread_mutex_lock(&d->mu);
    d->slot[op].sticky = true;
    d->slot[op].fail_at = 0;
    d->slot[op].err = e ? e : EIO;
    pthread_mutex_unlock(&d->mu);
}

void dur_fault_disarm_all(dur_dir *fault_dir_)
{
    fault_dir *d = fdir(fault_dir_);
    pthread_mutex_lock(&d->mu);
    for (int i = 0; i < DUR_FAULT_OP_COUNT; i++) {
        d->slot[i].sticky = false;
        d->slot[i].fail_at = 0;
    }
    pthread_mutex_unlock(&d->mu);
}

uint64_t dur_fault_count(dur_dir *fault_dir_, dur_fault_op op)
{
    fault_dir *d = fdir(fault_dir_);
    if ((unsigned)op >= DUR_FAULT_OP_COUNT)
        return 0;
    pthread_mutex_lock(&d->mu);
    uint64_t n = d->slot[op].count;
    pthread_mutex_unlock(&d->mu);
    return n;
}
