/* durfsctl verify, recover, dump: work on the journal with no daemon running,
 * through libdurability's namespace journal (nsjournal.h). */
#include "commands.h"
#include "json.h"
#include "procfs.h"

#include <durability.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define FUSE_SUPER_MAGIC 0x65735546

enum { VERIFY_CLEAN = 0, VERIFY_NEEDS_RECOVERY = 1, VERIFY_CORRUPT = 2 };

static const char verify_help[] =
    "usage: durfsctl verify BACKING|JOURNALDIR [--json]\n"
    "Check the journal and checkpoints read-only (daemon stopped).\n"
    "Exit status: 0 clean, 1 needs recovery (replayed at the next mount, or by\n"
    "`durfsctl recover`), 2 corrupt (file and offset of the damage are printed),\n"
    "3 usage or other error.\n";
static const char recover_help[] =
    "usage: durfsctl recover BACKING [--journal DIR] [--json]\n"
    "Replay the journal into BACKING without mounting, then checkpoint. Refuses while\n"
    "a durfs daemon holds BACKING. --journal names a journal kept outside BACKING\n"
    "(the journal= mount option).\n";
static const char dump_help[] =
    "usage: durfsctl dump BACKING|JOURNALDIR [--json]\n"
    "Print every journal record, one per line (LSN, operation, names, object ids).\n";

/* "corrupt: wal/x.log at offset 4096: checksum mismatch" from the error's fields. */
static void format_error(const dur_error *e, char *buf, size_t n)
{
    static const char *const names[] = {"ok",      "I/O error",     "not found", "exists",
                                        "corrupt", "not supported", "invalid",   "locked",
                                        "closed",  "out of memory"};
    const char *name =
        (unsigned)e->code < sizeof names / sizeof names[0] ? names[e->code] : "error";
    int used = snprintf(n ? buf : NULL, n, "%s", name);
    if (e->path[0] && used >= 0 && (size_t)used < n)
        used += snprintf(buf + used, n - (size_t)used, ": %s", e->path);
    if (e->has_offset && used >= 0 && (size_t)used < n)
        used += snprintf(buf + used, n - (size_t)used, " at offset %llu",
                         (unsigned long long)e->offset);
    if (e->msg[0] && used >= 0 && (size_t)used < n)
        used += snprintf(buf + used, n - (size_t)used, ": %s", e->msg);
    if (e->sys_errno && used >= 0 && (size_t)used < n)
        snprintf(buf + used, n - (size_t)used, " (%s)", strerror(e->sys_errno));
}

static void json_error_fields(const dur_error *e)
{
    char text[1024];
    format_error(e, text, sizeof text);
    printf("\"error\":");
    json_write_string(stdout, text);
    printf(",\"file\":");
    json_write_string(stdout, e->path);
    if (e->has_offset)
        printf(",\"offset\":%llu", (unsigned long long)e->offset);
}

/* Offline tools on a live same-path mount would see the FUSE view (where the
 * journal is hidden), not the backing directory. */
static bool refuse_if_mounted(const char *path)
{
    struct statfs sfs;
    if (statfs(path, &sfs) == 0 && sfs.f_type == FUSE_SUPER_MAGIC) {
        fprintf(stderr,
                "durfsctl: %s is a mounted FUSE filesystem: offline commands need the daemon "
                "stopped (umount %s first), or use `durfsctl status`\n",
                path, path);
        return true;
    }
    return false;
}

/* PID of the daemon holding the WAL writer's lock in journal, or 0. */
static long journal_lock_holder(const char *journal)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/wal/LOCK", journal);
    return procfs_lock_holder(path);
}

/* BACKING -> BACKING/.durfs/journal; anything else is taken as the journal itself. */
static bool resolve_journal(const char *arg, char *out, size_t n)
{
    struct stat st;
    if (stat(arg, &st) != 0) {
        fprintf(stderr, "durfsctl: %s: %s\n", arg, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "durfsctl: %s is not a directory\n", arg);
        return false;
    }
    if (refuse_if_mounted(arg))
        return false;
    snprintf(out, n, "%s/%s/journal", arg, DUR_NS_RESERVED_NAME);
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return true;
    snprintf(out, n, "%s", arg);
    return true;
}

