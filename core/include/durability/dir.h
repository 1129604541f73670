/* libdurability: the directory abstraction.
 *
 * A dur_dir is a tree of files rooted somewhere, reached only through relative
 * paths ("wal/wal-0001.log").  Absolute paths, "..", empty components and (for the
 * filesystem backend) symlinks that escape the root are refused with DUR_E_INVAL.
 * Everything above it (WAL, checkpoints, recovery) is written against this vtable,
 * so the same code runs on a real directory, in memory, on the crash simulator and
 * under fault injection.
 *
 * Backends:
 *   dur_dir_open_fs()      a real directory (openat2 RESOLVE_BENEATH, O_NOFOLLOW fallback)
 *   dur_dir_new_mem()      in memory; sync operations return DUR_E_NOTSUP
 *   dur_dir_new_crash()    in memory, tracks what is durable; dur_crash_*() simulates a power cut
 *   dur_dir_new_fault()    wraps another dur_dir and fails the Nth operation of a kind
 *
 * Thread safety: a dur_dir may be used from several threads at once (each backend
 * serialises internally where needed).  A dur_file must not be used by two threads
 * at once unless the caller serialises (the WAL does).
 */
#ifndef DURABILITY_DIR_H
#define DURABILITY_DIR_H

#include "durability/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dur_dir dur_dir;
typedef struct dur_file dur_file;
typedef struct dur_lock dur_lock;

/* Flags for dur_dir_ops.open */
enum {
    DUR_O_READ = 1 << 0,   /* read access */
    DUR_O_WRITE = 1 << 1,  /* write access (implies read) */
    DUR_O_CREATE = 1 << 2, /* create if missing */
    DUR_O_EXCL = 1 << 3,   /* with CREATE: fail with DUR_E_EXISTS if present */
    DUR_O_TRUNC = 1 << 4,  /* truncate to 0 on open */
};

/* A list of names returned by list(); free with dur_names_free(). */
typedef struct dur_names {
    char **names;
    size_t count;
} dur_names;
void dur_names_free(dur_names *names);

struct dur_file_ops {
    /* Read up to len bytes at off; *got receives the count (0 at EOF). */
    dur_code (*pread)(dur_file *f, void *buf, size_t len, uint64_t off, size_t *got,
                      dur_error *err);
    /* Write all len bytes at off (short writes are retried; failure is an error). */
    dur_code (*pwrite)(dur_file *f, const void *buf, size_t len, uint64_t off, dur_error *err);
    /* fdatasync: data and the metadata needed to read it back (size). */
    dur_code (*sync_data)(dur_file *f, dur_error *err);
    /* fsync: data and all metadata. */
    dur_code (*sync_all)(dur_file *f, dur_error *err);
    dur_code (*truncate)(dur_file *f, uint64_t size, dur_error *err);
    /* Reserve space [off, off+len) without changing the size (FALLOC_FL_KEEP_SIZE);
     * DUR_E_NOTSUP where the backend cannot. */
    dur_code (*allocate)(dur_file *f, uint64_t off, uint64_t len, dur_error *err);
    dur_code (*size)(dur_file *f, uint64_t *size, dur_error *err);
    /* The real file descriptor, or -1 if the backend has none. */
    int (*fd)(dur_file *f);
    void (*close)(dur_file *f);
};

struct dur_file {
    const struct dur_file_ops *ops;
    dur_dir *dir;
    char *path; /* relative path, owned by the file (backends strdup it) */
};

