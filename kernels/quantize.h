#pragma once
// QuantizeLinear and DequantizeLinear kernels: one element as src/common/quantize.h computes it
// (shared with the CPU functions, src/engine/cpu/quantize.cpp), so both backends give the same bits.
#include "kernels/kernel_types.h"
#include "src/common/quantize.h"

namespace shardscore::kernels {

// y[i] = saturate(rint(x[i] / scale[j]) + zero_point[j]), j = geom.param_index(i) (the plan's,
// QuantizeLinearPlan in op_plans_elementwise.h): x_elem kF32 / kF16 / kBF16 (widened to float32) or
// kI32 (converted to nearest), scale_elem kF32 / kF16 / kBF16, y_elem kI8 / kU8 / kI16 / kU16
// (zero_point of y_elem, or nullptr for 0). Device tensors; cudaErrorInvalidValue for other types.
cudaError_t launch_quantize_linear(Elem x_elem, const void* x, Elem scale_elem, const void* scale,
                                   const void* zero_point, Elem y_elem, void* y, int64_t n, const QuantGeometry& geom,
                                   cudaStream_t stream);

// y[i] = float32(x[i] - zero_point[j]) * scale[j], j as above: x_elem kI8 / kU8 / kI16 / kU16 / kI32
// (zero_point of x_elem, or nullptr for 0), scale_elem kF32 / kF16 / kBF16, y of scale_elem (the
// float32 product rounded once to float16 / bfloat16 as the CPU rounds). Device tensors;
// cudaErrorInvalidValue for other types.
cudaError_t launch_dequantize_linear(Elem x_elem, const void* x, const void* zero_point, Elem scale_elem,
                                     const void* scale, void* y, int64_t n, const QuantGeometry& geom,
                                     cudaStream_t stream);

}  // namespace shardscore::kernels
