/* A pass-through dur_dir that can be frozen: once frozen, every operation fails
 * with EIO before reaching the wrapped directory.  Freezing from a crash simulator's
 * sync hook models "power is cut right after sync point k": nothing the program
 * does afterwards reaches the disk, and a later dur_crash_power_cut() discards
 * exactly what was not durable at that point. */
#ifndef CKPT_TEST_FREEZE_DIR_H
#define CKPT_TEST_FREEZE_DIR_H

#include "durability/dir.h"

dur_dir *freeze_dir_new(dur_dir *inner); /* inner is not owned */
void freeze_dir_set(dur_dir *d, bool frozen);
bool freeze_dir_frozen(dur_dir *d);

#endif
