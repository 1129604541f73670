/* Namespace journal replay: redo each record whose effect is missing from BACKING.
 * Rules and the convergence argument: top of ns_replay.c and docs/design.md. */
#ifndef DUR_NS_REPLAY_H
#define DUR_NS_REPLAY_H

#include "durability/nsjournal.h"

typedef struct ns_replay ns_replay;

/* backing_fd: BACKING's root (not owned).  jdir: the journal directory (read for the
 * pre-pass; the map of re-created objects is kept in jdir/replay-map while
 * recovery runs, also on a read-only mount).  hardens: an fdatasync in jdir hardens
 * BACKING's metadata (same ext4/XFS); otherwise each re-creation syncfs()es first.
 * map_on_backing_fs: jdir is on BACKING's filesystem (a syncfs of BACKING also
 * makes the map durable). */
dur_code ns_replay_new(int backing_fd, dur_dir *jdir, bool hardens, bool map_on_backing_fs,
                       dur_ns_log_fn log, void *log_ctx, ns_replay **out, dur_error *err);
/* Replay one WAL record (checkpoint markers and other library records are ignored). */
dur_code ns_replay_record(ns_replay *r, uint8_t type, const void *payload, size_t len, uint64_t lsn,
                          dur_error *err);
void ns_replay_counts(const ns_replay *r, uint64_t *redone, uint64_t *already, uint64_t *skipped);
/* After the WAL was read to last_lsn (its last valid LSN, or the checkpoint's):
 * the marks of an interrupted recovery cannot name a later record, which would
 * have taken unreplayed records as done (a damaged replay map). */
dur_code ns_replay_check_marks(const ns_replay *r, uint64_t last_lsn, dur_error *err);
/* The mode of the session that wrote the log (the latest checkpoint's payload);
 * false when there is no checkpoint or its payload names none. */
bool ns_replay_writer_mode(const ns_replay *r, dur_ns_mode *mode);
/* After the post-recovery checkpoint: the persisted map is no longer needed. */
dur_code ns_replay_discard_map(dur_dir *jdir, dur_error *err);
void ns_replay_free(ns_replay *r);

/* TEST ONLY: a deliberately broken RENAME rule (redo whenever the old name exists,
 * judged by name alone -- the SplitFS#67 bug) so tests can show they catch it. */
extern bool ns_replay_test_rename_by_name;
/* TEST ONLY: fail recovery (as a crash would stop it) once this many records were
 * redone; 0 = off. */
extern uint64_t ns_replay_test_fail_after;
/* TEST ONLY: fail recovery inside the re-creation that would be the N-th redone
 * record, after the create and before its mapping (the window a crash can hit);
 * 0 = off. */
extern uint64_t ns_replay_test_fail_mid_create;
/* TEST ONLY: do not take records up to the newest CREATE whose object exists as
 * applied, so the per-record identity rules alone are exercised. */
extern bool ns_replay_test_no_evidence;
/* TEST ONLY: a SETATTR(SIZE) does not supersede earlier FILE_DATA. */
extern bool ns_replay_test_size_covers_nothing;
/* TEST ONLY: called as replay persists its progress: 'S' before a syncfs of BACKING,
 * 'M' after appending a map entry (a re-created object), 'F' before fdatasync of
 * the map, 'P' after appending a progress mark, 'C' after a creating mark.  Lets a test check the
 * order. */
extern void (*ns_replay_test_event)(char event);

#endif
