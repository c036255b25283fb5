// Op tests of the quantized ops against the ONNX spec's formulas written out here, never the
// engine's own output: QuantizeLinear and DequantizeLinear (a float32 division x / scale, rounding
// half to even by hand, saturation to the type's range; (x - zero_point) * scale),
// DynamicQuantizeLinear (the spec's scale and zero point from x's range), MatMulInteger and
// ConvInteger (sums of products in int64), and shardscore.RowQuantizedMatMul (those, row by row).
// The fixture is in op_test.h.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>
#include <utility>
#include <string>
#include <vector>

#include "engine/op_test.h"

namespace shardscore {
namespace {
using namespace shardscore::op_test;

// Round half to even, by hand (no rint / nearbyint: those are what the code uses).
double round_half_even(double q) {
  const double f = std::floor(q);
  const double frac = q - f;
  if (frac < 0.5) return f;
  if (frac > 0.5) return f + 1;
  return std::fmod(f, 2.0) == 0 ? f : f + 1;
}

// The spec's QuantizeLinear of one element into [lo, hi]: the division in float32 (x / y_scale,
// both float32 here), then rounding, the zero point and saturation in double. NaN: the minimum
// (ONNX Runtime's choice; the spec leaves it open).
double quantize_ref(float x, float s, double zp, double lo, double hi) {
  const float q = x / s;  // float32 division: the spec's x / y_scale
  if (std::isnan(q)) return lo;
  const double v = round_half_even(static_cast<double>(q)) + zp;
  return v < lo ? lo : (v > hi ? hi : v);
}

template <typename Q>
double lo_of() {
  return static_cast<double>(std::numeric_limits<Q>::min());
}
template <typename Q>
double hi_of() {
  return static_cast<double>(std::numeric_limits<Q>::max());
}

// Values around the rounding ties of scale s: (k + 1/2) * s and their float32 neighbours, exact
// ties (s a power of two), the range's ends and beyond, zeros, infinities.
std::vector<float> tie_values(float s, int lo_k, int hi_k) {
  std::vector<float> v;
  for (int k = lo_k; k <= hi_k; ++k) {
    const float t = static_cast<float>((k + 0.5) * static_cast<double>(s));
    v.push_back(t);
    v.push_back(std::nextafter(t, INFINITY));
    v.push_back(std::nextafter(t, -INFINITY));
  }
  for (float e : {0.0f, -0.0f, INFINITY, -INFINITY, 1e30f, -1e30f}) v.push_back(e);
  return v;
}

// Quantizes tie_values(s) with zero point zp through run(inputs, attributes, opset).
template <typename Q, typename F>
void check_quantize_per_tensor(F&& run, float s, Q zp, int64_t opset) {
  const std::vector<float> x = tie_values(s, -300, 300);
  const int64_t n = static_cast<int64_t>(x.size());
  Tensor out = run({make<float>({n}, x), make<float>({}, {s}), make<Q>({}, {zp})}, {}, opset);
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = quantize_ref(x[i], s, zp, lo_of<Q>(), hi_of<Q>());
  expect_near(out, dtype_of<Q>(), {n}, ref, kExact);
}

TEST_P(OpTest, QuantizeLinear_PerTensorHalvesToEvenAndSaturates) {
  auto run = [&](std::vector<Tensor> in, Attrs a, int64_t opset) { return run1("QuantizeLinear", std::move(in), a, opset); };
  for (int64_t opset : {10, 13, 19, 21}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    // 0.5: exact ties (0.25 / 0.5 = 0.5 rounds to 0, 0.75 / 0.5 = 1.5 to 2); 0.1 and 0.3: ties of
    // the float32 quotient that x * (1 / s) would move.
    for (float s : {0.5f, 0.1f, 0.3f, 0.0123f}) {
      check_quantize_per_tensor<uint8_t>(run, s, 128, opset);
      check_quantize_per_tensor<int8_t>(run, s, -3, opset);
      check_quantize_per_tensor<uint8_t>(run, s, 0, opset);
    }
  }
  for (float s : {0.5f, 0.1f, 0.3f}) {  // int16 / uint16 (ONNX: opset 21)
    check_quantize_per_tensor<int16_t>(run, s, 7, 21);
    check_quantize_per_tensor<uint16_t>(run, s, 40000, 21);
  }
}

TEST_P(OpTest, QuantizeLinear_DividesRatherThanMultipliesByTheReciprocal) {
  // x / s and x * (1 / s) round to different halves here (found with numpy): -29.949999f / 0.1f is
  // -299.49997 (to -299), while -29.949999f * (1 / 0.1f) is -299.5 (to -300); -74.25f / 0.3f is
  // -247.49998 (to -247), the product -247.5 (to -248).
  const float x0 = -29.949998856f, x1 = -74.25f;
  ASSERT_EQ(std::nearbyint(x0 / 0.1f), -299.0f);  // the test's premise, on this machine's float32
  ASSERT_EQ(std::nearbyint(x0 * (1.0f / 0.1f)), -300.0f);
  Tensor a = run1("QuantizeLinear", {make<float>({1}, {x0}), make<float>({}, {0.1f}), make<int16_t>({}, {0})}, {}, 21);
  expect_near(a, DType::kInt16, {1}, {-299}, kExact);
  Tensor b = run1("QuantizeLinear", {make<float>({1}, {x1}), make<float>({}, {0.3f}), make<int16_t>({}, {0})}, {}, 21);
  expect_near(b, DType::kInt16, {1}, {-247}, kExact);
}

TEST_P(OpTest, QuantizeLinear_NoZeroPointGivesUint8_NaNGivesTheMinimum) {
  const std::vector<float> x = {-1.0f, 0.0f, 0.5f, 1.5f, 2.5f, 127.4f, 300.0f, NAN, -NAN};
  for (int64_t opset : {10, 13, 19, 21}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    Tensor out = run1("QuantizeLinear", {make<float>({3, 3}, x), make<float>({}, {1.0f})}, {}, opset);
    expect_near(out, DType::kUInt8, {3, 3}, {0, 0, 0, 2, 2, 127, 255, 0, 0}, kExact);
  }
  Tensor i8 = run1("QuantizeLinear", {make<float>({3, 3}, x), make<float>({}, {1.0f}), make<int8_t>({}, {0})}, {}, 13);
  expect_near(i8, DType::kInt8, {3, 3}, {-1, 0, 0, 2, 2, 127, 127, -128, -128}, kExact);
  // Opset 21's output_dtype chooses the type without a zero point (INT8 = 3, UINT16 = 4).
  Tensor o8 = run1("QuantizeLinear", {make<float>({3, 3}, x), make<float>({}, {1.0f})}, {{"output_dtype", a_int(3)}}, 21);
  expect_near(o8, DType::kInt8, {3, 3}, {-1, 0, 0, 2, 2, 127, 127, -128, -128}, kExact);
  Tensor o16 = run1("QuantizeLinear", {make<float>({3, 3}, x), make<float>({}, {1.0f})}, {{"output_dtype", a_int(4)}}, 21);
  expect_near(o16, DType::kUInt16, {3, 3}, {0, 0, 0, 2, 2, 127, 300, 0, 0}, kExact);
}

TEST_P(OpTest, QuantizeLinear_PerAxis_NegativeAxis_Blocked) {
  const Shape shape{2, 3, 4};
  const auto x = rand_f32(24, -40, 40);
  const std::vector<float> s1 = {0.25f, 0.1f, 0.7f};          // along axis 1 (3)
  const std::vector<int8_t> z1 = {-5, 0, 9};
  const std::vector<float> s2 = {0.5f, 0.3f, 0.2f, 1.1f};     // along axis -1 (4)
  const std::vector<uint8_t> z2 = {0, 128, 10, 255};
  std::vector<double> r1(24), r2(24);
  for (int64_t i = 0; i < 24; ++i) {
    const auto idx = unravel(i, shape);
    r1[i] = quantize_ref(x[i], s1[idx[1]], z1[idx[1]], -128, 127);
    r2[i] = quantize_ref(x[i], s2[idx[2]], z2[idx[2]], 0, 255);
  }
  for (int64_t opset : {13, 19, 21}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    // axis defaults to 1
    expect_near(run1("QuantizeLinear", {make<float>(shape, x), make<float>({3}, s1), make<int8_t>({3}, z1)}, {}, opset),
                DType::kInt8, shape, r1, kExact);
    expect_near(run1("QuantizeLinear", {make<float>(shape, x), make<float>({3}, s1), make<int8_t>({3}, z1)},
                     {{"axis", a_int(-2)}}, opset),
                DType::kInt8, shape, r1, kExact);
    expect_near(run1("QuantizeLinear", {make<float>(shape, x), make<float>({4}, s2), make<uint8_t>({4}, z2)},
                     {{"axis", a_int(-1)}}, opset),
                DType::kUInt8, shape, r2, kExact);
  }
  // Blocked (opset 21): axis 2 (4 elements) in blocks of 3: scale [2, 3, 2], element d uses block d / 3.
  const auto sb = rand_f32(12, 0.05f, 0.5f);
  const auto zb = rand_int<int>(12, -20, 20);
  std::vector<int8_t> zb8(zb.begin(), zb.end());
  std::vector<double> rb(24);
  for (int64_t i = 0; i < 24; ++i) {
    const auto idx = unravel(i, shape);
    const int64_t j = (idx[0] * 3 + idx[1]) * 2 + idx[2] / 3;
    rb[i] = quantize_ref(x[i], sb[j], zb8[j], -128, 127);
  }
  expect_near(run1("QuantizeLinear", {make<float>(shape, x), make<float>({2, 3, 2}, sb), make<int8_t>({2, 3, 2}, zb8)},
                   {{"axis", a_int(-1)}, {"block_size", a_int(3)}}, 21),
              DType::kInt8, shape, rb, kExact);
}

TEST_P(OpTest, QuantizeLinear_Float16XAndScale) {
  // float16 x and scale (opset 19): both widen exactly, then the float32 division as for float32.
  const std::vector<float> xf = {0.25f, 0.75f, -0.75f, 1.25f, 3.0f, -100.0f, 63.5f, 0.1f};
  std::vector<uint16_t> xh;
  for (float v : xf) xh.push_back(float_to_half(v));
  const uint16_t sh = float_to_half(0.5f);
  Tensor out = run1("QuantizeLinear",
                    {Tensor::copy_of(DType::kFloat16, {8}, xh.data()), Tensor::copy_of(DType::kFloat16, {}, &sh),
                     make<int8_t>({}, {1})},
                    {}, 19);
  std::vector<double> ref;
  for (uint16_t h : xh) ref.push_back(quantize_ref(static_cast<float>(half_to_double(h)), 0.5f, 1, -128, 127));
  expect_near(out, DType::kInt8, {8}, ref, kExact);
}

TEST_P(OpTest, QuantizeLinear_Int32X) {
  // An int32 x (ONNX's T1 has int32 since opset 10) with a float32 scale (opsets 10 to 18; from 19
  // the scale has x's type): x converted to the nearest float32 (exact up to 2^24), then the
  // float32 division as for float32. Scale 2: odd x are exact ties; 2^24 + 1 converts to 2^24; the
  // ends saturate.
  const std::vector<int32_t> x = {-7, -5, -3, -1, 0, 1, 3, 5, 7, 255, 256, 257, -257, 16777217, -16777217,
                                  std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()};
  const int64_t n = static_cast<int64_t>(x.size());
  for (int64_t opset : {10, 13, 18}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    for (float s : {2.0f, 0.3f, 1e-6f}) {
      std::vector<double> r8, ru8;
      for (int32_t v : x) {
        r8.push_back(quantize_ref(static_cast<float>(v), s, -3, -128, 127));
        ru8.push_back(quantize_ref(static_cast<float>(v), s, 0, 0, 255));
      }
      expect_near(
          run1("QuantizeLinear", {make<int32_t>({n}, x), make<float>({}, {s}), make<int8_t>({}, {-3})}, {}, opset),
          DType::kInt8, {n}, r8, kExact);
      expect_near(run1("QuantizeLinear", {make<int32_t>({n}, x), make<float>({}, {s})}, {}, opset), DType::kUInt8, {n},
                  ru8, kExact);
    }
  }
  // Per-axis (opset 13; axis 0 of [2, n]: the second row's scale and zero point).
  std::vector<int32_t> x2 = x;
  x2.insert(x2.end(), x.begin(), x.end());
  std::vector<double> r2;
  for (int64_t i = 0; i < 2 * n; ++i) {
    const bool second = i >= n;
    r2.push_back(quantize_ref(static_cast<float>(x2[i]), second ? 0.5f : 3.0f, second ? 100 : -7, -128, 127));
  }
  expect_near(run1("QuantizeLinear",
                   {make<int32_t>({2, n}, x2), make<float>({2}, {3.0f, 0.5f}), make<int8_t>({2}, {-7, 100})},
                   {{"axis", a_int(0)}}, 13),
              DType::kInt8, {2, n}, r2, kExact);
  // From opset 19 a float scale with an int32 x is no valid model (and an int32 scale is refused).
  for (int64_t opset : {19, 21}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    expect_error(StatusCode::kInvalidArgument, "y_scale of type float32 with an int32 x is ONNX's at opsets 10 to 18 "
                 "only (from opset 19 y_scale has x's type), not at " + std::to_string(opset), "QuantizeLinear",
                 {make<int32_t>({n}, x), make<float>({}, {2.0f})}, {}, opset);
    expect_error(StatusCode::kInvalidArgument, "y_scale of type int32", "QuantizeLinear",
                 {make<int32_t>({n}, x), make<int32_t>({}, {2})}, {}, opset);
  }
}

template <typename X>
std::vector<double> dequantize_ref(const std::vector<X>& x, float s, int64_t zp) {
  std::vector<double> r;
  // The spec's (x - zero_point) * scale, rounded to float32 once (exact below 2^24 before the product).
  for (X v : x) r.push_back(static_cast<double>(static_cast<float>(static_cast<double>(v) - static_cast<double>(zp)) * s));
  return r;
}

TEST_P(OpTest, DequantizeLinear_EveryTypePerTensor) {
  for (int64_t opset : {10, 13, 19, 21}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    const std::vector<uint8_t> u8 = {0, 1, 127, 128, 254, 255};
    expect_near(run1("DequantizeLinear", {make<uint8_t>({2, 3}, u8), make<float>({}, {0.37f}), make<uint8_t>({}, {128})},
                     {}, opset),
                DType::kFloat32, {2, 3}, dequantize_ref<uint8_t>(u8, 0.37f, 128), kExact);
    const std::vector<int8_t> i8 = {-128, -127, -1, 0, 1, 127};
    expect_near(run1("DequantizeLinear", {make<int8_t>({6}, i8), make<float>({}, {0.02f}), make<int8_t>({}, {-7})}, {},
                     opset),
                DType::kFloat32, {6}, dequantize_ref<int8_t>(i8, 0.02f, -7), kExact);
    // No zero point: 0. int32 x (a bias), no zero point.
    expect_near(run1("DequantizeLinear", {make<int8_t>({6}, i8), make<float>({}, {1.5f})}, {}, opset), DType::kFloat32,
                {6}, dequantize_ref<int8_t>(i8, 1.5f, 0), kExact);
    const std::vector<int32_t> i32 = {-2147483647 - 1, -100000, -1, 0, 3, 16777217, 2147483647};
    expect_near(run1("DequantizeLinear", {make<int32_t>({7}, i32), make<float>({}, {0.001f})}, {}, opset),
                DType::kFloat32, {7}, dequantize_ref<int32_t>(i32, 0.001f, 0), kExact);
  }
  const std::vector<int16_t> i16 = {-32768, -5, 0, 9, 32767};
  expect_near(run1("DequantizeLinear", {make<int16_t>({5}, i16), make<float>({}, {0.5f}), make<int16_t>({}, {-32768})}, {},
                   21),
              DType::kFloat32, {5}, dequantize_ref<int16_t>(i16, 0.5f, -32768), kExact);
  const std::vector<uint16_t> u16 = {0, 1, 40000, 65535};
  expect_near(run1("DequantizeLinear", {make<uint16_t>({4}, u16), make<float>({}, {0.25f}), make<uint16_t>({}, {65535})},
                   {}, 21),
              DType::kFloat32, {4}, dequantize_ref<uint16_t>(u16, 0.25f, 65535), kExact);
  // An int32 zero point of an int32 x.
  const std::vector<int32_t> b = {5, -5, 1000};
  expect_near(run1("DequantizeLinear", {make<int32_t>({3}, b), make<float>({}, {2.0f}), make<int32_t>({}, {3})}, {}, 13),
              DType::kFloat32, {3}, {4, -16, 1994}, kExact);
}

TEST_P(OpTest, DequantizeLinear_PerAxisNegativeAxisAndBlocked) {
  const Shape shape{3, 2, 4};
  const auto xi = rand_int<int>(24, -128, 127);
  std::vector<int8_t> x(xi.begin(), xi.end());
  const std::vector<float> s0 = {0.1f, 0.02f, 3.0f};  // axis 0 (= -3)
  const std::vector<int8_t> z0 = {1, -2, 100};
  const std::vector<float> s1 = {0.5f, 0.25f};        // axis 1 (default; = -2)
  const std::vector<int8_t> z1 = {-128, 127};
  std::vector<double> r0(24), r1(24), rb(24);
  for (int64_t i = 0; i < 24; ++i) {
    const auto idx = unravel(i, shape);
    r0[i] = static_cast<float>(static_cast<double>(x[i]) - z0[idx[0]]) * s0[idx[0]];
    r1[i] = static_cast<float>(static_cast<double>(x[i]) - z1[idx[1]]) * s1[idx[1]];
  }
  for (int64_t opset : {13, 19, 21}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    expect_near(run1("DequantizeLinear", {make<int8_t>(shape, x), make<float>({3}, s0), make<int8_t>({3}, z0)},
                     {{"axis", a_int(-3)}}, opset),
                DType::kFloat32, shape, r0, kExact);
    expect_near(run1("DequantizeLinear", {make<int8_t>(shape, x), make<float>({2}, s1), make<int8_t>({2}, z1)}, {}, opset),
                DType::kFloat32, shape, r1, kExact);
  }
  // Blocked (opset 21) along axis 2 (4) in blocks of 3: scale [3, 2, 2]; no zero point.
  const auto sbl = rand_f32(12, 0.01f, 2.0f);
  for (int64_t i = 0; i < 24; ++i) {
    const auto idx = unravel(i, shape);
    rb[i] = static_cast<float>(x[i]) * sbl[(idx[0] * 2 + idx[1]) * 2 + idx[2] / 3];
  }
  expect_near(run1("DequantizeLinear", {make<int8_t>(shape, x), make<float>({3, 2, 2}, sbl)},
                   {{"axis", a_int(2)}, {"block_size", a_int(3)}}, 21),
              DType::kFloat32, shape, rb, kExact);
}

TEST_P(OpTest, DequantizeLinear_Float16ScaleGivesFloat16) {
  // y takes the scale's type: the float32 product rounded once to float16.
  const std::vector<uint8_t> x = {0, 3, 100, 200, 255};
  const uint16_t sh = float_to_half(0.0123f);
  Tensor out = run1("DequantizeLinear", {make<uint8_t>({5}, x), Tensor::copy_of(DType::kFloat16, {}, &sh),
                                         make<uint8_t>({}, {3})},
                    {}, 19);
  ASSERT_EQ(out.dtype(), DType::kFloat16);
  const float s = static_cast<float>(half_to_double(sh));
  const std::vector<double> got = to_doubles(out);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float p = static_cast<float>(static_cast<int>(x[i]) - 3) * s;
    EXPECT_EQ(got[i], half_to_double(double_to_half(p))) << "element " << i;
  }
}

TEST_P(OpTest, QuantizeLinear_Errors) {
  const Tensor x = make<float>({2, 3}, rand_f32(6));
  // A zero point of another shape than the scale's; a per-axis scale of the wrong length; a
  // per-axis scale before opset 13; axis out of range.
  expect_error(StatusCode::kInvalidArgument, "differs from y_scale's shape", "QuantizeLinear",
               {x, make<float>({3}, {1, 1, 1}), make<uint8_t>({2}, {0, 0})}, {}, 13);
  expect_error(StatusCode::kInvalidArgument, "for per-axis quantization", "QuantizeLinear",
               {x, make<float>({2}, {1, 1}), make<uint8_t>({2}, {0, 0})}, {}, 13);
  expect_error(StatusCode::kInvalidArgument, "must be a scalar before opset 13", "QuantizeLinear",
               {x, make<float>({3}, {1, 1, 1}), make<uint8_t>({3}, {0, 0, 0})}, {}, 10);
  expect_error(StatusCode::kInvalidArgument, "axis 2 is out of range", "QuantizeLinear",
               {x, make<float>({3}, {1, 1, 1})}, {{"axis", a_int(2)}}, 13);
  // float8 / int4 output types by name; output_dtype against the zero point's type.
  expect_error(StatusCode::kUnimplemented, "FLOAT8E4M3FN", "QuantizeLinear", {x, make<float>({}, {1})},
               {{"output_dtype", a_int(17)}}, 21);
  expect_error(StatusCode::kUnimplemented, "INT4", "QuantizeLinear", {x, make<float>({}, {1})},
               {{"output_dtype", a_int(22)}}, 21);
  expect_error(StatusCode::kInvalidArgument, "differs from y_zero_point's type", "QuantizeLinear",
               {x, make<float>({}, {1}), make<uint8_t>({}, {0})}, {{"output_dtype", a_int(3)}}, 21);
  // Types: an int32 zero point, a float64 scale, an int64 x.
  expect_error(StatusCode::kInvalidArgument, "y_zero_point of type int32", "QuantizeLinear",
               {x, make<float>({}, {1}), make<int32_t>({}, {0})}, {}, 13);
  expect_error(StatusCode::kInvalidArgument, "y_scale of type float64", "QuantizeLinear", {x, make<double>({}, {1})}, {}, 13);
  expect_error(StatusCode::kUnimplemented, "int64", "QuantizeLinear", {make<int64_t>({2}, {1, 2}), make<float>({}, {1})},
               {}, 13);
  // int16 / uint16 y before opset 21 (ONNX adds them at 21).
  for (int64_t opset : {10, 13, 19}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    expect_error(StatusCode::kInvalidArgument, "y_zero_point of type int16 needs opset 21, not " + std::to_string(opset),
                 "QuantizeLinear", {x, make<float>({}, {1}), make<int16_t>({}, {0})}, {}, opset);
    expect_error(StatusCode::kInvalidArgument, "y_zero_point of type uint16 needs opset 21", "QuantizeLinear",
                 {x, make<float>({}, {1}), make<uint16_t>({}, {0})}, {}, opset);
  }
  // Blocked: the scale's shape must follow x's.
  expect_error(StatusCode::kInvalidArgument, "for blocked quantization", "QuantizeLinear",
               {x, make<float>({2, 3}, {1, 1, 1, 1, 1, 1})}, {{"block_size", a_int(2)}}, 21);
  expect_error(StatusCode::kInvalidArgument, "block_size -1", "QuantizeLinear", {x, make<float>({}, {1})},
               {{"block_size", a_int(-1)}}, 21);
}

TEST_P(OpTest, DequantizeLinear_Errors) {
  // int16 / uint16 x before opset 21 (ONNX adds them at 21).
  for (int64_t opset : {10, 13, 19}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    expect_error(StatusCode::kInvalidArgument, "x of type int16 needs opset 21, not " + std::to_string(opset),
                 "DequantizeLinear", {make<int16_t>({2}, {1, 2}), make<float>({}, {1})}, {}, opset);
    expect_error(StatusCode::kInvalidArgument, "x of type uint16 needs opset 21", "DequantizeLinear",
                 {make<uint16_t>({2}, {1, 2}), make<float>({}, {1}), make<uint16_t>({}, {0})}, {}, opset);
  }
  expect_error(StatusCode::kInvalidArgument, "x_zero_point of type int8 differs from x's type uint8", "DequantizeLinear",
               {make<uint8_t>({2}, {1, 2}), make<float>({}, {1}), make<int8_t>({}, {0})}, {}, 13);
  expect_error(StatusCode::kUnimplemented, "DequantizeLinear of a float32 x", "DequantizeLinear",
               {make<float>({2}, {1, 2}), make<float>({}, {1})}, {}, 13);
  expect_error(StatusCode::kInvalidArgument, "x_scale [2, 1]", "DequantizeLinear",
               {make<uint8_t>({2, 2}, {1, 2, 3, 4}), make<float>({2, 1}, {1, 1})}, {}, 13);
}

// ---- DynamicQuantizeLinear ----

// The spec's DynamicQuantizeLinear of x, by its formulas (in float32, as ONNX Runtime computes
// them): y_scale = (max(0, max x) - min(0, min x)) / 255 (1 for an empty range), y_zero_point =
// round_half_even(clamp(0 - min / y_scale, 0, 255)), y = QuantizeLinear(x, y_scale, y_zero_point).
struct DynamicRef {
  float scale = 1;
  double zero_point = 0;
  std::vector<double> y;
};
DynamicRef dynamic_quantize_ref(const std::vector<float>& x) {
  float lo = 0, hi = 0;
  for (float v : x) {
    if (std::isnan(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  DynamicRef r;
  r.scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
  const float z = std::clamp(0.0f - lo / r.scale, 0.0f, 255.0f);
  r.zero_point = round_half_even(z);
  for (float v : x) r.y.push_back(quantize_ref(v, r.scale, r.zero_point, 0, 255));
  return r;
}

TEST_P(OpTest, DynamicQuantizeLinear_ScaleZeroPointAndY) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<std::pair<std::string, std::vector<float>>> cases = {
      {"both signs", rand_f32(60, -3.0f, 5.0f)},
      {"all positive (zero point 0)", rand_f32(40, 0.5f, 2.0f)},
      {"all negative (zero point 255)", rand_f32(40, -7.0f, -0.25f)},
      {"zeros (scale 1)", std::vector<float>(9, 0.0f)},
      {"a NaN takes no part in the range and gives 0", {1.5f, nan, -0.5f, 0.75f, nan, 2.0f}},
      {"one element", {-2.5f}},
      {"ties to even and NaNs past the first 8 elements (scale 1/128)", [] {
         std::vector<float> v = {-1.0f, 127.0f / 128, 0.0f, 0.25f, 0.5f, 0.75f, 1.0f / 128, -1.0f / 128,
                                 std::numeric_limits<float>::quiet_NaN()};
         for (int k = -10; k <= 10; ++k) {
           const float t = (static_cast<float>(k) + 0.5f) / 128;
           v.insert(v.end(), {t, std::nextafter(t, INFINITY), std::nextafter(t, -INFINITY)});
           if (k == 3) v.push_back(std::numeric_limits<float>::quiet_NaN());
         }
         return v;
       }()},
  };
  for (const auto& [what, x] : cases) {
    SCOPED_TRACE(what);
    const int64_t n = static_cast<int64_t>(x.size());
    std::vector<Tensor> outs;
    ASSERT_TRUE(run_node(*backend_, "DynamicQuantizeLinear", {make<float>({n / 3 * 3 == n ? 3 : 1, n / 3 * 3 == n ? n / 3 : n}, x)},
                         3, &outs, {}, 11).ok());
    ASSERT_EQ(outs.size(), 3u);
    const DynamicRef ref = dynamic_quantize_ref(x);
    ASSERT_EQ(outs[1].dtype(), DType::kFloat32);
    ASSERT_EQ(outs[1].shape(), Shape{});
    ASSERT_EQ(outs[2].dtype(), DType::kUInt8);
    ASSERT_EQ(outs[2].shape(), Shape{});
    EXPECT_EQ(to_doubles(outs[1])[0], static_cast<double>(ref.scale));
    EXPECT_EQ(to_doubles(outs[2])[0], ref.zero_point);
    std::vector<uint8_t> want;
    for (double v : ref.y) want.push_back(static_cast<uint8_t>(v));
    expect_equal<uint8_t>(outs[0], outs[0].shape(), want);
    EXPECT_EQ(outs[0].numel(), n);
  }
}

TEST_P(OpTest, DynamicQuantizeLinear_RefusesOtherTypes) {
  expect_error(StatusCode::kUnimplemented, "DynamicQuantizeLinear of a float64 x is not supported", "DynamicQuantizeLinear",
               {make<double>({2}, {1, 2})}, {}, 11);
}

// ---- MatMulInteger, ConvInteger ----

// n random values of an 8-bit type T in [lo, hi].
template <typename T>
std::vector<T> rand_8bit(std::mt19937& rng, int64_t n, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>(d(rng));
  return v;
}

// (A - za) (B - zb) for A [m x k], B [k x n] at the given offsets, in int64; za per row or one
// value, zb per column or one value (empty: 0).
template <typename TA, typename TB>
std::vector<int64_t> int_matmul_ref(const std::vector<TA>& a, const std::vector<TB>& b, int64_t m, int64_t n, int64_t k,
                                    const std::vector<TA>& za, const std::vector<TB>& zb, int64_t a_off = 0,
                                    int64_t b_off = 0) {
  std::vector<int64_t> y(static_cast<std::size_t>(m * n), 0);
  for (int64_t i = 0; i < m; ++i) {
    const int64_t zai = za.empty() ? 0 : za[za.size() == 1 ? 0 : i];
    for (int64_t j = 0; j < n; ++j) {
      const int64_t zbj = zb.empty() ? 0 : zb[zb.size() == 1 ? 0 : j];
      int64_t s = 0;
      for (int64_t t = 0; t < k; ++t) s += (a[a_off + i * k + t] - zai) * (b[b_off + t * n + j] - zbj);
      y[i * n + j] = s;
    }
  }
  return y;
}

std::vector<int32_t> as_int32(const std::vector<int64_t>& v) { return std::vector<int32_t>(v.begin(), v.end()); }

// Whether a sum is odd and past 2^24: float32 cannot hold it, so one float32 product over all of K
// would round it.
bool has_odd_past_2_24(const std::vector<int64_t>& sums) {
  for (int64_t v : sums)
    if (std::llabs(v) > (int64_t{1} << 24) && v % 2 != 0) return true;
  return false;
}

// A [m x k] x B [k x n] of random values, zero points per row / column or per tensor, through run
// (the fixture's run1).
template <typename TA, typename TB, typename Run>
void check_matmul_integer(Run&& run, std::mt19937& rng, int64_t m, int64_t n, int64_t k, bool a_per_row, bool b_per_col) {
  constexpr int a_min = std::is_signed_v<TA> ? -128 : 0, a_max = std::is_signed_v<TA> ? 127 : 255;
  constexpr int b_min = std::is_signed_v<TB> ? -128 : 0, b_max = std::is_signed_v<TB> ? 127 : 255;
  const auto a = rand_8bit<TA>(rng, m * k, a_min, a_max);
  const auto b = rand_8bit<TB>(rng, k * n, b_min, b_max);
  const auto za = rand_8bit<TA>(rng, a_per_row ? m : 1, a_min, a_max);
  const auto zb = rand_8bit<TB>(rng, b_per_col ? n : 1, b_min, b_max);
  const Tensor out = run({make<TA>({m, k}, a), make<TB>({k, n}, b), a_per_row ? make<TA>({m}, za) : make<TA>({}, za),
                          b_per_col ? make<TB>({n}, zb) : make<TB>({1}, zb)});
  expect_equal<int32_t>(out, {m, n}, as_int32(int_matmul_ref(a, b, m, n, k, za, zb)));
}

TEST_P(OpTest, MatMulInteger_EveryTypePairAndZeroPointForm) {
  auto run = [&](std::vector<Tensor> in) { return run1("MatMulInteger", std::move(in), {}, 10); };
  {
    SCOPED_TRACE("uint8 x int8, per tensor");
    check_matmul_integer<uint8_t, int8_t>(run, rng_, 5, 7, 9, false, false);
  }
  {
    SCOPED_TRACE("int8 x uint8, per row and per column");
    check_matmul_integer<int8_t, uint8_t>(run, rng_, 6, 4, 11, true, true);
  }
  {
    SCOPED_TRACE("uint8 x uint8, per row");
    check_matmul_integer<uint8_t, uint8_t>(run, rng_, 3, 17, 5, true, false);
  }
  {
    SCOPED_TRACE("int8 x int8, per column");
    check_matmul_integer<int8_t, int8_t>(run, rng_, 20, 3, 33, false, true);
  }
}

// K of 1100 with products near 255 * -128: sums near -3.4e7, past 2^24, where float32 no longer
// holds every integer. One float32 product over all of K would round them; the exact sums must come.
TEST_P(OpTest, MatMulInteger_SumsPastTwoToThe24AreExact) {
  const int64_t m = 4, n = 5, k = 1100;
  std::vector<uint8_t> a;
  std::vector<int8_t> b;
  std::vector<int64_t> ref;
  for (int tries = 0; tries < 20 && !has_odd_past_2_24(ref); ++tries) {  // the test needs sums float32 cannot hold
    a = rand_8bit<uint8_t>(rng_, m * k, 201, 255);
    b = rand_8bit<int8_t>(rng_, k * n, -128, -101);
    ref = int_matmul_ref<uint8_t, int8_t>(a, b, m, n, k, {}, {});
  }
  ASSERT_TRUE(has_odd_past_2_24(ref));
  const Tensor out = run1("MatMulInteger", {make<uint8_t>({m, k}, a), make<int8_t>({k, n}, b)}, {}, 10);
  expect_equal<int32_t>(out, {m, n}, as_int32(ref));
}

// A [2, 3, 4, K] x B [3, K, N] broadcast per batch; A [2, 5, K] x B [K, N] folded; 1-D operands.
TEST_P(OpTest, MatMulInteger_BatchesBroadcastAndVectors) {
  {
    const int64_t k = 6, n = 3;
    const auto a = rand_8bit<uint8_t>(rng_, 2 * 3 * 4 * k, 0, 255);
    const auto b = rand_8bit<int8_t>(rng_, 3 * k * n, -128, 127);
    const Tensor out = run1("MatMulInteger", {make<uint8_t>({2, 3, 4, k}, a), make<int8_t>({3, k, n}, b),
                                              make<uint8_t>({}, {131}), make<int8_t>({}, {-3})}, {}, 10);
    std::vector<int64_t> ref;
    for (int64_t bi = 0; bi < 6; ++bi) {
      const auto part = int_matmul_ref<uint8_t, int8_t>(a, b, 4, n, k, {131}, {-3}, bi * 4 * k, (bi % 3) * k * n);
      ref.insert(ref.end(), part.begin(), part.end());
    }
    expect_equal<int32_t>(out, {2, 3, 4, n}, as_int32(ref));
  }
  {
    const int64_t k = 8, n = 6;
    const auto a = rand_8bit<int8_t>(rng_, 2 * 5 * k, -128, 127);
    const auto b = rand_8bit<uint8_t>(rng_, k * n, 0, 255);
    const auto zb = rand_8bit<uint8_t>(rng_, n, 0, 255);
    const Tensor out = run1("MatMulInteger", {make<int8_t>({2, 5, k}, a), make<uint8_t>({k, n}, b), Tensor(),
                                              make<uint8_t>({n}, zb)}, {}, 10);
    expect_equal<int32_t>(out, {2, 5, n}, as_int32(int_matmul_ref<int8_t, uint8_t>(a, b, 10, n, k, {}, zb)));
  }
  {
    const int64_t k = 7;
    const auto a = rand_8bit<uint8_t>(rng_, k, 0, 255);
    const auto b = rand_8bit<uint8_t>(rng_, k, 0, 255);
    const Tensor out = run1("MatMulInteger", {make<uint8_t>({k}, a), make<uint8_t>({k}, b), make<uint8_t>({}, {9})}, {}, 10);
    expect_equal<int32_t>(out, {}, as_int32(int_matmul_ref<uint8_t, uint8_t>(a, b, 1, 1, k, {9}, {})));
  }
}

TEST_P(OpTest, MatMulInteger_Errors) {
  const Tensor a = make<uint8_t>({2, 3, 4}, std::vector<uint8_t>(24, 1));
  const Tensor b = make<int8_t>({4, 5}, std::vector<int8_t>(20, 1));
  expect_error(StatusCode::kUnimplemented, "MatMulInteger of float32 A and int8 B is not supported", "MatMulInteger",
               {make<float>({2, 4}, rand_f32(8)), b}, {}, 10);
  // A per-row zero point of a 3-D A (the spec's [D1, M, 1] form), a zero point of another type.
  expect_error(StatusCode::kUnimplemented, "a_zero_point [3] is not supported (a scalar)", "MatMulInteger",
               {a, b, make<uint8_t>({3}, {1, 2, 3})}, {}, 10);
  expect_error(StatusCode::kUnimplemented, "b_zero_point [1, 5] is not supported", "MatMulInteger",
               {a, b, Tensor(), make<int8_t>({1, 5}, {1, 2, 3, 4, 5})}, {}, 10);
  expect_error(StatusCode::kInvalidArgument, "a_zero_point of type int8 differs from its operand's type uint8",
               "MatMulInteger", {a, b, make<int8_t>({}, {1})}, {}, 10);
  expect_error(StatusCode::kInvalidArgument, "do not multiply", "MatMulInteger",
               {a, make<int8_t>({5, 4}, std::vector<int8_t>(20, 1))}, {}, 10);
}

// ConvInteger by its definition, in int64: padding holds x_zero_point (adds nothing).
template <typename TX, typename TW>
std::vector<int64_t> conv_integer_ref(const std::vector<TX>& x, const std::vector<TW>& w, int64_t n, int64_t c, int64_t h,
                                      int64_t wd, int64_t m, int64_t group, int64_t kh, int64_t kw, const int64_t s[2],
                                      const int64_t d[2], const int64_t pb[2], int64_t oh, int64_t ow, int64_t zx,
                                      const std::vector<TW>& zw) {
  std::vector<int64_t> y;
  const int64_t cg = c / group, mg = m / group;
  for (int64_t img = 0; img < n; ++img)
    for (int64_t mo = 0; mo < m; ++mo)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t z = zw.empty() ? 0 : zw[zw.size() == 1 ? 0 : mo];
          int64_t acc = 0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t iy = oy * s[0] - pb[0] + i * d[0], ix = ox * s[1] - pb[1] + j * d[1];
                const int64_t ch = (mo / mg) * cg + ci;
                const int64_t xv = iy >= 0 && iy < h && ix >= 0 && ix < wd ? x[((img * c + ch) * h + iy) * wd + ix] : zx;
                acc += (xv - zx) * (w[((mo * cg + ci) * kh + i) * kw + j] - z);
              }
          y.push_back(acc);
        }
  return y;
}

TEST_P(OpTest, ConvInteger_PadsStridesDilationsGroupsAndZeroPoints) {
  const int64_t n = 2, c = 4, h = 7, wd = 6, m = 6, group = 2, kh = 3, kw = 2;
  const int64_t s[2] = {2, 1}, d[2] = {1, 2}, pb[2] = {1, 0}, pe[2] = {2, 1};
  const int64_t oh = (h + pb[0] + pe[0] - (d[0] * (kh - 1) + 1)) / s[0] + 1;
  const int64_t ow = (wd + pb[1] + pe[1] - (d[1] * (kw - 1) + 1)) / s[1] + 1;
  const auto x = rand_8bit<uint8_t>(rng_, n * c * h * wd, 0, 255);
  const auto w = rand_8bit<int8_t>(rng_, m * (c / group) * kh * kw, -128, 127);
  const auto zw = rand_8bit<int8_t>(rng_, m, -128, 127);
  const Attrs attrs = {{"strides", a_ints({s[0], s[1]})}, {"dilations", a_ints({d[0], d[1]})},
                       {"pads", a_ints({pb[0], pb[1], pe[0], pe[1]})}, {"group", a_int(group)}};
  const Tensor wt = make<int8_t>({m, c / group, kh, kw}, w);
  // Per-channel w_zero_point, then per tensor, then none.
  const Tensor out = run1("ConvInteger", {make<uint8_t>({n, c, h, wd}, x), wt, make<uint8_t>({}, {77}), make<int8_t>({m}, zw)},
                          attrs, 10);
  expect_equal<int32_t>(out, {n, m, oh, ow},
                        as_int32(conv_integer_ref<uint8_t, int8_t>(x, w, n, c, h, wd, m, group, kh, kw, s, d, pb, oh, ow, 77, zw)));
  const Tensor out1 = run1("ConvInteger", {make<uint8_t>({n, c, h, wd}, x), wt, make<uint8_t>({1}, {200}), make<int8_t>({}, {5})},
                           attrs, 10);
  expect_equal<int32_t>(out1, {n, m, oh, ow},
                        as_int32(conv_integer_ref<uint8_t, int8_t>(x, w, n, c, h, wd, m, group, kh, kw, s, d, pb, oh, ow, 200, {5})));
  const Tensor out0 = run1("ConvInteger", {make<uint8_t>({n, c, h, wd}, x), wt}, attrs, 10);
  expect_equal<int32_t>(out0, {n, m, oh, ow},
                        as_int32(conv_integer_ref<uint8_t, int8_t>(x, w, n, c, h, wd, m, group, kh, kw, s, d, pb, oh, ow, 0, {})));
}

// 3 x 3 x 256 taps with products near 127 * -128: sums past 2^24.
TEST_P(OpTest, ConvInteger_SumsPastTwoToThe24AreExact) {
  const int64_t c = 256, h = 3, wd = 3, m = 2;
  const int64_t s[2] = {1, 1}, d[2] = {1, 1}, pb[2] = {0, 0};
  std::vector<int8_t> x, w;
  std::vector<int64_t> ref;
  for (int tries = 0; tries < 20 && !has_odd_past_2_24(ref); ++tries) {
    x = rand_8bit<int8_t>(rng_, c * h * wd, 100, 127);
    w = rand_8bit<int8_t>(rng_, m * c * h * wd, -128, -101);
    ref = conv_integer_ref<int8_t, int8_t>(x, w, 1, c, h, wd, m, 1, h, wd, s, d, pb, 1, 1, -128, {});
  }
  ASSERT_TRUE(has_odd_past_2_24(ref));
  const Tensor out = run1("ConvInteger", {make<int8_t>({1, c, h, wd}, x), make<int8_t>({m, c, h, wd}, w),
                                          make<int8_t>({}, {-128})}, {}, 10);
  expect_equal<int32_t>(out, {1, m, 1, 1}, as_int32(ref));
}

// ---- shardscore.RowQuantizedMatMul (pass_row_quantized_matmuls; CPU backend only) ----

// The nodes it stands for, on each row of x alone: DynamicQuantizeLinear's scale, zero point and y
// by the spec (dynamic_quantize_ref), the product in int64, then Cast to float32 and the two Muls
// of quantize_dynamic's pattern, y * (scale * w_scale), in float32.
template <typename TW>
std::vector<float> row_quantized_ref(const std::vector<float>& x, int64_t rows, int64_t k, const std::vector<TW>& w,
                                     int64_t n, const std::vector<TW>& wz, const std::vector<float>& ws) {
  const int64_t per_row = static_cast<int64_t>(x.size()) / rows, m = per_row / k;
  std::vector<float> y;
  for (int64_t r = 0; r < rows; ++r) {
    const DynamicRef q = dynamic_quantize_ref(std::vector<float>(x.begin() + r * per_row, x.begin() + (r + 1) * per_row));
    std::vector<uint8_t> a(q.y.begin(), q.y.end());
    const auto acc = int_matmul_ref<uint8_t, TW>(a, w, m, n, k, {static_cast<uint8_t>(q.zero_point)}, wz);
    for (int64_t i = 0; i < m * n; ++i) {
      const float s = q.scale * ws[ws.size() == 1 ? 0 : i % n];
      y.push_back(static_cast<float>(static_cast<int32_t>(acc[i])) * s);
    }
  }
  return y;
}

TEST_P(OpTest, RowQuantizedMatMul_EachRowByItsOwnRange) {
  if (!cpu_only()) GTEST_SKIP() << "made by a CPU backend pass only";
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto run = [&](std::vector<Tensor> in) { return run1("RowQuantizedMatMul", std::move(in), {}, 1, "shardscore"); };
  {
    SCOPED_TRACE("x [4, 3, 40], int8 w with a zero point and a scale per column");
    const int64_t rows = 4, m = 3, k = 40, n = 5;
    std::vector<float> x;
    for (int64_t r = 0; r < rows; ++r) {  // ranges a hundredfold apart, a row of zeros, a NaN
      const float span = r == 2 ? 0.0f : std::pow(100.0f, static_cast<float>(r)) * 0.01f;
      for (float v : rand_f32(m * k, r == 3 ? 0.1f : -span, span)) x.push_back(r == 2 ? 0.0f : v);
    }
    x[3 * m * k + 17] = nan;
    const auto w = rand_8bit<int8_t>(rng_, k * n, -128, 127);
    const auto wz = rand_8bit<int8_t>(rng_, n, -10, 10);
    const std::vector<float> ws = {0.011f, 0.5f, 0.0023f, 1.0f, 0.07f};
    const Tensor out = run({make<float>({rows, m, k}, x), make<int8_t>({k, n}, w), make<int8_t>({n}, wz), make<float>({n}, ws)});
    expect_equal<float>(out, {rows, m, n}, row_quantized_ref<int8_t>(x, rows, k, w, n, wz, ws));
  }
  {
    SCOPED_TRACE("x [6, 700], uint8 w, no zero point, one scale: sums past 2^24, exact");
    const int64_t rows = 6, k = 700, n = 3;
    std::vector<float> x = rand_f32(rows * k, 8.0f, 9.0f);  // positive: zero point 0, y near 255
    for (int64_t i = 0; i < k; ++i) x[2 * k + i] *= 1000.0f;
    const auto w = rand_8bit<uint8_t>(rng_, k * n, 200, 255);
    const Tensor out = run({make<float>({rows, k}, x), make<uint8_t>({k, n}, w), Tensor(), make<float>({}, {0.004f})});
    expect_equal<float>(out, {rows, n}, row_quantized_ref<uint8_t>(x, rows, k, w, n, {}, {0.004f}));
  }
}

// Rounding ties: rows whose range makes the scale exactly 1/128 (127/128 - -1 = 255/128), so that
// (k + 1/2) / 128 is an exact tie (halves go to even) and its float32 neighbours are not; both signs.
TEST_P(OpTest, RowQuantizedMatMul_TiesGoToEven) {
  if (!cpu_only()) GTEST_SKIP() << "made by a CPU backend pass only";
  std::vector<float> row = {-1.0f, 127.0f / 128, 0.0f};
  for (int k = -19; k <= 19; ++k) {
    const float t = (static_cast<float>(k) + 0.5f) / 128;
    row.insert(row.end(), {t, std::nextafter(t, INFINITY), std::nextafter(t, -INFINITY)});
  }
  std::vector<float> x = row;
  for (float v : row) x.push_back(-v);  // row 1: the same ties, the zero point 127 instead of 128
  const int64_t k = static_cast<int64_t>(row.size()), n = 2;
  const auto w = rand_8bit<int8_t>(rng_, k * n, -128, 127);
  const Tensor out = run1("RowQuantizedMatMul", {make<float>({2, k}, x), make<int8_t>({k, n}, w), Tensor(),
                                                  make<float>({}, {1.0f})}, {}, 1, "shardscore");
  expect_equal<float>(out, {2, n}, row_quantized_ref<int8_t>(x, 2, k, w, n, {}, {1.0f}));
}

TEST_P(OpTest, RowQuantizedMatMul_Errors) {
  if (!cpu_only()) GTEST_SKIP() << "made by a CPU backend pass only";
  const Tensor w = make<int8_t>({4, 2}, std::vector<int8_t>(8, 3));
  const Tensor s = make<float>({}, {0.5f});
  expect_error(StatusCode::kUnimplemented, "RowQuantizedMatMul of float64 x", "RowQuantizedMatMul",
               {make<double>({2, 4}, std::vector<double>(8, 1)), w, Tensor(), s}, {}, 1, "shardscore");
  expect_error(StatusCode::kInvalidArgument, "takes x of rank >= 2", "RowQuantizedMatMul",
               {make<float>({4}, rand_f32(4)), w, Tensor(), s}, {}, 1, "shardscore");
  expect_error(StatusCode::kInvalidArgument, "w_scale [3] must be a scalar or [2]", "RowQuantizedMatMul",
               {make<float>({2, 4}, rand_f32(8)), w, Tensor(), make<float>({3}, {1, 2, 3})}, {}, 1, "shardscore");
}

TEST_P(OpTest, ConvInteger_Errors) {
  const Tensor w = make<int8_t>({2, 1, 1, 1}, {1, 2});
  expect_error(StatusCode::kUnimplemented, "ConvInteger runs on 2-D spatial input only", "ConvInteger",
               {make<uint8_t>({1, 1, 5}, std::vector<uint8_t>(5, 1)), make<int8_t>({2, 1, 1}, {1, 2})}, {}, 10);
  expect_error(StatusCode::kUnimplemented, "x_zero_point [2] is not supported (a scalar)", "ConvInteger",
               {make<uint8_t>({1, 1, 2, 2}, {1, 2, 3, 4}), w, make<uint8_t>({2}, {1, 2})}, {}, 10);
  expect_error(StatusCode::kUnimplemented, "ConvInteger of float32 x", "ConvInteger",
               {make<float>({1, 1, 2, 2}, rand_f32(4)), w}, {}, 10);
  expect_error(StatusCode::kInvalidArgument, "which does not fit group", "ConvInteger",
               {make<uint8_t>({1, 3, 2, 2}, std::vector<uint8_t>(12, 1)), w}, {}, 10);
}

}  // namespace
}  // namespace shardscore
