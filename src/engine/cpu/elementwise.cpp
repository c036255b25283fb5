#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>

#include "engine/cpu/broadcast.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/float16.h"
#include "engine/cpu/unary.h"
#include "engine/cpu/vector_math.h"
#include "common/int_pow.h"
#include "engine/op_plans_elementwise.h"

namespace shardscore {

StatusOr<int64_t> cpu_normalize_axis(int64_t axis, int64_t rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  }
  return a;
}

StatusOr<const Tensor*> cpu_required_input(const OpContext& ctx, std::size_t i) {
  const Tensor* t = ctx.input(i);
  if (!t) return invalid_argument("required input " + std::to_string(i) + " is missing");
  return t;
}

namespace {

template <typename T, typename F>
void binary_loop(const Tensor& a, const Tensor& b, Tensor* out, F f) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out->data<T>();
  const int64_t n = out->numel();
  if (a.shape() == b.shape()) {
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    return;
  }
  // A one-element operand broadcasts to everything; the other then has the output's element count.
  if (b.numel() == 1) {
    const T vb = pb[0];
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], vb);
    return;
  }
  if (a.numel() == 1) {
    const T va = pa[0];
    for (int64_t i = 0; i < n; ++i) po[i] = f(va, pb[i]);
    return;
  }
  const Shape& os = out->shape();
  const std::size_t r = os.size();
  if (r == 0) {
    po[0] = f(pa[0], pb[0]);
    return;
  }
  const auto sa = cpu_broadcast_strides(a.shape(), os);
  const auto sb = cpu_broadcast_strides(b.shape(), os);
  const int64_t inner = os[r - 1];
  const int64_t ia = sa[r - 1], ib = sb[r - 1];
  std::vector<int64_t> idx(r, 0);
  for (int64_t base = 0; base < n; base += inner) {
    int64_t oa = 0, ob = 0;
    for (std::size_t k = 0; k + 1 < r; ++k) {
      oa += idx[k] * sa[k];
      ob += idx[k] * sb[k];
    }
    for (int64_t j = 0; j < inner; ++j) po[base + j] = f(pa[oa + j * ia], pb[ob + j * ib]);
    for (std::size_t k = r - 1; k-- > 0;) {
      if (++idx[k] < os[k]) break;
      idx[k] = 0;
    }
  }
}

enum class BinOp { kAdd, kSub, kMul, kDiv };

template <typename T>
Status binary_typed(BinOp op, const Tensor& a, const Tensor& b, Tensor* out) {
  switch (op) {
    case BinOp::kAdd: binary_loop<T>(a, b, out, [](T x, T y) { return static_cast<T>(x + y); }); break;
    case BinOp::kSub: binary_loop<T>(a, b, out, [](T x, T y) { return static_cast<T>(x - y); }); break;
    case BinOp::kMul: binary_loop<T>(a, b, out, [](T x, T y) { return static_cast<T>(x * y); }); break;
    case BinOp::kDiv:
      // An error only where a division by zero happens: with an empty output none does, as
      // none does on CUDA (whose kernel sees only the divisors it divides by).
      if constexpr (std::is_integral_v<T>) {
        const T* pb = b.data<T>();
        for (int64_t i = 0; out->numel() > 0 && i < b.numel(); ++i)
          if (pb[i] == 0) return invalid_argument("integer division by zero");
      }
      binary_loop<T>(a, b, out, [](T x, T y) {
        if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
          // MIN / -1 overflows (SIGFPE on x86): wrap around as numpy does instead.
          if (y == T(-1)) return static_cast<T>(T(0) - static_cast<std::make_unsigned_t<T>>(x));
        }
        return static_cast<T>(x / y);
      });
      break;
  }
  return ok_status();
}

// An input the output may be written over: reusable (its value's last reader is this step), of
// the output's dtype and shape, so that element i of the output reads only element i of it.
Tensor* overwritable_input(OpContext& ctx, DType dtype, const Shape& shape) {
  for (std::size_t k = 0; k < ctx.inputs.size(); ++k) {
    Tensor* t = ctx.reusable_input(k);
    if (t && t->dtype() == dtype && t->shape() == shape) return t;
  }
  return nullptr;
}

Status binary(OpContext& ctx, BinOp op) {
  SS_ASSIGN_OR_RETURN(BinaryPlan in, arith_binary_plan(ctx.inputs));
  const Tensor *a = in.a, *b = in.b;
  // Computed over a dying input where there is one: a pass over memory less (no new buffer to
  // fill), same values.
  Tensor* over = overwritable_input(ctx, in.out, in.shape);
  Tensor out = over ? *over : Tensor(in.out, in.shape);
  Status st = ok_status();
  bool handled = false;
  switch (a->dtype()) {
    case DType::kFloat32: st = binary_typed<float>(op, *a, *b, &out); handled = true; break;
    case DType::kFloat64: st = binary_typed<double>(op, *a, *b, &out); handled = true; break;
    case DType::kInt32: st = binary_typed<int32_t>(op, *a, *b, &out); handled = true; break;
    case DType::kInt64: st = binary_typed<int64_t>(op, *a, *b, &out); handled = true; break;
    default: break;
  }
  if (!handled) return unsupported_element_type(a->dtype());  // float16: widened by op_run_cpu before this
  SS_RETURN_IF_ERROR(st);
  ctx.outputs[0] = std::move(out);
  return ok_status();
}


}  // namespace

Status cpu_add(OpContext& ctx) { return binary(ctx, BinOp::kAdd); }
Status cpu_sub(OpContext& ctx) { return binary(ctx, BinOp::kSub); }
Status cpu_mul(OpContext& ctx) { return binary(ctx, BinOp::kMul); }
Status cpu_div(OpContext& ctx) { return binary(ctx, BinOp::kDiv); }

Status cpu_relu(OpContext& ctx) {
  // NaN passes through (as in ONNX Runtime): a missing value must not turn into a confident 0.
  return cpu_unary_float(ctx, [](auto v) { return v < 0 ? decltype(v)(0) : v; });
}

Status cpu_sigmoid(OpContext& ctx) {
  return cpu_unary_vector_f32(ctx, vector_sigmoid_f32, [](auto v) { return sigmoid_stable(v); });
}

Status cpu_tanh(OpContext& ctx) {
  return cpu_unary_vector_f32(ctx, vector_tanh_f32, [](auto v) { return std::tanh(v); });
}

// ---------------------------------------------------------------------------------------------
// Math and logic ops (cpu_ops_nn.h): Sqrt, Pow, Neg, Not, Equal, Where.

namespace {

// Calls f(i, offsets) for every element i of the output shape `os`, with offsets[k] the flat
// position in operand k (of shape *shapes[k], broadcast to os).
template <std::size_t K, typename F>
void broadcast_each(const std::array<const Shape*, K>& shapes, const Shape& os, F f) {
  const int64_t n = shape_numel(os);
  const std::size_t r = os.size();
  std::array<int64_t, K> off{};
  if (n == 0) return;
  if (r == 0) {
    f(int64_t{0}, off);
    return;
  }
  std::array<std::vector<int64_t>, K> st;
  for (std::size_t k = 0; k < K; ++k) st[k] = cpu_broadcast_strides(*shapes[k], os);
  const int64_t inner = os[r - 1];
  std::vector<int64_t> idx(r, 0);
  for (int64_t base = 0; base < n; base += inner) {
    std::array<int64_t, K> start{};
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t d = 0; d + 1 < r; ++d) start[k] += idx[d] * st[k][d];
    for (int64_t j = 0; j < inner; ++j) {
      for (std::size_t k = 0; k < K; ++k) off[k] = start[k] + j * st[k][r - 1];
      f(base + j, off);
    }
    for (std::size_t d = r - 1; d-- > 0;) {
      if (++idx[d] < os[d]) break;
      idx[d] = 0;
    }
  }
}

// Integer power (common/int_pow.h, as the CUDA kernel computes it); 0 to a negative power is an error here.
template <typename B>
StatusOr<B> int_pow(B base, int64_t e) {
  if (e < 0 && base == 0) return invalid_argument("integer 0 raised to the negative power " + std::to_string(e));
  return int_pow_wrapping<B>(base, e);
}

template <typename B, typename E>
Status pow_typed(const Tensor& a, const Tensor& b, Tensor* out) {
  const B* pa = a.data<B>();
  const E* pb = b.data<E>();
  B* po = out->data<B>();
  Status st = ok_status();
  broadcast_each<2>({&a.shape(), &b.shape()}, out->shape(), [&](int64_t i, const std::array<int64_t, 2>& o) {
    if constexpr (std::is_floating_point_v<B>) {
      po[i] = static_cast<B>(std::pow(static_cast<double>(pa[o[0]]), static_cast<double>(pb[o[1]])));
    } else {
      if (!st.ok()) return;
      StatusOr<B> v = int_pow<B>(pa[o[0]], static_cast<int64_t>(pb[o[1]]));
      if (!v.ok()) {
        st = v.status();
        return;
      }
      po[i] = *v;
    }
  });
  return st;
}

