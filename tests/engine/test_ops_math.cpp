// Op tests of the math ops Exp, Log, Abs, Reciprocal, Floor, Ceil, Round, Sin, Cos, Sign, Softplus,
// Softsign, Elu, Selu, Less, Greater, LessOrEqual, GreaterOrEqual, Mod, Sum, Mean and Dropout, each
// against a float64 reference written out here, with the edge values where the ops are easy to get
// wrong (NaN, +-inf, +-0, halves). The fixture and its helpers are in op_test.h.
#include <cmath>
#include <functional>
#include <limits>

#include "engine/cpu/float16.h"
#include "engine/op_test.h"

namespace shardscore {
namespace {
using namespace shardscore::op_test;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <typename T>
Tensor scalar_of(T v) {
  return Tensor::copy_of(dtype_of<T>(), {}, &v);
}

// Values every float unary test runs on besides its random ones.
const std::vector<double> kEdges = {kNaN, kInf, -kInf, 0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1e-3, -1e-3,
                                    1.0, -1.0, 3.75, -3.75, 30.0, -30.0, 100.0, -100.0};

// One float output against ref: NaN where ref is NaN, infinities exactly, zeros with their sign when
// `signed_zero`, else |got - ref| <= tol * max(1, |ref|) (tol raised to the backend's floor).
void expect_values(const Tensor& out, DType dtype, const Shape& shape, const std::vector<double>& ref, double tol,
                   bool signed_zero) {
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.dtype(), dtype) << "got " << dtype_name(out.dtype());
  ASSERT_EQ(out.shape(), shape);
  const std::vector<double> got = to_doubles(out);
  if (tol > 0) tol = std::max(tol, tolerance_floor());
  int bad = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double g = got[i], r = ref[i];
    bool ok;
    if (std::isnan(r)) ok = std::isnan(g);
    else if (std::isinf(r)) ok = g == r;
    else if (r == 0 && signed_zero) ok = g == 0 && std::signbit(g) == std::signbit(r);
    else ok = std::isfinite(g) && std::fabs(g - r) <= tol * std::max(1.0, std::fabs(r));
    if (!ok && bad++ < 8) ADD_FAILURE() << std::setprecision(17) << "element " << i << ": got " << g << ", want " << r;
  }
  EXPECT_EQ(bad, 0) << bad << " of " << ref.size() << " elements differ";
}

// float16 values (as bits) in [lo, hi]: float32 draws rounded to half.
std::vector<uint16_t> rand_half_bits(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<uint16_t> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = float_to_half(d(rng));
  return v;
}

class MathOpTest : public OpTest {
 protected:
  // Runs `op` on float32 and float64 tensors of the edge values and `random` more in [lo, hi],
  // against ref computed in double from the exact input values.
  void check_float_unary(const std::string& op, const std::function<double(double)>& ref, double lo, double hi,
                         double tol32, double tol64, bool signed_zero, Attrs attrs = {}, int64_t opset = 17,
                         int random = 40) {
    std::vector<double> x = kEdges;
    for (double v : rand_f64(random, lo, hi)) x.push_back(v);
    const Shape s{static_cast<int64_t>(x.size())};
    {
      SCOPED_TRACE(op + " float32");
      std::vector<float> xf(x.begin(), x.end());
      std::vector<double> want(x.size());
      // The exact result rounded to float32 (overflow to inf, underflow to 0 included).
      for (std::size_t i = 0; i < x.size(); ++i) want[i] = static_cast<float>(ref(double{xf[i]}));
      expect_values(run1(op, {make<float>(s, xf)}, attrs, opset), DType::kFloat32, s, want, tol32, signed_zero);
    }
    {
      SCOPED_TRACE(op + " float64");
      std::vector<double> want(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) want[i] = ref(x[i]);
      expect_values(run1(op, {make<double>(s, x)}, attrs, opset), DType::kFloat64, s, want, tol64, signed_zero);
    }
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, MathOpTest, ::testing::ValuesIn(backend_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST_P(MathOpTest, Exp_EdgesAndRandom) {
  check_float_unary("Exp", [](double v) { return std::exp(v); }, -20, 20, kTolElementwise, 1e-14, false);
  check_float_unary("Exp", [](double v) { return std::exp(v); }, -1, 1, kTolElementwise, 1e-14, false, {}, 6, 10);
}
TEST_P(MathOpTest, Log_EdgesZeroAndNegatives) {
  // log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf.
  check_float_unary("Log", [](double v) { return std::log(v); }, 1e-3, 50, kTolElementwise, 1e-14, false);
}
TEST_P(MathOpTest, Abs_FloatEdgesAndIntegers) {
  check_float_unary("Abs", [](double v) { return v < 0 || (v == 0 && std::signbit(v)) ? -v : v; }, -9, 9, kExact, kExact,
                    true);
  const int64_t lo = std::numeric_limits<int64_t>::min();
  expect_equal<int64_t>(run1("Abs", {make<int64_t>({5}, {-5, 7, 0, lo, lo + 1})}), {5}, {5, 7, 0, lo, -(lo + 1)});
  auto xi = rand_int<int32_t>(12, -1000, 1000);
  xi[0] = std::numeric_limits<int32_t>::min();
  std::vector<int32_t> ref(xi.size());
  for (std::size_t i = 0; i < xi.size(); ++i) ref[i] = i == 0 ? xi[0] : (xi[i] < 0 ? -xi[i] : xi[i]);  // MIN wraps
  expect_equal<int32_t>(run1("Abs", {make<int32_t>({3, 4}, xi)}, {}, 13), {3, 4}, ref);
  expect_equal<int8_t>(run1("Abs", {make<int8_t>({3}, {-128, -3, 4})}), {3}, {-128, 3, 4});
  expect_error(StatusCode::kUnimplemented, "uint8", "Abs", {make<uint8_t>({2}, {1, 2})});
}
TEST_P(MathOpTest, Reciprocal_EdgesSignedZeroGivesSignedInfinity) {
  check_float_unary("Reciprocal", [](double v) { return 1.0 / v; }, -10, 10, kTolElementwise, 1e-15, true);
}
TEST_P(MathOpTest, Floor_Edges) {
  check_float_unary("Floor", [](double v) { return std::floor(v); }, -1e6, 1e6, kExact, kExact, true);
}
TEST_P(MathOpTest, Ceil_Edges) {
  // ceil(-0.5) is -0.
  check_float_unary("Ceil", [](double v) { return std::ceil(v); }, -1e6, 1e6, kExact, kExact, true);
}

// Round half to even, by hand (not std::nearbyint, what the CPU function calls).
double round_half_even(double v) {
  if (!std::isfinite(v)) return v;
  const double f = std::floor(v);
  const double d = v - f;
  double r = d < 0.5 ? f : d > 0.5 ? f + 1 : (std::fmod(f, 2.0) == 0 ? f : f + 1);
  return r == 0 ? std::copysign(0.0, v) : r;
}

TEST_P(MathOpTest, Round_HalvesToEven) {
  // 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -2.5 -> -2, -0.5 -> -0; halves are spread wide by the random part too.
  check_float_unary("Round", round_half_even, -1e3, 1e3, kExact, kExact, true, {}, 11);
  std::vector<float> halves;
  for (int k = -20; k <= 20; ++k) halves.push_back(static_cast<float>(k) + 0.5f);
  std::vector<double> ref(halves.size());
  for (std::size_t i = 0; i < halves.size(); ++i) ref[i] = round_half_even(halves[i]);
  const Shape s{static_cast<int64_t>(halves.size())};
  expect_values(run1("Round", {make<float>(s, halves)}, {}, 11), DType::kFloat32, s, ref, kExact, true);
}
TEST_P(MathOpTest, Sin_Edges) {
  // sin(+-inf) = NaN, sin(-0) = -0.
  check_float_unary("Sin", [](double v) { return std::sin(v); }, -10, 10, kTolElementwise, 1e-15, true, {}, 7);
}
TEST_P(MathOpTest, Cos_Edges) {
  check_float_unary("Cos", [](double v) { return std::cos(v); }, -10, 10, kTolElementwise, 1e-15, false, {}, 7);
}
TEST_P(MathOpTest, Sign_FloatNaNStaysAndIntegers) {
  check_float_unary(
      "Sign", [](double v) { return std::isnan(v) ? v : v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; }, -5, 5, kExact, kExact,
      false, {}, 13);
  const int64_t lo = std::numeric_limits<int64_t>::min();
  expect_equal<int64_t>(run1("Sign", {make<int64_t>({5}, {-5, 7, 0, lo, 1})}, {}, 9), {5}, {-1, 1, 0, -1, 1});
  auto xi = rand_int<int32_t>(10, -3, 3);
  std::vector<int32_t> ref(xi.size());
  for (std::size_t i = 0; i < xi.size(); ++i) ref[i] = xi[i] > 0 ? 1 : xi[i] < 0 ? -1 : 0;
  expect_equal<int32_t>(run1("Sign", {make<int32_t>({10}, xi)}), {10}, ref);
  expect_error(StatusCode::kUnimplemented, "bool", "Sign", {make_bool({2}, {1, 0})});
}

double softplus_ref(double v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); }

TEST_P(MathOpTest, Softplus_LargeMagnitudesDoNotOverflow) {
  // softplus(100) = 100, softplus(-100) = e^-100, softplus(inf) = inf, softplus(-inf) = 0.
  check_float_unary("Softplus", softplus_ref, -30, 30, kTolElementwise, 1e-15, false, {}, 1);
}
TEST_P(MathOpTest, Softsign_InfinityGivesNaNAsTheFormula) {
  // x / (1 + |x|) as the spec writes it (ONNX Runtime and onnx.reference alike): inf / inf is NaN.
  check_float_unary("Softsign", [](double v) { return v / (1 + std::fabs(v)); }, -50, 50, kTolElementwise, 1e-15, true,
                    {}, 1);
}
TEST_P(MathOpTest, Elu_DefaultAndAlpha) {
  check_float_unary("Elu", [](double v) { return v >= 0 ? v : std::expm1(v); }, -6, 6, kTolElementwise, 1e-15, false);
  const double alpha = double{0.3f};
  check_float_unary("Elu", [alpha](double v) { return v >= 0 ? v : alpha * std::expm1(v); }, -6, 6, kTolElementwise,
                    1e-15, false, {{"alpha", a_float(0.3f)}}, 6);
}
TEST_P(MathOpTest, Selu_DefaultAndAttributes) {
  const double a0 = double{1.67326319217681884765625f}, g0 = double{1.05070102214813232421875f};
  check_float_unary("Selu", [&](double v) { return g0 * (v > 0 ? v : a0 * std::expm1(v)); }, -6, 6, kTolElementwise,
                    1e-15, false);
  const double a = double{2.0f}, g = double{0.5f};
  check_float_unary("Selu", [&](double v) { return g * (v > 0 ? v : a * std::expm1(v)); }, -6, 6, kTolElementwise,
                    1e-15, false, {{"alpha", a_float(2.0f)}, {"gamma", a_float(0.5f)}}, 6);
}
TEST_P(MathOpTest, Exp_IntegerInputRefused) {
  for (const char* op : {"Exp", "Log", "Reciprocal", "Floor", "Ceil", "Round", "Sin", "Cos", "Softplus", "Softsign",
                         "Elu", "Selu"}) {
    SCOPED_TRACE(op);
    expect_error(StatusCode::kUnimplemented, "int64", op, {make<int64_t>({2}, {1, 2})}, {}, 13);
  }
}

// ---- Less / Greater / LessOrEqual / GreaterOrEqual ----

struct CompareCase {
  const char* op;
  bool (*f)(double, double);
};
const CompareCase kCompares[] = {
    {"Less", [](double x, double y) { return x < y; }},
    {"Greater", [](double x, double y) { return x > y; }},
    {"LessOrEqual", [](double x, double y) { return x <= y; }},
    {"GreaterOrEqual", [](double x, double y) { return x >= y; }},
};

TEST_P(MathOpTest, Less_Greater_OrEqual_Float32BroadcastWithNaN) {
  // Values from a small set so that ties occur; NaN compares false every way; -0 equals 0.
  const Shape sa{3, 1, 4}, sb{2, 1}, so{3, 2, 4};
  auto ai = rand_int<int>(numel_of(sa), -2, 2), bi = rand_int<int>(numel_of(sb), -2, 2);
  std::vector<float> a(ai.begin(), ai.end()), b(bi.begin(), bi.end());
  a[0] = NAN, a[1] = INFINITY, a[2] = -0.0f, b[0] = 0.0f, a[5] = -INFINITY;
  for (const auto& c : kCompares) {
    SCOPED_TRACE(c.op);
    Tensor out = run1(c.op, {make(sa, a), make(sb, b)});
    std::vector<double> ref(static_cast<std::size_t>(numel_of(so)));
    for (int64_t i = 0; i < numel_of(so); ++i) {
      const auto idx = unravel(i, so);
      ref[i] = c.f(a[broadcast_flat(idx, sa)], b[broadcast_flat(idx, sb)]) ? 1 : 0;
    }
    expect_near(out, DType::kBool, so, ref, kExact);
  }
}
TEST_P(MathOpTest, LessOrEqual_Int64BeyondDoubles_Int32_Float64_UInt8) {
  // 2^60 and 2^60 + 1 are one double: compared as doubles they would tie.
  const int64_t big = int64_t{1} << 60;
  const std::vector<int64_t> a{big, big + 1, -big, 7}, b{big + 1, big, -big, 7};
  for (const auto& c : kCompares) {
    SCOPED_TRACE(c.op);
    std::vector<double> ref(4);
    for (std::size_t i = 0; i < 4; ++i) {
      const bool lt = a[i] < b[i], eq = a[i] == b[i];
      const std::string op = c.op;
      ref[i] = op == "Less" ? lt : op == "Greater" ? (!lt && !eq) : op == "LessOrEqual" ? (lt || eq) : !lt;
    }
    expect_near(run1(c.op, {make<int64_t>({4}, a), make<int64_t>({4}, b)}, {}, 13), DType::kBool, {4}, ref, kExact);
    auto x = rand_int<int32_t>(6, -3, 3);
    auto y = rand_int<int32_t>(1, -3, 3);
    std::vector<double> r32(6);
    for (std::size_t i = 0; i < 6; ++i) r32[i] = c.f(x[i], y[0]) ? 1 : 0;
    expect_near(run1(c.op, {make<int32_t>({2, 3}, x), make<int32_t>({}, y)}, {}, 13), DType::kBool, {2, 3}, r32, kExact);
    auto xd = rand_f64(5);
    xd[1] = xd[0];
    std::vector<double> rd(5);
    for (std::size_t i = 0; i < 5; ++i) rd[i] = c.f(xd[0], xd[i]) ? 1 : 0;
    expect_near(run1(c.op, {scalar_of<double>(xd[0]), make<double>({5}, xd)}, {}, 13), DType::kBool, {5}, rd, kExact);
    const std::vector<uint8_t> u{0, 200, 255}, v{255, 200, 1};
    std::vector<double> ru(3);
    for (std::size_t i = 0; i < 3; ++i) ru[i] = c.f(u[i], v[i]) ? 1 : 0;
    expect_near(run1(c.op, {make<uint8_t>({3}, u), make<uint8_t>({3}, v)}, {}, 13), DType::kBool, {3}, ru, kExact);
  }
}
TEST_P(MathOpTest, Greater_Errors) {
  for (const auto& c : kCompares) {
    SCOPED_TRACE(c.op);
    expect_error(StatusCode::kInvalidArgument, "differ", c.op, {make<float>({2}, rand_f32(2)), make<int64_t>({2}, {1, 2})},
                 {}, 13);
    expect_error(StatusCode::kUnimplemented, "bool", c.op, {make_bool({2}, {1, 0}), make_bool({2}, {0, 0})}, {}, 13);
    expect_error(StatusCode::kInvalidArgument, "cannot be broadcast", c.op,
                 {make<float>({2, 3}, rand_f32(6)), make<float>({2}, rand_f32(2))}, {}, 13);
  }
}

// ---- Mod ----

// Python's % (the divisor's sign) or C's (the dividend's), on exact integers.
int64_t mod_ref(int64_t x, int64_t y, bool fmod) {
  if (y == -1) return 0;
  int64_t r = x % y;
  if (!fmod && r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}

TEST_P(MathOpTest, Mod_IntegersBothSignsBothModes) {
  const Shape sa{4, 5}, sb{5};
  auto a = rand_int<int64_t>(20, -50, 50);
  auto b = rand_int<int64_t>(5, 1, 9);
  b[1] = -b[1], b[3] = -7;
  a[0] = 7, a[1] = -7, a[2] = 0, a[3] = -14, a[4] = std::numeric_limits<int64_t>::min();
  b[4] = -1;  // MIN mod -1: 0, not a trap
  for (const bool fmod : {false, true}) {
    SCOPED_TRACE(fmod ? "fmod=1" : "fmod=0");
    std::vector<int64_t> ref(20);
    for (int64_t i = 0; i < 20; ++i) ref[i] = mod_ref(a[i], b[i % 5], fmod);
    expect_equal<int64_t>(run1("Mod", {make<int64_t>(sa, a), make<int64_t>(sb, b)}, {{"fmod", a_int(fmod)}}, 13), sa, ref);
    // int32, the divisor first and broadcast up.
    auto x = rand_int<int32_t>(6, -20, 20);
    std::vector<int32_t> d{-3, 3};
    std::vector<int32_t> r32(12);
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 6; ++j) r32[i * 6 + j] = static_cast<int32_t>(mod_ref(d[i], x[j] == 0 ? 1 : x[j], fmod));
    for (auto& v : x)
      if (v == 0) v = 1;
    expect_equal<int32_t>(run1("Mod", {make<int32_t>({2, 1}, d), make<int32_t>({6}, x)}, {{"fmod", a_int(fmod)}}, 10),
                          {2, 6}, r32);
  }
  // The sign rules on the classic four: 7 % 3, -7 % 3, 7 % -3, -7 % -3.
  const std::vector<int64_t> x4{7, -7, 7, -7}, y4{3, 3, -3, -3};
  expect_equal<int64_t>(run1("Mod", {make<int64_t>({4}, x4), make<int64_t>({4}, y4)}), {4}, {1, 2, -2, -1});
  expect_equal<int64_t>(run1("Mod", {make<int64_t>({4}, x4), make<int64_t>({4}, y4)}, {{"fmod", a_int(1)}}), {4},
                        {1, -1, 1, -1});
}
TEST_P(MathOpTest, Mod_FloatFmodEdges) {
  // C's fmod: the dividend's sign (-0 stays -0), x mod 0 and inf mod y are NaN, x mod inf is x.
  const std::vector<double> x{5.5, -5.5, 5.5, -5.5, -0.0, 3.0, kInf, 2.0, kNaN, 1.0, 0.75, -7.25};
  const std::vector<double> y{2.0, 2.0, -2.0, -2.0, 3.0, 0.0, 2.0, kInf, 1.0, kNaN, 0.25, 1.5};
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = std::fmod(x[i], y[i]);
  const Shape s{static_cast<int64_t>(x.size())};
  expect_values(run1("Mod", {make<double>(s, x), make<double>(s, y)}, {{"fmod", a_int(1)}}), DType::kFloat64, s, ref,
                kExact, true);
  std::vector<float> xf(x.begin(), x.end()), yf(y.begin(), y.end());
  expect_values(run1("Mod", {make<float>(s, xf), make<float>(s, yf)}, {{"fmod", a_int(1)}}), DType::kFloat32, s, ref,
                kExact, true);
  // Random, broadcast.
  auto a = rand_f32(12, -10, 10), b = rand_divisors(4);
  std::vector<double> r(12);
  for (int64_t i = 0; i < 12; ++i) r[i] = std::fmod(double{a[i]}, double{b[i % 4]});
  expect_values(run1("Mod", {make<float>({3, 4}, a), make<float>({4}, b)}, {{"fmod", a_int(1)}}), DType::kFloat32,
                {3, 4}, r, kExact, true);
}
TEST_P(MathOpTest, Mod_Errors) {
  // On a device the kernel records the zero divisor and the batch fails as on the CPU.
  for (const int64_t fmod : {0, 1}) {
    expect_error(StatusCode::kInvalidArgument, "integer division by zero", "Mod",
                 {make<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6}), make<int32_t>({3}, {3, 0, 2})}, {{"fmod", a_int(fmod)}});
    expect_error(StatusCode::kInvalidArgument, "integer division by zero", "Mod",
                 {make<int64_t>({2}, {1, 2}), scalar_of<int64_t>(0)}, {{"fmod", a_int(fmod)}});
  }
  // No element divides by the zero of an empty output.
  expect_equal<int64_t>(run1("Mod", {make<int64_t>({0, 2}, std::vector<int64_t>{}), make<int64_t>({2}, {0, 3})}), {0, 2},
                        {});
  expect_error(StatusCode::kInvalidArgument, "fmod=0", "Mod", {make<float>({2}, rand_f32(2)), make<float>({2}, rand_f32(2))});
  expect_error(StatusCode::kInvalidArgument, "fmod 2", "Mod", {make<int64_t>({2}, {1, 2}), make<int64_t>({2}, {1, 2})},
               {{"fmod", a_int(2)}});
  expect_error(StatusCode::kInvalidArgument, "differ", "Mod", {make<int64_t>({2}, {1, 2}), make<int32_t>({2}, {1, 2})});
  expect_error(StatusCode::kUnimplemented, "uint8", "Mod", {make<uint8_t>({2}, {1, 2}), make<uint8_t>({2}, {1, 2})});
}

