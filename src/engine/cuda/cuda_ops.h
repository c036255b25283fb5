#pragma once
// The CUDA backend's op functions: one per registry row (src/engine/op_registry.cpp, column
// SS_CUDA). Each mirrors its CPU function (src/engine/cpu/) - same attributes, opsets, errors and
// output dtypes and shapes - and is tested by the same op tests (tests/engine/test_ops*.cpp).
//
// An op whose CUDA function is not written yet is a null constant here, so its registry row says
// "no CUDA function" and Engine::load refuses a model that uses it on --backend cuda.
#include "common/status.h"
#include "engine/cuda/cuda_op.h"

namespace shardscore {

// ---- elementwise: src/engine/cuda/elementwise.cpp, kernels/elementwise.cu ----
Status cuda_add(CudaOpContext& ctx);
Status cuda_sub(CudaOpContext& ctx);
Status cuda_mul(CudaOpContext& ctx);
Status cuda_div(CudaOpContext& ctx);
Status cuda_pow(CudaOpContext& ctx);
Status cuda_equal(CudaOpContext& ctx);
Status cuda_and(CudaOpContext& ctx);
Status cuda_or(CudaOpContext& ctx);
Status cuda_xor(CudaOpContext& ctx);
Status cuda_max(CudaOpContext& ctx);
Status cuda_min(CudaOpContext& ctx);
Status cuda_where(CudaOpContext& ctx);
Status cuda_not(CudaOpContext& ctx);
Status cuda_isnan(CudaOpContext& ctx);
Status cuda_neg(CudaOpContext& ctx);
Status cuda_sqrt(CudaOpContext& ctx);
Status cuda_erf(CudaOpContext& ctx);
Status cuda_relu(CudaOpContext& ctx);
Status cuda_sigmoid(CudaOpContext& ctx);
Status cuda_tanh(CudaOpContext& ctx);
Status cuda_leaky_relu(CudaOpContext& ctx);
Status cuda_prelu(CudaOpContext& ctx);
Status cuda_hard_sigmoid(CudaOpContext& ctx);
Status cuda_hard_swish(CudaOpContext& ctx);
Status cuda_gelu(CudaOpContext& ctx);
Status cuda_clip(CudaOpContext& ctx);
Status cuda_cast(CudaOpContext& ctx);
Status cuda_exp(CudaOpContext& ctx);
Status cuda_log(CudaOpContext& ctx);
Status cuda_reciprocal(CudaOpContext& ctx);
Status cuda_floor(CudaOpContext& ctx);
Status cuda_ceil(CudaOpContext& ctx);
Status cuda_round(CudaOpContext& ctx);
Status cuda_sin(CudaOpContext& ctx);
Status cuda_cos(CudaOpContext& ctx);
Status cuda_softplus(CudaOpContext& ctx);
Status cuda_mish(CudaOpContext& ctx);
Status cuda_tan(CudaOpContext& ctx);
Status cuda_asin(CudaOpContext& ctx);
Status cuda_acos(CudaOpContext& ctx);
Status cuda_atan(CudaOpContext& ctx);
Status cuda_sinh(CudaOpContext& ctx);
Status cuda_cosh(CudaOpContext& ctx);
Status cuda_asinh(CudaOpContext& ctx);
Status cuda_acosh(CudaOpContext& ctx);
Status cuda_atanh(CudaOpContext& ctx);
Status cuda_celu(CudaOpContext& ctx);
Status cuda_thresholded_relu(CudaOpContext& ctx);
Status cuda_shrink(CudaOpContext& ctx);
Status cuda_isinf(CudaOpContext& ctx);
Status cuda_softsign(CudaOpContext& ctx);
Status cuda_elu(CudaOpContext& ctx);
Status cuda_selu(CudaOpContext& ctx);
Status cuda_abs(CudaOpContext& ctx);
Status cuda_sign(CudaOpContext& ctx);
Status cuda_less(CudaOpContext& ctx);
Status cuda_greater(CudaOpContext& ctx);
Status cuda_less_or_equal(CudaOpContext& ctx);
Status cuda_greater_or_equal(CudaOpContext& ctx);
Status cuda_mod(CudaOpContext& ctx);
Status cuda_sum(CudaOpContext& ctx);
Status cuda_mean(CudaOpContext& ctx);
Status cuda_dropout(CudaOpContext& ctx);

// ---- data movement and shapes: src/engine/cuda/tensor_ops.cpp, kernels/tensor_ops.cu ----
Status cuda_flatten(CudaOpContext& ctx);
Status cuda_reshape(CudaOpContext& ctx);
Status cuda_identity(CudaOpContext& ctx);
Status cuda_squeeze(CudaOpContext& ctx);
Status cuda_unsqueeze(CudaOpContext& ctx);
Status cuda_shape(CudaOpContext& ctx);
Status cuda_size(CudaOpContext& ctx);
Status cuda_constant(CudaOpContext& ctx);
Status cuda_constant_of_shape(CudaOpContext& ctx);
Status cuda_range(CudaOpContext& ctx);
Status cuda_concat(CudaOpContext& ctx);
Status cuda_split(CudaOpContext& ctx);
Status cuda_slice(CudaOpContext& ctx);
Status cuda_gather(CudaOpContext& ctx);
Status cuda_gather_nd(CudaOpContext& ctx);
Status cuda_transpose(CudaOpContext& ctx);
Status cuda_depth_to_space(CudaOpContext& ctx);
Status cuda_space_to_depth(CudaOpContext& ctx);
Status cuda_einsum(CudaOpContext& ctx);
Status cuda_expand(CudaOpContext& ctx);
Status cuda_pad(CudaOpContext& ctx);
Status cuda_resize(CudaOpContext& ctx);
Status cuda_upsample(CudaOpContext& ctx);
Status cuda_tile(CudaOpContext& ctx);
Status cuda_trilu(CudaOpContext& ctx);
Status cuda_gather_elements(CudaOpContext& ctx);
Status cuda_scatter_nd(CudaOpContext& ctx);
Status cuda_scatter_elements(CudaOpContext& ctx);
Status cuda_one_hot(CudaOpContext& ctx);
Status cuda_eye_like(CudaOpContext& ctx);

// ---- reductions, normalization, pooling: src/engine/cuda/reduce_ops.cpp, kernels/reduce_ops.cu ----
Status cuda_softmax(CudaOpContext& ctx);
Status cuda_log_softmax(CudaOpContext& ctx);
Status cuda_layer_normalization(CudaOpContext& ctx);
Status cuda_add_layer_normalization(CudaOpContext& ctx);  // shardscore.AddLayerNormalization
Status cuda_instance_normalization(CudaOpContext& ctx);  // opsets 6..21
Status cuda_group_normalization(CudaOpContext& ctx);     // opsets 18, 21
Status cuda_lrn(CudaOpContext& ctx);  // LRN (opsets 1, 13)
Status cuda_reduce_mean(CudaOpContext& ctx);
Status cuda_reduce_sum(CudaOpContext& ctx);
Status cuda_reduce_max(CudaOpContext& ctx);
Status cuda_reduce_min(CudaOpContext& ctx);
Status cuda_reduce_prod(CudaOpContext& ctx);
Status cuda_reduce_l1(CudaOpContext& ctx);
Status cuda_reduce_l2(CudaOpContext& ctx);
Status cuda_reduce_sum_square(CudaOpContext& ctx);
Status cuda_reduce_log_sum(CudaOpContext& ctx);
Status cuda_reduce_log_sum_exp(CudaOpContext& ctx);
Status cuda_argmax(CudaOpContext& ctx);
Status cuda_topk(CudaOpContext& ctx);
Status cuda_lp_normalization(CudaOpContext& ctx);
Status cuda_argmin(CudaOpContext& ctx);
Status cuda_cumsum(CudaOpContext& ctx);
Status cuda_batch_normalization(CudaOpContext& ctx);
Status cuda_max_pool(CudaOpContext& ctx);
Status cuda_average_pool(CudaOpContext& ctx);
Status cuda_global_average_pool(CudaOpContext& ctx);
Status cuda_global_max_pool(CudaOpContext& ctx);

// ---- products and convolutions (cuBLAS, cuDNN): src/engine/cuda/gemm_conv.cpp, kernels/gemm_conv.cu ----
Status cuda_gemm(CudaOpContext& ctx);
Status cuda_matmul(CudaOpContext& ctx);
Status cuda_fused_gemm(CudaOpContext& ctx);
Status cuda_attention(CudaOpContext& ctx);  // shardscore.Attention (pass_fuse_attention)
Status cuda_conv(CudaOpContext& ctx);
Status cuda_conv_transpose(CudaOpContext& ctx);
// rnn.cpp, kernels/rnn.cu
Status cuda_rnn(CudaOpContext& ctx);
Status cuda_gru(CudaOpContext& ctx);
Status cuda_lstm(CudaOpContext& ctx);
Status cuda_fused_conv(CudaOpContext& ctx);

// ---- ai.onnx.ml (scikit-learn): src/engine/cuda/ml_ops.cpp, kernels/ml_ops.cu ----
Status cuda_linear_classifier(CudaOpContext& ctx);
Status cuda_linear_regressor(CudaOpContext& ctx);
Status cuda_scaler(CudaOpContext& ctx);
Status cuda_normalizer(CudaOpContext& ctx);
Status cuda_imputer(CudaOpContext& ctx);
Status cuda_binarizer(CudaOpContext& ctx);
Status cuda_one_hot_encoder(CudaOpContext& ctx);
Status cuda_label_encoder(CudaOpContext& ctx);
Status cuda_quantize_linear(CudaOpContext& ctx);    // elementwise.cpp, kernels/quantize.cu
Status cuda_dequantize_linear(CudaOpContext& ctx);
Status cuda_dynamic_quantize_linear(CudaOpContext& ctx);
Status cuda_matmul_integer(CudaOpContext& ctx);  // gemm_conv.cpp, kernels/quantize.cu
Status cuda_conv_integer(CudaOpContext& ctx);
Status cuda_tree_ensemble_regressor(CudaOpContext& ctx);
Status cuda_tree_ensemble_classifier(CudaOpContext& ctx);
Status cuda_svm_regressor(CudaOpContext& ctx);
Status cuda_svm_classifier(CudaOpContext& ctx);
Status cuda_raw_input(CudaOpContext& ctx);  // shardscore.RawInput (pass_raw_inputs): the job's preprocessing
Status cuda_array_feature_extractor(CudaOpContext& ctx);

// ---- the CPU backend's blocked layout: its pass never runs for CUDA, so these stay null ----
inline constexpr CudaOpFn cuda_to_blocked = nullptr;
inline constexpr CudaOpFn cuda_from_blocked = nullptr;
inline constexpr CudaOpFn cuda_blocked_max_pool = nullptr;
// ---- pass_row_quantized_matmuls runs on the CPU backend only (a CUDA model quantizes a row at a time) ----
inline constexpr CudaOpFn cuda_row_quantized_matmul = nullptr;

}  // namespace shardscore
