#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/float16.h"
#include "engine/op_plans_elementwise.h"
#include "engine/op_plans_svm.h"
#include "engine/op_plans_trees.h"

namespace shardscore {

// ai.onnx.ml ArrayFeatureExtractor: selects entries of X's last dimension by the int64 indices Y.
// Output shape is X's with the last dimension replaced by |Y| ([1, |Y|] for a 1-D X), as ONNX
// Runtime does.
Status cpu_array_feature_extractor(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ArrayFeatureExtractorPlan p, array_feature_extractor_plan(ctx.inputs));
  const Tensor* x = p.x;
  const int64_t last = p.last, k = p.k, rows = p.rows;
  const int64_t* idx = p.indices->data<int64_t>();
  Tensor z(x->dtype(), p.out_shape);
  const std::size_t es = dtype_size(x->dtype());
  const auto* src = static_cast<const std::byte*>(x->raw());
  auto* dst = static_cast<std::byte*>(z.raw());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i) std::memcpy(dst + (r * k + i) * es, src + (r * last + idx[i]) * es, es);
  ctx.outputs[0] = std::move(z);
  return ok_status();
}

}  // namespace shardscore

namespace shardscore {
namespace {

// X (validated by ml_rows_plan) as float32 rows: [rows, features] (a 1-D X is one row).
StatusOr<Tensor> ml_input_as_float_rows(const Tensor& x, const MlRows& xr) {
  Tensor out(DType::kFloat32, {xr.rows, xr.features});
  bool ok = dtype_dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    for (int64_t i = 0; i < x.numel(); ++i) out.data<float>()[i] = static_cast<float>(x.data<T>()[i]);
  });
  if (!ok) return unimplemented("X of type " + std::string(dtype_name(x.dtype())));  // float16: widened before this
  return out;
}

// scores[rows, targets] = x[rows, features] * coefficients[targets, features]^T + intercepts,
// accumulated in double in a fixed order (a row never depends on its batch).
void linear_scores(const Tensor& x, const std::vector<float>& coef, const std::vector<float>* intercepts, int64_t targets,
                   float* scores) {
  const int64_t rows = x.dim(0), features = x.dim(1);
  const float* px = x.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < targets; ++t) {
      double acc = intercepts && !intercepts->empty() ? (*intercepts)[t] : 0.0;
      for (int64_t f = 0; f < features; ++f) acc += double{px[r * features + f]} * double{coef[t * features + f]};
      scores[r * targets + t] = static_cast<float>(acc);
    }
}

float logistic(float v) { return v >= 0 ? 1.0f / (1.0f + std::exp(-v)) : std::exp(v) / (1.0f + std::exp(v)); }

void apply_post_transform(MlPost kind, float* scores, int64_t rows, int64_t cols) {
  if (kind == MlPost::kNone) return;
  if (kind == MlPost::kLogistic) {
    for (int64_t i = 0; i < rows * cols; ++i) scores[i] = logistic(scores[i]);
    return;
  }
  {  // kSoftmax, kSoftmaxZero
    const bool skip_zero = kind == MlPost::kSoftmaxZero;
    for (int64_t r = 0; r < rows; ++r) {
      float* s = scores + r * cols;
      float mx = -INFINITY;
      for (int64_t c = 0; c < cols; ++c)
        if (!(skip_zero && s[c] == 0)) mx = std::max(mx, s[c]);
      double sum = 0;
      for (int64_t c = 0; c < cols; ++c) {
        s[c] = skip_zero && s[c] == 0 ? 0.0f : std::exp(s[c] - mx);
        sum += s[c];
      }
      for (int64_t c = 0; c < cols; ++c) s[c] = sum > 0 ? static_cast<float>(s[c] / sum) : s[c];
    }
  }
}

}  // namespace

