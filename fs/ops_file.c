/* durfs daemon: open files -- open, create, read, write, flush, release, fsync,
 * fallocate, lseek, copy_file_range.
 *
 * Each open handle owns a real backing fd (fi->fh).  All handles of an inode
 * share one dur_file_state (dnode_file), so a failed fdatasync seen through one
 * handle fails every later close/fsync of the file (R6).  When to sync is the
 * namespace journal's decision (dur_ns_file_*), never this file's. */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

/* Flags for the backing open.  With the writeback cache the kernel reads pages
 * of files opened write-only.  O_APPEND goes: the kernel puts the append
 * offset into every WRITE itself (also without the writeback cache), and a
 * backing fd with O_APPEND would ignore the offsets of a program that cleared
 * O_APPEND with F_SETFL or wrote with RWF_NOAPPEND (open_append_only is the
 * exception). */
static int backing_flags(int flags)
{
    /* O_DIRECT stays a property of the FUSE file (fi->direct_io: no page cache
     * in the kernel); the backing fd cannot take it, as FUSE hands us write data
     * at unaligned addresses in its request buffer.  O_SYNC/O_DSYNC: the core
     * makes such writes durable (note_written), never the backing fd alone. */
    flags &= ~(O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT | O_SYNC | O_DSYNC);
    if (g_fs.writeback && (flags & O_ACCMODE) == O_WRONLY)
        flags = (flags & ~O_ACCMODE) | O_RDWR;
    return flags & ~O_APPEND;
}

/* BACKING refuses a writable open of an append-only file (chattr +a) without
 * O_APPEND, so an append the program is allowed gets an fd with O_APPEND.
 * Every write through it lands at BACKING's end of file whatever its offset,
 * so the handle bypasses the kernel's page cache (direct_io): written-back
 * pages would be appended again. */
static int open_append_only(dnode *n, int flags, struct fuse_file_info *fi)
{
    if (!(fi->flags & O_APPEND) || (fi->flags & O_ACCMODE) == O_RDONLY)
        return -EPERM;
    int fd = inode_open(n, flags | O_APPEND);
    if (fd >= 0)
        fi->direct_io = 1;
    return fd;
}

/* Log a failed file sync naming the file (its BACKING inode number, the st_ino
 * seen through the mount too), once per LOG_LIMIT_SECONDS per file; the program
 * gets sync_failure_errno's errno every time. */
static int file_errno(dnode *n, const char *what, const dur_error *err)
{
    dnode_file *f = atomic_load(&n->file);
    unsigned held_back = 0;
    if (!f || log_limit_pass(&f->error_log, &held_back)) {
        char where[160];
        int len = snprintf(where, sizeof where, "%s of BACKING inode %llu", what,
                           (unsigned long long)n->ino);
        if (held_back && len > 0 && (size_t)len < sizeof where)
            snprintf(where + len, sizeof where - (size_t)len,
                     " (%u more failures of it not logged)", held_back);
        log_dur_error(where, err);
    }
    return sync_failure_errno(err);
}

static bool writable(const struct fuse_file_info *fi)
{
    return (fi->flags & O_ACCMODE) != O_RDONLY;
}

static void count_open(dnode_file *f, const struct fuse_file_info *fi, int delta)
{
    atomic_fetch_add(&f->opens, delta);
    if (writable(fi))
        atomic_fetch_add(&f->writable_opens, delta);
}

/* Writeback cache: the kernel trusts its own cached mtime of a regular file
 * and does not always send a new one after a write (e.g. a write in the same
 * clock tick as the create), while our pwrite moves the backing mtime.  At open
 * the backing and the kernel agree (every flush restores the kernel's time), so
 * remember it; a later setattr from the kernel replaces it, and flush puts it
 * back if a write moved the backing mtime since. */
static void remember_kernel_mtime(dnode_file *f, const struct stat *st)
{
    long long ns = (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    long long expected = 0;
    atomic_compare_exchange_strong(&f->kernel_mtime_ns, &expected, ns);
}

static bool wants_kernel_mtime(const struct fuse_file_info *fi)
{
    return g_fs.writeback && writable(fi);
}

/* known: fd's attributes, if the caller has them (else one fstat). */
static void note_kernel_mtime(dnode_file *f, const struct fuse_file_info *fi, int fd,
                              const struct stat *known)
{
    struct stat st;
    if (wants_kernel_mtime(fi) && (known || fstat(fd, &st) == 0))
        remember_kernel_mtime(f, known ? known : &st);
}

static uint64_t file_handle(int fd, const struct fuse_file_info *fi)
{
    uint64_t fh = (uint32_t)fd;
    if (writable(fi))
        fh |= FH_WRITABLE;
    if (fi->flags & O_DSYNC)
        fh |= FH_DSYNC;
    if ((fi->flags & O_SYNC) == O_SYNC)
        fh |= FH_SYNC;
    return fh;
}

static void set_open_flags(struct fuse_file_info *fi)
{
    if (fi->flags & O_DIRECT)
        fi->direct_io = 1;
}

/* O_TRUNC changes the size: journal it like a truncate (a size change), with
 * the mode when the truncation cleared set-id bits.  st: fd after it. */
static void log_truncate(dur_ns_op *op, dnode *n, int fd, const struct stat *st, mode_t mode_before)
{
    dur_ns_attr a = {.valid = DUR_NS_ATTR_SIZE,
                     .size = (uint64_t)st->st_size,
                     .mode = st->st_mode,
                     .uid = st->st_uid,
                     .gid = st->st_gid,
                     .atime = st->st_atim,
                     .mtime = st->st_mtim};
    if (st->st_mode != mode_before)
        a.valid |= DUR_NS_ATTR_MODE;
    dur_fh fh;
    inode_fh(n, &fh);
    dur_ns_log_setattr(op, &fh, fd, &a);
}

/* Empty the file open(O_TRUNC) opened as fd.  Natively that truncation clears
 * the set-id bits unless the opener has CAP_FSETID (setgid without
 * group-execute also stays for a member of the file's group), but with atomic
 * O_TRUNC the kernel drops that mode change and leaves it to us.  So the
 * truncation runs as the caller (ids, groups, its own CAP_FSETID) and BACKING
 * applies the rule as for the caller; done as root, any user allowed to write
 * a setuid file could empty it and leave it setuid.  A read-only open with
 * O_TRUNC truncates too (Linux does), through a second fd.  BACKING also drops
 * a security.capability, which *fcaps_dropped reports (see ops.h). */
static int truncate_opened(fuse_req_t req, dnode *n, int fd, int flags, mode_t *mode_before,
                           bool *fcaps_dropped)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return errno;
    *mode_before = st.st_mode;
    bool fcaps = xattr_fcaps_on(n, fd);
    int tfd = (flags & O_ACCMODE) == O_RDONLY ? inode_open(n, O_WRONLY) : fd;
    if (tfd < 0)
        return -tfd;
    int e = 0;
    creds_saved cs = {0};
    if (st.st_mode & (S_ISUID | S_ISGID)) {
        e = creds_enter(req, &cs);
        if (!e)
            creds_caller_fsetid(req, &cs);
    }
    if (!e && ftruncate(tfd, 0) != 0)
        e = errno;
    creds_leave(&cs);
    if (tfd != fd)
        close(tfd);
    *fcaps_dropped = !e && fcaps && !xattr_fcaps_on(n, fd);
    return e;
}

/* open(O_TRUNC) of an existing file, inside op: truncate and journal it;
 * *after: the file's attributes then. */
static int truncate_and_log(fuse_req_t req, dur_ns_op *op, dnode *n, int fd, int flags,
                            bool *fcaps_dropped, struct stat *after)
{
    mode_t mode_before = 0;
    int e = truncate_opened(req, n, fd, flags, &mode_before, fcaps_dropped);
    if (!e && fstat(fd, after) != 0)
        e = errno;
    if (!e)
        log_truncate(op, n, fd, after, mode_before);
    return e;
}

