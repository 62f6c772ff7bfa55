/* TCP echo (TCP_ECHO_SERVER): a welcome line, then one answer per known command line. Lines are
 * split as Go's bufio.Scanner does (a trailing \r dropped, a last line without \n still counts,
 * a line over 64 KiB ends the connection), since the upstream server reads with one. */
#include <stdlib.h>
#include <string.h>

#include "echo.h"

#define MAX_LINE 65536
#define WELCOME "Gateway API Test TCP Server\n"

struct tcp_echo {
    struct buf test; /* the TEST answer, fixed for the connection */
};

static void answer(struct conn *c, const char *line, size_t n)
{
    struct tcp_echo *t = c->proto;
    if (n && line[n - 1] == '\r')
        n--;
    if (n == 4 && !memcmp(line, "TEST", 4))
        conn_write(c, t->test.p, t->test.len);
    else if (n == 6 && !memcmp(line, "IS_TLS", 6))
        conn_write(c, c->ssl ? "true\n" : "false\n", c->ssl ? 5 : 6);
    else if (n == 4 && !memcmp(line, "PING", 4))
        conn_write(c, "PONG\n", 5);
}

static void tcp_on_data(struct conn *c)
{
    const char *nl;
    while (!c->dead && !c->closing && (nl = memchr(c->in.p, '\n', c->in.len))) {
        size_t n = (size_t)(nl - c->in.p);
        answer(c, c->in.p, n);
        buf_consume(&c->in, n + 1);
    }
    if (!c->dead && c->in.len > MAX_LINE)
        conn_close(c);
}

static void tcp_on_eof(struct conn *c)
{
    if (c->in.len && c->in.len <= MAX_LINE)
        answer(c, c->in.p, c->in.len);
    c->in.len = 0;
    conn_close(c);
}

static void tcp_free(struct conn *c)
{
    struct tcp_echo *t = c->proto;
    buf_free(&t->test);
    free(t);
    conn_set_proto(c, NULL, NULL);
}

static const struct proto_ops tcp_ops = {tcp_on_data, tcp_on_eof, NULL, tcp_free};

void tcp_echo_start(struct conn *c)
{
    struct tcp_echo *t = xcalloc(1, sizeof *t);
    struct json j;
    json_init(&j, &t->test, 0);
    json_obj_begin(&j);
    json_kv(&j, "namespace", cfg.namespace_);
    json_kv(&j, "ingress", cfg.ingress);
    json_kv(&j, "service", cfg.service);
    json_kv(&j, "pod", cfg.pod);
    json_kv(&j, "tcpport", cfg.tcp_port);
    if (*cfg.tls_port)
        json_kv(&j, "tlsport", cfg.tls_port);
    json_key(&j, "isTLS");
    json_bool(&j, c->ssl != NULL);
    if (c->tls) {
        json_key(&j, "tls");
        json_obj_begin(&j);
        json_kv(&j, "version", tls_version_name(c->tls->version, true));
        json_kv(&j, "serverName", c->tls->server_name);
        if (*c->tls->alpn)
            json_kv(&j, "negotiatedProtocol", c->tls->alpn);
        if (*c->tls->group)
            json_kv(&j, "curves", c->tls->group);
        json_kv(&j, "cipherSuite", c->tls->cipher);
        json_obj_end(&j);
    }
    json_obj_end(&j);
    buf_addc(&t->test, '\n');
    conn_set_proto(c, &tcp_ops, t);
    conn_write(c, WELCOME, sizeof WELCOME - 1);
    if (!c->dead && c->in.len)
        tcp_on_data(c);
}
