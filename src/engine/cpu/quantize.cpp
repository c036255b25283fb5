// QuantizeLinear and DequantizeLinear on the CPU (op_plans_elementwise.h; one element and the
// scale element it uses by src/common/quantize.h, which the CUDA kernels share). float16 and
// bfloat16 x or scale arrive widened to float32 (op_run_cpu, exactly), so the scale is always
// float32 here and x float32 or int32 (QuantizeLinear) or a quantized integer (DequantizeLinear);
// DequantizeLinear's float32 y is then rounded once to the scale's 16-bit type.
#include <cstdint>

#include "common/quantize.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/op_plans_elementwise.h"

namespace shardscore {
namespace {

// out[i] = f(x[i], s[j], z ? z[j] : 0) for every element i of x, j its scale / zero-point element.
// Per-tensor apart, s[0] and z[0] read once into locals: no index arithmetic, and nothing the
// stores to out could be taken to change.
template <typename X, typename Z, typename O, typename F>
void map_elements(const QuantGeometry& g, int64_t n, const X* x, const float* s, const Z* z, O* out, F&& f) {
  if (g.per_tensor()) {
    const float s0 = s[0];
    const Z z0 = z ? z[0] : Z{0};
    for (int64_t i = 0; i < n; ++i) out[i] = f(x[i], s0, z0);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = g.param_index(i);
      out[i] = f(x[i], s[j], z ? z[j] : Z{0});
    }
  }
}

}  // namespace

Status cpu_quantize_linear(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(QuantizeLinearPlan p, quantize_linear_plan(ctx.node, ctx.inputs));
  Tensor y(p.y_dtype, p.x->shape());
  const float* s = p.scale->data<float>();
  // y: the integer types the plan admits (int8, uint8, int16, uint16).
  dtype_dispatch_among<int8_t, uint8_t, int16_t, uint16_t>(p.y_dtype, [&](auto q_zero) {
    using Q = decltype(q_zero);
    const Q* z = p.zero_point ? p.zero_point->data<Q>() : nullptr;
    auto q = [](auto x, float scale, Q zero) {
      return quantize_linear_value<Q>(static_cast<float>(x), scale, static_cast<int32_t>(zero));
    };
    if (p.x->dtype() == DType::kInt32) {
      map_elements(p.geom, p.x->numel(), p.x->data<int32_t>(), s, z, y.data<Q>(), q);
    } else {
      map_elements(p.geom, p.x->numel(), p.x->data<float>(), s, z, y.data<Q>(), q);
    }
  });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_dequantize_linear(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(QuantizeLinearPlan p, dequantize_linear_plan(ctx.node, ctx.inputs));
  Tensor y(DType::kFloat32, p.x->shape());
  const float* s = p.scale->data<float>();
  // x: those and int32 (a bias).
  dtype_dispatch_among<int8_t, uint8_t, int16_t, uint16_t, int32_t>(p.x->dtype(), [&](auto x_zero) {
    using X = decltype(x_zero);
    map_elements(p.geom, p.x->numel(), p.x->data<X>(), s, p.zero_point ? p.zero_point->data<X>() : nullptr,
                 y.data<float>(), [](X x, float scale, X zero) {
                   return dequantize_linear_value<X>(x, scale, static_cast<int64_t>(zero));
                 });
  });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore
