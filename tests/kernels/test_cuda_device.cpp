// Runs without a GPU: the library checks are real; the device checks say they skipped.
#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

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

// launch_svm_classifier's per-row scratch (svm_row_scratch, which the kernel takes its pointers
// from): each piece as long as the kernel writes it, none overlapping, all inside the row's size;
// the coupling's four only where it runs (host arithmetic, no device needed).
TEST(SvmRowScratch, PiecesFitTheRowWithoutOverlap) {
  for (const bool couple : {false, true}) {
    SCOPED_TRACE(couple ? "coupling" : "no coupling");
    kernels::SvmArgs a;
    a.vectors = 8;
    a.classes = 4;
    a.pairs = 6;
    a.have_proba = couple;
    const kernels::SvmRowScratch w = kernels::svm_row_scratch(a);
    const int64_t k = couple ? a.classes : 0;
    // {offset, length} in the order the kernel lays them out.
    const std::pair<int64_t, int64_t> pieces[] = {{w.kv, a.vectors}, {w.d, a.pairs}, {w.rr, k * k},
                                                  {w.q, k * k},      {w.qp, k},        {w.prob, k}};
    int64_t end = 0;
    for (const auto& [offset, length] : pieces) {
      EXPECT_GE(offset, end) << "a piece overlaps the one before";
      end = offset + length;
    }
    EXPECT_EQ(w.size, end) << "the row holds exactly its pieces";
  }
}

}  // namespace
}  // namespace shardscore::cuda
