// LayerNormalization (opset 17), InstanceNormalization (opsets 6..21: the same rows, one per
// (n, c) over the spatial elements, with scale and B per channel) and GroupNormalization (18, 21:
// one row per (n, group) of channels). Each normalized group (one
// "row": the dimensions from `axis` on) is reduced in a fixed order in double (eight interleaved
// partial sums; mean first, then the squared deviations from it), so a row's result never depends
// on the batch around it. LRN (at the end) normalizes across channels.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/cpu/broadcast.h"
#include "engine/cpu/cpu_ops.h"

namespace shardscore {
namespace {

// How Scale or B is read for element (row o, column j) of X viewed as [outer, inner].
struct Operand {
  const Tensor* t = nullptr;
  bool per_column = false;          // its element is simply [j]
  int64_t per_row = 0;              // > 0: its element is [o % per_row] (InstanceNormalization's per channel)
  std::vector<int64_t> strides;     // else: broadcast strides against X's shape
};

// The plan's checks are done (layer_norm_plan); here only the broadcast strides.
Operand make_operand(const Tensor* t, const NormOperandPlan& plan, const Tensor& x) {
  Operand op;
  op.t = t;
  if (!t) return op;
  op.per_column = plan.per_column;
  op.strides = cpu_broadcast_strides(t->shape(), x.shape());
  return op;
}

template <typename T>
T operand_at(const Operand& op, int64_t o, int64_t j, int64_t inner, const Shape& xs) {
  const T* p = op.t->data<T>();
  if (op.per_column) return p[j];
  int64_t flat = o * inner + j, off = 0;
  for (std::size_t k = xs.size(); k-- > 0;) {
    off += (flat % xs[k]) * op.strides[k];
    flat /= xs[k];
  }
  return p[off];
}

// A row's mean and 1 / sqrt(variance + eps), in double: sums over kLanes interleaved partial sums,
// added in a fixed order at the end (independent chains the CPU can overlap and vectorize; the
// same order for every row); the mean first, then the squared deviations from it.
template <typename T>
void row_stats(const T* row, int64_t inner, double eps, double* mean_out, double* inv_out) {
  constexpr int kLanes = 8;
  double part[kLanes] = {};
  int64_t j0 = 0;
  for (; j0 + kLanes <= inner; j0 += kLanes)
    for (int l = 0; l < kLanes; ++l) part[l] += static_cast<double>(row[j0 + l]);
  for (int64_t j = j0; j < inner; ++j) part[0] += static_cast<double>(row[j]);
  double sum = 0;
  for (double v : part) sum += v;
  const double mean = sum / static_cast<double>(inner);
  double sqp[kLanes] = {};
  for (j0 = 0; j0 + kLanes <= inner; j0 += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const double d = static_cast<double>(row[j0 + l]) - mean;
      sqp[l] += d * d;
    }
  for (int64_t j = j0; j < inner; ++j) {
    const double d = static_cast<double>(row[j]) - mean;
    sqp[0] += d * d;
  }
  double sq = 0;
  for (double v : sqp) sq += v;
  *mean_out = mean;
  *inv_out = 1.0 / std::sqrt(sq / static_cast<double>(inner) + eps);
}

template <typename T>
void layer_norm_typed(const Tensor& x, const Operand& scale, const Operand& bias, int64_t outer, int64_t inner,
                      double eps, Tensor* y, float* mean_out, float* inv_out) {
  const T* px = x.data<T>();
  T* py = y->data<T>();
  const bool plain_operands = scale.per_column && (!bias.t || bias.per_column);
  const bool row_operands = scale.per_row > 0 && (!bias.t || bias.per_row > 0);
  for (int64_t o = 0; o < outer; ++o) {
    const T* row = px + o * inner;
    double mean = 0, inv = 0;
    row_stats(row, inner, eps, &mean, &inv);
    if (row_operands) {
      // One scale and B for the whole row (InstanceNormalization's channel).
      const double s = static_cast<double>(scale.t->data<T>()[o % scale.per_row]);
      const double b = bias.t ? static_cast<double>(bias.t->data<T>()[o % bias.per_row]) : 0.0;
      T* out = py + o * inner;
      for (int64_t j = 0; j < inner; ++j) out[j] = static_cast<T>((static_cast<double>(row[j]) - mean) * inv * s + b);
      if (mean_out) mean_out[o] = static_cast<float>(mean);
      if (inv_out) inv_out[o] = static_cast<float>(inv);
      continue;
    }
    if (plain_operands) {
      // Scale and B per column (the usual [inner] vectors): a loop the compiler vectorizes.
      const T* ps = scale.t->data<T>();
      const T* pb = bias.t ? bias.t->data<T>() : nullptr;
      T* out = py + o * inner;
      for (int64_t j = 0; j < inner; ++j) {
        const double v = (static_cast<double>(row[j]) - mean) * inv * static_cast<double>(ps[j]);
        out[j] = static_cast<T>(pb ? v + static_cast<double>(pb[j]) : v);
      }
      if (mean_out) mean_out[o] = static_cast<float>(mean);
      if (inv_out) inv_out[o] = static_cast<float>(inv);
      continue;
    }
    for (int64_t j = 0; j < inner; ++j) {
      double v = (static_cast<double>(row[j]) - mean) * inv *
                 static_cast<double>(operand_at<T>(scale, o, j, inner, x.shape()));
      if (bias.t) v += static_cast<double>(operand_at<T>(bias, o, j, inner, x.shape()));
      py[o * inner + j] = static_cast<T>(v);
    }
    if (mean_out) mean_out[o] = static_cast<float>(mean);
    if (inv_out) inv_out[o] = static_cast<float>(inv);
  }
}

}  // namespace

Status cpu_layer_normalization(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(LayerNormPlan p, layer_norm_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  if ((x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64) || p.y_dtype != x->dtype()) {
    return unsupported_element_type(p.y_dtype);  // float16 not widened by op_run_cpu
  }
  const int64_t outer = p.outer, inner = p.inner;
  const Operand scale = make_operand(ctx.inputs[1], p.scale, *x);
  const Operand bias = make_operand(ctx.input(2), p.bias, *x);

  Tensor y(p.y_dtype, x->shape());
  // Mean and InvStdDev (optional outputs 1 and 2).
  Tensor mean, inv;
  if (ctx.outputs.size() > 1) mean = Tensor(p.stat_dtype, p.stat_shape);
  if (ctx.outputs.size() > 2) inv = Tensor(p.stat_dtype, p.stat_shape);
  float* pm = mean.empty() ? nullptr : mean.data<float>();
  float* pi = inv.empty() ? nullptr : inv.data<float>();
  if (x->dtype() == DType::kFloat32) {
    layer_norm_typed<float>(*x, scale, bias, outer, inner, p.eps, &y, pm, pi);
  } else {
    layer_norm_typed<double>(*x, scale, bias, outer, inner, p.eps, &y, pm, pi);
  }
  ctx.outputs[0] = std::move(y);
  if (!mean.empty()) ctx.outputs[1] = std::move(mean);
  if (!inv.empty()) ctx.outputs[2] = std::move(inv);
  return ok_status();
}

// InstanceNormalization: X [N, C, spatial...] as N * C rows of the spatial elements, normalized as
// LayerNormalization's rows are, with scale[c] and B[c] for row n * C + c.
Status cpu_instance_normalization(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(InstanceNormPlan p, instance_norm_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  if ((x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64) || p.y_dtype != x->dtype()) {
    return unsupported_element_type(p.y_dtype);  // float16 not widened by op_run_cpu
  }
  Operand scale, bias;
  scale.t = ctx.inputs[1];
  bias.t = ctx.inputs[2];
  scale.per_row = bias.per_row = std::max<int64_t>(p.c, 1);
  Tensor y(p.y_dtype, x->shape());
  if (x->dtype() == DType::kFloat32) {
    layer_norm_typed<float>(*x, scale, bias, p.n * p.c, p.spatial, p.eps, &y, nullptr, nullptr);
  } else {
    layer_norm_typed<double>(*x, scale, bias, p.n * p.c, p.spatial, p.eps, &y, nullptr, nullptr);
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// GroupNormalization: X [N, C, spatial...] as N * G rows of the group's (C / G) * spatial
// elements, each row's statistics as LayerNormalization's (row_stats), then per channel (opset 21)
// or per group (18) scale and bias, in double and rounded once.
namespace {
template <typename T>
void group_norm_typed(const GroupNormPlan& p, const T* x, const T* scale, const T* bias, T* y) {
  const int64_t per_group = p.c / p.groups, inner = per_group * p.spatial;
  for (int64_t o = 0; o < p.n * p.groups; ++o) {
    const int64_t g = o % p.groups;
    const T* row = x + o * inner;
    T* out = y + o * inner;
    double mean = 0, inv = 0;
    row_stats(row, inner, p.eps, &mean, &inv);
    for (int64_t k = 0; k < per_group; ++k) {
      const int64_t at = p.per_channel ? g * per_group + k : g;
      const double s = static_cast<double>(scale[at]), b = static_cast<double>(bias[at]);
      for (int64_t j = k * p.spatial; j < (k + 1) * p.spatial; ++j)
        out[j] = static_cast<T>((static_cast<double>(row[j]) - mean) * inv * s + b);
    }
  }
}
}  // namespace

Status cpu_group_normalization(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(GroupNormPlan p, group_norm_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  if ((x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64) || p.y_dtype != x->dtype()) {
    return unsupported_element_type(p.y_dtype);  // float16 widened by op_run_cpu
  }
  Tensor y(p.y_dtype, x->shape());
  if (x->dtype() == DType::kFloat32) {
    group_norm_typed<float>(p, x->data<float>(), ctx.inputs[1]->data<float>(), ctx.inputs[2]->data<float>(), y.data<float>());
  } else {
    group_norm_typed<double>(p, x->data<double>(), ctx.inputs[1]->data<double>(), ctx.inputs[2]->data<double>(),
                             y.data<double>());
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// LRN: for each (n, c), the squares of the window's channels summed in double from the lowest
// channel up, then x / (bias + alpha / size * sum)^beta in double, rounded once (the CUDA kernel's
// order). Rows of the spatial elements, so the inner loops run over contiguous memory.
template <class T>
void lrn_typed(const T* x, T* y, const LrnPlan& p) {
  std::vector<double> sq(static_cast<std::size_t>(p.spatial));
  for (int64_t n = 0; n < p.n; ++n) {
    const T* xn = x + n * p.c * p.spatial;
    T* yn = y + n * p.c * p.spatial;
    for (int64_t c = 0; c < p.c; ++c) {
      const int64_t lo = std::max<int64_t>(0, c - p.before), hi = std::min<int64_t>(p.c - 1, c + p.after);
      std::fill(sq.begin(), sq.end(), 0.0);
      for (int64_t k = lo; k <= hi; ++k) {
        const T* row = xn + k * p.spatial;
        for (int64_t s = 0; s < p.spatial; ++s) {
          const double v = static_cast<double>(row[s]);
          sq[s] += v * v;
        }
      }
      const T* row = xn + c * p.spatial;
      T* out = yn + c * p.spatial;
      for (int64_t s = 0; s < p.spatial; ++s) {
        out[s] = static_cast<T>(static_cast<double>(row[s]) / std::pow(p.bias + p.alpha_over_size * sq[s], p.beta));
      }
    }
  }
}

Status cpu_lrn(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(LrnPlan p, lrn_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  Tensor y(p.y_dtype, x->shape());
  if (x->dtype() == DType::kFloat32) {
    lrn_typed(x->data<float>(), y.data<float>(), p);
  } else if (x->dtype() == DType::kFloat64) {
    lrn_typed(x->data<double>(), y.data<double>(), p);
  } else {
    return unsupported_element_type(x->dtype());  // float16 and bfloat16 arrive widened (kComputes)
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// shardscore.AddLayerNormalization (pass_fuse_add_layer_norm): A + B as Add computes it (over a dying
// operand where allowed), then LayerNormalization of the sum with this node's attributes and Scale
// (input 2) and B (input 3): the same bits as the two ops. The fusion is the CUDA kernel's, which
// never writes the sum.
Status cpu_add_layer_normalization(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, cpu_required_input(ctx, 1));
  OpContext add{ctx.node, {a, b}, {Tensor()}, ctx.reusable & 0b11u, ctx.batch};
  SS_RETURN_IF_ERROR(cpu_add(add));
  OpContext norm{ctx.node, {&add.outputs[0], ctx.input(2), ctx.input(3)}, {Tensor()}, 0, ctx.batch};
  SS_RETURN_IF_ERROR(cpu_layer_normalization(norm));
  ctx.outputs[0] = std::move(norm.outputs[0]);
  return ok_status();
}

}  // namespace shardscore
