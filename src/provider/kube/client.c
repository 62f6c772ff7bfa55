#include "provider/kube/client.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "provider/kube/config.h"
#include "provider/kube/creds.h"
#include "provider/kube/internal.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

/* A response body kept whole (lists, objects) may be this large: a page of 500 objects of the
 * API server's 1.5 MB object limit would not fit, but the reflector asks large kinds for smaller
 * pages. */
#define MAX_BODY (512u << 20)
#define DEFAULT_TIMEOUT_S 120
/* A request answered 429 (or 5xx) with Retry-After is sent again this many times. */
#define MAX_RETRY_AFTER 5
/* A Retry-After longer than this is taken as this. */
#define MAX_RETRY_AFTER_S 60

struct tr_kc_req {
    struct tr_kc *c;
    CURL *h;
    struct curl_slist *headers;
    enum tr_kc_method method;
    char *path, *ctype, *body;
    size_t len;
    bool stream;
    int timeout_s;
    bool (*on_data)(void *ud, const char *p, size_t len);
    void (*on_done)(void *ud, const struct tr_kc_result *r);
    void *ud;
    struct tr_buf resp;
    int retries;        /* Retry-After resends so far */
    bool retried_401;
    bool stopped_by_data; /* on_data asked to end it */
    bool running;        /* in the multi handle (else waiting in the queue) */
    bool dead;           /* cancelled or done: freed at the end of the poll */
    int64_t not_before_ms;
    char errbuf[CURL_ERROR_SIZE];
    struct tr_kc_req *next; /* in the wait queue, the running list or the dead list */
};

struct tr_kc {
    const struct tr_kube_config *cfg;
    CURLM *m;
    struct tr_kube_creds creds;
    char *base;                 /* scheme://authority[/prefix] the paths are appended to */
    struct curl_slist *connect_to; /* tls-server-name: connect to the server's host instead */
    char *user_agent;
    double qps, tokens;
    unsigned burst;
    int64_t tokens_at_ms;
    int64_t hold_until_ms; /* after a Retry-After: nothing new before this */
    struct tr_kc_req *queue, **queue_tail;
    struct tr_kc_req *running;
    struct tr_kc_req *dead;
    uint64_t sent;
    struct tr_log_limit cred_warn;
};

/* Splits "https://host:port/prefix" for tls-server-name: base becomes https://NAME:port/prefix,
 * and curl is told to connect to host:port for NAME:port. */
static int set_base(struct tr_kc *c, struct tr_buf *err)
{
    const char *s = c->cfg->server;
    const char *auth = strstr(s, "://");
    if (!auth) {
        tr_buf_printf(err, "server %s: not a URL", s);
        return -1;
    }
    auth += 3;
    const char *end = strchr(auth, '/');
    if (!end)
        end = auth + strlen(auth);
    if (!c->cfg->tls_server_name) {
        c->base = tr_xstrdup(s);
        return 0;
    }
    /* host and port of the authority; an IPv6 host is in brackets. */
    const char *colon = NULL;
    if (*auth == '[') {
        const char *rb = memchr(auth, ']', (size_t)(end - auth));
        if (rb && rb + 1 < end && rb[1] == ':')
            colon = rb + 1;
    } else {
        colon = memchr(auth, ':', (size_t)(end - auth));
    }
    const char *port = colon ? colon + 1 : "443";
    size_t portlen = colon ? (size_t)(end - port) : 3;
    size_t hostlen = (size_t)((colon ? colon : end) - auth);
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_buf_append(&b, s, (size_t)(auth - s));
    tr_buf_printf(&b, "%s:%.*s%s", c->cfg->tls_server_name, (int)portlen, port, end);
    c->base = tr_buf_steal(&b);
    tr_buf_printf(&b, "%s:%.*s:%.*s:%.*s", c->cfg->tls_server_name, (int)portlen, port, (int)hostlen, auth, (int)portlen,
                  port);
    c->connect_to = curl_slist_append(NULL, b.data);
    tr_buf_dispose(&b);
    return 0;
}

struct tr_kc *tr_kc_new(const struct tr_kube_config *cfg, const struct tr_kc_opts *o, struct tr_buf *err)
{
    static bool global_done;
    if (!global_done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        global_done = true;
    }
    struct tr_kc *c = tr_xcalloc(1, sizeof(*c));
    c->cfg = cfg;
    c->qps = o && o->qps > 0 ? o->qps : 50;
    c->burst = o && o->burst ? o->burst : 100;
    c->tokens = c->burst;
    c->tokens_at_ms = kube_now_ms();
    c->user_agent = tr_xstrdup(o && o->user_agent ? o->user_agent : "torii");
    c->queue_tail = &c->queue;
    if (set_base(c, err) != 0 || tr_kube_creds_refresh(&c->creds, cfg, false, err) != 0) {
        tr_kc_free(c);
        return NULL;
    }
    c->m = curl_multi_init();
    curl_multi_setopt(c->m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    return c;
}

static void req_free(struct tr_kc_req *r)
{
    if (r->h)
        curl_easy_cleanup(r->h);
    curl_slist_free_all(r->headers);
    free(r->path);
    free(r->ctype);
    free(r->body);
    tr_buf_dispose(&r->resp);
    free(r);
}

static void free_dead(struct tr_kc *c)
{
    while (c->dead) {
        struct tr_kc_req *r = c->dead;
        c->dead = r->next;
        req_free(r);
    }
}

void tr_kc_free(struct tr_kc *c)
{
    if (!c)
        return;
    for (struct tr_kc_req *r = c->running, *next; r; r = next) {
        next = r->next;
        curl_multi_remove_handle(c->m, r->h);
        req_free(r);
    }
    for (struct tr_kc_req *r = c->queue, *next; r; r = next) {
        next = r->next;
        req_free(r);
    }
    free_dead(c);
    if (c->m)
        curl_multi_cleanup(c->m);
    curl_slist_free_all(c->connect_to);
    tr_kube_creds_dispose(&c->creds);
    free(c->base);
    free(c->user_agent);
    free(c);
}

static void enqueue(struct tr_kc *c, struct tr_kc_req *r)
{
    r->next = NULL;
    *c->queue_tail = r;
    c->queue_tail = &r->next;
}

struct tr_kc_req *tr_kc_start(struct tr_kc *c, const struct tr_kc_call *call)
{
    struct tr_kc_req *r = tr_xcalloc(1, sizeof(*r));
    r->c = c;
    r->method = call->method;
    r->path = tr_xstrdup(call->path);
    r->ctype = call->content_type ? tr_xstrdup(call->content_type) : NULL;
    if (call->body) {
        r->body = tr_xmalloc(call->len + 1);
        memcpy(r->body, call->body, call->len);
        r->body[call->len] = '\0';
        r->len = call->len;
    }
    r->stream = call->stream;
    r->timeout_s = call->timeout_s > 0 ? call->timeout_s : DEFAULT_TIMEOUT_S;
    r->on_data = call->on_data;
    r->on_done = call->on_done;
    r->ud = call->ud;
    tr_buf_init(&r->resp, MAX_BODY);
    enqueue(c, r);
    return r;
}

static void unlink_from(struct tr_kc_req **head, struct tr_kc_req *r)
{
    for (struct tr_kc_req **p = head; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            return;
        }
    }
}

void tr_kc_cancel(struct tr_kc *c, struct tr_kc_req *r)
{
    if (!r || r->dead)
        return;
    if (r->running) {
        curl_multi_remove_handle(c->m, r->h);
        unlink_from(&c->running, r);
        r->running = false;
    } else {
        unlink_from(&c->queue, r);
        c->queue_tail = &c->queue;
        while (*c->queue_tail)
            c->queue_tail = &(*c->queue_tail)->next;
    }
    r->dead = true;
    r->next = c->dead;
    c->dead = r;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct tr_kc_req *r = ud;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
    /* A stream that failed (an error Status instead of events) is kept whole like any body. */
    if (r->stream && status == 200) {
        if (!r->on_data(r->ud, p, len)) {
            r->stopped_by_data = true;
            return 0;
        }
        return len;
    }
    if (tr_buf_append(&r->resp, p, len) != 0)
        return 0; /* over MAX_BODY: the transfer fails */
    return len;
}

static const char *method_name(enum tr_kc_method m)
{
    static const char *const names[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    return names[m];
}

static void launch(struct tr_kc *c, struct tr_kc_req *r)
{
    struct tr_buf err;
    tr_buf_init(&err, 0);
    if (tr_kube_creds_refresh(&c->creds, c->cfg, false, &err) != 0) {
        uint64_t held;
        if (tr_log_limit_pass(&c->cred_warn, 60000, &held))
            tr_log_warn("kubernetes: credentials: %s (the last good ones are used)", err.data);
    }
    tr_buf_dispose(&err);
    if (r->h)
        curl_easy_cleanup(r->h);
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    tr_buf_reset(&r->resp);
    CURL *h = curl_easy_init();
    r->h = h;
    struct tr_buf url;
    tr_buf_init(&url, 0);
    tr_buf_printf(&url, "%s%s", c->base, r->path);
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    tr_buf_dispose(&url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)r->timeout_s);
    if (r->stream) {
        /* A watch with bookmarks hears from the server at least every minute: silence for
         * longer is a connection that died without saying so. */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 150L);
    }
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    const struct tr_kube_config *cfg = c->cfg;
    if (cfg->ca_pem) {
        struct curl_blob b = {cfg->ca_pem, cfg->ca_pem_len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    } else if (cfg->ca_file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
    }
    const char *cert_pem = c->creds.cert_pem ? c->creds.cert_pem : cfg->cert_pem;
    size_t cert_len = c->creds.cert_pem ? c->creds.cert_pem_len : cfg->cert_pem_len;
    const char *key_pem = c->creds.key_pem ? c->creds.key_pem : cfg->key_pem;
    size_t key_len = c->creds.key_pem ? c->creds.key_pem_len : cfg->key_pem_len;
    if (cert_pem && key_pem) {
        struct curl_blob cb = {(void *)cert_pem, cert_len, CURL_BLOB_COPY};
        struct curl_blob kb = {(void *)key_pem, key_len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (cfg->cert_file && cfg->key_file) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->cert_file);
        curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->key_file);
    }
    if (c->connect_to)
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, c->connect_to);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    struct curl_slist *hd = NULL;
    hd = curl_slist_append(hd, "Accept: application/json");
    if (c->creds.token) {
        struct tr_buf a;
        tr_buf_init(&a, 0);
        tr_buf_printf(&a, "Authorization: Bearer %s", c->creds.token);
        hd = curl_slist_append(hd, a.data);
        tr_buf_dispose(&a);
    }
    if (r->ctype) {
        struct tr_buf a;
        tr_buf_init(&a, 0);
        tr_buf_printf(&a, "Content-Type: %s", r->ctype);
        hd = curl_slist_append(hd, a.data);
        tr_buf_dispose(&a);
    }
    /* No "Expect: 100-continue" round trip before a body. */
    hd = curl_slist_append(hd, "Expect:");
    r->headers = hd;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method_name(r->method));
    if (r->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
    } else if (r->method == TR_KC_GET || r->method == TR_KC_DELETE) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method_name(r->method));
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    r->next = c->running;
    c->running = r;
    r->running = true;
    c->sent++;
    curl_multi_add_handle(c->m, h);
}

/* Starts what waits, as the rate limit allows. Returns ms until the next start is possible, or
 * -1 when nothing waits. */
static int start_waiting(struct tr_kc *c)
{
    int64_t now = kube_now_ms();
    c->tokens += (double)(now - c->tokens_at_ms) * c->qps / 1000.0;
    if (c->tokens > c->burst)
        c->tokens = c->burst;
    c->tokens_at_ms = now;
    while (c->queue) {
        if (now < c->hold_until_ms)
            return (int)(c->hold_until_ms - now);
        struct tr_kc_req *r = c->queue;
        if (now < r->not_before_ms)
            return (int)(r->not_before_ms - now);
        if (c->tokens < 1.0)
            return (int)((1.0 - c->tokens) * 1000.0 / c->qps) + 1;
        c->tokens -= 1.0;
        c->queue = r->next;
        if (!c->queue)
            c->queue_tail = &c->queue;
        launch(c, r);
    }
    return -1;
}

