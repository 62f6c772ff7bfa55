/* torii-echo: configuration and start-up.
 *
 * The environment is the contract (it is what the conformance manifests set); flags exist for
 * running it by hand and override the environment. The mode is chosen as upstream does: a
 * non-empty GRPC_ECHO_SERVER, TCP_ECHO_SERVER or UDP_ECHO_SERVER, otherwise the HTTP echo.
 * DNS_SERVER (ours) stands in for the suite's CoreDNS.
 *
 * The mesh suite runs Istio's echo with flags instead (--tcp=9090 --port=8080 --grpc=7070
 * --port=8443 --tls=8443 --crt=/cert.crt --key=/cert.key), or with none at all; any of Istio's
 * flags, --istio or ISTIO_ECHO selects that mode (istio.c). `torii-echo client ...` is the
 * client the suite execs in a pod (client.c). */
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
    fputs("usage: torii-echo [--mode http|grpc|tcp|udp|dns|istio] [--bind ADDR] [--http-port P]\n"
          "                  [--h2c-port P] [--https-port P] [--tcp-port P] [--tls-port P]\n"
          "                  [--udp-port P] [--dns-port P]\n"
          "                  [--tls-cert PEM] [--tls-key PEM] [--client-ca PEM]\n"
          "                  [--pod NAME] [--namespace NS] [--service NAME] [--ingress NAME]\n"
          "       torii-echo [--istio] [--port P]... [--grpc P]... [--tcp P]... [--tls P]...\n"
          "                  [--crt PEM] [--key PEM] [--version V] [--cluster C]\n"
          "                  [--istio-version V]\n"
          "       torii-echo client URL [--method M] [-H 'Name: value']... [--count N]\n"
          "                  [--timeout SECS] [--connect-to ADDR:PORT] [--msg TEXT]\n"
          "Environment (the contract, flags override it): GRPC_ECHO_SERVER, TCP_ECHO_SERVER,\n"
          "UDP_ECHO_SERVER, DNS_SERVER, ISTIO_ECHO, BIND_ADDRESS (127.0.0.1), HTTP_PORT (3000),\n"
          "H2C_PORT (3001), HTTPS_PORT (8443), TCP_PORT (3000), TLS_PORT (8443), UDP_PORT (8080),\n"
          "DNS_PORT (53), TLS_SERVER_CERT, TLS_SERVER_PRIVKEY or TLS_SERVER_PRIV_KEY,\n"
          "TLS_CLIENT_CACERTS (file paths or PEM text),\n"
          "POD_NAME (default: the host name), NAMESPACE, SERVICE_NAME, INGRESS_NAME,\n"
          "SERVICE_VERSION (empty, as Istio's) and CLUSTER_ID for the Istio echo.\n"
          "Istio echo ports default to --port 8080 --grpc 7070 --tcp 9090 (and 8443 over TLS\n"
          "when a certificate and key are given); a port also in --tls serves TLS.\n"
          "Port 0 picks a free port; the log line says which.\n", f);
}

/* One use of an Istio port flag: "8080" or "80,8080". */
static void portlist_add(struct portlist *pl, const char *arg)
{
    if (!pl->given) {
        pl->n = 0; /* cobra: the first use replaces the default */
        pl->given = true;
    }
    for (const char *p = arg;;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 65535 || (*end && *end != ',')) {
            fprintf(stderr, "torii-echo: bad port list \"%s\"\n", arg);
            exit(2);
        }
        pl->v = xrealloc(pl->v, (pl->n + 1) * sizeof *pl->v);
        pl->v[pl->n++] = (int)v;
        if (!*end)
            return;
        p = end + 1;
    }
}

static void portlist_default(struct portlist *pl, int port)
{
    if (pl->given)
        return;
    pl->v = xrealloc(pl->v, sizeof *pl->v);
    pl->v[0] = port;
    pl->n = 1;
}

