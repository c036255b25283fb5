#pragma once
// Element-wise kernels: binary ops with numpy broadcasting, unary math, Where and Cast.
// float32, float16 and bfloat16 (both computed in float32, rounded once), float64 where the CPU op takes it,
// integers for the arithmetic ops, bool for Not/Equal/Where.
#include "kernels/kernel_types.h"

namespace shardscore::kernels {

enum class BinaryOp {
  kAdd, kSub, kMul, kDiv, kPow, kEqual, kAnd, kOr, kXor, kMax, kMin,
  kLess, kGreater, kLessOrEqual, kGreaterOrEqual,  // every type but bool (output bool)
  kMod,   // integers: the remainder takes the divisor's sign (Mod fmod=0)
  kFmod,  // the dividend's sign (Mod fmod=1; C's fmod for floats)
  kPRelu,  // a < 0 ? b * a : a (PRelu; b is the slope): float types
};

// out[i] = a[ia] op b[ib] for the n elements of the output, ia / ib from `ai` / `bi` (the
// operands' strides in the output's index space). `a_elem` is the type of a, b and (except for
// kEqual, whose output is bool) out; kPow's exponent b may be another type (`b_elem`).
// Arithmetic (kMax and kMin too, NaN winning): float32, float16, bfloat16, float64, int32, int64;
// kEqual: every type; kAnd, kOr, kXor: bool (output bool); kLess, kGreater, kLessOrEqual,
// kGreaterOrEqual: every type but bool (output bool, NaN compares false); kMod, kFmod: arithmetic
// types (kMod integers only). An integer division (Div, Mod) by zero and an
// integer 0 to a negative power give 0 and are recorded in `fault` (kDivisionByZero,
// kZeroToNegativePower at output position i), so the batch fails with the CPU op's error. With an
// empty output nothing is divided and nothing is recorded, on the CPU too.
cudaError_t launch_binary(BinaryOp op, Elem a_elem, Elem b_elem, const void* a, const StridedIndex& ai,
                          const void* b, const StridedIndex& bi, void* out, int64_t n, const FaultSink& fault,
                          cudaStream_t stream);

// Host, used by launch_binary: two operand indexes over the same output dimensions, with the
// size-1 dimensions dropped and each pair of neighbouring dimensions that both operands walk as
// one (contiguously, or both broadcast) folded into one: the same offsets for every output
// element, with fewer divisions. Indexes of unequal dimensions are left as they are. Returns the rank.
int coalesce_strided_pair(StridedIndex* a, StridedIndex* b);

enum class UnaryOp {
  kRelu, kSigmoid, kTanh, kNeg, kSqrt, kErf, kNot,
  kLeakyRelu,    // alpha
  kHardSigmoid,  // alpha, beta
  kHardSwish,
  kGelu,         // exact (erf) form
  kGeluTanh,     // tanh approximation
  kExp, kLog, kReciprocal, kFloor, kCeil,
  kRound,        // halves to even
  kSin, kCos, kSoftplus,
  kSoftsign,     // x / (1 + |x|) as written: +-inf gives NaN
  kMish,         // x * tanh(softplus(x)) as written: -inf gives NaN
  kElu,          // alpha
  kSelu,         // alpha, beta = gamma
  kAbs, kSign,   // also signed integers; Sign(NaN) = NaN
  kDivideBy,     // x / alpha (Mean's last step)
  kTan, kAsin, kAcos, kAtan, kSinh, kCosh, kAsinh, kAcosh, kAtanh,
  kCelu,             // alpha: x > 0 ? x : alpha * expm1(x / alpha)
  kThresholdedRelu,  // alpha: x > alpha ? x : 0 (NaN gives 0)
  kShrink,           // alpha = lambd, beta = bias: x < -lambd ? x + bias : x > lambd ? x - bias : 0
};

// y[i] = f(x[i]) for n elements of type `elem`: float32, float16, bfloat16, float64; kNeg, kAbs and
// kSign also signed integers, kNot bool. NaN passes through every op. In place (x == y) allowed.
cudaError_t launch_unary(UnaryOp op, Elem elem, const void* x, void* y, int64_t n, double alpha, double beta,
                         cudaStream_t stream);

// y[i] = min(max(x[i], lo), hi) (NaN passes); lo and hi point to one host element of `elem`
// (float32, float16, bfloat16, float64, int32, int64).
cudaError_t launch_clip(Elem elem, const void* x, void* y, int64_t n, const void* lo, const void* hi,
                        cudaStream_t stream);

// out[i] = cond[ic] ? x[ix] : y[iy]; cond is bool, x/y/out of `elem` (any, moved as bytes).
cudaError_t launch_where(Elem elem, const void* cond, const StridedIndex& ci, const void* x, const StridedIndex& xi,
                         const void* y, const StridedIndex& yi, void* out, int64_t n, cudaStream_t stream);

// y[i] = x[i] is NaN (bool), x float32, float16, bfloat16 or float64 (IsNaN).
cudaError_t launch_isnan(Elem elem, const void* x, uint8_t* y, int64_t n, cudaStream_t stream);
// IsInf: y[i] = x[i] is +inf (with detect_positive) or -inf (with detect_negative). Float types.
cudaError_t launch_isinf(Elem elem, const void* x, uint8_t* y, int64_t n, bool detect_negative, bool detect_positive,
                         cudaStream_t stream);

// out[i] = static_cast<to>(in[i]) with ONNX's rules (float to bool: != 0; float16 and
// bfloat16 round once to nearest even from the exact source value).
cudaError_t launch_cast(Elem from, Elem to, const void* in, void* out, int64_t n, cudaStream_t stream);

}  // namespace shardscore::kernels
