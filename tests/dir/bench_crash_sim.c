/* tests/dir (suite 'bench'): how fast the crash simulator is, since crash tests
 * run thousands of power cuts.  Prints figures; asserts nothing about speed. */
#include "durability/dir.h"
#include "durability/testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const dur_error *err)
{
    char buf[1024];
    fprintf(stderr, "bench_crash_sim: %s: %s\n", what, dur_error_format(err, buf, sizeof buf));
    exit(1);
}

int main(void)
{
    dur_error err;
    dur_dir *d;
    if (dur_dir_new_crash(1, &d, &err) != DUR_OK)
        die("new", &err);
    /* 1. appends of 4 KiB, each followed by fdatasync (the WAL pattern) */
    dur_file *f;
    if (dur_dir_create(d, "log", &f, &err) != DUR_OK)
        die("create", &err);
    static char block[4096];
    memset(block, 'x', sizeof block);
    const int appends = 50000;
    double t0 = now();
    for (int i = 0; i < appends; i++) {
        if (dur_file_append(f, block, sizeof block, &err) != DUR_OK ||
            f->ops->sync_data(f, &err) != DUR_OK)
            die("append", &err);
    }
    double t1 = now();
    printf("append+sync 4 KiB: %.0f ops/s (%d ops, %.0f MiB)\n", appends / (t1 - t0), appends,
           appends * 4096.0 / (1 << 20));
    /* 2. overwrite-in-place of synced pages (saves one page each) */
    t0 = now();
    for (int i = 0; i < appends; i++) {
        if (f->ops->pwrite(f, block, 512, (uint64_t)i * 4096, &err) != DUR_OK)
            die("overwrite", &err);
    }
    t1 = now();
    printf("unsynced overwrite of a durable page: %.0f ops/s\n", appends / (t1 - t0));
    dur_file_close(f);
    if (dur_dir_sync_dir(d, "", &err) != DUR_OK)
        die("sync_dir", &err);
    /* 3. power cuts on a tree of 1000 small files + the 200 MiB log */
    if (dur_dir_mkdir_p(d, "data", &err) != DUR_OK)
        die("mkdir", &err);
    for (int i = 0; i < 1000; i++) {
        char p[64];
        snprintf(p, sizeof p, "data/f%04d", i);
        if (dur_dir_create(d, p, &f, &err) != DUR_OK)
            die("create", &err);
        if (f->ops->pwrite(f, block, 100, 0, &err) != DUR_OK || f->ops->sync_data(f, &err))
            die("write", &err);
        dur_file_close(f);
    }
    if (dur_dir_sync_dir(d, "data", &err) != DUR_OK || dur_dir_sync_dir(d, "", &err) != DUR_OK)
        die("sync_dir", &err);
    const int cuts = 2000;
    t0 = now();
    for (int i = 0; i < cuts; i++)
        dur_crash_power_cut(d, NULL);
    t1 = now();
    printf("power cut (1002 inodes, %.0f MiB): %.0f cuts/s\n", appends * 4096.0 / (1 << 20),
           cuts / (t1 - t0));
    dur_dir_close(d);
    return 0;
}
