#include "proxy/accesslog.h"
#include "base/buf.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;

int tr_accesslog_open(const char *path)
{
    if (strcmp(path, "-") == 0) {
        log_fd = STDOUT_FILENO;
        return 0;
    }
    log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return log_fd < 0 ? -1 : 0;
}

void tr_accesslog_close(void)
{
    if (log_fd > STDERR_FILENO)
        close(log_fd);
    log_fd = -1;
}

bool tr_accesslog_enabled(void)
{
    return log_fd >= 0;
}

static void field(struct tr_buf *b, const char *name, const char *v)
{
    if (!v)
        return;
    tr_buf_printf(b, ",\"%s\":", name);
    tr_json_quote(b, v, strlen(v));
}

void tr_accesslog_write(const struct tr_accesslog_entry *e)
{
    if (log_fd < 0)
        return;
    char stack[2048];
    struct tr_buf b = {.data = NULL};
    tr_buf_init(&b, 64 * 1024);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stack, sizeof(stack), "%Y-%m-%dT%H:%M:%S", &tm);
    tr_buf_printf(&b, "{\"time\":\"%s.%03ldZ\"", stack, ts.tv_nsec / 1000000);
    field(&b, "client", e->client);
    field(&b, "method", e->method);
    field(&b, "host", e->host);
    field(&b, "path", e->target);
    tr_buf_printf(&b, ",\"status\":%d,\"duration_ms\":%.3f,\"bytes_sent\":%" PRIu64, e->status,
                  (double)e->duration_us / 1000.0, e->bytes_out);
    field(&b, "listener", e->listener);
    field(&b, "route", e->route);
    if (e->rule >= 0)
        tr_buf_printf(&b, ",\"rule\":%d", e->rule);
    field(&b, "backend", e->backend);
    field(&b, "upstream", e->upstream);
    tr_buf_puts(&b, "}\n");
    ssize_t w = write(log_fd, b.data, b.len);
    (void)w;
    tr_buf_dispose(&b);
}
