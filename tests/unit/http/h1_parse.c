/* src/http/h1_parse.c through its header: request and response heads, resumption, limits at
 * their boundaries, framing rules. The table of raw requests (tests/http1/cases.txt, played by
 * h1_cases.c) covers the rejections one by one; these tests check what the parser reports. */
#include "test.h"

#include "base/err.h"
#include "http/h1_parse.h"

#include <stdlib.h>
#include <string.h>

/* The structs are large (the header arrays): keep them off the stack. */
static struct tr_h1_req req, req2;
static struct tr_h1_resp resp, resp2;

static int parse(const char *s)
{
    tr_h1_req_init(&req);
    return tr_h1_parse_request(s, strlen(s), &req, NULL);
}

/* Parses s and applies the framing rules: the status to answer, 0 when accepted. */
static int status_of(const char *s)
{
    int n = parse(s);
    if (n == TR_EAGAIN)
        return -1;
    if (n < 0 || tr_h1_req_framing(&req) < 0)
        return req.error_status;
    return 0;
}

static int parse_resp(const char *s)
{
    tr_h1_resp_init(&resp);
    return tr_h1_parse_response(s, strlen(s), &resp, NULL);
}

static bool slice_is(const char *p, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(p, want, len) == 0;
}

#define ASSERT_SLICE(p, len, want)                                                                 \
    do {                                                                                           \
        if (!slice_is(p, len, want))                                                               \
            tr_test_fail(__FILE__, __LINE__, "slice \"%.*s\" != \"%s\"", (int)(len), (p) ? (p) : "", \
                         want);                                                            \
    } while (0)

TEST(h1_request_fields_are_slices)
{
    const char *s = "POST /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Pad:  \t v a l \t \r\n"
                    "Empty:\r\nContent-Length: 3\r\n\r\nabc";
    int n = parse(s);
    ASSERT_EQ(n, (int)(strlen(s) - 3));
    ASSERT_SLICE(req.method, req.method_len, "POST");
    ASSERT_EQ(req.method_id, TR_H1_POST);
    ASSERT_SLICE(req.target, req.target_len, "/a/b?c=d");
    ASSERT_SLICE(req.path, req.path_len, "/a/b?c=d");
    ASSERT_EQ(req.form, TR_H1_ORIGIN);
    ASSERT_EQ(req.minor_version, 1);
    ASSERT_EQ(req.nheaders, 4);
    ASSERT_SLICE(req.headers[0].name, req.headers[0].name_len, "Host");
    ASSERT_SLICE(req.headers[0].value, req.headers[0].value_len, "example.com");
    ASSERT_SLICE(req.headers[1].value, req.headers[1].value_len, "v a l"); /* OWS trimmed */
    ASSERT_EQ(req.headers[2].value_len, 0);
    ASSERT(req.method == s && req.headers[3].value > s && req.headers[3].value < s + n);
    ASSERT_EQ(tr_h1_req_framing(&req), TR_OK);
    ASSERT_EQ(req.body, TR_H1_BODY_LENGTH);
    ASSERT_EQ(req.content_length, 3);
    ASSERT_SLICE(req.authority, req.authority_len, "example.com");
    ASSERT(req.keep_alive);
    ASSERT(!req.expect_continue);
    ASSERT_NULL(req.upgrade);
}

TEST(h1_request_every_prefix_is_incomplete)
{
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
    size_t len = strlen(s);
    for (size_t i = 0; i < len; i++) {
        tr_h1_req_init(&req);
        ASSERT_EQ(tr_h1_parse_request(s, i, &req, NULL), TR_EAGAIN);
    }
    ASSERT_EQ(parse(s), (int)len);
}

/* The same request fed in two pieces at every split point, into one struct: the same result,
 * field by field, as in one piece. */
TEST(h1_request_split_at_every_byte)
{
    const char *s = "\r\nPUT http://example.com:8080/x?y HTTP/1.1\r\nHost: other\r\n"
                    "Transfer-Encoding: chunked\r\nConnection: keep-alive, Upgrade\nUpgrade: websocket\r\n"
                    "Expect: 100-continue\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    size_t len = strlen(s);
    int whole = parse(s);
    ASSERT(whole > 0);
    ASSERT_EQ(tr_h1_req_framing(&req), TR_OK);
    for (size_t split = 0; split <= len; split++) {
        tr_h1_req_init(&req2);
        int first = tr_h1_parse_request(s, split, &req2, NULL);
        if (split < (size_t)whole)
            ASSERT_EQ(first, TR_EAGAIN);
        int n = first == TR_EAGAIN ? tr_h1_parse_request(s, len, &req2, NULL) : first;
        ASSERT_EQ(n, whole);
        ASSERT_EQ(tr_h1_req_framing(&req2), TR_OK);
        ASSERT_EQ(req2.nheaders, req.nheaders);
        for (size_t i = 0; i < req.nheaders; i++) {
            ASSERT(req2.headers[i].name == req.headers[i].name);
            ASSERT_EQ(req2.headers[i].value_len, req.headers[i].value_len);
        }
        ASSERT(req2.target == req.target && req2.path == req.path);
        ASSERT_EQ(req2.body, TR_H1_BODY_CHUNKED);
        ASSERT(req2.authority == req.authority && req2.upgrade == req.upgrade);
    }
}

TEST(h1_request_pipelined)
{
    const char *s = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\nGET /3 HTT";
    size_t len = strlen(s);
    int n1 = parse(s);
    ASSERT_EQ(n1, 28);
    ASSERT_SLICE(req.target, req.target_len, "/1");
    tr_h1_req_init(&req);
    int n2 = tr_h1_parse_request(s + n1, len - (size_t)n1, &req, NULL);
    ASSERT_EQ(n2, 28);
    ASSERT_SLICE(req.headers[0].value, req.headers[0].value_len, "b");
    tr_h1_req_init(&req);
    ASSERT_EQ(tr_h1_parse_request(s + n1 + n2, len - (size_t)(n1 + n2), &req, NULL), TR_EAGAIN);
}

TEST(h1_request_leading_empty_lines_consumed)
{
    const char *s = "\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ(parse(s), (int)strlen(s));
    ASSERT_SLICE(req.method, req.method_len, "GET");
    tr_h1_req_init(&req);
    ASSERT_EQ(tr_h1_parse_request("\r\n\r", 3, &req, NULL), TR_EAGAIN);
    ASSERT_EQ(parse("\r\n\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"), TR_EPROTO); /* bare CR */
    ASSERT_EQ(req.error_status, 400);
}

TEST(h1_request_bare_lf_accepted_bare_cr_rejected)
{
    ASSERT_EQ(parse("GET / HTTP/1.1\nHost: a\nX: b \n\n"), 30);
    ASSERT_EQ(req.nheaders, 2);
    ASSERT_SLICE(req.headers[1].value, req.headers[1].value_len, "b");
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n"), 400);
    ASSERT_STREQ(req.error_reason, "bad HTTP version");
    /* "\n\r" then a byte that is not LF is known bad before the head ends. */
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\n\rX"), 400);
    ASSERT_STREQ(req.error_reason, "bare CR");
}

TEST(h1_request_methods)
{
    static const struct {
        const char *m;
        enum tr_h1_method id;
    } cases[] = {
        {"GET", TR_H1_GET},         {"HEAD", TR_H1_HEAD},       {"POST", TR_H1_POST},
        {"PUT", TR_H1_PUT},         {"DELETE", TR_H1_DELETE},   {"OPTIONS", TR_H1_OPTIONS},
        {"TRACE", TR_H1_TRACE},     {"PATCH", TR_H1_PATCH},     {"get", TR_H1_OTHER},
        {"PROPFIND", TR_H1_OTHER}, {"M-SEARCH", TR_H1_OTHER}, {"GETS", TR_H1_OTHER},
    };
    char buf[128];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\nHost: a\r\n\r\n", cases[i].m);
        ASSERT(parse(buf) > 0);
        ASSERT_EQ(req.method_id, cases[i].id);
        ASSERT_SLICE(req.method, req.method_len, cases[i].m);
    }
    ASSERT(parse("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n") > 0);
    ASSERT_EQ(req.method_id, TR_H1_CONNECT);
}

TEST(h1_request_bad_method_fails_early)
{
    /* A TLS ClientHello on a plaintext port: answered at once, not after a timeout. */
    tr_h1_req_init(&req);
    ASSERT_EQ(tr_h1_parse_request("\x16\x03\x01", 3, &req, NULL), TR_EPROTO);
    ASSERT_EQ(req.error_status, 400);
    ASSERT_EQ(parse("GET\t/"), TR_EPROTO);
    ASSERT_EQ(parse("GET"), TR_EAGAIN);
    ASSERT_EQ(parse("GET "), TR_EAGAIN);
    ASSERT_EQ(parse(" GET"), TR_EPROTO);
}

TEST(h1_request_target_forms)
{
    ASSERT_EQ(status_of("GET http://Example.com:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n"), 0);
    ASSERT_EQ(req.form, TR_H1_ABSOLUTE);
    ASSERT_SLICE(req.path, req.path_len, "/p?q");
    ASSERT_SLICE(req.authority, req.authority_len, "Example.com:81"); /* wins over Host */
    ASSERT_EQ(status_of("GET https://example.com HTTP/1.1\r\nHost: other\r\n\r\n"), 0);
    ASSERT_EQ(req.path_len, 0); /* empty means "/" */
    ASSERT_SLICE(req.authority, req.authority_len, "example.com");
    ASSERT_EQ(status_of("GET http://example.com?q HTTP/1.1\r\nHost: other\r\n\r\n"), 0);
    ASSERT_SLICE(req.path, req.path_len, "?q");
    ASSERT_SLICE(req.authority, req.authority_len, "example.com");

    ASSERT_EQ(status_of("CONNECT [::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    ASSERT_EQ(req.form, TR_H1_AUTHORITY);
    ASSERT_SLICE(req.authority, req.authority_len, "[::1]:443");
    ASSERT_EQ(req.path_len, 0);
    ASSERT_EQ(status_of("CONNECT a:99999 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    ASSERT_EQ(status_of("CONNECT a: HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    ASSERT_EQ(status_of("CONNECT http://a:1/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400);

    ASSERT_EQ(status_of("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    ASSERT_EQ(req.form, TR_H1_ASTERISK);
    ASSERT_SLICE(req.path, req.path_len, "*");
    ASSERT_EQ(status_of("OPTIONS *a HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET a.com HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET http:/a HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET http://[::1/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET http://a%2/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET http://a%2f/ HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
}

TEST(h1_request_target_bytes)
{
    char buf[64];
    for (int c = 0; c < 256; c++) {
        snprintf(buf, sizeof(buf), "GET /%c HTTP/1.1\r\nHost: a\r\n\r\n", c ? c : 'x');
        if (!c)
            buf[5] = '\0';
        size_t len = strlen("GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
        tr_h1_req_init(&req);
        int n = tr_h1_parse_request(buf, len, &req, NULL);
        bool want = (c > 0x20 && c < 0x7f && c != '#') || c >= 0x80;
        if (want != (n > 0))
            tr_test_fail(__FILE__, __LINE__, "byte 0x%02x: %d", c, n);
        if (!want)
            ASSERT_EQ(req.error_status, 400);
    }
}

TEST(h1_request_versions)
{
    ASSERT_EQ(status_of("GET / HTTP/1.0\r\n\r\n"), 0);
    ASSERT_EQ(req.minor_version, 0);
    ASSERT_NULL(req.authority);
    ASSERT_EQ(status_of("GET / HTTP/1.9\r\nHost: a\r\n\r\n"), 0);
    ASSERT_EQ(req.minor_version, 1);
    ASSERT_EQ(status_of("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
    ASSERT_EQ(status_of("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505);
    ASSERT_EQ(status_of("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.\r\nHost: a\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1x\r\nHost: a\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTPS/1.1\r\nHost: a\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / \r\nHost: a\r\n\r\n"), 400);
}

TEST(h1_request_h2_preface)
{
    const char *pri = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    ASSERT_EQ(parse(pri), TR_H1_PRI);
    for (size_t i = 0; i < 18; i++) {
        tr_h1_req_init(&req);
        ASSERT_EQ(tr_h1_parse_request(pri, i, &req, NULL), TR_EAGAIN);
    }
    /* Only at the very start of the bytes, and only as the preface. */
    ASSERT_EQ(status_of("\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
    ASSERT_EQ(status_of("PRI * HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
    ASSERT_EQ(status_of("PRI * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

TEST(h1_request_field_syntax)
{
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n"), 400);
    ASSERT_STREQ(req.error_reason, "whitespace before colon");
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n"), 400);
    ASSERT_STREQ(req.error_reason, "obsolete line folding");
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\n:b\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX\"Y: b\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: \xff\x80 ~\r\n\r\n"), 0);
    ASSERT_SLICE(req.headers[1].value, req.headers[1].value_len, "\xff\x80 ~");
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX:\t\t\r\n\r\n"), 0);
    ASSERT_EQ(req.headers[1].value_len, 0);
}

TEST(h1_request_field_value_bytes)
{
    char buf[64];
    const size_t len = strlen("GET / HTTP/1.1\r\nX: a?b\r\n\r\n");
    for (int c = 0; c < 256; c++) {
        snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nX: a?b\r\n\r\n");
        buf[20] = (char)c;
        tr_h1_req_init(&req);
        int n = tr_h1_parse_request(buf, len, &req, NULL);
        bool want = c == '\t' || (c >= 0x20 && c != 0x7f);
        if (c == '\n' || c == '\r')
            continue; /* they end the line: covered elsewhere */
        if (want != (n > 0))
            tr_test_fail(__FILE__, __LINE__, "byte 0x%02x: %d", c, n);
        if (!want)
            ASSERT_EQ(req.error_status, 400);
    }
}

TEST(h1_request_line_limit_boundary)
{
    struct tr_h1_limits lim = tr_h1_default_limits;
    lim.max_line = 20;
    /* "GET /aaaaaa HTTP/1.1" is exactly 20 bytes. */
    const char *ok = "GET /aaaaaa HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *over = "GET /aaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n";
    tr_h1_req_init(&req);
    ASSERT(tr_h1_parse_request(ok, strlen(ok), &req, &lim) > 0);
    tr_h1_req_init(&req);
    ASSERT_EQ(tr_h1_parse_request(over, strlen(over), &req, &lim), TR_ELIMIT);
    ASSERT_EQ(req.error_status, 414);
    /* Known from the first 22 bytes without an LF: no need to wait for the rest. */
    tr_h1_req_init(&req);
    ASSERT_EQ(tr_h1_parse_request(over, 21, &req, &lim), TR_EAGAIN);
    ASSERT_EQ(tr_h1_parse_request(over, 22, &req, &lim), TR_ELIMIT);
    ASSERT_EQ(req.error_status, 414);
    /* The CR of a bare-LF line counts... as nothing: "GET /aaaaaa HTTP/1.1\n" is fine too. */
    tr_h1_req_init(&req);
    ASSERT(tr_h1_parse_request("GET /aaaaaa HTTP/1.1\nHost: a\n\n", 31, &req, &lim) > 0);
}

TEST(h1_request_head_limit_boundary)
{
    struct tr_h1_limits lim = tr_h1_default_limits;
    lim.max_head = 41;
    /* 16 + 9 + 14 + 2 = 41 bytes. */
    const char *ok = "GET / HTTP/1.1\r\nHost: a\r\nX: 123456789\r\n\r\n";
    const char *over = "GET / HTTP/1.1\r\nHost: a\r\nX: 1234567890\r\n\r\n";
    ASSERT_EQ(strlen(ok), 41);
    tr_h1_req_init(&req);
    ASSERT_EQ(tr_h1_parse_request(ok, strlen(ok), &req, &lim), 41);
    tr_h1_req_init(&req);
    ASSERT_EQ(tr_h1_parse_request(over, strlen(over), &req, &lim), TR_ELIMIT);
    ASSERT_EQ(req.error_status, 431);
    tr_h1_req_init(&req);
    ASSERT_EQ(tr_h1_parse_request(over, 40, &req, &lim), TR_EAGAIN);
    ASSERT_EQ(tr_h1_parse_request(over, 41, &req, &lim), TR_ELIMIT);
    /* A longer buffer (body bytes after the head) does not change the answer. */
    char big[128];
    snprintf(big, sizeof(big), "%sbodybodybody", ok);
    tr_h1_req_init(&req);
    ASSERT_EQ(tr_h1_parse_request(big, strlen(big), &req, &lim), 41);
}

TEST(h1_request_header_count_boundary)
{
    struct tr_h1_limits lim = tr_h1_default_limits;
    lim.max_headers = 3;
    const char *ok = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    const char *over = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    tr_h1_req_init(&req);
    ASSERT(tr_h1_parse_request(ok, strlen(ok), &req, &lim) > 0);
    ASSERT_EQ(req.nheaders, 3);
    tr_h1_req_init(&req);
    ASSERT_EQ(tr_h1_parse_request(over, strlen(over), &req, &lim), TR_ELIMIT);
    ASSERT_EQ(req.error_status, 431);

    /* The limit cannot exceed the array. */
    lim.max_headers = 1000;
    char *buf = malloc(4096);
    size_t len = (size_t)snprintf(buf, 4096, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < TR_H1_MAX_HEADERS + 1; i++)
        len += (size_t)snprintf(buf + len, 4096 - len, "H: %d\r\n", i);
    len += (size_t)snprintf(buf + len, 4096 - len, "\r\n");
    tr_h1_req_init(&req);
    ASSERT_EQ(tr_h1_parse_request(buf, len, &req, &lim), TR_ELIMIT);
    ASSERT_EQ(req.error_status, 431);
    free(buf);
}

TEST(h1_request_keep_alive_rules)
{
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    ASSERT(req.keep_alive);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n"), 0);
    ASSERT(!req.keep_alive);
    ASSERT_EQ(req.conn, TR_H1_CONN_CLOSE);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: y, close\r\n\r\n"), 0);
    ASSERT(!req.keep_alive);
    ASSERT_EQ(status_of("GET / HTTP/1.0\r\n\r\n"), 0);
    ASSERT(!req.keep_alive);
    ASSERT_EQ(status_of("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
    ASSERT(req.keep_alive);
    ASSERT_EQ(status_of("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), 0);
    ASSERT(!req.keep_alive);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"), 0);
    ASSERT(req.keep_alive);
}

TEST(h1_request_upgrade_and_expect)
{
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, UPGRADE\r\nUpgrade: websocket\r\n\r\n"), 0);
    ASSERT_SLICE(req.upgrade, req.upgrade_len, "websocket");
    ASSERT_EQ(req.conn, TR_H1_CONN_KEEP_ALIVE | TR_H1_CONN_UPGRADE);
    /* Upgrade without Connection: upgrade is not an upgrade; HTTP/1.0 ignores it. */
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"), 0);
    ASSERT_NULL(req.upgrade);
    ASSERT_EQ(status_of("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"), 0);
    ASSERT_NULL(req.upgrade);

    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n"), 0);
    ASSERT(req.expect_continue);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nExpect: x, 100-continue\r\n\r\n"), 0);
    ASSERT(req.expect_continue);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continued\r\n\r\n"), 0);
    ASSERT(!req.expect_continue);
    ASSERT_EQ(status_of("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"), 0);
    ASSERT(!req.expect_continue);
}

TEST(h1_request_host_rules)
{
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\n\r\n"), 400);
    ASSERT_STREQ(req.error_reason, "missing Host");
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), 400);
    ASSERT_STREQ(req.error_reason, "more than one Host");
    ASSERT_EQ(status_of("GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 0); /* RFC 9112 3.2: empty is valid */
    ASSERT_EQ(req.authority_len, 0);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: 10.0.0.1:8080\r\n\r\n"), 0);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a:\r\n\r\n"), 0);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: [v1.x]\r\n\r\n"), 0);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: []\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a:b:c\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET / HTTP/1.1\r\nHost: a?b\r\n\r\n"), 400);
    /* absolute-form still needs a valid Host in HTTP/1.1. */
    ASSERT_EQ(status_of("GET http://a/ HTTP/1.1\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET http://a/ HTTP/1.1\r\nHost: b c\r\n\r\n"), 400);
}

TEST(h1_request_content_length)
{
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n"), 0);
    ASSERT_EQ(req.content_length, 9223372036854775807LL);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n"), 400);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), 0);
    ASSERT_EQ(req.body, TR_H1_BODY_LENGTH);
    ASSERT_EQ(req.content_length, 0);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    ASSERT_EQ(req.body, TR_H1_BODY_NONE);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 007\r\ncontent-length: 7\r\n\r\n"), 0);
    ASSERT_EQ(req.content_length, 7);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n"), 400);
    ASSERT_STREQ(req.error_reason, "conflicting Content-Length values");
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7 ,8\r\n\r\n"), 400);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,7\r\n\r\n"), 400);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7;\r\n\r\n"), 400);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xd9\xa3\r\n\r\n"), 400);
    ASSERT_EQ(status_of("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nContent-Length: 0\r\n\r\n"), 0);
    ASSERT_EQ(status_of("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

TEST(h1_request_transfer_encoding)
{
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n"), 0);
    ASSERT_EQ(req.body, TR_H1_BODY_CHUNKED);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"), 400);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n"), 0);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n"), 400);
    ASSERT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
    ASSERT_EQ(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
    ASSERT_STREQ(req.error_reason, "Transfer-Encoding in HTTP/1.0");
}

TEST(h1_list_and_find)
{
    const char *v = " a ,, b\t,c d ,", *pos = v, *el;
    size_t n;
    ASSERT(tr_h1_list_next(&pos, v + strlen(v), &el, &n));
    ASSERT_SLICE(el, n, "a");
    ASSERT(tr_h1_list_next(&pos, v + strlen(v), &el, &n));
    ASSERT_SLICE(el, n, "b");
    ASSERT(tr_h1_list_next(&pos, v + strlen(v), &el, &n));
    ASSERT_SLICE(el, n, "c d");
    ASSERT(!tr_h1_list_next(&pos, v + strlen(v), &el, &n));
    ASSERT(tr_h1_token_eq("KeeP-Alive", 10, "keep-alive", 10));
    ASSERT(!tr_h1_token_eq("keep-alivE", 10, "keep-alivf", 10));
    ASSERT(!tr_h1_token_eq("@", 1, "`", 1)); /* not a blind | 0x20 */
    ASSERT(parse("GET / HTTP/1.1\r\nHost: a\r\nX-Y: 1\r\nx-y: 2\r\n\r\n") > 0);
    const struct tr_h1_header *h = tr_h1_header_find(req.headers, req.nheaders, "x-y", 3);
    ASSERT(h == &req.headers[1]);
    ASSERT_NULL(tr_h1_header_find(req.headers, req.nheaders, "x-z", 3));
}

TEST(h1_response_basic)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello";
    int n = parse_resp(s);
    ASSERT_EQ(n, (int)strlen(s) - 5);
    ASSERT_EQ(resp.status, 200);
    ASSERT_EQ(resp.minor_version, 1);
    ASSERT_SLICE(resp.reason, resp.reason_len, "OK");
    ASSERT_EQ(resp.nheaders, 2);
    ASSERT_EQ(tr_h1_resp_framing(&resp, TR_H1_GET), TR_OK);
    ASSERT_EQ(resp.body, TR_H1_BODY_LENGTH);
    ASSERT_EQ(resp.content_length, 5);
    ASSERT(resp.keep_alive);

    ASSERT(parse_resp("HTTP/1.1 404 Not  Found \xe9\r\n\r\n") > 0);
    ASSERT_SLICE(resp.reason, resp.reason_len, "Not  Found \xe9");
    ASSERT(parse_resp("HTTP/1.1 204\r\n\r\n") > 0); /* no SP, no reason */
    ASSERT_EQ(resp.reason_len, 0);
    ASSERT(parse_resp("HTTP/1.0 204 \n\n") > 0);
    ASSERT_EQ(resp.minor_version, 0);
}

TEST(h1_response_bad_status_lines)
{
    static const char *bad[] = {
        "HTTP/1.1 20\r\n\r\n",        "HTTP/1.1 2000\r\n\r\n",    "HTTP/1.1 600 X\r\n\r\n",
        "HTTP/1.1 099 X\r\n\r\n",     "HTTP/2.0 200 OK\r\n\r\n",  "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 200 O\x01K\r\n\r\n", "http/1.1 200 OK\r\n\r\n",  "HTTP/1.1 200 OK\r\rX: y\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX : y\r\n\r\n", "HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", "ICY 200 OK\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int n = parse_resp(bad[i]);
        if (n != TR_EPROTO || resp.error_status != 502)
            tr_test_fail(__FILE__, __LINE__, "case %zu accepted: %d", i, n);
        ASSERT_NOT_NULL(resp.error_reason);
    }
    struct tr_h1_limits lim = tr_h1_default_limits;
    lim.max_line = 10;
    tr_h1_resp_init(&resp);
    ASSERT_EQ(tr_h1_parse_response("HTTP/1.1 200 OK\r\n\r\n", 19, &resp, &lim), TR_ELIMIT);
    ASSERT_EQ(resp.error_status, 502);
}

TEST(h1_response_interim_then_final)
{
    const char *s = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    size_t off = 0;
    int statuses[3];
    for (int i = 0; i < 3; i++) {
        tr_h1_resp_init(&resp);
        int n = tr_h1_parse_response(s + off, strlen(s) - off, &resp, NULL);
        ASSERT(n > 0);
        ASSERT_EQ(tr_h1_resp_framing(&resp, TR_H1_POST), TR_OK);
        statuses[i] = resp.status;
        ASSERT_EQ(resp.body, i < 2 ? TR_H1_BODY_NONE : TR_H1_BODY_CHUNKED);
        off += (size_t)n;
    }
    ASSERT_EQ(statuses[0], 100);
    ASSERT_EQ(statuses[1], 103);
    ASSERT_EQ(statuses[2], 200);
    ASSERT_EQ(strlen(s) - off, 5);
}

static int resp_framing(const char *s, enum tr_h1_method m)
{
    if (parse_resp(s) <= 0)
        return -1;
    return tr_h1_resp_framing(&resp, m) == TR_OK ? 0 : resp.error_status;
}

TEST(h1_response_framing)
{
    /* No body, whatever the fields say. */
    ASSERT_EQ(resp_framing("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", TR_H1_HEAD), 0);
    ASSERT_EQ(resp.body, TR_H1_BODY_NONE);
    ASSERT(resp.keep_alive);
    ASSERT_EQ(resp_framing("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", TR_H1_GET), 0);
    ASSERT_EQ(resp.body, TR_H1_BODY_NONE);
    ASSERT_EQ(resp_framing("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", TR_H1_GET), 0);
    ASSERT_EQ(resp.body, TR_H1_BODY_NONE);
    ASSERT_EQ(resp_framing("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
                           TR_H1_GET), 0);
    ASSERT_EQ(resp.body, TR_H1_BODY_NONE);
    ASSERT_SLICE(resp.upgrade, resp.upgrade_len, "websocket");
    ASSERT(!resp.keep_alive);
    /* CONNECT: 2xx is a tunnel, anything else an ordinary response. */
    ASSERT_EQ(resp_framing("HTTP/1.1 200 Connection Established\r\n\r\n", TR_H1_CONNECT), 0);
    ASSERT_EQ(resp.body, TR_H1_BODY_TUNNEL);
    ASSERT(!resp.keep_alive);
    ASSERT_EQ(resp_framing("HTTP/1.1 407 Auth\r\nContent-Length: 0\r\n\r\n", TR_H1_CONNECT), 0);
    ASSERT_EQ(resp.body, TR_H1_BODY_LENGTH);
    /* Chunked, and what a proxy refuses to guess about. */
    ASSERT_EQ(resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n", TR_H1_GET), 0);
    ASSERT_EQ(resp.body, TR_H1_BODY_CHUNKED);
    ASSERT_EQ(resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", TR_H1_GET), 502);
    ASSERT_EQ(resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", TR_H1_GET), 502);
    ASSERT_EQ(resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", TR_H1_GET), 502);
    ASSERT_EQ(resp_framing("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", TR_H1_GET), 502);
    ASSERT_EQ(resp_framing("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", TR_H1_GET), 502);
    ASSERT_EQ(resp_framing("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n", TR_H1_GET), 0);
    ASSERT_EQ(resp.content_length, 3);
    ASSERT_EQ(resp_framing("HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", TR_H1_GET), 502);
    /* Until close. */
    ASSERT_EQ(resp_framing("HTTP/1.1 200 OK\r\n\r\n", TR_H1_GET), 0);
    ASSERT_EQ(resp.body, TR_H1_BODY_CLOSE);
    ASSERT(!resp.keep_alive);
}

TEST(h1_response_keep_alive)
{
    ASSERT_EQ(resp_framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", TR_H1_GET), 0);
    ASSERT(!resp.keep_alive);
    ASSERT_EQ(resp_framing("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", TR_H1_GET), 0);
    ASSERT(!resp.keep_alive);
    ASSERT_EQ(resp_framing("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n", TR_H1_GET), 0);
    ASSERT(resp.keep_alive);
}

TEST(h1_response_split_at_every_byte)
{
    const char *s = "\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\nSet-Cookie: a=b; Path=/\r\n\r\nhello";
    size_t len = strlen(s);
    int whole = parse_resp(s);
    ASSERT(whole > 0);
    for (size_t split = 0; split < len; split++) {
        tr_h1_resp_init(&resp2);
        int first = tr_h1_parse_response(s, split, &resp2, NULL);
        ASSERT(first == TR_EAGAIN || first == whole);
        int n = first == TR_EAGAIN ? tr_h1_parse_response(s, len, &resp2, NULL) : first;
        ASSERT_EQ(n, whole);
        ASSERT_EQ(resp2.nheaders, 2);
        ASSERT(resp2.headers[1].value == resp.headers[1].value);
        ASSERT_EQ(resp2.status, 200);
    }
}

/* --- tr_h1_req_check: a head that arrived as fields (HTTP/2) held to the text parser's rules --- */

/* Fills req2 as an HTTP/2 stream would: method, target, then name/value pairs (NULL-ended). */
static int check_fields(const char *method, const char *target, const char *const *nv)
{
    tr_h1_req_init(&req2);
    req2.method = method;
    req2.method_len = strlen(method);
    req2.target = target;
    req2.target_len = strlen(target);
    req2.minor_version = 1;
    size_t n = 0;
    for (; nv && nv[2 * n]; n++)
        req2.headers[n] = (struct tr_h1_header){nv[2 * n], strlen(nv[2 * n]), nv[2 * n + 1], strlen(nv[2 * n + 1])};
    req2.nheaders = n;
    int rc = tr_h1_req_check(&req2, NULL);
    return rc == 0 ? 0 : req2.error_status;
}

TEST(h1_req_check_accepts_what_the_parser_accepts)
{
    static const char *const nv[] = {"host", "example.com", "x-a", "1", "cookie", "a=b; c=d", NULL};
    ASSERT_EQ(check_fields("GET", "/a/b?c=d", nv), 0);
    ASSERT_EQ(req2.method_id, TR_H1_GET);
    ASSERT_EQ(req2.form, TR_H1_ORIGIN);
    ASSERT_EQ(req2.path_len, strlen("/a/b?c=d"));
    ASSERT_EQ(tr_h1_req_framing(&req2), 0);
    ASSERT_EQ(req2.authority_len, strlen("example.com"));
    ASSERT_EQ(check_fields("OPTIONS", "*", nv), 0);
    ASSERT_EQ(req2.form, TR_H1_ASTERISK);
    ASSERT_EQ(check_fields("PROPFIND", "/", nv), 0); /* any token */
    ASSERT_EQ(req2.method_id, TR_H1_OTHER);
    static const char *const obs[] = {"x-utf8", "caf\xc3\xa9", NULL}; /* obs-text, as the parser takes it */
    ASSERT_EQ(check_fields("GET", "/\xc3\xa9t\xc3\xa9", obs), 0);
}

TEST(h1_req_check_the_parser_s_refusals)
{
    ASSERT_EQ(check_fields("GE T", "/", NULL), 400);
    ASSERT_EQ(check_fields("", "/", NULL), 400);
    ASSERT_EQ(check_fields("GET", "", NULL), 400);
    ASSERT_EQ(check_fields("GET", "/a#frag", NULL), 400);  /* CVE-2023-45539 */
    ASSERT_EQ(check_fields("GET", "/a b", NULL), 400);
    ASSERT_EQ(check_fields("GET", "/a\x7f", NULL), 400);
    ASSERT_EQ(check_fields("GET", "*", NULL), 400);        /* asterisk-form without OPTIONS */
    ASSERT_EQ(check_fields("GET", "a/b", NULL), 400);      /* neither origin nor absolute form */
    ASSERT_EQ(check_fields("CONNECT", "example.com", NULL), 400); /* no port */
    static const char *const name_sp[] = {"x a", "1", NULL}, *const name_colon[] = {"x:a", "1", NULL},
                             *const name_empty[] = {"", "1", NULL}, *const ctl[] = {"x-a", "1\x01", NULL},
                             *const del[] = {"x-a", "\x7f", NULL}, *const nul_cr[] = {"x-a", "a\rb", NULL};
    ASSERT_EQ(check_fields("GET", "/", name_sp), 400);
    ASSERT_EQ(check_fields("GET", "/", name_colon), 400);
    ASSERT_EQ(check_fields("GET", "/", name_empty), 400);
    ASSERT_EQ(check_fields("GET", "/", ctl), 400);
    ASSERT_EQ(check_fields("GET", "/", del), 400);
    ASSERT_EQ(check_fields("GET", "/", nul_cr), 400);
}

TEST(h1_req_check_trims_ows)
{
    static const char *const nv[] = {"x-a", " \t1 2\t ", NULL};
    ASSERT_EQ(check_fields("GET", "/", nv), 0);
    ASSERT_EQ(req2.headers[0].value_len, 3);
    ASSERT(memcmp(req2.headers[0].value, "1 2", 3) == 0);
}

/* The limits as for text: the request line "METHOD SP target SP HTTP/1.1" against max_line
 * (414), the number of fields (431) and the whole head (431), each at its boundary. */
TEST(h1_req_check_limits_at_their_boundaries)
{
    size_t max = tr_h1_default_limits.max_line;
    char *t = malloc(max + 2);
    memset(t, 'a', max + 1);
    t[0] = '/';
    t[max - 4 - 9] = '\0'; /* "GET " + target + " HTTP/1.1" == max_line */
    ASSERT_EQ(check_fields("GET", t, NULL), 0);
    t[max - 4 - 9] = 'a';
    t[max - 4 - 9 + 1] = '\0';
    ASSERT_EQ(check_fields("GET", t, NULL), 414);
    free(t);
    static const char *many[2 * 100 + 1];
    for (size_t i = 0; i < 2 * 100; i += 2) {
        many[i] = "x-f";
        many[i + 1] = "v";
    }
    many[2 * 100] = NULL;
    ASSERT_EQ(check_fields("GET", "/", many), 0); /* 100 fields */
    tr_h1_req_init(&req2);
    req2.method = "GET";
    req2.method_len = 3;
    req2.target = "/";
    req2.target_len = 1;
    req2.nheaders = 101; /* one past max_headers, checked before any field is read */
    ASSERT(req2.nheaders > tr_h1_default_limits.max_headers);
    ASSERT_EQ(tr_h1_req_check(&req2, NULL), TR_ELIMIT);
    ASSERT_EQ(req2.error_status, 431);
    size_t big = tr_h1_default_limits.max_head;
    char *v = malloc(big);
    memset(v, 'v', big - 1);
    v[big - 1] = '\0';
    const char *huge[] = {"x-big", v, NULL};
    ASSERT_EQ(check_fields("GET", "/", huge), 431);
    free(v);
}

/* --- tr_h1_resp_check: an HTTP/2 backend's response head, held to the same rules --- */

/* Checks status and the NULL-terminated name, value pairs; returns 0 or the error status. */
static int check_resp(int status, const char *const *fv)
{
    tr_h1_resp_init(&resp2);
    resp2.status = status;
    size_t n = 0;
    for (; fv && fv[2 * n]; n++)
        resp2.headers[n] = (struct tr_h1_header){fv[2 * n], strlen(fv[2 * n]), fv[2 * n + 1], strlen(fv[2 * n + 1])};
    resp2.nheaders = n;
    return tr_h1_resp_check(&resp2, NULL) == 0 ? 0 : resp2.error_status;
}

TEST(h1_resp_check_fields)
{
    const char *ok[] = {"content-type", "text/plain", "x-tab", "a\tb", "x-obs", "caf\xc3\xa9", NULL};
    ASSERT_EQ(check_resp(200, ok), 0);
    ASSERT_EQ(resp2.minor_version, 1);
    /* Framing then works on the fields as on a parsed head. */
    const char *cl[] = {"content-length", "12", NULL};
    ASSERT_EQ(check_resp(200, cl), 0);
    ASSERT_EQ(tr_h1_resp_framing(&resp2, TR_H1_GET), 0);
    ASSERT_EQ(resp2.body, TR_H1_BODY_LENGTH);
    ASSERT_EQ(resp2.content_length, 12);
    /* What a text head could not carry is refused, always with a 502. */
    const char *ctl[] = {"x-a", "a\x01" "b", NULL};
    ASSERT_EQ(check_resp(200, ctl), 502);
    const char *name[] = {"x a", "v", NULL};
    ASSERT_EQ(check_resp(200, name), 502);
    const char *empty[] = {"", "v", NULL};
    ASSERT_EQ(check_resp(200, empty), 502);
    ASSERT_EQ(check_resp(99, NULL), 502);
    ASSERT_EQ(check_resp(600, NULL), 502);
    ASSERT_EQ(check_resp(100, NULL), 0);
    /* OWS is trimmed as the text parser trims it. */
    const char *ows[] = {"x-a", " \tv \t", NULL};
    ASSERT_EQ(check_resp(200, ows), 0);
    ASSERT(slice_is(resp2.headers[0].value, resp2.headers[0].value_len, "v"));
    /* The limits: too many fields, a head too large. */
    tr_h1_resp_init(&resp2);
    resp2.status = 200;
    resp2.nheaders = tr_h1_default_limits.max_headers + 1;
    ASSERT(tr_h1_resp_check(&resp2, NULL) != 0);
    ASSERT_EQ(resp2.error_status, 502);
    size_t big = tr_h1_default_limits.max_head;
    char *v = malloc(big);
    memset(v, 'v', big - 1);
    v[big - 1] = '\0';
    const char *huge[] = {"x-big", v, NULL};
    ASSERT_EQ(check_resp(200, huge), 502);
    free(v);
}
