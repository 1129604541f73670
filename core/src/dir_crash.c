/* libdurability: the crash simulator (durability tracking and power cuts).
 *
 * Model of durability (what a filesystem promising only POSIX guarantees):
 *  - File bytes and size become durable when that file is fdatasync'ed/fsync'ed
 *    (sync_data / sync_all).  Nothing else makes them durable.
 *  - A directory entry (name -> inode) becomes durable when the directory holding
 *    it is fsync'ed (sync_dir of that directory).  Syncing a directory does not
 *    make its subdirectories' entries durable; a new subdirectory is itself just an
 *    entry of its parent.  Syncing a file does not make its name durable.
 *  - A power cut keeps exactly the durable state: the tree is rebuilt from durable
 *    entries starting at the root (which always exists), each file gets its durable
 *    bytes.  With torn_tails a file whose live size exceeds its durable size keeps
 *    a random prefix of the unsynced tail (real filesystems write back pages in
 *    the background), optionally ending in garbage.
 *
 * Representation of a file's durable bytes, chosen so appends copy nothing:
 *    durable = live[0, dur_len) with each saved page patched over it.
 * Invariant: for every x < dur_len, either page(x) is saved (and holds the durable
 * byte) or x < live len and live[x] is the durable byte.  dir_crash_before_change()
 * keeps it by saving a page the first time a change touches it after a sync.
 *
 * All functions run with the tree mutex held, except the public control calls,
 * which take it (and must not race with operations, see testing.h).
 */
#include "dir_memtree.h"
#include "dir_util.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64: tiny, seedable, good enough to pick cut points. */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void dir_crash_free_pages(mt_inode *ino)
{
    for (size_t i = 0; i < ino->nsaved; i++)
        free(ino->saved[i].bytes);
    free(ino->saved);
    ino->saved = NULL;
    ino->nsaved = ino->capsaved = 0;
}

static size_t find_page(const mt_inode *ino, uint64_t page, bool *found)
{
    size_t lo = 0, hi = ino->nsaved;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ino->saved[mid].page == page) {
            *found = true;
            return mid;
        }
        if (ino->saved[mid].page < page)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

dur_code dir_crash_before_change(mt_inode *ino, uint64_t off, uint64_t end)
{
    if (end > ino->dur_len)
        end = ino->dur_len;
    if (off >= end)
        return DUR_OK; /* touches only bytes that are not durable yet */
    for (uint64_t page = off / DIR_MT_PAGE; page * DIR_MT_PAGE < end; page++) {
        bool found;
        size_t idx = find_page(ino, page, &found);
        if (found)
            continue;
        uint64_t start = page * DIR_MT_PAGE;
        uint64_t stop = start + DIR_MT_PAGE < ino->dur_len ? start + DIR_MT_PAGE : ino->dur_len;
        /* Invariant: unsaved durable bytes are still live. */
        assert(stop <= ino->len);
        unsigned char *copy = malloc((size_t)(stop - start));
        if (!copy)
            return DUR_E_NOMEM;
        memcpy(copy, ino->data + start, (size_t)(stop - start));
        if (ino->nsaved == ino->capsaved) {
            size_t cap = ino->capsaved ? ino->capsaved * 2 : 8;
            mt_saved_page *ns = realloc(ino->saved, cap * sizeof *ns);
            if (!ns) {
                free(copy);
                return DUR_E_NOMEM;
            }
            ino->saved = ns;
            ino->capsaved = cap;
        }
        memmove(&ino->saved[idx + 1], &ino->saved[idx], (ino->nsaved - idx) * sizeof *ino->saved);
        ino->saved[idx].page = page;
        ino->saved[idx].bytes = copy;
        ino->nsaved++;
    }
    return DUR_OK;
}

void dir_crash_sync_file(mt_inode *ino)
{
    dir_crash_free_pages(ino);
    ino->dur_len = ino->len;
}

dur_code dir_crash_sync_dir(mt_tree *t, mt_inode *dir)
{
    mt_entries copy;
    if (dir_mt_entries_copy(&copy, &dir->live) != DUR_OK)
        return DUR_E_NOMEM;
    mt_entries old = dir->durable;
    dir->durable = copy;
    dir_mt_entries_clear(t, &old);
    return DUR_OK;
}

dur_code dur_dir_new_crash(uint64_t seed, dur_dir **out, dur_error *err)
{
    mt_tree *t;
    dur_code rc = dir_mt_new(true, seed, &t, err);
    *out = rc == DUR_OK ? &t->base : NULL;
    return rc;
}

static mt_tree *crash_tree(dur_dir *d)
{
    /* Accept a fault injector wrapped around the crash dir: tests stack them. */
    for (dur_dir *in; !dir_mt_is_tree(d) && (in = dir_fault_inner(d)) != NULL;)
        d = in;
    assert(dir_mt_is_tree(d));
    mt_tree *t = (mt_tree *)d;
    assert(t->crash);
    return t;
}

