#pragma once
// CPU op functions: the reference implementation of every op in the registry.
// Each reads ctx.node's attributes and ctx.inputs, and fills ctx.outputs. Errors name the
// offending shape or attribute; the caller prefixes the node.
#include "engine/cpu/cpu_ops_nn.h"
#include "engine/cpu/cpu_ops_tensor.h"
#include <string>
#include <vector>

#include "engine/op_registry.h"

namespace shardscore {

// elementwise.cpp — numpy-style broadcasting for the binary ops
Status cpu_add(OpContext& ctx);
Status cpu_sub(OpContext& ctx);
Status cpu_mul(OpContext& ctx);
Status cpu_div(OpContext& ctx);
Status cpu_relu(OpContext& ctx);
Status cpu_sigmoid(OpContext& ctx);
Status cpu_tanh(OpContext& ctx);
// softmax.cpp
Status cpu_softmax(OpContext& ctx);
Status cpu_log_softmax(OpContext& ctx);  // Softmax's plan: flattened before 13, one axis from 13
// Softmax of each of `rows` contiguous float32 rows of `dim` values (attention scores; y == x
// allowed): the row's maximum subtracted, exp through the vector library, the sum in double over
// four fixed interleaved partial sums. Shared by Softmax along the last axis and Attention.
void cpu_softmax_rows_f32(const float* x, float* y, int64_t rows, int64_t dim);
// gemm.cpp — matrix products through BLAS
Status cpu_gemm(OpContext& ctx);
Status cpu_matmul(OpContext& ctx);
Status cpu_fused_gemm(OpContext& ctx);  // shardscore.FusedGemm, made by the fusion pass
Status cpu_attention(OpContext& ctx);   // shardscore.Attention, made by pass_fuse_attention
// shape_ops.cpp
Status cpu_flatten(OpContext& ctx);
Status cpu_reshape(OpContext& ctx);
Status cpu_identity(OpContext& ctx);
Status cpu_constant(OpContext& ctx);
Status cpu_cast(OpContext& ctx);
Status cpu_concat(OpContext& ctx);
// reduce.cpp
Status cpu_argmax(OpContext& ctx);
Status cpu_argmin(OpContext& ctx);  // ArgMax's plan: keepdims, select_last_index
Status cpu_topk(OpContext& ctx);    // op_plans_nn.h, TopKPlan; reduce.cpp
Status cpu_lp_normalization(OpContext& ctx);  // op_plans_nn.h, LpNormPlan; reduce.cpp
// ml_ops.cpp — ai.onnx.ml domain
Status cpu_array_feature_extractor(OpContext& ctx);
Status cpu_linear_classifier(OpContext& ctx);
Status cpu_linear_regressor(OpContext& ctx);
Status cpu_scaler(OpContext& ctx);
Status cpu_normalizer(OpContext& ctx);
Status cpu_imputer(OpContext& ctx);    // ai.onnx.ml Imputer: X's type (float32, float64, int32, int64)
Status cpu_binarizer(OpContext& ctx);  // ai.onnx.ml Binarizer: X's type, NaN stays NaN
Status cpu_one_hot_encoder(OpContext& ctx);  // ai.onnx.ml OneHotEncoder: int64 categories
Status cpu_label_encoder(OpContext& ctx);    // ai.onnx.ml LabelEncoder: numeric keys and values
// quantize.cpp — the quantized ops: exact integer products, quantization by a given or a dynamic scale
Status cpu_quantize_linear(OpContext& ctx);
Status cpu_dequantize_linear(OpContext& ctx);
Status cpu_dynamic_quantize_linear(OpContext& ctx);  // op_plans_elementwise.h
Status cpu_matmul_integer(OpContext& ctx);           // op_plans_nn.h, MatMulIntegerPlan
Status cpu_row_quantized_matmul(OpContext& ctx);     // op_plans_nn.h, RowQuantizedMatMulPlan (pass_row_quantized_matmuls)
Status cpu_conv_integer(OpContext& ctx);             // op_plans_nn.h, ConvIntegerPlan
Status cpu_tree_ensemble_regressor(OpContext& ctx);
Status cpu_tree_ensemble_classifier(OpContext& ctx);
Status cpu_svm_regressor(OpContext& ctx);   // ai.onnx.ml SVMRegressor (op_plans_svm.h)
Status cpu_svm_classifier(OpContext& ctx);  // ai.onnx.ml SVMClassifier (op_plans_svm.h)
Status cpu_raw_input(OpContext& ctx);  // shardscore.RawInput, made by pass_raw_inputs

// Shared by the op files.
// Normalizes a possibly negative axis against `rank`; InvalidArgument when out of range.
StatusOr<int64_t> cpu_normalize_axis(int64_t axis, int64_t rank);
// The DType of an ONNX TensorProto element-type code (Cast's `to`); kUndefined for others.
DType dtype_from_onnx_code(int64_t code);
// Requires input i to be present.
StatusOr<const Tensor*> cpu_required_input(const OpContext& ctx, std::size_t i);
// The values of a 0-D or 1-D int32/int64 tensor (shapes, pads, axes, starts...); `what` names it in messages.
StatusOr<std::vector<int64_t>> cpu_read_ints(const Tensor& t, const std::string& what);

}  // namespace shardscore
