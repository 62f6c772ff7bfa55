#include "api/kind.h"
#include "api/schema.h"

#include <string.h>

#define INFO(id, kind, group, versions, ns) {TR_KIND_##id, #kind, group, versions, ns, &tr_schema_##kind},
static const struct tr_kind_info infos[] = {TR_KINDS(INFO)};
#undef INFO

const struct tr_kind_info *tr_kind_info(enum tr_kind k)
{
    return &infos[k];
}

int tr_kind_by_name(const char *name)
{
    for (int i = 0; i < TR_KIND__COUNT; i++)
        if (strcmp(infos[i].name, name) == 0)
            return i;
    return -1;
}

static bool has_word(const char *list, const char *word, size_t len)
{
    const char *p = list;
    while (*p) {
        const char *sp = strchr(p, ' ');
        size_t l = sp ? (size_t)(sp - p) : strlen(p);
        if (l == len && memcmp(p, word, len) == 0)
            return true;
        if (!sp)
            break;
        p = sp + 1;
    }
    return false;
}

int tr_kind_lookup(const char *api_version, const char *kind)
{
    if (!api_version || !kind)
        return -1;
    const char *slash = strchr(api_version, '/');
    size_t glen = slash ? (size_t)(slash - api_version) : 0;
    const char *version = slash ? slash + 1 : api_version;
    for (int i = 0; i < TR_KIND__COUNT; i++) {
        const struct tr_kind_info *k = &infos[i];
        if (strcmp(k->name, kind) != 0)
            continue;
        if (strlen(k->group) != glen || memcmp(k->group, api_version, glen) != 0)
            continue;
        return has_word(k->versions, version, strlen(version)) ? i : -2;
    }
    return -1;
}
