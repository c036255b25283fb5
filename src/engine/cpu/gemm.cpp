#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/onednn.h"

namespace shardscore {
namespace {

// Every BLAS call computes exactly one tile of rows (the last tile zero-padded), so a row's result
// never depends on how many rows share its batch: outputs are bit-identical for any batch size and
// any number of ranks. Where a product's rows are the batch folded together (Gemm, FusedGemm,
// MatMul with 2-D weights), tiles are large, because OpenBLAS packs B again on every call; where
// they are a per-example dimension (attention's sequence), small, to pad little.
constexpr int64_t kFoldedRowTile = 256;
constexpr int64_t kBatchedRowTile = 64;
// oneDNN's products use weights packed once, so a small tile costs nothing there (measured: the
// same items/s at 64 and 256 rows on BERT-base and the MLP) and pads a small batch far less.
constexpr int64_t kOnednnRowTile = 64;

void blas_gemm(bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
              static_cast<int>(ldc));
}
void blas_gemm(bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
               const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
              static_cast<int>(ldc));
}

// C[m x n] = alpha * A[m x k] * op(B) + beta * C, A row-major with leading dimension k.
template <typename T>
void gemm_row_tiled(int64_t tile, int64_t m, int64_t n, int64_t k, T alpha, const T* a, const T* b, bool trans_b, T beta,
                    T* c) {
  const int64_t ldb = trans_b ? k : n;
  std::vector<T> pad_a, pad_c;
  for (int64_t r0 = 0; r0 < m; r0 += tile) {
    const int64_t rows = std::min(tile, m - r0);
    if (rows == tile) {
      blas_gemm(trans_b, tile, n, k, alpha, a + r0 * k, k, b, ldb, beta, c + r0 * n, n);
      continue;
    }
    pad_a.assign(static_cast<std::size_t>(tile * k), T(0));
    pad_c.assign(static_cast<std::size_t>(tile * n), T(0));
    std::copy(a + r0 * k, a + (r0 + rows) * k, pad_a.begin());
    std::copy(c + r0 * n, c + (r0 + rows) * n, pad_c.begin());
    blas_gemm(trans_b, tile, n, k, alpha, pad_a.data(), k, b, ldb, beta, pad_c.data(), n);
    std::copy(pad_c.begin(), pad_c.begin() + rows * n, c + r0 * n);
  }
}

template <typename T>
Tensor transpose_2d(const Tensor& x) {
  const int64_t r = x.dim(0), c = x.dim(1);
  Tensor t(x.dtype(), {c, r});
  const T* px = x.data<T>();
  T* pt = t.data<T>();
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) pt[j * r + i] = px[i * c + j];
  return t;
}

template <typename T>
Status gemm_typed(OpContext& ctx, const Tensor& a_in, const Tensor& b, const Tensor* c_in) {
  const bool trans_a = ctx.node.attr_int("transA", 0) != 0;
  const bool trans_b = ctx.node.attr_int("transB", 0) != 0;
  const T alpha = static_cast<T>(ctx.node.attr_float("alpha", 1.0f));
  const T beta = static_cast<T>(ctx.node.attr_float("beta", 1.0f));
  const Tensor a = trans_a ? transpose_2d<T>(a_in) : a_in;
  const int64_t m = a.dim(0), k = a.dim(1);
  const int64_t kb = trans_b ? b.dim(1) : b.dim(0);
  const int64_t n = trans_b ? b.dim(0) : b.dim(1);
  if (k != kb) {
    return invalid_argument("A " + shape_to_string(a_in.shape()) + " and B " + shape_to_string(b.shape()) +
                            " do not multiply (transA=" + std::to_string(trans_a) + ", transB=" + std::to_string(trans_b) + ")");
  }
  Tensor y(a.dtype(), {m, n});
  T* py = y.data<T>();
  T use_beta = 0;
  if (c_in && beta != T(0)) {
    // Unidirectional broadcast of C to [m, n].
    const Shape& cs = c_in->shape();
    if (cs.size() > 2) return invalid_argument("C has rank " + std::to_string(cs.size()) + "; Gemm takes rank <= 2");
    const int64_t cm = cs.size() == 2 ? cs[0] : 1;
    const int64_t cn = cs.empty() ? 1 : cs.back();
    if ((cm != 1 && cm != m) || (cn != 1 && cn != n)) {
      return invalid_argument("C " + shape_to_string(cs) + " does not broadcast to [" + std::to_string(m) + ", " +
                              std::to_string(n) + "]");
    }
    const T* pc = c_in->data<T>();
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) py[i * n + j] = pc[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
    use_beta = beta;
  }
  if (m > 0 && n > 0) gemm_row_tiled<T>(kFoldedRowTile, m, n, k, alpha, a.data<T>(), b.data<T>(), trans_b, use_beta, py);
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

template <typename T>
Status matmul_typed(OpContext& ctx, const Tensor& a_in, const Tensor& b_in) {
  // numpy semantics: 1-D operands are promoted to matrices and the added dimension removed after.
  Shape as = a_in.shape(), bs = b_in.shape();
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  if (as.size() < 2 || bs.size() < 2) return invalid_argument("MatMul of scalars is not defined");
  const int64_t m = as[as.size() - 2], k = as.back(), kb = bs[bs.size() - 2], n = bs.back();
  if (k != kb) {
    return invalid_argument("A " + shape_to_string(a_in.shape()) + " and B " + shape_to_string(b_in.shape()) + " do not multiply");
  }
  Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  const std::size_t r = std::max(a_batch.size(), b_batch.size());
  Shape batch(r);
  for (std::size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a_batch.size() ? 1 : a_batch[i - (r - a_batch.size())];
    int64_t db = i < r - b_batch.size() ? 1 : b_batch[i - (r - b_batch.size())];
    if (da != db && da != 1 && db != 1) {
      return invalid_argument("batch dimensions of " + shape_to_string(a_in.shape()) + " and " +
                              shape_to_string(b_in.shape()) + " cannot be broadcast");
    }
    batch[i] = std::max(da, db);
  }
  Shape out_shape = batch;
  if (!a_vec) out_shape.push_back(m);
  if (!b_vec) out_shape.push_back(n);
  Tensor y(a_in.dtype(), out_shape);
  T* py = y.data<T>();
  const T* pa = a_in.data<T>();
  const T* pb = b_in.data<T>();
  const int64_t nb = shape_numel(batch);
  if (m * n == 0 || nb == 0) {
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  if (shape_numel(b_batch) == 1) {
    // B is one matrix (the usual weights): fold A's batch into rows, one product.
    gemm_row_tiled<T>(kFoldedRowTile, shape_numel(a_batch) * m, n, k, T(1), pa, pb, false, T(0), py);
    if (shape_numel(a_batch) == nb) {
      ctx.outputs[0] = std::move(y);
      return ok_status();
    }
  }
  // General case: one product per broadcast batch index.
  auto offset = [&](const Shape& own, int64_t flat) {
    int64_t off = 0, stride = 1;
    for (std::size_t i = r; i-- > 0;) {
      int64_t idx = flat % batch[i];
      flat /= batch[i];
      std::size_t lead = r - own.size();
      if (i >= lead) {
        int64_t d = own[i - lead];
        off += (d == 1 ? 0 : idx) * stride;
        stride *= d;
      }
    }
    return off;
  };
  for (int64_t bi = 0; bi < nb; ++bi) {
    gemm_row_tiled<T>(kBatchedRowTile, m, n, k, T(1), pa + offset(a_batch, bi) * m * k, pb + offset(b_batch, bi) * k * n, false, T(0),
                      py + bi * m * n);
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace

Status cpu_gemm(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, cpu_required_input(ctx, 1));
  const Tensor* c = ctx.input(2);
  if (a->rank() != 2 || b->rank() != 2) {
    return invalid_argument("Gemm takes 2-D A and B, got " + shape_to_string(a->shape()) + " and " + shape_to_string(b->shape()));
  }
  if (a->dtype() != b->dtype() || (c && c->dtype() != a->dtype())) return invalid_argument("input types differ");
  if (a->dtype() == DType::kFloat32) return gemm_typed<float>(ctx, *a, *b, c);
  if (a->dtype() == DType::kFloat64) return gemm_typed<double>(ctx, *a, *b, c);
  return unimplemented("element type " + std::string(dtype_name(a->dtype())) + " is not supported");
}

// shardscore.FusedGemm: Y = act(alpha * A' * op(B) + beta * C), made by the fusion pass from
// MatMul + Add (+ activation) and Gemm (+ activation). A may have any rank >= 2: its leading
// dimensions are rows (as MatMul folds them); B is 2-D; C broadcasts to [rows, N].
Status cpu_fused_gemm(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, cpu_required_input(ctx, 1));
  if (a->rank() < 2 || b->rank() != 2) return invalid_argument("FusedGemm takes A of rank >= 2 and a 2-D B");
  if (a->dtype() != DType::kFloat32 || b->dtype() != DType::kFloat32) return unimplemented("FusedGemm runs float32 only");
  const Shape lead(a->shape().begin(), a->shape().end() - 1);
  Tensor a2 = a->reshaped({shape_numel(lead), a->dim(a->rank() - 1)});
  const Tensor* c = ctx.input(2);
  const Attribute* act = ctx.node.attr("activation");
  const std::string kind = act ? act->s : "";
  // The common case (bias row, no scaling, B as given or transposed) goes to oneDNN with B packed
  // once; others keep OpenBLAS. B is constant here: the fusion pass makes FusedGemm only from
  // initializer weights.
  const bool trans_b = ctx.node.attr_int("transB", 0) != 0;
  const bool bias_row = c && c->dtype() == DType::kFloat32 && ctx.node.attr_float("beta", 1.0f) == 1.0f &&
                        (c->rank() == 1 || (c->rank() == 2 && c->dim(0) == 1)) &&
                        c->dim(c->rank() - 1) == (trans_b ? b->dim(0) : b->dim(1));
  const bool onednn = ctx.node.attr_int("transA", 0) == 0 && ctx.node.attr_float("alpha", 1.0f) == 1.0f &&
                      (!c || bias_row) && a2.dim(0) > 0 && a2.dim(1) == (trans_b ? b->dim(1) : b->dim(0));
  if (onednn) {
    SS_ASSIGN_OR_RETURN(ctx.outputs[0], onednn_matmul(a2, *b, trans_b, c, kind == "Relu", kOnednnRowTile));
  } else {
    SS_RETURN_IF_ERROR(gemm_typed<float>(ctx, a2, *b, c));
  }
  Tensor& y = ctx.outputs[0];
  Shape out = lead;
  out.push_back(y.dim(1));
  y = y.reshaped(out);
  float* p = y.data<float>();
  const int64_t n = y.numel();
  if (kind == "Relu") {
    if (onednn) return ok_status();  // applied by onednn_matmul
    for (int64_t i = 0; i < n; ++i) p[i] = p[i] < 0 ? 0.0f : p[i];
  } else if (kind == "Sigmoid") {
    for (int64_t i = 0; i < n; ++i) p[i] = p[i] >= 0 ? 1.0f / (1.0f + std::exp(-p[i])) : std::exp(p[i]) / (1.0f + std::exp(p[i]));
  } else if (kind == "Tanh") {
    for (int64_t i = 0; i < n; ++i) p[i] = std::tanh(p[i]);
  } else if (kind == "Gelu") {
    cpu_gelu_f32(p, p, n);
  } else if (!kind.empty()) {
    return unimplemented("FusedGemm activation '" + kind + "'");
  }
  return ok_status();
}

Status cpu_matmul(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, cpu_required_input(ctx, 1));
  if (a->dtype() != b->dtype()) return invalid_argument("input types differ");
  if (a->dtype() == DType::kFloat32) return matmul_typed<float>(ctx, *a, *b);
  if (a->dtype() == DType::kFloat64) return matmul_typed<double>(ctx, *a, *b);
  return unimplemented("element type " + std::string(dtype_name(a->dtype())) + " is not supported");
}

}  // namespace shardscore
