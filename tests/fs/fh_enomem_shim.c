/* TEST ONLY: an LD_PRELOAD shim for tests/fs test_ops.py HandleOutOfMemory.
 * While the file named by $FH_ENOMEM_TRIGGER exists, name_to_handle_at fails
 * with ENOMEM, as the kernel's does when it cannot allocate. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*name_to_handle_fn)(int, const char *, struct file_handle *, int *, int);

int name_to_handle_at(int dirfd, const char *path, struct file_handle *handle, int *mount_id,
                      int flags)
{
    const char *trigger = getenv("FH_ENOMEM_TRIGGER");
    if (trigger && access(trigger, F_OK) == 0) {
        errno = ENOMEM;
        return -1;
    }
    name_to_handle_fn real = NULL;
    void *sym = dlsym(RTLD_NEXT, "name_to_handle_at");
    memcpy(&real, &sym, sizeof real);
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return real(dirfd, path, handle, mount_id, flags);
}
