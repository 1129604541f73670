/* kvstore: a tiny durable key-value store on libdurability.
 *
 *   kvstore DIR put KEY VALUE     durable when the command returns
 *   kvstore DIR del KEY
 *   kvstore DIR get KEY
 *   kvstore DIR list
 *   kvstore --selftest            run a scripted session in a temporary directory
 *
 * Layout in DIR: wal/ (one record per put or delete) and checkpoints/ (the whole map,
 * written every CHECKPOINT_EVERY records).  At start the store recovers: newest valid
 * checkpoint, then every WAL record after it.  Build:
 *   cc -o kvstore kvstore.c $(pkg-config --cflags --libs libdurability)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strndup, nftw */
#endif
#include <durability.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TYPE_PUT 1
#define TYPE_DEL 2
#define CHECKPOINT_EVERY 8

typedef struct entry {
    char *key, *value;
} entry;

typedef struct store {
    dur_dir *dir;
    dur_wal *wal;
    entry *e;
    size_t n, cap;
    unsigned since_checkpoint;
} store;

/* ---- the map (kept sorted so checkpoints are deterministic) ---- */
static size_t find(const store *s, const char *key, size_t klen, int *cmp)
{
    size_t lo = 0, hi = s->n;
    *cmp = 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strncmp(s->e[mid].key, key, klen);
        if (c == 0 && s->e[mid].key[klen] != '\0')
            c = 1;
        if (c == 0) {
            *cmp = 0;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int map_put(store *s, const char *k, size_t kl, const char *v, size_t vl)
{
    int cmp;
    size_t i = find(s, k, kl, &cmp);
    char *val = strndup(v, vl);
    if (!val)
        return -1;
    if (cmp == 0) {
        free(s->e[i].value);
        s->e[i].value = val;
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        entry *e = realloc(s->e, cap * sizeof(*e));
        if (!e) {
            free(val);
            return -1;
        }
        s->e = e;
        s->cap = cap;
    }
    char *key = strndup(k, kl);
    if (!key) {
        free(val);
        return -1;
    }
    memmove(s->e + i + 1, s->e + i, (s->n - i) * sizeof(*s->e));
    s->e[i] = (entry){key, val};
    s->n++;
    return 0;
}

static void map_del(store *s, const char *k, size_t kl)
{
    int cmp;
    size_t i = find(s, k, kl, &cmp);
    if (cmp != 0)
        return;
    free(s->e[i].key);
    free(s->e[i].value);
    memmove(s->e + i, s->e + i + 1, (s->n - i - 1) * sizeof(*s->e));
    s->n--;
}

/* ---- records: put = u16 key length, key, value; del = key ---- */
static dur_code apply(store *s, uint8_t type, const uint8_t *p, size_t len, dur_error *err)
{
    if (type == TYPE_DEL) {
        map_del(s, (const char *)p, len);
        return DUR_OK;
    }
    if (type != TYPE_PUT)
        return DUR_OK; /* checkpoint markers (DUR_WAL_TYPE_CHECKPOINT) and unknown types */
    size_t kl = len >= 2 ? (size_t)(p[0] | p[1] << 8) : 0;
    if (len < 2 || kl > len - 2)
        return dur_error_set(err, DUR_E_CORRUPT, 0, "wal", "malformed put record");
    if (map_put(s, (const char *)p + 2, kl, (const char *)p + 2 + kl, len - 2 - kl) != 0)
        return dur_error_set(err, DUR_E_NOMEM, 0, NULL, "out of memory");
    return DUR_OK;
}

/* ---- checkpoint payload: u32 count, then per entry u32 klen, u32 vlen, key, value ---- */
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t *serialize(const store *s, size_t *len)
{
    size_t n = 4;
    for (size_t i = 0; i < s->n; i++)
        n += 8 + strlen(s->e[i].key) + strlen(s->e[i].value);
    uint8_t *buf = malloc(n), *p = buf;
    if (!buf)
        return NULL;
    put32(p, (uint32_t)s->n);
    p += 4;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t kl = (uint32_t)strlen(s->e[i].key), vl = (uint32_t)strlen(s->e[i].value);
        put32(p, kl);
        put32(p + 4, vl);
        memcpy(p + 8, s->e[i].key, kl);
        memcpy(p + 8 + kl, s->e[i].value, vl);
        p += 8 + kl + vl;
    }
    *len = n;
    return buf;
}

static dur_code on_checkpoint(void *ctx, const dur_checkpoint *cp, dur_error *err)
{
    store *s = ctx;
    if (!cp)
        return DUR_OK; /* fresh store */
    const uint8_t *p = cp->payload, *end = p + cp->len;
    if (cp->len < 4)
        return dur_error_set(err, DUR_E_CORRUPT, 0, cp->name, "checkpoint payload too short");
    uint32_t count = get32(p);
    p += 4;
    for (uint32_t i = 0; i < count; i++) {
        if (end - p < 8)
            return dur_error_set(err, DUR_E_CORRUPT, 0, cp->name, "entry %u truncated", i);
        uint32_t kl = get32(p), vl = get32(p + 4);
        if ((size_t)(end - p - 8) < (size_t)kl + vl)
            return dur_error_set(err, DUR_E_CORRUPT, 0, cp->name, "entry %u truncated", i);
        if (map_put(s, (const char *)p + 8, kl, (const char *)p + 8 + kl, vl) != 0)
            return dur_error_set(err, DUR_E_NOMEM, 0, NULL, "out of memory");
        p += 8 + (size_t)kl + vl;
    }
    return DUR_OK;
}

static dur_code on_record(void *ctx, const dur_wal_record *rec, dur_error *err)
{
    return apply(ctx, rec->type, rec->payload, rec->len, err);
}

/* ---- the store ---- */
static dur_code store_open(store *s, const char *path, dur_error *err)
{
    memset(s, 0, sizeof(*s));
    dur_code rc = dur_dir_open_fs(path, true, &s->dir, err);
    if (rc != DUR_OK)
        return rc;
    /* Recovery first (no writer open yet): it also cuts a torn tail left by a crash. */
    dur_recovery_options ro = {"wal", "checkpoints", DUR_READ_BEST_EFFORT, true};
    dur_recovery_callbacks cb = {on_checkpoint, on_record, s};
    dur_recovery_report rep;
    rc = dur_recover(s->dir, &ro, &cb, &rep, err);
    if (rc != DUR_OK)
        return rc;
    dur_wal_options wo;
    dur_wal_options_default(&wo);
    return dur_wal_open(s->dir, "wal", &wo, &s->wal, NULL, err);
}

static dur_code store_checkpoint(store *s, dur_error *err)
{
    size_t len;
    uint8_t *buf = serialize(s, &len);
    if (!buf)
        return dur_error_set(err, DUR_E_NOMEM, 0, NULL, "out of memory");
    dur_code rc = dur_checkpoint_publish(s->wal, s->dir, "checkpoints", dur_wal_last_lsn(s->wal),
                                         buf, len, err);
    free(buf);
    if (rc == DUR_OK)
        s->since_checkpoint = 0;
    return rc;
}

/* Log first (durably), then apply: the map never holds what the log could lose. */
static dur_code store_write(store *s, uint8_t type, const char *key, const char *value,
                            dur_error *err)
{
    size_t kl = strlen(key), vl = value ? strlen(value) : 0;
    if (kl > 0xffff)
        return dur_error_set(err, DUR_E_INVAL, 0, NULL, "key longer than 65535 bytes");
    uint8_t *rec = malloc(2 + kl + vl);
    if (!rec)
        return dur_error_set(err, DUR_E_NOMEM, 0, NULL, "out of memory");
    size_t len;
    if (type == TYPE_PUT) {
        rec[0] = (uint8_t)kl;
        rec[1] = (uint8_t)(kl >> 8);
        memcpy(rec + 2, key, kl);
        memcpy(rec + 2 + kl, value, vl);
        len = 2 + kl + vl;
    } else {
        memcpy(rec, key, kl);
        len = kl;
    }
    dur_code rc = dur_wal_append_durable(s->wal, type, rec, len, NULL, err);
    if (rc == DUR_OK)
        rc = apply(s, type, rec, len, err);
    free(rec);
    if (rc == DUR_OK && ++s->since_checkpoint >= CHECKPOINT_EVERY)
        rc = store_checkpoint(s, err);
    return rc;
}

static const char *store_get(const store *s, const char *key)
{
    int cmp;
    size_t i = find(s, key, strlen(key), &cmp);
    return cmp == 0 ? s->e[i].value : NULL;
}

static dur_code store_close(store *s, dur_error *err)
{
    dur_code rc = s->wal ? dur_wal_close(s->wal, err) : DUR_OK;
    for (size_t i = 0; i < s->n; i++) {
        free(s->e[i].key);
        free(s->e[i].value);
    }
    free(s->e);
    dur_dir_close(s->dir);
    memset(s, 0, sizeof(*s));
    return rc;
}

/* ---- command line ---- */
static int report(const dur_error *err)
{
    char buf[1024];
    fprintf(stderr, "kvstore: %s\n", dur_error_format(err, buf, sizeof(buf)));
    return 1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "selftest: %s failed (line %d)\n", #cond, __LINE__);                   \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static bool same(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

static int selftest_in(const char *dir)
{
    store s;
    dur_error err;
    char k[32], v[32];
    if (store_open(&s, dir, &err) != DUR_OK)
        return report(&err);
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof(k), "key%02d", i);
        snprintf(v, sizeof(v), "value %d", i * i);
        if (store_write(&s, TYPE_PUT, k, v, &err) != DUR_OK)
            return report(&err);
    }
    for (int i = 0; i < 20; i += 3) {
        snprintf(k, sizeof(k), "key%02d", i);
        if (store_write(&s, TYPE_DEL, k, NULL, &err) != DUR_OK)
            return report(&err);
    }
    CHECK(store_write(&s, TYPE_PUT, "key01", "changed", &err) == DUR_OK);
    if (store_close(&s, &err) != DUR_OK)
        return report(&err);

    /* Reopen: checkpoint + WAL suffix give back exactly the same map. */
    if (store_open(&s, dir, &err) != DUR_OK)
        return report(&err);
    CHECK(s.n == 20 - 7);
    CHECK(same(store_get(&s, "key01"), "changed"));
    CHECK(store_get(&s, "key03") == NULL);
    CHECK(same(store_get(&s, "key19"), "value 361"));
    if (store_close(&s, &err) != DUR_OK)
        return report(&err);
    char path[4200];
    bool exists = false;
    dur_dir *d;
    CHECK(dur_dir_open_fs(dir, false, &d, &err) == DUR_OK);
    /* 28 writes, checkpoint every 8: the last one covers LSN 24 + 2 markers = 26. */
    snprintf(path, sizeof(path), "checkpoints/checkpoint-%020d.ckpt", 26);
    CHECK(dur_dir_exists(d, path, &exists, &err) == DUR_OK && exists);
    dur_dir_close(d);
    printf("selftest: 28 writes, 13 keys recovered, checkpoint %s present\n", path);
    return 0;
}

