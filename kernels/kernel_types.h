#pragma once
// Types shared by every kernel launcher. Plain C++: launchers are declared in kernels/<family>.h
// (host code includes them) and defined, with their kernels, in kernels/<family>.cu.
//
// A launcher enqueues its kernels on `stream`, never synchronizes, and returns the launch's
// cudaGetLastError() (cudaSuccess when there was nothing to do). Sizes are int64_t; a launcher
// handles any size, splitting grids itself where one launch cannot cover it.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace shardscore::kernels {

// Element types, numbered as shardscore::DType (src/common/dtype.h) so the host side converts
// with a static_cast.
enum class Elem : int {
  kF32 = 1,
  kF64 = 2,
  kF16 = 3,
  kI8 = 4,
  kI16 = 5,
  kI32 = 6,
  kI64 = 7,
  kU8 = 8,
  kU16 = 9,
  kU32 = 10,
  kU64 = 11,
  kBool = 12,
  kBF16 = 13,
};

inline constexpr int kMaxRank = 8;

// An operand seen through the output's index space: `rank` output dimensions and the operand's
// element stride along each (0 where it is broadcast). Passed to kernels by value.
struct StridedIndex {
  int rank = 0;
  int64_t dims[kMaxRank] = {};     // the output's dimensions
  int64_t strides[kMaxRank] = {};  // the operand's element strides, 0 along broadcast dimensions
};

}  // namespace shardscore::kernels
