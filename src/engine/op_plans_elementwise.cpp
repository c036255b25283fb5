#include "engine/op_plans_elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <utility>

#include "engine/cpu/broadcast.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/float16.h"

namespace shardscore {
namespace {

std::string name_of(DType t) { return std::string(dtype_name(t)); }

// float16 as float32: the type the CPU op sees after op_run_cpu's widening.
DType as_cpu_sees(DType t) { return plan_dtype(t); }


// Inputs 0 and 1, of one type, and their broadcast shape (out left to the caller).
StatusOr<BinaryPlan> same_type_operands(const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, plan_required_input(inputs, 1));
  if (a->dtype() != b->dtype()) {
    return invalid_argument("input types differ: " + name_of(a->dtype()) + " and " + name_of(b->dtype()));
  }
  SS_ASSIGN_OR_RETURN(Shape shape, cpu_broadcast_shapes(a->shape(), b->shape()));
  return BinaryPlan{a, b, std::move(shape), DType::kUndefined};
}

// One scalar bound of Clip from a host tensor.
ClipBound bound_value(const Tensor& b) {
  ClipBound r;
  switch (b.dtype()) {
    case DType::kFloat32: r.kind = ClipBound::kFloat; r.f = b.data<float>()[0]; break;
    case DType::kFloat64: r.kind = ClipBound::kFloat; r.f = b.data<double>()[0]; break;
    case DType::kFloat16:
    case DType::kBFloat16: r.kind = ClipBound::kFloat; r.f = half_bits_to_float(b.dtype(), b.data<uint16_t>()[0]); break;
    case DType::kInt32: r.kind = ClipBound::kInt; r.i = b.data<int32_t>()[0]; break;
    case DType::kInt64: r.kind = ClipBound::kInt; r.i = b.data<int64_t>()[0]; break;
    default: break;  // not reached: the bound has X's type, checked before
  }
  return r;
}

}  // namespace


bool plan_is_arith(DType t) { return plan_is_float(t) || t == DType::kInt32 || t == DType::kInt64; }

// ---- broadcasting binary ops ----

StatusOr<BinaryPlan> arith_binary_plan(const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(BinaryPlan p, same_type_operands(inputs));
  if (!plan_is_arith(p.a->dtype())) return unsupported_element_type(p.a->dtype());
  p.out = p.a->dtype();
  return p;
}

StatusOr<BinaryPlan> equal_plan(const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(BinaryPlan p, same_type_operands(inputs));
  if (p.a->dtype() == DType::kUndefined) return unsupported_element_type(p.a->dtype());
  p.out = DType::kBool;
  return p;
}

StatusOr<BinaryPlan> logical_plan(const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(BinaryPlan p, same_type_operands(inputs));
  if (p.a->dtype() != DType::kBool) return invalid_argument("inputs must be bool; got " + name_of(p.a->dtype()));
  p.out = DType::kBool;
  return p;
}

StatusOr<MinMaxPlan> min_max_plan(const std::vector<const Tensor*>& inputs) {
  if (inputs.empty()) return invalid_argument("needs at least one input");
  MinMaxPlan p;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, k));
    if (x->dtype() != inputs[0]->dtype()) {
      return invalid_argument("input types differ: " + name_of(inputs[0]->dtype()) + " and " + name_of(x->dtype()));
    }
    if (k == 0) {
      p.shape = x->shape();
    } else {
      SS_ASSIGN_OR_RETURN(p.shape, cpu_broadcast_shapes(p.shape, x->shape()));
    }
    p.xs.push_back(x);
  }
  if (!plan_is_arith(p.xs[0]->dtype())) return unsupported_element_type(p.xs[0]->dtype());
  return p;
}

StatusOr<BinaryPlan> pow_plan(const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, plan_required_input(inputs, 1));
  SS_ASSIGN_OR_RETURN(Shape shape, cpu_broadcast_shapes(a->shape(), b->shape()));
  if (!plan_is_arith(a->dtype())) return unimplemented("base type " + name_of(a->dtype()) + " is not supported");
  if (!plan_is_arith(b->dtype())) return unimplemented("exponent type " + name_of(b->dtype()) + " is not supported");
  if (!plan_is_float(a->dtype()) && plan_is_float(b->dtype())) {
    return unimplemented("Pow of an integer base with a float exponent is not supported");
  }
  return BinaryPlan{a, b, std::move(shape), a->dtype()};
}

StatusOr<WherePlan> where_plan(const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* c, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* y, plan_required_input(inputs, 2));
  if (c->dtype() != DType::kBool) return invalid_argument("condition must be bool; got " + name_of(c->dtype()));
  if (x->dtype() != y->dtype()) {
    return invalid_argument("X and Y types differ: " + name_of(x->dtype()) + " and " + name_of(y->dtype()));
  }
  SS_ASSIGN_OR_RETURN(Shape sxy, cpu_broadcast_shapes(x->shape(), y->shape()));
  SS_ASSIGN_OR_RETURN(Shape shape, cpu_broadcast_shapes(c->shape(), sxy));
  return WherePlan{c, x, y, std::move(shape)};
}

// ---- unary ops ----

StatusOr<const Tensor*> float_unary_plan(const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  if (!plan_is_float(x->dtype())) return unsupported_element_type(x->dtype());
  return x;
}

StatusOr<const Tensor*> not_plan(const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  if (x->dtype() != DType::kBool) return invalid_argument("Not takes bool input; got " + name_of(x->dtype()));
  return x;
}

StatusOr<const Tensor*> neg_plan(const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  const DType t = x->dtype();
  if (!plan_is_float(t) && t != DType::kInt8 && t != DType::kInt16 && t != DType::kInt32 && t != DType::kInt64) {
    return unsupported_element_type(t);
  }
  return x;
}

ActivationParams leaky_relu_params(const Node& node) {
  return {static_cast<double>(node.attr_float("alpha", 0.01f)), 0.0};
}

ActivationParams hard_sigmoid_params(const Node& node) {
  return {static_cast<double>(node.attr_float("alpha", 0.2f)), static_cast<double>(node.attr_float("beta", 0.5f))};
}

StatusOr<GeluApprox> gelu_plan(const Node& node) {
  std::string approximate = "none";
  if (const Attribute* a = node.attr("approximate")) approximate = a->s;
  if (approximate == "none") return GeluApprox::kNone;
  if (approximate == "tanh") return GeluApprox::kTanh;
  return invalid_argument("approximate '" + approximate + "' is not one of none, tanh");
}

StatusOr<ClipPlan> clip_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  switch (x->dtype()) {
    case DType::kFloat32:
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kFloat64:
    case DType::kInt32:
    case DType::kInt64: break;
    default: return unsupported_element_type(x->dtype());
  }
  ClipPlan p;
  p.x = x;
  if (node.opset < 11) {
    // Float attributes bound float types only: an integer X (outside Clip-6's types) would take
    // +-FLT_MAX converted to an integer, which is undefined.
    if (!dtype_is_float(x->dtype())) {
      return invalid_argument("Clip before opset 11 takes float inputs (its min and max are float attributes), not " +
                              name_of(x->dtype()));
    }
    p.lo.kind = p.hi.kind = ClipBound::kFloat;
    p.lo.f = node.attr_float("min", -std::numeric_limits<float>::max());
    p.hi.f = node.attr_float("max", std::numeric_limits<float>::max());
    return p;
  }
  const char* names[] = {"min", "max"};
  for (std::size_t i = 0; i < 2; ++i) {
    const Tensor* b = i + 1 < inputs.size() ? inputs[i + 1] : nullptr;  // host tensors (kHost12)
    if (!b) continue;
    if (as_cpu_sees(b->dtype()) != as_cpu_sees(x->dtype())) {
      return invalid_argument(std::string(names[i]) + " of type " + name_of(b->dtype()) + " differs from input's " +
                              name_of(x->dtype()));
    }
    if (b->numel() != 1) return invalid_argument(std::string(names[i]) + " " + shape_to_string(b->shape()) + " must be a scalar");
    (i == 0 ? p.lo : p.hi) = bound_value(*b);
  }
  return p;
}

StatusOr<CastPlan> cast_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  if (node.op_type == "CastLike") {  // only target_type's element type is read, never its values
    SS_ASSIGN_OR_RETURN(const Tensor* like, plan_required_input(inputs, 1));
    return CastPlan{x, like->dtype(), like->dtype() == x->dtype()};
  }
  const int64_t to_code = node.attr_int("to", 0);
  const DType to = dtype_from_onnx_code(to_code);
  if (to == DType::kUndefined) return unimplemented("cast to ONNX type " + std::to_string(to_code) + " is not supported");
  return CastPlan{x, to, to == x->dtype()};
}

StatusOr<RawInputPlan> raw_input_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  RawInputPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  const DType t = p.x->dtype();
  if (t != DType::kUInt8 && t != DType::kInt8 && t != DType::kUInt16 && t != DType::kInt16) {
    return invalid_argument("X is " + name_of(t) + ": RawInput converts 8- and 16-bit integers only");
  }
  p.to = dtype_from_onnx_code(node.attr_int("to", 1));
  if (p.to != DType::kFloat32 && !dtype_is_half(p.to)) {
    return invalid_argument("RawInput makes float32, float16 or bfloat16, not " + name_of(p.to));
  }
  p.nhwc = node.attr_int("nhwc", 0) != 0;
  p.scale = node.attr_float("scale", 1.0f);
  const Attribute* mean = node.attr("mean");
  const Attribute* std = node.attr("std");
  if (mean && !mean->floats.empty()) p.mean = &mean->floats;
  if (std && !std->floats.empty()) p.std = &std->floats;
  if ((p.mean == nullptr) != (p.std == nullptr) || (p.mean && p.mean->size() != p.std->size())) {
    return invalid_argument("RawInput's mean and std differ in length");
  }
  const int64_t rank = p.x->rank();
  if (p.nhwc && rank < 3) return invalid_argument("RawInput with nhwc needs X of rank >= 3, got " + shape_to_string(p.x->shape()));
  p.out_shape = p.x->shape();
  if (p.nhwc) std::rotate(p.out_shape.begin() + 1, p.out_shape.end() - 1, p.out_shape.end());
  p.outer = rank >= 1 ? p.out_shape[0] : 1;
  p.channels = rank >= 2 ? p.out_shape[1] : 1;
  p.inner = 1;
  for (int64_t d = 2; d < rank; ++d) p.inner *= p.out_shape[static_cast<std::size_t>(d)];
  if (p.mean && (rank < 2 || p.channels != static_cast<int64_t>(p.mean->size()))) {
    return invalid_argument(std::to_string(p.mean->size()) + " mean / std values for dimension 1 of " +
                            shape_to_string(p.out_shape));
  }
  return p;
}

// ---- math ops: rounding, exponentials, trigonometry, comparisons, Mod, Sum / Mean, Dropout ----

ActivationParams elu_params(const Node& node) { return {static_cast<double>(node.attr_float("alpha", 1.0f)), 0.0}; }

ActivationParams celu_params(const Node& node) { return {static_cast<double>(node.attr_float("alpha", 1.0f)), 0.0}; }

Status celu_check(const Node& node) {
  if (celu_params(node).alpha == 0) return invalid_argument("alpha must not be 0 (Celu divides by it)");
  return ok_status();
}

ActivationParams thresholded_relu_params(const Node& node) {
  return {static_cast<double>(node.attr_float("alpha", 1.0f)), 0.0};
}

ActivationParams shrink_params(const Node& node) {
  return {static_cast<double>(node.attr_float("lambd", 0.5f)), static_cast<double>(node.attr_float("bias", 0.0f))};
}

ActivationParams selu_params(const Node& node) {
  return {static_cast<double>(node.attr_float("alpha", 1.67326319217681884765625f)),
          static_cast<double>(node.attr_float("gamma", 1.05070102214813232421875f))};
}

StatusOr<BinaryPlan> compare_plan(const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(BinaryPlan p, same_type_operands(inputs));
  if (p.a->dtype() == DType::kUndefined || p.a->dtype() == DType::kBool) return unsupported_element_type(p.a->dtype());
  p.out = DType::kBool;
  return p;
}

StatusOr<BinaryPlan> prelu_plan(const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(BinaryPlan p, arith_binary_plan(inputs));
  if (!plan_is_float(p.a->dtype())) return unsupported_element_type(p.a->dtype());
  if (p.shape != p.a->shape()) {
    return invalid_argument("slope of shape " + shape_to_string(p.b->shape()) + " does not broadcast to X's shape " +
                            shape_to_string(p.a->shape()) + " (PRelu broadcasts the slope to X, one way)");
  }
  return p;
}

StatusOr<ModPlan> mod_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  ModPlan p;
  SS_ASSIGN_OR_RETURN(p.b, arith_binary_plan(inputs));
  const int64_t fmod = node.attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) return invalid_argument("fmod " + std::to_string(fmod) + " is not 0 or 1");
  p.fmod = fmod == 1;
  if (!p.fmod && plan_is_float(p.b.a->dtype())) {
    return invalid_argument("fmod=0 is not defined for float inputs (" + name_of(p.b.a->dtype()) +
                            "); the spec requires fmod=1");
  }
  return p;
}

StatusOr<MinMaxPlan> sum_mean_plan(const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(MinMaxPlan p, min_max_plan(inputs));
  if (!plan_is_float(p.xs[0]->dtype())) return unsupported_element_type(p.xs[0]->dtype());
  return p;
}

StatusOr<DropoutPlan> dropout_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  DropoutPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  if (!plan_is_float(p.x->dtype())) return unsupported_element_type(p.x->dtype());
  p.want_mask = node.outputs.size() > 1 && !node.outputs[1].empty();
  p.mask_dtype = node.opset < 10 ? p.x->dtype() : DType::kBool;
  const Tensor* training = node.opset >= 12 && inputs.size() > 2 ? inputs[2] : nullptr;  // host tensors (kHost12)
  if (!training) return p;
  if (training->dtype() != DType::kBool) {
    return invalid_argument("training_mode must be bool; got " + name_of(training->dtype()));
  }
  if (training->numel() != 1) {
    return invalid_argument("training_mode " + shape_to_string(training->shape()) + " must be a scalar");
  }
  if (training->data<uint8_t>()[0] == 0) return p;
  double ratio = 0.5;
  if (const Tensor* r = inputs.size() > 1 ? inputs[1] : nullptr) {
    if (!plan_is_float(r->dtype())) return invalid_argument("ratio must be a float; got " + name_of(r->dtype()));
    if (r->numel() != 1) return invalid_argument("ratio " + shape_to_string(r->shape()) + " must be a scalar");
    if (r->dtype() == DType::kFloat32) ratio = r->data<float>()[0];
    else if (r->dtype() == DType::kFloat64) ratio = r->data<double>()[0];
    else ratio = half_bits_to_float(r->dtype(), r->data<uint16_t>()[0]);
  }
  // With ratio 0 training drops nothing: the inference result, exactly.
  if (ratio != 0) {
    return unimplemented("Dropout with training_mode=true and ratio " + std::to_string(ratio) +
                         " is not supported (inference only: a random mask would make the scores differ run to run)");
  }
  return p;
}

