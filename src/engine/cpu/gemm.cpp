#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/cpu/blas.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/onednn.h"
#include "engine/cpu/vector_math.h"

namespace shardscore {
namespace {

// Every BLAS call computes exactly one tile of rows (the last tile zero-padded), so a row's result
// never depends on how many rows share its batch: outputs are bit-identical for any batch size and
// any number of ranks. Where a product's rows are the batch folded together (Gemm, FusedGemm,
// MatMul with 2-D weights), tiles are large, because the BLAS packs B again on every call; where
// they are a per-example dimension (attention's sequence), small, to pad little.
constexpr int64_t kFoldedRowTile = 256;
constexpr int64_t kBatchedRowTile = 64;
// oneDNN's products use weights packed once, but each call still reads them all from memory:
// 256-row tiles while 256 rows are left, then 64-row tiles, which pad a small batch far less
// (measured on an Intel Xeon with AVX-512: BERT-base +3 %, the MLP +2 % against 64 rows alone;
// docs/benchmarks.md).
constexpr RowTiles kOnednnRowTiles{.large = 256, .small = 64};

// C[m x n] = alpha * A[m x k] * op(B) + beta * C, A row-major with leading dimension k.
template <typename T>
void gemm_row_tiled(int64_t tile, int64_t m, int64_t n, int64_t k, T alpha, const T* a, const T* b, bool trans_b, T beta,
                    T* c) {
  std::vector<T> bt;  // a transposed B as stored rows, once for all tiles (blas.h)
  if (trans_b && m > tile && k > 0) {
    bt = transposed(b, n, k, k);
    b = bt.data();
    trans_b = false;
  }
  const int64_t ldb = trans_b ? k : n;
  std::vector<T> pad_a, pad_c;
  for (int64_t r0 = 0; r0 < m; r0 += tile) {
    const int64_t rows = std::min(tile, m - r0);
    if (rows == tile) {
      blas_gemm(false, trans_b, tile, n, k, alpha, a + r0 * k, k, b, ldb, beta, c + r0 * n, n);
      continue;
    }
    pad_a.assign(static_cast<std::size_t>(tile * k), T(0));
    pad_c.assign(static_cast<std::size_t>(tile * n), T(0));
    std::copy(a + r0 * k, a + (r0 + rows) * k, pad_a.begin());
    std::copy(c + r0 * n, c + (r0 + rows) * n, pad_c.begin());
    blas_gemm(false, trans_b, tile, n, k, alpha, pad_a.data(), k, b, ldb, beta, pad_c.data(), n);
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

// Y[m x n] = alpha * op(A) * op(B) + beta * C, as planned (gemm_shape_plan, same A, B, C).
template <typename T>
Tensor gemm_typed(const GemmPlan& p, const Tensor& a_in, const Tensor& b, const Tensor* c_in) {
  const T alpha = static_cast<T>(p.alpha);
  const Tensor a = p.trans_a ? transpose_2d<T>(a_in) : a_in;
  const int64_t m = p.m, n = p.n, k = p.k;
  Tensor y(a.dtype(), {m, n});
  T* py = y.data<T>();
  T use_beta = 0;
  if (p.use_c) {
    const T* pc = c_in->data<T>();
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) py[i * n + j] = pc[(p.cm == 1 ? 0 : i) * p.cn + (p.cn == 1 ? 0 : j)];
    use_beta = static_cast<T>(p.beta);
  }
  if (m > 0 && n > 0) gemm_row_tiled<T>(kFoldedRowTile, m, n, k, alpha, a.data<T>(), b.data<T>(), p.trans_b, use_beta, py);
  return y;
}

template <typename T>
Tensor matmul_typed(const MatMulPlan& p, const Tensor& a_in, const Tensor& b_in) {
  const int64_t m = p.m, n = p.n, k = p.k, nb = p.nb;
  Tensor y(a_in.dtype(), p.out_shape);
  T* py = y.data<T>();
  const T* pa = a_in.data<T>();
  const T* pb = b_in.data<T>();
  if (m * n == 0 || nb == 0) return y;
  if (p.nbb == 1) {
    // B is one matrix (the usual weights): fold A's batch into rows, one product.
    gemm_row_tiled<T>(kFoldedRowTile, p.na * m, n, k, T(1), pa, pb, false, T(0), py);
    if (p.na == nb) return y;
  }
  // General case: one product per broadcast batch index.
  for (int64_t bi = 0; bi < nb; ++bi) {
    gemm_row_tiled<T>(kBatchedRowTile, m, n, k, T(1), pa + p.a_matrix(bi) * m * k, pb + p.b_matrix(bi) * k * n, false,
                      T(0), py + bi * m * n);
  }
  return y;
}

}  // namespace

Status cpu_gemm(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(GemmPlan p, gemm_plan(ctx.node, ctx.inputs));
  const Tensor* a = ctx.inputs[0];
  const Tensor* b = ctx.inputs[1];
  const Tensor* c = ctx.input(2);
  if (a->dtype() == DType::kFloat32) ctx.outputs[0] = gemm_typed<float>(p, *a, *b, c);
  else if (a->dtype() == DType::kFloat64) ctx.outputs[0] = gemm_typed<double>(p, *a, *b, c);
  else return unsupported_element_type(a->dtype());  // float16 not widened by op_run_cpu
  return ok_status();
}

// shardscore.FusedGemm: Y = act(alpha * A' * op(B) + beta * C), made by the fusion pass from
// MatMul + Add (+ activation) and Gemm (+ activation). A may have any rank >= 1: its leading
// dimensions are rows (as MatMul folds them; a 1-D A is one row); B is 2-D; C broadcasts to [rows, N].
Status cpu_fused_gemm(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(FusedGemmPlan plan, fused_gemm_plan(ctx.node, ctx.inputs));
  const Tensor* a = ctx.inputs[0];
  const Tensor* b = ctx.inputs[1];
  if (a->dtype() != DType::kFloat32) return unsupported_element_type(a->dtype());  // float16 not widened by op_run_cpu
  Tensor a2 = a->reshaped(plan.a2_shape);
  const Tensor* c = ctx.input(2);
  const GemmActivation act = plan.activation;
  // The common case (bias row, no scaling, B as given or transposed) goes to oneDNN with B packed
  // once; others go through blas_gemm (oneDNN's sgemm). B is constant here: the fusion pass makes FusedGemm only from
  // initializer weights.
  const bool trans_b = ctx.node.attr_int("transB", 0) != 0;
  const bool bias_row = c && c->dtype() == DType::kFloat32 && ctx.node.attr_float("beta", 1.0f) == 1.0f &&
                        (c->rank() == 1 || (c->rank() == 2 && c->dim(0) == 1)) &&
                        c->dim(c->rank() - 1) == plan.gemm.n;
  const bool onednn = !plan.gemm.trans_a && plan.gemm.alpha == 1.0f && (!c || bias_row) && a2.dim(0) > 0;
  if (onednn) {
    SS_ASSIGN_OR_RETURN(ctx.outputs[0],
                        onednn_matmul(a2, *b, trans_b, c, act == GemmActivation::kRelu, kOnednnRowTiles));
  } else {
    ctx.outputs[0] = gemm_typed<float>(plan.gemm, a2, *b, c);
  }
  Tensor& y = ctx.outputs[0];
  y = y.reshaped(plan.out_shape);
  float* p = y.data<float>();
  const int64_t n = y.numel();
  switch (act) {
    case GemmActivation::kNone: break;
    case GemmActivation::kRelu:
      if (onednn) return ok_status();  // applied by onednn_matmul
      for (int64_t i = 0; i < n; ++i) p[i] = p[i] < 0 ? 0.0f : p[i];
      break;
    case GemmActivation::kSigmoid:
      vector_sigmoid_f32(p, p, n);  // as the Sigmoid op
      break;
    case GemmActivation::kTanh:
      vector_tanh_f32(p, p, n);  // as the Tanh op
      break;
    case GemmActivation::kGelu: cpu_gelu_f32(p, p, n); break;
  }
  return ok_status();
}

Status cpu_matmul(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(MatMulPlan p, matmul_plan(ctx.inputs));
  const Tensor* a = ctx.inputs[0];
  const Tensor* b = ctx.inputs[1];
  if (a->dtype() == DType::kFloat32) ctx.outputs[0] = matmul_typed<float>(p, *a, *b);
  else if (a->dtype() == DType::kFloat64) ctx.outputs[0] = matmul_typed<double>(p, *a, *b);
  else return unsupported_element_type(a->dtype());  // float16 not widened by op_run_cpu
  return ok_status();
}

// shardscore.Attention (attention_plan): per (batch, head), the scores Q K^T through BLAS straight
// from the [B, S, H, D] layout (leading dimension H * D: the heads are never transposed out; K^T
// as given with keys_transposed; K and V shared across the batch or heads read in place), scaled
// and masked as the graph did (Div or Mul, then Add), a softmax along each row (NaN made 0 with
// nan_to_zero), and P V written into Y's [B, Sq, H, Dv] layout. One (batch, head) per product: a
// row's result depends on its own example only, whatever the batch.
Status cpu_attention(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(AttentionPlan p, attention_plan(ctx.node, ctx.inputs));
  const Tensor* q = ctx.inputs[0];
  if (q->dtype() != DType::kFloat32) return unsupported_element_type(q->dtype());  // float16 not widened by op_run_cpu
  const int64_t heads = p.heads, sq = p.q_len, sk = p.kv_len, d = p.head_dim, dv = p.v_dim;
  for (int64_t v : {sq, sk, p.ld_q(), p.ld_y()}) {
    if (v > INT_MAX) return unimplemented("an attention dimension of " + std::to_string(v) + " is above BLAS's int range");
  }
  Tensor y(DType::kFloat32, p.out_shape);
  float* py = y.data<float>();
  if (y.numel() == 0 || sk == 0) {  // no keys: empty sums (MatMul's zeros)
    std::fill(py, py + y.numel(), 0.0f);
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  const float* pq = q->data<float>();
  const float* pk = ctx.inputs[1]->data<float>();
  const float* pv = ctx.inputs[2]->data<float>();
  const float* pm = p.has_mask ? ctx.inputs[3]->data<float>() : nullptr;
  std::vector<float> scores(static_cast<std::size_t>(sq * sk));
  float* s = scores.data();
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      if (d > 0) {
        blas_gemm(false, !p.keys_transposed, sq, sk, d, 1.0f, pq + p.q_offset(b, h), p.ld_q(), pk + p.k_offset(b, h), p.ld_k(),
                  0.0f, s, sk);
      } else {
        std::fill(s, s + sq * sk, 0.0f);
      }
      for (int64_t i = 0; i < sq; ++i) {
        float* row = s + i * sk;
        if (p.divide) {
          for (int64_t j = 0; j < sk; ++j) row[j] = row[j] / p.scale;
        } else {
          for (int64_t j = 0; j < sk; ++j) row[j] = row[j] * p.scale;
        }
        if (pm) {
          const float* m = pm + b * p.mask_strides[0] + h * p.mask_strides[1] + i * p.mask_strides[2];
          for (int64_t j = 0; j < sk; ++j) row[j] = row[j] + m[j * p.mask_strides[3]];
        }
      }
      cpu_softmax_rows_f32(s, s, sq, sk);
      if (p.nan_to_zero) {
        for (int64_t i = 0; i < sq * sk; ++i) s[i] = std::isnan(s[i]) ? 0.0f : s[i];
      }
      blas_gemm(false, false, sq, dv, sk, 1.0f, s, sk, pv + p.v_offset(b, h), p.ld_v(), 0.0f, py + p.y_offset(b, h), p.ld_y());
    }
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore
