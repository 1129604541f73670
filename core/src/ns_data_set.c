/* Namespace journal: which objects have a FILE_DATA record after the published
 * checkpoint (ns_data.c needs to know before an in-place sync: FILE_SYNCED).
 *
 * A set of 64-bit hashes of handles (open addressing, linear probing) mapping to
 * the newest FILE_DATA LSN, guarded by the ordering lock.  A hash collision only
 * makes a lookup say "logged" for an object that was not: one unneeded FILE_SYNCED
 * record.  The set is pruned at each checkpoint; past NS_DATA_SET_MAX entries it
 * stops growing and answers "logged" for everything until a checkpoint covers the
 * overflow (never a false "not logged").
 */
#include "ns_internal.h"

#include <stdlib.h>
#include <string.h>

#define NS_DATA_SET_MAX (1u << 20) /* entries: 16 MiB */

static size_t probe(const ns_data_set *s, uint64_t key)
{
    size_t mask = s->cap - 1;
    size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull >> 17) & mask;
    while (s->tab[i].key != 0 && s->tab[i].key != key)
        i = (i + 1) & mask;
    return i;
}

static bool grow(ns_data_set *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 1024;
    ns_data_entry *old = s->tab;
    size_t ocap = s->cap;
    ns_data_entry *tab = calloc(ncap, sizeof *tab);
    if (!tab)
        return false;
    s->tab = tab;
    s->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].key)
            s->tab[probe(s, old[i].key)] = old[i];
    free(old);
    return true;
}

void ns_data_set_put(ns_data_set *s, uint64_t key, uint64_t lsn)
{
    key |= 1; /* 0 marks a free slot */
    if ((s->count + 1) * 2 > s->cap && (s->count >= NS_DATA_SET_MAX || !grow(s))) {
        s->overflow_lsn = lsn; /* conservative from now on */
        return;
    }
    size_t i = probe(s, key);
    if (s->tab[i].key == 0) {
        s->tab[i].key = key;
        s->count++;
    }
    s->tab[i].lsn = lsn;
}

uint64_t ns_data_set_get(const ns_data_set *s, uint64_t key)
{
    uint64_t lsn = s->overflow_lsn;
    if (s->cap) {
        const ns_data_entry *e = &s->tab[probe(s, key | 1)];
        if (e->key && e->lsn > lsn)
            lsn = e->lsn;
    }
    return lsn;
}

void ns_data_set_prune(ns_data_set *s, uint64_t covered)
{
    if (s->overflow_lsn <= covered)
        s->overflow_lsn = 0;
    ns_data_entry *old = s->tab;
    size_t ocap = s->cap;
    size_t keep = 0;
    for (size_t i = 0; i < ocap; i++)
        keep += old[i].key && old[i].lsn > covered;
    s->tab = NULL;
    s->cap = 0;
    s->count = 0;
    if (keep) {
        size_t cap = 1024;
        while (cap < keep * 2)
            cap *= 2;
        s->tab = calloc(cap, sizeof *s->tab);
        if (!s->tab) { /* cannot shrink: keep the old table as it is */
            s->tab = old;
            s->cap = ocap;
            for (size_t i = 0; i < ocap; i++)
                s->count += old[i].key != 0;
            return;
        }
        s->cap = cap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].key && old[i].lsn > covered) {
                s->tab[probe(s, old[i].key)] = old[i];
                s->count++;
            }
    }
    free(old);
}

void ns_data_set_free(ns_data_set *s)
{
    free(s->tab);
    memset(s, 0, sizeof *s);
}