void h_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    dnode *n = inode_get(ino);
    dnode_file *f = inode_file(n);
    int e = f ? fd_budget_take() : ENOMEM;
    if (e) {
        reply_err(req, e);
        return;
    }
    int flags = backing_flags(fi->flags), fd;
    struct stat truncated = {0}; /* filled when O_TRUNC succeeds */
    if (flags & O_TRUNC) {
        dur_ns_op op;
        bool fcaps_dropped = false;
        e = begin_freeing_op(&op);
        fd = e ? -e : inode_open(n, flags & ~O_TRUNC);
        if (fd >= 0)
            e = truncate_and_log(req, &op, n, fd, flags, &fcaps_dropped, &truncated);
        e = end_size_op(&op, fd < 0 ? -fd : e, n);
        if (!e && fcaps_dropped)
            e = xattr_log_fcaps_removed(n);
        if (e && fd >= 0)
            close(fd);
    } else {
        fd = inode_open(n, flags);
        if (fd == -EPERM)
            fd = open_append_only(n, flags, fi);
        e = fd < 0 ? -fd : 0;
    }
    if (e) {
        fd_budget_give();
        reply_err(req, e);
        return;
    }
    count_open(f, fi, 1);
    note_kernel_mtime(f, fi, fd, (flags & O_TRUNC) ? &truncated : NULL);
    fi->fh = file_handle(fd, fi);
    set_open_flags(fi);
    if (fuse_reply_open(req, fi) != 0) { /* interrupted: the kernel never saw it */
        close(fd);
        count_open(f, fi, -1);
        fd_budget_give();
    }
}

void h_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
              struct fuse_file_info *fi)
{
    dnode *p = inode_get(parent);
    if (is_reserved(p, name)) {
        reply_err(req, EPERM);
        return;
    }
    int e = fd_budget_take(); /* before anything is created */
    fdref r;
    if (!e && (e = fdref_get(p, &r)) != 0)
        fd_budget_give();
    if (e) {
        reply_err(req, e);
        return;
    }
    int flags = backing_flags(fi->flags), fd = -1;
    bool created = false, have_entry = false, fcaps_dropped = false;
    struct fuse_entry_param ent;
    memset(&ent, 0, sizeof(ent));
    dur_ns_op op;
    e = begin_op(&op);
    creds_saved cs;
    if (!e)
        e = creds_enter(req, &cs);
    if (!e) {
        creds_keep_caps(&cs);
        fd = openat(r.fd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
        created = fd >= 0;
        if (fd < 0 && errno == EEXIST && !(fi->flags & O_EXCL)) { /* lost a race: open it */
            creds_drop_caps(&cs); /* as the caller: no check of the kernel's covers it */
            fd = openat(r.fd, name, (flags & ~O_TRUNC) | O_NOFOLLOW, mode);
        }
        e = fd < 0 ? errno : 0;
        creds_leave(&cs);
    }
    bool truncated = false;
    if (!e) {
        dur_fh fh = {0};
        e = entry_of_created(r.fd, name, created, &ent, &fh);
        have_entry = !e;
        if (!e && created) {
            dur_fh pfh;
            inode_fh(p, &pfh);
            dur_ns_log_create(&op, &pfh, name, &fh, ent.attr.st_mode, ent.attr.st_uid,
                              ent.attr.st_gid, 0, NULL);
        } else if (!e && (flags & O_TRUNC)) { /* truncated as in h_open */
            e = truncate_and_log(req, &op, inode_get(ent.ino), fd, flags, &fcaps_dropped,
                                 &ent.attr);
            truncated = true;
        }
    }
    e = truncated ? end_size_op(&op, e, inode_get(ent.ino)) : end_op(&op, e);
    if (!e && fcaps_dropped)
        e = xattr_log_fcaps_removed(inode_get(ent.ino));
    fdref_put(&r);
    dnode_file *f = have_entry ? inode_file(inode_get(ent.ino)) : NULL;
    if (!e && !f)
        e = ENOMEM;
    if (e) {
        if (fd >= 0)
            close(fd);
        if (have_entry)
            inode_forget(inode_get(ent.ino), 1);
        fd_budget_give();
        reply_err(req, e);
        return;
    }
    count_open(f, fi, 1);
    if (wants_kernel_mtime(fi)) /* ent.attr is the file as just opened: no fstat */
        remember_kernel_mtime(f, &ent.attr);
    if (created) /* spares the first write's security.capability lookup */
        xattr_note_created(inode_get(ent.ino));
    fi->fh = file_handle(fd, fi);
    set_open_flags(fi);
    if (fuse_reply_create(req, &ent, fi) != 0) {
        close(fd);
        count_open(f, fi, -1);
        fd_budget_give();
        inode_forget(inode_get(ent.ino), 1);
    }
}

void h_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)ino;
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    buf.buf[0].fd = fh_fd(fi);
    buf.buf[0].pos = off;
    fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

/* After a successful change of n's data through fd.  durable: the program asked
 * for it to be durable on return (O_SYNC/O_DSYNC, RWF_DSYNC), and no FSYNC
 * request will follow; datasync: O_DSYNC, not O_SYNC, semantics. */
