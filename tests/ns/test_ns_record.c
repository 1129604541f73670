/* Namespace journal record codec: round trip of every type, and hostile payloads
 * (every truncation, every trailing byte, oversize and illegal names, bad version)
 * must give DUR_E_CORRUPT naming the LSN -- never a crash. */
#include "durability/nsjournal.h"
#include "ns_record.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <cmocka.h>

static dur_fh fh_of(unsigned char seed, unsigned len)
{
    dur_fh fh;
    memset(&fh, 0, sizeof fh);
    fh.len = len;
    fh.type = 0x100 + seed;
    for (unsigned i = 0; i < len; i++)
        fh.data[i] = (unsigned char)(seed * 7 + i);
    return fh;
}

static const char xval[] = "value\0with NUL";
static unsigned char buf[NS_REC_MAX_BYTES];

/* One sample record of each type, with awkward names (spaces, high bytes). */
static size_t samples(ns_record *out)
{
    size_t n = 0;
    ns_record *r;
    r = &out[n++];
    memset(r, 0, sizeof *r);
    r->type = NS_REC_CREATE;
    r->parent = fh_of(1, 8);
    r->obj = fh_of(2, 8);
    strcpy(r->name, "file name \xc3\xa9\x01");
    r->mode = S_IFREG | 0640;
    r->uid = 1000;
    r->gid = 100;
    r = &out[n++];
    memset(r, 0, sizeof *r);
    r->type = NS_REC_CREATE;
    r->parent = fh_of(1, 8);
    r->obj = fh_of(3, 12);
    strcpy(r->name, "link");
    r->mode = S_IFLNK | 0777;
    r->target = "../some/where";
    r->target_len = 13;
    r = &out[n++];
    memset(r, 0, sizeof *r);
    r->type = NS_REC_CREATE;
    r->parent = fh_of(1, 8);
    r->obj = fh_of(4, 8);
    memset(r->name, 'x', 255);
    r->mode = S_IFCHR | 0600;
    r->rdev = 0x0103;
    r = &out[n++];
    memset(r, 0, sizeof *r);
    r->type = NS_REC_LINK;
    r->obj = fh_of(2, 8);
    r->parent2 = fh_of(5, 128);
    strcpy(r->name2, "hard");
    r = &out[n++];
    memset(r, 0, sizeof *r);
    r->type = NS_REC_REMOVE;
    r->parent = fh_of(1, 8);
    r->obj = fh_of(6, 8);
    strcpy(r->name, "dir");
    r->is_dir = 1;
    r = &out[n++];
    memset(r, 0, sizeof *r);
    r->type = NS_REC_RENAME;
    r->parent = fh_of(1, 8);
    strcpy(r->name, "a");
    r->parent2 = fh_of(7, 8);
    strcpy(r->name2, "b");
    r->flags = 2;
    r->obj = fh_of(8, 8);
    r->other = fh_of(9, 8);
    r = &out[n++];
    memset(r, 0, sizeof *r);
    r->type = NS_REC_RENAME;
    r->parent = fh_of(1, 8);
    strcpy(r->name, "a");
    r->parent2 = fh_of(1, 8);
    strcpy(r->name2, "c");
    r->obj = fh_of(8, 8); /* no replaced object */
    r = &out[n++];
    memset(r, 0, sizeof *r);
    r->type = NS_REC_SETATTR;
    r->obj = fh_of(2, 8);
    r->valid = 0x3f;
    r->mode = 04755;
    r->uid = 7;
    r->gid = 8;
    r->size = 1ull << 40;
    r->atime_sec = -5;
    r->atime_nsec = 999999999;
    r->mtime_sec = 1700000000;
    r->mtime_nsec = 1;
    r = &out[n++];
    memset(r, 0, sizeof *r);
    r->type = NS_REC_SETXATTR;
    r->obj = fh_of(2, 8);
    strcpy(r->xname, "user.test");
    r->value = xval;
    r->value_len = sizeof xval;
    r->flags = 1;
    r = &out[n++];
    memset(r, 0, sizeof *r);
    r->type = NS_REC_REMOVEXATTR;
    r->obj = fh_of(2, 8);
    strcpy(r->xname, "user.test");
    r = &out[n++];
    memset(r, 0, sizeof *r);
    r->type = NS_REC_FILE_DATA;
    r->obj = fh_of(3, 12);
    r->value = xval;
    r->value_len = sizeof xval;
    r = &out[n++];
    memset(r, 0, sizeof *r);
    r->type = NS_REC_FILE_DATA; /* an empty file */
    r->obj = fh_of(3, 12);
    r = &out[n++];
    memset(r, 0, sizeof *r);
    r->type = NS_REC_FILE_SYNCED;
    r->obj = fh_of(3, 12);
    r->covers = 41; /* decoded at LSN 42 */
    assert_true(n <= 16);
    return n;
}

