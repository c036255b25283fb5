// Products and convolutions on CUDA: cuBLAS for Gemm, MatMul and FusedGemm, cuDNN for Conv and
// FusedConv, with the element-wise epilogues in kernels/gemm_conv.cu. Checks, types, shapes and
// plans from engine/op_plans_nn.h, shared with the CPU functions (src/engine/cpu/gemm.cpp, nn.cpp).
#include <algorithm>
#include <atomic>
#include <climits>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "common/log.h"
#include "engine/backend.h"
#include "engine/cpu/broadcast.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cpu/float16.h"
#include "engine/cuda/cuda_util.h"
#include "kernels/elementwise.h"
#include "kernels/gemm_conv.h"
#include "kernels/quantize.h"
#include "kernels/reduce_ops.h"

namespace shardscore {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

// A fused library path (cuda_fused_paths): its runs and refusals counted, the first refusal logged.
struct FusedPath {
  std::atomic<int64_t> runs{0}, refused{0};
  std::once_flag logged;
  void ran() { runs.fetch_add(1, std::memory_order_relaxed); }
  void refuse(const std::string& message) {
    refused.fetch_add(1, std::memory_order_relaxed);
    std::call_once(logged, [&] { log_line(message); });
  }
};
FusedPath g_cudnn_epilogue, g_cublaslt_bias;

// cuBLAS's type of float32, float16 and bfloat16 elements (the types it multiplies with float32
// accumulation), or false for any other.
bool cublas_float_type(DType t, cudaDataType_t* dt) {
  switch (t) {
    case DType::kFloat32: *dt = CUDA_R_32F; return true;
    case DType::kFloat16: *dt = CUDA_R_16F; return true;
    case DType::kBFloat16: *dt = CUDA_R_16BF; return true;
    default: return false;
  }
}

}  // namespace

Status gemm_rowmajor(CudaOpContext& ctx, DType t, const RowMajorGemm& g) {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return ok_status();
  const int64_t lda = g.trans_a ? g.m : g.k, ldb = g.trans_b ? g.k : g.n;
  for (int64_t v : {g.m, g.n, g.k, g.batch, lda, ldb}) {
    if (v > INT_MAX) return unimplemented("a product dimension of " + str(v) + " is above cuBLAS's int range");
  }
  cudaDataType_t dt;
  cublasComputeType_t ct;
  float af = static_cast<float>(g.alpha), bf = static_cast<float>(g.beta);
  double ad = g.alpha, bd = g.beta;
  const void* alpha = &af;
  const void* beta = &bf;
  if (cublas_float_type(t, &dt)) {
    ct = CUBLAS_COMPUTE_32F;
  } else if (t == DType::kFloat64 && !g.y_float32) {
    dt = CUDA_R_64F;
    ct = CUBLAS_COMPUTE_64F;
    alpha = &ad;
    beta = &bd;
  } else {
    return unimplemented("element type " + std::string(dtype_name(t)) + " is not supported");
  }
  // float32 at --precision tf32: tensor cores through the handle's math mode (set per lane).
  SS_CUBLAS_RETURN_IF_ERROR(cublasGemmStridedBatchedEx(
      ctx.lane.cublas, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(g.n),
      static_cast<int>(g.m), static_cast<int>(g.k), alpha, g.b, dt, static_cast<int>(ldb), g.stride_b, g.a, dt,
      static_cast<int>(lda), g.stride_a, beta, g.y, g.y_float32 ? CUDA_R_32F : dt, static_cast<int>(g.n), g.stride_y,
      static_cast<int>(g.batch), ct,
      CUBLAS_GEMM_DEFAULT));
  return ok_status();
}

namespace {



// Y = alpha * op(A) * op(B) + bias, bias a row of n (Gemm's C of one row, beta 1), through cuBLASLt's
// bias epilogue: the bias joins the float32 accumulator and the sum is rounded once, as with C
// broadcast into Y and read back by cuBLAS, without those two passes over Y. Only split-K
// reductions in the compute type (float32), as cuBLAS is told elsewhere. false where cuBLASLt
// offers no algorithm (logged once): the caller broadcasts C instead.
StatusOr<bool> gemm_lt_bias(CudaOpContext& ctx, DType t, const RowMajorGemm& g, const void* bias) {
  cudaDataType_t dt;
  if (!cublas_float_type(t, &dt)) return false;
  if (g.batch != 1) return false;
  const int64_t lda = g.trans_a ? g.m : g.k, ldb = g.trans_b ? g.k : g.n;
  for (int64_t v : {g.m, g.n, g.k, lda, ldb}) {
    if (v > INT_MAX) return false;
  }
  const cublasComputeType_t ct = t == DType::kFloat32 && ctx.lane.precision == CudaPrecision::kTf32
                                     ? CUBLAS_COMPUTE_32F_FAST_TF32
                                     : CUBLAS_COMPUTE_32F;
  struct Descriptors {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, y = nullptr;
    cublasLtMatmulPreference_t pref = nullptr;
    ~Descriptors() {
      if (pref) cublasLtMatmulPreferenceDestroy(pref);
      if (y) cublasLtMatrixLayoutDestroy(y);
      if (b) cublasLtMatrixLayoutDestroy(b);
      if (a) cublasLtMatrixLayoutDestroy(a);
      if (op) cublasLtMatmulDescDestroy(op);
    }
  } d;
  // Column-major, as gemm_rowmajor: Y^T (n x m) = op(B)^T (n x k) * op(A)^T (k x m).
  const cublasOperation_t ta = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, tb = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
  const uint32_t reduction = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
  const uint64_t workspace_limit = 32u << 20;
  // cuBLASLt's heuristic assumes 256-byte aligned matrices unless told (arena buffers are 256-byte
  // aligned, memory_plan.cpp; a view into one need not be). Capped at 64 so that the first batch
  // (fresh allocations) and the arena's batches of a shape choose the same algorithm, hence the
  // same bits.
  auto alignment = [](const void* p) {
    uint32_t a = 64;
    while (a > 1 && reinterpret_cast<uintptr_t>(p) % a != 0) a /= 2;
    return a;
  };
  const uint32_t align_a = alignment(g.b), align_b = alignment(g.a), align_y = alignment(g.y);
  // A setting this cuBLASLt refuses, like no algorithm, sends the product down the other path.
  cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
  auto step = [&](cublasStatus_t s) { return (st = s) == CUBLAS_STATUS_SUCCESS; };
  auto prefer = [&](cublasLtMatmulPreferenceAttributes_t attr, const auto& value) {
    return step(cublasLtMatmulPreferenceSetAttribute(d.pref, attr, &value, sizeof value));
  };
  cublasLtMatmulHeuristicResult_t found{};
  int count = 0;
  const bool ready =
      step(cublasLtMatmulDescCreate(&d.op, ct, CUDA_R_32F)) &&
      step(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta)) &&
      step(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb)) &&
      step(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue)) &&
      step(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias)) &&
      step(cublasLtMatrixLayoutCreate(&d.a, dt, static_cast<uint64_t>(ta == CUBLAS_OP_N ? g.n : g.k),
                                      static_cast<uint64_t>(ta == CUBLAS_OP_N ? g.k : g.n), ldb)) &&
      step(cublasLtMatrixLayoutCreate(&d.b, dt, static_cast<uint64_t>(tb == CUBLAS_OP_N ? g.k : g.m),
                                      static_cast<uint64_t>(tb == CUBLAS_OP_N ? g.m : g.k), lda)) &&
      step(cublasLtMatrixLayoutCreate(&d.y, dt, static_cast<uint64_t>(g.n), static_cast<uint64_t>(g.m), g.n)) &&
      step(cublasLtMatmulPreferenceCreate(&d.pref)) &&
      prefer(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, workspace_limit) &&
      prefer(CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, reduction) &&
      prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a) &&
      prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b) &&
      prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_y) &&
      prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_y) &&
      step(cublasLtMatmulAlgoGetHeuristic(ctx.lane.cublaslt, d.op, d.a, d.b, d.y, d.y, d.pref, 1, &found, &count));
  if (!ready || count == 0) {
    g_cublaslt_bias.refuse("cuda: cuBLASLt has no bias-epilogue algorithm for " + ctx.node.describe() + " (" +
                                  cublasGetStatusString(st) + ", " + std::to_string(count) +
                                  " found); such products broadcast the bias first");
    return false;
  }
  void* workspace = nullptr;  // cublasLtMatmul wants it 256-byte aligned; scratch is 64-byte aligned
  if (found.workspaceSize) {
    const auto raw = reinterpret_cast<uintptr_t>(ctx.scratch(found.workspaceSize + 255));
    workspace = reinterpret_cast<void*>((raw + 255) & ~uintptr_t{255});
  }
  const float alpha = static_cast<float>(g.alpha), beta = 0.0f;
  st = cublasLtMatmul(ctx.lane.cublaslt, d.op, &alpha, g.b, d.a, g.a, d.b, &beta, g.y, d.y, g.y, d.y, &found.algo,
                      workspace, found.workspaceSize, ctx.lane.stream);
  if (st == CUBLAS_STATUS_NOT_SUPPORTED) {  // nothing was launched: the other path computes Y
    g_cublaslt_bias.refuse("cuda: cublasLtMatmul refused the bias epilogue for " + ctx.node.describe() +
                           " (" + cublasGetStatusString(st) + "); such products broadcast the bias first");
    return false;
  }
  SS_CUBLAS_RETURN_IF_ERROR(st);
  g_cublaslt_bias.ran();
  return true;
}

// Gemm and FusedGemm: Y = act(alpha * op(A) * op(B) + beta * C), A and B 2-D, as planned.
Status gemm_2d(CudaOpContext& ctx, const GemmPlan& p, const Tensor& a, const Tensor& b, const Tensor* c,
               kernels::Epilogue act, Tensor* out) {
  const int64_t m = p.m, n = p.n, k = p.k;
  const double beta = p.beta;
  Tensor y(a.dtype(), {m, n});
  double use_beta = 0;
  RowMajorGemm g;
  g.trans_a = p.trans_a;
  g.trans_b = p.trans_b;
  g.m = m;
  g.n = n;
  g.k = k;
  g.alpha = p.alpha;
  g.a = a.raw();
  g.b = b.raw();
  g.y = y.raw();
  // A bias (C one row of n, beta 1): into the product's own epilogue where cuBLASLt has one.
  if (ctx.lane.cublaslt_bias && p.use_c && p.cm == 1 && p.cn == n && beta == 1.0 && k > 0 && m * n > 0 &&
      c->dtype() == a.dtype()) {
    SS_ASSIGN_OR_RETURN(const bool done, gemm_lt_bias(ctx, a.dtype(), g, c->raw()));
    if (done) {
      SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_epilogue(cuda_elem(y.dtype()), y.raw(), m, n, 1, nullptr, nullptr, act,
                                                         ctx.lane.stream));
      *out = std::move(y);
      return ok_status();
    }
  }
  if (p.use_c) {
    // With k = 0 the product is empty and Y = beta * C (cuBLAS is not asked: its leading
    // dimensions would be 0, which it rejects).
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_broadcast_rows(cuda_elem(c->dtype()), c->raw(), p.cm, p.cn,
                                                             k == 0 ? beta : 1.0, y.raw(), m, n, ctx.lane.stream));
    use_beta = beta;
  }
  g.beta = use_beta;
  if (k == 0) {
    // An empty sum: zeros, or beta * C written above.
    if (use_beta == 0 && m * n > 0) SS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y.raw(), 0, y.nbytes(), ctx.lane.stream));
  } else {
    SS_RETURN_IF_ERROR(gemm_rowmajor(ctx, a.dtype(), g));
  }
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_epilogue(cuda_elem(y.dtype()), y.raw(), m, n, 1, nullptr, nullptr, act, ctx.lane.stream));
  *out = std::move(y);
  return ok_status();
}

kernels::Epilogue epilogue_of(GemmActivation act) {
  switch (act) {
    case GemmActivation::kRelu: return kernels::Epilogue::kRelu;
    case GemmActivation::kSigmoid: return kernels::Epilogue::kSigmoid;
    case GemmActivation::kTanh: return kernels::Epilogue::kTanh;
    case GemmActivation::kGelu: return kernels::Epilogue::kGelu;
    case GemmActivation::kNone: break;
  }
  return kernels::Epilogue::kNone;
}

// ---- convolution ----

// Everything the descriptors say, and the device: not the node's address, which a later model
// can reuse for a convolution of another geometry (its cached workspace size would then be wrong).
struct ConvKey {
  int device;
  std::vector<int64_t> dims;  // x (as given to cuDNN), w, pads, strides, dilations, group
  DType dtype;
  CudaPrecision precision;
  bool operator<(const ConvKey& o) const {
    return std::tie(device, dims, dtype, precision) < std::tie(o.device, o.dims, o.dtype, o.precision);
  }
};
struct ConvAlgo {
  cudnnConvolutionFwdAlgo_t algo;
  cudnnMathType_t math;
  std::size_t workspace;
};

// cuDNN's descriptors, destroyed with the call.
struct ConvDescriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  ~ConvDescriptors() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

std::mutex g_algo_mutex;
// Per convolution, the usable algorithms in the heuristic's order; the first is the one run.
std::map<ConvKey, std::vector<ConvAlgo>> g_algos;

// float32 means float32 (FMA math, no TF32) unless --precision tf32; float16 and bfloat16 use
// tensor cores (accumulating in float32: the convolution's compute type).
cudnnMathType_t conv_math(DType t, CudaPrecision p) {
  if (dtype_is_half(t)) return CUDNN_TENSOR_OP_MATH;
  if (t == DType::kFloat32 && p == CudaPrecision::kTf32) return CUDNN_DEFAULT_MATH;
  return CUDNN_FMA_MATH;
}

// The heuristically best algorithm for this convolution whose workspace fits, chosen once per
// node and input shape (no benchmarking: the choice, and so the bits, are the same every run).
// The others that fit are kept behind it, for drop_conv_algo.
StatusOr<ConvAlgo> conv_algo(CudaOpContext& ctx, const ConvDescriptors& d, const ConvKey& key) {
  {
    std::lock_guard lock(g_algo_mutex);
    auto it = g_algos.find(key);
    if (it != g_algos.end()) {
      if (it->second.empty()) return unimplemented("cuDNN refused every forward algorithm it offered for this convolution");
      return it->second.front();
    }
  }
  constexpr int kMax = 16;
  cudnnConvolutionFwdAlgoPerf_t perf[kMax];
  int count = 0;
  SS_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionForwardAlgorithm_v7(ctx.lane.cudnn, d.x, d.w, d.conv, d.y, kMax, &count, perf));
  constexpr std::size_t kWorkspaceLimit = 512u << 20;
  const cudnnMathType_t math = conv_math(key.dtype, key.precision);
  std::vector<ConvAlgo> usable;
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kWorkspaceLimit) continue;
    // Down-conversion (float32 computed in float16) is never what --precision asked for.
    if (perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION && !dtype_is_half(key.dtype)) continue;
    ConvAlgo a{perf[i].algo, perf[i].mathType, perf[i].memory};
    if (math == CUDNN_FMA_MATH) {
      // Strict float32 / float64: an algorithm that needs tensor cores is out, and the one taken
      // runs under FMA math. Its reported CUDNN_DEFAULT_MATH would permit TF32 on Ampere and later.
      if (perf[i].mathType != CUDNN_FMA_MATH && perf[i].mathType != CUDNN_DEFAULT_MATH) continue;
      a.math = CUDNN_FMA_MATH;
    }
    // The workspace under the math type that will really be set (the perf entry's may differ).
    if (cudnnSetConvolutionMathType(d.conv, a.math) != CUDNN_STATUS_SUCCESS) continue;
    if (cudnnGetConvolutionForwardWorkspaceSize(ctx.lane.cudnn, d.x, d.w, d.conv, d.y, a.algo, &a.workspace) !=
            CUDNN_STATUS_SUCCESS ||
        a.workspace > kWorkspaceLimit) {
      continue;
    }
    usable.push_back(a);
  }
  if (usable.empty()) return unimplemented("cuDNN offers no forward algorithm for this convolution");
  std::lock_guard lock(g_algo_mutex);
  auto& kept = g_algos[key];
  if (kept.empty()) kept = std::move(usable);  // else a racing thread's list, if it was first
  return kept.front();
}

// cuDNN 9 runs the legacy convolution calls on its engines, and one its heuristics listed can still
// refuse when it runs (PyTorch tries the next on the list too). Drops `refused` from the key's list
// (if another thread has not already) and gives the next: false when none is left (the empty list
// stays, so the key is not offered the refused ones again).
bool drop_conv_algo(const ConvKey& key, const ConvAlgo& refused, ConvAlgo* next) {
  std::lock_guard lock(g_algo_mutex);
  auto& kept = g_algos[key];
  if (!kept.empty() && kept.front().algo == refused.algo && kept.front().math == refused.math) kept.erase(kept.begin());
  if (kept.empty()) return false;
  *next = kept.front();
  return true;
}

