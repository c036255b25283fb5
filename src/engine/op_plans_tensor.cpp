// Shared plans of the data-movement and shape ops (contracts in op_plans_tensor.h).
#include "engine/op_plans_tensor.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/cpu/broadcast.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/float16.h"

namespace shardscore {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

const Tensor* input_at(const std::vector<const Tensor*>& inputs, std::size_t i) {
  return i < inputs.size() ? inputs[i] : nullptr;
}

// The float16 / bfloat16 type of the inputs, or kUndefined.
DType any_half(const std::vector<const Tensor*>& inputs) { return plan_half_type(inputs); }

// The type of an output computed as `computed` (see the header comment).
DType rounded_output(DType computed, DType half) {
  return half != DType::kUndefined && computed == DType::kFloat32 ? half : computed;
}

float host_float(const Tensor& t, int64_t k) {
  return dtype_is_half(t.dtype()) ? half_bits_to_float(t.dtype(), t.data<uint16_t>()[k]) : t.data<float>()[k];
}

}  // namespace

// ---- helpers ----

std::string ints_to_string(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (std::size_t k = 0; k < v.size(); ++k) s += (k ? ", " : "") + std::to_string(v[k]);
  return s + "]";
}

std::vector<int64_t> row_major_strides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (std::size_t k = s.size(); k-- > 1;) st[k - 1] = st[k] * s[k];
  return st;
}

Status check_output_bytes(const Shape& s, DType dt) {
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

StatusOr<std::vector<int64_t>> normalize_distinct_axes(const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<std::size_t>(rank), false);
  for (int64_t a : axes) {
    SS_ASSIGN_OR_RETURN(int64_t n, cpu_normalize_axis(a, rank));
    if (seen[n]) return invalid_argument("axis " + std::to_string(n) + " appears more than once in axes " + ints_to_string(axes));
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

// ---- Transpose, Expand, Slice ----

namespace {

// X seen as `view` (its elements in row-major order), copied in the order of `perm` over the view's
// axes, and the result seen as `out_shape`.
StridedPlan permuted_view(const Shape& view, const std::vector<int64_t>& perm, Shape out_shape) {
  const auto st = row_major_strides(view);
  StridedPlan p;
  for (const int64_t k : perm) {
    p.shape.push_back(view[static_cast<std::size_t>(k)]);
    p.strides.push_back(st[static_cast<std::size_t>(k)]);
  }
  p.out_shape = std::move(out_shape);
  return p;
}

// X [N, C, H, W] and blocksize (>= 1), checked.
StatusOr<int64_t> block_of(const Node& node, const Tensor& x) {
  if (x.rank() != 4) return invalid_argument("X " + shape_to_string(x.shape()) + " must be 4-D [N, C, H, W]");
  const int64_t b = node.attr_int("blocksize", 0);
  if (b < 1) return invalid_argument("blocksize " + std::to_string(b) + " must be given and at least 1");
  return b;
}

}  // namespace

StatusOr<StridedPlan> depth_to_space_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const int64_t b, block_of(node, *x));
  const int64_t n = x->dim(0), c = x->dim(1), h = x->dim(2), w = x->dim(3);
  if (c % (b * b) != 0) {
    return invalid_argument("X " + shape_to_string(x->shape()) + ": its " + std::to_string(c) +
                            " channels are not a multiple of blocksize^2 (" + std::to_string(b * b) + ")");
  }
  const std::string mode = node.opset >= 11 ? node.attr_string("mode", "DCR") : "DCR";
  const Shape out{n, c / (b * b), h * b, w * b};
  // DCR: depth as [b, b, C'], the spec's reshape [N, b, b, C', H, W] and transpose [0, 3, 4, 1, 5, 2];
  // CRD: as [C', b, b], reshape [N, C', b, b, H, W] and transpose [0, 1, 4, 2, 5, 3].
  if (mode == "DCR") return permuted_view({n, b, b, c / (b * b), h, w}, {0, 3, 4, 1, 5, 2}, out);
  if (mode == "CRD") return permuted_view({n, c / (b * b), b, b, h, w}, {0, 1, 4, 2, 5, 3}, out);
  return invalid_argument("mode '" + mode + "' is not DCR or CRD");
}

StatusOr<StridedPlan> space_to_depth_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const int64_t b, block_of(node, *x));
  const int64_t n = x->dim(0), c = x->dim(1), h = x->dim(2), w = x->dim(3);
  if (h % b != 0 || w % b != 0) {
    return invalid_argument("X " + shape_to_string(x->shape()) + ": its height and width are not multiples of blocksize " +
                            std::to_string(b));
  }
  // The spec's reshape [N, C, H/b, b, W/b, b] and transpose [0, 3, 5, 1, 2, 4].
  return permuted_view({n, c, h / b, b, w / b, b}, {0, 3, 5, 1, 2, 4}, {n, c * b * b, h / b, w / b});
}

StatusOr<StridedPlan> transpose_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  const int64_t r = x->rank();
  std::vector<int64_t> perm;
  if (const std::vector<int64_t>* p = node.attr_ints("perm")) {
    perm = *p;
    std::vector<bool> seen(static_cast<std::size_t>(r), false);
    bool ok = static_cast<int64_t>(perm.size()) == r;
    for (std::size_t k = 0; ok && k < perm.size(); ++k) {
      ok = perm[k] >= 0 && perm[k] < r && !seen[perm[k]];
      if (ok) seen[perm[k]] = true;
    }
    if (!ok) {
      return invalid_argument("perm " + ints_to_string(perm) + " is not a permutation of the " + std::to_string(r) +
                              " axes of input shape " + shape_to_string(x->shape()));
    }
  } else {
    for (int64_t k = r; k-- > 0;) perm.push_back(k);
  }
  const auto in_st = row_major_strides(x->shape());
  StridedPlan p;
  p.shape.resize(static_cast<std::size_t>(r));
  p.strides.resize(static_cast<std::size_t>(r));
  p.identity = true;
  for (int64_t k = 0; k < r; ++k) {
    p.shape[k] = x->dim(perm[k]);
    p.strides[k] = in_st[perm[k]];
    p.identity = p.identity && perm[k] == k;
  }
  return p;
}

StatusOr<StridedPlan> expand_plan(const Node&, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* shape_t, plan_required_input(inputs, 1));
  if (shape_t->dtype() != DType::kInt64) return invalid_argument("shape must be int64");
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> shape, cpu_read_ints(*shape_t, "shape"));
  for (int64_t d : shape)
    if (d < 0) return invalid_argument("shape " + ints_to_string(shape) + " has a negative dimension");
  StridedPlan p;
  SS_ASSIGN_OR_RETURN(p.shape, cpu_broadcast_shapes(x->shape(), shape));
  SS_RETURN_IF_ERROR(check_output_bytes(p.shape, x->dtype()));
  p.strides = cpu_broadcast_strides(x->shape(), p.shape);
  return p;
}

