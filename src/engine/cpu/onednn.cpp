#include "engine/cpu/onednn.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/cpu/vector_math.h"

namespace shardscore {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// The C++ API reports failures by throwing dnnl::error; every call goes through here.
#define SS_DNNL_TRY(call, ...)                                                                        \
  do {                                                                                                 \
    try {                                                                                              \
      __VA_ARGS__;                                                                                     \
    } catch (const dnnl::error& e) {                                                                   \
      return internal_error(std::string("oneDNN ") + (call) + " failed: " + e.what());                 \
    }                                                                                                  \
  } while (0)

// Relu that keeps NaN (as ONNX Runtime's Relu does): oneDNN's relu post-op, a max with 0, would
// turn a NaN from bad input data into 0 and hide it. Zeros of either sign become +0 as in that
// post-op, so the two give the same bits wherever there is no NaN.
void relu_nan_preserving(float* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = p[i] <= 0.0f ? 0.0f : p[i];
}

dnnl::engine& cpu_engine() {
  static dnnl::engine e = [] {
    // oneDNN is held to the backend's level (SHARDSCORE_CPU_ISA), before its first primitive.
    if (cpu_isa() == CpuIsa::kAvx2) dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx2);
    if (cpu_isa() == CpuIsa::kBaseline) dnnl::set_max_cpu_isa(dnnl::cpu_isa::sse41);
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return e;
}

tag layout_tag(ConvLayout l, int64_t block) {
  if (l == ConvLayout::kPlain) return tag::nchw;
  return block == 16 ? tag::nChw16c : tag::nChw8c;
}

struct ConvPrimitive {
  bool made = true;  // false: oneDNN has no Winograd kernel for this one (the direct one runs instead)
  dnnl::convolution_forward prim;
  memory packed_weights;
  memory::desc src_md, dst_md, bias_md, scratch_md;
  int64_t images = 1;                                     // per execution
  std::size_t src_call_floats = 0, dst_call_floats = 0;  // one execution's share of X and Y
};

using Key = std::tuple<const void*, std::vector<int64_t>>;

std::mutex cache_mutex;  // guards the convolution primitives below
std::map<Key, std::shared_ptr<ConvPrimitive>>& cache() {
  static auto* c = new std::map<Key, std::shared_ptr<ConvPrimitive>>();  // never destroyed: no exit-order issues
  return *c;
}

// Packed weights, one copy per weight tensor, reading of it and packed layout, shared by that
// tensor's primitives (convolutions differ in images per call, products in rows per tile, not in
// the packing). Holds the weights: their address stays theirs.
struct PackedWeights {
  Tensor weights;
  memory::desc as_stored, layout;
  memory packed;
};

// w (float32, read as `as_stored` describes it) in `layout`, packed on first use. Throws dnnl::error.
memory packed_weights(const Tensor& w, const memory::desc& as_stored, const memory::desc& layout) {
  static std::mutex mutex;
  static auto* cache = new std::vector<PackedWeights>();  // never destroyed: no exit-order issues
  std::lock_guard lock(mutex);
  for (const auto& p : *cache)
    if (p.weights.raw() == w.raw() && p.as_stored == as_stored && p.layout == layout) return p.packed;
  memory packed(layout, cpu_engine());
  // A layout with padded rows (the products' below) leaves gaps the reorder does not write.
  std::memset(packed.get_data_handle(), 0, layout.get_size());
  memory user_w(as_stored, cpu_engine(), const_cast<float*>(w.data<float>()));
  dnnl::stream strm(cpu_engine());
  dnnl::reorder(user_w, packed).execute(strm, user_w, packed);
  strm.wait();
  cache->push_back({w, as_stored, layout, packed});
  return packed;
}

// How the residual comes in: none, as a binary post-op reading its buffer, or already in the
// output buffer (a sum post-op).
enum class Residual { kNone, kBinary, kInPlace };

// winograd: oneDNN's Winograd algorithm; where it has no kernel for the convolution (its ISA, the
// post-ops), p->made is false instead of an error.
Status make_primitive(const Tensor& w, bool has_bias, Residual residual, int64_t images, int64_t h, int64_t wd,
                      const OnednnConvSpec& s, bool winograd, ConvPrimitive* p) {
  const int64_t block = onednn_channel_block();
  const int64_t m = w.dim(0), c = w.dim(1);
  const memory::dims src_dims{images, c, h, wd}, w_dims{m, c, w.dim(2), w.dim(3)}, b_dims{m},
      dst_dims{images, m, s.out[0], s.out[1]};
  const memory::dims strides{s.stride[0], s.stride[1]}, dilates{s.dilation[0] - 1, s.dilation[1] - 1},
      pad_l{s.pad_begin[0], s.pad_begin[1]}, pad_r{s.pad_end[0], s.pad_end[1]};
  const dnnl::algorithm alg = winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
  SS_DNNL_TRY("convolution setup", {
    p->src_md = memory::desc(src_dims, dt::f32, layout_tag(s.src, block));
    p->dst_md = memory::desc(dst_dims, dt::f32, layout_tag(s.dst, block));
    p->bias_md = memory::desc(b_dims, dt::f32, tag::x);
    const memory::desc w_any(w_dims, dt::f32, tag::any);
    auto desc = has_bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                           alg, p->src_md, w_any,
                                                           p->bias_md, p->dst_md, strides, dilates, pad_l, pad_r)
                         : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                           alg, p->src_md, w_any,
                                                           p->dst_md, strides, dilates, pad_l, pad_r);
    dnnl::post_ops ops;
    if (residual == Residual::kBinary) ops.append_binary(dnnl::algorithm::binary_add, p->dst_md);
    if (residual == Residual::kInPlace) ops.append_sum(1.0f);
    if (s.relu && s.relu_in_kernel) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::convolution_forward::primitive_desc pd;
    try {
      pd = dnnl::convolution_forward::primitive_desc(desc, attr, cpu_engine());
    } catch (const dnnl::error& e) {
      if (!winograd || e.status != dnnl_unimplemented) throw;
      p->made = false;
      return ok_status();
    }
    p->prim = dnnl::convolution_forward(pd);
    p->scratch_md = pd.scratchpad_desc();
    p->packed_weights = packed_weights(w, {w_dims, dt::f32, tag::oihw}, pd.weights_desc());
  });
  p->images = images;
  p->src_call_floats = p->src_md.get_size() / sizeof(float);
  p->dst_call_floats = p->dst_md.get_size() / sizeof(float);
  return ok_status();
}

}  // namespace

