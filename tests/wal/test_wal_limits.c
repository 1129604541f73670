/* The ends of the number ranges: journals whose checksums are all correct but whose
 * numbers leave no successor.  A record LSN of 2^64-1 (the next LSN would wrap to 0),
 * a segment id of 2^64-1 (the next segment's id would wrap) and a checkpoint LSN of
 * 2^64-1 (recovery would start at LSN 0) are corruption: DUR_E_CORRUPT naming the file
 * (and the offset, for a record or a header field), from the reader, from dur_recover
 * with repair=true (whose cut of a torn tail opens a writer before anything else is
 * checked) and repair=false, and from dur_ns_verify (durfsctl verify).  A writer that
 * resumes a valid journal at the end of a range refuses the append or rotation that
 * would leave it, instead of reaching its asserts.
 *
 * The journals live in a real directory (dur_ns_verify takes a path): wal/ and
 * checkpoints/, as in a namespace journal.  Frames and headers are encoded with the
 * format's own encoder and then given the out-of-range number, with the checksum
 * computed again, because the encoders assert that the writer never writes such a
 * number. */
#include "dir_test_util.h"
#include "wal_test_util.h"
#include "wal_format.h"

#include "durability/checkpoint.h"
#include "durability/nsjournal.h"
#include "durability/recovery.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define WD "wal"
#define CD "checkpoints"
#define PL 8 /* payload bytes: frame = 32 */
#define FR (WAL_FRAME_OVERHEAD + PL)
#define TOP UINT64_MAX

typedef struct fixture {
    char *root;
    dur_dir *d;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->root = tu_mkdtemp();
    dur_error e;
    TU_OK(dur_dir_open_fs(f->root, false, &f->d, &e));
    TU_OK(dur_dir_mkdir_p(f->d, WD, &e));
    TU_OK(dur_dir_mkdir_p(f->d, CD, &e));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    dur_dir_close(f->d);
    tu_rmtree(f->root);
    free(f->root);
    free(f);
    return 0;
}

/* Header of segment `id` (any u64), first LSN `first`, with a correct checksum. */
static void header_bytes(uint8_t out[WAL_HEADER_SIZE], uint64_t id, uint64_t first)
{
    wal_header_encode(out, &(wal_header){.segment_id = 1, .first_lsn = 1});
    wal_put_u64(out + 16, id);
    wal_put_u64(out + 24, first);
    wal_put_u64(out + 32, wal_checksum(out, 32));
}

/* A checkpoint-marker-shaped frame (type 240, 8-byte payload) carrying LSN `lsn` (any
 * u64), with a correct checksum.  Its type is the library's, so dur_ns_verify does not
 * decode it as a namespace record: only the WAL's own rules can refuse it. */
static void frame_bytes(uint8_t out[FR], uint64_t lsn)
{
    uint8_t p[PL] = {1, 2, 3, 4, 5, 6, 7, 8};
    wal_frame_encode(out, DUR_WAL_TYPE_CHECKPOINT, 1, 0, p, PL);
    wal_put_u64(out + 8, lsn);
    wal_put_u64(out + WAL_FRAME_HEAD + PL, wal_checksum(out, WAL_FRAME_HEAD + PL));
}

/* Segment file named after `id`: header (id, first) and frames with lsns[0..n). */
static void put_segment(fixture *f, uint64_t id, uint64_t first, const uint64_t *lsns, size_t n)
{
    uint8_t buf[WAL_HEADER_SIZE + 4 * FR];
    assert_true(n <= 4);
    header_bytes(buf, id, first);
    for (size_t i = 0; i < n; i++)
        frame_bytes(buf + WAL_HEADER_SIZE + i * FR, lsns[i]);
    char path[256];
    tu_seg_path(path, sizeof path, WD, id);
    tu_write_file(f->d, path, buf, WAL_HEADER_SIZE + n * FR);
}

/* checkpoint-<lsn>.ckpt with an empty payload and a correct checksum (written by hand:
 * dur_checkpoint_write refuses an LSN no record can carry). */
