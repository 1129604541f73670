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
 * so everything else (handles, journal I/O) must happen after creds_leave.
 *
 * Permission itself is the kernel's decision (default_permissions), made with
 * the caller's real credentials, capabilities included.  BACKING's check sees
 * only the ids, so a caller with CAP_DAC_OVERRIDE (a service given it by
 * systemd, say) would be refused a create the kernel allowed: creds_keep_caps
 * raises, for the creating call itself, the capabilities whose checks the
 * kernel has already made with the caller's own: CAP_DAC_OVERRIDE and
 * CAP_DAC_READ_SEARCH (permission), CAP_MKNOD (device nodes) and CAP_FSETID
 * (the kernel strips the setgid bit from the requested mode before it reaches
 * us, so BACKING must not strip it again for a caller allowed to keep it).
 * Ownership, umask, setgid inheritance and default ACLs stay with the ids.
 *
 * Cost: a full switch and its undo are nine syscalls around every create.  A
 * root:root caller of a root:root daemon (the common case) needs no id switch:
 * it would set what is already set, and root callers keep the daemon's groups
 * either way.  The umask calls are skipped when the thread already has the
 * caller's umask. */
#include "durfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

static _Thread_local bool t_unshared;
static _Thread_local mode_t t_umask; /* this thread's umask outside creds_enter */
static _Thread_local bool t_home_caps_known;
static _Thread_local struct __user_cap_data_struct t_home_caps[2]; /* outside creds_enter */
static gid_t g_orig_groups[256];
static bool g_root_root; /* daemon runs as uid 0, gid 0: what restore() goes back to */
static mode_t g_umask;   /* the process umask at start, inherited by unsharing threads */
static int g_norig_groups = -1;
static bool g_unprivileged;   /* not root: objects belong to us, as in any user FUSE fs */
bool g_dont_mask;             /* set by init when the kernel gives us the umask */
static struct stat g_user_ns; /* the daemon's user namespace (/proc/self/ns/user) */
static bool g_user_ns_known;

static int raw_setgroups(int n, const gid_t *list)
{
    return (int)syscall(SYS_setgroups, (size_t)n, list);
}

/* Capabilities are per thread (pid 0); creds_leave puts the thread's own back. */
static bool cap_get(struct __user_cap_data_struct d[2])
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    return syscall(SYS_capget, &h, d) == 0;
}

static bool cap_set(struct __user_cap_data_struct d[2])
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    return syscall(SYS_capset, &h, d) == 0;
}

static int restore(bool groups)
{
    syscall(SYS_setfsuid, 0);
    syscall(SYS_setfsgid, 0);
    if (groups && g_norig_groups >= 0)
        raw_setgroups(g_norig_groups, g_orig_groups);
    return 0;
}

void creds_init(void)
{
    int n = getgroups(256, g_orig_groups);
    g_norig_groups = n < 0 ? 0 : n;
    g_unprivileged = geteuid() != 0;
    g_root_root = geteuid() == 0 && getegid() == 0;
    g_umask = umask(0);
    umask(g_umask);
    g_user_ns_known = stat("/proc/self/ns/user", &g_user_ns) == 0;
}

/* The caller's umask on this thread; remembers the one to go back to. */
static void umask_enter(const struct fuse_ctx *ctx, creds_saved *s)
{
    mode_t want = g_dont_mask ? ctx->umask : 0;
    s->umask = t_umask;
    s->umask_set = want != t_umask;
    if (s->umask_set)
        umask(want);
}

/* Acting as the caller changes nothing but the umask: the thread already has
 * fsuid 0 and fsgid 0 (from the start, and restore() goes back to them), and a
 * root caller keeps the daemon's groups anyway (see creds_enter). */
static bool caller_is_daemon(const struct fuse_ctx *ctx)
{
    return g_root_root && ctx->uid == 0 && ctx->gid == 0;
}

/* Before any switch on this thread: its own capability set, which creds_leave
 * puts back. */
static void capture_home_caps(void)
{
    if (!t_home_caps_known)
        t_home_caps_known = cap_get(t_home_caps);
}

