/* durfs daemon: the operations table -- the map of the daemon.
 *
 * Each FUSE operation goes to one short handler (ops_*.c) through a wrapper
 * that times it for trusted.durfs.stats.  Operations without a handler here
 * (getlk/setlk/flock, ioctl, poll, bmap) are not implemented on purpose: with no
 * lock handlers the kernel keeps POSIX and flock locks locally, which is right
 * for a filesystem only this host can reach. */
#include "ops.h"
#include "stats.h"

#include <errno.h>
#include <stdlib.h>
#include <syslog.h>

void reply_err(fuse_req_t req, int e)
{
    if (e)
        stats_error();
    fuse_reply_err(req, e);
}

static int begin_errno(dur_code c)
{
    return c == DUR_OK ? 0 : c == DUR_E_NOROOM ? ENOSPC : EIO;
}

int begin_op(dur_ns_op *op)
{
    return begin_errno(dur_ns_begin(g_fs.ns, op));
}

int begin_freeing_op(dur_ns_op *op)
{
    return begin_errno(dur_ns_begin_freeing(g_fs.ns, op));
}

int end_op(dur_ns_op *op, int sys_errno)
{
    dur_error err;
    dur_code c = dur_ns_end(op, &err);
    if (c == DUR_E_NOROOM)
        return ENOSPC; /* nothing applied; the journal logged it once */
    if (c != DUR_OK) {
        log_dur_error(g_fs.journal_where, &err);
        return EIO; /* the change may not survive a crash: never report success */
    }
    return sys_errno;
}

int sync_failure_errno(const dur_error *err)
{
    return err->sys_errno == ENOSPC || err->sys_errno == EDQUOT ? err->sys_errno : EIO;
}

int end_size_op(dur_ns_op *op, int sys_errno, dnode *n)
{
    int e = end_op(op, sys_errno);
    dnode_file *f = e && !sys_errno ? inode_file(n) : NULL;
    if (f)
        dur_file_state_note_lost_write(&f->st, EIO);
    return e;
}

static void h_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    unsigned want = 0;
    /* Writeback cache: writes are acknowledged from the page cache, and the
     * kernel flushes them to us before FLUSH and FSYNC (R12) -- fine for close
     * and ordered modes, but sync mode promises every write durable on return. */
    /* Not with -s either: before a rename of a file still open for writing the
     * kernel must be asked to write its pages back, and another thread serves
     * those WRITEs (ops_namespace.c). */
    if (g_fs.opt.mode != DUR_NS_SYNC && !g_fs.opt.single_thread)
        want |= FUSE_CAP_WRITEBACK_CACHE;
    want |= FUSE_CAP_DONT_MASK | FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_ATOMIC_O_TRUNC |
            FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_SPLICE_READ |
            FUSE_CAP_ASYNC_READ | FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO |
            FUSE_CAP_ASYNC_DIO;
    /* POSIX ACLs: the kernel enforces them (with default_permissions alone it
     * would check the mode bits only: a user an ACL denies could read, one it
     * grants could not).  Their xattrs pass through to BACKING, whose kernel
     * keeps the mode in sync and applies default ACLs to new objects, which we
     * create as the caller. */
    want |= FUSE_CAP_POSIX_ACL;
    conn->want |= want & conn->capable;
    /* not handled: nodes are not exportable (lookup of "." / ".." by NFS) */
    conn->want &= ~(FUSE_CAP_EXPORT_SUPPORT | FUSE_CAP_HANDLE_KILLPRIV);
    g_fs.writeback = (conn->want & FUSE_CAP_WRITEBACK_CACHE) != 0;
    g_dont_mask = (conn->want & FUSE_CAP_DONT_MASK) != 0;
    conn->max_write = 1u << 20;
    if (g_fs.opt.max_read)
        conn->max_read = g_fs.opt.max_read; /* libfuse requires init to agree with -o max_read */
    if (getenv("DURFS_TEST_BREAK_INIT"))    /* test hook: a connection libfuse refuses */
        conn->max_read = g_fs.opt.max_read + 1;
    conn->time_gran = 1;
    log_msg(LOG_DEBUG, "init: protocol %u.%u, writeback cache %s, max_write %u", conn->proto_major,
            conn->proto_minor, g_fs.writeback ? "on" : "off", conn->max_write);
}

static void h_destroy(void *userdata)
{
    (void)userdata;
}

/* Wrappers: time each handler (the reply is sent inside it). */
#define WRAP(name, params, args)                                                                   \
    static void w_##name params                                                                    \
    {                                                                                              \
        uint64_t t0 = stats_begin(OP_##name);                                                      \
        h_##name args;                                                                             \
        stats_end(OP_##name, t0);                                                                  \
    }

WRAP(lookup, (fuse_req_t r, fuse_ino_t p, const char *n), (r, p, n))
WRAP(forget, (fuse_req_t r, fuse_ino_t i, uint64_t n), (r, i, n))
WRAP(forget_multi, (fuse_req_t r, size_t c, struct fuse_forget_data *f), (r, c, f))
WRAP(getattr, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
WRAP(setattr, (fuse_req_t r, fuse_ino_t i, struct stat *a, int v, struct fuse_file_info *f),
     (r, i, a, v, f))
WRAP(readlink, (fuse_req_t r, fuse_ino_t i), (r, i))
WRAP(mknod, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m, dev_t d), (r, p, n, m, d))
WRAP(mkdir, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m), (r, p, n, m))
WRAP(unlink, (fuse_req_t r, fuse_ino_t p, const char *n), (r, p, n))
WRAP(rmdir, (fuse_req_t r, fuse_ino_t p, const char *n), (r, p, n))
WRAP(symlink, (fuse_req_t r, const char *l, fuse_ino_t p, const char *n), (r, l, p, n))
WRAP(rename, (fuse_req_t r, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn, unsigned f),
     (r, p, n, np, nn, f))
WRAP(link, (fuse_req_t r, fuse_ino_t i, fuse_ino_t np, const char *nn), (r, i, np, nn))
WRAP(open, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
WRAP(read, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *f),
     (r, i, s, o, f))
WRAP(write_buf,
     (fuse_req_t r, fuse_ino_t i, struct fuse_bufvec *b, off_t o, struct fuse_file_info *f),
     (r, i, b, o, f))
WRAP(flush, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
WRAP(release, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
WRAP(fsync, (fuse_req_t r, fuse_ino_t i, int d, struct fuse_file_info *f), (r, i, d, f))
WRAP(opendir, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
WRAP(readdir, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *f),
     (r, i, s, o, f))
WRAP(readdirplus, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *f),
     (r, i, s, o, f))
WRAP(releasedir, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
WRAP(fsyncdir, (fuse_req_t r, fuse_ino_t i, int d, struct fuse_file_info *f), (r, i, d, f))
WRAP(statfs, (fuse_req_t r, fuse_ino_t i), (r, i))
WRAP(setxattr, (fuse_req_t r, fuse_ino_t i, const char *n, const char *v, size_t s, int f),
     (r, i, n, v, s, f))
WRAP(getxattr, (fuse_req_t r, fuse_ino_t i, const char *n, size_t s), (r, i, n, s))
WRAP(listxattr, (fuse_req_t r, fuse_ino_t i, size_t s), (r, i, s))
WRAP(removexattr, (fuse_req_t r, fuse_ino_t i, const char *n), (r, i, n))
WRAP(access, (fuse_req_t r, fuse_ino_t i, int m), (r, i, m))
WRAP(create, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m, struct fuse_file_info *f),
     (r, p, n, m, f))
WRAP(fallocate, (fuse_req_t r, fuse_ino_t i, int m, off_t o, off_t l, struct fuse_file_info *f),
     (r, i, m, o, l, f))
WRAP(lseek, (fuse_req_t r, fuse_ino_t i, off_t o, int w, struct fuse_file_info *f), (r, i, o, w, f))
WRAP(copy_file_range,
     (fuse_req_t r, fuse_ino_t ii, off_t oi, struct fuse_file_info *fi, fuse_ino_t io, off_t oo,
      struct fuse_file_info *fo, size_t l, int f),
     (r, ii, oi, fi, io, oo, fo, l, f))

const struct fuse_lowlevel_ops durfs_ops = {
    .init = h_init,
    .destroy = h_destroy,
    /* names and attributes: ops_entry.c */
    .lookup = w_lookup,
    .forget = w_forget,
    .forget_multi = w_forget_multi,
    .getattr = w_getattr,
    .setattr = w_setattr,
    .readlink = w_readlink,
    .access = w_access,
    .statfs = w_statfs,
    /* namespace changes, journaled: ops_namespace.c */
    .mknod = w_mknod,
    .mkdir = w_mkdir,
    .symlink = w_symlink,
    .link = w_link,
    .unlink = w_unlink,
    .rmdir = w_rmdir,
    .rename = w_rename,
    /* directories: ops_dir.c */
    .opendir = w_opendir,
    .readdir = w_readdir,
    .readdirplus = w_readdirplus,
    .releasedir = w_releasedir,
    .fsyncdir = w_fsyncdir,
    /* file data: ops_file.c */
    .open = w_open,
    .create = w_create,
    .read = w_read,
    .write_buf = w_write_buf,
    .flush = w_flush,
    .release = w_release,
    .fsync = w_fsync,
    .fallocate = w_fallocate,
    .lseek = w_lseek,
    .copy_file_range = w_copy_file_range,
    /* extended attributes and the control interface: ops_xattr.c, control.c */
    .setxattr = w_setxattr,
    .getxattr = w_getxattr,
    .listxattr = w_listxattr,
    .removexattr = w_removexattr,
};
