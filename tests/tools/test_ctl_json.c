/* durfsctl's JSON reader: the status document parses; hostile or broken input
 * fails with an offset instead of crashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "json.h"

#include <stdlib.h>
#include <string.h>

static const char status_doc[] =
    "{\"version\":\"0.1.0\",\"pid\":42,\"mode\":\"close\",\"backing\":\"/var/lib/app\","
    "\"fs\":{\"kind\":\"ext4\",\"volatile\":false,\"fsync_hardens_all_metadata\":true},"
    "\"checkpoint\":{\"lsn\":17,\"age_seconds\":1.5,\"count\":3},"
    "\"recovery\":{\"records_replayed\":9,\"elapsed_ms\":0.25},\"ops\":[1,2,3],"
    "\"all_durable\":true,\"note\":null}";

static json *parse(const char *s, char *err)
{
    return json_parse(s, strlen(s), err, 128);
}

static void test_status_document(void **state)
{
    (void)state;
    char err[128];
    json *j = parse(status_doc, err);
    assert_non_null(j);
    assert_string_equal(json_string(j, "mode", "?"), "close");
    assert_string_equal(json_string(j, "fs.kind", "?"), "ext4");
    assert_int_equal(json_bool(j, "fs.volatile"), 0);
    assert_int_equal(json_bool(j, "all_durable"), 1);
    assert_int_equal(json_bool(j, "missing"), -1);
    assert_true(json_number(j, "checkpoint.lsn", 0) == 17);
    assert_true(json_number(j, "checkpoint.age_seconds", 0) == 1.5);
    assert_true(json_number(j, "recovery.elapsed_ms", 0) == 0.25);
    assert_true(json_number(j, "checkpoint.nope", -1) == -1);
    assert_true(json_number(j, "mode", -1) == -1); /* wrong type -> fallback */
    assert_int_equal(json_get(j, "ops")->count, 3);
    assert_int_equal(json_get(j, "note")->type, JSON_NULL);
    json_free(j);
}

static void test_string_escapes(void **state)
{
    (void)state;
    char err[128];
    json *j = parse("{\"s\":\"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\"}", err);
    assert_non_null(j);
    assert_string_equal(json_string(j, "s", ""), "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80");
    json_free(j);
}

static void test_trailing_nul_accepted(void **state)
{
    (void)state;
    char err[128];
    json *j = json_parse("{\"a\":1}\0", 8, err, sizeof err);
    assert_non_null(j);
    json_free(j);
}

static void bad(const char *s, const char *what)
{
    char err[128];
    json *j = parse(s, err);
    assert_null(j);
    assert_non_null(strstr(err, what));
    assert_non_null(strstr(err, "offset"));
}

static void test_broken_input(void **state)
{
    (void)state;
    bad("", "end of input");
    bad("{\"a\":1", "expected");
    bad("{\"a\" 1}", "expected ':'");
    bad("{\"a\":1} x", "trailing");
    bad("{\"a\":\"unterminated}", "unterminated");
    bad("{\"a\":\"bad\\q\"}", "bad escape");
    bad("{\"a\":\"\\u12G4\"}", "\\u");
    bad("{\"a\":-}", "bad number");
    bad("{\"a\":tru}", "bad number");
    bad("{1:2}", "member name");
}

static void test_depth_bounded(void **state)
{
    (void)state;
    char deep[200];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = '\0';
    bad(deep, "nested too deeply");
}

static void test_write_string_escapes(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_write_string(f, "a\"b\\c\n\x01");
    fclose(f);
    assert_string_equal(buf, "\"a\\\"b\\\\c\\n\\u0001\"");
    char err[128];
    json *j = parse(buf, err); /* round trip */
    assert_non_null(j);
    assert_string_equal(j->string, "a\"b\\c\n\x01");
    json_free(j);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_document),       cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_trailing_nul_accepted), cmocka_unit_test(test_broken_input),
        cmocka_unit_test(test_depth_bounded),         cmocka_unit_test(test_write_string_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
