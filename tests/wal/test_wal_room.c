/* tests/wal (suite 'fs', needs root): dur_wal_room on a full filesystem.
 *
 * The zero fill written ahead of the records is room the filesystem has already
 * given: records written into it need no new block.  dur_wal_room reports it, so a
 * caller can stop appending before an append would need space the filesystem no
 * longer has -- whose failed write would poison the writer (as the control shows).
 * A small tmpfs stands in for the full disk: like ext4, it lets a write over
 * existing pages succeed when it has no page left to add. */
#include "dir_test_util.h"
#include "durability/wal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FILL (128u * 1024u)
#define RECORD 1000u

/* A 1 MiB tmpfs (its path in *state, for tu_small_tmpfs_teardown), a WAL with
 * FILL of zero fill and segments of segment_size, `records` records synced, then
 * every other free page taken by a filler file. */
typedef struct full_fs {
    dur_dir *d;
    dur_file *filler;
    dur_wal *w;
    char rec[RECORD];
} full_fs;

static void open_on_full_fs(void **state, full_fs *f, uint64_t segment_size, unsigned records)
{
    *state = tu_small_tmpfs("1m"); /* skips the test without root */
    dur_error err;
    OK(dur_dir_open_fs(*state, false, &f->d, &err));
    dur_wal_options o;
    dur_wal_options_default(&o);
    o.zero_fill_bytes = FILL;
    o.segment_size = segment_size;
    OK(dur_wal_open(f->d, "wal", &o, &f->w, NULL, &err));
    memset(f->rec, 'r', sizeof f->rec);
    for (unsigned i = 0; i < records; i++)
        OK(dur_wal_append_durable(f->w, 1, f->rec, sizeof f->rec, NULL, &err));
    OK(dur_dir_create(f->d, "filler", &f->filler, &err));
    static char page[4096];
    uint64_t off = 0;
    while (f->filler->ops->pwrite(f->filler, page, sizeof page, off, &err) == DUR_OK)
        off += sizeof page;
    assert_int_equal(err.sys_errno, ENOSPC);
}

/* Append while there is room for one more record, each durable (asserted);
 * returns how many, *room the room left. */
static unsigned append_while_room(full_fs *f, uint64_t *room)
{
    dur_error err;
    unsigned appended = 0;
    for (;;) {
        OK(dur_wal_room(f->w, RECORD + 64, room, &err));
        if (*room < RECORD + 64)
            return appended;
        OK(dur_wal_append_durable(f->w, 1, f->rec, sizeof f->rec, NULL, &err));
        appended++;
    }
}

static void close_full_fs(full_fs *f)
{
    dur_error err;
    dur_wal_close(f->w, &err);
    dur_file_close(f->filler);
    dur_dir_close(f->d);
}

static void test_room_ends_before_the_filesystem_refuses(void **state)
{
    full_fs f;
    open_on_full_fs(state, &f, 64u << 20, 1); /* segments far beyond the fs: no rotation */
    uint64_t room = 0;
    unsigned appended = append_while_room(&f, &room);
    print_message("%u records went into the fill on a full filesystem\n", appended);
    assert_true(appended >= FILL / 2 / (RECORD + 64)); /* at least half the fill */
    assert_false(dur_wal_poisoned(f.w));
    /* Space freed: the next call extends the fill, and there is room again. */
    dur_error err;
    dur_file_close(f.filler);
    f.filler = NULL;
    OK(dur_dir_remove(f.d, "filler", &err));
    OK(dur_wal_room(f.w, RECORD + 64, &room, &err));
    assert_true(room >= FILL / 2);
    OK(dur_wal_append_durable(f.w, 1, f.rec, sizeof f.rec, NULL, &err));
    OK(dur_wal_close(f.w, &err));
    dur_dir_close(f.d);
}

/* The control: appending on past the room fails to write and poisons the writer
 * -- what a caller that ignored dur_wal_room would get. */
static void test_appending_past_the_room_poisons(void **state)
{
    full_fs f;
    open_on_full_fs(state, &f, 64u << 20, 1);
    dur_error err;
    dur_code c = DUR_OK;
    for (unsigned i = 0; i < 4 * FILL / RECORD && c == DUR_OK; i++)
        c = dur_wal_append_durable(f.w, 1, f.rec, sizeof f.rec, NULL, &err);
    assert_int_not_equal(c, DUR_OK);
    assert_int_equal(err.sys_errno, ENOSPC);
    assert_true(dur_wal_poisoned(f.w));
    close_full_fs(&f);
}

/* The fill reaches the segment's end (the last FILL bytes of a segment) before
 * the filesystem fills up: the next segment is a new file, which a full
 * filesystem cannot take, so the room is what is left of this segment and the
 * appends stop before the rotation that would fail and poison the writer.  (It
 * reported unbounded room there at first: poisoned after 115 appends; found in
 * review.) */
static void test_room_at_a_segments_end(void **state)
{
    full_fs f;
    open_on_full_fs(state, &f, 256u * 1024u, 140); /* 140 records: past segment_size - FILL */
    uint64_t room = 0;
    unsigned appended = append_while_room(&f, &room);
    print_message("%u records went into the last fill of the segment\n", appended);
    assert_false(dur_wal_poisoned(f.w));
    assert_true(room < RECORD + 64);
    close_full_fs(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_room_ends_before_the_filesystem_refuses,
                                  tu_small_tmpfs_teardown),
        cmocka_unit_test_teardown(test_appending_past_the_room_poisons, tu_small_tmpfs_teardown),
        cmocka_unit_test_teardown(test_room_at_a_segments_end, tu_small_tmpfs_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
