/* Namespace journal benchmark: metadata operations per second through
 * dur_ns_begin / syscall / dur_ns_log_create / dur_ns_end, per mode and thread
 * count, and how many operations share one WAL fdatasync (group commit).
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
    close(bfd);
    if (dir == tmp) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}
