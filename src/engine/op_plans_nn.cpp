// The neural-network ops' shared validation, shapes and plans (contracts in op_plans_nn.h).
#include "engine/op_plans_nn.h"

#include <algorithm>
#include <string>

#include "engine/cpu/cpu_ops.h"  // cpu_normalize_axis
#include "engine/cpu/float16.h"

namespace shardscore {
namespace {

std::string str(int64_t v) { return std::to_string(v); }
std::string seen_name(DType t) { return std::string(dtype_name(plan_dtype(t))); }

// An ints attribute that must hold `n` values, or `def` repeated when absent.
Status ints_attr(const Node& node, const std::string& name, std::size_t n, int64_t def, std::vector<int64_t>* out) {
  const Attribute* a = node.attr(name);
  if (!a) {
    out->assign(n, def);
    return ok_status();
  }
  if (a->ints.size() != n) {
    return invalid_argument(name + " " + shape_to_string(a->ints) + " has " +
                            str(static_cast<int64_t>(a->ints.size())) + " values; 2-D spatial input needs " +
                            str(static_cast<int64_t>(n)));
  }
  *out = a->ints;
  return ok_status();
}

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

StatusOr<AutoPad> read_auto_pad(const Node& node) {
  const Attribute* a = node.attr("auto_pad");
  if (!a || a->s.empty() || a->s == "NOTSET") return AutoPad::kNotSet;
  if (a->s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (a->s == "SAME_LOWER") return AutoPad::kSameLower;
  if (a->s == "VALID") return AutoPad::kValid;
  return invalid_argument("auto_pad '" + a->s + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
}

// The first float16 / bfloat16 operand's type, or kUndefined.
DType any_half(std::initializer_list<const Tensor*> ts) { return plan_half_type(std::vector<const Tensor*>(ts)); }

// outer = product of the dimensions before axis, inner = of those after it.
void split_at_axis(const Shape& s, int64_t axis, int64_t* outer, int64_t* inner) {
  *outer = *inner = 1;
  for (int64_t k = 0; k < static_cast<int64_t>(s.size()); ++k) {
    if (k < axis) *outer *= s[k];
    else if (k > axis) *inner *= s[k];
  }
}

StatusOr<NormOperandPlan> norm_operand(const Tensor* t, const Tensor& x, int64_t axis, int64_t inner,
                                       const char* name) {
  NormOperandPlan op;
  if (!t) return op;
  op.present = true;
  if (plan_dtype(t->dtype()) != plan_dtype(x.dtype())) {
    return invalid_argument(std::string(name) + " is " + seen_name(t->dtype()) + " but X is " + seen_name(x.dtype()));
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
  // Its broadcast strides are 0 along every dimension before axis (missing there, or size 1).
  const int64_t lead = x.rank() - t->rank();
  bool outer_zero = true;
  for (int64_t k = std::max<int64_t>(lead, 0); k < axis; ++k) outer_zero = outer_zero && t->dim(k - lead) == 1;
  op.per_column = outer_zero && t->numel() == inner;
  return op;
}

}  // namespace

// ---- common ----


Status plan_unsupported_type(DType t) { return unsupported_element_type(plan_dtype(t)); }


// ---- Softmax ----

StatusOr<SoftmaxPlan> softmax_plan(const Node& node, const Tensor& x) {
  SoftmaxPlan p;
  const bool legacy = node.opset < 13;
  SS_ASSIGN_OR_RETURN(p.axis, cpu_normalize_axis(node.attr_int("axis", legacy ? 1 : -1), x.rank()));
  for (int64_t k = 0; k < x.rank(); ++k) {
    if (k < p.axis) p.outer *= x.dim(k);
    else if (k == p.axis || legacy) p.dim *= x.dim(k);
    else p.inner *= x.dim(k);
  }
  if (x.numel() > 0 && !plan_is_float(x.dtype())) return plan_unsupported_type(x.dtype());
  return p;
}

// ---- LayerNormalization ----

StatusOr<LayerNormPlan> layer_norm_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* scale, plan_required_input(inputs, 1));
  const Tensor* bias = inputs.size() > 2 ? inputs[2] : nullptr;
  if (!plan_is_float(x->dtype())) return plan_unsupported_type(x->dtype());
  if (x->rank() == 0) return invalid_argument("X must have rank >= 1, got a scalar");
  LayerNormPlan p;
  SS_ASSIGN_OR_RETURN(p.axis, cpu_normalize_axis(node.attr_int("axis", -1), x->rank()));
  if (const int64_t stash = node.attr_int("stash_type", 1); stash != 1) {
    return unimplemented("stash_type " + std::to_string(stash) + " is not supported (only 1, float32)");
  }
  p.eps = static_cast<double>(node.attr_float("epsilon", 1e-5f));
  for (int64_t k = 0; k < x->rank(); ++k) (k < p.axis ? p.outer : p.inner) *= x->dim(k);
  SS_ASSIGN_OR_RETURN(p.scale, norm_operand(scale, *x, p.axis, p.inner, "Scale"));
  SS_ASSIGN_OR_RETURN(p.bias, norm_operand(bias, *x, p.axis, p.inner, "B"));
  // The operand checks above made every input's plan_dtype X's: float32 whenever one is float16.
  const DType half = any_half({x, scale, bias});
  p.y_dtype = half != DType::kUndefined ? half : x->dtype();
  p.stat_dtype = DType::kFloat32;  // U by stash_type 1, whatever X is
  p.stat_shape = x->shape();
  for (int64_t k = p.axis; k < x->rank(); ++k) p.stat_shape[k] = 1;
  return p;
}

// ---- reductions ----

StatusOr<ReducePlan> reduce_plan(const Node& n, const std::vector<const Tensor*>& inputs, ReduceOp op) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  const DType dt = plan_dtype(x->dtype());
  const bool is_float = dt == DType::kFloat32 || dt == DType::kFloat64;
  const bool float_only = op == ReduceOp::kMean || op == ReduceOp::kL2 || op == ReduceOp::kLogSum ||
                          op == ReduceOp::kLogSumExp;
  const bool any_type = op == ReduceOp::kMax || op == ReduceOp::kMin;
  const bool supported = float_only ? is_float
                         : any_type ? dt != DType::kFloat16
                                    : dt != DType::kBool && dt != DType::kFloat16;
  if (!supported || dt == DType::kUndefined) return plan_unsupported_type(x->dtype());

  const int axes_input_from = op == ReduceOp::kSum ? 13 : 18;
  std::vector<int64_t> axes;
  bool noop_with_empty = false;
  if (n.opset >= axes_input_from) {
    noop_with_empty = n.attr_int("noop_with_empty_axes", 0) != 0;
    if (const Tensor* a = inputs.size() > 1 ? inputs[1] : nullptr) {  // a host tensor in both backends
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
  if (axes.empty() && noop_with_empty) {
    p.noop = true;
    return p;
  }
  const int64_t r = x->rank();
  p.reduced.assign(static_cast<std::size_t>(r), axes.empty());
  for (int64_t a : axes) {
    SS_ASSIGN_OR_RETURN(int64_t k, cpu_normalize_axis(a, r));
    if (p.reduced[k]) return invalid_argument("axis " + str(a) + " appears more than once in axes");
    p.reduced[k] = true;
  }
  const bool keepdims = n.attr_int("keepdims", 1) != 0;
  for (int64_t k = 0; k < r; ++k) {
    if (!p.reduced[k]) p.out_shape.push_back(x->dim(k));
    else if (keepdims) p.out_shape.push_back(1);
  }
  return p;
}

StatusOr<ArgMaxPlan> argmax_plan(const Node& node, const Tensor& x) {
  ArgMaxPlan p;
  SS_ASSIGN_OR_RETURN(p.axis, cpu_normalize_axis(node.attr_int("axis", 0), x.rank()));
  const bool keepdims = node.attr_int("keepdims", 1) != 0;
  p.select_last = node.attr_int("select_last_index", 0) != 0;
  p.dim = x.dim(p.axis);
  split_at_axis(x.shape(), p.axis, &p.outer, &p.inner);
  if (p.dim == 0) return invalid_argument(node.op_type + " over an empty axis");
  for (int64_t k = 0; k < x.rank(); ++k) {
    if (k != p.axis) p.out_shape.push_back(x.dim(k));
    else if (keepdims) p.out_shape.push_back(1);
  }
  if (x.dtype() == DType::kUndefined) return plan_unsupported_type(x.dtype());
  return p;
}

// ---- LpNormalization ----

StatusOr<LpNormPlan> lp_norm_plan(const Node& node, const Tensor& x) {
  SS_RETURN_IF_ERROR(plan_require_float(x, "LpNormalization"));
  if (x.rank() == 0) return invalid_argument("X must have at least 1 dimension; got a scalar");
  LpNormPlan p;
  SS_ASSIGN_OR_RETURN(p.axis, cpu_normalize_axis(node.attr_int("axis", -1), x.rank()));
  p.p = node.attr_int("p", 2);
  if (p.p != 1 && p.p != 2) return invalid_argument("p " + str(p.p) + " is not 1 or 2");
  p.dim = x.dim(p.axis);
  split_at_axis(x.shape(), p.axis, &p.outer, &p.inner);
  return p;
}

// ---- TopK ----

StatusOr<TopKPlan> topk_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  const DType t = x->dtype();
  if (!plan_is_float(t) && t != DType::kInt32 && t != DType::kInt64) return plan_unsupported_type(t);
  if (x->rank() == 0) return invalid_argument("X must have at least 1 dimension; got a scalar");
  TopKPlan p;
  SS_ASSIGN_OR_RETURN(p.axis, cpu_normalize_axis(node.attr_int("axis", -1), x->rank()));
  if (node.opset < 10) {
    const Attribute* k = node.attr("k");
    if (!k) return invalid_argument("the k attribute is required before opset 10");
    p.k = k->i;
  } else {
    SS_ASSIGN_OR_RETURN(const Tensor* k, plan_required_input(inputs, 1));
    if (k->dtype() != DType::kInt64 || k->numel() != 1 || k->rank() != 1) {
      return invalid_argument("K must be a 1-D int64 tensor of 1 value; got " + std::string(dtype_name(k->dtype())) + " " +
                              shape_to_string(k->shape()));
    }
    p.k = k->data<int64_t>()[0];
  }
  p.largest = node.opset < 11 || node.attr_int("largest", 1) != 0;
  p.dim = x->dim(p.axis);
  if (p.k < 0 || p.k > p.dim) {
    return invalid_argument("K = " + str(p.k) + " is outside [0, " + str(p.dim) + "], the size of axis " + str(p.axis) +
                            " of X " + shape_to_string(x->shape()));
  }
  split_at_axis(x->shape(), p.axis, &p.outer, &p.inner);
  p.out_shape = x->shape();
  p.out_shape[static_cast<std::size_t>(p.axis)] = p.k;
  return p;
}

// ---- BatchNormalization ----

StatusOr<BatchNormPlan> batch_norm_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  if (node.attr_int("training_mode", 0) != 0) {
    return unimplemented("BatchNormalization with training_mode=1 is not supported (inference only)");
  }
  for (std::size_t k = 1; k < node.outputs.size(); ++k) {
    if (!node.outputs[k].empty()) {
      return unimplemented("BatchNormalization output " + str(static_cast<int64_t>(k)) +
                           " (running or saved statistics) is not supported; inference mode gives only Y");
    }
  }
  if (x->rank() < 2)
    return invalid_argument("X " + shape_to_string(x->shape()) + " must have at least 2 dimensions [N, C, ...]");
  SS_RETURN_IF_ERROR(plan_require_float(*x, "BatchNormalization"));
  BatchNormPlan p;
  p.c = x->dim(1);
  const char* names[] = {"scale", "B", "input_mean", "input_var"};
  DType half = dtype_is_half(x->dtype()) ? x->dtype() : DType::kUndefined;
  for (std::size_t i = 0; i < 4; ++i) {
    SS_ASSIGN_OR_RETURN(const Tensor* t, plan_required_input(inputs, i + 1));
    if (t->rank() != 1 || t->dim(0) != p.c) {
      return invalid_argument(std::string(names[i]) + " " + shape_to_string(t->shape()) + " must be 1-D with " +
                              str(p.c) + " values (one per channel)");
    }
    if (plan_dtype(t->dtype()) != plan_dtype(x->dtype())) {
      return unimplemented(std::string(names[i]) + " of type " + seen_name(t->dtype()) + " with X of type " +
                           seen_name(x->dtype()) + " is not supported");
    }
    if (half == DType::kUndefined && dtype_is_half(t->dtype())) half = t->dtype();
  }
  p.eps = static_cast<double>(node.attr_float("epsilon", 1e-5f));
  p.n = x->dim(0);
  p.inner = p.c == 0 || p.n == 0 ? 0 : x->numel() / (p.n * p.c);
  p.y_dtype = half != DType::kUndefined ? half : x->dtype();
  return p;
}

// ---- InstanceNormalization ----

StatusOr<InstanceNormPlan> instance_norm_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  if (!plan_is_float(x->dtype())) return plan_unsupported_type(x->dtype());
  if (x->rank() < 3) {
    return invalid_argument("X " + shape_to_string(x->shape()) +
                            " must have at least 3 dimensions [N, C, D1, ...] (a 2-D X has no spatial elements)");
  }
  InstanceNormPlan p;
  p.n = x->dim(0);
  p.c = x->dim(1);
  for (int64_t k = 2; k < x->rank(); ++k) p.spatial *= x->dim(k);
  const char* names[] = {"scale", "B"};
  DType half = dtype_is_half(x->dtype()) ? x->dtype() : DType::kUndefined;
  for (std::size_t i = 0; i < 2; ++i) {
    SS_ASSIGN_OR_RETURN(const Tensor* t, plan_required_input(inputs, i + 1));
    if (t->rank() != 1 || t->dim(0) != p.c) {
      return invalid_argument(std::string(names[i]) + " " + shape_to_string(t->shape()) + " must be 1-D with " +
                              str(p.c) + " values (one per channel)");
    }
    if (plan_dtype(t->dtype()) != plan_dtype(x->dtype())) {
      return invalid_argument(std::string(names[i]) + " is " + seen_name(t->dtype()) + " but X is " +
                              seen_name(x->dtype()));
    }
    if (half == DType::kUndefined && dtype_is_half(t->dtype())) half = t->dtype();
  }
  p.eps = static_cast<double>(node.attr_float("epsilon", 1e-5f));
  p.y_dtype = half != DType::kUndefined ? half : x->dtype();
  return p;
}

// ---- GroupNormalization ----

StatusOr<GroupNormPlan> group_norm_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  if (!plan_is_float(x->dtype())) return plan_unsupported_type(x->dtype());
  if (x->rank() < 2) return invalid_argument("X " + shape_to_string(x->shape()) + " must have at least 2 dimensions [N, C, ...]");
  GroupNormPlan p;
  p.n = x->dim(0);
  p.c = x->dim(1);
  for (int64_t k = 2; k < x->rank(); ++k) p.spatial *= x->dim(k);
  const Attribute* g = node.attr("num_groups");
  if (!g) return invalid_argument("the num_groups attribute is required");
  p.groups = g->i;
  if (p.groups < 1 || p.c % p.groups != 0) {
    return invalid_argument("num_groups " + str(p.groups) + " must be positive and divide the " + str(p.c) + " channels of X " +
                            shape_to_string(x->shape()));
  }
  p.per_channel = node.opset >= 21;
  const int64_t want = p.per_channel ? p.c : p.groups;
  const char* names[] = {"scale", "bias"};
  DType half = dtype_is_half(x->dtype()) ? x->dtype() : DType::kUndefined;
  for (std::size_t i = 0; i < 2; ++i) {
    SS_ASSIGN_OR_RETURN(const Tensor* t, plan_required_input(inputs, i + 1));
    if (t->rank() != 1 || t->dim(0) != want) {
      return invalid_argument(std::string(names[i]) + " " + shape_to_string(t->shape()) + " must be 1-D with " + str(want) +
                              (p.per_channel ? " values (one per channel, from opset 21)" : " values (one per group, opset 18)"));
    }
    if (plan_dtype(t->dtype()) != plan_dtype(x->dtype())) {
      return invalid_argument(std::string(names[i]) + " is " + seen_name(t->dtype()) + " but X is " + seen_name(x->dtype()));
    }
    if (half == DType::kUndefined && dtype_is_half(t->dtype())) half = t->dtype();
  }
  p.eps = static_cast<double>(node.attr_float("epsilon", 1e-5f));
  p.y_dtype = half != DType::kUndefined ? half : x->dtype();
  return p;
}

// ---- LRN ----

StatusOr<LrnPlan> lrn_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  if (!plan_is_float(x->dtype())) return plan_unsupported_type(x->dtype());
  if (x->rank() < 2) {
    return invalid_argument("X " + shape_to_string(x->shape()) + " must have at least 2 dimensions [N, C, ...]");
  }
  const Attribute* size = node.attr("size");
  if (!size || size->type != Attribute::Type::kInt) return invalid_argument("attribute 'size' (an int) is required");
  if (size->i < 1) return invalid_argument("size " + str(size->i) + " must be at least 1");
  LrnPlan p;
  p.n = x->dim(0);
  p.c = x->dim(1);
  for (int64_t k = 2; k < x->rank(); ++k) p.spatial *= x->dim(k);
  p.before = (size->i - 1) / 2;
  p.after = size->i / 2;  // ceil((size - 1) / 2)
  p.alpha_over_size = static_cast<double>(node.attr_float("alpha", 1e-4f)) / static_cast<double>(size->i);
  p.beta = static_cast<double>(node.attr_float("beta", 0.75f));
  p.bias = static_cast<double>(node.attr_float("bias", 1.0f));
  p.y_dtype = x->dtype();
  return p;
}

// ---- windows, pools, Conv ----

