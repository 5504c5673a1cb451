/* consumer/lag.c — jobs not yet read, from librdkafka's statistics JSON
 * (STATISTICS.md: topics.<name>.partitions.<id> with ls_offset, hi_offset,
 * app_offset, committed_offset, desired). */
#include "consumer/lag.h"

#include <cJSON.h>

static int64_t num(const cJSON *obj, const char *name) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
        return cJSON_IsNumber(it) ? (int64_t)it->valuedouble : -1;
}

/* One partition's unread jobs; 0 when not assigned or not known. */
static int64_t partition_lag(const cJSON *p) {
        if (num(p, "partition") < 0 ||
            !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "desired")))
                return 0;
        int64_t end = num(p, "ls_offset");
        if (end < 0)
                end = num(p, "hi_offset");
        int64_t pos = num(p, "app_offset");
        if (pos < 0)
                pos = num(p, "committed_offset");
        return end >= 0 && pos >= 0 && end > pos ? end - pos : 0;
}

int64_t consumer_lag_parse(const char *json, size_t len, const char *topic) {
        cJSON *root         = cJSON_ParseWithLength(json, len);
        const cJSON *topics = cJSON_GetObjectItemCaseSensitive(root, "topics");
        int64_t sum         = -1;
        if (cJSON_IsObject(topics)) {
                const cJSON *t =
                    cJSON_GetObjectItemCaseSensitive(topics, topic);
                const cJSON *parts =
                    cJSON_GetObjectItemCaseSensitive(t, "partitions");
                const cJSON *p;
                sum = 0;
                cJSON_ArrayForEach(p, parts) sum += partition_lag(p);
        }
        cJSON_Delete(root);
        return sum;
}
