/*
** rng.h: the core's one pseudo-random generator, xoshiro256** 1.0
** (Blackman and Vigna, 2018) with its 256-bit state filled by four outputs
** of splitmix64 started at the seed. Splits and folds (eval.c), permutation
** importance (explain.c) and frame:sample (lframe.c: splitmix64 alone)
** draw from it, so a seed means the same stream everywhere and results pinned by
** seeds in the tests hold. Header-only (static inline): the draws sit in
** inner loops. Plugins keep their own copy: they see only the ABI header.
*/
#ifndef MB_RNG_H
#define MB_RNG_H

#include <stdint.h>

typedef struct mb_rng {
    uint64_t s[4];
} mb_rng;

/* splitmix64: advances *x and returns its next output. */
static inline uint64_t mb_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static inline void mb_rng_seed(mb_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = mb_splitmix64(&seed);
}

static inline uint64_t mb_rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* The next 64 bits of xoshiro256**. */
static inline uint64_t mb_rng_next(mb_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = mb_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = mb_rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, m), m >= 1, without modulo bias (rejection). */
static inline uint64_t mb_rng_below(mb_rng *r, uint64_t m)
{
    uint64_t min = (0 - m) % m; /* 2^64 mod m */
    for (;;) {
        uint64_t x = mb_rng_next(r);
        if (x >= min)
            return x % m;
    }
}

#endif
