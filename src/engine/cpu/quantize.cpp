// QuantizeLinear and DequantizeLinear on the CPU (op_plans_elementwise.h; one element by
// src/common/quantize.h, which the CUDA kernels share). float16 and bfloat16 x or scale arrive
// widened to float32 (op_run_cpu, exactly); DequantizeLinear's float32 y is then rounded once to
// the scale's 16-bit type.
#include <cstdint>

#include "common/quantize.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/op_plans_elementwise.h"

namespace shardscore {
namespace {

// Calls f(T{}) for the quantized integer types (int32 too, for DequantizeLinear's x); false for others.
template <typename F>
bool quant_dispatch(DType t, F&& f) {
  switch (t) {
    case DType::kInt8: f(int8_t{}); return true;
    case DType::kUInt8: f(uint8_t{}); return true;
    case DType::kInt16: f(int16_t{}); return true;
    case DType::kUInt16: f(uint16_t{}); return true;
    case DType::kInt32: f(int32_t{}); return true;
    default: return false;
  }
}

// The scale / zero-point element of x's element i (op_plans_elementwise.h, QuantizeLinearPlan).
inline int64_t param_index(const QuantizeLinearPlan& p, int64_t i) {
  const int64_t k = i % p.inner, rest = i / p.inner;
  const int64_t d = rest % p.dim, o = rest / p.dim;
  return o * p.scale_outer + (d / p.block) * p.scale_axis + k * p.scale_inner;
}

}  // namespace

Status cpu_quantize_linear(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(QuantizeLinearPlan p, quantize_linear_plan(ctx.node, ctx.inputs));
  if (p.x->dtype() != DType::kFloat32 || p.scale->dtype() != DType::kFloat32) {
    return unsupported_element_type(p.x->dtype() != DType::kFloat32 ? p.x->dtype() : p.scale->dtype());
  }
  Tensor y(p.y_dtype, p.x->shape());
  const int64_t n = p.x->numel();
  const float* x = p.x->data<float>();
  const float* s = p.scale->data<float>();
  const bool per_tensor = p.scale_outer == 0 && p.scale_axis == 0 && p.scale_inner == 0;
  quant_dispatch(p.y_dtype, [&](auto zero) {
    using Q = decltype(zero);
    if constexpr (sizeof(Q) <= 2) {
      const Q* z = p.zero_point ? p.zero_point->data<Q>() : nullptr;
      Q* out = y.data<Q>();
      if (per_tensor) {
        const float s0 = s[0];
        const int32_t z0 = z ? static_cast<int32_t>(z[0]) : 0;
        for (int64_t i = 0; i < n; ++i) out[i] = quantize_linear_value<Q>(x[i], s0, z0);
      } else {
        for (int64_t i = 0; i < n; ++i) {
          const int64_t j = param_index(p, i);
          out[i] = quantize_linear_value<Q>(x[i], s[j], z ? static_cast<int32_t>(z[j]) : 0);
        }
      }
    }
  });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_dequantize_linear(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(QuantizeLinearPlan p, dequantize_linear_plan(ctx.node, ctx.inputs));
  if (p.scale->dtype() != DType::kFloat32) return unsupported_element_type(p.scale->dtype());
  Tensor y(DType::kFloat32, p.x->shape());
  const int64_t n = p.x->numel();
  const float* s = p.scale->data<float>();
  float* out = y.data<float>();
  const bool per_tensor = p.scale_outer == 0 && p.scale_axis == 0 && p.scale_inner == 0;
  quant_dispatch(p.x->dtype(), [&](auto zero) {
    using X = decltype(zero);
    const X* x = p.x->data<X>();
    const X* z = p.zero_point ? p.zero_point->data<X>() : nullptr;
    if (per_tensor) {
      const float s0 = s[0];
      const int64_t z0 = z ? static_cast<int64_t>(z[0]) : 0;
      for (int64_t i = 0; i < n; ++i) out[i] = dequantize_linear_value<X>(x[i], s0, z0);
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const int64_t j = param_index(p, i);
        out[i] = dequantize_linear_value<X>(x[i], s[j], z ? static_cast<int64_t>(z[j]) : 0);
      }
    }
  });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore
