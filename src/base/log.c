#include "base/log.h"
#include "base/buf.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum tr_log_level tr_log_min = TR_LOG_INFO;

static const char *const names[] = {"debug", "info", "warn", "error", "off"};

int tr_log_set_level(const char *name)
{
    for (int i = 0; i <= TR_LOG_OFF; i++) {
        if (strcmp(name, names[i]) == 0) {
            tr_log_min = (enum tr_log_level)i;
            return 0;
        }
    }
    return -1;
}

void tr_log(enum tr_log_level lvl, const char *fmt, ...)
{
    if (lvl < tr_log_min)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);

    struct tr_buf b;
    tr_buf_init(&b, 0);
    tr_buf_printf(&b, "ts=%s.%03ldZ level=%s msg=\"", when, ts.tv_nsec / 1000000, names[lvl]);
    for (const char *p = msg; *p; p++) {
        if (*p == '"' || *p == '\\')
            tr_buf_putc(&b, '\\');
        if (*p == '\n') {
            tr_buf_puts(&b, "\\n");
            continue;
        }
        tr_buf_putc(&b, *p);
    }
    tr_buf_puts(&b, "\"\n");
    ssize_t w = write(STDERR_FILENO, b.data, b.len);
    (void)w;
    tr_buf_dispose(&b);
}

bool tr_log_limit_pass(struct tr_log_limit *lim, uint64_t interval_ms, uint64_t *suppressed)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    uint64_t next = atomic_load(&lim->next_ms);
    /* One caller wins the slot; the others, this interval, only count. */
    if (now < next || !atomic_compare_exchange_strong(&lim->next_ms, &next, now + interval_ms)) {
        atomic_fetch_add(&lim->suppressed, 1);
        return false;
    }
    *suppressed = atomic_exchange(&lim->suppressed, 0);
    return true;
}