static int selftest(void)
{
    const char *base = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/kvstore-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = selftest_in(dir);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--selftest") == 0)
        return selftest();
    if (argc < 3) {
        fprintf(stderr, "usage: kvstore DIR put KEY VALUE | del KEY | get KEY | list\n"
                        "       kvstore --selftest\n");
        return 2;
    }
    store s;
    dur_error err;
    if (store_open(&s, argv[1], &err) != DUR_OK)
        return report(&err);
    int rc = 0;
    const char *cmd = argv[2];
    if (strcmp(cmd, "put") == 0 && argc == 5) {
        if (store_write(&s, TYPE_PUT, argv[3], argv[4], &err) != DUR_OK)
            rc = report(&err);
    } else if (strcmp(cmd, "del") == 0 && argc == 4) {
        if (store_write(&s, TYPE_DEL, argv[3], NULL, &err) != DUR_OK)
            rc = report(&err);
    } else if (strcmp(cmd, "get") == 0 && argc == 4) {
        const char *v = store_get(&s, argv[3]);
        if (v)
            printf("%s\n", v);
        else
            rc = 1;
    } else if (strcmp(cmd, "list") == 0 && argc == 3) {
        for (size_t i = 0; i < s.n; i++)
            printf("%s=%s\n", s.e[i].key, s.e[i].value);
    } else {
        fprintf(stderr, "kvstore: unknown command or wrong arguments: %s\n", cmd);
        rc = 2;
    }
    if (store_close(&s, &err) != DUR_OK && rc == 0)
        rc = report(&err);
    return rc;
}
