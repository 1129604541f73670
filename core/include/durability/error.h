/* libdurability: error values.
 *
 * Every fallible call returns a dur_code and, when the caller passes a non-NULL
 * dur_error, fills it with the context needed to act on it: which file, which
 * offset, what was expected.  Messages for corruption always name file and offset.
 *
 * Thread safety: a dur_error is plain data owned by the caller; the functions
 * here are pure and may be called from any thread.
 */
#ifndef DURABILITY_ERROR_H
#define DURABILITY_ERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dur_code {
    DUR_OK = 0,
    DUR_E_IO,       /* a system call failed; sys_errno says which errno */
    DUR_E_NOTFOUND, /* a file or directory that must exist does not */
    DUR_E_EXISTS,   /* a file that must not exist does */
    DUR_E_CORRUPT,  /* on-disk data failed validation; path + offset say where */
    DUR_E_NOTSUP,   /* the backend cannot do this (e.g. sync on the in-memory backend) */
    DUR_E_INVAL,    /* bad argument or option; msg says which */
    DUR_E_LOCKED,   /* another process holds the lock; msg names its pid */
    DUR_E_CLOSED,   /* object closed, or poisoned by an earlier write/sync failure */
    DUR_E_NOMEM,    /* allocation failed */
    DUR_E_NOROOM,   /* refused before doing anything: no room (sys_errno ENOSPC); retry later */
} dur_code;

#define DUR_ERROR_PATH_MAX 512
#define DUR_ERROR_MSG_MAX 256

typedef struct dur_error {
    dur_code code;
    int sys_errno;                 /* errno for DUR_E_IO (and others where known), else 0 */
    bool has_offset;               /* offset below is meaningful */
    uint64_t offset;               /* byte offset of the damage / failed I/O */
    char path[DUR_ERROR_PATH_MAX]; /* file concerned, relative to the directory root; may be "" */
    char msg[DUR_ERROR_MSG_MAX];   /* what went wrong, what was expected */
} dur_error;

/* Short stable name of a code, e.g. "corrupt". */
const char *dur_code_name(dur_code code);

/* Fill err (if non-NULL) and return code.  printf-style msg.  path may be NULL. */
dur_code dur_error_set(dur_error *err, dur_code code, int sys_errno, const char *path,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* As dur_error_set, with an offset. */
dur_code dur_error_set_at(dur_error *err, dur_code code, int sys_errno, const char *path,
                          uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Reset to DUR_OK with empty strings. */
void dur_error_clear(dur_error *err);

/* Render "corrupt: wal/wal-00000000000000000001.log at offset 4096: checksum mismatch
 * (expected 0x..., found 0x...)" into buf.  Returns buf. */
char *dur_error_format(const dur_error *err, char *buf, size_t size);

/* Map a code to a negative errno suitable for a FUSE reply (EIO, ENOENT, ...). */
int dur_code_to_errno(dur_code code, int sys_errno);

#ifdef __cplusplus
}
#endif
#endif
