#pragma once
// The execution plan: the graph's nodes in order, each bound to its registry entry, with every
// value given a slot and freed after its last use. Built once per model, shared read-only by all
// threads running batches.
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"
#include "engine/op_registry.h"

namespace shardscore {

struct PlanStep {
  const Node* node = nullptr;
  const OpEntry* op = nullptr;
  std::vector<int> inputs;     // slot per node input; -1 for an omitted optional input
  std::vector<int> outputs;    // slot per node output; -1 for an unused optional output
  std::vector<int> free_after; // slots whose last reader is this step
  // Its outputs depend on the shapes of the graph inputs but not on their values (Shape, and
  // whatever computes only from Shape results and constants): fixed for a given input shape.
  bool shape_only = false;
};

struct Plan {
  // Unique per plan_build() call: what backends key per-plan caches on (an address can be reused).
  uint64_t id = 0;
  const Graph* graph = nullptr;
  int num_slots = 0;
  std::vector<int> input_slots;   // per graph input
  std::vector<int> output_slots;  // per graph output
  std::vector<std::pair<int, Tensor>> constants;  // initializers, placed before the first step
  std::vector<PlanStep> steps;
};

// `graph` must outlive the plan.
StatusOr<Plan> plan_build(const Graph& graph);

// OpContext::reusable for `step`, given the values in their slots: bit k for input k when this
// step is its value's last reader (free_after), the slot is the only holder of the buffer, and
// no other input of the step is the same slot (an op must not write over what it still reads).
uint64_t plan_reusable_inputs(const PlanStep& step, const std::vector<Tensor>& slots);

}  // namespace shardscore
