#pragma once
// Load-time graph rewrites. Each keeps the graph's outputs the same (up to float rounding for the
// fusions) and leaves the nodes topologically sorted. Before them, whatever the options,
// pass_spatial_1d_as_2d gives 1-D convolutions and pools their 2-D form, so that every later pass
// (and every backend) sees only 2-D ones. Run in this order by graph_optimize():
//   1. fold constants: nodes whose inputs are all initializers are evaluated once (with the CPU
//      functions) and become initializers — Constant nodes, weight transposes and casts, ...; then
//      pass_spatial_1d_as_2d again, for a 1-D convolution whose W only folding made constant;
//   2. fold BatchNormalization into the Conv before it (inference: new weights and bias);
//   3. fuse torch's exact-GELU chain into one Gelu; fuse MatMul + Add(bias) [+ Relu|Sigmoid|Tanh|
//      Gelu] and Gemm [+ activation] into shardscore.FusedGemm;
//   4. fuse Conv [+ Add(residual)] [+ Relu] into shardscore.FusedConv;
//   5. fuse scaled dot-product attention into shardscore.Attention (unless asked not to), and a
//      residual Add into the LayerNormalization after it (shardscore.AddLayerNormalization);
//   6. remove nodes no graph output depends on;
//   7. (CPU backend) give convolutions to oneDNN, in its blocked channel layout where they chain.
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"

