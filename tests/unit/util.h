/* Helpers shared by the unit tests that need torii objects. */
#ifndef TR_TEST_UTIL_H
#define TR_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>

struct tr_obj;
struct tr_node;
struct tr_arena;

/* Parses one YAML document into a value tree in a; fails the test on a parse error. */
struct tr_node *tr_test_yaml(struct tr_arena *a, const char *text);

/* Decodes one manifest (YAML) as a new object; fails the test when it is not valid. The caller
 * owns the reference. */
struct tr_obj *tr_test_obj(const char *yaml);
/* A ConfigMap ns/name (namespace "" means the default), with data {v: value}. */
struct tr_obj *tr_test_configmap(const char *ns, const char *name, const char *value);

struct tr_store;
/* Loads the manifests of yaml into store (replacing objects of the same name), created at
 * created (seconds); fails the test on any rejected document. */
void tr_test_apply(struct tr_store *store, const char *yaml, int64_t created);
/* An address allocator for translate: every Gateway on 127.1.0.1 (taken is not asked). */
const char *tr_test_addr(void *ud, const struct tr_obj *gw, bool (*taken)(void *ctx, const char *addr), void *ctx);

#endif
