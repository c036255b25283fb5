#include "kernels/ml_ops.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/kernel_util.cuh"

namespace shardscore::kernels {
namespace {

constexpr int kBlock = 256;

// X types: kernel_util.cuh's dispatch_numeric, the types the CPU's ml_input_as_float_rows converts
// (every numeric type but bool; float16 and bfloat16 reach the CPU already widened, here they widen
// in the load).

// Calls f(ElemTag<T>{}, ElemTag<O>{}) for X of any numeric type T and a result type O: float32, or
// float16 / bfloat16 rounded once from float32 (dispatch_float32_or_half); false when either is
// another type.
template <class F>
bool with_x_and_out(Elem x_elem, Elem out_elem, F&& f) {
  bool ok = false;
  dispatch_numeric(x_elem, [&](auto xt) { ok = dispatch_float32_or_half(out_elem, [&](auto ot) { f(xt, ot); }); });
  return ok;
}

// static_cast<float>(v), as the CPU converts X (float16 and bfloat16 widen exactly).
template <class T>
__device__ __forceinline__ float to_float(T v) {
  return static_cast<float>(v);
}
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return f16_like_cpu(v);  // round_like_cpu.cuh: the CPU's rounding, NaN kept
}
// bfloat16 likewise (round_like_cpu.cuh's bf16_like_cpu).
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return bf16_like_cpu(v);
}

// The CPU's std::exp(float) (glibc expf, computed in double and rounded once): exp in double,
// rounded to float, rather than CUDA's expf (up to 2 ulp off).
__device__ __forceinline__ float cpu_expf(float v) { return __double2float_rn(exp(static_cast<double>(v))); }

// The CPU's logistic(): the form that cannot overflow, in float32.
__device__ __forceinline__ float cpu_logistic(float v) {
  if (v >= 0) return __fdiv_rn(1.0f, __fadd_rn(1.0f, cpu_expf(-v)));
  const float e = cpu_expf(v);
  return __fdiv_rn(e, __fadd_rn(1.0f, e));
}

// ---- table upload ----

// Read straight from the parameter space: __grid_constant__ forbids the per-thread local copy that
// taking a parameter's address otherwise allows (CUDA C++ Programming Guide, sm_70 and newer).
// 8-byte words where dst allows (chunk.data is 8-aligned), then the tail bytes.
__global__ void write_table_chunk_kernel(const __grid_constant__ TableChunk chunk, unsigned char* __restrict__ dst) {
  int64_t head = 0;
  if (reinterpret_cast<uintptr_t>(dst) % 8 == 0) {
    head = chunk.bytes / 8 * 8;
    const auto* src = reinterpret_cast<const uint64_t*>(chunk.data);
    auto* d = reinterpret_cast<uint64_t*>(dst);
    for (int64_t i = threadIdx.x; i < head / 8; i += blockDim.x) d[i] = src[i];
  }
  for (int64_t i = head + threadIdx.x; i < chunk.bytes; i += blockDim.x) dst[i] = chunk.data[i];
}

// ---- LinearClassifier / LinearRegressor scores ----

template <class T, class O>
__global__ void linear_scores_kernel(const T* __restrict__ x, int64_t rows, int64_t features,
                                     const float* __restrict__ coef, const float* __restrict__ intercepts,
                                     int64_t targets, O* __restrict__ out) {
  const int64_t n = rows * targets;
  SS_GRID_STRIDE_LOOP(i, n) {
    const int64_t r = i / targets;
    const int64_t t = i - r * targets;
    const T* xr = x + r * features;
    const float* cr = coef + t * features;
    double acc = intercepts ? static_cast<double>(intercepts[t]) : 0.0;
    // Explicit roundings: no contraction into a fused multiply-add (the product of two floats is
    // exact in double anyway, so this is the CPU's result either way).
    for (int64_t f = 0; f < features; ++f)
      acc = __dadd_rn(acc, __dmul_rn(static_cast<double>(to_float(xr[f])), static_cast<double>(cr[f])));
    out[i] = from_float<O>(__double2float_rn(acc));
  }
}

// ---- LinearClassifier labels and probabilities: one thread per row ----

template <class O>
__global__ void linear_classifier_finish_kernel(const float* __restrict__ raw, int64_t rows, int64_t targets,
                                                bool two_from_one, MlPostTransform post,
                                                const int64_t* __restrict__ labels, int64_t* __restrict__ y,
                                                O* __restrict__ z) {
  SS_GRID_STRIDE_LOOP(r, rows) {
    const float* s = raw + r * targets;
    if (two_from_one) {
      const float v = s[0];
      y[r] = labels ? (v > 0 ? labels[1] : labels[0]) : 0;
      if (z) {
        if (post == MlPostTransform::kLogistic) {
          const float p = cpu_logistic(v);
          z[2 * r] = from_float<O>(__fsub_rn(1.0f, p));
          z[2 * r + 1] = from_float<O>(p);
        } else {  // kNone (the host refuses the others)
          z[2 * r] = from_float<O>(-v);
          z[2 * r + 1] = from_float<O>(v);
        }
      }
      continue;
    }
    int64_t best = 0;
    for (int64_t t = 1; t < targets; ++t)
      if (s[t] > s[best]) best = t;
    y[r] = labels && targets > 0 ? labels[best] : 0;
    if (!z) continue;
    O* zr = z + r * targets;
    switch (post) {
      case MlPostTransform::kNone:
        for (int64_t c = 0; c < targets; ++c) zr[c] = from_float<O>(s[c]);
        break;
      case MlPostTransform::kLogistic:
        for (int64_t c = 0; c < targets; ++c) zr[c] = from_float<O>(cpu_logistic(s[c]));
        break;
      case MlPostTransform::kSoftmax:
      case MlPostTransform::kSoftmaxZero: {
        const bool skip_zero = post == MlPostTransform::kSoftmaxZero;
        float mx = -INFINITY;
        for (int64_t c = 0; c < targets; ++c)
          if (!(skip_zero && s[c] == 0)) mx = mx < s[c] ? s[c] : mx;  // std::max(mx, s[c])
        // The CPU overwrites s[c] with its exponential and then divides; recomputing the same
        // exponential in the last pass gives the same values without a float32 buffer.
        double sum = 0;
        for (int64_t c = 0; c < targets; ++c) {
          const float e = skip_zero && s[c] == 0 ? 0.0f : cpu_expf(__fsub_rn(s[c], mx));
          sum = __dadd_rn(sum, static_cast<double>(e));
        }
        for (int64_t c = 0; c < targets; ++c) {
          const float e = skip_zero && s[c] == 0 ? 0.0f : cpu_expf(__fsub_rn(s[c], mx));
          zr[c] = from_float<O>(sum > 0 ? __double2float_rn(__ddiv_rn(static_cast<double>(e), sum)) : e);
        }
        break;
      }
    }
  }
}

// ---- Scaler ----

template <class T, class O>
__global__ void scaler_kernel(const T* __restrict__ x, int64_t n, int64_t features, const float* __restrict__ offset,
                              int64_t offset_count, const float* __restrict__ scale, int64_t scale_count,
                              O* __restrict__ y) {
  SS_GRID_STRIDE_LOOP(i, n) {
    const int64_t f = i % features;
    const float o = offset ? offset[offset_count == 1 ? 0 : f] : 0.0f;
    const float s = scale ? scale[scale_count == 1 ? 0 : f] : 1.0f;
    y[i] = from_float<O>(__fmul_rn(__fsub_rn(to_float(x[i]), o), s));
  }
}

// ---- Imputer, Binarizer ----

template <class T>
__global__ void imputer_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t features,
                               const float* __restrict__ floats, const int64_t* __restrict__ ints, int64_t count,
                               float replaced_float, int64_t replaced_int) {
  SS_GRID_STRIDE_LOOP(i, n) {
    const int64_t k = count == 1 ? 0 : i % features;
    const T v = x[i];
    if constexpr (std::is_floating_point_v<T>) {
      const bool hit = isnan(replaced_float) ? isnan(v) : v == static_cast<T>(replaced_float);
      y[i] = hit ? static_cast<T>(floats[k]) : v;
    } else {
      y[i] = static_cast<int64_t>(v) == replaced_int ? static_cast<T>(ints[k]) : v;
    }
  }
}

template <class T>
__global__ void binarizer_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, double threshold) {
  SS_GRID_STRIDE_LOOP(i, n) {
    const double v = static_cast<double>(x[i]);
    y[i] = isnan(v) ? x[i] : static_cast<T>(v > threshold ? 1 : 0);
  }
}

// Calls f(ElemTag<T>{}) for Imputer's and Binarizer's four types; false for others.
template <class F>
bool with_imputer_type(Elem e, F&& f) {
  return dispatch_elem_among<float, double, int32_t, int64_t>(e, static_cast<F&&>(f));
}

// The index of v in keys[0..n) (sorted ascending, no NaN), or -1: a lower bound, as
// std::lower_bound in the CPU functions.
template <class K>
__device__ __forceinline__ int64_t find_key(const K* __restrict__ keys, int64_t n, K v) {
  int64_t lo = 0, hi = n;  // first keys[j] >= v
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (keys[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && keys[lo] == v ? lo : -1;
}

// ---- OneHotEncoder ----

template <class T>
__device__ __forceinline__ bool one_hot_category(T v, int64_t* c) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!(v >= T(-9223372036854775808.0) && v < T(9223372036854775808.0))) return false;
  }
  *c = static_cast<int64_t>(v);
  return true;
}

// One thread per element of x: its row of y written whole (count values).
template <class T>
__global__ void one_hot_encoder_kernel(const T* __restrict__ x, int64_t n, const int64_t* __restrict__ cats,
                                       const int64_t* __restrict__ index, int64_t count, bool fail_unknown,
                                       FaultSink fault, float* __restrict__ y) {
  SS_GRID_STRIDE_LOOP(i, n) {
    int64_t c = 0;
    int64_t hit = -1;
    const bool has = one_hot_category(x[i], &c);
    if (has) {
      const int64_t at = find_key(cats, count, c);
      if (at >= 0) hit = index[at];
    }
    float* row = y + i * count;
    for (int64_t k = 0; k < count; ++k) row[k] = k == hit ? 1.0f : 0.0f;
    if (hit < 0 && fail_unknown) {
      report_fault(fault, FaultKind::kUnknownCategory, static_cast<unsigned long long>(i), has ? c : 0, count,
                   has ? 0 : 1);
    }
  }
}

// ---- LabelEncoder ----

template <class X, class Y>
__global__ void label_encoder_kernel(const X* __restrict__ x, int64_t n, const int64_t* __restrict__ ikeys,
                                     const double* __restrict__ fkeys, int64_t keys, bool nan_key,
                                     const int64_t* __restrict__ ivalues, const double* __restrict__ fvalues,
                                     int64_t idefault, double fdefault, Y* __restrict__ y) {
  SS_GRID_STRIDE_LOOP(i, n) {
    int64_t j = -1;
    if constexpr (std::is_same_v<X, int64_t>) {
      j = find_key(ikeys, keys, x[i]);
    } else {
      const double v = static_cast<double>(x[i]);
      if (isnan(v)) {
        if (nan_key) j = keys;
      } else {
        j = find_key(fkeys, keys, v);
      }
    }
    if constexpr (std::is_same_v<Y, int64_t>) y[i] = j < 0 ? idefault : ivalues[j];
    else y[i] = static_cast<Y>(j < 0 ? fdefault : fvalues[j]);
  }
}

// ---- Normalizer ----

template <class T, class O>
__global__ void normalizer_kernel(const T* __restrict__ x, int64_t rows, int64_t features, int norm,
                                  O* __restrict__ y) {
  SS_GRID_STRIDE_LOOP(r, rows) {
    const T* xr = x + r * features;
    O* yr = y + r * features;
    if (norm == 0) {
      float mx = -FLT_MAX;
      for (int64_t f = 0; f < features; ++f) {
        const float v = to_float(xr[f]);
        mx = mx < v ? v : mx;  // std::max(mx, v): a NaN never replaces mx
      }
      for (int64_t f = 0; f < features; ++f) {
        const float v = to_float(xr[f]);
        yr[f] = from_float<O>(mx != 0 ? __fdiv_rn(v, mx) : v);
      }
      continue;
    }
    double sum = 0;
    for (int64_t f = 0; f < features; ++f) {
      const double d = static_cast<double>(to_float(xr[f]));
      sum = __dadd_rn(sum, norm == 1 ? fabs(d) : __dmul_rn(d, d));
    }
    for (int64_t f = 0; f < features; ++f) {
      const float v = to_float(xr[f]);
      if (sum == 0) {
        yr[f] = from_float<O>(v);
        continue;
      }
      const double d = static_cast<double>(v);
      const double q = norm == 1 ? __ddiv_rn(d, sum) : copysign(sqrt(__ddiv_rn(__dmul_rn(d, d), sum)), d);
      yr[f] = from_float<O>(__double2float_rn(q));
    }
  }
}

// ---- TreeEnsembleRegressor / TreeEnsembleClassifier ----

template <class T>
__device__ __forceinline__ double to_double(T v) {
  return static_cast<double>(v);
}
__device__ __forceinline__ double to_double(__half v) { return static_cast<double>(__half2float(v)); }
__device__ __forceinline__ double to_double(__nv_bfloat16 v) { return static_cast<double>(__bfloat162float(v)); }

// The CPU's tree_probit (ONNX Runtime's ErfInv approximation) in float32, each step rounded.
__device__ __forceinline__ float tree_probit_like_cpu(float v) {
  float x = __fsub_rn(__fmul_rn(2.0f, v), 1.0f);
  const float sgn = x < 0 ? -1.0f : 1.0f;
  x = __fmul_rn(__fsub_rn(1.0f, x), __fadd_rn(1.0f, x));
  const float lg = __double2float_rn(log(static_cast<double>(x)));
  const float a = __fadd_rn(2.0f / (3.14159f * 0.147f), __fmul_rn(0.5f, lg));
  const float b = __fmul_rn(1.0f / 0.147f, lg);
  const float c = __fadd_rn(-a, __fsqrt_rn(__fsub_rn(__fmul_rn(a, a), b)));
  return __fmul_rn(1.41421356f, __fmul_rn(sgn, __fsqrt_rn(c)));
}

// The CPU's apply_post_transform on one row of n float32 scores.
__device__ void ml_post_row(MlPostTransform post, float* s, int64_t n) {
  if (post == MlPostTransform::kNone) return;
  if (post == MlPostTransform::kLogistic) {
    for (int64_t c = 0; c < n; ++c) s[c] = cpu_logistic(s[c]);
    return;
  }
  const bool skip_zero = post == MlPostTransform::kSoftmaxZero;
  float mx = -INFINITY;
  for (int64_t c = 0; c < n; ++c)
    if (!(skip_zero && s[c] == 0)) mx = mx < s[c] ? s[c] : mx;
  double sum = 0;
  for (int64_t c = 0; c < n; ++c) {
    s[c] = skip_zero && s[c] == 0 ? 0.0f : cpu_expf(__fsub_rn(s[c], mx));
    sum = __dadd_rn(sum, static_cast<double>(s[c]));
  }
  for (int64_t c = 0; c < n; ++c) s[c] = sum > 0 ? __double2float_rn(__ddiv_rn(static_cast<double>(s[c]), sum)) : s[c];
}

template <class T, class O>
__global__ void tree_ensemble_kernel(const T* __restrict__ x, int64_t rows, int64_t features, TreeEnsembleArgs a,
                                     double* __restrict__ acc_all, unsigned char* __restrict__ has_all,
                                     float* __restrict__ zf_all, int64_t* __restrict__ y, O* __restrict__ z) {
  SS_GRID_STRIDE_LOOP(r, rows) {
    const T* row = x + r * features;
    double* acc = acc_all + r * a.targets;
    unsigned char* has = has_all + r * a.targets;
    float* zf = zf_all + r * a.cols;
    for (int64_t t = 0; t < a.targets; ++t) {
      acc[t] = 0;
      has[t] = 0;
    }
    for (int64_t k = 0; k < a.trees; ++k) {
      const TreeNode* f = a.nodes + a.roots[k];
      while (f->mode != 6) {
        const double v = to_double(row[f->feature]);
        const double th = f->threshold;
        bool go;
        if (f->missing_true && isnan(v)) {
          go = true;
        } else {
          switch (f->mode) {
            case 0: go = v <= th; break;
            case 1: go = v < th; break;
            case 2: go = v >= th; break;
            case 3: go = v > th; break;
            case 4: go = v == th; break;
            default: go = v != th; break;
          }
        }
        f = a.nodes + (go ? f->true_next : f->false_next);
      }
      for (int32_t w = f->weights_begin; w < f->weights_begin + f->weights_count; ++w) {
        const TreeWeight tw = a.weights[w];
        const double v = static_cast<double>(tw.value);
        double& s = acc[tw.target];
        if (a.aggregate == 2) s = !has[tw.target] || v < s ? v : s;
        else if (a.aggregate == 3) s = !has[tw.target] || v > s ? v : s;
        else s = __dadd_rn(s, v);
        has[tw.target] = 1;
      }
    }
    if (a.binary_one_column) {
      const float s = __double2float_rn(__dadd_rn(acc[0], a.base ? static_cast<double>(a.base[0]) : 0.0));
      if (y) y[r] = (a.binary_probability ? s > 0.5f : s > 0) ? a.labels[1] : a.labels[0];
      if (a.binary_probability) {
        zf[0] = __fsub_rn(1.0f, s);
        zf[1] = s;
      } else if (a.post == 1) {
        zf[0] = cpu_logistic(-s);
        zf[1] = cpu_logistic(s);
      } else {
        zf[0] = -s;
        zf[1] = s;
      }
    } else {
      const int64_t n = a.targets;
      for (int64_t t = 0; t < n; ++t) {
        double v = acc[t];
        if (a.aggregate == 1) v = __ddiv_rn(v, static_cast<double>(a.trees));
        if (!has[t]) v = 0;
        if (a.base) v = __dadd_rn(v, static_cast<double>(a.base[t]));
        zf[t] = __double2float_rn(v);
      }
      if (y) {
        int64_t best = -1;
        for (int64_t t = 0; t < n; ++t)
          if ((has[t] || a.base) && (best < 0 || zf[t] > zf[best])) best = t;
        y[r] = a.labels[best < 0 ? 0 : best];
      }
      if (a.post >= 1 && a.post <= 3) {  // LOGISTIC, SOFTMAX, SOFTMAX_ZERO: MlPostTransform's values
        ml_post_row(static_cast<MlPostTransform>(a.post), zf, n);
      } else if (a.post == 4) {
        for (int64_t t = 0; t < n; ++t) zf[t] = tree_probit_like_cpu(zf[t]);
      }
    }
    if (z)
      for (int64_t c = 0; c < a.cols; ++c) z[r * a.cols + c] = from_float<O>(zf[c]);
  }
}

// ---- SVMRegressor / SVMClassifier: one thread per row, as the CPU's functions ----

// The CPU's svm_kernel: K(x, v) in double, x rounded to float32 first.
template <class T>
__device__ double svm_kernel_dev(const SvmArgs& a, const T* __restrict__ x, const float* __restrict__ v,
                                 int64_t features) {
  if (a.kernel == 2) {  // RBF
    double s = 0;
    for (int64_t f = 0; f < features; ++f) {
      const double d = __dsub_rn(static_cast<double>(to_float(x[f])), static_cast<double>(v[f]));
      s = __dadd_rn(s, __dmul_rn(d, d));
    }
    return exp(-a.gamma * s);
  }
  double dot = 0;
  for (int64_t f = 0; f < features; ++f)
    dot = __dadd_rn(dot, __dmul_rn(static_cast<double>(to_float(x[f])), static_cast<double>(v[f])));
  if (a.kernel == 1) return pow(__dadd_rn(__dmul_rn(a.gamma, dot), a.coef0), a.degree);  // POLY
  if (a.kernel == 3) return tanh(__dadd_rn(__dmul_rn(a.gamma, dot), a.coef0));           // SIGMOID
  return dot;                                                                            // LINEAR
}

