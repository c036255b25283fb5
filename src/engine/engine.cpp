#include "engine/engine.h"

#include "engine/cpu/onednn.h"

namespace shardscore {

StatusOr<std::unique_ptr<Engine>> Engine::load(const std::string& model_path, const std::string& backend,
                                               const EngineOptions& options) {
  std::unique_ptr<Engine> e(new Engine());
  SS_ASSIGN_OR_RETURN(e->graph_, graph_load_onnx(model_path));
  SS_RETURN_IF_ERROR(pass_float32_boundary(&e->graph_));
  if (backend != "cpu" && backend != "auto") {
    return invalid_argument("backend '" + backend + "' is not available in this build (cpu, auto)");
  }
  if (options.optimize) SS_RETURN_IF_ERROR(graph_optimize(&e->graph_, &e->pass_stats_, onednn_channel_block()));
  e->backend_ = backend_cpu_create();
  // The plan points into graph_, which lives as long as the engine.
  SS_ASSIGN_OR_RETURN(e->plan_, plan_build(e->graph_));
  for (const auto& step : e->plan_.steps) {
    if (!e->backend_->supports(*step.op)) {
      return unimplemented("backend '" + std::string(e->backend_->name()) + "' cannot run " + step.node->describe());
    }
  }
  return e;
}

Status Engine::run(std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const {
  if (inputs.size() != graph_.inputs.size()) {
    return invalid_argument("model '" + graph_.source + "' takes " + std::to_string(graph_.inputs.size()) +
                            " inputs, got " + std::to_string(inputs.size()));
  }
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const ValueInfo& vi = graph_.inputs[k];
    const Tensor& t = inputs[k];
    if (vi.dtype != DType::kUndefined && t.dtype() != vi.dtype) {
      return invalid_argument("model input '" + vi.name + "' expects " + std::string(dtype_name(vi.dtype)) + ", got " +
                              std::string(dtype_name(t.dtype())));
    }
    if (!vi.dims.empty()) {
      bool fits = static_cast<int64_t>(vi.dims.size()) == t.rank();
      for (std::size_t d = 0; fits && d < vi.dims.size(); ++d) fits = vi.dims[d] < 0 || vi.dims[d] == t.dim(d);
      if (!fits) {
        return invalid_argument("model input '" + vi.name + "' expects shape " + shape_to_string(vi.dims) + ", got " +
                                shape_to_string(t.shape()));
      }
    }
  }
  return backend_->run(plan_, std::move(inputs), outputs);
}

}  // namespace shardscore
