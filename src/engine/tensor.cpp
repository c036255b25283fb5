#include "engine/tensor.h"

#include <cstdlib>
#include <cstring>

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

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  // 64-byte alignment for vector loads; at least one line so zero-size tensors have a buffer.
  std::size_t bytes = (nbytes() + 63) / 64 * 64;
  if (bytes == 0) bytes = 64;
  buf_ = std::shared_ptr<std::byte>(static_cast<std::byte*>(std::aligned_alloc(64, bytes)), [](std::byte* p) { std::free(p); });
  if (!buf_) throw std::bad_alloc();
}

Tensor Tensor::copy_of(DType dtype, Shape shape, const void* data) {
  Tensor t(dtype, std::move(shape));
  if (t.nbytes()) std::memcpy(t.raw(), data, t.nbytes());
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

}  // namespace shardscore
