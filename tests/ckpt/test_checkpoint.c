/* Checkpoint files: format, round trip, choice of the newest, and refusal of every
 * kind of damage (bit flips in each region, truncation at every offset, a lying
 * payload length, a renamed file) in strict mode, fallback in best-effort mode. */
#include "durability/checkpoint.h"
#include "durability/testing.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include <cmocka.h>

/* An independent encoder written from docs/format-checkpoint.md. */
static size_t encode(uint8_t *buf, uint64_t lsn, const void *payload, size_t len)
{
    static const uint8_t magic[8] = {'D', 'U', 'R', 'F', 'S', 'C', 'K', 'P'}; /* no NUL */
    memcpy(buf, magic, sizeof magic);
    uint32_t v = 1, h = 40;
    for (int i = 0; i < 4; i++) {
        buf[8 + i] = (uint8_t)(v >> (8 * i));
        buf[12 + i] = (uint8_t)(h >> (8 * i));
    }
    for (int i = 0; i < 8; i++) {
        buf[16 + i] = (uint8_t)(lsn >> (8 * i));
        buf[24 + i] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(buf + 40, payload, len);
    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, buf, 32);
    XXH3_64bits_update(st, payload, len);
    uint64_t sum = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    for (int i = 0; i < 8; i++)
        buf[32 + i] = (uint8_t)(sum >> (8 * i));
    return 40 + len;
}

static void name_of(char *buf, size_t size, uint64_t lsn)
{
    snprintf(buf, size, "ck/checkpoint-%020" PRIu64 ".ckpt", lsn);
}

static void put_file(dur_dir *d, const char *path, const void *data, size_t len)
{
    dur_file *f;
    dur_error err;
    assert_int_equal(dur_dir_mkdir_p(d, "ck", &err), DUR_OK);
    assert_int_equal(dur_dir_create(d, path, &f, &err), DUR_OK);
    if (len)
        assert_int_equal(f->ops->pwrite(f, data, len, 0, &err), DUR_OK);
    dur_file_close(f);
}

static void put_ckpt(dur_dir *d, uint64_t lsn, const char *text)
{
    uint8_t buf[256];
    char path[128];
    size_t n = encode(buf, lsn, text, strlen(text));
    name_of(path, sizeof(path), lsn);
    put_file(d, path, buf, n);
}

static void test_decode_round_trip_and_offsets(void **state)
{
    (void)state;
    uint8_t img[128], bad[128];
    size_t n = encode(img, 42, "hello state", 11);
    dur_checkpoint cp;
    dur_error err;
    assert_int_equal(dur_checkpoint_decode(img, n, "x.ckpt", &cp, &err), DUR_OK);
    assert_int_equal(cp.lsn, 42);
    assert_int_equal(cp.len, 11);
    assert_memory_equal(cp.payload, "hello state", 11);
    assert_string_equal(cp.name, "x.ckpt");
    dur_checkpoint_free(&cp);

    /* Each field's damage is reported at that field's offset. */
    struct {
        size_t at;
        uint64_t want_offset;
    } cases[] = {{0, 0}, {9, 8}, {13, 12}, {17, 32}, {25, 24}, {33, 32}, {45, 32}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(bad, img, n);
        bad[cases[i].at] ^= 0x10;
        assert_int_equal(dur_checkpoint_decode(bad, n, "x.ckpt", &cp, &err), DUR_E_CORRUPT);
        assert_true(err.has_offset);
        assert_int_equal(err.offset, cases[i].want_offset);
        assert_string_equal(err.path, "x.ckpt");
        assert_null(cp.payload);
    }
    /* Empty payload is legal. */
    n = encode(img, 7, "", 0);
    assert_int_equal(dur_checkpoint_decode(img, n, "e", &cp, &err), DUR_OK);
    assert_int_equal(cp.len, 0);
    dur_checkpoint_free(&cp);
}

static void test_payload_length_lies(void **state)
{
    (void)state;
    uint8_t img[128];
    size_t n = encode(img, 3, "abc", 3);
    uint64_t lies[] = {UINT64_MAX, DUR_CHECKPOINT_MAX_PAYLOAD, DUR_CHECKPOINT_MAX_PAYLOAD + 1ull, 4,
                       2};
    dur_dir *d;
    dur_error err;
    assert_int_equal(dur_dir_new_mem(&d, &err), DUR_OK);
    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        for (int b = 0; b < 8; b++)
            img[24 + b] = (uint8_t)(lies[i] >> (8 * b));
        dur_checkpoint cp;
        assert_int_equal(dur_checkpoint_decode(img, n, "lie", &cp, &err), DUR_E_CORRUPT);
        assert_int_equal(err.offset, 24);
        /* The same through the file path: the size is checked against the file size
         * before any allocation (the lie would ask for up to 2^64 bytes). */
        put_file(d, "ck/checkpoint-00000000000000000003.ckpt", img, n);
        bool found;
        assert_int_equal(dur_checkpoint_load_latest(d, "ck", DUR_READ_STRICT, &cp, &found, &err),
                         DUR_E_CORRUPT);
        assert_false(found);
        assert_int_equal(err.offset, 24);
        assert_non_null(strstr(err.path, "checkpoint-00000000000000000003.ckpt"));
    }
    dur_dir_close(d);
}

static void test_newest_chosen_and_names_filtered(void **state)
{
    (void)state;
    dur_dir *d;
    dur_error err;
    assert_int_equal(dur_dir_new_mem(&d, &err), DUR_OK);
    dur_checkpoint cp;
    bool found = true;
    /* No directory at all: nothing found, no error. */
    assert_int_equal(dur_checkpoint_load_latest(d, "ck", DUR_READ_STRICT, &cp, &found, &err),
                     DUR_OK);
    assert_false(found);
    put_ckpt(d, 5, "five");
    put_ckpt(d, 100, "hundred");
    put_ckpt(d, 7, "seven");
    put_file(d, "ck/checkpoint-00000000000000000999.ckpt.tmp.12.3", "junk", 4);
    put_file(d, "ck/README", "x", 1);
    put_file(d, "ck/checkpoint-12.ckpt", "x", 1);
    assert_int_equal(dur_checkpoint_load_latest(d, "ck", DUR_READ_STRICT, &cp, &found, &err),
                     DUR_OK);
    assert_true(found);
    assert_int_equal(cp.lsn, 100);
    assert_memory_equal(cp.payload, "hundred", 7);
    assert_string_equal(cp.name, "checkpoint-00000000000000000100.ckpt");
    assert_int_equal(cp.ignored_names, 2);
    assert_int_equal(cp.skipped, 0);
    dur_checkpoint_free(&cp);

    /* A file whose name LSN differs from its header LSN is refused at offset 16. */
    uint8_t buf[128];
    size_t n = encode(buf, 100, "renamed", 7);
    put_file(d, "ck/checkpoint-00000000000000000200.ckpt", buf, n);
    assert_int_equal(dur_checkpoint_load_latest(d, "ck", DUR_READ_STRICT, &cp, &found, &err),
                     DUR_E_CORRUPT);
    assert_int_equal(err.offset, 16);
    assert_int_equal(dur_checkpoint_load_latest(d, "ck", DUR_READ_BEST_EFFORT, &cp, &found, &err),
                     DUR_OK);
    assert_int_equal(cp.lsn, 100);
    assert_int_equal(cp.skipped, 1);
    dur_checkpoint_free(&cp);
    dur_dir_close(d);
}

/* Strict: error naming the newest file and an offset.  Best effort: the older one. */
static void expect_fallback(dur_dir *d, const char *newest)
{
    dur_checkpoint cp;
    bool found;
    dur_error err;
    assert_int_equal(dur_checkpoint_load_latest(d, "ck", DUR_READ_STRICT, &cp, &found, &err),
                     DUR_E_CORRUPT);
    assert_false(found);
    assert_string_equal(err.path, newest);
    assert_true(err.has_offset);
    assert_int_equal(dur_checkpoint_load_latest(d, "ck", DUR_READ_BEST_EFFORT, &cp, &found, &err),
                     DUR_OK);
    assert_true(found);
    assert_int_equal(cp.lsn, 10);
    assert_memory_equal(cp.payload, "older state", 11);
    assert_int_equal(cp.skipped, 1);
    dur_checkpoint_free(&cp);
}

static void test_corrupt_newest_every_offset(void **state)
{
    (void)state;
    dur_dir *d;
    dur_error err;
    assert_int_equal(dur_dir_new_mem(&d, &err), DUR_OK);
    put_ckpt(d, 10, "older state");
    uint8_t img[128], bad[128];
    const char *text = "newest state, a little longer";
    size_t n = encode(img, 20, text, strlen(text));
    char newest[128];
    name_of(newest, sizeof(newest), 20);
    /* Bit flips: every byte of every region, three bit positions each. */
    for (size_t at = 0; at < n; at++) {
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(bad, img, n);
            bad[at] ^= (uint8_t)(1u << bit);
            put_file(d, newest, bad, n);
            expect_fallback(d, newest);
        }
    }
    /* Truncation at every offset, and one byte too many. */
    for (size_t len = 0; len < n; len++) {
        put_file(d, newest, img, len);
        expect_fallback(d, newest);
    }
    memcpy(bad, img, n);
    bad[n] = 0;
    put_file(d, newest, bad, n + 1);
    expect_fallback(d, newest);
    /* Intact again: chosen. */
    put_file(d, newest, img, n);
    dur_checkpoint cp;
    bool found;
    assert_int_equal(dur_checkpoint_load_latest(d, "ck", DUR_READ_STRICT, &cp, &found, &err),
                     DUR_OK);
    assert_int_equal(cp.lsn, 20);
    dur_checkpoint_free(&cp);
    dur_dir_close(d);
}

/* dur_checkpoint_write produces exactly the documented bytes, durably. */
static void test_write_matches_format_and_survives_power_cut(void **state)
{
    (void)state;
    dur_dir *d;
    dur_error err;
    assert_int_equal(dur_dir_new_crash(1, &d, &err), DUR_OK);
    assert_int_equal(dur_checkpoint_write(d, "a/ck", 77, "payload!", 8, &err), DUR_OK);
    {
        dur_crash_options co = {false, false};
        dur_crash_power_cut(d, &co);
    }
    void *data;
    size_t len;
    assert_int_equal(dur_file_read_all(d, "a/ck/checkpoint-00000000000000000077.ckpt", 1 << 20,
                                       &data, &len, &err),
                     DUR_OK);
    uint8_t want[64];
    size_t n = encode(want, 77, "payload!", 8);
    assert_int_equal(len, n);
    assert_memory_equal(data, want, n);
    free(data);
    dur_dir_close(d);
}

static void test_write_without_dir_sync_can_be_lost(void **state)
{
    (void)state;
    /* The power-cut test above fails when the directory sync is skipped: shown here. */
    dur_dir *d;
    dur_error err;
    assert_int_equal(dur_dir_new_crash(1, &d, &err), DUR_OK);
    assert_int_equal(dur_dir_mkdir_p(d, "ck", &err), DUR_OK);
    assert_int_equal(dur_dir_sync_dir(d, "", &err), DUR_OK);
    dur_test_set_skip(DUR_SKIP_ATOMIC_DIR_SYNC);
    dur_code rc = dur_checkpoint_write(d, "ck", 5, "x", 1, &err);
    dur_test_set_skip(DUR_SKIP_NONE);
    assert_int_equal(rc, DUR_OK);
    {
        dur_crash_options co = {false, false};
        dur_crash_power_cut(d, &co);
    }
    dur_checkpoint cp;
    bool found = true;
    assert_int_equal(dur_checkpoint_load_latest(d, "ck", DUR_READ_STRICT, &cp, &found, &err),
                     DUR_OK);
    assert_false(found);
    dur_dir_close(d);
}

static void test_hostile_paths_refused(void **state)
{
    (void)state;
    dur_dir *d;
    dur_error err;
    assert_int_equal(dur_dir_new_crash(2, &d, &err), DUR_OK);
    const char *bad[] = {"../up", "/abs", "a//b", "a/../b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dur_checkpoint cp;
        bool found = true;
        assert_int_equal(dur_checkpoint_write(d, bad[i], 1, "x", 1, &err), DUR_E_INVAL);
        assert_int_equal(
            dur_checkpoint_load_latest(d, bad[i], DUR_READ_BEST_EFFORT, &cp, &found, &err),
            DUR_E_INVAL);
        assert_false(found);
    }
    dur_dir_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_round_trip_and_offsets),
        cmocka_unit_test(test_payload_length_lies),
        cmocka_unit_test(test_newest_chosen_and_names_filtered),
        cmocka_unit_test(test_corrupt_newest_every_offset),
        cmocka_unit_test(test_write_matches_format_and_survives_power_cut),
        cmocka_unit_test(test_write_without_dir_sync_can_be_lost),
        cmocka_unit_test(test_hostile_paths_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
