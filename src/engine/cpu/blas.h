#pragma once
// Row-major BLAS products for the CPU ops, on the caller's thread:
// C[m x n] = alpha * op(A) * op(B) + beta * C, op(A) [m x k] (A stored [k x m] when trans_a),
// op(B) [k x n] (B stored [n x k] when trans_b); leading dimensions in elements.
//
// float32 goes to oneDNN's sgemm, float64 to OpenBLAS. The CPU ops rely on a row of C coming out
// with the same bits wherever it sits among C's m rows (they call with fixed tiles of rows, so that
// a row's result does not depend on its batch). OpenBLAS 0.3.21's float32 kernels for AVX2 CPUs
// (Haswell, Zen) break that: they cut the rows into blocks of unequal heights, each summed in its
// own order, so a row moved by one position can change in its last bits (measured on an AMD EPYC
// with AVX2). oneDNN's sgemm, with both operands as stored, gives every row the same bits at any
// position (test_ops' *_RowsIndependentOfBatch_Bitwise check it), and is as fast there in the
// shapes the models here use.
#include <cblas.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace shardscore {

// out [cols x rows] = x [rows x cols] (leading dimension ld) transposed, in 32 x 32 blocks.
template <typename T>
void transpose_into(const T* x, int64_t rows, int64_t cols, int64_t ld, T* out) {
  constexpr int64_t kBlock = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock)
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock)
      for (int64_t r = r0; r < std::min(r0 + kBlock, rows); ++r)
        for (int64_t c = c0; c < std::min(c0 + kBlock, cols); ++c) out[c * rows + r] = x[r * ld + c];
}
template <typename T>
std::vector<T> transposed(const T* x, int64_t rows, int64_t cols, int64_t ld) {
  std::vector<T> out(static_cast<std::size_t>(rows * cols));
  transpose_into(x, rows, cols, ld, out.data());
  return out;
}

inline void blas_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                      int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k == 0) {  // C = beta * C (oneDNN's sgemm refuses k = 0 and leaves C as it is)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  // oneDNN's sgemm keeps a row's bits wherever it sits only with both operands as stored (with B
  // transposed, the rows of its last block of rows come out otherwise): a transposed operand is
  // copied out here, on every call. Callers that use one operand for many calls (a loop over
  // tiles or steps) transpose it once themselves (transposed) and pass it as stored.
  thread_local std::vector<float> at, bt;
  // op(x) [rows x cols], stored transposed ([cols x rows], leading dimension ld), copied out.
  auto copy_out = [](const float*& x, int64_t& ld, int64_t rows, int64_t cols, std::vector<float>& buf) {
    buf.resize(static_cast<std::size_t>(rows * cols));
    transpose_into(x, cols, rows, ld, buf.data());
    x = buf.data();
    ld = cols;
  };
  if (trans_a) copy_out(a, lda, m, k, at);
  if (trans_b) copy_out(b, ldb, k, n, bt);
  omp_set_num_threads(1);  // one thread per call: parallelism comes from batches (onednn.cpp says why)
  // m, n, k > 0 and shapes the plans checked: valid arguments, so the status is success.
  (void)dnnl_sgemm('N', 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void blas_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                      int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

}  // namespace shardscore
