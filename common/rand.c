/* common/rand.c — xoshiro256** with thread-local state. */
#include "common/rand.h"

#include <sys/random.h>
#include <time.h>

static _Thread_local uint64_t s[4];
static _Thread_local int seeded;

static uint64_t rotl(uint64_t x, int k) {
        return (x << k) | (x >> (64 - k));
}

static void seed(void) {
        if (getrandom(s, sizeof(s), 0) != (ssize_t)sizeof(s)) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                s[0] = (uint64_t)ts.tv_nsec ^ 0x9e3779b97f4a7c15ULL;
                s[1] = (uint64_t)(uintptr_t)&ts;
                s[2] = (uint64_t)ts.tv_sec * 0xbf58476d1ce4e5b9ULL;
                s[3] = 0x94d049bb133111ebULL;
        }
        seeded = 1;
}

uint64_t rand_u64(void) {
        if (!seeded)
                seed();
        uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

double rand_unit(void) {
        return (double)(rand_u64() >> 11) * 0x1.0p-53;
}

int64_t rand_jitter(int64_t base, double frac) {
        double f = 1.0 + frac * (2.0 * rand_unit() - 1.0);
        double v = (double)base * f;
        return v < 0 ? 0 : (int64_t)v;
}
