/* cmd/version.c — `bitmon version`. */
#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>

#include "cmd/cmd.h"

#ifndef BITMON_VERSION
#define BITMON_VERSION "0.1.0"
#endif

int cmd_version(int argc, char **argv) {
        (void)argc;
        (void)argv;
        printf("bitmon %s (librdkafka %s, %s, hiredis %d.%d.%d)\n",
               BITMON_VERSION, rd_kafka_version_str(), curl_version(),
               HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
        return 0;
}
