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
Status cuda_where(CudaOpContext& ctx);
Status cuda_not(CudaOpContext& ctx);
Status cuda_neg(CudaOpContext& ctx);
Status cuda_sqrt(CudaOpContext& ctx);
Status cuda_erf(CudaOpContext& ctx);
Status cuda_relu(CudaOpContext& ctx);
Status cuda_sigmoid(CudaOpContext& ctx);
Status cuda_tanh(CudaOpContext& ctx);
Status cuda_leaky_relu(CudaOpContext& ctx);
Status cuda_hard_sigmoid(CudaOpContext& ctx);
Status cuda_hard_swish(CudaOpContext& ctx);
Status cuda_gelu(CudaOpContext& ctx);
Status cuda_clip(CudaOpContext& ctx);
Status cuda_cast(CudaOpContext& ctx);

// ---- data movement and shapes: src/engine/cuda/tensor_ops.cpp, kernels/tensor_ops.cu ----
inline constexpr CudaOpFn cuda_flatten = nullptr;
inline constexpr CudaOpFn cuda_reshape = nullptr;
inline constexpr CudaOpFn cuda_identity = nullptr;
inline constexpr CudaOpFn cuda_squeeze = nullptr;
inline constexpr CudaOpFn cuda_unsqueeze = nullptr;
inline constexpr CudaOpFn cuda_shape = nullptr;
inline constexpr CudaOpFn cuda_constant = nullptr;
inline constexpr CudaOpFn cuda_constant_of_shape = nullptr;
inline constexpr CudaOpFn cuda_range = nullptr;
inline constexpr CudaOpFn cuda_concat = nullptr;
inline constexpr CudaOpFn cuda_split = nullptr;
inline constexpr CudaOpFn cuda_slice = nullptr;
inline constexpr CudaOpFn cuda_gather = nullptr;
inline constexpr CudaOpFn cuda_transpose = nullptr;
inline constexpr CudaOpFn cuda_expand = nullptr;
inline constexpr CudaOpFn cuda_pad = nullptr;
inline constexpr CudaOpFn cuda_resize = nullptr;

// ---- reductions, normalization, pooling: src/engine/cuda/reduce_ops.cpp, kernels/reduce_ops.cu ----
Status cuda_softmax(CudaOpContext& ctx);
Status cuda_layer_normalization(CudaOpContext& ctx);
Status cuda_reduce_mean(CudaOpContext& ctx);
Status cuda_reduce_sum(CudaOpContext& ctx);
Status cuda_reduce_max(CudaOpContext& ctx);
Status cuda_argmax(CudaOpContext& ctx);
Status cuda_batch_normalization(CudaOpContext& ctx);
Status cuda_max_pool(CudaOpContext& ctx);
Status cuda_average_pool(CudaOpContext& ctx);
Status cuda_global_average_pool(CudaOpContext& ctx);

// ---- products and convolutions (cuBLAS, cuDNN): src/engine/cuda/gemm_conv.cpp ----
inline constexpr CudaOpFn cuda_gemm = nullptr;
inline constexpr CudaOpFn cuda_matmul = nullptr;
inline constexpr CudaOpFn cuda_fused_gemm = nullptr;
inline constexpr CudaOpFn cuda_conv = nullptr;
inline constexpr CudaOpFn cuda_fused_conv = nullptr;
inline constexpr CudaOpFn cuda_linear_classifier = nullptr;
inline constexpr CudaOpFn cuda_linear_regressor = nullptr;
inline constexpr CudaOpFn cuda_scaler = nullptr;
inline constexpr CudaOpFn cuda_array_feature_extractor = nullptr;

// ---- the CPU backend's blocked layout: its pass never runs for CUDA, so these stay null ----
inline constexpr CudaOpFn cuda_to_blocked = nullptr;
inline constexpr CudaOpFn cuda_from_blocked = nullptr;
inline constexpr CudaOpFn cuda_blocked_max_pool = nullptr;

}  // namespace shardscore
