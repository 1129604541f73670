/* durfs daemon: logging.  With -f: stderr.  Otherwise syslog ("durfs", LOG_PID,
 * LOG_DAEMON) from the start, and warnings and errors also on stderr until the
 * daemon detaches, so the person who ran durfs sees why a mount failed.
 * Thread-safe: one write per message. */
#include "durfs.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

bool g_debug;
static bool g_syslog, g_stderr = true;

void log_init(bool foreground, bool debug)
{
    g_debug = debug;
    g_syslog = !foreground;
    if (g_syslog)
        openlog("durfs", LOG_PID, LOG_DAEMON);
}

void log_detach_stderr(void)
{
    g_stderr = false;
}

static void vlog(int level, const char *fmt, va_list ap)
{
    if (level == LOG_DEBUG && !g_debug)
        return;
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    if (g_syslog)
        syslog(level, "%s", line);
    if (!g_stderr || (g_syslog && level > LOG_WARNING))
        return;
    const char *tag = level <= LOG_ERR ? "error: " : level == LOG_WARNING ? "WARNING: " : "";
    fprintf(stderr, "durfs: %s%s\n", tag, line);
}

void log_msg(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void log_ns_callback(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (strncmp(msg, "durfs: ", 7) == 0) /* we add our own prefix */
        msg += 7;
    if (level == LOG_WARNING && strncmp(msg, "WARNING: ", 9) == 0)
        msg += 9;
    log_msg(level, "%s", msg);
}

void log_dur_error(const char *what, const dur_error *err)
{
    char buf[1024];
    dur_error_format(err, buf, sizeof(buf));
    log_msg(LOG_ERR, "%s: %s", what, buf);
}

bool log_limit_pass(log_limit *l, unsigned *held_back)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    long long next = atomic_load(&l->next_ns);
    if (now < next || !atomic_compare_exchange_strong(&l->next_ns, &next,
                                                      now + LOG_LIMIT_SECONDS * 1000000000LL)) {
        atomic_fetch_add(&l->held_back, 1);
        return false;
    }
    *held_back = atomic_exchange(&l->held_back, 0);
    return true;
}
