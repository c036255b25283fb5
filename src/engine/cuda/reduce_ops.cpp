// CUDA reductions, normalization and pooling: the host side of kernels/reduce_ops.cu. Checks,
// output types and shapes, and each op's plan come from engine/op_plans_nn.h, shared with the CPU
// functions (src/engine/cpu/softmax.cpp, normalization.cpp, reduce.cpp, nn.cpp).
//
// The CPU runs these ops on float16 through op_run_cpu: float16 inputs widened to float32, float32
// outputs rounded back to float16 when the op's first float input (X, its T) is float16. So here a
// float16 input validates as float32, Y takes X's type, and an op that mixes float16 with float32
// inputs widens the float16 ones and narrows its results when X is float16 (a rare case;
// all-float16 runs the kernels on float16).
// bfloat16 goes exactly the same way (dtype_is_half: float16 or bfloat16).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cpu/float16.h"
#include "engine/cuda/cuda_util.h"
#include "engine/op_plans_elementwise.h"
#include "engine/op_plans_tensor.h"
#include "kernels/reduce_ops.h"
#include "kernels/tensor_ops.h"

namespace shardscore {
namespace {

using kernels::Elem;

std::string str(int64_t v) { return std::to_string(v); }

// Inputs of which some are float16 / bfloat16 and not all of one type (float32 beside them, or
// float16 beside bfloat16): the 16-bit ones become float32 copies in scratch (pointers replaced),
// and the op computes in float32.
bool mixed_half(const std::vector<const Tensor*>& ts) {
  bool half = false, differ = false;
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t) continue;
    if (dtype_is_half(t->dtype())) half = true;
    if (!first) first = t;
    else if (t->dtype() != first->dtype()) differ = true;
  }
  return half && differ;
}

Status widen_if_half(CudaOpContext& ctx, const Tensor* t, const void** p) {
  if (!t || !dtype_is_half(t->dtype()) || t->numel() == 0) return ok_status();
  void* w = ctx.scratch(static_cast<std::size_t>(t->numel()) * sizeof(float));
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_widen_to_f32(cuda_elem(t->dtype()), t->raw(), w, t->numel(), ctx.lane.stream));
  *p = w;
  return ok_status();
}

