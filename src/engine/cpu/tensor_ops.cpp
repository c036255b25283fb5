// Tensor-manipulation ops: Gather, Transpose, Expand, Slice, Squeeze, Unsqueeze, Shape,
// ConstantOfShape, Range, Split; Tile, Trilu, CumSum, GatherElements, ScatterND. The data-movement ops copy dtype_size() bytes per element, so
// they work on every element type (bool included).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/float16.h"
#include "engine/op_plans_tensor.h"

namespace shardscore {

StatusOr<std::vector<int64_t>> cpu_read_ints(const Tensor& t, const std::string& what) {
  if (t.rank() > 1) return invalid_argument(what + " must be a 1-D tensor, got shape " + shape_to_string(t.shape()));
  std::vector<int64_t> v(static_cast<std::size_t>(t.numel()));
  if (t.dtype() == DType::kInt64) {
    std::copy(t.data<int64_t>(), t.data<int64_t>() + t.numel(), v.begin());
  } else if (t.dtype() == DType::kInt32) {
    std::copy(t.data<int32_t>(), t.data<int32_t>() + t.numel(), v.begin());
  } else {
    return invalid_argument(what + " must be int32 or int64, got " + std::string(dtype_name(t.dtype())));
  }
  return v;
}

namespace {

template <typename U>
void copy_run_typed(std::byte* dst, const std::byte* src, int64_t off, int64_t stride, int64_t n) {
  U* d = reinterpret_cast<U*>(dst);
  const U* s = reinterpret_cast<const U*>(src);
  for (int64_t j = 0; j < n; ++j) std::memcpy(d + j, s + off + j * stride, sizeof(U));
}

// Copies `n` elements of `esize` bytes, element j from src element (off + j * stride), into dst.
void copy_run(std::byte* dst, const std::byte* src, int64_t off, int64_t stride, int64_t n, std::size_t esize) {
  if (stride == 1) {
    std::memcpy(dst, src + off * static_cast<int64_t>(esize), static_cast<std::size_t>(n) * esize);
    return;
  }
  switch (esize) {
    case 1: copy_run_typed<uint8_t>(dst, src, off, stride, n); return;
    case 2: copy_run_typed<uint16_t>(dst, src, off, stride, n); return;
    case 4: copy_run_typed<uint32_t>(dst, src, off, stride, n); return;
    case 8: copy_run_typed<uint64_t>(dst, src, off, stride, n); return;
    default:
      for (int64_t j = 0; j < n; ++j)
        std::memcpy(dst + j * static_cast<int64_t>(esize), src + (off + j * stride) * static_cast<int64_t>(esize), esize);
  }
}

// strided_copy's tiled case: output axis k has source stride 1, the last output axis source stride
// st[r-1]. Every other axis is walked one index at a time; for each, the [os[k], os[r-1]] plane is
// copied in kTile x kTile tiles.
template <typename U>
void transpose_tiled(std::byte* dst_bytes, const std::byte* src_bytes, int64_t base, const std::vector<int64_t>& st,
                     const Shape& os, std::size_t k) {
  constexpr int64_t kTile = 16;
  U* dst = reinterpret_cast<U*>(dst_bytes);
  const U* src = reinterpret_cast<const U*>(src_bytes);
  const std::size_t r = os.size();
  std::vector<int64_t> out_stride(r, 1);
  for (std::size_t a = r - 1; a-- > 0;) out_stride[a] = out_stride[a + 1] * os[a + 1];
  const int64_t rows = os[k], cols = os[r - 1], col_stride = st[r - 1], row_out = out_stride[k];
  std::vector<int64_t> idx(r, 0);  // over the axes other than k and r - 1
  const int64_t planes = shape_numel(os) / (rows * cols);
  for (int64_t p = 0; p < planes; ++p) {
    int64_t s0 = base, d0 = 0;
    for (std::size_t a = 0; a + 1 < r; ++a) {
      if (a == k) continue;
      s0 += idx[a] * st[a];
      d0 += idx[a] * out_stride[a];
    }
    for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
      const int64_t i1 = std::min(rows, i0 + kTile);
      for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
        const int64_t j1 = std::min(cols, j0 + kTile);
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) dst[d0 + i * row_out + j] = src[s0 + i + j * col_stride];
      }
    }
    for (std::size_t a = r - 1; a-- > 0;) {
      if (a == k) continue;
      if (++idx[a] < os[a]) break;
      idx[a] = 0;
    }
  }
}

// Fills the contiguous tensor `out` from `src`: output element with multi-index i comes from
// source element base + sum_k i[k] * st[k] (strides may be 0 or negative).
void strided_copy(const Tensor& src, int64_t base, const std::vector<int64_t>& st, Tensor* out) {
  const Shape& os = out->shape();
  const int64_t n = out->numel();
  if (n == 0) return;
  const std::size_t esize = dtype_size(src.dtype());
  auto* dst = static_cast<std::byte*>(out->raw());
  const auto* s = static_cast<const std::byte*>(src.raw());
  const std::size_t r = os.size();
  if (r == 0) {
    std::memcpy(dst, s + base * static_cast<int64_t>(esize), esize);
    return;
  }
  const int64_t inner = os[r - 1];
  // The output's last axis strided in the source while an earlier output axis is the source's
  // contiguous one (a Transpose that moves the last axis, as attention's K^T): copied in square
  // tiles of the two, so both sides are read and written a cache line at a time.
  if (st[r - 1] != 1 && inner > 1) {
    for (std::size_t k = r - 1; k-- > 0;) {
      if (st[k] != 1 || os[k] == 1) continue;
      switch (esize) {
        case 1: transpose_tiled<uint8_t>(dst, s, base, st, os, k); return;
        case 2: transpose_tiled<uint16_t>(dst, s, base, st, os, k); return;
        case 4: transpose_tiled<uint32_t>(dst, s, base, st, os, k); return;
        case 8: transpose_tiled<uint64_t>(dst, s, base, st, os, k); return;
        default: break;
      }
      break;
    }
  }
  std::vector<int64_t> idx(r, 0);
  int64_t off = base;
  for (int64_t done = 0; done < n; done += inner) {
    copy_run(dst + done * static_cast<int64_t>(esize), s, off, st[r - 1], inner, esize);
    for (std::size_t k = r - 1; k-- > 0;) {
      off += st[k];
      if (++idx[k] < os[k]) break;
      off -= st[k] * os[k];
      idx[k] = 0;
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Status cpu_gather(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const GatherPlan p, gather_plan(ctx.node, ctx.inputs));
  const Tensor* data = ctx.inputs[0];
  const Tensor* ind = ctx.inputs[1];
  std::vector<int64_t> idx(static_cast<std::size_t>(p.nidx));
  for (int64_t j = 0; j < p.nidx; ++j) {
    const int64_t v = ind->dtype() == DType::kInt64 ? ind->data<int64_t>()[j] : ind->data<int32_t>()[j];
    if (v < -p.dim || v >= p.dim) {
      return invalid_argument("index " + std::to_string(v) + " is out of range for axis " + std::to_string(p.axis) +
                              " of size " + std::to_string(p.dim) + " (data shape " + shape_to_string(data->shape()) + ")");
    }
    idx[j] = v < 0 ? v + p.dim : v;
  }
  Tensor y(data->dtype(), p.shape);
  const int64_t inner_bytes = p.inner * static_cast<int64_t>(dtype_size(data->dtype()));
  auto* dst = static_cast<std::byte*>(y.raw());
  const auto* src = static_cast<const std::byte*>(data->raw());
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t j = 0; j < p.nidx; ++j)
      std::memcpy(dst + (o * p.nidx + j) * inner_bytes, src + (o * p.dim + idx[j]) * inner_bytes,
                  static_cast<std::size_t>(inner_bytes));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_gather_nd(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const GatherNdPlan p, gather_nd_plan(ctx.node, ctx.inputs));
  const Tensor* data = ctx.inputs[0];
  const int64_t* ind = ctx.inputs[1]->data<int64_t>();
  Tensor y(data->dtype(), p.shape);
  const int64_t es = static_cast<int64_t>(dtype_size(data->dtype()));
  auto* dst = static_cast<std::byte*>(y.raw());
  const auto* src = static_cast<const std::byte*>(data->raw());
  for (int64_t row = 0; row < p.batches * p.per_batch; ++row) {
    int64_t off = (row / p.per_batch) * p.batch_stride;
    for (int64_t k = 0; k < p.m; ++k) {
      const int64_t v = ind[row * p.m + k], dim = p.dims[k];
      if (v < -dim || v >= dim) {
        return invalid_argument("index " + std::to_string(v) + " is out of range for dimension " +
                                std::to_string(p.batch_dims + k) + " of size " + std::to_string(dim) + " (data shape " +
                                shape_to_string(data->shape()) + ")");
      }
      off += (v < 0 ? v + dim : v) * p.strides[k];
    }
    std::memcpy(dst + row * p.slice * es, src + off * es, static_cast<std::size_t>(p.slice * es));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

namespace {
// Transpose, Expand, Slice: the plan's one strided copy of input 0.
Status copy_strided(const Tensor& x, const StridedPlan& p, Tensor* y) {
  strided_copy(x, p.base, p.strides, y);
  return ok_status();
}
}  // namespace

Status cpu_transpose(OpContext& ctx) { return run_strided_plan(ctx, transpose_plan(ctx.node, ctx.inputs), copy_strided); }
Status cpu_expand(OpContext& ctx) { return run_strided_plan(ctx, expand_plan(ctx.node, ctx.inputs), copy_strided); }
Status cpu_depth_to_space(OpContext& ctx) {
  return run_strided_plan(ctx, depth_to_space_plan(ctx.node, ctx.inputs), copy_strided);
}
Status cpu_space_to_depth(OpContext& ctx) {
  return run_strided_plan(ctx, space_to_depth_plan(ctx.node, ctx.inputs), copy_strided);
}
Status cpu_slice(OpContext& ctx) { return run_strided_plan(ctx, slice_plan(ctx.node, ctx.inputs), copy_strided); }

Status cpu_squeeze(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  std::vector<int64_t> axes_raw;
  if (ctx.node.opset < 13) {
    if (const std::vector<int64_t>* a = ctx.node.attr_ints("axes")) axes_raw = *a;
  } else if (const Tensor* a = ctx.input(1)) {
    if (a->dtype() != DType::kInt64) return invalid_argument("axes must be int64");
    SS_ASSIGN_OR_RETURN(axes_raw, cpu_read_ints(*a, "axes"));
  }
  // No axes, or an empty list: every dimension of size 1 goes (as ONNX Runtime does).
  const bool have_axes = !axes_raw.empty();
  std::vector<bool> drop(static_cast<std::size_t>(x->rank()), false);
  if (have_axes) {
    SS_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalize_distinct_axes(axes_raw, x->rank()));
    for (int64_t a : axes) {
      if (x->dim(a) != 1) {
        return invalid_argument("cannot squeeze axis " + std::to_string(a) + " of shape " + shape_to_string(x->shape()) +
                                ": its size is " + std::to_string(x->dim(a)) + ", not 1");
      }
      drop[a] = true;
    }
  } else {
    for (int64_t k = 0; k < x->rank(); ++k) drop[k] = x->dim(k) == 1;
  }
  Shape out;
  for (int64_t k = 0; k < x->rank(); ++k)
    if (!drop[k]) out.push_back(x->dim(k));
  ctx.outputs[0] = x->reshaped(out);
  return ok_status();
}

Status cpu_unsqueeze(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  std::vector<int64_t> axes_raw;
  if (ctx.node.opset < 13) {
    const std::vector<int64_t>* a = ctx.node.attr_ints("axes");
    if (!a) return invalid_argument("Unsqueeze requires the 'axes' attribute before opset 13");
    axes_raw = *a;
  } else {
    SS_ASSIGN_OR_RETURN(const Tensor* a, cpu_required_input(ctx, 1));
    if (a->dtype() != DType::kInt64) return invalid_argument("axes must be int64");
    SS_ASSIGN_OR_RETURN(axes_raw, cpu_read_ints(*a, "axes"));
  }
  const int64_t out_rank = x->rank() + static_cast<int64_t>(axes_raw.size());
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalize_distinct_axes(axes_raw, out_rank));
  std::vector<bool> ins(static_cast<std::size_t>(out_rank), false);
  for (int64_t a : axes) ins[a] = true;
  Shape out;
  int64_t src = 0;
  for (int64_t k = 0; k < out_rank; ++k) out.push_back(ins[k] ? 1 : x->dim(src++));
  ctx.outputs[0] = x->reshaped(out);
  return ok_status();
}

Status cpu_shape(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ShapePlan p, shape_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  Tensor y(DType::kInt64, {p.count});
  for (int64_t k = 0; k < p.count; ++k) y.data<int64_t>()[k] = x->dim(p.start + k);
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_constant_of_shape(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ConstantOfShapePlan p, constant_of_shape_plan(ctx.node, ctx.inputs));
  const float zero = 0;
  const void* value = p.value ? p.value->raw() : &zero;
  Tensor y(p.dtype, p.shape);
  const std::size_t esize = dtype_size(p.dtype);
  auto* dst = static_cast<std::byte*>(y.raw());
  for (int64_t i = 0; i < y.numel(); ++i) std::memcpy(dst + i * static_cast<int64_t>(esize), value, esize);
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

namespace {
template <typename T>
void fill_range(T start, T delta, Tensor* y) {
  T* p = y->data<T>();
  for (int64_t i = 0, n = y->numel(); i < n; ++i) p[i] = static_cast<T>(start + static_cast<T>(i) * delta);
}
}  // namespace

Status cpu_range(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const RangePlan p, range_plan(ctx.node, ctx.inputs));
  Tensor y(p.dtype, {p.count});
  switch (p.dtype) {
    case DType::kFloat32: fill_range<float>(static_cast<float>(p.fstart), static_cast<float>(p.fdelta), &y); break;
    case DType::kFloat64: fill_range<double>(p.fstart, p.fdelta, &y); break;
    case DType::kInt16: fill_range<int16_t>(static_cast<int16_t>(p.istart), static_cast<int16_t>(p.idelta), &y); break;
    case DType::kInt32: fill_range<int32_t>(static_cast<int32_t>(p.istart), static_cast<int32_t>(p.idelta), &y); break;
    default: fill_range<int64_t>(p.istart, p.idelta, &y); break;  // range_plan admits only these types
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_split(OpContext& ctx) {
  return run_split_plan(ctx, split_plan(ctx.node, ctx.inputs, ctx.outputs.size()), host_copy_rows);
}

// ---- Tile, Trilu, CumSum, GatherElements, ScatterND ----

Status cpu_tile(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const TilePlan p, tile_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  Tensor y(x->dtype(), p.copy_shape);
  strided_copy(*x, 0, p.copy_strides, &y);
  ctx.outputs[0] = y.reshaped(p.shape);
  return ok_status();
}

Status cpu_trilu(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const TriluPlan p, trilu_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  Tensor y(x->dtype(), x->shape());
  const int64_t es = static_cast<int64_t>(dtype_size(x->dtype()));
  const auto* src = static_cast<const std::byte*>(x->raw());
  auto* dst = static_cast<std::byte*>(y.raw());
  for (int64_t b = 0; b < p.batches; ++b)
    for (int64_t r = 0; r < p.rows; ++r) {
      // Columns c with c - r >= k (upper) or c - r <= k (lower) are kept: [lo, hi).
      const int64_t row = (b * p.rows + r) * p.cols;
      int64_t lo = 0, hi = p.cols;
      if (p.upper) lo = std::clamp<int64_t>(p.k > p.cols ? p.cols : r + p.k, 0, p.cols);
      else hi = std::clamp<int64_t>(p.k > p.cols ? p.cols : r + p.k + 1, 0, p.cols);
      std::memset(dst + row * es, 0, static_cast<std::size_t>(p.cols * es));
      if (hi > lo) std::memcpy(dst + (row + lo) * es, src + (row + lo) * es, static_cast<std::size_t>((hi - lo) * es));
    }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

namespace {
template <typename T>
void cumsum_typed(const CumSumPlan& p, const T* x, T* y) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t in = 0; in < p.inner; ++in) {
      Acc acc = 0;
      for (int64_t s = 0; s < p.dim; ++s) {
        const int64_t d = p.reverse ? p.dim - 1 - s : s;
        const int64_t at = (o * p.dim + d) * p.inner + in;
        if (p.exclusive) y[at] = static_cast<T>(acc);
        acc += static_cast<Acc>(x[at]);  // integers wrap (two's complement)
        if (!p.exclusive) y[at] = static_cast<T>(acc);
      }
    }
}
}  // namespace

Status cpu_cumsum(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const CumSumPlan p, cumsum_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  Tensor y(x->dtype(), x->shape());
  switch (x->dtype()) {
    case DType::kFloat32: cumsum_typed(p, x->data<float>(), y.data<float>()); break;
    case DType::kFloat64: cumsum_typed(p, x->data<double>(), y.data<double>()); break;
    case DType::kInt32: cumsum_typed(p, x->data<int32_t>(), y.data<int32_t>()); break;
    case DType::kInt64: cumsum_typed(p, x->data<int64_t>(), y.data<int64_t>()); break;
    case DType::kUInt32: cumsum_typed(p, x->data<uint32_t>(), y.data<uint32_t>()); break;
    case DType::kUInt64: cumsum_typed(p, x->data<uint64_t>(), y.data<uint64_t>()); break;
    default: return unsupported_element_type(x->dtype());  // float16 not widened by op_run_cpu
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

namespace {
// GatherElements' and ScatterElements' element offsets in data, for indices' elements in row-major
// order: element i's coordinates with the axis one replaced by its index (+ dim when negative).
// InvalidArgument naming the first index outside [-dim, dim).
StatusOr<std::vector<int64_t>> element_offsets(const Tensor& ind, const Shape& shape, int64_t axis, int64_t dim,
                                               const std::vector<int64_t>& data_strides, const Shape& data_shape) {
  const int64_t r = static_cast<int64_t>(shape.size());
  std::vector<int64_t> idx(static_cast<std::size_t>(r), 0), offs(static_cast<std::size_t>(ind.numel()));
  for (int64_t i = 0, n = ind.numel(); i < n; ++i) {
    const int64_t v = ind.dtype() == DType::kInt64 ? ind.data<int64_t>()[i] : ind.data<int32_t>()[i];
    if (v < -dim || v >= dim) {
      return invalid_argument("index " + std::to_string(v) + " is out of range for axis " + std::to_string(axis) + " of size " +
                              std::to_string(dim) + " (data shape " + shape_to_string(data_shape) + ")");
    }
    int64_t off = 0;
    for (int64_t k = 0; k < r; ++k) off += (k == axis ? (v < 0 ? v + dim : v) : idx[k]) * data_strides[k];
    offs[static_cast<std::size_t>(i)] = off;
    for (int64_t k = r; k-- > 0;) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return offs;
}
}  // namespace

Status cpu_gather_elements(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const GatherElementsPlan p, gather_elements_plan(ctx.node, ctx.inputs));
  const Tensor* data = ctx.inputs[0];
  SS_ASSIGN_OR_RETURN(const std::vector<int64_t> offs,
                      element_offsets(*ctx.inputs[1], p.shape, p.axis, p.dim, p.data_strides, data->shape()));
  Tensor y(data->dtype(), p.shape);
  const std::size_t es = dtype_size(data->dtype());
  const auto* src = static_cast<const std::byte*>(data->raw());
  auto* dst = static_cast<std::byte*>(y.raw());
  for (std::size_t i = 0; i < offs.size(); ++i) std::memcpy(dst + i * es, src + static_cast<std::size_t>(offs[i]) * es, es);
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

namespace {
// One update combined into a data element by a ScatterND reduction (integers wrap).
template <typename T>
T scatter_combine(ScatterReduction red, T a, T b) {
  if constexpr (std::is_same_v<T, bool>) {
    return b;  // scatter_nd_plan refuses reductions on bool
  } else {
    switch (red) {
      case ScatterReduction::kAdd:
        if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
        else return a + b;
      case ScatterReduction::kMul:
        if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
        else return a * b;
      // The update unless the data element compares past it, as ONNX Runtime: a NaN update lands
      // and a NaN in data is replaced (max of +0 data and a -0 update is -0).
      case ScatterReduction::kMax: return a > b ? a : b;
      case ScatterReduction::kMin: return a < b ? a : b;
      case ScatterReduction::kNone: break;
    }
    return b;
  }
}
}  // namespace

Status cpu_scatter_nd(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ScatterNdPlan p, scatter_nd_plan(ctx.node, ctx.inputs));
  const Tensor* data = ctx.inputs[0];
  const int64_t* ind = ctx.inputs[1]->data<int64_t>();
  const Tensor* upd = ctx.inputs[2];
  Tensor y = Tensor::copy_of(data->dtype(), data->shape(), data->raw());
  const int64_t es = static_cast<int64_t>(dtype_size(data->dtype()));
  auto* dst = static_cast<std::byte*>(y.raw());
  const auto* src = static_cast<const std::byte*>(upd->raw());
  for (int64_t row = 0; row < p.rows; ++row) {
    int64_t off = 0;
    for (int64_t k = 0; k < p.m; ++k) {
      const int64_t v = ind[row * p.m + k], dim = p.dims[k];
      if (v < -dim || v >= dim) {
        return invalid_argument("index " + std::to_string(v) + " is out of range for dimension " + std::to_string(k) +
                                " of size " + std::to_string(dim) + " (data shape " + shape_to_string(data->shape()) + ")");
      }
      off += (v < 0 ? v + dim : v) * p.strides[k];
    }
    if (p.reduction == ScatterReduction::kNone) {
      std::memcpy(dst + off * es, src + row * p.slice * es, static_cast<std::size_t>(p.slice * es));
      continue;
    }
    const bool ok = dtype_dispatch(data->dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* d = y.data<T>() + off;
      const T* u = upd->data<T>() + row * p.slice;
      for (int64_t r = 0; r < p.slice; ++r) d[r] = scatter_combine<T>(p.reduction, d[r], u[r]);
    });
    if (!ok) return unsupported_element_type(data->dtype());  // float16 not widened by op_run_cpu
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}


Status cpu_scatter_elements(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ScatterElementsPlan p, scatter_elements_plan(ctx.node, ctx.inputs));
  const Tensor* data = ctx.inputs[0];
  const Tensor* ind = ctx.inputs[1];
  const Tensor* upd = ctx.inputs[2];
  // Every index checked before any update is applied.
  SS_ASSIGN_OR_RETURN(const std::vector<int64_t> offs, element_offsets(*ind, p.shape, p.axis, p.dim, p.data_strides, data->shape()));
  Tensor y = Tensor::copy_of(data->dtype(), data->shape(), data->raw());
  const int64_t es = static_cast<int64_t>(dtype_size(data->dtype()));
  auto* dst = static_cast<std::byte*>(y.raw());
  const auto* src = static_cast<const std::byte*>(upd->raw());
  if (p.reduction == ScatterReduction::kNone) {
    for (std::size_t i = 0; i < offs.size(); ++i)
      std::memcpy(dst + offs[i] * es, src + static_cast<int64_t>(i) * es, static_cast<std::size_t>(es));
  } else {
    const bool ok = dtype_dispatch(data->dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* d = y.data<T>();
      const T* u = upd->data<T>();
      for (std::size_t i = 0; i < offs.size(); ++i) d[offs[i]] = scatter_combine<T>(p.reduction, d[offs[i]], u[i]);
    });
    if (!ok) return unsupported_element_type(data->dtype());  // float16 widened by op_run_cpu
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

namespace {
// OneHot's index value: integers as they are, floats truncated toward zero, kOneHotNoIndex (no row
// is on) for a NaN, an infinity, a float past +-2^62 or a uint64 past INT64_MAX. The CUDA kernel's
// one_hot_index (kernels/tensor_ops.cu) mirrors it.
constexpr int64_t kOneHotNoIndex = INT64_MIN;
template <typename T>
int64_t one_hot_index(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    constexpr double kLimit = 4611686018427387904.0;  // 2^62
    return std::isfinite(v) && std::fabs(static_cast<double>(v)) < kLimit ? static_cast<int64_t>(v) : kOneHotNoIndex;
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    return v > static_cast<uint64_t>(INT64_MAX) ? kOneHotNoIndex : static_cast<int64_t>(v);
  } else {
    return static_cast<int64_t>(v);
  }
}
}  // namespace

Status cpu_one_hot(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const OneHotPlan p, one_hot_plan(ctx.node, ctx.inputs));
  const Tensor* ind = ctx.inputs[0];
  const Tensor* values = ctx.inputs[2];
  std::vector<int64_t> at(static_cast<std::size_t>(ind->numel()));  // the row that is on, or -1
  auto put = [&](std::size_t i, int64_t v) {
    if (v < 0) v += p.depth;  // kOneHotNoIndex + depth (<= 1e15) stays negative: no row
    at[i] = v >= 0 && v < p.depth ? v : -1;
  };
  const bool ok = dtype_dispatch(ind->dtype(), [&](auto zero) {
    using T = decltype(zero);
    for (std::size_t i = 0; i < at.size(); ++i) put(i, one_hot_index(ind->data<T>()[i]));
  });
  if (!ok) {  // float16 / bfloat16 indices, as stored (the op moves its values' bytes)
    if (!dtype_is_half(ind->dtype())) return unsupported_element_type(ind->dtype());
    for (std::size_t i = 0; i < at.size(); ++i) put(i, one_hot_index(half_bits_to_float(ind->dtype(), ind->data<uint16_t>()[i])));
  }
  Tensor y(p.dtype, p.out_shape);
  const std::size_t es = dtype_size(p.dtype);
  const auto* off = static_cast<const std::byte*>(values->raw());
  const std::byte* on = off + es;
  auto* dst = static_cast<std::byte*>(y.raw());
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t d = 0; d < p.depth; ++d)
      for (int64_t i = 0; i < p.inner; ++i) {
        const bool hot = at[static_cast<std::size_t>(o * p.inner + i)] == d;
        std::memcpy(dst + static_cast<std::size_t>((o * p.depth + d) * p.inner + i) * es, hot ? on : off, es);
      }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_eye_like(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const EyeLikePlan p, eye_like_plan(ctx.node, ctx.inputs));
  Tensor y(p.dtype, {p.rows, p.cols});
  const std::size_t es = dtype_size(p.dtype);
  std::memset(y.raw(), 0, y.nbytes());
  const uint64_t one = p.one_bits;
  for (int64_t r = 0; r < p.rows; ++r) {
    if (p.k < -r || p.k >= p.cols - r) continue;  // no column r + k (compared so, r + k cannot overflow)
    std::memcpy(static_cast<std::byte*>(y.raw()) + static_cast<std::size_t>(r * p.cols + r + p.k) * es, &one, es);
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_size(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  Tensor y(DType::kInt64, {});
  y.data<int64_t>()[0] = x->numel();
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// Einsum: per output element, the sum over the summed labels (odometer order, the last label
// fastest) of the operands' product, in double (float types) or wrapping int64 (integers).
Status cpu_einsum(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(EinsumPlan p, einsum_plan(ctx.node, ctx.inputs));
  const DType t = p.dtype;
  Tensor y(t, p.out_shape);
  int64_t sum_count = 1;
  for (int l = p.out_labels; l < p.labels; ++l) sum_count *= p.size[l];
  const bool known = dtype_dispatch_among<float, double, int32_t, int64_t>(t, [&](auto zero) {
    using T = decltype(zero);
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;  // integers wrap
    const T* in[kEinsumMaxOperands] = {};
    for (int k = 0; k < p.operands; ++k) in[k] = ctx.inputs[static_cast<std::size_t>(k)]->data<T>();
    T* py = y.data<T>();
    int64_t idx[kEinsumMaxLabels] = {};
    for (int64_t o = 0; o < y.numel(); ++o) {
      int64_t off[kEinsumMaxOperands] = {};
      for (int64_t rest = o, l = p.out_labels - 1; l >= 0; --l) {
        const int64_t v = rest % p.size[l];
        rest /= p.size[l];
        for (int k = 0; k < p.operands; ++k) off[k] += v * p.stride[k][l];
      }
      for (int l = p.out_labels; l < p.labels; ++l) idx[l] = 0;
      Acc acc = 0;
      for (int64_t s = 0; s < sum_count; ++s) {
        Acc prod = static_cast<Acc>(in[0][off[0]]);
        for (int k = 1; k < p.operands; ++k) prod *= static_cast<Acc>(in[k][off[k]]);
        acc += prod;
        for (int l = p.labels - 1; l >= p.out_labels; --l) {  // next summed index, the last label fastest
          for (int k = 0; k < p.operands; ++k) off[k] += p.stride[k][l];
          if (++idx[l] < p.size[l]) break;
          for (int k = 0; k < p.operands; ++k) off[k] -= p.size[l] * p.stride[k][l];
          idx[l] = 0;
        }
      }
      py[o] = static_cast<T>(acc);
    }
  });
  if (!known) return unsupported_element_type(t);  // float16 is widened by op_run_cpu
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore
