#include "quality/shard_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/test_seed.h"

namespace shardscore {
namespace {

Tensor floats(const std::vector<float>& v) { return Tensor::copy_of(DType::kFloat32, {static_cast<int64_t>(v.size())}, v.data()); }

TEST(OutputStats, MatchesATwoPassFloat64ReferenceAcrossBatches) {
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_trace(seed));
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(100.0f, 3.0f);
  std::vector<float> all;
  OutputStats s{"y"};
  for (int b = 0; b < 7; ++b) {
    std::vector<float> batch(static_cast<std::size_t>(2 + gen() % 499));  // batch[1] is written below
    for (auto& v : batch) v = normal(gen);
    if (b == 2) batch[0] = NAN;
    if (b == 4) batch[1] = -INFINITY;
    s.add(floats(batch));
    all.insert(all.end(), batch.begin(), batch.end());
  }
  double sum = 0, n = 0, mn = INFINITY, mx = -INFINITY;
  for (float v : all)
    if (std::isfinite(v)) { sum += v; ++n; mn = std::min<double>(mn, v); mx = std::max<double>(mx, v); }
  const double mean = sum / n;
  double m2 = 0;
  for (float v : all)
    if (std::isfinite(v)) m2 += (v - mean) * (v - mean);
  EXPECT_EQ(s.count, static_cast<int64_t>(n));
  EXPECT_EQ(s.nan, 1);
  EXPECT_EQ(s.inf, 1);
  EXPECT_EQ(s.min, mn);
  EXPECT_EQ(s.max, mx);
  EXPECT_NEAR(s.mean, mean, 1e-10 * std::abs(mean));
  EXPECT_NEAR(s.stddev(), std::sqrt(m2 / n), 1e-8 * std::sqrt(m2 / n));
}

TEST(OutputStats, IntegerOutputsAndEmptyBatches) {
  const int64_t labels[] = {0, 1, 1, 1};
  OutputStats s{"label"};
  s.add(Tensor::copy_of(DType::kInt64, {4}, labels));
  s.add(Tensor(DType::kInt64, {0}));
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.mean, 0.75);
  EXPECT_DOUBLE_EQ(s.min, 0);
  EXPECT_DOUBLE_EQ(s.max, 1);
  EXPECT_NEAR(s.stddev(), std::sqrt(0.1875), 1e-12);
}

ShardStats shard_with(int64_t rows, std::vector<int64_t> nan, std::vector<int64_t> inf, int64_t out_nan) {
  ShardStats s;
  s.rows_read = s.rows_scored = rows;
  s.feature_nan = std::move(nan);
  s.feature_inf = std::move(inf);
  OutputStats o{"probabilities"};
  o.nan = out_nan;
  s.outputs.push_back(o);
  return s;
}

const CheckResult* find(const std::vector<CheckResult>& r, const std::string& check, const std::string& target) {
  for (const auto& c : r)
    if (c.check == check && c.target == target) return &c;
  return nullptr;
}

TEST(QualityChecks, ThresholdsComeFromTheJob) {
  JobConfig::Checks checks;
  checks.max_missing_fraction = 0.1;
  auto r = quality_evaluate(shard_with(100, {10, 11}, {0, 0}, 0), checks);
  ASSERT_NE(find(r, "max_missing_fraction", "feature 0"), nullptr);
  EXPECT_TRUE(find(r, "max_missing_fraction", "feature 0")->passed) << "10% is allowed at 0.1";
  const CheckResult* f1 = find(r, "max_missing_fraction", "feature 1");
  ASSERT_NE(f1, nullptr);
  EXPECT_FALSE(f1->passed);
  EXPECT_DOUBLE_EQ(f1->value, 0.11);
  EXPECT_DOUBLE_EQ(f1->threshold, 0.1);
  EXPECT_TRUE(find(r, "allow_nan_outputs", "probabilities")->passed);
}

TEST(QualityChecks, SharesAreOfAFeaturesValuesNotItsRows) {
  // An image channel of 32 x 32 in 20 rows has 20480 values: 2 NaN are 2 / 20480 of them (they were
  // taken as 2 / 20 = 0.1 and failed a 0.01 threshold). Targets carry the names given.
  JobConfig::Checks checks;
  checks.max_missing_fraction = 0.01;
  checks.max_inf_fraction = 1.0 / 64;
  const std::vector<FeatureInfo> features = {{"feature 0 (input 'images', its feature 0)", 1024},
                                             {"feature 1 (input 'B', its feature 0)", 12}};
  auto r = quality_evaluate(shard_with(20, {2, 3}, {320, 4}, 0), checks, features);
  const CheckResult* image = find(r, "max_missing_fraction", "feature 0 (input 'images', its feature 0)");
  ASSERT_NE(image, nullptr);
  EXPECT_DOUBLE_EQ(image->value, 2.0 / 20480);
  EXPECT_TRUE(image->passed);
  const CheckResult* inf = find(r, "max_inf_fraction", "feature 0 (input 'images', its feature 0)");
  ASSERT_NE(inf, nullptr);
  EXPECT_DOUBLE_EQ(inf->value, 320.0 / 20480);  // exactly the threshold: passes
  EXPECT_TRUE(inf->passed);
  const CheckResult* b = find(r, "max_missing_fraction", "feature 1 (input 'B', its feature 0)");
  ASSERT_NE(b, nullptr);
  EXPECT_DOUBLE_EQ(b->value, 3.0 / 240);
  EXPECT_FALSE(b->passed);
}

TEST(QualityChecks, NonFiniteOutputsAndInputsFailByDefault) {
  JobConfig::Checks checks;  // defaults
  auto r = quality_evaluate(shard_with(10, {0}, {1}, 2), checks);
  EXPECT_FALSE(find(r, "max_inf_fraction", "feature 0")->passed);
  EXPECT_FALSE(find(r, "allow_nan_outputs", "probabilities")->passed);
  EXPECT_EQ(find(r, "allow_nan_outputs", "probabilities")->value, 2);
  checks.allow_nan_outputs = true;
  checks.max_inf_fraction = 0.5;
  r = quality_evaluate(shard_with(10, {0}, {1}, 2), checks);
  EXPECT_EQ(find(r, "allow_nan_outputs", "probabilities"), nullptr) << "an allowed condition is not checked";
  EXPECT_TRUE(find(r, "max_inf_fraction", "feature 0")->passed);
}

TEST(ShardStats, MergeAddsCountsFeatureByFeature) {
  ShardStats total;
  total.merge(shard_with(5, {1, 0}, {0, 2}, 0));
  total.merge(shard_with(7, {2, 3}, {1, 0}, 1));
  EXPECT_EQ(total.rows_read, 12);
  EXPECT_EQ(total.feature_nan, std::vector<int64_t>({3, 3}));
  EXPECT_EQ(total.feature_inf, std::vector<int64_t>({1, 2}));
  ASSERT_EQ(total.outputs.size(), 1u);
  EXPECT_EQ(total.outputs[0].name, "probabilities");
  EXPECT_EQ(total.outputs[0].nan, 1);
}

}  // namespace
}  // namespace shardscore
