/* /proc/locks and /proc/self/mountinfo readers (see procfs.h). */
#include "procfs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

long procfs_lock_holder(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    FILE *f = fopen("/proc/locks", "r");
    if (f == NULL)
        return 0;
    char line[256];
    long holder = 0;
    while (holder == 0 && fgets(line, sizeof line, f)) {
        /* "1: FLOCK  ADVISORY  WRITE 1234 fd:00:5678 0 EOF"; "->" marks a waiter */
        if (strstr(line, "->") != NULL)
            continue;
        char *field[6], *save = NULL;
        int n = 0;
        for (char *t = strtok_r(line, " \t\n", &save); t && n < 6;
             t = strtok_r(NULL, " \t\n", &save))
            field[n++] = t;
        if (n < 6)
            continue;
        char *end;
        long pid = strtol(field[4], &end, 10);
        unsigned long maj = strtoul(field[5], &end, 16);
        if (*end != ':')
            continue;
        unsigned long min = strtoul(end + 1, &end, 16);
        if (*end != ':')
            continue;
        unsigned long long ino = strtoull(end + 1, &end, 10);
        if (ino == (unsigned long long)st.st_ino && maj == major(st.st_dev) &&
            min == minor(st.st_dev))
            holder = pid;
    }
    fclose(f);
    return holder;
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

bool procfs_mount_containing(const char *path, char *mnt_out, size_t mnt_size, char *fstype_out,
                             size_t fstype_size)
{
    char real[PATH_MAX];
    if (realpath(path, real) == NULL)
        return false;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (f == NULL)
        return false;
    char line[8192];
    size_t best_len = 0;
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        /* id parent maj:min root MOUNTPOINT options [optional...] - FSTYPE source super */
        char mnt[PATH_MAX], fstype[64], *sep = strstr(line, " - ");
        if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(sep + 3, "%63s", fstype) != 1)
            continue;
        unescape(mnt);
        size_t n = strlen(mnt);
        bool inside = strcmp(mnt, "/") == 0 ||
                      (strncmp(real, mnt, n) == 0 && (real[n] == '\0' || real[n] == '/'));
        if (inside && n >= best_len) { /* later lines are mounted on top of earlier ones */
            best_len = n;
            snprintf(mnt_out, mnt_size, "%s", mnt);
            snprintf(fstype_out, fstype_size, "%s", fstype);
            found = true;
        }
    }
    fclose(f);
    return found;
}
