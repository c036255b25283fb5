#pragma once
// Integer power by squaring, shared by the CPU backend (src/engine/cpu/elementwise.cpp) and the
// CUDA kernels (kernels/elementwise.cu). Plain C++; callable from device code when compiled by nvcc.
#include <cstdint>
#include <type_traits>

#ifdef __CUDACC__
#define SS_HOST_DEVICE __host__ __device__
#else
#define SS_HOST_DEVICE
#endif

namespace shardscore {

// base^e for a signed integer type B, wrapping around on overflow (as integer arithmetic does in
// numpy). A negative exponent gives 1 for base 1, +-1 for base -1 and 0 otherwise (|1 / base^e| < 1
// truncates to 0) - including base 0, which callers that report it as an error check first.
template <typename B>
SS_HOST_DEVICE inline B int_pow_wrapping(B base, int64_t e) {
  using U = std::make_unsigned_t<B>;
  if (e < 0) {
    if (base == B(1)) return B(1);
    if (base == B(-1)) return static_cast<B>(e % 2 == 0 ? 1 : -1);
    return B(0);
  }
  U result = 1, b = static_cast<U>(base);
  auto ue = static_cast<uint64_t>(e);
  while (ue) {
    if (ue & 1) result = static_cast<U>(result * b);
    b = static_cast<U>(b * b);
    ue >>= 1;
  }
  return static_cast<B>(result);
}

}  // namespace shardscore
