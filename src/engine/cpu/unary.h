#pragma once
// y = f(x), element by element, for float32 and float64 x (f is called with float or double).
// Shared by the element-wise op files.
#include <cmath>
#include <string>

#include "engine/cpu/cpu_ops.h"
#include "engine/op_plans_elementwise.h"

namespace shardscore {

// 1 / (1 + e^-x), in two branches that keep exp's argument non-positive: no overflow for large |x|.
template <typename T>
T sigmoid_stable(T v) {
  if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
  const T e = std::exp(v);
  return e / (T(1) + e);
}

template <typename F>
Status cpu_unary_float(OpContext& ctx, F f) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, float_unary_plan(ctx.inputs));
  Tensor out(x->dtype(), x->shape());
  const int64_t n = x->numel();
  if (x->dtype() == DType::kFloat32) {
    const float* px = x->data<float>();
    float* po = out.data<float>();
    for (int64_t i = 0; i < n; ++i) po[i] = f(px[i]);
  } else if (x->dtype() == DType::kFloat64) {
    const double* px = x->data<double>();
    double* po = out.data<double>();
    for (int64_t i = 0; i < n; ++i) po[i] = f(px[i]);
  } else {
    return unsupported_element_type(x->dtype());  // float16: widened by op_run_cpu before this
  }
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

// A float unary op whose float32 form is one of vector_math.h's array functions `f` (libmvec:
// Erf, Sigmoid, Tanh); float64 through `scalar`, as cpu_unary_float.
template <typename F>
Status cpu_unary_vector_f32(OpContext& ctx, void (*f)(const float*, float*, int64_t), F scalar) {
  const Tensor* x = ctx.input(0);
  if (x && x->dtype() == DType::kFloat32) {
    Tensor y(DType::kFloat32, x->shape());
    f(x->data<float>(), y.data<float>(), x->numel());
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  return cpu_unary_float(ctx, scalar);
}

}  // namespace shardscore
