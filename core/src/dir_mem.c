/* libdurability: the in-memory directory backend (and the tree under the crash
 * simulator, see dir_memtree.h).
 *
 * Semantics follow the filesystem backend (and so POSIX): rename replaces its
 * target atomically, a directory may only be replaced by / removed when empty,
 * a removed file stays readable through handles that are still open, a path
 * through a regular file fails with ENOTDIR.  The conformance tests in tests/dir
 * run the same cases against fs, mem and crash to keep them in step.
 *
 * In plain mem mode the sync operations return DUR_E_NOTSUP: nothing here is
 * durable and pretending otherwise would hide bugs.  In crash mode they count a
 * sync point, record durability through the dir_crash_* hooks and then call the
 * test's sync hook WITHOUT the mutex held (the hook may cut the power).
 *
 * Invariants (asserted): entry arrays are sorted by name and unique; an inode's
 * refs is at least the number of entries naming it; live entries form a tree.
 */
#include "dir_memtree.h"
#include "dir_util.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct mt_file {
    dur_file base;
    mt_tree *t;
    mt_inode *ino;
    uint64_t epoch;
    bool writable;
} mt_file;

typedef struct mt_lock {
    dur_lock base;
    mt_tree *t;
    mt_inode *ino;
    uint64_t epoch;
} mt_lock;

static const struct dur_dir_ops mt_dir_ops;
static const struct dur_file_ops mt_file_ops;

/* ---- inodes ---- */

mt_inode *dir_mt_inode_new(mt_tree *t, bool is_dir)
{
    mt_inode *ino = calloc(1, sizeof *ino);
    if (!ino)
        return NULL;
    ino->is_dir = is_dir;
    ino->next = t->all;
    if (t->all)
        t->all->prev = ino;
    t->all = ino;
    return ino;
}

static void entries_free_array(mt_entries *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].name);
    free(e->v);
    e->v = NULL;
    e->n = e->cap = 0;
}

void dir_mt_inode_free(mt_tree *t, mt_inode *ino)
{
    if (ino->prev)
        ino->prev->next = ino->next;
    else
        t->all = ino->next;
    if (ino->next)
        ino->next->prev = ino->prev;
    free(ino->data);
    dir_crash_free_pages(ino);
    entries_free_array(&ino->live);
    entries_free_array(&ino->durable);
    free(ino);
}

void dir_mt_ref(mt_inode *ino)
{
    ino->refs++;
}

void dir_mt_unref(mt_tree *t, mt_inode *ino)
{
    assert(ino->refs > 0);
    if (--ino->refs > 0)
        return;
    dir_mt_entries_clear(t, &ino->live);
    dir_mt_entries_clear(t, &ino->durable);
    dir_mt_inode_free(t, ino);
}

/* ---- sorted entry arrays ---- */

static int name_cmp(const char *a, const char *b, size_t blen)
{
    size_t alen = strlen(a);
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* Index of name, or the insertion point with *found false. */
static size_t entries_find(const mt_entries *e, const char *name, size_t len, bool *found)
{
    size_t lo = 0, hi = e->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(e->v[mid].name, name, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static mt_inode *entries_get(const mt_entries *e, const char *name, size_t len)
{
    bool found;
    size_t i = entries_find(e, name, len, &found);
    return found ? e->v[i].ino : NULL;
}

/* Insert (name -> ino) at idx, taking a reference on ino. */
static dur_code entries_insert(mt_entries *e, size_t idx, const char *name, size_t len,
                               mt_inode *ino)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        mt_entry *nv = realloc(e->v, cap * sizeof *nv);
        if (!nv)
            return DUR_E_NOMEM;
        e->v = nv;
        e->cap = cap;
    }
    char *copy = strndup(name, len);
    if (!copy)
        return DUR_E_NOMEM;
    memmove(&e->v[idx + 1], &e->v[idx], (e->n - idx) * sizeof e->v[0]);
    e->v[idx].name = copy;
    e->v[idx].ino = ino;
    e->n++;
    dir_mt_ref(ino);
    assert(idx == 0 || strcmp(e->v[idx - 1].name, copy) < 0);
    assert(idx + 1 == e->n || strcmp(copy, e->v[idx + 1].name) < 0);
    return DUR_OK;
}

/* Remove entry idx, returning its inode (the caller drops the reference). */
static mt_inode *entries_remove(mt_entries *e, size_t idx)
{
    mt_inode *ino = e->v[idx].ino;
    free(e->v[idx].name);
    memmove(&e->v[idx], &e->v[idx + 1], (e->n - idx - 1) * sizeof e->v[0]);
    e->n--;
    return ino;
}

void dir_mt_entries_clear(mt_tree *t, mt_entries *e)
{
    /* Detach first: unref may recurse into a directory that names this one. */
    mt_entries old = *e;
    e->v = NULL;
    e->n = e->cap = 0;
    for (size_t i = 0; i < old.n; i++) {
        free(old.v[i].name);
        dir_mt_unref(t, old.v[i].ino);
    }
    free(old.v);
}

dur_code dir_mt_entries_copy(mt_entries *dst, const mt_entries *src)
{
    dst->v = NULL;
    dst->n = dst->cap = 0;
    if (src->n == 0)
        return DUR_OK;
    dst->v = malloc(src->n * sizeof *dst->v);
    if (!dst->v)
        return DUR_E_NOMEM;
    dst->cap = src->n;
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i].name = strdup(src->v[i].name);
        if (!dst->v[i].name) {
            entries_free_array(dst);
            return DUR_E_NOMEM;
        }
        dst->v[i].ino = src->v[i].ino;
        dst->n++;
    }
    for (size_t i = 0; i < dst->n; i++)
        dir_mt_ref(dst->v[i].ino);
    return DUR_OK;
}

/* ---- path resolution (mutex held) ---- */

/* Resolve the first len bytes of path (a checked path) to an existing inode. */
static dur_code walk(mt_tree *t, const char *path, size_t len, mt_inode **out, dur_error *err)
{
    mt_inode *cur = t->root;
    size_t i = 0;
    while (i < len) {
        const char *comp = path + i;
        const char *slash = memchr(comp, '/', len - i);
        size_t n = slash ? (size_t)(slash - comp) : len - i;
        if (!cur->is_dir)
            return dur_error_set(err, DUR_E_IO, ENOTDIR, path,
                                 "a path component is not a directory");
        cur = entries_get(&cur->live, comp, n);
        if (!cur)
            return dur_error_set(err, DUR_E_NOTFOUND, ENOENT, path, "no such file or directory");
        i += n + (slash ? 1 : 0);
    }
    *out = cur;
    return DUR_OK;
}

/* Resolve the parent directory of path; *name receives the last component. */
static dur_code walk_parent(mt_tree *t, const char *path, mt_inode **parent, const char **name,
                            dur_error *err)
{
    dur_code rc = walk(t, path, dir_parent_len(path), parent, err);
    if (rc != DUR_OK)
        return rc;
    if (!(*parent)->is_dir)
        return dur_error_set(err, DUR_E_IO, ENOTDIR, path, "parent is not a directory");
    *name = dir_base_name(path);
    return DUR_OK;
}

static mt_tree *tree_of(dur_dir *d)
{
    return (mt_tree *)d;
}

static dur_code check_nonroot(const char *path, const char *what, dur_error *err)
{
    dur_code rc = dur_path_check(path, err);
    if (rc == DUR_OK && path[0] == '\0')
        rc = dur_error_set(err, DUR_E_INVAL, EINVAL, path, "cannot %s the root", what);
    return rc;
}

/* ---- files ---- */

static dur_code file_live(mt_file *f, dur_error *err)
{
    if (f->epoch != f->t->epoch)
        return dur_error_set(err, DUR_E_CLOSED, 0, f->base.path,
                             "file invalidated by a simulated power cut");
    return DUR_OK;
}

/* Make ino's live bytes [0, end) addressable, zero-filling any gap past len. */
static dur_code file_grow(mt_inode *ino, uint64_t end)
{
    if (end > ino->cap) {
        uint64_t cap = ino->cap ? ino->cap : 256;
        while (cap < end)
            cap *= 2;
        if (cap != (size_t)cap)
            return DUR_E_NOMEM;
        unsigned char *nd = realloc(ino->data, (size_t)cap);
        if (!nd)
            return DUR_E_NOMEM;
        ino->data = nd;
        ino->cap = cap;
    }
    if (end > ino->len) {
        memset(ino->data + ino->len, 0, (size_t)(end - ino->len));
        ino->len = end;
    }
    return DUR_OK;
}

static dur_code set_size(mt_tree *t, mt_inode *ino, uint64_t size, const char *path, dur_error *err)
{
    if (size < ino->len) {
        if (t->crash && dir_crash_before_change(ino, size, ino->len) != DUR_OK)
            return dir_nomem(err, path);
        ino->len = size;
        return DUR_OK;
    }
    if (file_grow(ino, size) != DUR_OK)
        return dir_nomem(err, path);
    return DUR_OK;
}

static dur_code mf_pread(dur_file *df, void *buf, size_t len, uint64_t off, size_t *got,
                         dur_error *err)
{
    mt_file *f = (mt_file *)df;
    *got = 0;
    pthread_mutex_lock(&f->t->mu);
    dur_code rc = file_live(f, err);
    if (rc == DUR_OK && off < f->ino->len) {
        uint64_t n = f->ino->len - off;
        if (n > len)
            n = len;
        memcpy(buf, f->ino->data + off, (size_t)n);
        *got = (size_t)n;
    }
    pthread_mutex_unlock(&f->t->mu);
    return rc;
}

static dur_code mf_pwrite(dur_file *df, const void *buf, size_t len, uint64_t off, dur_error *err)
{
    mt_file *f = (mt_file *)df;
    if (!f->writable)
        return dur_error_set_at(err, DUR_E_IO, EBADF, df->path, off, "file not opened for writing");
    if (off + len < off)
        return dur_error_set_at(err, DUR_E_INVAL, EFBIG, df->path, off, "write past 2^64");
    pthread_mutex_lock(&f->t->mu);
    mt_inode *ino = f->ino;
    dur_code rc = file_live(f, err);
    if (rc == DUR_OK && len > 0) {
        uint64_t from = off < ino->len ? off : ino->len; /* gap bytes change too */
        if ((f->t->crash && dir_crash_before_change(ino, from, off + len) != DUR_OK) ||
            file_grow(ino, off + len) != DUR_OK)
            rc = dir_nomem(err, df->path);
        else
            memcpy(ino->data + off, buf, len);
    }
    pthread_mutex_unlock(&f->t->mu);
    return rc;
}

/* One sync point: in crash mode apply it, count it, then run the hook unlocked. */
static dur_code sync_point(mt_tree *t, const char *path, mt_inode *file, mt_inode *dir,
                           dur_error *err)
{
    dur_code rc = DUR_OK;
    if (file)
        dir_crash_sync_file(file);
    if (dir)
        rc = dir_crash_sync_dir(t, dir);
    if (rc != DUR_OK) {
        pthread_mutex_unlock(&t->mu);
        return dir_nomem(err, path);
    }
    uint64_t idx = t->sync_count++;
    dur_crash_sync_cb hook = t->hook;
    void *ctx = t->hook_ctx;
    pthread_mutex_unlock(&t->mu);
    if (hook)
        hook(ctx, idx);
    return DUR_OK;
}

static dur_code mf_sync(dur_file *df, dur_error *err)
{
    mt_file *f = (mt_file *)df;
    if (!f->t->crash)
        return dur_error_set(err, DUR_E_NOTSUP, EOPNOTSUPP, df->path,
                             "the in-memory backend cannot sync");
    pthread_mutex_lock(&f->t->mu);
    dur_code rc = file_live(f, err);
    if (rc != DUR_OK) {
        pthread_mutex_unlock(&f->t->mu);
        return rc;
    }
    return sync_point(f->t, df->path, f->ino, NULL, err);
}

static dur_code mf_truncate(dur_file *df, uint64_t size, dur_error *err)
{
    mt_file *f = (mt_file *)df;
    if (!f->writable)
        return dur_error_set(err, DUR_E_IO, EBADF, df->path, "file not opened for writing");
    pthread_mutex_lock(&f->t->mu);
    dur_code rc = file_live(f, err);
    if (rc == DUR_OK)
        rc = set_size(f->t, f->ino, size, df->path, err);
    pthread_mutex_unlock(&f->t->mu);
    return rc;
}

static dur_code mf_allocate(dur_file *df, uint64_t off, uint64_t len, dur_error *err)
{
    /* KEEP_SIZE reservation has no observable effect in memory. */
    mt_file *f = (mt_file *)df;
    (void)off;
    (void)len;
    pthread_mutex_lock(&f->t->mu);
    dur_code rc = file_live(f, err);
    pthread_mutex_unlock(&f->t->mu);
    return rc;
}

static dur_code mf_size(dur_file *df, uint64_t *size, dur_error *err)
{
    mt_file *f = (mt_file *)df;
    pthread_mutex_lock(&f->t->mu);
    dur_code rc = file_live(f, err);
    *size = rc == DUR_OK ? f->ino->len : 0;
    pthread_mutex_unlock(&f->t->mu);
    return rc;
}

static int mf_fd(dur_file *df)
{
    (void)df;
    return -1;
}

static void mf_close(dur_file *df)
{
    mt_file *f = (mt_file *)df;
    pthread_mutex_lock(&f->t->mu);
    if (f->epoch == f->t->epoch) /* after a power cut the inode may be gone */
        dir_mt_unref(f->t, f->ino);
    pthread_mutex_unlock(&f->t->mu);
    free(df->path);
    free(f);
}

static const struct dur_file_ops mt_file_ops = {
    .pread = mf_pread,
    .pwrite = mf_pwrite,
    .sync_data = mf_sync,
    .sync_all = mf_sync,
    .truncate = mf_truncate,
    .allocate = mf_allocate,
    .size = mf_size,
    .fd = mf_fd,
    .close = mf_close,
};

/* ---- directory operations ---- */

/* Find or create the file at path (mutex held). */
static dur_code lookup_file(mt_tree *t, const char *path, unsigned flags, mt_inode **out,
                            dur_error *err)
{
    mt_inode *parent;
    const char *name;
    dur_code rc = walk_parent(t, path, &parent, &name, err);
    if (rc != DUR_OK)
        return rc;
    size_t nlen = strlen(name);
    bool found;
    size_t idx = entries_find(&parent->live, name, nlen, &found);
    if (found) {
        mt_inode *ino = parent->live.v[idx].ino;
        if ((flags & DUR_O_CREATE) && (flags & DUR_O_EXCL))
            return dur_error_set(err, DUR_E_EXISTS, EEXIST, path, "file already exists");
        if (ino->is_dir)
            return dur_error_set(err, DUR_E_INVAL, EISDIR, path, "is a directory");
        *out = ino;
        return DUR_OK;
    }
    if (!(flags & DUR_O_CREATE))
        return dur_error_set(err, DUR_E_NOTFOUND, ENOENT, path, "no such file");
    mt_inode *ino = dir_mt_inode_new(t, false);
    if (!ino)
        return dir_nomem(err, path);
    if (entries_insert(&parent->live, idx, name, nlen, ino) != DUR_OK) {
        dir_mt_inode_free(t, ino);
        return dir_nomem(err, path);
    }
    *out = ino;
    return DUR_OK;
}

