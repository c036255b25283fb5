#pragma once
// float32 erf, exp, tanh and the logistic sigmoid over arrays, through glibc's vector math
// library (libmvec: AVX-512 or AVX2 variants, a few ulp), with the scalar libm function where the
// CPU has neither; and DynamicQuantizeLinear's range and quantization, exact at every level.
//
// Every element goes through the same vector function - the tail in a zero-padded vector too - so
// an element's result never depends on its position in the array or on the batch it came in.
// In place (y == x) is allowed.
#include <cstdint>

#include "common/status.h"

namespace shardscore {

// The widest x86 instruction set the CPU backend uses: what the CPU has, capped by the environment
// variable SHARDSCORE_CPU_ISA ("avx512", "avx2" or "baseline", in any case; unset: no cap). The cap also
// limits oneDNN (its max CPU ISA) and sets the blocked layout's channel block (16 with AVX-512, 8
// below). So a cluster of mixed CPUs that must agree bit for bit runs at the lowest level all its
// nodes have (with OPENBLAS_CORETYPE set alike for OpenBLAS, which picks its kernels itself at
// load). Read once.
enum class CpuIsa { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };
CpuIsa cpu_isa();
// InvalidArgument naming SHARDSCORE_CPU_ISA when it is set to anything else: a typo would leave the
// cap off, and the nodes that were to agree bit for bit would not.
Status cpu_isa_env_check();
const char* cpu_isa_name(CpuIsa isa);

void vector_erf_f32(const float* x, float* y, int64_t n);
void vector_exp_f32(const float* x, float* y, int64_t n);
void vector_tanh_f32(const float* x, float* y, int64_t n);
// The logistic sigmoid, overflow-free: 1 / (1 + e) for x >= 0, e / (1 + e) below (NaN too), with
// e = exp(-|x|) from vector_exp_f32's function. The same bits as that exp followed by the scalar
// division (IEEE division is correctly rounded at every vector width).
void vector_sigmoid_f32(const float* x, float* y, int64_t n);

// DynamicQuantizeLinear's range of x[0, n): *lo = min(0, least element), *hi = max(0, greatest), a
// NaN taking no part (src/common/quantize.h, dynamic_quantize_params, reads them).
void vector_range_with_zero_f32(const float* x, int64_t n, float* lo, float* hi);
// out[i] = float32(quantize_linear_value<uint8_t>(x[i], scale, zero_point)) - zero_point
// (src/common/quantize.h): x / scale (IEEE division), rounded half to even, plus the zero point,
// saturated to [0, 255], NaN to 0; then the offset from the zero point, exact. Every step is exact
// or correctly rounded, so these are the same bits at every ISA level.
void vector_quantize_u8_offsets_f32(const float* x, int64_t n, float scale, uint8_t zero_point, float* out);
// out[i] = quantize_linear_value<uint8_t>(x[i], scale, zero_point), as above without the offset.
void vector_quantize_u8_f32(const float* x, int64_t n, float scale, uint8_t zero_point, uint8_t* out);

}  // namespace shardscore
