/* common/rand.h — fast per-thread pseudo-random numbers for jitter.
 *
 * Not for secrets (use OpenSSL's RAND_bytes for keys and nonces). Each thread
 * has its own state, seeded from getrandom(2) on first use; thread-safe.
 */
#ifndef BITMON_COMMON_RAND_H
#define BITMON_COMMON_RAND_H

#include <stdint.h>

/* A uniformly distributed 64-bit value. */
uint64_t rand_u64(void);

/* A double in [0, 1). */
double rand_unit(void);

/* `base` scaled by a random factor in [1 - frac, 1 + frac]; never negative. */
int64_t rand_jitter(int64_t base, double frac);

#endif
