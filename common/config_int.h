/* common/config_int.h — the inside of config_t, shared by config.c (loading,
 * getters) and config_print.c (dump, reference). Not an API: only those two
 * files include it.
 */
#ifndef BITMON_COMMON_CONFIG_INT_H
#define BITMON_COMMON_CONFIG_INT_H

#include "common/config.h"

/* The value of one key: a table row (index = row) or a kafka.* passthrough. */
typedef struct config_val {
        char *key; /* passthrough only (table rows use the table's name) */
        char
            *text; /* the value as given, trimmed; owned, never NULL once set */
        int64_t i; /* INT, SIZE */
        double d;  /* DOUBLE */
        bool b;    /* BOOL */
        config_source_t src;
        char *origin; /* "bitmon.conf:12", "BITMON_X" or NULL; owned */
} config_val_t;

struct config {
        config_val_t *vals;  /* config_table_len entries */
        config_val_t *extra; /* kafka.* keys not in the table */
        size_t extra_len, extra_cap;
        char *errors[CONFIG_MAX_ERRORS];
        size_t error_count; /* may exceed CONFIG_MAX_ERRORS */
};

/* Bytes in the shortest exact form: 65536 -> "64KiB", 1000 -> "1000". */
void config_size_format(int64_t v, char *out, size_t size);

#endif
