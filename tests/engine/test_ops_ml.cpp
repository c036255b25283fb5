// Op tests of the ai.onnx.ml ops Normalizer, Imputer, Binarizer, OneHotEncoder, LabelEncoder,
// TreeEnsembleRegressor, TreeEnsembleClassifier, SVMRegressor and SVMClassifier, each against a
// float64 reference written out here. The fixture and its helpers are in op_test.h.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/op_plans_elementwise.h"
#include "engine/op_plans_svm.h"
#include "engine/op_test.h"

namespace shardscore {
namespace {
using namespace shardscore::op_test;

// ---------------------------------------------------------------------------------------------
// Imputer and Binarizer: X's type kept; the rule written out per element here.

// Exact, a NaN where the reference has one (expect_near takes no NaN).
void expect_same(const Tensor& out, DType dtype, const Shape& shape, const std::vector<double>& ref) {
  ASSERT_EQ(out.dtype(), dtype);
  ASSERT_EQ(out.shape(), shape);
  const std::vector<double> got = to_doubles(out);
  ASSERT_EQ(got.size(), ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) {
    EXPECT_TRUE(std::isnan(ref[i]) ? std::isnan(got[i]) : got[i] == ref[i]) << "element " << i << ": got " << got[i]
                                                                             << ", want " << ref[i];
  }
}

TEST_P(OpTest, Imputer_NaNPerFeature_And_OneValue) {
  // scikit-learn's SimpleImputer: replaced_value_float NaN, one value per feature; Inf is no NaN.
  const int64_t rows = 9, f = 4;
  auto x = rand_f32(rows * f, -3, 3);
  for (int64_t i = 0; i < rows * f; i += 3) x[static_cast<std::size_t>(i)] = NAN;
  x[5] = INFINITY;
  const std::vector<float> vals = {10, 20, 30, 40};
  Tensor out = run1("Imputer", {make<float>({rows, f}, x)},
                    {{"imputed_value_floats", a_floats(vals)}, {"replaced_value_float", a_float(NAN)}}, 1, "ai.onnx.ml");
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = std::isnan(x[i]) ? vals[i % f] : x[i];
  expect_same(out, DType::kFloat32, {rows, f}, ref);
  // One value for every feature, and the default replaced value 0 (zeros replaced; NaN kept).
  std::vector<float> z = {0, 1, NAN, 0, -2, 0};
  out = run1("Imputer", {make<float>({3, 2}, z)}, {{"imputed_value_floats", a_floats({7})}}, 1, "ai.onnx.ml");
  expect_same(out, DType::kFloat32, {3, 2}, {7, 1, NAN, 7, -2, 7});
  // A 1-D X: its elements are its features.
  out = run1("Imputer", {make<float>({3}, {NAN, 1, NAN})},
             {{"imputed_value_floats", a_floats({7, 8, 9})}, {"replaced_value_float", a_float(NAN)}}, 1, "ai.onnx.ml");
  expect_same(out, DType::kFloat32, {3}, {7, 1, 9});
}
TEST_P(OpTest, Imputer_Float64_Int64_Int32) {
  Tensor out = run1("Imputer", {make<double>({2, 2}, {0.1, NAN, NAN, -1e300})},
                    {{"imputed_value_floats", a_floats({0.5f, 0.25f})}, {"replaced_value_float", a_float(NAN)}}, 1,
                    "ai.onnx.ml");
  expect_same(out, DType::kFloat64, {2, 2}, {0.1, 0.25, 0.5, -1e300});
  out = run1("Imputer", {make<int64_t>({2, 3}, {1, -1, 5, -1, -1, 9000000000})},
             {{"imputed_value_int64s", a_ints({7, 8, 9000000001})}, {"replaced_value_int64", a_int(-1)}}, 1, "ai.onnx.ml");
  expect_same(out, DType::kInt64, {2, 3}, {1, 8, 5, 7, 8, 9000000000.0});
  out = run1("Imputer", {make<int32_t>({3}, {0, 4, 0})}, {{"imputed_value_int64s", a_ints({-3})}}, 1, "ai.onnx.ml");
  expect_same(out, DType::kInt32, {3}, {-3, 4, -3});
}
TEST_P(OpTest, Imputer_Errors) {
  auto x = [&] { return make<float>({2, 3}, rand_f32(6)); };
  expect_error(StatusCode::kInvalidArgument, "2 imputed values for 3 features", "Imputer", {x()},
               {{"imputed_value_floats", a_floats({1, 2})}}, 1, "ai.onnx.ml");
  expect_error(StatusCode::kInvalidArgument, "needs imputed_value_floats", "Imputer", {x()},
               {{"imputed_value_int64s", a_ints({1})}}, 1, "ai.onnx.ml");
  expect_error(StatusCode::kInvalidArgument, "both given", "Imputer", {x()},
               {{"imputed_value_floats", a_floats({1})}, {"imputed_value_int64s", a_ints({1})}}, 1, "ai.onnx.ml");
  expect_error(StatusCode::kInvalidArgument, "needs imputed_value_int64s", "Imputer", {make<int64_t>({2}, {1, 0})},
               {{"imputed_value_floats", a_floats({1})}}, 1, "ai.onnx.ml");
  expect_error(StatusCode::kInvalidArgument, "does not fit int32", "Imputer", {make<int32_t>({2}, {1, 0})},
               {{"imputed_value_int64s", a_ints({4000000000})}}, 1, "ai.onnx.ml");
  expect_error(StatusCode::kInvalidArgument, "1-D or 2-D", "Imputer", {make<float>({1, 2, 3}, rand_f32(6))},
               {{"imputed_value_floats", a_floats({1})}}, 1, "ai.onnx.ml");
  expect_error(StatusCode::kUnimplemented, "not supported", "Imputer", {make<uint8_t>({2}, {1, 0})},
               {{"imputed_value_int64s", a_ints({1})}}, 1, "ai.onnx.ml");
}
TEST_P(OpTest, Binarizer_AllTypes_NaNKept) {
  auto x = rand_f32(40, -2, 2);
  x[3] = 0.5f;  // equal to the threshold: 0 (strictly greater gives 1)
  x[7] = NAN;
  x[9] = INFINITY;
  Tensor out = run1("Binarizer", {make<float>({8, 5}, x)}, {{"threshold", a_float(0.5f)}}, 1, "ai.onnx.ml");
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = std::isnan(x[i]) ? NAN : (x[i] > 0.5f ? 1 : 0);
  expect_same(out, DType::kFloat32, {8, 5}, ref);
  out = run1("Binarizer", {make<double>({3}, {1e-300, -0.0, NAN})}, {}, 1, "ai.onnx.ml");  // threshold 0
  expect_same(out, DType::kFloat64, {3}, {1, 0, NAN});
  out = run1("Binarizer", {make<int64_t>({4}, {-5, 0, 1, 3})}, {{"threshold", a_float(0.5f)}}, 1, "ai.onnx.ml");
  expect_same(out, DType::kInt64, {4}, {0, 0, 1, 1});
  out = run1("Binarizer", {make<int32_t>({2}, {2, 3})}, {{"threshold", a_float(2.5f)}}, 1, "ai.onnx.ml");
  expect_same(out, DType::kInt32, {2}, {0, 1});
  expect_error(StatusCode::kUnimplemented, "not supported", "Binarizer", {make<uint8_t>({2}, {1, 0})}, {}, 1, "ai.onnx.ml");
}

// OneHotEncoder: Y[..., k] = 1 where X's value is cats[k]; written out per element here.
std::vector<double> one_hot_ref(const std::vector<double>& cat_of, const std::vector<int64_t>& cats) {
  std::vector<double> y;
  for (double c : cat_of)
    for (int64_t k : cats) y.push_back(c == static_cast<double>(k) ? 1 : 0);
  return y;
}
TEST_P(OpTest, OneHotEncoder_Int64_Int32_Float_Double) {
  const std::vector<int64_t> cats = {7, -1, 3, 1000000000000};
  const Attrs a = {{"cats_int64s", a_ints(cats)}};
  Tensor out = run1("OneHotEncoder", {make<int64_t>({2, 3}, {7, 3, 5, -1, 1000000000000, 7})}, a, 1, "ai.onnx.ml");
  expect_same(out, DType::kFloat32, {2, 3, 4}, one_hot_ref({7, 3, 5, -1, 1e12, 7}, cats));
  out = run1("OneHotEncoder", {make<int32_t>({3}, {3, 3, 0})}, a, 1, "ai.onnx.ml");
  expect_same(out, DType::kFloat32, {3, 4}, one_hot_ref({3, 3, 0}, cats));
  // Floats are truncated toward zero (ONNX Runtime's cast): 3.9 is 3, -1.5 is -1; NaN and Inf are
  // in no category.
  out = run1("OneHotEncoder", {make<float>({2, 3}, {3.9f, -1.5f, NAN, INFINITY, 7.0f, 2.5f})}, a, 1, "ai.onnx.ml");
  expect_same(out, DType::kFloat32, {2, 3, 4}, one_hot_ref({3, -1, 0.5, 0.5, 7, 2}, cats));
  out = run1("OneHotEncoder", {make<double>({2}, {1e12 + 0.5, -1e300})}, a, 1, "ai.onnx.ml");
  expect_same(out, DType::kFloat32, {2, 4}, one_hot_ref({1e12, 0.5}, cats));
}
// INT64_MIN is a category like any other (ONNX Runtime finds it): an int64 X of INT64_MIN, or a
// float64 X of -2^63 (which truncates to it), is one. The CPU took INT64_MIN for its "no category"
// sentinel and gave a zero row; the CUDA kernel keeps a flag and found it.
TEST_P(OpTest, OneHotEncoder_Int64MinIsACategory) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  const Attrs a = {{"cats_int64s", a_ints({4, kMin})}, {"zeros", a_int(0)}};
  Tensor out = run1("OneHotEncoder", {make<int64_t>({2}, {kMin, 4})}, a, 1, "ai.onnx.ml");
  expect_same(out, DType::kFloat32, {2, 2}, {0, 1, 1, 0});
  out = run1("OneHotEncoder", {make<double>({2}, {-9223372036854775808.0, 4.5})}, a, 1, "ai.onnx.ml");
  expect_same(out, DType::kFloat32, {2, 2}, {0, 1, 1, 0});
}
TEST_P(OpTest, OneHotEncoder_ZerosZeroFailsOnAnUnknownValue) {
  const Attrs a = {{"cats_int64s", a_ints({1, 2})}, {"zeros", a_int(0)}};
  Tensor out = run1("OneHotEncoder", {make<int64_t>({2}, {2, 1})}, a, 1, "ai.onnx.ml");
  expect_same(out, DType::kFloat32, {2, 2}, {0, 1, 1, 0});
  expect_error(StatusCode::kInvalidArgument, "value 5 is not one of the 2 categories (cats_int64s), and zeros is 0",
               "OneHotEncoder", {make<int64_t>({3}, {1, 5, 9})}, a, 1, "ai.onnx.ml");
  expect_error(StatusCode::kInvalidArgument, "a NaN, Inf or value beyond int64 is not one of the 2 categories",
               "OneHotEncoder", {make<float>({2}, {1, NAN})}, a, 1, "ai.onnx.ml");
  // INT64_MIN is a value like any other, also in the message (it was taken for "names none").
  expect_error(StatusCode::kInvalidArgument, "value -9223372036854775808 is not one of the 2 categories",
               "OneHotEncoder", {make<int64_t>({2}, {1, std::numeric_limits<int64_t>::min()})}, a, 1, "ai.onnx.ml");
  expect_error(StatusCode::kInvalidArgument, "value -9223372036854775808 is not one of the 2 categories",
               "OneHotEncoder", {make<double>({1}, {-9223372036854775808.0})}, a, 1, "ai.onnx.ml");
}
TEST_P(OpTest, OneHotEncoder_Errors) {
  auto x = [&] { return make<int64_t>({2}, {1, 2}); };
  expect_error(StatusCode::kInvalidArgument, "cats_int64s (the categories) is required", "OneHotEncoder", {x()}, {}, 1,
               "ai.onnx.ml");
  expect_error(StatusCode::kInvalidArgument, "category 2 appears twice", "OneHotEncoder", {x()},
               {{"cats_int64s", a_ints({2, 1, 2})}}, 1, "ai.onnx.ml");
  expect_error(StatusCode::kUnimplemented, "string categories", "OneHotEncoder", {x()},
               {{"cats_strings", a_strings({"a", "b"})}}, 1, "ai.onnx.ml");
  expect_error(StatusCode::kUnimplemented, "not supported", "OneHotEncoder", {make<uint8_t>({2}, {1, 0})},
               {{"cats_int64s", a_ints({1})}}, 1, "ai.onnx.ml");
}

// One plan run batch after batch, as the engine runs a model: OneHotEncoder's sorted categories
// come from the node's cache after the first batch (op_plans_elementwise.h), so every later batch,
// of another size and other values, and one after a batch that failed (zeros 0), must still find
// each category in its own column. The categories are unsorted, so a table that lost the
// positions (a column by sorted rank) would put the ones elsewhere.
TEST_P(OpTest, OneHotEncoder_BatchesShareTheNodesTable) {
  const std::vector<int64_t> cats = {40, -3, 7, 12, 0, -100, 9};
  Graph g;
  g.source = "test_ops";
  g.ir_version = 8;
  g.opsets[""] = 17;
  g.opsets["ai.onnx.ml"] = 1;
  Node n;
  n.name = "test_OneHotEncoder";
  n.op_type = "OneHotEncoder";
  n.domain = "ai.onnx.ml";
  n.opset = 1;
  n.attrs = {{"cats_int64s", a_ints(cats)}, {"zeros", a_int(0)}};
  n.inputs = {"in0"};
  n.outputs = {"out"};
  ValueInfo vi;
  vi.name = "in0";
  vi.dtype = DType::kInt64;
  vi.dims = {-1};
  vi.dim_params = {"N"};
  g.inputs.push_back(vi);
  ValueInfo out;
  out.name = "out";
  g.outputs.push_back(out);
  g.nodes.push_back(std::move(n));
  auto plan = plan_build(g);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  for (const int64_t rows : {5, 1, 17, 64, 3}) {
    SCOPED_TRACE("batch of " + std::to_string(rows));
    std::vector<int64_t> x;
    for (const int64_t k : rand_int<int64_t>(rows, 0, static_cast<int64_t>(cats.size()) - 1)) x.push_back(cats[k]);
    std::vector<Tensor> outs;
    const Status st = backend_->run(*plan, {make<int64_t>({rows}, x)}, &outs);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_EQ(outs.size(), 1u);
    expect_same(outs[0], DType::kFloat32, {rows, static_cast<int64_t>(cats.size())},
                one_hot_ref(std::vector<double>(x.begin(), x.end()), cats));
    if (rows == 17) {  // a failing batch between good ones
      outs.clear();
      const Status bad = backend_->run(*plan, {make<int64_t>({3}, {40, 8, -3})}, &outs);
      ASSERT_FALSE(bad.ok());
      EXPECT_NE(bad.message().find("value 8 is not one of the 7 categories"), std::string::npos) << bad.message();
    }
  }
}
// The table itself: built once per node (every plan of the node shares it), the categories
// ascending with their positions in cats_int64s.
TEST(OneHotTables, BuiltOncePerNodeSortedWithPositions) {
  Node n;
  n.name = "test_OneHotEncoder";
  n.op_type = "OneHotEncoder";
  n.domain = "ai.onnx.ml";
  n.opset = 1;
  n.attrs = {{"cats_int64s", a_ints({40, -3, 7, 12, 0, -100, 9})}};
  const Tensor x = make<int64_t>({2}, {7, 1});
  const Tensor xf = make<double>({1}, {12.5});
  StatusOr<OneHotEncoderPlan> a = one_hot_encoder_plan(n, {&x});
  StatusOr<OneHotEncoderPlan> b = one_hot_encoder_plan(n, {&xf});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tables.get(), b->tables.get());
  EXPECT_EQ(a->t().sorted, (std::vector<int64_t>{-100, -3, 0, 7, 9, 12, 40}));
  EXPECT_EQ(a->t().index, (std::vector<int64_t>{5, 1, 4, 2, 6, 3, 0}));
  EXPECT_EQ(a->t().column(12), 3);
  EXPECT_EQ(a->t().column(-100), 5);
  EXPECT_EQ(a->t().column(8), -1);
  EXPECT_EQ(a->out_shape, (Shape{2, 7}));
  EXPECT_EQ(b->out_shape, (Shape{1, 7}));
}

