#include "engine/plan.h"

#include <unordered_map>

namespace shardscore {

StatusOr<Plan> plan_build(const Graph& g) {
  Plan p;
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

}  // namespace shardscore
