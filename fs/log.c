/* durfs daemon: logging.  stderr until the daemon detaches (and always with -f),
 * syslog ("durfs", LOG_PID, LOG_DAEMON) afterwards.  Thread-safe: one write per
 * message. */
#include "durfs.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

bool g_debug;
static bool g_syslog;

void log_init(bool foreground, bool debug)
{
    (void)foreground;
    g_debug = debug;
    g_syslog = false;
}

void log_to_syslog(void)
{
    openlog("durfs", LOG_PID, LOG_DAEMON);
    g_syslog = true;
}

static void vlog(int level, const char *fmt, va_list ap)
{
    if (level == LOG_DEBUG && !g_debug)
        return;
    if (g_syslog) {
        vsyslog(level, fmt, ap);
        return;
    }
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
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
    log_msg(level, "%s", msg);
}

void log_dur_error(const char *what, const dur_error *err)
{
    char buf[1024];
    dur_error_format(err, buf, sizeof(buf));
    log_msg(LOG_ERR, "%s: %s", what, buf);
}
