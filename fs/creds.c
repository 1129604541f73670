/* durfs daemon: act as the caller for creating operations.
 *
 * Objects created through durfs must belong to the calling process exactly as on
 * a local filesystem: owner = caller's fsuid, group = caller's fsgid unless the
 * parent directory is setgid, supplementary groups for the backing permission
 * check and the setgid-bit rule, and the caller's umask -- or, when the parent
 * has a default ACL, the ACL instead of the umask.  The only exact way is to let
 * the backing filesystem do all of that while this thread carries the caller's
 * credentials:
 *   - fsuid/fsgid/groups via the raw syscalls, which change the calling thread
 *     only (glibc's wrappers change every thread of the process);
 *   - the umask: FUSE_CAP_DONT_MASK gives us the caller's umask unapplied; each
 *     worker thread unshares its fs_struct (CLONE_FS) once so umask() is per
 *     thread.
 * Switching fsuid away from 0 drops the filesystem capabilities of this thread,
 * so everything else (handles, journal I/O) must happen after creds_leave. */
#include "durfs.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

static _Thread_local bool t_unshared;
static gid_t g_orig_groups[256];
static int g_norig_groups = -1;
static bool g_unprivileged; /* not root: objects belong to us, as in any user FUSE fs */
bool g_dont_mask;           /* set by init when the kernel gives us the umask */

static int raw_setgroups(int n, const gid_t *list)
{
    return (int)syscall(SYS_setgroups, (size_t)n, list);
}

static int restore(void)
{
    syscall(SYS_setfsuid, 0);
    syscall(SYS_setfsgid, 0);
    if (g_norig_groups >= 0)
        raw_setgroups(g_norig_groups, g_orig_groups);
    return 0;
}

void creds_init(void)
{
    int n = getgroups(256, g_orig_groups);
    g_norig_groups = n < 0 ? 0 : n;
    g_unprivileged = geteuid() != 0;
}

int creds_enter(fuse_req_t req, creds_saved *s)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    s->switched = false;
    if (!t_unshared) {
        if (unshare(CLONE_FS) < 0) {
            log_msg(LOG_ERR, "unshare(CLONE_FS) failed: %m; cannot apply the caller's umask");
            return EIO;
        }
        t_unshared = true;
    }
    if (g_unprivileged) { /* cannot switch ids: apply the umask only */
        s->umask = umask(g_dont_mask ? ctx->umask : 0);
        s->switched = true;
        return 0;
    }
    if (ctx->uid != 0) {
        gid_t stack[64], *list = stack;
        int n = fuse_req_getgroups(req, 64, stack);
        if (n > 64) {
            list = malloc(sizeof(gid_t) * (size_t)n);
            if (!list)
                return ENOMEM;
            n = fuse_req_getgroups(req, n, list);
        }
        if (n < 0)
            n = 0; /* caller gone or /proc unreadable: primary group only */
        int r = raw_setgroups(n, list);
        if (list != stack)
            free(list);
        if (r < 0)
            return errno;
    }
    syscall(SYS_setfsgid, ctx->gid);
    syscall(SYS_setfsuid, ctx->uid);
    s->switched = true;
    /* setfs*id cannot report failure: read back to be sure */
    if ((uid_t)syscall(SYS_setfsuid, -1) != ctx->uid ||
        (gid_t)syscall(SYS_setfsgid, -1) != ctx->gid) {
        restore();
        s->switched = false;
        log_msg(LOG_ERR, "cannot switch to uid %u gid %u", (unsigned)ctx->uid, (unsigned)ctx->gid);
        return EPERM;
    }
    s->umask = umask(g_dont_mask ? ctx->umask : 0);
    return 0;
}

void creds_leave(creds_saved *s)
{
    if (!s->switched)
        return;
    int saved = errno;
    umask(s->umask);
    if (!g_unprivileged)
        restore();
    s->switched = false;
    errno = saved;
}
