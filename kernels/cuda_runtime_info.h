#pragma once
// What the CUDA side of this build links and sees. Plain C++: safe to include from .cpp files.
// Every function works without a GPU (device counts are then 0).
#include <string>

#include "kernels/kernel_types.h"

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

// kernels::report_fault under contention, on device 0: n threads of one step (tag 1) all report,
// position n - 1 - i for thread i (the lowest position arrives last), value 1000 + position,
// extent 7, where position % 3; then n threads of a later step (tag 2) report position 0. Fills
// *out with the record; false when no device is visible or a call failed. Expected: tag 1,
// pos1 1, value 1000, extent 7, where 0, kind kIndexOutOfRange.
bool fault_record_self_check(int n, kernels::DeviceFault* out);

}  // namespace shardscore::cuda
