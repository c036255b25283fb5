#pragma once
// The element-wise parts around cuBLAS products and cuDNN convolutions: broadcasting Gemm's C
// into the output, the bias / residual / activation epilogues, and explicit zero padding for the
// asymmetric pads cuDNN's convolution descriptors cannot express. float32, float16, bfloat16, float64
// (float16 and bfloat16 computed in float32 and rounded once here; the product or convolution in front
// has already rounded its result to that type, so a fused Conv / FusedGemm output is rounded twice:
// within one unit in the last place of the CPU backend's single rounding).
#include "kernels/kernel_types.h"

namespace shardscore::kernels {

enum class Epilogue { kNone, kRelu, kSigmoid, kTanh, kGelu };

// y[i, j] (m x n, row-major) = beta * c[ci, cj], c being [cm, cn] with cm in {1, m}, cn in {1, n}.
cudaError_t launch_broadcast_rows(Elem elem, const void* c, int64_t cm, int64_t cn, double beta, void* y, int64_t m,
                                  int64_t n, cudaStream_t stream);

// In place over y viewed as [outer, channels, inner]: y = act(y + bias[channel] + residual),
// bias and residual optional (residual has y's layout). NaN passes through every activation.
// Gemm: outer = rows, channels = columns, inner = 1; NCHW convolution: outer = N, inner = H*W.
cudaError_t launch_epilogue(Elem elem, void* y, int64_t outer, int64_t channels, int64_t inner, const void* bias,
                            const void* residual, Epilogue act, cudaStream_t stream);

// y [n, c, h + pt + pb, w + pl + pr] = x [n, c, h, w] surrounded by zeros.
cudaError_t launch_zero_pad_2d(Elem elem, const void* x, void* y, int64_t n, int64_t c, int64_t h, int64_t w, int64_t pt,
                               int64_t pb, int64_t pl, int64_t pr, cudaStream_t stream);

// ConvTranspose's second half (src/engine/cuda/gemm_conv.cpp): y [n, m, oh, ow] = bias[m] + the
// sum of the column entries that reach each output, taps in (kernel row, kernel column) order, as
// the CPU function sums them. col holds, per image and group, the product W_g^T X_g as
// [m/group * kh * kw, h * w]; float32 for float16 / bfloat16 y, y's type otherwise. bias optional.
struct ConvTransposeGeometry {
  int64_t n = 0, m = 0, group = 1, h = 0, w = 0, kh = 0, kw = 0, oh = 0, ow = 0;
  int64_t s[2] = {1, 1}, d[2] = {1, 1}, pb[2] = {0, 0};
};
cudaError_t launch_conv_transpose_col2im(Elem elem, const void* col, const void* bias, void* y,
                                         const ConvTransposeGeometry& g, cudaStream_t stream);

// Attention's operands: Q [batch, q_len, heads, head_dim], K [k_batch, kv_len, k_heads, head_dim]
// (keys_transposed: K^T [k_batch, k_heads, head_dim, kv_len]), V [v_batch, kv_len, v_heads, v_dim]
// (k_batch, v_batch 1 or batch; k_heads, v_heads 1 or heads: shared across the batch or the heads),
// Y [batch, q_len, heads, v_dim].
struct AttentionShape {
  int64_t batch = 0, heads = 0, q_len = 0, kv_len = 0, head_dim = 0, v_dim = 0;
  int64_t k_batch = 0, k_heads = 0, v_batch = 0, v_heads = 0;
  bool keys_transposed = false;
};

// The pointer arrays of Attention's two batched products (cublasGemmBatchedEx), one entry per
// (batch, head) pair bh = b * heads + h < n = batch * heads, five arrays of `stride` entries each
// in `ptrs` [5 * stride] (stride >= n, even, so that every array is 16-byte aligned as cuBLAS
// checks): Q's head (b, h), K's, V's (head 0 / batch 0 where shared), the scores' matrix bh of
// [batch * heads, q_len, score_pitch] (score_pitch >= kv_len elements a row, so that every matrix
// starts 16-byte aligned, as cuBLAS needs of 2-byte and TF32 operands), Y's head; elements of
// `elem_bytes` bytes. V's and Y's heads start every v_dim elements, aligned or not: the caller
// checks before using them.
cudaError_t launch_attention_pointers(int elem_bytes, const void* q, const void* k, const void* v, void* scores,
                                      void* y, const AttentionShape& s, int64_t score_pitch, void** ptrs, int64_t stride,
                                      cudaStream_t stream);

}  // namespace shardscore::kernels
