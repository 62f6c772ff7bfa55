/* JSON writer. The output matches Go's encoding/json (which the upstream echo server uses) so
 * that a client comparing bytes, not just values, sees no difference: HTML-safe escaping of <, >
 * and &, U+2028/U+2029 escaped, invalid UTF-8 replaced by U+FFFD, and MarshalIndent's layout
 * (empty objects and arrays stay on one line). */
#include <string.h>

#include "echo.h"

void json_init(struct json *j, struct buf *b, int indent)
{
    memset(j, 0, sizeof *j);
    j->b = b;
    j->indent = indent;
}

static void newline(struct json *j)
{
    if (!j->indent)
        return;
    buf_addc(j->b, '\n');
    for (int i = 0; i < j->depth * j->indent; i++)
        buf_addc(j->b, ' ');
}

/* Before a value inside an array, or before a key inside an object. */
static void element(struct json *j)
{
    if (j->depth == 0)
        return;
    if (!j->first[j->depth])
        buf_addc(j->b, ',');
    j->first[j->depth] = false;
    newline(j);
}

static void open(struct json *j, char ch)
{
    buf_addc(j->b, ch);
    if (j->depth < (int)(sizeof j->first / sizeof j->first[0]) - 1)
        j->depth++;
    j->first[j->depth] = true;
}

static void close_(struct json *j, char ch)
{
    bool empty = j->first[j->depth];
    j->depth--;
    if (!empty)
        newline(j);
    buf_addc(j->b, ch);
}

void json_obj_begin(struct json *j)
{
    if (!j->after_key)
        element(j);
    j->after_key = false;
    open(j, '{');
}

void json_obj_end(struct json *j)
{
    close_(j, '}');
}

void json_arr_begin(struct json *j)
{
    if (!j->after_key)
        element(j);
    j->after_key = false;
    open(j, '[');
}

void json_arr_end(struct json *j)
{
    close_(j, ']');
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, min = 0x80, *cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, min = 0x800, *cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, *cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3F);
    }
    if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
        return 0;
    return len;
}

static void string(struct buf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    buf_addc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            unsigned cp;
            size_t len = utf8_len(s + i, n - i, &cp);
            if (!len) {
                buf_adds(b, "\\ufffd");
                i++;
            } else if (cp == 0x2028 || cp == 0x2029) {
                buf_printf(b, "\\u%04x", cp);
                i += len;
            } else {
                buf_add(b, s + i, len);
                i += len;
            }
            continue;
        }
        i++;
        switch (c) {
        case '"': buf_adds(b, "\\\""); break;
        case '\\': buf_adds(b, "\\\\"); break;
        case '\n': buf_adds(b, "\\n"); break;
        case '\r': buf_adds(b, "\\r"); break;
        case '\t': buf_adds(b, "\\t"); break;
        case '\b': buf_adds(b, "\\b"); break;
        case '\f': buf_adds(b, "\\f"); break;
        default:
            if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_add(b, esc, 6);
            } else {
                buf_addc(b, (char)c);
            }
        }
    }
    buf_addc(b, '"');
}

void json_key(struct json *j, const char *key)
{
    element(j);
    string(j->b, key, strlen(key));
    buf_adds(j->b, j->indent ? ": " : ":");
    j->after_key = true;
}

void json_str(struct json *j, const char *s, size_t n)
{
    if (!j->after_key)
        element(j);
    j->after_key = false;
    string(j->b, s ? s : "", s ? n : 0);
}

void json_cstr(struct json *j, const char *s)
{
    json_str(j, s, s ? strlen(s) : 0);
}

void json_bool(struct json *j, bool v)
{
    if (!j->after_key)
        element(j);
    j->after_key = false;
    buf_adds(j->b, v ? "true" : "false");
}

void json_kv(struct json *j, const char *key, const char *val)
{
    json_key(j, key);
    json_cstr(j, val);
}
