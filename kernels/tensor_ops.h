#pragma once
// Data-movement and shape kernels: row copies (Concat, Split), strided copies (Transpose, Expand,
// Slice, Tile), Gather, fills (ConstantOfShape, Constant), Shape, Range, Pad and Resize; GatherElements,
// ScatterND and Trilu.
// Movement kernels copy elements as stored, by their byte size (1, 2, 4 or 8; wider units where
// sizes and addresses allow), so they are exact for every element type, float16 included.
// Source and destination never overlap.
#include "kernels/kernel_types.h"

namespace shardscore::kernels {

// For r < rows and byte c < width: dst[r * dst_pitch + c] = src[r * src_pitch + c] (all in bytes).
cudaError_t launch_copy_rows(void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch, int64_t width,
                             int64_t rows, cudaStream_t stream);

// Drops size-1 dimensions and merges dimensions that are contiguous in the source (strides[k] ==
// strides[k+1] * dims[k+1]), in place; returns the new rank. The element order is unchanged.
// Host only; launch_strided_copy does it itself, callers use it to bring rank under kMaxRank.
int coalesce_strided(int rank, int64_t* dims, int64_t* strides);

// dst[i] = src[base + sum_k i_k * ix.strides[k]] for the n elements of dst, i_k the row-major
// multi-index of i in ix.dims (n == product of ix.dims). Strides may be 0 (broadcast) or negative
// (reversed). elem_bytes is 1, 2, 4 or 8. A batched swap of the last two dimensions runs through
// shared-memory tiles.
cudaError_t launch_strided_copy(int elem_bytes, const void* src, int64_t base, const StridedIndex& ix, void* dst,
                                int64_t n, cudaStream_t stream);

// out[o][j][r] = data[o][idx(j)][r] for o < outer, j < nidx, r < inner (elements of elem_bytes);
// idx(j) = indices[j] (int64 when indices_int64, else int32), plus dim when negative.
// An index outside [-dim, dim) gets a zero slice and is recorded in `fault` (kIndexOutOfRange,
// position j, where 0: the host names the axis), so the batch fails with the CPU op's error; with
// nothing to copy (outer or inner 0, or an axis of size 0) the indices are still checked.
cudaError_t launch_gather(int elem_bytes, const void* data, const void* indices, bool indices_int64, void* out,
                          int64_t outer, int64_t dim, int64_t nidx, int64_t inner, const FaultSink& fault,
                          cudaStream_t stream);

// GatherND: out row `row` (row < batches * per_batch, slice elements each) is the slice of data at
// element offset (row / per_batch) * batch_stride + sum_k idx_k * nd.strides[k], with idx_k =
// indices[row * nd.m + k] (+ nd.dims[k] when negative), k < nd.m <= kMaxRank. As launch_gather, an
// index outside [-dims[k], dims[k]) gives a zero slice and is recorded in `fault` (kNdIndexOutOfRange, position
// row * nd.m + k, where fault.where + k), empty slices included.
struct GatherNdIndex {
  int m = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};  // in elements
};
cudaError_t launch_gather_nd(int elem_bytes, const void* data, const int64_t* indices, void* out, int64_t batches,
                             int64_t per_batch, int64_t slice, int64_t batch_stride, const GatherNdIndex& nd,
                             const FaultSink& fault, cudaStream_t stream);

// n elements of elem_bytes (1, 2, 4, 8), each the low elem_bytes bytes of `value` (little-endian).
cudaError_t launch_fill(int elem_bytes, uint64_t value, void* dst, int64_t n, cudaStream_t stream);

// dst[k] = values.v[k] for k < values.count (at most kMaxRank): passed by value, no host copy.
struct Int64Values {
  int count = 0;
  int64_t v[kMaxRank] = {};
};
cudaError_t launch_write_int64s(const Int64Values& values, int64_t* dst, cudaStream_t stream);

// dst[i] = start + T(i) * delta, rounded in T as the CPU computes it (no fused multiply-add).
// launch_range_float: elem kF32, kF64, kF16 or kBF16 (computed in float32, rounded once to
// float16 / bfloat16).
// launch_range_int: elem kI16, kI32, kI64 (two's-complement wrap-around).
cudaError_t launch_range_float(Elem elem, double start, double delta, void* dst, int64_t n, cudaStream_t stream);
cudaError_t launch_range_int(Elem elem, int64_t start, int64_t delta, void* dst, int64_t n, cudaStream_t stream);

// ---- Pad ----
enum class PadMode { kConstant, kReflect, kEdge, kWrap };
struct PadGeometry {
  int rank = 0;
  int64_t in_dims[kMaxRank] = {};
  int64_t out_dims[kMaxRank] = {};
  int64_t pad_begin[kMaxRank] = {};  // may be negative (cropping)
};
// y (n elements, g.out_dims) from x (g.in_dims): output index o maps to input o - pad_begin,
// folded back per `mode` (reflect needs pads below the dimension; edge/wrap a non-empty one);
// kConstant outside gives `fill` (bits of the output type). Element types: in == out (any type,
// moved as stored; float16 and bfloat16 signalling NaNs become quiet, as the CPU's float32 round
// trip does), or in kF32 and out kF16 or kBF16 (rounded to nearest even).
cudaError_t launch_pad(PadMode mode, Elem in, Elem out, const void* x, void* y, const PadGeometry& g, uint64_t fill,
                       int64_t n, cudaStream_t stream);

// ---- Resize ----
enum class ResizeCoord { kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn };
enum class ResizeNearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
struct ResizeGeometry {
  int rank = 0;
  int64_t in_dims[kMaxRank] = {};
  int64_t out_dims[kMaxRank] = {};
  float scales[kMaxRank] = {};
};
// The source coordinate of each output index in float32 (the CPU's arithmetic, unfused).
// Nearest: any rank, element types as launch_pad. Linear: the last two dimensions (the others keep
// their size), interpolated in float64; in kF32, kF64, kF16 or kBF16 with out == in, or in kF32
// and out kF16 or kBF16 (rounded to float32 first, then to float16 / bfloat16, as the CPU does).
cudaError_t launch_resize_nearest(ResizeCoord coord, ResizeNearest nearest, Elem in, Elem out, const void* x, void* y,
                                  const ResizeGeometry& g, int64_t n, cudaStream_t stream);
cudaError_t launch_resize_linear(ResizeCoord coord, Elem in, Elem out, const void* x, void* y, const ResizeGeometry& g,
                                 int64_t n, cudaStream_t stream);

// ---- GatherElements, ScatterND, Trilu ----

// GatherElements: out[i] (n elements of elem_bytes 1, 2, 4 or 8; i over ix.dims, indices' shape)
// = data[strided_offset(i, ix) + idx * axis_stride], ix.strides being data's strides with 0 on
// the axis, idx = indices[i] (int64 when indices_int64, else int32), + dim when negative. As
// launch_gather, an index outside [-dim, dim) gives 0 and is recorded in `fault`
// (kIndexOutOfRange, position i, where 0: the host names the axis).
cudaError_t launch_gather_elements(int elem_bytes, const void* data, const void* indices, bool indices_int64, void* out,
                                   const StridedIndex& ix, int64_t axis_stride, int64_t dim, int64_t n,
                                   const FaultSink& fault, cudaStream_t stream);

// ScatterND into out (which already holds data): for each row j < rows in order, the slice
// (slice elements) at element offset sum_k idx_k * nd.strides[k] (idx_k = indices[j * nd.m + k],
// + nd.dims[k] when negative) takes updates' row j: replaced (kNone, any type, moved as stored) or
// combined in the compute type (float16 / bfloat16 in float32, rounded once per update; integers
// wrapping; kMax / kMin take the update unless the element compares past it). One thread per slice
// element walks every row, so a slice named twice ends as the CPU leaves it (kNone: the last row
// wins), and rows apply one after another (slow for many rows of small slices). An index out of
// range is recorded in `fault` (kNdIndexOutOfRange, position j * nd.m + k, where fault.where + k)
// and its row skipped; with empty slices the indices are still checked.
enum class ScatterOp { kNone = 0, kAdd = 1, kMul = 2, kMax = 3, kMin = 4 };
cudaError_t launch_scatter_nd(ScatterOp op, Elem elem, void* out, const int64_t* indices, const void* updates,
                              int64_t rows, int64_t slice, const GatherNdIndex& nd, const FaultSink& fault,
                              cudaStream_t stream);

