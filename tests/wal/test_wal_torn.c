/* Torn tails: the last record cut at every byte offset (plain cut, zero fill,
 * garbage fill), the writer's zero fill, a hole among unsynced records versus among
 * synced ones, torn segment headers, and the same damage in a non-last segment
 * (which must be refused).  Each case is checked through the best-effort reader,
 * the strict reader and the writer's resume. */
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

static dur_dir *new_dir(void)
{
    dur_dir *d = NULL;
    dur_error e;
    TU_OK(dur_dir_new_crash(2, &d, &e));
    return d;
}

/* Build a WAL: `nseg` segments of records with 40-byte payloads, 3 per segment. */
static void build(dur_dir *d, unsigned nrec)
{
    dur_error e;
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.segment_size = 40 + 3 * 64;
    dur_wal *w = NULL;
    TU_OK(dur_wal_open(d, WD, &o, &w, NULL, &e));
    uint8_t p[40];
    for (unsigned i = 1; i <= nrec; i++) {
        memset(p, (int)i, sizeof p);
        TU_OK(dur_wal_append(w, (uint8_t)i, p, sizeof p, NULL, &e));
    }
    TU_OK(dur_wal_close(w, &e));
}

static void set_file(dur_dir *d, const char *path, const uint8_t *data, size_t len)
{
    tu_write_file(d, path, data, len);
}

static void expect_records(dur_dir *d, dur_read_mode mode, unsigned n)
{
    tu_log log;
    dur_code rc = tu_read_log(d, WD, mode, 0, &log);
    if (rc != DUR_OK)
        fail_msg("read: %s (offset %llu)", log.err.msg, (unsigned long long)log.err.offset);
    assert_int_equal(log.n, n);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(log.lsn[i], i + 1);
        assert_int_equal(log.len[i], 40);
        assert_int_equal(log.data[i][0], (uint8_t)(i + 1));
    }
    tu_log_free(&log);
}

/* Resume must cut back to n records and continue with LSN n+1. */
static void expect_resume(dur_dir *d, unsigned n, uint64_t cut)
{
    dur_error e;
    dur_wal *w = NULL;
    dur_wal_open_report rep;
    TU_OK(dur_wal_open(d, WD, NULL, &w, &rep, &e));
    assert_int_equal(rep.last_lsn, n);
    assert_int_equal(rep.bytes_cut, cut);
    uint64_t lsn;
    uint8_t p[40];
    memset(p, (int)(n + 1), sizeof p);
    TU_OK(dur_wal_append_durable(w, (uint8_t)(n + 1), p, sizeof p, &lsn, &e));
    assert_int_equal(lsn, n + 1);
    TU_OK(dur_wal_close(w, &e));
    expect_records(d, DUR_READ_STRICT, n + 1);
}

static void test_last_record_cut_everywhere(void **state)
{
    (void)state;
    const unsigned n = 5; /* segments {1,2,3} {4,5}: record 5 is the last of segment 2 */
    char seg[256];
    tu_seg_path(seg, sizeof seg, WD, 2);
    const uint64_t start = 40 + 64; /* record 5 in segment 2 */
    for (int fill = 0; fill < 3; fill++) {
        for (uint64_t cut = start; cut < start + 64; cut++) {
            dur_dir *d = new_dir();
            build(d, n);
            size_t len;
            uint8_t *b = tu_read_file(d, seg, &len);
            assert_int_equal(len, start + 64);
            /* fill 0: cut; 1: zeros to the old length; 2: random bytes to the old length */
            for (size_t i = cut; i < len; i++)
                b[i] = fill == 1 ? 0 : (uint8_t)(i * 131 + cut * 7 + 1);
            set_file(d, seg, b, fill == 0 ? cut : len);
            uint64_t flen = fill == 0 ? cut : len;
            free(b);
            expect_records(d, DUR_READ_BEST_EFFORT, n - 1);
            /* zeros from the record's first byte on: the writer's zero fill, a clean end */
            bool zero_tail = fill == 1 && cut == start;
            tu_log log;
            assert_int_equal(tu_read_log(d, WD, DUR_READ_BEST_EFFORT, 0, &log), DUR_OK);
            assert_int_equal(log.tail.torn, flen > start && !zero_tail);
            assert_int_equal(log.tail.zero_fill, zero_tail ? flen - start : 0);
            if (flen > start) {
                assert_string_equal(log.tail.segment, seg);
                assert_int_equal(log.tail.valid_length, start);
                assert_int_equal(log.tail.file_length, flen);
            }
            tu_log_free(&log);
            if (zero_tail) {
                expect_records(d, DUR_READ_STRICT, n - 1);
            } else if (flen > start) {
                assert_int_equal(tu_read_log(d, WD, DUR_READ_STRICT, 0, &log), DUR_E_CORRUPT);
                assert_string_equal(log.err.path, seg);
                assert_true(log.err.has_offset);
                assert_int_equal(log.err.offset, start);
                tu_log_free(&log);
            }
            expect_resume(d, n - 1, zero_tail ? 0 : flen - start);
            dur_dir_close(d);
        }
    }
}

/* A writer with zero_fill_bytes leaves zeros after its last record: both readers see a
 * clean end, resume continues at the last record (keeping the fill), and rotation
 * trims the fill off the segment it leaves, so that segment ends at its last record. */
static void test_zero_fill_is_a_clean_end(void **state)
{
    (void)state;
    dur_dir *d = new_dir();
    dur_error e;
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.zero_fill_bytes = 4096;
    dur_wal *w = NULL;
    TU_OK(dur_wal_open(d, WD, &o, &w, NULL, &e));
    uint8_t p[40];
    for (unsigned i = 1; i <= 5; i++) {
        memset(p, (int)i, sizeof p);
        TU_OK(dur_wal_append_durable(w, (uint8_t)i, p, sizeof p, NULL, &e));
    }
    TU_OK(dur_wal_close(w, &e));
    char seg[256];
    tu_seg_path(seg, sizeof seg, WD, 1);
    size_t len;
    free(tu_read_file(d, seg, &len));
    /* filled 4096 past record 1; more than half of it was left after record 5 */
    assert_int_equal(len, 40 + 64 + 4096);
    for (int mode = 0; mode < 2; mode++) {
        tu_log log;
        assert_int_equal(tu_read_log(d, WD, mode ? DUR_READ_BEST_EFFORT : DUR_READ_STRICT, 0, &log),
                         DUR_OK);
        assert_int_equal(log.n, 5);
        assert_false(log.tail.torn);
        assert_int_equal(log.tail.valid_length, 40 + 5 * 64);
        assert_int_equal(log.tail.zero_fill, len - (40 + 5 * 64));
        tu_log_free(&log);
    }
    /* A writer without zero fill trims it at resume (its file stays append-only) and
     * appends record 6 right after record 5. */
    expect_resume(d, 5, 0);
    free(tu_read_file(d, seg, &len));
    assert_int_equal(len, 40 + 6 * 64);
    TU_OK(dur_wal_open(d, WD, &o, &w, NULL, &e));
    TU_OK(dur_wal_append_durable(w, 7, "fill", 4, NULL, &e)); /* fills again */
    free(tu_read_file(d, seg, &len));
    assert_true(len > 40 + 7 * 64);
    TU_OK(dur_wal_rotate(w, &e));
    TU_OK(dur_wal_close(w, &e));
    free(tu_read_file(d, seg, &len));
    assert_int_equal(len, 40 + 6 * 64 + WAL_FRAME_OVERHEAD + 4); /* trimmed at rotation */
    dur_dir_close(d);
}

/* A hole (a lost page: zeros) in the middle of the last segment.  Records appended
 * in one window, without a sync between them, may reach the disk out of order when
 * they overwrite zero fill: the hole is a torn tail and the records after it are
 * dropped.  Records each synced before the next was appended say so in their frames
 * (the unsynced distance): the same hole is then corruption. */
static void test_hole_torn_only_among_unsynced_records(void **state)
{
    (void)state;
    char seg[256];
    tu_seg_path(seg, sizeof seg, WD, 1);
    for (int synced = 0; synced < 2; synced++) {
        dur_dir *d = new_dir();
        dur_error e;
        dur_wal *w = NULL;
        TU_OK(dur_wal_open(d, WD, NULL, &w, NULL, &e));
        uint8_t p[40];
        for (unsigned i = 1; i <= 5; i++) {
            memset(p, (int)i, sizeof p);
            TU_OK(synced ? dur_wal_append_durable(w, (uint8_t)i, p, sizeof p, NULL, &e)
                         : dur_wal_append(w, (uint8_t)i, p, sizeof p, NULL, &e));
        }
        TU_OK(dur_wal_close(w, &e));
        size_t len;
        uint8_t *b = tu_read_file(d, seg, &len);
        assert_int_equal(len, 40 + 5 * 64);
        memset(b + 40 + 2 * 64, 0, 64); /* record 3 lost */
        set_file(d, seg, b, len);
        free(b);
        tu_log log;
        dur_code rc = tu_read_log(d, WD, DUR_READ_BEST_EFFORT, 0, &log);
        if (synced) {
            assert_int_equal(rc, DUR_E_CORRUPT);
            assert_int_equal(log.err.offset, 40 + 2 * 64);
            assert_non_null(strstr(log.err.msg, "intact record (LSN 4)"));
        } else {
            assert_int_equal(rc, DUR_OK);
            assert_int_equal(log.n, 2);
            assert_true(log.tail.torn);
            assert_int_equal(log.tail.valid_length, 40 + 2 * 64);
        }
        tu_log_free(&log);
        if (!synced)
            expect_resume(d, 2, 3 * 64);
        dur_dir_close(d);
    }
}

/* Torn tail in a NON-last segment is corruption, in either mode and at resume. */
static void test_torn_non_last_segment_is_corrupt(void **state)
{
    (void)state;
    char seg[256];
    tu_seg_path(seg, sizeof seg, WD, 1);
    for (uint64_t cut = 40; cut < 40 + 3 * 64; cut += 7) {
        dur_dir *d = new_dir();
        build(d, 5);
        size_t len;
        uint8_t *b = tu_read_file(d, seg, &len);
        set_file(d, seg, b, cut);
        free(b);
        for (int mode = 0; mode < 2; mode++) {
            tu_log log;
            assert_int_equal(
                tu_read_log(d, WD, mode ? DUR_READ_BEST_EFFORT : DUR_READ_STRICT, 0, &log),
                DUR_E_CORRUPT);
            assert_true(log.err.has_offset);
            tu_log_free(&log);
        }
        dur_wal *w = NULL;
        dur_error e;
        assert_int_equal(dur_wal_open(d, WD, NULL, &w, NULL, &e), DUR_E_CORRUPT);
        assert_null(w);
        dur_dir_close(d);
    }
}

/* Torn header of the last segment: shorter than 40 bytes, exactly 40 bad bytes, or
 * all zeros -> repaired; a bad header in front of non-zero data -> corrupt. */
static void test_torn_last_header(void **state)
{
    (void)state;
    char seg3[256];
    tu_seg_path(seg3, sizeof seg3, WD, 3);
    uint8_t hdr[WAL_HEADER_SIZE];
    wal_header_encode(hdr, &(wal_header){.segment_id = 3, .first_lsn = 7});
    for (size_t len = 0; len <= 41; len++) {
        for (int garbage = 0; garbage < 2; garbage++) {
            dur_dir *d = new_dir();
            build(d, 6); /* segments {1,2,3} {4,5,6} */
            uint8_t b[64];
            memcpy(b, hdr, sizeof hdr);
            if (garbage)
                for (size_t i = len / 2; i < sizeof b; i++)
                    b[i] = (uint8_t)(i * 37 + 11);
            else
                memset(b + (len < 40 ? len : 40), 0, sizeof b - (len < 40 ? len : 40));
            size_t flen = len;
            if (len == 41) /* a 41-byte file: only all-zero is torn */
                memset(b, garbage ? 0xEE : 0, sizeof b);
            set_file(d, seg3, b, flen);
            bool header_intact = !garbage && len == 40;
            bool torn = !(len == 41 && garbage);
            tu_log log;
            dur_code rc = tu_read_log(d, WD, DUR_READ_BEST_EFFORT, 0, &log);
            if (torn) {
                assert_int_equal(rc, DUR_OK);
                assert_int_equal(log.n, 6);
                assert_int_equal(log.tail.torn, !header_intact);
            } else {
                assert_int_equal(rc, DUR_E_CORRUPT);
                assert_string_equal(log.err.path, seg3);
                assert_int_equal(log.err.offset, 0);
            }
            tu_log_free(&log);
            rc = tu_read_log(d, WD, DUR_READ_STRICT, 0, &log);
            assert_int_equal(rc, header_intact ? DUR_OK : DUR_E_CORRUPT);
            tu_log_free(&log);
            if (torn) {
                expect_resume(d, 6, header_intact ? 0 : flen);
                /* the repaired segment 3 starts at LSN 7 */
                size_t l2;
                uint8_t *nb = tu_read_file(d, seg3, &l2);
                assert_memory_equal(nb, hdr, sizeof hdr);
                free(nb);
            } else {
                dur_wal *w = NULL;
                dur_error e;
                assert_int_equal(dur_wal_open(d, WD, NULL, &w, NULL, &e), DUR_E_CORRUPT);
            }
            dur_dir_close(d);
        }
    }
}

/* The only segment, number 1, with a torn header: repaired with first LSN 1. */
static void test_torn_header_first_segment(void **state)
{
    (void)state;
    dur_dir *d = new_dir();
    dur_error e;
    TU_OK(dur_dir_mkdir_p(d, WD, &e));
    char seg[256];
    tu_seg_path(seg, sizeof seg, WD, 1);
    set_file(d, seg, (const uint8_t *)"DURFSW", 6);
    expect_resume(d, 0, 6);
    /* ... but an only segment numbered above 1 cannot know its first LSN */
    dur_dir *d2 = new_dir();
    TU_OK(dur_dir_mkdir_p(d2, WD, &e));
    tu_seg_path(seg, sizeof seg, WD, 4);
    set_file(d2, seg, (const uint8_t *)"DURFSW", 6);
    dur_wal *w = NULL;
    assert_int_equal(dur_wal_open(d2, WD, NULL, &w, NULL, &e), DUR_E_CORRUPT);
    assert_non_null(strstr(e.msg, "first LSN"));
    dur_dir_close(d);
    dur_dir_close(d2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_record_cut_everywhere),
        cmocka_unit_test(test_zero_fill_is_a_clean_end),
        cmocka_unit_test(test_hole_torn_only_among_unsynced_records),
        cmocka_unit_test(test_torn_non_last_segment_is_corrupt),
        cmocka_unit_test(test_torn_last_header),
        cmocka_unit_test(test_torn_header_first_segment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
