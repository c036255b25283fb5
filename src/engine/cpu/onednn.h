#pragma once
// The CPU backend's uses of oneDNN: float32 convolution (group 1) in the blocked channel layout it
// runs fastest in, and float32 matrix products with constant weights packed once.
//
// Measured against OpenBLAS (im2col for convolutions) by bench/onednn_vs_openblas.cpp; results and
// the choice in docs/benchmarks.md. Every primitive runs on its caller's thread (parallelism comes
// from batches), with its scratchpad in a Tensor of the call (planned memory).
//
// Layouts. "plain" is NCHW. "blocked" is oneDNN's nChw{b}c: a tensor [N, ceil(C/b), H, W, b] whose
// last axis holds b consecutive channels, the channels past C being zero. b is
// onednn_channel_block(): 16 at the AVX-512 level, else 8 (engine/cpu/vector_math.h). Keeping activations blocked from
// one convolution to the next spares each of them the layout changes oneDNN's fastest kernels
// would otherwise make (graph pass pass_blocked_conv_layout decides where).
//
// Convolutions run eight images per oneDNN call, the rest one by one; the image loop is oneDNN's
// outermost, so an image's result does not depend on the batch it came in (an op test checks it
// bit for bit). Small 3x3 convolutions (onednn_conv_winograd) run Winograd's algorithm instead,
// one image per call, on images whose input is all finite; an image holding a NaN or an infinity
// takes the direct algorithm, so that bad values stay in the windows that read them. A primitive
// is made once per weight tensor, input shape and images per call, its packed weights once per
// weight tensor and layout; both are cached for the life of the process
// (the cache keeps a reference to the weights, so their address cannot be reused by another
// tensor: weights must be constant). Thread-safe: batches on several threads may run the same
// primitive (each call has its own scratchpad).
#include <cstdint>
#include <memory>

#include "common/status.h"
#include "engine/tensor.h"

namespace shardscore {

enum class ConvLayout { kPlain, kBlocked };

struct OnednnConvSpec {
  int64_t stride[2] = {1, 1};
  int64_t dilation[2] = {1, 1};  // as in ONNX: 1 = none
  int64_t pad_begin[2] = {0, 0};
  int64_t pad_end[2] = {0, 0};
  int64_t out[2] = {0, 0};       // output height and width
  ConvLayout src = ConvLayout::kPlain, dst = ConvLayout::kPlain;
  bool relu = false;             // applied last (NaN stays NaN)
  // With relu: apply it inside oneDNN's kernel, as its max-with-0 post-op, instead of in a pass of
  // our own over the output afterwards. That post-op turns NaN into 0, so the caller asks for it
  // only where no NaN can reach the convolution's sum (conv_onednn_node: no NaN or infinity came
  // into the convolutions, and the weights and bias are finite). For every other value both give
  // the same bits (x > 0 ? x : +0; -0 becomes +0 either way).
  bool relu_in_kernel = false;
  // Allow Winograd's algorithm where onednn_conv_winograd says (off: always the direct one, for
  // tests to compare). It rounds differently from the direct algorithm, within the same tolerance
  // of the float64 convolution.
  bool winograd = true;
};

// Channels per block of the blocked layout: 16 at the AVX-512 level, else 8 (cpu_isa()).
int64_t onednn_channel_block();

// Whether onednn_conv runs a convolution with Winograd's algorithm (F(2x2, 3x3)) where oneDNN has
// a kernel for it (AVX-512): 3x3, stride 1, no dilation, blocked in and out, at most 2^20 weights
// (up to 256 channels in and out: larger ones lose more reading the transformed weights once per
// image than the algorithm saves), and spec.winograd. Depends only on the graph, never on the batch.
bool onednn_conv_winograd(const Tensor& w, const OnednnConvSpec& spec);

// y = relu?(conv(x, w) + b + residual). x: [N, C, H, W] plain or [N, ceil(C/b), H, W, b] blocked,
// with C = w.dim(1); w: [M, C, kH, kW] float32; b: [M] or null; residual: null or y's own shape and
// layout. Returns y in spec.dst's layout. Errors: Internal, naming the oneDNN call.
// in_place: the residual's own tensor, given up by the caller (its value's last reader, sole
// holder of the buffer): y is then computed in its buffer, the residual added by oneDNN's sum
// post-op instead of read from a second buffer (one pass less over memory). Left empty. oneDNN
// may add a summed residual before the bias, or between partial sums over input channels, so the
// last bits can differ from the binary post-op's; an image's result still does not depend on its
// batch, and whether a convolution runs in place depends only on the graph.
[[nodiscard]] StatusOr<Tensor> onednn_conv(const Tensor& x, const Tensor& w, const Tensor* b, const Tensor* residual,
                                           const OnednnConvSpec& spec, Tensor* in_place = nullptr);

// Whether every value of w is finite (no NaN, no infinity), looked at once per weight tensor and
// remembered for the life of the process (w must be constant, as for onednn_conv).
bool onednn_weights_finite(const Tensor& w);

// Row tiles of a product: `large` rows per call while that many are left (0: none), then `small`
// (the last tile zero-padded). large is a multiple of small.
struct RowTiles {
  int64_t large = 0;
  int64_t small = 64;
};

// y[m x n] = a[m x k] * op(b) (+ bias) (Relu, NaN staying NaN), op(b) = b [k x n], or b^T for b [n x k] when
// trans_b. bias: [n] or null. Rows go through in fixed tiles, so a row's result does not depend on
// how many rows came with it: oneDNN's matmul computes a row alike in a large and in a small tile
// (FusedGemm_OnednnRowsIndependentOfBatch_Bitwise). Large tiles read the weights from memory
// fewer times; small ones pad a small batch less. b's packed form is cached as the convolution
// weights are (b must not change while the process lives: constant weights), one copy for both tiles.
// k or n 0: the bias (or zeros) in every row, without oneDNN.
[[nodiscard]] StatusOr<Tensor> onednn_matmul(const Tensor& a, const Tensor& b, bool trans_b, const Tensor* bias, bool relu,
                                             const RowTiles& tiles);

// A product of exactly `rows` rows by constant weights, prepared once for many calls (a recurrent
// op's steps, engine/cpu/rnn.cpp): y[rows x n] = a[rows x k] * op(b), b as for onednn_matmul (the
// same cache of primitives and packed weights, so a row's bits are onednn_matmul's for the same
// tile). It owns its scratchpad, allocated by make(), so run() allocates nothing. An empty product
// (k or n or rows 0) writes zeros without asking oneDNN. One object per thread at a time.
struct MatmulPrimitive;
class OnednnRowProduct {
 public:
  [[nodiscard]] static StatusOr<OnednnRowProduct> make(const Tensor& b, bool trans_b, int64_t rows);
  // a, y: host float32, row-major, rows x k and rows x n. Internal naming the oneDNN call on failure.
  [[nodiscard]] Status run(const float* a, float* y) const;

 private:
  std::shared_ptr<MatmulPrimitive> prim_;
  Tensor scratch_;
  int64_t rows_ = 0, k_ = 0, n_ = 0;
};

// Layout changes: [N, C, H, W] -> [N, ceil(C/block), H, W, block] (padding channels zero), and back
// given the real channel count. Any element type (bytes are moved).
Tensor layout_to_blocked(const Tensor& x, int64_t block);
Tensor layout_from_blocked(const Tensor& x, int64_t channels);

}  // namespace shardscore
