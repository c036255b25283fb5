#pragma once
// Numpy-style broadcasting, shared by the CPU ops.
#include <vector>

#include "common/status.h"
#include "engine/tensor.h"

namespace shardscore {

// The broadcast of two shapes (right-aligned; a dimension of 1 stretches); InvalidArgument names
// both shapes when they do not broadcast.
StatusOr<Shape> cpu_broadcast_shapes(const Shape& a, const Shape& b);

// Element strides of `s` aligned to `out`'s rank, 0 along broadcast dimensions (s must broadcast to out).
std::vector<int64_t> cpu_broadcast_strides(const Shape& s, const Shape& out);

}  // namespace shardscore
