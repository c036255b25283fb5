#include "kernels/gemm_conv.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/kernel_util.cuh"

namespace shardscore::kernels {
namespace {

constexpr int kBlock = 256;

// threadIdx.x / blockIdx.x walk a row's columns, threadIdx.y / blockIdx.y the rows: no division
// per element (a Gemm's C goes through here before every product with a bias).
template <typename T>
__global__ void broadcast_rows_kernel(const T* c, int64_t cm, int64_t cn, double beta, T* y, int64_t m, int64_t n) {
  using C = typename Compute<T>::type;
  const C b = static_cast<C>(beta);
  for (int64_t r = blockIdx.y * static_cast<int64_t>(blockDim.y) + threadIdx.y; r < m;
       r += static_cast<int64_t>(gridDim.y) * blockDim.y) {
    const T* cr = c + (cm == 1 ? 0 : r) * cn;
    T* yr = y + r * n;
    for (int64_t col = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; col < n;
         col += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      yr[col] = store<T, C>(b * load(cr[cn == 1 ? 0 : col]));
    }
  }
}

// A rows x cols launch of 256 threads: along a row, the columns (or packs) rounded up to a power
// of two from 32 to 256; the rest of the block takes further rows.
struct RowsLaunch {
  dim3 grid, block;
  RowsLaunch(int64_t rows, int64_t cols) {
    unsigned bx = 32;
    while (bx < 256 && bx < cols) bx *= 2;
    const unsigned by = 256 / bx;
    grid = dim3(static_cast<unsigned>(std::min<int64_t>((cols + bx - 1) / bx, 65535)),
                static_cast<unsigned>(std::min<int64_t>((rows + by - 1) / by, 65535)));
    block = dim3(bx, by);
  }
};

template <typename C>
__device__ __forceinline__ C activate(C v, Epilogue act) {
  switch (act) {
    case Epilogue::kRelu: return v < C(0) ? C(0) : v;
    case Epilogue::kSigmoid: return sigmoid_stable(v);
    case Epilogue::kTanh: return tanh(v);
    case Epilogue::kGelu:
      if constexpr (sizeof(C) == 4) return (v * (1.0f + erff(v / 1.41421354f))) * 0.5f;
      else return C(0.5) * v * (C(1) + erf(v * C(0.70710678118654752440)));
    case Epilogue::kNone: break;
  }
  return v;
}

// V elements of T moved as one aligned load or store (16 bytes for V * sizeof(T) == 16).
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// The epilogue over y viewed as rows x cols, V consecutive elements per thread: an NCHW
// convolution's planes (rows = N * C, cols = H * W, the channel = row % channels, once per row) or a
// product's / NHWC convolution's rows (cols = channels, the channel = the column). No division per
// element: a division per element made the pass compute-bound where it should be memory-bound
// (ResNet-50 runs it over some 2.8 billion values per batch of 256). threadIdx.x / blockIdx.x walk
// the packs of a row, threadIdx.y / blockIdx.y the rows.
template <typename T, int V>
__global__ void epilogue_kernel(T* y, int64_t rows, int64_t cols, int64_t channels, bool channel_is_col, const T* bias,
                                const T* residual, Epilogue act) {
  using C = typename Compute<T>::type;
  const int64_t packs = cols / V;  // cols % V == 0 (the launcher's choice of V)
  for (int64_t r = blockIdx.y * static_cast<int64_t>(blockDim.y) + threadIdx.y; r < rows;
       r += static_cast<int64_t>(gridDim.y) * blockDim.y) {
    const C row_bias = bias && !channel_is_col ? load(bias[r % channels]) : C(0);
    auto* yr = reinterpret_cast<Pack<T, V>*>(y + r * cols);
    const auto* rr = residual ? reinterpret_cast<const Pack<T, V>*>(residual + r * cols) : nullptr;
    for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < packs;
         j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      Pack<T, V> out = yr[j];
      Pack<T, V> res;
      if (rr) res = rr[j];
#pragma unroll
      for (int k = 0; k < V; ++k) {
        C v = load(out.v[k]);
        if (bias) v += channel_is_col ? load(bias[j * V + k]) : row_bias;
        if (rr) v += load(res.v[k]);
        out.v[k] = store<T, C>(activate<C>(v, act));
      }
      yr[j] = out;
    }
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
    const RowsLaunch l(m, n);
    broadcast_rows_kernel<T><<<l.grid, l.block, 0, stream>>>(static_cast<const T*>(c), cm, cn, beta, static_cast<T*>(y), m, n);
    return cudaGetLastError();
  });
}

cudaError_t launch_epilogue(Elem elem, void* y, int64_t outer, int64_t channels, int64_t inner, const void* bias,
                            const void* residual, Epilogue act, cudaStream_t stream) {
  const int64_t total = outer * channels * inner;
  if (total == 0 || (!bias && !residual && act == Epilogue::kNone)) return cudaSuccess;
  // inner == 1: rows of channels (products, NHWC convolutions); otherwise planes of inner values.
  const bool channel_is_col = inner == 1;
  const int64_t rows = channel_is_col ? outer : outer * channels, cols = channel_is_col ? channels : inner;
  return dispatch_float(elem, [&](auto zero) {
    using T = decltype(zero);
    auto launch = [&](auto width) {
      constexpr int V = decltype(width)::value;
      const RowsLaunch l(rows, cols / V);
      epilogue_kernel<T, V><<<l.grid, l.block, 0, stream>>>(static_cast<T*>(y), rows, cols, channels, channel_is_col,
                                                            static_cast<const T*>(bias), static_cast<const T*>(residual), act);
      return cudaGetLastError();
    };
    // The widest pack, up to 16 bytes, with which every row starts aligned: cols a multiple of it,
    // y and the residual aligned to its size (device allocations are to 256 bytes).
    constexpr int kPack = static_cast<int>(16 / sizeof(T));
    auto fits = [&](int v) {
      const uintptr_t bytes = static_cast<uintptr_t>(v) * sizeof(T);
      return cols % v == 0 && reinterpret_cast<uintptr_t>(y) % bytes == 0 && reinterpret_cast<uintptr_t>(residual) % bytes == 0;
    };
    if constexpr (kPack >= 8) {
      if (fits(8)) return launch(std::integral_constant<int, 8>{});
    }
    if constexpr (kPack >= 4) {
      if (fits(4)) return launch(std::integral_constant<int, 4>{});
    }
    if constexpr (kPack >= 2) {
      if (fits(2)) return launch(std::integral_constant<int, 2>{});
    }
    return launch(std::integral_constant<int, 1>{});
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

namespace {
// One thread per output: the taps reaching (oy, ox) are those with oy + pb - i * d a multiple of the
// stride inside the input (gathered, not scattered, so that no two threads write one output).
template <typename T, typename ColT>
__global__ void conv_transpose_col2im_kernel(const ColT* col, const T* bias, T* y, ConvTransposeGeometry g) {
  using C = typename Compute<T>::type;
  const int64_t hw = g.h * g.w, mg = g.m / g.group, rows = mg * g.kh * g.kw;
  SS_GRID_STRIDE_LOOP(idx, g.n * g.m * g.oh * g.ow) {
    const int64_t ox = idx % g.ow;
    int64_t t = idx / g.ow;
    const int64_t oy = t % g.oh;
    t /= g.oh;
    const int64_t mo = t % g.m, n = t / g.m;
    const int64_t gi = mo / mg, ml = mo - gi * mg;
    const ColT* cb = col + ((n * g.group + gi) * rows + ml * g.kh * g.kw) * hw;
    C acc = C(0);
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t ty = oy + g.pb[0] - i * g.d[0];
      if (ty < 0 || ty % g.s[0] != 0 || ty / g.s[0] >= g.h) continue;
      const int64_t iy = ty / g.s[0];
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t tx = ox + g.pb[1] - j * g.d[1];
        if (tx < 0 || tx % g.s[1] != 0 || tx / g.s[1] >= g.w) continue;
        acc += static_cast<C>(cb[(i * g.kw + j) * hw + iy * g.w + tx / g.s[1]]);
      }
    }
    if (bias) acc += load(bias[mo]);
    y[idx] = store<T, C>(acc);
  }
}
}  // namespace

cudaError_t launch_conv_transpose_col2im(Elem elem, const void* col, const void* bias, void* y,
                                         const ConvTransposeGeometry& g, cudaStream_t stream) {
  const int64_t total = g.n * g.m * g.oh * g.ow;
  if (total == 0) return cudaSuccess;
  if (g.group <= 0 || g.m % g.group != 0 || g.s[0] <= 0 || g.s[1] <= 0) return cudaErrorInvalidValue;
  return dispatch_float(elem, [&](auto zero) {
    using T = decltype(zero);
    using ColT = std::conditional_t<sizeof(T) == 2, float, T>;
    conv_transpose_col2im_kernel<T, ColT><<<grid_for(total, kBlock), kBlock, 0, stream>>>(
        static_cast<const ColT*>(col), static_cast<const T*>(bias), static_cast<T*>(y), g);
    return cudaGetLastError();
  });
}

namespace {
__global__ void attention_pointers_kernel(const char* q, const char* k, const char* v, char* s, char* y, AttentionShape a,
                                          int64_t elem_bytes, int64_t score_pitch, void** ptrs, int64_t stride) {
  const int64_t n = a.batch * a.heads;
  SS_GRID_STRIDE_LOOP(bh, n) {
    const int64_t b = bh / a.heads, h = bh - b * a.heads;
    const int64_t bk = a.k_batch == 1 ? 0 : b, hk = a.k_heads == 1 ? 0 : h;
    const int64_t bv = a.v_batch == 1 ? 0 : b, hv = a.v_heads == 1 ? 0 : h;
    ptrs[bh] = const_cast<char*>(q + (b * a.q_len * a.heads + h) * a.head_dim * elem_bytes);
    const int64_t k_off = a.keys_transposed ? (bk * a.k_heads + hk) * a.head_dim * a.kv_len
                                            : (bk * a.kv_len * a.k_heads + hk) * a.head_dim;
    ptrs[stride + bh] = const_cast<char*>(k + k_off * elem_bytes);
    ptrs[2 * stride + bh] = const_cast<char*>(v + (bv * a.kv_len * a.v_heads + hv) * a.v_dim * elem_bytes);
    ptrs[3 * stride + bh] = s + bh * a.q_len * score_pitch * elem_bytes;
    ptrs[4 * stride + bh] = y + (b * a.q_len * a.heads + h) * a.v_dim * elem_bytes;
  }
}
}  // namespace

cudaError_t launch_attention_pointers(int elem_bytes, const void* q, const void* k, const void* v, void* scores,
                                      void* y, const AttentionShape& s, int64_t score_pitch, void** ptrs, int64_t stride,
                                      cudaStream_t stream) {
  const int64_t n = s.batch * s.heads;
  if (n == 0) return cudaSuccess;
  if (stride < n || score_pitch < s.kv_len) return cudaErrorInvalidValue;
  attention_pointers_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(
      static_cast<const char*>(q), static_cast<const char*>(k), static_cast<const char*>(v), static_cast<char*>(scores),
      static_cast<char*>(y), s, elem_bytes, score_pitch, ptrs, stride);
  return cudaGetLastError();
}

}  // namespace shardscore::kernels
