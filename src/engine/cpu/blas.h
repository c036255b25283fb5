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

#include <cstdint>
#include <vector>

namespace shardscore {

inline void blas_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                      int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  // oneDNN's sgemm keeps a row's bits wherever it sits only with both operands as stored (with B
  // transposed, the rows of its last block of rows come out otherwise): a transposed operand is
  // copied out first, k * m or k * n floats against the product's m * n * k.
  thread_local std::vector<float> at, bt;
  if (trans_a) {
    at.resize(static_cast<std::size_t>(m * k));
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < m; ++j) at[j * k + i] = a[i * lda + j];
    a = at.data();
    lda = k;
  }
  if (trans_b) {
    bt.resize(static_cast<std::size_t>(k * n));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < k; ++i) bt[i * n + j] = b[j * ldb + i];
    b = bt.data();
    ldb = n;
  }
  omp_set_num_threads(1);  // one thread per call: parallelism comes from batches (onednn.cpp says why)
  // The arguments are valid by construction (the plans checked the shapes): the status is always success.
  (void)dnnl_sgemm('N', 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void blas_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                      int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

}  // namespace shardscore
