/* durfsctl: inspect and control durfs -- online through the mount point's control
 * xattrs (status, stats, checkpoint), offline on the journal (verify, recover, dump). */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: durfsctl COMMAND [ARGS] [--json]\n"
    "\n"
    "Online (root only; DIR is a durfs mount point or any path inside one):\n"
    "  status DIR                  mode, journal, checkpoint, recovery, syncs, errors,\n"
    "                              and whether everything acknowledged is durable now\n"
    "  stats DIR [--watch [SECS]] [--count N]\n"
    "                              per-operation counts and latency percentiles\n"
    "  checkpoint DIR              checkpoint now if records were logged since the last\n"
    "Offline (daemon stopped):\n"
    "  verify BACKING|JOURNALDIR   check journal and checkpoints, read-only;\n"
    "                              exit 0 clean, 1 needs recovery, 2 corrupt, 3 error\n"
    "  recover BACKING [--journal DIR]\n"
    "                              replay the journal into BACKING without mounting\n"
    "  dump BACKING|JOURNALDIR     print every journal record\n"
    "\n"
    "Every command takes --json (machine-readable output) and --help;\n"
    "durfsctl --version prints the version.\n"
    "Exit status: 0 success, 1 failure, 3 usage error or unusable directory\n"
    "argument (verify: see above).\n"
    "See durfsctl(8).\n";

static bool parse_number(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > 0) || v > 86400)
        return false;
    *out = v;
    return true;
}

bool ctl_parse(int argc, char **argv, const char *allowed, const char *help, ctl_args *a,
               int *status)
{
    memset(a, 0, sizeof *a);
    a->watch_secs = 2;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            fputs(help, stdout);
            *status = CTL_OK;
            return false;
        } else if (strcmp(s, "--json") == 0) {
            a->json = true;
        } else if (strchr(allowed, 'j') && strcmp(s, "--journal") == 0 && i + 1 < argc) {
            a->journal = argv[++i];
        } else if (strchr(allowed, 'j') && strncmp(s, "--journal=", 10) == 0) {
            a->journal = s + 10;
        } else if (strchr(allowed, 'w') && strcmp(s, "--watch") == 0) {
            a->watch = true;
            if (i + 1 < argc && parse_number(argv[i + 1], &a->watch_secs))
                i++;
        } else if (strchr(allowed, 'w') && strncmp(s, "--watch=", 8) == 0) {
            a->watch = true;
            if (!parse_number(s + 8, &a->watch_secs)) {
                fprintf(stderr,
                        "durfsctl %s: bad --watch interval '%s' (seconds, more than 0, at most "
                        "86400)\n",
                        argv[0], s + 8);
                *status = CTL_USAGE;
                return false;
            }
        } else if (strchr(allowed, 'w') && strcmp(s, "--count") == 0 && i + 1 < argc) {
            char *end;
            a->count = strtol(argv[++i], &end, 10);
            if (*end != '\0' || a->count < 1) {
                fprintf(stderr, "durfsctl %s: bad --count '%s' (a positive number)\n", argv[0],
                        argv[i]);
                *status = CTL_USAGE;
                return false;
            }
        } else if (s[0] == '-' && s[1] != '\0') {
            fprintf(stderr, "durfsctl %s: unknown option '%s'\n%s", argv[0], s, help);
            *status = CTL_USAGE;
            return false;
        } else if (a->dir == NULL) {
            a->dir = s;
        } else {
            fprintf(stderr, "durfsctl %s: unexpected argument '%s'\n%s", argv[0], s, help);
            *status = CTL_USAGE;
            return false;
        }
    }
    if (a->dir == NULL) {
        fprintf(stderr, "durfsctl %s: missing directory argument\n%s", argv[0], help);
        *status = CTL_USAGE;
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {
        {"status", cmd_status}, {"stats", cmd_stats},     {"checkpoint", cmd_checkpoint},
        {"verify", cmd_verify}, {"recover", cmd_recover}, {"dump", cmd_dump},
    };
    if (argc < 2) {
        fputs(usage_text, stderr);
        return CTL_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, stdout);
        return CTL_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("durfsctl (durfs) %s\n", DURFS_VERSION);
        return CTL_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "durfsctl: unknown command '%s'\n%s", argv[1], usage_text);
    return CTL_USAGE;
}