struct dur_dir_ops {
    dur_code (*open)(dur_dir *d, const char *path, unsigned flags, dur_file **out, dur_error *err);
    dur_code (*exists)(dur_dir *d, const char *path, bool *out, dur_error *err);
    /* Remove a file (or an empty directory). DUR_E_NOTFOUND if missing. */
    dur_code (*remove)(dur_dir *d, const char *path, dur_error *err);
    /* rename(2) semantics: replaces an existing target atomically. Not durable by itself. */
    dur_code (*rename)(dur_dir *d, const char *from, const char *to, dur_error *err);
    dur_code (*mkdir_p)(dur_dir *d, const char *path, dur_error *err);
    /* Names in a directory ("" = root), sorted bytewise, without "." and "..". */
    dur_code (*list)(dur_dir *d, const char *path, dur_names *out, dur_error *err);
    /* fsync a directory ("" = root) so its entries are durable. */
    dur_code (*sync_dir)(dur_dir *d, const char *path, dur_error *err);
    /* Exclusive lock on a lock file (created if missing) held until dur_lock_release().
     * Fails with DUR_E_LOCKED "locked by pid N" when another holder exists. */
    dur_code (*lock)(dur_dir *d, const char *path, dur_lock **out, dur_error *err);
    /* Write the real absolute path of path into buf; DUR_E_NOTSUP if none. */
    dur_code (*real_path)(dur_dir *d, const char *path, char *buf, size_t size, dur_error *err);
    /* The real directory fd of the root, or -1. */
    int (*root_fd)(dur_dir *d);
    void (*destroy)(dur_dir *d);
};

struct dur_dir {
    const struct dur_dir_ops *ops;
};

/* Validate a relative path: no leading '/', no "." or ".." components, no empty
 * components, no NUL, at most 4095 bytes.  "" is the root. */
dur_code dur_path_check(const char *path, dur_error *err);

/* Backends.  Each returns DUR_OK and *out, or an error. */
dur_code dur_dir_open_fs(const char *root, bool create, dur_dir **out, dur_error *err);
dur_code dur_dir_open_fs_fd(int root_fd, dur_dir **out, dur_error *err); /* dups root_fd */
dur_code dur_dir_new_mem(dur_dir **out, dur_error *err);

/* Convenience wrappers over the vtable. */
static inline dur_code dur_dir_open(dur_dir *d, const char *path, unsigned flags, dur_file **out,
                                    dur_error *err)
{
    return d->ops->open(d, path, flags, out, err);
}
static inline dur_code dur_dir_create(dur_dir *d, const char *path, dur_file **out, dur_error *err)
{
    return d->ops->open(d, path, DUR_O_WRITE | DUR_O_CREATE | DUR_O_TRUNC, out, err);
}
static inline dur_code dur_dir_exists(dur_dir *d, const char *path, bool *out, dur_error *err)
{
    return d->ops->exists(d, path, out, err);
}
static inline dur_code dur_dir_remove(dur_dir *d, const char *path, dur_error *err)
{
    return d->ops->remove(d, path, err);
}
static inline dur_code dur_dir_rename(dur_dir *d, const char *from, const char *to, dur_error *err)
{
    return d->ops->rename(d, from, to, err);
}
static inline dur_code dur_dir_mkdir_p(dur_dir *d, const char *path, dur_error *err)
{
    return d->ops->mkdir_p(d, path, err);
}
static inline dur_code dur_dir_list(dur_dir *d, const char *path, dur_names *out, dur_error *err)
{
    return d->ops->list(d, path, out, err);
}
static inline dur_code dur_dir_sync_dir(dur_dir *d, const char *path, dur_error *err)
{
    return d->ops->sync_dir(d, path, err);
}
static inline dur_code dur_dir_lock(dur_dir *d, const char *path, dur_lock **out, dur_error *err)
{
    return d->ops->lock(d, path, out, err);
}
static inline void dur_dir_close(dur_dir *d)
{
    if (d)
        d->ops->destroy(d);
}
void dur_lock_release(dur_lock *lock);

/* Append len bytes at the current end of the file. */
dur_code dur_file_append(dur_file *f, const void *buf, size_t len, dur_error *err);
/* Read the whole file into a malloc'd buffer (refuses files over max_size with DUR_E_CORRUPT). */
dur_code dur_file_read_all(dur_dir *d, const char *path, size_t max_size, void **data, size_t *len,
                           dur_error *err);
static inline void dur_file_close(dur_file *f)
{
    if (f)
        f->ops->close(f);
}

#ifdef __cplusplus
}
#endif
#endif
