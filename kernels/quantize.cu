#include <cstdint>

#include "kernels/kernel_util.cuh"
#include "kernels/quantize.h"

namespace shardscore::kernels {
namespace {

constexpr int kBlock = 256;

template <typename X, typename S, typename Q>
__global__ void quantize_linear_kernel(const X* __restrict__ x, const S* __restrict__ scale,
                                       const Q* __restrict__ zero_point, Q* __restrict__ y, int64_t n, QuantGeometry g) {
  SS_GRID_STRIDE_LOOP(i, n) {
    const int64_t j = g.param_index(i);
    const int32_t z = zero_point ? static_cast<int32_t>(zero_point[j]) : 0;
    // float(int32) rounds to nearest, as the CPU's conversion does.
    y[i] = quantize_linear_value<Q>(static_cast<float>(load(x[i])), load(scale[j]), z);
  }
}

template <typename X, typename S>
__global__ void dequantize_linear_kernel(const X* __restrict__ x, const X* __restrict__ zero_point,
                                         const S* __restrict__ scale, S* __restrict__ y, int64_t n, QuantGeometry g) {
  SS_GRID_STRIDE_LOOP(i, n) {
    const int64_t j = g.param_index(i);
    const int64_t z = zero_point ? static_cast<int64_t>(zero_point[j]) : 0;
    y[i] = store<S>(dequantize_linear_value<X>(x[i], load(scale[j]), z));
  }
}

// Calls f(ElemTag<T>{}) for QuantizeLinear's x: the float types and int32; false for others.
template <class F>
bool with_quantize_x(Elem e, F&& f) {
  return dispatch_elem_among<float, __half, __nv_bfloat16, int32_t>(e, static_cast<F&&>(f));
}

// Calls f(ElemTag<T>{}) for int8, uint8, int16, uint16 (and int32 when kWithInt32: DequantizeLinear's
// x); false for others.
template <bool kWithInt32, class F>
bool with_quant_int(Elem e, F&& f) {
  if constexpr (kWithInt32) {
    return dispatch_elem_among<int8_t, uint8_t, int16_t, uint16_t, int32_t>(e, static_cast<F&&>(f));
  } else {
    return dispatch_elem_among<int8_t, uint8_t, int16_t, uint16_t>(e, static_cast<F&&>(f));
  }
}

}  // namespace

cudaError_t launch_quantize_linear(Elem x_elem, const void* x, Elem scale_elem, const void* scale,
                                   const void* zero_point, Elem y_elem, void* y, int64_t n, const QuantGeometry& geom,
                                   cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  bool ok = true;
  ok &= with_quantize_x(x_elem, [&](auto xt) {
    ok &= dispatch_float32_or_half(scale_elem, [&](auto st) {
      ok &= with_quant_int<false>(y_elem, [&](auto qt) {
        using X = typename decltype(xt)::type;
        using S = typename decltype(st)::type;
        using Q = typename decltype(qt)::type;
        quantize_linear_kernel<X, S, Q><<<grid_for(n, kBlock), kBlock, 0, stream>>>(
            static_cast<const X*>(x), static_cast<const S*>(scale), static_cast<const Q*>(zero_point),
            static_cast<Q*>(y), n, geom);
      });
    });
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_dequantize_linear(Elem x_elem, const void* x, const void* zero_point, Elem scale_elem,
                                     const void* scale, void* y, int64_t n, const QuantGeometry& geom,
                                     cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  bool ok = true;
  ok &= with_quant_int<true>(x_elem, [&](auto xt) {
    ok &= dispatch_float32_or_half(scale_elem, [&](auto st) {
      using X = typename decltype(xt)::type;
      using S = typename decltype(st)::type;
      dequantize_linear_kernel<X, S><<<grid_for(n, kBlock), kBlock, 0, stream>>>(
          static_cast<const X*>(x), static_cast<const X*>(zero_point), static_cast<const S*>(scale),
          static_cast<S*>(y), n, geom);
    });
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace shardscore::kernels