// ---- ai.onnx.ml ----

StatusOr<MlRows> ml_rows_plan(const Tensor& x) {
  if (x.rank() < 1 || x.rank() > 2) return invalid_argument("X must be 1-D or 2-D, got " + shape_to_string(x.shape()));
  const DType t = x.dtype();
  if (t == DType::kBool || t == DType::kUndefined) return unimplemented("X of type " + name_of(t));
  MlRows r;
  r.rows = x.rank() == 1 ? 1 : x.dim(0);
  r.features = x.dim(x.rank() - 1);
  r.float_out = dtype_is_half(t) ? t : DType::kFloat32;
  return r;
}

StatusOr<LinearClassifierPlan> linear_classifier_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  LinearClassifierPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(p.xr, ml_rows_plan(*p.x));
  if (n.attr("classlabels_strings")) return unsupported_string_labels("string class labels are not supported (int64 labels only)");
  p.labels = n.attr_ints("classlabels_ints");
  p.coef = n.attr_floats("coefficients");
  p.intercepts = n.attr_floats("intercepts");
  if (!p.labels || !p.coef) return invalid_argument("LinearClassifier needs coefficients and classlabels_ints");
  const int64_t features = p.xr.features;
  if (features == 0 || p.coef->empty() || static_cast<int64_t>(p.coef->size()) % features != 0) {
    return invalid_argument(std::to_string(p.coef->size()) + " coefficients do not fit " + std::to_string(features) +
                            " features");
  }
  p.targets = static_cast<int64_t>(p.coef->size()) / features;
  if (p.intercepts && !p.intercepts->empty() && static_cast<int64_t>(p.intercepts->size()) != p.targets) {
    return invalid_argument(std::to_string(p.intercepts->size()) + " intercepts for " + std::to_string(p.targets) +
                            " targets");
  }
  p.two_from_one = p.targets == 1 && p.labels->size() == 2;
  if (!p.two_from_one && static_cast<int64_t>(p.labels->size()) != p.targets) {
    return invalid_argument(std::to_string(p.labels->size()) + " class labels for " + std::to_string(p.targets) +
                            " score columns");
  }
  p.cols = p.two_from_one ? 2 : p.targets;

  const std::string post = n.attr_string("post_transform", "NONE");
  if (p.two_from_one) {
    if (post == "LOGISTIC") {
      p.post = MlPost::kLogistic;
    } else if (post != "NONE" && p.xr.rows > 0) {  // refused per row: no rows, no refusal
      return unimplemented("post_transform '" + post + "' with one score column is not supported (NONE, LOGISTIC)");
    }
  } else {
    SS_ASSIGN_OR_RETURN(p.post, ml_post_plan(n));
  }
  return p;
}

StatusOr<MlPost> ml_post_plan(const Node& n) {
  const std::string post = n.attr_string("post_transform", "NONE");
  if (post == "NONE") return MlPost::kNone;
  if (post == "LOGISTIC") return MlPost::kLogistic;
  if (post == "SOFTMAX") return MlPost::kSoftmax;
  if (post == "SOFTMAX_ZERO") return MlPost::kSoftmaxZero;
  return unimplemented("post_transform '" + post + "' is not supported (NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO)");
}

StatusOr<LinearRegressorPlan> linear_regressor_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  LinearRegressorPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(p.xr, ml_rows_plan(*p.x));
  p.coef = n.attr_floats("coefficients");
  p.intercepts = n.attr_floats("intercepts");
  p.targets = n.attr_int("targets", 1);
  const int64_t features = p.xr.features;
  if (!p.coef || p.targets < 1 || static_cast<int64_t>(p.coef->size()) != p.targets * features) {
    return invalid_argument("coefficients do not fit " + std::to_string(p.targets) + " targets x " +
                            std::to_string(features) + " features");
  }
  if (p.intercepts && !p.intercepts->empty() && static_cast<int64_t>(p.intercepts->size()) != p.targets) {
    return invalid_argument(std::to_string(p.intercepts->size()) + " intercepts for " + std::to_string(p.targets) +
                            " targets");
  }
  const std::string post = n.attr_string("post_transform", "NONE");
  if (post != "NONE") return unimplemented("post_transform '" + post + "' is not supported for LinearRegressor (NONE)");
  return p;
}

StatusOr<ScalerPlan> scaler_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  ScalerPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(p.xr, ml_rows_plan(*p.x));
  const int64_t features = p.xr.features;
  p.offset = n.attr_floats("offset");
  p.scale = n.attr_floats("scale");
  for (const auto* v : {p.offset, p.scale})
    if (v && v->size() != 1 && static_cast<int64_t>(v->size()) != features) {
      return invalid_argument(std::to_string(v->size()) + " offset/scale values for " + std::to_string(features) +
                              " features");
    }
  p.out_shape = p.x->rank() == 1 ? Shape{features} : Shape{p.xr.rows, features};
  return p;
}

StatusOr<ImputerPlan> imputer_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  ImputerPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  const DType t = p.x->dtype();
  if (t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kInt32 && t != DType::kInt64) {
    return unsupported_element_type(t);
  }
  SS_ASSIGN_OR_RETURN(p.xr, ml_rows_plan(*p.x));
  p.is_float = dtype_is_float(t);
  p.floats = n.attr_floats("imputed_value_floats");
  p.ints = n.attr_ints("imputed_value_int64s");
  if (p.ints && p.ints->empty()) p.ints = nullptr;
  if (p.floats && p.floats->empty()) p.floats = nullptr;
  if (p.floats && p.ints) return invalid_argument("imputed_value_floats and imputed_value_int64s are both given (one only)");
  if (p.is_float && !p.floats) return invalid_argument("a " + name_of(t) + " X needs imputed_value_floats");
  if (!p.is_float && !p.ints) return invalid_argument("an " + name_of(t) + " X needs imputed_value_int64s");
  p.count = static_cast<int64_t>(p.is_float ? p.floats->size() : p.ints->size());
  if (p.count != 1 && p.count != p.xr.features) {
    return invalid_argument(std::to_string(p.count) + " imputed values for " + std::to_string(p.xr.features) +
                            " features (give 1 or " + std::to_string(p.xr.features) + ")");
  }
  if (t == DType::kInt32) {
    for (int64_t v : *p.ints)
      if (!std::in_range<int32_t>(v)) return invalid_argument("imputed value " + std::to_string(v) + " does not fit int32 X");
  }
  p.replaced_float = n.attr_float("replaced_value_float", 0.0f);
  p.replaced_int = n.attr_int("replaced_value_int64", 0);
  return p;
}

int64_t OneHotTables::column(int64_t c) const {
  const auto it = std::lower_bound(sorted.begin(), sorted.end(), c);
  return it != sorted.end() && *it == c ? index[static_cast<std::size_t>(it - sorted.begin())] : -1;
}

namespace {

StatusOr<std::shared_ptr<const OneHotTables>> one_hot_tables(const Node& n) {
  if (const Attribute* s = n.attr("cats_strings"); s && !s->strings.empty()) {
    return unimplemented("string categories (cats_strings) are not supported (int64 categories, cats_int64s, only)");
  }
  const std::vector<int64_t>* cats = n.attr_ints("cats_int64s");
  if (!cats || cats->empty()) return invalid_argument("cats_int64s (the categories) is required");
  auto out = std::make_shared<OneHotTables>();
  out->index.resize(cats->size());
  std::iota(out->index.begin(), out->index.end(), int64_t{0});
  std::sort(out->index.begin(), out->index.end(), [&](int64_t a, int64_t b) {
    return (*cats)[static_cast<std::size_t>(a)] < (*cats)[static_cast<std::size_t>(b)];
  });
  out->sorted.reserve(cats->size());
  for (const int64_t k : out->index) out->sorted.push_back((*cats)[static_cast<std::size_t>(k)]);
  if (auto d = std::adjacent_find(out->sorted.begin(), out->sorted.end()); d != out->sorted.end()) {
    return invalid_argument("category " + std::to_string(*d) + " appears twice in cats_int64s");
  }
  return std::shared_ptr<const OneHotTables>(std::move(out));
}

}  // namespace

StatusOr<OneHotEncoderPlan> one_hot_encoder_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  OneHotEncoderPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  const DType t = p.x->dtype();
  if (t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kInt32 && t != DType::kInt64) {
    return unsupported_element_type(t);
  }
  SS_ASSIGN_OR_RETURN(p.tables, n.cache.get_or_make<OneHotTables>([&] { return one_hot_tables(n); }));
  p.zeros = n.attr_int("zeros", 1) != 0;
  p.out_shape = p.x->shape();
  p.out_shape.push_back(p.t().count());
  return p;
}

std::string one_hot_unknown_message(bool has_category, int64_t category, int64_t count) {
  return (has_category ? "value " + std::to_string(category) : std::string("a NaN, Inf or value beyond int64")) +
         " is not one of the " + std::to_string(count) + " categories (cats_int64s), and zeros is 0";
}

