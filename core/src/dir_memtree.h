/* libdurability internal: the in-memory tree shared by the mem and crash backends.
 *
 * dir_mem.c implements the tree and every dur_dir/dur_file operation on it;
 * dir_crash.c adds durability tracking (the dir_crash_* hooks below) and the
 * power cut.  One mutex per tree serialises everything.
 *
 * Model: inodes are files or directories.  A directory holds two sorted entry
 * arrays, `live` (what operations see) and `durable` (what survives a power cut;
 * only maintained in crash mode).  A file holds its live bytes; in crash mode the
 * durable bytes are described as "live bytes [0, dur_len) with the saved pages
 * patched over them" -- see dir_crash.c.  That keeps appends (the common case)
 * free of any copying: only the first overwrite of a durable page after a sync
 * saves that one page.
 *
 * Inode lifetime: refs counts live entries + durable entries + open files + locks.
 * An inode is freed when refs reaches 0.  A power cut recomputes every count from
 * the surviving tree (mark and sweep), because open files and locks die with it.
 */
#ifndef DURABILITY_DIR_MEMTREE_H
#define DURABILITY_DIR_MEMTREE_H

#include "durability/dir.h"
#include "durability/testing.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIR_MT_PAGE 4096u

typedef struct mt_inode mt_inode;

typedef struct mt_entry {
    char *name;
    mt_inode *ino;
} mt_entry;

typedef struct mt_entries {
    mt_entry *v;
    size_t n, cap;
} mt_entries;

typedef struct mt_saved_page {
    uint64_t page;        /* page index */
    unsigned char *bytes; /* durable bytes of [page*PAGE, min(dur_len, (page+1)*PAGE)) */
} mt_saved_page;

struct mt_inode {
    bool is_dir;
    bool locked; /* held by a dur_lock of this tree */
    bool marked; /* power-cut mark-and-sweep */
    uint64_t refs;
    mt_inode *prev, *next; /* every inode of the tree, for sweeping */
    /* file */
    unsigned char *data;
    uint64_t len, cap;
    uint64_t dur_len;     /* crash mode: durable size */
    mt_saved_page *saved; /* crash mode: sorted by page */
    size_t nsaved, capsaved;
    /* directory */
    mt_entries live;
    mt_entries durable; /* crash mode */
};

typedef struct mt_tree {
    struct dur_dir base;
    pthread_mutex_t mu;
    bool crash;     /* track durability (crash backend) */
    uint64_t epoch; /* bumped by each power cut; stale files/locks are dead */
    mt_inode *root;
    mt_inode *all; /* list head of every inode */
    /* crash mode */
    uint64_t sync_count;
    dur_crash_sync_cb hook;
    void *hook_ctx;
    uint64_t rng;
} mt_tree;

/* dir_mem.c */
dur_code dir_mt_new(bool crash, uint64_t seed, mt_tree **out, dur_error *err);
bool dir_mt_is_tree(dur_dir *d);
mt_inode *dir_mt_inode_new(mt_tree *t, bool is_dir);
void dir_mt_inode_free(mt_tree *t, mt_inode *ino); /* unlinks and frees, no ref changes */
void dir_mt_ref(mt_inode *ino);
void dir_mt_unref(mt_tree *t, mt_inode *ino);
dur_code dir_mt_entries_copy(mt_entries *dst, const mt_entries *src);
void dir_mt_entries_clear(mt_tree *t, mt_entries *e); /* unrefs every inode */

/* dir_crash.c: durability hooks, called with the tree mutex held. */
/* Before bytes [off, end) of ino change (write, truncate): save durable pages. */
dur_code dir_crash_before_change(mt_inode *ino, uint64_t off, uint64_t end);
/* ino's live bytes and size become durable. */
void dir_crash_sync_file(mt_inode *ino);
/* dir's live entries become its durable entries. */
dur_code dir_crash_sync_dir(mt_tree *t, mt_inode *dir);
/* Free crash-only file state. */
void dir_crash_free_pages(mt_inode *ino);

#endif
