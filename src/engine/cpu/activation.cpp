// Activations: Clip, LeakyRelu, HardSigmoid, HardSwish, Erf, Gelu. NaN passes through every one
// of them (as in ONNX Runtime): a missing value never turns into a confident number.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/vector_math.h"
#include "engine/cpu/unary.h"
#include "engine/op_plans_elementwise.h"

namespace shardscore {
namespace {


// max(0, min(1, alpha * x + beta)), NaN kept.
template <typename T>
T hard_sigmoid(T x, T alpha, T beta) {
  const T t = alpha * x + beta;
  return t < T(0) ? T(0) : (t > T(1) ? T(1) : t);
}

template <typename T>
Status clip_typed(OpContext& ctx, const ClipPlan& p) {
  const Tensor& x = *p.x;
  const T lo = p.lo.as<T>(std::numeric_limits<T>::lowest()), hi = p.hi.as<T>(std::numeric_limits<T>::max());
  Tensor out(x.dtype(), x.shape());
  const T* px = x.data<T>();
  T* po = out.data<T>();
  // min > max gives max everywhere, as the spec says; NaN passes.
  for (int64_t i = 0; i < x.numel(); ++i) {
    T v = px[i] < lo ? lo : px[i];
    po[i] = v > hi ? hi : v;
  }
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

}  // namespace

Status cpu_clip(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ClipPlan p, clip_plan(ctx.node, ctx.inputs));
  Status st = ok_status();
  if (!clip_dispatch(p.x->dtype(), [&](auto zero) { st = clip_typed<decltype(zero)>(ctx, p); })) {
    return unsupported_element_type(p.x->dtype());  // float16: widened by op_run_cpu before this
  }
  return st;
}

Status cpu_leaky_relu(OpContext& ctx) {
  const double alpha = leaky_relu_params(ctx.node).alpha;
  return cpu_unary_float(ctx, [alpha](auto v) {
    using T = decltype(v);
    return v < T(0) ? static_cast<T>(alpha) * v : v;
  });
}

Status cpu_hard_sigmoid(OpContext& ctx) {
  // Not a structured binding: clang 14 (the fuzz build) cannot capture one.
  const auto params = hard_sigmoid_params(ctx.node);
  const double alpha = params.alpha, beta = params.beta;
  return cpu_unary_float(ctx, [alpha, beta](auto v) {
    using T = decltype(v);
    return hard_sigmoid<T>(v, static_cast<T>(alpha), static_cast<T>(beta));
  });
}

Status cpu_hard_swish(OpContext& ctx) {
  return cpu_unary_float(ctx, [](auto v) {
    using T = decltype(v);
    return v * hard_sigmoid<T>(v, T(1) / T(6), T(0.5));
  });
}

void cpu_gelu_f32(const float* x, float* y, int64_t n) {
  // The order of the exported chain, in float32: (x * (1 + erf(x / sqrt 2))) * 0.5.
  constexpr int64_t kChunk = 256;
  alignas(64) float t[kChunk];
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t m = std::min(kChunk, n - i0);
    for (int64_t i = 0; i < m; ++i) t[i] = x[i0 + i] / 1.41421354f;
    vector_erf_f32(t, t, m);
    for (int64_t i = 0; i < m; ++i) y[i0 + i] = (x[i0 + i] * (1.0f + t[i])) * 0.5f;
  }
}

Status cpu_erf(OpContext& ctx) {
  return cpu_unary_vector_f32(ctx, vector_erf_f32, [](auto v) { return std::erf(v); });
}

Status cpu_gelu(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(GeluApprox approximate, gelu_plan(ctx.node));
  const Tensor* x = ctx.input(0);
  if (approximate == GeluApprox::kNone && x && x->dtype() == DType::kFloat32) {
    Tensor y(DType::kFloat32, x->shape());
    cpu_gelu_f32(x->data<float>(), y.data<float>(), x->numel());
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  if (approximate == GeluApprox::kNone) {
    return cpu_unary_float(ctx, [](auto v) {
      using T = decltype(v);
      return static_cast<T>(0.5 * static_cast<double>(v) * (1.0 + std::erf(static_cast<double>(v) * M_SQRT1_2)));
    });
  }
  return cpu_unary_float(ctx, [](auto v) {  // GeluApprox::kTanh
    using T = decltype(v);
    const double x = static_cast<double>(v);
    const double k = std::sqrt(2.0 / M_PI);
    return static_cast<T>(0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x))));
  });
}

// ---- Exp, Log, Reciprocal, Floor, Ceil, Round, Sin, Cos, Softplus, Mish, Softsign, Elu, Selu ----

Status cpu_exp(OpContext& ctx) {
  return cpu_unary_float(ctx, [](auto v) { return std::exp(v); });
}

Status cpu_log(OpContext& ctx) {
  return cpu_unary_float(ctx, [](auto v) { return std::log(v); });
}

Status cpu_reciprocal(OpContext& ctx) {
  return cpu_unary_float(ctx, [](auto v) { return decltype(v)(1) / v; });
}

