#include "api/object.h"
#include "api/schema.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/node.h"
#include "base/err.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* RFC 1123 DNS subdomain (most kinds' names) or label (Namespace names). */
static const char *check_dns(const char *s, size_t len, bool label)
{
    size_t max = label ? 63 : 253;
    if (len == 0)
        return "must not be empty";
    if (len > max)
        return label ? "must be no more than 63 characters" : "must be no more than 253 characters";
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (alnum)
            continue;
        if (c == '-' && i > 0 && i + 1 < len && s[i - 1] != '.' && s[i + 1] != '.')
            continue;
        if (c == '.' && !label && i > 0 && i + 1 < len && s[i - 1] != '.')
            continue;
        return label ? "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
                     : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
    }
    return NULL;
}

int64_t tr_parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!p)
        return -1;
    int64_t t = (int64_t)timegm(&tm);
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    if (*p == 'Z' || *p == 'z' || *p == '\0')
        return t;
    int sign = *p == '+' ? 1 : *p == '-' ? -1 : 0;
    unsigned hh, mm;
    char tail;
    if (!sign || sscanf(p + 1, "%2u:%2u%c", &hh, &mm, &tail) != 2 || hh > 23 || mm > 59)
        return -1;
    return t - sign * (int64_t)(hh * 3600 + mm * 60);
}

void tr_format_time(char out[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A uid for objects given none (a manifest's usually has none): a UUID (version 4 form) made
 * from the object's sequence number under a key drawn once per process, so that it is kept
 * by no object, the same for every version of one, and another after a restart, as a random
 * one would be. */
static uint64_t uid_key[2];

static void uid_key_init(void)
{
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(uid_key, 1, sizeof(uid_key), f) : 0;
    if (f)
        fclose(f);
    if (got != sizeof(uid_key)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uid_key[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
        uid_key[1] = uid_key[0] * 6364136223846793005ULL + 1442695040888963407ULL;
    }
}

const char *tr_obj_uid(const struct tr_obj *o, char buf[TR_UID_LEN + 1])
{
    if (o->uid)
        return o->uid;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, uid_key_init);
    /* The first half a bijection of seq (distinct objects, distinct uids), the second half more
     * of the key. */
    uint64_t h[2] = {tr_mix64(o->seq ^ uid_key[0]), tr_mix64(o->seq + uid_key[1])};
    unsigned char r[16];
    for (size_t i = 0; i < 16; i++)
        r[i] = (unsigned char)(h[i / 8] >> (8 * (i % 8)));
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(buf, TR_UID_LEN + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
    return buf;
}

/* Everything but metadata and status: what bumps metadata.generation. */
static bool spec_changed(const struct tr_node *a, const struct tr_node *b)
{
    for (uint32_t i = 0; i < a->n; i++) {
        const char *k = a->u.kv[i].key;
        if (strcmp(k, "metadata") == 0 || strcmp(k, "status") == 0)
            continue;
        if (!tr_node_equal(a->u.kv[i].val, tr_node_get(b, k)))
            return true;
    }
    for (uint32_t i = 0; i < b->n; i++) {
        const char *k = b->u.kv[i].key;
        if (strcmp(k, "metadata") == 0 || strcmp(k, "status") == 0)
            continue;
        if (!tr_node_get(a, k))
            return true;
    }
    return false;
}

/* Values most routes hold (API versions, kinds, groups, match and filter types after defaults),
 * packed as one byte each. The order is the packed format's, within one process. */
static const char *const pack_dict[] = {
    "gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1", "gateway.networking.k8s.io/v1alpha2",
    "gateway.networking.k8s.io/v1alpha3", "gateway.networking.k8s.io", "HTTPRoute", "GRPCRoute", "TLSRoute",
    "TCPRoute", "UDPRoute", "Gateway", "ListenerSet", "Service", "", "PathPrefix", "Exact", "RegularExpression",
    "RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite", "RequestMirror",
    "ReplacePrefixMatch", "ReplaceFullPath", "ExtensionRef", "CORS", "http", "https", "GET", "POST", "/", NULL};

/* The kinds kept packed: routes, the objects there are thousands of, each read by translate
 * once per version. The others are read on every translation that concerns them. */
static bool packed_kind(enum tr_kind k)
{
    return k == TR_KIND_HTTPROUTE || k == TR_KIND_GRPCROUTE || k == TR_KIND_TLSROUTE || k == TR_KIND_TCPROUTE ||
           k == TR_KIND_UDPROUTE;
}

/* The field names of the packed kinds' schemas interned before any object's keys, breadth
 * first, so that each takes one byte in every packed route (ids are given in order; labels and
 * annotations of the many other objects would otherwise come first). */
enum { KEY_SCHEMAS_MAX = 1024 };
static void enqueue_schema(const struct tr_schema **q, size_t *n, const struct tr_schema *s)
{
    for (size_t i = 0; i < *n; i++)
        if (q[i] == s)
            return;
    if (s && *n < KEY_SCHEMAS_MAX)
        q[(*n)++] = s;
}

static void intern_route_keys(void)
{
    static const struct tr_schema *q[KEY_SCHEMAS_MAX];
    size_t head = 0, tail = 0;
    for (int k = 0; k < TR_KIND__COUNT; k++)
        if (packed_kind((enum tr_kind)k))
            enqueue_schema(q, &tail, tr_kind_info((enum tr_kind)k)->schema);
    while (head < tail) {
        const struct tr_schema *s = q[head++];
        for (const struct tr_sfield *f = s->fields; f && f->name; f++) {
            tr_node_intern_key(f->name);
            enqueue_schema(q, &tail, f->schema);
        }
        enqueue_schema(q, &tail, s->items);
    }
}

int tr_obj_decode(struct tr_arena *a, struct tr_node *root, const char *file, uint32_t line,
                  const struct tr_obj *prev, int64_t now, uint64_t seq, struct tr_obj **out,
                  struct tr_verrs *errs, char **ident_out)
{
    *out = NULL;
    if (ident_out)
        *ident_out = NULL;
    if (!root || root->type != TR_N_MAP) {
        tr_verrs_add(errs, root ? root->line : line, "<root>", "a manifest must be a mapping");
        tr_arena_free(a);
        return TR_EINVAL;
    }
    const char *api_version = tr_node_gets(root, "apiVersion");
    const char *kind_s = tr_node_gets(root, "kind");
    struct tr_node *meta = tr_node_get(root, "metadata");
    const char *name = tr_node_gets(meta, "name");
    const char *ns = tr_node_gets(meta, "namespace");
    /* Whole: a cap would make printf fail on a long name and leave the identity empty; the
     * manifest loader cuts what it quotes. */
    if (ident_out) {
        struct tr_buf b;
        tr_buf_init(&b, 0);
        tr_buf_printf(&b, "%s %s%s%s", kind_s ? kind_s : "<no kind>", ns ? ns : "", ns ? "/" : "", name ? name : "<no name>");
        *ident_out = tr_buf_steal(&b);
    }
    if (!api_version || !kind_s) {
        tr_verrs_add(errs, root->line, !api_version ? "apiVersion" : "kind", "Required value");
        tr_arena_free(a);
        return TR_EINVAL;
    }
    int k = tr_kind_lookup(api_version, kind_s);
    if (k == -1) {
        tr_arena_free(a);
        return -1;
    }
    if (k == -2) {
        tr_verrs_add(errs, tr_node_get(root, "apiVersion")->line, "apiVersion",
                     "Unsupported value: \"%s\": this version of %s is not served", api_version, kind_s);
        tr_arena_free(a);
        return TR_EINVAL;
    }
    static pthread_once_t keys_once = PTHREAD_ONCE_INIT;
    pthread_once(&keys_once, intern_route_keys);
    const struct tr_kind_info *info = tr_kind_info((enum tr_kind)k);
    if (ident_out && info->namespaced && !ns) {
        free(*ident_out);
        struct tr_buf b;
        tr_buf_init(&b, 0);
        tr_buf_printf(&b, "%s default/%s", kind_s, name ? name : "<no name>");
        *ident_out = tr_buf_steal(&b);
    }

    /* The API server ignores status in a create or update of the main resource: torii computes
     * the status of the Gateway API kinds. A core kind's status is kept (from an API server, a
     * Service's load balancer is there). */
    if (k < TR_KIND_NAMESPACE)
        tr_node_del(root, "status");
    size_t before = errs->n;
    const struct tr_node *prev_root = prev ? tr_obj_tree(prev, a) : NULL;
    tr_schema_validate(a, info->schema, root, prev_root, "", errs);
    meta = tr_node_get(root, "metadata");
    if (meta && meta->type == TR_N_MAP) {
        struct tr_node *nn = tr_node_get(meta, "name");
        if (!nn) {
            tr_verrs_add(errs, meta->line, "metadata.name", "Required value: name is required");
        } else if (nn->type == TR_N_STR) {
            const char *why = check_dns(nn->u.s, nn->n, k == TR_KIND_NAMESPACE);
            if (why)
                tr_verrs_add(errs, nn->line, "metadata.name", "Invalid value: \"%s\": %s", nn->u.s, why);
        }
        struct tr_node *nsn = tr_node_get(meta, "namespace");
        if (nsn && nsn->type == TR_N_STR && info->namespaced) {
            const char *why = check_dns(nsn->u.s, nsn->n, true);
            if (why)
                tr_verrs_add(errs, nsn->line, "metadata.namespace", "Invalid value: \"%s\": %s", nsn->u.s, why);
        }
    }
    if (errs->n > before) {
        tr_arena_free(a);
        return TR_EINVAL;
    }

    if (info->namespaced && !ns)
        tr_node_set(a, meta, "namespace", tr_node_str(a, "default"));
    if (!info->namespaced)
        tr_node_del(meta, "namespace");
    meta = tr_node_get(root, "metadata");
    /* The uid given (kept across versions), or none: tr_obj_uid makes one from seq. */
    const char *uid = prev ? prev->uid : tr_node_gets(meta, "uid");
    if (uid && !uid[0])
        uid = NULL;
    int64_t created = now, generation = 1;
    if (prev) {
        created = prev->created;
        generation = prev->generation + (spec_changed(prev_root, root) ? 1 : 0);
    } else {
        int64_t t = tr_parse_time(tr_node_gets(meta, "creationTimestamp"));
        created = t >= 0 ? t : now;
    }
    /* The record and its strings in one block of their size (a chunk of the arena's base size
     * left about 300 bytes unused per object). The tree grew while it was parsed, validated and
     * defaulted (arrays doubling in the arena, their old copies left behind), so it is copied:
     * a route packed beside the record (a sixth of a compact tree: routes are most objects, and
     * each is read once per version), any other object as a compact tree. */
    bool pack = packed_kind((enum tr_kind)k);
    struct tr_buf packed;
    tr_buf_init(&packed, 0);
    if (pack && tr_node_pack(&packed, root, pack_dict) != TR_OK)
        pack = false;
    const char *f = file ? file : "";
    size_t fl = strlen(f), ul = uid ? strlen(uid) + 1 : 0;
    size_t len = sizeof(struct tr_obj) + fl + 1 + ul + (pack ? packed.len : 0);
    /* A packed object is one block of its own (no arena: one allocation, not three), the packed
     * tree right after the record (tr_obj_packed). */
    struct tr_arena *kept = pack ? NULL : tr_arena_new(256);
    if (!pack)
        root = tr_node_compact(kept, root);
    char *blk = pack ? tr_xmalloc(len) : tr_arena_alloc(kept, len);
    struct tr_obj *o = (struct tr_obj *)(void *)blk;
    memset(o, 0, sizeof(*o));
    char *at = blk + sizeof(*o);
    if (pack) {
        memcpy(at, packed.data, packed.len);
        o->packed_len = (uint32_t)packed.len;
        at += packed.len;
    }
    o->file = memcpy(at, f, fl + 1);
    at += fl + 1;
    o->uid = uid ? memcpy(at, uid, ul) : NULL;
    if (pack) {
        /* The names are the packed tree's own strings (NUL-terminated in place, or the
         * dictionary's). */
        meta = tr_node_get(tr_node_unpack(a, tr_obj_packed(o), o->packed_len, pack_dict), "metadata");
        o->name = tr_node_gets(meta, "name");
        o->ns = info->namespaced ? tr_node_gets(meta, "namespace") : "";
        TR_BUG_ON(!o->name || !o->ns);
    } else {
        meta = tr_node_get(root, "metadata");
        o->root = root;
        o->spec = tr_node_get(root, "spec");
        o->name = tr_node_gets(meta, "name");
        o->ns = info->namespaced ? tr_node_gets(meta, "namespace") : "";
    }
    tr_buf_dispose(&packed);
    tr_arena_free(a);
    o->arena = kept;
    o->refs = 1;
    o->kind = (enum tr_kind)k;
    o->line = line;
    o->seq = prev ? prev->seq : seq;
    o->created = created;
    o->generation = generation;
    *out = o;
    return TR_OK;
}

const struct tr_node *tr_obj_tree(const struct tr_obj *o, struct tr_arena *a)
{
    return o->root ? o->root : tr_node_unpack(a, tr_obj_packed(o), o->packed_len, pack_dict);
}

const struct tr_node *tr_obj_spec(const struct tr_obj *o, struct tr_arena *a)
{
    return o->root ? o->spec : tr_node_get(tr_obj_tree(o, a), "spec");
}

bool tr_obj_same_content(const struct tr_obj *x, const struct tr_obj *y)
{
    if (!x->root && !y->root && x->packed_len == y->packed_len &&
        memcmp(tr_obj_packed(x), tr_obj_packed(y), x->packed_len) == 0)
        return true;
    struct tr_arena *a = tr_arena_new(4096);
    bool same = tr_node_equal(tr_obj_tree(x, a), tr_obj_tree(y, a));
    tr_arena_free(a);
    return same;
}

void tr_obj_take_server_meta(struct tr_obj *o)
{
    struct tr_arena *a = o->root ? NULL : tr_arena_new(4096);
    const struct tr_node *meta = tr_node_get(tr_obj_tree(o, a), "metadata");
    const char *uid = tr_node_gets(meta, "uid");
    if (uid && uid[0] && (!o->uid || strcmp(uid, o->uid) != 0)) {
        if (!o->arena) /* a packed object: its first string not in its block */
            o->arena = tr_arena_new(256);
        o->uid = tr_arena_strdup(o->arena, uid);
    }
    int64_t gen = tr_node_geti(meta, "generation", 0);
    if (gen > 0)
        o->generation = gen;
    int64_t t = tr_parse_time(tr_node_gets(meta, "creationTimestamp"));
    if (t >= 0)
        o->created = t;
    tr_arena_free(a);
}

struct tr_obj *tr_obj_acquire(struct tr_obj *o)
{
    __atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
    return o;
}

void tr_obj_release(struct tr_obj *o)
{
    if (!o || __atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    bool block = !o->root; /* a packed object is a block; any other is in its arena */
    tr_arena_free(o->arena);
    if (block)
        free(o);
}

int tr_obj_name_cmp(const char *ns, const char *name, const struct tr_obj *o)
{
    int c = strcmp(ns, o->ns);
    return c ? c : strcmp(name, o->name);
}

void tr_obj_ident(struct tr_buf *b, const struct tr_obj *o)
{
    if (o->ns[0])
        tr_buf_printf(b, "%s %s/%s", tr_kind_name(o->kind), o->ns, o->name);
    else
        tr_buf_printf(b, "%s %s", tr_kind_name(o->kind), o->name);
}

struct tr_node *tr_obj_render(struct tr_arena *a, const struct tr_obj *o, const struct tr_node *status)
{
    /* A packed object unpacks into a: that is a copy of its own already. */
    struct tr_node *n = o->root ? tr_node_clone(a, o->root) : (struct tr_node *)tr_obj_tree(o, a);
    struct tr_node *meta = tr_node_get(n, "metadata");
    char t[32];
    tr_format_time(t, o->created);
    if (o->kind < TR_KIND_NAMESPACE || tr_node_get(n, "spec"))
        tr_node_set(a, meta, "generation", tr_node_int(a, o->generation));
    char uid[TR_UID_LEN + 1];
    tr_node_set(a, meta, "uid", tr_node_str(a, tr_obj_uid(o, uid)));
    tr_node_set(a, meta, "creationTimestamp", tr_node_str(a, t));
    char rv[24];
    snprintf(rv, sizeof(rv), "%" PRIu64, o->version);
    tr_node_set(a, meta, "resourceVersion", tr_node_str(a, rv));
    if (status)
        tr_node_set(a, n, "status", tr_node_clone(a, status));
    return n;
}
