// Convolution, pooling, batch normalization, padding and resizing on the CPU.
//
// Conv is im2col + one BLAS product per image and group: the product's shape depends only on the
// image, never on the batch, so every image's output is bit-identical for any batch size. Like
// every op here it runs on its caller's thread (parallelism comes from batches).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "engine/cpu/blas.h"
#include "engine/cpu/onednn.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/im2col.h"
#include "engine/op_plans_tensor.h"

namespace shardscore {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

// ---------------------------------------------------------------------------------------------
// BLAS

// Window geometry (Conv, pools): window_geometry in engine/op_plans_nn.cpp.

// Calls f(iy, ix) for each tap of output (oy, ox)'s window that lies inside the h x wd input, row by row.
template <typename F>
void for_each_tap(const Window2d& g, int64_t oy, int64_t ox, int64_t h, int64_t wd, F&& f) {
  for (int64_t i = 0; i < g.k[0]; ++i) {
    const int64_t iy = oy * g.s[0] - g.pb[0] + i * g.d[0];
    if (iy < 0 || iy >= h) continue;
    for (int64_t j = 0; j < g.k[1]; ++j) {
      const int64_t ix = ox * g.s[1] - g.pb[1] + j * g.d[1];
      if (ix >= 0 && ix < wd) f(iy, ix);
    }
  }
}


// ---------------------------------------------------------------------------------------------
// Conv

// The epilogue of a fused convolution (shardscore.FusedConv): y += residual, then Relu, applied to
// each output plane right after it is computed, while it is still in cache.
template <typename T>
struct ConvEpilogue {
  const T* residual = nullptr;  // same layout as y, or null
  bool relu = false;
  void apply(T* plane, int64_t offset, int64_t count) const {
    if (residual) {
      const T* r = residual + offset;
      for (int64_t q = 0; q < count; ++q) plane[q] += r[q];
    }
    if (relu)
      for (int64_t q = 0; q < count; ++q) plane[q] = plane[q] < T(0) ? T(0) : plane[q];
  }
  bool active() const { return residual || relu; }
};

template <typename T>
void conv_typed(const Tensor& x, const Tensor& w, const Tensor* bias, int64_t group, const Window2d& g, Tensor* y,
                const ConvEpilogue<T>& epilogue = {}) {
  const int64_t n_img = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t m = w.dim(0), cg = c / group, mg = m / group;
  const int64_t kh = g.k[0], kw = g.k[1], oh = g.out[0], ow = g.out[1];
  const int64_t kk = cg * kh * kw, p = oh * ow;
  const bool direct =
      kh == 1 && kw == 1 && g.s[0] == 1 && g.s[1] == 1 && g.pb[0] == 0 && g.pb[1] == 0 && g.pe[0] == 0 && g.pe[1] == 0;
  std::vector<T> col(direct ? 0 : static_cast<std::size_t>(kk * p));
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  const T* pbias = bias ? bias->data<T>() : nullptr;
  T* py = y->data<T>();
  if (p == 0 || mg == 0) return;
  if (cg == 1 && mg == 1) {
    // Depthwise (one filter per channel, MobileNet): a product per channel would be 1 x kh*kw,
    // so accumulate tap by tap instead; the order of the sums is fixed, whatever the batch.
    for (int64_t n = 0; n < n_img; ++n) {
      for (int64_t ch = 0; ch < c; ++ch) {
        const T* xc = px + (n * c + ch) * h * wd;
        const T* wc = pw + ch * kh * kw;
        T* yc = py + (n * m + ch) * p;
        std::fill(yc, yc + p, T(0));
        for (int64_t i = 0; i < kh; ++i) {
          for (int64_t j = 0; j < kw; ++j) {
            const T wv = wc[i * kw + j];
            const int64_t off = j * g.d[1] - g.pb[1];  // ix = ox * stride + off
            const int64_t lo = std::min(off >= 0 ? 0 : (-off + g.s[1] - 1) / g.s[1], ow);
            const int64_t hi = std::clamp<int64_t>(wd - 1 - off < 0 ? 0 : (wd - 1 - off) / g.s[1] + 1, lo, ow);
            for (int64_t oy = 0; oy < oh; ++oy) {
              const int64_t iy = oy * g.s[0] - g.pb[0] + i * g.d[0];
              if (iy < 0 || iy >= h) continue;
              const T* xr = xc + iy * wd;
              T* yr = yc + oy * ow;
              if (g.s[1] == 1) {
                for (int64_t ox = lo; ox < hi; ++ox) yr[ox] += wv * xr[ox + off];
              } else {
                for (int64_t ox = lo; ox < hi; ++ox) yr[ox] += wv * xr[ox * g.s[1] + off];
              }
            }
          }
        }
        if (pbias) {
          const T bv = pbias[ch];
          for (int64_t q = 0; q < p; ++q) yc[q] += bv;
        }
        if (epilogue.active()) epilogue.apply(yc, (n * m + ch) * p, p);
      }
    }
    return;
  }
  for (int64_t n = 0; n < n_img; ++n) {
    for (int64_t gi = 0; gi < group; ++gi) {
      const T* xg = px + (n * c + gi * cg) * h * wd;
      const T* src = xg;
      if (!direct) {
        im2col(xg, cg, h, wd, g, col.data());
        src = col.data();
      }
      T* yg = py + (n * m + gi * mg) * p;
      blas_gemm(false, false, mg, p, kk, T(1), pw + gi * mg * kk, kk, src, p, T(0), yg, p);
      if (pbias) {
        for (int64_t mi = 0; mi < mg; ++mi) {
          const T bv = pbias[gi * mg + mi];
          T* row = yg + mi * p;
          for (int64_t q = 0; q < p; ++q) row[q] += bv;
        }
      }
      if (epilogue.active()) epilogue.apply(yg, (n * m + gi * mg) * p, mg * p);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pools

template <typename T>
void max_pool_typed(const Tensor& x, const Window2d& g, Tensor* y) {
  const int64_t planes = x.dim(0) * x.dim(1), h = x.dim(2), wd = x.dim(3), oh = g.out[0], ow = g.out[1];
  const T* px = x.data<T>();
  T* py = y->data<T>();
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = px + pl * h * wd;
    T* yp = py + pl * oh * ow;
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        T best = std::numeric_limits<T>::lowest();
        bool nan = false;
        for (int64_t i = 0; i < g.k[0] && !nan; ++i) {
          const int64_t iy = oy * g.s[0] - g.pb[0] + i * g.d[0];
          if (iy < 0 || iy >= h) continue;
          for (int64_t j = 0; j < g.k[1]; ++j) {
            const int64_t ix = ox * g.s[1] - g.pb[1] + j * g.d[1];
            if (ix < 0 || ix >= wd) continue;
            const T v = xp[iy * wd + ix];
            if (std::isnan(v)) {
              // A missing value stays missing: NaN in the window gives NaN.
              best = v;
              nan = true;
              break;
            }
            if (v > best) best = v;
          }
        }
        yp[oy * ow + ox] = best;
      }
    }
  }
}

template <typename T>
void average_pool_typed(const Tensor& x, const Window2d& g, bool count_include_pad, Tensor* y) {
  const int64_t planes = x.dim(0) * x.dim(1), h = x.dim(2), wd = x.dim(3), oh = g.out[0], ow = g.out[1];
  const T* px = x.data<T>();
  T* py = y->data<T>();
  // count_include_pad counts the taps inside the padded input, not those of a ceil_mode window past
  // the end padding: PyTorch's rule, and that of ONNX Runtime 1.32 and onnx 1.23's reference (ONNX
  // Runtime 1.19 and onnx 1.16 divided by the whole kernel).
  auto padded_taps = [&g](int axis, int64_t o, int64_t in) {
    int64_t n = 0;
    for (int64_t a = 0; a < g.k[axis]; ++a)
      n += o * g.s[axis] + a * g.d[axis] < in + g.pb[axis] + g.pe[axis] ? 1 : 0;
    return n;
  };
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = px + pl * h * wd;
    T* yp = py + pl * oh * ow;
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        double sum = 0;
        int64_t count = 0;
        for_each_tap(g, oy, ox, h, wd, [&](int64_t iy, int64_t ix) {
          sum += static_cast<double>(xp[iy * wd + ix]);
          ++count;
        });
        const int64_t divisor = count_include_pad ? padded_taps(0, oy, h) * padded_taps(1, ox, wd) : count;
        yp[oy * ow + ox] = static_cast<T>(sum / static_cast<double>(divisor));
      }
    }
  }
}

Status pool(OpContext& ctx, bool is_max) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(PoolPlan p, pool_plan(ctx.node, *x, is_max));
  Tensor y(x->dtype(), p.out_shape);
  if (x->dtype() == DType::kFloat32) {
    is_max ? max_pool_typed<float>(*x, p.g, &y) : average_pool_typed<float>(*x, p.g, p.count_include_pad, &y);
  } else if (x->dtype() == DType::kFloat64) {
    is_max ? max_pool_typed<double>(*x, p.g, &y) : average_pool_typed<double>(*x, p.g, p.count_include_pad, &y);
  } else {
    return unsupported_element_type(x->dtype());  // float16 not widened by op_run_cpu
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// Resize

// The modes resize_plan (engine/op_plans_tensor.h) reads.
using CoordMode = ResizeCoordMode;
using NearestMode = ResizeNearestMode;

// In float32 arithmetic, as ONNX Runtime computes it: where an exact value would land on an
// integer (floor / ceil boundaries), float and double can pick different neighbours.
float original_coordinate(CoordMode m, int64_t x_out, float scale, int64_t len_in, int64_t len_out) {
  const float x = static_cast<float>(x_out);
  switch (m) {
    case CoordMode::kHalfPixel: return (x + 0.5f) / scale - 0.5f;
    case CoordMode::kPytorchHalfPixel: return len_out > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
    case CoordMode::kAlignCorners:
      return len_out == 1 ? 0.0f : x * static_cast<float>(len_in - 1) / static_cast<float>(len_out - 1);
    case CoordMode::kAsymmetric: return x / scale;
    case CoordMode::kTfHalfPixelForNn: return (x + 0.5f) / scale;
  }
  return x;
}

int64_t nearest_index(NearestMode m, float v, int64_t len_in) {
  float r = v;  // every mode is set below; the initializer keeps -Wmaybe-uninitialized quiet
  switch (m) {
    case NearestMode::kRoundPreferFloor: r = v == std::floor(v) + 0.5 ? std::floor(v) : std::round(v); break;
    case NearestMode::kRoundPreferCeil: r = v == std::floor(v) + 0.5 ? std::ceil(v) : std::round(v); break;
    case NearestMode::kFloor: r = std::floor(v); break;
    case NearestMode::kCeil: r = std::ceil(v); break;
  }
  return std::clamp<int64_t>(static_cast<int64_t>(r), 0, len_in - 1);
}

template <typename T>
void resize_nearest(const Tensor& x, const std::vector<std::vector<int64_t>>& maps, Tensor* y) {
  const Shape& os = y->shape();
  const std::size_t r = os.size();
  const int64_t n = y->numel();
  if (n == 0) return;
  std::vector<int64_t> in_strides(r, 1);
  for (std::size_t k = r - 1; k-- > 0;) in_strides[k] = in_strides[k + 1] * x.dim(static_cast<int64_t>(k + 1));
  const T* px = x.data<T>();
  T* py = y->data<T>();
  const int64_t inner = os[r - 1];
  const auto& last = maps[r - 1];
  std::vector<int64_t> idx(r, 0);
  for (int64_t base = 0; base < n; base += inner) {
    int64_t off = 0;
    for (std::size_t k = 0; k + 1 < r; ++k) off += maps[k][static_cast<std::size_t>(idx[k])] * in_strides[k];
    for (int64_t j = 0; j < inner; ++j) py[base + j] = px[off + last[static_cast<std::size_t>(j)]];
    for (std::size_t k = r - 1; k-- > 0;) {
      if (++idx[k] < os[k]) break;
      idx[k] = 0;
    }
  }
}

struct LinearTap {
  int64_t i0, i1;
  double f;  // weight of i1
};

template <typename T>
void resize_bilinear(const Tensor& x, const std::vector<LinearTap>& ty, const std::vector<LinearTap>& tx, Tensor* y) {
  const int64_t r = x.rank();
  const int64_t h = x.dim(r - 2), w = x.dim(r - 1);
  const int64_t oh = static_cast<int64_t>(ty.size()), ow = static_cast<int64_t>(tx.size());
  const int64_t planes = h * w == 0 ? 0 : x.numel() / (h * w);
  const T* px = x.data<T>();
  T* py = y->data<T>();
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = px + pl * h * w;
    T* yp = py + pl * oh * ow;
    for (int64_t oy = 0; oy < oh; ++oy) {
      const LinearTap& a = ty[static_cast<std::size_t>(oy)];
      const T* r0 = xp + a.i0 * w;
      const T* r1 = xp + a.i1 * w;
      for (int64_t ox = 0; ox < ow; ++ox) {
        const LinearTap& b = tx[static_cast<std::size_t>(ox)];
        const double top = (1 - b.f) * static_cast<double>(r0[b.i0]) + b.f * static_cast<double>(r0[b.i1]);
        const double bot = (1 - b.f) * static_cast<double>(r1[b.i0]) + b.f * static_cast<double>(r1[b.i1]);
        yp[oy * ow + ox] = static_cast<T>((1 - a.f) * top + a.f * bot);
      }
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

namespace {
Status conv(OpContext& ctx, const Tensor* residual, bool relu);

// FusedConv with layout attributes (pass_blocked_conv_layout): oneDNN, in the layouts they name.
Status conv_onednn_node(OpContext& ctx, const Tensor* residual, bool relu) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* w, cpu_required_input(ctx, 1));
  const Tensor* b = ctx.input(2);
  const int64_t block = onednn_channel_block();
  OnednnConvSpec spec;
  spec.src = ctx.node.attr("src_layout") && ctx.node.attr("src_layout")->s == "blocked" ? ConvLayout::kBlocked : ConvLayout::kPlain;
  spec.dst = ctx.node.attr("dst_layout")->s == "blocked" ? ConvLayout::kBlocked : ConvLayout::kPlain;
  spec.relu = relu;
  if (x->dtype() != DType::kFloat32 || w->dtype() != DType::kFloat32 || (b && b->dtype() != DType::kFloat32) ||
      (residual && residual->dtype() != DType::kFloat32)) {
    return invalid_argument("the oneDNN convolution takes float32 only");
  }
  if (w->rank() != 4 || ctx.node.attr_int("group", 1) != 1) {
    return invalid_argument("the oneDNN convolution takes 4-D W " + shape_to_string(w->shape()) + " and group 1");
  }
  const int64_t c = w->dim(1), m = w->dim(0);
  const bool x_ok = spec.src == ConvLayout::kPlain
                        ? x->rank() == 4 && x->dim(1) == c
                        : x->rank() == 5 && x->dim(4) == block && x->dim(1) == (c + block - 1) / block;
  if (!x_ok) {
    return invalid_argument("X " + shape_to_string(x->shape()) + " does not fit W " + shape_to_string(w->shape()) + " in the " +
                            (spec.src == ConvLayout::kPlain ? "NCHW" : "blocked") + " layout");
  }
  if (b && (b->rank() != 1 || b->dim(0) != m)) {
    return invalid_argument("B " + shape_to_string(b->shape()) + " must be 1-D with " + str(m) + " values");
  }
  const int64_t in[2] = {x->dim(2), x->dim(3)};
  const int64_t k[2] = {w->dim(2), w->dim(3)};
  Window2d g;
  SS_RETURN_IF_ERROR(window_geometry(ctx.node, in, k, false, &g));
  for (int i = 0; i < 2; ++i) {
    spec.stride[i] = g.s[i];
    spec.dilation[i] = g.d[i];
    spec.pad_begin[i] = g.pb[i];
    spec.pad_end[i] = g.pe[i];
    spec.out[i] = g.out[i];
  }
  const Shape y_shape = spec.dst == ConvLayout::kPlain ? Shape{x->dim(0), m, g.out[0], g.out[1]}
                                                       : Shape{x->dim(0), (m + block - 1) / block, g.out[0], g.out[1], block};
  if (residual && residual->shape() != y_shape) {
    // A broadcast residual: the convolution alone, then Add (broadcasting over N, H, W holds in
    // either layout; over channels it does not in the blocked one) and Relu.
    if (spec.dst == ConvLayout::kBlocked && (residual->rank() != 5 || residual->dim(1) != y_shape[1])) {
      return unimplemented("a residual " + shape_to_string(residual->shape()) + " broadcast across channels in the blocked layout");
    }
    const bool r = spec.relu;
    spec.relu = false;
    SS_ASSIGN_OR_RETURN(Tensor y, onednn_conv(*x, *w, b, nullptr, spec));
    OpContext add{ctx.node, {&y, residual}, std::vector<Tensor>(1)};
    SS_RETURN_IF_ERROR(cpu_add(add));
    if (r) {
      OpContext rl{ctx.node, {&add.outputs[0]}, std::vector<Tensor>(1)};
      SS_RETURN_IF_ERROR(cpu_relu(rl));
      ctx.outputs[0] = std::move(rl.outputs[0]);
    } else {
      ctx.outputs[0] = std::move(add.outputs[0]);
    }
    return ok_status();
  }
  // Relu inside oneDNN (onednn.h) only where no NaN can reach this sum: the values that came into
  // the convolutions are all finite (graph inputs, ToBlocked's, an NCHW input or residual read
  // here), and so are W and B. Blocked values are made only by convolutions and pools of such values.
  if (spec.relu && ctx.batch) {
    if (spec.src == ConvLayout::kPlain) ctx.batch->note_values(*x);
    if (residual && spec.dst == ConvLayout::kPlain) ctx.batch->note_values(*residual);
    spec.relu_in_kernel = !ctx.batch->nonfinite_seen() && onednn_weights_finite(*w) && (!b || float32_all_finite(*b));
  }
  // The residual's buffer becomes the output when this is its last reader.
  Tensor* in_place = residual ? ctx.reusable_input(3) : nullptr;
  SS_ASSIGN_OR_RETURN(ctx.outputs[0], onednn_conv(*x, *w, b, residual, spec, in_place));
  return ok_status();
}
}  // namespace

Status cpu_conv(OpContext& ctx) { return conv(ctx, nullptr, false); }

// shardscore.FusedConv (made by the fusion pass): Conv(X, W, B), then + Z when Z (input 3) is
// given, then Relu when activation = "Relu". A Z that does not have the output's exact shape is
// added with broadcasting after the convolution.
namespace {
// A 4-D float32 / float64 tensor with its dimensions permuted: out.dim(i) = t.dim(perm[i]).
Tensor permuted4(const Tensor& t, const std::array<int, 4>& perm) {
  Shape s(4);
  for (int i = 0; i < 4; ++i) s[i] = t.dim(perm[i]);
  Tensor out(t.dtype(), s);
  std::array<int64_t, 4> stride{t.dim(1) * t.dim(2) * t.dim(3), t.dim(2) * t.dim(3), t.dim(3), 1};
  const std::size_t es = dtype_size(t.dtype());
  const auto* src = static_cast<const std::byte*>(t.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  int64_t o = 0;
  for (int64_t a = 0; a < s[0]; ++a)
    for (int64_t b = 0; b < s[1]; ++b)
      for (int64_t c = 0; c < s[2]; ++c)
        for (int64_t d = 0; d < s[3]; ++d, ++o) {
          const int64_t i = a * stride[perm[0]] + b * stride[perm[1]] + c * stride[perm[2]] + d * stride[perm[3]];
          std::memcpy(dst + o * es, src + i * es, es);
        }
  return out;
}

// layout "NHWC" (pass_nhwc_convs, for the CUDA backend's tensor cores): the CPU's NCHW convolution
// on permuted copies, as the reference the CUDA function is tested against.
Status fused_conv_nhwc(OpContext& ctx, bool relu) {
  SS_ASSIGN_OR_RETURN(ConvPlan p, conv_plan(ctx.node, ctx.inputs));  // checks the NHWC shapes
  const Tensor* z = ctx.input(3);
  if (z && z->shape() != p.out_shape) {
    return unimplemented("an NHWC FusedConv's residual " + shape_to_string(z->shape()) + " must be its output's shape " +
                         shape_to_string(p.out_shape));
  }
  const Tensor x = permuted4(*ctx.inputs[0], {0, 3, 1, 2});
  const Tensor w = permuted4(*ctx.inputs[1], {0, 3, 1, 2});
  const Tensor zn = z ? permuted4(*z, {0, 3, 1, 2}) : Tensor();
  Node plain = ctx.node;
  plain.attrs.erase("layout");
  OpContext inner{plain, {&x, &w, ctx.input(2), z ? &zn : nullptr}, {}};
  inner.outputs.resize(1);
  SS_RETURN_IF_ERROR(conv(inner, z ? &zn : nullptr, relu));
  ctx.outputs[0] = permuted4(inner.outputs[0], {0, 2, 3, 1});
  return ok_status();
}
}  // namespace

Status cpu_fused_conv(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const bool relu, fused_conv_relu(ctx.node));
  const Tensor* z = ctx.input(3);
  if (ctx.node.attr("dst_layout")) return conv_onednn_node(ctx, z, relu);
  if (const Attribute* layout = ctx.node.attr("layout"); layout && layout->s == "NHWC") return fused_conv_nhwc(ctx, relu);
  return conv(ctx, z, relu);
}

Status cpu_to_blocked(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_RETURN_IF_ERROR(require_nchw(*x, "ToBlocked"));
  const int64_t block = ctx.node.attr_int("block", 0);
  if (block <= 0) return invalid_argument("block " + str(block) + " must be positive");
  if (ctx.batch) ctx.batch->note_values(*x);  // a way into the convolutions (conv_onednn_node)
  ctx.outputs[0] = layout_to_blocked(*x, block);
  return ok_status();
}

Status cpu_from_blocked(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  const int64_t channels = ctx.node.attr_int("channels", -1);
  if (x->rank() != 5 || channels < 0 || channels > x->dim(1) * x->dim(4) || channels <= (x->dim(1) - 1) * x->dim(4)) {
    return invalid_argument("X " + shape_to_string(x->shape()) + " is not a blocked [N, C/b, H, W, b] tensor of " +
                            str(channels) + " channels");
  }
  ctx.outputs[0] = layout_from_blocked(*x, channels);
  return ok_status();
}

namespace {
Status conv(OpContext& ctx, const Tensor* residual, bool relu) {
  SS_ASSIGN_OR_RETURN(ConvPlan p, conv_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  const Tensor* w = ctx.inputs[1];
  const Tensor* b = ctx.input(2);
  if (x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64) {
    return unsupported_element_type(x->dtype());  // float16 not widened by op_run_cpu
  }
  const int64_t group = p.group;
  const Window2d& g = p.g;
  Tensor y(x->dtype(), p.out_shape);
  const bool residual_in_epilogue = residual && residual->shape() == y.shape() && residual->dtype() == y.dtype();
  if (residual && !residual_in_epilogue) {
    // Broadcast residual: plain convolution, then Add (and Relu) as separate steps.
    Tensor plain(x->dtype(), y.shape());
    if (x->dtype() == DType::kFloat32) conv_typed<float>(*x, *w, b, group, g, &plain);
    else conv_typed<double>(*x, *w, b, group, g, &plain);
    OpContext add{ctx.node, {&plain, residual}, std::vector<Tensor>(1)};
    SS_RETURN_IF_ERROR(cpu_add(add));
    ctx.outputs[0] = std::move(add.outputs[0]);
    if (relu) {
      OpContext r{ctx.node, {&ctx.outputs[0]}, std::vector<Tensor>(1)};
      SS_RETURN_IF_ERROR(cpu_relu(r));
      ctx.outputs[0] = std::move(r.outputs[0]);
    }
    return ok_status();
  }
  if (x->dtype() == DType::kFloat32) {
    conv_typed<float>(*x, *w, b, group, g, &y,
                      ConvEpilogue<float>{residual_in_epilogue ? residual->data<float>() : nullptr, relu});
  } else {
    conv_typed<double>(*x, *w, b, group, g, &y,
                       ConvEpilogue<double>{residual_in_epilogue ? residual->data<double>() : nullptr, relu});
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// ConvTranspose: per image and group one BLAS product col = W_g^T X_g ([M/group * kH * kW, H * W]),
// then each column row scattered into the output plane it reaches. Every output sums its taps in
// one order, (kernel row, kernel column) ascending, then adds the bias: the CUDA kernel's order.

namespace {
template <typename T>
void conv_transpose_typed(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvTransposePlan& p, Tensor* y) {
  const int64_t h = p.in[0], wd = p.in[1], hw = h * wd, cg = p.c / p.group, mg = p.m / p.group;
  const int64_t kh = p.k[0], kw = p.k[1], oh = p.out[0], ow = p.out[1];
  const int64_t rows = mg * kh * kw;
  std::vector<T> col(static_cast<std::size_t>(rows * hw));
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  const T* pbias = bias ? bias->data<T>() : nullptr;
  T* py = y->data<T>();
  std::fill(py, py + y->numel(), T(0));
  if (rows * hw == 0) return;
  // W_g^T as stored rows ([rows, cg] per group), transposed once for every image (blas.h).
  std::vector<T> wt(static_cast<std::size_t>(p.group * rows * cg));
  for (int64_t gi = 0; gi < p.group; ++gi) transpose_into(pw + gi * cg * rows, cg, rows, rows, wt.data() + gi * rows * cg);
  for (int64_t n = 0; n < p.n; ++n) {
    for (int64_t gi = 0; gi < p.group; ++gi) {
      if (cg == 0) {
        std::fill(col.begin(), col.end(), T(0));
      } else {
        blas_gemm(false, false, rows, hw, cg, T(1), wt.data() + gi * rows * cg, cg, px + (n * p.c + gi * cg) * hw, hw, T(0),
                  col.data(), hw);
      }
      for (int64_t ml = 0; ml < mg; ++ml) {
        T* yp = py + (n * p.m + gi * mg + ml) * oh * ow;
        for (int64_t i = 0; i < kh; ++i) {
          for (int64_t j = 0; j < kw; ++j) {
            const T* cr = col.data() + ((ml * kh + i) * kw + j) * hw;
            const int64_t off = j * p.d[1] - p.pb[1];  // ox = ix * stride + off
            const int64_t lo = std::min(off >= 0 ? 0 : (-off + p.s[1] - 1) / p.s[1], wd);
            const int64_t hi = std::clamp<int64_t>(ow - 1 - off < 0 ? 0 : (ow - 1 - off) / p.s[1] + 1, lo, wd);
            for (int64_t iy = 0; iy < h; ++iy) {
              const int64_t oy = iy * p.s[0] + i * p.d[0] - p.pb[0];
              if (oy < 0 || oy >= oh) continue;
              T* yr = yp + oy * ow;
              const T* xr = cr + iy * wd;
              for (int64_t ix = lo; ix < hi; ++ix) yr[ix * p.s[1] + off] += xr[ix];
            }
          }
        }
        if (pbias) {
          const T bv = pbias[gi * mg + ml];
          for (int64_t q = 0; q < oh * ow; ++q) yp[q] += bv;
        }
      }
    }
  }
}
}  // namespace

Status cpu_conv_transpose(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ConvTransposePlan p, conv_transpose_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  Tensor y(x->dtype(), p.out_shape);
  if (x->dtype() == DType::kFloat32) {
    conv_transpose_typed<float>(*x, *ctx.inputs[1], ctx.input(2), p, &y);
  } else if (x->dtype() == DType::kFloat64) {
    conv_transpose_typed<double>(*x, *ctx.inputs[1], ctx.input(2), p, &y);
  } else {
    return unsupported_element_type(x->dtype());  // float16 is widened by op_run_cpu
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_batch_normalization(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(BatchNormPlan plan, batch_norm_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  const Tensor* const* p = &ctx.inputs[1];  // scale, B, input_mean, input_var
  const int64_t c = plan.c, n = plan.n, inner = plan.inner;
  const double eps = plan.eps;
  Tensor y(x->dtype(), x->shape());
  auto run = [&](auto zero) {
    using T = decltype(zero);
    const T* px = x->data<T>();
    T* py = y.data<T>();
    for (int64_t ci = 0; ci < c; ++ci) {
      const double a =
          static_cast<double>(p[0]->data<T>()[ci]) / std::sqrt(static_cast<double>(p[3]->data<T>()[ci]) + eps);
      const T mul = static_cast<T>(a);
      const T add =
          static_cast<T>(static_cast<double>(p[1]->data<T>()[ci]) - static_cast<double>(p[2]->data<T>()[ci]) * a);
      for (int64_t ni = 0; ni < n; ++ni) {
        const int64_t off = (ni * c + ci) * inner;
        for (int64_t q = 0; q < inner; ++q) py[off + q] = px[off + q] * mul + add;
      }
    }
  };
  if (x->dtype() == DType::kFloat32) {
    run(float{});
  } else if (x->dtype() == DType::kFloat64) {
    run(double{});
  } else {
    return unsupported_element_type(x->dtype());  // float16 not widened by op_run_cpu
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status cpu_max_pool(OpContext& ctx) { return pool(ctx, true); }

Status cpu_blocked_max_pool(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  if (x->rank() != 5 || x->dtype() != DType::kFloat32) {
    return invalid_argument("X " + shape_to_string(x->shape()) + " " + std::string(dtype_name(x->dtype())) +
                            " is not a blocked float32 [N, C/b, H, W, b] tensor");
  }
  int64_t k[2];
  SS_RETURN_IF_ERROR(pool_kernel_shape(ctx.node, k));
  const int64_t in[2] = {x->dim(2), x->dim(3)};
  Window2d g;
  SS_RETURN_IF_ERROR(window_geometry(ctx.node, in, k, ctx.node.attr_int("ceil_mode", 0) != 0, &g));
  const int64_t planes = x->dim(0) * x->dim(1), h = x->dim(2), wd = x->dim(3), b = x->dim(4);
  Tensor y(DType::kFloat32, {x->dim(0), x->dim(1), g.out[0], g.out[1], b});
  const float* px = x->data<float>();
  float* py = y.data<float>();
  std::vector<float> best(static_cast<std::size_t>(b));
  for (int64_t pl = 0; pl < planes; ++pl) {
    for (int64_t oy = 0; oy < g.out[0]; ++oy) {
      for (int64_t ox = 0; ox < g.out[1]; ++ox) {
        std::fill(best.begin(), best.end(), std::numeric_limits<float>::lowest());
        for_each_tap(g, oy, ox, h, wd, [&](int64_t iy, int64_t ix) {
          const float* v = px + ((pl * h + iy) * wd + ix) * b;
          // As MaxPool: the largest, except that a NaN in the window stays (v != v: NaN).
          for (int64_t l = 0; l < b; ++l) best[l] = (v[l] > best[l] || v[l] != v[l]) ? v[l] : best[l];
        });
        std::copy(best.begin(), best.end(), py + ((pl * g.out[0] + oy) * g.out[1] + ox) * b);
      }
    }
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}
Status cpu_average_pool(OpContext& ctx) { return pool(ctx, false); }

namespace {

// Each plane of X to one value: `reduce` of its `inner` values (a double for the mean, T for the max).
template <typename F>
Status global_pool(OpContext& ctx, const char* op, F reduce) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cpu_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(GlobalPoolPlan plan, global_pool_plan(*x, op));
  const int64_t planes = plan.planes, inner = plan.inner;
  Tensor y(x->dtype(), plan.out_shape);
  auto run = [&](auto zero) {
    using T = decltype(zero);
    const T* px = x->data<T>();
    T* py = y.data<T>();
    for (int64_t pl = 0; pl < planes; ++pl) py[pl] = reduce(px + pl * inner, inner);
  };
  if (x->dtype() == DType::kFloat32) {
    run(float{});
  } else if (x->dtype() == DType::kFloat64) {
    run(double{});
  } else {
    return unsupported_element_type(x->dtype());  // float16 not widened by op_run_cpu
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

}  // namespace

Status cpu_global_average_pool(OpContext& ctx) {
  return global_pool(ctx, "GlobalAveragePool", [](const auto* v, int64_t n) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(v)>>;
    double sum = 0;
    for (int64_t q = 0; q < n; ++q) sum += static_cast<double>(v[q]);
    return static_cast<T>(sum / static_cast<double>(n));
  });
}

Status cpu_global_max_pool(OpContext& ctx) {
  // As ReduceMax: the first NaN wins; an empty plane gives -inf.
  return global_pool(ctx, "GlobalMaxPool", [](const auto* v, int64_t n) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(v)>>;
    T best = -std::numeric_limits<T>::infinity();
    for (int64_t q = 0; q < n; ++q) {
      if (std::isnan(v[q])) return v[q];
      if (v[q] > best) best = v[q];
    }
    return best;
  });
}

// Pad and Resize: validation, output shapes and modes come from pad_plan / resize_plan
// (engine/op_plans_tensor.h), shared with the CUDA backend; the index maps and copies are here.
Status cpu_pad(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const PadPlan p, pad_plan(ctx.node, ctx.inputs));
  const Tensor* x = ctx.inputs[0];
  const int64_t rank = x->rank();
  const PadMode mode = p.mode;
  const std::vector<int64_t>& pb = p.pad_begin;
  const std::vector<std::byte>& fill = p.fill;
  const std::size_t es = dtype_size(x->dtype());
  const Shape& os = p.shape;
  // Per axis: the input index of each output index, or -1 for the constant.
  std::vector<std::vector<int64_t>> maps(static_cast<std::size_t>(rank));
  for (std::size_t k = 0; k < static_cast<std::size_t>(rank); ++k) {
    const int64_t len = x->shape()[k];
    auto& mp = maps[k];
    mp.resize(static_cast<std::size_t>(os[k]));
    for (int64_t o = 0; o < os[k]; ++o) {
      int64_t i = o - pb[k];
      if (i < 0 || i >= len) {
        switch (mode) {
          case PadMode::kConstant: i = -1; break;
          case PadMode::kEdge: i = std::clamp<int64_t>(i, 0, len - 1); break;
          case PadMode::kReflect: i = i < 0 ? -i : 2 * (len - 1) - i; break;
          case PadMode::kWrap: i = ((i % len) + len) % len; break;
        }
      }
      mp[static_cast<std::size_t>(o)] = i;
    }
  }
  Tensor y(x->dtype(), os);
  const int64_t n = y.numel();
  if (n > 0 && rank == 0) std::memcpy(y.raw(), x->raw(), es);
  if (n > 0 && rank > 0) {
    const std::size_t r = static_cast<std::size_t>(rank);
    std::vector<int64_t> in_strides(r, 1);
    for (std::size_t k = r - 1; k-- > 0;) in_strides[k] = in_strides[k + 1] * x->shape()[k + 1];
    const auto* src = static_cast<const std::byte*>(x->raw());
    auto* dst = static_cast<std::byte*>(y.raw());
    const int64_t inner = os[r - 1];
    const auto& last = maps[r - 1];
    std::vector<int64_t> idx(r, 0);
    for (int64_t base = 0; base < n; base += inner) {
      int64_t off = 0;
      bool constant_row = false;
      for (std::size_t k = 0; k + 1 < r; ++k) {
        const int64_t i = maps[k][static_cast<std::size_t>(idx[k])];
        if (i < 0) constant_row = true;
        off += i * in_strides[k];
      }
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t i = constant_row ? -1 : last[static_cast<std::size_t>(j)];
        std::memcpy(dst + (base + j) * static_cast<int64_t>(es),
                    i < 0 ? fill.data() : src + (off + i) * static_cast<int64_t>(es), es);
      }
      for (std::size_t k = r - 1; k-- > 0;) {
        if (++idx[k] < os[k]) break;
        idx[k] = 0;
      }
    }
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

namespace {
Status resize_run(OpContext& ctx, const ResizePlan& p) {
  const Tensor* x = ctx.inputs[0];
  const int64_t rank = x->rank();
  const CoordMode coord = p.coord;
  const NearestMode nearest = p.nearest;
  const Shape& os = p.shape;
  const std::vector<float>& scale = p.scales;
  Tensor y(x->dtype(), os);
  if (!p.linear) {
    std::vector<std::vector<int64_t>> maps(static_cast<std::size_t>(rank));
    for (std::size_t k = 0; k < static_cast<std::size_t>(rank); ++k) {
      const int64_t len_in = x->shape()[k];
      maps[k].resize(static_cast<std::size_t>(os[k]));
      for (int64_t o = 0; o < os[k]; ++o) {
        const float v = original_coordinate(coord, o, scale[k], len_in, os[k]);
        maps[k][static_cast<std::size_t>(o)] = nearest_index(nearest, v, len_in);
      }
    }
    bool ok = true;
    switch (dtype_size(x->dtype())) {
      case 1: resize_nearest<uint8_t>(*x, maps, &y); break;
      case 2: resize_nearest<uint16_t>(*x, maps, &y); break;
      case 4: resize_nearest<uint32_t>(*x, maps, &y); break;
      case 8: resize_nearest<uint64_t>(*x, maps, &y); break;
      default: ok = false;
    }
    if (!ok) return unimplemented("element type " + std::string(dtype_name(x->dtype())) + " is not supported");
  } else {
    std::vector<LinearTap> taps[2];
    for (int i = 0; i < 2; ++i) {
      const std::size_t k = static_cast<std::size_t>(rank - 2 + i);
      const int64_t len_in = x->shape()[k];
      taps[i].resize(static_cast<std::size_t>(os[k]));
      for (int64_t o = 0; o < os[k]; ++o) {
        double v = static_cast<double>(original_coordinate(coord, o, scale[k], len_in, os[k]));
        v = std::clamp(v, 0.0, static_cast<double>(len_in - 1));
        const int64_t i0 = std::min(static_cast<int64_t>(v), len_in - 1);
        taps[i][static_cast<std::size_t>(o)] = {i0, std::min(i0 + 1, len_in - 1), v - static_cast<double>(i0)};
      }
    }
    if (x->dtype() == DType::kFloat32) {
      resize_bilinear<float>(*x, taps[0], taps[1], &y);
    } else {
      resize_bilinear<double>(*x, taps[0], taps[1], &y);
    }
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}
}  // namespace

Status cpu_resize(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ResizePlan p, resize_plan(ctx.node, ctx.inputs));
  return resize_run(ctx, p);
}

Status cpu_upsample(OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const ResizePlan p, upsample_plan(ctx.node, ctx.inputs));
  return resize_run(ctx, p);
}

}  // namespace shardscore