int cmd_verify(int argc, char **argv)
{
    ctl_args a;
    int status;
    if (!ctl_parse(argc, argv, "", verify_help, &a, &status))
        return status;
    char journal[PATH_MAX];
    if (!resolve_journal(a.dir, journal, sizeof journal))
        return CTL_USAGE;
    dur_ns_verify_result result = DUR_NS_CLEAN;
    dur_recovery_report rep;
    memset(&rep, 0, sizeof rep);
    dur_error err;
    memset(&err, 0, sizeof err);
    dur_code c = dur_ns_verify(journal, &result, &rep, &err);
    if (c != DUR_OK && c != DUR_E_CORRUPT) {
        char text[1024];
        format_error(&err, text, sizeof text);
        fprintf(stderr, "durfsctl: verify %s: %s\n", journal, text);
        return CTL_USAGE;
    }
    if (c == DUR_E_CORRUPT)
        result = DUR_NS_CORRUPT;
    long holder = journal_lock_holder(journal);
    int code = result == DUR_NS_CLEAN            ? VERIFY_CLEAN
               : result == DUR_NS_NEEDS_RECOVERY ? VERIFY_NEEDS_RECOVERY
                                                 : VERIFY_CORRUPT;
    static const char *const verdict[] = {"clean", "needs recovery", "corrupt"};
    if (a.json) {
        printf("{\"journal\":");
        json_write_string(stdout, journal);
        printf(",\"daemon_pid\":%ld", holder);
        printf(",\"result\":\"%s\",\"exit\":%d,\"checkpoint_found\":%s,\"checkpoint_lsn\":%llu,"
               "\"wal_records_after_checkpoint\":%llu,\"last_lsn\":%llu,\"torn_tail_bytes\":%llu,"
               "\"segments\":%u",
               result == DUR_NS_NEEDS_RECOVERY ? "needs_recovery" : verdict[code], code,
               rep.checkpoint_found ? "true" : "false", (unsigned long long)rep.checkpoint_lsn,
               (unsigned long long)rep.records_replayed, (unsigned long long)rep.last_lsn,
               (unsigned long long)rep.bytes_cut, rep.segments);
        if (code == VERIFY_CORRUPT) {
            printf(",");
            json_error_fields(&err);
        }
        printf("}\n");
        return code;
    }
    printf("journal %s: %s\n", journal, verdict[code]);
    if (holder)
        printf("  note:        in use by a running durfs daemon (pid %ld): records after the "
               "checkpoint are normal while it runs\n",
               holder);
    if (rep.checkpoint_found)
        printf("  checkpoint:  %s at LSN %llu\n", rep.checkpoint_name,
               (unsigned long long)rep.checkpoint_lsn);
    else
        printf("  checkpoint:  none\n");
    printf("  WAL:         %llu record(s) after the checkpoint (markers included), last LSN "
           "%llu, %u segment(s)\n",
           (unsigned long long)rep.records_replayed, (unsigned long long)rep.last_lsn,
           rep.segments);
    if (rep.bytes_cut)
        printf("  torn tail:   %llu byte(s) (an interrupted write; recovery cuts it)\n",
               (unsigned long long)rep.bytes_cut);
    if (code == VERIFY_NEEDS_RECOVERY)
        printf("  the next mount replays these records; or run: durfsctl recover BACKING\n");
    if (code == VERIFY_CORRUPT) {
        char text[1024];
        format_error(&err, text, sizeof text);
        printf("  damage:      %s\n", text);
        fprintf(stderr, "durfsctl: verify: %s: %s\n", journal, text);
    }
    return code;
}

static void print_progress(void *ctx, int level, const char *msg)
{
    (void)level;
    fprintf(stderr, "durfsctl recover %s: %s\n", (const char *)ctx, msg);
}

