/* An HTTP client for the Kubernetes API server, on libcurl's multi interface: every request of
 * the provider thread (lists, watches, status writes, Leases) runs on it side by side, over one
 * HTTP/2 connection where the server offers it. It adds the server's address, verifies its
 * certificate, presents torii's credentials (kept fresh; a 401 re-reads them and retries once),
 * limits the request rate (token bucket: QPS and burst), and honours Retry-After. Single
 * thread: the provider's; only tr_kc_wakeup may be called from another. */
#ifndef TR_PROVIDER_KUBE_CLIENT_H
#define TR_PROVIDER_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tr_buf;
struct tr_kube_config;
struct tr_kc;
struct tr_kc_req;

enum tr_kc_method { TR_KC_GET, TR_KC_POST, TR_KC_PUT, TR_KC_PATCH, TR_KC_DELETE };

/* How a request ended. status is the HTTP status, or 0 when there was none (connection failed,
 * timed out, cancelled by the server's end of a stream...; error then says why). body is the
 * whole response body (not for streams). retry_after_s is the server's Retry-After, or -1. */
struct tr_kc_result {
    long status;
    const char *body;
    size_t len;
    int retry_after_s;
    const char *error;
};

struct tr_kc_call {
    enum tr_kc_method method;
    const char *path; /* "/apis/gateway.networking.k8s.io/v1/httproutes?limit=500": path and query */
    const char *content_type; /* for a body: "application/merge-patch+json" */
    const char *body;
    size_t len;
    /* A watch: the body is handed to on_data as it arrives instead of being kept. */
    bool stream;
    /* The longest the request may take, in seconds (0: 120 s). */
    int timeout_s;
    /* Called as a stream's bytes arrive; return false to end the request (on_done follows with
     * status 0, error "cancelled"). */
    bool (*on_data)(void *ud, const char *p, size_t len);
    /* Called once when the request ends, unless it was cancelled with tr_kc_cancel. The request
     * is freed after it returns. */
    void (*on_done)(void *ud, const struct tr_kc_result *r);
    void *ud;
};

struct tr_kc_opts {
    double qps;    /* requests per second, sustained (0: 50) */
    unsigned burst; /* requests at once after a quiet time (0: 100) */
    const char *user_agent;
};

/* Creates a client for c (which must outlive it). Returns NULL with a message in err when the
 * configuration cannot work (an unreadable CA, a credential that cannot be had). */
struct tr_kc *tr_kc_new(const struct tr_kube_config *c, const struct tr_kc_opts *o, struct tr_buf *err);
void tr_kc_free(struct tr_kc *c);

/* Queues a request; it starts when the rate limit allows. call's strings are copied. Returns a
 * handle valid until on_done returns or tr_kc_cancel. */
struct tr_kc_req *tr_kc_start(struct tr_kc *c, const struct tr_kc_call *call);
/* Ends a request now, without calling on_done. */
void tr_kc_cancel(struct tr_kc *c, struct tr_kc_req *r);

/* Runs transfers for up to timeout_ms (less when one ends or tr_kc_wakeup is called), calling
 * the callbacks of what progressed. */
void tr_kc_poll(struct tr_kc *c, int timeout_ms);
/* Makes a tr_kc_poll in progress return. Any thread. */
void tr_kc_wakeup(struct tr_kc *c);

/* Requests sent so far, by method (tests and metrics). */
uint64_t tr_kc_sent(const struct tr_kc *c);

#endif
