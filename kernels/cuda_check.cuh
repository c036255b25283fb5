#pragma once
// The one checking macro for CUDA runtime calls: on failure it logs the expression, file, line
// and CUDA's error string to stderr, then runs the caller's recovery statement.
#include <cuda_runtime.h>

#include <cstdio>

#define SS_CUDA_OR(expr, on_error)                                                                  \
  do {                                                                                              \
    cudaError_t ss_cuda_err_ = (expr);                                                              \
    if (ss_cuda_err_ != cudaSuccess) {                                                              \
      std::fprintf(stderr, "shardscore: CUDA call %s failed at %s:%d: %s\n", #expr, __FILE__, __LINE__, \
                   cudaGetErrorString(ss_cuda_err_));                                               \
      on_error;                                                                                     \
    }                                                                                               \
  } while (0)