/* Replace ino's live bytes by its durable bytes (plus a torn tail). */
static void cut_file(mt_tree *t, mt_inode *ino, const dur_crash_options *opts)
{
    uint64_t keep = ino->dur_len;
    if (opts && opts->torn_tails && ino->len > ino->dur_len) {
        uint64_t extra = rng_next(&t->rng) % (ino->len - ino->dur_len + 1);
        keep += extra;
        if (opts->keep_garbage && extra > 0) {
            uint64_t g = 1 + rng_next(&t->rng) % 16;
            if (g > extra)
                g = extra;
            bool zeros = rng_next(&t->rng) & 1;
            for (uint64_t i = keep - g; i < keep; i++)
                ino->data[i] = zeros ? 0 : (unsigned char)rng_next(&t->rng);
        }
    }
    uint64_t durable = ino->dur_len;
    if (ino->len < durable) {
        /* Truncated since the last sync: the saved pages hold the lost bytes. */
        if (ino->cap < durable) {
            unsigned char *nd = realloc(ino->data, (size_t)durable);
            if (nd) {
                ino->data = nd;
                ino->cap = durable;
            } else {
                durable = ino->len; /* out of memory in a test tool: keep what we can */
            }
        }
        memset(ino->data + ino->len, 0, (size_t)(durable - ino->len));
        keep = durable;
    }
    for (size_t i = 0; i < ino->nsaved; i++) {
        uint64_t start = ino->saved[i].page * DIR_MT_PAGE;
        uint64_t stop = start + DIR_MT_PAGE < durable ? start + DIR_MT_PAGE : durable;
        if (start < stop)
            memcpy(ino->data + start, ino->saved[i].bytes, (size_t)(stop - start));
    }
    dir_crash_free_pages(ino);
    ino->len = keep;
    ino->dur_len = keep; /* what survived a cut is on disk */
}

/* Mark everything reachable through durable entries; make them live again. */
static void cut_dir(mt_tree *t, mt_inode *dir, const dur_crash_options *opts)
{
    dir->marked = true;
    /* A directory can have only one parent: drop durable entries that would give a
     * directory a second one (possible when only one side of a rename was synced). */
    for (size_t i = 0; i < dir->durable.n;) {
        mt_inode *c = dir->durable.v[i].ino;
        if (c->is_dir && c->marked) {
            free(dir->durable.v[i].name);
            memmove(&dir->durable.v[i], &dir->durable.v[i + 1],
                    (dir->durable.n - i - 1) * sizeof dir->durable.v[0]);
            dir->durable.n--;
            continue;
        }
        if (c->is_dir)
            cut_dir(t, c, opts);
        else if (!c->marked) {
            c->marked = true;
            cut_file(t, c, opts);
        }
        i++;
    }
}

void dur_crash_power_cut(dur_dir *crash_dir, const dur_crash_options *opts)
{
    mt_tree *t = crash_tree(crash_dir);
    pthread_mutex_lock(&t->mu);
    for (mt_inode *i = t->all; i; i = i->next)
        i->marked = false;
    cut_dir(t, t->root, opts);
    /* Sweep: free what did not survive; reset survivors' live entries and refs
     * (open files and locks die with the power, so they hold no references). */
    for (mt_inode *i = t->all, *next; i; i = next) {
        next = i->next;
        if (!i->marked)
            dir_mt_inode_free(t, i);
    }
    for (mt_inode *i = t->all; i; i = i->next) {
        i->refs = 0;
        i->locked = false;
    }
    t->root->refs = 1;
    for (mt_inode *i = t->all; i; i = i->next) {
        if (!i->is_dir)
            continue;
        for (size_t k = 0; k < i->live.n; k++)
            free(i->live.v[k].name);
        free(i->live.v);
        i->live = i->durable;
        i->durable.v = NULL;
        i->durable.n = i->durable.cap = 0;
        /* Durable again right after the reboot: copy names, counting both arrays. */
        mt_entries copy;
        if (dir_mt_entries_copy(&copy, &i->live) == DUR_OK)
            i->durable = copy; /* refs taken by the copy */
        for (size_t k = 0; k < i->live.n; k++)
            dir_mt_ref(i->live.v[k].ino);
    }
    t->epoch++;
    pthread_mutex_unlock(&t->mu);
}

uint64_t dur_crash_sync_count(dur_dir *crash_dir)
{
    mt_tree *t = crash_tree(crash_dir);
    pthread_mutex_lock(&t->mu);
    uint64_t n = t->sync_count;
    pthread_mutex_unlock(&t->mu);
    return n;
}

void dur_crash_set_sync_hook(dur_dir *crash_dir, dur_crash_sync_cb cb, void *ctx)
{
    mt_tree *t = crash_tree(crash_dir);
    pthread_mutex_lock(&t->mu);
    t->hook = cb;
    t->hook_ctx = ctx;
    pthread_mutex_unlock(&t->mu);
}