static int note_written(dnode *n, int fd, bool durable, bool datasync)
{
    dnode_file *f = inode_file(n);
    if (!f)
        return ENOMEM;
    if (g_fs.writeback && atomic_load(&f->kernel_mtime_ns))
        atomic_store(&f->written_after_mtime, true);
    dur_error err;
    dur_fh fh;
    inode_fh(n, &fh);
    dur_code c = durable ? dur_ns_file_written_durable(g_fs.ns, &f->st, fd, &fh, datasync, &err)
                         : dur_ns_file_written(g_fs.ns, &f->st, fd, &fh, &err);
    if (c != DUR_OK)
        return file_errno(n, "write", &err);
    return 0;
}

/* fallocate, copy_file_range: the kernel sends no FSYNC after them, so a file
 * opened O_SYNC/O_DSYNC gets its sync here. */
static int note_changed(dnode *n, const struct fuse_file_info *fi)
{
    return note_written(n, fh_fd(fi), (fi->fh & FH_DSYNC) != 0, (fi->fh & FH_SYNC) == 0);
}

/* With KILLPRIV_V2 (fuse_io.c) the kernel leaves clearing set-id bits at a
 * change of a file's data to us.  As a local filesystem (file_remove_privs)
 * they go BEFORE the data changes: if that fails, nothing is written, and a
 * crash cannot leave new content under old set-id bits.  A WRITE says when
 * (flagged: the writer lacks CAP_FSETID; unflagged: the kernel found it has
 * it, nothing to check); fallocate and copy_file_range carry no flag, so for a
 * set-id file the caller's own capabilities decide.  *stale: invalidate the
 * kernel's attributes after replying (its cached mode still has the bits). */
static int kill_suidgid_before_change(fuse_req_t req, dnode *n, int fd, bool is_write, bool *stale)
{
    *stale = false;
    if (!fuse_io_killpriv_v2())
        return 0; /* the kernel clears them itself, with a SETATTR */
    if (is_write) {
        if (!fuse_io_request_kills_suidgid())
            return 0;
    } else {
        struct stat st;
        if (fstat(fd, &st) < 0 || !(st.st_mode & (S_ISUID | S_ISGID)) ||
            !creds_caller_lacks_cap(req, CAP_FSETID))
            return 0; /* CAP_FSETID keeps them; so does a caller we cannot see */
    }
    return kill_suidgid(req, n, fd, stale);
}

static void reply_changed(fuse_req_t req, fuse_ino_t ino, int e, size_t written, bool stale)
{
    if (e)
        reply_err(req, e);
    else
        fuse_reply_write(req, written);
    if (stale)
        fuse_lowlevel_notify_inval_inode(g_fs.se, ino, -1, 0); /* attributes only */
}

/* A WRITE: fi->flags holds the file's flags plus O_DSYNC/O_SYNC for an
 * RWF_DSYNC/RWF_SYNC write.  The kernel follows a synchronous write with an FSYNC
 * only when it went through its page cache, as writeback (fi->writepage) does; a
 * direct_io file's WRITE gets none, so it is made durable here. */
static int note_write_request(dnode *n, const struct fuse_file_info *fi)
{
    bool sync = (fi->flags & O_DSYNC) || (fi->fh & FH_DSYNC);
    bool full = (fi->flags & O_SYNC) == O_SYNC || (fi->fh & FH_SYNC);
    return note_written(n, fh_fd(fi), sync && !fi->writepage, !full);
}

/* A write-back WRITE (fi->writepage) carries data whose write(2) already
 * returned.  When BACKING refuses it (full disk, past its largest file size) the
 * kernel keeps the pages clean and reports the error once, to the first sync or
 * close: the data is lost, so every later sync of the file must fail too (R6),
 * or a program that reopens it and fsyncs would be told its data is safe.
 *
 * Refused write-backs also reach write(2).  The kernel's FUSE driver asks the
 * daemon nothing during a cached write(2), so a program writing a stream into a
 * full BACKING (dd, a logger) would write on forever while every page is
 * refused and dropped; a local filesystem fails the write(2) with ENOSPC.  A
 * cached write(2) sends one request: GETATTR with its file handle, when the
 * inode's attributes are stale.  So a refusal marks the file and makes them
 * stale (notify_inval_inode, sent after the reply: dropping the inode may wait
 * for this very WRITE), and the next such GETATTR through a writable handle
 * fails with BACKING's errno (ops_entry.c).  One failure per refusal: once
 * space is freed, writes go through again.  Returns whether to notify. */
