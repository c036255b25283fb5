#pragma once
// The op table: which ONNX ops the engine runs, for which opsets, and each backend's function.
//
// How to add an op:
//   1. write its plan in src/engine/op_plans_*.h: attributes, checks with their messages, output
//      dtypes and shapes, the geometry the compute needs (shared by every backend);
//   2. write its CPU function in src/engine/cpu/ (declared in cpu/cpu_ops.h), the reference, and
//      its CUDA function in src/engine/cuda/ (declared in cuda/cuda_ops.h) with its kernels and
//      launcher in kernels/; both take the plan and do only their compute;
//   3. add one row in op_registry.cpp: domain, op type, opset range, CPU and CUDA functions, and
//      the inputs the CUDA function reads on the host;
//   4. add its cases to tests/engine/test_ops*.cpp (run on every backend against a float64 reference).
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"
#include "engine/tensor.h"

namespace shardscore {

// What the steps of one batch share on the CPU backend. One fact today: whether a NaN or an
// infinity has come into the oneDNN convolutions from outside them (graph inputs, ToBlocked, a
// convolution's NCHW input), which decides whether their Relu may run inside oneDNN
// (engine/cpu/onednn.h). Thread-compatible: one batch, one thread.
class BatchState {
 public:
  // Holds the graph's inputs until the first nonfinite_seen() has looked at them.
  explicit BatchState(std::vector<Tensor> graph_inputs) : graph_inputs_(std::move(graph_inputs)) {}
  // Whether a float32 graph input holds a NaN or an infinity (looked at once, on the first call),
  // or note_values() found one.
  bool nonfinite_seen();
  // Looks at a float32 tensor's values (other types: nothing) and remembers a NaN or an infinity.
  void note_values(const Tensor& t);

 private:
  std::vector<Tensor> graph_inputs_;
  bool nonfinite_ = false;
};

// What an op function sees: its node (attributes), its inputs (nullptr for an omitted optional
// input) and its outputs to fill (one per node output, in order).
struct OpContext {
  const Node& node;
  std::vector<const Tensor*> inputs;
  std::vector<Tensor> outputs;
  // Bit k: input k's buffer may become this op's output. Set by the CPU backend when this step is
  // the last reader of input k's value, nothing else holds its buffer (no view, constant or
  // folded copy) and no other input of this op is the same value; 0 everywhere else.
  uint64_t reusable = 0;
  // The batch this step runs in (CPU backend), or nullptr (constant folding, the CUDA backend's
  // host steps, an op run on its own): ops then take their general path.
  BatchState* batch = nullptr;

  const Tensor* input(std::size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  // Input k, for the op to move out and write its output into, or nullptr when `reusable` does
  // not allow it.
  Tensor* reusable_input(std::size_t k) const {
    return k < 64 && (reusable >> k & 1) && k < inputs.size() && inputs[k] ? const_cast<Tensor*>(inputs[k]) : nullptr;
  }
};

using CpuOpFn = Status (*)(OpContext&);
// The CUDA backend's functions (src/engine/cuda/cuda_op.h); nullptr in a build without CUDA.
struct CudaOpContext;
using CudaOpFn = Status (*)(CudaOpContext&);

struct OpEntry {
  std::string_view domain;  // "" = default ONNX domain
  std::string_view op_type;
  int min_opset;
  int max_opset;
  CpuOpFn cpu;
  CudaOpFn cuda = nullptr;
  // True for ops that only move, select or reinterpret elements (Reshape, Gather, Concat, Where,
  // Cast, ...): they run on float16 tensors as stored. Other ops never see float16 (op_run_cpu).
  bool float16_as_stored = false;
  // Bit k set: the CUDA function reads input k on the host (shapes, axes, pads, sizes: small
  // tensors that decide the launch, as ONNX Runtime's CUDA provider keeps them on the CPU).
  uint32_t cuda_host_inputs = 0;
  // Bit k set: output k is float32 whatever the op's T (LayerNormalization's Mean and InvStdDev:
  // U, by stash_type), so op_run_cpu leaves it unrounded.
  uint32_t float32_outputs = 0;
};

// The entry for an op at the model's opset of its domain, or nullptr when the build cannot run it.
const OpEntry* op_registry_find(std::string_view domain, std::string_view op_type, int64_t opset);
std::span<const OpEntry> op_registry_all();

// Runs `op`'s CPU function on ctx. Ops that compute (float16_as_stored false) never see float16:
// float16 inputs are widened to float32 (exactly), the op runs in float32, and its float32
// outputs are rounded back to float16 (to nearest even) when the op's first float input is float16
// (its T; a float32 first input keeps float32 outputs; OpEntry::float32_outputs stay float32) - so float16 models give float16 results
// rounded once per op, as ONNX Runtime's CPU provider computes them. Constant folding and the CPU
// backend both run ops through here.
[[nodiscard]] Status op_run_cpu(const OpEntry& op, OpContext& ctx);

}  // namespace shardscore
