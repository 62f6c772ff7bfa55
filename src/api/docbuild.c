/* The document builder: value trees from a decoder's events, within the limits of decode.h. */
#include "api/internal.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char docb_merge_key[] = "<<";

void docb_init(struct docb *b, struct tr_buf *err)
{
    memset(b, 0, sizeof(*b));
    b->err = err;
}

void docb_dispose(struct docb *b)
{
    docb_doc_drop(b);
    free(b->stack);
    b->stack = NULL;
    b->cap = 0;
}

void docb_doc_begin(struct docb *b)
{
    docb_doc_drop(b);
    b->a = tr_arena_new(4096);
}

struct tr_arena *docb_doc_take(struct docb *b, struct tr_node **root, uint32_t *line)
{
    TR_BUG_ON(b->depth != 0);
    struct tr_arena *a = b->a;
    *root = b->root ? b->root : tr_node_new(a, TR_N_NULL);
    *line = (*root)->line;
    b->a = NULL;
    b->root = NULL;
    b->nodes = b->literal = b->copied = 0;
    return a;
}

void docb_doc_drop(struct docb *b)
{
    tr_arena_free(b->a);
    b->a = NULL;
    b->root = NULL;
    b->depth = 0;
    b->nstack = 0;
    b->nodes = b->literal = b->copied = 0;
}

static int fail(struct docb *b, uint32_t line, const char *msg)
{
    if (b->err->len == 0)
        tr_buf_printf(b->err, "%u: %s", line, msg);
    return TR_EINVAL;
}

bool docb_want_key(const struct docb *b)
{
    const struct docb_frame *f = b->depth ? &b->frames[b->depth - 1] : NULL;
    return f && f->n->type == TR_N_MAP && !f->have_key;
}

static void push(struct docb *b, const char *key, struct tr_node *val)
{
    if (b->nstack == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->stack = tr_xrealloc(b->stack, b->cap * sizeof(*b->stack));
    }
    b->stack[b->nstack++] = (struct tr_kv){key, val};
}

int docb_key(struct docb *b, const char *s, size_t len, uint32_t line, bool merge)
{
    struct docb_frame *f = &b->frames[b->depth - 1];
    TR_BUG_ON(!docb_want_key(b));
    if (memchr(s, '\0', len))
        return fail(b, line, "a mapping key holds a NUL character");
    push(b, merge ? docb_merge_key : tr_arena_strndup(b->a, s, len), NULL);
    f->have_key = true;
    f->key_line = line;
    f->merges |= merge;
    return TR_OK;
}

static int count(struct docb *b, size_t n, uint32_t line)
{
    if (b->nodes + n > TR_DECODE_MAX_NODES) {
        char msg[96];
        snprintf(msg, sizeof(msg), "the document holds more than %u values", TR_DECODE_MAX_NODES);
        return fail(b, line, msg);
    }
    b->nodes += n;
    return TR_OK;
}

struct tr_node *docb_scalar(struct docb *b, enum tr_ntype type, uint32_t line)
{
    if (count(b, 1, line) != TR_OK)
        return NULL;
    b->literal++;
    struct tr_node *n = tr_node_new(b->a, type);
    n->line = line;
    return n;
}

int docb_add(struct docb *b, struct tr_node *n, uint32_t height)
{
    if (!b->depth) {
        TR_BUG_ON(b->root != NULL);
        b->root = n;
        return TR_OK;
    }
    struct docb_frame *f = &b->frames[b->depth - 1];
    if (height > f->height)
        f->height = height;
    if (f->n->type == TR_N_SEQ) {
        push(b, NULL, n);
        return TR_OK;
    }
    TR_BUG_ON(!f->have_key);
    /* Errors about a block point at its key, and so does a value that has no line. */
    if (n->type == TR_N_MAP || n->type == TR_N_SEQ || !n->line)
        n->line = f->key_line;
    b->stack[b->nstack - 1].val = n;
    f->have_key = false;
    return TR_OK;
}

int docb_open(struct docb *b, enum tr_ntype type, uint32_t line)
{
    if (b->depth == TR_DECODE_MAX_DEPTH) {
        char msg[96];
        snprintf(msg, sizeof(msg), "the document is nested deeper than %d levels", TR_DECODE_MAX_DEPTH);
        return fail(b, line, msg);
    }
    struct tr_node *n = docb_scalar(b, type, line);
    if (!n)
        return TR_EINVAL;
    b->frames[b->depth++] = (struct docb_frame){.n = n, .base = b->nstack, .nodes_at = b->nodes - 1};
    return TR_OK;
}

