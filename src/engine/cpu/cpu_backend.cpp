#include <cblas.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "engine/backend.h"
#include "engine/memory_plan.h"

namespace shardscore {
namespace {

class CpuBackend final : public Backend {
 public:
  std::string_view name() const override { return "cpu"; }
  bool supports(const OpEntry& op) const override { return op.cpu != nullptr; }

  // Per input shape, batches go through three stages: the first runs every step and keeps the
  // results of the shape-only steps (Shape chains: fixed for this shape); the second skips those
  // steps and records its allocations; from the third on, batches run in a planned arena.
  Status run(const Plan& plan, std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const override {
    const std::string key = plan_key(plan, inputs);
    std::shared_ptr<ShapeMemory> memory;
    {
      std::lock_guard lock(mutex_);
      auto it = memory_.find(key);
      if (it != memory_.end()) {
        memory = it->second;
      } else if (memory_.size() < kMaxPlannedShapes) {
        memory = memory_.emplace(key, std::make_shared<ShapeMemory>()).first->second;
      }
    }
    if (!memory) return run_steps(plan, std::move(inputs), outputs, nullptr, nullptr);

    std::unique_lock stage(memory->mutex);
    if (!memory->folded_ready) {
      // Stage 1 (one batch at a time per shape, so the folded results are recorded once).
      std::vector<std::pair<int, Tensor>> folded;
      SS_RETURN_IF_ERROR(run_steps(plan, std::move(inputs), outputs, nullptr, &folded));
      memory->folded = std::move(folded);
      memory->folded_ready = true;
      return ok_status();
    }
    if (!memory->plan_ready) {
      RecordingAllocator recorder;
      {
        ScopedTensorAllocator scope(&recorder);
        SS_RETURN_IF_ERROR(run_steps(plan, std::move(inputs), outputs, &memory->folded, nullptr));
      }
      memory->plan = recorder.build_plan();
      memory->plan_ready = true;
      return ok_status();
    }
    stage.unlock();
    std::shared_ptr<Arena> arena = memory->acquire();
    ArenaAllocator allocator(memory->plan, arena);
    ScopedTensorAllocator scope(&allocator);
    return run_steps(plan, std::move(inputs), outputs, &memory->folded, nullptr);
  }

 private:
  // A job sees a handful of batch shapes (full batches, shard tails); more are run unplanned.
  static constexpr std::size_t kMaxPlannedShapes = 16;

  struct ShapeMemory {
    std::mutex mutex;  // guards the stages; the arena pool has its own
    bool folded_ready = false, plan_ready = false;
    std::vector<std::pair<int, Tensor>> folded;  // slot -> result of a shape-only step
    MemoryPlan plan;
    std::mutex pool_mutex;
    std::vector<std::shared_ptr<Arena>> pool;
    // An arena nothing else holds (no batch running in it, no tensor left in it), or a new one.
    std::shared_ptr<Arena> acquire() {
      std::lock_guard lock(pool_mutex);
      for (auto& a : pool)
        if (a.use_count() == 1) return a;
      pool.push_back(std::make_shared<Arena>(plan.arena_bytes));
      return pool.back();
    }
  };

  static std::string plan_key(const Plan& plan, const std::vector<Tensor>& inputs) {
    std::string key = std::to_string(plan.id);
    for (const auto& t : inputs) {
      key.append("|").append(dtype_name(t.dtype())).append(shape_to_string(t.shape()));
    }
    return key;
  }

  // Runs the plan. With `folded`, shape-only steps are skipped and their outputs taken from it;
  // with `keep_folded`, the outputs of shape-only steps are kept there.
  static Status run_steps(const Plan& plan, std::vector<Tensor> inputs, std::vector<Tensor>* outputs,
                          const std::vector<std::pair<int, Tensor>>* folded,
                          std::vector<std::pair<int, Tensor>>* keep_folded) {
    std::vector<Tensor> slots(static_cast<std::size_t>(plan.num_slots));
    for (const auto& [s, t] : plan.constants) slots[s] = t;
    for (std::size_t k = 0; k < inputs.size(); ++k) slots[plan.input_slots[k]] = std::move(inputs[k]);
    inputs.clear();
    if (folded)
      for (const auto& [s, t] : *folded) slots[s] = t;
    std::vector<Tensor> graph_inputs;
    for (int s : plan.input_slots) graph_inputs.push_back(slots[s]);
    BatchState batch(std::move(graph_inputs));

    for (const auto& step : plan.steps) {
      if (folded && step.shape_only) {
        for (int s : step.free_after) slots[s] = Tensor();
        continue;
      }
      OpContext ctx{*step.node, {}, {}};
      ctx.batch = &batch;
      ctx.inputs.reserve(step.inputs.size());
      for (int s : step.inputs) ctx.inputs.push_back(s >= 0 && !slots[s].empty() ? &slots[s] : nullptr);
      ctx.reusable = plan_reusable_inputs(step, slots);
      ctx.outputs.resize(step.outputs.size());
      Status st;
      try {
        st = op_run_cpu(*step.op, ctx);
      } catch (const std::bad_alloc&) {
        st = resource_exhausted("out of host memory");  // Engine::run splits the batch and retries
      }
      if (!st.ok()) return st.with_context(step.node->describe() + ": ");
      for (std::size_t k = 0; k < step.outputs.size(); ++k) {
        if (step.outputs[k] < 0) continue;
        if (ctx.outputs[k].empty()) {
          return internal_error(step.node->describe() + " did not produce output '" + step.node->outputs[k] + "'");
        }
        slots[step.outputs[k]] = std::move(ctx.outputs[k]);
        if (keep_folded && step.shape_only) keep_folded->emplace_back(step.outputs[k], slots[step.outputs[k]]);
      }
      for (int s : step.free_after) slots[s] = Tensor();
    }
    outputs->clear();
    for (int s : plan.output_slots) outputs->push_back(slots[s]);
    return ok_status();
  }

  mutable std::mutex mutex_;
  mutable std::map<std::string, std::shared_ptr<ShapeMemory>> memory_;
};

}  // namespace

std::unique_ptr<Backend> backend_cpu_create() {
  // One thread budget per rank: batches run in parallel on the job's oneTBB threads, so each BLAS
  // call stays on its caller's thread instead of starting OpenBLAS's own pool on top.
  openblas_set_num_threads(1);
  return std::make_unique<CpuBackend>();
}

}  // namespace shardscore
