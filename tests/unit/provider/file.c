#include "test.h"

#include "api/object.h"
#include "base/node.h"
#include "provider/file.h"
#include "store/store.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SVC(name, port)                                                                            \
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: " name "\nspec:\n  ports:\n  - port: " #port "\n"

struct env {
    const char *dir;
    struct tr_store *store;
    struct tr_fileprov *p;
};

static void env_init(struct env *e)
{
    e->dir = tr_test_tmpdir();
    e->store = tr_store_new();
    e->p = tr_fileprov_new(e->dir, e->store, false);
    ASSERT_NOT_NULL(e->p);
}

static void env_done(struct env *e)
{
    tr_fileprov_free(e->p);
    tr_store_free(e->store);
}

static int load(struct env *e, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", e->dir, name);
    return tr_fileprov_load(e->p, path);
}

static const struct tr_obj *svc(struct env *e, const char *name)
{
    return tr_store_get(e->store, TR_KIND_SERVICE, "default", name);
}

static long long port_of(const struct tr_obj *o)
{
    return o ? tr_node_geti(tr_node_at(tr_node_get(o->spec, "ports"), 0), "port", -1) : -1;
}

static void count_reject(void *ud, const struct tr_reject *r)
{
    int *n = ud;
    (*n)++;
}

static int nrejects(struct env *e)
{
    int n = 0;
    tr_store_each_reject(e->store, count_reject, &n);
    return n;
}

static void first_reject(void *ud, const struct tr_reject *r)
{
    const struct tr_reject **out = ud;
    if (!*out)
        *out = r;
}

TEST(fileprov_new_needs_a_directory)
{
    struct tr_store *s = tr_store_new();
    ASSERT_NULL(tr_fileprov_new("/nonexistent/torii", s, false));
    const char *dir = tr_test_tmpdir();
    tr_test_write(dir, "f.yaml", "");
    char path[512];
    snprintf(path, sizeof(path), "%s/f.yaml", dir);
    ASSERT_NULL(tr_fileprov_new(path, s, false));
    tr_store_free(s);
}

TEST(fileprov_scan_adds_manifests_recursively)
{
    struct env e;
    env_init(&e);
    tr_test_write(e.dir, "a.yaml", SVC("a", 80) "---\n" SVC("b", 81));
    tr_test_write(e.dir, "notes.txt", SVC("ignored", 82));
    tr_test_write(e.dir, ".hidden.yaml", SVC("hidden", 83));
    char sub[512];
    snprintf(sub, sizeof(sub), "%s/sub", e.dir);
    ASSERT_EQ(mkdir(sub, 0755), 0);
    tr_test_write(sub, "c.json",
                  "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"c\"},"
                  " \"spec\": {\"ports\": [{\"port\": 84}]}}");
    ASSERT_EQ(tr_fileprov_scan(e.p), 0);
    ASSERT_EQ(port_of(svc(&e, "a")), 80);
    ASSERT_EQ(port_of(svc(&e, "b")), 81);
    ASSERT_EQ(port_of(svc(&e, "c")), 84);
    ASSERT_NULL(svc(&e, "ignored"));
    ASSERT_NULL(svc(&e, "hidden"));
    ASSERT_STREQ(svc(&e, "c")->file, "sub/c.json"); /* relative to the directory */
    /* Sorted file order gives a stable creation order. */
    ASSERT(svc(&e, "a")->seq < svc(&e, "b")->seq);
    ASSERT(svc(&e, "b")->seq < svc(&e, "c")->seq);
    env_done(&e);
}

TEST(fileprov_modify_bumps_generation_only_on_spec_change)
{
    struct env e;
    env_init(&e);
    tr_test_write(e.dir, "a.yaml", SVC("a", 80));
    ASSERT_EQ(load(&e, "a.yaml"), 0);
    const struct tr_obj *v1 = svc(&e, "a");
    ASSERT_EQ(v1->generation, 1);
    uint64_t version = v1->version;
    char uid[TR_UID_LEN + 1], uid2[TR_UID_LEN + 1];
    tr_obj_uid(v1, uid);
    /* Re-reading identical content changes nothing, not even resourceVersion. */
    ASSERT_EQ(load(&e, "a.yaml"), 0);
    ASSERT_EQ(svc(&e, "a")->version, version);
    tr_test_write(e.dir, "a.yaml", SVC("a", 8080));
    ASSERT_EQ(load(&e, "a.yaml"), 0);
    const struct tr_obj *v2 = svc(&e, "a");
    ASSERT_EQ(port_of(v2), 8080);
    ASSERT_EQ(v2->generation, 2);
    ASSERT_STREQ(tr_obj_uid(v2, uid2), uid);
    ASSERT(v2->version > version);
    env_done(&e);
}

TEST(fileprov_objects_leave_with_their_document_and_file)
{
    struct env e;
    env_init(&e);
    tr_test_write(e.dir, "a.yaml", SVC("a", 80) "---\n" SVC("b", 81));
    tr_test_write(e.dir, "other.yaml", SVC("z", 90));
    ASSERT_EQ(tr_fileprov_scan(e.p), 0);
    tr_test_write(e.dir, "a.yaml", SVC("b", 81));
    ASSERT_EQ(load(&e, "a.yaml"), 0);
    ASSERT_NULL(svc(&e, "a")); /* removed from the file: deleted */
    ASSERT_NOT_NULL(svc(&e, "b"));
    char path[512];
    snprintf(path, sizeof(path), "%s/a.yaml", e.dir);
    ASSERT_EQ(unlink(path), 0);
    ASSERT_EQ(load(&e, "a.yaml"), 0); /* a file that is gone is forgotten */
    ASSERT_NULL(svc(&e, "b"));
    ASSERT_NOT_NULL(svc(&e, "z"));
    /* A scan notices files that went away while nobody looked. */
    snprintf(path, sizeof(path), "%s/other.yaml", e.dir);
    ASSERT_EQ(unlink(path), 0);
    ASSERT_EQ(tr_fileprov_scan(e.p), 0);
    ASSERT_NULL(svc(&e, "z"));
    env_done(&e);
}

TEST(fileprov_syntax_error_keeps_previous_objects)
{
    struct env e;
    env_init(&e);
    tr_test_write(e.dir, "a.yaml", SVC("a", 80) "---\n" SVC("b", 81));
    ASSERT_EQ(load(&e, "a.yaml"), 0);
    uint64_t version = tr_store_version(e.store);
    /* The first document changes and a new one appears before the bad one: none of it counts
     * while the file does not parse. */
    tr_test_write(e.dir, "a.yaml", SVC("a", 8080) "---\n" SVC("new", 82) "---\nkind: [\n");
    ASSERT_EQ(load(&e, "a.yaml"), 1);
    ASSERT_EQ(port_of(svc(&e, "a")), 80);
    ASSERT_EQ(port_of(svc(&e, "b")), 81);
    ASSERT_NULL(svc(&e, "new"));
    ASSERT_EQ(tr_store_version(e.store), version);
    ASSERT_EQ(nrejects(&e), 1);
    const struct tr_reject *r = NULL;
    tr_store_each_reject(e.store, first_reject, &r);
    ASSERT_EQ(r->kind, -1);
    ASSERT_STREQ(r->file, "a.yaml");
    ASSERT_STRSTR(r->msgs[0], "a.yaml:");
    /* Fixed: the file's content applies and the reject goes away. */
    tr_test_write(e.dir, "a.yaml", SVC("a", 8080));
    ASSERT_EQ(load(&e, "a.yaml"), 0);
    ASSERT_EQ(port_of(svc(&e, "a")), 8080);
    ASSERT_NULL(svc(&e, "b"));
    ASSERT_EQ(nrejects(&e), 0);
    env_done(&e);
}

TEST(fileprov_syntax_error_leaves_no_orphans)
{
    /* Objects seen before a syntax error must not outlive the file. */
    struct env e;
    env_init(&e);
    tr_test_write(e.dir, "a.yaml", SVC("new", 82) "---\nkind: [\n");
    ASSERT_EQ(load(&e, "a.yaml"), 1);
    char path[512];
    snprintf(path, sizeof(path), "%s/a.yaml", e.dir);
    ASSERT_EQ(unlink(path), 0);
    ASSERT_EQ(load(&e, "a.yaml"), 0);
    ASSERT_NULL(svc(&e, "new"));
    ASSERT_EQ(nrejects(&e), 0);
    env_done(&e);
}

TEST(fileprov_invalid_object_keeps_last_valid_version)
{
    struct env e;
    env_init(&e);
    tr_test_write(e.dir, "a.yaml", SVC("a", 80) "---\n" SVC("b", 81));
    ASSERT_EQ(load(&e, "a.yaml"), 0);
    /* a becomes invalid, b changes: b updates, a keeps port 80, the reject is recorded. */
    tr_test_write(e.dir, "a.yaml", SVC("a", 0) "---\n" SVC("b", 91));
    ASSERT_EQ(load(&e, "a.yaml"), 1);
    ASSERT_EQ(port_of(svc(&e, "a")), 80);
    ASSERT_EQ(svc(&e, "a")->generation, 1);
    ASSERT_EQ(port_of(svc(&e, "b")), 91);
    ASSERT_EQ(nrejects(&e), 1);
    const struct tr_reject *r = NULL;
    tr_store_each_reject(e.store, first_reject, &r);
    ASSERT_EQ(r->kind, TR_KIND_SERVICE);
    ASSERT_STREQ(r->ns, "default");
    ASSERT_STREQ(r->name, "a");
    ASSERT_EQ(r->nmsgs, 1);
    ASSERT_STRSTR(r->msgs[0], "a.yaml:7: Service default/a: spec.ports[0].port: Invalid value: 0");
    /* A new object that was never valid is simply absent. */
    tr_test_write(e.dir, "a.yaml", SVC("a", 80) "---\n" SVC("b", 91) "---\n" SVC("c", 0));
    ASSERT_EQ(load(&e, "a.yaml"), 1);
    ASSERT_NULL(svc(&e, "c"));
    ASSERT_NOT_NULL(svc(&e, "a"));
    ASSERT_EQ(nrejects(&e), 1);
    env_done(&e);
}

/* Every message of every reject, joined by newlines (free it). */
static void join_msgs(void *ud, const struct tr_reject *r)
{
    char **out = ud;
    for (size_t i = 0; i < r->nmsgs; i++) {
        size_t n = *out ? strlen(*out) : 0;
        *out = realloc(*out, n + strlen(r->msgs[i]) + 2);
        snprintf(*out + n, strlen(r->msgs[i]) + 2, "%s\n", r->msgs[i]);
    }
}

TEST(fileprov_unreadable_files_are_rejected)
{
    /* Named like manifests, none of them can be read: each is reported, and none blocks (a
     * FIFO without a writer would hold open() for good). */
    struct env e;
    env_init(&e);
    char path[512], big[512];
    snprintf(path, sizeof(path), "%s/fifo.yaml", e.dir);
    ASSERT_EQ(mkfifo(path, 0644), 0);
    snprintf(path, sizeof(path), "%s/dangling.yaml", e.dir);
    ASSERT_EQ(symlink("/nonexistent/torii.yaml", path), 0);
    snprintf(path, sizeof(path), "%s/loop.yaml", e.dir);
    ASSERT_EQ(symlink("loop.yaml", path), 0);
    snprintf(big, sizeof(big), "%s/big.yaml", e.dir);
    int fd = open(big, O_WRONLY | O_CREAT, 0644);
    ASSERT(fd >= 0);
    ASSERT_EQ(ftruncate(fd, (off_t)65 << 20), 0); /* sparse: nothing is written, or read */
    close(fd);
    ASSERT_EQ(tr_fileprov_scan(e.p), 4);
    ASSERT_EQ(nrejects(&e), 4);
    char *msgs = NULL;
    tr_store_each_reject(e.store, join_msgs, &msgs);
    ASSERT_STRSTR(msgs, "fifo.yaml: cannot read: not a regular file");
    ASSERT_STRSTR(msgs, "dangling.yaml: cannot read: No such file or directory");
    ASSERT_STRSTR(msgs, "loop.yaml: cannot read: Too many levels of symbolic links");
    ASSERT_STRSTR(msgs, "big.yaml: cannot read: too large: 68157440 bytes");
    free(msgs);
    env_done(&e);
}

TEST(fileprov_directory_reached_again_is_walked_once)
{
    /* A link to ".": every file was loaded again as loop/a.yaml, loop/loop/a.yaml, ... 32
     * deep (and two such links made it 2^32 walks: tests/badinput/run). */
    struct env e;
    env_init(&e);
    tr_test_write(e.dir, "a.yaml", SVC("a", 80));
    char path[512];
    snprintf(path, sizeof(path), "%s/loop", e.dir);
    ASSERT_EQ(symlink(".", path), 0);
    ASSERT_EQ(tr_fileprov_scan(e.p), 0);
    ASSERT_STREQ(svc(&e, "a")->file, "a.yaml");
    env_done(&e);
}

TEST(fileprov_unreadable_file_keeps_its_objects)
{
    struct env e;
    env_init(&e);
    tr_test_write(e.dir, "a.yaml", SVC("a", 80));
    ASSERT_EQ(load(&e, "a.yaml"), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/a.yaml", e.dir);
    ASSERT_EQ(unlink(path), 0);
    ASSERT_EQ(mkfifo(path, 0644), 0);
    ASSERT_EQ(load(&e, "a.yaml"), 1);
    ASSERT_EQ(port_of(svc(&e, "a")), 80);
    ASSERT_EQ(nrejects(&e), 1);
    /* Gone for good: the objects and the rejection go. */
    ASSERT_EQ(unlink(path), 0);
    ASSERT_EQ(tr_fileprov_scan(e.p), 0);
    ASSERT_NULL(svc(&e, "a"));
    ASSERT_EQ(nrejects(&e), 0);
    env_done(&e);
}

TEST(fileprov_rescan_forgets_a_file_that_was_not_yaml)
{
    struct env e;
    env_init(&e);
    tr_test_write(e.dir, "junk.yaml", "kind: [\n");
    ASSERT_EQ(tr_fileprov_scan(e.p), 1);
    ASSERT_EQ(nrejects(&e), 1);
    char path[512];
    snprintf(path, sizeof(path), "%s/junk.yaml", e.dir);
    ASSERT_EQ(unlink(path), 0);
    ASSERT_EQ(tr_fileprov_scan(e.p), 0);
    ASSERT_EQ(nrejects(&e), 0);
    env_done(&e);
}

TEST(fileprov_problems_of_a_file_are_capped)
{
    /* 1500 bad documents: the first 1000 problems are kept, one more line counts the rest. */
    struct env e;
    env_init(&e);
    size_t cap = 1500 * 128, n = 0;
    char *text = malloc(cap);
    for (int i = 0; i < 1500; i++)
        n += (size_t)snprintf(text + n, cap - n, "---\n" SVC("b%d", 0), i);
    tr_test_write(e.dir, "many.yaml", text);
    free(text);
    ASSERT_EQ(load(&e, "many.yaml"), 1500);
    ASSERT_EQ(nrejects(&e), 1001);
    char *msgs = NULL;
    tr_store_each_reject(e.store, join_msgs, &msgs);
    ASSERT_STRSTR(msgs, "many.yaml: 500 more problems are not listed (the first 1000 are)");
    free(msgs);
    env_done(&e);
}

TEST(fileprov_object_moved_to_another_file_stays)
{
    /* An editor moves b from a.yaml to b.yaml: b.yaml is saved first, then a.yaml without it. */
    struct env e;
    env_init(&e);
    tr_test_write(e.dir, "a.yaml", SVC("a", 80) "---\n" SVC("b", 81));
    ASSERT_EQ(tr_fileprov_scan(e.p), 0);
    tr_test_write(e.dir, "b.yaml", SVC("b", 81));
    ASSERT_EQ(load(&e, "b.yaml"), 0);
    tr_test_write(e.dir, "a.yaml", SVC("a", 80));
    ASSERT_EQ(load(&e, "a.yaml"), 0);
    ASSERT_NOT_NULL(svc(&e, "b"));
    ASSERT_STREQ(svc(&e, "b")->file, "b.yaml");
    char path[512];
    snprintf(path, sizeof(path), "%s/b.yaml", e.dir);
    ASSERT_EQ(unlink(path), 0);
    ASSERT_EQ(load(&e, "b.yaml"), 0);
    ASSERT_NULL(svc(&e, "b"));
    env_done(&e);
}

TEST(fileprov_watch_sees_writes_and_deletes)
{
    const char *dir = tr_test_tmpdir();
    struct tr_store *s = tr_store_new();
    struct tr_fileprov *p = tr_fileprov_new(dir, s, true);
    ASSERT_NOT_NULL(p);
    ASSERT(tr_fileprov_fd(p) >= 0);
    ASSERT_EQ(tr_fileprov_scan(p), 0);
    ASSERT_EQ(tr_fileprov_handle(p), false); /* nothing happened yet */
    tr_test_write(dir, "a.yaml", SVC("a", 80));
    tr_test_write(dir, "skip.txt", "x");
    ASSERT_EQ(tr_fileprov_handle(p), true);
    ASSERT_NULL(tr_store_get(s, TR_KIND_SERVICE, "default", "a")); /* marked, not read yet */
    ASSERT_EQ(tr_fileprov_busy(p), false);
    ASSERT_EQ(tr_fileprov_flush(p, false), true);
    ASSERT_NOT_NULL(tr_store_get(s, TR_KIND_SERVICE, "default", "a"));
    char path[512];
    snprintf(path, sizeof(path), "%s/a.yaml", dir);
    ASSERT_EQ(unlink(path), 0);
    ASSERT_EQ(tr_fileprov_handle(p), true);
    ASSERT_EQ(tr_fileprov_flush(p, false), true);
    ASSERT_NULL(tr_store_get(s, TR_KIND_SERVICE, "default", "a"));
    tr_fileprov_free(p);
    tr_store_free(s);
}

TEST(fileprov_watch_waits_for_the_writer)
{
    /* A file still open for writing is not read (it may be truncated and half written), unless
     * forced; once closed it is. */
    const char *dir = tr_test_tmpdir();
    struct tr_store *s = tr_store_new();
    struct tr_fileprov *p = tr_fileprov_new(dir, s, true);
    ASSERT_NOT_NULL(p);
    ASSERT_EQ(tr_fileprov_scan(p), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/a.yaml", dir);
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs(SVC("a", 80), f);
    fflush(f);
    ASSERT_EQ(tr_fileprov_handle(p), true);
    ASSERT_EQ(tr_fileprov_busy(p), true);
    tr_fileprov_flush(p, false);
    ASSERT_NULL(tr_store_get(s, TR_KIND_SERVICE, "default", "a"));
    fclose(f);
    ASSERT_EQ(tr_fileprov_handle(p), true);
    ASSERT_EQ(tr_fileprov_busy(p), false);
    ASSERT_EQ(tr_fileprov_flush(p, false), true);
    ASSERT_NOT_NULL(tr_store_get(s, TR_KIND_SERVICE, "default", "a"));
    tr_fileprov_free(p);
    tr_store_free(s);
}

TEST(fileprov_rescan_reads_only_changed_files)
{
    /* A rescan (after the event queue overflowed or a directory came) reads a file again only
     * when its stamp changed: the object of an unchanged file is the very one loaded before. */
    struct env e;
    env_init(&e);
    tr_test_write(e.dir, "a.yaml", SVC("a", 80));
    tr_test_write(e.dir, "b.yaml", SVC("b", 81));
    ASSERT_EQ(tr_fileprov_scan(e.p), 0);
    /* Held, so that a new object cannot take the old one's address. */
    struct tr_obj *a = tr_obj_acquire((struct tr_obj *)svc(&e, "a"));
    struct tr_obj *b = tr_obj_acquire((struct tr_obj *)svc(&e, "b"));
    tr_test_write(e.dir, "b.yaml", SVC("b", 82)); /* same size, new content */
    uint64_t reads = tr_fileprov_reads(e.p);
    ASSERT_EQ(tr_fileprov_scan(e.p), 0);
    ASSERT_EQ(tr_fileprov_reads(e.p), reads + 1); /* b.yaml alone */
    ASSERT(svc(&e, "a") == a);
    ASSERT(svc(&e, "b") != b);
    ASSERT_EQ(port_of(svc(&e, "b")), 82);
    tr_obj_release(a);
    tr_obj_release(b);
    /* A file replaced by another (a rename over it: a new inode) is read again too. */
    tr_test_write(e.dir, ".a.tmp", SVC("a", 90));
    char from[512], to[512];
    snprintf(from, sizeof(from), "%s/.a.tmp", e.dir);
    snprintf(to, sizeof(to), "%s/a.yaml", e.dir);
    ASSERT_EQ(rename(from, to), 0);
    ASSERT_EQ(tr_fileprov_scan(e.p), 0);
    ASSERT_EQ(port_of(svc(&e, "a")), 90);
    env_done(&e);
}
