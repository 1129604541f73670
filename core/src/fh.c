/* libdurability: kernel file handles and backing-filesystem probing.
 *
 * A handle from name_to_handle_at() names an inode (on ext4/XFS/btrfs: inode
 * number + generation), independent of any path, and stays valid across remounts
 * and crashes for inodes that were durable.  open_by_handle_at() needs
 * CAP_DAC_READ_SEARCH; without it we say so instead of failing obscurely.
 *
 * The probe decides how much the namespace journal may rely on the backing fs:
 * only on a journaled ext4 (jbd2 present) or XFS does one fsync commit the
 * filesystem journal and harden every earlier metadata operation in order; on
 * anything else the journal must syncfs at commit points.  Unknown is treated as
 * the weakest case, never the strongest.  ext4 with fast_commit is weaker still:
 * the power-cut rig found fsync'ed appends lost there (kernel 6.18), so neither
 * kind of fsync is trusted and every sync point becomes a syncfs (a full jbd2
 * commit).
 */
#include "durability/fh.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

bool dur_fh_equal(const dur_fh *a, const dur_fh *b)
{
    return a->len == b->len && a->type == b->type && memcmp(a->data, b->data, a->len) == 0;
}

dur_code dur_fh_get(int dirfd, const char *name, dur_fh *out, dur_error *err)
{
    memset(out, 0, sizeof *out);
    const char *n = name ? name : "";
    /* name_to_handle_at never follows a final symlink unless AT_SYMLINK_FOLLOW is given;
     * AT_SYMLINK_NOFOLLOW is not an accepted flag there (EINVAL). */
    int flags = n[0] ? 0 : AT_EMPTY_PATH;
    /* Start with the size every common fs needs; grow if the kernel asks. */
    unsigned int cap = 64;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct file_handle *h = malloc(sizeof *h + cap);
        if (!h)
            return dur_error_set(err, DUR_E_NOMEM, ENOMEM, n, "out of memory");
        h->handle_bytes = cap;
        int mount_id;
        int r = name_to_handle_at(dirfd, n, h, &mount_id, flags);
        int e = errno;
        if (r == 0) {
            unsigned int got = h->handle_bytes;
            if (got > DUR_FH_MAX_BYTES) {
                free(h);
                return dur_error_set(err, DUR_E_NOTSUP, EOVERFLOW, n,
                                     "file handle of %u bytes exceeds %d", got, DUR_FH_MAX_BYTES);
            }
            out->len = h->handle_bytes;
            out->type = h->handle_type;
            memcpy(out->data, h->f_handle, h->handle_bytes);
            free(h);
            return DUR_OK;
        }
        unsigned int need = h->handle_bytes;
        free(h);
        if (e == EOVERFLOW && attempt == 0 && need > cap && need <= 4096) {
            cap = need;
            continue;
        }
        if (e == EOPNOTSUPP || e == ENOSYS)
            return dur_error_set(err, DUR_E_NOTSUP, e, n,
                                 "filesystem does not support file handles");
        if (e == ENOENT || e == ENOTDIR)
            return dur_error_set(err, DUR_E_NOTFOUND, e, n, "name_to_handle_at: no such file");
        return dur_error_set(err, DUR_E_IO, e, n, "name_to_handle_at failed");
    }
    return dur_error_set(err, DUR_E_IO, EOVERFLOW, n, "file handle size kept changing");
}

dur_code dur_fh_open(int mount_fd, const dur_fh *fh, int flags, int *fd_out, dur_error *err)
{
    *fd_out = -1;
    if (fh->len == 0 || fh->len > DUR_FH_MAX_BYTES)
        return dur_error_set(err, DUR_E_INVAL, EINVAL, NULL, "invalid file handle (%u bytes)",
                             fh->len);
    struct file_handle *h = malloc(sizeof *h + fh->len);
    if (!h)
        return dur_error_set(err, DUR_E_NOMEM, ENOMEM, NULL, "out of memory");
    h->handle_bytes = fh->len;
    h->handle_type = fh->type;
    memcpy(h->f_handle, fh->data, fh->len);
    /* ENOMEM: the kernel (6.18, ext4) answers so for an inode still being
     * evicted right after its unlink, under load; a retry a few milliseconds
     * later got ESTALE every time (68 of 68, with drop_caches and sync running
     * alongside).  Treating it as gone at once could be wrong for a real
     * allocation failure, so wait for the eviction, bounded (~0.2 s); an
     * ENOMEM that lasts is reported as an error. */
    int fd, enomem_retries = 200;
    for (;;) {
        fd = open_by_handle_at(mount_fd, h, flags | O_CLOEXEC);
        if (fd >= 0 || (errno != EINTR && (errno != ENOMEM || enomem_retries-- == 0)))
            break;
        if (errno == ENOMEM)
            usleep(1000);
    }
    int e = errno;
    free(h);
    if (fd >= 0) {
        *fd_out = fd;
        return DUR_OK;
    }
    char hex[2 * DUR_FH_MAX_BYTES + 16];
    dur_fh_format(fh, hex, sizeof hex);
    if (e == ESTALE || e == ENOENT)
        return dur_error_set(err, DUR_E_NOTFOUND, e, NULL, "inode of handle %s no longer exists",
                             hex);
    if (e == EPERM)
        return dur_error_set(err, DUR_E_NOTSUP, e, NULL,
                             "open_by_handle_at needs CAP_DAC_READ_SEARCH (run as root)");
    if (e == EOPNOTSUPP)
        return dur_error_set(err, DUR_E_NOTSUP, e, NULL, "filesystem does not support handles");
    return dur_error_set(err, DUR_E_IO, e, NULL, "open_by_handle_at of %s failed", hex);
}

char *dur_fh_format(const dur_fh *fh, char *buf, size_t size)
{
    if (!buf || size == 0)
        return buf;
    int n = snprintf(buf, size, "%d:", fh->type);
    size_t pos = n > 0 ? (size_t)n : 0;
    for (uint32_t i = 0; i < fh->len && i < DUR_FH_MAX_BYTES && pos + 2 < size; i++) {
        snprintf(buf + pos, size - pos, "%02x", fh->data[i]);
        pos += 2;
    }
    if (pos >= size)
        buf[size - 1] = '\0';
    return buf;
}

/* ---- probe ---- */

#define FS_MAGIC_EXT4 0xEF53u
#define FS_MAGIC_XFS 0x58465342u
#define FS_MAGIC_BTRFS 0x9123683Eu
#define FS_MAGIC_TMPFS 0x01021994u
#define FS_MAGIC_RAMFS 0x858458F6u
#define FS_MAGIC_OVERLAY 0x794C7630u
#define FS_MAGIC_NFS 0x6969u
#define FS_MAGIC_FUSE 0x65735546u

/* The kernel's name for the block device holding fd ("loop3", "nvme0n1p2"), from
 * /sys/dev/block/MAJ:MIN/uevent; false when there is none. */
static bool block_dev_name(int fd, char *dev, size_t size)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    char path[128];
    snprintf(path, sizeof path, "/sys/dev/block/%u:%u/uevent", major(st.st_dev), minor(st.st_dev));
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[256];
    dev[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "DEVNAME=", 8) == 0) {
            size_t n = strcspn(line + 8, "\n");
            if (n >= size)
                n = size - 1;
            memcpy(dev, line + 8, n);
            dev[n] = '\0';
            break;
        }
    }
    fclose(f);
    return dev[0] && !strchr(dev, '/');
}

/* Does the ext4 filesystem on dev have a jbd2 journal?  The kernel lists running
 * journals as /proc/fs/jbd2/<devname>-8.  Unknown -> false (assume the weaker fs). */
static bool ext4_journaled(const char *dev)
{
    char jpath[300];
    snprintf(jpath, sizeof jpath, "/proc/fs/jbd2/%s-8", dev);
    return access(jpath, F_OK) == 0;
}

/* Is ext4's fast_commit on?  Either sign is enough: the feature bit on disk
 * (s_feature_compat 0x400 at superblock offset 0x5C, the superblock at byte 1024
 * of the device), or the mount flag the kernel acts on, which
 * /proc/fs/ext4/<dev>/options shows under the name "fc_debug_force" (the two
 * differ after a tune2fs while mounted).  Neither readable -> true: an fsync
 * there is not trusted. */
static bool ext4_fast_commit(const char *dev)
{
    char path[300];
    snprintf(path, sizeof path, "/dev/%s", dev);
    bool known = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        unsigned char sb[0x60];
        ssize_t n = pread(fd, sb, sizeof sb, 1024);
        close(fd);
        if (n == (ssize_t)sizeof sb && sb[0x38] == 0x53 && sb[0x39] == 0xEF) { /* s_magic */
            if ((sb[0x5C] | sb[0x5D] << 8) & 0x400)
                return true;
            known = true;
        }
    }
    snprintf(path, sizeof path, "/proc/fs/ext4/%s/options", dev);
    FILE *f = fopen(path, "re");
    if (!f)
        return !known;
    char line[256];
    bool fc = false;
    while (!fc && fgets(line, sizeof line, f))
        fc = strncmp(line, "fc_debug_force", 14) == 0 && (line[14] == '\n' || line[14] == '\0');
    fclose(f);
    return fc;
}

/* Is the filesystem holding fd mounted without write barriers ("nobarrier" or
 * "barrier=0" among the superblock options of its /proc/self/mountinfo line)?  The
 * line is found by mount ID (statx): btrfs gives files a per-subvolume st_dev that
 * mountinfo does not show. */
static bool mounted_nobarrier(int fd)
{
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) != 0 || !(stx.stx_mask & STATX_MNT_ID))
        return false;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) > 0) {
        /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS" */
        char *end = NULL;
        unsigned long long id = strtoull(line, &end, 10);
        char *sep = strstr(line, " - ");
        if (end == line || id != stx.stx_mnt_id || !sep)
            continue;
        char *save = NULL;
        strtok_r(sep + 3, " ", &save);             /* fstype */
        strtok_r(NULL, " ", &save);                /* source */
        char *opts = strtok_r(NULL, " \n", &save); /* superblock options */
        for (char *o = opts ? strtok_r(opts, ",", &save) : NULL; o && !found;
             o = strtok_r(NULL, ",", &save))
            found = strcmp(o, "nobarrier") == 0 || strcmp(o, "barrier=0") == 0;
    }
    free(line);
    fclose(f);
    return found;
}

dur_code dur_fs_probe(int fd, dur_fs_policy *out, dur_error *err)
{
    memset(out, 0, sizeof *out);
    struct statfs sf;
    if (fstatfs(fd, &sf) != 0)
        return dur_error_set(err, DUR_E_IO, errno, NULL, "fstatfs of fd %d failed", fd);
    unsigned long magic = (unsigned long)sf.f_type & 0xFFFFFFFFul;
    static const struct {
        unsigned long magic;
        dur_fs_kind kind;
        const char *name;
    } known[] = {
        {FS_MAGIC_EXT4, DUR_FS_EXT4, "ext4"},    {FS_MAGIC_XFS, DUR_FS_XFS, "xfs"},
        {FS_MAGIC_BTRFS, DUR_FS_BTRFS, "btrfs"}, {FS_MAGIC_TMPFS, DUR_FS_TMPFS, "tmpfs"},
        {FS_MAGIC_RAMFS, DUR_FS_RAMFS, "ramfs"}, {FS_MAGIC_OVERLAY, DUR_FS_OVERLAY, "overlayfs"},
        {FS_MAGIC_NFS, DUR_FS_NFS, "nfs"},       {FS_MAGIC_FUSE, DUR_FS_FUSE, "fuse"},
    };
    out->kind = DUR_FS_UNKNOWN;
    snprintf(out->name, sizeof out->name, "unknown (magic 0x%lx)", magic);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (known[i].magic == magic) {
            out->kind = known[i].kind;
            snprintf(out->name, sizeof out->name, "%s", known[i].name);
            break;
        }
    }
    out->is_volatile = out->kind == DUR_FS_TMPFS || out->kind == DUR_FS_RAMFS;
    out->file_fsync_trusted = true;
    char dev[200];
    if (out->kind == DUR_FS_EXT4 && !block_dev_name(fd, dev, sizeof dev)) {
        out->file_fsync_trusted = false; /* fast_commit unknown: the weaker case */
        snprintf(out->name, sizeof out->name, "ext4 (device unknown)");
    } else if (out->kind == DUR_FS_EXT4 && !ext4_journaled(dev)) {
        snprintf(out->name, sizeof out->name, "ext4 (no journal)");
    } else if (out->kind == DUR_FS_EXT4 && ext4_fast_commit(dev)) {
        out->file_fsync_trusted = false;
        snprintf(out->name, sizeof out->name, "ext4 (fast_commit)");
    } else {
        out->fsync_hardens_all_metadata = out->kind == DUR_FS_EXT4 || out->kind == DUR_FS_XFS;
    }
    out->flushes_disabled = !out->is_volatile && mounted_nobarrier(fd);
    dur_fh fh;
    out->has_handles = dur_fh_get(fd, "", &fh, NULL) == DUR_OK;
    return DUR_OK;
}

bool dur_fs_same(int fd_a, int fd_b)
{
    struct stat a, b;
    if (fstat(fd_a, &a) != 0 || fstat(fd_b, &b) != 0)
        return false;
    return a.st_dev == b.st_dev;
}
