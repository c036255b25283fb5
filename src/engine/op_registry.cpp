#include "engine/op_registry.h"

#include "engine/cpu/cpu_ops.h"

namespace shardscore {
namespace {

// Opset ranges: the versions whose semantics the function implements (it reads node.opset where
// semantics changed inside the range, e.g. Softmax at 13, Reshape's allowzero at 14).
constexpr OpEntry kOps[] = {
    // domain        op type                  opsets   CPU
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
    {"", "Flatten", 1, 21, cpu_flatten},
    {"", "Reshape", 5, 21, cpu_reshape},
    {"", "Identity", 1, 21, cpu_identity},
    {"", "Constant", 9, 21, cpu_constant},
    {"", "Cast", 6, 18, cpu_cast},
    {"", "Concat", 4, 21, cpu_concat},
    {"", "ArgMax", 1, 21, cpu_argmax},
    {"ai.onnx.ml", "ArrayFeatureExtractor", 1, 5, cpu_array_feature_extractor},
};

}  // namespace

const OpEntry* op_registry_find(std::string_view domain, std::string_view op_type, int64_t opset) {
  for (const auto& e : kOps)
    if (e.domain == domain && e.op_type == op_type && opset >= e.min_opset && opset <= e.max_opset) return &e;
  return nullptr;
}

std::span<const OpEntry> op_registry_all() { return kOps; }

}  // namespace shardscore