// The exponent's type and the base / exponent combination are checked by pow_plan.
template <typename B>
Status pow_base(const Tensor& a, const Tensor& b, Tensor* out) {
  switch (b.dtype()) {
    case DType::kInt32: return pow_typed<B, int32_t>(a, b, out);
    case DType::kInt64: return pow_typed<B, int64_t>(a, b, out);
    case DType::kFloat32: return pow_typed<B, float>(a, b, out);
    case DType::kFloat64: return pow_typed<B, double>(a, b, out);
    default: return unsupported_element_type(b.dtype());  // float16: widened by op_run_cpu before this
  }
}

}  // namespace

Status cpu_sqrt(OpContext& ctx) {
  return cpu_unary_float(ctx, [](auto v) { return std::sqrt(v); });
}

Status cpu_pow(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(BinaryPlan p, pow_plan(ctx.inputs));
  const Tensor *a = p.a, *b = p.b;
  Tensor out(p.out, p.shape);
  Status st = ok_status();
  switch (a->dtype()) {
    case DType::kFloat32: st = pow_base<float>(*a, *b, &out); break;
    case DType::kFloat64: st = pow_base<double>(*a, *b, &out); break;
    case DType::kInt32: st = pow_base<int32_t>(*a, *b, &out); break;
    case DType::kInt64: st = pow_base<int64_t>(*a, *b, &out); break;
    default: return unsupported_element_type(a->dtype());  // float16: widened by op_run_cpu before this
  }
  SS_RETURN_IF_ERROR(st);
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

namespace {

// y = f(x) for a float or signed integer x (neg_plan's types); y has x's type and shape.
template <typename F>
Status signed_unary(OpContext& ctx, F f) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, neg_plan(ctx.inputs));
  Tensor out(x->dtype(), x->shape());
  bool ok = false;
  auto run = [&](auto zero) {
    using T = decltype(zero);
    const T* px = x->data<T>();
    T* po = out.data<T>();
    for (int64_t i = 0; i < x->numel(); ++i) po[i] = f(px[i]);
    ok = true;
  };
  switch (x->dtype()) {
    case DType::kFloat32: run(float{}); break;
    case DType::kFloat64: run(double{}); break;
    case DType::kInt8: run(int8_t{}); break;
    case DType::kInt16: run(int16_t{}); break;
    case DType::kInt32: run(int32_t{}); break;
    case DType::kInt64: run(int64_t{}); break;
    default: break;
  }
  if (!ok) return unsupported_element_type(x->dtype());  // float16: widened by op_run_cpu before this
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

}  // namespace

Status cpu_neg(OpContext& ctx) {
  return signed_unary(ctx, [](auto v) {
    using T = decltype(v);
    if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(std::make_unsigned_t<T>(0) - static_cast<std::make_unsigned_t<T>>(v));  // MIN wraps
    } else {
      return -v;
    }
  });
}

// IsNaN: float32 and float64 (float16 and bfloat16 widened by op_run_cpu, NaN staying NaN) to bool.
Status cpu_isnan(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, float_unary_plan(ctx.inputs));
  Tensor out(DType::kBool, x->shape());
  uint8_t* po = out.data<uint8_t>();
  if (x->dtype() == DType::kFloat32) {
    const float* px = x->data<float>();
    for (int64_t i = 0; i < x->numel(); ++i) po[i] = std::isnan(px[i]) ? 1 : 0;
  } else if (x->dtype() == DType::kFloat64) {
    const double* px = x->data<double>();
    for (int64_t i = 0; i < x->numel(); ++i) po[i] = std::isnan(px[i]) ? 1 : 0;
  } else {
    return unsupported_element_type(x->dtype());  // float16: widened by op_run_cpu before this
  }
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