static int key_cmp(const void *x, const void *y)
{
    const struct tr_kv *p = *(const struct tr_kv *const *)x, *q = *(const struct tr_kv *const *)y;
    return strcmp(p->key, q->key);
}

static int duplicate(struct docb *b, const struct tr_kv *e)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "duplicate key \"%.64s%s\"", e->key, strlen(e->key) > 64 ? "..." : "");
    return fail(b, e->val->line, msg);
}

/* Two entries with one key are an error (Kubernetes' strict decoding says the same). Small maps
 * compare every pair; larger ones sort, so a map of a million keys costs n log n, not n². */
static int check_duplicates(struct docb *b, struct tr_kv *e, size_t n)
{
    if (n <= 8) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (strcmp(e[i].key, e[j].key) == 0)
                    return duplicate(b, &e[i]);
        return TR_OK;
    }
    struct tr_kv **v = tr_xmalloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = &e[i];
    qsort(v, n, sizeof(*v), key_cmp);
    int rc = TR_OK;
    for (size_t i = 1; i < n && rc == TR_OK; i++)
        if (strcmp(v[i]->key, v[i - 1]->key) == 0)
            rc = duplicate(b, v[i] > v[i - 1] ? v[i] : v[i - 1]); /* the later one */
    free(v);
    return rc;
}

/* YAML merge keys (<<, yaml.org/type/merge.html, as go-yaml and so kubectl read them): the
 * entries of the merged mapping(s) join this one unless it has the key already; of several
 * mappings listed, the first to have a key wins. Explicit entries keep their order, merged
 * ones follow. */
static int close_merged_map(struct docb *b, struct docb_frame *f, struct tr_kv *e, size_t n)
{
    struct tr_map seen = {0};
    size_t out = 0, room = 0, nsrc = 0;
    /* The merged mappings in order: each merge entry's value, or each item of its list. */
    const struct tr_node **src = NULL;
    int rc = TR_OK;
    for (size_t i = 0; i < n; i++) {
        if (e[i].key != docb_merge_key) {
            if (tr_map_put(&seen, e[i].key, strlen(e[i].key), e[i].val)) {
                rc = duplicate(b, &e[i]);
                goto out;
            }
            out++;
            continue;
        }
        const struct tr_node *v = e[i].val;
        size_t k = v->type == TR_N_SEQ ? v->n : 1;
        src = tr_xrealloc(src, (nsrc + k) * sizeof(*src));
        for (size_t j = 0; j < k; j++) {
            const struct tr_node *m = v->type == TR_N_SEQ ? v->u.items[j] : v;
            if (m->type != TR_N_MAP) {
                rc = fail(b, v->line, "a merge key (<<) takes a mapping or a list of mappings");
                goto out;
            }
            src[nsrc++] = m;
            room += m->n;
        }
    }
    struct tr_kv *kv = TR_ANEWN(b->a, struct tr_kv, out + room);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].key != docb_merge_key)
            kv[k++] = e[i];
    for (size_t i = 0; i < nsrc; i++) {
        for (uint32_t j = 0; j < src[i]->n; j++) {
            const char *key = src[i]->u.kv[j].key;
            if (tr_map_get(&seen, key, strlen(key)))
                continue; /* an explicit entry, or an earlier mapping's, wins */
            tr_map_put(&seen, key, strlen(key), src[i]->u.kv[j].val);
            kv[k++] = src[i]->u.kv[j];
        }
    }
    f->n->u.kv = kv;
    f->n->n = (uint32_t)k;
    f->n->exact = 1;
out:
    free(src);
    tr_map_dispose(&seen);
    return rc;
}

