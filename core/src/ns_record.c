/* Namespace journal record codec.
 *
 * Format (docs/format-journal.md): the WAL frame carries type and checksum; the
 * payload starts with a version byte (NS_REC_VERSION) followed by the fields of the
 * type in a fixed order, little-endian, no padding.  A payload must be consumed
 * exactly: short or trailing bytes are corruption.
 *
 * Crash reasoning: none here -- the WAL frame checksum rejects torn records before
 * they reach the decoder.  The decoder still treats its input as hostile (a journal
 * may be crafted or damaged under a valid checksum): every length is bounded before
 * use and names are validated as path components, so replay can never be steered
 * outside the directory a handle names ("../x", "a/b") or past a buffer.
 */
#include "ns_record.h"
#include "durability/nsjournal.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <xxhash.h>

/* The SETXATTR flags a record may carry. */
#define NS_XATTR_FLAGS ((uint32_t)(XATTR_CREATE | XATTR_REPLACE | DUR_NS_XATTR_KILL_SGID))

const char *ns_rec_type_name(unsigned type)
{
    switch (type) {
    case NS_REC_CREATE:
        return "CREATE";
    case NS_REC_LINK:
        return "LINK";
    case NS_REC_REMOVE:
        return "REMOVE";
    case NS_REC_RENAME:
        return "RENAME";
    case NS_REC_SETATTR:
        return "SETATTR";
    case NS_REC_SETXATTR:
        return "SETXATTR";
    case NS_REC_REMOVEXATTR:
        return "REMOVEXATTR";
    case NS_REC_FILE_DATA:
        return "FILE_DATA";
    case NS_REC_FILE_SYNCED:
        return "FILE_SYNCED";
    default:
        return "UNKNOWN";
    }
}

bool ns_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > NS_NAME_MAX)
        return false;
    if (memchr(name, '/', len) || memchr(name, '\0', len))
        return false;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    return true;
}

/* ---- encoder ---- */
typedef struct enc {
    unsigned char *p;
    size_t len, cap;
    bool overflow;
} enc;

static void put(enc *e, const void *src, size_t n)
{
    if (e->overflow || e->cap - e->len < n) {
        e->overflow = true;
        return;
    }
    if (n == 0)
        return; /* src may be NULL for empty fields */
    memcpy(e->p + e->len, src, n);
    e->len += n;
}
static void put_u8(enc *e, uint8_t v)
{
    put(e, &v, 1);
}
static void put_u16(enc *e, uint16_t v)
{
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(e, b, 2);
}
static void put_u32(enc *e, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(e, b, 4);
}
static void put_u64(enc *e, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(e, b, 8);
}
static void put_fh(enc *e, const dur_fh *fh)
{
    assert(fh->len <= DUR_FH_MAX_BYTES);
    put_u8(e, (uint8_t)fh->len);
    if (fh->len) {
        put_u32(e, (uint32_t)fh->type);
        put(e, fh->data, fh->len);
    }
}
static void put_name(enc *e, const char *s)
{
    size_t n = strlen(s);
    put_u8(e, (uint8_t)n);
    put(e, s, n);
}

static dur_code check_name(const char *s, const char *what, dur_error *err)
{
    if (!s || !ns_name_valid(s, strlen(s)))
        return dur_error_set(err, DUR_E_INVAL, 0, NULL,
                             "namespace journal: invalid %s (must be 1..255 bytes, no '/')", what);
    return DUR_OK;
}

static dur_code check_fh(const dur_fh *fh, bool may_be_empty, const char *what, dur_error *err)
{
    if (fh->len > DUR_FH_MAX_BYTES || (!may_be_empty && fh->len == 0))
        return dur_error_set(err, DUR_E_INVAL, 0, NULL,
                             "namespace journal: invalid %s handle (length %" PRIu32 ")", what,
                             fh->len);
    return DUR_OK;
}

dur_code ns_record_encode(const ns_record *r, unsigned char *buf, size_t *len, dur_error *err)
{
    enc e = {.p = buf, .len = 0, .cap = NS_REC_MAX_BYTES, .overflow = false};
    dur_code c = DUR_OK;
    put_u8(&e, NS_REC_VERSION);
    switch (r->type) {
    case NS_REC_CREATE:
        if ((c = check_fh(&r->parent, false, "parent", err)) ||
            (c = check_fh(&r->obj, false, "object", err)) || (c = check_name(r->name, "name", err)))
            return c;
        if (r->target_len > NS_TARGET_MAX)
            return dur_error_set(err, DUR_E_INVAL, 0, NULL,
                                 "symlink target too long (%" PRIu32 " bytes)", r->target_len);
        put_fh(&e, &r->parent);
        put_name(&e, r->name);
        put_fh(&e, &r->obj);
        put_u32(&e, r->mode);
        put_u32(&e, r->uid);
        put_u32(&e, r->gid);
        put_u64(&e, r->rdev);
        put_u16(&e, (uint16_t)r->target_len);
        put(&e, r->target, r->target_len);
        break;
    case NS_REC_LINK:
        if ((c = check_fh(&r->obj, false, "object", err)) ||
            (c = check_fh(&r->parent2, false, "new parent", err)) ||
            (c = check_name(r->name2, "new name", err)))
            return c;
        put_fh(&e, &r->obj);
        put_fh(&e, &r->parent2);
        put_name(&e, r->name2);
        break;
    case NS_REC_REMOVE:
        if ((c = check_fh(&r->parent, false, "parent", err)) ||
            (c = check_fh(&r->obj, false, "object", err)) || (c = check_name(r->name, "name", err)))
            return c;
        put_fh(&e, &r->parent);
        put_name(&e, r->name);
        put_fh(&e, &r->obj);
        put_u8(&e, r->is_dir ? 1 : 0);
        break;
    case NS_REC_RENAME:
        if ((c = check_fh(&r->parent, false, "old parent", err)) ||
            (c = check_fh(&r->parent2, false, "new parent", err)) ||
            (c = check_fh(&r->obj, false, "object", err)) ||
            (c = check_fh(&r->other, true, "replaced", err)) ||
            (c = check_name(r->name, "old name", err)) ||
            (c = check_name(r->name2, "new name", err)))
            return c;
        put_fh(&e, &r->parent);
        put_name(&e, r->name);
        put_fh(&e, &r->parent2);
        put_name(&e, r->name2);
        put_u32(&e, r->flags);
        put_fh(&e, &r->obj);
        put_fh(&e, &r->other);
        break;
    case NS_REC_SETATTR:
        if ((c = check_fh(&r->obj, false, "object", err)))
            return c;
        put_fh(&e, &r->obj);
        put_u32(&e, r->valid);
        put_u32(&e, r->mode);
        put_u32(&e, r->uid);
        put_u32(&e, r->gid);
        put_u64(&e, r->size);
        put_u64(&e, (uint64_t)r->atime_sec);
        put_u32(&e, r->atime_nsec);
        put_u64(&e, (uint64_t)r->mtime_sec);
        put_u32(&e, r->mtime_nsec);
        break;
    case NS_REC_SETXATTR:
    case NS_REC_REMOVEXATTR:
        if ((c = check_fh(&r->obj, false, "object", err)) ||
            (c = check_name(r->xname, "xattr name", err)))
            return c;
        put_fh(&e, &r->obj);
        put_name(&e, r->xname);
        if (r->type == NS_REC_SETXATTR) {
            if (r->value_len > NS_XATTR_VALUE_MAX)
                return dur_error_set(err, DUR_E_INVAL, 0, NULL,
                                     "xattr value too large (%" PRIu32 " bytes)", r->value_len);
            if (r->flags & ~NS_XATTR_FLAGS)
                return dur_error_set(err, DUR_E_INVAL, 0, NULL, "xattr flags 0x%" PRIx32 " unknown",
                                     r->flags);
            put_u32(&e, r->flags);
            put_u32(&e, r->value_len);
            put(&e, r->value, r->value_len);
        }
        break;
    case NS_REC_FILE_DATA:
        if ((c = check_fh(&r->obj, false, "object", err)))
            return c;
        if (r->value_len > NS_FILE_DATA_MAX)
            return dur_error_set(err, DUR_E_INVAL, 0, NULL,
                                 "file content too large for the journal (%" PRIu32 " bytes)",
                                 r->value_len);
        put_fh(&e, &r->obj);
        put_u32(&e, r->value_len);
        put(&e, r->value, r->value_len);
        break;
    case NS_REC_FILE_SYNCED:
        if ((c = check_fh(&r->obj, false, "object", err)))
            return c;
        put_fh(&e, &r->obj);
        put_u64(&e, r->covers);
        break;
    default:
        return dur_error_set(err, DUR_E_INVAL, 0, NULL, "unknown namespace record type %u",
                             r->type);
    }
    assert(!e.overflow); /* NS_REC_MAX_BYTES bounds every field above */
    *len = e.len;
    return DUR_OK;
}

/* ---- decoder ---- */
typedef struct dec {
    const unsigned char *p;
    size_t len, off;
    uint64_t lsn;
    dur_error *err;
    dur_code code; /* first failure; later reads are no-ops */
} dec;

static bool fail(dec *d, const char *fmt, const char *what)
{
    if (d->code == DUR_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, fmt, what);
        d->code =
            dur_error_set_at(d->err, DUR_E_CORRUPT, 0, NULL, d->off,
                             "namespace record LSN %" PRIu64 ": %s (payload offset %zu of %zu)",
                             d->lsn, msg, d->off, d->len);
    }
    return false;
}

static bool get(dec *d, void *dst, size_t n, const char *what)
{
    if (d->code != DUR_OK)
        return false;
    if (d->len - d->off < n)
        return fail(d, "truncated in %s", what);
    memcpy(dst, d->p + d->off, n);
    d->off += n;
    return true;
}
static uint8_t get_u8(dec *d, const char *what)
{
    uint8_t v = 0;
    get(d, &v, 1, what);
    return v;
}
static uint16_t get_u16(dec *d, const char *what)
{
    unsigned char b[2] = {0, 0};
    get(d, b, 2, what);
    return (uint16_t)(b[0] | (b[1] << 8));
}
static uint32_t get_u32(dec *d, const char *what)
{
    unsigned char b[4] = {0};
    get(d, b, 4, what);
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}
static uint64_t get_u64(dec *d, const char *what)
{
    unsigned char b[8] = {0};
    get(d, b, 8, what);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}
static void get_fh(dec *d, dur_fh *fh, bool may_be_empty, const char *what)
{
    memset(fh, 0, sizeof *fh);
    uint8_t n = get_u8(d, what);
    if (d->code)
        return;
    if (n > DUR_FH_MAX_BYTES) {
        fail(d, "%s handle longer than 128 bytes", what);
        return;
    }
    if (n == 0) {
        if (!may_be_empty)
            fail(d, "%s handle is empty", what);
        return;
    }
    fh->type = (int32_t)get_u32(d, what);
    if (get(d, fh->data, n, what))
        fh->len = n;
}
static void get_name(dec *d, char *dst, const char *what)
{
    dst[0] = '\0';
    uint8_t n = get_u8(d, what);
    if (d->code)
        return;
    if (d->len - d->off < n) {
        fail(d, "truncated in %s", what);
        return;
    }
    if (!ns_name_valid((const char *)d->p + d->off, n)) {
        fail(d, "illegal %s (empty, '.', '..', or contains '/' or NUL)", what);
        return;
    }
    get(d, dst, n, what);
    dst[n] = '\0';
}

