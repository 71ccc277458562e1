/*
 * pulse_log.h - levelled logging to stderr, text or JSON lines, thread-safe.
 * The level is checked before any formatting. Every line carries a subsystem tag.
 *   text: 2026-11-22T10:42:04.123Z INFO  [redis] connected to 127.0.0.1:6379
 *   json: {"ts":"2026-11-22T10:42:04.123Z","level":"info","tag":"redis","msg":"..."}
 * One write(2) per line, so lines from different threads never interleave.
 */
#ifndef PULSE_LOG_H
#define PULSE_LOG_H

typedef enum {
    PULSE_LOG_ERROR = 0,
    PULSE_LOG_WARN = 1,
    PULSE_LOG_INFO = 2,
    PULSE_LOG_DEBUG = 3,
} pulse_log_level;

typedef enum { PULSE_LOG_TEXT = 0, PULSE_LOG_JSON = 1 } pulse_log_format;

extern pulse_log_level pulse_log_current_level;

/* Set before threads start. */
void pulse_log_set_level(pulse_log_level level);
void pulse_log_set_format(pulse_log_format fmt);
/* An identity added to each line (e.g. the node id); copied. NULL clears. */
void pulse_log_set_ident(const char *ident);
/* "error|warn|info|debug" -> 0, or PULSE_EINVAL. */
int pulse_log_level_parse(const char *s, pulse_log_level *out);
int pulse_log_format_parse(const char *s, pulse_log_format *out);

void pulse_log_write(pulse_log_level level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A log site that may fire in a storm (accept failures, refused input from Redis)
 * logs at most once per interval: keep one zeroed pulse_log_limit per site (static);
 * pulse_log_limit_take says whether this line may go out now and how many were held
 * back since the last one that did. Lock-free; any thread. */
typedef struct {
    _Atomic long long next_ms;
    _Atomic unsigned long long held;
} pulse_log_limit;
int pulse_log_limit_take(pulse_log_limit *lim, int interval_ms, unsigned long long *held);

/* PULSE_LOG through a pulse_log_limit; fmt must be a literal with at least one
 * argument; the line ends with "(N more like this held back)" when N > 0. */
#define PULSE_LOG_LIMITED(lim, interval_ms, level, tag, fmt, ...)                                   \
    do {                                                                                      \
        unsigned long long held_;                                                             \
        if ((level) <= pulse_log_current_level && pulse_log_limit_take((lim), (interval_ms), &held_)) { \
            if (held_)                                                                        \
                pulse_log_write((level), (tag), fmt " (%llu more like this held back)", __VA_ARGS__, held_); \
            else                                                                              \
                pulse_log_write((level), (tag), fmt, __VA_ARGS__);                            \
        }                                                                                     \
    } while (0)

#define PULSE_LOG(level, tag, ...)                                   \
    do {                                                             \
        if ((level) <= pulse_log_current_level)                      \
            pulse_log_write((level), (tag), __VA_ARGS__);            \
    } while (0)
#define PLOG_ERR(tag, ...) PULSE_LOG(PULSE_LOG_ERROR, tag, __VA_ARGS__)
#define PLOG_WARN(tag, ...) PULSE_LOG(PULSE_LOG_WARN, tag, __VA_ARGS__)
#define PLOG_INFO(tag, ...) PULSE_LOG(PULSE_LOG_INFO, tag, __VA_ARGS__)
#define PLOG_DEBUG(tag, ...) PULSE_LOG(PULSE_LOG_DEBUG, tag, __VA_ARGS__)

#endif
