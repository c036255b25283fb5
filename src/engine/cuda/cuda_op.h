#pragma once
// What a CUDA op function sees, and the one checking macro per C API (CUDA runtime, cuBLAS,
// cuDNN). Host C++ only: device code lives in kernels/*.cu behind plain launcher functions.
//
// A CUDA op function `Status cuda_<op>(CudaOpContext&)` (declared in cuda_ops.h, one row of
// op_registry.cpp) reads its node's attributes and its inputs' shapes on the host, creates its
// outputs with Tensor(dtype, shape) - device memory, from the batch's planned arena - and enqueues
// its kernels and library calls on ctx.lane.stream. It never synchronizes: everything a batch does
// is ordered by its lane's stream, and the backend copies the outputs back at the end.
//
// A value that only a kernel reads and that makes the CPU function fail (an index out of range, an
// integer division by zero) is passed to the kernel's FaultSink (ctx.fault()): the backend reads
// the lane's record with the outputs and fails the batch with the CPU's error, naming the node.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/op_registry.h"
#include "engine/tensor.h"
#include "kernels/kernel_types.h"

namespace shardscore {

// --precision: what the CUDA backend computes in. Inputs and outputs stay float32 at the file
// boundary; reduced precisions accumulate in float32.
enum class CudaPrecision { kFp32, kTf32, kFp16, kBf16 };
const char* cuda_precision_name(CudaPrecision p);

// One lane: a stream and the library handles bound to it. A batch runs on one lane from its
// copy in to its copy out; lanes run concurrently, so one batch's copies overlap another's compute.
struct CudaLane {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cublasLtHandle_t cublaslt = nullptr;
  cudnnHandle_t cudnn = nullptr;
  CudaPrecision precision = CudaPrecision::kFp32;
  kernels::DeviceFault* fault = nullptr;  // device memory: the batch's fault record
  bool cudnn_epilogue = false;  // CudaBackendOptions::cudnn_epilogue
  bool cublaslt_bias = true;    // CudaBackendOptions::cublaslt_bias
};

struct CudaOpContext {
  // step: the node's position in the plan, which a fault record names.
  CudaOpContext(const Node& n, CudaLane& l, std::size_t step) : node(n), lane(l), step_(step) {}

  const Node& node;
  // Device tensors, except at the registry entry's cuda_host_inputs, which are host tensors.
  // nullptr for an omitted optional input.
  std::vector<const Tensor*> inputs;
  std::vector<Tensor> outputs;  // one per node output; Tensor(dtype, shape) gives device memory
  CudaLane& lane;

  const Tensor* input(std::size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  // Where this step's kernels record a failing value; `where` is added to the dimension a kernel
  // reports (GatherND: batch_dims). An indexing op passes its data, whose shape the error names.
  kernels::FaultSink fault(int where = 0, const Tensor* data = nullptr) const {
    kernels::FaultSink s{lane.fault, static_cast<unsigned int>(step_ + 1), where};
    if (data && data->rank() <= kernels::kMaxRank) {
      s.data_rank = static_cast<int>(data->rank());
      for (int k = 0; k < s.data_rank; ++k) s.data_dims[k] = data->dim(k);
    }
    return s;
  }
  std::size_t step() const { return step_; }
  // `bytes` of device scratch that lives until the op returns (stream order keeps it valid for
  // the kernels the op enqueued: memory is reused only by work enqueued after them).
  void* scratch(std::size_t bytes) {
    scratch_.emplace_back(DType::kUInt8, Shape{static_cast<int64_t>(bytes)});
    return scratch_.back().raw();
  }

 private:
  std::size_t step_;
  std::vector<Tensor> scratch_;
};

// Statuses of the three C APIs: out of memory is ResourceExhausted (the backend then frees what its
// lane kept for other batch shapes, and the engine retries the batch at half its size), anything
// else Internal. The message names the call. A kernel's fault on the device (an illegal or
// misaligned address, a trap) is reported by whichever call checks next, which may belong to a
// later node or to the copy out: such a message (a CUDA error that cuda_error_is_device_fault, or a
// cuBLAS / cuDNN failure while one is pending) ends with kDeviceFaultHint, which says how to have
// the faulting node named (SHARDSCORE_CUDA_SYNC=1).
inline constexpr const char* kDeviceFaultHint =
    "; a kernel faulted on the device, and CUDA reports that at the next call checked, which may belong to a later "
    "node than the one that faulted: run again with SHARDSCORE_CUDA_SYNC=1 (the host waits after every step) to have "
    "it named";
bool cuda_error_is_device_fault(cudaError_t e);
Status cuda_status(cudaError_t e, const char* call);
Status cublas_status(cublasStatus_t e, const char* call);
Status cudnn_status(cudnnStatus_t e, const char* call);
// A kernel's fault record (tag != 0) as the error the CPU function gives for the same value (the
// data shape too, carried in the record); the backend prefixes the node.
Status device_fault_status(const kernels::DeviceFault& f);

}  // namespace shardscore

// Every CUDA runtime, cuBLAS and cuDNN call goes through one of these; the backend prefixes the
// node ("node 'conv1' (Conv): cudnnConvolutionForward(...) failed: CUDNN_STATUS_...").
#define SS_CUDA_RETURN_IF_ERROR(expr)                                                         \
  do {                                                                                        \
    if (const cudaError_t ss_e_ = (expr); ss_e_ != cudaSuccess) return ::shardscore::cuda_status(ss_e_, #expr); \
  } while (0)
#define SS_CUBLAS_RETURN_IF_ERROR(expr)                                                        \
  do {                                                                                         \
    if (const cublasStatus_t ss_e_ = (expr); ss_e_ != CUBLAS_STATUS_SUCCESS)                   \
      return ::shardscore::cublas_status(ss_e_, #expr);                                        \
  } while (0)
#define SS_CUDNN_RETURN_IF_ERROR(expr)                                                         \
  do {                                                                                         \
    if (const cudnnStatus_t ss_e_ = (expr); ss_e_ != CUDNN_STATUS_SUCCESS)                     \
      return ::shardscore::cudnn_status(ss_e_, #expr);                                         \
  } while (0)
// Kernel launchers (kernels/*.h) return cudaError_t: the launch's cudaGetLastError().
#define SS_LAUNCH_RETURN_IF_ERROR(expr) SS_CUDA_RETURN_IF_ERROR(expr)
