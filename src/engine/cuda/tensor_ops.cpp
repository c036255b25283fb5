// CUDA functions of the data-movement and shape ops. Validation, messages, output dtypes and
// shapes come from the plans shared with the CPU functions (engine/op_plans_tensor.h); the view
// ops run their CPU functions as is. Only element movement and arithmetic run on the device.
//
// Pad, Resize and Range are "computing" ops: the CPU runs them on float16 inputs widened to
// float32 and rounds float32 outputs back (op_run_cpu). Their CUDA functions see float16 as
// stored; the plans validate with widened types and give the rounded output type (out_dtype),
// and the kernels reproduce that rounding. bfloat16 likewise.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cpu/float16.h"
#include "engine/cuda/cuda_util.h"
#include "engine/op_plans_tensor.h"
#include "kernels/ml_ops.h"  // TableChunk uploads (Constant)
#include "kernels/reduce_ops.h"  // float16 widening and narrowing (ScatterND reductions)
#include "kernels/tensor_ops.h"

namespace shardscore {
namespace {

Status rank_limit_error(std::size_t rank) {
  return invalid_argument("rank " + std::to_string(rank) + " is above the CUDA backend's limit of " +
                          std::to_string(kernels::kMaxRank));
}

// The view ops' CPU functions read only shapes and host inputs and allocate nothing, so they run as is.
Status run_view(CudaOpContext& ctx, CpuOpFn fn) {
  OpContext c{ctx.node, ctx.inputs, std::move(ctx.outputs)};
  Status st = fn(c);
  ctx.outputs = std::move(c.outputs);
  return st;
}

// The CPU's strided_copy: out's element with multi-index i comes from src element base + sum i[k] * st[k].
Status strided_copy(CudaOpContext& ctx, const Tensor& src, int64_t base, std::vector<int64_t> st, Tensor* out) {
  const int64_t n = out->numel();
  if (n == 0) return ok_status();
  Shape dims = out->shape();
  const int r = kernels::coalesce_strided(static_cast<int>(dims.size()), dims.data(), st.data());
  if (r > kernels::kMaxRank) return rank_limit_error(out->shape().size());
  kernels::StridedIndex ix;
  ix.rank = r;
  for (int k = 0; k < r; ++k) {
    ix.dims[k] = dims[static_cast<std::size_t>(k)];
    ix.strides[k] = st[static_cast<std::size_t>(k)];
  }
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_strided_copy(static_cast<int>(dtype_size(src.dtype())), src.raw(), base, ix,
                                                         out->raw(), n, ctx.lane.stream));
  return ok_status();
}

}  // namespace

// ---- views ----

Status cuda_flatten(CudaOpContext& ctx) { return run_view(ctx, cpu_flatten); }
Status cuda_reshape(CudaOpContext& ctx) { return run_view(ctx, cpu_reshape); }
Status cuda_identity(CudaOpContext& ctx) { return run_view(ctx, cpu_identity); }
Status cuda_squeeze(CudaOpContext& ctx) { return run_view(ctx, cpu_squeeze); }
Status cuda_unsqueeze(CudaOpContext& ctx) { return run_view(ctx, cpu_unsqueeze); }

// ---- Shape, Constant, ConstantOfShape, Range ----

