#include "engine/plan.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>

namespace shardscore {

StatusOr<Plan> plan_build(const Graph& g) {
  static std::atomic<uint64_t> next_id{1};
  Plan p;
  p.id = next_id.fetch_add(1);
  p.graph = &g;
  std::unordered_map<std::string, int> slot;
  auto slot_of = [&](const std::string& name) {
    auto [it, fresh] = slot.try_emplace(name, p.num_slots);
    if (fresh) ++p.num_slots;
    return it->second;
  };
  for (const auto& in : g.inputs) p.input_slots.push_back(slot_of(in.name));
  for (const auto& [name, t] : g.initializers) p.constants.emplace_back(slot_of(name), t);

  for (const auto& n : g.nodes) {
    PlanStep s;
    s.node = &n;
    s.op = op_registry_find(n.domain, n.op_type, n.opset);
    if (!s.op) {
      return unimplemented("model '" + g.source + "' uses unsupported op '" + n.op_type + "' (node '" + n.name +
                           "', domain '" + domain_display(n.domain) + "', opset " + std::to_string(n.opset) + ")");
    }
    for (const auto& i : n.inputs) s.inputs.push_back(i.empty() ? -1 : slot_of(i));
    for (const auto& o : n.outputs) s.outputs.push_back(o.empty() ? -1 : slot_of(o));
    p.steps.push_back(std::move(s));
  }
  for (const auto& out : g.outputs) p.output_slots.push_back(slot_of(out.name));

  // Value dependence: graph inputs carry data; Shape's and Size's outputs depend on their input's
  // shape only; any other node carries data if one of its inputs does.
  std::vector<bool> carries_data(static_cast<std::size_t>(p.num_slots), false);
  for (int s : p.input_slots) carries_data[s] = true;
  for (auto& step : p.steps) {
    bool data = false;
    if (!((step.node->op_type == "Shape" || step.node->op_type == "Size") && step.node->domain.empty())) {
      for (int s : step.inputs) data = data || (s >= 0 && carries_data[s]);
    }
    // (A step reading only constants is constant too; the load-time folding normally took it.)
    step.shape_only = !data && !step.inputs.empty();
    for (int s : step.outputs)
      if (s >= 0) carries_data[s] = data;
  }

  // Free each value after its last reader (graph inputs too: the backend holds its own copy);
  // graph outputs and constants are kept.
  std::vector<bool> keep(static_cast<std::size_t>(p.num_slots), false);
  for (int s : p.output_slots) keep[s] = true;
  for (const auto& [s, t] : p.constants) keep[s] = true;
  std::vector<int> last_reader(static_cast<std::size_t>(p.num_slots), -1);
  for (int k = 0; k < static_cast<int>(p.steps.size()); ++k)
    for (int s : p.steps[k].inputs)
      if (s >= 0) last_reader[s] = k;
  for (int s = 0; s < p.num_slots; ++s)
    if (!keep[s] && last_reader[s] >= 0) p.steps[last_reader[s]].free_after.push_back(s);
  return p;
}

uint64_t plan_reusable_inputs(const PlanStep& step, const std::vector<Tensor>& slots) {
  uint64_t bits = 0;
  for (std::size_t k = 0; k < step.inputs.size() && k < 64; ++k) {
    const int s = step.inputs[k];
    if (s < 0 || !slots[static_cast<std::size_t>(s)].sole_owner()) continue;
    if (std::count(step.inputs.begin(), step.inputs.end(), s) != 1) continue;
    if (std::find(step.free_after.begin(), step.free_after.end(), s) == step.free_after.end()) continue;
    bits |= uint64_t{1} << k;
  }
  return bits;
}

}  // namespace shardscore
