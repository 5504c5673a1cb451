/* tests/fuzz/fuzz_job.c — libFuzzer target for job_parse, the parser of
 * every jobs-topic message. An input whose first 80 bytes hold a newline is
 * key, newline, payload; any other input is a payload without a key. A
 * rejection must come with a non-empty reason; an accepted job must survive
 * job_to_json → job_parse unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const job_t *job) {
        char err[256];
        job_t *again = NULL;
        char *json   = job_to_json(job);
        if (!json)
                return; /* allocation failure */
        if (job_parse(json, strlen(json), NULL, 0, NULL, &again, err,
                      sizeof(err)) != 0 ||
            strcmp(again->job_id, job->job_id) != 0 ||
            strcmp(again->workspace, job->workspace) != 0 ||
            strcmp(again->app_slug, job->app_slug) != 0 ||
            strcmp(again->build_slug, job->build_slug) != 0 ||
            strcmp(again->attrs_json, job->attrs_json) != 0 ||
            again->follow != job->follow || again->log != job->log ||
            again->deadline_s != job->deadline_s)
                abort();
        job_destroy(again);
        free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char err[256]      = "";
        job_t *job         = NULL;
        const uint8_t *nl  = memchr(data, '\n', size < 80 ? size : 80);
        const uint8_t *key = nl ? data : NULL;
        size_t key_len     = nl ? (size_t)(nl - data) : 0;
        if (nl) {
                size -= key_len + 1;
                data = nl + 1;
        }
        int rc =
            job_parse(data, size, key, key_len, NULL, &job, err, sizeof(err));
        if (rc == 0) {
                if (!job)
                        abort();
                check_round_trip(job);
                job_destroy(job);
        } else if (job != NULL || (rc == JOB_ERR_INVALID && err[0] == '\0')) {
                abort();
        }
        return 0;
}
