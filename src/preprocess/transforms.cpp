#include "preprocess/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

namespace shardscore {
namespace {

template <class T>
Status expand(const std::vector<double>& in, int64_t features, const char* name, std::vector<T>* out) {
  out->clear();
  if (in.empty()) return ok_status();
  if (in.size() != 1 && static_cast<int64_t>(in.size()) != features) {
    return invalid_argument(std::string("job key 'preprocess.") + name + "' has " + std::to_string(in.size()) +
                            " values but the input has " + std::to_string(features) + " features (give 1 or " +
                            std::to_string(features) + ")");
  }
  out->resize(static_cast<std::size_t>(features));
  for (int64_t j = 0; j < features; ++j) (*out)[j] = static_cast<T>(in.size() == 1 ? in[0] : in[j]);
  return ok_status();
}

template <class T>
StatusOr<PreprocessSpecOf<T>> spec_make(const std::vector<double>& impute, const std::vector<double>& mean,
                                        const std::vector<double>& std, const std::vector<double>& clip_min,
                                        const std::vector<double>& clip_max, int64_t features) {
  PreprocessSpecOf<T> s;
  SS_RETURN_IF_ERROR(expand(impute, features, "impute", &s.impute));
  SS_RETURN_IF_ERROR(expand(mean, features, "mean", &s.mean));
  SS_RETURN_IF_ERROR(expand(std, features, "std", &s.std));
  SS_RETURN_IF_ERROR(expand(clip_min, features, "clip_min", &s.clip_min));
  SS_RETURN_IF_ERROR(expand(clip_max, features, "clip_max", &s.clip_max));
  // One of a pair given alone means the other side is open.
  if (!s.mean.empty() && s.std.empty()) s.std.assign(static_cast<std::size_t>(features), T{1});
  if (s.mean.empty() && !s.std.empty()) s.mean.assign(static_cast<std::size_t>(features), T{0});
  if (!s.clip_min.empty() && s.clip_max.empty()) s.clip_max.assign(static_cast<std::size_t>(features), static_cast<T>(INFINITY));
  if (s.clip_min.empty() && !s.clip_max.empty()) s.clip_min.assign(static_cast<std::size_t>(features), static_cast<T>(-INFINITY));
  for (int64_t j = 0; j < static_cast<int64_t>(s.clip_min.size()); ++j) {
    if (s.clip_min[j] > s.clip_max[j]) {
      return invalid_argument("job keys 'preprocess.clip_min' > 'preprocess.clip_max' for feature " + std::to_string(j));
    }
  }
  return s;
}

}  // namespace

StatusOr<PreprocessSpec> preprocess_spec_make(const std::vector<double>& impute, const std::vector<double>& mean,
                                              const std::vector<double>& std, const std::vector<double>& clip_min,
                                              const std::vector<double>& clip_max, int64_t features) {
  return spec_make<float>(impute, mean, std, clip_min, clip_max, features);
}

StatusOr<PreprocessSpec64> preprocess_spec_make64(const std::vector<double>& impute, const std::vector<double>& mean,
                                                  const std::vector<double>& std, const std::vector<double>& clip_min,
                                                  const std::vector<double>& clip_max, int64_t features) {
  return spec_make<double>(impute, mean, std, clip_min, clip_max, features);
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

namespace {

template <class T>
void cast_to(const std::byte* src, DType src_type, int64_t n, T* dst) {
  dtype_dispatch(src_type, [&](auto zero) {
    using S = decltype(zero);
    const S* s = reinterpret_cast<const S*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(s[i]);
  });
}

// Whether any of x[0, n) is NaN or +-Inf (exponent bits all ones). Branch-free, so the compiler
// vectorizes it; the per-feature count of 2-D rows (one value per feature a row) cannot be, and ran
// at a third of a plain copy's speed on data that is almost always all finite.
template <class T>
bool any_nonfinite(const T* x, int64_t n) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  constexpr Bits kExponent = static_cast<Bits>(sizeof(T) == 4 ? 0x7f800000ull : 0x7ff0000000000000ull);
  Bits any = 0;
  for (int64_t i = 0; i < n; ++i) {
    Bits bits;
    std::memcpy(&bits, x + i, sizeof bits);
    any |= static_cast<Bits>((bits & kExponent) == kExponent);
  }
  return any != 0;
}

}  // namespace

void preprocess_cast_to_float32(const std::byte* src, DType src_type, int64_t n, float* dst) {
  cast_to(src, src_type, n, dst);
}

template <class T>
void preprocess_count_nonfinite(const T* x, int64_t rows, int64_t features, int64_t* nan, int64_t* inf, int64_t inner) {
  const int64_t row = features * inner;
  // Blocks of whole rows, about 16 K values each: only a block holding a non-finite value is counted
  // feature by feature.
  const int64_t block = std::max<int64_t>(1, 16384 / std::max<int64_t>(row, 1));
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    const int64_t r1 = std::min(rows, r0 + block);
    if (!any_nonfinite(x + r0 * row, (r1 - r0) * row)) continue;
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < features; ++j) {
        const T* p = x + (r * features + j) * inner;
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

template <class T>
void preprocess_impute(T* x, int64_t rows, int64_t features, const PreprocessValues<T>& value, int64_t inner) {
  if (value.empty()) return;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < features; ++j) {
      T* p = x + (r * features + j) * inner;
      for (int64_t k = 0; k < inner; ++k)
        if (std::isnan(p[k])) p[k] = value[j];
    }
}

template <class T>
void preprocess_scale(T* x, int64_t n, std::type_identity_t<T> scale) {
  if (scale == T{1}) return;
  for (int64_t i = 0; i < n; ++i) x[i] *= scale;
}

template <class T>
void preprocess_standardize(T* x, int64_t rows, int64_t features, const PreprocessValues<T>& mean,
                            const PreprocessValues<T>& std, int64_t inner) {
  if (mean.empty()) return;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < features; ++j) {
      T* p = x + (r * features + j) * inner;
      for (int64_t k = 0; k < inner; ++k) p[k] = (p[k] - mean[j]) / std[j];
    }
}

