#include "engine/cpu/cpu_ops.h"

namespace shardscore {

Status cpu_argmax(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(int64_t axis, cpu_normalize_axis(ctx.node.attr_int("axis", 0), x->rank()));
  const bool keepdims = ctx.node.attr_int("keepdims", 1) != 0;
  const bool last = ctx.node.attr_int("select_last_index", 0) != 0;
  int64_t outer = 1, dim = x->dim(axis), inner = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= x->dim(k);
  for (int64_t k = axis + 1; k < x->rank(); ++k) inner *= x->dim(k);
  if (dim == 0) return invalid_argument("ArgMax over an empty axis");
  Shape out;
  for (int64_t k = 0; k < x->rank(); ++k) {
    if (k != axis) out.push_back(x->dim(k));
    else if (keepdims) out.push_back(1);
  }
  Tensor y(DType::kInt64, out);
  int64_t* py = y.data<int64_t>();
  bool ok = dtype_dispatch(x->dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x->data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t in = 0; in < inner; ++in) {
        const T* p = px + o * dim * inner + in;
        int64_t best = 0;
        for (int64_t d = 1; d < dim; ++d) {
          if (last ? !(p[d * inner] < p[best * inner]) : p[d * inner] > p[best * inner]) best = d;
        }
        py[o * inner + in] = best;
      }
  });
  if (!ok) return unimplemented("element type " + std::string(dtype_name(x->dtype())) + " is not supported");
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore
