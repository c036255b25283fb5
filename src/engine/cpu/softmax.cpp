#include <cmath>

#include "engine/cpu/cpu_ops.h"

namespace shardscore {

namespace {
template <typename T>
void softmax_rows(const T* x, T* y, int64_t outer, int64_t dim, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      const T* px = x + o * dim * inner + in;
      T* py = y + o * dim * inner + in;
      T mx = px[0];
      for (int64_t d = 1; d < dim; ++d) mx = std::max(mx, px[d * inner]);
      double sum = 0;
      for (int64_t d = 0; d < dim; ++d) {
        T e = std::exp(px[d * inner] - mx);
        py[d * inner] = e;
        sum += e;
      }
      const T inv = static_cast<T>(1.0 / sum);
      for (int64_t d = 0; d < dim; ++d) py[d * inner] *= inv;
    }
  }
}
}  // namespace

// Opset < 13 flattens to 2-D at `axis` (default 1) and normalizes each row; opset >= 13 normalizes
// along the single dimension `axis` (default -1).
Status cpu_softmax(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  const bool legacy = ctx.node.opset < 13;
  SS_ASSIGN_OR_RETURN(int64_t axis, cpu_normalize_axis(ctx.node.attr_int("axis", legacy ? 1 : -1), x->rank()));
  int64_t outer = 1, dim = 1, inner = 1;
  for (int64_t k = 0; k < x->rank(); ++k) {
    if (k < axis) outer *= x->dim(k);
    else if (k == axis || legacy) dim *= x->dim(k);
    else inner *= x->dim(k);
  }
  Tensor y(x->dtype(), x->shape());
  if (x->numel() > 0) {
    if (x->dtype() == DType::kFloat32) softmax_rows(x->data<float>(), y.data<float>(), outer, dim, inner);
    else if (x->dtype() == DType::kFloat64) softmax_rows(x->data<double>(), y.data<double>(), outer, dim, inner);
    else return unimplemented("element type " + std::string(dtype_name(x->dtype())) + " is not supported");
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore
