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

// A value only a kernel sees that makes its op fail on the CPU backend (an index out of range, an
// integer division by zero): the kernel records it here instead of stopping, and the backend reads
// the record with the batch's outputs and fails the batch with the CPU's error (cuda_backend.cpp).
// One record per lane, zeroed at the start of every batch (a memset node in a captured graph).
enum class FaultKind : int {
  kNone = 0,
  kIndexOutOfRange = 1,     // Gather: value, the index; extent, the axis' size; where, the axis
  kNdIndexOutOfRange = 2,   // GatherND: as kIndexOutOfRange; where, the dimension of data
  kDivisionByZero = 3,      // an integer Div or Mod with a divisor of 0
  kZeroToNegativePower = 4, // integer Pow of 0; value: the exponent
  kUnknownCategory = 5,     // OneHotEncoder with zeros 0: value, the category; extent, the number
                            // of categories; where, 1 for a value that names none (NaN / Inf /
                            // beyond int64), else 0
};
struct DeviceFault {
  unsigned int tag;        // FaultSink::tag of the first failing step of the batch; 0: none
  unsigned int lock;       // held while one thread writes the fields below
  int kind;                // FaultKind
  int where;
  unsigned long long pos1;  // 1 + the lowest failing position of that step, in the CPU op's loop order
  long long value;
  long long extent;
  int data_rank;                  // FaultSink's, for the message: the indexed data's shape
  long long data_dims[kMaxRank];  // (0: not given)
};
// What a launcher that can fault is given. record == nullptr: nothing is recorded (the kernel
// still writes its documented fallback: a zero slice, 0).
struct FaultSink {
  DeviceFault* record = nullptr;
  unsigned int tag = 0;  // which step this is (1 + its index in the plan)
  int where = 0;         // added to the kernel's own dimension number (GatherND: batch_dims)
  int data_rank = 0;     // the indexed data's shape, copied into the record (index kinds' messages
  long long data_dims[kMaxRank] = {};  // name it as the CPU's do); 0: none
};

}  // namespace shardscore::kernels