Status cpu_isinf(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, float_unary_plan(ctx.inputs));
  const bool neg = ctx.node.attr_int("detect_negative", 1) != 0, pos = ctx.node.attr_int("detect_positive", 1) != 0;
  Tensor out(DType::kBool, x->shape());
  uint8_t* po = out.data<uint8_t>();
  const bool known = dtype_dispatch_among<float, double>(x->dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x->data<T>();
    for (int64_t i = 0; i < x->numel(); ++i) po[i] = std::isinf(px[i]) && (px[i] > 0 ? pos : neg) ? 1 : 0;
  });
  if (!known) return unsupported_element_type(x->dtype());  // float16: widened by op_run_cpu before this
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

Status cpu_not(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, not_plan(ctx.inputs));
  Tensor out(DType::kBool, x->shape());
  const uint8_t* px = x->data<uint8_t>();
  uint8_t* po = out.data<uint8_t>();
  for (int64_t i = 0; i < x->numel(); ++i) po[i] = px[i] ? 0 : 1;
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

Status cpu_equal(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(BinaryPlan in, equal_plan(ctx.inputs));
  const Tensor *a = in.a, *b = in.b;
  const Shape& shape = in.shape;
  Tensor out(in.out, shape);
  uint8_t* po = out.data<uint8_t>();
  const bool ok = dtype_dispatch(a->dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pa = a->data<T>();
    const T* pb = b->data<T>();
    broadcast_each<2>({&a->shape(), &b->shape()}, shape, [&](int64_t i, const std::array<int64_t, 2>& o) {
      po[i] = pa[o[0]] == pb[o[1]] ? 1 : 0;
    });
  });
  if (!ok) return unsupported_element_type(a->dtype());
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

namespace {

template <typename F>
Status logical(OpContext& ctx, F f) {
  SS_ASSIGN_OR_RETURN(BinaryPlan in, logical_plan(ctx.inputs));
  Tensor out(DType::kBool, in.shape);
  const uint8_t* pa = in.a->data<uint8_t>();
  const uint8_t* pb = in.b->data<uint8_t>();
  uint8_t* po = out.data<uint8_t>();
  broadcast_each<2>({&in.a->shape(), &in.b->shape()}, in.shape, [&](int64_t i, const std::array<int64_t, 2>& o) {
    po[i] = f(pa[o[0]] != 0, pb[o[1]] != 0) ? 1 : 0;
  });
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

// Max (kMax true) or Min, NaN winning, folded over the inputs in order into the output.
template <bool kMax>
Status min_max(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(MinMaxPlan p, min_max_plan(ctx.inputs));
  const DType t = p.xs[0]->dtype();
  Tensor out(t, p.shape);
  const bool ok = clip_dispatch(t, [&](auto zero) {
    using T = decltype(zero);
    auto pick = [](T a, T b) -> T {
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(a)) return a;
        if (std::isnan(b)) return b;
      }
      return kMax ? (a < b ? b : a) : (b < a ? b : a);
    };
    T* po = out.data<T>();
    const T* p0 = p.xs[0]->data<T>();
    if (p.xs.size() == 1) {
      std::copy(p0, p0 + out.numel(), po);
      return;
    }
    const T* p1 = p.xs[1]->data<T>();
    broadcast_each<2>({&p.xs[0]->shape(), &p.xs[1]->shape()}, p.shape,
                      [&](int64_t i, const std::array<int64_t, 2>& o) { po[i] = pick(p0[o[0]], p1[o[1]]); });
    for (std::size_t k = 2; k < p.xs.size(); ++k) {
      const T* pk = p.xs[k]->data<T>();
      broadcast_each<2>({&p.shape, &p.xs[k]->shape()}, p.shape,
                        [&](int64_t i, const std::array<int64_t, 2>& o) { po[i] = pick(po[i], pk[o[1]]); });
    }
  });
  if (!ok) return unsupported_element_type(t);  // float16: widened by op_run_cpu before this
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

}  // namespace

Status cpu_and(OpContext& ctx) { return logical(ctx, [](bool a, bool b) { return a && b; }); }
Status cpu_or(OpContext& ctx) { return logical(ctx, [](bool a, bool b) { return a || b; }); }
Status cpu_xor(OpContext& ctx) { return logical(ctx, [](bool a, bool b) { return a != b; }); }
Status cpu_max(OpContext& ctx) { return min_max<true>(ctx); }
Status cpu_min(OpContext& ctx) { return min_max<false>(ctx); }

Status cpu_where(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(WherePlan p, where_plan(ctx.inputs));
  const Tensor *c = p.cond, *x = p.x, *y = p.y;
  const Shape& shape = p.shape;
  Tensor out(x->dtype(), shape);
  const std::size_t es = dtype_size(x->dtype());
  const uint8_t* pc = c->data<uint8_t>();
  const auto* px = static_cast<const std::byte*>(x->raw());
  const auto* py = static_cast<const std::byte*>(y->raw());
  auto* po = static_cast<std::byte*>(out.raw());
  broadcast_each<3>({&c->shape(), &x->shape(), &y->shape()}, shape, [&](int64_t i, const std::array<int64_t, 3>& o) {
    const std::byte* src = pc[o[0]] ? px + o[1] * static_cast<int64_t>(es) : py + o[2] * static_cast<int64_t>(es);
    std::memcpy(po + i * static_cast<int64_t>(es), src, es);
  });
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// Abs, Sign, Less / Greater / LessOrEqual / GreaterOrEqual, Mod, Sum / Mean, Dropout.

namespace {

enum class CompareOp { kLess, kGreater, kLessOrEqual, kGreaterOrEqual };

// NaN compares false every way, as IEEE (and ONNX Runtime) have it.
template <CompareOp kOp>
Status compare(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(BinaryPlan in, compare_plan(ctx.inputs));
  const Tensor *a = in.a, *b = in.b;
  Tensor out(DType::kBool, in.shape);
  uint8_t* po = out.data<uint8_t>();
  const bool ok = dtype_dispatch(a->dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pa = a->data<T>();
    const T* pb = b->data<T>();
    broadcast_each<2>({&a->shape(), &b->shape()}, in.shape, [&](int64_t i, const std::array<int64_t, 2>& o) {
      const T x = pa[o[0]], y = pb[o[1]];
      bool r;
      if constexpr (kOp == CompareOp::kLess) r = x < y;
      else if constexpr (kOp == CompareOp::kGreater) r = x > y;
      else if constexpr (kOp == CompareOp::kLessOrEqual) r = x <= y;
      else r = x >= y;
      po[i] = r ? 1 : 0;
    });
  });
  if (!ok) return unsupported_element_type(a->dtype());  // float16: widened by op_run_cpu before this
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

// x mod y for integers: fmod, the sign of x (C's %); otherwise the sign of y (Python's %). y != 0
// (checked before); MIN mod -1 is 0 (C's % of it traps on x86).
template <typename T>
T int_mod(T x, T y, bool fmod) {
  if (y == T(-1)) return T(0);
  T r = static_cast<T>(x % y);
  if (!fmod && r != 0 && ((r < 0) != (y < 0))) r = static_cast<T>(r + y);
  return r;
}

template <typename T>
Status mod_typed(const ModPlan& p, Tensor* out) {
  const Tensor &a = *p.b.a, &b = *p.b.b;
  if constexpr (std::is_integral_v<T>) {
    // An error only where a division by zero happens, as Div (none with an empty output).
    const T* pb = b.data<T>();
    for (int64_t i = 0; out->numel() > 0 && i < b.numel(); ++i)
      if (pb[i] == 0) return invalid_argument("integer division by zero");
    const bool fmod = p.fmod;
    binary_loop<T>(a, b, out, [fmod](T x, T y) { return int_mod<T>(x, y, fmod); });
  } else {
    binary_loop<T>(a, b, out, [](T x, T y) { return std::fmod(x, y); });  // mod_plan: fmod=1 for floats
  }
  return ok_status();
}

// Sum (kMean false) or Mean of the inputs, folded in order into the output in T (float32 for
// float16, as op_run_cpu widens it); Mean divides the sum by the count last.
template <bool kMean>
Status sum_mean(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(MinMaxPlan p, sum_mean_plan(ctx.inputs));
  const DType t = p.xs[0]->dtype();
  Tensor out(t, p.shape);
  auto run = [&](auto zero) {
    using T = decltype(zero);
    T* po = out.data<T>();
    const T* p0 = p.xs[0]->data<T>();
    if (p.xs.size() == 1) {
      std::copy(p0, p0 + out.numel(), po);
    } else {
      const T* p1 = p.xs[1]->data<T>();
      broadcast_each<2>({&p.xs[0]->shape(), &p.xs[1]->shape()}, p.shape,
                        [&](int64_t i, const std::array<int64_t, 2>& o) { po[i] = p0[o[0]] + p1[o[1]]; });
      for (std::size_t k = 2; k < p.xs.size(); ++k) {
        const T* pk = p.xs[k]->data<T>();
        broadcast_each<2>({&p.shape, &p.xs[k]->shape()}, p.shape,
                          [&](int64_t i, const std::array<int64_t, 2>& o) { po[i] = po[i] + pk[o[1]]; });
      }
    }
    if (kMean) {
      const T n = static_cast<T>(p.xs.size());
      for (int64_t i = 0; i < out.numel(); ++i) po[i] = po[i] / n;
    }
  };
  if (t == DType::kFloat32) run(float{});
  else if (t == DType::kFloat64) run(double{});
  else return unsupported_element_type(t);  // float16: widened by op_run_cpu before this
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

}  // namespace

Status cpu_abs(OpContext& ctx) {
  return signed_unary(ctx, [](auto v) {
    using T = decltype(v);
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      return v < 0 ? static_cast<T>(U(0) - static_cast<U>(v)) : v;  // MIN wraps to itself, as numpy
    } else {
      return std::fabs(v);
    }
  });
}

Status cpu_sign(OpContext& ctx) {
  // NaN stays NaN (as numpy and onnx.reference): a missing value must not turn into 0.
  return signed_unary(ctx, [](auto v) {
    using T = decltype(v);
    return v > T(0) ? T(1) : v < T(0) ? T(-1) : v == T(0) ? T(0) : v;
  });
}

Status cpu_less(OpContext& ctx) { return compare<CompareOp::kLess>(ctx); }
Status cpu_greater(OpContext& ctx) { return compare<CompareOp::kGreater>(ctx); }
Status cpu_less_or_equal(OpContext& ctx) { return compare<CompareOp::kLessOrEqual>(ctx); }
Status cpu_greater_or_equal(OpContext& ctx) { return compare<CompareOp::kGreaterOrEqual>(ctx); }

Status cpu_prelu(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(BinaryPlan p, prelu_plan(ctx.inputs));
  Tensor out(p.out, p.shape);
  const auto run = [&](auto zero) {
    using T = decltype(zero);
    binary_loop<T>(*p.a, *p.b, &out, [](T x, T slope) { return x < T(0) ? slope * x : x; });
  };
  if (p.out == DType::kFloat32) run(float{});
  else if (p.out == DType::kFloat64) run(double{});
  else return unsupported_element_type(p.out);  // float16: widened by op_run_cpu before this
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

Status cpu_mod(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ModPlan p, mod_plan(ctx.node, ctx.inputs));
  Tensor out(p.b.out, p.b.shape);
  Status st = ok_status();
  switch (p.b.out) {
    case DType::kFloat32: st = mod_typed<float>(p, &out); break;
    case DType::kFloat64: st = mod_typed<double>(p, &out); break;
    case DType::kInt32: st = mod_typed<int32_t>(p, &out); break;
    case DType::kInt64: st = mod_typed<int64_t>(p, &out); break;
    default: return unsupported_element_type(p.b.out);  // float16: widened by op_run_cpu before this
  }
  SS_RETURN_IF_ERROR(st);
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

Status cpu_sum(OpContext& ctx) { return sum_mean<false>(ctx); }
Status cpu_mean(OpContext& ctx) { return sum_mean<true>(ctx); }

Status cpu_dropout(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(DropoutPlan p, dropout_plan(ctx.node, ctx.inputs));
  ctx.outputs[0] = *p.x;  // as Identity: the same buffer
  if (p.want_mask && ctx.outputs.size() > 1) {
    Tensor mask(p.mask_dtype, p.x->shape());
    const int64_t n = mask.numel();
    switch (p.mask_dtype) {
      case DType::kBool: std::fill(mask.data<uint8_t>(), mask.data<uint8_t>() + n, uint8_t{1}); break;
      case DType::kFloat32: std::fill(mask.data<float>(), mask.data<float>() + n, 1.0f); break;
      case DType::kFloat64: std::fill(mask.data<double>(), mask.data<double>() + n, 1.0); break;
      default:  // float16 / bfloat16 as stored (Dropout moves elements: op_run_cpu does not widen it)
        std::fill(mask.data<uint16_t>(), mask.data<uint16_t>() + n, double_to_half_bits(p.mask_dtype, 1.0));
        break;
    }
    ctx.outputs[1] = std::move(mask);
  }
  return ok_status();
}

}  // namespace shardscore
