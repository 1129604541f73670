/* durfsctl subcommands.  Each takes its own argv (argv[0] = subcommand name),
 * parses its options, and returns the process exit status. */
#ifndef DURFS_CTL_COMMANDS_H
#define DURFS_CTL_COMMANDS_H

#include <stdbool.h>

/* Exit statuses shared by all subcommands (verify adds 1 and 2, see its help). */
enum { CTL_OK = 0, CTL_FAILED = 1, CTL_USAGE = 3 };

int cmd_status(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_dump(int argc, char **argv);

/* Common option parsing: --json, --help; returns the first positional argument's
 * index in argv or -1 after printing usage (exit with *status). */
typedef struct ctl_args {
    bool json;
    const char *dir;     /* the one positional argument */
    const char *journal; /* --journal DIR (offline commands) */
    bool watch;
    double watch_secs;
    long count; /* --count N: iterations of --watch, 0 = forever */
} ctl_args;
/* Parses argv for a subcommand accepting the options in allowed ("jwc" letters:
 * j=--journal, w=--watch/--count). Returns true, or false with *status set after
 * printing help (status 0) or an error (status CTL_USAGE). */
bool ctl_parse(int argc, char **argv, const char *allowed, const char *help, ctl_args *a,
               int *status);

#endif