// ---- Sum / Mean ----

TEST_P(MathOpTest, Sum_Mean_ThreeInputsBroadcastFloat32AndFloat64) {
  const Shape s0{2, 3, 4}, s1{3, 1}, s2{4}, so{2, 3, 4};
  auto x0 = rand_f32(numel_of(s0), -3, 3), x1 = rand_f32(numel_of(s1), -3, 3), x2 = rand_f32(numel_of(s2), -3, 3);
  x2[1] = NAN;
  x1[2] = INFINITY;
  for (const bool mean : {false, true}) {
    const std::string op = mean ? "Mean" : "Sum";
    SCOPED_TRACE(op);
    std::vector<double> ref(static_cast<std::size_t>(numel_of(so)));
    for (int64_t i = 0; i < numel_of(so); ++i) {
      const auto idx = unravel(i, so);
      const double s = double{x0[broadcast_flat(idx, s0)]} + x1[broadcast_flat(idx, s1)] + x2[broadcast_flat(idx, s2)];
      ref[i] = mean ? s / 3 : s;
    }
    expect_values(run1(op, {make(s0, x0), make(s1, x1), make(s2, x2)}, {}, 13), DType::kFloat32, so, ref, kTolReduce,
                  false);
    // The same inputs as float64, the bigger operand last (the output takes the broadcast shape).
    std::vector<double> d0(x0.begin(), x0.end()), d1(x1.begin(), x1.end()), d2(x2.begin(), x2.end());
    expect_values(run1(op, {make(s2, d2), make(s1, d1), make(s0, d0)}, {}, 8), DType::kFloat64, so, ref, 1e-15, false);
  }
}
TEST_P(MathOpTest, Mean_OneAndTwoInputs) {
  auto a = rand_f32(6, -5, 5), b = rand_f32(6, -5, 5);
  std::vector<double> ra(6), rab(6), rsum(6);
  for (std::size_t i = 0; i < 6; ++i) {
    ra[i] = a[i];
    rab[i] = (double{a[i]} + b[i]) / 2;
    rsum[i] = double{a[i]} + b[i];
  }
  expect_near(run1("Mean", {make<float>({2, 3}, a)}), DType::kFloat32, {2, 3}, ra, kExact);
  expect_near(run1("Sum", {make<float>({2, 3}, a)}), DType::kFloat32, {2, 3}, ra, kExact);
  expect_near(run1("Mean", {make<float>({2, 3}, a), make<float>({2, 3}, b)}, {}, 6), DType::kFloat32, {2, 3}, rab,
              kTolReduce);
  expect_near(run1("Sum", {make<float>({2, 3}, a), make<float>({2, 3}, b)}, {}, 6), DType::kFloat32, {2, 3}, rsum,
              kTolReduce);
}
TEST_P(MathOpTest, Sum_Errors) {
  for (const char* op : {"Sum", "Mean"}) {
    SCOPED_TRACE(op);
    expect_error(StatusCode::kInvalidArgument, "at least one input", op, {});
    expect_error(StatusCode::kInvalidArgument, "differ", op, {make<float>({2}, rand_f32(2)), make<double>({2}, rand_f64(2))});
    expect_error(StatusCode::kInvalidArgument, "cannot be broadcast", op,
                 {make<float>({2, 3}, rand_f32(6)), make<float>({2}, rand_f32(2))});
    expect_error(StatusCode::kUnimplemented, "int64", op, {make<int64_t>({2}, {1, 2}), make<int64_t>({2}, {3, 4})});
  }
}

