/* durfs daemon: state shared by the daemon's files.
 *
 * The daemon is a passthrough: every request is answered by the same call on the
 * BACKING tree, bracketed by the namespace journal (core/include/durability/
 * nsjournal.h), which holds all durability logic.  Nothing here decides when to
 * fsync.  See fs/README.md for the request flow.
 */
#ifndef DURFS_H
#define DURFS_H

#define FUSE_USE_VERSION 314

#include "durability/nsjournal.h"

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "options.h"

/* At most one log line per LOG_LIMIT_SECONDS for one subject: a program that
 * keeps failing to fsync a file in a loop must not flood syslog (log.c). */
#define LOG_LIMIT_SECONDS 10
typedef struct log_limit {
    atomic_llong next_ns; /* CLOCK_MONOTONIC; 0 = log the next one */
    atomic_uint held_back;
} log_limit;

/* Per-inode state for files opened through durfs: the sticky data-durability
 * state shared by every open handle of the inode (R6). */
typedef struct dnode_file {
    dur_file_state st;
    atomic_int opens;          /* open handles */
    atomic_int writable_opens; /* of which opened for writing */
    /* writeback cache: the mtime the kernel last set (ns since the epoch, 0 =
     * none) and whether a write reached the backing file after it; the kernel
     * may send that setattr before the WRITE it stamps (ops_file.c) */
    atomic_llong kernel_mtime_ns;
    atomic_bool written_after_mtime;
    /* BACKING refused a write-back (errno in refused_errno) and no write(2) has
     * failed for it yet: the next one through a writable handle does
     * (ops_file.c, "Refused write-backs") */
    atomic_bool refusal_unreported;
    atomic_int refused_errno;
    log_limit error_log; /* failed write/close/fsync lines (ops_file.c) */
} dnode_file;

/* One backing inode the kernel knows (or a "zombie": forgotten by the kernel but
 * kept because its file data is not yet known durable, see inode.c). */
typedef struct dnode {
    struct dnode *hnext;        /* hash chain */
    uint64_t dev, ino;          /* key: backing st_dev/st_ino */
    uint64_t nlookup;           /* kernel lookup count (table lock) */
    int fd;                     /* permanent O_PATH fd (fallback mode), else -1 */
    int slot;                   /* fd-cache slot, -1 if none (table lock) */
    uint32_t mode;              /* S_IFMT bits */
    bool in_table;              /* still reachable through the hash */
    bool maybe_gone;            /* nlink reached 0 through us: check identity on lookup */
    bool zombie;                /* nlookup 0, kept for its file state (table lock) */
    bool held;                  /* lost its last name: pins its own fd slot until
                                 * freed (inode_hold_removed; table lock) */
    uint8_t busy;               /* being settled outside the lock: do not free */
    _Atomic(dnode_file *) file; /* allocated on first open */
    atomic_uint fcaps;          /* security.capability known absent: generation << 1 | 1
                                 * (ops_xattr.c) */
    uint16_t fh_len;            /* handle stored at its real length */
    int32_t fh_type;
    unsigned char fh_data[]; /* fh_len bytes */
} dnode;

typedef struct durfs {
    durfs_options opt;
    int backing_fd; /* O_DIRECTORY fd of BACKING, opened before mounting */
    uint64_t backing_dev;
    dur_ns *ns;
    dur_ns_recovery recovery;
    dur_fs_policy fs;
    bool handles; /* inodes are reopened from their handles; else each keeps an
                   * O_PATH fd (handles are still taken for the journal when
                   * fs.has_handles) */
    dnode *root;
    char backing_abs[4096], mount_abs[4096];
    char journal_where[4200]; /* "journal DIR": names the journal in error messages */
    struct timespec started;
    bool writeback;
    bool reserved_is_dir;    /* BACKING/.durfs is a directory (counted in the root's nlink) */
    struct fuse_session *se; /* for kernel notifications */
    double timeout;          /* entry/attr cache seconds */
    atomic_uint_fast64_t lost_writebacks; /* files whose cached writes BACKING refused */
} durfs;

extern durfs g_fs;

/* ---- inode.c: the inode table and the O_PATH fd cache ---- */
int inode_table_init(size_t fd_cache_slots);

void inode_table_destroy(void);
dnode *inode_get(fuse_ino_t ino);
fuse_ino_t inode_id(dnode *n);
void inode_fh(const dnode *n, dur_fh *out);
/* Find or create the node for (st, fh); takes one kernel lookup reference.
 * opath_fd (may be -1) is an O_PATH fd of the object, consumed. */
dnode *inode_add(const struct stat *st, const dur_fh *fh, int opath_fd, int *err);
/* Node already in the table (no reference taken), or NULL. */
dnode *inode_find(uint64_t dev, uint64_t ino);
void inode_forget(dnode *n, uint64_t nlookup);
/* Removing a name that may be the object's last (unlink, rmdir, rename over
 * it): before the backing call, inode_prepare_hold keeps an fd of the object in
 * h: it pins the node's cached fd, or opens one of parent_fd/name when the node
 * has none (h empty when nothing is to be held).  After the removal succeeded,
 * inode_hold_removed marks the node maybe_gone and turns h into the node's hold
 * of the object until the kernel forgets it; after a failure inode_hold_cancel
 * gives it back.  Each consumes h; both accept an empty one. */
