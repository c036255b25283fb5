#pragma once
// Row preprocessing: raw rows of any numeric type -> float32 model input.
//
// Order, per element of feature j:  cast to float32 -> count NaN/Inf (the quality checks see the
// data as it came) -> NaN becomes impute[j] -> x * scale -> (x - mean[j]) / std[j] -> clip to
// [clip_min[j], clip_max[j]].
// A row holds `features` x `inner` elements, feature-major: a 2-D input has inner = 1; an image
// [C, H, W] has features = C (channels) and inner = H * W. All pure functions on caller-owned
// buffers; thread-safe.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/dtype.h"
#include "common/status.h"

namespace shardscore {

// One value per feature for each transform, or empty when that transform is off.
struct PreprocessSpec {
  std::vector<float> impute, mean, std, clip_min, clip_max;
  float scale = 1.0f;
};

// Expands per-job settings (each empty, one value, or one per feature) to one per feature.
// InvalidArgument names the setting whose length matches neither 1 nor `features`.
StatusOr<PreprocessSpec> preprocess_spec_make(const std::vector<double>& impute, const std::vector<double>& mean,
                                              const std::vector<double>& std, const std::vector<double>& clip_min,
                                              const std::vector<double>& clip_max, int64_t features);

// dst[i] = dst_type(src[i]) for the rows x row_elements elements of an integer model input (token ids,
// masks). An integer that the destination integer type cannot hold is InvalidArgument naming it
// and its row (first_row + its row here), never wrapped: a wrapped token id would pick another
// embedding row silently. A bool destination takes any non-zero value as true.
[[nodiscard]] Status preprocess_cast(const std::byte* src, DType src_type, int64_t rows, int64_t row_elements,
                                     std::byte* dst, DType dst_type, int64_t first_row);

// dst[i] = float(src[i]) for n elements of type src_type.
void preprocess_cast_to_float32(const std::byte* src, DType src_type, int64_t n, float* dst);

// Adds NaN and +-Inf counts per feature (nan[j], inf[j] have `features` entries).
void preprocess_count_nonfinite(const float* x, int64_t rows, int64_t features, int64_t* nan, int64_t* inf,
                                int64_t inner = 1);

void preprocess_impute(float* x, int64_t rows, int64_t features, const std::vector<float>& value, int64_t inner = 1);
void preprocess_scale(float* x, int64_t n, float scale);
void preprocess_standardize(float* x, int64_t rows, int64_t features, const std::vector<float>& mean,
                            const std::vector<float>& std, int64_t inner = 1);
void preprocess_clip(float* x, int64_t rows, int64_t features, const std::vector<float>& lo,
                     const std::vector<float>& hi, int64_t inner = 1);

// [rows, H, W, C] -> [rows, C, H, W] (hw = H * W).
void preprocess_nhwc_to_nchw(const float* src, int64_t rows, int64_t hw, int64_t channels, float* dst);

// The whole chain above: raw -> out (rows x features x inner float32), adding per-feature NaN/Inf
// counts. With nhwc, raw rows are [inner, features] (channels last) and are transposed first.
void preprocess_rows(const std::byte* raw, DType raw_type, int64_t rows, int64_t features, const PreprocessSpec& spec,
                     float* out, int64_t* nan, int64_t* inf, int64_t inner = 1, bool nhwc = false);

// The chain after the cast, on float32 rows in place (features-first layout): what rows stored as
// float32 go through once read straight into the model's input tensor.
void preprocess_rows_in_place(float* x, int64_t rows, int64_t features, const PreprocessSpec& spec, int64_t* nan,
                              int64_t* inf, int64_t inner = 1);

}  // namespace shardscore
