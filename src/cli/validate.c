/* torii validate FILE...: decode and validate manifests (no translation); print each problem as
 * FILE:LINE: KIND NS/NAME: PATH: MESSAGE. torii schema-dump: the schema tables as JSON. */
#include "cli/cli.h"
#include "api/kind.h"
#include "api/manifest.h"
#include "api/object.h"
#include "api/schema.h"
#include "base/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_MANIFEST (64u << 20)

struct vstate {
    int objects;
};

static const struct tr_obj *no_prev(void *ud, int kind, const char *ns, const char *name)
{
    return NULL;
}

static void took(void *ud, struct tr_obj *o)
{
    ((struct vstate *)ud)->objects++;
    tr_obj_release(o);
}

static void complain(void *ud, const char *line, int kind, const char *ns, const char *name)
{
    printf("%s\n", line);
}

int tr_cmd_validate(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: torii validate FILE...\n");
        return 2;
    }
    static const struct tr_manifest_ops ops = {no_prev, took, complain};
    int bad = 0;
    uint64_t seq = 1;
    for (int i = 1; i < argc; i++) {
        size_t len;
        char *text = tr_read_file(argv[i], MAX_MANIFEST, &len);
        if (!text) {
            printf("%s: %s\n", argv[i], strerror(errno));
            bad++;
            continue;
        }
        struct vstate st = {0};
        int problems = tr_manifest_load(text, len, argv[i], (int64_t)time(NULL), &seq, &ops, &st);
        bad += problems != 0;
        free(text);
    }
    return bad ? 1 : 0;
}

int tr_cmd_schema_dump(int argc, char **argv)
{
    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_buf_putc(&b, '{');
    for (int k = 0; k < TR_KIND__COUNT; k++) {
        const struct tr_kind_info *info = tr_kind_info((enum tr_kind)k);
        tr_buf_printf(&b, "%s\"%s\":", k ? "," : "", info->name);
        tr_schema_dump(&b, info->schema);
    }
    tr_buf_puts(&b, "}\n");
    fwrite(b.data, 1, b.len, stdout);
    tr_buf_dispose(&b);
    return 0;
}
