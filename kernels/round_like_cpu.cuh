#pragma once
// float32 / double -> float16 / bfloat16 as the CPU backend rounds (engine/cpu/float16.h): to
// nearest even, overflow to inf, and a NaN kept quiet with its sign and top payload bits, where
// CUDA's own conversions give the canonical NaN. Device code only; kernel_util.cuh includes it, and
// kernel files with helpers of their own (reduce_ops.cu) include it alone.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace shardscore::kernels {

// float32 -> bfloat16 as the CPU rounds: nearest even, overflow to inf, and a NaN stays a quiet
// NaN with its sign and top payload bits (the bfloat16 twin of f16_like_cpu below;
// __float2bfloat16_rn alone would give the canonical NaN).
__device__ __forceinline__ __nv_bfloat16 bf16_like_cpu(float f) {
  const uint32_t b = __float_as_uint(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) return __ushort_as_bfloat16(static_cast<unsigned short>((b >> 16) | 0x0040u));
  return __float2bfloat16_rn(f);
}
// double -> bfloat16 in one rounding from the exact value (no double rounding through float);
// NaN as above.
__device__ __forceinline__ __nv_bfloat16 bf16_like_cpu(double d) {
  const auto b = static_cast<unsigned long long>(__double_as_longlong(d));
  if ((b & 0x7fffffffffffffffull) > 0x7ff0000000000000ull) {
    return __ushort_as_bfloat16(
        static_cast<unsigned short>(((b >> 48) & 0x8000u) | 0x7fc0u | ((b >> 45) & 0x7fu)));
  }
  return __double2bfloat16(d);
}

// float32 -> float16 as the CPU's float_to_half: nearest even, overflow to inf, and a NaN stays a
// quiet NaN with its sign and top payload bits (__float2half_rn alone gives the canonical NaN 0x7fff,
// losing the sign: the float16 twin of bf16_like_cpu above).
__device__ __forceinline__ __half f16_like_cpu(float f) {
  const uint32_t b = __float_as_uint(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) {
    return __ushort_as_half(static_cast<unsigned short>(((b >> 16) & 0x8000u) | 0x7e00u | ((b & 0x7fffffu) >> 13)));
  }
  return __float2half_rn(f);
}
// double -> float16 in one rounding (as the CPU's double_to_half); NaN as above.
__device__ __forceinline__ __half f16_like_cpu(double d) {
  const auto b = static_cast<unsigned long long>(__double_as_longlong(d));
  if ((b & 0x7fffffffffffffffull) > 0x7ff0000000000000ull) {
    return __ushort_as_half(static_cast<unsigned short>(((b >> 48) & 0x8000u) | 0x7e00u | ((b >> 42) & 0x3ffu)));
  }
  return __double2half(d);
}

}  // namespace shardscore::kernels
