/* tests/support/swagger_check.h — check JSON values against a Swagger 2.0 spec.
 *
 * A small validator for the subset the Bitrise spec uses: `type` (object,
 * array, string, integer, number, boolean), `properties`, `required`,
 * `items`, `$ref` to #/definitions/..., and `allOf`. A mismatch is reported
 * with the JSON path of the offending value, e.g.
 * "$.data[2].status: expected integer, got string".
 *
 * Bitrise sends `null` for many fields the spec types as string (Swagger 2.0
 * has no nullable), so nulls are accepted unless SWAGGER_NO_NULL is given.
 * SWAGGER_STRICT also rejects properties the definition does not list.
 *
 *   swagger_t *sw = swagger_load(path_to_swagger_json, err, sizeof(err));
 *   swagger_check_response(sw, "/apps/{app-slug}/builds/{build-slug}", "get",
 * 200, body, 0, err, sizeof(err)); swagger_destroy(sw);
 *
 * Not thread-safe per handle (read-only after load; concurrent checks on one
 * handle are fine since nothing is modified).
 */
#ifndef BITMON_TESTS_SUPPORT_SWAGGER_CHECK_H
#define BITMON_TESTS_SUPPORT_SWAGGER_CHECK_H

#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct swagger swagger_t;

#define SWAGGER_NO_NULL 1 /* null is a mismatch */
#define SWAGGER_STRICT  2 /* unknown object properties are mismatches */

/* Loads a Swagger 2.0 JSON file. Caller frees with swagger_destroy. */
swagger_t *swagger_load(const char *path, char *errstr, size_t errstr_size);
void swagger_destroy(swagger_t *sw);

/* The schema #/definitions/<name>, or NULL; borrowed until swagger_destroy. */
const cJSON *swagger_definition(const swagger_t *sw, const char *name);

/* Validates value against #/definitions/<name>. 0 ok; -1 with the path of
 * the first mismatch in errstr. */
int swagger_check_definition(const swagger_t *sw, const char *name,
                             const cJSON *value, int flags, char *errstr,
                             size_t errstr_size);

/* Validates value against the schema of the response `status` of
 * paths.<path>.<method> (e.g. "/apps", "get", 200). -1 also when the spec
 * defines no schema for it. */
int swagger_check_response(const swagger_t *sw, const char *path,
                           const char *method, int status, const cJSON *value,
                           int flags, char *errstr, size_t errstr_size);

#endif
