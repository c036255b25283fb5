#pragma once
// The host-side half of the data-movement and shape ops, shared by the CPU backend
// (src/engine/cpu/tensor_ops.cpp, shape_ops.cpp, nn.cpp) and the CUDA backend
// (src/engine/cuda/tensor_ops.cpp): attribute reading, opset differences, validation with its
// error messages, and the output dtype/shape plus the "plan" each backend's compute follows.
// A backend calls X_plan, returns its error as is, and then only moves or computes elements.
//
// Contract of every X_plan(node, inputs):
//   - `inputs` are the op's inputs (nullptr for an omitted optional one), as in OpContext and
//     CudaOpContext.
//   - It reads the VALUES only of the inputs that the CUDA backend keeps on the host (the
//     registry's cuda_host_inputs: shapes, axes, pads, starts/ends/steps, split, scales/sizes,
//     Range's scalars). Of every other input it reads only shape() and dtype(), so it works on
//     device tensors.
//   - It allocates no output and touches no element memory of non-host inputs.
//   - Pad, Resize and Range are "computing" ops: the CPU sees their float16 inputs widened to
//     float32 (op_run_cpu), the CUDA backend sees them as stored. Their plans validate with
//     float16 counted as float32 (so both backends give the same messages) and report both the
//     compute type (`dtype`) and the type of the output the CUDA backend writes (`out_dtype`:
//     float16 where any input is float16 and the compute type is float32). On the CPU, which never
//     sees float16 there, out_dtype == dtype.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "engine/op_plans.h"
#include "engine/op_registry.h"

