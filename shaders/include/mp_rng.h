// Philox4x32-10 counter-based RNG, the same words as marketphys/core/rng.py.
// A draw is a pure function of (key, lane, step, stream): no stream state.
#ifndef MP_RNG_H
#define MP_RNG_H

#include "mp_common.h"

struct MpPhilox {
    uint w0;
    uint w1;
    uint w2;
    uint w3;
};

inline MpPhilox mp_philox4x32(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1) {
    for (int r = 0; r < 10; ++r) {
        uint hi0 = mulhi(0xD2511F53u, c0);
        uint lo0 = 0xD2511F53u * c0;
        uint hi1 = mulhi(0xCD9E8D57u, c2);
        uint lo1 = 0xCD9E8D57u * c2;
        uint n0 = hi1 ^ c1 ^ k0;
        uint n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    MpPhilox out;
    out.w0 = c0;
    out.w1 = c1;
    out.w2 = c2;
    out.w3 = c3;
    return out;
}

// Top 23 bits -> (0, 1): (k + 0.5)/2^23 is exact in float32, never 0 or 1.
inline float mp_uniform23(uint r) { return (float(r >> 9) + 0.5f) * (1.0f / 8388608.0f); }

// Box-Muller on Philox words 0 and 1 of counter (lane, step, stream, 0).
inline float mp_normal(uint k0, uint k1, uint lane, uint step, uint stream) {
    MpPhilox o = mp_philox4x32(lane, step, stream, 0u, k0, k1);
    float u1 = mp_uniform23(o.w0);
    float u2 = mp_uniform23(o.w1);
    return sqrt(-2.0f * log(u1)) * cos(6.283185307179586f * u2);
}

#endif
