/* Fuzz target: checkpoint images.  Input = the bytes of one checkpoint file.
 * dur_checkpoint_decode must never crash, and the file path (dur_checkpoint_load_latest,
 * which reads the header first and the payload only after checking its length) must
 * reach the same verdict. */
#include "fuzz_util.h"

#include "durability/checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dur_checkpoint cp;
    dur_error err;
    dur_code rc = dur_checkpoint_decode(data, size, "fuzz.ckpt", &cp, &err);
    if (rc == DUR_OK) {
        if (cp.len != size - 40 || (cp.len && memcmp(cp.payload, data + 40, cp.len) != 0))
            abort(); /* decoded payload is not the bytes after the header */
    } else if (rc != DUR_E_CORRUPT || !err.has_offset || strcmp(err.path, "fuzz.ckpt") != 0) {
        abort(); /* damage must be reported as corruption with file and offset */
    }

    /* Same bytes as a file named after the header's LSN. */
    uint64_t lsn = 0;
    for (int i = 7; i >= 0 && size >= 24; i--)
        lsn = (lsn << 8) | data[16 + i];
    char name[80];
    snprintf(name, sizeof(name), "ck/checkpoint-%020" PRIu64 ".ckpt", lsn);
    dur_dir *d;
    if (dur_dir_new_mem(&d, &err) != DUR_OK || dur_dir_mkdir_p(d, "ck", &err) != DUR_OK)
        abort();
    fuzz_put(d, name, data, size);
    dur_checkpoint cp2;
    bool found = false;
    dur_code rc2 = dur_checkpoint_load_latest(d, "ck", DUR_READ_STRICT, &cp2, &found, &err);
    if ((rc == DUR_OK) != (rc2 == DUR_OK) || found != (rc2 == DUR_OK))
        abort(); /* decode and load disagree */
    if (rc == DUR_OK && (cp2.lsn != cp.lsn || cp2.len != cp.len))
        abort();
    dur_checkpoint_free(&cp2);
    dur_checkpoint_free(&cp);
    dur_dir_close(d);
    return 0;
}
