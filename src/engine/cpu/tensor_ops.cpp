// Tensor-manipulation ops: Gather, Transpose, Expand, Slice, Squeeze, Unsqueeze, Shape,
// ConstantOfShape, Range, Split. The data-movement ops copy dtype_size() bytes per element, so
// they work on every element type (bool included).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/cpu/broadcast.h"
#include "engine/cpu/cpu_ops.h"

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

std::string list_to_string(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (std::size_t k = 0; k < v.size(); ++k) s += (k ? ", " : "") + std::to_string(v[k]);
  return s + "]";
}


// The ints attribute `name`, or nullptr when absent.
const std::vector<int64_t>* ints_attr(const Node& n, const std::string& name) {
  const Attribute* a = n.attr(name);
  return a && a->type == Attribute::Type::kInts ? &a->ints : nullptr;
}

// Row-major element strides of a shape.
std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (std::size_t k = s.size(); k-- > 1;) st[k - 1] = st[k] * s[k];
  return st;
}

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

// Output shapes computed from data (Expand, ConstantOfShape): refuse, rather than try to allocate,
// one whose buffer would pass 2^40 bytes (or whose element count overflows).
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

// Normalizes a list of axes against `rank`; rejects out-of-range and repeated axes.
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

}  // namespace

// ---------------------------------------------------------------------------------------------

Status cpu_gather(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* data, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* ind, cpu_required_input(ctx, 1));
  if (data->rank() == 0) return invalid_argument("Gather needs data of rank >= 1, got a scalar");
  SS_ASSIGN_OR_RETURN(int64_t axis, cpu_normalize_axis(ctx.node.attr_int("axis", 0), data->rank()));
  if (ind->dtype() != DType::kInt32 && ind->dtype() != DType::kInt64) {
    return invalid_argument("indices must be int32 or int64, got " + std::string(dtype_name(ind->dtype())));
  }
  const int64_t dim = data->dim(axis);
  const int64_t nidx = ind->numel();
  std::vector<int64_t> idx(static_cast<std::size_t>(nidx));
  for (int64_t j = 0; j < nidx; ++j) {
    const int64_t v = ind->dtype() == DType::kInt64 ? ind->data<int64_t>()[j] : ind->data<int32_t>()[j];
    if (v < -dim || v >= dim) {
      return invalid_argument("index " + std::to_string(v) + " is out of range for axis " + std::to_string(axis) +
                              " of size " + std::to_string(dim) + " (data shape " + shape_to_string(data->shape()) + ")");
    }
    idx[j] = v < 0 ? v + dim : v;
  }
  Shape out;
  for (int64_t k = 0; k < axis; ++k) out.push_back(data->dim(k));
  for (int64_t d : ind->shape()) out.push_back(d);
  for (int64_t k = axis + 1; k < data->rank(); ++k) out.push_back(data->dim(k));
  Tensor y(data->dtype(), out);
  int64_t outer = 1, inner_bytes = static_cast<int64_t>(dtype_size(data->dtype()));
  for (int64_t k = 0; k < axis; ++k) outer *= data->dim(k);
  for (int64_t k = axis + 1; k < data->rank(); ++k) inner_bytes *= data->dim(k);
  auto* dst = static_cast<std::byte*>(y.raw());
  const auto* src = static_cast<const std::byte*>(data->raw());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < nidx; ++j)
      std::memcpy(dst + (o * nidx + j) * inner_bytes, src + (o * dim + idx[j]) * inner_bytes,
                  static_cast<std::size_t>(inner_bytes));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_transpose(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
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
  strided_copy(*x, 0, st, &y);
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_expand(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* shape_t, cpu_required_input(ctx, 1));
  if (shape_t->dtype() != DType::kInt64) return invalid_argument("shape must be int64");
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> shape, cpu_read_ints(*shape_t, "shape"));
  for (int64_t d : shape)
    if (d < 0) return invalid_argument("shape " + list_to_string(shape) + " has a negative dimension");
  SS_ASSIGN_OR_RETURN(Shape out, cpu_broadcast_shapes(x->shape(), shape));
  SS_RETURN_IF_ERROR(check_output_size(out, x->dtype()));
  Tensor y(x->dtype(), out);
  strided_copy(*x, 0, cpu_broadcast_strides(x->shape(), out), &y);
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_slice(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* starts_t, cpu_required_input(ctx, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* ends_t, cpu_required_input(ctx, 2));
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
    // |step| beyond the dimension selects at most one element: clamping it keeps -step and
    // the stride from overflowing (INT64_MIN steps, INT64_MAX steps).
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
  if (y.numel() > 0) strided_copy(*x, base, st, &y);
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_squeeze(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  std::vector<int64_t> axes_raw;
  if (ctx.node.opset < 13) {
    if (const std::vector<int64_t>* a = ints_attr(ctx.node, "axes")) axes_raw = *a;
  } else if (const Tensor* a = ctx.input(1)) {
    if (a->dtype() != DType::kInt64) return invalid_argument("axes must be int64");
    SS_ASSIGN_OR_RETURN(axes_raw, cpu_read_ints(*a, "axes"));
  }
  // No axes, or an empty list: every dimension of size 1 goes (as ONNX Runtime does).
  const bool have_axes = !axes_raw.empty();
  std::vector<bool> drop(static_cast<std::size_t>(x->rank()), false);
  if (have_axes) {
    SS_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalize_axes(axes_raw, x->rank()));
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
    const std::vector<int64_t>* a = ints_attr(ctx.node, "axes");
    if (!a) return invalid_argument("Unsqueeze requires the 'axes' attribute before opset 13");
    axes_raw = *a;
  } else {
    SS_ASSIGN_OR_RETURN(const Tensor* a, cpu_required_input(ctx, 1));
    if (a->dtype() != DType::kInt64) return invalid_argument("axes must be int64");
    SS_ASSIGN_OR_RETURN(axes_raw, cpu_read_ints(*a, "axes"));
  }
  const int64_t out_rank = x->rank() + static_cast<int64_t>(axes_raw.size());
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalize_axes(axes_raw, out_rank));
  std::vector<bool> ins(static_cast<std::size_t>(out_rank), false);
  for (int64_t a : axes) ins[a] = true;
  Shape out;
  int64_t src = 0;
  for (int64_t k = 0; k < out_rank; ++k) out.push_back(ins[k] ? 1 : x->dim(src++));
  ctx.outputs[0] = x->reshaped(out);
  return ok_status();
}

