/* libdurability: the filesystem directory backend.
 *
 * Confinement: the backend holds an fd on the root directory and resolves every
 * path relative to it with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so
 * neither ".." (already refused by dur_path_check) nor a symlink pointing outside
 * ("evil -> /etc") nor a /proc magic link can reach beyond the root: the kernel
 * fails such lookups with EXDEV/ELOOP, reported as DUR_E_INVAL.  Symlinks that stay
 * inside the root are followed.  Kernels without openat2 (ENOSYS) get a
 * component-wise walk with O_NOFOLLOW, which refuses every symlink.
 *
 * Durability: nothing here syncs implicitly; sync_data/sync_all/sync_dir are
 * fdatasync/fsync of the file / of the directory opened O_RDONLY|O_DIRECTORY.
 * Their failures are returned, never retried (R6, see sync.c).
 *
 * Locks: flock(LOCK_EX|LOCK_NB) on a lock file; the kernel drops it when the
 * holder dies, so a crashed daemon never leaves a stale lock.  The holder's pid is
 * written into the file only to name it in the error.
 */
#include "dir_util.h"
#include "durability/dir.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct fs_dir {
    dur_dir base;
    int rootfd;
    char *root_path; /* realpath of the root, or NULL if unknown */
} fs_dir;

typedef struct fs_file {
    dur_file base;
    int fd;
} fs_file;

typedef struct fs_lock {
    dur_lock base;
    int fd;
} fs_lock;

static const struct dur_dir_ops fs_dir_ops;
static const struct dur_file_ops fs_file_ops;

/* Set once when the kernel says openat2 does not exist (or a test forces it). */
static int no_openat2;

void dir_fs_force_walk(bool on)
{
    __atomic_store_n(&no_openat2, on ? 1 : 0, __ATOMIC_RELAXED);
}

/* ---- errors ---- */

/* Map a failed syscall's errno to a dur_code naming path and the call. */
static dur_code fs_err(dur_error *err, int e, const char *path, const char *call)
{
    switch (e) {
    case ENOENT:
        return dur_error_set(err, DUR_E_NOTFOUND, e, path, "%s: no such file or directory", call);
    case EEXIST:
        return dur_error_set(err, DUR_E_EXISTS, e, path, "%s: already exists", call);
    case EXDEV:
        return dur_error_set(err, DUR_E_INVAL, e, path,
                             "%s: path escapes the directory root (symlink or mount)", call);
    case ELOOP:
        return dur_error_set(err, DUR_E_INVAL, e, path,
                             "%s: symlink refused (loop or not allowed here)", call);
    case EISDIR:
        return dur_error_set(err, DUR_E_INVAL, e, path, "%s: is a directory", call);
    case EINVAL:
        return dur_error_set(err, DUR_E_INVAL, e, path, "%s: invalid argument", call);
    case ENOMEM:
        return dur_error_set(err, DUR_E_NOMEM, e, path, "%s: out of memory", call);
    default:
        return dur_error_set(err, DUR_E_IO, e, path, "%s failed", call);
    }
}

/* ---- confined resolution ---- */

/* Component-wise walk for kernels without openat2: every symlink is refused. */
static int open_walk(int rootfd, const char *path, int flags, mode_t mode)
{
    int cur = rootfd;
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (!slash)
            break;
        char comp[NAME_MAX + 1];
        size_t n = (size_t)(slash - p);
        if (n > NAME_MAX) {
            if (cur != rootfd)
                close(cur);
            return -ENAMETOOLONG;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        int next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        struct stat st;
        /* O_PATH|O_NOFOLLOW on a symlink gives ENOTDIR: report the symlink. */
        if (next < 0 && e == ENOTDIR && fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode))
            e = ELOOP;
        if (cur != rootfd)
            close(cur);
        if (next < 0)
            return -e;
        cur = next;
        p = slash + 1;
    }
    int fd = openat(cur, p, flags | O_NOFOLLOW | O_CLOEXEC, mode);
    int e = errno;
    if (cur != rootfd)
        close(cur);
    return fd < 0 ? -e : fd;
}

