#include "ns_test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

char *nt_tempdir(const char *tag)
{
    char *p = malloc(256);
    snprintf(p, 256, "/var/tmp/durfs-ns-%s-XXXXXX", tag);
    assert_non_null(mkdtemp(p));
    return p;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void nt_rm_rf(const char *path)
{
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

void nt_wipe(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            (keep && !strcmp(e->d_name, keep)))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        nt_rm_rf(p);
    }
    closedir(d);
}

void nt_copy_tree(const char *src, const char *dst)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", src, dst);
    assert_int_equal(system(cmd), 0);
}

/* ---- listing ---- */
typedef struct lines {
    char **v;
    size_t n, cap;
} lines;

static void add_line(lines *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = strdup(s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(int dirfd, const char *rel, lines *out, bool top)
{
    int fd = openat(dirfd, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    assert_true(fd >= 0);
    DIR *d = fdopendir(fd);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (top && !strcmp(e->d_name, DUR_NS_RESERVED_NAME))
            continue;
        char path[4096], line[12000], extra[4600] = "", xattrs[2048] = "";
        snprintf(path, sizeof path, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        struct stat st;
        assert_int_equal(fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW), 0);
        char type = S_ISDIR(st.st_mode)    ? 'd'
                    : S_ISREG(st.st_mode)  ? 'f'
                    : S_ISLNK(st.st_mode)  ? 'l'
                    : S_ISFIFO(st.st_mode) ? 'p'
                                           : '?';
        if (S_ISREG(st.st_mode)) {
            int f = openat(dirfd, path, O_RDONLY);
            assert_true(f >= 0);
            char *buf = malloc((size_t)st.st_size + 1);
            ssize_t got = pread(f, buf, (size_t)st.st_size, 0);
            assert_int_equal(got, st.st_size);
            snprintf(extra, sizeof extra, "size=%lld hash=%016llx", (long long)st.st_size,
                     (unsigned long long)XXH3_64bits(buf, (size_t)got));
            free(buf);
            close(f);
        } else if (S_ISLNK(st.st_mode)) {
            char t[4097];
            ssize_t n = readlinkat(dirfd, path, t, sizeof t - 1);
            assert_true(n >= 0);
            t[n] = '\0';
            snprintf(extra, sizeof extra, "target=%s", t);
        }
        if (!S_ISLNK(st.st_mode)) {
            char pp[8192], names[4096];
            snprintf(pp, sizeof pp, "/proc/self/fd/%d/%s", dirfd, path);
            ssize_t n = llistxattr(pp, names, sizeof names);
            /* sorted names with value hashes */
            char *v[64];
            size_t k = 0;
            for (ssize_t o = 0; n > 0 && o < n && k < 64; o += (ssize_t)strlen(names + o) + 1)
                v[k++] = names + o;
            if (k > 0) /* no xattrs: nothing to sort (v is unset) */
                qsort(v, k, sizeof *v, cmp_str);
            for (size_t i = 0; i < k; i++) {
                char val[65536];
                ssize_t vl = lgetxattr(pp, v[i], val, sizeof val);
                size_t used = strlen(xattrs);
                snprintf(xattrs + used, sizeof xattrs - used, " %s=%016llx", v[i],
                         (unsigned long long)XXH3_64bits(val, vl > 0 ? (size_t)vl : 0));
            }
        }
        snprintf(line, sizeof line, "%s %c perm=%04o uid=%u gid=%u nlink=%lu %s%s", path, type,
                 (unsigned)(st.st_mode & 07777), st.st_uid, st.st_gid,
                 S_ISDIR(st.st_mode) ? 0ul : (unsigned long)st.st_nlink, extra, xattrs);
        add_line(out, line);
        if (S_ISDIR(st.st_mode))
            list_dir(dirfd, path, out, false);
    }
    closedir(d);
}

char *nt_listing(int dirfd)
{
    lines l = {0};
    list_dir(dirfd, "", &l, true);
    if (l.n > 0) /* empty tree: l.v is NULL, which qsort must not get */
        qsort(l.v, l.n, sizeof *l.v, cmp_str);
    size_t total = 1;
    for (size_t i = 0; i < l.n; i++)
        total += strlen(l.v[i]) + 1;
    char *s = malloc(total);
    s[0] = '\0';
    char *p = s;
    for (size_t i = 0; i < l.n; i++) {
        p = stpcpy(p, l.v[i]);
        *p++ = '\n';
        *p = '\0';
        free(l.v[i]);
    }
    free(l.v);
    return s;
}

/* ---- operations ---- */
/* Split path into an O_PATH fd of its parent and the last component. */
static int parent_of(nt *t, const char *path, const char **name)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        *name = path;
        return openat(t->backing, ".", O_PATH | O_DIRECTORY);
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    *name = slash + 1;
    int fd = openat(t->backing, dir, O_PATH | O_DIRECTORY);
    assert_true(fd >= 0);
    return fd;
}

static dur_fh fh_at(int dirfd, const char *name)
{
    dur_fh fh;
    dur_error err;
    assert_int_equal(dur_fh_get(dirfd, name, &fh, &err), DUR_OK);
    return fh;
}

static dur_code finish(dur_ns_op *op)
{
    dur_error err;
    return dur_ns_end(op, &err);
}

static dur_code create_common(nt *t, const char *path, mode_t mode, dev_t rdev, const char *target,
                              const char *content)
{
    const char *name;
    int pfd = parent_of(t, path, &name);
    dur_fh parent = fh_at(pfd, "");
    dur_ns_op op;
    if (dur_ns_begin(t->ns, &op) != DUR_OK) { /* refused (poisoned): as the daemon does */
        close(pfd);
        return finish(&op);
    }
    int r;
    switch (mode & S_IFMT) {
    case S_IFDIR:
        r = mkdirat(pfd, name, mode & 07777);
        break;
    case S_IFLNK:
        r = target ? symlinkat(target, pfd, name) : -1; /* no target: fails the test */
        break;
    case S_IFREG: {
        int f = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY, mode & 07777);
        r = f < 0 ? -1 : 0;
        if (f >= 0) {
            if (content)
                assert_int_equal(write(f, content, strlen(content)), (ssize_t)strlen(content));
            close(f);
        }
        break;
    }
    default:
        r = mknodat(pfd, name, mode, rdev);
    }
    assert_int_equal(r, 0);
    struct stat st;
    assert_int_equal(fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
    dur_fh obj = fh_at(pfd, name);
    dur_ns_log_create(&op, &parent, name, &obj, st.st_mode, st.st_uid, st.st_gid, st.st_rdev,
                      target);
    close(pfd);
    return finish(&op);
}

dur_code nt_create(nt *t, const char *path, mode_t perm, const char *content)
{
    return create_common(t, path, S_IFREG | perm, 0, NULL, content);
}
dur_code nt_mkdir(nt *t, const char *path, mode_t perm)
{
    return create_common(t, path, S_IFDIR | perm, 0, NULL, NULL);
}
dur_code nt_symlink(nt *t, const char *target, const char *path)
{
    return create_common(t, path, S_IFLNK | 0777, 0, target, NULL);
}
dur_code nt_mknod_fifo(nt *t, const char *path)
{
    return create_common(t, path, S_IFIFO | 0640, 0, NULL, NULL);
}

dur_code nt_link(nt *t, const char *from, const char *to)
{
    const char *fname, *tname;
    int fpfd = parent_of(t, from, &fname), tpfd = parent_of(t, to, &tname);
    dur_fh obj = fh_at(fpfd, fname), np = fh_at(tpfd, "");
    dur_ns_op op;
    dur_ns_begin(t->ns, &op);
    assert_int_equal(linkat(fpfd, fname, tpfd, tname, 0), 0);
    dur_ns_log_link(&op, &obj, &np, tname);
    close(fpfd);
    close(tpfd);
    return finish(&op);
}

static dur_code remove_common(nt *t, const char *path, bool dir)
{
    const char *name;
    int pfd = parent_of(t, path, &name);
    dur_fh parent = fh_at(pfd, ""), obj = fh_at(pfd, name);
    dur_ns_op op;
    dur_ns_begin(t->ns, &op);
    assert_int_equal(unlinkat(pfd, name, dir ? AT_REMOVEDIR : 0), 0);
    dur_ns_log_remove(&op, &parent, name, &obj, dir);
    close(pfd);
    return finish(&op);
}
dur_code nt_unlink(nt *t, const char *path)
{
    return remove_common(t, path, false);
}
dur_code nt_rmdir(nt *t, const char *path)
{
    return remove_common(t, path, true);
}

dur_code nt_rename(nt *t, const char *from, const char *to, unsigned flags)
{
    const char *fname, *tname;
    int fpfd = parent_of(t, from, &fname), tpfd = parent_of(t, to, &tname);
    dur_fh op_ = fh_at(fpfd, ""), np = fh_at(tpfd, ""), obj = fh_at(fpfd, fname), repl;
    struct stat st;
    bool has_repl = fstatat(tpfd, tname, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (has_repl)
        repl = fh_at(tpfd, tname);
    dur_ns_op op;
    dur_ns_begin(t->ns, &op);
    assert_int_equal(renameat2(fpfd, fname, tpfd, tname, flags), 0);
    dur_ns_log_rename(&op, &op_, fname, &np, tname, flags, &obj, has_repl ? &repl : NULL);
    close(fpfd);
    close(tpfd);
    return finish(&op);
}

static dur_code setattr_common(nt *t, const char *path, const dur_ns_attr *a, int fd)
{
    const char *name;
    int pfd = parent_of(t, path, &name);
    dur_fh obj = fh_at(pfd, name);
    dur_ns_op op;
    dur_ns_begin(t->ns, &op);
    if (a->valid & DUR_NS_ATTR_MODE)
        assert_int_equal(fchmodat(pfd, name, a->mode, 0), 0);
    if (a->valid & (DUR_NS_ATTR_UID | DUR_NS_ATTR_GID))
        assert_int_equal(fchownat(pfd, name, a->uid, a->gid, AT_SYMLINK_NOFOLLOW), 0);
    if (a->valid & DUR_NS_ATTR_SIZE)
        assert_int_equal(ftruncate(fd, (off_t)a->size), 0);
    dur_ns_log_setattr(&op, &obj, fd, a);
    close(pfd);
    return finish(&op);
}

dur_code nt_chmod(nt *t, const char *path, mode_t perm)
{
    dur_ns_attr a = {.valid = DUR_NS_ATTR_MODE, .mode = perm};
    return setattr_common(t, path, &a, -1);
}
dur_code nt_chown(nt *t, const char *path, uid_t uid, gid_t gid)
{
    dur_ns_attr a = {.valid = DUR_NS_ATTR_UID | DUR_NS_ATTR_GID, .uid = uid, .gid = gid};
    return setattr_common(t, path, &a, -1);
}
dur_code nt_truncate(nt *t, const char *path, off_t size)
{
    int fd = openat(t->backing, path, O_WRONLY);
    assert_true(fd >= 0);
    dur_ns_attr a = {.valid = DUR_NS_ATTR_SIZE, .size = (uint64_t)size};
    dur_code c = setattr_common(t, path, &a, fd);
    close(fd);
    return c;
}

dur_code nt_setxattr(nt *t, const char *path, const char *name, const char *value)
{
    return nt_setxattr_flags(t, path, name, value, strlen(value), 0);
}

dur_code nt_setxattr_flags(nt *t, const char *path, const char *name, const void *value,
                           size_t size, unsigned flags)
{
    const char *n;
    int pfd = parent_of(t, path, &n);
    dur_fh obj = fh_at(pfd, n);
    close(pfd);
    char pp[4200];
    snprintf(pp, sizeof pp, "/proc/self/fd/%d/%s", t->backing, path);
    dur_ns_op op;
    dur_ns_begin(t->ns, &op);
    assert_int_equal(lsetxattr(pp, name, value, size, (int)flags & (XATTR_CREATE | XATTR_REPLACE)),
                     0);
    dur_ns_log_setxattr(&op, &obj, name, value, size, (int)flags);
    return finish(&op);
}

dur_code nt_removexattr(nt *t, const char *path, const char *name)
{
    const char *n;
    int pfd = parent_of(t, path, &n);
    dur_fh obj = fh_at(pfd, n);
    close(pfd);
    char pp[4200];
    snprintf(pp, sizeof pp, "/proc/self/fd/%d/%s", t->backing, path);
    dur_ns_op op;
    dur_ns_begin(t->ns, &op);
    assert_int_equal(lremovexattr(pp, name), 0);
    dur_ns_log_removexattr(&op, &obj, name);
    return finish(&op);
}

void nt_write(nt *t, const char *path, const char *content)
{
    int f = openat(t->backing, path, O_WRONLY | O_TRUNC);
    assert_true(f >= 0);
    assert_int_equal(write(f, content, strlen(content)), (ssize_t)strlen(content));
    close(f);
}