/* u32 length (at most 65536), then the bytes, pointed to in place. */
_Static_assert(NS_XATTR_VALUE_MAX == NS_FILE_DATA_MAX, "one limit for both value kinds");
static void get_value(dec *d, ns_record *r, const char *what)
{
    r->value_len = get_u32(d, what);
    if (d->code == DUR_OK && r->value_len > NS_XATTR_VALUE_MAX)
        fail(d, "%s larger than 65536 bytes", what);
    if (d->code == DUR_OK && d->len - d->off < r->value_len)
        fail(d, "truncated in %s", what);
    if (d->code == DUR_OK) {
        r->value = d->p + d->off;
        d->off += r->value_len;
    }
}

#define NS_ATTR_VALID_BITS                                                                         \
    (DUR_NS_ATTR_MODE | DUR_NS_ATTR_UID | DUR_NS_ATTR_GID | DUR_NS_ATTR_SIZE | DUR_NS_ATTR_ATIME | \
     DUR_NS_ATTR_MTIME)

static bool known_type(uint32_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
    case S_IFDIR:
    case S_IFLNK:
    case S_IFCHR:
    case S_IFBLK:
    case S_IFIFO:
    case S_IFSOCK:
        return true;
    default:
        return false;
    }
}

dur_code ns_record_decode(uint8_t type, const void *payload, size_t len, uint64_t lsn, ns_record *r,
                          dur_error *err)
{
    dec d = {.p = payload, .len = len, .off = 0, .lsn = lsn, .err = err, .code = DUR_OK};
    memset(r, 0, sizeof *r);
    r->type = type;
    if (type < NS_REC_CREATE || type > NS_REC_FILE_SYNCED) {
        return dur_error_set_at(err, DUR_E_CORRUPT, 0, NULL, 0,
                                "namespace record LSN %" PRIu64 ": unknown record type %u", lsn,
                                type);
    }
    uint8_t version = get_u8(&d, "version");
    if (d.code == DUR_OK && version != NS_REC_VERSION) {
        d.off = 0;
        return dur_error_set_at(err, DUR_E_CORRUPT, 0, NULL, 0,
                                "namespace record LSN %" PRIu64
                                ": unsupported version %u (expected %u)",
                                lsn, version, NS_REC_VERSION);
    }
    switch (type) {
    case NS_REC_CREATE:
        get_fh(&d, &r->parent, false, "parent");
        get_name(&d, r->name, "name");
        get_fh(&d, &r->obj, false, "object");
        r->mode = get_u32(&d, "mode");
        r->uid = get_u32(&d, "uid");
        r->gid = get_u32(&d, "gid");
        r->rdev = get_u64(&d, "rdev");
        r->target_len = get_u16(&d, "target length");
        if (d.code == DUR_OK && r->target_len > NS_TARGET_MAX)
            fail(&d, "%s longer than 4095 bytes", "symlink target");
        if (d.code == DUR_OK && d.len - d.off < r->target_len)
            fail(&d, "truncated in %s", "symlink target");
        if (d.code == DUR_OK) {
            r->target = (const char *)d.p + d.off;
            if (memchr(r->target, '\0', r->target_len))
                fail(&d, "%s contains NUL", "symlink target");
            d.off += r->target_len;
        }
        if (d.code == DUR_OK && !known_type(r->mode))
            fail(&d, "%s has no known file type", "mode");
        if (d.code == DUR_OK && ((r->mode & S_IFMT) == S_IFLNK) != (r->target_len > 0))
            fail(&d, "%s: symlink target present iff type is symlink", "mode");
        break;
    case NS_REC_LINK:
        get_fh(&d, &r->obj, false, "object");
        get_fh(&d, &r->parent2, false, "new parent");
        get_name(&d, r->name2, "new name");
        break;
    case NS_REC_REMOVE:
        get_fh(&d, &r->parent, false, "parent");
        get_name(&d, r->name, "name");
        get_fh(&d, &r->obj, false, "object");
        r->is_dir = get_u8(&d, "is_dir");
        if (d.code == DUR_OK && r->is_dir > 1)
            fail(&d, "%s flag is not 0 or 1", "is_dir");
        break;
    case NS_REC_RENAME:
        get_fh(&d, &r->parent, false, "old parent");
        get_name(&d, r->name, "old name");
        get_fh(&d, &r->parent2, false, "new parent");
        get_name(&d, r->name2, "new name");
        r->flags = get_u32(&d, "flags");
        /* what the daemon logs: 0, NOREPLACE or EXCHANGE (a WHITEOUT replayed as
         * a plain rename would be wrong) */
        if (d.code == DUR_OK && r->flags != 0 && r->flags != RENAME_NOREPLACE &&
            r->flags != RENAME_EXCHANGE)
            fail(&d, "%s are not 0, NOREPLACE or EXCHANGE", "rename flags");
        get_fh(&d, &r->obj, false, "object");
        get_fh(&d, &r->other, true, "replaced");
        break;
    case NS_REC_SETATTR:
        get_fh(&d, &r->obj, false, "object");
        r->valid = get_u32(&d, "valid mask");
        if (d.code == DUR_OK && (r->valid & ~NS_ATTR_VALID_BITS))
            fail(&d, "%s has unknown bits", "valid mask");
        r->mode = get_u32(&d, "mode");
        r->uid = get_u32(&d, "uid");
        r->gid = get_u32(&d, "gid");
        r->size = get_u64(&d, "size");
        r->atime_sec = (int64_t)get_u64(&d, "atime");
        r->atime_nsec = get_u32(&d, "atime");
        r->mtime_sec = (int64_t)get_u64(&d, "mtime");
        r->mtime_nsec = get_u32(&d, "mtime");
        if (d.code == DUR_OK && (r->atime_nsec >= 1000000000u || r->mtime_nsec >= 1000000000u))
            fail(&d, "%s nanoseconds out of range", "timestamp");
        break;
    case NS_REC_SETXATTR:
    case NS_REC_REMOVEXATTR:
        get_fh(&d, &r->obj, false, "object");
        get_name(&d, r->xname, "xattr name");
        if (type == NS_REC_SETXATTR) {
            r->flags = get_u32(&d, "xattr flags");
            if (d.code == DUR_OK && (r->flags & ~NS_XATTR_FLAGS))
                fail(&d, "%s has unknown bits", "xattr flags");
            get_value(&d, r, "xattr value");
        }
        break;
    case NS_REC_FILE_DATA:
        get_fh(&d, &r->obj, false, "object");
        get_value(&d, r, "file content");
        break;
    case NS_REC_FILE_SYNCED:
        get_fh(&d, &r->obj, false, "object");
        r->covers = get_u64(&d, "covered LSN");
        if (d.code == DUR_OK && r->covers >= lsn)
            fail(&d, "%s not below the record's own LSN", "covered LSN");
        break;
    }
    if (d.code == DUR_OK && d.off != d.len)
        fail(&d, "%s", "trailing bytes after the last field");
    return d.code;
}