namespace {

// An attribute list or a tensor attribute (opset 4) as doubles or int64s: which, and the values.
struct LabelList {
  DType type = DType::kUndefined;
  std::vector<double> f;
  std::vector<int64_t> i;
  std::size_t size() const { return type == DType::kInt64 ? i.size() : f.size(); }
};

Status label_list(const Node& n, const char* floats, const char* ints, const char* strings, const char* tensor,
                  LabelList* out) {
  if (const Attribute* s = n.attr(strings); s && !s->strings.empty()) {
    return unimplemented(std::string(strings) + ": string keys and values are not supported (numbers only)");
  }
  if (const std::vector<float>* v = n.attr_floats(floats); v && !v->empty()) {
    out->type = DType::kFloat32;
    out->f.assign(v->begin(), v->end());
  }
  if (const std::vector<int64_t>* v = n.attr_ints(ints); v && !v->empty()) {
    if (out->type != DType::kUndefined) return invalid_argument(std::string(floats) + " and " + ints + " are both given");
    out->type = DType::kInt64;
    out->i = *v;
  }
  if (const Attribute* a = n.attr(tensor); a && a->type == Attribute::Type::kTensor) {
    if (out->type != DType::kUndefined) return invalid_argument(std::string(tensor) + " is given with another list");
    const Tensor& t = a->t;
    out->type = t.dtype();
    if (t.dtype() == DType::kFloat32) out->f.assign(t.data<float>(), t.data<float>() + t.numel());
    else if (t.dtype() == DType::kFloat64) out->f.assign(t.data<double>(), t.data<double>() + t.numel());
    else if (t.dtype() == DType::kInt64) out->i.assign(t.data<int64_t>(), t.data<int64_t>() + t.numel());
    else return unimplemented(std::string(tensor) + " of type " + name_of(t.dtype()) + " (float, double and int64 only)");
  }
  if (out->type == DType::kUndefined) {
    return invalid_argument(std::string("no ") + floats + ", " + ints + " or " + tensor + " is given");
  }
  return ok_status();
}

StatusOr<std::shared_ptr<const LabelTables>> label_tables(const Node& n) {
  auto out = std::make_shared<LabelTables>();
  LabelTables& p = *out;
  LabelList keys, values;
  SS_RETURN_IF_ERROR(label_list(n, "keys_floats", "keys_int64s", "keys_strings", "keys_tensor", &keys));
  SS_RETURN_IF_ERROR(label_list(n, "values_floats", "values_int64s", "values_strings", "values_tensor", &values));
  if (keys.size() != values.size()) {
    return invalid_argument(std::to_string(keys.size()) + " keys but " + std::to_string(values.size()) + " values");
  }
  p.key_type = keys.type;
  p.y_dtype = values.type;
  p.int_keys = keys.type == DType::kInt64;
  p.int_values = values.type == DType::kInt64;
  if (const Attribute* d = n.attr("default_tensor"); d && d->type == Attribute::Type::kTensor) {
    const Tensor& t = d->t;
    if (t.numel() != 1 || t.dtype() != values.type) {
      return invalid_argument("default_tensor must be one value of the values' type (" + name_of(values.type) + ")");
    }
    if (t.dtype() == DType::kFloat32) p.fdefault = t.data<float>()[0];
    else if (t.dtype() == DType::kFloat64) p.fdefault = t.data<double>()[0];
    else p.idefault = t.data<int64_t>()[0];
  } else {
    p.fdefault = static_cast<double>(n.attr_float("default_float", -0.0f));
    p.idefault = n.attr_int("default_int64", -1);
  }
  // Keys sorted (stable: the first of equal keys first), each kept once with its first value.
  std::vector<std::size_t> order(keys.size());
  for (std::size_t j = 0; j < order.size(); ++j) order[j] = j;
  const bool nan_matches = n.opset >= 4;
  std::optional<std::size_t> nan_at;
  if (!p.int_keys) {
    std::vector<std::size_t> finite;
    for (std::size_t j : order) {
      if (std::isnan(keys.f[j])) {
        if (!nan_at) nan_at = j;
      } else {
        finite.push_back(j);
      }
    }
    order = std::move(finite);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return p.int_keys ? keys.i[a] < keys.i[b] : keys.f[a] < keys.f[b];
  });
  auto push_value = [&](std::size_t j) {
    if (p.int_values) p.ivalues.push_back(values.i[j]);
    else p.fvalues.push_back(values.f[j]);
  };
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::size_t j = order[k];
    if (p.int_keys) {
      if (!p.ikeys.empty() && p.ikeys.back() == keys.i[j]) continue;
      p.ikeys.push_back(keys.i[j]);
    } else {
      if (!p.fkeys.empty() && p.fkeys.back() == keys.f[j]) continue;  // 0.0 and -0.0 too, as a float map
      p.fkeys.push_back(keys.f[j]);
    }
    push_value(j);
  }
  if (nan_at && nan_matches) {
    p.nan_key = true;
    push_value(*nan_at);
  }
  return std::shared_ptr<const LabelTables>(std::move(out));
}

}  // namespace

StatusOr<LabelEncoderPlan> label_encoder_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  LabelEncoderPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(p.tables, n.cache.get_or_make<LabelTables>([&] { return label_tables(n); }));
  if (p.x->dtype() != p.t().key_type) {
    return invalid_argument("X is " + name_of(p.x->dtype()) + " but the keys are " + name_of(p.t().key_type));
  }
  return p;
}

StatusOr<BinarizerPlan> binarizer_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  BinarizerPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  const DType t = p.x->dtype();
  if (t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kInt32 && t != DType::kInt64) {
    return unsupported_element_type(t);
  }
  p.threshold = static_cast<double>(n.attr_float("threshold", 0.0f));
  return p;
}

