// Element-wise ops on CUDA. Checks, types, shapes and attributes come from the plans shared with
// the CPU functions (src/engine/op_plans_elementwise.h); kernels in kernels/elementwise.cu.
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/cuda/cuda_ops.h"
#include "engine/cpu/float16.h"
#include "engine/cuda/cuda_util.h"
#include "engine/op_plans_elementwise.h"
#include "kernels/elementwise.h"
#include "kernels/quantize.h"
#include "kernels/tensor_ops.h"  // launch_fill (Dropout's mask)

namespace shardscore {
namespace {

using kernels::BinaryOp;
using kernels::UnaryOp;

Status launch_binary_op(CudaOpContext& ctx, BinaryOp op, const BinaryPlan& p) {
  Tensor out(p.out, p.shape);
  SS_ASSIGN_OR_RETURN(kernels::StridedIndex ai, cuda_strided_index(p.a->shape(), p.shape));
  SS_ASSIGN_OR_RETURN(kernels::StridedIndex bi, cuda_strided_index(p.b->shape(), p.shape));
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_binary(op, cuda_elem(p.a->dtype()), cuda_elem(p.b->dtype()), p.a->raw(), ai,
                                                   p.b->raw(), bi, out.raw(), out.numel(), ctx.fault(), ctx.lane.stream));
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

Status arith(CudaOpContext& ctx, BinaryOp op) {
  SS_ASSIGN_OR_RETURN(BinaryPlan p, arith_binary_plan(ctx.inputs));
  return launch_binary_op(ctx, op, p);
}

Status logical(CudaOpContext& ctx, BinaryOp op) {
  SS_ASSIGN_OR_RETURN(BinaryPlan p, logical_plan(ctx.inputs));
  return launch_binary_op(ctx, op, p);
}

// y = f(x) for an x that passed its op's plan; y has x's type and shape.
Status launch_unary_op(CudaOpContext& ctx, UnaryOp op, const Tensor& x, double alpha = 0, double beta = 0) {
  Tensor y(x.dtype(), x.shape());
  SS_LAUNCH_RETURN_IF_ERROR(
      kernels::launch_unary(op, cuda_elem(x.dtype()), x.raw(), y.raw(), x.numel(), alpha, beta, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// Float ops: float32, float16, bfloat16, float64 (as the CPU's cpu_unary_float, float16 and
// bfloat16 via op_run_cpu).
Status unary_float(CudaOpContext& ctx, UnaryOp op, double alpha = 0, double beta = 0) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, float_unary_plan(ctx.inputs));
  return launch_unary_op(ctx, op, *x, alpha, beta);
}

template <typename T>
Status launch_clip_as(CudaOpContext& ctx, const Tensor& x, T lo, T hi) {
  Tensor y(x.dtype(), x.shape());
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_clip(cuda_elem(x.dtype()), x.raw(), y.raw(), x.numel(), &lo, &hi, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

template <typename T>
Status clip_typed(CudaOpContext& ctx, const ClipPlan& p) {
  return launch_clip_as<T>(ctx, *p.x, p.lo.as<T>(std::numeric_limits<T>::lowest()), p.hi.as<T>(std::numeric_limits<T>::max()));
}

}  // namespace

Status cuda_add(CudaOpContext& ctx) { return arith(ctx, BinaryOp::kAdd); }
Status cuda_sub(CudaOpContext& ctx) { return arith(ctx, BinaryOp::kSub); }
Status cuda_mul(CudaOpContext& ctx) { return arith(ctx, BinaryOp::kMul); }
Status cuda_div(CudaOpContext& ctx) { return arith(ctx, BinaryOp::kDiv); }

Status cuda_equal(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(BinaryPlan p, equal_plan(ctx.inputs));
  return launch_binary_op(ctx, BinaryOp::kEqual, p);
}

Status cuda_and(CudaOpContext& ctx) { return logical(ctx, BinaryOp::kAnd); }
Status cuda_or(CudaOpContext& ctx) { return logical(ctx, BinaryOp::kOr); }
Status cuda_xor(CudaOpContext& ctx) { return logical(ctx, BinaryOp::kXor); }

namespace {
// Max / Min folded over the inputs in order, as on the CPU: out = op(x0, x1), then out = op(out,
// xk) in place (each element reads only its own position of out).
Status min_max(CudaOpContext& ctx, BinaryOp op) {
  SS_ASSIGN_OR_RETURN(MinMaxPlan p, min_max_plan(ctx.inputs));
  Tensor out(p.xs[0]->dtype(), p.shape);
  if (p.xs.size() == 1) {
    SS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out.raw(), p.xs[0]->raw(), out.nbytes(), cudaMemcpyDeviceToDevice, ctx.lane.stream));
    ctx.outputs[0] = std::move(out);
    return ok_status();
  }
  const kernels::Elem e = cuda_elem(out.dtype());
  SS_ASSIGN_OR_RETURN(kernels::StridedIndex first, cuda_strided_index(p.xs[0]->shape(), p.shape));
  SS_ASSIGN_OR_RETURN(kernels::StridedIndex dense, cuda_strided_index(p.shape, p.shape));
  for (std::size_t k = 1; k < p.xs.size(); ++k) {
    const Tensor* a = k == 1 ? p.xs[0] : &out;
    const kernels::StridedIndex& ai = k == 1 ? first : dense;
    SS_ASSIGN_OR_RETURN(kernels::StridedIndex bi, cuda_strided_index(p.xs[k]->shape(), p.shape));
    SS_LAUNCH_RETURN_IF_ERROR(
        kernels::launch_binary(op, e, e, a->raw(), ai, p.xs[k]->raw(), bi, out.raw(), out.numel(), ctx.fault(),
                               ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(out);
  return ok_status();
}
}  // namespace

Status cuda_max(CudaOpContext& ctx) { return min_max(ctx, BinaryOp::kMax); }
Status cuda_min(CudaOpContext& ctx) { return min_max(ctx, BinaryOp::kMin); }

Status cuda_pow(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(BinaryPlan p, pow_plan(ctx.inputs));
  return launch_binary_op(ctx, BinaryOp::kPow, p);
}

Status cuda_where(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(WherePlan p, where_plan(ctx.inputs));
  Tensor out(p.x->dtype(), p.shape);
  SS_ASSIGN_OR_RETURN(kernels::StridedIndex ci, cuda_strided_index(p.cond->shape(), p.shape));
  SS_ASSIGN_OR_RETURN(kernels::StridedIndex xi, cuda_strided_index(p.x->shape(), p.shape));
  SS_ASSIGN_OR_RETURN(kernels::StridedIndex yi, cuda_strided_index(p.y->shape(), p.shape));
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_where(cuda_elem(p.x->dtype()), p.cond->raw(), ci, p.x->raw(), xi, p.y->raw(),
                                                  yi, out.raw(), out.numel(), ctx.lane.stream));
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

Status cuda_not(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, not_plan(ctx.inputs));
  return launch_unary_op(ctx, UnaryOp::kNot, *x);
}

Status cuda_isnan(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, float_unary_plan(ctx.inputs));
  Tensor y(DType::kBool, x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(
      kernels::launch_isnan(cuda_elem(x->dtype()), x->raw(), y.data<uint8_t>(), x->numel(), ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_isinf(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, float_unary_plan(ctx.inputs));
  Tensor y(DType::kBool, x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_isinf(cuda_elem(x->dtype()), x->raw(), y.data<uint8_t>(), x->numel(),
                                                  ctx.node.attr_int("detect_negative", 1) != 0,
                                                  ctx.node.attr_int("detect_positive", 1) != 0, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_neg(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, neg_plan(ctx.inputs));
  return launch_unary_op(ctx, UnaryOp::kNeg, *x);
}

Status cuda_sqrt(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kSqrt); }
Status cuda_erf(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kErf); }
Status cuda_relu(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kRelu); }
Status cuda_sigmoid(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kSigmoid); }
Status cuda_tanh(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kTanh); }
Status cuda_hard_swish(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kHardSwish); }

Status cuda_leaky_relu(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kLeakyRelu, leaky_relu_params(ctx.node).alpha); }

Status cuda_hard_sigmoid(CudaOpContext& ctx) {
  const ActivationParams a = hard_sigmoid_params(ctx.node);
  return unary_float(ctx, UnaryOp::kHardSigmoid, a.alpha, a.beta);
}

Status cuda_gelu(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(GeluApprox approximate, gelu_plan(ctx.node));
  return unary_float(ctx, approximate == GeluApprox::kNone ? UnaryOp::kGelu : UnaryOp::kGeluTanh);
}

Status cuda_clip(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ClipPlan p, clip_plan(ctx.node, ctx.inputs));
  if (dtype_is_half(p.x->dtype())) {
    // The kernel compares in float with float16 (bfloat16) bounds: a bound rounded to the type
    // (nearest even) clips an x of the type exactly as the CPU's float32 clip followed by its
    // rounding does.
    const DType t = p.x->dtype();
    auto half_bound = [t](const ClipBound& b, uint16_t unbounded) {
      return b.kind == ClipBound::kNone ? unbounded : double_to_half_bits(t, b.as<double>(0));
    };
    const bool bf16 = t == DType::kBFloat16;
    return launch_clip_as<uint16_t>(ctx, *p.x, half_bound(p.lo, bf16 ? 0xFF80 : 0xFC00),  // -inf
                                    half_bound(p.hi, bf16 ? 0x7F80 : 0x7C00));            // +inf
  }
  Status st = ok_status();
  if (!clip_dispatch(p.x->dtype(), [&](auto zero) { st = clip_typed<decltype(zero)>(ctx, p); })) {
    return unsupported_element_type(p.x->dtype());
  }
  return st;
}

