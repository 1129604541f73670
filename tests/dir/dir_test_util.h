/* tests/dir: small helpers shared by the directory-layer tests. */
#ifndef DIR_TEST_UTIL_H
#define DIR_TEST_UTIL_H

#include "durability/dir.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Assert expr returns DUR_OK; on failure print the formatted error in `err`
 * (every test function declares `dur_error err;`). */
#define OK(expr)                                                                                   \
    do {                                                                                           \
        dur_code rc_ = (expr);                                                                     \
        if (rc_ != DUR_OK) {                                                                       \
            char b_[1024];                                                                         \
            print_error("%s:%d: %s -> %s\n", __FILE__, __LINE__, #expr,                            \
                        dur_error_format(&err, b_, sizeof b_));                                    \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* Assert expr fails with code c. */
#define FAILS(expr, c) assert_int_equal((int)(expr), (int)(c))

/* Make a fresh temporary directory (mkdtemp under $TMPDIR or /tmp); returns path. */
char *tu_mkdtemp(void);
/* rm -rf path. */
void tu_rmtree(const char *path);
/* A fresh tmpfs of `size` (mount's size=) to run out of space on; skips the test
 * (cmocka skip()) without root or when it cannot be mounted.  Returns its path:
 * a test keeps it in *state, and tu_small_tmpfs_teardown (its cmocka teardown)
 * unmounts and removes it, also after a failure. */
char *tu_small_tmpfs(const char *size);
int tu_small_tmpfs_teardown(void **state);

/* Write a whole file through the dir (create/truncate). */
void tu_write(dur_dir *d, const char *path, const void *data, size_t len);
void tu_write_str(dur_dir *d, const char *path, const char *s);
/* Read a whole file; returns a malloc'd NUL-terminated buffer, *len gets the size.
 * Returns NULL (and code in *rc) when it cannot be read. */
char *tu_read(dur_dir *d, const char *path, size_t *len, dur_code *rc);
/* Does path hold exactly s? */
int tu_content_is(dur_dir *d, const char *path, const char *s);

#endif
