#include <cublas_api.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cmath>
#include <vector>

#include "kernels/cuda_check.cuh"
#include "kernels/cuda_runtime_info.h"
#include "kernels/kernel_util.cuh"

namespace shardscore::cuda {

namespace {
__global__ void saxpy_kernel(int n, float a, const float* __restrict__ x, float* __restrict__ y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}
}  // namespace

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  cudaRuntimeGetVersion(&info.runtime_version);
  if (cudaDriverGetVersion(&info.driver_version) != cudaSuccess) info.driver_version = 0;
  cublasGetProperty(MAJOR_VERSION, &info.cublas_major);
  cublasGetProperty(MINOR_VERSION, &info.cublas_minor);
  info.cudnn_version = static_cast<long>(cudnnGetVersion());
  cudaError_t err = cudaGetDeviceCount(&info.device_count);
  if (err != cudaSuccess) {
    info.device_count = 0;
    info.device_error = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
  }
  return info;
}

namespace {
__global__ void fault_probe_kernel(kernels::FaultSink sink, int n, bool reversed) {
  SS_GRID_STRIDE_LOOP(i, n) {
    const long long pos = reversed ? n - 1 - i : 0;
    kernels::report_fault(sink, kernels::FaultKind::kIndexOutOfRange, static_cast<unsigned long long>(pos), 1000 + pos, 7,
                          static_cast<int>(pos % 3));
  }
}
}  // namespace

bool fault_record_self_check(int n, kernels::DeviceFault* out) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return false;
  }
  kernels::DeviceFault* d = nullptr;
  SS_CUDA_OR(cudaMalloc(&d, sizeof *d), return false);
  bool ok = cudaMemset(d, 0, sizeof *d) == cudaSuccess;
  if (ok) {
    fault_probe_kernel<<<(n + 255) / 256, 256>>>(kernels::FaultSink{d, 1u, 0}, n, true);
    fault_probe_kernel<<<(n + 255) / 256, 256>>>(kernels::FaultSink{d, 2u, 0}, n, false);
    ok = cudaGetLastError() == cudaSuccess && cudaMemcpy(out, d, sizeof *d, cudaMemcpyDeviceToHost) == cudaSuccess;
  }
  cudaFree(d);
  return ok;
}

double saxpy_self_check(int n) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return -1.0;
  }
  std::vector<float> x(n), y(n), want(n);
  for (int i = 0; i < n; ++i) {
    x[i] = 0.5f * static_cast<float>(i % 97);
    y[i] = static_cast<float>(i % 13) - 6.0f;
    want[i] = 3.0f * x[i] + y[i];
  }
  float *dx = nullptr, *dy = nullptr;
  SS_CUDA_OR(cudaMalloc(&dx, n * sizeof(float)), return -2.0);
  SS_CUDA_OR(cudaMalloc(&dy, n * sizeof(float)), cudaFree(dx); return -2.0);
  SS_CUDA_OR(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaFree(dx); cudaFree(dy); return -2.0);
  SS_CUDA_OR(cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaFree(dx); cudaFree(dy); return -2.0);
  saxpy_kernel<<<(n + 255) / 256, 256>>>(n, 3.0f, dx, dy);
  SS_CUDA_OR(cudaGetLastError(), cudaFree(dx); cudaFree(dy); return -2.0);
  SS_CUDA_OR(cudaMemcpy(y.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost), cudaFree(dx); cudaFree(dy); return -2.0);
  cudaFree(dx);
  cudaFree(dy);
  double worst = 0;
  for (int i = 0; i < n; ++i) worst = std::max(worst, static_cast<double>(std::fabs(y[i] - want[i])));
  return worst;
}

}  // namespace shardscore::cuda