// ---- Dropout ----

TEST_P(MathOpTest, Dropout_OutputIsTheInputAndMaskAllTrue) {
  auto x = rand_f32(24, -3, 3);
  x[0] = NAN, x[1] = -0.0f, x[2] = INFINITY;
  const Shape s{2, 3, 4};
  for (const int64_t opset : {10, 12, 13, 21}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    std::vector<Tensor> outs;
    Attrs attrs;
    if (opset < 12) attrs["ratio"] = a_float(0.3f);
    ASSERT_TRUE(run_node(*backend_, "Dropout", {make<float>(s, x)}, 2, &outs, attrs, opset).ok());
    ASSERT_EQ(outs.size(), 2u);
    ASSERT_EQ(outs[0].dtype(), DType::kFloat32);
    ASSERT_EQ(outs[0].shape(), s);
    EXPECT_EQ(std::memcmp(outs[0].data<float>(), x.data(), x.size() * sizeof(float)), 0) << "Y is not X bit for bit";
    expect_near(outs[1], DType::kBool, s, std::vector<double>(24, 1.0), kExact);
    // Y alone (the usual export).
    Tensor y = run1("Dropout", {make<float>(s, x)}, attrs, opset);
    ASSERT_EQ(y.numel(), 24);
    EXPECT_EQ(std::memcmp(y.data<float>(), x.data(), x.size() * sizeof(float)), 0);
  }
}
TEST_P(MathOpTest, Dropout_Opset7MaskHasTheInputsType) {
  auto x = rand_f64(6);
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_node(*backend_, "Dropout", {make<double>({6}, x)}, 2, &outs, {}, 7).ok());
  ASSERT_EQ(outs.size(), 2u);
  expect_near(outs[0], DType::kFloat64, {6}, x, kExact);
  expect_near(outs[1], DType::kFloat64, {6}, std::vector<double>(6, 1.0), kExact);
  // float16 moves as stored, its mask 1.0 in float16.
  std::vector<uint16_t> h{float_to_half(1.5f), 0x7E01 /* NaN with a payload */, 0x8000 /* -0 */};
  outs.clear();
  ASSERT_TRUE(run_node(*backend_, "Dropout", {Tensor::copy_of(DType::kFloat16, {3}, h.data())}, 2, &outs, {}, 9).ok());
  ASSERT_EQ(outs.size(), 2u);
  ASSERT_EQ(outs[0].dtype(), DType::kFloat16);
  ASSERT_EQ(outs[1].dtype(), DType::kFloat16);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(outs[0].data<uint16_t>()[i], h[i]) << i;
    EXPECT_EQ(outs[1].data<uint16_t>()[i], float_to_half(1.0f)) << i;
  }
}
TEST_P(MathOpTest, Dropout_TrainingMode) {
  const auto x = rand_f32(8, -2, 2);
  const Shape s{2, 4};
  // training_mode false, or true with ratio 0: the inference result.
  for (const auto& [ratio, training] : {std::pair<float, bool>{0.5f, false}, {0.0f, true}}) {
    std::vector<Tensor> outs;
    ASSERT_TRUE(run_node(*backend_, "Dropout", {make<float>(s, x), scalar_of<float>(ratio), make_bool({}, {training})}, 2,
                         &outs, {}, 13)
                    .ok());
    ASSERT_EQ(outs.size(), 2u);
    expect_near(outs[0], DType::kFloat32, s, as_doubles(x), kExact);
    expect_near(outs[1], DType::kBool, s, std::vector<double>(8, 1.0), kExact);
  }
  // Training that drops something: refused, whether the ratio is given or the default 0.5.
  expect_error(StatusCode::kUnimplemented, "training_mode", "Dropout",
               {make<float>(s, x), scalar_of<double>(0.25), make_bool({}, {1})}, {}, 13);
  expect_error(StatusCode::kUnimplemented, "training_mode", "Dropout", {make<float>(s, x), Tensor(), make_bool({}, {1})},
               {}, 12);
  expect_error(StatusCode::kInvalidArgument, "training_mode must be bool", "Dropout",
               {make<float>(s, x), Tensor(), make<int64_t>({}, {1})}, {}, 13);
  expect_error(StatusCode::kUnimplemented, "int64", "Dropout", {make<int64_t>({2}, {1, 2})}, {}, 13);
}

