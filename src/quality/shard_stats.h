#pragma once
// Per-shard statistics and the quality checks run on them.
//
// Statistics are accumulated per batch and merged in batch order, so they are the same for any
// batch size up to floating-point rounding of the merge (counts are exact). Output min/max/mean/
// std are over finite values; NaN and Inf are counted separately.
#include <cstdint>
#include <string>
#include <vector>

#include "config/job_config.h"
#include "engine/tensor.h"

namespace shardscore {

struct OutputStats {
  std::string name;
  int64_t count = 0;  // finite values
  int64_t nan = 0;
  int64_t inf = 0;
  double min = 0, max = 0, mean = 0, m2 = 0;  // m2: sum of squared deviations from the mean

  // Adds every element of t (any numeric dtype).
  void add(const Tensor& t);
  // Chan et al.'s pairwise merge; order-dependent only in the last bits.
  void merge(const OutputStats& other);
  double stddev() const;  // population standard deviation; 0 when count < 2
};

struct ShardStats {
  int64_t id = 0;
  int64_t row_begin = 0, row_end = 0;
  int rank = 0;
  int64_t rows_read = 0;
  int64_t rows_scored = 0;
  double seconds = 0;                 // wall time from the shard's first read to its last write
  std::vector<int64_t> feature_nan;   // per input feature, before imputation
  std::vector<int64_t> feature_inf;
  std::vector<OutputStats> outputs;   // per model output

  void merge(const ShardStats& batch);  // adds a batch's counts and statistics
};

struct CheckResult {
  std::string check;   // the job key under [checks]
  std::string target;  // "feature 7" or an output name
  double value = 0;
  double threshold = 0;
  bool passed = true;
};

// What one input feature is, for its checks: how its target reads ("feature 7", or with several
// inputs "feature 7 (input 'B', its feature 2)") and how many values it has per row (1 for a
// column of a 2-D dataset; H x W for an image channel; every value for a row of other shape).
struct FeatureInfo {
  std::string name;
  int64_t values_per_row = 1;
};

// A count of feature j's values (NaN, Inf) as a share of its values in the shard: rows_read x
// values_per_row (1 where `features` does not say).
double feature_share(const ShardStats& shard, int64_t count, const std::vector<FeatureInfo>& features, std::size_t j);

// Runs every check of the job on one shard; one result per (check, target). A feature's missing
// and Inf shares are of its values: rows_read x values_per_row. `features` may be empty (every
// feature "feature j", one value per row).
std::vector<CheckResult> quality_evaluate(const ShardStats& shard, const JobConfig::Checks& checks,
                                          const std::vector<FeatureInfo>& features = {});

}  // namespace shardscore