static void put_checkpoint(fixture *f, uint64_t lsn)
{
    uint8_t h[40];
    memcpy(h, "DURFSCKP", 8); /* NOLINT(bugprone-not-null-terminated-result): raw bytes */
    wal_put_u32(h + 8, 1);
    wal_put_u32(h + 12, 40);
    wal_put_u64(h + 16, lsn);
    wal_put_u64(h + 24, 0);
    wal_put_u64(h + 32, wal_checksum(h, 32)); /* XXH3-64 of header bytes 0..31 + payload */
    char path[256];
    snprintf(path, sizeof path, CD "/checkpoint-%020" PRIu64 ".ckpt", lsn);
    tu_write_file(f->d, path, h, sizeof h);
}

static dur_code count_record(void *ctx, const dur_wal_record *rec, dur_error *err)
{
    (void)rec;
    (void)err;
    ++*(uint64_t *)ctx;
    return DUR_OK;
}

static dur_code recover(fixture *f, dur_read_mode mode, bool repair, uint64_t *records,
                        dur_recovery_report *rep, dur_error *e)
{
    *records = 0;
    dur_recovery_options ro = {WD, CD, mode, repair};
    dur_recovery_callbacks cb = {NULL, count_record, records};
    return dur_recover(f->d, &ro, &cb, rep, e);
}

static void expect_error(const dur_error *e, const char *path, uint64_t off, const char *needle)
{
    char text[1024];
    dur_error_format(e, text, sizeof text);
    if (e->code != DUR_E_CORRUPT || strcmp(e->path, path) != 0)
        fail_msg("expected corrupt in %s, got: %s", path, text);
    if (off != TOP && (!e->has_offset || e->offset != off))
        fail_msg("expected offset %" PRIu64 ": %s", off, text);
    if (!strstr(e->msg, needle))
        fail_msg("message lacks \"%s\": %s", needle, text);
}

/* The reader in both modes, dur_recover in every mode with and without repair, the
 * writer (a mount's next step), and dur_ns_verify: all DUR_E_CORRUPT at path/off.
 * On an unfixed library the writer (repair=true or the open) aborts. */
static void expect_corrupt_everywhere(fixture *f, const char *path, uint64_t off,
                                      const char *needle)
{
    /* best effort with repair first: the mount's and `durfsctl recover`'s way */
    for (int mode = DUR_READ_BEST_EFFORT; mode >= DUR_READ_STRICT; mode--) {
        for (int repair = 1; repair >= 0; repair--) {
            uint64_t n;
            dur_recovery_report rep;
            dur_error e;
            dur_error_clear(&e);
            assert_int_equal(recover(f, (dur_read_mode)mode, repair, &n, &rep, &e), DUR_E_CORRUPT);
            expect_error(&e, path, off, needle);
            assert_int_equal(rep.bytes_cut, 0);
        }
        tu_log log;
        assert_int_equal(tu_read_log(f->d, WD, (dur_read_mode)mode, 0, &log), DUR_E_CORRUPT);
        expect_error(&log.err, path, off, needle);
        tu_log_free(&log);
    }
    dur_wal *w = NULL;
    dur_error e;
    assert_int_equal(dur_wal_open(f->d, WD, NULL, &w, NULL, &e), DUR_E_CORRUPT);
    expect_error(&e, path, off, needle);

    dur_ns_verify_result v = DUR_NS_CLEAN;
    dur_error_clear(&e);
    assert_int_equal(dur_ns_verify(f->root, &v, NULL, &e), DUR_OK);
    assert_int_equal(v, DUR_NS_CORRUPT);
    expect_error(&e, path, off, needle);
}

/* Checkpoint at 2^64-2, then a record at 2^64-1.  Fails without, checked:
 * repair=true aborts in the writer's resume (next LSN wraps to 0), repair=false
 * delivers the record and returns DUR_OK, verify says "clean". */
static void test_record_lsn_max_after_checkpoint(void **state)
{
    fixture *f = *state;
    dur_error e;
    uint8_t payload[8] = {0};
    TU_OK(dur_checkpoint_write(f->d, CD, TOP - 1, payload, sizeof payload, &e));
    const uint64_t l[] = {TOP};
    put_segment(f, 1, TOP, l, 1);
    char path[256];
    tu_seg_path(path, sizeof path, WD, 1);
    expect_corrupt_everywhere(f, path, WAL_HEADER_SIZE + 8, "out of range");
}

/* The same record without a checkpoint.  Fails without, checked:
 * repair=true aborts in cut_torn_tail's writer before stream() checks anything;
 * repair=false blames the WAL directory ("no checkpoint covers"), not the segment. */
static void test_record_lsn_max_no_checkpoint(void **state)
{
    fixture *f = *state;
    const uint64_t l[] = {TOP};
    put_segment(f, 1, TOP, l, 1);
    char path[256];
    tu_seg_path(path, sizeof path, WD, 1);
    expect_corrupt_everywhere(f, path, WAL_HEADER_SIZE + 8, "out of range");
}

/* ...and as the first record of a second segment, after records the checkpoint does
 * not cover (a header's first LSN of 2^64-1 is fine: an empty segment may say so;
 * the record is not).  Fails without, checked: repair=true aborts as above,
 * repair=false delivers 2^64-1, verify says "clean". */
static void test_record_lsn_max_in_next_segment(void **state)
{
    fixture *f = *state;
    dur_error e;
    uint8_t payload[8] = {0};
    TU_OK(dur_checkpoint_write(f->d, CD, TOP - 3, payload, sizeof payload, &e));
    const uint64_t l1[] = {TOP - 2, TOP - 1}, l2[] = {TOP};
    put_segment(f, 7, TOP - 2, l1, 2);
    put_segment(f, 8, TOP, l2, 1);
    char path[256];
    tu_seg_path(path, sizeof path, WD, 8);
    expect_corrupt_everywhere(f, path, WAL_HEADER_SIZE + 8, "out of range");
}

/* wal-18446744073709551615.log with valid contents.  Fails without, checked:
 * recovery and verify accept it, and the writer's first rotation aborts in
 * wal_header_encode (the next segment id wraps to 0). */
static void test_segment_id_max(void **state)
{
    fixture *f = *state;
    const uint64_t l[] = {1, 2};
    put_segment(f, TOP, 1, l, 2);
    char path[256];
    tu_seg_path(path, sizeof path, WD, TOP);
    expect_corrupt_everywhere(f, path, TOP, "18446744073709551614");
    /* and after a valid segment: a name out of range, not an "id gap" */
    put_segment(f, TOP - 1, 1, l, 2);
    expect_corrupt_everywhere(f, path, TOP, "18446744073709551614");
}

/* Checkpoint LSN 2^64-1.  Fails without, checked: strict loading accepts it
 * and recovery reports "LSN 0..0 missing" against the WAL directory.  Now it is a
 * damaged checkpoint like any other: strict refuses it naming the file and offset 16,
 * best effort passes over it (counted) and recovers from the WAL alone, and verify
 * says corrupt. */
static void test_checkpoint_lsn_max(void **state)
{
    fixture *f = *state;
    const uint64_t l[] = {1, 2};
    put_segment(f, 1, 1, l, 2);
    put_checkpoint(f, TOP);
    char path[256];
    snprintf(path, sizeof path, CD "/checkpoint-%020" PRIu64 ".ckpt", TOP);

    dur_checkpoint cp;
    bool found = true;
    dur_error e;
    dur_error_clear(&e);
    assert_int_equal(dur_checkpoint_load_latest(f->d, CD, DUR_READ_STRICT, &cp, &found, &e),
                     DUR_E_CORRUPT);
    assert_false(found);
    expect_error(&e, path, 16, "out of range");
    size_t len;
    uint8_t *img = tu_read_file(f->d, path, &len);
    dur_error_clear(&e);
    assert_int_equal(dur_checkpoint_decode(img, len, path, &cp, &e), DUR_E_CORRUPT);
    expect_error(&e, path, 16, "out of range");
    free(img);

    for (int repair = 0; repair < 2; repair++) {
        uint64_t n;
        dur_recovery_report rep;
        dur_error_clear(&e);
        assert_int_equal(recover(f, DUR_READ_STRICT, repair, &n, &rep, &e), DUR_E_CORRUPT);
        expect_error(&e, path, 16, "out of range");
        TU_OK(recover(f, DUR_READ_BEST_EFFORT, repair, &n, &rep, &e));
        assert_false(rep.checkpoint_found);
        assert_int_equal(rep.checkpoints_skipped, 1);
        assert_int_equal(n, 2);
        assert_int_equal(rep.last_lsn, 2);
    }
    dur_ns_verify_result v = DUR_NS_CLEAN;
    dur_error_clear(&e);
    assert_int_equal(dur_ns_verify(f->root, &v, NULL, &e), DUR_OK);
    assert_int_equal(v, DUR_NS_CORRUPT);
    expect_error(&e, path, 16, "out of range");

    /* What is refused is never written. */
    assert_int_equal(dur_checkpoint_write(f->d, CD, TOP, NULL, 0, &e), DUR_E_INVAL);
}

