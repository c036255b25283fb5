// Runs without a GPU: the library checks are real; the device checks say they skipped.
#include <gtest/gtest.h>

#include "kernels/cuda_runtime_info.h"
#include "kernels/ml_ops.h"

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

// Every thread of a 65536-thread step reports, the lowest position last; a later step reports
// position 0 afterwards: the record holds the first step's lowest position, whole, lock released.
TEST(CudaDevice, FaultRecordKeepsTheFirstStepsLowestPosition) {
  RuntimeInfo info = runtime_info();
  if (info.device_count == 0) GTEST_SKIP() << "no CUDA device visible (" << info.device_error << ")";
  kernels::DeviceFault f{};
  ASSERT_TRUE(fault_record_self_check(1 << 16, &f)) << "kernel launch or copy failed";
  EXPECT_EQ(f.tag, 1u);
  EXPECT_EQ(f.kind, static_cast<int>(kernels::FaultKind::kIndexOutOfRange));
  EXPECT_EQ(f.pos1, 1u);
  EXPECT_EQ(f.value, 1000);
  EXPECT_EQ(f.extent, 7);
  EXPECT_EQ(f.where, 0);
  EXPECT_EQ(f.lock, 0u);
}

// launch_svm_classifier's per-row scratch holds the pairwise coupling's 2 k^2 + 2 k doubles only
// where the coupling runs: the SVC form with probabilities (host arithmetic, no device needed).
TEST(SvmClassifierWork, CouplingMatricesOnlyWithProbabilities) {
  kernels::SvmArgs a;
  a.vectors = 8;
  a.classes = 4;
  a.pairs = 6;
  EXPECT_EQ(kernels::svm_classifier_work_per_row(a), 8 + 6);
  a.have_proba = true;
  EXPECT_EQ(kernels::svm_classifier_work_per_row(a), 8 + 6 + 2 * 16 + 2 * 4);
  a.vectors = 0;  // the linear form ignores prob_a / prob_b
  EXPECT_EQ(kernels::svm_classifier_work_per_row(a), 6);
}

}  // namespace
}  // namespace shardscore::cuda
