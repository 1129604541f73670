/* The set of objects with FILE_DATA after the checkpoint (ns_data_set.c): it may
 * answer "logged" for an object that was not (one extra FILE_SYNCED record) but
 * never "not logged" for one that was -- replay would then write older logged
 * content over data synced in place. */
#include "ns_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>

static uint64_t key(uint64_t i)
{
    return (i + 1) * 0x9E3779B97F4A7C15ull; /* spread like a hash */
}

static void test_put_get_prune(void **state)
{
    (void)state;
    ns_data_set s = {0};
    assert_int_equal(ns_data_set_get(&s, key(1)), 0);
    for (uint64_t i = 0; i < 100000; i++)
        ns_data_set_put(&s, key(i), 10 + i);
    for (uint64_t i = 0; i < 100000; i++)
        assert_int_equal(ns_data_set_get(&s, key(i)), 10 + i);
    ns_data_set_put(&s, key(5), 500000); /* a newer FILE_DATA of the same object */
    assert_int_equal(ns_data_set_get(&s, key(5)), 500000);
    ns_data_set_prune(&s, 10 + 49999); /* checkpoint: the first half is covered */
    for (uint64_t i = 0; i < 100000; i++) {
        uint64_t want = i == 5 ? 500000 : i < 50000 ? 0 : 10 + i;
        assert_int_equal(ns_data_set_get(&s, key(i)), want);
    }
    ns_data_set_prune(&s, UINT64_MAX - 1);
    assert_int_equal(s.count, 0);
    ns_data_set_free(&s);
}

/* Past its limit the set answers "logged" for everything until a checkpoint
 * covers the overflow: no false "not logged". */
static void test_overflow_is_conservative(void **state)
{
    (void)state;
    ns_data_set s = {0};
    uint64_t n = (1u << 20) + 10;
    for (uint64_t i = 0; i < n; i++)
        ns_data_set_put(&s, key(i), 1 + i);
    for (uint64_t i = 0; i < n; i += 997)
        assert_true(ns_data_set_get(&s, key(i)) >= 1 + i);
    assert_true(ns_data_set_get(&s, key(n + 5)) >= n); /* never logged: "maybe" */
    ns_data_set_prune(&s, n);                          /* a checkpoint covers it all */
    assert_int_equal(ns_data_set_get(&s, key(n + 5)), 0);
    assert_int_equal(ns_data_set_get(&s, key(3)), 0);
    ns_data_set_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_prune),
        cmocka_unit_test(test_overflow_is_conservative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
