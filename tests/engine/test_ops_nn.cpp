// Op tests of the neural-network and math ops (src/engine/cpu/cpu_ops_nn.h) and of float16 Cast,
// each against a float64 reference written out here with plain loops over indices.
// The fixture and its helpers are in op_test.h (see there for how to add a test).
#include <array>
#include <bit>
#include <functional>

#include "engine/cpu/onednn.h"
#include "engine/cpu/vector_math.h"
#include "engine/op_test.h"

namespace shardscore {
namespace {
using namespace shardscore::op_test;

template <typename T>
Tensor scalar(T v) {
  return Tensor::copy_of(dtype_of<T>(), {}, &v);
}

using RunFn = std::function<Tensor(std::vector<Tensor>, Attrs)>;

// ---------------------------------------------------------------------------------------------
// Conv

// One Conv case: X shape, W shape, group; the strides, dilations and the effective pads
// (top, left, bottom, right) the reference uses; the attributes the node gets; the expected Y shape.
struct ConvCase {
  Shape xs, ws;
  int64_t group = 1;
  std::array<int64_t, 2> s{1, 1}, d{1, 1};
  std::array<int64_t, 4> pads{0, 0, 0, 0};
  bool bias = false;
  Attrs attrs = {};
  Shape ys = {};
};

// Direct convolution in double: seven nested loops over image, output channel, output row and
// column, input channel of the group, kernel row and column. magnitude: each output's sum of
// |x w| and |b|, what a float32 sum's rounding grows with (conv_slack).
template <typename T>
std::vector<double> conv_ref(const ConvCase& c, const std::vector<T>& x, const std::vector<T>& w,
                             const std::vector<T>& b, std::vector<double>* magnitude = nullptr) {
  const int64_t n_img = c.xs[0], ch = c.xs[1], h = c.xs[2], wd = c.xs[3];
  const int64_t m = c.ws[0], cg = c.ws[1], kh = c.ws[2], kw = c.ws[3];
  const int64_t oh = c.ys[2], ow = c.ys[3], mg = m / c.group;
  std::vector<double> y(static_cast<std::size_t>(numel_of(c.ys)));
  if (magnitude) magnitude->assign(y.size(), 0.0);
  for (int64_t n = 0; n < n_img; ++n)
    for (int64_t mo = 0; mo < m; ++mo)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          double acc = b.empty() ? 0.0 : static_cast<double>(b[mo]);
          double mag = std::fabs(acc);
          const int64_t g = mo / mg;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t iy = oy * c.s[0] - c.pads[0] + i * c.d[0];
                const int64_t ix = ox * c.s[1] - c.pads[1] + j * c.d[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                const double p = static_cast<double>(x[((n * ch + g * cg + ci) * h + iy) * wd + ix]) *
                                 static_cast<double>(w[((mo * cg + ci) * kh + i) * kw + j]);
                acc += p;
                mag += std::fabs(p);
              }
          y[((n * m + mo) * oh + oy) * ow + ox] = acc;
          if (magnitude) (*magnitude)[((n * m + mo) * oh + oy) * ow + ox] = mag;
        }
  return y;
}

// What a float32 sum may be off by, beyond kTolReduce, in an output that cancels: 4 float32 epsilons
// of its sum of magnitudes (a sum of 288 products of uniform(-1, 1) values, magnitudes about 70,
// that cancelled to 0.024 came out 1.1e-5 off in oneDNN's order, seed 2700628631).
std::vector<double> conv_slack(const std::vector<double>& magnitude) {
  std::vector<double> s(magnitude.size());
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = 4 * double{std::numeric_limits<float>::epsilon()} * magnitude[i];
  return s;
}

void check_conv(const ConvCase& c, std::mt19937& rng, const RunFn& run) {
  SCOPED_TRACE("Conv X " + shape_to_string(c.xs) + " W " + shape_to_string(c.ws));
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(static_cast<std::size_t>(numel_of(c.xs))), w(static_cast<std::size_t>(numel_of(c.ws))), b;
  for (auto& v : x) v = u(rng);
  for (auto& v : w) v = u(rng);
  std::vector<Tensor> in = {make(c.xs, x), make(c.ws, w)};
  if (c.bias) {
    b.resize(static_cast<std::size_t>(c.ws[0]));
    for (auto& v : b) v = u(rng);
    in.push_back(make<float>({c.ws[0]}, b));
  }
  Tensor out = run(in, c.attrs);
  std::vector<double> magnitude;
  const std::vector<double> ref = conv_ref(c, x, w, b, &magnitude);
  expect_near(out, DType::kFloat32, c.ys, ref, kTolReduce, conv_slack(magnitude));
}

#define RUN_CONV [&](std::vector<Tensor> in, Attrs at) { return run1("Conv", std::move(in), std::move(at)); }

TEST_P(OpTest, Conv_3x3_NoPad_NoBias) {
  check_conv({.xs = {2, 3, 7, 6}, .ws = {4, 3, 3, 3}, .ys = {2, 4, 5, 4}}, rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_Pads1_Bias) {
  check_conv({.xs = {2, 3, 6, 6},
              .ws = {5, 3, 3, 3},
              .pads = {1, 1, 1, 1},
              .bias = true,
              .attrs = {{"pads", a_ints({1, 1, 1, 1})}},
              .ys = {2, 5, 6, 6}},
             rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_AsymmetricPads) {
  // pads = [top, left, bottom, right] = [0, 1, 2, 1]: 5 + 0 + 2 - 3 + 1 = 5 rows, 6 + 1 + 1 - 3 + 1 = 6 columns.
  check_conv({.xs = {1, 2, 5, 6},
              .ws = {3, 2, 3, 3},
              .pads = {0, 1, 2, 1},
              .bias = true,
              .attrs = {{"pads", a_ints({0, 1, 2, 1})}},
              .ys = {1, 3, 5, 6}},
             rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_Stride2) {
  // (9 + 2 - 3) / 2 + 1 = 5 rows, (8 + 2 - 3) / 2 + 1 = 4 columns.
  check_conv({.xs = {2, 2, 9, 8},
              .ws = {4, 2, 3, 3},
              .s = {2, 2},
              .pads = {1, 1, 1, 1},
              .bias = true,
              .attrs = {{"strides", a_ints({2, 2})}, {"pads", a_ints({1, 1, 1, 1})}},
              .ys = {2, 4, 5, 4}},
             rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_StrideDiffersPerAxis) {
  // Strides (3, 1) with a 3x2 kernel: (10 - 3) / 3 + 1 = 3 rows, (7 - 2) / 1 + 1 = 6 columns.
  check_conv({.xs = {1, 3, 10, 7},
              .ws = {2, 3, 3, 2},
              .s = {3, 1},
              .attrs = {{"strides", a_ints({3, 1})}},
              .ys = {1, 2, 3, 6}},
             rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_Dilation2) {
  // Dilated 3x3 spans 5: 9 - 5 + 1 = 5; with pads 2 it keeps 9.
  check_conv({.xs = {1, 2, 9, 9},
              .ws = {3, 2, 3, 3},
              .d = {2, 2},
              .attrs = {{"dilations", a_ints({2, 2})}},
              .ys = {1, 3, 5, 5}},
             rng_, RUN_CONV);
  check_conv({.xs = {1, 2, 9, 9},
              .ws = {3, 2, 3, 3},
              .d = {2, 2},
              .pads = {2, 2, 2, 2},
              .bias = true,
              .attrs = {{"dilations", a_ints({2, 2})}, {"pads", a_ints({2, 2, 2, 2})}},
              .ys = {1, 3, 9, 9}},
             rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_Depthwise) {
  // group = C: MobileNet's depthwise 3x3, stride 1 and 2, multiplier 1 and 2.
  check_conv({.xs = {2, 4, 7, 7},
              .ws = {4, 1, 3, 3},
              .group = 4,
              .pads = {1, 1, 1, 1},
              .bias = true,
              .attrs = {{"group", a_int(4)}, {"pads", a_ints({1, 1, 1, 1})}},
              .ys = {2, 4, 7, 7}},
             rng_, RUN_CONV);
  check_conv({.xs = {1, 4, 8, 8},
              .ws = {4, 1, 3, 3},
              .group = 4,
              .s = {2, 2},
              .pads = {1, 1, 1, 1},
              .attrs = {{"group", a_int(4)}, {"strides", a_ints({2, 2})}, {"pads", a_ints({1, 1, 1, 1})}},
              .ys = {1, 4, 4, 4}},
             rng_, RUN_CONV);
  check_conv({.xs = {1, 3, 5, 5},
              .ws = {6, 1, 3, 3},
              .group = 3,
              .bias = true,
              .attrs = {{"group", a_int(3)}},
              .ys = {1, 6, 3, 3}},
             rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_Depthwise_DilatedStridedAsymmetric) {
  // Rows: (9 + 0 + 2 - 5) / 1 + 1 = 7; columns: (10 + 1 + 3 - 5) / 2 + 1 = 5.
  check_conv({.xs = {2, 3, 9, 10},
              .ws = {3, 1, 3, 3},
              .group = 3,
              .s = {1, 2},
              .d = {2, 2},
              .pads = {0, 1, 2, 3},
              .bias = true,
              .attrs = {{"group", a_int(3)},
                        {"strides", a_ints({1, 2})},
                        {"dilations", a_ints({2, 2})},
                        {"pads", a_ints({0, 1, 2, 3})}},
              .ys = {2, 3, 7, 5}},
             rng_, RUN_CONV);
  // A kernel wider than the input plus padding on one side: some taps never land inside.
  check_conv({.xs = {1, 2, 3, 2},
              .ws = {2, 1, 3, 3},
              .group = 2,
              .pads = {1, 2, 1, 2},
              .attrs = {{"group", a_int(2)}, {"pads", a_ints({1, 2, 1, 2})}},
              .ys = {1, 2, 3, 4}},
             rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_Group2) {
  check_conv({.xs = {2, 4, 6, 5},
              .ws = {6, 2, 3, 3},
              .group = 2,
              .pads = {1, 1, 1, 1},
              .bias = true,
              .attrs = {{"group", a_int(2)}, {"pads", a_ints({1, 1, 1, 1})}},
              .ys = {2, 6, 6, 5}},
             rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_1x1) {
  // Pointwise (the direct path: no im2col), then 1x1 with stride 2 (ResNet's downsample).
  check_conv({.xs = {3, 8, 5, 6}, .ws = {6, 8, 1, 1}, .bias = true, .ys = {3, 6, 5, 6}}, rng_, RUN_CONV);
  check_conv(
      {.xs = {2, 4, 7, 7}, .ws = {8, 4, 1, 1}, .s = {2, 2}, .attrs = {{"strides", a_ints({2, 2})}}, .ys = {2, 8, 4, 4}},
      rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_AutoPadSameUpper) {
  // ceil(7 / 2) = 4 outputs; total pad (4 - 1) * 2 + 4 - 7 = 3: 1 before, 2 after.
  check_conv({.xs = {1, 2, 7, 7},
              .ws = {3, 2, 4, 4},
              .s = {2, 2},
              .pads = {1, 1, 2, 2},
              .bias = true,
              .attrs = {{"auto_pad", a_string("SAME_UPPER")}, {"strides", a_ints({2, 2})}},
              .ys = {1, 3, 4, 4}},
             rng_, RUN_CONV);
  // Stride 1, 3x3: one on each side.
  check_conv({.xs = {1, 2, 5, 6},
              .ws = {2, 2, 3, 3},
              .pads = {1, 1, 1, 1},
              .attrs = {{"auto_pad", a_string("SAME_UPPER")}},
              .ys = {1, 2, 5, 6}},
             rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_AutoPadSameLower) {
  // As above with the odd pad before: 2 before, 1 after.
  check_conv({.xs = {1, 2, 7, 7},
              .ws = {3, 2, 4, 4},
              .s = {2, 2},
              .pads = {2, 2, 1, 1},
              .bias = true,
              .attrs = {{"auto_pad", a_string("SAME_LOWER")}, {"strides", a_ints({2, 2})}},
              .ys = {1, 3, 4, 4}},
             rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_AutoPadValid) {
  // No padding: (7 - 3) / 2 + 1 = 3 rows, (8 - 3) / 2 + 1 = 3 columns.
  check_conv({.xs = {1, 2, 7, 8},
              .ws = {3, 2, 3, 3},
              .s = {2, 2},
              .attrs = {{"auto_pad", a_string("VALID")}, {"strides", a_ints({2, 2})}},
              .ys = {1, 3, 3, 3}},
             rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_AutoPadNotSetUsesPads) {
  check_conv({.xs = {1, 2, 5, 5},
              .ws = {3, 2, 3, 3},
              .pads = {1, 0, 1, 0},
              .attrs = {{"auto_pad", a_string("NOTSET")}, {"pads", a_ints({1, 0, 1, 0})}},
              .ys = {1, 3, 5, 3}},
             rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_KernelShapeAttribute) {
  check_conv({.xs = {1, 3, 6, 6}, .ws = {2, 3, 3, 2}, .attrs = {{"kernel_shape", a_ints({3, 2})}}, .ys = {1, 2, 4, 5}},
             rng_, RUN_CONV);
}
TEST_P(OpTest, Conv_Float64) {
  ConvCase c{.xs = {2, 4, 6, 6},
             .ws = {4, 2, 3, 3},
             .group = 2,
             .s = {2, 1},
             .pads = {1, 1, 1, 1},
             .attrs = {{"group", a_int(2)}, {"strides", a_ints({2, 1})}, {"pads", a_ints({1, 1, 1, 1})}},
             .ys = {2, 4, 3, 6}};
  auto x = rand_f64(numel_of(c.xs));
  auto w = rand_f64(numel_of(c.ws));
  auto b = rand_f64(4);
  Tensor out = run1("Conv", {make(c.xs, x), make(c.ws, w), make<double>({4}, b)}, c.attrs);
  expect_near(out, DType::kFloat64, c.ys, conv_ref(c, x, w, b), 1e-12);
}
TEST_P(OpTest, Conv_ImageIndependentOfBatch_Bitwise) {
  // Image 3 of a 5-image batch is bit-identical to the same image run alone: dense (im2col +
  // BLAS), grouped, depthwise with multiplier 2 (BLAS per group) and plain depthwise (direct).
  // On CUDA, where cuDNN chooses its algorithm by shape, the same within tolerance.
  const Shape xs = {5, 8, 12, 12};
  auto x = rand_f32(numel_of(xs));
  const int64_t per = 8 * 12 * 12;
  std::vector<float> x3(x.begin() + 3 * per, x.begin() + 4 * per);
  for (auto [group, m] : {std::pair<int64_t, int64_t>{1, 16}, {2, 16}, {8, 16}, {8, 8}}) {
    SCOPED_TRACE("group " + std::to_string(group) + ", " + std::to_string(m) + " output channels");
    const Shape ws = {m, 8 / group, 3, 3};
    auto w = rand_f32(numel_of(ws));
    auto b = rand_f32(m);
    Attrs at = {{"pads", a_ints({1, 1, 1, 1})}, {"group", a_int(group)}};
    Tensor all = run1("Conv", {make(xs, x), make(ws, w), make<float>({m}, b)}, at);
    Tensor one = run1("Conv", {make<float>({1, 8, 12, 12}, x3), make(ws, w), make<float>({m}, b)}, at);
    ASSERT_EQ(all.shape(), (Shape{5, m, 12, 12}));
    ASSERT_EQ(one.shape(), (Shape{1, m, 12, 12}));
    const int64_t out_per = m * 12 * 12;
    if (products_bitwise_across_batches()) {
      EXPECT_EQ(std::memcmp(all.data<float>() + 3 * out_per, one.data<float>(), out_per * sizeof(float)), 0);
    } else {
      expect_elements_near(one.data<float>(), all.data<float>() + 3 * out_per, out_per, kTolReduce,
                           "image 3 alone against the batch of 5");
    }
  }
}
TEST_P(OpTest, Conv_Errors) {
  auto w = make<float>({2, 3, 3, 3}, rand_f32(54));
  // 1-D runs only as rewritten to 2-D at load (pass_spatial_1d_as_2d); 3-D not at all.
  expect_error(StatusCode::kUnimplemented, "3-D input [1, 3, 8] runs as 1-D only where", "Conv",
               {make<float>({1, 3, 8}, rand_f32(24)), w});
  expect_error(StatusCode::kUnimplemented, "runs on 1-D and 2-D spatial input only", "Conv",
               {make<float>({1, 3, 2, 2, 2}, rand_f32(24)), make<float>({2, 3, 2, 2, 2}, rand_f32(48))});
  expect_error(StatusCode::kInvalidArgument, "4-D", "Conv", {make<float>({3, 8}, rand_f32(24)), w});
  expect_error(StatusCode::kInvalidArgument, "group", "Conv", {make<float>({1, 4, 5, 5}, rand_f32(100)), w});
  expect_error(StatusCode::kInvalidArgument, "group", "Conv", {make<float>({1, 3, 5, 5}, rand_f32(75)), w},
               {{"group", a_int(3)}});
  expect_error(StatusCode::kInvalidArgument, "auto_pad 'SAME'", "Conv", {make<float>({1, 3, 5, 5}, rand_f32(75)), w},
               {{"auto_pad", a_string("SAME")}});
  expect_error(StatusCode::kInvalidArgument, "kernel_shape", "Conv", {make<float>({1, 3, 5, 5}, rand_f32(75)), w},
               {{"kernel_shape", a_ints({2, 2})}});
  expect_error(StatusCode::kInvalidArgument, "B [3]", "Conv",
               {make<float>({1, 3, 5, 5}, rand_f32(75)), w, make<float>({3}, rand_f32(3))});
  expect_error(StatusCode::kInvalidArgument, "strides", "Conv", {make<float>({1, 3, 5, 5}, rand_f32(75)), w},
               {{"strides", a_ints({0, 1})}});
  expect_error(StatusCode::kInvalidArgument, "pads", "Conv", {make<float>({1, 3, 5, 5}, rand_f32(75)), w},
               {{"pads", a_ints({1, 1})}});
  expect_error(StatusCode::kInvalidArgument, "larger than the padded input", "Conv",
               {make<float>({1, 3, 2, 5}, rand_f32(30)), w});
}

// ---------------------------------------------------------------------------------------------
// ConvTranspose

// One ConvTranspose case: X, W [C, M/group, kH, kW], group; the strides, dilations and pads at the
// beginning the reference uses; the attributes the node gets; the expected Y shape.
struct ConvTransposeCase {
  Shape xs, ws;
  int64_t group = 1;
  std::array<int64_t, 2> s{1, 1}, d{1, 1}, pb{0, 0};
  bool bias = false;
  Attrs attrs = {};
  Shape ys = {};
};

// The spec's definition in double, scattered: every input pixel times every tap lands at
// (iy * s + i * d - pb, ix * s + j * d - pb) of each output channel of its group, if inside.
template <typename T>
std::vector<double> conv_transpose_ref(const ConvTransposeCase& c, const std::vector<T>& x, const std::vector<T>& w,
                                       const std::vector<T>& b, std::vector<double>* magnitude = nullptr) {
  const int64_t n_img = c.xs[0], ch = c.xs[1], h = c.xs[2], wd = c.xs[3];
  const int64_t mg = c.ws[1], kh = c.ws[2], kw = c.ws[3], cg = ch / c.group, m = mg * c.group;
  const int64_t oh = c.ys[2], ow = c.ys[3];
  std::vector<double> y(static_cast<std::size_t>(numel_of(c.ys)), 0.0), mag(y.size(), 0.0);
  for (int64_t n = 0; n < n_img; ++n)
    for (int64_t ci = 0; ci < ch; ++ci)
      for (int64_t iy = 0; iy < h; ++iy)
        for (int64_t ix = 0; ix < wd; ++ix)
          for (int64_t ml = 0; ml < mg; ++ml)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t oy = iy * c.s[0] + i * c.d[0] - c.pb[0], ox = ix * c.s[1] + j * c.d[1] - c.pb[1];
                if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
                const int64_t mo = (ci / cg) * mg + ml;
                const double p = static_cast<double>(x[((n * ch + ci) * h + iy) * wd + ix]) *
                                 static_cast<double>(w[((ci * mg + ml) * kh + i) * kw + j]);
                const std::size_t at = static_cast<std::size_t>(((n * m + mo) * oh + oy) * ow + ox);
                y[at] += p;
                mag[at] += std::fabs(p);
              }
  if (!b.empty()) {
    for (std::size_t at = 0; at < y.size(); ++at) {
      const int64_t mo = static_cast<int64_t>(at) / (oh * ow) % m;
      y[at] += static_cast<double>(b[mo]);
      mag[at] += std::fabs(static_cast<double>(b[mo]));
    }
  }
  if (magnitude) *magnitude = std::move(mag);
  return y;
}

void check_conv_transpose(const ConvTransposeCase& c, std::mt19937& rng, const RunFn& run) {
  SCOPED_TRACE("ConvTranspose X " + shape_to_string(c.xs) + " W " + shape_to_string(c.ws));
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(static_cast<std::size_t>(numel_of(c.xs))), w(static_cast<std::size_t>(numel_of(c.ws))), b;
  for (auto& v : x) v = u(rng);
  for (auto& v : w) v = u(rng);
  std::vector<Tensor> in = {make(c.xs, x), make(c.ws, w)};
  if (c.bias) {
    b.resize(static_cast<std::size_t>(c.ws[1] * c.group));
    for (auto& v : b) v = u(rng);
    in.push_back(make<float>({c.ws[1] * c.group}, b));
  }
  Tensor out = run(in, c.attrs);
  std::vector<double> magnitude;
  const std::vector<double> ref = conv_transpose_ref(c, x, w, b, &magnitude);
  expect_near(out, DType::kFloat32, c.ys, ref, kTolReduce, conv_slack(magnitude));
}

#define RUN_CONV_TRANSPOSE \
  [&](std::vector<Tensor> in, Attrs at) { return run1("ConvTranspose", std::move(in), std::move(at)); }

TEST_P(OpTest, ConvTranspose_Basic) {
  // (4 - 1) + 3 = 6 rows, (5 - 1) + 3 = 7 columns; with and without B.
  check_conv_transpose({.xs = {2, 3, 4, 5}, .ws = {3, 2, 3, 3}, .bias = true, .ys = {2, 2, 6, 7}}, rng_, RUN_CONV_TRANSPOSE);
  check_conv_transpose({.xs = {1, 2, 3, 3}, .ws = {2, 4, 2, 2}, .ys = {1, 4, 4, 4}}, rng_, RUN_CONV_TRANSPOSE);
}
TEST_P(OpTest, ConvTranspose_StridePadsOutputPadding) {
  // 2 * 3 + 1 + 3 - 2 = 8 rows, 2 * 4 + 1 + 3 - 2 = 10 columns (a U-Net decoder's upsampling).
  check_conv_transpose({.xs = {2, 3, 4, 5},
                        .ws = {3, 4, 3, 3},
                        .s = {2, 2},
                        .pb = {1, 1},
                        .bias = true,
                        .attrs = {{"strides", a_ints({2, 2})}, {"pads", a_ints({1, 1, 1, 1})}, {"output_padding", a_ints({1, 1})}},
                        .ys = {2, 4, 8, 10}},
                       rng_, RUN_CONV_TRANSPOSE);
  // Stride 2, kernel 2 (no overlap): exactly twice the size.
  check_conv_transpose({.xs = {1, 4, 3, 5}, .ws = {4, 3, 2, 2}, .s = {2, 2}, .bias = true,
                        .attrs = {{"strides", a_ints({2, 2})}}, .ys = {1, 3, 6, 10}},
                       rng_, RUN_CONV_TRANSPOSE);
}
TEST_P(OpTest, ConvTranspose_GroupsDilationsAsymmetricPads) {
  // Rows: 1 * 2 + (2 * 2 + 1) - 0 - 2 = 5; columns: 3 * 3 + 2 - 1 - 0 = 10.
  check_conv_transpose({.xs = {2, 4, 3, 4},
                        .ws = {4, 3, 3, 2},
                        .group = 2,
                        .s = {1, 3},
                        .d = {2, 1},
                        .pb = {0, 1},
                        .bias = true,
                        .attrs = {{"group", a_int(2)}, {"strides", a_ints({1, 3})}, {"dilations", a_ints({2, 1})},
                                  {"pads", a_ints({0, 1, 2, 0})}},
                        .ys = {2, 6, 5, 10}},
                       rng_, RUN_CONV_TRANSPOSE);
  // Depthwise (one filter per channel), stride 2.
  check_conv_transpose({.xs = {1, 4, 3, 3},
                        .ws = {4, 1, 3, 3},
                        .group = 4,
                        .s = {2, 2},
                        .attrs = {{"group", a_int(4)}, {"strides", a_ints({2, 2})}},
                        .ys = {1, 4, 7, 7}},
                       rng_, RUN_CONV_TRANSPOSE);
}
TEST_P(OpTest, ConvTranspose_OutputShape) {
  // Full size 3 * 2 + 3 = 9 rows, 2 * 2 + 3 = 7 columns; output_shape [10, 8] adds one of each at
  // the end (total padding -1: 0 at the beginning), [8, 6] cuts one at the beginning (total 1,
  // the larger half first).
  check_conv_transpose({.xs = {1, 2, 3, 3}, .ws = {2, 2, 3, 3}, .s = {3, 2}, .bias = true,
                        .attrs = {{"strides", a_ints({3, 2})}, {"output_shape", a_ints({10, 8})}}, .ys = {1, 2, 10, 8}},
                       rng_, RUN_CONV_TRANSPOSE);
  check_conv_transpose({.xs = {1, 2, 3, 3}, .ws = {2, 2, 3, 3}, .s = {3, 2}, .pb = {1, 1},
                        .attrs = {{"strides", a_ints({3, 2})}, {"output_shape", a_ints({8, 6})}}, .ys = {1, 2, 8, 6}},
                       rng_, RUN_CONV_TRANSPOSE);
  // 11 rows at stride 3: two past the full size, still less than a stride.
  check_conv_transpose({.xs = {1, 2, 3, 3}, .ws = {2, 2, 3, 3}, .s = {3, 2},
                        .attrs = {{"strides", a_ints({3, 2})}, {"output_shape", a_ints({11, 7})}}, .ys = {1, 2, 11, 7}},
                       rng_, RUN_CONV_TRANSPOSE);
}
TEST_P(OpTest, ConvTranspose_AutoPad) {
  // SAME: the output is in * stride (6 x 8); total padding 2 * 2 + 3 - 6 = 1 rows, 2 * 3 + 3 - 8 = 1
  // columns. SAME_UPPER puts the smaller half (0) first, SAME_LOWER the larger (1).
  check_conv_transpose({.xs = {1, 2, 3, 4}, .ws = {2, 3, 3, 3}, .s = {2, 2}, .bias = true,
                        .attrs = {{"auto_pad", a_string("SAME_UPPER")}, {"strides", a_ints({2, 2})}}, .ys = {1, 3, 6, 8}},
                       rng_, RUN_CONV_TRANSPOSE);
  check_conv_transpose({.xs = {1, 2, 3, 4}, .ws = {2, 3, 3, 3}, .s = {2, 2}, .pb = {1, 1},
                        .attrs = {{"auto_pad", a_string("SAME_LOWER")}, {"strides", a_ints({2, 2})}}, .ys = {1, 3, 6, 8}},
                       rng_, RUN_CONV_TRANSPOSE);
  // VALID: pads ignored, the full size.
  check_conv_transpose({.xs = {1, 2, 3, 4}, .ws = {2, 3, 3, 3}, .s = {2, 2},
                        .attrs = {{"auto_pad", a_string("VALID")}, {"strides", a_ints({2, 2})}, {"pads", a_ints({1, 1, 1, 1})}},
                        .ys = {1, 3, 7, 9}},
                       rng_, RUN_CONV_TRANSPOSE);
}
TEST_P(OpTest, ConvTranspose_Float64) {
  ConvTransposeCase c{.xs = {2, 4, 3, 3},
                      .ws = {4, 2, 3, 3},
                      .group = 2,
                      .s = {2, 1},
                      .pb = {1, 0},
                      .attrs = {{"group", a_int(2)}, {"strides", a_ints({2, 1})}, {"pads", a_ints({1, 0, 1, 0})}},
                      .ys = {2, 4, 5, 5}};
  auto x = rand_f64(numel_of(c.xs));
  auto w = rand_f64(numel_of(c.ws));
  auto b = rand_f64(4);
  Tensor out = run1("ConvTranspose", {make(c.xs, x), make(c.ws, w), make<double>({4}, b)}, c.attrs);
  expect_near(out, DType::kFloat64, c.ys, conv_transpose_ref(c, x, w, b), 1e-12);
}
TEST_P(OpTest, ConvTranspose_ImageIndependentOfBatch_Bitwise) {
  // Image 2 of a batch of 4 is bit-identical to the same image alone (one product per image and
  // group on the CPU; on CUDA a strided batch, the same within tolerance).
  const Shape xs = {4, 6, 5, 5}, ws = {6, 4, 3, 3};
  auto x = rand_f32(numel_of(xs));
  auto w = rand_f32(numel_of(ws));
  auto b = rand_f32(8);
  const int64_t per = 6 * 5 * 5, out_per = 8 * 11 * 11;
  std::vector<float> x2(x.begin() + 2 * per, x.begin() + 3 * per);
  Attrs at = {{"strides", a_ints({2, 2})}, {"group", a_int(2)}};
  Tensor all = run1("ConvTranspose", {make(xs, x), make(ws, w), make<float>({8}, b)}, at);
  Tensor one = run1("ConvTranspose", {make<float>({1, 6, 5, 5}, x2), make(ws, w), make<float>({8}, b)}, at);
  ASSERT_EQ(all.shape(), (Shape{4, 8, 11, 11}));
  ASSERT_EQ(one.shape(), (Shape{1, 8, 11, 11}));
  if (products_bitwise_across_batches()) {
    EXPECT_EQ(std::memcmp(all.data<float>() + 2 * out_per, one.data<float>(), out_per * sizeof(float)), 0);
  } else {
    expect_elements_near(one.data<float>(), all.data<float>() + 2 * out_per, out_per, kTolReduce,
                         "image 2 alone against the batch of 4");
  }
}
TEST_P(OpTest, ConvTranspose_Errors) {
  auto x = make<float>({1, 2, 3, 3}, rand_f32(18));
  auto w = make<float>({2, 2, 3, 3}, rand_f32(36));
  expect_error(StatusCode::kUnimplemented, "together with pads", "ConvTranspose", {x, w},
               {{"output_shape", a_ints({6, 6})}, {"pads", a_ints({1, 1, 1, 1})}});
  // Full size 5 at stride 1: an output of 6 is a stride past it (ONNX Runtime refuses it too).
  expect_error(StatusCode::kInvalidArgument, "asks for 6 along spatial axis 0, a stride (1) or more past the last value",
               "ConvTranspose", {x, w}, {{"output_shape", a_ints({6, 5})}});
  // SAME at stride 4 asks for 12 of a full size of 11: ONNX Runtime gives 11, the spec 12.
  expect_error(StatusCode::kUnimplemented, "auto_pad SAME_LOWER with an output of 12 along spatial axis 0", "ConvTranspose",
               {x, w}, {{"auto_pad", a_string("SAME_LOWER")}, {"strides", a_ints({4, 4})}});
  expect_error(StatusCode::kInvalidArgument, "output_padding 2 along spatial axis 0 must be at least 0 and less than the stride (2)",
               "ConvTranspose", {x, w}, {{"output_padding", a_ints({2, 0})}, {"strides", a_ints({2, 2})}});
  expect_error(StatusCode::kInvalidArgument, "does not fit group", "ConvTranspose",
               {make<float>({1, 3, 3, 3}, rand_f32(27)), w});
  expect_error(StatusCode::kInvalidArgument, "does not fit group", "ConvTranspose", {x, w}, {{"group", a_int(4)}});
  expect_error(StatusCode::kInvalidArgument, "B [3] must be 1-D with 2 values", "ConvTranspose",
               {x, w, make<float>({3}, rand_f32(3))});
  expect_error(StatusCode::kInvalidArgument, "output_shape [1, 6, 6] must give the 2 spatial dimensions", "ConvTranspose",
               {x, w}, {{"output_shape", a_ints({1, 6, 6})}});
  expect_error(StatusCode::kInvalidArgument, "leave no output", "ConvTranspose", {x, w}, {{"pads", a_ints({3, 0, 2, 0})}});
  expect_error(StatusCode::kInvalidArgument, "output_padding -1 along spatial axis 0 must be at least 0", "ConvTranspose", {x, w},
               {{"output_padding", a_ints({-1, 0})}});
  expect_error(StatusCode::kInvalidArgument, "kernel_shape [2, 2] does not match W", "ConvTranspose", {x, w},
               {{"kernel_shape", a_ints({2, 2})}});
  expect_error(StatusCode::kUnimplemented, "runs on 1-D and 2-D spatial input only", "ConvTranspose",
               {make<float>({1, 2, 2, 2, 2}, rand_f32(16)), make<float>({2, 2, 2, 2, 2}, rand_f32(32))});
}

// ---------------------------------------------------------------------------------------------
// MaxPool / AveragePool / GlobalAveragePool

struct PoolCase {
  Shape xs;
  std::array<int64_t, 2> k, s{1, 1}, d{1, 1};
  std::array<int64_t, 4> pads{0, 0, 0, 0};  // effective (top, left, bottom, right)
  Attrs attrs = {};
  Shape ys = {};
  bool include_pad = false;
};

// Max or mean over each window's positions inside the input; with include_pad the mean divides
// by the window's positions inside the padded input.
template <typename T>
std::vector<double> pool_ref(const PoolCase& c, const std::vector<T>& x, bool is_max) {
  const int64_t planes = c.xs[0] * c.xs[1], h = c.xs[2], w = c.xs[3], oh = c.ys[2], ow = c.ys[3];
  std::vector<double> y(static_cast<std::size_t>(numel_of(c.ys)));
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        double mx = -std::numeric_limits<double>::infinity(), sum = 0;
        int64_t count = 0, padded = 0;
        for (int64_t i = 0; i < c.k[0]; ++i)
          for (int64_t j = 0; j < c.k[1]; ++j) {
            const int64_t iy = oy * c.s[0] - c.pads[0] + i * c.d[0], ix = ox * c.s[1] - c.pads[1] + j * c.d[1];
            // count_include_pad's divisor: the taps inside the padded input (a ceil_mode window's
            // taps past the end pad are not counted, as in PyTorch, ONNX Runtime 1.32 and onnx 1.23).
            if (iy < h + c.pads[2] && ix < w + c.pads[3]) ++padded;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            const double v = static_cast<double>(x[(p * h + iy) * w + ix]);
            mx = std::max(mx, v);
            sum += v;
            ++count;
          }
        y[(p * oh + oy) * ow + ox] = is_max ? mx : sum / double(c.include_pad ? padded : count);
      }
  return y;
}

void check_pool(const std::string& op, PoolCase c, std::mt19937& rng,
                const std::function<Tensor(std::vector<Tensor>, Attrs)>& run) {
  SCOPED_TRACE(op + " X " + shape_to_string(c.xs));
  std::uniform_real_distribution<float> u(-3, 3);
  std::vector<float> x(static_cast<std::size_t>(numel_of(c.xs)));
  for (auto& v : x) v = u(rng);
  c.attrs["kernel_shape"] = a_ints({c.k[0], c.k[1]});
  Tensor out = run({make(c.xs, x)}, c.attrs);
  expect_near(out, DType::kFloat32, c.ys, pool_ref(c, x, op == "MaxPool"), op == "MaxPool" ? kExact : kTolReduce);
}

#define RUN_MAXPOOL [&](std::vector<Tensor> in, Attrs at) { return run1("MaxPool", std::move(in), std::move(at)); }
#define RUN_AVGPOOL [&](std::vector<Tensor> in, Attrs at) { return run1("AveragePool", std::move(in), std::move(at)); }

TEST_P(OpTest, MaxPool_2x2_Stride2) {
  check_pool("MaxPool",
             {.xs = {2, 3, 8, 6}, .k = {2, 2}, .s = {2, 2}, .attrs = {{"strides", a_ints({2, 2})}}, .ys = {2, 3, 4, 3}},
             rng_, RUN_MAXPOOL);
}
TEST_P(OpTest, MaxPool_3x3_Stride2_Pads1) {
  // ResNet's stem: (9 + 2 - 3) / 2 + 1 = 5.
  check_pool("MaxPool",
             {.xs = {2, 3, 9, 9},
              .k = {3, 3},
              .s = {2, 2},
              .pads = {1, 1, 1, 1},
              .attrs = {{"strides", a_ints({2, 2})}, {"pads", a_ints({1, 1, 1, 1})}},
              .ys = {2, 3, 5, 5}},
             rng_, RUN_MAXPOOL);
}
TEST_P(OpTest, MaxPool_AsymmetricPads_Stride1) {
  check_pool("MaxPool",
             {.xs = {1, 2, 5, 6},
              .k = {2, 3},
              .pads = {0, 1, 1, 2},
              .attrs = {{"pads", a_ints({0, 1, 1, 2})}},
              .ys = {1, 2, 5, 7}},
             rng_, RUN_MAXPOOL);
}
TEST_P(OpTest, MaxPool_CeilMode) {
  // (6 - 3) / 2 = 1.5: floor gives 2 outputs, ceil 3 (the last window hangs over the edge).
  check_pool("MaxPool",
             {.xs = {1, 2, 6, 6}, .k = {3, 3}, .s = {2, 2}, .attrs = {{"strides", a_ints({2, 2})}}, .ys = {1, 2, 2, 2}},
             rng_, RUN_MAXPOOL);
  check_pool("MaxPool",
             {.xs = {1, 2, 6, 6},
              .k = {3, 3},
              .s = {2, 2},
              .attrs = {{"strides", a_ints({2, 2})}, {"ceil_mode", a_int(1)}},
              .ys = {1, 2, 3, 3}},
             rng_, RUN_MAXPOOL);
}
TEST_P(OpTest, MaxPool_CeilMode_DropsWindowStartingInPadding) {
  // 5 + 1 + 1 - 2 = 5, / 2 = 2.5 -> ceil 3, + 1 = 4; but the 4th window starts at 3 * 2 - 1 = 5,
  // inside the end padding, so it is dropped (ONNX shape inference, PyTorch): 3.
  check_pool("MaxPool",
             {.xs = {1, 1, 5, 5},
              .k = {2, 2},
              .s = {2, 2},
              .pads = {1, 1, 1, 1},
              .attrs = {{"strides", a_ints({2, 2})}, {"pads", a_ints({1, 1, 1, 1})}, {"ceil_mode", a_int(1)}},
              .ys = {1, 1, 3, 3}},
             rng_, RUN_MAXPOOL);
}
TEST_P(OpTest, MaxPool_Dilation2) {
  check_pool("MaxPool",
             {.xs = {1, 2, 7, 7},
              .k = {2, 2},
              .d = {2, 2},
              .pads = {1, 1, 1, 1},
              .attrs = {{"dilations", a_ints({2, 2})}, {"pads", a_ints({1, 1, 1, 1})}},
              .ys = {1, 2, 7, 7}},
             rng_, RUN_MAXPOOL);
}
TEST_P(OpTest, MaxPool_AutoPadSame) {
  // ceil(8 / 2) = 4; total pad (4 - 1) * 2 + 3 - 8 = 1: after for SAME_UPPER, before for SAME_LOWER.
  check_pool("MaxPool",
             {.xs = {1, 2, 8, 8},
              .k = {3, 3},
              .s = {2, 2},
              .pads = {0, 0, 1, 1},
              .attrs = {{"strides", a_ints({2, 2})}, {"auto_pad", a_string("SAME_UPPER")}},
              .ys = {1, 2, 4, 4}},
             rng_, RUN_MAXPOOL);
  check_pool("MaxPool",
             {.xs = {1, 2, 8, 8},
              .k = {3, 3},
              .s = {2, 2},
              .pads = {1, 1, 0, 0},
              .attrs = {{"strides", a_ints({2, 2})}, {"auto_pad", a_string("SAME_LOWER")}},
              .ys = {1, 2, 4, 4}},
             rng_, RUN_MAXPOOL);
  check_pool("MaxPool",
             {.xs = {1, 2, 8, 7},
              .k = {3, 3},
              .s = {2, 2},
              .attrs = {{"strides", a_ints({2, 2})}, {"auto_pad", a_string("VALID")}},
              .ys = {1, 2, 3, 3}},
             rng_, RUN_MAXPOOL);
}
TEST_P(OpTest, MaxPool_Float64) {
  PoolCase c{.xs = {2, 2, 5, 5}, .k = {3, 3}, .s = {2, 2}, .pads = {1, 1, 1, 1}, .ys = {2, 2, 3, 3}};
  auto x = rand_f64(numel_of(c.xs));
  Tensor out = run1("MaxPool", {make(c.xs, x)},
                    {{"kernel_shape", a_ints({3, 3})}, {"strides", a_ints({2, 2})}, {"pads", a_ints({1, 1, 1, 1})}});
  expect_near(out, DType::kFloat64, c.ys, pool_ref(c, x, true), kExact);
}
TEST_P(OpTest, MaxPool_NaNPropagates) {
  // A window holding a NaN gives NaN (a missing value never becomes a confident maximum).
  auto x = rand_f32(16);
  x[0] = NAN;
  Tensor out =
      run1("MaxPool", {make<float>({1, 1, 4, 4}, x)}, {{"kernel_shape", a_ints({2, 2})}, {"strides", a_ints({2, 2})}});
  ASSERT_EQ(out.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(std::isnan(out.data<float>()[0]));
  for (int i = 1; i < 4; ++i) EXPECT_FALSE(std::isnan(out.data<float>()[i]));
}
TEST_P(OpTest, MaxPool_IndicesOutput_Error) {
  // A node asking for the second output (Indices) is refused, naming it.
  Graph g;
  g.source = "test_ops";
  g.ir_version = 8;
  g.opsets[""] = 17;
  Node n;
  n.name = "test_MaxPool";
  n.op_type = "MaxPool";
  n.opset = 17;
  n.attrs = {{"kernel_shape", a_ints({2, 2})}};
  n.inputs = {"in0"};
  n.outputs = {"out", "indices"};
  ValueInfo vi;
  vi.name = "in0";
  vi.dtype = DType::kFloat32;
  vi.dims = {1, 1, 4, 4};
  vi.dim_params.assign(4, "");
  g.inputs.push_back(vi);
  ValueInfo o1, o2;
  o1.name = "out";
  o2.name = "indices";
  g.outputs = {o1, o2};
  g.nodes.push_back(std::move(n));
  auto plan = plan_build(g);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  std::vector<Tensor> outs;
  Status st = backend_->run(*plan, {make<float>({1, 1, 4, 4}, rand_f32(16))}, &outs);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
  EXPECT_NE(st.message().find("node 'test_MaxPool'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("Indices"), std::string::npos) << st.message();
}
TEST_P(OpTest, MaxPool_Errors) {
  auto x = make<float>({1, 2, 5, 5}, rand_f32(50));
  expect_error(StatusCode::kInvalidArgument, "kernel_shape", "MaxPool", {x});
  expect_error(StatusCode::kInvalidArgument, "kernel_shape", "MaxPool", {x}, {{"kernel_shape", a_ints({2})}});
  expect_error(StatusCode::kUnimplemented, "3-D input [1, 2, 5] runs as 1-D only where", "MaxPool",
               {make<float>({1, 2, 5}, rand_f32(10))}, {{"kernel_shape", a_ints({2})}});
  expect_error(StatusCode::kUnimplemented, "runs on 1-D and 2-D spatial input only", "MaxPool",
               {make<float>({1, 2, 2, 2, 2}, rand_f32(16))}, {{"kernel_shape", a_ints({2, 2, 2})}});
  expect_error(StatusCode::kInvalidArgument, "auto_pad 'same'", "MaxPool", {x},
               {{"kernel_shape", a_ints({2, 2})}, {"auto_pad", a_string("same")}});
  expect_error(StatusCode::kInvalidArgument, "dilations", "MaxPool", {x},
               {{"kernel_shape", a_ints({2, 2})}, {"dilations", a_ints({1, 0})}});
  expect_error(StatusCode::kUnimplemented, "int64", "MaxPool", {make<int64_t>({1, 1, 2, 2}, {1, 2, 3, 4})},
               {{"kernel_shape", a_ints({2, 2})}});
}

TEST_P(OpTest, AveragePool_2x2_Stride2) {
  check_pool("AveragePool",
             {.xs = {2, 3, 6, 8}, .k = {2, 2}, .s = {2, 2}, .attrs = {{"strides", a_ints({2, 2})}}, .ys = {2, 3, 3, 4}},
             rng_, RUN_AVGPOOL);
}
TEST_P(OpTest, AveragePool_Pads_ExcludePad) {
  // count_include_pad = 0 (default): border windows divide by their positions inside the input.
  check_pool("AveragePool",
             {.xs = {1, 2, 5, 6},
              .k = {3, 3},
              .pads = {1, 1, 1, 1},
              .attrs = {{"pads", a_ints({1, 1, 1, 1})}},
              .ys = {1, 2, 5, 6}},
             rng_, RUN_AVGPOOL);
}
TEST_P(OpTest, AveragePool_CountIncludePad) {
  check_pool("AveragePool",
             {.xs = {1, 2, 5, 6},
              .k = {3, 3},
              .s = {2, 2},
              .pads = {1, 0, 1, 2},
              .attrs = {{"pads", a_ints({1, 0, 1, 2})}, {"strides", a_ints({2, 2})}, {"count_include_pad", a_int(1)}},
              .ys = {1, 2, 3, 3},
              .include_pad = true},
             rng_, RUN_AVGPOOL);
}
TEST_P(OpTest, AveragePool_CeilMode) {
  // (6 + 2 - 3) / 2 = 2.5 -> 4 windows; the last one reaches past the end padding. With
  // count_include_pad it divides by the taps inside the padded input: 6 on the last row and
  // column, 4 in their corner (PyTorch's rule, ONNX Runtime 1.32's and onnx 1.23's; ORT 1.19 divided by 9).
  check_pool("AveragePool",
             {.xs = {1, 2, 6, 6},
              .k = {3, 3},
              .s = {2, 2},
              .pads = {1, 1, 1, 1},
              .attrs = {{"pads", a_ints({1, 1, 1, 1})}, {"strides", a_ints({2, 2})}, {"ceil_mode", a_int(1)}},
              .ys = {1, 2, 4, 4}},
             rng_, RUN_AVGPOOL);
  check_pool("AveragePool",
             {.xs = {1, 2, 6, 6},
              .k = {3, 3},
              .s = {2, 2},
              .pads = {1, 1, 1, 1},
              .attrs = {{"pads", a_ints({1, 1, 1, 1})},
                        {"strides", a_ints({2, 2})},
                        {"ceil_mode", a_int(1)},
                        {"count_include_pad", a_int(1)}},
              .ys = {1, 2, 4, 4},
              .include_pad = true},
             rng_, RUN_AVGPOOL);
  check_pool("AveragePool",
             {.xs = {1, 1, 6, 6},
              .k = {3, 3},
              .s = {2, 2},
              .attrs = {{"strides", a_ints({2, 2})}, {"ceil_mode", a_int(1)}, {"count_include_pad", a_int(1)}},
              .ys = {1, 1, 3, 3},
              .include_pad = true},
             rng_, RUN_AVGPOOL);
}
TEST_P(OpTest, AveragePool_Float64) {
  PoolCase c{.xs = {2, 2, 5, 5}, .k = {2, 2}, .pads = {1, 1, 0, 0}, .ys = {2, 2, 5, 5}};
  auto x = rand_f64(numel_of(c.xs));
  Tensor out = run1("AveragePool", {make(c.xs, x)}, {{"kernel_shape", a_ints({2, 2})}, {"pads", a_ints({1, 1, 0, 0})}});
  expect_near(out, DType::kFloat64, c.ys, pool_ref(c, x, false), 1e-12);
}
TEST_P(OpTest, AveragePool_Errors) {
  expect_error(StatusCode::kInvalidArgument, "kernel_shape", "AveragePool", {make<float>({1, 2, 5, 5}, rand_f32(50))});
  expect_error(StatusCode::kInvalidArgument, "pads", "AveragePool", {make<float>({1, 2, 5, 5}, rand_f32(50))},
               {{"kernel_shape", a_ints({2, 2})}, {"pads", a_ints({-1, 0, 0, 0})}});
}

TEST_P(OpTest, GlobalAveragePool_4D) {
  auto x = rand_f32(2 * 3 * 5 * 7, -2, 2);
  Tensor out = run1("GlobalAveragePool", {make<float>({2, 3, 5, 7}, x)});
  std::vector<double> ref(6, 0.0);
  for (int64_t p = 0; p < 6; ++p) {
    for (int64_t q = 0; q < 35; ++q) ref[p] += x[p * 35 + q];
    ref[p] /= 35;
  }
  expect_near(out, DType::kFloat32, {2, 3, 1, 1}, ref, kTolReduce);
}
TEST_P(OpTest, GlobalAveragePool_3D_Float64) {
  auto x = rand_f64(2 * 4 * 9);
  Tensor out = run1("GlobalAveragePool", {make<double>({2, 4, 9}, x)});
  std::vector<double> ref(8, 0.0);
  for (int64_t p = 0; p < 8; ++p) {
    for (int64_t q = 0; q < 9; ++q) ref[p] += x[p * 9 + q];
    ref[p] /= 9;
  }
  expect_near(out, DType::kFloat64, {2, 4, 1}, ref, 1e-12);
}
TEST_P(OpTest, GlobalMaxPool_4D_NaN_Float64) {
  // The largest value of each plane; a plane holding a NaN gives NaN, as ReduceMax.
  auto x = rand_f32(2 * 3 * 5 * 7, -2, 2);
  x[35 + 11] = NAN;  // plane 1
  Tensor out = run1("GlobalMaxPool", {make<float>({2, 3, 5, 7}, x)});
  ASSERT_EQ(out.shape(), (Shape{2, 3, 1, 1}));
  for (int64_t p = 0; p < 6; ++p) {
    if (p == 1) {
      EXPECT_TRUE(std::isnan(out.data<float>()[p]));
      continue;
    }
    EXPECT_EQ(out.data<float>()[p], *std::max_element(x.begin() + p * 35, x.begin() + (p + 1) * 35)) << "plane " << p;
  }
  auto xd = rand_f64(2 * 4 * 9);
  Tensor d = run1("GlobalMaxPool", {make<double>({2, 4, 9}, xd)});
  std::vector<double> ref(8);
  for (int64_t p = 0; p < 8; ++p) ref[p] = *std::max_element(xd.begin() + p * 9, xd.begin() + (p + 1) * 9);
  expect_near(d, DType::kFloat64, {2, 4, 1}, ref, 0);
  expect_error(StatusCode::kInvalidArgument, "at least 3 dimensions", "GlobalMaxPool", {make<float>({2, 3}, rand_f32(6))});
}
TEST_P(OpTest, GlobalAveragePool_Rank2_Error) {
  expect_error(StatusCode::kInvalidArgument, "at least 3 dimensions", "GlobalAveragePool",
               {make<float>({2, 3}, rand_f32(6))});
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization

template <typename T>
std::vector<double> batchnorm_ref(const std::vector<T>& x, const Shape& xs, const std::vector<T>& sc,
                                  const std::vector<T>& b, const std::vector<T>& mean, const std::vector<T>& var,
                                  double eps) {
  const int64_t n = xs[0], c = xs[1], inner = numel_of(xs) / (n * c);
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t q = 0; q < inner; ++q) {
        const int64_t at = (i * c + ci) * inner + q;
        y[at] = (double(x[at]) - double(mean[ci])) / std::sqrt(double(var[ci]) + eps) * double(sc[ci]) + double(b[ci]);
      }
  return y;
}

TEST_P(OpTest, BatchNormalization_PerChannel_4D) {
  const Shape xs = {3, 4, 5, 6};
  auto x = rand_f32(numel_of(xs), -3, 3);
  auto sc = rand_f32(4, 0.5f, 2), b = rand_f32(4), mean = rand_f32(4), var = rand_f32(4, 0.1f, 2);
  Tensor out = run1("BatchNormalization", {make(xs, x), make<float>({4}, sc), make<float>({4}, b),
                                           make<float>({4}, mean), make<float>({4}, var)});
  expect_near(out, DType::kFloat32, xs, batchnorm_ref(x, xs, sc, b, mean, var, 1e-5), kTolReduce);
}
TEST_P(OpTest, BatchNormalization_Rank2_Epsilon) {
  const Shape xs = {7, 3};
  auto x = rand_f32(21, -3, 3);
  auto sc = rand_f32(3), b = rand_f32(3), mean = rand_f32(3), var = rand_f32(3, 0.0f, 0.01f);
  Tensor out =
      run1("BatchNormalization",
           {make(xs, x), make<float>({3}, sc), make<float>({3}, b), make<float>({3}, mean), make<float>({3}, var)},
           {{"epsilon", a_float(0.01f)}});
  expect_near(out, DType::kFloat32, xs, batchnorm_ref(x, xs, sc, b, mean, var, double{0.01f}), kTolReduce);
}
TEST_P(OpTest, BatchNormalization_Float64) {
  const Shape xs = {2, 3, 4};
  auto x = rand_f64(24, -3, 3);
  auto sc = rand_f64(3), b = rand_f64(3), mean = rand_f64(3), var = rand_f64(3, 0.1, 2);
  Tensor out = run1("BatchNormalization", {make(xs, x), make<double>({3}, sc), make<double>({3}, b),
                                           make<double>({3}, mean), make<double>({3}, var)});
  expect_near(out, DType::kFloat64, xs, batchnorm_ref(x, xs, sc, b, mean, var, double{1e-5f}), 1e-12);
}
TEST_P(OpTest, BatchNormalization_Errors) {
  auto p3 = [&] { return make<float>({3}, rand_f32(3, 0.1f, 1)); };
  auto x = make<float>({2, 3, 4}, rand_f32(24));
  expect_error(StatusCode::kUnimplemented, "training_mode", "BatchNormalization", {x, p3(), p3(), p3(), p3()},
               {{"training_mode", a_int(1)}}, 15);
  expect_error(StatusCode::kInvalidArgument, "input_var", "BatchNormalization",
               {x, p3(), p3(), p3(), make<float>({4}, rand_f32(4))});
  expect_error(StatusCode::kInvalidArgument, "at least 2 dimensions", "BatchNormalization",
               {make<float>({3}, rand_f32(3)), p3(), p3(), p3(), p3()});
}

// ---------------------------------------------------------------------------------------------
// InstanceNormalization

// GroupNormalization: mean and biased variance over each (n, group)'s channels and spatial
// elements, two passes in double; scale and bias per channel (per_channel) or per group.
std::vector<double> groupnorm_ref(const std::vector<double>& x, const Shape& xs, int64_t groups, const std::vector<double>& sc,
                                  const std::vector<double>& b, double eps, bool per_channel) {
  const int64_t n = xs[0], c = xs[1], spatial = numel_of(xs) / (n * c), cg = c / groups, inner = cg * spatial;
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t at = (i * groups + g) * inner;
      double mean = 0, var = 0;
      for (int64_t q = 0; q < inner; ++q) mean += x[at + q];
      mean /= static_cast<double>(inner);
      for (int64_t q = 0; q < inner; ++q) var += (x[at + q] - mean) * (x[at + q] - mean);
      var /= static_cast<double>(inner);
      for (int64_t q = 0; q < inner; ++q) {
        const int64_t ch = g * cg + q / spatial, k = per_channel ? ch : g;
        y[at + q] = (x[at + q] - mean) / std::sqrt(var + eps) * sc[k] + b[k];
      }
    }
  return y;
}

// InstanceNormalization: GroupNormalization with one group per channel.
std::vector<double> instnorm_ref(const std::vector<double>& x, const Shape& xs, const std::vector<double>& sc,
                                 const std::vector<double>& b, double eps) {
  return groupnorm_ref(x, xs, xs[1], sc, b, eps, true);
}

TEST_P(OpTest, InstanceNormalization_Rank4) {
  const Shape xs = {2, 3, 4, 5};
  auto x = rand_f32(numel_of(xs), -3, 3), sc = rand_f32(3, 0.5f, 2), b = rand_f32(3);
  Tensor out = run1("InstanceNormalization", {make(xs, x), make<float>({3}, sc), make<float>({3}, b)});
  expect_near(out, DType::kFloat32, xs, instnorm_ref(as_doubles(x), xs, as_doubles(sc), as_doubles(b), double{1e-5f}),
              kTolReduce);
}
// 64 x 64 planes: more than 1024 spatial elements, the CUDA backend's block-per-row kernel.
TEST_P(OpTest, InstanceNormalization_LargePlanes_BlockPerRow) {
  const Shape xs = {2, 3, 64, 64};
  auto x = rand_f32(numel_of(xs), -3, 3), sc = rand_f32(3, 0.5f, 2), b = rand_f32(3);
  Tensor out = run1("InstanceNormalization", {make(xs, x), make<float>({3}, sc), make<float>({3}, b)});
  expect_near(out, DType::kFloat32, xs, instnorm_ref(as_doubles(x), xs, as_doubles(sc), as_doubles(b), double{1e-5f}),
              kTolReduce);
}
TEST_P(OpTest, InstanceNormalization_Rank3_Rank5_Epsilon_Opset6) {
  // wav2vec2's GroupNorm(512, 512) on [N, C, T]; a 3-D UNet's [N, C, D, H, W]; epsilon read; opset 6.
  for (const Shape& xs : {Shape{3, 4, 37}, Shape{2, 3, 2, 3, 4}}) {
    SCOPED_TRACE(shape_to_string(xs));
    const int64_t c = xs[1];
    auto x = rand_f32(numel_of(xs), -3, 3), sc = rand_f32(c, -2, 2), b = rand_f32(c);
    Tensor out = run1("InstanceNormalization", {make(xs, x), make<float>({c}, sc), make<float>({c}, b)},
                      {{"epsilon", a_float(1e-2f)}}, 6);
    expect_near(out, DType::kFloat32, xs, instnorm_ref(as_doubles(x), xs, as_doubles(sc), as_doubles(b), double{1e-2f}),
                kTolReduce);
  }
}
TEST_P(OpTest, InstanceNormalization_LargeCommonOffset) {
  // Mean 1000, std 1: E[x^2] - E[x]^2 in float32 loses every digit of the variance here.
  const Shape xs = {2, 4, 16, 16};
  auto x = rand_f32(numel_of(xs), 1000 - 1.7320508f, 1000 + 1.7320508f), sc = rand_f32(4, 0.5f, 2), b = rand_f32(4);
  Tensor out = run1("InstanceNormalization", {make(xs, x), make<float>({4}, sc), make<float>({4}, b)});
  expect_near(out, DType::kFloat32, xs, instnorm_ref(as_doubles(x), xs, as_doubles(sc), as_doubles(b), double{1e-5f}),
              kTolReduce);
}
TEST_P(OpTest, InstanceNormalization_SingleSpatialElement_GivesB) {
  // One element per (n, c): x - mean is exactly 0, so Y = B whatever scale and epsilon.
  const Shape xs = {2, 3, 1, 1};
  auto x = rand_f32(6, -3, 3), sc = rand_f32(3, 0.5f, 2), b = rand_f32(3);
  std::vector<double> ref;
  for (int i = 0; i < 2; ++i)
    for (float v : b) ref.push_back(v);
  expect_near(run1("InstanceNormalization", {make(xs, x), make<float>({3}, sc), make<float>({3}, b)}), DType::kFloat32,
              xs, ref, kExact);
}
TEST_P(OpTest, GroupNormalization_Opset21PerChannel_Opset18PerGroup) {
  // Stable Diffusion's GroupNorm(32, C) shapes in small: 6 channels in 3 groups over 4 x 5 planes,
  // 8 channels in 2 groups over [N, C, T], 4 channels in 4 groups (InstanceNormalization), 1 group
  // (LayerNormalization over C, H, W), a 2-D [N, C] X, and a large plane (the CUDA block-per-row kernel), a 5-D X.
  struct Case {
    Shape xs;
    int64_t groups;
  };
  for (const Case& c : {Case{{2, 6, 4, 5}, 3}, Case{{3, 8, 37}, 2}, Case{{2, 4, 3, 3}, 4}, Case{{2, 4, 3, 3}, 1},
                        Case{{5, 6}, 3}, Case{{1, 4, 32, 32}, 2}, Case{{2, 4, 2, 3, 3}, 2}}) {
    SCOPED_TRACE(shape_to_string(c.xs) + " groups " + std::to_string(c.groups));
    const int64_t ch = c.xs[1];
    auto x = rand_f32(numel_of(c.xs), -3, 3);
    for (const int opset : {18, 21}) {
      const int64_t k = opset >= 21 ? ch : c.groups;
      auto sc = rand_f32(k, -2, 2), b = rand_f32(k);
      Tensor out = run1("GroupNormalization", {make(c.xs, x), make<float>({k}, sc), make<float>({k}, b)},
                        {{"num_groups", a_int(c.groups)}, {"epsilon", a_float(1e-3f)}}, opset);
      expect_near(out, DType::kFloat32, c.xs,
                  groupnorm_ref(as_doubles(x), c.xs, c.groups, as_doubles(sc), as_doubles(b), double{1e-3f}, opset >= 21),
                  kTolReduce);
    }
  }
  // float64, default epsilon.
  const Shape xs = {2, 4, 3, 2};
  auto x = rand_f64(numel_of(xs), -3, 3), sc = rand_f64(4), b = rand_f64(4);
  expect_near(run1("GroupNormalization", {make(xs, x), make<double>({4}, sc), make<double>({4}, b)}, {{"num_groups", a_int(2)}}, 21),
              DType::kFloat64, xs, groupnorm_ref(x, xs, 2, sc, b, double{1e-5f}, true), 1e-12);
}
TEST_P(OpTest, GroupNormalization_Errors) {
  auto x = make<float>({2, 6, 3}, rand_f32(36));
  auto v6 = make<float>({6}, rand_f32(6)), v3 = make<float>({3}, rand_f32(3));
  expect_error(StatusCode::kInvalidArgument, "num_groups 4 must be positive and divide the 6 channels", "GroupNormalization",
               {x, v6, v6}, {{"num_groups", a_int(4)}}, 21);
  expect_error(StatusCode::kInvalidArgument, "the num_groups attribute is required", "GroupNormalization", {x, v6, v6}, {}, 21);
  expect_error(StatusCode::kInvalidArgument, "scale [3] must be 1-D with 6 values (one per channel, from opset 21)",
               "GroupNormalization", {x, v3, v3}, {{"num_groups", a_int(3)}}, 21);
  expect_error(StatusCode::kInvalidArgument, "bias [6] must be 1-D with 3 values (one per group, opset 18)",
               "GroupNormalization", {x, v3, v6}, {{"num_groups", a_int(3)}}, 18);
  expect_error(StatusCode::kInvalidArgument, "must have at least 2 dimensions", "GroupNormalization",
               {make<float>({6}, rand_f32(6)), v3, v3}, {{"num_groups", a_int(3)}}, 18);
}
TEST_P(OpTest, InstanceNormalization_Float64) {
  const Shape xs = {2, 5, 3, 7};
  auto x = rand_f64(numel_of(xs), -3, 3), sc = rand_f64(5), b = rand_f64(5);
  Tensor out = run1("InstanceNormalization", {make(xs, x), make<double>({5}, sc), make<double>({5}, b)},
                    {{"epsilon", a_float(1e-3f)}}, 21);
  expect_near(out, DType::kFloat64, xs, instnorm_ref(x, xs, sc, b, double{1e-3f}), 1e-12);
}
TEST_P(OpTest, InstanceNormalization_Errors) {
  auto p3 = [&] { return make<float>({3}, rand_f32(3)); };
  expect_error(StatusCode::kInvalidArgument, "at least 3 dimensions", "InstanceNormalization",
               {make<float>({2, 3}, rand_f32(6)), p3(), p3()});
  expect_error(StatusCode::kInvalidArgument, "one per channel", "InstanceNormalization",
               {make<float>({2, 3, 4}, rand_f32(24)), make<float>({4}, rand_f32(4)), p3()});
  expect_error(StatusCode::kInvalidArgument, "one per channel", "InstanceNormalization",
               {make<float>({2, 3, 4}, rand_f32(24)), p3(), make<float>({1, 3}, rand_f32(3))});
  expect_error(StatusCode::kInvalidArgument, "missing", "InstanceNormalization", {make<float>({2, 3, 4}, rand_f32(24)), p3()});
  expect_error(StatusCode::kInvalidArgument, "B is float64 but X is float32", "InstanceNormalization",
               {make<float>({2, 3, 4}, rand_f32(24)), p3(), make<double>({3}, rand_f64(3))});
  expect_error(StatusCode::kUnimplemented, "not supported", "InstanceNormalization",
               {make<int64_t>({1, 2, 2}, {1, 2, 3, 4}), make<int64_t>({2}, {1, 1}), make<int64_t>({2}, {0, 0})});
}

// ---------------------------------------------------------------------------------------------
// LRN

// The spec's formula in double: channels max(0, c - floor((size - 1) / 2)) .. min(C - 1, c +
// ceil((size - 1) / 2)), written from the spec, not from lrn_plan.
std::vector<double> lrn_ref(const std::vector<double>& x, const Shape& xs, int64_t size, double alpha, double beta,
                            double bias) {
  const int64_t n = xs[0], c = xs[1], inner = numel_of(xs) / (n * c);
  const int64_t down = static_cast<int64_t>(std::floor((size - 1) / 2.0)), up = static_cast<int64_t>(std::ceil((size - 1) / 2.0));
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t q = 0; q < inner; ++q) {
        double sq = 0;
        for (int64_t k = std::max<int64_t>(0, ci - down); k <= std::min(c - 1, ci + up); ++k) {
          sq += x[(i * c + k) * inner + q] * x[(i * c + k) * inner + q];
        }
        y[(i * c + ci) * inner + q] = x[(i * c + ci) * inner + q] / std::pow(bias + alpha / static_cast<double>(size) * sq, beta);
      }
  return y;
}

TEST_P(OpTest, LRN_AlexNetDefaults) {
  // AlexNet's and GoogLeNet's LRN: size 5, the default alpha, beta and bias; large activations so
  // the denominator is far from 1.
  const Shape xs = {2, 7, 3, 4};
  auto x = rand_f32(numel_of(xs), -40, 40);
  Tensor out = run1("LRN", {make(xs, x)}, {{"size", a_int(5)}});
  expect_near(out, DType::kFloat32, xs, lrn_ref(as_doubles(x), xs, 5, double{1e-4f}, double{0.75f}, 1.0), kTolReduce);
}
TEST_P(OpTest, LRN_EvenAndOddSizes_Attributes_Ranks) {
  // An even size has one channel more above c than below it; size 1 is each element alone; sizes
  // past C take every channel. Rank 2 (no spatial elements), 3 and 5; opsets 1 and 13.
  struct Case {
    Shape xs;
    int64_t size;
    int opset;
  };
  for (const Case& k : {Case{{2, 6, 5}, 4, 13}, Case{{1, 5, 2, 3}, 2, 1}, Case{{3, 4}, 3, 13}, Case{{2, 3, 2, 2, 2}, 1, 13},
                        Case{{1, 3, 4, 4}, 9, 13}, Case{{2, 8, 3, 3}, 6, 13}}) {
    SCOPED_TRACE(shape_to_string(k.xs) + " size " + std::to_string(k.size));
    auto x = rand_f32(numel_of(k.xs), -3, 3);
    Tensor out = run1("LRN", {make(k.xs, x)},
                      {{"size", a_int(k.size)}, {"alpha", a_float(0.3f)}, {"beta", a_float(1.5f)}, {"bias", a_float(2.0f)}},
                      k.opset);
    expect_near(out, DType::kFloat32, k.xs, lrn_ref(as_doubles(x), k.xs, k.size, double{0.3f}, 1.5, 2.0), kTolReduce);
  }
}
TEST_P(OpTest, LRN_Float64) {
  const Shape xs = {2, 5, 3, 3};
  auto x = rand_f64(numel_of(xs), -5, 5);
  Tensor out = run1("LRN", {make(xs, x)}, {{"size", a_int(3)}, {"alpha", a_float(0.5f)}}, 13);
  expect_near(out, DType::kFloat64, xs, lrn_ref(x, xs, 3, double{0.5f}, double{0.75f}, 1.0), 1e-12);
}
TEST_P(OpTest, LRN_Errors) {
  auto x4 = [&] { return make<float>({1, 3, 2, 2}, rand_f32(12)); };
  expect_error(StatusCode::kInvalidArgument, "attribute 'size' (an int) is required", "LRN", {x4()});
  expect_error(StatusCode::kInvalidArgument, "size 0 must be at least 1", "LRN", {x4()}, {{"size", a_int(0)}});
  expect_error(StatusCode::kInvalidArgument, "at least 2 dimensions", "LRN", {make<float>({3}, rand_f32(3))},
               {{"size", a_int(3)}});
  expect_error(StatusCode::kUnimplemented, "not supported", "LRN", {make<int64_t>({1, 2, 2}, {1, 2, 3, 4})},
               {{"size", a_int(3)}});
}

// ---------------------------------------------------------------------------------------------
// Pad

// Input coordinate of output coordinate o along an axis of length len padded by pb before, or
// -1 for the constant. reflect mirrors without repeating the edge, edge repeats it, wrap cycles.
int64_t pad_source(const std::string& mode, int64_t o, int64_t pb, int64_t len) {
  int64_t i = o - pb;
  if (i >= 0 && i < len) return i;
  if (mode == "constant") return -1;
  if (mode == "edge") return i < 0 ? 0 : len - 1;
  if (mode == "reflect") return i < 0 ? -i : (len - 1) - (i - (len - 1));
  // wrap
  while (i < 0) i += len;
  return i % len;
}

template <typename T>
std::vector<double> pad_ref(const std::vector<T>& x, const Shape& xs, const std::vector<int64_t>& pads,
                            const std::string& mode, double value, Shape* ys) {
  const std::size_t r = xs.size();
  ys->resize(r);
  for (std::size_t k = 0; k < r; ++k) (*ys)[k] = xs[k] + pads[k] + pads[k + r];
  std::vector<double> y(static_cast<std::size_t>(numel_of(*ys)));
  for (int64_t f = 0; f < numel_of(*ys); ++f) {
    auto idx = unravel(f, *ys);
    int64_t flat = 0;
    bool constant = false;
    for (std::size_t k = 0; k < r; ++k) {
      const int64_t i = pad_source(mode, idx[k], pads[k], xs[k]);
      if (i < 0) constant = true;
      flat = flat * xs[k] + i;
    }
    y[f] = constant ? value : static_cast<double>(x[flat]);
  }
  return y;
}

Tensor pads_tensor(std::vector<int64_t> p) { return make<int64_t>({static_cast<int64_t>(p.size())}, p); }

TEST_P(OpTest, Pad_Constant) {
  const Shape xs = {2, 3, 4};
  const std::vector<int64_t> pads = {0, 1, 2, 1, 0, 3};
  auto x = rand_f32(24);
  Shape ys;
  auto ref = pad_ref(x, xs, pads, "constant", 2.5, &ys);
  Tensor out = run1("Pad", {make(xs, x), pads_tensor(pads), scalar<float>(2.5f)});
  expect_near(out, DType::kFloat32, ys, ref, kExact);
}
TEST_P(OpTest, Pad_Constant_DefaultZero_OmittedValue) {
  const Shape xs = {1, 2, 3, 3};
  const std::vector<int64_t> pads = {0, 0, 1, 1, 0, 0, 1, 1};
  auto x = rand_f32(18);
  Shape ys;
  auto ref = pad_ref(x, xs, pads, "constant", 0.0, &ys);
  Tensor out = run1("Pad", {make(xs, x), pads_tensor(pads)});
  expect_near(out, DType::kFloat32, ys, ref, kExact);
  Tensor out2 = run1("Pad", {make(xs, x), pads_tensor(pads), Tensor()}, {{"mode", a_string("constant")}});
  expect_near(out2, DType::kFloat32, ys, ref, kExact);
}
TEST_P(OpTest, Pad_Constant_NegativePadsCrop) {
  // Negative pads remove elements: crop 1 at the start of axis 0, 2 at the end of axis 1, pad elsewhere.
  const Shape xs = {4, 5};
  const std::vector<int64_t> pads = {-1, 1, 2, -2};
  auto x = rand_f32(20);
  Shape ys;
  auto ref = pad_ref(x, xs, pads, "constant", -7.0, &ys);
  ASSERT_EQ(ys, (Shape{5, 4}));
  Tensor out = run1("Pad", {make(xs, x), pads_tensor(pads), scalar<float>(-7.0f)});
  expect_near(out, DType::kFloat32, ys, ref, kExact);
}
TEST_P(OpTest, Pad_Reflect) {
  const Shape xs = {2, 4, 5};
  const std::vector<int64_t> pads = {0, 3, 2, 0, 1, 4};
  auto x = rand_f32(40);
  Shape ys;
  auto ref = pad_ref(x, xs, pads, "reflect", 0, &ys);
  Tensor out = run1("Pad", {make(xs, x), pads_tensor(pads)}, {{"mode", a_string("reflect")}});
  expect_near(out, DType::kFloat32, ys, ref, kExact);
}
TEST_P(OpTest, Pad_Edge) {
  const Shape xs = {3, 4};
  const std::vector<int64_t> pads = {2, 0, 1, 5};
  auto x = rand_f32(12);
  Shape ys;
  auto ref = pad_ref(x, xs, pads, "edge", 0, &ys);
  Tensor out = run1("Pad", {make(xs, x), pads_tensor(pads)}, {{"mode", a_string("edge")}});
  expect_near(out, DType::kFloat32, ys, ref, kExact);
}
TEST_P(OpTest, Pad_Wrap_Opset19) {
  const Shape xs = {3, 4};
  const std::vector<int64_t> pads = {4, 1, 2, 6};
  auto x = rand_f32(12);
  Shape ys;
  auto ref = pad_ref(x, xs, pads, "wrap", 0, &ys);
  Tensor out = run1("Pad", {make(xs, x), pads_tensor(pads)}, {{"mode", a_string("wrap")}}, 19);
  expect_near(out, DType::kFloat32, ys, ref, kExact);
}
TEST_P(OpTest, Pad_Axes_Opset18) {
  // axes [-1, 1] of a rank-3 tensor: pads are [begin(-1), begin(1), end(-1), end(1)].
  const Shape xs = {2, 3, 4};
  auto x = rand_f32(24);
  Shape ys;
  auto ref = pad_ref(x, xs, {0, 1, 2, 0, 0, 3}, "constant", 1.5, &ys);
  Tensor out =
      run1("Pad", {make(xs, x), pads_tensor({2, 1, 3, 0}), scalar<float>(1.5f), make<int64_t>({2}, {-1, 1})}, {}, 18);
  expect_near(out, DType::kFloat32, ys, ref, kExact);
}
TEST_P(OpTest, Pad_Int64_And_Float64) {
  auto xi = rand_int<int64_t>(6, -1000, 1000);
  Shape ys;
  auto ref = pad_ref(xi, {2, 3}, {1, 1, 0, 2}, "constant", 9, &ys);
  Tensor out = run1("Pad", {make<int64_t>({2, 3}, xi), pads_tensor({1, 1, 0, 2}), scalar<int64_t>(9)});
  expect_near(out, DType::kInt64, ys, ref, kExact);
  auto xd = rand_f64(6);
  auto refd = pad_ref(xd, {2, 3}, {1, 2, 1, 2}, "reflect", 0, &ys);
  Tensor outd = run1("Pad", {make<double>({2, 3}, xd), pads_tensor({1, 2, 1, 2})}, {{"mode", a_string("reflect")}});
  expect_near(outd, DType::kFloat64, ys, refd, kExact);
}
TEST_P(OpTest, Pad_Opset2_Attributes) {
  auto x = rand_f32(12);
  Shape ys;
  auto ref = pad_ref(x, {3, 4}, {1, 0, 0, 2}, "constant", 0.5, &ys);
  Tensor out = run1("Pad", {make<float>({3, 4}, x)}, {{"pads", a_ints({1, 0, 0, 2})}, {"value", a_float(0.5f)}}, 10);
  expect_near(out, DType::kFloat32, ys, ref, kExact);
}
TEST_P(OpTest, Pad_Errors) {
  auto x = make<float>({3, 4}, rand_f32(12));
  expect_error(StatusCode::kInvalidArgument, "reflect padding of 3", "Pad", {x, pads_tensor({3, 0, 0, 0})},
               {{"mode", a_string("reflect")}});
  expect_error(StatusCode::kInvalidArgument, "expected 4", "Pad", {x, pads_tensor({1, 1})});
  expect_error(StatusCode::kInvalidArgument, "mode 'mirror'", "Pad", {x, pads_tensor({1, 1, 1, 1})},
               {{"mode", a_string("mirror")}});
  expect_error(StatusCode::kInvalidArgument, "below zero", "Pad", {x, pads_tensor({-2, 0, -2, 0})});
  expect_error(StatusCode::kInvalidArgument, "constant_value", "Pad",
               {x, pads_tensor({1, 1, 1, 1}), scalar<double>(1.0)});
  expect_error(StatusCode::kInvalidArgument, "repeats axis", "Pad",
               {x, pads_tensor({1, 1, 1, 1}), Tensor(), make<int64_t>({2}, {0, -2})}, {}, 18);
}

// ---------------------------------------------------------------------------------------------
// Resize

// Source coordinate of output index o (spec of Resize-13). Computed in float32 arithmetic with
// the float scale, as ONNX Runtime does: at floor / ceil boundaries float and double can differ
// (e.g. (1 + 0.5) / 0.6f - 0.5 is 2 in float and 1.99999... in double).
double resize_coord(const std::string& mode, int64_t o, float scale, int64_t len_in, int64_t len_out) {
  const float x = float(o);
  if (mode == "half_pixel") return (x + 0.5f) / scale - 0.5f;
  if (mode == "pytorch_half_pixel") return len_out > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
  if (mode == "align_corners") return len_out == 1 ? 0.0f : x * float(len_in - 1) / float(len_out - 1);
  return x / scale;  // asymmetric
}
int64_t resize_nearest_index(const std::string& nearest, double v, int64_t len_in) {
  int64_t i;
  const double fl = std::floor(v), frac = v - fl;
  if (nearest == "floor") {
    i = int64_t(fl);
  } else if (nearest == "ceil") {
    i = int64_t(std::ceil(v));
  } else if (frac == 0.5) {
    i = int64_t(nearest == "round_prefer_ceil" ? fl + 1 : fl);
  } else {
    i = int64_t(frac < 0.5 ? fl : fl + 1);
  }
  return std::min(std::max<int64_t>(i, 0), len_in - 1);
}

// Nearest or bilinear resize of [N, C, H, W] to [N, C, oh, ow]; scales (sh, sw) as the op sees them
// (given, or out / in in float when sizes are given).
std::vector<double> resize_ref(const std::vector<float>& x, const Shape& xs, int64_t oh, int64_t ow, float sh, float sw,
                               const std::string& mode, const std::string& coord, const std::string& nearest) {
  const int64_t planes = xs[0] * xs[1], h = xs[2], w = xs[3];
  std::vector<double> y(static_cast<std::size_t>(planes * oh * ow));
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        const double cy = resize_coord(coord, oy, sh, h, oh), cx = resize_coord(coord, ox, sw, w, ow);
        double v;
        if (mode == "nearest") {
          v = x[(p * h + resize_nearest_index(nearest, cy, h)) * w + resize_nearest_index(nearest, cx, w)];
        } else {
          const double yy = std::min(std::max(cy, 0.0), double(h - 1)), xx = std::min(std::max(cx, 0.0), double(w - 1));
          const int64_t y0 = int64_t(std::floor(yy)), x0 = int64_t(std::floor(xx));
          const int64_t y1 = std::min(y0 + 1, h - 1), x1 = std::min(x0 + 1, w - 1);
          const double fy = yy - double(y0), fx = xx - double(x0);
          auto at = [&](int64_t iy, int64_t ix) { return double(x[(p * h + iy) * w + ix]); };
          v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
        }
        y[(p * oh + oy) * ow + ox] = v;
      }
  return y;
}

Tensor scales_tensor(std::vector<float> s) { return make<float>({static_cast<int64_t>(s.size())}, s); }
Tensor sizes_tensor(std::vector<int64_t> s) { return make<int64_t>({static_cast<int64_t>(s.size())}, s); }

TEST_P(OpTest, Resize_Nearest_Upsample2x) {
  const Shape xs = {2, 3, 3, 4};
  auto x = rand_f32(numel_of(xs));
  Tensor out = run1("Resize", {make(xs, x), Tensor(), scales_tensor({1, 1, 2, 2})}, {{"mode", a_string("nearest")}});
  expect_near(out, DType::kFloat32, {2, 3, 6, 8},
              resize_ref(x, xs, 6, 8, 2, 2, "nearest", "half_pixel", "round_prefer_floor"), kExact);
  // Each 2x2 block repeats its input element.
  ASSERT_EQ(out.numel(), 2 * 3 * 6 * 8);
  EXPECT_EQ(out.data<float>()[0], x[0]);
  EXPECT_EQ(out.data<float>()[9], x[0]);
}
TEST_P(OpTest, Resize_Nearest_Asymmetric_Floor_Upsample3x) {
  // The old Upsample behaviour (asymmetric + floor), as many exporters write it.
  const Shape xs = {1, 2, 3, 2};
  auto x = rand_f32(numel_of(xs));
  Tensor out = run1("Resize", {make(xs, x), Tensor(), scales_tensor({1, 1, 3, 3})},
                    {{"mode", a_string("nearest")},
                     {"coordinate_transformation_mode", a_string("asymmetric")},
                     {"nearest_mode", a_string("floor")}});
  expect_near(out, DType::kFloat32, {1, 2, 9, 6}, resize_ref(x, xs, 9, 6, 3, 3, "nearest", "asymmetric", "floor"),
              kExact);
}
TEST_P(OpTest, Upsample_Opsets7And9_NearestAndLinear) {
  // The spec's examples: nearest [1, 1, 2, 3] and linear [1, 1, 2, 2] on [[1, 2], [3, 4]].
  const std::vector<float> x = {1, 2, 3, 4};
  expect_near(run1("Upsample", {make<float>({1, 1, 2, 2}, x), scales_tensor({1, 1, 2, 3})}, {{"mode", a_string("nearest")}}, 9),
              DType::kFloat32, {1, 1, 4, 6},
              {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}, kExact);
  expect_near(run1("Upsample", {make<float>({1, 1, 2, 2}, x), scales_tensor({1, 1, 2, 2})}, {{"mode", a_string("linear")}}, 9),
              DType::kFloat32, {1, 1, 4, 4}, {1, 1.5, 2, 2, 2, 2.5, 3, 3, 3, 3.5, 4, 4, 3, 3.5, 4, 4}, kExact);
  // Opset 7: scales as an attribute; non-integer scales round down (asymmetric, floor).
  const Shape xs = {1, 2, 3, 4};
  auto r = rand_f32(numel_of(xs));
  expect_near(run1("Upsample", {make(xs, r)}, {{"scales", a_floats({1, 1, 1.5f, 2.5f})}}, 7), DType::kFloat32, {1, 2, 4, 10},
              resize_ref(r, xs, 4, 10, 1.5f, 2.5f, "nearest", "asymmetric", "floor"), kExact);
  expect_near(run1("Upsample", {make(xs, r), scales_tensor({1, 1, 2, 1.5f})}, {{"mode", a_string("linear")}}, 9),
              DType::kFloat32, {1, 2, 6, 6}, resize_ref(r, xs, 6, 6, 2, 1.5f, "linear", "asymmetric", "floor"), kTolElementwise);
  expect_error(StatusCode::kInvalidArgument, "Upsample's scales must be >= 1; got 0.500000", "Upsample",
               {make(xs, r), scales_tensor({1, 1, 0.5f, 2})}, {}, 9);
  expect_error(StatusCode::kInvalidArgument, "scales has 2 values; X [1, 2, 3, 4] needs one per dimension", "Upsample",
               {make(xs, r), scales_tensor({2, 2})}, {}, 9);
  expect_error(StatusCode::kInvalidArgument, "the scales attribute is required before opset 9", "Upsample", {make(xs, r)}, {}, 7);
}
TEST_P(OpTest, Resize_Opset10_AsymmetricFloorUpCeilDown) {
  // Resize at opset 10 (scales at input 1) as ONNX Runtime computes it: asymmetric coordinates,
  // nearest rounding down when growing and up when shrinking ([1, 1, 0.6, 0.7] on 4 x 6: rows 0 and 2,
  // columns 0, 2, 3, 5, as ONNX Runtime gives them); a shrink with a growth is refused.
  std::vector<float> x(24);
  for (int i = 0; i < 24; ++i) x[static_cast<std::size_t>(i)] = static_cast<float>(i + 1);
  expect_near(run1("Resize", {make<float>({1, 1, 4, 6}, x), scales_tensor({1, 1, 0.6f, 0.7f})}, {}, 10), DType::kFloat32,
              {1, 1, 2, 4}, {1, 3, 4, 6, 13, 15, 16, 18}, kExact);
  expect_near(run1("Resize", {make<float>({1, 1, 4, 6}, x), scales_tensor({1, 1, 1.5f, 2.5f})}, {}, 10), DType::kFloat32,
              {1, 1, 6, 15}, resize_ref(x, {1, 1, 4, 6}, 6, 15, 1.5f, 2.5f, "nearest", "asymmetric", "floor"), kExact);
  expect_near(run1("Resize", {make<float>({1, 1, 4, 6}, x), scales_tensor({1, 1, 0.6f, 0.5f})}, {{"mode", a_string("linear")}}, 10),
              DType::kFloat32, {1, 1, 2, 3}, resize_ref(x, {1, 1, 4, 6}, 2, 3, 0.6f, 0.5f, "linear", "asymmetric", "floor"),
              kTolElementwise);
  expect_error(StatusCode::kUnimplemented, "shrinks one axis and grows another", "Resize",
               {make<float>({1, 1, 4, 6}, x), scales_tensor({1, 1, 0.6f, 2})}, {}, 10);
}
TEST_P(OpTest, Resize_OutputSizeFromTheFloat32Product) {
  // Output sizes as ONNX Runtime's kernels compute them: dim * scale rounded to float32, then
  // truncated. 10 * 0.7f is 6.99999988 exactly but 7.0f in float32; 3 * (5 / 3.0f) is 5.0f.
  const std::vector<float> x(100, 1.0f);
  EXPECT_EQ(run1("Resize", {make<float>({1, 1, 10, 10}, x), scales_tensor({1, 1, 0.7f, 0.7f})}, {}, 10).shape(), (Shape{1, 1, 7, 7}));
  EXPECT_EQ(run1("Resize", {make<float>({1, 1, 10, 10}, x), Tensor(), scales_tensor({1, 1, 0.7f, 2.3f})}, {}, 13).shape(),
            (Shape{1, 1, 7, 23}));
  EXPECT_EQ(run1("Upsample", {make<float>({1, 1, 3, 3}, std::vector<float>(9, 1.0f)), scales_tensor({1, 1, 5.0f / 3, 5.0f / 3})}, {}, 9)
                .shape(),
            (Shape{1, 1, 5, 5}));
}
TEST_P(OpTest, Resize_Nearest_NonIntegerScale_EachNearestMode) {
  // floor(4 * 1.5) = 6 rows (ties at .5 happen: (1 + 0.5) / 1.5 - 0.5 = 0.5), floor(5 * 0.6) = 3 columns.
  const Shape xs = {1, 2, 4, 5};
  auto x = rand_f32(numel_of(xs));
  for (const char* nearest : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}) {
    for (const char* coord : {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"}) {
      SCOPED_TRACE(std::string(nearest) + " " + coord);
      Tensor out = run1("Resize", {make(xs, x), Tensor(), scales_tensor({1, 1, 1.5f, 0.6f})},
                        {{"nearest_mode", a_string(nearest)}, {"coordinate_transformation_mode", a_string(coord)}});
      expect_near(out, DType::kFloat32, {1, 2, 6, 3}, resize_ref(x, xs, 6, 3, 1.5f, 0.6f, "nearest", coord, nearest),
                  kExact);
    }
  }
}
TEST_P(OpTest, Resize_Nearest_Sizes) {
  // sizes instead of scales (scales given as an empty tensor, roi omitted); scale = out / in.
  const Shape xs = {2, 1, 5, 4};
  auto x = rand_f32(numel_of(xs));
  Tensor out =
      run1("Resize", {make(xs, x), Tensor(), make<float>({0}, std::vector<float>{}), sizes_tensor({2, 1, 7, 3})});
  expect_near(out, DType::kFloat32, {2, 1, 7, 3},
              resize_ref(x, xs, 7, 3, 7.0f / 5.0f, 3.0f / 4.0f, "nearest", "half_pixel", "round_prefer_floor"), kExact);
  Tensor out2 = run1("Resize", {make(xs, x), Tensor(), Tensor(), sizes_tensor({2, 1, 7, 3})});
  expect_near(out2, DType::kFloat32, {2, 1, 7, 3},
              resize_ref(x, xs, 7, 3, 7.0f / 5.0f, 3.0f / 4.0f, "nearest", "half_pixel", "round_prefer_floor"), kExact);
}
TEST_P(OpTest, Resize_Nearest_Int64_3D) {
  // Nearest runs on any rank and type: it copies elements.
  auto x = rand_int<int64_t>(2 * 3 * 4, -100, 100);
  Tensor out = run1("Resize", {make<int64_t>({2, 3, 4}, x), Tensor(), scales_tensor({1, 2, 0.5f})},
                    {{"coordinate_transformation_mode", a_string("asymmetric")}, {"nearest_mode", a_string("floor")}});
  std::vector<int64_t> ref;
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 6; ++b)
      for (int64_t c = 0; c < 2; ++c) ref.push_back(x[(a * 3 + b / 2) * 4 + c * 2]);
  expect_equal<int64_t>(out, {2, 6, 2}, ref);
}
TEST_P(OpTest, Resize_Linear_HalfPixel) {
  const Shape xs = {2, 3, 4, 5};
  auto x = rand_f32(numel_of(xs));
  Tensor out = run1("Resize", {make(xs, x), Tensor(), scales_tensor({1, 1, 2, 1.5f})}, {{"mode", a_string("linear")}});
  expect_near(out, DType::kFloat32, {2, 3, 8, 7}, resize_ref(x, xs, 8, 7, 2, 1.5f, "linear", "half_pixel", ""),
              kTolReduce);
}
TEST_P(OpTest, Resize_Linear_AlignCorners_Sizes) {
  const Shape xs = {1, 2, 4, 5};
  auto x = rand_f32(numel_of(xs));
  Tensor out = run1("Resize", {make(xs, x), Tensor(), Tensor(), sizes_tensor({1, 2, 7, 9})},
                    {{"mode", a_string("linear")}, {"coordinate_transformation_mode", a_string("align_corners")}});
  expect_near(out, DType::kFloat32, {1, 2, 7, 9},
              resize_ref(x, xs, 7, 9, 7.0f / 4, 9.0f / 5, "linear", "align_corners", ""), kTolReduce);
  // The corners are the input's corners.
  EXPECT_EQ(out.data<float>()[0], x[0]);
  EXPECT_EQ(out.data<float>()[62], x[19]);
}
TEST_P(OpTest, Resize_Linear_PytorchHalfPixel_And_Asymmetric_Downsample) {
  const Shape xs = {1, 3, 9, 8};
  auto x = rand_f32(numel_of(xs));
  for (const char* coord : {"pytorch_half_pixel", "asymmetric", "half_pixel"}) {
    SCOPED_TRACE(coord);
    Tensor out = run1("Resize", {make(xs, x), Tensor(), scales_tensor({1, 1, 0.5f, 0.75f})},
                      {{"mode", a_string("linear")}, {"coordinate_transformation_mode", a_string(coord)}});
    expect_near(out, DType::kFloat32, {1, 3, 4, 6}, resize_ref(x, xs, 4, 6, 0.5f, 0.75f, "linear", coord, ""),
                kTolReduce);
  }
  // pytorch_half_pixel maps an output length of 1 to coordinate 0.
  Tensor out = run1("Resize", {make(xs, x), Tensor(), Tensor(), sizes_tensor({1, 3, 1, 6})},
                    {{"mode", a_string("linear")}, {"coordinate_transformation_mode", a_string("pytorch_half_pixel")}});
  expect_near(out, DType::kFloat32, {1, 3, 1, 6},
              resize_ref(x, xs, 1, 6, 1.0f / 9, 0.75f, "linear", "pytorch_half_pixel", ""), kTolReduce);
}
TEST_P(OpTest, Resize_Errors) {
  auto x = make<float>({1, 2, 3, 3}, rand_f32(18));
  expect_error(StatusCode::kInvalidArgument, "exactly one of scales and sizes", "Resize",
               {x, Tensor(), scales_tensor({1, 1, 2, 2}), sizes_tensor({1, 2, 6, 6})});
  expect_error(StatusCode::kInvalidArgument, "exactly one of scales and sizes", "Resize",
               {x, Tensor(), Tensor(), Tensor()});
  expect_error(StatusCode::kInvalidArgument, "one value per dimension", "Resize", {x, Tensor(), scales_tensor({2, 2})});
  expect_error(StatusCode::kUnimplemented, "cubic", "Resize", {x, Tensor(), scales_tensor({1, 1, 2, 2})},
               {{"mode", a_string("cubic")}});
  expect_error(StatusCode::kUnimplemented, "last two dimensions", "Resize", {x, Tensor(), scales_tensor({1, 2, 2, 2})},
               {{"mode", a_string("linear")}});
  expect_error(StatusCode::kInvalidArgument, "nearest_mode 'round'", "Resize",
               {x, Tensor(), scales_tensor({1, 1, 2, 2})}, {{"nearest_mode", a_string("round")}});
  expect_error(StatusCode::kUnimplemented, "tf_crop_and_resize", "Resize", {x, Tensor(), scales_tensor({1, 1, 2, 2})},
               {{"coordinate_transformation_mode", a_string("tf_crop_and_resize")}});
  expect_error(StatusCode::kUnimplemented, "antialias", "Resize", {x, Tensor(), scales_tensor({1, 1, 2, 2})},
               {{"antialias", a_int(1)}}, 18);
}

// ---------------------------------------------------------------------------------------------
// Clip / LeakyRelu / HardSigmoid / HardSwish / Erf / Gelu

// Runs a float32 unary op on x and compares with ref(double) elementwise.
template <typename F>
void check_unary_f32(const RunFn& run, const std::vector<float>& x, const Shape& s, F ref_fn, double tol,
                     Attrs attrs = {}) {
  Tensor out = run({make(s, x)}, std::move(attrs));
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = ref_fn(double{x[i]});
  expect_near(out, DType::kFloat32, s, ref, tol);
}
#define RUN_OP(op) [&](std::vector<Tensor> in, Attrs at) { return run1(op, std::move(in), std::move(at)); }

TEST_P(OpTest, Clip_MinMaxInputs) {
  auto x = rand_f32(40, -3, 3);
  Tensor out = run1("Clip", {make<float>({5, 8}, x), scalar<float>(-1.0f), scalar<float>(0.5f)});
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = std::min(0.5, std::max(-1.0, double{x[i]}));
  expect_near(out, DType::kFloat32, {5, 8}, ref, kExact);
}
TEST_P(OpTest, Clip_OmittedBounds) {
  // Only max (min omitted), only min, neither: Relu6-style exports and no-ops.
  auto x = rand_f32(30, -8, 8);
  std::vector<double> ref(x.size());
  Tensor out = run1("Clip", {make<float>({30}, x), Tensor(), scalar<float>(6.0f)});
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = std::min(6.0, double{x[i]});
  expect_near(out, DType::kFloat32, {30}, ref, kExact);
  out = run1("Clip", {make<float>({30}, x), scalar<float>(0.0f)});
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = std::max(0.0, double{x[i]});
  expect_near(out, DType::kFloat32, {30}, ref, kExact);
  out = run1("Clip", {make<float>({30}, x)});
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = x[i];
  expect_near(out, DType::kFloat32, {30}, ref, kExact);
}
TEST_P(OpTest, Clip_MinAboveMax_GivesMax) {
  auto x = rand_f32(10, -3, 3);
  Tensor out = run1("Clip", {make<float>({10}, x), scalar<float>(2.0f), scalar<float>(1.0f)});
  expect_near(out, DType::kFloat32, {10}, std::vector<double>(10, 1.0), kExact);
}
TEST_P(OpTest, Clip_NaNPropagates) {
  Tensor out =
      run1("Clip", {make<float>({3}, std::vector<float>{NAN, -5, 5}), scalar<float>(-1.0f), scalar<float>(1.0f)});
  ASSERT_EQ(out.numel(), 3);
  EXPECT_TRUE(std::isnan(out.data<float>()[0]));
  EXPECT_EQ(out.data<float>()[1], -1.0f);
  EXPECT_EQ(out.data<float>()[2], 1.0f);
}
TEST_P(OpTest, Clip_Int64_And_Float64) {
  auto xi = rand_int<int64_t>(20, -100, 100);
  Tensor out = run1("Clip", {make<int64_t>({20}, xi), scalar<int64_t>(-10), scalar<int64_t>(10)});
  std::vector<int64_t> refi(20);
  for (std::size_t i = 0; i < 20; ++i) refi[i] = std::min<int64_t>(10, std::max<int64_t>(-10, xi[i]));
  expect_equal<int64_t>(out, {20}, refi);
  auto xd = rand_f64(20, -2, 2);
  out = run1("Clip", {make<double>({20}, xd), scalar<double>(-0.5), scalar<double>(0.25)});
  std::vector<double> refd(20);
  for (std::size_t i = 0; i < 20; ++i) refd[i] = std::min(0.25, std::max(-0.5, xd[i]));
  expect_near(out, DType::kFloat64, {20}, refd, kExact);
}
TEST_P(OpTest, Clip_Opset6_Attributes) {
  auto x = rand_f32(16, -3, 3);
  Tensor out = run1("Clip", {make<float>({4, 4}, x)}, {{"min", a_float(-0.5f)}, {"max", a_float(2.0f)}}, 6);
  std::vector<double> ref(16);
  for (std::size_t i = 0; i < 16; ++i) ref[i] = std::min(2.0, std::max(-0.5, double{x[i]}));
  expect_near(out, DType::kFloat32, {4, 4}, ref, kExact);
}
TEST_P(OpTest, Clip_Opset6_IntegerInput_Error) {
  expect_error(StatusCode::kInvalidArgument, "Clip before opset 11 takes float inputs", "Clip",
               {make<int64_t>({3}, {-5, 0, 5})}, {{"min", a_float(-1.0f)}}, 6);
  expect_error(StatusCode::kInvalidArgument, "not int32", "Clip", {make<int32_t>({2}, {1, 2})}, {}, 6);
}
TEST_P(OpTest, Clip_BoundNotScalar_Error) {
  expect_error(StatusCode::kInvalidArgument, "must be a scalar", "Clip",
               {make<float>({4}, rand_f32(4)), make<float>({2}, rand_f32(2)), Tensor()});
  expect_error(StatusCode::kInvalidArgument, "differs", "Clip", {make<float>({4}, rand_f32(4)), scalar<double>(0.0)});
}

TEST_P(OpTest, LeakyRelu_DefaultAlpha) {
  check_unary_f32(
      RUN_OP("LeakyRelu"), rand_f32(50, -4, 4), {5, 10}, [](double v) { return v < 0 ? 0.01 * v : v; },
      kTolElementwise);
}
TEST_P(OpTest, LeakyRelu_Alpha_NaN_Float64) {
  check_unary_f32(RUN_OP("LeakyRelu"), rand_f32(30, -4, 4), {30}, [](double v) { return v < 0 ? double{0.2f} * v : v; },
                  kTolElementwise, {{"alpha", a_float(0.2f)}});
  Tensor out = run1("LeakyRelu", {make<float>({2}, std::vector<float>{NAN, -1.0f})});
  ASSERT_EQ(out.numel(), 2);
  EXPECT_TRUE(std::isnan(out.data<float>()[0]));
  auto xd = rand_f64(12, -3, 3);
  out = run1("LeakyRelu", {make<double>({12}, xd)});
  std::vector<double> ref(12);
  for (std::size_t i = 0; i < 12; ++i) ref[i] = xd[i] < 0 ? double{0.01f} * xd[i] : xd[i];
  expect_near(out, DType::kFloat64, {12}, ref, 1e-15);
}
TEST_P(OpTest, PRelu_SlopeBroadcastOneWay) {
  // y = x < 0 ? slope * x : x, the product in X's type: a slope per channel ([C, 1, 1] over [N, C, H, W],
  // as torch's nn.PReLU(C) exports it), one slope, a slope of X's shape, and float64.
  const Shape xs{2, 3, 4, 4};
  auto x = rand_f32(numel_of(xs), -3, 3);
  x[0] = -0.0f, x[1] = 0.0f, x[2] = -INFINITY, x[3] = INFINITY;
  for (const Shape& ss : {Shape{3, 1, 1}, Shape{1}, xs}) {
    SCOPED_TRACE("slope " + shape_to_string(ss));
    auto slope = rand_f32(numel_of(ss), -1, 1);
    slope[0] = -0.5f;  // element 0, -0, takes it: -0 * -0.5 would be +0, where -0 passes through
    Tensor out = run1("PRelu", {make<float>(xs, x), make<float>(ss, slope)}, {}, 16);
    std::vector<double> ref(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      const std::size_t c = (i / 16) % 3;
      const float s = ss.size() == 1 ? slope[0] : ss.size() == 3 ? slope[c] : slope[i];
      ref[i] = x[i] < 0 ? static_cast<double>(s * x[i]) : x[i];
    }
    expect_near(out, DType::kFloat32, xs, ref, 0);
    EXPECT_TRUE(std::signbit(out.data<float>()[0])) << "-0 passes through";
  }
  Tensor nan = run1("PRelu", {make<float>({2}, std::vector<float>{NAN, -2.0f}), make<float>({1}, std::vector<float>{0.5f})}, {}, 9);
  EXPECT_TRUE(std::isnan(nan.data<float>()[0]));
  EXPECT_EQ(nan.data<float>()[1], -1.0f);
  const auto xd = rand_f64(12, -3, 3);
  Tensor d = run1("PRelu", {make<double>({3, 4}, xd), make<double>({4}, std::vector<double>{0.25, -0.5, 2.0, 0.0})});
  std::vector<double> refd(12);
  const double sd[4] = {0.25, -0.5, 2.0, 0.0};
  for (std::size_t i = 0; i < 12; ++i) refd[i] = xd[i] < 0 ? sd[i % 4] * xd[i] : xd[i];
  expect_near(d, DType::kFloat64, {3, 4}, refd, 0);
}
TEST_P(OpTest, PRelu_Errors) {
  // The slope broadcast to a shape larger than X's: not PRelu's one-way broadcast.
  expect_error(StatusCode::kInvalidArgument, "slope of shape [2, 3] does not broadcast to X's shape [3]", "PRelu",
               {make<float>({3}, rand_f32(3)), make<float>({2, 3}, rand_f32(6))});
  expect_error(StatusCode::kUnimplemented, "element type int64 is not supported", "PRelu",
               {make<int64_t>({2}, std::vector<int64_t>{-1, 2}), make<int64_t>({1}, std::vector<int64_t>{3})});
}
TEST_P(OpTest, HardSigmoid_Default) {
  auto x = rand_f32(60, -6, 6);
  x[0] = -2.5f, x[1] = 2.5f, x[2] = 0;
  check_unary_f32(
      RUN_OP("HardSigmoid"), x, {6, 10}, [](double v) { return std::min(1.0, std::max(0.0, 0.2 * v + 0.5)); },
      kTolElementwise);
}
TEST_P(OpTest, HardSigmoid_AlphaBeta) {
  check_unary_f32(RUN_OP("HardSigmoid"), rand_f32(40, -6, 6), {40},
                  [](double v) { return std::min(1.0, std::max(0.0, double{0.25f} * v + double{0.3f})); },
                  kTolElementwise, {{"alpha", a_float(0.25f)}, {"beta", a_float(0.3f)}});
}
TEST_P(OpTest, HardSwish_Float32) {
  auto x = rand_f32(60, -5, 5);
  x[0] = -3, x[1] = 3, x[2] = 0;
  check_unary_f32(
      RUN_OP("HardSwish"), x, {60}, [](double v) { return v * std::min(1.0, std::max(0.0, v / 6 + 0.5)); },
      kTolElementwise);
  Tensor out = run1("HardSwish", {make<float>({1}, std::vector<float>{NAN})});
  ASSERT_EQ(out.numel(), 1);
  EXPECT_TRUE(std::isnan(out.data<float>()[0]));
}
TEST_P(OpTest, Erf_Float32_And_Float64) {
  check_unary_f32(
      RUN_OP("Erf"), rand_f32(50, -4, 4), {50}, [](double v) { return std::erf(v); }, kTolElementwise);
  auto xd = rand_f64(20, -3, 3);
  Tensor out = run1("Erf", {make<double>({20}, xd)});
  std::vector<double> ref(20);
  for (std::size_t i = 0; i < 20; ++i) ref[i] = std::erf(xd[i]);
  expect_near(out, DType::kFloat64, {20}, ref, 1e-15);
}

TEST_P(OpTest, Erf_ValueIndependentOfPosition_Bitwise) {
  // The float32 path is vectorized; a value must come out the same in a vector or in the tail.
  const auto x = rand_f32(37, -3, 3);
  Tensor whole = run1("Erf", {make<float>({37}, x)});
  for (int64_t start : {1, 5, 16, 30}) {
    std::vector<float> part(x.begin() + start, x.end());
    Tensor p = run1("Erf", {make<float>({37 - start}, part)});
    EXPECT_EQ(std::memcmp(p.data<float>(), whole.data<float>() + start, part.size() * sizeof(float)), 0) << start;
  }
}

double gelu_none(double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }
double gelu_tanh(double v) {
  return 0.5 * v * (1 + std::tanh(std::sqrt(2 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)));
}

TEST_P(OpTest, Mish_Opset18) {
  // x * tanh(ln(1 + e^x)) in double, beside the edges: large values (y = x), -inf (NaN, as written), NaN.
  auto x = rand_f32(60, -8, 8);
  x[0] = 30.f, x[1] = -30.f, x[2] = 0.f, x[3] = INFINITY;
  Tensor out = run1("Mish", {make<float>({60}, x)}, {}, 18);
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = x[i] * std::tanh(std::log1p(std::exp(double{x[i]})));
  ref[3] = INFINITY;
  expect_near(out, DType::kFloat32, {60}, ref, kTolElementwise);
  Tensor edges = run1("Mish", {make<float>({2}, std::vector<float>{-INFINITY, NAN})}, {}, 18);
  EXPECT_TRUE(std::isnan(edges.data<float>()[0]) && std::isnan(edges.data<float>()[1]));
  const auto xd = rand_f64(20, -5, 5);
  Tensor d = run1("Mish", {make<double>({20}, xd)}, {}, 18);
  std::vector<double> refd(20);
  for (std::size_t i = 0; i < 20; ++i) refd[i] = xd[i] * std::tanh(std::log1p(std::exp(xd[i])));
  expect_near(d, DType::kFloat64, {20}, refd, 1e-14);
}
// A float unary op on float32 draws from [lo, hi] and float64 ones, against f in double; NaN
// passes through (or becomes what nan_to gives: ThresholdedRelu and Shrink compare it away).
Tensor run_one(const Backend& backend, const std::string& op, Tensor x, const Attrs& attrs, int64_t opset) {
  std::vector<Tensor> outs;
  const Status st = run_node(backend, op, {std::move(x)}, 1, &outs, attrs, opset);
  EXPECT_TRUE(st.ok()) << op << " failed: " << st.message();
  return outs.empty() ? Tensor() : outs[0];
}
void check_unary(const Backend& backend, std::mt19937& rng, const std::string& op, int64_t opset, double lo, double hi,
                 double (*f)(double, const Attrs&), const Attrs& attrs = {}, double nan_to = NAN) {
  SCOPED_TRACE(op);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<float> x(64);
  for (auto& v : x) v = static_cast<float>(u(rng));
  x[0] = NAN;
  Tensor out = run_one(backend, op, make<float>({64}, x), attrs, opset);
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.dtype(), DType::kFloat32);
  EXPECT_EQ(std::isnan(out.data<float>()[0]), std::isnan(nan_to)) << op << "(NaN) = " << out.data<float>()[0];
  if (!std::isnan(nan_to)) EXPECT_EQ(out.data<float>()[0], nan_to);
  x[0] = static_cast<float>(lo);
  out = run_one(backend, op, make<float>({64}, x), attrs, opset);
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = f(x[i], attrs);
  expect_near(out, DType::kFloat32, {64}, ref, kTolElementwise);
  std::vector<double> xd(16);
  for (auto& v : xd) v = u(rng);
  Tensor d = run_one(backend, op, make<double>({16}, xd), attrs, opset);
  std::vector<double> refd(16);
  for (std::size_t i = 0; i < 16; ++i) refd[i] = f(xd[i], attrs);
  expect_near(d, DType::kFloat64, {16}, refd, 1e-14);
}
double attr_or(const Attrs& a, const char* name, double def) {
  auto it = a.find(name);
  return it == a.end() ? def : it->second.f;
}

TEST_P(OpTest, Tan_Opset7) { check_unary(*backend_, rng_, "Tan", 7, -1.5, 1.5, [](double v, const Attrs&) { return std::tan(v); }); }
TEST_P(OpTest, Asin_Opset7) { check_unary(*backend_, rng_, "Asin", 7, -1, 1, [](double v, const Attrs&) { return std::asin(v); }); }
TEST_P(OpTest, Acos_Opset7) { check_unary(*backend_, rng_, "Acos", 7, -1, 1, [](double v, const Attrs&) { return std::acos(v); }); }
TEST_P(OpTest, Atan_Opset7) { check_unary(*backend_, rng_, "Atan", 7, -20, 20, [](double v, const Attrs&) { return std::atan(v); }); }
TEST_P(OpTest, Sinh_Opset9) { check_unary(*backend_, rng_, "Sinh", 9, -5, 5, [](double v, const Attrs&) { return std::sinh(v); }); }
TEST_P(OpTest, Cosh_Opset9) { check_unary(*backend_, rng_, "Cosh", 9, -5, 5, [](double v, const Attrs&) { return std::cosh(v); }); }
TEST_P(OpTest, Asinh_Opset9) { check_unary(*backend_, rng_, "Asinh", 9, -50, 50, [](double v, const Attrs&) { return std::asinh(v); }); }
TEST_P(OpTest, Acosh_Opset9) { check_unary(*backend_, rng_, "Acosh", 9, 1, 50, [](double v, const Attrs&) { return std::acosh(v); }); }
TEST_P(OpTest, Atanh_Opset9) {
  check_unary(*backend_, rng_, "Atanh", 9, -0.99, 0.99, [](double v, const Attrs&) { return std::atanh(v); });
}
TEST_P(OpTest, Celu_AlphaDefaultAndGiven) {
  auto celu = [](double v, const Attrs& a) {
    const double al = attr_or(a, "alpha", 1.0);
    return std::max(0.0, v) + std::min(0.0, al * (std::exp(v / al) - 1));
  };
  check_unary(*backend_, rng_, "Celu", 12, -6, 6, celu);
  check_unary(*backend_, rng_, "Celu", 12, -6, 6, celu, {{"alpha", a_float(2.5f)}});
  // -0 gives +0, as the spec's max(0, x) + min(0, ...) does; alpha 0 would divide by 0.
  Tensor z = run1("Celu", {make<float>({1}, std::vector<float>{-0.0f})}, {}, 12);
  ASSERT_FALSE(z.empty());
  EXPECT_FALSE(std::signbit(z.data<float>()[0]));
  expect_error(StatusCode::kInvalidArgument, "alpha must not be 0", "Celu", {make<float>({2}, rand_f32(2))},
               {{"alpha", a_float(0.0f)}}, 12);
}
TEST_P(OpTest, ThresholdedRelu_Alpha) {
  auto f = [](double v, const Attrs& a) { return v > attr_or(a, "alpha", 1.0) ? v : 0.0; };
  check_unary(*backend_, rng_, "ThresholdedRelu", 10, -3, 3, f, {}, 0.0);
  check_unary(*backend_, rng_, "ThresholdedRelu", 10, -3, 3, f, {{"alpha", a_float(-0.5f)}}, 0.0);
}
TEST_P(OpTest, Shrink_LambdBias) {
  auto f = [](double v, const Attrs& a) {
    const double l = attr_or(a, "lambd", 0.5), b = attr_or(a, "bias", 0.0);
    return v < -l ? v + b : v > l ? v - b : 0.0;
  };
  check_unary(*backend_, rng_, "Shrink", 9, -3, 3, f, {}, 0.0);
  check_unary(*backend_, rng_, "Shrink", 9, -3, 3, f, {{"lambd", a_float(1.25f)}, {"bias", a_float(0.75f)}}, 0.0);
}
TEST_P(OpTest, IsInf_DetectSigns) {
  const std::vector<float> x = {INFINITY, -INFINITY, NAN, 0.f, 3.4e38f, -1.f};
  for (auto [neg, pos] : {std::pair<int64_t, int64_t>{1, 1}, {0, 1}, {1, 0}, {0, 0}}) {
    SCOPED_TRACE("detect_negative " + std::to_string(neg) + ", detect_positive " + std::to_string(pos));
    Tensor out = run1("IsInf", {make<float>({6}, x)}, {{"detect_negative", a_int(neg)}, {"detect_positive", a_int(pos)}}, 10);
    expect_near(out, DType::kBool, {6}, {static_cast<double>(pos), static_cast<double>(neg), 0, 0, 0, 0}, kExact);
  }
  Tensor d = run1("IsInf", {make<double>({3}, std::vector<double>{-INFINITY, 1e308, INFINITY})}, {}, 10);
  expect_near(d, DType::kBool, {3}, {1, 0, 1}, kExact);
}
TEST_P(OpTest, Gelu_Opset20_Exact) {
  auto x = rand_f32(60, -6, 6);
  Tensor out = run1("Gelu", {make<float>({60}, x)}, {}, 20);
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = gelu_none(x[i]);
  expect_near(out, DType::kFloat32, {60}, ref, kTolElementwise);
}
TEST_P(OpTest, Gelu_Opset20_Tanh) {
  auto x = rand_f32(60, -6, 6);
  Tensor out = run1("Gelu", {make<float>({60}, x)}, {{"approximate", a_string("tanh")}}, 20);
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = gelu_tanh(x[i]);
  expect_near(out, DType::kFloat32, {60}, ref, kTolElementwise);
}
TEST_P(OpTest, Gelu_ComMicrosoft) {
  auto x = rand_f32(40, -5, 5);
  Tensor out = run1("Gelu", {make<float>({4, 10}, x)}, {}, 1, "com.microsoft");
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = gelu_none(x[i]);
  expect_near(out, DType::kFloat32, {4, 10}, ref, kTolElementwise);
}
TEST_P(OpTest, Gelu_BadApproximate_Error) {
  expect_error(StatusCode::kInvalidArgument, "approximate 'fast'", "Gelu", {make<float>({3}, rand_f32(3))},
               {{"approximate", a_string("fast")}}, 20);
}

// ---------------------------------------------------------------------------------------------
// Sqrt / Pow / Neg / Not / Equal / And / Or / Xor / Max / Min / Where

TEST_P(OpTest, Sqrt_Float32_And_Float64) {
  check_unary_f32(
      RUN_OP("Sqrt"), rand_f32(40, 0, 100), {40}, [](double v) { return std::sqrt(v); }, kTolElementwise);
  auto xd = rand_f64(10, 0, 9);
  Tensor out = run1("Sqrt", {make<double>({10}, xd)});
  std::vector<double> ref(10);
  for (std::size_t i = 0; i < 10; ++i) ref[i] = std::sqrt(xd[i]);
  expect_near(out, DType::kFloat64, {10}, ref, kExact);
}
TEST_P(OpTest, Sqrt_NegativeGivesNaN) {
  Tensor out = run1("Sqrt", {make<float>({2}, std::vector<float>{-1.0f, NAN})});
  ASSERT_EQ(out.numel(), 2);
  EXPECT_TRUE(std::isnan(out.data<float>()[0]));
  EXPECT_TRUE(std::isnan(out.data<float>()[1]));
}
TEST_P(OpTest, Pow_Float32_Broadcast) {
  auto a = rand_f32(12, 0.1f, 3);
  auto b = rand_f32(4, -2, 3);
  Tensor out = run1("Pow", {make<float>({3, 4}, a), make<float>({4}, b)});
  std::vector<double> ref(12);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) ref[i * 4 + j] = std::pow(double{a[i * 4 + j]}, double{b[j]});
  expect_near(out, DType::kFloat32, {3, 4}, ref, kTolElementwise);
}
TEST_P(OpTest, Pow_FloatBase_IntExponent) {
  auto a = rand_f32(8, -3, 3);
  std::vector<int64_t> e = {0, 1, 2, 3, -1, -2, 5, 4};
  Tensor out = run1("Pow", {make<float>({8}, a), make<int64_t>({8}, e)});
  std::vector<double> ref(8);
  for (std::size_t i = 0; i < 8; ++i) ref[i] = std::pow(double{a[i]}, double(e[i]));
  expect_near(out, DType::kFloat32, {8}, ref, kTolElementwise);
  // A scalar float64 exponent on a float32 base (x ** 2 as exported): output stays float32.
  out = run1("Pow", {make<float>({8}, a), scalar<double>(2.0)});
  for (std::size_t i = 0; i < 8; ++i) ref[i] = double{a[i]} * double{a[i]};
  expect_near(out, DType::kFloat32, {8}, ref, kTolElementwise);
}
TEST_P(OpTest, Pow_NegativeBaseFractionalExponent_NaN) {
  Tensor out = run1("Pow", {make<float>({1}, std::vector<float>{-2.0f}), make<float>({1}, std::vector<float>{0.5f})});
  ASSERT_EQ(out.numel(), 1);
  EXPECT_TRUE(std::isnan(out.data<float>()[0]));
}
TEST_P(OpTest, Pow_Int64_And_Int32) {
  std::vector<int64_t> a = {2, -3, 0, 5, 1, -1, -1, 7, 3};
  std::vector<int64_t> e = {3, 3, 0, -1, -5, -3, 4, 2, 39};
  Tensor out = run1("Pow", {make<int64_t>({9}, a), make<int64_t>({9}, e)});
  // 3^39 = 4052555153018976267 fits int64 but not a double's 53 bits.
  expect_equal<int64_t>(out, {9}, {8, -27, 1, 0, 1, -1, 1, 49, 4052555153018976267});
  out = run1("Pow", {make<int32_t>({2, 2}, {2, 3, -2, 10}), make<int32_t>({2}, {10, 3})});
  expect_equal<int32_t>(out, {2, 2}, {1024, 27, 1024, 1000});
}
TEST_P(OpTest, Pow_Float64) {
  auto a = rand_f64(6, 0.5, 2);
  auto b = rand_f64(6, -3, 3);
  Tensor out = run1("Pow", {make<double>({2, 3}, a), make<double>({2, 3}, b)});
  std::vector<double> ref(6);
  for (std::size_t i = 0; i < 6; ++i) ref[i] = std::pow(a[i], b[i]);
  expect_near(out, DType::kFloat64, {2, 3}, ref, 1e-15);
}
TEST_P(OpTest, Pow_Errors) {
  // On a device the kernel records it and the batch fails as on the CPU; 2^-1 truncates to 0.
  expect_equal<int64_t>(run1("Pow", {make<int64_t>({2}, {2, 1}), scalar<int64_t>(-1)}), {2}, {0, 1});
  expect_error(StatusCode::kInvalidArgument, "integer 0 raised to the negative power -1", "Pow",
               {make<int64_t>({3}, {2, 0, 1}), scalar<int64_t>(-1)});
  // The first failing element in output order names its exponent.
  expect_error(StatusCode::kInvalidArgument, "integer 0 raised to the negative power -3", "Pow",
               {make<int64_t>({2, 2}, {1, 0, 0, 0}), make<int64_t>({2, 2}, {-1, -3, -2, 5})});
  expect_error(StatusCode::kUnimplemented, "integer base with a float exponent", "Pow",
               {make<int64_t>({2}, {1, 2}), scalar<float>(0.5f)});
  expect_error(StatusCode::kInvalidArgument, "cannot be broadcast", "Pow",
               {make<float>({2, 3}, rand_f32(6)), make<float>({2}, rand_f32(2))});
}
TEST_P(OpTest, Neg_Float32_Float64) {
  check_unary_f32(
      RUN_OP("Neg"), rand_f32(20, -5, 5), {4, 5}, [](double v) { return -v; }, kExact);
  auto xd = rand_f64(5);
  Tensor out = run1("Neg", {make<double>({5}, xd)});
  std::vector<double> ref(5);
  for (std::size_t i = 0; i < 5; ++i) ref[i] = -xd[i];
  expect_near(out, DType::kFloat64, {5}, ref, kExact);
}
TEST_P(OpTest, Neg_Int64_Int32_MinWraps) {
  const int64_t lo = std::numeric_limits<int64_t>::min();
  Tensor out = run1("Neg", {make<int64_t>({4}, {5, -7, 0, lo})});
  expect_equal<int64_t>(out, {4}, {-5, 7, 0, lo});
  auto xi = rand_int<int32_t>(10, -1000, 1000);
  out = run1("Neg", {make<int32_t>({10}, xi)});
  std::vector<int32_t> ref(10);
  for (std::size_t i = 0; i < 10; ++i) ref[i] = -xi[i];
  expect_equal<int32_t>(out, {10}, ref);
}
TEST_P(OpTest, Not_Bool) {
  auto b = rand_int<int>(12, 0, 1);
  std::vector<uint8_t> v(b.begin(), b.end());
  Tensor out = run1("Not", {make_bool({3, 4}, v)});
  std::vector<double> ref(12);
  for (std::size_t i = 0; i < 12; ++i) ref[i] = v[i] ? 0 : 1;
  expect_near(out, DType::kBool, {3, 4}, ref, kExact);
  expect_error(StatusCode::kInvalidArgument, "bool", "Not", {make<float>({2}, rand_f32(2))});
}
TEST_P(OpTest, IsNaN_FloatTypes) {
  // NaN (quiet, signalling, negative) against infinities, zeros, subnormals and ordinary values.
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x{nan, 1.0f, -inf, inf, 0.0f, -0.0f, std::numeric_limits<float>::signaling_NaN(), -nan,
                             std::numeric_limits<float>::denorm_min(), -3.5f, 1e38f, nan};
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = std::isnan(x[i]) ? 1 : 0;
  expect_near(run1("IsNaN", {make<float>({3, 4}, x)}, {}, 20), DType::kBool, {3, 4}, ref, kExact);
  const std::vector<double> xd(x.begin(), x.end());
  expect_near(run1("IsNaN", {make<double>({12}, xd)}, {}, 9), DType::kBool, {12}, ref, kExact);
  // The float16 model's (widened on the CPU, read as stored on CUDA): the same answers.
  std::vector<uint16_t> h(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) h[i] = float_to_half(x[i]);
  expect_near(run1("IsNaN", {Tensor::copy_of(DType::kFloat16, {12}, h.data())}, {}, 13), DType::kBool, {12}, ref, kExact);
  expect_error(StatusCode::kUnimplemented, "not supported", "IsNaN", {make<int64_t>({2}, {1, 2})}, {}, 13);
}
TEST_P(OpTest, Equal_Float32_Broadcast) {
  // Values from a small set so that equal pairs occur.
  auto a = rand_int<int>(12, 0, 2), b = rand_int<int>(4, 0, 2);
  std::vector<float> fa(a.begin(), a.end()), fb(b.begin(), b.end());
  fa[0] = NAN;
  Tensor out = run1("Equal", {make<float>({3, 4}, fa), make<float>({4}, fb)});
  std::vector<double> ref(12);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) ref[i * 4 + j] = fa[i * 4 + j] == fb[j] ? 1 : 0;
  expect_near(out, DType::kBool, {3, 4}, ref, kExact);
}
TEST_P(OpTest, Equal_Int64_Bool_Float64) {
  const int64_t big = int64_t{1} << 60;
  Tensor out = run1("Equal", {make<int64_t>({3}, {big, big + 1, -4}), make<int64_t>({3}, {big, big, -4})});
  expect_near(out, DType::kBool, {3}, {1, 0, 1}, kExact);
  out = run1("Equal", {make_bool({2, 1}, {1, 0}), make_bool({2}, {1, 0})});
  expect_near(out, DType::kBool, {2, 2}, {1, 0, 0, 1}, kExact);
  out = run1("Equal", {make<double>({2}, {0.5, 0.25}), scalar<double>(0.25)});
  expect_near(out, DType::kBool, {2}, {0, 1}, kExact);
}
TEST_P(OpTest, Equal_MixedTypes_Error) {
  expect_error(StatusCode::kInvalidArgument, "differ", "Equal",
               {make<float>({2}, rand_f32(2)), make<int64_t>({2}, {1, 2})});
}
// And / Or / Xor: truth tables over a broadcast pair, against plain loops.
TEST_P(OpTest, And_Or_Xor_BroadcastTruthTables) {
  // a [3, 1] and b [4] broadcast to [3, 4]; random bits, with both values present in each.
  auto ab = rand_int<int>(3, 0, 1), bb = rand_int<int>(4, 0, 1);
  std::vector<uint8_t> a(ab.begin(), ab.end()), b(bb.begin(), bb.end());
  a[0] = 1, a[1] = 0, b[0] = 1, b[1] = 0;
  const std::pair<const char*, bool (*)(bool, bool)> ops[] = {
      {"And", [](bool x, bool y) { return x && y; }},
      {"Or", [](bool x, bool y) { return x || y; }},
      {"Xor", [](bool x, bool y) { return x != y; }}};
  for (const auto& [op, f] : ops) {
    SCOPED_TRACE(op);
    Tensor out = run1(op, {make_bool({3, 1}, a), make_bool({4}, b)});
    std::vector<double> ref(12);
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 4; ++j) ref[i * 4 + j] = f(a[i] != 0, b[j] != 0) ? 1 : 0;
    expect_near(out, DType::kBool, {3, 4}, ref, kExact);
  }
}
TEST_P(OpTest, Or_SameShape_And_Scalar) {
  auto ab = rand_int<int>(10, 0, 1);
  std::vector<uint8_t> a(ab.begin(), ab.end());
  Tensor out = run1("Or", {make_bool({2, 5}, a), make_bool({}, {0})});
  expect_near(out, DType::kBool, {2, 5}, as_doubles(a), kExact);
  out = run1("And", {make_bool({2, 5}, a), make_bool({}, {1})});
  expect_near(out, DType::kBool, {2, 5}, as_doubles(a), kExact);
  out = run1("Xor", {make_bool({2, 5}, a), make_bool({2, 5}, a)});
  expect_near(out, DType::kBool, {2, 5}, std::vector<double>(10, 0.0), kExact);
}
TEST_P(OpTest, Xor_NotBool_Error) {
  for (const char* op : {"And", "Or", "Xor"}) {
    expect_error(StatusCode::kInvalidArgument, "must be bool", op,
                 {make<int64_t>({2}, {0, 1}), make<int64_t>({2}, {1, 1})});
  }
  expect_error(StatusCode::kInvalidArgument, "differ", "And", {make_bool({2}, {0, 1}), make<int64_t>({2}, {1, 1})});
}

// Max / Min: variadic, broadcasting, NaN wins; references by plain loops in double.
TEST_P(OpTest, Max_Min_Float32_ThreeInputsBroadcast) {
  const Shape s0 = {2, 3, 4}, s1 = {3, 1}, s2 = {4}, so = {2, 3, 4};
  auto x0 = rand_f32(numel_of(s0), -3, 3), x1 = rand_f32(numel_of(s1), -3, 3), x2 = rand_f32(numel_of(s2), -3, 3);
  for (const bool is_max : {true, false}) {
    const std::string op = is_max ? "Max" : "Min";
    SCOPED_TRACE(op);
    Tensor out = run1(op, {make(s0, x0), make(s1, x1), make(s2, x2)});
    std::vector<double> ref(static_cast<std::size_t>(numel_of(so)));
    for (int64_t i = 0; i < numel_of(so); ++i) {
      const auto idx = unravel(i, so);
      const double v[3] = {x0[broadcast_flat(idx, s0)], x1[broadcast_flat(idx, s1)], x2[broadcast_flat(idx, s2)]};
      ref[i] = is_max ? std::max({v[0], v[1], v[2]}) : std::min({v[0], v[1], v[2]});
    }
    expect_near(out, DType::kFloat32, so, ref, kExact);
  }
}
TEST_P(OpTest, Max_Int64_Float64_AndOneInput) {
  const int64_t big = int64_t{1} << 60;
  Tensor out = run1("Max", {make<int64_t>({3}, {big, -big, 7}), make<int64_t>({3}, {big + 1, -big - 1, 7})});
  expect_equal<int64_t>(out, {3}, {big + 1, -big, 7});
  out = run1("Min", {make<int64_t>({3}, {big, -big, 7}), make<int64_t>({3}, {big + 1, -big - 1, 7})});
  expect_equal<int64_t>(out, {3}, {big, -big - 1, 7});
  auto a = rand_f64(6), b = rand_f64(2);
  out = run1("Min", {make<double>({3, 2}, a), make<double>({2}, b)});
  std::vector<double> ref(6);
  for (int64_t i = 0; i < 6; ++i) ref[i] = std::min(a[i], b[i % 2]);
  expect_near(out, DType::kFloat64, {3, 2}, ref, kExact);
  auto c = rand_int<int32_t>(5, -100, 100);
  expect_equal<int32_t>(run1("Max", {make<int32_t>({5}, c)}), {5}, c);  // one input: itself
}
TEST_P(OpTest, Min_NaNWins) {
  // A NaN in either operand, in either position, gives NaN: it must not vanish into a maximum.
  std::vector<float> a = rand_f32(6), b = rand_f32(6);
  a[1] = NAN, b[3] = NAN, a[5] = b[5] = NAN;
  for (const char* op : {"Max", "Min"}) {
    SCOPED_TRACE(op);
    for (int order = 0; order < 2; ++order) {
      Tensor out = order == 0 ? run1(op, {make<float>({6}, a), make<float>({6}, b)})
                              : run1(op, {make<float>({6}, b), make<float>({6}, a)});
      ASSERT_EQ(out.numel(), 6);
      const float* p = out.data<float>();
      for (int i = 0; i < 6; ++i) {
        if (i == 1 || i == 3 || i == 5) {
          EXPECT_TRUE(std::isnan(p[i])) << "element " << i << " is " << p[i];
        } else {
          EXPECT_EQ(p[i], std::string(op) == "Max" ? std::max(a[i], b[i]) : std::min(a[i], b[i])) << "element " << i;
        }
      }
    }
  }
}
TEST_P(OpTest, Max_Errors) {
  expect_error(StatusCode::kInvalidArgument, "differ", "Max", {make<float>({2}, rand_f32(2)), make<double>({2}, rand_f64(2))});
  expect_error(StatusCode::kInvalidArgument, "cannot be broadcast", "Min",
               {make<float>({2, 3}, rand_f32(6)), make<float>({2}, rand_f32(2))});
  expect_error(StatusCode::kInvalidArgument, "at least one input", "Max", {});
  expect_error(StatusCode::kUnimplemented, "bool", "Max", {make_bool({2}, {0, 1}), make_bool({2}, {1, 1})});
}

TEST_P(OpTest, Where_BroadcastsThreeInputs) {
  auto cb = rand_int<int>(3, 0, 1);
  std::vector<uint8_t> c(cb.begin(), cb.end());
  auto x = rand_f32(4), y = rand_f32(1);
  Tensor out = run1("Where", {make_bool({3, 1}, c), make<float>({1, 4}, x), make<float>({}, y)});
  std::vector<double> ref(12);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) ref[i * 4 + j] = c[i] ? x[j] : y[0];
  expect_near(out, DType::kFloat32, {3, 4}, ref, kExact);
}
TEST_P(OpTest, Where_Int64_SameShape) {
  auto cb = rand_int<int>(10, 0, 1);
  std::vector<uint8_t> c(cb.begin(), cb.end());
  auto x = rand_int<int64_t>(10, -50, 50), y = rand_int<int64_t>(10, -50, 50);
  Tensor out = run1("Where", {make_bool({2, 5}, c), make<int64_t>({2, 5}, x), make<int64_t>({2, 5}, y)});
  std::vector<int64_t> ref(10);
  for (std::size_t i = 0; i < 10; ++i) ref[i] = c[i] ? x[i] : y[i];
  expect_equal<int64_t>(out, {2, 5}, ref);
}
TEST_P(OpTest, Where_Errors) {
  expect_error(StatusCode::kInvalidArgument, "condition must be bool", "Where",
               {make<float>({2}, rand_f32(2)), make<float>({2}, rand_f32(2)), make<float>({2}, rand_f32(2))});
  expect_error(StatusCode::kInvalidArgument, "differ", "Where",
               {make_bool({2}, {1, 0}), make<float>({2}, rand_f32(2)), make<double>({2}, rand_f64(2))});
  expect_error(StatusCode::kInvalidArgument, "cannot be broadcast", "Where",
               {make_bool({3}, {1, 0, 1}), make<float>({2}, rand_f32(2)), make<float>({2}, rand_f32(2))});
}

// ---------------------------------------------------------------------------------------------
// Cast to and from float16 (ONNX type code 10)

constexpr int64_t kOnnxFloat16 = 10, kOnnxFloat = 1, kOnnxDouble = 11;

// The exact value of a binary16 bit pattern: sign, 5 exponent bits (bias 15), 10 fraction bits.
double half_value(uint16_t h) {
  const int sign = h >> 15, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  double v;
  if (e == 0x1f) {
    v = f ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else if (e == 0) {
    v = std::ldexp(double(f), -24);
  } else {
    v = std::ldexp(double(1024 + f), e - 25);
  }
  return sign ? -v : v;
}

// The binary16 nearest to v, ties to the even pattern; |v| >= 65520 (max + half an ulp) is inf.
uint16_t nearest_half(double v) {
  static const std::vector<double> positives = [] {
    std::vector<double> p;
    for (uint16_t h = 0; h <= 0x7bff; ++h) p.push_back(half_value(h));  // increasing with the pattern
    return p;
  }();
  const uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  const double a = std::fabs(v);
  if (a >= 65520.0) return sign | 0x7c00;
  auto it = std::lower_bound(positives.begin(), positives.end(), a);
  if (it == positives.end()) return sign | 0x7bff;  // (65504, 65520): the largest finite half
  uint16_t hi = static_cast<uint16_t>(it - positives.begin());
  if (positives[hi] == a || hi == 0) return sign | hi;
  const uint16_t lo = hi - 1;
  const double dlo = a - positives[lo], dhi = positives[hi] - a;
  if (dlo < dhi) return sign | lo;
  if (dhi < dlo) return sign | hi;
  return sign | ((lo & 1) ? hi : lo);
}

Tensor make_half(Shape s, const std::vector<uint16_t>& bits) {
  return Tensor::copy_of(DType::kFloat16, std::move(s), bits.data());
}

void expect_half_bits(const Tensor& out, const std::vector<double>& src) {
  ASSERT_EQ(out.dtype(), DType::kFloat16);
  ASSERT_EQ(out.numel(), static_cast<int64_t>(src.size()));
  const uint16_t* p = out.data<uint16_t>();
  int bad = 0;
  for (std::size_t i = 0; i < src.size(); ++i) {
    if (std::isnan(src[i])) {
      EXPECT_TRUE((p[i] & 0x7c00) == 0x7c00 && (p[i] & 0x3ff) != 0) << "NaN became 0x" << std::hex << p[i];
      continue;
    }
    const uint16_t want = nearest_half(src[i]);
    if (p[i] != want && bad++ < 8) {
      ADD_FAILURE() << std::setprecision(17) << "at " << i << ": " << src[i] << " -> 0x" << std::hex << p[i]
                    << ", want 0x" << want;
    }
  }
  EXPECT_EQ(bad, 0);
}

// Edge values: ties (to even), the largest half, overflow, subnormals and their ties, signed zero, inf, NaN.
std::vector<double> half_edge_values() {
  return {1.0 + std::ldexp(1, -11),
          1.0 + 3 * std::ldexp(1, -11),
          -(1.0 + std::ldexp(1, -11)),
          65504.0,
          65519.0,
          65520.0,
          -65520.0,
          1e6,
          std::ldexp(1, -24),
          std::ldexp(1, -25),
          3 * std::ldexp(1, -25),
          std::ldexp(1, -26),
          std::ldexp(1, -14),
          std::ldexp(1, -14) - std::ldexp(1, -25),
          1e-10,
          0.0,
          -0.0,
          0.1,
          -2.5,
          3.0 * std::ldexp(1, -15),
          std::numeric_limits<double>::infinity(),
          -std::numeric_limits<double>::infinity(),
          std::numeric_limits<double>::quiet_NaN()};
}

TEST_P(OpTest, Cast_Float32ToFloat16_RoundsToNearestEven) {
  std::vector<float> x;
  for (double v : half_edge_values()) x.push_back(static_cast<float>(v));
  // Random magnitudes across the whole half range and beyond, random mantissas and signs.
  std::uniform_int_distribution<int> ex(-28, 17);
  std::bernoulli_distribution neg(0.5);
  for (float m : rand_f32(2000, 1, 2)) x.push_back((neg(rng_) ? -1 : 1) * std::ldexp(m, ex(rng_)));
  const int64_t n = static_cast<int64_t>(x.size());
  Tensor out = run1("Cast", {make<float>({n}, x)}, {{"to", a_int(kOnnxFloat16)}});
  expect_half_bits(out, as_doubles(x));
  EXPECT_EQ(out.data<uint16_t>()[0], 0x3c00);  // 1 + 2^-11: tie, to the even 1.0
  EXPECT_EQ(out.data<uint16_t>()[1], 0x3c02);  // 1 + 3 * 2^-11: tie, to the even 1 + 2^-9
}
TEST_P(OpTest, Cast_Float64ToFloat16_NoDoubleRounding) {
  std::vector<double> x = half_edge_values();
  // 1 + 2^-11 + 2^-40 is above the tie: 1 + 2^-10. Through float (1 + 2^-11, a tie) it would be 1.
  x.push_back(1.0 + std::ldexp(1, -11) + std::ldexp(1, -40));
  std::uniform_int_distribution<int> ex(-28, 17);
  for (double m : rand_f64(2000, 1, 2)) x.push_back(std::ldexp(m, ex(rng_)));
  const int64_t n = static_cast<int64_t>(x.size());
  Tensor out = run1("Cast", {make<double>({n}, x)}, {{"to", a_int(kOnnxFloat16)}});
  expect_half_bits(out, x);
  EXPECT_EQ(out.data<uint16_t>()[x.size() - 2001], 0x3c01);
}
TEST_P(OpTest, Cast_Float16ToFloat32_EveryPattern) {
  std::vector<uint16_t> all(65536);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  Tensor out = run1("Cast", {make_half({65536}, all)}, {{"to", a_int(kOnnxFloat)}});
  ASSERT_EQ(out.dtype(), DType::kFloat32);
  ASSERT_EQ(out.numel(), 65536);
  int bad = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const double want = half_value(all[i]), got = out.data<float>()[i];
    const bool ok = std::isnan(want) ? std::isnan(got) : (got == want && std::signbit(got) == std::signbit(want));
    if (!ok && bad++ < 8)
      ADD_FAILURE() << "0x" << std::hex << all[i] << std::dec << ": got " << got << ", want " << want;
  }
  EXPECT_EQ(bad, 0);
  // And back: every non-NaN pattern round-trips exactly.
  Tensor back = run1("Cast", {out}, {{"to", a_int(kOnnxFloat16)}});
  ASSERT_EQ(back.dtype(), DType::kFloat16);
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (std::isnan(half_value(all[i]))) continue;
    if (back.data<uint16_t>()[i] != all[i] && bad++ < 8)
      ADD_FAILURE() << "0x" << std::hex << all[i] << " does not round-trip";
  }
  EXPECT_EQ(bad, 0);
}
TEST_P(OpTest, Cast_Float16ToFloat64_And_Int64) {
  std::vector<uint16_t> h = {0x3c00, 0xc000, 0x0001, 0x7bff, 0x8000, 0x3555, 0x7c00, 0xfc00};
  Tensor out = run1("Cast", {make_half({8}, h)}, {{"to", a_int(kOnnxDouble)}});
  std::vector<double> ref;
  for (uint16_t b : h) ref.push_back(half_value(b));
  expect_near(out, DType::kFloat64, {8}, ref, kExact);
  out = run1("Cast", {make_half({3}, {0x4500, 0xc500, 0x3800})}, {{"to", a_int(7)}});  // 5, -5, 0.5
  expect_equal<int64_t>(out, {3}, {5, -5, 0});
  // +-inf, NaN and 65504 saturate as from float32 (Cast_FloatToIntegers_SaturatesOutOfRangeAndNaNIsZero).
  const Tensor special = make_half({4}, {0x7c00, 0xfc00, 0x7e00, 0x7bff});
  expect_equal<int64_t>(run1("Cast", {special}, {{"to", a_int(7)}}), {4},
                        {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(), 0, 65504});
  expect_equal<int8_t>(run1("Cast", {special}, {{"to", a_int(3)}}), {4}, {127, -128, 0, 127});
}
TEST_P(OpTest, Cast_Int64ToFloat16) {
  std::vector<int64_t> x = {0, 1, -2, 2049, 2051, 65504, 65520, 100000, -70000};
  Tensor out = run1("Cast", {make<int64_t>({9}, x)}, {{"to", a_int(kOnnxFloat16)}});
  expect_half_bits(out, as_doubles(x));
}

}  // namespace
}  // namespace shardscore

namespace shardscore {
namespace {
using namespace shardscore::op_test;

// shardscore.FusedConv (made by the fusion pass): Conv, + residual Z, then Relu — against the
// direct convolution reference plus the same epilogue in double.
void check_fused_conv(OpTest* t, const ConvCase& c, bool residual, bool relu, bool broadcast_residual, std::mt19937& rng,
                      const std::function<Status(std::vector<Tensor>, Attrs, std::vector<Tensor>*)>& run) {
  SCOPED_TRACE(std::string("FusedConv residual=") + (residual ? (broadcast_residual ? "broadcast" : "same") : "none") +
               " relu=" + (relu ? "yes" : "no"));
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(static_cast<std::size_t>(numel_of(c.xs))), w(static_cast<std::size_t>(numel_of(c.ws))), b;
  for (auto& v : x) v = u(rng);
  for (auto& v : w) v = u(rng);
  std::vector<Tensor> in = {make(c.xs, x), make(c.ws, w)};
  if (c.bias) {
    b.resize(static_cast<std::size_t>(c.ws[0]));
    for (auto& v : b) v = u(rng);
    in.push_back(make<float>({c.ws[0]}, b));
  } else {
    in.push_back(Tensor());
  }
  std::vector<double> ref = conv_ref(c, x, w, b);
  if (residual) {
    const Shape zs = broadcast_residual ? Shape{1, c.ys[1], 1, 1} : c.ys;
    std::vector<float> z(static_cast<std::size_t>(numel_of(zs)));
    for (auto& v : z) v = u(rng);
    in.push_back(make(zs, z));
    for (int64_t i = 0; i < numel_of(c.ys); ++i) {
      const auto idx = unravel(i, c.ys);
      ref[i] += z[broadcast_flat(idx, zs)];
    }
  }
  if (relu)
    for (auto& v : ref) v = std::max(v, 0.0);
  Attrs at = c.attrs;
  if (relu) {
    Attribute a;
    a.type = Attribute::Type::kString;
    a.s = "Relu";
    at["activation"] = a;
  }
  std::vector<Tensor> outs;
  ASSERT_TRUE(run(in, at, &outs).ok());
  expect_near(outs.at(0), DType::kFloat32, c.ys, ref, kTolReduce);
  (void)t;
}

TEST_P(OpTest, FusedConv_ResidualAndRelu_DenseAndDepthwise) {
  auto run = [&](std::vector<Tensor> in, Attrs at, std::vector<Tensor>* outs) {
    return run_op("FusedConv", std::move(in), outs, std::move(at), 1, "shardscore");
  };
  const ConvCase dense{.xs = {2, 3, 6, 5}, .ws = {4, 3, 3, 3}, .pads = {1, 1, 1, 1}, .bias = true,
                       .attrs = {{"pads", a_ints({1, 1, 1, 1})}}, .ys = {2, 4, 6, 5}};
  const ConvCase depthwise{.xs = {2, 4, 6, 6}, .ws = {4, 1, 3, 3}, .group = 4, .s = {2, 2}, .bias = true,
                           .attrs = {{"group", a_int(4)}, {"strides", a_ints({2, 2})}}, .ys = {2, 4, 2, 2}};
  const ConvCase no_bias{.xs = {1, 2, 4, 4}, .ws = {3, 2, 1, 1}, .ys = {1, 3, 4, 4}};
  for (const ConvCase* c : {&dense, &depthwise, &no_bias}) {
    check_fused_conv(this, *c, true, true, false, rng_, run);
    check_fused_conv(this, *c, true, false, false, rng_, run);
    check_fused_conv(this, *c, false, true, false, rng_, run);
    check_fused_conv(this, *c, true, true, true, rng_, run);  // broadcast residual: separate Add
  }
}

// layout "NHWC" (pass_nhwc_convs, the CUDA backend's tensor-core layout): X [N, H, W, C], W
// [M, kH, kW, C], residual and Y [N, oH, oW, M], against a float64 convolution indexed in NHWC.
TEST_P(OpTest, FusedConv_NhwcLayout_ResidualBiasRelu) {
  struct Case {
    int64_t n, h, w, c, m, k, stride, pad;
    bool bias, residual, relu;
  };
  const Case cases[] = {{2, 7, 6, 5, 4, 3, 1, 1, true, true, true}, {1, 9, 9, 3, 8, 3, 2, 1, true, false, true},
                        {3, 4, 5, 16, 8, 1, 1, 0, false, true, false}, {1, 8, 8, 3, 4, 7, 2, 3, true, false, false}};
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "C " << c.c << " M " << c.m << " k " << c.k << " stride " << c.stride);
    const int64_t oh = (c.h + 2 * c.pad - c.k) / c.stride + 1, ow = (c.w + 2 * c.pad - c.k) / c.stride + 1;
    auto x = rand_f32(c.n * c.h * c.w * c.c), w = rand_f32(c.m * c.k * c.k * c.c), b = rand_f32(c.m);
    auto z = rand_f32(c.n * oh * ow * c.m);
    std::vector<double> ref(static_cast<std::size_t>(c.n * oh * ow * c.m));
    for (int64_t i = 0; i < c.n; ++i)
      for (int64_t y0 = 0; y0 < oh; ++y0)
        for (int64_t x0 = 0; x0 < ow; ++x0)
          for (int64_t o = 0; o < c.m; ++o) {
            double acc = c.bias ? b[o] : 0.0;
            for (int64_t p = 0; p < c.k; ++p)
              for (int64_t q = 0; q < c.k; ++q) {
                const int64_t yy = y0 * c.stride - c.pad + p, xx = x0 * c.stride - c.pad + q;
                if (yy < 0 || yy >= c.h || xx < 0 || xx >= c.w) continue;
                for (int64_t ch = 0; ch < c.c; ++ch)
                  acc += double{x[((i * c.h + yy) * c.w + xx) * c.c + ch]} * w[((o * c.k + p) * c.k + q) * c.c + ch];
              }
            const int64_t at = ((i * oh + y0) * ow + x0) * c.m + o;
            if (c.residual) acc += z[at];
            ref[at] = c.relu && acc < 0 ? 0.0 : acc;
          }
    std::vector<Tensor> in = {make<float>({c.n, c.h, c.w, c.c}, x), make<float>({c.m, c.k, c.k, c.c}, w),
                              c.bias ? make<float>({c.m}, b) : Tensor()};
    if (c.residual) in.push_back(make<float>({c.n, oh, ow, c.m}, z));
    Attrs at = {{"layout", a_string("NHWC")}, {"pads", a_ints({c.pad, c.pad, c.pad, c.pad})},
                {"strides", a_ints({c.stride, c.stride})}};
    if (c.relu) at["activation"] = a_string("Relu");
    Tensor out = run1("FusedConv", in, at, 1, "shardscore");
    expect_near(out, DType::kFloat32, {c.n, oh, ow, c.m}, ref, kTolReduce);
  }
  expect_error(StatusCode::kInvalidArgument, "layout 'NCWH'", "FusedConv",
               {make<float>({1, 4, 4, 2}, rand_f32(32)), make<float>({2, 1, 1, 2}, rand_f32(4))},
               {{"layout", a_string("NCWH")}}, 1, "shardscore");
}

// The oneDNN path (pass_blocked_conv_layout sets src_layout / dst_layout): every pair of layouts,
// with residual and Relu; X and the residual are put into the blocked layout, and Y taken out of
// it, by the test's own index arithmetic ([N, C/b, H, W, b], channel c at block c/b, lane c%b).
std::vector<float> blocked_of(const std::vector<float>& x, const Shape& s, int64_t b) {
  const int64_t n = s[0], c = s[1], hw = s[2] * s[3], cb = (c + b - 1) / b;
  std::vector<float> y(static_cast<std::size_t>(n * cb * hw * b), 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t q = 0; q < hw; ++q) y[((i * cb + ch / b) * hw + q) * b + ch % b] = x[(i * c + ch) * hw + q];
  return y;
}
std::vector<double> plain_of(const Tensor& t, int64_t channels) {
  const int64_t n = t.dim(0), cb = t.dim(1), hw = t.dim(2) * t.dim(3), b = t.dim(4);
  std::vector<double> y(static_cast<std::size_t>(n * channels * hw));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < channels; ++ch)
      for (int64_t q = 0; q < hw; ++q) y[(i * channels + ch) * hw + q] = t.data<float>()[((i * cb + ch / b) * hw + q) * b + ch % b];
  return y;
}

TEST_P(OpTest, FusedConv_OnednnLayouts) {
  if (!cpu_only()) GTEST_SKIP() << "the CPU backend's oneDNN blocked layout";
  const int64_t b = onednn_channel_block();
  const ConvCase cases[] = {
      {.xs = {2, 3, 9, 8}, .ws = {b, 3, 3, 3}, .s = {2, 1}, .pads = {1, 0, 2, 1}, .bias = true,
       .attrs = {{"strides", a_ints({2, 1})}, {"pads", a_ints({1, 0, 2, 1})}}, .ys = {2, b, 5, 7}},
      {.xs = {3, b, 5, 5}, .ws = {2 * b, b, 1, 1}, .ys = {3, 2 * b, 5, 5}},
      {.xs = {1, 2 * b, 7, 6}, .ws = {b, 2 * b, 3, 3}, .d = {2, 2}, .pads = {2, 2, 2, 2}, .bias = true,
       .attrs = {{"dilations", a_ints({2, 2})}, {"pads", a_ints({2, 2, 2, 2})}}, .ys = {1, b, 7, 6}},
  };
  std::uniform_real_distribution<float> u(-1, 1);
  for (const ConvCase& c : cases) {
    for (const char* src : {"plain", "blocked"}) {
      if (std::string(src) == "blocked" && c.xs[1] % b != 0) continue;
      for (const char* dst : {"plain", "blocked"}) {
        for (int variant = 0; variant < 3; ++variant) {  // 0: plain conv, 1: + residual + Relu, 2: Relu
          SCOPED_TRACE(std::string("src ") + src + " dst " + dst + " X " + shape_to_string(c.xs) + " variant " +
                       std::to_string(variant));
          std::vector<float> x(static_cast<std::size_t>(numel_of(c.xs))), w(static_cast<std::size_t>(numel_of(c.ws))),
              bias, z(static_cast<std::size_t>(numel_of(c.ys)));
          for (auto* v : {&x, &w, &z})
            for (auto& e : *v) e = u(rng_);
          std::vector<double> magnitude;
          std::vector<double> ref =
              conv_ref(c, x, w, c.bias ? (bias = std::vector<float>(c.ws[0], 0.25f)) : bias, &magnitude);
          const bool blocked_in = std::string(src) == "blocked", blocked_out = std::string(dst) == "blocked";
          const int64_t cbx = (c.xs[1] + b - 1) / b, cby = (c.ys[1] + b - 1) / b;
          std::vector<Tensor> in = {blocked_in ? make<float>({c.xs[0], cbx, c.xs[2], c.xs[3], b}, blocked_of(x, c.xs, b))
                                               : make(c.xs, x),
                                    make(c.ws, w), c.bias ? make<float>({c.ws[0]}, bias) : Tensor()};
          Attrs at = c.attrs;
          at["src_layout"] = a_string(src);
          at["dst_layout"] = a_string(dst);
          if (variant == 1) {
            in.push_back(blocked_out ? make<float>({c.ys[0], cby, c.ys[2], c.ys[3], b}, blocked_of(z, c.ys, b)) : make(c.ys, z));
            for (std::size_t i = 0; i < ref.size(); ++i) ref[i] += z[i], magnitude[i] += std::fabs(z[i]);
          }
          if (variant >= 1) {
            at["activation"] = a_string("Relu");
            for (auto& v : ref) v = std::max(v, 0.0);
          }
          std::vector<Tensor> outs;
          Status st = run_op("FusedConv", std::move(in), &outs, at, 1, "shardscore");
          ASSERT_TRUE(st.ok()) << st.message();
          if (blocked_out) {
            ASSERT_EQ(outs[0].shape(), (Shape{c.ys[0], cby, c.ys[2], c.ys[3], b}));
            expect_near(make<double>(c.ys, plain_of(outs[0], c.ys[1])), DType::kFloat64, c.ys, ref, kTolReduce,
                        conv_slack(magnitude));
          } else {
            expect_near(outs[0], DType::kFloat32, c.ys, ref, kTolReduce, conv_slack(magnitude));
          }
        }
      }
    }
  }
}

TEST_P(OpTest, FusedConv_OnednnImageIndependentOfBatch_Bitwise) {
  if (!cpu_only()) GTEST_SKIP() << "the CPU backend's oneDNN blocked layout";
  // 11 images run as a group of 8 in one oneDNN call and 3 alone: every image's bits must equal its
  // result alone, and the result in a batch of 5 (all alone) too.
  const int64_t b = onednn_channel_block();
  const Shape xs{11, b, 8, 8}, ws{b, b, 3, 3};
  const auto x = rand_f32(numel_of(xs)), w = rand_f32(numel_of(ws));
  const Tensor wt = make(ws, w);  // one weight tensor, as in a model (packed once)
  Attrs at{{"pads", a_ints({1, 1, 1, 1})}, {"src_layout", a_string("plain")}, {"dst_layout", a_string("plain")}};
  Tensor all = run1("FusedConv", {make(xs, x), wt}, at, 1, "shardscore");
  const int64_t per = b * 64;
  Tensor five = run1("FusedConv", {make<float>({5, b, 8, 8}, std::vector<float>(x.begin() + 6 * per, x.begin() + 11 * per)), wt},
                     at, 1, "shardscore");
  for (int64_t i : {0, 3, 7, 8, 10}) {
    Tensor one = run1("FusedConv", {make<float>({1, b, 8, 8}, std::vector<float>(x.begin() + i * per, x.begin() + (i + 1) * per)), wt},
                      at, 1, "shardscore");
    ASSERT_EQ(one.numel(), per);
    EXPECT_EQ(std::memcmp(one.data<float>(), all.data<float>() + i * per, static_cast<std::size_t>(per) * sizeof(float)), 0)
        << "image " << i << " of 11";
    if (i >= 6) {
      EXPECT_EQ(std::memcmp(one.data<float>(), five.data<float>() + (i - 6) * per, static_cast<std::size_t>(per) * sizeof(float)), 0)
          << "image " << i << " in a batch of 5";
    }
  }
}

TEST_P(OpTest, FusedConv_OnednnReluKeepsNaN) {
  if (!cpu_only()) GTEST_SKIP() << "the CPU backend's oneDNN blocked layout";
  // A NaN pixel reaches every output its 1x1 window covers, through the Relu (as in ONNX Runtime).
  const int64_t b = onednn_channel_block();
  auto x = rand_f32(b * 9);
  x[4] = std::numeric_limits<float>::quiet_NaN();  // channel 0, pixel (1, 1)
  Attrs at{{"src_layout", a_string("blocked")}, {"dst_layout", a_string("blocked")}, {"activation", a_string("Relu")}};
  Tensor y = run1("FusedConv", {make<float>({1, 1, 3, 3, b}, blocked_of(x, {1, b, 3, 3}, b)),
                                make<float>({b, b, 1, 1}, rand_f32(b * b))},
                  at, 1, "shardscore");
  const std::vector<double> plain = plain_of(y, b);
  for (int64_t m = 0; m < b; ++m)
    for (int64_t q = 0; q < 9; ++q) EXPECT_EQ(std::isnan(plain[m * 9 + q]), q == 4) << "channel " << m << " pixel " << q;
}

TEST_P(OpTest, FusedConv_OnednnInPlaceResidualAndKernelRelu) {
  if (!cpu_only()) GTEST_SKIP() << "the CPU backend's oneDNN blocked layout";
  // y = Relu(conv(x) + b + z) four ways: z read by a binary post-op or summed in its own buffer
  // (in place), Relu as our NaN-keeping pass or oneDNN's post-op. All four within float32 rounding
  // of the float64 convolution; for each way of adding z, the two Relus give the same bits; in
  // place, an image's bits do not depend on its batch (9 images = a group of 8 and one alone).
  // 3x3 and 1x1 kernels (oneDNN's two kernels), the 1x1 with enough input channels to be summed
  // in several blocks.
  const int64_t b = onednn_channel_block();
  for (const int64_t k : {3, 1}) {
    const int64_t cin = k == 3 ? 2 * b : 16 * b, cout = 2 * b, h = 5, wd = 4;
    SCOPED_TRACE("kernel " + std::to_string(k) + ", " + std::to_string(cin) + " input channels");
    const Shape xs{9, cin / b, h, wd, b}, ws{cout, cin, k, k}, ys{9, cout / b, h, wd, b};
    const Tensor x = make<float>(xs, rand_f32(numel_of(xs), -2, 2)), w = make<float>(ws, rand_f32(numel_of(ws), -0.3f, 0.3f));
    const Tensor bias = make<float>({cout}, rand_f32(cout));
    const Tensor z = make<float>(ys, rand_f32(numel_of(ys), -2, 2));
    OnednnConvSpec spec;
    spec.pad_begin[0] = spec.pad_begin[1] = spec.pad_end[0] = spec.pad_end[1] = k / 2;
    spec.out[0] = h;
    spec.out[1] = wd;
    spec.src = spec.dst = ConvLayout::kBlocked;
    spec.relu = true;
    // float64 reference, in NCHW
    const std::vector<double> xd = plain_of(x, cin), zd = plain_of(z, cout);
    ConvCase c{.xs = {9, cin, h, wd}, .ws = ws, .pads = {k / 2, k / 2, k / 2, k / 2}, .bias = true, .ys = {9, cout, h, wd}};
    std::vector<double> want = conv_ref(c, std::vector<float>(xd.begin(), xd.end()),
                                        std::vector<float>(w.data<float>(), w.data<float>() + w.numel()),
                                        std::vector<float>(bias.data<float>(), bias.data<float>() + bias.numel()));
    int64_t cut = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      cut += want[i] + zd[i] < 0;
      want[i] = std::max(want[i] + zd[i], 0.0);
    }
    EXPECT_GT(cut, static_cast<int64_t>(want.size()) / 5) << "too few negatives for the Relu to cut";
    for (const bool in_place : {false, true}) {
      Tensor pass;  // this way of adding z, Relu as our pass
      for (const bool kernel_relu : {false, true}) {
        SCOPED_TRACE(std::string(in_place ? "in place" : "binary post-op") + (kernel_relu ? ", Relu in oneDNN" : ", Relu pass"));
        spec.relu_in_kernel = kernel_relu;
        Tensor own = Tensor::copy_of(DType::kFloat32, ys, z.raw());  // the residual's tensor, given up when in place
        StatusOr<Tensor> y = onednn_conv(x, w, &bias, &own, spec, in_place ? &own : nullptr);
        ASSERT_TRUE(y.ok()) << y.status().message();
        EXPECT_EQ(own.empty(), in_place) << "an in-place residual is taken, a read one is left";
        expect_near(make<double>(c.ys, plain_of(*y, cout)), DType::kFloat64, c.ys, want, kTolReduce);
        if (!kernel_relu) {
          pass = std::move(*y);
          continue;
        }
        EXPECT_EQ(std::memcmp(y->raw(), pass.raw(), pass.nbytes()), 0) << "the two Relus differ";
        if (!in_place) continue;
        const int64_t per_x = x.numel() / 9, per_y = pass.numel() / 9;
        for (const int64_t i : {2, 8}) {  // one of the group of 8, and the one alone
          Tensor xi = make<float>({1, cin / b, h, wd, b}, std::vector<float>(x.data<float>() + i * per_x, x.data<float>() + (i + 1) * per_x));
          Tensor zi = make<float>({1, cout / b, h, wd, b}, std::vector<float>(z.data<float>() + i * per_y, z.data<float>() + (i + 1) * per_y));
          StatusOr<Tensor> one = onednn_conv(xi, w, &bias, &zi, spec, &zi);
          ASSERT_TRUE(one.ok()) << one.status().message();
          EXPECT_EQ(std::memcmp(one->raw(), pass.data<float>() + i * per_y, static_cast<std::size_t>(per_y) * sizeof(float)), 0)
              << "image " << i << " alone differs from its result in the batch of 9";
        }
      }
    }
  }
}

TEST_P(OpTest, FusedConv_OnednnImageIndependentOfNaNElsewhereInBatch_Bitwise) {
  if (!cpu_only()) GTEST_SKIP() << "the CPU backend's oneDNN blocked layout";
  // A batch of finite values runs its Relu inside oneDNN; one NaN in the batch sends it through
  // the NaN-keeping pass. Image 0 must not notice: same bits either way. Image 1's NaN pixel
  // reaches every output its 3x3 window covers, through the Relu.
  const int64_t b = onednn_channel_block();
  const Shape xs{2, 1, 5, 5, b}, ws{b, b, 3, 3};
  auto x = rand_f32(numel_of(xs), -2, 2);
  const Tensor w = make<float>(ws, rand_f32(numel_of(ws)));
  const Tensor z = make<float>(xs, rand_f32(numel_of(xs), -2, 2));
  Attrs at{{"pads", a_ints({1, 1, 1, 1})}, {"src_layout", a_string("blocked")}, {"dst_layout", a_string("blocked")},
           {"activation", a_string("Relu")}};
  Tensor finite = run1("FusedConv", {make<float>(xs, x), w, Tensor(), z}, at, 1, "shardscore");
  const int64_t per = 25 * b;
  x[static_cast<std::size_t>(per + (2 * 5 + 2) * b + 3)] = std::numeric_limits<float>::quiet_NaN();  // image 1, (2, 2), lane 3
  Tensor with_nan = run1("FusedConv", {make<float>(xs, x), w, Tensor(), z}, at, 1, "shardscore");
  EXPECT_EQ(std::memcmp(finite.data<float>(), with_nan.data<float>(), static_cast<std::size_t>(per) * sizeof(float)), 0)
      << "image 0 changed with a NaN in image 1";
  for (int64_t q = 0; q < 25; ++q) {
    const int64_t oy = q / 5, ox = q % 5;
    const bool covered = std::abs(oy - 2) <= 1 && std::abs(ox - 2) <= 1;
    for (int64_t l = 0; l < b; ++l)
      EXPECT_EQ(std::isnan(with_nan.data<float>()[per + q * b + l]), covered) << "pixel (" << oy << ", " << ox << ") lane " << l;
  }
}

TEST_P(OpTest, FusedConv_OnednnErrors) {
  if (!cpu_only()) GTEST_SKIP() << "the CPU backend's oneDNN blocked layout";
  const int64_t b = onednn_channel_block();
  Attrs at{{"src_layout", a_string("blocked")}, {"dst_layout", a_string("plain")}};
  // a plain X where the node says blocked
  expect_error(StatusCode::kInvalidArgument, "blocked", "FusedConv",
               {make<float>({1, b, 3, 3}, rand_f32(9 * b)), make<float>({b, b, 1, 1}, rand_f32(b * b))}, at, 1, "shardscore");
  at["group"] = a_int(2);
  expect_error(StatusCode::kInvalidArgument, "group 1", "FusedConv",
               {make<float>({1, 1, 3, 3, b}, rand_f32(9 * b)), make<float>({b, b / 2, 1, 1}, rand_f32(b * b / 2))}, at, 1,
               "shardscore");
}

TEST_P(OpTest, FusedConv_OnednnWinogradNearFloat64PerImageAndNotOnBadValues) {
  if (!cpu_only()) GTEST_SKIP() << "the CPU backend's oneDNN blocked layout";
  const int64_t b = onednn_channel_block();
  const int64_t cin = 2 * b, cout = 2 * b, h = 9, wd = 7, n = 11;
  OnednnConvSpec spec;
  spec.pad_begin[0] = spec.pad_begin[1] = spec.pad_end[0] = spec.pad_end[1] = 1;
  spec.out[0] = h;
  spec.out[1] = wd;
  spec.src = spec.dst = ConvLayout::kBlocked;
  const Shape xs{n, cin / b, h, wd, b}, ws{cout, cin, 3, 3};
  const Tensor w = make<float>(ws, rand_f32(numel_of(ws), -0.3f, 0.3f)), bias = make<float>({cout}, rand_f32(cout));

  // Which convolutions take it: small 3x3, stride 1, no dilation, blocked in and out.
  EXPECT_TRUE(onednn_conv_winograd(w, spec));
  EXPECT_TRUE(onednn_conv_winograd(Tensor(DType::kFloat32, {256, 256, 3, 3}), spec));
  EXPECT_FALSE(onednn_conv_winograd(Tensor(DType::kFloat32, {512, 256, 3, 3}), spec)) << "past 2^20 weights";
  EXPECT_FALSE(onednn_conv_winograd(Tensor(DType::kFloat32, {cout, cin, 1, 1}), spec)) << "1x1";
  EXPECT_FALSE(onednn_conv_winograd(Tensor(DType::kFloat32, {cout, cin, 5, 5}), spec)) << "5x5";
  for (const auto& [what, change] : std::vector<std::pair<std::string, std::function<void(OnednnConvSpec&)>>>{
           {"stride 2", [](OnednnConvSpec& s) { s.stride[1] = 2; }},
           {"dilation 2", [](OnednnConvSpec& s) { s.dilation[0] = 2; }},
           {"NCHW input", [](OnednnConvSpec& s) { s.src = ConvLayout::kPlain; }},
           {"NCHW output", [](OnednnConvSpec& s) { s.dst = ConvLayout::kPlain; }},
           {"turned off", [](OnednnConvSpec& s) { s.winograd = false; }}}) {
    OnednnConvSpec other = spec;
    change(other);
    EXPECT_FALSE(onednn_conv_winograd(w, other)) << what;
  }

  // Finite images: near the float64 convolution, as the direct algorithm is, and (where oneDNN
  // has the kernel: AVX-512) not the direct algorithm's bits, so Winograd did run.
  auto xv = rand_f32(numel_of(xs), -2, 2);
  const Tensor x = make<float>(xs, xv);
  ConvCase c{.xs = {n, cin, h, wd}, .ws = ws, .pads = {1, 1, 1, 1}, .bias = true, .ys = {n, cout, h, wd}};
  const std::vector<double> xd = plain_of(x, cin);
  const std::vector<double> want = conv_ref(c, std::vector<float>(xd.begin(), xd.end()),
                                            std::vector<float>(w.data<float>(), w.data<float>() + w.numel()),
                                            std::vector<float>(bias.data<float>(), bias.data<float>() + bias.numel()));
  OnednnConvSpec direct_spec = spec;
  direct_spec.winograd = false;
  StatusOr<Tensor> wino = onednn_conv(x, w, &bias, nullptr, spec);
  StatusOr<Tensor> direct = onednn_conv(x, w, &bias, nullptr, direct_spec);
  ASSERT_TRUE(wino.ok()) << wino.status().message();
  ASSERT_TRUE(direct.ok()) << direct.status().message();
  expect_near(make<double>(c.ys, plain_of(*wino, cout)), DType::kFloat64, c.ys, want, kTolReduce);
  expect_near(make<double>(c.ys, plain_of(*direct, cout)), DType::kFloat64, c.ys, want, kTolReduce);
  if (cpu_isa() == CpuIsa::kAvx512) {
    EXPECT_NE(std::memcmp(wino->raw(), direct->raw(), direct->nbytes()), 0) << "Winograd gave the direct algorithm's bits";
  }

  // An image's bits do not depend on its batch.
  const int64_t per_x = x.numel() / n, per_y = wino->numel() / n;
  auto image = [&](const std::vector<float>& v, int64_t i) {
    return make<float>({1, cin / b, h, wd, b}, std::vector<float>(v.begin() + i * per_x, v.begin() + (i + 1) * per_x));
  };
  for (const int64_t i : {0, 5, 10}) {
    StatusOr<Tensor> one = onednn_conv(image(xv, i), w, &bias, nullptr, spec);
    ASSERT_TRUE(one.ok()) << one.status().message();
    EXPECT_EQ(std::memcmp(one->raw(), wino->data<float>() + i * per_y, static_cast<std::size_t>(per_y) * sizeof(float)), 0)
        << "image " << i << " alone differs from its result in the batch of " << n;
  }

  // A NaN in image 4 and an infinity in image 7: those two take the direct algorithm (same bits as
  // it, the bad value reaching exactly the outputs whose window reads it); the others keep theirs.
  xv[static_cast<std::size_t>(4 * per_x + (4 * wd + 3) * b + 1)] = std::numeric_limits<float>::quiet_NaN();  // (4, 3)
  xv[static_cast<std::size_t>(7 * per_x + (0 * wd + 0) * b + 2)] = std::numeric_limits<float>::infinity();   // (0, 0)
  const Tensor bad = make<float>(xs, xv);
  StatusOr<Tensor> mixed = onednn_conv(bad, w, &bias, nullptr, spec);
  StatusOr<Tensor> mixed_direct = onednn_conv(bad, w, &bias, nullptr, direct_spec);
  ASSERT_TRUE(mixed.ok()) << mixed.status().message();
  ASSERT_TRUE(mixed_direct.ok()) << mixed_direct.status().message();
  for (int64_t i = 0; i < n; ++i) {
    const Tensor& same_as = (i == 4 || i == 7) ? *mixed_direct : *wino;
    EXPECT_EQ(std::memcmp(mixed->data<float>() + i * per_y, same_as.data<float>() + i * per_y,
                          static_cast<std::size_t>(per_y) * sizeof(float)),
              0)
        << "image " << i;
  }
  const std::vector<double> got = plain_of(*mixed, cout);
  for (int64_t m = 0; m < cout; ++m)
    for (int64_t oy = 0; oy < h; ++oy)
      for (int64_t ox = 0; ox < wd; ++ox) {
        const bool near_nan = std::abs(oy - 4) <= 1 && std::abs(ox - 3) <= 1, near_inf = oy <= 1 && ox <= 1;
        EXPECT_EQ(std::isnan(got[((4 * cout + m) * h + oy) * wd + ox]), near_nan) << "image 4 (" << oy << ", " << ox << ")";
        EXPECT_EQ(std::isfinite(got[((7 * cout + m) * h + oy) * wd + ox]), !near_inf) << "image 7 (" << oy << ", " << ox << ")";
      }
}

TEST_P(OpTest, BlockedMaxPool_MatchesMaxPoolPerChannel) {
  if (!cpu_only()) GTEST_SKIP() << "the CPU backend's oneDNN blocked layout";
  // 3x3 stride 2 pad 1 (ResNet's stem pool) and 2x2 ceil_mode, 20 channels in blocks of 8 (the
  // last block half padding); a NaN stays NaN through every window that holds it.
  const int64_t b = 8, c = 20, h = 7, w = 6;
  auto x = rand_f32(2 * c * h * w, -5, 5);
  x[(1 * c + 13) * h * w + 2 * w + 3] = std::numeric_limits<float>::quiet_NaN();  // image 1, channel 13, (2, 3)
  const Shape xs{2, c, h, w};
  struct Case {
    Attrs attrs;
    int64_t k, s, p;
    bool ceil;
  };
  const Case cases[] = {
      {{{"kernel_shape", a_ints({3, 3})}, {"strides", a_ints({2, 2})}, {"pads", a_ints({1, 1, 1, 1})}}, 3, 2, 1, false},
      {{{"kernel_shape", a_ints({2, 2})}, {"strides", a_ints({2, 2})}, {"ceil_mode", a_int(1)}}, 2, 2, 0, true},
  };
  for (const Case& cs : cases) {
    const int64_t oh = cs.ceil ? (h + 2 * cs.p - cs.k + cs.s - 1) / cs.s + 1 : (h + 2 * cs.p - cs.k) / cs.s + 1;
    const int64_t ow = cs.ceil ? (w + 2 * cs.p - cs.k + cs.s - 1) / cs.s + 1 : (w + 2 * cs.p - cs.k) / cs.s + 1;
    Tensor y = run1("BlockedMaxPool", {make<float>({2, 3, h, w, b}, blocked_of(x, xs, b))}, cs.attrs, 1, "shardscore");
    ASSERT_EQ(y.shape(), (Shape{2, 3, oh, ow, b}));
    const std::vector<double> got = plain_of(y, c);
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            double best = -std::numeric_limits<double>::infinity();
            bool nan = false;
            for (int64_t i = 0; i < cs.k; ++i)
              for (int64_t j = 0; j < cs.k; ++j) {
                const int64_t iy = oy * cs.s - cs.p + i, ix = ox * cs.s - cs.p + j;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                const double v = x[((n * c + ch) * h + iy) * w + ix];
                nan |= std::isnan(v);
                best = std::max(best, v);
              }
            const double g = got[((n * c + ch) * oh + oy) * ow + ox];
            if (nan) EXPECT_TRUE(std::isnan(g)) << n << " " << ch << " " << oy << " " << ox;
            else EXPECT_EQ(g, best) << n << " " << ch << " " << oy << " " << ox;
          }
  }
  expect_error(StatusCode::kInvalidArgument, "blocked", "BlockedMaxPool", {make(xs, x)},
               {{"kernel_shape", a_ints({2, 2})}}, 1, "shardscore");
}

TEST_P(OpTest, ToBlocked_PadsChannelsWithZeros) {
  if (!cpu_only()) GTEST_SKIP() << "the CPU backend's oneDNN blocked layout";
  const int64_t b = 4;
  const Shape xs{2, 6, 2, 3};
  const auto x = rand_f32(numel_of(xs));
  Tensor y = run1("ToBlocked", {make(xs, x)}, {{"block", a_int(b)}}, 1, "shardscore");
  ASSERT_EQ(y.shape(), (Shape{2, 2, 2, 3, b}));
  const std::vector<float> want = blocked_of(x, xs, b);
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(y.data<float>()[i], want[i]) << i;
  expect_error(StatusCode::kInvalidArgument, "block", "ToBlocked", {make(xs, x)}, {{"block", a_int(0)}}, 1, "shardscore");
}

TEST_P(OpTest, FromBlocked_DropsPaddingChannels) {
  if (!cpu_only()) GTEST_SKIP() << "the CPU backend's oneDNN blocked layout";
  const int64_t b = 4;
  const Shape ys{2, 6, 2, 3};
  const auto x = rand_f32(numel_of(ys));
  std::vector<float> blocked = blocked_of(x, ys, b);
  for (int64_t i = 0; i < 2; ++i)  // garbage in the padding lanes must not reach the output
    for (int64_t q = 0; q < 6; ++q) blocked[((i * 2 + 1) * 6 + q) * b + 3] = 1e30f;
  Tensor y = run1("FromBlocked", {make<float>({2, 2, 2, 3, b}, blocked)}, {{"channels", a_int(6)}}, 1, "shardscore");
  expect_near(y, DType::kFloat32, ys, as_doubles(x), kExact);
  expect_error(StatusCode::kInvalidArgument, "blocked", "FromBlocked", {make<float>({2, 2, 2, 3, b}, blocked)},
               {{"channels", a_int(9)}}, 1, "shardscore");
}

TEST_P(OpTest, FusedConv_UnknownActivation_Error) {
  Attribute a;
  a.type = Attribute::Type::kString;
  a.s = "Swish";
  expect_error(StatusCode::kUnimplemented, "Swish", "FusedConv",
               {make<float>({1, 1, 3, 3}, rand_f32(9)), make<float>({1, 1, 1, 1}, rand_f32(1))}, {{"activation", a}}, 1,
               "shardscore");
}

}  // namespace
}  // namespace shardscore
