/* rng.h - splitmix64: the one seeded random stream behind every draw Kanava makes (pairs,
 * calibration folds, few-shot samples), so that a seed means the same everywhere. */
#ifndef KN_RNG_H
#define KN_RNG_H

#include <stdint.h>

static inline uint64_t kn_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
