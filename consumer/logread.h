/* consumer/logread.h — reads a copy of a build log back from the logs topic
 * (the reference a `finished` result's log.full gives, producer/logseg.h)
 * and checks it: every segment at its offset, in order, of this build and
 * this copy, then the count, the bytes and the SHA-256 of the whole.
 * `bitmon log` (cmd/log.c) and the tests use it.
 *
 * The segments stream to the caller's writer as they arrive (never the
 * whole log in memory); a check that fails after some were written makes
 * logread_fetch fail: what was written is then not the log.
 *
 * Threads: any one thread; it owns the Kafka consumer it creates.
 */
#ifndef BITMON_CONSUMER_LOGREAD_H
#define BITMON_CONSUMER_LOGREAD_H

#include <stddef.h>

#include "producer/kconf.h"
#include "producer/logseg.h"

#define LOGREAD_OK      0
#define LOGREAD_ERR     (-1) /* Kafka unreachable, bad arguments, write */
#define LOGREAD_MISSING (-2) /* the topic or partition does not exist */
#define LOGREAD_EXPIRED (-3) /* retention deleted (some of) its segments */
#define LOGREAD_INCOMPLETE                                                     \
        (-4)                 /* a segment is not there (aborted, not yet       \
                              * committed, another copy's) */
#define LOGREAD_CORRUPT (-5) /* count, bytes or sha256 differ */

typedef struct logread_opts {
        const char *bootstrap;
        kconf_pairs_t kafka;  /* kafka.* passthrough */
        const char *key;      /* "<app>/<build>": segments must carry it;
                               * NULL = not checked */
        int timeout_ms;       /* without progress; 0 = 15000 */
        int read_uncommitted; /* 1: isolation.level=read_uncommitted */
} logread_opts_t;

/* Writes n bytes of the log; returns 0, or -1 to stop (LOGREAD_ERR). */
typedef int logread_write_fn(void *arg, const void *data, size_t n);

/* Reads ref's segments and hands them to out in order. LOGREAD_OK or one
 * of the errors above, with what to do in errstr. */
int logread_fetch(const logread_opts_t *opts, const logseg_ref_t *ref,
                  logread_write_fn *out, void *arg, char *errstr,
                  size_t errstr_size);

#endif
