#include <cstring>

#include "common/float_to_int.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/float16.h"
#include "engine/op_plans_elementwise.h"
#include "engine/op_plans_tensor.h"

namespace shardscore {

Status cpu_flatten(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  int64_t axis = ctx.node.attr_int("axis", 1);
  if (axis < 0) axis += x->rank();
  if (axis < 0 || axis > x->rank()) return invalid_argument("axis " + std::to_string(axis) + " is out of range");
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < x->rank(); ++k) (k < axis ? outer : inner) *= x->dim(k);
  ctx.outputs[0] = x->reshaped({outer, inner});
  return ok_status();
}

Status cpu_reshape(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* shape_t, cpu_required_input(ctx, 1));
  if (shape_t->dtype() != DType::kInt64 || shape_t->rank() != 1) return invalid_argument("shape must be a 1-D int64 tensor");
  const bool allow_zero = ctx.node.opset >= 14 && ctx.node.attr_int("allowzero", 0) != 0;
  const int64_t* req = shape_t->data<int64_t>();
  Shape out(static_cast<std::size_t>(shape_t->numel()));
  int64_t known = 1, infer_at = -1;
  for (std::size_t k = 0; k < out.size(); ++k) {
    int64_t d = req[k];
    if (d == 0 && !allow_zero) {
      if (static_cast<int64_t>(k) >= x->rank()) return invalid_argument("shape keeps dimension " + std::to_string(k) + ", which the input lacks");
      d = x->dim(static_cast<int64_t>(k));
    }
    if (d == -1) {
      if (infer_at >= 0) return invalid_argument("shape has more than one -1");
      infer_at = static_cast<int64_t>(k);
      continue;
    }
    if (d < 0) return invalid_argument("shape has negative dimension " + std::to_string(d));
    out[k] = d;
    known *= d;
  }
  if (infer_at >= 0) {
    if (known == 0 || x->numel() % known != 0) {
      return invalid_argument("cannot reshape " + shape_to_string(x->shape()) + " to " + shape_to_string(Shape(req, req + out.size())));
    }
    out[infer_at] = x->numel() / known;
  }
  if (shape_numel(out) != x->numel()) {
    return invalid_argument("cannot reshape " + shape_to_string(x->shape()) + " to " + shape_to_string(out));
  }
  ctx.outputs[0] = x->reshaped(out);
  return ok_status();
}

Status cpu_identity(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  ctx.outputs[0] = *x;
  return ok_status();
}

Status cpu_constant(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ConstantPlan p, constant_plan(ctx.node));
  ctx.outputs[0] = p.tensor ? *p.tensor : Tensor::copy_of(p.dtype, p.shape, p.data);
  return ok_status();
}

DType dtype_from_onnx_code(int64_t t) {
  switch (t) {
    case 1: return DType::kFloat32;
    case 2: return DType::kUInt8;
    case 3: return DType::kInt8;
    case 4: return DType::kUInt16;
    case 5: return DType::kInt16;
    case 6: return DType::kInt32;
    case 7: return DType::kInt64;
    case 9: return DType::kBool;
    case 10: return DType::kFloat16;
    case 16: return DType::kBFloat16;
    case 11: return DType::kFloat64;
    case 12: return DType::kUInt32;
    case 13: return DType::kUInt64;
    default: return DType::kUndefined;
  }
}

Status cpu_cast(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(CastPlan p, cast_plan(ctx.node, ctx.inputs));
  const Tensor* x = p.x;
  const DType to = p.to;
  if (p.identity) {
    ctx.outputs[0] = *x;
    return ok_status();
  }
  Tensor y(to, x->shape());
  const int64_t n = x->numel();
  if (dtype_is_half(x->dtype()) && dtype_is_half(to)) {
    // float16 <-> bfloat16: widening is exact, then one rounding.
    const uint16_t* ps = x->data<uint16_t>();
    uint16_t* pd = y.data<uint16_t>();
    for (int64_t i = 0; i < n; ++i) pd[i] = double_to_half_bits(to, half_bits_to_float(x->dtype(), ps[i]));
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  if (dtype_is_half(x->dtype())) {
    // Widening is exact; every other target converts from that float.
    const uint16_t* ph = x->data<uint16_t>();
    const bool ok = dtype_dispatch(to, [&](auto dst_zero) {
      using D = decltype(dst_zero);
      D* pd = y.data<D>();
      for (int64_t i = 0; i < n; ++i) pd[i] = cast_number<D>(half_bits_to_float(x->dtype(), ph[i]));
    });
    if (!ok) {
      return unimplemented("cast from " + std::string(dtype_name(x->dtype())) + " to " + std::string(dtype_name(to)) +
                           " is not supported");
    }
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  if (dtype_is_half(to)) {
    // One rounding (to nearest even) from the source value, through the exact double.
    uint16_t* ph = y.data<uint16_t>();
    const bool ok = dtype_dispatch(x->dtype(), [&](auto src_zero) {
      using S = decltype(src_zero);
      const S* ps = x->data<S>();
      for (int64_t i = 0; i < n; ++i) ph[i] = double_to_half_bits(to, static_cast<double>(ps[i]));
    });
    if (!ok) {
      return unimplemented("cast from " + std::string(dtype_name(x->dtype())) + " to " + std::string(dtype_name(to)) +
                           " is not supported");
    }
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  bool ok = dtype_dispatch(x->dtype(), [&](auto src_zero) {
    using S = decltype(src_zero);
    const S* ps = x->data<S>();
    dtype_dispatch(to, [&](auto dst_zero) {
      using D = decltype(dst_zero);
      D* pd = y.data<D>();
      for (int64_t i = 0; i < n; ++i) pd[i] = cast_number<D>(ps[i]);
    });
  });
  if (!ok) return unimplemented("cast from " + std::string(dtype_name(x->dtype())) + " is not supported");
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_concat(OpContext& ctx) { return run_concat_plan(ctx, concat_plan(ctx.node, ctx.inputs), host_copy_rows); }

}  // namespace shardscore
