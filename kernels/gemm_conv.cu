#include "kernels/gemm_conv.h"
#include "kernels/kernel_util.cuh"

namespace shardscore::kernels {
namespace {

constexpr int kBlock = 256;

template <typename T>
__global__ void broadcast_rows_kernel(const T* c, int64_t cm, int64_t cn, double beta, T* y, int64_t m, int64_t n) {
  using C = typename Compute<T>::type;
  const C b = static_cast<C>(beta);
  SS_GRID_STRIDE_LOOP(i, m * n) {
    const int64_t r = i / n, col = i - r * n;
    y[i] = store<T, C>(b * load(c[(cm == 1 ? 0 : r) * cn + (cn == 1 ? 0 : col)]));
  }
}

template <typename C>
__device__ __forceinline__ C activate(C v, Epilogue act) {
  switch (act) {
    case Epilogue::kRelu: return v < C(0) ? C(0) : v;
    case Epilogue::kSigmoid:
      if (v >= C(0)) return C(1) / (C(1) + exp(-v));
      else {
        const C e = exp(v);
        return e / (C(1) + e);
      }
    case Epilogue::kTanh: return tanh(v);
    case Epilogue::kGelu:
      if constexpr (sizeof(C) == 4) return (v * (1.0f + erff(v / 1.41421354f))) * 0.5f;
      else return C(0.5) * v * (C(1) + erf(v * C(0.70710678118654752440)));
    case Epilogue::kNone: break;
  }
  return v;
}

template <typename T>
__global__ void epilogue_kernel(T* y, int64_t total, int64_t channels, int64_t inner, const T* bias, const T* residual,
                                Epilogue act) {
  using C = typename Compute<T>::type;
  SS_GRID_STRIDE_LOOP(i, total) {
    C v = load(y[i]);
    if (bias) v += load(bias[(i / inner) % channels]);
    if (residual) v += load(residual[i]);
    y[i] = store<T, C>(activate<C>(v, act));
  }
}

template <typename T>
__global__ void zero_pad_kernel(const T* x, T* y, int64_t nc, int64_t h, int64_t w, int64_t pt, int64_t pl, int64_t oh,
                                int64_t ow) {
  SS_GRID_STRIDE_LOOP(i, nc * oh * ow) {
    const int64_t ox = i % ow, oy = (i / ow) % oh, p = i / (ow * oh);
    const int64_t ix = ox - pl, iy = oy - pt;
    y[i] = (ix >= 0 && ix < w && iy >= 0 && iy < h) ? x[(p * h + iy) * w + ix] : T(0);
  }
}

template <typename F>
cudaError_t dispatch_float(Elem e, F&& f) {
  switch (e) {
    case Elem::kF32: return f(float{});
    case Elem::kF64: return f(double{});
    case Elem::kF16: return f(__half{});
    case Elem::kBF16: return f(__nv_bfloat16{});
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

cudaError_t launch_broadcast_rows(Elem elem, const void* c, int64_t cm, int64_t cn, double beta, void* y, int64_t m,
                                  int64_t n, cudaStream_t stream) {
  if (m * n == 0) return cudaSuccess;
  return dispatch_float(elem, [&](auto zero) {
    using T = decltype(zero);
    broadcast_rows_kernel<T><<<grid_for(m * n, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(c), cm, cn, beta,
                                                                              static_cast<T*>(y), m, n);
    return cudaGetLastError();
  });
}

cudaError_t launch_epilogue(Elem elem, void* y, int64_t outer, int64_t channels, int64_t inner, const void* bias,
                            const void* residual, Epilogue act, cudaStream_t stream) {
  const int64_t total = outer * channels * inner;
  if (total == 0 || (!bias && !residual && act == Epilogue::kNone)) return cudaSuccess;
  return dispatch_float(elem, [&](auto zero) {
    using T = decltype(zero);
    epilogue_kernel<T><<<grid_for(total, kBlock), kBlock, 0, stream>>>(
        static_cast<T*>(y), total, channels, inner, static_cast<const T*>(bias), static_cast<const T*>(residual), act);
    return cudaGetLastError();
  });
}

cudaError_t launch_zero_pad_2d(Elem elem, const void* x, void* y, int64_t n, int64_t c, int64_t h, int64_t w, int64_t pt,
                               int64_t pb, int64_t pl, int64_t pr, cudaStream_t stream) {
  const int64_t oh = h + pt + pb, ow = w + pl + pr;
  if (n * c * oh * ow == 0) return cudaSuccess;
  return dispatch_float(elem, [&](auto zero) {
    using T = decltype(zero);
    zero_pad_kernel<T><<<grid_for(n * c * oh * ow, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y),
                                                                                  n * c, h, w, pt, pl, oh, ow);
    return cudaGetLastError();
  });
}

}  // namespace shardscore::kernels
