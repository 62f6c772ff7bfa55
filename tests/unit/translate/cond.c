#include "test.h"

#include "base/arena.h"
#include "base/node.h"
#include "translate/internal.h"

/* Listener.hostname and route hostnames (gateway.networking.k8s.io Listener and HTTPRoute docs):
 * the intersection is the narrower of the two, or nothing. */
static void expect(const char *listener, const char *route, const char *want, int line)
{
    const char *got = tx_host_intersect(listener, route);
    if (!(got == want || (got && want && strcmp(got, want) == 0)))
        tr_test_fail(__FILE__, line, "intersect(%s, %s) = %s, want %s", listener ? listener : "NULL",
                     route ? route : "NULL", got ? got : "NULL", want ? want : "NULL");
}
#define EXPECT(l, r, want) expect(l, r, want, __LINE__)

TEST(host_intersect_exact)
{
    EXPECT("foo.example.com", "foo.example.com", "foo.example.com");
    EXPECT("foo.example.com", "bar.example.com", NULL);
    EXPECT("example.com", "foo.example.com", NULL);
    EXPECT("foo.example.com", "example.com", NULL);
}

TEST(host_intersect_unset_matches_everything)
{
    EXPECT(NULL, "foo.example.com", "foo.example.com");
    EXPECT("", "*.example.com", "*.example.com");
    EXPECT("foo.example.com", NULL, "foo.example.com");
    EXPECT("*.example.com", "", "*.example.com");
    EXPECT(NULL, NULL, NULL);
}

TEST(host_intersect_wildcard_listener)
{
    /* "*.example.com" matches test.example.com and foo.test.example.com, not example.com. */
    EXPECT("*.example.com", "test.example.com", "test.example.com");
    EXPECT("*.example.com", "foo.test.example.com", "foo.test.example.com");
    EXPECT("*.example.com", "example.com", NULL);
    EXPECT("*.example.com", "test.example.net", NULL);
    EXPECT("*.example.com", "badexample.com", NULL); /* a label boundary, not a suffix */
}

TEST(host_intersect_wildcard_route)
{
    EXPECT("test.example.com", "*.example.com", "test.example.com");
    EXPECT("foo.test.example.com", "*.example.com", "foo.test.example.com");
    EXPECT("example.com", "*.example.com", NULL);
    EXPECT("www.other.com", "*.example.com", NULL);
}

TEST(host_intersect_both_wildcards)
{
    EXPECT("*.example.com", "*.example.com", "*.example.com");
    EXPECT("*.example.com", "*.foo.example.com", "*.foo.example.com"); /* the narrower one */
    EXPECT("*.foo.example.com", "*.example.com", "*.foo.example.com");
    EXPECT("*.example.com", "*.example.net", NULL);
    EXPECT("*.foo.com", "*.barfoo.com", NULL);
    EXPECT("*.com", "*.example.com", "*.example.com");
}

TEST(host_intersect_is_symmetric)
{
    static const char *const hosts[] = {"a.b.c", "x.b.c", "b.c", "*.b.c", "*.c", "*.a.b.c", "*.x.c", "c", "*.d"};
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
        for (size_t j = 0; j < sizeof(hosts) / sizeof(hosts[0]); j++) {
            const char *x = tx_host_intersect(hosts[i], hosts[j]), *y = tx_host_intersect(hosts[j], hosts[i]);
            if (!(x == y || (x && y && strcmp(x, y) == 0)))
                tr_test_fail(__FILE__, __LINE__, "%s ∩ %s = %s but %s ∩ %s = %s", hosts[i], hosts[j],
                             x ? x : "NULL", hosts[j], hosts[i], y ? y : "NULL");
        }
}

TEST(conds_set_replace_render)
{
    struct conds cs = {0};
    cset(&cs, "Accepted", true, TR_R_ACCEPTED, "ok");
    cset(&cs, "ResolvedRefs", false, TR_R_BACKEND_NOT_FOUND, "no svc");
    cset(&cs, "Accepted", false, TR_R_NOT_ALLOWED_BY_LISTENERS, "nope"); /* replaces in place */
    ASSERT_EQ(cs.n, 2);
    const struct cond *c = cget(&cs, "Accepted");
    ASSERT_NOT_NULL(c);
    ASSERT_EQ(c->status, false);
    ASSERT_STREQ(tr_reason_str(c->reason), "NotAllowedByListeners");
    ASSERT_NULL(cget(&cs, "Programmed"));
    static char types[20][8];
    for (int i = 0; i < 20; i++) { /* more types than fit are dropped, not overflowed */
        snprintf(types[i], sizeof(types[i]), "T%d", i);
        cset(&cs, types[i], true, TR_R_ACCEPTED, NULL);
    }
    ASSERT_EQ(cs.n, MAX_CONDS);

    struct tr_arena *a = tr_arena_new(4096);
    struct conds two = {0};
    char longmsg[3000];
    memset(longmsg, 'm', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    cset(&two, "Accepted", true, TR_R_ACCEPTED, longmsg);
    cset(&two, "Programmed", false, TR_R_INVALID, NULL);
    struct tr_node *seq = conds_render(a, &two, 4);
    ASSERT_EQ(tr_node_len(seq), 2);
    struct tr_node *c0 = tr_node_at(seq, 0), *c1 = tr_node_at(seq, 1);
    ASSERT_STREQ(tr_node_gets(c0, "type"), "Accepted");
    ASSERT_STREQ(tr_node_gets(c0, "status"), "True");
    ASSERT_EQ(tr_node_get(c0, "message")->n, 1024); /* capped */
    ASSERT_EQ(tr_node_geti(c0, "observedGeneration", 0), 4);
    ASSERT_STREQ(tr_node_gets(c1, "status"), "False");
    ASSERT_STREQ(tr_node_gets(c1, "reason"), "Invalid");
    ASSERT_STREQ(tr_node_gets(c1, "message"), "");
    tr_arena_free(a);
}
