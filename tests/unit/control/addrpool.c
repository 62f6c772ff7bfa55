#include "test.h"

#include "api/object.h"
#include "control/control.h"

/* The pool reads only a Gateway's namespace and name. */
static struct tr_obj gw(const char *ns, const char *name)
{
    struct tr_obj o = {.kind = TR_KIND_GATEWAY, .ns = ns, .name = name};
    return o;
}

TEST(addrpool_rejects_bad_cidrs)
{
    static const char *const bad[] = {"127.1.0.0", "127.1.0.0/", "127.1.0.0/x", "127.1.0.0/7", "127.1.0.0/31",
                                      "::1/64", "300.1.0.0/16", "127.1.0.0/16 ", "/16"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tr_addrpool *p = tr_addrpool_new(bad[i]);
        if (p) {
            tr_addrpool_free(p);
            tr_test_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
        }
    }
}

TEST(addrpool_sticky_and_sequential)
{
    struct tr_addrpool *p = tr_addrpool_new("127.1.0.0/16");
    ASSERT_NOT_NULL(p);
    struct tr_obj a = gw("default", "a"), b = gw("default", "b"), a2 = gw("other", "a");
    ASSERT_STREQ(tr_addrpool_get(p, &a, NULL, NULL), "127.1.0.1"); /* the network address is skipped */
    ASSERT_STREQ(tr_addrpool_get(p, &b, NULL, NULL), "127.1.0.2");
    ASSERT_STREQ(tr_addrpool_get(p, &a2, NULL, NULL), "127.1.0.3"); /* namespace is part of the key */
    /* Sticky: the same Gateway (even another object version) keeps its address. */
    struct tr_obj a_again = gw("default", "a");
    ASSERT_STREQ(tr_addrpool_get(p, &a_again, NULL, NULL), "127.1.0.1");
    ASSERT(tr_addrpool_get(p, &a_again, NULL, NULL) == tr_addrpool_get(p, &a, NULL, NULL));
    tr_addrpool_free(p);
}

TEST(addrpool_host_bits_ignored)
{
    struct tr_addrpool *p = tr_addrpool_new("127.9.9.9/24");
    ASSERT_NOT_NULL(p);
    struct tr_obj a = gw("default", "a");
    ASSERT_STREQ(tr_addrpool_get(p, &a, NULL, NULL), "127.9.9.1");
    tr_addrpool_free(p);
}

TEST(addrpool_exhaustion)
{
    /* A /30 has four addresses: network, two usable, broadcast. */
    struct tr_addrpool *p = tr_addrpool_new("127.2.0.0/30");
    ASSERT_NOT_NULL(p);
    struct tr_obj a = gw("ns", "a"), b = gw("ns", "b"), c = gw("ns", "c");
    ASSERT_STREQ(tr_addrpool_get(p, &a, NULL, NULL), "127.2.0.1");
    ASSERT_STREQ(tr_addrpool_get(p, &b, NULL, NULL), "127.2.0.2");
    ASSERT_NULL(tr_addrpool_get(p, &c, NULL, NULL)); /* never the broadcast address */
    ASSERT_NULL(tr_addrpool_get(p, &c, NULL, NULL));
    ASSERT_STREQ(tr_addrpool_get(p, &a, NULL, NULL), "127.2.0.1"); /* existing ones still answer */
    tr_addrpool_free(p);
}

/* A stand-in for translate's "named in some Gateway's spec.addresses": the addresses listed. */
static bool in_list(void *ctx, const char *addr)
{
    for (const char *const *s = ctx; *s; s++)
        if (strcmp(*s, addr) == 0)
            return true;
    return false;
}

TEST(addrpool_skips_and_leaves_taken_addresses)
{
    struct tr_addrpool *p = tr_addrpool_new("127.1.0.0/16");
    ASSERT_NOT_NULL(p);
    struct tr_obj a = gw("ns", "a"), b = gw("ns", "b");
    const char *none[] = {NULL}, *first[] = {"127.1.0.1", NULL}, *both[] = {"127.1.0.1", "127.1.0.3", NULL};
    /* Never hands out a taken address. */
    ASSERT_STREQ(tr_addrpool_get(p, &a, in_list, first), "127.1.0.2");
    /* A Gateway whose address becomes taken moves to a free one, and stays there. */
    ASSERT_STREQ(tr_addrpool_get(p, &b, in_list, none), "127.1.0.3");
    ASSERT_STREQ(tr_addrpool_get(p, &b, in_list, both), "127.1.0.4");
    ASSERT_STREQ(tr_addrpool_get(p, &b, in_list, none), "127.1.0.4");
    ASSERT_STREQ(tr_addrpool_get(p, &a, in_list, both), "127.1.0.2");
    tr_addrpool_free(p);
}
