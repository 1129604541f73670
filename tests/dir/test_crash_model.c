/* tests/dir: the crash simulator against a naive reference model.
 *
 * The simulator avoids copying files (durable bytes = live bytes + saved pages).
 * This test runs long random sequences of writes, truncates, syncs, creates,
 * removes, renames, directory syncs and power cuts on it and on a model that
 * simply keeps a full copy of every file's durable bytes, and compares every name
 * and every byte after each step. */
#include "dir_test_util.h"
#include "durability/testing.h"

#include <stdlib.h>

#define NAMES 5
#define MAXINO 4096
#define MAXSIZE (3 * 4096 + 700)

typedef struct buf {
    unsigned char *p;
    size_t len;
} buf;

typedef struct model {
    int live[NAMES], dur[NAMES]; /* name -> inode id, -1 none */
    buf live_data[MAXINO], dur_data[MAXINO];
    int ninodes;
} model;

static const char *const name[NAMES] = {"a", "b", "c", "d", "e"};

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void buf_resize(buf *b, size_t len)
{
    b->p = realloc(b->p, MAXSIZE + 4096);
    assert_non_null(b->p);
    if (len > b->len)
        memset(b->p + b->len, 0, len - b->len);
    b->len = len;
}

static void buf_copy(buf *dst, const buf *src)
{
    buf_resize(dst, 0);
    memcpy(dst->p, src->p, src->len);
    dst->len = src->len;
}

static void check_equal(dur_dir *d, model *m, uint64_t seed, int step)
{
    dur_error err;
    dur_names ns;
    OK(dur_dir_list(d, "", &ns, &err));
    size_t expect = 0;
    for (int i = 0; i < NAMES; i++)
        expect += m->live[i] >= 0;
    if (ns.count != expect)
        fail_msg("seed %llu step %d: %zu names, model has %zu", (unsigned long long)seed, step,
                 ns.count, expect);
    dur_names_free(&ns);
    for (int i = 0; i < NAMES; i++) {
        if (m->live[i] < 0)
            continue;
        size_t n;
        char *got = tu_read(d, name[i], &n, NULL);
        const buf *want = &m->live_data[m->live[i]];
        if (!got || n != want->len || memcmp(got, want->p, n) != 0)
            fail_msg("seed %llu step %d: content of %s differs (len %zu vs model %zu)",
                     (unsigned long long)seed, step, name[i], got ? n : 0, want->len);
        free(got);
    }
}

/* With torn tails a file may keep bytes [dur_len, k) of its live bytes, k <= live
 * length: check the survivor is exactly durable bytes + such a live prefix, then
 * make it the model's durable state.  (Each inode is cut once even if two names
 * share it; the second call sees the adopted state and passes trivially.) */
static void adopt_torn_tail(dur_dir *d, model *m, int n, const char *nm, uint64_t seed, int step)
{
    buf *dur = &m->dur_data[n], *live = &m->live_data[n];
    size_t len;
    char *got = tu_read(d, nm, &len, NULL);
    assert_non_null(got);
    bool ok = len >= dur->len && memcmp(got, dur->p, dur->len) == 0;
    if (ok && len > dur->len)
        ok = len <= live->len && memcmp(got + dur->len, live->p + dur->len, len - dur->len) == 0;
    if (!ok)
        fail_msg("seed %llu step %d: torn tail of %s is not durable + live prefix (len %zu, "
                 "durable %zu, live %zu)",
                 (unsigned long long)seed, step, nm, len, dur->len, live->len);
    buf_resize(dur, 0);
    memcpy(dur->p, got, len);
    dur->len = len;
    buf_copy(live, dur);
    free(got);
}

static void run_seed(uint64_t seed, int steps, bool torn)
{
    dur_error err;
    dur_dir *d;
    OK(dur_dir_new_crash(seed, &d, &err));
    model *m = calloc(1, sizeof *m);
    for (int i = 0; i < NAMES; i++)
        m->live[i] = m->dur[i] = -1;
    uint64_t s = seed;
    unsigned char data[MAXSIZE];
    for (int step = 0; step < steps && m->ninodes < MAXINO - 1; step++) {
        int k = (int)(rng(&s) % NAMES), k2 = (int)(rng(&s) % NAMES);
        int ino = m->live[k];
        unsigned op = (unsigned)(rng(&s) % 100);
        dur_file *f;
        if (op < 30 && ino >= 0) { /* write */
            size_t off = rng(&s) % (MAXSIZE - 1), len = 1 + rng(&s) % 3000;
            if (off + len > MAXSIZE)
                len = MAXSIZE - off;
            for (size_t i = 0; i < len; i++)
                data[i] = (unsigned char)rng(&s);
            OK(dur_dir_open(d, name[k], DUR_O_WRITE, &f, &err));
            OK(f->ops->pwrite(f, data, len, off, &err));
            dur_file_close(f);
            buf *b = &m->live_data[ino];
            if (off + len > b->len)
                buf_resize(b, off + len);
            memcpy(b->p + off, data, len);
        } else if (op < 38 && ino >= 0) { /* truncate */
            size_t size = rng(&s) % MAXSIZE;
            OK(dur_dir_open(d, name[k], DUR_O_WRITE, &f, &err));
            OK(f->ops->truncate(f, size, &err));
            dur_file_close(f);
            buf_resize(&m->live_data[ino], size);
        } else if (op < 55 && ino >= 0) { /* sync file */
            OK(dur_dir_open(d, name[k], DUR_O_READ, &f, &err));
            OK((rng(&s) & 1) ? f->ops->sync_data(f, &err) : f->ops->sync_all(f, &err));
            dur_file_close(f);
            buf_copy(&m->dur_data[ino], &m->live_data[ino]);
        } else if (op < 65) { /* create (truncates an existing file) */
            OK(dur_dir_create(d, name[k], &f, &err));
            dur_file_close(f);
            if (ino >= 0) {
                buf_resize(&m->live_data[ino], 0);
            } else {
                int n = ++m->ninodes;
                buf_resize(&m->live_data[n], 0);
                buf_resize(&m->dur_data[n], 0);
                m->live[k] = n;
            }
        } else if (op < 72 && ino >= 0) { /* remove */
            OK(dur_dir_remove(d, name[k], &err));
            m->live[k] = -1;
        } else if (op < 80 && ino >= 0) { /* rename over whatever is there */
            OK(dur_dir_rename(d, name[k], name[k2], &err));
            if (k != k2) {
                m->live[k2] = ino;
                m->live[k] = -1;
            }
        } else if (op < 92) { /* sync the directory */
            OK(dur_dir_sync_dir(d, "", &err));
            memcpy(m->dur, m->live, sizeof m->live);
        } else { /* power cut */
            dur_crash_options o = {.torn_tails = torn};
            dur_crash_power_cut(d, &o);
            memcpy(m->live, m->dur, sizeof m->live);
            for (int i = 0; i < NAMES; i++) {
                int n = m->live[i];
                if (n < 0)
                    continue;
                if (torn)
                    adopt_torn_tail(d, m, n, name[i], seed, step);
                buf_copy(&m->live_data[n], &m->dur_data[n]);
            }
        }
        check_equal(d, m, seed, step);
    }
    for (int i = 0; i <= m->ninodes; i++) {
        free(m->live_data[i].p);
        free(m->dur_data[i].p);
    }
    free(m);
    dur_dir_close(d);
}

static void test_simulator_matches_reference_model(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 40; seed++)
        run_seed(seed, 1500, false);
}

static void test_torn_tails_are_durable_plus_live_prefix(void **state)
{
    (void)state;
    for (uint64_t seed = 100; seed <= 140; seed++)
        run_seed(seed, 1500, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simulator_matches_reference_model),
        cmocka_unit_test(test_torn_tails_are_durable_plus_live_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