/* FILE_SYNCED covers only LSNs before its own; FILE_DATA holds at most 64 KiB. */
static void test_file_record_limits(void **state)
{
    (void)state;
    ns_record r, d;
    memset(&r, 0, sizeof r);
    r.type = NS_REC_FILE_SYNCED;
    r.obj = fh_of(3, 12);
    r.covers = 42;
    size_t len = 0;
    dur_error err;
    assert_int_equal(ns_record_encode(&r, buf, &len, &err), DUR_OK);
    assert_int_equal(ns_record_decode(r.type, buf, len, 43, &d, &err), DUR_OK);
    assert_int_equal(ns_record_decode(r.type, buf, len, 42, &d, &err), DUR_E_CORRUPT);
    assert_non_null(strstr(err.msg, "LSN 42"));
    static unsigned char big[NS_FILE_DATA_MAX + 1];
    memset(&r, 0, sizeof r);
    r.type = NS_REC_FILE_DATA;
    r.obj = fh_of(3, 12);
    r.value = big;
    r.value_len = sizeof big;
    assert_int_equal(ns_record_encode(&r, buf, &len, &err), DUR_E_INVAL);
    r.value_len = NS_FILE_DATA_MAX;
    assert_int_equal(ns_record_encode(&r, buf, &len, &err), DUR_OK);
    /* the length field raised by one: longer than the limit and than the payload */
    size_t at = 1 + 1 + 4 + 12;
    assert_int_equal(buf[at + 2], 1); /* 65536 = 00 00 01 00 */
    buf[at] = 1;
    assert_int_equal(ns_record_decode(r.type, buf, len, 7, &d, &err), DUR_E_CORRUPT);
}

static void assert_same(const ns_record *a, const ns_record *b)
{
    assert_int_equal(a->type, b->type);
    assert_true(dur_fh_equal(&a->parent, &b->parent));
    assert_true(dur_fh_equal(&a->parent2, &b->parent2));
    assert_true(dur_fh_equal(&a->obj, &b->obj));
    assert_true(dur_fh_equal(&a->other, &b->other));
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->name2, b->name2);
    assert_string_equal(a->xname, b->xname);
    assert_int_equal(a->mode, b->mode);
    assert_int_equal(a->uid, b->uid);
    assert_int_equal(a->gid, b->gid);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->valid, b->valid);
    assert_int_equal(a->rdev, b->rdev);
    assert_int_equal(a->size, b->size);
    assert_int_equal(a->atime_sec, b->atime_sec);
    assert_int_equal(a->atime_nsec, b->atime_nsec);
    assert_int_equal(a->mtime_sec, b->mtime_sec);
    assert_int_equal(a->mtime_nsec, b->mtime_nsec);
    assert_int_equal(a->is_dir, b->is_dir);
    assert_int_equal(a->covers, b->covers);
    assert_int_equal(a->target_len, b->target_len);
    if (a->target_len)
        assert_memory_equal(a->target, b->target, a->target_len);
    assert_int_equal(a->value_len, b->value_len);
    if (a->value_len)
        assert_memory_equal(a->value, b->value, a->value_len);
}

static void test_round_trip(void **state)
{
    (void)state;
    ns_record s[16], d;
    size_t n = samples(s);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        dur_error err;
        assert_int_equal(ns_record_encode(&s[i], buf, &len, &err), DUR_OK);
        assert_int_equal(buf[0], NS_REC_VERSION);
        assert_int_equal(ns_record_decode(s[i].type, buf, len, 42, &d, &err), DUR_OK);
        assert_same(&s[i], &d);
        char line[2048];
        ns_record_format(&d, 42, line, sizeof line);
        assert_non_null(strstr(line, ns_rec_type_name(s[i].type)));
        assert_null(strchr(line, '\n'));
    }
}

/* Every proper prefix and every one-byte extension of every sample is corrupt. */
static void test_truncation_and_trailing(void **state)
{
    (void)state;
    ns_record s[16], d;
    size_t n = samples(s);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        assert_int_equal(ns_record_encode(&s[i], buf, &len, NULL), DUR_OK);
        for (size_t cut = 0; cut < len; cut++) {
            unsigned char *copy = malloc(cut ? cut : 1); /* exact size: ASan catches overreads */
            memcpy(copy, buf, cut);
            dur_error err;
            assert_int_equal(ns_record_decode(s[i].type, copy, cut, 77, &d, &err), DUR_E_CORRUPT);
            assert_non_null(strstr(err.msg, "LSN 77"));
            free(copy);
        }
        buf[len] = 0;
        dur_error err;
        assert_int_equal(ns_record_decode(s[i].type, buf, len + 1, 78, &d, &err), DUR_E_CORRUPT);
        assert_non_null(strstr(err.msg, "trailing"));
    }
}

