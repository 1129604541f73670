/* durfs daemon: the inode table and the O_PATH fd cache.
 *
 * Scale requirement: 200,000+ inodes held by the kernel with a process fd limit
 * of 20,000.  So an inode does not keep an fd (passthrough_ll does): it keeps its
 * kernel file handle (name_to_handle_at), stored at its real length, and fds are
 * opened on demand (open_by_handle_at) into a bounded cache of pinned slots,
 * evicted by the clock algorithm.  A pinned slot is never closed, so an fd handed
 * to a handler stays valid until fdref_put.
 *
 * Fallback: when BACKING has no handles (or we may not open them: no
 * CAP_DAC_READ_SEARCH), or an inode lives on another filesystem than BACKING's
 * root (a submount), the inode keeps a permanent O_PATH fd and scale is bounded
 * by the fd limit (logged at mount).
 *
 * Identity: nodes are keyed by the backing (st_dev, st_ino); hard links map to
 * one node.  With handles we hold no reference on the backing inode, so once its
 * link count reached 0 through us (unlink, rmdir, rename over) the inode number
 * may be reused: such a node is marked maybe_gone and a later lookup compares
 * handles before reusing it.
 *
 * Zombies: when the kernel forgets an inode whose file data is not known durable
 * (dur_file_state dirty or failed, e.g. ordered mode, or a failed fsync), the node
 * stays in the table with nlookup 0 so the state survives: a later rename of that
 * file still makes its data durable first (R2), and a failed fsync still fails
 * (R6).  A lookup revives it.  Their number is bounded: past ZOMBIE_MAX, a
 * forgotten dirty file is settled instead -- its data made durable with
 * dur_ns_prepare_rename (the journal's "data durable now" call) -- and freed.
 * A node that holds a permanent fd (no usable handle: the fallback, a submount,
 * an object without a handle) could not be reopened once that fd is closed, so a
 * dirty one is always settled at forget instead.
 *
 * Locking: one mutex guards the hash, nlookup, slots and pins.
 *
 * Pins: a slot's pins are its fdrefs, plus one while its node holds it
 * (n->held, inode_hold_removed), plus one while a removal of its node is under
 * way (inode_prepare_hold ... inode_hold_removed / inode_hold_cancel).  A pinned
 * slot is never evicted nor given to another node; a node freed while its slot is
 * pinned leaves it an orphan (s->n NULL) that the last unpin closes.
 */
#include "durfs.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

typedef struct fd_slot {
    dnode *n; /* owner, NULL when free */
    int fd;
    int pins;
    bool ref; /* clock reference bit */
} fd_slot;

#define ZOMBIE_MAX 16384

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t g_zombies;
static dnode **g_buckets;
static size_t g_nbuckets, g_count;
static fd_slot *g_slots;
static size_t g_nslots, g_hand;
/* Holds of removed objects: g_held nodes pin their slot (n->held), and
 * g_hold_reserved slots are pinned by a removal under way, which hands its pin
 * over as the node's hold.  Together at most g_nslots / 2 (wants_hold). */
static size_t g_held, g_hold_reserved;
#ifdef DUR_TEST_HOOKS
static const char *g_test_evict_prefix; /* TEST ONLY: DURFS_TEST_EVICT_AT_REMOVE, read at init */
#endif

static size_t hash_of(uint64_t dev, uint64_t ino)
{
    uint64_t h = ino * 0x9E3779B97F4A7C15ull ^ dev * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29));
}

static void hash_insert(dnode *n)
{
    if (g_count + 1 > g_nbuckets) { /* grow x2; on failure keep chaining */
        size_t nb = g_nbuckets * 2;
        dnode **b = calloc(nb, sizeof(dnode *));
        if (b) {
            for (size_t i = 0; i < g_nbuckets; i++) {
                for (dnode *p = g_buckets[i], *next; p; p = next) {
                    next = p->hnext;
                    size_t k = hash_of(p->dev, p->ino) & (nb - 1);
                    p->hnext = b[k];
                    b[k] = p;
                }
            }
            free(g_buckets);
            g_buckets = b;
            g_nbuckets = nb;
        }
    }
    size_t k = hash_of(n->dev, n->ino) & (g_nbuckets - 1);
    n->hnext = g_buckets[k];
    g_buckets[k] = n;
    n->in_table = true;
    g_count++;
}

static void hash_remove(dnode *n)
{
    size_t k = hash_of(n->dev, n->ino) & (g_nbuckets - 1);
    for (dnode **pp = &g_buckets[k]; *pp; pp = &(*pp)->hnext) {
        if (*pp == n) {
            *pp = n->hnext;
            n->in_table = false;
            g_count--;
            return;
        }
    }
    assert(!"node missing from its hash chain");
}

static dnode *hash_find(uint64_t dev, uint64_t ino)
{
    for (dnode *p = g_buckets[hash_of(dev, ino) & (g_nbuckets - 1)]; p; p = p->hnext)
        if (p->ino == ino && p->dev == dev)
            return p;
    return NULL;
}

static dnode *node_new(const struct stat *st, const dur_fh *fh)
{
    uint32_t len = fh ? fh->len : 0;
    assert(len <= DUR_FH_MAX_BYTES);
    dnode *n = calloc(1, sizeof(*n) + len);
    if (!n)
        return NULL;
    n->dev = st->st_dev;
    n->ino = st->st_ino;
    n->mode = st->st_mode & S_IFMT;
    n->fd = -1;
    n->slot = -1;
    n->fh_len = (uint16_t)len;
    n->fh_type = fh ? fh->type : 0;
    if (len)
        memcpy(n->fh_data, fh->data, len);
    atomic_init(&n->file, NULL);
    atomic_init(&n->fcaps, 0u);
    return n;
}

/* Drop the node's cache slot (lock held; the slot is unpinned). */
static void slot_release(dnode *n)
{
    if (n->slot < 0)
        return;
    fd_slot *s = &g_slots[n->slot];
    assert(s->n == n);
    assert(!n->held); /* a held slot is pinned: never evicted, and node_free unholds first */
    s->n = NULL;
    if (s->pins == 0) { /* else an orphan: the last fdref_put closes it */
        close(s->fd);
        s->fd = -1;
    }
    n->slot = -1;
}

static void node_free(dnode *n)
{
    if (n->held) { /* its own pin (inode_hold_removed) */
        assert(n->slot >= 0 && g_slots[n->slot].n == n && g_slots[n->slot].pins > 0);
        assert(g_held > 0);
        g_slots[n->slot].pins--;
        n->held = false;
        g_held--;
    }
    slot_release(n);
    if (n->fd >= 0 && n != g_fs.root)
        close(n->fd);
    free(atomic_load(&n->file));
    free(n);
}

/* A free or evictable slot (lock held), or -1 when all are pinned. */
static int slot_take(void)
{
    for (size_t tries = 0; tries < 2 * g_nslots; tries++) {
        size_t i = g_hand;
        g_hand = (g_hand + 1) % g_nslots;
        fd_slot *s = &g_slots[i];
        if (s->pins)
            continue;
        if (!s->n)
            return (int)i;
        if (s->ref) {
            s->ref = false;
            continue;
        }
        slot_release(s->n);
        return (int)i;
    }
    return -1;
}

/* Drop one pin of slot i (lock held); the last pin of an orphan closes its fd. */
static void slot_unpin(int i)
{
    fd_slot *s = &g_slots[i];
    assert(s->pins > 0);
    if (--s->pins == 0 && !s->n && s->fd >= 0) { /* orphaned while pinned */
        close(s->fd);
        s->fd = -1;
    }
}

/* Give an O_PATH fd to the cache for n (lock held); closes it if n has one. */
static void slot_install(dnode *n, int fd)
{
    if (n->slot >= 0 || n->fd >= 0 || g_nslots == 0) {
        close(fd);
        return;
    }
    int i = slot_take();
    if (i < 0) {
        close(fd);
        return;
    }
    g_slots[i] = (fd_slot){.n = n, .fd = fd, .pins = 0, .ref = true};
    n->slot = i;
}

int inode_table_init(size_t fd_cache_slots)
{
    g_nbuckets = 1024;
    g_buckets = calloc(g_nbuckets, sizeof(dnode *));
    g_nslots = fd_cache_slots;
    g_slots = calloc(g_nslots ? g_nslots : 1, sizeof(*g_slots));
    if (!g_buckets || !g_slots)
        return ENOMEM;
    for (size_t i = 0; i < g_nslots; i++)
        g_slots[i].fd = -1;
#ifdef DUR_TEST_HOOKS
    g_test_evict_prefix = getenv("DURFS_TEST_EVICT_AT_REMOVE"); /* TEST ONLY */
    if (g_test_evict_prefix)
        log_msg(LOG_WARNING, "TEST HOOK: removals of %s* evict the fd cache", g_test_evict_prefix);
#endif

    struct stat st;
    if (fstat(g_fs.backing_fd, &st) < 0)
        return errno;
    dur_fh fh = {0};
    dur_error err;
    if (g_fs.fs.has_handles && dur_fh_get(g_fs.backing_fd, "", &fh, &err) != DUR_OK)
        fh.len = 0;
    dnode *root = node_new(&st, &fh);
    if (!root)
        return ENOMEM;
    root->fd = g_fs.backing_fd; /* the root always has its fd */
    root->nlookup = 1;          /* never forgotten */
    g_fs.root = root;
    hash_insert(root);
    return 0;
}

void inode_table_destroy(void)
{
    for (size_t i = 0; i < g_nbuckets; i++) {
        for (dnode *p = g_buckets[i], *next; p; p = next) {
            next = p->hnext;
            node_free(p);
        }
    }
    free(g_buckets);
    free(g_slots);
    g_buckets = NULL;
    g_slots = NULL;
    g_fs.root = NULL;
}

dnode *inode_get(fuse_ino_t ino)
{
    return ino == FUSE_ROOT_ID ? g_fs.root : (dnode *)(uintptr_t)ino;
}

fuse_ino_t inode_id(dnode *n)
{
    return n == g_fs.root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

void inode_fh(const dnode *n, dur_fh *out)
{
    out->len = n->fh_len;
    out->type = n->fh_type;
    memcpy(out->data, n->fh_data, n->fh_len);
}

static bool node_fh_equal(const dnode *n, const dur_fh *fh)
{
    return fh && n->fh_len == fh->len && n->fh_type == fh->type &&
           memcmp(n->fh_data, fh->data, fh->len) == 0;
}

static bool needs_own_fd(const struct stat *st)
{
    return !g_fs.handles || (uint64_t)st->st_dev != g_fs.backing_dev;
}

/* A node gets a kernel reference again (lock held). */
static void node_ref(dnode *n)
{
    if (n->zombie) {
        n->zombie = false;
        g_zombies--;
    }
    n->nlookup++;
}

/* Remove a node with nlookup 0 from the table and free it (lock held). */
static void node_drop(dnode *n)
{
    if (n->zombie) {
        n->zombie = false;
        g_zombies--;
    }
    if (n->in_table)
        hash_remove(n);
    if (!n->busy)
        node_free(n);
}

dnode *inode_add(const struct stat *st, const dur_fh *fh, int opath_fd, int *err)
{
    /* no handle for this object (e.g. name_to_handle_at refused it): it cannot
     * be reopened, so it keeps its O_PATH fd */
    bool own_fd = needs_own_fd(st) || !fh || fh->len == 0;
    pthread_mutex_lock(&g_lock);
    dnode *n = hash_find(st->st_dev, st->st_ino);
    if (n && n->maybe_gone && n != g_fs.root) {
        if (node_fh_equal(n, fh)) {
            n->maybe_gone = false;
        } else { /* inode number reused: detach the old node */
            if (n->nlookup == 0)
                node_drop(n);
            else
                hash_remove(n);
            n = NULL;
        }
    }
    if (n) {
        node_ref(n);
        if (opath_fd >= 0)
            slot_install(n, opath_fd);
        pthread_mutex_unlock(&g_lock);
        return n;
    }
    n = node_new(st, fh);
    if (!n) {
        pthread_mutex_unlock(&g_lock);
        if (opath_fd >= 0)
            close(opath_fd);
        *err = ENOMEM;
        return NULL;
    }
    if (own_fd) {
        if (opath_fd < 0) {
            pthread_mutex_unlock(&g_lock);
            free(n);
            *err = EIO;
            return NULL;
        }
        n->fd = opath_fd;
    } else if (opath_fd >= 0) {
        slot_install(n, opath_fd);
    }
    n->nlookup = 1;
    hash_insert(n);
    pthread_mutex_unlock(&g_lock);
    return n;
}

dnode *inode_find(uint64_t dev, uint64_t ino)
{
    pthread_mutex_lock(&g_lock);
    dnode *n = hash_find(dev, ino);
    if (n && n->maybe_gone)
        n = NULL;
    pthread_mutex_unlock(&g_lock);
    return n;
}

/* Take a reference on an existing, trusted node (the lookup fast path). */
static dnode *inode_ref_existing(const struct stat *st)
{
    pthread_mutex_lock(&g_lock);
    dnode *n = hash_find(st->st_dev, st->st_ino);
    if (n && n->maybe_gone)
        n = NULL;
    if (n)
        node_ref(n);
    pthread_mutex_unlock(&g_lock);
    return n;
}

static bool file_state_unsettled(dnode *n)
{
    dnode_file *f = atomic_load(&n->file);
    return f && (dur_file_state_dirty(&f->st) || atomic_load(&f->st.failed_errno) != 0);
}

/* Make a forgotten node's data durable so it need not be kept (lock NOT held;
 * the node is pinned by busy). */
static void settle(dnode *n)
{
    dnode_file *f = atomic_load(&n->file);
    int fd = inode_open(n, O_RDONLY | O_NONBLOCK);
    if (fd >= 0) {
        dur_error err;
        dur_fh fh;
        inode_fh(n, &fh);
        if (dur_ns_prepare_rename(g_fs.ns, &f->st, fd, &fh, &err) != DUR_OK)
            log_dur_error("making a forgotten file's data durable", &err);
        close(fd);
    }
    pthread_mutex_lock(&g_lock);
    n->busy--;
    if (n->nlookup == 0 && (!n->in_table || !file_state_unsettled(n)))
        node_drop(n); /* else: revived meanwhile, or still failed: stays */
    pthread_mutex_unlock(&g_lock);
}

void inode_forget(dnode *n, uint64_t nlookup)
{
    if (n == g_fs.root)
        return;
    bool need_settle = false;
    pthread_mutex_lock(&g_lock);
    assert(n->nlookup >= nlookup);
    n->nlookup = n->nlookup >= nlookup ? n->nlookup - nlookup : 0;
    if (n->nlookup == 0 && !n->zombie) {
        if (!n->in_table || !file_state_unsettled(n) || n->maybe_gone) {
            node_drop(n);
        } else if (n->fd >= 0) {
            /* Its permanent fd is the only way back to it (no usable handle), so it
             * cannot wait as a zombie: make its data durable now (R2 for a later
             * rename). */
            n->busy++;
            need_settle = true;
        } else { /* zombie: keep the file state; the handle reopens it */
            n->zombie = true;
            g_zombies++;
            if (g_zombies > ZOMBIE_MAX && !n->busy) {
                n->busy++;
                need_settle = true;
            }
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (need_settle)
        settle(n);
}

/* A program can keep reaching an object whose last name is gone without any
 * open the daemon sees (an O_PATH fd, a cwd: the kernel keeps the inode), and
 * natively it stays usable until then.  Its handle no longer opens it, so the
 * node holds an fd of its own: it pins its cache slot until node_free (the
 * kernel's FORGET).  At most half the slots are held, so the cache keeps
 * working; past that such an object gets ESTALE once its fd is evicted. */
static bool wants_hold(const dnode *n)
{
    return n && n != g_fs.root && !n->held && n->fd < 0 && n->nlookup > 0 &&
           g_held + g_hold_reserved < g_nslots / 2;
}

/* The node's fd must survive from here to inode_hold_removed: between them come
 * the backing unlinkat/renameat2 and the journal append, while other threads'
 * fdref_get may evict any unpinned slot; an evicted one closed the node's only
 * fd, and after the removal its handle no longer opens the object (ESTALE).  So
 * a cached fd is pinned now, and the pin becomes the hold; without one an fd is
 * opened while the name still leads to the object. */
void inode_prepare_hold(int parent_fd, const char *name, const struct stat *st, inode_hold *h)
{
    h->fd = -1;
    h->slot = -1;
    bool open_one = false;
    pthread_mutex_lock(&g_lock);
    dnode *n = hash_find(st->st_dev, st->st_ino);
    if (wants_hold(n)) {
        if (n->slot >= 0) {
            fd_slot *s = &g_slots[n->slot];
            assert(s->n == n && s->fd >= 0);
            s->pins++;
            h->slot = n->slot;
            g_hold_reserved++;
            assert(g_held + g_hold_reserved <= g_nslots / 2);
        } else {
            open_one = true;
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (open_one)
        h->fd = openat(parent_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

void inode_hold_removed(const struct stat *st, inode_hold *h)
{
    int fd = h->fd;
    pthread_mutex_lock(&g_lock);
    dnode *n = hash_find(st->st_dev, st->st_ino);
    if (n && n != g_fs.root)
        n->maybe_gone = true;
    if (h->slot >= 0) {
        /* The reserved pin becomes the node's hold.  The pinned slot was given to
         * no other node; it is an orphan (s->n NULL) if the node was freed
         * meanwhile, or n's own otherwise. */
        fd_slot *s = &g_slots[h->slot];
        assert(s->pins > 0 && g_hold_reserved > 0);
        g_hold_reserved--;
        if (n && s->n == n && n != g_fs.root && !n->held && n->nlookup > 0) {
            assert(n->slot == h->slot && n->fd < 0 && s->fd >= 0);
            n->held = true; /* counted in the cap since inode_prepare_hold */
            g_held++;
        } else {
            slot_unpin(h->slot);
        }
    } else if (wants_hold(n)) {
        if (n->slot < 0 && fd >= 0) {
            slot_install(n, fd); /* consumes fd */
            fd = -1;
        }
        if (n->slot >= 0) {
            assert(g_slots[n->slot].n == n);
            g_slots[n->slot].pins++;
            n->held = true;
            g_held++;
        }
    }
    assert(g_held + g_hold_reserved <= g_nslots / 2);
    pthread_mutex_unlock(&g_lock);
    if (fd >= 0)
        close(fd);
    h->fd = -1;
    h->slot = -1;
}

void inode_hold_cancel(inode_hold *h)
{
    if (h->slot >= 0) {
        pthread_mutex_lock(&g_lock);
        assert(g_hold_reserved > 0);
        g_hold_reserved--;
        slot_unpin(h->slot);
        pthread_mutex_unlock(&g_lock);
    }
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    h->slot = -1;
}

#ifdef DUR_TEST_HOOKS
void inode_test_evict_at_remove(const char *name)
{
    const char *pre = g_test_evict_prefix;
    if (!pre || !*pre || strncmp(name, pre, strlen(pre)) != 0)
        return;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_nslots; i++)
        if (g_slots[i].n && g_slots[i].pins == 0)
            slot_release(g_slots[i].n);
    pthread_mutex_unlock(&g_lock);
}
#endif

dnode_file *inode_file(dnode *n)
{
    dnode_file *f = atomic_load(&n->file);
    if (f)
        return f;
    dnode_file *nf = calloc(1, sizeof(*nf));
    if (!nf)
        return NULL;
    dur_file_state_init(&nf->st);
    atomic_init(&nf->opens, 0);
    atomic_init(&nf->writable_opens, 0);
    atomic_init(&nf->kernel_mtime_ns, 0);
    atomic_init(&nf->written_after_mtime, false);
    atomic_init(&nf->refusal_unreported, false);
    atomic_init(&nf->refused_errno, 0);
    if (atomic_compare_exchange_strong(&n->file, &f, nf))
        return nf;
    free(nf);
    return f;
}

size_t inode_count(void)
{
    pthread_mutex_lock(&g_lock);
    size_t c = g_count;
    pthread_mutex_unlock(&g_lock);
    return c;
}

int fdref_get2(dnode *a, fdref *ra, dnode *b, fdref *rb)
{
    int e = fdref_get(a, ra);
    if (e)
        return e;
    e = fdref_get(b, rb);
    if (e)
        fdref_put(ra);
    return e;
}

int fdref_get(dnode *n, fdref *r)
{
    r->slot = -1;
    r->owned = false;
    if (n->fd >= 0) { /* root, fallback mode, submount: permanent fd */
        r->fd = n->fd;
        return 0;
    }
    pthread_mutex_lock(&g_lock);
    if (n->slot >= 0) {
        fd_slot *s = &g_slots[n->slot];
        s->pins++;
        s->ref = true;
        r->fd = s->fd;
        r->slot = n->slot;
        pthread_mutex_unlock(&g_lock);
        return 0;
    }
    pthread_mutex_unlock(&g_lock);

    dur_fh fh;
    inode_fh(n, &fh);
    int fd;
    dur_error err;
    dur_code c = dur_fh_open(g_fs.backing_fd, &fh, O_PATH | O_NOFOLLOW, &fd, &err);
    if (c != DUR_OK)
        return c == DUR_E_NOTFOUND ? ESTALE : (err.sys_errno ? err.sys_errno : EIO);

    pthread_mutex_lock(&g_lock);
    if (n->slot < 0 && n->fd < 0) {
        int i = g_nslots ? slot_take() : -1;
        if (i >= 0) {
            g_slots[i] = (fd_slot){.n = n, .fd = fd, .pins = 0, .ref = true};
            n->slot = i;
        }
    }
    if (n->slot >= 0) {
        fd_slot *s = &g_slots[n->slot];
        if (s->fd != fd)
            close(fd); /* another thread cached one meanwhile */
        s->pins++;
        r->fd = s->fd;
        r->slot = n->slot;
    } else { /* every slot pinned: use it once */
        r->fd = fd;
        r->owned = true;
    }
    pthread_mutex_unlock(&g_lock);
    return 0;
}

void fdref_put(fdref *r)
{
    int saved = errno; /* callers report the errno of their own call */
    if (r->slot >= 0) {
        pthread_mutex_lock(&g_lock);
        slot_unpin(r->slot);
        pthread_mutex_unlock(&g_lock);
    }
    if (r->owned)
        close(r->fd);
    r->fd = -1;
    r->slot = -1;
    r->owned = false;
    errno = saved;
}

int inode_open(dnode *n, int flags)
{
    flags &= ~(O_CREAT | O_EXCL | O_NOCTTY);
    if (n->fd < 0 && n->fh_len) {
        dur_fh fh;
        inode_fh(n, &fh);
        int fd;
        dur_error err;
        if (dur_fh_open(g_fs.backing_fd, &fh, flags, &fd, &err) == DUR_OK)
            return fd;
        if (err.sys_errno && err.sys_errno != ESTALE && err.code != DUR_E_NOTFOUND)
            return -err.sys_errno;
    }
    /* permanent fd, or the handle is stale (e.g. unlinked while open): go
     * through the O_PATH fd we may still hold */
    fdref r;
    int e = fdref_get(n, &r);
    if (e)
        return -e;
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", r.fd);
    int fd = open(path, flags);
    e = errno;
    fdref_put(&r);
    return fd >= 0 ? fd : -e;
}

bool is_reserved(dnode *parent, const char *name)
{
    return parent == g_fs.root && strcmp(name, DUR_NS_RESERVED_NAME) == 0;
}

void hide_reserved_link(const dnode *n, struct stat *st)
{
    /* The root's link count counts the hidden journal directory's "..": a
     * directory's count is 2 plus its subdirectories, so report one less
     * while .durfs is a directory in BACKING (looked at once, at mount). */
    if (n == g_fs.root && g_fs.reserved_is_dir && S_ISDIR(st->st_mode) && st->st_nlink > 2)
        st->st_nlink--;
}

int entry_of_created(int parent_fd, const char *name, bool undo, struct fuse_entry_param *e,
                     dur_fh *fh_out)
{
    int fd = openat(parent_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    int err = fd < 0 ? errno : entry_from_fd(fd, e, fh_out);
    if (err && undo) {
        struct stat st;
        bool dir = fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        if (unlinkat(parent_fd, name, dir ? AT_REMOVEDIR : 0) != 0)
            log_msg(LOG_ERR, "%s: created, but no entry for it (%s), and not removed again: %m",
                    name, strerror(err));
    }
    return err;
}

int journal_handle(int dirfd, const char *name, dur_fh *fh)
{
    memset(fh, 0, sizeof(*fh));
    dur_error err;
    if (!g_fs.fs.has_handles || dur_fh_get(dirfd, name, fh, &err) == DUR_OK)
        return 0; /* (a failed dur_fh_get leaves fh zeroed: no handle) */
    if (err.sys_errno == ENOMEM)
        return ENOMEM;
    log_msg(LOG_DEBUG, "no file handle for %s: %s", name[0] ? name : "an inode", err.msg);
    return 0;
}

int entry_from_fd(int opath_fd, struct fuse_entry_param *e, dur_fh *fh_out)
{
    memset(e, 0, sizeof(*e));
    if (fstat(opath_fd, &e->attr) < 0) {
        int er = errno;
        close(opath_fd);
        return er;
    }
    dur_fh fh = {0};
    int er = journal_handle(opath_fd, "", &fh);
    if (er) { /* a node without its handle would make its changes unjournaled */
        close(opath_fd);
        return er;
    }
    if (fh_out)
        *fh_out = fh;
    dnode *n = inode_add(&e->attr, &fh, opath_fd, &er);
    if (!n)
        return er;
    e->ino = inode_id(n);
    e->attr_timeout = g_fs.timeout;
    e->entry_timeout = g_fs.timeout;
    return 0;
}

int entry_lookup(dnode *parent, int parent_fd, const char *name, struct fuse_entry_param *e)
{
    (void)parent;
    memset(e, 0, sizeof(*e));
    if (fstatat(parent_fd, name, &e->attr, AT_SYMLINK_NOFOLLOW) < 0)
        return errno;
    dnode *n = inode_ref_existing(&e->attr);
    if (n) {
        e->ino = inode_id(n);
        e->attr_timeout = g_fs.timeout;
        e->entry_timeout = g_fs.timeout;
        return 0;
    }
    int fd = openat(parent_fd, name, O_PATH | O_NOFOLLOW);
    if (fd < 0)
        return errno;
    return entry_from_fd(fd, e, NULL);
}