namespace {

bool is_quant_int(DType t) {
  return t == DType::kInt8 || t == DType::kUInt8 || t == DType::kInt16 || t == DType::kUInt16;
}

// ONNX's QuantizeLinear and DequantizeLinear take int16 and uint16 from opset 21 on.
Status check_16_bit_opset(const Node& n, const std::string& what, DType t) {
  if ((t != DType::kInt16 && t != DType::kUInt16) || n.opset >= 21) return ok_status();
  return invalid_argument(what + " of type " + name_of(t) + " needs opset 21, not " + std::to_string(n.opset) + " (" +
                          n.op_type + " takes int16 and uint16 from opset 21)");
}

// ONNX's name of a quantized type this engine has no tensors for (float8, 4-bit), or "".
std::string unsupported_quant_type_name(int64_t onnx_type) {
  return onnx_type >= 17 && onnx_type <= 23 ? onnx_type_name(static_cast<int32_t>(onnx_type)) : "";
}

// The checks and geometry QuantizeLinear and DequantizeLinear share (scale, zero point, axis,
// block_size); x, scale and the zero point's presence are already set in p.
Status quant_granularity(const Node& n, QuantizeLinearPlan& p, const char* scale_name, const char* zp_name) {
  const DType st = p.scale->dtype();
  if (st != DType::kFloat32 && st != DType::kFloat16 && st != DType::kBFloat16) {
    return invalid_argument(std::string(scale_name) + " of type " + name_of(st) +
                            " is not supported (float32, float16 or bfloat16)");
  }
  if (p.zero_point && p.zero_point->shape() != p.scale->shape() &&
      !(p.scale->numel() == 1 && p.zero_point->numel() == 1 && p.scale->shape().size() <= 1 &&
        p.zero_point->shape().size() <= 1)) {
    return invalid_argument(std::string(zp_name) + " " + shape_to_string(p.zero_point->shape()) + " differs from " +
                            scale_name + "'s shape " + shape_to_string(p.scale->shape()));
  }
  const int64_t block_size = n.opset >= 21 ? n.attr_int("block_size", 0) : 0;
  if (block_size < 0) return invalid_argument("block_size " + std::to_string(block_size) + " must be >= 0");
  const Shape& xs = p.x->shape();
  const Shape& ss = p.scale->shape();
  const int64_t rank = static_cast<int64_t>(xs.size());
  if (block_size == 0 && p.scale->numel() == 1 && ss.size() <= 1) return ok_status();  // per-tensor
  if (n.opset < 13) {
    return invalid_argument(std::string(scale_name) + " " + shape_to_string(ss) +
                            " must be a scalar before opset 13 (per-axis scales came with opset 13)");
  }
  int64_t axis = n.attr_int("axis", 1);
  if (axis < -rank || axis >= rank) {
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for x of rank " + std::to_string(rank));
  }
  if (axis < 0) axis += rank;
  QuantGeometry& g = p.geom;
  g.dim = xs[static_cast<std::size_t>(axis)];
  g.inner = 1;
  for (int64_t k = axis + 1; k < rank; ++k) g.inner *= xs[static_cast<std::size_t>(k)];
  if (block_size == 0) {
    if (ss.size() != 1 || ss[0] != g.dim) {
      return invalid_argument(std::string(scale_name) + " " + shape_to_string(ss) + " must be a scalar or 1-D of " +
                              std::to_string(g.dim) + " elements (x's dimension " + std::to_string(axis) +
                              ", axis) for per-axis quantization");
    }
    g.scale_axis = 1;
    return ok_status();
  }
  // Blocked (opset 21): x's shape but ceil(D / block_size) along axis.
  const int64_t blocks = (g.dim + block_size - 1) / block_size;
  bool fits = static_cast<int64_t>(ss.size()) == rank;
  for (int64_t k = 0; fits && k < rank; ++k) {
    fits = ss[static_cast<std::size_t>(k)] == (k == axis ? blocks : xs[static_cast<std::size_t>(k)]);
  }
  if (!fits) {
    Shape want = xs;
    want[static_cast<std::size_t>(axis)] = blocks;
    return invalid_argument(std::string(scale_name) + " " + shape_to_string(ss) + " must be " + shape_to_string(want) +
                            " for blocked quantization of x " + shape_to_string(xs) + " along axis " +
                            std::to_string(axis) + " with block_size " + std::to_string(block_size));
  }
  g.block = block_size;
  g.scale_inner = 1;
  g.scale_axis = g.inner;
  g.scale_outer = blocks * g.inner;
  return ok_status();
}

}  // namespace

