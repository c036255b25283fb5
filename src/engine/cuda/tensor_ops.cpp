// CUDA functions of the data-movement and shape ops. Each mirrors its CPU function
// (src/engine/cpu/shape_ops.cpp, tensor_ops.cpp, nn.cpp): the same validation, messages, output
// dtypes and shapes, computed on the host; only element movement and arithmetic run on the device.
//
// Pad, Resize and Range are "computing" ops: the CPU runs them on float16 inputs widened to
// float32 and rounds float32 outputs back (op_run_cpu). Their CUDA functions see float16 as
// stored, so they validate with widened types and reproduce that rounding.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/cpu/broadcast.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/float16.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/cuda_util.h"
#include "kernels/ml_ops.h"  // TableChunk uploads (Constant)
#include "kernels/tensor_ops.h"

namespace shardscore {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

std::string list_to_string(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (std::size_t k = 0; k < v.size(); ++k) s += (k ? ", " : "") + std::to_string(v[k]);
  return s + "]";
}

const std::vector<int64_t>* ints_attr(const Node& n, const std::string& name) {
  const Attribute* a = n.attr(name);
  return a && a->type == Attribute::Type::kInts ? &a->ints : nullptr;
}

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (std::size_t k = s.size(); k-- > 1;) st[k - 1] = st[k] * s[k];
  return st;
}

Status check_output_size(const Shape& s, DType dt) {
  constexpr int64_t kMaxBytes = int64_t{1} << 40;
  int64_t bytes = static_cast<int64_t>(dtype_size(dt));
  for (int64_t d : s) {
    if (d != 0 && bytes > kMaxBytes / d) {
      return invalid_argument("output shape " + shape_to_string(s) + " is too large (more than 2^40 bytes)");
    }
    bytes *= d;
  }
  return ok_status();
}

StatusOr<std::vector<int64_t>> normalize_axes(const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<std::size_t>(rank), false);
  for (int64_t a : axes) {
    SS_ASSIGN_OR_RETURN(int64_t n, cpu_normalize_axis(a, rank));
    if (seen[n]) return invalid_argument("axis " + std::to_string(n) + " appears more than once in axes " + list_to_string(axes));
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

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

// ---- float16 under the CPU's widening (op_run_cpu) ----

DType widened(DType t) { return t == DType::kFloat16 ? DType::kFloat32 : t; }

bool any_half_input(const CudaOpContext& ctx) {
  return std::any_of(ctx.inputs.begin(), ctx.inputs.end(),
                     [](const Tensor* t) { return t && t->dtype() == DType::kFloat16; });
}

// The dtype the CPU hands back for an output it computed as `computed`.
DType rounded_output(DType computed, bool any_half) {
  return any_half && computed == DType::kFloat32 ? DType::kFloat16 : computed;
}

float host_float(const Tensor& t, int64_t k) {
  return t.dtype() == DType::kFloat16 ? half_to_float(t.data<uint16_t>()[k]) : t.data<float>()[k];
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
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  const int64_t r = x->rank();
  int64_t start = 0, end = r;
  if (ctx.node.opset >= 15) {
    start = ctx.node.attr_int("start", 0);
    end = ctx.node.attr_int("end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, 0, r);
  }
  const int64_t n = std::max<int64_t>(end - start, 0);
  Tensor y(DType::kInt64, {n});
  // Values by kernel argument, not a host copy, so the op stays capturable in a CUDA graph.
  for (int64_t k0 = 0; k0 < n; k0 += kernels::kMaxRank) {
    kernels::Int64Values v;
    v.count = static_cast<int>(std::min<int64_t>(kernels::kMaxRank, n - k0));
    for (int j = 0; j < v.count; ++j) v.v[j] = x->dim(start + k0 + j);
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_write_int64s(v, y.data<int64_t>() + k0, ctx.lane.stream));
  }
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
  const Node& n = ctx.node;
  if (const Attribute* a = n.attr("value"); a && a->type == Attribute::Type::kTensor) {
    if (a->t.empty()) {
      ctx.outputs[0] = a->t;
      return ok_status();
    }
    return upload(ctx, a->t.dtype(), a->t.shape(), a->t.raw(), a->t.on_device(), &ctx.outputs[0]);
  } else if (const Attribute* a = n.attr("value_float")) {
    uint32_t bits = 0;
    std::memcpy(&bits, &a->f, sizeof bits);
    Tensor y(DType::kFloat32, {});
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_fill(4, bits, y.raw(), 1, ctx.lane.stream));
    ctx.outputs[0] = std::move(y);
  } else if (const Attribute* a = n.attr("value_int")) {
    Tensor y(DType::kInt64, {});
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_fill(8, static_cast<uint64_t>(a->i), y.raw(), 1, ctx.lane.stream));
    ctx.outputs[0] = std::move(y);
  } else if (const Attribute* a = n.attr("value_floats")) {
    return upload(ctx, DType::kFloat32, {static_cast<int64_t>(a->floats.size())}, a->floats.data(), false,
                  &ctx.outputs[0]);
  } else if (const Attribute* a = n.attr("value_ints")) {
    return upload(ctx, DType::kInt64, {static_cast<int64_t>(a->ints.size())}, a->ints.data(), false, &ctx.outputs[0]);
  } else {
    return unimplemented("Constant without a value, value_float(s) or value_int(s) attribute is not supported");
  }
  return ok_status();
}

Status cuda_constant_of_shape(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* shape_t, cuda_required_input(ctx, 0));
  if (shape_t->dtype() != DType::kInt64) return invalid_argument("shape must be int64");
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> shape, cpu_read_ints(*shape_t, "shape"));
  for (int64_t d : shape)
    if (d < 0) return invalid_argument("shape " + list_to_string(shape) + " has a negative dimension");
  DType dt = DType::kFloat32;
  const Tensor* value = nullptr;
  if (const Attribute* a = ctx.node.attr("value")) {
    if (a->type != Attribute::Type::kTensor || a->t.numel() != 1) {
      return invalid_argument("attribute 'value' must be a one-element tensor");
    }
    value = &a->t;
    dt = value->dtype();
  }
  SS_RETURN_IF_ERROR(check_output_size(shape, dt));
  Tensor y(dt, Shape(shape.begin(), shape.end()));
  const std::size_t esize = dtype_size(dt);
  if (value && value->on_device()) {
    // Broadcast the one element (all strides 0).
    SS_RETURN_IF_ERROR(strided_copy(ctx, *value, 0, std::vector<int64_t>(shape.size(), 0), &y));
  } else {
    uint64_t bits = 0;  // float32 0 by default
    if (value) std::memcpy(&bits, value->raw(), esize);
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_fill(static_cast<int>(esize), bits, y.raw(), y.numel(), ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

namespace {
constexpr int64_t kRangeMaxElements = int64_t{1} << 31;

// The CPU's range_typed, host part: the element count.
template <typename T>
StatusOr<int64_t> range_count(T start, T limit, T delta) {
  if (delta == T(0)) return invalid_argument("delta is zero");
  int64_t n = 0;
  if constexpr (std::is_floating_point_v<T>) {
    const double c = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
    if (std::isnan(c)) return invalid_argument("start, limit or delta is NaN");
    if (c > static_cast<double>(kRangeMaxElements)) return invalid_argument("Range would produce more than 2^31 elements");
    n = c > 0 ? static_cast<int64_t>(c) : 0;
  } else {
    const int64_t s = start, l = limit, d = delta;
    int64_t diff = 0;
    if (__builtin_sub_overflow(l, s, &diff)) return invalid_argument("Range would produce more than 2^31 elements");
    if ((diff > 0 && d > 0) || (diff < 0 && d < 0)) {
      const int64_t q = diff / d, rem = diff % d;
      n = q + (rem != 0 ? 1 : 0);
    }
    if (n > kRangeMaxElements) return invalid_argument("Range would produce more than 2^31 elements");
  }
  return n;
}

template <typename T>
Status range_typed(CudaOpContext& ctx, const Tensor& start_t, const Tensor& limit_t, const Tensor& delta_t, DType out_dt,
                   Tensor* out) {
  T start, limit, delta;
  if constexpr (std::is_same_v<T, float>) {
    start = host_float(start_t, 0);
    limit = host_float(limit_t, 0);
    delta = host_float(delta_t, 0);
  } else {
    start = start_t.data<T>()[0];
    limit = limit_t.data<T>()[0];
    delta = delta_t.data<T>()[0];
  }
  SS_ASSIGN_OR_RETURN(int64_t n, range_count<T>(start, limit, delta));
  Tensor y(out_dt, {n});
  if constexpr (std::is_floating_point_v<T>) {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_range_float(cuda_elem(out_dt), static_cast<double>(start),
                                                          static_cast<double>(delta), y.raw(), n, ctx.lane.stream));
  } else {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_range_int(cuda_elem(out_dt), static_cast<int64_t>(start),
                                                        static_cast<int64_t>(delta), y.raw(), n, ctx.lane.stream));
  }
  *out = std::move(y);
  return ok_status();
}
}  // namespace

