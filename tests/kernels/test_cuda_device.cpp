// Runs without a GPU: the library checks are real; the device checks say they skipped.
#include <gtest/gtest.h>

#include "kernels/cuda_runtime_info.h"

namespace shardscore::cuda {
namespace {

TEST(CudaBuild, LinksCublasAndCudnn9) {
  RuntimeInfo info = runtime_info();
  EXPECT_GE(info.runtime_version, 12000) << "CUDA runtime";
  EXPECT_GE(info.cublas_major, 12) << "cuBLAS";
  EXPECT_GE(info.cudnn_version, 90000) << "cuDNN 9 or newer";
}

TEST(CudaDevice, SaxpyKernelRunsOnDevice0) {
  RuntimeInfo info = runtime_info();
  if (info.device_count == 0) GTEST_SKIP() << "no CUDA device visible (" << info.device_error << ")";
  double err = saxpy_self_check(1 << 20);
  ASSERT_GE(err, 0.0) << "kernel launch or copy failed";
  EXPECT_EQ(err, 0.0);
}

}  // namespace
}  // namespace shardscore::cuda
