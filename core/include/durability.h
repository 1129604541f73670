/* libdurability: umbrella header. */
#ifndef DURABILITY_H
#define DURABILITY_H
#include "durability/error.h"
#include "durability/dir.h"
#include "durability/sync.h"
#include "durability/fh.h"
#include "durability/wal.h"
#include "durability/checkpoint.h"
#include "durability/recovery.h"
#include "durability/nsjournal.h"
#endif
