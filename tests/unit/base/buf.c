#include "test.h"

#include "base/buf.h"
#include "base/err.h"

#include <stdlib.h>

TEST(buf_append_and_nul_terminated)
{
    struct tr_buf b;
    tr_buf_init(&b, 0);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(tr_buf_append(&b, "abc", 3), TR_OK);
    ASSERT_EQ(tr_buf_putc(&b, '-'), TR_OK);
    ASSERT_EQ(tr_buf_puts(&b, "def"), TR_OK);
    ASSERT_EQ(tr_buf_printf(&b, "%d/%s", 12, "x"), TR_OK);
    ASSERT_EQ(b.len, 11);
    ASSERT_STREQ(b.data, "abc-def12/x");
    tr_buf_dispose(&b);
    ASSERT_NULL(b.data);
}

TEST(buf_grows_past_initial_cap)
{
    struct tr_buf b;
    tr_buf_init(&b, 0);
    for (int i = 0; i < 10000; i++)
        ASSERT_EQ(tr_buf_putc(&b, (char)('a' + i % 26)), TR_OK);
    ASSERT_EQ(b.len, 10000);
    ASSERT_EQ(b.data[9999], 'a' + 9999 % 26);
    ASSERT_EQ(b.data[10000], '\0');
    tr_buf_dispose(&b);
}

TEST(buf_cap_is_limit_and_nothing_appended)
{
    struct tr_buf b;
    tr_buf_init(&b, 8);
    ASSERT_EQ(tr_buf_puts(&b, "12345678"), TR_OK); /* exactly the cap fits */
    ASSERT_EQ(tr_buf_putc(&b, '9'), TR_ELIMIT);
    ASSERT_EQ(b.len, 8);
    ASSERT_STREQ(b.data, "12345678");
    tr_buf_reset(&b);
    ASSERT_EQ(b.len, 0);
    ASSERT_STREQ(b.data, "");
    ASSERT_EQ(tr_buf_printf(&b, "%s", "123456789"), TR_ELIMIT);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(tr_buf_printf(&b, "%d", 1234), TR_OK);
    ASSERT_STREQ(b.data, "1234");
    tr_buf_dispose(&b);
}

TEST(buf_steal_hands_over_and_empties)
{
    struct tr_buf b;
    tr_buf_init(&b, 0);
    char *empty = tr_buf_steal(&b); /* never NULL */
    ASSERT_STREQ(empty, "");
    free(empty);
    tr_buf_puts(&b, "mine");
    char *s = tr_buf_steal(&b);
    ASSERT_STREQ(s, "mine");
    ASSERT_NULL(b.data);
    ASSERT_EQ(b.len, 0);
    tr_buf_puts(&b, "again"); /* still usable */
    ASSERT_STREQ(b.data, "again");
    free(s);
    tr_buf_dispose(&b);
}

TEST(buf_append_embedded_nul)
{
    struct tr_buf b;
    tr_buf_init(&b, 0);
    ASSERT_EQ(tr_buf_append(&b, "a\0b", 3), TR_OK);
    ASSERT_EQ(b.len, 3);
    ASSERT_EQ(memcmp(b.data, "a\0b", 4), 0);
    tr_buf_dispose(&b);
}

TEST(buf_put_chunk_size)
{
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_buf_put_chunk_size(&b, 0);
    tr_buf_put_chunk_size(&b, 10);
    tr_buf_put_chunk_size(&b, 0x1000);
    tr_buf_put_chunk_size(&b, UINT64_MAX);
    ASSERT_STREQ(b.data, "0\r\na\r\n1000\r\nffffffffffffffff\r\n");
    b.len = 0;
    tr_buf_put_chunk(&b, "hello world, in one chunk", 25);
    ASSERT_STREQ(b.data, "19\r\nhello world, in one chunk\r\n");
    tr_buf_dispose(&b);
}
