/* src/http/fields.c: the hop-by-hop list, the HTTP/1.0 Expect rule, and the field lines torii
 * writes itself read back as fields. */
#include "test.h"

#include "base/buf.h"
#include "http/fields.h"
#include "http/h1_parse.h"

#include <string.h>

static bool field_is(const struct tr_h1_header *f, const char *name, const char *value)
{
    return f->name_len == strlen(name) && memcmp(f->name, name, f->name_len) == 0 &&
           f->value_len == strlen(value) && memcmp(f->value, value, f->value_len) == 0;
}

TEST(fields_next_line_field)
{
    const char text[] = "X-A: one\r\nno colon here\r\nX-B:\t two \t\r\nX-Empty:\r\nX-Last: end";
    const char *p = text, *end = text + strlen(text);
    struct tr_h1_header f;
    ASSERT(tr_http_next_line_field(&p, end, &f));
    ASSERT(field_is(&f, "X-A", "one"));
    ASSERT(tr_http_next_line_field(&p, end, &f)); /* the line without a colon is skipped */
    ASSERT(field_is(&f, "X-B", "two"));
    ASSERT(tr_http_next_line_field(&p, end, &f));
    ASSERT(field_is(&f, "X-Empty", ""));
    ASSERT(tr_http_next_line_field(&p, end, &f)); /* a last line without CRLF */
    ASSERT(field_is(&f, "X-Last", "end"));
    ASSERT(!tr_http_next_line_field(&p, end, &f));
    p = NULL;
    ASSERT(!tr_http_next_line_field(&p, NULL, &f));
}

TEST(fields_hop_by_hop)
{
    struct tr_h1_header all[] = {
        {"Connection", 10, "close, X-Private", 16},
        {"X-Private", 9, "1", 1},
        {"Content-Type", 12, "text/plain", 10},
        {"Transfer-Encoding", 17, "chunked", 7},
    };
    ASSERT(tr_http_hop_by_hop(&all[0], all, 4));
    ASSERT(tr_http_hop_by_hop(&all[1], all, 4)); /* named by Connection */
    ASSERT(!tr_http_hop_by_hop(&all[2], all, 4));
    ASSERT(tr_http_hop_by_hop(&all[3], all, 4));
}

TEST(fields_expect_http10)
{
    struct tr_buf b;
    tr_buf_init(&b, 0);
    struct tr_h1_header only = {"Expect", 6, "100-continue", 12};
    tr_http_put_expect_http10(&b, &only);
    ASSERT_EQ(b.len, 0); /* nothing left: no field */
    struct tr_h1_header more = {"Expect", 6, "100-continue, x-other", 21};
    tr_http_put_expect_http10(&b, &more);
    ASSERT_STREQ(b.data, "Expect: x-other\r\n");
    tr_buf_dispose(&b);
}
