// float16 through the op runner (op_run_cpu): ops that compute see float32 and their results are
// rounded to float16 once; ops that move elements keep float16 bits as they are. References are
// float64 computations rounded with the IEEE binary16 conversion of engine/cpu/float16.h (whose
// own exactness is checked by the Cast tests).
#include <bit>
#include <tuple>
#include <vector>

#include "engine/cpu/float16.h"
#include "op_test.h"

namespace shardscore::op_test {
namespace {

// Random float16 values (as bits) in [lo, hi]: float32 draws rounded to half.
std::vector<uint16_t> rand_half(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<uint16_t> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = float_to_half(d(rng));
  return v;
}

Tensor make_half(Shape shape, const std::vector<uint16_t>& bits) {
  return Tensor::copy_of(DType::kFloat16, std::move(shape), bits.data());
}

// Asserts a float16 output of `shape` and |got - ref| <= ulps * 2^-10 * max(1, |ref|) (ulps of
// float16 at 1.0); ref is rounded to float16 first, so 0 ulps demands the correctly rounded value.
void expect_half_near(const Tensor& out, const Shape& shape, const std::vector<double>& ref, double ulps) {
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.dtype(), DType::kFloat16) << "got " << dtype_name(out.dtype());
  ASSERT_EQ(out.shape(), shape);
  const std::vector<double> got = to_doubles(out);
  int bad = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double want = half_to_double(double_to_half(ref[i]));
    const double tol = ulps * std::ldexp(1.0, -10) * std::max(1.0, std::fabs(want));
    if (!(std::fabs(got[i] - want) <= tol) && bad++ < 8) {
      ADD_FAILURE() << "at " << index_string(static_cast<int64_t>(i), shape) << ": got " << got[i] << ", want " << want
                    << " (unrounded " << ref[i] << ")";
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST_P(OpTest, Float16_AddRoundsTheExactSumOnce) {
  // Two float16 values sum exactly in float32, so one rounding of the float64 sum is the answer.
  const Shape sa{3, 4}, sb{4};
  const auto a = rand_half(rng_, 12, -60, 60), b = rand_half(rng_, 4, -2, 2);
  Tensor out = run1("Add", {make_half(sa, a), make_half(sb, b)});
  std::vector<double> ref(12);
  for (int64_t i = 0; i < 12; ++i) ref[i] = half_to_double(a[i]) + half_to_double(b[i % 4]);
  expect_half_near(out, sa, ref, 0);
}

TEST_P(OpTest, Float16_MatMulAccumulatesInFloat32) {
  // 64-term dot products of float16 values: float16 accumulation would be off by many ulps; float32
  // accumulation then one rounding is within one float16 ulp of the float64 value.
  const int64_t m = 5, k = 64, n = 7;
  const auto a = rand_half(rng_, m * k, -1, 1), b = rand_half(rng_, k * n, -1, 1);
  Tensor out = run1("MatMul", {make_half({m, k}, a), make_half({k, n}, b)});
  std::vector<double> ref(static_cast<std::size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) s += half_to_double(a[i * k + p]) * half_to_double(b[p * n + j]);
      ref[i * n + j] = s;
    }
  expect_half_near(out, {m, n}, ref, 1);
}

TEST_P(OpTest, Float16_ConvTransposeSumsInFloat32) {
  // float16 X, W and B: the products and their sums in float32 (CUDA: float32 columns from cuBLAS),
  // Y rounded once. Stride 2 with a 3x3 kernel: an output sums 1, 2 or 4 taps of 8 products.
  const int64_t c = 8, m = 2, h = 3, w = 3, k = 3, oh = 7, ow = 7;
  const auto x = rand_half(rng_, c * h * w, -1, 1), wt = rand_half(rng_, c * m * k * k, -1, 1), b = rand_half(rng_, m, -1, 1);
  Tensor out = run1("ConvTranspose", {make_half({1, c, h, w}, x), make_half({c, m, k, k}, wt), make_half({m}, b)},
                    {{"strides", a_ints({2, 2})}});
  std::vector<double> ref(static_cast<std::size_t>(m * oh * ow), 0.0);
  for (int64_t mo = 0; mo < m; ++mo)
    for (int64_t q = 0; q < oh * ow; ++q) ref[mo * oh * ow + q] = half_to_double(b[mo]);
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t iy = 0; iy < h; ++iy)
      for (int64_t ix = 0; ix < w; ++ix)
        for (int64_t mo = 0; mo < m; ++mo)
          for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j)
              ref[(mo * oh + iy * 2 + i) * ow + ix * 2 + j] +=
                  half_to_double(x[(ci * h + iy) * w + ix]) * half_to_double(wt[((ci * m + mo) * k + i) * k + j]);
  expect_half_near(out, {1, m, oh, ow}, ref, 1);
}

