/* bitrise/webhooks.h — an app's outgoing webhooks on Bitrise (Owner/Admin
 * role on the app): list, create, update, delete, and recent deliveries.
 * Blocking calls for `bitmon webhooks` (cmd/webhooks.c), on top of
 * bitrise_req_api. Endpoints and models: swagger.json,
 * /apps/{app}/outgoing-webhooks[/{slug}[/delivery-items]].
 *
 * Secrets: the webhook's header values (which carry bitmon's secret) are
 * sent on create and update but never kept from an answer: a listed
 * webhook only says which header names it sets.
 *
 * Threads: any thread, one call at a time per result.
 */
#ifndef BITMON_BITRISE_WEBHOOKS_H
#define BITMON_BITRISE_WEBHOOKS_H

#include <stdbool.h>
#include <stddef.h>

#include "bitrise/client.h"

#define BITRISE_WEBHOOKS_MAX 100 /* webhooks of one app read at most */

typedef struct bitrise_webhook {
        char *slug, *url, *created_at; /* owned; NULL when absent */
        char events[128];              /* "build/triggered,build/finished" */
        char header_names[256];        /* "X-Bitmon-Workspace,..."; no values */
        bool bitmon_headers;           /* sets X-Bitmon-Webhook-Secret */
} bitrise_webhook_t;

typedef struct bitrise_delivery {
        char *slug, *created_at; /* owned; NULL when absent */
        long http_status;        /* response_http_status; 0 = none */
        long seconds;            /* response_seconds; -1 = absent */
        char build_slug[40];     /* from request_payload; "" unknown */
} bitrise_delivery_t;

typedef struct bitrise_webhook_list {
        bitrise_webhook_t *items;
        size_t n;
} bitrise_webhook_list_t;

typedef struct bitrise_delivery_list {
        bitrise_delivery_t *items;
        size_t n;
} bitrise_delivery_list_t;

/* GET the app's webhooks (following paging up to BITRISE_WEBHOOKS_MAX).
 * Returns res->cls; on OK *out holds them (free with
 * bitrise_webhook_list_release). res is released by the caller. */
bitrise_class_t bitrise_webhooks_list(const bitrise_client_t *c,
                                      const char *token, const char *app,
                                      bitrise_webhook_list_t *out,
                                      bitrise_result_t *res);

/* POST (slug NULL) or PUT (slug given) a webhook for `url` with the events
 * build/triggered and build/finished and the headers X-Bitmon-Workspace: ws,
 * X-Bitmon-Webhook-Secret: secret (also sent as the webhook's `secret`, which
 * Bitrise requires). On OK the webhook's slug is copied into slug_out
 * (size >= 64) when it is not NULL. */
bitrise_class_t bitrise_webhook_put(const bitrise_client_t *c,
                                    const char *token, const char *app,
                                    const char *slug, const char *url,
                                    const char *ws, const char *secret,
                                    char *slug_out, bitrise_result_t *res);

/* DELETE one webhook. */
bitrise_class_t bitrise_webhook_delete(const bitrise_client_t *c,
                                       const char *token, const char *app,
                                       const char *slug, bitrise_result_t *res);

/* GET the newest `limit` (1..50) delivery items of a webhook. */
bitrise_class_t bitrise_webhook_deliveries(const bitrise_client_t *c,
                                           const char *token, const char *app,
                                           const char *slug, int limit,
                                           bitrise_delivery_list_t *out,
                                           bitrise_result_t *res);

/* Parsers of the answers, exposed for tests (0, or -1 with errstr). */
int bitrise_webhook_list_parse(const char *body, size_t len,
                               bitrise_webhook_list_t *out, char **next,
                               char *errstr, size_t errstr_size);
int bitrise_delivery_list_parse(const char *body, size_t len,
                                bitrise_delivery_list_t *out, char *errstr,
                                size_t errstr_size);

void bitrise_webhook_list_release(bitrise_webhook_list_t *l);
void bitrise_delivery_list_release(bitrise_delivery_list_t *l);

#endif
