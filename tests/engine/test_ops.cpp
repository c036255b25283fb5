// Op tests: every op of src/engine/op_registry.cpp, on every backend this build has, against a
// float64 reference written out in the test.
//
// How to add an op test
// ---------------------
//   * Write TEST_P(OpTest, <Op>_<Variant>) (e.g. Gemm_TransB_BiasRow). Each TEST_P runs once per
//     backend listed in backend_names(); a new backend (CUDA) is one more name there and one more
//     case in make_backend(), and every test here then runs on it too.
//   * Inputs: fresh random values from rng_ (rand_f32 / rand_f64 / rand_i64). The seed is chosen
//     per test, shown on any failure, and fixed with SHARDSCORE_TEST_SEED=<seed> to reproduce one.
//   * Run: run_op("Op", {inputs...}, &out, {attributes}) builds a one-node Graph, plan_build()s it
//     and calls Backend::run, exactly as the engine runs a model. An empty Tensor() input is an
//     omitted optional input ("" in the node).
//   * Expect: compute the result in double with plain loops over indices (never by calling the
//     code under test) and check with expect_near(out, dtype, shape, ref, tol): it asserts the
//     dtype and shape, that the output is not all zeros when the reference is not, then
//     |got - ref| <= tol * max(1, |ref|) everywhere. Tolerances: kExact for copies, integers and
//     casts, kTolElementwise (1e-6) for elementwise float32, kTolReduce (1e-5) for Gemm, MatMul
//     and Softmax.
//   * Errors: check the Status code and that the message names the node (expect_error).
//   * Registry_EveryOpHasATest fails until the new op has a test named "<Op>_...".
#include "engine/op_test.h"

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/float16.h"

namespace shardscore {
namespace {
using namespace shardscore::op_test;

INSTANTIATE_TEST_SUITE_P(Backends, OpTest, ::testing::ValuesIn(backend_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

const auto kAdd = [](double x, double y) { return x + y; };
const auto kSub = [](double x, double y) { return x - y; };
const auto kMul = [](double x, double y) { return x * y; };
const auto kDiv = [](double x, double y) { return x / y; };

// ---------------------------------------------------------------------------------------------
// Every op in the registry has a test here.

TEST(OpRegistry, Registry_EveryOpHasATest) {
  std::set<std::string> tested;
  const auto* unit = ::testing::UnitTest::GetInstance();
  for (int s = 0; s < unit->total_test_suite_count(); ++s) {
    const auto* suite = unit->GetTestSuite(s);
    if (std::string(suite->name()).rfind("Backends/", 0) != 0) continue;
    for (int t = 0; t < suite->total_test_count(); ++t) {
      std::string name = suite->GetTestInfo(t)->name();
      tested.insert(name.substr(0, name.find('_')));
    }
  }
  for (const auto& e : op_registry_all()) {
    EXPECT_TRUE(tested.count(std::string(e.op_type)))
        << "op " << e.op_type << " has no OpTest." << e.op_type << "_* test";
  }
}

// What the steps of a batch share: whether a NaN or an infinity came in.
TEST(OpRegistry, BatchState_SeesNonFiniteGraphInputsAndNotedValues) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  auto f32 = [](std::vector<float> v) { return Tensor::copy_of(DType::kFloat32, {static_cast<int64_t>(v.size())}, v.data()); };
  const int64_t ids[2] = {1, 2};
  const Tensor i64 = Tensor::copy_of(DType::kInt64, {2}, ids);
  // 17 values: the last one past any vector width.
  std::vector<float> tail(17, 1.5f);
  tail[16] = -inf;
  EXPECT_FALSE(BatchState({f32({1, -2, 0, -0.0f, 3e38f, 1e-45f}), i64}).nonfinite_seen());
  EXPECT_TRUE(BatchState({i64, f32({1, nan})}).nonfinite_seen());
  EXPECT_TRUE(BatchState({f32(tail)}).nonfinite_seen());
  EXPECT_TRUE(BatchState({f32({inf})}).nonfinite_seen());
  BatchState later({f32({1, 2})});
  EXPECT_FALSE(later.nonfinite_seen());
  later.note_values(i64);
  EXPECT_FALSE(later.nonfinite_seen()) << "integers are always finite";
  later.note_values(f32({0, nan, 0}));
  EXPECT_TRUE(later.nonfinite_seen());
  later.note_values(f32({0}));
  EXPECT_TRUE(later.nonfinite_seen()) << "once seen, it stays seen for the batch";
}

// ---------------------------------------------------------------------------------------------
// Add / Sub / Mul / Div

// The CPU function itself, given the backend's permission to overwrite a dying input: it writes
// its output over that input only when allowed and when the input has the output's shape.
TEST(OpRegistry, Add_WritesOverADyingInputOnlyWhereAllowed) {
  const float av[6] = {1, 2, 3, 4, 5, 6}, bv[3] = {0.5f, -1, 2};
  const Node node{.name = "add", .op_type = "Add"};
  for (const uint64_t reusable : {0b00u, 0b01u, 0b10u, 0b11u}) {
    SCOPED_TRACE("reusable " + std::to_string(reusable));
    Tensor a = Tensor::copy_of(DType::kFloat32, {2, 3}, av), b = Tensor::copy_of(DType::kFloat32, {3}, bv);
    const void* a_buffer = a.raw();
    OpContext ctx{node, {&a, &b}, std::vector<Tensor>(1)};
    ctx.reusable = reusable;
    ASSERT_TRUE(cpu_add(ctx).ok());
    const Tensor& y = ctx.outputs[0];
    ASSERT_EQ(y.shape(), (Shape{2, 3}));
    for (int i = 0; i < 6; ++i) EXPECT_EQ(y.data<float>()[i], av[i] + bv[i % 3]) << i;
    // b broadcasts (shape [3]): never written over; a only with its bit set.
    EXPECT_EQ(y.raw() == a_buffer, (reusable & 1) != 0);
  }
}

TEST_P(OpTest, Add_SameShape) { check_binary_f32("Add", {7, 9}, {7, 9}, {7, 9}, kAdd); }
TEST_P(OpTest, Add_BiasRow) { check_binary_f32("Add", {13, 5}, {5}, {13, 5}, kAdd); }
TEST_P(OpTest, Add_ColumnPlusRow) { check_binary_f32("Add", {6, 1}, {1, 4}, {6, 4}, kAdd); }
TEST_P(OpTest, Add_ScalarRight) {
  check_binary_f32("Add", {4, 5}, {}, {4, 5}, kAdd);
  check_binary_f32("Add", {4, 5}, {1}, {4, 5}, kAdd);
}
TEST_P(OpTest, Add_ScalarLeft) {
  check_binary_f32("Add", {}, {4, 5}, {4, 5}, kAdd);
  check_binary_f32("Add", {1, 1}, {4, 5}, {4, 5}, kAdd);
}
TEST_P(OpTest, Add_3D_With3x1) {
  check_binary_f32("Add", {2, 3, 4}, {3, 1}, {2, 3, 4}, kAdd);
  check_binary_f32("Add", {3, 1}, {2, 3, 4}, {2, 3, 4}, kAdd);
}
TEST_P(OpTest, Add_BothSidesBroadcast) { check_binary_f32("Add", {2, 1, 4}, {3, 1}, {2, 3, 4}, kAdd); }
TEST_P(OpTest, Add_IncompatibleShapes_Error) {
  expect_error(StatusCode::kInvalidArgument, "cannot be broadcast", "Add",
               {make<float>({2, 3}, rand_f32(6)), make<float>({4}, rand_f32(4))});
  expect_error(StatusCode::kInvalidArgument, "cannot be broadcast", "Add",
               {make<float>({2, 3, 4}, rand_f32(24)), make<float>({2, 4}, rand_f32(8))});
}
TEST_P(OpTest, Add_MixedTypes_Error) {
  expect_error(StatusCode::kInvalidArgument, "differ", "Add",
               {make<float>({3}, rand_f32(3)), make<double>({3}, rand_f64(3))});
}
TEST_P(OpTest, Add_Int64) {
  // Beyond 2^53: an implementation going through double would lose the low bits.
  const int64_t big = int64_t{1} << 61;
  auto a = rand_int<int64_t>(12, -big, big);
  auto b = rand_int<int64_t>(4, -big, big);
  Tensor out = run1("Add", {make<int64_t>({3, 4}, a), make<int64_t>({4}, b)});
  std::vector<int64_t> ref(12);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) ref[i * 4 + j] = a[i * 4 + j] + b[j];
  expect_equal<int64_t>(out, {3, 4}, ref);
}

TEST_P(OpTest, Sub_SameShape) { check_binary_f32("Sub", {5, 8}, {5, 8}, {5, 8}, kSub); }
TEST_P(OpTest, Sub_BiasRow) { check_binary_f32("Sub", {9, 6}, {6}, {9, 6}, kSub); }
TEST_P(OpTest, Sub_ScalarLeft) { check_binary_f32("Sub", {1}, {3, 7}, {3, 7}, kSub); }
TEST_P(OpTest, Sub_ScalarRight) { check_binary_f32("Sub", {3, 7}, {}, {3, 7}, kSub); }
TEST_P(OpTest, Sub_3D_With3x1) {
  check_binary_f32("Sub", {2, 3, 4}, {3, 1}, {2, 3, 4}, kSub);
  check_binary_f32("Sub", {3, 1}, {2, 3, 4}, {2, 3, 4}, kSub);
}

TEST_P(OpTest, Mul_SameShape) { check_binary_f32("Mul", {4, 11}, {4, 11}, {4, 11}, kMul); }
TEST_P(OpTest, Mul_ColumnTimesRow) { check_binary_f32("Mul", {6, 1}, {1, 5}, {6, 5}, kMul); }
TEST_P(OpTest, Mul_BiasRow) { check_binary_f32("Mul", {5, 3}, {3}, {5, 3}, kMul); }
TEST_P(OpTest, Mul_ScalarLeft) { check_binary_f32("Mul", {}, {2, 9}, {2, 9}, kMul); }
TEST_P(OpTest, Mul_ScalarRight) { check_binary_f32("Mul", {2, 9}, {1}, {2, 9}, kMul); }
TEST_P(OpTest, Mul_3D_With3x1) { check_binary_f32("Mul", {2, 3, 4}, {3, 1}, {2, 3, 4}, kMul); }

TEST_P(OpTest, Div_SameShape) { check_binary_f32("Div", {6, 7}, {6, 7}, {6, 7}, kDiv); }
TEST_P(OpTest, Div_BiasRow) { check_binary_f32("Div", {8, 3}, {3}, {8, 3}, kDiv); }
TEST_P(OpTest, Div_ColumnByRow) { check_binary_f32("Div", {4, 1}, {1, 6}, {4, 6}, kDiv); }
TEST_P(OpTest, Div_ScalarLeft) {
  check_binary_f32("Div", {}, {3, 5}, {3, 5}, kDiv);
  check_binary_f32("Div", {1}, {3, 5}, {3, 5}, kDiv);
}
TEST_P(OpTest, Div_ScalarRight) { check_binary_f32("Div", {3, 5}, {}, {3, 5}, kDiv); }
TEST_P(OpTest, Div_3D_With3x1) { check_binary_f32("Div", {2, 3, 4}, {3, 1}, {2, 3, 4}, kDiv); }
TEST_P(OpTest, Div_Int32_TruncatesTowardZero) {
  auto a = rand_int<int32_t>(20, -1000, 1000);
  auto b = rand_int<int32_t>(20, 1, 50);
  std::bernoulli_distribution neg(0.5);
  for (auto& x : b)
    if (neg(rng_)) x = -x;
  a[0] = -7, b[0] = 2;  // -3.5 -> -3
  a[1] = 7, b[1] = -2;  //  -3.5 -> -3
  Tensor out = run1("Div", {make<int32_t>({4, 5}, a), make<int32_t>({4, 5}, b)});
  std::vector<int32_t> ref(20);
  for (std::size_t i = 0; i < 20; ++i)
    ref[i] = static_cast<int32_t>(std::trunc(static_cast<double>(a[i]) / static_cast<double>(b[i])));
  expect_equal<int32_t>(out, {4, 5}, ref);
}
TEST_P(OpTest, Div_Int32_ByZero_Error) {
  auto a = rand_int<int32_t>(6, 1, 100);
  std::vector<int32_t> b = {3, 1, 0, 2, 5, 7};
  // On a device the kernel records the zero divisor and the batch fails as on the CPU.
  expect_error(StatusCode::kInvalidArgument, "division by zero", "Div",
               {make<int32_t>({2, 3}, a), make<int32_t>({2, 3}, b)});
  expect_error(StatusCode::kInvalidArgument, "division by zero", "Div",
               {make<int32_t>({2, 3}, a), make<int32_t>({}, std::vector<int32_t>{0})});
}

TEST_P(OpTest, Div_Int32_EmptyOutputDividesNothing) {
  // A 0 in a divisor broadcast over an empty output is divided by nothing: no error on any backend.
  Tensor out = run1("Div", {make<int32_t>({0, 3}, std::vector<int32_t>{}), make<int32_t>({3}, std::vector<int32_t>{4, 0, 2})});
  expect_equal<int32_t>(out, {0, 3}, {});
  out = run1("Div", {make<int64_t>({3, 0}, std::vector<int64_t>{}), make<int64_t>({3, 1}, std::vector<int64_t>{0, 1, 0})});
  expect_equal<int64_t>(out, {3, 0}, {});
}

TEST_P(OpTest, Div_Int32_MinByMinusOne_Wraps) {
  // INT32_MIN / -1 overflows; it must not kill the process (SIGFPE) — it wraps as numpy does.
  const int32_t lo = std::numeric_limits<int32_t>::min();
  Tensor out = run1("Div", {make<int32_t>({3}, std::vector<int32_t>{lo, 9, -9}), make<int32_t>({}, std::vector<int32_t>{-1})});
  expect_equal<int32_t>(out, {3}, {lo, -9, 9});
}

// ---------------------------------------------------------------------------------------------
// Relu / Sigmoid / Tanh

TEST_P(OpTest, Relu_Float32) {
  auto x = rand_f32(60, -5, 5);
  x[0] = 0.0f, x[1] = -0.0f;
  Tensor out = run1("Relu", {make<float>({6, 10}, x)});
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = x[i] > 0 ? double{x[i]} : 0.0;
  expect_near(out, DType::kFloat32, {6, 10}, ref, kExact);
}
TEST_P(OpTest, Relu_NaNPropagates) {
  // A missing value must stay visible downstream (ONNX Runtime gives NaN too), never become 0.
  Tensor out = run1("Relu", {make<float>({4}, std::vector<float>{NAN, -1.0f, 2.0f, -INFINITY})});
  ASSERT_EQ(out.numel(), 4);
  EXPECT_TRUE(std::isnan(out.data<float>()[0]));
  EXPECT_EQ(out.data<float>()[1], 0.0f);
  EXPECT_EQ(out.data<float>()[2], 2.0f);
  EXPECT_EQ(out.data<float>()[3], 0.0f);
}
TEST_P(OpTest, Relu_Float64) {
  auto x = rand_f64(24, -5, 5);
  Tensor out = run1("Relu", {make<double>({2, 3, 4}, x)});
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = x[i] > 0 ? x[i] : 0.0;
  expect_near(out, DType::kFloat64, {2, 3, 4}, ref, kExact);
}
TEST_P(OpTest, Sigmoid_Float32_LargeMagnitude) {
  auto x = rand_f32(200, -100, 100);
  const float edges[] = {-100.0f, 100.0f, -88.8f, 88.8f, -20.0f, 20.0f, 0.0f, -1e-8f};
  std::copy(std::begin(edges), std::end(edges), x.begin());
  Tensor out = run1("Sigmoid", {make<float>({20, 10}, x)});
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = 1.0 / (1.0 + std::exp(-double{x[i]}));
  expect_near(out, DType::kFloat32, {20, 10}, ref, kTolElementwise);
  for (double v : to_doubles(out)) ASSERT_TRUE(std::isfinite(v)) << "Sigmoid produced " << v;
}
TEST_P(OpTest, Sigmoid_Float64) {
  auto x = rand_f64(30, -40, 40);
  Tensor out = run1("Sigmoid", {make<double>({30}, x)});
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = 1.0 / (1.0 + std::exp(-x[i]));
  expect_near(out, DType::kFloat64, {30}, ref, 1e-12);
}
TEST_P(OpTest, Tanh_Float32) {
  auto x = rand_f32(50, -6, 6);
  x[0] = -100.0f, x[1] = 100.0f;
  Tensor out = run1("Tanh", {make<float>({5, 10}, x)});
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = std::tanh(double{x[i]});
  expect_near(out, DType::kFloat32, {5, 10}, ref, kTolElementwise);
}
// Sigmoid and Tanh in float32 go through vector functions (libmvec on the CPU): the special values
// come out right, and an element's bits do not depend on where in the array it sits (a whole vector,
// the tail, or alone).
TEST_P(OpTest, SigmoidTanh_Float32_SpecialsAndPositionIndependence) {
  auto x = rand_f32(37, -30, 30);
  const float specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-30f, -1e-30f, 88.7f, -88.7f, -104.0f};
  std::copy(std::begin(specials), std::end(specials), x.begin());
  x[36] = -3.25f;  // in the tail of every vector width
  for (const char* op : {"Sigmoid", "Tanh"}) {
    SCOPED_TRACE(op);
    const bool sig = std::string(op) == "Sigmoid";
    Tensor all = run1(op, {make<float>({37}, x)});
    ASSERT_EQ(all.numel(), 37);
    const float* y = all.data<float>();
    EXPECT_TRUE(std::isnan(y[0]));
    EXPECT_EQ(y[1], 1.0f);
    EXPECT_EQ(y[2], sig ? 0.0f : -1.0f);
    EXPECT_EQ(y[3], sig ? 0.5f : 0.0f);
    EXPECT_EQ(y[4], sig ? 0.5f : 0.0f);
    if (!sig) EXPECT_TRUE(std::signbit(y[4])) << "tanh(-0) is -0";
    std::vector<double> ref;
    for (std::size_t i = 5; i < x.size(); ++i) ref.push_back(sig ? 1.0 / (1.0 + std::exp(-double{x[i]})) : std::tanh(double{x[i]}));
    Tensor rest = make<float>({32}, std::vector<float>(y + 5, y + 37));
    expect_near(rest, DType::kFloat32, {32}, ref, kTolElementwise);
    for (const int64_t i : {int64_t{5}, int64_t{20}, int64_t{36}}) {
      Tensor one = run1(op, {make<float>({1}, std::vector<float>{x[static_cast<std::size_t>(i)]})});
      EXPECT_EQ(std::memcmp(one.data<float>(), y + i, sizeof(float)), 0) << "element " << i << " alone differs";
    }
  }
}
TEST_P(OpTest, Tanh_Float64) {
  auto x = rand_f64(16, -4, 4);
  Tensor out = run1("Tanh", {make<double>({4, 4}, x)});
  std::vector<double> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = std::tanh(x[i]);
  expect_near(out, DType::kFloat64, {4, 4}, ref, 1e-12);
}

// ---------------------------------------------------------------------------------------------
// Softmax

// Reference softmax over groups: element (o, d, i) of the view [outer, dim, inner], normalized
// over d. Opset < 13 is this view with inner = 1 and dim = the product of dims from axis on.
std::vector<double> ref_softmax(const std::vector<float>& x, int64_t outer, int64_t dim, int64_t inner) {
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t d) { return static_cast<std::size_t>((o * dim + d) * inner + i); };
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t d = 0; d < dim; ++d) mx = std::max(mx, double{x[at(d)]});
      double sum = 0;
      for (int64_t d = 0; d < dim; ++d) sum += std::exp(double{x[at(d)]} - mx);
      for (int64_t d = 0; d < dim; ++d) y[at(d)] = std::exp(double{x[at(d)]} - mx) / sum;
    }
  return y;
}

// Each group of the output sums to 1.
void expect_groups_sum_to_one(const Tensor& out, int64_t outer, int64_t dim, int64_t inner) {
  ASSERT_EQ(out.numel(), outer * dim * inner);
  const float* p = out.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double sum = 0;
      for (int64_t d = 0; d < dim; ++d) sum += p[(o * dim + d) * inner + i];
      EXPECT_NEAR(sum, 1.0, 1e-5) << "group outer=" << o << " inner=" << i;
    }
}

TEST_P(OpTest, Softmax_Opset11_Axis1_3D_Flattens) {
  // Opset < 13: [2,3,4] at axis 1 is 2 rows of 12, each normalized as a whole.
  auto x = rand_f32(24, -5, 5);
  Tensor out = run1("Softmax", {make<float>({2, 3, 4}, x)}, {{"axis", a_int(1)}}, 11);
  expect_near(out, DType::kFloat32, {2, 3, 4}, ref_softmax(x, 2, 12, 1), kTolReduce);
  expect_groups_sum_to_one(out, 2, 12, 1);
}
TEST_P(OpTest, Softmax_Opset11_DefaultAxis_3D) {
  auto x = rand_f32(30, -5, 5);
  Tensor out = run1("Softmax", {make<float>({3, 2, 5}, x)}, {}, 11);
  expect_near(out, DType::kFloat32, {3, 2, 5}, ref_softmax(x, 3, 10, 1), kTolReduce);
}
TEST_P(OpTest, Softmax_Opset13_DefaultAxisLast_3D) {
  auto x = rand_f32(24, -5, 5);
  Tensor out = run1("Softmax", {make<float>({2, 3, 4}, x)}, {}, 13);
  expect_near(out, DType::kFloat32, {2, 3, 4}, ref_softmax(x, 6, 4, 1), kTolReduce);
  expect_groups_sum_to_one(out, 6, 4, 1);
}
TEST_P(OpTest, Softmax_Opset13_AxisMinus1_3D) {
  auto x = rand_f32(24, -5, 5);
  Tensor out = run1("Softmax", {make<float>({2, 3, 4}, x)}, {{"axis", a_int(-1)}}, 13);
  expect_near(out, DType::kFloat32, {2, 3, 4}, ref_softmax(x, 6, 4, 1), kTolReduce);
}
TEST_P(OpTest, Softmax_LastAxisRowsOfEveryLength_LargestAnywhere) {
  // Rows shorter and longer than a vector, with one value of 95 placed at every position in turn
  // (a maximum missed would leave exp(90) to overflow), and one row holding a NaN: all NaN out.
  for (const int64_t dim : {1, 15, 16, 17, 37, 128}) {
    SCOPED_TRACE("rows of " + std::to_string(dim));
    const int64_t rows = dim + 1;
    auto x = rand_f32(rows * dim, -5, 5);
    for (int64_t r = 0; r < dim; ++r) x[static_cast<std::size_t>(r * dim + r)] = 95.0f;
    x[static_cast<std::size_t>(dim * dim + dim / 2)] = std::numeric_limits<float>::quiet_NaN();  // the last row
    Tensor out = run1("Softmax", {make<float>({rows, dim}, x)}, {}, 13);
    ASSERT_EQ(out.shape(), (Shape{rows, dim}));
    std::vector<float> finite(x.begin(), x.begin() + dim * dim);
    Tensor head = Tensor::copy_of(DType::kFloat32, {dim, dim}, out.raw());
    expect_near(head, DType::kFloat32, {dim, dim}, ref_softmax(finite, dim, dim, 1), kTolReduce);
    for (int64_t d = 0; d < dim; ++d) EXPECT_TRUE(std::isnan(out.data<float>()[dim * dim + d])) << "the NaN row at " << d;
  }
}
TEST_P(OpTest, Softmax_Opset13_Axis1_3D) {
  // Opset >= 13: only dimension 1 is normalized: groups of 3 with stride 4.
  auto x = rand_f32(24, -5, 5);
  Tensor out = run1("Softmax", {make<float>({2, 3, 4}, x)}, {{"axis", a_int(1)}}, 13);
  expect_near(out, DType::kFloat32, {2, 3, 4}, ref_softmax(x, 2, 3, 4), kTolReduce);
  expect_groups_sum_to_one(out, 2, 3, 4);
}
TEST_P(OpTest, Softmax_Opset13_Axis0_3D) {
  auto x = rand_f32(24, -5, 5);
  Tensor out = run1("Softmax", {make<float>({2, 3, 4}, x)}, {{"axis", a_int(0)}}, 13);
  expect_near(out, DType::kFloat32, {2, 3, 4}, ref_softmax(x, 1, 2, 12), kTolReduce);
  expect_groups_sum_to_one(out, 1, 2, 12);
}
TEST_P(OpTest, Softmax_LargeInputs_NoOverflow) {
  auto x = rand_f32(40, 900, 1000);
  x[5] = -1000.0f;
  Tensor out = run1("Softmax", {make<float>({4, 10}, x)}, {}, 17);
  expect_near(out, DType::kFloat32, {4, 10}, ref_softmax(x, 4, 10, 1), kTolReduce);
  expect_groups_sum_to_one(out, 4, 10, 1);
}
// Rows longer than 1024: the CUDA backend's block-per-row kernel (a warp per row up to 1024, one
// thread per row below 32), with the largest value late in a row.
TEST_P(OpTest, Softmax_LongRows_BlockPerRow) {
  const int64_t rows = 3, dim = 1500;
  auto x = rand_f32(rows * dim, -5, 5);
  x[static_cast<std::size_t>(dim + 1400)] = 40.0f;
  Tensor out = run1("Softmax", {make<float>({rows, dim}, x)}, {}, 13);
  expect_near(out, DType::kFloat32, {rows, dim}, ref_softmax(x, rows, dim, 1), kTolReduce);
  expect_groups_sum_to_one(out, rows, dim, 1);
}
TEST_P(OpTest, Softmax_BadAxis_Error) {
  expect_error(StatusCode::kInvalidArgument, "out of range", "Softmax", {make<float>({2, 3}, rand_f32(6))},
               {{"axis", a_int(2)}}, 13);
}

// ---------------------------------------------------------------------------------------------
// LogSoftmax

// log of ref_softmax, computed as (x - max) - log(sum exp(x - max)) in double.
std::vector<double> ref_log_softmax(const std::vector<float>& x, int64_t outer, int64_t dim, int64_t inner) {
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t d) { return static_cast<std::size_t>((o * dim + d) * inner + i); };
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t d = 0; d < dim; ++d) mx = std::max(mx, double{x[at(d)]});
      double sum = 0;
      for (int64_t d = 0; d < dim; ++d) sum += std::exp(double{x[at(d)]} - mx);
      for (int64_t d = 0; d < dim; ++d) y[at(d)] = double{x[at(d)]} - mx - std::log(sum);
    }
  return y;
}

TEST_P(OpTest, LogSoftmax_Opset11_Flattens_DefaultAxis1) {
  // Opset < 13: [2,3,4] at axis 1 (the default) is 2 rows of 12.
  auto x = rand_f32(24, -5, 5);
  expect_near(run1("LogSoftmax", {make<float>({2, 3, 4}, x)}, {}, 11), DType::kFloat32, {2, 3, 4},
              ref_log_softmax(x, 2, 12, 1), kTolReduce);
  expect_near(run1("LogSoftmax", {make<float>({2, 3, 4}, x)}, {{"axis", a_int(2)}}, 1), DType::kFloat32, {2, 3, 4},
              ref_log_softmax(x, 6, 4, 1), kTolReduce);
  expect_near(run1("LogSoftmax", {make<float>({2, 3, 4}, x)}, {{"axis", a_int(0)}}, 11), DType::kFloat32, {2, 3, 4},
              ref_log_softmax(x, 1, 24, 1), kTolReduce);
}
TEST_P(OpTest, LogSoftmax_Opset13_OneAxis_DefaultLast) {
  auto x = rand_f32(24, -5, 5);
  expect_near(run1("LogSoftmax", {make<float>({2, 3, 4}, x)}, {}, 13), DType::kFloat32, {2, 3, 4},
              ref_log_softmax(x, 6, 4, 1), kTolReduce);
  expect_near(run1("LogSoftmax", {make<float>({2, 3, 4}, x)}, {{"axis", a_int(1)}}, 13), DType::kFloat32, {2, 3, 4},
              ref_log_softmax(x, 2, 3, 4), kTolReduce);
  expect_near(run1("LogSoftmax", {make<float>({2, 3, 4}, x)}, {{"axis", a_int(-3)}}, 13), DType::kFloat32, {2, 3, 4},
              ref_log_softmax(x, 1, 2, 12), kTolReduce);
}
TEST_P(OpTest, LogSoftmax_LongRows_LargeInputs_NoOverflow_Float64) {
  // Rows for the CUDA backend's warp (>= 32) and block (> 1024) kernels; values near 1000, where
  // exp overflows without the max subtracted, and one far below, whose log-probability is finite.
  for (const int64_t dim : {5, 40, 1500}) {
    SCOPED_TRACE("rows of " + std::to_string(dim));
    auto x = rand_f32(3 * dim, 900, 1000);
    x[1] = -1000.0f;
    Tensor out = run1("LogSoftmax", {make<float>({3, dim}, x)}, {}, 13);
    expect_near(out, DType::kFloat32, {3, dim}, ref_log_softmax(x, 3, dim, 1), kTolReduce);
  }
  auto d = rand_f64(12, -3, 3);
  std::vector<float> df(d.begin(), d.end());
  Tensor out = run1("LogSoftmax", {make<double>({3, 4}, d)}, {}, 13);
  // The reference from float32 copies: tolerance for that rounding.
  expect_near(out, DType::kFloat64, {3, 4}, ref_log_softmax(df, 3, 4, 1), 1e-6);
}
TEST_P(OpTest, LogSoftmax_BadAxis_Error) {
  expect_error(StatusCode::kInvalidArgument, "out of range", "LogSoftmax", {make<float>({2, 3}, rand_f32(6))},
               {{"axis", a_int(-3)}}, 13);
}

// ---------------------------------------------------------------------------------------------
// Gemm

// Y[i,j] = alpha * sum_k A'[i,k] B'[k,j] + beta * C[i,j] (C broadcast), in double.
std::vector<double> ref_gemm(const GemmCase& g, const std::vector<float>& a, const std::vector<float>& b,
                             const std::vector<float>& c) {
  std::vector<double> y(static_cast<std::size_t>(g.m * g.n));
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < g.k; ++p) {
        const double av = g.trans_a ? a[p * g.m + i] : a[i * g.k + p];
        const double bv = g.trans_b ? b[j * g.k + p] : b[p * g.n + j];
        s += av * bv;
      }
      double cv = 0;
      if (g.c_shape) {
        const Shape& cs = *g.c_shape;
        const int64_t cm = cs.size() == 2 ? cs[0] : 1;
        const int64_t cn = cs.empty() ? 1 : cs.back();
        cv = c[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
      }
      y[i * g.n + j] = double{g.alpha} * s + double{g.beta} * cv;
    }
  return y;
}

}  // namespace
}  // namespace shardscore

namespace shardscore::op_test {
void OpTest::check_gemm(const GemmCase& g) {
  std::ostringstream what;
  what << "Gemm M=" << g.m << " N=" << g.n << " K=" << g.k << " transA=" << g.trans_a << " transB=" << g.trans_b
       << " alpha=" << g.alpha << " beta=" << g.beta << " C=" << (g.c_shape ? shape_to_string(*g.c_shape) : "absent");
  SCOPED_TRACE(what.str());
  const Shape sa = g.trans_a ? Shape{g.k, g.m} : Shape{g.m, g.k};
  const Shape sb = g.trans_b ? Shape{g.n, g.k} : Shape{g.k, g.n};
  auto a = rand_f32(g.m * g.k);
  auto b = rand_f32(g.k * g.n);
  std::vector<float> c;
  std::vector<Tensor> inputs = {make(sa, a), make(sb, b)};
  if (g.c_shape) {
    c = rand_f32(numel_of(*g.c_shape), -2, 2);
    inputs.push_back(make(*g.c_shape, c));
  }
  Attrs attrs = {{"transA", a_int(g.trans_a)}, {"transB", a_int(g.trans_b)}};
  if (g.alpha != 1) attrs["alpha"] = a_float(g.alpha);
  if (g.beta != 1) attrs["beta"] = a_float(g.beta);
  Tensor out = run1("Gemm", inputs, attrs);
  expect_near(out, DType::kFloat32, {g.m, g.n}, ref_gemm(g, a, b, c), kTolReduce);
}
}  // namespace shardscore::op_test

namespace shardscore {
namespace {

// shardscore.FusedGemm (made by the fusion pass): act(A[..., K] * B[K, N] + C), rows of A folded.
TEST_P(OpTest, FusedGemm_3DInput_BiasAndEachActivation) {
  const int64_t b0 = 3, b1 = 5, k = 7, n = 4;
  for (const std::string act : {"", "Relu", "Sigmoid", "Tanh"}) {
    SCOPED_TRACE("activation '" + act + "'");
    const auto a = rand_f32(b0 * b1 * k, -2, 2), w = rand_f32(k * n, -2, 2), c = rand_f32(n, -2, 2);
    Attrs attrs;
    if (!act.empty()) {
      Attribute at;
      at.type = Attribute::Type::kString;
      at.s = act;
      attrs["activation"] = at;
    }
    Tensor out = run1("FusedGemm", {make<float>({b0, b1, k}, a), make<float>({k, n}, w), make<float>({n}, c)}, attrs, 1,
                      "shardscore");
    std::vector<double> ref(static_cast<std::size_t>(b0 * b1 * n));
    for (int64_t r = 0; r < b0 * b1; ++r)
      for (int64_t j = 0; j < n; ++j) {
        double v = c[j];
        for (int64_t q = 0; q < k; ++q) v += double{a[r * k + q]} * double{w[q * n + j]};
        if (act == "Relu") v = std::max(v, 0.0);
        if (act == "Sigmoid") v = 1.0 / (1.0 + std::exp(-v));
        if (act == "Tanh") v = std::tanh(v);
        ref[r * n + j] = v;
      }
    expect_near(out, DType::kFloat32, {b0, b1, n}, ref, kTolReduce);
  }
}
// A 1-D A is MatMul's row vector (the pass fuses MatMul + Add without knowing A's rank): Y is
// MatMul's [N] broadcast with the bias as Add does, [N] for a bias [N] and [1, N] for [1, N].
TEST_P(OpTest, FusedGemm_VectorInput_ShapedAsMatMulThenAdd) {
  const int64_t k = 6, n = 3;
  const auto a = rand_f32(k, -2, 2), w = rand_f32(k * n, -2, 2), c = rand_f32(n, -2, 2);
  std::vector<double> ref(static_cast<std::size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    double v = c[j];
    for (int64_t q = 0; q < k; ++q) v += double{a[q]} * double{w[q * n + j]};
    ref[j] = v;
  }
  for (const Shape& cs : {Shape{n}, Shape{1, n}}) {
    SCOPED_TRACE("bias " + shape_to_string(cs));
    Tensor out = run1("FusedGemm", {make<float>({k}, a), make<float>({k, n}, w), make<float>(cs, c)}, {}, 1, "shardscore");
    expect_near(out, DType::kFloat32, cs, ref, kTolReduce);
  }
}

// shardscore.Attention (made by pass_fuse_attention): per (batch, head), Softmax(Q K^T / scale (or *
// scale) + mask) V, Q, K, V and Y in [batch, sequence, heads, head size].
struct AttentionCase {
  int64_t b, sq, sk, h, d, dv;
  float scale = 2;
  bool divide = true;
  std::optional<Shape> mask;  // broadcasting to [b, h, sq, sk]
  bool kv_one_batch = false, kv_one_head = false;  // K and V shared across the batch / the heads
  int64_t kb() const { return kv_one_batch ? 1 : b; }
  int64_t kh() const { return kv_one_head ? 1 : h; }
};
std::vector<double> ref_attention(const AttentionCase& c, const std::vector<float>& q, const std::vector<float>& k,
                                  const std::vector<float>& v, const std::vector<float>& mask) {
  std::vector<double> out(static_cast<std::size_t>(c.b * c.sq * c.h * c.dv), 0.0);
  std::vector<double> s(static_cast<std::size_t>(c.sk));
  for (int64_t b = 0; b < c.b; ++b)
    for (int64_t h = 0; h < c.h; ++h)
      for (int64_t i = 0; i < c.sq; ++i) {
        double mx = -std::numeric_limits<double>::infinity(), sum = 0;
        for (int64_t j = 0; j < c.sk; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < c.d; ++e)
            dot += double{q[((b * c.sq + i) * c.h + h) * c.d + e]} *
                   double{k[(((c.kv_one_batch ? 0 : b) * c.sk + j) * c.kh() + (c.kv_one_head ? 0 : h)) * c.d + e]};
          s[j] = c.divide ? dot / c.scale : dot * c.scale;
          if (c.mask) s[j] += mask[broadcast_flat({b, h, i, j}, *c.mask)];
          mx = std::max(mx, s[j]);
        }
        for (int64_t j = 0; j < c.sk; ++j) sum += (s[j] = std::exp(s[j] - mx));
        for (int64_t e = 0; e < c.dv; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < c.sk; ++j)
            acc += s[j] / sum *
                   double{v[(((c.kv_one_batch ? 0 : b) * c.sk + j) * c.kh() + (c.kv_one_head ? 0 : h)) * c.dv + e]};
          out[((b * c.sq + i) * c.h + h) * c.dv + e] = acc;
        }
      }
  return out;
}
Attrs attention_attrs(const AttentionCase& c) { return {{"scale", a_float(c.scale)}, {"scale_divides", a_int(c.divide)}}; }

TEST_P(OpTest, Attention_KeysTransposedAndNanRowsToZero) {
  // SDPA's export: K^T given per head ([B, H, D, Sk]), and P's NaN (a query row whose keys are all
  // masked with -inf) made 0, so that row's output is 0 instead of NaN.
  const int64_t b = 2, sq = 3, sk = 5, h = 2, d = 4;
  AttentionCase c{b, sq, sk, h, d, d, 0.5f, false, Shape{b, 1, sq, sk}};
  const auto q = rand_f32(b * sq * h * d, -2, 2), k = rand_f32(b * sk * h * d, -2, 2), v = rand_f32(b * sk * h * d, -2, 2);
  auto mask = rand_f32(b * sq * sk, -2, 0);
  for (int64_t j = 0; j < sk; ++j) mask[(0 * sq + 1) * sk + j] = -std::numeric_limits<float>::infinity();  // b 0, row 1
  std::vector<float> kt(k.size());  // [b, h, d, sk] from [b, sk, h, d]
  for (int64_t n = 0; n < b; ++n)
    for (int64_t j = 0; j < sk; ++j)
      for (int64_t hh = 0; hh < h; ++hh)
        for (int64_t e = 0; e < d; ++e) kt[((n * h + hh) * d + e) * sk + j] = k[((n * sk + j) * h + hh) * d + e];
  Attrs attrs = attention_attrs(c);
  attrs["keys_transposed"] = a_int(1);
  attrs["nan_to_zero"] = a_int(1);
  Tensor out = run1("Attention",
                    {make<float>({b, sq, h, d}, q), make<float>({b, h, d, sk}, kt), make<float>({b, sk, h, d}, v),
                     make<float>({b, 1, sq, sk}, mask)},
                    attrs, 1, "shardscore");
  std::vector<double> ref = ref_attention(c, q, k, v, mask);
  int zeroed = 0;
  for (double& r : ref)
    if (std::isnan(r)) r = 0, ++zeroed;
  EXPECT_EQ(zeroed, h * d) << "test bug: the masked row should be NaN before Where(IsNaN)";
  expect_near(out, DType::kFloat32, {b, sq, h, d}, ref, kTolReduce);
}

TEST_P(OpTest, Attention_MasksOfEveryBroadcastAndBothScales) {
  // Cross-attention lengths (5 queries, 7 keys), head sizes differing between K and V.
  const int64_t b = 2, sq = 5, sk = 7, h = 3, d = 4, dv = 6;
  const std::vector<std::optional<Shape>> masks{std::nullopt, Shape{b, 1, 1, sk}, Shape{b, 1, sq, sk},
                                                Shape{1, h, sq, sk}, Shape{sk}, Shape{b, h, sq, sk}};
  for (const auto& mask_shape : masks) {
    for (const bool divide : {true, false}) {
      AttentionCase c{b, sq, sk, h, d, dv, divide ? 2.0f : 0.35f, divide, mask_shape};
      SCOPED_TRACE((mask_shape ? "mask " + shape_to_string(*mask_shape) : std::string("no mask")) +
                   (divide ? ", Div" : ", Mul"));
      const auto q = rand_f32(b * sq * h * d, -2, 2), k = rand_f32(b * sk * h * d, -2, 2),
                 v = rand_f32(b * sk * h * dv, -2, 2);
      std::vector<float> mask;
      std::vector<Tensor> inputs{make<float>({b, sq, h, d}, q), make<float>({b, sk, h, d}, k), make<float>({b, sk, h, dv}, v)};
      if (mask_shape) {
        mask = rand_f32(numel_of(*mask_shape), -3, 0);
        for (std::size_t i = 0; i < mask.size(); i += 3) mask[i] = -10000.0f;  // keys masked out, as BERT's mask does
        inputs.push_back(make<float>(*mask_shape, mask));
      }
      Tensor out = run1("Attention", inputs, attention_attrs(c), 1, "shardscore");
      expect_near(out, DType::kFloat32, {b, sq, h, dv}, ref_attention(c, q, k, v, mask), kTolReduce);
    }
  }
}
TEST_P(OpTest, Attention_KeysAndValuesSharedAcrossBatchOrHeads) {
  // K and V of one example, or of one head (multi-query attention), broadcast as MatMul would.
  for (const auto& [one_batch, one_head] : {std::pair{true, false}, std::pair{false, true}, std::pair{true, true}}) {
    AttentionCase c{3, 4, 6, 2, 5, 3, 2.236068f, true, Shape{3, 1, 1, 6}, one_batch, one_head};
    SCOPED_TRACE(std::string(one_batch ? "one example" : "every example") + ", " + (one_head ? "one head" : "every head"));
    const auto q = rand_f32(c.b * c.sq * c.h * c.d, -2, 2), k = rand_f32(c.kb() * c.sk * c.kh() * c.d, -2, 2),
               v = rand_f32(c.kb() * c.sk * c.kh() * c.dv, -2, 2), mask = rand_f32(c.b * c.sk, -2, 0);
    Tensor out = run1("Attention",
                      {make<float>({c.b, c.sq, c.h, c.d}, q), make<float>({c.kb(), c.sk, c.kh(), c.d}, k),
                       make<float>({c.kb(), c.sk, c.kh(), c.dv}, v), make<float>(*c.mask, mask)},
                      attention_attrs(c), 1, "shardscore");
    expect_near(out, DType::kFloat32, {c.b, c.sq, c.h, c.dv}, ref_attention(c, q, k, v, mask), kTolReduce);
  }
}
TEST_P(OpTest, Attention_LongAndShortRowsWideHeads) {
  // Rows of keys shorter than a warp, and longer than 1024 (the CUDA softmax's block-per-row path).
  for (const int64_t sk : {1, 19, 1100}) {
    SCOPED_TRACE(std::to_string(sk) + " keys");
    AttentionCase c{1, 3, sk, 2, 64, 64, 8.0f, true, Shape{1, 1, 1, sk}};
    const auto q = rand_f32(3 * 2 * 64), k = rand_f32(sk * 2 * 64), v = rand_f32(sk * 2 * 64), mask = rand_f32(sk, -1, 0);
    Tensor out = run1("Attention",
                      {make<float>({1, 3, 2, 64}, q), make<float>({1, sk, 2, 64}, k), make<float>({1, sk, 2, 64}, v),
                       make<float>({1, 1, 1, sk}, mask)},
                      attention_attrs(c), 1, "shardscore");
    expect_near(out, DType::kFloat32, {1, 3, 2, 64}, ref_attention(c, q, k, v, mask), kTolReduce);
  }
}
TEST_P(OpTest, Attention_ExampleIndependentOfBatch) {
  // Each example alone gives its rows of the whole batch: bit for bit on the CPU (one product per
  // example and head), within tolerance where the library picks kernels by batch size.
  const int64_t b = 4, s = 9, h = 2, d = 8;
  AttentionCase c{b, s, s, h, d, d, 2.828427f, true, Shape{b, 1, 1, s}};
  const auto q = rand_f32(b * s * h * d), k = rand_f32(b * s * h * d), v = rand_f32(b * s * h * d), mask = rand_f32(b * s, -2, 0);
  Tensor whole = run1("Attention",
                      {make<float>({b, s, h, d}, q), make<float>({b, s, h, d}, k), make<float>({b, s, h, d}, v),
                       make<float>({b, 1, 1, s}, mask)},
                      attention_attrs(c), 1, "shardscore");
  ASSERT_EQ(whole.shape(), (Shape{b, s, h, d}));
  const int64_t per = s * h * d;
  for (int64_t e = 0; e < b; ++e) {
    auto slice = [&](const std::vector<float>& x, int64_t n) { return std::vector<float>(x.begin() + e * n, x.begin() + (e + 1) * n); };
    Tensor one = run1("Attention",
                      {make<float>({1, s, h, d}, slice(q, per)), make<float>({1, s, h, d}, slice(k, per)),
                       make<float>({1, s, h, d}, slice(v, per)), make<float>({1, 1, 1, s}, slice(mask, s))},
                      attention_attrs(c), 1, "shardscore");
    ASSERT_EQ(one.shape(), (Shape{1, s, h, d}));
    const float* got = one.data<float>();
    const float* want = whole.data<float>() + e * per;
    if (products_bitwise_across_batches()) {
      EXPECT_EQ(std::memcmp(got, want, static_cast<std::size_t>(per) * sizeof(float)), 0) << "example " << e;
    } else {
      expect_elements_near(got, want, per, kTolReduce, "example " + std::to_string(e));
    }
  }
}
TEST_P(OpTest, Attention_NoKeys_GivesZeros) {
  AttentionCase c{2, 3, 0, 2, 4, 5};
  Tensor out = run1("Attention",
                    {make<float>({2, 3, 2, 4}, rand_f32(48)), make<float>({2, 0, 2, 4}, {}), make<float>({2, 0, 2, 5}, {})},
                    attention_attrs(c), 1, "shardscore");
  expect_near(out, DType::kFloat32, {2, 3, 2, 5}, std::vector<double>(60, 0.0), kExact);
}
TEST_P(OpTest, Attention_Errors) {
  auto t = [&](Shape s) { return make<float>(s, rand_f32(numel_of(s))); };
  const Attrs attrs{{"scale", a_float(2)}, {"scale_divides", a_int(1)}};
  expect_error(StatusCode::kInvalidArgument, "rank 4", "Attention", {t({2, 3, 8}), t({2, 3, 2, 4}), t({2, 3, 2, 4})}, attrs,
               1, "shardscore");
  expect_error(StatusCode::kInvalidArgument, "do not agree", "Attention", {t({2, 3, 2, 4}), t({2, 3, 4, 2}), t({2, 3, 2, 4})},
               attrs, 1, "shardscore");
  expect_error(StatusCode::kInvalidArgument, "do not agree", "Attention", {t({2, 3, 2, 4}), t({2, 5, 2, 4}), t({2, 3, 2, 4})},
               attrs, 1, "shardscore");
  expect_error(StatusCode::kInvalidArgument, "does not broadcast", "Attention",
               {t({2, 3, 2, 4}), t({2, 3, 2, 4}), t({2, 3, 2, 4}), t({2, 1, 1, 4})}, attrs, 1, "shardscore");
  expect_error(StatusCode::kInvalidArgument, "input types differ", "Attention",
               {t({2, 3, 2, 4}), t({2, 3, 2, 4}), t({2, 3, 2, 4}), make<double>({1}, {0.0})}, attrs, 1, "shardscore");
}
TEST_P(OpTest, FusedGemm_UnknownActivation_Error) {
  Attribute at;
  at.type = Attribute::Type::kString;
  at.s = "Swish";
  expect_error(StatusCode::kUnimplemented, "Swish", "FusedGemm",
               {make<float>({2, 3}, rand_f32(6)), make<float>({3, 2}, rand_f32(6))}, {{"activation", at}}, 1, "shardscore");
}

