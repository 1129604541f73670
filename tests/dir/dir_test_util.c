/* tests/dir: helpers shared by the directory-layer tests. */
#include "dir_test_util.h"

#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

char *tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/durdir-test-XXXXXX", base && base[0] ? base : "/tmp");
    char *p = mkdtemp(tmpl);
    assert_non_null(p);
    return strdup(p);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_rmtree(const char *path)
{
    if (path)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_write(dur_dir *d, const char *path, const void *data, size_t len)
{
    dur_file *f = NULL;
    dur_error err;
    assert_int_equal(dur_dir_create(d, path, &f, &err), DUR_OK);
    if (len)
        assert_int_equal(f->ops->pwrite(f, data, len, 0, &err), DUR_OK);
    dur_file_close(f);
}

void tu_write_str(dur_dir *d, const char *path, const char *s)
{
    tu_write(d, path, s, strlen(s));
}

char *tu_read(dur_dir *d, const char *path, size_t *len, dur_code *rc)
{
    void *data = NULL;
    size_t n = 0;
    dur_error err;
    dur_code c = dur_file_read_all(d, path, 1 << 24, &data, &n, &err);
    if (rc)
        *rc = c;
    if (c != DUR_OK)
        return NULL;
    char *s = realloc(data, n + 1);
    assert_non_null(s);
    s[n] = '\0';
    if (len)
        *len = n;
    return s;
}

int tu_content_is(dur_dir *d, const char *path, const char *s)
{
    size_t n;
    char *got = tu_read(d, path, &n, NULL);
    int ok = got && n == strlen(s) && memcmp(got, s, n) == 0;
    free(got);
    return ok;
}

char *tu_small_tmpfs(const char *size)
{
    if (geteuid() != 0) {
        print_message("skipped: needs root to mount a small tmpfs\n");
        skip();
    }
    char *mnt = tu_mkdtemp();
    char opts[64];
    snprintf(opts, sizeof opts, "size=%s", size);
    if (mount("durfs-test", mnt, "tmpfs", 0, opts) != 0) {
        print_message("skipped: cannot mount tmpfs: %s\n", strerror(errno));
        rmdir(mnt);
        free(mnt);
        skip();
        return NULL; /* not reached: skip() jumps out of the test */
    }
    return mnt;
}

int tu_small_tmpfs_teardown(void **state)
{
    char *path = *state;
    if (path) {
        umount2(path, MNT_DETACH);
        rmdir(path);
        free(path);
    }
    *state = NULL;
    return 0;
}