/* A CREATE payload built by hand with a chosen name. */
static size_t craft_create(const unsigned char *name, size_t nlen, unsigned char *p)
{
    size_t o = 0;
    p[o++] = NS_REC_VERSION;
    p[o++] = 4; /* parent handle */
    memset(p + o, 0, 4), o += 4;
    memset(p + o, 9, 4), o += 4;
    p[o++] = (unsigned char)nlen;
    memcpy(p + o, name, nlen), o += nlen;
    p[o++] = 4; /* object handle */
    memset(p + o, 0, 4), o += 4;
    memset(p + o, 8, 4), o += 4;
    uint32_t mode = S_IFREG | 0644;
    for (int i = 0; i < 4; i++)
        p[o++] = (unsigned char)(mode >> (8 * i));
    memset(p + o, 0, 4 + 4 + 8 + 2), o += 18; /* uid gid rdev target_len */
    return o;
}

static void test_hostile_names(void **state)
{
    (void)state;
    ns_record d;
    dur_error err;
    unsigned char p[600];
    size_t len = craft_create((const unsigned char *)"ok", 2, p);
    assert_int_equal(ns_record_decode(NS_REC_CREATE, p, len, 1, &d, &err), DUR_OK);
    assert_string_equal(d.name, "ok");
    const char *bad[] = {"a/b", "/", ".", "..", "x\0y"};
    size_t badlen[] = {3, 1, 1, 2, 3};
    for (size_t i = 0; i < 5; i++) {
        len = craft_create((const unsigned char *)bad[i], badlen[i], p);
        assert_int_equal(ns_record_decode(NS_REC_CREATE, p, len, 5, &d, &err), DUR_E_CORRUPT);
        assert_non_null(strstr(err.msg, "LSN 5"));
    }
    len = craft_create((const unsigned char *)"", 0, p);
    assert_int_equal(ns_record_decode(NS_REC_CREATE, p, len, 6, &d, &err), DUR_E_CORRUPT);
    /* handle longer than 128 bytes */
    p[1] = 200;
    assert_int_equal(ns_record_decode(NS_REC_CREATE, p, len, 7, &d, &err), DUR_E_CORRUPT);
    /* bad version, unknown type */
    len = craft_create((const unsigned char *)"ok", 2, p);
    p[0] = 99;
    assert_int_equal(ns_record_decode(NS_REC_CREATE, p, len, 8, &d, &err), DUR_E_CORRUPT);
    assert_non_null(strstr(err.msg, "version"));
    p[0] = NS_REC_VERSION;
    assert_int_equal(ns_record_decode(0, p, len, 9, &d, &err), DUR_E_CORRUPT);
    assert_int_equal(ns_record_decode(200, p, len, 9, &d, &err), DUR_E_CORRUPT);
}

/* A symlink target may hold any byte but NUL: its text in a record's line is
 * escaped like names, so `durfsctl dump` and replay logs stay one line of
 * printable ASCII (a raw newline forged a dump line, found by probing; fails
 * without fmt_bytes for the target, checked). */
