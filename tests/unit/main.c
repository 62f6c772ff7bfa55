/* The unit test runner: runs every registered test (or one, --single NAME) and ends with the
 * line `N passed, N failed` that tests/run-all reads. Exit status 1 when any test failed. */
#include "test.h"

#include "base/log.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct tr_test *tests;
static size_t ntests;
static jmp_buf on_fail;
static char tmpdir[256];

void tr_test_register(struct tr_test *t)
{
    t->next = tests;
    tests = t;
    ntests++;
}

void tr_test_fail(const char *file, int line, const char *fmt, ...)
{
    printf("  %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    longjmp(on_fail, 1);
}

const char *tr_test_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof(tmpdir), "%s/torii-unit-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            tmpdir[0] = '\0';
            tr_test_fail(__FILE__, __LINE__, "mkdtemp failed");
        }
    }
    return tmpdir;
}

void tr_test_write(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        tr_test_fail(__FILE__, __LINE__, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void rm_tmpdir(void)
{
    if (tmpdir[0])
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    tmpdir[0] = '\0';
}

static int by_place(const void *a, const void *b)
{
    const struct tr_test *x = *(const struct tr_test *const *)a, *y = *(const struct tr_test *const *)b;
    int c = strcmp(x->file, y->file);
    return c ? c : x->line - y->line;
}

/* Runs t; returns true when it passed. */
static bool run(struct tr_test *t, bool verbose)
{
    /* volatile: read after longjmp */
    volatile bool ok = true;
    if (setjmp(on_fail) == 0)
        t->fn();
    else
        ok = false;
    rm_tmpdir();
    if (!ok)
        printf("FAIL %s (%s)\n", t->name, t->file);
    else if (verbose)
        printf("ok   %s\n", t->name);
    return ok;
}

static void usage(void)
{
    fprintf(stderr, "usage: unit [-v] [--list] [--single NAME] [SUBSTRING...]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *single = NULL;
    bool list = false, verbose = false;
    int nfilters = 0;
    const char **filters = calloc((size_t)argc, sizeof(*filters));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0)
            list = true;
        else if (strcmp(argv[i], "--single") == 0 && i + 1 < argc)
            single = argv[++i];
        else if (strcmp(argv[i], "-v") == 0)
            verbose = true;
        else if (argv[i][0] == '-')
            usage();
        else
            filters[nfilters++] = argv[i];
    }
    tr_log_set_level(verbose ? "debug" : "off");
    setvbuf(stdout, NULL, _IOLBF, 0); /* failures and crashes interleave with stderr in order */

    struct tr_test **v = calloc(ntests + 1, sizeof(*v));
    size_t n = 0;
    for (struct tr_test *t = tests; t; t = t->next)
        v[n++] = t;
    qsort(v, n, sizeof(*v), by_place);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(v[i]->name, v[j]->name) == 0) {
                fprintf(stderr, "duplicate test name %s (%s and %s)\n", v[i]->name, v[j]->file, v[i]->file);
                return 2;
            }

    int passed = 0, failed = 0, matched = 0;
    for (size_t i = 0; i < n; i++) {
        struct tr_test *t = v[i];
        if (single && strcmp(single, t->name) != 0)
            continue;
        bool want = nfilters == 0;
        for (int f = 0; f < nfilters && !want; f++)
            want = strstr(t->name, filters[f]) || strstr(t->file, filters[f]);
        if (!want)
            continue;
        matched++;
        if (list) {
            printf("%s\n", t->name);
            continue;
        }
        if (run(t, verbose))
            passed++;
        else
            failed++;
    }
    free(v);
    free(filters);
    if (list)
        return 0;
    if (single && !matched) {
        fprintf(stderr, "no test named %s\n", single);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