/* The caller's supplementary groups into stack (room for cap) or, when more, a
 * malloc'ed *list (free it if != stack).  Returns their count (0 when the
 * caller is gone or /proc unreadable: primary group only), -1 for ENOMEM. */
static int caller_groups(fuse_req_t req, gid_t *stack, int cap, gid_t **list)
{
    *list = stack;
    int n = fuse_req_getgroups(req, cap, stack);
    if (n > cap) {
        int room = n;
        *list = malloc(sizeof(gid_t) * (size_t)room);
        if (!*list)
            return -1;
        n = fuse_req_getgroups(req, room, *list);
        if (n > room) /* the caller joined groups meanwhile: the first `room` */
            n = room;
    }
    return n < 0 ? 0 : n;
}

bool creds_caller_in_group(fuse_req_t req, gid_t gid)
{
    if (fuse_req_ctx(req)->gid == gid)
        return true;
    gid_t stack[64], *list;
    int n = caller_groups(req, stack, 64, &list);
    bool in = false;
    for (int i = 0; i < n && !in; i++)
        in = list[i] == gid;
    if (list != stack)
        free(list);
    return in;
}

int creds_enter(fuse_req_t req, creds_saved *s)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    *s = (creds_saved){0};
    capture_home_caps();
    if (!t_unshared) {
        if (unshare(CLONE_FS) < 0) {
            log_msg(LOG_ERR, "unshare(CLONE_FS) failed: %m; cannot apply the caller's umask");
            return EIO;
        }
        t_unshared = true;
        t_umask = g_umask; /* unshare copies the process's fs_struct */
    }
    if (g_unprivileged || caller_is_daemon(ctx)) { /* no id switch: the umask only */
        umask_enter(ctx, s);
        s->switched = true;
        return 0;
    }
    if (ctx->uid != 0) {
        gid_t stack[64], *list;
        int n = caller_groups(req, stack, 64, &list);
        if (n < 0)
            return ENOMEM;
        int r = raw_setgroups(n, list);
        if (list != stack)
            free(list);
        if (r < 0)
            return errno;
    }
    syscall(SYS_setfsgid, ctx->gid);
    syscall(SYS_setfsuid, ctx->uid);
    s->switched = true;
    s->ids_switched = true;
    /* setfs*id cannot report failure: read back to be sure */
    if ((uid_t)syscall(SYS_setfsuid, -1) != ctx->uid ||
        (gid_t)syscall(SYS_setfsgid, -1) != ctx->gid) {
        restore(true);
        s->switched = false;
        log_msg(LOG_ERR, "cannot switch to uid %u gid %u", (unsigned)ctx->uid, (unsigned)ctx->gid);
        return EPERM;
    }
    umask_enter(ctx, s);
    return 0;
}

/* Effective bits `mask` of this thread := `bits` (within its permitted set).  Only
 * once the thread's own set is known: creds_leave puts exactly that back, since
 * restore()'s setfsuid(0) re-raises nothing when fsuid never left 0. */
static bool set_effective(creds_saved *s, __u32 mask, __u32 bits)
{
    struct __user_cap_data_struct d[2];
    if (!t_home_caps_known || !cap_get(d))
        return false;
    d[0].effective = (d[0].effective & ~mask) | (bits & mask & d[0].permitted);
    s->caps_touched = true;
    return cap_set(d);
}

#define CAP_BIT(c) ((__u32)1 << (c))
/* What the kernel checked with the caller's own capabilities before a create. */
static const __u32 CREATE_CHECKED = CAP_BIT(CAP_DAC_OVERRIDE) | CAP_BIT(CAP_DAC_READ_SEARCH) |
                                    CAP_BIT(CAP_MKNOD) | CAP_BIT(CAP_FSETID);

/* CAP_SYS_RESOURCE goes in the same capset: the id switch keeps it, and with it
 * a user's mkdir or create could take ext4's blocks reserved for root (see
 * creds_enter_data_owner). */
void creds_keep_caps(creds_saved *s)
{
    if (s->ids_switched && !s->caps_raised)
        s->caps_raised =
            set_effective(s, CREATE_CHECKED | CAP_BIT(CAP_SYS_RESOURCE), CREATE_CHECKED);
}

void creds_drop_caps(creds_saved *s)
{
    if (s->caps_raised)
        s->caps_raised = !set_effective(s, CREATE_CHECKED, 0);
}

