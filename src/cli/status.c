/* torii status [KIND [NS/NAME]] [-o table|yaml|json] [--admin ADDR]: what a running torii says. */
#include "api/kind.h"
#include "api/json.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/node.h"
#include "cli/cli.h"
#include "cli/print.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_REPLY (256u << 20)

/* GET path from the admin server; returns the status code and the body in *body. */
static int http_get(const char *addr, const char *path, struct tr_buf *body)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof(host))
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10))};
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[1200];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    struct tr_buf raw;
    tr_buf_init(&raw, MAX_REPLY);
    char chunk[65536];
    ssize_t r;
    while ((r = recv(fd, chunk, sizeof(chunk), 0)) > 0)
        if (tr_buf_append(&raw, chunk, (size_t)r) != 0)
            break;
    close(fd);
    int code = -1;
    char *sep = raw.data ? strstr(raw.data, "\r\n\r\n") : NULL;
    if (sep && sscanf(raw.data, "HTTP/1.%*d %d", &code) == 1)
        tr_buf_append(body, sep + 4, raw.len - (size_t)(sep + 4 - raw.data));
    tr_buf_dispose(&raw);
    return code;
}

int tr_cmd_status(int argc, char **argv)
{
    const char *admin = "127.0.0.1:9901", *out = "table", *kind = NULL, *id = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--admin") == 0 && i + 1 < argc)
            admin = argv[++i];
        else if (argv[i][0] != '-' && !kind)
            kind = argv[i];
        else if (argv[i][0] != '-' && !id)
            id = argv[i];
        else {
            fprintf(stderr, "usage: torii status [KIND [NS/NAME]] [-o table|yaml|json] [--admin ADDR]\n");
            return 2;
        }
    }
    int k = -1;
    if (kind) {
        for (int i = 0; i < TR_KIND__COUNT && k < 0; i++)
            if (strcasecmp(tr_kind_name((enum tr_kind)i), kind) == 0)
                k = i;
        if (k < 0) {
            fprintf(stderr, "torii status: unknown kind %s\n", kind);
            return 2;
        }
    }
    char path[700];
    if (id)
        snprintf(path, sizeof(path), "/status/%s/%s", tr_kind_name((enum tr_kind)k), id);
    else
        snprintf(path, sizeof(path), "/status");
    struct tr_buf body;
    tr_buf_init(&body, 0);
    int code = http_get(admin, path, &body);
    if (code < 0) {
        fprintf(stderr, "torii status: cannot reach the admin server at %s: %s\n", admin, strerror(errno));
        tr_buf_dispose(&body);
        return 1;
    }
    if (code != 200) {
        fprintf(stderr, "torii status: %s: %d %s", path, code, body.data ? body.data : "\n");
        tr_buf_dispose(&body);
        return 1;
    }
    struct tr_arena *a = tr_arena_new(64 * 1024);
    struct tr_buf err;
    tr_buf_init(&err, 1024);
    struct tr_node *root = tr_json_parse_one(a, body.data ? body.data : "", body.len, &err);
    tr_buf_dispose(&body);
    if (!root) {
        fprintf(stderr, "torii status: bad reply: %s\n", err.data);
        tr_buf_dispose(&err);
        tr_arena_free(a);
        return 1;
    }
    tr_buf_dispose(&err);
    if (id) {
        struct tr_node *list = tr_node_new(a, TR_N_MAP), *items = tr_node_new(a, TR_N_SEQ);
        tr_node_push(a, items, root);
        tr_node_set(a, list, "items", items);
        root = list;
    } else if (k >= 0) {
        struct tr_node *items = tr_node_get(root, "items"), *keep = tr_node_new(a, TR_N_SEQ);
        for (size_t i = 0; i < tr_node_len(items); i++) {
            const char *ik = tr_node_gets(tr_node_at(items, i), "kind");
            if (ik && strcmp(ik, tr_kind_name((enum tr_kind)k)) == 0)
                tr_node_push(a, keep, tr_node_at(items, i));
        }
        tr_node_set(a, root, "items", keep);
    }
    struct tr_buf b;
    tr_buf_init(&b, 0);
    int rc = 0;
    if (strcmp(out, "yaml") == 0)
        tr_node_emit_yaml(&b, root);
    else if (strcmp(out, "json") == 0) {
        tr_node_emit_json(&b, root, 2);
        tr_buf_putc(&b, '\n');
    } else
        rc = tr_print_table(stdout, root) ? 1 : 0;
    fwrite(b.data ? b.data : "", 1, b.len, stdout);
    tr_buf_dispose(&b);
    tr_arena_free(a);
    return rc;
}
