/* WAL segment files: discovery and durable creation.
 *
 * Crash reasoning for creation (docs/format-wal.md "Rotation"):
 *   1. create the file exclusively, write the 40-byte header;
 *   2. fsync the file, so the header (and the size 40) are on disk;
 *   3. fsync the WAL directory, so the name is on disk.
 * Only then does the writer put records in it.  Hence after any crash a segment
 * either is absent, or has a whole header, or (crash during 1-2) is at most 40
 * bytes long with a torn header: the only torn header the reader forgives.
 * Step 3 is what DUR_SKIP_WAL_DIR_SYNC removes; the crash tests show that records
 * acknowledged in a segment whose name was not synced are then lost.
 */
#include "wal_segments.h"

#include "durability/testing.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wal_join(char out[WAL_PATH_BUF], const char *dir, const char *name)
{
    if (dir[0])
        snprintf(out, WAL_PATH_BUF, "%s/%s", dir, name);
    else
        snprintf(out, WAL_PATH_BUF, "%s", name);
}

void wal_segment_path(char out[WAL_PATH_BUF], const char *dir, uint64_t id)
{
    char name[WAL_SEGMENT_NAME_BUF];
    wal_segment_name(name, id);
    wal_join(out, dir, name);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

dur_code wal_list_segments(dur_dir *d, const char *dir, uint64_t **ids, size_t *count,
                           dur_error *err)
{
    *ids = NULL;
    *count = 0;
    dur_names names = {0};
    dur_code rc = dur_dir_list(d, dir, &names, err);
    if (rc != DUR_OK)
        return rc;
    uint64_t *v = names.count ? malloc(names.count * sizeof *v) : NULL;
    if (names.count && !v) {
        dur_names_free(&names);
        return dur_error_set(err, DUR_E_NOMEM, 0, dir, "out of memory listing WAL segments");
    }
    size_t n = 0;
    for (size_t i = 0; i < names.count; i++) {
        uint64_t id;
        int kind = wal_segment_name_parse(names.names[i], &id);
        if (kind == 0)
            continue;
        if (kind < 0) {
            char path[WAL_PATH_BUF];
            wal_join(path, dir, names.names[i]);
            rc = dur_error_set(err, DUR_E_CORRUPT, 0, path,
                               "name looks like a WAL segment but is not \"wal-<id as 20 "
                               "digits, 1..%" PRIu64 ">.log\"",
                               (uint64_t)DUR_WAL_MAX_SEGMENT_ID);
            goto fail;
        }
        v[n++] = id;
    }
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_u64);
    for (size_t i = 1; i < n; i++) {
        if (v[i] != v[i - 1] + 1) {
            char path[WAL_PATH_BUF];
            wal_segment_path(path, dir, v[i]);
            rc = dur_error_set(err, DUR_E_CORRUPT, 0, path,
                               "segment id gap: expected segment %" PRIu64 " after %" PRIu64
                               ", found %" PRIu64,
                               v[i - 1] + 1, v[i - 1], v[i]);
            goto fail;
        }
    }
    dur_names_free(&names);
    if (n == 0) {
        free(v);
        v = NULL;
    }
    *ids = v;
    *count = n;
    return DUR_OK;
fail:
    free(v);
    dur_names_free(&names);
    return rc;
}

static dur_code write_header_and_sync(dur_dir *d, const char *dir, dur_file *f, uint64_t id,
                                      uint64_t first_lsn, uint64_t prealloc_bytes, dur_error *err)
{
    uint8_t hdr[WAL_HEADER_SIZE];
    wal_header_encode(hdr, &(wal_header){.segment_id = id, .first_lsn = first_lsn});
    dur_code rc = f->ops->pwrite(f, hdr, sizeof hdr, 0, err);
    if (rc != DUR_OK)
        return rc;
    if (prealloc_bytes > WAL_HEADER_SIZE) {
        /* KEEP_SIZE: a hint for contiguous blocks; the size still grows with each
         * append (zero_fill_bytes is what spares the fdatasync its metadata).
         * Unsupported = fine. */
        dur_error aerr;
        rc = f->ops->allocate(f, WAL_HEADER_SIZE, prealloc_bytes - WAL_HEADER_SIZE, &aerr);
        if (rc != DUR_OK && rc != DUR_E_NOTSUP) {
            if (err)
                *err = aerr;
            return rc;
        }
    }
    /* fsync, not fdatasync: the new inode's metadata must be durable too. */
    rc = f->ops->sync_all(f, err);
    if (rc != DUR_OK)
        return rc;
    if (dur_test_get_skip() & DUR_SKIP_WAL_DIR_SYNC)
        return DUR_OK;
    return dur_dir_sync_dir(d, dir, err);
}

/* A failure the writer may wait out: a resource ran short, nothing was damaged. */
static bool is_shortage(const dur_error *e)
{
    int n = e ? e->sys_errno : 0;
    return (e && e->code == DUR_E_NOMEM) || n == EMFILE || n == ENFILE || n == ENOMEM ||
           n == ENOSPC || n == EDQUOT;
}

dur_code wal_segment_create(dur_dir *d, const char *dir, uint64_t id, uint64_t first_lsn,
                            uint64_t prealloc_bytes, dur_file **out, bool *can_do_without,
                            dur_error *err)
{
    char path[WAL_PATH_BUF];
    wal_segment_path(path, dir, id);
    dur_file *f = NULL;
    dur_code rc = dur_dir_open(d, path, DUR_O_WRITE | DUR_O_CREATE | DUR_O_EXCL, &f, err);
    *can_do_without = rc != DUR_OK && is_shortage(err);
    if (rc != DUR_OK)
        return rc;
    rc = write_header_and_sync(d, dir, f, id, first_lsn, prealloc_bytes, err);
    if (rc != DUR_OK) {
        dur_file_close(f);
        /* Take the half-made segment back (its fd closed first: the failure may be
         * the fd limit), so that no empty successor follows the segment the writer
         * goes on with, and a retry can create it again. */
        dur_error ignored;
        *can_do_without = is_shortage(err) && dur_dir_remove(d, path, &ignored) == DUR_OK &&
                          dur_dir_sync_dir(d, dir, &ignored) == DUR_OK;
        return rc;
    }
    *out = f;
    return DUR_OK;
}

dur_code wal_segment_rewrite(dur_dir *d, const char *dir, uint64_t id, uint64_t first_lsn,
                             dur_file **out, dur_error *err)
{
    char path[WAL_PATH_BUF];
    wal_segment_path(path, dir, id);
    dur_file *f = NULL;
    dur_code rc = dur_dir_open(d, path, DUR_O_WRITE, &f, err);
    if (rc != DUR_OK)
        return rc;
    rc = f->ops->truncate(f, 0, err);
    if (rc == DUR_OK)
        rc = write_header_and_sync(d, dir, f, id, first_lsn, 0, err);
    if (rc != DUR_OK) {
        dur_file_close(f);
        return rc;
    }
    *out = f;
    return DUR_OK;
}
