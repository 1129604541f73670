#include "freeze_dir.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct fz_dir {
    dur_dir base;
    dur_dir *inner;
    atomic_bool frozen;
} fz_dir;

typedef struct fz_file {
    dur_file base;
    dur_file *inner;
} fz_file;

static bool frozen(dur_dir *d)
{
    return atomic_load(&((fz_dir *)d)->frozen);
}

static dur_code cut(dur_error *err, const char *path)
{
    return dur_error_set(err, DUR_E_IO, EIO, path, "power is off (frozen test directory)");
}

#define INNER_F(f) (((fz_file *)(f))->inner)
#define GUARD_F(f)                                                                                 \
    do {                                                                                           \
        if (frozen((f)->dir))                                                                      \
            return cut(err, (f)->path);                                                            \
    } while (0)

static dur_code f_pread(dur_file *f, void *buf, size_t len, uint64_t off, size_t *got,
                        dur_error *err)
{
    GUARD_F(f);
    return INNER_F(f)->ops->pread(INNER_F(f), buf, len, off, got, err);
}
static dur_code f_pwrite(dur_file *f, const void *buf, size_t len, uint64_t off, dur_error *err)
{
    GUARD_F(f);
    return INNER_F(f)->ops->pwrite(INNER_F(f), buf, len, off, err);
}
static dur_code f_sync_data(dur_file *f, dur_error *err)
{
    GUARD_F(f);
    return INNER_F(f)->ops->sync_data(INNER_F(f), err);
}
static dur_code f_sync_all(dur_file *f, dur_error *err)
{
    GUARD_F(f);
    return INNER_F(f)->ops->sync_all(INNER_F(f), err);
}
static dur_code f_truncate(dur_file *f, uint64_t size, dur_error *err)
{
    GUARD_F(f);
    return INNER_F(f)->ops->truncate(INNER_F(f), size, err);
}
static dur_code f_allocate(dur_file *f, uint64_t off, uint64_t len, dur_error *err)
{
    GUARD_F(f);
    return INNER_F(f)->ops->allocate(INNER_F(f), off, len, err);
}
static dur_code f_size(dur_file *f, uint64_t *size, dur_error *err)
{
    GUARD_F(f);
    return INNER_F(f)->ops->size(INNER_F(f), size, err);
}
static int f_fd(dur_file *f)
{
    return INNER_F(f)->ops->fd(INNER_F(f));
}
static void f_close(dur_file *f)
{
    dur_file_close(INNER_F(f));
    free(f->path);
    free(f);
}

static const struct dur_file_ops fz_file_ops = {
    f_pread, f_pwrite, f_sync_data, f_sync_all, f_truncate, f_allocate, f_size, f_fd, f_close,
};

#define INNER(d) (((fz_dir *)(d))->inner)
#define GUARD(d, p)                                                                                \
    do {                                                                                           \
        if (frozen(d))                                                                             \
            return cut(err, p);                                                                    \
    } while (0)

static dur_code d_open(dur_dir *d, const char *path, unsigned flags, dur_file **out, dur_error *err)
{
    GUARD(d, path);
    fz_file *f = calloc(1, sizeof(*f));
    char *p = strdup(path);
    if (!f || !p) {
        free(f);
        free(p);
        return dur_error_set(err, DUR_E_NOMEM, ENOMEM, path, "out of memory");
    }
    dur_code rc = INNER(d)->ops->open(INNER(d), path, flags, &f->inner, err);
    if (rc != DUR_OK) {
        free(f);
        free(p);
        return rc;
    }
    f->base.ops = &fz_file_ops;
    f->base.dir = d;
    f->base.path = p;
    *out = &f->base;
    return DUR_OK;
}
static dur_code d_exists(dur_dir *d, const char *path, bool *out, dur_error *err)
{
    GUARD(d, path);
    return INNER(d)->ops->exists(INNER(d), path, out, err);
}
static dur_code d_remove(dur_dir *d, const char *path, dur_error *err)
{
    GUARD(d, path);
    return INNER(d)->ops->remove(INNER(d), path, err);
}
static dur_code d_rename(dur_dir *d, const char *from, const char *to, dur_error *err)
{
    GUARD(d, from);
    return INNER(d)->ops->rename(INNER(d), from, to, err);
}
static dur_code d_mkdir_p(dur_dir *d, const char *path, dur_error *err)
{
    GUARD(d, path);
    return INNER(d)->ops->mkdir_p(INNER(d), path, err);
}
static dur_code d_list(dur_dir *d, const char *path, dur_names *out, dur_error *err)
{
    GUARD(d, path);
    return INNER(d)->ops->list(INNER(d), path, out, err);
}
static dur_code d_sync_dir(dur_dir *d, const char *path, dur_error *err)
{
    GUARD(d, path);
    return INNER(d)->ops->sync_dir(INNER(d), path, err);
}
static dur_code d_lock(dur_dir *d, const char *path, dur_lock **out, dur_error *err)
{
    /* Locks are process state, not disk state: pass through even when frozen. */
    return INNER(d)->ops->lock(INNER(d), path, out, err);
}
static dur_code d_real_path(dur_dir *d, const char *path, char *buf, size_t size, dur_error *err)
{
    return INNER(d)->ops->real_path(INNER(d), path, buf, size, err);
}
static int d_root_fd(dur_dir *d)
{
    return INNER(d)->ops->root_fd(INNER(d));
}
static void d_destroy(dur_dir *d)
{
    free(d);
}

static const struct dur_dir_ops fz_dir_ops = {
    d_open,     d_exists, d_remove,    d_rename,  d_mkdir_p, d_list,
    d_sync_dir, d_lock,   d_real_path, d_root_fd, d_destroy,
};

dur_dir *freeze_dir_new(dur_dir *inner)
{
    fz_dir *d = calloc(1, sizeof(*d));
    if (!d)
        abort();
    d->base.ops = &fz_dir_ops;
    d->inner = inner;
    atomic_init(&d->frozen, false);
    return &d->base;
}

void freeze_dir_set(dur_dir *d, bool on)
{
    atomic_store(&((fz_dir *)d)->frozen, on);
}

bool freeze_dir_frozen(dur_dir *d)
{
    return frozen(d);
}