StatusOr<StridedPlan> slice_plan(const Node&, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* starts_t, plan_required_input(inputs, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* ends_t, plan_required_input(inputs, 2));
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> starts, cpu_read_ints(*starts_t, "starts"));
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> ends, cpu_read_ints(*ends_t, "ends"));
  const std::size_t n = starts.size();
  if (ends.size() != n) {
    return invalid_argument("starts has " + std::to_string(n) + " values but ends has " + std::to_string(ends.size()));
  }
  std::vector<int64_t> axes_raw(n), steps(n, 1);
  for (std::size_t k = 0; k < n; ++k) axes_raw[k] = static_cast<int64_t>(k);
  if (const Tensor* a = input_at(inputs, 3)) {
    SS_ASSIGN_OR_RETURN(axes_raw, cpu_read_ints(*a, "axes"));
    if (axes_raw.size() != n) return invalid_argument("axes has " + std::to_string(axes_raw.size()) + " values but starts has " + std::to_string(n));
  }
  if (const Tensor* s = input_at(inputs, 4)) {
    SS_ASSIGN_OR_RETURN(steps, cpu_read_ints(*s, "steps"));
    if (steps.size() != n) return invalid_argument("steps has " + std::to_string(steps.size()) + " values but starts has " + std::to_string(n));
  }
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalize_distinct_axes(axes_raw, x->rank()));

  const auto in_st = row_major_strides(x->shape());
  StridedPlan p;
  p.shape = x->shape();
  p.strides = in_st;
  for (std::size_t k = 0; k < n; ++k) {
    const int64_t ax = axes[k], dim = x->dim(ax);
    if (steps[k] == 0) return invalid_argument("steps " + ints_to_string(steps) + " has a zero step");
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
    p.shape[ax] = count;
    p.strides[ax] = in_st[ax] * step;
    if (count > 0) p.base += s * in_st[ax];
  }
  return p;
}

// ---- Gather ----

StatusOr<GatherPlan> gather_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* data, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* ind, plan_required_input(inputs, 1));
  if (data->rank() == 0) return invalid_argument("Gather needs data of rank >= 1, got a scalar");
  GatherPlan p;
  SS_ASSIGN_OR_RETURN(p.axis, cpu_normalize_axis(node.attr_int("axis", 0), data->rank()));
  if (ind->dtype() != DType::kInt32 && ind->dtype() != DType::kInt64) {
    return invalid_argument("indices must be int32 or int64, got " + std::string(dtype_name(ind->dtype())));
  }
  p.dim = data->dim(p.axis);
  p.nidx = ind->numel();
  for (int64_t k = 0; k < p.axis; ++k) p.shape.push_back(data->dim(k));
  for (int64_t d : ind->shape()) p.shape.push_back(d);
  for (int64_t k = p.axis + 1; k < data->rank(); ++k) p.shape.push_back(data->dim(k));
  for (int64_t k = 0; k < p.axis; ++k) p.outer *= data->dim(k);
  for (int64_t k = p.axis + 1; k < data->rank(); ++k) p.inner *= data->dim(k);
  return p;
}

StatusOr<GatherNdPlan> gather_nd_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* data, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* ind, plan_required_input(inputs, 1));
  if (ind->dtype() != DType::kInt64) {
    return invalid_argument("indices must be int64, got " + std::string(dtype_name(ind->dtype())));
  }
  const int64_t r = data->rank(), q = ind->rank();
  if (r < 1 || q < 1) return invalid_argument("data and indices need rank >= 1");
  GatherNdPlan p;
  p.batch_dims = node.attr_int("batch_dims", 0);
  const int64_t b = p.batch_dims;
  if (b < 0 || b >= std::min(r, q)) {
    return invalid_argument("batch_dims " + std::to_string(b) + " must be in [0, " + std::to_string(std::min(r, q)) + ")");
  }
  for (int64_t k = 0; k < b; ++k) {
    if (data->dim(k) != ind->dim(k)) {
      return invalid_argument("data " + shape_to_string(data->shape()) + " and indices " + shape_to_string(ind->shape()) +
                              " differ in their first batch_dims = " + std::to_string(b) + " dimensions");
    }
  }
  p.m = ind->dim(q - 1);
  if (p.m < 1 || p.m > r - b) {
    return invalid_argument("indices' last dimension is " + std::to_string(p.m) + "; it must be in [1, " +
                            std::to_string(r - b) + "] for data " + shape_to_string(data->shape()) + " and batch_dims " +
                            std::to_string(b));
  }
  for (int64_t k = 0; k < b; ++k) p.batches *= data->dim(k);
  for (int64_t k = b; k < q - 1; ++k) p.per_batch *= ind->dim(k);
  for (int64_t k = b + p.m; k < r; ++k) p.slice *= data->dim(k);
  p.dims.resize(static_cast<std::size_t>(p.m));
  p.strides.resize(static_cast<std::size_t>(p.m));
  int64_t stride = p.slice;
  for (int64_t k = p.m; k-- > 0;) {
    p.dims[k] = data->dim(b + k);
    p.strides[k] = stride;
    stride *= p.dims[k];
  }
  p.batch_stride = stride;
  for (int64_t k = 0; k < q - 1; ++k) p.shape.push_back(ind->dim(k));
  for (int64_t k = b + p.m; k < r; ++k) p.shape.push_back(data->dim(k));
  return p;
}

// ---- Concat, Split ----

StatusOr<ConcatPlan> concat_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  if (inputs.empty()) return invalid_argument("Concat needs at least one input");
  SS_ASSIGN_OR_RETURN(const Tensor* first, plan_required_input(inputs, 0));
  if (!node.attr("axis")) return invalid_argument("Concat requires the 'axis' attribute");
  ConcatPlan p;
  SS_ASSIGN_OR_RETURN(p.axis, cpu_normalize_axis(node.attr_int("axis", 0), first->rank()));
  const int64_t axis = p.axis;
  Shape& out = p.shape;
  out = first->shape();
  out[axis] = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    SS_ASSIGN_OR_RETURN(const Tensor* t, plan_required_input(inputs, i));
    if (t->dtype() != first->dtype() || t->rank() != first->rank()) return invalid_argument("inputs differ in type or rank");
    for (int64_t k = 0; k < t->rank(); ++k)
      if (k != axis && t->dim(k) != first->dim(k)) {
        return invalid_argument("input " + std::to_string(i) + " has shape " + shape_to_string(t->shape()) +
                                ", which does not concatenate with " + shape_to_string(first->shape()));
      }
    out[axis] += t->dim(axis);
  }
  for (int64_t k = 0; k < axis; ++k) p.outer *= out[k];
  int64_t inner_bytes = static_cast<int64_t>(dtype_size(first->dtype()));
  for (int64_t k = axis + 1; k < static_cast<int64_t>(out.size()); ++k) inner_bytes *= out[k];
  p.row_bytes = out[axis] * inner_bytes;
  int64_t col = 0;
  for (const Tensor* t : inputs) {
    const int64_t piece = t->dim(axis) * inner_bytes;
    p.piece_bytes.push_back(piece);
    p.col_bytes.push_back(col);
    col += piece;
  }
  return p;
}

StatusOr<SplitPlan> split_plan(const Node& node, const std::vector<const Tensor*>& inputs, std::size_t num_outputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  if (x->rank() == 0) return invalid_argument("cannot split a scalar");
  SS_ASSIGN_OR_RETURN(int64_t axis, cpu_normalize_axis(node.attr_int("axis", 0), x->rank()));
  const int64_t nout = static_cast<int64_t>(num_outputs);
  if (nout == 0) return invalid_argument("Split has no outputs");
  const int64_t dim = x->dim(axis);
  const Attribute* num_outputs_attr = node.opset >= 18 ? node.attr("num_outputs") : nullptr;
  std::vector<int64_t> sizes;
  bool given = false;
  if (node.opset >= 13) {
    if (const Tensor* s = input_at(inputs, 1)) {
      if (num_outputs_attr) return invalid_argument("Split takes the 'split' input or the 'num_outputs' attribute, not both");
      if (s->dtype() != DType::kInt64) return invalid_argument("split must be int64");
      SS_ASSIGN_OR_RETURN(sizes, cpu_read_ints(*s, "split"));
      given = true;
    }
  } else if (const std::vector<int64_t>* s = node.attr_ints("split")) {
    sizes = *s;
    given = true;
  }
  if (given) {
    if (static_cast<int64_t>(sizes.size()) != nout) {
      return invalid_argument("split " + ints_to_string(sizes) + " has " + std::to_string(sizes.size()) +
                              " sizes for " + std::to_string(nout) + " outputs");
    }
    int64_t total = 0;
    for (int64_t s : sizes) {
      if (s < 0) return invalid_argument("split " + ints_to_string(sizes) + " has a negative size");
      total += s;
    }
    if (total != dim) {
      return invalid_argument("split " + ints_to_string(sizes) + " sums to " + std::to_string(total) + ", not to the size " +
                              std::to_string(dim) + " of axis " + std::to_string(axis));
    }
  } else if (num_outputs_attr) {
    const int64_t k = num_outputs_attr->i;
    if (num_outputs_attr->type != Attribute::Type::kInt || k != nout) {
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
  SplitPlan p;
  p.axis = axis;
  int64_t inner_bytes = static_cast<int64_t>(dtype_size(x->dtype()));
  for (int64_t k = 0; k < axis; ++k) p.outer *= x->dim(k);
  for (int64_t k = axis + 1; k < x->rank(); ++k) inner_bytes *= x->dim(k);
  p.row_bytes = dim * inner_bytes;
  int64_t col = 0;
  for (int64_t i = 0; i < nout; ++i) {
    Shape s = x->shape();
    s[axis] = sizes[i];
    p.shapes.push_back(std::move(s));
    const int64_t piece = sizes[i] * inner_bytes;
    p.piece_bytes.push_back(piece);
    p.col_bytes.push_back(col);
    col += piece;
  }
  return p;
}

Status host_copy_rows(void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch, int64_t width, int64_t rows) {
  if (width <= 0) return ok_status();
  auto* d = static_cast<std::byte*>(dst);
  const auto* s = static_cast<const std::byte*>(src);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(d + r * dst_pitch, s + r * src_pitch, static_cast<std::size_t>(width));
  return ok_status();
}

// ---- Shape, ConstantOfShape, Constant, Range ----

StatusOr<ShapePlan> shape_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  const int64_t r = x->rank();
  int64_t start = 0, end = r;
  if (node.opset >= 15) {
    start = node.attr_int("start", 0);
    end = node.attr_int("end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, 0, r);
  }
  return ShapePlan{start, std::max<int64_t>(end - start, 0)};
}

StatusOr<ConstantOfShapePlan> constant_of_shape_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* shape_t, plan_required_input(inputs, 0));
  if (shape_t->dtype() != DType::kInt64) return invalid_argument("shape must be int64");
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> shape, cpu_read_ints(*shape_t, "shape"));
  for (int64_t d : shape)
    if (d < 0) return invalid_argument("shape " + ints_to_string(shape) + " has a negative dimension");
  ConstantOfShapePlan p;
  if (const Attribute* a = node.attr("value")) {
    if (a->type != Attribute::Type::kTensor || a->t.numel() != 1) {
      return invalid_argument("attribute 'value' must be a one-element tensor");
    }
    p.value = &a->t;
    p.dtype = a->t.dtype();
  }
  p.shape = Shape(shape.begin(), shape.end());
  SS_RETURN_IF_ERROR(check_output_bytes(p.shape, p.dtype));
  return p;
}

StatusOr<ConstantPlan> constant_plan(const Node& n) {
  ConstantPlan p;
  if (const Attribute* a = n.attr("value"); a && a->type == Attribute::Type::kTensor) {
    p.tensor = &a->t;
  } else if (const Attribute* a = n.attr("value_float")) {
    p = {nullptr, DType::kFloat32, {}, &a->f};
  } else if (const Attribute* a = n.attr("value_int")) {
    p = {nullptr, DType::kInt64, {}, &a->i};
  } else if (const Attribute* a = n.attr("value_floats")) {
    p = {nullptr, DType::kFloat32, {static_cast<int64_t>(a->floats.size())}, a->floats.data()};
  } else if (const Attribute* a = n.attr("value_ints")) {
    p = {nullptr, DType::kInt64, {static_cast<int64_t>(a->ints.size())}, a->ints.data()};
  } else {
    return unimplemented("Constant without a value, value_float(s) or value_int(s) attribute is not supported");
  }
  return p;
}

namespace {
// The most elements Range produces: anything larger is a model bug, reported instead of allocated.
constexpr int64_t kRangeMaxElements = int64_t{1} << 31;

template <typename T>
Status range_typed(const Tensor& start_t, const Tensor& limit_t, const Tensor& delta_t, RangePlan* p) {
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
  if (delta == T(0)) return invalid_argument("delta is zero");
  int64_t n = 0;
  if constexpr (std::is_floating_point_v<T>) {
    const double c = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
    if (std::isnan(c)) return invalid_argument("start, limit or delta is NaN");
    if (c > static_cast<double>(kRangeMaxElements)) return invalid_argument("Range would produce more than 2^31 elements");
    n = c > 0 ? static_cast<int64_t>(c) : 0;
    p->fstart = static_cast<double>(start);
    p->fdelta = static_cast<double>(delta);
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
    p->istart = s;
    p->idelta = d;
  }
  p->count = n;
  return ok_status();
}
}  // namespace

