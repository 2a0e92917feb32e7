// Shared constants and float helpers for every marketphys kernel.
// Plain inline functions only: this header compiles as Metal, as C++ (msl-cpu
// shim) and, where present, as CUDA. NaN tests use the bit pattern because
// Metal always compiles with fast math, where isnan()/isfinite() may fold away.
#ifndef MP_COMMON_H
#define MP_COMMON_H

#define MP_N_PARAMS 5
#define MP_MAX_H 8
#define MP_LEDGER_CAP 16
#define MP_N_FIELDS 7
#define MP_MIN_WIDTH 1e-3f

// Lanes one thread advances together (rollout, replay). The CPU build passes
// -DMP_LANES=16 so fixed-width loops over a thread's lanes become SIMD code; on a GPU
// one lane per thread is the natural mapping. Hosts dispatch ceil(lanes / MP_LANES) threads.
#ifndef MP_LANES
#define MP_LANES 1
#endif

// Hot lane-group functions are inlined into each call site on the CPU, so the constant
// flags of that site (sensitivities, diffusion) fold away before vectorisation.
#if defined(__METAL_VERSION__) || defined(__CUDACC__)
#define MP_INLINE inline
#else
#define MP_INLINE inline __attribute__((always_inline))
#endif

// Field rows in a composed frame (7 x cells): U, C, G, O, D, dU/dx, dO/dx.
#define MP_F_U 0
#define MP_F_C 1
#define MP_F_G 2
#define MP_F_O 3
#define MP_F_D 4
#define MP_F_DU 5
#define MP_F_DO 6

// Lane loops that read 64-bit values (the field pairs below) and should still run MP_LANES
// floats wide: clang would otherwise halve the vector width for the whole loop. Only the CPU
// clang build sees the hint; Metal, CUDA and g++ builds get nothing.
#if defined(__clang__) && !defined(__METAL_VERSION__) && !defined(__CUDACC__) && MP_LANES >= 16
#define MP_LANE_LOOP_16 _Pragma("clang loop vectorize_width(16)")
#else
#define MP_LANE_LOOP_16
#endif

// A field pair: the values at cells i and i+1 in one 64-bit word (low, high), so a lane's
// interpolation reads one element instead of two (half the gathered elements on the CPU).
inline ulong mp_pair(float left, float right) {
    return ulong(as_type<uint>(left)) | (ulong(as_type<uint>(right)) << 32);
}
inline float mp_pair_left(ulong p) { return as_type<float>(uint(p)); }
inline float mp_pair_right(ulong p) { return as_type<float>(uint(p >> 32)); }

inline bool mp_isfinite(float x) { return (as_type<uint>(x) & 0x7f800000u) != 0x7f800000u; }

inline bool mp_isnan(float x) { return (as_type<uint>(x) & 0x7fffffffu) > 0x7f800000u; }

// np.clip semantics: NaN passes through unchanged.
inline float mp_clip(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

// np.maximum(x, 0) semantics: NaN propagates.
inline float mp_max0(float x) { return mp_isnan(x) ? x : (x > 0.0f ? x : 0.0f); }

#endif
