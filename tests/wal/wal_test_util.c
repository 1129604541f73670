#include "wal_test_util.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

size_t tu_payload(uint64_t seed, uint64_t lsn, size_t max_len, uint8_t *out)
{
    uint64_t s = mix(seed * 1000003u + lsn);
    size_t len = max_len ? (size_t)(s % (max_len + 1)) : 0;
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0)
            s = mix(s);
        out[i] = (uint8_t)(s >> (8 * (i % 8)));
    }
    return len;
}

typedef struct fence {
    dur_dir base;
    dur_dir *inner;
    atomic_bool dead;
} fence;

static dur_code dead(dur_error *err)
{
    return dur_error_set(err, DUR_E_IO, 5, NULL, "fenced: the power is off");
}

#define FWD(call)                                                                                  \
    fence *f = (fence *)d;                                                                         \
    if (atomic_load(&f->dead))                                                                     \
        return dead(err);                                                                          \
    return f->inner->ops->call

static dur_code f_open(dur_dir *d, const char *p, unsigned fl, dur_file **o, dur_error *err)
{
    FWD(open)(f->inner, p, fl, o, err);
}
static dur_code f_exists(dur_dir *d, const char *p, bool *o, dur_error *err)
{
    FWD(exists)(f->inner, p, o, err);
}
static dur_code f_remove(dur_dir *d, const char *p, dur_error *err)
{
    FWD(remove)(f->inner, p, err);
}
static dur_code f_rename(dur_dir *d, const char *a, const char *b, dur_error *err)
{
    FWD(rename)(f->inner, a, b, err);
}
static dur_code f_mkdir_p(dur_dir *d, const char *p, dur_error *err)
{
    FWD(mkdir_p)(f->inner, p, err);
}
static dur_code f_list(dur_dir *d, const char *p, dur_names *o, dur_error *err)
{
    FWD(list)(f->inner, p, o, err);
}
static dur_code f_sync_dir(dur_dir *d, const char *p, dur_error *err)
{
    FWD(sync_dir)(f->inner, p, err);
}
static dur_code f_lock(dur_dir *d, const char *p, dur_lock **o, dur_error *err)
{
    FWD(lock)(f->inner, p, o, err);
}
static dur_code f_real_path(dur_dir *d, const char *p, char *b, size_t s, dur_error *err)
{
    FWD(real_path)(f->inner, p, b, s, err);
}
static int f_root_fd(dur_dir *d)
{
    (void)d;
    return -1;
}
static void f_destroy(dur_dir *d)
{
    free(d);
}

static const struct dur_dir_ops fence_ops = {
    .open = f_open,
    .exists = f_exists,
    .remove = f_remove,
    .rename = f_rename,
    .mkdir_p = f_mkdir_p,
    .list = f_list,
    .sync_dir = f_sync_dir,
    .lock = f_lock,
    .real_path = f_real_path,
    .root_fd = f_root_fd,
    .destroy = f_destroy,
};

dur_dir *tu_fence_new(dur_dir *inner)
{
    fence *f = calloc(1, sizeof *f);
    if (!f)
        abort();
    f->base.ops = &fence_ops;
    f->inner = inner;
    return &f->base;
}

void tu_fence_kill(dur_dir *d)
{
    atomic_store(&((fence *)d)->dead, true);
}

void tu_fence_free(dur_dir *d)
{
    free(d);
}

dur_code tu_read_log(dur_dir *d, const char *path, dur_read_mode mode, uint64_t from_lsn,
                     tu_log *log)
{
    memset(log, 0, sizeof *log);
    dur_wal_reader *r = NULL;
    dur_code rc = dur_wal_reader_open(d, path, mode, from_lsn, &r, &log->err);
    if (rc != DUR_OK)
        return rc;
    size_t cap = 0;
    for (;;) {
        dur_wal_record rec;
        bool eof = false;
        rc = dur_wal_reader_next(r, &rec, &eof, &log->err);
        if (rc != DUR_OK || eof)
            break;
        if (log->n == cap) {
            cap = cap ? cap * 2 : 64;
            log->lsn = realloc(log->lsn, cap * sizeof *log->lsn);
            log->type = realloc(log->type, cap * sizeof *log->type);
            log->len = realloc(log->len, cap * sizeof *log->len);
            log->data = realloc(log->data, cap * sizeof *log->data);
            if (!log->lsn || !log->type || !log->len || !log->data)
                abort();
        }
        log->lsn[log->n] = rec.lsn;
        log->type[log->n] = rec.type;
        log->len[log->n] = rec.len;
        log->data[log->n] = malloc(rec.len ? rec.len : 1);
        if (rec.len)
            memcpy(log->data[log->n], rec.payload, rec.len);
        log->n++;
    }
    dur_wal_reader_tail(r, &log->tail);
    dur_wal_reader_close(r);
    return rc;
}

void tu_log_free(tu_log *log)
{
    for (size_t i = 0; i < log->n; i++)
        free(log->data[i]);
    free(log->lsn);
    free(log->type);
    free(log->len);
    free(log->data);
    memset(log, 0, sizeof *log);
}

void *tu_read_file(dur_dir *d, const char *path, size_t *len)
{
    void *data = NULL;
    dur_error e;
    if (dur_file_read_all(d, path, 1u << 30, &data, len, &e) != DUR_OK) {
        fprintf(stderr, "read %s: %s\n", path, e.msg);
        abort();
    }
    return data;
}

void tu_write_file(dur_dir *d, const char *path, const void *data, size_t len)
{
    dur_file *f = NULL;
    dur_error e;
    if (dur_dir_create(d, path, &f, &e) != DUR_OK ||
        (len && f->ops->pwrite(f, data, len, 0, &e) != DUR_OK)) {
        fprintf(stderr, "write %s: %s\n", path, e.msg);
        abort();
    }
    dur_file_close(f);
}

void tu_seg_path(char *out, size_t size, const char *dir, uint64_t id)
{
    snprintf(out, size, "%s/wal-%020llu.log", dir, (unsigned long long)id);
}
