#include <cmath>
#include <cstring>

#include "engine/cpu/cpu_ops.h"

namespace shardscore {

// ai.onnx.ml ArrayFeatureExtractor: selects entries of X's last dimension by the int64 indices Y.
// Output shape is X's with the last dimension replaced by |Y| ([1, |Y|] for a 1-D X), as ONNX
// Runtime does.
Status cpu_array_feature_extractor(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* y, cpu_required_input(ctx, 1));
  if (y->dtype() != DType::kInt64) return invalid_argument("indices must be int64");
  if (x->rank() < 1) return invalid_argument("X must have at least one dimension");
  const int64_t last = x->dim(x->rank() - 1);
  const int64_t k = y->numel();
  const int64_t* idx = y->data<int64_t>();
  for (int64_t i = 0; i < k; ++i)
    if (idx[i] < 0 || idx[i] >= last) {
      return invalid_argument("index " + std::to_string(idx[i]) + " is out of range for a last dimension of " + std::to_string(last));
    }
  Shape out = x->shape();
  if (out.size() == 1) out.insert(out.begin(), 1);
  out.back() = k;
  Tensor z(x->dtype(), out);
  const std::size_t es = dtype_size(x->dtype());
  const int64_t rows = x->numel() / std::max<int64_t>(last, 1);
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

// X of any numeric type as float32 rows: [rows, features] (a 1-D X is one row).
StatusOr<Tensor> ml_input_as_float_rows(const Tensor& x) {
  if (x.rank() < 1 || x.rank() > 2) return invalid_argument("X must be 1-D or 2-D, got " + shape_to_string(x.shape()));
  const int64_t rows = x.rank() == 1 ? 1 : x.dim(0);
  const int64_t features = x.dim(x.rank() - 1);
  Tensor out(DType::kFloat32, {rows, features});
  bool ok = dtype_dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    for (int64_t i = 0; i < x.numel(); ++i) out.data<float>()[i] = static_cast<float>(x.data<T>()[i]);
  });
  if (!ok || x.dtype() == DType::kBool) return unimplemented("X of type " + std::string(dtype_name(x.dtype())));
  return out;
}

const std::vector<float>* floats_attr(const Node& n, const char* name) {
  const Attribute* a = n.attr(name);
  return a && a->type == Attribute::Type::kFloats ? &a->floats : nullptr;
}

std::string string_attr_or(const Node& n, const char* name, const std::string& fallback) {
  const Attribute* a = n.attr(name);
  return a && a->type == Attribute::Type::kString ? a->s : fallback;
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

Status apply_post_transform(const std::string& kind, float* scores, int64_t rows, int64_t cols) {
  if (kind == "NONE") return ok_status();
  if (kind == "LOGISTIC") {
    for (int64_t i = 0; i < rows * cols; ++i) scores[i] = logistic(scores[i]);
    return ok_status();
  }
  if (kind == "SOFTMAX" || kind == "SOFTMAX_ZERO") {
    const bool skip_zero = kind == "SOFTMAX_ZERO";
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
    return ok_status();
  }
  return unimplemented("post_transform '" + kind + "' is not supported (NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO)");
}

}  // namespace

// ai.onnx.ml LinearClassifier: Y = class labels (int64), Z = post_transform(X * coefficients^T + intercepts).
// With one score column and two class labels, Z gets two columns (the negative class first) and a
// row's label is the positive class when its raw score is > 0.
Status cpu_linear_classifier(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x_in, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(Tensor x, ml_input_as_float_rows(*x_in));
  const Node& n = ctx.node;
  if (n.attr("classlabels_strings")) return unimplemented("string class labels are not supported (int64 labels only)");
  const Attribute* labels_attr = n.attr("classlabels_ints");
  const std::vector<float>* coef = floats_attr(n, "coefficients");
  const std::vector<float>* intercepts = floats_attr(n, "intercepts");
  if (!labels_attr || !coef) return invalid_argument("LinearClassifier needs coefficients and classlabels_ints");
  const std::vector<int64_t>& labels = labels_attr->ints;
  const int64_t rows = x.dim(0), features = x.dim(1);
  if (features == 0 || static_cast<int64_t>(coef->size()) % features != 0) {
    return invalid_argument(std::to_string(coef->size()) + " coefficients do not fit " + std::to_string(features) + " features");
  }
  const int64_t targets = static_cast<int64_t>(coef->size()) / features;
  if (intercepts && !intercepts->empty() && static_cast<int64_t>(intercepts->size()) != targets) {
    return invalid_argument(std::to_string(intercepts->size()) + " intercepts for " + std::to_string(targets) + " targets");
  }
  const bool two_from_one = targets == 1 && labels.size() == 2;
  if (!two_from_one && static_cast<int64_t>(labels.size()) != targets) {
    return invalid_argument(std::to_string(labels.size()) + " class labels for " + std::to_string(targets) + " score columns");
  }
  const int64_t cols = two_from_one ? 2 : targets;
  std::vector<float> raw(static_cast<std::size_t>(rows * targets));
  linear_scores(x, *coef, intercepts, targets, raw.data());

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
  const std::string post = string_attr_or(n, "post_transform", "NONE");
  float* pz = z.data<float>();
  if (two_from_one) {
    for (int64_t r = 0; r < rows; ++r) {
      if (post == "LOGISTIC") {
        const float p = logistic(raw[r]);
        pz[2 * r] = 1.0f - p;
        pz[2 * r + 1] = p;
      } else if (post == "NONE") {
        pz[2 * r] = -raw[r];
        pz[2 * r + 1] = raw[r];
      } else {
        return unimplemented("post_transform '" + post + "' with one score column is not supported (NONE, LOGISTIC)");
      }
    }
  } else {
    std::copy(raw.begin(), raw.end(), pz);
    SS_RETURN_IF_ERROR(apply_post_transform(post, pz, rows, cols));
  }
  ctx.outputs[0] = std::move(y);
  if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(z);
  return ok_status();
}

// ai.onnx.ml LinearRegressor: Y[rows, targets] = X * coefficients^T + intercepts (post_transform NONE).
Status cpu_linear_regressor(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x_in, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(Tensor x, ml_input_as_float_rows(*x_in));
  const Node& n = ctx.node;
  const std::vector<float>* coef = floats_attr(n, "coefficients");
  const std::vector<float>* intercepts = floats_attr(n, "intercepts");
  const int64_t targets = n.attr_int("targets", 1);
  const int64_t features = x.dim(1);
  if (!coef || targets < 1 || static_cast<int64_t>(coef->size()) != targets * features) {
    return invalid_argument("coefficients do not fit " + std::to_string(targets) + " targets x " + std::to_string(features) +
                            " features");
  }
  if (intercepts && !intercepts->empty() && static_cast<int64_t>(intercepts->size()) != targets) {
    return invalid_argument(std::to_string(intercepts->size()) + " intercepts for " + std::to_string(targets) + " targets");
  }
  const std::string post = string_attr_or(n, "post_transform", "NONE");
  if (post != "NONE") return unimplemented("post_transform '" + post + "' is not supported for LinearRegressor (NONE)");
  Tensor y(DType::kFloat32, {x.dim(0), targets});
  linear_scores(x, *coef, intercepts, targets, y.data<float>());
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml Scaler: Y = (X - offset) * scale, per feature (one value broadcasts to all).
Status cpu_scaler(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x_in, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(Tensor x, ml_input_as_float_rows(*x_in));
  const int64_t features = x.dim(1);
  const std::vector<float>* offset = floats_attr(ctx.node, "offset");
  const std::vector<float>* scale = floats_attr(ctx.node, "scale");
  for (const auto* v : {offset, scale})
    if (v && v->size() != 1 && static_cast<int64_t>(v->size()) != features) {
      return invalid_argument(std::to_string(v->size()) + " offset/scale values for " + std::to_string(features) + " features");
    }
  float* p = x.data<float>();
  for (int64_t r = 0; r < x.dim(0); ++r)
    for (int64_t f = 0; f < features; ++f) {
      const float o = offset ? (*offset)[offset->size() == 1 ? 0 : f] : 0.0f;
      const float s = scale ? (*scale)[scale->size() == 1 ? 0 : f] : 1.0f;
      p[r * features + f] = (p[r * features + f] - o) * s;
    }
  ctx.outputs[0] = x_in->rank() == 1 ? x.reshaped({features}) : x;
  return ok_status();
}

}  // namespace shardscore