/* A valid journal whose last record is 2^64-2: the writer resumes, but an append
 * would need LSN 2^64-1.  Fails without, checked: the append succeeds and
 * writes a record the reader now refuses (the append after it aborted in
 * wal_frame_head_encode). */
static void test_writer_refuses_last_lsn(void **state)
{
    fixture *f = *state;
    const uint64_t l[] = {TOP - 2, TOP - 1};
    put_segment(f, 1, TOP - 2, l, 2);
    dur_wal *w = NULL;
    dur_error e;
    TU_OK(dur_wal_open(f->d, WD, NULL, &w, NULL, &e));
    assert_int_equal(dur_wal_last_lsn(w), TOP - 1);
    uint64_t lsn = 0;
    assert_int_equal(dur_wal_append(w, 1, "x", 1, &lsn, &e), DUR_E_INVAL);
    assert_non_null(strstr(e.msg, "LSN"));
    assert_int_equal(lsn, 0);
    assert_false(dur_wal_poisoned(w)); /* nothing was written */
    /* a rotation still works: the new segment's header says first LSN 2^64-1 */
    TU_OK(dur_wal_rotate(w, &e));
    assert_int_equal(dur_wal_append(w, 1, "x", 1, &lsn, &e), DUR_E_INVAL);
    TU_OK(dur_wal_close(w, &e));
    tu_log log;
    TU_OK(tu_read_log(f->d, WD, DUR_READ_STRICT, 0, &log));
    assert_int_equal(log.n, 2);
    assert_int_equal(log.lsn[1], TOP - 1);
    tu_log_free(&log);
    TU_OK(dur_wal_open(f->d, WD, NULL, &w, NULL, &e));
    assert_int_equal(dur_wal_last_lsn(w), TOP - 1);
    TU_OK(dur_wal_close(w, &e));
}

/* A valid journal in segment 2^64-2: the writer resumes, but it has no segment id to
 * rotate to.  Fails without, checked: the rotation creates
 * wal-18446744073709551615.log (the next one aborted in wal_header_encode). */
static void test_writer_refuses_last_segment_id(void **state)
{
    fixture *f = *state;
    const uint64_t l[] = {1};
    put_segment(f, TOP - 1, 1, l, 1);
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.segment_size = WAL_HEADER_SIZE + 2 * FR;
    dur_wal *w = NULL;
    dur_error e;
    TU_OK(dur_wal_open(f->d, WD, &o, &w, NULL, &e));
    assert_int_equal(dur_wal_rotate(w, &e), DUR_E_INVAL);
    assert_non_null(strstr(e.msg, "segment id"));
    uint8_t p[PL] = {0};
    TU_OK(dur_wal_append(w, 1, p, PL, NULL, &e));                         /* fits */
    assert_int_equal(dur_wal_append(w, 1, p, PL, NULL, &e), DUR_E_INVAL); /* would rotate */
    assert_false(dur_wal_poisoned(w));
    TU_OK(dur_wal_close(w, &e));
    bool exists = true;
    char path[256];
    tu_seg_path(path, sizeof path, WD, TOP);
    TU_OK(dur_dir_exists(f->d, path, &exists, &e));
    assert_false(exists);
    tu_log log;
    TU_OK(tu_read_log(f->d, WD, DUR_READ_STRICT, 0, &log));
    assert_int_equal(log.n, 2);
    tu_log_free(&log);
}

/* test_wal_limits [PATTERN]: run only the tests whose name matches PATTERN. */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_lsn_max_after_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_lsn_max_no_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_lsn_max_in_next_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_id_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_lsn_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_refuses_last_lsn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_refuses_last_segment_id, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