Status require_nchw(const Tensor& x, const char* what) {
  if (x.rank() == 4) return ok_status();
  // 1-D forms run as 2-D ones, rewritten at load (passes.h, pass_spatial_1d_as_2d): a 3-D X here
  // belongs to a node whose rank the graph did not show.
  if (x.rank() == 3) {
    return unimplemented(std::string(what) + " on 3-D input " + shape_to_string(x.shape()) +
                         " runs as 1-D only where the model shows that rank at load: a kernel_shape, strides, "
                         "dilations or pads attribute, or a W of known rank (an initializer, once constants are folded, "
                         "or a graph input)");
  }
  if (x.rank() == 5) {
    return unimplemented(std::string(what) + " runs on 1-D and 2-D spatial input only ([N, C, L] or NCHW); got " +
                         shape_to_string(x.shape()));
  }
  return invalid_argument(std::string(what) + " needs 3-D [N, C, L] or 4-D NCHW input; got " + shape_to_string(x.shape()));
}

Status plan_require_float(const Tensor& x, const char* what) {
  if (plan_is_float(x.dtype())) return ok_status();
  return unimplemented(std::string(what) + " element type " + seen_name(x.dtype()) + " is not supported");
}

Status window_geometry(const Node& node, const int64_t in[2], const int64_t k[2], bool ceil_mode, Window2d* w) {
  std::vector<int64_t> strides, dilations, pads;
  SS_RETURN_IF_ERROR(ints_attr(node, "strides", 2, 1, &strides));
  SS_RETURN_IF_ERROR(ints_attr(node, "dilations", 2, 1, &dilations));
  SS_RETURN_IF_ERROR(ints_attr(node, "pads", 4, 0, &pads));
  SS_ASSIGN_OR_RETURN(AutoPad auto_pad, read_auto_pad(node));
  for (int i = 0; i < 2; ++i) {
    if (k[i] <= 0) return invalid_argument("kernel_shape " + shape_to_string({k[0], k[1]}) + " must be positive");
    if (strides[i] <= 0) return invalid_argument("strides " + shape_to_string(strides) + " must be positive");
    if (dilations[i] <= 0) return invalid_argument("dilations " + shape_to_string(dilations) + " must be positive");
    if (pads[i] < 0 || pads[i + 2] < 0)
      return invalid_argument("pads " + shape_to_string(pads) + " must not be negative");
    w->in[i] = in[i];
    w->k[i] = k[i];
    w->s[i] = strides[i];
    w->d[i] = dilations[i];
    const int64_t dk = dilations[i] * (k[i] - 1) + 1;
    if (auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower) {
      w->out[i] = (in[i] + strides[i] - 1) / strides[i];
      const int64_t total = std::max<int64_t>(0, (w->out[i] - 1) * strides[i] + dk - in[i]);
      w->pb[i] = auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
      w->pe[i] = total - w->pb[i];
      continue;
    }
    w->pb[i] = auto_pad == AutoPad::kValid ? 0 : pads[i];
    w->pe[i] = auto_pad == AutoPad::kValid ? 0 : pads[i + 2];
    const int64_t span = in[i] + w->pb[i] + w->pe[i] - dk;
    if (span < 0) {
      return invalid_argument("the window (kernel " + str(k[i]) + ", dilation " + str(dilations[i]) +
                              ") is larger than the padded input (" + str(in[i] + w->pb[i] + w->pe[i]) +
                              ") along spatial axis " + str(i));
    }
    w->out[i] = (ceil_mode ? (span + strides[i] - 1) / strides[i] : span / strides[i]) + 1;
    if (ceil_mode && (w->out[i] - 1) * strides[i] >= in[i] + w->pb[i]) --w->out[i];
  }
  return ok_status();
}

Status pool_kernel_shape(const Node& node, int64_t k[2]) {
  const Attribute* a = node.attr("kernel_shape");
  if (!a) return invalid_argument("the kernel_shape attribute is required");
  if (a->ints.size() != 2) {
    return invalid_argument("kernel_shape " + shape_to_string(a->ints) + " must have 2 values for 4-D NCHW input");
  }
  k[0] = a->ints[0];
  k[1] = a->ints[1];
  return ok_status();
}

StatusOr<PoolPlan> pool_plan(const Node& node, const Tensor& x, bool is_max) {
  const char* what = is_max ? "MaxPool" : "AveragePool";
  SS_RETURN_IF_ERROR(require_nchw(x, what));
  SS_RETURN_IF_ERROR(plan_require_float(x, what));
  if (is_max && node.outputs.size() > 1 && !node.outputs[1].empty()) {
    return unimplemented("MaxPool's second output (Indices) is not supported; only Y");
  }
  int64_t k[2];
  SS_RETURN_IF_ERROR(pool_kernel_shape(node, k));
  const int64_t in[2] = {x.dim(2), x.dim(3)};
  PoolPlan p;
  SS_RETURN_IF_ERROR(window_geometry(node, in, k, node.attr_int("ceil_mode", 0) != 0, &p.g));
  p.out_shape = {x.dim(0), x.dim(1), p.g.out[0], p.g.out[1]};
  p.count_include_pad = node.attr_int("count_include_pad", 0) != 0;
  return p;
}

StatusOr<GlobalPoolPlan> global_pool_plan(const Tensor& x, const char* op) {
  if (x.rank() < 3) {
    return invalid_argument("X " + shape_to_string(x.shape()) + " must have at least 3 dimensions [N, C, spatial...]");
  }
  SS_RETURN_IF_ERROR(plan_require_float(x, op));
  GlobalPoolPlan p;
  p.out_shape = x.shape();
  for (std::size_t k = 2; k < p.out_shape.size(); ++k) {
    p.inner *= p.out_shape[k];
    p.out_shape[k] = 1;
  }
  p.planes = x.dim(0) * x.dim(1);
  return p;
}

namespace {
// Conv's and ConvTranspose's shared checks: a kernel_shape attribute, where given, is W's spatial
// dimensions (at wk, wk + 1), and B is 1-D with one value per output channel (m).
Status conv_kernel_and_bias_check(const Node& node, const Tensor& w, int wk, const Tensor* b, int64_t m) {
  if (const Attribute* ks = node.attr("kernel_shape")) {
    if (ks->ints != std::vector<int64_t>{w.dim(wk), w.dim(wk + 1)}) {
      return invalid_argument("kernel_shape " + shape_to_string(ks->ints) + " does not match W " +
                              shape_to_string(w.shape()));
    }
  }
  if (b && (b->rank() != 1 || b->dim(0) != m)) {
    return invalid_argument("B " + shape_to_string(b->shape()) + " must be 1-D with " + str(m) +
                            " values (one per output channel)");
  }
  return ok_status();
}

// Conv's geometry (ConvInteger's too), X and W of checked ranks and types.
Status conv_geometry(const Node& node, const Tensor* x, const Tensor* w, const Tensor* b, ConvPlan& p) {
  if (const Attribute* layout = node.op_type == "FusedConv" ? node.attr("layout") : nullptr) {
    if (layout->s != "NHWC" && layout->s != "NCHW") return invalid_argument("layout '" + layout->s + "' is not NCHW or NHWC");
    p.nhwc = layout->s == "NHWC";
  }
  // Dimensions of X: channels, then the two spatial ones; of W: input channels per group, kernel.
  const int xc = p.nhwc ? 3 : 1, xs = p.nhwc ? 1 : 2, wc = p.nhwc ? 3 : 1, wk = p.nhwc ? 1 : 2;
  p.group = node.attr_int("group", 1);
  p.n = x->dim(0);
  p.c = x->dim(xc);
  p.m = w->dim(0);
  if (p.group <= 0) return invalid_argument("group " + str(p.group) + " must be positive");
  if (p.c % p.group != 0 || p.m % p.group != 0 || w->dim(wc) * p.group != p.c) {
    return invalid_argument("X has " + str(p.c) + " channels and W " + shape_to_string(w->shape()) + " " + str(p.m) +
                            " output channels of " + str(w->dim(wc)) +
                            " input channels each, which does not fit group " + str(p.group));
  }
  SS_RETURN_IF_ERROR(conv_kernel_and_bias_check(node, *w, wk, b, p.m));
  const int64_t in[2] = {x->dim(xs), x->dim(xs + 1)};
  const int64_t k[2] = {w->dim(wk), w->dim(wk + 1)};
  SS_RETURN_IF_ERROR(window_geometry(node, in, k, false, &p.g));
  p.out_shape = p.nhwc ? Shape{p.n, p.g.out[0], p.g.out[1], p.m} : Shape{p.n, p.m, p.g.out[0], p.g.out[1]};
  return ok_status();
}
}  // namespace

StatusOr<ConvPlan> conv_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* w, plan_required_input(inputs, 1));
  const Tensor* b = inputs.size() > 2 ? inputs[2] : nullptr;
  SS_RETURN_IF_ERROR(require_nchw(*x, "Conv"));
  SS_RETURN_IF_ERROR(plan_require_float(*x, "Conv"));
  if (w->rank() != 4) {
    return invalid_argument("W " + shape_to_string(w->shape()) + " must be 4-D [M, C/group, kH, kW] for 4-D X " +
                            shape_to_string(x->shape()));
  }
  if (w->dtype() != x->dtype() || (b && b->dtype() != x->dtype())) return invalid_argument("input types differ");
  ConvPlan p;
  SS_RETURN_IF_ERROR(conv_geometry(node, x, w, b, p));
  return p;
}

StatusOr<ConvTransposePlan> conv_transpose_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* w, plan_required_input(inputs, 1));
  const Tensor* b = inputs.size() > 2 ? inputs[2] : nullptr;
  SS_RETURN_IF_ERROR(require_nchw(*x, "ConvTranspose"));
  SS_RETURN_IF_ERROR(plan_require_float(*x, "ConvTranspose"));
  if (w->rank() != 4) {
    return invalid_argument("W " + shape_to_string(w->shape()) + " must be 4-D [C, M/group, kH, kW] for 4-D X " +
                            shape_to_string(x->shape()));
  }
  if (w->dtype() != x->dtype() || (b && b->dtype() != x->dtype())) return invalid_argument("input types differ");
  ConvTransposePlan p;
  p.group = node.attr_int("group", 1);
  if (p.group <= 0) return invalid_argument("group " + str(p.group) + " must be positive");
  p.n = x->dim(0);
  p.c = x->dim(1);
  p.m = w->dim(1) * p.group;
  if (w->dim(0) != p.c || p.c % p.group != 0) {
    return invalid_argument("X has " + str(p.c) + " channels and W " + shape_to_string(w->shape()) +
                            " is [C, M/group, kH, kW] for " + str(w->dim(0)) + " input channels, which does not fit group " +
                            str(p.group));
  }
  SS_RETURN_IF_ERROR(conv_kernel_and_bias_check(node, *w, 2, b, p.m));
  std::vector<int64_t> strides, dilations, pads, output_padding;
  SS_RETURN_IF_ERROR(ints_attr(node, "strides", 2, 1, &strides));
  SS_RETURN_IF_ERROR(ints_attr(node, "dilations", 2, 1, &dilations));
  SS_RETURN_IF_ERROR(ints_attr(node, "pads", 4, 0, &pads));
  SS_RETURN_IF_ERROR(ints_attr(node, "output_padding", 2, 0, &output_padding));
  SS_ASSIGN_OR_RETURN(AutoPad auto_pad, read_auto_pad(node));
  const Attribute* output_shape = node.attr("output_shape");
  if (output_shape && output_shape->ints.size() != 2) {
    return invalid_argument("output_shape " + shape_to_string(output_shape->ints) +
                            " must give the 2 spatial dimensions of the output");
  }
  const bool explicit_pads = auto_pad == AutoPad::kNotSet &&
                             std::any_of(pads.begin(), pads.end(), [](int64_t v) { return v != 0; });
  if (output_shape && explicit_pads) {
    return unimplemented("output_shape " + shape_to_string(output_shape->ints) + " together with pads " +
                         shape_to_string(pads) + " (ONNX Runtime ignores the pads, the ONNX reference does not)");
  }
  for (int i = 0; i < 2; ++i) {
    p.in[i] = x->dim(2 + i);
    p.k[i] = w->dim(2 + i);
    p.s[i] = strides[i];
    p.d[i] = dilations[i];
    if (p.k[i] <= 0) return invalid_argument("W " + shape_to_string(w->shape()) + " has an empty kernel");
    if (p.s[i] <= 0) return invalid_argument("strides " + shape_to_string(strides) + " must be positive");
    if (p.d[i] <= 0) return invalid_argument("dilations " + shape_to_string(dilations) + " must be positive");
    if (pads[i] < 0 || pads[i + 2] < 0) return invalid_argument("pads " + shape_to_string(pads) + " must not be negative");
    if (output_padding[i] < 0 || output_padding[i] >= p.s[i]) {
      return invalid_argument("output_padding " + str(output_padding[i]) + " along spatial axis " + str(i) +
                              " must be at least 0 and less than the stride (" + str(p.s[i]) + ")");
    }
    if (p.in[i] == 0) return invalid_argument("X " + shape_to_string(x->shape()) + " has an empty spatial dimension");
    const int64_t full = p.s[i] * (p.in[i] - 1) + output_padding[i] + p.d[i] * (p.k[i] - 1) + 1;
    if (output_shape || auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower) {
      p.out[i] = output_shape ? output_shape->ints[i] : p.in[i] * p.s[i];
      if (p.out[i] <= 0) return invalid_argument("output_shape " + shape_to_string(output_shape->ints) + " must be positive");
      const int64_t total = full - p.out[i];
      if (total >= 0) {
        p.pb[i] = auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
      } else if (auto_pad != AutoPad::kNotSet) {
        return unimplemented("auto_pad " + node.attr("auto_pad")->s + " with an output of " + str(p.out[i]) +
                             " along spatial axis " + str(i) + ", beyond the transposed convolution's full size " +
                             str(full) + " (ONNX Runtime and the ONNX spec disagree on such output; give pads and "
                             "output_padding instead)");
      } else if (const int64_t reach = p.s[i] * (p.in[i] - 1) + p.d[i] * (p.k[i] - 1) + 1; p.out[i] - reach >= p.s[i]) {
        return invalid_argument("output_shape " + shape_to_string(output_shape->ints) + " asks for " + str(p.out[i]) +
                                " along spatial axis " + str(i) + ", a stride (" + str(p.s[i]) +
                                ") or more past the last value the transposed convolution reaches (" + str(reach) + ")");
      } else {
        p.pb[i] = 0;  // the extra at the end, as ONNX Runtime and the ONNX reference place it
      }
    } else {
      p.pb[i] = auto_pad == AutoPad::kValid ? 0 : pads[i];
      const int64_t pe = auto_pad == AutoPad::kValid ? 0 : pads[i + 2];
      p.out[i] = full - p.pb[i] - pe;
      if (p.out[i] <= 0) {
        return invalid_argument("pads " + shape_to_string(pads) + " leave no output along spatial axis " + str(i) +
                                " (the full size is " + str(full) + ")");
      }
    }
  }
  p.out_shape = {p.n, p.m, p.out[0], p.out[1]};
  return p;
}

StatusOr<bool> fused_conv_relu(const Node& node) {
  const Attribute* act = node.attr("activation");
  const std::string kind = act ? act->s : "";
  if (!kind.empty() && kind != "Relu") return unimplemented("FusedConv activation '" + kind + "'");
  return kind == "Relu";
}

// ---- Gemm, FusedGemm, MatMul ----

StatusOr<GemmPlan> gemm_shape_plan(const Node& node, const Shape& a, const Shape& b, const Tensor* c) {
  GemmPlan p;
  p.trans_a = node.attr_int("transA", 0) != 0;
  p.trans_b = node.attr_int("transB", 0) != 0;
  p.alpha = node.attr_float("alpha", 1.0f);
  p.beta = node.attr_float("beta", 1.0f);
  p.m = p.trans_a ? a[1] : a[0];
  p.k = p.trans_a ? a[0] : a[1];
  const int64_t kb = p.trans_b ? b[1] : b[0];
  p.n = p.trans_b ? b[0] : b[1];
  if (p.k != kb) {
    return invalid_argument("A " + shape_to_string(a) + " and B " + shape_to_string(b) + " do not multiply (transA=" +
                            std::to_string(p.trans_a) + ", transB=" + std::to_string(p.trans_b) + ")");
  }
  if (c && p.beta != 0) {
    // Unidirectional broadcast of C to [m, n].
    const Shape& cs = c->shape();
    if (cs.size() > 2) return invalid_argument("C has rank " + std::to_string(cs.size()) + "; Gemm takes rank <= 2");
    p.cm = cs.size() == 2 ? cs[0] : 1;
    p.cn = cs.empty() ? 1 : cs.back();
    if ((p.cm != 1 && p.cm != p.m) || (p.cn != 1 && p.cn != p.n)) {
      return invalid_argument("C " + shape_to_string(cs) + " does not broadcast to [" + str(p.m) + ", " + str(p.n) +
                              "]");
    }
    p.use_c = true;
  }
  return p;
}

StatusOr<GemmPlan> gemm_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, plan_required_input(inputs, 1));
  const Tensor* c = inputs.size() > 2 ? inputs[2] : nullptr;
  if (a->rank() != 2 || b->rank() != 2) {
    return invalid_argument("Gemm takes 2-D A and B, got " + shape_to_string(a->shape()) + " and " +
                            shape_to_string(b->shape()));
  }
  if (a->dtype() != b->dtype() || (c && c->dtype() != a->dtype())) return invalid_argument("input types differ");
  if (!plan_is_float(a->dtype())) return plan_unsupported_type(a->dtype());
  return gemm_shape_plan(node, a->shape(), b->shape(), c);
}

