#include "kernels/reduce_ops.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/round_like_cpu.cuh"

namespace shardscore::kernels {
namespace {

constexpr int kBlock = 256;
constexpr int kWarps = kBlock / 32;
constexpr int64_t kMaxGrid = int64_t{1} << 20;  // grid-stride loops cover the rest

unsigned grid_for(int64_t work, int64_t per_block) {
  const int64_t b = (work + per_block - 1) / per_block;
  return static_cast<unsigned>(b < kMaxGrid ? b : kMaxGrid);
}

template <class T>
struct Tag {
  using type = T;
};

// Calls f(Tag<T>{}) for a float Elem; false for others.
template <class F>
bool with_float(Elem e, F&& f) {
  switch (e) {
    case Elem::kF32: f(Tag<float>{}); return true;
    case Elem::kF64: f(Tag<double>{}); return true;
    case Elem::kF16: f(Tag<__half>{}); return true;
    case Elem::kBF16: f(Tag<__nv_bfloat16>{}); return true;
    default: return false;
  }
}

template <class F>
bool with_any(Elem e, F&& f) {
  switch (e) {
    case Elem::kF32: f(Tag<float>{}); return true;
    case Elem::kF64: f(Tag<double>{}); return true;
    case Elem::kF16: f(Tag<__half>{}); return true;
    case Elem::kBF16: f(Tag<__nv_bfloat16>{}); return true;
    case Elem::kI8: f(Tag<int8_t>{}); return true;
    case Elem::kI16: f(Tag<int16_t>{}); return true;
    case Elem::kI32: f(Tag<int32_t>{}); return true;
    case Elem::kI64: f(Tag<int64_t>{}); return true;
    case Elem::kU8: f(Tag<uint8_t>{}); return true;
    case Elem::kU16: f(Tag<uint16_t>{}); return true;
    case Elem::kU32: f(Tag<uint32_t>{}); return true;
    case Elem::kU64: f(Tag<uint64_t>{}); return true;
    case Elem::kBool: f(Tag<bool>{}); return true;
  }
  return false;
}

// ---- element access: float16 and bfloat16 compute in float32 ----

template <class T>
struct MathOf {
  using type = T;
};
template <>
struct MathOf<__half> {
  using type = float;
};
template <>
struct MathOf<__nv_bfloat16> {
  using type = float;
};
template <class T>
using math_t = typename MathOf<T>::type;

template <class T>
constexpr bool kIs16BitFloat = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;
template <class T>
constexpr bool kIsFloat = std::is_same_v<T, float> || std::is_same_v<T, double> || kIs16BitFloat<T>;

template <class T>
__device__ __forceinline__ T load(const T* p, int64_t i) {
  return p[i];
}
__device__ __forceinline__ float load(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ float load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
template <class T>
__device__ __forceinline__ T to_math(T v) {
  return v;
}
__device__ __forceinline__ float to_math(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_math(__nv_bfloat16 v) { return __bfloat162float(v); }

// float32 -> float16 or bfloat16 by the stored type, as the CPU rounds (round_like_cpu.cuh).
template <class T>
__device__ __forceinline__ T narrow_like_cpu(float f) {
  if constexpr (std::is_same_v<T, __half>) return f16_like_cpu(f);
  else return bf16_like_cpu(f);
}

template <class T>
__device__ __forceinline__ void store(T* p, int64_t i, math_t<T> v) {
  p[i] = v;
}
__device__ __forceinline__ void store(__half* p, int64_t i, float v) { p[i] = f16_like_cpu(v); }
__device__ __forceinline__ void store(__nv_bfloat16* p, int64_t i, float v) { p[i] = bf16_like_cpu(v); }

// A double result: rounded to float first for float16 / bfloat16, as the CPU rounds float32 then
// float16 / bfloat16.
template <class T>
__device__ __forceinline__ void store_double(T* p, int64_t i, double v) {
  if constexpr (std::is_same_v<T, double>) p[i] = v;
  else if constexpr (std::is_same_v<T, float>) p[i] = __double2float_rn(v);
  else p[i] = narrow_like_cpu<T>(__double2float_rn(v));
}

// Rounded arithmetic that the compiler may not contract into FMAs (the CPU reference does not).
__device__ __forceinline__ float sub_rn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double sub_rn(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
// The CPU's std::exp(float) (glibc expf: computed in double, rounded once), not CUDA's expf, which
// is up to 2 ulp off and would move Softmax results by ulps against the CPU.
__device__ __forceinline__ float exp_t(float a) { return __double2float_rn(exp(static_cast<double>(a))); }
__device__ __forceinline__ double exp_t(double a) { return exp(a); }

#define SS_GRID_STRIDE(i, n)                                                                          \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);               \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// ---- row reductions: TPR threads (a warp or the whole block) per row ----

// All TPR threads of a row get comb over their values, in a tree fixed by TPR.
template <int TPR, class A, class C>
__device__ __forceinline__ A row_allreduce(A v, C comb, A* smem) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = comb(v, __shfl_xor_sync(0xffffffffu, v, off));
  if constexpr (TPR == 32) {
    return v;
  } else {
    static_assert(TPR == kBlock, "a row is one warp or one block");
    if (threadIdx.x % 32 == 0) smem[threadIdx.x / 32] = v;
    __syncthreads();
    A r = smem[0];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) r = comb(r, smem[w]);
    __syncthreads();
    return r;
  }
}

struct AddOp {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return a + b;
  }
};
// The larger, NaN winning (only floats can be NaN).
struct MaxOp {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    if (a != a) return a;
    if (b != b) return b;
    return b > a ? b : a;
  }
};
// The smaller, NaN winning (ReduceMin).
struct MinOp {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    if (a != a) return a;
    if (b != b) return b;
    return b < a ? b : a;
  }
};
// The larger, NaN ignored (Softmax's running max).
struct MaxNoNanOp {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return b > a ? b : a;
  }
};

template <class T, ReduceKind K>
struct ReduceTraits {
  static constexpr bool kMinMax = K == ReduceKind::kMax || K == ReduceKind::kMin;
  // Max, Min: small integer types in int (what shuffles move), float16 and bfloat16 in float.
  using MaxAcc = std::conditional_t<
      kIs16BitFloat<T>, float,
      std::conditional_t<(std::is_integral_v<T> && sizeof(T) < 4), int, T>>;
  using Acc = std::conditional_t<kMinMax, MaxAcc, std::conditional_t<kIsFloat<T>, double, uint64_t>>;

  __device__ static Acc init() {
    if constexpr (K == ReduceKind::kMax) {
      if constexpr (kIsFloat<T>) return -std::numeric_limits<Acc>::infinity();
      else if constexpr (std::is_same_v<T, bool>) return Acc{0};
      else return static_cast<Acc>(std::numeric_limits<T>::lowest());
    } else if constexpr (K == ReduceKind::kMin) {
      if constexpr (kIsFloat<T>) return std::numeric_limits<Acc>::infinity();
      else if constexpr (std::is_same_v<T, bool>) return Acc{1};
      else return static_cast<Acc>(std::numeric_limits<T>::max());
    } else if constexpr (K == ReduceKind::kProd) {
      return Acc{1};
    } else {
      return Acc{0};
    }
  }
  __device__ static Acc step(Acc a, T v) {
    if constexpr (K == ReduceKind::kMax) return MaxOp{}(a, static_cast<Acc>(to_math(v)));
    else if constexpr (K == ReduceKind::kMin) return MinOp{}(a, static_cast<Acc>(to_math(v)));
    else if constexpr (kIsFloat<T>) {
      const double d = static_cast<double>(to_math(v));
      if constexpr (K == ReduceKind::kProd) return __dmul_rn(a, d);
      else if constexpr (K == ReduceKind::kL1) return __dadd_rn(a, fabs(d));
      else if constexpr (K == ReduceKind::kL2 || K == ReduceKind::kSumSquare) return __dadd_rn(a, __dmul_rn(d, d));
      else return a + d;
    } else {
      // Integers wrap modulo 2^64, as the CPU's do.
      const uint64_t u = static_cast<uint64_t>(v);
      if constexpr (K == ReduceKind::kProd) return a * u;
      else if constexpr (K == ReduceKind::kL1) {
        if constexpr (std::is_signed_v<T>) return a + (v < T{0} ? uint64_t{0} - u : u);
        else return a + u;
      } else if constexpr (K == ReduceKind::kSumSquare) return a + u * u;
      else return a + u;
    }
  }
  __device__ static Acc combine(Acc a, Acc b) {
    if constexpr (K == ReduceKind::kMax) return MaxOp{}(a, b);
    else if constexpr (K == ReduceKind::kMin) return MinOp{}(a, b);
    else if constexpr (K == ReduceKind::kProd) return a * b;
    else return a + b;
  }
  __device__ static void finish(T* y, int64_t o, Acc a, int64_t count) {
    if constexpr (kMinMax) {
      if constexpr (kIs16BitFloat<T>) y[o] = narrow_like_cpu<T>(a);
      else y[o] = static_cast<T>(a);
    } else if constexpr (kIsFloat<T>) {
      if constexpr (K == ReduceKind::kMean) store_double(y, o, a / static_cast<double>(count));
      else if constexpr (K == ReduceKind::kL2) store_double(y, o, sqrt(a));
      else if constexpr (K == ReduceKind::kLogSum) store_double(y, o, log(a));  // log(0) = -inf: an empty group
      else store_double(y, o, a);
    } else {
      y[o] = static_cast<T>(a);
    }
  }
};

// One thread per output, the group in row-major order (the CPU's order).
template <class T, ReduceKind K>
__global__ void reduce_generic_kernel(const T* __restrict__ x, T* __restrict__ y, ReduceGeometry g, int64_t n_out,
                                      int64_t n_red) {
  using Tr = ReduceTraits<T, K>;
  const int64_t inner_n = g.red_rank ? g.red_dims[g.red_rank - 1] : 1;
  const int64_t inner_s = g.red_rank ? g.red_strides[g.red_rank - 1] : 0;
  const int64_t outer_n = inner_n ? n_red / inner_n : 0;
  SS_GRID_STRIDE(o, n_out) {
    int64_t base = 0, rem = o;
    for (int k = g.kept_rank - 1; k >= 0; --k) {
      base += (rem % g.kept_dims[k]) * g.kept_strides[k];
      rem /= g.kept_dims[k];
    }
    typename Tr::Acc a = Tr::init();
    for (int64_t q = 0; q < outer_n; ++q) {
      int64_t off = base, r = q;
      for (int k = g.red_rank - 2; k >= 0; --k) {
        off += (r % g.red_dims[k]) * g.red_strides[k];
        r /= g.red_dims[k];
      }
      for (int64_t j = 0; j < inner_n; ++j) a = Tr::step(a, x[off + j * inner_s]);
    }
    Tr::finish(y, o, a, n_red);
  }
}

// Contiguous rows of n elements, TPR threads per row.
template <class T, ReduceKind K, int TPR>
__global__ void reduce_rows_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n) {
  using Tr = ReduceTraits<T, K>;
  using Acc = typename Tr::Acc;
  __shared__ Acc smem[kWarps];
  constexpr int kRowsPerBlock = kBlock / TPR;
  const int lane = threadIdx.x % TPR;
  for (int64_t r0 = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock; r0 < rows;
       r0 += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const int64_t r = r0 + threadIdx.x / TPR;
    Acc a = Tr::init();
    if (r < rows) {
      const T* p = x + r * n;
      for (int64_t j = lane; j < n; j += TPR) a = Tr::step(a, p[j]);
    }
    a = row_allreduce<TPR>(a, [](Acc u, Acc v) { return Tr::combine(u, v); }, smem);
    if (r < rows && lane == 0) Tr::finish(y, r, a, n);
  }
}

template <class T, ReduceKind K>
void reduce_typed(const T* x, T* y, const ReduceGeometry& g, int64_t n_out, int64_t n_red, cudaStream_t stream) {
  const bool rows = g.red_rank == 1 && g.red_strides[0] == 1 &&
                    (g.kept_rank == 0 || (g.kept_rank == 1 && g.kept_strides[0] == n_red));
  if (rows && n_red > 1024) {
    reduce_rows_kernel<T, K, kBlock><<<grid_for(n_out, 1), kBlock, 0, stream>>>(x, y, n_out, n_red);
  } else if (rows && n_red >= 32) {
    reduce_rows_kernel<T, K, 32><<<grid_for(n_out, kWarps), kBlock, 0, stream>>>(x, y, n_out, n_red);
  } else {
    reduce_generic_kernel<T, K><<<grid_for(n_out, kBlock), kBlock, 0, stream>>>(x, y, g, n_out, n_red);
  }
}

