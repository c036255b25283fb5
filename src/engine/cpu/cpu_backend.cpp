#include <cblas.h>

#include "engine/backend.h"

namespace shardscore {
namespace {

class CpuBackend final : public Backend {
 public:
  std::string_view name() const override { return "cpu"; }
  bool supports(const OpEntry& op) const override { return op.cpu != nullptr; }

  Status run(const Plan& plan, std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const override {
    std::vector<Tensor> slots(static_cast<std::size_t>(plan.num_slots));
    for (const auto& [s, t] : plan.constants) slots[s] = t;
    for (std::size_t k = 0; k < inputs.size(); ++k) slots[plan.input_slots[k]] = std::move(inputs[k]);

    for (const auto& step : plan.steps) {
      OpContext ctx{*step.node, {}, {}};
      ctx.inputs.reserve(step.inputs.size());
      for (int s : step.inputs) ctx.inputs.push_back(s >= 0 && !slots[s].empty() ? &slots[s] : nullptr);
      ctx.outputs.resize(step.outputs.size());
      Status st = step.op->cpu(ctx);
      if (!st.ok()) return st.with_context(step.node->describe() + ": ");
      for (std::size_t k = 0; k < step.outputs.size(); ++k) {
        if (step.outputs[k] < 0) continue;
        if (ctx.outputs[k].empty()) {
          return internal_error(step.node->describe() + " did not produce output '" + step.node->outputs[k] + "'");
        }
        slots[step.outputs[k]] = std::move(ctx.outputs[k]);
      }
      for (int s : step.free_after) slots[s] = Tensor();
    }
    outputs->clear();
    for (int s : plan.output_slots) outputs->push_back(slots[s]);
    return ok_status();
  }
};

}  // namespace

std::unique_ptr<Backend> backend_cpu_create() {
  // One thread budget per rank: batches run in parallel on the job's oneTBB threads, so each BLAS
  // call stays on its caller's thread instead of starting OpenBLAS's own pool on top.
  openblas_set_num_threads(1);
  return std::make_unique<CpuBackend>();
}

}  // namespace shardscore