// LabelEncoder with numbers: the mapping written out per element here.
TEST_P(OpTest, LabelEncoder_FloatKeys_Int64Values_FirstOfARepeatedKey) {
  // scikit-learn's OrdinalEncoder through skl2onnx: keys_floats -> values_int64s; -0.0 is key 0.0;
  // 2.5 appears twice (its first value, 20, holds); the default is -1; NaN is no key before opset 4.
  const Attrs a = {{"keys_floats", a_floats({0.0f, 2.5f, 1e-3f, 2.5f, NAN})}, {"values_int64s", a_ints({10, 20, 30, 40, 50})}};
  Tensor out = run1("LabelEncoder", {make<float>({2, 3}, {2.5f, -0.0f, 7.0f, 1e-3f, NAN, 0.0f})}, a, 2, "ai.onnx.ml");
  expect_same(out, DType::kInt64, {2, 3}, {20, 10, -1, 30, -1, 10});
  // From opset 4 a NaN key matches NaN.
  out = run1("LabelEncoder", {make<float>({2}, {NAN, 2.5f})}, a, 4, "ai.onnx.ml");
  expect_same(out, DType::kInt64, {2}, {50, 20});
}
TEST_P(OpTest, LabelEncoder_Int64Keys_FloatValues_Defaults_Tensors) {
  Tensor out = run1("LabelEncoder", {make<int64_t>({4}, {3, 5, -9000000000, 4})},
                    {{"keys_int64s", a_ints({4, -9000000000, 3})}, {"values_floats", a_floats({0.5f, -2, 8})}}, 2,
                    "ai.onnx.ml");
  expect_same(out, DType::kFloat32, {4}, {8, -0.0, -2, 0.5});
  ASSERT_TRUE(std::signbit(out.data<float>()[1])) << "default_float is -0.0";
  out = run1("LabelEncoder", {make<int64_t>({3}, {1, 2, 3})},
             {{"keys_int64s", a_ints({1, 3})}, {"values_int64s", a_ints({7, 9})}, {"default_int64", a_int(99)}}, 2,
             "ai.onnx.ml");
  expect_same(out, DType::kInt64, {3}, {7, 99, 9});
  // Opset 4's tensor attributes: float64 keys, int64 values, a default_tensor.
  out = run1("LabelEncoder", {make<double>({3}, {0.1, 0.2, 0.30000000000000004})},
             {{"keys_tensor", a_tensor(make<double>({2}, {0.30000000000000004, 0.1}))},
              {"values_tensor", a_tensor(make<int64_t>({2}, {3, 1}))},
              {"default_tensor", a_tensor(make<int64_t>({1}, {-5}))}},
             4, "ai.onnx.ml");
  expect_same(out, DType::kInt64, {3}, {1, -5, 3});
}
TEST_P(OpTest, LabelEncoder_Errors) {
  auto x = [&] { return make<float>({2}, {1, 2}); };
  expect_error(StatusCode::kInvalidArgument, "2 keys but 1 values", "LabelEncoder", {x()},
               {{"keys_floats", a_floats({1, 2})}, {"values_int64s", a_ints({1})}}, 2, "ai.onnx.ml");
  expect_error(StatusCode::kInvalidArgument, "X is float32 but the keys are int64", "LabelEncoder", {x()},
               {{"keys_int64s", a_ints({1})}, {"values_int64s", a_ints({1})}}, 2, "ai.onnx.ml");
  expect_error(StatusCode::kUnimplemented, "string keys and values are not supported", "LabelEncoder", {x()},
               {{"keys_strings", a_strings({"a"})}, {"values_int64s", a_ints({1})}}, 2, "ai.onnx.ml");
  expect_error(StatusCode::kUnimplemented, "string keys and values are not supported", "LabelEncoder", {x()},
               {{"keys_floats", a_floats({1})}, {"values_strings", a_strings({"a"})}}, 2, "ai.onnx.ml");
  expect_error(StatusCode::kInvalidArgument, "both given", "LabelEncoder", {x()},
               {{"keys_floats", a_floats({1})}, {"keys_int64s", a_ints({1})}, {"values_int64s", a_ints({1})}}, 2,
               "ai.onnx.ml");
  expect_error(StatusCode::kInvalidArgument, "no values_floats", "LabelEncoder", {x()}, {{"keys_floats", a_floats({1})}}, 2,
               "ai.onnx.ml");
  expect_error(StatusCode::kInvalidArgument, "default_tensor must be one value", "LabelEncoder", {x()},
               {{"keys_floats", a_floats({1})}, {"values_int64s", a_ints({1})},
                {"default_tensor", a_tensor(make<float>({1}, {0}))}},
               4, "ai.onnx.ml");
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
    Tensor out = run1("Normalizer", {make<float>({rows, f}, x)}, {{"norm", a_string(norm)}}, 1, "ai.onnx.ml");
    expect_near(out, DType::kFloat32, {rows, f}, ref_normalize(as_doubles(x), rows, f, norm), kTolElementwise);
  }
}

TEST_P(OpTest, Normalizer_Float64AndInts_ToFloat32) {
  const int64_t rows = 4, f = 3;
  const auto xd = rand_f64(rows * f, -4, 4);
  std::vector<float> xf(xd.begin(), xd.end());  // the op converts X to float32 first
  Tensor out = run1("Normalizer", {make<double>({rows, f}, xd)}, {{"norm", a_string("L2")}}, 1, "ai.onnx.ml");
  expect_near(out, DType::kFloat32, {rows, f}, ref_normalize(as_doubles(xf), rows, f, "L2"), kTolElementwise);
  const auto xi = rand_int<int64_t>(rows * f, -9, 9);
  out = run1("Normalizer", {make<int64_t>({rows, f}, xi)}, {{"norm", a_string("L1")}}, 1, "ai.onnx.ml");
  expect_near(out, DType::kFloat32, {rows, f}, ref_normalize(as_doubles(xi), rows, f, "L1"), kTolElementwise);
  const auto x32 = rand_int<int32_t>(rows * f, -9, 9);
  out = run1("Normalizer", {make<int32_t>({rows, f}, x32)}, {}, 1, "ai.onnx.ml");  // MAX by default
  expect_near(out, DType::kFloat32, {rows, f}, ref_normalize(as_doubles(x32), rows, f, "MAX"), kTolElementwise);
}

TEST_P(OpTest, Normalizer_1D_IsOneRow) {
  const auto x = rand_f32(6, 0.5f, 3);
  Tensor out = run1("Normalizer", {make<float>({6}, x)}, {{"norm", a_string("L1")}}, 1, "ai.onnx.ml");
  expect_near(out, DType::kFloat32, {6}, ref_normalize(as_doubles(x), 1, 6, "L1"), kTolElementwise);
}

TEST_P(OpTest, Normalizer_UnknownNorm_Error) {
  expect_error(StatusCode::kInvalidArgument, "norm 'L3' is not one of MAX, L1, L2", "Normalizer",
               {make<float>({2, 2}, rand_f32(4))}, {{"norm", a_string("L3")}}, 1, "ai.onnx.ml");
}

// ---------------------------------------------------------------------------------------------
// TreeEnsembleRegressor / TreeEnsembleClassifier: hand-built trees as attribute lists, and a
// reference that walks them by (tree id, node id) in double, independently of the op's flat array.

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Ensemble {
  std::vector<int64_t> tree, node, feature, true_id, false_id, missing;
  std::vector<std::string> mode;
  std::vector<float> value;
  std::vector<int64_t> w_tree, w_node, w_id;
  std::vector<float> w_value;

  void branch(int64_t t, int64_t n, const std::string& m, int64_t f, float v, int64_t yes, int64_t no, bool miss = false) {
    tree.push_back(t), node.push_back(n), mode.push_back(m), feature.push_back(f), value.push_back(v);
    true_id.push_back(yes), false_id.push_back(no), missing.push_back(miss ? 1 : 0);
  }
  void leaf(int64_t t, int64_t n, std::vector<std::pair<int64_t, float>> votes) {
    tree.push_back(t), node.push_back(n), mode.push_back("LEAF"), feature.push_back(0), value.push_back(0);
    true_id.push_back(0), false_id.push_back(0), missing.push_back(0);
    for (auto [id, w] : votes) w_tree.push_back(t), w_node.push_back(n), w_id.push_back(id), w_value.push_back(w);
  }
  // prefix: "target" or "class".
  Attrs attrs(const std::string& prefix) const {
    return {{"nodes_treeids", a_ints(tree)},      {"nodes_nodeids", a_ints(node)},
            {"nodes_featureids", a_ints(feature)}, {"nodes_values", a_floats(value)},
            {"nodes_modes", a_strings(mode)},     {"nodes_truenodeids", a_ints(true_id)},
            {"nodes_falsenodeids", a_ints(false_id)}, {"nodes_missing_value_tracks_true", a_ints(missing)},
            {prefix + "_treeids", a_ints(w_tree)}, {prefix + "_nodeids", a_ints(w_node)},
            {prefix + "_ids", a_ints(w_id)},       {prefix + "_weights", a_floats(w_value)}};
  }
  std::size_t find(int64_t t, int64_t n) const {
    for (std::size_t i = 0; i < tree.size(); ++i)
      if (tree[i] == t && node[i] == n) return i;
    ADD_FAILURE() << "test bug: no node " << n << " in tree " << t;
    return 0;
  }
  std::vector<int64_t> tree_ids() const {
    std::vector<int64_t> ids(tree);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
  }
  // Per target: the aggregate of the weights of the leaves `row` reaches, and whether any did.
  void accumulate(const double* row, int64_t targets, const std::string& agg, std::vector<double>* acc,
                  std::vector<bool>* has) const {
    acc->assign(targets, 0.0);
    has->assign(targets, false);
    for (int64_t t : tree_ids()) {
      std::size_t i = find(t, 0);
      while (mode[i] != "LEAF") {
        const double x = row[feature[i]], v = value[i];
        bool go;
        if (std::isnan(x) && missing[i]) go = true;
        else if (mode[i] == "BRANCH_LEQ") go = x <= v;
        else if (mode[i] == "BRANCH_LT") go = x < v;
        else if (mode[i] == "BRANCH_GTE") go = x >= v;
        else if (mode[i] == "BRANCH_GT") go = x > v;
        else if (mode[i] == "BRANCH_EQ") go = x == v;
        else go = x != v;
        i = find(t, go ? true_id[i] : false_id[i]);
      }
      for (std::size_t k = 0; k < w_tree.size(); ++k) {
        if (w_tree[k] != t || w_node[k] != node[i]) continue;
        double& a = (*acc)[w_id[k]];
        const bool first = !(*has)[w_id[k]];
        if (agg == "MIN") a = first ? w_value[k] : std::min(a, double{w_value[k]});
        else if (agg == "MAX") a = first ? w_value[k] : std::max(a, double{w_value[k]});
        else a += w_value[k];
        (*has)[w_id[k]] = true;
      }
    }
    if (agg == "AVERAGE")
      for (double& a : *acc) a /= static_cast<double>(tree_ids().size());
  }
};

