#include "preprocess/transforms.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "common/test_seed.h"

namespace shardscore {
namespace {

TEST(Preprocess, CastsEveryNumericTypeToFloat32) {
  const int16_t i16[] = {-32768, 0, 32767};
  const uint8_t u8[] = {0, 7, 255};
  const int64_t i64[] = {-5, 1LL << 40, 3};
  const double f64[] = {1e300, -0.5, NAN};
  float out[3];
  preprocess_cast_to_float32(reinterpret_cast<const std::byte*>(i16), DType::kInt16, 3, out);
  EXPECT_EQ(out[0], -32768.0f);
  EXPECT_EQ(out[2], 32767.0f);
  preprocess_cast_to_float32(reinterpret_cast<const std::byte*>(u8), DType::kUInt8, 3, out);
  EXPECT_EQ(out[2], 255.0f);
  preprocess_cast_to_float32(reinterpret_cast<const std::byte*>(i64), DType::kInt64, 3, out);
  EXPECT_EQ(out[1], static_cast<float>(1LL << 40));
  preprocess_cast_to_float32(reinterpret_cast<const std::byte*>(f64), DType::kFloat64, 3, out);
  EXPECT_TRUE(std::isinf(out[0])) << "a float64 beyond float32's range becomes Inf, which the checks count";
  EXPECT_EQ(out[1], -0.5f);
  EXPECT_TRUE(std::isnan(out[2]));
}

TEST(Preprocess, IntegerInputsCastExactlyOrNameTheValueTheModelCannotHold) {
  auto bytes = [](const auto* p) { return reinterpret_cast<const std::byte*>(p); };
  // Rows of 2: in range, every value as it is.
  const int64_t ids[] = {0, 999, -5, int64_t{1} << 30};
  int32_t out32[4] = {};
  ASSERT_TRUE(preprocess_cast(bytes(ids), DType::kInt64, 2, 2, reinterpret_cast<std::byte*>(out32), DType::kInt32, 100).ok());
  EXPECT_EQ(std::vector<int32_t>(out32, out32 + 4), (std::vector<int32_t>{0, 999, -5, 1 << 30}));
  // 2^32 + 5 would wrap to 5 (another token): an error naming the row (first_row + 1) and the value.
  const int64_t big[] = {1, 2, 3, (int64_t{1} << 32) + 5};
  Status st = preprocess_cast(bytes(big), DType::kInt64, 2, 2, reinterpret_cast<std::byte*>(out32), DType::kInt32, 100);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "row 101 holds 4294967301, which the model's int32 input cannot hold");
  // uint64 past int64, and a negative value into an unsigned type.
  const uint64_t u64[] = {7, UINT64_MAX};
  int64_t out64[2] = {};
  st = preprocess_cast(bytes(u64), DType::kUInt64, 2, 1, reinterpret_cast<std::byte*>(out64), DType::kInt64, 0);
  EXPECT_EQ(st.message(), "row 1 holds 18446744073709551615, which the model's int64 input cannot hold");
  const int16_t neg[] = {-1};
  uint8_t out8[1] = {};
  EXPECT_FALSE(preprocess_cast(bytes(neg), DType::kInt16, 1, 1, reinterpret_cast<std::byte*>(out8), DType::kUInt8, 0).ok());
  // A bool input takes any non-zero as true.
  const int32_t mask[] = {0, 1, 2, -3};
  bool outb[4] = {};
  ASSERT_TRUE(preprocess_cast(bytes(mask), DType::kInt32, 1, 4, reinterpret_cast<std::byte*>(outb), DType::kBool, 0).ok());
  EXPECT_EQ(std::vector<bool>(outb, outb + 4), (std::vector<bool>{false, true, true, true}));
}

TEST(Preprocess, CountsNonFinitePerFeature) {
  const float x[] = {NAN, 1, INFINITY, NAN, -INFINITY, 2, 0, NAN, 3};  // 3 rows x 3 features
  int64_t nan[3] = {0, 0, 0}, inf[3] = {0, 0, 0};
  preprocess_count_nonfinite(x, 3, 3, nan, inf);
  EXPECT_EQ(nan[0], 2);
  EXPECT_EQ(nan[1], 1);
  EXPECT_EQ(nan[2], 0);
  EXPECT_EQ(inf[0], 0);
  EXPECT_EQ(inf[1], 1);
  EXPECT_EQ(inf[2], 1);
}

// Counted against a plain per-element count, over many blocks of rows, for 2-D rows (inner = 1) and
// images (inner > 1): non-finite values alone, at the first and last element and at block edges, and
// finite values whose bits come close (FLT_MAX, subnormals, -0) that must not be counted.
TEST(Preprocess, CountsNonFiniteInEveryBlockAndLayout) {
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_trace(seed));
  std::mt19937 gen(seed);
  struct Layout { int64_t rows, features, inner; };
  for (const Layout l : {Layout{5000, 7, 1}, Layout{9000, 256, 1}, Layout{300, 3, 50}, Layout{3, 2, 20000}}) {
    const int64_t n = l.rows * l.features * l.inner;
    std::vector<float> x(static_cast<std::size_t>(n));
    std::normal_distribution<float> normal;
    for (auto& v : x) v = normal(gen);
    const float specials[] = {FLT_MAX, -FLT_MAX, FLT_MIN / 4, -0.0f, NAN, INFINITY, -INFINITY};
    std::uniform_int_distribution<int64_t> at(0, n - 1);
    for (int k = 0; k < 40; ++k) x[at(gen)] = specials[k % 7];
    x[0] = NAN;
    x[n - 1] = -INFINITY;
    x[16384] = INFINITY;  // where a block of 16 K values may begin
    std::vector<int64_t> nan(l.features, 0), inf(l.features, 0), want_nan(l.features, 0), want_inf(l.features, 0);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = i / l.inner % l.features;
      want_nan[j] += std::isnan(x[i]) ? 1 : 0;
      want_inf[j] += std::isinf(x[i]) ? 1 : 0;
    }
    preprocess_count_nonfinite(x.data(), l.rows, l.features, nan.data(), inf.data(), l.inner);
    EXPECT_EQ(nan, want_nan) << l.rows << " x " << l.features << " x " << l.inner;
    EXPECT_EQ(inf, want_inf) << l.rows << " x " << l.features << " x " << l.inner;
  }
}

