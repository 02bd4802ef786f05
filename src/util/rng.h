/* rng.h - the project's random numbers, the same stream on every platform: splitmix64 for
 * seeding and simple streams, xoshiro256** for long ones. */
#ifndef TTT_UTIL_RNG_H
#define TTT_UTIL_RNG_H

#include <stdint.h>

/* Advances *state and returns the next splitmix64 output. */
uint64_t ttt_splitmix64(uint64_t *state);

typedef struct ttt_rng {
    uint64_t s[4]; /* xoshiro256** state */
} ttt_rng;

/* Seeds from any number of 64-bit words (seed, task, sample index, ...), so a stream depends
 * only on them, not on what was drawn before. */
void ttt_rng_seed(ttt_rng *r, const uint64_t *words, int n);
uint64_t ttt_rng_u64(ttt_rng *r);
/* Uniform in [lo, hi] (inclusive), unbiased; hi >= lo. */
int64_t ttt_rng_range(ttt_rng *r, int64_t lo, int64_t hi);
double ttt_rng_unit(ttt_rng *r); /* [0, 1), 53 bits */

#endif
