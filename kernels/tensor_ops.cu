// Data-movement and shape kernels (contracts in tensor_ops.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/kernel_util.cuh"
#include "kernels/tensor_ops.h"

namespace shardscore::kernels {
namespace {

constexpr int kThreads = 256;
// Grid-stride loops cover the rest; this many blocks fill any current GPU.
constexpr int64_t kMaxBlocks = int64_t{1} << 16;

unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
}

#define SS_GRID_LOOP(i, n) \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

bool aligned(const void* p, int64_t unit) { return reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(unit) == 0; }

// float -> float16 as the CPU's float_to_half: round to nearest even; NaN keeps its sign and top
// payload bits, quieted (hardware conversion would give a canonical NaN).
__device__ __forceinline__ uint16_t float_to_half_bits(float f) {
  const uint32_t b = __float_as_uint(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<uint16_t>(((b >> 16) & 0x8000u) | 0x7e00u | ((b & 0x7fffffu) >> 13));
  }
  return __half_as_ushort(__float2half_rn(f));
}

// A float16 moved through the CPU's float32 round trip: a signalling NaN comes back quiet.
__device__ __forceinline__ uint16_t quiet_half(uint16_t h) {
  return ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0) ? static_cast<uint16_t>(h | 0x200u) : h;
}

// float -> bfloat16 bits as the CPU rounds: nearest even; NaN keeps its sign and top payload
// bits, quieted (kernel_util.cuh's bf16_like_cpu).
__device__ __forceinline__ uint16_t float_to_bf16_bits(float f) { return __bfloat16_as_ushort(bf16_like_cpu(f)); }

// A bfloat16 moved through the CPU's float32 round trip: a signalling NaN comes back quiet.
__device__ __forceinline__ uint16_t quiet_bf16(uint16_t h) {
  return ((h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0) ? static_cast<uint16_t>(h | 0x40u) : h;
}

// Element conversions of Pad and nearest Resize.
enum Conv { kMove = 0, kQuietHalf = 1, kFloatToHalf = 2, kQuietBf16 = 3, kFloatToBf16 = 4 };
template <int C, typename In, typename Out>
__device__ __forceinline__ Out convert(In v) {
  if constexpr (C == kQuietHalf) {
    return quiet_half(v);
  } else if constexpr (C == kFloatToHalf) {
    return float_to_half_bits(v);
  } else if constexpr (C == kQuietBf16) {
    return quiet_bf16(v);
  } else if constexpr (C == kFloatToBf16) {
    return float_to_bf16_bits(v);
  } else {
    return v;
  }
}

// ---- row copies ----

template <typename U>
__global__ void copy_rows_kernel(U* __restrict__ dst, int64_t dst_pitch, const U* __restrict__ src, int64_t src_pitch,
                                 int64_t width, int64_t n) {
  SS_GRID_LOOP(i, n) {
    const int64_t r = i / width, c = i - r * width;
    dst[r * dst_pitch + c] = src[r * src_pitch + c];
  }
}

template <typename U>
cudaError_t copy_rows_as(void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch, int64_t width, int64_t rows,
                         cudaStream_t stream) {
  constexpr int64_t u = sizeof(U);
  const int64_t n = rows * (width / u);
  copy_rows_kernel<U><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<U*>(dst), dst_pitch / u,
                                                               static_cast<const U*>(src), src_pitch / u, width / u, n);
  return cudaGetLastError();
}

// ---- strided copy ----

template <typename U>
__global__ void strided_copy_kernel(const U* __restrict__ src, StridedIndex ix, U* __restrict__ dst, int64_t n) {
  SS_GRID_LOOP(i, n) dst[i] = src[strided_offset(i, ix)];
}

constexpr int kTile = 32;
constexpr int kTileRows = 8;

// out (batches x rows x cols) from in (batches x cols x rows), through a padded shared tile so
// both the reads and the writes are coalesced.
template <typename U>
__global__ void transpose_tiles_kernel(const U* __restrict__ in, U* __restrict__ out, int64_t batches, int64_t rows,
                                       int64_t cols) {
  __shared__ U tile[kTile][kTile + 1];
  const int64_t tiles_r = (rows + kTile - 1) / kTile, tiles_c = (cols + kTile - 1) / kTile;
  for (int64_t b = blockIdx.z; b < batches; b += gridDim.z) {
    const U* ib = in + b * rows * cols;
    U* ob = out + b * rows * cols;
    for (int64_t tr = blockIdx.y; tr < tiles_r; tr += gridDim.y) {
      for (int64_t tc = blockIdx.x; tc < tiles_c; tc += gridDim.x) {
        const int64_t r0 = tr * kTile, c0 = tc * kTile;
        for (int j = threadIdx.y; j < kTile; j += kTileRows) {
          const int64_t c = c0 + j, r = r0 + threadIdx.x;
          if (c < cols && r < rows) tile[j][threadIdx.x] = ib[c * rows + r];
        }
        __syncthreads();
        for (int j = threadIdx.y; j < kTile; j += kTileRows) {
          const int64_t r = r0 + j, c = c0 + threadIdx.x;
          if (r < rows && c < cols) ob[r * cols + c] = tile[threadIdx.x][j];
        }
        __syncthreads();
      }
    }
  }
}

template <typename U>
cudaError_t strided_copy_as(const void* src, const StridedIndex& ix, void* dst, int64_t n, cudaStream_t stream) {
  strided_copy_kernel<U><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const U*>(src), ix, static_cast<U*>(dst), n);
  return cudaGetLastError();
}

template <typename U>
cudaError_t transpose_as(const void* src, void* dst, int64_t batches, int64_t rows, int64_t cols, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>((cols + kTile - 1) / kTile, kMaxBlocks)),
                  static_cast<unsigned>(std::min<int64_t>((rows + kTile - 1) / kTile, 65535)),
                  static_cast<unsigned>(std::min<int64_t>(batches, 65535)));
  transpose_tiles_kernel<U><<<grid, dim3(kTile, kTileRows), 0, stream>>>(static_cast<const U*>(src), static_cast<U*>(dst),
                                                                         batches, rows, cols);
  return cudaGetLastError();
}

// ---- gather ----

// An index into an axis of `dim` entries, negative counting from the end: its place in [0, dim), or
// -1 where the CPU function refuses it (outside [-dim, dim)).
__device__ __forceinline__ int64_t wrap_index(int64_t given, int64_t dim) {
  const int64_t v = given < 0 ? given + dim : given;
  return v >= 0 && v < dim ? v : -1;
}

template <typename U, typename I>
__global__ void gather_kernel(const U* __restrict__ data, const I* __restrict__ indices, U* __restrict__ out,
                              int64_t dim, int64_t nidx, int64_t inner, int64_t n, FaultSink fault) {
  SS_GRID_LOOP(i, n) {
    const int64_t t = i / inner, r = i - t * inner;
    const int64_t o = t / nidx, j = t - o * nidx;
    const int64_t given = static_cast<int64_t>(indices[j]);
    const int64_t idx = wrap_index(given, dim);
    // One thread per index reports it (the one writing its first unit); the CPU's order is j's.
    if (idx < 0 && o == 0 && r == 0) report_fault(fault, FaultKind::kIndexOutOfRange, j, given, dim, 0);
    out[i] = idx >= 0 ? data[(o * dim + idx) * inner + r] : U{};
  }
}

// Nothing to copy (no outer rows, or empty slices), but the CPU still refuses a bad index: the
// indices alone are checked.
template <typename I>
__global__ void gather_check_kernel(const I* __restrict__ indices, int64_t dim, int64_t nidx, FaultSink fault) {
  SS_GRID_LOOP(j, nidx) {
    const int64_t given = static_cast<int64_t>(indices[j]);
    if (wrap_index(given, dim) < 0) report_fault(fault, FaultKind::kIndexOutOfRange, j, given, dim, 0);
  }
}

template <typename U>
cudaError_t gather_as(const void* data, const void* indices, bool i64, void* out, int64_t outer, int64_t dim,
                      int64_t nidx, int64_t inner_bytes, const FaultSink& fault, cudaStream_t stream) {
  const int64_t inner = inner_bytes / static_cast<int64_t>(sizeof(U));
  const int64_t n = outer * nidx * inner;
  if (i64) {
    gather_kernel<U, int64_t><<<blocks_for(n), kThreads, 0, stream>>>(
        static_cast<const U*>(data), static_cast<const int64_t*>(indices), static_cast<U*>(out), dim, nidx, inner, n, fault);
  } else {
    gather_kernel<U, int32_t><<<blocks_for(n), kThreads, 0, stream>>>(
        static_cast<const U*>(data), static_cast<const int32_t*>(indices), static_cast<U*>(out), dim, nidx, inner, n, fault);
  }
  return cudaGetLastError();
}

// Row `row` of GatherND's indices: adds the element offset they pick to *off and returns -1, or
// records the row's first index out of range (position row * m + k, the CPU's order) and returns k.
__device__ __forceinline__ int gather_nd_row(const int64_t* __restrict__ indices, int64_t row, const GatherNdIndex& nd,
                                             FaultSink fault, int64_t* off) {
  for (int k = 0; k < nd.m; ++k) {
    const int64_t given = indices[row * nd.m + k];
    const int64_t v = wrap_index(given, nd.dims[k]);
    if (v < 0) {
      report_fault(fault, FaultKind::kNdIndexOutOfRange, static_cast<unsigned long long>(row * nd.m + k), given, nd.dims[k], k);
      return k;
    }
    *off += v * nd.strides[k];
  }
  return -1;
}

// GatherND in units U: slice_u units per row; an offset in elements becomes off * elem_bytes /
// sizeof(U) units, exact because every offset is a multiple of the slice, whose bytes U divides.
template <typename U>
__global__ void gather_nd_kernel(const U* __restrict__ data, const int64_t* __restrict__ indices, U* __restrict__ out,
                                 int64_t per_batch, int64_t slice_u, int64_t batch_stride, GatherNdIndex nd,
                                 int64_t elem_bytes, int64_t n, FaultSink fault) {
  SS_GRID_LOOP(i, n) {
    const int64_t row = i / slice_u, r = i - row * slice_u;
    int64_t off = (row / per_batch) * batch_stride;  // elements
    // Only the thread writing the row's first unit records a bad index.
    const bool inside = gather_nd_row(indices, row, nd, r == 0 ? fault : FaultSink{}, &off) < 0;
    // Every offset is a whole number of slices, so of units: exact in bytes.
    out[i] = inside ? data[off * elem_bytes / static_cast<int64_t>(sizeof(U)) + r] : U{};
  }
}

// As gather_check_kernel: empty slices, every row's indices checked.
__global__ void gather_nd_check_kernel(const int64_t* __restrict__ indices, int64_t rows, GatherNdIndex nd,
                                       FaultSink fault) {
  SS_GRID_LOOP(row, rows) {
    int64_t off = 0;
    (void)gather_nd_row(indices, row, nd, fault, &off);
  }
}

template <typename U>
cudaError_t gather_nd_as(const void* data, const int64_t* indices, void* out, int64_t rows, int64_t per_batch,
                         int64_t slice_bytes, int64_t batch_stride, const GatherNdIndex& nd, int elem_bytes,
                         const FaultSink& fault, cudaStream_t stream) {
  const int64_t slice_u = slice_bytes / static_cast<int64_t>(sizeof(U));
  const int64_t n = rows * slice_u;
  gather_nd_kernel<U><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const U*>(data), indices, static_cast<U*>(out),
                                                              per_batch, slice_u, batch_stride, nd, elem_bytes, n, fault);
  return cudaGetLastError();
}

// ---- GatherElements, ScatterND, Trilu ----

// GatherElements: out[i] = data[strided_offset(i, ix) + idx * axis_stride], idx = indices[i] (+ dim
// when negative); a bad index gives U{} and is recorded (position i, the CPU's order).
template <typename U, typename I>
__global__ void gather_elements_kernel(const U* __restrict__ data, const I* __restrict__ indices, U* __restrict__ out,
                                       StridedIndex ix, int64_t axis_stride, int64_t dim, int64_t n, FaultSink fault) {
  SS_GRID_LOOP(i, n) {
    const int64_t given = static_cast<int64_t>(indices[i]);
    const int64_t idx = wrap_index(given, dim);
    if (idx < 0) report_fault(fault, FaultKind::kIndexOutOfRange, static_cast<unsigned long long>(i), given, dim, 0);
    out[i] = idx >= 0 ? data[strided_offset(i, ix) + idx * axis_stride] : U{};
  }
}

template <typename U>
cudaError_t gather_elements_as(const void* data, const void* indices, bool i64, void* out, const StridedIndex& ix,
                               int64_t axis_stride, int64_t dim, int64_t n, const FaultSink& fault, cudaStream_t stream) {
  if (i64) {
    gather_elements_kernel<U, int64_t><<<blocks_for(n), kThreads, 0, stream>>>(
        static_cast<const U*>(data), static_cast<const int64_t*>(indices), static_cast<U*>(out), ix, axis_stride, dim, n,
        fault);
  } else {
    gather_elements_kernel<U, int32_t><<<blocks_for(n), kThreads, 0, stream>>>(
        static_cast<const U*>(data), static_cast<const int32_t*>(indices), static_cast<U*>(out), ix, axis_stride, dim, n,
        fault);
  }
  return cudaGetLastError();
}

// ScatterND, one thread per slice element r: every row in order (the CPU's order, so a slice
// named twice ends as the CPU leaves it), its offset from gather_nd_row (a bad row is recorded by
// the thread of r == 0 and skipped). out already holds data.
template <typename U>
__global__ void scatter_nd_kernel(U* __restrict__ out, const int64_t* __restrict__ indices, const U* __restrict__ updates,
                                  int64_t rows, int64_t slice, GatherNdIndex nd, FaultSink fault) {
  SS_GRID_LOOP(r, slice) {
    for (int64_t row = 0; row < rows; ++row) {
      int64_t off = 0;
      if (gather_nd_row(indices, row, nd, r == 0 ? fault : FaultSink{}, &off) >= 0) continue;
      out[off + r] = updates[row * slice + r];
    }
  }
}

// An update combined with a data element in the compute type (integers wrap; max / min as the
// CPU's: the update unless the data element compares past it, so a NaN update lands and a NaN in
// data is replaced, as ONNX Runtime has it).
template <typename C>
__device__ __forceinline__ C scatter_combine(ScatterOp op, C a, C b) {
  switch (op) {
    case ScatterOp::kAdd:
      if constexpr (std::is_integral_v<C>) return static_cast<C>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
      else return a + b;
    case ScatterOp::kMul:
      if constexpr (std::is_integral_v<C>) return static_cast<C>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
      else return a * b;
    case ScatterOp::kMax: return a > b ? a : b;
    case ScatterOp::kMin: return a < b ? a : b;
    case ScatterOp::kNone: break;
  }
  return b;
}

template <typename T>
__global__ void scatter_nd_reduce_kernel(T* __restrict__ out, const int64_t* __restrict__ indices,
                                         const T* __restrict__ updates, int64_t rows, int64_t slice, GatherNdIndex nd,
                                         ScatterOp op, FaultSink fault) {
  using C = typename Compute<T>::type;
  SS_GRID_LOOP(r, slice) {
    for (int64_t row = 0; row < rows; ++row) {
      int64_t off = 0;
      if (gather_nd_row(indices, row, nd, r == 0 ? fault : FaultSink{}, &off) >= 0) continue;
      const C v = scatter_combine<C>(op, load(out[off + r]), load(updates[row * slice + r]));
      out[off + r] = store<T, C>(v);
    }
  }
}

// ScatterElements: one thread per lane, its elements in order along the axis (launch_scatter_elements).
// kReduce false: T is an unsigned integer of the element's size, moved as stored (op unused);
// true: T is the numeric type, combined in its compute type.
template <typename T, typename I, bool kReduce>
__global__ void scatter_elements_kernel(T* __restrict__ out, const I* __restrict__ indices, const T* __restrict__ updates,
                                        StridedIndex lane_out, StridedIndex lane_in, int64_t lanes, int64_t len,
                                        int64_t in_axis_stride, int64_t out_axis_stride, int64_t dim, ScatterOp op,
                                        FaultSink fault) {
  SS_GRID_LOOP(l, lanes) {
    const int64_t ob = strided_offset(l, lane_out), ib = strided_offset(l, lane_in);
    for (int64_t j = 0; j < len; ++j) {
      const int64_t pos = ib + j * in_axis_stride;
      const int64_t given = static_cast<int64_t>(indices[pos]);
      const int64_t idx = wrap_index(given, dim);
      if (idx < 0) {
        report_fault(fault, FaultKind::kIndexOutOfRange, static_cast<unsigned long long>(pos), given, dim, 0);
        continue;
      }
      T& e = out[ob + idx * out_axis_stride];
      if constexpr (kReduce) {
        using C = typename Compute<T>::type;
        e = store<T, C>(scatter_combine<C>(op, load(e), load(updates[pos])));
      } else {
        e = updates[pos];
      }
    }
  }
}

// OneHot's index value (the CPU's one_hot_index in src/engine/cpu/tensor_ops.cpp, mirrored):
// floats truncated toward zero, kOneHotNoIndex where nothing can match.
constexpr int64_t kOneHotNoIndex = INT64_MIN;
template <typename I>
__device__ __forceinline__ int64_t one_hot_index(I raw) {
  using C = typename Compute<I>::type;
  const C v = load(raw);
  if constexpr (std::is_floating_point_v<C>) {
    return isfinite(v) && fabs(static_cast<double>(v)) < 4611686018427387904.0 ? static_cast<int64_t>(v) : kOneHotNoIndex;
  } else if constexpr (std::is_same_v<C, uint64_t>) {
    return v > static_cast<uint64_t>(INT64_MAX) ? kOneHotNoIndex : static_cast<int64_t>(v);
  } else {
    return static_cast<int64_t>(v);
  }
}

template <typename U, typename I>
__global__ void one_hot_kernel(const I* __restrict__ indices, const U* __restrict__ values, U* __restrict__ out,
                               int64_t depth, int64_t inner, int64_t n) {
  SS_GRID_LOOP(i, n) {
    const int64_t in = i % inner, d = (i / inner) % depth, o = i / inner / depth;
    int64_t v = one_hot_index(indices[o * inner + in]);
    if (v < 0) v += depth;  // kOneHotNoIndex + depth stays negative: no row is on
    out[i] = v == d ? values[1] : values[0];
  }
}

template <typename U>
__global__ void eye_kernel(U* __restrict__ y, U one, int64_t cols, int64_t k, int64_t n) {
  SS_GRID_LOOP(i, n) y[i] = i % cols - i / cols == k ? one : U{};
}

// Trilu: element (r, c) of each [rows, cols] matrix kept where c - r >= k (upper) or <= k.
template <typename U>
__global__ void trilu_kernel(const U* __restrict__ x, U* __restrict__ y, int64_t rows, int64_t cols, int64_t k,
                             bool upper, int64_t n) {
  SS_GRID_LOOP(i, n) {
    const int64_t c = i % cols, r = (i / cols) % rows;
    const int64_t diff = c - r;
    y[i] = (upper ? diff >= k : diff <= k) ? x[i] : U{};
  }
}

// ---- fill, Shape, Range ----

template <typename U>
__global__ void fill_kernel(U* __restrict__ dst, U value, int64_t n) {
  SS_GRID_LOOP(i, n) dst[i] = value;
}

template <typename U>
cudaError_t fill_as(uint64_t value, void* dst, int64_t n, cudaStream_t stream) {
  fill_kernel<U><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<U*>(dst), static_cast<U>(value), n);
  return cudaGetLastError();
}

__global__ void write_int64s_kernel(Int64Values values, int64_t* dst) {
  if (static_cast<int>(threadIdx.x) < values.count) dst[threadIdx.x] = values.v[threadIdx.x];
}

// Out: float, uint16_t (float16 bits) or __nv_bfloat16.
template <typename Out>
__global__ void range_f32_kernel(float start, float delta, Out* __restrict__ dst, int64_t n) {
  SS_GRID_LOOP(i, n) {
    const float v = __fadd_rn(start, __fmul_rn(static_cast<float>(i), delta));
    if constexpr (std::is_same_v<Out, __nv_bfloat16>) {
      dst[i] = bf16_like_cpu(v);
    } else if constexpr (sizeof(Out) == 2) {
      dst[i] = float_to_half_bits(v);
    } else {
      dst[i] = v;
    }
  }
}

__global__ void range_f64_kernel(double start, double delta, double* __restrict__ dst, int64_t n) {
  SS_GRID_LOOP(i, n) dst[i] = __dadd_rn(start, __dmul_rn(static_cast<double>(i), delta));
}

__global__ void range_i16_kernel(int16_t start, int16_t delta, int16_t* __restrict__ dst, int64_t n) {
  // int arithmetic after promotion, as in C++; it cannot overflow for 16-bit operands.
  SS_GRID_LOOP(i, n) dst[i] = static_cast<int16_t>(start + static_cast<int16_t>(i) * delta);
}

template <typename S, typename U>
__global__ void range_wrap_kernel(U start, U delta, S* __restrict__ dst, int64_t n) {
  SS_GRID_LOOP(i, n) dst[i] = static_cast<S>(static_cast<U>(start + static_cast<U>(static_cast<S>(i)) * delta));
}

// ---- Pad ----

struct PadArgs {
  int rank;
  int64_t in_dims[kMaxRank];
  int64_t out_dims[kMaxRank];
  int64_t pad_begin[kMaxRank];
  int64_t in_strides[kMaxRank];
};

template <int C, typename In, typename Out>
__global__ void pad_kernel(PadMode mode, const In* __restrict__ x, Out* __restrict__ y, PadArgs g, Out fill, int64_t n) {
  SS_GRID_LOOP(i, n) {
    int64_t rem = i, off = 0;
    bool constant = false;
    for (int k = g.rank - 1; k >= 0; --k) {
      const int64_t q = rem / g.out_dims[k];
      const int64_t len = g.in_dims[k];
      int64_t s = rem - q * g.out_dims[k] - g.pad_begin[k];
      rem = q;
      if (s < 0 || s >= len) {
        switch (mode) {
          case PadMode::kConstant: constant = true; break;
          case PadMode::kEdge: s = s < 0 ? 0 : len - 1; break;
          case PadMode::kReflect: s = s < 0 ? -s : 2 * (len - 1) - s; break;
          case PadMode::kWrap: s = ((s % len) + len) % len; break;
        }
      }
      off += s * g.in_strides[k];
    }
    y[i] = constant ? fill : convert<C, In, Out>(x[off]);
  }
}

template <int C, typename In, typename Out>
cudaError_t pad_as(PadMode mode, const void* x, void* y, const PadArgs& g, uint64_t fill, int64_t n, cudaStream_t stream) {
  pad_kernel<C, In, Out><<<blocks_for(n), kThreads, 0, stream>>>(mode, static_cast<const In*>(x), static_cast<Out*>(y), g,
                                                                  static_cast<Out>(fill), n);
  return cudaGetLastError();
}

// ---- Resize ----

struct ResizeArgs {
  int rank;
  int64_t in_dims[kMaxRank];
  int64_t out_dims[kMaxRank];
  int64_t in_strides[kMaxRank];
  float scales[kMaxRank];
};

// The CPU's original_coordinate, operation by operation in float32 (the _rn intrinsics keep nvcc
// from fusing them).
__device__ float original_coordinate(ResizeCoord m, int64_t x_out, float scale, int64_t len_in, int64_t len_out) {
  const float x = static_cast<float>(x_out);
  switch (m) {
    case ResizeCoord::kHalfPixel: return __fsub_rn(__fdiv_rn(__fadd_rn(x, 0.5f), scale), 0.5f);
    case ResizeCoord::kPytorchHalfPixel:
      return len_out > 1 ? __fsub_rn(__fdiv_rn(__fadd_rn(x, 0.5f), scale), 0.5f) : 0.0f;
    case ResizeCoord::kAlignCorners:
      return len_out == 1 ? 0.0f
                          : __fdiv_rn(__fmul_rn(x, static_cast<float>(len_in - 1)), static_cast<float>(len_out - 1));
    case ResizeCoord::kAsymmetric: return __fdiv_rn(x, scale);
    case ResizeCoord::kTfHalfPixelForNn: return __fdiv_rn(__fadd_rn(x, 0.5f), scale);
  }
  return x;
}

// static_cast<int64_t>(float) as x86-64 computes it (cvttss2si): NaN and out-of-range give INT64_MIN,
// where the GPU would saturate.
__device__ __forceinline__ int64_t trunc_i64_x86(float r) {
  if (!(r >= -9223372036854775808.0f && r < 9223372036854775808.0f)) return INT64_MIN;
  return static_cast<int64_t>(r);
}

__device__ int64_t nearest_index(ResizeNearest m, float v, int64_t len_in) {
  const float fl = floorf(v);
  // The CPU compares in double (floor(v) + 0.5 is a double expression).
  const bool tie = static_cast<double>(v) == static_cast<double>(fl) + 0.5;
  float r = fl;
  switch (m) {
    case ResizeNearest::kRoundPreferFloor: r = tie ? fl : roundf(v); break;
    case ResizeNearest::kRoundPreferCeil: r = tie ? ceilf(v) : roundf(v); break;
    case ResizeNearest::kFloor: r = fl; break;
    case ResizeNearest::kCeil: r = ceilf(v); break;
  }
  const int64_t i = trunc_i64_x86(r);
  return i < 0 ? 0 : (len_in - 1 < i ? len_in - 1 : i);
}

template <int C, typename In, typename Out>
__global__ void resize_nearest_kernel(ResizeCoord coord, ResizeNearest nearest, const In* __restrict__ x,
                                      Out* __restrict__ y, ResizeArgs g, int64_t n) {
  SS_GRID_LOOP(i, n) {
    int64_t rem = i, off = 0;
    for (int k = g.rank - 1; k >= 0; --k) {
      const int64_t q = rem / g.out_dims[k];
      const int64_t o = rem - q * g.out_dims[k];
      rem = q;
      const float v = original_coordinate(coord, o, g.scales[k], g.in_dims[k], g.out_dims[k]);
      off += nearest_index(nearest, v, g.in_dims[k]) * g.in_strides[k];
    }
    y[i] = convert<C, In, Out>(x[off]);
  }
}

template <int C, typename In, typename Out>
cudaError_t resize_nearest_as(ResizeCoord coord, ResizeNearest nearest, const void* x, void* y, const ResizeArgs& g,
                              int64_t n, cudaStream_t stream) {
  resize_nearest_kernel<C, In, Out><<<blocks_for(n), kThreads, 0, stream>>>(coord, nearest, static_cast<const In*>(x),
                                                                             static_cast<Out*>(y), g, n);
  return cudaGetLastError();
}

struct LinearAxes {
  int64_t h, w, oh, ow;
  float sh, sw;
};

__device__ void linear_tap(ResizeCoord c, int64_t o, float scale, int64_t len_in, int64_t len_out, int64_t* i0,
                           int64_t* i1, double* f) {
  double v = static_cast<double>(original_coordinate(c, o, scale, len_in, len_out));
  const double hi = static_cast<double>(len_in - 1);
  v = v < 0.0 ? 0.0 : (hi < v ? hi : v);  // std::clamp
  const int64_t t = static_cast<int64_t>(v);
  *i0 = len_in - 1 < t ? len_in - 1 : t;
  *i1 = len_in - 1 < *i0 + 1 ? len_in - 1 : *i0 + 1;
  *f = __dsub_rn(v, static_cast<double>(*i0));
}

__device__ __forceinline__ double load_double(float v) { return static_cast<double>(v); }
__device__ __forceinline__ double load_double(double v) { return v; }
__device__ __forceinline__ double load_double(uint16_t h) {
  return static_cast<double>(__half2float(__ushort_as_half(h)));
}
__device__ __forceinline__ double load_double(__nv_bfloat16 h) { return static_cast<double>(__bfloat162float(h)); }
__device__ __forceinline__ void store_double(double v, float* p) { *p = __double2float_rn(v); }
__device__ __forceinline__ void store_double(double v, double* p) { *p = v; }
// float16 results pass through float32 first: the CPU computes them as float32 and rounds after.
__device__ __forceinline__ void store_double(double v, uint16_t* p) { *p = float_to_half_bits(__double2float_rn(v)); }
// bfloat16 likewise (float32, then bfloat16).
__device__ __forceinline__ void store_double(double v, __nv_bfloat16* p) { *p = bf16_like_cpu(__double2float_rn(v)); }

__device__ __forceinline__ double lerp_cpu(double a, double b, double f) {
  return __dadd_rn(__dmul_rn(__dsub_rn(1.0, f), a), __dmul_rn(f, b));
}

template <typename In, typename Out>
__global__ void resize_linear_kernel(ResizeCoord coord, const In* __restrict__ x, Out* __restrict__ y, LinearAxes a,
                                     int64_t n) {
  SS_GRID_LOOP(i, n) {
    const int64_t t = i / a.ow, ox = i - t * a.ow;
    const int64_t pl = t / a.oh, oy = t - pl * a.oh;
    int64_t y0, y1, x0, x1;
    double fy, fx;
    linear_tap(coord, oy, a.sh, a.h, a.oh, &y0, &y1, &fy);
    linear_tap(coord, ox, a.sw, a.w, a.ow, &x0, &x1, &fx);
    const In* xp = x + pl * a.h * a.w;
    const In* r0 = xp + y0 * a.w;
    const In* r1 = xp + y1 * a.w;
    const double top = lerp_cpu(load_double(r0[x0]), load_double(r0[x1]), fx);
    const double bot = lerp_cpu(load_double(r1[x0]), load_double(r1[x1]), fx);
    store_double(lerp_cpu(top, bot, fy), y + i);
  }
}

template <typename In, typename Out>
cudaError_t resize_linear_as(ResizeCoord coord, const void* x, void* y, const LinearAxes& a, int64_t n,
                             cudaStream_t stream) {
  resize_linear_kernel<In, Out><<<blocks_for(n), kThreads, 0, stream>>>(coord, static_cast<const In*>(x),
                                                                        static_cast<Out*>(y), a, n);
  return cudaGetLastError();
}

// Pad and nearest Resize move elements as stored, by size, except float16 and bfloat16: (in, out)
// is (kF32, kF16) or (kF32, kBF16) rounded, or in == out (float16 / bfloat16 quieted, see
// quiet_half / quiet_bf16). Calls f(Conv tag, In{}, Out{}) for the pair's instantiation.
template <int C>
struct ConvTag {
  static constexpr int value = C;
};
template <typename F>
cudaError_t dispatch_moved(Elem in, Elem out, F&& f) {
  if (in == Elem::kF32 && out == Elem::kF16) return f(ConvTag<kFloatToHalf>{}, float{}, uint16_t{});
  if (in == Elem::kF32 && out == Elem::kBF16) return f(ConvTag<kFloatToBf16>{}, float{}, uint16_t{});
  if (in != out) return cudaErrorInvalidValue;
  if (in == Elem::kF16) return f(ConvTag<kQuietHalf>{}, uint16_t{}, uint16_t{});
  if (in == Elem::kBF16) return f(ConvTag<kQuietBf16>{}, uint16_t{}, uint16_t{});
  switch (elem_size_bytes(in)) {
    case 1: return f(ConvTag<kMove>{}, uint8_t{}, uint8_t{});
    case 2: return f(ConvTag<kMove>{}, uint16_t{}, uint16_t{});
    case 4: return f(ConvTag<kMove>{}, uint32_t{}, uint32_t{});
    case 8: return f(ConvTag<kMove>{}, uint64_t{}, uint64_t{});
    default: return cudaErrorInvalidValue;
  }
}

void row_major_strides(int rank, const int64_t* dims, int64_t* strides) {
  int64_t s = 1;
  for (int k = rank - 1; k >= 0; --k) {
    strides[k] = s;
    s *= dims[k];
  }
}

// Pad's and nearest Resize's kernel arguments: rank, dims and the input's row-major strides from
// the geometry g; false for a rank outside [0, kMaxRank].
template <typename Geometry, typename Args>
bool copy_geometry(const Geometry& g, Args* a) {
  if (g.rank < 0 || g.rank > kMaxRank) return false;
  a->rank = g.rank;
  for (int k = 0; k < g.rank; ++k) {
    a->in_dims[k] = g.in_dims[k];
    a->out_dims[k] = g.out_dims[k];
  }
  row_major_strides(g.rank, g.in_dims, a->in_strides);
  return true;
}

}  // namespace

cudaError_t launch_copy_rows(void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch, int64_t width,
                             int64_t rows, cudaStream_t stream) {
  if (rows <= 0 || width <= 0) return cudaSuccess;
  if (rows == 1 || (dst_pitch == width && src_pitch == width)) {
    width *= rows;
    rows = 1;
    dst_pitch = src_pitch = width;
  }
  int64_t unit = 16;
  while (unit > 1 && !(width % unit == 0 && dst_pitch % unit == 0 && src_pitch % unit == 0 && aligned(dst, unit) &&
                       aligned(src, unit)))
    unit /= 2;
  switch (unit) {
    case 16: return copy_rows_as<uint4>(dst, dst_pitch, src, src_pitch, width, rows, stream);
    case 8: return copy_rows_as<uint64_t>(dst, dst_pitch, src, src_pitch, width, rows, stream);
    case 4: return copy_rows_as<uint32_t>(dst, dst_pitch, src, src_pitch, width, rows, stream);
    case 2: return copy_rows_as<uint16_t>(dst, dst_pitch, src, src_pitch, width, rows, stream);
    default: return copy_rows_as<uint8_t>(dst, dst_pitch, src, src_pitch, width, rows, stream);
  }
}

int coalesce_strided(int rank, int64_t* dims, int64_t* strides) {
  int r = 0;
  for (int k = 0; k < rank; ++k) {
    if (dims[k] == 1) continue;
    if (r > 0 && strides[r - 1] == strides[k] * dims[k]) {
      dims[r - 1] *= dims[k];
      strides[r - 1] = strides[k];
      continue;
    }
    dims[r] = dims[k];
    strides[r] = strides[k];
    ++r;
  }
  return r;
}

cudaError_t launch_strided_copy(int elem_bytes, const void* src, int64_t base, const StridedIndex& ix_in, void* dst,
                                int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  StridedIndex ix = ix_in;
  ix.rank = coalesce_strided(ix.rank, ix.dims, ix.strides);
  const char* s = static_cast<const char*>(src) + base * elem_bytes;
  const int r = ix.rank;
  if (r == 0) return launch_copy_rows(dst, elem_bytes, s, elem_bytes, elem_bytes, 1, stream);
  if (r == 1 && ix.strides[0] == 1) return launch_copy_rows(dst, 0, s, 0, ix.dims[0] * elem_bytes, 1, stream);
  // Batched swap of the last two dimensions: out (B, R, C) from in (B, C, R).
  const bool swap2 = r == 2 && ix.strides[0] == 1 && ix.strides[1] == ix.dims[0];
  const bool swap3 = r == 3 && ix.strides[1] == 1 && ix.strides[2] == ix.dims[1] && ix.strides[0] == ix.dims[1] * ix.dims[2];
  if ((swap2 || swap3) && ix.dims[r - 1] >= kTile / 2 && ix.dims[r - 2] >= kTile / 2) {
    const int64_t b = swap3 ? ix.dims[0] : 1, rows = ix.dims[r - 2], cols = ix.dims[r - 1];
    switch (elem_bytes) {
      case 1: return transpose_as<uint8_t>(s, dst, b, rows, cols, stream);
      case 2: return transpose_as<uint16_t>(s, dst, b, rows, cols, stream);
      case 4: return transpose_as<uint32_t>(s, dst, b, rows, cols, stream);
      default: return transpose_as<uint64_t>(s, dst, b, rows, cols, stream);
    }
  }
  // Contiguous innermost runs move in wider units when every size, stride and address allows.
  int64_t unit = elem_bytes;
  if (ix.strides[r - 1] == 1) {
    auto fits = [&](int64_t u) {
      if ((ix.dims[r - 1] * elem_bytes) % u != 0 || !aligned(s, u) || !aligned(dst, u)) return false;
      for (int k = 0; k + 1 < r; ++k)
        if ((ix.strides[k] * elem_bytes) % u != 0) return false;
      return true;
    };
    for (int64_t u = 16; u > elem_bytes; u /= 2) {
      if (fits(u)) {
        unit = u;
        break;
      }
    }
    if (unit != elem_bytes) {
      const int64_t f = unit / elem_bytes;
      ix.dims[r - 1] /= f;
      for (int k = 0; k + 1 < r; ++k) ix.strides[k] /= f;
      n /= f;
    }
  }
  switch (unit) {
    case 16: return strided_copy_as<uint4>(s, ix, dst, n, stream);
    case 8: return strided_copy_as<uint64_t>(s, ix, dst, n, stream);
    case 4: return strided_copy_as<uint32_t>(s, ix, dst, n, stream);
    case 2: return strided_copy_as<uint16_t>(s, ix, dst, n, stream);
    default: return strided_copy_as<uint8_t>(s, ix, dst, n, stream);
  }
}

cudaError_t launch_gather(int elem_bytes, const void* data, const void* indices, bool indices_int64, void* out,
                          int64_t outer, int64_t dim, int64_t nidx, int64_t inner, const FaultSink& fault,
                          cudaStream_t stream) {
  const int64_t inner_bytes = inner * elem_bytes;
  if (nidx <= 0) return cudaSuccess;
  if (outer <= 0 || inner_bytes <= 0) {
    if (indices_int64) {
      gather_check_kernel<<<blocks_for(nidx), kThreads, 0, stream>>>(static_cast<const int64_t*>(indices), dim, nidx, fault);
    } else {
      gather_check_kernel<<<blocks_for(nidx), kThreads, 0, stream>>>(static_cast<const int32_t*>(indices), dim, nidx, fault);
    }
    return cudaGetLastError();
  }
  int64_t unit = 16;
  while (unit > 1 && !(inner_bytes % unit == 0 && aligned(data, unit) && aligned(out, unit))) unit /= 2;
  switch (unit) {
    case 16: return gather_as<uint4>(data, indices, indices_int64, out, outer, dim, nidx, inner_bytes, fault, stream);
    case 8: return gather_as<uint64_t>(data, indices, indices_int64, out, outer, dim, nidx, inner_bytes, fault, stream);
    case 4: return gather_as<uint32_t>(data, indices, indices_int64, out, outer, dim, nidx, inner_bytes, fault, stream);
    case 2: return gather_as<uint16_t>(data, indices, indices_int64, out, outer, dim, nidx, inner_bytes, fault, stream);
    default: return gather_as<uint8_t>(data, indices, indices_int64, out, outer, dim, nidx, inner_bytes, fault, stream);
  }
}

cudaError_t launch_gather_nd(int elem_bytes, const void* data, const int64_t* indices, void* out, int64_t batches,
                             int64_t per_batch, int64_t slice, int64_t batch_stride, const GatherNdIndex& nd,
                             const FaultSink& fault, cudaStream_t stream) {
  const int64_t rows = batches * per_batch, slice_bytes = slice * elem_bytes;
  if (rows <= 0) return cudaSuccess;
  if (nd.m < 1 || nd.m > kMaxRank || per_batch <= 0) return cudaErrorInvalidValue;
  if (slice_bytes <= 0) {
    gather_nd_check_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(indices, rows, nd, fault);
    return cudaGetLastError();
  }
  int64_t unit = 16;
  while (unit > 1 && !(slice_bytes % unit == 0 && aligned(data, unit) && aligned(out, unit))) unit /= 2;
  switch (unit) {
    case 16: return gather_nd_as<uint4>(data, indices, out, rows, per_batch, slice_bytes, batch_stride, nd, elem_bytes, fault, stream);
    case 8: return gather_nd_as<uint64_t>(data, indices, out, rows, per_batch, slice_bytes, batch_stride, nd, elem_bytes, fault, stream);
    case 4: return gather_nd_as<uint32_t>(data, indices, out, rows, per_batch, slice_bytes, batch_stride, nd, elem_bytes, fault, stream);
    case 2: return gather_nd_as<uint16_t>(data, indices, out, rows, per_batch, slice_bytes, batch_stride, nd, elem_bytes, fault, stream);
    default: return gather_nd_as<uint8_t>(data, indices, out, rows, per_batch, slice_bytes, batch_stride, nd, elem_bytes, fault, stream);
  }
}

cudaError_t launch_fill(int elem_bytes, uint64_t value, void* dst, int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  int64_t unit = elem_bytes;
  if (unit < 8) value &= (uint64_t{1} << (8 * unit)) - 1;
  // Repeat the pattern into wider units while the count and the address allow.
  while (unit < 8 && n % 2 == 0 && aligned(dst, 2 * unit)) {
    value |= value << (8 * unit);
    unit *= 2;
    n /= 2;
  }
  switch (unit) {
    case 8: return fill_as<uint64_t>(value, dst, n, stream);
    case 4: return fill_as<uint32_t>(value, dst, n, stream);
    case 2: return fill_as<uint16_t>(value, dst, n, stream);
    default: return fill_as<uint8_t>(value, dst, n, stream);
  }
}

cudaError_t launch_write_int64s(const Int64Values& values, int64_t* dst, cudaStream_t stream) {
  if (values.count <= 0) return cudaSuccess;
  write_int64s_kernel<<<1, kMaxRank, 0, stream>>>(values, dst);
  return cudaGetLastError();
}

cudaError_t launch_range_float(Elem elem, double start, double delta, void* dst, int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  switch (elem) {
    case Elem::kF32:
      range_f32_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<float>(start),
                                                                     static_cast<float>(delta), static_cast<float*>(dst), n);
      break;
    case Elem::kF16:
      range_f32_kernel<uint16_t><<<blocks_for(n), kThreads, 0, stream>>>(
          static_cast<float>(start), static_cast<float>(delta), static_cast<uint16_t*>(dst), n);
      break;
    case Elem::kBF16:
      range_f32_kernel<__nv_bfloat16><<<blocks_for(n), kThreads, 0, stream>>>(
          static_cast<float>(start), static_cast<float>(delta), static_cast<__nv_bfloat16*>(dst), n);
      break;
    case Elem::kF64:
      range_f64_kernel<<<blocks_for(n), kThreads, 0, stream>>>(start, delta, static_cast<double*>(dst), n);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_range_int(Elem elem, int64_t start, int64_t delta, void* dst, int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  switch (elem) {
    case Elem::kI16:
      range_i16_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<int16_t>(start), static_cast<int16_t>(delta),
                                                              static_cast<int16_t*>(dst), n);
      break;
    case Elem::kI32:
      range_wrap_kernel<int32_t, uint32_t><<<blocks_for(n), kThreads, 0, stream>>>(
          static_cast<uint32_t>(start), static_cast<uint32_t>(delta), static_cast<int32_t*>(dst), n);
      break;
    case Elem::kI64:
      range_wrap_kernel<int64_t, uint64_t><<<blocks_for(n), kThreads, 0, stream>>>(
          static_cast<uint64_t>(start), static_cast<uint64_t>(delta), static_cast<int64_t*>(dst), n);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_pad(PadMode mode, Elem in, Elem out, const void* x, void* y, const PadGeometry& g, uint64_t fill,
                       int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  PadArgs a{};
  if (!copy_geometry(g, &a)) return cudaErrorInvalidValue;
  for (int k = 0; k < g.rank; ++k) a.pad_begin[k] = g.pad_begin[k];
  return dispatch_moved(in, out, [&](auto conv, auto in_zero, auto out_zero) {
    return pad_as<decltype(conv)::value, decltype(in_zero), decltype(out_zero)>(mode, x, y, a, fill, n, stream);
  });
}

cudaError_t launch_resize_nearest(ResizeCoord coord, ResizeNearest nearest, Elem in, Elem out, const void* x, void* y,
                                  const ResizeGeometry& g, int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  ResizeArgs a{};
  if (!copy_geometry(g, &a)) return cudaErrorInvalidValue;
  for (int k = 0; k < g.rank; ++k) a.scales[k] = g.scales[k];
  return dispatch_moved(in, out, [&](auto conv, auto in_zero, auto out_zero) {
    return resize_nearest_as<decltype(conv)::value, decltype(in_zero), decltype(out_zero)>(coord, nearest, x, y, a, n,
                                                                                            stream);
  });
}

cudaError_t launch_resize_linear(ResizeCoord coord, Elem in, Elem out, const void* x, void* y, const ResizeGeometry& g,
                                 int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  if (g.rank < 2 || g.rank > kMaxRank) return cudaErrorInvalidValue;
  const int r = g.rank;
  const LinearAxes a{g.in_dims[r - 2], g.in_dims[r - 1], g.out_dims[r - 2], g.out_dims[r - 1], g.scales[r - 2],
                     g.scales[r - 1]};
  if (in == Elem::kF32 && out == Elem::kF32) return resize_linear_as<float, float>(coord, x, y, a, n, stream);
  if (in == Elem::kF32 && out == Elem::kF16) return resize_linear_as<float, uint16_t>(coord, x, y, a, n, stream);
  if (in == Elem::kF64 && out == Elem::kF64) return resize_linear_as<double, double>(coord, x, y, a, n, stream);
  if (in == Elem::kF16 && out == Elem::kF16) return resize_linear_as<uint16_t, uint16_t>(coord, x, y, a, n, stream);
  if (in == Elem::kF32 && out == Elem::kBF16) return resize_linear_as<float, __nv_bfloat16>(coord, x, y, a, n, stream);
  if (in == Elem::kBF16 && out == Elem::kBF16) {
    return resize_linear_as<__nv_bfloat16, __nv_bfloat16>(coord, x, y, a, n, stream);
  }
  return cudaErrorInvalidValue;
}

// ---- GatherElements, ScatterND, Trilu ----

cudaError_t launch_gather_elements(int elem_bytes, const void* data, const void* indices, bool indices_int64, void* out,
                                   const StridedIndex& ix, int64_t axis_stride, int64_t dim, int64_t n,
                                   const FaultSink& fault, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  if (ix.rank < 1 || ix.rank > kMaxRank) return cudaErrorInvalidValue;
  switch (elem_bytes) {
    case 8: return gather_elements_as<uint64_t>(data, indices, indices_int64, out, ix, axis_stride, dim, n, fault, stream);
    case 4: return gather_elements_as<uint32_t>(data, indices, indices_int64, out, ix, axis_stride, dim, n, fault, stream);
    case 2: return gather_elements_as<uint16_t>(data, indices, indices_int64, out, ix, axis_stride, dim, n, fault, stream);
    case 1: return gather_elements_as<uint8_t>(data, indices, indices_int64, out, ix, axis_stride, dim, n, fault, stream);
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t launch_scatter_nd(ScatterOp op, Elem elem, void* out, const int64_t* indices, const void* updates,
                              int64_t rows, int64_t slice, const GatherNdIndex& nd, const FaultSink& fault,
                              cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  if (nd.m < 1 || nd.m > kMaxRank) return cudaErrorInvalidValue;
  if (slice <= 0) {  // nothing moves, but the CPU still refuses a bad index
    gather_nd_check_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(indices, rows, nd, fault);
    return cudaGetLastError();
  }
  if (op == ScatterOp::kNone) {
    switch (elem_size_bytes(elem)) {
      case 8:
        scatter_nd_kernel<uint64_t><<<blocks_for(slice), kThreads, 0, stream>>>(
            static_cast<uint64_t*>(out), indices, static_cast<const uint64_t*>(updates), rows, slice, nd, fault);
        break;
      case 4:
        scatter_nd_kernel<uint32_t><<<blocks_for(slice), kThreads, 0, stream>>>(
            static_cast<uint32_t*>(out), indices, static_cast<const uint32_t*>(updates), rows, slice, nd, fault);
        break;
      case 2:
        scatter_nd_kernel<uint16_t><<<blocks_for(slice), kThreads, 0, stream>>>(
            static_cast<uint16_t*>(out), indices, static_cast<const uint16_t*>(updates), rows, slice, nd, fault);
        break;
      case 1:
        scatter_nd_kernel<uint8_t><<<blocks_for(slice), kThreads, 0, stream>>>(
            static_cast<uint8_t*>(out), indices, static_cast<const uint8_t*>(updates), rows, slice, nd, fault);
        break;
      default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
  }
  const bool known = dispatch_numeric(elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    scatter_nd_reduce_kernel<T><<<blocks_for(slice), kThreads, 0, stream>>>(
        static_cast<T*>(out), indices, static_cast<const T*>(updates), rows, slice, nd, op, fault);
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_trilu(int elem_bytes, const void* x, void* y, int64_t batches, int64_t rows, int64_t cols, int64_t k,
                         bool upper, cudaStream_t stream) {
  const int64_t n = batches * rows * cols;
  if (n <= 0) return cudaSuccess;
  switch (elem_bytes) {
    case 8:
      trilu_kernel<uint64_t><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint64_t*>(x),
                                                                     static_cast<uint64_t*>(y), rows, cols, k, upper, n);
      break;
    case 4:
      trilu_kernel<uint32_t><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint32_t*>(x),
                                                                     static_cast<uint32_t*>(y), rows, cols, k, upper, n);
      break;
    case 2:
      trilu_kernel<uint16_t><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint16_t*>(x),
                                                                     static_cast<uint16_t*>(y), rows, cols, k, upper, n);
      break;
    case 1:
      trilu_kernel<uint8_t><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint8_t*>(x),
                                                                    static_cast<uint8_t*>(y), rows, cols, k, upper, n);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}


namespace {
template <typename T>
__global__ void einsum_kernel(EinsumGeometry g, T* y, int64_t n) {
  using Acc = std::conditional_t<std::is_integral_v<T>, uint64_t, double>;  // integers wrap
  SS_GRID_STRIDE_LOOP(o, n) {
    int64_t off[kEinsumOperands] = {};
    for (int64_t rest = o, l = g.out_labels - 1; l >= 0; --l) {
      const int64_t v = rest % g.size[l];
      rest /= g.size[l];
      for (int k = 0; k < g.operands; ++k) off[k] += v * g.stride[k][l];
    }
    int64_t idx[kEinsumLabels] = {};
    int64_t sum_count = 1;
    for (int l = g.out_labels; l < g.labels; ++l) sum_count *= g.size[l];
    Acc acc = 0;
    for (int64_t s = 0; s < sum_count; ++s) {
      Acc prod = static_cast<Acc>(load(static_cast<const T*>(g.in[0])[off[0]]));
      for (int k = 1; k < g.operands; ++k) prod *= static_cast<Acc>(load(static_cast<const T*>(g.in[k])[off[k]]));
      acc += prod;
      for (int l = g.labels - 1; l >= g.out_labels; --l) {
        for (int k = 0; k < g.operands; ++k) off[k] += g.stride[k][l];
        if (++idx[l] < g.size[l]) break;
        for (int k = 0; k < g.operands; ++k) off[k] -= g.size[l] * g.stride[k][l];
        idx[l] = 0;
      }
    }
    if constexpr (std::is_integral_v<T>) y[o] = static_cast<T>(acc);
    else y[o] = store<T, typename Compute<T>::type>(static_cast<typename Compute<T>::type>(acc));
  }
}
}  // namespace

cudaError_t launch_einsum(Elem elem, const EinsumGeometry& g, void* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (g.operands < 1 || g.operands > kEinsumOperands || g.labels > kEinsumLabels) return cudaErrorInvalidValue;
  const bool known = dispatch_elem_among<float, double, __half, __nv_bfloat16, int32_t, int64_t>(elem, [&](auto tag) {
    using T = typename decltype(tag)::type;
    einsum_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(g, static_cast<T*>(y), n);
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

namespace {
// Calls f(ElemTag<U>{}) with U the unsigned integer of elem_bytes bytes; false for another size.
template <typename F>
bool dispatch_bytes(int elem_bytes, F&& f) {
  switch (elem_bytes) {
    case 8: f(ElemTag<uint64_t>{}); return true;
    case 4: f(ElemTag<uint32_t>{}); return true;
    case 2: f(ElemTag<uint16_t>{}); return true;
    case 1: f(ElemTag<uint8_t>{}); return true;
    default: return false;
  }
}
}  // namespace

cudaError_t launch_scatter_elements(ScatterOp op, Elem elem, void* out, const void* indices, bool indices_int64,
                                    const void* updates, const StridedIndex& lane_out, const StridedIndex& lane_in,
                                    int64_t lanes, int64_t len, int64_t in_axis_stride, int64_t out_axis_stride, int64_t dim,
                                    const FaultSink& fault, cudaStream_t stream) {
  if (lanes <= 0 || len <= 0) return cudaSuccess;
  bool known = false;
  auto with_index = [&](auto index_zero) {
    using I = decltype(index_zero);
    const I* ind = static_cast<const I*>(indices);
    if (op == ScatterOp::kNone) {
      known = dispatch_bytes(elem_size_bytes(elem), [&](auto tag) {
        using U = typename decltype(tag)::type;
        scatter_elements_kernel<U, I, false><<<blocks_for(lanes), kThreads, 0, stream>>>(
            static_cast<U*>(out), ind, static_cast<const U*>(updates), lane_out, lane_in, lanes, len, in_axis_stride,
            out_axis_stride, dim, op, fault);
      });
    } else {
      known = dispatch_numeric(elem, [&](auto tag) {
        using T = typename decltype(tag)::type;
        scatter_elements_kernel<T, I, true><<<blocks_for(lanes), kThreads, 0, stream>>>(
            static_cast<T*>(out), ind, static_cast<const T*>(updates), lane_out, lane_in, lanes, len, in_axis_stride,
            out_axis_stride, dim, op, fault);
      });
    }
  };
  if (indices_int64) with_index(int64_t{});
  else with_index(int32_t{});
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_one_hot(Elem index_elem, const void* indices, int elem_bytes, const void* values, void* out,
                           int64_t outer, int64_t depth, int64_t inner, cudaStream_t stream) {
  const int64_t n = outer * depth * inner;
  if (n <= 0) return cudaSuccess;
  bool known = false;
  dispatch_numeric(index_elem, [&](auto itag) {
    using I = typename decltype(itag)::type;
    known = dispatch_bytes(elem_bytes, [&](auto tag) {
      using U = typename decltype(tag)::type;
      one_hot_kernel<U, I><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const I*>(indices), static_cast<const U*>(values),
                                                                   static_cast<U*>(out), depth, inner, n);
    });
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launch_eye(int elem_bytes, uint64_t one_bits, void* y, int64_t rows, int64_t cols, int64_t k, cudaStream_t stream) {
  const int64_t n = rows * cols;
  if (n <= 0) return cudaSuccess;
  const bool known = dispatch_bytes(elem_bytes, [&](auto tag) {
    using U = typename decltype(tag)::type;
    eye_kernel<U><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<U*>(y), static_cast<U>(one_bits), cols, k, n);
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace shardscore::kernels