namespace shardscore {

// ---- helpers ----

// "[1, 2, 3]".
std::string ints_to_string(const std::vector<int64_t>& v);
// Row-major element strides of a shape.
std::vector<int64_t> row_major_strides(const Shape& s);
// Output shapes computed from data (Expand, ConstantOfShape): InvalidArgument, rather than an
// allocation, for one whose buffer would pass 2^40 bytes (or whose element count overflows).
Status check_output_bytes(const Shape& s, DType dt);
// Normalizes a list of axes against `rank`; rejects out-of-range and repeated axes.
StatusOr<std::vector<int64_t>> normalize_distinct_axes(const std::vector<int64_t>& axes, int64_t rank);

// ---- Transpose, Expand, Slice: one strided copy ----

// Output element with row-major multi-index i (in `shape`) is input-0 element
// base + sum_k i[k] * strides[k] (strides may be 0 or negative). Output dtype = input 0's.
struct StridedPlan {
  Shape shape;
  int64_t base = 0;
  std::vector<int64_t> strides;
  bool identity = false;  // Transpose by the identity permutation: the output is the input as is
  // The output's shape where it is not `shape`, the copy's: the copied elements in row-major order
  // seen so (DepthToSpace, SpaceToDepth move blocks through a 6-D copy). Empty: `shape`.
  Shape out_shape;
};
StatusOr<StridedPlan> transpose_plan(const Node& node, const std::vector<const Tensor*>& inputs);
// DepthToSpace (blocksize; mode DCR, the default, or CRD from opset 11) and SpaceToDepth
// (blocksize) on X [N, C, H, W] of any type, as the spec's reshape - transpose - reshape: one 6-D
// strided copy. InvalidArgument for another rank, a blocksize below 1, a C (DepthToSpace) or an H or
// W (SpaceToDepth) that the block does not divide, another mode.
StatusOr<StridedPlan> depth_to_space_plan(const Node& node, const std::vector<const Tensor*>& inputs);
StatusOr<StridedPlan> space_to_depth_plan(const Node& node, const std::vector<const Tensor*>& inputs);
// Reads input 1 (shape).
StatusOr<StridedPlan> expand_plan(const Node& node, const std::vector<const Tensor*>& inputs);
// Reads inputs 1-4 (starts, ends, axes, steps).
StatusOr<StridedPlan> slice_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// The backends' common driver of a StridedPlan on ctx.inputs[0] (ctx: OpContext or CudaOpContext):
// the input itself for an identity plan, else a new output of the plan's shape that
// copy(x, plan, &y) (a Status) fills.
template <typename Ctx, typename Copy>
Status run_strided_plan(Ctx& ctx, StatusOr<StridedPlan> plan, Copy&& copy) {
  SS_ASSIGN_OR_RETURN(const StridedPlan p, std::move(plan));
  const Tensor* x = ctx.inputs[0];
  if (p.identity) {
    ctx.outputs[0] = *x;
    return ok_status();
  }
  Tensor y(x->dtype(), p.shape);
  SS_RETURN_IF_ERROR(copy(*x, p, &y));
  ctx.outputs[0] = p.out_shape.empty() ? std::move(y) : y.reshaped(p.out_shape);
  return ok_status();
}

// ---- Gather ----

// out[o][j][r] = data[o][indices[j] (+dim when negative)][r]: o < outer, j < nidx, r < inner
// (elements). Validates shapes and the index dtype only: the index VALUES are the backend's to
// check (they may be on the device).
struct GatherPlan {
  int64_t axis = 0;
  int64_t dim = 0;  // data's size along axis
  int64_t nidx = 0;
  int64_t outer = 1, inner = 1;
  Shape shape;
};
StatusOr<GatherPlan> gather_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- GatherND ----

// out[b][j][r] = data[b][indices[b][j][0..m)][r] with b < batches (data's first batch_dims
// dimensions, which indices share), j < per_batch (indices' remaining dimensions but the last),
// the m index values (indices' last dimension, each + its dimension's size when negative) picking
// a slice of `slice` elements, r < slice. Offsets in elements: batch b starts at b * batch_stride
// in data; index k steps by strides[k] within dims[k]. indices must be int64 (as ONNX says).
// Validates shapes and types only: the index VALUES are the backend's to check.
struct GatherNdPlan {
  int64_t batch_dims = 0, m = 0;
  int64_t batches = 1, per_batch = 1, slice = 1, batch_stride = 1;
  std::vector<int64_t> dims, strides;  // m each
  Shape shape;
};
StatusOr<GatherNdPlan> gather_nd_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- Concat, Split: row copies ----

// Output rows (outer of them, row_bytes each) are the inputs' rows side by side: input i's row
// (piece_bytes[i]) lands at byte col_bytes[i] of each output row. Output dtype = input 0's.
struct ConcatPlan {
  int64_t axis = 0;
  Shape shape;
  int64_t outer = 1, row_bytes = 0;
  std::vector<int64_t> piece_bytes, col_bytes;
};
StatusOr<ConcatPlan> concat_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// The reverse: output i (shapes[i]) takes bytes [col_bytes[i], col_bytes[i] + piece_bytes[i]) of
// each of the input's outer rows (row_bytes each). Reads input 1 (split) from opset 13.
// num_outputs: the node's output count.
struct SplitPlan {
  int64_t axis = 0;
  std::vector<Shape> shapes;
  int64_t outer = 1, row_bytes = 0;
  std::vector<int64_t> piece_bytes, col_bytes;
};
StatusOr<SplitPlan> split_plan(const Node& node, const std::vector<const Tensor*>& inputs, std::size_t num_outputs);

// The backends' common drivers of Concat and Split (ctx: OpContext or CudaOpContext): they
// allocate the outputs and move the bytes through the backend's row copy
//   Status copy_rows(void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch, int64_t width, int64_t rows)
// (for r < rows: width bytes from src + r * src_pitch to dst + r * dst_pitch).
// The row copy of host memory (the CPU backend's copy_rows).
Status host_copy_rows(void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch, int64_t width, int64_t rows);
template <typename Ctx, typename CopyRows>
Status run_concat_plan(Ctx& ctx, StatusOr<ConcatPlan> plan, CopyRows&& copy_rows) {
  SS_ASSIGN_OR_RETURN(const ConcatPlan p, std::move(plan));
  Tensor y(ctx.inputs[0]->dtype(), p.shape);
  auto* dst = static_cast<std::byte*>(y.raw());
  for (std::size_t i = 0; i < ctx.inputs.size(); ++i) {
    const int64_t piece = p.piece_bytes[i];
    SS_RETURN_IF_ERROR(copy_rows(dst + p.col_bytes[i], p.row_bytes, ctx.inputs[i]->raw(), piece, piece, p.outer));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}
template <typename Ctx, typename CopyRows>
Status run_split_plan(Ctx& ctx, StatusOr<SplitPlan> plan, CopyRows&& copy_rows) {
  SS_ASSIGN_OR_RETURN(const SplitPlan p, std::move(plan));
  const Tensor* x = ctx.inputs[0];
  const auto* src = static_cast<const std::byte*>(x->raw());
  for (std::size_t i = 0; i < p.shapes.size(); ++i) {
    Tensor y(x->dtype(), p.shapes[i]);
    const int64_t piece = p.piece_bytes[i];
    SS_RETURN_IF_ERROR(copy_rows(y.raw(), piece, src + p.col_bytes[i], p.row_bytes, piece, p.outer));
    ctx.outputs[i] = std::move(y);
  }
  return ok_status();
}

// ---- Shape, ConstantOfShape, Constant, Range ----

// Output: int64 [count], element k = input 0's dim(start + k).
struct ShapePlan {
  int64_t start = 0, count = 0;
};
StatusOr<ShapePlan> shape_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// Output: `shape` of `dtype`, every element *value's one element; value nullptr means float32 0.
// value points into the node's attribute (it may be a device tensor on the CUDA backend). Reads
// input 0 (shape).
struct ConstantOfShapePlan {
  Shape shape;
  DType dtype = DType::kFloat32;
  const Tensor* value = nullptr;
};
StatusOr<ConstantOfShapePlan> constant_of_shape_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// The output is *tensor (the value attribute, which may be a device tensor) when tensor is
// set, else `shape` of `dtype` with its bytes at `data` (host memory of the node's attribute).
struct ConstantPlan {
  const Tensor* tensor = nullptr;
  DType dtype = DType::kUndefined;
  Shape shape;
  const void* data = nullptr;
};
StatusOr<ConstantPlan> constant_plan(const Node& node);

// Output: [count] elements start + T(i) * delta, computed in `dtype` (T); out_dtype as in the
// header comment. Floating types carry start/delta in fstart/fdelta (exact for float32), integer
// types in istart/idelta. Reads inputs 0-2.
struct RangePlan {
  DType dtype = DType::kUndefined;
  DType out_dtype = DType::kUndefined;
  int64_t count = 0;
  double fstart = 0, fdelta = 0;
  int64_t istart = 0, idelta = 0;
};
StatusOr<RangePlan> range_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- Pad ----

// Output index o along axis k maps to input index o - pad_begin[k]; outside the input it folds
// back per mode (kConstant: the fill value). Numbered as kernels::PadMode.
enum class PadMode { kConstant = 0, kReflect = 1, kEdge = 2, kWrap = 3 };
struct PadPlan {
  PadMode mode = PadMode::kConstant;
  DType dtype = DType::kUndefined;      // the type padded (float16 widened)
  DType out_dtype = DType::kUndefined;  // see the header comment
  std::vector<std::byte> fill;          // one element of dtype
  std::vector<int64_t> pad_begin, pad_end;  // per axis, may be negative (cropping)
  Shape shape;
};
// Reads the pads attribute before opset 11, inputs 1-3 (pads, constant_value, axes) after.
StatusOr<PadPlan> pad_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- Resize ----

// Numbered as kernels::ResizeCoord and kernels::ResizeNearest.
enum class ResizeCoordMode { kHalfPixel = 0, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn };
enum class ResizeNearestMode { kRoundPreferFloor = 0, kRoundPreferCeil, kFloor, kCeil };
// Nearest: any rank, any element type. Linear: float32/float64 (float16 widened), only the last
// two dimensions change (the others keep their size and scale 1).
struct ResizePlan {
  bool linear = false;
  ResizeCoordMode coord = ResizeCoordMode::kHalfPixel;
  ResizeNearestMode nearest = ResizeNearestMode::kRoundPreferFloor;
  DType dtype = DType::kUndefined;      // float16 widened
  DType out_dtype = DType::kUndefined;  // see the header comment
  Shape shape;
  std::vector<float> scales;  // per axis
};
// Reads inputs 2-3 (scales, sizes); roi is ignored. With scales, output dimension k is
// dim_k * scale_k rounded to float32, then truncated, as ONNX Runtime's kernels size it (the spec's
// floor of the exact product is one less where the float32 product rounds up to an integer:
// 10 x 0.7f gives 7 here, as in ONNX Runtime, and 6 by ONNX's reference implementation).
StatusOr<ResizePlan> resize_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// Upsample (opsets 7-9) and Resize at opset 10: the Resize plan they are, as ONNX Runtime computes
// them. Scales from input 1 (Upsample 9, Resize 10; float32, read on the host) or the scales
// attribute (Upsample 7, 8); mode nearest (default) or linear; asymmetric coordinates (x / scale);
// nearest rounds down where a scale is >= 1 and up where it is < 1 (Resize 10 only: Upsample's
// scales must be >= 1, as the spec and ONNX Runtime require); a Resize 10 that shrinks one axis
// and grows another is refused (one rounding for all axes here).
StatusOr<ResizePlan> upsample_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- Tile, Trilu, CumSum, GatherElements, ScatterND, ScatterElements, OneHot, EyeLike ----

// Tile (opset 6 on): output dimension k is input dimension k times repeats[k] (input 1, int64,
// one value >= 0 per dimension; read on the host). The copy: the output seen as copy_shape =
// [repeats[0], dims[0], repeats[1], dims[1], ...] (2 * rank dimensions, row-major in the output's
// own order) reads input element sum copy_strides[j] * i_j, copy_strides = [0, s0, 0, s1, ...]
// (s: the input's row-major strides). Output dtype = input 0's.
struct TilePlan {
  Shape shape;
  Shape copy_shape;
  std::vector<int64_t> copy_strides;
};
StatusOr<TilePlan> tile_plan(const Node& node, const std::vector<const Tensor*>& inputs);
// Tile of a tensor of shape `in`, reps[k] times along axis k, as one strided copy: shape is the
// output's (in[k] * reps[k]), copy_shape [reps[0], in[0], reps[1], in[1], ...] with copy_strides
// 0 and in's row-major strides. tile_plan's geometry; the CUDA launcher's stages use it too.
TilePlan tile_geometry(const Shape& in, const std::vector<int64_t>& reps);

// Trilu (opset 14): x (rank >= 2) as [batches, rows, cols]; element (r, c) is kept where
// c - r >= k (upper, the default) or c - r <= k (upper = 0), else 0 (all bits zero). k: input 1
// (an int64 scalar or one-element tensor, read on the host), default 0. Output dtype = x's.
struct TriluPlan {
  bool upper = true;
  int64_t k = 0;
  int64_t batches = 1, rows = 0, cols = 0;
};
StatusOr<TriluPlan> trilu_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// CumSum (opset 11 on): x viewed as [outer, dim, inner], running sums along dim (reverse: from the
// end; exclusive: each sum without its own element, the first 0). axis: input 1 (int32 or int64
// scalar or one-element tensor, read on the host), negative counting from the end. Types:
// float32, float64 (float16 / bfloat16 as float32: a computing op), int32, int64, uint32, uint64;
// floats summed in double, integers wrapping. Output dtype and shape = x's.
struct CumSumPlan {
  int64_t axis = 0, outer = 1, dim = 1, inner = 1;
  bool exclusive = false, reverse = false;
};
StatusOr<CumSumPlan> cumsum_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// GatherElements (opset 11 on): out has indices' shape; out[i] = data[i with i[axis] replaced by
// idx], idx = indices[i] (int32 or int64), + dim when negative. indices has data's rank and, off
// the axis, dimensions no larger than data's. Validates shapes and types only: the index VALUES
// are the backend's to check (out of [-dim, dim): "index v is out of range for axis a of size d",
// Gather's message; the first in indices' row-major order).
struct GatherElementsPlan {
  int64_t axis = 0;
  int64_t dim = 0;                    // data's size along axis
  Shape shape;                        // indices' (the output's)
  std::vector<int64_t> data_strides;  // data's row-major element strides
};
StatusOr<GatherElementsPlan> gather_elements_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ScatterND (opset 11 on): out = data, then for each row j < rows of indices (int64, its last
// dimension m <= data's rank), in order, the slice of data at element offset
// sum_k idx_k * strides[k] (idx_k = indices[j * m + k], + dims[k] when negative) takes updates'
// row j (slice elements): replaced (reduction none) or combined with it (add, mul from opset 16;
// max, min from 18, which take the update unless the data element compares past it, so a NaN
// update lands, as in ONNX Runtime; numeric types only). Rows that name one slice twice apply in order, so with
// reduction none the last wins (ONNX leaves that undefined; ONNX Runtime's CPU provider does the
// same). updates must have shape indices.shape[:-1] + data.shape[m:] and data's type. Validates
// shapes and types only: the index VALUES are the backend's to check (GatherND's message).
enum class ScatterReduction { kNone = 0, kAdd = 1, kMul = 2, kMax = 3, kMin = 4 };
struct ScatterNdPlan {
  ScatterReduction reduction = ScatterReduction::kNone;
  int64_t m = 0, rows = 0, slice = 1;
  std::vector<int64_t> dims, strides;  // m each; strides in elements
};
StatusOr<ScatterNdPlan> scatter_nd_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ScatterElements (opset 11 on) and Scatter (9, 10, the same op under its old name): out = data,
// then for each element i of indices (int32 or int64; data's rank, each dimension but the axis no
// larger than data's, updates of indices' shape and data's type), in row-major order, the element of data at i
// with i[axis] replaced by idx = indices[i] (+ dim when negative) takes updates[i]: replaced
// (reduction none) or combined with it (add, mul from opset 16; max, min from 18; numeric types
// only), as ScatterND's rows (ScatterReduction): an element named twice takes its updates in that
// order, so with none the last wins (ONNX leaves it undefined; ONNX Runtime's CPU provider does the
// same). Validates shapes and types only: the index VALUES are the backend's to check
// (GatherElements' message).
struct ScatterElementsPlan {
  ScatterReduction reduction = ScatterReduction::kNone;
  int64_t axis = 0, dim = 0;          // dim: data's size along axis
  Shape shape;                        // indices' (and updates')
  std::vector<int64_t> data_strides;  // data's row-major element strides
};
StatusOr<ScatterElementsPlan> scatter_elements_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// OneHot (opset 9 on): indices (any numeric type; a float one truncated toward zero), depth (a
// numeric scalar or one-element tensor, read on the host, truncated likewise, at least 1) and
// values ([off_value, on_value], any type: the output's). depth is at most 1e15. The output is indices' shape with depth
// inserted at axis (default -1, counted in the output's rank): element (o, d, i) is on_value
// where indices' element (o, i), + depth when negative, equals d, else off_value. An index outside
// [-depth, depth) (a NaN or infinity too) gives a row of off_value, as ONNX Runtime has it. Negative
// indices wrap at opset 9 too (its text says only [0, depth) is on; ONNX Runtime and ONNX's
// reference implementation wrap them there as well).
struct OneHotPlan {
  int64_t axis = 0, depth = 1;
  int64_t outer = 1, inner = 1;  // indices as [outer, inner], split at axis
  Shape out_shape;
  DType dtype = DType::kFloat32;  // values'
};
StatusOr<OneHotPlan> one_hot_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// EyeLike (opset 9 on): a 2-D input's shape, type `dtype` (an ONNX type code; the input's when
// absent): 1 where column - row == k, else 0. Numeric types and bool.
struct EyeLikePlan {
  DType dtype = DType::kFloat32;
  int64_t rows = 0, cols = 0, k = 0;
  uint64_t one_bits = 0;  // the bits of 1 in dtype (its dtype_size low bytes, little-endian)
};
StatusOr<EyeLikePlan> eye_like_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// Einsum (opset 12): Y = the sum, over every label not in the output, of the product of the
// operands' elements, each operand's axes named by its term's labels (a-z, A-Z; a label repeated in
// one term takes its diagonal) and "..." standing for its remaining leading-or-middle axes,
// broadcast across operands as numpy broadcasts them (ONNX Runtime refuses "..." of different
// ranks). Without "->" the output is the ellipsis' axes, then every label that appears once, in
// ASCII order (upper case first, as numpy; ONNX Runtime refuses upper case there). A label's axes
// across operands must have one size, or size 1 (broadcast, as ONNX Runtime allows); a label
// repeated in one term (its diagonal) one size, without broadcasting. Products and sums in
// double (float types, float16 widened) or int64 (int32, int64; wrapping), summed over the labels
// in their order of first appearance: a fixed order, so equal rows give equal outputs.
// Unimplemented past kEinsumMaxOperands operands or kEinsumMaxLabels labels (ellipsis axes count).
inline constexpr int kEinsumMaxOperands = 4;
inline constexpr int kEinsumMaxLabels = 16;
struct EinsumPlan {
  int operands = 0;
  int labels = 0;                 // output labels first (out_labels of them), then the summed ones
  int out_labels = 0;
  int64_t size[kEinsumMaxLabels] = {};
  // stride[k][l]: operand k's element stride along label l (the sum of its axes' strides where a
  // label repeats; 0 where the operand lacks it or broadcasts it).
  int64_t stride[kEinsumMaxOperands][kEinsumMaxLabels] = {};
  Shape out_shape;
  DType dtype = DType::kUndefined;
};
StatusOr<EinsumPlan> einsum_plan(const Node& node, const std::vector<const Tensor*>& inputs);

}  // namespace shardscore