// A complete tree of `depth` levels of branches (node ids in breadth-first order, listed in a
// shuffled order), random features, thresholds and modes, each leaf voting for some targets.
void add_random_tree(Ensemble& e, int64_t t, int depth, int64_t features, int64_t targets, std::mt19937& rng,
                     bool positive = false) {
  const int64_t branches = (int64_t{1} << depth) - 1, all = 2 * branches + 1;
  std::vector<int64_t> order(all);
  for (int64_t i = 0; i < all; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  const char* modes[] = {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"};
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t n : order) {
    if (n < branches) {
      e.branch(t, n, modes[rng() % 4], static_cast<int64_t>(rng() % features), u(rng), 2 * n + 1, 2 * n + 2, rng() % 2);
    } else {
      std::vector<std::pair<int64_t, float>> votes;
      for (int64_t c = 0; c < targets; ++c)
        if (rng() % 4 != 0) votes.emplace_back(c, positive ? (u(rng) + 1) / 4 : u(rng));
      e.leaf(t, n, votes);
    }
  }
}

double ref_logistic(double v) { return 1.0 / (1.0 + std::exp(-v)); }
// ONNX Runtime's erfinv approximation (what PROBIT means there) at score v, in double, in parts:
// probit = sqrt(2) * sgn * sqrt(c), c = -a + sqrt(a^2 - b).
struct ProbitParts {
  double sgn, a, c;
};
ProbitParts probit_parts(double v) {
  double x = 2 * v - 1;
  const double sgn = x < 0 ? -1 : 1;
  x = (1 - x) * (1 + x);
  const double lg = std::log(x), a = 2 / (3.14159 * 0.147) + 0.5 * lg, b = 1 / 0.147 * lg;
  return {sgn, a, -a + std::sqrt(a * a - b)};
}
double ref_probit(double v) {
  const ProbitParts p = probit_parts(v);
  return std::sqrt(2.0) * p.sgn * std::sqrt(p.c);
}
// What ONNX Runtime's PROBIT formula, in float32, may be off from ref_probit at a score v, beyond
// the tolerance: float32 loses what the double reference keeps in two places. 2v - 1 rounds to
// 2^-25 near -1, which moves a score near 0 by up to 2^-26, a large part of it (a score of 3e-5 came
// out 1.2e-4 off, seed 1504484014); and near v = 0.5, -a + sqrt(a^2 - b) cancels, keeping about
// 2^-22 a of its value. Allowed: twice what each moves the probit.
double probit_slack(double v) {
  if (v <= 0) return 0.0;  // no tree voted: -inf either way
  const double d = 0x1p-25;
  double s = std::fabs(ref_probit(v + d) - ref_probit(v));
  if (v > d) s = std::max(s, std::fabs(ref_probit(v - d) - ref_probit(v)));
  const ProbitParts p = probit_parts(v);
  return s + std::sqrt(2.0) * (std::sqrt(p.c + 0x1p-21 * std::fabs(p.a)) - std::sqrt(p.c));
}

void ref_post(const std::string& post, std::vector<double>& z) {
  if (post == "LOGISTIC") {
    for (double& v : z) v = ref_logistic(v);
  } else if (post == "PROBIT") {
    for (double& v : z) v = ref_probit(v);
  } else if (post == "SOFTMAX" || post == "SOFTMAX_ZERO") {
    const bool zero = post == "SOFTMAX_ZERO";
    double sum = 0;
    for (double v : z) sum += zero && v == 0 ? 0 : std::exp(v);
    for (double& v : z) v = zero && v == 0 ? 0 : std::exp(v) / sum;
  }
}

std::vector<double> rows_with_nan(std::vector<double> x, int64_t every) {
  for (std::size_t i = 0; i < x.size(); i += every) x[i] = kNaN;
  return x;
}

TEST_P(OpTest, TreeEnsembleRegressor_EveryModeAndMissing) {
  // Tree k decides on feature k with mode k; target k gets 1 on the true side, 2 on the false side;
  // trees 0, 3 and 5 send a NaN to the true side. Values include the thresholds themselves.
  const char* modes[] = {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"};
  const float th[] = {0.25f, -0.5f, 0.125f, 0.0f, 0.75f, -0.25f};
  Ensemble e;
  for (int64_t k = 0; k < 6; ++k) {
    e.leaf(k, 2, {{k, 2.0f}});  // listed before its root: order in the attributes does not matter
    e.branch(k, 0, modes[k], k, th[k], 1, 2, k == 0 || k == 3 || k == 5);
    e.leaf(k, 1, {{k, 1.0f}});
  }
  const int64_t rows = 12, f = 6;
  std::vector<double> x(rows * f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < f; ++k) x[r * f + k] = r % 3 == 0 ? th[k] : r % 3 == 1 ? rand_f64(1)[0] : kNaN;
  std::vector<float> xf(x.begin(), x.end());
  Attrs attrs = e.attrs("target");
  attrs["n_targets"] = a_int(6);
  Tensor out = run1("TreeEnsembleRegressor", {make<float>({rows, f}, xf)}, attrs, 3, "ai.onnx.ml");
  std::vector<double> ref;
  std::vector<double> acc;
  std::vector<bool> has;
  for (int64_t r = 0; r < rows; ++r) {
    e.accumulate(x.data() + r * f, 6, "SUM", &acc, &has);
    ref.insert(ref.end(), acc.begin(), acc.end());
  }
  expect_near(out, DType::kFloat32, {rows, 6}, ref, kExact);
}

TEST_P(OpTest, TreeEnsembleRegressor_AggregatesAndBaseValues) {
  const int64_t rows = 40, f = 5, targets = 2;
  Ensemble e;
  for (int64_t t = 0; t < 7; ++t) add_random_tree(e, t * 3 + 1, 3, f, targets, rng_);  // tree ids need not be dense
  const auto x = rows_with_nan(rand_f64(rows * f, -1.2, 1.2), 7);
  std::vector<float> xf(x.begin(), x.end());
  const std::vector<double> xd(xf.begin(), xf.end());
  for (const char* agg : {"SUM", "AVERAGE", "MIN", "MAX"}) {
    SCOPED_TRACE(agg);
    Attrs attrs = e.attrs("target");
    attrs["n_targets"] = a_int(targets);
    attrs["aggregate_function"] = a_string(agg);
    attrs["base_values"] = a_floats({0.5f, -1.5f});
    Tensor out = run1("TreeEnsembleRegressor", {make<float>({rows, f}, xf)}, attrs, 1, "ai.onnx.ml");
    std::vector<double> ref, acc;
    std::vector<bool> has;
    for (int64_t r = 0; r < rows; ++r) {
      e.accumulate(xd.data() + r * f, targets, agg, &acc, &has);
      ref.push_back(acc[0] + 0.5), ref.push_back(acc[1] - 1.5);
    }
    expect_near(out, DType::kFloat32, {rows, targets}, ref, kTolReduce);
  }
}

TEST_P(OpTest, TreeEnsembleRegressor_PostTransformsOverTargets) {
  const int64_t rows = 20, f = 4, targets = 3;
  Ensemble e;
  for (int64_t t = 0; t < 4; ++t) add_random_tree(e, t, 2, f, targets, rng_, /*positive=*/true);
  const auto x = rand_f64(rows * f, -1, 1);
  std::vector<float> xf(x.begin(), x.end());
  const std::vector<double> xd(xf.begin(), xf.end());
  for (const char* post : {"LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"}) {
    SCOPED_TRACE(post);
    Attrs attrs = e.attrs("target");
    attrs["n_targets"] = a_int(targets);
    attrs["aggregate_function"] = a_string("AVERAGE");  // scores in (0, 0.5]: PROBIT's domain
    attrs["post_transform"] = a_string(post);
    Tensor out = run1("TreeEnsembleRegressor", {make<float>({rows, f}, xf)}, attrs, 1, "ai.onnx.ml");
    std::vector<double> ref, acc, slack;
    std::vector<bool> has;
    for (int64_t r = 0; r < rows; ++r) {
      e.accumulate(xd.data() + r * f, targets, "AVERAGE", &acc, &has);
      if (std::string(post) == "PROBIT") {
        for (double v : acc) slack.push_back(probit_slack(v));
      }
      ref_post(post, acc);
      ref.insert(ref.end(), acc.begin(), acc.end());
    }
    expect_near(out, DType::kFloat32, {rows, targets}, ref, kTolReduce, slack);
  }
}

TEST_P(OpTest, TreeEnsembleRegressor_Float64ComparesInDouble) {
  // x just above float(0.1) compares above the threshold as a double; as a float32 it would be equal.
  Ensemble e;
  e.branch(0, 0, "BRANCH_LEQ", 0, 0.1f, 1, 2);
  e.leaf(0, 1, {{0, 1.0f}});
  e.leaf(0, 2, {{0, 2.0f}});
  const double t = 0.1f;
  Tensor out = run1("TreeEnsembleRegressor", {make<double>({3, 1}, {t, t + 1e-12, t - 1e-12})}, e.attrs("target"), 1,
                    "ai.onnx.ml");
  expect_near(out, DType::kFloat32, {3, 1}, {1, 2, 1}, kExact);
  // int64 X: converted, compared with the threshold.
  out = run1("TreeEnsembleRegressor", {make<int64_t>({2, 1}, {0, 1})}, e.attrs("target"), 1, "ai.onnx.ml");
  expect_near(out, DType::kFloat32, {2, 1}, {1, 2}, kExact);
}

TEST_P(OpTest, TreeEnsembleClassifier_MulticlassPostTransforms) {
  const int64_t rows = 30, f = 5, classes = 3;
  Ensemble e;
  for (int64_t t = 0; t < 5; ++t) add_random_tree(e, t, 3, f, classes, rng_);
  const auto x = rows_with_nan(rand_f64(rows * f, -1.2, 1.2), 11);
  std::vector<float> xf(x.begin(), x.end());
  const std::vector<double> xd(xf.begin(), xf.end());
  const std::vector<float> base = {0.1f, -0.2f, 0.3f};
  for (const char* post : {"NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"}) {
    SCOPED_TRACE(post);
    Attrs attrs = e.attrs("class");
    attrs["classlabels_int64s"] = a_ints({7, 8, 9});
    attrs["base_values"] = a_floats(base);
    attrs["post_transform"] = a_string(post);
    std::vector<Tensor> outs;
    ASSERT_TRUE(run_node(*backend_, "TreeEnsembleClassifier", {make<float>({rows, f}, xf)}, 2, &outs, attrs, 1,
                         "ai.onnx.ml").ok());
    std::vector<double> ref, acc;
    std::vector<bool> has;
    std::vector<int64_t> labels;
    for (int64_t r = 0; r < rows; ++r) {
      e.accumulate(xd.data() + r * f, classes, "SUM", &acc, &has);
      for (int64_t c = 0; c < classes; ++c) acc[c] += base[c];
      labels.push_back(7 + (std::max_element(acc.begin(), acc.end()) - acc.begin()));
      ref_post(post, acc);
      ref.insert(ref.end(), acc.begin(), acc.end());
    }
    expect_equal<int64_t>(outs[0], {rows}, labels);
    expect_near(outs[1], DType::kFloat32, {rows, classes}, ref, kTolReduce);
  }
}

TEST_P(OpTest, TreeEnsembleClassifier_BinaryOneColumn) {
  const int64_t rows = 30, f = 4;
  const auto x = rand_f64(rows * f, -1, 1);
  std::vector<float> xf(x.begin(), x.end());
  const std::vector<double> xd(xf.begin(), xf.end());
  for (const bool positive : {true, false}) {
    Ensemble e;  // every weight for class 0: one score column
    for (int64_t t = 0; t < 3; ++t) add_random_tree(e, t, 2, f, 1, rng_, positive);
    if (!positive) e.w_value[0] = -std::fabs(e.w_value[0]) - 0.01f;  // surely mixed signs
    for (const char* post : {"NONE", "LOGISTIC"}) {
      SCOPED_TRACE(std::string(post) + (positive ? ", probabilities" : ", margins"));
      Attrs attrs = e.attrs("class");
      attrs["classlabels_int64s"] = a_ints({4, 6});
      attrs["post_transform"] = a_string(post);
      if (!positive) attrs["base_values"] = a_floats({0.25f});
      std::vector<Tensor> outs;
      ASSERT_TRUE(run_node(*backend_, "TreeEnsembleClassifier", {make<float>({rows, f}, xf)}, 2, &outs, attrs, 1,
                           "ai.onnx.ml").ok());
      std::vector<double> ref, acc;
      std::vector<bool> has;
      std::vector<int64_t> labels;
      for (int64_t r = 0; r < rows; ++r) {
        e.accumulate(xd.data() + r * f, 1, "SUM", &acc, &has);
        const double s = acc[0] + (positive ? 0.0 : 0.25);
        // Weights >= 0 and NONE: s is a probability. LOGISTIC applies whatever the signs (the ONNX
        // reference, ONNX Runtime 1.2x; 1.19 skipped it when every weight was >= 0).
        const bool probability = positive && std::string(post) == "NONE";
        labels.push_back((probability ? s > 0.5 : s > 0) ? 6 : 4);
        if (probability) ref.push_back(1 - s), ref.push_back(s);
        else if (std::string(post) == "LOGISTIC") ref.push_back(ref_logistic(-s)), ref.push_back(ref_logistic(s));
        else ref.push_back(-s), ref.push_back(s);
      }
      expect_equal<int64_t>(outs[0], {rows}, labels);
      expect_near(outs[1], DType::kFloat32, {rows, 2}, ref, kTolReduce);
    }
  }
}

TEST_P(OpTest, TreeEnsembleClassifier_StringLabelsScoresOnly) {
  Ensemble e;
  add_random_tree(e, 0, 2, 3, 3, rng_);
  Attrs attrs = e.attrs("class");
  attrs["classlabels_strings"] = a_strings({"a", "b", "c"});
  const auto x = rand_f32(5 * 3);
  expect_error(StatusCode::kUnimplemented, "string class labels (classlabels_strings) are not supported: the engine has no string tensors (the scores output alone is); train the model on integer-coded classes", "TreeEnsembleClassifier", {make<float>({5, 3}, x)},
               attrs, 1, "ai.onnx.ml");
  // Without the label output the scores are computed.
  std::vector<Tensor> outs;
  const Status st = run_node(*backend_, "TreeEnsembleClassifier", {make<float>({5, 3}, x)}, 2, &outs, attrs, 1,
                             "ai.onnx.ml", /*unnamed_output0=*/true);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(outs.size(), 1u);
  std::vector<double> ref, acc;
  std::vector<bool> has;
  for (int64_t r = 0; r < 5; ++r) {
    const std::vector<double> row(x.begin() + r * 3, x.begin() + r * 3 + 3);
    e.accumulate(row.data(), 3, "SUM", &acc, &has);
    ref.insert(ref.end(), acc.begin(), acc.end());
  }
  expect_near(outs[0], DType::kFloat32, {5, 3}, ref, kTolReduce);
}

TEST_P(OpTest, TreeEnsembleRegressor_BadStructure_Error) {
  const Tensor x = make<float>({2, 2}, rand_f32(4));
  auto check = [&](const Ensemble& e, const std::string& what) {
    SCOPED_TRACE(what);
    expect_error(StatusCode::kInvalidArgument, what, "TreeEnsembleRegressor", {x}, e.attrs("target"), 1, "ai.onnx.ml");
  };
  Ensemble cycle;
  cycle.branch(0, 0, "BRANCH_LEQ", 0, 0.f, 1, 2);
  cycle.branch(0, 1, "BRANCH_LEQ", 1, 0.f, 2, 0);
  cycle.leaf(0, 2, {{0, 1.f}});
  check(cycle, "tree 0 node 1: its children lead back to it (a cycle)");
  Ensemble missing_child;
  missing_child.branch(0, 0, "BRANCH_LEQ", 0, 0.f, 1, 5);
  missing_child.leaf(0, 1, {{0, 1.f}});
  check(missing_child, "tree 0 node 0: its false child 5 is not a node of the tree");
  Ensemble twice;
  twice.leaf(3, 0, {{0, 1.f}});
  twice.leaf(3, 0, {{0, 1.f}});
  check(twice, "tree 3 node 0 appears twice");
  Ensemble no_root;
  no_root.leaf(1, 4, {{0, 1.f}});
  check(no_root, "tree 1 has no node 0 (its root)");
  Ensemble feature;
  feature.branch(0, 0, "BRANCH_LT", 2, 0.f, 1, 2);
  feature.leaf(0, 1, {{0, 1.f}});
  feature.leaf(0, 2, {{0, 1.f}});
  check(feature, "tree 0 node 0: feature 2 is not a column of X (2 features)");
  Ensemble on_branch = feature;
  on_branch.feature[0] = 1;
  on_branch.w_tree.push_back(0), on_branch.w_node.push_back(0), on_branch.w_id.push_back(0), on_branch.w_value.push_back(1);
  check(on_branch, "a weight names tree 0 node 0, which is not a leaf");
  Ensemble target = feature;
  target.feature[0] = 1;
  target.w_id[0] = 1;
  check(target, "tree 0 node 1: target id 1 is out of range for 1 targets");
  Ensemble mode = feature;
  mode.feature[0] = 1;
  mode.mode[0] = "BRANCH_XX";
  check(mode, "tree 0 node 0: mode 'BRANCH_XX' is not one of");
}

TEST_P(OpTest, TreeEnsembleClassifier_Refusals_Error) {
  const Tensor x = make<float>({2, 2}, rand_f32(4));
  Ensemble both;  // two classes, weights on both
  both.leaf(0, 0, {{0, 0.4f}, {1, 0.6f}});
  Attrs attrs = both.attrs("class");
  attrs["classlabels_int64s"] = a_ints({0, 1});
  expect_error(StatusCode::kUnimplemented, "two classes with weights on both", "TreeEnsembleClassifier", {x}, attrs, 1,
               "ai.onnx.ml");
  Ensemble one;
  one.leaf(0, 0, {{0, 0.4f}});
  attrs = one.attrs("class");
  attrs["classlabels_int64s"] = a_ints({0, 1});
  attrs["post_transform"] = a_string("PROBIT");
  expect_error(StatusCode::kUnimplemented, "post_transform PROBIT for a binary classifier with one weight column",
               "TreeEnsembleClassifier", {x}, attrs, 1, "ai.onnx.ml");
  attrs = one.attrs("class");
  attrs["classlabels_int64s"] = a_ints({0, 1});
  Attribute t;
  t.type = Attribute::Type::kTensor;
  t.t = make<double>({1}, {0.5});
  attrs["base_values_as_tensor"] = t;
  expect_error(StatusCode::kUnimplemented, "base_values_as_tensor is not supported", "TreeEnsembleClassifier", {x},
               attrs, 3, "ai.onnx.ml");
  attrs = one.attrs("target");
  attrs["post_transform"] = a_string("LOGISTIC");
  expect_error(StatusCode::kUnimplemented, "post_transform LOGISTIC with one target", "TreeEnsembleRegressor", {x},
               attrs, 1, "ai.onnx.ml");
}

// ---------------------------------------------------------------------------------------------
// SVMRegressor and SVMClassifier: the ai.onnx.ml spec's kernels and libsvm's one-vs-one decision
// functions, with ONNX Runtime's choices where the spec is silent (pair order, the two-class Z,
// Platt probabilities coupled by libsvm's iteration), all in double here.

struct SvmRef {
  std::string kernel = "RBF";
  double gamma = 0.3, coef0 = 0.2, degree = 2;
  int64_t f = 3;
  std::vector<float> sv;

  double k(const float* x, int64_t v) const {
    const float* s = sv.data() + v * f;
    double dot = 0, dist = 0;
    for (int64_t i = 0; i < f; ++i) {
      dot += double{x[i]} * s[i];
      dist += (double{x[i]} - s[i]) * (double{x[i]} - s[i]);
    }
    if (kernel == "LINEAR") return dot;
    if (kernel == "POLY") return std::pow(gamma * dot + coef0, degree);
    if (kernel == "RBF") return std::exp(-gamma * dist);
    return std::tanh(gamma * dot + coef0);
  }
  Attrs attrs() const {
    Attrs a;
    a["kernel_type"] = a_string(kernel);
    a["kernel_params"] = a_floats({static_cast<float>(gamma), static_cast<float>(coef0), static_cast<float>(degree)});
    a["support_vectors"] = a_floats(sv);
    return a;
  }
};

// Wu, Lin and Weng's second coupling method as libsvm (and ONNX Runtime) iterate it: minimize
// p'Qp over the simplex, Q_ii = sum_{j != i} r_ji^2, Q_ij = -r_ji r_ij; start uniform, at most 100
// sweeps, stop when max_i |(Qp)_i - p'Qp| < 0.005 / k.
std::vector<double> ref_couple(const std::vector<std::vector<double>>& r) {
  const std::size_t k = r.size();
  std::vector<std::vector<double>> Q(k, std::vector<double>(k, 0));
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j)
      if (i != j) {
        Q[i][i] += r[j][i] * r[j][i];
        Q[i][j] = -r[j][i] * r[i][j];
      }
  std::vector<double> p(k, 1.0 / k), Qp(k);
  for (int it = 0; it < 100; ++it) {
    double pQp = 0;
    for (std::size_t i = 0; i < k; ++i) {
      Qp[i] = 0;
      for (std::size_t j = 0; j < k; ++j) Qp[i] += Q[i][j] * p[j];
      pQp += p[i] * Qp[i];
    }
    double err = 0;
    for (std::size_t i = 0; i < k; ++i) err = std::max(err, std::fabs(Qp[i] - pQp));
    if (err < 0.005 / k) break;
    for (std::size_t t = 0; t < k; ++t) {
      const double diff = (-Qp[t] + pQp) / Q[t][t];
      p[t] += diff;
      pQp = (pQp + diff * (diff * Q[t][t] + 2 * Qp[t])) / (1 + diff) / (1 + diff);
      for (std::size_t j = 0; j < k; ++j) {
        Qp[j] = (Qp[j] + diff * Q[t][j]) / (1 + diff);
        p[j] /= (1 + diff);
      }
    }
  }
  return p;
}

TEST_P(OpTest, SVMRegressor_EveryKernel_LinearForm_OneClass) {
  const int64_t rows = 11, f = 3, nsv = 5;
  const auto x = rand_f32(rows * f, -2, 2);
  for (const char* kernel : {"LINEAR", "POLY", "RBF", "SIGMOID"}) {
    SCOPED_TRACE(kernel);
    SvmRef m;
    m.kernel = kernel;
    m.degree = 3;
    m.sv = rand_f32(nsv * f, -1.5f, 1.5f);
    const auto coef = rand_f32(nsv, -1, 1);
    for (const int one_class : {0, 1}) {
      Attrs a = m.attrs();
      a["n_supports"] = a_int(nsv);
      a["coefficients"] = a_floats(coef);
      a["rho"] = a_floats({-0.25f});
      a["one_class"] = a_int(one_class);
      Tensor out = run1("SVMRegressor", {make<float>({rows, f}, x)}, a, 1, "ai.onnx.ml");
      std::vector<double> ref;
      for (int64_t r = 0; r < rows; ++r) {
        double s = -0.25;
        for (int64_t v = 0; v < nsv; ++v) s += coef[v] * m.k(x.data() + r * f, v);
        ref.push_back(one_class ? (s > 0 ? 1.0 : -1.0) : s);
      }
      expect_near(out, DType::kFloat32, {rows, 1}, ref, kTolReduce);
    }
  }
  // n_supports 0: the coefficients are the weights of a linear model, whatever kernel_type says.
  const auto w = rand_f32(f, -1, 1);
  Attrs a;
  a["kernel_type"] = a_string("RBF");
  a["coefficients"] = a_floats(w);
  a["rho"] = a_floats({0.5f});
  const auto xd = rand_f64(2 * f, -3, 3);
  Tensor out = run1("SVMRegressor", {make<double>({2, f}, xd)}, a, 1, "ai.onnx.ml");
  std::vector<double> ref;
  for (int64_t r = 0; r < 2; ++r) {
    double s = 0.5;
    for (int64_t i = 0; i < f; ++i) s += double{static_cast<float>(xd[r * f + i])} * w[i];
    ref.push_back(s);
  }
  expect_near(out, DType::kFloat32, {2, 1}, ref, kTolReduce);
}

// One-vs-one scores d_ij (pairs (0,1), (0,2), ..., (1,2), ...), as libsvm lays out the dual
// coefficients: class i's vectors use row j - 1, class j's vectors row i.
std::vector<double> ref_pair_scores(const SvmRef& m, const float* x, const std::vector<int64_t>& per_class,
                                    const std::vector<float>& coef, const std::vector<float>& rho) {
  const int64_t k = static_cast<int64_t>(per_class.size());
  std::vector<int64_t> start(k, 0);
  for (int64_t c = 1; c < k; ++c) start[c] = start[c - 1] + per_class[c - 1];
  const int64_t V = start[k - 1] + per_class[k - 1];
  std::vector<double> d;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = i + 1; j < k; ++j) {
      double s = rho[d.size()];
      for (int64_t v = start[i]; v < start[i] + per_class[i]; ++v) s += coef[(j - 1) * V + v] * m.k(x, v);
      for (int64_t v = start[j]; v < start[j] + per_class[j]; ++v) s += coef[i * V + v] * m.k(x, v);
      d.push_back(s);
    }
  return d;
}

int64_t ref_vote(const std::vector<double>& d, int64_t k) {
  std::vector<int> votes(k, 0);
  std::size_t n = 0;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = i + 1; j < k; ++j) ++votes[d[n++] > 0 ? i : j];
  return std::max_element(votes.begin(), votes.end()) - votes.begin();  // the first with the most votes
}

TEST_P(OpTest, SVMClassifier_OneVsOne_ScoresAndProbabilities) {
  const int64_t rows = 25, f = 3;
  const std::vector<int64_t> per_class = {2, 3, 1, 2};
  const int64_t k = 4, V = 8, pairs = 6;
  const std::vector<int64_t> labels = {5, 7, 9, 11};
  const auto x = rand_f32(rows * f, -2, 2);
  for (const char* kernel : {"RBF", "POLY", "LINEAR", "SIGMOID"}) {
    SvmRef m;
    m.kernel = kernel;
    m.sv = rand_f32(V * f, -1.5f, 1.5f);
    const auto coef = rand_f32((k - 1) * V, -1.5f, 1.5f);
    const auto rho = rand_f32(pairs, -0.5f, 0.5f);
    const auto pa = rand_f32(pairs, -3, -0.5f), pb = rand_f32(pairs, -0.3f, 0.3f);
    for (const bool proba : {false, true})
      for (const char* post : {"NONE", "SOFTMAX", "LOGISTIC"}) {
        SCOPED_TRACE(std::string(kernel) + (proba ? ", probabilities, " : ", scores, ") + post);
        Attrs a = m.attrs();
        a["vectors_per_class"] = a_ints(per_class);
        a["coefficients"] = a_floats(coef);
        a["rho"] = a_floats(rho);
        a["classlabels_ints"] = a_ints(labels);
        a["post_transform"] = a_string(post);
        if (proba) a["prob_a"] = a_floats(pa), a["prob_b"] = a_floats(pb);
        std::vector<Tensor> outs;
        const Status st = run_node(*backend_, "SVMClassifier", {make<float>({rows, f}, x)}, 2, &outs, a, 1, "ai.onnx.ml");
        ASSERT_TRUE(st.ok()) << st.message();
        std::vector<int64_t> want_labels;
        std::vector<double> ref;
        for (int64_t r = 0; r < rows; ++r) {
          std::vector<double> d = ref_pair_scores(m, x.data() + r * f, per_class, coef, rho);
          want_labels.push_back(labels[ref_vote(d, k)]);  // votes, with or without probabilities
          if (proba) {
            std::vector<std::vector<double>> rr(k, std::vector<double>(k, 0));
            std::size_t n = 0;
            for (int64_t i = 0; i < k; ++i)
              for (int64_t j = i + 1; j < k; ++j, ++n) {
                const double p = std::clamp(1.0 / (1.0 + std::exp(d[n] * pa[n] + pb[n])), 1e-7, 1 - 1e-7);
                rr[i][j] = p;
                rr[j][i] = 1 - p;
              }
            d = ref_couple(rr);
          }
          ref_post(post, d);
          ref.insert(ref.end(), d.begin(), d.end());
        }
        expect_equal<int64_t>(outs[0], {rows}, want_labels);
        expect_near(outs[1], DType::kFloat32, {rows, proba ? k : pairs}, ref, kTolReduce);
      }
  }
}

TEST_P(OpTest, SVMClassifier_TwoClasses) {
  const int64_t rows = 20, f = 3;
  SvmRef m;
  m.sv = rand_f32(5 * f, -1.5f, 1.5f);
  const std::vector<int64_t> per_class = {2, 3};
  const auto coef = rand_f32(5, -1.5f, 1.5f);
  const std::vector<float> rho = {0.1f};
  const auto x = rand_f32(rows * f, -2, 2);
  for (const bool proba : {false, true})
    for (const char* post : {"NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"}) {
      SCOPED_TRACE(std::string(proba ? "probabilities, " : "scores, ") + post);
      Attrs a = m.attrs();
      a["vectors_per_class"] = a_ints(per_class);
      a["coefficients"] = a_floats(coef);
      a["rho"] = a_floats(rho);
      a["classlabels_ints"] = a_ints({0, 1});
      a["post_transform"] = a_string(post);
      if (proba) a["prob_a"] = a_floats({-1.7f}), a["prob_b"] = a_floats({0.05f});
      std::vector<Tensor> outs;
      ASSERT_TRUE(run_node(*backend_, "SVMClassifier", {make<float>({rows, f}, x)}, 2, &outs, a, 1, "ai.onnx.ml").ok());
      std::vector<int64_t> want_labels;
      std::vector<double> ref;
      for (int64_t r = 0; r < rows; ++r) {
        const double d = ref_pair_scores(m, x.data() + r * f, per_class, coef, rho)[0];
        want_labels.push_back(d > 0 ? 0 : 1);  // d > 0 votes for the first class
        std::vector<double> z;
        if (proba) {
          const double p = std::clamp(1.0 / (1.0 + std::exp(d * -1.7 + 0.05)), 1e-7, 1 - 1e-7);
          z = ref_couple({{0, p}, {1 - p, 0}});
          ref_post(post, z);
        } else {
          // The one score as two columns, then post_transform over them: ONNX's reference
          // (LOGISTIC: [logistic(-d), logistic(d)], as ONNX Runtime 1.32 too; 1.19 wrote [1 - d, d]).
          z = {-d, d};
          ref_post(post, z);
        }
        ref.insert(ref.end(), z.begin(), z.end());
      }
      expect_equal<int64_t>(outs[0], {rows}, want_labels);
      expect_near(outs[1], DType::kFloat32, {rows, 2}, ref, kTolReduce);
    }
}

// A NaN in a row makes every pair score NaN: each pair votes for its second class (d > 0 is
// false), and the Platt probabilities stay NaN through the clamp (std::min / std::max keep a NaN
// first argument), so the coupling stops at once on its uniform start (max_error stays 0). CUDA
// clamped with fmin / fmax, which turn a NaN into 1e-7, and then coupled real numbers.
TEST_P(OpTest, SVMClassifier_NaNRowWithProbabilities) {
  const int64_t f = 3;
  SvmRef m;
  m.sv = rand_f32(8 * f, -1.5f, 1.5f);
  const std::vector<int64_t> per_class = {2, 3, 1, 2};
  Attrs a = m.attrs();
  a["vectors_per_class"] = a_ints(per_class);
  a["coefficients"] = a_floats(rand_f32(3 * 8, -1.5f, 1.5f));
  a["rho"] = a_floats(rand_f32(6, -0.5f, 0.5f));
  a["classlabels_ints"] = a_ints({5, 7, 9, 11});
  a["prob_a"] = a_floats(rand_f32(6, -3, -0.5f));
  a["prob_b"] = a_floats(rand_f32(6, -0.3f, 0.3f));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<Tensor> outs;
  const Status st =
      run_node(*backend_, "SVMClassifier", {make<float>({1, f}, {0.5f, nan, -0.25f})}, 2, &outs, a, 1, "ai.onnx.ml");
  ASSERT_TRUE(st.ok()) << st.message();
  expect_equal<int64_t>(outs[0], {1}, {11});
  expect_near(outs[1], DType::kFloat32, {1, 4}, {0.25, 0.25, 0.25, 0.25}, 0.0);
}

TEST_P(OpTest, SVMClassifier_LinearForm) {
  const int64_t rows = 30, f = 3;
  const auto x = rand_f32(rows * f, -2, 2);
  for (const int64_t k : {3, 2})
    for (const bool positive : {false, true}) {
      SCOPED_TRACE("classes " + std::to_string(k) + (positive ? ", weights >= 0" : ", mixed weights"));
      auto w = positive ? rand_f32(k * f, 0, 0.4f) : rand_f32(k * f, -1, 1);
      if (!positive) w[0] = -std::fabs(w[0]) - 0.01f;  // surely mixed: 6 draws in [-1, 1] are all >= 0 one time in 64
      const float rho = positive ? 0.05f : 0.2f;
      std::vector<int64_t> labels;
      for (int64_t c = 0; c < k; ++c) labels.push_back(c + 3);
      Attrs a;
      a["kernel_type"] = a_string("RBF");  // ignored without support vectors
      a["coefficients"] = a_floats(w);
      a["rho"] = a_floats({rho});
      a["classlabels_ints"] = a_ints(labels);
      std::vector<Tensor> outs;
      ASSERT_TRUE(run_node(*backend_, "SVMClassifier", {make<float>({rows, f}, x)}, 2, &outs, a, 1, "ai.onnx.ml").ok());
      std::vector<int64_t> want_labels;
      std::vector<double> ref;
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<double> s(k, rho);
        for (int64_t c = 0; c < k; ++c)
          for (int64_t i = 0; i < f; ++i) s[c] += double{x[r * f + i]} * w[c * f + i];
        const int64_t best = std::max_element(s.begin(), s.end()) - s.begin();
        int64_t label = labels[best];
        // Two classes (ONNX Runtime): the second label when every weight is >= 0 and the top score
        // reaches 0.5, or some weight is negative and the top score is > 0.
        if (k == 2 && ((positive && s[best] >= 0.5) || (!positive && s[best] > 0))) label = labels[1];
        want_labels.push_back(label);
        ref.insert(ref.end(), s.begin(), s.end());
      }
      expect_equal<int64_t>(outs[0], {rows}, want_labels);
      expect_near(outs[1], DType::kFloat32, {rows, k}, ref, kTolReduce);
    }
}

// The pairwise coupling's matrices are reserved only where the coupling runs: the SVC form with
// prob_a / prob_b, not the SVC form without them, nor the linear form (which ignores them).
TEST(SvmClassifierPlan, CouplesOnlyInTheSvcFormWithProbabilities) {
  const Tensor x = make<float>({2, 3}, {0.5f, -1, 2, 0, 0.25f, 1});
  Node n;
  n.name = "test_SVMClassifier";
  n.op_type = "SVMClassifier";
  n.domain = "ai.onnx.ml";
  n.opset = 1;
  SvmRef m;
  m.sv = std::vector<float>(5 * 3, 0.5f);
  n.attrs = m.attrs();
  n.attrs["vectors_per_class"] = a_ints({2, 3});
  n.attrs["coefficients"] = a_floats(std::vector<float>(5, 0.25f));
  n.attrs["rho"] = a_floats({0.1f});
  n.attrs["classlabels_ints"] = a_ints({0, 1});
  StatusOr<SvmClassifierPlan> p = svm_classifier_plan(n, {&x});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_FALSE(p->have_proba);
  EXPECT_FALSE(p->couple());
  n.attrs["prob_a"] = a_floats({-1.7f});
  n.attrs["prob_b"] = a_floats({0.05f});
  p = svm_classifier_plan(n, {&x});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_TRUE(p->couple());
  Node linear;
  linear.name = "test_SVMClassifier";
  linear.op_type = "SVMClassifier";
  linear.domain = "ai.onnx.ml";
  linear.opset = 1;
  linear.attrs["coefficients"] = a_floats(std::vector<float>(2 * 3, 0.25f));
  linear.attrs["rho"] = a_floats({0.1f});
  linear.attrs["classlabels_ints"] = a_ints({0, 1});
  linear.attrs["prob_a"] = a_floats({-1.7f});
  linear.attrs["prob_b"] = a_floats({0.05f});
  p = svm_classifier_plan(linear, {&x});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_TRUE(p->have_proba);
  EXPECT_FALSE(p->couple());
}

TEST_P(OpTest, SVM_Refusals_Error) {
  const Tensor x = make<float>({2, 3}, rand_f32(6));
  SvmRef m;
  m.sv = rand_f32(3 * 3);
  auto clf = [&]() {
    Attrs a = m.attrs();
    a["vectors_per_class"] = a_ints({1, 1, 1});
    a["coefficients"] = a_floats(rand_f32(6));
    a["rho"] = a_floats({0.f, 0.f, 0.f});
    a["classlabels_ints"] = a_ints({0, 1, 2});
    return a;
  };
  Attrs a = clf();
  a.erase("classlabels_ints");
  a["classlabels_strings"] = a_strings({"a", "b", "c"});
  expect_error(StatusCode::kUnimplemented, "string class labels are not supported (int64 labels only); train the model on integer-coded classes (scikit-learn: y = LabelEncoder().fit_transform(y)) so that its labels are int64", "SVMClassifier", {x}, a, 1, "ai.onnx.ml");
  a = clf();
  a["post_transform"] = a_string("PROBIT");
  expect_error(StatusCode::kUnimplemented, "post_transform 'PROBIT'", "SVMClassifier", {x}, a, 1, "ai.onnx.ml");
  a = clf();
  a["coefficients"] = a_floats(rand_f32(5));
  expect_error(StatusCode::kInvalidArgument, "5 coefficients for 2 rows x 3 support vectors", "SVMClassifier", {x}, a,
               1, "ai.onnx.ml");
  a = clf();
  a["rho"] = a_floats({0.f});
  expect_error(StatusCode::kInvalidArgument, "1 rho values for 3 class pairs", "SVMClassifier", {x}, a, 1, "ai.onnx.ml");
  a = clf();
  a["prob_a"] = a_floats({1.f, 1.f, 1.f});
  expect_error(StatusCode::kInvalidArgument, "3 prob_a and 0 prob_b values", "SVMClassifier", {x}, a, 1, "ai.onnx.ml");
  a = clf();
  a["support_vectors"] = a_floats(rand_f32(8));
  expect_error(StatusCode::kInvalidArgument, "8 support_vectors values do not fit 3 vectors", "SVMClassifier", {x}, a, 1,
               "ai.onnx.ml");
  a = clf();
  a["vectors_per_class"] = a_ints({1, 2});
  expect_error(StatusCode::kInvalidArgument, "2 vectors_per_class entries for 3 class labels", "SVMClassifier", {x}, a,
               1, "ai.onnx.ml");
  a = clf();
  a["kernel_type"] = a_string("CUBIC");
  expect_error(StatusCode::kInvalidArgument, "kernel_type 'CUBIC'", "SVMClassifier", {x}, a, 1, "ai.onnx.ml");
  a = clf();
  a["kernel_params"] = a_floats({0.5f});
  expect_error(StatusCode::kInvalidArgument, "kernel_params has 1 values", "SVMClassifier", {x}, a, 1, "ai.onnx.ml");
  a = clf();
  a["classlabels_ints"] = a_ints({4});
  expect_error(StatusCode::kInvalidArgument, "at least 2 classes", "SVMClassifier", {x}, a, 1, "ai.onnx.ml");

  Attrs r;
  r["coefficients"] = a_floats(rand_f32(2));
  r["rho"] = a_floats({0.f});
  expect_error(StatusCode::kInvalidArgument, "2 coefficients (the linear form, n_supports 0) for 3 features",
               "SVMRegressor", {x}, r, 1, "ai.onnx.ml");
  r["coefficients"] = a_floats(rand_f32(3));
  r["post_transform"] = a_string("LOGISTIC");
  expect_error(StatusCode::kUnimplemented, "post_transform 'LOGISTIC'", "SVMRegressor", {x}, r, 1, "ai.onnx.ml");
  r.erase("post_transform");
  r["n_supports"] = a_int(2);
  r["support_vectors"] = a_floats(rand_f32(6));
  r["coefficients"] = a_floats(rand_f32(3));
  expect_error(StatusCode::kInvalidArgument, "3 coefficients for n_supports 2", "SVMRegressor", {x}, r, 1, "ai.onnx.ml");
}

// The tree ops keep their checked arrays in the node's cache: built once, kept by a moved node,
// not shared with a copy (whose attributes a pass may edit).
TEST(NodeCache, BuiltOnceMovedKeptCopiedEmpty) {
  Node n;
  int builds = 0;
  auto make = [&]() -> StatusOr<std::shared_ptr<const int>> {
    ++builds;
    return std::make_shared<const int>(builds);
  };
  auto got = [&](const Node& node) {
    StatusOr<std::shared_ptr<const int>> r = node.cache.get_or_make<int>(make);
    return r.ok() ? *r.value() : -1;
  };
  ASSERT_EQ(got(n), 1);
  ASSERT_EQ(got(n), 1);
  Node copy = n;
  EXPECT_EQ(got(copy), 2);
  Node moved = std::move(n);
  EXPECT_EQ(got(moved), 1);
  auto fails = []() -> StatusOr<std::shared_ptr<const int>> { return invalid_argument("no"); };
  Node other;
  EXPECT_FALSE(other.cache.get_or_make<int>(fails).ok());  // a failure is not kept
  EXPECT_EQ(got(other), 3);
}

}  // namespace
}  // namespace shardscore
