#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/cpu/cpu_ops.h"

namespace shardscore {

namespace {

// ArgMax (kMin false) and ArgMin: the first largest (smallest) along the axis, or with
// select_last_index the last; NaN compared as the comparisons take it.
template <bool kMin>
Status arg_extreme(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(ArgMaxPlan p, argmax_plan(ctx.node, *x));
  const int64_t outer = p.outer, dim = p.dim, inner = p.inner;
  const bool last = p.select_last;
  Tensor y(DType::kInt64, p.out_shape);
  int64_t* py = y.data<int64_t>();
  bool ok = dtype_dispatch(x->dtype(), [&](auto zero) {
    using T = decltype(zero);
    const auto beyond = [](T a, T b) { return kMin ? a < b : a > b; };  // a strictly past b
    const T* px = x->data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t in = 0; in < inner; ++in) {
        const T* p = px + o * dim * inner + in;
        int64_t best = 0;
        for (int64_t d = 1; d < dim; ++d) {
          if (last ? !beyond(p[best * inner], p[d * inner]) : beyond(p[d * inner], p[best * inner])) best = d;
        }
        py[o * inner + in] = best;
      }
  });
  if (!ok) return unsupported_element_type(x->dtype());
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace

Status cpu_argmax(OpContext& ctx) { return arg_extreme<false>(ctx); }

Status cpu_argmin(OpContext& ctx) { return arg_extreme<true>(ctx); }

// LpNormalization: per slice, the norm in double, then each element divided by it (0 for a zero norm).
Status cpu_lp_normalization(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(LpNormPlan p, lp_norm_plan(ctx.node, *x));
  Tensor y(x->dtype(), x->shape());
  const bool known = dtype_dispatch_among<float, double>(x->dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x->data<T>();
    T* py = y.data<T>();
    for (int64_t o = 0; o < p.outer; ++o)
      for (int64_t in = 0; in < p.inner; ++in) {
        const int64_t base = o * p.dim * p.inner + in;
        double sum = 0;
        for (int64_t d = 0; d < p.dim; ++d) {
          const double v = px[base + d * p.inner];
          sum += p.p == 1 ? std::fabs(v) : v * v;
        }
        const double norm = p.p == 1 ? sum : std::sqrt(sum);
        for (int64_t d = 0; d < p.dim; ++d) {
          const int64_t at = base + d * p.inner;
          py[at] = norm == 0 ? T(0) : static_cast<T>(static_cast<double>(px[at]) / norm);
        }
      }
  });
  if (!known) return unsupported_element_type(x->dtype());  // float16 is widened by op_run_cpu
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// TopK: per slice along the axis, a partial sort of its indices in the plan's total order (NaN
// past every number, then lower index first), so equal inputs give equal outputs whatever the batch.
Status cpu_topk(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(TopKPlan p, topk_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  const DType t = x->dtype();
  if (t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kInt32 && t != DType::kInt64) {
    return unsupported_element_type(t);  // float16 is widened by op_run_cpu
  }
  Tensor values(t, p.out_shape), indices(DType::kInt64, p.out_shape);
  int64_t* pi = indices.data<int64_t>();
  std::vector<int64_t> order(static_cast<std::size_t>(p.dim));
  dtype_dispatch(t, [&](auto zero) {
    using T = decltype(zero);
    const T* px = x->data<T>();
    T* pv = values.data<T>();
    for (int64_t o = 0; o < p.outer; ++o)
      for (int64_t in = 0; in < p.inner; ++in) {
        const T* v = px + o * p.dim * p.inner + in;
        // a before b: by value (NaN past every number), then by index.
        const auto before = [&](int64_t a, int64_t b) {
          const T va = v[a * p.inner], vb = v[b * p.inner];
          if constexpr (std::is_floating_point_v<T>) {
            const bool na = std::isnan(va), nb = std::isnan(vb);
            if (na || nb) return na && nb ? a < b : (p.largest ? na : nb);
          }
          if (va != vb) return p.largest ? va > vb : va < vb;
          return a < b;
        };
        for (int64_t d = 0; d < p.dim; ++d) order[static_cast<std::size_t>(d)] = d;
        std::partial_sort(order.begin(), order.begin() + p.k, order.end(), before);
        for (int64_t r = 0; r < p.k; ++r) {
          const int64_t at = (o * p.k + r) * p.inner + in;
          pv[at] = v[order[static_cast<std::size_t>(r)] * p.inner];
          pi[at] = order[static_cast<std::size_t>(r)];
        }
      }
  });
  ctx.outputs[0] = std::move(values);
  if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(indices);
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

// Per output element, its group's first input element; per reduced element of a group, its offset
// from that first element (both row-major).
struct ReduceOffsets {
  std::vector<int64_t> out_offs, red_offs;
};

ReduceOffsets reduce_offsets(const Tensor& x, const std::vector<bool>& reduced) {
  const int64_t r = x.rank();
  std::vector<int64_t> stride(static_cast<std::size_t>(r), 1);
  for (int64_t k = r - 1; k > 0; --k) stride[k - 1] = stride[k] * x.dim(k);
  // Offsets of the kept and of the reduced index spaces, each row-major.
  ReduceOffsets p;
  p.out_offs = {0};
  p.red_offs = {0};
  for (int64_t k = 0; k < r; ++k) {
    auto& offs = reduced[k] ? p.red_offs : p.out_offs;
    std::vector<int64_t> next;
    next.reserve(offs.size() * static_cast<std::size_t>(x.dim(k)));
    for (int64_t base : offs)
      for (int64_t i = 0; i < x.dim(k); ++i) next.push_back(base + i * stride[k]);
    offs = std::move(next);
  }
  return p;
}

// ReduceMin (kMin) or ReduceMax of one group: NaN propagates, as in numpy; an empty group gives
// the type's identity (+inf / max, -inf / lowest; true / false for bool).
template <bool kMin, typename T>
T extreme_of(const T* g, const std::vector<int64_t>& offs) {
  T best;
  if constexpr (std::is_floating_point_v<T>) {
    best = kMin ? std::numeric_limits<T>::infinity() : -std::numeric_limits<T>::infinity();
  } else {
    best = kMin ? std::numeric_limits<T>::max() : std::numeric_limits<T>::lowest();
  }
  for (int64_t off : offs) {
    const T v = g[off];
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(v)) return v;
    }
    if (kMin ? v < best : v > best) best = v;
  }
  return best;
}

// ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp
// (reduce_plan admits only float types for L2, LogSum and LogSumExp, and bool only for Min).
template <typename T>
void reduce_more_typed(ReduceOp kind, const ReduceOffsets& p, const Tensor& x, Tensor* y) {
  const T* px = x.data<T>();
  T* py = y->data<T>();
  const std::size_t m = p.red_offs.size();
  for (std::size_t o = 0; o < p.out_offs.size(); ++o) {
    const T* g = px + p.out_offs[o];
    if (kind == ReduceOp::kMin) {
      py[o] = extreme_of<true>(g, p.red_offs);
    } else if constexpr (std::is_floating_point_v<T>) {
      double acc = kind == ReduceOp::kProd ? 1.0 : 0.0;
      if (kind == ReduceOp::kLogSumExp) {
        // max + log(sum exp(x - max)): no overflow. All -inf (or nothing): -inf; a +inf: +inf; NaN: NaN.
        double mx = -std::numeric_limits<double>::infinity();
        bool nan = false;
        for (std::size_t j = 0; j < m; ++j) {
          const double v = static_cast<double>(g[p.red_offs[j]]);
          nan = nan || std::isnan(v);
          if (v > mx) mx = v;
        }
        if (nan) acc = std::numeric_limits<double>::quiet_NaN();
        else if (std::isinf(mx)) acc = mx;
        else {
          for (std::size_t j = 0; j < m; ++j) acc += std::exp(static_cast<double>(g[p.red_offs[j]]) - mx);
          acc = mx + std::log(acc);
        }
        py[o] = static_cast<T>(acc);
        continue;
      }
      for (std::size_t j = 0; j < m; ++j) {
        const double v = static_cast<double>(g[p.red_offs[j]]);
        switch (kind) {
          case ReduceOp::kProd: acc *= v; break;
          case ReduceOp::kL1: acc += std::fabs(v); break;
          case ReduceOp::kL2:
          case ReduceOp::kSumSquare: acc += v * v; break;
          default: acc += v; break;  // kLogSum
        }
      }
      if (kind == ReduceOp::kL2) acc = std::sqrt(acc);
      if (kind == ReduceOp::kLogSum) acc = std::log(acc);  // log(0) = -inf over an empty group
      py[o] = static_cast<T>(acc);
    } else if constexpr (!std::is_same_v<T, bool>) {
      // Integers wrap around on overflow (two's complement), as ReduceSum's do.
      uint64_t acc = kind == ReduceOp::kProd ? 1 : 0;
      for (std::size_t j = 0; j < m; ++j) {
        const T v = g[p.red_offs[j]];
        const uint64_t u = static_cast<uint64_t>(v);
        switch (kind) {
          case ReduceOp::kProd: acc *= u; break;
          case ReduceOp::kL1:
            if constexpr (std::is_signed_v<T>) acc += v < T{0} ? uint64_t{0} - u : u;
            else acc += u;
            break;
          default: acc += u * u; break;  // kSumSquare
        }
      }
      py[o] = static_cast<T>(acc);
    }
  }
}

template <typename T>
void reduce_typed(ReduceOp kind, const ReduceOffsets& p, const Tensor& x, Tensor* y) {
  if (kind != ReduceOp::kMean && kind != ReduceOp::kSum && kind != ReduceOp::kMax) {
    reduce_more_typed<T>(kind, p, x, y);
    return;
  }
  const T* px = x.data<T>();
  T* py = y->data<T>();
  const std::size_t m = p.red_offs.size();
  for (std::size_t o = 0; o < p.out_offs.size(); ++o) {
    const T* g = px + p.out_offs[o];
    if (kind == ReduceOp::kMax) {
      py[o] = extreme_of<false>(g, p.red_offs);
    } else if constexpr (std::is_floating_point_v<T>) {
      double acc = 0;
      for (std::size_t j = 0; j < m; ++j) acc += static_cast<double>(g[p.red_offs[j]]);
      if (kind == ReduceOp::kMean) acc /= static_cast<double>(m);  // 0/0 = NaN over an empty group
      py[o] = static_cast<T>(acc);
    } else if constexpr (!std::is_same_v<T, bool>) {
      // Integers wrap around on overflow (two's complement), as in numpy and ONNX Runtime.
      uint64_t acc = 0;
      for (std::size_t j = 0; j < m; ++j) acc += static_cast<uint64_t>(g[p.red_offs[j]]);
      py[o] = static_cast<T>(acc);
    }
  }
}

Status reduce(OpContext& ctx, ReduceOp kind) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(ReducePlan p, reduce_plan(ctx.node, ctx.inputs, kind));
  if (p.noop) {
    ctx.outputs[0] = *x;
    return ok_status();
  }
  const DType dt = x->dtype();
  Tensor y(dt, p.out_shape);
  const ReduceOffsets offs = reduce_offsets(*x, p.reduced);
  // float16 not widened (op_run_cpu does that) has no case here.
  if (!dtype_dispatch(dt, [&](auto zero) { reduce_typed<decltype(zero)>(kind, offs, *x, &y); })) {
    return unsupported_element_type(dt);
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace

Status cpu_reduce_mean(OpContext& ctx) { return reduce(ctx, ReduceOp::kMean); }
Status cpu_reduce_sum(OpContext& ctx) { return reduce(ctx, ReduceOp::kSum); }
Status cpu_reduce_max(OpContext& ctx) { return reduce(ctx, ReduceOp::kMax); }
Status cpu_reduce_min(OpContext& ctx) { return reduce(ctx, ReduceOp::kMin); }
Status cpu_reduce_prod(OpContext& ctx) { return reduce(ctx, ReduceOp::kProd); }
Status cpu_reduce_l1(OpContext& ctx) { return reduce(ctx, ReduceOp::kL1); }
Status cpu_reduce_l2(OpContext& ctx) { return reduce(ctx, ReduceOp::kL2); }
Status cpu_reduce_sum_square(OpContext& ctx) { return reduce(ctx, ReduceOp::kSumSquare); }
Status cpu_reduce_log_sum(OpContext& ctx) { return reduce(ctx, ReduceOp::kLogSum); }
Status cpu_reduce_log_sum_exp(OpContext& ctx) { return reduce(ctx, ReduceOp::kLogSumExp); }

}  // namespace shardscore
