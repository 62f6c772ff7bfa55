#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/node.h"

#include <ctype.h>
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Depth cap: a hostile document of a million '[' must not blow the stack. */
#define MAX_DEPTH 64

static bool match_any(const char *s, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == len && memcmp(s, *words, len) == 0)
            return true;
    return false;
}

/* Returns the offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or len when all of s is. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return i;
        }
        if (len - i <= n || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += n + 1;
    }
    return len;
}

/* YAML 1.2 core schema resolution of a plain scalar (what sigs.k8s.io/yaml does for the values
 * found in Kubernetes manifests). */
static void resolve_plain(struct tr_arena *a, struct tr_node *n, const char *s, size_t len)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    if (match_any(s, len, nulls)) {
        n->type = TR_N_NULL;
        return;
    }
    if (match_any(s, len, trues) || match_any(s, len, falses)) {
        n->type = TR_N_BOOL;
        n->u.b = s[0] == 't' || s[0] == 'T';
        return;
    }
    char tmp[64];
    if (len < sizeof(tmp)) {
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        char *end;
        size_t i = (tmp[0] == '-' || tmp[0] == '+') ? 1 : 0;
        bool digits = i < len;
        for (size_t j = i; j < len; j++)
            if (tmp[j] < '0' || tmp[j] > '9')
                digits = false;
        if (digits) {
            errno = 0;
            long long v = strtoll(tmp, &end, 10);
            if (!errno && *end == '\0') {
                n->type = TR_N_INT;
                n->u.i = v;
                return;
            }
        }
        /* Only digits may follow the prefix: strtoll alone would also take "0x-1", "0x 1" and
         * "0x0x1", which the core schema reads as strings. */
        bool radix_digits = len > 2 && tmp[0] == '0' && (tmp[1] == 'x' || tmp[1] == 'o');
        for (size_t j = 2; j < len && radix_digits; j++)
            radix_digits = tmp[1] == 'x' ? isxdigit((unsigned char)tmp[j]) : tmp[j] >= '0' && tmp[j] <= '7';
        if (radix_digits) {
            errno = 0;
            long long v = strtoll(tmp + 2, &end, tmp[1] == 'x' ? 16 : 8);
            if (!errno && *end == '\0' && end != tmp + 2) {
                n->type = TR_N_INT;
                n->u.i = v;
                return;
            }
        }
        bool numberish = len > 0;
        bool has_digit = false;
        for (size_t j = 0; j < len; j++) {
            if (tmp[j] >= '0' && tmp[j] <= '9')
                has_digit = true;
            else if (!strchr("+-.eE", tmp[j]))
                numberish = false;
        }
        if (numberish && has_digit) {
            errno = 0;
            double d = strtod(tmp, &end);
            if (!errno && *end == '\0') {
                n->type = TR_N_FLOAT;
                n->u.f = d;
                return;
            }
        }
        static const char *const infs[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
        static const char *const ninfs[] = {"-.inf", "-.Inf", "-.INF", NULL};
        static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
        if (match_any(s, len, infs) || match_any(s, len, ninfs) || match_any(s, len, nans)) {
            n->type = TR_N_FLOAT;
            n->u.f = match_any(s, len, nans) ? NAN : match_any(s, len, ninfs) ? -INFINITY : INFINITY;
            return;
        }
    }
    n->type = TR_N_STR;
    n->u.s = tr_arena_strndup(a, s, len);
    n->n = (uint32_t)len;
}

/* libfyaml 0.7 marks tokens, not nodes: a scalar's line is its token's, a collection's that of
 * its first scalar (0 for an empty one; the caller then uses the key's line). */
static uint32_t node_line(struct fy_node *fyn, int depth)
{
    if (!fyn || depth > MAX_DEPTH)
        return 0;
    switch (fy_node_get_type(fyn)) {
    case FYNT_SCALAR: {
        struct fy_token *t = fy_node_get_scalar_token(fyn);
        const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
        return m ? (uint32_t)m->line + 1 : 0;
    }
    case FYNT_SEQUENCE: {
        void *it = NULL;
        return node_line(fy_node_sequence_iterate(fyn, &it), depth + 1);
    }
    case FYNT_MAPPING: {
        void *it = NULL;
        struct fy_node_pair *pair = fy_node_mapping_iterate(fyn, &it);
        return pair ? node_line(fy_node_pair_key(pair), depth + 1) : 0;
    }
    }
    return 0;
}

static struct tr_node *convert(struct tr_arena *a, struct fy_node *fyn, int depth, struct tr_buf *err)
{
    if (depth > MAX_DEPTH) {
        tr_buf_printf(err, "document nested deeper than %d levels", MAX_DEPTH);
        return NULL;
    }
    struct tr_node *n = tr_node_new(a, TR_N_NULL);
    if (!fyn)
        return n;
    n->line = node_line(fyn, depth);
    switch (fy_node_get_type(fyn)) {
    case FYNT_SCALAR: {
        size_t len;
        const char *s = fy_node_get_scalar(fyn, &len);
        if (!s) {
            s = "";
            len = 0;
        }
        /* The input is valid UTF-8 without NULs, so only a double-quoted escape ("\0") can make
         * either. libfyaml 0.7 over-counts some malformed block scalars and hands back a tail
         * of uninitialised memory: refuse the document rather than carry those bytes on. */
        if (utf8_invalid_at((const unsigned char *)s, len) < len ||
            (fy_node_get_style(fyn) != FYNS_DOUBLE_QUOTED && memchr(s, '\0', len))) {
            tr_buf_printf(err, "%u: malformed scalar", n->line);
            return NULL;
        }
        const char *tag = fy_node_get_tag(fyn, NULL);
        bool plain = fy_node_get_style(fyn) == FYNS_PLAIN;
        if (plain && (!tag || strcmp(tag, "?") == 0)) {
            resolve_plain(a, n, s, len);
        } else {
            n->type = TR_N_STR;
            n->u.s = tr_arena_strndup(a, s, len);
            n->n = (uint32_t)len;
        }
        return n;
    }
    case FYNT_SEQUENCE: {
        n->type = TR_N_SEQ;
        void *it = NULL;
        struct fy_node *item;
        while ((item = fy_node_sequence_iterate(fyn, &it))) {
            struct tr_node *c = convert(a, item, depth + 1, err);
            if (!c)
                return NULL;
            tr_node_push(a, n, c);
        }
        return n;
    }
    case FYNT_MAPPING: {
        n->type = TR_N_MAP;
        void *it = NULL;
        struct fy_node_pair *pair;
        while ((pair = fy_node_mapping_iterate(fyn, &it))) {
            struct fy_node *k = fy_node_pair_key(pair);
            size_t klen = 0;
            const char *ks = k && fy_node_get_type(k) == FYNT_SCALAR ? fy_node_get_scalar(k, &klen) : NULL;
            if (!ks) {
                tr_buf_printf(err, "%u: mapping keys must be strings", n->line);
                return NULL;
            }
            if (memchr(ks, '\0', klen)) {
                tr_buf_printf(err, "%u: mapping key holds a NUL byte", n->line);
                return NULL;
            }
            char *key = tr_arena_strndup(a, ks, klen);
            if (tr_node_get(n, key)) {
                tr_buf_printf(err, "%u: duplicate key \"%s\"", node_line(k, 0), key);
                return NULL;
            }
            struct tr_node *v = convert(a, fy_node_pair_value(pair), depth + 1, err);
            if (!v)
                return NULL;
            if (v->type == TR_N_MAP || v->type == TR_N_SEQ || !v->line)
                v->line = node_line(k, 0); /* errors about a block point at its key */
            tr_node_set(a, n, key, v);
        }
        return n;
    }
    }
    return n;
}

struct diag_ctx {
    struct tr_buf *err;
};

static void collect_diag(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    struct diag_ctx *d = user;
    if (d->err->len == 0) {
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
            len--;
        tr_buf_append(d->err, buf, len);
    }
}

