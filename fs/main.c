/* durfs daemon: startup, mount, daemon mode, shutdown.
 *
 * Order matters:
 *   1. options and checks, each failure a one-line message (exit 2 for usage,
 *      1 for everything else);
 *   2. without -f, fork now, before any thread exists (the journal starts a
 *      committer thread, which a later fork would lose); the parent waits on a
 *      pipe and exits with the child's status once the mount is ready or failed;
 *   3. open BACKING's fd BEFORE mounting (BACKING may equal MOUNTPOINT), then
 *      dur_ns_open: lock, probe, RECOVER -- so the first request already sees the
 *      recovered tree;
 *   4. mount, serve, and tell the parent once a stat of MOUNTPOINT went through
 *      (the kernel's INIT answered: libfuse can still refuse the connection
 *      after our init, and the parent must not exit 0 for a dead mount);
 *   5. SIGTERM/SIGINT/umount end the loop; dur_ns_close writes the final
 *      checkpoint; exit 0. */
#include "durfs.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

durfs g_fs;

#define FD_CACHE_SLOTS 4096

static int g_ready_pipe = -1; /* daemon mode: tells the waiting parent */

static void tell_parent(unsigned char status)
{
    if (g_ready_pipe < 0)
        return;
    ssize_t w = write(g_ready_pipe, &status, 1);
    (void)w;
    close(g_ready_pipe);
    g_ready_pipe = -1;
}

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int status, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "durfs: %s\n", line);
    tell_parent((unsigned char)status);
    return status;
}

/* Fork; the parent waits for the child's verdict.  Returns in the child only. */
static void fork_daemon(void)
{
    int p[2];
    if (pipe(p) < 0) {
        perror("durfs: pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("durfs: fork");
        exit(1);
    }
    if (pid > 0) {
        close(p[1]);
        unsigned char status = 1;
        ssize_t r;
        do
            r = read(p[0], &status, 1);
        while (r < 0 && errno == EINTR);
        _exit(r == 1 ? status : 1);
    }
    close(p[0]);
    g_ready_pipe = p[1];
    setsid();
}

static void detach_stdio(void)
{
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    if (chdir("/") < 0) { /* nothing else depends on the cwd */
    }
}

static int check_dirs(const durfs_options *o)
{
    g_fs.backing_fd = open(o->backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (g_fs.backing_fd < 0) {
        if (errno == ENOTDIR)
            return fail(1, "BACKING %s is not a directory", o->backing);
        return fail(1, "cannot open BACKING %s: %s", o->backing, strerror(errno));
    }
    struct stat bst, mst;
    if (fstat(g_fs.backing_fd, &bst) < 0)
        return fail(1, "cannot stat BACKING %s: %s", o->backing, strerror(errno));
    g_fs.backing_dev = bst.st_dev;
    if (!realpath(o->backing, g_fs.backing_abs))
        return fail(1, "cannot resolve BACKING %s: %s", o->backing, strerror(errno));
    if (stat(o->mountpoint, &mst) < 0)
        return fail(1, "MOUNTPOINT %s: %s", o->mountpoint, strerror(errno));
    if (!S_ISDIR(mst.st_mode))
        return fail(1, "MOUNTPOINT %s is not a directory", o->mountpoint);
    if (!realpath(o->mountpoint, g_fs.mount_abs))
        return fail(1, "cannot resolve MOUNTPOINT %s: %s", o->mountpoint, strerror(errno));
    bool same = bst.st_dev == mst.st_dev && bst.st_ino == mst.st_ino;
    if (!same && !o->nonempty) {
        int fd = open(o->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d)
            return fail(1, "cannot read MOUNTPOINT %s: %s", o->mountpoint, strerror(errno));
        struct dirent *de;
        bool empty = true;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                empty = false;
        closedir(d);
        if (!empty)
            return fail(1, "MOUNTPOINT %s is not empty (use -o nonempty to mount over it)",
                        o->mountpoint);
    }
    return 0;
}

/* Can we name inodes by handle and reopen them?  Needs handles on the backing fs
 * and CAP_DAC_READ_SEARCH. */
static bool handles_work(void)
{
    if (!g_fs.fs.has_handles)
        return false;
    const char *force = getenv("DURFS_TEST_NO_HANDLES"); /* tests of the fallback */
    if (force && strcmp(force, "1") == 0)
        return false;
    dur_fh fh;
    dur_error err;
    int fd;
    if (dur_fh_get(g_fs.backing_fd, "", &fh, &err) != DUR_OK)
        return false;
    if (dur_fh_open(g_fs.backing_fd, &fh, O_PATH, &fd, &err) != DUR_OK)
        return false;
    close(fd);
    return true;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* `umount` returns before the old daemon has written its final checkpoint and
 * released BACKING's lock, so `umount X && durfs B X` could fail with "in use".
 * The old daemon closes /dev/fuse (fuse_session_destroy) before that checkpoint:
 * a holder without /dev/fuse open is exiting, and is worth waiting for. */
static long lock_holder_pid(const dur_error *err)
{
    const char *p = strstr(err->msg, "locked by pid ");
    return p ? strtol(p + strlen("locked by pid "), NULL, 10) : 0;
}

static bool holder_serves_fuse(long pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%ld/fd", pid);
    DIR *d = opendir(dir);
    if (!d)
        return errno != ENOENT; /* cannot look (EACCES): assume it serves */
    bool serves = false;
    struct dirent *e;
    while (!serves && (e = readdir(d)) != NULL) {
        char link[PATH_MAX], target[64];
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            serves = strcmp(target, "/dev/fuse") == 0;
        }
    }
    closedir(d);
    return serves;
}

/* umount also returns before the old daemon's request loop has ended and
 * fuse_session_destroy has closed /dev/fuse: a holder still serving it right
 * after an unmount may be about to exit.  Give it a moment (bounded) before
 * calling BACKING in use. */
static bool holder_leaves_fuse(long pid)
{
    for (int i = 0; i < 40; i++) { /* 2 s */
        if (!holder_serves_fuse(pid))
            return true;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static int open_journal(const durfs_options *o)
{
    dur_error err;
    if (dur_fs_probe(g_fs.backing_fd, &g_fs.fs, &err) != DUR_OK) {
        char buf[1024];
        return fail(1, "cannot probe the filesystem of BACKING %s: %s", g_fs.backing_abs,
                    dur_error_format(&err, buf, sizeof(buf)));
    }
    g_fs.handles = handles_work();
    /* Errors name files relative to the journal (or BACKING/.durfs): say which. */
    if (o->journal_dir)
        snprintf(g_fs.journal_where, sizeof g_fs.journal_where, "journal %s", o->journal_dir);
    else
        snprintf(g_fs.journal_where, sizeof g_fs.journal_where, "journal %s/%s/journal",
                 g_fs.backing_abs, DUR_NS_RESERVED_NAME);
    dur_ns_options no;
    dur_ns_options_default(&no);
    no.mode = o->mode;
    no.commit_seconds = o->commit_seconds;
    no.journal_dir = o->journal_dir;
    no.covered_dir = g_fs.mount_abs;
    if (o->checkpoint_mb)
        no.checkpoint_bytes = (uint64_t)o->checkpoint_mb << 20;
    if (o->checkpoint_secs)
        no.checkpoint_seconds = o->checkpoint_secs;
    no.data_journal_max = o->data_journal;
    no.log = log_ns_callback;
    no.read_only = o->read_only;
    dur_code c = dur_ns_open(g_fs.backing_fd, &no, &g_fs.ns, &g_fs.recovery, &err);
    /* A daemon that was just unmounted still holds the lock for its final
     * checkpoint: wait for it (bounded: a guard, it normally takes milliseconds). */
    long exiting = c == DUR_E_LOCKED ? lock_holder_pid(&err) : 0;
    if (exiting > 0 && holder_leaves_fuse(exiting)) {
        log_msg(LOG_NOTICE, "waiting for durfs (pid %ld) to finish its final checkpoint of %s",
                exiting, g_fs.backing_abs);
        for (int i = 0; i < 1200 && c == DUR_E_LOCKED && lock_holder_pid(&err) == exiting &&
                        !holder_serves_fuse(exiting);
             i++) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
            c = dur_ns_open(g_fs.backing_fd, &no, &g_fs.ns, &g_fs.recovery, &err);
        }
    }
    if (c != DUR_OK) {
        char buf[1024];
        dur_error_format(&err, buf, sizeof(buf));
        if (c == DUR_E_LOCKED)
            return fail(1, "BACKING %s is in use by another durfs: %s", g_fs.backing_abs, buf);
        return fail(1, "cannot open the %s of BACKING %s: %s", g_fs.journal_where, g_fs.backing_abs,
                    buf);
    }
    /* dur_ns_open made it (unless read-only and never journaled); nothing
     * through the mount can add or remove it */
    struct stat rs;
    g_fs.reserved_is_dir =
        fstatat(g_fs.backing_fd, DUR_NS_RESERVED_NAME, &rs, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISDIR(rs.st_mode);
    return 0;
}

/* The journal already logged the recovery report and, on tmpfs/ramfs, the loud
 * "nothing survives a power cut" warning (through log_ns_callback). */
static void log_mount_info(const durfs_options *o)
{
    dur_ns_status *s = calloc(1, sizeof(*s));
    if (s)
        dur_ns_get_status(g_fs.ns, s);
    log_msg(LOG_INFO, "mounting %s at %s: backing fs %s%s, durability=%s%s, journal %s",
            g_fs.backing_abs, g_fs.mount_abs, g_fs.fs.name,
            g_fs.fs.is_volatile ? " (VOLATILE)" : "", dur_ns_mode_name(o->mode),
            o->read_only ? " (read-only)" : "", s ? s->journal_dir : "?");
    free(s);
    if (!g_fs.handles) {
        struct rlimit rl = {0};
        getrlimit(RLIMIT_NOFILE, &rl);
        log_msg(LOG_WARNING,
                "file handles unavailable on %s (%s): keeping one O_PATH fd per inode, so "
                "the number of inodes in use is limited by the fd limit (%llu)",
                g_fs.backing_abs,
                g_fs.fs.has_handles ? "no CAP_DAC_READ_SEARCH" : "filesystem has none",
                (unsigned long long)rl.rlim_cur);
    }
}

/* Run as root, durfs mounts as BACKING's own directory behaves: every user may
 * enter (allow_other, added by make_session; with default_permissions, always
 * on, the kernel checks permissions as a local filesystem does), and the
 * nosuid/nodev/noexec of BACKING's mount apply (these flags).  libfuse alone
 * lets only the mounting user in and mounts nosuid,nodev: a service running as
 * its own user could not reach its data, a device node made through durfs would
 * not open.  The user's -o options come later and still win. */
static const char *root_mount_flags(void)
{
    struct statvfs sv;
    if (geteuid() != 0 || fstatvfs(g_fs.backing_fd, &sv) != 0)
        return "";
    static char flags[48];
    snprintf(flags, sizeof flags, ",%s,%s%s", (sv.f_flag & ST_NOSUID) ? "nosuid" : "suid",
             (sv.f_flag & ST_NODEV) ? "nodev" : "dev", (sv.f_flag & ST_NOEXEC) ? ",noexec" : "");
    return flags;
}

static struct fuse_session *make_session(const durfs_options *o, char *argv0)
{
    /* fsname is BACKING's path, escaped for libfuse's option parser */
    char fsname[2 * sizeof(g_fs.backing_abs)], *w = fsname;
    for (const char *p = g_fs.backing_abs; *p; p++) {
        if (*p == ',' || *p == '\\')
            *w++ = '\\';
        *w++ = *p;
    }
    *w = '\0';
    char opts[sizeof(fsname) + 2048 + 128];
    /* default_permissions: the kernel checks permissions like a local fs */
    snprintf(opts, sizeof(opts), "default_permissions,fsname=%s,subtype=durfs%s%s%s%s%s", fsname,
             o->allow_other || geteuid() == 0 ? ",allow_other" : "", root_mount_flags(),
             o->read_only ? ",ro" : "", o->fuse_opts[0] ? "," : "", o->fuse_opts);
    char *args_v[] = {argv0, "-o", opts, o->debug ? "-d" : NULL, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(o->debug ? 4 : 3, args_v);
    struct fuse_session *se = fuse_session_new(&args, &durfs_ops, sizeof(durfs_ops), NULL);
    fuse_opt_free_args(&args); /* libfuse may have copied and extended them */
    return se;
}

/* Runs beside the request loop: a stat of MOUNTPOINT returns only once INIT and a
 * GETATTR have gone through it.  Then it watches for an exit stuck on a rename's
 * write-back (conn_abort.c). */
static void *announce_when_ready(void *arg)
{
    const durfs_options *o = arg;
    struct stat st;
    if (stat(g_fs.mount_abs, &st) != 0) {
        fail(1, "the kernel could not start the mount at %s: %s", g_fs.mount_abs, strerror(errno));
        return NULL;
    }
    conn_abort_arm(&st);
    log_msg(LOG_INFO, "mounted %s at %s", g_fs.backing_abs, g_fs.mount_abs);
    if (!o->foreground) {
        log_detach_stderr(); /* stderr is about to go */
        tell_parent(0);
        detach_stdio();
    }
    conn_abort_watch(g_fs.se);
    return NULL;
}

static int serve(struct fuse_session *se, const durfs_options *o)
{
    if (o->single_thread)
        return fuse_session_loop(se);
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    if (!cfg)
        return -ENOMEM;
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    fuse_loop_cfg_set_max_threads(cfg, DURFS_MAX_THREADS);
    int r = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    return r;
}

int main(int argc, char **argv)
{
    durfs_options *o = &g_fs.opt;
    char msg[512];
    if (options_parse(argc, argv, o, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "%s\n", msg);
        return 2;
    }
    if (o->show_help) {
        options_usage(argv[0]);
        return 0;
    }
    if (o->show_version) {
        printf("durfs %s\nlibfuse %s\n", DURFS_VERSION, fuse_pkgversion());
        return 0;
    }
    log_init(o->foreground, o->debug);
    g_fs.backing_fd = -1;
    /* Entry/attribute cache time.  While mounted, durfs is the only writer of
     * BACKING (changes made there directly are outside the contract,
     * docs/guarantees.md), and the kernel updates or invalidates what it caches
     * for every change made through the mount, so a cached name or attribute
     * cannot go stale: keep them like passthrough_ll's cache=always.  With 1 s
     * every name older than a second cost a LOOKUP round trip again. */
    g_fs.timeout = 86400.0;
    clock_gettime(CLOCK_MONOTONIC, &g_fs.started);

    int rc = check_dirs(o);
    if (rc)
        return rc;
    if (!o->foreground)
        fork_daemon();
    raise_fd_limit();
    creds_init();
    rc = open_journal(o);
    if (rc)
        return rc;
    log_mount_info(o);
    int e = inode_table_init(fd_budget_init(FD_CACHE_SLOTS));
    if (e)
        return fail(1, "cannot set up the inode table: %s", strerror(e));

    struct fuse_session *se = make_session(o, argv[0]);
    if (!se)
        return fail(2, "bad FUSE options: -o %s", o->fuse_opts);
    g_fs.se = se;
    if (fuse_set_signal_handlers(se) != 0)
        return fail(1, "cannot install signal handlers");
    if (fuse_session_mount(se, g_fs.mount_abs) != 0) {
        dur_error err;
        dur_ns_close(g_fs.ns, &err);
        return fail(1, "cannot mount at MOUNTPOINT %s (see the message above)", g_fs.mount_abs);
    }
    int ioe = getenv("DURFS_NO_KILLPRIV_V2") ? 0 : fuse_io_install(se);
    if (ioe)
        log_msg(LOG_WARNING, "cannot take over /dev/fuse I/O: %s", strerror(-ioe));
    conn_abort_watchdog_start();
    pthread_t announcer;
    bool announcing = pthread_create(&announcer, NULL, announce_when_ready, o) == 0;
    if (!announcing) {
        conn_abort_unwatch();
        announce_when_ready(o); /* cannot wait for INIT: announce as before */
    }

    int lr = serve(se, o);
    conn_abort_unwatch();             /* before the session goes */
    bool aborted = conn_is_aborted(); /* while /dev/fuse is open */
    fuse_session_unmount(se);
    if (aborted)
        conn_abort_unmount(g_fs.mount_abs);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    if (announcing)
        pthread_join(announcer, NULL);
    conn_abort_watchdog_stop();
    rc = 0;
    if (lr < 0) {
        log_msg(LOG_ERR, "request loop ended with error: %s", strerror(-lr));
        rc = 1;
    }

    dur_error err;
    if (dur_ns_close(g_fs.ns, &err) != DUR_OK) {
        log_dur_error("final checkpoint at unmount", &err);
        rc = 1;
    } else {
        log_msg(LOG_INFO, "unmounted %s: %s", g_fs.mount_abs,
                g_fs.opt.read_only ? "read-only, nothing to checkpoint"
                                   : "final checkpoint written");
    }
    inode_table_destroy();
    close(g_fs.backing_fd);
    return rc;
}
