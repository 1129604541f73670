/* tests/dir (suite 'fs', needs root): a full filesystem.  Writes fail with
 * DUR_E_IO/ENOSPC naming file and offset; dur_atomic_write fails cleanly, leaving
 * the old content and no temp file. */
#include "dir_test_util.h"
#include "durability/sync.h"

#include <errno.h>
#include <stdlib.h>

static void test_enospc_is_reported_and_atomic_write_is_clean(void **state)
{
    *state = tu_small_tmpfs("256k"); /* skips the test without root */
    const char *mnt = *state;
    dur_error err;
    dur_dir *d;
    OK(dur_dir_open_fs(mnt, false, &d, &err));
    OK(dur_atomic_write(d, "cfg", "old", 3, &err));
    size_t big = 1 << 20;
    char *data = malloc(big);
    memset(data, 'x', big);
    /* Atomic write of more than fits: fails, old content kept, no temp left. */
    FAILS(dur_atomic_write(d, "cfg", data, big, &err), DUR_E_IO);
    assert_int_equal(err.sys_errno, ENOSPC);
    assert_true(err.has_offset);
    assert_non_null(strstr(err.path, "cfg.tmp."));
    char msg[1024];
    dur_error_format(&err, msg, sizeof msg);
    print_message("full fs: %s\n", msg);
    assert_non_null(strstr(msg, strerror(ENOSPC)));
    assert_true(tu_content_is(d, "cfg", "old"));
    dur_names ns;
    OK(dur_dir_list(d, "", &ns, &err));
    assert_int_equal(ns.count, 1);
    dur_names_free(&ns);
    /* A plain write names file and offset too. */
    dur_file *f;
    OK(dur_dir_create(d, "fill", &f, &err));
    FAILS(f->ops->pwrite(f, data, big, 0, &err), DUR_E_IO);
    assert_int_equal(err.sys_errno, ENOSPC);
    assert_string_equal(err.path, "fill");
    assert_true(err.offset > 0 && err.offset < big);
    dur_file_close(f);
    free(data);
    dur_dir_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_enospc_is_reported_and_atomic_write_is_clean,
                                  tu_small_tmpfs_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
