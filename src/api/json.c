/* JSON (RFC 8259) to value trees: a recursive-descent reader over the document builder, whose
 * depth limit also bounds the recursion. */
#include "api/json.h"
#include "api/internal.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/node.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct jp {
    const char *s;
    size_t len, pos;
    size_t line_start; /* offset of the current line's first byte */
    uint32_t line;     /* 1-based */
    struct docb b;
    struct tr_buf tmp; /* a string with escapes, decoded; a number's text */
};

static int fail(struct jp *j, const char *msg)
{
    if (j->b.err->len == 0)
        tr_buf_printf(j->b.err, "%u:%zu: %s", j->line, j->pos - j->line_start + 1, msg);
    return TR_EINVAL;
}

static void ws(struct jp *j)
{
    while (j->pos < j->len) {
        char c = j->s[j->pos];
        if (c == '\n') {
            j->line++;
            j->line_start = ++j->pos;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            j->pos++;
        } else {
            break;
        }
    }
}

static int hex4(struct jp *j, uint32_t *out)
{
    if (j->len - j->pos < 4)
        return fail(j, "a \\u escape needs four hex digits");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = j->s[j->pos + (size_t)i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return fail(j, "a \\u escape needs four hex digits");
        v = v << 4 | (uint32_t)d;
    }
    j->pos += 4;
    *out = v;
    return TR_OK;
}

static void put_utf8(struct tr_buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    tr_buf_append(b, u, n);
}

/* The escape after a backslash (j->pos is past it), decoded into j->tmp. */
static int escape(struct jp *j)
{
    if (j->pos >= j->len)
        return fail(j, "unterminated string");
    char c = j->s[j->pos++];
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *p = strchr(from, c);
    if (p && c) {
        tr_buf_putc(&j->tmp, to[p - from]);
        return TR_OK;
    }
    if (c != 'u') {
        j->pos--;
        return fail(j, "unknown escape in a string");
    }
    uint32_t cp;
    if (hex4(j, &cp) != TR_OK)
        return TR_EINVAL;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail(j, "a lone low surrogate in a string");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t lo;
        if (j->len - j->pos < 2 || j->s[j->pos] != '\\' || j->s[j->pos + 1] != 'u')
            return fail(j, "a lone high surrogate in a string");
        j->pos += 2;
        if (hex4(j, &lo) != TR_OK)
            return TR_EINVAL;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail(j, "a lone high surrogate in a string");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0)
        return fail(j, "a string holds a NUL character (\\u0000)");
    put_utf8(&j->tmp, cp);
    return TR_OK;
}

/* A string at j->pos (its opening quote). *out points into the text when it has no escapes,
 * else into j->tmp; valid until the next string. The text is known to be valid UTF-8. */
static int string(struct jp *j, const char **out, size_t *len)
{
    size_t start = ++j->pos;
    while (j->pos < j->len) {
        unsigned char c = (unsigned char)j->s[j->pos];
        if (c == '"') {
            *out = j->s + start;
            *len = j->pos++ - start;
            return TR_OK;
        }
        if (c == '\\')
            break;
        if (c < 0x20)
            return fail(j, "a control character in a string (escape it)");
        j->pos++;
    }
    tr_buf_reset(&j->tmp);
    tr_buf_append(&j->tmp, j->s + start, j->pos - start);
    while (j->pos < j->len) {
        unsigned char c = (unsigned char)j->s[j->pos];
        if (c == '"') {
            j->pos++;
            *out = j->tmp.data ? j->tmp.data : "";
            *len = j->tmp.len;
            return TR_OK;
        }
        if (c < 0x20)
            return fail(j, "a control character in a string (escape it)");
        size_t run = j->pos;
        while (run < j->len && j->s[run] != '"' && j->s[run] != '\\' && (unsigned char)j->s[run] >= 0x20)
            run++;
        tr_buf_append(&j->tmp, j->s + j->pos, run - j->pos);
        j->pos = run;
        if (j->pos < j->len && j->s[j->pos] == '\\') {
            j->pos++;
            if (escape(j) != TR_OK)
                return TR_EINVAL;
        }
    }
    return fail(j, "unterminated string");
}