TEST_P(OpTest, Float16_SoftmaxAndErf) {
  const Shape s{4, 9};
  const auto x = rand_half(rng_, 36, -4, 4);
  Tensor sm = run1("Softmax", {make_half(s, x)}, {{"axis", a_int(-1)}});
  std::vector<double> ref(36);
  for (int64_t r = 0; r < 4; ++r) {
    double mx = -1e300, sum = 0;
    for (int64_t j = 0; j < 9; ++j) mx = std::max(mx, half_to_double(x[r * 9 + j]));
    for (int64_t j = 0; j < 9; ++j) sum += std::exp(half_to_double(x[r * 9 + j]) - mx);
    for (int64_t j = 0; j < 9; ++j) ref[r * 9 + j] = std::exp(half_to_double(x[r * 9 + j]) - mx) / sum;
  }
  expect_half_near(sm, s, ref, 1);
  Tensor e = run1("Erf", {make_half(s, x)});
  for (int64_t i = 0; i < 36; ++i) ref[i] = std::erf(half_to_double(x[i]));
  expect_half_near(e, s, ref, 1);
}

TEST_P(OpTest, Float16_PowTakesItsBasesType) {
  // Pow(T base, T1 exponent): the output is the base's type. A float32 base with a float16 exponent
  // gives float32 (not rounded to float16), a float16 base with a float32 exponent float16.
  const auto base = rand_f32(12, 0.5f, 3);
  const auto exp_bits = rand_half(rng_, 12, -2, 2);
  Tensor out = run1("Pow", {make<float>({12}, base), make_half({12}, exp_bits)});
  std::vector<double> ref(12);
  for (std::size_t i = 0; i < 12; ++i) ref[i] = std::pow(double{base[i]}, half_to_double(exp_bits[i]));
  expect_near(out, DType::kFloat32, {12}, ref, kTolElementwise);
  const auto base_bits = rand_half(rng_, 12, 0.5f, 3);
  const auto exps = rand_f32(12, -2, 2);
  out = run1("Pow", {make_half({12}, base_bits), make<float>({12}, exps)});
  for (std::size_t i = 0; i < 12; ++i) ref[i] = std::pow(half_to_double(base_bits[i]), double{exps[i]});
  expect_half_near(out, {12}, ref, 1);
}

TEST_P(OpTest, Float16_AttentionComputesInFloat32) {
  // BERT-base's head size at float16: the CPU computes in float32 and rounds once (1 ulp); the GPU
  // also rounds the scores and the softmax weights to float16 on the way, as its MatMul and Softmax
  // would, which moves the result by a few ulps. Also an odd sequence (9: a head's 9 x 9 scores are
  // 162 bytes, which cuBLAS's 2-byte products cannot take as a matrix start) and an odd number of
  // (batch, head) pairs (3: the pointer arrays' alignment). And heads of 12 and 5 values (24 and 10
  // bytes) over 16 and 8 keys: cuBLAS wants 16-byte (4-byte) matrix starts when the product's inner
  // dimension is a multiple of 8 (2), which such heads of V and Y do not give (the CUDA backend then
  // runs P V per example, strided over the heads).
  for (const auto& [b, s, h, d] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>>{
           {2, 24, 2, 64}, {1, 9, 3, 64}, {2, 16, 3, 12}, {3, 8, 2, 5}}) {
    SCOPED_TRACE("batch " + std::to_string(b) + ", sequence " + std::to_string(s) + ", heads " + std::to_string(h) +
                 " of " + std::to_string(d));
    const auto q = rand_half(rng_, b * s * h * d, -1, 1), k = rand_half(rng_, b * s * h * d, -1, 1),
               v = rand_half(rng_, b * s * h * d, -1, 1), mask = rand_half(rng_, b * s, -4, 0);
    Attrs attrs{{"scale", a_float(8)}, {"scale_divides", a_int(1)}};
    Tensor out = run1("Attention",
                      {make_half({b, s, h, d}, q), make_half({b, s, h, d}, k), make_half({b, s, h, d}, v),
                       make_half({b, 1, 1, s}, mask)},
                      attrs, 1, "shardscore");
    std::vector<double> ref(static_cast<std::size_t>(b * s * h * d));
    std::vector<double> p(static_cast<std::size_t>(s));
    for (int64_t n = 0; n < b; ++n)
      for (int64_t hh = 0; hh < h; ++hh)
        for (int64_t i = 0; i < s; ++i) {
          double mx = -1e300, sum = 0;
          for (int64_t j = 0; j < s; ++j) {
            double dot = 0;
            for (int64_t e = 0; e < d; ++e)
              dot += half_to_double(q[((n * s + i) * h + hh) * d + e]) * half_to_double(k[((n * s + j) * h + hh) * d + e]);
            p[j] = dot / 8 + half_to_double(mask[n * s + j]);
            mx = std::max(mx, p[j]);
          }
          for (int64_t j = 0; j < s; ++j) sum += (p[j] = std::exp(p[j] - mx));
          for (int64_t e = 0; e < d; ++e) {
            double acc = 0;
            for (int64_t j = 0; j < s; ++j) acc += p[j] / sum * half_to_double(v[((n * s + j) * h + hh) * d + e]);
            ref[((n * s + i) * h + hh) * d + e] = acc;
          }
        }
    expect_half_near(out, {b, s, h, d}, ref, GetParam() == "cpu" ? 1 : 8);
  }
}

TEST_P(OpTest, Float16_AddLayerNormalizationSumsInFloat32) {
  // The residual's sum is not rounded to float16 before the normalization (one rounding, of Y),
  // whether B has A's shape or is broadcast along the rows.
  const int64_t rows = 6, n = 96;
  for (const bool broadcast : {false, true}) {
    SCOPED_TRACE(broadcast ? "B broadcast" : "B of A's shape");
    const Shape bs = broadcast ? Shape{n} : Shape{rows, n};
    const auto a = rand_half(rng_, rows * n, -3, 3), b = rand_half(rng_, numel_of(bs), -3, 3),
               sc = rand_half(rng_, n, 0.5f, 2), bias = rand_half(rng_, n, -1, 1);
    Tensor out = run1("AddLayerNormalization",
                      {make_half({rows, n}, a), make_half(bs, b), make_half({n}, sc), make_half({n}, bias)}, {}, 1,
                      "shardscore");
    std::vector<double> ref(static_cast<std::size_t>(rows * n));
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      std::vector<double> x(static_cast<std::size_t>(n));
      for (int64_t j = 0; j < n; ++j)
        mean += (x[j] = half_to_double(a[r * n + j]) + half_to_double(b[(broadcast ? 0 : r * n) + j]));
      mean /= n;
      for (int64_t j = 0; j < n; ++j) var += (x[j] - mean) * (x[j] - mean);
      const double inv = 1.0 / std::sqrt(var / n + 1e-5);
      for (int64_t j = 0; j < n; ++j) ref[r * n + j] = (x[j] - mean) * inv * half_to_double(sc[j]) + half_to_double(bias[j]);
    }
    expect_half_near(out, {rows, n}, ref, 1);
  }
}

TEST_P(OpTest, Float16_InstanceNormalizationRoundsOnce) {
  // float16 X, scale and B: statistics and Y computed in float32 or wider, Y rounded to float16 once.
  const Shape xs = {2, 4, 3, 5};
  const int64_t c = 4, inner = 15;
  const auto x = rand_half(rng_, numel_of(xs), -3, 3), sc = rand_half(rng_, c, 0.5f, 2), bias = rand_half(rng_, c, -1, 1);
  Tensor out = run1("InstanceNormalization", {make_half(xs, x), make_half({c}, sc), make_half({c}, bias)});
  std::vector<double> ref(x.size());
  for (int64_t r = 0; r < 2 * c; ++r) {
    double m = 0, var = 0;
    for (int64_t j = 0; j < inner; ++j) m += half_to_double(x[r * inner + j]);
    m /= inner;
    for (int64_t j = 0; j < inner; ++j) var += (half_to_double(x[r * inner + j]) - m) * (half_to_double(x[r * inner + j]) - m);
    const double inv = 1.0 / std::sqrt(var / inner + double{1e-5f});
    for (int64_t j = 0; j < inner; ++j)
      ref[r * inner + j] = (half_to_double(x[r * inner + j]) - m) * inv * half_to_double(sc[r % c]) + half_to_double(bias[r % c]);
  }
  expect_half_near(out, xs, ref, 1);
}

TEST_P(OpTest, Float16_LRNRoundsOnce) {
  // float16 X: the window's squares summed and the quotient taken in float32 or wider, Y rounded to
  // float16 once.
  const Shape xs = {2, 6, 3, 2};
  const int64_t c = 6, inner = 6;
  const auto x = rand_half(rng_, numel_of(xs), -30, 30);
  Tensor out = run1("LRN", {make_half(xs, x)}, {{"size", a_int(4)}, {"alpha", a_float(0.01f)}});
  std::vector<double> ref(x.size());
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t q = 0; q < inner; ++q) {
        double sq = 0;
        for (int64_t k = std::max<int64_t>(0, ci - 1); k <= std::min<int64_t>(c - 1, ci + 2); ++k) {
          const double v = half_to_double(x[(i * c + k) * inner + q]);
          sq += v * v;
        }
        ref[(i * c + ci) * inner + q] =
            half_to_double(x[(i * c + ci) * inner + q]) / std::pow(1.0 + double{0.01f} / 4 * sq, double{0.75f});
      }
  expect_half_near(out, xs, ref, 1);
}

