#pragma once
// A backend runs a plan on one batch. The CPU backend is the reference every other backend is
// tested against. Backends know nothing of MPI, files or shards.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "engine/plan.h"
#include "engine/tensor.h"

namespace shardscore {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  // The hardware it runs on, for errors and logs: "" for the host's CPU; CUDA: "GPU <ordinal>
  // (<name>, PCI <bus id>)", which tells an administrator which card of which node it was.
  virtual std::string device() const { return ""; }
  // Whether this backend has a function for the op (asked for every node at load time).
  virtual bool supports(const OpEntry& op) const = 0;
  // Runs the plan. `inputs` in graph-input order; `outputs` receives the graph outputs in order.
  // Thread-safe: several threads may run batches at once.
  virtual Status run(const Plan& plan, std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const = 0;
};

std::unique_ptr<Backend> backend_cpu_create();

struct CudaBackendOptions {
  int device = 0;                  // CUDA device ordinal among the visible ones (modulo their count)
  std::string precision = "fp32";  // fp32, tf32, fp16, bf16
  // NHWC convolutions (pass_nhwc_convs) with their bias, residual and Relu inside cuDNN's fused
  // cudnnConvolutionBiasActivationForward (NaN propagating), not in a pass of ours over the output:
  // one pass over memory instead of two. Also set by SHARDSCORE_CUDA_CUDNN_EPILOGUE=1; off by
  // default until a GPU run has measured it and shown NaN kept.
  bool cudnn_epilogue = false;
  // A Gemm's bias row through cuBLASLt's bias epilogue (the default), or broadcast into Y first;
  // SHARDSCORE_CUDA_CUBLASLT_BIAS=0 turns it off (for an A/B, or should a GPU show it wrong).
  bool cublaslt_bias = true;
  // Lanes (stream, handles, staging, device memory) created on demand, at most this many (1-64);
  // a shape's first batches run unplanned, then recording, and a lane captures the shape once it
  // has run it outside a capture. Also set by SHARDSCORE_CUDA_LANES=N.
  int max_lanes = 8;
  // The host waits for the device after every step and CUDA graphs are off, so that a kernel's
  // fault on the device (an illegal address) fails with its own node's name rather than at a
  // later call; slower, for diagnosis. Also set by SHARDSCORE_CUDA_SYNC=1.
  bool sync_steps = false;
};

// Unavailable when no device is visible; Unimplemented in a build without CUDA.
// SHARDSCORE_CUDA_GRAPHS=0 turns CUDA graph capture off (for debugging and profiling).
StatusOr<std::unique_ptr<Backend>> backend_cuda_create(const CudaBackendOptions& options);
// Devices visible to this process (honours CUDA_VISIBLE_DEVICES); 0 in a build without CUDA.
int cuda_visible_devices();
// The CUDA backend's fused library paths, in this process so far: how many operations ran cuDNN's
// fused convolution epilogue (CudaBackendOptions::cudnn_epilogue) and cuBLASLt's bias epilogue
// (cublaslt_bias), and how many asked and were refused (they then took the backend's own path).
// So that a test of either option cannot pass on the path it replaces. Zeros without CUDA.
struct CudaFusedPaths {
  int64_t cudnn_epilogue_runs = 0, cudnn_epilogue_refused = 0;
  int64_t cublaslt_bias_runs = 0, cublaslt_bias_refused = 0;
};
CudaFusedPaths cuda_fused_paths();
// The CUDA backend's graph captures, in this process so far: batch shapes captured as a CUDA graph
// (per lane), those whose capture failed (they run step by step, logged once), and the batches run
// by launching a graph captured earlier. So that a test of replays cannot pass with every batch
// running step by step. Zeros without CUDA.
struct CudaGraphCounts {
  int64_t captured = 0, refused = 0, replayed = 0;
};
CudaGraphCounts cuda_graph_counts();

}  // namespace shardscore
