#pragma once
// Environment switches of the program (SHARDSCORE_*), read one way everywhere.

namespace shardscore {

// Whether environment variable `name` is set to exactly `value` (SHARDSCORE_HDF5_DIRECT=0,
// SHARDSCORE_FUSE_ATTENTION=0, SHARDSCORE_CUDA_*, ...).
bool env_is(const char* name, const char* value);

}  // namespace shardscore
