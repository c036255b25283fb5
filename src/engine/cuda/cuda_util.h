#pragma once
// Host-side helpers shared by the CUDA op functions.
#include <cstddef>
#include <cstdint>

#include "engine/cuda/cuda_op.h"
#include "kernels/kernel_types.h"

namespace shardscore {

inline kernels::Elem cuda_elem(DType t) { return static_cast<kernels::Elem>(static_cast<int>(t)); }


// `own` (an operand's shape, right-aligned, size-1 dimensions broadcast) seen through `out`'s
// index space. InvalidArgument when out has more than kernels::kMaxRank dimensions.
StatusOr<kernels::StridedIndex> cuda_strided_index(const Shape& own, const Shape& out);

// The input, or InvalidArgument naming the missing input (as the CPU ops say it).
StatusOr<const Tensor*> cuda_required_input(const CudaOpContext& ctx, std::size_t i);

// One strided batch of row-major products: Y_i[m x n] = alpha * op(A_i)[m x k] * op(B_i)[k x n] + beta * Y_i.
// cuBLAS is column-major, so it computes Y^T = op(B)^T op(A)^T on the same memory.
struct RowMajorGemm {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  double alpha = 1, beta = 0;
  const void* a = nullptr;
  const void* b = nullptr;
  void* y = nullptr;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_y = 0;  // in elements
  bool y_float32 = false;  // Y stored as float32 for float16 / bfloat16 A and B (no rounding to 16 bits)
};
// Enqueues g (cublasGemmStridedBatchedEx on the lane's stream; float32, float16 and bfloat16 with
// float32 accumulation, float64 in float64). Nothing to do for an empty product; Unimplemented for
// another type or a dimension above cuBLAS's int range.
Status gemm_rowmajor(CudaOpContext& ctx, DType t, const RowMajorGemm& g);

// `bytes` bytes of host memory at `src` as device memory in the op's scratch (nullptr for none).
// The bytes travel in kernel launches' arguments (kernels::TableChunk by TableChunk), so `src` need
// not outlive the call, and a CUDA graph captures them with their contents (a cudaMemcpyAsync from
// pageable memory cannot be captured, and outside capture may block the host).
StatusOr<const void*> cuda_upload_table(CudaOpContext& ctx, const void* src, std::size_t bytes);

}  // namespace shardscore
