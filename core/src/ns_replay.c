/* Namespace journal replay.
 *
 * Input: BACKING in ANY state S_j between "the last checkpoint" and "every logged
 * operation applied" (with the hardening of ns_journal.c it is at least as new as
 * the durable WAL; replay is still written for any j), plus the records after the
 * checkpoint in log order (== apply order).
 *
 * Pre-pass (deterministic): (1) locate BACKING in the log: the namespace after
 * record k is predictable on every name the log touches, so find the largest k
 * whose namespace BACKING has (see "locating BACKING" below); namespace records up
 * to k are applied.  (2) For each object the log creates, the number of names the
 * log leaves it with; objects left with none are "dead at end" and never
 * re-created.  (3) Only if no k matches (not a prefix state): evidence from
 * objects that exist or are gone.  Records up to the progress mark of an
 * interrupted recovery count as applied.
 *
 * Rule for the rest: a record is redone only if the state it was logged against is
 * present, judged by IDENTITY (kernel file handles), never by name alone:
 *   CREATE(p,n,obj)       obj resolves nowhere, is not dead at end, p/n absent
 *                         (n taken by another identity = a later op; SplitFS#67).
 *                         Map obj -> new handle, persisted in JOURNAL/replay-map.
 *   LINK(obj,p,n)         obj resolves and p/n absent.
 *   REMOVE(p,n,obj)       p/n holds obj.
 *   RENAME(p,n,q,m,obj,r) p/n holds obj and q/m holds r (plain rename: or absent).
 *                         Never-re-created obj: only its effect on r is redone.
 *   SETATTR/XATTR(obj)    obj resolves: absolute values (mode, owner, times,
 *                         xattr) -- unless BACKING's namespace is past the log's
 *                         end (operations whose records were lost): an absolute
 *                         value re-applied there would undo a later change.
 *                         SIZE is never replayed: it was fsynced before the ack
 *                         (dur_ns_log_setattr), and redoing it could cut off
 *                         later writes.
 * A log written in ORDERED mode (the latest checkpoint's payload says so; a session
 * whose mode differs starts with a checkpoint) is not replayed at all: its group
 * commits harden BACKING and the filesystem commits in order, so BACKING is a
 * prefix of the operations at least as new as the durable log, and re-applying
 * anything could only break the prefix (found by the power-cut rig on XFS: a
 * chmod reverted; a directory whose unlogged removal hid its creation re-made).
 * A parent that does not resolve because the log removes it later is replaced by
 * BACKING/.durfs/replay-orphans/o-<hash of parent handle and name>, so survivors born
 * or moved there reach their final place.  A record whose syscall fails is
 * skipped, counted and logged, unless the failure is one of the moment (no space,
 * fds or memory, a failing device: skip()), which stops recovery.
 *
 * Convergence (docs/design.md): records after j find exactly their pre-state
 * (modulo mapped handles and never-re-created objects, whose effects on others are
 * reproduced) and turn S_k-1 into S_k; records up to j are covered by evidence or
 * fail their pre-state check because a later applied op changed what they touch.
 * Result: S_n, up to fresh handles and empty content of objects BACKING lost.
 * Tested: tests/ns/test_ns_converge.c (snapshots of ext4/XFS + final journal).
 *
 * Idempotence: each re-creation is announced (creating mark, fdatasynced before
 * the create: lost in a power cut, it would bring back the "name taken"
 * judgement that drops the object's later records) and persisted
 * (fdatasync; syncfs of BACKING first when that fdatasync does not harden it), and
 * a progress mark follows every record that changed something, so an interrupted
 * recovery resumes where it stopped, adopting an object re-created but not yet
 * mapped (interrupted_creation).
 */
#include "ns_replay.h"
#include "ns_internal.h"
#include "ns_record.h"

#include "durability/sync.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>
#include <xxhash.h>

bool ns_replay_test_rename_by_name = false;
uint64_t ns_replay_test_fail_after = 0;
uint64_t ns_replay_test_fail_mid_create = 0;
bool ns_replay_test_no_evidence = false;
bool ns_replay_test_size_covers_nothing = false;
void (*ns_replay_test_event)(char event) = NULL;

/* Tell a test what replay just did to the map or BACKING (see ns_replay.h). */
static void trace(char event)
{
    if (ns_replay_test_event)
        ns_replay_test_event(event);
}

/* Per logged handle: where replay re-created it (mapped), and, from the pre-pass,
 * whether the log created it and how many names the log leaves it with. */
typedef struct fh_slot {
    dur_fh key, to;
    int32_t links; /* names after the whole log, for objects the log created */
    uint64_t created_lsn, last_removal_lsn;
    uint64_t last_data_lsn; /* newest FILE_DATA of the object */
    uint64_t data_covered;  /* FILE_DATA <= this is stale: synced in place after it */
    bool used, mapped, created, exists;
} fh_slot;

typedef struct fh_table {
    fh_slot *tab; /* open addressing, power-of-two capacity */
    size_t cap, count;
} fh_table;

struct ns_replay {
    int backing_fd;
    dur_dir *jdir;
    bool hardens, map_on_backing_fs;
    bool backing_synced; /* no change to BACKING since the last harden_backing */
    dur_ns_log_fn log;
    void *log_ctx;
    fh_table objs; /* logged handle -> what replay knows about the object */
    fh_table rev;  /* re-created handle -> logged handle (the map, reversed) */
    size_t mapped;
    int map_fd;    /* append-only persisted map, -1 until first use */
    int orphan_fd; /* BACKING/.durfs/replay-orphans, -1 until first use */
    uint64_t redone, already, skipped;
    dur_fh root_fh, reserved_fh; /* BACKING and BACKING/.durfs (len 0: unknown) */
    uint64_t evidence_lsn;       /* newest CREATE whose object exists: BACKING is at least there */
    uint64_t progress_lsn;       /* an interrupted recovery finished every record up to here */
    uint64_t creating_lsn;       /* ...and was re-creating the object of this record */
    uint64_t namespace_lsn;      /* BACKING's namespace equals the one after this record */
    bool located;
    /* The pre-pass found records to replay (past the checkpoint).  Without any, a
     * recovery changes nothing and persists no marks: a full BACKING must not make
     * a cleanly unmounted journal unmountable. */
    bool has_records;
    /* BACKING holds every logged attribute change: its namespace is past the log's
     * end (operations whose records were lost came after all of these). */
    bool attrs_applied;
    /* The mode of the session that wrote the log, from the latest checkpoint.  An
     * ORDERED log is not re-applied: BACKING is a prefix of the operations at least
     * as new as it (its group commits harden BACKING, the filesystem commits in
     * order). */
    bool writer_known;
    dur_ns_mode writer_mode;
};

/* syncfs of BACKING: every re-creation and rename so far reaches the disk, in
 * order with everything before it. */
static dur_code harden_backing(ns_replay *r, dur_error *err)
{
    trace('S');
    dur_code c = dur_fd_syncfs(r->backing_fd, "backing filesystem", err);
    r->backing_synced = c == DUR_OK;
    return c;
}

static bool ordered_writer(const ns_replay *r)
{
    return r->writer_known && r->writer_mode == DUR_NS_ORDERED;
}

static void rlog(ns_replay *r, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rlog(ns_replay *r, int level, const char *fmt, ...)
{
    if (!r->log)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->log(r->log_ctx, level, msg);
}

/* ---- handle table ---- */
static uint64_t fh_hash(const dur_fh *fh)
{
    return XXH3_64bits_withSeed(fh->data, fh->len, (uint64_t)(uint32_t)fh->type);
}

static fh_slot *slot_find(const fh_table *r, const dur_fh *key)
{
    if (r->cap == 0)
        return NULL;
    for (size_t i = fh_hash(key) & (r->cap - 1);; i = (i + 1) & (r->cap - 1)) {
        if (!r->tab[i].used)
            return NULL;
        if (dur_fh_equal(&r->tab[i].key, key))
            return &r->tab[i];
    }
}

static fh_slot *slot_get(fh_table *r, const dur_fh *key, dur_error *err)
{
    fh_slot *s = slot_find(r, key);
    if (s)
        return s;
    if ((r->count + 1) * 2 > r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 64;
        fh_slot *n = calloc(ncap, sizeof *n);
        if (!n) {
            dur_error_set(err, DUR_E_NOMEM, ENOMEM, NULL, "replay: out of memory (handle table)");
            return NULL;
        }
        for (size_t i = 0; i < r->cap; i++) {
            if (!r->tab[i].used)
                continue;
            size_t j = fh_hash(&r->tab[i].key) & (ncap - 1);
            while (n[j].used)
                j = (j + 1) & (ncap - 1);
            n[j] = r->tab[i];
        }
        free(r->tab);
        r->tab = n;
        r->cap = ncap;
    }
    size_t i = fh_hash(key) & (r->cap - 1);
    while (r->tab[i].used)
        i = (i + 1) & (r->cap - 1);
    memset(&r->tab[i], 0, sizeof r->tab[i]);
    r->tab[i].used = true;
    r->tab[i].key = *key;
    r->count++;
    return &r->tab[i];
}

static const dur_fh *map_get(const ns_replay *r, const dur_fh *from)
{
    const fh_slot *s = slot_find(&r->objs, from);
    return s && s->mapped ? &s->to : NULL;
}

static dur_code map_put_mem(ns_replay *r, const dur_fh *from, const dur_fh *to, dur_error *err)
{
    assert(from->len > 0 && to->len > 0); /* only real handles are mapped */
    fh_slot *s = slot_get(&r->objs, from, err);
    if (!s)
        return DUR_E_NOMEM;
    if (!s->mapped)
        r->mapped++;
    s->mapped = true;
    s->to = *to;
    fh_slot *b = slot_get(&r->rev, to, err);
    if (!b)
        return DUR_E_NOMEM;
    b->mapped = true;
    b->to = *from;
    return DUR_OK;
}

/* An object the log created and whose every name the log removes again: the final
 * tree does not contain it, so replay never re-creates it (see rules above). */
static bool dead_at_end(const ns_replay *r, const dur_fh *logged)
{
    const fh_slot *s = slot_find(&r->objs, logged);
    return s && s->created && s->links <= 0;
}

#define NS_MAP_PROGRESS 0xFF /* first byte of a progress entry (never a handle length) */
#define NS_MAP_LOCATED 0xFE  /* first byte of "BACKING's namespace was S_lsn" */
#define NS_MAP_ATTRS 0xFD    /* first byte of "BACKING held every attribute change" */
#define NS_MAP_CREATING 0xFC /* first byte of "about to re-create the object of record lsn" */

/* Persisted entry: u8 len_a, i32 type_a, a, u8 len_b, i32 type_b, b, u64 XXH3 of the
 * preceding bytes.  A torn last entry (crash while appending) fails its checksum and
 * ends the load; it described an object whose creation is then re-judged. */
static size_t map_entry_encode(const dur_fh *a, const dur_fh *b, unsigned char *p)
{
    size_t o = 0;
    const dur_fh *h[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        p[o++] = (unsigned char)h[k]->len;
        uint32_t t = (uint32_t)h[k]->type;
        for (int i = 0; i < 4; i++)
            p[o++] = (unsigned char)(t >> (8 * i));
        memcpy(p + o, h[k]->data, h[k]->len);
        o += h[k]->len;
    }
    uint64_t x = XXH3_64bits(p, o);
    for (int i = 0; i < 8; i++)
        p[o++] = (unsigned char)(x >> (8 * i));
    return o;
}

static dur_code map_load(ns_replay *r, dur_error *err)
{
    void *data = NULL;
    size_t len = 0;
    bool exists = false;
    dur_code c = dur_dir_exists(r->jdir, NS_REPLAY_MAP_FILE, &exists, err);
    if (c != DUR_OK || !exists)
        return c;
    if ((c = dur_file_read_all(r->jdir, NS_REPLAY_MAP_FILE, 64u << 20, &data, &len, err)) != DUR_OK)
        return c;
    const unsigned char *p = data;
    size_t off = 0;
    while (off < len) {
        if (p[off] == NS_MAP_PROGRESS || p[off] == NS_MAP_LOCATED || p[off] == NS_MAP_ATTRS ||
            p[off] == NS_MAP_CREATING) { /* tag, u64 LSN, u64 XXH3 */
            uint64_t v[2] = {0, 0};
            if (len - off < 17)
                break; /* torn */
            for (int k = 0; k < 2; k++)
                for (int i = 7; i >= 0; i--)
                    v[k] = (v[k] << 8) | p[off + 1 + 8 * (size_t)k + (size_t)i];
            if (v[1] != XXH3_64bits(p + off, 9)) {
                rlog(r, LOG_WARNING,
                     "durfs replay: %s: damaged progress entry at offset %zu ignored",
                     NS_REPLAY_MAP_FILE, off);
                break;
            }
            if (p[off] == NS_MAP_LOCATED) {
                r->located = true;
                r->namespace_lsn = v[0];
            } else if (p[off] == NS_MAP_ATTRS) {
                r->attrs_applied = true;
            } else if (p[off] == NS_MAP_CREATING) {
                if (v[0] > r->creating_lsn) /* a resumed run may announce an older one */
                    r->creating_lsn = v[0];
            } else if (v[0] > r->progress_lsn) {
                r->progress_lsn = v[0];
            }
            off += 17;
            continue;
        }
        dur_fh h[2];
        size_t o = off;
        bool ok = true;
        for (int k = 0; k < 2 && ok; k++) {
            memset(&h[k], 0, sizeof h[k]);
            if (len - o < 5 || p[o] == 0 || p[o] > DUR_FH_MAX_BYTES || len - o - 5 < p[o]) {
                ok = false;
                break;
            }
            h[k].len = p[o];
            uint32_t t = (uint32_t)p[o + 1] | ((uint32_t)p[o + 2] << 8) |
                         ((uint32_t)p[o + 3] << 16) | ((uint32_t)p[o + 4] << 24);
            h[k].type = (int32_t)t;
            memcpy(h[k].data, p + o + 5, h[k].len);
            o += 5 + h[k].len;
        }
        if (ok && len - o >= 8) {
            uint64_t x = 0;
            for (int i = 7; i >= 0; i--)
                x = (x << 8) | p[o + (size_t)i];
            ok = x == XXH3_64bits(p + off, o - off);
        } else {
            ok = false;
        }
        if (!ok) {
            rlog(r, LOG_WARNING, "durfs replay: %s: torn or damaged entry at offset %zu ignored",
                 NS_REPLAY_MAP_FILE, off);
            break;
        }
        if ((c = map_put_mem(r, &h[0], &h[1], err)) != DUR_OK)
            break;
        off = o + 8;
    }
    free(data);
    if (r->mapped || r->progress_lsn)
        rlog(r, LOG_INFO,
             "durfs replay: resuming an interrupted recovery (done up to LSN %" PRIu64
             ", %zu re-created objects known)",
             r->progress_lsn, r->mapped);
    return c;
}

static dur_code map_open(ns_replay *r, dur_error *err)
{
    if (r->map_fd >= 0)
        return DUR_OK;
    int root = r->jdir->ops->root_fd(r->jdir);
    r->map_fd = openat(root, NS_REPLAY_MAP_FILE, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (r->map_fd < 0)
        return dur_error_set(err, DUR_E_IO, errno, NS_REPLAY_MAP_FILE,
                             "cannot open the replay map");
    return dur_fd_sync_dir(root, "journal directory", err);
}

/* Record that every record <= lsn is replayed.  Appended without fdatasync: a process
 * crash keeps it (page cache); after a power cut an append survives only with the
 * metadata operations before it on a filesystem whose journal orders them (the
 * `hardens` case); otherwise BACKING is syncfs()ed first. */
static dur_code mark_put(ns_replay *r, unsigned char tag, uint64_t lsn, dur_error *err);

/* The map's appends so far on disk, before any later change.  Where an fsync
 * is not known to harden in order (btrfs, ext4 fast_commit, unknown) and the
 * map shares BACKING's filesystem, a full commit of it; otherwise an fdatasync
 * of the map (a syncfs of BACKING would miss a journal on another filesystem,
 * and the map entries with it: found in review). */
static dur_code map_sync(ns_replay *r, dur_error *err)
{
    if (!r->hardens && r->map_on_backing_fs)
        return harden_backing(r, err);
    trace('F');
    return dur_fd_fdatasync(r->map_fd, NS_REPLAY_MAP_FILE, err);
}

static dur_code progress_put(ns_replay *r, uint64_t lsn, dur_error *err)
{
    return mark_put(r, NS_MAP_PROGRESS, lsn, err);
}

static dur_code mark_put(ns_replay *r, unsigned char tag, uint64_t lsn, dur_error *err)
{
    dur_code c = map_open(r, err);
    if (c != DUR_OK)
        return c;
    /* BACKING's changes first (see above); not for a creating mark, which
     * describes none: reaching the disk early it only allows an adoption */
    bool creating = tag == NS_MAP_CREATING;
    if (!r->hardens && !creating && !r->backing_synced && (c = harden_backing(r, err)) != DUR_OK)
        return c;
    unsigned char b[17];
    b[0] = tag;
    for (int i = 0; i < 8; i++)
        b[1 + i] = (unsigned char)(lsn >> (8 * i));
    uint64_t x = XXH3_64bits(b, 9);
    for (int i = 0; i < 8; i++)
        b[9 + i] = (unsigned char)(x >> (8 * i));
    ssize_t w = write(r->map_fd, b, sizeof b);
    if (w != (ssize_t)sizeof b)
        return dur_error_set(err, DUR_E_IO, w < 0 ? errno : ENOSPC, NS_REPLAY_MAP_FILE,
                             "cannot append to the replay map");
    trace(creating ? 'C' : 'P');
    /* The mark must be on disk before the object it announces can be: the
     * create may reach the disk in any later commit, and without the mark the
     * next recovery takes the unknown object for a later operation's. */
    return creating ? map_sync(r, err) : DUR_OK;
}

static dur_code map_put(ns_replay *r, const dur_fh *from, const dur_fh *to, dur_error *err)
{
    dur_code c = map_put_mem(r, from, to, err);
    if (c != DUR_OK)
        return c;
    if (!r->hardens && (c = harden_backing(r, err)) != DUR_OK)
        return c;
    if ((c = map_open(r, err)) != DUR_OK)
        return c;
    unsigned char buf[2 * (5 + DUR_FH_MAX_BYTES) + 8];
    size_t n = map_entry_encode(from, to, buf);
    ssize_t w = write(r->map_fd, buf, n);
    if (w != (ssize_t)n)
        return dur_error_set(err, DUR_E_IO, w < 0 ? errno : ENOSPC, NS_REPLAY_MAP_FILE,
                             "cannot append to the replay map");
    trace('M');
    return map_sync(r, err);
}

dur_code ns_replay_discard_map(dur_dir *jdir, dur_error *err)
{
    bool exists = false;
    dur_code c = dur_dir_exists(jdir, NS_REPLAY_MAP_FILE, &exists, err);
    if (c != DUR_OK || !exists)
        return c;
    if ((c = dur_dir_remove(jdir, NS_REPLAY_MAP_FILE, err)) != DUR_OK)
        return c;
    return dur_dir_sync_dir(jdir, "", err);
}

static dur_code resolve(ns_replay *r, const dur_fh *logged, int *fd, dur_error *err);
static bool names_reserved(const ns_replay *r, const ns_record *rec);
static void close_fd(int fd);

/* ---- locating BACKING in the log ----
 * For every (parent handle, name) the log touches, the occupant before the first
 * record touching it is known from that record (CREATE/LINK: absent; REMOVE and a
 * rename's source: obj; a rename's target: replaced or absent), and so is the
 * occupant after every record.  So the namespace after record k, S_k, is known for
 * every touched name, and names the log does not touch never change.  If BACKING
 * matches S_k on every touched name, its namespace IS S_k: replaying records > k
 * is exact.  (Several k may match when operations undo each other; they are the
 * same namespace, so the largest is taken.)  Attribute records are not affected:
 * they carry absolute values and are always re-applied in order. */
typedef struct ns_name {
    dur_fh parent;
    char name[NS_NAME_MAX + 1];
    dur_fh pred;     /* predicted occupant (len 0 = absent) */
    dur_fh observed; /* occupant in BACKING now */
    bool used, seen, mismatch;
} ns_name;

typedef struct ns_touch {
    uint64_t lsn;
    uint32_t idx[2];
    dur_fh post[2];
    int n;
} ns_touch;

typedef struct ns_locator {
    ns_name *tab;
    size_t cap, count;
    ns_touch *ops;
    size_t nops, opcap;
    bool failed; /* out of memory: fall back to find_evidence */
} ns_locator;

static uint64_t name_hash(const dur_fh *p, const char *name)
{
    return XXH3_64bits_withSeed(name, strlen(name), fh_hash(p));
}

static ns_name *loc_name(ns_locator *l, const dur_fh *parent, const char *name, uint32_t *idx)
{
    if ((l->count + 1) * 2 > l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 256;
        ns_name *n = calloc(ncap, sizeof *n);
        uint32_t *moved = malloc((l->cap ? l->cap : 1) * sizeof *moved); /* old slot -> new */
        if (!n || !moved) {
            free(n);
            free(moved);
            l->failed = true;
            return NULL;
        }
        for (size_t i = 0; i < l->cap; i++) {
            if (!l->tab[i].used)
                continue;
            size_t j = name_hash(&l->tab[i].parent, l->tab[i].name) & (ncap - 1);
            while (n[j].used)
                j = (j + 1) & (ncap - 1);
            n[j] = l->tab[i];
            moved[i] = (uint32_t)j;
        }
        /* Ops store slot indices: remap them, including those of the op being
         * recorded now (ops[nops], not yet counted: a RENAME's target can grow the
         * table after its source was touched -- found by the power-cut rig, the
         * source's stale index left its name predicted occupied).  One pass: a
         * scan of every op per slot made replay quadratic in the names the log
         * touches (80k names: 35 s). */
        size_t nrec = l->nops < l->opcap ? l->nops + 1 : l->nops;
        for (size_t k = 0; k < nrec; k++)
            for (int t = 0; t < l->ops[k].n; t++) {
                assert(l->ops[k].idx[t] < l->cap && l->tab[l->ops[k].idx[t]].used);
                l->ops[k].idx[t] = moved[l->ops[k].idx[t]];
            }
        free(moved);
        free(l->tab);
        l->tab = n;
        l->cap = ncap;
    }
    size_t i = name_hash(parent, name) & (l->cap - 1);
    while (l->tab[i].used) {
        if (dur_fh_equal(&l->tab[i].parent, parent) && !strcmp(l->tab[i].name, name)) {
            *idx = (uint32_t)i;
            return &l->tab[i];
        }
        i = (i + 1) & (l->cap - 1);
    }
    memset(&l->tab[i], 0, sizeof l->tab[i]);
    l->tab[i].used = true;
    l->tab[i].parent = *parent;
    memcpy(l->tab[i].name, name, strlen(name) + 1);
    l->count++;
    *idx = (uint32_t)i;
    return &l->tab[i];
}

static const dur_fh no_fh;

/* Record that `lsn` changes parent/name from pre to post. */
static void loc_touch(ns_locator *l, ns_touch *op, const dur_fh *parent, const char *name,
                      const dur_fh *pre, const dur_fh *post)
{
    uint32_t idx;
    ns_name *nm = loc_name(l, parent, name, &idx);
    if (!nm)
        return;
    if (!nm->seen) { /* first touch: its pre-state is the initial occupant */
        nm->seen = true;
        nm->pred = *pre;
    }
    op->idx[op->n] = idx;
    op->post[op->n] = *post;
    op->n++;
}

static void loc_record(ns_locator *l, const ns_record *x, uint64_t lsn)
{
    if (x->type != NS_REC_CREATE && x->type != NS_REC_LINK && x->type != NS_REC_REMOVE &&
        x->type != NS_REC_RENAME)
        return;
    if (l->nops == l->opcap) {
        size_t ncap = l->opcap ? l->opcap * 2 : 256;
        ns_touch *n = realloc(l->ops, ncap * sizeof *n);
        if (!n) {
            l->failed = true;
            return;
        }
        l->ops = n;
        l->opcap = ncap;
    }
    ns_touch *op = &l->ops[l->nops];
    memset(op, 0, sizeof *op);
    op->lsn = lsn;
    switch (x->type) {
    case NS_REC_CREATE:
        loc_touch(l, op, &x->parent, x->name, &no_fh, &x->obj);
        break;
    case NS_REC_LINK:
        loc_touch(l, op, &x->parent2, x->name2, &no_fh, &x->obj);
        break;
    case NS_REC_REMOVE:
        loc_touch(l, op, &x->parent, x->name, &x->obj, &no_fh);
        break;
    default: {
        bool exchange = x->flags & RENAME_EXCHANGE;
        bool same = dur_fh_equal(&x->obj, &x->other); /* two links of one inode: no-op */
        const dur_fh *src_post = exchange ? &x->other : same ? &x->obj : &no_fh;
        loc_touch(l, op, &x->parent, x->name, &x->obj, src_post);
        loc_touch(l, op, &x->parent2, x->name2, &x->other, &x->obj);
    }
    }
    l->nops++;
}

/* Observe every touched name, then find the largest k with BACKING == S_k. */
static dur_code loc_solve(ns_replay *r, ns_locator *l, bool *found, bool *newer, uint64_t *lsn,
                          dur_error *err)
{
    *found = false;
    *newer = false;
    size_t mismatches = 0;
    for (size_t i = 0; i < l->cap; i++) {
        ns_name *nm = &l->tab[i];
        if (!nm->used)
            continue;
        int pfd = -1;
        dur_code c = resolve(r, &nm->parent, &pfd, err);
        if (c != DUR_OK)
            return c;
        memset(&nm->observed, 0, sizeof nm->observed);
        if (pfd >= 0) {
            dur_error e;
            struct stat st;
            if (fstatat(pfd, nm->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                dur_fh_get(pfd, nm->name, &nm->observed, &e) != DUR_OK)
                nm->observed.len = 0xffff; /* unknown: never matches */
            close(pfd);
        }
        nm->mismatch = !dur_fh_equal(&nm->pred, &nm->observed);
        mismatches += nm->mismatch;
    }
    /* Exact match: the largest k with no mismatch.  Otherwise, if the fewest
     * mismatches are at the very end, BACKING is the whole log plus operations whose
     * records never became durable (unacknowledged; they come last in apply order):
     * keep it as it is. */
    size_t best = mismatches;
    uint64_t best_lsn = 0;
    bool best_is_end = l->nops == 0;
    if (mismatches == 0) {
        *found = true;
        *lsn = 0;
    }
    for (size_t k = 0; k < l->nops; k++) {
        ns_touch *op = &l->ops[k];
        for (int t = 0; t < op->n; t++) {
            ns_name *nm = &l->tab[op->idx[t]];
            nm->pred = op->post[t];
            bool mm = !dur_fh_equal(&nm->pred, &nm->observed);
            assert(mismatches >= (size_t)nm->mismatch); /* the count covers this name */
            mismatches = mismatches - nm->mismatch + mm;
            nm->mismatch = mm;
        }
        if (mismatches == 0) {
            *found = true;
            *lsn = op->lsn;
        }
        if (mismatches <= best) {
            best = mismatches;
            best_lsn = op->lsn;
            best_is_end = k + 1 == l->nops;
        }
    }
    if (!*found && best_is_end && l->nops > 0) {
        rlog(r, LOG_WARNING,
             "durfs replay: BACKING is newer than the journal (%zu name(s) changed by "
             "operations whose records were not durable); keeping those changes",
             best);
        for (size_t i = 0, shown = 0; i < l->cap && shown < 10; i++) {
            const ns_name *nm = &l->tab[i];
            if (!nm->used || !nm->mismatch)
                continue;
            char p[300], want[300], got[300];
            dur_fh_format(&nm->parent, p, sizeof p);
            dur_fh_format(&nm->pred, want, sizeof want);
            dur_fh_format(&nm->observed, got, sizeof got);
            rlog(r, LOG_INFO,
                 "durfs replay: newer name: parent=%s name=%s: log ends with %s, BACKING has %s", p,
                 nm->name, nm->pred.len ? want : "-", nm->observed.len ? got : "-");
            shown++;
        }
        *found = true;
        *newer = true;
        *lsn = best_lsn;
    }
    return DUR_OK;
}

/* How far BACKING provably got (it reaches disk as a prefix of operations):
 *  - an object the log created at c exists -> LSN >= c (handles are never reused
 *    within one run; see taken_by_other for replay's own objects);
 *  - an object created at c <= that bound (or before the log) is gone -> every name
 *    it had was removed, so LSN >= its last removal in the log.
 * The second rule can raise the bound and enable itself again: iterate. */
static dur_code find_evidence(ns_replay *r, dur_error *err)
{
    uint64_t e = 0;
    for (size_t i = 0; i < r->objs.cap; i++) {
        fh_slot *sl = &r->objs.tab[i];
        if (!sl->used || (!sl->created && !sl->last_removal_lsn))
            continue;
        int fd = -1;
        dur_code c = resolve(r, &sl->key, &fd, err);
        if (c != DUR_OK)
            return c;
        sl->exists = fd >= 0;
        close_fd(fd);
        if (sl->exists && sl->created && sl->created_lsn > e)
            e = sl->created_lsn;
    }
    for (bool raised = true; raised;) {
        raised = false;
        for (size_t i = 0; i < r->objs.cap; i++) {
            const fh_slot *sl = &r->objs.tab[i];
            if (sl->used && !sl->exists && sl->last_removal_lsn > e &&
                (!sl->created || sl->created_lsn <= e)) {
                e = sl->last_removal_lsn;
                raised = true;
            }
        }
    }
    r->evidence_lsn = e;
    return DUR_OK;
}

/* Pre-pass over the records to replay: which objects does the log create, and how
 * many names does it leave each with?  (Deterministic, so an interrupted recovery
 * computes the same answer.) */
static dur_code prepass(ns_replay *r, bool want_evidence, dur_error *err)
{
    ns_locator loc;
    memset(&loc, 0, sizeof loc);
    dur_checkpoint cp;
    bool found = false;
    memset(&cp, 0, sizeof cp);
    dur_code c =
        dur_checkpoint_load_latest(r->jdir, NS_CKPT_DIR, DUR_READ_BEST_EFFORT, &cp, &found, err);
    if (c != DUR_OK && c != DUR_E_NOTFOUND)
        return c;
    uint64_t from = found ? cp.lsn + 1 : 1;
    r->writer_known = found && ns_checkpoint_mode(&cp, &r->writer_mode);
    if (found)
        dur_checkpoint_free(&cp);
    if (ordered_writer(r))
        rlog(r, LOG_INFO,
             "durfs replay: ORDERED-mode journal: BACKING is a prefix of the "
             "operations at least as new as it; nothing is re-applied");
    bool wal_exists = false;
    if ((c = dur_dir_exists(r->jdir, NS_WAL_DIR, &wal_exists, err)) != DUR_OK || !wal_exists)
        return c;
    dur_wal_reader *rd = NULL;
    if ((c = dur_wal_reader_open(r->jdir, NS_WAL_DIR, DUR_READ_BEST_EFFORT, from, &rd, err)) !=
        DUR_OK)
        return c;
    for (;;) {
        dur_wal_record rec;
        bool eof = false;
        if ((c = dur_wal_reader_next(rd, &rec, &eof, err)) != DUR_OK || eof)
            break;
        if (rec.type > DUR_WAL_TYPE_USER_MAX || rec.lsn < from)
            continue;
        ns_record x;
        if ((c = ns_record_decode(rec.type, rec.payload, rec.len, rec.lsn, &x, err)) != DUR_OK)
            break;
        r->has_records = true;
        if (names_reserved(r, &x))
            continue; /* skipped when replayed */
        if (want_evidence && !loc.failed)
            loc_record(&loc, &x, rec.lsn);
        fh_slot *sl = NULL;
        switch (x.type) {
        case NS_REC_CREATE:
            if ((sl = slot_get(&r->objs, &x.obj, err))) {
                sl->created = true;
                sl->links = 1;
                sl->created_lsn = rec.lsn;
            }
            break;
        case NS_REC_LINK:
            if ((sl = slot_get(&r->objs, &x.obj, err)))
                sl->links++;
            break;
        case NS_REC_REMOVE:
            if ((sl = slot_get(&r->objs, &x.obj, err))) {
                sl->links--;
                sl->last_removal_lsn = rec.lsn;
            }
            break;
        case NS_REC_RENAME:
            /* a rename onto another name of the same inode removes nothing */
            if (x.other.len && !(x.flags & RENAME_EXCHANGE) && !dur_fh_equal(&x.obj, &x.other) &&
                (sl = slot_get(&r->objs, &x.other, err))) {
                sl->links--;
                sl->last_removal_lsn = rec.lsn;
            } else
                sl = (fh_slot *)1; /* nothing to count */
            break;
        case NS_REC_FILE_DATA:
            if ((sl = slot_get(&r->objs, &x.obj, err)))
                sl->last_data_lsn = rec.lsn;
            break;
        case NS_REC_SETATTR:
            if (!(x.valid & DUR_NS_ATTR_SIZE) || ns_replay_test_size_covers_nothing) {
                sl = (fh_slot *)1;
                break;
            }
            x.covers = rec.lsn; /* a size change is fsynced in place before its ack */
            /* fall through */
        case NS_REC_FILE_SYNCED:
            if ((sl = slot_get(&r->objs, &x.obj, err)) && x.covers > sl->data_covered)
                sl->data_covered = x.covers;
            break;
        default:
            sl = (fh_slot *)1;
        }
        if (!sl) {
            c = DUR_E_NOMEM;
            break;
        }
    }
    dur_wal_reader_close(rd);
    if (c == DUR_OK && want_evidence && !ns_replay_test_no_evidence) {
        bool solved = false, newer = false;
        uint64_t k = 0;
        if (!loc.failed)
            c = loc_solve(r, &loc, &solved, &newer, &k, err);
        if (c == DUR_OK && solved) {
            r->namespace_lsn = k;
            r->located = true;
            r->attrs_applied = newer;
            if (newer)
                rlog(r, LOG_INFO,
                     "durfs replay: BACKING is newer than the journal: no logged "
                     "attribute change is re-applied");
            rlog(r, LOG_INFO,
                 "durfs replay: BACKING's namespace is the one after LSN %" PRIu64
                 "; namespace records up to it are applied",
                 k);
        } else if (c == DUR_OK) {
            c = find_evidence(r, err); /* not a prefix state: weaker evidence */
        }
    }
    free(loc.tab);
    free(loc.ops);
    return c;
}

dur_code ns_replay_new(int backing_fd, dur_dir *jdir, bool hardens, bool map_on_backing_fs,
                       dur_ns_log_fn log, void *log_ctx, ns_replay **out, dur_error *err)
{
    ns_replay *r = calloc(1, sizeof *r);
    if (!r)
        return dur_error_set(err, DUR_E_NOMEM, ENOMEM, NULL, "replay: out of memory");
    r->backing_fd = backing_fd;
    r->jdir = jdir;
    r->hardens = hardens;
    r->map_on_backing_fs = map_on_backing_fs;
    r->log = log;
    r->log_ctx = log_ctx;
    r->map_fd = -1;
    r->orphan_fd = -1;
    dur_error ignored;
    if (dur_fh_get(backing_fd, "", &r->root_fh, &ignored) != DUR_OK)
        r->root_fh.len = 0;
    if (dur_fh_get(backing_fd, DUR_NS_RESERVED_NAME, &r->reserved_fh, &ignored) != DUR_OK)
        r->reserved_fh.len = 0;
    /* The map first.  Evidence is a fact about the crash state only: a resumed
     * recovery (map or progress present) relies on the progress the first run
     * recorded instead, since the tree now also holds replay's own choices. */
    dur_code c = map_load(r, err);
    bool first_run = r->mapped == 0 && r->progress_lsn == 0 && !r->located;
    if (c == DUR_OK)
        c = prepass(r, first_run, err);
    if (c == DUR_OK && r->evidence_lsn) {
        if (!ordered_writer(r)) /* there nothing is re-applied anyway (logged above) */
            rlog(r, LOG_INFO,
                 "durfs replay: BACKING provably reflects every record up to LSN %" PRIu64
                 " (objects created or removed by then); those are taken as applied",
                 r->evidence_lsn);
        c = progress_put(r, r->evidence_lsn, err);
    }
    /* ATTRS before LOCATED: a resumed run that finds LOCATED never re-locates. */
    if (c == DUR_OK && first_run && r->has_records && r->attrs_applied)
        c = mark_put(r, NS_MAP_ATTRS, r->namespace_lsn, err);
    if (c == DUR_OK && first_run && r->has_records && r->located)
        c = mark_put(r, NS_MAP_LOCATED, r->namespace_lsn, err);
    if (c != DUR_OK) {
        ns_replay_free(r);
        return c;
    }
    *out = r;
    return DUR_OK;
}

dur_code ns_replay_check_marks(const ns_replay *r, uint64_t last_lsn, dur_error *err)
{
    uint64_t newest = r->progress_lsn;
    if (r->located && r->namespace_lsn > newest)
        newest = r->namespace_lsn;
    if (r->creating_lsn > newest)
        newest = r->creating_lsn;
    if (newest <= last_lsn)
        return DUR_OK;
    return dur_error_set(err, DUR_E_CORRUPT, 0, NS_REPLAY_MAP_FILE,
                         "the replay map names LSN %" PRIu64
                         ", beyond the journal's last record %" PRIu64
                         ": it is damaged (records it took as done were not replayed); remove it "
                         "and mount again",
                         newest, last_lsn);
}

void ns_replay_free(ns_replay *r)
{
    if (!r)
        return;
    if (r->map_fd >= 0)
        close(r->map_fd);
    if (r->orphan_fd >= 0) {
        /* Normally empty: every object parked there was moved out or removed by a
         * later record.  Anything left is reported, never deleted. */
        DIR *d = fdopendir(r->orphan_fd);
        unsigned left = 0;
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                    left++;
            closedir(d);
        } else {
            close(r->orphan_fd);
        }
        if (left)
            rlog(r, LOG_WARNING,
                 "durfs replay: %u object(s) whose directory no longer exists were left in "
                 "BACKING/%s/%s",
                 left, DUR_NS_RESERVED_NAME, NS_ORPHANS_NAME);
        else
            unlinkat(r->backing_fd, DUR_NS_RESERVED_NAME "/" NS_ORPHANS_NAME, AT_REMOVEDIR);
    }
    free(r->objs.tab);
    free(r->rev.tab);
    free(r);
}

bool ns_replay_writer_mode(const ns_replay *r, dur_ns_mode *mode)
{
    *mode = r->writer_mode;
    return r->writer_known;
}

void ns_replay_counts(const ns_replay *r, uint64_t *redone, uint64_t *already, uint64_t *skipped)
{
    *redone = r->redone;
    *already = r->already;
    *skipped = r->skipped;
}

/* ---- resolving identities ---- */
static const dur_fh *current(const ns_replay *r, const dur_fh *logged)
{
    const dur_fh *m = map_get(r, logged);
    return m ? m : logged;
}

/* Handles are not unique across a crash: XFS derives an inode's generation from
 * what is on disk, so an inode replay allocates can carry exactly the handle of a
 * different object of the log that BACKING lost.  A logged handle that replay itself
 * handed to another object therefore does not name the logged object. */
static bool taken_by_other(const ns_replay *r, const dur_fh *logged)
{
    if (map_get(r, logged))
        return false;
    const fh_slot *b = slot_find(&r->rev, logged);
    return b && !dur_fh_equal(&b->to, logged);
}

/* Open the object a logged handle names today (O_PATH).  *fd = -1 when it is gone
 * (ESTALE, or an unlinked inode still cached).  Other errors are fatal: e.g. EPERM
 * means replay lacks CAP_DAC_READ_SEARCH. */
static dur_code resolve(ns_replay *r, const dur_fh *logged, int *fd, dur_error *err)
{
    *fd = -1;
    if (taken_by_other(r, logged))
        return DUR_OK;
    dur_error e;
    int f = -1;
    dur_error_clear(&e);
    dur_code c = dur_fh_open(r->backing_fd, current(r, logged), O_PATH | O_CLOEXEC, &f, &e);
    /* EINVAL: a handle the kernel rejects (a damaged record) names nothing */
    if (c == DUR_E_NOTFOUND || c == DUR_E_INVAL || (c == DUR_E_IO && e.sys_errno == EINVAL))
        return DUR_OK;
    if (c != DUR_OK) {
        if (e.sys_errno == EPERM)
            return dur_error_set(err, DUR_E_IO, EPERM, NULL,
                                 "replay needs CAP_DAC_READ_SEARCH to open files by handle: "
                                 "run recovery as root");
        if (err)
            *err = e;
        return c;
    }
    struct stat st;
    if (fstat(f, &st) != 0 || st.st_nlink == 0) {
        close(f);
        return DUR_OK;
    }
    *fd = f;
    return DUR_OK;
}

/* The orphanage: objects whose logged directory replay cannot resolve (it was a
 * directory the log creates and removes again) wait here under a name derived from
 * their logged handle until a later record moves them out or removes them. */
static dur_code orphanage(ns_replay *r, int *fd, dur_error *err)
{
    if (r->orphan_fd < 0) {
        /* O_NOFOLLOW: a symlink planted there would take the orphans, and what
         * replay does to them, anywhere (found by probing) */
        int res = openat(r->backing_fd, DUR_NS_RESERVED_NAME,
                         O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (res < 0)
            return dur_error_set(err, DUR_E_IO, errno, DUR_NS_RESERVED_NAME,
                                 "replay: cannot open %s", DUR_NS_RESERVED_NAME);
        if (mkdirat(res, NS_ORPHANS_NAME, 0700) != 0 && errno != EEXIST) {
            int e = errno;
            close(res);
            return dur_error_set(err, DUR_E_IO, e, NS_ORPHANS_NAME, "replay: cannot create %s",
                                 NS_ORPHANS_NAME);
        }
        r->orphan_fd =
            openat(res, NS_ORPHANS_NAME, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(res);
        if (r->orphan_fd < 0)
            return dur_error_set(err, DUR_E_IO, e, NS_ORPHANS_NAME, "replay: cannot open %s",
                                 NS_ORPHANS_NAME);
    }
    *fd = r->orphan_fd;
    return DUR_OK;
}

/* The orphanage slot of parent/name: one per name, so links and renames between
 * names of removed directories work as they did in the original run. */
static void orphan_name(const dur_fh *parent, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "o-%016llx", (unsigned long long)name_hash(parent, name));
}

/* What parent/name holds now: *present false if absent; *holds true if it is `want`
 * (a logged handle, mapped). */
static dur_code name_state(ns_replay *r, int pfd, const char *name, const dur_fh *want,
                           bool *present, bool *holds, dur_error *err)
{
    *present = *holds = false;
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return DUR_OK;
        /* the record's parent is no directory (a damaged record, or BACKING
         * changed behind durfs): this record cannot apply, the rest may */
        dur_code c = errno == ENOTDIR ? DUR_E_INVAL : DUR_E_IO;
        return dur_error_set(err, c, errno, name, "replay: stat of %s failed", name);
    }
    *present = true;
    if (!want || want->len == 0)
        return DUR_OK;
    dur_fh fh;
    dur_code c = dur_fh_get(pfd, name, &fh, err);
    if (c != DUR_OK)
        return c;
    *holds = !taken_by_other(r, want) && dur_fh_equal(&fh, current(r, want));
    return DUR_OK;
}

/* Where a record's (parent, name) is today: the parent itself if it resolves,
 * else obj's orphanage slot.  *dfd = -1 (and nothing to close) when neither. */
typedef struct place {
    int dfd;
    bool owned; /* dfd must be closed */
    char name[NS_NAME_MAX + 1];
    bool orphan;
} place;

static dur_code locate(ns_replay *r, const dur_fh *parent, const char *name, const dur_fh *obj,
                       place *pl, dur_error *err)
{
    memset(pl, 0, sizeof *pl);
    pl->dfd = -1;
    int fd;
    dur_code c = resolve(r, parent, &fd, err);
    if (c != DUR_OK)
        return c;
    if (fd >= 0) {
        pl->dfd = fd;
        pl->owned = true;
        snprintf(pl->name, sizeof pl->name, "%s", name);
        return DUR_OK;
    }
    if (!obj)
        return DUR_OK;
    if ((c = orphanage(r, &fd, err)) != DUR_OK)
        return c;
    pl->dfd = fd;
    pl->orphan = true;
    orphan_name(parent, name, pl->name, sizeof pl->name);
    return DUR_OK;
}

static void place_close(place *pl)
{
    if (pl->owned && pl->dfd >= 0)
        close(pl->dfd);
    pl->dfd = -1;
}

static void close_fd(int fd)
{
    if (fd >= 0)
        close(fd);
}

static void decided(ns_replay *r, uint64_t lsn, const ns_record *rec, const char *what)
{
    if (!r->log)
        return;
    char line[1200];
    ns_record_format(rec, lsn, line, sizeof line);
    rlog(r, LOG_DEBUG, "durfs replay: %s: %s", what, line);
}

static dur_code already(ns_replay *r, uint64_t lsn, const ns_record *rec, const char *why)
{
    r->already++;
    decided(r, lsn, rec, why);
    return DUR_OK;
}

static dur_code redone(ns_replay *r, uint64_t lsn, const ns_record *rec)
{
    r->redone++;
    decided(r, lsn, rec, "redone");
    return DUR_OK;
}

/* Failures that tell of the moment, not of the record: no space, fds or memory, a
 * failing or read-only device, a file being executed.  Skipping the record for one of these would
 * lose an acknowledged change for good (the checkpoint after recovery drops the log). */
static bool failure_of_the_moment(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case ENOBUFS:
    case EAGAIN:
    case EINTR:
    case EIO:
    case EROFS:
    case ETXTBSY: /* a program runs from the file: its content waits for it to end */
        return true;
    default:
        return false;
    }
}

/* A record that cannot apply: counted and logged, not fatal.  A failure of the
 * moment (failure_of_the_moment) stops recovery instead: nothing is skipped, the
 * journal is kept, and the next mount replays from the same place. */
static dur_code skip(ns_replay *r, dur_error *err, uint64_t lsn, const ns_record *rec,
                     const char *why, int e)
{
    char line[1200];
    ns_record_format(rec, lsn, line, sizeof line);
    if (failure_of_the_moment(e)) {
        rlog(r, LOG_ERR, "durfs replay: stopped at LSN %" PRIu64 " (%s: %s): %s", lsn, why,
             strerror(e), line);
        return dur_error_set(err, DUR_E_IO, e, "",
                             "replay stopped at LSN %" PRIu64 " (%s: %s); nothing was skipped and "
                             "the journal is kept: mount again once that is mended",
                             lsn, why, strerror(e));
    }
    r->skipped++;
    rlog(r, LOG_WARNING, "durfs replay: skipped LSN %" PRIu64 " (%s%s%s): %s", lsn, why,
         e ? ": " : "", e ? strerror(e) : "", line);
    return DUR_OK;
}

/* resolve() of the record's object; a gone object counts the record as applied
 * (*fd = -1, DUR_OK). */
static dur_code resolve_obj(ns_replay *r, const ns_record *rec, uint64_t lsn, int *fd,
                            dur_error *err)
{
    dur_code c = resolve(r, &rec->obj, fd, err);
    if (c == DUR_OK && *fd < 0)
        already(r, lsn, rec, "object is gone");
    return c;
}

static void proc_path(int fd, char *buf, size_t size)
{
    snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* ---- the rules ---- */
/* The object replay made at pl for rec: owner and mode as logged, then mapped
 * (logged handle -> its own) and persisted, so later records find it. */
static dur_code finish_creation(ns_replay *r, const ns_record *rec, uint64_t lsn, const place *pl,
                                dur_error *err)
{
    if (fchownat(pl->dfd, pl->name, rec->uid, rec->gid, AT_SYMLINK_NOFOLLOW) != 0 ||
        ((rec->mode & S_IFMT) != S_IFLNK && fchmodat(pl->dfd, pl->name, rec->mode & 07777, 0) != 0))
        return skip(r, err, lsn, rec, "owner/mode of the re-created object", errno);
    dur_fh now;
    dur_code c = dur_fh_get(pl->dfd, pl->name, &now, err);
    if (c == DUR_OK)
        c = map_put(r, &rec->obj, &now, err);
    return c == DUR_OK ? redone(r, lsn, rec) : c;
}

/* The previous recovery died while re-creating this record's object (its
 * CREATING mark names this record, and no progress mark passed it): an object
 * of the logged type at the name, known to no record and no mapping, is that
 * re-creation, not a later operation's object.  Found by killing recovery
 * between the create and map_put: the file's content, mode and links were then
 * dropped as "object is gone", with nothing reported. */
static bool interrupted_creation(const ns_replay *r, const ns_record *rec, uint64_t lsn, int dfd,
                                 const char *name)
{
    if (r->creating_lsn != lsn || lsn <= r->progress_lsn)
        return false;
    struct stat st;
    dur_fh fh;
    dur_error e;
    return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           (st.st_mode & S_IFMT) == (rec->mode & S_IFMT) &&
           dur_fh_get(dfd, name, &fh, &e) == DUR_OK && !slot_find(&r->objs, &fh) &&
           !slot_find(&r->rev, &fh);
}

static dur_code redo_create(ns_replay *r, const ns_record *rec, uint64_t lsn, dur_error *err)
{
    int ofd = -1;
    dur_code c = resolve(r, &rec->obj, &ofd, err);
    if (c != DUR_OK)
        return c;
    if (ofd >= 0) {
        close(ofd);
        return already(r, lsn, rec, "object exists");
    }
    if (dead_at_end(r, &rec->obj))
        return already(r, lsn, rec, "object is removed again later in the log");
    place pl;
    if ((c = locate(r, &rec->parent, rec->name, &rec->obj, &pl, err)) != DUR_OK)
        return c;
    bool present, holds;
    if ((c = name_state(r, pl.dfd, pl.name, NULL, &present, &holds, err)) != DUR_OK)
        goto out;
    if (present && interrupted_creation(r, rec, lsn, pl.dfd, pl.name)) {
        c = finish_creation(r, rec, lsn, &pl, err);
        goto out;
    }
    if (present) { /* a later operation put another object here */
        c = already(r, lsn, rec, "name taken by a later operation");
        goto out;
    }
    /* Between the create below and map_put the object exists unmapped: a crash
     * there would leave the name taken by an object no record knows, and this
     * record and every later one on the object would be dropped as done. */
    if ((c = mark_put(r, NS_MAP_CREATING, lsn, err)) != DUR_OK)
        goto out;
    mode_t perm = rec->mode & 07777;
    int rc = 0;
    switch (rec->mode & S_IFMT) {
    case S_IFDIR:
        rc = mkdirat(pl.dfd, pl.name, perm);
        break;
    case S_IFREG: {
        int f = openat(pl.dfd, pl.name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, perm);
        rc = f < 0 ? -1 : close(f);
        break;
    }
    case S_IFLNK: {
        char target[NS_TARGET_MAX + 1];
        memcpy(target, rec->target, rec->target_len);
        target[rec->target_len] = '\0';
        rc = symlinkat(target, pl.dfd, pl.name);
        break;
    }
    default:
        rc = mknodat(pl.dfd, pl.name, rec->mode, (dev_t)rec->rdev);
    }
    if (rc != 0) {
        c = skip(r, err, lsn, rec, "re-create failed", errno);
        goto out;
    }
    if (ns_replay_test_fail_mid_create && r->redone + 1 >= ns_replay_test_fail_mid_create) {
        c = dur_error_set(err, DUR_E_IO, EINTR, NULL, "replay stopped by test switch in a create");
        goto out;
    }
    c = finish_creation(r, rec, lsn, &pl, err);
out:
    place_close(&pl);
    return c;
}

static dur_code redo_link(ns_replay *r, const ns_record *rec, uint64_t lsn, dur_error *err)
{
    int ofd = -1;
    place pl;
    memset(&pl, 0, sizeof pl);
    pl.dfd = -1;
    dur_code c = resolve(r, &rec->obj, &ofd, err);
    if (c != DUR_OK)
        return c;
    if (ofd < 0)
        return already(r, lsn, rec, "object is gone");
    if ((c = locate(r, &rec->parent2, rec->name2, &rec->obj, &pl, err)) != DUR_OK)
        goto out;
    bool present, holds;
    if ((c = name_state(r, pl.dfd, pl.name, NULL, &present, &holds, err)) != DUR_OK)
        goto out;
    if (present) {
        c = already(r, lsn, rec, "name exists");
        goto out;
    }
    if (linkat(ofd, "", pl.dfd, pl.name, AT_EMPTY_PATH) != 0) {
        c = skip(r, err, lsn, rec, "link failed", errno);
        goto out;
    }
    c = redone(r, lsn, rec);
out:
    close_fd(ofd);
    place_close(&pl);
    return c;
}

static dur_code redo_remove(ns_replay *r, const ns_record *rec, uint64_t lsn, dur_error *err)
{
    place pl;
    dur_code c = locate(r, &rec->parent, rec->name, &rec->obj, &pl, err);
    if (c != DUR_OK)
        return c;
    bool present, holds;
    if ((c = name_state(r, pl.dfd, pl.name, &rec->obj, &present, &holds, err)) != DUR_OK)
        goto out;
    if (!holds) {
        c = already(r, lsn, rec, "name does not hold the object");
        goto out;
    }
    if (unlinkat(pl.dfd, pl.name, rec->is_dir ? AT_REMOVEDIR : 0) != 0) {
        c = skip(r, err, lsn, rec, "remove failed", errno);
        goto out;
    }
    c = redone(r, lsn, rec);
out:
    place_close(&pl);
    return c;
}

/* RENAME of an object replay never re-created: a plain rename still removed the
 * replaced object's name at the target; an exchange moved it to the old name. */
static dur_code redo_partner_effect(ns_replay *r, const ns_record *rec, uint64_t lsn,
                                    const place *src, dur_error *err)
{
    place dst;
    dur_code c = locate(r, &rec->parent2, rec->name2, &rec->other, &dst, err);
    if (c != DUR_OK)
        return c;
    bool present, holds;
    struct stat st;
    if ((c = name_state(r, dst.dfd, dst.name, &rec->other, &present, &holds, err)) != DUR_OK)
        goto out;
    if (!holds || fstatat(dst.dfd, dst.name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        c = already(r, lsn, rec,
                    "object not re-created and target does not hold the replaced object");
        goto out;
    }
    int rc;
    if (rec->flags & RENAME_EXCHANGE)
        rc = renameat2(dst.dfd, dst.name, src->dfd, src->name, RENAME_NOREPLACE);
    else
        rc = unlinkat(dst.dfd, dst.name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
    c = rc == 0 ? redone(r, lsn, rec)
                : skip(r, err, lsn, rec, "effect on the replaced object failed", errno);
out:
    place_close(&dst);
    return c;
}

static dur_code redo_rename(ns_replay *r, const ns_record *rec, uint64_t lsn, dur_error *err)
{
    place src, dst;
    memset(&dst, 0, sizeof dst);
    dst.dfd = -1;
    dur_code c = locate(r, &rec->parent, rec->name, &rec->obj, &src, err);
    if (c != DUR_OK)
        return c;
    bool opresent = false, oholds = false, npresent = false, nholds = false;
    if ((c = name_state(r, src.dfd, src.name, &rec->obj, &opresent, &oholds, err)) != DUR_OK)
        goto out;
    if (ns_replay_test_rename_by_name)
        oholds = opresent; /* deliberately wrong: judged by name alone */
    if (!oholds) {
        int ofd = -1;
        if ((c = resolve(r, &rec->obj, &ofd, err)) != DUR_OK)
            goto out;
        close_fd(ofd);
        if (ofd < 0 && !opresent && dead_at_end(r, &rec->obj) && rec->other.len) {
            /* obj was never re-created (the log removes it later), but this rename
             * also acted on the object at the target: do that part. */
            c = redo_partner_effect(r, rec, lsn, &src, err);
            goto out;
        }
        /* obj is not at the old name: the rename (or a later op) happened */
        c = already(r, lsn, rec, "object not at the old name");
        goto out;
    }
    /* In the orphanage each object has its own slot, so the target is looked up
     * under the slot of the object that is there (replaced), if any. */
    if ((c = locate(r, &rec->parent2, rec->name2, rec->other.len ? &rec->other : &rec->obj, &dst,
                    err)) != DUR_OK)
        goto out;
    if ((c = name_state(r, dst.dfd, dst.name, &rec->other, &npresent, &nholds, err)) != DUR_OK)
        goto out;
    bool exchange = rec->flags & RENAME_EXCHANGE;
    /* The partner of an exchange may be an object the log removes later and replay
     * therefore never re-created: then the exchange degrades to a move. */
    bool partner_gone = exchange && !npresent && dead_at_end(r, &rec->other);
    bool pre_state = exchange ? (nholds || partner_gone) : (!npresent || nholds);
    if (ns_replay_test_rename_by_name)
        pre_state = true;
    if (!pre_state) { /* the target was changed by a later op: do not clobber it */
        c = already(r, lsn, rec, "target changed by a later operation");
        goto out;
    }
    bool swap = exchange && !partner_gone;
    int rc = renameat2(src.dfd, src.name, dst.dfd, dst.name, swap ? RENAME_EXCHANGE : 0);
    if (rc != 0) {
        c = skip(r, err, lsn, rec, "rename failed", errno);
        goto out;
    }
    c = redone(r, lsn, rec);
out:
    place_close(&src);
    place_close(&dst);
    return c;
}

static bool ts_equal(struct timespec a, int64_t sec, uint32_t nsec)
{
    return a.tv_sec == sec && (uint32_t)a.tv_nsec == nsec;
}

static dur_code redo_setattr(ns_replay *r, const ns_record *rec, uint64_t lsn, dur_error *err)
{
    int ofd = -1;
    dur_code c = resolve_obj(r, rec, lsn, &ofd, err);
    if (c != DUR_OK || ofd < 0)
        return c;
    struct stat st;
    char pp[64];
    proc_path(ofd, pp, sizeof pp);
    bool changed = false;
    if (fstat(ofd, &st) != 0) {
        c = skip(r, err, lsn, rec, "stat failed", errno);
        goto out;
    }
    bool is_lnk = S_ISLNK(st.st_mode);
    if (rec->valid & (DUR_NS_ATTR_UID | DUR_NS_ATTR_GID)) {
        uid_t u = (rec->valid & DUR_NS_ATTR_UID) ? rec->uid : (uid_t)-1;
        gid_t g = (rec->valid & DUR_NS_ATTR_GID) ? rec->gid : (gid_t)-1;
        if ((u != (uid_t)-1 && u != st.st_uid) || (g != (gid_t)-1 && g != st.st_gid)) {
            if (fchownat(ofd, "", u, g, AT_EMPTY_PATH) != 0) {
                c = skip(r, err, lsn, rec, "chown failed", errno);
                goto out;
            }
            changed = true;
            if (fstat(ofd, &st) != 0) {
                c = skip(r, err, lsn, rec, "stat failed", errno);
                goto out;
            }
        }
    }
    if ((rec->valid & DUR_NS_ATTR_MODE) && !is_lnk && (st.st_mode & 07777) != (rec->mode & 07777)) {
        if (chmod(pp, rec->mode & 07777) != 0) {
            c = skip(r, err, lsn, rec, "chmod failed", errno);
            goto out;
        }
        changed = true;
    }
    if ((rec->valid & (DUR_NS_ATTR_ATIME | DUR_NS_ATTR_MTIME)) && !is_lnk) {
        struct timespec ts[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT},
                                 {.tv_sec = 0, .tv_nsec = UTIME_OMIT}};
        bool differs = false;
        if (rec->valid & DUR_NS_ATTR_ATIME) {
            ts[0].tv_sec = rec->atime_sec;
            ts[0].tv_nsec = rec->atime_nsec;
            differs |= !ts_equal(st.st_atim, rec->atime_sec, rec->atime_nsec);
        }
        if (rec->valid & DUR_NS_ATTR_MTIME) {
            ts[1].tv_sec = rec->mtime_sec;
            ts[1].tv_nsec = rec->mtime_nsec;
            differs |= !ts_equal(st.st_mtim, rec->mtime_sec, rec->mtime_nsec);
        }
        if (differs) {
            if (utimensat(AT_FDCWD, pp, ts, 0) != 0) {
                c = skip(r, err, lsn, rec, "utimensat failed", errno);
                goto out;
            }
            changed = true;
        }
    }
    c = changed ? redone(r, lsn, rec) : already(r, lsn, rec, "attributes already set");
out:
    close_fd(ofd);
    return c;
}

static dur_code redo_xattr(ns_replay *r, const ns_record *rec, uint64_t lsn, dur_error *err)
{
    int ofd = -1;
    dur_code c = resolve_obj(r, rec, lsn, &ofd, err);
    if (c != DUR_OK || ofd < 0)
        return c;
    char pp[64];
    proc_path(ofd, pp, sizeof pp);
    struct stat st;
    if (fstat(ofd, &st) == 0 && S_ISLNK(st.st_mode)) {
        c = skip(r, err, lsn, rec, "xattrs of symlinks are not replayed", 0);
        goto out;
    }
    if (rec->type == NS_REC_SETXATTR) {
        static _Thread_local unsigned char cur[NS_XATTR_VALUE_MAX];
        ssize_t n = getxattr(pp, rec->xname, cur, sizeof cur);
        bool same = n == (ssize_t)rec->value_len && memcmp(cur, rec->value, rec->value_len) == 0;
        /* Absolute value: CREATE/REPLACE flags described the original state only. */
        if (!same && setxattr(pp, rec->xname, rec->value, rec->value_len, 0) != 0) {
            c = skip(r, err, lsn, rec, "setxattr failed", errno);
            goto out;
        }
        /* Also when the value was there already (set before, say, and the call
         * re-set it): a later record that sets the bit again is re-applied after
         * this one, since BACKING does not hold every logged change here. */
        bool kill =
            (rec->flags & DUR_NS_XATTR_KILL_SGID) && fstat(ofd, &st) == 0 && (st.st_mode & S_ISGID);
        if (kill && chmod(pp, st.st_mode & 07777 & ~(mode_t)S_ISGID) != 0) {
            c = skip(r, err, lsn, rec, "clearing the setgid bit failed", errno);
            goto out;
        }
        if (same && !kill) {
            c = already(r, lsn, rec, "xattr already set");
            goto out;
        }
        c = redone(r, lsn, rec);
    } else {
        if (removexattr(pp, rec->xname) != 0) {
            if (errno == ENODATA)
                c = already(r, lsn, rec, "xattr absent");
            else
                c = skip(r, err, lsn, rec, "removexattr failed", errno);
            goto out;
        }
        c = redone(r, lsn, rec);
    }
out:
    close_fd(ofd);
    return c;
}

/* Do the bytes at fd equal want exactly (content and size)? */
static bool content_equal(int fd, const void *want, uint32_t len)
{
    static _Thread_local unsigned char cur[NS_FILE_DATA_MAX + 1];
    ssize_t got = ns_read_prefix(fd, cur, (size_t)len + 1);
    return got == (ssize_t)len && memcmp(cur, want, len) == 0;
}

/* FILE_DATA: the newest one of an object not followed by an in-place sync of it
 * holds the content acknowledged at close; BACKING's copy may be older, partial or
 * missing (it reached the disk only by writeback).  Absolute, so redone whatever
 * the locator or a progress mark says (a progress mark can be durable before the
 * content replay wrote; rewriting equal content is a no-op). */
static dur_code redo_file_data(ns_replay *r, const ns_record *rec, uint64_t lsn, dur_error *err)
{
    const fh_slot *sl = slot_find(&r->objs, &rec->obj);
    assert(sl != NULL); /* the pre-pass saw this record */
    if (sl && sl->last_data_lsn != lsn)
        return already(r, lsn, rec, "a later FILE_DATA of the object follows");
    if (sl && sl->data_covered >= lsn)
        return already(r, lsn, rec, "the object was synced in place after it");
    int ofd = -1;
    dur_code c = resolve_obj(r, rec, lsn, &ofd, err);
    if (c != DUR_OK || ofd < 0)
        return c;
    char pp[64];
    proc_path(ofd, pp, sizeof pp);
    struct stat st;
    int wfd = -1;
    if (fstat(ofd, &st) != 0 || !S_ISREG(st.st_mode)) { /* never open a fifo or device */
        c = skip(r, err, lsn, rec, "not a regular file", 0);
    } else if ((wfd = open(pp, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) < 0) {
        c = skip(r, err, lsn, rec, "cannot open the file for writing", errno);
    } else if (content_equal(wfd, rec->value, rec->value_len)) {
        c = already(r, lsn, rec, "content already there");
    } else {
        ssize_t n = pwrite(wfd, rec->value, rec->value_len, 0);
        int e = n < 0                                        ? errno
                : n != (ssize_t)rec->value_len               ? ENOSPC /* short: space ran out */
                : ftruncate(wfd, (off_t)rec->value_len) != 0 ? errno
                                                             : 0;
        c = e ? skip(r, err, lsn, rec, "writing the content failed", e) : redone(r, lsn, rec);
    }
    if (wfd >= 0)
        close(wfd);
    close_fd(ofd);
    return c;
}

/* BACKING/.durfs (the journal, its lock, replay's own files) is no part of the
 * tree the log describes, and the daemon never logs it: a record that names it
 * (damaged or planted) is skipped, never applied.  Found by probing: one RENAME
 * of .durfs made the live journal reachable through the mount. */
static bool names_reserved(const ns_replay *r, const ns_record *rec)
{
    const dur_fh *dirs[2] = {&rec->parent, &rec->parent2};
    const char *names[2] = {rec->name, rec->name2};
    for (int i = 0; i < 2; i++)
        if (r->root_fh.len && dur_fh_equal(dirs[i], &r->root_fh) &&
            strcmp(names[i], DUR_NS_RESERVED_NAME) == 0)
            return true;
    return r->reserved_fh.len && (dur_fh_equal(&rec->obj, &r->reserved_fh) ||
                                  dur_fh_equal(&rec->other, &r->reserved_fh) ||
                                  dur_fh_equal(&rec->parent, &r->reserved_fh) ||
                                  dur_fh_equal(&rec->parent2, &r->reserved_fh));
}

dur_code ns_replay_record(ns_replay *r, uint8_t type, const void *payload, size_t len, uint64_t lsn,
                          dur_error *err)
{
    if (type > DUR_WAL_TYPE_USER_MAX)
        return DUR_OK;         /* checkpoint markers and other library records */
    r->backing_synced = false; /* this record may change BACKING */
    if (ordered_writer(r)) {
        r->already++;
        return DUR_OK;
    }
    if (ns_replay_test_fail_after && r->redone >= ns_replay_test_fail_after)
        return dur_error_set(err, DUR_E_IO, EINTR, NULL,
                             "replay stopped by test switch at LSN %" PRIu64, lsn);
    ns_record rec;
    dur_code c = ns_record_decode(type, payload, len, lsn, &rec, err);
    if (c != DUR_OK)
        return c;
    if (names_reserved(r, &rec))
        return skip(r, err, lsn, &rec, "names BACKING's reserved directory " DUR_NS_RESERVED_NAME,
                    0);
    if (rec.type == NS_REC_FILE_DATA)
        return redo_file_data(r, &rec, lsn, err);
    if (rec.type == NS_REC_FILE_SYNCED)
        return already(r, lsn, &rec, "marks in-place content, changes nothing");
    bool attr =
        rec.type == NS_REC_SETATTR || rec.type == NS_REC_SETXATTR || rec.type == NS_REC_REMOVEXATTR;
    if (r->located && !attr && lsn <= r->namespace_lsn)
        return already(r, lsn, &rec, "namespace already past this record");
    /* Re-applying an absolute value over a BACKING that is newer would undo a later
     * change (an ORDERED-mode tree would stop being a prefix). */
    if (attr && r->attrs_applied)
        return already(r, lsn, &rec, "BACKING holds every logged attribute change");
    if (lsn <= r->evidence_lsn || lsn <= r->progress_lsn)
        return already(r, lsn, &rec, "older than the newest record known applied");
    uint64_t before = r->redone;
    switch (rec.type) {
    case NS_REC_CREATE:
        c = redo_create(r, &rec, lsn, err);
        break;
    case NS_REC_LINK:
        c = redo_link(r, &rec, lsn, err);
        break;
    case NS_REC_REMOVE:
        c = redo_remove(r, &rec, lsn, err);
        break;
    case NS_REC_RENAME:
        c = redo_rename(r, &rec, lsn, err);
        break;
    case NS_REC_SETATTR:
        c = redo_setattr(r, &rec, lsn, err);
        break;
    default:
        c = redo_xattr(r, &rec, lsn, err);
    }
    /* this record cannot apply (name_state: its parent is no directory); any
     * other error stops recovery */
    if (c == DUR_E_INVAL && err && err->sys_errno == ENOTDIR)
        c = skip(r, err, lsn, &rec, "cannot apply", ENOTDIR);
    /* Only records that changed something need a progress mark: re-judging the
     * others on a resumed run finds them applied again. */
    if (c == DUR_OK && r->redone != before)
        c = progress_put(r, lsn, err);
    return c;
}
