#include <cblas.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "engine/backend.h"
#include "engine/cpu/memory_plan.h"

namespace shardscore {
namespace {

class CpuBackend final : public Backend {
 public:
  std::string_view name() const override { return "cpu"; }
  bool supports(const OpEntry& op) const override { return op.cpu != nullptr; }

  Status run(const Plan& plan, std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const override {
    const std::string key = plan_key(plan, inputs);
    std::shared_ptr<ShapeMemory> memory;
    {
      std::lock_guard lock(mutex_);
      auto it = memory_.find(key);
      if (it != memory_.end()) memory = it->second;
    }
    if (!memory) {
      // First batch of this shape: run on the heap, recording every buffer, then plan the arena.
      RecordingAllocator recorder;
      {
        ScopedTensorAllocator scope(&recorder);
        SS_RETURN_IF_ERROR(run_steps(plan, std::move(inputs), outputs));
      }
      auto fresh = std::make_shared<ShapeMemory>();
      fresh->plan = recorder.build_plan();
      std::lock_guard lock(mutex_);
      if (memory_.size() < kMaxPlannedShapes) memory_.try_emplace(key, std::move(fresh));
      return ok_status();
    }
    std::shared_ptr<Arena> arena = memory->acquire();
    ArenaAllocator allocator(memory->plan, arena);
    ScopedTensorAllocator scope(&allocator);
    return run_steps(plan, std::move(inputs), outputs);
  }

 private:
  // A job sees a handful of batch shapes (full batches, shard tails); more are run unplanned.
  static constexpr std::size_t kMaxPlannedShapes = 16;

  struct ShapeMemory {
    MemoryPlan plan;
    std::mutex mutex;
    std::vector<std::shared_ptr<Arena>> pool;
    // An arena nothing else holds (no batch running in it, no tensor left in it), or a new one.
    std::shared_ptr<Arena> acquire() {
      std::lock_guard lock(mutex);
      for (auto& a : pool)
        if (a.use_count() == 1) return a;
      pool.push_back(std::make_shared<Arena>(plan.arena_bytes));
      return pool.back();
    }
  };

  static std::string plan_key(const Plan& plan, const std::vector<Tensor>& inputs) {
    std::string key = std::to_string(reinterpret_cast<std::uintptr_t>(&plan));
    for (const auto& t : inputs) {
      key.append("|").append(dtype_name(t.dtype())).append(shape_to_string(t.shape()));
    }
    return key;
  }

  static Status run_steps(const Plan& plan, std::vector<Tensor> inputs, std::vector<Tensor>* outputs) {
    std::vector<Tensor> slots(static_cast<std::size_t>(plan.num_slots));
    for (const auto& [s, t] : plan.constants) slots[s] = t;
    for (std::size_t k = 0; k < inputs.size(); ++k) slots[plan.input_slots[k]] = std::move(inputs[k]);
    inputs.clear();

    for (const auto& step : plan.steps) {
      OpContext ctx{*step.node, {}, {}};
      ctx.inputs.reserve(step.inputs.size());
      for (int s : step.inputs) ctx.inputs.push_back(s >= 0 && !slots[s].empty() ? &slots[s] : nullptr);
      ctx.outputs.resize(step.outputs.size());
      Status st;
      try {
        st = step.op->cpu(ctx);
      } catch (const std::bad_alloc&) {
        st = unavailable("out of memory");
      }
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
