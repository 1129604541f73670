/* durfsctl JSON reader: recursive descent over RFC 8259, depth-bounded. */
#include "json.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *s;
    size_t len, pos;
    char *err;
    size_t err_size;
    bool failed;
} parser;

static json *fail(parser *p, const char *what)
{
    if (!p->failed)
        snprintf(p->err, p->err_size, "%s at offset %zu", what, p->pos);
    p->failed = true;
    return NULL;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) && p->s[p->pos] != '\0')
        p->pos++;
}

static json *new_value(parser *p, json_type t)
{
    json *j = calloc(1, sizeof *j);
    if (j == NULL)
        return fail(p, "out of memory");
    j->type = t;
    return j;
}

static bool literal(parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return false;
    p->pos += n;
    return true;
}

static int hex4(parser *p)
{
    if (p->len - p->pos < 4)
        return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string literal at p->pos (on the opening quote) into a new buffer. */
static char *parse_string_raw(parser *p)
{
    p->pos++; /* opening quote */
    /* The decoded form is never longer than the escaped form. */
    size_t start = p->pos, cap = 1;
    for (size_t i = start; i < p->len && p->s[i] != '"'; i++)
        cap += (p->s[i] == '\\' && i + 1 < p->len) ? (i++, 2) : 1;
    char *out = malloc(cap + 4);
    if (out == NULL) {
        fail(p, "out of memory");
        return NULL;
    }
    size_t n = 0;
    while (p->pos < p->len) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            out[n] = '\0';
            return out;
        }
        if (c < 0x20) {
            fail(p, "control character in string");
            break;
        }
        p->pos++;
        if (c != '\\') {
            out[n++] = (char)c;
            continue;
        }
        if (p->pos >= p->len)
            break;
        char e = p->s[p->pos++];
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *hit = strchr(from, e);
        if (e != '\0' && e != 'u' && hit) {
            out[n++] = to[hit - from];
            continue;
        }
        if (e != 'u') {
            fail(p, "bad escape in string");
            break;
        }
        int cp = hex4(p);
        if (cp < 0) {
            fail(p, "bad \\u escape in string");
            break;
        }
        /* \uXXXX is 6 bytes in, at most 3 out; a surrogate pair is 12 in, 4 out. */
        if (cp >= 0xD800 && cp <= 0xDBFF && p->len - p->pos >= 6 && p->s[p->pos] == '\\' &&
            p->s[p->pos + 1] == 'u') {
            p->pos += 2;
            int lo = hex4(p);
            if (lo >= 0xDC00 && lo <= 0xDFFF)
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            else
                cp = 0xFFFD;
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;
        }
        n += put_utf8(out + n, (uint32_t)cp);
    }
    if (!p->failed)
        fail(p, "unterminated string");
    free(out);
    return NULL;
}

static json *parse_value(parser *p, int depth);

static json *parse_container(parser *p, int depth, bool is_object)
{
    json *j = new_value(p, is_object ? JSON_OBJECT : JSON_ARRAY);
    if (j == NULL)
        return NULL;
    char close = is_object ? '}' : ']';
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return j;
    }
    size_t cap = 0;
    for (;;) {
        skip_ws(p);
        char *key = NULL;
        if (is_object) {
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                fail(p, "expected a member name");
                break;
            }
            key = parse_string_raw(p);
            if (key == NULL)
                break;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                free(key);
                fail(p, "expected ':'");
                break;
            }
            p->pos++;
        }
        json *v = parse_value(p, depth + 1);
        if (v == NULL) {
            free(key);
            break;
        }
        if (j->count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            json **items = realloc(j->items, ncap * sizeof(json *));
            char **keys = is_object ? realloc(j->keys, ncap * sizeof(char *)) : NULL;
            if (items)
                j->items = items;
            if (keys)
                j->keys = keys;
            if (items == NULL || (is_object && keys == NULL)) {
                free(key);
                json_free(v);
                fail(p, "out of memory");
                break;
            }
            cap = ncap;
        }
        if (is_object)
            j->keys[j->count] = key;
        j->items[j->count++] = v;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            return j;
        }
        fail(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
        break;
    }
    json_free(j);
    return NULL;
}

static json *parse_number(parser *p)
{
    size_t start = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '-')
        p->pos++;
    size_t digits = p->pos;
    while (p->pos < p->len && strchr("0123456789.eE+-", p->s[p->pos]) && p->s[p->pos] != '\0')
        p->pos++;
    if (p->pos == digits || p->s[digits] < '0' || p->s[digits] > '9' || p->pos - start > 63) {
        p->pos = start;
        return fail(p, "bad number");
    }
    char buf[64];
    memcpy(buf, p->s + start, p->pos - start);
    buf[p->pos - start] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end != '\0') {
        p->pos = start;
        return fail(p, "bad number");
    }
    json *j = new_value(p, JSON_NUMBER);
    if (j)
        j->number = v;
    return j;
}

static json *parse_value(parser *p, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return fail(p, "nested too deeply");
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, "unexpected end of input");
    char c = p->s[p->pos];
    if (c == '{' || c == '[')
        return parse_container(p, depth, c == '{');
    if (c == '"') {
        char *s = parse_string_raw(p);
        if (s == NULL)
            return NULL;
        json *j = new_value(p, JSON_STRING);
        if (j == NULL) {
            free(s);
            return NULL;
        }
        j->string = s;
        return j;
    }
    bool is_true = literal(p, "true");
    if (is_true || literal(p, "false")) {
        json *j = new_value(p, JSON_BOOL);
        if (j)
            j->boolean = is_true;
        return j;
    }
    if (literal(p, "null"))
        return new_value(p, JSON_NULL);
    return parse_number(p);
}

json *json_parse(const char *text, size_t len, char *err, size_t err_size)
{
    parser p = {.s = text, .len = len, .err = err, .err_size = err_size};
    if (err_size)
        err[0] = '\0';
    json *j = parse_value(&p, 0);
    if (j == NULL)
        return NULL;
    skip_ws(&p);
    /* A trailing NUL is how some xattr values end; anything else is junk. */
    while (p.pos < p.len && p.s[p.pos] == '\0')
        p.pos++;
    if (p.pos != p.len) {
        json_free(j);
        return fail(&p, "trailing characters");
    }
    return j;
}

void json_free(json *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->count; i++) {
        json_free(j->items[i]);
        if (j->keys)
            free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->string);
    free(j);
}

const json *json_get(const json *root, const char *path)
{
    const json *cur = root;
    while (cur && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        const json *next = NULL;
        if (cur->type == JSON_OBJECT)
            for (size_t i = 0; i < cur->count && !next; i++)
                if (strlen(cur->keys[i]) == n && memcmp(cur->keys[i], path, n) == 0)
                    next = cur->items[i];
        cur = next;
        path += n + (dot ? 1 : 0);
    }
    return cur;
}

double json_number(const json *root, const char *path, double fallback)
{
    const json *j = json_get(root, path);
    return j && j->type == JSON_NUMBER ? j->number : fallback;
}

const char *json_string(const json *root, const char *path, const char *fallback)
{
    const json *j = json_get(root, path);
    return j && j->type == JSON_STRING ? j->string : fallback;
}

int json_bool(const json *root, const char *path)
{
    const json *j = json_get(root, path);
    return j && j->type == JSON_BOOL ? j->boolean : -1;
}

void json_write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c == '\n')
            fputs("\\n", f);
        else if (*c == '\t')
            fputs("\\t", f);
        else if (*c < 0x20 || *c == 0x7F)
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f);
    }
    fputc('"', f);
}
