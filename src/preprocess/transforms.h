#pragma once
// Row preprocessing: raw rows of any numeric type -> float32 model input, or float64 for a model
// input that takes float64 (skl2onnx's DoubleTensorType: what `to_onnx(model, X)` makes of numpy's
// float64 X), computed in float64 throughout, with the job's values as given.
//
// Order, per element of feature j:  cast to the model's type -> count NaN/Inf (the quality checks
// see the data as it came) -> NaN becomes impute[j] -> x * scale -> (x - mean[j]) / std[j] -> clip
// to [clip_min[j], clip_max[j]].
// A row holds `features` x `inner` elements, feature-major: a 2-D input has inner = 1; an image
// [C, H, W] has features = C (channels) and inner = H * W. All pure functions on caller-owned
// buffers; thread-safe.
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "common/dtype.h"
#include "common/status.h"

namespace shardscore {

// One value per feature for each transform, or empty when that transform is off; in the model
// input's type T (float or double).
template <class T>
struct PreprocessSpecOf {
  std::vector<T> impute, mean, std, clip_min, clip_max;
  T scale = 1;
};
using PreprocessSpec = PreprocessSpecOf<float>;
using PreprocessSpec64 = PreprocessSpecOf<double>;

// Expands per-job settings (each empty, one value, or one per feature) to one per feature, rounded
// to float (preprocess_spec_make) or kept as given (preprocess_spec_make64). InvalidArgument names
// the setting whose length matches neither 1 nor `features`.
StatusOr<PreprocessSpec> preprocess_spec_make(const std::vector<double>& impute, const std::vector<double>& mean,
                                              const std::vector<double>& std, const std::vector<double>& clip_min,
                                              const std::vector<double>& clip_max, int64_t features);
StatusOr<PreprocessSpec64> preprocess_spec_make64(const std::vector<double>& impute, const std::vector<double>& mean,
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

// The transforms below take T = float or double (instantiated for both); the other arguments are
// of that type.
template <class T>
using PreprocessValues = std::vector<std::type_identity_t<T>>;

// Adds NaN and +-Inf counts per feature (nan[j], inf[j] have `features` entries).
template <class T>
void preprocess_count_nonfinite(const T* x, int64_t rows, int64_t features, int64_t* nan, int64_t* inf,
                                int64_t inner = 1);

template <class T>
void preprocess_impute(T* x, int64_t rows, int64_t features, const PreprocessValues<T>& value, int64_t inner = 1);
template <class T>
void preprocess_scale(T* x, int64_t n, std::type_identity_t<T> scale);
template <class T>
void preprocess_standardize(T* x, int64_t rows, int64_t features, const PreprocessValues<T>& mean,
                            const PreprocessValues<T>& std, int64_t inner = 1);
template <class T>
void preprocess_clip(T* x, int64_t rows, int64_t features, const PreprocessValues<T>& lo, const PreprocessValues<T>& hi,
                     int64_t inner = 1);

// [rows, H, W, C] -> [rows, C, H, W] (hw = H * W).
template <class T>
void preprocess_nhwc_to_nchw(const T* src, int64_t rows, int64_t hw, int64_t channels, T* dst);

// The whole chain above: raw -> out (rows x features x inner of T), adding per-feature NaN/Inf
// counts. With nhwc, raw rows are [inner, features] (channels last) and are transposed first.
template <class T>
void preprocess_rows(const std::byte* raw, DType raw_type, int64_t rows, int64_t features,
                     const PreprocessSpecOf<std::type_identity_t<T>>& spec, T* out, int64_t* nan, int64_t* inf,
                     int64_t inner = 1, bool nhwc = false);

// The chain after the cast, on rows of T in place (features-first layout): what rows stored as the
// model's type go through once read straight into the model's input tensor.
template <class T>
void preprocess_rows_in_place(T* x, int64_t rows, int64_t features, const PreprocessSpecOf<std::type_identity_t<T>>& spec,
                              int64_t* nan, int64_t* inf, int64_t inner = 1);

}  // namespace shardscore
