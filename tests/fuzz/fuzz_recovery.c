/* Fuzz target: whole recovery.  The input is split into up to three files of an
 * in-memory crash-simulator directory (so repair's truncate+fsync works):
 *   byte 0: flags (bit0 second segment, bit1 best effort, bit2 repair, bit3 name the
 *           checkpoint after LSN 0 instead of its header LSN, bit4 name segments 1 and
 *           2 instead of after their header ids)
 *   bytes 1..6: three u16 LE lengths (segment 1, segment 2, checkpoint), clamped
 *   rest: the files' bytes in that order.
 * dur_recover must not crash or leak, must deliver records in strictly consecutive
 * LSN order after the checkpoint, and a second recovery must deliver the same ones. */
#include "fuzz_util.h"

#include "durability/recovery.h"
#include "durability/testing.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seen {
    uint64_t cp_lsn, next, count, digest;
    bool have_cp;
} seen;

static dur_code on_cp(void *ctx, const dur_checkpoint *cp, dur_error *err)
{
    (void)err;
    seen *s = ctx;
    s->have_cp = cp != NULL;
    s->cp_lsn = cp ? cp->lsn : 0;
    s->next = s->cp_lsn + 1;
    return DUR_OK;
}

static dur_code on_rec(void *ctx, const dur_wal_record *rec, dur_error *err)
{
    (void)err;
    seen *s = ctx;
    if (rec->lsn != s->next)
        abort(); /* out of order, gap or covered record delivered */
    s->next++;
    s->count++;
    s->digest = XXH3_64bits_withSeed(rec->payload, rec->len, s->digest ^ rec->lsn ^ rec->type);
    return DUR_OK;
}

static size_t take(const uint8_t **p, size_t *left, size_t want)
{
    size_t n = want < *left ? want : *left;
    *p += n;
    *left -= n;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 7)
        return 0;
    uint8_t flags = data[0];
    size_t len[3];
    for (int i = 0; i < 3; i++)
        len[i] = (size_t)data[1 + 2 * i] | (size_t)data[2 + 2 * i] << 8;
    const uint8_t *p = data + 7;
    size_t left = size - 7;

    dur_dir *d;
    dur_error err;
    if (dur_dir_new_crash(1, &d, &err) != DUR_OK || dur_dir_mkdir_p(d, "wal", &err) != DUR_OK ||
        dur_dir_mkdir_p(d, "ck", &err) != DUR_OK)
        abort();
    const uint8_t *f = p;
    size_t n = take(&p, &left, len[0]);
    char seg[64];
    fuzz_segment_name(seg, sizeof(seg), f, (flags & 16) ? 0 : n, 1);
    fuzz_put(d, seg, f, n);
    if (flags & 1) {
        f = p;
        n = take(&p, &left, len[1]);
        fuzz_segment_name(seg, sizeof(seg), f, (flags & 16) ? 0 : n, 2);
        fuzz_put(d, seg, f, n);
    }
    f = p;
    n = take(&p, &left, len[2]);
    if (n) {
        uint64_t lsn = 0;
        for (int i = 7; i >= 0 && n >= 24 && !(flags & 8); i--)
            lsn = (lsn << 8) | f[16 + i];
        char name[80];
        snprintf(name, sizeof(name), "ck/checkpoint-%020" PRIu64 ".ckpt", lsn);
        fuzz_put(d, name, f, n);
    }

    dur_recovery_options ro = {"wal", "ck", (flags & 2) ? DUR_READ_BEST_EFFORT : DUR_READ_STRICT,
                               (flags & 4) != 0};
    seen a = {0}, b = {0};
    dur_recovery_callbacks cb = {on_cp, on_rec, &a};
    dur_recovery_report rep;
    dur_code rc = dur_recover(d, &ro, &cb, &rep, &err);
    if (rc == DUR_OK) {
        if (rep.records_replayed != a.count || (a.count && rep.last_lsn != a.next - 1))
            abort();
        /* Idempotence: whatever the first run repaired, a second one sees the same. */
        cb.ctx = &b;
        if (dur_recover(d, &ro, &cb, &rep, &err) != DUR_OK || b.count != a.count ||
            b.digest != a.digest || b.cp_lsn != a.cp_lsn)
            abort();
    }
    dur_dir_close(d);
    return 0;
}