StatusOr<FusedGemmPlan> fused_gemm_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, plan_required_input(inputs, 1));
  const Tensor* c = inputs.size() > 2 ? inputs[2] : nullptr;
  if (a->rank() < 1 || b->rank() != 2) return invalid_argument("FusedGemm takes A of rank >= 1 and a 2-D B");
  if (plan_dtype(a->dtype()) != DType::kFloat32 || b->dtype() != a->dtype()) {
    return unimplemented("FusedGemm runs float32 only");
  }
  if (c && c->dtype() != a->dtype()) return invalid_argument("input types differ");
  FusedGemmPlan p;
  const Attribute* act = node.attr("activation");
  const std::string kind = act ? act->s : "";
  if (kind == "Relu") p.activation = GemmActivation::kRelu;
  else if (kind == "Sigmoid") p.activation = GemmActivation::kSigmoid;
  else if (kind == "Tanh") p.activation = GemmActivation::kTanh;
  else if (kind == "Gelu") p.activation = GemmActivation::kGelu;
  else if (!kind.empty()) return unimplemented("FusedGemm activation '" + kind + "'");
  const Shape lead(a->shape().begin(), a->shape().end() - 1);
  p.a2_shape = {shape_numel(lead), a->dim(a->rank() - 1)};
  SS_ASSIGN_OR_RETURN(p.gemm, gemm_shape_plan(node, p.a2_shape, b->shape(), c));
  p.out_shape = lead;
  p.out_shape.push_back(p.gemm.n);
  // A 1-D A is MatMul's row vector (the fusion pass cannot see ranks): MatMul gives [N], and the
  // Add fused after it broadcasts that with the bias, [N] or [1, N].
  if (a->rank() == 1 && c && c->rank() == 2) p.out_shape.insert(p.out_shape.begin(), 1);
  return p;
}

int64_t MatMulPlan::matrix_of(const Shape& own, int64_t flat) const {
  const std::size_t r = batch.size();
  int64_t off = 0, stride = 1;
  for (std::size_t i = r; i-- > 0;) {
    const int64_t idx = flat % batch[i];
    flat /= batch[i];
    const std::size_t lead = r - own.size();
    if (i >= lead) {
      const int64_t d = own[i - lead];
      off += (d == 1 ? 0 : idx) * stride;
      stride *= d;
    }
  }
  return off;
}

StatusOr<MatMulPlan> matmul_shape_plan(const Shape& a, const Shape& b) {
  Shape as = a, bs = b;
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  if (as.size() < 2 || bs.size() < 2) return invalid_argument("MatMul of scalars is not defined");
  MatMulPlan p;
  p.m = as[as.size() - 2];
  p.k = as.back();
  p.n = bs.back();
  if (p.k != bs[bs.size() - 2]) {
    return invalid_argument("A " + shape_to_string(a) + " and B " + shape_to_string(b) + " do not multiply");
  }
  p.a_batch.assign(as.begin(), as.end() - 2);
  p.b_batch.assign(bs.begin(), bs.end() - 2);
  const std::size_t r = std::max(p.a_batch.size(), p.b_batch.size());
  p.batch.resize(r);
  for (std::size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - p.a_batch.size() ? 1 : p.a_batch[i - (r - p.a_batch.size())];
    const int64_t db = i < r - p.b_batch.size() ? 1 : p.b_batch[i - (r - p.b_batch.size())];
    if (da != db && da != 1 && db != 1) {
      return invalid_argument("batch dimensions of " + shape_to_string(a) + " and " + shape_to_string(b) +
                              " cannot be broadcast");
    }
    p.batch[i] = std::max(da, db);
  }
  p.na = shape_numel(p.a_batch);
  p.nbb = shape_numel(p.b_batch);
  p.nb = shape_numel(p.batch);
  p.out_shape = p.batch;
  if (!a_vec) p.out_shape.push_back(p.m);
  if (!b_vec) p.out_shape.push_back(p.n);
  return p;
}

StatusOr<MatMulPlan> matmul_plan(const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, plan_required_input(inputs, 1));
  if (a->dtype() != b->dtype()) return invalid_argument("input types differ");
  if (!plan_is_float(a->dtype())) return plan_unsupported_type(a->dtype());
  return matmul_shape_plan(a->shape(), b->shape());
}

// ---- MatMulInteger, ConvInteger ----

namespace {

bool is_int8(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

// An operand's zero point (input `index`, `name`): absent, one element (a scalar or [1]), or 1-D
// with `count` elements along the operand's `along` (row, column, output channel), when per_index.
StatusOr<IntZeroPoint> int_zero_point(const std::vector<const Tensor*>& inputs, std::size_t index, const char* name,
                                      DType operand, bool per_index, int64_t count, const char* along) {
  IntZeroPoint z;
  z.t = index < inputs.size() ? inputs[index] : nullptr;
  if (!z.t) return z;
  if (z.t->dtype() != operand) {
    return invalid_argument(std::string(name) + " of type " + seen_name(z.t->dtype()) + " differs from its operand's type " +
                            seen_name(operand));
  }
  if (z.t->numel() == 1 && z.t->rank() <= 1) return z;
  if (per_index && z.t->rank() == 1 && z.t->dim(0) == count) {
    z.stride = 1;
    return z;
  }
  return unimplemented(std::string(name) + " " + shape_to_string(z.t->shape()) + " is not supported (a scalar" +
                       (per_index ? std::string(", or 1-D with one value per ") + along + " (" + str(count) + ")" : "") +
                       ")");
}

}  // namespace

StatusOr<MatMulIntegerPlan> matmul_integer_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, plan_required_input(inputs, 1));
  if (!is_int8(a->dtype()) || !is_int8(b->dtype())) {
    return unimplemented("MatMulInteger of " + seen_name(a->dtype()) + " A and " + seen_name(b->dtype()) +
                         " B is not supported (int8 or uint8 each)");
  }
  MatMulIntegerPlan p;
  SS_ASSIGN_OR_RETURN(p.mm, matmul_shape_plan(a->shape(), b->shape()));
  SS_ASSIGN_OR_RETURN(p.a_zp, int_zero_point(inputs, 2, "a_zero_point", a->dtype(), a->rank() == 2, p.mm.m, "row of A"));
  SS_ASSIGN_OR_RETURN(p.b_zp, int_zero_point(inputs, 3, "b_zero_point", b->dtype(), b->rank() >= 2, p.mm.n, "column of B"));
  p.constant_b = node.attr_int(kConstantWeightAttr, 0) == 1;
  return p;
}

StatusOr<RowQuantizedMatMulPlan> row_quantized_matmul_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* w, plan_required_input(inputs, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* ws, plan_required_input(inputs, 3));
  if (x->dtype() != DType::kFloat32 || ws->dtype() != DType::kFloat32) {
    return unimplemented("RowQuantizedMatMul of " + seen_name(x->dtype()) + " x and " + seen_name(ws->dtype()) +
                         " w_scale is not supported (float32 each)");
  }
  if (!is_int8(w->dtype())) return unimplemented("RowQuantizedMatMul of " + seen_name(w->dtype()) + " w is not supported (int8 or uint8)");
  if (x->rank() < 2 || w->rank() != 2) {
    return invalid_argument("RowQuantizedMatMul takes x of rank >= 2 and a 2-D w; got x " + shape_to_string(x->shape()) +
                            " and w " + shape_to_string(w->shape()));
  }
  RowQuantizedMatMulPlan p;
  p.x = x;
  p.w_scale = ws;
  p.rows = x->dim(0);
  SS_ASSIGN_OR_RETURN(p.mm.mm, matmul_shape_plan(x->shape(), w->shape()));
  SS_ASSIGN_OR_RETURN(p.mm.b_zp, int_zero_point(inputs, 2, "w_zero_point", w->dtype(), true, p.mm.mm.n, "column of w"));
  p.scale_per_column = ws->numel() != 1 || ws->rank() > 1;
  if (p.scale_per_column && (ws->rank() != 1 || ws->dim(0) != p.mm.mm.n)) {
    return invalid_argument("w_scale " + shape_to_string(ws->shape()) + " must be a scalar or [" + str(p.mm.mm.n) + "]");
  }
  p.mm.constant_b = node.attr_int(kConstantWeightAttr, 0) == 1;
  return p;
}

StatusOr<ConvIntegerPlan> conv_integer_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* w, plan_required_input(inputs, 1));
  if (!is_int8(x->dtype()) || !is_int8(w->dtype())) {
    return unimplemented("ConvInteger of " + seen_name(x->dtype()) + " x and " + seen_name(w->dtype()) +
                         " w is not supported (int8 or uint8 each)");
  }
  if (x->rank() != 4) {
    return unimplemented("ConvInteger runs on 2-D spatial input only (NCHW, 4-D x); got x " + shape_to_string(x->shape()));
  }
  if (w->rank() != 4) {
    return invalid_argument("w " + shape_to_string(w->shape()) + " must be 4-D [M, C/group, kH, kW] for 4-D x " +
                            shape_to_string(x->shape()));
  }
  ConvIntegerPlan p;
  SS_RETURN_IF_ERROR(conv_geometry(node, x, w, nullptr, p.conv));
  SS_ASSIGN_OR_RETURN(p.x_zp, int_zero_point(inputs, 2, "x_zero_point", x->dtype(), false, 0, ""));
  SS_ASSIGN_OR_RETURN(p.w_zp, int_zero_point(inputs, 3, "w_zero_point", w->dtype(), true, p.conv.m, "output channel"));
  p.constant_w = node.attr_int(kConstantWeightAttr, 0) == 1;
  return p;
}

// ---- shardscore.Attention ----

StatusOr<AttentionPlan> attention_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* q, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* k, plan_required_input(inputs, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* v, plan_required_input(inputs, 2));
  const Tensor* mask = inputs.size() > 3 ? inputs[3] : nullptr;
  if (k->dtype() != q->dtype() || v->dtype() != q->dtype() || (mask && mask->dtype() != q->dtype())) {
    return invalid_argument("input types differ");
  }
  if (plan_dtype(q->dtype()) != DType::kFloat32) return unimplemented("Attention runs float32 only");
  if (q->rank() != 4 || k->rank() != 4 || v->rank() != 4) {
    return invalid_argument("Attention takes Q, K, V of rank 4 ([batch, sequence, heads, head size]), got " +
                            shape_to_string(q->shape()) + ", " + shape_to_string(k->shape()) + ", " +
                            shape_to_string(v->shape()));
  }
  AttentionPlan p;
  p.batch = q->dim(0);
  p.q_len = q->dim(1);
  p.heads = q->dim(2);
  p.head_dim = q->dim(3);
  p.keys_transposed = node.attr_int("keys_transposed", 0) != 0;
  p.nan_to_zero = node.attr_int("nan_to_zero", 0) != 0;
  p.kv_len = k->dim(p.keys_transposed ? 3 : 1);
  p.v_dim = v->dim(3);
  p.k_batch = k->dim(0);
  p.k_heads = k->dim(p.keys_transposed ? 1 : 2);
  p.v_batch = v->dim(0);
  p.v_heads = v->dim(2);
  const int64_t k_head_dim = k->dim(p.keys_transposed ? 2 : 3);
  auto shared = [](int64_t own, int64_t q) { return own == q || own == 1; };
  if (!shared(p.k_batch, p.batch) || !shared(p.k_heads, p.heads) || k_head_dim != p.head_dim ||
      !shared(p.v_batch, p.batch) || v->dim(1) != p.kv_len || !shared(p.v_heads, p.heads)) {
    return invalid_argument("Q " + shape_to_string(q->shape()) + ", K " + shape_to_string(k->shape()) + " and V " +
                            shape_to_string(v->shape()) + " do not agree on batch, heads, head size and sequence");
  }
  p.scale = node.attr_float("scale", 1.0f);
  p.divide = node.attr_int("scale_divides", 0) != 0;
  if (mask) {
    const Shape full{p.batch, p.heads, p.q_len, p.kv_len};
    const Shape& ms = mask->shape();
    if (ms.size() > 4) return invalid_argument("mask " + shape_to_string(ms) + " has rank above 4");
    int64_t stride = 1;
    for (std::size_t i = ms.size(); i-- > 0;) {
      const std::size_t at = 4 - ms.size() + i;
      if (ms[i] != 1 && ms[i] != full[at]) {
        return invalid_argument("mask " + shape_to_string(ms) + " does not broadcast to the scores " +
                                shape_to_string(full));
      }
      p.mask_strides[at] = ms[i] == 1 ? 0 : stride;
      stride *= ms[i];
    }
    p.has_mask = true;
  }
  p.out_shape = {p.batch, p.q_len, p.heads, p.v_dim};
  return p;
}

}  // namespace shardscore