Status cpu_shape(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
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
  for (int64_t k = 0; k < n; ++k) y.data<int64_t>()[k] = x->dim(start + k);
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_constant_of_shape(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* shape_t, cpu_required_input(ctx, 0));
  if (shape_t->dtype() != DType::kInt64) return invalid_argument("shape must be int64");
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> shape, cpu_read_ints(*shape_t, "shape"));
  for (int64_t d : shape)
    if (d < 0) return invalid_argument("shape " + list_to_string(shape) + " has a negative dimension");
  Tensor value;
  if (const Attribute* a = ctx.node.attr("value")) {
    if (a->type != Attribute::Type::kTensor || a->t.numel() != 1) {
      return invalid_argument("attribute 'value' must be a one-element tensor");
    }
    value = a->t;
  } else {
    const float zero = 0;
    value = Tensor::copy_of(DType::kFloat32, {}, &zero);
  }
  SS_RETURN_IF_ERROR(check_output_size(shape, value.dtype()));
  Tensor y(value.dtype(), Shape(shape.begin(), shape.end()));
  const std::size_t esize = dtype_size(value.dtype());
  auto* dst = static_cast<std::byte*>(y.raw());
  for (int64_t i = 0; i < y.numel(); ++i) std::memcpy(dst + i * static_cast<int64_t>(esize), value.raw(), esize);
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

namespace {
// The most elements Range produces: anything larger is a model bug, reported instead of allocated.
constexpr int64_t kRangeMaxElements = int64_t{1} << 31;

template <typename T>
Status range_typed(const Tensor& start_t, const Tensor& limit_t, const Tensor& delta_t, Tensor* out) {
  const T start = start_t.data<T>()[0], limit = limit_t.data<T>()[0], delta = delta_t.data<T>()[0];
  if (delta == T(0)) return invalid_argument("delta is zero");
  int64_t n = 0;
  if constexpr (std::is_floating_point_v<T>) {
    const double c = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
    if (std::isnan(c)) return invalid_argument("start, limit or delta is NaN");
    if (c > static_cast<double>(kRangeMaxElements)) return invalid_argument("Range would produce more than 2^31 elements");
    n = c > 0 ? static_cast<int64_t>(c) : 0;
  } else {
    // ceil((limit - start) / delta) without overflow: the difference in 128-bit-free form.
    const int64_t s = start, l = limit, d = delta;
    int64_t diff = 0;
    if (__builtin_sub_overflow(l, s, &diff)) return invalid_argument("Range would produce more than 2^31 elements");
    if ((diff > 0 && d > 0) || (diff < 0 && d < 0)) {
      const int64_t q = diff / d, rem = diff % d;
      n = q + (rem != 0 ? 1 : 0);
    }
    if (n > kRangeMaxElements) return invalid_argument("Range would produce more than 2^31 elements");
  }
  *out = Tensor(start_t.dtype(), {n});
  T* p = out->data<T>();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<T>(i) * delta);
  return ok_status();
}
}  // namespace

Status cpu_range(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* start, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* limit, cpu_required_input(ctx, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* delta, cpu_required_input(ctx, 2));
  const char* names[] = {"start", "limit", "delta"};
  const Tensor* ts[] = {start, limit, delta};
  for (int k = 0; k < 3; ++k) {
    if (ts[k]->numel() != 1 || ts[k]->rank() > 1) {
      return invalid_argument(std::string(names[k]) + " must be a scalar, got shape " + shape_to_string(ts[k]->shape()));
    }
    if (ts[k]->dtype() != start->dtype()) return invalid_argument("start, limit and delta differ in type");
  }
  Tensor y;
  Status st = ok_status();
  switch (start->dtype()) {
    case DType::kFloat32: st = range_typed<float>(*start, *limit, *delta, &y); break;
    case DType::kFloat64: st = range_typed<double>(*start, *limit, *delta, &y); break;
    case DType::kInt16: st = range_typed<int16_t>(*start, *limit, *delta, &y); break;
    case DType::kInt32: st = range_typed<int32_t>(*start, *limit, *delta, &y); break;
    case DType::kInt64: st = range_typed<int64_t>(*start, *limit, *delta, &y); break;
    default: return unimplemented("element type " + std::string(dtype_name(start->dtype())) + " is not supported");
  }
  SS_RETURN_IF_ERROR(st);
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_split(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
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
    // Equal parts of ceil(dim / k); the last one is smaller when dim does not divide.
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
    auto* dst = static_cast<std::byte*>(y.raw());
    if (piece > 0)
      for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + o * piece, src + o * row_bytes + col, static_cast<std::size_t>(piece));
    col += piece;
    ctx.outputs[i] = std::move(y);
  }
  return ok_status();
}

}  // namespace shardscore