// Rows stored as float32 are read into the model's tensor and go through the chain in place: the
// same values and counts as the chain from a separate buffer.
TEST(Preprocess, InPlaceChainMatchesTheChainFromABuffer) {
  const int64_t rows = 40, features = 3;
  std::vector<float> raw(static_cast<std::size_t>(rows * features));
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = i % 11 == 0 ? NAN : i % 17 == 0 ? INFINITY : 0.37f * i - 9;
  auto spec = preprocess_spec_make({1.5}, {0.5, 1, 2}, {3}, {-4}, {4}, features).value();
  spec.scale = 0.25f;
  std::vector<float> out(raw.size()), in_place = raw;
  std::vector<int64_t> nan(features, 0), inf(features, 0), nan2(features, 0), inf2(features, 0);
  preprocess_rows(reinterpret_cast<const std::byte*>(raw.data()), DType::kFloat32, rows, features, spec, out.data(),
                  nan.data(), inf.data());
  preprocess_rows_in_place(in_place.data(), rows, features, spec, nan2.data(), inf2.data());
  EXPECT_EQ(0, std::memcmp(out.data(), in_place.data(), out.size() * sizeof(float)));
  EXPECT_EQ(nan, nan2);
  EXPECT_EQ(inf, inf2);
  EXPECT_GT(nan[0] + nan[1] + nan[2], 0);
}

TEST(Preprocess, ImputeReplacesOnlyNaNWithTheFeaturesValue) {
  float x[] = {NAN, 1, INFINITY, NAN};  // 2 rows x 2 features
  preprocess_impute(x, 2, 2, {10, 20});
  EXPECT_EQ(x[0], 10);
  EXPECT_EQ(x[1], 1);
  EXPECT_TRUE(std::isinf(x[2])) << "Inf is not missing; the checks report it";
  EXPECT_EQ(x[3], 20);
}

TEST(Preprocess, ClipKeepsNaNVisible) {
  float x[] = {-5, 0.5, 5, NAN};
  preprocess_clip(x, 4, 1, {-1}, {1});
  EXPECT_EQ(x[0], -1);
  EXPECT_EQ(x[1], 0.5f);
  EXPECT_EQ(x[2], 1);
  EXPECT_TRUE(std::isnan(x[3]));
}

TEST(Preprocess, SpecExpandsScalarsAndRejectsWrongLengths) {
  auto s = preprocess_spec_make({0}, {1, 2, 3}, {}, {}, {4}, 3);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->impute, std::vector<float>({0, 0, 0}));
  EXPECT_EQ(s->std, std::vector<float>({1, 1, 1})) << "mean without std divides by 1";
  EXPECT_EQ(s->clip_max, std::vector<float>({4, 4, 4}));
  EXPECT_TRUE(std::isinf(s->clip_min[0]) && s->clip_min[0] < 0);
  auto bad = preprocess_spec_make({}, {1, 2}, {}, {}, {}, 3);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("preprocess.mean"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(preprocess_spec_make({}, {}, {}, {2}, {1}, 3).ok());
}

