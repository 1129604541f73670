#include "model.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void model_init(model *m, uint64_t seed)
{
    memset(m, 0, sizeof(*m));
    m->seed = seed;
}

void model_free(model *m)
{
    free(m->hash);
    free(m->marks);
    memset(m, 0, sizeof(*m));
}

size_t model_payload(uint64_t seed, uint64_t lsn, uint8_t *buf, uint8_t *type)
{
    uint64_t s = seed * 0x100000001b3ull ^ lsn;
    size_t len = 1 + (size_t)(splitmix(&s) % (MODEL_MAX_PAYLOAD - 1));
    *type = (uint8_t)(1 + splitmix(&s) % DUR_WAL_TYPE_USER_MAX);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = splitmix(&s);
        memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
    }
    return len;
}

static void grow(model *m, uint64_t lsn)
{
    if (lsn < m->cap)
        return;
    uint64_t cap = m->cap ? m->cap * 2 : 256;
    while (cap <= lsn)
        cap *= 2;
    m->hash = realloc(m->hash, cap * sizeof(uint64_t));
    m->marks = realloc(m->marks, cap * sizeof(uint64_t));
    if (!m->hash || !m->marks)
        abort();
    memset(m->hash + m->cap, 0, (cap - m->cap) * sizeof(uint64_t));
    memset(m->marks + m->cap, 0, (cap - m->cap) * sizeof(uint64_t));
    m->cap = cap;
}

static uint64_t mix(uint64_t h, uint64_t lsn, uint8_t type, const void *p, size_t len)
{
    return XXH3_64bits_withSeed(p, len, h ^ (lsn * 31 + type));
}

void model_note_user(model *m, uint64_t lsn)
{
    grow(m, lsn);
    uint8_t buf[MODEL_MAX_PAYLOAD], type;
    size_t len = model_payload(m->seed, lsn, buf, &type);
    m->hash[lsn] = mix(lsn ? m->hash[lsn - 1] : 0, lsn, type, buf, len);
    m->marks[lsn] = 0;
    if (lsn > m->last)
        m->last = lsn;
}

void model_note_marker(model *m, uint64_t lsn, uint64_t covered)
{
    grow(m, lsn);
    m->hash[lsn] = m->hash[lsn - 1];
    m->marks[lsn] = covered + 1;
    if (lsn > m->last)
        m->last = lsn;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void model_ckpt_payload(const model *m, uint64_t lsn, uint8_t out[MODEL_CKPT_PAYLOAD])
{
    put64(out, lsn);
    put64(out + 8, lsn ? m->hash[lsn] : 0);
}

dur_code model_append(model *m, dur_wal *w, bool durable, dur_error *err)
{
    uint64_t want = dur_wal_last_lsn(w) + 1, got = 0;
    uint8_t buf[MODEL_MAX_PAYLOAD], type;
    size_t len = model_payload(m->seed, want, buf, &type);
    dur_code rc = durable ? dur_wal_append_durable(w, type, buf, len, &got, err)
                          : dur_wal_append(w, type, buf, len, &got, err);
    /* Whatever happened, the WAL says which LSNs it handed out. */
    if (dur_wal_last_lsn(w) >= want)
        model_note_user(m, want);
    if (rc == DUR_OK && got != want) {
        fprintf(stderr, "model: append got LSN %" PRIu64 ", expected %" PRIu64 "\n", got, want);
        abort();
    }
    if (rc == DUR_OK && durable && want > m->acked)
        m->acked = want;
    return rc;
}

dur_code model_publish(model *m, dur_wal *w, dur_dir *d, const char *path, uint64_t lsn,
                       dur_error *err)
{
    uint8_t payload[MODEL_CKPT_PAYLOAD];
    model_ckpt_payload(m, lsn, payload);
    uint64_t before = dur_wal_last_lsn(w);
    dur_code rc = dur_checkpoint_publish(w, d, path, lsn, payload, sizeof(payload), err);
    uint64_t after = dur_wal_last_lsn(w);
    for (uint64_t l = before + 1; l <= after; l++)
        model_note_marker(m, l, lsn);
    if (rc == DUR_OK && after > m->acked)
        m->acked = after; /* the marker was appended durably */
    return rc;
}

void model_check_init(model_check *c, const model *m)
{
    memset(c, 0, sizeof(*c));
    c->m = m;
}

__attribute__((format(printf, 2, 3))) static dur_code fail(model_check *c, const char *fmt, ...)
{
    if (!c->bad) {
        c->bad = true;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, sizeof(c->why), fmt, ap);
        va_end(ap);
    }
    return DUR_E_CORRUPT;
}

static dur_code on_checkpoint(void *ctx, const dur_checkpoint *cp, dur_error *err)
{
    (void)err;
    model_check *c = ctx;
    c->digest = XXH3_64bits_withSeed("cp", 2, cp ? cp->lsn + 1 : 0);
    if (!cp)
        return DUR_OK;
    if (cp->len != MODEL_CKPT_PAYLOAD || get64(cp->payload) != cp->lsn)
        return fail(c, "checkpoint payload malformed (lsn %" PRIu64 ", len %" PRIu64 ")", cp->lsn,
                    (uint64_t)cp->len);
    if (cp->lsn > c->m->last)
        return fail(c, "checkpoint covers LSN %" PRIu64 " beyond last appended %" PRIu64, cp->lsn,
                    c->m->last);
    uint64_t h = get64((const uint8_t *)cp->payload + 8);
    if (h != (cp->lsn ? c->m->hash[cp->lsn] : 0))
        return fail(c, "checkpoint state at LSN %" PRIu64 " differs from the model", cp->lsn);
    c->lsn = cp->lsn;
    c->hash = h;
    return DUR_OK;
}

static dur_code on_record(void *ctx, const dur_wal_record *rec, dur_error *err)
{
    (void)err;
    model_check *c = ctx;
    const model *m = c->m;
    if (rec->lsn != c->lsn + 1)
        return fail(c, "record LSN %" PRIu64 " after state LSN %" PRIu64, rec->lsn, c->lsn);
    if (rec->lsn > m->last)
        return fail(c, "record LSN %" PRIu64 " was never appended (last %" PRIu64 ")", rec->lsn,
                    m->last);
    if (m->marks[rec->lsn]) {
        if (rec->type != DUR_WAL_TYPE_CHECKPOINT || rec->len != 8 ||
            get64(rec->payload) != m->marks[rec->lsn] - 1)
            return fail(c, "record LSN %" PRIu64 " should be a checkpoint marker (type %u)",
                        rec->lsn, (unsigned)rec->type);
    } else {
        uint8_t buf[MODEL_MAX_PAYLOAD], type;
        size_t len = model_payload(m->seed, rec->lsn, buf, &type);
        if (rec->type != type || rec->len != len || memcmp(rec->payload, buf, len) != 0)
            return fail(c, "record LSN %" PRIu64 " holds different data (len %" PRIu64 ")",
                        rec->lsn, (uint64_t)rec->len);
        c->hash = mix(c->hash, rec->lsn, type, buf, len);
    }
    c->lsn = rec->lsn;
    c->records++;
    c->digest = XXH3_64bits_withSeed(&rec->lsn, sizeof(rec->lsn), c->digest ^ c->hash);
    return DUR_OK;
}

dur_recovery_callbacks model_check_callbacks(model_check *c)
{
    dur_recovery_callbacks cb = {on_checkpoint, on_record, c};
    return cb;
}

bool model_check_final(model_check *c)
{
    if (c->bad)
        return false;
    if (c->lsn < c->m->acked) {
        fail(c, "recovered up to LSN %" PRIu64 " but LSN %" PRIu64 " was acknowledged durable",
             c->lsn, c->m->acked);
        return false;
    }
    if (c->lsn && c->hash != c->m->hash[c->lsn]) {
        fail(c, "recovered state at LSN %" PRIu64 " differs from the model", c->lsn);
        return false;
    }
    return true;
}
