#pragma once
// IEEE 754 binary16 ("float16") and bfloat16, stored as raw uint16_t, <-> binary32/binary64.
// Narrowing rounds to nearest, ties to even, in one step from the source value (no double
// rounding through float); overflow gives +-inf, tiny values become subnormals or +-0, NaN stays
// NaN (quiet, sign and the top payload bits kept). Widening is exact.
#include <bit>
#include <cstdint>

#include "common/dtype.h"

namespace shardscore {

inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf, or NaN with its payload
  } else if (exp != 0) {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal: mant * 2^-24; normalize into a float (always normal there).
    int e = -14;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (static_cast<uint32_t>(e + 127) << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

inline double half_to_double(uint16_t h) { return static_cast<double>(half_to_float(h)); }

inline uint16_t double_to_half(double d) {
  const uint64_t bits = std::bit_cast<uint64_t>(d);
  const uint16_t sign = static_cast<uint16_t>((bits >> 48) & 0x8000u);
  const int64_t exp = static_cast<int64_t>((bits >> 52) & 0x7ffu);
  const uint64_t frac = bits & ((uint64_t{1} << 52) - 1);
  if (exp == 0x7ff) {
    if (frac == 0) return static_cast<uint16_t>(sign | 0x7c00u);
    return static_cast<uint16_t>(sign | 0x7e00u | static_cast<uint16_t>(frac >> 42));  // quiet NaN
  }
  if (exp == 0) return sign;  // zero or a double subnormal: far below half's smallest subnormal
  const int64_t e = exp - 1023;
  const uint64_t m = (uint64_t{1} << 52) | frac;  // 53-bit significand, value m * 2^(e-52)
  // Keep 11 significant bits for a normal half, fewer for a subnormal (unit 2^-24).
  const int64_t shift = e >= -14 ? 42 : 28 - e;
  if (shift >= 64) return sign;
  uint64_t q = m >> shift;
  const uint64_t rem = m & ((uint64_t{1} << shift) - 1);
  const uint64_t half = uint64_t{1} << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) ++q;
  if (e < -14) return static_cast<uint16_t>(sign | q);  // q == 0x400 is the smallest normal: same encoding
  int64_t he = e + 15;
  if (q == (uint64_t{1} << 11)) {
    q >>= 1;
    ++he;
  }
  if (he >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  return static_cast<uint16_t>(sign | (static_cast<uint16_t>(he) << 10) | static_cast<uint16_t>(q & 0x3ffu));
}

// float -> double is exact, so this rounds once.
inline uint16_t float_to_half(float f) { return double_to_half(static_cast<double>(f)); }

// bfloat16: float32's sign and exponent with 7 fraction bits (stored as raw uint16_t, the top half
// of a float). Same rules as float16 above: one rounding to nearest even, NaN quiet with its sign
// and top payload bits, widening exact.
inline float bfloat16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

inline uint16_t float_to_bfloat16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // quiet NaN
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);  // overflow carries into inf
}

// Through float with round-to-odd (exact sticky bit), so the value is rounded once.
inline uint16_t double_to_bfloat16(double d) {
  float f = static_cast<float>(d);
  if (d == d && static_cast<double>(f) != d && f == f) {
    uint32_t b = std::bit_cast<uint32_t>(f);
    const double af = static_cast<double>(f) < 0 ? -static_cast<double>(f) : static_cast<double>(f);
    const double ad = d < 0 ? -d : d;
    if (af > ad) --b;  // toward zero: the truncated value ...
    b |= 1u;           // ... with its sticky bit
    f = std::bit_cast<float>(b);
  }
  return float_to_bfloat16(f);
}

// float16 or bfloat16: the 2-byte floats that ops compute in float32 and round once.
inline bool dtype_is_half(DType t) { return t == DType::kFloat16 || t == DType::kBFloat16; }
inline float half_bits_to_float(DType t, uint16_t bits) {
  return t == DType::kBFloat16 ? bfloat16_to_float(bits) : half_to_float(bits);
}
inline uint16_t double_to_half_bits(DType t, double d) {
  return t == DType::kBFloat16 ? double_to_bfloat16(d) : double_to_half(d);
}

}  // namespace shardscore
