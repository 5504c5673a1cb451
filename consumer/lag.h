/* consumer/lag.h — the consumer's lag, read from librdkafka's statistics
 * (statistics.interval.ms, delivered to the stats callback as JSON): how many
 * jobs of the partitions this consumer owns it has not read yet.
 */
#ifndef BITMON_CONSUMER_LAG_H
#define BITMON_CONSUMER_LAG_H

#include <stddef.h>
#include <stdint.h>

/* The consumer's default statistics.interval.ms (kafka.statistics.interval.ms
 * overrides it; 0 turns the statistics, and so the lag, off). */
#define CONSUMER_LAG_INTERVAL_MS "15000"

/* Sums, over the partitions of `topic` in `json` (one librdkafka statistics
 * document of `len` bytes) that the consumer is assigned ("desired"), the
 * end offset (ls_offset, or hi_offset when ls_offset is unknown) minus the
 * position (app_offset, or committed_offset before the first message read),
 * counting partitions whose offsets are unknown as 0. Returns the sum, or
 * -1 when `json` is not a statistics document. Pure: any thread. */
int64_t consumer_lag_parse(const char *json, size_t len, const char *topic);

#endif