// Declared in onednn.h (OnednnRowProduct holds one); used only here.
struct MatmulPrimitive {
  Tensor weights;  // keeps the weights' address taken by the cache key
  dnnl::matmul prim;
  dnnl::memory packed_weights;
  dnnl::memory::desc src_md, dst_md, bias_md, scratch_md;
};

namespace {

std::mutex matmul_mutex;
std::map<Key, std::shared_ptr<MatmulPrimitive>>& matmul_cache() {
  static auto* c = new std::map<Key, std::shared_ptr<MatmulPrimitive>>();
  return *c;
}

Status make_matmul(const Tensor& b, bool trans_b, bool has_bias, int64_t tile, int64_t k, int64_t n, MatmulPrimitive* p) {
  SS_DNNL_TRY("matmul setup", {
    p->src_md = memory::desc({tile, k}, dt::f32, tag::ab);
    p->dst_md = memory::desc({tile, n}, dt::f32, tag::ab);
    p->bias_md = memory::desc({1, n}, dt::f32, tag::ab);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    auto primitive_desc = [&](const memory::desc& w_md) {
      auto desc = has_bias ? dnnl::matmul::desc(p->src_md, w_md, p->bias_md, p->dst_md)
                           : dnnl::matmul::desc(p->src_md, w_md, p->dst_md);
      return dnnl::matmul::primitive_desc(desc, attr, cpu_engine());
    };
    dnnl::matmul::primitive_desc pd = primitive_desc(memory::desc({k, n}, dt::f32, tag::any));
    // Where oneDNN keeps the weights row-major (its gemm kernels: AVX2 and older; with AVX-512 it
    // picks a blocked layout of its own), its kernel reads them in place at these tile sizes, down
    // a column block row after row. Rows of whole cache lines land those reads on a few L1 sets,
    // on one where a row is a multiple of 4 KiB: BERT-base's [768, 3072] product ran at half
    // speed, ~27 ms per 256-row tile against ~15 ms with one cache line of padding per row
    // (DNNL_VERBOSE, AMD EPYC). The padding changes no bits: the same kernel sums in the same order.
    if (const memory::desc plain({k, n}, dt::f32, tag::ab); pd.weights_desc() == plain && n >= 128 && n % 16 == 0)
      pd = primitive_desc(memory::desc({k, n}, dt::f32, memory::dims{n + 16, 1}));
    p->prim = dnnl::matmul(pd);
    p->scratch_md = pd.scratchpad_desc();
    // b as stored: [k, n] row-major, or [n, k] row-major (= [k, n] column-major) when transposed.
    p->packed_weights = packed_weights(b, {{k, n}, dt::f32, trans_b ? tag::ba : tag::ab}, pd.weights_desc());
  });
  p->weights = b;
  return ok_status();
}

// One tile's product: the primitive's rows of src into dst, with its packed weights, the caller's
// scratchpad and bias (nullptr: none). Throws dnnl::error (callers wrap it in SS_DNNL_TRY).
void execute_matmul(const MatmulPrimitive& p, dnnl::stream& strm, const float* src_rows, float* dst_rows, void* scratch,
                    const memory* bias) {
  memory src(p.src_md, cpu_engine(), const_cast<float*>(src_rows));
  memory dst(p.dst_md, cpu_engine(), dst_rows);
  memory scratch_mem(p.scratch_md, cpu_engine(), scratch);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p.packed_weights}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratch_mem}};
  if (bias) args.emplace(DNNL_ARG_BIAS, *bias);
  p.prim.execute(strm, args);
}

// The cached primitive for `rows`-row tiles of a [rows, k] by op(b) (n columns).
StatusOr<std::shared_ptr<MatmulPrimitive>> matmul_primitive(const Tensor& b, bool trans_b, bool has_bias, int64_t rows,
                                                            int64_t k, int64_t n) {
  std::lock_guard lock(matmul_mutex);
  Key key{b.raw(), {k, n, trans_b, has_bias, rows}};
  auto it = matmul_cache().find(key);
  if (it == matmul_cache().end()) {
    auto made = std::make_shared<MatmulPrimitive>();
    SS_RETURN_IF_ERROR(make_matmul(b, trans_b, has_bias, rows, k, n, made.get()));
    it = matmul_cache().emplace(std::move(key), std::move(made)).first;
  }
  return it->second;
}

}  // namespace

StatusOr<OnednnRowProduct> OnednnRowProduct::make(const Tensor& b, bool trans_b, int64_t rows) {
  OnednnRowProduct p;
  p.rows_ = rows;
  p.k_ = trans_b ? b.dim(1) : b.dim(0);
  p.n_ = trans_b ? b.dim(0) : b.dim(1);
  if (rows <= 0 || p.k_ <= 0 || p.n_ <= 0) return p;  // run() writes zeros: oneDNN is never asked for an empty product
  SS_ASSIGN_OR_RETURN(p.prim_, matmul_primitive(b, trans_b, false, rows, p.k_, p.n_));
  p.scratch_ = Tensor(DType::kUInt8, {std::max<int64_t>(1, static_cast<int64_t>(p.prim_->scratch_md.get_size()))});
  return p;
}

Status OnednnRowProduct::run(const float* a, float* y) const {
  if (!prim_) {
    std::fill(y, y + rows_ * n_, 0.0f);
    return ok_status();
  }
  omp_set_num_threads(1);  // see onednn_conv
  thread_local dnnl::stream strm(cpu_engine());
  SS_DNNL_TRY("matmul", {
    execute_matmul(*prim_, strm, a, y, const_cast<void*>(scratch_.raw()), nullptr);
    strm.wait();
  });
  return ok_status();
}

