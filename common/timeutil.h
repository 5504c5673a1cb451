/* common/timeutil.h — clocks and RFC 3339 times.
 *
 * Bitrise sends times as RFC 3339 UTC with or without fractional seconds,
 * `null`, or the zero time `0001-01-01T00:00:00Z` meaning "none". We carry
 * times as int64 milliseconds since the Unix epoch; 0 means "no time".
 * All functions are thread-safe.
 */
#ifndef BITMON_COMMON_TIMEUTIL_H
#define BITMON_COMMON_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds on the monotonic clock (for timeouts and intervals). */
int64_t time_mono_ms(void);

/* Milliseconds since the Unix epoch on the wall clock. */
int64_t time_wall_ms(void);

/* Parses an RFC 3339 time ("2026-04-03T17:28:24Z", "...24.123Z",
 * "...24+02:00"). The zero time (year 1) yields *out_ms = 0. Returns 0, or -1
 * when s is not a valid time (then *out_ms is untouched). */
int time_rfc3339_parse(const char *s, int64_t *out_ms);

/* Formats ms since the epoch as "2026-04-03T17:28:24Z" (or with ".123" when
 * with_ms and the value has a fraction). Returns buf. size >= 32. */
char *time_rfc3339_format(int64_t ms, int with_ms, char *buf, size_t size);

/* Parses an HTTP date (IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT").
 * Returns 0 and ms since the epoch, or -1. */
int time_http_date_parse(const char *s, int64_t *out_ms);

#endif
