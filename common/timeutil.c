/* common/timeutil.c — clocks, RFC 3339 and HTTP dates. */
#include "common/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t time_mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_wall_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

/* Reads exactly n digits at *p. */
static int digits(const char **p, int n, int *out) {
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (!isdigit((unsigned char)(*p)[i]))
                        return -1;
                v = v * 10 + ((*p)[i] - '0');
        }
        *p += n;
        *out = v;
        return 0;
}

static int expect(const char **p, char c) {
        if (**p != c)
                return -1;
        (*p)++;
        return 0;
}

int time_rfc3339_parse(const char *s, int64_t *out_ms) {
        int y, mo, d, h, mi, se, ms = 0;
        const char *p = s;

        if (!s || digits(&p, 4, &y) || expect(&p, '-') || digits(&p, 2, &mo) ||
            expect(&p, '-') || digits(&p, 2, &d))
                return -1;
        if (*p != 'T' && *p != 't' && *p != ' ')
                return -1;
        p++;
        if (digits(&p, 2, &h) || expect(&p, ':') || digits(&p, 2, &mi) ||
            expect(&p, ':') || digits(&p, 2, &se))
                return -1;
        if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
            se > 60)
                return -1;
        if (*p == '.') {
                int n = 0;
                p++;
                if (!isdigit((unsigned char)*p))
                        return -1;
                for (; isdigit((unsigned char)*p); p++, n++)
                        if (n < 3)
                                ms = ms * 10 + (*p - '0');
                for (; n < 3; n++)
                        ms *= 10;
        }
        int offset_min = 0;
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                int sign = *p == '-' ? -1 : 1, oh, om;
                p++;
                if (digits(&p, 2, &oh) || expect(&p, ':') || digits(&p, 2, &om))
                        return -1;
                offset_min = sign * (oh * 60 + om);
        } else {
                return -1;
        }
        if (*p != '\0')
                return -1;
        if (y == 1) { /* Go's zero time: "no time" */
                *out_ms = 0;
                return 0;
        }
        int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
                       se - (int64_t)offset_min * 60;
        *out_ms = secs * 1000 + ms;
        return 0;
}

char *time_rfc3339_format(int64_t ms, int with_ms, char *buf, size_t size) {
        time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        int frac    = (int)(ms - (int64_t)secs * 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        if (with_ms && frac)
                snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
        else
                snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec);
        return buf;
}

int time_http_date_parse(const char *s, int64_t *out_ms) {
        static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
        char wday[4], mon[4], zone[4];
        int d, y, h, mi, se;
        if (!s || sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d %3s", wday, &d, mon,
                         &y, &h, &mi, &se, zone) != 8)
                return -1;
        const char *m = strstr(months, mon);
        if (!m || (m - months) % 3 || strcmp(zone, "GMT") != 0)
                return -1;
        int mo = (int)(m - months) / 3 + 1;
        if (d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
                return -1;
        *out_ms =
            (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) *
            1000;
        return 0;
}
