#include "ir/match.h"
#include "base/arena.h"
#include "base/node.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A regex that does not compile can match nothing (the route stays, its match never hits). */
static const char never[] = "(*FAIL)";

/* pattern as every match's regular expression is compiled (UTF-8, RE2's "$"); NULL with PCRE2's
 * error code and offset when it does not compile. */
static pcre2_code *re_compile(const char *pattern, int *ec, PCRE2_SIZE *eo)
{
    return pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, ec, eo, NULL);
}

static pcre2_code *compile_re(struct tr_arena *a, const char *pattern)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = re_compile(pattern, &ec, &eo);
    if (!re && pattern != never)
        return compile_re(a, never);
    if (!re)
        return NULL;
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    tr_arena_on_reset(a, (tr_arena_cleanup_cb *)pcre2_code_free, re);
    return re;
}

/* Fills out (room for every entry of list) with the matches of list; returns how many. Header
 * names compare without case (RFC 9110 5.1), query parameter names exactly
 * (HTTPQueryParamMatch: "Query param name matching MUST be exact"). */
static size_t kv_list(struct tr_arena *a, const struct tr_node *list, bool exact_names, struct tr_ir_kv *out)
{
    size_t n = tr_node_len(list);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tr_node *m = tr_node_at(list, i);
        const char *name = tr_node_gets(m, "name"), *value = tr_node_gets(m, "value");
        if (!name || !value)
            continue;
        /* "If multiple entries specify equivalent header names, only the first entry with an
         * equivalent name MUST be considered" (HTTPHeaderMatch; HTTPQueryParamMatch alike, for
         * names equal byte for byte). */
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = exact_names ? strcmp(out[j].name, name) == 0 : strcasecmp(out[j].name, name) == 0;
        if (dup)
            continue;
        struct tr_ir_kv *kv = &out[k++];
        kv->name = name;
        kv->name_len = (uint16_t)strlen(name);
        kv->v = value;
        kv->value_len = (uint16_t)strlen(value);
        const char *type = tr_node_gets(m, "type");
        struct pcre2_real_code_8 *re = type && strcmp(type, "RegularExpression") == 0 ? compile_re(a, value) : NULL;
        if (re) {
            struct tr_ir_kv_re *r = TR_ANEW(a, struct tr_ir_kv_re);
            *r = (struct tr_ir_kv_re){re, value};
            kv->v = r;
            kv->regex = true;
        }
    }
    return k;
}

bool tr_ir_regex_ok(const char *pattern, char *why, size_t cap)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = re_compile(pattern, &ec, &eo);
    if (re) {
        pcre2_code_free(re);
        return true;
    }
    PCRE2_UCHAR msg[160];
    if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
        snprintf((char *)msg, sizeof(msg), "error %d", ec);
    snprintf(why, cap, "%s at offset %zu", (const char *)msg, (size_t)eo);
    return false;
}

/* GRPCMethodMatch becomes a path match on /service/method (gRPC over HTTP/2). Each regular
 * expression is a group of its own: a service "a|b" must not take the slash and the method into
 * its alternation. */
static void grpc_match(struct tr_arena *a, struct tr_ir_match *e, const struct tr_node *method)
{
    const char *type = tr_node_gets(method, "type");
    const char *svc = tr_node_gets(method, "service"), *m = tr_node_gets(method, "method");
    bool regex = type && strcmp(type, "RegularExpression") == 0;
    if (!svc && !m)
        return;
    if (regex) {
        e->path_kind = TR_PATH_REGEX;
        e->path = tr_arena_printf(a, "/(?:%s)/(?:%s)", svc ? svc : "[^/]+", m ? m : "[^/]+");
        e->path_re = compile_re(a, e->path);
    } else if (svc && m) {
        e->path_kind = TR_PATH_EXACT;
        e->path = tr_arena_printf(a, "/%s/%s", svc, m);
    } else if (svc) {
        e->path_kind = TR_PATH_PREFIX;
        e->path = tr_arena_printf(a, "/%s/", svc);
    } else {
        /* method only: any service */
        e->path_kind = TR_PATH_REGEX;
        e->path = tr_arena_printf(a, "/[^/]+/%s", m);
        e->path_re = compile_re(a, e->path);
    }
    e->path_len = (uint16_t)strlen(e->path);
}

/* HTTPMethod's values; the last, an empty name no request has, stands for any other (the schema
 * lets none through). */
const char *const tr_ir_methods[11] = {NULL, "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                                       "PATCH", ""};

static uint8_t method_index(const char *m)
{
    if (!m)
        return 0;
    for (uint8_t i = 1; i < 10; i++)
        if (strcmp(tr_ir_methods[i], m) == 0)
            return i;
    return 10;
}

static void compile_match(struct tr_arena *a, struct tr_ir_match *e, enum tr_kind kind, const struct tr_node *m)
{
    /* One array for header and query matches, none when there are neither (most matches: every
     * byte is per route). */
    const struct tr_node *hs = tr_node_get(m, "headers");
    const struct tr_node *qs = kind == TR_KIND_GRPCROUTE ? NULL : tr_node_get(m, "queryParams");
    size_t room = tr_node_len(hs) + tr_node_len(qs);
    struct tr_ir_kv *kv = room ? TR_ANEWN(a, struct tr_ir_kv, room) : NULL;
    e->nheaders = (uint8_t)kv_list(a, hs, false, kv);
    e->nquery = (uint8_t)kv_list(a, qs, true, kv ? kv + e->nheaders : NULL);
    e->kv = e->nheaders || e->nquery ? kv : NULL;
    e->path_kind = TR_PATH_PREFIX;
    e->path = "/";
    e->path_len = 1;
    if (kind == TR_KIND_GRPCROUTE) {
        grpc_match(a, e, tr_node_get(m, "method"));
    } else {
        const struct tr_node *p = tr_node_get(m, "path");
        const char *type = tr_node_gets(p, "type"), *value = tr_node_gets(p, "value");
        if (value) {
            e->path = value;
            e->path_len = (uint16_t)strlen(value);
            size_t n = e->path_len;
            while (n > 1 && value[n - 1] == '/')
                n--;
            e->prefix_len = (uint16_t)(n == 1 && value[0] == '/' ? 0 : n);
            if (type && strcmp(type, "Exact") == 0) {
                e->path_kind = TR_PATH_EXACT;
            } else if (type && strcmp(type, "RegularExpression") == 0) {
                e->path_kind = TR_PATH_REGEX;
                e->path_re = compile_re(a, value);
            }
        }
        e->method = method_index(tr_node_gets(m, "method"));
    }
}

struct tr_ir_match *tr_ir_matches_compile(struct tr_arena *a, enum tr_kind kind, const struct tr_node *rule, size_t *n)
{
    const struct tr_node *matches = tr_node_get(rule, "matches");
    size_t nm = tr_node_len(matches);
    struct tr_ir_match *out = TR_ANEWN(a, struct tr_ir_match, nm ? nm : 1);
    for (size_t j = 0; j < (nm ? nm : 1); j++)
        compile_match(a, &out[j], kind, nm ? tr_node_at(matches, j) : NULL);
    *n = nm ? nm : 1;
    return out;
}
