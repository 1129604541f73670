/* Checkpoints: encode, decode, load the newest valid one, publish.
 *
 * Format (docs/format-checkpoint.md), little-endian, file
 * checkpoint-<LSN as 20 decimal digits>.ckpt:
 *   [0]  magic "DURFSCKP"      [8]  u32 version 1     [12] u32 header size 40
 *   [16] u64 LSN covered        [24] u64 payload length (<= DUR_CHECKPOINT_MAX_PAYLOAD)
 *   [32] u64 XXH3-64 over bytes 0..31 followed by the payload
 *   [40] payload
 *
 * Crash reasoning:
 *  - A checkpoint file is written with dur_atomic_write (temp, fsync, rename, dir
 *    fsync), so after a crash a name either is absent or holds the whole image.  The
 *    checksum still guards against media damage and foreign files.
 *  - The payload length is checked against the real file size before anything is
 *    allocated, so a lying header cannot make us allocate 256 MiB.
 *  - The file name's LSN must equal the header's LSN: a renamed or copied file is
 *    refused instead of silently covering the wrong range.
 *  - Publish: the WAL is first synced through the covered LSN, so a checkpoint never
 *    claims records the WAL could still lose (if it could, a resumed writer would hand
 *    out those LSNs again and recovery would skip the new records as "covered").
 *    Then the 4 steps of checkpoint.h, each only after the previous one succeeded:
 *    a WAL segment or an older checkpoint is deleted only once both the new checkpoint
 *    and the marker naming it are durable, so every crash point leaves either the old
 *    (checkpoint, WAL suffix) pair intact or the new one.
 */
#include "durability/checkpoint.h"
#include "durability/sync.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define CKPT_MAGIC "DURFSCKP"
#define CKPT_VERSION 1u
#define CKPT_HEADER_SIZE 40u
#define CKPT_PREFIX "checkpoint-"
#define CKPT_SUFFIX ".ckpt"
#define CKPT_DIGITS 20
#define CKPT_NAME_LEN (sizeof(CKPT_PREFIX) - 1 + CKPT_DIGITS + sizeof(CKPT_SUFFIX) - 1)

_Static_assert(CKPT_NAME_LEN < sizeof(((dur_checkpoint *)0)->name), "name fits");

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* XXH3-64 over the first 32 header bytes followed by the payload. */
static dur_code checkpoint_sum(const uint8_t *hdr, const void *payload, size_t len, uint64_t *out,
                               dur_error *err)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return dur_error_set(err, DUR_E_NOMEM, ENOMEM, NULL, "out of memory for checksum state");
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, hdr, 32);
    if (len)
        XXH3_64bits_update(st, payload, len);
    *out = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return DUR_OK;
}

void dur_checkpoint_free(dur_checkpoint *c)
{
    if (!c)
        return;
    free(c->payload);
    c->payload = NULL;
    c->len = 0;
}

