// Element-wise ops on CUDA: the same checks, types and shapes as their CPU functions
// (src/engine/cpu/elementwise.cpp, activation.cpp, shape_ops.cpp), kernels in kernels/elementwise.cu.
#include <cstring>
#include <limits>
#include <string>

#include "engine/cpu/broadcast.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/cuda_util.h"
#include "kernels/elementwise.h"

namespace shardscore {
namespace {

using kernels::BinaryOp;
using kernels::UnaryOp;

Status unsupported_type(DType t) { return unimplemented("element type " + std::string(dtype_name(t)) + " is not supported"); }

bool is_arith(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kFloat64 || t == DType::kInt32 ||
         t == DType::kInt64;
}
bool is_float(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kFloat64; }

Status launch_binary_op(CudaOpContext& ctx, BinaryOp op, const Tensor& a, const Tensor& b, DType out_type,
                        const Shape& shape) {
  Tensor out(out_type, shape);
  SS_ASSIGN_OR_RETURN(kernels::StridedIndex ai, cuda_strided_index(a.shape(), shape));
  SS_ASSIGN_OR_RETURN(kernels::StridedIndex bi, cuda_strided_index(b.shape(), shape));
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_binary(op, cuda_elem(a.dtype()), cuda_elem(b.dtype()), a.raw(), ai, b.raw(),
                                                   bi, out.raw(), out.numel(), ctx.lane.stream));
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

Status binary(CudaOpContext& ctx, BinaryOp op) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, cuda_required_input(ctx, 1));
  if (a->dtype() != b->dtype()) {
    return invalid_argument("input types differ: " + std::string(dtype_name(a->dtype())) + " and " +
                            std::string(dtype_name(b->dtype())));
  }
  SS_ASSIGN_OR_RETURN(Shape shape, cpu_broadcast_shapes(a->shape(), b->shape()));
  if (op == BinaryOp::kEqual) {
    if (a->dtype() == DType::kUndefined) return unsupported_type(a->dtype());
    return launch_binary_op(ctx, op, *a, *b, DType::kBool, shape);
  }
  if (!is_arith(a->dtype())) return unsupported_type(a->dtype());
  return launch_binary_op(ctx, op, *a, *b, a->dtype(), shape);
}

// Float ops: float32, float16, float64 (as the CPU's cpu_unary_float, float16 via op_run_cpu).
Status unary_float(CudaOpContext& ctx, UnaryOp op, double alpha = 0, double beta = 0) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  if (!is_float(x->dtype())) return unsupported_type(x->dtype());
  Tensor y(x->dtype(), x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(
      kernels::launch_unary(op, cuda_elem(x->dtype()), x->raw(), y.raw(), x->numel(), alpha, beta, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

template <typename T>
Status clip_bounds(const CudaOpContext& ctx, const Tensor& x, T* lo, T* hi) {
  *lo = std::numeric_limits<T>::lowest();
  *hi = std::numeric_limits<T>::max();
  if (ctx.node.opset < 11) {
    *lo = static_cast<T>(ctx.node.attr_float("min", -std::numeric_limits<float>::max()));
    *hi = static_cast<T>(ctx.node.attr_float("max", std::numeric_limits<float>::max()));
    return ok_status();
  }
  const char* names[] = {"min", "max"};
  for (std::size_t i = 0; i < 2; ++i) {
    const Tensor* b = ctx.input(i + 1);  // host tensors (kHost12)
    if (!b) continue;
    if (b->dtype() != x.dtype()) {
      return invalid_argument(std::string(names[i]) + " of type " + std::string(dtype_name(b->dtype())) +
                              " differs from input's " + std::string(dtype_name(x.dtype())));
    }
    if (b->numel() != 1) return invalid_argument(std::string(names[i]) + " " + shape_to_string(b->shape()) + " must be a scalar");
    std::memcpy(i == 0 ? lo : hi, b->raw(), sizeof(T));
  }
  return ok_status();
}

template <typename T>
Status clip_typed(CudaOpContext& ctx, const Tensor& x) {
  T lo, hi;
  SS_RETURN_IF_ERROR(clip_bounds<T>(ctx, x, &lo, &hi));
  Tensor y(x.dtype(), x.shape());
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_clip(cuda_elem(x.dtype()), x.raw(), y.raw(), x.numel(), &lo, &hi, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace

Status cuda_add(CudaOpContext& ctx) { return binary(ctx, BinaryOp::kAdd); }
Status cuda_sub(CudaOpContext& ctx) { return binary(ctx, BinaryOp::kSub); }
Status cuda_mul(CudaOpContext& ctx) { return binary(ctx, BinaryOp::kMul); }
Status cuda_div(CudaOpContext& ctx) { return binary(ctx, BinaryOp::kDiv); }
Status cuda_equal(CudaOpContext& ctx) { return binary(ctx, BinaryOp::kEqual); }

Status cuda_pow(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, cuda_required_input(ctx, 1));
  SS_ASSIGN_OR_RETURN(Shape shape, cpu_broadcast_shapes(a->shape(), b->shape()));
  if (!is_arith(a->dtype())) return unimplemented("base type " + std::string(dtype_name(a->dtype())) + " is not supported");
  if (!is_arith(b->dtype())) return unimplemented("exponent type " + std::string(dtype_name(b->dtype())) + " is not supported");
  if (!is_float(a->dtype()) && is_float(b->dtype())) {
    return unimplemented("Pow of an integer base with a float exponent is not supported");
  }
  return launch_binary_op(ctx, BinaryOp::kPow, *a, *b, a->dtype(), shape);
}

Status cuda_where(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* c, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* y, cuda_required_input(ctx, 2));
  if (c->dtype() != DType::kBool) return invalid_argument("condition must be bool; got " + std::string(dtype_name(c->dtype())));
  if (x->dtype() != y->dtype()) {
    return invalid_argument("X and Y types differ: " + std::string(dtype_name(x->dtype())) + " and " +
                            std::string(dtype_name(y->dtype())));
  }
  SS_ASSIGN_OR_RETURN(Shape sxy, cpu_broadcast_shapes(x->shape(), y->shape()));
  SS_ASSIGN_OR_RETURN(Shape shape, cpu_broadcast_shapes(c->shape(), sxy));
  Tensor out(x->dtype(), shape);
  SS_ASSIGN_OR_RETURN(kernels::StridedIndex ci, cuda_strided_index(c->shape(), shape));
  SS_ASSIGN_OR_RETURN(kernels::StridedIndex xi, cuda_strided_index(x->shape(), shape));
  SS_ASSIGN_OR_RETURN(kernels::StridedIndex yi, cuda_strided_index(y->shape(), shape));
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_where(cuda_elem(x->dtype()), c->raw(), ci, x->raw(), xi, y->raw(), yi, out.raw(),
                                                  out.numel(), ctx.lane.stream));
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

Status cuda_not(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  if (x->dtype() != DType::kBool) return invalid_argument("Not takes bool input; got " + std::string(dtype_name(x->dtype())));
  Tensor y(DType::kBool, x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_unary(UnaryOp::kNot, kernels::Elem::kBool, x->raw(), y.raw(), x->numel(), 0, 0,
                                                  ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_neg(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  const DType t = x->dtype();
  if (!is_float(t) && t != DType::kInt8 && t != DType::kInt16 && t != DType::kInt32 && t != DType::kInt64) {
    return unsupported_type(t);
  }
  Tensor y(t, x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_unary(UnaryOp::kNeg, cuda_elem(t), x->raw(), y.raw(), x->numel(), 0, 0, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_sqrt(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kSqrt); }
Status cuda_erf(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kErf); }
Status cuda_relu(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kRelu); }
Status cuda_sigmoid(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kSigmoid); }
Status cuda_tanh(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kTanh); }
Status cuda_hard_swish(CudaOpContext& ctx) { return unary_float(ctx, UnaryOp::kHardSwish); }

Status cuda_leaky_relu(CudaOpContext& ctx) {
  return unary_float(ctx, UnaryOp::kLeakyRelu, static_cast<double>(ctx.node.attr_float("alpha", 0.01f)));
}

Status cuda_hard_sigmoid(CudaOpContext& ctx) {
  return unary_float(ctx, UnaryOp::kHardSigmoid, static_cast<double>(ctx.node.attr_float("alpha", 0.2f)),
                     static_cast<double>(ctx.node.attr_float("beta", 0.5f)));
}

Status cuda_gelu(CudaOpContext& ctx) {
  std::string approximate = "none";
  if (const Attribute* a = ctx.node.attr("approximate")) approximate = a->s;
  if (approximate == "none") return unary_float(ctx, UnaryOp::kGelu);
  if (approximate == "tanh") return unary_float(ctx, UnaryOp::kGeluTanh);
  return invalid_argument("approximate '" + approximate + "' is not one of none, tanh");
}

Status cuda_clip(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  switch (x->dtype()) {
    case DType::kFloat32: return clip_typed<float>(ctx, *x);
    case DType::kFloat64: return clip_typed<double>(ctx, *x);
    case DType::kInt32: return clip_typed<int32_t>(ctx, *x);
    case DType::kInt64: return clip_typed<int64_t>(ctx, *x);
    case DType::kFloat16: {
      // Bounds arrive as float16 host tensors (same type as x); the kernel compares in float.
      uint16_t lo = 0xFC00, hi = 0x7C00;  // -inf, +inf
      if (ctx.node.opset < 11) return unsupported_type(x->dtype());
      for (std::size_t i = 0; i < 2; ++i) {
        const Tensor* b = ctx.input(i + 1);
        if (!b) continue;
        if (b->dtype() != x->dtype() || b->numel() != 1) return invalid_argument("Clip bounds must be float16 scalars");
        std::memcpy(i == 0 ? &lo : &hi, b->raw(), 2);
      }
      Tensor y(x->dtype(), x->shape());
      SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_clip(kernels::Elem::kF16, x->raw(), y.raw(), x->numel(), &lo, &hi, ctx.lane.stream));
      ctx.outputs[0] = std::move(y);
      return ok_status();
    }
    default: return unsupported_type(x->dtype());
  }
}

Status cuda_cast(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  const int64_t to_code = ctx.node.attr_int("to", 0);
  const DType to = dtype_from_onnx_code(to_code);
  if (to == DType::kUndefined) return unimplemented("cast to ONNX type " + std::to_string(to_code) + " is not supported");
  if (to == x->dtype()) {
    ctx.outputs[0] = *x;
    return ok_status();
  }
  Tensor y(to, x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_cast(cuda_elem(x->dtype()), cuda_elem(to), x->raw(), y.raw(), x->numel(), ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore
