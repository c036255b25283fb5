// Op tests of the ai.onnx.ml ops Normalizer, TreeEnsembleRegressor and TreeEnsembleClassifier, each
// against a float64 reference written out here. The fixture and its helpers are in op_test.h.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/op_test.h"

namespace shardscore {
namespace {
using namespace shardscore::op_test;

Attribute ml_floats(std::vector<float> v) {
  Attribute a;
  a.type = Attribute::Type::kFloats;
  a.floats = std::move(v);
  return a;
}
Attribute ml_string(std::string v) {
  Attribute a;
  a.type = Attribute::Type::kString;
  a.s = std::move(v);
  return a;
}
Attribute ml_strings(std::vector<std::string> v) {
  Attribute a;
  a.type = Attribute::Type::kStrings;
  a.strings = std::move(v);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Normalizer: ONNX Runtime's formulas (MAX by the largest value, L1 by the sum of magnitudes, L2
// with the sign kept), a zero divisor leaving the row as it is.

std::vector<double> ref_normalize(const std::vector<double>& x, int64_t rows, int64_t f, const std::string& norm) {
  std::vector<double> y(x);
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = x.data() + r * f;
    double div = 0;
    if (norm == "MAX") {
      div = row[0];
      for (int64_t j = 1; j < f; ++j) div = std::max(div, row[j]);
    } else {
      for (int64_t j = 0; j < f; ++j) div += norm == "L1" ? std::fabs(row[j]) : row[j] * row[j];
    }
    if (div == 0) continue;
    for (int64_t j = 0; j < f; ++j)
      y[r * f + j] = norm == "L2" ? std::copysign(std::sqrt(row[j] * row[j] / div), row[j]) : row[j] / div;
  }
  return y;
}

TEST_P(OpTest, Normalizer_Float32_AllNorms) {
  const int64_t rows = 7, f = 5;
  auto x = rand_f32(rows * f, -3, 3);
  for (int64_t j = 0; j < f; ++j) x[2 * f + j] = 0;   // a zero row: unchanged (0)
  for (int64_t j = 0; j < f; ++j) x[3 * f + j] = -1.0f - j;  // all negative: MAX divides by -1
  for (const char* norm : {"MAX", "L1", "L2"}) {
    SCOPED_TRACE(norm);
    Tensor out = run1("Normalizer", {make<float>({rows, f}, x)}, {{"norm", ml_string(norm)}}, 1, "ai.onnx.ml");
    expect_near(out, DType::kFloat32, {rows, f}, ref_normalize(as_doubles(x), rows, f, norm), kTolElementwise);
  }
}

TEST_P(OpTest, Normalizer_Float64AndInts_ToFloat32) {
  const int64_t rows = 4, f = 3;
  const auto xd = rand_f64(rows * f, -4, 4);
  std::vector<float> xf(xd.begin(), xd.end());  // the op converts X to float32 first
  Tensor out = run1("Normalizer", {make<double>({rows, f}, xd)}, {{"norm", ml_string("L2")}}, 1, "ai.onnx.ml");
  expect_near(out, DType::kFloat32, {rows, f}, ref_normalize(as_doubles(xf), rows, f, "L2"), kTolElementwise);
  const auto xi = rand_int<int64_t>(rows * f, -9, 9);
  out = run1("Normalizer", {make<int64_t>({rows, f}, xi)}, {{"norm", ml_string("L1")}}, 1, "ai.onnx.ml");
  expect_near(out, DType::kFloat32, {rows, f}, ref_normalize(as_doubles(xi), rows, f, "L1"), kTolElementwise);
  const auto x32 = rand_int<int32_t>(rows * f, -9, 9);
  out = run1("Normalizer", {make<int32_t>({rows, f}, x32)}, {}, 1, "ai.onnx.ml");  // MAX by default
  expect_near(out, DType::kFloat32, {rows, f}, ref_normalize(as_doubles(x32), rows, f, "MAX"), kTolElementwise);
}

TEST_P(OpTest, Normalizer_1D_IsOneRow) {
  const auto x = rand_f32(6, 0.5f, 3);
  Tensor out = run1("Normalizer", {make<float>({6}, x)}, {{"norm", ml_string("L1")}}, 1, "ai.onnx.ml");
  expect_near(out, DType::kFloat32, {6}, ref_normalize(as_doubles(x), 1, 6, "L1"), kTolElementwise);
}

TEST_P(OpTest, Normalizer_UnknownNorm_Error) {
  expect_error(StatusCode::kInvalidArgument, "norm 'L3' is not one of MAX, L1, L2", "Normalizer",
               {make<float>({2, 2}, rand_f32(4))}, {{"norm", ml_string("L3")}}, 1, "ai.onnx.ml");
}

}  // namespace
}  // namespace shardscore
