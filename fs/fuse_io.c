/* durfs daemon: our own reads and writes of /dev/fuse (fuse_session_custom_io),
 * for one protocol feature libfuse 3.14 cannot negotiate: FUSE_HANDLE_KILLPRIV_V2.
 *
 * Why: a filesystem with xattrs gets a GETXATTR security.capability from the
 * kernel before every write(2) (file_remove_privs), a FUSE round trip on the
 * hot path of every small write.  With KILLPRIV_V2 the kernel marks the
 * superblock SB_NOSEC, so once an inode is found to have neither set-id bits
 * nor a capability it is flagged S_NOSEC and later writes ask nothing, until
 * its attributes are next fetched.
 *
 * The price: the filesystem clears set-id bits itself where the kernel says so
 * (fuse_kernel.h: "upon write/truncate suid/sgid is only killed if caller does
 * not have CAP_FSETID; sgid only with group execute"):
 *   - a WRITE with FUSE_WRITE_KILL_SUIDGID (write-through of a set-id file by a
 *     writer without CAP_FSETID; the writeback cache never caches those);
 *   - a SETATTR of the size with FATTR_KILL_SUIDGID (truncate(2), ftruncate(2)
 *     by such a caller), and of the owner (chown: BACKING's chown clears them);
 *   - an OPEN/CREATE with FUSE_OPEN_KILL_SUIDGID and O_TRUNC (durfs truncates
 *     as the caller anyway: truncate_opened, ops_file.c).
 * libfuse 3.14 drops those flags, so the read hook below notes them for the
 * worker thread that read the request: libfuse processes a request on the
 * thread that read it (fuse_do_work), before that thread reads again.
 *
 * The INIT reply is the one libfuse composed, with KILLPRIV_V2 added when the
 * kernel offered it (so an older kernel sees exactly libfuse's reply).  Splice:
 * requests are read with read(2), as libfuse does here (no splice_receive);
 * data replies keep splice (splice_send is plain splice(2)).
 */
#include "durfs.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

static atomic_uint_fast64_t g_init_unique; /* unique of the INIT request, 0 before */
static atomic_bool g_kernel_offers_killpriv_v2;
static atomic_bool g_killpriv_v2;         /* negotiated */
static _Thread_local bool t_kill_suidgid; /* the request this thread read asks it */

bool fuse_io_killpriv_v2(void)
{
    return atomic_load(&g_killpriv_v2);
}

bool fuse_io_request_kills_suidgid(void)
{
    return t_kill_suidgid;
}

/* What of a request we must see before libfuse drops it. */
static void note_request(const void *buf, size_t len)
{
    t_kill_suidgid = false;
    const struct fuse_in_header *in = buf;
    if (len < sizeof(*in))
        return;
    const char *arg = (const char *)buf + sizeof(*in);
    size_t arglen = len - sizeof(*in);
    switch (in->opcode) {
    case FUSE_INIT:
        if (arglen >= offsetof(struct fuse_init_in, flags2)) {
            const struct fuse_init_in *ii = (const void *)arg;
            atomic_store(&g_kernel_offers_killpriv_v2, (ii->flags & FUSE_HANDLE_KILLPRIV_V2) != 0);
            atomic_store(&g_init_unique, in->unique);
        }
        break;
    case FUSE_WRITE:
        if (arglen >= offsetof(struct fuse_write_in, lock_owner))
            t_kill_suidgid = (((const struct fuse_write_in *)(const void *)arg)->write_flags &
                              FUSE_WRITE_KILL_SUIDGID) != 0;
        break;
    case FUSE_SETATTR:
        if (arglen >= sizeof(uint32_t))
            t_kill_suidgid = (((const struct fuse_setattr_in *)(const void *)arg)->valid &
                              FATTR_KILL_SUIDGID) != 0;
        break;
    case FUSE_OPEN:
        if (arglen >= sizeof(struct fuse_open_in))
            t_kill_suidgid = (((const struct fuse_open_in *)(const void *)arg)->open_flags &
                              FUSE_OPEN_KILL_SUIDGID) != 0;
        break;
    case FUSE_CREATE:
        if (arglen >= sizeof(struct fuse_create_in))
            t_kill_suidgid = (((const struct fuse_create_in *)(const void *)arg)->open_flags &
                              FUSE_OPEN_KILL_SUIDGID) != 0;
        break;
    default:
        break;
    }
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
    (void)userdata;
    ssize_t r = read(fd, buf, len);
    if (r > 0)
        note_request(buf, (size_t)r);
    return r;
}

/* The INIT reply: iov[0] the header, iov[1] libfuse's fuse_init_out. */
static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
    (void)userdata;
    uint64_t init = atomic_load(&g_init_unique);
    const struct fuse_out_header *out = iov[0].iov_base;
    if (init && count == 2 && iov[0].iov_len == sizeof(*out) && out->unique == init &&
        out->error == 0 && iov[1].iov_len >= offsetof(struct fuse_init_out, max_write)) {
        atomic_store(&g_init_unique, 0);
        struct fuse_init_out reply;
        size_t n = iov[1].iov_len < sizeof(reply) ? iov[1].iov_len : sizeof(reply);
        memset(&reply, 0, sizeof(reply));
        memcpy(&reply, iov[1].iov_base, n);
        if (atomic_load(&g_kernel_offers_killpriv_v2)) {
            reply.flags |= FUSE_HANDLE_KILLPRIV_V2;
            atomic_store(&g_killpriv_v2, true);
        }
        log_msg(LOG_DEBUG, "init: FUSE_HANDLE_KILLPRIV_V2 %s",
                atomic_load(&g_killpriv_v2) ? "on" : "not offered by the kernel");
        struct iovec patched[2] = {iov[0], {.iov_base = &reply, .iov_len = n}};
        return writev(fd, patched, 2);
    }
    return writev(fd, iov, count);
}

static ssize_t io_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
                              unsigned int flags, void *userdata)
{
    (void)userdata;
    return splice(fdin, offin, fdout, offout, len, flags);
}

int fuse_io_install(struct fuse_session *se)
{
    static const struct fuse_custom_io io = {
        .read = io_read,
        .writev = io_writev,
        .splice_send = io_splice_send,
    };
    return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}
