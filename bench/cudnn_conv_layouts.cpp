// cudnn_conv_layouts: ResNet-50's 53 convolutions through cuDNN as the CUDA backend calls them
// (NCHW, the heuristic's first algorithm whose workspace fits 512 MB, float32 accumulation) and in
// NHWC, the layout tensor cores read without a transpose, at one batch size and precision; in NHWC
// also with the bias + ReLU that follows each of them, as the backend's own pass and as cuDNN's
// fused call (as SHARDSCORE_CUDA_CUDNN_EPILOGUE=1 runs it). Prints per layer shape the median milliseconds of each and the whole network's sum
// weighted by how often the shape occurs, as images/s of convolutions alone: the ceiling the
// backend's ResNet-50 cannot pass while it runs NCHW, what NHWC would lift it to, and what the
// separate epilogue costs. Needs a GPU (tools/gpu_check.sh runs it with GPU_CHECK_BENCH=1).
//
//   cudnn_conv_layouts [--batch 256] [--precision fp16|bf16|fp32] [--repeats 10]
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "engine/cpu/float16.h"
#include "kernels/gemm_conv.h"

namespace {

// One checking macro per C API, as in the backend: the call and its error, then exit 1.
#define CHECK_CUDA(call)                                                                              \
  do {                                                                                                \
    const cudaError_t e_ = (call);                                                                    \
    if (e_ != cudaSuccess) {                                                                          \
      std::fprintf(stderr, "cudnn_conv_layouts: %s failed: %s\n", #call, cudaGetErrorString(e_));     \
      std::exit(1);                                                                                   \
    }                                                                                                 \
  } while (0)
#define CHECK_CUDNN(call)                                                                             \
  do {                                                                                                \
    const cudnnStatus_t s_ = (call);                                                                  \
    if (s_ != CUDNN_STATUS_SUCCESS) {                                                                 \
      std::fprintf(stderr, "cudnn_conv_layouts: %s failed: %s\n", #call, cudnnGetErrorString(s_));    \
      std::exit(1);                                                                                   \
    }                                                                                                 \
  } while (0)

struct Layer {
  int c, hw, k, r, stride, count;  // input channels, input size, output channels, kernel, stride, uses
};
// ResNet-50 v1.5 (stride on the 3x3), 224x224 input: every distinct convolution and how often.
const Layer kResNet50[] = {
    {3, 224, 64, 7, 2, 1},                                                          // stem
    {64, 56, 64, 1, 1, 1},    {256, 56, 64, 1, 1, 2},   {64, 56, 64, 3, 1, 3},     // layer1
    {64, 56, 256, 1, 1, 4},                                                         // conv3 x3 + downsample
    {256, 56, 128, 1, 1, 1},  {128, 56, 128, 3, 2, 1},  {128, 28, 512, 1, 1, 4},   // layer2
    {256, 56, 512, 1, 2, 1},  {512, 28, 128, 1, 1, 3},  {128, 28, 128, 3, 1, 3},
    {512, 28, 256, 1, 1, 1},  {256, 28, 256, 3, 2, 1},  {256, 14, 1024, 1, 1, 6},  // layer3
    {512, 28, 1024, 1, 2, 1}, {1024, 14, 256, 1, 1, 5}, {256, 14, 256, 3, 1, 5},
    {1024, 14, 512, 1, 1, 1}, {512, 14, 512, 3, 2, 1},  {512, 7, 2048, 1, 1, 3},   // layer4
    {1024, 14, 2048, 1, 2, 1}, {2048, 7, 512, 1, 1, 2}, {512, 7, 512, 3, 1, 2},
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median milliseconds of one convolution in `format` (conv), of the convolution followed by the
// backend's own bias + ReLU pass over its output (kernels::launch_epilogue, as the CUDA backend runs a
// FusedConv by default: epi), and of cuDNN's fused cudnnConvolutionBiasActivationForward with a
// NaN-propagating ReLU (fused: one pass; what SHARDSCORE_CUDA_CUDNN_EPILOGUE=1 runs). Negative where
// cuDNN offers no algorithm or refuses the fused call.
struct Times {
  double conv = -1, epi = -1, fused = -1;
  std::string algo;
};

Times time_conv(cudnnHandle_t h, const Layer& l, int n, cudnnTensorFormat_t format, cudnnDataType_t dt, int repeats) {
  Times t;
  const int pad = l.r / 2, out = (l.hw + 2 * pad - l.r) / l.stride + 1;
  cudnnTensorDescriptor_t x, y, bias;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  cudnnActivationDescriptor_t relu;
  CHECK_CUDNN(cudnnCreateTensorDescriptor(&x));
  CHECK_CUDNN(cudnnCreateTensorDescriptor(&y));
  CHECK_CUDNN(cudnnCreateTensorDescriptor(&bias));
  CHECK_CUDNN(cudnnCreateFilterDescriptor(&w));
  CHECK_CUDNN(cudnnCreateConvolutionDescriptor(&conv));
  CHECK_CUDNN(cudnnCreateActivationDescriptor(&relu));
  CHECK_CUDNN(cudnnSetTensor4dDescriptor(x, format, dt, n, l.c, l.hw, l.hw));
  CHECK_CUDNN(cudnnSetFilter4dDescriptor(w, dt, format, l.k, l.c, l.r, l.r));
  CHECK_CUDNN(cudnnSetConvolution2dDescriptor(conv, pad, pad, l.stride, l.stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                              CUDNN_DATA_FLOAT));
  CHECK_CUDNN(cudnnSetConvolutionMathType(conv, dt == CUDNN_DATA_FLOAT ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));
  CHECK_CUDNN(cudnnSetTensor4dDescriptor(y, format, dt, n, l.k, out, out));
  CHECK_CUDNN(cudnnSetTensor4dDescriptor(bias, format, dt, 1, l.k, 1, 1));
  CHECK_CUDNN(cudnnSetActivationDescriptor(relu, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
  cudnnConvolutionFwdAlgoPerf_t perf[16];
  int count = 0;
  CHECK_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(h, x, w, conv, y, 16, &count, perf));
  int pick = -1;
  for (int i = 0; i < count && pick < 0; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= (512u << 20)) pick = i;
  if (pick >= 0) {
    const std::size_t es = dt == CUDNN_DATA_FLOAT ? 4 : 2;
    const std::size_t nx = static_cast<std::size_t>(n) * l.c * l.hw * l.hw, nw = static_cast<std::size_t>(l.k) * l.c * l.r * l.r,
                      ny = static_cast<std::size_t>(n) * l.k * out * out;
    // Random values (not zeros: they can run faster than real data), the same bits in either layout.
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto fill = [&](void* dev, std::size_t count_) {
      std::vector<uint16_t> h16;
      std::vector<float> h32;
      if (es == 2) {
        h16.resize(count_);
        for (auto& v : h16) v = dt == CUDNN_DATA_HALF ? shardscore::float_to_half(normal(rng)) : shardscore::float_to_bfloat16(normal(rng));
        CHECK_CUDA(cudaMemcpy(dev, h16.data(), count_ * 2, cudaMemcpyHostToDevice));
      } else {
        h32.resize(count_);
        for (auto& v : h32) v = normal(rng);
        CHECK_CUDA(cudaMemcpy(dev, h32.data(), count_ * 4, cudaMemcpyHostToDevice));
      }
    };
    void *dx = nullptr, *dw = nullptr, *dy = nullptr, *db = nullptr, *ws = nullptr;
    CHECK_CUDA(cudaMalloc(&dx, nx * es));
    CHECK_CUDA(cudaMalloc(&dw, nw * es));
    CHECK_CUDA(cudaMalloc(&dy, ny * es));
    CHECK_CUDA(cudaMalloc(&db, l.k * es));
    if (perf[pick].memory) CHECK_CUDA(cudaMalloc(&ws, perf[pick].memory));
    fill(dx, nx);
    fill(dw, nw);
    fill(db, l.k);
    const float one = 1.0f, zero = 0.0f;
    cudaEvent_t e0, e1;
    CHECK_CUDA(cudaEventCreate(&e0));
    CHECK_CUDA(cudaEventCreate(&e1));
    const cudnnConvolutionFwdAlgo_t algo = perf[pick].algo;
    const std::size_t wsize = perf[pick].memory;
    const auto elem = dt == CUDNN_DATA_HALF ? shardscore::kernels::Elem::kF16
                      : dt == CUDNN_DATA_BFLOAT16 ? shardscore::kernels::Elem::kBF16
                                                  : shardscore::kernels::Elem::kF32;
    // Median of `repeats` timed calls after three warm-ups; negative when a call is refused.
    auto time = [&](auto&& call) {
      std::vector<double> times;
      for (int i = 0; i < repeats + 3; ++i) {
        CHECK_CUDA(cudaEventRecord(e0));
        if (!call()) return -1.0;
        CHECK_CUDA(cudaEventRecord(e1));
        CHECK_CUDA(cudaEventSynchronize(e1));
        float ms = 0;
        CHECK_CUDA(cudaEventElapsedTime(&ms, e0, e1));
        if (i >= 3) times.push_back(ms);
      }
      return median(times);
    };
    auto run_conv = [&] {
      CHECK_CUDNN(cudnnConvolutionForward(h, &one, x, dx, w, dw, conv, algo, ws, wsize, &zero, y, dy));
      return true;
    };
    t.conv = time(run_conv);
    if (format == CUDNN_TENSOR_NHWC) {
      t.epi = time([&] {
        run_conv();
        // NHWC: rows are the N * H * W pixels, columns the channels (as the backend calls it).
        CHECK_CUDA(shardscore::kernels::launch_epilogue(elem, dy, static_cast<int64_t>(n) * out * out, l.k, 1, db, nullptr,
                                                        shardscore::kernels::Epilogue::kRelu, nullptr));
        return true;
      });
      t.fused = time([&] {
        const cudnnStatus_t st = cudnnConvolutionBiasActivationForward(h, &one, x, dx, w, dw, conv, algo, ws, wsize, &zero, y,
                                                                       dy, bias, db, relu, y, dy);
        if (st != CUDNN_STATUS_SUCCESS) std::fprintf(stderr, "cudnnConvolutionBiasActivationForward: %s\n", cudnnGetErrorString(st));
        return st == CUDNN_STATUS_SUCCESS;
      });
    }
    t.algo = std::to_string(static_cast<int>(algo));
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(dx);
    cudaFree(dw);
    cudaFree(dy);
    cudaFree(db);
    if (ws) cudaFree(ws);
  }
  cudnnDestroyActivationDescriptor(relu);
  cudnnDestroyTensorDescriptor(x);
  cudnnDestroyTensorDescriptor(y);
  cudnnDestroyTensorDescriptor(bias);
  cudnnDestroyFilterDescriptor(w);
  cudnnDestroyConvolutionDescriptor(conv);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 256, repeats = 10;
  std::string precision = "fp16";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--batch") n = std::atoi(argv[i + 1]);
    else if (a == "--precision") precision = argv[i + 1];
    else if (a == "--repeats") repeats = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: cudnn_conv_layouts [--batch N] [--precision fp16|bf16|fp32] [--repeats R]\n");
      return 2;
    }
  }
  const cudnnDataType_t dt = precision == "fp16" ? CUDNN_DATA_HALF : precision == "bf16" ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "cudnn_conv_layouts: no CUDA device visible\n");
    return 1;
  }
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  cudnnHandle_t h;
  CHECK_CUDNN(cudnnCreate(&h));
  std::printf("%s, cuDNN %zu, batch %d, %s, median of %d\n\n", prop.name, cudnnGetVersion(), n, precision.c_str(), repeats);
  std::printf("| layer (C_in, HxW, K, RxS, stride) | uses | NCHW ms | NHWC ms | NHWC + epilogue ms | NHWC fused ms | "
              "NCHW TFLOP/s | NHWC TFLOP/s | algos |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
  double total[4] = {0, 0, 0, 0};
  bool complete[4] = {true, true, true, true};
  for (const Layer& l : kResNet50) {
    const Times a = time_conv(h, l, n, CUDNN_TENSOR_NCHW, dt, repeats);
    const Times b = time_conv(h, l, n, CUDNN_TENSOR_NHWC, dt, repeats);
    const int out = (l.hw + 2 * (l.r / 2) - l.r) / l.stride + 1;
    const double flop = 2.0 * n * l.k * out * out * l.c * l.r * l.r;
    std::printf("| %d, %dx%d, %d, %dx%d, %d | %d | %.3f | %.3f | %.3f | %.3f | %.0f | %.0f | %s / %s |\n", l.c, l.hw, l.hw, l.k,
                l.r, l.r, l.stride, l.count, a.conv, b.conv, b.epi, b.fused, a.conv > 0 ? flop / a.conv / 1e9 : 0.0,
                b.conv > 0 ? flop / b.conv / 1e9 : 0.0, a.algo.empty() ? "-" : a.algo.c_str(), b.algo.empty() ? "-" : b.algo.c_str());
    const double ms[4] = {a.conv, b.conv, b.epi, b.fused};
    for (int i = 0; i < 4; ++i) {
      total[i] += l.count * std::max(ms[i], 0.0);
      complete[i] = complete[i] && ms[i] > 0;
    }
  }
  const char* names[4] = {"NCHW", "NHWC", "NHWC + the backend's bias/ReLU pass", "NHWC, cuDNN's fused bias/ReLU"};
  std::printf("\nall 53 convolutions of one batch (every one with a bias and ReLU pass in the last two):\n");
  for (int i = 0; i < 4; ++i) {
    std::printf("- %s: %.2f ms (%.0f images/s)%s\n", names[i], total[i], total[i] > 0 ? n / total[i] * 1e3 : 0.0,
                complete[i] ? "" : " -- incomplete: some layers had no time");
  }
  cudnnDestroy(h);
  return 0;
}
