#pragma once
// What the CPU and CUDA functions of the neural-network ops share: reading attributes, opset
// differences, validation (with its exact error messages), the output's dtype and shape, and the
// per-op "plan" the compute needs (normalized axes, outer / axis / inner extents, reduced shape,
// window geometry, MatMul's batch broadcast, Gemm's C broadcast). Each backend calls the plan
// first and keeps only its own compute: src/engine/cpu/{softmax,normalization,reduce,gemm,nn}.cpp
// and src/engine/cuda/{reduce_ops,gemm_conv}.cpp.
//
// Contracts common to every function here:
// - `inputs` are the op's inputs as OpContext / CudaOpContext hold them (nullptr: omitted). Only
//   shape() and dtype() of an input are read, except the reduce ops' axes input (input 1), which is
//   a host tensor in both backends (op_registry.cpp's cuda_host_inputs) and whose values are read.
// - float16 is treated as float32: the CPU sees float16 widened to float32 by op_run_cpu
//   (op_registry.cpp), the CUDA functions take it directly. Messages name the type the CPU sees
//   (plan_dtype). A CPU function therefore still rejects float16 itself where it is called
//   without op_run_cpu (its dispatch has no float16 branch).
// - Errors are those the CPU functions always returned: required inputs missing, InvalidArgument
//   for bad shapes and attributes, Unimplemented for unsupported types and modes.
#include <cstdint>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"
#include "engine/op_plans.h"
#include "engine/tensor.h"