static dur_code md_open(dur_dir *d, const char *path, unsigned flags, dur_file **out,
                        dur_error *err)
{
    mt_tree *t = tree_of(d);
    *out = NULL;
    dur_code rc = check_nonroot(path, "open", err);
    if (rc != DUR_OK)
        return rc;
    if ((flags & DUR_O_TRUNC) && !(flags & DUR_O_WRITE))
        return dur_error_set(err, DUR_E_INVAL, EINVAL, path, "DUR_O_TRUNC needs DUR_O_WRITE");
    mt_file *f = calloc(1, sizeof *f);
    char *pcopy = strdup(path);
    if (!f || !pcopy) {
        free(f);
        free(pcopy);
        return dir_nomem(err, path);
    }
    pthread_mutex_lock(&t->mu);
    mt_inode *ino = NULL;
    rc = lookup_file(t, path, flags, &ino, err);
    if (rc == DUR_OK && (flags & DUR_O_TRUNC))
        rc = set_size(t, ino, 0, path, err);
    if (rc == DUR_OK) {
        dir_mt_ref(ino);
        f->base.ops = &mt_file_ops;
        f->base.dir = d;
        f->base.path = pcopy;
        f->t = t;
        f->ino = ino;
        f->epoch = t->epoch;
        f->writable = (flags & (DUR_O_WRITE | DUR_O_CREATE | DUR_O_TRUNC)) != 0;
        *out = &f->base;
    }
    pthread_mutex_unlock(&t->mu);
    if (rc != DUR_OK) {
        free(f);
        free(pcopy);
    }
    return rc;
}

static dur_code md_exists(dur_dir *d, const char *path, bool *out, dur_error *err)
{
    mt_tree *t = tree_of(d);
    *out = false;
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    pthread_mutex_lock(&t->mu);
    mt_inode *ino;
    *out = walk(t, path, strlen(path), &ino, NULL) == DUR_OK;
    pthread_mutex_unlock(&t->mu);
    return DUR_OK;
}