static void fmt_fh(const dur_fh *fh, char *buf, size_t size)
{
    if (fh->len == 0)
        snprintf(buf, size, "-");
    else
        dur_fh_format(fh, buf, size);
}

/* Names are arbitrary bytes: render non-printables as \xNN so one record = one line. */
/* Names and symlink targets may hold any byte: escaped, so that a record's text
 * (dump, replay logs) is one line of printable ASCII (a raw newline in a target
 * forged a line of `durfsctl dump`, found by probing). */
static void fmt_bytes(const char *s, size_t n, char *buf, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < size; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x21 || ch >= 0x7f || ch == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
        else
            buf[o++] = (char)ch;
    }
    buf[o] = '\0';
}

static void fmt_name(const char *s, char *buf, size_t size)
{
    fmt_bytes(s, strlen(s), buf, size);
}

void ns_record_format(const ns_record *r, uint64_t lsn, char *buf, size_t size)
{
    char a[300], b[300], n1[1100], n2[1100];
    fmt_name(r->name, n1, sizeof n1);
    fmt_name(r->name2, n2, sizeof n2);
    switch (r->type) {
    case NS_REC_CREATE: {
        char t[1100];
        fmt_fh(&r->parent, a, sizeof a);
        fmt_fh(&r->obj, b, sizeof b);
        fmt_bytes(r->target_len ? r->target : "", r->target_len, t, sizeof t);
        snprintf(buf, size,
                 "%" PRIu64 " CREATE parent=%s name=%s obj=%s mode=0%o uid=%u gid=%u rdev=%" PRIu64
                 "%s%s",
                 lsn, a, n1, b, r->mode, r->uid, r->gid, r->rdev, r->target_len ? " target=" : "",
                 t);
        break;
    }
    case NS_REC_LINK:
        fmt_fh(&r->obj, a, sizeof a);
        fmt_fh(&r->parent2, b, sizeof b);
        snprintf(buf, size, "%" PRIu64 " LINK obj=%s new_parent=%s new_name=%s", lsn, a, b, n2);
        break;
    case NS_REC_REMOVE:
        fmt_fh(&r->parent, a, sizeof a);
        fmt_fh(&r->obj, b, sizeof b);
        snprintf(buf, size, "%" PRIu64 " REMOVE parent=%s name=%s obj=%s%s", lsn, a, n1, b,
                 r->is_dir ? " dir" : "");
        break;
    case NS_REC_RENAME: {
        char c[300], d[300];
        fmt_fh(&r->parent, a, sizeof a);
        fmt_fh(&r->parent2, b, sizeof b);
        fmt_fh(&r->obj, c, sizeof c);
        fmt_fh(&r->other, d, sizeof d);
        snprintf(buf, size,
                 "%" PRIu64 " RENAME old_parent=%s old_name=%s new_parent=%s new_name=%s "
                 "flags=0x%x obj=%s replaced=%s",
                 lsn, a, n1, b, n2, r->flags, c, d);
        break;
    }
    case NS_REC_SETATTR:
        fmt_fh(&r->obj, a, sizeof a);
        snprintf(buf, size,
                 "%" PRIu64 " SETATTR obj=%s valid=0x%x mode=0%o uid=%u gid=%u size=%" PRIu64
                 " atime=%" PRId64 ".%09u mtime=%" PRId64 ".%09u",
                 lsn, a, r->valid, r->mode, r->uid, r->gid, r->size, r->atime_sec, r->atime_nsec,
                 r->mtime_sec, r->mtime_nsec);
        break;
    case NS_REC_SETXATTR:
    case NS_REC_REMOVEXATTR:
        fmt_fh(&r->obj, a, sizeof a);
        fmt_name(r->xname, n1, sizeof n1);
        if (r->type == NS_REC_SETXATTR)
            snprintf(buf, size, "%" PRIu64 " SETXATTR obj=%s name=%s flags=0x%x value_len=%u", lsn,
                     a, n1, r->flags, r->value_len);
        else
            snprintf(buf, size, "%" PRIu64 " REMOVEXATTR obj=%s name=%s", lsn, a, n1);
        break;
    case NS_REC_FILE_DATA:
        fmt_fh(&r->obj, a, sizeof a);
        snprintf(buf, size, "%" PRIu64 " FILE_DATA obj=%s len=%u xxh64=%016llx", lsn, a,
                 r->value_len, (unsigned long long)XXH3_64bits(r->value, r->value_len));
        break;
    case NS_REC_FILE_SYNCED:
        fmt_fh(&r->obj, a, sizeof a);
        snprintf(buf, size, "%" PRIu64 " FILE_SYNCED obj=%s covers=%" PRIu64, lsn, a, r->covers);
        break;
    default:
        snprintf(buf, size, "%" PRIu64 " UNKNOWN type=%u", lsn, r->type);
    }
}