TEST_P(OpTest, Float16_LayerNormalizationMeanAndInvStdDevAreFloat32) {
  // ONNX types Mean and InvStdDev U (float or bfloat16) by stash_type, 1 (float32) by default, not
  // X's T: a float16 X gives float16 Y and float32 statistics, unrounded to float16.
  const int64_t rows = 4, n = 40;
  const auto x = rand_half(rng_, rows * n, -3, 3), sc = rand_half(rng_, n, 0.5f, 2), bias = rand_half(rng_, n, -1, 1);
  std::vector<Tensor> outs;
  const Status st = run_node(*backend_, "LayerNormalization", {make_half({rows, n}, x), make_half({n}, sc), make_half({n}, bias)},
                             3, &outs, {}, 17);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(outs.size(), 3u);
  std::vector<double> y(static_cast<std::size_t>(rows * n)), mean(rows), inv(rows);
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, var = 0;
    for (int64_t j = 0; j < n; ++j) m += half_to_double(x[r * n + j]);
    m /= n;
    for (int64_t j = 0; j < n; ++j) var += (half_to_double(x[r * n + j]) - m) * (half_to_double(x[r * n + j]) - m);
    mean[r] = m;
    inv[r] = 1.0 / std::sqrt(var / n + 1e-5);
    for (int64_t j = 0; j < n; ++j)
      y[r * n + j] = (half_to_double(x[r * n + j]) - m) * inv[r] * half_to_double(sc[j]) + half_to_double(bias[j]);
  }
  expect_half_near(outs[0], {rows, n}, y, GetParam() == "cpu" ? 1 : 8);
  // float32's precision: a float16 rounding of a statistic is off by up to 2^-11 relative, far
  // outside 1e-6.
  expect_near(outs[1], DType::kFloat32, {rows, 1}, mean, 1e-6);
  expect_near(outs[2], DType::kFloat32, {rows, 1}, inv, 1e-6);
}

TEST_P(OpTest, Float16_BatchNormalizationTakesXsType) {
  // BatchNormalization 15 types X and Y T, scale and B T1, input_mean and input_var T2 (each free):
  // float32 X with float16 parameters gives float32 Y, float16 X with float32 parameters float16.
  const Shape xs{2, 3, 4};
  const auto sc = rand_half(rng_, 3, 0.5f, 2), b = rand_half(rng_, 3, -1, 1), m = rand_half(rng_, 3, -1, 1),
             v = rand_half(rng_, 3, 0.5f, 2);
  auto ref_of = [&](const std::vector<double>& xd) {
    std::vector<double> y(xd.size());
    for (std::size_t i = 0; i < xd.size(); ++i) {
      const std::size_t c = (i / 4) % 3;
      y[i] = (xd[i] - half_to_double(m[c])) / std::sqrt(half_to_double(v[c]) + double{1e-5f}) * half_to_double(sc[c]) +
             half_to_double(b[c]);
    }
    return y;
  };
  const auto x = rand_f32(24, -3, 3);
  Tensor out = run1("BatchNormalization", {make<float>(xs, x), make_half({3}, sc), make_half({3}, b), make_half({3}, m),
                                           make_half({3}, v)},
                    {}, 15);
  expect_near(out, DType::kFloat32, xs, ref_of(as_doubles(x)), kTolReduce);
  const auto xh = rand_half(rng_, 24, -3, 3);
  std::vector<double> xhd(24);
  std::vector<float> scf(3), bf(3), mf(3), vf(3);
  for (std::size_t i = 0; i < 24; ++i) xhd[i] = half_to_double(xh[i]);
  for (std::size_t c = 0; c < 3; ++c) {
    scf[c] = static_cast<float>(half_to_double(sc[c])), bf[c] = static_cast<float>(half_to_double(b[c]));
    mf[c] = static_cast<float>(half_to_double(m[c])), vf[c] = static_cast<float>(half_to_double(v[c]));
  }
  out = run1("BatchNormalization", {make_half(xs, xh), make<float>({3}, scf), make<float>({3}, bf), make<float>({3}, mf),
                                    make<float>({3}, vf)},
             {}, 15);
  expect_half_near(out, xs, ref_of(xhd), 1);
}

