/* Corruption: every bit of every header and frame of a non-last and of the last
 * segment flipped in turn, whole fields overwritten, and structural damage (LSN gap,
 * segment gap, name/header mismatch, bad names).  The result must be DUR_E_CORRUPT
 * naming the segment and an offset inside the damaged frame (or header), or -- only
 * for the last record of the last segment in best-effort mode -- a clean prefix.
 * Never a record that differs from what was written. */
#include "wal_test_util.h"
#include "wal_format.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define WD "wal"
#define PL 20 /* payload bytes: frame = 44 */
#define FR (WAL_FRAME_OVERHEAD + PL)

static dur_dir *new_dir(void)
{
    dur_dir *d = NULL;
    dur_error e;
    TU_OK(dur_dir_new_crash(3, &d, &e));
    return d;
}

/* Segments {1,2,3} {4,5,6}, each record synced before the next is appended (as in
 * durfs's close mode): every later frame then says the records before it were
 * durable, which is what lets the reader call damage to them corruption. */
static void build(dur_dir *d)
{
    dur_error e;
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.segment_size = 40 + 3 * FR;
    dur_wal *w = NULL;
    TU_OK(dur_wal_open(d, WD, &o, &w, NULL, &e));
    uint8_t p[PL];
    for (unsigned i = 1; i <= 6; i++) {
        memset(p, (int)(0x10 + i), sizeof p);
        TU_OK(dur_wal_append_durable(w, (uint8_t)i, p, sizeof p, NULL, &e));
    }
    TU_OK(dur_wal_close(w, &e));
}

/* Every record returned is exactly the one written; returns how many. */
static size_t check_prefix(const tu_log *log)
{
    for (size_t i = 0; i < log->n; i++) {
        assert_int_equal(log->lsn[i], i + 1);
        assert_int_equal(log->type[i], i + 1);
        assert_int_equal(log->len[i], PL);
        for (size_t k = 0; k < PL; k++)
            assert_int_equal(log->data[i][k], 0x10 + i + 1);
    }
    return log->n;
}

/* Damage at byte `at` of segment `seg` (1 or 2): check readers and resume. */
static void check_damage(dur_dir *d, unsigned seg, uint64_t at, const char *what)
{
    char path[256];
    tu_seg_path(path, sizeof path, WD, seg);
    /* the damaged frame starts here (0 for the header) */
    uint64_t frame = at < 40 ? 0 : 40 + (at - 40) / FR * FR;
    bool last_record = seg == 2 && frame == 40 + 2 * FR;
    for (int mode = 0; mode < 2; mode++) {
        tu_log log;
        dur_code rc = tu_read_log(d, WD, mode ? DUR_READ_BEST_EFFORT : DUR_READ_STRICT, 0, &log);
        size_t n = check_prefix(&log);
        if (mode == 1 && last_record) {
            if (rc != DUR_OK)
                fail_msg("%s: best effort should cut the last record: %s", what, log.err.msg);
            assert_int_equal(n, 5);
            assert_true(log.tail.torn);
            assert_int_equal(log.tail.valid_length, frame);
        } else {
            if (rc != DUR_E_CORRUPT)
                fail_msg("%s (%s): expected corrupt, got %s with %zu records", what,
                         mode ? "best effort" : "strict", dur_code_name(rc), n);
            assert_string_equal(log.err.path, path);
            assert_true(log.err.has_offset);
            if (log.err.offset < frame || log.err.offset > at)
                fail_msg("%s: error offset %llu outside the damaged frame [%llu, %llu]: %s", what,
                         (unsigned long long)log.err.offset, (unsigned long long)frame,
                         (unsigned long long)at, log.err.msg);
            assert_true(strlen(log.err.msg) > 10);
        }
        tu_log_free(&log);
    }
    dur_wal *w = NULL;
    dur_error e;
    dur_code rc = dur_wal_open(d, WD, NULL, &w, NULL, &e);
    if (last_record) {
        assert_int_equal(rc, DUR_OK);
        assert_int_equal(dur_wal_last_lsn(w), 5);
        (void)dur_wal_close(w, &e);
    } else {
        assert_int_equal(rc, DUR_E_CORRUPT);
        assert_string_equal(e.path, path);
    }
}

static void flip_all_bits(unsigned seg)
{
    char path[256];
    tu_seg_path(path, sizeof path, WD, seg);
    dur_dir *d = new_dir();
    build(d);
    size_t len;
    uint8_t *orig = tu_read_file(d, path, &len);
    assert_int_equal(len, 40 + 3 * FR);
    dur_dir_close(d);
    uint8_t *b = malloc(len);
    for (size_t bit = 0; bit < len * 8; bit++) {
        d = new_dir();
        build(d);
        memcpy(b, orig, len);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        tu_write_file(d, path, b, len);
        char what[128];
        snprintf(what, sizeof what, "segment %u bit %zu (byte %zu)", seg, bit, bit / 8);
        check_damage(d, seg, bit / 8, what);
        dur_dir_close(d);
    }
    free(b);
    free(orig);
}

static void test_flip_each_bit_non_last_segment(void **state)
{
    (void)state;
    flip_all_bits(1);
}

static void test_flip_each_bit_last_segment(void **state)
{
    (void)state;
    flip_all_bits(2);
}

/* Whole fields overwritten with 0x00 / 0xFF. */
static void test_overwrite_fields(void **state)
{
    (void)state;
    struct {
        uint64_t off, len;
    } fields[] = {
        {0, 8},
        {8, 4},
        {12, 4},
        {16, 8},
        {24, 8},
        {32, 8},                /* header */
        {40 + FR, 4},           /* length of record 2 */
        {40 + FR + 4, 1},       /* type */
        {40 + FR + 5, 3},       /* unsynced distance */
        {40 + FR + 8, 8},       /* LSN */
        {40 + FR + 16, PL},     /* payload */
        {40 + FR + 16 + PL, 8}, /* checksum */
    };
    for (unsigned seg = 1; seg <= 2; seg++) {
        char path[256];
        tu_seg_path(path, sizeof path, WD, seg);
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            for (int v = 0; v < 2; v++) {
                dur_dir *d = new_dir();
                build(d);
                size_t len;
                uint8_t *b = tu_read_file(d, path, &len);
                uint8_t before[64];
                memcpy(before, b + fields[f].off, fields[f].len);
                memset(b + fields[f].off, v ? 0xFF : 0x00, fields[f].len);
                bool same = memcmp(before, b + fields[f].off, fields[f].len) == 0;
                tu_write_file(d, path, b, len);
                free(b);
                if (same) { /* e.g. a field that already holds the value */
                    dur_dir_close(d);
                    continue;
                }
                char what[128];
                snprintf(what, sizeof what, "segment %u field %zu = %s", seg, f, v ? "ff" : "00");
                check_damage(d, seg, fields[f].off + fields[f].len - 1, what);
                dur_dir_close(d);
            }
        }
    }
}

/* Write a segment file by hand: header + frames with the given LSNs. */
static void write_segment(dur_dir *d, uint64_t name_id, uint64_t header_id, uint64_t first,
                          const uint64_t *lsns, size_t n)
{
    uint8_t buf[40 + 8 * FR];
    wal_header_encode(buf, &(wal_header){.segment_id = header_id, .first_lsn = first});
    uint8_t p[PL] = {0};
    for (size_t i = 0; i < n; i++)
        wal_frame_encode(buf + 40 + i * FR, 1, lsns[i], lsns[i] - 1, p, PL);
    char path[256];
    tu_seg_path(path, sizeof path, WD, name_id);
    tu_write_file(d, path, buf, 40 + n * FR);
}

static void expect_corrupt(dur_dir *d, uint64_t seg, uint64_t off, const char *needle)
{
    char path[256];
    tu_seg_path(path, sizeof path, WD, seg);
    for (int mode = 0; mode < 2; mode++) {
        tu_log log;
        assert_int_equal(tu_read_log(d, WD, mode ? DUR_READ_BEST_EFFORT : DUR_READ_STRICT, 0, &log),
                         DUR_E_CORRUPT);
        assert_string_equal(log.err.path, path);
        if (off != UINT64_MAX) {
            assert_true(log.err.has_offset);
            assert_int_equal(log.err.offset, off);
        }
        if (!strstr(log.err.msg, needle))
            fail_msg("message \"%s\" lacks \"%s\"", log.err.msg, needle);
        tu_log_free(&log);
    }
    dur_wal *w = NULL;
    dur_error e;
    assert_int_equal(dur_wal_open(d, WD, NULL, &w, NULL, &e), DUR_E_CORRUPT);
}