namespace shardscore {

// ---- common ----

// Unimplemented("element type <plan_dtype(t)> is not supported"): the type as the CPU function
// names it. (A CPU function's own dispatch, which has no float16 case, uses unsupported_element_type.)
Status plan_unsupported_type(DType t);

// ---- Softmax ----

// Opset < 13 flattens to 2-D at `axis` (default 1) and normalizes each row; opset >= 13 normalizes
// along the single dimension `axis` (default -1). Y has X's dtype and shape. Unsupported unless X
// is float (checked only when X is not empty).
struct SoftmaxPlan {
  int64_t axis = 0, outer = 1, dim = 1, inner = 1;
};
StatusOr<SoftmaxPlan> softmax_plan(const Node& node, const Tensor& x);

// ---- LayerNormalization (opset 17) ----

// How Scale or B (unidirectionally broadcast to X) is read.
struct NormOperandPlan {
  bool present = false;
  bool per_column = false;  // constant along the dimensions before axis with `inner` values: element [j]
};
struct LayerNormPlan {
  int64_t axis = 0, outer = 1, inner = 1;  // X viewed as [outer, inner] at axis
  double eps = 1e-5;
  NormOperandPlan scale, bias;
  DType y_dtype = DType::kUndefined;     // X's, float16 when any input is float16
  DType stat_dtype = DType::kUndefined;  // Mean / InvStdDev (outputs 1, 2): float32 (stash_type 1), whatever X is
  Shape stat_shape;                      // X's shape with the normalized dimensions set to 1
};
// inputs: X, Scale (required), B (optional).
StatusOr<LayerNormPlan> layer_norm_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- ReduceMean / ReduceSum / ReduceMax (and ReduceMin, ReduceProd, ReduceL1, ReduceL2,
// ReduceSumSquare, ReduceLogSum, ReduceLogSumExp) ----

// The ops after kMax: Min as Max (any type but float16; an empty group gives +inf or the type's
// largest value, true for bool); Prod, L1, SumSquare on any numeric type (integers wrap modulo
// 2^64 as Sum's do; empty: 1, 0, 0); L2, LogSum, LogSumExp on float types only (empty: 0, -inf,
// -inf; LogSumExp is max + log(sum exp(x - max)), so it does not overflow).
enum class ReduceOp { kMean, kSum, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };
struct ReducePlan {
  bool noop = false;          // noop_with_empty_axes with no axes: Y is X (nothing else is set)
  std::vector<bool> reduced;  // per dimension of X
  Shape out_shape;            // keepdims applied
};
// Axes from the attribute before the opset that made them input 1 (ReduceSum 13, the others 18),
// normalized and unique; no axes: all. Checks X's dtype for the op (Mean, L2, LogSum, LogSumExp:
// float; Sum, Prod, L1, SumSquare: not bool; Max, Min: any). inputs: X (required), axes.
StatusOr<ReducePlan> reduce_plan(const Node& node, const std::vector<const Tensor*>& inputs, ReduceOp op);

// ---- ArgMax, ArgMin ----

// ArgMin uses the same plan (its messages name node.op_type).
struct ArgMaxPlan {
  int64_t axis = 0, outer = 1, dim = 1, inner = 1;
  bool select_last = false;
  Shape out_shape;  // int64, keepdims applied
};
StatusOr<ArgMaxPlan> argmax_plan(const Node& node, const Tensor& x);

// ---- LpNormalization ----

// y = x / ||x||_p along `axis` (default -1), p 1 or 2 (default 2; others InvalidArgument): the norm
// summed in double, and a slice whose norm is 0 gives 0 (as ONNX Runtime has it; the spec's formula
// would give NaN). ONNX Runtime sums in float32, so where the float32 norm overflows (values past
// about 1.8e19 for p 2) or underflows to 0 it gives a row of zeros, where this gives the quotients.
// Float X (float16 widened); Y has X's shape and type.
struct LpNormPlan {
  int64_t axis = 0, outer = 1, dim = 0, inner = 1, p = 2;
};
StatusOr<LpNormPlan> lp_norm_plan(const Node& node, const Tensor& x);

// ---- TopK ----

// The k first elements along `axis` in the order: largest (default) by value descending, else
// ascending; NaN after every number when ascending and before every number when descending (as
// ONNX Runtime orders them); equal values (-0 and +0 included) by lower index. sorted = 0 leaves
// the order to the implementation: both backends give the sorted one. K: attribute k (opsets
// 1-9) or input 1, int64 [1] (a host tensor in both backends). X: float (float16 widened), int32,
// int64. Outputs Values (X's type) and Indices (int64), X's shape with k along axis.
struct TopKPlan {
  int64_t axis = 0, outer = 1, dim = 0, inner = 1, k = 0;
  bool largest = true;
  Shape out_shape;
};
StatusOr<TopKPlan> topk_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- InstanceNormalization (opsets 6..21) ----

// LayerNormalization's computation per (n, c) over the spatial elements, with scale and B per
// channel: X [N, C, D1, ...] viewed as rows [N * C, spatial]; row r's scale and B are [r % C].
struct InstanceNormPlan {
  int64_t n = 0, c = 0, spatial = 1;  // X as [N, C, spatial]
  double eps = 1e-5;
  DType y_dtype = DType::kUndefined;  // X's, float16 when any input is float16
};
// inputs: X (rank >= 3), scale, B (all required; scale and B 1-D with C values).
StatusOr<InstanceNormPlan> instance_norm_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- GroupNormalization (opsets 18, 21) ----

// X [N, C, D1, ...] (rank >= 2; C a multiple of num_groups) as N * num_groups rows of the group's
// (C / num_groups) * spatial elements, each normalized as LayerNormalization's rows (statistics in
// double, whatever stash_type asks: at least as precise as float32), then * scale + bias, per group
// at opset 18 (scale and bias [num_groups], the spec's first form) and per channel from opset 21
// ([C]). Row r is sample r / groups, group r % groups.
struct GroupNormPlan {
  int64_t n = 0, c = 0, groups = 1, spatial = 1;
  bool per_channel = true;  // opset 21: scale and bias [C]; 18: [num_groups]
  double eps = 1e-5;
  DType y_dtype = DType::kUndefined;  // X's, float16 when any input is float16
};
StatusOr<GroupNormPlan> group_norm_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- LRN (opsets 1, 13: the same op) ----

// Local response normalization across channels: X [N, C, D1, ...] (rank >= 2) viewed as
// [N, C, spatial]; y = x / (bias + alpha / size * square_sum)^beta, square_sum over the channels
// c - before .. c + after that exist (before = floor((size - 1) / 2), after = ceil((size - 1) / 2)).
struct LrnPlan {
  int64_t n = 0, c = 0, spatial = 1;  // X as [N, C, spatial]
  int64_t before = 0, after = 0;      // the window's channels below and above c
  double alpha_over_size = 0, beta = 0, bias = 0;  // the float attributes widened; alpha / size in double
  DType y_dtype = DType::kUndefined;  // X's
};
// inputs: X (a float type, rank >= 2); attribute size >= 1 required.
StatusOr<LrnPlan> lrn_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- BatchNormalization (inference) ----

struct BatchNormPlan {
  int64_t n = 0, c = 0, inner = 0;  // X as [N, C, inner]
  double eps = 1e-5;
  DType y_dtype = DType::kUndefined;  // X's, float16 when any input is float16
};
// inputs: X, scale, B, input_mean, input_var (all required; the four 1-D with C values).
StatusOr<BatchNormPlan> batch_norm_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- pools and Conv (2-D spatial, NCHW; window geometry: cpu_ops_nn.h's window_geometry) ----

// InvalidArgument / Unimplemented unless x is 4-D NCHW; `what` names the op. (1-D forms reach the
// plans as 2-D ones: passes.h, pass_spatial_1d_as_2d.)
Status require_nchw(const Tensor& x, const char* what);
// Unimplemented("<what> element type ... is not supported") unless x is float (float16 included).
Status plan_require_float(const Tensor& x, const char* what);

// The geometry of a 2-D sliding window (Conv, pools) along H and W: input, kernel, stride,
// dilation, pads at the beginning and end, output size.
struct Window2d {
  int64_t in[2], k[2], s[2], d[2], pb[2], pe[2], out[2];
};
// Strides, dilations, pads (explicit or from auto_pad) and the output size of each spatial dim.
// ceil_mode drops a last window that would start in the end padding (as ONNX's shape inference
// and PyTorch do).
Status window_geometry(const Node& node, const int64_t in[2], const int64_t k[2], bool ceil_mode, Window2d* w);

// The required 2-value kernel_shape attribute of a pool.
Status pool_kernel_shape(const Node& node, int64_t k[2]);

struct PoolPlan {
  Window2d g;
  Shape out_shape;  // [N, C, out H, out W], X's dtype
  bool count_include_pad = false;  // AveragePool
};
// MaxPool (is_max; output Y only) and AveragePool on float NCHW X.
StatusOr<PoolPlan> pool_plan(const Node& node, const Tensor& x, bool is_max);

struct GlobalPoolPlan {
  Shape out_shape;                  // X's with the spatial dimensions 1
  int64_t planes = 0, inner = 1;    // N * C planes of `inner` values
};
// GlobalAveragePool and GlobalMaxPool (`op` names it): float X of rank 3 or more.
StatusOr<GlobalPoolPlan> global_pool_plan(const Tensor& x, const char* op);

struct ConvPlan {
  int64_t n = 0, c = 0, m = 0, group = 1;
  Window2d g;
  Shape out_shape;  // [N, M, out H, out W], X's dtype ([N, out H, out W, M] when nhwc)
  bool nhwc = false;
};
// inputs: X, W (required), B. Float NCHW X, W 4-D [M, C/group, kH, kW] of X's type, B 1-D [M].
// shardscore.FusedConv with attribute layout = "NHWC" (pass_nhwc_convs): X [N, H, W, C], W
// [M, kH, kW, C/group], Y and the residual [N, out H, out W, M]; any other layout value is
// InvalidArgument.
StatusOr<ConvPlan> conv_plan(const Node& node, const std::vector<const Tensor*>& inputs);
// FusedConv's activation attribute: true for "Relu", false for none, Unimplemented otherwise.
StatusOr<bool> fused_conv_relu(const Node& node);

// ConvTranspose (2-D; 1-D forms arrive as 2-D ones, passes.h): X [N, C, H, W], W [C, M/group,
// kH, kW], B [M]. Each input pixel scatters its products into the output:
//   Y[n, m, oy, ox] = B[m] + sum of X[n, c, iy, ix] * W[c, m % (M/group), i, j]
// over c in m's group and the (iy, i), (ix, j) with iy * s0 + i * d0 - pb0 = oy (resp. ox).
struct ConvTransposePlan {
  int64_t n = 0, c = 0, m = 0, group = 1;
  int64_t in[2] = {}, k[2] = {}, s[2] = {}, d[2] = {};
  int64_t pb[2] = {};   // pads at the beginning of each spatial axis
  int64_t out[2] = {};
  Shape out_shape;      // [N, M, out H, out W], X's dtype
};
// The output size per axis, as the ONNX spec defines it: the full size s * (in - 1) +
// output_padding + d * (k - 1) + 1, less the pads at both ends. With output_shape (its 2 spatial
// values) or auto_pad SAME_UPPER / SAME_LOWER (output in * s) the pads share the difference by the
// spec's rule (SAME_UPPER: the smaller half at the beginning; otherwise the larger); an
// output_shape beyond the full size (by less than a stride) adds zeros (then B) at the end, as
// ONNX Runtime and the ONNX reference do. Refused, as ONNX Runtime refuses them: output_padding
// not below the stride (PyTorch allows up to the dilation; ONNX Runtime and the reference do not),
// an output_shape a stride or more beyond the last input's reach. Refused where ONNX Runtime and the spec disagree: auto_pad SAME_* with an output
// beyond the full size, output_shape together with non-zero pads (ONNX Runtime ignores the pads,
// the reference does not). 3-D and non-float input are refused too.
StatusOr<ConvTransposePlan> conv_transpose_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- Gemm, FusedGemm, MatMul ----

struct GemmPlan {
  bool trans_a = false, trans_b = false;
  float alpha = 1, beta = 1;  // the attributes as read
  int64_t m = 0, n = 0, k = 0;
  bool use_c = false;         // C given and beta != 0: Y starts as C broadcast to [m, n]
  int64_t cm = 1, cn = 1;     // C as [cm, cn], each 1 or m (resp. n)
};
// Y = alpha * op(A) * op(B) + beta * C for 2-D shapes a and b; c (optional) is read for its shape.
StatusOr<GemmPlan> gemm_shape_plan(const Node& node, const Shape& a, const Shape& b, const Tensor* c);
// Gemm: inputs A, B (required, 2-D), C; one float type.
StatusOr<GemmPlan> gemm_plan(const Node& node, const std::vector<const Tensor*>& inputs);

enum class GemmActivation { kNone, kRelu, kSigmoid, kTanh, kGelu };
struct FusedGemmPlan {
  GemmPlan gemm;    // of A folded to [rows, K]
  Shape a2_shape;   // [rows, K]
  Shape out_shape;  // A's leading dimensions, then N (1-D A: see fused_gemm_plan)
  GemmActivation activation = GemmActivation::kNone;
};
// shardscore.FusedGemm: A of rank >= 2 (leading dimensions folded into rows), or 1-D (one row, as
// MatMul takes it: Y is [N], or [1, N] with a 2-D C, as Add broadcasts them), 2-D B, C
// broadcasting to [rows, N]; float32 (float16 as float32).
StatusOr<FusedGemmPlan> fused_gemm_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// MatMul with numpy semantics: 1-D operands promoted to matrices (the added dimension removed
// after), batch dimensions broadcast.
struct MatMulPlan {
  int64_t m = 0, n = 0, k = 0;
  Shape a_batch, b_batch, batch;  // the operands' batch dimensions, and their broadcast
  int64_t na = 1, nbb = 1, nb = 1;  // element counts of a_batch, b_batch, batch
  Shape out_shape;
  // Which matrix of A (resp. B) the product at flat batch index bi reads.
  int64_t a_matrix(int64_t bi) const { return matrix_of(a_batch, bi); }
  int64_t b_matrix(int64_t bi) const { return matrix_of(b_batch, bi); }
  int64_t matrix_of(const Shape& own, int64_t bi) const;
};
StatusOr<MatMulPlan> matmul_shape_plan(const Shape& a, const Shape& b);
// MatMul: inputs A, B (required) of one float type.
StatusOr<MatMulPlan> matmul_plan(const std::vector<const Tensor*>& inputs);

// ---- MatMulInteger, ConvInteger (opset 10) ----

// The zero point of an integer product's operand: absent (0), one element (a scalar or [1]: stride
// 0), or one per row of A, column of B or output channel of W (stride 1), of its operand's type.
struct IntZeroPoint {
  const Tensor* t = nullptr;
  int64_t stride = 0;
};
// MatMulInteger: Y = (A - a_zero_point) (B - b_zero_point) in int32, with MatMul's shapes (mm);
// A and B int8 or uint8, each its own. a_zero_point per tensor, or [M] per row of a 2-D A;
// b_zero_point per tensor, or [N] per column of B. The spec's N-D zero points ([..., M, 1],
// [..., 1, N]) are Unimplemented by name, as are other types. A sum past int32 wraps (K beyond
// 33,025 at the extremes), as ONNX Runtime's does.
struct MatMulIntegerPlan {
  MatMulPlan mm;
  IntZeroPoint a_zp, b_zp;
  bool constant_b = false;  // kConstantWeightAttr: B and its zero point are initializers
};
// Set by pass_constant_integer_weights (passes.h) on a MatMulInteger whose B, or a ConvInteger whose
// w, is an initializer, with its zero point: the CPU function converts it once, not per call.
inline constexpr const char* kConstantWeightAttr = "shardscore_constant_weight";
StatusOr<MatMulIntegerPlan> matmul_integer_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// shardscore.RowQuantizedMatMul (made by pass_row_quantized_matmuls, passes.h; CPU backend only):
// what onnxruntime.quantization.quantize_dynamic writes for a MatMul by constant weights,
//   (q, s, z) = DynamicQuantizeLinear(x); y = float32(MatMulInteger(q, w, z, w_zero_point)) * (s * w_scale),
// with one difference: each row of x (its slices along dimension 0) is quantized by its own range,
// so a row's y is what those nodes give that row alone, bit for bit. Inputs x float32 [R, ..., K]
// (rank >= 2), w int8 or uint8 [K, N], w_zero_point (w's type, a scalar or [N]; optional) and
// w_scale (float32, a scalar or [N]); y float32 [R, ..., N]. kConstantWeightAttr as MatMulInteger's.
struct RowQuantizedMatMulPlan {
  MatMulIntegerPlan mm;  // A as the uint8 x (a_zp per tensor: each row's is its own), B = w
  const Tensor* x = nullptr;
  const Tensor* w_scale = nullptr;
  int64_t rows = 0;      // x's dimension 0
  bool scale_per_column = false;  // w_scale [N]
};
StatusOr<RowQuantizedMatMulPlan> row_quantized_matmul_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ConvInteger: Conv's geometry (conv: NCHW, 2-D, group, strides, dilations, pads, auto_pad) over
// x - x_zero_point and w - w_zero_point, Y int32 [N, M, out H, out W]; the padding adds nothing (it
// holds x_zero_point, as ONNX Runtime pads). x and w int8 or uint8; x_zero_point per tensor,
// w_zero_point per tensor or [M] per output channel. 3-D (1-D spatial) x is Unimplemented.
struct ConvIntegerPlan {
  ConvPlan conv;
  IntZeroPoint x_zp, w_zp;
  bool constant_w = false;  // kConstantWeightAttr
};
StatusOr<ConvIntegerPlan> conv_integer_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- shardscore.Attention (pass_fuse_attention) ----

// Y[b, i, h, :] = sum_j P[b, h, i, j] V[b, j, h, :], P[b, h, i, :] = Softmax_j(S[b, h, i, j] + M[b, h, i, j]),
// S[b, h, i, j] = (Q[b, i, h, :] . K[b, j, h, :]) / scale (attribute scale_divides 1) or * scale (0).
// Inputs Q [B, Sq, H, D], K [B, Sk, H, D], V [B, Sk, H, Dv] (the heads not yet transposed out, as a
// model's Reshape makes them), where K and V may have 1 for B or H (shared across the batch or the
// heads, as MatMul broadcasts them: multi-query attention), optional mask M broadcasting to
// [B, H, Sq, Sk] (numpy rules, right aligned); one float type. Y is [B, Sq, H, Dv]: the graph's
// Transpose back, done. With attribute keys_transposed 1, K is given as K^T per head, [B, H, D, Sk]
// (as SDPA's export makes it); with nan_to_zero 1, a NaN in P becomes 0 (SDPA's Where(IsNaN(P), 0, P):
// a row whose keys are all masked out gives zeros).
struct AttentionPlan {
  int64_t batch = 0, heads = 0, q_len = 0, kv_len = 0, head_dim = 0, v_dim = 0;
  int64_t k_batch = 0, k_heads = 0, v_batch = 0, v_heads = 0;  // K's and V's own: 1, or B (resp. H)
  bool keys_transposed = false, nan_to_zero = false;
  float scale = 1;
  bool divide = false;
  bool has_mask = false;
  int64_t mask_strides[4] = {0, 0, 0, 0};  // in elements, over [B, H, Sq, Sk]; 0 where broadcast
  Shape out_shape;
  // Element offset of head (b, h)'s first row in each operand; rows follow at the leading dimension.
  int64_t q_offset(int64_t b, int64_t h) const { return (b * q_len * heads + h) * head_dim; }
  int64_t k_offset(int64_t b, int64_t h) const {
    const int64_t bk = k_batch == 1 ? 0 : b, hk = k_heads == 1 ? 0 : h;
    return keys_transposed ? (bk * k_heads + hk) * head_dim * kv_len : (bk * kv_len * k_heads + hk) * head_dim;
  }
  int64_t v_offset(int64_t b, int64_t h) const {
    return ((v_batch == 1 ? 0 : b) * kv_len * v_heads + (v_heads == 1 ? 0 : h)) * v_dim;
  }
  int64_t y_offset(int64_t b, int64_t h) const { return (b * q_len * heads + h) * v_dim; }
  int64_t ld_q() const { return heads * head_dim; }
  int64_t ld_k() const { return keys_transposed ? kv_len : k_heads * head_dim; }  // K's rows ([Sk] x D or D x [Sk])
  int64_t ld_v() const { return v_heads * v_dim; }
  int64_t ld_y() const { return heads * v_dim; }
};
StatusOr<AttentionPlan> attention_plan(const Node& node, const std::vector<const Tensor*>& inputs);

}  // namespace shardscore
