#pragma once
// What the op plans (op_plans_*.h) share: the checks every op makes of its inputs' presence and
// element types. A plan is the part of an op both backends compute alike (attributes, checks with
// their messages, output dtypes and shapes, the geometry the compute needs); each backend's op
// function takes its plan and does only its own compute.
#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/tensor.h"

namespace shardscore {

// Input i, or InvalidArgument("required input i is missing").
StatusOr<const Tensor*> plan_required_input(const std::vector<const Tensor*>& inputs, std::size_t i);
// float32, float64, float16 or bfloat16.
bool plan_is_float(DType t);
// The element type the CPU function sees: float16 and bfloat16 as float32 (op_run_cpu widens
// them), others as they are.
DType plan_dtype(DType t);
// The first float16 or bfloat16 input's type (what an op's float32 results are rounded to, as
// op_run_cpu does), or kUndefined when there is none.
DType plan_half_type(const std::vector<const Tensor*>& inputs);
// Unimplemented("element type <t> is not supported"), t as it is.
Status unsupported_element_type(DType t);
// Unimplemented for a classifier's string class labels (no string tensors), with `what` first
// ("string class labels are not supported"), saying how to export int64 labels instead.
Status unsupported_string_labels(const std::string& what);

}  // namespace shardscore
