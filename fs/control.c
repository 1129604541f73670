/* durfs daemon: the control interface used by durfsctl.
 *
 * On the root inode only, root only (the VFS already limits trusted.* to
 * CAP_SYS_ADMIN; we also require uid 0 of the caller):
 *   getxattr trusted.durfs.status      -> JSON (no trailing NUL)
 *   getxattr trusted.durfs.stats       -> JSON
 *   setxattr trusted.durfs.checkpoint  -> dur_ns_checkpoint(), its result
 * The values change between calls, so a size query (size 0) answers the current
 * length plus CONTROL_SLACK bytes: a caller that allocates that much and asks
 * again gets the whole value instead of ERANGE.  They are not listed by
 * listxattr. */
#include "ops.h"
#include "stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define CONTROL_PREFIX "trusted.durfs."
#define CONTROL_SLACK 1024
#define JSON_MAX (64 * 1024)

bool control_is_name(const char *name)
{
    return strncmp(name, CONTROL_PREFIX, strlen(CONTROL_PREFIX)) == 0;
}

/* Append s as a JSON string. */
static size_t json_str(char *out, size_t size, const char *s)
{
    size_t n = 0;
    if (n < size)
        out[n] = '"';
    n++;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        const char *w = esc;
        if (*p == '"' || *p == '\\')
            snprintf(esc, sizeof(esc), "\\%c", *p);
        else if (*p < 0x20)
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
        else
            esc[0] = (char)*p, esc[1] = '\0';
        for (; *w; w++, n++)
            if (n < size)
                out[n] = *w;
    }
    if (n < size)
        out[n] = '"';
    n++;
    if (size)
        out[n < size ? n : size - 1] = '\0';
    return n;
}

static double elapsed_since(const struct timespec *t, clockid_t clk)
{
    struct timespec now;
    clock_gettime(clk, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* Stable short name for tools; the probe's name may carry details such as
 * "ext4 (no journal)" (logged at mount). */
static const char *fs_kind_name(dur_fs_kind k)
{
    switch (k) {
    case DUR_FS_EXT4:
        return "ext4";
    case DUR_FS_XFS:
        return "xfs";
    case DUR_FS_BTRFS:
        return "btrfs";
    case DUR_FS_TMPFS:
        return "tmpfs";
    case DUR_FS_RAMFS:
        return "ramfs";
    case DUR_FS_OVERLAY:
        return "overlay";
    case DUR_FS_NFS:
        return "nfs";
    case DUR_FS_FUSE:
        return "fuse";
    default:
        return "unknown";
    }
}

static int status_json(char *buf, size_t size)
{
    dur_ns_status *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    dur_ns_get_status(g_fs.ns, s);
    char backing[8192], mount[8192], journal[8192];
    json_str(backing, sizeof(backing), g_fs.backing_abs);
    json_str(mount, sizeof(mount), g_fs.mount_abs);
    json_str(journal, sizeof(journal), s->journal_dir);
    char kind[96];
    json_str(kind, sizeof(kind), fs_kind_name(s->fs.kind));
    char fs_name[96]; /* e.g. "ext4 (fast_commit)" */
    json_str(fs_name, sizeof(fs_name), s->fs.name);
    const dur_ns_recovery *rc = &s->last_recovery;
    double age =
        s->checkpoint_time.tv_sec ? elapsed_since(&s->checkpoint_time, CLOCK_REALTIME) : 0.0;
    int n = snprintf(
        buf, size,
        "{\"version\":\"%s\",\"pid\":%d,\"mode\":\"%s\",\"backing\":%s,\"mountpoint\":%s,"
        "\"journal_dir\":%s,\"journal_bytes\":%llu,"
        "\"fs\":{\"kind\":%s,\"name\":%s,\"volatile\":%s,\"fsync_hardens_all_metadata\":%s,"
        "\"file_fsync_trusted\":%s,\"flushes_disabled\":%s,\"handles\":%s},"
        "\"last_lsn\":%llu,\"durable_lsn\":%llu,"
        "\"checkpoint\":{\"lsn\":%llu,\"age_seconds\":%.3f,\"count\":%llu},"
        "\"records_since_checkpoint\":%llu,"
        "\"recovery\":{\"records_replayed\":%llu,\"ops_redone\":%llu,\"ops_already\":%llu,"
        "\"ops_skipped\":%llu,\"bytes_cut\":%llu,\"elapsed_ms\":%.3f},"
        "\"wal\":{\"appends\":%llu,\"syncs\":%llu,\"records_per_sync\":%.3f,\"segments\":%u},"
        "\"file_syncs\":%llu,\"file_data_records\":%llu,\"file_data_bytes\":%llu,"
        "\"syncfs_calls\":%llu,\"errors\":%llu,\"lost_writebacks\":%llu,\"all_durable\":%s,"
        "\"journal_failed\":%s,\"killpriv_v2\":%s}",
        DURFS_VERSION, (int)getpid(), dur_ns_mode_name(s->mode), backing, mount, journal,
        (unsigned long long)s->wal.bytes_on_disk, kind, fs_name,
        s->fs.is_volatile ? "true" : "false", s->fs.fsync_hardens_all_metadata ? "true" : "false",
        s->fs.file_fsync_trusted ? "true" : "false", s->fs.flushes_disabled ? "true" : "false",
        g_fs.handles ? "true" : "false", (unsigned long long)s->last_lsn,
        (unsigned long long)s->durable_lsn, (unsigned long long)s->checkpoint_lsn, age,
        (unsigned long long)s->checkpoints,
        /* the checkpoint's own marker (LSN above it) is no record to replay */
        (unsigned long long)(s->last_lsn > s->checkpoint_lsn ? s->last_lsn - s->checkpoint_lsn - 1
                                                             : 0),
        (unsigned long long)rc->wal.records_replayed, (unsigned long long)rc->ops_redone,
        (unsigned long long)rc->ops_already, (unsigned long long)rc->ops_skipped,
        (unsigned long long)rc->wal.bytes_cut, (double)rc->elapsed_ns / 1e6,
        (unsigned long long)s->wal.appends, (unsigned long long)s->wal.syncs,
        s->wal.syncs ? (double)s->wal.synced_records / (double)s->wal.syncs : 0.0,
        s->wal.live_segments, (unsigned long long)s->file_syncs,
        (unsigned long long)s->file_data_records, (unsigned long long)s->file_data_bytes,
        (unsigned long long)s->syncfs_calls, (unsigned long long)s->errors,
        (unsigned long long)atomic_load(&g_fs.lost_writebacks), s->all_durable ? "true" : "false",
        s->journal_failed ? "true" : "false", fuse_io_killpriv_v2() ? "true" : "false");
    free(s);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

static bool caller_is_root(fuse_req_t req)
{
    return fuse_req_ctx(req)->uid == 0;
}

void control_getxattr(fuse_req_t req, const char *name, size_t size)
{
    if (!caller_is_root(req)) {
        reply_err(req, EPERM);
        return;
    }
    const char *what = name + strlen(CONTROL_PREFIX);
    char *buf = malloc(JSON_MAX);
    if (!buf) {
        reply_err(req, ENOMEM);
        return;
    }
    int len;
    if (strcmp(what, "status") == 0)
        len = status_json(buf, JSON_MAX);
    else if (strcmp(what, "stats") == 0)
        len = stats_json(buf, JSON_MAX, elapsed_since(&g_fs.started, CLOCK_MONOTONIC));
    else {
        free(buf);
        reply_err(req, ENODATA);
        return;
    }
    if (len < 0)
        reply_err(req, EIO);
    else if (size == 0)
        fuse_reply_xattr(req, (size_t)len + CONTROL_SLACK);
    else if ((size_t)len > size)
        reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, buf, (size_t)len);
    free(buf);
}

void control_setxattr(fuse_req_t req, const char *name)
{
    if (!caller_is_root(req)) {
        reply_err(req, EPERM);
        return;
    }
    if (strcmp(name + strlen(CONTROL_PREFIX), "checkpoint") != 0) {
        reply_err(req, EPERM); /* status and stats are read-only */
        return;
    }
    dur_error err;
    if (dur_ns_checkpoint(g_fs.ns, &err) != DUR_OK) {
        log_dur_error("checkpoint requested by durfsctl", &err);
        reply_err(req, -dur_code_to_errno(err.code, err.sys_errno));
        return;
    }
    log_msg(LOG_INFO, "checkpoint requested by durfsctl: done");
    reply_err(req, 0);
}
