/* common/log.c — formatting and the single write(2) per line. */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

log_level_t log_min_level   = LOG_LVL_INFO;
static log_format_t log_fmt = LOG_FMT_AUTO;
static int log_fd           = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error",
                                          "off"};

void log_setup(log_level_t level, log_format_t format, int fd) {
        log_min_level = level;
        log_fd        = fd;
        if (format == LOG_FMT_AUTO)
                format = isatty(fd) ? LOG_FMT_TEXT : LOG_FMT_JSON;
        log_fmt = format;
}

int log_level_parse(const char *s, log_level_t *out) {
        for (int i = 0; i <= LOG_LVL_OFF; i++) {
                if (strcmp(s, level_names[i]) == 0) {
                        *out = (log_level_t)i;
                        return 0;
                }
        }
        if (strcmp(s, "warning") == 0) {
                *out = LOG_LVL_WARN;
                return 0;
        }
        return -1;
}

int log_format_parse(const char *s, log_format_t *out) {
        if (strcmp(s, "auto") == 0)
                *out = LOG_FMT_AUTO;
        else if (strcmp(s, "text") == 0)
                *out = LOG_FMT_TEXT;
        else if (strcmp(s, "json") == 0)
                *out = LOG_FMT_JSON;
        else
                return -1;
        return 0;
}

const char *log_errno_str(int errnum, char *buf, size_t size) {
        /* GNU strerror_r may return a static string instead of filling buf. */
        const char *s = strerror_r(errnum, buf, size);
        return s ? s : "unknown error";
}

/* Appends s to out[*pos..] as JSON string content, escaped; truncates. */
static void json_escape(char *out, size_t cap, size_t *pos, const char *s,
                        size_t n) {
        for (size_t i = 0; i < n && *pos + 7 < cap; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '"' || c == '\\') {
                        out[(*pos)++] = '\\';
                        out[(*pos)++] = (char)c;
                } else if (c < 0x20) {
                        *pos += (size_t)snprintf(out + *pos, cap - *pos,
                                                 "\\u%04x", c);
                } else {
                        out[(*pos)++] = (char)c;
                }
        }
}

static void append(char *out, size_t cap, size_t *pos, const char *s) {
        size_t n = strlen(s);
        if (*pos + 1 >= cap)
                return;
        if (n > cap - *pos - 1)
                n = cap - *pos - 1;
        memcpy(out + *pos, s, n);
        *pos += n;
}

/* Finds where the trailing run of key=value words starts in msg. Values
 * without spaces only; keys are [a-z0-9_.]. Returns strlen(msg) if none. */
static size_t kv_start(const char *msg, size_t len) {
        size_t start = len, i = len;
        while (i > 0) {
                size_t end = i;
                while (i > 0 && msg[i - 1] != ' ')
                        i--;
                const char *w = msg + i, *eq = memchr(w, '=', end - i);
                if (!eq || eq == w)
                        break;
                for (const char *k = w; k < eq; k++)
                        if (!((*k >= 'a' && *k <= 'z') ||
                              (*k >= '0' && *k <= '9') || *k == '_' ||
                              *k == '.'))
                                return start;
                start = i;
                if (i == 0)
                        break;
                i--; /* the space */
        }
        return start;
}

void log_write(log_level_t level, const char *fac, const char *fmt, ...) {
        char msg[2048], line[4096], ts[64];
        size_t pos = 0;
        va_list ap;
        int saved_errno = errno;

        va_start(ap, fmt);
        int mlen = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (mlen < 0)
                mlen = 0;
        if ((size_t)mlen >= sizeof(msg))
                mlen = sizeof(msg) - 1;

        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));

        if (log_fmt != LOG_FMT_JSON) {
                pos = (size_t)snprintf(line, sizeof(line), "%s %-5s %-8s %s",
                                       ts, level_names[level], fac, msg);
                if (pos >= sizeof(line) - 1)
                        pos = sizeof(line) - 2;
        } else {
                size_t kv   = kv_start(msg, (size_t)mlen);
                size_t mend = kv;
                while (mend > 0 && msg[mend - 1] == ' ')
                        mend--;
                append(line, sizeof(line), &pos, "{\"ts\":\"");
                append(line, sizeof(line), &pos, ts);
                append(line, sizeof(line), &pos, "\",\"level\":\"");
                append(line, sizeof(line), &pos, level_names[level]);
                append(line, sizeof(line), &pos, "\",\"fac\":\"");
                json_escape(line, sizeof(line), &pos, fac, strlen(fac));
                append(line, sizeof(line), &pos, "\",\"msg\":\"");
                json_escape(line, sizeof(line), &pos, msg, mend);
                append(line, sizeof(line), &pos, "\"");
                for (size_t i = kv; i < (size_t)mlen;) {
                        size_t e = i;
                        while (e < (size_t)mlen && msg[e] != ' ')
                                e++;
                        const char *eq = memchr(msg + i, '=', e - i);
                        append(line, sizeof(line), &pos, ",\"");
                        json_escape(line, sizeof(line), &pos, msg + i,
                                    (size_t)(eq - (msg + i)));
                        append(line, sizeof(line), &pos, "\":\"");
                        json_escape(line, sizeof(line), &pos, eq + 1,
                                    (size_t)(msg + e - eq - 1));
                        append(line, sizeof(line), &pos, "\"");
                        i = e + 1;
                }
                append(line, sizeof(line), &pos, "}");
        }
        line[pos++] = '\n';
        ssize_t r   = write(log_fd, line, pos);
        (void)r;
        errno = saved_errno;
}
