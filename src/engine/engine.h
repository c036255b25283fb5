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
  CudaBackendOptions cuda;  // device and precision, for backend "cuda" (or "auto" choosing it)
  // Compute in float16 or bfloat16 (pass_to_half): set for the CUDA backend at precision fp16 /
  // bf16; the CPU backend runs it too (each op in float32, rounded once), which is how it is tested
  // without a GPU. kFloat32: the model's own types.
  DType compute = DType::kFloat32;
  // Convolutions in NHWC (pass_nhwc_convs), the layout of the GPU's tensor cores; set for the CUDA
  // backend by SHARDSCORE_CUDA_NHWC=1 (off by default until a GPU run has measured it), and run on
  // the CPU backend too (as a reference, slowly) when set, instead of oneDNN's blocked layout.
  bool nhwc_convs = false;
  // Attention chains as one shardscore.Attention (pass_fuse_attention), on every backend; off by
  // SHARDSCORE_FUSE_ATTENTION=0 (what the fusion gains, measured on the GPU by bench/gpu_vs_pytorch.py).
  // A com.microsoft Attention is expanded into one at load whatever this says (engine/contrib_ops.h).
  bool fuse_attention = true;
  // The model outputs the engine computes and returns, by name, in this order (pass_select_outputs);
  // empty: all of the model's. Nodes that only the others need are dropped before the passes run.
  std::vector<std::string> outputs;
  // A batch that runs out of (device) memory is retried as two halves, down to this many rows;
  // each retry is logged.
  int64_t min_retry_rows = 1;
  // A model whose inputs all fix their first dimension at B (torch.onnx.export without a dynamic
  // batch axis: B = 1) takes exactly B rows a run. Set, run() takes any number of rows instead and
  // runs them B at a time, the last run filled up with rows of zeros whose outputs are dropped
  // (rows are scored independently: what the job assumes of every model); every output must then
  // have B rows a run. Off: such a model takes B rows only.
  bool fixed_batch_in_runs = false;
  // A model that quantizes its activations by their range (DynamicQuantizeLinear, as
  // onnxruntime.quantization.quantize_dynamic writes it) gives a row a result that depends on the
  // rows run with it. Set (and the model's batch dimension dynamic), run() takes the rows one at a
  // time instead (rows_alone()), as ONNX Runtime scores a batch of one: what a job needs; a model
  // that fixes its batch at more than one row is then refused at load (Unimplemented, naming the
  // node). Off: the model runs as ONNX defines it, on the whole tensor it is given.
  bool rows_alone_in_runs = false;
  // With rows_alone_in_runs, on the CPU backend (and optimize): a model whose quantizers all feed
  // products by constant weights, their inputs holding the batch's rows in dimension 0, runs whole
  // batches instead, each row quantized by its own range (pass_row_quantized_matmuls): the same
  // bits as a row alone, faster. Off: such a model too runs a row at a time (tests compare the two).
  bool rows_quantized_in_batch = true;
};

class Engine {
 public:
  // backend: "cpu", "cuda", or "auto" (CUDA when this build has it and a device is visible, else
  // CPU). Errors as graph_load_onnx, plus Unimplemented when the backend lacks an op (naming the
  // node) and Unavailable for "cuda" without a visible device.
  static StatusOr<std::unique_ptr<Engine>> load(const std::string& model_path, const std::string& backend,
                                                const EngineOptions& options = {});

  // The graph as run (after the passes): the model file's inputs and outputs, except that float16
  // ones are float32 here (pass_float32_boundary).
  const Graph& graph() const { return graph_; }
  const PassStats& pass_stats() const { return pass_stats_; }
  std::string_view backend_name() const { return backend_->name(); }
  std::string backend_device() const { return backend_->device(); }  // Backend::device()
  // Why backend "auto" chose the CPU where CUDA was built in ("" otherwise): the caller decides who
  // logs it (the engine knows nothing of ranks).
  const std::string& backend_note() const { return backend_note_; }
  // B when every graph input fixes its first dimension at the same B rows, else -1 (a dynamic or
  // no batch dimension).
  int64_t fixed_batch() const;
  // With EngineOptions::rows_alone_in_runs, the node ("node 'x' (DynamicQuantizeLinear)") that makes
  // run() score each row alone; "" otherwise. run() then runs the host rows it is given one at a
  // time and joins the outputs, which must have one entry per row. (Such a model is refused at a
  // reduced precision, EngineOptions::compute, whatever the option.)
  const std::string& rows_alone() const { return rows_alone_; }
  // With rows_quantized_in_batch: the quantizer described as rows_alone() would be, where
  // pass_row_quantized_matmuls made the model quantize each row apart within a batch ("" otherwise:
  // rows_alone() or no quantizer), and where it could not, why (rows_alone() then set): the pass's
  // reason, or the backend's (another backend, or the passes off, runs the rows alone).
  const std::string& rows_quantized() const { return rows_quantized_; }
  const std::string& rows_alone_why() const { return rows_alone_why_; }

  // Checks inputs against the graph's declared types and fixed dimensions, then runs. A batch
  // the backend reports ResourceExhausted for is split in two along the first dimension and each
  // half run (recursively, down to min_retry_rows), outputs joined in order. A rows_alone() model
  // runs its rows one at a time. Thread-safe.
  Status run(std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const;

  // Takes the named float32 inputs as stored and converts them in the graph (pass_raw_inputs): run()
  // then expects those inputs in their stored type and layout, and graph() shows them so. Call before
  // the first run(); not thread-safe. On error the engine is unchanged.
  Status take_raw_inputs(const std::vector<RawInput>& raw);

  // Tests: the engine with a backend of the caller's (e.g. one that fails large batches).
  static StatusOr<std::unique_ptr<Engine>> load_with(const std::string& model_path, std::unique_ptr<Backend> backend,
                                                     const EngineOptions& options = {});

 private:
  Engine() = default;
  Status run_splitting(std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const;
  Status run_in_fixed_batches(const std::vector<Tensor>& inputs, int64_t batch, std::vector<Tensor>* outputs) const;
  EngineOptions options_;
  std::string rows_alone_;  // rows_alone()
  std::string rows_quantized_, rows_alone_why_;
  Graph graph_;
  PassStats pass_stats_;
  Plan plan_;
  std::unique_ptr<Backend> backend_;
  std::string backend_note_;
};

// One model input's rows, as a job feeds them: the element type and the shape of one row.
struct RowSpec {
  DType dtype = DType::kFloat32;
  Shape row_shape;
};

// What a job checks of a model before it scores (and `shardscore inspect` too): runs it on 2 rows
// of zeros, then on 3 rows of zeros, then on the same 3 rows with row 2, and then row 0, of ones. OK,
// with the 2-row run's outputs, when every output has one entry per row (its dimension 0) of one row
// shape in every run, and the rows of zeros give the same bits whatever the row of ones (one batch
// size, so one choice of kernels). Unimplemented naming the output otherwise: scored batch by batch,
// its values would follow run.batch_size and the rank count (a reduction, cumulative sum or
// normalization across the batch axis, a Reshape that folds rows together). The zero runs' errors as
// they are; a run with ones only decides the comparison (ones may be out of range for an index
// input). A model that fixes its batch at 1 row runs each row alone, where nothing can mix.
StatusOr<std::vector<Tensor>> engine_probe_rows(const Engine& engine, const std::vector<RowSpec>& rows);
// Whether engine_probe_rows' error is its refusal of what the runs gave (the model ran), not a run's.
bool engine_probe_refused(const Status& st);

}  // namespace shardscore
