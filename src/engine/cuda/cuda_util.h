#pragma once
// Host-side helpers shared by the CUDA op functions.
#include <cstdint>

#include "engine/cuda/cuda_op.h"
#include "kernels/kernel_types.h"

namespace shardscore {

inline kernels::Elem cuda_elem(DType t) { return static_cast<kernels::Elem>(static_cast<int>(t)); }

// float16 or bfloat16: the 16-bit float types, which the CPU computes as float32 and rounds once
// (op_run_cpu); the CUDA ops treat the two alike.
inline bool cuda_is_half(DType t) { return t == DType::kFloat16 || t == DType::kBFloat16; }

// double -> bfloat16 bits: one rounding to nearest even from the exact value (overflow to inf,
// bfloat16 subnormals kept), a NaN quiet with its sign and top payload bits - the bfloat16 twin of
// double_to_half (engine/cpu/float16.h).
uint16_t cuda_double_to_bf16(double d);

// A 16-bit float type's bits for d (float16 or bfloat16, as above).
uint16_t cuda_double_to_half_bits(DType t, double d);

// `own` (an operand's shape, right-aligned, size-1 dimensions broadcast) seen through `out`'s
// index space. InvalidArgument when out has more than kernels::kMaxRank dimensions.
StatusOr<kernels::StridedIndex> cuda_strided_index(const Shape& own, const Shape& out);

// The input, or InvalidArgument naming the missing input (as the CPU ops say it).
StatusOr<const Tensor*> cuda_required_input(const CudaOpContext& ctx, std::size_t i);

}  // namespace shardscore
