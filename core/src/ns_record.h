/* Namespace journal records: in-memory form and the versioned byte codec.
 * Byte layout: docs/format-journal.md. */
#ifndef DUR_NS_RECORD_H
#define DUR_NS_RECORD_H

#include "durability/fh.h"

#include <stddef.h>
#include <stdint.h>

#define NS_REC_VERSION 1
#define NS_NAME_MAX 255          /* one path component (NAME_MAX) */
#define NS_TARGET_MAX 4095       /* symlink target (PATH_MAX - 1) */
#define NS_XATTR_VALUE_MAX 65536 /* XATTR_SIZE_MAX */
#define NS_FILE_DATA_MAX 65536   /* content bytes of one FILE_DATA record */

/* WAL record type byte = operation kind (1..239 are the caller's). */
typedef enum ns_rec_type {
    NS_REC_CREATE = 1,
    NS_REC_LINK = 2,
    NS_REC_REMOVE = 3,
    NS_REC_RENAME = 4,
    NS_REC_SETATTR = 5,
    NS_REC_SETXATTR = 6,
    NS_REC_REMOVEXATTR = 7,
    NS_REC_FILE_DATA = 8,   /* a small file's whole content, logged at close */
    NS_REC_FILE_SYNCED = 9, /* the file was synced in place: earlier FILE_DATA is stale */
} ns_rec_type;

const char *ns_rec_type_name(unsigned type);

/* One decoded record.  Which fields are meaningful depends on type:
 *   CREATE       parent, name, obj, mode (with S_IFMT), uid, gid, rdev, target (symlinks)
 *   LINK         obj, parent2 (new parent), name2 (new name)
 *   REMOVE       parent, name, obj, is_dir
 *   RENAME       parent/name (old), parent2/name2 (new), flags, obj, other (replaced; len 0 = none)
 *   SETATTR      obj, valid, mode, uid, gid, size, atime, mtime
 *   SETXATTR     obj, xname, value/value_len, flags
 *   REMOVEXATTR  obj, xname
 *   FILE_DATA    obj, value/value_len (the whole content)
 *   FILE_SYNCED  obj, covers (FILE_DATA records of obj with LSN <= covers are stale)
 * Names are NUL-terminated copies; target and value point into the decoded payload. */
typedef struct ns_record {
    /* widest fields first: no padding between them (the struct is not on disk) */
    uint64_t rdev, size, covers;
    int64_t atime_sec, mtime_sec;
    const char *target; /* not NUL-terminated: target_len bytes */
    const void *value;
    dur_fh parent, parent2, obj, other;
    uint32_t mode, uid, gid, flags, valid;
    uint32_t atime_nsec, mtime_nsec;
    uint32_t target_len;
    uint32_t value_len;
    char name[NS_NAME_MAX + 1], name2[NS_NAME_MAX + 1], xname[NS_NAME_MAX + 1];
    uint8_t type;
    uint8_t is_dir;
} ns_record;

/* Largest encoded payload (SETXATTR with the biggest value dominates). */
#define NS_REC_MAX_BYTES (NS_XATTR_VALUE_MAX + 4096)

/* Encode rec into buf (at least NS_REC_MAX_BYTES); *len receives the size.
 * Refuses invalid names/sizes with DUR_E_INVAL (the daemon never passes them). */
dur_code ns_record_encode(const ns_record *rec, unsigned char *buf, size_t *len, dur_error *err);

/* Decode and validate type/payload of the record at lsn.  Any truncation, trailing
 * byte, bad version, oversize or illegal name ('/', NUL, "", ".", "..") gives
 * DUR_E_CORRUPT naming the LSN and payload offset. */
dur_code ns_record_decode(uint8_t type, const void *payload, size_t len, uint64_t lsn,
                          ns_record *out, dur_error *err);

/* Check one path component: 1..255 bytes, no '/', not "." or "..". */
bool ns_name_valid(const char *name, size_t len);

/* One line "LSN TYPE fields..." for dumps and logs. */
void ns_record_format(const ns_record *rec, uint64_t lsn, char *buf, size_t size);

#endif