static void test_format_escapes_symlink_target(void **state)
{
    (void)state;
    ns_record r;
    memset(&r, 0, sizeof r);
    r.type = NS_REC_CREATE;
    r.parent = fh_of(1, 8);
    r.obj = fh_of(2, 8);
    memcpy(r.name, "l", 2);
    r.mode = S_IFLNK | 0777;
    static const char target[] = "x\n99 REMOVE \x1b[31m\xff";
    r.target = target;
    r.target_len = sizeof target - 1;
    char line[2048];
    ns_record_format(&r, 7, line, sizeof line);
    for (const char *c = line; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            fail_msg("byte 0x%02x in the record's text: %s", (unsigned char)*c, line);
    assert_non_null(strstr(line, "target=x\\x0a99\\x20REMOVE\\x20\\x1b[31m\\xff"));
}

/* Values the daemon never logs are corrupt, not replayed as something else:
 * RENAME flags other than 0/NOREPLACE/EXCHANGE (a WHITEOUT was replayed as a
 * plain rename), unknown SETATTR valid bits, a mode with no known file type
 * (found by probing; each decoded without the checks, checked). */
static void test_values_never_logged_are_corrupt(void **state)
{
    (void)state;
    ns_record s[16], d;
    samples(s);
    ns_record *rename = &s[5], *setattr = &s[7], *create = &s[0];
    assert_int_equal(rename->type, NS_REC_RENAME);
    assert_int_equal(setattr->type, NS_REC_SETATTR);
    struct {
        ns_record *r;
        uint32_t *field, value;
        const char *what;
    } cases[] = {
        {rename, &rename->flags, 4, "rename flags"},
        {rename, &rename->flags, 3, "rename flags"},
        {setattr, &setattr->valid, 0x40, "valid mask"},
        {create, &create->mode, 0170000 | 0644, "file type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t keep = *cases[i].field;
        *cases[i].field = cases[i].value;
        size_t len = 0;
        dur_error err;
        assert_int_equal(ns_record_encode(cases[i].r, buf, &len, &err), DUR_OK);
        assert_int_equal(ns_record_decode(cases[i].r->type, buf, len, 11, &d, &err), DUR_E_CORRUPT);
        assert_non_null(strstr(err.msg, "LSN 11"));
        assert_non_null(strstr(err.msg, cases[i].what));
        *cases[i].field = keep;
    }
}

static void test_encoder_refuses_bad_input(void **state)
{
    (void)state;
    ns_record s[16];
    samples(s);
    size_t len;
    dur_error err;
    ns_record r = s[0];
    strcpy(r.name, "a/b");
    assert_int_equal(ns_record_encode(&r, buf, &len, &err), DUR_E_INVAL);
    r = s[0];
    r.name[0] = '\0';
    assert_int_equal(ns_record_encode(&r, buf, &len, &err), DUR_E_INVAL);
    r = s[0];
    r.obj.len = 0;
    assert_int_equal(ns_record_encode(&r, buf, &len, &err), DUR_E_INVAL);
    r = s[8]; /* setxattr */
    r.value_len = NS_XATTR_VALUE_MAX + 1;
    assert_int_equal(ns_record_encode(&r, buf, &len, &err), DUR_E_INVAL);
}

/* SETXATTR flags: XATTR_CREATE/REPLACE and DUR_NS_XATTR_KILL_SGID round-trip; any
 * other bit is refused by the encoder and reported corrupt by the decoder. */
static void test_xattr_flags(void **state)
{
    (void)state;
    ns_record s[16], d;
    samples(s);
    ns_record r = s[8];
    assert_int_equal(r.type, NS_REC_SETXATTR);
    r.flags = XATTR_REPLACE | DUR_NS_XATTR_KILL_SGID;
    size_t len;
    dur_error err;
    assert_int_equal(ns_record_encode(&r, buf, &len, &err), DUR_OK);
    assert_int_equal(ns_record_decode(r.type, buf, len, 3, &d, &err), DUR_OK);
    assert_int_equal(d.flags, XATTR_REPLACE | DUR_NS_XATTR_KILL_SGID);
    size_t at = len - r.value_len - 8; /* u32 flags, u32 value_len, value */
    assert_int_equal(buf[at + 1], 1);  /* 0x102, little endian */
    buf[at + 1] = 2;                   /* 0x202: bit 9 means nothing */
    assert_int_equal(ns_record_decode(r.type, buf, len, 4, &d, &err), DUR_E_CORRUPT);
    assert_non_null(strstr(err.msg, "xattr flags"));
    r.flags = 0x200;
    assert_int_equal(ns_record_encode(&r, buf, &len, &err), DUR_E_INVAL);
}

/* Random mutations of valid payloads: decode must return OK or CORRUPT, never crash. */
static void test_random_mutations(void **state)
{
    (void)state;
    ns_record s[16], d;
    size_t n = samples(s);
    srand(12345);
    for (int iter = 0; iter < 20000; iter++) {
        size_t i = (size_t)rand() % n, len = 0;
        assert_int_equal(ns_record_encode(&s[i], buf, &len, NULL), DUR_OK);
        int flips = 1 + rand() % 4;
        for (int f = 0; f < flips; f++)
            buf[(size_t)rand() % len] = (unsigned char)rand();
        size_t l2 = (size_t)rand() % (len + 1);
        unsigned char *copy = malloc(l2 ? l2 : 1);
        memcpy(copy, buf, l2);
        dur_code c = ns_record_decode(s[i].type, copy, l2, 1, &d, NULL);
        assert_true(c == DUR_OK || c == DUR_E_CORRUPT);
        if (c == DUR_OK) { /* what decodes must be sane */
            assert_true(strlen(d.name) <= NS_NAME_MAX && !strchr(d.name, '/'));
            assert_true(d.obj.len <= DUR_FH_MAX_BYTES);
        }
        free(copy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_file_record_limits),
        cmocka_unit_test(test_truncation_and_trailing),
        cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_format_escapes_symlink_target),
        cmocka_unit_test(test_values_never_logged_are_corrupt),
        cmocka_unit_test(test_encoder_refuses_bad_input),
        cmocka_unit_test(test_xattr_flags),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
