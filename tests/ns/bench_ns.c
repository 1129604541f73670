/* Namespace journal benchmark: metadata operations per second through
 * dur_ns_begin / syscall / dur_ns_log_create / dur_ns_end, per mode and thread
 * count, and how many operations share one WAL fdatasync (group commit); then
 * recovery speed: records per second replayed at open, by journal size (each
 * record touches a name of its own, the locator's worst case).
 * Prints figures; asserts nothing about speed.
 *   bench_ns [--quick] [DIR]      (DIR default: a temp dir under /var/tmp) */
#include "durability/nsjournal.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct worker {
    dur_ns *ns;
    int bfd, id, ops;
    int failures;
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    dur_fh root;
    dur_error err;
    if (dur_fh_get(w->bfd, "", &root, &err) != DUR_OK) {
        w->failures++;
        return NULL;
    }
    for (int i = 0; i < w->ops; i++) {
        char name[64];
        snprintf(name, sizeof name, "t%d-%d", w->id, i);
        dur_ns_op op;
        dur_ns_begin(w->ns, &op);
        if (mkdirat(w->bfd, name, 0755) == 0) {
            dur_fh fh;
            if (dur_fh_get(w->bfd, name, &fh, &err) == DUR_OK)
                dur_ns_log_create(&op, &root, name, &fh, S_IFDIR | 0755, 0, 0, 0, NULL);
        }
        if (dur_ns_end(&op, &err) != DUR_OK)
            w->failures++;
    }
    return NULL;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void wipe(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "find '%s' -mindepth 1 -maxdepth 1 -name 't*' -exec rm -rf {} +",
             dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
}

/* Log n creates of empty files (CLOSE), keep the journal as a crash would leave
 * it, close, put the journal back, and time the recovery of dur_ns_open.  dir is
 * on tmpfs: its syncs cost nothing, so this measures replay's own work. */
static int bench_replay(int bfd, const char *dir, int n)
{
    dur_ns_options o;
    dur_ns_options_default(&o);
    o.checkpoint_bytes = UINT64_MAX;
    o.checkpoint_seconds = 1u << 30;
    dur_ns *ns = NULL;
    dur_error err;
    dur_fh root;
    if (dur_ns_open(bfd, &o, &ns, NULL, &err) != DUR_OK ||
        dur_fh_get(bfd, "", &root, &err) != DUR_OK) {
        fprintf(stderr, "replay bench: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "t%d", i);
        dur_ns_op op;
        dur_ns_begin(ns, &op);
        int fd = openat(bfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        dur_fh fh;
        if (fd >= 0 && dur_fh_get(bfd, name, &fh, &err) == DUR_OK)
            dur_ns_log_create(&op, &root, name, &fh, S_IFREG | 0644, 0, 0, 0, NULL);
        if (fd >= 0)
            close(fd);
        dur_ns_end(&op, NULL);
    }
    char journal[600], saved[600];
    snprintf(journal, sizeof journal, "%s/.durfs/journal", dir);
    snprintf(saved, sizeof saved, "%s/.durfs/saved-journal", dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", saved, journal, saved);
    if (system(cmd) != 0)
        return 1;
    dur_ns_close(ns, NULL);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mv '%s' '%s'", journal, saved, journal);
    if (system(cmd) != 0)
        return 1;
    dur_ns_recovery rec;
    double t0 = now();
    if (dur_ns_open(bfd, &o, &ns, &rec, &err) != DUR_OK) {
        fprintf(stderr, "replay bench: recovery: %s\n", err.msg);
        return 1;
    }
    double dt = now() - t0;
    printf("%-8d %10.2f %12.0f\n", n, dt, (double)rec.wal.records_replayed / dt);
    dur_ns_close(ns, NULL);
    wipe(dir);
    return 0;
}

int main(int argc, char **argv)
{
    bool quick = false;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else
            dir = argv[i];
    }
    char tmp[] = "/var/tmp/durfs-ns-bench-XXXXXX";
    if (!dir && !(dir = mkdtemp(tmp))) {
        perror("mkdtemp");
        return 1;
    }
    int bfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (bfd < 0) {
        perror(dir);
        return 1;
    }
    int total = quick ? 200 : 4000;
    const int threads[] = {1, 4, 16};
    dur_ns_mode modes[] = {DUR_NS_CLOSE, DUR_NS_ORDERED};
    printf("# namespace journal: mkdir + journal record; %d ops per run; backing %s\n", total, dir);
    printf("%-8s %7s %10s %12s %14s\n", "mode", "threads", "ops/s", "wal fsyncs", "ops per fsync");
    for (size_t m = 0; m < 2; m++) {
        for (size_t t = 0; t < 3; t++) {
            dur_ns_options o;
            dur_ns_options_default(&o);
            o.mode = modes[m];
            o.checkpoint_bytes = UINT64_MAX;
            dur_ns *ns = NULL;
            dur_error err;
            if (dur_ns_open(bfd, &o, &ns, NULL, &err) != DUR_OK) {
                fprintf(stderr, "dur_ns_open: %s\n", err.msg);
                return 1;
            }
            dur_ns_status s0;
            dur_ns_get_status(ns, &s0);
            int n = threads[t];
            worker w[16];
            pthread_t th[16];
            double t0 = now();
            for (int i = 0; i < n; i++) {
                w[i] = (worker){.ns = ns, .bfd = bfd, .id = i, .ops = total / n};
                pthread_create(&th[i], NULL, run, &w[i]);
            }
            int fails = 0;
            for (int i = 0; i < n; i++) {
                pthread_join(th[i], NULL);
                fails += w[i].failures;
            }
            double dt = now() - t0;
            dur_ns_status s1;
            dur_ns_get_status(ns, &s1);
            uint64_t syncs = s1.wal.syncs - s0.wal.syncs;
            int done = total / n * n; /* each of the n workers did total / n */
            printf("%-8s %7d %10.0f %12llu %14.1f%s\n", dur_ns_mode_name(modes[m]), n,
                   (double)done / dt, (unsigned long long)syncs,
                   syncs ? (double)done / (double)syncs : 0.0, fails ? "  (FAILURES)" : "");
            dur_ns_close(ns, NULL);
            wipe(dir);
        }
    }
    printf("# backing fs: see `durfsctl status`; ext4/XFS with the journal in BACKING need no "
           "syncfs\n");
    char shm[] = "/dev/shm/durfs-ns-bench-XXXXXX";
    int sfd = mkdtemp(shm) ? open(shm, O_RDONLY | O_DIRECTORY) : -1;
    if (sfd < 0) {
        perror(shm);
        return 1;
    }
    printf("# recovery at open: a journal of N creates, each of its own name (all applied), "
           "on tmpfs %s\n",
           shm);
    printf("%-8s %10s %12s\n", "records", "seconds", "records/s");
    const int sizes[] = {2000, 20000, 80000};
    int rc = 0;
    for (size_t i = 0; i < (quick ? 1u : 3u) && rc == 0; i++)
        rc = bench_replay(sfd, shm, sizes[i]);
    close(sfd);
    char rm[200];
    snprintf(rm, sizeof rm, "rm -rf '%s'", shm);
    if (system(rm) != 0 || rc != 0)
        return 1;
    close(bfd);
    if (dir == tmp) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}
