#include "provider/file.h"
#include "api/kind.h"
#include "api/manifest.h"
#include "api/object.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/map.h"
#include "base/node.h"
#include "base/mem.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILE (64u << 20)
#define MAX_DEPTH 32
/* The problems of one file that are kept (in /status) and logged; the rest are counted. A file
 * of a hundred thousand bad documents would otherwise hold, render and log a message each:
 * several times its own size, for a report no one reads past the first page. */
#define MAX_PROBLEMS 1000

/* A file's writer may truncate it, write, and close; reading between those steps would see an
 * empty or half-written file and drop its objects. So events only mark files, and a file is
 * read once its writer has closed it (or it was renamed into place). */
enum pending { PENDING_WRITING = 1, PENDING_READY, PENDING_GONE };

struct key {
    int kind;
    char *ns, *name; /* while a file is read: one block, name after ns; or in a file's state (state_key) */
};

/* What a file was when it was last read. A rescan (after the event queue overflowed, or a
 * directory came or went) reads again only the files whose stamp changed: reading every file of
 * a large directory again on each such event would hold the control thread for seconds. An
 * event for a file always reads it. The stamp is a 64-bit hash of the file's device, inode,
 * size and change times (st_mtim, st_ctim): a change goes unseen by a rescan only if the hashes
 * of the two versions collide. */
struct stamp {
    uint64_t h;
};

/* What one file contributed: the keys of the objects it last held. One block: this, the file's
 * path below the provider's directory (its key in tr_fileprov.files; its display name), then
 * per key its kind (a byte), namespace and name, each NUL-terminated (there is one per file,
 * most files hold one object). */
struct file_state {
    struct stamp stamp;
    uint32_t n;      /* keys */
    bool stamped;    /* read whole, at stamp */
    bool unreadable; /* the last read failed (reject_unreadable) */
    bool below;      /* path is below the directory (display_name); else whole */
    char path[];
};

/* A state for path (its display name; below: it was below the directory) with the n keys
 * (copied). */
static struct file_state *state_new(const char *path, bool below, const struct key *keys, size_t n)
{
    size_t len = strlen(path) + 1;
    for (size_t i = 0; i < n; i++)
        len += 1 + strlen(keys[i].ns) + 1 + strlen(keys[i].name) + 1;
    struct file_state *fs = tr_xcalloc(1, sizeof(*fs) + len);
    char *at = stpcpy(fs->path, path) + 1;
    for (size_t i = 0; i < n; i++) {
        TR_BUG_ON(keys[i].kind < 0 || keys[i].kind > 255);
        *at++ = (char)keys[i].kind;
        at = stpcpy(at, keys[i].ns) + 1;
        at = stpcpy(at, keys[i].name) + 1;
    }
    fs->n = (uint32_t)n;
    fs->below = below;
    return fs;
}

/* The key at *at in a state's block (the first is at state_keys), moving *at to the next. */
static struct key state_key(const char **at)
{
    const char *p = *at;
    struct key k = {(unsigned char)p[0], (char *)(uintptr_t)(p + 1), NULL};
    k.name = k.ns + strlen(k.ns) + 1;
    *at = k.name + strlen(k.name) + 1;
    return k;
}

static const char *state_keys(const struct file_state *fs)
{
    return fs->path + strlen(fs->path) + 1;
}

static struct stamp stamp_of(const struct stat *st)
{
    const uint64_t v[] = {(uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
                          (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec,
                          (uint64_t)st->st_ctim.tv_sec * 1000000000u + (uint64_t)st->st_ctim.tv_nsec};
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < TR_ARRAY_LEN(v); i++)
        h = tr_mix64(h ^ v[i]) + 0x9e3779b97f4a7c15ull;
    return (struct stamp){h};
}

struct tr_fileprov {
    char *dir;
    struct tr_store *store;
    struct tr_map files;   /* path -> struct file_state* */
    struct tr_map watches; /* "wd" -> directory path */
    struct tr_map pending; /* path -> enum pending: what inotify said since the last flush */
    bool rescan;           /* the queue overflowed or a directory changed */
    bool broken_links;     /* some manifest is a symbolic link that could not be read */
    bool links_due;        /* an event came since those were last read (reread_broken_links) */
    int ifd;
    uint64_t seq;
    uint64_t reads; /* files read */
};

static bool is_manifest(const char *name)
{
    if (name[0] == '.')
        return false; /* editors' and atomic writers' temporaries */
    size_t n = strlen(name);
    static const char *const exts[] = {".yaml", ".yml", ".json"};
    for (size_t i = 0; i < TR_ARRAY_LEN(exts); i++) {
        size_t e = strlen(exts[i]);
        if (n > e && strcmp(name + n - e, exts[i]) == 0)
            return true;
    }
    return false;
}

static void free_state(struct file_state *fs)
{
    if (!fs)
        return;
    free(fs);
}

struct tr_fileprov *tr_fileprov_new(const char *dir, struct tr_store *store, bool watch)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return NULL;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return NULL;
    }
    struct tr_fileprov *p = tr_xcalloc(1, sizeof(*p));
    p->files.borrow_keys = true; /* a state holds its path */
    p->files.dense = true;       /* one per file: 24 bytes a slot, looked up per event */
    p->dir = tr_xstrdup(dir);
    p->store = store;
    p->ifd = -1;
    p->seq = 1;
    if (watch) {
        p->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (p->ifd < 0)
            tr_log_warn("inotify unavailable (%s): changes to %s will not be seen", strerror(errno), dir);
    }
    return p;
}

void tr_fileprov_free(struct tr_fileprov *p)
{
    if (!p)
        return;
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&p->files, &it)))
        free_state(s->val);
    tr_map_dispose(&p->files);
    it = 0;
    while ((s = tr_map_next(&p->watches, &it)))
        free(s->val);
    tr_map_dispose(&p->watches);
    tr_map_dispose(&p->pending);
    if (p->ifd >= 0)
        close(p->ifd);
    free(p->dir);
    free(p);
}

uint64_t tr_fileprov_reads(const struct tr_fileprov *p)
{
    return p->reads;
}

int tr_fileprov_fd(const struct tr_fileprov *p)
{
    return p->ifd;
}

/* --- loading one file --- */

/* A file may hold a hundred thousand documents: keys and rejects are found by hash, not by
 * scanning what the file gave so far. */
struct loadctx {
    struct tr_fileprov *p;
    struct key *keys;
    size_t n, cap;
    struct tr_map key_index; /* key_text() -> (void *)1 */
    struct tr_obj **objs;    /* valid objects, applied once the whole file has parsed */
    size_t nobjs, capobjs;
    struct tr_reject *rej;
    size_t nrej, caprej;
    struct tr_map rej_index; /* key_text() -> index in rej + 1 */
    size_t nmsgs, unlisted;  /* problems kept, problems past MAX_PROBLEMS */
    const char *path;
};

/* "KIND/NS/NAME": names and namespaces hold no '/' once valid, and an invalid one is only a
 * lookup that misses. Returns the length, or 0 when it does not fit. */
static size_t key_text(char *out, size_t cap, int kind, const char *ns, const char *name)
{
    int n = snprintf(out, cap, "%d/%s/%s", kind, ns, name);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void add_key(struct loadctx *c, int kind, const char *ns, const char *name)
{
    char k[600];
    size_t kl = key_text(k, sizeof(k), kind, ns, name);
    if (kl && tr_map_put(&c->key_index, k, kl, (void *)1))
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->keys = tr_xrealloc(c->keys, c->cap * sizeof(*c->keys));
    }
    size_t nl = strlen(ns) + 1, ml = strlen(name) + 1;
    char *blk = tr_xmalloc(nl + ml);
    memcpy(blk, ns, nl);
    memcpy(blk + nl, name, ml);
    c->keys[c->n++] = (struct key){kind, blk, blk + nl};
}

static const struct tr_obj *prev_of(void *ud, int kind, const char *ns, const char *name)
{
    struct loadctx *c = ud;
    return tr_store_get(c->p->store, (enum tr_kind)kind, ns, name);
}

static void took(void *ud, struct tr_obj *o)
{
    struct loadctx *c = ud;
    add_key(c, (int)o->kind, o->ns, o->name);
    /* Held back until the whole file parses: a syntax error further down keeps every object the
     * file held, including those of the documents before it. */
    if (c->nobjs == c->capobjs) {
        c->capobjs = c->capobjs ? c->capobjs * 2 : 8;
        c->objs = tr_xrealloc(c->objs, c->capobjs * sizeof(*c->objs));
    }
    c->objs[c->nobjs++] = o;
}

static void apply(struct tr_store *store, struct tr_obj *o)
{
    const struct tr_obj *prev = tr_store_get(store, o->kind, o->ns, o->name);
    /* An identical re-read changes nothing: keep the old version (and its resourceVersion). The
     * file counts: an object moved to another file now belongs to that file (see drop_missing). */
    if (prev && prev->generation == o->generation && strcmp(prev->file, o->file) == 0 &&
        tr_obj_same_content(prev, o)) {
        tr_obj_release(o);
        return;
    }
    tr_store_put(store, o);
}

/* Keeps line as a problem of kind/ns/name (any of them unknown: -1, NULL). */
static void keep_problem(struct loadctx *c, const char *line, int kind, const char *ns, const char *name)
{
    tr_log_warn("%s", line);
    c->nmsgs++;
    struct tr_reject *r = NULL;
    char k[600];
    size_t kl = kind >= 0 && ns && name ? key_text(k, sizeof(k), kind, ns, name) : 0;
    uintptr_t at = kl ? (uintptr_t)tr_map_get(&c->rej_index, k, kl) : 0;
    if (at)
        r = &c->rej[at - 1];
    if (!r) {
        if (c->nrej == c->caprej) {
            c->caprej = c->caprej ? c->caprej * 2 : 4;
            c->rej = tr_xrealloc(c->rej, c->caprej * sizeof(*c->rej));
        }
        r = &c->rej[c->nrej++];
        memset(r, 0, sizeof(*r));
        r->kind = kind;
        r->ns = ns ? tr_xstrdup(ns) : NULL;
        r->name = name ? tr_xstrdup(name) : NULL;
        r->file = tr_xstrdup(c->path);
        if (kl)
            tr_map_put(&c->rej_index, k, kl, (void *)(uintptr_t)c->nrej);
    }
    /* Grown at powers of two: an object may have an error per field. */
    if ((r->nmsgs & (r->nmsgs - 1)) == 0)
        r->msgs = tr_xrealloc(r->msgs, (r->nmsgs ? 2 * r->nmsgs : 1) * sizeof(char *));
    r->msgs[r->nmsgs++] = tr_xstrdup(line);
}

static void rejected(void *ud, const char *line, int kind, const char *ns, const char *name)
{
    struct loadctx *c = ud;
    /* The rejected object's key keeps its current version (it is not deleted below), listed
     * or not. */
    if (kind >= 0 && ns && name)
        add_key(c, kind, ns, name);
    if (c->nmsgs < MAX_PROBLEMS)
        keep_problem(c, line, kind, ns, name);
    else
        c->unlisted++;
}

/* One more problem says how many were not listed. */
static void count_unlisted(struct loadctx *c)
{
    if (!c->unlisted)
        return;
    char line[300];
    snprintf(line, sizeof(line), "%s: %zu more problems are not listed (the first %d are)", c->path, c->unlisted,
             MAX_PROBLEMS);
    keep_problem(c, line, -1, NULL, NULL);
}

static const struct tr_manifest_ops load_ops = {prev_of, took, rejected};

/* Deletes the objects file (its display name) held before and no longer does. An object that
 * another file has loaded since is that file's now: it stays. */
static void drop_missing(struct tr_fileprov *p, const char *file, struct file_state *old,
                         const struct tr_map *keep)
{
    const char *at = old ? state_keys(old) : NULL;
    for (size_t i = 0; old && i < old->n; i++) {
        struct key key = state_key(&at);
        char k[600];
        size_t kl = key_text(k, sizeof(k), key.kind, key.ns, key.name);
        bool kept = keep && kl && tr_map_get(keep, k, kl);
        const struct tr_obj *cur = tr_store_get(p->store, (enum tr_kind)key.kind, key.ns, key.name);
        if (!kept && cur && strcmp(cur->file, file) == 0)
            tr_store_del(p->store, (enum tr_kind)key.kind, key.ns, key.name);
    }
}

/* path (len bytes) below the directory, or path itself when it is not below it; *below says
 * which. */
static const char *rel_of(const struct tr_fileprov *p, const char *path, size_t len, size_t *rel_len, bool *below)
{
    size_t n = strlen(p->dir);
    *below = len > n && strncmp(path, p->dir, n) == 0 && path[n] == '/';
    *rel_len = *below ? len - n - 1 : len;
    return *below ? path + n + 1 : path;
}

static const char *display_name(const struct tr_fileprov *p, const char *path)
{
    size_t rl;
    bool below;
    return rel_of(p, path, strlen(path), &rl, &below);
}

/* The state of path (a whole path), or NULL. */
static struct file_state *state_of(const struct tr_fileprov *p, const char *path, size_t len)
{
    size_t rl;
    bool below;
    const char *rel = rel_of(p, path, len, &rl, &below);
    return tr_map_get(&p->files, rel, rl);
}

/* The whole path of the file fs is the state of (free it). */
static char *state_path(const struct tr_fileprov *p, const struct file_state *fs)
{
    if (!fs->below)
        return tr_xstrdup(fs->path);
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_buf_printf(&b, "%s/%s", p->dir, fs->path);
    return tr_buf_steal(&b);
}

/* Puts fs in the map of files, returning the state it replaces. */
static struct file_state *state_put(struct tr_fileprov *p, struct file_state *fs)
{
    return tr_map_put(&p->files, fs->path, strlen(fs->path), fs);
}

/* A file rejected whole keeps the objects it held, and its state (an empty one if it had
 * none): a rescan forgets the files it no longer finds by their state, and with it their
 * rejection. */
static struct file_state *keep_state(struct tr_fileprov *p, const char *path)
{
    size_t rl;
    bool below;
    const char *rel = rel_of(p, path, strlen(path), &rl, &below);
    struct file_state *fs = tr_map_get(&p->files, rel, rl);
    if (!fs) {
        fs = state_new(rel, below, NULL, 0);
        state_put(p, fs);
    }
    return fs;
}

/* Applies the text read from path (and frees it); stamp is the file's when it was read. */
static int load_text(struct tr_fileprov *p, const char *path, char *text, size_t len, const struct stamp *stamp)
{
    p->reads++;
    struct loadctx c = {.p = p, .path = display_name(p, path)};
    int problems = tr_manifest_load(text, len, c.path, (int64_t)time(NULL), &p->seq, &load_ops, &c);
    free(text);
    count_unlisted(&c);
    tr_log_debug("read %s: %zu bytes, %zu objects, %d problems", c.path, len, c.nobjs, problems);
    struct file_state *old = state_of(p, path, strlen(path));
    if (problems < 0) {
        /* Not YAML at all: keep everything the file held, report the file. */
        for (size_t i = 0; i < c.nobjs; i++)
            tr_obj_release(c.objs[i]);
        free(c.objs);
        for (size_t i = 0; i < c.n; i++)
            free(c.keys[i].ns);
        free(c.keys);
        tr_map_dispose(&c.key_index);
        tr_map_dispose(&c.rej_index);
        tr_store_set_rejects(p->store, path, c.rej, c.nrej);
        struct file_state *fs = keep_state(p, path);
        fs->stamp = *stamp;
        fs->stamped = true;
        fs->unreadable = false;
        return 1;
    }
    for (size_t i = 0; i < c.nobjs; i++)
        apply(p->store, c.objs[i]);
    free(c.objs);
    drop_missing(p, c.path, old, &c.key_index);
    tr_map_dispose(&c.key_index);
    tr_map_dispose(&c.rej_index);
    struct file_state *fs = state_new(c.path, c.path != path, c.keys, c.n);
    for (size_t i = 0; i < c.n; i++)
        free(c.keys[i].ns);
    free(c.keys);
    fs->stamp = *stamp;
    fs->stamped = true;
    free_state(state_put(p, fs));
    tr_store_set_rejects(p->store, path, c.rej, c.nrej);
    return problems;
}

/* Reads path, which must be a regular file of at most MAX_FILE bytes. Returns the text (free
 * it), or NULL: *gone when path no longer exists, else why it cannot be read in why. Nothing
 * but a regular file is read, and opening does not block: a FIFO without a writer would hold
 * the control thread in open() for good, and /dev/zero would be read up to the cap. */
static char *read_manifest(const char *path, size_t *len, bool *gone, char *why, size_t whycap, struct stamp *stamp)
{
    *gone = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        struct stat lst;
        if (e == ENOENT && lstat(path, &lst) != 0) {
            *gone = true;
            return NULL;
        }
        /* There, but ENOENT: a symbolic link to nothing. */
        snprintf(why, whycap, "%s%s", strerror(e), e == ENOENT ? " (a symbolic link to a missing file)" : "");
        return NULL;
    }
    struct stat st;
    char *text = NULL;
    if (fstat(fd, &st) != 0)
        snprintf(why, whycap, "%s", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        snprintf(why, whycap, "not a regular file");
    else if (st.st_size > MAX_FILE)
        snprintf(why, whycap, "too large: %lld bytes, more than the %u MiB a manifest may have",
                 (long long)st.st_size, MAX_FILE >> 20);
    else if (!(text = tr_read_fd(fd, MAX_FILE, len)))
        snprintf(why, whycap, "%s",
                 errno == EFBIG ? "too large: it grew past the limit while it was read" : strerror(errno));
    else
        *stamp = stamp_of(&st);
    close(fd);
    return text;
}

/* A file that cannot be read is rejected whole, as one that is not YAML is: /status says why,
 * and the objects it held stay. */
static void reject_unreadable(struct tr_fileprov *p, const char *path, const char *why)
{
    struct loadctx c = {.p = p, .path = display_name(p, path)};
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_buf_printf(&b, "%s: cannot read: %s", c.path, why);
    keep_problem(&c, b.data, -1, NULL, NULL);
    tr_buf_dispose(&b);
    tr_store_set_rejects(p->store, path, c.rej, c.nrej);
    keep_state(p, path)->unreadable = true;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        p->broken_links = true;
}

int tr_fileprov_load(struct tr_fileprov *p, const char *path)
{
    size_t len;
    bool gone;
    char why[200];
    struct stamp stamp;
    char *text = read_manifest(path, &len, &gone, why, sizeof(why), &stamp);
    if (!text) {
        if (gone)
            tr_fileprov_forget(p, path);
        else
            reject_unreadable(p, path, why);
        return gone ? 0 : 1;
    }
    return load_text(p, path, text, len, &stamp);
}

void tr_fileprov_forget(struct tr_fileprov *p, const char *path)
{
    const char *rel = display_name(p, path);
    struct file_state *old = tr_map_del(&p->files, rel, strlen(rel));
    drop_missing(p, rel, old, NULL);
    tr_store_set_rejects(p->store, path, NULL, 0);
    free_state(old); /* last: path may be its own */
}

/* --- scanning and watching --- */

static void add_watch(struct tr_fileprov *p, const char *dir)
{
    if (p->ifd < 0)
        return;
    int wd = inotify_add_watch(p->ifd, dir,
                               IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF |
                                   IN_MODIFY | IN_ONLYDIR);
    if (wd < 0) {
        tr_log_warn("cannot watch %s: %s", dir, strerror(errno));
        return;
    }
    char k[16];
    int kl = snprintf(k, sizeof(k), "%d", wd);
    free(tr_map_put(&p->watches, k, (size_t)kl, tr_xstrdup(dir)));
}

/* Notes path (pl bytes) in seen, as its state would be named (rel_of). */
static void see(const struct tr_fileprov *p, struct tr_map *seen, const char *path, size_t pl)
{
    size_t rl;
    bool below;
    const char *rel = rel_of(p, path, pl, &rl, &below);
    tr_map_put(seen, rel, rl, (void *)1);
}

/* Walks dir for manifests (their states' names go into seen). A directory reached again through a
 * symbolic link is not walked again (dirs holds the device and inode of those walked): two
 * links to "." would be 2^32 walks, and one loads every file again under each of its 32 names. */
static int dirent_cmp(const void *x, const void *y)
{
    return strcmp((*(struct dirent *const *)x)->d_name, (*(struct dirent *const *)y)->d_name);
}

static bool unchanged(const struct tr_fileprov *p, const char *path, size_t len, const struct stat *st)
{
    const struct file_state *fs = state_of(p, path, len);
    struct stamp now = stamp_of(st);
    return fs && fs->stamped && memcmp(&fs->stamp, &now, sizeof(now)) == 0;
}

static int scan_dir(struct tr_fileprov *p, const char *dir, int depth, struct tr_map *seen, struct tr_map *dirs)
{
    if (depth > MAX_DEPTH)
        return 0;
    DIR *d = opendir(dir);
    if (!d) {
        tr_log_warn("cannot open %s: %s", dir, strerror(errno));
        return 1;
    }
    struct stat dst;
    uint64_t id[2] = {0, 0};
    if (fstat(dirfd(d), &dst) == 0) {
        id[0] = (uint64_t)dst.st_dev;
        id[1] = (uint64_t)dst.st_ino;
    }
    if (tr_map_put(dirs, (const char *)id, sizeof(id), (void *)1)) {
        closedir(d);
        return 0;
    }
    add_watch(p, dir);
    /* Sorted, so that objects appear in a stable order (their creation order ties). */
    struct dirent **ents = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            ents = tr_xrealloc(ents, cap * sizeof(*ents));
        }
        ents[n] = tr_xmalloc(sizeof(struct dirent));
        memcpy(ents[n], e, sizeof(struct dirent));
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(ents, n, sizeof(*ents), dirent_cmp);
    int problems = 0;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        int pl = snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
        bool manifest = is_manifest(ents[i]->d_name);
        free(ents[i]);
        if (pl <= 0 || (size_t)pl >= sizeof(path))
            continue;
        struct stat st;
        bool stated = stat(path, &st) == 0;
        if (stated && S_ISDIR(st.st_mode)) {
            problems += scan_dir(p, path, depth + 1, seen, dirs);
        } else if (manifest && stated && S_ISREG(st.st_mode) && unchanged(p, path, (size_t)pl, &st)) {
            see(p, seen, path, (size_t)pl); /* as it was read: what it gave stands */
        } else if (manifest) {
            /* Whatever it is (a FIFO, a device, a symbolic link to nothing or in a loop): a
             * name that says manifest is read or reported, never passed over in silence. */
            problems += tr_fileprov_load(p, path) > 0;
            see(p, seen, path, (size_t)pl);
        }
    }
    free(ents);
    return problems;
}

int tr_fileprov_scan(struct tr_fileprov *p)
{
    struct tr_map seen = {0}, dirs = {0};
    int problems = scan_dir(p, p->dir, 0, &seen, &dirs);
    tr_map_dispose(&dirs);
    /* Files that went away while we were not looking. */
    size_t it = 0, nold = 0;
    struct tr_map_slot *s;
    char **gone = tr_xcalloc(p->files.len + 1, sizeof(char *));
    while ((s = tr_map_next(&p->files, &it)))
        if (!tr_map_get(&seen, s->key, s->klen))
            gone[nold++] = state_path(p, s->val);
    for (size_t i = 0; i < nold; i++) {
        tr_fileprov_forget(p, gone[i]);
        free(gone[i]);
    }
    free(gone);
    tr_map_dispose(&seen);
    return problems;
}

static void mark(struct tr_fileprov *p, const char *path, size_t len, enum pending st)
{
    tr_map_put(&p->pending, path, len, (void *)(uintptr_t)st);
}

bool tr_fileprov_handle(struct tr_fileprov *p)
{
    if (p->ifd < 0)
        return false;
    bool any = false;
    _Alignas(struct inotify_event) char buf[16384];
    for (;;) {
        ssize_t r = read(p->ifd, buf, sizeof(buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break; /* EAGAIN: drained */
        }
        if (r == 0)
            break;
        for (char *q = buf; q < buf + r;) {
            struct inotify_event *ev = (struct inotify_event *)q;
            q += sizeof(*ev) + ev->len;
            any = true;
            if (ev->mask & IN_Q_OVERFLOW) {
                p->rescan = true;
                continue;
            }
            char k[16];
            int kl = snprintf(k, sizeof(k), "%d", ev->wd);
            const char *dir = tr_map_get(&p->watches, k, (size_t)kl);
            if (ev->mask & IN_IGNORED) {
                free(tr_map_del(&p->watches, k, (size_t)kl));
                continue;
            }
            if (!dir || !ev->len)
                continue;
            p->links_due = true; /* whatever the name: it may be what a link points to */
            if (ev->mask & IN_ISDIR) {
                p->rescan = true; /* a directory came or went: walk it all again */
                continue;
            }
            if (!is_manifest(ev->name))
                continue;
            char path[PATH_MAX];
            int pl = snprintf(path, sizeof(path), "%s/%s", dir, ev->name);
            if (pl <= 0 || (size_t)pl >= sizeof(path))
                continue;
            struct stat st;
            if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
                mark(p, path, (size_t)pl, PENDING_GONE);
            else if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
                mark(p, path, (size_t)pl, PENDING_READY);
            else if ((ev->mask & IN_CREATE) && lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
                mark(p, path, (size_t)pl, PENDING_READY); /* a symlink or a FIFO: no writer to wait for */
            else if (ev->mask & (IN_CREATE | IN_MODIFY))
                mark(p, path, (size_t)pl, PENDING_WRITING);
        }
    }
    return any;
}

bool tr_fileprov_pending(const struct tr_fileprov *p)
{
    return p->pending.len > 0 || p->rescan || (p->links_due && p->broken_links);
}

bool tr_fileprov_busy(const struct tr_fileprov *p)
{
    size_t it = 0;
    struct tr_map_slot *s;
    while ((s = tr_map_next(&p->pending, &it)))
        if ((uintptr_t)s->val == PENDING_WRITING)
            return true;
    return false;
}

/* A symbolic link that could not be read (to a missing file, or in a loop) gets no event of its
 * own when what it points to appears or changes: the events name the target. After events,
 * such links are read again, so that their status follows (a link made before its target
 * becomes readable; a loop made one link at a time is reported as a loop). Returns whether
 * anything changed. */
static bool reread_broken_links(struct tr_fileprov *p)
{
    p->links_due = false;
    if (!p->broken_links)
        return false;
    p->broken_links = false; /* set again by those still broken */
    size_t n = 0, it = 0;
    struct tr_map_slot *s;
    char **paths = tr_xcalloc(p->files.len + 1, sizeof(char *));
    while ((s = tr_map_next(&p->files, &it))) {
        const struct file_state *fs = s->val;
        if (!fs->unreadable)
            continue;
        char *path = state_path(p, fs);
        struct stat st;
        if (!tr_map_get(&p->pending, path, strlen(path)) && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
            paths[n++] = path;
        else
            free(path);
    }
    for (size_t i = 0; i < n; i++) {
        tr_fileprov_load(p, paths[i]);
        free(paths[i]);
    }
    free(paths);
    return n > 0;
}

bool tr_fileprov_flush(struct tr_fileprov *p, bool force)
{
    bool changed = false;
    if (p->rescan) {
        p->rescan = false;
        tr_map_dispose(&p->pending);
        tr_fileprov_scan(p);
        return true;
    }
    size_t n = 0, it = 0;
    struct tr_map_slot *s;
    char **paths = tr_xcalloc(p->pending.len + 1, sizeof(char *));
    uintptr_t *states = tr_xcalloc(p->pending.len + 1, sizeof(uintptr_t));
    while ((s = tr_map_next(&p->pending, &it))) {
        uintptr_t st = (uintptr_t)s->val;
        if (st == PENDING_WRITING && !force)
            continue;
        paths[n] = tr_xstrdup(s->key);
        states[n++] = st;
    }
    for (size_t i = 0; i < n; i++) {
        tr_map_del(&p->pending, paths[i], strlen(paths[i]));
        if (states[i] == PENDING_GONE) {
            tr_fileprov_forget(p, paths[i]);
            changed = true;
        } else {
            /* Read, then look at the queue again: an event for this file since the read (a
             * writer truncating it for its next version) means what was read may be partial;
             * it is dropped, and the file stays marked for a later flush. */
            size_t len;
            bool gone;
            char why[200];
            struct stamp stamp;
            char *text = read_manifest(paths[i], &len, &gone, why, sizeof(why), &stamp);
            tr_fileprov_handle(p);
            struct file_state *had = state_of(p, paths[i], strlen(paths[i]));
            if (tr_map_get(&p->pending, paths[i], strlen(paths[i])) && !force) {
                free(text);
            } else if (text && len == 0 && had && had->n > 0 && !force) {
                /* Empty, where objects were: most likely a writer between its truncate and its
                 * write (the kernel queues the truncate's event just after the size changes,
                 * so a read can slip in between). Wait for the writer; a file that stays empty
                 * is taken as empty once the wait runs out. */
                free(text);
                mark(p, paths[i], strlen(paths[i]), PENDING_WRITING);
            } else if (text) {
                load_text(p, paths[i], text, len, &stamp);
                changed = true;
            } else if (gone) {
                tr_fileprov_forget(p, paths[i]);
                changed = true;
            } else {
                reject_unreadable(p, paths[i], why);
                changed = true;
            }
        }
        free(paths[i]);
    }
    free(paths);
    free(states);
    if (p->links_due)
        changed |= reread_broken_links(p);
    return changed;
}
