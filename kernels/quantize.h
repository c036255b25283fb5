#pragma once
// The quantized ops' kernels. QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear: one
// element as src/common/quantize.h computes it (shared with the CPU functions,
// src/engine/cpu/quantize.cpp), so both backends give the same bits. MatMulInteger and
// ConvInteger: exact int32 sums (wrapping past int32, as the CPU's do), so any order gives the CPU's.
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

// DynamicQuantizeLinear of float32 x [n]: y uint8 [n], scale float32 [1], zero_point uint8 [1]
// (device), from x's least and greatest non-NaN values (dynamic_quantize_params). The range is
// reduced by one block, then every element quantized by the scale in device memory.
cudaError_t launch_dynamic_quantize_linear(const float* x, int64_t n, uint8_t* y, float* scale, uint8_t* zero_point,
                                           cudaStream_t stream);

// An operand of an integer product: int8 or uint8 data (elem kI8 / kU8) and its zero point of the
// same type (nullptr: 0), one value, or one per row of A / column of B / output channel of W
// (per_index). Device pointers.
struct IntOperand {
  Elem elem = Elem::kU8;
  const void* data = nullptr;
  const void* zero_point = nullptr;
  bool per_index = false;
};

// MatMulInteger: y [m x n] int32 = (A - za) (B - zb), A [m x k], B [k x n], row-major.
// cudaErrorInvalidValue for other element types.
cudaError_t launch_matmul_integer(const IntOperand& a, const IntOperand& b, int32_t* y, int64_t m, int64_t n, int64_t k,
                                  cudaStream_t stream);

// ConvInteger's NCHW geometry (ConvIntegerPlan): x [n, c, h, w], w [m, c/group, kh, kw], y [n, m, oh, ow].
struct ConvIntegerGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0, m = 0, group = 1, kh = 0, kw = 0, oh = 0, ow = 0;
  int64_t s[2] = {1, 1}, d[2] = {1, 1}, pb[2] = {0, 0};
};
// y = the convolution of x - zx with w - zw (the padding adds nothing), one thread per output.
cudaError_t launch_conv_integer(const IntOperand& x, const IntOperand& w, int32_t* y, const ConvIntegerGeometry& g,
                                cudaStream_t stream);

}  // namespace shardscore::kernels
