#pragma once
// The op-test fixture shared by tests/engine/test_ops*.cpp (one binary).
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
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/test_seed.h"
#include "engine/backend.h"
#include "engine/cpu/float16.h"
#include "engine/graph.h"
#include "engine/graph_edit.h"
#include "engine/op_registry.h"
#include "engine/plan.h"
#include "engine/tensor.h"

namespace shardscore::op_test {

inline constexpr double kExact = 0.0;
inline constexpr double kTolElementwise = 1e-6;
inline constexpr double kTolReduce = 1e-5;

// ---------------------------------------------------------------------------------------------
// Backends: the names every TEST_P is instantiated with.

// A CUDA build runs every test on "cuda" too; without a visible device those say they skipped.
inline std::vector<std::string> backend_names() {
#ifdef SHARDSCORE_HAVE_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

inline std::unique_ptr<Backend> make_backend(const std::string& name) {
  if (name == "cpu") return backend_cpu_create();
  if (name == "cuda") {
    StatusOr<std::unique_ptr<Backend>> b = backend_cuda_create({});
    if (b.ok()) return std::move(*b);
    ADD_FAILURE() << "CUDA backend: " << b.status().message();
  }
  return nullptr;
}

// Tolerances are float64-reference tolerances for the CPU backend; other backends may sum in
// another order, so float results there are held to at most 1e-4 relative (exact stays exact).
inline double& tolerance_floor() {
  static double floor = 0;
  return floor;
}

// ---------------------------------------------------------------------------------------------
// Attributes.

using Attrs = std::map<std::string, Attribute>;

// The attribute makers the load-time rewrites use (engine/graph_edit.h), under the tests' names.
inline Attribute a_int(int64_t v) { return int_attr(v); }
inline Attribute a_float(float v) { return float_attr(v); }
inline Attribute a_ints(std::vector<int64_t> v) { return ints_attr(std::move(v)); }
inline Attribute a_tensor(Tensor t) { return tensor_attr(std::move(t)); }
inline Attribute a_floats(std::vector<float> v) {
  Attribute a;
  a.type = Attribute::Type::kFloats;
  a.floats = std::move(v);
  return a;
}
inline Attribute a_string(std::string v) { return string_attr(v); }
inline Attribute a_strings(std::vector<std::string> v) {
  Attribute a;
  a.type = Attribute::Type::kStrings;
  a.strings = std::move(v);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Tensors and index arithmetic for the references.

template <typename T>
Tensor make(Shape shape, const std::vector<T>& v) {
  EXPECT_EQ(shape_numel(shape), static_cast<int64_t>(v.size())) << "test bug: data does not fit the shape";
  return Tensor::copy_of(dtype_of<T>(), std::move(shape), v.data());
}
inline Tensor make_bool(Shape shape, const std::vector<uint8_t>& v) {
  EXPECT_EQ(shape_numel(shape), static_cast<int64_t>(v.size()));
  return Tensor::copy_of(DType::kBool, std::move(shape), v.data());
}

// The tensor's elements as doubles, whatever its type.
inline std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> out(static_cast<std::size_t>(t.numel()));
  if (dtype_is_half(t.dtype())) {  // widening is exact
    const uint16_t* p = t.data<uint16_t>();
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = half_bits_to_float(t.dtype(), p[i]);
    return out;
  }
  const bool ok = dtype_dispatch(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* p = t.data<T>();
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(p[i]);
  });
  EXPECT_TRUE(ok) << "test cannot read dtype " << dtype_name(t.dtype());
  return out;
}

template <typename T>
std::vector<double> as_doubles(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

inline int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Multi-index of a flat row-major position.
inline std::vector<int64_t> unravel(int64_t flat, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (std::size_t k = s.size(); k-- > 0;) {
    idx[k] = flat % s[k];
    flat /= s[k];
  }
  return idx;
}

// Flat position in an operand of shape `own` (right-aligned, size-1 dims broadcast) of the
// output multi-index `idx`.
inline int64_t broadcast_flat(const std::vector<int64_t>& idx, const Shape& own) {
  const std::size_t lead = idx.size() - own.size();
  int64_t flat = 0;
  for (std::size_t k = 0; k < own.size(); ++k) flat = flat * own[k] + (own[k] == 1 ? 0 : idx[lead + k]);
  return flat;
}

inline std::string index_string(int64_t flat, const Shape& s) {
  std::ostringstream os;
  os << "[";
  auto idx = unravel(flat, s);
  for (std::size_t k = 0; k < idx.size(); ++k) os << (k ? ", " : "") << idx[k];
  os << "]";
  return os.str();
}

// Asserts dtype, shape and "not all zeros" (unless the reference is), then compares every element:
// |got - ref| <= tol * max(1, |ref|) + slack[i]. Without slack (the overload below, or an empty one),
// tol 0 demands equality. slack[i]: what element i may be off beyond the tolerance, the rounding that
// float32 cannot avoid there and the float64 reference does not meet, as the reference knows it (a
// long sum that cancels: its sum of magnitudes; an ill-conditioned formula: how far the rounding of
// its input moves it).
inline void expect_near(const Tensor& out, DType dtype, const Shape& shape, const std::vector<double>& ref, double tol,
                        const std::vector<double>& slack) {
  ASSERT_FALSE(out.empty()) << "the backend returned no tensor for the output";
  ASSERT_EQ(out.dtype(), dtype) << "got " << dtype_name(out.dtype()) << ", want " << dtype_name(dtype);
  ASSERT_EQ(out.shape(), shape) << "got " << shape_to_string(out.shape()) << ", want " << shape_to_string(shape);
  ASSERT_EQ(static_cast<int64_t>(ref.size()), out.numel()) << "test bug: reference size";
  const std::vector<double> got = to_doubles(out);
  const bool ref_nonzero = std::any_of(ref.begin(), ref.end(), [](double v) { return v != 0; });
  if (ref_nonzero) {
    ASSERT_TRUE(std::any_of(got.begin(), got.end(), [](double v) { return v != 0; }))
        << "output is all zeros (never written?)";
  }
  ASSERT_TRUE(slack.empty() || slack.size() == ref.size()) << "test bug: slack size";
  if (tol > 0) tol = std::max(tol, tolerance_floor());
  int64_t bad = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double err = std::fabs(got[i] - ref[i]);
    const double allowed = tol * std::max(1.0, std::fabs(ref[i])) + (slack.empty() ? 0.0 : slack[i]);
    const bool ok = got[i] == ref[i] || (std::isfinite(got[i]) && err <= allowed);
    if (!ok && bad++ < 8) {
      ADD_FAILURE() << std::setprecision(17) << "at " << index_string(static_cast<int64_t>(i), shape) << ": got "
                    << got[i] << ", want " << ref[i] << " (|diff| " << err << ", allowed " << allowed << ")";
    }
  }
  EXPECT_EQ(bad, 0) << bad << " of " << ref.size() << " elements differ";
}

inline void expect_near(const Tensor& out, DType dtype, const Shape& shape, const std::vector<double>& ref, double tol) {
  expect_near(out, dtype, shape, ref, tol, {});
}

// Exact comparison of integer outputs (int64 values beyond 2^53 do not survive doubles).
template <typename T>
void expect_equal(const Tensor& out, const Shape& shape, const std::vector<T>& ref) {
  ASSERT_FALSE(out.empty()) << "the backend returned no tensor for the output";
  ASSERT_EQ(out.dtype(), dtype_of<T>()) << "got " << dtype_name(out.dtype());
  ASSERT_EQ(out.shape(), shape) << "got " << shape_to_string(out.shape()) << ", want " << shape_to_string(shape);
  const T* p = out.data<T>();
  int64_t bad = 0;
  for (std::size_t i = 0; i < ref.size(); ++i)
    if (p[i] != ref[i] && bad++ < 8) {
      ADD_FAILURE() << "at " << index_string(static_cast<int64_t>(i), shape) << ": got " << +p[i] << ", want "
                    << +ref[i];
    }
  EXPECT_EQ(bad, 0) << bad << " of " << ref.size() << " elements differ";
}

// n float32 results (got) against the same elements computed in another run (want):
// |got - want| <= tol * max(1, |want|), tol raised to tolerance_floor() as in expect_near; NaN
// where want is NaN. `what` names the elements in a failure.
inline void expect_elements_near(const float* got, const float* want, int64_t n, double tol, const std::string& what) {
  tol = std::max(tol, tolerance_floor());
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = got[i], w = want[i];
    const bool ok = std::isnan(w) ? std::isnan(g) : g == w || std::fabs(g - w) <= tol * std::max(1.0, std::fabs(w));
    if (!ok && bad++ < 8) {
      ADD_FAILURE() << std::setprecision(9) << what << ", element " << i << ": got " << g << ", want " << w << " (tol "
                    << tol << ")";
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << n << " elements differ";
}

// One Gemm case for check_gemm (declared here: the fixture uses it).
struct GemmCase {
  int64_t m, n, k;
  bool trans_a = false, trans_b = false;
  float alpha = 1, beta = 1;
  std::optional<Shape> c_shape;  // nullopt: C absent
};

// Runs one node with `num_outputs` outputs through `backend` the way the engine runs a model
// (Graph -> plan_build -> Backend::run). An empty Tensor input is an omitted optional input. The
// node is named "test_<op_type>"; its outputs "out" (one) or "out0", "out1", ... (several).
// unnamed_output0: the node's output 0 is "" (not asked for) and `outputs` gets the others.
inline Status run_node(const Backend& backend, const std::string& op_type, std::vector<Tensor> inputs, int num_outputs,
                       std::vector<Tensor>* outputs, Attrs attrs = {}, int64_t opset = 17, const std::string& domain = "",
                       bool unnamed_output0 = false) {
  Graph g;
  g.source = "test_ops";
  g.ir_version = 8;
  g.opsets[""] = domain.empty() ? opset : 17;
  if (!domain.empty()) g.opsets[domain] = opset;
  Node n;
  n.name = "test_" + op_type;
  n.op_type = op_type;
  n.domain = domain;
  n.opset = opset;
  n.attrs = std::move(attrs);
  std::vector<Tensor> fed;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    if (inputs[k].empty()) {
      n.inputs.push_back("");
      continue;
    }
    ValueInfo vi;
    vi.name = "in" + std::to_string(k);
    vi.dtype = inputs[k].dtype();
    vi.dims = inputs[k].shape();
    vi.dim_params.assign(vi.dims.size(), "");
    g.inputs.push_back(vi);
    n.inputs.push_back(vi.name);
    fed.push_back(inputs[k]);
  }
  for (int k = 0; k < num_outputs; ++k) {
    ValueInfo out;
    out.name = num_outputs == 1 ? "out" : "out" + std::to_string(k);
    if (k == 0 && unnamed_output0) {
      n.outputs.push_back("");
      continue;
    }
    n.outputs.push_back(out.name);
    g.outputs.push_back(out);
  }
  g.nodes.push_back(std::move(n));
  SS_ASSIGN_OR_RETURN(Plan plan, plan_build(g));  // the plan points into g, alive until we return
  if (!backend.supports(*plan.steps.at(0).op)) return unimplemented("backend " + std::string(backend.name()) + " lacks " + op_type);
  return backend.run(plan, std::move(fed), outputs);
}

// ---------------------------------------------------------------------------------------------
// The fixture: one backend per instantiation, a seeded generator per test.


class OpTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    seed_ = test_seed();
    rng_.seed(seed_);
    // SCOPED_TRACE for the whole test body: every failure prints the seed.
    trace_.emplace(__FILE__, __LINE__, "backend " + GetParam() + ", " + seed_trace(seed_));
    if (GetParam() == "cuda" && cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
    tolerance_floor() = GetParam() == "cpu" ? 0.0 : 1e-4;
    // Poisoned buffers: an output element the op never writes reads as NaN (-1 for integers).
    tensor_set_poison(0xFF);
    backend_ = make_backend(GetParam());
    ASSERT_NE(backend_, nullptr) << "no backend named " << GetParam();
  }
  // For tests of the CPU backend's own machinery (oneDNN's blocked layout).
  bool cpu_only() const { return GetParam() == "cpu"; }
  // Whether a matrix product's row, or a convolution's image, comes out bit-identical whatever
  // else shares its batch. The CPU backend's do (fixed row tiles, one image per product); cuBLAS
  // and cuDNN choose their kernels by shape, so on CUDA the results agree across batch sizes
  // within tolerance only (docs/architecture.md, "Determinism"). Tests of that property expect
  // that instead on such a backend (expect_elements_near).
  bool products_bitwise_across_batches() const { return GetParam() == "cpu"; }

  void TearDown() override {
    tensor_set_poison(-1);
    trace_.reset();
  }

  // Runs one node of `op_type` on `inputs` (an empty Tensor is an omitted optional input) the way
  // the engine runs a model: Graph -> plan_build -> Backend::run.
  Status run_op(const std::string& op_type, std::vector<Tensor> inputs, std::vector<Tensor>* outputs, Attrs attrs = {},
                int64_t opset = 17, const std::string& domain = "") {
    return run_node(*backend_, op_type, std::move(inputs), 1, outputs, std::move(attrs), opset, domain);
  }

  // Runs and requires success and exactly one output; returns it (empty on failure).
  Tensor run1(const std::string& op_type, std::vector<Tensor> inputs, Attrs attrs = {}, int64_t opset = 17,
              const std::string& domain = "") {
    std::vector<Tensor> outs;
    Status st = run_op(op_type, std::move(inputs), &outs, std::move(attrs), opset, domain);
    EXPECT_TRUE(st.ok()) << op_type << " failed: " << st.message();
    if (!st.ok()) return Tensor();
    EXPECT_EQ(outs.size(), 1u);
    return outs.empty() ? Tensor() : outs[0];
  }

  // Runs and requires failure with `code`, a message naming the node and containing `fragment`.
  void expect_error(StatusCode code, const std::string& fragment, const std::string& op_type,
                    std::vector<Tensor> inputs, Attrs attrs = {}, int64_t opset = 17, const std::string& domain = "") {
    std::vector<Tensor> outs;
    Status st = run_op(op_type, std::move(inputs), &outs, std::move(attrs), opset, domain);
    ASSERT_FALSE(st.ok()) << op_type << " should have failed";
    EXPECT_EQ(st.code(), code) << status_code_name(st.code()) << ": " << st.message();
    EXPECT_NE(st.message().find("node 'test_" + op_type + "'"), std::string::npos)
        << "message does not name the node: " << st.message();
    EXPECT_NE(st.message().find(fragment), std::string::npos) << "message lacks '" << fragment << "': " << st.message();
  }

  std::vector<float> rand_f32(int64_t n, float lo = -1, float hi = 1) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = d(rng_);
    return v;
  }
  std::vector<double> rand_f64(int64_t n, double lo = -1, double hi = 1) {
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<double> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = d(rng_);
    return v;
  }
  template <typename T>
  std::vector<T> rand_int(int64_t n, T lo, T hi) {
    std::uniform_int_distribution<T> d(lo, hi);
    std::vector<T> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = d(rng_);
    return v;
  }
  // Magnitude in [0.5, 2], random sign: safe divisors.
  std::vector<float> rand_divisors(int64_t n) {
    auto v = rand_f32(n, 0.5f, 2.0f);
    std::bernoulli_distribution neg(0.5);
    for (auto& x : v)
      if (neg(rng_)) x = -x;
    return v;
  }

  // Elementwise binary op on float32 operands of shapes sa and sb; the output shape is given by
  // the test (not derived), the values by broadcasting by hand.
  template <typename F>
  void check_binary_f32(const std::string& op, const Shape& sa, const Shape& sb, const Shape& sout, F ref_fn) {
    SCOPED_TRACE(op + " " + shape_to_string(sa) + " with " + shape_to_string(sb));
    const auto a = rand_f32(numel_of(sa), -3, 3);
    const auto b = op == "Div" ? rand_divisors(numel_of(sb)) : rand_f32(numel_of(sb), -3, 3);
    Tensor out = run1(op, {make(sa, a), make(sb, b)});
    std::vector<double> ref(static_cast<std::size_t>(numel_of(sout)));
    for (int64_t i = 0; i < numel_of(sout); ++i) {
      const auto idx = unravel(i, sout);
      ref[i] = ref_fn(double{a[broadcast_flat(idx, sa)]}, double{b[broadcast_flat(idx, sb)]});
    }
    expect_near(out, DType::kFloat32, sout, ref, kTolElementwise);
  }

  // Gemm with random A, B (and C) against ref_gemm; defined with the Gemm tests.
  void check_gemm(const GemmCase& g);
  // Concat of three random [2,3,4]-like tensors differing along `axis`; defined with the Concat tests.
  void check_concat(int64_t axis_attr, int64_t axis);

  uint32_t seed_ = 0;
  std::mt19937 rng_;
  std::unique_ptr<Backend> backend_;
  std::optional<::testing::ScopedTrace> trace_;
};

}  // namespace shardscore::op_test
