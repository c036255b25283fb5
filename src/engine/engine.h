#pragma once
// The engine: an ONNX model loaded, validated, planned and bound to a backend.
// Knows nothing of MPI, files of data, or shards: batches of tensors in, tensors out.
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/backend.h"
#include "engine/graph.h"
#include "engine/passes.h"
#include "engine/plan.h"

namespace shardscore {

struct EngineOptions {
  bool optimize = true;  // run the graph passes (passes.h); off only to compare against them
};

class Engine {
 public:
  // backend: "cpu" or "auto" (the best this build has). Errors as graph_load_onnx, plus
  // Unimplemented when the backend lacks an op.
  static StatusOr<std::unique_ptr<Engine>> load(const std::string& model_path, const std::string& backend,
                                                const EngineOptions& options = {});

  // The graph as run (after the passes): the model file's inputs and outputs, except that float16
  // ones are float32 here (pass_float32_boundary).
  const Graph& graph() const { return graph_; }
  const PassStats& pass_stats() const { return pass_stats_; }
  std::string_view backend_name() const { return backend_->name(); }

  // Checks inputs against the graph's declared types and fixed dimensions, then runs.
  // Thread-safe.
  Status run(std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const;

 private:
  Engine() = default;
  Graph graph_;
  PassStats pass_stats_;
  Plan plan_;
  std::unique_ptr<Backend> backend_;
};

}  // namespace shardscore