static dur_code md_remove(dur_dir *d, const char *path, dur_error *err)
{
    mt_tree *t = tree_of(d);
    dur_code rc = check_nonroot(path, "remove", err);
    if (rc != DUR_OK)
        return rc;
    pthread_mutex_lock(&t->mu);
    mt_inode *parent;
    const char *name;
    rc = walk_parent(t, path, &parent, &name, err);
    if (rc == DUR_OK) {
        bool found;
        size_t idx = entries_find(&parent->live, name, strlen(name), &found);
        if (!found) {
            rc = dur_error_set(err, DUR_E_NOTFOUND, ENOENT, path, "no such file or directory");
        } else if (parent->live.v[idx].ino->is_dir && parent->live.v[idx].ino->live.n > 0) {
            rc = dur_error_set(err, DUR_E_IO, ENOTEMPTY, path, "directory not empty");
        } else {
            dir_mt_unref(t, entries_remove(&parent->live, idx));
        }
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static dur_code do_rename(mt_tree *t, const char *from, const char *to, dur_error *err)
{
    mt_inode *fp, *tp, *src;
    const char *fname, *tname;
    dur_code rc = walk_parent(t, from, &fp, &fname, err);
    if (rc != DUR_OK)
        return rc;
    src = entries_get(&fp->live, fname, strlen(fname));
    if (!src)
        return dur_error_set(err, DUR_E_NOTFOUND, ENOENT, from, "rename source does not exist");
    rc = walk_parent(t, to, &tp, &tname, err);
    if (rc != DUR_OK)
        return rc;
    size_t flen = strlen(from);
    if (src->is_dir && strncmp(to, from, flen) == 0 && to[flen] == '/')
        return dur_error_set(err, DUR_E_INVAL, EINVAL, to, "cannot move directory %s inside itself",
                             from);
    bool found;
    size_t tidx = entries_find(&tp->live, tname, strlen(tname), &found);
    if (found) {
        mt_inode *dst = tp->live.v[tidx].ino;
        if (dst == src)
            return DUR_OK; /* same file: rename(2) does nothing */
        if (src->is_dir && !dst->is_dir)
            return dur_error_set(err, DUR_E_IO, ENOTDIR, to, "rename target is not a directory");
        if (!src->is_dir && dst->is_dir)
            return dur_error_set(err, DUR_E_IO, EISDIR, to, "rename target is a directory");
        if (dst->is_dir && dst->live.n > 0)
            return dur_error_set(err, DUR_E_IO, ENOTEMPTY, to, "rename target is not empty");
        dir_mt_ref(src);
        tp->live.v[tidx].ino = src;
        dir_mt_unref(t, dst);
    } else if (entries_insert(&tp->live, tidx, tname, strlen(tname), src) != DUR_OK) {
        return dir_nomem(err, to);
    }
    size_t fidx = entries_find(&fp->live, fname, strlen(fname), &found);
    assert(found && fp->live.v[fidx].ino == src);
    dir_mt_unref(t, entries_remove(&fp->live, fidx));
    return DUR_OK;
}

static dur_code md_rename(dur_dir *d, const char *from, const char *to, dur_error *err)
{
    mt_tree *t = tree_of(d);
    dur_code rc = check_nonroot(from, "rename", err);
    if (rc == DUR_OK)
        rc = check_nonroot(to, "rename onto", err);
    if (rc != DUR_OK)
        return rc;
    pthread_mutex_lock(&t->mu);
    rc = do_rename(t, from, to, err);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static dur_code md_mkdir_p(dur_dir *d, const char *path, dur_error *err)
{
    mt_tree *t = tree_of(d);
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    pthread_mutex_lock(&t->mu);
    mt_inode *cur = t->root;
    const char *p = path;
    while (*p && rc == DUR_OK) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        bool found;
        size_t idx = entries_find(&cur->live, p, n, &found);
        if (found) {
            cur = cur->live.v[idx].ino;
            if (!cur->is_dir)
                rc = dur_error_set(err, DUR_E_EXISTS, EEXIST, path,
                                   "'%.*s' exists and is not a directory", (int)n, p);
        } else {
            mt_inode *nd = dir_mt_inode_new(t, true);
            if (!nd || entries_insert(&cur->live, idx, p, n, nd) != DUR_OK) {
                if (nd)
                    dir_mt_inode_free(t, nd);
                rc = dir_nomem(err, path);
            }
            cur = nd;
        }
        p += n + (slash ? 1 : 0);
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static dur_code resolve_dir(mt_tree *t, const char *path, mt_inode **out, dur_error *err)
{
    dur_code rc = walk(t, path, strlen(path), out, err);
    if (rc == DUR_OK && !(*out)->is_dir)
        rc = dur_error_set(err, DUR_E_IO, ENOTDIR, path, "not a directory");
    return rc;
}

static dur_code md_list(dur_dir *d, const char *path, dur_names *out, dur_error *err)
{
    mt_tree *t = tree_of(d);
    out->names = NULL;
    out->count = 0;
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    pthread_mutex_lock(&t->mu);
    mt_inode *dir;
    rc = resolve_dir(t, path, &dir, err);
    for (size_t i = 0; rc == DUR_OK && i < dir->live.n; i++)
        rc = dir_names_push(out, dir->live.v[i].name, err);
    pthread_mutex_unlock(&t->mu);
    if (rc != DUR_OK)
        dur_names_free(out);
    return rc;
}

static dur_code md_sync_dir(dur_dir *d, const char *path, dur_error *err)
{
    mt_tree *t = tree_of(d);
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    if (!t->crash)
        return dur_error_set(err, DUR_E_NOTSUP, EOPNOTSUPP, path,
                             "the in-memory backend cannot sync");
    pthread_mutex_lock(&t->mu);
    mt_inode *dir;
    rc = resolve_dir(t, path, &dir, err);
    if (rc != DUR_OK) {
        pthread_mutex_unlock(&t->mu);
        return rc;
    }
    return sync_point(t, path, NULL, dir, err);
}

static void ml_release(dur_lock *l)
{
    mt_lock *lk = (mt_lock *)l;
    pthread_mutex_lock(&lk->t->mu);
    if (lk->epoch == lk->t->epoch) {
        lk->ino->locked = false;
        dir_mt_unref(lk->t, lk->ino);
    }
    pthread_mutex_unlock(&lk->t->mu);
    free(lk);
}

static dur_code md_lock(dur_dir *d, const char *path, dur_lock **out, dur_error *err)
{
    mt_tree *t = tree_of(d);
    *out = NULL;
    dur_code rc = check_nonroot(path, "lock", err);
    if (rc != DUR_OK)
        return rc;
    mt_lock *lk = calloc(1, sizeof *lk);
    if (!lk)
        return dir_nomem(err, path);
    pthread_mutex_lock(&t->mu);
    mt_inode *ino;
    rc = lookup_file(t, path, DUR_O_CREATE, &ino, err);
    if (rc == DUR_OK && ino->locked)
        rc = dur_error_set(err, DUR_E_LOCKED, EWOULDBLOCK, path, "locked by pid %ld",
                           (long)getpid());
    if (rc == DUR_OK) {
        ino->locked = true;
        dir_mt_ref(ino);
        lk->base.release = ml_release;
        lk->t = t;
        lk->ino = ino;
        lk->epoch = t->epoch;
        *out = &lk->base;
    }
    pthread_mutex_unlock(&t->mu);
    if (rc != DUR_OK)
        free(lk);
    return rc;
}

static dur_code md_real_path(dur_dir *d, const char *path, char *buf, size_t size, dur_error *err)
{
    (void)d;
    if (size)
        buf[0] = '\0';
    return dur_error_set(err, DUR_E_NOTSUP, EOPNOTSUPP, path,
                         "the in-memory backend has no real paths");
}

static int md_root_fd(dur_dir *d)
{
    (void)d;
    return -1;
}

static void md_destroy(dur_dir *d)
{
    mt_tree *t = tree_of(d);
    while (t->all) {
        assert(!t->all->prev); /* the list head has no predecessor */
        dir_mt_inode_free(t, t->all);
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static const struct dur_dir_ops mt_dir_ops = {
    .open = md_open,
    .exists = md_exists,
    .remove = md_remove,
    .rename = md_rename,
    .mkdir_p = md_mkdir_p,
    .list = md_list,
    .sync_dir = md_sync_dir,
    .lock = md_lock,
    .real_path = md_real_path,
    .root_fd = md_root_fd,
    .destroy = md_destroy,
};

bool dir_mt_is_tree(dur_dir *d)
{
    return d && d->ops == &mt_dir_ops;
}

dur_code dir_mt_new(bool crash, uint64_t seed, mt_tree **out, dur_error *err)
{
    *out = NULL;
    mt_tree *t = calloc(1, sizeof *t);
    if (!t)
        return dir_nomem(err, NULL);
    t->base.ops = &mt_dir_ops;
    t->crash = crash;
    t->rng = seed;
    pthread_mutex_init(&t->mu, NULL);
    t->root = dir_mt_inode_new(t, true);
    if (!t->root) {
        free(t);
        return dir_nomem(err, NULL);
    }
    t->root->refs = 1; /* the tree itself */
    *out = t;
    return DUR_OK;
}

dur_code dur_dir_new_mem(dur_dir **out, dur_error *err)
{
    mt_tree *t;
    dur_code rc = dir_mt_new(false, 0, &t, err);
    *out = rc == DUR_OK ? &t->base : NULL;
    return rc;
}
