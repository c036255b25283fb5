#include <cstring>

#include "engine/cpu/cpu_ops.h"

namespace shardscore {

// ai.onnx.ml ArrayFeatureExtractor: selects entries of X's last dimension by the int64 indices Y.
// Output shape is X's with the last dimension replaced by |Y| ([1, |Y|] for a 1-D X), as ONNX
// Runtime does.
Status cpu_array_feature_extractor(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* y, cpu_required_input(ctx, 1));
  if (y->dtype() != DType::kInt64) return invalid_argument("indices must be int64");
  if (x->rank() < 1) return invalid_argument("X must have at least one dimension");
  const int64_t last = x->dim(x->rank() - 1);
  const int64_t k = y->numel();
  const int64_t* idx = y->data<int64_t>();
  for (int64_t i = 0; i < k; ++i)
    if (idx[i] < 0 || idx[i] >= last) {
      return invalid_argument("index " + std::to_string(idx[i]) + " is out of range for a last dimension of " + std::to_string(last));
    }
  Shape out = x->shape();
  if (out.size() == 1) out.insert(out.begin(), 1);
  out.back() = k;
  Tensor z(x->dtype(), out);
  const std::size_t es = dtype_size(x->dtype());
  const int64_t rows = x->numel() / std::max<int64_t>(last, 1);
  const auto* src = static_cast<const std::byte*>(x->raw());
  auto* dst = static_cast<std::byte*>(z.raw());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i) std::memcpy(dst + (r * k + i) * es, src + (r * last + idx[i]) * es, es);
  ctx.outputs[0] = std::move(z);
  return ok_status();
}

}  // namespace shardscore
