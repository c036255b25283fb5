#include "engine/tensor.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <cstdio>
#include <cstring>

#include <oneapi/tbb/scalable_allocator.h>

#include "common/log.h"

namespace shardscore {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_to_string(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += s[i] < 0 ? std::string("?") : std::to_string(s[i]);
  }
  return out + "]";
}

namespace {
thread_local TensorAllocator* t_allocator = nullptr;
std::atomic<int64_t> g_heap_allocations{0};
}  // namespace

int64_t tensor_heap_allocations() { return g_heap_allocations.load(); }

namespace {
std::atomic<int> g_poison{-1};
}  // namespace

void tensor_set_poison(int byte) { g_poison.store(byte); }

ScopedTensorAllocator::ScopedTensorAllocator(TensorAllocator* a) : previous_(t_allocator) { t_allocator = a; }
ScopedTensorAllocator::~ScopedTensorAllocator() { t_allocator = previous_; }

std::shared_ptr<std::byte> tensor_heap_buffer(std::size_t bytes) {
  // 64-byte alignment for vector loads; at least one line so zero-size tensors have a buffer.
  bytes = std::max<std::size_t>(64, (bytes + 63) / 64 * 64);
  // oneTBB's allocator keeps freed large blocks for reuse: a job allocates the same batch-sized
  // buffers over and over, and glibc returns blocks over 32 MB to the kernel at once (mmap), so
  // that every batch paid for page faults and zeroing of fresh pages (measured: bench/job_pipeline.py).
  // Blocks of 64 MiB and more it keeps only when told to, and smaller ones it may return between two
  // batches: a batch of 65,536 rows of 256 float32 features (64 MiB) faulted in its two buffers page
  // by page, at a quarter of the job's rate now (docs/benchmarks.md). So blocks from 8 MiB up are
  // kept until tensor_heap_release_kept(); the price is one kept block per large size in use (about
  // 75 MB more peak memory for ResNet-50 at batch 8 on the CPU backend).
  static const bool kept_large = (scalable_allocation_mode(TBBMALLOC_SET_HUGE_SIZE_THRESHOLD, 8 << 20), true);
  (void)kept_large;
  auto* p = static_cast<std::byte*>(scalable_aligned_malloc(bytes, 64));
  if (!p) throw std::bad_alloc();
  g_heap_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::shared_ptr<std::byte>(p, [](std::byte* q) { scalable_aligned_free(q); });
}

void tensor_heap_release_kept() { scalable_allocation_command(TBBMALLOC_CLEAN_ALL_BUFFERS, nullptr); }

void TensorAllocator::fill(void* p, int byte, std::size_t bytes) { std::memset(p, byte, bytes); }

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  if (t_allocator) {
    buf_ = t_allocator->allocate(nbytes());
    on_device_ = t_allocator->on_device();
  } else {
    buf_ = tensor_heap_buffer(nbytes());
  }
  if (const int poison = g_poison.load(std::memory_order_relaxed); poison >= 0) {
    if (t_allocator) t_allocator->fill(buf_.get(), poison, nbytes());
    else std::memset(buf_.get(), poison, nbytes());
  }
}

Tensor Tensor::copy_of(DType dtype, Shape shape, const void* data) {
  Tensor t(dtype, std::move(shape));
  if (t.on_device_) {
    // A host function ran under a device allocator: a backend bug, never an input's fault.
    // Through the logger, which ends a live progress line first (a terminal).
    log_error("internal error: Tensor::copy_of under a device allocator");
    std::abort();
  }
  if (t.nbytes()) std::memcpy(t.raw(), data, t.nbytes());
  return t;
}

Tensor Tensor::wrap(DType dtype, Shape shape, std::shared_ptr<std::byte> buf, bool on_device) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.buf_ = std::move(buf);
  t.on_device_ = on_device;
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::rows0(int64_t begin, int64_t count) const {
  Tensor t = *this;
  const std::size_t row_bytes = shape_[0] > 0 ? nbytes() / static_cast<std::size_t>(shape_[0]) : 0;
  t.shape_[0] = count;
  t.buf_ = std::shared_ptr<std::byte>(buf_, buf_.get() + static_cast<std::size_t>(begin) * row_bytes);
  return t;
}

Tensor Tensor::slice0(int64_t i) const {
  Tensor t = *this;
  t.shape_.erase(t.shape_.begin());
  // An aliasing shared_ptr: the sub-tensor's address, the whole buffer's ownership.
  t.buf_ = std::shared_ptr<std::byte>(buf_, buf_.get() + static_cast<std::size_t>(i) * t.nbytes());
  return t;
}

bool float32_all_finite(const Tensor& t) {
  if (t.empty() || t.on_device() || t.dtype() != DType::kFloat32) return true;
  return float32_all_finite(t.data<float>(), t.numel());
}

bool float32_all_finite(const float* values, int64_t n) {
  // NaN and infinities are the floats whose exponent bits are all set (read as bits: vectorizes).
  const auto* p = reinterpret_cast<const uint32_t*>(values);
  uint32_t any = 0;
  for (int64_t i = 0; i < n; ++i) any |= (p[i] & 0x7f800000u) == 0x7f800000u;
  return any == 0;
}

}  // namespace shardscore
