/* durfs daemon: aborting our own FUSE connection when the daemon cannot answer.
 *
 * A rename of a file still open for writing has the kernel write the file's
 * cached pages back first (ops_namespace.c, write_back_kernel_pages): the
 * notification waits inside the kernel, uninterruptibly, for WRITEs that other
 * worker threads answer.  Should the daemon die meanwhile (SIGKILL, a crash, the
 * OOM killer), nobody answers: the waiting thread never leaves the kernel, so the
 * process never finishes dying, never closes /dev/fuse, and the mount and
 * BACKING's lock stay held for good.  And at an exit request libfuse stops its
 * workers while such a wait may be on, then waits for them forever.
 *
 * Writing to the connection's abort file (fusectl, /sys/fs/fuse/connections/N)
 * ends every request of the connection, the waiting one too.  So:
 *  - a watchdog process, forked from the main thread before the request loop
 *    and holding nothing but a pipe (no /dev/fuse, no lock), learns N once the
 *    mount is up and aborts the connection when the main thread dies
 *    (PR_SET_PDEATHSIG); the daemon closing the pipe at a normal end dismisses
 *    it;
 *  - at an exit request the daemon aborts the connection itself if a write-back
 *    wait is still on after CONN_ABORT_GRACE_MS (conn_abort_watch).
 * The kernel's notification returns success even when the write-back failed, so
 * a rename asks the connection afterwards (conn_is_aborted) whether the pages
 * could have come.  And libfuse leaves an aborted connection's mount in place
 * (fuse_kern_unmount skips the umount on POLLERR): conn_abort_unmount detaches
 * it, or the next durfs on MOUNTPOINT (or BACKING itself, when the same) would
 * find a dead mount.
 * A core dump (SIGSEGV, SIGABRT) waits for every thread, the stuck one too, so
 * the main thread never ends: the watchdog also looks for CoreDumping each second.
 * Where the abort file cannot be had (fusectl not mountable, not root) it says
 * so at mount: such a death would then need `echo 1 > .../abort` by hand.
 */
#include "durfs.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define FUSECTL_DIR "/sys/fs/fuse/connections"
#define FUSECTL_SUPER_MAGIC 0x65735543
#define CONN_ABORT_GRACE_MS 2000

static int g_pipe_w = -1; /* to the watchdog: the connection number, then EOF */
static pid_t g_watchdog = -1;
static int g_abort_fd = -1;
static dev_t g_mount_dev; /* the mount's st_dev, to know it again after an abort */
static volatile sig_atomic_t g_parent_died;
/* Whether conn_abort_watch may still look at the session (main ends it before
 * destroying the session). */
static pthread_mutex_t g_watch_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_watching;

bool conn_is_aborted(void)
{
    /* /dev/fuse polls POLLERR once the connection is aborted, by whoever: us,
     * the watchdog, `umount -f`, an operator's write to fusectl */
    struct pollfd p = {.fd = fuse_session_fd(g_fs.se), .events = POLLIN};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL));
}

static void on_parent_death(int sig)
{
    (void)sig;
    g_parent_died = 1;
}

/* prefix, v in decimal, suffix into out (at most 64 bytes) without stdio: the
 * watchdog runs in a child of a multithreaded process, async-signal-safe calls
 * only. */
static void path_with_number(char out[64], const char *prefix, unsigned v, const char *suffix)
{
    char digits[16];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < (int)sizeof digits);
    size_t len = strlen(prefix);
    assert(len + (size_t)n + strlen(suffix) < 64);
    for (size_t i = 0; i < len; i++)
        out[i] = prefix[i];
    while (n)
        out[len++] = digits[--n];
    memcpy(out + len, suffix, strlen(suffix) + 1);
}

static void abort_path(char out[64], unsigned conn)
{
    path_with_number(out, FUSECTL_DIR "/", conn, "/abort");
}

static bool read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t r = read(fd, p, len);
        if (r <= 0)
            return false;
        p += r;
        len -= (size_t)r;
    }
    return true;
}

/* "CoreDumping:\t1" in /proc/<pid>/status (async-signal-safe: no stdio). */
static bool core_dumping(pid_t pid)
{
    char path[64];
    path_with_number(path, "/proc/", (unsigned)pid, "/status");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[4096];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    static const char key[] = "\nCoreDumping:\t1";
    for (size_t i = 0; i + sizeof key - 1 <= got; i++)
        if (memcmp(buf + i, key, sizeof key - 1) == 0)
            return true;
    return false;
}

/* The watchdog: abort connection conn once the daemon's main thread is gone, or
 * once the daemon dumps core: a core dump waits for every thread, the one stuck
 * in the write-back too, so the main thread never exits to send SIGUSR1. */
static void watchdog(int rfd, pid_t daemon)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_parent_death;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t blocked, waiting;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    sigprocmask(SIG_BLOCK, &blocked, &waiting);
    sigdelset(&waiting, SIGUSR1);
    if (prctl(PR_SET_PDEATHSIG, SIGUSR1) != 0 || getppid() != daemon)
        _exit(0);
    unsigned conn;
    if (!read_all(rfd, &conn, sizeof conn))
        _exit(0); /* dismissed before the mount was up */
    char path[64];
    abort_path(path, conn);
    int afd = open(path, O_WRONLY | O_CLOEXEC);
    if (afd < 0)
        _exit(1);
    struct pollfd p = {.fd = rfd, .events = POLLIN};
    const struct timespec tick = {.tv_sec = 1, .tv_nsec = 0};
    for (;;) {
        int r = ppoll(&p, 1, &tick, &waiting); /* SIGUSR1 only while waiting here */
        if (r == 0 && core_dumping(daemon))
            g_parent_died = 1;
        if (g_parent_died) {
            if (write(afd, "1", 1) < 0) {
                /* the connection is gone already: nothing to free */
            }
            _exit(0);
        }
        if (r > 0) {
            char c;
            if (read(rfd, &c, 1) <= 0)
                _exit(0); /* dismissed: a normal end */
        }
    }
}

void conn_abort_watchdog_start(void)
{
    pthread_mutex_lock(&g_watch_mu);
    g_watching = true;
    pthread_mutex_unlock(&g_watch_mu);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        log_msg(LOG_WARNING, "no connection watchdog (pipe: %m)");
        return;
    }
    pid_t daemon = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* nothing but the pipe: no /dev/fuse, no BACKING lock, no journal, and no
         * stdio a caller of durfs may be reading to its end */
        if (p[0] != 3 && dup2(p[0], 3) != 3)
            _exit(1);
        int null = open("/dev/null", O_RDWR);
        for (int fd = 0; null >= 0 && fd < 3; fd++)
            dup2(null, fd);
        close_range(4, ~0U, 0);
        /* out of the daemon's process group and session, deaf to its terminal
         * and stop signals: what kills the daemon's group must leave this one */
        setsid();
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);
        watchdog(3, daemon);
    }
    close(p[0]);
    if (pid < 0) {
        log_msg(LOG_WARNING, "no connection watchdog (fork: %m)");
        close(p[1]);
        return;
    }
    g_watchdog = pid;
    g_pipe_w = p[1];
}

/* fusectl, mounted if it is not (as systemd does at boot). */
static bool fusectl_ready(void)
{
    struct statfs sf;
    if (statfs(FUSECTL_DIR, &sf) == 0 && sf.f_type == FUSECTL_SUPER_MAGIC)
        return true;
    return mount("fusectl", FUSECTL_DIR, "fusectl", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0;
}

void conn_abort_arm(const struct stat *mount_root)
{
    unsigned conn = minor(mount_root->st_dev);
    g_mount_dev = mount_root->st_dev;
    char path[64];
    abort_path(path, conn);
    if (major(mount_root->st_dev) != 0 || !fusectl_ready() ||
        (g_abort_fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
        log_msg(LOG_WARNING,
                "cannot open %s (%m): should durfs die while a rename waits for the kernel's "
                "write-back of an open file, the mount would hang until `mount -t fusectl "
                "none " FUSECTL_DIR "` (if not mounted) and `echo 1 > %s`",
                path, path);
        if (g_pipe_w >= 0)
            close(g_pipe_w); /* a watchdog without a connection to guard: dismissed */
        g_pipe_w = -1;
        return;
    }
    if (g_pipe_w >= 0 && write(g_pipe_w, &conn, sizeof conn) != (ssize_t)sizeof conn)
        log_msg(LOG_WARNING, "connection watchdog unreachable: %m");
}

void conn_abort_watch(struct fuse_session *se)
{
    unsigned stuck_ms = 0;
    for (;;) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 200 * 1000000L};
        nanosleep(&tick, NULL);
        pthread_mutex_lock(&g_watch_mu);
        bool watching = g_watching;
        bool waiting = watching && fuse_session_exited(se) && renames_writing_back() > 0;
        pthread_mutex_unlock(&g_watch_mu);
        if (!watching)
            return;
        stuck_ms = waiting ? stuck_ms + 200 : 0;
        if (stuck_ms >= CONN_ABORT_GRACE_MS && g_abort_fd >= 0) {
            log_msg(LOG_WARNING,
                    "exiting while %u rename(s) wait for the kernel's write-back of "
                    "open files, which no worker serves now: aborting the connection",
                    renames_writing_back());
            if (write(g_abort_fd, "1", 1) < 0)
                log_msg(LOG_ERR, "aborting the FUSE connection: %m");
            return;
        }
    }
}

void conn_abort_unwatch(void)
{
    pthread_mutex_lock(&g_watch_mu);
    g_watching = false;
    pthread_mutex_unlock(&g_watch_mu);
}

void conn_abort_unmount(const char *mnt)
{
    struct stat st; /* the root's attributes may still be cached: stat can succeed */
    if (stat(mnt, &st) == 0 ? st.st_dev != g_mount_dev : errno != ENOTCONN)
        return;
    if (umount2(mnt, MNT_DETACH) == 0)
        return;
    int e = errno;
    pid_t pid = e == EPERM ? fork() : -1;
    if (pid == 0) {
        execlp("fusermount3", "fusermount3", "-u", "-z", "-q", mnt, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return;
    log_msg(LOG_WARNING, "the aborted mount at %s is still there (%s): `umount %s`", mnt,
            strerror(e), mnt);
}

void conn_abort_watchdog_stop(void)
{
    if (g_pipe_w >= 0)
        close(g_pipe_w); /* EOF: dismissed */
    g_pipe_w = -1;
    if (g_watchdog > 0)
        waitpid(g_watchdog, NULL, 0);
    g_watchdog = -1;
    if (g_abort_fd >= 0)
        close(g_abort_fd);
    g_abort_fd = -1;
}