// The whole chain against a float64 reference of the documented formula.
TEST(Preprocess, ChainMatchesFloat64Reference) {
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_trace(seed));
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(3.0, 10.0);
  const int64_t rows = 257, features = 5;
  std::vector<double> raw(static_cast<std::size_t>(rows * features));
  for (auto& v : raw) v = std::uniform_real_distribution<double>(0, 1)(gen) < 0.1 ? NAN : normal(gen);
  const std::vector<double> impute{0.5, -1, 2, 0, 9}, mean{1, 2, 3, 4, 5}, std_{2, 0.5, 1, 10, 3};
  auto spec = preprocess_spec_make(impute, mean, std_, {-2.5}, {2.5}, features).value();
  std::vector<float> out(raw.size());
  std::vector<int64_t> nan(features, 0), inf(features, 0);
  preprocess_rows(reinterpret_cast<const std::byte*>(raw.data()), DType::kFloat64, rows, features, spec, out.data(),
                  nan.data(), inf.data());
  std::vector<int64_t> want_nan(features, 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < features; ++j) {
      double v = raw[r * features + j];
      if (std::isnan(v)) {
        ++want_nan[j];
        v = impute[j];
      }
      v = std::clamp((v - mean[j]) / std_[j], -2.5, 2.5);
      ASSERT_NEAR(out[r * features + j], v, 1e-5 * std::max(1.0, std::abs(v))) << "row " << r << " feature " << j;
    }
  EXPECT_EQ(nan, want_nan);
  EXPECT_EQ(inf, std::vector<int64_t>(features, 0));
}

// A float64 model input: the chain in float64 with the job's values as given (preprocess_spec_make64),
// against the same float64 reference to the last bits; float32's chain is ~1e-7 off there.
TEST(Preprocess, Float64ChainKeepsEveryDigit) {
  std::mt19937 gen(20261206);
  std::normal_distribution<double> normal(3.0, 10.0);
  const int64_t rows = 300, features = 4;
  std::vector<double> raw(static_cast<std::size_t>(rows * features));
  for (auto& v : raw) v = std::uniform_real_distribution<double>(0, 1)(gen) < 0.1 ? NAN : normal(gen);
  raw[5] = INFINITY;
  const std::vector<double> impute{0.1, -1, 2, 0}, mean{0.3, 2, 3, 4}, std_{0.7, 0.5, 1, 10};
  auto spec = preprocess_spec_make64(impute, mean, std_, {-2.5}, {}, features).value();
  spec.scale = 0.1;
  std::vector<double> out(raw.size()), in_place = raw;
  std::vector<int64_t> nan(features, 0), inf(features, 0), nan2(features, 0), inf2(features, 0);
  preprocess_rows(reinterpret_cast<const std::byte*>(raw.data()), DType::kFloat64, rows, features, spec, out.data(),
                  nan.data(), inf.data());
  preprocess_rows_in_place(in_place.data(), rows, features, spec, nan2.data(), inf2.data());
  EXPECT_EQ(0, std::memcmp(out.data(), in_place.data(), out.size() * sizeof(double)));
  EXPECT_EQ(nan, nan2);
  EXPECT_EQ(inf, inf2);
  std::vector<int64_t> want_nan(features, 0), want_inf(features, 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < features; ++j) {
      double v = raw[r * features + j];
      if (std::isinf(v)) ++want_inf[j];
      if (std::isnan(v)) {
        ++want_nan[j];
        v = impute[j];
      }
      v = std::max((v * 0.1 - mean[j]) / std_[j], -2.5);
      ASSERT_EQ(out[r * features + j], v) << "row " << r << " feature " << j;
    }
  EXPECT_EQ(nan, want_nan);
  EXPECT_EQ(inf, want_inf);
  EXPECT_GT(want_nan[0] + want_nan[1], 0);
  // The values of the job are not rounded to float: 0.1 stays 0.1.
  EXPECT_EQ(spec.impute[0], 0.1);
  EXPECT_NE(static_cast<double>(preprocess_spec_make({0.1}, {}, {}, {}, {}, 1).value().impute[0]), 0.1);
}

// An NHWC float64 image: transposed to NCHW, then the chain per channel.
TEST(Preprocess, Float64ImagesTransposeAndStandardizePerChannel) {
  const int64_t rows = 2, hw = 3, channels = 2;
  std::vector<uint8_t> raw(static_cast<std::size_t>(rows * hw * channels));
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 7);
  auto spec = preprocess_spec_make64({}, {0.485, 0.456}, {0.229, 0.224}, {}, {}, channels).value();
  spec.scale = 1.0 / 255;
  std::vector<double> out(raw.size());
  std::vector<int64_t> nan(channels, 0), inf(channels, 0);
  preprocess_rows(reinterpret_cast<const std::byte*>(raw.data()), DType::kUInt8, rows, channels, spec, out.data(),
                  nan.data(), inf.data(), hw, /*nhwc=*/true);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t p = 0; p < hw; ++p) {
        const double v = raw[static_cast<std::size_t>((r * hw + p) * channels + c)] * (1.0 / 255);
        EXPECT_EQ(out[static_cast<std::size_t>((r * channels + c) * hw + p)], (v - spec.mean[c]) / spec.std[c]);
      }
}

}  // namespace
}  // namespace shardscore
