#pragma once
// ONNX Runtime's contrib ops (domain com.microsoft) that its transformer optimizer writes into
// BERT-style models (python -m onnxruntime.transformers.optimizer --model_type bert; QuickGelu for
// CLIP), expanded at load into ops of the engine's table (engine/op_registry.h), so that each
// backend runs them with the kernels it has for those, and the later passes fuse them as they fuse
// an exporter's graph (MatMul + bias into FusedGemm, Add + LayerNormalization into
// AddLayerNormalization). The Attention becomes shardscore.Attention whatever
// SHARDSCORE_FUSE_ATTENTION says (that switch is for an exporter's chain of ops).
//
// Each node becomes the ops below, the same function as ONNX Runtime's CPU kernel up to float
// rounding (tests/e2e/test_ops_vs_onnxruntime.py and the bert_tiny_ortopt fixtures hold it to that):
//   BiasGelu(A, B)                        Gelu(A + B), exact (erf)
//   FastGelu(X[, bias])                   Gelu(X [+ bias]) with approximate "tanh"
//   QuickGelu(X)                          X * Sigmoid(alpha X), alpha default 1.702 (CLIP's)
//   SkipLayerNormalization(X, skip, gamma[, beta[, bias]])
//                                         LayerNormalization((X + skip) [+ bias]) over the last
//                                         axis; output 3 (input_skip_bias_sum) is that sum
//   EmbedLayerNormalization(ids[, segment_ids], word, position[, segment], gamma, beta[, mask[, position_ids]])
//                                         LayerNormalization(word[ids] + position[position_ids, or
//                                         0 .. S-1] [+ segment[segment_ids]]), a negative id failing
//                                         the batch as in ONNX Runtime (in a node named for it);
//                                         output 1 (mask_index) the count of mask entries equal to
//                                         1 per row (int32, [B]; zeros without a mask); output 2
//                                         the sum before the norm
//   Attention(X, W[, bias[, mask_index[, past[, attention_bias]]]])
//                                         Q, K, V = X W_q [+ b_q], X W_k, X W_v (W and bias split by
//                                         columns, qkv_hidden_sizes or thirds), each [B, S, heads,
//                                         size / heads], into shardscore.Attention with scale (the
//                                         attribute, or 1 / sqrt(head size)) and an additive mask of
//                                         0 or mask_filter_value (default -10000): for mask_index of
//                                         rank 1, [B] ends (keys at or past a row's length masked)
//                                         or [2B] ends then starts (keys before the start masked
//                                         too), told apart per batch (another length fails it, in
//                                         a node named for that); rank 2 [B, T] or rank 3 [B, S, T]
//                                         raw, masked where <= 0, except [B, 1] / [1, 1]: ONNX
//                                         Runtime's dummy, nothing masked. unidirectional 1 gives
//                                         the keys after each query float32's lowest (whatever the
//                                         filter, as ONNX Runtime has it; float16's where the
//                                         attention stays in float16); attention_bias is added to
//                                         the mask. The mask is built once per (mask_index, type,
//                                         filter, unidirectional). In
//                                         float16, with a filter below float16's range (the
//                                         optimizer writes -3.4e38), the attention runs in float32
//                                         between Casts, as ONNX Runtime keeps its mask in float32:
//                                         a row with every key masked is then uniform, not NaN.
// Refused (Unimplemented, naming the node and what it uses): past / present state and
// past_sequence_length, do_rotary, the training outputs (SkipLayerNormalization's mean and
// inv_std_var) when read, also as graph outputs the job does not select, an Attention whose W or
// bias is not a constant, and a mask_index of unknown rank or of rank 4 (Megatron's [B, 1, M, M]).
// InvalidArgument for malformed nodes: W not of the sizes num_heads and qkv_hidden_sizes give (or
// not float), a bias not matching W, a missing num_heads, inputs or outputs out of the schema.
// Where ONNX Runtime differs: in float16 it sums SkipLayerNormalization's and EmbedLayerNormalization's
// terms in float32 and rounds once, where each Add here rounds (1 ulp of float16 apart); it refuses
// a [1] or [1, T] mask for a batch of more than one row, which broadcasts here. Under --precision
// fp16 (pass_to_half, CUDA) the float32 mask is made float16 too, its -3.4e38 saturating to
// -65504, which no longer absorbs the scores: a row with no key to attend to gets plain attention
// there, where ONNX Runtime's is uniform.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/graph.h"

namespace shardscore {

// Whether expand_contrib_ops rewrites this op (domain com.microsoft, opset 1).
bool contrib_op_expands(std::string_view domain, std::string_view op_type, int64_t opset);

// Rewrites every node contrib_op_expands names, in place in the node order (the graph stays
// sorted). `ranks`: the ranks of the model's values, as it declares them (graph inputs and
// outputs, value_info) or as ONNX's shape inference finds them, for Attention's mask_index.
// Messages name the model (g->source) and the node.
[[nodiscard]] Status expand_contrib_ops(Graph* g, const std::map<std::string, int64_t>& ranks);

}  // namespace shardscore