TEST_P(OpTest, Float16_ComparisonsGiveBool) {
  const std::vector<uint16_t> a{float_to_half(1.5f), float_to_half(-2.0f), float_to_half(0.1f)};
  const std::vector<uint16_t> b{float_to_half(1.5f), float_to_half(2.0f), float_to_half(0.1f)};
  Tensor out = run1("Equal", {make_half({3}, a), make_half({3}, b)});
  ASSERT_EQ(out.dtype(), DType::kBool);
  ASSERT_EQ(out.shape(), (Shape{3}));
  EXPECT_EQ(std::vector<uint8_t>(out.data<uint8_t>(), out.data<uint8_t>() + 3), (std::vector<uint8_t>{1, 0, 1}));
}

TEST_P(OpTest, Float16_DataMovementKeepsTheBits) {
  // NaN payloads and signed zeros survive only if the op never converts.
  std::vector<uint16_t> x = rand_half(rng_, 6, -3, 3);
  x[1] = 0x7e01;  // a NaN with payload
  x[4] = 0x8000;  // -0
  Tensor t = run1("Transpose", {make_half({2, 3}, x)}, {{"perm", a_ints({1, 0})}});
  ASSERT_EQ(t.dtype(), DType::kFloat16);
  ASSERT_EQ(t.shape(), (Shape{3, 2}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(t.data<uint16_t>()[j * 2 + i], x[i * 3 + j]) << i << "," << j;
  Tensor c = run1("Concat", {make_half({2, 3}, x), make_half({2, 3}, x)}, {{"axis", a_int(0)}});
  ASSERT_EQ(c.dtype(), DType::kFloat16);
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(c.data<uint16_t>()[i], x[i % 6]) << i;
}

TEST_P(OpTest, Float16_ConvGivesHalfOutput) {
  // 1x2x5x5 input, 3 filters 2x3x3, pad 1: 18-term sums, float32 accumulation.
  const auto x = rand_half(rng_, 50, -1, 1), w = rand_half(rng_, 54, -1, 1), b = rand_half(rng_, 3, -1, 1);
  Tensor out = run1("Conv", {make_half({1, 2, 5, 5}, x), make_half({3, 2, 3, 3}, w), make_half({3}, b)},
                    {{"pads", a_ints({1, 1, 1, 1})}});
  std::vector<double> ref(75);
  for (int64_t f = 0; f < 3; ++f)
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t j = 0; j < 5; ++j) {
        double s = half_to_double(b[f]);
        for (int64_t c = 0; c < 2; ++c)
          for (int64_t di = 0; di < 3; ++di)
            for (int64_t dj = 0; dj < 3; ++dj) {
              const int64_t y = i + di - 1, z = j + dj - 1;
              if (y < 0 || y >= 5 || z < 0 || z >= 5) continue;
              s += half_to_double(x[(c * 5 + y) * 5 + z]) * half_to_double(w[((f * 2 + c) * 3 + di) * 3 + dj]);
            }
        ref[(f * 5 + i) * 5 + j] = s;
      }
  expect_half_near(out, {1, 3, 5, 5}, ref, 1);
}

// ---- bfloat16 (--precision bf16): the same rules with 8 significant bits ----
// The reference rounding is written out here (frexp and nearbyint), independent of float16.h.

double ref_bfloat16(double d) {
  if (!std::isfinite(d) || d == 0) return d;
  int e = 0;
  const double m = std::frexp(d, &e);  // d = m * 2^e, 0.5 <= |m| < 1
  const double r = std::nearbyint(std::ldexp(m, 8)) * std::ldexp(1.0, e - 8);  // ties to even
  return std::fabs(r) > 3.3895313892515355e38 ? std::copysign(INFINITY, d) : r;
}
double bf16_value(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }
uint16_t bf16_bits_of(double exactly_representable) {
  return static_cast<uint16_t>(std::bit_cast<uint32_t>(static_cast<float>(exactly_representable)) >> 16);
}
std::vector<uint16_t> rand_bf16(std::mt19937& rng, int64_t n, double lo, double hi, bool random_sign) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<uint16_t> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = bf16_bits_of(ref_bfloat16((random_sign && (rng() & 1)) ? -d(rng) : d(rng)));
  return v;
}
Tensor make_bf16(Shape shape, const std::vector<uint16_t>& bits) {
  return Tensor::copy_of(DType::kBFloat16, std::move(shape), bits.data());
}
void expect_bf16_equal(const Tensor& out, const Shape& shape, const std::vector<double>& ref) {
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.dtype(), DType::kBFloat16) << "got " << dtype_name(out.dtype());
  ASSERT_EQ(out.shape(), shape);
  int bad = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double got = bf16_value(out.data<uint16_t>()[i]), want = ref_bfloat16(ref[i]);
    if (!(got == want || (std::isnan(got) && std::isnan(want))) && bad++ < 8) {
      ADD_FAILURE() << "at " << index_string(static_cast<int64_t>(i), shape) << ": got " << got << ", want " << want
                    << " (unrounded " << ref[i] << ")";
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST_P(OpTest, BFloat16_CastRoundsOnceToNearestEven) {
  // float64 sources, among them exact ties (to even: down, then up), NaN, inf and overflow.
  std::vector<double> x = {1.0 + std::ldexp(1.0, -8), 1.0 + 3 * std::ldexp(1.0, -8), -(2.0 + std::ldexp(1.0, -7)),
                           1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40),  // above the tie: up
                           NAN, INFINITY, -1e39, 0.0};
  std::uniform_real_distribution<double> d(-1e4, 1e4);
  for (int i = 0; i < 56; ++i) x.push_back(d(rng_));
  const Shape s{8, 8};
  Tensor out = run1("Cast", {make(s, x)}, {{"to", a_int(16)}});
  expect_bf16_equal(out, s, x);
  // And back to float32 exactly.
  Tensor back = run1("Cast", {out}, {{"to", a_int(1)}});
  ASSERT_EQ(back.dtype(), DType::kFloat32);
  for (int64_t i = 0; i < 64; ++i) {
    const double want = ref_bfloat16(x[static_cast<std::size_t>(i)]);
    const double got = back.data<float>()[i];
    EXPECT_TRUE(got == want || (std::isnan(got) && std::isnan(want))) << i << ": " << got << " vs " << want;
  }
}

TEST_P(OpTest, Float16_CastOfANaNKeepsItsSignAndPayload) {
  // A float64 NaN narrows as engine/cpu/float16.h narrows it: quiet, with its sign and top payload
  // bits (a GPU's own conversion gives the canonical 0x7fff, sign lost). Sources: -NaN with payload
  // bits 51 and 42, a signalling NaN, the default quiet NaN.
  const std::vector<uint64_t> bits{0xfff8040000000000ull, 0x7ff0000000000001ull, 0x7ff8000000000000ull};
  std::vector<double> x;
  for (uint64_t b : bits) x.push_back(std::bit_cast<double>(b));
  const Shape s{3};
  Tensor h = run1("Cast", {make(s, x)}, {{"to", a_int(10)}});
  ASSERT_EQ(h.dtype(), DType::kFloat16);
  EXPECT_EQ(std::vector<uint16_t>(h.data<uint16_t>(), h.data<uint16_t>() + 3),
            (std::vector<uint16_t>{0xfe01, 0x7e00, 0x7e00}));
  Tensor b = run1("Cast", {make(s, x)}, {{"to", a_int(16)}});
  ASSERT_EQ(b.dtype(), DType::kBFloat16);
  EXPECT_EQ(std::vector<uint16_t>(b.data<uint16_t>(), b.data<uint16_t>() + 3),
            (std::vector<uint16_t>{0xffc0, 0x7fc0, 0x7fc0}));
}

TEST_P(OpTest, BFloat16_AddRoundsTheExactSumOnce) {
  // Magnitudes within 2^7 of each other: the float32 sum is exact, so one rounding is the answer.
  const Shape sa{3, 4}, sb{4};
  const auto a = rand_bf16(rng_, 12, 1, 60, true), b = rand_bf16(rng_, 4, 0.5, 2, true);
  Tensor out = run1("Add", {make_bf16(sa, a), make_bf16(sb, b)});
  std::vector<double> ref(12);
  for (int64_t i = 0; i < 12; ++i) ref[i] = bf16_value(a[i]) + bf16_value(b[i % 4]);
  expect_bf16_equal(out, sa, ref);
}

TEST_P(OpTest, BFloat16_MatMulAccumulatesInFloat32) {
  // 64-term dot products: bfloat16 accumulation would be off by many ulps; float32 accumulation
  // then one rounding is within one bfloat16 ulp (2^-7 relative) of the float64 value.
  const int64_t m = 4, k = 64, n = 5;
  const auto a = rand_bf16(rng_, m * k, 0.1, 1, true), b = rand_bf16(rng_, k * n, 0.1, 1, true);
  Tensor out = run1("MatMul", {make_bf16({m, k}, a), make_bf16({k, n}, b)});
  ASSERT_EQ(out.dtype(), DType::kBFloat16);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) s += bf16_value(a[i * k + p]) * bf16_value(b[p * n + j]);
      const double got = bf16_value(out.data<uint16_t>()[i * n + j]);
      EXPECT_LE(std::fabs(got - s), std::ldexp(1.0, -7) * std::max(1.0, std::fabs(s))) << i << "," << j;
    }
}

TEST_P(OpTest, BFloat16_DataMovementKeepsTheBits) {
  const auto x = rand_bf16(rng_, 6, 0.1, 100, true);
  Tensor t = run1("Transpose", {make_bf16({2, 3}, x)});
  ASSERT_EQ(t.dtype(), DType::kBFloat16);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(t.data<uint16_t>()[j * 2 + i], x[i * 3 + j]) << i << "," << j;
}

// The ops added with ReduceMin ... ScatterND: the computing ones round once, the moving ones keep
// the bits.
TEST_P(OpTest, Float16_ReduceMinL2LogSumExpLogSoftmaxCumSumScatterNDRoundOnce) {
  const Shape s{3, 7};
  const auto x = rand_half(rng_, 21, -3, 3);
  std::vector<double> xd(21);
  for (int i = 0; i < 21; ++i) xd[i] = half_to_double(x[i]);
  const Tensor axes = Tensor::copy_of(DType::kInt64, {1}, std::vector<int64_t>{1}.data());
  std::vector<double> mn(3, INFINITY), l2(3, 0), lse(3, 0), ls(21), cs(21);
  for (int r = 0; r < 3; ++r) {
    double mx = -INFINITY, sum = 0, run = 0;
    for (int j = 0; j < 7; ++j) mx = std::max(mx, xd[r * 7 + j]), mn[r] = std::min(mn[r], xd[r * 7 + j]);
    for (int j = 0; j < 7; ++j) l2[r] += xd[r * 7 + j] * xd[r * 7 + j], sum += std::exp(xd[r * 7 + j] - mx);
    l2[r] = std::sqrt(l2[r]);
    lse[r] = mx + std::log(sum);
    for (int j = 0; j < 7; ++j) ls[r * 7 + j] = xd[r * 7 + j] - mx - std::log(sum), cs[r * 7 + j] = run += xd[r * 7 + j];
  }
  expect_half_near(run1("ReduceMin", {make_half(s, x), axes}, {{"keepdims", a_int(0)}}, 18), {3}, mn, 0);
  expect_half_near(run1("ReduceL2", {make_half(s, x), axes}, {{"keepdims", a_int(0)}}, 18), {3}, l2, 1);
  expect_half_near(run1("ReduceLogSumExp", {make_half(s, x), axes}, {{"keepdims", a_int(0)}}, 18), {3}, lse, 1);
  expect_half_near(run1("LogSoftmax", {make_half(s, x)}, {}, 13), s, ls, 1);
  expect_half_near(run1("CumSum", {make_half(s, x), Tensor::copy_of(DType::kInt64, {}, std::vector<int64_t>{1}.data())},
                        {}, 14),
                   s, cs, 1);
  // ScatterND add: row 1 plus updates, rounded once.
  const auto u = rand_half(rng_, 7, -3, 3);
  std::vector<double> sc = xd;
  for (int j = 0; j < 7; ++j) sc[7 + j] += half_to_double(u[j]);
  Attribute add;
  add.type = Attribute::Type::kString;
  add.s = "add";
  expect_half_near(run1("ScatterND", {make_half(s, x), Tensor::copy_of(DType::kInt64, {1, 1}, std::vector<int64_t>{1}.data()),
                                      make_half({1, 7}, u)},
                        {{"reduction", add}}, 16),
                   s, sc, 1);
}

TEST_P(OpTest, Float16_TileTriluGatherElementsKeepTheBits) {
  std::vector<uint16_t> x = rand_half(rng_, 6, -3, 3);
  x[0] = 0x7e01;  // a NaN with payload
  x[4] = 0x8000;  // -0
  Tensor t = run1("Tile", {make_half({2, 3}, x), Tensor::copy_of(DType::kInt64, {2}, std::vector<int64_t>{1, 2}.data())});
  ASSERT_EQ(t.dtype(), DType::kFloat16);
  ASSERT_EQ(t.shape(), (Shape{2, 6}));
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(t.data<uint16_t>()[i], x[(i / 6) * 3 + i % 3]) << i;
  Tensor tr = run1("Trilu", {make_half({2, 3}, x)}, {}, 14);  // upper, k 0: keeps 0, 1, 2, 4, 5
  ASSERT_EQ(tr.dtype(), DType::kFloat16);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(tr.data<uint16_t>()[i], i == 3 ? uint16_t{0} : x[i]) << i;
  Tensor g = run1("GatherElements",
                  {make_half({2, 3}, x), Tensor::copy_of(DType::kInt64, {1, 3}, std::vector<int64_t>{0, 1, -1}.data())});
  ASSERT_EQ(g.dtype(), DType::kFloat16);
  EXPECT_EQ(g.data<uint16_t>()[0], x[0]);
  EXPECT_EQ(g.data<uint16_t>()[1], x[4]);
  EXPECT_EQ(g.data<uint16_t>()[2], x[5]);
}

// ScatterND add with one element named by several rows: the CPU sums every row in float32 and
// rounds once, so the small updates add up (a rounding after each row would leave 2048 + 1 at 2048
// in float16, 256 + 1 at 256 in bfloat16, and the element unchanged).
TEST_P(OpTest, Float16_ScatterNDAddDuplicatesRoundOnce) {
  const Tensor ind = Tensor::copy_of(DType::kInt64, {4, 1}, std::vector<int64_t>{0, 0, 1, 0}.data());
  Attribute add;
  add.type = Attribute::Type::kString;
  add.s = "add";
  const std::vector<uint16_t> one(4, float_to_half(1.0f));
  Tensor h = run1("ScatterND", {make_half({2}, {float_to_half(2048.0f), float_to_half(0.0f)}), ind, make_half({4}, one)},
                  {{"reduction", add}}, 16);
  expect_half_near(h, {2}, {2051.0, 1.0}, 0);  // 2051 rounds to 2052 (spacing 2)
  const std::vector<uint16_t> one_b(4, float_to_bfloat16(1.0f));
  Tensor b = run1("ScatterND",
                  {make_bf16({2}, {float_to_bfloat16(256.0f), float_to_bfloat16(0.0f)}), ind, make_bf16({4}, one_b)},
                  {{"reduction", add}}, 16);
  ASSERT_EQ(b.dtype(), DType::kBFloat16);
  EXPECT_EQ(bfloat16_to_float(b.data<uint16_t>()[0]), 260.0f);  // 259 rounds to 260 (spacing 2)
  EXPECT_EQ(bfloat16_to_float(b.data<uint16_t>()[1]), 1.0f);
}

// ScatterElements add with one element named three times, float16 and bfloat16: summed in float32,
// rounded once (as ScatterND above); EyeLike's float16 and bfloat16 ones are 0x3C00 and 0x3F80.
TEST_P(OpTest, Float16_ScatterElementsAddRoundsOnce_EyeLikeHalfOnes) {
  const Tensor ind = Tensor::copy_of(DType::kInt64, {1, 4}, std::vector<int64_t>{0, 0, 1, 0}.data());
  Attribute add;
  add.type = Attribute::Type::kString;
  add.s = "add";
  Attribute axis;
  axis.type = Attribute::Type::kInt;
  axis.i = 1;
  const std::vector<uint16_t> one(4, float_to_half(1.0f));
  Tensor h = run1("ScatterElements", {make_half({1, 2}, {float_to_half(2048.0f), float_to_half(0.0f)}), ind, make_half({1, 4}, one)},
                  {{"reduction", add}, {"axis", axis}}, 16);
  expect_half_near(h, {1, 2}, {2051.0, 1.0}, 0);  // 2051 rounds to 2052 (spacing 2)
  const std::vector<uint16_t> one_b(4, float_to_bfloat16(1.0f));
  Tensor b = run1("ScatterElements",
                  {make_bf16({1, 2}, {float_to_bfloat16(256.0f), float_to_bfloat16(0.0f)}), ind, make_bf16({1, 4}, one_b)},
                  {{"reduction", add}, {"axis", axis}}, 16);
  ASSERT_EQ(b.dtype(), DType::kBFloat16);
  EXPECT_EQ(bfloat16_to_float(b.data<uint16_t>()[0]), 260.0f);  // 259 rounds to 260 (spacing 2)
  EXPECT_EQ(bfloat16_to_float(b.data<uint16_t>()[1]), 1.0f);
  for (const auto& [code, bits, type] : {std::tuple{int64_t{10}, uint16_t{0x3C00}, DType::kFloat16},
                                         std::tuple{int64_t{16}, uint16_t{0x3F80}, DType::kBFloat16}}) {
    Attribute dt;
    dt.type = Attribute::Type::kInt;
    dt.i = code;
    Tensor e = run1("EyeLike", {Tensor::copy_of(DType::kInt32, {2, 3}, std::vector<int32_t>(6, 7).data())}, {{"dtype", dt}}, 9);
    ASSERT_EQ(e.dtype(), type);
    const std::vector<uint16_t> want = {bits, 0, 0, 0, bits, 0};
    for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(e.data<uint16_t>()[i], want[i]) << "element " << i;
  }
}

}  // namespace
}  // namespace shardscore::op_test
