#include "api/schema.h"
#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/node.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <inttypes.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void tr_verrs_init(struct tr_verrs *e)
{
    memset(e, 0, sizeof(*e));
}

void tr_verrs_dispose(struct tr_verrs *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].path);
        free(e->v[i].msg);
    }
    free(e->v);
    memset(e, 0, sizeof(*e));
}

void tr_verrs_add(struct tr_verrs *e, uint32_t line, const char *path, const char *fmt, ...)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 8;
        e->v = tr_xrealloc(e->v, e->cap * sizeof(*e->v));
    }
    struct tr_buf b;
    tr_buf_init(&b, 0);
    va_list ap;
    va_start(ap, fmt);
    tr_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    e->v[e->n].path = tr_xstrdup(path);
    e->v[e->n].msg = tr_buf_steal(&b);
    e->v[e->n].line = line;
    e->n++;
}

size_t tr_utf8_len(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

/* --- patterns --- */

struct pat {
    const char *key;
    pcre2_code *code;
};

static pthread_mutex_t pat_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pat *pats;
static size_t npats, cappats;

static pcre2_code *pat_get(const char *pattern)
{
    pthread_mutex_lock(&pat_lock);
    for (size_t i = 0; i < npats; i++) {
        if (pats[i].key == pattern) {
            pthread_mutex_unlock(&pat_lock);
            return pats[i].code;
        }
    }
    int ec;
    PCRE2_SIZE eo;
    /* RE2's $ matches only at the end of text; PCRE2's also before a final newline unless told. */
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
    TR_BUG_ON(!code); /* a pattern in our own tables that does not compile is a bug */
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    if (npats == cappats) {
        cappats = cappats ? cappats * 2 : 32;
        pats = tr_xrealloc(pats, cappats * sizeof(*pats));
    }
    pats[npats].key = pattern;
    pats[npats].code = code;
    npats++;
    pthread_mutex_unlock(&pat_lock);
    return code;
}

bool tr_schema_pattern_match(const char *pattern, const char *s, size_t len)
{
    pcre2_code *code = pat_get(pattern);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    int rc = pcre2_match(code, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

/* --- defaults --- */

/* Defaults are parsed once per schema entry (keyed by the text's address: the tables are
 * static) and cloned into each object. */
static pthread_mutex_t def_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tr_arena *def_arena;
static struct {
    const char *key;
    struct tr_node *val;
} *defs;
static size_t ndefs, capdefs;

static struct tr_node *default_value(struct tr_arena *a, const char *def)
{
    pthread_mutex_lock(&def_lock);
    struct tr_node *parsed = NULL;
    for (size_t i = 0; i < ndefs && !parsed; i++)
        if (defs[i].key == def)
            parsed = defs[i].val;
    if (!parsed) {
        if (!def_arena)
            def_arena = tr_arena_new(4096);
        struct tr_buf err;
        tr_buf_init(&err, 256);
        parsed = tr_yaml_parse_one(def_arena, def, strlen(def), &err);
        TR_BUG_ON(!parsed); /* our own default text must parse */
        tr_buf_dispose(&err);
        if (ndefs == capdefs) {
            capdefs = capdefs ? capdefs * 2 : 64;
            defs = tr_xrealloc(defs, capdefs * sizeof(*defs));
        }
        defs[ndefs].key = def;
        defs[ndefs].val = parsed;
        ndefs++;
    }
    pthread_mutex_unlock(&def_lock);
    return tr_node_clone(a, parsed);
}

/* --- validation --- */

struct vctx {
    struct tr_arena *a;
    struct tr_verrs *errs;
    struct tr_buf path;
    bool blocking; /* an error that stops CEL from running at all (see tr_schema_validate) */
};

static void quote_val(char *out, size_t cap, const struct tr_node *n)
{
    char t[200];
    tr_node_scalar_text(n, t, sizeof(t));
    if (n && n->type == TR_N_STR)
        snprintf(out, cap, "\"%s\"", t);
    else
        snprintf(out, cap, "%s", t);
}

static bool type_ok(enum tr_sty t, const struct tr_node *n)
{
    switch (t) {
    case TR_S_ANY:
        return true;
    case TR_S_OBJ:
    case TR_S_MAP:
        return n->type == TR_N_MAP;
    case TR_S_ARR:
        return n->type == TR_N_SEQ;
    case TR_S_STR:
        return n->type == TR_N_STR;
    case TR_S_INT:
        return n->type == TR_N_INT;
    case TR_S_NUM:
        return n->type == TR_N_INT || n->type == TR_N_FLOAT;
    case TR_S_BOOL:
        return n->type == TR_N_BOOL;
    }
    return false;
}

static const char *sty_name(enum tr_sty t)
{
    static const char *const names[] = {"any", "object", "object", "array", "string", "integer", "number", "boolean"};
    return names[t];
}

static bool valid_datetime(const char *s)
{
    /* RFC 3339: 2006-01-02T15:04:05Z or with fraction / offset. */
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return false;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0';
    if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':')
        return true;
    return false;
}

/* Format "byte": base64 as Go's encoding/json decodes a []byte (base64.StdEncoding: the
 * standard alphabet, padded to a multiple of 4; CR and LF are skipped). Returns the offset of
 * the first byte that breaks it, or -1 when s is well-formed. */
static long base64_invalid_at(const char *s, size_t len)
{
    size_t q = 0, pad = 0; /* characters seen (CR and LF aside), '=' among them */
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\r' || ch == '\n')
            continue;
        bool alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                     ch == '+' || ch == '/';
        if (ch == '=' ? q % 4 < 2 : !alpha || pad)
            return (long)i; /* not the alphabet, '=' too early in a quantum, or data after '=' */
        pad += ch == '=';
        q++;
    }
    return q % 4 ? (long)len : -1;
}

static size_t validate(struct vctx *c, const struct tr_schema *s, struct tr_node *n, const struct tr_node *old);

static void err_at(struct vctx *c, const struct tr_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_at(struct vctx *c, const struct tr_node *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tr_verrs_add(c->errs, n ? n->line : 0, c->path.len ? c->path.data : "<root>", "%s", msg);
}

static size_t child(struct vctx *c, const struct tr_schema *s, struct tr_node *n, const struct tr_node *old,
                    const char *key, long idx)
{
    size_t mark = c->path.len;
    if (key)
        tr_buf_printf(&c->path, c->path.len ? ".%s" : "%s", key);
    else
        tr_buf_printf(&c->path, "[%ld]", idx);
    size_t e = validate(c, s, n, old);
    c->path.len = mark;
    c->path.data[mark] = '\0';
    return e;
}

/* The old element that corresponds to an array item: by list-map keys when the list is a map,
 * else none (Kubernetes correlates only map lists and sets for transition rules). */
static const struct tr_node *old_item(const struct tr_schema *s, const struct tr_node *old, const struct tr_node *item)
{
    if (!old || old->type != TR_N_SEQ || s->list_type != TR_LIST_MAP || !s->list_keys)
        return NULL;
    for (uint32_t i = 0; i < old->n; i++) {
        bool same = true;
        for (const char *const *k = s->list_keys; *k && same; k++)
            same = tr_node_equal(tr_node_get(old->u.items[i], *k), tr_node_get(item, *k));
        if (same)
            return old->u.items[i];
    }
    return NULL;
}

/* Two items of a set that are equal, or two of a list-map with the same keys. */
static bool same_item(const struct tr_schema *s, const struct tr_node *a, const struct tr_node *b)
{
    if (s->list_type == TR_LIST_SET)
        return tr_node_equal(a, b);
    for (const char *const *k = s->list_keys; k && *k; k++)
        if (!tr_node_equal(tr_node_get(a, *k), tr_node_get(b, *k)))
            return false;
    return true;
}

static uint64_t item_hash(const struct tr_schema *s, const struct tr_node *item)
{
    if (s->list_type == TR_LIST_SET)
        return tr_node_hash(item);
    uint64_t h = 0;
    for (const char *const *k = s->list_keys; k && *k; k++)
        h = (h ^ tr_node_hash(tr_node_get(item, *k))) * 1099511628211ULL;
    return h;
}

/* Reports every item of a set or list-map that repeats an earlier one. Items go into an open
 * addressing table by hash and are compared only with those they meet there: a Service of
 * 100k ports is checked in linear time, not in 5*10^9 comparisons (33 s for 50k). The hash is
 * mixed with the table's address (random under ASLR), so that a file cannot aim its items at
 * one slot. Returns the number of errors. */
static size_t duplicates(struct vctx *c, const struct tr_schema *s, const struct tr_node *n)
{
    size_t errs = 0, cap = 16;
    while (cap < 2 * (size_t)n->n)
        cap *= 2;
    uint32_t *slot = tr_xcalloc(cap, sizeof(*slot)); /* an item's index + 1, or 0: free */
    for (uint32_t i = 0; i < n->n; i++) {
        uint64_t h = item_hash(s, n->u.items[i]) ^ (uint64_t)(uintptr_t)slot;
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL; /* splitmix64's finalizer */
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
        size_t at = (size_t)(h ^ (h >> 31)) & (cap - 1);
        while (slot[at] && !same_item(s, n->u.items[i], n->u.items[slot[at] - 1]))
            at = (at + 1) & (cap - 1);
        if (!slot[at]) {
            slot[at] = i + 1; /* a duplicate stays out: it equals the one found */
            continue;
        }
        size_t mark = c->path.len;
        tr_buf_printf(&c->path, "[%u]", i);
        err_at(c, n->u.items[i], "Duplicate value: %s", s->list_type == TR_LIST_SET ? "set item" : "list-map key");
        c->path.len = mark;
        c->path.data[mark] = '\0';
        errs++;
    }
    free(slot);
    return errs;
}

static bool has_rules(const struct tr_schema *s, int depth);

static size_t validate(struct vctx *c, const struct tr_schema *s, struct tr_node *n, const struct tr_node *old)
{
    size_t errs = 0;
    if (n->type == TR_N_NULL && s->type != TR_S_ANY) {
        /* Kubernetes prunes explicit nulls of non-nullable fields before validation; a null
         * where a value is required is reported by the parent as missing. */
        return 0;
    }
    if (!type_ok(s->type, n)) {
        char v[256];
        quote_val(v, sizeof(v), n);
        err_at(c, n, "Invalid value: %s: must be of type %s", v, sty_name(s->type));
        c->blocking = true;
        return 1;
    }
    /* IntOrString (x-kubernetes-int-or-string): the decoder of the API server takes nothing else. */
    if (s->format && strcmp(s->format, "int-or-string") == 0 && n->type != TR_N_INT && n->type != TR_N_STR) {
        char v[256];
        quote_val(v, sizeof(v), n);
        err_at(c, n, "Invalid value: %s: must be an integer or a string", v);
        c->blocking = true;
        return 1;
    }
    switch (n->type) {
    case TR_N_STR: {
        if (s->enums) {
            bool ok = false;
            for (const char *const *e = s->enums; *e && !ok; e++)
                ok = strcmp(*e, n->u.s) == 0;
            if (!ok) {
                struct tr_buf b;
                tr_buf_init(&b, 0);
                for (const char *const *e = s->enums; *e; e++)
                    tr_buf_printf(&b, "%s\"%s\"", e == s->enums ? "" : ", ", *e);
                err_at(c, n, "Unsupported value: \"%s\": supported values: %s", n->u.s, b.data);
                tr_buf_dispose(&b);
                c->blocking = true;
                errs++;
            }
        }
        size_t chars = tr_utf8_len(n->u.s, n->n);
        if ((s->flags & TR_S_MAX_LEN) && (int64_t)chars > s->max_len) {
            err_at(c, n, "Too long: may not be more than %" PRId64 " bytes", s->max_len);
            c->blocking = true;
            errs++;
        }
        if ((s->flags & TR_S_MIN_LEN) && (int64_t)chars < s->min_len) {
            err_at(c, n, "Invalid value: \"%s\": should be at least %" PRId64 " chars long", n->u.s, s->min_len);
            errs++;
        }
        if (s->pattern && !tr_schema_pattern_match(s->pattern, n->u.s, n->n)) {
            err_at(c, n, "Invalid value: \"%s\": should match '%s'", n->u.s, s->pattern);
            errs++;
        }
        if (s->format && strcmp(s->format, "date-time") == 0 && !valid_datetime(n->u.s)) {
            err_at(c, n, "Invalid value: \"%s\": must be a date-time (RFC 3339)", n->u.s);
            errs++;
        }
        long bad;
        if (s->format && strcmp(s->format, "byte") == 0 && (bad = base64_invalid_at(n->u.s, n->n)) >= 0) {
            err_at(c, n, "Invalid value: illegal base64 data at input byte %ld", bad);
            c->blocking = true;
            errs++;
        }
        break;
    }
    case TR_N_INT:
    case TR_N_FLOAT: {
        double v = n->type == TR_N_INT ? (double)n->u.i : n->u.f;
        char t[64];
        tr_node_scalar_text(n, t, sizeof(t));
        if ((s->flags & TR_S_MINIMUM) && v < (double)s->minimum) {
            err_at(c, n, "Invalid value: %s: should be greater than or equal to %" PRId64, t, s->minimum);
            errs++;
        }
        if ((s->flags & TR_S_MAXIMUM) && v > (double)s->maximum) {
            err_at(c, n, "Invalid value: %s: should be less than or equal to %" PRId64, t, s->maximum);
            errs++;
        }
        if (s->format && n->type == TR_N_INT && strcmp(s->format, "int32") == 0 &&
            (n->u.i < INT32_MIN || n->u.i > INT32_MAX)) {
            err_at(c, n, "Invalid value: %s: must fit in 32 bits", t);
            errs++;
        }
        break;
    }
    case TR_N_SEQ: {
        if ((s->flags & TR_S_MAX_ITEMS) && (int64_t)n->n > s->max_items) {
            err_at(c, n, "Too many: %u: must have at most %" PRId64 " items", n->n, s->max_items);
            c->blocking = true;
            errs++;
        }
        if ((s->flags & TR_S_MIN_ITEMS) && (int64_t)n->n < s->min_items) {
            err_at(c, n, "Invalid value: %u: should have at least %" PRId64 " items", n->n, s->min_items);
            errs++;
        }
        /* The old version of an item is looked for only where a rule can read it. */
        bool olds = old && has_rules(s->items, 0);
        for (uint32_t i = 0; i < n->n; i++) {
            if (s->items)
                errs += child(c, s->items, n->u.items[i], olds ? old_item(s, old, n->u.items[i]) : NULL, NULL, i);
        }
        if (s->list_type == TR_LIST_SET || s->list_type == TR_LIST_MAP)
            errs += duplicates(c, s, n);
        break;
    }
    case TR_N_MAP: {
        if ((s->flags & TR_S_MAX_PROPS) && (int64_t)n->n > s->max_props) {
            err_at(c, n, "Too many: %u: must have at most %" PRId64 " items", n->n, s->max_props);
            c->blocking = true;
            errs++;
        }
        if ((s->flags & TR_S_MIN_PROPS) && (int64_t)n->n < s->min_props) {
            err_at(c, n, "Invalid value: %u: should have at least %" PRId64 " properties", n->n, s->min_props);
            errs++;
        }
        if (s->type == TR_S_MAP) {
            bool olds = old && has_rules(s->items, 0);
            for (uint32_t i = 0; i < n->n; i++)
                if (s->items)
                    errs += child(c, s->items, n->u.kv[i].val, olds ? tr_node_get(old, n->u.kv[i].key) : NULL,
                                  n->u.kv[i].key, -1);
            break;
        }
        if (s->type != TR_S_OBJ)
            break;
        /* Explicit nulls are pruned (the API server drops null for non-nullable fields), in
         * one pass: a map of 100k nulls is not 100k deletions. */
        uint32_t kept = 0;
        for (uint32_t i = 0; i < n->n; i++)
            if (n->u.kv[i].val->type != TR_N_NULL)
                n->u.kv[kept++] = n->u.kv[i];
        n->n = kept;
        /* Defaults first, as the API server applies them before validation. */
        for (const struct tr_sfield *f = s->fields; f && f->name; f++) {
            if (f->schema->def && !tr_node_get(n, f->name))
                tr_node_set(c->a, n, f->name, default_value(c->a, f->schema->def));
        }
        for (uint32_t i = 0; i < n->n; i++) {
            const struct tr_sfield *f = s->fields;
            while (f && f->name && strcmp(f->name, n->u.kv[i].key) != 0)
                f++;
            if (!f || !f->name) {
                if (!(s->flags & TR_S_PRESERVE)) {
                    size_t mark = c->path.len;
                    tr_buf_printf(&c->path, c->path.len ? ".%s" : "%s", n->u.kv[i].key);
                    err_at(c, n->u.kv[i].val, "unknown field \"%s\"", n->u.kv[i].key);
                    c->path.len = mark;
                    c->path.data[mark] = '\0';
                    errs++;
                }
                continue;
            }
            errs += child(c, f->schema, n->u.kv[i].val, tr_node_get(old, f->name), f->name, -1);
        }
        for (const struct tr_sfield *f = s->fields; f && f->name; f++) {
            if (f->required && !tr_node_get(n, f->name)) {
                size_t mark = c->path.len;
                tr_buf_printf(&c->path, c->path.len ? ".%s" : "%s", f->name);
                err_at(c, n, "Required value");
                c->blocking = true;
                c->path.len = mark;
                c->path.data[mark] = '\0';
                errs++;
            }
        }
        break;
    }
    default:
        break;
    }
    return errs;
}

/* Second pass: the CEL rules (and structural checks) of every node, children before parents,
 * as Kubernetes runs them once the object has no blocking error. */
static size_t run_rules(struct vctx *c, const struct tr_schema *s, const struct tr_node *n, const struct tr_node *old)
{
    size_t errs = 0;
    if (n->type == TR_N_NULL || !type_ok(s->type, n))
        return 0;
    /* Items and map values are visited only when their schema has rules: a list of 100k
     * ports or a map of 100k labels is not walked for nothing (nor its old version searched). */
    if (n->type == TR_N_SEQ && s->items && has_rules(s->items, 0)) {
        for (uint32_t i = 0; i < n->n; i++) {
            size_t mark = c->path.len;
            tr_buf_printf(&c->path, "[%u]", i);
            errs += run_rules(c, s->items, n->u.items[i], old ? old_item(s, old, n->u.items[i]) : NULL);
            c->path.len = mark;
            c->path.data[mark] = '\0';
        }
    } else if (n->type == TR_N_MAP && (s->type == TR_S_OBJ || has_rules(s->items, 0))) {
        for (uint32_t i = 0; i < n->n; i++) {
            const struct tr_schema *cs = NULL;
            if (s->type == TR_S_MAP) {
                cs = s->items;
            } else if (s->type == TR_S_OBJ) {
                for (const struct tr_sfield *f = s->fields; f && f->name && !cs; f++)
                    if (strcmp(f->name, n->u.kv[i].key) == 0)
                        cs = f->schema;
            }
            if (!cs)
                continue;
            size_t mark = c->path.len;
            tr_buf_printf(&c->path, c->path.len ? ".%s" : "%s", n->u.kv[i].key);
            errs += run_rules(c, cs, n->u.kv[i].val, tr_node_get(old, n->u.kv[i].key));
            c->path.len = mark;
            c->path.data[mark] = '\0';
        }
    }
    if (s->check) {
        const char *msg = s->check(n);
        if (msg) {
            err_at(c, n, "%s", msg);
            errs++;
        }
    }
    for (const struct tr_cel *r = s->cel; r && r->check; r++) {
        if (r->check(n, old))
            continue;
        size_t mark = c->path.len;
        if (r->field_path)
            tr_buf_puts(&c->path, r->field_path[0] == '.' && !c->path.len ? r->field_path + 1 : r->field_path);
        if (r->message)
            err_at(c, n, "%s", r->message);
        else
            err_at(c, n, "failed rule: %s", r->rule);
        c->path.len = mark;
        if (c->path.data)
            c->path.data[mark] = '\0';
        errs++;
    }
    return errs;
}

static bool has_rules(const struct tr_schema *s, int depth)
{
    if (!s || depth > 64)
        return false;
    if ((s->cel && s->cel->check) || s->check)
        return true;
    if (has_rules(s->items, depth + 1))
        return true;
    for (const struct tr_sfield *f = s->fields; f && f->name; f++)
        if (has_rules(f->schema, depth + 1))
            return true;
    return false;
}

size_t tr_schema_validate(struct tr_arena *a, const struct tr_schema *s, struct tr_node *n,
                          const struct tr_node *old, const char *path, struct tr_verrs *errs)
{
    struct vctx c = {.a = a, .errs = errs};
    tr_buf_init(&c.path, 0);
    tr_buf_puts(&c.path, path ? path : "");
    size_t e = validate(&c, s, n, old);
    /* Kubernetes runs CEL only when no error is blocking (required, enum, too long, too many,
     * wrong type): then every rule can trust the types it reads. Otherwise it says so. */
    if (c.blocking && has_rules(s, 0)) {
        tr_verrs_add(errs, n->line, "<root>",
                     "some validation rules were not checked because the object was invalid; correct the existing "
                     "errors to complete validation");
        e++;
    } else if (!c.blocking) {
        c.path.len = 0;
        tr_buf_puts(&c.path, path ? path : "");
        e += run_rules(&c, s, n, old);
    }
    tr_buf_dispose(&c.path);
    return e;
}

/* --- dump for the oracle --- */

static void dump(struct tr_buf *b, const struct tr_schema *s, int depth);

static void dump_strs(struct tr_buf *b, const char *key, const char *const *v)
{
    tr_buf_printf(b, ",\"%s\":[", key);
    for (const char *const *p = v; *p; p++) {
        if (p != v)
            tr_buf_putc(b, ',');
        tr_json_quote(b, *p, strlen(*p));
    }
    tr_buf_putc(b, ']');
}

static void dump(struct tr_buf *b, const struct tr_schema *s, int depth)
{
    static const char *const types[] = {"", "object", "object", "array", "string", "integer", "number", "boolean"};
    TR_BUG_ON(depth > 64);
    tr_buf_printf(b, "{\"type\":\"%s\"", types[s->type]);
    if (s->type == TR_S_OBJ && s->fields) {
        tr_buf_puts(b, ",\"properties\":{");
        bool any_req = false;
        for (const struct tr_sfield *f = s->fields; f->name; f++) {
            if (f != s->fields)
                tr_buf_putc(b, ',');
            tr_json_quote(b, f->name, strlen(f->name));
            tr_buf_putc(b, ':');
            dump(b, f->schema, depth + 1);
            any_req |= f->required;
        }
        tr_buf_putc(b, '}');
        if (any_req) {
            tr_buf_puts(b, ",\"required\":[");
            bool first = true;
            for (const struct tr_sfield *f = s->fields; f->name; f++) {
                if (!f->required)
                    continue;
                if (!first)
                    tr_buf_putc(b, ',');
                first = false;
                tr_json_quote(b, f->name, strlen(f->name));
            }
            tr_buf_putc(b, ']');
        }
    }
    if (s->flags & TR_S_PRESERVE)
        tr_buf_puts(b, ",\"x-kubernetes-preserve-unknown-fields\":true");
    if (s->items) {
        tr_buf_puts(b, s->type == TR_S_MAP ? ",\"additionalProperties\":" : ",\"items\":");
        dump(b, s->items, depth + 1);
    }
    if (s->enums)
        dump_strs(b, "enum", s->enums);
    if (s->pattern) {
        tr_buf_puts(b, ",\"pattern\":");
        tr_json_quote(b, s->pattern, strlen(s->pattern));
    }
    if (s->format)
        tr_buf_printf(b, ",\"format\":\"%s\"", s->format);
    if (s->flags & TR_S_MIN_LEN)
        tr_buf_printf(b, ",\"minLength\":%" PRId64, s->min_len);
    if (s->flags & TR_S_MAX_LEN)
        tr_buf_printf(b, ",\"maxLength\":%" PRId64, s->max_len);
    if (s->flags & TR_S_MIN_ITEMS)
        tr_buf_printf(b, ",\"minItems\":%" PRId64, s->min_items);
    if (s->flags & TR_S_MAX_ITEMS)
        tr_buf_printf(b, ",\"maxItems\":%" PRId64, s->max_items);
    if (s->flags & TR_S_MIN_PROPS)
        tr_buf_printf(b, ",\"minProperties\":%" PRId64, s->min_props);
    if (s->flags & TR_S_MAX_PROPS)
        tr_buf_printf(b, ",\"maxProperties\":%" PRId64, s->max_props);
    if (s->flags & TR_S_MINIMUM)
        tr_buf_printf(b, ",\"minimum\":%" PRId64, s->minimum);
    if (s->flags & TR_S_MAXIMUM)
        tr_buf_printf(b, ",\"maximum\":%" PRId64, s->maximum);
    if (s->def) {
        struct tr_arena *a = tr_arena_new(1024);
        tr_buf_puts(b, ",\"default\":");
        tr_node_emit_json(b, default_value(a, s->def), 0);
        tr_arena_free(a);
    }
    if (s->list_type) {
        static const char *const lt[] = {"", "atomic", "set", "map"};
        tr_buf_printf(b, ",\"x-kubernetes-list-type\":\"%s\"", lt[s->list_type]);
    }
    if (s->list_keys)
        dump_strs(b, "x-kubernetes-list-map-keys", s->list_keys);
    if (s->cel && s->cel->check) {
        tr_buf_puts(b, ",\"x-kubernetes-validations\":[");
        for (const struct tr_cel *r = s->cel; r->check; r++) {
            if (r != s->cel)
                tr_buf_putc(b, ',');
            tr_buf_puts(b, "{\"rule\":");
            tr_json_quote(b, r->rule, strlen(r->rule));
            tr_buf_puts(b, ",\"message\":");
            tr_json_quote(b, r->message, strlen(r->message));
            if (r->field_path) {
                tr_buf_puts(b, ",\"fieldPath\":");
                tr_json_quote(b, r->field_path, strlen(r->field_path));
            }
            if (r->reason) {
                tr_buf_puts(b, ",\"reason\":");
                tr_json_quote(b, r->reason, strlen(r->reason));
            }
            tr_buf_putc(b, '}');
        }
        tr_buf_putc(b, ']');
    }
    if (s->check_desc) {
        tr_buf_puts(b, ",\"x-torii-check\":");
        tr_json_quote(b, s->check_desc, strlen(s->check_desc));
    }
    tr_buf_putc(b, '}');
}

void tr_schema_dump(struct tr_buf *b, const struct tr_schema *s)
{
    dump(b, s, 0);
}
