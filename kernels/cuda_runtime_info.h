#pragma once
// What the CUDA side of this build links and sees. Plain C++: safe to include from .cpp files.
// Every function works without a GPU (device counts are then 0).
#include <string>

namespace shardscore::cuda {

struct RuntimeInfo {
  int runtime_version = 0;  // cudaRuntimeGetVersion, e.g. 13000
  int driver_version = 0;   // 0 when no driver is installed
  int cublas_major = 0;     // cuBLAS library version, read without a device
  int cublas_minor = 0;
  long cudnn_version = 0;   // cudnnGetVersion, e.g. 91900
  int device_count = 0;     // visible devices (honours CUDA_VISIBLE_DEVICES)
  std::string device_error; // why no device is visible, when none is
};

RuntimeInfo runtime_info();

// Runs a tiny kernel (y[i] = a * x[i] + y[i]) on device 0 and returns max |error| against the host
// result; negative when no device is visible.
double saxpy_self_check(int n);

}  // namespace shardscore::cuda
