/* Format round trips: header, frame, names (core/src/wal_format.c). */
#include "wal_format.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

static void test_header_round_trip(void **state)
{
    (void)state;
    uint8_t b[WAL_HEADER_SIZE];
    wal_header_encode(b, &(wal_header){.segment_id = 7, .first_lsn = 123456789012ull});
    assert_memory_equal(b, "DURFSWAL", 8);
    assert_int_equal(wal_get_u32(b + 8), 1);
    assert_int_equal(wal_get_u32(b + 12), 40);
    assert_int_equal(wal_get_u64(b + 16), 7);
    assert_int_equal(wal_get_u64(b + 24), 123456789012ull);
    assert_int_equal(wal_get_u64(b + 32), XXH3_64bits(b, 32));
    /* little-endian regardless of host */
    assert_int_equal(b[16], 7);
    assert_int_equal(b[23], 0);
    wal_header h;
    char why[256];
    assert_true(wal_header_decode(b, &h, why, sizeof why));
    assert_int_equal(h.segment_id, 7);
    assert_int_equal(h.first_lsn, 123456789012ull);
}

static void test_header_rejects_each_damage(void **state)
{
    (void)state;
    uint8_t good[WAL_HEADER_SIZE], b[WAL_HEADER_SIZE];
    wal_header_encode(good, &(wal_header){.segment_id = 3, .first_lsn = 10});
    wal_header h;
    char why[256];
    for (unsigned i = 0; i < WAL_HEADER_SIZE * 8; i++) {
        memcpy(b, good, sizeof b);
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_false(wal_header_decode(b, &h, why, sizeof why));
        assert_true(strlen(why) > 10);
    }
    /* A header with a correct checksum but a wrong version names both values. */
    memcpy(b, good, sizeof b);
    wal_put_u32(b + 8, 2);
    wal_put_u64(b + 32, XXH3_64bits(b, 32));
    assert_false(wal_header_decode(b, &h, why, sizeof why));
    assert_non_null(strstr(why, "expected 1, found 2"));
    /* Segment id 2^64-1 (no id could follow it) is refused; first LSN 2^64-1 is not
     * (an empty segment after record 2^64-2 says so). */
    memcpy(b, good, sizeof b);
    wal_put_u64(b + 16, UINT64_MAX);
    wal_put_u64(b + 32, XXH3_64bits(b, 32));
    assert_false(wal_header_decode(b, &h, why, sizeof why));
    assert_non_null(strstr(why, "segment id 18446744073709551615 is out of range"));
    wal_header_encode(b, &(wal_header){.segment_id = UINT64_MAX - 1, .first_lsn = UINT64_MAX});
    assert_true(wal_header_decode(b, &h, why, sizeof why));
    assert_int_equal(h.segment_id, UINT64_MAX - 1);
    assert_int_equal(h.first_lsn, UINT64_MAX);
}

