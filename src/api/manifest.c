#include "api/manifest.h"
#include "api/kind.h"
#include "api/object.h"
#include "api/schema.h"
#include "api/json.h"
#include "api/yaml.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/node.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct load {
    const char *display;
    int64_t now;
    uint64_t *seq;
    const struct tr_manifest_ops *ops;
    void *ud;
    int problems;
};

/* What a problem line quotes (the object's identity, the field path, a message that echoes a
 * value) is cut to this many bytes: a hostile file can make any of them megabytes long, and
 * every problem is kept, logged, and rendered into /status at every change after. */
#define MAX_QUOTE 512
/* No valid object has a longer name or namespace (the API server's limits). */
#define MAX_NAME 253

/* The length of s cut to MAX_QUOTE bytes, on a UTF-8 boundary (the line goes into JSON). */
static int quote_len(const char *s)
{
    size_t n = strlen(s);
    if (n <= MAX_QUOTE)
        return (int)n;
    n = MAX_QUOTE;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

/* printf arguments for "%.*s%s": s, cut, and "..." when it was. */
#define QUOTE(s) quote_len(s), (s), strlen(s) > MAX_QUOTE ? "..." : ""

static void load_one(struct load *l, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    const char *api_version = tr_node_gets(root, "apiVersion");
    const char *kind_s = tr_node_gets(root, "kind");
    struct tr_node *meta = tr_node_get(root, "metadata");
    int kind = tr_kind_lookup(api_version, kind_s);
    const char *name = tr_node_gets(meta, "name");
    const char *ns = tr_node_gets(meta, "namespace");
    char *ns_copy = NULL, *name_copy = name ? tr_xstrdup(name) : NULL;
    if (kind >= 0)
        ns_copy = tr_xstrdup(tr_kind_info((enum tr_kind)kind)->namespaced ? (ns ? ns : "default") : "");
    const struct tr_obj *prev = kind >= 0 && name_copy ? l->ops->prev(l->ud, kind, ns_copy, name_copy) : NULL;

    struct tr_verrs errs;
    tr_verrs_init(&errs);
    struct tr_obj *o = NULL;
    char *ident = NULL;
    int rc = tr_obj_decode(a, root, l->display, line, prev, l->now, *l->seq, &o, &errs, &ident);
    if (rc == TR_OK) {
        (*l->seq)++;
        l->ops->on_object(l->ud, o);
    } else if (rc != -1) {
        /* A name past the limit is no object's: the problem is the file's then. */
        bool named = name_copy && strlen(name_copy) <= MAX_NAME && (!ns_copy || strlen(ns_copy) <= MAX_NAME);
        for (size_t i = 0; i < errs.n; i++) {
            struct tr_buf b;
            tr_buf_init(&b, 0);
            tr_buf_printf(&b, "%s:%u: %.*s%s: %.*s%s: %.*s%s", l->display, errs.v[i].line ? errs.v[i].line : line,
                          QUOTE(ident ? ident : "?"), QUOTE(errs.v[i].path), QUOTE(errs.v[i].msg));
            l->ops->on_error(l->ud, b.data, kind >= 0 ? kind : -1, named ? ns_copy : NULL, named ? name_copy : NULL);
            tr_buf_dispose(&b);
            l->problems++;
        }
    }
    free(ident);
    free(ns_copy);
    free(name_copy);
    tr_verrs_dispose(&errs);
}

/* A list of objects (kind List, or FooList, with items), as `kubectl get -o yaml` and the API
 * server's LIST write them: each item is loaded as a document of its own. */
static bool is_list(const struct tr_node *root)
{
    const char *kind = tr_node_gets(root, "kind");
    size_t n = kind ? strlen(kind) : 0;
    const struct tr_node *items = tr_node_get(root, "items");
    return n >= 4 && strcmp(kind + n - 4, "List") == 0 && items && items->type == TR_N_SEQ;
}

static void on_doc(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    struct load *l = ud;
    if (!is_list(root)) {
        load_one(l, a, root, line);
        return;
    }
    const struct tr_node *items = tr_node_get(root, "items");
    for (uint32_t i = 0; i < items->n; i++) {
        struct tr_arena *ia = tr_arena_new(4096);
        const struct tr_node *item = items->u.items[i];
        load_one(l, ia, tr_node_compact(ia, item), item->line ? item->line : line);
    }
    tr_arena_free(a);
}

int tr_manifest_load(const char *text, size_t len, const char *display, int64_t now, uint64_t *seq,
                     const struct tr_manifest_ops *ops, void *ud)
{
    struct load l = {.display = display, .now = now, .seq = seq, .ops = ops, .ud = ud};
    struct tr_buf err;
    tr_buf_init(&err, 4096);
    size_t dl = strlen(display);
    bool json = dl >= 5 && strcmp(display + dl - 5, ".json") == 0;
    int rc = (json ? tr_json_parse : tr_yaml_parse)(text, len, on_doc, &l, &err);
    if (rc != TR_OK) {
        struct tr_buf b;
        tr_buf_init(&b, 0);
        tr_buf_printf(&b, "%s:%s", display, err.len ? err.data : json ? " invalid JSON" : " invalid YAML");
        if (err.len && (err.data[0] < '0' || err.data[0] > '9')) {
            b.len = 0;
            tr_buf_printf(&b, "%s: %s", display, err.data);
        }
        ops->on_error(ud, b.data, -1, NULL, NULL);
        tr_buf_dispose(&b);
        tr_buf_dispose(&err);
        return -1;
    }
    tr_buf_dispose(&err);
    return l.problems;
}

char *tr_read_fd(int fd, size_t max, size_t *len)
{
    struct tr_buf b;
    tr_buf_init(&b, max);
    char chunk[65536];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            tr_buf_dispose(&b);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        if (tr_buf_append(&b, chunk, (size_t)r) != TR_OK) {
            tr_buf_dispose(&b);
            errno = EFBIG;
            return NULL;
        }
    }
    *len = b.len;
    return tr_buf_steal(&b);
}

char *tr_read_file(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *text = NULL;
    if (fstat(fd, &st) != 0) {
        /* errno set */
    } else if ((size_t)st.st_size > max) {
        errno = EFBIG;
    } else {
        text = tr_read_fd(fd, max, len);
    }
    int e = errno;
    close(fd);
    errno = e;
    return text;
}
