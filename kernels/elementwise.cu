#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/elementwise.h"
#include "kernels/kernel_util.cuh"
#include "src/common/float_to_int.h"
#include "src/common/int_pow.h"

namespace shardscore::kernels {
namespace {

constexpr int kBlock = 256;

template <BinaryOp kOp, typename T, typename E>
__device__ __forceinline__ auto apply_binary(T a, E b) {
  using C = typename Compute<T>::type;
  if constexpr (kOp == BinaryOp::kEqual) {
    return static_cast<uint8_t>(load(a) == load(b) ? 1 : 0);
  } else if constexpr (kOp == BinaryOp::kLess) {
    return static_cast<uint8_t>(load(a) < load(b) ? 1 : 0);
  } else if constexpr (kOp == BinaryOp::kGreater) {
    return static_cast<uint8_t>(load(a) > load(b) ? 1 : 0);
  } else if constexpr (kOp == BinaryOp::kLessOrEqual) {
    return static_cast<uint8_t>(load(a) <= load(b) ? 1 : 0);
  } else if constexpr (kOp == BinaryOp::kGreaterOrEqual) {
    return static_cast<uint8_t>(load(a) >= load(b) ? 1 : 0);
  } else if constexpr (kOp == BinaryOp::kAnd) {
    return static_cast<uint8_t>(a != 0 && b != 0 ? 1 : 0);
  } else if constexpr (kOp == BinaryOp::kOr) {
    return static_cast<uint8_t>(a != 0 || b != 0 ? 1 : 0);
  } else if constexpr (kOp == BinaryOp::kXor) {
    return static_cast<uint8_t>((a != 0) != (b != 0) ? 1 : 0);
  } else if constexpr (kOp == BinaryOp::kMax || kOp == BinaryOp::kMin) {
    const C x = load(a), y = load(b);
    if constexpr (!std::is_integral_v<C>) {
      // NaN wins, as on the CPU, which widens 16-bit types to float32 and rounds back: a signalling
      // NaN comes out quiet there, so here too (store rounds as the CPU does).
      if constexpr (sizeof(T) == 2) {
        if (isnan(x)) return store<T, C>(x);
        if (isnan(y)) return store<T, C>(y);
      } else {
        if (isnan(x)) return a;
        if (isnan(y)) return b;
      }
    }
    if constexpr (kOp == BinaryOp::kMax) return x < y ? b : a;
    else return y < x ? b : a;
  } else if constexpr (kOp == BinaryOp::kPow) {
    if constexpr (std::is_integral_v<T>) {
      return int_pow_wrapping<T>(a, static_cast<int64_t>(b));  // src/common/int_pow.h, as the CPU
    } else {
      // In double, as the CPU backend (std::pow on doubles), rounded to the type the CPU computes
      // in: float16 and bfloat16 through float32 (the CPU's op runner widens them, computes in
      // float32 and rounds the float32 result), so the same two roundings.
      const double r = pow(static_cast<double>(load(a)), static_cast<double>(load(b)));
      if constexpr (std::is_same_v<T, __half>) return f16_like_cpu(__double2float_rn(r));
      else if constexpr (std::is_same_v<T, __nv_bfloat16>) return bf16_like_cpu(__double2float_rn(r));
      else return static_cast<T>(r);
    }
  } else {
    const C x = load(a), y = load(static_cast<T>(b));
    C r;
    if constexpr (kOp == BinaryOp::kAdd) r = x + y;
    else if constexpr (kOp == BinaryOp::kPRelu) r = x < C(0) ? y * x : x;
    else if constexpr (kOp == BinaryOp::kSub) r = x - y;
    else if constexpr (kOp == BinaryOp::kMul) r = x * y;
    else if constexpr (kOp == BinaryOp::kMod || kOp == BinaryOp::kFmod) {
      if constexpr (std::is_integral_v<C>) {
        // As the CPU's int_mod: a zero divisor gives 0 (recorded as a fault), MIN mod -1 is 0.
        if (y == 0 || (std::is_signed_v<C> && y == C(-1))) {
          r = 0;
        } else {
          r = static_cast<C>(x % y);
          if (kOp == BinaryOp::kMod && r != 0 && ((r < 0) != (y < 0))) r = static_cast<C>(r + y);
        }
      } else {
        r = fmod(x, y);
      }
    } else {
      if constexpr (std::is_integral_v<C>) {
        if (y == 0) r = 0;
        else if (std::is_signed_v<C> && y == C(-1)) r = static_cast<C>(C(0) - static_cast<std::make_unsigned_t<C>>(x));
        else r = x / y;
      } else {
        r = x / y;
      }
    }
    return store<T, C>(r);
  }
}

// kDense: both operands laid out as the output. Otherwise a_dense / b_dense say which one is (a
// uniform branch): only a broadcast operand pays for the divisions of strided_offset.
// The values an integer Div or Pow computes as 0 where the CPU function fails are recorded in
// `fault` at the output position, the CPU's loop order.
template <BinaryOp kOp, typename T, typename E, typename O, bool kDense>
__global__ void binary_kernel(const T* a, StridedIndex ai, bool a_dense, const E* b, StridedIndex bi, bool b_dense, O* out,
                              int64_t n, FaultSink fault) {
  SS_GRID_STRIDE_LOOP(i, n) {
    const int64_t ia = kDense || a_dense ? i : strided_offset(i, ai);
    const int64_t ib = kDense || b_dense ? i : strided_offset(i, bi);
    const T x = a[ia];
    const E y = b[ib];
    if constexpr ((kOp == BinaryOp::kDiv || kOp == BinaryOp::kMod || kOp == BinaryOp::kFmod) && std::is_integral_v<T>) {
      if (y == 0) report_fault(fault, FaultKind::kDivisionByZero, static_cast<unsigned long long>(i), 0, 0, 0);
    } else if constexpr (kOp == BinaryOp::kPow && std::is_integral_v<T>) {
      if (x == 0 && y < 0) {
        report_fault(fault, FaultKind::kZeroToNegativePower, static_cast<unsigned long long>(i), static_cast<long long>(y), 0, 0);
      }
    }
    out[i] = apply_binary<kOp>(x, y);
  }
}

template <BinaryOp kOp, typename T, typename E>
cudaError_t binary_typed(const void* a, const StridedIndex& ai_in, const void* b, const StridedIndex& bi_in, void* out,
                         int64_t n, const FaultSink& fault, cudaStream_t s) {
  constexpr bool kBoolOut = kOp == BinaryOp::kEqual || kOp == BinaryOp::kAnd || kOp == BinaryOp::kOr ||
                            kOp == BinaryOp::kXor || kOp == BinaryOp::kLess || kOp == BinaryOp::kGreater ||
                            kOp == BinaryOp::kLessOrEqual || kOp == BinaryOp::kGreaterOrEqual;
  using O = std::conditional_t<kBoolOut, uint8_t, T>;
  StridedIndex ai = ai_in, bi = bi_in;
  coalesce_strided_pair(&ai, &bi);
  const bool a_dense = strided_is_dense(ai), b_dense = strided_is_dense(bi);
  if (a_dense && b_dense) {
    binary_kernel<kOp, T, E, O, true><<<grid_for(n, kBlock), kBlock, 0, s>>>(
        static_cast<const T*>(a), ai, true, static_cast<const E*>(b), bi, true, static_cast<O*>(out), n, fault);
  } else {
    binary_kernel<kOp, T, E, O, false><<<grid_for(n, kBlock), kBlock, 0, s>>>(
        static_cast<const T*>(a), ai, a_dense, static_cast<const E*>(b), bi, b_dense, static_cast<O*>(out), n, fault);
  }
  return cudaGetLastError();
}

// Calls f(T{}) for the element type; false when it has none here.
template <typename F>
bool dispatch_all(Elem e, F&& f) {
  switch (e) {
    case Elem::kF32: f(float{}); return true;
    case Elem::kF64: f(double{}); return true;
    case Elem::kF16: f(__half{}); return true;
    case Elem::kBF16: f(__nv_bfloat16{}); return true;
    case Elem::kI8: f(int8_t{}); return true;
    case Elem::kI16: f(int16_t{}); return true;
    case Elem::kI32: f(int32_t{}); return true;
    case Elem::kI64: f(int64_t{}); return true;
    case Elem::kU8: f(uint8_t{}); return true;
    case Elem::kU16: f(uint16_t{}); return true;
    case Elem::kU32: f(uint32_t{}); return true;
    case Elem::kU64: f(uint64_t{}); return true;
    case Elem::kBool: f(uint8_t{}); return true;
  }
  return false;
}

template <typename F>
bool dispatch_arith(Elem e, F&& f) {
  switch (e) {
    case Elem::kF32: f(float{}); return true;
    case Elem::kF64: f(double{}); return true;
    case Elem::kF16: f(__half{}); return true;
    case Elem::kBF16: f(__nv_bfloat16{}); return true;
    case Elem::kI32: f(int32_t{}); return true;
    case Elem::kI64: f(int64_t{}); return true;
    default: return false;
  }
}

template <BinaryOp kOp>
cudaError_t binary_op(Elem ae, const void* a, const StridedIndex& ai, const void* b, const StridedIndex& bi, void* out,
                      int64_t n, const FaultSink& fault, cudaStream_t s) {
  cudaError_t err = cudaErrorInvalidValue;
  dispatch_arith(ae, [&](auto zero) { err = binary_typed<kOp, decltype(zero), decltype(zero)>(a, ai, b, bi, out, n, fault, s); });
  return err;
}

// Less / Greater / LessOrEqual / GreaterOrEqual: every type but bool (whose uint8_t would compare too).
template <BinaryOp kOp>
cudaError_t compare_op(Elem ae, const void* a, const StridedIndex& ai, const void* b, const StridedIndex& bi, void* out,
                       int64_t n, const FaultSink& fault, cudaStream_t s) {
  if (ae == Elem::kBool) return cudaErrorInvalidValue;
  cudaError_t err = cudaErrorInvalidValue;
  dispatch_all(ae, [&](auto zero) { err = binary_typed<kOp, decltype(zero), decltype(zero)>(a, ai, b, bi, out, n, fault, s); });
  return err;
}

// ---- unary ----

template <UnaryOp kOp, typename C>
__device__ __forceinline__ C apply_unary(C v, C alpha, C beta) {
  if constexpr (kOp == UnaryOp::kRelu) {
    return v < C(0) ? C(0) : v;
  } else if constexpr (kOp == UnaryOp::kSigmoid) {
    return sigmoid_stable(v);
  } else if constexpr (kOp == UnaryOp::kTanh) {
    return tanh(v);
  } else if constexpr (kOp == UnaryOp::kNeg) {
    if constexpr (std::is_integral_v<C>) return static_cast<C>(std::make_unsigned_t<C>(0) - static_cast<std::make_unsigned_t<C>>(v));
    else return -v;
  } else if constexpr (kOp == UnaryOp::kSqrt) {
    return sqrt(v);
  } else if constexpr (kOp == UnaryOp::kErf) {
    return erf(v);
  } else if constexpr (kOp == UnaryOp::kLeakyRelu) {
    return v < C(0) ? alpha * v : v;
  } else if constexpr (kOp == UnaryOp::kHardSigmoid || kOp == UnaryOp::kHardSwish) {
    const C a = kOp == UnaryOp::kHardSwish ? C(1) / C(6) : alpha;
    const C b = kOp == UnaryOp::kHardSwish ? C(0.5) : beta;
    C p;  // rounded on its own, as on the CPU: nvcc would contract a * v + b into an FMA
    if constexpr (std::is_same_v<C, float>) p = __fmul_rn(a, v);
    else p = __dmul_rn(a, v);
    const C t = p + b;
    const C h = t < C(0) ? C(0) : (t > C(1) ? C(1) : t);
    return kOp == UnaryOp::kHardSwish ? v * h : h;
  } else if constexpr (kOp == UnaryOp::kGelu) {
    if constexpr (std::is_same_v<C, float>) {
      // The exported chain's order in float32, as the CPU backend: (x * (1 + erf(x / sqrt 2))) * 0.5.
      return (v * (1.0f + erff(v / 1.41421354f))) * 0.5f;
    } else {
      return C(0.5) * v * (C(1) + erf(v * C(0.70710678118654752440)));
    }
  } else if constexpr (kOp == UnaryOp::kGeluTanh) {
    // The CPU's expression in its order, each step rounded (no FMA contraction, which the CPU's
    // build does not do).
    const double x = static_cast<double>(v);
    const double cube = __dmul_rn(__dmul_rn(__dmul_rn(0.044715, x), x), x);
    const double inner = __dmul_rn(0.79788456080286535588, __dadd_rn(x, cube));
    return static_cast<C>(__dmul_rn(__dmul_rn(0.5, x), __dadd_rn(1.0, tanh(inner))));
  } else if constexpr (kOp == UnaryOp::kExp) {
    return exp(v);
  } else if constexpr (kOp == UnaryOp::kLog) {
    return log(v);
  } else if constexpr (kOp == UnaryOp::kReciprocal) {
    return C(1) / v;
  } else if constexpr (kOp == UnaryOp::kFloor) {
    return floor(v);
  } else if constexpr (kOp == UnaryOp::kCeil) {
    return ceil(v);
  } else if constexpr (kOp == UnaryOp::kRound) {
    return rint(v);  // round-to-nearest-even, as the CPU's nearbyint
  } else if constexpr (kOp == UnaryOp::kSin) {
    return sin(v);
  } else if constexpr (kOp == UnaryOp::kCos) {
    return cos(v);
  } else if constexpr (kOp == UnaryOp::kSoftplus) {
    return v > C(0) ? v + log1p(exp(-v)) : log1p(exp(v));
  } else if constexpr (kOp == UnaryOp::kMish) {
    return v * tanh(v > C(0) ? v + log1p(exp(-v)) : log1p(exp(v)));
  } else if constexpr (kOp == UnaryOp::kSoftsign) {
    return v / (C(1) + fabs(v));
  } else if constexpr (kOp == UnaryOp::kElu) {
    return v >= C(0) ? v : alpha * expm1(v);
  } else if constexpr (kOp == UnaryOp::kSelu) {
    return beta * (v > C(0) ? v : alpha * expm1(v));
  } else if constexpr (kOp == UnaryOp::kAbs) {
    if constexpr (std::is_integral_v<C>) {
      return v < C(0) ? static_cast<C>(std::make_unsigned_t<C>(0) - static_cast<std::make_unsigned_t<C>>(v)) : v;
    } else {
      return fabs(v);
    }
  } else if constexpr (kOp == UnaryOp::kSign) {
    return v > C(0) ? C(1) : v < C(0) ? C(-1) : v == C(0) ? C(0) : v;  // NaN stays NaN
  } else if constexpr (kOp == UnaryOp::kDivideBy) {
    return v / alpha;
  } else if constexpr (kOp == UnaryOp::kTan) {
    return tan(v);
  } else if constexpr (kOp == UnaryOp::kAsin) {
    return asin(v);
  } else if constexpr (kOp == UnaryOp::kAcos) {
    return acos(v);
  } else if constexpr (kOp == UnaryOp::kAtan) {
    return atan(v);
  } else if constexpr (kOp == UnaryOp::kSinh) {
    return sinh(v);
  } else if constexpr (kOp == UnaryOp::kCosh) {
    return cosh(v);
  } else if constexpr (kOp == UnaryOp::kAsinh) {
    return asinh(v);
  } else if constexpr (kOp == UnaryOp::kAcosh) {
    return acosh(v);
  } else if constexpr (kOp == UnaryOp::kAtanh) {
    return atanh(v);
  } else if constexpr (kOp == UnaryOp::kCelu) {
    return v > C(0) ? v : alpha * expm1(v / alpha) + C(0);  // Celu(-0) = +0, as on the CPU
  } else if constexpr (kOp == UnaryOp::kThresholdedRelu) {
    return v > alpha ? v : C(0);
  } else if constexpr (kOp == UnaryOp::kShrink) {
    return v < -alpha ? v + beta : v > alpha ? v - beta : C(0);
  } else {
    return v;
  }
}

template <UnaryOp kOp, typename T>
__global__ void unary_kernel(const T* x, T* y, int64_t n, double alpha, double beta) {
  using C = typename Compute<T>::type;
  const C a = static_cast<C>(alpha), b = static_cast<C>(beta);
  SS_GRID_STRIDE_LOOP(i, n) { y[i] = store<T, C>(apply_unary<kOp, C>(load(x[i]), a, b)); }
}

__global__ void not_kernel(const uint8_t* x, uint8_t* y, int64_t n) {
  SS_GRID_STRIDE_LOOP(i, n) { y[i] = x[i] ? 0 : 1; }
}

template <UnaryOp kOp>
cudaError_t unary_op(Elem e, const void* x, void* y, int64_t n, double alpha, double beta, cudaStream_t s) {
  auto launch = [&](auto zero) {
    using T = decltype(zero);
    unary_kernel<kOp, T><<<grid_for(n, kBlock), kBlock, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), n, alpha, beta);
    return cudaGetLastError();
  };
  switch (e) {
    case Elem::kF32: return launch(float{});
    case Elem::kF64: return launch(double{});
    case Elem::kF16: return launch(__half{});
    case Elem::kBF16: return launch(__nv_bfloat16{});
    default: break;
  }
  if constexpr (kOp == UnaryOp::kNeg || kOp == UnaryOp::kAbs || kOp == UnaryOp::kSign) {
    switch (e) {
      case Elem::kI8: return launch(int8_t{});
      case Elem::kI16: return launch(int16_t{});
      case Elem::kI32: return launch(int32_t{});
      case Elem::kI64: return launch(int64_t{});
      default: break;
    }
  }
  return cudaErrorInvalidValue;
}