Status cuda_range(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* start, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* limit, cuda_required_input(ctx, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* delta, cuda_required_input(ctx, 2));
  const bool half = any_half_input(ctx);
  const DType dt = widened(start->dtype());
  const char* names[] = {"start", "limit", "delta"};
  const Tensor* ts[] = {start, limit, delta};
  for (int k = 0; k < 3; ++k) {
    if (ts[k]->numel() != 1 || ts[k]->rank() > 1) {
      return invalid_argument(std::string(names[k]) + " must be a scalar, got shape " + shape_to_string(ts[k]->shape()));
    }
    if (widened(ts[k]->dtype()) != dt) return invalid_argument("start, limit and delta differ in type");
  }
  const DType out_dt = rounded_output(dt, half);
  Tensor y;
  Status st = ok_status();
  switch (dt) {
    case DType::kFloat32: st = range_typed<float>(ctx, *start, *limit, *delta, out_dt, &y); break;
    case DType::kFloat64: st = range_typed<double>(ctx, *start, *limit, *delta, out_dt, &y); break;
    case DType::kInt16: st = range_typed<int16_t>(ctx, *start, *limit, *delta, out_dt, &y); break;
    case DType::kInt32: st = range_typed<int32_t>(ctx, *start, *limit, *delta, out_dt, &y); break;
    case DType::kInt64: st = range_typed<int64_t>(ctx, *start, *limit, *delta, out_dt, &y); break;
    default: return unimplemented("element type " + std::string(dtype_name(dt)) + " is not supported");
  }
  SS_RETURN_IF_ERROR(st);
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ---- Concat, Split ----

Status cuda_concat(CudaOpContext& ctx) {
  if (ctx.inputs.empty()) return invalid_argument("Concat needs at least one input");
  SS_ASSIGN_OR_RETURN(const Tensor* first, cuda_required_input(ctx, 0));
  if (!ctx.node.attr("axis")) return invalid_argument("Concat requires the 'axis' attribute");
  SS_ASSIGN_OR_RETURN(int64_t axis, cpu_normalize_axis(ctx.node.attr_int("axis", 0), first->rank()));
  Shape out = first->shape();
  out[axis] = 0;
  for (std::size_t i = 0; i < ctx.inputs.size(); ++i) {
    SS_ASSIGN_OR_RETURN(const Tensor* t, cuda_required_input(ctx, i));
    if (t->dtype() != first->dtype() || t->rank() != first->rank()) return invalid_argument("inputs differ in type or rank");
    for (int64_t k = 0; k < t->rank(); ++k)
      if (k != axis && t->dim(k) != first->dim(k)) {
        return invalid_argument("input " + std::to_string(i) + " has shape " + shape_to_string(t->shape()) +
                                ", which does not concatenate with " + shape_to_string(first->shape()));
      }
    out[axis] += t->dim(axis);
  }
  Tensor y(first->dtype(), out);
  int64_t outer = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= out[k];
  int64_t inner_bytes = static_cast<int64_t>(dtype_size(first->dtype()));
  for (int64_t k = axis + 1; k < static_cast<int64_t>(out.size()); ++k) inner_bytes *= out[k];
  auto* dst = static_cast<std::byte*>(y.raw());
  const int64_t row_bytes = out[axis] * inner_bytes;
  int64_t col = 0;
  for (const Tensor* t : ctx.inputs) {
    const int64_t piece = t->dim(axis) * inner_bytes;
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_copy_rows(dst + col, row_bytes, t->raw(), piece, piece, outer, ctx.lane.stream));
    col += piece;
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_split(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  if (x->rank() == 0) return invalid_argument("cannot split a scalar");
  SS_ASSIGN_OR_RETURN(int64_t axis, cpu_normalize_axis(ctx.node.attr_int("axis", 0), x->rank()));
  const int64_t nout = static_cast<int64_t>(ctx.outputs.size());
  if (nout == 0) return invalid_argument("Split has no outputs");
  const int64_t dim = x->dim(axis);
  const Attribute* num_outputs = ctx.node.opset >= 18 ? ctx.node.attr("num_outputs") : nullptr;
  std::vector<int64_t> sizes;
  bool given = false;
  if (ctx.node.opset >= 13) {
    if (const Tensor* s = ctx.input(1)) {
      if (num_outputs) return invalid_argument("Split takes the 'split' input or the 'num_outputs' attribute, not both");
      if (s->dtype() != DType::kInt64) return invalid_argument("split must be int64");
      SS_ASSIGN_OR_RETURN(sizes, cpu_read_ints(*s, "split"));
      given = true;
    }
  } else if (const std::vector<int64_t>* s = ints_attr(ctx.node, "split")) {
    sizes = *s;
    given = true;
  }
  if (given) {
    if (static_cast<int64_t>(sizes.size()) != nout) {
      return invalid_argument("split " + list_to_string(sizes) + " has " + std::to_string(sizes.size()) +
                              " sizes for " + std::to_string(nout) + " outputs");
    }
    int64_t total = 0;
    for (int64_t s : sizes) {
      if (s < 0) return invalid_argument("split " + list_to_string(sizes) + " has a negative size");
      total += s;
    }
    if (total != dim) {
      return invalid_argument("split " + list_to_string(sizes) + " sums to " + std::to_string(total) + ", not to the size " +
                              std::to_string(dim) + " of axis " + std::to_string(axis));
    }
  } else if (num_outputs) {
    const int64_t k = num_outputs->i;
    if (num_outputs->type != Attribute::Type::kInt || k != nout) {
      return invalid_argument("num_outputs " + std::to_string(k) + " does not match the node's " + std::to_string(nout) + " outputs");
    }
    const int64_t chunk = (dim + k - 1) / k;
    if (chunk * (k - 1) > dim) {
      return invalid_argument("cannot split axis " + std::to_string(axis) + " of size " + std::to_string(dim) + " into " +
                              std::to_string(k) + " parts of " + std::to_string(chunk));
    }
    sizes.assign(static_cast<std::size_t>(k), chunk);
    sizes.back() = dim - chunk * (k - 1);
  } else {
    if (dim % nout != 0) {
      return invalid_argument("axis " + std::to_string(axis) + " of size " + std::to_string(dim) + " does not split into " +
                              std::to_string(nout) + " equal parts");
    }
    sizes.assign(static_cast<std::size_t>(nout), dim / nout);
  }
  int64_t outer = 1, inner_bytes = static_cast<int64_t>(dtype_size(x->dtype()));
  for (int64_t k = 0; k < axis; ++k) outer *= x->dim(k);
  for (int64_t k = axis + 1; k < x->rank(); ++k) inner_bytes *= x->dim(k);
  const auto* src = static_cast<const std::byte*>(x->raw());
  const int64_t row_bytes = dim * inner_bytes;
  int64_t col = 0;
  for (int64_t i = 0; i < nout; ++i) {
    Shape s = x->shape();
    s[axis] = sizes[i];
    Tensor y(x->dtype(), s);
    const int64_t piece = sizes[i] * inner_bytes;
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_copy_rows(y.raw(), piece, src + col, row_bytes, piece, outer, ctx.lane.stream));
    col += piece;
    ctx.outputs[i] = std::move(y);
  }
  return ok_status();
}

// ---- Slice, Gather, Transpose, Expand ----

Status cuda_slice(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* starts_t, cuda_required_input(ctx, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* ends_t, cuda_required_input(ctx, 2));
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> starts, cpu_read_ints(*starts_t, "starts"));
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> ends, cpu_read_ints(*ends_t, "ends"));
  const std::size_t n = starts.size();
  if (ends.size() != n) {
    return invalid_argument("starts has " + std::to_string(n) + " values but ends has " + std::to_string(ends.size()));
  }
  std::vector<int64_t> axes_raw(n), steps(n, 1);
  for (std::size_t k = 0; k < n; ++k) axes_raw[k] = static_cast<int64_t>(k);
  if (const Tensor* a = ctx.input(3)) {
    SS_ASSIGN_OR_RETURN(axes_raw, cpu_read_ints(*a, "axes"));
    if (axes_raw.size() != n) return invalid_argument("axes has " + std::to_string(axes_raw.size()) + " values but starts has " + std::to_string(n));
  }
  if (const Tensor* s = ctx.input(4)) {
    SS_ASSIGN_OR_RETURN(steps, cpu_read_ints(*s, "steps"));
    if (steps.size() != n) return invalid_argument("steps has " + std::to_string(steps.size()) + " values but starts has " + std::to_string(n));
  }
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalize_axes(axes_raw, x->rank()));

  const auto in_st = strides_of(x->shape());
  Shape out = x->shape();
  std::vector<int64_t> st = in_st;
  int64_t base = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const int64_t ax = axes[k], dim = x->dim(ax);
    if (steps[k] == 0) return invalid_argument("steps " + list_to_string(steps) + " has a zero step");
    const int64_t step = std::clamp<int64_t>(steps[k], -std::max<int64_t>(dim, 1), std::max<int64_t>(dim, 1));
    int64_t s = starts[k], e = ends[k];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    int64_t count = 0;
    if (dim == 0) {
      count = 0;
    } else if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      if (e > s) count = (e - s - 1) / step + 1;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      if (s > e) count = (s - e - 1) / (-step) + 1;
    }
    out[ax] = count;
    st[ax] = in_st[ax] * step;
    if (count > 0) base += s * in_st[ax];
  }
  Tensor y(x->dtype(), out);
  SS_RETURN_IF_ERROR(strided_copy(ctx, *x, base, st, &y));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_gather(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* data, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* ind, cuda_required_input(ctx, 1));
  if (data->rank() == 0) return invalid_argument("Gather needs data of rank >= 1, got a scalar");
  SS_ASSIGN_OR_RETURN(int64_t axis, cpu_normalize_axis(ctx.node.attr_int("axis", 0), data->rank()));
  if (ind->dtype() != DType::kInt32 && ind->dtype() != DType::kInt64) {
    return invalid_argument("indices must be int32 or int64, got " + std::string(dtype_name(ind->dtype())));
  }
  const int64_t dim = data->dim(axis);
  const int64_t nidx = ind->numel();
  // The indices are on the device, so the CPU's range check cannot run here (an out-of-range index
  // gives a zero slice, see launch_gather); only an empty axis, where every index is out of range,
  // is known on the host.
  if (dim == 0 && nidx > 0) {
    return invalid_argument("every index is out of range for axis " + std::to_string(axis) + " of size 0 (data shape " +
                            shape_to_string(data->shape()) + ")");
  }
  Shape out;
  for (int64_t k = 0; k < axis; ++k) out.push_back(data->dim(k));
  for (int64_t d : ind->shape()) out.push_back(d);
  for (int64_t k = axis + 1; k < data->rank(); ++k) out.push_back(data->dim(k));
  Tensor y(data->dtype(), out);
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= data->dim(k);
  for (int64_t k = axis + 1; k < data->rank(); ++k) inner *= data->dim(k);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_gather(static_cast<int>(dtype_size(data->dtype())), data->raw(), ind->raw(),
                                                   ind->dtype() == DType::kInt64, y.raw(), outer, dim, nidx, inner,
                                                   ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_transpose(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  const int64_t r = x->rank();
  std::vector<int64_t> perm;
  if (const std::vector<int64_t>* p = ints_attr(ctx.node, "perm")) {
    perm = *p;
    std::vector<bool> seen(static_cast<std::size_t>(r), false);
    bool ok = static_cast<int64_t>(perm.size()) == r;
    for (std::size_t k = 0; ok && k < perm.size(); ++k) {
      ok = perm[k] >= 0 && perm[k] < r && !seen[perm[k]];
      if (ok) seen[perm[k]] = true;
    }
    if (!ok) {
      return invalid_argument("perm " + list_to_string(perm) + " is not a permutation of the " + std::to_string(r) +
                              " axes of input shape " + shape_to_string(x->shape()));
    }
  } else {
    for (int64_t k = r; k-- > 0;) perm.push_back(k);
  }
  const auto in_st = strides_of(x->shape());
  Shape out(static_cast<std::size_t>(r));
  std::vector<int64_t> st(static_cast<std::size_t>(r));
  bool identity = true;
  for (int64_t k = 0; k < r; ++k) {
    out[k] = x->dim(perm[k]);
    st[k] = in_st[perm[k]];
    identity = identity && perm[k] == k;
  }
  if (identity) {
    ctx.outputs[0] = *x;
    return ok_status();
  }
  Tensor y(x->dtype(), out);
  SS_RETURN_IF_ERROR(strided_copy(ctx, *x, 0, st, &y));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_expand(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* shape_t, cuda_required_input(ctx, 1));
  if (shape_t->dtype() != DType::kInt64) return invalid_argument("shape must be int64");
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> shape, cpu_read_ints(*shape_t, "shape"));
  for (int64_t d : shape)
    if (d < 0) return invalid_argument("shape " + list_to_string(shape) + " has a negative dimension");
  SS_ASSIGN_OR_RETURN(Shape out, cpu_broadcast_shapes(x->shape(), shape));
  SS_RETURN_IF_ERROR(check_output_size(out, x->dtype()));
  Tensor y(x->dtype(), out);
  SS_RETURN_IF_ERROR(strided_copy(ctx, *x, 0, cpu_broadcast_strides(x->shape(), out), &y));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ---- Pad ----

Status cuda_pad(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  const int64_t rank = x->rank();
  const Node& node = ctx.node;
  const bool half = any_half_input(ctx);
  const DType xt = widened(x->dtype());  // the type the CPU pads in
  std::string mode_s = "constant";
  if (const Attribute* a = node.attr("mode")) mode_s = a->s;
  kernels::PadMode mode;
  if (mode_s == "constant") {
    mode = kernels::PadMode::kConstant;
  } else if (mode_s == "reflect") {
    mode = kernels::PadMode::kReflect;
  } else if (mode_s == "edge") {
    mode = kernels::PadMode::kEdge;
  } else if (mode_s == "wrap") {
    mode = kernels::PadMode::kWrap;
  } else {
    return invalid_argument("mode '" + mode_s + "' is not one of constant, reflect, edge, wrap");
  }
  const std::size_t es = dtype_size(xt);
  std::vector<std::byte> fill(es, std::byte{0});
  std::vector<int64_t> raw_pads, axes;
  if (node.opset < 11) {
    const Attribute* a = node.attr("pads");
    if (!a) return invalid_argument("the pads attribute is required");
    raw_pads = a->ints;
    const float v = node.attr_float("value", 0.0f);
    const bool ok = dtype_dispatch(xt, [&](auto zero) {
      using T = decltype(zero);
      const T tv = static_cast<T>(v);
      std::memcpy(fill.data(), &tv, es);
    });
    if (!ok) return unimplemented("element type " + std::string(dtype_name(xt)) + " is not supported");
  } else {
    SS_ASSIGN_OR_RETURN(const Tensor* pads_t, cuda_required_input(ctx, 1));
    SS_ASSIGN_OR_RETURN(raw_pads, cpu_read_ints(*pads_t, "pads"));
    if (const Tensor* cv = ctx.input(2); cv && cv->numel() > 0) {
      if (widened(cv->dtype()) != xt) {
        return invalid_argument("constant_value of type " + std::string(dtype_name(widened(cv->dtype()))) +
                                " differs from data's " + std::string(dtype_name(xt)));
      }
      if (cv->numel() != 1)
        return invalid_argument("constant_value " + shape_to_string(cv->shape()) + " must hold one value");
      if (cv->dtype() == DType::kFloat16) {
        const float f = host_float(*cv, 0);
        std::memcpy(fill.data(), &f, es);
      } else {
        std::memcpy(fill.data(), cv->raw(), es);
      }
    }
    if (const Tensor* ax = ctx.input(3); ax) {
      if (node.opset < 18) return invalid_argument("the axes input exists from opset 18 on");
      SS_ASSIGN_OR_RETURN(std::vector<int64_t> raw_axes, cpu_read_ints(*ax, "axes"));
      for (int64_t a : raw_axes) {
        SS_ASSIGN_OR_RETURN(int64_t na, cpu_normalize_axis(a, rank));
        if (std::find(axes.begin(), axes.end(), na) != axes.end()) {
          return invalid_argument("axes " + shape_to_string(raw_axes) + " repeats axis " + str(a));
        }
        axes.push_back(na);
      }
    }
  }
  const bool have_axes = node.opset >= 18 && ctx.input(3) != nullptr;
  if (!have_axes) {
    axes.resize(static_cast<std::size_t>(rank));
    for (int64_t k = 0; k < rank; ++k) axes[static_cast<std::size_t>(k)] = k;
  }
  const std::size_t na = axes.size();
  if (raw_pads.size() != 2 * na) {
    return invalid_argument("pads " + shape_to_string(raw_pads) + " has " + str(static_cast<int64_t>(raw_pads.size())) +
                            " values; expected " + str(static_cast<int64_t>(2 * na)) + " (begin and end for " +
                            str(static_cast<int64_t>(na)) + " axes)");
  }
  std::vector<int64_t> pb(static_cast<std::size_t>(rank), 0), pe(static_cast<std::size_t>(rank), 0);
  for (std::size_t i = 0; i < na; ++i) {
    pb[static_cast<std::size_t>(axes[i])] = raw_pads[i];
    pe[static_cast<std::size_t>(axes[i])] = raw_pads[i + na];
  }
  Shape os(static_cast<std::size_t>(rank));
  for (std::size_t k = 0; k < static_cast<std::size_t>(rank); ++k) {
    const int64_t len = x->shape()[k];
    os[k] = len + pb[k] + pe[k];
    if (os[k] < 0) {
      return invalid_argument("pads " + shape_to_string(raw_pads) + " crop axis " + str(static_cast<int64_t>(k)) +
                              " of size " + str(len) + " below zero");
    }
    if (mode == kernels::PadMode::kReflect && (pb[k] > 0 || pe[k] > 0) && std::max(pb[k], pe[k]) >= len) {
      return invalid_argument("reflect padding of " + str(std::max(pb[k], pe[k])) + " along axis " +
                              str(static_cast<int64_t>(k)) + " needs an axis longer than that; it has " + str(len));
    }
    if ((mode == kernels::PadMode::kEdge || mode == kernels::PadMode::kWrap) && len == 0 && os[k] > 0) {
      return invalid_argument(mode_s + " padding of the empty axis " + str(static_cast<int64_t>(k)) +
                              " is not defined");
    }
  }
  if (rank > kernels::kMaxRank) return rank_limit_error(static_cast<std::size_t>(rank));
  const DType out_dt = rounded_output(xt, half);
  uint64_t fill_bits = 0;
  if (out_dt == DType::kFloat16) {
    float f;
    std::memcpy(&f, fill.data(), sizeof f);
    fill_bits = float_to_half(f);
  } else {
    std::memcpy(&fill_bits, fill.data(), es);
  }
  kernels::PadGeometry g;
  g.rank = static_cast<int>(rank);
  for (int k = 0; k < g.rank; ++k) {
    g.in_dims[k] = x->dim(k);
    g.out_dims[k] = os[static_cast<std::size_t>(k)];
    g.pad_begin[k] = pb[static_cast<std::size_t>(k)];
  }
  Tensor y(out_dt, os);
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_pad(mode, cuda_elem(x->dtype()), cuda_elem(out_dt), x->raw(), y.raw(), g,
                                                fill_bits, y.numel(), ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ---- Resize ----

Status cuda_resize(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  const Node& node = ctx.node;
  const int64_t rank = x->rank();
  const bool half = any_half_input(ctx);
  const DType xt = widened(x->dtype());
  auto str_attr = [&](const char* name, const char* def) {
    const Attribute* a = node.attr(name);
    return a ? a->s : std::string(def);
  };
  const std::string mode_s = str_attr("mode", "nearest");
  const std::string coord_s = str_attr("coordinate_transformation_mode", "half_pixel");
  const std::string nearest_s = str_attr("nearest_mode", "round_prefer_floor");
  if (mode_s != "nearest" && mode_s != "linear") {
    if (mode_s == "cubic") return unimplemented("mode 'cubic' is not supported (nearest and linear are)");
    return invalid_argument("mode '" + mode_s + "' is not one of nearest, linear, cubic");
  }
  kernels::ResizeCoord coord;
  if (coord_s == "half_pixel") {
    coord = kernels::ResizeCoord::kHalfPixel;
  } else if (coord_s == "pytorch_half_pixel") {
    coord = kernels::ResizeCoord::kPytorchHalfPixel;
  } else if (coord_s == "align_corners") {
    coord = kernels::ResizeCoord::kAlignCorners;
  } else if (coord_s == "asymmetric") {
    coord = kernels::ResizeCoord::kAsymmetric;
  } else if (coord_s == "tf_half_pixel_for_nn" && node.opset < 13) {
    coord = kernels::ResizeCoord::kTfHalfPixelForNn;
  } else if (coord_s == "tf_crop_and_resize" || coord_s == "half_pixel_symmetric") {
    return unimplemented("coordinate_transformation_mode '" + coord_s + "' is not supported");
  } else {
    return invalid_argument("coordinate_transformation_mode '" + coord_s + "' is not valid at opset " +
                            str(node.opset));
  }
  kernels::ResizeNearest nearest;
  if (nearest_s == "round_prefer_floor") {
    nearest = kernels::ResizeNearest::kRoundPreferFloor;
  } else if (nearest_s == "round_prefer_ceil") {
    nearest = kernels::ResizeNearest::kRoundPreferCeil;
  } else if (nearest_s == "floor") {
    nearest = kernels::ResizeNearest::kFloor;
  } else if (nearest_s == "ceil") {
    nearest = kernels::ResizeNearest::kCeil;
  } else {
    return invalid_argument("nearest_mode '" + nearest_s +
                            "' is not one of round_prefer_floor, round_prefer_ceil, floor, ceil");
  }
  if (node.attr_int("antialias", 0) != 0) return unimplemented("antialias=1 is not supported");
  if (node.attr("axes"))
    return unimplemented("the axes attribute is not supported; give scales or sizes for every axis");
  if (rank == 0) return invalid_argument("X must have at least one dimension");
  const Tensor* scales_t = ctx.input(2);
  const Tensor* sizes_t = ctx.input(3);
  if (scales_t && scales_t->numel() == 0) scales_t = nullptr;
  if (sizes_t && sizes_t->numel() == 0) sizes_t = nullptr;
  if ((scales_t == nullptr) == (sizes_t == nullptr)) {
    return invalid_argument("exactly one of scales and sizes must be given (non-empty)");
  }
  std::vector<float> scale(static_cast<std::size_t>(rank));
  Shape os(static_cast<std::size_t>(rank));
  if (scales_t) {
    if (widened(scales_t->dtype()) != DType::kFloat32 || scales_t->rank() != 1 || scales_t->numel() != rank) {
      return invalid_argument("scales " + shape_to_string(scales_t->shape()) + " (" +
                              std::string(dtype_name(widened(scales_t->dtype()))) +
                              ") must be 1-D float32 with one value per dimension of X " + shape_to_string(x->shape()));
    }
    for (int64_t k = 0; k < rank; ++k) {
      const float s = host_float(*scales_t, k);
      if (!(s > 0))
        return invalid_argument("scales must be positive; got " + std::to_string(s) + " for axis " + str(k));
      scale[static_cast<std::size_t>(k)] = s;
      os[static_cast<std::size_t>(k)] =
          static_cast<int64_t>(std::floor(static_cast<double>(x->dim(k)) * static_cast<double>(s)));
    }
  } else {
    if (sizes_t->dtype() != DType::kInt64 || sizes_t->rank() != 1 || sizes_t->numel() != rank) {
      return invalid_argument("sizes " + shape_to_string(sizes_t->shape()) +
                              " must be 1-D int64 with one value per dimension of X " + shape_to_string(x->shape()));
    }
    const std::string policy = str_attr("keep_aspect_ratio_policy", "stretch");
    if (policy != "stretch") return unimplemented("keep_aspect_ratio_policy '" + policy + "' is not supported");
    for (int64_t k = 0; k < rank; ++k) {
      const int64_t s = sizes_t->data<int64_t>()[k];
      if (s < 0) return invalid_argument("sizes must not be negative; got " + str(s) + " for axis " + str(k));
      os[static_cast<std::size_t>(k)] = s;
      scale[static_cast<std::size_t>(k)] =
          x->dim(k) == 0 ? 1.0f : static_cast<float>(s) / static_cast<float>(x->dim(k));
    }
  }
  for (int64_t k = 0; k < rank; ++k) {
    if (x->dim(k) == 0 && os[static_cast<std::size_t>(k)] > 0) {
      return invalid_argument("cannot resize the empty axis " + str(k) + " of X " + shape_to_string(x->shape()));
    }
  }
  if (xt != DType::kFloat32 && xt != DType::kFloat64 && mode_s == "linear") {
    return unimplemented("linear Resize of element type " + std::string(dtype_name(xt)) + " is not supported");
  }
  if (mode_s == "linear") {
    if (rank < 2) return unimplemented("linear Resize needs at least 2 dimensions; got " + shape_to_string(x->shape()));
    for (int64_t k = 0; k + 2 < rank; ++k) {
      if (os[static_cast<std::size_t>(k)] != x->dim(k) || scale[static_cast<std::size_t>(k)] != 1.0f) {
        return unimplemented("linear Resize interpolates only the last two dimensions; axis " + str(k) +
                             " must keep its size (scale 1)");
      }
    }
  }
  if (rank > kernels::kMaxRank) return rank_limit_error(static_cast<std::size_t>(rank));
  kernels::ResizeGeometry g;
  g.rank = static_cast<int>(rank);
  for (int k = 0; k < g.rank; ++k) {
    g.in_dims[k] = x->dim(k);
    g.out_dims[k] = os[static_cast<std::size_t>(k)];
    g.scales[k] = scale[static_cast<std::size_t>(k)];
  }
  const DType out_dt = rounded_output(xt, half);
  Tensor y(out_dt, os);
  if (mode_s == "nearest") {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_resize_nearest(coord, nearest, cuda_elem(x->dtype()), cuda_elem(out_dt),
                                                             x->raw(), y.raw(), g, y.numel(), ctx.lane.stream));
  } else {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_resize_linear(coord, cuda_elem(x->dtype()), cuda_elem(out_dt), x->raw(),
                                                            y.raw(), g, y.numel(), ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore
