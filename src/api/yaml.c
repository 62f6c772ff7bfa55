/* YAML documents to value trees: libyaml's event parser (docs/dependencies.md says why libyaml)
 * feeding the document builder, which enforces the limits of api/decode.h. */
#include "api/yaml.h"
#include "api/internal.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/node.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static bool match_any(const char *s, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == len && memcmp(s, *words, len) == 0)
            return true;
    return false;
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
            /* Underflow is a number still (a denormal, or 0), as JSON reads it; overflow is not. */
            if ((!errno || (errno == ERANGE && isfinite(d))) && *end == '\0') {
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

#define TAG_PREFIX "tag:yaml.org,2002:"

/* An anchor's node, kept until the document ends; aliases copy it. */
struct anchor {
    struct tr_node *node;
    size_t size;
    uint32_t height;
};

struct ydec {
    struct docb b;
    struct tr_map anchors;                  /* name -> struct anchor*, this document's */
    char *open_anchor[TR_DECODE_MAX_DEPTH]; /* the anchor of each open collection, or NULL */
    tr_doc_cb *cb;
    void *ud;
};

static void anchors_clear(struct ydec *d)
{
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&d->anchors, &it)))
        free(s->val);
    tr_map_dispose(&d->anchors);
    for (int i = 0; i < TR_DECODE_MAX_DEPTH; i++) {
        free(d->open_anchor[i]);
        d->open_anchor[i] = NULL;
    }
}

static void anchor_set(struct ydec *d, const char *name, struct tr_node *n, size_t size, uint32_t height)
{
    struct anchor *an = tr_xmalloc(sizeof(*an));
    *an = (struct anchor){n, size, height};
    free(tr_map_put(&d->anchors, name, strlen(name), an)); /* a later anchor of one name wins */
}

static int fail_at(struct ydec *d, const yaml_mark_t *m, const char *fmt, const char *arg)
{
    char tag[80];
    if (arg && strncmp(arg, TAG_PREFIX, strlen(TAG_PREFIX)) == 0) { /* as it was written: !!binary */
        snprintf(tag, sizeof(tag), "!!%s", arg + strlen(TAG_PREFIX));
        arg = tag;
    }
    if (d->b.err->len == 0) {
        tr_buf_printf(d->b.err, "%zu:%zu: ", m->line + 1, m->column + 1);
        tr_buf_printf(d->b.err, fmt, arg);
    }
    return TR_EINVAL;
}

/* A scalar as a value: plain and untagged ones resolve by the core schema; quoted, block and
 * "!"-tagged ones are strings; the core schema's own tags are honoured; any other tag (!!binary,
 * !!timestamp, a local !tag) is refused rather than guessed at. */
static int scalar_value(struct ydec *d, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    uint32_t line = (uint32_t)ev->start_mark.line + 1;
    if (memchr(s, '\0', len))
        return fail_at(d, &ev->start_mark, "a string holds a NUL character%s", "");
    if (tr_text_invalid_at((const unsigned char *)s, len) < len)
        return fail_at(d, &ev->start_mark, "a string is not valid UTF-8%s", "");
    struct tr_node *n = docb_scalar(&d->b, TR_N_STR, line);
    if (!n)
        return TR_EINVAL;
    const char *want = NULL;
    if (tag && strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
        want = tag + strlen(TAG_PREFIX);
    if (!tag ? ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE : want && strcmp(want, "str") != 0) {
        resolve_plain(d->b.a, n, s, len);
        if (want) {
            static const char *const names[] = {"null", "bool", "int", "float"};
            if (strcmp(want, "float") == 0 && n->type == TR_N_INT) {
                n->type = TR_N_FLOAT;
                n->u.f = (double)n->u.i;
            }
            bool known = false, match = false;
            for (int t = 0; t < 4; t++) {
                known |= strcmp(want, names[t]) == 0;
                match |= strcmp(want, names[t]) == 0 && n->type == (uint8_t)(TR_N_NULL + t);
            }
            if (!known)
                return fail_at(d, &ev->start_mark, "unsupported tag %s", tag);
            if (!match)
                return fail_at(d, &ev->start_mark, "the value does not fit its tag %s", tag);
        }
    } else if (tag && strcmp(tag, "!") != 0 && !want) {
        return fail_at(d, &ev->start_mark, "unsupported tag %s", tag);
    } else {
        n->u.s = tr_arena_strndup(d->b.a, s, len);
        n->n = (uint32_t)len;
    }
    return docb_add(&d->b, n, 0);
}

static int on_scalar(struct ydec *d, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (docb_want_key(&d->b)) {
        if (tr_text_invalid_at((const unsigned char *)s, len) < len)
            return fail_at(d, &ev->start_mark, "a mapping key is not valid UTF-8 or holds a NUL character%s", "");
        bool merge = !ev->data.scalar.tag && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && len == 2 &&
                     memcmp(s, "<<", 2) == 0;
        return docb_key(&d->b, s, len, (uint32_t)ev->start_mark.line + 1, merge);
    }
    size_t before = d->b.nodes;
    int rc = scalar_value(d, ev);
    if (rc == TR_OK && ev->data.scalar.anchor) {
        struct tr_node *n = d->b.depth ? d->b.stack[d->b.nstack - 1].val : d->b.root;
        anchor_set(d, (const char *)ev->data.scalar.anchor, n, d->b.nodes - before, 0);
    }
    return rc;
}

static int on_alias(struct ydec *d, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    struct anchor *an = tr_map_get(&d->anchors, name, strlen(name));
    if (!an) /* also an alias inside its own anchor's node: that one is not complete yet */
        return fail_at(d, &ev->start_mark, "unknown alias *%s", name);
    uint32_t line = (uint32_t)ev->start_mark.line + 1;
    if (docb_want_key(&d->b)) {
        if (an->node->type != TR_N_STR)
            return fail_at(d, &ev->start_mark, "mapping keys must be strings (alias *%s)", name);
        return docb_key(&d->b, an->node->u.s, an->node->n, line, false);
    }
    return docb_copy(&d->b, an->node, an->size, an->height, line);
}

static int on_open(struct ydec *d, const yaml_event_t *ev, enum tr_ntype type)
{
    const char *tag = (const char *)(type == TR_N_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
    const char *anchor = (const char *)(type == TR_N_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
    if (docb_want_key(&d->b))
        return fail_at(d, &ev->start_mark, "mapping keys must be strings%s", "");
    if (tag && strcmp(tag, type == TR_N_MAP ? TAG_PREFIX "map" : TAG_PREFIX "seq") != 0 && strcmp(tag, "!") != 0)
        return fail_at(d, &ev->start_mark, "unsupported tag %s", tag);
    int rc = docb_open(&d->b, type, (uint32_t)ev->start_mark.line + 1);
    if (rc == TR_OK && anchor)
        d->open_anchor[d->b.depth - 1] = tr_xstrdup(anchor);
    return rc;
}

static int on_close(struct ydec *d)
{
    int depth = d->b.depth;
    struct tr_node *n;
    size_t size;
    uint32_t height;
    int rc = docb_close(&d->b, &n, &size, &height);
    char *anchor = d->open_anchor[depth - 1];
    d->open_anchor[depth - 1] = NULL;
    if (rc == TR_OK && anchor)
        anchor_set(d, anchor, n, size, height);
    free(anchor);
    return rc;
}

static int on_doc_end(struct ydec *d)
{
    struct tr_node *root;
    uint32_t line;
    struct tr_arena *a = docb_doc_take(&d->b, &root, &line);
    anchors_clear(d);
    if (root->type == TR_N_NULL) {
        tr_arena_free(a); /* an empty document, or one of only comments */
        return TR_OK;
    }
    d->cb(d->ud, a, root, line);
    return TR_OK;
}

static int on_event(struct ydec *d, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        docb_doc_begin(&d->b);
        return TR_OK;
    case YAML_DOCUMENT_END_EVENT:
        return on_doc_end(d);
    case YAML_SCALAR_EVENT:
        return on_scalar(d, ev);
    case YAML_ALIAS_EVENT:
        return on_alias(d, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_open(d, ev, TR_N_SEQ);
    case YAML_MAPPING_START_EVENT:
        return on_open(d, ev, TR_N_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_close(d);
    default: /* stream start and end, nothing else */
        return TR_OK;
    }
}

/* libyaml's own message: "LINE:COL: problem (context)". Reader errors (bytes libyaml will not
 * read, e.g. a control character) carry an offset instead of a mark. */
static void parser_error(const yaml_parser_t *p, const char *text, size_t len, struct tr_buf *err)
{
    if (err->len)
        return;
    const char *problem = p->problem ? p->problem : "YAML syntax error";
    if (p->error == YAML_READER_ERROR) {
        unsigned line, col;
        tr_text_position(text, p->problem_offset < len ? p->problem_offset : len, &line, &col);
        tr_buf_printf(err, "%u:%u: %s", line, col, problem);
        return;
    }
    tr_buf_printf(err, "%zu:%zu: %s", p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
    if (p->context)
        tr_buf_printf(err, " (%s, line %zu)", p->context, p->context_mark.line + 1);
}

int tr_yaml_parse(const char *text, size_t len, tr_doc_cb *cb, void *ud, struct tr_buf *err)
{
    if (tr_text_check(text, len, err) != TR_OK)
        return TR_EINVAL;
    struct ydec d = {.cb = cb, .ud = ud};
    docb_init(&d.b, err);
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        TR_BUG_ON("yaml_parser_initialize: out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    int rc = TR_OK;
    for (bool done = false; !done && rc == TR_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            parser_error(&p, text, len, err);
            rc = TR_EINVAL;
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&d, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    anchors_clear(&d);
    docb_dispose(&d.b);
    return rc;
}

struct tr_node *tr_yaml_parse_one(struct tr_arena *a, const char *text, size_t len, struct tr_buf *err)
{
    struct docb_first f = {.a = a};
    if (tr_yaml_parse(text, len, docb_keep_first, &f, err) != TR_OK)
        return NULL;
    return f.root ? f.root : tr_node_new(a, TR_N_NULL);
}
