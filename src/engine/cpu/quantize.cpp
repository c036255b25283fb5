// The quantized ops on the CPU: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear
// (op_plans_elementwise.h), MatMulInteger, ConvInteger and shardscore.RowQuantizedMatMul (op_plans_nn.h).
//
// QuantizeLinear and DequantizeLinear (one element and the
// scale element it uses by src/common/quantize.h, which the CUDA kernels share). float16 and
// bfloat16 x or scale arrive widened to float32 (op_run_cpu, exactly), so the scale is always
// float32 here and x float32 or int32 (QuantizeLinear) or a quantized integer (DequantizeLinear);
// DequantizeLinear's float32 y is then rounded once to the scale's 16-bit type.
//
// The integer products are exact: the operands' offsets from their zero points (at most 255 in
// magnitude) go to float32, and BLAS multiplies them over slices of K short enough that no sum can
// pass 2^24, below which float32 holds every integer, so no partial sum of any order BLAS chooses
// is rounded; the slices' results are added in int32. (oneDNN's int8 products are not used: on
// CPUs without VNNI they add pairs of products in int16 with saturation, which gives wrong sums.)
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "common/quantize.h"
#include "engine/cpu/blas.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/im2col.h"
#include "engine/cpu/vector_math.h"
#include "engine/op_plans_elementwise.h"
#include "engine/op_plans_nn.h"

namespace shardscore {
namespace {

// out[i] = f(x[i], s[j], z ? z[j] : 0) for every element i of x, j its scale / zero-point element.
// Per-tensor apart, s[0] and z[0] read once into locals: no index arithmetic, and nothing the
// stores to out could be taken to change.
template <typename X, typename Z, typename O, typename F>
void map_elements(const QuantGeometry& g, int64_t n, const X* x, const float* s, const Z* z, O* out, F&& f) {
  if (g.per_tensor()) {
    const float s0 = s[0];
    const Z z0 = z ? z[0] : Z{0};
    for (int64_t i = 0; i < n; ++i) out[i] = f(x[i], s0, z0);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = g.param_index(i);
      out[i] = f(x[i], s[j], z ? z[j] : Z{0});
    }
  }
}

// The int8 / uint8 operand t as float32 offsets from its zero point: element i uses zero point
// (i / div) % mod when the zero point is per row or channel (z.stride 1), its only one otherwise.
template <typename T>
void offsets_typed(const Tensor& t, const IntZeroPoint& z, int64_t div, int64_t mod, float* out) {
  const T* v = t.data<T>();
  const T* zp = z.t ? z.t->data<T>() : nullptr;
  const int64_t n = t.numel();
  if (!zp || z.stride == 0) {
    const float z0 = zp ? static_cast<float>(zp[0]) : 0.0f;
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(v[i]) - z0;
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(v[i]) - static_cast<float>(zp[(i / div) % mod]);
  }
}
std::vector<float> offsets(const Tensor& t, const IntZeroPoint& z, int64_t div, int64_t mod) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  if (t.dtype() == DType::kInt8) offsets_typed<int8_t>(t, z, div, mod, out.data());
  else offsets_typed<uint8_t>(t, z, div, mod, out.data());
  return out;
}

// offsets() of a constant operand (an initializer, with its zero point: kConstantWeightAttr), made
// once per tensor for the life of the process and shared by every call and thread. The entry keeps
// a reference to both tensors, so that their addresses, the key, cannot be reused by others (as
// onednn.h's cache of packed weights does).
std::shared_ptr<const std::vector<float>> constant_offsets(const Tensor& t, const IntZeroPoint& z, int64_t div,
                                                          int64_t mod) {
  struct Entry {
    Tensor keep, keep_zp;
    std::shared_ptr<const std::vector<float>> offsets;
  };
  static std::mutex mu;
  static std::map<std::tuple<const void*, const void*, int64_t, int64_t>, Entry> cache;
  const auto key = std::make_tuple(t.raw(), z.t ? z.t->raw() : nullptr, div, mod);
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) {
    it = cache.emplace(key, Entry{t, z.t ? *z.t : Tensor(),
                                  std::make_shared<const std::vector<float>>(offsets(t, z, div, mod))}).first;
  }
  return it->second.offsets;
}

// A weight operand's offsets: cached where the operand is constant (kConstantWeightAttr).
std::shared_ptr<const std::vector<float>> weight_offsets(bool constant, const Tensor& t, const IntZeroPoint& z, int64_t div,
                                                        int64_t mod) {
  return constant ? constant_offsets(t, z, div, mod) : std::make_shared<const std::vector<float>>(offsets(t, z, div, mod));
}

// The largest |v - zero point| an operand of type t can hold.
int64_t max_offset(DType t, const IntZeroPoint& z) {
  const int64_t lo = t == DType::kInt8 ? -128 : 0, hi = t == DType::kInt8 ? 127 : 255;
  std::vector<int64_t> zps{0};
  if (z.t) {
    zps.clear();
    for (int64_t i = 0, n = z.t->numel(); i < n; ++i)
      zps.push_back(t == DType::kInt8 ? z.t->data<int8_t>()[i] : z.t->data<uint8_t>()[i]);
  }
  int64_t m = 0;
  for (int64_t zp : zps) m = std::max({m, std::abs(lo - zp), std::abs(hi - zp)});
  return m;
}

// Y[m x n] = A[m x k] B[k x n] (row-major, leading dimensions lda, ldb, n), A and B integers held
// in float32 whose products are at most `bound` in magnitude: exact, as the file's comment says.
// tmp: scratch of m * n floats (a Tensor's, for the allocator's reuse of large buffers).
void exact_int_gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                    int64_t bound, int32_t* y, float* tmp) {
  if (m == 0 || n == 0) return;
  std::fill(y, y + m * n, 0);
  const int64_t slice = bound == 0 ? std::max<int64_t>(k, 1) : std::max<int64_t>((int64_t{1} << 24) / bound, 1);
  for (int64_t k0 = 0; k0 < k; k0 += slice) {
    const int64_t kc = std::min(slice, k - k0);
    blas_gemm(false, false, m, n, kc, 1.0f, a + k0, lda, b + k0 * ldb, ldb, 0.0f, tmp, n);
    for (int64_t i = 0; i < m * n; ++i) {
      // int32 sums wrap, as ONNX Runtime's do (unsigned, where wrapping is defined).
      y[i] = static_cast<int32_t>(static_cast<uint32_t>(y[i]) + static_cast<uint32_t>(static_cast<int32_t>(tmp[i])));
    }
  }
}

}  // namespace

