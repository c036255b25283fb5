#pragma once
// float32 erf and exp over arrays, through glibc's vector math library (libmvec: AVX-512 or AVX2
// variants, a few ulp), with the scalar libm function where the CPU has neither.
//
// Every element goes through the same vector function - the tail in a zero-padded vector too - so
// an element's result never depends on its position in the array or on the batch it came in.
// In place (y == x) is allowed.
#include <cstdint>

namespace shardscore {

void vector_erf_f32(const float* x, float* y, int64_t n);
void vector_exp_f32(const float* x, float* y, int64_t n);

}  // namespace shardscore