int docb_close(struct docb *b, struct tr_node **out, size_t *size, uint32_t *height)
{
    TR_BUG_ON(b->depth == 0);
    struct docb_frame *f = &b->frames[b->depth - 1];
    struct tr_node *n = f->n;
    size_t k = b->nstack - f->base;
    struct tr_kv *e = k ? b->stack + f->base : NULL;
    TR_BUG_ON(f->have_key);
    if (n->type == TR_N_SEQ) {
        n->u.items = k ? TR_ANEWN(b->a, struct tr_node *, k) : NULL;
        for (size_t i = 0; i < k; i++)
            n->u.items[i] = e[i].val;
        n->n = (uint32_t)k;
        n->exact = 1;
    } else {
        int rc = f->merges ? close_merged_map(b, f, e, k) : check_duplicates(b, e, k);
        if (rc != TR_OK)
            return rc;
        if (!f->merges) {
            n->u.kv = k ? TR_ANEWN(b->a, struct tr_kv, k) : NULL;
            if (k)
                memcpy(n->u.kv, e, k * sizeof(*e));
            n->n = (uint32_t)k;
            n->exact = 1;
        }
    }
    b->nstack = f->base;
    uint32_t h = f->height + 1;
    size_t sz = b->nodes - f->nodes_at;
    b->depth--;
    if (out)
        *out = n;
    if (size)
        *size = sz;
    if (height)
        *height = h;
    return docb_add(b, n, h);
}

/* A deep copy with arrays at their length; src's tree is complete and within the limits. */
static struct tr_node *copy_tree(struct tr_arena *a, const struct tr_node *src, uint32_t line)
{
    struct tr_node *n = tr_node_new(a, (enum tr_ntype)src->type);
    *n = *src;
    n->line = line;
    n->exact = 1;
    switch (src->type) {
    case TR_N_STR:
        n->u.s = tr_arena_strndup(a, src->u.s, src->n);
        break;
    case TR_N_SEQ:
        n->u.items = src->n ? TR_ANEWN(a, struct tr_node *, src->n) : NULL;
        for (uint32_t i = 0; i < src->n; i++)
            n->u.items[i] = copy_tree(a, src->u.items[i], line);
        break;
    case TR_N_MAP:
        n->u.kv = src->n ? TR_ANEWN(a, struct tr_kv, src->n) : NULL;
        for (uint32_t i = 0; i < src->n; i++) {
            n->u.kv[i].key = src->u.kv[i].key; /* keys are never written: share them */
            n->u.kv[i].val = copy_tree(a, src->u.kv[i].val, line);
        }
        break;
    default:
        break;
    }
    return n;
}

int docb_copy(struct docb *b, const struct tr_node *src, size_t size, uint32_t height, uint32_t line)
{
    char msg[160];
    if (b->copied + size > b->literal + TR_DECODE_ALIAS_SLACK) {
        snprintf(msg, sizeof(msg),
                 "aliases would expand the document to over %zu values from %zu written: refused", b->literal +
                 b->copied + size, b->literal);
        return fail(b, line, msg);
    }
    if ((uint32_t)b->depth + height > TR_DECODE_MAX_DEPTH) {
        snprintf(msg, sizeof(msg), "the alias would nest the document deeper than %d levels", TR_DECODE_MAX_DEPTH);
        return fail(b, line, msg);
    }
    if (count(b, size, line) != TR_OK)
        return TR_EINVAL;
    b->copied += size;
    return docb_add(b, copy_tree(b->a, src, line), height);
}

size_t tr_text_invalid_at(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        if (s[i] == 0)
            return i;
        size_t n = s[i] < 0x80 ? 1 : tr_utf8_seq(s + i, len - i);
        if (!n)
            return i;
        i += n;
    }
    return len;
}

void tr_text_position(const char *text, size_t off, unsigned *line, unsigned *col)
{
    *line = *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            ++*line;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            ++*col;
        }
    }
}

int tr_text_check(const char *text, size_t len, struct tr_buf *err)
{
    if (len > TR_DECODE_MAX_INPUT) {
        tr_buf_printf(err, "the input is %zu bytes, over the limit of %u", len, TR_DECODE_MAX_INPUT);
        return TR_EINVAL;
    }
    /* Manifests are Unicode text (Kubernetes' decoders reject malformed UTF-8 too), and NUL is
     * no character one may hold: checked first, with a position, whatever the format. */
    size_t off = tr_text_invalid_at((const unsigned char *)text, len);
    if (off == len)
        return TR_OK;
    unsigned line, col;
    tr_text_position(text, off, &line, &col);
    tr_buf_printf(err, "%u:%u: %s", line, col, text[off] ? "invalid UTF-8" : "NUL byte");
    return TR_EINVAL;
}

void docb_keep_first(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    (void)line;
    struct docb_first *f = ud;
    if (f->docs++ == 0)
        f->root = tr_node_compact(f->a, root);
    tr_arena_free(a);
}
