/* The ext_authz messages: CheckResponse read (fields, denial, what is malformed), CheckRequest
 * written (read back with the same wire rules). */
#include "base/buf.h"
#include "http/h1_parse.h"
#include "proxy/authz_pb.h"
#include "test.h"

#include <string.h>

TEST(authz_decode_ok_response)
{
    /* status{} ok_response{headers{header{key "x-u" value "al"}} headers{header{key "x-t" value "t"}
     * append{value true}} headers_to_remove "x-r"}, field by field */
    struct tr_buf b;
    tr_buf_init(&b, 0);
    const char hv1[] = {0x0a, 3, 'x', '-', 'u', 0x12, 2, 'a', 'l'};
    const char hv2[] = {0x0a, 3, 'x', '-', 't', 0x12, 1, 't'};
    char opt1[32], opt2[32], ok[96];
    size_t o1 = 0, o2 = 0, k = 0;
    opt1[o1++] = 0x0a, opt1[o1++] = sizeof(hv1);
    memcpy(opt1 + o1, hv1, sizeof(hv1)), o1 += sizeof(hv1);
    opt2[o2++] = 0x0a, opt2[o2++] = sizeof(hv2);
    memcpy(opt2 + o2, hv2, sizeof(hv2)), o2 += sizeof(hv2);
    opt2[o2++] = 0x12, opt2[o2++] = 2, opt2[o2++] = 0x08, opt2[o2++] = 1; /* append: BoolValue{true} */
    ok[k++] = 0x12, ok[k++] = (char)o1;
    memcpy(ok + k, opt1, o1), k += o1;
    ok[k++] = 0x12, ok[k++] = (char)o2;
    memcpy(ok + k, opt2, o2), k += o2;
    ok[k++] = 0x2a, ok[k++] = 3, ok[k++] = 'x', ok[k++] = '-', ok[k++] = 'r';
    tr_buf_append(&b, "\x0a\x00\x1a", 3);
    tr_buf_putc(&b, (char)k);
    tr_buf_append(&b, ok, k);
    struct tr_authz_resp r;
    ASSERT_EQ(tr_authz_decode(b.data, b.len, &r), 0);
    ASSERT_EQ(r.code, 0);
    ASSERT_EQ(r.nfields, 2);
    ASSERT(r.fields[0].name_len == 3 && memcmp(r.fields[0].name, "x-u", 3) == 0 && !r.fields[0].append);
    ASSERT(r.fields[0].value_len == 2 && memcmp(r.fields[0].value, "al", 2) == 0);
    ASSERT(r.fields[1].append);
    ASSERT_EQ(r.nremove, 1);
    ASSERT(r.remove[0].name_len == 3 && memcmp(r.remove[0].name, "x-r", 3) == 0);
    tr_buf_dispose(&b);
}

TEST(authz_decode_denied_response)
{
    /* status{code 7} denied_response{status{code 401} body "no"} */
    const char m[] = {0x0a, 2, 0x08, 7, 0x12, 9, 0x0a, 3, 0x08, (char)0x91, 0x03, 0x1a, 2, 'n', 'o'};
    struct tr_authz_resp r;
    ASSERT_EQ(tr_authz_decode(m, sizeof(m), &r), 0);
    ASSERT_EQ(r.code, 7);
    ASSERT_EQ(r.http_status, 401);
    ASSERT(r.body_len == 2 && memcmp(r.body, "no", 2) == 0);
}

TEST(authz_decode_refuses_malformed)
{
    struct tr_authz_resp r;
    ASSERT_EQ(tr_authz_decode("\x0a\x05\x08", 3, &r), -1);     /* length past the end */
    ASSERT_EQ(tr_authz_decode("\x08\x80", 2, &r), -1);         /* varint cut short */
    ASSERT_EQ(tr_authz_decode("\x0b", 1, &r), -1);             /* group (wire type 3) */
    ASSERT_EQ(tr_authz_decode("\x00\x01", 2, &r), -1);         /* field 0 */
    ASSERT_EQ(tr_authz_decode("\x09" "1234567", 8, &r), -1);   /* fixed64 cut short */
    ASSERT_EQ(tr_authz_decode("", 0, &r), 0);                  /* all defaults: OK, nothing to do */
    ASSERT_EQ(r.code, 0);
    /* 65 headers in ok_response: more than torii takes */
    struct tr_buf b, ok;
    tr_buf_init(&b, 0);
    tr_buf_init(&ok, 0);
    for (int i = 0; i < 65; i++)
        tr_buf_append(&ok, "\x12\x07\x0a\x05\x0a\x01h\x12\x00", 9);
    tr_buf_append(&b, "\x1a", 1);
    tr_buf_putc(&b, (char)(0x80 | (ok.len & 0x7f)));
    tr_buf_putc(&b, (char)(ok.len >> 7));
    tr_buf_append(&b, ok.data, ok.len);
    ASSERT_EQ(tr_authz_decode(b.data, b.len, &r), -1);
    tr_buf_dispose(&b);
    tr_buf_dispose(&ok);
}

TEST(authz_encode_frames_a_check_request)
{
    struct tr_h1_header h[2] = {{"Authorization", 13, "Bearer t", 8}, {"X-A", 3, "1", 1}};
    struct tr_authz_req q = {.src_addr = "127.0.0.9", .dst_addr = "127.1.0.1", .dst_port = 80, .method = "GET",
                             .method_len = 3, .path = "/p?x=1", .path_len = 6, .query = "x=1", .query_len = 3,
                             .host = "h", .host_len = 1, .scheme = "http", .protocol = "HTTP/1.1", .headers = h,
                             .nheaders = 2, .size = -1};
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_authz_encode(&b, &q);
    ASSERT(b.len > 5);
    ASSERT_EQ((unsigned char)b.data[0], 0);
    size_t len = (size_t)((unsigned char)b.data[1] << 24 | (unsigned char)b.data[2] << 16 |
                          (unsigned char)b.data[3] << 8 | (unsigned char)b.data[4]);
    ASSERT_EQ(len, b.len - 5);
    ASSERT_EQ((unsigned char)b.data[5], 0x0a); /* attributes: field 1, length-delimited */
    /* The lower-cased name and the value are in there, and -1 as a ten-byte varint. */
    ASSERT(memmem(b.data, b.len, "authorization", 13) != NULL);
    ASSERT(memmem(b.data, b.len, "\x48\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11) != NULL);
    tr_buf_dispose(&b);
}
