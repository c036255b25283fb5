#pragma once
// QuantizeLinear and DequantizeLinear kernels: one element as src/common/quantize.h computes it
// (shared with the CPU functions, src/engine/cpu/quantize.cpp), so both backends give the same bits.
#include "kernels/kernel_types.h"

namespace shardscore::kernels {

// Where x's element i = (o * dim + d) * inner + k finds its scale and zero point:
// o * scale_outer + (d / block) * scale_axis + k * scale_inner (all 0: per-tensor; scale_axis 1:
// per-axis; blocked otherwise). As the plan (QuantizeLinearPlan, op_plans_elementwise.h) gives it.
struct QuantParams {
  int64_t dim = 1, inner = 1, block = 1;
  int64_t scale_outer = 0, scale_axis = 0, scale_inner = 0;
};

// y[i] = saturate(rint(x[i] / scale[j]) + zero_point[j]): x_elem kF32 / kF16 / kBF16 (widened to
// float32), scale_elem the same three, y_elem kI8 / kU8 / kI16 / kU16 (zero_point of y_elem, or
// nullptr for 0). Device tensors; cudaErrorInvalidValue for other types.
cudaError_t launch_quantize_linear(Elem x_elem, const void* x, Elem scale_elem, const void* scale,
                                   const void* zero_point, Elem y_elem, void* y, int64_t n, const QuantParams& qp,
                                   cudaStream_t stream);

// y[i] = float32(x[i] - zero_point[j]) * scale[j]: x_elem kI8 / kU8 / kI16 / kU16 / kI32
// (zero_point of x_elem, or nullptr for 0), scale_elem kF32 / kF16 / kBF16, y of scale_elem (the
// float32 product rounded once to float16 / bfloat16 as the CPU rounds). Device tensors.
cudaError_t launch_dequantize_linear(Elem x_elem, const void* x, const void* zero_point, Elem scale_elem,
                                     const void* scale, void* y, int64_t n, const QuantParams& qp,
                                     cudaStream_t stream);

}  // namespace shardscore::kernels