Status cuda_cast(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(CastPlan p, cast_plan(ctx.node, ctx.inputs));
  if (p.identity) {
    ctx.outputs[0] = *p.x;
    return ok_status();
  }
  Tensor y(p.to, p.x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(
      kernels::launch_cast(cuda_elem(p.x->dtype()), cuda_elem(p.to), p.x->raw(), y.raw(), p.x->numel(), ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ---- Exp ... Selu, Abs, Sign, comparisons, Mod, Sum / Mean, Dropout ----

Status cuda_exp(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kExp); }
Status cuda_log(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kLog); }
Status cuda_reciprocal(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kReciprocal); }
Status cuda_floor(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kFloor); }
Status cuda_ceil(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kCeil); }
Status cuda_round(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kRound); }
Status cuda_sin(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kSin); }
Status cuda_cos(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kCos); }
Status cuda_softplus(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kSoftplus); }
Status cuda_mish(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kMish); }
Status cuda_tan(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kTan); }
Status cuda_asin(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kAsin); }
Status cuda_acos(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kAcos); }
Status cuda_atan(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kAtan); }
Status cuda_sinh(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kSinh); }
Status cuda_cosh(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kCosh); }
Status cuda_asinh(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kAsinh); }
Status cuda_acosh(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kAcosh); }
Status cuda_atanh(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kAtanh); }
Status cuda_celu(CudaOpContext& ctx) {
  SS_RETURN_IF_ERROR(celu_check(ctx.node));
  return unary_float(ctx, UnaryOp::kCelu, celu_params(ctx.node).alpha);
}
Status cuda_thresholded_relu(CudaOpContext& ctx) {
  return unary_float(ctx, UnaryOp::kThresholdedRelu, thresholded_relu_params(ctx.node).alpha);
}
Status cuda_shrink(CudaOpContext& ctx) {
  const auto p = shrink_params(ctx.node);
  return unary_float(ctx, UnaryOp::kShrink, p.alpha, p.beta);
}
Status cuda_softsign(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kSoftsign); }
Status cuda_elu(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kElu, elu_params(ctx.node).alpha); }