Status cpu_quantize_linear(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(QuantizeLinearPlan p, quantize_linear_plan(ctx.node, ctx.inputs));
  Tensor y(p.y_dtype, p.x->shape());
  const float* s = p.scale->data<float>();
  // y: the integer types the plan admits (int8, uint8, int16, uint16).
  dtype_dispatch_among<int8_t, uint8_t, int16_t, uint16_t>(p.y_dtype, [&](auto q_zero) {
    using Q = decltype(q_zero);
    const Q* z = p.zero_point ? p.zero_point->data<Q>() : nullptr;
    auto q = [](auto x, float scale, Q zero) {
      return quantize_linear_value<Q>(static_cast<float>(x), scale, static_cast<int32_t>(zero));
    };
    if (p.x->dtype() == DType::kInt32) {
      map_elements(p.geom, p.x->numel(), p.x->data<int32_t>(), s, z, y.data<Q>(), q);
    } else {
      map_elements(p.geom, p.x->numel(), p.x->data<float>(), s, z, y.data<Q>(), q);
    }
  });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_dequantize_linear(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(QuantizeLinearPlan p, dequantize_linear_plan(ctx.node, ctx.inputs));
  Tensor y(DType::kFloat32, p.x->shape());
  const float* s = p.scale->data<float>();
  // x: those and int32 (a bias).
  dtype_dispatch_among<int8_t, uint8_t, int16_t, uint16_t, int32_t>(p.x->dtype(), [&](auto x_zero) {
    using X = decltype(x_zero);
    map_elements(p.geom, p.x->numel(), p.x->data<X>(), s, p.zero_point ? p.zero_point->data<X>() : nullptr,
                 y.data<float>(), [](X x, float scale, X zero) {
                   return dequantize_linear_value<X>(x, scale, static_cast<int64_t>(zero));
                 });
  });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_dynamic_quantize_linear(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(DynamicQuantizeLinearPlan p, dynamic_quantize_linear_plan(ctx.inputs));
  const float* x = p.x->data<float>();
  const int64_t n = p.x->numel();
  float lo = 0, hi = 0;  // the range includes 0 anyway; a NaN takes no part
  vector_range_with_zero_f32(x, n, &lo, &hi);
  const DynamicQuantParams q = dynamic_quantize_params(lo, hi);
  Tensor y(DType::kUInt8, p.x->shape());
  vector_quantize_u8_f32(x, n, q.scale, q.zero_point, y.data<uint8_t>());
  ctx.outputs[0] = std::move(y);
  if (ctx.outputs.size() > 1) ctx.outputs[1] = Tensor::copy_of(DType::kFloat32, {}, &q.scale);
  if (ctx.outputs.size() > 2) ctx.outputs[2] = Tensor::copy_of(DType::kUInt8, {}, &q.zero_point);
  return ok_status();
}

// As matmul_typed (gemm.cpp): B one matrix, A's batch folded into rows; otherwise a product per
// broadcast batch index.
Status cpu_matmul_integer(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(MatMulIntegerPlan p, matmul_integer_plan(ctx.node, ctx.inputs));
  const Tensor& a = *ctx.inputs[0];
  const Tensor& b = *ctx.inputs[1];
  const MatMulPlan& mm = p.mm;
  Tensor y(DType::kInt32, mm.out_shape);
  int32_t* py = y.data<int32_t>();
  std::fill(py, py + y.numel(), 0);
  if (mm.m * mm.n == 0 || mm.nb == 0 || mm.k == 0) {
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  const std::vector<float> af = offsets(a, p.a_zp, mm.k, mm.m);
  const auto b_offsets = weight_offsets(p.constant_b, b, p.b_zp, 1, mm.n);
  const std::vector<float>& bf = *b_offsets;
  const int64_t bound = max_offset(a.dtype(), p.a_zp) * max_offset(b.dtype(), p.b_zp);
  if (mm.nbb == 1 && mm.na == mm.nb) {
    Tensor tmp(DType::kFloat32, {mm.na * mm.m, mm.n});
    exact_int_gemm(mm.na * mm.m, mm.n, mm.k, af.data(), mm.k, bf.data(), mm.n, bound, py, tmp.data<float>());
  } else {
    Tensor tmp(DType::kFloat32, {mm.m, mm.n});
    for (int64_t bi = 0; bi < mm.nb; ++bi) {
      exact_int_gemm(mm.m, mm.n, mm.k, af.data() + mm.a_matrix(bi) * mm.m * mm.k, mm.k,
                     bf.data() + mm.b_matrix(bi) * mm.k * mm.n, mm.n, bound, py + bi * mm.m * mm.n, tmp.data<float>());
    }
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// Each row of x quantized as DynamicQuantizeLinear quantizes a tensor (cpu_dynamic_quantize_linear),
// its offsets from its own zero point going to one exact product for all rows; then the Cast and
// the two Muls of the nodes it replaces, in their order.
Status cpu_row_quantized_matmul(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(RowQuantizedMatMulPlan p, row_quantized_matmul_plan(ctx.node, ctx.inputs));
  const Tensor& w = *ctx.inputs[1];
  const MatMulPlan& mm = p.mm.mm;
  Tensor y(DType::kFloat32, mm.out_shape);
  float* py = y.data<float>();
  const int64_t out_n = y.numel();
  if (out_n == 0) {
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  const float* x = p.x->data<float>();
  const int64_t per_row = p.x->numel() / p.rows;
  // Scratch as Tensors: the allocator keeps large buffers for the next batch (no fresh page faults).
  Tensor af(DType::kFloat32, {p.x->numel()});
  std::vector<float> row_scale(static_cast<std::size_t>(p.rows));
  int64_t a_bound = 0;
  for (int64_t r = 0; r < p.rows; ++r) {
    float lo = 0, hi = 0;
    vector_range_with_zero_f32(x + r * per_row, per_row, &lo, &hi);
    const DynamicQuantParams q = dynamic_quantize_params(lo, hi);
    row_scale[r] = q.scale;
    a_bound = std::max<int64_t>({a_bound, q.zero_point, 255 - q.zero_point});
    vector_quantize_u8_offsets_f32(x + r * per_row, per_row, q.scale, q.zero_point, af.data<float>() + r * per_row);
  }
  Tensor acc(DType::kInt32, {out_n});
  int32_t* pa = acc.data<int32_t>();
  if (mm.k > 0) {
    const auto b_offsets = weight_offsets(p.mm.constant_b, w, p.mm.b_zp, 1, mm.n);
    Tensor tmp(DType::kFloat32, {out_n});
    exact_int_gemm(mm.na * mm.m, mm.n, mm.k, af.data<float>(), mm.k, b_offsets->data(), mm.n,
                   a_bound * max_offset(w.dtype(), p.mm.b_zp), pa, tmp.data<float>());
  } else {
    std::fill(pa, pa + out_n, 0);
  }
  // Cast, then Mul by (scale * w_scale): the products in the nodes' order, in float32.
  const float* ws = p.w_scale->data<float>();
  const int64_t out_per_row = out_n / p.rows;
  for (int64_t r = 0; r < p.rows; ++r) {
    const float s = row_scale[r];
    const int32_t* ar = pa + r * out_per_row;
    float* yr = py + r * out_per_row;
    if (!p.scale_per_column) {
      const float sw = s * ws[0];
      for (int64_t i = 0; i < out_per_row; ++i) yr[i] = static_cast<float>(ar[i]) * sw;
    } else {
      for (int64_t i = 0; i < out_per_row; ++i) yr[i] = static_cast<float>(ar[i]) * (s * ws[i % mm.n]);
    }
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// im2col of x's offsets (0 in the padding: the zero point's own offset) and one exact product per
// image and group, as Conv's (nn.cpp).
Status cpu_conv_integer(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ConvIntegerPlan p, conv_integer_plan(ctx.node, ctx.inputs));
  const Tensor& x = *ctx.inputs[0];
  const Tensor& w = *ctx.inputs[1];
  const ConvPlan& c = p.conv;
  const Window2d& g = c.g;
  const int64_t h = x.dim(2), wd = x.dim(3), cg = c.c / c.group, mg = c.m / c.group;
  const int64_t kk = cg * g.k[0] * g.k[1], pix = g.out[0] * g.out[1];
  Tensor y(DType::kInt32, c.out_shape);
  int32_t* py = y.data<int32_t>();
  std::fill(py, py + y.numel(), 0);
  if (y.numel() > 0 && kk > 0) {
    const std::vector<float> xf = offsets(x, p.x_zp, 1, 1);
    const auto w_offsets = weight_offsets(p.constant_w, w, p.w_zp, kk, c.m);
    const std::vector<float>& wf = *w_offsets;
    const int64_t bound = max_offset(x.dtype(), p.x_zp) * max_offset(w.dtype(), p.w_zp);
    std::vector<float> col(static_cast<std::size_t>(kk * pix));
    Tensor tmp(DType::kFloat32, {mg, pix});
    for (int64_t n = 0; n < c.n; ++n) {
      for (int64_t gi = 0; gi < c.group; ++gi) {
        im2col(xf.data() + (n * c.c + gi * cg) * h * wd, cg, h, wd, g, col.data());
        exact_int_gemm(mg, pix, kk, wf.data() + gi * mg * kk, kk, col.data(), pix, bound,
                       py + (n * c.m + gi * mg) * pix, tmp.data<float>());
      }
    }
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace shardscore