/* Open path ("" = the root itself) beneath rootfd; returns an fd or -errno. */
static int open_beneath(int rootfd, const char *path, int flags, mode_t mode)
{
    const char *p = path[0] ? path : ".";
    if (!__atomic_load_n(&no_openat2, __ATOMIC_RELAXED)) {
        struct open_how how;
        memset(&how, 0, sizeof how);
        how.flags = (uint64_t)(flags | O_CLOEXEC);
        how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        for (;;) {
            long fd = syscall(SYS_openat2, rootfd, p, &how, sizeof how);
            if (fd >= 0)
                return (int)fd;
            if (errno == EINTR || errno == EAGAIN)
                continue; /* EAGAIN: a concurrent rename raced the lookup */
            if (errno != ENOSYS)
                return -errno;
            __atomic_store_n(&no_openat2, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    return open_walk(rootfd, p, flags, mode);
}

/* Open the parent directory of path (O_PATH, usable as a dirfd). */
static int open_parent(fs_dir *d, const char *path, const char **name)
{
    size_t plen = dir_parent_len(path);
    *name = dir_base_name(path);
    char *parent = strndup(path, plen);
    if (!parent)
        return -ENOMEM;
    int fd = open_beneath(d->rootfd, parent, O_PATH | O_DIRECTORY, 0);
    free(parent);
    return fd;
}

static fs_dir *fsd(dur_dir *d)
{
    return (fs_dir *)d;
}

static dur_code check_nonroot(const char *path, const char *what, dur_error *err)
{
    dur_code rc = dur_path_check(path, err);
    if (rc == DUR_OK && path[0] == '\0')
        rc = dur_error_set(err, DUR_E_INVAL, EINVAL, path, "cannot %s the root", what);
    return rc;
}

/* ---- files ---- */

static dur_code ff_pread(dur_file *df, void *buf, size_t len, uint64_t off, size_t *got,
                         dur_error *err)
{
    fs_file *f = (fs_file *)df;
    size_t total = 0;
    while (total < len) {
        ssize_t n = pread(f->fd, (char *)buf + total, len - total, (off_t)(off + total));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *got = total;
            return dur_error_set_at(err, DUR_E_IO, errno, df->path, off + total, "pread failed");
        }
        if (n == 0)
            break;
        total += (size_t)n;
    }
    *got = total;
    return DUR_OK;
}

static dur_code ff_pwrite(dur_file *df, const void *buf, size_t len, uint64_t off, dur_error *err)
{
    fs_file *f = (fs_file *)df;
    size_t total = 0;
    while (total < len) {
        ssize_t n = pwrite(f->fd, (const char *)buf + total, len - total, (off_t)(off + total));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return dur_error_set_at(err, DUR_E_IO, errno, df->path, off + total, "pwrite failed");
        }
        if (n == 0)
            return dur_error_set_at(err, DUR_E_IO, ENOSPC, df->path, off + total,
                                    "pwrite wrote nothing");
        total += (size_t)n;
    }
    return DUR_OK;
}

static dur_code ff_sync_data(dur_file *df, dur_error *err)
{
    if (fdatasync(((fs_file *)df)->fd) != 0)
        return fs_err(err, errno, df->path, "fdatasync");
    return DUR_OK;
}

static dur_code ff_sync_all(dur_file *df, dur_error *err)
{
    if (fsync(((fs_file *)df)->fd) != 0)
        return fs_err(err, errno, df->path, "fsync");
    return DUR_OK;
}

static dur_code ff_truncate(dur_file *df, uint64_t size, dur_error *err)
{
    if (size > (uint64_t)INT64_MAX)
        return dur_error_set(err, DUR_E_INVAL, EFBIG, df->path, "size too large");
    if (ftruncate(((fs_file *)df)->fd, (off_t)size) != 0)
        return fs_err(err, errno, df->path, "ftruncate");
    return DUR_OK;
}

static dur_code ff_allocate(dur_file *df, uint64_t off, uint64_t len, dur_error *err)
{
    if (len == 0)
        return DUR_OK;
    if (fallocate(((fs_file *)df)->fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) != 0) {
        int e = errno;
        if (e == EOPNOTSUPP)
            return dur_error_set(err, DUR_E_NOTSUP, e, df->path,
                                 "fallocate not supported by this filesystem");
        return dur_error_set_at(err, DUR_E_IO, e, df->path, off, "fallocate failed");
    }
    return DUR_OK;
}

static dur_code ff_size(dur_file *df, uint64_t *size, dur_error *err)
{
    struct stat st;
    if (fstat(((fs_file *)df)->fd, &st) != 0) {
        *size = 0;
        return fs_err(err, errno, df->path, "fstat");
    }
    *size = (uint64_t)st.st_size;
    return DUR_OK;
}

static int ff_fd(dur_file *df)
{
    return ((fs_file *)df)->fd;
}

static void ff_close(dur_file *df)
{
    fs_file *f = (fs_file *)df;
    close(f->fd); /* data durability comes from explicit syncs, never from close */
    free(df->path);
    free(f);
}

static const struct dur_file_ops fs_file_ops = {
    .pread = ff_pread,
    .pwrite = ff_pwrite,
    .sync_data = ff_sync_data,
    .sync_all = ff_sync_all,
    .truncate = ff_truncate,
    .allocate = ff_allocate,
    .size = ff_size,
    .fd = ff_fd,
    .close = ff_close,
};

/* ---- directory operations ---- */

/* Refuse non-regular files (directories: DUR_E_INVAL/EISDIR) and drop O_NONBLOCK. */
static dur_code check_regular(int fd, const char *path, dur_error *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return fs_err(err, errno, path, "fstat");
    if (S_ISDIR(st.st_mode))
        return dur_error_set(err, DUR_E_INVAL, EISDIR, path, "open: is a directory");
    if (!S_ISREG(st.st_mode))
        return dur_error_set(err, DUR_E_INVAL, EINVAL, path, "open: not a regular file (mode 0%o)",
                             (unsigned)st.st_mode);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
        return fs_err(err, errno, path, "fcntl");
    return DUR_OK;
}

static dur_code fd_open(dur_dir *dd, const char *path, unsigned flags, dur_file **out,
                        dur_error *err)
{
    fs_dir *d = fsd(dd);
    *out = NULL;
    dur_code rc = check_nonroot(path, "open", err);
    if (rc != DUR_OK)
        return rc;
    if ((flags & DUR_O_TRUNC) && !(flags & DUR_O_WRITE))
        return dur_error_set(err, DUR_E_INVAL, EINVAL, path, "DUR_O_TRUNC needs DUR_O_WRITE");
    int oflags = (flags & (DUR_O_WRITE | DUR_O_CREATE)) ? O_RDWR : O_RDONLY;
    if (flags & DUR_O_CREATE)
        oflags |= O_CREAT;
    if ((flags & DUR_O_CREATE) && (flags & DUR_O_EXCL))
        oflags |= O_EXCL;
    if (flags & DUR_O_TRUNC)
        oflags |= O_TRUNC;
    /* Memory first: an open that creates must not fail after creating for want
     * of it (a WAL rotation put off for ENOMEM would leave its file behind). */
    fs_file *f = calloc(1, sizeof *f);
    char *pcopy = strdup(path);
    if (!f || !pcopy) {
        free(f);
        free(pcopy);
        return dir_nomem(err, path);
    }
    /* O_NONBLOCK so a hostile FIFO or device in the tree cannot block the open;
     * anything but a regular file is then refused and the flag cleared. */
    int fd = open_beneath(d->rootfd, path, oflags | O_NONBLOCK, 0644);
    dur_code bad = fd < 0 ? fs_err(err, -fd, path, "open") : check_regular(fd, path, err);
    if (bad != DUR_OK) {
        if (fd >= 0)
            close(fd);
        free(f);
        free(pcopy);
        return bad;
    }
    f->base.ops = &fs_file_ops;
    f->base.dir = dd;
    f->base.path = pcopy;
    f->fd = fd;
    *out = &f->base;
    return DUR_OK;
}

static dur_code fd_exists(dur_dir *dd, const char *path, bool *out, dur_error *err)
{
    *out = false;
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    int fd = open_beneath(fsd(dd)->rootfd, path, O_PATH | O_NOFOLLOW, 0);
    if (fd >= 0) {
        close(fd);
        *out = true;
        return DUR_OK;
    }
    if (fd == -ENOENT || fd == -ENOTDIR)
        return DUR_OK;
    return fs_err(err, -fd, path, "lookup");
}

static dur_code fd_remove(dur_dir *dd, const char *path, dur_error *err)
{
    dur_code rc = check_nonroot(path, "remove", err);
    if (rc != DUR_OK)
        return rc;
    const char *name;
    int pfd = open_parent(fsd(dd), path, &name);
    if (pfd < 0)
        return fs_err(err, -pfd, path, "open parent");
    int r = unlinkat(pfd, name, 0);
    if (r != 0 && errno == EISDIR)
        r = unlinkat(pfd, name, AT_REMOVEDIR);
    int e = errno;
    close(pfd);
    if (r != 0) {
        if (e == ENOTEMPTY || e == EEXIST)
            return dur_error_set(err, DUR_E_IO, ENOTEMPTY, path, "directory not empty");
        return fs_err(err, e, path, "remove");
    }
    return DUR_OK;
}

static dur_code fd_rename(dur_dir *dd, const char *from, const char *to, dur_error *err)
{
    dur_code rc = check_nonroot(from, "rename", err);
    if (rc == DUR_OK)
        rc = check_nonroot(to, "rename onto", err);
    if (rc != DUR_OK)
        return rc;
    const char *fname, *tname;
    int fp = open_parent(fsd(dd), from, &fname);
    if (fp < 0)
        return fs_err(err, -fp, from, "open rename source parent");
    int tp = open_parent(fsd(dd), to, &tname);
    if (tp < 0) {
        close(fp);
        return fs_err(err, -tp, to, "open rename target parent");
    }
    int r = renameat(fp, fname, tp, tname);
    int e = errno;
    close(fp);
    close(tp);
    if (r != 0) {
        if (e == ENOTEMPTY || e == EEXIST)
            return dur_error_set(err, DUR_E_IO, ENOTEMPTY, to, "rename target is not empty");
        if (e == EISDIR || e == ENOTDIR)
            return dur_error_set(err, DUR_E_IO, e, to, "rename: file/directory mismatch");
        return fs_err(err, e, e == ENOENT ? from : to, "rename");
    }
    return DUR_OK;
}

static dur_code fd_mkdir_p(dur_dir *dd, const char *path, dur_error *err)
{
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    size_t len = strlen(path);
    char *prefix = malloc(len + 1);
    if (!prefix)
        return dir_nomem(err, path);
    for (size_t i = 0; i <= len && rc == DUR_OK; i++) {
        if (i < len && path[i] != '/')
            continue;
        if (i == 0)
            continue;
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        const char *name;
        int pfd = open_parent(fsd(dd), prefix, &name);
        if (pfd < 0) {
            rc = fs_err(err, -pfd, prefix, "open parent for mkdir");
            break;
        }
        int r = mkdirat(pfd, name, 0755);
        int e = errno;
        if (r != 0 && e == EEXIST) {
            struct stat st;
            if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
                rc = dur_error_set(err, DUR_E_EXISTS, EEXIST, path,
                                   "'%s' exists and is not a directory", prefix);
        } else if (r != 0) {
            rc = fs_err(err, e, prefix, "mkdir");
        }
        close(pfd);
    }
    free(prefix);
    return rc;
}

static dur_code fd_list(dur_dir *dd, const char *path, dur_names *out, dur_error *err)
{
    out->names = NULL;
    out->count = 0;
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    int fd = open_beneath(fsd(dd)->rootfd, path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fs_err(err, -fd, path, "open directory");
    DIR *dir = fdopendir(fd);
    if (!dir) {
        int e = errno;
        close(fd);
        return fs_err(err, e, path, "fdopendir");
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dir);
        if (!de) {
            if (errno)
                rc = fs_err(err, errno, path, "readdir");
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = dir_names_push(out, de->d_name, err);
        if (rc != DUR_OK)
            break;
    }
    closedir(dir);
    if (rc != DUR_OK) {
        dur_names_free(out);
        return rc;
    }
    dir_names_sort(out);
    return DUR_OK;
}

static dur_code fd_sync_dir(dur_dir *dd, const char *path, dur_error *err)
{
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    int fd = open_beneath(fsd(dd)->rootfd, path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fs_err(err, -fd, path, "open directory for sync");
    int r = fsync(fd);
    int e = errno;
    close(fd);
    if (r != 0)
        return fs_err(err, e, path, "fsync of directory");
    return DUR_OK;
}

static void fl_release(dur_lock *l)
{
    fs_lock *lk = (fs_lock *)l;
    close(lk->fd); /* drops the flock */
    free(lk);
}

static dur_code fd_lock(dur_dir *dd, const char *path, dur_lock **out, dur_error *err)
{
    *out = NULL;
    dur_code rc = check_nonroot(path, "lock", err);
    if (rc != DUR_OK)
        return rc;
    int fd = open_beneath(fsd(dd)->rootfd, path, O_RDWR | O_CREAT | O_NONBLOCK, 0644);
    /* On a read-only filesystem flock still keeps a second holder off; the pid
     * in the file is then the last writable holder's (reported as it is). */
    bool read_only = fd == -EROFS;
    if (read_only)
        fd = open_beneath(fsd(dd)->rootfd, path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return fs_err(err, -fd, path, "open lock file");
    rc = check_regular(fd, path, err);
    if (rc != DUR_OK) {
        close(fd);
        return rc;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EWOULDBLOCK) {
            char buf[32] = {0};
            ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
            long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
            close(fd);
            if (pid > 0)
                return dur_error_set(err, DUR_E_LOCKED, e, path, "locked by pid %ld", pid);
            return dur_error_set(err, DUR_E_LOCKED, e, path,
                                 "locked by another process (pid unknown)");
        }
        close(fd);
        return fs_err(err, e, path, "flock");
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (!read_only && (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n)) {
        int e = errno;
        close(fd);
        return fs_err(err, e ? e : EIO, path, "write pid to lock file");
    }
    fs_lock *lk = calloc(1, sizeof *lk);
    if (!lk) {
        close(fd);
        return dir_nomem(err, path);
    }
    lk->base.release = fl_release;
    lk->fd = fd;
    *out = &lk->base;
    return DUR_OK;
}

static dur_code fd_real_path(dur_dir *dd, const char *path, char *buf, size_t size, dur_error *err)
{
    fs_dir *d = fsd(dd);
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    if (!d->root_path)
        return dur_error_set(err, DUR_E_NOTSUP, 0, path, "root path unknown");
    int n = snprintf(buf, size, "%s%s%s", d->root_path, path[0] ? "/" : "", path);
    if (n < 0 || (size_t)n >= size)
        return dur_error_set(err, DUR_E_INVAL, ENAMETOOLONG, path,
                             "real path does not fit in %zu bytes", size);
    return DUR_OK;
}

static int fd_root_fd(dur_dir *dd)
{
    return fsd(dd)->rootfd;
}

static void fd_destroy(dur_dir *dd)
{
    fs_dir *d = fsd(dd);
    close(d->rootfd);
    free(d->root_path);
    free(d);
}

static const struct dur_dir_ops fs_dir_ops = {
    .open = fd_open,
    .exists = fd_exists,
    .remove = fd_remove,
    .rename = fd_rename,
    .mkdir_p = fd_mkdir_p,
    .list = fd_list,
    .sync_dir = fd_sync_dir,
    .lock = fd_lock,
    .real_path = fd_real_path,
    .root_fd = fd_root_fd,
    .destroy = fd_destroy,
};

/* ---- constructors ---- */

static dur_code wrap_fd(int fd, dur_dir **out, dur_error *err)
{
    fs_dir *d = calloc(1, sizeof *d);
    if (!d) {
        close(fd);
        return dir_nomem(err, NULL);
    }
    d->base.ops = &fs_dir_ops;
    d->rootfd = fd;
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0 && target[0] == '/') {
        target[n] = '\0';
        d->root_path = strdup(target);
    }
    *out = &d->base;
    return DUR_OK;
}

/* mkdir -p for the (absolute or cwd-relative) root itself. */
static dur_code mkdir_root(const char *root, dur_error *err)
{
    char *p = strdup(root);
    if (!p)
        return dir_nomem(err, root);
    dur_code rc = DUR_OK;
    size_t len = strlen(p);
    for (size_t i = 1; i <= len; i++) {
        if (i < len && p[i] != '/')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = dur_error_set(err, DUR_E_IO, errno, p, "cannot create directory root");
            break;
        }
        p[i] = c;
    }
    free(p);
    return rc;
}

dur_code dur_dir_open_fs(const char *root, bool create, dur_dir **out, dur_error *err)
{
    *out = NULL;
    if (!root || !root[0])
        return dur_error_set(err, DUR_E_INVAL, EINVAL, root, "empty directory root");
    if (create) {
        dur_code rc = mkdir_root(root, err);
        if (rc != DUR_OK)
            return rc;
    }
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return dur_error_set(err, DUR_E_NOTFOUND, e, root, "directory root does not exist");
        return dur_error_set(err, DUR_E_IO, e, root, "cannot open directory root");
    }
    return wrap_fd(fd, out, err);
}

dur_code dur_dir_open_fs_fd(int root_fd, dur_dir **out, dur_error *err)
{
    *out = NULL;
    int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return dur_error_set(err, DUR_E_IO, errno, NULL, "cannot dup directory fd %d", root_fd);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
        close(fd);
        return dur_error_set(err, DUR_E_INVAL, ENOTDIR, NULL, "fd %d is not a directory", root_fd);
    }
    return wrap_fd(fd, out, err);
}
