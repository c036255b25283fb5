#include "engine/op_registry.h"

#include <algorithm>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/float16.h"

namespace shardscore {
namespace {

// Opset ranges: the versions whose semantics the function implements (it reads node.opset where
// semantics changed inside the range, e.g. Softmax at 13, Reshape's allowzero at 14).
// kAsStored: the op moves or compares elements without arithmetic, so it runs on float16 as
// stored; every other op computes float16 in float32 (op_run_cpu).
constexpr bool kAsStored = true;

constexpr OpEntry kOps[] = {
    // domain        op type                  opsets   CPU           float16
    {"", "Add", 7, 21, cpu_add},
    {"", "Sub", 7, 21, cpu_sub},
    {"", "Mul", 7, 21, cpu_mul},
    {"", "Div", 7, 21, cpu_div},
    {"", "Relu", 6, 21, cpu_relu},
    {"", "Sigmoid", 6, 21, cpu_sigmoid},
    {"", "Tanh", 6, 21, cpu_tanh},
    {"", "Softmax", 1, 21, cpu_softmax},
    {"", "Gemm", 7, 21, cpu_gemm},
    {"", "MatMul", 1, 21, cpu_matmul},
    {"", "Flatten", 1, 21, cpu_flatten, kAsStored},
    {"", "Reshape", 5, 21, cpu_reshape, kAsStored},
    {"", "Identity", 1, 21, cpu_identity, kAsStored},
    {"", "Constant", 9, 21, cpu_constant, kAsStored},
    {"", "Cast", 6, 18, cpu_cast, kAsStored},
    {"", "Concat", 4, 21, cpu_concat, kAsStored},
    {"", "ArgMax", 1, 21, cpu_argmax},
    {"ai.onnx.ml", "ArrayFeatureExtractor", 1, 5, cpu_array_feature_extractor},
    {"ai.onnx.ml", "LinearClassifier", 1, 5, cpu_linear_classifier},
    {"ai.onnx.ml", "LinearRegressor", 1, 5, cpu_linear_regressor},
    {"ai.onnx.ml", "Scaler", 1, 5, cpu_scaler},
    // shardscore's own ops, made by the graph passes (src/engine/passes.cpp), never by exporters.
    {"shardscore", "FusedGemm", 1, 1, cpu_fused_gemm},
    {"shardscore", "FusedConv", 1, 1, cpu_fused_conv},
    {"shardscore", "ToBlocked", 1, 1, cpu_to_blocked, kAsStored},
    {"shardscore", "FromBlocked", 1, 1, cpu_from_blocked, kAsStored},
    {"shardscore", "BlockedMaxPool", 1, 1, cpu_blocked_max_pool},
    // ---- neural-network and math ops (cpu_ops_nn.h) ----
    {"", "Conv", 1, 21, cpu_conv},
    {"", "BatchNormalization", 9, 21, cpu_batch_normalization},
    {"", "MaxPool", 1, 21, cpu_max_pool},
    {"", "AveragePool", 1, 21, cpu_average_pool},
    {"", "GlobalAveragePool", 1, 21, cpu_global_average_pool},
    {"", "Pad", 2, 21, cpu_pad},
    {"", "Resize", 11, 21, cpu_resize},
    {"", "Clip", 6, 21, cpu_clip},
    {"", "LeakyRelu", 6, 21, cpu_leaky_relu},
    {"", "HardSigmoid", 6, 21, cpu_hard_sigmoid},
    {"", "HardSwish", 14, 21, cpu_hard_swish},
    {"", "Erf", 9, 21, cpu_erf},
    {"", "Gelu", 20, 21, cpu_gelu},
    {"com.microsoft", "Gelu", 1, 1, cpu_gelu},
    {"", "Sqrt", 6, 21, cpu_sqrt},
    {"", "Pow", 7, 21, cpu_pow},
    {"", "Neg", 6, 21, cpu_neg},
    {"", "Not", 1, 21, cpu_not},
    {"", "Equal", 7, 21, cpu_equal},
    {"", "Where", 9, 21, cpu_where, kAsStored},
    // ---- tensor, reduction and normalization ops (cpu_ops_tensor.h) ----
    {"", "Gather", 1, 21, cpu_gather, kAsStored},
    {"", "Transpose", 1, 21, cpu_transpose, kAsStored},
    {"", "Expand", 8, 21, cpu_expand, kAsStored},
    {"", "Slice", 10, 21, cpu_slice, kAsStored},
    {"", "Squeeze", 1, 21, cpu_squeeze, kAsStored},
    {"", "Unsqueeze", 1, 21, cpu_unsqueeze, kAsStored},
    {"", "Shape", 1, 21, cpu_shape, kAsStored},
    {"", "ConstantOfShape", 9, 21, cpu_constant_of_shape, kAsStored},
    {"", "Range", 11, 21, cpu_range},
    {"", "Split", 2, 21, cpu_split, kAsStored},
    {"", "ReduceMean", 1, 21, cpu_reduce_mean},
    {"", "ReduceSum", 1, 21, cpu_reduce_sum},
    {"", "ReduceMax", 1, 21, cpu_reduce_max},
    {"", "LayerNormalization", 17, 21, cpu_layer_normalization},
};

}  // namespace

const OpEntry* op_registry_find(std::string_view domain, std::string_view op_type, int64_t opset) {
  for (const auto& e : kOps)
    if (e.domain == domain && e.op_type == op_type && opset >= e.min_opset && opset <= e.max_opset) return &e;
  return nullptr;
}

std::span<const OpEntry> op_registry_all() { return kOps; }

Status op_run_cpu(const OpEntry& op, OpContext& ctx) {
  const bool any_half = std::any_of(ctx.inputs.begin(), ctx.inputs.end(),
                                    [](const Tensor* t) { return t && t->dtype() == DType::kFloat16; });
  if (op.float16_as_stored || !any_half) return op.cpu(ctx);
  std::vector<Tensor> widened(ctx.inputs.size());
  const std::vector<const Tensor*> original = ctx.inputs;
  for (std::size_t k = 0; k < ctx.inputs.size(); ++k) {
    const Tensor* t = ctx.inputs[k];
    if (!t || t->dtype() != DType::kFloat16) continue;
    widened[k] = Tensor(DType::kFloat32, t->shape());
    const uint16_t* src = t->data<uint16_t>();
    float* dst = widened[k].data<float>();
    for (int64_t i = 0, n = t->numel(); i < n; ++i) dst[i] = half_to_float(src[i]);
    ctx.inputs[k] = &widened[k];
  }
  Status st = op.cpu(ctx);
  ctx.inputs = original;
  SS_RETURN_IF_ERROR(st);
  for (auto& out : ctx.outputs) {
    if (out.empty() || out.dtype() != DType::kFloat32) continue;
    Tensor h(DType::kFloat16, out.shape());
    const float* src = out.data<float>();
    uint16_t* dst = h.data<uint16_t>();
    for (int64_t i = 0, n = out.numel(); i < n; ++i) dst[i] = float_to_half(src[i]);
    out = std::move(h);
  }
  return ok_status();
}

}  // namespace shardscore
