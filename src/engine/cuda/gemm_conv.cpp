// Products and convolutions on CUDA: cuBLAS for Gemm, MatMul and FusedGemm, cuDNN for Conv and
// FusedConv, with the element-wise epilogues in kernels/gemm_conv.cu. Checks, types and shapes as
// the CPU functions (src/engine/cpu/gemm.cpp, nn.cpp).
#include <climits>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "engine/cpu/broadcast.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/cuda_util.h"
#include "kernels/elementwise.h"
#include "kernels/gemm_conv.h"

namespace shardscore {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

bool cuda_float(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kFloat64; }

// One strided batch of row-major products: Y_i[m x n] = alpha * op(A_i)[m x k] * op(B_i)[k x n] + beta * Y_i.
// cuBLAS is column-major, so it computes Y^T = op(B)^T op(A)^T on the same memory.
struct RowMajorGemm {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  double alpha = 1, beta = 0;
  const void* a = nullptr;
  const void* b = nullptr;
  void* y = nullptr;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_y = 0;  // in elements
};

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
  switch (t) {
    case DType::kFloat32: dt = CUDA_R_32F; ct = CUBLAS_COMPUTE_32F; break;
    case DType::kFloat16: dt = CUDA_R_16F; ct = CUBLAS_COMPUTE_32F; break;
    case DType::kFloat64:
      dt = CUDA_R_64F;
      ct = CUBLAS_COMPUTE_64F;
      alpha = &ad;
      beta = &bd;
      break;
    default: return unimplemented("element type " + std::string(dtype_name(t)) + " is not supported");
  }
  // float32 at --precision tf32: tensor cores through the handle's math mode (set per lane).
  SS_CUBLAS_RETURN_IF_ERROR(cublasGemmStridedBatchedEx(
      ctx.lane.cublas, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(g.n),
      static_cast<int>(g.m), static_cast<int>(g.k), alpha, g.b, dt, static_cast<int>(ldb), g.stride_b, g.a, dt,
      static_cast<int>(lda), g.stride_a, beta, g.y, dt, static_cast<int>(g.n), g.stride_y, static_cast<int>(g.batch), ct,
      CUBLAS_GEMM_DEFAULT));
  return ok_status();
}

// Gemm and FusedGemm: Y = act(alpha * op(A) * op(B) + beta * C), A and B 2-D.
Status gemm_2d(CudaOpContext& ctx, const Tensor& a, const Tensor& b, const Tensor* c, const Shape& a_shape_for_messages,
               kernels::Epilogue act, Tensor* out) {
  const bool trans_a = ctx.node.attr_int("transA", 0) != 0;
  const bool trans_b = ctx.node.attr_int("transB", 0) != 0;
  const double alpha = ctx.node.attr_float("alpha", 1.0f);
  const double beta = ctx.node.attr_float("beta", 1.0f);
  const int64_t m = trans_a ? a.dim(1) : a.dim(0), k = trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = trans_b ? b.dim(1) : b.dim(0);
  const int64_t n = trans_b ? b.dim(0) : b.dim(1);
  if (k != kb) {
    return invalid_argument("A " + shape_to_string(a_shape_for_messages) + " and B " + shape_to_string(b.shape()) +
                            " do not multiply (transA=" + std::to_string(trans_a) + ", transB=" + std::to_string(trans_b) + ")");
  }
  Tensor y(a.dtype(), {m, n});
  double use_beta = 0;
  if (c && beta != 0) {
    const Shape& cs = c->shape();
    if (cs.size() > 2) return invalid_argument("C has rank " + std::to_string(cs.size()) + "; Gemm takes rank <= 2");
    const int64_t cm = cs.size() == 2 ? cs[0] : 1;
    const int64_t cn = cs.empty() ? 1 : cs.back();
    if ((cm != 1 && cm != m) || (cn != 1 && cn != n)) {
      return invalid_argument("C " + shape_to_string(cs) + " does not broadcast to [" + str(m) + ", " + str(n) + "]");
    }
    // With k = 0 the product is empty and Y = beta * C (cuBLAS is not asked: its leading
    // dimensions would be 0, which it rejects).
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_broadcast_rows(cuda_elem(c->dtype()), c->raw(), cm, cn, k == 0 ? beta : 1.0,
                                                             y.raw(), m, n, ctx.lane.stream));
    use_beta = beta;
  }
  RowMajorGemm g;
  g.trans_a = trans_a;
  g.trans_b = trans_b;
  g.m = m;
  g.n = n;
  g.k = k;
  g.alpha = alpha;
  g.beta = use_beta;
  g.a = a.raw();
  g.b = b.raw();
  g.y = y.raw();
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

