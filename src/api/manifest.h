/* Manifest files to objects: YAML/JSON parse, decode and validate every document, with
 * messages that name the file, line, object and field. */
#ifndef TR_API_MANIFEST_H
#define TR_API_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

struct tr_obj;

struct tr_manifest_ops {
    /* The current version of kind/ns/name, or NULL (gives generation, uid, transition rules). */
    const struct tr_obj *(*prev)(void *ud, int kind, const char *ns, const char *name);
    /* A valid object; the callee owns the reference. */
    void (*on_object)(void *ud, struct tr_obj *o);
    /* One line per problem: "FILE:LINE: KIND NS/NAME: PATH: MESSAGE" (or "FILE:LINE: MESSAGE"
     * for a syntax error). kind is -1 when the document is not a known object; ns/name may be
     * NULL. The document's object is not delivered. */
    void (*on_error)(void *ud, const char *line, int kind, const char *ns, const char *name);
};

/* Loads every document of text (named display in messages): JSON values when display ends in
 * ".json", else YAML documents; the items of a List (kind List or FooList) one by one. now is the time for new objects;
 * *seq numbers new objects in order. Returns the number of problems reported, or -1 when the
 * text is not valid YAML or JSON at all (reported through on_error; no document after the bad point is
 * delivered, and callers should keep what the file held before). */
int tr_manifest_load(const char *text, size_t len, const char *display, int64_t now, uint64_t *seq,
                     const struct tr_manifest_ops *ops, void *ud);

/* Reads a whole file into a heap buffer (free it). Returns NULL with errno set on failure. Files
 * over max bytes fail with EFBIG. */
char *tr_read_file(const char *path, size_t max, size_t *len);
/* The same from an open descriptor, to its end: for callers that check the file first. */
char *tr_read_fd(int fd, size_t max, size_t *len);

#endif
