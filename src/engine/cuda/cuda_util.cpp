#include "engine/cuda/cuda_util.h"

#include <bit>
#include <string>

#include "engine/cpu/float16.h"

namespace shardscore {

const char* cuda_precision_name(CudaPrecision p) {
  switch (p) {
    case CudaPrecision::kFp32: return "fp32";
    case CudaPrecision::kTf32: return "tf32";
    case CudaPrecision::kFp16: return "fp16";
    case CudaPrecision::kBf16: return "bf16";
  }
  return "?";
}

uint16_t cuda_double_to_bf16(double d) {
  const uint64_t bits = std::bit_cast<uint64_t>(d);
  const uint16_t sign = static_cast<uint16_t>((bits >> 48) & 0x8000u);
  const int64_t exp = static_cast<int64_t>((bits >> 52) & 0x7ffu);
  const uint64_t frac = bits & ((uint64_t{1} << 52) - 1);
  if (exp == 0x7ff) {
    if (frac == 0) return static_cast<uint16_t>(sign | 0x7f80u);
    return static_cast<uint16_t>(sign | 0x7fc0u | static_cast<uint16_t>(frac >> 45));  // quiet NaN
  }
  if (exp == 0) return sign;  // zero or a double subnormal: far below bfloat16's smallest subnormal
  const int64_t e = exp - 1023;
  const uint64_t m = (uint64_t{1} << 52) | frac;  // 53-bit significand, value m * 2^(e-52)
  // Keep 8 significant bits for a normal bfloat16, fewer for a subnormal (unit 2^-133).
  const int64_t shift = e >= -126 ? 45 : -81 - e;
  if (shift >= 64) return sign;
  uint64_t q = m >> shift;
  const uint64_t rem = m & ((uint64_t{1} << shift) - 1);
  const uint64_t half = uint64_t{1} << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) ++q;
  if (e < -126) return static_cast<uint16_t>(sign | q);  // q == 0x80 is the smallest normal: same encoding
  int64_t be = e + 127;
  if (q == (uint64_t{1} << 8)) {
    q >>= 1;
    ++be;
  }
  if (be >= 255) return static_cast<uint16_t>(sign | 0x7f80u);
  return static_cast<uint16_t>(sign | (static_cast<uint16_t>(be) << 7) | static_cast<uint16_t>(q & 0x7fu));
}

uint16_t cuda_double_to_half_bits(DType t, double d) {
  return t == DType::kBFloat16 ? cuda_double_to_bf16(d) : double_to_half(d);
}

Status cuda_status(cudaError_t e, const char* call) {
  std::string m = std::string(call) + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  if (e == cudaErrorMemoryAllocation) return resource_exhausted(m);
  return internal_error(m);
}

Status cublas_status(cublasStatus_t e, const char* call) {
  std::string m = std::string(call) + " failed: " + cublasGetStatusName(e) + " (" + cublasGetStatusString(e) + ")";
  if (e == CUBLAS_STATUS_ALLOC_FAILED) return resource_exhausted(m);
  return internal_error(m);
}

Status cudnn_status(cudnnStatus_t e, const char* call) {
  std::string m = std::string(call) + " failed: " + cudnnGetErrorString(e);
  if (e == CUDNN_STATUS_ALLOC_FAILED) return resource_exhausted(m);
  if (e == CUDNN_STATUS_NOT_SUPPORTED) return unimplemented(m);
  return internal_error(m);
}

StatusOr<kernels::StridedIndex> cuda_strided_index(const Shape& own, const Shape& out) {
  kernels::StridedIndex ix;
  if (out.size() > static_cast<std::size_t>(kernels::kMaxRank)) {
    return invalid_argument("rank " + std::to_string(out.size()) + " is above the CUDA backend's limit of " +
                            std::to_string(kernels::kMaxRank));
  }
  if (own.size() > out.size()) {
    // Not a broadcast operand of `out`: `lead` below would wrap around.
    return invalid_argument("shape " + shape_to_string(own) + " does not broadcast to " + shape_to_string(out));
  }
  ix.rank = static_cast<int>(out.size());
  const std::size_t lead = out.size() - own.size();
  int64_t stride = 1;
  for (std::size_t k = out.size(); k-- > 0;) {
    ix.dims[k] = out[k];
    if (k < lead) {
      ix.strides[k] = 0;
      continue;
    }
    const int64_t d = own[k - lead];
    ix.strides[k] = d == 1 ? 0 : stride;
    stride *= d;
  }
  return ix;
}

StatusOr<const Tensor*> cuda_required_input(const CudaOpContext& ctx, std::size_t i) {
  const Tensor* t = ctx.input(i);
  if (!t) return invalid_argument("required input " + std::to_string(i) + " is missing");
  return t;
}

}  // namespace shardscore
