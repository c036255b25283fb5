#pragma once
// Host-side helpers shared by the CUDA op functions.
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

}  // namespace shardscore
