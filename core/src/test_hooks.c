/* libdurability: test-only switches that skip a chosen sync.
 *
 * They exist so a crash test can prove it is sensitive: with the switch on, the
 * test must find a violation.  Without DUR_TEST_HOOKS (release builds) setting a
 * switch does nothing and every query returns 0, so no sync can ever be skipped.
 */
#include "durability/testing.h"

#include <stdatomic.h>

#ifdef DUR_TEST_HOOKS
static atomic_uint skip_mask;

void dur_test_set_skip(unsigned mask)
{
    atomic_store(&skip_mask, mask);
}

unsigned dur_test_get_skip(void)
{
    return atomic_load_explicit(&skip_mask, memory_order_relaxed);
}
#else
void dur_test_set_skip(unsigned mask)
{
    (void)mask;
}

unsigned dur_test_get_skip(void)
{
    return 0;
}
#endif
