/* tests/support/swagger_check.c — a Swagger 2.0 schema checker for tests. */
#include "tests/support/swagger_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct swagger {
        cJSON *root;
        const cJSON *defs;
};

swagger_t *swagger_load(const char *path, char *errstr, size_t errstr_size) {
        FILE *f       = fopen(path, "rb");
        swagger_t *sw = NULL;
        char *data    = NULL;
        long len;
        const char *end = NULL;
        if (!f) {
                snprintf(errstr, errstr_size, "cannot open %s", path);
                return NULL;
        }
        if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
            len > (64L << 20) || fseek(f, 0, SEEK_SET) != 0 ||
            !(data = malloc((size_t)len + 1)) ||
            fread(data, 1, (size_t)len, f) != (size_t)len) {
                snprintf(errstr, errstr_size, "cannot read %s", path);
                goto out;
        }
        data[len] = '\0';
        if (!(sw = calloc(1, sizeof(*sw))))
                goto out;
        sw->root = cJSON_ParseWithOpts(data, &end, 1);
        sw->defs = cJSON_GetObjectItemCaseSensitive(sw->root, "definitions");
        if (!sw->root || !cJSON_IsObject(sw->defs)) {
                snprintf(errstr, errstr_size,
                         "%s: not a Swagger 2.0 document with definitions",
                         path);
                swagger_destroy(sw);
                sw = NULL;
        }
out:
        free(data);
        fclose(f);
        return sw;
}

void swagger_destroy(swagger_t *sw) {
        if (!sw)
                return;
        cJSON_Delete(sw->root);
        free(sw);
}

static const char *kind(const cJSON *v) {
        return cJSON_IsNull(v)     ? "null"
               : cJSON_IsBool(v)   ? "boolean"
               : cJSON_IsNumber(v) ? "number"
               : cJSON_IsString(v) ? "string"
               : cJSON_IsArray(v)  ? "array"
               : cJSON_IsObject(v) ? "object"
                                   : "invalid";
}

static int check(const swagger_t *sw, const cJSON *schema, const cJSON *v,
                 int flags, char *path, size_t path_len, size_t path_cap,
                 char *errstr, size_t errstr_size, int depth);

static int fail(char *errstr, size_t errstr_size, const char *path,
                const char *what, const cJSON *v) {
        snprintf(errstr, errstr_size, "%s: %s, got %s", path, what, kind(v));
        return -1;
}

static const cJSON *resolve(const swagger_t *sw, const char *ref) {
        if (strncmp(ref, "#/definitions/", 14) != 0)
                return NULL;
        return cJSON_GetObjectItemCaseSensitive(sw->defs, ref + 14);
}

static int check_object(const swagger_t *sw, const cJSON *schema,
                        const cJSON *v, int flags, char *path, size_t path_len,
                        size_t path_cap, char *errstr, size_t errstr_size,
                        int depth) {
        const cJSON *props =
            cJSON_GetObjectItemCaseSensitive(schema, "properties");
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required"),
                    *it;
        cJSON_ArrayForEach(it, req) {
                if (cJSON_IsString(it) &&
                    !cJSON_GetObjectItemCaseSensitive(v, it->valuestring)) {
                        snprintf(errstr, errstr_size,
                                 "%s: required property %s missing", path,
                                 it->valuestring);
                        return -1;
                }
        }
        cJSON_ArrayForEach(it, v) {
                const cJSON *ps =
                    cJSON_GetObjectItemCaseSensitive(props, it->string);
                snprintf(path + path_len, path_cap - path_len, ".%s",
                         it->string);
                if (!ps) {
                        if ((flags & SWAGGER_STRICT) && props) {
                                snprintf(errstr, errstr_size,
                                         "%s: property not in the definition",
                                         path);
                                return -1;
                        }
                        continue;
                }
                if (check(sw, ps, it, flags, path, strlen(path), path_cap,
                          errstr, errstr_size, depth + 1) < 0)
                        return -1;
        }
        path[path_len] = '\0';
        return 0;
}

