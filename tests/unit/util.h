/* Helpers shared by the unit tests that need torii objects. */
#ifndef TR_TEST_UTIL_H
#define TR_TEST_UTIL_H

struct tr_obj;

/* Decodes one manifest (YAML) as a new object; fails the test when it is not valid. The caller
 * owns the reference. */
struct tr_obj *tr_test_obj(const char *yaml);
/* A ConfigMap ns/name (namespace "" means the default), with data {v: value}. */
struct tr_obj *tr_test_configmap(const char *ns, const char *name, const char *value);

#endif
