/* durfsctl: a small JSON reader for the daemon's status/stats documents, and a
 * string writer for durfsctl's own --json output.  Input is untrusted (it comes
 * from whatever answers getxattr on the path given): depth and size are bounded
 * and every error names the byte offset. */
#ifndef DURFS_CTL_JSON_H
#define DURFS_CTL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef struct json {
    json_type type;
    bool boolean;
    double number;
    char *string;        /* JSON_STRING */
    size_t count;        /* JSON_ARRAY / JSON_OBJECT */
    char **keys;         /* JSON_OBJECT: count keys */
    struct json **items; /* JSON_ARRAY / JSON_OBJECT: count values */
} json;

#define JSON_MAX_DEPTH 32

/* NULL on error, with "what at offset N" in err. */
json *json_parse(const char *text, size_t len, char *err, size_t err_size);
void json_free(json *j);

/* Member lookup by dotted path ("recovery.ops_redone"); NULL if absent. */
const json *json_get(const json *root, const char *path);
/* Typed lookups with a fallback when absent or of another type. */
double json_number(const json *root, const char *path, double fallback);
const char *json_string(const json *root, const char *path, const char *fallback);
/* -1 absent, 0 false, 1 true */
int json_bool(const json *root, const char *path);

/* Write s as a JSON string literal (quotes and escapes). */
void json_write_string(FILE *f, const char *s);

#endif