StatusOr<kernels::Epilogue> activation_of(const Node& node, const char* op) {
  const Attribute* act = node.attr("activation");
  const std::string kind = act ? act->s : "";
  if (kind.empty()) return kernels::Epilogue::kNone;
  if (kind == "Relu") return kernels::Epilogue::kRelu;
  if (kind == "Sigmoid") return kernels::Epilogue::kSigmoid;
  if (kind == "Tanh") return kernels::Epilogue::kTanh;
  if (kind == "Gelu") return kernels::Epilogue::kGelu;
  return unimplemented(std::string(op) + " activation '" + kind + "'");
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
std::map<ConvKey, ConvAlgo> g_algos;

// float32 means float32 (FMA math, no TF32) unless --precision tf32; float16 uses tensor cores.
cudnnMathType_t conv_math(DType t, CudaPrecision p) {
  if (t == DType::kFloat16) return CUDNN_TENSOR_OP_MATH;
  if (t == DType::kFloat32 && p == CudaPrecision::kTf32) return CUDNN_DEFAULT_MATH;
  return CUDNN_FMA_MATH;
}

// The heuristically best algorithm for this convolution whose workspace fits, chosen once per
// node and input shape (no benchmarking: the choice, and so the bits, are the same every run).
StatusOr<ConvAlgo> conv_algo(CudaOpContext& ctx, const ConvDescriptors& d, const ConvKey& key) {
  {
    std::lock_guard lock(g_algo_mutex);
    auto it = g_algos.find(key);
    if (it != g_algos.end()) return it->second;
  }
  constexpr int kMax = 16;
  cudnnConvolutionFwdAlgoPerf_t perf[kMax];
  int count = 0;
  SS_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionForwardAlgorithm_v7(ctx.lane.cudnn, d.x, d.w, d.conv, d.y, kMax, &count, perf));
  constexpr std::size_t kWorkspaceLimit = 512u << 20;
  const cudnnMathType_t math = conv_math(key.dtype, key.precision);
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kWorkspaceLimit) continue;
    // Down-conversion (float32 computed in float16) is never what --precision asked for.
    if (perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION && key.dtype != DType::kFloat16) continue;
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
    std::lock_guard lock(g_algo_mutex);
    return g_algos.emplace(key, a).first->second;  // a racing thread's choice, if it was first
  }
  return unimplemented("cuDNN offers no forward algorithm for this convolution");
}

Status conv(CudaOpContext& ctx, const Tensor* residual, bool relu) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* w, cuda_required_input(ctx, 1));
  const Tensor* b = ctx.input(2);
  SS_RETURN_IF_ERROR(require_nchw(*x, "Conv"));
  if (!cuda_float(x->dtype())) {
    return unimplemented("Conv element type " + std::string(dtype_name(x->dtype())) + " is not supported");
  }
  if (w->rank() != 4) {
    return invalid_argument("W " + shape_to_string(w->shape()) + " must be 4-D [M, C/group, kH, kW] for 4-D X " +
                            shape_to_string(x->shape()));
  }
  if (w->dtype() != x->dtype() || (b && b->dtype() != x->dtype())) return invalid_argument("input types differ");
  const int64_t group = ctx.node.attr_int("group", 1);
  const int64_t c = x->dim(1), m = w->dim(0);
  if (group <= 0) return invalid_argument("group " + str(group) + " must be positive");
  if (c % group != 0 || m % group != 0 || w->dim(1) * group != c) {
    return invalid_argument("X has " + str(c) + " channels and W " + shape_to_string(w->shape()) + " " + str(m) +
                            " output channels of " + str(w->dim(1)) + " input channels each, which does not fit group " +
                            str(group));
  }
  if (const Attribute* ks = ctx.node.attr("kernel_shape")) {
    if (ks->ints != std::vector<int64_t>{w->dim(2), w->dim(3)}) {
      return invalid_argument("kernel_shape " + shape_to_string(ks->ints) + " does not match W " + shape_to_string(w->shape()));
    }
  }
  if (b && (b->rank() != 1 || b->dim(0) != m)) {
    return invalid_argument("B " + shape_to_string(b->shape()) + " must be 1-D with " + str(m) +
                            " values (one per output channel)");
  }
  const int64_t in[2] = {x->dim(2), x->dim(3)};
  const int64_t k[2] = {w->dim(2), w->dim(3)};
  Window2d g;
  SS_RETURN_IF_ERROR(window_geometry(ctx.node, in, k, false, &g));
  const int64_t n = x->dim(0);
  Tensor y(x->dtype(), {n, m, g.out[0], g.out[1]});
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
    padded = Tensor(x->dtype(), {n, c, in[0] + g.pb[0] + g.pe[0], in[1] + g.pb[1] + g.pe[1]});
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_zero_pad_2d(cuda_elem(x->dtype()), x->raw(), padded.raw(), n, c, in[0], in[1],
                                                          g.pb[0], g.pe[0], g.pb[1], g.pe[1], ctx.lane.stream));
    src = &padded;
    pad[0] = pad[1] = 0;
  }

  const cudnnDataType_t dt = x->dtype() == DType::kFloat32   ? CUDNN_DATA_FLOAT
                             : x->dtype() == DType::kFloat16 ? CUDNN_DATA_HALF
                                                             : CUDNN_DATA_DOUBLE;
  const cudnnDataType_t compute = x->dtype() == DType::kFloat64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  ConvDescriptors d;
  SS_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&d.x));
  SS_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&d.y));
  SS_CUDNN_RETURN_IF_ERROR(cudnnCreateFilterDescriptor(&d.w));
  SS_CUDNN_RETURN_IF_ERROR(cudnnCreateConvolutionDescriptor(&d.conv));
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NCHW, dt, static_cast<int>(n), static_cast<int>(c),
                                                      static_cast<int>(src->dim(2)), static_cast<int>(src->dim(3))));
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetFilter4dDescriptor(d.w, dt, CUDNN_TENSOR_NCHW, static_cast<int>(m),
                                                      static_cast<int>(w->dim(1)), static_cast<int>(k[0]),
                                                      static_cast<int>(k[1])));
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
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(d.y, CUDNN_TENSOR_NCHW, dt, on, oc, oh, ow));
  const ConvKey key{ctx.lane.device,
                    {n, c, src->dim(2), src->dim(3), m, w->dim(1), k[0], k[1], pad[0], pad[1], g.s[0], g.s[1], g.d[0],
                     g.d[1], group},
                    x->dtype(),
                    ctx.lane.precision};
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(d.conv, conv_math(x->dtype(), ctx.lane.precision)));
  SS_ASSIGN_OR_RETURN(ConvAlgo algo, conv_algo(ctx, d, key));
  SS_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(d.conv, algo.math));
  void* workspace = algo.workspace ? ctx.scratch(algo.workspace) : nullptr;
  const float one_f = 1.0f, zero_f = 0.0f;
  const double one_d = 1.0, zero_d = 0.0;
  const bool dbl = x->dtype() == DType::kFloat64;
  SS_CUDNN_RETURN_IF_ERROR(cudnnConvolutionForward(ctx.lane.cudnn, dbl ? static_cast<const void*>(&one_d) : &one_f, d.x,
                                                   src->raw(), d.w, w->raw(), d.conv, algo.algo, workspace, algo.workspace,
                                                   dbl ? static_cast<const void*>(&zero_d) : &zero_f, d.y, y.raw()));

  // Bias, residual and Relu in one pass (ours: cuDNN's Relu would turn NaN into 0).
  const kernels::Epilogue act = relu ? kernels::Epilogue::kRelu : kernels::Epilogue::kNone;
  const bool residual_in_epilogue = residual && residual->shape() == y.shape() && residual->dtype() == y.dtype();
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
                                                     y.raw(), yi, residual->raw(), ri, sum.raw(), sum.numel(), ctx.lane.stream));
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

Status cuda_gemm(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, cuda_required_input(ctx, 1));
  const Tensor* c = ctx.input(2);
  if (a->rank() != 2 || b->rank() != 2) {
    return invalid_argument("Gemm takes 2-D A and B, got " + shape_to_string(a->shape()) + " and " + shape_to_string(b->shape()));
  }
  if (a->dtype() != b->dtype() || (c && c->dtype() != a->dtype())) return invalid_argument("input types differ");
  if (!cuda_float(a->dtype())) return unimplemented("element type " + std::string(dtype_name(a->dtype())) + " is not supported");
  return gemm_2d(ctx, *a, *b, c, a->shape(), kernels::Epilogue::kNone, &ctx.outputs[0]);
}

Status cuda_fused_gemm(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* a, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b, cuda_required_input(ctx, 1));
  if (a->rank() < 2 || b->rank() != 2) return invalid_argument("FusedGemm takes A of rank >= 2 and a 2-D B");
  if ((a->dtype() != DType::kFloat32 && a->dtype() != DType::kFloat16) || b->dtype() != a->dtype()) {
    return unimplemented("FusedGemm runs float32 (and float16) only");
  }
  const Tensor* c = ctx.input(2);
  if (c && c->dtype() != a->dtype()) return invalid_argument("input types differ");
  SS_ASSIGN_OR_RETURN(kernels::Epilogue act, activation_of(ctx.node, "FusedGemm"));
  const Shape lead(a->shape().begin(), a->shape().end() - 1);
  const Tensor a2 = a->reshaped({shape_numel(lead), a->dim(a->rank() - 1)});
  Tensor y;
  SS_RETURN_IF_ERROR(gemm_2d(ctx, a2, *b, c, a2.shape(), act, &y));
  Shape out = lead;
  out.push_back(y.dim(1));
  ctx.outputs[0] = y.reshaped(out);
  return ok_status();
}

Status cuda_matmul(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* a_in, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* b_in, cuda_required_input(ctx, 1));
  if (a_in->dtype() != b_in->dtype()) return invalid_argument("input types differ");
  if (!cuda_float(a_in->dtype())) return unimplemented("element type " + std::string(dtype_name(a_in->dtype())) + " is not supported");
  // numpy semantics: 1-D operands are promoted to matrices and the added dimension removed after.
  Shape as = a_in->shape(), bs = b_in->shape();
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  if (as.size() < 2 || bs.size() < 2) return invalid_argument("MatMul of scalars is not defined");
  const int64_t m = as[as.size() - 2], k = as.back(), kb = bs[bs.size() - 2], n = bs.back();
  if (k != kb) {
    return invalid_argument("A " + shape_to_string(a_in->shape()) + " and B " + shape_to_string(b_in->shape()) + " do not multiply");
  }
  Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  const std::size_t r = std::max(a_batch.size(), b_batch.size());
  Shape batch(r);
  for (std::size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a_batch.size() ? 1 : a_batch[i - (r - a_batch.size())];
    int64_t db = i < r - b_batch.size() ? 1 : b_batch[i - (r - b_batch.size())];
    if (da != db && da != 1 && db != 1) {
      return invalid_argument("batch dimensions of " + shape_to_string(a_in->shape()) + " and " +
                              shape_to_string(b_in->shape()) + " cannot be broadcast");
    }
    batch[i] = std::max(da, db);
  }
  Shape out_shape = batch;
  if (!a_vec) out_shape.push_back(m);
  if (!b_vec) out_shape.push_back(n);
  Tensor y(a_in->dtype(), out_shape);
  const int64_t nb = shape_numel(batch), na = shape_numel(a_batch), nbb = shape_numel(b_batch);
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
    auto offset = [&](const Shape& own, int64_t flat) {
      int64_t off = 0, stride = 1;
      for (std::size_t i = r; i-- > 0;) {
        const int64_t idx = flat % batch[i];
        flat /= batch[i];
        const std::size_t lead = r - own.size();
        if (i >= lead) {
          const int64_t d = own[i - lead];
          off += (d == 1 ? 0 : idx) * stride;
          stride *= d;
        }
      }
      return off;
    };
    g.m = m;
    for (int64_t bi = 0; bi < nb; ++bi) {
      g.a = static_cast<const std::byte*>(a_in->raw()) + offset(a_batch, bi) * m * k * es;
      g.b = static_cast<const std::byte*>(b_in->raw()) + offset(b_batch, bi) * k * n * es;
      g.y = static_cast<std::byte*>(y.raw()) + bi * m * n * es;
      SS_RETURN_IF_ERROR(gemm_rowmajor(ctx, y.dtype(), g));
    }
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cuda_conv(CudaOpContext& ctx) { return conv(ctx, nullptr, false); }

Status cuda_fused_conv(CudaOpContext& ctx) {
  const Attribute* act = ctx.node.attr("activation");
  const std::string kind = act ? act->s : "";
  if (!kind.empty() && kind != "Relu") return unimplemented("FusedConv activation '" + kind + "'");
  if (ctx.node.attr("dst_layout")) return unimplemented("FusedConv in the CPU backend's blocked layout");
  return conv(ctx, ctx.input(3), kind == "Relu");
}

}  // namespace shardscore