enum { OPT_ISTIO = 256, OPT_PORT, OPT_GRPC, OPT_TCP, OPT_TLS, OPT_CRT, OPT_KEY, OPT_VERSION,
       OPT_CLUSTER, OPT_ISTIO_VERSION };

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
    else if (*env("ISTIO_ECHO", ""))
        cfg.mode = MODE_ISTIO;
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
    cfg.version = env("SERVICE_VERSION", "");
    cfg.cluster = env("CLUSTER_ID", "");
    cfg.istio_version = "";

    static const struct option opts[] = {
        {"mode", 1, 0, 'm'}, {"bind", 1, 0, 'b'}, {"http-port", 1, 0, 'p'},
        {"h2c-port", 1, 0, '2'}, {"https-port", 1, 0, 's'}, {"tcp-port", 1, 0, 't'},
        {"tls-port", 1, 0, 'T'}, {"udp-port", 1, 0, 'u'}, {"dns-port", 1, 0, 'd'}, {"tls-cert", 1, 0, 'c'},
        {"tls-key", 1, 0, 'k'}, {"client-ca", 1, 0, 'a'}, {"pod", 1, 0, 'P'},
        {"namespace", 1, 0, 'n'}, {"service", 1, 0, 'S'}, {"ingress", 1, 0, 'i'},
        {"help", 0, 0, 'h'},
        /* Istio's echo (pkg/test/echo/cmd/server/main.go); an exact name wins over the
         * longer --tls-* and --tcp-port above */
        {"istio", 0, 0, OPT_ISTIO}, {"port", 1, 0, OPT_PORT}, {"grpc", 1, 0, OPT_GRPC},
        {"tcp", 1, 0, OPT_TCP}, {"tls", 1, 0, OPT_TLS}, {"crt", 1, 0, OPT_CRT},
        {"key", 1, 0, OPT_KEY}, {"version", 1, 0, OPT_VERSION}, {"cluster", 1, 0, OPT_CLUSTER},
        {"istio-version", 1, 0, OPT_ISTIO_VERSION}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            if (!strcmp(optarg, "http")) cfg.mode = MODE_HTTP;
            else if (!strcmp(optarg, "grpc")) cfg.mode = MODE_GRPC;
            else if (!strcmp(optarg, "tcp")) cfg.mode = MODE_TCP;
            else if (!strcmp(optarg, "udp")) cfg.mode = MODE_UDP;
            else if (!strcmp(optarg, "dns")) cfg.mode = MODE_DNS;
            else if (!strcmp(optarg, "istio")) cfg.mode = MODE_ISTIO;
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
        case OPT_ISTIO: break;
        case OPT_PORT: portlist_add(&cfg.istio_http, optarg); break;
        case OPT_GRPC: portlist_add(&cfg.istio_grpc, optarg); break;
        case OPT_TCP: portlist_add(&cfg.istio_tcp, optarg); break;
        case OPT_TLS: portlist_add(&cfg.istio_tls, optarg); break;
        case OPT_CRT: cfg.tls_cert = optarg; break;
        case OPT_KEY: cfg.tls_key = optarg; break;
        case OPT_VERSION: cfg.version = optarg; break;
        case OPT_CLUSTER: cfg.cluster = optarg; break;
        case OPT_ISTIO_VERSION: cfg.istio_version = optarg; break;
        default: usage(stderr); exit(2);
        }
        if (ch >= OPT_ISTIO)
            cfg.mode = MODE_ISTIO;
    }
    if (optind < argc) {
        usage(stderr);
        exit(2);
    }
    if (cfg.mode == MODE_ISTIO) {
        if (!cfg.istio_http.given && !cfg.istio_tls.given && cfg.tls_cert && cfg.tls_key) {
            portlist_add(&cfg.istio_http, "8080,8443");
            portlist_add(&cfg.istio_tls, "8443");
        }
        portlist_default(&cfg.istio_http, 8080);
        portlist_default(&cfg.istio_grpc, 7070);
        portlist_default(&cfg.istio_tcp, 9090);
    }
    if (!cfg.pod) {
        /* the name itself, never a resolver lookup: the pod may have no DNS */
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

static bool in_list(const struct portlist *pl, int port)
{
    for (size_t i = 0; i < pl->n; i++)
        if (pl->v[i] == port)
            return true;
    return false;
}

/* A TLS port of the Istio echo without a usable certificate is skipped, not fatal: the mesh
 * manifests always pass --crt/--key, and the files come with Istio's image, not ours. */
static SSL_CTX *istio_tls(int port, const char *alpn, size_t alpn_len)
{
    char err[512];
    if (!cfg.tls_cert || !cfg.tls_key) {
        log_line("Skipping TLS port %d: no --crt/--key", port);
        return NULL;
    }
    SSL_CTX *ctx = tls_ctx_new(cfg.tls_cert, cfg.tls_key, NULL, alpn, alpn_len, err, sizeof err);
    if (!ctx)
        log_line("Skipping TLS port %d: %s", port, err);
    return ctx;
}

static void open_istio_port(int port, enum lkind kind, const char *alpn, size_t alpn_len,
                            const char *what)
{
    bool tls = in_list(&cfg.istio_tls, port);
    SSL_CTX *ctx = NULL;
    if (tls && !(ctx = istio_tls(port, alpn, alpn_len)))
        return;
    if (tls && kind == L_HTTP_ANY)
        kind = L_HTTPS;
    if (tls && kind == L_GRPC)
        kind = L_GRPCS;
    char p[8], label[48];
    snprintf(p, sizeof p, "%d", port);
    snprintf(label, sizeof label, "istio %s%s", what, tls ? " over tls" : "");
    open_or_die(p, kind, ctx, label);
}

static void open_istio(void)
{
    /* http.go offers h2, http/1.1 and http/1.0; grpc-go only h2 */
    static const char alpn_http[] = "\x02h2\x08http/1.1\x08http/1.0";
    static const char alpn_h2[] = "\x02h2";
    for (size_t i = 0; i < cfg.istio_http.n; i++)
        open_istio_port(cfg.istio_http.v[i], L_HTTP_ANY, alpn_http, sizeof alpn_http - 1, "http");
    for (size_t i = 0; i < cfg.istio_grpc.n; i++)
        open_istio_port(cfg.istio_grpc.v[i], L_GRPC, alpn_h2, sizeof alpn_h2 - 1, "grpc");
    for (size_t i = 0; i < cfg.istio_tcp.n; i++)
        open_istio_port(cfg.istio_tcp.v[i], L_ISTIO_TCP, NULL, 0, "tcp");
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
    if (argc > 1 && !strcmp(argv[1], "client"))
        return client_main(argc - 1, argv + 1);
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
    case MODE_ISTIO:
        open_istio();
        break;
    }
    return loop_run();
}
