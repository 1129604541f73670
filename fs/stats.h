/* durfs daemon: per-operation counters and latency histograms (lock-free). */
#ifndef DURFS_STATS_H
#define DURFS_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Every operation the daemon answers; the names appear in trusted.durfs.stats.
 * (clang-format is off for it: it would lay the list out as a staircase) */
/* clang-format off */
#define DURFS_OPS(X)                                                                   \
    X(lookup) X(forget) X(forget_multi) X(getattr) X(setattr) X(readlink) X(mknod)     \
    X(mkdir) X(unlink) X(rmdir) X(symlink) X(rename) X(link) X(open) X(read)           \
    X(write_buf) X(flush) X(release) X(fsync) X(opendir) X(readdir) X(readdirplus)     \
    X(releasedir) X(fsyncdir) X(statfs) X(setxattr) X(getxattr) X(listxattr)           \
    X(removexattr) X(access) X(create) X(fallocate) X(lseek) X(copy_file_range)

enum {
#define DURFS_OP_ENUM(name) OP_##name,
    DURFS_OPS(DURFS_OP_ENUM)
#undef DURFS_OP_ENUM
    OP_COUNT
};
/* clang-format on */

uint64_t stats_begin(int op); /* returns the start time (ns) */
void stats_end(int op, uint64_t t0);
void stats_error(void); /* the current thread's operation failed */
/* Append {"uptime_seconds":..,"ops":{...}} to buf; returns the length or -1 if too small. */
int stats_json(char *buf, size_t size, double uptime);

#endif
