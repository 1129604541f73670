/* libdurability: path validation and small file helpers shared by all backends.
 *
 * dur_path_check() is the single gate every backend passes a path through before
 * touching anything: a path that names something outside the root ("/etc",
 * "../x", "a/../../x") or is ambiguous ("a//b", "a/", "./a") is refused with
 * DUR_E_INVAL.  The filesystem backend additionally refuses symlink escapes at
 * resolution time (openat2 RESOLVE_BENEATH); this check is purely lexical.
 *
 * dur_file_read_all() checks the size against the caller's limit BEFORE
 * allocating, so a corrupt or hostile huge file cannot exhaust memory.
 */
#include "dir_util.h"
#include "durability/dir.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DUR_PATH_MAX_BYTES 4095

dur_code dur_path_check(const char *path, dur_error *err)
{
    if (!path)
        return dur_error_set(err, DUR_E_INVAL, 0, NULL, "path is NULL");
    size_t len = strnlen(path, DUR_PATH_MAX_BYTES + 1);
    if (len > DUR_PATH_MAX_BYTES)
        return dur_error_set(err, DUR_E_INVAL, ENAMETOOLONG, path, "path longer than %d bytes",
                             DUR_PATH_MAX_BYTES);
    if (len == 0)
        return DUR_OK; /* the root */
    if (path[0] == '/')
        return dur_error_set(err, DUR_E_INVAL, 0, path, "absolute path refused");
    if (path[len - 1] == '/')
        return dur_error_set(err, DUR_E_INVAL, 0, path, "trailing '/' refused");
    const char *p = path;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0)
            return dur_error_set(err, DUR_E_INVAL, 0, path, "empty path component refused");
        if (n == 1 && p[0] == '.')
            return dur_error_set(err, DUR_E_INVAL, 0, path, "'.' component refused");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return dur_error_set(err, DUR_E_INVAL, 0, path, "'..' component escapes the root");
        p += n;
        if (*p == '/')
            p++;
    }
    return DUR_OK;
}

size_t dir_parent_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) : 0;
}

const char *dir_base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

char *dir_parent_dup(const char *path)
{
    return strndup(path, dir_parent_len(path));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void dir_names_sort(dur_names *names)
{
    if (names->count > 1)
        qsort(names->names, names->count, sizeof names->names[0], cmp_names);
}

dur_code dir_nomem(dur_error *err, const char *path)
{
    return dur_error_set(err, DUR_E_NOMEM, ENOMEM, path, "out of memory");
}

dur_code dir_names_push(dur_names *names, const char *name, dur_error *err)
{
    /* Capacity is implicit: 8, then doubled whenever count reaches a power of two. */
    size_t n = names->count;
    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
        size_t cap = n ? n * 2 : 8;
        char **nn = realloc(names->names, cap * sizeof *nn);
        if (!nn)
            return dir_nomem(err, name);
        names->names = nn;
    }
    char *copy = strdup(name);
    if (!copy)
        return dir_nomem(err, name);
    names->names[names->count++] = copy;
    return DUR_OK;
}

void dur_names_free(dur_names *names)
{
    if (!names)
        return;
    for (size_t i = 0; i < names->count; i++)
        free(names->names[i]);
    free(names->names);
    names->names = NULL;
    names->count = 0;
}

dur_code dur_file_append(dur_file *f, const void *buf, size_t len, dur_error *err)
{
    uint64_t size = 0;
    dur_code rc = f->ops->size(f, &size, err);
    if (rc != DUR_OK)
        return rc;
    return f->ops->pwrite(f, buf, len, size, err);
}

dur_code dur_file_read_all(dur_dir *d, const char *path, size_t max_size, void **data, size_t *len,
                           dur_error *err)
{
    *data = NULL;
    *len = 0;
    dur_file *f = NULL;
    dur_code rc = d->ops->open(d, path, DUR_O_READ, &f, err);
    if (rc != DUR_OK)
        return rc;
    uint64_t size = 0;
    rc = f->ops->size(f, &size, err);
    if (rc != DUR_OK)
        goto out;
    if (size > max_size) {
        rc = dur_error_set(err, DUR_E_CORRUPT, 0, path,
                           "file is %llu bytes, larger than the %zu byte limit",
                           (unsigned long long)size, max_size);
        goto out;
    }
    unsigned char *buf = malloc(size ? (size_t)size : 1);
    if (!buf) {
        rc = dir_nomem(err, path);
        goto out;
    }
    size_t total = 0;
    while (total < size) {
        size_t got = 0;
        rc = f->ops->pread(f, buf + total, (size_t)size - total, total, &got, err);
        if (rc != DUR_OK) {
            free(buf);
            goto out;
        }
        if (got == 0)
            break; /* shrank underneath us: return what is there */
        total += got;
    }
    *data = buf;
    *len = total;
out:
    dur_file_close(f);
    return rc;
}

void dur_lock_release(dur_lock *lock)
{
    if (lock)
        lock->release(lock);
}
