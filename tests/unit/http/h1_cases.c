/* The request table tests/http1/cases.txt (its header says the format) played against the
 * parser, the framing rules and the chunked decoder, one connection per case, the way the
 * server will: parse a head, frame it, skip its body, and go on while the connection stays
 * open. Each head is also fed in two pieces at many split points: the answer must not change. */
#include "test.h"

#include "base/err.h"
#include "http/chunked.h"
#include "http/h1_parse.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The table is found from the source tree: TR_SOURCE_ROOT, this file's path, the working
 * directory, or above the binary (build directories sit in the source root). */
static FILE *open_table(void)
{
    static const char rel[] = "tests/http1/cases.txt";
    char path[4096];
    const char *env = getenv("TR_SOURCE_ROOT");
    if (env) {
        snprintf(path, sizeof(path), "%s/%s", env, rel);
        FILE *f = fopen(path, "r");
        if (f)
            return f;
    }
    const char *self = __FILE__, *cut = strstr(self, "tests/unit/http/");
    if (cut) {
        snprintf(path, sizeof(path), "%.*s%s", (int)(cut - self), self, rel);
        FILE *f = fopen(path, "r");
        if (f)
            return f;
    }
    FILE *f = fopen(rel, "r");
    if (f)
        return f;
    char exe[2048];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (int up = 0; up < 5; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash)
                break;
            *slash = '\0';
            snprintf(path, sizeof(path), "%s/%s", exe, rel);
            if ((f = fopen(path, "r")))
                return f;
        }
    }
    return NULL;
}

static int hexdig(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Appends the unescaped bytes of s[0..n) to out (cap bytes); returns the new length. */
static size_t unescape(const char *s, size_t n, char *out, size_t len, size_t cap, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\' || i + 1 == n) {
            if (len == cap)
                tr_test_fail(__FILE__, __LINE__, "%s: too long", name);
            out[len++] = c;
            continue;
        }
        c = s[++i];
        if (c == '{') {
            char *colon;
            long times = strtol(s + i + 1, &colon, 10);
            const char *close = memchr(s + i, '}', n - i);
            if (*colon != ':' || !close || times < 0)
                tr_test_fail(__FILE__, __LINE__, "%s: bad \\{N:TEXT}", name);
            for (long t = 0; t < times; t++)
                len = unescape(colon + 1, (size_t)(close - colon - 1), out, len, cap, name);
            i = (size_t)(close - s);
            continue;
        }
        if (c == 'x' && i + 2 < n && hexdig(s[i + 1]) >= 0 && hexdig(s[i + 2]) >= 0) {
            c = (char)(hexdig(s[i + 1]) * 16 + hexdig(s[i + 2]));
            i += 2;
        } else {
            c = c == 'r' ? '\r' : c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
        if (len == cap)
            tr_test_fail(__FILE__, __LINE__, "%s: too long", name);
        out[len++] = c;
    }
    return len;
}

static struct tr_h1_req req, req2;

/* One head, whole or after a first piece of split bytes: the result as text ("OK" or status). */
static int parse_head(const char *buf, size_t len, size_t split, struct tr_h1_req *r)
{
    tr_h1_req_init(r);
    if (split < len) {
        int rc = tr_h1_parse_request(buf, split, r, NULL);
        if (rc != TR_EAGAIN)
            return rc;
    }
    return tr_h1_parse_request(buf, len, r, NULL);
}

/* Plays one connection; writes the outcome of each message to out, comma-separated. */
static void play(const char *name, const char *raw, size_t len, char *out, size_t cap)
{
    size_t off = 0;
    out[0] = '\0';
    for (;;) {
        const char *buf = raw + off;
        size_t left = len - off;
        int n = parse_head(buf, left, left, &req);
        /* The same answer when the bytes come in two pieces. */
        size_t step = left <= 1024 ? 1 : left / 97;
        for (size_t split = 0; split < left; split += step) {
            int m = parse_head(buf, left, split, &req2);
            if (m != n || (n < 0 && n != TR_EAGAIN && req2.error_status != req.error_status))
                tr_test_fail(__FILE__, __LINE__, "%s: split at %zu gives %d (%d), whole %d (%d)", name,
                             split, m, req2.error_status, n, req.error_status);
            if (n > 0 && (req2.nheaders != req.nheaders || req2.target_len != req.target_len))
                tr_test_fail(__FILE__, __LINE__, "%s: split at %zu parses differently", name, split);
        }
        /* And when they come one byte at a time, into the same struct. */
        if (left <= 1024) {
            tr_h1_req_init(&req2);
            int m = TR_EAGAIN;
            for (size_t i = 1; i <= left && m == TR_EAGAIN; i++)
                m = tr_h1_parse_request(buf, i, &req2, NULL);
            if (m != n || (n < 0 && n != TR_EAGAIN && req2.error_status != req.error_status))
                tr_test_fail(__FILE__, __LINE__, "%s: byte by byte gives %d (%d), whole %d (%d)", name, m,
                             req2.error_status, n, req.error_status);
        }
        const char *res = "OK";
        char status[8];
        bool more = false;
        if (n == TR_EAGAIN)
            res = "wait";
        else if (n == TR_H1_PRI)
            res = "PRI";
        else if (n < 0 || tr_h1_req_framing(&req) < 0)
            snprintf(status, sizeof(status), "%d", req.error_status), res = status;
        else {
            off += (size_t)n;
            if (req.body == TR_H1_BODY_LENGTH) {
                if (len - off < req.content_length)
                    res = "wait";
                else
                    off += req.content_length;
            } else if (req.body == TR_H1_BODY_CHUNKED) {
                struct tr_h1_chunked c;
                tr_h1_chunked_init(&c, NULL);
                size_t outlen;
                char *copy = malloc(len - off + 1);
                memcpy(copy, raw + off, len - off);
                ssize_t rc = tr_h1_chunked_decode_inplace(&c, copy, len - off, &outlen);
                free(copy);
                if (rc < 0)
                    res = "400";
                else if (!tr_h1_chunked_done(&c))
                    res = "wait";
                else
                    off += (size_t)rc;
            }
            more = strcmp(res, "OK") == 0 && req.keep_alive && off < len;
        }
        size_t used = strlen(out);
        snprintf(out + used, cap - used, "%s%s", used ? "," : "", res);
        if (!more)
            return;
    }
}

TEST(h1_cases_table)
{
    FILE *f = open_table();
    if (!f)
        tr_test_fail(__FILE__, __LINE__, "tests/http1/cases.txt not found (set TR_SOURCE_ROOT)");
    static char line[1 << 16], raw[1 << 18];
    char got[256];
    int ncases = 0, failed = 0;
    while (fgets(line, sizeof(line), f)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n')
            line[--n] = '\0';
        if (!n || line[0] == '#')
            continue;
        char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp2)
            tr_test_fail(__FILE__, __LINE__, "bad line: %s", line);
        *sp1 = *sp2 = '\0';
        const char *name = line, *expect = sp1 + 1, *rawtext = sp2 + 1;
        size_t rawlen = unescape(rawtext, strlen(rawtext), raw, 0, sizeof(raw), name);
        play(name, raw, rawlen, got, sizeof(got));
        ncases++;
        if (strcmp(got, expect) != 0) {
            printf("  %s: expected %s, got %s (%s)\n", name, expect, got, req.error_reason ? req.error_reason : "");
            failed++;
        }
    }
    fclose(f);
    ASSERT(ncases > 100);
    ASSERT_EQ(failed, 0);
}