Status cuda_selu(CudaOpContext& ctx) {
  const ActivationParams a = selu_params(ctx.node);
  return unary_float(ctx, UnaryOp::kSelu, a.alpha, a.beta);
}

Status cuda_abs(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, neg_plan(ctx.inputs));
  return launch_unary_op(ctx, UnaryOp::kAbs, *x);
}

Status cuda_sign(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, neg_plan(ctx.inputs));
  return launch_unary_op(ctx, UnaryOp::kSign, *x);
}

namespace {
Status compare(CudaOpContext& ctx, BinaryOp op) {
  SS_ASSIGN_OR_RETURN(BinaryPlan p, compare_plan(ctx.inputs));
  return launch_binary_op(ctx, op, p);
}
}  // namespace

Status cuda_less(CudaOpContext& ctx) { return compare(ctx, BinaryOp::kLess); }
Status cuda_greater(CudaOpContext& ctx) { return compare(ctx, BinaryOp::kGreater); }
Status cuda_less_or_equal(CudaOpContext& ctx) { return compare(ctx, BinaryOp::kLessOrEqual); }
Status cuda_greater_or_equal(CudaOpContext& ctx) { return compare(ctx, BinaryOp::kGreaterOrEqual); }

Status cuda_prelu(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(BinaryPlan p, prelu_plan(ctx.inputs));
  return launch_binary_op(ctx, BinaryOp::kPRelu, p);
}

Status cuda_mod(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ModPlan p, mod_plan(ctx.node, ctx.inputs));
  // An integer divisor of 0 is recorded by the kernel (kDivisionByZero): the batch fails as on the CPU.
  return launch_binary_op(ctx, p.fmod ? BinaryOp::kFmod : BinaryOp::kMod, p.b);
}

namespace {
// Sum / Mean folded over the inputs in order, as on the CPU: acc = x0 + x1, then acc = acc + xk in
// place; Mean then divides by the count. float16 and bfloat16 inputs are widened to float32 first
// and the float32 result rounded once at the end, as the CPU's op runner computes them (a fold in
// the stored type would round after every addition).
Status sum_mean(CudaOpContext& ctx, bool mean) {
  SS_ASSIGN_OR_RETURN(MinMaxPlan p, sum_mean_plan(ctx.inputs));
  const DType t = p.xs[0]->dtype();
  const bool half = dtype_is_half(t);
  Tensor out(t, p.shape);
  const int64_t n = out.numel();
  const kernels::Elem e = half ? kernels::Elem::kF32 : cuda_elem(t);
  std::vector<const void*> xs;
  for (const Tensor* x : p.xs) {
    if (!half || x->numel() == 0) {
      xs.push_back(x->raw());
      continue;
    }
    void* w = ctx.scratch(static_cast<std::size_t>(x->numel()) * sizeof(float));
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_cast(cuda_elem(t), kernels::Elem::kF32, x->raw(), w, x->numel(), ctx.lane.stream));
    xs.push_back(w);
  }
  void* acc = half && n > 0 ? ctx.scratch(static_cast<std::size_t>(n) * sizeof(float)) : out.raw();
  if (xs.size() == 1) {
    SS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(acc, xs[0], static_cast<std::size_t>(n) * dtype_size(half ? DType::kFloat32 : t),
                                            cudaMemcpyDeviceToDevice, ctx.lane.stream));
  } else {
    SS_ASSIGN_OR_RETURN(kernels::StridedIndex first, cuda_strided_index(p.xs[0]->shape(), p.shape));
    SS_ASSIGN_OR_RETURN(kernels::StridedIndex dense, cuda_strided_index(p.shape, p.shape));
    for (std::size_t k = 1; k < xs.size(); ++k) {
      SS_ASSIGN_OR_RETURN(kernels::StridedIndex bi, cuda_strided_index(p.xs[k]->shape(), p.shape));
      SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_binary(BinaryOp::kAdd, e, e, k == 1 ? xs[0] : acc, k == 1 ? first : dense,
                                                       xs[k], bi, acc, n, ctx.fault(), ctx.lane.stream));
    }
  }
  if (mean && xs.size() > 1) {
    SS_LAUNCH_RETURN_IF_ERROR(
        kernels::launch_unary(UnaryOp::kDivideBy, e, acc, acc, n, static_cast<double>(xs.size()), 0, ctx.lane.stream));
  }
  if (acc != out.raw()) {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_cast(kernels::Elem::kF32, cuda_elem(t), acc, out.raw(), n, ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(out);
  return ok_status();
}
}  // namespace