// The CPU's svm_one_minus_logistic.
__device__ __forceinline__ double svm_one_minus_logistic_dev(double v) {
  if (v >= 0) {
    const double e = exp(-v);
    return __ddiv_rn(e, __dadd_rn(1.0, e));
  }
  return __ddiv_rn(1.0, __dadd_rn(1.0, exp(v)));
}

// The CPU's svm_couple (libsvm's pairwise coupling as ONNX Runtime iterates it), in double.
__device__ void svm_couple_dev(int64_t k, const double* r, double* q, double* qp, double* p) {
  for (int64_t i = 0; i < k * k; ++i) q[i] = 0;
  for (int64_t i = 0; i < k; ++i) {
    p[i] = __ddiv_rn(1.0, static_cast<double>(k));
    for (int64_t j = 0; j < k; ++j) {
      if (j == i) continue;
      q[i * k + i] = __dadd_rn(q[i * k + i], __dmul_rn(r[j * k + i], r[j * k + i]));
      q[i * k + j] = j < i ? q[j * k + i] : -__dmul_rn(r[j * k + i], r[i * k + j]);
    }
  }
  const double eps = __ddiv_rn(0.005, static_cast<double>(k));
  for (int round = 0; round < 100; ++round) {
    double pqp = 0;
    for (int64_t i = 0; i < k; ++i) {
      qp[i] = 0;
      for (int64_t j = 0; j < k; ++j) qp[i] = __dadd_rn(qp[i], __dmul_rn(q[i * k + j], p[j]));
      pqp = __dadd_rn(pqp, __dmul_rn(p[i], qp[i]));
    }
    double max_error = 0;
    for (int64_t i = 0; i < k; ++i) max_error = fmax(max_error, fabs(__dsub_rn(qp[i], pqp)));
    if (max_error < eps) break;
    for (int64_t i = 0; i < k; ++i) {
      const double diff = __ddiv_rn(__dsub_rn(pqp, qp[i]), q[i * k + i]);
      const double one_diff = __dadd_rn(1.0, diff);
      p[i] = __dadd_rn(p[i], diff);
      pqp = __ddiv_rn(__ddiv_rn(__dadd_rn(pqp, __dmul_rn(diff, __dadd_rn(__dmul_rn(diff, q[i * k + i]),
                                                                           __dmul_rn(2.0, qp[i])))),
                                one_diff),
                      one_diff);
      for (int64_t j = 0; j < k; ++j) {
        qp[j] = __ddiv_rn(__dadd_rn(qp[j], __dmul_rn(diff, q[i * k + j])), one_diff);
        p[j] = __ddiv_rn(p[j], one_diff);
      }
    }
  }
}

template <class T, class O>
__global__ void svm_regressor_kernel(const T* __restrict__ x, int64_t rows, int64_t features, SvmArgs a,
                                     O* __restrict__ y) {
  SS_GRID_STRIDE_LOOP(r, rows) {
    const T* row = x + r * features;
    double s = 0;
    if (a.vectors > 0) {
      for (int64_t v = 0; v < a.vectors; ++v)
        s = __dadd_rn(s, __dmul_rn(static_cast<double>(a.coef[v]), svm_kernel_dev(a, row, a.sv + v * features, features)));
    } else {
      s = svm_kernel_dev(a, row, a.coef, features);  // the linear form: a.kernel is LINEAR
    }
    s = __dadd_rn(s, a.rho0);
    if (a.one_class) s = s > 0 ? 1.0 : -1.0;
    y[r] = from_float<O>(__double2float_rn(s));
  }
}

template <class T, class O>
__global__ void svm_classifier_kernel(const T* __restrict__ x, int64_t rows, int64_t features, SvmArgs a,
                                      double* __restrict__ work_all, int64_t* __restrict__ votes_all,
                                      float* __restrict__ zf_all, int64_t* __restrict__ y, O* __restrict__ z) {
  const int64_t k = a.classes, V = a.vectors;
  SS_GRID_STRIDE_LOOP(r, rows) {
    const T* row = x + r * features;
    float* zf = zf_all + r * a.cols;
    if (V == 0) {  // the linear form
      for (int64_t c = 0; c < k; ++c)
        zf[c] = __double2float_rn(
            __dadd_rn(svm_kernel_dev(a, row, a.coef + c * features, features), static_cast<double>(a.rho[0])));
      int64_t best = 0;
      for (int64_t c = 1; c < k; ++c)
        if (zf[best] < zf[c]) best = c;
      const float top = zf[best];
      int64_t label = a.labels[best];
      if (k == 2 && !a.have_proba && ((a.all_positive && top >= 0.5f) || (!a.all_positive && top > 0)))
        label = a.labels[1];
      y[r] = label;
      ml_post_row(a.post, zf, a.cols);
    } else {
      const SvmRowScratch w = svm_row_scratch(a);
      double* const row_work = work_all + r * w.size;
      double* kv = row_work + w.kv;
      double* d = row_work + w.d;
      int64_t* votes = votes_all + r * k;
      for (int64_t v = 0; v < V; ++v) kv[v] = svm_kernel_dev(a, row, a.sv + v * features, features);
      for (int64_t c = 0; c < k; ++c) votes[c] = 0;
      int64_t pair = 0;
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = i + 1; j < k; ++j, ++pair) {
          double s = 0;
          for (int64_t m = 0; m < a.counts[i]; ++m) {
            const int64_t v = a.starts[i] + m;
            s = __dadd_rn(s, __dmul_rn(static_cast<double>(a.coef[(j - 1) * V + v]), kv[v]));
          }
          for (int64_t m = 0; m < a.counts[j]; ++m) {
            const int64_t v = a.starts[j] + m;
            s = __dadd_rn(s, __dmul_rn(static_cast<double>(a.coef[i * V + v]), kv[v]));
          }
          s = __dadd_rn(s, static_cast<double>(a.rho[pair]));
          d[pair] = s;
          ++votes[s > 0 ? i : j];
        }
      int64_t best = 0;
      for (int64_t c = 1; c < k; ++c)
        if (votes[best] < votes[c]) best = c;
      y[r] = a.labels[best];
      if (a.have_proba) {  // the SVC form: the coupling runs (w holds its pieces)
        double* rr = row_work + w.rr;
        double* q = row_work + w.q;
        double* qp = row_work + w.qp;
        double* prob = row_work + w.prob;
        pair = 0;
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = i + 1; j < k; ++j, ++pair) {
            double v = svm_one_minus_logistic_dev(__dadd_rn(__dmul_rn(d[pair], static_cast<double>(a.prob_a[pair])),
                                                            static_cast<double>(a.prob_b[pair])));
            // std::min(std::max(v, 1e-7), 1 - 1e-7) as the CPU writes it: a NaN (from a NaN in x)
            // stays NaN, where fmax / fmin would turn it into 1e-7.
            v = v < 1e-7 ? 1e-7 : v;
            v = 1 - 1e-7 < v ? 1 - 1e-7 : v;
            rr[i * k + j] = v;
            rr[j * k + i] = __dsub_rn(1.0, v);
          }
        svm_couple_dev(k, rr, q, qp, prob);
        for (int64_t c = 0; c < k; ++c) zf[c] = __double2float_rn(prob[c]);
        ml_post_row(a.post, zf, a.cols);
      } else if (k > 2) {
        for (int64_t c = 0; c < a.pairs; ++c) zf[c] = __double2float_rn(d[c]);
        ml_post_row(a.post, zf, a.cols);
      } else {
        const float s = __double2float_rn(d[0]);
        zf[0] = -s;
        zf[1] = s;
        ml_post_row(a.post, zf, a.cols);
      }
    }
    if (z)
      for (int64_t c = 0; c < a.cols; ++c) z[r * a.cols + c] = from_float<O>(zf[c]);
  }
}

// ---- RawInput ----

// One thread per element of y; x read through the NHWC -> NCHW move when nhwc. Explicitly rounded
// operations (__fmul_rn, __fsub_rn, __fdiv_rn), so nvcc cannot contract them into an FMA. I, the
// index type: uint32_t below 2^31 elements (a batch of 256 images is 38.5 million), whose divisions
// cost a fraction of int64_t's, which would make this memory-bound kernel compute-bound.
template <class T, class O, class I>
__global__ void raw_input_kernel(const T* __restrict__ x, I n, I channels, I inner, bool nhwc, bool scaled, float scale,
                                 const float* __restrict__ mean, const float* __restrict__ std, O* __restrict__ y) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;  // at most 2^27: i + stride stays below 2^32
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const I k = i % inner, rest = i / inner;
    const I c = rest % channels, o = rest / channels;
    float v = static_cast<float>(x[nhwc ? (o * inner + k) * channels + c : i]);
    if (scaled) v = __fmul_rn(v, scale);
    if (mean) v = __fdiv_rn(__fsub_rn(v, mean[c]), std[c]);
    y[i] = from_float<O>(v);
  }
}

// ---- ArrayFeatureExtractor ----

// How a 2-byte element's NaN is quieted: the exponent mask (0: never, not a 16-bit float), the
// mantissa mask and the quiet bit.
struct QuietNan16 {
  uint16_t exp_mask = 0, mant_mask = 0, quiet_bit = 0;
};

template <class U>
__global__ void array_feature_extractor_kernel(const U* __restrict__ x, int64_t rows, int64_t last,
                                               const int64_t* __restrict__ indices, int64_t k, QuietNan16 q,
                                               U* __restrict__ z) {
  const int64_t n = rows * k;
  SS_GRID_STRIDE_LOOP(i, n) {
    const int64_t r = i / k;
    const int64_t j = indices[i - r * k];
    U v = j >= 0 && j < last ? x[r * last + j] : U{0};
    if constexpr (sizeof(U) == 2) {
      // float16 / bfloat16 NaN through the CPU's widen (exact) and rounding (sets the quiet bit).
      if (q.exp_mask && (v & q.exp_mask) == q.exp_mask && (v & q.mant_mask) != 0) v = static_cast<U>(v | q.quiet_bit);
    }
    z[i] = v;
  }
}

}  // namespace

cudaError_t launch_write_table_chunk(const TableChunk& chunk, void* dst, cudaStream_t stream) {
  if (chunk.bytes <= 0) return cudaSuccess;
  if (chunk.bytes > kTableChunkBytes) return cudaErrorInvalidValue;
  write_table_chunk_kernel<<<1, kBlock, 0, stream>>>(chunk, static_cast<unsigned char*>(dst));
  return cudaGetLastError();
}

cudaError_t launch_linear_scores(Elem x_elem, const void* x, int64_t rows, int64_t features, const float* coef,
                                 const float* intercepts, int64_t targets, Elem out_elem, void* out,
                                 cudaStream_t stream) {
  const int64_t n = rows * targets;
  if (n <= 0) return cudaSuccess;
  const bool ok = with_x_and_out(x_elem, out_elem, [&](auto xt, auto ot) {
    using T = typename decltype(xt)::type;
    using O = typename decltype(ot)::type;
    linear_scores_kernel<T, O><<<grid_for(n, kBlock), kBlock, 0, stream>>>(
        static_cast<const T*>(x), rows, features, coef, intercepts, targets, static_cast<O*>(out));
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_linear_classifier_finish(const float* raw, int64_t rows, int64_t targets, bool two_from_one,
                                            MlPostTransform post, const int64_t* labels, int64_t* y, Elem z_elem,
                                            void* z, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  const bool ok = dispatch_float32_or_half(z_elem, [&](auto ot) {
    using O = typename decltype(ot)::type;
    linear_classifier_finish_kernel<O><<<grid_for(rows, kBlock), kBlock, 0, stream>>>(
        raw, rows, targets, two_from_one, post, labels, y, static_cast<O*>(z));
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_scaler(Elem x_elem, const void* x, int64_t rows, int64_t features, const float* offset,
                          int64_t offset_count, const float* scale, int64_t scale_count, Elem y_elem, void* y,
                          cudaStream_t stream) {
  const int64_t n = rows * features;
  if (n <= 0) return cudaSuccess;
  const bool ok = with_x_and_out(x_elem, y_elem, [&](auto xt, auto ot) {
    using T = typename decltype(xt)::type;
    using O = typename decltype(ot)::type;
    scaler_kernel<T, O><<<grid_for(n, kBlock), kBlock, 0, stream>>>(
        static_cast<const T*>(x), n, features, offset, offset_count, scale, scale_count, static_cast<O*>(y));
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_imputer(Elem x_elem, const void* x, void* y, int64_t n, int64_t features, const float* floats,
                           const int64_t* ints, int64_t count, float replaced_float, int64_t replaced_int,
                           cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const bool ok = with_imputer_type(x_elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    imputer_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), n,
                                                                  features > 0 ? features : 1, floats, ints, count,
                                                                  replaced_float, replaced_int);
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_binarizer(Elem x_elem, const void* x, void* y, int64_t n, double threshold, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const bool ok = with_imputer_type(x_elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    binarizer_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), n,
                                                                   threshold);
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_one_hot_encoder(Elem x_elem, const void* x, int64_t n, const int64_t* sorted_cats,
                                   const int64_t* index, int64_t count, bool fail_unknown, const FaultSink& fault,
                                   float* y, cudaStream_t stream) {
  if (n <= 0 || count <= 0) return cudaSuccess;
  const bool ok = with_imputer_type(x_elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    one_hot_encoder_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), n, sorted_cats,
                                                                          index, count, fail_unknown, fault, y);
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_label_encoder(Elem x_elem, const void* x, int64_t n, const int64_t* ikeys, const double* fkeys,
                                 int64_t keys, bool nan_key, Elem y_elem, const int64_t* ivalues,
                                 const double* fvalues, int64_t idefault, double fdefault, void* y,
                                 cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  bool ok = false;
  dispatch_elem_among<float, double, int64_t>(x_elem, [&](auto xt) {
    using X = typename decltype(xt)::type;
    ok = dispatch_elem_among<float, double, int64_t>(y_elem, [&](auto yt) {
      using Y = typename decltype(yt)::type;
      label_encoder_kernel<X, Y><<<grid_for(n, kBlock), kBlock, 0, stream>>>(
          static_cast<const X*>(x), n, ikeys, fkeys, keys, nan_key, ivalues, fvalues, idefault, fdefault,
          static_cast<Y*>(y));
    });
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_normalizer(Elem x_elem, const void* x, int64_t rows, int64_t features, int norm, Elem y_elem, void* y,
                              cudaStream_t stream) {
  if (rows * features <= 0) return cudaSuccess;
  const bool ok = with_x_and_out(x_elem, y_elem, [&](auto xt, auto ot) {
    using T = typename decltype(xt)::type;
    using O = typename decltype(ot)::type;
    normalizer_kernel<T, O><<<grid_for(rows, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), rows, features,
                                                                            norm, static_cast<O*>(y));
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_tree_ensemble(Elem x_elem, const void* x, int64_t rows, int64_t features, const TreeEnsembleArgs& a,
                                 double* acc, unsigned char* has, float* zf, int64_t* y, Elem z_elem, void* z,
                                 cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  const bool ok = with_x_and_out(x_elem, z_elem, [&](auto xt, auto ot) {
    using T = typename decltype(xt)::type;
    using O = typename decltype(ot)::type;
    tree_ensemble_kernel<T, O><<<grid_for(rows, kBlock), kBlock, 0, stream>>>(
        static_cast<const T*>(x), rows, features, a, acc, has, zf, y, static_cast<O*>(z));
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_raw_input(Elem x_elem, const void* x, int64_t outer, int64_t channels, int64_t inner, bool nhwc,
                             float scale, const float* mean, const float* std, Elem y_elem, void* y, cudaStream_t stream) {
  const int64_t n = outer * channels * inner;
  if (n <= 0) return cudaSuccess;
  bool ok = false;
  auto go = [&](auto xt) {
    using T = typename decltype(xt)::type;
    ok = dispatch_float32_or_half(y_elem, [&](auto ot) {
      using O = typename decltype(ot)::type;
      const unsigned grid = grid_for(n, kBlock);
      if (n < (int64_t{1} << 31)) {
        raw_input_kernel<T, O, uint32_t><<<grid, kBlock, 0, stream>>>(
            static_cast<const T*>(x), static_cast<uint32_t>(n), static_cast<uint32_t>(channels), static_cast<uint32_t>(inner),
            nhwc, scale != 1.0f, scale, mean, std, static_cast<O*>(y));
      } else {
        raw_input_kernel<T, O, int64_t><<<grid, kBlock, 0, stream>>>(static_cast<const T*>(x), n, channels, inner, nhwc,
                                                                     scale != 1.0f, scale, mean, std, static_cast<O*>(y));
      }
    });
  };
  switch (x_elem) {
    case Elem::kU8: go(ElemTag<uint8_t>{}); break;
    case Elem::kI8: go(ElemTag<int8_t>{}); break;
    case Elem::kU16: go(ElemTag<uint16_t>{}); break;
    case Elem::kI16: go(ElemTag<int16_t>{}); break;
    default: break;
  }
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_array_feature_extractor(Elem elem, const void* x, int64_t rows, int64_t last,
                                           const int64_t* indices, int64_t k, void* z, cudaStream_t stream) {
  const int64_t n = rows * k;
  if (n <= 0) return cudaSuccess;
  const unsigned grid = grid_for(n, kBlock);
  QuietNan16 quiet;  // none
  if (elem == Elem::kF16) quiet = QuietNan16{0x7c00u, 0x3ffu, 0x200u};
  if (elem == Elem::kBF16) quiet = QuietNan16{0x7f80u, 0x7fu, 0x40u};
  switch (elem_size_bytes(elem)) {
    case 1:
      array_feature_extractor_kernel<<<grid, kBlock, 0, stream>>>(static_cast<const uint8_t*>(x), rows, last, indices,
                                                                  k, QuietNan16{}, static_cast<uint8_t*>(z));
      break;
    case 2:
      array_feature_extractor_kernel<<<grid, kBlock, 0, stream>>>(static_cast<const uint16_t*>(x), rows, last,
                                                                  indices, k, quiet, static_cast<uint16_t*>(z));
      break;
    case 4:
      array_feature_extractor_kernel<<<grid, kBlock, 0, stream>>>(static_cast<const uint32_t*>(x), rows, last,
                                                                  indices, k, QuietNan16{}, static_cast<uint32_t*>(z));
      break;
    case 8:
      array_feature_extractor_kernel<<<grid, kBlock, 0, stream>>>(static_cast<const uint64_t*>(x), rows, last,
                                                                  indices, k, QuietNan16{}, static_cast<uint64_t*>(z));
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_svm_regressor(Elem x_elem, const void* x, int64_t rows, int64_t features, const SvmArgs& a,
                                 Elem y_elem, void* y, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  const bool ok = with_x_and_out(x_elem, y_elem, [&](auto xt, auto ot) {
    using T = typename decltype(xt)::type;
    using O = typename decltype(ot)::type;
    svm_regressor_kernel<T, O><<<grid_for(rows, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), rows,
                                                                              features, a, static_cast<O*>(y));
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_svm_classifier(Elem x_elem, const void* x, int64_t rows, int64_t features, const SvmArgs& a,
                                  double* work, int64_t* votes, float* zf, int64_t* y, Elem z_elem, void* z,
                                  cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  const bool ok = with_x_and_out(x_elem, z_elem, [&](auto xt, auto ot) {
    using T = typename decltype(xt)::type;
    using O = typename decltype(ot)::type;
    svm_classifier_kernel<T, O><<<grid_for(rows, kBlock), kBlock, 0, stream>>>(
        static_cast<const T*>(x), rows, features, a, work, votes, zf, y, static_cast<O*>(z));
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace shardscore::kernels