StatusOr<RangePlan> range_plan(const Node&, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* start, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* limit, plan_required_input(inputs, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* delta, plan_required_input(inputs, 2));
  const DType dt = plan_dtype(start->dtype());
  const char* names[] = {"start", "limit", "delta"};
  const Tensor* ts[] = {start, limit, delta};
  for (int k = 0; k < 3; ++k) {
    if (ts[k]->numel() != 1 || ts[k]->rank() > 1) {
      return invalid_argument(std::string(names[k]) + " must be a scalar, got shape " + shape_to_string(ts[k]->shape()));
    }
    if (plan_dtype(ts[k]->dtype()) != dt) return invalid_argument("start, limit and delta differ in type");
  }
  RangePlan p;
  p.dtype = dt;
  p.out_dtype = rounded_output(dt, any_half(inputs));
  Status st = ok_status();
  switch (dt) {
    case DType::kFloat32: st = range_typed<float>(*start, *limit, *delta, &p); break;
    case DType::kFloat64: st = range_typed<double>(*start, *limit, *delta, &p); break;
    case DType::kInt16: st = range_typed<int16_t>(*start, *limit, *delta, &p); break;
    case DType::kInt32: st = range_typed<int32_t>(*start, *limit, *delta, &p); break;
    case DType::kInt64: st = range_typed<int64_t>(*start, *limit, *delta, &p); break;
    default: return unimplemented("element type " + std::string(dtype_name(dt)) + " is not supported");
  }
  SS_RETURN_IF_ERROR(st);
  return p;
}

// ---- Pad ----

