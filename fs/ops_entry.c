/* durfs daemon: names and attributes -- lookup, forget, getattr, setattr,
 * readlink, access, statfs.  setattr is the one journaled operation here. */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

void h_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    dnode *p = inode_get(parent);
    if (is_reserved(p, name)) { /* the journal's directory is invisible */
        reply_err(req, ENOENT);
        return;
    }
    fdref r;
    int e = fdref_get(p, &r);
    if (e) {
        reply_err(req, e);
        return;
    }
    struct fuse_entry_param ent;
    e = entry_lookup(p, r.fd, name, &ent);
    fdref_put(&r);
    if (e == ENOENT) { /* negative entry: every create goes through us */
        memset(&ent, 0, sizeof(ent));
        ent.entry_timeout = g_fs.timeout;
        fuse_reply_entry(req, &ent);
    } else if (e) {
        reply_err(req, e);
    } else {
        fuse_reply_entry(req, &ent);
    }
}

void h_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    inode_forget(inode_get(ino), nlookup);
    fuse_reply_none(req);
}

void h_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        inode_forget(inode_get(forgets[i].ino), forgets[i].nlookup);
    fuse_reply_none(req);
}

static int stat_node(dnode *n, struct fuse_file_info *fi, struct stat *st)
{
    if (fi)
        return fstat(fh_fd(fi), st) < 0 ? errno : 0;
    fdref r;
    int e = fdref_get(n, &r);
    if (e)
        return e;
    e = fstatat(r.fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
    fdref_put(&r);
    return e;
}

/* At least this much free in BACKING: an ENOSPC refusal is stale (space was
 * freed since), and no program is told about it. */
#define REFUSAL_STALE_FREE_BYTES (1u << 20)

static bool backing_has_room(void)
{
    struct statvfs sv;
    return fstatvfs(g_fs.backing_fd, &sv) == 0 &&
           (unsigned long long)sv.f_bavail * sv.f_frsize >= REFUSAL_STALE_FREE_BYTES;
}

/* After BACKING refused a write-back of the file, the GETATTR of the next
 * write(2) through a writable handle fails with that errno (ops_file.c, "Refused
 * write-backs").  Until then every GETATTR's attributes expire at once, so that
 * the kernel asks again at that write(2).  The kernel also sends such a GETATTR
 * for lseek(SEEK_END) and a read past the cached end of file, which then get
 * the errno instead; an ENOSPC is dropped once BACKING has room again. */
static int unreported_refusal(dnode *n, const struct fuse_file_info *fi, double *timeout)
{
    dnode_file *f = atomic_load(&n->file);
    if (!f || !atomic_load(&f->refusal_unreported))
        return 0;
    int e = atomic_load(&f->refused_errno);
    if (e == ENOSPC && backing_has_room()) {
        atomic_store(&f->refusal_unreported, false);
        return 0;
    }
    if (fi && (fi->fh & FH_WRITABLE) && atomic_exchange(&f->refusal_unreported, false))
        return e;
    *timeout = 0;
    return 0;
}

void h_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    dnode *n = inode_get(ino);
    double timeout = g_fs.timeout;
    struct stat st;
    int e = unreported_refusal(n, fi, &timeout);
    if (!e)
        e = stat_node(n, fi, &st);
    if (e) {
        reply_err(req, e);
    } else {
        hide_reserved_link(n, &st);
        fuse_reply_attr(req, &st, timeout);
    }
}

static struct timespec time_arg(int valid, int set_bit, int now_bit, const struct timespec *t)
{
    if (valid & now_bit)
        return (struct timespec){.tv_nsec = UTIME_NOW};
    if (valid & set_bit)
        return *t;
    return (struct timespec){.tv_nsec = UTIME_OMIT};
}

/* Apply the requested changes in order; stop at the first failure.  Returns the
 * errno and sets *done to the fields that were changed (those get journaled). */
