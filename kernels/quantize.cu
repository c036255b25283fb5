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

// ---- DynamicQuantizeLinear ----

constexpr int kRangeBlock = 1024;

// One block: x's range (0 included; a NaN compares false and is skipped), then the parameters.
__global__ void dynamic_range_kernel(const float* __restrict__ x, int64_t n, float* scale, uint8_t* zero_point) {
  __shared__ float lo_s[kRangeBlock], hi_s[kRangeBlock];
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = x[i];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  lo_s[threadIdx.x] = lo;
  hi_s[threadIdx.x] = hi;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) {
      lo_s[threadIdx.x] = fminf(lo_s[threadIdx.x], lo_s[threadIdx.x + half]);
      hi_s[threadIdx.x] = fmaxf(hi_s[threadIdx.x], hi_s[threadIdx.x + half]);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const DynamicQuantParams p = dynamic_quantize_params(lo_s[0], hi_s[0]);
    *scale = p.scale;
    *zero_point = p.zero_point;
  }
}

__global__ void dynamic_quantize_kernel(const float* __restrict__ x, int64_t n, const float* __restrict__ scale,
                                        const uint8_t* __restrict__ zero_point, uint8_t* __restrict__ y) {
  const float s = *scale;
  const int32_t z = *zero_point;
  SS_GRID_STRIDE_LOOP(i, n) { y[i] = quantize_linear_value<uint8_t>(x[i], s, z); }
}

// ---- MatMulInteger, ConvInteger ----

constexpr int kTile = 16;

template <typename T>
__device__ int32_t zero_point_at(const void* zp, bool per_index, int64_t index) {
  return zp ? static_cast<int32_t>(static_cast<const T*>(zp)[per_index ? index : 0]) : 0;
}

// 16 x 16 tiles of A and B offsets in shared memory; rows along the grid's x (up to 2^31 - 1 blocks).
template <typename TA, typename TB>
__global__ void matmul_integer_kernel(IntOperand a_op, IntOperand b_op, int32_t* __restrict__ y, int64_t m, int64_t n,
                                      int64_t k) {
  __shared__ int32_t ta[kTile][kTile + 1], tb[kTile][kTile + 1];
  const TA* a = static_cast<const TA*>(a_op.data);
  const TB* b = static_cast<const TB*>(b_op.data);
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kTile + threadIdx.y;
  const int64_t col = static_cast<int64_t>(blockIdx.y) * kTile + threadIdx.x;
  const int32_t za = row < m ? zero_point_at<TA>(a_op.zero_point, a_op.per_index, row) : 0;
  const int32_t zb = col < n ? zero_point_at<TB>(b_op.zero_point, b_op.per_index, col) : 0;
  uint32_t acc = 0;  // wraps past int32, as the CPU's sums do
  for (int64_t k0 = 0; k0 < k; k0 += kTile) {
    const int64_t ka = k0 + threadIdx.x, kb = k0 + threadIdx.y;
    ta[threadIdx.y][threadIdx.x] = row < m && ka < k ? static_cast<int32_t>(a[row * k + ka]) - za : 0;
    tb[threadIdx.y][threadIdx.x] = col < n && kb < k ? static_cast<int32_t>(b[kb * n + col]) - zb : 0;
    __syncthreads();
#pragma unroll
    for (int t = 0; t < kTile; ++t) acc += static_cast<uint32_t>(ta[threadIdx.y][t] * tb[t][threadIdx.x]);
    __syncthreads();
  }
  if (row < m && col < n) y[row * n + col] = static_cast<int32_t>(acc);
}

template <typename TX, typename TW>
__global__ void conv_integer_kernel(IntOperand x_op, IntOperand w_op, int32_t* __restrict__ y, ConvIntegerGeometry g,
                                    int64_t total) {
  const TX* x = static_cast<const TX*>(x_op.data);
  const TW* w = static_cast<const TW*>(w_op.data);
  const int64_t cg = g.c / g.group, mg = g.m / g.group;
  const int32_t zx = zero_point_at<TX>(x_op.zero_point, false, 0);
  SS_GRID_STRIDE_LOOP(i, total) {
    const int64_t ox = i % g.ow, oy = (i / g.ow) % g.oh, mo = (i / (g.ow * g.oh)) % g.m, img = i / (g.ow * g.oh * g.m);
    const int32_t zw = zero_point_at<TW>(w_op.zero_point, w_op.per_index, mo);
    const int64_t gi = mo / mg;
    uint32_t acc = 0;
    for (int64_t ci = 0; ci < cg; ++ci) {
      const TX* xc = x + ((img * g.c + gi * cg + ci) * g.h) * g.w;
      const TW* wc = w + ((mo * cg + ci) * g.kh) * g.kw;
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        const int64_t iy = oy * g.s[0] - g.pb[0] + ki * g.d[0];
        if (iy < 0 || iy >= g.h) continue;
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const int64_t ix = ox * g.s[1] - g.pb[1] + kj * g.d[1];
          if (ix < 0 || ix >= g.w) continue;
          acc += static_cast<uint32_t>((static_cast<int32_t>(xc[iy * g.w + ix]) - zx) *
                                       (static_cast<int32_t>(wc[ki * g.kw + kj]) - zw));
        }
      }
    }
    y[i] = static_cast<int32_t>(acc);
  }
}

// Calls f(ElemTag<TA>{}, ElemTag<TB>{}) for int8 / uint8 operands; false for others.
template <class F>
bool with_int8_pair(Elem ea, Elem eb, F&& f) {
  bool ok = true;
  ok &= dispatch_elem_among<int8_t, uint8_t>(ea, [&](auto at) {
    ok &= dispatch_elem_among<int8_t, uint8_t>(eb, [&](auto bt) { f(at, bt); });
  });
  return ok;
}

}  // namespace

cudaError_t launch_dynamic_quantize_linear(const float* x, int64_t n, uint8_t* y, float* scale, uint8_t* zero_point,
                                           cudaStream_t stream) {
  dynamic_range_kernel<<<1, kRangeBlock, 0, stream>>>(x, n, scale, zero_point);
  if (n > 0) dynamic_quantize_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(x, n, scale, zero_point, y);
  return cudaGetLastError();
}

cudaError_t launch_matmul_integer(const IntOperand& a, const IntOperand& b, int32_t* y, int64_t m, int64_t n, int64_t k,
                                  cudaStream_t stream) {
  if (m <= 0 || n <= 0) return cudaSuccess;
  const int64_t col_blocks = (n + kTile - 1) / kTile;
  if (col_blocks > 65535) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>((m + kTile - 1) / kTile), static_cast<unsigned>(col_blocks));
  const dim3 block(kTile, kTile);
  const bool ok = with_int8_pair(a.elem, b.elem, [&](auto at, auto bt) {
    using TA = typename decltype(at)::type;
    using TB = typename decltype(bt)::type;
    matmul_integer_kernel<TA, TB><<<grid, block, 0, stream>>>(a, b, y, m, n, k);
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_conv_integer(const IntOperand& x, const IntOperand& w, int32_t* y, const ConvIntegerGeometry& g,
                                cudaStream_t stream) {
  const int64_t total = g.n * g.m * g.oh * g.ow;
  if (total <= 0) return cudaSuccess;
  const bool ok = with_int8_pair(x.elem, w.elem, [&](auto xt, auto wt) {
    using TX = typename decltype(xt)::type;
    using TW = typename decltype(wt)::type;
    conv_integer_kernel<TX, TW><<<grid_for(total, kBlock), kBlock, 0, stream>>>(x, w, y, g, total);
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

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