TEST_P(OpTest, Gemm_NoTrans_NoC) { check_gemm({.m = 9, .n = 7, .k = 13}); }
TEST_P(OpTest, Gemm_TransA) { check_gemm({.m = 9, .n = 7, .k = 13, .trans_a = true, .c_shape = Shape{7}}); }
TEST_P(OpTest, Gemm_TransB_BiasRow) { check_gemm({.m = 10, .n = 6, .k = 30, .trans_b = true, .c_shape = Shape{6}}); }
TEST_P(OpTest, Gemm_TransATransB_FullC) {
  check_gemm({.m = 5, .n = 8, .k = 11, .trans_a = true, .trans_b = true, .c_shape = Shape{5, 8}});
}
TEST_P(OpTest, Gemm_AllTransposeCombos) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_gemm({.m = 17, .n = 5, .k = 12, .trans_a = ta, .trans_b = tb});
      check_gemm({.m = 17, .n = 5, .k = 12, .trans_a = ta, .trans_b = tb, .c_shape = Shape{17, 5}});
    }
}
TEST_P(OpTest, Gemm_CShapes) {
  const std::vector<Shape> shapes = {{}, {1}, {1, 1}, {6}, {1, 6}, {4, 1}, {4, 6}};
  for (const auto& cs : shapes) check_gemm({.m = 4, .n = 6, .k = 9, .c_shape = cs});
}
TEST_P(OpTest, Gemm_C_ScalarAnd1x1) {
  check_gemm({.m = 3, .n = 4, .k = 5, .beta = 2.0f, .c_shape = Shape{}});
  check_gemm({.m = 3, .n = 4, .k = 5, .beta = 2.0f, .c_shape = Shape{1, 1}});
}
TEST_P(OpTest, Gemm_AlphaBeta) {
  check_gemm({.m = 7, .n = 5, .k = 8, .alpha = 0.5f, .beta = -2.0f, .c_shape = Shape{7, 5}});
  check_gemm({.m = 7, .n = 5, .k = 8, .trans_b = true, .alpha = -1.75f, .beta = 0.25f, .c_shape = Shape{5}});
  check_gemm({.m = 7, .n = 5, .k = 8, .alpha = 3.0f, .beta = 0.0f, .c_shape = Shape{7, 5}});  // beta 0: C ignored
  check_gemm({.m = 7, .n = 5, .k = 8, .alpha = 2.0f});
}
TEST_P(OpTest, Gemm_OmittedC_EmptyName) {
  // C given as "" (an omitted optional input) rather than left off.
  auto a = rand_f32(12), b = rand_f32(8);
  Tensor out = run1("Gemm", {make<float>({3, 4}, a), make<float>({4, 2}, b), Tensor()});
  std::vector<double> ref(6, 0.0);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j)
      for (int p = 0; p < 4; ++p) ref[i * 2 + j] += double{a[i * 4 + p]} * b[p * 2 + j];
  expect_near(out, DType::kFloat32, {3, 2}, ref, kTolReduce);
}
TEST_P(OpTest, Gemm_RowTileEdges) {
  // The CPU backend computes fixed row tiles (64 and 256), the last zero-padded: rows either side of each edge.
  for (int64_t m : {1, 63, 64, 65, 127, 128, 130, 255, 256, 257, 513})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        check_gemm(
            {.m = m, .n = 7, .k = 19, .trans_a = ta, .trans_b = tb, .alpha = 0.75f, .beta = 1.5f, .c_shape = Shape{7}});
  check_gemm({.m = 130, .n = 3, .k = 5, .c_shape = Shape{130, 3}});
  check_gemm({.m = 65, .n = 3, .k = 5, .c_shape = Shape{65, 1}});
}
TEST_P(OpTest, Gemm_Float64) {
  auto a = rand_f64(70 * 6), b = rand_f64(6 * 4), c = rand_f64(4);
  Tensor out = run1("Gemm", {make<double>({70, 6}, a), make<double>({6, 4}, b), make<double>({4}, c)},
                    {{"alpha", a_float(0.5f)}});
  std::vector<double> ref(70 * 4);
  for (int i = 0; i < 70; ++i)
    for (int j = 0; j < 4; ++j) {
      double s = 0;
      for (int p = 0; p < 6; ++p) s += a[i * 6 + p] * b[p * 4 + j];
      ref[i * 4 + j] = 0.5 * s + c[j];
    }
  expect_near(out, DType::kFloat64, {70, 4}, ref, 1e-12);
}
TEST_P(OpTest, Gemm_MismatchedK_Error) {
  expect_error(StatusCode::kInvalidArgument, "do not multiply", "Gemm",
               {make<float>({3, 4}, rand_f32(12)), make<float>({5, 2}, rand_f32(10))});
  expect_error(StatusCode::kInvalidArgument, "do not multiply", "Gemm",
               {make<float>({3, 4}, rand_f32(12)), make<float>({4, 2}, rand_f32(8))}, {{"transB", a_int(1)}});
}
TEST_P(OpTest, Gemm_CNotBroadcastable_Error) {
  expect_error(StatusCode::kInvalidArgument, "does not broadcast", "Gemm",
               {make<float>({3, 4}, rand_f32(12)), make<float>({4, 2}, rand_f32(8)), make<float>({3}, rand_f32(3))});
  expect_error(StatusCode::kInvalidArgument, "does not broadcast", "Gemm",
               {make<float>({3, 4}, rand_f32(12)), make<float>({4, 2}, rand_f32(8)), make<float>({2, 2}, rand_f32(4))});
}


// Bitwise: a row's result does not depend on which other rows share its batch. This is what makes
// shardscore's output identical for any batch size and any number of ranks. With bitwise false
// (a backend whose products agree across batch sizes within tolerance only, CUDA:
// OpTest::products_bitwise_across_batches), within tol instead.
void expect_rows_bitwise_equal(const Tensor& whole, int64_t first_row, const Tensor& part, bool bitwise = true,
                               double tol = kTolReduce) {
  ASSERT_FALSE(part.empty());
  ASSERT_EQ(part.rank(), 2);
  ASSERT_EQ(part.dim(1), whole.dim(1));
  const int64_t n = whole.dim(1);
  if (!bitwise) {
    ASSERT_LE(first_row + part.dim(0), whole.dim(0));
    expect_elements_near(part.data<float>(), whole.data<float>() + first_row * n, part.numel(), tol,
                         std::to_string(part.dim(0)) + " rows from row " + std::to_string(first_row) +
                             " against the batch of " + std::to_string(whole.dim(0)));
    return;
  }
  for (int64_t r = 0; r < part.dim(0); ++r) {
    const float* w = whole.data<float>() + (first_row + r) * n;
    const float* p = part.data<float>() + r * n;
    if (std::memcmp(w, p, static_cast<std::size_t>(n) * sizeof(float)) != 0) {
      int64_t j = 0;
      while (j < n && std::memcmp(w + j, p + j, sizeof(float)) == 0) ++j;
      ADD_FAILURE() << std::setprecision(9) << "row " << first_row + r << " computed in a batch of " << part.dim(0)
                    << " rows (from row " << first_row << ") differs from the batch of " << whole.dim(0)
                    << " at column " << j << ": " << p[j] << " vs " << w[j];
      return;
    }
  }
}

// Row blocks of a 600-row product: single rows, and blocks across the 64- and 256-row tile edges.
const std::vector<std::pair<int64_t, int64_t>> kRowBlocks = {
    {0, 1},  {63, 1}, {64, 1},  {100, 1},   {199, 1},  {255, 1},   {256, 1},  {599, 1},  {100, 37},
    {0, 64}, {1, 64}, {60, 10}, {128, 72},  {5, 130},  {250, 20},  {0, 300},  {300, 300}, {1, 599}};

TEST_P(OpTest, Gemm_RowsIndependentOfBatch_Bitwise) {
  const int64_t m = 600, k = 37, n = 11;
  auto a = rand_f32(m * k), b = rand_f32(n * k), c = rand_f32(n);
  const Attrs attrs = {{"transB", a_int(1)}, {"alpha", a_float(0.8f)}};
  Tensor whole = run1("Gemm", {make<float>({m, k}, a), make<float>({n, k}, b), make<float>({n}, c)}, attrs);
  GemmCase g{.m = m, .n = n, .k = k, .trans_b = true, .alpha = 0.8f, .c_shape = Shape{n}};
  expect_near(whole, DType::kFloat32, {m, n}, ref_gemm(g, a, b, c), kTolReduce);
  for (auto [r0, rows] : kRowBlocks) {
    SCOPED_TRACE("rows " + std::to_string(r0) + ".." + std::to_string(r0 + rows - 1));
    std::vector<float> block(a.begin() + r0 * k, a.begin() + (r0 + rows) * k);
    Tensor part = run1("Gemm", {make<float>({rows, k}, block), make<float>({n, k}, b), make<float>({n}, c)}, attrs);
    expect_rows_bitwise_equal(whole, r0, part, products_bitwise_across_batches());
  }
}

// FusedGemm with a bias row and alpha 1 runs on oneDNN (weights packed once): the same property,
// with B transposed and not, Relu keeping NaN, and rows crossing the 256-row tiles (a 600-row
// product runs as two 256-row tiles and 64-row ones; its blocks run in other mixes of tiles);
// small products, one as long as BERT's feed-forward output (K = 3072) for oneDNN's blocking of K,
// and 256 columns, whose packed weights have padded rows where oneDNN keeps them row-major (AVX2).
// On CUDA it runs on cuBLAS, whose rows agree across batch sizes within tolerance only.
TEST_P(OpTest, FusedGemm_OnednnRowsIndependentOfBatch_Bitwise) {
  const int64_t m = 600;
  for (const auto& [k, trans_b, n] : {std::tuple<int64_t, bool, int64_t>{37, false, 11},
                                      {37, true, 11},
                                      {3072, true, 11},
                                      {64, false, 256},
                                      {64, true, 256}}) {
    SCOPED_TRACE(std::string(trans_b ? "transB" : "B as given") + ", K " + std::to_string(k) + ", N " +
                 std::to_string(n));
    auto a = rand_f32(m * k), b = rand_f32(n * k), c = rand_f32(n);
    a[5 * k + 3] = std::numeric_limits<float>::quiet_NaN();  // row 5 comes out NaN, through the Relu
    Attrs attrs = {{"activation", a_string("Relu")}};
    if (trans_b) attrs["transB"] = a_int(1);
    const Tensor w = trans_b ? make<float>({n, k}, b) : make<float>({k, n}, b);
    Tensor whole = run1("FusedGemm", {make<float>({m, k}, a), w, make<float>({n}, c)}, attrs, 1, "shardscore");
    ASSERT_EQ(whole.shape(), (Shape{m, n}));
    std::vector<double> ref(static_cast<std::size_t>(m * n));
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < n; ++j) {
        double v = c[j];
        for (int64_t q = 0; q < k; ++q) v += double{a[r * k + q]} * double{trans_b ? b[j * k + q] : b[q * n + j]};
        ref[r * n + j] = std::isnan(v) ? v : std::max(v, 0.0);
      }
    // Row 5 is NaN in both; the other rows against the reference (NaN compares unequal, so the
    // comparison runs on a copy with row 5 zeroed on both sides).
    Tensor checked = Tensor::copy_of(DType::kFloat32, {m, n}, whole.raw());
    for (int64_t j = 0; j < n; ++j) {
      EXPECT_TRUE(std::isnan(whole.data<float>()[5 * n + j])) << "NaN lost at column " << j;
      checked.data<float>()[5 * n + j] = 0.0f;
      ref[5 * n + j] = 0.0;
    }
    // A float32 sum of 3072 products of size up to 1 is off by some 1e-5 of results near 1 (the
    // terms' sum of magnitudes is some 700 times larger than the result): looser there.
    expect_near(checked, DType::kFloat32, {m, n}, ref, k > 100 ? 2e-4 : kTolReduce);
    for (auto [r0, rows] : kRowBlocks) {
      SCOPED_TRACE("rows " + std::to_string(r0) + ".." + std::to_string(r0 + rows - 1));
      std::vector<float> block(a.begin() + r0 * k, a.begin() + (r0 + rows) * k);
      Tensor part = run1("FusedGemm", {make<float>({rows, k}, block), w, make<float>({n}, c)}, attrs, 1, "shardscore");
      expect_rows_bitwise_equal(whole, r0, part, products_bitwise_across_batches(), k > 100 ? 2e-4 : kTolReduce);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// MatMul

// [batch..., m, k] x [batch..., k, n] in double; operands given as flat data with explicit
// batch shapes (broadcast by hand).
std::vector<double> ref_batched_matmul(const std::vector<float>& a, const Shape& a_batch, const std::vector<float>& b,
                                       const Shape& b_batch, const Shape& out_batch, int64_t m, int64_t k, int64_t n) {
  std::vector<double> y(static_cast<std::size_t>(numel_of(out_batch) * m * n));
  for (int64_t bi = 0; bi < numel_of(out_batch); ++bi) {
    const auto idx = unravel(bi, out_batch);
    const int64_t ao = broadcast_flat(idx, a_batch) * m * k, bo = broadcast_flat(idx, b_batch) * k * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p) s += double{a[ao + i * k + p]} * b[bo + p * n + j];
        y[(bi * m + i) * n + j] = s;
      }
  }
  return y;
}

TEST_P(OpTest, MatMul_2D) {
  auto a = rand_f32(9 * 14), b = rand_f32(14 * 6);
  Tensor out = run1("MatMul", {make<float>({9, 14}, a), make<float>({14, 6}, b)});
  expect_near(out, DType::kFloat32, {9, 6}, ref_batched_matmul(a, {}, b, {}, {}, 9, 14, 6), kTolReduce);
}
TEST_P(OpTest, MatMul_3D_BatchFolded) {
  auto a = rand_f32(2 * 5 * 8), b = rand_f32(8 * 3);
  Tensor out = run1("MatMul", {make<float>({2, 5, 8}, a), make<float>({8, 3}, b)});
  expect_near(out, DType::kFloat32, {2, 5, 3}, ref_batched_matmul(a, {2}, b, {}, {2}, 5, 8, 3), kTolReduce);
}
TEST_P(OpTest, MatMul_3D_BatchFolded_AcrossTiles) {
  auto a = rand_f32(3 * 50 * 6), b = rand_f32(6 * 4);
  Tensor out = run1("MatMul", {make<float>({3, 50, 6}, a), make<float>({6, 4}, b)});
  expect_near(out, DType::kFloat32, {3, 50, 4}, ref_batched_matmul(a, {3}, b, {}, {3}, 50, 6, 4), kTolReduce);
}
TEST_P(OpTest, MatMul_BatchedBroadcast) {
  // [2,1,M,K] x [3,K,N] -> [2,3,M,N]
  const int64_t m = 4, k = 5, n = 3;
  auto a = rand_f32(2 * m * k), b = rand_f32(3 * k * n);
  Tensor out = run1("MatMul", {make<float>({2, 1, m, k}, a), make<float>({3, k, n}, b)});
  expect_near(out, DType::kFloat32, {2, 3, m, n}, ref_batched_matmul(a, {2, 1}, b, {3}, {2, 3}, m, k, n), kTolReduce);
}
TEST_P(OpTest, MatMul_BatchedSameBatch) {
  auto a = rand_f32(3 * 2 * 4), b = rand_f32(3 * 4 * 5);
  Tensor out = run1("MatMul", {make<float>({3, 2, 4}, a), make<float>({3, 4, 5}, b)});
  expect_near(out, DType::kFloat32, {3, 2, 5}, ref_batched_matmul(a, {3}, b, {3}, {3}, 2, 4, 5), kTolReduce);
}
TEST_P(OpTest, MatMul_2D_Times3D) {
  // A without batch dims broadcasts against B's batch.
  auto a = rand_f32(3 * 4), b = rand_f32(2 * 4 * 5);
  Tensor out = run1("MatMul", {make<float>({3, 4}, a), make<float>({2, 4, 5}, b)});
  expect_near(out, DType::kFloat32, {2, 3, 5}, ref_batched_matmul(a, {}, b, {2}, {2}, 3, 4, 5), kTolReduce);
}
TEST_P(OpTest, MatMul_VectorTimesMatrix) {
  // [K] x [K,N] -> [N]
  auto a = rand_f32(7), b = rand_f32(7 * 4);
  Tensor out = run1("MatMul", {make<float>({7}, a), make<float>({7, 4}, b)});
  expect_near(out, DType::kFloat32, {4}, ref_batched_matmul(a, {}, b, {}, {}, 1, 7, 4), kTolReduce);
}
TEST_P(OpTest, MatMul_MatrixTimesVector) {
  // [M,K] x [K] -> [M]
  auto a = rand_f32(5 * 7), b = rand_f32(7);
  Tensor out = run1("MatMul", {make<float>({5, 7}, a), make<float>({7}, b)});
  expect_near(out, DType::kFloat32, {5}, ref_batched_matmul(a, {}, b, {}, {}, 5, 7, 1), kTolReduce);
}
TEST_P(OpTest, MatMul_Float64) {
  auto a = rand_f64(6 * 3), b = rand_f64(3 * 2);
  Tensor out = run1("MatMul", {make<double>({6, 3}, a), make<double>({3, 2}, b)});
  std::vector<double> ref(12, 0.0);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 2; ++j)
      for (int p = 0; p < 3; ++p) ref[i * 2 + j] += a[i * 3 + p] * b[p * 2 + j];
  expect_near(out, DType::kFloat64, {6, 2}, ref, 1e-12);
}
TEST_P(OpTest, MatMul_MismatchedK_Error) {
  expect_error(StatusCode::kInvalidArgument, "do not multiply", "MatMul",
               {make<float>({3, 4}, rand_f32(12)), make<float>({5, 2}, rand_f32(10))});
  expect_error(StatusCode::kInvalidArgument, "do not multiply", "MatMul",
               {make<float>({4}, rand_f32(4)), make<float>({3, 2}, rand_f32(6))});
}
TEST_P(OpTest, MatMul_BatchMismatch_Error) {
  expect_error(StatusCode::kInvalidArgument, "cannot be broadcast", "MatMul",
               {make<float>({2, 3, 4}, rand_f32(24)), make<float>({3, 4, 2}, rand_f32(24))});
}
TEST_P(OpTest, MatMul_RowsIndependentOfBatch_Bitwise) {
  const int64_t m = 600, k = 37, n = 11;
  auto a = rand_f32(m * k), b = rand_f32(k * n);
  Tensor whole = run1("MatMul", {make<float>({m, k}, a), make<float>({k, n}, b)});
  expect_near(whole, DType::kFloat32, {m, n}, ref_batched_matmul(a, {}, b, {}, {}, m, k, n), kTolReduce);
  for (auto [r0, rows] : kRowBlocks) {
    SCOPED_TRACE("rows " + std::to_string(r0) + ".." + std::to_string(r0 + rows - 1));
    std::vector<float> block(a.begin() + r0 * k, a.begin() + (r0 + rows) * k);
    Tensor part = run1("MatMul", {make<float>({rows, k}, block), make<float>({k, n}, b)});
    expect_rows_bitwise_equal(whole, r0, part, products_bitwise_across_batches());
  }
  // The same rows as [2, 300, K] (batch folded into rows) match too.
  Tensor folded = run1("MatMul", {make<float>({2, 300, k}, a), make<float>({k, n}, b)});
  ASSERT_FALSE(folded.empty());
  expect_rows_bitwise_equal(whole, 0, folded.reshaped({m, n}), products_bitwise_across_batches());
}

// ---------------------------------------------------------------------------------------------
// Flatten / Reshape / Identity

// A pure data-movement op: same values in the same order, new shape.
void expect_same_data(const Tensor& out, const Shape& shape, const std::vector<float>& in) {
  expect_near(out, DType::kFloat32, shape, as_doubles(in), kExact);
}

TEST_P(OpTest, Flatten_Axis0) {
  auto x = rand_f32(24);
  expect_same_data(run1("Flatten", {make<float>({2, 3, 4}, x)}, {{"axis", a_int(0)}}), {1, 24}, x);
}
TEST_P(OpTest, Flatten_Axis1_Default) {
  auto x = rand_f32(24);
  expect_same_data(run1("Flatten", {make<float>({2, 3, 4}, x)}), {2, 12}, x);
  expect_same_data(run1("Flatten", {make<float>({2, 3, 4}, x)}, {{"axis", a_int(1)}}), {2, 12}, x);
}
TEST_P(OpTest, Flatten_EmptyBatchKeepsTheInnerSize) {
  Tensor out = run1("Flatten", {make<float>({0, 3}, std::vector<float>{})}, {{"axis", a_int(1)}});
  EXPECT_EQ(out.shape(), (Shape{0, 3}));
  out = run1("Flatten", {make<float>({2, 0, 3}, std::vector<float>{})}, {{"axis", a_int(2)}});
  EXPECT_EQ(out.shape(), (Shape{0, 3}));
}
TEST_P(OpTest, ArgMax_ScalarInput_Error) {
  expect_error(StatusCode::kInvalidArgument, "out of range", "ArgMax", {make<float>({}, std::vector<float>{1.0f})});
}
TEST_P(OpTest, Flatten_Axis2) {
  auto x = rand_f32(24);
  expect_same_data(run1("Flatten", {make<float>({2, 3, 4}, x)}, {{"axis", a_int(2)}}), {6, 4}, x);
}
TEST_P(OpTest, Flatten_AxisRank) {
  auto x = rand_f32(24);
  expect_same_data(run1("Flatten", {make<float>({2, 3, 4}, x)}, {{"axis", a_int(3)}}), {24, 1}, x);
}
TEST_P(OpTest, Flatten_NegativeAxis) {
  auto x = rand_f32(120);
  expect_same_data(run1("Flatten", {make<float>({2, 3, 4, 5}, x)}, {{"axis", a_int(-1)}}), {24, 5}, x);
  expect_same_data(run1("Flatten", {make<float>({2, 3, 4, 5}, x)}, {{"axis", a_int(-3)}}), {2, 60}, x);
  expect_same_data(run1("Flatten", {make<float>({2, 3, 4, 5}, x)}, {{"axis", a_int(-4)}}), {1, 120}, x);
}
TEST_P(OpTest, Flatten_AxisOutOfRange_Error) {
  expect_error(StatusCode::kInvalidArgument, "out of range", "Flatten", {make<float>({2, 3}, rand_f32(6))},
               {{"axis", a_int(3)}});
  expect_error(StatusCode::kInvalidArgument, "out of range", "Flatten", {make<float>({2, 3}, rand_f32(6))},
               {{"axis", a_int(-3)}});
}

Tensor shape_tensor(const std::vector<int64_t>& s) { return make<int64_t>({static_cast<int64_t>(s.size())}, s); }

TEST_P(OpTest, Reshape_Plain) {
  auto x = rand_f32(24);
  expect_same_data(run1("Reshape", {make<float>({2, 3, 4}, x), shape_tensor({4, 6})}), {4, 6}, x);
}
TEST_P(OpTest, Reshape_ZeroCopiesDim) {
  auto x = rand_f32(24);
  expect_same_data(run1("Reshape", {make<float>({2, 3, 4}, x), shape_tensor({0, 12})}), {2, 12}, x);
  expect_same_data(run1("Reshape", {make<float>({2, 3, 4}, x), shape_tensor({0, 0, 2, 2})}), {2, 3, 2, 2}, x);
}
TEST_P(OpTest, Reshape_MinusOneInfers) {
  auto x = rand_f32(24);
  expect_same_data(run1("Reshape", {make<float>({2, 3, 4}, x), shape_tensor({-1, 4})}), {6, 4}, x);
  expect_same_data(run1("Reshape", {make<float>({2, 3, 4}, x), shape_tensor({0, -1})}), {2, 12}, x);
  expect_same_data(run1("Reshape", {make<float>({2, 3, 4}, x), shape_tensor({-1})}), {24}, x);
}
TEST_P(OpTest, Reshape_AllowZero_Opset14) {
  // allowzero=1: a 0 in the shape is a real 0-size dimension, not "copy".
  Tensor empty_x(DType::kFloat32, {0, 4});
  Tensor out = run1("Reshape", {empty_x, shape_tensor({4, 0})}, {{"allowzero", a_int(1)}}, 14);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.shape(), (Shape{4, 0}));
  // Without allowzero (or before opset 14) the same 0 copies the input's dimension 1 (= 4): [4, 4]
  // holds 16 elements, not 0 -> error.
  expect_error(StatusCode::kInvalidArgument, "cannot reshape", "Reshape", {empty_x, shape_tensor({4, 0})},
               {{"allowzero", a_int(0)}}, 14);
  expect_error(StatusCode::kInvalidArgument, "cannot reshape", "Reshape", {empty_x, shape_tensor({4, 0})},
               {{"allowzero", a_int(1)}}, 13);
  // allowzero=1 with non-zero dims behaves as a plain reshape.
  auto x = rand_f32(12);
  expect_same_data(run1("Reshape", {make<float>({3, 4}, x), shape_tensor({2, 6})}, {{"allowzero", a_int(1)}}, 14),
                   {2, 6}, x);
}
TEST_P(OpTest, Reshape_BadShape_Error) {
  auto x = make<float>({2, 3, 4}, rand_f32(24));
  expect_error(StatusCode::kInvalidArgument, "cannot reshape", "Reshape", {x, shape_tensor({5, 5})});
  expect_error(StatusCode::kInvalidArgument, "cannot reshape", "Reshape", {x, shape_tensor({-1, 5})});
  expect_error(StatusCode::kInvalidArgument, "more than one -1", "Reshape", {x, shape_tensor({-1, -1})});
  expect_error(StatusCode::kInvalidArgument, "negative", "Reshape", {x, shape_tensor({-2, 12})});
}
TEST_P(OpTest, Identity_Float32) {
  auto x = rand_f32(15);
  expect_same_data(run1("Identity", {make<float>({3, 5}, x)}), {3, 5}, x);
}
TEST_P(OpTest, Identity_Int64) {
  auto x = rand_int<int64_t>(6, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  expect_equal<int64_t>(run1("Identity", {make<int64_t>({6}, x)}), {6}, x);
}

// ---------------------------------------------------------------------------------------------
// Constant

TEST_P(OpTest, Constant_ValueTensor) {
  auto v = rand_f32(6, -10, 10);
  Tensor out = run1("Constant", {}, {{"value", a_tensor(make<float>({2, 3}, v))}});
  expect_same_data(out, {2, 3}, v);
}
TEST_P(OpTest, Constant_ValueFloat) {
  const float v = std::uniform_real_distribution<float>(1, 2)(rng_);
  Tensor out = run1("Constant", {}, {{"value_float", a_float(v)}});
  expect_near(out, DType::kFloat32, {}, {double{v}}, kExact);
}
TEST_P(OpTest, Constant_ValueInts) {
  auto v = rand_int<int64_t>(5, -1000000, 1000000);
  v[0] = int64_t{1} << 60;
  Tensor out = run1("Constant", {}, {{"value_ints", a_ints(v)}});
  expect_equal<int64_t>(out, {5}, v);
}

// ---------------------------------------------------------------------------------------------
// Cast (the `to` attribute holds ONNX TensorProto type codes: FLOAT 1, INT64 7, BOOL 9, DOUBLE 11)

constexpr int64_t kOnnxFloat = 1, kOnnxInt32 = 6, kOnnxInt64 = 7, kOnnxBool = 9, kOnnxDouble = 11;

TEST_P(OpTest, Cast_Float32ToInt64_Truncates) {
  auto x = rand_f32(30, -1000, 1000);
  const float edges[] = {2.7f, -2.7f, 0.5f, -0.5f, 0.0f, -0.0f, 1e9f, -1e9f};
  std::copy(std::begin(edges), std::end(edges), x.begin());
  Tensor out = run1("Cast", {make<float>({5, 6}, x)}, {{"to", a_int(kOnnxInt64)}});
  std::vector<int64_t> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = static_cast<int64_t>(std::trunc(double{x[i]}));
  expect_equal<int64_t>(out, {5, 6}, ref);
}
// NaN, infinities and values outside the target's range, which C++ and ONNX leave undefined: both
// backends saturate to the range's nearest end and give 0 for NaN (src/common/float_to_int.h), so
// they agree bit for bit. The reference clamps the truncated double against 2^digits.
template <typename D>
std::vector<D> saturated_ref(const std::vector<double>& x) {
  std::vector<D> ref;
  const double lo = static_cast<double>(std::numeric_limits<D>::min());
  const double past_hi = std::ldexp(1.0, std::numeric_limits<D>::digits);
  for (double v : x) {
    const double t = std::trunc(v);
    ref.push_back(std::isnan(v) ? D(0) : t <= lo ? std::numeric_limits<D>::min()
                                       : t >= past_hi ? std::numeric_limits<D>::max() : static_cast<D>(t));
  }
  return ref;
}
TEST_P(OpTest, Cast_FloatToIntegers_SaturatesOutOfRangeAndNaNIsZero) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  const std::vector<double> x = {nan,  inf,   -inf,  3e9,  -3e9,    2147483648.0, -2147483648.0, 2147483520.0,
                                 300.7, -1.5, -0.9,  255.9, 127.9, -128.9, 65535.5, 1e19,  -1e19, 2e19,  4294967296.0,
                                 -4294967296.5, 12.5, -12.5, 0.0, 9.2233720368547758e18};
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> xf;
  for (double v : x) xf.push_back(static_cast<float>(v));
  std::vector<double> xf_exact(xf.begin(), xf.end());  // what the float32 input really holds
  auto check = [&](auto zero, int64_t onnx_type) {
    using D = decltype(zero);
    SCOPED_TRACE("to " + std::string(dtype_name(dtype_of<D>())));
    expect_equal<D>(run1("Cast", {make<double>({n}, x)}, {{"to", a_int(onnx_type)}}), {n}, saturated_ref<D>(x));
    expect_equal<D>(run1("Cast", {make<float>({n}, xf)}, {{"to", a_int(onnx_type)}}), {n}, saturated_ref<D>(xf_exact));
  };
  check(int8_t{}, 3);
  check(uint8_t{}, 2);
  check(int16_t{}, 5);
  check(uint16_t{}, 4);
  check(int32_t{}, kOnnxInt32);
  check(uint32_t{}, 12);
  check(int64_t{}, kOnnxInt64);
  check(uint64_t{}, 13);
}
// CastLike: Cast to target_type's element type; target_type's values (and shape) play no part.
TEST_P(OpTest, CastLike_TakesTheTypeOfTargetType) {
  auto x = rand_f32(12, -50, 50);
  x[0] = 2.7f;
  x[1] = -2.7f;
  Tensor out = run1("CastLike", {make<float>({3, 4}, x), make<int32_t>({1}, {7})});
  std::vector<int32_t> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = static_cast<int32_t>(std::trunc(double{x[i]}));
  expect_equal<int32_t>(out, {3, 4}, ref);
  Tensor same = run1("CastLike", {make<float>({3, 4}, x), make<float>({2}, {0.f, 0.f})});
  expect_equal<float>(same, {3, 4}, x);
  Tensor wide = run1("CastLike", {make<int32_t>({3, 4}, ref), make<double>({0}, {})});
  expect_near(wide, DType::kFloat64, {3, 4}, std::vector<double>(ref.begin(), ref.end()), kExact);
}

TEST_P(OpTest, Cast_Int64ToFloat32) {
  auto x = rand_int<int64_t>(12, -(int64_t{1} << 40), int64_t{1} << 40);
  Tensor out = run1("Cast", {make<int64_t>({12}, x)}, {{"to", a_int(kOnnxFloat)}});
  // float32 keeps 24 bits: relative error at most 2^-24.
  expect_near(out, DType::kFloat32, {12}, as_doubles(x), 1e-7);
}
TEST_P(OpTest, Cast_Int64ToInt32) {
  auto x = rand_int<int64_t>(8, -1000000, 1000000);
  Tensor out = run1("Cast", {make<int64_t>({8}, x)}, {{"to", a_int(kOnnxInt32)}});
  expect_equal<int32_t>(out, {8}, std::vector<int32_t>(x.begin(), x.end()));
}
TEST_P(OpTest, Cast_Float32ToFloat64) {
  auto x = rand_f32(10, -1e6, 1e6);
  Tensor out = run1("Cast", {make<float>({2, 5}, x)}, {{"to", a_int(kOnnxDouble)}});
  expect_near(out, DType::kFloat64, {2, 5}, as_doubles(x), kExact);
}
TEST_P(OpTest, Cast_Float32ToBool) {
  auto x = rand_f32(20, -2, 2);
  x[0] = 0.0f, x[1] = -0.0f, x[2] = 1e-30f, x[3] = -5.0f, x[4] = 0.0f;
  Tensor out = run1("Cast", {make<float>({4, 5}, x)}, {{"to", a_int(kOnnxBool)}});
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.dtype(), DType::kBool);
  ASSERT_EQ(out.shape(), (Shape{4, 5}));
  const auto* p = static_cast<const uint8_t*>(out.raw());
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_EQ(p[i], x[i] != 0.0f ? 1 : 0) << "x[" << i << "] = " << x[i];
}
TEST_P(OpTest, Cast_BoolToFloat32) {
  auto bits = rand_int<int>(12, 0, 1);
  bits[0] = 1, bits[1] = 0;
  std::vector<uint8_t> b(bits.begin(), bits.end());
  Tensor out = run1("Cast", {make_bool({3, 4}, b)}, {{"to", a_int(kOnnxFloat)}});
  expect_near(out, DType::kFloat32, {3, 4}, as_doubles(b), kExact);
}
TEST_P(OpTest, Cast_UnsupportedTarget_Error) {
  expect_error(StatusCode::kUnimplemented, "not supported", "Cast", {make<float>({2}, rand_f32(2))},
               {{"to", a_int(8)}});  // STRING
  // Opsets 19 and 21 add float8 (17-20) and int4 (21, 22) targets: refused by name.
  expect_error(StatusCode::kUnimplemented, "type 17 is not supported", "Cast", {make<float>({2}, rand_f32(2))},
               {{"to", a_int(17)}, {"saturate", a_int(1)}}, 19);
  expect_error(StatusCode::kUnimplemented, "type 22 is not supported", "Cast", {make<float>({2}, rand_f32(2))},
               {{"to", a_int(22)}}, 21);
}
TEST_P(OpTest, Cast_Opsets19To21_Int64ToBool) {
  // torch 2.11's exporter writes opset 20: BERT's mask Cast (int64 -> bool) at Cast-19 semantics.
  auto x = rand_int<int64_t>(12, -2, 2);
  x[0] = 0, x[1] = 5;
  std::vector<double> ref(12);
  for (std::size_t i = 0; i < 12; ++i) ref[i] = x[i] != 0 ? 1 : 0;
  for (int64_t opset : {19, 20, 21}) {
    SCOPED_TRACE(opset);
    expect_near(run1("Cast", {make<int64_t>({3, 4}, x)}, {{"to", a_int(kOnnxBool)}, {"saturate", a_int(1)}}, opset),
                DType::kBool, {3, 4}, ref, kExact);
  }
}

// ---------------------------------------------------------------------------------------------
// Concat

// Concatenates 3-D float tensors along `axis` (0..2) by indexing, in double.
std::vector<double> ref_concat(const std::vector<std::vector<float>>& xs, const std::vector<Shape>& shapes,
                               int64_t axis, const Shape& out_shape) {
  std::vector<double> y(static_cast<std::size_t>(numel_of(out_shape)));
  for (int64_t f = 0; f < numel_of(out_shape); ++f) {
    auto idx = unravel(f, out_shape);
    std::size_t which = 0;
    while (idx[axis] >= shapes[which][axis]) idx[axis] -= shapes[which++][axis];
    const Shape& s = shapes[which];
    int64_t src = 0;
    for (std::size_t k = 0; k < s.size(); ++k) src = src * s[k] + idx[k];
    y[f] = xs[which][src];
  }
  return y;
}

}  // namespace
}  // namespace shardscore

namespace shardscore::op_test {
void OpTest::check_concat(int64_t axis_attr, int64_t axis) {
  SCOPED_TRACE("Concat axis=" + std::to_string(axis_attr));
  std::vector<Shape> shapes = {{2, 3, 4}, {2, 3, 4}, {2, 3, 4}};
  const int64_t sizes[] = {1, 3, 2};
  Shape out_shape = {2, 3, 4};
  out_shape[axis] = 0;
  std::vector<std::vector<float>> xs;
  std::vector<Tensor> inputs;
  for (int i = 0; i < 3; ++i) {
    shapes[i][axis] = sizes[i];
    out_shape[axis] += sizes[i];
    xs.push_back(rand_f32(numel_of(shapes[i])));
    inputs.push_back(make(shapes[i], xs.back()));
  }
  Tensor out = run1("Concat", inputs, {{"axis", a_int(axis_attr)}});
  expect_near(out, DType::kFloat32, out_shape, ref_concat(xs, shapes, axis, out_shape), kExact);
}
}  // namespace shardscore::op_test

namespace shardscore {
namespace {

TEST_P(OpTest, Concat_Axis0_3Inputs) { check_concat(0, 0); }
TEST_P(OpTest, Concat_Axis1_3Inputs) { check_concat(1, 1); }
TEST_P(OpTest, Concat_AxisMinus1_3Inputs) { check_concat(-1, 2); }
TEST_P(OpTest, Concat_Int64_2D) {
  auto a = rand_int<int64_t>(4, -100, 100), b = rand_int<int64_t>(2, -100, 100);
  Tensor out = run1("Concat", {make<int64_t>({2, 2}, a), make<int64_t>({2, 1}, b)}, {{"axis", a_int(1)}});
  expect_equal<int64_t>(out, {2, 3}, {a[0], a[1], b[0], a[2], a[3], b[1]});
}
TEST_P(OpTest, Concat_MismatchedShapes_Error) {
  expect_error(StatusCode::kInvalidArgument, "does not concatenate", "Concat",
               {make<float>({2, 3}, rand_f32(6)), make<float>({3, 3}, rand_f32(9))}, {{"axis", a_int(1)}});
  expect_error(StatusCode::kInvalidArgument, "axis", "Concat",
               {make<float>({2, 3}, rand_f32(6)), make<float>({2, 3}, rand_f32(6))});  // no axis attribute
}

// ---------------------------------------------------------------------------------------------
// TopK

// TopK by ranks: an element's place is the number of elements of its slice that come before it
// (by value, largest or smallest first, NaN past every number, then by lower index); the first k
// places are the output. Independent of any sort; x viewed as [outer, dim, inner].
template <typename T>
void ref_topk(const std::vector<T>& x, int64_t outer, int64_t dim, int64_t inner, int64_t k, bool largest,
              std::vector<T>* values, std::vector<int64_t>* indices) {
  values->assign(static_cast<std::size_t>(outer * k * inner), T(0));
  indices->assign(values->size(), -1);
  auto before = [&](T a, int64_t ia, T b, int64_t ib) {
    const bool na = a != a, nb = b != b;  // NaN (never for integers)
    if (na || nb) return na && nb ? ia < ib : (largest ? na : nb);
    if (a != b) return largest ? a > b : a < b;
    return ia < ib;
  };
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i)
      for (int64_t d = 0; d < dim; ++d) {
        const T v = x[(o * dim + d) * inner + i];
        int64_t place = 0;
        for (int64_t e = 0; e < dim; ++e) place += before(x[(o * dim + e) * inner + i], e, v, d);
        if (place < k) {
          (*values)[(o * k + place) * inner + i] = v;
          (*indices)[(o * k + place) * inner + i] = d;
        }
      }
}

// Runs TopK and checks both outputs exactly (values bit for bit: they are copies).
template <typename T>
void check_topk(OpTest& t, const Backend& backend, const Shape& xs, const std::vector<T>& x, int64_t axis, int64_t k,
                bool largest, int64_t opset = 11) {
  SCOPED_TRACE("TopK X " + shape_to_string(xs) + " axis " + std::to_string(axis) + " k " + std::to_string(k) +
               (largest ? " largest" : " smallest") + " opset " + std::to_string(opset));
  const int64_t ax = axis < 0 ? axis + static_cast<int64_t>(xs.size()) : axis;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < ax; ++d) outer *= xs[d];
  for (int64_t d = ax + 1; d < static_cast<int64_t>(xs.size()); ++d) inner *= xs[d];
  std::vector<T> want_v;
  std::vector<int64_t> want_i;
  ref_topk(x, outer, xs[ax], inner, k, largest, &want_v, &want_i);
  Attrs at = {{"axis", a_int(axis)}};
  std::vector<Tensor> in = {make(xs, x)};
  if (opset >= 10) in.push_back(make<int64_t>({1}, {k}));
  else at["k"] = a_int(k);
  if (opset >= 11) at["largest"] = a_int(largest ? 1 : 0);
  std::vector<Tensor> outs;
  const Status st = run_node(backend, "TopK", std::move(in), 2, &outs, at, opset);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(outs.size(), 2u);
  Shape ys = xs;
  ys[ax] = k;
  ASSERT_EQ(outs[0].shape(), ys);
  ASSERT_EQ(outs[0].dtype(), dtype_of<T>());
  EXPECT_EQ(std::memcmp(outs[0].raw(), want_v.data(), want_v.size() * sizeof(T)), 0) << "values differ";
  expect_equal<int64_t>(outs[1], ys, want_i);
  (void)t;
}

TEST_P(OpTest, TopK_TiesNaNLargestSmallest) {
  // Ties (3 three times, -0 and +0) by lower index; NaN before every number when largest, after when smallest.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {1, 3, 3, 2, 3, nan, -0.0f, 0.0f, nan, -5, 7, 0.0f};
  for (bool largest : {true, false}) {
    for (int64_t k : {0, 1, 4, 6}) check_topk<float>(*this, *backend_, {2, 6}, x, -1, k, largest);
  }
  // Hand-checked: the largest 4 of row 0 are NaN (5), 3 (1), 3 (2), 3 (4); of row 1 NaN (2), 7 (4), -0 (0), +0 (1).
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_node(*backend_, "TopK", {make<float>({2, 6}, x), make<int64_t>({1}, {4})}, 2, &outs, {}, 11).ok());
  expect_equal<int64_t>(outs[1], {2, 4}, {5, 1, 2, 4, 2, 4, 0, 1});
}
TEST_P(OpTest, TopK_AxesTypesOpsets) {
  // A middle axis with inner elements, float64, int32 and int64 (values past 2^53), the k attribute of opset 1.
  const Shape xs = {3, 7, 4};
  auto xf = rand_f32(numel_of(xs));
  for (std::size_t i = 0; i < xf.size(); i += 5) xf[i] = xf[i / 2];  // some ties
  check_topk<float>(*this, *backend_, xs, xf, 1, 3, true);
  check_topk<float>(*this, *backend_, xs, xf, -3, 2, false);
  check_topk<float>(*this, *backend_, xs, xf, 1, 7, true, 1);
  check_topk<double>(*this, *backend_, xs, rand_f64(numel_of(xs)), 2, 2, true, 10);
  std::vector<int32_t> xi(static_cast<std::size_t>(numel_of(xs)));
  for (std::size_t i = 0; i < xi.size(); ++i) xi[i] = static_cast<int32_t>((i * 7919) % 13) - 6;
  check_topk<int32_t>(*this, *backend_, xs, xi, 1, 4, false);
  std::vector<int64_t> xl(xi.begin(), xi.end());
  for (auto& v : xl) v = v * (int64_t{1} << 54) + 1;
  check_topk<int64_t>(*this, *backend_, xs, xl, 2, 3, true);
  // A 700-long axis (several elements per CUDA thread), ties and a NaN among them.
  auto xlong = rand_f32(2 * 700);
  for (std::size_t i = 0; i < xlong.size(); i += 7) xlong[i] = xlong[i / 3];
  xlong[350] = std::numeric_limits<float>::quiet_NaN();
  for (int64_t k : {1, 300, 700}) {
    check_topk<float>(*this, *backend_, {2, 700}, xlong, 1, k, true);
    check_topk<float>(*this, *backend_, {2, 700}, xlong, -1, k, false);
  }
}
TEST_P(OpTest, TopK_Errors) {
  auto x = make<float>({2, 5}, rand_f32(10));
  expect_error(StatusCode::kInvalidArgument, "K = 6 is outside [0, 5], the size of axis 1 of X [2, 5]", "TopK",
               {x, make<int64_t>({1}, {6})}, {}, 11);
  expect_error(StatusCode::kInvalidArgument, "K = -1 is outside", "TopK", {x, make<int64_t>({1}, {-1})}, {}, 11);
  expect_error(StatusCode::kInvalidArgument, "K must be a 1-D int64 tensor of 1 value; got int64 [2]", "TopK",
               {x, make<int64_t>({2}, {1, 2})}, {}, 11);
  expect_error(StatusCode::kInvalidArgument, "K must be a 1-D int64 tensor of 1 value; got int64 []", "TopK",
               {x, make<int64_t>({}, {1})}, {}, 11);
  expect_error(StatusCode::kInvalidArgument, "the k attribute is required before opset 10", "TopK", {x}, {}, 1);
  expect_error(StatusCode::kUnimplemented, "element type bool is not supported", "TopK",
               {make_bool({4}, {1, 0, 1, 0}), make<int64_t>({1}, {1})}, {}, 11);
}

// LpNormalization

TEST_P(OpTest, LpNormalization_L1L2AxesAndZeroNorm) {
  // x [2, 3, 4] along each axis, p 1 and 2, against double; a slice of zeros gives zeros (ONNX
  // Runtime's rule), NaN spreads through its slice.
  const Shape xs = {2, 3, 4};
  auto x = rand_f32(24, -3, 3);
  for (int i : {0, 4, 8}) x[i] = 0.f;  // [0, :, 0]: a zero slice along axis 1
  for (int64_t axis : {-1, 1, 0}) {
    for (int64_t pn : {1, 2}) {
      SCOPED_TRACE("axis " + std::to_string(axis) + ", p " + std::to_string(pn));
      const int64_t ax = axis < 0 ? axis + 3 : axis;
      int64_t outer = 1, inner = 1;
      for (int64_t d = 0; d < ax; ++d) outer *= xs[d];
      for (int64_t d = ax + 1; d < 3; ++d) inner *= xs[d];
      std::vector<double> ref(24);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t in = 0; in < inner; ++in) {
          double n = 0;
          for (int64_t d = 0; d < xs[ax]; ++d) {
            const double v = x[(o * xs[ax] + d) * inner + in];
            n += pn == 1 ? std::fabs(v) : v * v;
          }
          if (pn == 2) n = std::sqrt(n);
          for (int64_t d = 0; d < xs[ax]; ++d) {
            const int64_t at = (o * xs[ax] + d) * inner + in;
            ref[at] = n == 0 ? 0.0 : x[at] / n;
          }
        }
      Tensor out = run1("LpNormalization", {make<float>(xs, x)}, {{"axis", a_int(axis)}, {"p", a_int(pn)}}, 1);
      expect_near(out, DType::kFloat32, xs, ref, kTolElementwise);
      if (axis == 1) {
        for (int i : {0, 4, 8}) EXPECT_EQ(out.data<float>()[i], 0.f) << "the zero slice";
      }
    }
  }
  Tensor nan = run1("LpNormalization", {make<double>({2, 2}, std::vector<double>{3, NAN, 3, 4})}, {}, 1);
  ASSERT_FALSE(nan.empty());
  EXPECT_TRUE(std::isnan(nan.data<double>()[0]) && std::isnan(nan.data<double>()[1]));
  EXPECT_DOUBLE_EQ(nan.data<double>()[2], 0.6);
  EXPECT_DOUBLE_EQ(nan.data<double>()[3], 0.8);
  expect_error(StatusCode::kInvalidArgument, "p 3 is not 1 or 2", "LpNormalization", {make<float>({2, 2}, rand_f32(4))},
               {{"p", a_int(3)}}, 1);
}

// ArgMax

// ArgMax of x viewed as [outer, dim, inner] over `dim`, first or last index among ties.
std::vector<int64_t> ref_argmax(const std::vector<float>& x, int64_t outer, int64_t dim, int64_t inner, bool last) {
  std::vector<int64_t> y(static_cast<std::size_t>(outer * inner));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double best = -std::numeric_limits<double>::infinity();
      int64_t at = -1;
      for (int64_t d = 0; d < dim; ++d) {
        const double v = x[(o * dim + d) * inner + i];
        if (v > best || (last && v == best)) best = v, at = d;
      }
      y[o * inner + i] = at;
    }
  return y;
}

TEST_P(OpTest, ArgMax_Axis0_KeepDims) {
  auto x = rand_f32(4 * 5);
  Tensor out = run1("ArgMax", {make<float>({4, 5}, x)}, {{"axis", a_int(0)}, {"keepdims", a_int(1)}});
  expect_equal<int64_t>(out, {1, 5}, ref_argmax(x, 1, 4, 5, false));
}
TEST_P(OpTest, ArgMax_Axis0_NoKeepDims) {
  auto x = rand_f32(4 * 5);
  Tensor out = run1("ArgMax", {make<float>({4, 5}, x)}, {{"axis", a_int(0)}, {"keepdims", a_int(0)}});
  expect_equal<int64_t>(out, {5}, ref_argmax(x, 1, 4, 5, false));
}
TEST_P(OpTest, ArgMax_Axis1_KeepDims) {
  auto x = rand_f32(6 * 7);
  Tensor out = run1("ArgMax", {make<float>({6, 7}, x)}, {{"axis", a_int(1)}});
  expect_equal<int64_t>(out, {6, 1}, ref_argmax(x, 6, 7, 1, false));
}
TEST_P(OpTest, ArgMax_Axis1_NoKeepDims) {
  auto x = rand_f32(6 * 7);
  Tensor out = run1("ArgMax", {make<float>({6, 7}, x)}, {{"axis", a_int(1)}, {"keepdims", a_int(0)}});
  expect_equal<int64_t>(out, {6}, ref_argmax(x, 6, 7, 1, false));
}
TEST_P(OpTest, ArgMax_3D_Axis1) {
  auto x = rand_f32(2 * 5 * 3);
  Tensor out = run1("ArgMax", {make<float>({2, 5, 3}, x)}, {{"axis", a_int(1)}});
  expect_equal<int64_t>(out, {2, 1, 3}, ref_argmax(x, 2, 5, 3, false));
  Tensor out2 = run1("ArgMax", {make<float>({2, 5, 3}, x)}, {{"axis", a_int(-1)}, {"keepdims", a_int(0)}});
  expect_equal<int64_t>(out2, {2, 5}, ref_argmax(x, 10, 3, 1, false));
}
TEST_P(OpTest, ArgMax_SelectLastIndex_Ties) {
  // Values from {0, 1, 2}: most rows have ties for the maximum.
  auto ints = rand_int<int>(8 * 6, 0, 2);
  std::vector<float> x(ints.begin(), ints.end());
  for (int j = 0; j < 6; ++j) x[j] = 2.0f, x[6 + j] = (j % 2 ? 2.0f : 1.0f);  // guaranteed ties in rows 0, 1
  auto first = ref_argmax(x, 8, 6, 1, false), last = ref_argmax(x, 8, 6, 1, true);
  ASSERT_NE(first, last) << "test bug: no ties";
  Tensor out_first = run1("ArgMax", {make<float>({8, 6}, x)}, {{"axis", a_int(1)}, {"keepdims", a_int(0)}});
  expect_equal<int64_t>(out_first, {8}, first);
  Tensor out_first2 = run1("ArgMax", {make<float>({8, 6}, x)},
                           {{"axis", a_int(1)}, {"keepdims", a_int(0)}, {"select_last_index", a_int(0)}});
  expect_equal<int64_t>(out_first2, {8}, first);
  Tensor out_last = run1("ArgMax", {make<float>({8, 6}, x)},
                         {{"axis", a_int(1)}, {"keepdims", a_int(0)}, {"select_last_index", a_int(1)}});
  expect_equal<int64_t>(out_last, {8}, last);
  // And along axis 0 (strided).
  Tensor out_last0 = run1("ArgMax", {make<float>({8, 6}, x)}, {{"axis", a_int(0)}, {"select_last_index", a_int(1)}});
  expect_equal<int64_t>(out_last0, {1, 6}, ref_argmax(x, 1, 8, 6, true));
}
TEST_P(OpTest, ArgMax_Int64) {
  auto x = rand_int<int64_t>(12, -50, 50);
  Tensor out = run1("ArgMax", {make<int64_t>({3, 4}, x)}, {{"axis", a_int(1)}, {"keepdims", a_int(0)}});
  std::vector<float> xf(x.begin(), x.end());  // exact: small integers
  expect_equal<int64_t>(out, {3}, ref_argmax(xf, 3, 4, 1, false));
}

// ---------------------------------------------------------------------------------------------
// ArgMin

// x viewed as [outer, dim, inner]: the index along dim of the smallest value, the first (or the
// last, select_last_index) among ties.
std::vector<int64_t> ref_argmin(const std::vector<float>& x, int64_t outer, int64_t dim, int64_t inner, bool last) {
  std::vector<int64_t> y(static_cast<std::size_t>(outer * inner));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double best = x[o * dim * inner + i];
      int64_t at = 0;
      for (int64_t d = 1; d < dim; ++d) {
        const double v = x[(o * dim + d) * inner + i];
        if (v < best || (last && v == best)) best = v, at = d;
      }
      y[o * inner + i] = at;
    }
  return y;
}

TEST_P(OpTest, ArgMin_Axes_KeepDims) {
  auto x = rand_f32(2 * 5 * 3);
  expect_equal<int64_t>(run1("ArgMin", {make<float>({2, 5, 3}, x)}), {1, 5, 3}, ref_argmin(x, 1, 2, 15, false));
  expect_equal<int64_t>(run1("ArgMin", {make<float>({2, 5, 3}, x)}, {{"axis", a_int(1)}}), {2, 1, 3},
                        ref_argmin(x, 2, 5, 3, false));
  expect_equal<int64_t>(run1("ArgMin", {make<float>({2, 5, 3}, x)}, {{"axis", a_int(-1)}, {"keepdims", a_int(0)}}),
                        {2, 5}, ref_argmin(x, 10, 3, 1, false));
}
TEST_P(OpTest, ArgMin_SelectLastIndex_Ties_Int64) {
  auto ints = rand_int<int>(8 * 6, 0, 2);
  std::vector<float> x(ints.begin(), ints.end());
  for (int j = 0; j < 6; ++j) x[j] = 0.0f, x[6 + j] = (j % 2 ? 0.0f : 1.0f);  // ties in rows 0, 1
  auto first = ref_argmin(x, 8, 6, 1, false), last = ref_argmin(x, 8, 6, 1, true);
  ASSERT_NE(first, last) << "test bug: no ties";
  const Attrs base = {{"axis", a_int(1)}, {"keepdims", a_int(0)}};
  expect_equal<int64_t>(run1("ArgMin", {make<float>({8, 6}, x)}, base), {8}, first);
  Attrs with_last = base;
  with_last["select_last_index"] = a_int(1);
  expect_equal<int64_t>(run1("ArgMin", {make<float>({8, 6}, x)}, with_last), {8}, last);
  expect_equal<int64_t>(run1("ArgMin", {make<float>({8, 6}, x)}, {{"axis", a_int(0)}, {"select_last_index", a_int(1)}}),
                        {1, 6}, ref_argmin(x, 1, 8, 6, true));
  std::vector<int64_t> xi(ints.begin(), ints.end());
  expect_equal<int64_t>(run1("ArgMin", {make<int64_t>({8, 6}, xi)}, with_last), {8},
                        ref_argmin(std::vector<float>(xi.begin(), xi.end()), 8, 6, 1, true));
}
TEST_P(OpTest, ArgMin_EmptyAxis_Error) {
  expect_error(StatusCode::kInvalidArgument, "ArgMin over an empty axis", "ArgMin", {make<float>({2, 0}, {})},
               {{"axis", a_int(1)}});
}

// ---------------------------------------------------------------------------------------------
// ArrayFeatureExtractor (ai.onnx.ml)

// ai.onnx.ml linear models, against plain float64 formulas.
std::vector<double> ref_linear(const std::vector<float>& x, int64_t rows, int64_t f, const std::vector<float>& w,
                               const std::vector<float>& b, int64_t t) {
  std::vector<double> s(static_cast<std::size_t>(rows * t));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < t; ++j) {
      double acc = b[j];
      for (int64_t q = 0; q < f; ++q) acc += double{x[r * f + q]} * double{w[j * f + q]};
      s[r * t + j] = acc;
    }
  return s;
}

TEST_P(OpTest, LinearClassifier_MulticlassSoftmax) {
  const int64_t rows = 9, f = 4, t = 3;
  const auto x = rand_f32(rows * f, -2, 2), w = rand_f32(t * f, -2, 2), b = rand_f32(t);
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_node(*backend_, "LinearClassifier", {make<float>({rows, f}, x)}, 2, &outs,
                       {{"coefficients", a_floats(w)}, {"intercepts", a_floats(b)},
                        {"classlabels_ints", a_ints({10, 20, 30})}, {"post_transform", a_string("SOFTMAX")}},
                       1, "ai.onnx.ml")
                  .ok());
  ASSERT_EQ(outs.size(), 2u);
  const auto s = ref_linear(x, rows, f, w, b, t);
  std::vector<int64_t> labels(rows);
  std::vector<double> proba(static_cast<std::size_t>(rows * t));
  for (int64_t r = 0; r < rows; ++r) {
    int64_t best = 0;
    double mx = s[r * t], sum = 0;
    for (int64_t j = 1; j < t; ++j) {
      if (s[r * t + j] > s[r * t + best]) best = j;
      mx = std::max(mx, s[r * t + j]);
    }
    labels[r] = 10 * (best + 1);
    for (int64_t j = 0; j < t; ++j) sum += std::exp(s[r * t + j] - mx);
    for (int64_t j = 0; j < t; ++j) proba[r * t + j] = std::exp(s[r * t + j] - mx) / sum;
  }
  expect_equal<int64_t>(outs[0], {rows}, labels);
  expect_near(outs[1], DType::kFloat32, {rows, t}, proba, kTolReduce);
}

TEST_P(OpTest, LinearClassifier_BinaryLogisticScores) {
  // One score column and two labels: two probability columns, negative class first.
  const int64_t rows = 7, f = 5;
  const auto x = rand_f32(rows * f, -2, 2), w = rand_f32(f, -2, 2), b = rand_f32(1);
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_node(*backend_, "LinearClassifier", {make<float>({rows, f}, x)}, 2, &outs,
                       {{"coefficients", a_floats(w)}, {"intercepts", a_floats(b)}, {"classlabels_ints", a_ints({0, 1})},
                        {"post_transform", a_string("LOGISTIC")}},
                       1, "ai.onnx.ml")
                  .ok());
  ASSERT_EQ(outs.size(), 2u);
  const auto s = ref_linear(x, rows, f, w, b, 1);
  std::vector<int64_t> labels(rows);
  std::vector<double> proba(static_cast<std::size_t>(rows * 2));
  for (int64_t r = 0; r < rows; ++r) {
    labels[r] = s[r] > 0 ? 1 : 0;
    proba[2 * r + 1] = 1.0 / (1.0 + std::exp(-s[r]));
    proba[2 * r] = 1.0 - proba[2 * r + 1];
  }
  expect_equal<int64_t>(outs[0], {rows}, labels);
  expect_near(outs[1], DType::kFloat32, {rows, 2}, proba, kTolReduce);
}

TEST_P(OpTest, LinearClassifier_StringLabels_Error) {
  Attribute labels;
  labels.type = Attribute::Type::kStrings;
  labels.strings = {"a", "b"};
  expect_error(StatusCode::kUnimplemented, "string class labels", "LinearClassifier", {make<float>({2, 2}, rand_f32(4))},
               {{"coefficients", a_floats(rand_f32(4))}, {"classlabels_strings", labels}}, 1, "ai.onnx.ml");
}

// No coefficients means no score column to take a label from: refused, not a read of labels[0].
TEST_P(OpTest, LinearClassifier_NoCoefficients_Error) {
  expect_error(StatusCode::kInvalidArgument, "0 coefficients do not fit 2 features", "LinearClassifier",
               {make<float>({2, 2}, rand_f32(4))}, {{"coefficients", a_floats({})}, {"classlabels_ints", a_ints({})}},
               1, "ai.onnx.ml");
}

TEST_P(OpTest, LinearRegressor_TwoTargets) {
  const int64_t rows = 6, f = 3, t = 2;
  const auto x = rand_f32(rows * f, -2, 2), w = rand_f32(t * f, -2, 2), b = rand_f32(t);
  Tensor out = run1("LinearRegressor", {make<float>({rows, f}, x)},
                    {{"coefficients", a_floats(w)}, {"intercepts", a_floats(b)}, {"targets", a_int(t)}}, 1, "ai.onnx.ml");
  expect_near(out, DType::kFloat32, {rows, t}, ref_linear(x, rows, f, w, b, t), kTolReduce);
}

TEST_P(OpTest, Scaler_PerFeatureAndBroadcast) {
  const int64_t rows = 5, f = 3;
  const auto x = rand_f32(rows * f, -5, 5), off = rand_f32(f), sc = rand_f32(f, 0.5f, 2.0f);
  Tensor out = run1("Scaler", {make<float>({rows, f}, x)}, {{"offset", a_floats(off)}, {"scale", a_floats(sc)}}, 1,
                    "ai.onnx.ml");
  std::vector<double> ref(x.size());
  for (int64_t i = 0; i < rows * f; ++i) ref[i] = (double{x[i]} - off[i % f]) * sc[i % f];
  expect_near(out, DType::kFloat32, {rows, f}, ref, kTolElementwise);
  Tensor one = run1("Scaler", {make<float>({rows, f}, x)}, {{"offset", a_floats({1.0f})}, {"scale", a_floats({2.0f})}}, 1,
                    "ai.onnx.ml");
  for (int64_t i = 0; i < rows * f; ++i) ref[i] = (double{x[i]} - 1.0) * 2.0;
  expect_near(one, DType::kFloat32, {rows, f}, ref, kTolElementwise);
}

// shardscore.RawInput (pass_raw_inputs): the job's host preprocessing chain as one op. The
// reference is that chain written out in float32 with one operation per statement (no FMA on the
// build machine's baseline x86-64), so both backends must give its bits exactly.
template <class T>
std::vector<double> ref_raw_input(const std::vector<T>& x, int64_t outer, int64_t channels, int64_t inner, bool nhwc,
                                  float scale, const std::vector<float>& mean, const std::vector<float>& std,
                                  DType to = DType::kFloat32) {
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        float v = static_cast<float>(x[nhwc ? (o * inner + i) * channels + c : (o * channels + c) * inner + i]);
        if (scale != 1.0f) v = v * scale;
        if (!mean.empty()) {
          v = v - mean[c];
          v = v / std[c];
        }
        y[(o * channels + c) * inner + i] = to == DType::kFloat32 ? v : half_bits_to_float(to, double_to_half_bits(to, v));
      }
  return y;
}

template <class T>
std::vector<T> narrow(const std::vector<int>& v) {
  return std::vector<T>(v.begin(), v.end());
}

TEST_P(OpTest, RawInput_Uint8ImagesNhwc_ToFloat32Float16BFloat16) {
  const int64_t n = 3, h = 5, w = 7, c = 3;
  auto x = narrow<uint8_t>(rand_int<int>(n * h * w * c, 0, 255));
  x[0] = 0;
  x[1] = 255;
  const std::vector<float> mean = {0.485f, 0.456f, 0.406f}, std = {0.229f, 0.224f, 0.225f};
  Attrs attrs = {{"nhwc", a_int(1)}, {"scale", a_float(1.0f / 255)}, {"mean", a_floats(mean)}, {"std", a_floats(std)}};
  Tensor f32 = run1("RawInput", {make<uint8_t>({n, h, w, c}, x)}, attrs, 1, "shardscore");
  expect_near(f32, DType::kFloat32, {n, c, h, w}, ref_raw_input(x, n, c, h * w, true, 1.0f / 255, mean, std), kExact);
  for (const auto& [code, to] : {std::pair{10, DType::kFloat16}, std::pair{16, DType::kBFloat16}}) {
    SCOPED_TRACE(dtype_name(to));
    attrs["to"] = a_int(code);
    Tensor half = run1("RawInput", {make<uint8_t>({n, h, w, c}, x)}, attrs, 1, "shardscore");
    expect_near(half, to, {n, c, h, w}, ref_raw_input(x, n, c, h * w, true, 1.0f / 255, mean, std, to), kExact);
  }
}

TEST_P(OpTest, RawInput_RowsAndOtherIntegerTypes) {
  // int16 feature rows [N, F], standardized per feature, no scale.
  const int64_t rows = 6, f = 4;
  const auto x16 = narrow<int16_t>(rand_int<int>(rows * f, -32768, 32767));
  const std::vector<float> mean = {-3.5f, 0.0f, 100.25f, 7.0f}, std = {2.0f, 0.3f, 1000.0f, 3.0f};
  Tensor a = run1("RawInput", {make<int16_t>({rows, f}, x16)}, {{"mean", a_floats(mean)}, {"std", a_floats(std)}}, 1,
                  "shardscore");
  expect_near(a, DType::kFloat32, {rows, f}, ref_raw_input(x16, rows, f, 1, false, 1.0f, mean, std), kExact);
  // int8 [N, C, L] as it is: a cast alone.
  const auto x8 = narrow<int8_t>(rand_int<int>(2 * 3 * 5, -128, 127));
  Tensor b = run1("RawInput", {make<int8_t>({2, 3, 5}, x8)}, {}, 1, "shardscore");
  expect_near(b, DType::kFloat32, {2, 3, 5}, ref_raw_input(x8, 2, 3, 5, false, 1.0f, {}, {}), kExact);
  // uint16 1-D rows, scaled only.
  const auto xu = narrow<uint16_t>(rand_int<int>(9, 0, 65535));
  Tensor d = run1("RawInput", {make<uint16_t>({9}, xu)}, {{"scale", a_float(1.0f / 65535)}}, 1, "shardscore");
  expect_near(d, DType::kFloat32, {9}, ref_raw_input(xu, 9, 1, 1, false, 1.0f / 65535, {}, {}), kExact);
}

TEST_P(OpTest, RawInput_Errors) {
  const Tensor u8 = make<uint8_t>({1, 2, 2, 3}, std::vector<uint8_t>(12, 7));
  expect_error(StatusCode::kInvalidArgument, "RawInput converts 8- and 16-bit integers only", "RawInput",
               {make<float>({1, 3}, {1, 2, 3})}, {}, 1, "shardscore");
  expect_error(StatusCode::kInvalidArgument, "2 mean / std values for dimension 1 of [1, 3, 2, 2]", "RawInput", {u8},
               {{"nhwc", a_int(1)}, {"mean", a_floats({0.5f, 0.5f})}, {"std", a_floats({1.0f, 1.0f})}}, 1, "shardscore");
  expect_error(StatusCode::kInvalidArgument, "mean and std differ in length", "RawInput", {u8},
               {{"mean", a_floats({0.5f})}, {"std", a_floats({1.0f, 1.0f})}}, 1, "shardscore");
  expect_error(StatusCode::kInvalidArgument, "makes float32, float16 or bfloat16, not int64", "RawInput", {u8},
               {{"to", a_int(7)}}, 1, "shardscore");
}

TEST_P(OpTest, ArrayFeatureExtractor_2D) {
  auto x = rand_f32(3 * 5);
  Tensor out = run1("ArrayFeatureExtractor", {make<float>({3, 5}, x), shape_tensor({1, 0})}, {}, 1, "ai.onnx.ml");
  std::vector<double> ref;
  for (int r = 0; r < 3; ++r) ref.push_back(x[r * 5 + 1]), ref.push_back(x[r * 5 + 0]);
  expect_near(out, DType::kFloat32, {3, 2}, ref, kExact);
}
TEST_P(OpTest, ArrayFeatureExtractor_2D_RepeatedIndices) {
  auto x = rand_f32(2 * 4);
  Tensor out = run1("ArrayFeatureExtractor", {make<float>({2, 4}, x), shape_tensor({3, 3, 0})}, {}, 1, "ai.onnx.ml");
  std::vector<double> ref = {x[3], x[3], x[0], x[7], x[7], x[4]};
  expect_near(out, DType::kFloat32, {2, 3}, ref, kExact);
}
TEST_P(OpTest, ArrayFeatureExtractor_1D) {
  // 1-D X gives [1, k], as ONNX Runtime does.
  auto x = rand_int<int64_t>(6, -1000, 1000);
  Tensor out = run1("ArrayFeatureExtractor", {make<int64_t>({6}, x), shape_tensor({4, 2, 5})}, {}, 1, "ai.onnx.ml");
  expect_equal<int64_t>(out, {1, 3}, {x[4], x[2], x[5]});
}
TEST_P(OpTest, ArrayFeatureExtractor_OutOfRange_Error) {
  auto x = make<float>({2, 5}, rand_f32(10));
  expect_error(StatusCode::kInvalidArgument, "out of range", "ArrayFeatureExtractor", {x, shape_tensor({1, 5})}, {}, 1,
               "ai.onnx.ml");
  expect_error(StatusCode::kInvalidArgument, "out of range", "ArrayFeatureExtractor", {x, shape_tensor({-1})}, {}, 1,
               "ai.onnx.ml");
}

}  // namespace
}  // namespace shardscore
