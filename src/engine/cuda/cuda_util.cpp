#include "engine/cuda/cuda_util.h"

#include <algorithm>
#include <bit>
#include <string>

#include "engine/cpu/float16.h"
#include "engine/op_plans_elementwise.h"
#include "kernels/ml_ops.h"

namespace shardscore {

const char* cuda_precision_name(CudaPrecision p) {
  switch (p) {
    case CudaPrecision::kFp32: return "fp32";
    case CudaPrecision::kTf32: return "tf32";
    case CudaPrecision::kFp16: return "fp16";
    case CudaPrecision::kBf16: return "bf16";
  }
  return "?";
}

bool cuda_error_is_device_fault(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorMisalignedAddress:
    case cudaErrorIllegalInstruction:
    case cudaErrorInvalidPc:
    case cudaErrorHardwareStackError:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
      return true;
    default:
      return false;
  }
}

Status cuda_status(cudaError_t e, const char* call) {
  std::string m = std::string(call) + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  if (e == cudaErrorMemoryAllocation) return resource_exhausted(m);
  // Such a fault is reported by whichever call checks next, often a later node's: say so, and how
  // to have the one that faulted named.
  if (cuda_error_is_device_fault(e)) m += kDeviceFaultHint;
  return internal_error(m);
}

Status device_fault_status(const kernels::DeviceFault& f) {
  switch (static_cast<kernels::FaultKind>(f.kind)) {
    case kernels::FaultKind::kIndexOutOfRange:
    case kernels::FaultKind::kNdIndexOutOfRange:
      // Gather names its axis, GatherND the dimension of data an index picks (cpu/tensor_ops.cpp).
      return invalid_argument("index " + std::to_string(f.value) + " is out of range for " +
                              (f.kind == static_cast<int>(kernels::FaultKind::kIndexOutOfRange) ? "axis " : "dimension ") +
                              std::to_string(f.where) + " of size " + std::to_string(f.extent) +
                              (f.data_rank > 0 ? " (data shape " + shape_to_string(Shape(f.data_dims, f.data_dims + f.data_rank)) + ")"
                                               : std::string()));
    case kernels::FaultKind::kDivisionByZero: return invalid_argument("integer division by zero");
    case kernels::FaultKind::kZeroToNegativePower:
      return invalid_argument("integer 0 raised to the negative power " + std::to_string(f.value));
    case kernels::FaultKind::kUnknownCategory: return invalid_argument(one_hot_unknown_message(f.where == 0, f.value, f.extent));
    case kernels::FaultKind::kNone: break;
  }
  return internal_error("a kernel recorded a fault of unknown kind " + std::to_string(f.kind));
}

Status cublas_status(cublasStatus_t e, const char* call) {
  std::string m = std::string(call) + " failed: " + cublasGetStatusName(e) + " (" + cublasGetStatusString(e) + ")";
  if (e == CUBLAS_STATUS_ALLOC_FAILED) return resource_exhausted(m);
  if (cuda_error_is_device_fault(cudaPeekAtLastError())) m += kDeviceFaultHint;
  return internal_error(m);
}

Status cudnn_status(cudnnStatus_t e, const char* call) {
  std::string m = std::string(call) + " failed: " + cudnnGetErrorString(e);
  // cuDNN 9's codes are categories with sub-codes (CUDNN_STATUS_NOT_SUPPORTED_SHAPE, ...).
  if (e == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED || e == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED)
    return resource_exhausted(m);
  if (CUDNN_STATUS_CATEGORY(e) == CUDNN_STATUS_NOT_SUPPORTED) return unimplemented(m);
  if (cuda_error_is_device_fault(cudaPeekAtLastError())) m += kDeviceFaultHint;
  return internal_error(m);
}

StatusOr<kernels::StridedIndex> cuda_strided_index(const Shape& own, const Shape& out) {
  kernels::StridedIndex ix;
  if (out.size() > static_cast<std::size_t>(kernels::kMaxRank)) {
    return invalid_argument("rank " + std::to_string(out.size()) + " is above the CUDA backend's limit of " +
                            std::to_string(kernels::kMaxRank));
  }
  if (own.size() > out.size()) {
    // Not a broadcast operand of `out`: `lead` below would wrap around.
    return invalid_argument("shape " + shape_to_string(own) + " does not broadcast to " + shape_to_string(out));
  }
  ix.rank = static_cast<int>(out.size());
  const std::size_t lead = out.size() - own.size();
  int64_t stride = 1;
  for (std::size_t k = out.size(); k-- > 0;) {
    ix.dims[k] = out[k];
    if (k < lead) {
      ix.strides[k] = 0;
      continue;
    }
    const int64_t d = own[k - lead];
    ix.strides[k] = d == 1 ? 0 : stride;
    stride *= d;
  }
  return ix;
}

StatusOr<const Tensor*> cuda_required_input(const CudaOpContext& ctx, std::size_t i) {
  const Tensor* t = ctx.input(i);
  if (!t) return invalid_argument("required input " + std::to_string(i) + " is missing");
  return t;
}

StatusOr<const void*> cuda_upload_table(CudaOpContext& ctx, const void* src, std::size_t bytes) {
  if (bytes == 0) return static_cast<const void*>(nullptr);
  void* dst = ctx.scratch(bytes);
  const auto* from = static_cast<const unsigned char*>(src);
  auto* to = static_cast<unsigned char*>(dst);
  for (std::size_t off = 0; off < bytes; off += kernels::kTableChunkBytes) {
    kernels::TableChunk chunk;
    chunk.bytes = static_cast<int64_t>(std::min<std::size_t>(kernels::kTableChunkBytes, bytes - off));
    std::copy(from + off, from + off + chunk.bytes, chunk.data);
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_write_table_chunk(chunk, to + off, ctx.lane.stream));
  }
  return static_cast<const void*>(dst);
}

}  // namespace shardscore
