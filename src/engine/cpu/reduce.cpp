#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/cpu/cpu_ops.h"

namespace shardscore {

Status cpu_argmax(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(int64_t axis, cpu_normalize_axis(ctx.node.attr_int("axis", 0), x->rank()));
  const bool keepdims = ctx.node.attr_int("keepdims", 1) != 0;
  const bool last = ctx.node.attr_int("select_last_index", 0) != 0;
  int64_t outer = 1, dim = x->dim(axis), inner = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= x->dim(k);
  for (int64_t k = axis + 1; k < x->rank(); ++k) inner *= x->dim(k);
  if (dim == 0) return invalid_argument("ArgMax over an empty axis");
  Shape out;
  for (int64_t k = 0; k < x->rank(); ++k) {
    if (k != axis) out.push_back(x->dim(k));
    else if (keepdims) out.push_back(1);
  }
  Tensor y(DType::kInt64, out);
  int64_t* py = y.data<int64_t>();
  bool ok = dtype_dispatch(x->dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x->data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t in = 0; in < inner; ++in) {
        const T* p = px + o * dim * inner + in;
        int64_t best = 0;
        for (int64_t d = 1; d < dim; ++d) {
          if (last ? !(p[d * inner] < p[best * inner]) : p[d * inner] > p[best * inner]) best = d;
        }
        py[o * inner + in] = best;
      }
  });
  if (!ok) return unimplemented("element type " + std::string(dtype_name(x->dtype())) + " is not supported");
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore

// ---------------------------------------------------------------------------------------------
// ReduceMean / ReduceSum / ReduceMax.
//
// Every output element reduces its group of input elements in one fixed order (row-major over
// the reduced axes), accumulating in double for float32 and float64: a row's result depends only
// on that row, never on the batch around it.

namespace shardscore {
namespace {

enum class ReduceKind { kMean, kSum, kMax };

struct ReducePlan {
  bool noop = false;              // noop_with_empty_axes with no axes: the output is the input
  Shape out_shape;                // with keepdims applied
  std::vector<int64_t> out_offs;  // per output element: its group's first input element
  std::vector<int64_t> red_offs;  // per reduced element of a group: offset from that first element
};

StatusOr<ReducePlan> plan_reduce(const OpContext& ctx, const Tensor& x, int axes_input_from) {
  const Node& n = ctx.node;
  std::vector<int64_t> axes;
  bool noop_with_empty = false;
  if (n.opset >= axes_input_from) {
    noop_with_empty = n.attr_int("noop_with_empty_axes", 0) != 0;
    if (const Tensor* a = ctx.input(1)) {
      if (a->dtype() != DType::kInt64 || a->rank() > 1) {
        return invalid_argument("axes must be a 1-D int64 tensor, got " + std::string(dtype_name(a->dtype())) + " " +
                                shape_to_string(a->shape()));
      }
      axes.assign(a->data<int64_t>(), a->data<int64_t>() + a->numel());
    }
  } else if (const Attribute* a = n.attr("axes"); a && a->type == Attribute::Type::kInts) {
    axes = a->ints;
  }
  ReducePlan p;
  const int64_t r = x.rank();
  if (axes.empty() && noop_with_empty) {
    p.noop = true;
    return p;
  }
  std::vector<bool> reduced(static_cast<std::size_t>(r), axes.empty());
  for (int64_t a : axes) {
    SS_ASSIGN_OR_RETURN(int64_t k, cpu_normalize_axis(a, r));
    if (reduced[k]) return invalid_argument("axis " + std::to_string(a) + " appears more than once in axes");
    reduced[k] = true;
  }
  const bool keepdims = n.attr_int("keepdims", 1) != 0;
  std::vector<int64_t> stride(static_cast<std::size_t>(r), 1);
  for (int64_t k = r - 1; k > 0; --k) stride[k - 1] = stride[k] * x.dim(k);
  // Offsets of the kept and of the reduced index spaces, each row-major.
  p.out_offs = {0};
  p.red_offs = {0};
  for (int64_t k = 0; k < r; ++k) {
    auto& offs = reduced[k] ? p.red_offs : p.out_offs;
    std::vector<int64_t> next;
    next.reserve(offs.size() * static_cast<std::size_t>(x.dim(k)));
    for (int64_t base : offs)
      for (int64_t i = 0; i < x.dim(k); ++i) next.push_back(base + i * stride[k]);
    offs = std::move(next);
    if (!reduced[k]) p.out_shape.push_back(x.dim(k));
    else if (keepdims) p.out_shape.push_back(1);
  }
  return p;
}

template <typename T>
void reduce_typed(ReduceKind kind, const ReducePlan& p, const Tensor& x, Tensor* y) {
  const T* px = x.data<T>();
  T* py = y->data<T>();
  const std::size_t m = p.red_offs.size();
  for (std::size_t o = 0; o < p.out_offs.size(); ++o) {
    const T* g = px + p.out_offs[o];
    if (kind == ReduceKind::kMax) {
      T best;
      if constexpr (std::is_floating_point_v<T>) best = -std::numeric_limits<T>::infinity();
      else best = std::numeric_limits<T>::lowest();  // false for bool
      for (std::size_t j = 0; j < m; ++j) {
        const T v = g[p.red_offs[j]];
        if constexpr (std::is_floating_point_v<T>) {
          if (std::isnan(v)) {
            best = v;  // NaN propagates, as in numpy
            break;
          }
        }
        if (v > best) best = v;
      }
      py[o] = best;
    } else if constexpr (std::is_floating_point_v<T>) {
      double acc = 0;
      for (std::size_t j = 0; j < m; ++j) acc += static_cast<double>(g[p.red_offs[j]]);
      if (kind == ReduceKind::kMean) acc /= static_cast<double>(m);  // 0/0 = NaN over an empty group
      py[o] = static_cast<T>(acc);
    } else if constexpr (!std::is_same_v<T, bool>) {
      // Integers wrap around on overflow (two's complement), as in numpy and ONNX Runtime.
      uint64_t acc = 0;
      for (std::size_t j = 0; j < m; ++j) acc += static_cast<uint64_t>(g[p.red_offs[j]]);
      py[o] = static_cast<T>(acc);
    }
  }
}

Status reduce(OpContext& ctx, ReduceKind kind, int axes_input_from) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  const DType dt = x->dtype();
  const bool is_float = dt == DType::kFloat32 || dt == DType::kFloat64;
  const bool supported = kind == ReduceKind::kMean  ? is_float
                         : kind == ReduceKind::kSum ? dt != DType::kBool && dt != DType::kFloat16
                                                    : dt != DType::kFloat16;
  if (!supported || dt == DType::kUndefined) {
    return unimplemented("element type " + std::string(dtype_name(dt)) + " is not supported");
  }
  SS_ASSIGN_OR_RETURN(ReducePlan p, plan_reduce(ctx, *x, axes_input_from));
  if (p.noop) {
    ctx.outputs[0] = *x;
    return ok_status();
  }
  Tensor y(dt, p.out_shape);
  dtype_dispatch(dt, [&](auto zero) { reduce_typed<decltype(zero)>(kind, p, *x, &y); });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace

Status cpu_reduce_mean(OpContext& ctx) { return reduce(ctx, ReduceKind::kMean, 18); }
Status cpu_reduce_sum(OpContext& ctx) { return reduce(ctx, ReduceKind::kSum, 13); }
Status cpu_reduce_max(OpContext& ctx) { return reduce(ctx, ReduceKind::kMax, 18); }

}  // namespace shardscore
