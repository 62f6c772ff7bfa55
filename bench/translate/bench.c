/* bench-translate DIR [-k RUNS]: the control-plane benchmark. Loads a manifest directory (made
 * by bench/translate/gen.py) once into a store, then times what the control thread does on every
 * change: translate the store view, render status and the IR, publish them as JSON; and the
 * incremental case, one file rewritten and reloaded, a new view, a new translation, a publish.
 * Prints a Markdown table on stdout.
 *
 * To see where translate's time goes (callgrind counts only inside tr_translate):
 *   valgrind --tool=callgrind --toggle-collect=tr_translate build/bench/bench-translate DIR -k 1 --no-incremental
 *   callgrind_annotate --inclusive=yes callgrind.out.PID
 * (--toggle-collect=tr_fileprov_scan for the load, =tr_publish_build for publishing.) */
#include "api/kind.h"
#include "api/manifest.h"
#include "api/object.h"
#include "api/yaml.h"
#include "admin/admin.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/node.h"
#include "cli/cli.h"
#include "control/control.h"
#include "control/publish.h"
#include "ir/ir.h"
#include "provider/file.h"
#include "snapshot/snapshot.h"
#include "store/store.h"
#include "translate/internal.h" /* struct tx: the translate arena's size, for the report */
#include "translate/translate.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct series {
    double *v;
    size_t n;
};

static void series_add(struct series *s, double x)
{
    s->v = realloc(s->v, (s->n + 1) * sizeof(double));
    if (!s->v)
        abort();
    s->v[s->n++] = x;
}

static void row(const char *what, struct series *s)
{
    qsort(s->v, s->n, sizeof(double), cmp_double);
    double med = s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
    printf("| %s | %.2f | %.2f | %.2f | %zu |\n", what, s->v[0], med, s->v[s->n - 1], s->n);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static void row1(const char *what, double ms)
{
    printf("| %s | %.2f | %.2f | %.2f | 1 |\n", what, ms, ms, ms);
}

/* Resident set size now, from /proc/self/status (kB), or -1. */
static long rss_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            kb = strtol(line + fl + 1, NULL, 10);
    fclose(f);
    return kb;
}

/* malloc's blocks in use, and the slab pages arenas carve from (mapped, not malloc's). */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd + tr_slab_mapped();
}

/* --- a parse-only pass: read + YAML, no decode or validation --- */

static size_t parse_docs, parse_bytes, parse_files;

static void drop_doc(void *ud, struct tr_arena *a, struct tr_node *root, unsigned line)
{
    parse_docs++;
    tr_arena_free(a);
}

static int parse_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    if (type != FTW_F)
        return 0;
    const char *base = path + ftw->base;
    size_t n = strlen(base);
    if (base[0] == '.' || !((n > 5 && strcmp(base + n - 5, ".yaml") == 0) || (n > 4 && strcmp(base + n - 4, ".yml") == 0) ||
                            (n > 5 && strcmp(base + n - 5, ".json") == 0)))
        return 0;
    if (strstr(path, "/."))
        return 0; /* the provider skips hidden directories too */
    size_t len;
    char *text = tr_read_file(path, 64u << 20, &len);
    if (!text)
        return 0;
    struct tr_buf err;
    tr_buf_init(&err, 4096);
    tr_yaml_parse(text, len, drop_doc, NULL, &err);
    tr_buf_dispose(&err);
    free(text);
    parse_files++;
    parse_bytes += len;
    return 0;
}

/* --- the incremental case: one route's file rewritten --- */

/* Changes the route's spec in place in its file: the first "tenant-" header value's first
 * character flips between its digit and 'x'. Returns 0, or -1 when the file has none. */
static int touch_route(const char *path)
{
    size_t len;
    char *text = tr_read_file(path, 64u << 20, &len);
    if (!text)
        return -1;
    /* A header match value of the default mix, or a path of the lean one (gen.py --lean). */
    char *p = strstr(text, "tenant-");
    if (p) {
        p += strlen("tenant-");
    } else if ((p = strstr(text, "/api/svc")) != NULL) {
        p += strlen("/api/svc");
    } else {
        free(text);
        return -1;
    }
    static char saved;
    if (*p == 'x') {
        *p = saved ? saved : '0';
    } else {
        saved = *p;
        *p = 'x';
    }
    FILE *f = fopen(path, "w");
    int rc = f && fwrite(text, 1, len, f) == len ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    free(text);
    return rc;
}

static const char *alloc_address(void *ud, const struct tr_obj *gw, bool (*taken)(void *ctx, const char *addr),
                                 void *ctx)
{
    return tr_addrpool_get(ud, gw, taken, ctx);
}

static size_t ir_rules(const struct tr_ir *ir, size_t *listeners)
{
    size_t n = 0;
    *listeners = 0;
    for (size_t i = 0; i < ir->nports; i++)
        for (size_t j = 0; j < ir->ports[i].nlisteners; j++) {
            n += ir->ports[i].listeners[j]->nrules;
            (*listeners)++;
        }
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench-translate DIR [-k RUNS] [--no-incremental]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int runs = 20;
    bool incremental = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-k") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-incremental") == 0)
            incremental = false;
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else
            usage();
    }
    if (!dir || runs < 1)
        usage();
    tr_log_set_level("off");

    /* Read + YAML parse only (the OS cache is warm after this pass, for the load below too). */
    double t0 = now_ms();
    if (nftw(dir, parse_one, 32, FTW_PHYS) != 0) {
        fprintf(stderr, "bench-translate: %s: %s\n", dir, strerror(errno));
        return 2;
    }
    double parse_ms = now_ms() - t0;

    /* Load: read, parse, decode, validate, put in the store. */
    long rss0 = rss_kb("VmRSS");
    struct tr_store *store = tr_store_new();
    struct tr_fileprov *fp = tr_fileprov_new(dir, store, false);
    if (!fp) {
        fprintf(stderr, "bench-translate: %s: %s\n", dir, strerror(errno));
        return 2;
    }
    t0 = now_ms();
    int problems = tr_fileprov_scan(fp);
    double load_ms = now_ms() - t0;
    long rss_loaded = rss_kb("VmRSS");

    t0 = now_ms();
    struct tr_view *v = tr_store_view(store);
    double view_ms = now_ms() - t0;

    struct tr_addrpool *pool = tr_addrpool_new("127.1.0.0/16");
    for (size_t i = 0; i < v->n[TR_KIND_GATEWAY]; i++)
        tr_addrpool_get(pool, v->objs[TR_KIND_GATEWAY][i], NULL, NULL);
    struct tr_tx_input in = {.view = v, .controller = TR_CONTROLLER_NAME, .alloc_address = alloc_address, .ud = pool};

    /* The first translation runs on a cold heap (every arena page is faulted in). The daemon
     * publishes after each translation, and glibc's malloc adapts its trim and mmap thresholds
     * to those large blocks; one reconcile first (translate + publish) gives the steady state
     * that the timed runs below see. */
    t0 = now_ms();
    struct tr_tx *tx = tr_translate(&in);
    double first_ms = now_ms() - t0;
    struct tr_pubstate *warm = tr_pubstate_new();
    struct tr_snapshot *snap = tr_snapshot_new(tr_store_view(store), tx, 1, NULL, NULL);
    tr_published_release(tr_publish_build(snap, store, warm, true));
    tr_snapshot_release(snap);
    tr_pubstate_free(warm);

    /* Full translations (no memo: every route translated). */
    struct series tx_s = {0};
    size_t arena_bytes = 0, heap_delta = 0;
    for (int k = 0; k < runs; k++) {
        size_t h0 = heap_in_use();
        t0 = now_ms();
        tx = tr_translate(&in);
        series_add(&tx_s, now_ms() - t0);
        heap_delta = heap_in_use() - h0;
        /* struct tr_tx holds a struct tx first (translate/run.c). */
        arena_bytes = tr_arena_used(((const struct tx *)(const void *)tx)->a);
        tr_tx_free(tx);
    }
    tx = tr_translate(&in);
    size_t listeners = 0, rules = ir_rules(tr_tx_ir(tx), &listeners);

    /* Status and IR as value trees; the snapshot compile (routers, TLS contexts); a full publish
     * (every object rendered as JSON, nothing remembered from an earlier publish). */
    struct series st_s = {0}, ir_s = {0}, snap_s = {0}, pub_s = {0};
    size_t json_bytes = 0;
    for (int k = 0; k < (runs < 10 ? runs : 10); k++) { /* publish is slow: 10 are plenty */
        struct tr_arena *a = tr_arena_new(256 * 1024);
        t0 = now_ms();
        tr_status_render(a, v, tx);
        series_add(&st_s, now_ms() - t0);
        tr_arena_reset(a);
        t0 = now_ms();
        tr_ir_render(a, tr_tx_ir(tx));
        series_add(&ir_s, now_ms() - t0);
        tr_arena_free(a);
        struct tr_view *vk = tr_store_view(store);
        struct tr_tx_input ink = in;
        ink.view = vk;
        struct tr_tx *txk = tr_translate(&ink);
        t0 = now_ms();
        snap = tr_snapshot_new(vk, txk, (uint64_t)k + 2, NULL, NULL);
        series_add(&snap_s, now_ms() - t0);
        struct tr_pubstate *ps = tr_pubstate_new();
        t0 = now_ms();
        struct tr_published *p = tr_publish_build(snap, store, ps, true);
        series_add(&pub_s, now_ms() - t0);
        struct tr_buf jb; /* what /status would serve (rendered on request) */
        tr_buf_init(&jb, 0);
        for (size_t i = 0; i < p->nitems; i++)
            p->render(&p->items[i], &jb);
        json_bytes = jb.len;
        tr_buf_dispose(&jb);
        tr_published_release(p);
        tr_pubstate_free(ps);
        tr_snapshot_release(snap);
    }

    /* Incremental, as the daemon reconciles (control/control.c): one route's file changes;
     * reload it, take a new view, translate with the memo (only that route is translated
     * again), compile the snapshot, publish (only changed objects rendered again). */
    struct series inc_load = {0}, inc_view = {0}, inc_tx = {0}, inc_snap = {0}, inc_total = {0}, inc_pub = {0},
                  inc_e2e = {0};
    const char *touched = NULL;
    char path[PATH_MAX];
    size_t mem_tx = 0, mem_snap = 0, mem_pub = 0;
    if (incremental && v->n[TR_KIND_HTTPROUTE]) {
        const struct tr_obj *r = v->objs[TR_KIND_HTTPROUTE][v->n[TR_KIND_HTTPROUTE] / 2];
        snprintf(path, sizeof(path), "%s/%s", dir, r->file);
        touched = r->file;
        struct tr_tx_memo *memo = tr_tx_memo_new();
        struct tr_pubstate *ps = tr_pubstate_new();
        struct tr_tx_input inm = in;
        inm.memo = memo;
        size_t m0 = heap_in_use();
        inm.view = tr_store_view(store);
        struct tr_tx *tx1 = tr_translate(&inm);
        size_t m1 = heap_in_use();
        snap = tr_snapshot_new((struct tr_view *)inm.view, tx1, 1, NULL, NULL);
        tr_snapshot_publish(snap); /* the current snapshot: the next compile reuses its routers */
        size_t m2 = heap_in_use();
        tr_published_release(tr_publish_build(snap, store, ps, true));
        size_t m3 = heap_in_use();
        mem_tx = m1 - m0;
        mem_snap = m2 - m1;
        mem_pub = m3 - m2;
        int iters = (runs + 1) / 2 * 2; /* even: the file ends as it started */
        for (int k = 0; k < iters; k++) {
            if (touch_route(path) != 0) {
                touched = NULL;
                break;
            }
            double a0 = now_ms();
            tr_fileprov_load(fp, path);
            double a1 = now_ms();
            struct tr_view *v2 = tr_store_view(store);
            double a2 = now_ms();
            inm.view = v2;
            struct tr_tx *tx2 = tr_translate(&inm);
            double a3 = now_ms();
            struct tr_snapshot *s2 = tr_snapshot_new(v2, tx2, (uint64_t)k + 1000, NULL, NULL);
            double a4 = now_ms();
            tr_snapshot_publish(s2); /* as the daemon does; the old one is released */
            snap = s2;
            double a5 = now_ms();
            struct tr_published *p = tr_publish_build(snap, store, ps, true);
            double a6 = now_ms();
            tr_published_release(p);
            series_add(&inc_load, a1 - a0);
            series_add(&inc_view, a2 - a1);
            series_add(&inc_tx, a3 - a2);
            series_add(&inc_snap, a4 - a3);
            series_add(&inc_total, a4 - a0);
            series_add(&inc_pub, a6 - a5);
            series_add(&inc_e2e, (a4 - a0) + (a6 - a5));
        }
        tr_pubstate_free(ps);
        tr_snapshot_clear();
        tr_tx_memo_free(memo);
    }

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    size_t nobjs = 0;
    for (int k = 0; k < TR_KIND__COUNT; k++)
        nobjs += v->n[k];
    printf("### %s\n\n", dir);
    printf("%zu objects: %zu HTTPRoutes, %zu Gateways, %zu Services, %zu EndpointSlices, %zu ReferenceGrants, "
           "%zu Secrets; %zu files, %.1f MiB of YAML, %zu documents; %d problems on load.\n",
           nobjs, v->n[TR_KIND_HTTPROUTE], v->n[TR_KIND_GATEWAY], v->n[TR_KIND_SERVICE], v->n[TR_KIND_ENDPOINTSLICE],
           v->n[TR_KIND_REFERENCEGRANT], v->n[TR_KIND_SECRET], parse_files, (double)parse_bytes / (1 << 20), parse_docs,
           problems);
    printf("IR: %zu ports, %zu listeners, %zu rules.\n\n", tr_tx_ir(tx)->nports, listeners, rules);
    printf("| step | min ms | median ms | max ms | runs |\n|---|---:|---:|---:|---:|\n");
    row1("read + YAML parse only (all files)", parse_ms);
    row1("load: read, parse, decode, validate, store (all files)", load_ms);
    row1("store view (sorted snapshot)", view_ms);
    row1("translate, first run (cold heap)", first_ms);
    row("**translate** (full, steady state)", &tx_s);
    row("status render (all objects, value tree)", &st_s);
    row("IR render (value tree)", &ir_s);
    row("snapshot compile (routers, TLS contexts)", &snap_s);
    row("publish, full (transition times of every object; JSON is rendered on request)", &pub_s);
    if (touched) {
        row("incremental: reload one route file", &inc_load);
        row("incremental: store view", &inc_view);
        row("incremental: translate (with the memo)", &inc_tx);
        row("incremental: snapshot compile", &inc_snap);
        row("**incremental until the workers can switch** (reload + view + translate + compile)", &inc_total);
        row("incremental: publish (changed objects only)", &inc_pub);
        row("**one change end to end** (the above + publish, as control.c reconciles)", &inc_e2e);
    }
    printf("\n| memory | |\n|---|---:|\n");
    printf("| RSS before load | %.1f MiB |\n", (double)rss0 / 1024);
    printf("| RSS after load (store) | %.1f MiB |\n", (double)rss_loaded / 1024);
    printf("| peak RSS | %.1f MiB |\n", (double)ru.ru_maxrss / 1024);
    printf("| translate arena | %.1f MiB |\n", (double)arena_bytes / (1 << 20));
    printf("| translate heap (malloc in use, delta) | %.1f MiB |\n", (double)heap_delta / (1 << 20));
    printf("| status JSON of every object (/status, rendered on request) | %.1f MiB |\n", (double)json_bytes / (1 << 20));
    if (touched) {
        /* What the daemon keeps besides the store, per HTTPRoute (malloc in use, deltas). */
        double per = v->n[TR_KIND_HTTPROUTE] ? 1024.0 * (double)v->n[TR_KIND_HTTPROUTE] : 1;
        printf("| kept per HTTPRoute: translation with the memo (route results, IR) | %.1f KiB |\n", (double)mem_tx / per);
        printf("| kept per HTTPRoute: snapshot compile (routers, TLS contexts, metrics slots) | %.1f KiB |\n",
               (double)mem_snap / per);
        printf("| kept per HTTPRoute: publish state (transition times; JSON is rendered on request) | %.1f KiB |\n", (double)mem_pub / per);
        printf("| kept per HTTPRoute: store (objects, after load) | %.1f KiB |\n",
               (double)(rss_loaded - rss0) * 1024 / per);
    }
    if (touched)
        printf("\nIncremental case: %s (a header match value, or a lean route's path, flipped, then back).\n", touched);

    tr_tx_free(tx);
    tr_view_free(v);
    tr_addrpool_free(pool);
    tr_fileprov_free(fp);
    tr_store_free(store);
    return 0;
}