StatusOr<PadPlan> pad_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  const int64_t rank = x->rank();
  PadPlan p;
  p.dtype = plan_dtype(x->dtype());
  p.out_dtype = rounded_output(p.dtype, any_half(inputs));
  const DType xt = p.dtype;
  std::string mode_s = "constant";
  if (const Attribute* a = node.attr("mode")) mode_s = a->s;
  if (mode_s == "constant") {
    p.mode = PadMode::kConstant;
  } else if (mode_s == "reflect") {
    p.mode = PadMode::kReflect;
  } else if (mode_s == "edge") {
    p.mode = PadMode::kEdge;
  } else if (mode_s == "wrap") {
    p.mode = PadMode::kWrap;
  } else {
    return invalid_argument("mode '" + mode_s + "' is not one of constant, reflect, edge, wrap");
  }
  const std::size_t es = dtype_size(xt);
  p.fill.assign(es, std::byte{0});
  std::vector<int64_t> raw_pads, axes;
  if (node.opset < 11) {
    const Attribute* a = node.attr("pads");
    if (!a) return invalid_argument("the pads attribute is required");
    raw_pads = a->ints;
    const float v = node.attr_float("value", 0.0f);
    const bool ok = dtype_dispatch(xt, [&](auto zero) {
      using T = decltype(zero);
      const T tv = static_cast<T>(v);
      std::memcpy(p.fill.data(), &tv, es);
    });
    if (!ok) return unimplemented("element type " + std::string(dtype_name(xt)) + " is not supported");
  } else {
    SS_ASSIGN_OR_RETURN(const Tensor* pads_t, plan_required_input(inputs, 1));
    SS_ASSIGN_OR_RETURN(raw_pads, cpu_read_ints(*pads_t, "pads"));
    if (const Tensor* cv = input_at(inputs, 2); cv && cv->numel() > 0) {
      if (plan_dtype(cv->dtype()) != xt) {
        return invalid_argument("constant_value of type " + std::string(dtype_name(plan_dtype(cv->dtype()))) +
                                " differs from data's " + std::string(dtype_name(xt)));
      }
      if (cv->numel() != 1)
        return invalid_argument("constant_value " + shape_to_string(cv->shape()) + " must hold one value");
      if (dtype_is_half(cv->dtype())) {
        const float f = host_float(*cv, 0);
        std::memcpy(p.fill.data(), &f, es);
      } else {
        std::memcpy(p.fill.data(), cv->raw(), es);
      }
    }
    if (const Tensor* ax = input_at(inputs, 3); ax) {
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
  const bool have_axes = node.opset >= 18 && input_at(inputs, 3) != nullptr;
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
  std::vector<int64_t>& pb = p.pad_begin;
  std::vector<int64_t>& pe = p.pad_end;
  pb.assign(static_cast<std::size_t>(rank), 0);
  pe.assign(static_cast<std::size_t>(rank), 0);
  for (std::size_t i = 0; i < na; ++i) {
    pb[static_cast<std::size_t>(axes[i])] = raw_pads[i];
    pe[static_cast<std::size_t>(axes[i])] = raw_pads[i + na];
  }
  Shape& os = p.shape;
  os.resize(static_cast<std::size_t>(rank));
  for (std::size_t k = 0; k < static_cast<std::size_t>(rank); ++k) {
    const int64_t len = x->shape()[k];
    os[k] = len + pb[k] + pe[k];
    if (os[k] < 0) {
      return invalid_argument("pads " + shape_to_string(raw_pads) + " crop axis " + str(static_cast<int64_t>(k)) +
                              " of size " + str(len) + " below zero");
    }
    if (p.mode == PadMode::kReflect && (pb[k] > 0 || pe[k] > 0) && std::max(pb[k], pe[k]) >= len) {
      return invalid_argument("reflect padding of " + str(std::max(pb[k], pe[k])) + " along axis " +
                              str(static_cast<int64_t>(k)) + " needs an axis longer than that; it has " + str(len));
    }
    if ((p.mode == PadMode::kEdge || p.mode == PadMode::kWrap) && len == 0 && os[k] > 0) {
      return invalid_argument(mode_s + " padding of the empty axis " + str(static_cast<int64_t>(k)) +
                              " is not defined");
    }
  }
  return p;
}

// ---- Resize ----

StatusOr<ResizePlan> resize_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  const int64_t rank = x->rank();
  ResizePlan p;
  p.dtype = plan_dtype(x->dtype());
  p.out_dtype = rounded_output(p.dtype, any_half(inputs));
  const DType xt = p.dtype;
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
  p.linear = mode_s == "linear";
  if (coord_s == "half_pixel") {
    p.coord = ResizeCoordMode::kHalfPixel;
  } else if (coord_s == "pytorch_half_pixel") {
    p.coord = ResizeCoordMode::kPytorchHalfPixel;
  } else if (coord_s == "align_corners") {
    p.coord = ResizeCoordMode::kAlignCorners;
  } else if (coord_s == "asymmetric") {
    p.coord = ResizeCoordMode::kAsymmetric;
  } else if (coord_s == "tf_half_pixel_for_nn" && node.opset < 13) {
    p.coord = ResizeCoordMode::kTfHalfPixelForNn;
  } else if (coord_s == "tf_crop_and_resize" || coord_s == "half_pixel_symmetric") {
    return unimplemented("coordinate_transformation_mode '" + coord_s + "' is not supported");
  } else {
    return invalid_argument("coordinate_transformation_mode '" + coord_s + "' is not valid at opset " +
                            str(node.opset));
  }
  if (nearest_s == "round_prefer_floor") {
    p.nearest = ResizeNearestMode::kRoundPreferFloor;
  } else if (nearest_s == "round_prefer_ceil") {
    p.nearest = ResizeNearestMode::kRoundPreferCeil;
  } else if (nearest_s == "floor") {
    p.nearest = ResizeNearestMode::kFloor;
  } else if (nearest_s == "ceil") {
    p.nearest = ResizeNearestMode::kCeil;
  } else {
    return invalid_argument("nearest_mode '" + nearest_s +
                            "' is not one of round_prefer_floor, round_prefer_ceil, floor, ceil");
  }
  if (node.attr_int("antialias", 0) != 0) return unimplemented("antialias=1 is not supported");
  if (node.attr("axes"))
    return unimplemented("the axes attribute is not supported; give scales or sizes for every axis");
  if (rank == 0) return invalid_argument("X must have at least one dimension");
  const Tensor* scales_t = input_at(inputs, 2);
  const Tensor* sizes_t = input_at(inputs, 3);
  if (scales_t && scales_t->numel() == 0) scales_t = nullptr;
  if (sizes_t && sizes_t->numel() == 0) sizes_t = nullptr;
  if ((scales_t == nullptr) == (sizes_t == nullptr)) {
    return invalid_argument("exactly one of scales and sizes must be given (non-empty)");
  }
  std::vector<float>& scale = p.scales;
  Shape& os = p.shape;
  scale.resize(static_cast<std::size_t>(rank));
  os.resize(static_cast<std::size_t>(rank));
  if (scales_t) {
    if (plan_dtype(scales_t->dtype()) != DType::kFloat32 || scales_t->rank() != 1 || scales_t->numel() != rank) {
      return invalid_argument("scales " + shape_to_string(scales_t->shape()) + " (" +
                              std::string(dtype_name(plan_dtype(scales_t->dtype()))) +
                              ") must be 1-D float32 with one value per dimension of X " + shape_to_string(x->shape()));
    }
    for (int64_t k = 0; k < rank; ++k) {
      const float s = host_float(*scales_t, k);
      if (!(s > 0))
        return invalid_argument("scales must be positive; got " + std::to_string(s) + " for axis " + str(k));
      scale[static_cast<std::size_t>(k)] = s;
      // The product rounded to float32 first, then truncated (s > 0: the floor), as ONNX Runtime's
      // kernels size the output: 10 x 0.7 is 7 there (float32 7.0), not the 6 of the exact product
      // (6.9999998...), and exporters that write scales = out / in count on it.
      os[static_cast<std::size_t>(k)] = static_cast<int64_t>(static_cast<float>(x->dim(k)) * s);
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
  if (xt != DType::kFloat32 && xt != DType::kFloat64 && p.linear) {
    return unimplemented("linear Resize of element type " + std::string(dtype_name(xt)) + " is not supported");
  }
  if (p.linear) {
    if (rank < 2) return unimplemented("linear Resize needs at least 2 dimensions; got " + shape_to_string(x->shape()));
    for (int64_t k = 0; k + 2 < rank; ++k) {
      if (os[static_cast<std::size_t>(k)] != x->dim(k) || scale[static_cast<std::size_t>(k)] != 1.0f) {
        return unimplemented("linear Resize interpolates only the last two dimensions; axis " + str(k) +
                             " must keep its size (scale 1)");
      }
    }
  }
  return p;
}

StatusOr<ResizePlan> upsample_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  const bool upsample = node.op_type == "Upsample";
  std::vector<float> scales;
  if (upsample && node.opset < 9) {
    const Attribute* a = node.attr("scales");
    if (!a) return invalid_argument("the scales attribute is required before opset 9");
    scales = a->floats;
  } else {
    SS_ASSIGN_OR_RETURN(const Tensor* s, plan_required_input(inputs, 1));
    if (plan_dtype(s->dtype()) != DType::kFloat32 || s->rank() != 1) {
      return invalid_argument("scales " + shape_to_string(s->shape()) + " (" + std::string(dtype_name(s->dtype())) +
                              ") must be 1-D float32");
    }
    for (int64_t k = 0; k < s->numel(); ++k) scales.push_back(host_float(*s, k));
  }
  if (static_cast<int64_t>(scales.size()) != x->rank()) {
    return invalid_argument("scales has " + str(static_cast<int64_t>(scales.size())) + " values; X " +
                            shape_to_string(x->shape()) + " needs one per dimension");
  }
  bool grows = false, shrinks = false;
  for (float v : scales) {
    if (upsample && !(v >= 1)) return invalid_argument("Upsample's scales must be >= 1; got " + std::to_string(v));
    grows = grows || v > 1;
    shrinks = shrinks || v < 1;
  }
  if (grows && shrinks) {
    return unimplemented("a Resize at opset 10 that shrinks one axis and grows another is not supported (export at opset 11 "
                         "or later)");
  }
  // The Resize node they are, and its inputs (X, no roi, the scales as a host tensor).
  Node as_resize = node;
  as_resize.op_type = "Resize";
  as_resize.opset = 11;
  as_resize.attrs.clear();
  Attribute mode;
  mode.type = Attribute::Type::kString;
  mode.s = node.attr_string("mode", "nearest");
  as_resize.attrs["mode"] = mode;
  Attribute coord = mode;
  coord.s = "asymmetric";
  as_resize.attrs["coordinate_transformation_mode"] = coord;
  Attribute nearest = mode;
  nearest.s = shrinks ? "ceil" : "floor";
  as_resize.attrs["nearest_mode"] = nearest;
  // A host tensor over `scales` itself (no allocation, on every backend), alive while resize_plan reads it.
  const Tensor scales_t = Tensor::wrap(DType::kFloat32, {static_cast<int64_t>(scales.size())},
                                       std::shared_ptr<std::byte>(reinterpret_cast<std::byte*>(scales.data()), [](std::byte*) {}),
                                       false);
  return resize_plan(as_resize, {x, nullptr, &scales_t});
}

// ---- Tile, Trilu, CumSum, GatherElements, ScatterND, ScatterElements, OneHot, EyeLike ----

namespace {
// A host scalar input (0-D or one element) of int32 or int64, as int64.
StatusOr<int64_t> host_int_scalar(const Tensor& t, const char* what) {
  if (t.numel() != 1 || t.rank() > 1) {
    return invalid_argument(std::string(what) + " must be a scalar, got shape " + shape_to_string(t.shape()));
  }
  if (t.dtype() == DType::kInt64) return t.data<int64_t>()[0];
  if (t.dtype() == DType::kInt32) return static_cast<int64_t>(t.data<int32_t>()[0]);
  return invalid_argument(std::string(what) + " must be int32 or int64, got " + std::string(dtype_name(t.dtype())));
}
}  // namespace

StatusOr<TilePlan> tile_plan(const Node&, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* rep, plan_required_input(inputs, 1));  // a host tensor in both backends
  if (rep->dtype() != DType::kInt64 || rep->rank() != 1 || rep->numel() != x->rank()) {
    return invalid_argument("repeats must be a 1-D int64 tensor of " + str(x->rank()) + " values (the input's rank), got " +
                            std::string(dtype_name(rep->dtype())) + " " + shape_to_string(rep->shape()));
  }
  const std::vector<int64_t> reps(rep->data<int64_t>(), rep->data<int64_t>() + rep->numel());
  for (int64_t r : reps)
    if (r < 0) return invalid_argument("repeats " + shape_to_string(reps) + " has a negative value");
  TilePlan p = tile_geometry(x->shape(), reps);
  SS_RETURN_IF_ERROR(check_output_bytes(p.shape, x->dtype()));
  return p;
}

