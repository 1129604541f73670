/* libdurability internal: helpers shared by the directory backends.
 *
 * Paths handed to these helpers have already passed dur_path_check(), so they are
 * relative, have no empty/"."/".." components and no trailing '/'.
 */
#ifndef DURABILITY_DIR_UTIL_H
#define DURABILITY_DIR_UTIL_H

#include "durability/dir.h"

#include <stddef.h>

/* Length of the parent part of path: "a/b/c" -> 3 ("a/b"), "c" -> 0 (root). */
size_t dir_parent_len(const char *path);
/* Pointer to the last component: "a/b/c" -> "c". */
const char *dir_base_name(const char *path);
/* malloc'd copy of the parent ("" for the root), or NULL on OOM. */
char *dir_parent_dup(const char *path);
/* Sort names bytewise (strcmp). */
void dir_names_sort(dur_names *names);
/* Append a copy of name to names; DUR_E_NOMEM on failure. */
dur_code dir_names_push(dur_names *names, const char *name, dur_error *err);
/* Error for a failed allocation, naming path. */
dur_code dir_nomem(dur_error *err, const char *path);

/* Test-only: make the fs backend use its O_NOFOLLOW component walk as if the
 * kernel had no openat2 (process-wide). */
void dir_fs_force_walk(bool on);
/* The dir a fault injector wraps, or NULL if d is not a fault injector. */
dur_dir *dir_fault_inner(dur_dir *d);

/* Every backend's lock starts with this header; dur_lock_release() dispatches. */
struct dur_lock {
    void (*release)(dur_lock *lock);
};

#endif