Status cuda_shape(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ShapePlan p, shape_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  Tensor y(DType::kInt64, {p.count});
  // Values by kernel argument, not a host copy, so the op stays capturable in a CUDA graph.
  for (int64_t k0 = 0; k0 < p.count; k0 += kernels::kMaxRank) {
    kernels::Int64Values v;
    v.count = static_cast<int>(std::min<int64_t>(kernels::kMaxRank, p.count - k0));
    for (int j = 0; j < v.count; ++j) v.v[j] = x->dim(p.start + k0 + j);
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_write_int64s(v, y.data<int64_t>() + k0, ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// A shape-only step (plan.cpp) runs on the host with cpu_size; this is the table's CUDA column.
Status cuda_size(CudaOpContext& ctx) {
  const Tensor* x = ctx.inputs.empty() ? nullptr : ctx.inputs[0];
  if (!x) return invalid_argument("input 0 is required");
  Tensor y(DType::kInt64, {});
  kernels::Int64Values v;
  v.count = 1;
  v.v[0] = x->numel();
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_write_int64s(v, y.data<int64_t>(), ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

namespace {
// A device tensor holding the tensor's bytes copied from host (or device) memory at src. Host bytes
// travel as kernel arguments (kernels::TableChunk), not through cudaMemcpyAsync from the attribute's
// pageable memory: that copy cannot be captured in a CUDA graph (the batch would fall back from
// graph replay) and may block the host until the lane's stream reaches it.
Status upload(CudaOpContext& ctx, DType dtype, Shape shape, const void* src, bool src_on_device, Tensor* out) {
  Tensor y(dtype, std::move(shape));
  const std::size_t bytes = y.nbytes();
  if (bytes > 0 && src_on_device) {
    SS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(y.raw(), src, bytes, cudaMemcpyDeviceToDevice, ctx.lane.stream));
  } else if (bytes > 0) {
    const auto* from = static_cast<const unsigned char*>(src);
    auto* to = static_cast<unsigned char*>(y.raw());
    for (std::size_t off = 0; off < bytes; off += kernels::kTableChunkBytes) {
      kernels::TableChunk chunk;
      chunk.bytes = static_cast<int64_t>(std::min<std::size_t>(kernels::kTableChunkBytes, bytes - off));
      std::memcpy(chunk.data, from + off, static_cast<std::size_t>(chunk.bytes));
      SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_write_table_chunk(chunk, to + off, ctx.lane.stream));
    }
  }
  *out = std::move(y);
  return ok_status();
}
}  // namespace

Status cuda_constant(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ConstantPlan p, constant_plan(ctx.node));
  if (p.tensor) {
    if (p.tensor->empty()) {
      ctx.outputs[0] = *p.tensor;
      return ok_status();
    }
    return upload(ctx, p.tensor->dtype(), p.tensor->shape(), p.tensor->raw(), p.tensor->on_device(), &ctx.outputs[0]);
  }
  return upload(ctx, p.dtype, p.shape, p.data, false, &ctx.outputs[0]);
}

Status cuda_constant_of_shape(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ConstantOfShapePlan p, constant_of_shape_plan(ctx.node, ctx.inputs));
  Tensor y(p.dtype, p.shape);
  const std::size_t esize = dtype_size(p.dtype);
  if (p.value && p.value->on_device()) {
    // Broadcast the one element (all strides 0).
    SS_RETURN_IF_ERROR(strided_copy(ctx, *p.value, 0, std::vector<int64_t>(p.shape.size(), 0), &y));
  } else {
    uint64_t bits = 0;  // float32 0 by default
    if (p.value) std::memcpy(&bits, p.value->raw(), esize);
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_fill(static_cast<int>(esize), bits, y.raw(), y.numel(), ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_range(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const RangePlan p, range_plan(ctx.node, ctx.inputs));
  Tensor y(p.out_dtype, {p.count});
  if (p.dtype == DType::kFloat32 || p.dtype == DType::kFloat64) {
    SS_LAUNCH_RETURN_IF_ERROR(
        kernels::launch_range_float(cuda_elem(p.out_dtype), p.fstart, p.fdelta, y.raw(), p.count, ctx.lane.stream));
  } else {
    SS_LAUNCH_RETURN_IF_ERROR(
        kernels::launch_range_int(cuda_elem(p.out_dtype), p.istart, p.idelta, y.raw(), p.count, ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ---- Concat, Split ----

namespace {
Status copy_rows(CudaOpContext& ctx, void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch, int64_t width,
                 int64_t rows) {
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_copy_rows(dst, dst_pitch, src, src_pitch, width, rows, ctx.lane.stream));
  return ok_status();
}
}  // namespace

Status cuda_concat(CudaOpContext& ctx) {
  return run_concat_plan(ctx, concat_plan(ctx.node, ctx.inputs), [&ctx](auto... args) { return copy_rows(ctx, args...); });
}

Status cuda_split(CudaOpContext& ctx) {
  return run_split_plan(ctx, split_plan(ctx.node, ctx.inputs, ctx.outputs.size()),
                        [&ctx](auto... args) { return copy_rows(ctx, args...); });
}

// ---- Slice, Gather, Transpose, Expand ----

namespace {
// Transpose, Expand, Slice: the plan's one strided copy of input 0.
Status run_strided(CudaOpContext& ctx, StatusOr<StridedPlan> plan) {
  return run_strided_plan(ctx, std::move(plan), [&ctx](const Tensor& x, const StridedPlan& p, Tensor* y) {
    return strided_copy(ctx, x, p.base, p.strides, y);
  });
}
}  // namespace

Status cuda_slice(CudaOpContext& ctx) { return run_strided(ctx, slice_plan(ctx.node, ctx.inputs)); }
Status cuda_transpose(CudaOpContext& ctx) { return run_strided(ctx, transpose_plan(ctx.node, ctx.inputs)); }
Status cuda_expand(CudaOpContext& ctx) { return run_strided(ctx, expand_plan(ctx.node, ctx.inputs)); }
Status cuda_depth_to_space(CudaOpContext& ctx) { return run_strided(ctx, depth_to_space_plan(ctx.node, ctx.inputs)); }
Status cuda_space_to_depth(CudaOpContext& ctx) { return run_strided(ctx, space_to_depth_plan(ctx.node, ctx.inputs)); }

Status cuda_gather(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const GatherPlan p, gather_plan(ctx.node, ctx.inputs));
  const Tensor* data = ctx.inputs[0];
  const Tensor* ind = ctx.inputs[1];
  // The indices are on the device: the kernel records an out-of-range one (ctx.fault()), an empty
  // axis included, and the batch fails with the CPU's error when its outputs come back.
  Tensor y(data->dtype(), p.shape);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_gather(static_cast<int>(dtype_size(data->dtype())), data->raw(), ind->raw(),
                                                   ind->dtype() == DType::kInt64, y.raw(), p.outer, p.dim, p.nidx,
                                                   p.inner, ctx.fault(static_cast<int>(p.axis), data), ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_gather_nd(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const GatherNdPlan p, gather_nd_plan(ctx.node, ctx.inputs));
  const Tensor* data = ctx.inputs[0];
  if (p.m > kernels::kMaxRank) return rank_limit_error(static_cast<std::size_t>(p.m));
  // As Gather: the kernel records an out-of-range index, an empty indexed dimension included.
  Tensor y(data->dtype(), p.shape);
  kernels::GatherNdIndex nd;
  nd.m = static_cast<int>(p.m);
  for (int64_t k = 0; k < p.m; ++k) {
    nd.dims[k] = p.dims[k];
    nd.strides[k] = p.strides[k];
  }
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_gather_nd(static_cast<int>(dtype_size(data->dtype())), data->raw(),
                                                      ctx.inputs[1]->data<int64_t>(), y.raw(), p.batches, p.per_batch,
                                                      p.slice, p.batch_stride, nd,
                                                      ctx.fault(static_cast<int>(p.batch_dims), data), ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ---- Pad ----

static_assert(static_cast<int>(kernels::PadMode::kConstant) == static_cast<int>(PadMode::kConstant) &&
              static_cast<int>(kernels::PadMode::kReflect) == static_cast<int>(PadMode::kReflect) &&
              static_cast<int>(kernels::PadMode::kEdge) == static_cast<int>(PadMode::kEdge) &&
              static_cast<int>(kernels::PadMode::kWrap) == static_cast<int>(PadMode::kWrap));

Status cuda_pad(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const PadPlan p, pad_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  const int64_t rank = x->rank();
  if (rank > kernels::kMaxRank) return rank_limit_error(static_cast<std::size_t>(rank));
  uint64_t fill_bits = 0;
  if (dtype_is_half(p.out_dtype)) {
    // The fill as the CPU computes it (float32), rounded once to the 16-bit type.
    float f;
    std::memcpy(&f, p.fill.data(), sizeof f);
    fill_bits = double_to_half_bits(p.out_dtype, static_cast<double>(f));
  } else {
    std::memcpy(&fill_bits, p.fill.data(), p.fill.size());
  }
  kernels::PadGeometry g;
  g.rank = static_cast<int>(rank);
  for (int k = 0; k < g.rank; ++k) {
    g.in_dims[k] = x->dim(k);
    g.out_dims[k] = p.shape[static_cast<std::size_t>(k)];
    g.pad_begin[k] = p.pad_begin[static_cast<std::size_t>(k)];
  }
  Tensor y(p.out_dtype, p.shape);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_pad(static_cast<kernels::PadMode>(p.mode), cuda_elem(x->dtype()),
                                                cuda_elem(p.out_dtype), x->raw(), y.raw(), g, fill_bits, y.numel(),
                                                ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ---- Resize ----

static_assert(static_cast<int>(kernels::ResizeCoord::kHalfPixel) == static_cast<int>(ResizeCoordMode::kHalfPixel) &&
              static_cast<int>(kernels::ResizeCoord::kPytorchHalfPixel) ==
                  static_cast<int>(ResizeCoordMode::kPytorchHalfPixel) &&
              static_cast<int>(kernels::ResizeCoord::kAlignCorners) == static_cast<int>(ResizeCoordMode::kAlignCorners) &&
              static_cast<int>(kernels::ResizeCoord::kAsymmetric) == static_cast<int>(ResizeCoordMode::kAsymmetric) &&
              static_cast<int>(kernels::ResizeCoord::kTfHalfPixelForNn) ==
                  static_cast<int>(ResizeCoordMode::kTfHalfPixelForNn));
static_assert(static_cast<int>(kernels::ResizeNearest::kRoundPreferFloor) ==
                  static_cast<int>(ResizeNearestMode::kRoundPreferFloor) &&
              static_cast<int>(kernels::ResizeNearest::kRoundPreferCeil) ==
                  static_cast<int>(ResizeNearestMode::kRoundPreferCeil) &&
              static_cast<int>(kernels::ResizeNearest::kFloor) == static_cast<int>(ResizeNearestMode::kFloor) &&
              static_cast<int>(kernels::ResizeNearest::kCeil) == static_cast<int>(ResizeNearestMode::kCeil));

namespace {
Status resize_run(CudaOpContext& ctx, const ResizePlan& p) {
  const Tensor* x = ctx.inputs[0];
  const int64_t rank = x->rank();
  if (rank > kernels::kMaxRank) return rank_limit_error(static_cast<std::size_t>(rank));
  kernels::ResizeGeometry g;
  g.rank = static_cast<int>(rank);
  for (int k = 0; k < g.rank; ++k) {
    g.in_dims[k] = x->dim(k);
    g.out_dims[k] = p.shape[static_cast<std::size_t>(k)];
    g.scales[k] = p.scales[static_cast<std::size_t>(k)];
  }
  const auto coord = static_cast<kernels::ResizeCoord>(p.coord);
  Tensor y(p.out_dtype, p.shape);
  if (!p.linear) {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_resize_nearest(coord, static_cast<kernels::ResizeNearest>(p.nearest),
                                                             cuda_elem(x->dtype()), cuda_elem(p.out_dtype), x->raw(),
                                                             y.raw(), g, y.numel(), ctx.lane.stream));
  } else {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_resize_linear(coord, cuda_elem(x->dtype()), cuda_elem(p.out_dtype),
                                                            x->raw(), y.raw(), g, y.numel(), ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}
}  // namespace

Status cuda_resize(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ResizePlan p, resize_plan(ctx.node, ctx.inputs));
  return resize_run(ctx, p);
}

Status cuda_upsample(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ResizePlan p, upsample_plan(ctx.node, ctx.inputs));  // scales read on the host
  return resize_run(ctx, p);
}

// ---- Tile, Trilu, GatherElements, ScatterND, ScatterElements, OneHot, EyeLike ----

namespace {
// How many dimensions strided_copy launches a copy with (after coalesce_strided).
int copy_rank(Shape dims, std::vector<int64_t> strides) {
  return kernels::coalesce_strided(static_cast<int>(dims.size()), dims.data(), strides.data());
}
}  // namespace

// Tile: one strided copy over [repeats[0], dims[0], ...] when that coalesces to kMaxRank dimensions
// or fewer. Otherwise (repeats > 1 on five or more axes, or four after an unrepeated one) in
// stages, Tile being separable: each stage tiles the next axes, in order, that still fit one copy,
// into a temporary that the next stage reads; the last writes y. Any rank: one axis always fits.
Status cuda_tile(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const TilePlan p, tile_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  Tensor y(x->dtype(), p.copy_shape);  // the output as [repeats[0], dims[0], ...]
  if (y.numel() == 0 || copy_rank(p.copy_shape, p.copy_strides) <= kernels::kMaxRank) {
    SS_RETURN_IF_ERROR(strided_copy(ctx, *x, 0, p.copy_strides, &y));
    ctx.outputs[0] = y.reshaped(p.shape);
    return ok_status();
  }
  const std::size_t rank = x->shape().size();
  std::vector<int64_t> stage(rank, 1);  // the repeats of the stage being gathered
  const Tensor* src = x;
  Tensor part;  // the last stage's output (freed in stream order when the next replaces it)
  for (std::size_t k = 0; k < rank; ++k) {
    const int64_t r = p.copy_shape[2 * k];
    if (r == 1) continue;
    std::vector<int64_t> more = stage;
    more[k] = r;
    const TilePlan wider = tile_geometry(src->shape(), more);
    if (copy_rank(wider.copy_shape, wider.copy_strides) <= kernels::kMaxRank) {
      stage = std::move(more);
      continue;
    }
    const TilePlan c = tile_geometry(src->shape(), stage);
    Tensor t(x->dtype(), c.copy_shape);
    SS_RETURN_IF_ERROR(strided_copy(ctx, *src, 0, c.copy_strides, &t));
    part = t.reshaped(c.shape);
    src = &part;
    stage.assign(rank, 1);
    stage[k] = r;
  }
  const TilePlan c = tile_geometry(src->shape(), stage);
  Tensor last = y.reshaped(c.copy_shape);  // as many elements: src's times the stage's repeats
  SS_RETURN_IF_ERROR(strided_copy(ctx, *src, 0, c.copy_strides, &last));
  ctx.outputs[0] = y.reshaped(p.shape);
  return ok_status();
}

Status cuda_trilu(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const TriluPlan p, trilu_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  Tensor y(x->dtype(), x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_trilu(static_cast<int>(dtype_size(x->dtype())), x->raw(), y.raw(), p.batches,
                                                  p.rows, p.cols, p.k, p.upper, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_gather_elements(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const GatherElementsPlan p, gather_elements_plan(ctx.node, ctx.inputs));
  const Tensor* data = ctx.inputs[0];
  const Tensor* ind = ctx.inputs[1];
  if (p.shape.size() > static_cast<std::size_t>(kernels::kMaxRank)) return rank_limit_error(p.shape.size());
  kernels::StridedIndex ix;
  ix.rank = static_cast<int>(p.shape.size());
  for (int k = 0; k < ix.rank; ++k) {
    ix.dims[k] = p.shape[static_cast<std::size_t>(k)];
    ix.strides[k] = k == p.axis ? 0 : p.data_strides[static_cast<std::size_t>(k)];
  }
  // As Gather: the indices are on the device, the kernel records an out-of-range one.
  Tensor y(data->dtype(), p.shape);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_gather_elements(
      static_cast<int>(dtype_size(data->dtype())), data->raw(), ind->raw(), ind->dtype() == DType::kInt64, y.raw(), ix,
      p.data_strides[static_cast<std::size_t>(p.axis)], p.dim, y.numel(), ctx.fault(static_cast<int>(p.axis), data),
      ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

static_assert(static_cast<int>(kernels::ScatterOp::kNone) == static_cast<int>(ScatterReduction::kNone) &&
              static_cast<int>(kernels::ScatterOp::kAdd) == static_cast<int>(ScatterReduction::kAdd) &&
              static_cast<int>(kernels::ScatterOp::kMul) == static_cast<int>(ScatterReduction::kMul) &&
              static_cast<int>(kernels::ScatterOp::kMax) == static_cast<int>(ScatterReduction::kMax) &&
              static_cast<int>(kernels::ScatterOp::kMin) == static_cast<int>(ScatterReduction::kMin));

namespace {
// ScatterND's and ScatterElements' frame around their kernel: y (data's type and shape) starts as
// data, then launch(target, elem, updates) combines the updates into target. A reduction on float16
// / bfloat16 runs on float32 copies of data and updates, narrowed into y once at the end, as the
// CPU computes it (op_run_cpu widens both, the CPU function combines every update in float32, the
// output is rounded once): rounding after each update would lose what duplicates add up to (2048
// plus four 1s stays 2048 in float16, where the CPU gives 2052). updates must have data's type
// here (float16 beside float32 passes the plans, which the CPU widens; the kernels need one type).
template <typename Launch>
Status scatter_into(CudaOpContext& ctx, ScatterReduction reduction, const Tensor* data, const Tensor* upd, Tensor* y,
                    Launch launch) {
  if (data->dtype() != upd->dtype()) {
    return unimplemented("updates of type " + std::string(dtype_name(upd->dtype())) + " into data of type " +
                         std::string(dtype_name(data->dtype())) + " are not supported on CUDA");
  }
  const bool widen = dtype_is_half(data->dtype()) && reduction != ScatterReduction::kNone;
  const int64_t bytes = static_cast<int64_t>(y->nbytes());
  if (bytes > 0 && !widen) {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_copy_rows(y->raw(), bytes, data->raw(), bytes, bytes, 1, ctx.lane.stream));
  }
  void* target = y->raw();
  const void* updates = upd->raw();
  if (widen) {
    target = ctx.scratch(static_cast<std::size_t>(y->numel()) * sizeof(float));
    void* upd_wide = ctx.scratch(static_cast<std::size_t>(upd->numel()) * sizeof(float));
    SS_LAUNCH_RETURN_IF_ERROR(
        kernels::launch_widen_to_f32(cuda_elem(data->dtype()), data->raw(), target, y->numel(), ctx.lane.stream));
    SS_LAUNCH_RETURN_IF_ERROR(
        kernels::launch_widen_to_f32(cuda_elem(upd->dtype()), upd->raw(), upd_wide, upd->numel(), ctx.lane.stream));
    updates = upd_wide;
  }
  SS_RETURN_IF_ERROR(launch(target, widen ? kernels::Elem::kF32 : cuda_elem(data->dtype()), updates));
  if (widen) {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_narrow_f32_to(cuda_elem(y->dtype()), target, y->raw(), y->numel(), ctx.lane.stream));
  }
  return ok_status();
}
}  // namespace

Status cuda_scatter_nd(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ScatterNdPlan p, scatter_nd_plan(ctx.node, ctx.inputs));
  const Tensor* data = ctx.inputs[0];
  const Tensor* upd = ctx.inputs[2];
  if (p.m > kernels::kMaxRank) return rank_limit_error(static_cast<std::size_t>(p.m));
  kernels::GatherNdIndex nd;
  nd.m = static_cast<int>(p.m);
  for (int64_t k = 0; k < p.m; ++k) {
    nd.dims[k] = p.dims[k];
    nd.strides[k] = p.strides[k];
  }
  Tensor y(data->dtype(), data->shape());
  // As GatherND: the kernel records an out-of-range index, empty slices included.
  SS_RETURN_IF_ERROR(scatter_into(ctx, p.reduction, data, upd, &y, [&](void* target, kernels::Elem elem, const void* updates) {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_scatter_nd(static_cast<kernels::ScatterOp>(p.reduction), elem, target,
                                                         ctx.inputs[1]->data<int64_t>(), updates, p.rows, p.slice, nd,
                                                         ctx.fault(0, data), ctx.lane.stream));
    return ok_status();
  }));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_scatter_elements(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ScatterElementsPlan p, scatter_elements_plan(ctx.node, ctx.inputs));
  const Tensor* data = ctx.inputs[0];
  const Tensor* ind = ctx.inputs[1];
  const Tensor* upd = ctx.inputs[2];
  if (p.shape.size() > static_cast<std::size_t>(kernels::kMaxRank)) return rank_limit_error(p.shape.size());
  // Lanes: indices' shape with the axis dimension 1; offsets in out (data's strides) and in
  // indices / updates (their own row-major strides).
  const std::vector<int64_t> in_strides = row_major_strides(p.shape);
  kernels::StridedIndex lane_out, lane_in;
  lane_out.rank = lane_in.rank = static_cast<int>(p.shape.size());
  int64_t lanes = 1;
  for (int k = 0; k < lane_out.rank; ++k) {
    const std::size_t uk = static_cast<std::size_t>(k);
    lane_out.dims[k] = lane_in.dims[k] = k == p.axis ? 1 : p.shape[uk];
    lane_out.strides[k] = p.data_strides[uk];
    lane_in.strides[k] = in_strides[uk];
    lanes *= lane_out.dims[k];
  }
  const int64_t len = p.shape[static_cast<std::size_t>(p.axis)];
  Tensor y(data->dtype(), data->shape());
  // As GatherElements: the indices are on the device, the kernel records an out-of-range one.
  SS_RETURN_IF_ERROR(scatter_into(ctx, p.reduction, data, upd, &y, [&](void* target, kernels::Elem elem, const void* updates) {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_scatter_elements(
        static_cast<kernels::ScatterOp>(p.reduction), elem, target, ind->raw(), ind->dtype() == DType::kInt64, updates,
        lane_out, lane_in, lanes, len, in_strides[static_cast<std::size_t>(p.axis)],
        p.data_strides[static_cast<std::size_t>(p.axis)], p.dim, ctx.fault(static_cast<int>(p.axis), data), ctx.lane.stream));
    return ok_status();
  }));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_one_hot(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const OneHotPlan p, one_hot_plan(ctx.node, ctx.inputs));  // depth read on the host
  const Tensor* ind = ctx.inputs[0];
  Tensor y(p.dtype, p.out_shape);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_one_hot(cuda_elem(ind->dtype()), ind->raw(), static_cast<int>(dtype_size(p.dtype)),
                                                    ctx.inputs[2]->raw(), y.raw(), p.outer, p.depth, p.inner, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_eye_like(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const EyeLikePlan p, eye_like_plan(ctx.node, ctx.inputs));
  Tensor y(p.dtype, {p.rows, p.cols});
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_eye(static_cast<int>(dtype_size(p.dtype)), p.one_bits, y.raw(), p.rows, p.cols,
                                                p.k, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_einsum(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(EinsumPlan p, einsum_plan(ctx.node, ctx.inputs));
  static_assert(kEinsumMaxOperands == kernels::kEinsumOperands && kEinsumMaxLabels == kernels::kEinsumLabels);
  kernels::EinsumGeometry g;
  g.operands = p.operands;
  g.labels = p.labels;
  g.out_labels = p.out_labels;
  for (int l = 0; l < p.labels; ++l) g.size[l] = p.size[l];
  for (int k = 0; k < p.operands; ++k) {
    g.in[k] = ctx.inputs[static_cast<std::size_t>(k)]->raw();
    for (int l = 0; l < p.labels; ++l) g.stride[k][l] = p.stride[k][l];
  }
  Tensor y(p.dtype, p.out_shape);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_einsum(cuda_elem(p.dtype), g, y.raw(), y.numel(), ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore
