#pragma once
// Device-side helpers shared by the kernel files (.cu only).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/kernel_types.h"
#include "kernels/round_like_cpu.cuh"

namespace shardscore::kernels {

// Flat position in an operand of output element i (row-major over ix.dims).
__device__ __forceinline__ int64_t strided_offset(int64_t i, const StridedIndex& ix) {
  int64_t off = 0;
  for (int k = ix.rank - 1; k >= 0; --k) {
    const int64_t d = ix.dims[k];
    const int64_t q = i / d;
    off += (i - q * d) * ix.strides[k];
    i = q;
  }
  return off;
}

// Whether the operand is laid out exactly like the output (no broadcast): offsets are then i.
inline bool strided_is_dense(const StridedIndex& ix) {
  int64_t stride = 1;
  for (int k = ix.rank - 1; k >= 0; --k) {
    if (ix.dims[k] != 1 && ix.strides[k] != stride) return false;
    stride *= ix.dims[k];
  }
  return true;
}

// Grid size for a grid-stride loop over n elements.
inline unsigned grid_for(int64_t n, int block) {
  const int64_t blocks = (n + block - 1) / block;
  return static_cast<unsigned>(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

#define SS_GRID_STRIDE_LOOP(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// Records a failing value for the host (kernel_types.h, DeviceFault). Deterministic: of the steps
// of a batch, the first that fails owns the record (steps run in stream order, so a later step
// sees the tag already set and records nothing), and of its failing positions the lowest wins,
// whatever order threads get here - the same position the CPU function reports first. Only failing
// threads get here, so a batch without one pays nothing but the test that led here (out of line,
// so the hot loops that call it keep their registers; the sink by value, as a kernel parameter's
// address would need a local copy).
__device__ __noinline__ inline void report_fault(FaultSink s, FaultKind kind, unsigned long long pos, long long value,
                                    long long extent, int where) {
  DeviceFault* r = s.record;
  if (r == nullptr) return;
  const unsigned int owner = atomicCAS(&r->tag, 0u, s.tag);
  if (owner != 0u && owner != s.tag) return;  // an earlier step of the batch failed first
  volatile DeviceFault* v = r;
  if (v->pos1 != 0ull && v->pos1 <= pos + 1) return;  // a lower position is already recorded
  // The fields go together, so one writer at a time (sm_70+ schedules threads of a warp
  // independently: a spin lock cannot starve the thread that holds it).
  while (atomicCAS(&r->lock, 0u, 1u) != 0u) __nanosleep(64);
  __threadfence();
  if (v->pos1 == 0ull || pos + 1 < v->pos1) {
    v->kind = static_cast<int>(kind);
    v->where = s.where + where;
    v->value = value;
    v->extent = extent;
    v->data_rank = s.data_rank;
    for (int k = 0; k < s.data_rank && k < kMaxRank; ++k) v->data_dims[k] = s.data_dims[k];
    v->pos1 = pos + 1;
  }
  __threadfence();
  atomicExch(&r->lock, 0u);
}

// Loads and stores in the compute type: float16 and bfloat16 widen to float and round back once.
template <typename T> struct Compute { using type = T; };
template <> struct Compute<__half> { using type = float; };
template <> struct Compute<__nv_bfloat16> { using type = float; };

template <typename T> __device__ __forceinline__ typename Compute<T>::type load(T v) { return v; }
__device__ __forceinline__ float load(__half v) { return __half2float(v); }
__device__ __forceinline__ float load(__nv_bfloat16 v) { return __bfloat162float(v); }

// 1 / (1 + e^-x), in two branches that keep exp's argument non-positive (the CPU's sigmoid_stable).
template <typename C> __device__ __forceinline__ C sigmoid_stable(C v) {
  if (v >= C(0)) return C(1) / (C(1) + exp(-v));
  const C e = exp(v);
  return e / (C(1) + e);
}

template <typename T, typename C> __device__ __forceinline__ T store(C v) { return static_cast<T>(v); }
template <> __device__ __forceinline__ __half store<__half, float>(float v) { return f16_like_cpu(v); }
template <> __device__ __forceinline__ __nv_bfloat16 store<__nv_bfloat16, float>(float v) { return bf16_like_cpu(v); }

}  // namespace shardscore::kernels

// ---- Element-type dispatch and sizes, for any kernel file ----
namespace shardscore::kernels {

// The C++ type of a stored element, passed to dispatch callbacks: typename decltype(tag)::type.
template <class T>
struct ElemTag {
  using type = T;
};

// Calls f(ElemTag<T>{}) for every numeric element type but bool (float16 as __half, bfloat16 as
// __nv_bfloat16); false for the others.
template <class F>
bool dispatch_numeric(Elem e, F&& f) {
  switch (e) {
    case Elem::kF32: f(ElemTag<float>{}); return true;
    case Elem::kF64: f(ElemTag<double>{}); return true;
    case Elem::kF16: f(ElemTag<__half>{}); return true;
    case Elem::kBF16: f(ElemTag<__nv_bfloat16>{}); return true;
    case Elem::kI8: f(ElemTag<int8_t>{}); return true;
    case Elem::kI16: f(ElemTag<int16_t>{}); return true;
    case Elem::kI32: f(ElemTag<int32_t>{}); return true;
    case Elem::kI64: f(ElemTag<int64_t>{}); return true;
    case Elem::kU8: f(ElemTag<uint8_t>{}); return true;
    case Elem::kU16: f(ElemTag<uint16_t>{}); return true;
    case Elem::kU32: f(ElemTag<uint32_t>{}); return true;
    case Elem::kU64: f(ElemTag<uint64_t>{}); return true;
    default: return false;
  }
}

// The Elem of a stored C++ type (float16 as __half, bfloat16 as __nv_bfloat16; bool has none: its
// tensors are read as uint8_t where a kernel takes them).
template <class T> constexpr Elem elem_of();
template <> constexpr Elem elem_of<float>() { return Elem::kF32; }
template <> constexpr Elem elem_of<double>() { return Elem::kF64; }
template <> constexpr Elem elem_of<__half>() { return Elem::kF16; }
template <> constexpr Elem elem_of<__nv_bfloat16>() { return Elem::kBF16; }
template <> constexpr Elem elem_of<int8_t>() { return Elem::kI8; }
template <> constexpr Elem elem_of<int16_t>() { return Elem::kI16; }
template <> constexpr Elem elem_of<int32_t>() { return Elem::kI32; }
template <> constexpr Elem elem_of<int64_t>() { return Elem::kI64; }
template <> constexpr Elem elem_of<uint8_t>() { return Elem::kU8; }
template <> constexpr Elem elem_of<uint16_t>() { return Elem::kU16; }
template <> constexpr Elem elem_of<uint32_t>() { return Elem::kU32; }
template <> constexpr Elem elem_of<uint64_t>() { return Elem::kU64; }

// Calls f(ElemTag<T>{}) with T the one of Ts whose Elem is e (an op's own short list of types, so
// that a kernel is instantiated only for the types it can meet); false when e is none of them.
template <class... Ts, class F>
bool dispatch_elem_among(Elem e, F&& f) {
  return ((e == elem_of<Ts>() ? (f(ElemTag<Ts>{}), true) : false) || ...);
}

// float32, float16 and bfloat16: the types a float result is stored in (16-bit ones rounded once
// from float32) or a float scale is read in.
template <class F>
bool dispatch_float32_or_half(Elem e, F&& f) {
  return dispatch_elem_among<float, __half, __nv_bfloat16>(e, static_cast<F&&>(f));
}

// Bytes of one element of type e (0 for an unknown value).
__host__ __device__ inline int elem_size_bytes(Elem e) {
  switch (e) {
    case Elem::kF64:
    case Elem::kI64:
    case Elem::kU64: return 8;
    case Elem::kF32:
    case Elem::kI32:
    case Elem::kU32: return 4;
    case Elem::kF16:
    case Elem::kBF16:
    case Elem::kI16:
    case Elem::kU16: return 2;
    case Elem::kI8:
    case Elem::kU8:
    case Elem::kBool: return 1;
  }
  return 0;
}

}  // namespace shardscore::kernels
