/* Shared by the fuzz targets: put bytes into a file of an in-memory directory. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include "durability/dir.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static inline void fuzz_put(dur_dir *d, const char *path, const void *data, size_t len)
{
    dur_file *f;
    dur_error err;
    if (dur_dir_create(d, path, &f, &err) != DUR_OK)
        abort(); /* the in-memory backend must take any valid path */
    if (len && f->ops->pwrite(f, data, len, 0, &err) != DUR_OK)
        abort();
    dur_file_close(f);
}

/* "wal/wal-<id>.log" with the id a segment header at data claims (bytes 16..23), or
 * fallback when the image is too short: lets the reader get past its name check. */
static inline void fuzz_segment_name(char *buf, size_t size, const uint8_t *data, size_t len,
                                     uint64_t fallback)
{
    uint64_t id = 0;
    for (int i = 7; i >= 0 && len >= 24; i--)
        id = (id << 8) | data[16 + i];
    snprintf(buf, size, "wal/wal-%020llu.log", (unsigned long long)(len >= 24 ? id : fallback));
}

#endif
