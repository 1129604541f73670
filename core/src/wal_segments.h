/* Internal: the set of segment files in a WAL directory.
 *
 * Finding segments (names, sorted, consecutive ids), building their paths, and
 * creating a new segment durably.  All I/O goes through the dur_dir vtable.
 */
#ifndef DURABILITY_WAL_SEGMENTS_H
#define DURABILITY_WAL_SEGMENTS_H

#include "durability/dir.h"
#include "wal_format.h"

#include <stdbool.h>
#include <stdint.h>

/* Longest WAL directory path accepted (leaves room for "/wal-<20>.log" and "/LOCK"). */
#define WAL_DIR_MAX 3900u
#define WAL_PATH_BUF 4096u

/* "<dir>/<name>", or just name when dir is "" (the WAL is the root). */
void wal_join(char out[WAL_PATH_BUF], const char *dir, const char *name);
void wal_segment_path(char out[WAL_PATH_BUF], const char *dir, uint64_t id);

/* Segment ids in the WAL directory, ascending; they must be consecutive.  A name that
 * looks like a segment but does not parse, or a hole in the ids, is DUR_E_CORRUPT.
 * *ids is malloc'd (NULL when count is 0); free() it. */
dur_code wal_list_segments(dur_dir *d, const char *dir, uint64_t **ids, size_t *count,
                           dur_error *err);

/* Create segment `id` whose first record will have LSN first_lsn: create (exclusive),
 * write the header, optionally preallocate, fsync the file, then fsync the directory
 * (unless DUR_SKIP_WAL_DIR_SYNC), so the segment exists after a crash before any
 * record in it is ever acknowledged.  On failure *can_do_without says that a
 * resource ran short (fds, memory, space) and the directory is as before (the file
 * never created, or removed again durably): the writer may go on without it. */
dur_code wal_segment_create(dur_dir *d, const char *dir, uint64_t id, uint64_t first_lsn,
                            uint64_t prealloc_bytes, dur_file **out, bool *can_do_without,
                            dur_error *err);

/* Rewrite a torn header in place of an existing last segment (truncate to 0, header,
 * fsync, directory fsync). */
dur_code wal_segment_rewrite(dur_dir *d, const char *dir, uint64_t id, uint64_t first_lsn,
                             dur_file **out, dur_error *err);

#endif
