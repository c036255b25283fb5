#pragma once
// Reductions, normalization and pooling kernels: ReduceSum/Mean/Max, ArgMax, Softmax,
// LayerNormalization, BatchNormalization (inference), MaxPool/AveragePool (2-D NCHW); ReduceMin/Prod/
// L1/L2/SumSquare/LogSum/LogSumExp, ArgMin, LogSoftmax, CumSum; LRN.
//
// Each output is computed from its own group of inputs in an order fixed by the group's size
// alone (one thread, one warp or one block per group; no atomics), so a row's result is
// bit-identical whatever the batch around it. float16 and bfloat16 are loaded into float32,
// computed as the CPU computes float32 and rounded once. Sums of float32/float16/bfloat16
// accumulate in double, as the CPU's do.
#include "kernels/kernel_types.h"

namespace shardscore::kernels {

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

// x seen as two index spaces: the kept dimensions (the output's, row-major) and the reduced
// dimensions, each with x's element strides. Size-1 dimensions may be left out; an empty list
// is a single element.
struct ReduceGeometry {
  int kept_rank = 0;
  int64_t kept_dims[kMaxRank] = {};
  int64_t kept_strides[kMaxRank] = {};
  int red_rank = 0;
  int64_t red_dims[kMaxRank] = {};
  int64_t red_strides[kMaxRank] = {};
};

// y[o] = kind over o's group; y has x's type. kSum: floats in double, integers (not bool)
// wrapping modulo 2^64; kMean: the double sum / group size (float types only; an empty group
// gives NaN); kMax: a NaN in the group gives NaN, an empty group -inf (floats) or the type's
// lowest value (integers, bool).
// kMin: as kMax with the smaller winning (empty: +inf, the type's largest value, true);
// kProd, kL1, kSumSquare: floats in double, integers (not bool) wrapping modulo 2^64 (empty: 1,
// 0, 0); kL2 (sqrt of the double sum of squares), kLogSum (log of the double sum), kLogSumExp
// (max + log(sum exp(x - max)) in double, one thread per output): float types only (empty: 0,
// -inf, -inf).
cudaError_t launch_reduce(ReduceKind kind, Elem elem, const void* x, void* y, const ReduceGeometry& g,
                          cudaStream_t stream);

// Softmax of x viewed as [outer, dim, inner] along dim (float32, float16, bfloat16,
// float64): max
// subtracted, exp in the element type, sum in double, y = e * (T)(1 / sum).
cudaError_t launch_softmax(Elem elem, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner,
                           cudaStream_t stream);

// LogSoftmax of x viewed as [outer, dim, inner] along dim (the same types): y = (x - max) -
// log(sum exp(x - max)), x - max in the element's compute type, the sum in double, the difference
// in double rounded once.
cudaError_t launch_log_softmax(Elem elem, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner,
                               cudaStream_t stream);

// Attention's scores [batch, heads, q_len, kv_len] (float types; row r at r * pitch elements,
// pitch >= kv_len) normalized in place along the last axis, each first plus the mask's value at (b, h, i, j): mask[b * s0 + h * s1 +
// i * s2 + j * s3] with mask_strides {s0, s1, s2, s3} (0 where the mask is broadcast; mask of the
// scores' type, nullptr for none), added in float32 (double for float64); then as launch_softmax,
// with CUDA's expf; nan_to_zero: a NaN result is written as 0 (SDPA's Where(IsNaN(P), 0, P)).
cudaError_t launch_attention_softmax(Elem elem, void* scores, int64_t batch, int64_t heads, int64_t q_len,
                                     int64_t kv_len, int64_t pitch, const void* mask, const int64_t mask_strides[4],
                                     bool nan_to_zero, cudaStream_t stream);

// Index of the largest element of x viewed as [outer, dim, inner] along dim (dim >= 1), the
// first among ties (or the last with select_last), NaN compared as the CPU compares it
// (`>` / `!(<)`). Any Elem; y is int64 [outer * inner].
cudaError_t launch_argmax(Elem elem, const void* x, int64_t* y, int64_t outer, int64_t dim, int64_t inner,
                          bool select_last, cudaStream_t stream);
// LpNormalization (op_plans_nn.h, LpNormPlan): x viewed as [outer, dim, inner], each slice along
// dim divided by its L1 (p 1) or L2 (p 2) norm summed in double in index order, 0 where the norm is
// 0. Float types (16-bit ones computed in float32 and rounded once).
cudaError_t launch_lp_normalization(Elem elem, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner, int p,
                                    cudaStream_t stream);
// TopK (op_plans_nn.h, TopKPlan): per slice of x viewed as [outer, dim, inner], the k first
// elements along dim in the plan's total order (largest: descending, NaN first; else ascending,
// NaN last; ties by lower index) into values ([outer, k, inner], x's type, the elements as stored)
// and indices (int64). One block per slice, k rounds of a block-wide selection of the element that
// follows the last one chosen. float32, float64, float16, bfloat16, int32, int64.
cudaError_t launch_topk(Elem elem, const void* x, void* values, int64_t* indices, int64_t outer, int64_t dim,
                        int64_t inner, int64_t k, bool largest, cudaStream_t stream);
// ArgMin: the same with the smallest element (`<` / `!(>)`).
cudaError_t launch_argmin(Elem elem, const void* x, int64_t* y, int64_t outer, int64_t dim, int64_t inner,
                          bool select_last, cudaStream_t stream);

// CumSum of x viewed as [outer, dim, inner] along dim into y (x's type: float32, float64,
// float16, bfloat16, int32, int64, uint32, uint64): running sums from the start (or the end with
// reverse), each without its own element with exclusive (the first 0); floats summed in double
// and each output rounded once, integers wrapping. cudaErrorInvalidValue for other types.
cudaError_t launch_cumsum(Elem elem, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner, bool exclusive,
                          bool reverse, cudaStream_t stream);

// How a NormOperand's element for (row o, column j) of X viewed as [outer, inner] is found.
enum class NormLayout {
  kPerColumn,  // data[j]
  kPerRow,     // data[o % period], found once per row (InstanceNormalization: period C)
  kStrided,    // data at `index` (the operand's strides in X's index space) of o * inner + j
};

// Scale or B of LayerNormalization. data == nullptr: absent (B only).
struct NormOperand {
  const void* data = nullptr;
  NormLayout layout = NormLayout::kPerColumn;
  int64_t period = 1;  // kPerRow
  StridedIndex index;  // kStrided
};

// LayerNormalization over the rows of x [outer, inner] (float32, float16, bfloat16, float64; scale
// and bias of the same type): mean, variance and y in double. With x2 (of x's type and layout; nullptr
// for none) the rows normalized are x + x2, each sum taken once in the compute type (float32 for
// float16 and bfloat16; AddLayerNormalization): an Add's output never written. mean / inv_std_dev
// (one per row, nullptr to skip) are float32 whatever elem is (ONNX's U at stash_type 1); they are
// written also when inner is 0.
cudaError_t launch_layer_norm(Elem elem, const void* x, const void* x2, const NormOperand& scale,
                              const NormOperand& bias, void* y, void* mean, void* inv_std_dev, int64_t outer,
                              int64_t inner, double eps, cudaStream_t stream);

// Bytes of device scratch launch_batch_norm needs for c channels.
inline int64_t batch_norm_scratch_bytes(int64_t c) { return 2 * c * static_cast<int64_t>(sizeof(double)); }

// Inference BatchNormalization of x [n, c, inner] (float32, float16, bfloat16, float64; the four parameter
// vectors of c values of the same type): per channel mul = a, add = B - mean * a with
// a = scale / sqrt(var + eps) in double, then y = x * mul + add in the compute type.
cudaError_t launch_batch_norm(Elem elem, const void* x, const void* scale, const void* bias, const void* mean,
                              const void* var, void* y, int64_t n, int64_t c, int64_t inner, double eps,
                              void* scratch, cudaStream_t stream);

// LRN of x [n, c, spatial] (float32, float16, bfloat16, float64): y = x / (bias + alpha_over_size *
// s)^beta, s the double sum of the squares of channels max(0, c - before) .. min(C - 1, c + after)
// from the lowest up, as the CPU sums them; the quotient in double, rounded once (through float32
// for the 2-byte types).
cudaError_t launch_lrn(Elem elem, const void* x, void* y, int64_t n, int64_t c, int64_t spatial, int64_t before,
                       int64_t after, double alpha_over_size, double beta, double bias, cudaStream_t stream);

// A 2-D pooling window over `planes` planes of h x w, giving oh x ow: kernel k, strides s,
// dilations d, begin pads pb and end pads pe (oh / ow decided by the caller; pe bounds only
// count_include_pad's divisor).
struct PoolGeometry {
  int64_t planes = 0, h = 0, w = 0, oh = 0, ow = 0;
  int64_t k[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1}, pb[2] = {0, 0}, pe[2] = {0, 0};
};

// MaxPool (float32, float16, bfloat16, float64): the largest tap, starting from the type's lowest finite
// value; a NaN tap gives NaN.
cudaError_t launch_max_pool(Elem elem, const void* x, void* y, const PoolGeometry& g, cudaStream_t stream);

// AveragePool (float32, float16, bfloat16, float64): the double sum of the taps inside the input divided
// by their count, or with count_include_pad by the count of taps inside the padded input (pads
// included; a ceil_mode window's taps past the end pad are not, as in PyTorch and ONNX Runtime).
cudaError_t launch_average_pool(Elem elem, const void* x, void* y, const PoolGeometry& g, bool count_include_pad,
                                cudaStream_t stream);

// n float16 or bfloat16 (`half` kF16 or kBF16) values widened to float32 (exact), and n float32
// values rounded to that type (bfloat16 rounds to nearest even, a NaN kept quiet with its
// sign and top payload bits); cudaErrorInvalidValue for another Elem.
cudaError_t launch_widen_to_f32(Elem half, const void* in, void* out, int64_t n, cudaStream_t stream);
cudaError_t launch_narrow_f32_to(Elem half, const void* in, void* out, int64_t n, cudaStream_t stream);

}  // namespace shardscore::kernels