Status cpu_floor(OpContext& ctx) {
  return cpu_unary_float(ctx, [](auto v) { return std::floor(v); });
}

Status cpu_ceil(OpContext& ctx) {
  return cpu_unary_float(ctx, [](auto v) { return std::ceil(v); });
}

Status cpu_round(OpContext& ctx) {
  // Halves to even, as the spec says (std::round would take them away from zero): nearbyint in the
  // default rounding mode, which nothing here changes.
  return cpu_unary_float(ctx, [](auto v) { return std::nearbyint(v); });
}

Status cpu_sin(OpContext& ctx) {
  return cpu_unary_float(ctx, [](auto v) { return std::sin(v); });
}

Status cpu_cos(OpContext& ctx) {
  return cpu_unary_float(ctx, [](auto v) { return std::cos(v); });
}

Status cpu_softplus(OpContext& ctx) {
  // log(1 + e^x) with e's argument non-positive: no overflow for large x (x + log1p(e^-x)).
  return cpu_unary_float(ctx, [](auto v) {
    using T = decltype(v);
    return v > T(0) ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
  });
}

Status cpu_mish(OpContext& ctx) {
  // x * tanh(softplus(x)), softplus as above; the spec's formula as written: -inf gives NaN (-inf * 0),
  // as in onnx.reference.
  return cpu_unary_float(ctx, [](auto v) {
    using T = decltype(v);
    return v * std::tanh(v > T(0) ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)));
  });
}

Status cpu_softsign(OpContext& ctx) {
  // The spec's formula as written: +-inf gives NaN (inf / inf), as in ONNX Runtime and onnx.reference.
  return cpu_unary_float(ctx, [](auto v) {
    using T = decltype(v);
    return v / (T(1) + std::fabs(v));
  });
}

Status cpu_elu(OpContext& ctx) {
  const double alpha = elu_params(ctx.node).alpha;
  return cpu_unary_float(ctx, [alpha](auto v) {
    using T = decltype(v);
    return v >= T(0) ? v : static_cast<T>(alpha) * std::expm1(v);
  });
}

Status cpu_selu(OpContext& ctx) {
  const auto params = selu_params(ctx.node);
  const double alpha = params.alpha, gamma = params.beta;
  return cpu_unary_float(ctx, [alpha, gamma](auto v) {
    using T = decltype(v);
    return static_cast<T>(gamma) * (v > T(0) ? v : static_cast<T>(alpha) * std::expm1(v));
  });
}

// ---- Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh, Celu, ThresholdedRelu, Shrink ----

Status cpu_tan(OpContext& ctx) { return cpu_unary_float(ctx, [](auto v) { return std::tan(v); }); }
Status cpu_asin(OpContext& ctx) { return cpu_unary_float(ctx, [](auto v) { return std::asin(v); }); }
Status cpu_acos(OpContext& ctx) { return cpu_unary_float(ctx, [](auto v) { return std::acos(v); }); }
Status cpu_atan(OpContext& ctx) { return cpu_unary_float(ctx, [](auto v) { return std::atan(v); }); }
Status cpu_sinh(OpContext& ctx) { return cpu_unary_float(ctx, [](auto v) { return std::sinh(v); }); }
Status cpu_cosh(OpContext& ctx) { return cpu_unary_float(ctx, [](auto v) { return std::cosh(v); }); }
Status cpu_asinh(OpContext& ctx) { return cpu_unary_float(ctx, [](auto v) { return std::asinh(v); }); }
Status cpu_acosh(OpContext& ctx) { return cpu_unary_float(ctx, [](auto v) { return std::acosh(v); }); }
Status cpu_atanh(OpContext& ctx) { return cpu_unary_float(ctx, [](auto v) { return std::atanh(v); }); }

Status cpu_celu(OpContext& ctx) {
  // max(0, x) + min(0, alpha * (exp(x / alpha) - 1)): x where x > 0, else the second term.
  SS_RETURN_IF_ERROR(celu_check(ctx.node));
  const double alpha = celu_params(ctx.node).alpha;
  return cpu_unary_float(ctx, [alpha](auto v) {
    using T = decltype(v);
    const T a = static_cast<T>(alpha);
    return v > T(0) ? v : a * std::expm1(v / a) + T(0);  // + 0: Celu(-0) is +0, as the spec's sum gives it
  });
}

Status cpu_thresholded_relu(OpContext& ctx) {
  const double alpha = thresholded_relu_params(ctx.node).alpha;
  return cpu_unary_float(ctx, [alpha](auto v) {
    using T = decltype(v);
    return v > static_cast<T>(alpha) ? v : T(0);  // NaN gives 0, as the spec's comparison does
  });
}

Status cpu_shrink(OpContext& ctx) {
  const auto params = shrink_params(ctx.node);
  const double lambd = params.alpha, bias = params.beta;
  return cpu_unary_float(ctx, [lambd, bias](auto v) {
    using T = decltype(v);
    return v < static_cast<T>(-lambd) ? v + static_cast<T>(bias) : v > static_cast<T>(lambd) ? v - static_cast<T>(bias) : T(0);
  });
}

}  // namespace shardscore