Status cuda_sum(CudaOpContext& ctx) { return sum_mean(ctx, false); }
Status cuda_mean(CudaOpContext& ctx) { return sum_mean(ctx, true); }

Status cuda_dropout(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(DropoutPlan p, dropout_plan(ctx.node, ctx.inputs));
  ctx.outputs[0] = *p.x;  // as Identity: the same buffer
  if (p.want_mask && ctx.outputs.size() > 1) {
    Tensor mask(p.mask_dtype, p.x->shape());
    uint64_t one = 1;  // bool
    if (p.mask_dtype == DType::kFloat32) {
      const float f = 1.0f;
      std::memcpy(&one, &f, sizeof f);
    } else if (p.mask_dtype == DType::kFloat64) {
      const double d = 1.0;
      std::memcpy(&one, &d, sizeof d);
    } else if (dtype_is_half(p.mask_dtype)) {
      one = double_to_half_bits(p.mask_dtype, 1.0);
    }
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_fill(static_cast<int>(dtype_size(p.mask_dtype)), one, mask.raw(),
                                                   mask.numel(), ctx.lane.stream));
    ctx.outputs[1] = std::move(mask);
  }
  return ok_status();
}

// QuantizeLinear (op_plans_elementwise.h): one kernel, x and the scale read as stored (float16 and
// bfloat16 widened in the kernel, as op_run_cpu widens them for the CPU; an int32 x converted there
// as the CPU converts it), scale and zero point device tensors.
Status cuda_quantize_linear(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(QuantizeLinearPlan p, quantize_linear_plan(ctx.node, ctx.inputs));
  Tensor y(p.y_dtype, p.x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_quantize_linear(
      cuda_elem(p.x->dtype()), p.x->raw(), cuda_elem(p.scale->dtype()), p.scale->raw(),
      p.zero_point ? p.zero_point->raw() : nullptr, cuda_elem(p.y_dtype), y.raw(), y.numel(), p.geom,
      ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// DequantizeLinear (op_plans_elementwise.h): y of the scale's type, a 16-bit one rounded once from
// the float32 product (as the CPU's op_run_cpu rounds it).
Status cuda_dequantize_linear(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(QuantizeLinearPlan p, dequantize_linear_plan(ctx.node, ctx.inputs));
  Tensor y(p.y_dtype, p.x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_dequantize_linear(
      cuda_elem(p.x->dtype()), p.x->raw(), p.zero_point ? p.zero_point->raw() : nullptr, cuda_elem(p.scale->dtype()),
      p.scale->raw(), y.raw(), y.numel(), p.geom, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// DynamicQuantizeLinear (op_plans_elementwise.h): the range reduced by one block, the scale and
// zero point written to their (device) outputs, then read by the quantizing kernel.
Status cuda_dynamic_quantize_linear(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(DynamicQuantizeLinearPlan p, dynamic_quantize_linear_plan(ctx.inputs));
  Tensor y(DType::kUInt8, p.x->shape()), scale(DType::kFloat32, {}), zero_point(DType::kUInt8, {});
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_dynamic_quantize_linear(p.x->data<float>(), p.x->numel(), y.data<uint8_t>(),
                                                                    scale.data<float>(), zero_point.data<uint8_t>(),
                                                                    ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(scale);
  if (ctx.outputs.size() > 2) ctx.outputs[2] = std::move(zero_point);
  return ok_status();
}

}  // namespace shardscore
