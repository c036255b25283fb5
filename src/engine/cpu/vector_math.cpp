#include "engine/cpu/vector_math.h"

#include <immintrin.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include "common/quantize.h"

namespace shardscore {
namespace {

// SHARDSCORE_CPU_ISA's cap (any case); nullopt for a value that is none of them. Unset: no cap.
std::optional<CpuIsa> isa_cap_from_env() {
  const char* e = std::getenv("SHARDSCORE_CPU_ISA");
  if (e == nullptr) return CpuIsa::kAvx512;
  std::string v = e;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (v == "avx512") return CpuIsa::kAvx512;
  if (v == "avx2") return CpuIsa::kAvx2;
  if (v == "baseline") return CpuIsa::kBaseline;
  return std::nullopt;
}

// libmvec's entry points (the x86_64 vector function ABI names of erff, expf and tanhf).
extern "C" __m512 _ZGVeN16v_erff(__m512);
extern "C" __m256 _ZGVdN8v_erff(__m256);
extern "C" __m512 _ZGVeN16v_expf(__m512);
extern "C" __m256 _ZGVdN8v_expf(__m256);
extern "C" __m512 _ZGVeN16v_tanhf(__m512);  // glibc 2.35 and later
extern "C" __m256 _ZGVdN8v_tanhf(__m256);

int simd_level() { return static_cast<int>(cpu_isa()); }

template <__m512 (*F)(__m512)>
__attribute__((target("avx512f"))) void apply_avx512(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, F(_mm512_loadu_ps(x + i)));
  if (i < n) {
    alignas(64) float in[16] = {}, out[16];
    std::copy(x + i, x + n, in);
    _mm512_store_ps(out, F(_mm512_load_ps(in)));
    std::copy(out, out + (n - i), y + i);
  }
}

template <__m256 (*F)(__m256)>
__attribute__((target("avx2,fma"))) void apply_avx2(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, F(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float in[8] = {}, out[8];
    std::copy(x + i, x + n, in);
    _mm256_store_ps(out, F(_mm256_load_ps(in)));
    std::copy(out, out + (n - i), y + i);
  }
}

// Sigmoid through F = exp: e = F(-|x|), then (x >= 0 ? 1 : e) / (1 + e), a select and one division
// (branch-free, so the loop stays vector-wide).
template <__m512 (*F)(__m512)>
__attribute__((target("avx512f"))) __m512 sigmoid16(__m512 x) {
  const __m512 e = F(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(x)));
  const __mmask16 nonneg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);  // false for NaN
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(_mm512_mask_blend_ps(nonneg, e, one), _mm512_add_ps(one, e));
}

template <__m256 (*F)(__m256)>
__attribute__((target("avx2,fma"))) __m256 sigmoid8(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 e = F(_mm256_or_ps(x, sign));  // -|x|
  const __m256 nonneg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);  // false for NaN
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(_mm256_blendv_ps(e, one, nonneg), _mm256_add_ps(one, e));
}

// MINPS / MAXPS give their second operand where either is NaN (or both are zeros): the running
// bound second, a NaN element leaves it as it is, as the scalar loop's x < lo ? x : lo does.
__attribute__((target("avx2"))) void range_avx2(const float* x, int64_t n, float* lo, float* hi) {
  __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    vlo = _mm256_min_ps(v, vlo);
    vhi = _mm256_max_ps(v, vhi);
  }
  alignas(32) float l[8], h[8];
  _mm256_store_ps(l, vlo);
  _mm256_store_ps(h, vhi);
  float a = 0, b = 0;
  for (int k = 0; k < 8; ++k) {
    a = l[k] < a ? l[k] : a;
    b = h[k] > b ? h[k] : b;
  }
  for (; i < n; ++i) {
    a = x[i] < a ? x[i] : a;
    b = x[i] > b ? x[i] : b;
  }
  *lo = a;
  *hi = b;
}

// round(x / scale) + zero point, then MAXPS with 0 second (a NaN becomes 0) and MINPS with 255.
__attribute__((target("avx2"))) inline __m256 quantize8(__m256 v, __m256 s, __m256 z) {
  v = _mm256_add_ps(_mm256_round_ps(_mm256_div_ps(v, s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), z);
  return _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(255.0f));
}
// ... less the zero point.
__attribute__((target("avx2"))) inline __m256 quantize_offsets8(__m256 v, __m256 s, __m256 z) {
  return _mm256_sub_ps(quantize8(v, s, z), z);
}

// quantize8's values (whole numbers in [0, 255]) as bytes: exact conversions and packs.
__attribute__((target("avx2"))) void quantize_u8_avx2(const float* x, int64_t n, float scale, float zp, uint8_t* out) {
  const __m256 s = _mm256_set1_ps(scale), z = _mm256_set1_ps(zp);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i v = _mm256_cvtps_epi32(quantize8(_mm256_loadu_ps(x + i), s, z));
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i), _mm_packus_epi16(w, w));
  }
  for (; i < n; ++i) out[i] = quantize_linear_value<uint8_t>(x[i], scale, static_cast<int32_t>(zp));
}

__attribute__((target("avx2"))) void quantize_offsets_avx2(const float* x, int64_t n, float scale, float zp, float* out) {
  const __m256 s = _mm256_set1_ps(scale), z = _mm256_set1_ps(zp);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, quantize_offsets8(_mm256_loadu_ps(x + i), s, z));
  if (i < n) {
    alignas(32) float in[8] = {}, res[8];
    std::copy(x + i, x + n, in);
    _mm256_store_ps(res, quantize_offsets8(_mm256_load_ps(in), s, z));
    std::copy(res, res + (n - i), out + i);
  }
}

}  // namespace

CpuIsa cpu_isa() {
  static const CpuIsa isa = [] {
    const CpuIsa have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") ? CpuIsa::kAvx512
                        : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")   ? CpuIsa::kAvx2
                                                                                              : CpuIsa::kBaseline;
    const CpuIsa cap = isa_cap_from_env().value_or(CpuIsa::kAvx512);  // a bad value: cpu_isa_env_check
    return std::min(have, cap);
  }();
  return isa;
}

Status cpu_isa_env_check() {
  if (isa_cap_from_env()) return ok_status();
  return invalid_argument("environment variable SHARDSCORE_CPU_ISA is '" + std::string(std::getenv("SHARDSCORE_CPU_ISA")) +
                          "', not one of avx512, avx2, baseline (or unset: all the CPU has)");
}

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512: return "avx512";
    case CpuIsa::kAvx2: return "avx2";
    default: return "baseline";
  }
}

void vector_erf_f32(const float* x, float* y, int64_t n) {
  if (simd_level() == 2) return apply_avx512<_ZGVeN16v_erff>(x, y, n);
  if (simd_level() == 1) return apply_avx2<_ZGVdN8v_erff>(x, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] = std::erf(x[i]);
}

void vector_exp_f32(const float* x, float* y, int64_t n) {
  if (simd_level() == 2) return apply_avx512<_ZGVeN16v_expf>(x, y, n);
  if (simd_level() == 1) return apply_avx2<_ZGVdN8v_expf>(x, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

void vector_tanh_f32(const float* x, float* y, int64_t n) {
  if (simd_level() == 2) return apply_avx512<_ZGVeN16v_tanhf>(x, y, n);
  if (simd_level() == 1) return apply_avx2<_ZGVdN8v_tanhf>(x, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

void vector_sigmoid_f32(const float* x, float* y, int64_t n) {
  if (simd_level() == 2) return apply_avx512<sigmoid16<_ZGVeN16v_expf>>(x, y, n);
  if (simd_level() == 1) return apply_avx2<sigmoid8<_ZGVdN8v_expf>>(x, y, n);
  for (int64_t i = 0; i < n; ++i) {
    const float e = std::exp(-std::fabs(x[i]));
    y[i] = (x[i] >= 0.0f ? 1.0f : e) / (1.0f + e);
  }
}

void vector_range_with_zero_f32(const float* x, int64_t n, float* lo, float* hi) {
  if (simd_level() >= 1) return range_avx2(x, n, lo, hi);
  float a = 0, b = 0;
  for (int64_t i = 0; i < n; ++i) {
    a = x[i] < a ? x[i] : a;
    b = x[i] > b ? x[i] : b;
  }
  *lo = a;
  *hi = b;
}

void vector_quantize_u8_f32(const float* x, int64_t n, float scale, uint8_t zero_point, uint8_t* out) {
  if (simd_level() >= 1) return quantize_u8_avx2(x, n, scale, static_cast<float>(zero_point), out);
  for (int64_t i = 0; i < n; ++i) out[i] = quantize_linear_value<uint8_t>(x[i], scale, zero_point);
}

void vector_quantize_u8_offsets_f32(const float* x, int64_t n, float scale, uint8_t zero_point, float* out) {
  const float z = static_cast<float>(zero_point);
  if (simd_level() >= 1) return quantize_offsets_avx2(x, n, scale, z, out);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(quantize_linear_value<uint8_t>(x[i], scale, zero_point)) - z;
}

}  // namespace shardscore
