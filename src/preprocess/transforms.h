#pragma once
// Row preprocessing: raw rows of any numeric type -> float32 model input.
//
// Order, per element of feature j:  cast to float32 -> count NaN/Inf (the quality checks see the
// data as it came) -> NaN becomes impute[j] -> (x - mean[j]) / std[j] -> clip to [clip_min[j], clip_max[j]].
// All pure functions on caller-owned buffers (row-major, rows x features); thread-safe.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/dtype.h"
#include "common/status.h"

namespace shardscore {

// One value per feature for each transform, or empty when that transform is off.
struct PreprocessSpec {
  std::vector<float> impute, mean, std, clip_min, clip_max;
};

// Expands per-job settings (each empty, one value, or one per feature) to one per feature.
// InvalidArgument names the setting whose length matches neither 1 nor `features`.
StatusOr<PreprocessSpec> preprocess_spec_make(const std::vector<double>& impute, const std::vector<double>& mean,
                                              const std::vector<double>& std, const std::vector<double>& clip_min,
                                              const std::vector<double>& clip_max, int64_t features);

// dst[i] = float(src[i]) for n elements of type src_type.
void preprocess_cast_to_float32(const std::byte* src, DType src_type, int64_t n, float* dst);

// Adds NaN and +-Inf counts per feature (nan[j], inf[j] have `features` entries).
void preprocess_count_nonfinite(const float* x, int64_t rows, int64_t features, int64_t* nan, int64_t* inf);

void preprocess_impute(float* x, int64_t rows, int64_t features, const std::vector<float>& value);
void preprocess_standardize(float* x, int64_t rows, int64_t features, const std::vector<float>& mean,
                            const std::vector<float>& std);
void preprocess_clip(float* x, int64_t rows, int64_t features, const std::vector<float>& lo,
                     const std::vector<float>& hi);

// The whole chain above: raw -> out (rows x features float32), adding per-feature NaN/Inf counts.
void preprocess_rows(const std::byte* raw, DType raw_type, int64_t rows, int64_t features, const PreprocessSpec& spec,
                     float* out, int64_t* nan, int64_t* inf);

}  // namespace shardscore