TilePlan tile_geometry(const Shape& in, const std::vector<int64_t>& reps) {
  TilePlan p;
  const std::vector<int64_t> st = row_major_strides(in);
  for (std::size_t k = 0; k < in.size(); ++k) {
    p.shape.push_back(in[k] * reps[k]);
    p.copy_shape.insert(p.copy_shape.end(), {reps[k], in[k]});
    p.copy_strides.insert(p.copy_strides.end(), {0, st[k]});
  }
  return p;
}

StatusOr<TriluPlan> trilu_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  if (x->rank() < 2) return invalid_argument("Trilu needs input of rank >= 2, got " + shape_to_string(x->shape()));
  TriluPlan p;
  p.upper = node.attr_int("upper", 1) != 0;
  if (const Tensor* k = input_at(inputs, 1)) {  // a host tensor in both backends
    SS_ASSIGN_OR_RETURN(p.k, host_int_scalar(*k, "k"));
    if (k->dtype() != DType::kInt64) return invalid_argument("k must be int64, got " + std::string(dtype_name(k->dtype())));
  }
  p.rows = x->dim(x->rank() - 2);
  p.cols = x->dim(x->rank() - 1);
  for (int64_t d = 0; d + 2 < x->rank(); ++d) p.batches *= x->dim(d);
  return p;
}

StatusOr<CumSumPlan> cumsum_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* a, plan_required_input(inputs, 1));  // a host tensor in both backends
  const DType dt = plan_dtype(x->dtype());
  if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kInt32 && dt != DType::kInt64 &&
      dt != DType::kUInt32 && dt != DType::kUInt64) {
    return unsupported_element_type(dt);
  }
  if (x->rank() == 0) return invalid_argument("CumSum needs input of rank >= 1, got a scalar");
  CumSumPlan p;
  SS_ASSIGN_OR_RETURN(const int64_t axis, host_int_scalar(*a, "axis"));
  SS_ASSIGN_OR_RETURN(p.axis, cpu_normalize_axis(axis, x->rank()));
  p.exclusive = node.attr_int("exclusive", 0) != 0;
  p.reverse = node.attr_int("reverse", 0) != 0;
  for (int64_t k = 0; k < x->rank(); ++k) {
    if (k < p.axis) p.outer *= x->dim(k);
    else if (k == p.axis) p.dim = x->dim(k);
    else p.inner *= x->dim(k);
  }
  return p;
}

StatusOr<GatherElementsPlan> gather_elements_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* data, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* ind, plan_required_input(inputs, 1));
  if (data->rank() == 0) return invalid_argument("GatherElements needs data of rank >= 1, got a scalar");
  if (ind->dtype() != DType::kInt32 && ind->dtype() != DType::kInt64) {
    return invalid_argument("indices must be int32 or int64, got " + std::string(dtype_name(ind->dtype())));
  }
  GatherElementsPlan p;
  SS_ASSIGN_OR_RETURN(p.axis, cpu_normalize_axis(node.attr_int("axis", 0), data->rank()));
  bool fits = ind->rank() == data->rank();
  for (int64_t k = 0; fits && k < data->rank(); ++k) fits = k == p.axis || ind->dim(k) <= data->dim(k);
  if (!fits) {
    return invalid_argument("indices " + shape_to_string(ind->shape()) + " must have data's rank and, off axis " +
                            str(p.axis) + ", dimensions no larger than data's " + shape_to_string(data->shape()));
  }
  p.dim = data->dim(p.axis);
  p.shape = ind->shape();
  p.data_strides = row_major_strides(data->shape());
  return p;
}

namespace {
// ScatterND's and ScatterElements' reduction attribute (from opset 16; max and min from 18), with
// the checks both make: updates of data's type, no reduction on bool.
StatusOr<ScatterReduction> scatter_reduction(const Node& node, const Tensor& data, const Tensor& upd) {
  std::string red = "none";
  if (const Attribute* a = node.attr("reduction"); a && node.opset >= 16) red = a->s;
  ScatterReduction r;
  if (red == "none") r = ScatterReduction::kNone;
  else if (red == "add") r = ScatterReduction::kAdd;
  else if (red == "mul") r = ScatterReduction::kMul;
  else if (red == "max" && node.opset >= 18) r = ScatterReduction::kMax;
  else if (red == "min" && node.opset >= 18) r = ScatterReduction::kMin;
  else return invalid_argument("reduction '" + red + "' is not one of none, add, mul" + (node.opset >= 18 ? ", max, min" : ""));
  if (plan_dtype(upd.dtype()) != plan_dtype(data.dtype())) {
    return invalid_argument("updates are " + std::string(dtype_name(plan_dtype(upd.dtype()))) + " but data is " +
                            std::string(dtype_name(plan_dtype(data.dtype()))));
  }
  if (r != ScatterReduction::kNone && data.dtype() == DType::kBool) {
    return unimplemented("reduction '" + red + "' on bool is not supported");
  }
  return r;
}
}  // namespace

StatusOr<ScatterNdPlan> scatter_nd_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* data, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* ind, plan_required_input(inputs, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* upd, plan_required_input(inputs, 2));
  if (ind->dtype() != DType::kInt64) {
    return invalid_argument("indices must be int64, got " + std::string(dtype_name(ind->dtype())));
  }
  ScatterNdPlan p;
  SS_ASSIGN_OR_RETURN(p.reduction, scatter_reduction(node, *data, *upd));
  const int64_t r = data->rank(), q = ind->rank();
  if (r < 1 || q < 1) return invalid_argument("data and indices need rank >= 1");
  p.m = ind->dim(q - 1);
  if (p.m < 1 || p.m > r) {
    return invalid_argument("indices' last dimension is " + str(p.m) + "; it must be in [1, " + str(r) + "] for data " +
                            shape_to_string(data->shape()));
  }
  Shape want(ind->shape().begin(), ind->shape().end() - 1);
  for (int64_t k = p.m; k < r; ++k) want.push_back(data->dim(k));
  if (upd->shape() != want) {
    return invalid_argument("updates " + shape_to_string(upd->shape()) + " must have shape " + shape_to_string(want) +
                            " (indices " + shape_to_string(ind->shape()) + ", data " + shape_to_string(data->shape()) + ")");
  }
  p.rows = 1;
  for (int64_t k = 0; k + 1 < q; ++k) p.rows *= ind->dim(k);
  for (int64_t k = p.m; k < r; ++k) p.slice *= data->dim(k);
  p.dims.resize(static_cast<std::size_t>(p.m));
  p.strides.resize(static_cast<std::size_t>(p.m));
  int64_t stride = p.slice;
  for (int64_t k = p.m; k-- > 0;) {
    p.dims[k] = data->dim(k);
    p.strides[k] = stride;
    stride *= p.dims[k];
  }
  return p;
}


StatusOr<ScatterElementsPlan> scatter_elements_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* data, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* ind, plan_required_input(inputs, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* upd, plan_required_input(inputs, 2));
  if (data->rank() == 0) return invalid_argument("data must have rank >= 1, got a scalar");
  if (ind->dtype() != DType::kInt32 && ind->dtype() != DType::kInt64) {
    return invalid_argument("indices must be int32 or int64, got " + std::string(dtype_name(ind->dtype())));
  }
  ScatterElementsPlan p;
  SS_ASSIGN_OR_RETURN(p.reduction, scatter_reduction(node, *data, *upd));
  SS_ASSIGN_OR_RETURN(p.axis, cpu_normalize_axis(node.attr_int("axis", 0), data->rank()));
  bool fits = ind->rank() == data->rank();
  for (int64_t k = 0; fits && k < data->rank(); ++k) fits = k == p.axis || ind->dim(k) <= data->dim(k);
  if (!fits) {
    return invalid_argument("indices " + shape_to_string(ind->shape()) + " must have data's rank and, off axis " + str(p.axis) +
                            ", dimensions no larger than data's " + shape_to_string(data->shape()));
  }
  if (upd->shape() != ind->shape()) {
    return invalid_argument("updates " + shape_to_string(upd->shape()) + " must have indices' shape " + shape_to_string(ind->shape()));
  }
  p.dim = data->dim(p.axis);
  p.shape = ind->shape();
  p.data_strides = row_major_strides(data->shape());
  return p;
}

StatusOr<OneHotPlan> one_hot_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* ind, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* depth, plan_required_input(inputs, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* values, plan_required_input(inputs, 2));
  if (ind->dtype() == DType::kBool) return plan_unsupported_type(ind->dtype());
  if (depth->numel() != 1 || depth->rank() > 1 || depth->dtype() == DType::kBool) {
    return invalid_argument("depth must be a numeric scalar or one-element tensor; got " + std::string(dtype_name(depth->dtype())) +
                            " " + shape_to_string(depth->shape()));
  }
  if (values->rank() != 1 || values->numel() != 2) {
    return invalid_argument("values must be [off_value, on_value], a 1-D tensor of 2 elements; got " +
                            shape_to_string(values->shape()));
  }
  OneHotPlan p;
  p.dtype = values->dtype();
  double d = 0;
  const bool ok = dtype_dispatch(depth->dtype(), [&](auto zero) {
    using T = decltype(zero);
    d = static_cast<double>(depth->data<T>()[0]);
  });
  if (!ok) {
    if (!dtype_is_half(depth->dtype())) return plan_unsupported_type(depth->dtype());
    d = half_bits_to_float(depth->dtype(), depth->data<uint16_t>()[0]);
  }
  if (!(d >= 1) || d > 1e15) return invalid_argument("depth " + std::to_string(d) + " must be at least 1 and at most 1e15");
  p.depth = static_cast<int64_t>(d);  // toward zero
  SS_ASSIGN_OR_RETURN(p.axis, cpu_normalize_axis(node.attr_int("axis", -1), ind->rank() + 1));
  for (int64_t k = 0; k < ind->rank(); ++k) (k < p.axis ? p.outer : p.inner) *= ind->dim(k);
  p.out_shape = ind->shape();
  p.out_shape.insert(p.out_shape.begin() + p.axis, p.depth);
  SS_RETURN_IF_ERROR(check_output_bytes(p.out_shape, p.dtype));
  return p;
}

StatusOr<EyeLikePlan> eye_like_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  if (x->rank() != 2) return invalid_argument("input must be 2-D; got " + shape_to_string(x->shape()));
  EyeLikePlan p;
  p.dtype = x->dtype();
  if (const Attribute* a = node.attr("dtype")) {
    p.dtype = dtype_from_onnx_code(a->i);
    if (p.dtype == DType::kUndefined) return unimplemented("dtype " + str(a->i) + " is not supported");
  }
  p.rows = x->dim(0);
  p.cols = x->dim(1);
  p.k = node.attr_int("k", 0);
  if (p.dtype == DType::kFloat32) p.one_bits = std::bit_cast<uint32_t>(1.0f);
  else if (p.dtype == DType::kFloat64) p.one_bits = std::bit_cast<uint64_t>(1.0);
  else if (dtype_is_half(p.dtype)) p.one_bits = double_to_half_bits(p.dtype, 1.0);
  else p.one_bits = 1;  // integers and bool
  return p;
}

// ---- Einsum ----

namespace {
// One term of the equation: its labels in order, -1 where "..." stands (once at most).
struct EinsumTerm {
  std::vector<int> labels;  // 0-51 for a-z, A-Z; kEllipsis for "..."
  bool has_ellipsis = false;
};
constexpr int kEllipsis = -1;
// A label id (0-25 a-z, 26-51 A-Z, 52 + e the ellipsis' axis e) as messages name it.
std::string einsum_label_name(int l) {
  if (l < 26) return "label '" + std::string(1, static_cast<char>('a' + l)) + "'";
  if (l < 52) return "label '" + std::string(1, static_cast<char>('A' + l - 26)) + "'";
  return "axis " + std::to_string(l - 52) + " of \"...\"";
}
// Label ids in ASCII order (A-Z, then a-z): an implicit output's order, as numpy sorts it.
constexpr auto kImplicitOrder = [] {
  std::array<int, 52> o{};
  for (int i = 0; i < 26; ++i) o[static_cast<std::size_t>(i)] = 26 + i, o[static_cast<std::size_t>(26 + i)] = i;
  return o;
}();

StatusOr<EinsumTerm> einsum_term(const std::string& t, const std::string& eq) {
  EinsumTerm term;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c == ' ') continue;
    if (c == '.') {
      if (t.compare(i, 3, "...") != 0 || term.has_ellipsis) {
        return invalid_argument("equation '" + eq + "': '" + t + "' has a '.' outside one \"...\"");
      }
      term.has_ellipsis = true;
      term.labels.push_back(kEllipsis);
      i += 2;
    } else if (c >= 'a' && c <= 'z') {
      term.labels.push_back(c - 'a');
    } else if (c >= 'A' && c <= 'Z') {
      term.labels.push_back(26 + (c - 'A'));
    } else {
      return invalid_argument("equation '" + eq + "': '" + std::string(1, c) + "' in term '" + t +
                              "' is not a letter or \"...\"");
    }
  }
  return term;
}
}  // namespace