static int check(const swagger_t *sw, const cJSON *schema, const cJSON *v,
                 int flags, char *path, size_t path_len, size_t path_cap,
                 char *errstr, size_t errstr_size, int depth) {
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(schema, "$ref");
        const cJSON *all = cJSON_GetObjectItemCaseSensitive(schema, "allOf"),
                    *it;
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
        path[path_len]    = '\0';
        if (depth > 32) {
                snprintf(errstr, errstr_size, "%s: schema nested too deep",
                         path);
                return -1;
        }
        if (cJSON_IsString(ref)) {
                const cJSON *target = resolve(sw, ref->valuestring);
                if (!target) {
                        snprintf(errstr, errstr_size, "%s: unresolved $ref %s",
                                 path, ref->valuestring);
                        return -1;
                }
                return check(sw, target, v, flags, path, path_len, path_cap,
                             errstr, errstr_size, depth + 1);
        }
        cJSON_ArrayForEach(it, all) {
                if (check(sw, it, v, flags, path, path_len, path_cap, errstr,
                          errstr_size, depth + 1) < 0)
                        return -1;
        }
        if (cJSON_IsNull(v))
                return (flags & SWAGGER_NO_NULL) && cJSON_IsString(type)
                           ? fail(errstr, errstr_size, path, "expected a value",
                                  v)
                           : 0;
        if (!cJSON_IsString(type))
                return cJSON_IsObject(v) && cJSON_GetObjectItemCaseSensitive(
                                                schema, "properties")
                           ? check_object(sw, schema, v, flags, path, path_len,
                                          path_cap, errstr, errstr_size, depth)
                           : 0;
        const char *t = type->valuestring;
        if (strcmp(t, "object") == 0) {
                if (!cJSON_IsObject(v))
                        return fail(errstr, errstr_size, path,
                                    "expected object", v);
                return check_object(sw, schema, v, flags, path, path_len,
                                    path_cap, errstr, errstr_size, depth);
        }
        if (strcmp(t, "array") == 0) {
                const cJSON *items =
                    cJSON_GetObjectItemCaseSensitive(schema, "items");
                int i = 0;
                if (!cJSON_IsArray(v))
                        return fail(errstr, errstr_size, path, "expected array",
                                    v);
                cJSON_ArrayForEach(it, v) {
                        snprintf(path + path_len, path_cap - path_len, "[%d]",
                                 i++);
                        if (items &&
                            check(sw, items, it, flags, path, strlen(path),
                                  path_cap, errstr, errstr_size, depth + 1) < 0)
                                return -1;
                }
                path[path_len] = '\0';
                return 0;
        }
        if (strcmp(t, "string") == 0)
                return cJSON_IsString(v) ? 0
                                         : fail(errstr, errstr_size, path,
                                                "expected string", v);
        if (strcmp(t, "boolean") == 0)
                return cJSON_IsBool(v) ? 0
                                       : fail(errstr, errstr_size, path,
                                              "expected boolean", v);
        if (strcmp(t, "number") == 0)
                return cJSON_IsNumber(v) ? 0
                                         : fail(errstr, errstr_size, path,
                                                "expected number", v);
        if (strcmp(t, "integer") == 0)
                return cJSON_IsNumber(v) &&
                               v->valuedouble == floor(v->valuedouble)
                           ? 0
                           : fail(errstr, errstr_size, path, "expected integer",
                                  v);
        snprintf(errstr, errstr_size, "%s: unsupported schema type %s", path,
                 t);
        return -1;
}

const cJSON *swagger_definition(const swagger_t *sw, const char *name) {
        return cJSON_GetObjectItemCaseSensitive(sw->defs, name);
}

int swagger_check_definition(const swagger_t *sw, const char *name,
                             const cJSON *value, int flags, char *errstr,
                             size_t errstr_size) {
        char path[1024]  = "$";
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(sw->defs, name);
        if (!def) {
                snprintf(errstr, errstr_size, "no definition %s", name);
                return -1;
        }
        return check(sw, def, value, flags, path, 1, sizeof(path), errstr,
                     errstr_size, 0);
}

int swagger_check_response(const swagger_t *sw, const char *path,
                           const char *method, int status, const cJSON *value,
                           int flags, char *errstr, size_t errstr_size) {
        char code[8], jpath[1024] = "$";
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(sw->root, "paths"), path),
            method);
        snprintf(code, sizeof(code), "%d", status);
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(op, "responses"), code),
            "schema");
        if (!schema) {
                snprintf(errstr, errstr_size, "spec has no schema for %s %s %d",
                         method, path, status);
                return -1;
        }
        return check(sw, schema, value, flags, jpath, 1, sizeof(jpath), errstr,
                     errstr_size, 0);
}