static int apply_setattr(int path_fd, int file_fd, const struct stat *a, int valid, unsigned *done)
{
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", path_fd);
    if (valid & FUSE_SET_ATTR_MODE) {
        int r = file_fd >= 0 ? fchmod(file_fd, a->st_mode) : chmod(proc, a->st_mode);
        if (r < 0)
            return errno;
        *done |= DUR_NS_ATTR_MODE;
    }
    if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
        uid_t uid = (valid & FUSE_SET_ATTR_UID) ? a->st_uid : (uid_t)-1;
        gid_t gid = (valid & FUSE_SET_ATTR_GID) ? a->st_gid : (gid_t)-1;
        if (fchownat(path_fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
            return errno;
        *done |= ((valid & FUSE_SET_ATTR_UID) ? DUR_NS_ATTR_UID : 0) |
                 ((valid & FUSE_SET_ATTR_GID) ? DUR_NS_ATTR_GID : 0);
    }
    if (valid & FUSE_SET_ATTR_SIZE) {
        if (ftruncate(file_fd, a->st_size) < 0)
            return errno;
        *done |= DUR_NS_ATTR_SIZE;
    }
    if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
                 FUSE_SET_ATTR_MTIME_NOW)) {
        struct timespec tv[2] = {
            time_arg(valid, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, &a->st_atim),
            time_arg(valid, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, &a->st_mtim),
        };
        int r = file_fd >= 0 ? futimens(file_fd, tv)
                             : utimensat(path_fd, "", tv, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
        if (r < 0)
            return errno;
        *done |= (tv[0].tv_nsec != UTIME_OMIT ? DUR_NS_ATTR_ATIME : 0) |
                 (tv[1].tv_nsec != UTIME_OMIT ? DUR_NS_ATTR_MTIME : 0);
    }
    /* FUSE_SET_ATTR_CTIME: ctime cannot be set; the backing fs updates it.  A
     * request with nothing else is chown(-1, -1), which natively moves ctime
     * (without the writeback cache the kernel even leaves out CTIME): the same
     * chown in BACKING moves it there. */
    if ((valid & ~FUSE_SET_ATTR_CTIME) == 0 &&
        fchownat(path_fd, "", (uid_t)-1, (gid_t)-1, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
        return errno;
    return 0;
}

/* With the writeback cache the kernel keeps mtime/ctime itself and sends them on
 * writeback and before every FLUSH (setattr MTIME[|CTIME] on an open file).  No
 * program asked for that change: it is the time stamp of a write, whose
 * durability is the data's (close/fsync), so it is applied but not journaled --
 * journaling it would add one group-commit wait to every close of a written
 * file.  An explicit utimes/futimens always carries ATIME too (or NOW flags). */
static bool writeback_times_only(const struct fuse_file_info *fi, int valid)
{
    return g_fs.writeback && fi && (valid & FUSE_SET_ATTR_MTIME) &&
           (valid & ~(FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME)) == 0;
}

/* The writeback cache also re-sends mtime (with ctime, which cannot be set)
 * after operations that touch ctime, e.g. a rename of a closed file.  When the
 * backing file already has that mtime the request changes nothing: answer it
 * without a journal record. */
static bool mtime_unchanged(int path_fd, const struct stat *attr, int valid, struct stat *st)
{
    if (!(valid & FUSE_SET_ATTR_MTIME) ||
        (valid & ~(FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME)) != 0)
        return false;
    if (fstatat(path_fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
        return false;
    return st->st_mtim.tv_sec == attr->st_mtim.tv_sec &&
           st->st_mtim.tv_nsec == attr->st_mtim.tv_nsec;
}

/* The mode of a file (attributes st) once a caller without CAP_FSETID changed
 * its data, as a local filesystem leaves it (setattr_should_drop_suidgid):
 * setuid goes; setgid goes with group execute, and without it (then a mark for
 * mandatory locking) only when the caller is outside the file's group and
 * without CAP_FSETID over it.  A caller in a user namespace of its own may hold
 * that (capable_wrt_inode_uidgid), which cannot be judged from here: it keeps
 * the bit, as the kernel's own FUSE fallback did.  FUSE_HANDLE_KILLPRIV_V2
 * leaves this to us (fuse_io.c). */
static mode_t suidgid_killed(fuse_req_t req, const struct stat *st)
{
    mode_t killed = st->st_mode & ~(mode_t)S_ISUID;
    if ((st->st_mode & S_ISGID) &&
        ((st->st_mode & S_IXGRP) ||
         (creds_caller_in_our_user_ns(req) && !creds_caller_in_group(req, st->st_gid))))
        killed &= ~(mode_t)S_ISGID;
    return killed;
}

int kill_suidgid(fuse_req_t req, dnode *n, int fd, bool *changed)
{
    *changed = false;
    struct stat before, after;
    if (fstat(fd, &before) < 0)
        return errno;
    if (!S_ISREG(before.st_mode) || !(before.st_mode & (S_ISUID | S_ISGID)) ||
        suidgid_killed(req, &before) == before.st_mode)
        return 0; /* the hot path: nothing to clear, no lock, no journal record */
    dur_ns_op op;
    int e = begin_op(&op);
    if (!e && fstat(fd, &before) < 0) /* again, under the ordering lock */
        e = errno;
    mode_t killed = e ? 0 : suidgid_killed(req, &before);
    if (!e && killed != before.st_mode && fchmod(fd, killed & 07777) < 0)
        e = errno;
    if (!e && fstat(fd, &after) < 0)
        e = errno;
    if (!e) {
        dur_ns_attr b = {.mode = before.st_mode, .uid = before.st_uid, .gid = before.st_gid};
        dur_ns_attr a = {.valid = DUR_NS_ATTR_MODE,
                         .mode = after.st_mode,
                         .uid = after.st_uid,
                         .gid = after.st_gid};
        dur_fh fh;
        inode_fh(n, &fh);
        dur_ns_log_setattr_change(&op, &fh, -1, &b, &a);
        *changed = after.st_mode != before.st_mode;
    }
    return end_op(&op, e);
}

void h_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
               struct fuse_file_info *fi)
{
    dnode *n = inode_get(ino);
    if (fi && !S_ISREG(n->mode))
        fi = NULL; /* fi->fh is an fd only for regular files (dirs hold a DIR) */
    fdref r;
    int e = fdref_get(n, &r);
    if (e) {
        reply_err(req, e);
        return;
    }
    bool kernel_times = writeback_times_only(fi, valid);
    dnode_file *f = S_ISREG(n->mode) && (valid & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
                        ? inode_file(n)
                        : NULL;
    if (f) {
        /* Before applying: a WRITE that lands after this point sets the flag
         * again after its pwrite, so flush restores this time (ops_file.c). */
        long long ns = (long long)attr->st_mtim.tv_sec * 1000000000LL + attr->st_mtim.tv_nsec;
        /* an explicit time is also what the kernel caches; NOW: unknown */
        bool known =
            g_fs.writeback && (valid & FUSE_SET_ATTR_MTIME) && !(valid & FUSE_SET_ATTR_MTIME_NOW);
        atomic_store(&f->kernel_mtime_ns, known ? ns : 0);
        atomic_store(&f->written_after_mtime, false);
    }
    struct stat cur;
    if (mtime_unchanged(r.fd, attr, valid, &cur)) {
        fdref_put(&r);
        hide_reserved_link(n, &cur);
        fuse_reply_attr(req, &cur, g_fs.timeout);
        return;
    }
    int file_fd = fi ? fh_fd(fi) : -1, own_fd = -1;
    if (!fi && (valid & FUSE_SET_ATTR_SIZE)) { /* truncate(2): needs a writable fd */
        own_fd = inode_open(n, O_WRONLY);
        if (own_fd < 0) {
            fdref_put(&r);
            reply_err(req, -own_fd);
            return;
        }
        file_fd = own_fd;
    }
    struct stat sized, killing;
    bool sized_ok = (valid & FUSE_SET_ATTR_SIZE) && fstat(file_fd, &sized) == 0;
    bool shrinks = sized_ok && attr->st_size < sized.st_size; /* frees blocks */
    /* KILLPRIV_V2 (fuse_io.c): the kernel leaves clearing the set-id bits at a
     * truncate by a caller without CAP_FSETID to us; one change with the size,
     * as the kernel sent them before. */
    if (sized_ok && fuse_io_request_kills_suidgid() && !(valid & FUSE_SET_ATTR_MODE) &&
        (sized.st_mode & (S_ISUID | S_ISGID)) && suidgid_killed(req, &sized) != sized.st_mode) {
        killing = *attr;
        killing.st_mode = suidgid_killed(req, &sized) & 07777;
        attr = &killing;
        valid |= FUSE_SET_ATTR_MODE;
    }
    dur_ns_op op;
    e = shrinks ? begin_freeing_op(&op) : begin_op(&op);
    /* Under the ordering lock, for dur_ns_log_setattr_change; only a chown/chmod
     * can turn out to change nothing (mtime-only requests are the hot path).  A
     * chown(-1, -1) alone (CTIME) may clear set-id bits in BACKING: with
     * KILLPRIV_V2 the kernel no longer sends that mode change. */
    struct stat before;
    bool chown_only = (valid & ~FUSE_SET_ATTR_CTIME) == 0;
    bool have_before =
        (chown_only || (valid & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) &&
        fstatat(r.fd, "", &before, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0;
    unsigned done = 0;
    if (!e)
        e = apply_setattr(r.fd, file_fd, attr, valid, &done);
    if (kernel_times)
        done = 0; /* applied, not journaled: see writeback_times_only */
    struct stat st;
    int se = fstatat(r.fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
    if (!e && chown_only && have_before && !se && st.st_mode != before.st_mode)
        done |= DUR_NS_ATTR_MODE;
    if (done && !se && st.st_nlink == 0 && !S_ISDIR(st.st_mode)) {
        /* unlinked (e.g. writeback of a replaced file): nothing left to recover */
    } else if (done && !se) { /* journal what changed, with resolved values */
        dur_ns_attr a = {.valid = done,
                         .mode = st.st_mode,
                         .uid = st.st_uid,
                         .gid = st.st_gid,
                         .size = (uint64_t)st.st_size,
                         .atime = st.st_atim,
                         .mtime = st.st_mtim};
        dur_fh fh;
        inode_fh(n, &fh);
        int size_fd = (done & DUR_NS_ATTR_SIZE) ? file_fd : -1;
        if (have_before) {
            dur_ns_attr b = {.mode = before.st_mode, .uid = before.st_uid, .gid = before.st_gid};
            dur_ns_log_setattr_change(&op, &fh, size_fd, &b, &a);
        } else {
            dur_ns_log_setattr(&op, &fh, size_fd, &a);
        }
    } else if (done) {
        log_msg(LOG_ERR, "setattr: cannot stat inode %llu after changing it: %s",
                (unsigned long long)n->ino, strerror(se));
        e = EIO;
    }
    e = (done & DUR_NS_ATTR_SIZE) && S_ISREG(n->mode) ? end_size_op(&op, e, n) : end_op(&op, e);
    if (own_fd >= 0)
        close(own_fd);
    fdref_put(&r);
    if (!e && se)
        e = se;
    if (e) {
        reply_err(req, e);
    } else {
        hide_reserved_link(n, &st);
        fuse_reply_attr(req, &st, g_fs.timeout);
    }
}

void h_readlink(fuse_req_t req, fuse_ino_t ino)
{
    fdref r;
    int e = fdref_get(inode_get(ino), &r);
    if (e) {
        reply_err(req, e);
        return;
    }
    char buf[PATH_MAX + 1];
    ssize_t len = readlinkat(r.fd, "", buf, sizeof(buf));
    e = errno;
    fdref_put(&r);
    if (len < 0)
        reply_err(req, e);
    else if ((size_t)len >= sizeof(buf))
        reply_err(req, ENAMETOOLONG);
    else {
        buf[len] = '\0';
        fuse_reply_readlink(req, buf);
    }
}

/* Only sent without default_permissions (never, in durfs); answered as the
 * caller anyway. */
void h_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    fdref r;
    int e = fdref_get(inode_get(ino), &r);
    if (e) {
        reply_err(req, e);
        return;
    }
    creds_saved cs;
    e = creds_enter(req, &cs);
    if (!e) {
        e = faccessat(r.fd, "", mask, AT_EMPTY_PATH | AT_EACCESS) < 0 ? errno : 0;
        creds_leave(&cs);
    }
    fdref_put(&r);
    reply_err(req, e);
}

void h_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    struct statvfs sv;
    if (fstatvfs(g_fs.backing_fd, &sv) < 0)
        reply_err(req, errno);
    else
        fuse_reply_statfs(req, &sv);
}