static void test_structural_damage(void **state)
{
    (void)state;
    dur_error e;
    const uint64_t l123[] = {1, 2, 3}, l124[] = {1, 2, 4}, l45[] = {4, 5}, l56[] = {5, 6};
    dur_dir *d;

    /* LSN gap inside the last segment: an intact frame with the wrong LSN */
    d = new_dir();
    TU_OK(dur_dir_mkdir_p(d, WD, &e));
    write_segment(d, 1, 1, 1, l124, 3);
    expect_corrupt(d, 1, 40 + 2 * FR + 8, "expected LSN 3, found 4");
    dur_dir_close(d);

    /* first LSN of segment 2 does not follow segment 1 */
    d = new_dir();
    TU_OK(dur_dir_mkdir_p(d, WD, &e));
    write_segment(d, 1, 1, 1, l123, 3);
    write_segment(d, 2, 2, 5, l56, 2);
    expect_corrupt(d, 2, 24, "expected 4");
    dur_dir_close(d);

    /* segment id gap */
    d = new_dir();
    TU_OK(dur_dir_mkdir_p(d, WD, &e));
    write_segment(d, 1, 1, 1, l123, 3);
    write_segment(d, 3, 3, 4, l45, 2);
    expect_corrupt(d, 3, UINT64_MAX, "expected segment 2");
    dur_dir_close(d);

    /* header names another segment than the file name */
    d = new_dir();
    TU_OK(dur_dir_mkdir_p(d, WD, &e));
    write_segment(d, 1, 1, 1, l123, 3);
    write_segment(d, 2, 7, 4, l45, 2);
    expect_corrupt(d, 2, 16, "file name says 2");
    dur_dir_close(d);

    /* first LSN in the header disagrees with the first frame */
    d = new_dir();
    TU_OK(dur_dir_mkdir_p(d, WD, &e));
    write_segment(d, 1, 1, 2, l123, 3);
    expect_corrupt(d, 1, 40 + 8, "expected LSN 2, found 1");
    dur_dir_close(d);

    /* a name that looks like a segment but is not one */
    d = new_dir();
    TU_OK(dur_dir_mkdir_p(d, WD, &e));
    write_segment(d, 1, 1, 1, l123, 3);
    tu_write_file(d, WD "/wal-12.log", "x", 1);
    {
        tu_log log;
        assert_int_equal(tu_read_log(d, WD, DUR_READ_BEST_EFFORT, 0, &log), DUR_E_CORRUPT);
        assert_string_equal(log.err.path, WD "/wal-12.log");
        tu_log_free(&log);
    }
    dur_dir_close(d);

    /* other names are ignored; a first segment may start above LSN 1 */
    d = new_dir();
    TU_OK(dur_dir_mkdir_p(d, WD, &e));
    write_segment(d, 5, 5, 4, l45, 2);
    tu_write_file(d, WD "/notes.txt", "x", 1);
    tu_write_file(d, WD "/wal-00000000000000000001.log.tmp", "x", 1);
    {
        tu_log log;
        TU_OK(tu_read_log(d, WD, DUR_READ_STRICT, 0, &log));
        assert_int_equal(log.n, 2);
        assert_int_equal(log.lsn[0], 4);
        tu_log_free(&log);
    }
    dur_dir_close(d);

    /* an oversize length in a frame followed by data is corrupt, and is not allocated */
    d = new_dir();
    TU_OK(dur_dir_mkdir_p(d, WD, &e));
    write_segment(d, 1, 1, 1, l123, 3);
    {
        char path[256];
        tu_seg_path(path, sizeof path, WD, 1);
        size_t len;
        uint8_t *b = tu_read_file(d, path, &len);
        wal_put_u32(b + 40 + FR, 0x7FFFFFFF);
        tu_write_file(d, path, b, len);
        free(b);
    }
    expect_corrupt(d, 1, 40 + FR, "exceeds the cap");
    dur_dir_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flip_each_bit_non_last_segment),
        cmocka_unit_test(test_flip_each_bit_last_segment),
        cmocka_unit_test(test_overwrite_fields),
        cmocka_unit_test(test_structural_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
