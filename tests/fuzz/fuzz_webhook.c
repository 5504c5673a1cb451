/* tests/fuzz/fuzz_webhook.c — libFuzzer target for webhook_payload_parse,
 * the parser of every Bitrise delivery the intake accepts. An input whose
 * first 40 bytes hold a newline is event header, newline, body; any other
 * input is a body without the header. A rejection must come with a reason;
 * an accepted delivery must have valid slugs and become a hint that
 * job_parse reads back unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webhook/payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_hint(const webhook_payload_t *p) {
        char buf[512], err[256];
        job_t *job = NULL;
        if (!job_slug_valid(p->app_slug) || !job_slug_valid(p->build_slug) ||
            (p->hint != JOB_HINT_TRIGGERED && p->hint != JOB_HINT_FINISHED) ||
            p->build_status < -1 || p->build_status > 100 ||
            p->build_number < -1 || strlen(p->workflow) > WEBHOOK_WORKFLOW_MAX)
                abort();
        int n = job_hint_to_json(buf, sizeof(buf), p->hint, "ws", p->app_slug,
                                 p->build_slug, p->build_status, 1);
        if (n < 0 || job_parse(buf, (size_t)n, NULL, 0, NULL, &job, err,
                               sizeof(err)) != 0)
                abort();
        if (job->kind != JOB_KIND_HINT || job->hint != p->hint ||
            strcmp(job->app_slug, p->app_slug) != 0 ||
            strcmp(job->build_slug, p->build_slug) != 0 ||
            job->hint_build_status != p->build_status)
                abort();
        job_destroy(job);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char event[48], err[256] = "";
        webhook_payload_t p;
        const uint8_t *nl = memchr(data, '\n', size < 40 ? size : 40);
        const char *ev    = NULL;
        if (nl) {
                size_t n = (size_t)(nl - data);
                memcpy(event, data, n);
                event[n] = '\0';
                ev       = event;
                size -= n + 1;
                data = nl + 1;
        }
        int rc = webhook_payload_parse(ev, data, size, &p, err, sizeof(err));
        if (rc == 0)
                check_hint(&p);
        else if ((rc != WEBHOOK_E_IGNORED && rc != WEBHOOK_E_INVALID) ||
                 err[0] == '\0' || p.app_slug[0] || p.build_slug[0])
                abort();
        return 0;
}
