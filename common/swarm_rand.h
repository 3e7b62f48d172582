/* swarm_rand.h - the project's PRNG: xoshiro256** seeded through splitmix64
 * (Blackman and Vigna's published algorithms). The sampler's draws and the
 * random-model writer's weights both come from it, so seeds mean the same
 * everywhere. Header-only so the hot loops inline it. libc only. */
#ifndef SWARM_RAND_H
#define SWARM_RAND_H

#include <stdint.h>

/* Advances *x and returns the next splitmix64 output (for seeding). */
static inline uint64_t swarm_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t swarm_rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* Next xoshiro256** output from the state s[4]. */
static inline uint64_t swarm_xoshiro_next(uint64_t s[4])
{
    const uint64_t r = swarm_rotl64(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = swarm_rotl64(s[3], 45);
    return r;
}

/* Fills s[4] from a 64-bit seed with splitmix64. */
static inline void swarm_xoshiro_seed(uint64_t s[4], uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        s[i] = swarm_splitmix64(&seed);
}

#endif
