#include "preprocess/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

namespace shardscore {
namespace {

Status expand(const std::vector<double>& in, int64_t features, const char* name, std::vector<float>* out) {
  out->clear();
  if (in.empty()) return ok_status();
  if (in.size() != 1 && static_cast<int64_t>(in.size()) != features) {
    return invalid_argument(std::string("job key 'preprocess.") + name + "' has " + std::to_string(in.size()) +
                            " values but the input has " + std::to_string(features) + " features (give 1 or " +
                            std::to_string(features) + ")");
  }
  out->resize(static_cast<std::size_t>(features));
  for (int64_t j = 0; j < features; ++j) (*out)[j] = static_cast<float>(in.size() == 1 ? in[0] : in[j]);
  return ok_status();
}

}  // namespace

StatusOr<PreprocessSpec> preprocess_spec_make(const std::vector<double>& impute, const std::vector<double>& mean,
                                              const std::vector<double>& std, const std::vector<double>& clip_min,
                                              const std::vector<double>& clip_max, int64_t features) {
  PreprocessSpec s;
  SS_RETURN_IF_ERROR(expand(impute, features, "impute", &s.impute));
  SS_RETURN_IF_ERROR(expand(mean, features, "mean", &s.mean));
  SS_RETURN_IF_ERROR(expand(std, features, "std", &s.std));
  SS_RETURN_IF_ERROR(expand(clip_min, features, "clip_min", &s.clip_min));
  SS_RETURN_IF_ERROR(expand(clip_max, features, "clip_max", &s.clip_max));
  // One of a pair given alone means the other side is open.
  if (!s.mean.empty() && s.std.empty()) s.std.assign(static_cast<std::size_t>(features), 1.0f);
  if (s.mean.empty() && !s.std.empty()) s.mean.assign(static_cast<std::size_t>(features), 0.0f);
  if (!s.clip_min.empty() && s.clip_max.empty()) s.clip_max.assign(static_cast<std::size_t>(features), INFINITY);
  if (s.clip_min.empty() && !s.clip_max.empty()) s.clip_min.assign(static_cast<std::size_t>(features), -INFINITY);
  for (int64_t j = 0; j < static_cast<int64_t>(s.clip_min.size()); ++j) {
    if (s.clip_min[j] > s.clip_max[j]) {
      return invalid_argument("job keys 'preprocess.clip_min' > 'preprocess.clip_max' for feature " + std::to_string(j));
    }
  }
  return s;
}

Status preprocess_cast(const std::byte* src, DType src_type, int64_t rows, int64_t row_elements, std::byte* dst,
                       DType dst_type, int64_t first_row) {
  const int64_t n = rows * row_elements;
  Status st = ok_status();
  dtype_dispatch(src_type, [&](auto src_zero) {
    using S = decltype(src_zero);
    const S* s = reinterpret_cast<const S*>(src);
    dtype_dispatch(dst_type, [&](auto dst_zero) {
      using D = decltype(dst_zero);
      D* d = reinterpret_cast<D*>(dst);
      if constexpr (std::is_integral_v<S> && std::is_integral_v<D> && !std::is_same_v<D, bool> && !std::is_same_v<S, bool>) {
        for (int64_t i = 0; i < n; ++i) {
          if (!std::in_range<D>(s[i])) {
            st = invalid_argument("row " + std::to_string(first_row + i / std::max<int64_t>(row_elements, 1)) + " holds " +
                                  std::to_string(s[i]) + ", which the model's " + std::string(dtype_name(dst_type)) +
                                  " input cannot hold");
            return;
          }
          d[i] = static_cast<D>(s[i]);
        }
      } else {
        for (int64_t i = 0; i < n; ++i) d[i] = static_cast<D>(s[i]);
      }
    });
  });
  return st;
}

void preprocess_cast_to_float32(const std::byte* src, DType src_type, int64_t n, float* dst) {
  dtype_dispatch(src_type, [&](auto zero) {
    using T = decltype(zero);
    const T* s = reinterpret_cast<const T*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
  });
}

namespace {

// Whether any of x[0, n) is NaN or +-Inf (exponent bits all ones). Branch-free, so the compiler
// vectorizes it; the per-feature count of 2-D rows (one value per feature a row) cannot be, and ran
// at a third of a plain copy's speed on data that is almost always all finite.
bool any_nonfinite(const float* x, int64_t n) {
  constexpr uint32_t kExponent = 0x7f800000u;
  uint32_t any = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    any |= static_cast<uint32_t>((bits & kExponent) == kExponent);
  }
  return any != 0;
}

}  // namespace

void preprocess_count_nonfinite(const float* x, int64_t rows, int64_t features, int64_t* nan, int64_t* inf,
                                int64_t inner) {
  const int64_t row = features * inner;
  // Blocks of whole rows, about 16 K values each: only a block holding a non-finite value is counted
  // feature by feature.
  const int64_t block = std::max<int64_t>(1, 16384 / std::max<int64_t>(row, 1));
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    const int64_t r1 = std::min(rows, r0 + block);
    if (!any_nonfinite(x + r0 * row, (r1 - r0) * row)) continue;
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < features; ++j) {
        const float* p = x + (r * features + j) * inner;
        int64_t n = 0, i = 0;
        for (int64_t k = 0; k < inner; ++k) {
          n += std::isnan(p[k]) ? 1 : 0;
          i += std::isinf(p[k]) ? 1 : 0;
        }
        nan[j] += n;
        inf[j] += i;
      }
  }
}

void preprocess_impute(float* x, int64_t rows, int64_t features, const std::vector<float>& value, int64_t inner) {
  if (value.empty()) return;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < features; ++j) {
      float* p = x + (r * features + j) * inner;
      for (int64_t k = 0; k < inner; ++k)
        if (std::isnan(p[k])) p[k] = value[j];
    }
}

void preprocess_scale(float* x, int64_t n, float scale) {
  if (scale == 1.0f) return;
  for (int64_t i = 0; i < n; ++i) x[i] *= scale;
}

void preprocess_standardize(float* x, int64_t rows, int64_t features, const std::vector<float>& mean,
                            const std::vector<float>& std, int64_t inner) {
  if (mean.empty()) return;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < features; ++j) {
      float* p = x + (r * features + j) * inner;
      for (int64_t k = 0; k < inner; ++k) p[k] = (p[k] - mean[j]) / std[j];
    }
}

void preprocess_clip(float* x, int64_t rows, int64_t features, const std::vector<float>& lo,
                     const std::vector<float>& hi, int64_t inner) {
  if (lo.empty()) return;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < features; ++j) {
      float* p = x + (r * features + j) * inner;
      // NaN stays NaN (std::min/max with NaN first would not): clipping must not hide missing data.
      for (int64_t k = 0; k < inner; ++k) {
        if (p[k] < lo[j]) p[k] = lo[j];
        if (p[k] > hi[j]) p[k] = hi[j];
      }
    }
}

void preprocess_nhwc_to_nchw(const float* src, int64_t rows, int64_t hw, int64_t channels, float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * hw * channels;
    float* d = dst + r * hw * channels;
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t c = 0; c < channels; ++c) d[c * hw + p] = s[p * channels + c];
  }
}

void preprocess_rows(const std::byte* raw, DType raw_type, int64_t rows, int64_t features, const PreprocessSpec& spec,
                     float* out, int64_t* nan, int64_t* inf, int64_t inner, bool nhwc) {
  const int64_t n = rows * features * inner;
  if (nhwc) {
    std::vector<float> tmp(static_cast<std::size_t>(n));
    preprocess_cast_to_float32(raw, raw_type, n, tmp.data());
    preprocess_nhwc_to_nchw(tmp.data(), rows, inner, features, out);
  } else {
    preprocess_cast_to_float32(raw, raw_type, n, out);
  }
  preprocess_rows_in_place(out, rows, features, spec, nan, inf, inner);
}

void preprocess_rows_in_place(float* x, int64_t rows, int64_t features, const PreprocessSpec& spec, int64_t* nan,
                              int64_t* inf, int64_t inner) {
  preprocess_count_nonfinite(x, rows, features, nan, inf, inner);
  preprocess_impute(x, rows, features, spec.impute, inner);
  preprocess_scale(x, rows * features * inner, spec.scale);
  preprocess_standardize(x, rows, features, spec.mean, spec.std, inner);
  preprocess_clip(x, rows, features, spec.clip_min, spec.clip_max, inner);
}

}  // namespace shardscore
