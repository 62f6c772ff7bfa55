#include "test.h"

#include "base/err.h"
#include "base/mem.h"

#include <stdlib.h>

TEST(err_names_and_strings)
{
    ASSERT_STREQ(tr_errname(TR_OK), "OK");
    ASSERT_STREQ(tr_errname(TR_ELIMIT), "LIMIT");
    ASSERT_STREQ(tr_errname(TR_ENOENT), "NOENT");
    ASSERT_STREQ(tr_strerror(TR_ELIMIT), "limit exceeded");
    ASSERT_STREQ(tr_errname(-999), "UNKNOWN");
    ASSERT_NOT_NULL(tr_strerror(-999));
}

TEST(xstrndup_copies_prefix)
{
    char *s = tr_xstrndup("abcdef", 3);
    ASSERT_STREQ(s, "abc");
    free(s);
    int *z = tr_xcalloc(4, sizeof(int));
    ASSERT_EQ(z[0] | z[1] | z[2] | z[3], 0);
    free(z);
}
