/* durfs daemon: command line. */
#ifndef DURFS_OPTIONS_H
#define DURFS_OPTIONS_H

#include "durability/nsjournal.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct durfs_options {
    const char *backing, *mountpoint;
    bool foreground, debug, single_thread;
    bool allow_other, read_only, nonempty;
    bool show_help, show_version;
    dur_ns_mode mode;
    unsigned commit_seconds;
    const char *journal_dir;
    unsigned long long checkpoint_mb; /* 0 = library default */
    unsigned checkpoint_secs;         /* 0 = library default */
    unsigned data_journal;            /* dur_ns_options.data_journal_max */
    unsigned max_read;                /* -o max_read=, which init must repeat; 0 = none */
    char fuse_opts[2048];             /* options passed to libfuse, comma separated */
} durfs_options;

/* Parse argv.  Returns 0, or 2 (usage error) after writing a one-line message
 * naming the offending argument into msg. */
int options_parse(int argc, char **argv, durfs_options *o, char *msg, size_t msg_size);
void options_usage(const char *prog);

#endif
