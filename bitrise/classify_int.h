/* bitrise/classify_int.h — internals shared by classify.c and client.c:
 * the response headers we care about and the full classifier. */
#ifndef BITMON_BITRISE_CLASSIFY_INT_H
#define BITMON_BITRISE_CLASSIFY_INT_H

#include "bitrise/client.h"

#define BITRISE_HDR_VALUE_MAX 96

/* The last response's interesting headers (values trimmed, "" = absent). */
typedef struct bitrise_hdrs {
        char retry_after[BITRISE_HDR_VALUE_MAX];
        char rl_limit[BITRISE_HDR_VALUE_MAX];
        char rl_remaining[BITRISE_HDR_VALUE_MAX];
        char rl_reset[BITRISE_HDR_VALUE_MAX];
        char content_type[BITRISE_HDR_VALUE_MAX];
        char date[BITRISE_HDR_VALUE_MAX];
} bitrise_hdrs_t;

void bitrise_hdrs_reset(bitrise_hdrs_t *h);
/* One header line as libcurl delivers it (status lines reset the set). */
void bitrise_hdrs_line(bitrise_hdrs_t *h, const char *line, size_t n);

/* A short description of an error body: "\"Not found\"", "HTML page from a
 * gateway", "empty body", "body is not JSON (12 bytes)". */
void bitrise_body_describe(const char *content_type, const char *body,
                           size_t len, char *out, size_t size);

bitrise_class_t bitrise_classify_ex(CURLcode code, long http_status,
                                    const bitrise_hdrs_t *h, const char *body,
                                    size_t body_len, int body_too_large,
                                    size_t body_cap, int64_t now_ms,
                                    const char *what, bitrise_result_t *res);

#endif
