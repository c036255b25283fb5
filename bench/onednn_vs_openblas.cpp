// oneDNN against OpenBLAS on one core, for the CPU backend's two heavy ops (issue: "oneDNN, or
// OpenBLAS with im2col - measure both and keep the faster").
//
// 1. Convolution: shardscore's CPU Conv (im2col + OpenBLAS sgemm, the engine's code path)
// against oneDNN's convolution primitive, layer by layer over ResNet-50's convolutions (224x224),
// one image at a time (the engine convolves image by image so that results do not depend on the
// batch size). oneDNN is timed twice:
//   - plain: NCHW source and destination as the engine's tensors are (weights in oneDNN's own
//     layout, reordered once outside the timing, as a prepacking engine would);
//   - preferred: source and destination in the layout oneDNN picks itself (format "any": NHWC for
//     its brgconv kernels on AVX-512), reorders not timed;
//   - shardscore's layout: what the engine runs (pass_blocked_conv_layout): nChw16c (nChw8c
//     without AVX-512) in and out, the stem reading NCHW; reorders not timed, as the engine keeps
//     activations blocked from one convolution to the next.
// Every result is checked against the engine's output before timing (max relative difference).
//
// 2. Matrix products of BERT-base (hidden 768, FFN 3072) on 256 rows of the folded batch, as the
//    engine calls each library (on fixed row tiles, so results do not depend on the batch size):
//    cblas_sgemm on one 256-row tile (OpenBLAS packs B on every call, so tiles are large), against
//    oneDNN's matmul on four 64-row tiles with the weights packed once in the layout it prefers
//    (as ONNX Runtime prepacks), and again with that layout's rows padded by a cache line where it
//    is row-major (oneDNN's gemm kernels, AVX2), as the engine lays them out; bias added by all.
//
//   build/bench/onednn_vs_openblas [--repeats R] [--min-seconds S]
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/onednn.h"
#include "engine/graph.h"
#include "engine/op_registry.h"

using namespace shardscore;

namespace {

struct Layer {
  const char* where;
  int64_t cin, cout, k, stride, pad, hin;
  int count;  // how many times ResNet-50 has it
};

// torchvision ResNet-50 (v1.5: stride on the 3x3), input 224x224.
const Layer kLayers[] = {
    {"stem 7x7/2", 3, 64, 7, 2, 3, 224, 1},
    {"l1 1x1 64-64", 64, 64, 1, 1, 0, 56, 1},
    {"l1 3x3 64", 64, 64, 3, 1, 1, 56, 3},
    {"l1 1x1 64-256", 64, 256, 1, 1, 0, 56, 4},  // 3 blocks + downsample
    {"l1 1x1 256-64", 256, 64, 1, 1, 0, 56, 2},
    {"l2 1x1 256-128", 256, 128, 1, 1, 0, 56, 1},
    {"l2 3x3/2 128", 128, 128, 3, 2, 1, 56, 1},
    {"l2 1x1 128-512", 128, 512, 1, 1, 0, 28, 4},
    {"l2 ds 1x1/2 256-512", 256, 512, 1, 2, 0, 56, 1},
    {"l2 1x1 512-128", 512, 128, 1, 1, 0, 28, 3},
    {"l2 3x3 128", 128, 128, 3, 1, 1, 28, 3},
    {"l3 1x1 512-256", 512, 256, 1, 1, 0, 28, 1},
    {"l3 3x3/2 256", 256, 256, 3, 2, 1, 28, 1},
    {"l3 1x1 256-1024", 256, 1024, 1, 1, 0, 14, 6},
    {"l3 ds 1x1/2 512-1024", 512, 1024, 1, 2, 0, 28, 1},
    {"l3 1x1 1024-256", 1024, 256, 1, 1, 0, 14, 5},
    {"l3 3x3 256", 256, 256, 3, 1, 1, 14, 5},
    {"l4 1x1 1024-512", 1024, 512, 1, 1, 0, 14, 1},
    {"l4 3x3/2 512", 512, 512, 3, 2, 1, 14, 1},
    {"l4 1x1 512-2048", 512, 2048, 1, 1, 0, 7, 3},
    {"l4 ds 1x1/2 1024-2048", 1024, 2048, 1, 2, 0, 14, 1},
    {"l4 1x1 2048-512", 2048, 512, 1, 1, 0, 7, 2},
    {"l4 3x3 512", 512, 512, 3, 1, 1, 7, 2},
};

double seconds_per_call(const std::function<void()>& f, int repeats, double min_seconds) {
  using clock = std::chrono::steady_clock;
  f();  // warm
  int inner = 1;
  for (;;) {
    auto t0 = clock::now();
    for (int i = 0; i < inner; ++i) f();
    double s = std::chrono::duration<double>(clock::now() - t0).count();
    if (s >= min_seconds / repeats || inner >= (1 << 20)) break;
    inner *= 2;
  }
  std::vector<double> runs;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = clock::now();
    for (int i = 0; i < inner; ++i) f();
    runs.push_back(std::chrono::duration<double>(clock::now() - t0).count() / inner);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

Attribute ints(std::vector<int64_t> v) {
  Attribute a;
  a.type = Attribute::Type::kInts;
  a.ints = std::move(v);
  return a;
}

double max_rel_diff(const float* a, const float* b, int64_t n) {
  double worst = 0, scale = 1;
  for (int64_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(double{b[i]}));
  for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(double{a[i]} - b[i]) / scale);
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 5;
  double min_seconds = 0.5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--repeats")) repeats = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--min-seconds")) min_seconds = std::atof(argv[i + 1]);
  }
  openblas_set_num_threads(1);
  omp_set_num_threads(1);
  using namespace dnnl;
  using tag = memory::format_tag;
  using dt = memory::data_type;
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1, 1);

  std::printf("| layer | count | shardscore im2col+OpenBLAS ms | oneDNN plain NCHW ms | oneDNN preferred layout ms | oneDNN in shardscore's blocked layout ms | oneDNN impl (plain / preferred / shardscore's) | max rel diff |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---|---:|\n");
  double total_ours = 0, total_plain = 0, total_blocked = 0, total_engine = 0;
  for (const Layer& L : kLayers) {
    const int64_t oh = (L.hin + 2 * L.pad - L.k) / L.stride + 1;
    Tensor x(DType::kFloat32, {1, L.cin, L.hin, L.hin});
    Tensor w(DType::kFloat32, {L.cout, L.cin, L.k, L.k});
    Tensor b(DType::kFloat32, {L.cout});
    for (Tensor* t : {&x, &w, &b})
      for (int64_t i = 0; i < t->numel(); ++i) t->data<float>()[i] = dist(rng);

    Node node;
    node.name = "conv";
    node.op_type = "Conv";
    node.opset = 17;
    node.attrs["kernel_shape"] = ints({L.k, L.k});
    node.attrs["strides"] = ints({L.stride, L.stride});
    node.attrs["pads"] = ints({L.pad, L.pad, L.pad, L.pad});
    Tensor ours;
    auto run_ours = [&] {
      OpContext ctx{node, {&x, &w, &b}, std::vector<Tensor>(1)};
      if (!cpu_conv(ctx).ok()) std::abort();
      ours = std::move(ctx.outputs[0]);
    };

    const memory::dims src_dims{1, L.cin, L.hin, L.hin}, w_dims{L.cout, L.cin, L.k, L.k}, b_dims{L.cout},
        dst_dims{1, L.cout, oh, oh}, strides{L.stride, L.stride}, pads{L.pad, L.pad};
    memory src_user({src_dims, dt::f32, tag::nchw}, eng, x.data<float>());
    memory w_user({w_dims, dt::f32, tag::oihw}, eng, w.data<float>());
    memory b_mem({b_dims, dt::f32, tag::x}, eng, b.data<float>());
    std::vector<float> dst_plain(static_cast<std::size_t>(L.cout * oh * oh));
    memory dst_user({dst_dims, dt::f32, tag::nchw}, eng, dst_plain.data());

    auto make = [&](tag src_tag, tag dst_tag) {
      auto d = convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct,
                                         {src_dims, dt::f32, src_tag}, {w_dims, dt::f32, tag::any},
                                         {b_dims, dt::f32, tag::x}, {dst_dims, dt::f32, dst_tag}, strides, pads, pads);
      return convolution_forward::primitive_desc(d, eng);
    };
    auto pd_plain = make(tag::nchw, tag::nchw);
    auto pd_blocked = make(tag::any, tag::any);
    const int64_t block = onednn_channel_block();
    const tag btag = block == 16 ? tag::nChw16c : tag::nChw8c;
    auto pd_engine = make(L.cin % block == 0 ? btag : tag::nchw, btag);
    auto prepack = [&](const convolution_forward::primitive_desc& pd) {
      memory wm(pd.weights_desc(), eng);
      reorder(w_user, wm).execute(strm, w_user, wm);
      strm.wait();
      return wm;
    };
    memory w_plain = prepack(pd_plain), w_blocked = prepack(pd_blocked), w_engine = prepack(pd_engine);
    convolution_forward conv_plain(pd_plain), conv_blocked(pd_blocked), conv_engine(pd_engine);
    memory src_blocked(pd_blocked.src_desc(), eng), dst_blocked(pd_blocked.dst_desc(), eng);
    memory src_engine(pd_engine.src_desc(), eng), dst_engine(pd_engine.dst_desc(), eng);
    reorder(src_user, src_blocked).execute(strm, src_user, src_blocked);
    reorder(src_user, src_engine).execute(strm, src_user, src_engine);
    strm.wait();

    auto run_plain = [&] {
      conv_plain.execute(strm, {{DNNL_ARG_SRC, src_user}, {DNNL_ARG_WEIGHTS, w_plain}, {DNNL_ARG_BIAS, b_mem},
                                {DNNL_ARG_DST, dst_user}});
      strm.wait();
    };
    auto run_blocked = [&] {
      conv_blocked.execute(strm, {{DNNL_ARG_SRC, src_blocked}, {DNNL_ARG_WEIGHTS, w_blocked}, {DNNL_ARG_BIAS, b_mem},
                                  {DNNL_ARG_DST, dst_blocked}});
      strm.wait();
    };
    auto run_engine = [&] {
      conv_engine.execute(strm, {{DNNL_ARG_SRC, src_engine}, {DNNL_ARG_WEIGHTS, w_engine}, {DNNL_ARG_BIAS, b_mem},
                                 {DNNL_ARG_DST, dst_engine}});
      strm.wait();
    };
    // Correctness before timing: every oneDNN result against the engine's im2col one.
    run_ours();
    run_plain();
    double diff = max_rel_diff(dst_plain.data(), ours.data<float>(), ours.numel());
    run_blocked();
    std::vector<float> back(dst_plain.size());
    memory back_mem({dst_dims, dt::f32, tag::nchw}, eng, back.data());
    reorder(dst_blocked, back_mem).execute(strm, dst_blocked, back_mem);
    strm.wait();
    diff = std::max(diff, max_rel_diff(back.data(), ours.data<float>(), ours.numel()));
    run_engine();
    reorder(dst_engine, back_mem).execute(strm, dst_engine, back_mem);
    strm.wait();
    diff = std::max(diff, max_rel_diff(back.data(), ours.data<float>(), ours.numel()));

    const double t_ours = seconds_per_call(run_ours, repeats, min_seconds);
    const double t_plain = seconds_per_call(run_plain, repeats, min_seconds);
    const double t_blocked = seconds_per_call(run_blocked, repeats, min_seconds);
    const double t_engine = seconds_per_call(run_engine, repeats, min_seconds);
    total_ours += L.count * t_ours;
    total_plain += L.count * t_plain;
    total_blocked += L.count * t_blocked;
    total_engine += L.count * t_engine;
    std::printf("| %s | %d | %.3f | %.3f | %.3f | %.3f | %s / %s / %s | %.1e |\n", L.where, L.count, 1e3 * t_ours,
                1e3 * t_plain, 1e3 * t_blocked, 1e3 * t_engine, pd_plain.impl_info_str(), pd_blocked.impl_info_str(),
                pd_engine.impl_info_str(), diff);
    std::fflush(stdout);
  }
  std::printf("| **all ResNet-50 convolutions, one image** | 53 | **%.1f** | **%.1f** | **%.1f** | **%.1f** | | |\n",
              1e3 * total_ours, 1e3 * total_plain, 1e3 * total_blocked, 1e3 * total_engine);
  std::printf("\n| BERT-base product, 256 rows | count per layer | OpenBLAS sgemm, one 256-row call ms | oneDNN matmul, packed weights, four 64-row calls ms | the same, rows padded ms | oneDNN impl | max rel diff |\n");
  std::printf("|---|---:|---:|---:|---:|---|---:|\n");
  struct Product {
    const char* what;
    int64_t m, k, n;
    int count;
  };
  const Product products[] = {{"Q, K, V, attention output 768x768", 256, 768, 768, 4},
                              {"FFN up 768x3072", 256, 768, 3072, 1},
                              {"FFN down 3072x768", 256, 3072, 768, 1}};
  double gemm_blas = 0, gemm_dnnl = 0, gemm_padded = 0;
  for (const Product& P : products) {
    std::vector<float> a(static_cast<std::size_t>(P.m * P.k)), b(static_cast<std::size_t>(P.k * P.n)),
        bias(static_cast<std::size_t>(P.n)), c1(static_cast<std::size_t>(P.m * P.n)), c2(c1.size());
    for (auto* v : {&a, &b, &bias})
      for (auto& e : *v) e = dist(rng);
    auto run_blas = [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(P.m), static_cast<int>(P.n),
                  static_cast<int>(P.k), 1.0f, a.data(), static_cast<int>(P.k), b.data(), static_cast<int>(P.n), 0.0f,
                  c1.data(), static_cast<int>(P.n));
      for (int64_t i = 0; i < P.m; ++i)
        for (int64_t j = 0; j < P.n; ++j) c1[i * P.n + j] += bias[j];
    };
    constexpr int64_t kTile = 64;  // the engine's small tile (RowTiles::small)
    const memory::desc a_md({kTile, P.k}, dt::f32, tag::ab), bias_md({1, P.n}, dt::f32, tag::ab),
        c_md({kTile, P.n}, dt::f32, tag::ab);
    memory b_user({{P.k, P.n}, dt::f32, tag::ab}, eng, b.data());
    memory bias_mem(bias_md, eng, bias.data());
    // The weights in the layout oneDNN picks ("any"), packed once into memory oneDNN allocates;
    // padded: where that layout is row-major, rows one cache line longer, as the engine's
    // make_matmul (engine/cpu/onednn.cpp) lays them out.
    struct Prepared {
      matmul mm;
      memory w;
      std::string impl;
    };
    auto prepare = [&](bool padded) {
      auto pd_for = [&](const memory::desc& w_md) { return matmul::primitive_desc(matmul::desc(a_md, w_md, bias_md, c_md), eng); };
      matmul::primitive_desc mpd = pd_for(memory::desc({P.k, P.n}, dt::f32, tag::any));
      if (padded && mpd.weights_desc() == memory::desc({P.k, P.n}, dt::f32, tag::ab))
        mpd = pd_for(memory::desc({P.k, P.n}, dt::f32, memory::dims{P.n + 16, 1}));
      memory w(mpd.weights_desc(), eng);
      std::memset(w.get_data_handle(), 0, mpd.weights_desc().get_size());
      reorder(b_user, w).execute(strm, b_user, w);
      strm.wait();
      return Prepared{matmul(mpd), w, mpd.impl_info_str()};
    };
    const Prepared plain = prepare(false), padded = prepare(true);
    auto run_with = [&](const Prepared& p, std::vector<float>& c) {
      for (int64_t r0 = 0; r0 < P.m; r0 += kTile) {
        memory a_mem(a_md, eng, a.data() + r0 * P.k), c_mem(c_md, eng, c.data() + r0 * P.n);
        p.mm.execute(strm, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, p.w}, {DNNL_ARG_BIAS, bias_mem}, {DNNL_ARG_DST, c_mem}});
      }
      strm.wait();
    };
    std::vector<float> c3(c1.size());
    auto run_dnnl = [&] { run_with(plain, c2); };
    auto run_padded = [&] { run_with(padded, c3); };
    run_blas();
    run_dnnl();
    run_padded();
    const double diff = std::max(max_rel_diff(c2.data(), c1.data(), P.m * P.n), max_rel_diff(c3.data(), c1.data(), P.m * P.n));
    const double tb = seconds_per_call(run_blas, repeats, min_seconds), td = seconds_per_call(run_dnnl, repeats, min_seconds),
                 tp = seconds_per_call(run_padded, repeats, min_seconds);
    gemm_blas += P.count * tb;
    gemm_dnnl += P.count * td;
    gemm_padded += P.count * tp;
    std::printf("| %s | %d | %.3f | %.3f | %.3f | %s | %.1e |\n", P.what, P.count, 1e3 * tb, 1e3 * td, 1e3 * tp,
                plain.impl.c_str(), diff);
    std::fflush(stdout);
  }
  std::printf("| **one encoder layer, 256 rows** | 6 | **%.2f** | **%.2f** | **%.2f** | | |\n", 1e3 * gemm_blas, 1e3 * gemm_dnnl,
              1e3 * gemm_padded);
  std::printf("\noneDNN %d.%d.%d, one thread each (OpenBLAS and OpenMP set to 1)\n", dnnl_version()->major,
              dnnl_version()->minor, dnnl_version()->patch);
  return 0;
}