// ai.onnx.ml LinearClassifier: Y = class labels (int64), Z = post_transform(X * coefficients^T + intercepts).
// With one score column and two class labels, Z gets two columns (the negative class first) and a
// row's label is the positive class when its raw score is > 0.
Status cpu_linear_classifier(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(LinearClassifierPlan p, linear_classifier_plan(ctx.node, ctx.inputs));
  SS_ASSIGN_OR_RETURN(Tensor x, ml_input_as_float_rows(*p.x, p.xr));
  const std::vector<int64_t>& labels = *p.labels;
  const int64_t rows = p.xr.rows, targets = p.targets, cols = p.cols;
  const bool two_from_one = p.two_from_one;
  std::vector<float> raw(static_cast<std::size_t>(rows * targets));
  linear_scores(x, *p.coef, p.intercepts, targets, raw.data());

  Tensor y(DType::kInt64, {rows});
  Tensor z(DType::kFloat32, {rows, cols});
  for (int64_t r = 0; r < rows; ++r) {
    if (two_from_one) {
      y.data<int64_t>()[r] = raw[r] > 0 ? labels[1] : labels[0];
    } else {
      int64_t best = 0;
      for (int64_t t = 1; t < targets; ++t)
        if (raw[r * targets + t] > raw[r * targets + best]) best = t;
      y.data<int64_t>()[r] = labels[best];
    }
  }
  float* pz = z.data<float>();
  if (two_from_one) {
    for (int64_t r = 0; r < rows; ++r) {
      if (p.post == MlPost::kLogistic) {
        const float q = logistic(raw[r]);
        pz[2 * r] = 1.0f - q;
        pz[2 * r + 1] = q;
      } else {  // kNone (the plan refuses the others)
        pz[2 * r] = -raw[r];
        pz[2 * r + 1] = raw[r];
      }
    }
  } else {
    std::copy(raw.begin(), raw.end(), pz);
    apply_post_transform(p.post, pz, rows, cols);
  }
  ctx.outputs[0] = std::move(y);
  if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(z);
  return ok_status();
}

// ai.onnx.ml LinearRegressor: Y[rows, targets] = X * coefficients^T + intercepts (post_transform NONE).
Status cpu_linear_regressor(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(LinearRegressorPlan p, linear_regressor_plan(ctx.node, ctx.inputs));
  SS_ASSIGN_OR_RETURN(Tensor x, ml_input_as_float_rows(*p.x, p.xr));
  Tensor y(DType::kFloat32, {p.xr.rows, p.targets});
  linear_scores(x, *p.coef, p.intercepts, p.targets, y.data<float>());
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml Scaler: Y = (X - offset) * scale, per feature (one value broadcasts to all).
Status cpu_scaler(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ScalerPlan plan, scaler_plan(ctx.node, ctx.inputs));
  SS_ASSIGN_OR_RETURN(Tensor x, ml_input_as_float_rows(*plan.x, plan.xr));
  const int64_t features = plan.xr.features;
  const std::vector<float>* offset = plan.offset;
  const std::vector<float>* scale = plan.scale;
  float* p = x.data<float>();
  for (int64_t r = 0; r < x.dim(0); ++r)
    for (int64_t f = 0; f < features; ++f) {
      const float o = offset ? (*offset)[offset->size() == 1 ? 0 : f] : 0.0f;
      const float s = scale ? (*scale)[scale->size() == 1 ? 0 : f] : 1.0f;
      p[r * features + f] = (p[r * features + f] - o) * s;
    }
  ctx.outputs[0] = plan.x->rank() == 1 ? x.reshaped(plan.out_shape) : x;
  return ok_status();
}

// ai.onnx.ml Imputer (op_plans_elementwise.h): element i is feature i % features.
Status cpu_imputer(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ImputerPlan p, imputer_plan(ctx.node, ctx.inputs));
  Tensor y(p.x->dtype(), p.x->shape());
  const int64_t n = p.x->numel(), features = std::max<int64_t>(p.xr.features, 1);
  dtype_dispatch(p.x->dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = p.x->data<T>();
    T* out = y.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = p.count == 1 ? 0 : i % features;
      if constexpr (std::is_floating_point_v<T>) {
        const bool hit = std::isnan(p.replaced_float) ? std::isnan(x[i]) : x[i] == static_cast<T>(p.replaced_float);
        out[i] = hit ? static_cast<T>((*p.floats)[static_cast<std::size_t>(k)]) : x[i];
      } else {
        const bool hit = static_cast<int64_t>(x[i]) == p.replaced_int;
        out[i] = hit ? static_cast<T>((*p.ints)[static_cast<std::size_t>(k)]) : x[i];
      }
    }
  });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// The category a float value names: truncated toward zero (ONNX Runtime's cast), none (false) for
// NaN, Inf and values beyond int64. A flag, not a sentinel value: INT64_MIN (an int64 X, or a float
// X of -2^63) is a category like any other. The CUDA kernel computes the same.
template <class T>
bool one_hot_category(T v, int64_t* c) {
  if constexpr (std::is_floating_point_v<T>) {
    // [-2^63, 2^63): the doubles whose truncation fits int64.
    if (!(v >= T(-9223372036854775808.0) && v < T(9223372036854775808.0))) return false;
  }
  *c = static_cast<int64_t>(v);
  return true;
}

// ai.onnx.ml OneHotEncoder (op_plans_elementwise.h): one row of C per element of X.
Status cpu_one_hot_encoder(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(OneHotEncoderPlan p, one_hot_encoder_plan(ctx.node, ctx.inputs));
  const int64_t count = p.t().count();
  Tensor y(DType::kFloat32, p.out_shape);
  float* out = y.data<float>();
  std::fill(out, out + y.numel(), 0.0f);
  Status st = ok_status();
  dtype_dispatch(p.x->dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = p.x->data<T>();
    for (int64_t i = 0; i < p.x->numel(); ++i) {
      int64_t c = 0;
      const bool has = one_hot_category(x[i], &c);
      const int64_t column = has ? p.t().column(c) : -1;
      if (column >= 0) {
        out[i * count + column] = 1.0f;
      } else if (!p.zeros) {
        st = invalid_argument(one_hot_unknown_message(has, c, count));
        return;
      }
    }
  });
  SS_RETURN_IF_ERROR(st);
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml LabelEncoder with numbers (op_plans_elementwise.h): a binary search of the sorted keys
// per element, as the CUDA kernel does, and its value written at once.
Status cpu_label_encoder(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(LabelEncoderPlan p, label_encoder_plan(ctx.node, ctx.inputs));
  const LabelTables& t = p.t();
  Tensor y(t.y_dtype, p.x->shape());
  const int64_t n = p.x->numel();
  // Keys and values: float32, float64 or int64 (label_tables admits no other).
  dtype_dispatch_among<float, double, int64_t>(p.x->dtype(), [&](auto x_zero) {
    using T = decltype(x_zero);
    const T* x = p.x->data<T>();
    dtype_dispatch_among<float, double, int64_t>(t.y_dtype, [&](auto y_zero) {
      using Y = decltype(y_zero);
      Y* out = y.data<Y>();
      for (int64_t i = 0; i < n; ++i) {
        int64_t j = -1;  // value index, -1: the default
        if constexpr (std::is_same_v<T, int64_t>) {  // X has the keys' type
          const auto it = std::lower_bound(t.ikeys.begin(), t.ikeys.end(), x[i]);
          if (it != t.ikeys.end() && *it == x[i]) j = it - t.ikeys.begin();
        } else if (std::isnan(static_cast<double>(x[i]))) {
          if (t.nan_key) j = t.keys();
        } else {
          const double v = static_cast<double>(x[i]);
          const auto it = std::lower_bound(t.fkeys.begin(), t.fkeys.end(), v);
          if (it != t.fkeys.end() && *it == v) j = it - t.fkeys.begin();
        }
        if constexpr (std::is_same_v<Y, int64_t>) {  // the values' type
          out[i] = j < 0 ? t.idefault : t.ivalues[static_cast<std::size_t>(j)];
        } else {
          out[i] = static_cast<Y>(j < 0 ? t.fdefault : t.fvalues[static_cast<std::size_t>(j)]);
        }
      }
    });
  });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml Binarizer (op_plans_elementwise.h).
Status cpu_binarizer(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(BinarizerPlan p, binarizer_plan(ctx.node, ctx.inputs));
  Tensor y(p.x->dtype(), p.x->shape());
  const int64_t n = p.x->numel();
  dtype_dispatch(p.x->dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = p.x->data<T>();
    T* out = y.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      const double v = static_cast<double>(x[i]);
      out[i] = std::isnan(v) ? x[i] : static_cast<T>(v > p.threshold ? 1 : 0);
    }
  });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml Normalizer: each row divided by its MAX / L1 / L2 norm as ONNX Runtime computes it
// (op_plans_elementwise.h); sums in double, in the row's order.
Status cpu_normalizer(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(NormalizerPlan p, normalizer_plan(ctx.node, ctx.inputs));
  SS_ASSIGN_OR_RETURN(Tensor x, ml_input_as_float_rows(*p.x, p.xr));
  const int64_t features = p.xr.features;
  float* v = x.data<float>();
  for (int64_t r = 0; r < p.xr.rows; ++r) {
    float* row = v + r * features;
    if (p.norm == NormalizerNorm::kMax) {
      float mx = std::numeric_limits<float>::lowest();
      for (int64_t f = 0; f < features; ++f) mx = std::max(mx, row[f]);
      if (mx != 0)
        for (int64_t f = 0; f < features; ++f) row[f] = row[f] / mx;
      continue;
    }
    double sum = 0;
    for (int64_t f = 0; f < features; ++f)
      sum += p.norm == NormalizerNorm::kL1 ? std::fabs(double{row[f]}) : double{row[f]} * double{row[f]};
    if (sum == 0) continue;
    for (int64_t f = 0; f < features; ++f) {
      const double d = row[f];
      row[f] = static_cast<float>(p.norm == NormalizerNorm::kL1 ? d / sum : std::copysign(std::sqrt(d * d / sum), d));
    }
  }
  ctx.outputs[0] = x.reshaped(p.out_shape);
  return ok_status();
}

namespace {

// Row `row`'s accumulators (op_plans_trees.h): each tree walked from its root, in order.
template <class T>
void tree_accumulate(const TreeEnsemblePlan& p, const T* row, double* acc, uint8_t* has) {
  std::fill(acc, acc + p.targets, 0.0);
  std::fill(has, has + p.targets, uint8_t{0});
  const TreeNodeFlat* nodes = p.flat->nodes.data();
  const TreeWeightFlat* weights = p.flat->weights.data();
  for (const int32_t root : p.flat->roots) {
    const TreeNodeFlat* f = nodes + root;
    while (f->mode != static_cast<uint8_t>(TreeMode::kLeaf)) {
      const double v = static_cast<double>(row[f->feature]);
      const double t = f->threshold;
      bool go = false;
      if (f->missing_true && std::isnan(v)) {
        go = true;
      } else {
        switch (static_cast<TreeMode>(f->mode)) {
          case TreeMode::kLeq: go = v <= t; break;
          case TreeMode::kLt: go = v < t; break;
          case TreeMode::kGte: go = v >= t; break;
          case TreeMode::kGt: go = v > t; break;
          case TreeMode::kEq: go = v == t; break;
          default: go = v != t; break;  // kNeq
        }
      }
      f = nodes + (go ? f->true_next : f->false_next);
    }
    for (int32_t k = f->weights_begin; k < f->weights_begin + f->weights_count; ++k) {
      const TreeWeightFlat& w = weights[k];
      double& a = acc[w.target];
      const double v = w.value;
      switch (p.aggregate) {
        case TreeAggregate::kMin: a = !has[w.target] || v < a ? v : a; break;
        case TreeAggregate::kMax: a = !has[w.target] || v > a ? v : a; break;
        default: a += v; break;  // kSum, kAverage
      }
      has[w.target] = 1;
    }
  }
}

// A row's scores z[cols] (float32) and label from its accumulators (op_plans_trees.h).
void tree_finish_row(const TreeEnsemblePlan& p, const double* acc, const uint8_t* has, float* z, int64_t* label) {
  if (p.binary_one_column) {
    const float s = static_cast<float>(acc[0] + (p.base.empty() ? 0.0 : double{p.base[0]}));
    const bool probabilities = p.flat->weights_all_positive && p.post == TreePost::kNone;
    if (label) *label = (probabilities ? s > 0.5f : s > 0) ? (*p.labels)[1] : (*p.labels)[0];
    if (probabilities) {
      z[0] = 1.0f - s;
      z[1] = s;
    } else if (p.post == TreePost::kLogistic) {
      z[0] = logistic(-s);
      z[1] = logistic(s);
    } else {
      z[0] = -s;
      z[1] = s;
    }
    return;
  }
  const int64_t n = p.targets;
  const double trees = static_cast<double>(p.flat->roots.size());
  for (int64_t t = 0; t < n; ++t) {
    double v = acc[t];
    if (p.aggregate == TreeAggregate::kAverage) v = v / trees;
    if (!has[t]) v = 0;
    if (!p.base.empty()) v += double{p.base[t]};
    z[t] = static_cast<float>(v);
  }
  if (label) {
    int64_t best = -1;
    for (int64_t t = 0; t < n; ++t)
      if ((has[t] || !p.base.empty()) && (best < 0 || z[t] > z[best])) best = t;
    *label = (*p.labels)[best < 0 ? 0 : best];
  }
  switch (p.post) {
    case TreePost::kNone: break;
    case TreePost::kLogistic: apply_post_transform(MlPost::kLogistic, z, 1, n); break;
    case TreePost::kSoftmax: apply_post_transform(MlPost::kSoftmax, z, 1, n); break;
    case TreePost::kSoftmaxZero: apply_post_transform(MlPost::kSoftmaxZero, z, 1, n); break;
    case TreePost::kProbit:
      for (int64_t t = 0; t < n; ++t) z[t] = tree_probit(z[t]);
      break;
  }
}

// Scores [rows, cols] and (classifier with labels) labels [rows], one row at a time.
Status tree_ensemble_run(const TreeEnsemblePlan& p, Tensor* z, Tensor* y) {
  const int64_t rows = p.xr.rows, features = p.xr.features;
  std::vector<double> acc(static_cast<std::size_t>(p.targets));
  std::vector<uint8_t> has(static_cast<std::size_t>(p.targets));
  std::vector<float> row_z(static_cast<std::size_t>(p.cols));
  float* pz = z ? z->data<float>() : nullptr;
  int64_t* py = y ? y->data<int64_t>() : nullptr;
  const bool ok = dtype_dispatch(p.x->dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = p.x->data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      tree_accumulate(p, x + r * features, acc.data(), has.data());
      tree_finish_row(p, acc.data(), has.data(), row_z.data(), py ? py + r : nullptr);
      if (pz) std::copy(row_z.begin(), row_z.end(), pz + r * p.cols);
    }
  });
  if (!ok) return unimplemented("X of type " + std::string(dtype_name(p.x->dtype())));  // float16: widened before this
  return ok_status();
}

}  // namespace