typedef struct inode_hold {
    int fd;   /* O_PATH fd opened for the node, or -1 */
    int slot; /* the node's cache slot, pinned (reserved for the hold), or -1 */
} inode_hold;
#define INODE_HOLD_NONE ((inode_hold){.fd = -1, .slot = -1})
void inode_prepare_hold(int parent_fd, const char *name, const struct stat *st, inode_hold *h);
void inode_hold_removed(const struct stat *st, inode_hold *h);
void inode_hold_cancel(inode_hold *h);
#ifdef DUR_TEST_HOOKS
/* TEST ONLY (DURFS_TEST_EVICT_AT_REMOVE=PREFIX, test_hooks builds): a removal of a
 * name starting with PREFIX evicts every unpinned fd-cache slot between
 * inode_prepare_hold and the backing call, as other threads' fdref_get may. */
void inode_test_evict_at_remove(const char *name);
#else
static inline void inode_test_evict_at_remove(const char *name)
{
    (void)name;
}
#endif
dnode_file *inode_file(dnode *n); /* allocate on demand */
size_t inode_count(void);

/* An O_PATH fd of a node, pinned until fdref_put. */
typedef struct fdref {
    int fd;
    int slot;   /* pinned cache slot, or -1 */
    bool owned; /* close at put */
} fdref;
int fdref_get(dnode *n, fdref *r); /* 0 or errno */
/* Both or neither: on failure nothing is held.  0 or errno. */
int fdref_get2(dnode *a, fdref *ra, dnode *b, fdref *rb);
void fdref_put(fdref *r);
/* A real fd of the node opened with flags (O_RDONLY etc.); -errno on failure. */
int inode_open(dnode *n, int flags);

/* Look up parent/name: fills e, takes a reference.  Returns 0 or errno. */
int entry_lookup(dnode *parent, int parent_fd, const char *name, struct fuse_entry_param *e);
/* As entry_lookup from an O_PATH fd the caller just opened (consumed). */
int entry_from_fd(int opath_fd, struct fuse_entry_param *e, dur_fh *fh_out);
/* The handle journal records give name in dirfd ("" = dirfd itself): 0, with
 * fh->len 0 where there is none (no handles on BACKING, a submount without);
 * ENOMEM when it could not be had for want of memory.  Taken before a change
 * is applied: refused then, the change cannot go unjournaled (a record
 * without its handle cannot be written). */
int journal_handle(int dirfd, const char *name, dur_fh *fh);
/* The entry of parent/name, which this request just created (undo) or opened.
 * When it cannot be made (the daemon is out of fds or memory) a created object
 * is removed again: it is in no journal record, and left behind it would sit in
 * BACKING unknown to the kernel, where natively a failed create leaves nothing. */
int entry_of_created(int parent_fd, const char *name, bool undo, struct fuse_entry_param *e,
                     dur_fh *fh_out);
bool is_reserved(dnode *parent, const char *name);
/* The root's st_nlink without the hidden journal directory (.durfs). */
void hide_reserved_link(const dnode *n, struct stat *st);

/* ---- fd budget (fd_budget.c): open handles may not take the journal's fds ---- */
/* Split RLIMIT_NOFILE; returns the fd cache's slots (at most cache_slots_wanted). */
size_t fd_budget_init(size_t cache_slots_wanted);
/* One more open file or directory handle: 0, or EMFILE when the budget is spent.
 * Every successful take is paired with one fd_budget_give when the handle goes. */
int fd_budget_take(void);
void fd_budget_give(void);

/* ---- conn_abort.c: freeing a kernel wait nobody will answer ---- */
/* From the main thread, before the request loop: fork the watchdog. */
void conn_abort_watchdog_start(void);
/* Once the mount answers (mount_root: stat of MOUNTPOINT): open the connection's
 * abort file and tell the watchdog which connection it guards. */
void conn_abort_arm(const struct stat *mount_root);
/* Until conn_abort_unwatch: abort the connection if, after an exit request,
 * renames still wait for the kernel's write-back (renames_writing_back) for 2 s. */
void conn_abort_watch(struct fuse_session *se);
/* After the loop ended, before the session is destroyed. */
void conn_abort_unwatch(void);
/* After fuse_session_unmount, when the connection was aborted (conn_is_aborted
 * before it, which closes /dev/fuse): detach MOUNTPOINT, which libfuse leaves. */
void conn_abort_unmount(const char *mnt);
/* After the loop ended: dismiss the watchdog. */
void conn_abort_watchdog_stop(void);
/* The connection is aborted (by anyone): a write-back notification that returned
 * may not have brought the pages (the kernel does not say). */
bool conn_is_aborted(void);
/* ---- fuse_io.c: our reads and writes of /dev/fuse (KILLPRIV_V2) ---- */
/* After fuse_session_mount, before the request loop: 0 or -errno. */
int fuse_io_install(struct fuse_session *se);
/* The kernel agreed to FUSE_HANDLE_KILLPRIV_V2 (known once INIT is answered). */
bool fuse_io_killpriv_v2(void);
/* The request this worker thread is serving carries FUSE_WRITE_KILL_SUIDGID,
 * FATTR_KILL_SUIDGID or FUSE_OPEN_KILL_SUIDGID: the caller may not keep set-id
 * bits (it lacks CAP_FSETID), and the kernel left clearing them to us. */
bool fuse_io_request_kills_suidgid(void);
/* ops_namespace.c: renames now waiting in the kernel's write-back of open files */
unsigned renames_writing_back(void);

/* ---- creds.c ---- */
typedef struct creds_saved {
    bool switched;     /* creds_leave has something to undo */
    bool ids_switched; /* fsuid/fsgid (and groups) were changed */
    bool keep_groups;  /* ...but not the groups */
    bool caps_raised;  /* creds_keep_caps raised its capabilities */
    bool caps_touched; /* capset was called: creds_leave puts the thread's own back */
    bool umask_set;    /* umask was changed; umask holds the one to restore */
    mode_t umask;
} creds_saved;
void creds_init(void); /* remember the daemon's own groups (before threads) */
extern bool g_dont_mask;
/* Become the caller (fsuid/fsgid/groups, umask) for a creating call on this thread. */
int creds_enter(fuse_req_t req, creds_saved *s);
void creds_leave(creds_saved *s);
/* Between creds_enter and creds_leave: BACKING's permission check passes as the
 * kernel's did (see creds.c), for the creating call only; creds_drop_caps ends it. */
void creds_keep_caps(creds_saved *s);
void creds_drop_caps(creds_saved *s);
/* Setting an access ACL: CAP_FOWNER (the kernel checked owner-or-CAP_FOWNER) and
 * the caller's own CAP_FSETID, which decides whether BACKING clears setgid. */
void creds_for_access_acl(fuse_req_t req, creds_saved *s);
/* After creds_enter: CAP_FSETID as the caller has it, so that BACKING keeps or
 * clears set-id bits on a truncation exactly as for the caller natively. */
void creds_caller_fsetid(fuse_req_t req, creds_saved *s);
/* The caller holds capability cap (< 32) in its effective set; false when it
 * cannot be read (the caller is gone). */
bool creds_caller_has_cap(fuse_req_t req, int cap);
/* The caller is known to lack cap (false when it cannot be seen: pid 0). */
bool creds_caller_lacks_cap(fuse_req_t req, int cap);
/* The caller is known to be in the daemon's user namespace. */
bool creds_caller_in_our_user_ns(fuse_req_t req);
/* gid is the caller's group or one of its supplementary groups. */
bool creds_caller_in_group(fuse_req_t req, gid_t gid);
/* Write file data as its owner (quota, ext4's reserve for root); creds_leave. */
void creds_enter_data_owner(uid_t uid, gid_t gid, creds_saved *s);

/* ---- ops ---- */
/* worker threads of the request loop (ops_namespace.c counts on more than one) */
#define DURFS_MAX_THREADS 16
extern const struct fuse_lowlevel_ops durfs_ops;
void reply_err(fuse_req_t req, int e);
/* dur_ns_begin -> 0, or EIO when the journal refuses changes (poisoned), ENOSPC
 * when its filesystem is full: skip the backing call then, so a refused change has
 * no effect; end_op in every case. */
int begin_op(dur_ns_op *op);
/* begin_op for unlink, rmdir, removexattr, truncate: dur_ns_begin_freeing */
int begin_freeing_op(dur_ns_op *op);
int end_op(dur_ns_op *op, int sys_result_errno); /* dur_ns_end -> errno */
/* end_op for a change of regular file n's size: dur_ns_end fsyncs it, and that
 * fsync may be the first to see (and so consume) a write-back error of the file;
 * when it fails after the change applied, every later sync of n fails too (R6). */
int end_size_op(dur_ns_op *op, int sys_result_errno, dnode *n);
/* errno for a failed sync of a file's data: out of space (BACKING refused the data,
 * or the journal its record) says so, as a local filesystem's close and fsync
 * would; anything else is EIO. */
int sync_failure_errno(const dur_error *err);

/* ---- log.c ---- */
void log_init(bool foreground, bool debug);
void log_detach_stderr(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_ns_callback(void *ctx, int level, const char *msg);
void log_dur_error(const char *what, const dur_error *err);
/* log_limit: log now? *held_back = lines held back since the last one. */
bool log_limit_pass(log_limit *l, unsigned *held_back);
extern bool g_debug;

/* ---- control.c ---- */
bool control_is_name(const char *name);
void control_getxattr(fuse_req_t req, const char *name, size_t size);
void control_setxattr(fuse_req_t req, const char *name);

#endif