// ReduceLogSumExp (float types): one thread per output, two passes over the group in the CPU's
// order: max + log(sum exp(x - max)) in double; a NaN gives NaN, a max of +-inf (an empty group:
// -inf) gives that max.
template <class T>
__global__ void reduce_log_sum_exp_kernel(const T* __restrict__ x, T* __restrict__ y, ReduceGeometry g, int64_t n_out,
                                          int64_t n_red) {
  const int64_t inner_n = g.red_rank ? g.red_dims[g.red_rank - 1] : 1;
  const int64_t inner_s = g.red_rank ? g.red_strides[g.red_rank - 1] : 0;
  const int64_t outer_n = inner_n ? n_red / inner_n : 0;
  SS_GRID_STRIDE(o, n_out) {
    int64_t base = 0, rem = o;
    for (int k = g.kept_rank - 1; k >= 0; --k) {
      base += (rem % g.kept_dims[k]) * g.kept_strides[k];
      rem /= g.kept_dims[k];
    }
    double mx = -std::numeric_limits<double>::infinity();
    bool nan = false;
    for (int64_t q = 0; q < outer_n; ++q) {
      int64_t off = base, r = q;
      for (int k = g.red_rank - 2; k >= 0; --k) {
        off += (r % g.red_dims[k]) * g.red_strides[k];
        r /= g.red_dims[k];
      }
      for (int64_t j = 0; j < inner_n; ++j) {
        const double v = static_cast<double>(to_math(x[off + j * inner_s]));
        nan = nan || v != v;
        if (v > mx) mx = v;
      }
    }
    double acc = 0;
    if (nan) {
      acc = __longlong_as_double(0x7ff8000000000000ll);
    } else if (isinf(mx)) {
      acc = mx;
    } else {
      for (int64_t q = 0; q < outer_n; ++q) {
        int64_t off = base, r = q;
        for (int k = g.red_rank - 2; k >= 0; --k) {
          off += (r % g.red_dims[k]) * g.red_strides[k];
          r /= g.red_dims[k];
        }
        for (int64_t j = 0; j < inner_n; ++j)
          acc = __dadd_rn(acc, exp(__dsub_rn(static_cast<double>(to_math(x[off + j * inner_s])), mx)));
      }
      acc = __dadd_rn(mx, log(acc));
    }
    store_double(y, o, acc);
  }
}

// ---- Softmax and LogSoftmax ----
//
// One set of kernels for both: the same max (the CPU's running std::max), the same sum of exp_t(x -
// max) in double, in the same order, and then each op's own last step (SoftmaxOut / LogSoftmaxOut):
//   Softmax:    y = exp(x - max) * inv, inv = 1 / sum rounded to the compute type, the product
//               rounded once to it (then stored as the element type);
//   LogSoftmax: y = (x - max) - log(sum), x - max in the compute type, the difference in double,
//               rounded once (store_double).

// The values softmax_rows_kernel normalizes, row by row, and its exp: Softmax's and LogSoftmax's
// rows as they are, with the CPU's exp (exp_t).
struct PlainRows {
  struct Row {
    template <class M>
    __device__ __forceinline__ M operator()(int64_t, M v) const {
      return v;
    }
  };
  __device__ __forceinline__ Row row(int64_t) const { return {}; }
  template <class M>
  __device__ __forceinline__ static M exp(M v) {
    return exp_t(v);
  }
  template <class M>
  __device__ __forceinline__ M result(M v) const {
    return v;
  }
};

// Softmax's last step from a row's sum: element i of q from d = x - max (with the rows' exp and
// result; PlainRows: exp_t, as is).
template <class M>
struct SoftmaxOut {
  M inv;
  __device__ __forceinline__ explicit SoftmaxOut(double sum) : inv(static_cast<M>(1.0 / sum)) {}
  template <class T, class Rows>
  __device__ __forceinline__ void put(T* q, int64_t i, M d, const Rows& values) const {
    store(q, i, values.result(mul_rn(Rows::exp(d), inv)));
  }
};

// LogSoftmax's last step from a row's sum (PlainRows only: no exp, no result).
template <class M>
struct LogSoftmaxOut {
  double lse;
  __device__ __forceinline__ explicit LogSoftmaxOut(double sum) : lse(log(sum)) {}
  template <class T>
  __device__ __forceinline__ void put(T* q, int64_t i, M d, const PlainRows&) const {
    store_double(q, i, __dsub_rn(static_cast<double>(d), lse));
  }
};

template <bool kLog, class M>
using SoftmaxOutOf = std::conditional_t<kLog, LogSoftmaxOut<M>, SoftmaxOut<M>>;

// One thread per (outer, inner) position, in the CPU's sequential order.
template <class T, bool kLog>
__global__ void softmax_strided_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t dim,
                                       int64_t inner) {
  using M = math_t<T>;
  SS_GRID_STRIDE(i, outer * inner) {
    const int64_t o = i / inner, in = i % inner;
    const T* p = x + o * dim * inner + in;
    T* q = y + o * dim * inner + in;
    M mx = load(p, 0);
    for (int64_t d = 1; d < dim; ++d) {
      const M v = load(p, d * inner);
      mx = mx < v ? v : mx;  // std::max
    }
    double sum = 0;
    for (int64_t d = 0; d < dim; ++d) sum += static_cast<double>(exp_t(sub_rn(load(p, d * inner), mx)));
    const SoftmaxOutOf<kLog, M> out(sum);
    // x - max (and Softmax's e) recomputed (identically) rather than kept in y, which may be
    // float16 or bfloat16.
    for (int64_t d = 0; d < dim; ++d) out.put(q, d * inner, sub_rn(load(p, d * inner), mx), PlainRows{});
  }
}

// Attention's scores: rows r of [batch, heads, q_len], each value plus the mask's value at
// (b, h, i, j) through its strides (0 where broadcast), added in the compute type; no mask: as is.
// Its exp is CUDA's expf (within 2 ulp) for float32 and the 2-byte types: it is computed twice for
// every score, some 1.2 billion times per BERT-base batch of 256, where exp_t's double exp would be
// about a millisecond of float64 work by count; attention is held to tolerances, not to the CPU's bits.
template <class T>
struct MaskedRows {
  const T* mask = nullptr;
  int64_t heads = 1, q_len = 1, s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  bool nan_to_zero = false;
  struct Row {
    const T* m;
    int64_t s3;
    __device__ __forceinline__ math_t<T> operator()(int64_t j, math_t<T> v) const {
      return m ? add_rn(v, load(m, j * s3)) : v;
    }
  };
  __device__ __forceinline__ Row row(int64_t r) const {
    if (!mask) return {nullptr, 0};
    const int64_t i = r % q_len, bh = r / q_len;
    return {mask + (bh / heads) * s0 + (bh % heads) * s1 + i * s2, s3};
  }
  template <class M>
  __device__ __forceinline__ static M exp(M v) {
    if constexpr (std::is_same_v<M, float>) return expf(v);
    else return exp_t(v);
  }
  template <class M>
  __device__ __forceinline__ M result(M v) const {
    return nan_to_zero && v != v ? M(0) : v;
  }
};

// Contiguous rows, TPR threads per row. x may be y (Attention normalizes its scores in place):
// each element is read and written by the one thread that owns it. LogSoftmax (kLog) takes
// PlainRows only.
template <class T, int TPR, bool kLog, class Rows>
__global__ void softmax_rows_kernel(const T* x, T* y, int64_t rows, int64_t n, int64_t pitch, Rows values) {
  static_assert(!kLog || std::is_same_v<Rows, PlainRows>, "LogSoftmax normalizes rows as they are");
  using M = math_t<T>;
  __shared__ M smax[kWarps];
  __shared__ double ssum[kWarps];
  constexpr int kRowsPerBlock = kBlock / TPR;
  const int lane = threadIdx.x % TPR;
  for (int64_t r0 = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock; r0 < rows;
       r0 += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const int64_t r = r0 + threadIdx.x / TPR;
    const bool live = r < rows;
    const T* p = x + (live ? r : 0) * pitch;
    const auto v = values.row(live ? r : 0);
    M mx = -std::numeric_limits<M>::infinity();
    if (live)
      for (int64_t j = lane; j < n; j += TPR) mx = MaxNoNanOp{}(mx, v(j, load(p, j)));
    mx = row_allreduce<TPR>(mx, MaxNoNanOp{}, smax);
    // The CPU's running std::max skips NaNs except a NaN first element, which it keeps.
    if (live) {
      const M first = v(0, load(p, 0));
      if (first != first) mx = first;
    }
    double sum = 0;
    if (live)
      for (int64_t j = lane; j < n; j += TPR) sum += static_cast<double>(Rows::exp(sub_rn(v(j, load(p, j)), mx)));
    sum = row_allreduce<TPR>(sum, AddOp{}, ssum);
    const SoftmaxOutOf<kLog, M> out(sum);
    // In place, every lane has read the row's first element (above) before any lane writes it: a
    // shuffle orders execution, not memory; a row of a whole block has row_allreduce's barriers.
    if constexpr (TPR == 32) __syncwarp();
    if (live) {
      T* q = y + r * pitch;
      for (int64_t j = lane; j < n; j += TPR) out.put(q, j, sub_rn(v(j, load(p, j)), mx), values);
    }
  }
}

// ---- CumSum ----

// One thread per (outer, inner) line, along dim in the CPU's order: floats summed in double (each
// output rounded once), integers wrapping modulo 2^64 (then to their width).
template <class T>
__global__ void cumsum_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t dim, int64_t inner,
                              bool exclusive, bool reverse) {
  using Acc = std::conditional_t<kIsFloat<T>, double, uint64_t>;
  SS_GRID_STRIDE(i, outer * inner) {
    const int64_t o = i / inner, in = i % inner;
    Acc acc = 0;
    for (int64_t s = 0; s < dim; ++s) {
      const int64_t d = reverse ? dim - 1 - s : s;
      const int64_t at = (o * dim + d) * inner + in;
      if (exclusive) {
        if constexpr (kIsFloat<T>) store_double(y, at, acc);
        else y[at] = static_cast<T>(acc);
      }
      if constexpr (kIsFloat<T>) acc = __dadd_rn(acc, static_cast<double>(to_math(x[at])));
      else acc += static_cast<uint64_t>(x[at]);
      if (!exclusive) {
        if constexpr (kIsFloat<T>) store_double(y, at, acc);
        else y[at] = static_cast<T>(acc);
      }
    }
  }
}

// ---- ArgMax ----

template <class T>
__global__ void argmax_kernel(const T* __restrict__ x, int64_t* __restrict__ y, int64_t outer, int64_t dim,
                              int64_t inner, bool last) {
  using M = math_t<T>;
  SS_GRID_STRIDE(i, outer * inner) {
    const int64_t o = i / inner, in = i % inner;
    const T* p = x + o * dim * inner + in;
    M best_v = load(p, 0);
    int64_t best = 0;
    for (int64_t d = 1; d < dim; ++d) {
      const M v = load(p, d * inner);
      if (last ? !(v < best_v) : v > best_v) {
        best = d;
        best_v = v;
      }
    }
    y[i] = best;
  }
}

// ArgMin: argmax_kernel with the comparisons turned round, as the CPU's cpu_argmin.
template <class T>
__global__ void argmin_kernel(const T* __restrict__ x, int64_t* __restrict__ y, int64_t outer, int64_t dim,
                              int64_t inner, bool last) {
  using M = math_t<T>;
  SS_GRID_STRIDE(i, outer * inner) {
    const int64_t o = i / inner, in = i % inner;
    const T* p = x + o * dim * inner + in;
    M best_v = load(p, 0);
    int64_t best = 0;
    for (int64_t d = 1; d < dim; ++d) {
      const M v = load(p, d * inner);
      if (last ? !(v > best_v) : v < best_v) {
        best = d;
        best_v = v;
      }
    }
    y[i] = best;
  }
}

// ---- LayerNormalization ----

// Element (o, j) of a kPerColumn or kStrided operand; a kPerRow one is read once per row (row_operand).
template <class T>
__device__ __forceinline__ double operand_at(const NormOperand& op, int64_t o, int64_t j, int64_t inner) {
  const T* p = static_cast<const T*>(op.data);
  if (op.layout == NormLayout::kPerColumn) return static_cast<double>(load(p, j));
  int64_t flat = o * inner + j, off = 0;
  for (int k = op.index.rank - 1; k >= 0; --k) {
    off += (flat % op.index.dims[k]) * op.index.strides[k];
    flat /= op.index.dims[k];
  }
  return static_cast<double>(load(p, off));
}

// Row o's value of a kPerRow operand (one division per row, not per element); 0 for the others.
template <class T>
__device__ __forceinline__ double row_operand(const NormOperand& op, int64_t o) {
  if (op.layout != NormLayout::kPerRow || !op.data) return 0;
  return static_cast<double>(load(static_cast<const T*>(op.data), o % op.period));
}

// X's value j of a row: x's, or x's plus x2's (AddLayerNormalization) added in the compute type.
template <class T>
__device__ __forceinline__ double norm_input(const T* p, const T* p2, int64_t j) {
  return static_cast<double>(p2 ? add_rn(load(p, j), load(p2, j)) : load(p, j));
}

