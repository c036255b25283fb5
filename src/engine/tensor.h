#pragma once
// Tensor: a typed, shaped, 64-byte-aligned buffer. Copies share the buffer (views are cheap);
// ops never write into their inputs, so shared buffers are never mutated after they are produced.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/dtype.h"

namespace shardscore {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
std::string shape_to_string(const Shape& s);  // "[4096, 30]"

// Where Tensor buffers come from. A backend may install one for the current thread while it runs
// a batch (see ScopedTensorAllocator); otherwise buffers come from the heap.
class TensorAllocator {
 public:
  virtual ~TensorAllocator() = default;
  // A 64-byte-aligned buffer of at least `bytes` bytes; the deleter returns it.
  virtual std::shared_ptr<std::byte> allocate(std::size_t bytes) = 0;
  // Whether its buffers are in device (GPU) memory, which the host must not dereference.
  virtual bool on_device() const { return false; }
  // Sets `bytes` bytes at p to `byte` (poisoning, below); device allocators do it on the device.
  virtual void fill(void* p, int byte, std::size_t bytes);
};

// Installs `a` as this thread's allocator for its lifetime (restoring the previous one after).
class ScopedTensorAllocator {
 public:
  explicit ScopedTensorAllocator(TensorAllocator* a);
  ~ScopedTensorAllocator();
  ScopedTensorAllocator(const ScopedTensorAllocator&) = delete;
  ScopedTensorAllocator& operator=(const ScopedTensorAllocator&) = delete;

 private:
  TensorAllocator* previous_;
};

// A 64-byte-aligned heap buffer (at least one cache line). Freed buffers of 8 MiB and more are kept
// by the allocator for the next of their size (a job's batches) until tensor_heap_release_kept().
std::shared_ptr<std::byte> tensor_heap_buffer(std::size_t bytes);
// Returns the freed buffers the allocator keeps to the system (after a model's load, whose
// temporaries are never asked for again).
void tensor_heap_release_kept();
// How many heap buffers this process has allocated so far (for tests of memory planning).
int64_t tensor_heap_allocations();
// Tests: fill every new Tensor buffer with `byte` (0xFF makes floats NaN and integers -1), so an
// op that leaves part of its output unwritten, or reads it before writing, fails its test.
// A negative value turns poisoning off (the default).
void tensor_set_poison(int byte);

class Tensor {
 public:
  Tensor() = default;
  // Allocates an uninitialized buffer for dtype x shape.
  Tensor(DType dtype, Shape shape);
  // Copies `numel * dtype_size` bytes from host memory at data. Never under a device allocator.
  static Tensor copy_of(DType dtype, Shape shape, const void* data);

  bool empty() const { return dtype_ == DType::kUndefined; }
  // Whether the buffer is device memory (made under a device allocator): raw() and data() are
  // then device addresses, for kernels only.
  bool on_device() const { return on_device_; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[static_cast<std::size_t>(i)]; }
  int64_t numel() const { return shape_numel(shape_); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }

  void* raw() { return buf_.get(); }
  const void* raw() const { return buf_.get(); }
  template <typename T> T* data() { return reinterpret_cast<T*>(buf_.get()); }
  template <typename T> const T* data() const { return reinterpret_cast<const T*>(buf_.get()); }

  // Whether this tensor is the only holder of its buffer (no copy, view or constant shares it).
  bool sole_owner() const { return buf_ && buf_.use_count() == 1; }

  // Same buffer, another shape with the same element count.
  Tensor reshaped(Shape shape) const;
  // Index i of axis 0 (0 <= i < dim(0), rank >= 1): the sub-tensor of the other axes, a view into
  // this buffer (which it keeps alive), at a fixed address for the buffer's life.
  Tensor slice0(int64_t i) const;
  // Rows [begin, begin + count) of axis 0 (rank >= 1): a view as slice0's, of shape [count, ...].
  Tensor rows0(int64_t begin, int64_t count) const;
  // A tensor over a buffer the caller owns (`buf` keeps it alive), in host or device memory.
  static Tensor wrap(DType dtype, Shape shape, std::shared_ptr<std::byte> buf, bool on_device);

 private:
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  std::shared_ptr<std::byte> buf_;
  bool on_device_ = false;
};

// Whether a host float32 tensor holds no NaN and no infinity (true for other element types).
bool float32_all_finite(const Tensor& t);
// Whether p[0..n) holds no NaN and no infinity.
bool float32_all_finite(const float* p, int64_t n);

}  // namespace shardscore
