/* WebSocket (RFC 6455) after the /ws handshake: every data frame comes back with the same opcode
 * and FIN bit (so fragmented messages are echoed as they came), pings get pongs, a close is
 * answered with a close. Client frames must be masked; ours are not. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "echo.h"

#define MAX_PAYLOAD (16u << 20)

struct ws {
    bool closed; /* our close frame is out */
};

void ws_accept_key(const char *key, char out[32])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    struct buf b = {0};
    buf_adds(&b, key ? key : "");
    buf_adds(&b, guid);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)b.p, b.len, digest);
    buf_free(&b);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH); /* 28 chars + NUL */
}

static void send_frame(struct conn *c, unsigned char first, const unsigned char *payload, uint64_t n)
{
    unsigned char hdr[10];
    size_t hl = 2;
    hdr[0] = first;
    if (n < 126) {
        hdr[1] = (unsigned char)n;
    } else if (n < 65536) {
        hdr[1] = 126;
        hdr[2] = (unsigned char)(n >> 8);
        hdr[3] = (unsigned char)n;
        hl = 4;
    } else {
        hdr[1] = 127;
        for (int i = 0; i < 8; i++)
            hdr[2 + i] = (unsigned char)(n >> (56 - 8 * i));
        hl = 10;
    }
    struct buf b = {0};
    buf_add(&b, hdr, hl);
    buf_add(&b, payload, (size_t)n);
    conn_write(c, b.p, b.len);
    buf_free(&b);
}

static void fail(struct conn *c, struct ws *w, unsigned code)
{
    if (!w->closed) {
        unsigned char p[2] = {(unsigned char)(code >> 8), (unsigned char)code};
        w->closed = true;
        send_frame(c, 0x88, p, 2); /* a failed write frees w */
    }
    conn_close(c);
}

static void ws_on_data(struct conn *c)
{
    struct ws *w = c->proto;
    while (!c->dead && !c->closing && c->in.len >= 2) {
        const unsigned char *p = (const unsigned char *)c->in.p;
        unsigned fin = p[0] & 0x80, rsv = p[0] & 0x70, op = p[0] & 0x0F;
        bool masked = p[1] & 0x80;
        uint64_t n = p[1] & 0x7F;
        size_t hl = 2;
        if (n == 126) {
            if (c->in.len < 4)
                return;
            n = (uint64_t)p[2] << 8 | p[3];
            hl = 4;
        } else if (n == 127) {
            if (c->in.len < 10)
                return;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | p[2 + i];
            hl = 10;
        }
        if (rsv || !masked || (op >= 3 && op <= 7) || op > 10) {
            fail(c, w, 1002); /* protocol error: extensions were not negotiated; clients mask */
            return;
        }
        if (op >= 8 && (!fin || n > 125)) {
            fail(c, w, 1002);
            return;
        }
        if (n > MAX_PAYLOAD) {
            fail(c, w, 1009);
            return;
        }
        if (c->in.len < hl + 4 + n)
            return;
        unsigned char *mask = (unsigned char *)c->in.p + hl;
        unsigned char *data = mask + 4;
        for (uint64_t i = 0; i < n; i++)
            data[i] ^= mask[i & 3];
        switch (op) {
        case 0x8: /* close: answer with the same status, then close */
            if (!w->closed) {
                w->closed = true;
                send_frame(c, 0x88, data, n >= 2 ? 2 : 0);
            }
            conn_close(c);
            return;
        case 0x9:
            send_frame(c, 0x8A, data, n);
            break;
        case 0xA:
            break;
        default:
            send_frame(c, (unsigned char)(fin | op), data, n);
        }
        buf_consume(&c->in, hl + 4 + (size_t)n);
    }
}

static void ws_on_eof(struct conn *c)
{
    conn_close(c);
}

static void ws_free(struct conn *c)
{
    free(c->proto);
    conn_set_proto(c, NULL, NULL);
}

static const struct proto_ops ws_ops = {ws_on_data, ws_on_eof, NULL, ws_free};

void ws_start(struct conn *c)
{
    conn_set_proto(c, &ws_ops, xcalloc(1, sizeof(struct ws)));
    if (c->in.len)
        ws_on_data(c);
}