template <class T, int TPR>
__global__ void layer_norm_kernel(const T* __restrict__ x, const T* __restrict__ x2, NormOperand scale, NormOperand bias,
                                  T* __restrict__ y, float* __restrict__ mean_out, float* __restrict__ inv_out,
                                  int64_t rows, int64_t n, double eps) {
  __shared__ double smem[kWarps];
  constexpr int kRowsPerBlock = kBlock / TPR;
  const int lane = threadIdx.x % TPR;
  for (int64_t r0 = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock; r0 < rows;
       r0 += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const int64_t r = r0 + threadIdx.x / TPR;
    const bool live = r < rows;
    const T* p = x + (live ? r : 0) * n;
    const T* p2 = x2 ? x2 + (live ? r : 0) * n : nullptr;
    double sum = 0;
    if (live)
      for (int64_t j = lane; j < n; j += TPR) sum += norm_input(p, p2, j);
    sum = row_allreduce<TPR>(sum, AddOp{}, smem);
    const double mean = sum / static_cast<double>(n);
    double sq = 0;
    if (live)
      for (int64_t j = lane; j < n; j += TPR) {
        const double d = __dsub_rn(norm_input(p, p2, j), mean);
        sq = __dadd_rn(sq, __dmul_rn(d, d));
      }
    sq = row_allreduce<TPR>(sq, AddOp{}, smem);
    const double inv = 1.0 / sqrt(__dadd_rn(sq / static_cast<double>(n), eps));
    if (!live) continue;
    T* q = y + r * n;
    const bool scale_row = scale.layout == NormLayout::kPerRow, bias_row = bias.layout == NormLayout::kPerRow;
    const double scale_r = row_operand<T>(scale, r), bias_r = row_operand<T>(bias, r);
    for (int64_t j = lane; j < n; j += TPR) {
      double v = __dmul_rn(__dmul_rn(__dsub_rn(norm_input(p, p2, j), mean), inv),
                           scale_row ? scale_r : operand_at<T>(scale, r, j, n));
      if (bias.data) v = __dadd_rn(v, bias_row ? bias_r : operand_at<T>(bias, r, j, n));
      store_double(q, j, v);
    }
    if (lane == 0) {
      if (mean_out) store_double(mean_out, r, mean);
      if (inv_out) store_double(inv_out, r, inv);
    }
  }
}

// ---- BatchNormalization ----

template <class T>
__global__ void batch_norm_params_kernel(const T* __restrict__ scale, const T* __restrict__ bias,
                                         const T* __restrict__ mean, const T* __restrict__ var, math_t<T>* mul,
                                         math_t<T>* add, int64_t c, double eps) {
  using M = math_t<T>;
  SS_GRID_STRIDE(ci, c) {
    const double a = static_cast<double>(load(scale, ci)) / sqrt(__dadd_rn(static_cast<double>(load(var, ci)), eps));
    mul[ci] = static_cast<M>(a);
    add[ci] = static_cast<M>(__dsub_rn(static_cast<double>(load(bias, ci)), __dmul_rn(static_cast<double>(load(mean, ci)), a)));
  }
}

template <class T>
__global__ void batch_norm_apply_kernel(const T* __restrict__ x, T* __restrict__ y, const math_t<T>* __restrict__ mul,
                                        const math_t<T>* __restrict__ add, int64_t total, int64_t c, int64_t inner) {
  SS_GRID_STRIDE(i, total) {
    const int64_t ci = (i / inner) % c;
    store(y, i, add_rn(mul_rn(load(x, i), mul[ci]), add[ci]));
  }
}

// One thread per element: its window's channels are `spatial` apart.
template <class T>
__global__ void lrn_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, int64_t c, int64_t spatial,
                           int64_t before, int64_t after, double alpha_over_size, double beta, double bias) {
  SS_GRID_STRIDE(i, total) {
    const int64_t ci = (i / spatial) % c;
    const int64_t first = i - ci * spatial;  // element (n, 0, s)
    const int64_t lo = ci - before < 0 ? 0 : ci - before;
    const int64_t hi = ci + after > c - 1 ? c - 1 : ci + after;
    double sq = 0;
    for (int64_t k = lo; k <= hi; ++k) {
      const double v = static_cast<double>(load(x, first + k * spatial));
      sq = __dadd_rn(sq, __dmul_rn(v, v));
    }
    const double d = pow(__dadd_rn(bias, __dmul_rn(alpha_over_size, sq)), beta);
    store_double(y, i, static_cast<double>(load(x, i)) / d);
  }
}

// ---- pools ----

// The pools' geometry in the index type I of their kernel: int32_t where every index fits (the
// launcher checks), int64_t otherwise. 32-bit divisions cost a fraction of 64-bit ones, and the
// pools divide for every output element.
template <class I>
struct PoolIndex {
  I planes, h, w, oh, ow, k[2], s[2], pb[2], d[2];
  I padded[2];  // h and w with both pads: a window's taps below it count for count_include_pad
  explicit PoolIndex(const PoolGeometry& g)
      : planes(static_cast<I>(g.planes)), h(static_cast<I>(g.h)), w(static_cast<I>(g.w)), oh(static_cast<I>(g.oh)),
        ow(static_cast<I>(g.ow)), k{static_cast<I>(g.k[0]), static_cast<I>(g.k[1])},
        s{static_cast<I>(g.s[0]), static_cast<I>(g.s[1])}, pb{static_cast<I>(g.pb[0]), static_cast<I>(g.pb[1])},
        d{static_cast<I>(g.d[0]), static_cast<I>(g.d[1])},
        padded{static_cast<I>(g.h + g.pb[0] + g.pe[0]), static_cast<I>(g.w + g.pb[1] + g.pe[1])} {}
};

// Whether the pool's every index, and a grid stride past the last, fits in 32 bits. An empty input
// axis counts as 1: the kernels still form plane * h offsets (padding-only windows read nothing).
bool pool_fits_32(const PoolGeometry& g) {
  constexpr int64_t kLimit = (int64_t{1} << 31) - (int64_t{1} << 28);
  const int64_t window = std::max((g.k[0] - 1) * g.d[0], (g.k[1] - 1) * g.d[1]) + std::max(g.pb[0], g.pb[1]) +
                       std::max(g.pe[0], g.pe[1]);
  return g.planes * g.oh * g.ow < kLimit && g.planes * std::max<int64_t>(g.h, 1) * std::max<int64_t>(g.w, 1) < kLimit &&
         std::max(g.oh * g.s[0], g.ow * g.s[1]) + window < kLimit;
}

template <class T, class I>
__global__ void max_pool_kernel(const T* __restrict__ x, T* __restrict__ y, PoolIndex<I> g) {
  using M = math_t<T>;
  const I n = g.planes * g.oh * g.ow;
  for (I i = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); i < n;
       i += static_cast<I>(blockDim.x) * static_cast<I>(gridDim.x)) {
    const I ox = i % g.ow, t = i / g.ow, oy = t % g.oh, pl = t / g.oh;
    const T* xp = x + pl * g.h * g.w;
    M best = std::numeric_limits<M>::lowest();
    bool nan = false;
    for (I a = 0; a < g.k[0] && !nan; ++a) {
      const I iy = oy * g.s[0] - g.pb[0] + a * g.d[0];
      if (iy < 0 || iy >= g.h) continue;
      for (I b = 0; b < g.k[1]; ++b) {
        const I ix = ox * g.s[1] - g.pb[1] + b * g.d[1];
        if (ix < 0 || ix >= g.w) continue;
        const M v = load(xp, iy * g.w + ix);
        if (v != v) {
          best = v;
          nan = true;
          break;
        }
        if (v > best) best = v;
      }
    }
    store(y, i, best);
  }
}

template <class T, class I>
__global__ void average_pool_kernel(const T* __restrict__ x, T* __restrict__ y, PoolIndex<I> g, bool include_pad) {
  const I n = g.planes * g.oh * g.ow;
  for (I i = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); i < n;
       i += static_cast<I>(blockDim.x) * static_cast<I>(gridDim.x)) {
    const I ox = i % g.ow, t = i / g.ow, oy = t % g.oh, pl = t / g.oh;
    const T* xp = x + pl * g.h * g.w;
    double sum = 0;
    int64_t count = 0, rows_padded = 0, cols_padded = 0;
    for (I a = 0; a < g.k[0]; ++a) {
      rows_padded += oy * g.s[0] + a * g.d[0] < g.padded[0] ? 1 : 0;
      const I iy = oy * g.s[0] - g.pb[0] + a * g.d[0];
      if (iy < 0 || iy >= g.h) continue;
      for (I b = 0; b < g.k[1]; ++b) {
        const I ix = ox * g.s[1] - g.pb[1] + b * g.d[1];
        if (ix < 0 || ix >= g.w) continue;
        sum += static_cast<double>(load(xp, iy * g.w + ix));
        ++count;
      }
    }
    if (include_pad)
      for (I b = 0; b < g.k[1]; ++b) cols_padded += ox * g.s[1] + b * g.d[1] < g.padded[1] ? 1 : 0;
    store_double(y, i, sum / static_cast<double>(include_pad ? rows_padded * cols_padded : count));
  }
}

// ---- float16 / bfloat16 <-> float32 ----

template <class T>
__global__ void widen_kernel(const T* __restrict__ in, float* __restrict__ out, int64_t n) {
  SS_GRID_STRIDE(i, n) out[i] = to_math(in[i]);
}
template <class T>
__global__ void narrow_kernel(const float* __restrict__ in, T* __restrict__ out, int64_t n) {
  SS_GRID_STRIDE(i, n) out[i] = narrow_like_cpu<T>(in[i]);
}

}  // namespace

cudaError_t launch_reduce(ReduceKind kind, Elem elem, const void* x, void* y, const ReduceGeometry& g,
                          cudaStream_t stream) {
  int64_t n_out = 1, n_red = 1;
  for (int k = 0; k < g.kept_rank; ++k) n_out *= g.kept_dims[k];
  for (int k = 0; k < g.red_rank; ++k) n_red *= g.red_dims[k];
  if (n_out == 0) return cudaSuccess;
  bool supported = true;
  const bool known = with_any(elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    switch (kind) {
      case ReduceKind::kMax: reduce_typed<T, ReduceKind::kMax>(px, py, g, n_out, n_red, stream); break;
      case ReduceKind::kSum:
        if constexpr (!std::is_same_v<T, bool>) reduce_typed<T, ReduceKind::kSum>(px, py, g, n_out, n_red, stream);
        else supported = false;
        break;
      case ReduceKind::kMean:
        if constexpr (kIsFloat<T>) reduce_typed<T, ReduceKind::kMean>(px, py, g, n_out, n_red, stream);
        else supported = false;
        break;
      case ReduceKind::kMin: reduce_typed<T, ReduceKind::kMin>(px, py, g, n_out, n_red, stream); break;
      case ReduceKind::kProd:
        if constexpr (!std::is_same_v<T, bool>) reduce_typed<T, ReduceKind::kProd>(px, py, g, n_out, n_red, stream);
        else supported = false;
        break;
      case ReduceKind::kL1:
        if constexpr (!std::is_same_v<T, bool>) reduce_typed<T, ReduceKind::kL1>(px, py, g, n_out, n_red, stream);
        else supported = false;
        break;
      case ReduceKind::kSumSquare:
        if constexpr (!std::is_same_v<T, bool>) reduce_typed<T, ReduceKind::kSumSquare>(px, py, g, n_out, n_red, stream);
        else supported = false;
        break;
      case ReduceKind::kL2:
        if constexpr (kIsFloat<T>) reduce_typed<T, ReduceKind::kL2>(px, py, g, n_out, n_red, stream);
        else supported = false;
        break;
      case ReduceKind::kLogSum:
        if constexpr (kIsFloat<T>) reduce_typed<T, ReduceKind::kLogSum>(px, py, g, n_out, n_red, stream);
        else supported = false;
        break;
      case ReduceKind::kLogSumExp:
        if constexpr (kIsFloat<T>) {
          reduce_log_sum_exp_kernel<T><<<grid_for(n_out, kBlock), kBlock, 0, stream>>>(px, py, g, n_out, n_red);
        } else {
          supported = false;
        }
        break;
    }
  });
  if (!known || !supported) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