static bool note_lost_write_back(dnode *n, int e)
{
    dnode_file *f = inode_file(n);
    bool notify = false;
    if (f) {
        atomic_store(&f->refused_errno, e);
        notify = !atomic_exchange(&f->refusal_unreported, true);
        if (!dur_file_state_note_lost_write(&f->st, e))
            return notify; /* logged at its first failure: one line per file */
    }
    atomic_fetch_add(&g_fs.lost_writebacks, 1);
    log_msg(LOG_ERR,
            "writing cached data of BACKING inode %llu (st_ino, as through the mount) back "
            "failed: %s; that data is lost, and every sync of the file fails from now on",
            (unsigned long long)n->ino, strerror(e));
    return notify;
}

/* File data goes to BACKING as the file's owner (creds.c,
 * creds_enter_data_owner): quota and ext4's reserve for root apply. */
static void enter_data_owner(int fd, creds_saved *cs)
{
    struct stat st;
    if (fstat(fd, &st) == 0)
        creds_enter_data_owner(st.st_uid, st.st_gid, cs);
    else
        *cs = (creds_saved){0};
}

/* A write-back must be written whole, and fuse_buf_copy drops the errno of a
 * short copy.  Going on with the copy could write bytes at the wrong offset
 * (its read-then-write fallback takes more from the request pipe than it
 * writes; found in review), so ask BACKING about the first byte not written:
 * a one-byte allocation there fails as the write did (ENOSPC, EDQUOT, EFBIG:
 * what a local filesystem's write(2) would have said).  Runs as the writer. */
static int short_write_errno(int fd, off_t at)
{
    if (fallocate(fd, FALLOC_FL_KEEP_SIZE, at, 1) != 0 && errno != EOPNOTSUPP)
        return errno;
    return EIO;
}

void h_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
                 struct fuse_file_info *fi)
{
    size_t size = fuse_buf_size(bufv);
    struct fuse_bufvec out = FUSE_BUFVEC_INIT(size);
    out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    out.buf[0].fd = fh_fd(fi);
    out.buf[0].pos = off;
    bool stale = false;
    int ke = fi->writepage
                 ? 0
                 : kill_suidgid_before_change(req, inode_get(ino), fh_fd(fi), true, &stale);
    if (ke) {
        reply_changed(req, ino, ke, 0, stale);
        return;
    }
    creds_saved cs;
    enter_data_owner(fh_fd(fi), &cs);
    ssize_t res = fuse_buf_copy(&out, bufv, 0);
    if (fi->writepage && res >= 0 && (size_t)res < size)
        res = -short_write_errno(fh_fd(fi), off + res);
    creds_leave(&cs);
    if (res < 0) {
        bool notify = fi->writepage && note_lost_write_back(inode_get(ino), (int)-res);
        reply_err(req, (int)-res);
        if (stale)
            fuse_lowlevel_notify_inval_inode(g_fs.se, ino, -1, 0);
        /* (writepage: the writeback cache, so not -s, where if the notification
         * dropped the kernel's last reference, the inode's eviction would wait
         * for queued WRITEs only this thread could serve) */
        if (notify)
            fuse_lowlevel_notify_inval_inode(g_fs.se, ino, -1, 0);
        return;
    }
    int e = note_write_request(inode_get(ino), fi);
    reply_changed(req, ino, e, (size_t)res, stale);
}

/* With the writeback cache the kernel owns mtime and sends it in a setattr that
 * may be processed before the WRITE it belongs to (another worker thread), so
 * the backing file would keep the later time of our write.  At FLUSH every
 * write of this close is done: put the kernel's time back. */
static void restore_kernel_mtime(dnode_file *f, int fd)
{
    if (!atomic_exchange(&f->written_after_mtime, false))
        return;
    long long ns = atomic_load(&f->kernel_mtime_ns);
    struct timespec tv[2] = {{.tv_nsec = UTIME_OMIT},
                             {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL}};
    if (futimens(fd, tv) < 0)
        log_msg(LOG_DEBUG, "flush: cannot restore mtime: %m");
}

void h_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    dnode *n = inode_get(ino);
    dnode_file *f = inode_file(n);
    dur_error err;
    dur_fh fh;
    inode_fh(n, &fh);
    if (f && g_fs.writeback)
        restore_kernel_mtime(f, fh_fd(fi));
    if (!f)
        reply_err(req, ENOMEM);
    else if (dur_ns_file_close(g_fs.ns, &f->st, fh_fd(fi), &fh, &err) != DUR_OK)
        reply_err(req, file_errno(n, "close", &err));
    else
        reply_err(req, 0);
}

void h_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    dnode_file *f = atomic_load(&inode_get(ino)->file);
    close(fh_fd(fi));
    fd_budget_give();
    if (f) {
        count_open(f, fi, -1);
        if (atomic_load(&f->writable_opens) == 0) /* no writer left to tell */
            atomic_store(&f->refusal_unreported, false);
    }
    reply_err(req, 0);
}

void h_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    dnode *n = inode_get(ino);
    dnode_file *f = inode_file(n);
    dur_error err;
    dur_fh fh;
    inode_fh(n, &fh);
    if (!f)
        reply_err(req, ENOMEM);
    else if (dur_ns_file_fsync(g_fs.ns, &f->st, fh_fd(fi), &fh, datasync != 0, &err) != DUR_OK)
        reply_err(req, file_errno(n, "fsync", &err));
    else
        reply_err(req, 0);
}

void h_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 struct fuse_file_info *fi)
{
    bool stale = false;
    int e = kill_suidgid_before_change(req, inode_get(ino), fh_fd(fi), false, &stale);
    if (e) {
        reply_err(req, e);
        if (stale)
            fuse_lowlevel_notify_inval_inode(g_fs.se, ino, -1, 0);
        return;
    }
    creds_saved cs;
    enter_data_owner(fh_fd(fi), &cs);
    e = fallocate(fh_fd(fi), mode, offset, length) < 0 ? errno : 0;
    creds_leave(&cs);
    if (!e) {
        e = note_changed(inode_get(ino), fi);
    } else if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
        /* it may have changed some of the range before failing: dirty, so the
         * next close, fsync or rename syncs it (nothing was promised) */
        (void)note_written(inode_get(ino), fh_fd(fi), false, true);
    }
    reply_err(req, e);
    if (stale)
        fuse_lowlevel_notify_inval_inode(g_fs.se, ino, -1, 0); /* attributes only */
}

/* SEEK_DATA/SEEK_HOLE.  While a file has a writable open under the writeback
 * cache, the kernel may hold written pages the backing file does not have yet,
 * even past its end, and the kernel's size is not known here: no answer from
 * the backing file is safe (it put the end of file, and a hole, before data a
 * program had written).  Only the kernel knows its size, so ENOSYS hands it
 * the job: it answers this call and every later one on the mount itself (data
 * up to its end of file, the one hole there).  Until then, files without a
 * writable open get BACKING's exact answer. */
void h_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
    dnode_file *f = atomic_load(&inode_get(ino)->file);
    if (g_fs.writeback && f && atomic_load(&f->writable_opens) > 0 &&
        (whence == SEEK_DATA || whence == SEEK_HOLE)) {
        static atomic_bool logged;
        if (!atomic_exchange(&logged, true))
            log_msg(LOG_INFO, "SEEK_DATA/SEEK_HOLE on a file open for writing: the kernel "
                              "answers them from now on (data up to the end of file)");
        reply_err(req, ENOSYS);
        return;
    }
    off_t res = lseek(fh_fd(fi), off, whence);
    if (res < 0)
        reply_err(req, errno);
    else
        fuse_reply_lseek(req, res);
}

void h_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
                       struct fuse_file_info *fi_out, size_t len, int flags)
{
    (void)ino_in;
    bool stale = false;
    int e = kill_suidgid_before_change(req, inode_get(ino_out), fh_fd(fi_out), false, &stale);
    if (e) {
        reply_changed(req, ino_out, e, 0, stale);
        return;
    }
    creds_saved cs;
    enter_data_owner(fh_fd(fi_out), &cs);
    ssize_t res =
        copy_file_range(fh_fd(fi_in), &off_in, fh_fd(fi_out), &off_out, len, (unsigned)flags);
    e = res < 0 ? errno : 0;
    creds_leave(&cs);
    if (e) {
        reply_changed(req, ino_out, e, 0, stale);
        return;
    }
    e = note_changed(inode_get(ino_out), fi_out);
    reply_changed(req, ino_out, e, (size_t)res, stale);
}