static void test_frame_round_trip(void **state)
{
    (void)state;
    uint8_t f[WAL_FRAME_OVERHEAD + 5];
    wal_frame_encode(f, 9, 42, 41, "hello", 5);
    assert_int_equal(wal_get_u32(f), 5);
    assert_int_equal(f[4], 9);
    assert_int_equal(f[5], 1); /* distance 42 - 41, 24-bit LE */
    assert_int_equal(f[6] | f[7], 0);
    assert_int_equal(wal_get_u64(f + 8), 42);
    assert_memory_equal(f + 16, "hello", 5);
    assert_int_equal(wal_get_u64(f + 21), XXH3_64bits(f, 21));
    wal_frame_head h;
    wal_frame_head_decode(f, &h);
    char why[256];
    assert_true(wal_frame_head_plausible(&h, why, sizeof why));
    uint64_t s, c;
    assert_true(wal_frame_checksum_ok(f, 5, &s, &c));
    for (unsigned i = 0; i < sizeof f * 8; i++) {
        f[i / 8] ^= (uint8_t)(1u << (i % 8));
        wal_frame_head_decode(f, &h);
        bool ok = wal_frame_head_plausible(&h, why, sizeof why) && h.len == 5 &&
                  wal_frame_checksum_ok(f, 5, &s, &c);
        assert_false(ok);
        f[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    wal_frame_head_decode(f, &h);
    assert_int_equal(wal_frame_durable_before(&h), 41);
    /* A distance beyond 24 bits saturates and then claims nothing; 0 claims all below. */
    wal_frame_encode(f, 9, 1u << 25, 0, "hello", 5);
    wal_frame_head_decode(f, &h);
    assert_int_equal(h.distance, WAL_DISTANCE_UNKNOWN);
    assert_int_equal(wal_frame_durable_before(&h), 0);
    h.distance = 0;
    assert_int_equal(wal_frame_durable_before(&h), (1u << 25) - 1);
    /* empty payload */
    uint8_t e[WAL_FRAME_OVERHEAD];
    wal_frame_encode(e, 1, 1, 0, NULL, 0);
    assert_true(wal_frame_checksum_ok(e, 0, &s, &c));
}

static void test_frame_head_plausibility(void **state)
{
    (void)state;
    char why[256];
    wal_frame_head h = {.len = DUR_WAL_MAX_PAYLOAD + 1, .type = 1, .lsn = 1};
    assert_false(wal_frame_head_plausible(&h, why, sizeof why));
    assert_non_null(strstr(why, "exceeds"));
    h = (wal_frame_head){.len = 1, .type = 0, .lsn = 1};
    assert_false(wal_frame_head_plausible(&h, why, sizeof why));
    /* The distance field is data (covered by the checksum), not a plausibility check. */
    h = (wal_frame_head){.len = 1, .type = 1, .distance = 0x10000, .lsn = 1};
    assert_true(wal_frame_head_plausible(&h, why, sizeof why));
    h = (wal_frame_head){.len = DUR_WAL_MAX_PAYLOAD, .type = 255, .lsn = 1};
    assert_true(wal_frame_head_plausible(&h, why, sizeof why));
}

static void test_segment_names(void **state)
{
    (void)state;
    char name[WAL_SEGMENT_NAME_BUF];
    wal_segment_name(name, 1);
    assert_string_equal(name, "wal-00000000000000000001.log");
    wal_segment_name(name, UINT64_MAX);
    assert_string_equal(name, "wal-18446744073709551615.log");
    uint64_t id = 0;
    assert_int_equal(wal_segment_name_parse("wal-00000000000000000001.log", &id), 1);
    assert_int_equal(id, 1);
    assert_int_equal(wal_segment_name_parse("wal-18446744073709551614.log", &id), 1);
    assert_int_equal(id, UINT64_MAX - 1);
    /* not segments: ignored */
    assert_int_equal(wal_segment_name_parse("LOCK", &id), 0);
    assert_int_equal(wal_segment_name_parse("wal-00000000000000000001.log.tmp", &id), 0);
    assert_int_equal(wal_segment_name_parse("checkpoint-1", &id), 0);
    /* look like segments but do not parse: corrupt */
    assert_int_equal(wal_segment_name_parse("wal-1.log", &id), -1);
    assert_int_equal(wal_segment_name_parse("wal-0000000000000000000x.log", &id), -1);
    assert_int_equal(wal_segment_name_parse("wal-00000000000000000000.log", &id), -1);
    assert_int_equal(wal_segment_name_parse("wal-18446744073709551616.log", &id), -1);
    /* the largest u64 is out of range: no segment could follow it */
    assert_int_equal(wal_segment_name_parse("wal-18446744073709551615.log", &id), -1);
    assert_int_equal(wal_segment_name_parse("wal-000000000000000000001.log", &id), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_round_trip), cmocka_unit_test(test_header_rejects_each_damage),
        cmocka_unit_test(test_frame_round_trip),  cmocka_unit_test(test_frame_head_plausibility),
        cmocka_unit_test(test_segment_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
