/* libdurability: error values.
 *
 * A dur_error is plain caller-owned data; everything here is pure.  Strings are
 * always truncated to fit their fixed buffers and always NUL-terminated, so a
 * hostile or overlong path can never overflow an error record.
 */
#include "durability/error.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *dur_code_name(dur_code code)
{
    switch (code) {
    case DUR_OK:
        return "ok";
    case DUR_E_IO:
        return "I/O error";
    case DUR_E_NOTFOUND:
        return "not found";
    case DUR_E_EXISTS:
        return "exists";
    case DUR_E_CORRUPT:
        return "corrupt";
    case DUR_E_NOTSUP:
        return "not supported";
    case DUR_E_INVAL:
        return "invalid";
    case DUR_E_LOCKED:
        return "locked";
    case DUR_E_CLOSED:
        return "closed";
    case DUR_E_NOMEM:
        return "out of memory";
    case DUR_E_NOROOM:
        return "no room";
    }
    return "unknown error";
}

/* snprintf that tolerates truncation; -Wformat-truncation must not fire on purpose. */
static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = src ? strnlen(src, size - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static dur_code set_v(dur_error *err, dur_code code, int sys_errno, const char *path,
                      bool has_offset, uint64_t offset, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    err->sys_errno = sys_errno;
    err->has_offset = has_offset;
    err->offset = has_offset ? offset : 0;
    copy_str(err->path, sizeof err->path, path);
    if (fmt)
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    else
        err->msg[0] = '\0';
    return code;
}

dur_code dur_error_set(dur_error *err, dur_code code, int sys_errno, const char *path,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dur_code rc = set_v(err, code, sys_errno, path, false, 0, fmt, ap);
    va_end(ap);
    return rc;
}

dur_code dur_error_set_at(dur_error *err, dur_code code, int sys_errno, const char *path,
                          uint64_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dur_code rc = set_v(err, code, sys_errno, path, true, offset, fmt, ap);
    va_end(ap);
    return rc;
}

void dur_error_clear(dur_error *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof *err);
    err->code = DUR_OK;
}

/* Append to buf at *pos, never past size - 1. */
static void appendf(char *buf, size_t size, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void appendf(char *buf, size_t size, size_t *pos, const char *fmt, ...)
{
    if (*pos >= size - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, size - *pos, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    *pos += (size_t)n;
    if (*pos > size - 1)
        *pos = size - 1;
}

char *dur_error_format(const dur_error *err, char *buf, size_t size)
{
    if (!buf || size == 0)
        return buf;
    buf[0] = '\0';
    if (!err) {
        copy_str(buf, size, "ok");
        return buf;
    }
    size_t pos = 0;
    /* A full disk is no device failure: an operator reading "I/O error" looks at
     * the wrong thing. */
    bool no_space = err->code == DUR_E_IO && (err->sys_errno == ENOSPC || err->sys_errno == EDQUOT);
    appendf(buf, size, &pos, "%s", no_space ? "out of space" : dur_code_name(err->code));
    if (err->path[0])
        appendf(buf, size, &pos, ": %s", err->path);
    if (err->has_offset)
        appendf(buf, size, &pos, "%s at offset %llu", err->path[0] ? "" : ":",
                (unsigned long long)err->offset);
    if (err->msg[0])
        appendf(buf, size, &pos, ": %s", err->msg);
    if (err->sys_errno) {
        char eb[128];
        /* GNU strerror_r: thread-safe, returns the message pointer. */
        appendf(buf, size, &pos, " (%s)", strerror_r(err->sys_errno, eb, sizeof eb));
    }
    return buf;
}

int dur_code_to_errno(dur_code code, int sys_errno)
{
    switch (code) {
    case DUR_OK:
        return 0;
    case DUR_E_IO:
        return sys_errno > 0 ? -sys_errno : -EIO;
    case DUR_E_NOTFOUND:
        return -ENOENT;
    case DUR_E_EXISTS:
        return -EEXIST;
    case DUR_E_CORRUPT:
        return -EIO;
    case DUR_E_NOTSUP:
        return -EOPNOTSUPP;
    case DUR_E_INVAL:
        return -EINVAL;
    case DUR_E_LOCKED:
        return -EBUSY;
    case DUR_E_CLOSED:
        return -EIO;
    case DUR_E_NOMEM:
        return -ENOMEM;
    case DUR_E_NOROOM:
        return -ENOSPC;
    }
    return -EIO;
}
