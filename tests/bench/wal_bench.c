/* wal_bench: figures for libdurability's WAL on a real directory.
 *
 *   wal_bench [DIR] [--quick]
 *
 * DIR defaults to a new temporary directory under /var/tmp (removed afterwards).
 * Prints, per line: durable appends/s and records per fdatasync (group commit) with
 * 1, 4 and 16 threads for 64 B and 4 KiB records, and with zero fill (1 and 4
 * threads, 64 B); plain append throughput (MB/s,
 * with and without the final sync); replay of 1,000,000 64 B records (records/s),
 * through the raw reader and through dur_recover.  Not a test: it only reports. */
#include "durability.h"

#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static dur_dir *root;
static int run_id;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const dur_error *err)
{
    char buf[700];
    fprintf(stderr, "wal_bench: %s: %s\n", what, dur_error_format(err, buf, sizeof(buf)));
    exit(1);
}

static dur_wal *open_fresh(char *path, size_t size, uint64_t zero_fill)
{
    dur_error err;
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.zero_fill_bytes = zero_fill;
    snprintf(path, size, "wal-%d", ++run_id);
    dur_wal *w;
    if (dur_wal_open(root, path, &o, &w, NULL, &err) != DUR_OK)
        die("dur_wal_open", &err);
    return w;
}

typedef struct worker {
    dur_wal *w;
    size_t len;
    unsigned count;
} worker;

static void *durable_worker(void *arg)
{
    worker *k = arg;
    uint8_t buf[4096];
    memset(buf, 0xab, sizeof(buf));
    dur_error err;
    for (unsigned i = 0; i < k->count; i++)
        if (dur_wal_append_durable(k->w, 1, buf, k->len, NULL, &err) != DUR_OK)
            die("dur_wal_append_durable", &err);
    return NULL;
}

static void bench_durable(unsigned threads, size_t len, unsigned total, uint64_t zero_fill)
{
    char path[64];
    dur_wal *w = open_fresh(path, sizeof(path), zero_fill);
    pthread_t tid[16];
    worker k = {w, len, total / threads};
    double t0 = now_s();
    for (unsigned i = 0; i < threads; i++)
        pthread_create(&tid[i], NULL, durable_worker, &k);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    double dt = now_s() - t0;
    dur_wal_stats st;
    dur_wal_get_stats(w, &st);
    dur_error err;
    if (dur_wal_close(w, &err) != DUR_OK)
        die("close", &err);
    unsigned n = k.count * threads;
    printf("durable append  %2u threads %5zu B%s: %9.0f appends/s  %6.2f records/fdatasync"
           "  (%u appends, %" PRIu64 " fdatasyncs, %.2f s)\n",
           threads, len, zero_fill ? " zero fill" : "", n / dt,
           st.syncs ? (double)st.synced_records / (double)st.syncs : 0.0, n, st.syncs, dt);
}

static void bench_plain(size_t len, uint64_t bytes)
{
    char path[64];
    dur_wal *w = open_fresh(path, sizeof(path), 0);
    uint8_t *buf = calloc(1, len);
    dur_error err;
    uint64_t n = bytes / len;
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++)
        if (dur_wal_append(w, 1, buf, len, NULL, &err) != DUR_OK)
            die("append", &err);
    if (dur_wal_flush(w, &err) != DUR_OK)
        die("flush", &err);
    double t1 = now_s();
    if (dur_wal_close(w, &err) != DUR_OK) /* includes the final fdatasync */
        die("close", &err);
    double t2 = now_s();
    double mb = (double)(n * len) / 1e6;
    printf("plain append    %5zu B records: %8.1f MB/s written to the OS, %8.1f MB/s incl. "
           "final sync  (%.0f MB)\n",
           len, mb / (t1 - t0), mb / (t2 - t0), mb);
    free(buf);
}

static dur_code count_record(void *ctx, const dur_wal_record *rec, dur_error *err)
{
    (void)rec;
    (void)err;
    ++*(uint64_t *)ctx;
    return DUR_OK;
}

static void bench_replay(uint64_t records)
{
    char path[64];
    dur_wal *w = open_fresh(path, sizeof(path), 0);
    uint8_t buf[64] = {0};
    dur_error err;
    for (uint64_t i = 0; i < records; i++)
        if (dur_wal_append(w, 1, buf, sizeof(buf), NULL, &err) != DUR_OK)
            die("append", &err);
    if (dur_wal_close(w, &err) != DUR_OK)
        die("close", &err);

    dur_wal_reader *r;
    double t0 = now_s();
    if (dur_wal_reader_open(root, path, DUR_READ_STRICT, 0, &r, &err) != DUR_OK)
        die("reader", &err);
    uint64_t n = 0;
    for (;;) {
        dur_wal_record rec;
        bool eof;
        if (dur_wal_reader_next(r, &rec, &eof, &err) != DUR_OK)
            die("next", &err);
        if (eof)
            break;
        n++;
    }
    dur_wal_reader_close(r);
    double dt = now_s() - t0;
    printf("replay (reader)     %" PRIu64 " x 64 B: %10.0f records/s  (%.2f s)\n", n, n / dt, dt);

    uint64_t m = 0;
    dur_recovery_options ro = {path, "checkpoints", DUR_READ_BEST_EFFORT, true};
    dur_recovery_callbacks cb = {NULL, count_record, &m};
    dur_recovery_report rep;
    if (dur_recover(root, &ro, &cb, &rep, &err) != DUR_OK)
        die("dur_recover", &err);
    printf("replay (dur_recover) %" PRIu64 " x 64 B: %10.0f records/s  (%.2f s, %u segments)\n", m,
           m / (rep.elapsed_ns / 1e9), rep.elapsed_ns / 1e9, rep.segments);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else
            dir = argv[i];
    }
    char tmp[] = "/var/tmp/wal_bench.XXXXXX";
    bool own = dir == NULL;
    if (own && !(dir = mkdtemp(tmp))) {
        perror("mkdtemp /var/tmp");
        return 1;
    }
    dur_error err;
    if (dur_dir_open_fs(dir, true, &root, &err) != DUR_OK)
        die(dir, &err);
    printf("wal_bench in %s (%ld CPUs online)\n", dir, sysconf(_SC_NPROCESSORS_ONLN));
    unsigned threads[] = {1, 4, 16};
    size_t sizes[] = {64, 4096};
    for (size_t s = 0; s < 2; s++)
        for (size_t t = 0; t < 3; t++)
            bench_durable(threads[t], sizes[s], quick ? 160 : 1600, 0);
    /* The same with 1 MiB of zero fill (durfs's setting on ext4/XFS), interleaved
     * with the plain case: on a journaled filesystem each fdatasync then writes no
     * metadata (one device flush instead of a journal commit). */
    for (size_t t = 0; t < 2; t++) {
        bench_durable(threads[t], 64, quick ? 160 : 1600, 0);
        bench_durable(threads[t], 64, quick ? 160 : 1600, 1u << 20);
    }
    bench_plain(4096, quick ? (16u << 20) : (256u << 20));
    bench_plain(64, quick ? (4u << 20) : (64u << 20));
    bench_replay(quick ? 100000 : 1000000);
    dur_dir_close(root);
    if (own)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
