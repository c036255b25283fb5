// The execution plan (src/engine/plan.h): which inputs a step may overwrite.
#include "engine/plan.h"

#include <gtest/gtest.h>

#include <vector>

namespace shardscore {
namespace {

Tensor floats(int64_t n) { return Tensor(DType::kFloat32, {n}); }

TEST(Plan, ReusableInputsAreLastReadsOfBuffersNothingElseHolds) {
  std::vector<Tensor> slots{floats(4), floats(4), floats(4), floats(4), floats(4)};
  PlanStep step;
  step.inputs = {0, 1, 2, -1, 3};
  step.free_after = {0, 2, 3};
  EXPECT_EQ(plan_reusable_inputs(step, slots), 0b10101u) << "inputs 0, 2 and 4 are read last here; input 3 is omitted";

  // A buffer someone else holds (a constant's copy, a folded value, a view) is not the step's to write.
  const Tensor constant_copy = slots[0];
  const Tensor view = slots[2].reshaped({2, 2});
  EXPECT_EQ(plan_reusable_inputs(step, slots), 0b10000u);
}

TEST(Plan, AnInputReadTwiceByTheStepIsNotReusable) {
  // Conv(x, w, b, z) with z = x: writing the output over z would write over x while it is read.
  std::vector<Tensor> slots{floats(4), floats(4)};
  PlanStep step;
  step.inputs = {0, 1, -1, 0};
  step.free_after = {0, 1};
  EXPECT_EQ(plan_reusable_inputs(step, slots), 0b0010u);
}

TEST(Plan, EmptySlotsAreNotReusable) {
  std::vector<Tensor> slots(2);
  PlanStep step;
  step.inputs = {0, 1};
  step.free_after = {0, 1};
  EXPECT_EQ(plan_reusable_inputs(step, slots), 0u);
}

}  // namespace
}  // namespace shardscore