template <typename T>
__global__ void clip_kernel(const T* x, T* y, int64_t n, T lo, T hi) {
  using C = typename Compute<T>::type;
  const C l = load(lo), h = load(hi);
  SS_GRID_STRIDE_LOOP(i, n) {
    const C v0 = load(x[i]);
    const C v = v0 < l ? l : v0;
    y[i] = store<T, C>(v > h ? h : v);
  }
}

template <typename T>
__global__ void where_kernel(const uint8_t* c, StridedIndex ci, const T* x, StridedIndex xi, const T* y,
                             StridedIndex yi, T* out, int64_t n) {
  SS_GRID_STRIDE_LOOP(i, n) {
    out[i] = c[strided_offset(i, ci)] ? x[strided_offset(i, xi)] : y[strided_offset(i, yi)];
  }
}

// ---- cast ----

// The exact value of a source element (float16 and bfloat16 widen exactly).
template <typename S>
__device__ __forceinline__ double source_double(S v) {
  if constexpr (std::is_same_v<S, __half>) return static_cast<double>(__half2float(v));
  else if constexpr (std::is_same_v<S, __nv_bfloat16>) return static_cast<double>(__bfloat162float(v));
  else return static_cast<double>(v);
}

template <typename S, typename D>
__device__ __forceinline__ D convert(S v) {
  if constexpr (std::is_same_v<D, __half>) {
    // One rounding from the exact source value, as the CPU backend (through double).
    if constexpr (std::is_same_v<S, __half>) return v;
    else return f16_like_cpu(source_double(v));  // a NaN keeps its sign and top payload bits
  } else if constexpr (std::is_same_v<D, __nv_bfloat16>) {
    // Likewise one rounding from the exact source value; a NaN keeps its sign and top payload bits.
    if constexpr (std::is_same_v<S, __nv_bfloat16>) return v;
    else return bf16_like_cpu(source_double(v));
  } else if constexpr (std::is_same_v<S, __half> || std::is_same_v<S, __nv_bfloat16>) {
    return cast_number<D>(static_cast<float>(load(v)));  // widening is exact
  } else {
    return cast_number<D>(v);  // NaN and out-of-range values as the CPU gives them (src/common/float_to_int.h)
  }
}

template <typename S, typename D>
__global__ void cast_kernel(const S* in, D* out, int64_t n) {
  SS_GRID_STRIDE_LOOP(i, n) { out[i] = convert<S, D>(in[i]); }
}

template <typename S>
__global__ void cast_to_bool_kernel(const S* in, uint8_t* out, int64_t n) {
  SS_GRID_STRIDE_LOOP(i, n) {
    if constexpr (std::is_same_v<S, __half>) out[i] = __half2float(in[i]) != 0.0f ? 1 : 0;
    else if constexpr (std::is_same_v<S, __nv_bfloat16>) out[i] = __bfloat162float(in[i]) != 0.0f ? 1 : 0;
    else out[i] = in[i] != S(0) ? 1 : 0;
  }
}

template <typename S>
__global__ void isinf_kernel(const S* in, uint8_t* out, int64_t n, bool neg, bool pos) {
  SS_GRID_STRIDE_LOOP(i, n) {
    const auto v = load(in[i]);  // float16 and bfloat16 widen exactly, infinities staying so
    out[i] = isinf(v) && (v > 0 ? pos : neg) ? 1 : 0;
  }
}

template <typename S>
__global__ void isnan_kernel(const S* in, uint8_t* out, int64_t n) {
  SS_GRID_STRIDE_LOOP(i, n) {
    const auto v = load(in[i]);  // float16 and bfloat16 widen exactly, NaN staying NaN
    out[i] = v != v ? 1 : 0;
  }
}

}  // namespace

int coalesce_strided_pair(StridedIndex* a, StridedIndex* b) {
  if (a->rank != b->rank) return a->rank;
  for (int k = 0; k < a->rank; ++k)
    if (a->dims[k] != b->dims[k]) return a->rank;
  int r = 0;
  for (int k = 0; k < a->rank; ++k) {
    const int64_t d = a->dims[k];
    if (d == 1) continue;
    // Dimension k folds into the previous one when both operands step over the pair as over one.
    if (r > 0 && a->strides[r - 1] == a->strides[k] * d && b->strides[r - 1] == b->strides[k] * d) {
      a->dims[r - 1] *= d;
      b->dims[r - 1] *= d;
      a->strides[r - 1] = a->strides[k];
      b->strides[r - 1] = b->strides[k];
      continue;
    }
    a->dims[r] = b->dims[r] = d;
    a->strides[r] = a->strides[k];
    b->strides[r] = b->strides[k];
    ++r;
  }
  a->rank = b->rank = r;
  return r;
}

cudaError_t launch_binary(BinaryOp op, Elem a_elem, Elem b_elem, const void* a, const StridedIndex& ai, const void* b,
                          const StridedIndex& bi, void* out, int64_t n, const FaultSink& fault, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (op) {
    case BinaryOp::kAdd: return binary_op<BinaryOp::kAdd>(a_elem, a, ai, b, bi, out, n, fault, stream);
    case BinaryOp::kSub: return binary_op<BinaryOp::kSub>(a_elem, a, ai, b, bi, out, n, fault, stream);
    case BinaryOp::kMul: return binary_op<BinaryOp::kMul>(a_elem, a, ai, b, bi, out, n, fault, stream);
    case BinaryOp::kDiv: return binary_op<BinaryOp::kDiv>(a_elem, a, ai, b, bi, out, n, fault, stream);
    case BinaryOp::kMax: return binary_op<BinaryOp::kMax>(a_elem, a, ai, b, bi, out, n, fault, stream);
    case BinaryOp::kMin: return binary_op<BinaryOp::kMin>(a_elem, a, ai, b, bi, out, n, fault, stream);
    case BinaryOp::kMod: return binary_op<BinaryOp::kMod>(a_elem, a, ai, b, bi, out, n, fault, stream);
    case BinaryOp::kFmod: return binary_op<BinaryOp::kFmod>(a_elem, a, ai, b, bi, out, n, fault, stream);
    case BinaryOp::kPRelu: return binary_op<BinaryOp::kPRelu>(a_elem, a, ai, b, bi, out, n, fault, stream);
    case BinaryOp::kLess: return compare_op<BinaryOp::kLess>(a_elem, a, ai, b, bi, out, n, fault, stream);
    case BinaryOp::kGreater: return compare_op<BinaryOp::kGreater>(a_elem, a, ai, b, bi, out, n, fault, stream);
    case BinaryOp::kLessOrEqual: return compare_op<BinaryOp::kLessOrEqual>(a_elem, a, ai, b, bi, out, n, fault, stream);
    case BinaryOp::kGreaterOrEqual:
      return compare_op<BinaryOp::kGreaterOrEqual>(a_elem, a, ai, b, bi, out, n, fault, stream);
    case BinaryOp::kAnd:
      return a_elem == Elem::kBool ? binary_typed<BinaryOp::kAnd, uint8_t, uint8_t>(a, ai, b, bi, out, n, fault, stream)
                                   : cudaErrorInvalidValue;
    case BinaryOp::kOr:
      return a_elem == Elem::kBool ? binary_typed<BinaryOp::kOr, uint8_t, uint8_t>(a, ai, b, bi, out, n, fault, stream)
                                   : cudaErrorInvalidValue;
    case BinaryOp::kXor:
      return a_elem == Elem::kBool ? binary_typed<BinaryOp::kXor, uint8_t, uint8_t>(a, ai, b, bi, out, n, fault, stream)
                                   : cudaErrorInvalidValue;
    case BinaryOp::kEqual: {
      cudaError_t err = cudaErrorInvalidValue;
      dispatch_all(a_elem, [&](auto zero) {
        using T = decltype(zero);
        err = binary_typed<BinaryOp::kEqual, T, T>(a, ai, b, bi, out, n, fault, stream);
      });
      return err;
    }
    case BinaryOp::kPow: {
      cudaError_t err = cudaErrorInvalidValue;
      dispatch_arith(a_elem, [&](auto base_zero) {
        using B = decltype(base_zero);
        dispatch_arith(b_elem, [&](auto exp_zero) {
          using E = decltype(exp_zero);
          if constexpr (std::is_integral_v<B> && !std::is_integral_v<E>) {
            err = cudaErrorInvalidValue;  // the CPU backend refuses these too
          } else {
            err = binary_typed<BinaryOp::kPow, B, E>(a, ai, b, bi, out, n, fault, stream);
          }
        });
      });
      return err;
    }
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_unary(UnaryOp op, Elem elem, const void* x, void* y, int64_t n, double alpha, double beta,
                         cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (op) {
    case UnaryOp::kRelu: return unary_op<UnaryOp::kRelu>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kSigmoid: return unary_op<UnaryOp::kSigmoid>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kTanh: return unary_op<UnaryOp::kTanh>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kNeg: return unary_op<UnaryOp::kNeg>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kSqrt: return unary_op<UnaryOp::kSqrt>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kErf: return unary_op<UnaryOp::kErf>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kLeakyRelu: return unary_op<UnaryOp::kLeakyRelu>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kHardSigmoid: return unary_op<UnaryOp::kHardSigmoid>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kHardSwish: return unary_op<UnaryOp::kHardSwish>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kGelu: return unary_op<UnaryOp::kGelu>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kGeluTanh: return unary_op<UnaryOp::kGeluTanh>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kExp: return unary_op<UnaryOp::kExp>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kLog: return unary_op<UnaryOp::kLog>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kReciprocal: return unary_op<UnaryOp::kReciprocal>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kFloor: return unary_op<UnaryOp::kFloor>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kCeil: return unary_op<UnaryOp::kCeil>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kRound: return unary_op<UnaryOp::kRound>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kSin: return unary_op<UnaryOp::kSin>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kCos: return unary_op<UnaryOp::kCos>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kSoftplus: return unary_op<UnaryOp::kSoftplus>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kMish: return unary_op<UnaryOp::kMish>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kSoftsign: return unary_op<UnaryOp::kSoftsign>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kElu: return unary_op<UnaryOp::kElu>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kSelu: return unary_op<UnaryOp::kSelu>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kTan: return unary_op<UnaryOp::kTan>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kAsin: return unary_op<UnaryOp::kAsin>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kAcos: return unary_op<UnaryOp::kAcos>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kAtan: return unary_op<UnaryOp::kAtan>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kSinh: return unary_op<UnaryOp::kSinh>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kCosh: return unary_op<UnaryOp::kCosh>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kAsinh: return unary_op<UnaryOp::kAsinh>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kAcosh: return unary_op<UnaryOp::kAcosh>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kAtanh: return unary_op<UnaryOp::kAtanh>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kCelu: return unary_op<UnaryOp::kCelu>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kThresholdedRelu: return unary_op<UnaryOp::kThresholdedRelu>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kShrink: return unary_op<UnaryOp::kShrink>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kAbs: return unary_op<UnaryOp::kAbs>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kSign: return unary_op<UnaryOp::kSign>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kDivideBy: return unary_op<UnaryOp::kDivideBy>(elem, x, y, n, alpha, beta, stream);
    case UnaryOp::kNot:
      if (elem != Elem::kBool) return cudaErrorInvalidValue;
      not_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const uint8_t*>(x), static_cast<uint8_t*>(y), n);
      return cudaGetLastError();
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_clip(Elem elem, const void* x, void* y, int64_t n, const void* lo, const void* hi,
                        cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  auto launch = [&](auto zero) {
    using T = decltype(zero);
    T l, h;
    std::memcpy(&l, lo, sizeof(T));
    std::memcpy(&h, hi, sizeof(T));
    clip_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), n, l, h);
    return cudaGetLastError();
  };
  switch (elem) {
    case Elem::kF32: return launch(float{});
    case Elem::kF64: return launch(double{});
    case Elem::kF16: return launch(__half{});
    case Elem::kBF16: return launch(__nv_bfloat16{});
    case Elem::kI32: return launch(int32_t{});
    case Elem::kI64: return launch(int64_t{});
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t launch_where(Elem elem, const void* cond, const StridedIndex& ci, const void* x, const StridedIndex& xi,
                         const void* y, const StridedIndex& yi, void* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  auto launch = [&](auto zero) {
    using T = decltype(zero);
    where_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const uint8_t*>(cond), ci,
                                                                static_cast<const T*>(x), xi, static_cast<const T*>(y),
                                                                yi, static_cast<T*>(out), n);
    return cudaGetLastError();
  };
  switch (elem) {
    case Elem::kF64: case Elem::kI64: case Elem::kU64: return launch(uint64_t{});
    case Elem::kF32: case Elem::kI32: case Elem::kU32: return launch(uint32_t{});
    case Elem::kF16: case Elem::kBF16: case Elem::kI16: case Elem::kU16: return launch(uint16_t{});
    case Elem::kI8: case Elem::kU8: case Elem::kBool: return launch(uint8_t{});
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_isnan(Elem elem, const void* x, uint8_t* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (elem) {
    case Elem::kF32: isnan_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const float*>(x), y, n); break;
    case Elem::kF64: isnan_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const double*>(x), y, n); break;
    case Elem::kF16: isnan_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const __half*>(x), y, n); break;
    case Elem::kBF16:
      isnan_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const __nv_bfloat16*>(x), y, n);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_isinf(Elem elem, const void* x, uint8_t* y, int64_t n, bool detect_negative, bool detect_positive,
                         cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const unsigned g = grid_for(n, kBlock);
  switch (elem) {
    case Elem::kF32: isinf_kernel<<<g, kBlock, 0, stream>>>(static_cast<const float*>(x), y, n, detect_negative, detect_positive); break;
    case Elem::kF64: isinf_kernel<<<g, kBlock, 0, stream>>>(static_cast<const double*>(x), y, n, detect_negative, detect_positive); break;
    case Elem::kF16: isinf_kernel<<<g, kBlock, 0, stream>>>(static_cast<const __half*>(x), y, n, detect_negative, detect_positive); break;
    case Elem::kBF16:
      isinf_kernel<<<g, kBlock, 0, stream>>>(static_cast<const __nv_bfloat16*>(x), y, n, detect_negative, detect_positive);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_cast(Elem from, Elem to, const void* in, void* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  cudaError_t err = cudaErrorInvalidValue;
  dispatch_all(from, [&](auto src_zero) {
    using S = decltype(src_zero);
    if (to == Elem::kBool) {
      cast_to_bool_kernel<S><<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const S*>(in), static_cast<uint8_t*>(out), n);
      err = cudaGetLastError();
      return;
    }
    dispatch_all(to, [&](auto dst_zero) {
      using D = decltype(dst_zero);
      cast_kernel<S, D><<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const S*>(in), static_cast<D*>(out), n);
      err = cudaGetLastError();
    });
  });
  return err;
}

}  // namespace shardscore::kernels