static bool digit(const struct jp *j)
{
    return j->pos < j->len && j->s[j->pos] >= '0' && j->s[j->pos] <= '9';
}

static int number(struct jp *j)
{
    size_t start = j->pos;
    uint32_t line = j->line;
    if (j->s[j->pos] == '-')
        j->pos++;
    if (!digit(j))
        return fail(j, "a number needs a digit");
    if (j->s[j->pos] == '0') {
        j->pos++;
        if (digit(j))
            return fail(j, "a number must not start with 0");
    }
    while (digit(j))
        j->pos++;
    bool integer = true;
    if (j->pos < j->len && j->s[j->pos] == '.') {
        integer = false;
        j->pos++;
        if (!digit(j))
            return fail(j, "a fraction needs a digit");
        while (digit(j))
            j->pos++;
    }
    if (j->pos < j->len && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E')) {
        integer = false;
        j->pos++;
        if (j->pos < j->len && (j->s[j->pos] == '+' || j->s[j->pos] == '-'))
            j->pos++;
        if (!digit(j))
            return fail(j, "an exponent needs a digit");
        while (digit(j))
            j->pos++;
    }
    tr_buf_reset(&j->tmp);
    tr_buf_append(&j->tmp, j->s + start, j->pos - start);
    struct tr_node *n = docb_scalar(&j->b, TR_N_INT, line);
    if (!n)
        return TR_EINVAL;
    char *end;
    errno = 0;
    if (integer) {
        long long v = strtoll(j->tmp.data, &end, 10);
        if (!errno) {
            n->u.i = v;
            return docb_add(&j->b, n, 0);
        }
    }
    errno = 0;
    double d = strtod(j->tmp.data, &end);
    if (!isfinite(d)) {
        j->pos = start;
        return fail(j, "a number out of range");
    }
    n->type = TR_N_FLOAT;
    n->u.f = d;
    return docb_add(&j->b, n, 0);
}

static int literal(struct jp *j, const char *word, enum tr_ntype type, bool b)
{
    size_t n = strlen(word);
    if (j->len - j->pos < n || memcmp(j->s + j->pos, word, n) != 0)
        return fail(j, "unexpected character");
    struct tr_node *v = docb_scalar(&j->b, type, j->line);
    if (!v)
        return TR_EINVAL;
    v->u.b = b;
    j->pos += n;
    return docb_add(&j->b, v, 0);
}

static int value(struct jp *j);

/* An object or an array at j->pos; members or elements until the closing bracket. */
static int collection(struct jp *j, bool object)
{
    char close = object ? '}' : ']';
    if (docb_open(&j->b, object ? TR_N_MAP : TR_N_SEQ, j->line) != TR_OK)
        return TR_EINVAL;
    j->pos++;
    ws(j);
    if (j->pos < j->len && j->s[j->pos] == close) {
        j->pos++;
        return docb_close(&j->b, NULL, NULL, NULL);
    }
    for (;;) {
        if (object) {
            if (j->pos >= j->len || j->s[j->pos] != '"')
                return fail(j, j->pos < j->len && j->s[j->pos] == '}' ? "a trailing comma" : "expected a string key");
            const char *k;
            size_t klen;
            uint32_t line = j->line;
            if (string(j, &k, &klen) != TR_OK || docb_key(&j->b, k, klen, line, false) != TR_OK)
                return TR_EINVAL;
            ws(j);
            if (j->pos >= j->len || j->s[j->pos] != ':')
                return fail(j, "expected ':'");
            j->pos++;
        } else if (j->pos < j->len && j->s[j->pos] == ']') {
            return fail(j, "a trailing comma");
        }
        if (value(j) != TR_OK)
            return TR_EINVAL;
        ws(j);
        if (j->pos < j->len && j->s[j->pos] == ',') {
            j->pos++;
            ws(j);
            continue;
        }
        if (j->pos < j->len && j->s[j->pos] == close) {
            j->pos++;
            return docb_close(&j->b, NULL, NULL, NULL);
        }
        return fail(j, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int value(struct jp *j)
{
    ws(j);
    if (j->pos >= j->len)
        return fail(j, "unexpected end of input");
    switch (j->s[j->pos]) {
    case '{':
        return collection(j, true);
    case '[':
        return collection(j, false);
    case '"': {
        const char *s;
        size_t len;
        uint32_t line = j->line;
        if (string(j, &s, &len) != TR_OK)
            return TR_EINVAL;
        struct tr_node *n = docb_scalar(&j->b, TR_N_STR, line);
        if (!n)
            return TR_EINVAL;
        n->u.s = tr_arena_strndup(j->b.a, s, len);
        n->n = (uint32_t)len;
        return docb_add(&j->b, n, 0);
    }
    case 't':
        return literal(j, "true", TR_N_BOOL, true);
    case 'f':
        return literal(j, "false", TR_N_BOOL, false);
    case 'n':
        return literal(j, "null", TR_N_NULL, false);
    default:
        if (j->s[j->pos] == '-' || (j->s[j->pos] >= '0' && j->s[j->pos] <= '9'))
            return number(j);
        return fail(j, "unexpected character");
    }
}

/* Every value of the stream to cb; null ones too when nulls is set. */
static int parse_stream(const char *text, size_t len, tr_doc_cb *cb, void *ud, struct tr_buf *err, bool nulls)
{
    if (tr_text_check(text, len, err) != TR_OK)
        return TR_EINVAL;
    struct jp j = {.s = text, .len = len, .line = 1};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        j.pos = j.line_start = 3; /* RFC 8259 8.1: a parser may ignore a byte order mark */
    docb_init(&j.b, err);
    tr_buf_init(&j.tmp, 0);
    int rc = TR_OK;
    for (;;) {
        ws(&j);
        if (j.pos >= j.len)
            break;
        docb_doc_begin(&j.b);
        rc = value(&j);
        if (rc != TR_OK)
            break;
        struct tr_node *root;
        uint32_t line;
        struct tr_arena *a = docb_doc_take(&j.b, &root, &line);
        if (root->type == TR_N_NULL && !nulls)
            tr_arena_free(a);
        else
            cb(ud, a, root, line);
    }
    docb_dispose(&j.b);
    tr_buf_dispose(&j.tmp);
    return rc;
}

int tr_json_parse(const char *text, size_t len, tr_doc_cb *cb, void *ud, struct tr_buf *err)
{
    return parse_stream(text, len, cb, ud, err, false);
}

struct tr_node *tr_json_parse_one(struct tr_arena *a, const char *text, size_t len, struct tr_buf *err)
{
    struct docb_first f = {.a = a};
    if (parse_stream(text, len, docb_keep_first, &f, err, true) != TR_OK)
        return NULL;
    if (f.docs != 1) {
        tr_buf_puts(err, f.docs ? "more than one JSON value" : "no JSON value");
        return NULL;
    }
    return f.root;
}

/* After a value inside a collection that ends with close: a comma before the next value (1),
 * or the end (0, past the bracket); anything else is an error (-1). */
static int next_or_end(struct jp *j, char close)
{
    ws(j);
    if (j->pos < j->len && j->s[j->pos] == ',') {
        j->pos++;
        ws(j);
        if (j->pos < j->len && j->s[j->pos] == close) {
            fail(j, "a trailing comma");
            return -1;
        }
        return 1;
    }
    if (j->pos < j->len && j->s[j->pos] == close) {
        j->pos++;
        return 0;
    }
    fail(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    return -1;
}

/* The members of the list object other than its items, each built as a document of its own
 * and moved into one map at the end. */
struct list_head {
    struct tr_arena *a;
    struct tr_node *map;
};

int tr_json_parse_list(const char *text, size_t len, const char *split, tr_doc_cb *item_cb, tr_doc_cb *head_cb,
                       void *ud, struct tr_buf *err)
{
    /* No limit on the whole: a page of large objects is legitimate. Each item is one document
     * and meets the per-document limits. */
    size_t off = tr_text_invalid_at((const unsigned char *)text, len);
    if (off != len) {
        unsigned line, col;
        tr_text_position(text, off, &line, &col);
        tr_buf_printf(err, "%u:%u: %s", line, col, text[off] ? "invalid UTF-8" : "NUL byte");
        return TR_EINVAL;
    }
    struct jp j = {.s = text, .len = len, .line = 1};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        j.pos = j.line_start = 3;
    docb_init(&j.b, err);
    tr_buf_init(&j.tmp, 0);
    struct list_head head = {tr_arena_new(1024), NULL};
    head.map = tr_node_new(head.a, TR_N_MAP);
    uint32_t head_line = 1;
    int rc = TR_EINVAL;
    ws(&j);
    if (j.pos >= j.len || j.s[j.pos] != '{') {
        fail(&j, "expected a JSON object");
        goto out;
    }
    head_line = j.line;
    j.pos++;
    ws(&j);
    bool first = true, seen_split = false;
    for (;;) {
        if (j.pos < j.len && j.s[j.pos] == '}' && first) {
            j.pos++;
            break;
        }
        if (j.pos >= j.len || j.s[j.pos] != '"') {
            fail(&j, "expected a string key");
            goto out;
        }
        first = false;
        const char *k;
        size_t klen;
        if (string(&j, &k, &klen) != TR_OK)
            goto out;
        char *key = tr_arena_strndup(head.a, k, klen);
        if (tr_node_get(head.map, key) || (strcmp(key, split) == 0 && seen_split)) {
            fail(&j, "a duplicate key");
            goto out;
        }
        ws(&j);
        if (j.pos >= j.len || j.s[j.pos] != ':') {
            fail(&j, "expected ':'");
            goto out;
        }
        j.pos++;
        ws(&j);
        if (strcmp(key, split) == 0 && j.pos < j.len && j.s[j.pos] == '[') {
            seen_split = true;
            j.pos++;
            ws(&j);
            bool empty = j.pos < j.len && j.s[j.pos] == ']';
            if (empty)
                j.pos++;
            while (!empty) {
                docb_doc_begin(&j.b);
                if (value(&j) != TR_OK)
                    goto out;
                struct tr_node *root;
                uint32_t line;
                struct tr_arena *a = docb_doc_take(&j.b, &root, &line);
                item_cb(ud, a, root, line);
                int more = next_or_end(&j, ']');
                if (more < 0)
                    goto out;
                if (!more)
                    break;
            }
        } else {
            docb_doc_begin(&j.b);
            if (value(&j) != TR_OK)
                goto out;
            struct tr_node *root;
            uint32_t line;
            struct tr_arena *a = docb_doc_take(&j.b, &root, &line);
            tr_node_set(head.a, head.map, key, tr_node_clone(head.a, root));
            tr_arena_free(a);
        }
        int more = next_or_end(&j, '}');
        if (more < 0)
            goto out;
        if (!more)
            break;
    }
    ws(&j);
    if (j.pos < j.len) {
        fail(&j, "more than one JSON value");
        goto out;
    }
    rc = TR_OK;
out:
    docb_dispose(&j.b);
    tr_buf_dispose(&j.tmp);
    if (rc == TR_OK && head_cb)
        head_cb(ud, head.a, head.map, head_line);
    else
        tr_arena_free(head.a);
    return rc;
}
