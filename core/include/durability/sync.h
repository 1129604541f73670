/* libdurability: durable sync helpers.
 *
 * The few operations every crash-safe program needs and most get wrong.  Two
 * flavours: on a dur_dir (any backend; backends without real files return
 * DUR_E_NOTSUP rather than pretend) and on raw file descriptors (for programs such
 * as the durfs daemon that already hold fds).
 *
 * Error policy (R6): a failed fsync/fdatasync is returned as DUR_E_IO with its
 * errno and is never retried here: after a failed fsync the kernel may have dropped
 * the dirty pages, so a retry that succeeds proves nothing.  See dur_file_state
 * for sticky per-file error tracking.
 *
 * Thread safety: all functions may be called concurrently on different files.
 */
#ifndef DURABILITY_SYNC_H
#define DURABILITY_SYNC_H

#include "durability/dir.h"

#include <stdatomic.h>

#ifdef __cplusplus
extern "C" {
#endif

/* fdatasync the file. */
dur_code dur_sync_file(dur_file *f, dur_error *err);
/* fsync the directory containing path ("a/b/c" -> "a/b", "c" -> root). */
dur_code dur_sync_parent_dir(dur_dir *d, const char *path, dur_error *err);
/* rename, then sync the parent of `to`, and the parent of `from` when it differs. */
dur_code dur_rename_durable(dur_dir *d, const char *from, const char *to, dur_error *err);
/* Write data to path atomically and durably: unique temp name in the same directory,
 * write, fsync, rename over path, sync parent.  The temp file is removed on any failure.
 * After a crash, path holds either its old content or all of data. */
dur_code dur_atomic_write(dur_dir *d, const char *path, const void *data, size_t len,
                          dur_error *err);

/* ---- fd flavour ---- */
dur_code dur_fd_fdatasync(int fd, const char *what, dur_error *err);
dur_code dur_fd_fsync(int fd, const char *what, dur_error *err);
/* fsync the directory fd (which must be opened O_RDONLY|O_DIRECTORY). */
dur_code dur_fd_sync_dir(int dirfd, const char *what, dur_error *err);
/* syncfs(2) on the filesystem holding fd: every dirty page and metadata change durable. */
dur_code dur_fd_syncfs(int fd, const char *what, dur_error *err);

/* Sticky per-file data durability state (R6).  Embed one per open backing file (or
 * per inode).  note_write() marks it dirty; sync() fdatasyncs only when dirty and
 * remembers a failure forever: every later sync() returns the same error, so a
 * program is never told "durable" for data the kernel may have dropped.
 * All members are atomics: safe to use from several threads. */
typedef struct dur_file_state {
    atomic_uint_fast64_t write_gen; /* bumped by every write */
    atomic_uint_fast64_t sync_gen;  /* write_gen covered by the last successful sync */
    atomic_int failed_errno;        /* 0, or the errno of the first failed sync */
    /* Kept by the namespace journal (nsjournal.h), opaque to the sync helpers:
     * synced_size: the file's size when its data was last made durable
     * (DUR_SIZE_UNKNOWN before that), a hint for choosing between logging small
     * files' content and syncing in place; superseded_lsn: the file's logged
     * contents up to this LSN are superseded by a durable in-place sync. */
    atomic_uint_fast64_t synced_size;
    atomic_uint_fast64_t superseded_lsn;
} dur_file_state;

#define DUR_SIZE_UNKNOWN UINT64_MAX

void dur_file_state_init(dur_file_state *st);
void dur_file_state_note_write(dur_file_state *st);
bool dur_file_state_dirty(const dur_file_state *st);
/* A write of data its writer was already told is written failed (errnum), e.g. a
 * page cache's write-back refused by the disk: that data is lost, so from now on
 * every sync of the file fails with errnum, as after a failed sync.  True when
 * this is the file's first failure (report it once). */
bool dur_file_state_note_lost_write(dur_file_state *st, int errnum);
/* fdatasync (datasync=true) or fsync fd if dirty (or always, with force); sticky errors. */
dur_code dur_file_state_sync(dur_file_state *st, int fd, bool datasync, bool force,
                             const char *what, dur_error *err);
/* As dur_file_state_sync, but the data is made durable by `sync`, a call that covers
 * the file without being its fsync (e.g. syncfs of its filesystem).  Its failure is
 * sticky for st like a failed fdatasync. */
typedef dur_code (*dur_file_state_sync_fn)(void *ctx, dur_error *err);
dur_code dur_file_state_sync_with(dur_file_state *st, dur_file_state_sync_fn sync, void *ctx,
                                  bool force, const char *what, dur_error *err);

#ifdef __cplusplus
}
#endif
#endif