// ai.onnx.ml TreeEnsembleRegressor: Y [rows, n_targets] float32 (op_plans_trees.h).
Status cpu_tree_ensemble_regressor(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const TreeEnsemblePlan p, tree_ensemble_regressor_plan(ctx.node, ctx.inputs));
  Tensor z(DType::kFloat32, {p.xr.rows, p.cols});
  SS_RETURN_IF_ERROR(tree_ensemble_run(p, &z, nullptr));
  ctx.outputs[0] = std::move(z);
  return ok_status();
}

// ai.onnx.ml TreeEnsembleClassifier: Y labels [rows] int64, Z scores [rows, cols] float32
// (op_plans_trees.h). With string labels (no label output) only Z.
Status cpu_tree_ensemble_classifier(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const TreeEnsemblePlan p, tree_ensemble_classifier_plan(ctx.node, ctx.inputs));
  Tensor z(DType::kFloat32, {p.xr.rows, p.cols});
  Tensor y;
  if (p.labels) y = Tensor(DType::kInt64, {p.xr.rows});
  SS_RETURN_IF_ERROR(tree_ensemble_run(p, &z, p.labels ? &y : nullptr));
  if (p.labels) ctx.outputs[0] = std::move(y);
  if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(z);
  return ok_status();
}

// shardscore.RawInput: the host chain's float32 steps, one element at a time, in its order.
Status cpu_raw_input(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const RawInputPlan p, raw_input_plan(ctx.node, ctx.inputs));
  Tensor y(p.to, p.out_shape);
  const int64_t channels = p.channels, inner = p.inner;
  float* yf = p.to == DType::kFloat32 ? y.data<float>() : nullptr;
  uint16_t* yh = yf ? nullptr : y.data<uint16_t>();
  auto convert = [&](auto zero) {
    using T = decltype(zero);
    const T* x = p.x->data<T>();
    for (int64_t o = 0; o < p.outer; ++o)
      for (int64_t c = 0; c < channels; ++c) {
        const float mean = p.mean ? (*p.mean)[c] : 0.0f, std = p.std ? (*p.std)[c] : 1.0f;
        const int64_t base = (o * channels + c) * inner;
        for (int64_t i = 0; i < inner; ++i) {
          float v = static_cast<float>(x[p.nhwc ? (o * inner + i) * channels + c : base + i]);
          if (p.scale != 1.0f) v = v * p.scale;
          if (p.mean) {
            v = v - mean;
            v = v / std;
          }
          if (yf) yf[base + i] = v;
          else yh[base + i] = double_to_half_bits(p.to, v);  // float -> double is exact: one rounding
        }
      }
  };
  switch (p.x->dtype()) {
    case DType::kUInt8: convert(uint8_t{}); break;
    case DType::kInt8: convert(int8_t{}); break;
    case DType::kUInt16: convert(uint16_t{}); break;
    default: convert(int16_t{}); break;  // the plan admits these four
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ---- SVMRegressor / SVMClassifier (semantics: engine/op_plans_svm.h) ----

namespace {

// K(x, v) over `features` values, in double (x already rounded to float32).
double svm_kernel(const SvmKernelParams& k, const float* x, const float* v, int64_t features) {
  if (k.kernel == SvmKernel::kRbf) {
    double s = 0;
    for (int64_t f = 0; f < features; ++f) {
      const double d = double{x[f]} - double{v[f]};
      s += d * d;
    }
    return std::exp(-k.gamma * s);
  }
  double dot = 0;
  for (int64_t f = 0; f < features; ++f) dot += double{x[f]} * double{v[f]};
  switch (k.kernel) {
    case SvmKernel::kPoly: return std::pow(k.gamma * dot + k.coef0, k.degree);
    case SvmKernel::kSigmoid: return std::tanh(k.gamma * dot + k.coef0);
    default: return dot;  // kLinear
  }
}

// 1 - logistic(v) = 1 / (1 + e^v), in the form that cannot overflow.
double svm_one_minus_logistic(double v) {
  if (v >= 0) {
    const double e = std::exp(-v);
    return e / (1.0 + e);
  }
  return 1.0 / (1.0 + std::exp(v));
}

// libsvm's pairwise coupling (Wu, Lin and Weng 2004, method 2) of the k x k pairwise
// probabilities r (r[i k + j]: class i against class j; the diagonal unused) into p[k]: the
// iteration ONNX Runtime runs (p starts uniform, at most 100 rounds, stopping once every
// |(Q p)_i - p'Q p| < 0.005 / k), in double. q: k x k scratch, qp: k scratch.
void svm_couple(int64_t k, const double* r, double* q, double* qp, double* p) {
  for (int64_t i = 0; i < k * k; ++i) q[i] = 0;
  for (int64_t i = 0; i < k; ++i) {
    p[i] = 1.0 / static_cast<double>(k);
    for (int64_t j = 0; j < k; ++j) {
      if (j == i) continue;
      q[i * k + i] += r[j * k + i] * r[j * k + i];
      q[i * k + j] = j < i ? q[j * k + i] : -r[j * k + i] * r[i * k + j];
    }
  }
  const double eps = 0.005 / static_cast<double>(k);
  for (int round = 0; round < 100; ++round) {
    double pqp = 0;
    for (int64_t i = 0; i < k; ++i) {
      qp[i] = 0;
      for (int64_t j = 0; j < k; ++j) qp[i] += q[i * k + j] * p[j];
      pqp += p[i] * qp[i];
    }
    double max_error = 0;
    for (int64_t i = 0; i < k; ++i) max_error = std::max(max_error, std::fabs(qp[i] - pqp));
    if (max_error < eps) break;
    for (int64_t i = 0; i < k; ++i) {
      const double diff = (pqp - qp[i]) / q[i * k + i];
      p[i] += diff;
      pqp = (pqp + diff * (diff * q[i * k + i] + 2 * qp[i])) / (1 + diff) / (1 + diff);
      for (int64_t j = 0; j < k; ++j) {
        qp[j] = (qp[j] + diff * q[i * k + j]) / (1 + diff);
        p[j] /= (1 + diff);
      }
    }
  }
}

}  // namespace

// ai.onnx.ml SVMRegressor: Y[rows, 1] (float32), see op_plans_svm.h.
Status cpu_svm_regressor(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(SvmRegressorPlan p, svm_regressor_plan(ctx.node, ctx.inputs));
  SS_ASSIGN_OR_RETURN(Tensor x, ml_input_as_float_rows(*p.x, p.xr));
  const int64_t rows = p.xr.rows, features = p.xr.features;
  const float* px = x.data<float>();
  const std::vector<float>& coef = *p.coef;
  Tensor y(DType::kFloat32, {rows, 1});
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = px + r * features;
    double s = 0;
    if (p.vectors > 0) {
      for (int64_t v = 0; v < p.vectors; ++v) s += double{coef[v]} * svm_kernel(p.k, xr, p.sv->data() + v * features, features);
    } else {
      s = svm_kernel(p.k, xr, coef.data(), features);  // the linear form: k.kernel is kLinear
    }
    s += p.rho;
    if (p.one_class) s = s > 0 ? 1.0 : -1.0;
    y.data<float>()[r] = static_cast<float>(s);
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml SVMClassifier: Y[rows] int64 labels, Z[rows, cols] float32, see op_plans_svm.h.
Status cpu_svm_classifier(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(SvmClassifierPlan p, svm_classifier_plan(ctx.node, ctx.inputs));
  SS_ASSIGN_OR_RETURN(Tensor x, ml_input_as_float_rows(*p.x, p.xr));
  const int64_t rows = p.xr.rows, features = p.xr.features, k = p.classes, V = p.vectors, cols = p.cols;
  const float* px = x.data<float>();
  const std::vector<float>& coef = *p.coef;
  const std::vector<int64_t>& labels = *p.labels;
  Tensor y(DType::kInt64, {rows});
  Tensor z(DType::kFloat32, {rows, cols});
  std::vector<double> kv(static_cast<std::size_t>(V)), d(static_cast<std::size_t>(p.pairs));
  std::vector<double> rr, q, qp, prob;
  if (p.couple()) {
    rr.resize(static_cast<std::size_t>(k * k));
    q.resize(rr.size());
    qp.resize(static_cast<std::size_t>(k));
    prob.resize(qp.size());
  }
  std::vector<int64_t> votes(static_cast<std::size_t>(k));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = px + r * features;
    float* zr = z.data<float>() + r * cols;
    if (p.linear) {
      for (int64_t c = 0; c < k; ++c)
        zr[c] = static_cast<float>(svm_kernel(p.k, xr, coef.data() + c * features, features) + double{(*p.rho)[0]});
      int64_t best = 0;
      for (int64_t c = 1; c < k; ++c)
        if (zr[best] < zr[c]) best = c;
      const float top = zr[best];
      int64_t label = labels[best];
      if (k == 2 && !p.have_proba && ((p.all_positive && top >= 0.5f) || (!p.all_positive && top > 0))) label = labels[1];
      y.data<int64_t>()[r] = label;
      apply_post_transform(p.post, zr, 1, cols);
      continue;
    }
    for (int64_t v = 0; v < V; ++v) kv[v] = svm_kernel(p.k, xr, p.sv->data() + v * features, features);
    std::fill(votes.begin(), votes.end(), 0);
    int64_t pair = 0;
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = i + 1; j < k; ++j, ++pair) {
        double s = 0;
        for (int64_t m = 0; m < p.counts[i]; ++m) {
          const int64_t v = p.starts[i] + m;
          s += double{coef[(j - 1) * V + v]} * kv[v];
        }
        for (int64_t m = 0; m < p.counts[j]; ++m) {
          const int64_t v = p.starts[j] + m;
          s += double{coef[i * V + v]} * kv[v];
        }
        s += double{(*p.rho)[pair]};
        d[pair] = s;
        ++votes[s > 0 ? i : j];
      }
    int64_t best = 0;
    for (int64_t c = 1; c < k; ++c)
      if (votes[best] < votes[c]) best = c;
    y.data<int64_t>()[r] = labels[best];
    if (p.couple()) {
      pair = 0;
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = i + 1; j < k; ++j, ++pair) {
          double v = svm_one_minus_logistic(d[pair] * double{(*p.prob_a)[pair]} + double{(*p.prob_b)[pair]});
          v = std::min(std::max(v, 1e-7), 1 - 1e-7);
          rr[i * k + j] = v;
          rr[j * k + i] = 1 - v;
        }
      svm_couple(k, rr.data(), q.data(), qp.data(), prob.data());
      for (int64_t c = 0; c < k; ++c) zr[c] = static_cast<float>(prob[c]);
      apply_post_transform(p.post, zr, 1, cols);
    } else if (k > 2) {
      for (int64_t c = 0; c < p.pairs; ++c) zr[c] = static_cast<float>(d[c]);
      apply_post_transform(p.post, zr, 1, cols);
    } else {
      const float s = static_cast<float>(d[0]);
      zr[0] = -s;
      zr[1] = s;
      apply_post_transform(p.post, zr, 1, cols);
    }
  }
  ctx.outputs[0] = std::move(y);
  if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(z);
  return ok_status();
}

}  // namespace shardscore
