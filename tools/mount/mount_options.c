/* mount.durfs option translation: see mount_options.h for the three classes. */
#include "mount_options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* For mount(8), systemd or the admin only; the daemon never sees them. */
static const char *const dropped_flags[] = {
    "defaults", "auto",   "noauto", "nofail", "_netdev",      "user",
    "users",    "nouser", "owner",  "group",  "nouser_xattr", NULL,
};
/* Kernel mount flags and libfuse options for the daemon (kept to what its own
 * parser, fs/options.c, accepts: it passes them to FUSE, or drops the atime
 * policies FUSE has no use for). */
static const char *const fuse_flags[] = {
    "rw",         "ro",         "suid",          "nosuid",     "dev",         "nodev",
    "exec",       "noexec",     "async",         "sync",       "dirsync",     "atime",
    "noatime",    "nodiratime", "relatime",      "norelatime", "strictatime", "auto_unmount",
    "allow_root", "diratime",   "nostrictatime", "lazytime",   "nolazytime",  NULL,
};
static const char *const fuse_keys[] = {
    "fsname", "subtype", "max_read", "context", "fscontext", "defcontext", "rootcontext", NULL,
};
/* durfs's own flags. */
static const char *const daemon_flags[] = {
    "allow_other",
    "default_permissions",
    "nonempty",
    NULL,
};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static bool fail(mount_opts_result *out, const char *fmt, const char *a, const char *b)
{
    snprintf(out->error, sizeof out->error, fmt, a, b);
    return false;
}

/* Positive decimal integer within [1, max]. */
static bool parse_count(const char *v, unsigned long max)
{
    if (*v < '0' || *v > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    return errno == 0 && *end == '\0' && n >= 1 && n <= max;
}

static bool append(mount_opts_result *out, const char *opt)
{
    size_t used = strlen(out->daemon_opts);
    size_t need = strlen(opt) + (used ? 1 : 0);
    if (used + need + 1 > sizeof out->daemon_opts)
        return fail(out, "option string too long (at '%s')%s", opt, "");
    if (used)
        out->daemon_opts[used++] = ',';
    strcpy(out->daemon_opts + used, opt);
    return true;
}

/* Checks the value of a durfs key=value option; NULL when fine, else why not. */
static const char *check_daemon_value(const char *key, const char *val)
{
    if (strcmp(key, "durability") == 0) {
        if (strcmp(val, "close") != 0 && strcmp(val, "sync") != 0 && strcmp(val, "ordered") != 0)
            return "must be close, sync or ordered";
        return NULL;
    }
    if (strcmp(key, "commit") == 0)
        return parse_count(val, 86400) ? NULL : "must be a number of seconds, 1..86400";
    if (strcmp(key, "checkpoint_mb") == 0)
        return parse_count(val, 1048576) ? NULL : "must be a number of MiB, 1..1048576";
    if (strcmp(key, "checkpoint_secs") == 0)
        return parse_count(val, 86400 * 7) ? NULL : "must be a number of seconds, 1..604800";
    if (strcmp(key, "journal") == 0)
        return val[0] == '/' ? NULL : "must be an absolute path";
    if (strcmp(key, "data_journal") == 0)
        return strcmp(val, "0") == 0 || parse_count(val, 65536)
                   ? NULL
                   : "must be a number of bytes, 0..65536";
    return "";
}

static bool is_daemon_key(const char *key)
{
    return strcmp(key, "durability") == 0 || strcmp(key, "commit") == 0 ||
           strcmp(key, "checkpoint_mb") == 0 || strcmp(key, "checkpoint_secs") == 0 ||
           strcmp(key, "journal") == 0 || strcmp(key, "data_journal") == 0;
}

static bool handle_one(char *opt, bool sloppy, mount_opts_result *out)
{
    if (*opt == '\0')
        return true; /* "a,,b": tolerated as mount(8) does */
    if (opt[0] == 'x' && opt[1] == '-')
        return true; /* x-systemd.*, x-gvfs-*, ... */
    if (opt[0] == 'X' && opt[1] == '-')
        return true; /* X-mount.* is libmount's own */
    if (strncmp(opt, "comment=", 8) == 0 || in_list(dropped_flags, opt))
        return true;

    if (strcmp(opt, "remount") == 0)
        return fail(out, "'%s' is not supported by durfs: unmount and mount again%s", opt, "");
    if (strcmp(opt, "bind") == 0 || strcmp(opt, "rbind") == 0 || strcmp(opt, "move") == 0)
        return fail(out, "'%s' is a mount(8) operation, not a durfs option%s", opt, "");

    char *eq = strchr(opt, '=');
    if (eq == NULL) {
        if (in_list(daemon_flags, opt) || in_list(fuse_flags, opt)) {
            if (strcmp(opt, "ro") == 0)
                out->read_only = true;
            else if (strcmp(opt, "rw") == 0)
                out->read_only = false;
            return append(out, opt);
        }
        if (is_daemon_key(opt))
            return fail(out, "option '%s' needs a value (%s=...)", opt, opt);
    } else {
        *eq = '\0';
        const char *key = opt, *val = eq + 1;
        bool daemon_key = is_daemon_key(key);
        if (daemon_key || in_list(fuse_keys, key)) {
            if (*val == '\0')
                return fail(out, "option '%s=' has an empty value%s", key, "");
            if (daemon_key) {
                const char *why = check_daemon_value(key, val);
                if (why != NULL) {
                    char what[200];
                    snprintf(what, sizeof what, "%s=%.100s", key, val);
                    return fail(out, "bad option '%s': %s", what, why);
                }
            }
            *eq = '=';
            return append(out, opt);
        }
        *eq = '=';
    }
    if (sloppy) {
        size_t used = strlen(out->warnings);
        snprintf(out->warnings + used, sizeof out->warnings - used, "%s'%s'", used ? ", " : "",
                 opt);
        return true;
    }
    return fail(out, "unknown option '%s'%s (see mount.durfs(8); -s ignores unknown options)", opt,
                "");
}

bool mount_opts_translate(const char *opts, bool sloppy, mount_opts_result *out)
{
    memset(out, 0, sizeof *out);
    if (opts == NULL || *opts == '\0')
        return true;
    char *copy = strdup(opts);
    if (copy == NULL)
        return fail(out, "out of memory%s%s", "", "");
    bool ok = true;
    /* Walked by hand (not strtok) so an empty item stays an item. */
    for (char *p = copy; ok;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        ok = handle_one(p, sloppy, out);
        if (!comma)
            break;
        p = comma + 1;
    }
    free(copy);
    return ok;
}