static struct fy_parser *parser_new(struct tr_buf *err, struct diag_ctx *dc, struct fy_diag **diagp)
{
    dc->err = err;
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.output_fn = collect_diag;
    dcfg.user = dc;
    dcfg.colorize = false;
    dcfg.show_source = false;
    dcfg.show_position = true;
    dcfg.show_type = false;
    dcfg.show_module = false;
    dcfg.level = FYET_ERROR;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag)
        return NULL;
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg cfg = {
        .flags = FYPCF_RESOLVE_DOCUMENT | FYPCF_DISABLE_RECYCLING,
        .diag = diag,
    };
    struct fy_parser *p = fy_parser_create(&cfg);
    if (!p) {
        fy_diag_destroy(diag);
        return NULL;
    }
    *diagp = diag;
    return p;
}

int tr_yaml_parse(const char *text, size_t len, tr_yaml_doc_cb *cb, void *ud, struct tr_buf *err)
{
    /* YAML text is Unicode, and Kubernetes' decoder rejects malformed UTF-8 too. Checked here
     * because libfyaml 0.7 does not always: a stray byte in a directive ("%2f\xaa") makes it
     * loop forever, and one in a block scalar reaches the tree (and then our JSON output). */
    size_t bad = utf8_invalid_at((const unsigned char *)text, len);
    if (bad < len) {
        unsigned line = 1, col = 1;
        for (size_t i = 0; i < bad; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
                col++;
            }
        }
        tr_buf_printf(err, "%u:%u: invalid UTF-8", line, col);
        return TR_EINVAL;
    }
    struct diag_ctx dc;
    struct fy_diag *diag = NULL;
    struct fy_parser *p = parser_new(err, &dc, &diag);
    if (!p) {
        tr_buf_puts(err, "cannot create YAML parser");
        return TR_EINVAL;
    }
    int rc = TR_OK;
    if (fy_parser_set_string(p, text, len) != 0) {
        tr_buf_puts(err, "cannot read input");
        rc = TR_EINVAL;
        goto out;
    }
    for (;;) {
        struct fy_document *doc = fy_parse_load_document(p);
        if (!doc) {
            if (fy_parser_get_stream_error(p)) {
                void *it = NULL;
                struct fy_diag_error *de = fy_diag_errors_iterate(diag, &it);
                if (err->len == 0 && de)
                    tr_buf_printf(err, "%d:%d: %s", de->line, de->column, de->msg);
                else if (err->len == 0)
                    tr_buf_puts(err, "YAML syntax error");
                rc = TR_EINVAL;
            }
            break;
        }
        struct fy_node *root = fy_document_root(doc);
        if (root) {
            struct tr_arena *a = tr_arena_new(4096);
            struct tr_node *n = convert(a, root, 0, err);
            if (!n) {
                tr_arena_free(a);
                fy_parse_document_destroy(p, doc);
                rc = TR_EINVAL;
                break;
            }
            if (n->type == TR_N_NULL) {
                tr_arena_free(a); /* a document of only comments */
            } else {
                cb(ud, a, n, n->line);
            }
        }
        fy_parse_document_destroy(p, doc);
    }
out:
    fy_parser_destroy(p);
    fy_diag_destroy(diag);
    return rc;
}

struct one_ctx {
    struct tr_arena *a;
    struct tr_node *root;
    int docs;
};

static void take_one(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    (void)line;
    struct one_ctx *c = ud;
    if (c->docs++ == 0)
        c->root = tr_node_clone(c->a, root);
    tr_arena_free(a);
}

struct tr_node *tr_yaml_parse_one(struct tr_arena *a, const char *text, size_t len, struct tr_buf *err)
{
    struct one_ctx c = {.a = a};
    if (tr_yaml_parse(text, len, take_one, &c, err) != TR_OK)
        return NULL;
    if (!c.root)
        c.root = tr_node_new(a, TR_N_NULL);
    return c.root;
}