StatusOr<QuantizeLinearPlan> quantize_linear_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  QuantizeLinearPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(p.scale, plan_required_input(inputs, 1));
  p.zero_point = inputs.size() > 2 ? inputs[2] : nullptr;
  const DType xt = p.x->dtype();
  if (xt != DType::kFloat32 && xt != DType::kFloat16 && xt != DType::kBFloat16 && xt != DType::kInt32) {
    return unsupported_element_type(xt);
  }
  // From opset 19 ONNX types y_scale as x: an int32 x then comes with an int32 y_scale, which
  // quant_granularity refuses by its type; a float one is not a valid model there.
  if (xt == DType::kInt32 && n.opset >= 19 && p.scale->dtype() != DType::kInt32) {
    return invalid_argument("y_scale of type " + name_of(p.scale->dtype()) + " with an int32 x is ONNX's at opsets 10 "
                            "to 18 only (from opset 19 y_scale has x's type), not at " + std::to_string(n.opset));
  }
  const int64_t output_dtype = n.opset >= 21 ? n.attr_int("output_dtype", 0) : 0;
  if (const std::string t = unsupported_quant_type_name(output_dtype); !t.empty()) {
    return unimplemented("output_dtype " + t + " is not supported (float8 and 4-bit types; int8, uint8, int16, uint16 are)");
  }
  DType from_attr = DType::kUndefined;
  if (output_dtype != 0) {
    from_attr = dtype_from_onnx_code(output_dtype);
    if (!is_quant_int(from_attr)) {
      return invalid_argument("output_dtype " + std::to_string(output_dtype) + " is not a quantized type");
    }
  }
  if (p.zero_point) {
    p.y_dtype = p.zero_point->dtype();
    if (!is_quant_int(p.y_dtype)) {
      return invalid_argument("y_zero_point of type " + name_of(p.y_dtype) +
                              " is not supported (int8, uint8, int16, uint16; float8 and int4 are not)");
    }
    // Only the zero point can ask for 16 bits before opset 21: output_dtype is read from 21 on.
    SS_RETURN_IF_ERROR(check_16_bit_opset(n, "y_zero_point", p.y_dtype));
    if (from_attr != DType::kUndefined && from_attr != p.y_dtype) {
      return invalid_argument("output_dtype " + name_of(from_attr) + " differs from y_zero_point's type " + name_of(p.y_dtype));
    }
  } else {
    p.y_dtype = from_attr != DType::kUndefined ? from_attr : DType::kUInt8;
  }
  SS_RETURN_IF_ERROR(quant_granularity(n, p, "y_scale", "y_zero_point"));
  return p;
}

StatusOr<QuantizeLinearPlan> dequantize_linear_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  QuantizeLinearPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(p.scale, plan_required_input(inputs, 1));
  p.zero_point = inputs.size() > 2 ? inputs[2] : nullptr;
  const DType xt = p.x->dtype();
  if (!is_quant_int(xt) && xt != DType::kInt32) {
    return unimplemented("DequantizeLinear of a " + name_of(xt) +
                         " x is not supported (int8, uint8, int16, uint16, int32; float8 and int4 are not)");
  }
  SS_RETURN_IF_ERROR(check_16_bit_opset(n, "x", xt));
  if (p.zero_point && p.zero_point->dtype() != xt) {
    return invalid_argument("x_zero_point of type " + name_of(p.zero_point->dtype()) + " differs from x's type " + name_of(xt));
  }
  SS_RETURN_IF_ERROR(quant_granularity(n, p, "x_scale", "x_zero_point"));
  p.y_dtype = p.scale->dtype();
  return p;
}

StatusOr<DynamicQuantizeLinearPlan> dynamic_quantize_linear_plan(const std::vector<const Tensor*>& inputs) {
  DynamicQuantizeLinearPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  if (p.x->dtype() != DType::kFloat32) {
    return unimplemented("DynamicQuantizeLinear of a " + name_of(p.x->dtype()) + " x is not supported (float32, "
                         "the only type ONNX gives it)");
  }
  return p;
}

StatusOr<NormalizerPlan> normalizer_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  NormalizerPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(p.xr, ml_rows_plan(*p.x));
  const std::string norm = n.attr_string("norm", "MAX");
  if (norm == "MAX") p.norm = NormalizerNorm::kMax;
  else if (norm == "L1") p.norm = NormalizerNorm::kL1;
  else if (norm == "L2") p.norm = NormalizerNorm::kL2;
  else return invalid_argument("norm '" + norm + "' is not one of MAX, L1, L2");
  p.out_shape = p.x->shape();
  return p;
}

StatusOr<ArrayFeatureExtractorPlan> array_feature_extractor_plan(const std::vector<const Tensor*>& inputs) {
  ArrayFeatureExtractorPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(p.indices, plan_required_input(inputs, 1));
  if (p.indices->dtype() != DType::kInt64) return invalid_argument("indices must be int64");
  if (p.x->rank() < 1) return invalid_argument("X must have at least one dimension");
  p.last = p.x->dim(p.x->rank() - 1);
  p.k = p.indices->numel();
  if (!p.indices->on_device()) {
    const int64_t* idx = p.indices->data<int64_t>();
    for (int64_t i = 0; i < p.k; ++i)
      if (idx[i] < 0 || idx[i] >= p.last) {
        return invalid_argument("index " + std::to_string(idx[i]) + " is out of range for a last dimension of " +
                                std::to_string(p.last));
      }
  } else if (p.last == 0 && p.k > 0) {
    return invalid_argument("indices are out of range for a last dimension of 0");
  }
  p.out_shape = p.x->shape();
  if (p.out_shape.size() == 1) p.out_shape.insert(p.out_shape.begin(), 1);
  p.out_shape.back() = p.k;
  p.rows = p.x->numel() / std::max<int64_t>(p.last, 1);
  return p;
}

}  // namespace shardscore