static int retry_after(CURL *h)
{
    struct curl_header *hd;
    if (curl_easy_header(h, "Retry-After", 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
        return -1;
    char *end;
    long v = strtol(hd->value, &end, 10);
    if (end == hd->value || v < 0)
        return -1; /* an HTTP date: not what the API server sends */
    return v > MAX_RETRY_AFTER_S ? MAX_RETRY_AFTER_S : (int)v;
}

static void finish(struct tr_kc *c, struct tr_kc_req *r, CURLcode code)
{
    long status = 0;
    if (code == CURLE_OK || code == CURLE_WRITE_ERROR || code == CURLE_OPERATION_TIMEDOUT ||
        code == CURLE_PARTIAL_FILE || code == CURLE_RECV_ERROR || code == CURLE_HTTP2_STREAM)
        curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
    int ra = status ? retry_after(r->h) : -1;
    curl_multi_remove_handle(c->m, r->h);
    unlink_from(&c->running, r);
    r->running = false;
    /* A stream ends with an error when it ends abruptly; its status was 200 all along. */
    bool complete = code == CURLE_OK;
    if (complete && status == 401 && !r->retried_401) {
        uint64_t before = c->creds.changed;
        struct tr_buf err;
        tr_buf_init(&err, 0);
        if (tr_kube_creds_refresh(&c->creds, c->cfg, true, &err) != 0)
            tr_log_warn("kubernetes: credentials: %s", err.data);
        tr_buf_dispose(&err);
        if (c->creds.changed != before) {
            r->retried_401 = true;
            enqueue(c, r);
            return;
        }
    }
    if (complete && (status == 429 || (status >= 500 && ra >= 0)) && r->retries < MAX_RETRY_AFTER) {
        int wait_s = ra >= 0 ? ra : 1;
        r->retries++;
        r->not_before_ms = kube_now_ms() + (int64_t)wait_s * 1000;
        if (status == 429)
            c->hold_until_ms = r->not_before_ms;
        tr_log_debug("kubernetes: %s %s: %ld, again in %d s", method_name(r->method), r->path, status, wait_s);
        enqueue(c, r);
        return;
    }
    struct tr_kc_result res = {.status = complete || (r->stream && status == 200) ? status : 0,
                               .body = r->resp.data ? r->resp.data : "",
                               .len = r->resp.len,
                               .retry_after_s = ra};
    if (!complete)
        res.error = r->stopped_by_data ? "cancelled" : r->errbuf[0] ? r->errbuf : curl_easy_strerror(code);
    r->dead = true;
    r->next = c->dead;
    c->dead = r;
    r->on_done(r->ud, &res);
}

void tr_kc_poll(struct tr_kc *c, int timeout_ms)
{
    int wait = start_waiting(c);
    if (wait >= 0 && wait < timeout_ms)
        timeout_ms = wait;
    curl_multi_poll(c->m, NULL, 0, timeout_ms, NULL);
    int running;
    curl_multi_perform(c->m, &running);
    /* Collected first: an on_done may cancel other requests (their handles leave the multi). */
    struct tr_kc_req *done[64];
    CURLcode codes[64];
    for (;;) {
        size_t n = 0;
        CURLMsg *msg;
        int left;
        while (n < 64 && (msg = curl_multi_info_read(c->m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct tr_kc_req *r;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            done[n] = r;
            codes[n++] = msg->data.result;
        }
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++)
            if (!done[i]->dead)
                finish(c, done[i], codes[i]);
    }
    start_waiting(c);
    free_dead(c);
}

void tr_kc_wakeup(struct tr_kc *c)
{
    curl_multi_wakeup(c->m);
}

uint64_t tr_kc_sent(const struct tr_kc *c)
{
    return c->sent;
}