// NHWC FusedConv in one cuDNN call, cudnnConvolutionBiasActivationForward: y = act(conv(x) + z + bias),
// z the residual (alpha2 = 1) or none (alpha2 = 0), act Relu with NaN propagation or identity (which
// cuDNN takes only with IMPLICIT_PRECOMP_GEMM), one rounding of the float32 result. false (nothing
// enqueued) where cuDNN refuses the combination; that is logged once per process.
StatusOr<bool> conv_cudnn_epilogue(CudaOpContext& ctx, const ConvDescriptors& d, const ConvAlgo& algo, void* workspace,
                                   cudnnDataType_t dt, const Tensor& src, const Tensor& w, const Tensor* bias,
                                   const Tensor* residual, bool relu, Tensor& y, int64_t m) {
  if (!relu && algo.algo != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM) return false;
  struct Descriptors {
    cudnnTensorDescriptor_t bias = nullptr;
    cudnnActivationDescriptor_t act = nullptr;
    ~Descriptors() {
      if (bias) cudnnDestroyTensorDescriptor(bias);
      if (act) cudnnDestroyActivationDescriptor(act);
    }
  } e;
  SS_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&e.bias));
  SS_CUDNN_RETURN_IF_ERROR(cudnnCreateActivationDescriptor(&e.act));
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(e.bias, CUDNN_TENSOR_NHWC, dt, 1, static_cast<int>(m), 1, 1));
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetActivationDescriptor(e.act, relu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
                                                        CUDNN_PROPAGATE_NAN, 0.0));
  const void* b = bias ? bias->raw() : nullptr;
  if (!b) {  // the call takes a bias
    void* zeros = ctx.scratch(static_cast<std::size_t>(m) * dtype_size(y.dtype()));
    SS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(zeros, 0, static_cast<std::size_t>(m) * dtype_size(y.dtype()), ctx.lane.stream));
    b = zeros;
  }
  if (!residual) {
    // cuDNN documents no skipping of z at alpha2 = 0, and 0 * NaN is NaN: an arena buffer's old
    // bits must not reach the output.
    SS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y.raw(), 0, y.nbytes(), ctx.lane.stream));
  }
  const float one = 1.0f, alpha2 = residual ? 1.0f : 0.0f;
  const cudnnStatus_t st = cudnnConvolutionBiasActivationForward(
      ctx.lane.cudnn, &one, d.x, src.raw(), d.w, w.raw(), d.conv, algo.algo, workspace, algo.workspace, &alpha2, d.y,
      residual ? residual->raw() : y.raw(), e.bias, b, e.act, d.y, y.raw());
  // cuDNN 9 answers with sub-codes (CUDNN_STATUS_NOT_SUPPORTED_LAYOUT, ...): compared by category.
  if (CUDNN_STATUS_CATEGORY(st) == CUDNN_STATUS_NOT_SUPPORTED || CUDNN_STATUS_CATEGORY(st) == CUDNN_STATUS_BAD_PARAM) {
    g_cudnn_epilogue.refuse("cuda: cuDNN refused its fused bias/residual/Relu for " + ctx.node.describe() + " (" +
                                   cudnnGetErrorString(st) + "); such convolutions keep the backend's own pass");
    return false;
  }
  SS_CUDNN_RETURN_IF_ERROR(st);
  g_cudnn_epilogue.ran();
  return true;
}

Status conv(CudaOpContext& ctx, const Tensor* residual, bool relu) {
  SS_ASSIGN_OR_RETURN(ConvPlan p, conv_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  const Tensor* w = ctx.inputs[1];
  const Tensor* b = ctx.input(2);
  const int64_t n = p.n, c = p.c, m = p.m, group = p.group;
  const Window2d& g = p.g;
  // NHWC (pass_nhwc_convs): the layout cuDNN's tensor-core kernels read without transposing.
  const bool nhwc = p.nhwc;
  const cudnnTensorFormat_t format = nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  const int64_t in[2] = {g.in[0], g.in[1]};
  const int64_t k[2] = {g.k[0], g.k[1]};
  Tensor y(x->dtype(), p.out_shape);
  if (y.numel() == 0) {
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  for (int64_t v : {n, c, m, in[0] + g.pb[0] + g.pe[0], in[1] + g.pb[1] + g.pe[1]}) {
    if (v > INT_MAX) return unimplemented("a convolution dimension of " + str(v) + " is above cuDNN's int range");
  }

  // cuDNN pads symmetrically: other pads go into an explicitly padded copy of X.
  const Tensor* src = x;
  Tensor padded;
  int pad[2] = {static_cast<int>(g.pb[0]), static_cast<int>(g.pb[1])};
  if (g.pb[0] != g.pe[0] || g.pb[1] != g.pe[1]) {
    if (nhwc) return unimplemented("an NHWC convolution with asymmetric pads");  // pass_nhwc_convs makes none
    padded = Tensor(x->dtype(), {n, c, in[0] + g.pb[0] + g.pe[0], in[1] + g.pb[1] + g.pe[1]});
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_zero_pad_2d(cuda_elem(x->dtype()), x->raw(), padded.raw(), n, c, in[0], in[1],
                                                          g.pb[0], g.pe[0], g.pb[1], g.pe[1], ctx.lane.stream));
    src = &padded;
    pad[0] = pad[1] = 0;
  }

  const cudnnDataType_t dt = x->dtype() == DType::kFloat32    ? CUDNN_DATA_FLOAT
                             : x->dtype() == DType::kFloat16  ? CUDNN_DATA_HALF
                             : x->dtype() == DType::kBFloat16 ? CUDNN_DATA_BFLOAT16
                                                              : CUDNN_DATA_DOUBLE;
  const cudnnDataType_t compute = x->dtype() == DType::kFloat64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  ConvDescriptors d;
  SS_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&d.x));
  SS_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&d.y));
  SS_CUDNN_RETURN_IF_ERROR(cudnnCreateFilterDescriptor(&d.w));
  SS_CUDNN_RETURN_IF_ERROR(cudnnCreateConvolutionDescriptor(&d.conv));
  const int64_t src_h = nhwc ? src->dim(1) : src->dim(2), src_w = nhwc ? src->dim(2) : src->dim(3);
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(d.x, format, dt, static_cast<int>(n), static_cast<int>(c),
                                                      static_cast<int>(src_h), static_cast<int>(src_w)));
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetFilter4dDescriptor(d.w, dt, format, static_cast<int>(m), static_cast<int>(c / group),
                                                      static_cast<int>(k[0]), static_cast<int>(k[1])));
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetConvolution2dDescriptor(d.conv, pad[0], pad[1], static_cast<int>(g.s[0]),
                                                           static_cast<int>(g.s[1]), static_cast<int>(g.d[0]),
                                                           static_cast<int>(g.d[1]), CUDNN_CROSS_CORRELATION, compute));
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionGroupCount(d.conv, static_cast<int>(group)));
  int on = 0, oc = 0, oh = 0, ow = 0;
  SS_CUDNN_RETURN_IF_ERROR(cudnnGetConvolution2dForwardOutputDim(d.conv, d.x, d.w, &on, &oc, &oh, &ow));
  if (on != n || oc != m || oh != g.out[0] || ow != g.out[1]) {
    return internal_error("cuDNN's output shape [" + str(on) + ", " + str(oc) + ", " + str(oh) + ", " + str(ow) +
                          "] differs from " + shape_to_string(y.shape()));
  }
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(d.y, format, dt, on, oc, oh, ow));
  const ConvKey key{ctx.lane.device,
                    {n, c, src_h, src_w, m, c / group, k[0], k[1], pad[0], pad[1], g.s[0], g.s[1], g.d[0], g.d[1], group,
                     nhwc ? 1 : 0},
                    x->dtype(),
                    ctx.lane.precision};
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(d.conv, conv_math(x->dtype(), ctx.lane.precision)));
  SS_ASSIGN_OR_RETURN(ConvAlgo algo, conv_algo(ctx, d, key));
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(d.conv, algo.math));
  void* workspace = algo.workspace ? ctx.scratch(algo.workspace) : nullptr;
  const float one_f = 1.0f, zero_f = 0.0f;
  const double one_d = 1.0, zero_d = 0.0;
  const bool dbl = x->dtype() == DType::kFloat64;
  const bool same_shape_residual = residual && residual->shape() == y.shape() && residual->dtype() == y.dtype();
  if (nhwc && ctx.lane.cudnn_epilogue && !dbl && (!residual || same_shape_residual)) {
    SS_ASSIGN_OR_RETURN(const bool fused, conv_cudnn_epilogue(ctx, d, algo, workspace, dt, *src, *w, b, residual, relu, y, m));
    if (fused) {
      ctx.outputs[0] = std::move(y);
      return ok_status();
    }
  }
  for (;;) {
    const cudnnStatus_t st = cudnnConvolutionForward(ctx.lane.cudnn, dbl ? static_cast<const void*>(&one_d) : &one_f, d.x,
                                                     src->raw(), d.w, w->raw(), d.conv, algo.algo, workspace, algo.workspace,
                                                     dbl ? static_cast<const void*>(&zero_d) : &zero_f, d.y, y.raw());
    if (st == CUDNN_STATUS_SUCCESS) break;
    const ConvAlgo refused = algo;
    // Only a refusal: BAD_PARAM would be a mistake of ours, not to be hidden behind another algorithm.
    if (CUDNN_STATUS_CATEGORY(st) != CUDNN_STATUS_NOT_SUPPORTED || !drop_conv_algo(key, refused, &algo)) {
      return cudnn_status(st, "cudnnConvolutionForward(..., algo, ...)");
    }
    log_line("cuda: cuDNN refused convolution algorithm " + str(static_cast<int64_t>(refused.algo)) + " for " +
             ctx.node.describe() + " (" + cudnnGetErrorString(st) + "); this shape takes algorithm " +
             str(static_cast<int64_t>(algo.algo)) + ", the heuristic's next");
    SS_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(d.conv, algo.math));
    workspace = algo.workspace ? ctx.scratch(algo.workspace) : nullptr;
  }

  // Bias, residual and Relu in one pass of ours (NaN stays NaN), unless the lane asked for cuDNN's fused call above.
  const kernels::Epilogue act = relu ? kernels::Epilogue::kRelu : kernels::Epilogue::kNone;
  const bool residual_in_epilogue = same_shape_residual;
  if (nhwc) {
    // Channels innermost: the epilogue's rows are the N * out H * out W pixels, its columns the channels.
    if (residual && !residual_in_epilogue) return unimplemented("an NHWC convolution with a broadcast residual");
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_epilogue(cuda_elem(y.dtype()), y.raw(), n * oh * ow, m, 1,
                                                       b ? b->raw() : nullptr, residual ? residual->raw() : nullptr,
                                                       act, ctx.lane.stream));
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  if (residual && !residual_in_epilogue) {
    // A broadcast residual: bias first, then Add with broadcasting, then Relu.
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_epilogue(cuda_elem(y.dtype()), y.raw(), n, m, static_cast<int64_t>(oh) * ow,
                                                       b ? b->raw() : nullptr,
                                                       nullptr, kernels::Epilogue::kNone, ctx.lane.stream));
    if (residual->dtype() != y.dtype()) return invalid_argument("input types differ");
    SS_ASSIGN_OR_RETURN(Shape shape, cpu_broadcast_shapes(y.shape(), residual->shape()));
    Tensor sum(y.dtype(), shape);
    SS_ASSIGN_OR_RETURN(kernels::StridedIndex yi, cuda_strided_index(y.shape(), shape));
    SS_ASSIGN_OR_RETURN(kernels::StridedIndex ri, cuda_strided_index(residual->shape(), shape));
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_binary(kernels::BinaryOp::kAdd, cuda_elem(y.dtype()), cuda_elem(y.dtype()),
                                                     y.raw(), yi, residual->raw(), ri, sum.raw(), sum.numel(), ctx.fault(),
                                                     ctx.lane.stream));
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_epilogue(cuda_elem(sum.dtype()), sum.raw(), 1, 1, sum.numel(), nullptr, nullptr,
                                                       act, ctx.lane.stream));
    ctx.outputs[0] = std::move(sum);
    return ok_status();
  }
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_epilogue(cuda_elem(y.dtype()), y.raw(), n, m, static_cast<int64_t>(oh) * ow,
                                                     b ? b->raw() : nullptr,
                                                     residual_in_epilogue ? residual->raw() : nullptr, act, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace

CudaFusedPaths cuda_fused_paths() {
  return {g_cudnn_epilogue.runs.load(), g_cudnn_epilogue.refused.load(), g_cublaslt_bias.runs.load(),
          g_cublaslt_bias.refused.load()};
}

Status cuda_gemm(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(GemmPlan p, gemm_plan(ctx.node, ctx.inputs));
  return gemm_2d(ctx, p, *ctx.inputs[0], *ctx.inputs[1], ctx.input(2), kernels::Epilogue::kNone, &ctx.outputs[0]);
}

Status cuda_fused_gemm(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(FusedGemmPlan p, fused_gemm_plan(ctx.node, ctx.inputs));
  const Tensor a2 = ctx.inputs[0]->reshaped(p.a2_shape);
  Tensor y;
  SS_RETURN_IF_ERROR(gemm_2d(ctx, p.gemm, a2, *ctx.inputs[1], ctx.input(2), epilogue_of(p.activation), &y));
  ctx.outputs[0] = y.reshaped(p.out_shape);
  return ok_status();
}

Status cuda_matmul(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(MatMulPlan p, matmul_plan(ctx.inputs));
  const Tensor* a_in = ctx.inputs[0];
  const Tensor* b_in = ctx.inputs[1];
  const int64_t m = p.m, n = p.n, k = p.k, nb = p.nb, na = p.na, nbb = p.nbb;
  Tensor y(a_in->dtype(), p.out_shape);
  if (m * n == 0 || nb == 0) {
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  if (k == 0) {
    SS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y.raw(), 0, y.nbytes(), ctx.lane.stream));
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  RowMajorGemm g;
  g.n = n;
  g.k = k;
  g.a = a_in->raw();
  g.b = b_in->raw();
  g.y = y.raw();
  if (nbb == 1) {
    // B is one matrix (the usual weights): A's batch folded into rows, one product.
    g.m = na * m;
    SS_RETURN_IF_ERROR(gemm_rowmajor(ctx, y.dtype(), g));
  } else if ((na == nb || na == 1) && nbb == nb) {
    g.m = m;
    g.batch = nb;
    g.stride_a = na == 1 ? 0 : m * k;
    g.stride_b = k * n;
    g.stride_y = m * n;
    SS_RETURN_IF_ERROR(gemm_rowmajor(ctx, y.dtype(), g));
  } else {
    // Broadcast along some batch dimensions only: one product per output matrix.
    const std::size_t es = dtype_size(y.dtype());
    g.m = m;
    for (int64_t bi = 0; bi < nb; ++bi) {
      g.a = static_cast<const std::byte*>(a_in->raw()) + p.a_matrix(bi) * m * k * es;
      g.b = static_cast<const std::byte*>(b_in->raw()) + p.b_matrix(bi) * k * n * es;
      g.y = static_cast<std::byte*>(y.raw()) + bi * m * n * es;
      SS_RETURN_IF_ERROR(gemm_rowmajor(ctx, y.dtype(), g));
    }
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_conv(CudaOpContext& ctx) { return conv(ctx, nullptr, false); }

// ConvTranspose: per group, one strided batch of products col = W_g^T X_g over a chunk of images
// (float32 columns for 16-bit types, so that the sums round once, as on the CPU), then
// kernels::launch_conv_transpose_col2im gathers each output's taps and adds the bias.
Status cuda_conv_transpose(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ConvTransposePlan p, conv_transpose_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  const Tensor* w = ctx.inputs[1];
  const Tensor* b = ctx.input(2);
  const DType t = x->dtype();
  Tensor y(t, p.out_shape);
  if (y.numel() == 0) {
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  const bool half = t == DType::kFloat16 || t == DType::kBFloat16;
  const int64_t hw = p.in[0] * p.in[1], cg = p.c / p.group, mg = p.m / p.group, rows = mg * p.k[0] * p.k[1];
  const int64_t col_bytes = half ? 4 : static_cast<int64_t>(dtype_size(t));
  const int64_t per_image = p.group * rows * hw;  // column entries of one image
  // Images a chunk: as many as 256 MiB of columns hold, at least one.
  const int64_t chunk = std::clamp<int64_t>((int64_t{256} << 20) / std::max<int64_t>(1, per_image * col_bytes), 1, p.n);
  char* col = static_cast<char*>(ctx.scratch(static_cast<std::size_t>(chunk * per_image * col_bytes)));
  kernels::ConvTransposeGeometry geo;
  geo.m = p.m;
  geo.group = p.group;
  geo.h = p.in[0];
  geo.w = p.in[1];
  geo.kh = p.k[0];
  geo.kw = p.k[1];
  geo.oh = p.out[0];
  geo.ow = p.out[1];
  for (int i = 0; i < 2; ++i) {
    geo.s[i] = p.s[i];
    geo.d[i] = p.d[i];
    geo.pb[i] = p.pb[i];
  }
  const int64_t es = static_cast<int64_t>(dtype_size(t));
  for (int64_t n0 = 0; n0 < p.n; n0 += chunk) {
    const int64_t nb = std::min(chunk, p.n - n0);
    if (cg == 0) {
      SS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(col, 0, static_cast<std::size_t>(nb * per_image * col_bytes), ctx.lane.stream));
    }
    for (int64_t gi = 0; gi < p.group && cg > 0; ++gi) {
      RowMajorGemm g;
      g.trans_a = true;  // W_g is stored [C/group, rows]
      g.m = rows;
      g.n = hw;
      g.k = cg;
      g.a = static_cast<const char*>(w->raw()) + gi * cg * rows * es;
      g.b = static_cast<const char*>(x->raw()) + (n0 * p.c + gi * cg) * hw * es;
      g.y = col + gi * rows * hw * col_bytes;
      g.batch = nb;
      g.stride_a = 0;
      g.stride_b = p.c * hw;
      g.stride_y = per_image;
      g.y_float32 = half;
      SS_RETURN_IF_ERROR(gemm_rowmajor(ctx, t, g));
    }
    geo.n = nb;
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_conv_transpose_col2im(cuda_elem(t), col, b ? b->raw() : nullptr,
                                                                    static_cast<char*>(y.raw()) + n0 * p.m * p.out[0] * p.out[1] * es,
                                                                    geo, ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_fused_conv(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const bool relu, fused_conv_relu(ctx.node));
  if (ctx.node.attr("dst_layout")) return unimplemented("FusedConv in the CPU backend's blocked layout");
  return conv(ctx, ctx.input(3), relu);
}

// shardscore.Attention (attention_plan): the scores of every (batch, head) by one batched cuBLAS
// product that reads Q and K in their [B, S, H, D] layout through pointer arrays (leading
// dimension H * D: the heads are never transposed out), scaled by the product's alpha (in float32,
// before the scores are rounded to the compute type; a Div's scale as its reciprocal), the mask and
// the softmax in one pass over the scores in place, and P V by a second batched product writing
// Y's [B, Sq, H, Dv] layout. The scores and the pointer arrays are the op's scratch.
Status cuda_attention(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(AttentionPlan p, attention_plan(ctx.node, ctx.inputs));
  const Tensor* q = ctx.inputs[0];
  const Tensor* mask = p.has_mask ? ctx.inputs[3] : nullptr;
  const DType t = q->dtype();
  cudaDataType_t dt;
  if (!cublas_float_type(t, &dt)) return unimplemented("element type " + std::string(dtype_name(t)) + " is not supported");
  Tensor y(t, p.out_shape);
  const int64_t n = p.batch * p.heads, ldq = p.ld_q(), ldk = p.ld_k(), ldv = p.ld_v(), ldy = p.ld_y();
  if (y.numel() == 0 || p.kv_len == 0) {  // no keys: empty sums (MatMul's zeros)
    if (y.numel() > 0) SS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y.raw(), 0, y.nbytes(), ctx.lane.stream));
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  for (int64_t v : {n, p.q_len, p.kv_len, p.head_dim, p.v_dim, ldq, ldk, ldv, ldy}) {
    if (v > INT_MAX) return unimplemented("an attention dimension of " + str(v) + " is above cuBLAS's int range");
  }
  const std::size_t es = dtype_size(t);
  // cuBLAS's batched products with 2-byte (or TF32) operands want every matrix 16-byte aligned, and
  // every pointer array too: score rows padded to 16 bytes, pointer arrays to an even length.
  const int64_t per16 = std::max<int64_t>(1, 16 / static_cast<int64_t>(es));
  const int64_t pitch = (p.kv_len + per16 - 1) / per16 * per16, stride = (n + 1) / 2 * 2;
  if (pitch > INT_MAX) return unimplemented("an attention dimension of " + str(pitch) + " is above cuBLAS's int range");
  const std::size_t score_bytes = static_cast<std::size_t>(n * p.q_len * pitch) * es;
  void* scores = ctx.scratch(score_bytes);
  void** ptrs = static_cast<void**>(ctx.scratch(static_cast<std::size_t>(5 * stride) * sizeof(void*)));
  const kernels::AttentionShape shape{p.batch,   p.heads,   p.q_len,   p.kv_len,  p.head_dim,         p.v_dim,
                                      p.k_batch, p.k_heads, p.v_batch, p.v_heads, p.keys_transposed};
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_attention_pointers(static_cast<int>(es), q->raw(), ctx.inputs[1]->raw(),
                                                               ctx.inputs[2]->raw(), scores, y.raw(), shape, pitch,
                                                               ptrs, stride, ctx.lane.stream));
  // A Div's scale as its reciprocal: within an ulp of dividing (exact for BERT's sqrt(64) = 8).
  const float alpha = p.divide ? 1.0f / p.scale : p.scale, one = 1.0f, zero = 0.0f;
  const int in = static_cast<int>(n), sq = static_cast<int>(p.q_len), sk = static_cast<int>(p.kv_len),
            ls = static_cast<int>(pitch);
  if (p.head_dim == 0) {  // empty dot products (cuBLAS rejects a leading dimension of 0)
    SS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(scores, 0, score_bytes, ctx.lane.stream));
  } else {
    // Column-major: S_bh^T [Sk x Sq] = (K_bh stored [D x Sk])^T * (Q_bh stored [D x Sq]); K^T given
    // (keys_transposed) is stored [Sk x D] column-major, taken as it is. float32 at --precision tf32:
    // tensor cores through the handle's math mode (set per lane).
    SS_CUBLAS_RETURN_IF_ERROR(cublasGemmBatchedEx(ctx.lane.cublas, p.keys_transposed ? CUBLAS_OP_N : CUBLAS_OP_T,
                                                  CUBLAS_OP_N, sk, sq,
                                                  static_cast<int>(p.head_dim), &alpha, ptrs + stride, dt,
                                                  static_cast<int>(ldk), ptrs, dt, static_cast<int>(ldq), &zero,
                                                  ptrs + 3 * stride, dt, ls, in, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_attention_softmax(cuda_elem(t), scores, p.batch, p.heads, p.q_len, p.kv_len,
                                                              pitch, mask ? mask->raw() : nullptr, p.mask_strides,
                                                              p.nan_to_zero, ctx.lane.stream));
  // Y_bh^T [Dv x Sq] = (V_bh stored [Dv x Sk]) * (P_bh stored [Sk x Sq]). cuBLAS cannot see the
  // matrices behind a pointer array and wants each aligned as the inner dimension (Sk) allows: 16
  // bytes when it is a multiple of 8, 4 when even. V's and Y's heads start every Dv values, which a
  // small head in float16 may not give (Q and K's heads, every D values with D the inner dimension of
  // the first product, always do). Such heads go per example, one strided product over the heads,
  // whose strides cuBLAS sees and fits its kernel to.
  const int64_t head_bytes = p.v_dim * static_cast<int64_t>(es);
  if ((p.kv_len % 8 != 0 || head_bytes % 16 == 0) && (p.kv_len % 2 != 0 || head_bytes % 4 == 0)) {
    SS_CUBLAS_RETURN_IF_ERROR(cublasGemmBatchedEx(ctx.lane.cublas, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(p.v_dim), sq,
                                                  sk, &one, ptrs + 2 * stride, dt, static_cast<int>(ldv), ptrs + 3 * stride,
                                                  dt, ls, &zero, ptrs + 4 * stride, dt, static_cast<int>(ldy), in,
                                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  } else {
    const auto* v_base = static_cast<const char*>(ctx.inputs[2]->raw());
    for (int64_t b = 0; b < p.batch; ++b) {  // the offsets of attention_pointers_kernel
      const int64_t bv = p.v_batch == 1 ? 0 : b;
      const char* v = v_base + bv * p.kv_len * p.v_heads * head_bytes;
      const char* pb = static_cast<const char*>(scores) + b * p.heads * p.q_len * pitch * static_cast<int64_t>(es);
      char* yb = static_cast<char*>(y.raw()) + b * p.q_len * p.heads * head_bytes;
      SS_CUBLAS_RETURN_IF_ERROR(cublasGemmStridedBatchedEx(
          ctx.lane.cublas, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(p.v_dim), sq, sk, &one, v, dt, static_cast<int>(ldv),
          p.v_heads == 1 ? 0 : p.v_dim, pb, dt, ls, p.q_len * pitch, &zero, yb, dt, static_cast<int>(ldy), p.v_dim,
          static_cast<int>(p.heads), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ---- MatMulInteger, ConvInteger (op_plans_nn.h): our kernels in kernels/quantize.cu ----

namespace {
kernels::IntOperand int_operand(const Tensor& t, const IntZeroPoint& z) {
  return {cuda_elem(t.dtype()), t.raw(), z.t ? z.t->raw() : nullptr, z.stride != 0};
}
}  // namespace

// As cuda_matmul: B one matrix, A's batch folded into rows; otherwise a product per broadcast batch
// index. (cuBLAS's int8 products take signed operands without zero points, and quantize_dynamic's
// A is uint8 with one: the tiled kernel takes both as they are.)
Status cuda_matmul_integer(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(MatMulIntegerPlan p, matmul_integer_plan(ctx.node, ctx.inputs));
  const Tensor& a = *ctx.inputs[0];
  const Tensor& b = *ctx.inputs[1];
  const MatMulPlan& mm = p.mm;
  Tensor y(DType::kInt32, mm.out_shape);
  if (y.numel() > 0 && mm.k == 0) SS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y.raw(), 0, y.nbytes(), ctx.lane.stream));
  if (y.numel() > 0 && mm.k > 0) {
    kernels::IntOperand ao = int_operand(a, p.a_zp), bo = int_operand(b, p.b_zp);
    if (mm.nbb == 1 && mm.na == mm.nb) {
      SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_matmul_integer(ao, bo, y.data<int32_t>(), mm.na * mm.m, mm.n, mm.k,
                                                               ctx.lane.stream));
    } else {
      const int64_t ea = dtype_size(a.dtype()), eb = dtype_size(b.dtype());
      for (int64_t bi = 0; bi < mm.nb; ++bi) {
        ao.data = static_cast<const char*>(a.raw()) + mm.a_matrix(bi) * mm.m * mm.k * ea;
        bo.data = static_cast<const char*>(b.raw()) + mm.b_matrix(bi) * mm.k * mm.n * eb;
        SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_matmul_integer(ao, bo, y.data<int32_t>() + bi * mm.m * mm.n, mm.m, mm.n,
                                                                 mm.k, ctx.lane.stream));
      }
    }
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_conv_integer(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ConvIntegerPlan p, conv_integer_plan(ctx.node, ctx.inputs));
  const Tensor& x = *ctx.inputs[0];
  const Tensor& w = *ctx.inputs[1];
  const ConvPlan& c = p.conv;
  kernels::ConvIntegerGeometry g;
  g.n = c.n;
  g.c = c.c;
  g.h = x.dim(2);
  g.w = x.dim(3);
  g.m = c.m;
  g.group = c.group;
  g.kh = c.g.k[0];
  g.kw = c.g.k[1];
  g.oh = c.g.out[0];
  g.ow = c.g.out[1];
  for (int i = 0; i < 2; ++i) {
    g.s[i] = c.g.s[i];
    g.d[i] = c.g.d[i];
    g.pb[i] = c.g.pb[i];
  }
  Tensor y(DType::kInt32, c.out_shape);
  SS_LAUNCH_RETURN_IF_ERROR(
      kernels::launch_conv_integer(int_operand(x, p.x_zp), int_operand(w, p.w_zp), y.data<int32_t>(), g, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore
