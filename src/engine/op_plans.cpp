#include "engine/op_plans.h"

#include <string>

namespace shardscore {

StatusOr<const Tensor*> plan_required_input(const std::vector<const Tensor*>& inputs, std::size_t i) {
  const Tensor* t = i < inputs.size() ? inputs[i] : nullptr;
  if (!t) return invalid_argument("required input " + std::to_string(i) + " is missing");
  return t;
}

bool plan_is_float(DType t) { return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16; }

DType plan_dtype(DType t) { return t == DType::kFloat16 ? DType::kFloat32 : t; }

Status unsupported_element_type(DType t) {
  return unimplemented("element type " + std::string(dtype_name(t)) + " is not supported");
}

}  // namespace shardscore
