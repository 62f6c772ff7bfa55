/* Logging: logfmt lines on stderr (ts=... level=... msg=...). Debug sits behind one cheap check. */
#ifndef TR_BASE_LOG_H
#define TR_BASE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum tr_log_level { TR_LOG_DEBUG, TR_LOG_INFO, TR_LOG_WARN, TR_LOG_ERROR, TR_LOG_OFF };

extern enum tr_log_level tr_log_min;

/* Sets the lowest level written; parses "debug|info|warn|error|off". Returns 0 or -1. */
int tr_log_set_level(const char *name);
/* Writes one line: level, then fmt as msg="...". Thread-safe (one write(2) per line). */
void tr_log(enum tr_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A gate for a warning that can repeat as fast as events arrive (accept failing for want of
 * file descriptors: one line per attempt would flood the log). Zero-initialise it; any thread. */
struct tr_log_limit {
    _Atomic uint64_t next_ms;    /* private: monotonic time before which lines are held back */
    _Atomic uint64_t suppressed; /* private: calls held back since the last line */
};

/* Returns true when a line may be written now, at most once per interval_ms, and sets
 * *suppressed to the number of calls held back since the previous line (the caller reports
 * it); returns false, counting the call, otherwise. */
bool tr_log_limit_pass(struct tr_log_limit *lim, uint64_t interval_ms, uint64_t *suppressed);

#define tr_log_debug(...)                                                                          \
    do {                                                                                           \
        if (tr_log_min <= TR_LOG_DEBUG)                                                            \
            tr_log(TR_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)
#define tr_log_info(...) tr_log(TR_LOG_INFO, __VA_ARGS__)
#define tr_log_warn(...) tr_log(TR_LOG_WARN, __VA_ARGS__)
#define tr_log_error(...) tr_log(TR_LOG_ERROR, __VA_ARGS__)

#endif