int cmd_recover(int argc, char **argv)
{
    ctl_args a;
    int status;
    if (!ctl_parse(argc, argv, "j", recover_help, &a, &status))
        return status;
    if (refuse_if_mounted(a.dir))
        return CTL_FAILED;
    int fd = open(a.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "durfsctl: recover: cannot open backing directory %s: %s\n", a.dir,
                strerror(errno));
        return CTL_USAGE;
    }
    char journal_abs[PATH_MAX];
    dur_ns_options opts;
    dur_ns_options_default(&opts);
    if (a.journal) {
        if (realpath(a.journal, journal_abs) == NULL) {
            fprintf(stderr, "durfsctl: recover: journal %s: %s\n", a.journal, strerror(errno));
            close(fd);
            return CTL_USAGE;
        }
        opts.journal_dir = journal_abs;
    }
    opts.log = print_progress;
    opts.log_ctx = (void *)a.dir;
    dur_ns_recovery rec;
    memset(&rec, 0, sizeof rec);
    dur_error err;
    memset(&err, 0, sizeof err);
    dur_code c = dur_ns_recover_offline(fd, &opts, &rec, &err);
    close(fd);
    if (c != DUR_OK) {
        char text[1024];
        format_error(&err, text, sizeof text);
        if (c == DUR_E_LOCKED)
            fprintf(stderr,
                    "durfsctl: recover: refusing: %s is in use by a durfs daemon (%s); "
                    "unmount it first\n",
                    a.dir, text);
        else
            fprintf(stderr, "durfsctl: recover %s failed: %s\n", a.dir, text);
        return CTL_FAILED;
    }
    double ms = (double)rec.elapsed_ns / 1e6;
    if (a.json) {
        printf("{\"backing\":");
        json_write_string(stdout, a.dir);
        printf(",\"records_replayed\":%llu,\"ops_redone\":%llu,\"ops_already\":%llu,"
               "\"ops_skipped\":%llu,\"bytes_cut\":%llu,\"checkpoint_lsn\":%llu,"
               "\"last_lsn\":%llu,\"elapsed_ms\":%.3f}\n",
               (unsigned long long)rec.wal.records_replayed, (unsigned long long)rec.ops_redone,
               (unsigned long long)rec.ops_already, (unsigned long long)rec.ops_skipped,
               (unsigned long long)rec.wal.bytes_cut, (unsigned long long)rec.wal.checkpoint_lsn,
               (unsigned long long)rec.wal.last_lsn, ms);
    } else {
        printf("recovered %s: %llu record(s) replayed: %llu redone, %llu already applied, "
               "%llu skipped; %llu byte(s) of torn tail cut; last LSN %llu; %.1f ms\n",
               a.dir, (unsigned long long)rec.wal.records_replayed,
               (unsigned long long)rec.ops_redone, (unsigned long long)rec.ops_already,
               (unsigned long long)rec.ops_skipped, (unsigned long long)rec.wal.bytes_cut,
               (unsigned long long)rec.wal.last_lsn, ms);
        if (rec.ops_skipped)
            printf("  %llu record(s) could not be applied; the reasons are printed above\n",
                   (unsigned long long)rec.ops_skipped);
    }
    return CTL_OK;
}

typedef struct dump_ctx {
    bool json;
    unsigned long long lines;
} dump_ctx;

static void dump_line(void *p, const char *text)
{
    dump_ctx *ctx = p;
    if (ctx->json) {
        printf("%s", ctx->lines ? ",\n  " : "\n  ");
        json_write_string(stdout, text);
    } else {
        printf("%s\n", text);
    }
    ctx->lines++;
}

int cmd_dump(int argc, char **argv)
{
    ctl_args a;
    int status;
    if (!ctl_parse(argc, argv, "", dump_help, &a, &status))
        return status;
    char journal[PATH_MAX];
    if (!resolve_journal(a.dir, journal, sizeof journal))
        return CTL_USAGE;
    dump_ctx ctx = {.json = a.json};
    if (a.json) {
        printf("{\"journal\":");
        json_write_string(stdout, journal);
        printf(",\"records\":[");
    }
    dur_error err;
    memset(&err, 0, sizeof err);
    dur_code c = dur_ns_dump(journal, dump_line, &ctx, &err);
    if (a.json)
        printf("%s]}\n", ctx.lines ? "\n" : "");
    fflush(stdout);
    if (c != DUR_OK) {
        char text[1024];
        format_error(&err, text, sizeof text);
        fprintf(stderr, "durfsctl: dump %s: %s\n", journal, text);
        return CTL_FAILED;
    }
    return CTL_OK;
}
