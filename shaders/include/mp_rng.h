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
inline float mp_uniform23(uint r) { return (float(int(r >> 9)) + 0.5f) * (1.0f / 8388608.0f); }

// Natural log of a positive normal float without a library call, so a loop over lanes
// vectorises (Cephes logf: mantissa in [sqrt(1/2), sqrt(2)), degree-9 polynomial, ~1 ulp).
// Only for the uniforms of mp_uniform23, which are normal numbers in (0, 1).
inline float mp_log_pos(float u) {
    uint bits = as_type<uint>(u);
    int e = int((bits >> 23) & 0xffu) - 126;
    float m = as_type<float>((bits & 0x007fffffu) | 0x3f000000u);  // [0.5, 1)
    bool low = m < 0.70710678118654752f;
    e = low ? e - 1 : e;
    float r = low ? (m + m) - 1.0f : m - 1.0f;
    float z = r * r;
    float y = 7.0376836292e-2f;
    y = y * r - 1.1514610310e-1f;
    y = y * r + 1.1676998740e-1f;
    y = y * r - 1.2420140846e-1f;
    y = y * r + 1.4249322787e-1f;
    y = y * r - 1.6668057665e-1f;
    y = y * r + 2.0000714765e-1f;
    y = y * r - 2.4999993993e-1f;
    y = y * r + 3.3333331174e-1f;
    y = y * r * z;
    float fe = float(e);
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return (r + y) + 0.693359375f * fe;
}

// cos(2*pi*u) for u in [0, 1] without a library call (vectorises): exact reduction to an
// eighth of a turn, then Cephes' sin/cos polynomials on [-pi/4, pi/4] (~1 ulp).
// int() truncates, which is floor() for u + 1/2 > 0 (floor itself does not vectorise in g++).
inline float mp_cos_turns(float u) {
    float a = fabs(u - float(int(u + 0.5f)));    // [0, 1/2] turn, cos even
    bool back = a > 0.25f;                       // cos(2pi a) = -cos(2pi (1/2 - a))
    float b = back ? 0.5f - a : a;               // [0, 1/4], exact (Sterbenz)
    bool use_sin = b > 0.125f;                   // cos(2pi b) = sin(2pi (1/4 - b))
    float c = use_sin ? 0.25f - b : b;           // [0, 1/8], exact
    float xr = c * 6.283185307179586f;
    float z = xr * xr;
    float cs = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z - 0.5f * z + 1.0f;
    float sn = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * xr + xr;
    float r = use_sin ? sn : cs;
    return back ? -r : r;
}

// Box-Muller on Philox words 0 and 1 of counter (lane, step, stream, 0). Branch- and
// call-free, so a loop of these over a thread's lanes becomes SIMD code on the CPU.
inline float mp_normal(uint k0, uint k1, uint lane, uint step, uint stream) {
    MpPhilox o = mp_philox4x32(lane, step, stream, 0u, k0, k1);
    float u1 = mp_uniform23(o.w0);
    float u2 = mp_uniform23(o.w1);
    return sqrt(-2.0f * mp_log_pos(u1)) * mp_cos_turns(u2);
}

#endif
