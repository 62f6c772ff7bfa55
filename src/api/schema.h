/* The schema of every kind, restated in C from the v1.6.1 CRDs (the CRDs stay the reference: a
 * test walks them and checks each constraint has its counterpart here). The engine applies
 * defaults and validates a decoded tree as the API server would. */
#ifndef TR_API_SCHEMA_H
#define TR_API_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_arena;
struct tr_node;
struct tr_buf;

enum tr_sty {
    TR_S_ANY,  /* anything (x-kubernetes-preserve-unknown-fields, or fields we do not check) */
    TR_S_OBJ,  /* object with the listed properties; others are unknown fields */
    TR_S_MAP,  /* object with additionalProperties: every value checked by .items */
    TR_S_ARR,  /* array; items checked by .items */
    TR_S_STR,
    TR_S_INT,
    TR_S_NUM,
    TR_S_BOOL,
};

enum tr_list_type { TR_LIST_NONE, TR_LIST_ATOMIC, TR_LIST_SET, TR_LIST_MAP };

/* Flags saying which numeric bounds are set (0 is a meaningful bound). */
#define TR_S_MIN_LEN 0x01u
#define TR_S_MAX_LEN 0x02u
#define TR_S_MIN_ITEMS 0x04u
#define TR_S_MAX_ITEMS 0x08u
#define TR_S_MINIMUM 0x10u
#define TR_S_MAXIMUM 0x20u
#define TR_S_MIN_PROPS 0x40u
#define TR_S_MAX_PROPS 0x80u
#define TR_S_PRESERVE 0x100u /* TR_S_OBJ: unknown fields are kept, not rejected */

struct tr_schema;

struct tr_sfield {
    const char *name;
    const struct tr_schema *schema;
    bool required;
};

/* A CEL rule (x-kubernetes-validations) restated in C. check() returns true when the rule
 * holds; self is the node the rule sits on (never NULL) and old the previous version of that
 * node, or NULL when there is none (a rule using oldSelf holds then, as in Kubernetes). */
typedef bool tr_cel_fn(const struct tr_node *self, const struct tr_node *old);

struct tr_cel {
    tr_cel_fn *check;
    const char *rule;       /* the CRD's rule text, verbatim: the oracle test compares it */
    const char *message;    /* the CRD's message, verbatim (the error users see) */
    const char *field_path; /* the CRD's fieldPath, appended to the error path, or NULL */
    const char *reason;     /* the CRD's reason, or NULL */
};

/* A structural check with no CEL form in the CRD (oneOf, anyOf, format). Returns NULL when it
 * holds, else the message. */
typedef const char *tr_schema_fn(const struct tr_node *self);

struct tr_schema {
    enum tr_sty type;
    const struct tr_sfield *fields; /* TR_S_OBJ: ended by {NULL} */
    const struct tr_schema *items;  /* TR_S_ARR: items; TR_S_MAP: values */
    const char *const *enums;       /* ended by NULL */
    const char *pattern;            /* the CRD's pattern, verbatim (RE2 syntax; run with PCRE2) */
    const char *format;             /* "int32", "int64", "date-time", ... or NULL */
    unsigned flags;                 /* TR_S_* bounds present, TR_S_PRESERVE */
    int64_t min_len, max_len;       /* strings, in characters */
    int64_t min_items, max_items;
    int64_t min_props, max_props;
    int64_t minimum, maximum;
    const char *def;                /* default, JSON text, or NULL */
    enum tr_list_type list_type;
    const char *const *list_keys; /* TR_LIST_MAP keys, ended by NULL */
    const struct tr_cel *cel;     /* ended by {NULL} */
    tr_schema_fn *check;          /* extra structural check (oneOf/anyOf/format), or NULL */
    const char *check_desc;       /* what check() restates, for the oracle ("oneOf", ...) */
};

/* One validation error. path is "spec.rules[0].matches[0].path.value". */
struct tr_verr {
    char *path;
    char *msg;
    uint32_t line;
};

struct tr_verrs {
    struct tr_verr *v;
    size_t n, cap;
};

void tr_verrs_init(struct tr_verrs *e);
void tr_verrs_dispose(struct tr_verrs *e);
void tr_verrs_add(struct tr_verrs *e, uint32_t line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Applies defaults to n (allocating in a) then validates it against s, as the API server does:
 * defaults first, then structure, then CEL rules bottom-up. old is the previous version of the
 * same object (for transition rules) or NULL. path is the prefix for messages ("" at the root).
 * Returns the number of errors added to errs. Thread-safe (pattern cache is locked). */
size_t tr_schema_validate(struct tr_arena *a, const struct tr_schema *s, struct tr_node *n,
                          const struct tr_node *old, const char *path, struct tr_verrs *errs);

/* Writes s as JSON in the shape of an OpenAPI v3 schema (properties, items, required, enum,
 * pattern, bounds, default, x-kubernetes-list-type/-map-keys, x-kubernetes-validations with
 * rule/message/fieldPath/reason): what the CRD oracle test compares. */
void tr_schema_dump(struct tr_buf *b, const struct tr_schema *s);

/* Does a RE2-syntax pattern (as in the CRDs) match s (the whole pattern as written; CRD
 * patterns anchor themselves)? Compiled once per pattern pointer. */
bool tr_schema_pattern_match(const char *pattern, const char *s, size_t len);

/* Counts the Unicode characters of UTF-8 s (what maxLength measures). */
size_t tr_utf8_len(const char *s, size_t len);

#endif