namespace shardscore {

struct PassStats {
  int expanded_contrib_ops = 0;  // by the loader (Graph::expanded_contrib_ops), reported with the passes
  int folded_constants = 0;
  int folded_batchnorms = 0;
  int fused_gelus = 0;
  int fused_gemms = 0;
  int fused_convs = 0;
  int fused_attentions = 0;
  int fused_add_layer_norms = 0;
  int blocked_convs = 0;
  int nhwc_convs = 0;
  int joint_recurrent = 0;  // LSTM / RNN nodes given [W R], GRU nodes marked constant (pass_recurrent_joint_weights)
  int constant_integer_weights = 0;  // MatMulInteger / ConvInteger marked (pass_constant_integer_weights)
  int row_quantized_matmuls = 0;  // quantize_dynamic products made shardscore.RowQuantizedMatMul
  int removed_nodes = 0;
  int spatial_1d_as_2d = 0;  // 1-D Conv / ConvTranspose / MaxPool / AveragePool nodes given their 2-D form
  std::string describe() const;  // "3 constants folded, 1 BatchNormalization folded, ..."
};

// Not an optimization, and run whatever the options (before graph_optimize): the backends run Conv,
// ConvTranspose, MaxPool and AveragePool on 2 spatial axes only, and a 1-D one (X [N, C, L]) is the 2-D one on
// [N, C, 1, L]. Each such node (its spatial rank shown at load by a kernel_shape attribute, or by
// W's rank where W is an initializer or a graph input of known rank, or by the length of strides,
// dilations or pads) becomes Unsqueeze(X, axis 2) -> the same op with 1 prepended to kernel_shape,
// strides and dilations and 0 to each half of pads ([b, e] -> [0, b, 0, e]; ConvTranspose's
// output_padding gets 0 prepended and its output_shape 1; auto_pad, group, ceil_mode,
// count_include_pad kept: SAME_* pads nothing on an axis of size 1) -> Squeeze(axis 2).
// An initializer W ([M, C/group, K], ConvTranspose's [C, M/group, K]) gains an axis of 1 before K (sharing its buffer); any other W
// is unsqueezed in the graph; B is unchanged. A BatchNormalization or Relu reading such an output,
// and an Add of such an output and another value with a 2-D form (a residual), run on the 2-D
// values too (each such output is one again), and a 1-D op reading a 2-D value takes it as it is: Conv1d -> BatchNorm1d -> ReLU -> MaxPool1d -> Conv1d chains stay 2-D from end
// to end, and the later passes fold, fuse and block them as they do 2-D ones. A Squeeze back to the
// model's value is kept only where something else (or a graph output) reads it. New values take
// free names. InvalidArgument (naming the node) for a 1-D node whose attributes or W disagree on
// the rank; 2-D nodes are left alone, and so are 3-D ones (refused by the plan).
Status pass_spatial_1d_as_2d(Graph* g, PassStats* stats);
Status pass_fold_constants(Graph* g, PassStats* stats);
Status pass_fold_batchnorm_into_conv(Graph* g, PassStats* stats);
// The exact GELU written out, 0.5 * x * (1 + erf(x / sqrt 2)), becomes one com.microsoft Gelu: the
// argument Div(x, sqrt 2) or Mul(x, 1 / sqrt 2), then Erf, Add 1, and the product of x, 0.5 and that
// sum in any of the orders exporters write it: (x * s) * 0.5 (TorchScript), x * (0.5 * s) (dynamo),
// (x * 0.5) * s. Every intermediate must have that one reader. Gelu computes (x * s) * 0.5 with
// x / sqrt 2: the same float32 bits as each order (halving is exact) where no product overflows or
// turns subnormal; within an ulp of erf's argument for the Mul form.
Status pass_fuse_gelu(Graph* g, PassStats* stats);
Status pass_fuse_gemm_activation(Graph* g, PassStats* stats);
Status pass_fuse_conv_residual_activation(Graph* g, PassStats* stats);
// Attention as transformers export it (BERT, by torch.onnx's TorchScript and dynamo exporters):
//   Transpose(Q, [0,2,1,3]) -> MatMul <- Transpose(K, [0,2,3,1]); -> Div or Mul by a float32 scalar
//   initializer -> [Add(mask), either side] -> Softmax(last axis) -> MatMul(., Transpose(V, [0,2,1,3]))
//   -> Transpose([0,2,1,3])
// and as its SDPA attention exports (dynamo exporter): MatMul(Mul(Transpose(Q, [0,2,1,3]), s1),
//   Mul(K^T, s2)) -> [Add(mask)] -> Softmax -> Where(IsNaN(P), 0, P) -> MatMul(., Transpose(V)) ->
//   Transpose back, K^T taken as the graph makes it (keys_transposed) and NaN made 0 (nan_to_zero),
// becomes one shardscore.Attention(Q, K, V[, mask]) (engine/op_plans_nn.h, attention_plan) when every
// intermediate value has that one reader: the scores are never written out between the steps and
// the heads never transposed. The same function, up to float rounding.
Status pass_fuse_attention(Graph* g, PassStats* stats);
// LayerNormalization(Add(A, B)) with the sum read by nothing else (a transformer's residual, or its
// embeddings' last sum) becomes shardscore.AddLayerNormalization(A, B, Scale[, B]) with the
// LayerNormalization's attributes, when the LayerNormalization has only its Y output and a float32
// Scale: on the GPU the sum of same-shape operands is never written out. The same function, bit for
// bit on the CPU.
Status pass_fuse_add_layer_norm(Graph* g, PassStats* stats);
Status pass_remove_dead_nodes(Graph* g, PassStats* stats);
// Keeps only the named graph outputs, in that order, then drops the nodes (and initializers) nothing
// kept reads, and unnames a TreeEnsembleClassifier's label output that nothing reads (so that its
// string labels are no reason to refuse it). InvalidArgument naming the model's outputs when a name
// is not one of them (or repeats).
[[nodiscard]] Status pass_select_outputs(Graph* g, const std::vector<std::string>& names, PassStats* stats);

// The CPU backend's convolution layout (block 0 = off): every Conv / FusedConv with constant
// float32 weights, group 1, input and output channels multiples of `block` (or fewer than 4 input
// channels: an image stem), constant or no bias and Relu or no activation becomes a
// shardscore.FusedConv run by oneDNN with attributes src_layout and dst_layout ("plain" = NCHW,
// "blocked" = [N, C/block, H, W, block]; see engine/cpu/onednn.h): blocked -> blocked (plain
// -> blocked for a stem). Inputs and residuals made elsewhere get a shardscore.ToBlocked, and a
// shardscore.FromBlocked gives an output back in NCHW, under its own name, to any other reader
// and to graph outputs. A MaxPool of a blocked value becomes shardscore.BlockedMaxPool, its output
// blocked too.
Status pass_blocked_conv_layout(Graph* g, int64_t block, PassStats* stats);

// The CUDA backend's convolution layout for tensor cores (EngineOptions::nhwc_convs): every Conv /
// FusedConv with constant 4-D float weights, at least 8 input channels (not an image stem), group 1,
// symmetric explicit pads (auto_pad NOTSET) and a same-shape residual or none becomes a shardscore.FusedConv with layout "NHWC", its weights
// permuted to [M, kH, kW, C]. A Transpose to NHWC goes in front of an input or residual made
// elsewhere, and a Transpose back to NCHW, under the value's own name, serves every other reader
// and graph output (dropped when nothing reads it): convolutions feeding convolutions pass NHWC
// values with no transpose between them. The same function of the inputs, up to summation order.
Status pass_nhwc_convs(Graph* g, PassStats* stats);

// All of the above but pass_nhwc_convs, in order (pass_fuse_attention only with fuse_attention), then the convolution
// layout for a channel block of `conv_block` (the CPU backend's onednn_channel_block(); 0 leaves
// convolutions to the im2col code).
Status graph_optimize(Graph* g, PassStats* stats, int64_t conv_block = 0, bool fuse_attention = true);

// The CPU backend's recurrent products (not part of graph_optimize: Engine::load runs it on the CPU
// backend after pass_to_half, so on float32 models only): every LSTM and RNN (default domain) whose
// W and R are float32 initializers, with hidden_size > 0, gets one more input,
// kRecurrentJointInput (engine/op_plans_rnn.h): the initializer [W R], [num_directions, gates *
// hidden_size, input_size + hidden_size], each direction's rows W's then R's, and the attribute kRecurrentJointAttr = 1. The
// CPU function then computes [X H] [W R]^T per step with oneDNN's matmul, the weights packed once
// (engine/cpu/onednn.h), instead of packing them in every OpenBLAS call. The same function, up to
// summation order. Nodes with that input already are left alone (the model's, the plan refuses).
// A GRU with such weights gets only the attribute kRecurrentConstAttr = 1 (its three products stay
// apart; the CPU function packs W and R, or R's rows, once each).
Status pass_recurrent_joint_weights(Graph* g, PassStats* stats);

// CPU backend (as pass_recurrent_joint_weights): every MatMul (default domain) left after
// graph_optimize whose B is a 2-D float32 initializer (a projection without bias, such as ONNX
// Runtime's transformer optimizer leaves before its SkipLayerNormalization, or a bias-free Linear)
// becomes a shardscore.FusedGemm of the same two inputs, so that its weights are packed once for
// oneDNN (engine/cpu/onednn.h) rather than read in place by every sgemm call. The same function, up
// to summation order. Counted in stats->fused_gemms.
Status pass_constant_matmul_weights(Graph* g, PassStats* stats);

// CPU backend (as pass_recurrent_joint_weights): a MatMulInteger whose B, or a ConvInteger whose w,
// is an initializer, its zero point too (or absent), gets kConstantWeightAttr = 1
// (engine/op_plans_nn.h), so that the CPU function converts those weights to float offsets once per
// tensor rather than on every call (engine/cpu/quantize.cpp). Counted in stats->constant_integer_weights.
Status pass_constant_integer_weights(Graph* g, PassStats* stats);

// CPU backend, for a model run with EngineOptions::rows_alone_in_runs (Engine::load runs it before
// pass_constant_integer_weights): onnxruntime.quantization.quantize_dynamic's products,
//   (q, s, z) = DynamicQuantizeLinear(x); MatMulInteger(q, W, z, W_zero_point) -> Cast(to float)
//   -> Mul by Mul(s, W_scale)
// with W and its zero point initializers (W 2-D) and W_scale a float32 initializer (a scalar or one
// per column), become one shardscore.RowQuantizedMatMul(x, W, W_zero_point, W_scale) each
// (engine/op_plans_nn.h), which quantizes each row of x (dimension 0) by its own range: a batch
// then gives every row what it gives that row alone, and runs as one. Only where every
// DynamicQuantizeLinear of the graph qualifies: its y, scale and zero point read by such products
// alone (no graph output), and its x shown to hold the rows of the batch in dimension 0 by the ops
// between it and the graph inputs (elementwise ops, normalizations and reductions past dimension 0,
// Transpose keeping it first, Reshape keeping it (shape[0] 0, or the count from Shape), Gather into
// a table, products by constant weights, the fused ops of graph_optimize). Otherwise the graph is
// unchanged and *why_not names the first quantizer that does not qualify, and why. Counted in
// stats->row_quantized_matmuls.
Status pass_row_quantized_matmuls(Graph* g, PassStats* stats, std::string* why_not);

// Not an optimization, and run whatever the options: float16 (and bfloat16) graph inputs and
// outputs become float32 (data files hold float32), with a Cast to float16 after each such input
// and a Cast to float32 before each such output, so the model computes in float16 exactly as it
// would if fed float16 rounded to nearest even.
Status pass_float32_boundary(Graph* g);

// A float32 graph input fed as stored (integer rows, e.g. uint8 images) and converted by the model
// itself: the job's preprocessing chain (preprocess/transforms.h) for inputs without imputation or
// clipping, as graph nodes, so that a GPU receives the stored bytes (a quarter of float32's for
// uint8) and the host does no per-element work.
struct RawInput {
  std::string name;               // a float32 graph input, of rank >= 2 when mean / std are given
  DType stored = DType::kUInt8;   // the fed type: an integer type of at most 16 bits (exact in float32)
  bool nhwc = false;              // fed [N, d2, ..., C]: moved to the model's [N, C, d2, ...]
  float scale = 1.0f;             // x * scale (skipped at 1)
  std::vector<float> mean, std;   // (x - mean[c]) / std[c] over dimension 1 of the model input, or empty
};

// Replaces each named input by one of type `stored` (dims moved to NHWC order when nhwc) read by one
// shardscore.RawInput node (op_plans_elementwise.h): cast, [NHWC -> NCHW], [* scale], [- mean,
// / std], float32 operations in the order preprocess_rows does them, so the model sees the same bits
// as from the host chain, in one pass over the data. Run last, after pass_to_half: where the input's
// only reader is then the float32 boundary's Cast to float16 / bfloat16, the RawInput rounds to that
// type itself and the Cast goes. InvalidArgument (the graph unchanged) names an input that is not a
// float32 graph input, a stored type that is not a small integer, or a mean / std whose length is
// not the input's dimension 1.
Status pass_raw_inputs(Graph* g, const std::vector<RawInput>& raw);

// --precision fp16 / bf16 (run after graph_optimize): the float32 model computed in `half`
// (float16 or bfloat16), as onnxruntime.transformers.float16 converts models. Float32
// initializers (except Resize's roi and scales and Upsample's scales, float32 by the spec) become
// `half` (float16 saturating as that converter does: finite values past +-65504 become +-65504,
// non-zero ones below 5.96e-8 in size +-5.96e-8), Casts to float32 cast to `half`, ConstantOfShape
// and Constant make `half`, and so does EyeLike with dtype float32; graph inputs and outputs stay
// float32 at the engine boundary (pass_float32_boundary). Every computing op then widens to
// float32 and rounds its result once.
Status pass_to_half(Graph* g, DType half);

}  // namespace shardscore
