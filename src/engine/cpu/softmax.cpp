#include <algorithm>
#include <cmath>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/vector_math.h"

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
// The largest of x[0..n), n >= 1, in 16 interleaved lanes (a chain of dependent compares would
// take most of a short row's time). Any order gives the same maximum; a row holding a NaN comes
// out all NaN from the exp below whichever value this returns.
float max_f32(const float* x, int64_t n) {
  float lane[16];
  std::fill(lane, lane + 16, x[0]);
  int64_t d = 0;
  for (; d + 16 <= n; d += 16)
    for (int k = 0; k < 16; ++k) lane[k] = std::max(lane[k], x[d + k]);
  for (; d < n; ++d) lane[0] = std::max(lane[0], x[d]);
  float mx = lane[0];
  for (int k = 1; k < 16; ++k) mx = std::max(mx, lane[k]);
  return mx;
}

// LogSoftmax: y = (x - max) - log(sum exp(x - max)): x - max in T, the sum in double, the
// difference in double, rounded once. Never overflows; a row holding a NaN comes out all NaN.
template <typename T>
void log_softmax_rows(const T* x, T* y, int64_t outer, int64_t dim, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      const T* px = x + o * dim * inner + in;
      T* py = y + o * dim * inner + in;
      T mx = px[0];
      for (int64_t d = 1; d < dim; ++d) mx = std::max(mx, px[d * inner]);
      double sum = 0;
      for (int64_t d = 0; d < dim; ++d) sum += static_cast<double>(std::exp(static_cast<T>(px[d * inner] - mx)));
      const double lse = std::log(sum);
      for (int64_t d = 0; d < dim; ++d) py[d * inner] = static_cast<T>(static_cast<double>(px[d * inner] - mx) - lse);
    }
  }
}

}  // namespace

void cpu_softmax_rows_f32(const float* x, float* y, int64_t rows, int64_t dim) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* px = x + r * dim;
    float* py = y + r * dim;
    const float mx = max_f32(px, dim);
    for (int64_t d = 0; d < dim; ++d) py[d] = px[d] - mx;
    vector_exp_f32(py, py, dim);
    double part[4] = {0, 0, 0, 0};
    int64_t d = 0;
    for (; d + 4 <= dim; d += 4)
      for (int k = 0; k < 4; ++k) part[k] += py[d + k];
    for (; d < dim; ++d) part[0] += py[d];
    const float inv = static_cast<float>(1.0 / ((part[0] + part[1]) + (part[2] + part[3])));
    for (int64_t k = 0; k < dim; ++k) py[k] *= inv;
  }
}

// Axis, extents and checks: softmax_plan (engine/op_plans_nn.h).
Status cpu_softmax(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(SoftmaxPlan p, softmax_plan(ctx.node, *x));
  const int64_t outer = p.outer, dim = p.dim, inner = p.inner;
  Tensor y(x->dtype(), x->shape());
  if (x->numel() > 0) {
    if (x->dtype() == DType::kFloat32 && inner == 1) cpu_softmax_rows_f32(x->data<float>(), y.data<float>(), outer, dim);
    else if (x->dtype() == DType::kFloat32) softmax_rows(x->data<float>(), y.data<float>(), outer, dim, inner);
    else if (x->dtype() == DType::kFloat64) softmax_rows(x->data<double>(), y.data<double>(), outer, dim, inner);
    else return unsupported_element_type(x->dtype());  // float16 not widened by op_run_cpu
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// LogSoftmax: Softmax's plan (opset < 13 flattens to 2-D at axis, default 1; opset >= 13 one axis,
// default -1).
Status cpu_log_softmax(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(SoftmaxPlan p, softmax_plan(ctx.node, *x));
  Tensor y(x->dtype(), x->shape());
  if (x->numel() > 0) {
    if (x->dtype() == DType::kFloat32) log_softmax_rows(x->data<float>(), y.data<float>(), p.outer, p.dim, p.inner);
    else if (x->dtype() == DType::kFloat64) log_softmax_rows(x->data<double>(), y.data<double>(), p.outer, p.dim, p.inner);
    else return unsupported_element_type(x->dtype());  // float16 not widened by op_run_cpu
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore
