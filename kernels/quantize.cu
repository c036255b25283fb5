#include <cstdint>
#include <type_traits>

#include "kernels/kernel_util.cuh"
#include "kernels/quantize.h"
#include "src/common/quantize.h"

namespace shardscore::kernels {
namespace {

constexpr int kBlock = 256;

template <typename T>
struct Tag {
  using type = T;
};

__device__ __forceinline__ int64_t param_index(const QuantParams& p, int64_t i) {
  const int64_t k = i % p.inner, rest = i / p.inner;
  const int64_t d = rest % p.dim, o = rest / p.dim;
  return o * p.scale_outer + (d / p.block) * p.scale_axis + k * p.scale_inner;
}

__device__ __forceinline__ float as_float(float v) { return v; }
__device__ __forceinline__ float as_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float as_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename O>
__device__ __forceinline__ O from_float(float v) {
  if constexpr (std::is_same_v<O, __half>) return f16_like_cpu(v);
  else if constexpr (std::is_same_v<O, __nv_bfloat16>) return bf16_like_cpu(v);
  else return v;
}

template <typename X, typename S, typename Q>
__global__ void quantize_linear_kernel(const X* __restrict__ x, const S* __restrict__ scale,
                                       const Q* __restrict__ zero_point, Q* __restrict__ y, int64_t n, QuantParams p) {
  SS_GRID_STRIDE_LOOP(i, n) {
    const int64_t j = param_index(p, i);
    const int32_t z = zero_point ? static_cast<int32_t>(zero_point[j]) : 0;
    y[i] = quantize_linear_value<Q>(as_float(x[i]), as_float(scale[j]), z);
  }
}

template <typename X, typename S>
__global__ void dequantize_linear_kernel(const X* __restrict__ x, const X* __restrict__ zero_point,
                                         const S* __restrict__ scale, S* __restrict__ y, int64_t n, QuantParams p) {
  SS_GRID_STRIDE_LOOP(i, n) {
    const int64_t j = param_index(p, i);
    const int64_t z = zero_point ? static_cast<int64_t>(zero_point[j]) : 0;
    y[i] = from_float<S>(dequantize_linear_value<X>(x[i], as_float(scale[j]), z));
  }
}

// Calls f(Tag<T>{}) for float32, float16, bfloat16; false for others.
template <class F>
bool with_float(Elem e, F&& f) {
  switch (e) {
    case Elem::kF32: f(Tag<float>{}); return true;
    case Elem::kF16: f(Tag<__half>{}); return true;
    case Elem::kBF16: f(Tag<__nv_bfloat16>{}); return true;
    default: return false;
  }
}

// Calls f(Tag<T>{}) for int8, uint8, int16, uint16 (and int32 when with_int32); false for others.
template <class F>
bool with_quant_int(Elem e, bool with_int32, F&& f) {
  switch (e) {
    case Elem::kI8: f(Tag<int8_t>{}); return true;
    case Elem::kU8: f(Tag<uint8_t>{}); return true;
    case Elem::kI16: f(Tag<int16_t>{}); return true;
    case Elem::kU16: f(Tag<uint16_t>{}); return true;
    case Elem::kI32:
      if (!with_int32) return false;
      f(Tag<int32_t>{});
      return true;
    default: return false;
  }
}

}  // namespace

cudaError_t launch_quantize_linear(Elem x_elem, const void* x, Elem scale_elem, const void* scale,
                                   const void* zero_point, Elem y_elem, void* y, int64_t n, const QuantParams& qp,
                                   cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  bool ok = true;
  ok &= with_float(x_elem, [&](auto xt) {
    ok &= with_float(scale_elem, [&](auto st) {
      ok &= with_quant_int(y_elem, false, [&](auto qt) {
        using X = typename decltype(xt)::type;
        using S = typename decltype(st)::type;
        using Q = typename decltype(qt)::type;
        if constexpr (sizeof(Q) <= 2) {
          quantize_linear_kernel<X, S, Q><<<grid_for(n, kBlock), kBlock, 0, stream>>>(
              static_cast<const X*>(x), static_cast<const S*>(scale), static_cast<const Q*>(zero_point),
              static_cast<Q*>(y), n, qp);
        }
      });
    });
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_dequantize_linear(Elem x_elem, const void* x, const void* zero_point, Elem scale_elem,
                                     const void* scale, void* y, int64_t n, const QuantParams& qp,
                                     cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  bool ok = true;
  ok &= with_quant_int(x_elem, true, [&](auto xt) {
    ok &= with_float(scale_elem, [&](auto st) {
      using X = typename decltype(xt)::type;
      using S = typename decltype(st)::type;
      dequantize_linear_kernel<X, S><<<grid_for(n, kBlock), kBlock, 0, stream>>>(
          static_cast<const X*>(x), static_cast<const X*>(zero_point), static_cast<const S*>(scale),
          static_cast<S*>(y), n, qp);
    });
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace shardscore::kernels