// ---- float16: computed in float32 and rounded once (the CPU's op runner; the CUDA kernels alike) ----

// A float16 output against ref rounded to float16: within `ulps` float16 ulps (at 1.0) of it, NaN
// where it is NaN.
void expect_half(const Tensor& out, const Shape& shape, const std::vector<double>& ref, double ulps) {
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.dtype(), DType::kFloat16) << "got " << dtype_name(out.dtype());
  ASSERT_EQ(out.shape(), shape);
  const std::vector<double> got = to_doubles(out);
  int bad = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double want = half_to_double(double_to_half(ref[i]));
    const bool ok = std::isnan(want) ? std::isnan(got[i])
                                     : got[i] == want || std::fabs(got[i] - want) <= ulps * std::ldexp(1.0, -10) *
                                                                                      std::max(1.0, std::fabs(want));
    if (!ok && bad++ < 8) ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want " << want;
  }
  EXPECT_EQ(bad, 0);
}

TEST_P(MathOpTest, Float16_MathOpsRoundOnce) {
  const Shape s{24};
  auto x = rand_half_bits(rng_, 24, -4, 4);
  x[0] = 0x7E00, x[1] = 0x8000, x[2] = float_to_half(2.5f), x[3] = float_to_half(-0.5f), x[4] = 0x7C00;
  const Tensor h = Tensor::copy_of(DType::kFloat16, s, x.data());
  std::vector<double> xd(24);
  for (std::size_t i = 0; i < 24; ++i) xd[i] = half_to_double(x[i]);
  auto ref_of = [&](const std::function<double(double)>& f) {
    std::vector<double> r(24);
    for (std::size_t i = 0; i < 24; ++i) r[i] = f(xd[i]);
    return r;
  };
  expect_half(run1("Exp", {h}), s, ref_of([](double v) { return std::exp(v); }), 1);
  expect_half(run1("Floor", {h}), s, ref_of([](double v) { return std::floor(v); }), 0);
  expect_half(run1("Round", {h}), s, ref_of(round_half_even), 0);
  expect_half(run1("Abs", {h}), s, ref_of([](double v) { return std::fabs(v); }), 0);
  expect_half(run1("Sign", {h}), s, ref_of([](double v) { return std::isnan(v) ? v : v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; }),
              0);
  expect_half(run1("Softplus", {h}), s, ref_of(softplus_ref), 1);
  expect_half(run1("Elu", {h}), s, ref_of([](double v) { return v >= 0 ? v : std::expm1(v); }), 1);
  // Sum and Mean of three float16 inputs: float32 sums rounded once, not a float16 rounding per addition.
  auto y = rand_half_bits(rng_, 24, -4, 4), z = rand_half_bits(rng_, 24, -4, 4);
  std::vector<double> sum(24), mean(24);
  for (std::size_t i = 0; i < 24; ++i) {
    sum[i] = xd[i] + half_to_double(y[i]) + half_to_double(z[i]);
    mean[i] = sum[i] / 3;
  }
  const Tensor hy = Tensor::copy_of(DType::kFloat16, s, y.data()), hz = Tensor::copy_of(DType::kFloat16, s, z.data());
  expect_half(run1("Sum", {h, hy, hz}), s, sum, 0);
  expect_half(run1("Mean", {h, hy, hz}), s, mean, 1);
  std::vector<double> mod(24);
  for (std::size_t i = 0; i < 24; ++i) mod[i] = std::fmod(xd[i], half_to_double(y[i]));
  expect_half(run1("Mod", {h, hy}, {{"fmod", a_int(1)}}), s, mod, 0);
}

TEST_P(MathOpTest, GreaterOrEqual_Float16ComparesTheValues) {
  // Neighbouring float16 values (one ulp apart) and a NaN.
  const std::vector<uint16_t> a{float_to_half(1.0f), 0x3C01, 0x7E00, 0x8000, float_to_half(-2.0f)};
  const std::vector<uint16_t> b{0x3C01, float_to_half(1.0f), float_to_half(1.0f), 0x0000, float_to_half(-2.0f)};
  const Tensor ha = Tensor::copy_of(DType::kFloat16, {5}, a.data()), hb = Tensor::copy_of(DType::kFloat16, {5}, b.data());
  expect_near(run1("GreaterOrEqual", {ha, hb}, {}, 16), DType::kBool, {5}, {0, 1, 0, 1, 1}, kExact);
  expect_near(run1("Less", {ha, hb}, {}, 13), DType::kBool, {5}, {1, 0, 0, 0, 0}, kExact);
}

}  // namespace
}  // namespace shardscore
