/* Error codes shared by every module: one X-macro table makes the enum and the strings. */
#ifndef TR_BASE_ERR_H
#define TR_BASE_ERR_H

#define TR_ERRORS(X)                                                                               \
    X(AGAIN, -1, "would block")                                                                    \
    X(LIMIT, -2, "limit exceeded")                                                                 \
    X(PROTO, -3, "protocol violation")                                                             \
    X(TIMEOUT, -4, "timed out")                                                                    \
    X(CLOSED, -5, "peer closed")                                                                   \
    X(INVAL, -6, "invalid input")                                                                  \
    X(IO, -7, "i/o error")                                                                         \
    X(NOENT, -8, "not found")

#define TR_ERR_ENUM(name, val, msg) TR_E##name = val,
enum tr_err { TR_OK = 0, TR_ERRORS(TR_ERR_ENUM) };
#undef TR_ERR_ENUM

/* Returns a static string describing err (never NULL). */
const char *tr_strerror(int err);
/* Returns the short name of err ("AGAIN", ...), or "OK"/"UNKNOWN". */
const char *tr_errname(int err);

#endif
