#pragma once
// One element of ONNX's QuantizeLinear and DequantizeLinear, and which scale element it uses
// (QuantGeometry), shared by the CPU functions (src/engine/cpu/quantize.cpp) and the CUDA kernels
// (kernels/quantize.cu), so both give the same bits. Plain C++; callable from device code when
// compiled by nvcc.
//
// QuantizeLinear: y = saturate(round_half_to_even(x / scale) + zero_point), x and the scale as
// float32 (callers convert: float16 and bfloat16 exactly, an int32 x to nearest, exact up to 2^24),
// the division in float32 (the spec's x / y_scale, not x * (1 / y_scale): they differ in the last
// bit, which moves halves), rounded by rintf (the default rounding mode: to nearest, ties to even), the zero point
// added in float32 (exact: a rounded value beyond 2^24 saturates whatever is added), then clamped
// to Q's range. A NaN gives Q's minimum (ONNX leaves it open; ONNX Runtime's CPU provider gives
// the minimum: 0 for uint8, -128 for int8).
// DynamicQuantizeLinear: dynamic_quantize_params, then QuantizeLinear into uint8.
// DequantizeLinear: y = float32(x - zero_point) * scale, the difference exact in int64, converted
// once (to nearest even: exact for 8- and 16-bit x, rounded for int32 beyond 2^24), one product.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "int_pow.h"  // SS_HOST_DEVICE (same folder: the kernels include src/common/ by path)

namespace shardscore {

// Where x's element i finds its scale and zero-point element: the one statement of the
// quantization granularity, computed by the plan (QuantizeLinearPlan,
// src/engine/op_plans_elementwise.h) from the scale's shape, axis and block_size, and read as it is
// by the CPU functions and the CUDA kernels (passed to them by value). x is seen as
// [outer, dim, inner] around the axis; its element i = (o * dim + d) * inner + k uses element
// o * scale_outer + (d / block) * scale_axis + k * scale_inner. Per-tensor: the defaults (every
// stride 0, so element 0); per-axis: scale_axis 1; blocked: scale_inner 1, scale_axis inner,
// scale_outer ceil(dim / block) * inner.
struct QuantGeometry {
  int64_t dim = 1, inner = 1, block = 1;
  int64_t scale_outer = 0, scale_axis = 0, scale_inner = 0;

  SS_HOST_DEVICE bool per_tensor() const { return scale_outer == 0 && scale_axis == 0 && scale_inner == 0; }
  SS_HOST_DEVICE int64_t param_index(int64_t i) const {
    const int64_t k = i % inner, rest = i / inner;
    const int64_t d = rest % dim, o = rest / dim;
    return o * scale_outer + (d / block) * scale_axis + k * scale_inner;
  }
};

template <typename Q>
SS_HOST_DEVICE inline Q quantize_linear_value(float x, float scale, int32_t zero_point) {
  static_assert(std::is_integral_v<Q> && sizeof(Q) <= 2);
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
#ifdef __CUDA_ARCH__
  const float q = __fdiv_rn(x, scale);  // IEEE division, whatever the compiler's flags
  float v = __fadd_rn(rintf(q), static_cast<float>(zero_point));
#else
  const float q = x / scale;
  float v = std::nearbyint(q) + static_cast<float>(zero_point);
#endif
  if (!(v == v)) return std::numeric_limits<Q>::min();
  v = v < lo ? lo : (v > hi ? hi : v);
  return static_cast<Q>(v);
}

// DynamicQuantizeLinear's y_scale and y_zero_point from the least and greatest value of x (lo and
// hi; NaN skipped by the caller), as ONNX Runtime computes them: the range widened to include 0,
// scale = (hi - lo) / 255 (1 when the range is empty), zero point = round_half_to_even(clamp(0 - lo
// / scale, 0, 255)), every step in float32. y is then quantize_linear_value<uint8_t>(x, scale, zp).
struct DynamicQuantParams {
  float scale = 1;
  uint8_t zero_point = 0;
};
SS_HOST_DEVICE inline DynamicQuantParams dynamic_quantize_params(float lo, float hi) {
  lo = lo < 0.0f ? lo : 0.0f;
  hi = hi > 0.0f ? hi : 0.0f;
  DynamicQuantParams p;
#ifdef __CUDA_ARCH__
  p.scale = hi == lo ? 1.0f : __fdiv_rn(__fsub_rn(hi, lo), 255.0f);
  float z = __fsub_rn(0.0f, __fdiv_rn(lo, p.scale));
  z = z < 255.0f ? z : 255.0f;  // a NaN (x's range infinite) gives 255, as ONNX Runtime's min(255, z)
  z = z > 0.0f ? z : 0.0f;
  p.zero_point = static_cast<uint8_t>(rintf(z));
#else
  p.scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
  float z = 0.0f - lo / p.scale;
  z = z < 255.0f ? z : 255.0f;  // a NaN (x's range infinite) gives 255, as ONNX Runtime's min(255, z)
  z = z > 0.0f ? z : 0.0f;
  p.zero_point = static_cast<uint8_t>(std::nearbyint(z));
#endif
  return p;
}

template <typename X>
SS_HOST_DEVICE inline float dequantize_linear_value(X x, float scale, int64_t zero_point) {
  static_assert(std::is_integral_v<X>);
  const float d = static_cast<float>(static_cast<int64_t>(x) - zero_point);
#ifdef __CUDA_ARCH__
  return __fmul_rn(d, scale);
#else
  return d * scale;
#endif
}

}  // namespace shardscore