namespace {
// Softmax (kLog false) or LogSoftmax (kLog true) of x viewed as [outer, dim, inner] along dim: a
// block per row over 1024 elements, a warp per row from 32, else a thread per (outer, inner).
template <bool kLog>
cudaError_t launch_softmax_like(Elem elem, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner,
                                cudaStream_t stream) {
  if (outer * dim * inner == 0) return cudaSuccess;
  const bool known = with_float(elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    if (inner == 1 && dim > 1024) {
      softmax_rows_kernel<T, kBlock, kLog><<<grid_for(outer, 1), kBlock, 0, stream>>>(px, py, outer, dim, dim, PlainRows{});
    } else if (inner == 1 && dim >= 32) {
      softmax_rows_kernel<T, 32, kLog><<<grid_for(outer, kWarps), kBlock, 0, stream>>>(px, py, outer, dim, dim, PlainRows{});
    } else {
      softmax_strided_kernel<T, kLog><<<grid_for(outer * inner, kBlock), kBlock, 0, stream>>>(px, py, outer, dim, inner);
    }
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}
}  // namespace

cudaError_t launch_softmax(Elem elem, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner,
                           cudaStream_t stream) {
  return launch_softmax_like<false>(elem, x, y, outer, dim, inner, stream);
}

cudaError_t launch_log_softmax(Elem elem, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner,
                               cudaStream_t stream) {
  return launch_softmax_like<true>(elem, x, y, outer, dim, inner, stream);
}

cudaError_t launch_attention_softmax(Elem elem, void* scores, int64_t batch, int64_t heads, int64_t q_len,
                                     int64_t kv_len, int64_t pitch, const void* mask, const int64_t mask_strides[4],
                                     bool nan_to_zero, cudaStream_t stream) {
  const int64_t rows = batch * heads * q_len;
  if (rows == 0 || kv_len == 0) return cudaSuccess;
  if (pitch < kv_len) return cudaErrorInvalidValue;
  const bool known = with_float(elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* s = static_cast<T*>(scores);
    MaskedRows<T> values;
    values.mask = static_cast<const T*>(mask);
    values.heads = heads;
    values.q_len = q_len;
    values.s0 = mask_strides[0];
    values.s1 = mask_strides[1];
    values.s2 = mask_strides[2];
    values.s3 = mask_strides[3];
    values.nan_to_zero = nan_to_zero;
    if (kv_len > 1024) {
      softmax_rows_kernel<T, kBlock, false><<<grid_for(rows, 1), kBlock, 0, stream>>>(s, s, rows, kv_len, pitch, values);
    } else {
      softmax_rows_kernel<T, 32, false><<<grid_for(rows, kWarps), kBlock, 0, stream>>>(s, s, rows, kv_len, pitch, values);
    }
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

namespace {
template <class T>
__global__ void lp_norm_kernel(const T* x, T* y, int64_t outer, int64_t dim, int64_t inner, int p) {
  for (int64_t s = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; s < outer * inner;
       s += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t o = s / inner, in = s - o * inner;
    const int64_t base = o * dim * inner + in;
    double sum = 0;
    for (int64_t d = 0; d < dim; ++d) {
      const double v = static_cast<double>(load(x, base + d * inner));
      sum += p == 1 ? fabs(v) : v * v;
    }
    const double norm = p == 1 ? sum : sqrt(sum);
    for (int64_t d = 0; d < dim; ++d) {
      const int64_t at = base + d * inner;
      const double q = norm == 0 ? 0.0 : static_cast<double>(load(x, at)) / norm;
      if constexpr (kIs16BitFloat<T>) y[at] = narrow_like_cpu<T>(static_cast<float>(q));
      else y[at] = static_cast<T>(q);
    }
  }
}
}  // namespace

cudaError_t launch_lp_normalization(Elem elem, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner, int p,
                                    cudaStream_t stream) {
  if (outer * inner * dim == 0) return cudaSuccess;
  bool known = true;
  switch (elem) {
    case Elem::kF32: lp_norm_kernel<<<grid_for(outer * inner, kBlock), kBlock, 0, stream>>>(static_cast<const float*>(x), static_cast<float*>(y), outer, dim, inner, p); break;
    case Elem::kF64: lp_norm_kernel<<<grid_for(outer * inner, kBlock), kBlock, 0, stream>>>(static_cast<const double*>(x), static_cast<double*>(y), outer, dim, inner, p); break;
    case Elem::kF16: lp_norm_kernel<<<grid_for(outer * inner, kBlock), kBlock, 0, stream>>>(static_cast<const __half*>(x), static_cast<__half*>(y), outer, dim, inner, p); break;
    case Elem::kBF16: lp_norm_kernel<<<grid_for(outer * inner, kBlock), kBlock, 0, stream>>>(static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), outer, dim, inner, p); break;
    default: known = false;
  }
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

namespace {
// Whether (va, a) comes before (vb, b) in TopK's order.
template <class M>
__device__ __forceinline__ bool topk_before(M va, int64_t a, M vb, int64_t b, bool largest) {
  if constexpr (std::is_floating_point_v<M>) {
    const bool na = isnan(va), nb = isnan(vb);
    if (na || nb) return na && nb ? a < b : (largest ? na : nb);
  }
  if (va != vb) return largest ? va > vb : va < vb;
  return a < b;
}

constexpr int kTopKBlock = 256;

template <class T>
__global__ void topk_kernel(const T* x, T* values, int64_t* indices, int64_t outer, int64_t dim, int64_t inner, int64_t k,
                            bool largest) {
  using M = math_t<T>;
  __shared__ M best_v[kTopKBlock];
  __shared__ int64_t best_i[kTopKBlock];
  for (int64_t slice = blockIdx.x; slice < outer * inner; slice += gridDim.x) {
    const int64_t o = slice / inner, in = slice - o * inner;
    const T* v = x + o * dim * inner + in;
    M prev_v = M(0);
    int64_t prev_i = -1;  // none chosen yet
    for (int64_t r = 0; r < k; ++r) {
      // This thread's first element after (prev_v, prev_i) in the order, among its strided share.
      M mv = M(0);
      int64_t mi = -1;
      for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
        const M c = load(v, d * inner);
        if (prev_i >= 0 && !topk_before(prev_v, prev_i, c, d, largest)) continue;
        if (mi < 0 || topk_before(c, d, mv, mi, largest)) {
          mv = c;
          mi = d;
        }
      }
      best_v[threadIdx.x] = mv;
      best_i[threadIdx.x] = mi;
      __syncthreads();
      for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) {
          const int64_t oi = best_i[threadIdx.x + half];
          if (oi >= 0 && (best_i[threadIdx.x] < 0 ||
                          topk_before(best_v[threadIdx.x + half], oi, best_v[threadIdx.x], best_i[threadIdx.x], largest))) {
            best_v[threadIdx.x] = best_v[threadIdx.x + half];
            best_i[threadIdx.x] = oi;
          }
        }
        __syncthreads();
      }
      prev_v = best_v[0];
      prev_i = best_i[0];
      if (threadIdx.x == 0) {
        const int64_t at = (o * k + r) * inner + in;
        values[at] = v[prev_i * inner];  // as stored
        indices[at] = prev_i;
      }
      __syncthreads();  // best_* is rewritten by the next round
    }
  }
}
}  // namespace

cudaError_t launch_topk(Elem elem, const void* x, void* values, int64_t* indices, int64_t outer, int64_t dim,
                        int64_t inner, int64_t k, bool largest, cudaStream_t stream) {
  if (outer * inner == 0 || k <= 0 || k > dim) return k > dim ? cudaErrorInvalidValue : cudaSuccess;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(outer * inner, 65535 * 8));
  const bool known = with_any(elem, [&](auto tag) {  // the plan admits float, int32 and int64 only
    using T = typename decltype(tag)::type;
    topk_kernel<T><<<blocks, kTopKBlock, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(values), indices, outer,
                                                       dim, inner, k, largest);
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_argmax(Elem elem, const void* x, int64_t* y, int64_t outer, int64_t dim, int64_t inner,
                          bool select_last, cudaStream_t stream) {
  if (outer * inner == 0 || dim <= 0) return cudaSuccess;
  const bool known = with_any(elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    argmax_kernel<T><<<grid_for(outer * inner, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), y, outer, dim,
                                                                             inner, select_last);
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_argmin(Elem elem, const void* x, int64_t* y, int64_t outer, int64_t dim, int64_t inner,
                          bool select_last, cudaStream_t stream) {
  if (outer * inner == 0 || dim <= 0) return cudaSuccess;
  const bool known = with_any(elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    argmin_kernel<T><<<grid_for(outer * inner, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), y, outer, dim,
                                                                             inner, select_last);
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_cumsum(Elem elem, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner, bool exclusive,
                          bool reverse, cudaStream_t stream) {
  if (outer * dim * inner == 0) return cudaSuccess;
  bool supported = true;
  const bool known = with_any(elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (kIsFloat<T> || std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> ||
                  std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>) {
      cumsum_kernel<T><<<grid_for(outer * inner, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y),
                                                                               outer, dim, inner, exclusive, reverse);
    } else {
      supported = false;
    }
  });
  if (!known || !supported) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_layer_norm(Elem elem, const void* x, const void* x2, const NormOperand& scale,
                              const NormOperand& bias, void* y, void* mean, void* inv_std_dev, int64_t outer,
                              int64_t inner, double eps, cudaStream_t stream) {
  if (outer == 0 || (inner == 0 && !mean && !inv_std_dev)) return cudaSuccess;
  const bool known = with_float(elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x);
    const T* px2 = static_cast<const T*>(x2);
    T* py = static_cast<T*>(y);
    float* pm = static_cast<float*>(mean);
    float* pi = static_cast<float*>(inv_std_dev);
    if (inner > 1024) {
      layer_norm_kernel<T, kBlock><<<grid_for(outer, 1), kBlock, 0, stream>>>(px, px2, scale, bias, py, pm, pi, outer,
                                                                             inner, eps);
    } else {
      layer_norm_kernel<T, 32><<<grid_for(outer, kWarps), kBlock, 0, stream>>>(px, px2, scale, bias, py, pm, pi,
                                                                              outer, inner, eps);
    }
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_batch_norm(Elem elem, const void* x, const void* scale, const void* bias, const void* mean,
                              const void* var, void* y, int64_t n, int64_t c, int64_t inner, double eps,
                              void* scratch, cudaStream_t stream) {
  const int64_t total = n * c * inner;
  if (total == 0) return cudaSuccess;
  const bool known = with_float(elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = math_t<T>;
    M* mul = static_cast<M*>(scratch);
    M* add = mul + c;
    batch_norm_params_kernel<T><<<grid_for(c, kBlock), kBlock, 0, stream>>>(
        static_cast<const T*>(scale), static_cast<const T*>(bias), static_cast<const T*>(mean),
        static_cast<const T*>(var), mul, add, c, eps);
    batch_norm_apply_kernel<T><<<grid_for(total, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x),
                                                                               static_cast<T*>(y), mul, add, total, c,
                                                                               inner);
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_lrn(Elem elem, const void* x, void* y, int64_t n, int64_t c, int64_t spatial, int64_t before,
                       int64_t after, double alpha_over_size, double beta, double bias, cudaStream_t stream) {
  const int64_t total = n * c * spatial;
  if (total == 0) return cudaSuccess;
  const bool known = with_float(elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    lrn_kernel<T><<<grid_for(total, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), total, c,
                                                                  spatial, before, after, alpha_over_size, beta, bias);
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_max_pool(Elem elem, const void* x, void* y, const PoolGeometry& g, cudaStream_t stream) {
  const int64_t total = g.planes * g.oh * g.ow;
  if (total == 0) return cudaSuccess;
  const bool known = with_float(elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (pool_fits_32(g)) {
      max_pool_kernel<T, int32_t><<<grid_for(total, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y),
                                                                                  PoolIndex<int32_t>(g));
    } else {
      max_pool_kernel<T, int64_t><<<grid_for(total, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y),
                                                                                  PoolIndex<int64_t>(g));
    }
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_average_pool(Elem elem, const void* x, void* y, const PoolGeometry& g, bool count_include_pad,
                                cudaStream_t stream) {
  const int64_t total = g.planes * g.oh * g.ow;
  if (total == 0) return cudaSuccess;
  const bool known = with_float(elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (pool_fits_32(g)) {
      average_pool_kernel<T, int32_t><<<grid_for(total, kBlock), kBlock, 0, stream>>>(
          static_cast<const T*>(x), static_cast<T*>(y), PoolIndex<int32_t>(g), count_include_pad);
    } else {
      average_pool_kernel<T, int64_t><<<grid_for(total, kBlock), kBlock, 0, stream>>>(
          static_cast<const T*>(x), static_cast<T*>(y), PoolIndex<int64_t>(g), count_include_pad);
    }
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_widen_to_f32(Elem half, const void* in, void* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (half) {
    case Elem::kF16:
      widen_kernel<__half><<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const __half*>(in),
                                                                       static_cast<float*>(out), n);
      break;
    case Elem::kBF16:
      widen_kernel<__nv_bfloat16><<<grid_for(n, kBlock), kBlock, 0, stream>>>(
          static_cast<const __nv_bfloat16*>(in), static_cast<float*>(out), n);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_narrow_f32_to(Elem half, const void* in, void* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (half) {
    case Elem::kF16:
      narrow_kernel<__half><<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const float*>(in),
                                                                        static_cast<__half*>(out), n);
      break;
    case Elem::kBF16:
      narrow_kernel<__nv_bfloat16><<<grid_for(n, kBlock), kBlock, 0, stream>>>(
          static_cast<const float*>(in), static_cast<__nv_bfloat16*>(out), n);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}


}  // namespace shardscore::kernels
