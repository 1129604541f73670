/* durfsctl status, stats, checkpoint: render the daemon's control documents. */
#include "commands.h"
#include "control.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char status_help[] =
    "usage: durfsctl status DIR [--json]\n"
    "Summary of the durfs mounted on DIR: durability mode, backing directory, journal\n"
    "location and size (records only, zero fill excluded), last checkpoint, records\n"
    "since (its marker included), the last mount's recovery,\n"
    "syncs issued, error counters, and whether everything acknowledged is durable now.\n"
    "--json prints the daemon's status document unchanged. Root only.\n";
static const char stats_help[] =
    "usage: durfsctl stats DIR [--watch [SECS]] [--count N] [--json]\n"
    "Per-operation counts, errors and latency percentiles (microseconds) since mount.\n"
    "--watch redraws every SECS seconds (default 2) with operations per second;\n"
    "--count stops after N samples. Root only.\n";
static const char checkpoint_help[] =
    "usage: durfsctl checkpoint DIR [--json]\n"
    "Write a checkpoint if records were logged since the last one: afterwards no\n"
    "journal record needs replay. Prints the LSN of the checkpoint in place (the\n"
    "existing one when nothing was logged). Root only.\n";

static void human_bytes(double b, char *out, size_t n)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(out, n, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

static const char *mode_meaning(const char *mode)
{
    if (strcmp(mode, "close") == 0)
        return "metadata durable when each call returns; file data at close and fsync";
    if (strcmp(mode, "sync") == 0)
        return "metadata and every write durable when the call returns";
    if (strcmp(mode, "ordered") == 0)
        return "after a crash: a prefix of the operations, at most about commit= seconds + 1 s "
               "old";
    return "unknown mode";
}

static const char *yes_no(int b)
{
    return b < 0 ? "unknown" : b ? "yes" : "no";
}

static void print_status(const char *dir, const json *s)
{
#define N(path) json_number(s, path, 0)
    const char *mode = json_string(s, "mode", "?");
    char size[32];
    human_bytes(N("journal_bytes"), size, sizeof size);
    printf("durfs %s on %s (pid %.0f)\n", json_string(s, "version", "?"),
           json_string(s, "mountpoint", dir), N("pid"));
    printf("  mode:             %s (%s)\n", mode, mode_meaning(mode));
    printf("  backing:          %s\n", json_string(s, "backing", "?"));
    printf("  filesystem:       %s; fsync hardens all metadata: %s; file handles: %s\n",
           json_string(s, "fs.name", json_string(s, "fs.kind", "?")),
           yes_no(json_bool(s, "fs.fsync_hardens_all_metadata")),
           yes_no(json_bool(s, "fs.handles")));
    if (json_bool(s, "fs.file_fsync_trusted") == 0)
        printf("  NOTE:             a file's fsync is not trusted on this filesystem: every "
               "sync point is a full commit (syncfs), slower\n");
    bool no_flush = json_bool(s, "fs.flushes_disabled") == 1;
    if (no_flush)
        printf("  WARNING:          the backing filesystem is mounted nobarrier: the device's "
               "write cache is never flushed, a power cut can lose acknowledged changes\n");
    if (json_bool(s, "fs.volatile") == 1)
        printf("  WARNING:          the backing filesystem is volatile (e.g. tmpfs): nothing "
               "survives a power cut\n");
    printf("  journal:          %s, %s in %.0f segment(s)\n", json_string(s, "journal_dir", "?"),
           size, N("wal.segments"));
    if (N("checkpoint.lsn") == 0 && N("checkpoint.count") == 0)
        printf("  last checkpoint:  none yet (the journal holds everything since it was "
               "created)\n");
    else
        printf("  last checkpoint:  LSN %.0f, %.1f s ago (%.0f since mount)\n", N("checkpoint.lsn"),
               N("checkpoint.age_seconds"), N("checkpoint.count"));
    printf("  since checkpoint: %.0f record(s); last LSN %.0f, durable LSN %.0f\n",
           N("records_since_checkpoint"), N("last_lsn"), N("durable_lsn"));
    printf("  last recovery:    %.0f record(s) replayed: %.0f redone, %.0f already applied, "
           "%.0f skipped; %.0f byte(s) of torn tail cut; %.1f ms\n",
           N("recovery.records_replayed"), N("recovery.ops_redone"), N("recovery.ops_already"),
           N("recovery.ops_skipped"), N("recovery.bytes_cut"), N("recovery.elapsed_ms"));
    printf("  syncs:            %.0f journal group commit(s) for %.0f record(s) (%.2f per "
           "commit); %.0f file fsync(s); %.0f syncfs\n",
           N("wal.syncs"), N("wal.appends"), N("wal.records_per_sync"), N("file_syncs"),
           N("syncfs_calls"));
    printf("  file contents:    %.0f journaled at close or fdatasync instead of an fsync (%.0f "
           "byte(s))\n",
           N("file_data_records"), N("file_data_bytes"));
    printf("  errors:           %.0f returned to programs\n", N("errors"));
    if (N("lost_writebacks") > 0)
        printf(
            "  LOST DATA:        %.0f file(s) whose cached writes BACKING refused (full "
            "disk?): their close or fsync failed, and every sync of them fails until remount; the "
            "daemon's log names them\n",
            N("lost_writebacks"));
    int durable = json_bool(s, "all_durable");
    const char *all_synced =
        no_flush ? "no: every sync returned, but no flush reaches the device (nobarrier)"
                 : "yes: everything acknowledged is on stable storage";
    if (durable == 1 && !no_flush && N("lost_writebacks") > 0)
        all_synced = "yes for everything acknowledged (the LOST DATA above was never "
                     "acknowledged: its close or fsync failed)";
    if (json_bool(s, "journal_failed") == 1)
        printf("  durable now:      no: THE JOURNAL FAILED (a failed journal write or sync: full "
               "or failing disk?); every change fails with EIO until an unmount and a mount, "
               "which replays it; the daemon's log says why\n");
    else
        printf("  durable now:      %s\n",
               durable == 1   ? all_synced
               : durable == 0 ? "not yet: some acknowledged operations are still being committed"
                              : "unknown");
#undef N
}

int cmd_status(int argc, char **argv)
{
    ctl_args a;
    int status;
    if (!ctl_parse(argc, argv, "", status_help, &a, &status))
        return status;
    char *raw = NULL;
    json *s = ctl_read(a.dir, CTL_XATTR_STATUS, &raw);
    if (s == NULL)
        return CTL_FAILED;
    if (a.json)
        printf("%s\n", raw);
    else
        print_status(a.dir, s);
    free(raw);
    json_free(s);
    return CTL_OK;
}

/* Sort key for the op table: most frequent first. */
static const json *sort_ops;
static int by_count(const void *x, const void *y)
{
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    double a = json_number(sort_ops->items[i], "count", 0);
    double b = json_number(sort_ops->items[j], "count", 0);
    return a < b ? 1 : a > b ? -1 : strcmp(sort_ops->keys[i], sort_ops->keys[j]);
}

/* prev: the previous sample (or NULL) for per-second rates over `secs`. */
static void print_stats(const json *st, const json *prev, double secs)
{
    const json *ops = json_get(st, "ops");
    printf("uptime %.1f s\n", json_number(st, "uptime_seconds", 0));
    printf("%-16s %12s %8s %10s %10s %10s %10s%s\n", "op", "count", "errors", "p50_us", "p90_us",
           "p99_us", "max_us", prev ? "      ops/s" : "");
    if (ops == NULL || ops->type != JSON_OBJECT || ops->count == 0) {
        printf("(no operations yet)\n");
        return;
    }
    size_t *order = malloc(ops->count * sizeof *order);
    if (order == NULL)
        return;
    for (size_t i = 0; i < ops->count; i++)
        order[i] = i;
    sort_ops = ops;
    qsort(order, ops->count, sizeof *order, by_count);
    size_t idle = 0;
    for (size_t k = 0; k < ops->count; k++) {
        const json *op = ops->items[order[k]];
        const char *name = ops->keys[order[k]];
        if (json_number(op, "count", 0) == 0) {
            idle++; /* sorted last: the table shows only operations that ran */
            continue;
        }
        printf("%-16.16s %12.0f %8.0f %10.0f %10.0f %10.0f %10.0f", name,
               json_number(op, "count", 0), json_number(op, "errors", 0),
               json_number(op, "p50_us", 0), json_number(op, "p90_us", 0),
               json_number(op, "p99_us", 0), json_number(op, "max_us", 0));
        if (prev) {
            char path[300];
            snprintf(path, sizeof path, "ops.%s.count", name);
            double before = strchr(name, '.') ? 0 : json_number(prev, path, 0);
            printf(" %10.1f", (json_number(op, "count", 0) - before) / secs);
        }
        printf("\n");
    }
    if (idle)
        printf("(%zu operation type(s) not called yet; --json lists all)\n", idle);
    free(order);
}

static volatile sig_atomic_t stop_watch;
static void on_signal(int sig)
{
    (void)sig;
    stop_watch = 1;
}

int cmd_stats(int argc, char **argv)
{
    ctl_args a;
    int status;
    if (!ctl_parse(argc, argv, "w", stats_help, &a, &status))
        return status;
    if (!a.watch) {
        char *raw = NULL;
        json *st = ctl_read(a.dir, CTL_XATTR_STATS, &raw);
        if (st == NULL)
            return CTL_FAILED;
        if (a.json)
            printf("%s\n", raw);
        else
            print_stats(st, NULL, 0);
        free(raw);
        json_free(st);
        return CTL_OK;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool tty = isatty(STDOUT_FILENO) && !a.json;
    json *prev = NULL;
    for (long n = 0; !stop_watch && (a.count == 0 || n < a.count); n++) {
        if (n > 0) {
            struct timespec ts = {(time_t)a.watch_secs,
                                  (long)((a.watch_secs - floor(a.watch_secs)) * 1e9)};
            while (nanosleep(&ts, &ts) != 0 && !stop_watch)
                ;
            if (stop_watch)
                break;
        }
        char *raw = NULL;
        json *st = ctl_read(a.dir, CTL_XATTR_STATS, &raw);
        if (st == NULL) {
            json_free(prev);
            return CTL_FAILED;
        }
        if (a.json) {
            printf("%s\n", raw); /* one document per line */
        } else {
            if (tty)
                printf("\033[H\033[2J");
            char when[32];
            time_t now = time(NULL);
            strftime(when, sizeof when, "%H:%M:%S", localtime(&now));
            printf("durfs stats for %s at %s (every %g s, Ctrl-C to stop)\n", a.dir, when,
                   a.watch_secs);
            print_stats(st, prev, a.watch_secs);
            if (!tty)
                printf("\n");
        }
        fflush(stdout);
        free(raw);
        json_free(prev);
        prev = st;
    }
    json_free(prev);
    return CTL_OK;
}

int cmd_checkpoint(int argc, char **argv)
{
    ctl_args a;
    int status;
    if (!ctl_parse(argc, argv, "", checkpoint_help, &a, &status))
        return status;
    if (ctl_checkpoint(a.dir) != 0)
        return CTL_FAILED;
    /* Report where the checkpoint landed, read back from status. */
    json *s = ctl_read(a.dir, CTL_XATTR_STATUS, NULL);
    if (!s)
        return CTL_FAILED; /* ctl_read said why */
    double lsn = json_number(s, "checkpoint.lsn", 0);
    double since = json_number(s, "records_since_checkpoint", 0);
    if (a.json) {
        printf("{\"checkpoint\":\"done\",\"mountpoint\":");
        json_write_string(stdout, a.dir);
        printf(",\"lsn\":%.0f,\"records_since_checkpoint\":%.0f}\n", lsn, since);
    } else {
        printf("checkpoint done on %s at LSN %.0f\n", a.dir, lsn);
    }
    json_free(s);
    return CTL_OK;
}
