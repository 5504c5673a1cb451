/* Unit tests for consumer/lag: the unread jobs of the owned partitions of
 * the jobs topic, from a statistics document shaped as librdkafka's
 * STATISTICS.md describes (and as librdkafka 2.0 writes it). */
#include <string.h>

#include "consumer/lag.h"
#include "tests/assert.h"

/* Two topics; of "jobs": partition 0 read up to 90 of 100, partition 1 not
 * read yet (app_offset -1: committed 40 of 45), partition 2 not ours
 * (desired false), partition 3 ours with unknown offsets, and the internal
 * partition -1. ls_offset below hi_offset: read_committed counts to ls. */
static const char stats[] =
    "{\"name\":\"bitmon#consumer-1\",\"type\":\"consumer\",\"ts\":1,"
    "\"brokers\":{},\"topics\":{"
    "\"other\":{\"topic\":\"other\",\"partitions\":{\"0\":{\"partition\":0,"
    "\"desired\":true,\"hi_offset\":1000,\"ls_offset\":1000,"
    "\"app_offset\":0,\"committed_offset\":0}}},"
    "\"jobs\":{\"topic\":\"jobs\",\"partitions\":{"
    "\"0\":{\"partition\":0,\"desired\":true,\"fetch_state\":\"active\","
    "\"hi_offset\":102,\"ls_offset\":100,\"app_offset\":90,"
    "\"committed_offset\":80,\"consumer_lag\":20},"
    "\"1\":{\"partition\":1,\"desired\":true,\"hi_offset\":45,"
    "\"ls_offset\":-1,\"app_offset\":-1,\"committed_offset\":40},"
    "\"2\":{\"partition\":2,\"desired\":false,\"hi_offset\":500,"
    "\"ls_offset\":500,\"app_offset\":-1,\"committed_offset\":-1},"
    "\"3\":{\"partition\":3,\"desired\":true,\"hi_offset\":-1,"
    "\"ls_offset\":-1,\"app_offset\":-1,\"committed_offset\":-1},"
    "\"-1\":{\"partition\":-1,\"desired\":false,\"hi_offset\":-1}}}}}";

static void test_lag_sums_owned_partitions(void) {
        T_EQ_INT(consumer_lag_parse(stats, strlen(stats), "jobs"), 10 + 5);
        T_EQ_INT(consumer_lag_parse(stats, strlen(stats), "other"), 1000);
}

static void test_lag_unknown_topic_is_zero(void) {
        T_EQ_INT(consumer_lag_parse(stats, strlen(stats), "missing"), 0);
        const char none[] = "{\"name\":\"x\",\"topics\":{}}";
        T_EQ_INT(consumer_lag_parse(none, strlen(none), "jobs"), 0);
}

static void test_lag_read_ahead_is_zero(void) {
        const char s[] = "{\"topics\":{\"jobs\":{\"partitions\":{\"0\":{"
                         "\"partition\":0,\"desired\":true,\"hi_offset\":7,"
                         "\"ls_offset\":7,\"app_offset\":7}}}}}";
        T_EQ_INT(consumer_lag_parse(s, strlen(s), "jobs"), 0);
}

static void test_lag_not_statistics(void) {
        T_EQ_INT(consumer_lag_parse("", 0, "jobs"), -1);
        T_EQ_INT(consumer_lag_parse("{\"topics\"", 9, "jobs"), -1);
        T_EQ_INT(consumer_lag_parse("[1,2]", 5, "jobs"), -1);
        /* A cut document: only len bytes are read. */
        T_EQ_INT(consumer_lag_parse(stats, 40, "jobs"), -1);
}

int main(void) {
        T_RUN(test_lag_sums_owned_partitions);
        T_RUN(test_lag_unknown_topic_is_zero);
        T_RUN(test_lag_read_ahead_is_zero);
        T_RUN(test_lag_not_statistics);
        return t_done();
}
