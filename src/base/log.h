/* Logging: logfmt lines on stderr (ts=... level=... msg=...). Debug sits behind one cheap check. */
#ifndef TR_BASE_LOG_H
#define TR_BASE_LOG_H

enum tr_log_level { TR_LOG_DEBUG, TR_LOG_INFO, TR_LOG_WARN, TR_LOG_ERROR, TR_LOG_OFF };

extern enum tr_log_level tr_log_min;

/* Sets the lowest level written; parses "debug|info|warn|error|off". Returns 0 or -1. */
int tr_log_set_level(const char *name);
/* Writes one line: level, then fmt as msg="...". Thread-safe (one write(2) per line). */
void tr_log(enum tr_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tr_log_debug(...)                                                                          \
    do {                                                                                           \
        if (tr_log_min <= TR_LOG_DEBUG)                                                            \
            tr_log(TR_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)
#define tr_log_info(...) tr_log(TR_LOG_INFO, __VA_ARGS__)
#define tr_log_warn(...) tr_log(TR_LOG_WARN, __VA_ARGS__)
#define tr_log_error(...) tr_log(TR_LOG_ERROR, __VA_ARGS__)

#endif
