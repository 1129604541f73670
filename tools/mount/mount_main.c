/* mount.durfs (also installed as mount.fuse.durfs): the mount(8) helper.
 *
 * mount(8) runs  mount.durfs BACKING DIR [-sfnv] [-o OPTS] [-t TYPE] [-N NS]
 * for `mount -t durfs` and fstab lines of type durfs; for type fuse.durfs it runs
 * mount.fuse.durfs with the same arguments.  We check the options (see
 * mount_options.h), resolve both paths, and run the daemon, which returns only
 * once the mount is in place.  Exit codes follow mount(8): 0 mounted, 1 bad
 * usage or options, 32 the mount failed.
 */
#include "mount_options.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DURFS_SBINDIR
#define DURFS_SBINDIR "/usr/local/sbin"
#endif
#ifndef DURFS_BINDIR
#define DURFS_BINDIR "/usr/local/bin"
#endif

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_MOUNT_FAILED = 32 };

static const char *prog = "mount.durfs";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s BACKING DIR [-sfnv] [-o OPTIONS] [-t TYPE] [-N NS]\n"
            "Mount durfs over DIR, passing operations through to BACKING (may equal DIR).\n"
            "  -o OPTIONS  durability=close|sync|ordered, commit=S, journal=DIR,\n"
            "              checkpoint_mb=N, checkpoint_secs=N, data_journal=BYTES,\n"
            "              allow_other, default_permissions, nonempty, ro, rw, nodev,\n"
            "              nosuid, noexec, ...\n"
            "              (defaults, nofail, _netdev, x-*, comment=... are accepted and dropped)\n"
            "  -s          sloppy: drop unknown options with a warning instead of failing\n"
            "  -f          fake: check everything, do not mount\n"
            "  -n          accepted for mount(8); there is no mtab to skip\n"
            "  -v          verbose: print the daemon command line\n"
            "  -t TYPE     accepted and ignored (durfs or fuse.durfs)\n"
            "  -N NS       enter the mount namespace NS (e.g. /proc/PID/ns/mnt) first\n"
            "  -h, -V      this help; the version\n"
            "Runs the durfs daemon found via $DURFS_BIN, next to this program, or in PATH.\n"
            "See mount.durfs(8).\n",
            prog);
}

static bool is_exec(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Where the daemon is: $DURFS_BIN, beside us (build tree: ../fs), the
 * configured sbindir and bindir, then PATH. */
static bool find_daemon(char *out, size_t size)
{
    const char *env = getenv("DURFS_BIN");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return is_exec(out);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            const char *rel[] = {"durfs", "../sbin/durfs", "../bin/durfs", "../fs/durfs"};
            for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
                snprintf(out, size, "%s/%s", self, rel[i]);
                if (is_exec(out))
                    return true;
            }
        }
    }
    const char *installed[] = {DURFS_SBINDIR "/durfs", DURFS_BINDIR "/durfs"};
    for (size_t i = 0; i < sizeof installed / sizeof installed[0]; i++) {
        snprintf(out, size, "%s", installed[i]);
        if (is_exec(out))
            return true;
    }
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s:/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin",
             path ? path : "");
    char *save = NULL;
    for (char *dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, size, "%s/durfs", dir);
        if (is_exec(out))
            return true;
    }
    return false;
}

/* BACKING or DIR must be an existing directory; resolved to an absolute path
 * because the daemon changes directory when it daemonizes. */
static bool resolve_dir(const char *what, const char *path, char *out)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            fprintf(stderr, "%s: %s '%s' does not exist\n", prog, what, path);
        else
            fprintf(stderr, "%s: %s '%s': %s\n", prog, what, path, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: %s '%s' is not a directory\n", prog, what, path);
        return false;
    }
    if (realpath(path, out) == NULL) {
        fprintf(stderr, "%s: %s '%s': %s\n", prog, what, path, strerror(errno));
        return false;
    }
    return true;
}

