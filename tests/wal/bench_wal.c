/* WAL benchmark: prints figures, asserts nothing about speed.
 *
 *   bench_wal [dir]   (default: a fresh directory under /tmp)
 *
 * 1. durable appends (append_durable, 64-byte payloads) from 1, 4 and 16 threads:
 *    records/s, fdatasyncs, records per fdatasync (group commit at work);
 * 2. buffered appends + one final sync: MB/s of payload.
 */
#include "durability/wal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct job {
    dur_wal *w;
    int n;
    int failed;
} job;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *durable_worker(void *arg)
{
    job *j = arg;
    uint8_t p[64];
    memset(p, 0xA5, sizeof p);
    dur_error e;
    for (int i = 0; i < j->n; i++)
        if (dur_wal_append_durable(j->w, 1, p, sizeof p, NULL, &e) != DUR_OK)
            j->failed++;
    return NULL;
}

static int open_fresh(dur_dir *d, const char *name, dur_wal **w)
{
    dur_error e;
    if (dur_wal_open(d, name, NULL, w, NULL, &e) != DUR_OK) {
        char b[1024];
        fprintf(stderr, "open %s: %s\n", name, dur_error_format(&e, b, sizeof b));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char root[256];
    if (argc > 1) {
        snprintf(root, sizeof root, "%s", argv[1]);
    } else {
        snprintf(root, sizeof root, "/tmp/durfs-wal-bench-XXXXXX");
        if (!mkdtemp(root)) {
            perror("mkdtemp");
            return 1;
        }
    }
    dur_dir *d = NULL;
    dur_error e;
    if (dur_dir_open_fs(root, true, &d, &e) != DUR_OK) {
        fprintf(stderr, "open %s: %s\n", root, e.msg);
        return 1;
    }
    printf("WAL benchmark in %s\n", root);
    const int threads[] = {1, 4, 16};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        int nt = threads[t], per = 2000 / nt;
        char name[64];
        snprintf(name, sizeof name, "durable-%d", nt);
        dur_wal *w;
        if (open_fresh(d, name, &w))
            return 1;
        pthread_t th[16];
        job j[16];
        double t0 = now_s();
        for (int i = 0; i < nt; i++) {
            j[i] = (job){.w = w, .n = per};
            pthread_create(&th[i], NULL, durable_worker, &j[i]);
        }
        int failed = 0;
        for (int i = 0; i < nt; i++) {
            pthread_join(th[i], NULL);
            failed += j[i].failed;
        }
        double dt = now_s() - t0;
        dur_wal_stats st;
        dur_wal_get_stats(w, &st);
        printf("append_durable, %2d threads: %6d records in %.3f s = %8.0f records/s, "
               "%5llu fdatasyncs, %.1f records per fdatasync%s\n",
               nt, nt * per, dt, nt * per / dt, (unsigned long long)st.syncs,
               (double)st.synced_records / (double)(st.syncs ? st.syncs : 1),
               failed ? " (FAILURES)" : "");
        dur_wal_close(w, &e);
    }
    {
        dur_wal *w;
        if (open_fresh(d, "buffered", &w))
            return 1;
        static uint8_t p[4096];
        memset(p, 0x3C, sizeof p);
        const int n = 16384; /* 64 MiB */
        double t0 = now_s();
        for (int i = 0; i < n; i++)
            dur_wal_append(w, 1, p, sizeof p, NULL, &e);
        dur_wal_sync(w, 0, &e);
        double dt = now_s() - t0;
        dur_wal_stats st;
        dur_wal_get_stats(w, &st);
        printf("buffered append of 4 KiB records + one sync: %.0f MiB in %.3f s = %.0f MiB/s "
               "(%u segments)\n",
               n * 4096.0 / 1048576.0, dt, n * 4096.0 / 1048576.0 / dt, st.live_segments);
        dur_wal_close(w, &e);
    }
    dur_dir_close(d);
    if (argc <= 1) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", root);
    }
    return 0;
}
