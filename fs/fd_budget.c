/* durfs daemon: the file-descriptor budget.
 *
 * Every file or directory a program opens through the mount holds one daemon fd
 * until it is released.  Left unchecked, programs holding thousands of files open
 * take every fd the daemon may have (RLIMIT_NOFILE), and then the journal cannot
 * start a WAL segment or write a checkpoint, nor a handler open the fds it needs
 * after making a change (the new file's handle, a parent).  So the fd limit is
 * split once at startup: the fd cache (inode.c) gets a quarter, at most what it
 * asks for; FD_RESERVE stay free for the journal, libfuse and the handlers'
 * short-lived fds; open handles get the rest.  Past that an open through the
 * mount fails with EMFILE, as the program's own open(2) would at its own limit.
 * (Inodes on filesystems without file handles keep one O_PATH fd each, outside
 * this budget: their number is bounded by the limit anyway, logged at mount.)
 */
#include "durfs.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <syslog.h>

/* journal (segment, directory syncs, checkpoint, replay map, lock), /dev/fuse,
 * and up to a few fds per worker thread inside a handler */
#define FD_RESERVE 256u

static atomic_size_t g_handles;
static size_t g_handles_max = SIZE_MAX;
static atomic_bool g_told;

size_t fd_budget_init(size_t cache_slots_wanted)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return cache_slots_wanted;
    size_t limit = (size_t)rl.rlim_cur;
    size_t reserve = limit / 4 < FD_RESERVE ? limit / 4 : FD_RESERVE;
    size_t slots = limit / 4 < cache_slots_wanted ? limit / 4 : cache_slots_wanted;
    g_handles_max = limit - reserve - slots;
    return slots;
}

int fd_budget_take(void)
{
    size_t n = atomic_load(&g_handles);
    do {
        if (n >= g_handles_max) {
            if (!atomic_exchange(&g_told, true))
                log_msg(LOG_WARNING,
                        "%zu files and directories are open through the mount, the most the "
                        "fd limit leaves room for: further opens fail with EMFILE (raise "
                        "LimitNOFILE / ulimit -n of the daemon)",
                        n);
            return EMFILE;
        }
    } while (!atomic_compare_exchange_weak(&g_handles, &n, n + 1));
    return 0;
}

void fd_budget_give(void)
{
    size_t before = atomic_fetch_sub(&g_handles, 1);
    assert(before > 0);
    (void)before;
    if (before <= g_handles_max * 3 / 4)
        atomic_store(&g_told, false); /* well below again: tell the next time */
}
