/* Fuzz target: one WAL segment image (named after the id its header claims, in an
 * in-memory directory), read strict and best effort.  Must not crash or leak; the
 * best-effort records must be a prefix of the strict-valid ones (best effort may
 * only stop earlier, never invent or change a record), and when strict succeeds best
 * effort must give exactly the same records. */
#include "fuzz_util.h"

#include "durability/wal.h"

#include <stdlib.h>
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_KEEP 4096

typedef struct rec_sum {
    uint64_t lsn, sum;
    uint8_t type;
} rec_sum;

/* Reads every record; returns the final code and the count (sums kept for MAX_KEEP). */
static dur_code read_all(dur_dir *d, dur_read_mode mode, rec_sum *out, size_t *n)
{
    dur_wal_reader *r;
    dur_error err;
    *n = 0;
    dur_code rc = dur_wal_reader_open(d, "wal", mode, 0, &r, &err);
    if (rc != DUR_OK)
        return rc;
    for (;;) {
        dur_wal_record rec;
        bool eof = false;
        rc = dur_wal_reader_next(r, &rec, &eof, &err);
        if (rc != DUR_OK || eof)
            break;
        if (rec.len > DUR_WAL_MAX_PAYLOAD || rec.type == 0)
            abort();
        if (*n < MAX_KEEP)
            out[*n] = (rec_sum){rec.lsn, XXH3_64bits(rec.payload, rec.len), rec.type};
        (*n)++;
    }
    if (rc == DUR_OK) {
        dur_wal_tail tail;
        dur_wal_reader_tail(r, &tail);
        if (tail.torn && (mode == DUR_READ_STRICT || tail.valid_length > tail.file_length))
            abort();
    }
    dur_wal_reader_close(r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rec_sum strict[MAX_KEEP], best[MAX_KEEP];
    dur_dir *d;
    dur_error err;
    if (dur_dir_new_mem(&d, &err) != DUR_OK || dur_dir_mkdir_p(d, "wal", &err) != DUR_OK)
        abort();
    char name[64];
    fuzz_segment_name(name, sizeof(name), data, size, 1);
    fuzz_put(d, name, data, size);
    size_t ns, nb;
    dur_code rs = read_all(d, DUR_READ_STRICT, strict, &ns);
    dur_code rb = read_all(d, DUR_READ_BEST_EFFORT, best, &nb);
    if (nb > ns)
        abort(); /* best effort returned a record strict did not accept */
    for (size_t i = 0; i < nb && i < MAX_KEEP; i++)
        if (strict[i].lsn != best[i].lsn || strict[i].sum != best[i].sum ||
            strict[i].type != best[i].type) /* not memcmp: padding bytes are unspecified */
            abort();
    if (rs == DUR_OK && (rb != DUR_OK || nb != ns))
        abort();
    dur_dir_close(d);
    return 0;
}
