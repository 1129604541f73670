/* durfsctl: the running daemon's control interface -- extended attributes on the
 * mount point (root only; trusted.* is invisible to other users). */
#ifndef DURFS_CTL_CONTROL_H
#define DURFS_CTL_CONTROL_H

#include "json.h"

#define CTL_XATTR_STATUS "trusted.durfs.status"
#define CTL_XATTR_STATS "trusted.durfs.stats"
#define CTL_XATTR_CHECKPOINT "trusted.durfs.checkpoint"

/* Reads and parses the document. On failure prints a one-line error naming dir
 * and the cause to stderr and returns NULL. raw (optional) receives the text
 * (caller frees). */
json *ctl_read(const char *dir, const char *xattr, char **raw);

/* Asks for a checkpoint; 0 ok, -1 after printing the error. */
int ctl_checkpoint(const char *dir);

#endif