/* Whether PID lives in the daemon's user namespace.  Capabilities count in
 * the namespace that holds them: a caller in a user namespace of its own (e.g.
 * `unshare -Ur`) has a full CapEff there and none where BACKING is checked. */
static bool in_our_user_ns(pid_t pid)
{
    char path[64];
    struct stat theirs;
    if (pid <= 0)
        return false;
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
    return g_user_ns_known && stat(path, &theirs) == 0 && theirs.st_dev == g_user_ns.st_dev &&
           theirs.st_ino == g_user_ns.st_ino;
}

/* The caller's effective capabilities (bits 0-31) from /proc/PID/status, where
 * libfuse reads its groups too; none outside our user namespace; false if the
 * caller is gone or cannot be seen (pid 0: the daemon runs in another pid
 * namespace than the caller, e.g. in a container). */
static bool caller_caps(pid_t pid, __u32 *eff)
{
    char path[64], buf[4096];
    if (pid <= 0)
        return false;
    if (!in_our_user_ns(pid)) {
        *eff = 0;
        return true;
    }
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *p = strstr(buf, "\nCapEff:");
    if (!p)
        return false;
    *eff = (__u32)strtoull(p + strlen("\nCapEff:"), NULL, 16);
    return true;
}

bool creds_caller_has_cap(fuse_req_t req, int cap)
{
    __u32 eff;
    return cap < 32 && caller_caps(fuse_req_ctx(req)->pid, &eff) && (eff & CAP_BIT(cap));
}

bool creds_caller_lacks_cap(fuse_req_t req, int cap)
{
    __u32 eff;
    return cap < 32 && caller_caps(fuse_req_ctx(req)->pid, &eff) && !(eff & CAP_BIT(cap));
}

bool creds_caller_in_our_user_ns(fuse_req_t req)
{
    return in_our_user_ns(fuse_req_ctx(req)->pid);
}

void creds_caller_fsetid(fuse_req_t req, creds_saved *s)
{
    __u32 eff;
    if (caller_caps(fuse_req_ctx(req)->pid, &eff))
        set_effective(s, CAP_BIT(CAP_FSETID), eff);
}

void creds_for_access_acl(fuse_req_t req, creds_saved *s)
{
    set_effective(s, CAP_BIT(CAP_FOWNER), CAP_BIT(CAP_FOWNER));
    creds_caller_fsetid(req, s);
}

/* Data written for a file's owner: on a local filesystem the writer's fsuid
 * and CAP_SYS_RESOURCE at write(2) decide whether its blocks may come from
 * ext4's reserve for root (reserved block count, 5% by default) and whether a
 * quota hard limit stops it.  The daemon writes as root, so every user could
 * fill BACKING to the last block and pass their quota.  Under the writeback
 * cache the kernel writes data back with no writer attached, so the file's
 * owner stands for it: fsuid/fsgid become the owner's and CAP_SYS_RESOURCE
 * goes.  CAP_FSETID stays: the kernel already cleared the set-id bits where the
 * real writer had to lose them, and BACKING must not clear them a second time
 * for a writer allowed to keep them.  Nothing to do for a root-owned file. */
void creds_enter_data_owner(uid_t uid, gid_t gid, creds_saved *s)
{
    *s = (creds_saved){0};
    if (g_unprivileged || uid == 0)
        return;
    capture_home_caps();
    syscall(SYS_setfsgid, gid);
    syscall(SYS_setfsuid, uid);
    s->switched = true;
    s->ids_switched = true;
    s->keep_groups = true;
    set_effective(s, CAP_BIT(CAP_SYS_RESOURCE) | CAP_BIT(CAP_FSETID), CAP_BIT(CAP_FSETID));
}

void creds_leave(creds_saved *s)
{
    if (!s->switched)
        return;
    int saved = errno;
    if (s->umask_set)
        umask(s->umask);
    if (s->ids_switched)
        restore(!s->keep_groups);
    if (s->caps_touched && !cap_set(t_home_caps))
        log_msg(LOG_ERR, "cannot restore this thread's capabilities: %m");
    s->switched = false;
    errno = saved;
}
