/* durfs daemon: per-operation counters and log2-bucket latency histograms.
 *
 * Every counter is a relaxed atomic: handlers on all worker threads update them
 * without a lock, and a reader (trusted.durfs.stats) sees each counter as some
 * recent value.  Percentiles are bucketed: the reported value is the upper bound
 * of the bucket holding that rank (so p50 of 3 us reads as 4 us). */
#include "stats.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#define BUCKETS 40 /* bucket b holds latencies in [2^(b-1), 2^b) microseconds */

typedef struct op_stats {
    atomic_uint_fast64_t count, errors, max_us;
    atomic_uint_fast64_t hist[BUCKETS];
} op_stats;

static op_stats g_stats[OP_COUNT];
static _Thread_local int t_current_op = -1;

static const char *const g_names[OP_COUNT] = {
#define DURFS_OP_NAME(name) #name,
    DURFS_OPS(DURFS_OP_NAME)
#undef DURFS_OP_NAME
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t stats_begin(int op)
{
    t_current_op = op;
    return now_ns();
}

static unsigned bucket_of(uint64_t us)
{
    unsigned b = 0;
    while (us > 0 && b < BUCKETS - 1) {
        us >>= 1;
        b++;
    }
    return b;
}

void stats_end(int op, uint64_t t0)
{
    op_stats *s = &g_stats[op];
    uint64_t us = (now_ns() - t0) / 1000;
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->hist[bucket_of(us)], 1, memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&s->max_us, memory_order_relaxed);
    while (us > m && !atomic_compare_exchange_weak_explicit(
                         &s->max_us, &m, us, memory_order_relaxed, memory_order_relaxed)) {
    }
    t_current_op = -1;
}

void stats_error(void)
{
    if (t_current_op >= 0)
        atomic_fetch_add_explicit(&g_stats[t_current_op].errors, 1, memory_order_relaxed);
}

static uint64_t percentile(const uint64_t *h, uint64_t total, double p)
{
    uint64_t rank = (uint64_t)(p * (double)total + 0.999999), seen = 0;
    if (rank == 0)
        rank = 1;
    for (unsigned b = 0; b < BUCKETS; b++) {
        seen += h[b];
        if (seen >= rank)
            return b == 0 ? 0 : (uint64_t)1 << b;
    }
    return (uint64_t)1 << (BUCKETS - 1);
}

/* a bucket's upper bound may exceed the largest value seen */
static uint64_t clamp(uint64_t v, uint64_t max)
{
    return v > max ? max : v;
}

int stats_json(char *buf, size_t size, double uptime)
{
    size_t len = 0;
    int n = snprintf(buf, size, "{\"uptime_seconds\":%.3f,\"ops\":{", uptime);
    if (n < 0 || (size_t)n >= size)
        return -1;
    len = (size_t)n;
    bool first = true;
    for (int op = 0; op < OP_COUNT; op++) {
        op_stats *s = &g_stats[op];
        uint64_t h[BUCKETS], total = 0;
        for (unsigned b = 0; b < BUCKETS; b++) {
            h[b] = atomic_load_explicit(&s->hist[b], memory_order_relaxed);
            total += h[b];
        }
        uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
        uint64_t errors = atomic_load_explicit(&s->errors, memory_order_relaxed);
        uint64_t max_us = atomic_load_explicit(&s->max_us, memory_order_relaxed);
        n = snprintf(buf + len, size - len,
                     "%s\"%s\":{\"count\":%llu,\"errors\":%llu,\"p50_us\":%llu,\"p90_us\":%llu,"
                     "\"p99_us\":%llu,\"max_us\":%llu}",
                     first ? "" : ",", g_names[op], (unsigned long long)count,
                     (unsigned long long)errors,
                     (unsigned long long)clamp(total ? percentile(h, total, 0.50) : 0, max_us),
                     (unsigned long long)clamp(total ? percentile(h, total, 0.90) : 0, max_us),
                     (unsigned long long)clamp(total ? percentile(h, total, 0.99) : 0, max_us),
                     (unsigned long long)max_us);
        if (n < 0 || (size_t)n >= size - len)
            return -1;
        len += (size_t)n;
        first = false;
    }
    n = snprintf(buf + len, size - len, "}}");
    if (n < 0 || (size_t)n >= size - len)
        return -1;
    return (int)(len + (size_t)n);
}
