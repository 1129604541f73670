/* Writes the small seed corpora of the fuzz targets into DIR/<target>/ from images
 * produced by the library itself (the real WAL writer and checkpoint writer on the
 * crash simulator).  Run once by hand; the output is committed:
 *   build/tests/fuzz/fuzz_gen_corpus tests/fuzz/corpus */
#include "durability/checkpoint.h"
#include "durability/testing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *out_root;

static void die(const char *what, const dur_error *err)
{
    char buf[600];
    fprintf(stderr, "gen_corpus: %s: %s\n", what,
            err ? dur_error_format(err, buf, sizeof(buf)) : "");
    exit(1);
}

static void save(const char *target, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", out_root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path, NULL);
    snprintf(path, sizeof(path), "%s/%s/%s", out_root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
        die(path, NULL);
}

static void *slurp(dur_dir *d, const char *path, size_t *len)
{
    void *data;
    dur_error err;
    if (dur_file_read_all(d, path, 1 << 20, &data, len, &err) != DUR_OK)
        die(path, &err);
    return data;
}

/* A WAL of n records (segment size seg), checkpoint published at cp (0 = none). */
static dur_dir *make_wal(int n, uint64_t seg, uint64_t cp)
{
    dur_dir *d;
    dur_wal *w;
    dur_error err;
    dur_wal_options o;
    if (dur_dir_new_crash(7, &d, &err) != DUR_OK)
        die("crash dir", &err);
    dur_wal_options_default(&o);
    o.segment_size = seg;
    if (dur_wal_open(d, "wal", &o, &w, NULL, &err) != DUR_OK)
        die("wal open", &err);
    for (int i = 1; i <= n; i++) {
        char rec[64];
        int len = snprintf(rec, sizeof(rec), "record %d", i);
        if (dur_wal_append(w, (uint8_t)(1 + i % 5), rec, (size_t)len, NULL, &err) != DUR_OK)
            die("append", &err);
        if ((uint64_t)i == cp &&
            dur_checkpoint_publish(w, d, "ck", cp, "state!", 6, &err) != DUR_OK)
            die("publish", &err);
    }
    if (dur_wal_close(w, &err) != DUR_OK)
        die("close", &err);
    return d;
}

static void put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* fuzz_recovery input: flags, three lengths, then the files. */
static void save_recovery(const char *name, uint8_t flags, const void *s1, size_t l1,
                          const void *s2, size_t l2, const void *ck, size_t l3)
{
    size_t total = 7 + l1 + l2 + l3;
    uint8_t *buf = malloc(total);
    if (!buf)
        die("malloc", NULL);
    buf[0] = flags;
    put16(buf + 1, l1);
    put16(buf + 3, l2);
    put16(buf + 5, l3);
    memcpy(buf + 7, s1, l1);
    memcpy(buf + 7 + l1, s2, l2);
    memcpy(buf + 7 + l1 + l2, ck, l3);
    save("fuzz_recovery", name, buf, total);
    free(buf);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    out_root = argv[1];
    size_t l1, l2, l3;

    /* One segment of 12 records; a torn copy; an empty segment (header only). */
    dur_dir *d = make_wal(12, 1 << 20, 0);
    uint8_t *s = slurp(d, "wal/wal-00000000000000000001.log", &l1);
    save("fuzz_wal_segment", "twelve_records", s, l1);
    save("fuzz_wal_segment", "torn_last_record", s, l1 - 5);
    save("fuzz_wal_segment", "header_only", s, 40);
    save_recovery("one_segment_no_checkpoint", 2 | 4, s, l1, "", 0, "", 0);
    free(s);
    dur_dir_close(d);

    /* Two segments and a checkpoint in the middle (published at LSN 6, segment
     * rotation every ~5 records so the checkpoint truncates the first ones). */
    d = make_wal(14, 200, 6);
    dur_names names;
    dur_error err;
    if (dur_dir_list(d, "wal", &names, &err) != DUR_OK || names.count < 2)
        die("list", &err);
    char p1[300], p2[300];
    snprintf(p1, sizeof(p1), "wal/%s", names.names[names.count - 2]);
    snprintf(p2, sizeof(p2), "wal/%s", names.names[names.count - 1]);
    uint8_t *a = slurp(d, p1, &l1), *b = slurp(d, p2, &l2);
    uint8_t *ck = slurp(d, "ck/checkpoint-00000000000000000006.ckpt", &l3);
    save("fuzz_wal_segment", "segment_with_marker", a, l1);
    save("fuzz_checkpoint", "valid", ck, l3);
    save("fuzz_checkpoint", "truncated", ck, l3 - 3);
    save_recovery("two_segments_checkpoint_strict", 1, a, l1, b, l2, ck, l3);
    save_recovery("two_segments_checkpoint_repair", 1 | 2 | 4, a, l1, b, l2 - 7, ck, l3);
    dur_names_free(&names);
    free(a);
    free(b);
    free(ck);
    dur_dir_close(d);

    /* An empty checkpoint payload. */
    if (dur_dir_new_crash(1, &d, &err) != DUR_OK ||
        dur_checkpoint_write(d, "ck", 0, "", 0, &err) != DUR_OK)
        die("checkpoint", &err);
    ck = slurp(d, "ck/checkpoint-00000000000000000000.ckpt", &l3);
    save("fuzz_checkpoint", "empty_payload", ck, l3);
    free(ck);
    dur_dir_close(d);
    printf("corpus written to %s\n", out_root);
    return 0;
}
