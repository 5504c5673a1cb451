/* common/log.h — the one logger.
 *
 * One line per call, written with a single write(2) so lines from different
 * threads never interleave. JSON lines when stderr is not a terminal (or
 * log.format=json), readable text on a terminal. Each line carries a facility
 * (the module) and key=value context. The level is checked before the
 * arguments are evaluated. Never pass a token or a full payload at info.
 *
 * Thread-safe; may be called from librdkafka's and libcurl's threads.
 */
#ifndef BITMON_COMMON_LOG_H
#define BITMON_COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
        LOG_LVL_DEBUG = 0,
        LOG_LVL_INFO  = 1,
        LOG_LVL_WARN  = 2,
        LOG_LVL_ERROR = 3,
        LOG_LVL_OFF   = 4,
} log_level_t;

typedef enum {
        LOG_FMT_AUTO = 0, /* text on a terminal, JSON otherwise */
        LOG_FMT_TEXT,
        LOG_FMT_JSON,
} log_format_t;

extern log_level_t log_min_level;

/* Configure once from main before threads start (also safe later: the values
 * are plain words read racily, which only affects a line or two). */
void log_setup(log_level_t level, log_format_t format, int fd);

/* Parses "debug", "info", "warn", "error", "off"; returns -1 when unknown. */
int log_level_parse(const char *s, log_level_t *out);
int log_format_parse(const char *s, log_format_t *out);

/* Writes one line. `fac` is the facility ("bitrise", "cache", ...); `fmt` is
 * the message, printf-style. Context goes into the message as key=value pairs;
 * in JSON mode pairs at the end of the message ("... key=value key2=v") are
 * also emitted as JSON fields. Use the LOG_* macros instead. */
void log_write(log_level_t level, const char *fac, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_AT(lvl, fac, ...)                                                  \
        do {                                                                   \
                if ((lvl) >= log_min_level)                                    \
                        log_write((lvl), (fac), __VA_ARGS__);                  \
        } while (0)

#define LOG_DEBUG(fac, ...) LOG_AT(LOG_LVL_DEBUG, fac, __VA_ARGS__)
#define LOG_INFO(fac, ...)  LOG_AT(LOG_LVL_INFO, fac, __VA_ARGS__)
#define LOG_WARN(fac, ...)  LOG_AT(LOG_LVL_WARN, fac, __VA_ARGS__)
#define LOG_ERROR(fac, ...) LOG_AT(LOG_LVL_ERROR, fac, __VA_ARGS__)

/* strerror_r that always returns a usable string in buf. */
const char *log_errno_str(int errnum, char *buf, size_t size);

#endif
