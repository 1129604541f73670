/* Injected by tests/lint.sh (clang-tidy only, via -include) ahead of every
 * linted file except error.c and path.c, which define these functions.
 *
 * Why: the clang static analyzer sees one translation unit at a time, so it
 * cannot know that the error helpers return their code argument (as their
 * headers document).  Without this it explores "error recorded but DUR_OK
 * returned" paths that cannot happen and reports uninitialized out-parameters
 * on them.  These macros state the documented contract and change nothing in
 * the real build.
 */
#ifndef DURFS_LINT_ANALYZER_HINTS_H
#define DURFS_LINT_ANALYZER_HINTS_H

#if __has_include("durability/error.h")
#include "durability/error.h"
#define dur_error_set(err, code, ...) ((void)dur_error_set(err, code, __VA_ARGS__), (code))
#define dur_error_set_at(err, code, ...) ((void)dur_error_set_at(err, code, __VA_ARGS__), (code))
#endif

#if __has_include("dir_util.h")
#include "dir_util.h"
#define dir_nomem(err, path) ((void)dir_nomem(err, path), DUR_E_NOMEM)
#endif

#endif
