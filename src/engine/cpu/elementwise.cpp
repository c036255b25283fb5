#include <cmath>
#include <string>
#include <type_traits>

#include "engine/cpu/cpu_ops.h"

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

StatusOr<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  std::size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (std::size_t k = 0; k < r; ++k) {
    int64_t da = k < r - a.size() ? 1 : a[k - (r - a.size())];
    int64_t db = k < r - b.size() ? 1 : b[k - (r - b.size())];
    if (da != db && da != 1 && db != 1) {
      return invalid_argument("shapes " + shape_to_string(a) + " and " + shape_to_string(b) + " cannot be broadcast");
    }
    out[k] = da == 1 ? db : da;
  }
  return out;
}

// Element strides of `s` aligned to `out`'s rank, 0 along broadcast dimensions.
std::vector<int64_t> broadcast_strides(const Shape& s, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  int64_t stride = 1;
  for (std::size_t k = s.size(); k-- > 0;) {
    std::size_t ok = k + (out.size() - s.size());
    st[ok] = s[k] == 1 ? 0 : stride;
    stride *= s[k];
  }
  return st;
}

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
  const auto sa = broadcast_strides(a.shape(), os);
  const auto sb = broadcast_strides(b.shape(), os);
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
      if constexpr (std::is_integral_v<T>) {
        const T* pb = b.data<T>();
        for (int64_t i = 0; i < b.numel(); ++i)
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

Status binary(OpContext& ctx, BinOp op) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, cpu_required_input(ctx, 1));
  if (a->dtype() != b->dtype()) {
    return invalid_argument("input types differ: " + std::string(dtype_name(a->dtype())) + " and " +
                            std::string(dtype_name(b->dtype())));
  }
  SS_ASSIGN_OR_RETURN(Shape shape, broadcast_shapes(a->shape(), b->shape()));
  Tensor out(a->dtype(), shape);
  Status st = ok_status();
  bool handled = false;
  switch (a->dtype()) {
    case DType::kFloat32: st = binary_typed<float>(op, *a, *b, &out); handled = true; break;
    case DType::kFloat64: st = binary_typed<double>(op, *a, *b, &out); handled = true; break;
    case DType::kInt32: st = binary_typed<int32_t>(op, *a, *b, &out); handled = true; break;
    case DType::kInt64: st = binary_typed<int64_t>(op, *a, *b, &out); handled = true; break;
    default: break;
  }
  if (!handled) return unimplemented("element type " + std::string(dtype_name(a->dtype())) + " is not supported");
  SS_RETURN_IF_ERROR(st);
  ctx.outputs[0] = std::move(out);
  return ok_status();
}

template <typename F>
Status unary_float(OpContext& ctx, F f) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
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
    return unimplemented("element type " + std::string(dtype_name(x->dtype())) + " is not supported");
  }
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
  return unary_float(ctx, [](auto v) { return v < 0 ? decltype(v)(0) : v; });
}

Status cpu_sigmoid(OpContext& ctx) {
  // Two branches keep exp's argument non-positive: no overflow for large |x|.
  return unary_float(ctx, [](auto v) {
    using T = decltype(v);
    if (v >= 0) return T(1) / (T(1) + std::exp(-v));
    T e = std::exp(v);
    return e / (T(1) + e);
  });
}

Status cpu_tanh(OpContext& ctx) {
  return unary_float(ctx, [](auto v) { return std::tanh(v); });
}

}  // namespace shardscore