StatusOr<Tensor> onednn_matmul(const Tensor& a, const Tensor& b, bool trans_b, const Tensor* bias, bool relu,
                               const RowTiles& tiles) {
  const int64_t m = a.dim(0), k = a.dim(1), n = trans_b ? b.dim(0) : b.dim(1);
  if (k == 0 || n == 0) {  // oneDNN is never asked for an empty product (it can fault on one): bias or zeros
    Tensor y(DType::kFloat32, {m, n});
    float* py = y.data<float>();
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < n; ++c) py[r * n + c] = bias ? bias->data<float>()[c] : 0.0f;
    if (relu) relu_nan_preserving(py, m * n);
    return y;
  }
  auto primitive_for = [&](int64_t rows) { return matmul_primitive(b, trans_b, bias != nullptr, rows, k, n); };
  // Large tiles while at least one is left (the weights stream from memory once per tile), then
  // small ones, the last zero-padded (a small batch pads little).
  const int64_t large_rows = tiles.large > 0 ? m / tiles.large * tiles.large : 0;
  std::shared_ptr<MatmulPrimitive> large, small;
  if (large_rows > 0) {
    SS_ASSIGN_OR_RETURN(large, primitive_for(tiles.large));
  }
  if (m > large_rows) {
    SS_ASSIGN_OR_RETURN(small, primitive_for(tiles.small));
  }
  Tensor y(DType::kFloat32, {m, n});
  const int64_t tail = (m - large_rows) % tiles.small;
  Tensor pad_a, pad_y;
  if (tail) {
    pad_a = Tensor(DType::kFloat32, {tiles.small, k});
    pad_y = Tensor(DType::kFloat32, {tiles.small, n});
    std::fill(pad_a.data<float>() + tail * k, pad_a.data<float>() + tiles.small * k, 0.0f);
    std::copy(a.data<float>() + (m - tail) * k, a.data<float>() + m * k, pad_a.data<float>());
  }
  std::size_t scratch_bytes = 1;
  for (const auto& p : {large, small})
    if (p) scratch_bytes = std::max(scratch_bytes, p->scratch_md.get_size());
  Tensor scratch(DType::kUInt8, {static_cast<int64_t>(scratch_bytes)});
  omp_set_num_threads(1);  // see onednn_conv
  thread_local dnnl::stream strm(cpu_engine());
  SS_DNNL_TRY("matmul", {
    std::unique_ptr<memory> bias_mem;
    if (bias) bias_mem = std::make_unique<memory>((large ? large : small)->bias_md, cpu_engine(), const_cast<void*>(bias->raw()));
    auto execute = [&](const MatmulPrimitive& p, const float* src_rows, float* dst_rows) {
      execute_matmul(p, strm, src_rows, dst_rows, scratch.raw(), bias_mem.get());
    };
    int64_t r0 = 0;
    for (; r0 < large_rows; r0 += tiles.large) execute(*large, a.data<float>() + r0 * k, y.data<float>() + r0 * n);
    for (; r0 + tiles.small <= m; r0 += tiles.small) execute(*small, a.data<float>() + r0 * k, y.data<float>() + r0 * n);
    if (tail) execute(*small, pad_a.data<float>(), pad_y.data<float>());
    strm.wait();
  });
  if (tail) std::copy(pad_y.data<float>(), pad_y.data<float>() + tail * n, y.data<float>() + (m - tail) * n);
  if (relu) relu_nan_preserving(y.data<float>(), m * n);
  return y;
}

int64_t onednn_channel_block() { return cpu_isa() == CpuIsa::kAvx512 ? 16 : 8; }

bool onednn_conv_winograd(const Tensor& w, const OnednnConvSpec& spec) {
  // Calls of one image read the transformed weights (16/9 of W) once per image: past 2^20 weights
  // (256 channels in and out) that costs what Winograd saves (ResNet-50's 512-channel layers;
  // measured with bench/engine_ab.sh, docs/benchmarks.md).
  constexpr int64_t kMaxWeightFloats = int64_t{1} << 20;
  return spec.winograd && w.rank() == 4 && w.dim(2) == 3 && w.dim(3) == 3 && w.numel() <= kMaxWeightFloats &&
         spec.stride[0] == 1 && spec.stride[1] == 1 && spec.dilation[0] == 1 && spec.dilation[1] == 1 &&
         spec.src == ConvLayout::kBlocked && spec.dst == ConvLayout::kBlocked;
}

bool onednn_weights_finite(const Tensor& w) {
  static std::mutex mutex;
  static auto* known = new std::map<const void*, std::pair<Tensor, bool>>();  // holds w: its address stays its own
  std::lock_guard lock(mutex);
  auto it = known->find(w.raw());
  if (it == known->end()) {
    it = known->emplace(w.raw(), std::make_pair(w, float32_all_finite(w))).first;
  }
  return it->second.second;
}

StatusOr<Tensor> onednn_conv(const Tensor& x, const Tensor& w, const Tensor* b, const Tensor* residual,
                             const OnednnConvSpec& spec, Tensor* in_place) {
  const int64_t block = onednn_channel_block();
  const int64_t n_img = x.dim(0), h = x.dim(2), wd = x.dim(3), m = w.dim(0);
  // Images per execution: kImagesPerCall, then one by one for the rest, so the weights stream from
  // memory once per group rather than once per image, while a job's many batch sizes (shard tails)
  // need two primitives per convolution, not one each. The image loop is oneDNN's outermost: an
  // image's result does not depend on its neighbours (FusedConv_OnednnImageIndependentOfBatch_Bitwise).
  constexpr int64_t kImagesPerCall = 8;
  const Residual how = !residual ? Residual::kNone : in_place ? Residual::kInPlace : Residual::kBinary;
  auto primitive_for = [&](int64_t images, bool winograd = false) -> StatusOr<std::shared_ptr<ConvPrimitive>> {
    std::vector<int64_t> key_dims{images,          h,
                                  wd,              w.dim(0),
                                  w.dim(1),        w.dim(2),
                                  w.dim(3),        spec.stride[0],
                                  spec.stride[1],  spec.dilation[0],
                                  spec.dilation[1], spec.pad_begin[0],
                                  spec.pad_begin[1], spec.pad_end[0],
                                  spec.pad_end[1], static_cast<int64_t>(spec.src),
                                  static_cast<int64_t>(spec.dst), b != nullptr,
                                  static_cast<int64_t>(how),  spec.relu && spec.relu_in_kernel,
                                  winograd};
    std::lock_guard lock(cache_mutex);
    Key key{w.raw(), std::move(key_dims)};
    auto it = cache().find(key);
    if (it == cache().end()) {
      auto made = std::make_shared<ConvPrimitive>();
      SS_RETURN_IF_ERROR(make_primitive(w, b != nullptr, how, images, h, wd, spec, winograd, made.get()));
      it = cache().emplace(std::move(key), std::move(made)).first;
    }
    return it->second;
  };
  // Winograd, one image per call, for the images whose input is all finite: its transforms would
  // spread a NaN or an infinity over a whole tile, where the direct algorithm keeps it in the
  // windows that read it. Whether an image takes it depends on that image alone; the others go
  // one by one through the direct kernel, made only when such an image comes.
  std::shared_ptr<ConvPrimitive> winograd, group, single;
  if (onednn_conv_winograd(w, spec) && onednn_weights_finite(w)) {
    SS_ASSIGN_OR_RETURN(winograd, primitive_for(1, true));
    if (!winograd->made) winograd.reset();
  }
  std::vector<bool> takes_winograd(static_cast<std::size_t>(n_img), false);
  bool any_direct = !winograd;
  const std::size_t per_src = winograd ? winograd->src_call_floats : 0;
  for (int64_t n = 0; winograd && n < n_img; ++n) {
    takes_winograd[n] = float32_all_finite(x.data<float>() + n * per_src, static_cast<int64_t>(per_src));
    any_direct = any_direct || !takes_winograd[n];
  }
  if (!winograd && n_img >= kImagesPerCall) {
    SS_ASSIGN_OR_RETURN(group, primitive_for(kImagesPerCall));
  }
  if (any_direct && (winograd || n_img % kImagesPerCall != 0)) {
    SS_ASSIGN_OR_RETURN(single, primitive_for(1));
  }

  Shape y_shape = spec.dst == ConvLayout::kPlain ? Shape{n_img, m, spec.out[0], spec.out[1]}
                                                 : Shape{n_img, (m + block - 1) / block, spec.out[0], spec.out[1], block};
  const float* pr = residual && !in_place ? residual->data<float>() : nullptr;
  if (in_place && in_place->shape() != y_shape) {
    return internal_error("onednn_conv: the in-place residual " + shape_to_string(in_place->shape()) +
                          " is not the output's shape " + shape_to_string(y_shape));
  }
  Tensor y = in_place ? std::exchange(*in_place, Tensor()) : Tensor(DType::kFloat32, y_shape);
  std::size_t scratch_bytes = 1;
  for (const auto& p : {winograd, group, single})
    if (p) scratch_bytes = std::max(scratch_bytes, p->scratch_md.get_size());
  Tensor scratch(DType::kUInt8, {static_cast<int64_t>(scratch_bytes)});
  // One thread per call: parallelism comes from batches on the job's threads, and each of them is
  // its own OpenMP initial thread (whose team size this sets).
  omp_set_num_threads(1);
  thread_local dnnl::stream strm(cpu_engine());
  const float* px = x.data<float>();
  float* py = y.data<float>();
  // Runs primitive p on the images from `first` (p's own count of them).
  auto execute = [&](const ConvPrimitive& p, int64_t first) {
    const std::size_t per_src = p.src_call_floats / static_cast<std::size_t>(p.images);
    const std::size_t per_dst = p.dst_call_floats / static_cast<std::size_t>(p.images);
    memory src(p.src_md, cpu_engine(), const_cast<float*>(px + first * per_src));
    memory dst(p.dst_md, cpu_engine(), py + first * per_dst);
    memory scratch_mem(p.scratch_md, cpu_engine(), scratch.raw());
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p.packed_weights}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratch_mem}};
    if (b) args.emplace(DNNL_ARG_BIAS, memory(p.bias_md, cpu_engine(), const_cast<void*>(b->raw())));
    if (pr) {
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                   memory(p.dst_md, cpu_engine(), const_cast<float*>(pr + first * per_dst)));
    }
    p.prim.execute(strm, args);
    if (spec.relu && !spec.relu_in_kernel) {
      strm.wait();
      relu_nan_preserving(py + first * per_dst, static_cast<int64_t>(p.dst_call_floats));
    }
  };
  SS_DNNL_TRY("convolution", {
    int64_t n = 0;
    for (; group && n + kImagesPerCall <= n_img; n += kImagesPerCall) execute(*group, n);
    for (; n < n_img; ++n) execute(takes_winograd[n] ? *winograd : *single, n);
    strm.wait();
  });
  return y;
}

namespace {

// Moves elements between [N, C, HW] and [N, ceil(C/b), HW, b] in tiles of kTile positions, so the
// strided side of the transposition stays in cache. T: an unsigned integer of the element's size.
constexpr int64_t kTile = 64;

template <typename T>
void to_blocked_typed(const T* src, T* dst, int64_t n_img, int64_t c, int64_t hw, int64_t b) {
  const int64_t cb = (c + b - 1) / b;
  for (int64_t n = 0; n < n_img; ++n)
    for (int64_t g = 0; g < cb; ++g) {
      T* out = dst + (n * cb + g) * hw * b;
      const int64_t lanes = std::min(b, c - g * b);
      for (int64_t q0 = 0; q0 < hw; q0 += kTile) {
        const int64_t q1 = std::min(hw, q0 + kTile);
        for (int64_t l = 0; l < lanes; ++l) {
          const T* in = src + (n * c + g * b + l) * hw;
          for (int64_t q = q0; q < q1; ++q) out[q * b + l] = in[q];
        }
        for (int64_t l = lanes; l < b; ++l)
          for (int64_t q = q0; q < q1; ++q) out[q * b + l] = T(0);
      }
    }
}

template <typename T>
void from_blocked_typed(const T* src, T* dst, int64_t n_img, int64_t cb, int64_t hw, int64_t b, int64_t c) {
  for (int64_t n = 0; n < n_img; ++n)
    for (int64_t g = 0; g < cb; ++g) {
      const T* in = src + (n * cb + g) * hw * b;
      const int64_t lanes = std::min(b, c - g * b);
      for (int64_t q0 = 0; q0 < hw; q0 += kTile) {
        const int64_t q1 = std::min(hw, q0 + kTile);
        for (int64_t l = 0; l < lanes; ++l) {
          T* out = dst + (n * c + g * b + l) * hw;
          for (int64_t q = q0; q < q1; ++q) out[q] = in[q * b + l];
        }
      }
    }
}

template <typename F>
void with_word_type(std::size_t bytes, F&& f) {
  switch (bytes) {
    case 1: f(uint8_t{}); break;
    case 2: f(uint16_t{}); break;
    case 4: f(uint32_t{}); break;
    default: f(uint64_t{}); break;
  }
}

}  // namespace

Tensor layout_to_blocked(const Tensor& x, int64_t block) {
  const int64_t n_img = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3), cb = (c + block - 1) / block;
  Tensor y(x.dtype(), {n_img, cb, x.dim(2), x.dim(3), block});
  with_word_type(dtype_size(x.dtype()), [&](auto word) {
    using T = decltype(word);
    to_blocked_typed(static_cast<const T*>(x.raw()), static_cast<T*>(y.raw()), n_img, c, hw, block);
  });
  return y;
}

Tensor layout_from_blocked(const Tensor& x, int64_t channels) {
  const int64_t n_img = x.dim(0), cb = x.dim(1), hw = x.dim(2) * x.dim(3), block = x.dim(4);
  Tensor y(x.dtype(), {n_img, channels, x.dim(2), x.dim(3)});
  with_word_type(dtype_size(x.dtype()), [&](auto word) {
    using T = decltype(word);
    from_blocked_typed(static_cast<const T*>(x.raw()), static_cast<T*>(y.raw()), n_img, cb, hw, block, channels);
  });
  return y;
}

}  // namespace shardscore
