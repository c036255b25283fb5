#pragma once
// Floating point to integer with a defined result for every value, shared by the CPU backend's Cast
// (src/engine/cpu/shape_ops.cpp) and the CUDA cast kernel (kernels/elementwise.cu), so both give the
// same bits. Plain C++; callable from device code when compiled by nvcc.
//
// Inside the target's range: truncation toward zero (as ONNX's Cast). Outside: the nearest end of
// the range; NaN: 0 - what the GPU's conversion instructions do. C++ leaves those conversions
// undefined and ONNX does too; x86 gives INT_MIN (or its low bits for narrow types, and AVX-512's
// unsigned conversions something else again), so without this the CPU's answer would depend on the
// compiler and the instruction set.
#include <cstdint>
#include <limits>
#include <type_traits>

#include "int_pow.h"  // SS_HOST_DEVICE (same folder: the kernels include src/common/ by path)

namespace shardscore {

template <typename D, typename S>
SS_HOST_DEVICE inline D float_to_int(S v) {
  static_assert(std::is_integral_v<D> && !std::is_same_v<D, bool> && std::is_floating_point_v<S>);
  // Both ends are exact in S: the minimum is 0 or -2^k, and max + 1 is 2^k.
  constexpr S lo = static_cast<S>(std::numeric_limits<D>::min());
  constexpr S past_hi = static_cast<S>(2) * static_cast<S>(std::numeric_limits<D>::max() / 2 + 1);
  if (!(v == v)) return D(0);
  if (v <= lo) return std::numeric_limits<D>::min();
  if (v >= past_hi) return std::numeric_limits<D>::max();
  return static_cast<D>(v);
}

// One number as ONNX's Cast converts it between C++ types (float16 and bfloat16 are the callers'
// business): floating point to an integer other than bool through float_to_int, the rest as C++
// converts.
template <typename D, typename S>
SS_HOST_DEVICE inline D cast_number(S v) {
  if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D> && !std::is_same_v<D, bool>) {
    return float_to_int<D>(v);
  } else {
    return static_cast<D>(v);
  }
}

}  // namespace shardscore
