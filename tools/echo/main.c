/* torii-echo: configuration and start-up.
 *
 * The environment is the contract (it is what the conformance manifests set); flags exist for
 * running it by hand and override the environment. The mode is chosen as upstream does: a
 * non-empty GRPC_ECHO_SERVER, TCP_ECHO_SERVER or UDP_ECHO_SERVER, otherwise the HTTP echo.
 * DNS_SERVER (ours) stands in for the suite's CoreDNS. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "echo.h"

struct config cfg;

void log_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout); /* mirroring checks read these lines while we run */
}

static const char *env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static void usage(FILE *f)
{
    fputs("usage: torii-echo [--mode http|grpc|tcp|udp|dns] [--bind ADDR] [--http-port P]\n"
          "                  [--h2c-port P] [--https-port P] [--tcp-port P] [--tls-port P]\n"
          "                  [--udp-port P] [--dns-port P]\n"
          "                  [--tls-cert PEM] [--tls-key PEM] [--client-ca PEM]\n"
          "                  [--pod NAME] [--namespace NS] [--service NAME] [--ingress NAME]\n"
          "Environment (the contract, flags override it): GRPC_ECHO_SERVER, TCP_ECHO_SERVER,\n"
          "UDP_ECHO_SERVER, DNS_SERVER, BIND_ADDRESS (127.0.0.1), HTTP_PORT (3000), H2C_PORT (3001),\n"
          "HTTPS_PORT (8443), TCP_PORT (3000), TLS_PORT (8443), UDP_PORT (8080), DNS_PORT (53),\n"
          "TLS_SERVER_CERT, TLS_SERVER_PRIVKEY or TLS_SERVER_PRIV_KEY, TLS_CLIENT_CACERTS\n"
          "(file paths or PEM text),\n"
          "POD_NAME (default: the host name), NAMESPACE, SERVICE_NAME, INGRESS_NAME.\n"
          "Port 0 picks a free port; the log line says which.\n", f);
}

static void configure(int argc, char **argv)
{
    cfg.mode = MODE_HTTP;
    if (*env("GRPC_ECHO_SERVER", ""))
        cfg.mode = MODE_GRPC;
    else if (*env("TCP_ECHO_SERVER", ""))
        cfg.mode = MODE_TCP;
    else if (*env("UDP_ECHO_SERVER", ""))
        cfg.mode = MODE_UDP;
    else if (*env("DNS_SERVER", ""))
        cfg.mode = MODE_DNS;
    cfg.bind = env("BIND_ADDRESS", "127.0.0.1");
    cfg.http_port = env("HTTP_PORT", "3000");
    cfg.h2c_port = env("H2C_PORT", "3001");
    cfg.https_port = env("HTTPS_PORT", "8443");
    cfg.tcp_port = env("TCP_PORT", "3000");
    cfg.tls_port = env("TLS_PORT", "8443");
    cfg.udp_port = env("UDP_PORT", "8080");
    cfg.dns_port = env("DNS_PORT", "53");
    cfg.namespace_ = env("NAMESPACE", "");
    cfg.ingress = env("INGRESS_NAME", "");
    cfg.service = env("SERVICE_NAME", "");
    cfg.pod = env("POD_NAME", NULL);
    cfg.tls_cert = env("TLS_SERVER_CERT", NULL);
    /* The HTTP echo reads TLS_SERVER_PRIVKEY, the TCP and gRPC ones TLS_SERVER_PRIV_KEY; the
     * manifests use both spellings, so either works everywhere. */
    cfg.tls_key = env("TLS_SERVER_PRIVKEY", env("TLS_SERVER_PRIV_KEY", NULL));
    cfg.client_ca = env("TLS_CLIENT_CACERTS", NULL);

    static const struct option opts[] = {
        {"mode", 1, 0, 'm'}, {"bind", 1, 0, 'b'}, {"http-port", 1, 0, 'p'},
        {"h2c-port", 1, 0, '2'}, {"https-port", 1, 0, 's'}, {"tcp-port", 1, 0, 't'},
        {"tls-port", 1, 0, 'T'}, {"udp-port", 1, 0, 'u'}, {"dns-port", 1, 0, 'd'}, {"tls-cert", 1, 0, 'c'},
        {"tls-key", 1, 0, 'k'}, {"client-ca", 1, 0, 'a'}, {"pod", 1, 0, 'P'},
        {"namespace", 1, 0, 'n'}, {"service", 1, 0, 'S'}, {"ingress", 1, 0, 'i'},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            if (!strcmp(optarg, "http")) cfg.mode = MODE_HTTP;
            else if (!strcmp(optarg, "grpc")) cfg.mode = MODE_GRPC;
            else if (!strcmp(optarg, "tcp")) cfg.mode = MODE_TCP;
            else if (!strcmp(optarg, "udp")) cfg.mode = MODE_UDP;
            else if (!strcmp(optarg, "dns")) cfg.mode = MODE_DNS;
            else {
                usage(stderr);
                exit(2);
            }
            break;
        case 'b': cfg.bind = optarg; break;
        case 'p': cfg.http_port = optarg; break;
        case '2': cfg.h2c_port = optarg; break;
        case 's': cfg.https_port = optarg; break;
        case 't': cfg.tcp_port = optarg; break;
        case 'T': cfg.tls_port = optarg; break;
        case 'u': cfg.udp_port = optarg; break;
        case 'd': cfg.dns_port = optarg; break;
        case 'c': cfg.tls_cert = optarg; break;
        case 'k': cfg.tls_key = optarg; break;
        case 'a': cfg.client_ca = optarg; break;
        case 'P': cfg.pod = optarg; break;
        case 'n': cfg.namespace_ = optarg; break;
        case 'S': cfg.service = optarg; break;
        case 'i': cfg.ingress = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc) {
        usage(stderr);
        exit(2);
    }
    if (!cfg.pod) {
        static char host[256];
        if (gethostname(host, sizeof host - 1))
            snprintf(host, sizeof host, "%s", "torii-echo");
        cfg.pod = host;
    }
}

static void die(const char *msg)
{
    fprintf(stderr, "torii-echo: %s\n", msg);
    exit(1);
}

static void open_or_die(const char *port, enum lkind kind, SSL_CTX *ctx, const char *what)
{
    struct listener *l = xcalloc(1, sizeof *l);
    int bound;
    if (listener_open(l, cfg.bind, port, kind, ctx, &bound))
        exit(1);
    log_line("Starting server, listening on %s port %d (%s)", cfg.bind, bound, what);
}

static SSL_CTX *tls_or_die(const char *alpn, size_t alpn_len, const char *client_ca)
{
    char err[512];
    SSL_CTX *ctx = tls_ctx_new(cfg.tls_cert, cfg.tls_key, client_ca, alpn, alpn_len, err, sizeof err);
    if (!ctx)
        die(err);
    return ctx;
}

int main(int argc, char **argv)
{
    configure(argc, argv);
    if (loop_init())
        die("cannot set up epoll/signalfd");
    bool tls = cfg.tls_cert && cfg.tls_key;
    static const char alpn_http[] = "\x02h2\x08http/1.1";
    static const char alpn_h2[] = "\x02h2";

    switch (cfg.mode) {
    case MODE_HTTP:
        open_or_die(cfg.http_port, L_HTTP, NULL, "http");
        open_or_die(cfg.h2c_port, L_H2C, NULL, "h2c");
        if (tls)
            open_or_die(cfg.https_port, L_HTTPS,
                        tls_or_die(alpn_http, sizeof alpn_http - 1, cfg.client_ca), "https");
        break;
    case MODE_GRPC:
        open_or_die(cfg.http_port, L_GRPC, NULL, "grpc");
        if (tls)
            open_or_die(cfg.https_port, L_GRPCS, tls_or_die(alpn_h2, sizeof alpn_h2 - 1, NULL),
                        "grpc over tls");
        break;
    case MODE_TCP:
        open_or_die(cfg.tcp_port, L_TCP, NULL, "tcp");
        if (tls)
            open_or_die(cfg.tls_port, L_TCPTLS, tls_or_die(NULL, 0, NULL), "tls");
        break;
    case MODE_UDP: {
        int bound, fd = udp_open(cfg.bind, cfg.udp_port, &bound);
        if (fd < 0)
            exit(1);
        udp_echo_start(fd);
        log_line("UDP server listening on %s port %d", cfg.bind, bound);
        break;
    }
    case MODE_DNS: {
        int bound, fd = udp_open(cfg.bind, cfg.dns_port, &bound);
        if (fd < 0)
            exit(1);
        dns_start(fd);
        log_line("DNS server listening on %s port %d", cfg.bind, bound);
        break;
    }
    }
    return loop_run();
}