/* Parse "checkpoint-<20 digits>.ckpt"; false for anything else. */
static bool parse_name(const char *name, uint64_t *lsn)
{
    size_t plen = sizeof(CKPT_PREFIX) - 1;
    if (strlen(name) != CKPT_NAME_LEN || strncmp(name, CKPT_PREFIX, plen) != 0 ||
        strcmp(name + plen + CKPT_DIGITS, CKPT_SUFFIX) != 0)
        return false;
    uint64_t v = 0;
    for (size_t i = plen; i < plen + CKPT_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        unsigned digit = (unsigned)(name[i] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return false; /* more than 2^64-1 */
        v = v * 10 + digit;
    }
    *lsn = v;
    return true;
}

static void format_name(char *buf, size_t size, uint64_t lsn)
{
    snprintf(buf, size, CKPT_PREFIX "%020" PRIu64 CKPT_SUFFIX, lsn);
}

/* Validate a header against the number of bytes the file really has.  The payload
 * length is checked here, before the caller allocates anything for it. */
static dur_code parse_header(const uint8_t *hdr, uint64_t file_size, const char *where,
                             uint64_t *lsn, uint64_t *payload_len, dur_error *err)
{
    if (file_size < CKPT_HEADER_SIZE)
        return dur_error_set_at(err, DUR_E_CORRUPT, 0, where, file_size,
                                "checkpoint truncated: %" PRIu64 " bytes, header needs %u",
                                file_size, CKPT_HEADER_SIZE);
    if (memcmp(hdr, CKPT_MAGIC, 8) != 0)
        return dur_error_set_at(err, DUR_E_CORRUPT, 0, where, 0,
                                "bad checkpoint magic (expected \"" CKPT_MAGIC "\")");
    uint32_t version = get_u32(hdr + 8);
    if (version != CKPT_VERSION)
        return dur_error_set_at(err, DUR_E_CORRUPT, 0, where, 8,
                                "unsupported checkpoint version %" PRIu32 " (expected %u)", version,
                                CKPT_VERSION);
    uint32_t hsize = get_u32(hdr + 12);
    if (hsize != CKPT_HEADER_SIZE)
        return dur_error_set_at(err, DUR_E_CORRUPT, 0, where, 12,
                                "bad checkpoint header size %" PRIu32 " (expected %u)", hsize,
                                CKPT_HEADER_SIZE);
    uint64_t plen = get_u64(hdr + 24);
    if (plen > DUR_CHECKPOINT_MAX_PAYLOAD)
        return dur_error_set_at(err, DUR_E_CORRUPT, 0, where, 24,
                                "checkpoint payload length %" PRIu64 " exceeds the limit %u", plen,
                                DUR_CHECKPOINT_MAX_PAYLOAD);
    if (plen != file_size - CKPT_HEADER_SIZE)
        return dur_error_set_at(err, DUR_E_CORRUPT, 0, where, 24,
                                "checkpoint payload length %" PRIu64 " does not match the %" PRIu64
                                " bytes after the header",
                                plen, file_size - CKPT_HEADER_SIZE);
    uint64_t covered = get_u64(hdr + 16);
    /* Recovery starts at covered + 1, which must exist (2^64-1 would wrap to 0). */
    if (covered > DUR_WAL_MAX_LSN)
        return dur_error_set_at(err, DUR_E_CORRUPT, 0, where, 16,
                                "checkpoint LSN %" PRIu64 " is out of range (0..%" PRIu64
                                "): no WAL record could follow it",
                                covered, (uint64_t)DUR_WAL_MAX_LSN);
    *lsn = covered;
    *payload_len = plen;
    return DUR_OK;
}

static dur_code verify_sum(const uint8_t *hdr, const void *payload, size_t len, const char *where,
                           dur_error *err)
{
    uint64_t sum;
    dur_code rc = checkpoint_sum(hdr, payload, len, &sum, err);
    if (rc != DUR_OK)
        return rc;
    uint64_t stored = get_u64(hdr + 32);
    if (sum != stored)
        return dur_error_set_at(err, DUR_E_CORRUPT, 0, where, 32,
                                "checkpoint checksum mismatch (stored 0x%016" PRIx64
                                ", computed 0x%016" PRIx64 ")",
                                stored, sum);
    return DUR_OK;
}

static void set_name(dur_checkpoint *out, const char *name)
{
    const char *base = name ? strrchr(name, '/') : NULL;
    base = base ? base + 1 : (name ? name : "");
    size_t n = strnlen(base, sizeof(out->name) - 1); /* longer names are cut */
    memcpy(out->name, base, n);
    out->name[n] = '\0';
}

dur_code dur_checkpoint_decode(const void *data, size_t len, const char *name, dur_checkpoint *out,
                               dur_error *err)
{
    if (!out || (!data && len))
        return dur_error_set(err, DUR_E_INVAL, 0, name, "checkpoint decode: NULL argument");
    memset(out, 0, sizeof(*out));
    const uint8_t *p = data;
    uint64_t lsn, plen;
    dur_code rc = parse_header(p, len, name, &lsn, &plen, err);
    if (rc != DUR_OK)
        return rc;
    assert(p); /* parse_header accepted len >= CKPT_HEADER_SIZE, so data != NULL */
    rc = verify_sum(p, p + CKPT_HEADER_SIZE, (size_t)plen, name, err);
    if (rc != DUR_OK)
        return rc;
    void *copy = malloc(plen ? (size_t)plen : 1);
    if (!copy)
        return dur_error_set(err, DUR_E_NOMEM, ENOMEM, name,
                             "out of memory for a %" PRIu64 "-byte checkpoint payload", plen);
    if (plen)
        memcpy(copy, p + CKPT_HEADER_SIZE, (size_t)plen);
    out->lsn = lsn;
    out->payload = copy;
    out->len = (size_t)plen;
    set_name(out, name);
    return DUR_OK;
}

static dur_code join_path(char *buf, size_t size, const char *dir, const char *name, dur_error *err)
{
    int n =
        (dir && dir[0]) ? snprintf(buf, size, "%s/%s", dir, name) : snprintf(buf, size, "%s", name);
    if (n < 0 || (size_t)n >= size)
        return dur_error_set(err, DUR_E_INVAL, ENAMETOOLONG, dir, "checkpoint path too long");
    return DUR_OK;
}

/* Create path (and parents) if missing, making each new entry durable in its
 * parent: dur_atomic_write only syncs the directory holding the file. */
static dur_code ensure_dir(dur_dir *d, const char *path, dur_error *err)
{
    if (!path || !path[0])
        return DUR_OK;
    bool exists = false;
    dur_code rc = dur_dir_exists(d, path, &exists, err);
    if (rc != DUR_OK || exists)
        return rc;
    rc = dur_dir_mkdir_p(d, path, err);
    if (rc != DUR_OK)
        return rc;
    /* Sync every parent on the way up: we do not know which levels mkdir_p made. */
    char buf[DUR_ERROR_PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return dur_error_set(err, DUR_E_INVAL, ENAMETOOLONG, path, "checkpoint path too long");
    for (;;) {
        rc = dur_sync_parent_dir(d, buf, err);
        if (rc != DUR_OK)
            return rc;
        char *slash = strrchr(buf, '/');
        if (!slash)
            return DUR_OK;
        *slash = '\0';
    }
}

dur_code dur_checkpoint_write(dur_dir *d, const char *path, uint64_t lsn, const void *payload,
                              size_t len, dur_error *err)
{
    if (!d || !path || (!payload && len))
        return dur_error_set(err, DUR_E_INVAL, 0, path, "checkpoint write: NULL argument");
    if (len > DUR_CHECKPOINT_MAX_PAYLOAD)
        return dur_error_set(err, DUR_E_INVAL, 0, path,
                             "checkpoint payload of %zu bytes exceeds the limit %u", len,
                             DUR_CHECKPOINT_MAX_PAYLOAD);
    if (lsn > DUR_WAL_MAX_LSN) /* what we write must be what we accept */
        return dur_error_set(err, DUR_E_INVAL, 0, path,
                             "checkpoint LSN %" PRIu64 " is above the largest WAL LSN %" PRIu64,
                             lsn, (uint64_t)DUR_WAL_MAX_LSN);
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    char name[64], full[DUR_ERROR_PATH_MAX];
    format_name(name, sizeof(name), lsn);
    rc = join_path(full, sizeof(full), path, name, err);
    if (rc != DUR_OK)
        return rc;
    rc = ensure_dir(d, path, err);
    if (rc != DUR_OK)
        return rc;

    uint8_t *img = malloc(CKPT_HEADER_SIZE + len);
    if (!img)
        return dur_error_set(err, DUR_E_NOMEM, ENOMEM, full,
                             "out of memory for a %zu-byte checkpoint", len);
    memcpy(img, CKPT_MAGIC, 8); /* NOLINT(bugprone-not-null-terminated-result): raw bytes */
    put_u32(img + 8, CKPT_VERSION);
    put_u32(img + 12, CKPT_HEADER_SIZE);
    put_u64(img + 16, lsn);
    put_u64(img + 24, len);
    if (len)
        memcpy(img + CKPT_HEADER_SIZE, payload, len);
    uint64_t sum;
    rc = checkpoint_sum(img, payload, len, &sum, err);
    if (rc == DUR_OK) {
        put_u64(img + 32, sum);
        /* What we write must be what we accept. */
        assert(get_u64(img + 16) == lsn && get_u64(img + 24) == len);
        rc = dur_atomic_write(d, full, img, CKPT_HEADER_SIZE + len, err);
    }
    free(img);
    return rc;
}

/* Read and validate one checkpoint file. */
static dur_code load_one(dur_dir *d, const char *full, uint64_t name_lsn, dur_checkpoint *out,
                         dur_error *err)
{
    dur_file *f = NULL;
    dur_code rc = dur_dir_open(d, full, DUR_O_READ, &f, err);
    if (rc != DUR_OK)
        return rc;
    uint64_t size = 0;
    uint8_t hdr[CKPT_HEADER_SIZE];
    size_t got = 0;
    void *payload = NULL;
    rc = f->ops->size(f, &size, err);
    if (rc == DUR_OK && size >= CKPT_HEADER_SIZE) {
        rc = f->ops->pread(f, hdr, sizeof(hdr), 0, &got, err);
        if (rc == DUR_OK && got != sizeof(hdr))
            size = got; /* shrank under us: report it as truncated */
    }
    uint64_t lsn = 0, plen = 0;
    if (rc == DUR_OK)
        rc = parse_header(hdr, size, full, &lsn, &plen, err);
    if (rc == DUR_OK && lsn != name_lsn)
        rc =
            dur_error_set_at(err, DUR_E_CORRUPT, 0, full, 16,
                             "checkpoint header LSN %" PRIu64 " does not match its file name", lsn);
    if (rc == DUR_OK) {
        /* plen was bounded by the file size and the limit above. */
        payload = malloc(plen ? (size_t)plen : 1);
        if (!payload)
            rc = dur_error_set(err, DUR_E_NOMEM, ENOMEM, full,
                               "out of memory for a %" PRIu64 "-byte checkpoint payload", plen);
    }
    for (uint64_t off = 0; rc == DUR_OK && off < plen; off += got) {
        rc = f->ops->pread(f, (uint8_t *)payload + off, (size_t)(plen - off),
                           CKPT_HEADER_SIZE + off, &got, err);
        if (rc == DUR_OK && got == 0)
            rc = dur_error_set_at(err, DUR_E_CORRUPT, 0, full, CKPT_HEADER_SIZE + off,
                                  "checkpoint truncated while reading its payload");
    }
    if (rc == DUR_OK)
        rc = verify_sum(hdr, payload, (size_t)plen, full, err);
    dur_file_close(f);
    if (rc != DUR_OK) {
        free(payload);
        return rc;
    }
    memset(out, 0, sizeof(*out));
    out->lsn = lsn;
    out->payload = payload;
    out->len = (size_t)plen;
    set_name(out, full);
    return DUR_OK;
}

typedef struct ckpt_entry {
    uint64_t lsn;
    const char *name;
} ckpt_entry;

static int newest_first(const void *a, const void *b)
{
    uint64_t x = ((const ckpt_entry *)a)->lsn, y = ((const ckpt_entry *)b)->lsn;
    return x < y ? 1 : x > y ? -1 : 0;
}

static bool is_temp_name(const char *name)
{
    return strstr(name, ".tmp.") != NULL;
}

/* List the checkpoint files of path, newest first.  *entries is malloc'd; names point
 * into *names.  A missing directory is an empty list. */
static dur_code list_checkpoints(dur_dir *d, const char *path, dur_names *names,
                                 ckpt_entry **entries, size_t *count, unsigned *ignored,
                                 dur_error *err)
{
    *entries = NULL;
    *count = 0;
    names->names = NULL;
    names->count = 0;
    dur_error lerr;
    dur_code rc = dur_dir_list(d, path, names, &lerr);
    if (rc == DUR_E_NOTFOUND)
        return DUR_OK;
    if (rc != DUR_OK) {
        if (err)
            *err = lerr;
        return rc;
    }
    if (names->count == 0)
        return DUR_OK;
    ckpt_entry *e = calloc(names->count, sizeof(*e));
    if (!e) {
        dur_names_free(names);
        return dur_error_set(err, DUR_E_NOMEM, ENOMEM, path, "out of memory listing checkpoints");
    }
    size_t n = 0;
    for (size_t i = 0; i < names->count; i++) {
        uint64_t lsn;
        if (is_temp_name(names->names[i]))
            continue; /* a crashed atomic write; publish removes it */
        if (!parse_name(names->names[i], &lsn)) {
            if (ignored)
                (*ignored)++; /* a foreign file: not ours to judge */
            continue;
        }
        e[n].lsn = lsn;
        e[n].name = names->names[i];
        n++;
    }
    qsort(e, n, sizeof(*e), newest_first);
    *entries = e;
    *count = n;
    return DUR_OK;
}

dur_code dur_checkpoint_load_latest(dur_dir *d, const char *path, dur_read_mode mode,
                                    dur_checkpoint *out, bool *found, dur_error *err)
{
    if (!d || !path || !out || !found)
        return dur_error_set(err, DUR_E_INVAL, 0, path, "checkpoint load: NULL argument");
    memset(out, 0, sizeof(*out));
    *found = false;
    dur_code rc = dur_path_check(path, err);
    if (rc != DUR_OK)
        return rc;
    dur_names names;
    ckpt_entry *e;
    size_t n;
    unsigned ignored = 0, skipped = 0;
    rc = list_checkpoints(d, path, &names, &e, &n, &ignored, err);
    if (rc != DUR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        char full[DUR_ERROR_PATH_MAX];
        rc = join_path(full, sizeof(full), path, e[i].name, err);
        if (rc != DUR_OK)
            break;
        dur_error one;
        dur_error_clear(&one);
        rc = load_one(d, full, e[i].lsn, out, &one);
        if (rc == DUR_OK) {
            *found = true;
            break;
        }
        /* Best effort falls back to an older checkpoint only for damage (or a file
         * that vanished); an I/O error is never hidden. */
        bool skippable = rc == DUR_E_CORRUPT || rc == DUR_E_NOTFOUND;
        if (mode == DUR_READ_STRICT || !skippable) {
            if (err)
                *err = one;
            break;
        }
        skipped++;
        rc = DUR_OK;
    }
    out->skipped = skipped;
    out->ignored_names = ignored;
    free(e);
    dur_names_free(&names);
    return rc;
}

/* Step 4: remove checkpoint files older than lsn and leftover temp files, then sync. */
static dur_code delete_old_checkpoints(dur_dir *d, const char *path, uint64_t lsn, dur_error *err)
{
    dur_names names;
    dur_error lerr;
    dur_code rc = dur_dir_list(d, path, &names, &lerr);
    if (rc != DUR_OK) {
        if (err)
            *err = lerr;
        return rc;
    }
    for (size_t i = 0; i < names.count && rc == DUR_OK; i++) {
        uint64_t old;
        const char *name = names.names[i];
        bool ours = parse_name(name, &old) && old < lsn;
        bool stale_temp = is_temp_name(name) && strncmp(name, CKPT_PREFIX, 11) == 0;
        if (!ours && !stale_temp)
            continue;
        char full[DUR_ERROR_PATH_MAX];
        rc = join_path(full, sizeof(full), path, name, err);
        if (rc == DUR_OK) {
            rc = dur_dir_remove(d, full, err);
            if (rc == DUR_E_NOTFOUND)
                rc = DUR_OK;
        }
    }
    dur_names_free(&names);
    if (rc != DUR_OK)
        return rc;
    return dur_dir_sync_dir(d, path, err);
}

dur_code dur_checkpoint_publish(dur_wal *w, dur_dir *d, const char *path, uint64_t lsn,
                                const void *payload, size_t len, dur_error *err)
{
    if (!w || !d || !path)
        return dur_error_set(err, DUR_E_INVAL, 0, path, "checkpoint publish: NULL argument");
    uint64_t last = dur_wal_last_lsn(w);
    if (lsn > last)
        return dur_error_set(err, DUR_E_INVAL, 0, path,
                             "checkpoint LSN %" PRIu64 " is beyond the last WAL LSN %" PRIu64, lsn,
                             last);
    /* Step 0: the WAL holds every covered record durably (see the top comment). */
    dur_code rc = DUR_OK;
    if (lsn > 0)
        rc = dur_wal_sync(w, lsn, err);
    /* Step 1: the checkpoint file. */
    if (rc == DUR_OK)
        rc = dur_checkpoint_write(d, path, lsn, payload, len, err);
    /* Step 1b (wal): start a new WAL segment, so the marker and later records do not
     * keep the covered records' segment alive (truncation never deletes the active one). */
    if (rc == DUR_OK)
        rc = dur_wal_rotate(w, err);
    /* Step 2: the marker, durable. */
    uint64_t marker_lsn = 0;
    if (rc == DUR_OK) {
        uint8_t body[8];
        put_u64(body, lsn);
        rc = dur_wal_append_durable(w, DUR_WAL_TYPE_CHECKPOINT, body, sizeof(body), &marker_lsn,
                                    err);
    }
    if (rc != DUR_OK)
        return rc;
    assert(marker_lsn > lsn);
    assert(dur_wal_durable_lsn(w) >= marker_lsn);
    /* Step 3: segments whose records are all covered (LSN <= lsn). */
    rc = dur_wal_truncate_below(w, lsn + 1, err);
    if (rc != DUR_OK)
        return rc;
    /* Step 4: older checkpoints, then the directory. */
    return delete_old_checkpoints(d, path, lsn, err);
}
