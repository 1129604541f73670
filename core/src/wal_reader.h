/* Internal: what the WAL writer needs from a finished best-effort scan. */
#ifndef DURABILITY_WAL_READER_H
#define DURABILITY_WAL_READER_H

#include "durability/wal.h"

/* After EOF.  id of the last segment (0 if none); first_lsn its header's first LSN or,
 * when its header is torn, the LSN the previous segment ends before (0 if unknown);
 * header_ok false when the header was torn. */
void wal_reader_last_segment(dur_wal_reader *r, uint64_t *id, uint64_t *first_lsn, bool *header_ok);
/* The LSN the next record would carry (0 if no segment told us). */
uint64_t wal_reader_next_lsn(dur_wal_reader *r);

#endif