// Where a float32 result goes: straight into `out`, or (out float16 / bfloat16) into float32
// scratch that narrow() then rounds into it.
void* result_buffer(CudaOpContext& ctx, Tensor& out) {
  if (!dtype_is_half(out.dtype()) || out.numel() == 0) return out.raw();
  return ctx.scratch(static_cast<std::size_t>(out.numel()) * sizeof(float));
}
Status narrow(CudaOpContext& ctx, const void* buf, Tensor& out) {
  if (buf == out.raw()) return ok_status();
  SS_LAUNCH_RETURN_IF_ERROR(
      kernels::launch_narrow_f32_to(cuda_elem(out.dtype()), buf, out.raw(), out.numel(), ctx.lane.stream));
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

Status reduce(CudaOpContext& ctx, ReduceOp op, kernels::ReduceKind kind) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(ReducePlan p, reduce_plan(ctx.node, ctx.inputs, op));
  if (p.noop) {
    ctx.outputs[0] = *x;
    return ok_status();
  }
  const DType dt = x->dtype();
  SS_ASSIGN_OR_RETURN(kernels::ReduceGeometry g, reduce_geometry(x->shape(), p.reduced));
  Tensor y(dt, p.out_shape);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_reduce(kind, cuda_elem(dt), x->raw(), y.raw(), g, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization

// Scale or B as the kernel reads it (checked by layer_norm_plan).
StatusOr<kernels::NormOperand> norm_operand(const Tensor* t, const NormOperandPlan& plan, const Tensor& x) {
  kernels::NormOperand op;
  if (!t) return op;
  op.data = t->raw();
  op.layout = plan.per_column ? kernels::NormLayout::kPerColumn : kernels::NormLayout::kStrided;
  if (!plan.per_column) {
    SS_ASSIGN_OR_RETURN(op.index, cuda_strided_index(t->shape(), x.shape()));
  }
  return op;
}

// ---------------------------------------------------------------------------------------------
// Pools: window geometry as nn.cpp computes it (2-D spatial, NCHW).

Status pool(CudaOpContext& ctx, bool is_max) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(PoolPlan p, pool_plan(ctx.node, *x, is_max));
  kernels::PoolGeometry g;
  for (int i = 0; i < 2; ++i) {
    g.k[i] = p.g.k[i];
    g.s[i] = p.g.s[i];
    g.d[i] = p.g.d[i];
    g.pb[i] = p.g.pb[i];
    g.pe[i] = p.g.pe[i];
  }
  g.oh = p.g.out[0];
  g.ow = p.g.out[1];
  g.planes = x->dim(0) * x->dim(1);
  g.h = x->dim(2);
  g.w = x->dim(3);
  Tensor y(x->dtype(), p.out_shape);
  const Elem e = cuda_elem(x->dtype());
  if (is_max) {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_max_pool(e, x->raw(), y.raw(), g, ctx.lane.stream));
  } else {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_average_pool(e, x->raw(), y.raw(), g, p.count_include_pad, ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Status cuda_softmax(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(SoftmaxPlan p, softmax_plan(ctx.node, *x));
  Tensor y(x->dtype(), x->shape());
  if (x->numel() > 0) {
    SS_LAUNCH_RETURN_IF_ERROR(
        kernels::launch_softmax(cuda_elem(x->dtype()), x->raw(), y.raw(), p.outer, p.dim, p.inner, ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_log_softmax(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(SoftmaxPlan p, softmax_plan(ctx.node, *x));
  Tensor y(x->dtype(), x->shape());
  if (x->numel() > 0) {
    SS_LAUNCH_RETURN_IF_ERROR(
        kernels::launch_log_softmax(cuda_elem(x->dtype()), x->raw(), y.raw(), p.outer, p.dim, p.inner, ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

namespace {
// LayerNormalization of ctx's inputs (X, Scale, B), or of X + x2 when x2 (X's type and shape) is
// given: the sum taken in the kernel, never written.
Status layer_norm(CudaOpContext& ctx, const Tensor* x2) {
  SS_ASSIGN_OR_RETURN(LayerNormPlan p, layer_norm_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  const Tensor* scale_t = ctx.inputs[1];
  const Tensor* bias_t = ctx.input(2);
  const bool mixed = mixed_half({x, scale_t, bias_t});
  const void* px = x->raw();
  const void* px2 = x2 ? x2->raw() : nullptr;
  SS_ASSIGN_OR_RETURN(kernels::NormOperand scale, norm_operand(scale_t, p.scale, *x));
  SS_ASSIGN_OR_RETURN(kernels::NormOperand bias, norm_operand(bias_t, p.bias, *x));
  if (mixed) {
    SS_RETURN_IF_ERROR(widen_if_half(ctx, x, &px));
    if (x2) SS_RETURN_IF_ERROR(widen_if_half(ctx, x2, &px2));
    SS_RETURN_IF_ERROR(widen_if_half(ctx, scale_t, &scale.data));
    if (bias_t) SS_RETURN_IF_ERROR(widen_if_half(ctx, bias_t, &bias.data));
  }
  Tensor y(x->dtype(), x->shape());  // ONNX's T (X's), as op_run_cpu types it; not plan.y_dtype
  Tensor mean, inv;
  if (ctx.outputs.size() > 1) mean = Tensor(p.stat_dtype, p.stat_shape);
  if (ctx.outputs.size() > 2) inv = Tensor(p.stat_dtype, p.stat_shape);
  void* py = mixed ? result_buffer(ctx, y) : y.raw();
  void* pm = mean.empty() ? nullptr : mean.raw();  // float32 whatever X is
  void* pi = inv.empty() ? nullptr : inv.raw();
  const Elem e = mixed ? Elem::kF32 : cuda_elem(x->dtype());
  SS_LAUNCH_RETURN_IF_ERROR(
      kernels::launch_layer_norm(e, px, px2, scale, bias, py, pm, pi, p.outer, p.inner, p.eps, ctx.lane.stream));
  if (mixed) {
    SS_RETURN_IF_ERROR(narrow(ctx, py, y));
  }
  ctx.outputs[0] = std::move(y);
  if (!mean.empty()) ctx.outputs[1] = std::move(mean);
  if (!inv.empty()) ctx.outputs[2] = std::move(inv);
  return ok_status();
}
}  // namespace

Status cuda_layer_normalization(CudaOpContext& ctx) { return layer_norm(ctx, nullptr); }

namespace {
// InstanceNormalization's and GroupNormalization's launch: LayerNormalization's kernel over the
// `outer` rows of `inner` elements of X (input 0), with scale and B (inputs 1 and 2) read as the
// caller's operands say (their data set here); float16 beside float32 runs on float32 copies.
Status normalize_rows(CudaOpContext& ctx, kernels::NormOperand scale, kernels::NormOperand bias, int64_t outer, int64_t inner,
                      double eps) {
  const Tensor* x = ctx.inputs[0];
  const Tensor* scale_t = ctx.inputs[1];
  const Tensor* bias_t = ctx.inputs[2];
  const bool mixed = mixed_half({x, scale_t, bias_t});
  const void* px = x->raw();
  scale.data = scale_t->raw();
  bias.data = bias_t->raw();
  if (mixed) {
    SS_RETURN_IF_ERROR(widen_if_half(ctx, x, &px));
    SS_RETURN_IF_ERROR(widen_if_half(ctx, scale_t, &scale.data));
    SS_RETURN_IF_ERROR(widen_if_half(ctx, bias_t, &bias.data));
  }
  Tensor y(x->dtype(), x->shape());  // ONNX's T (X's), as op_run_cpu types it; not the plan's y_dtype
  void* py = mixed ? result_buffer(ctx, y) : y.raw();
  const Elem e = mixed ? Elem::kF32 : cuda_elem(x->dtype());
  SS_LAUNCH_RETURN_IF_ERROR(
      kernels::launch_layer_norm(e, px, nullptr, scale, bias, py, nullptr, nullptr, outer, inner, eps, ctx.lane.stream));
  if (mixed) {
    SS_RETURN_IF_ERROR(narrow(ctx, py, y));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}
}  // namespace

// InstanceNormalization: LayerNormalization's kernel over the N * C rows of the spatial elements
// (statistics in double), scale and B read once per row: element c of row n * C + c (kPerRow,
// period C).
Status cuda_instance_normalization(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(InstanceNormPlan p, instance_norm_plan(ctx.node, ctx.inputs));
  kernels::NormOperand scale, bias;
  scale.layout = bias.layout = kernels::NormLayout::kPerRow;
  scale.period = bias.period = p.c;
  return normalize_rows(ctx, scale, bias, p.n * p.c, p.spatial, p.eps);
}

// GroupNormalization: LayerNormalization's kernel over the N * G rows of a group's channels
// (statistics in double); scale and bias per group (opset 18: element r % G of row r, kPerRow) or
// per channel (21: read through X's index space as a [C, 1, ...] operand, kStrided).
Status cuda_group_normalization(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(GroupNormPlan p, group_norm_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  kernels::NormOperand scale, bias;
  if (p.per_channel) {
    Shape as_channels(static_cast<std::size_t>(x->rank() - 1), 1);  // [C, 1, ...]: broadcast along N and the spatial axes
    as_channels[0] = p.c;
    scale.layout = bias.layout = kernels::NormLayout::kStrided;
    SS_ASSIGN_OR_RETURN(scale.index, cuda_strided_index(as_channels, x->shape()));
    bias.index = scale.index;
  } else {
    scale.layout = bias.layout = kernels::NormLayout::kPerRow;
    scale.period = bias.period = p.groups;
  }
  return normalize_rows(ctx, scale, bias, p.n * p.groups, p.c / p.groups * p.spatial, p.eps);
}

// LRN: one kernel, every float type as stored (float16 and bfloat16 loaded into double, rounded
// through float32 as the CPU's widened float32 result is).
Status cuda_lrn(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(LrnPlan p, lrn_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  Tensor y(p.y_dtype, x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_lrn(cuda_elem(x->dtype()), x->raw(), y.raw(), p.n, p.c, p.spatial, p.before,
                                                p.after, p.alpha_over_size, p.beta, p.bias, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// shardscore.AddLayerNormalization (pass_fuse_add_layer_norm): LayerNormalization of A + B, both
// read by the kernel, which sums them in the compute type (float32 for the 2-byte types, as the CPU
// does: the sum is never rounded to them). An operand broadcast to the other's shape (BERT's
// embeddings: positions [1, S, H] plus tokens) is first copied out to that shape.
Status cuda_add_layer_normalization(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, cuda_required_input(ctx, 1));
  SS_ASSIGN_OR_RETURN(BinaryPlan sum, arith_binary_plan({a, b}));  // Add's checks and messages
  CudaOpContext norm(ctx.node, ctx.lane, ctx.step());
  norm.outputs.resize(1);
  Tensor full[2];  // operands copied out to the sum's shape; alive until the kernel is enqueued
  const Tensor* operand[2] = {a, b};
  for (int k = 0; k < 2; ++k) {
    if (operand[k]->shape() == sum.shape) continue;
    SS_ASSIGN_OR_RETURN(kernels::StridedIndex ix, cuda_strided_index(operand[k]->shape(), sum.shape));
    full[k] = Tensor(operand[k]->dtype(), sum.shape);
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_strided_copy(static_cast<int>(dtype_size(full[k].dtype())),
                                                           operand[k]->raw(), 0, ix, full[k].raw(), full[k].numel(),
                                                           ctx.lane.stream));
    operand[k] = &full[k];
  }
  norm.inputs = {operand[0], ctx.input(2), ctx.input(3)};
  SS_RETURN_IF_ERROR(layer_norm(norm, operand[1]));
  ctx.outputs[0] = std::move(norm.outputs[0]);
  return ok_status();
}

Status cuda_reduce_mean(CudaOpContext& ctx) { return reduce(ctx, ReduceOp::kMean, kernels::ReduceKind::kMean); }
Status cuda_reduce_sum(CudaOpContext& ctx) { return reduce(ctx, ReduceOp::kSum, kernels::ReduceKind::kSum); }
Status cuda_reduce_max(CudaOpContext& ctx) { return reduce(ctx, ReduceOp::kMax, kernels::ReduceKind::kMax); }
Status cuda_reduce_min(CudaOpContext& ctx) { return reduce(ctx, ReduceOp::kMin, kernels::ReduceKind::kMin); }
Status cuda_reduce_prod(CudaOpContext& ctx) { return reduce(ctx, ReduceOp::kProd, kernels::ReduceKind::kProd); }
Status cuda_reduce_l1(CudaOpContext& ctx) { return reduce(ctx, ReduceOp::kL1, kernels::ReduceKind::kL1); }
Status cuda_reduce_l2(CudaOpContext& ctx) { return reduce(ctx, ReduceOp::kL2, kernels::ReduceKind::kL2); }
Status cuda_reduce_sum_square(CudaOpContext& ctx) {
  return reduce(ctx, ReduceOp::kSumSquare, kernels::ReduceKind::kSumSquare);
}
Status cuda_reduce_log_sum(CudaOpContext& ctx) { return reduce(ctx, ReduceOp::kLogSum, kernels::ReduceKind::kLogSum); }
Status cuda_reduce_log_sum_exp(CudaOpContext& ctx) {
  return reduce(ctx, ReduceOp::kLogSumExp, kernels::ReduceKind::kLogSumExp);
}

Status cuda_argmax(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(ArgMaxPlan p, argmax_plan(ctx.node, *x));
  Tensor y(DType::kInt64, p.out_shape);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_argmax(cuda_elem(x->dtype()), x->raw(), y.data<int64_t>(), p.outer, p.dim,
                                                   p.inner, p.select_last, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_argmin(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(ArgMaxPlan p, argmax_plan(ctx.node, *x));
  Tensor y(DType::kInt64, p.out_shape);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_argmin(cuda_elem(x->dtype()), x->raw(), y.data<int64_t>(), p.outer, p.dim,
                                                   p.inner, p.select_last, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_lp_normalization(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(LpNormPlan p, lp_norm_plan(ctx.node, *x));
  Tensor y(x->dtype(), x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_lp_normalization(cuda_elem(x->dtype()), x->raw(), y.raw(), p.outer, p.dim,
                                                             p.inner, static_cast<int>(p.p), ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_topk(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(TopKPlan p, topk_plan(ctx.node, ctx.inputs));  // K (input 1) is a host tensor
  const Tensor* x = ctx.inputs[0];
  Tensor values(x->dtype(), p.out_shape), indices(DType::kInt64, p.out_shape);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_topk(cuda_elem(x->dtype()), x->raw(), values.raw(), indices.data<int64_t>(),
                                                 p.outer, p.dim, p.inner, p.k, p.largest, ctx.lane.stream));
  ctx.outputs[0] = std::move(values);
  if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(indices);
  return ok_status();
}

Status cuda_cumsum(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const CumSumPlan p, cumsum_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  Tensor y(x->dtype(), x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_cumsum(cuda_elem(x->dtype()), x->raw(), y.raw(), p.outer, p.dim, p.inner,
                                                   p.exclusive, p.reverse, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_batch_normalization(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(BatchNormPlan plan, batch_norm_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  const Tensor* const* p = &ctx.inputs[1];  // scale, B, input_mean, input_var
  const int64_t n = plan.n, c = plan.c, inner = plan.inner;
  const bool mixed = mixed_half({x, p[0], p[1], p[2], p[3]});
  Tensor y(x->dtype(), x->shape());  // ONNX's T (X's), as op_run_cpu types it; not plan.y_dtype
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
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_batch_norm(e, px, pp[0], pp[1], pp[2], pp[3], py, n, c, inner, plan.eps,
                                                         scratch, ctx.lane.stream));
    if (mixed) SS_RETURN_IF_ERROR(narrow(ctx, py, y));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_max_pool(CudaOpContext& ctx) { return pool(ctx, true); }
Status cuda_average_pool(CudaOpContext& ctx) { return pool(ctx, false); }

namespace {

// The mean (GlobalAveragePool) or the largest value (GlobalMaxPool, NaN winning as in ReduceMax) of
// each plane: a reduction over the trailing dimensions.
Status global_pool(CudaOpContext& ctx, kernels::ReduceKind kind, const char* op) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(GlobalPoolPlan plan, global_pool_plan(*x, op));
  std::vector<bool> reduced(static_cast<std::size_t>(x->rank()), true);
  reduced[0] = reduced[1] = false;
  SS_ASSIGN_OR_RETURN(kernels::ReduceGeometry g, reduce_geometry(x->shape(), reduced));
  Tensor y(x->dtype(), plan.out_shape);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_reduce(kind, cuda_elem(x->dtype()), x->raw(), y.raw(), g, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace

Status cuda_global_average_pool(CudaOpContext& ctx) {
  return global_pool(ctx, kernels::ReduceKind::kMean, "GlobalAveragePool");
}
Status cuda_global_max_pool(CudaOpContext& ctx) { return global_pool(ctx, kernels::ReduceKind::kMax, "GlobalMaxPool"); }

}  // namespace shardscore
