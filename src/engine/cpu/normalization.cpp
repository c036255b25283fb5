// LayerNormalization (opset 17). Each normalized group (one "row": the dimensions from `axis` on)
// is reduced in a fixed order in double (eight interleaved partial sums), so a row's result never
// depends on the batch around it.
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
  std::vector<int64_t> strides;     // else: broadcast strides against X's shape
};

StatusOr<Operand> make_operand(const Tensor* t, const Tensor& x, int64_t axis, int64_t inner, const char* name) {
  Operand op;
  op.t = t;
  if (!t) return op;
  if (t->dtype() != x.dtype()) {
    return invalid_argument(std::string(name) + " is " + std::string(dtype_name(t->dtype())) + " but X is " +
                            std::string(dtype_name(x.dtype())));
  }
  // Unidirectional broadcast: t must stretch to X's shape without changing X.
  bool ok = t->rank() <= x.rank();
  for (int64_t k = 0; ok && k < t->rank(); ++k) {
    const int64_t d = t->dim(k), xd = x.dim(x.rank() - t->rank() + k);
    ok = d == xd || d == 1;
  }
  if (!ok) {
    return invalid_argument(std::string(name) + " of shape " + shape_to_string(t->shape()) +
                            " does not broadcast to X's shape " + shape_to_string(x.shape()));
  }
  op.strides = cpu_broadcast_strides(t->shape(), x.shape());
  bool outer_zero = true;
  for (int64_t k = 0; k < axis; ++k) outer_zero = outer_zero && op.strides[k] == 0;
  op.per_column = outer_zero && t->numel() == inner;
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

template <typename T>
void layer_norm_typed(const Tensor& x, const Operand& scale, const Operand& bias, int64_t outer, int64_t inner,
                      double eps, Tensor* y, float* mean_out, float* inv_out) {
  const T* px = x.data<T>();
  T* py = y->data<T>();
  // Sums over kLanes interleaved partial sums, added in a fixed order at the end: independent
  // chains the CPU can overlap (and vectorize), the same order for every row.
  constexpr int kLanes = 8;
  const bool plain_operands = scale.per_column && (!bias.t || bias.per_column);
  for (int64_t o = 0; o < outer; ++o) {
    const T* row = px + o * inner;
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
    const double inv = 1.0 / std::sqrt(sq / static_cast<double>(inner) + eps);
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
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* scale_t, cpu_required_input(ctx, 1));
  const Tensor* bias_t = ctx.input(2);
  if (x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64) {
    return unimplemented("element type " + std::string(dtype_name(x->dtype())) + " is not supported");
  }
  if (x->rank() == 0) return invalid_argument("X must have rank >= 1, got a scalar");
  SS_ASSIGN_OR_RETURN(int64_t axis, cpu_normalize_axis(ctx.node.attr_int("axis", -1), x->rank()));
  if (const int64_t stash = ctx.node.attr_int("stash_type", 1); stash != 1) {
    return unimplemented("stash_type " + std::to_string(stash) + " is not supported (only 1, float32)");
  }
  const double eps = static_cast<double>(ctx.node.attr_float("epsilon", 1e-5f));
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < x->rank(); ++k) (k < axis ? outer : inner) *= x->dim(k);
  SS_ASSIGN_OR_RETURN(Operand scale, make_operand(scale_t, *x, axis, inner, "Scale"));
  SS_ASSIGN_OR_RETURN(Operand bias, make_operand(bias_t, *x, axis, inner, "B"));

  Tensor y(x->dtype(), x->shape());
  // Mean and InvStdDev (optional outputs 1 and 2): float32 (stash_type 1), X's shape with the
  // normalized dimensions set to 1.
  Shape stat_shape = x->shape();
  for (int64_t k = axis; k < x->rank(); ++k) stat_shape[k] = 1;
  Tensor mean, inv;
  if (ctx.outputs.size() > 1) mean = Tensor(DType::kFloat32, stat_shape);
  if (ctx.outputs.size() > 2) inv = Tensor(DType::kFloat32, stat_shape);
  float* pm = mean.empty() ? nullptr : mean.data<float>();
  float* pi = inv.empty() ? nullptr : inv.data<float>();
  if (x->dtype() == DType::kFloat32) {
    layer_norm_typed<float>(*x, scale, bias, outer, inner, eps, &y, pm, pi);
  } else {
    layer_norm_typed<double>(*x, scale, bias, outer, inner, eps, &y, pm, pi);
  }
  ctx.outputs[0] = std::move(y);
  if (!mean.empty()) ctx.outputs[1] = std::move(mean);
  if (!inv.empty()) ctx.outputs[2] = std::move(inv);
  return ok_status();
}

}  // namespace shardscore
