/* The unit test framework: TEST(name) { ... } registers itself (a constructor), ASSERT_* stop
 * the test with file:line and the values, and main.c runs them (all, --list, --single NAME).
 * Tests mirror src/: tests/unit/base/arena.c tests src/base/arena.c through its header. */
#ifndef TR_TEST_H
#define TR_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct tr_test {
    const char *name;
    void (*fn)(void);
    const char *file;
    int line;
    struct tr_test *next; /* private */
};

void tr_test_register(struct tr_test *t);
/* Reports a failed check and leaves the test (longjmp back to the runner). */
_Noreturn void tr_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A directory made for the running test, removed with its contents when the test ends. */
const char *tr_test_tmpdir(void);
/* Writes text to dir/name (creating or truncating it); fails the test on error. */
void tr_test_write(const char *dir, const char *name, const char *text);

#define TEST(tname)                                                                                \
    static void test_##tname(void);                                                                \
    static struct tr_test test_reg_##tname = {#tname, test_##tname, __FILE__, __LINE__, NULL};     \
    __attribute__((constructor)) static void test_ctor_##tname(void)                               \
    {                                                                                              \
        tr_test_register(&test_reg_##tname);                                                       \
    }                                                                                              \
    static void test_##tname(void)

#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            tr_test_fail(__FILE__, __LINE__, "ASSERT(%s)", #cond);                                 \
    } while (0)

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (va_ != vb_)                                                                            \
            tr_test_fail(__FILE__, __LINE__, "ASSERT_EQ(%s, %s): %lld != %lld", #a, #b, va_, vb_); \
    } while (0)

#define ASSERT_NE(a, b)                                                                            \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (va_ == vb_)                                                                            \
            tr_test_fail(__FILE__, __LINE__, "ASSERT_NE(%s, %s): both %lld", #a, #b, va_);         \
    } while (0)

#define ASSERT_DBL_EQ(a, b)                                                                        \
    do {                                                                                           \
        double va_ = (a), vb_ = (b);                                                               \
        if (!(va_ == vb_))                                                                         \
            tr_test_fail(__FILE__, __LINE__, "ASSERT_DBL_EQ(%s, %s): %.17g != %.17g", #a, #b, va_, \
                         vb_);                                                                     \
    } while (0)

/* NULL equals only NULL. */
#define ASSERT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        if (!(sa_ == sb_ || (sa_ && sb_ && strcmp(sa_, sb_) == 0)))                                \
            tr_test_fail(__FILE__, __LINE__, "ASSERT_STREQ(%s, %s): \"%s\" != \"%s\"", #a, #b,     \
                         sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                              \
    } while (0)

/* haystack contains needle. */
#define ASSERT_STRSTR(haystack, needle)                                                            \
    do {                                                                                           \
        const char *sh_ = (haystack), *sn_ = (needle);                                             \
        if (!sh_ || !strstr(sh_, sn_))                                                             \
            tr_test_fail(__FILE__, __LINE__, "ASSERT_STRSTR(%s, %s): \"%s\" lacks \"%s\"", #haystack, \
                         #needle, sh_ ? sh_ : "(null)", sn_);                                      \
    } while (0)

#define ASSERT_NULL(p)                                                                             \
    do {                                                                                           \
        const void *p_ = (p);                                                                      \
        if (p_)                                                                                    \
            tr_test_fail(__FILE__, __LINE__, "ASSERT_NULL(%s): %p", #p, p_);                       \
    } while (0)

#define ASSERT_NOT_NULL(p)                                                                         \
    do {                                                                                           \
        if (!(p))                                                                                  \
            tr_test_fail(__FILE__, __LINE__, "ASSERT_NOT_NULL(%s)", #p);                           \
    } while (0)

#endif