// ScatterElements into out (which already holds data). indices (int32 or int64) and updates share
// a shape, seen as `lanes` lanes of `len` elements along the axis: lane l's first element sits at
// strided_offset(l, lane_in) in indices / updates and at strided_offset(l, lane_out) in out
// (lane_in / lane_out: indices' shape with the axis dimension 1, and indices' / data's strides).
// Element j of a lane (at + j * in_axis_stride) moves to out at the lane's offset + idx *
// out_axis_stride, idx = indices' value (+ dim when negative): replaced (kNone, moved as stored)
// or combined in the compute type as launch_scatter_nd's. One thread per lane, its elements in
// order (only a lane's elements can name the same output element, so every element takes its
// updates in the CPU's order; a lane's updates apply one after another, slow where few lanes hold
// many updates, e.g. a 1-D scatter). An index outside [-dim, dim) is recorded (kIndexOutOfRange, its
// position in indices) and skipped.
cudaError_t launch_scatter_elements(ScatterOp op, Elem elem, void* out, const void* indices, bool indices_int64,
                                    const void* updates, const StridedIndex& lane_out, const StridedIndex& lane_in,
                                    int64_t lanes, int64_t len, int64_t in_axis_stride, int64_t out_axis_stride, int64_t dim,
                                    const FaultSink& fault, cudaStream_t stream);

// OneHot: out [outer, depth, inner] of values' type (elem_bytes 1, 2, 4 or 8; values: the device
// pair [off, on]); element (o, d, i) is on where indices' element (o, i) (index_elem: any numeric
// type; floats truncated toward zero, NaN / infinity / past 2^62 matching nothing), + depth when
// negative, equals d; off otherwise.
cudaError_t launch_one_hot(Elem index_elem, const void* indices, int elem_bytes, const void* values, void* out,
                           int64_t outer, int64_t depth, int64_t inner, cudaStream_t stream);

// EyeLike: y [rows, cols] of elem_bytes-byte elements, one_bits where column - row == k, else zero.
cudaError_t launch_eye(int elem_bytes, uint64_t one_bits, void* y, int64_t rows, int64_t cols, int64_t k, cudaStream_t stream);

// Trilu of x [batches, rows, cols] (elements of elem_bytes 1, 2, 4 or 8) into y: element (r, c)
// copied where c - r >= k (upper) or c - r <= k (!upper), else all bits zero.
cudaError_t launch_trilu(int elem_bytes, const void* x, void* y, int64_t batches, int64_t rows, int64_t cols, int64_t k,
                         bool upper, cudaStream_t stream);


// Einsum (op_plans_tensor.h, EinsumPlan): y's elements, row-major over the first out_labels labels,
// each the sum over the remaining labels (the last fastest) of the product of the operands' elements
// at their strides; double for float types (16-bit ones widened; the result rounded to float32,
// then to 16 bits, as the CPU's widening does), wrapping
// int64 for int32 / int64. One thread per output element.
inline constexpr int kEinsumOperands = 4, kEinsumLabels = 16;
struct EinsumGeometry {
  int operands = 0, labels = 0, out_labels = 0;
  int64_t size[kEinsumLabels] = {};
  int64_t stride[kEinsumOperands][kEinsumLabels] = {};
  const void* in[kEinsumOperands] = {};
};
cudaError_t launch_einsum(Elem elem, const EinsumGeometry& g, void* y, int64_t n, cudaStream_t stream);

}  // namespace shardscore::kernels