template <class T>
void preprocess_clip(T* x, int64_t rows, int64_t features, const PreprocessValues<T>& lo, const PreprocessValues<T>& hi,
                     int64_t inner) {
  if (lo.empty()) return;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < features; ++j) {
      T* p = x + (r * features + j) * inner;
      // NaN stays NaN (std::min/max with NaN first would not): clipping must not hide missing data.
      for (int64_t k = 0; k < inner; ++k) {
        if (p[k] < lo[j]) p[k] = lo[j];
        if (p[k] > hi[j]) p[k] = hi[j];
      }
    }
}

template <class T>
void preprocess_nhwc_to_nchw(const T* src, int64_t rows, int64_t hw, int64_t channels, T* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* s = src + r * hw * channels;
    T* d = dst + r * hw * channels;
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t c = 0; c < channels; ++c) d[c * hw + p] = s[p * channels + c];
  }
}

template <class T>
void preprocess_rows(const std::byte* raw, DType raw_type, int64_t rows, int64_t features,
                     const PreprocessSpecOf<std::type_identity_t<T>>& spec, T* out, int64_t* nan, int64_t* inf,
                     int64_t inner, bool nhwc) {
  const int64_t n = rows * features * inner;
  if (nhwc) {
    std::vector<T> tmp(static_cast<std::size_t>(n));
    cast_to(raw, raw_type, n, tmp.data());
    preprocess_nhwc_to_nchw(tmp.data(), rows, inner, features, out);
  } else {
    cast_to(raw, raw_type, n, out);
  }
  preprocess_rows_in_place(out, rows, features, spec, nan, inf, inner);
}

template <class T>
void preprocess_rows_in_place(T* x, int64_t rows, int64_t features, const PreprocessSpecOf<std::type_identity_t<T>>& spec,
                              int64_t* nan, int64_t* inf, int64_t inner) {
  preprocess_count_nonfinite(x, rows, features, nan, inf, inner);
  preprocess_impute(x, rows, features, spec.impute, inner);
  preprocess_scale(x, rows * features * inner, spec.scale);
  preprocess_standardize(x, rows, features, spec.mean, spec.std, inner);
  preprocess_clip(x, rows, features, spec.clip_min, spec.clip_max, inner);
}

#define SS_PREPROCESS_INSTANTIATE(T)                                                                                  \
  template void preprocess_count_nonfinite<T>(const T*, int64_t, int64_t, int64_t*, int64_t*, int64_t);               \
  template void preprocess_impute<T>(T*, int64_t, int64_t, const PreprocessValues<T>&, int64_t);                      \
  template void preprocess_scale<T>(T*, int64_t, T);                                                                  \
  template void preprocess_standardize<T>(T*, int64_t, int64_t, const PreprocessValues<T>&, const PreprocessValues<T>&, \
                                          int64_t);                                                                   \
  template void preprocess_clip<T>(T*, int64_t, int64_t, const PreprocessValues<T>&, const PreprocessValues<T>&,        \
                                   int64_t);                                                                          \
  template void preprocess_nhwc_to_nchw<T>(const T*, int64_t, int64_t, int64_t, T*);                                  \
  template void preprocess_rows<T>(const std::byte*, DType, int64_t, int64_t, const PreprocessSpecOf<T>&, T*, int64_t*, \
                                   int64_t*, int64_t, bool);                                                          \
  template void preprocess_rows_in_place<T>(T*, int64_t, int64_t, const PreprocessSpecOf<T>&, int64_t*, int64_t*, int64_t);
SS_PREPROCESS_INSTANTIATE(float)
SS_PREPROCESS_INSTANTIATE(double)
#undef SS_PREPROCESS_INSTANTIATE

}  // namespace shardscore
