/* tests/dir: dur_error formatting/truncation, errno mapping, path validation,
 * dur_file_read_all limits. */
#include "dir_test_util.h"
#include "durability/dir.h"
#include "durability/error.h"

#include <errno.h>
#include <stdlib.h>

static void test_format_corrupt_names_file_and_offset(void **state)
{
    (void)state;
    dur_error err;
    dur_code rc = dur_error_set_at(&err, DUR_E_CORRUPT, 0, "wal/wal-1.log", 4096,
                                   "checksum mismatch (expected 0x%x, found 0x%x)", 1u, 2u);
    assert_int_equal(rc, DUR_E_CORRUPT);
    char buf[512];
    assert_string_equal(dur_error_format(&err, buf, sizeof buf),
                        "corrupt: wal/wal-1.log at offset 4096: checksum mismatch "
                        "(expected 0x1, found 0x2)");
}

static void test_format_io_has_errno_text(void **state)
{
    (void)state;
    dur_error err;
    dur_error_set(&err, DUR_E_IO, ENOSPC, "data/x", "pwrite failed");
    char buf[512];
    dur_error_format(&err, buf, sizeof buf);
    assert_non_null(strstr(buf, "data/x"));
    assert_non_null(strstr(buf, "pwrite failed"));
    assert_non_null(strstr(buf, strerror(ENOSPC)));
    assert_false(err.has_offset);
    /* a full disk is not called an I/O error (operators read these lines) */
    assert_memory_equal(buf, "out of space: data/x", 20);
    dur_error_set(&err, DUR_E_IO, EIO, "data/x", "pwrite failed");
    assert_memory_equal(dur_error_format(&err, buf, sizeof buf), "I/O error: data/x", 17);
}

static void test_truncation_is_safe(void **state)
{
    (void)state;
    char longpath[3000];
    memset(longpath, 'p', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    char longmsg[1000];
    memset(longmsg, 'm', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    dur_error err;
    dur_error_set(&err, DUR_E_INVAL, 0, longpath, "%s", longmsg);
    assert_int_equal(strlen(err.path), DUR_ERROR_PATH_MAX - 1);
    assert_int_equal(strlen(err.msg), DUR_ERROR_MSG_MAX - 1);
    char small[10];
    memset(small, 'x', sizeof small);
    dur_error_format(&err, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, "invalid: ", 9);
    char big[2048];
    dur_error_format(&err, big, sizeof big);
    assert_int_equal(strlen(big), strlen("invalid: ") + 511 + 2 + 255);
    /* NULL err is allowed everywhere and just returns the code. */
    assert_int_equal(dur_error_set(NULL, DUR_E_EXISTS, 0, "x", "y"), DUR_E_EXISTS);
    assert_int_equal(dur_error_set_at(NULL, DUR_E_CORRUPT, 0, NULL, 1, "y"), DUR_E_CORRUPT);
    dur_error_clear(&err);
    assert_int_equal(err.code, DUR_OK);
    assert_string_equal(err.path, "");
}

static void test_code_to_errno(void **state)
{
    (void)state;
    assert_int_equal(dur_code_to_errno(DUR_OK, 0), 0);
    assert_int_equal(dur_code_to_errno(DUR_E_IO, ENOSPC), -ENOSPC);
    assert_int_equal(dur_code_to_errno(DUR_E_IO, 0), -EIO);
    assert_int_equal(dur_code_to_errno(DUR_E_NOTFOUND, 0), -ENOENT);
    assert_int_equal(dur_code_to_errno(DUR_E_EXISTS, 0), -EEXIST);
    assert_int_equal(dur_code_to_errno(DUR_E_CORRUPT, 0), -EIO);
    assert_int_equal(dur_code_to_errno(DUR_E_NOTSUP, 0), -EOPNOTSUPP);
    assert_int_equal(dur_code_to_errno(DUR_E_INVAL, 0), -EINVAL);
    assert_int_equal(dur_code_to_errno(DUR_E_LOCKED, 0), -EBUSY);
    assert_int_equal(dur_code_to_errno(DUR_E_CLOSED, 0), -EIO);
    assert_int_equal(dur_code_to_errno(DUR_E_NOMEM, 0), -ENOMEM);
    assert_string_equal(dur_code_name(DUR_E_CORRUPT), "corrupt");
    assert_string_equal(dur_code_name((dur_code)999), "unknown error");
}

static void test_path_check(void **state)
{
    (void)state;
    dur_error err;
    static const char *const good[] = {"",        "a",    "a/b/c", "wal/wal-0001.log",
                                       ".hidden", "a..b", "...",   "a/.b/c.."};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(dur_path_check(good[i], &err), DUR_OK);
    static const char *const bad[] = {"/etc/passwd", "/",   "..",    "../x", "a/..", "a/../b",
                                      ".",           "./a", "a/./b", "a//b", "a/",   "//"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dur_path_check(bad[i], &err), DUR_E_INVAL);
        assert_string_equal(err.path, bad[i]); /* the error names the path */
        assert_true(err.msg[0] != '\0');
    }
    assert_int_equal(dur_path_check(NULL, &err), DUR_E_INVAL);
    char *p = malloc(4097);
    memset(p, 'a', 4096);
    p[4095] = '\0';
    assert_int_equal(dur_path_check(p, &err), DUR_OK); /* 4095 bytes: allowed */
    p[4095] = 'a';
    p[4096] = '\0';
    assert_int_equal(dur_path_check(p, &err), DUR_E_INVAL);
    assert_non_null(strstr(err.msg, "4095"));
    free(p);
}

static void test_read_all_refuses_large_before_allocating(void **state)
{
    (void)state;
    dur_error err;
    dur_dir *d;
    char *root = tu_mkdtemp();
    OK(dur_dir_open_fs(root, false, &d, &err));
    dur_file *f;
    OK(dur_dir_create(d, "big", &f, &err));
    OK(f->ops->truncate(f, (uint64_t)1 << 40, &err)); /* 1 TiB sparse: malloc would fail */
    dur_file_close(f);
    void *data = (void *)1;
    size_t len = 99;
    assert_int_equal(dur_file_read_all(d, "big", 1 << 20, &data, &len, &err), DUR_E_CORRUPT);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_string_equal(err.path, "big");
    assert_non_null(strstr(err.msg, "1099511627776"));
    tu_write_str(d, "small", "hello");
    OK(dur_file_read_all(d, "small", 5, &data, &len, &err));
    assert_int_equal(len, 5);
    assert_memory_equal(data, "hello", 5);
    free(data);
    assert_int_equal(dur_file_read_all(d, "missing", 5, &data, &len, &err), DUR_E_NOTFOUND);
    dur_dir_close(d);
    tu_rmtree(root);
    free(root);
}

static void test_names_free_and_append(void **state)
{
    (void)state;
    dur_error err;
    dur_dir *d;
    OK(dur_dir_new_mem(&d, &err));
    dur_file *f;
    OK(dur_dir_create(d, "log", &f, &err));
    OK(dur_file_append(f, "ab", 2, &err));
    OK(dur_file_append(f, "cd", 2, &err));
    dur_file_close(f);
    assert_true(tu_content_is(d, "log", "abcd"));
    dur_names names = {0};
    dur_names_free(&names); /* empty is fine */
    dur_names_free(NULL);
    dur_dir_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_corrupt_names_file_and_offset),
        cmocka_unit_test(test_format_io_has_errno_text),
        cmocka_unit_test(test_truncation_is_safe),
        cmocka_unit_test(test_code_to_errno),
        cmocka_unit_test(test_path_check),
        cmocka_unit_test(test_read_all_refuses_large_before_allocating),
        cmocka_unit_test(test_names_free_and_append),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
