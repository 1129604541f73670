/* durfs daemon: command-line parsing.
 *
 *   durfs [-f] [-d] [-s] [-o opt[,opt...]] BACKING MOUNTPOINT
 *
 * durfs's own -o options are consumed here; a fixed list of standard FUSE/mount
 * options is passed to libfuse; anything else is a usage error, so a typo such as
 * "durabilty=sync" never silently mounts with the default mode. */
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Standard options libfuse (3.14) accepts (checked one by one); "name=" entries
 * take a value.  Not blksize= (block-device FUSE only: the mount fails). */
static const char *const g_passthrough[] = {
    "fsname=", "subtype=", "allow_root", "auto_unmount", "suid",         "nosuid", "dev",
    "nodev",   "exec",     "noexec",     "async",        "sync",         "atime",  "noatime",
    "dirsync", "context=", "fscontext=", "defcontext=",  "rootcontext=", NULL,
};

/* atime policies libfuse 3.14 refuses, accepted and dropped: the kernel keeps no
 * access times on a FUSE mount (its inodes are S_NOATIME); BACKING's own mount
 * options decide them when the daemon reads.  fstab lines carry them often. */
static const char *const g_atime_policies[] = {
    "relatime", "norelatime", "strictatime", "nostrictatime", "diratime", "nodiratime",
    "lazytime", "nolazytime", NULL,
};

static bool parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    if (*s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

static int add_fuse_opt(durfs_options *o, const char *opt, char *msg, size_t msg_size)
{
    size_t len = strlen(o->fuse_opts), add = strlen(opt);
    if (len + add + 2 > sizeof(o->fuse_opts)) {
        snprintf(msg, msg_size, "durfs: too many -o options (at \"%s\")", opt);
        return 2;
    }
    if (len)
        o->fuse_opts[len++] = ',';
    memcpy(o->fuse_opts + len, opt, add + 1);
    return 0;
}

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static bool is_passthrough(const char *opt)
{
    for (int i = 0; g_passthrough[i]; i++) {
        const char *p = g_passthrough[i];
        size_t n = strlen(p);
        if (p[n - 1] == '=' ? strncmp(opt, p, n) == 0 && opt[n] : strcmp(opt, p) == 0)
            return true;
    }
    return false;
}

/* Options for mount(8)/systemd only; mount.fuse3 passes some of them on. */
static bool is_fstab_only(const char *opt)
{
    static const char *const flags[] = {"defaults", "auto",  "noauto",       "nofail",
                                        "_netdev",  "user",  "users",        "nouser",
                                        "owner",    "group", "nouser_xattr", NULL};
    return in_list(flags, opt) || strncmp(opt, "x-", 2) == 0 || strncmp(opt, "X-", 2) == 0 ||
           strncmp(opt, "comment=", 8) == 0;
}

static int parse_one(durfs_options *o, char *opt, char *msg, size_t msg_size)
{
    char *eq = strchr(opt, '=');
    const char *val = eq ? eq + 1 : NULL;
    unsigned long long v;
    if (eq)
        *eq = '\0';
    int rc = 0;
    if (strcmp(opt, "durability") == 0 && val) {
        dur_error err;
        if (dur_ns_mode_parse(val, &o->mode, &err) != DUR_OK) {
            snprintf(msg, msg_size,
                     "durfs: bad value in -o durability=%s (expected close, sync or ordered)", val);
            rc = 2;
        }
    } else if (strcmp(opt, "commit") == 0 && val) {
        if (!parse_uint(val, 86400, &v) || v == 0) {
            snprintf(msg, msg_size, "durfs: bad value in -o commit=%s (seconds, 1..86400)", val);
            rc = 2;
        } else {
            o->commit_seconds = (unsigned)v;
        }
    } else if (strcmp(opt, "journal") == 0 && val) {
        if (val[0] != '/') {
            snprintf(msg, msg_size, "durfs: bad value in -o journal=%s (absolute path expected)",
                     val);
            rc = 2;
        } else {
            o->journal_dir = val;
        }
    } else if (strcmp(opt, "checkpoint_mb") == 0 && val) {
        if (!parse_uint(val, 1u << 20, &v) || v == 0) {
            snprintf(msg, msg_size, "durfs: bad value in -o checkpoint_mb=%s (1..1048576)", val);
            rc = 2;
        } else {
            o->checkpoint_mb = v;
        }
    } else if (strcmp(opt, "checkpoint_secs") == 0 && val) {
        if (!parse_uint(val, 7 * 86400, &v) || v == 0) {
            snprintf(msg, msg_size, "durfs: bad value in -o checkpoint_secs=%s (1..604800)", val);
            rc = 2;
        } else {
            o->checkpoint_secs = (unsigned)v;
        }
    } else if (strcmp(opt, "data_journal") == 0 && val) {
        if (!parse_uint(val, 65536, &v)) {
            snprintf(msg, msg_size, "durfs: bad value in -o data_journal=%s (bytes, 0..65536)",
                     val);
            rc = 2;
        } else {
            o->data_journal = (unsigned)v;
        }
    } else if (!val && strcmp(opt, "allow_other") == 0) {
        o->allow_other = true;
    } else if (!val &&
               (strcmp(opt, "default_permissions") == 0 || in_list(g_atime_policies, opt))) {
        /* default_permissions: always on; atime policies: dropped (g_atime_policies) */
    } else if (!val && strcmp(opt, "ro") == 0) {
        o->read_only = true;
    } else if (!val && strcmp(opt, "rw") == 0) {
        o->read_only = false;
    } else if (!val && strcmp(opt, "nonempty") == 0) {
        o->nonempty = true;
    } else if (strcmp(opt, "max_read") == 0 && val) {
        /* libfuse wants init to repeat it (else EPROTO at the first request) */
        if (!parse_uint(val, UINT32_MAX, &v) || v == 0) {
            snprintf(msg, msg_size, "durfs: bad value in -o max_read=%s (bytes, 1..4294967295)",
                     val);
            rc = 2;
        } else {
            o->max_read = (unsigned)v;
            *eq = '=';
            return add_fuse_opt(o, opt, msg, msg_size);
        }
    } else {
        if (eq)
            *eq = '=';
        if (is_passthrough(opt))
            return add_fuse_opt(o, opt, msg, msg_size);
        if (is_fstab_only(opt))
            return 0; /* via mount.fuse3 (type fuse.durfs without mount.fuse.durfs) */
        snprintf(msg, msg_size, "durfs: unknown option -o %s (see durfs --help)", opt);
        return 2;
    }
    if (eq)
        *eq = '=';
    return rc;
}

static int parse_o(durfs_options *o, char *list, char *msg, size_t msg_size)
{
    char *save = NULL;
    for (char *opt = strtok_r(list, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
        int rc = parse_one(o, opt, msg, msg_size);
        if (rc)
            return rc;
    }
    return 0;
}

int options_parse(int argc, char **argv, durfs_options *o, char *msg, size_t msg_size)
{
    memset(o, 0, sizeof(*o));
    o->mode = DUR_NS_CLOSE;
    o->commit_seconds = 5;
    o->data_journal = 65536;
    msg[0] = '\0';
    int npos = 0;
    bool no_more_opts = false;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!no_more_opts && a[0] == '-' && a[1]) {
            if (strcmp(a, "--") == 0) {
                no_more_opts = true;
            } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                o->show_help = true;
            } else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
                o->show_version = true;
            } else if (strcmp(a, "-f") == 0) {
                o->foreground = true;
            } else if (strcmp(a, "-d") == 0) {
                o->debug = true;
                o->foreground = true;
            } else if (strcmp(a, "-s") == 0) {
                o->single_thread = true;
            } else if (strncmp(a, "-o", 2) == 0) {
                char *list = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
                if (!list) {
                    snprintf(msg, msg_size, "durfs: -o needs an argument");
                    return 2;
                }
                int rc = parse_o(o, list, msg, msg_size);
                if (rc)
                    return rc;
            } else {
                snprintf(msg, msg_size, "durfs: unknown option %s (see durfs --help)", a);
                return 2;
            }
        } else if (npos == 0) {
            o->backing = a;
            npos++;
        } else if (npos == 1) {
            o->mountpoint = a;
            npos++;
        } else {
            snprintf(msg, msg_size, "durfs: unexpected argument \"%s\" (after MOUNTPOINT)", a);
            return 2;
        }
    }
    if (o->show_help || o->show_version)
        return 0;
    if (!o->backing) {
        snprintf(msg, msg_size,
                 "durfs: missing BACKING directory (usage: durfs [options] BACKING MOUNTPOINT)");
        return 2;
    }
    if (!o->mountpoint) {
        snprintf(msg, msg_size,
                 "durfs: missing MOUNTPOINT (usage: durfs [options] BACKING MOUNTPOINT)");
        return 2;
    }
    return 0;
}

void options_usage(const char *prog)
{
    printf("usage: %s [-f] [-d] [-s] [-o opt[,opt...]] BACKING MOUNTPOINT\n"
           "\n"
           "Mount BACKING at MOUNTPOINT (they may be the same directory); every\n"
           "operation passes through to BACKING and is made crash-consistent by the\n"
           "namespace journal in BACKING/.durfs (hidden).\n"
           "\n"
           "  -f                     stay in the foreground, log to stderr\n"
           "  -d                     debug logging (implies -f)\n"
           "  -s                     single-threaded (no writeback cache)\n"
           "  --help, --version\n"
           "\n"
           "durfs options:\n"
           "  -o durability=MODE     close (default): metadata durable on return, data at\n"
           "                         close/fsync; sync: every write durable on return;\n"
           "                         ordered: a crash keeps a prefix of operations\n"
           "  -o commit=SECONDS      ordered mode: commit the journal every SECONDS\n"
           "                         (default 5); unsynced metadata is at most about\n"
           "                         SECONDS + 1 s old\n"
           "  -o journal=DIR         journal directory, an absolute path without . or ..\n"
           "                         (default BACKING/.durfs/journal)\n"
           "  -o checkpoint_mb=N     checkpoint when the journal's records exceed N MiB\n"
           "                         (zero fill not counted; default 64)\n"
           "  -o checkpoint_secs=N   and at least every N seconds (default 300)\n"
           "  -o data_journal=BYTES  close mode, on ext4 with a journal and XFS: files up\n"
           "                         to BYTES are made durable at close (and fdatasync,\n"
           "                         when that saves a flush) by journaling their\n"
           "                         content (default and max 65536; 0 = always fdatasync)\n"
           "  -o nonempty            allow a non-empty MOUNTPOINT other than BACKING\n"
           "  -o ro, rw, allow_other (always on as root),\n"
           "     default_permissions (always on)\n"
           "  -o fsname=, subtype=, max_read=, allow_root, auto_unmount,\n"
           "     nosuid, nodev, noexec, noatime, ... (passed to FUSE)\n"
           "  -o relatime, strictatime, nodiratime, lazytime, ... accepted, no effect:\n"
           "     FUSE keeps no access times; BACKING's mount options decide them\n"
           "  -o defaults, nofail, _netdev, user, x-*, comment=, ... (fstab only)\n"
           "     accepted and dropped\n",
           prog);
}
