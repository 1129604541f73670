/* tests/dir: in a build without -Dtest_hooks (DUR_TEST_HOOKS undefined) no sync
 * can be skipped: dur_test_set_skip is a no-op.  This binary compiles
 * core/src/test_hooks.c itself without the define. */
#include "durability/testing.h"

#include <stdio.h>

int main(void)
{
    dur_test_set_skip(DUR_SKIP_ATOMIC_FILE_SYNC | DUR_SKIP_WAL_SYNC);
    if (dur_test_get_skip() != 0) {
        fprintf(stderr, "test switches active in a build without DUR_TEST_HOOKS\n");
        return 1;
    }
    return 0;
}