StatusOr<EinsumPlan> einsum_plan(const Node& node, const std::vector<const Tensor*>& inputs) {
  const Attribute* a = node.attr("equation");
  if (!a || a->s.empty()) return invalid_argument("the equation attribute is required");
  const std::string eq = a->s;
  EinsumPlan p;
  p.operands = static_cast<int>(inputs.size());
  if (p.operands == 0) return invalid_argument("Einsum needs at least one input");
  if (p.operands > kEinsumMaxOperands) {
    return unimplemented("Einsum of " + str(p.operands) + " operands (at most " + str(kEinsumMaxOperands) + ")");
  }
  for (int k = 0; k < p.operands; ++k) {
    if (!inputs[static_cast<std::size_t>(k)]) return invalid_argument("input " + str(k) + " is missing");
    const DType t = inputs[static_cast<std::size_t>(k)]->dtype();
    if (k == 0) p.dtype = t;
    else if (t != p.dtype) {
      return invalid_argument("input types differ: input 0 is " + std::string(dtype_name(p.dtype)) + ", input " + str(k) +
                              " " + std::string(dtype_name(t)));
    }
  }
  if (!plan_is_float(p.dtype) && p.dtype != DType::kInt32 && p.dtype != DType::kInt64) return plan_unsupported_type(p.dtype);
  const std::size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<EinsumTerm> terms;
  for (std::size_t start = 0;;) {
    const std::size_t comma = lhs.find(',', start);
    SS_ASSIGN_OR_RETURN(EinsumTerm t, einsum_term(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start), eq));
    terms.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (static_cast<int>(terms.size()) != p.operands) {
    return invalid_argument("equation '" + eq + "' has " + str(static_cast<int64_t>(terms.size())) + " input terms for " +
                            str(p.operands) + " inputs");
  }
  // The ellipsis' axes: as many as the most any operand gives it, broadcast right-aligned.
  int64_t ell_rank = 0;
  std::vector<int64_t> ell_count(terms.size(), 0);
  for (std::size_t k = 0; k < terms.size(); ++k) {
    const int64_t named = static_cast<int64_t>(terms[k].labels.size()) - (terms[k].has_ellipsis ? 1 : 0);
    const int64_t rank = inputs[k]->rank();
    if (terms[k].has_ellipsis ? rank < named : rank != named) {
      return invalid_argument("input " + str(static_cast<int64_t>(k)) + " " + shape_to_string(inputs[k]->shape()) +
                              " does not fit its term in equation '" + eq + "' (" + str(named) + " labels" +
                              (terms[k].has_ellipsis ? " and \"...\")" : ")"));
    }
    ell_count[k] = rank - named;
    ell_rank = std::max(ell_rank, ell_count[k]);
  }
  // Label ids: the 52 letters, then ellipsis axis e as 52 + e.
  constexpr int kLetters = 52;
  std::vector<int64_t> size(static_cast<std::size_t>(kLetters + ell_rank), -1);
  std::vector<int> first_seen;  // label ids in order of first appearance
  // Each operand's axes as label ids.
  std::vector<std::vector<int>> axis_label(terms.size());
  for (std::size_t k = 0; k < terms.size(); ++k) {
    for (int l : terms[k].labels) {
      if (l == kEllipsis) {
        for (int64_t e = ell_rank - ell_count[k]; e < ell_rank; ++e) axis_label[k].push_back(kLetters + static_cast<int>(e));
      } else {
        axis_label[k].push_back(l);
      }
    }
    for (std::size_t ax = 0; ax < axis_label[k].size(); ++ax) {
      const int l = axis_label[k][ax];
      const int64_t d = inputs[k]->dim(static_cast<int64_t>(ax));
      // A label repeated in one term (a diagonal) needs one size there, without broadcasting.
      for (std::size_t prev = 0; prev < ax; ++prev) {
        if (axis_label[k][prev] == l && inputs[k]->dim(static_cast<int64_t>(prev)) != d) {
          return invalid_argument("equation '" + eq + "': " + einsum_label_name(l) + " repeats in input " +
                                  str(static_cast<int64_t>(k)) + " " + shape_to_string(inputs[k]->shape()) +
                                  " over axes of sizes " + str(inputs[k]->dim(static_cast<int64_t>(prev))) + " and " + str(d));
        }
      }
      auto& sz = size[static_cast<std::size_t>(l)];
      if (sz < 0) first_seen.push_back(l);
      if (sz < 0 || sz == 1) sz = d;
      else if (d != 1 && d != sz) {
        return invalid_argument("equation '" + eq + "': " + einsum_label_name(l) + " has sizes " + str(sz) + " and " +
                                str(d) + " (input " + str(static_cast<int64_t>(k)) + " " +
                                shape_to_string(inputs[k]->shape()) + ")");
      }
    }
  }
  // The output's labels.
  std::vector<int> out;
  if (arrow != std::string::npos) {
    SS_ASSIGN_OR_RETURN(EinsumTerm t, einsum_term(eq.substr(arrow + 2), eq));
    for (int l : t.labels) {
      if (l == kEllipsis) {
        for (int64_t e = 0; e < ell_rank; ++e) out.push_back(kLetters + static_cast<int>(e));
        continue;
      }
      if (size[static_cast<std::size_t>(l)] < 0) {
        return invalid_argument("equation '" + eq + "': output " + einsum_label_name(l) + " appears in no input term");
      }
      if (std::find(out.begin(), out.end(), l) != out.end()) {
        return invalid_argument("equation '" + eq + "': output " + einsum_label_name(l) + " appears twice");
      }
      out.push_back(l);
    }
    if (!t.has_ellipsis && ell_rank > 0) {
      return invalid_argument("equation '" + eq + "': the inputs' \"...\" axes need \"...\" in the output");
    }
  } else {
    for (int64_t e = 0; e < ell_rank; ++e) out.push_back(kLetters + static_cast<int>(e));
    // Letters appearing once in the whole equation, in ASCII order (upper case first), as numpy
    // orders them.
    for (int l : kImplicitOrder) {
      int total = 0;
      for (const auto& al : axis_label) total += static_cast<int>(std::count(al.begin(), al.end(), l));
      if (total == 1) out.push_back(l);
    }
  }
  std::vector<int> order = out;  // output labels, then the summed ones in order of first appearance
  for (int l : first_seen)
    if (std::find(out.begin(), out.end(), l) == out.end()) order.push_back(l);
  if (static_cast<int>(order.size()) > kEinsumMaxLabels) {
    return unimplemented("equation '" + eq + "' has " + str(static_cast<int64_t>(order.size())) + " labels (at most " +
                         str(kEinsumMaxLabels) + ", the axes of \"...\" included)");
  }
  p.labels = static_cast<int>(order.size());
  p.out_labels = static_cast<int>(out.size());
  for (int i = 0; i < p.labels; ++i) p.size[i] = size[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])];
  for (int i = 0; i < p.out_labels; ++i) p.out_shape.push_back(p.size[i]);
  for (std::size_t k = 0; k < terms.size(); ++k) {
    int64_t st = 1;
    for (int64_t ax = static_cast<int64_t>(axis_label[k].size()) - 1; ax >= 0; --ax) {
      const int l = axis_label[k][static_cast<std::size_t>(ax)];
      const int i = static_cast<int>(std::find(order.begin(), order.end(), l) - order.begin());
      if (inputs[k]->dim(ax) != 1) p.stride[k][i] += st;
      st *= inputs[k]->dim(ax);
    }
  }
  return p;
}

}  // namespace shardscore
