/* durfs daemon: the request handlers (one per FUSE operation). ops.c maps them. */
#ifndef DURFS_OPS_H
#define DURFS_OPS_H

#include "durfs.h"

/* A regular file's handle (fi->fh): the backing fd in the low 32 bits, whether
 * the program opened it for writing (FH_WRITABLE: GETATTR's fi holds only fh),
 * and whether it opened it O_DSYNC (FH_DSYNC) or O_SYNC (also FH_SYNC).
 * The backing fd itself never has those flags (ops_file.c). */
#define FH_DSYNC ((uint64_t)1 << 32)
#define FH_SYNC ((uint64_t)1 << 33)
#define FH_WRITABLE ((uint64_t)1 << 34) /* opened for writing */
static inline int fh_fd(const struct fuse_file_info *fi)
{
    return (int)(fi->fh & 0xffffffffu);
}

/* ops_entry.c */
void h_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void h_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void h_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void h_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void h_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
               struct fuse_file_info *fi);
void h_readlink(fuse_req_t req, fuse_ino_t ino);
void h_access(fuse_req_t req, fuse_ino_t ino, int mask);
void h_statfs(fuse_req_t req, fuse_ino_t ino);
/* Clear n's set-id bits as a writer without CAP_FSETID must (KILLPRIV_V2,
 * fuse_io.c), journaled; fd: an fd of n.  *changed: the kernel's cached mode is
 * now stale (invalidate it after replying). */
int kill_suidgid(fuse_req_t req, dnode *n, int fd, bool *changed);

/* ops_namespace.c */
void h_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void h_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void h_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void h_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void h_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void h_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void h_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
              const char *newname, unsigned int flags);

/* ops_dir.c */
void h_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void h_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void h_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi);
void h_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void h_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

/* ops_file.c */
void h_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void h_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
              struct fuse_file_info *fi);
void h_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void h_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
                 struct fuse_file_info *fi);
void h_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void h_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void h_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void h_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 struct fuse_file_info *fi);
void h_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);
void h_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
                       struct fuse_file_info *fi_out, size_t len, int flags);

/* ops_xattr.c */
void h_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                int flags);
void h_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void h_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void h_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
/* n was just created by us: it has no security.capability (none is set at create). */
void xattr_note_created(dnode *n);
/* BACKING drops a file's security.capability on a truncation it makes itself
 * (open with O_TRUNC), where the kernel sends no REMOVEXATTR: xattr_fcaps_on
 * (fd: any non-O_PATH fd of n) tells whether it is there, and
 * xattr_log_fcaps_removed journals its removal (its own operation), or replay
 * would put back a capability set earlier. */
bool xattr_fcaps_on(dnode *n, int fd);
int xattr_log_fcaps_removed(dnode *n);

#endif
