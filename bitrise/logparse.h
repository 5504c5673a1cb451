/* bitrise/logparse.h — streaming parser for Bitrise build logs.
 *
 * Feed the raw log in chunks of any size (split anywhere, even inside an
 * escape sequence or a UTF-8 character); the parser strips ANSI escapes,
 * counts bytes and lines, keeps the last N lines, follows the step boxes and
 * the "bitrise summary" table, and reports the failed steps with their exit
 * code, runtime and last output lines. Memory is bounded by the options,
 * whatever the size of the log. A parser belongs to one thread at a time.
 */
#ifndef BITMON_BITRISE_LOGPARSE_H
#define BITMON_BITRISE_LOGPARSE_H

#include <stddef.h>
#include <stdint.h>

typedef struct logparse_opts {
        uint64_t max_bytes;      /* stop accepting after this many raw bytes
                                  * (then truncated = 1); 0 = 512 MiB */
        size_t tail_lines;       /* last lines of the whole log; 0 = 100 */
        size_t step_lines;       /* last lines per failed step; 0 = 20 */
        size_t max_line_bytes;   /* longer lines are cut; 0 = 2048 */
        size_t max_failed_steps; /* 0 = 32 */
} logparse_opts_t;

typedef struct logparse_step {
        char *title;       /* as in the step header/summary row, without the
                            * "(exit code: N)" suffix */
        char *step_id;     /* "| id: x |" line, NULL when not seen */
        int index;         /* the (N) of the header, -1 when unknown */
        int exit_code;     /* -1 when unknown */
        double duration_s; /* -1 when unknown */
        int interrupted;   /* the log ended inside this step (aborted or
                            * timed-out build: no footer, no summary);
                            * never set when our byte cap cut the log */
        char **last_lines; /* oldest first, ANSI stripped */
        size_t nlast;
} logparse_step_t;

typedef struct logparse logparse_t;

/* opts may be NULL for the defaults. NULL on allocation failure. */
logparse_t *logparse_new(const logparse_opts_t *opts);
void logparse_destroy(logparse_t *lp);

#define LOGPARSE_FULL 1 /* the byte cap is reached; stop feeding */

/* Feeds raw bytes. Returns 0, LOGPARSE_FULL (bytes past the cap were
 * dropped and truncated is set) or -1 on allocation failure. Not after
 * logparse_finish. */
int logparse_feed(logparse_t *lp, const void *data, size_t len);

/* Ends the stream: flushes a last line without newline, closes an open step
 * as interrupted, computes the sha256. Idempotent. The accessors below give
 * final values only after this call. */
int logparse_finish(logparse_t *lp);

uint64_t logparse_bytes(const logparse_t *lp); /* raw bytes accepted */
/* Raw bytes it still accepts before its byte cap. */
uint64_t logparse_room(const logparse_t *lp);
uint64_t logparse_lines(const logparse_t *lp);
int logparse_truncated(const logparse_t *lp);
/* sha256 of the accepted raw bytes, 64 lower-case hex digits. */
const char *logparse_sha256(const logparse_t *lp);

/* Failed steps in log order (borrowed until destroy). Steps that failed but
 * were allowed to fail are not listed. */
size_t logparse_failed_count(const logparse_t *lp);
const logparse_step_t *logparse_failed_step(const logparse_t *lp, size_t i);

/* Number of steps seen in the summary table (0 when there was none), the
 * build result line ("Bitrise build failed/successful"): 1 success,
 * 0 failed, -1 not seen. */
size_t logparse_summary_steps(const logparse_t *lp);
int logparse_build_ok(const logparse_t *lp);

/* The last lines of the whole log, oldest first: *n set, array borrowed until
 * destroy. */
const char *const *logparse_tail(const logparse_t *lp, size_t *n);

#endif
