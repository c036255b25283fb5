#include "engine/op_plans.h"

#include <string>

#include "engine/cpu/float16.h"
#include "engine/graph.h"

namespace shardscore {

StatusOr<const Tensor*> plan_required_input(const std::vector<const Tensor*>& inputs, std::size_t i) {
  const Tensor* t = i < inputs.size() ? inputs[i] : nullptr;
  if (!t) return invalid_argument("required input " + std::to_string(i) + " is missing");
  return t;
}

bool plan_is_float(DType t) { return t == DType::kFloat32 || t == DType::kFloat64 || dtype_is_half(t); }

DType plan_dtype(DType t) { return dtype_is_half(t) ? DType::kFloat32 : t; }

DType plan_half_type(const std::vector<const Tensor*>& inputs) {
  for (const Tensor* t : inputs)
    if (t && dtype_is_half(t->dtype())) return t->dtype();
  return DType::kUndefined;
}

Status unsupported_element_type(DType t) {
  return unimplemented("element type " + std::string(dtype_name(t)) + " is not supported");
}

Status unsupported_string_labels(const std::string& what) {
  return unimplemented(what + "; " + kInt64LabelsAdvice);
}

}  // namespace shardscore
