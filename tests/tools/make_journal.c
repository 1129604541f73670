/* Test helper: leaves a namespace journal in BACKING the way a durfs daemon would,
 * without FUSE, so durfsctl's offline commands can be tested anywhere.
 *
 *   make_journal BACKING clean|crash N
 *
 * Opens the journal, then N times: create d/fI.tmp (written), rename it to d/fI,
 * each logged exactly as the daemon does (begin, syscall, log, end).  "clean"
 * closes the journal (final checkpoint); "crash" exits without closing, like a
 * daemon killed with SIGKILL after those operations were acknowledged. */
#include <durability.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what, const dur_error *e)
{
    fprintf(stderr, "make_journal: %s: %s: %s (path '%s')\n", what, dur_code_name(e->code), e->msg,
            e->path);
    exit(1);
}

static void handle(int dirfd, const char *name, dur_fh *fh)
{
    dur_error e;
    if (dur_fh_get(dirfd, name, fh, &e) != DUR_OK)
        die("dur_fh_get", &e);
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[2], "clean") != 0 && strcmp(argv[2], "crash") != 0)) {
        fprintf(stderr, "usage: make_journal BACKING clean|crash N\n");
        return 2;
    }
    char *end;
    long n = strtol(argv[3], &end, 10);
    if (*end != '\0' || n < 0 || n > 100000) {
        fprintf(stderr, "make_journal: bad count '%s'\n", argv[3]);
        return 2;
    }
    int root = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (root < 0) {
        perror(argv[1]);
        return 1;
    }
    dur_ns_options o;
    dur_ns_options_default(&o);
    dur_ns *ns;
    dur_ns_recovery rec;
    dur_error e;
    if (dur_ns_open(root, &o, &ns, &rec, &e) != DUR_OK)
        die("dur_ns_open", &e);

    dur_fh root_fh, dir_fh, obj;
    handle(root, "", &root_fh);
    dur_ns_op op;
    dur_ns_begin(ns, &op);
    if (mkdirat(root, "d", 0755) != 0) {
        perror("mkdir d");
        return 1;
    }
    handle(root, "d", &dir_fh);
    dur_ns_log_create(&op, &root_fh, "d", &dir_fh, S_IFDIR | 0755, getuid(), getgid(), 0, NULL);
    if (dur_ns_end(&op, &e) != DUR_OK)
        die("mkdir d", &e);
    int dfd = openat(root, "d", O_RDONLY | O_DIRECTORY);

    for (long i = 0; i < n; i++) {
        char tmp[64], final[64];
        snprintf(tmp, sizeof tmp, "f%ld.tmp", i);
        snprintf(final, sizeof final, "f%ld", i);
        dur_ns_begin(ns, &op);
        int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            perror(tmp);
            return 1;
        }
        handle(dfd, tmp, &obj);
        dur_ns_log_create(&op, &dir_fh, tmp, &obj, S_IFREG | 0644, getuid(), getgid(), 0, NULL);
        if (dur_ns_end(&op, &e) != DUR_OK)
            die("create", &e);
        if (write(fd, final, strlen(final)) < 0)
            perror("write");
        dur_file_state st;
        dur_file_state_init(&st);
        dur_file_state_note_write(&st);
        if (dur_ns_prepare_rename(ns, &st, fd, NULL, &e) != DUR_OK)
            die("prepare_rename", &e);
        dur_ns_begin(ns, &op);
        if (renameat(dfd, tmp, dfd, final) != 0) {
            perror("rename");
            return 1;
        }
        dur_ns_log_rename(&op, &dir_fh, tmp, &dir_fh, final, 0, &obj, NULL);
        if (dur_ns_end(&op, &e) != DUR_OK)
            die("rename", &e);
        close(fd);
    }
    if (strcmp(argv[2], "crash") == 0)
        _exit(0); /* no close: no final checkpoint, records remain to replay */
    if (dur_ns_close(ns, &e) != DUR_OK)
        die("dur_ns_close", &e);
    close(dfd);
    close(root);
    return 0;
}
