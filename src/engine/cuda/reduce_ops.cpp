// CUDA reductions, normalization and pooling: the host side of kernels/reduce_ops.cu. Each
// function validates as its CPU function does (src/engine/cpu/softmax.cpp, normalization.cpp,
// reduce.cpp, nn.cpp), with the same messages.
//
// The CPU runs these ops on float16 through op_run_cpu: float16 inputs widened to float32, float32
// outputs rounded back to float16. So here a float16 input validates as float32, outputs are
// float16 whenever an input is, and an op that mixes float16 with float32 inputs widens the
// float16 ones and narrows its results (a rare case; all-float16 runs the kernels on float16).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/cuda_util.h"
#include "kernels/reduce_ops.h"

namespace shardscore {
namespace {

using kernels::Elem;

std::string str(int64_t v) { return std::to_string(v); }

// The type the CPU function sees.
DType seen(DType t) { return t == DType::kFloat16 ? DType::kFloat32 : t; }
std::string seen_name(DType t) { return std::string(dtype_name(seen(t))); }

bool is_float(DType t) { return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16; }

Status unsupported_type(DType t) { return unimplemented("element type " + seen_name(t) + " is not supported"); }

// Inputs of which some are float16 and some float32: the float16 ones become float32 copies in
// scratch (pointers replaced), and the op computes in float32.
bool mixed_half(const std::vector<const Tensor*>& ts) {
  bool half = false, other = false;
  for (const Tensor* t : ts) {
    if (!t) continue;
    (t->dtype() == DType::kFloat16 ? half : other) = true;
  }
  return half && other;
}

Status widen_if_half(CudaOpContext& ctx, const Tensor* t, const void** p) {
  if (!t || t->dtype() != DType::kFloat16 || t->numel() == 0) return ok_status();
  void* w = ctx.scratch(static_cast<std::size_t>(t->numel()) * sizeof(float));
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_widen_f16(t->raw(), w, t->numel(), ctx.lane.stream));
  *p = w;
  return ok_status();
}

// Where a float32 result goes: straight into `out`, or (out float16) into float32 scratch that
// narrow() then rounds into it.
void* result_buffer(CudaOpContext& ctx, Tensor& out) {
  if (out.dtype() != DType::kFloat16 || out.numel() == 0) return out.raw();
  return ctx.scratch(static_cast<std::size_t>(out.numel()) * sizeof(float));
}
Status narrow(CudaOpContext& ctx, const void* buf, Tensor& out) {
  if (buf == out.raw()) return ok_status();
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_narrow_f32(buf, out.raw(), out.numel(), ctx.lane.stream));
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// Reductions

StatusOr<kernels::ReduceGeometry> reduce_geometry(const Shape& s, const std::vector<bool>& reduced) {
  kernels::ReduceGeometry g;
  const int64_t r = static_cast<int64_t>(s.size());
  std::vector<int64_t> stride(static_cast<std::size_t>(r), 1);
  for (int64_t k = r - 1; k > 0; --k) stride[k - 1] = stride[k] * s[k];
  // Size-1 dimensions dropped, neighbours of one kind merged (adjacent dimensions are contiguous).
  int last = -1;  // 0 kept, 1 reduced
  for (int64_t k = 0; k < r; ++k) {
    if (s[k] == 1) continue;
    const int kind = reduced[k] ? 1 : 0;
    int& rank = kind ? g.red_rank : g.kept_rank;
    int64_t* dims = kind ? g.red_dims : g.kept_dims;
    int64_t* strides = kind ? g.red_strides : g.kept_strides;
    if (kind == last) {
      dims[rank - 1] *= s[k];
      strides[rank - 1] = stride[k];
      continue;
    }
    if (rank == kernels::kMaxRank) {
      return invalid_argument("shape " + shape_to_string(s) + " splits into more than " + str(kernels::kMaxRank) +
                              " runs of kept or reduced dimensions, above the CUDA backend's limit");
    }
    dims[rank] = s[k];
    strides[rank] = stride[k];
    ++rank;
    last = kind;
  }
  return g;
}

Status reduce(CudaOpContext& ctx, kernels::ReduceKind kind, int axes_input_from) {
  using kernels::ReduceKind;
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  const DType dt = x->dtype();
  const DType st = seen(dt);
  const bool float_seen = st == DType::kFloat32 || st == DType::kFloat64;
  const bool supported = kind == ReduceKind::kMean  ? float_seen
                         : kind == ReduceKind::kSum ? st != DType::kBool && st != DType::kFloat16
                                                    : st != DType::kFloat16;
  if (!supported || dt == DType::kUndefined) return unsupported_type(dt);

  const Node& n = ctx.node;
  std::vector<int64_t> axes;
  bool noop_with_empty = false;
  if (n.opset >= axes_input_from) {
    noop_with_empty = n.attr_int("noop_with_empty_axes", 0) != 0;
    if (const Tensor* a = ctx.input(1)) {  // a host tensor (cuda_host_inputs)
      if (a->dtype() != DType::kInt64 || a->rank() > 1) {
        return invalid_argument("axes must be a 1-D int64 tensor, got " + std::string(dtype_name(a->dtype())) + " " +
                                shape_to_string(a->shape()));
      }
      axes.assign(a->data<int64_t>(), a->data<int64_t>() + a->numel());
    }
  } else if (const Attribute* a = n.attr("axes"); a && a->type == Attribute::Type::kInts) {
    axes = a->ints;
  }
  if (axes.empty() && noop_with_empty) {
    ctx.outputs[0] = *x;
    return ok_status();
  }
  const int64_t r = x->rank();
  std::vector<bool> reduced(static_cast<std::size_t>(r), axes.empty());
  for (int64_t a : axes) {
    SS_ASSIGN_OR_RETURN(int64_t k, cpu_normalize_axis(a, r));
    if (reduced[k]) return invalid_argument("axis " + str(a) + " appears more than once in axes");
    reduced[k] = true;
  }
  const bool keepdims = n.attr_int("keepdims", 1) != 0;
  Shape out_shape;
  for (int64_t k = 0; k < r; ++k) {
    if (!reduced[k]) out_shape.push_back(x->dim(k));
    else if (keepdims) out_shape.push_back(1);
  }
  SS_ASSIGN_OR_RETURN(kernels::ReduceGeometry g, reduce_geometry(x->shape(), reduced));
  Tensor y(dt, out_shape);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_reduce(kind, cuda_elem(dt), x->raw(), y.raw(), g, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization

StatusOr<kernels::NormOperand> norm_operand(const Tensor* t, const void* data, const Tensor& x, int64_t axis,
                                            int64_t inner, const char* name) {
  kernels::NormOperand op;
  if (!t) return op;
  op.data = data;
  if (seen(t->dtype()) != seen(x.dtype())) {
    return invalid_argument(std::string(name) + " is " + seen_name(t->dtype()) + " but X is " + seen_name(x.dtype()));
  }
  bool ok = t->rank() <= x.rank();
  for (int64_t k = 0; ok && k < t->rank(); ++k) {
    const int64_t d = t->dim(k), xd = x.dim(x.rank() - t->rank() + k);
    ok = d == xd || d == 1;
  }
  if (!ok) {
    return invalid_argument(std::string(name) + " of shape " + shape_to_string(t->shape()) +
                            " does not broadcast to X's shape " + shape_to_string(x.shape()));
  }
  // Per column when it is constant along the dimensions before axis and holds one row.
  const int64_t lead = x.rank() - t->rank();
  bool outer_zero = true;
  for (int64_t k = std::max<int64_t>(lead, 0); k < axis; ++k) outer_zero = outer_zero && t->dim(k - lead) == 1;
  op.per_column = outer_zero && t->numel() == inner;
  if (!op.per_column) {
    SS_ASSIGN_OR_RETURN(op.index, cuda_strided_index(t->shape(), x.shape()));
  }
  return op;
}

// ---------------------------------------------------------------------------------------------
// Pools: window geometry as nn.cpp computes it (2-D spatial, NCHW).

// The CPU's window geometry (nn.cpp), in the kernels' terms.
Status window_geometry(const Node& node, const int64_t in[2], const int64_t k[2], bool ceil_mode,
                       kernels::PoolGeometry* g) {
  Window2d w;
  SS_RETURN_IF_ERROR(shardscore::window_geometry(node, in, k, ceil_mode, &w));
  for (int i = 0; i < 2; ++i) {
    g->k[i] = w.k[i];
    g->s[i] = w.s[i];
    g->d[i] = w.d[i];
    g->pb[i] = w.pb[i];
  }
  g->oh = w.out[0];
  g->ow = w.out[1];
  return ok_status();
}

// float32, float64, and float16 (which the CPU widens to float32).
Status require_float_or_half(const Tensor& x, const char* what) {
  if (is_float(x.dtype())) return ok_status();
  return unimplemented(std::string(what) + " element type " + seen_name(x.dtype()) + " is not supported");
}

Status pool_kernel(const Node& node, int64_t k[2]) {
  const Attribute* a = node.attr("kernel_shape");
  if (!a) return invalid_argument("the kernel_shape attribute is required");
  if (a->ints.size() != 2) {
    return invalid_argument("kernel_shape " + shape_to_string(a->ints) + " must have 2 values for 4-D NCHW input");
  }
  k[0] = a->ints[0];
  k[1] = a->ints[1];
  return ok_status();
}

Status pool(CudaOpContext& ctx, bool is_max) {
  const char* what = is_max ? "MaxPool" : "AveragePool";
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_RETURN_IF_ERROR(shardscore::require_nchw(*x, what));
  SS_RETURN_IF_ERROR(require_float_or_half(*x, what));
  if (is_max && ctx.node.outputs.size() > 1 && !ctx.node.outputs[1].empty()) {
    return unimplemented("MaxPool's second output (Indices) is not supported; only Y");
  }
  int64_t k[2];
  SS_RETURN_IF_ERROR(pool_kernel(ctx.node, k));
  const int64_t in[2] = {x->dim(2), x->dim(3)};
  kernels::PoolGeometry g;
  SS_RETURN_IF_ERROR(window_geometry(ctx.node, in, k, ctx.node.attr_int("ceil_mode", 0) != 0, &g));
  g.planes = x->dim(0) * x->dim(1);
  g.h = in[0];
  g.w = in[1];
  Tensor y(x->dtype(), {x->dim(0), x->dim(1), g.oh, g.ow});
  const bool include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
  const Elem e = cuda_elem(x->dtype());
  if (is_max) {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_max_pool(e, x->raw(), y.raw(), g, ctx.lane.stream));
  } else {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_average_pool(e, x->raw(), y.raw(), g, include_pad, ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Status cuda_softmax(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  const bool legacy = ctx.node.opset < 13;
  SS_ASSIGN_OR_RETURN(int64_t axis, cpu_normalize_axis(ctx.node.attr_int("axis", legacy ? 1 : -1), x->rank()));
  int64_t outer = 1, dim = 1, inner = 1;
  for (int64_t k = 0; k < x->rank(); ++k) {
    if (k < axis) outer *= x->dim(k);
    else if (k == axis || legacy) dim *= x->dim(k);
    else inner *= x->dim(k);
  }
  Tensor y(x->dtype(), x->shape());
  if (x->numel() > 0) {
    if (!is_float(x->dtype())) return unsupported_type(x->dtype());
    SS_LAUNCH_RETURN_IF_ERROR(
        kernels::launch_softmax(cuda_elem(x->dtype()), x->raw(), y.raw(), outer, dim, inner, ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_layer_normalization(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* scale_t, cuda_required_input(ctx, 1));
  const Tensor* bias_t = ctx.input(2);
  if (!is_float(x->dtype())) return unsupported_type(x->dtype());
  if (x->rank() == 0) return invalid_argument("X must have rank >= 1, got a scalar");
  SS_ASSIGN_OR_RETURN(int64_t axis, cpu_normalize_axis(ctx.node.attr_int("axis", -1), x->rank()));
  if (const int64_t stash = ctx.node.attr_int("stash_type", 1); stash != 1) {
    return unimplemented("stash_type " + std::to_string(stash) + " is not supported (only 1, float32)");
  }
  const double eps = static_cast<double>(ctx.node.attr_float("epsilon", 1e-5f));
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < x->rank(); ++k) (k < axis ? outer : inner) *= x->dim(k);

  const bool mixed = mixed_half({x, scale_t, bias_t});
  const void* px = x->raw();
  const void* ps = scale_t->raw();
  const void* pb = bias_t ? bias_t->raw() : nullptr;
  SS_ASSIGN_OR_RETURN(kernels::NormOperand scale, norm_operand(scale_t, ps, *x, axis, inner, "Scale"));
  SS_ASSIGN_OR_RETURN(kernels::NormOperand bias, norm_operand(bias_t, pb, *x, axis, inner, "B"));
  if (mixed) {
    SS_RETURN_IF_ERROR(widen_if_half(ctx, x, &px));
    SS_RETURN_IF_ERROR(widen_if_half(ctx, scale_t, &scale.data));
    if (bias_t) SS_RETURN_IF_ERROR(widen_if_half(ctx, bias_t, &bias.data));
  }
  const bool any_half = x->dtype() == DType::kFloat16 || scale_t->dtype() == DType::kFloat16 ||
                        (bias_t && bias_t->dtype() == DType::kFloat16);
  // seen(X) is float32 whenever an input is float16 (else the operand check above failed).
  const DType out_t = any_half ? DType::kFloat16 : x->dtype();
  const DType stat_t = any_half ? DType::kFloat16 : DType::kFloat32;

  Tensor y(out_t, x->shape());
  Shape stat_shape = x->shape();
  for (int64_t k = axis; k < x->rank(); ++k) stat_shape[k] = 1;
  Tensor mean, inv;
  if (ctx.outputs.size() > 1) mean = Tensor(stat_t, stat_shape);
  if (ctx.outputs.size() > 2) inv = Tensor(stat_t, stat_shape);
  void* py = mixed ? result_buffer(ctx, y) : y.raw();
  void* pm = mean.empty() ? nullptr : mixed ? result_buffer(ctx, mean) : mean.raw();
  void* pi = inv.empty() ? nullptr : mixed ? result_buffer(ctx, inv) : inv.raw();
  const Elem e = mixed ? Elem::kF32 : cuda_elem(x->dtype());
  SS_LAUNCH_RETURN_IF_ERROR(
      kernels::launch_layer_norm(e, px, scale, bias, py, pm, pi, outer, inner, eps, ctx.lane.stream));
  if (mixed) {
    SS_RETURN_IF_ERROR(narrow(ctx, py, y));
    if (pm) SS_RETURN_IF_ERROR(narrow(ctx, pm, mean));
    if (pi) SS_RETURN_IF_ERROR(narrow(ctx, pi, inv));
  }
  ctx.outputs[0] = std::move(y);
  if (!mean.empty()) ctx.outputs[1] = std::move(mean);
  if (!inv.empty()) ctx.outputs[2] = std::move(inv);
  return ok_status();
}

Status cuda_reduce_mean(CudaOpContext& ctx) { return reduce(ctx, kernels::ReduceKind::kMean, 18); }
Status cuda_reduce_sum(CudaOpContext& ctx) { return reduce(ctx, kernels::ReduceKind::kSum, 13); }
Status cuda_reduce_max(CudaOpContext& ctx) { return reduce(ctx, kernels::ReduceKind::kMax, 18); }

Status cuda_argmax(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
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
  if (x->dtype() == DType::kUndefined) return unsupported_type(x->dtype());
  Tensor y(DType::kInt64, out);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_argmax(cuda_elem(x->dtype()), x->raw(), y.data<int64_t>(), outer, dim,
                                                   inner, last, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_batch_normalization(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  if (ctx.node.attr_int("training_mode", 0) != 0) {
    return unimplemented("BatchNormalization with training_mode=1 is not supported (inference only)");
  }
  for (std::size_t k = 1; k < ctx.node.outputs.size(); ++k) {
    if (!ctx.node.outputs[k].empty()) {
      return unimplemented("BatchNormalization output " + str(static_cast<int64_t>(k)) +
                           " (running or saved statistics) is not supported; inference mode gives only Y");
    }
  }
  if (x->rank() < 2)
    return invalid_argument("X " + shape_to_string(x->shape()) + " must have at least 2 dimensions [N, C, ...]");
  SS_RETURN_IF_ERROR(require_float_or_half(*x, "BatchNormalization"));
  const int64_t c = x->dim(1);
  const char* names[] = {"scale", "B", "input_mean", "input_var"};
  const Tensor* p[4];
  for (std::size_t i = 0; i < 4; ++i) {
    SS_ASSIGN_OR_RETURN(p[i], cuda_required_input(ctx, i + 1));
    if (p[i]->rank() != 1 || p[i]->dim(0) != c) {
      return invalid_argument(std::string(names[i]) + " " + shape_to_string(p[i]->shape()) + " must be 1-D with " +
                              str(c) + " values (one per channel)");
    }
    if (seen(p[i]->dtype()) != seen(x->dtype())) {
      return unimplemented(std::string(names[i]) + " of type " + seen_name(p[i]->dtype()) + " with X of type " +
                           seen_name(x->dtype()) + " is not supported");
    }
  }
  const double eps = static_cast<double>(ctx.node.attr_float("epsilon", 1e-5f));
  const int64_t n = x->dim(0);
  const int64_t inner = c == 0 || n == 0 ? 0 : x->numel() / (n * c);

  const bool mixed = mixed_half({x, p[0], p[1], p[2], p[3]});
  const bool any_half = std::any_of(p, p + 4, [](const Tensor* t) { return t->dtype() == DType::kFloat16; }) ||
                        x->dtype() == DType::kFloat16;
  Tensor y(any_half ? DType::kFloat16 : x->dtype(), x->shape());
  if (y.numel() > 0) {
    const void* px = x->raw();
    const void* pp[4] = {p[0]->raw(), p[1]->raw(), p[2]->raw(), p[3]->raw()};
    void* py = y.raw();
    if (mixed) {
      SS_RETURN_IF_ERROR(widen_if_half(ctx, x, &px));
      for (int i = 0; i < 4; ++i) SS_RETURN_IF_ERROR(widen_if_half(ctx, p[i], &pp[i]));
      py = result_buffer(ctx, y);
    }
    void* scratch = ctx.scratch(static_cast<std::size_t>(kernels::batch_norm_scratch_bytes(c)));
    const Elem e = mixed ? Elem::kF32 : cuda_elem(x->dtype());
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_batch_norm(e, px, pp[0], pp[1], pp[2], pp[3], py, n, c, inner, eps,
                                                         scratch, ctx.lane.stream));
    if (mixed) SS_RETURN_IF_ERROR(narrow(ctx, py, y));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_max_pool(CudaOpContext& ctx) { return pool(ctx, true); }
Status cuda_average_pool(CudaOpContext& ctx) { return pool(ctx, false); }

Status cuda_global_average_pool(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  if (x->rank() < 3) {
    return invalid_argument("X " + shape_to_string(x->shape()) + " must have at least 3 dimensions [N, C, spatial...]");
  }
  SS_RETURN_IF_ERROR(require_float_or_half(*x, "GlobalAveragePool"));
  Shape os = x->shape();
  std::vector<bool> reduced(os.size(), false);
  for (std::size_t k = 2; k < os.size(); ++k) {
    os[k] = 1;
    reduced[k] = true;
  }
  // The mean of each plane: a ReduceMean over the trailing dimensions.
  SS_ASSIGN_OR_RETURN(kernels::ReduceGeometry g, reduce_geometry(x->shape(), reduced));
  Tensor y(x->dtype(), os);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_reduce(kernels::ReduceKind::kMean, cuda_elem(x->dtype()), x->raw(),
                                                   y.raw(), g, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore
