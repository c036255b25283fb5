#include "quality/shard_stats.h"

#include <algorithm>
#include <cmath>

namespace shardscore {

void OutputStats::add(const Tensor& t) {
  OutputStats b;
  b.name = name;
  double sum = 0;
  // Two passes over the batch (sum, then squared deviations): exact enough and deterministic.
  dtype_dispatch(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* p = t.data<T>();
    const int64_t n = t.numel();
    for (int64_t i = 0; i < n; ++i) {
      double v = static_cast<double>(p[i]);
      if (std::isnan(v)) { ++b.nan; continue; }
      if (std::isinf(v)) { ++b.inf; continue; }
      if (b.count == 0) b.min = b.max = v;
      b.min = std::min(b.min, v);
      b.max = std::max(b.max, v);
      sum += v;
      ++b.count;
    }
    if (b.count == 0) return;
    b.mean = sum / static_cast<double>(b.count);
    for (int64_t i = 0; i < n; ++i) {
      double v = static_cast<double>(p[i]);
      if (std::isfinite(v)) b.m2 += (v - b.mean) * (v - b.mean);
    }
  });
  merge(b);
}

void OutputStats::merge(const OutputStats& o) {
  nan += o.nan;
  inf += o.inf;
  if (o.count == 0) return;
  if (count == 0) {
    count = o.count; min = o.min; max = o.max; mean = o.mean; m2 = o.m2;
    return;
  }
  const double n = static_cast<double>(count + o.count);
  const double delta = o.mean - mean;
  mean += delta * static_cast<double>(o.count) / n;
  m2 += o.m2 + delta * delta * static_cast<double>(count) * static_cast<double>(o.count) / n;
  count += o.count;
  min = std::min(min, o.min);
  max = std::max(max, o.max);
}

double OutputStats::stddev() const { return count < 2 ? 0.0 : std::sqrt(m2 / static_cast<double>(count)); }

void ShardStats::merge(const ShardStats& b) {
  rows_read += b.rows_read;
  rows_scored += b.rows_scored;
  if (feature_nan.size() < b.feature_nan.size()) feature_nan.resize(b.feature_nan.size(), 0);
  if (feature_inf.size() < b.feature_inf.size()) feature_inf.resize(b.feature_inf.size(), 0);
  for (std::size_t j = 0; j < b.feature_nan.size(); ++j) feature_nan[j] += b.feature_nan[j];
  for (std::size_t j = 0; j < b.feature_inf.size(); ++j) feature_inf[j] += b.feature_inf[j];
  if (outputs.size() < b.outputs.size()) outputs.resize(b.outputs.size());
  for (std::size_t k = 0; k < b.outputs.size(); ++k) {
    if (outputs[k].name.empty()) outputs[k].name = b.outputs[k].name;
    outputs[k].merge(b.outputs[k]);
  }
}

double feature_share(const ShardStats& s, int64_t count, const std::vector<FeatureInfo>& features, std::size_t j) {
  const int64_t per_row = j < features.size() ? features[j].values_per_row : 1;
  return static_cast<double>(count) / static_cast<double>(std::max<int64_t>(s.rows_read * per_row, 1));
}

std::vector<CheckResult> quality_evaluate(const ShardStats& s, const JobConfig::Checks& c,
                                          const std::vector<FeatureInfo>& features) {
  std::vector<CheckResult> out;
  auto name = [&](std::size_t j) { return j < features.size() ? features[j].name : "feature " + std::to_string(j); };
  auto share = [&](int64_t count, std::size_t j) { return feature_share(s, count, features, j); };
  for (std::size_t j = 0; j < s.feature_nan.size(); ++j) {
    const double f = share(s.feature_nan[j], j);
    out.push_back({"max_missing_fraction", name(j), f, c.max_missing_fraction, f <= c.max_missing_fraction});
  }
  for (std::size_t j = 0; j < s.feature_inf.size(); ++j) {
    const double f = share(s.feature_inf[j], j);
    out.push_back({"max_inf_fraction", name(j), f, c.max_inf_fraction, f <= c.max_inf_fraction});
  }
  for (const auto& o : s.outputs) {
    if (!c.allow_nan_outputs) out.push_back({"allow_nan_outputs", o.name, static_cast<double>(o.nan), 0, o.nan == 0});
    if (!c.allow_inf_outputs) out.push_back({"allow_inf_outputs", o.name, static_cast<double>(o.inf), 0, o.inf == 0});
  }
  return out;
}

}  // namespace shardscore