static int enter_namespace(const char *ns)
{
    int fd = open(ns, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNS) != 0) {
        fprintf(stderr, "%s: cannot enter mount namespace '%s': %s\n", prog, ns, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    prog = base ? base + 1 : argv[0];

    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool sloppy = false, fake = false, verbose = false;
    const char *ns = NULL;
    char opts[MOUNT_OPTS_MAX] = "";
    int c;
    while ((c = getopt_long(argc, argv, "sfnvo:t:N:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            sloppy = true;
            break;
        case 'f':
            fake = true;
            break;
        case 'n':
            break;
        case 'v':
            verbose = true;
            break;
        case 't':
            break; /* "durfs" or "fuse.durfs": both mean us */
        case 'N':
            ns = optarg;
            break;
        case 'o': {
            size_t used = strlen(opts);
            if (used + strlen(optarg) + 2 > sizeof opts) {
                fprintf(stderr, "%s: option string too long\n", prog);
                return EXIT_USAGE;
            }
            snprintf(opts + used, sizeof opts - used, "%s%s", used ? "," : "", optarg);
            break;
        }
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("%s (durfs) %s\n", prog, DURFS_VERSION);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "%s: expected BACKING and DIR, got %d argument(s)\n", prog, argc - optind);
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *backing_arg = argv[optind], *dir_arg = argv[optind + 1];
    if (strncmp(backing_arg, "durfs#", 6) == 0)
        backing_arg += 6; /* old FUSE fstab style "durfs#/data" */

    mount_opts_result res;
    if (!mount_opts_translate(opts, sloppy, &res)) {
        fprintf(stderr, "%s: %s\n", prog, res.error);
        return EXIT_USAGE;
    }
    if (res.warnings[0])
        fprintf(stderr, "%s: ignoring unknown option(s) %s (sloppy mode)\n", prog, res.warnings);

    if (ns && enter_namespace(ns) != 0)
        return EXIT_MOUNT_FAILED;

    char backing[PATH_MAX], dir[PATH_MAX];
    if (!resolve_dir("backing directory", backing_arg, backing) ||
        !resolve_dir("mount point", dir_arg, dir))
        return EXIT_MOUNT_FAILED;

    char daemon[2 * PATH_MAX];
    if (!find_daemon(daemon, sizeof daemon)) {
        fprintf(stderr, "%s: cannot find the durfs daemon ('%s'); install it or set DURFS_BIN\n",
                prog, daemon);
        return EXIT_MOUNT_FAILED;
    }

    /* A daemon just unmounted from here may still hold BACKING's lock for its final
     * checkpoint: the new daemon waits for it (fs/main.c), so nothing to do here. */

    /* fsname=BACKING shows the source in findmnt(8) and lets `mount -a` see that
     * the line is already mounted; skipped when the path would need escaping. */
    char full[MOUNT_OPTS_MAX + PATH_MAX + 16];
    snprintf(full, sizeof full, "%s", res.daemon_opts);
    if (strstr(res.daemon_opts, "fsname=") == NULL && strpbrk(backing, ",\\") == NULL)
        snprintf(full + strlen(full), sizeof full - strlen(full), "%sfsname=%s", full[0] ? "," : "",
                 backing);

    char *args[] = {daemon, "-o", full, backing, dir, NULL};
    if (verbose || fake)
        fprintf(stderr, "%s: %s%s -o %s %s %s\n", prog, fake ? "would run " : "", daemon, full,
                backing, dir);
    if (fake)
        return EXIT_OK;

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
        return EXIT_MOUNT_FAILED;
    }
    if (pid == 0) {
        execv(daemon, args);
        fprintf(stderr, "%s: cannot run '%s': %s\n", prog, daemon, strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "%s: waitpid: %s\n", prog, strerror(errno));
            return EXIT_MOUNT_FAILED;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return EXIT_OK;
    if (WIFSIGNALED(status))
        fprintf(stderr, "%s: durfs killed by signal %d while mounting %s on %s\n", prog,
                WTERMSIG(status), backing, dir);
    else
        fprintf(stderr, "%s: durfs failed to mount %s on %s (exit %d)\n", prog, backing, dir,
                WEXITSTATUS(status));
    return EXIT_MOUNT_FAILED;
}
