// Graph passes: each optimized graph must compute what the unoptimized one does (the engine with
// EngineOptions{.optimize = false} is the oracle here; test_ops checks each op against float64),
// and the rewrite must really have happened.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <random>

#include "common/test_seed.h"
#include "engine/engine.h"
#include "engine/onnx_builder.h"
#include "engine/op_plans_rnn.h"
#include "engine/passes.h"

namespace shardscore {
namespace {
using namespace shardscore::onnx_builder;

class Passes : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = test_seed();
    rng_.seed(seed_);
    trace_.emplace(__FILE__, __LINE__, seed_trace(seed_));  // every failure of the test prints it
  }
  void TearDown() override { trace_.reset(); }
  std::vector<float> random(std::size_t n, float lo = -2, float hi = 2) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng_);
    return v;
  }
  // Saves the model and loads it twice: optimized and not.
  void load_both(const onnx::ModelProto& m) {
    path_ = (std::filesystem::temp_directory_path() / ("shardscore_passes_" + std::to_string(::getpid()) + ".onnx")).string();
    std::ofstream(path_, std::ios::binary) << bytes_of(m);
    auto a = Engine::load(path_, "cpu");
    auto b = Engine::load(path_, "cpu", EngineOptions{.optimize = false});
    std::filesystem::remove(path_);
    ASSERT_TRUE(a.ok()) << a.status().message();
    ASSERT_TRUE(b.ok()) << b.status().message();
    optimized_ = std::move(a.value());
    plain_ = std::move(b.value());
  }
  int count(const std::string& op_type) const {
    int n = 0;
    for (const auto& node : optimized_->graph().nodes) n += node.op_type == op_type;
    return n;
  }
  // Runs both engines on the same random input and compares every output.
  void expect_same_outputs(const Shape& input_shape, double tol) {
    auto x = random(static_cast<std::size_t>(shape_numel(input_shape)));
    Tensor in = Tensor::copy_of(DType::kFloat32, input_shape, x.data());
    std::vector<Tensor> a, b;
    ASSERT_TRUE(optimized_->run({in}, &a).ok());
    ASSERT_TRUE(plain_->run({in}, &b).ok());
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
      ASSERT_EQ(a[k].shape(), b[k].shape());
      ASSERT_EQ(a[k].dtype(), b[k].dtype());
      if (a[k].dtype() != DType::kFloat32) {
        EXPECT_EQ(std::memcmp(a[k].raw(), b[k].raw(), a[k].nbytes()), 0) << "output " << k;
        continue;
      }
      bool any_nonzero = false;
      for (int64_t i = 0; i < a[k].numel(); ++i) {
        const float u = a[k].data<float>()[i], v = b[k].data<float>()[i];
        any_nonzero |= v != 0;
        ASSERT_NEAR(u, v, tol * std::max(1.0f, std::fabs(v))) << "output " << k << " element " << i;
      }
      EXPECT_TRUE(any_nonzero) << "test too weak: output " << k << " is all zeros";
    }
  }
  uint32_t seed_ = 0;
  std::optional<::testing::ScopedTrace> trace_;
  std::mt19937 rng_;
  std::string path_;
  std::unique_ptr<Engine> optimized_, plain_;
};

TEST_F(Passes, DemoModelFusesEachLayer) {
  const char* dir = std::getenv("SHARDSCORE_SOURCE_DIR");
  ASSERT_NE(dir, nullptr) << "SHARDSCORE_SOURCE_DIR is not set (ctest sets it)";
  auto a = Engine::load(std::string(dir) + "/data/demo_mlp.onnx", "cpu");
  auto b = Engine::load(std::string(dir) + "/data/demo_mlp.onnx", "cpu", EngineOptions{.optimize = false});
  ASSERT_TRUE(a.ok() && b.ok());
  optimized_ = std::move(a.value());
  plain_ = std::move(b.value());
  EXPECT_EQ(count("FusedGemm"), 3);
  EXPECT_EQ(count("MatMul"), 0);
  EXPECT_EQ(optimized_->pass_stats().fused_gemms, 3);
  EXPECT_EQ(optimized_->graph().nodes.size() + 6, plain_->graph().nodes.size()) << "3 Add and 3 activations absorbed";
  expect_same_outputs({37, 30}, 1e-6);
}

TEST_F(Passes, ResNetBlocksFoldBatchNormAndFuseResidualAndRelu) {
  const char* dir = std::getenv("SHARDSCORE_SOURCE_DIR");
  ASSERT_NE(dir, nullptr) << "SHARDSCORE_SOURCE_DIR is not set (ctest sets it)";
  const std::string path = std::string(dir) + "/tests/fixtures/resnet_tiny.onnx";  // BN kept by its exporter
  auto a = Engine::load(path, "cpu");
  auto b = Engine::load(path, "cpu", EngineOptions{.optimize = false});
  ASSERT_TRUE(a.ok() && b.ok());
  optimized_ = std::move(a.value());
  plain_ = std::move(b.value());
  int plain_convs = 0;
  for (const auto& n : plain_->graph().nodes) plain_convs += n.op_type == "Conv";
  EXPECT_EQ(optimized_->pass_stats().folded_batchnorms, plain_convs);
  EXPECT_EQ(count("BatchNormalization") + count("Relu") + count("Add"), 0) << "all absorbed into the convolutions";
  EXPECT_EQ(count("FusedConv") + count("Conv"), plain_convs);
  EXPECT_GT(count("FusedConv"), 0);
  expect_same_outputs({3, 3, 32, 32}, 1e-5);
}

TEST_F(Passes, ConvolutionsChainInTheBlockedLayout) {
  // X -> A (3x3, Relu) -> B (1x1, + A's output, Relu) -> C (3x3 stride 2) -> Y1
  //        \-> MaxPool -> Y2
  // X -> D (1x1, + X, Relu) -> E (1x1) -> Y3
  // Every convolution runs blocked -> blocked: X gets one ToBlocked (read by A, D and as D's
  // residual), and the values read outside the convolutions (A's output by the MaxPool, Y1, Y3)
  // a FromBlocked each.
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 16, 8, 8});
  auto ints_attr = [](onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INTS);
    for (int64_t x : v) a->add_ints(x);
  };
  add_float_tensor(&m, "Wa", {32, 16, 3, 3}, random(32 * 16 * 9, -0.2f, 0.2f));
  add_float_tensor(&m, "Ba", {32}, random(32));
  add_float_tensor(&m, "Wb", {32, 32, 1, 1}, random(32 * 32, -0.3f, 0.3f));
  add_float_tensor(&m, "Wc", {16, 32, 3, 3}, random(16 * 32 * 9, -0.2f, 0.2f));
  add_float_tensor(&m, "Bc", {16}, random(16));
  add_float_tensor(&m, "Wd", {16, 16, 1, 1}, random(16 * 16, -0.3f, 0.3f));
  add_float_tensor(&m, "We", {16, 16, 1, 1}, random(16 * 16, -0.3f, 0.3f));
  ints_attr(add_node(&m, "Conv", {"X", "Wa", "Ba"}, {"a"}, "A"), "pads", {1, 1, 1, 1});
  add_node(&m, "Relu", {"a"}, {"ar"}, "A_relu");
  add_node(&m, "Conv", {"ar", "Wb"}, {"b"}, "B");
  add_node(&m, "Add", {"b", "ar"}, {"bs"}, "B_add");
  add_node(&m, "Relu", {"bs"}, {"br"}, "B_relu");
  auto* c = add_node(&m, "Conv", {"br", "Wc", "Bc"}, {"Y1"}, "C");
  ints_attr(c, "pads", {1, 1, 1, 1});
  ints_attr(c, "strides", {2, 2});
  ints_attr(add_node(&m, "MaxPool", {"ar"}, {"Y2"}, "pool"), "kernel_shape", {2, 2});
  add_node(&m, "Conv", {"X", "Wd"}, {"d"}, "D");
  add_node(&m, "Add", {"d", "X"}, {"ds"}, "D_add");
  add_node(&m, "Relu", {"ds"}, {"dr"}, "D_relu");
  add_node(&m, "Conv", {"dr", "We"}, {"Y3"}, "E");
  add_output(&m, "Y1", onnx::TensorProto_DataType_FLOAT, {-1, 16, 4, 4});
  add_output(&m, "Y2", onnx::TensorProto_DataType_FLOAT, {-1, 32, 7, 7});
  add_output(&m, "Y3", onnx::TensorProto_DataType_FLOAT, {-1, 16, 8, 8});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  // 16 and 32 channels are whole blocks of 8 or 16: every convolution goes to oneDNN.
  EXPECT_EQ(optimized_->pass_stats().blocked_convs, 5);
  EXPECT_EQ(count("FusedConv"), 5);
  EXPECT_EQ(count("Conv") + count("Relu") + count("Add"), 0);
  EXPECT_EQ(count("FromBlocked"), 3);
  EXPECT_EQ(count("ToBlocked"), 1);
  for (const auto& n : optimized_->graph().nodes) {
    if (n.op_type != "FusedConv") continue;
    EXPECT_EQ(n.attr("src_layout")->s, "blocked") << n.name;
    EXPECT_EQ(n.attr("dst_layout")->s, "blocked") << n.name;
  }
  expect_same_outputs({3, 16, 8, 8}, 1e-5);
}

TEST_F(Passes, AResidualBroadcastOverChannelsKeepsItsConvolutionInNchw) {
  // relu(conv(X) + mean over X's channels): the residual is [N, 1, H, W]. In the blocked layout it
  // had the output's shape where the output's channels fit one block (16 on AVX-512) and was added
  // to the first channel only; with more channels the batch was refused. Both convolutions (16 and
  // 32 output channels) stay in NCHW, where Add broadcasts; the one with a full residual is blocked.
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 16, 6, 6});
  for (int64_t out : {16, 32}) {
    const std::string k = std::to_string(out);
    add_float_tensor(&m, "W" + k, {out, 16, 1, 1}, random(static_cast<std::size_t>(out) * 16, -0.3f, 0.3f));
    add_node(&m, "Conv", {"X", "W" + k}, {"c" + k}, "conv" + k);
    add_node(&m, "Add", {"c" + k, "xm"}, {"s" + k}, "add" + k);
    add_node(&m, "Relu", {"s" + k}, {"Y" + k}, "relu" + k);
    add_output(&m, "Y" + k, onnx::TensorProto_DataType_FLOAT, {-1, out, 6, 6});
  }
  auto* mean = add_node(&m, "ReduceMean", {"X"}, {"xm"}, "mean");
  auto* axes = mean->add_attribute();
  axes->set_name("axes");
  axes->set_type(onnx::AttributeProto_AttributeType_INTS);
  axes->add_ints(1);
  // Topological order: the mean before its readers.
  auto* nodes = m.mutable_graph()->mutable_node();
  std::rotate(nodes->begin(), nodes->end() - 1, nodes->end());
  add_float_tensor(&m, "Wf", {16, 16, 1, 1}, random(16 * 16, -0.3f, 0.3f));
  add_node(&m, "Conv", {"X", "Wf"}, {"cf"}, "full");
  add_node(&m, "Add", {"cf", "X"}, {"Yf"}, "full_add");
  add_output(&m, "Yf", onnx::TensorProto_DataType_FLOAT, {-1, 16, 6, 6});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  EXPECT_EQ(count("FusedConv"), 3);
  EXPECT_EQ(optimized_->pass_stats().blocked_convs, 1) << "only the convolution whose residual has its channels";
  expect_same_outputs({2, 16, 6, 6}, 1e-5);
}

namespace {
// How an exporter writes the exact GELU 0.5 * x * (1 + erf(x / sqrt 2)).
enum class GeluOrder {
  kTorchScript,   // Div(x, sqrt 2) -> Erf -> Add 1 -> Mul x -> Mul 0.5
  kDynamo,        // ... Add 1 -> Mul(0.5, .) -> Mul(x, .)
  kHalfXFirst,    // Mul(x, 0.5) times (Add 1), the argument as Mul(x, 1 / sqrt 2)
};
// The chain on value `x`, giving `y`; node and constant names start with p.
void add_gelu_chain(onnx::ModelProto* m, const std::string& x, const std::string& y, const std::string& p,
                    GeluOrder order = GeluOrder::kTorchScript) {
  add_float_tensor(m, p + "sqrt2", {}, {1.41421354f});
  add_float_tensor(m, p + "rsqrt2", {1}, {0.707106769f});
  add_float_tensor(m, p + "one", {}, {1.0f});
  add_float_tensor(m, p + "half", {}, {0.5f});
  if (order == GeluOrder::kHalfXFirst)
    add_node(m, "Mul", {p + "rsqrt2", x}, {p + "d"}, p + "div");
  else
    add_node(m, "Div", {x, p + "sqrt2"}, {p + "d"}, p + "div");
  add_node(m, "Erf", {p + "d"}, {p + "e"}, p + "erf");
  add_node(m, "Add", {p + "one", p + "e"}, {p + "a"}, p + "add");
  switch (order) {
    case GeluOrder::kTorchScript:
      add_node(m, "Mul", {x, p + "a"}, {p + "m"}, p + "mul");
      add_node(m, "Mul", {p + "m", p + "half"}, {y}, p + "mul_half");
      break;
    case GeluOrder::kDynamo:
      add_node(m, "Mul", {p + "half", p + "a"}, {p + "m"}, p + "mul_half");
      add_node(m, "Mul", {x, p + "m"}, {y}, p + "mul");
      break;
    case GeluOrder::kHalfXFirst:
      add_node(m, "Mul", {x, p + "half"}, {p + "hx"}, p + "mul_half");
      add_node(m, "Mul", {p + "a", p + "hx"}, {y}, p + "mul");
      break;
  }
}
}  // namespace

TEST_F(Passes, GeluChainInEveryExportersOrderBecomesOneGelu) {
  // The TorchScript exporter's (x * s) * 0.5, torch 2.11's dynamo exporter's x * (0.5 * s), and
  // (0.5 * x) * s with the argument as Mul(x, 1 / sqrt 2).
  for (GeluOrder order : {GeluOrder::kTorchScript, GeluOrder::kDynamo, GeluOrder::kHalfXFirst}) {
    SCOPED_TRACE(order == GeluOrder::kTorchScript ? "torchscript" : order == GeluOrder::kDynamo ? "dynamo" : "half x first");
    auto m = new_model();
    add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 300});
    add_gelu_chain(&m, "X", "Y", "g_", order);
    add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 300});
    ASSERT_NO_FATAL_FAILURE(load_both(m));
    EXPECT_EQ(optimized_->pass_stats().fused_gelus, 1);
    EXPECT_EQ(count("Gelu"), 1);
    EXPECT_EQ(optimized_->graph().nodes.size(), 1u);
    // The fused op does the TorchScript order's float32 operations; halving is exact, so the same
    // bits in the dynamo order too. Mul by 1 / sqrt 2 rounds erf's argument differently from the
    // Div the fused op does (an ulp at most).
    expect_same_outputs({7, 300}, order == GeluOrder::kHalfXFirst ? 1e-6 : 0.0);
  }
}

TEST_F(Passes, GeluChainWhoseConstantsRaiseTheRankIsLeftAlone) {
  // Constants of shape [1, 1, 1] broadcast X [N, 5] to [1, N, 5]: a fused Gelu kept X's shape.
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 5});
  add_float_tensor(&m, "c_sqrt2", {1, 1, 1}, {1.41421354f});
  add_float_tensor(&m, "c_one", {1, 1, 1}, {1.0f});
  add_float_tensor(&m, "c_half", {1, 1, 1}, {0.5f});
  add_node(&m, "Div", {"X", "c_sqrt2"}, {"d"}, "div");
  add_node(&m, "Erf", {"d"}, {"e"}, "erf");
  add_node(&m, "Add", {"c_one", "e"}, {"a"}, "add");
  add_node(&m, "Mul", {"X", "a"}, {"mm"}, "mul");
  add_node(&m, "Mul", {"mm", "c_half"}, {"Y"}, "mul_half");
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {1, -1, 5});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  EXPECT_EQ(optimized_->pass_stats().fused_gelus, 0);
  expect_same_outputs({3, 5}, 0.0);  // shapes included: [1, 3, 5]
}

TEST_F(Passes, FoldedBatchNormWeightsTakeFreeNames) {
  // Conv "c1" + BN writes its folded weights under a new name: one that an initializer of the model
  // already had ("c1/bn_folded_W", read by conv c2) was overwritten, and c2 computed with c1's.
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 4, 5, 5});
  add_float_tensor(&m, "W1", {4, 4, 1, 1}, random(16, -0.5f, 0.5f));
  add_float_tensor(&m, "c1/bn_folded_W", {4, 4, 1, 1}, random(16, -0.5f, 0.5f));
  for (const char* p : {"scale", "shift", "mean"}) add_float_tensor(&m, p, {4}, random(4));
  add_float_tensor(&m, "var", {4}, random(4, 0.5f, 2.0f));
  add_node(&m, "Conv", {"X", "W1"}, {"a"}, "c1");
  add_node(&m, "BatchNormalization", {"a", "scale", "shift", "mean", "var"}, {"Y1"}, "bn");
  add_node(&m, "Conv", {"X", "c1/bn_folded_W"}, {"Y2"}, "c2");
  add_output(&m, "Y1", onnx::TensorProto_DataType_FLOAT, {-1, 4, 5, 5});
  add_output(&m, "Y2", onnx::TensorProto_DataType_FLOAT, {-1, 4, 5, 5});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  EXPECT_EQ(optimized_->pass_stats().folded_batchnorms, 1);
  expect_same_outputs({2, 4, 5, 5}, 1e-5);
}

TEST_F(Passes, BlockedLayoutValuesTakeFreeNames) {
  // The blocked pass names X's blocked copy "X::to_blocked" and a convolution's blocked output
  // "<y>::blocked": a model with values of those names must keep its own.
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 16, 4, 4});
  add_float_tensor(&m, "W", {16, 16, 1, 1}, random(256, -0.3f, 0.3f));
  add_float_tensor(&m, "X::to_blocked", {16, 4, 4}, random(256));
  add_float_tensor(&m, "c::blocked", {16, 4, 4}, random(256));
  add_node(&m, "Conv", {"X", "W"}, {"c"}, "conv");
  add_node(&m, "Add", {"c", "X"}, {"Y1"}, "residual");
  add_node(&m, "Add", {"X", "X::to_blocked"}, {"Y2"}, "own1");
  add_node(&m, "Add", {"Y1", "c::blocked"}, {"Y3"}, "own2");
  add_output(&m, "Y2", onnx::TensorProto_DataType_FLOAT, {-1, 16, 4, 4});
  add_output(&m, "Y3", onnx::TensorProto_DataType_FLOAT, {-1, 16, 4, 4});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  expect_same_outputs({2, 16, 4, 4}, 1e-5);
}

TEST_F(Passes, GeluChainWhoseHalfIsReadElsewhereIsLeftAlone) {
  // The intermediate (0.5 * (1 + erf)) or (0.5 * x) is also a graph output: the chain must stay.
  for (GeluOrder order : {GeluOrder::kDynamo, GeluOrder::kHalfXFirst}) {
    SCOPED_TRACE(order == GeluOrder::kDynamo ? "dynamo" : "half x first");
    auto m = new_model();
    add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 8});
    add_gelu_chain(&m, "X", "Y", "g_", order);
    add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 8});
    add_output(&m, order == GeluOrder::kDynamo ? "g_m" : "g_hx", onnx::TensorProto_DataType_FLOAT, {-1, 8});
    ASSERT_NO_FATAL_FAILURE(load_both(m));
    EXPECT_EQ(optimized_->pass_stats().fused_gelus, 0);
    EXPECT_EQ(count("Erf"), 1);
    expect_same_outputs({4, 8}, 0.0);
  }
}

TEST_F(Passes, GeluJoinsTheMatMulBeforeIt) {
  // BERT's intermediate layer: MatMul + bias, then the GELU chain: one FusedGemm.
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3, 16});
  add_float_tensor(&m, "W", {16, 40}, random(640, -0.5f, 0.5f));
  add_float_tensor(&m, "B", {40}, random(40));
  add_node(&m, "MatMul", {"X", "W"}, {"mm"}, "mm");
  add_node(&m, "Add", {"mm", "B"}, {"h"}, "bias");
  add_gelu_chain(&m, "h", "Y", "g_");
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 3, 40});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  ASSERT_EQ(optimized_->graph().nodes.size(), 1u);
  const Node& n = optimized_->graph().nodes[0];
  EXPECT_EQ(n.op_type, "FusedGemm");
  ASSERT_NE(n.attr("activation"), nullptr);
  EXPECT_EQ(n.attr("activation")->s, "Gelu");
  expect_same_outputs({5, 3, 16}, 1e-5);
}

TEST_F(Passes, GeluChainWithOtherConstantsIsLeftAlone) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 8});
  add_gelu_chain(&m, "X", "Y", "g_");
  for (auto& t : *m.mutable_graph()->mutable_initializer())
    if (t.name() == "g_half") {
      const float v = 0.25f;
      t.set_raw_data(std::string(reinterpret_cast<const char*>(&v), sizeof v));
    }
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 8});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  EXPECT_EQ(optimized_->pass_stats().fused_gelus, 0);
  EXPECT_EQ(count("Erf"), 1);
  expect_same_outputs({4, 8}, 0.0);
}

TEST_F(Passes, MatMulAddActivationChainsFuse) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 2, 5});  // 3-D: rows folded
  add_float_tensor(&m, "W", {5, 4}, random(20));
  add_float_tensor(&m, "B", {1, 4}, random(4));
  add_float_tensor(&m, "W2", {4, 3}, random(12));
  add_float_tensor(&m, "C2", {3}, random(3, 0.5f, 1.5f));  // positive: the final Relu keeps most values
  add_node(&m, "MatMul", {"X", "W"}, {"mm"}, "mm");
  add_node(&m, "Add", {"B", "mm"}, {"sum"}, "add");  // bias on the left
  add_node(&m, "Tanh", {"sum"}, {"h"}, "tanh");
  auto* gemm = add_node(&m, "Gemm", {"h2", "W2", "C2"}, {"g"}, "gemm");
  set_int_attr(gemm, "transB", 0);
  set_float_attr(gemm, "alpha", 0.5f);
  set_float_attr(gemm, "beta", 2.0f);
  // Move the Gemm after the Reshape that feeds it.
  auto* shape = add_node(&m, "Constant", {}, {"flat"}, "flat_shape");
  auto* value = shape->add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto_AttributeType_TENSOR);
  value->mutable_t()->set_data_type(onnx::TensorProto_DataType_INT64);
  value->mutable_t()->add_dims(2);
  value->mutable_t()->add_int64_data(-1);
  value->mutable_t()->add_int64_data(4);
  add_node(&m, "Reshape", {"h", "flat"}, {"h2"}, "reshape");
  add_node(&m, "Relu", {"g"}, {"Y"}, "relu");
  // Sort the nodes: Constant, MatMul, Add, Tanh, Reshape, Gemm, Relu.
  auto* nodes = m.mutable_graph()->mutable_node();
  std::vector<onnx::NodeProto> order{nodes->at(4), nodes->at(0), nodes->at(1), nodes->at(2), nodes->at(5), nodes->at(3), nodes->at(6)};
  nodes->Clear();
  for (auto& n : order) *nodes->Add() = n;
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  EXPECT_EQ(count("FusedGemm"), 2);
  EXPECT_EQ(count("Tanh") + count("Relu") + count("Add") + count("Gemm") + count("MatMul"), 0);
  EXPECT_EQ(count("Constant"), 0) << "the Constant was folded";
  expect_same_outputs({64, 2, 5}, 1e-6);
}

TEST_F(Passes, NothingFusesAcrossAValueSomeoneElseReads) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  add_float_tensor(&m, "W", {3, 3}, random(9));
  add_float_tensor(&m, "B", {3}, random(3));
  add_node(&m, "MatMul", {"X", "W"}, {"mm"}, "mm");
  add_node(&m, "Add", {"mm", "B"}, {"Y"}, "add");
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  add_output(&m, "mm", onnx::TensorProto_DataType_FLOAT, {-1, 3});  // the product is an output too
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  // The Add stays; the MatMul alone becomes a bias-free FusedGemm (pass_constant_matmul_weights).
  EXPECT_EQ(count("Add"), 1);
  EXPECT_EQ(count("MatMul"), 0);
  ASSERT_EQ(count("FusedGemm"), 1);
  for (const auto& n : optimized_->graph().nodes)
    if (n.op_type == "FusedGemm") EXPECT_EQ(n.inputs, (std::vector<std::string>{"X", "W"}));
  expect_same_outputs({4, 3}, 1e-6);
}

// CPU backend: a MatMul by constant 2-D float32 weights with no bias after it becomes a bias-free
// FusedGemm of the same inputs (pass_constant_matmul_weights: weights packed once for oneDNN), its
// rows folded from a 3-D A; a MatMul by an activation, or by 3-D weights, stays a MatMul.
TEST_F(Passes, MatMulByConstantWeightsAloneBecomesFusedGemm) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3, 16});
  add_float_tensor(&m, "W", {16, 256}, random(16 * 256));  // 256 columns: rows padded where oneDNN keeps them row-major
  add_float_tensor(&m, "W3", {1, 256, 8}, random(256 * 8));
  add_node(&m, "MatMul", {"X", "W"}, {"h"}, "proj");  // [N, 3, 256]
  add_node(&m, "Add", {"h", "h"}, {"s"}, "double");    // no bias: the Add stays
  add_node(&m, "MatMul", {"s", "W3"}, {"Y"}, "batched");  // [N, 3, 8]: 3-D weights, stays
  set_ints_attr(add_node(&m, "Transpose", {"h"}, {"ht"}, "t"), "perm", {0, 2, 1});
  add_node(&m, "MatMul", {"h", "ht"}, {"G"}, "gram");  // [N, 3, 3]: by an activation, stays
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 3, 8});
  add_output(&m, "G", onnx::TensorProto_DataType_FLOAT, {-1, 3, 3});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  ASSERT_EQ(count("FusedGemm"), 1);
  EXPECT_EQ(count("MatMul"), 2);
  EXPECT_EQ(count("Add"), 1);
  for (const auto& n : optimized_->graph().nodes)
    if (n.op_type == "FusedGemm") EXPECT_EQ(n.inputs, (std::vector<std::string>{"X", "W"}));
  expect_same_outputs({5, 3, 16}, 1e-5);
}

TEST_F(Passes, ConstantsFoldAndDeadNodesGo) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  add_float_tensor(&m, "K", {3}, random(3));
  auto* cast = add_node(&m, "Cast", {"K"}, {"K64"}, "to_double");
  set_int_attr(cast, "to", onnx::TensorProto_DataType_DOUBLE);
  auto* back = add_node(&m, "Cast", {"K64"}, {"K32"}, "to_float");
  set_int_attr(back, "to", onnx::TensorProto_DataType_FLOAT);
  add_node(&m, "Mul", {"X", "K32"}, {"Y"}, "mul");
  add_node(&m, "Sigmoid", {"X"}, {"unused"}, "dead_branch");
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  EXPECT_EQ(optimized_->pass_stats().folded_constants, 2);
  EXPECT_EQ(optimized_->pass_stats().removed_nodes, 1);
  ASSERT_EQ(optimized_->graph().nodes.size(), 1u);
  EXPECT_EQ(optimized_->graph().nodes[0].op_type, "Mul");
  EXPECT_FALSE(optimized_->graph().initializers.count("K")) << "inputs of folded nodes nobody reads are dropped";
  expect_same_outputs({5, 3}, 0);
}

}  // namespace
}  // namespace shardscore

namespace shardscore {
namespace {
using namespace shardscore::onnx_builder;

// One self-attention block as transformers export it: X [N, 6, 8] projected to Q, K, V, split into
// 2 heads of 4 by Reshape, Transpose(Q) x Transpose(K), scaled, masked, Softmax, x Transpose(V),
// Transpose back, Reshape to [N, 6, 8].
struct AttentionBlock {
  bool divide = true;          // Div(scores, 2) or Mul(0.5, scores) (the scalar on the left)
  bool mask = true;            // Add a [1, 1, 1, 6] mask (keys 3 and 5 masked out)
  bool mask_left = false;      // Add(mask, scores)
  bool probs_output = false;   // the softmax's result is a graph output too
  bool mask_by_mul = false;    // the mask computed from X by a Mul of its own (BERT's (1 - m) * -big)
  bool sdpa = false;           // as SDPA exports: Q and K^T each scaled by sqrt(0.5), P through Where(IsNaN(P), 0, P)
};

class AttentionPasses : public Passes {
 protected:
  onnx::ModelProto block(const AttentionBlock& spec) {
    auto m = new_model();
    add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 6, 8});
    auto ints = [&](const std::string& name, const std::vector<int64_t>& v) {
      auto* t = m.mutable_graph()->add_initializer();
      t->set_name(name);
      t->set_data_type(onnx::TensorProto_DataType_INT64);
      t->add_dims(static_cast<int64_t>(v.size()));
      for (int64_t x : v) t->add_int64_data(x);
    };
    ints("heads_shape", {0, 6, 2, 4});
    ints("flat_shape", {0, 6, 8});
    for (const char* w : {"Wq", "Wk", "Wv"}) add_float_tensor(&m, w, {8, 8}, random(64, -0.7f, 0.7f));
    add_float_tensor(&m, "scale", {}, {spec.divide ? 2.0f : 0.5f});
    add_float_tensor(&m, "mask", {1, 1, 1, 6}, {0, 0, 0, -10000, 0, -10000});
    for (const char* p : {"q", "k", "v"}) {
      const std::string s(p);
      add_node(&m, "MatMul", {"X", "W" + s}, {s + "2"}, s + "_proj");
      add_node(&m, "Reshape", {s + "2", "heads_shape"}, {s + "4"}, s + "_heads");
      set_ints_attr(add_node(&m, "Transpose", {s + "4"}, {s + "t"}, s + "_t"), "perm",
                    s == "k" ? std::vector<int64_t>{0, 2, 3, 1} : std::vector<int64_t>{0, 2, 1, 3});
    }
    if (spec.sdpa) {
      add_float_tensor(&m, "sqrt_scale", {}, {0.70710677f});
      add_float_tensor(&m, "zero", {}, {0.0f});
      add_node(&m, "Mul", {"qt", "sqrt_scale"}, {"qs"}, "q_scale");
      add_node(&m, "Mul", {"sqrt_scale", "kt"}, {"ks"}, "k_scale");
      add_node(&m, "MatMul", {"qs", "ks"}, {"scaled"}, "qk");
    } else {
      add_node(&m, "MatMul", {"qt", "kt"}, {"scores"}, "qk");
      if (spec.divide) add_node(&m, "Div", {"scores", "scale"}, {"scaled"}, "scale");
      else add_node(&m, "Mul", {"scale", "scores"}, {"scaled"}, "scale");
    }
    std::string logits = "scaled", mask = "mask";
    if (spec.mask_by_mul) {
      ints("mask_shape", {0, 1, 1, 6});
      add_float_tensor(&m, "mask_scale", {}, {-3.0f});
      auto* mean = add_node(&m, "ReduceMean", {"X"}, {"x_mean"}, "x_mean");
      set_ints_attr(mean, "axes", {2});
      add_node(&m, "Reshape", {"x_mean", "mask_shape"}, {"mask_raw"}, "mask_reshape");
      add_node(&m, "Mul", {"mask_raw", "mask_scale"}, {"mask_mul"}, "mask_mul");
      mask = "mask_mul";
    }
    if (spec.mask) {
      add_node(&m, "Add", spec.mask_left ? std::vector<std::string>{mask, "scaled"} : std::vector<std::string>{"scaled", mask},
               {"masked"}, "mask_add");
      logits = "masked";
    }
    set_int_attr(add_node(&m, "Softmax", {logits}, {"probs"}, "softmax"), "axis", -1);
    std::string probs = "probs";
    if (spec.sdpa) {
      add_node(&m, "IsNaN", {"probs"}, {"probs_nan"}, "isnan");
      add_node(&m, "Where", {"probs_nan", "zero", "probs"}, {"probs_clean"}, "nan_to_zero");
      probs = "probs_clean";
    }
    add_node(&m, "MatMul", {probs, "vt"}, {"context"}, "pv");
    set_ints_attr(add_node(&m, "Transpose", {"context"}, {"context_t"}, "back"), "perm", {0, 2, 1, 3});
    add_node(&m, "Reshape", {"context_t", "flat_shape"}, {"Y"}, "merge_heads");
    add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 6, 8});
    if (spec.probs_output) add_output(&m, "probs", onnx::TensorProto_DataType_FLOAT, {-1, 2, 6, 6});
    return m;
  }
};

TEST_F(AttentionPasses, TransformersAttentionBecomesOneOp) {
  for (const AttentionBlock spec : {AttentionBlock{}, AttentionBlock{.divide = false, .mask_left = true},
                                    AttentionBlock{.mask = false}, AttentionBlock{.mask_left = true, .mask_by_mul = true},
                                    AttentionBlock{.sdpa = true}}) {
    SCOPED_TRACE(std::string(spec.divide ? "Div" : "Mul") + (spec.mask ? (spec.mask_left ? ", mask left" : ", mask") : ", no mask") +
                 (spec.mask_by_mul ? " made by a Mul" : "") + (spec.sdpa ? ", SDPA's form" : ""));
    ASSERT_NO_FATAL_FAILURE(load_both(block(spec)));
    EXPECT_EQ(optimized_->pass_stats().fused_attentions, 1);
    EXPECT_EQ(count("Attention"), 1);
    for (const char* gone : {"Softmax", "Div", "Add", "IsNaN", "Where"}) EXPECT_EQ(count(gone), 0) << gone;
    EXPECT_EQ(count("Transpose"), spec.sdpa ? 1 : 0) << "SDPA's form: the op reads the graph's own K^T";
    EXPECT_EQ(count("Mul"), spec.mask_by_mul ? 1 : 0) << "only the mask's own Mul stays";
    // The three projections stay, as bias-free FusedGemm on the CPU (pass_constant_matmul_weights).
    EXPECT_EQ(count("FusedGemm"), 3) << "the three projections stay";
    EXPECT_EQ(count("MatMul"), 0);
    const Node* att = nullptr;
    for (const auto& n : optimized_->graph().nodes)
      if (n.op_type == "Attention") att = &n;
    ASSERT_NE(att, nullptr);
    EXPECT_EQ(att->domain, "shardscore");
    EXPECT_EQ(att->inputs.size(), spec.mask ? 4u : 3u);
    EXPECT_EQ(att->attr_int("scale_divides", -1), spec.divide && !spec.sdpa ? 1 : 0);
    EXPECT_EQ(att->attr_float("scale", 0), spec.sdpa ? 0.70710677f * 0.70710677f : spec.divide ? 2.0f : 0.5f);
    EXPECT_EQ(att->attr_int("keys_transposed", 0), spec.sdpa ? 1 : 0);
    EXPECT_EQ(att->attr_int("nan_to_zero", 0), spec.sdpa ? 1 : 0);
    expect_same_outputs({3, 6, 8}, 1e-5);
  }
}

TEST_F(AttentionPasses, AttentionWhoseProbabilitiesAreReadElsewhereIsLeftAlone) {
  ASSERT_NO_FATAL_FAILURE(load_both(block({.probs_output = true})));
  EXPECT_EQ(optimized_->pass_stats().fused_attentions, 0);
  EXPECT_EQ(count("Attention"), 0);
  EXPECT_EQ(count("Softmax"), 1);
  expect_same_outputs({2, 6, 8}, 1e-6);
}

TEST_F(AttentionPasses, FuseAttentionOffKeepsTheChain) {
  const auto m = block({});
  const std::string path =
      (std::filesystem::temp_directory_path() / ("shardscore_attention_" + std::to_string(::getpid()) + ".onnx")).string();
  std::ofstream(path, std::ios::binary) << bytes_of(m);
  auto off = Engine::load(path, "cpu", EngineOptions{.fuse_attention = false});
  ::setenv("SHARDSCORE_FUSE_ATTENTION", "0", 1);
  auto env_off = Engine::load(path, "cpu");
  ::unsetenv("SHARDSCORE_FUSE_ATTENTION");
  auto on = Engine::load(path, "cpu");
  std::filesystem::remove(path);
  ASSERT_TRUE(off.ok() && env_off.ok() && on.ok());
  EXPECT_EQ((*off)->pass_stats().fused_attentions, 0);
  EXPECT_EQ((*env_off)->pass_stats().fused_attentions, 0) << "SHARDSCORE_FUSE_ATTENTION=0";
  EXPECT_EQ((*on)->pass_stats().fused_attentions, 1);
}

}  // namespace
}  // namespace shardscore

namespace shardscore {
namespace {
using namespace shardscore::onnx_builder;

// A transformer's sublayer output: LayerNormalization(MatMul(X, W) + bias + X), the sum also a
// graph output when `sum_output`.
onnx::ModelProto residual_block(const std::function<std::vector<float>(std::size_t)>& random, bool sum_output) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 5, 16});
  add_float_tensor(&m, "W", {16, 16}, random(256));
  add_float_tensor(&m, "B", {16}, random(16));
  add_float_tensor(&m, "gamma", {16}, random(16));
  add_float_tensor(&m, "beta", {16}, random(16));
  add_node(&m, "MatMul", {"X", "W"}, {"h"}, "dense");
  add_node(&m, "Add", {"h", "B"}, {"hb"}, "bias");
  add_node(&m, "Add", {"hb", "X"}, {"sum"}, "residual");
  set_int_attr(add_node(&m, "LayerNormalization", {"sum", "gamma", "beta"}, {"Y"}, "norm"), "axis", -1);
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 5, 16});
  if (sum_output) add_output(&m, "sum", onnx::TensorProto_DataType_FLOAT, {-1, 5, 16});
  return m;
}

TEST_F(Passes, ResidualAddJoinsTheLayerNormalizationBitForBit) {
  ASSERT_NO_FATAL_FAILURE(load_both(residual_block([&](std::size_t n) { return random(n); }, false)));
  EXPECT_EQ(optimized_->pass_stats().fused_add_layer_norms, 1);
  EXPECT_EQ(count("AddLayerNormalization"), 1);
  EXPECT_EQ(count("LayerNormalization"), 0);
  EXPECT_EQ(count("Add"), 0);
  EXPECT_EQ(count("FusedGemm"), 1) << "the bias Add went into the product, the residual one here";
  expect_same_outputs({4, 5, 16}, 0.0);
}

TEST_F(Passes, ResidualSumReadElsewhereStaysAnAdd) {
  ASSERT_NO_FATAL_FAILURE(load_both(residual_block([&](std::size_t n) { return random(n); }, true)));
  EXPECT_EQ(optimized_->pass_stats().fused_add_layer_norms, 0);
  EXPECT_EQ(count("LayerNormalization"), 1);
  expect_same_outputs({2, 5, 16}, 0.0);
}

// ---- 1-D convolutions and pools as 2-D ones (pass_spatial_1d_as_2d) ----

struct Conv1dSpec {
  int64_t c, m, k, group = 1, stride = 1, dilation = 1, pb = 0, pe = 0;
  std::string auto_pad;  // "" = NOTSET, with pads [pb, pe]
  bool bias = true;
};

// Conv1d in float64 by the spec's formulas: X [n, c, l], W [m, c/group, k], B [m] or empty.
// Returns Y [n, m, lout] and its shape.
std::vector<float> conv1d_reference(const Conv1dSpec& s, const std::vector<float>& x, const std::vector<float>& w,
                                    const std::vector<float>& b, int64_t n, int64_t l, Shape* y_shape) {
  const int64_t dk = s.dilation * (s.k - 1) + 1;
  int64_t pb = s.pb, pe = s.pe, lout = 0;
  if (s.auto_pad == "SAME_UPPER" || s.auto_pad == "SAME_LOWER") {
    lout = (l + s.stride - 1) / s.stride;
    const int64_t total = std::max<int64_t>(0, (lout - 1) * s.stride + dk - l);
    pb = s.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
  } else {
    if (s.auto_pad == "VALID") pb = pe = 0;
    lout = (l + pb + pe - dk) / s.stride + 1;
  }
  const int64_t cg = s.c / s.group, mg = s.m / s.group;
  std::vector<float> y(static_cast<std::size_t>(n * s.m * lout));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < s.m; ++o)
      for (int64_t t = 0; t < lout; ++t) {
        double acc = b.empty() ? 0.0 : b[o];
        for (int64_t ci = 0; ci < cg; ++ci)
          for (int64_t j = 0; j < s.k; ++j) {
            const int64_t at = t * s.stride - pb + j * s.dilation;
            if (at < 0 || at >= l) continue;
            const int64_t ch = (o / mg) * cg + ci;
            acc += static_cast<double>(x[(i * s.c + ch) * l + at]) * w[(o * cg + ci) * s.k + j];
          }
        y[(i * s.m + o) * lout + t] = static_cast<float>(acc);
      }
  *y_shape = {n, s.m, lout};
  return y;
}

onnx::NodeProto* add_conv1d(onnx::ModelProto* m, const Conv1dSpec& s, const std::string& x, const std::string& w,
                            const std::string& b, const std::string& y, const std::string& name) {
  auto* n = add_node(m, "Conv", b.empty() ? std::vector<std::string>{x, w} : std::vector<std::string>{x, w, b}, {y}, name);
  if (s.group != 1) set_int_attr(n, "group", s.group);
  if (s.stride != 1) set_ints_attr(n, "strides", {s.stride});
  if (s.dilation != 1) set_ints_attr(n, "dilations", {s.dilation});
  if (s.auto_pad.empty()) {
    if (s.pb || s.pe) set_ints_attr(n, "pads", {s.pb, s.pe});
  } else {
    auto* a = n->add_attribute();
    a->set_name("auto_pad");
    a->set_type(onnx::AttributeProto_AttributeType_STRING);
    a->set_s(s.auto_pad);
  }
  return n;
}

void expect_near_all(const Tensor& got, const Shape& shape, const std::vector<float>& want, double tol) {
  ASSERT_EQ(got.shape(), shape);
  bool any_nonzero = false;
  for (int64_t i = 0; i < got.numel(); ++i) {
    any_nonzero |= want[i] != 0;
    ASSERT_NEAR(got.data<float>()[i], want[i], tol * std::max(1.0f, std::fabs(want[i]))) << "element " << i;
  }
  EXPECT_TRUE(any_nonzero) << "test too weak: the reference is all zeros";
}

TEST_F(Passes, Conv1dMatchesTheSpecAsA2dConvolution) {
  // Strides, dilations, asymmetric pads, groups (depthwise too), auto_pad SAME_UPPER / SAME_LOWER /
  // VALID, no bias, and 16 channels (oneDNN, blocked): optimized and not, against float64.
  const std::vector<Conv1dSpec> specs = {
      {.c = 4, .m = 6, .k = 3, .group = 2, .stride = 2, .dilation = 2, .pb = 1, .pe = 2},
      {.c = 3, .m = 5, .k = 4, .stride = 2, .auto_pad = "SAME_UPPER"},
      {.c = 3, .m = 5, .k = 4, .stride = 3, .auto_pad = "SAME_LOWER"},
      {.c = 2, .m = 3, .k = 2, .auto_pad = "SAME_LOWER", .bias = false},
      {.c = 4, .m = 4, .k = 3, .group = 4, .dilation = 3, .auto_pad = "VALID"},
      {.c = 16, .m = 16, .k = 5, .pb = 2, .pe = 2},
      {.c = 16, .m = 32, .k = 3, .stride = 2, .pb = 0, .pe = 1},
  };
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const Conv1dSpec& s = specs[i];
    SCOPED_TRACE("spec " + std::to_string(i));
    const int64_t n = 2, l = 11;
    auto m = new_model();
    add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, s.c, l});
    const auto w = random(static_cast<std::size_t>(s.m * (s.c / s.group) * s.k), -0.5f, 0.5f);
    const auto b = s.bias ? random(static_cast<std::size_t>(s.m)) : std::vector<float>{};
    add_float_tensor(&m, "W", {s.m, s.c / s.group, s.k}, w);
    if (s.bias) add_float_tensor(&m, "B", {s.m}, b);
    add_conv1d(&m, s, "X", "W", s.bias ? "B" : "", "Y", "conv");
    add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, s.m, -1});
    ASSERT_NO_FATAL_FAILURE(load_both(m));
    EXPECT_EQ(optimized_->pass_stats().spatial_1d_as_2d, 1);
    EXPECT_EQ(plain_->pass_stats().spatial_1d_as_2d, 1) << "the rewrite runs unoptimized too: nothing else runs 1-D";
    const auto x = random(static_cast<std::size_t>(n * s.c * l));
    Shape y_shape;
    const auto want = conv1d_reference(s, x, w, b, n, l, &y_shape);
    for (Engine* e : {optimized_.get(), plain_.get()}) {
      std::vector<Tensor> out;
      Status st = e->run({Tensor::copy_of(DType::kFloat32, {n, s.c, l}, x.data())}, &out);
      ASSERT_TRUE(st.ok()) << st.message();
      expect_near_all(out.at(0), y_shape, want, 1e-5);
    }
    // The CUDA backend's layouts, run on the CPU: NHWC convolutions (pass_nhwc_convs) and float16
    // compute (pass_to_half, after the rewrite: the 4-D W becomes float16 too).
    const std::string path = (std::filesystem::temp_directory_path() / ("shardscore_passes_1d_" + std::to_string(::getpid()) + ".onnx")).string();
    std::ofstream(path, std::ios::binary) << bytes_of(m);
    EngineOptions nhwc, half;
    nhwc.nhwc_convs = true;
    half.compute = DType::kFloat16;
    for (const auto& [options, tol] : {std::pair{nhwc, 1e-5}, std::pair{half, 1e-2}}) {
      SCOPED_TRACE(options.nhwc_convs ? "NHWC" : "float16");
      auto e = Engine::load(path, "cpu", options);
      ASSERT_TRUE(e.ok()) << e.status().message();
      EXPECT_EQ((*e)->pass_stats().nhwc_convs, options.nhwc_convs && s.group == 1 && s.c >= 8 && s.auto_pad.empty() && s.pb == s.pe ? 1 : 0);
      std::vector<Tensor> out;
      Status st = (*e)->run({Tensor::copy_of(DType::kFloat32, {n, s.c, l}, x.data())}, &out);
      ASSERT_TRUE(st.ok()) << st.message();
      expect_near_all(out.at(0), y_shape, want, tol);
    }
    std::filesystem::remove(path);
  }
}

TEST_F(Passes, NhwcConvsTakeFreshNamesPastNodesAlreadyMoved) {
  // A value the model itself names "Y::nhwc", made before the convolution whose NHWC twin would
  // take that name: pass_nhwc_convs had already moved its node out of the list when it asked for
  // a fresh name, got "Y::nhwc" again, and the Mul read the twin ([N, H, W, C]: "cannot be
  // broadcast").
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 8, 4, 4});
  add_float_tensor(&m, "W", {8, 8, 3, 3}, random(8 * 8 * 9, -0.3f, 0.3f));
  add_node(&m, "Relu", {"X"}, {"Y::nhwc"}, "relu");
  set_ints_attr(add_node(&m, "Conv", {"X", "W"}, {"Y"}, "conv"), "pads", {1, 1, 1, 1});
  add_node(&m, "Mul", {"Y", "Y::nhwc"}, {"Z"}, "mul");  // not fused into the convolution
  add_output(&m, "Z", onnx::TensorProto_DataType_FLOAT, {-1, 8, 4, 4});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  const std::string path = (std::filesystem::temp_directory_path() / ("shardscore_passes_nhwc_" + std::to_string(::getpid()) + ".onnx")).string();
  std::ofstream(path, std::ios::binary) << bytes_of(m);
  EngineOptions nhwc;
  nhwc.nhwc_convs = true;
  auto e = Engine::load(path, "cpu", nhwc);
  std::filesystem::remove(path);
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ((*e)->pass_stats().nhwc_convs, 1);
  const auto x = random(2 * 8 * 4 * 4);
  std::vector<Tensor> got, want;
  Status st = (*e)->run({Tensor::copy_of(DType::kFloat32, {2, 8, 4, 4}, x.data())}, &got);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(plain_->run({Tensor::copy_of(DType::kFloat32, {2, 8, 4, 4}, x.data())}, &want).ok());
  ASSERT_EQ(got.at(0).shape(), want.at(0).shape());
  for (int64_t i = 0; i < want[0].numel(); ++i)
    ASSERT_NEAR(got[0].data<float>()[i], want[0].data<float>()[i], 1e-5 * std::max(1.0f, std::fabs(want[0].data<float>()[i])))
        << "element " << i;
}

TEST_F(Passes, Conv1dBatchNormReluChainFusesLike2d) {
  // X [N, 16, L] -> Conv1d -> BatchNorm1d -> ReLU -> r1 -> Conv1d (dilated) -> + r1 -> ReLU ->
  // MaxPool1d -> AvgPool1d -> Y1, and MaxPool1d(X) -> Y2: both convolutions end as FusedConv (the
  // first with the BatchNormalization folded in and the Relu, the second with the residual Add and
  // the Relu), on oneDNN in the blocked layout with the pool after them; no Squeeze / Unsqueeze
  // between the 1-D nodes: one Unsqueeze of X (for conv1 and the pool of X), a Squeeze per output.
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 16, 12});
  add_float_tensor(&m, "W1", {16, 16, 3}, random(16 * 16 * 3, -0.3f, 0.3f));
  add_float_tensor(&m, "B1", {16}, random(16));
  for (const char* p : {"scale", "shift", "mean"}) add_float_tensor(&m, p, {16}, random(16));
  add_float_tensor(&m, "var", {16}, random(16, 0.5f, 2.0f));
  add_float_tensor(&m, "W2", {16, 16, 3}, random(16 * 16 * 3, -0.3f, 0.3f));
  set_ints_attr(add_node(&m, "Conv", {"X", "W1", "B1"}, {"c1"}, "conv1"), "pads", {1, 1});
  add_node(&m, "BatchNormalization", {"c1", "scale", "shift", "mean", "var"}, {"bn"}, "bn");
  add_node(&m, "Relu", {"bn"}, {"r1"}, "relu1");
  auto* c2 = add_node(&m, "Conv", {"r1", "W2"}, {"c2"}, "conv2");
  set_ints_attr(c2, "pads", {2, 2});
  set_ints_attr(c2, "dilations", {2});
  add_node(&m, "Add", {"c2", "r1"}, {"s2"}, "residual");
  add_node(&m, "Relu", {"s2"}, {"r2"}, "relu2");
  auto* pool = add_node(&m, "MaxPool", {"r2"}, {"p2"}, "pool");
  set_ints_attr(pool, "kernel_shape", {2});
  set_ints_attr(pool, "strides", {2});
  auto* avg = add_node(&m, "AveragePool", {"p2"}, {"Y1"}, "avg");
  set_ints_attr(avg, "kernel_shape", {3});
  set_ints_attr(avg, "pads", {1, 1});
  set_int_attr(avg, "count_include_pad", 1);
  auto* xpool = add_node(&m, "MaxPool", {"X"}, {"Y2"}, "xpool");
  set_ints_attr(xpool, "kernel_shape", {3});
  set_ints_attr(xpool, "pads", {1, 1});
  add_output(&m, "Y1", onnx::TensorProto_DataType_FLOAT, {-1, 16, 6});
  add_output(&m, "Y2", onnx::TensorProto_DataType_FLOAT, {-1, 16, 12});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  const PassStats& st = optimized_->pass_stats();
  EXPECT_EQ(st.spatial_1d_as_2d, 5) << st.describe();
  EXPECT_EQ(st.folded_batchnorms, 1) << st.describe();
  EXPECT_EQ(st.fused_convs, 2) << st.describe();
  EXPECT_EQ(st.blocked_convs, 2) << st.describe();
  EXPECT_EQ(count("FusedConv"), 2);
  EXPECT_EQ(count("Conv") + count("BatchNormalization") + count("Relu") + count("Add"), 0);
  EXPECT_EQ(count("BlockedMaxPool"), 1);
  EXPECT_EQ(count("Unsqueeze"), 1) << "X, once, for conv1 and xpool";
  EXPECT_EQ(count("Squeeze"), 2) << "Y1's and Y2's only";
  for (const auto& n : optimized_->graph().nodes) {
    if (n.op_type == "FusedConv") {
      ASSERT_NE(n.attr("dst_layout"), nullptr) << n.name;
      EXPECT_EQ(n.attr("dst_layout")->s, "blocked") << n.name;
    }
    if (n.op_type == "AveragePool") {
      ASSERT_NE(n.attr("kernel_shape"), nullptr);
      ASSERT_NE(n.attr("pads"), nullptr);
      EXPECT_EQ(n.attr("kernel_shape")->ints, (std::vector<int64_t>{1, 3}));
      EXPECT_EQ(n.attr("pads")->ints, (std::vector<int64_t>{0, 1, 0, 1}));
      EXPECT_EQ(n.attr_int("count_include_pad", 0), 1);
    }
  }
  expect_same_outputs({3, 16, 12}, 1e-5);
}

TEST_F(Passes, SpatialOneDValuesTakeFreeNames) {
  // The pass names a value's 2-D form "<v>::2d" and its axes "shardscore_spatial_axis_2": a model
  // with values of those names keeps its own (every output checked against float64 here, since
  // both engines run the pass).
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3, 7});
  const Conv1dSpec s{.c = 3, .m = 4, .k = 3, .pb = 1, .pe = 1, .bias = false};
  const auto wa = random(36, -0.5f, 0.5f), wb = random(36, -0.5f, 0.5f);
  add_float_tensor(&m, "W", {4, 3, 3}, wa);
  add_float_tensor(&m, "W::2d", {4, 3, 3}, wb);  // another 1-D convolution's weights
  add_int64_tensor(&m, "shardscore_spatial_axis_2", {1}, {1});
  add_conv1d(&m, s, "X", "W", "", "c", "conv_a");
  add_conv1d(&m, s, "X", "W::2d", "", "c::2d", "conv_b");
  add_node(&m, "Relu", {"X"}, {"X::2d"}, "relu");
  add_node(&m, "Unsqueeze", {"c", "shardscore_spatial_axis_2"}, {"u"}, "unsqueeze");
  add_output(&m, "c", onnx::TensorProto_DataType_FLOAT, {-1, 4, 7});
  add_output(&m, "c::2d", onnx::TensorProto_DataType_FLOAT, {-1, 4, 7});
  add_output(&m, "X::2d", onnx::TensorProto_DataType_FLOAT, {-1, 3, 7});
  add_output(&m, "u", onnx::TensorProto_DataType_FLOAT, {-1, 1, 4, 7});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  const int64_t n = 2, l = 7;
  const auto x = random(static_cast<std::size_t>(n * 3 * l));
  Shape shape;
  const auto ya = conv1d_reference(s, x, wa, {}, n, l, &shape), yb = conv1d_reference(s, x, wb, {}, n, l, &shape);
  std::vector<float> relu(x);
  for (auto& v : relu) v = std::max(v, 0.0f);
  for (Engine* e : {optimized_.get(), plain_.get()}) {
    SCOPED_TRACE(e == plain_.get() ? "unoptimized" : "optimized");
    EXPECT_EQ(e->pass_stats().spatial_1d_as_2d, 2);
    std::vector<Tensor> out;
    Status st = e->run({Tensor::copy_of(DType::kFloat32, {n, 3, l}, x.data())}, &out);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_EQ(out.size(), 4u);
    expect_near_all(out[0], shape, ya, 1e-5);
    expect_near_all(out[1], shape, yb, 1e-5);
    expect_near_all(out[2], {n, 3, l}, relu, 0.0);
    expect_near_all(out[3], {n, 1, 4, l}, ya, 1e-5);
  }
}

TEST_F(Passes, Conv1dWeightsMadeInTheGraphAreUnsqueezedThere) {
  // W as a graph input of known rank: unsqueezed in the graph (run with the second input); W made
  // by a node with no kernel_shape (an Identity of an initializer, as weight normalization computes
  // one): its rank shows once constants are folded, so the optimized graph runs it, and the
  // unoptimized one refuses it with a message saying why.
  const Conv1dSpec s{.c = 4, .m = 2, .k = 3, .group = 2, .stride = 2, .pb = 1, .pe = 0};
  const int64_t n = 3, l = 9;
  const auto w = random(static_cast<std::size_t>(2 * 2 * 3), -0.5f, 0.5f), b = random(2);
  const auto x = random(static_cast<std::size_t>(n * 4 * l));
  Shape shape;
  const auto want = conv1d_reference(s, x, w, b, n, l, &shape);
  {
    auto m = new_model();
    add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 4, l});
    add_input(&m, "W", onnx::TensorProto_DataType_FLOAT, {2, 2, 3});
    add_float_tensor(&m, "B", {2}, b);
    add_conv1d(&m, s, "X", "W", "B", "Y", "conv");
    add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 2, -1});
    ASSERT_NO_FATAL_FAILURE(load_both(m));
    EXPECT_EQ(count("Unsqueeze"), 2) << "X and W";
    for (Engine* e : {optimized_.get(), plain_.get()}) {
      std::vector<Tensor> out;
      Status st = e->run({Tensor::copy_of(DType::kFloat32, {n, 4, l}, x.data()), Tensor::copy_of(DType::kFloat32, {2, 2, 3}, w.data())}, &out);
      ASSERT_TRUE(st.ok()) << st.message();
      expect_near_all(out.at(0), shape, want, 1e-5);
    }
  }
  {
    const Conv1dSpec plain_spec{.c = 4, .m = 2, .k = 3, .group = 2};  // no attribute that shows the rank
    const auto want_plain = conv1d_reference(plain_spec, x, w, b, n, l, &shape);
    auto m = new_model();
    add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 4, l});
    add_float_tensor(&m, "W0", {2, 2, 3}, w);
    add_float_tensor(&m, "B", {2}, b);
    add_node(&m, "Identity", {"W0"}, {"W"}, "weight");
    add_conv1d(&m, plain_spec, "X", "W", "B", "Y", "conv");
    add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 2, -1});
    ASSERT_NO_FATAL_FAILURE(load_both(m));
    EXPECT_EQ(optimized_->pass_stats().spatial_1d_as_2d, 1);
    EXPECT_EQ(plain_->pass_stats().spatial_1d_as_2d, 0);
    std::vector<Tensor> out;
    Status st = optimized_->run({Tensor::copy_of(DType::kFloat32, {n, 4, l}, x.data())}, &out);
    ASSERT_TRUE(st.ok()) << st.message();
    expect_near_all(out.at(0), shape, want_plain, 1e-5);
    st = plain_->run({Tensor::copy_of(DType::kFloat32, {n, 4, l}, x.data())}, &out);
    EXPECT_EQ(st.code(), StatusCode::kUnimplemented) << st.message();
    EXPECT_NE(st.message().find("runs as 1-D only where the model shows that rank at load"), std::string::npos) << st.message();
  }
}

TEST_F(Passes, TwoDWindowsAreLeftAloneAndThreeDStaysRefused) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3, 6, 6});
  add_float_tensor(&m, "W", {4, 3, 3, 3}, random(4 * 27, -0.5f, 0.5f));
  set_ints_attr(add_node(&m, "Conv", {"X", "W"}, {"c"}, "conv"), "pads", {1, 1, 1, 1});
  set_ints_attr(add_node(&m, "MaxPool", {"c"}, {"Y"}, "pool"), "kernel_shape", {2, 2});
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 4, 5, 5});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  EXPECT_EQ(optimized_->pass_stats().spatial_1d_as_2d, 0);
  EXPECT_EQ(count("Unsqueeze") + count("Squeeze"), 0);
  EXPECT_EQ(optimized_->graph().initializers.count("shardscore_spatial_axis_2"), 0u);
  expect_same_outputs({2, 3, 6, 6}, 1e-5);

  for (const char* op : {"Conv", "MaxPool", "AveragePool"}) {
    SCOPED_TRACE(op);
    auto m3 = new_model();
    add_input(&m3, "X", onnx::TensorProto_DataType_FLOAT, {-1, 2, 4, 4, 4});
    onnx::NodeProto* node = nullptr;
    if (std::string(op) == "Conv") {
      add_float_tensor(&m3, "W", {2, 2, 2, 2, 2}, random(32));
      node = add_node(&m3, op, {"X", "W"}, {"Y"}, "n3d");
    } else {
      node = add_node(&m3, op, {"X"}, {"Y"}, "n3d");
    }
    set_ints_attr(node, "kernel_shape", {2, 2, 2});
    add_output(&m3, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 2, 3, 3, 3});
    ASSERT_NO_FATAL_FAILURE(load_both(m3));
    EXPECT_EQ(optimized_->pass_stats().spatial_1d_as_2d, 0);
    EXPECT_EQ(count("Unsqueeze") + count("Squeeze"), 0);
    std::vector<Tensor> out;
    const auto x = random(2 * 2 * 64);
    Status st = optimized_->run({Tensor::copy_of(DType::kFloat32, {2, 2, 4, 4, 4}, x.data())}, &out);
    EXPECT_EQ(st.code(), StatusCode::kUnimplemented) << st.message();
    EXPECT_NE(st.message().find(std::string(op) + " runs on 1-D and 2-D spatial input only"), std::string::npos) << st.message();
  }
}

TEST_F(Passes, ConvTranspose1dMatchesTheSpecAsA2dOne) {
  // ConvTranspose1d (X [N, C, L], W [C, M/group, K]): strides, pads, output_padding, dilations,
  // groups, then output_shape, each widened to the 2-D form; against the spec's scatter in float64.
  struct Spec {
    int64_t c, m, k, group, stride, dilation, pb, pe, output_padding, output_shape;  // output_shape 0: none
  };
  for (const Spec& s : {Spec{4, 6, 3, 2, 2, 1, 1, 0, 1, 0}, Spec{3, 2, 4, 1, 3, 2, 0, 0, 0, 20}}) {
    SCOPED_TRACE("stride " + std::to_string(s.stride));
    const int64_t n = 2, l = 6, cg = s.c / s.group, mg = s.m / s.group;
    const int64_t full = s.stride * (l - 1) + s.output_padding + s.dilation * (s.k - 1) + 1;
    const int64_t lout = s.output_shape ? s.output_shape : full - s.pb - s.pe;
    const int64_t pb = s.output_shape ? std::max<int64_t>(0, full - lout - (full - lout) / 2) : s.pb;
    auto m = new_model();
    add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, s.c, l});
    const auto w = random(static_cast<std::size_t>(s.c * mg * s.k), -0.5f, 0.5f);
    const auto b = random(static_cast<std::size_t>(s.m));
    add_float_tensor(&m, "W", {s.c, mg, s.k}, w);
    add_float_tensor(&m, "B", {s.m}, b);
    auto* node = add_node(&m, "ConvTranspose", {"X", "W", "B"}, {"Y"}, "deconv1d");
    set_int_attr(node, "group", s.group);
    set_ints_attr(node, "strides", {s.stride});
    set_ints_attr(node, "dilations", {s.dilation});
    if (s.output_shape) {
      set_ints_attr(node, "output_shape", {s.output_shape});
    } else {
      set_ints_attr(node, "pads", {s.pb, s.pe});
      set_ints_attr(node, "output_padding", {s.output_padding});
    }
    add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, s.m, -1});
    ASSERT_NO_FATAL_FAILURE(load_both(m));
    EXPECT_EQ(optimized_->pass_stats().spatial_1d_as_2d, 1);
    const auto x = random(static_cast<std::size_t>(n * s.c * l));
    std::vector<double> want(static_cast<std::size_t>(n * s.m * lout), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t o = 0; o < s.m; ++o)
        for (int64_t t = 0; t < lout; ++t) want[(i * s.m + o) * lout + t] = b[o];
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ci = 0; ci < s.c; ++ci)
        for (int64_t at = 0; at < l; ++at)
          for (int64_t ml = 0; ml < mg; ++ml)
            for (int64_t j = 0; j < s.k; ++j) {
              const int64_t t = at * s.stride + j * s.dilation - pb;
              if (t < 0 || t >= lout) continue;
              want[(i * s.m + (ci / cg) * mg + ml) * lout + t] +=
                  static_cast<double>(x[(i * s.c + ci) * l + at]) * w[(ci * mg + ml) * s.k + j];
            }
    const std::vector<float> wantf(want.begin(), want.end());
    for (Engine* e : {optimized_.get(), plain_.get()}) {
      std::vector<Tensor> out;
      Status st = e->run({Tensor::copy_of(DType::kFloat32, {n, s.c, l}, x.data())}, &out);
      ASSERT_TRUE(st.ok()) << st.message();
      expect_near_all(out.at(0), {n, s.m, lout}, wantf, 1e-5);
    }
  }
}

TEST_F(Passes, OneDNodeWhoseAttributesDisagreeIsRefusedAtLoad) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3, 8});
  add_float_tensor(&m, "W", {4, 3, 3}, random(36));
  set_ints_attr(add_node(&m, "Conv", {"X", "W"}, {"Y"}, "conv1d"), "strides", {1, 2});
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 4, 6});
  const std::string path = (std::filesystem::temp_directory_path() / ("shardscore_passes_bad_" + std::to_string(::getpid()) + ".onnx")).string();
  std::ofstream(path, std::ios::binary) << bytes_of(m);
  auto e = Engine::load(path, "cpu");
  std::filesystem::remove(path);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find("node 'conv1d' (Conv): strides [1, 2] has 2 values; a 1-D window needs 1"),
            std::string::npos)
      << e.status().message();
}

}  // namespace
}  // namespace shardscore

namespace shardscore {
namespace {

TEST_F(Passes, LstmAndRnnWithConstantWeightsGetTheirJointWeights) {
  // A bidirectional LSTM and an RNN with initializer W and R each get [W R] (each direction's rows
  // W's then R's) as input 8 and the attribute; a GRU gets its constant-weights attribute only; an
  // LSTM whose W is a graph input is left alone. The outputs are the unoptimized engine's; at
  // --precision fp16 no node gets either.
  const int64_t seq = 4, n_in = 3, hid = 5, batch = 70;  // two row tiles of 64, the second padded
  const auto wl = random(2 * 4 * hid * n_in, -0.5f, 0.5f), rl = random(2 * 4 * hid * hid, -0.5f, 0.5f);
  const auto wr = random(hid * n_in, -0.5f, 0.5f), rr = random(hid * hid, -0.5f, 0.5f);
  const auto wg = random(3 * hid * n_in, -0.5f, 0.5f), rg = random(3 * hid * hid, -0.5f, 0.5f);
  const auto r4 = random(4 * hid * hid, -0.5f, 0.5f), w4 = random(4 * hid * n_in, -0.5f, 0.5f);
  auto m = new_model(14);
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {seq, -1, n_in});
  add_input(&m, "W4", onnx::TensorProto_DataType_FLOAT, {1, 4 * hid, n_in});
  add_float_tensor(&m, "Wl", {2, 4 * hid, n_in}, wl);
  add_float_tensor(&m, "Rl", {2, 4 * hid, hid}, rl);
  add_float_tensor(&m, "Wr", {1, hid, n_in}, wr);
  add_float_tensor(&m, "Rr", {1, hid, hid}, rr);
  add_float_tensor(&m, "Wg", {1, 3 * hid, n_in}, wg);
  add_float_tensor(&m, "Rg", {1, 3 * hid, hid}, rg);
  add_float_tensor(&m, "R4", {1, 4 * hid, hid}, r4);
  onnx::NodeProto* lstm = add_node(&m, "LSTM", {"X", "Wl", "Rl"}, {"Y1"}, "lstm");
  set_int_attr(lstm, "hidden_size", hid);
  auto* dir = lstm->add_attribute();
  dir->set_name("direction");
  dir->set_type(onnx::AttributeProto::STRING);
  dir->set_s("bidirectional");
  set_int_attr(add_node(&m, "RNN", {"X", "Wr", "Rr"}, {"Y2"}, "rnn"), "hidden_size", hid);
  set_int_attr(add_node(&m, "GRU", {"X", "Wg", "Rg"}, {"Y3"}, "gru"), "hidden_size", hid);
  set_int_attr(add_node(&m, "LSTM", {"X", "W4", "R4"}, {"Y4"}, "lstm_w_input"), "hidden_size", hid);
  add_output(&m, "Y1", onnx::TensorProto_DataType_FLOAT, {seq, 2, -1, hid});
  for (const char* y : {"Y2", "Y3", "Y4"}) add_output(&m, y, onnx::TensorProto_DataType_FLOAT, {seq, 1, -1, hid});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  EXPECT_EQ(optimized_->pass_stats().joint_recurrent, 3);
  EXPECT_EQ(plain_->pass_stats().joint_recurrent, 0);
  for (const Node& n : optimized_->graph().nodes) {
    SCOPED_TRACE(n.name);
    const bool joint = n.name == "lstm" || n.name == "rnn";
    EXPECT_EQ(n.attr_int(kRecurrentJointAttr, 0), joint ? 1 : 0);
    EXPECT_EQ(n.attr_int(kRecurrentConstAttr, 0), n.name == "gru" ? 1 : 0);
    ASSERT_EQ(n.inputs.size(), joint ? kRecurrentJointInput + 1 : 3);
    if (!joint) continue;
    const Tensor& j = optimized_->graph().initializers.at(n.inputs[kRecurrentJointInput]);
    const std::vector<float>& w = n.name == "lstm" ? wl : wr;
    const std::vector<float>& r = n.name == "lstm" ? rl : rr;
    const int64_t dirs = n.name == "lstm" ? 2 : 1, gh = n.name == "lstm" ? 4 * hid : hid;
    ASSERT_EQ(j.shape(), (Shape{dirs, gh, n_in + hid}));
    for (int64_t row = 0; row < dirs * gh; ++row)
      for (int64_t k = 0; k < n_in + hid; ++k) {
        const float want = k < n_in ? w[static_cast<std::size_t>(row * n_in + k)] : r[static_cast<std::size_t>(row * hid + k - n_in)];
        ASSERT_EQ(j.data<float>()[row * (n_in + hid) + k], want) << "row " << row << " column " << k;
      }
  }
  const auto x = random(static_cast<std::size_t>(seq * batch * n_in));
  const std::vector<Tensor> in = {Tensor::copy_of(DType::kFloat32, {seq, batch, n_in}, x.data()),
                                  Tensor::copy_of(DType::kFloat32, {1, 4 * hid, n_in}, w4.data())};
  std::vector<Tensor> a, b;
  ASSERT_TRUE(optimized_->run(in, &a).ok());
  ASSERT_TRUE(plain_->run(in, &b).ok());
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  for (std::size_t k = 0; k < a.size(); ++k) {
    ASSERT_EQ(a[k].shape(), b[k].shape());
    expect_near_all(a[k], b[k].shape(), std::vector<float>(b[k].data<float>(), b[k].data<float>() + b[k].numel()), 1e-5);
  }
  path_ = (std::filesystem::temp_directory_path() / ("shardscore_passes_fp16_" + std::to_string(::getpid()) + ".onnx")).string();
  std::ofstream(path_, std::ios::binary) << bytes_of(m);
  auto half = Engine::load(path_, "cpu", EngineOptions{.compute = DType::kFloat16});
  std::filesystem::remove(path_);
  ASSERT_TRUE(half.ok()) << half.status().message();
  EXPECT_EQ((*half)->pass_stats().joint_recurrent, 0) << "float16 weights are widened per call: nothing to pack once";
}

TEST(PassToHalf, EyeLikeOfDtypeFloat32ComputesInHalf) {
  // EyeLike(dtype float32) beside a float32 value that pass_to_half makes float16: the two must meet
  // in one type (Concat refuses a mix), so the EyeLike makes float16 too.
  using namespace onnx_builder;
  auto m = new_model(17);
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {3, 3});
  add_float_tensor(&m, "A", {3, 3}, std::vector<float>(9, 0.5f));
  add_node(&m, "Add", {"X", "A"}, {"S"}, "add");
  set_int_attr(add_node(&m, "EyeLike", {"S"}, {"E"}, "eye"), "dtype", 1);
  set_int_attr(add_node(&m, "Concat", {"S", "E"}, {"Y"}, "concat"), "axis", 0);
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {6, 3});
  const std::string path = (std::filesystem::temp_directory_path() / ("shardscore_eye_half_" + std::to_string(::getpid()) + ".onnx")).string();
  std::ofstream(path, std::ios::binary) << bytes_of(m);
  auto e = Engine::load(path, "cpu", EngineOptions{.compute = DType::kFloat16});
  std::filesystem::remove(path);
  ASSERT_TRUE(e.ok()) << e.status().message();
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<Tensor> out;
  const Status st = (*e)->run({Tensor::copy_of(DType::kFloat32, {3, 3}, x.data())}, &out);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(out.at(0).shape(), (Shape{6, 3}));
  const float* y = out[0].data<float>();
  for (int i = 0; i < 9; ++i) EXPECT_EQ(y[i], x[static_cast<std::size_t>(i)] + 0.5f) << i;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(y[9 + r * 3 + c], r == c ? 1.0f : 0.0f) << r << "," << c;
}

TEST_F(Passes, RecurrentWithoutHiddenUnitsGetsNoJointWeights) {
  // hidden_size 0: nothing to multiply, so no [W R] (oneDNN faults on a product of no columns); the
  // outputs are empty.
  const int64_t seq = 3, n_in = 4, batch = 5;
  auto m = new_model(14);
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {seq, -1, n_in});
  add_float_tensor(&m, "W", {1, 0, n_in}, {});
  add_float_tensor(&m, "R", {1, 0, 0}, {});
  set_int_attr(add_node(&m, "LSTM", {"X", "W", "R"}, {"", "Y_h"}, "lstm"), "hidden_size", 0);
  add_output(&m, "Y_h", onnx::TensorProto_DataType_FLOAT, {1, -1, 0});
  ASSERT_NO_FATAL_FAILURE(load_both(m));
  EXPECT_EQ(optimized_->pass_stats().joint_recurrent, 0);
  const auto x = random(static_cast<std::size_t>(seq * batch * n_in));
  std::vector<Tensor> out;
  ASSERT_TRUE(optimized_->run({Tensor::copy_of(DType::kFloat32, {seq, batch, n_in}, x.data())}, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].shape(), (Shape{1, batch, 0}));
}

// output.outputs leaving out a tree classifier's labels (string labels, which the engine has no
// tensors for): the node's label output, read by nothing kept, becomes unnamed, so the op computes
// the scores alone rather than refusing its labels.
TEST(SelectOutputs, UnreadTreeClassifierLabelsBecomeUnnamed) {
  auto graph = [] {
    Graph g;
    g.opsets[""] = 17;
    g.opsets["ai.onnx.ml"] = 1;
    g.inputs.push_back(ValueInfo{"X", DType::kFloat32, {-1, 3}, {"N", ""}});
    Node tree;
    tree.name = "tree";
    tree.op_type = "TreeEnsembleClassifier";
    tree.domain = "ai.onnx.ml";
    tree.opset = 1;
    tree.inputs = {"X"};
    tree.outputs = {"label", "scores"};
    Node id;
    id.name = "id";
    id.op_type = "Identity";
    id.opset = 17;
    id.inputs = {"label"};
    id.outputs = {"label_out"};
    g.nodes = {tree, id};
    g.outputs = {ValueInfo{"label_out", DType::kInt64, {-1}, {"N"}}, ValueInfo{"scores", DType::kFloat32, {-1, 2}, {"N", ""}}};
    return g;
  };
  PassStats stats;
  Graph only_scores = graph();
  ASSERT_TRUE(pass_select_outputs(&only_scores, {"scores"}, &stats).ok());
  ASSERT_EQ(only_scores.nodes.size(), 1u);
  EXPECT_EQ(only_scores.nodes[0].outputs, (std::vector<std::string>{"", "scores"}));
  Graph both = graph();
  ASSERT_TRUE(pass_select_outputs(&both, {"label_out", "scores"}, &stats).ok());
  ASSERT_EQ(both.nodes.size(), 2u);
  EXPECT_EQ(both.nodes[0].outputs, (std::vector<std::string>{"label", "scores"}));
}

TEST(PassToHalf, ConstantsSaturateAsOnnxRuntimesConverterDoes) {
  // onnxruntime.transformers.float16.convert_np_to_float16: finite values past +-65504 become +-65504,
  // non-zero ones smaller than 5.96e-8 become +-5.96e-8; 0, infinities and NaN stay. A mask's float32
  // lowest (torch's finfo.min) thus stays finite in float16.
  using namespace onnx_builder;
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> c = {std::numeric_limits<float>::lowest(), -70000.0f, 70000.0f, 1e-9f, -1e-9f, 0.0f, 1.0f, inf, -inf, nan};
  const int64_t n = static_cast<int64_t>(c.size());
  auto m = new_model(17);
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {n});
  add_float_tensor(&m, "C", {n}, c);
  add_node(&m, "Add", {"X", "C"}, {"Y"}, "add");
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {n});
  auto e = load_built(m, "cpu", EngineOptions{.compute = DType::kFloat16});
  ASSERT_TRUE(e.ok()) << e.status().message();
  const std::vector<float> zeros(c.size(), 0.0f);
  std::vector<Tensor> out;
  const Status st = (*e)->run({Tensor::copy_of(DType::kFloat32, {n}, zeros.data())}, &out);
  ASSERT_TRUE(st.ok()) << st.message();
  const float tiny = std::ldexp(1.0f, -24);  // float16's smallest subnormal, 5.96e-8
  const std::vector<float> want = {-65504.0f, -65504.0f, 65504.0f, tiny, -tiny, 0.0f, 1.0f, inf, -inf};
  const float* y = out.at(0).data<float>();
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(y[i], want[i]) << "element " << i << " (" << c[i] << ")";
  EXPECT_TRUE(std::isnan(y[want.size()]));
}

}  // namespace
}  // namespace shardscore

// ---- pass_row_quantized_matmuls ----

namespace shardscore {
namespace {
using namespace shardscore::onnx_builder;

EngineOptions as_a_job(bool rows_quantized_in_batch) {
  EngineOptions o;
  o.rows_alone_in_runs = true;
  o.rows_quantized_in_batch = rows_quantized_in_batch;
  return o;
}

// quantize_dynamic's product of `x` by constant int8 weights [k, n] (as onnx builds it, names
// prefixed by `p`): MatMulInteger(q, W, z, Wz) -> Cast -> Mul by Mul(s, Ws); `out` its result.
void add_dq_product(onnx::ModelProto* m, std::mt19937& rng, const std::string& p, const std::string& q,
                    const std::string& s, const std::string& z, int64_t k, int64_t n, const std::string& out,
                    bool per_column = false) {
  std::uniform_int_distribution<int> d(-128, 127);
  std::vector<int8_t> w(static_cast<std::size_t>(k * n));
  for (auto& v : w) v = static_cast<int8_t>(d(rng));
  std::vector<int8_t> wz(per_column ? static_cast<std::size_t>(n) : 1);
  for (auto& v : wz) v = static_cast<int8_t>(d(rng) / 16);
  add_raw_tensor(m, p + "_W", onnx::TensorProto_DataType_INT8, {k, n}, w.data(), w.size());
  add_raw_tensor(m, p + "_Wz", onnx::TensorProto_DataType_INT8, per_column ? std::vector<int64_t>{n} : std::vector<int64_t>{},
                 wz.data(), wz.size());
  std::vector<float> ws(per_column ? static_cast<std::size_t>(n) : 1);
  for (std::size_t i = 0; i < ws.size(); ++i) ws[i] = 0.003f * static_cast<float>(i + 1);
  add_float_tensor(m, p + "_Ws", per_column ? std::vector<int64_t>{n} : std::vector<int64_t>{}, ws);
  add_node(m, "MatMulInteger", {q, p + "_W", z, p + "_Wz"}, {p + "_i"}, p + "_product");
  set_int_attr(add_node(m, "Cast", {p + "_i"}, {p + "_f"}, p + "_cast"), "to", onnx::TensorProto_DataType_FLOAT);
  if (per_column) add_node(m, "Mul", {p + "_Ws", s}, {p + "_sw"}, p + "_scales");  // either order
  else add_node(m, "Mul", {s, p + "_Ws"}, {p + "_sw"}, p + "_scales");
  add_node(m, "Mul", {p + "_f", p + "_sw"}, {out}, p + "_rescale");
}

// N rows of [6, 16] whose ranges differ a hundredfold from row to row, so that a scale taken over
// the whole batch would move every row.
Tensor spread_rows(std::mt19937& rng, int64_t rows, const Shape& row_shape) {
  Shape shape{rows};
  shape.insert(shape.end(), row_shape.begin(), row_shape.end());
  Tensor x(DType::kFloat32, shape);
  const int64_t per_row = x.numel() / rows;
  std::uniform_real_distribution<float> d(-1, 1);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = d(rng) * std::pow(10.0f, static_cast<float>(i / per_row % 4) - 1);
  return x;
}

// A transformer block's shapes as torch exports them: LayerNormalization -> one quantizer read by
// two products -> heads split by a Reshape to Concat(Shape(q)[0], ...) and by one to [0, 6, 2, 8],
// Transposes keeping the rows first, a product between rows' own values, Softmax, heads merged by
// Reshape [0, 0, 16] -> a second quantizer -> a product with a scale per column. Every quantizer
// qualifies: the graph runs whole batches, each row as it runs alone, bit for bit.
TEST(RowQuantizedPass, TransformerShapesRunWholeBatchesAsRowsAlone) {
  std::mt19937 rng(test_seed());
  auto m = new_model(17);
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 6, 16});
  add_float_tensor(&m, "g", {16}, std::vector<float>(16, 1.5f));
  add_float_tensor(&m, "b", {16}, std::vector<float>(16, 0.25f));
  add_node(&m, "LayerNormalization", {"X", "g", "b"}, {"h"}, "norm");
  add_node(&m, "DynamicQuantizeLinear", {"h"}, {"hq", "hs", "hz"}, "quantize_h");
  add_dq_product(&m, rng, "q", "hq", "hs", "hz", 16, 16, "qm");
  add_dq_product(&m, rng, "k", "hq", "hs", "hz", 16, 16, "km");
  add_int64_tensor(&m, "zero", {}, {0});
  add_int64_tensor(&m, "axis0", {1}, {0});
  add_int64_tensor(&m, "rest", {3}, {6, 2, 8});
  add_int64_tensor(&m, "heads", {4}, {0, 6, 2, 8});
  add_int64_tensor(&m, "merged", {3}, {0, 0, 16});
  add_node(&m, "Shape", {"qm"}, {"qshape"}, "shape");
  add_node(&m, "Gather", {"qshape", "zero"}, {"n"}, "rows");
  add_node(&m, "Unsqueeze", {"n", "axis0"}, {"n1"}, "rows_1d");
  set_int_attr(add_node(&m, "Concat", {"n1", "rest"}, {"qheads"}, "heads_shape"), "axis", 0);
  add_node(&m, "Reshape", {"qm", "qheads"}, {"qr"}, "split_q");
  add_node(&m, "Reshape", {"km", "heads"}, {"kr"}, "split_k");
  set_ints_attr(add_node(&m, "Transpose", {"qr"}, {"qt"}, "q_heads_first"), "perm", {0, 2, 1, 3});
  set_ints_attr(add_node(&m, "Transpose", {"kr"}, {"kt"}, "k_heads_first"), "perm", {0, 2, 3, 1});
  add_node(&m, "MatMul", {"qt", "kt"}, {"scores"}, "scores");
  set_int_attr(add_node(&m, "Softmax", {"scores"}, {"p"}, "softmax"), "axis", -1);
  add_node(&m, "MatMul", {"p", "qt"}, {"ctx"}, "context");
  set_ints_attr(add_node(&m, "Transpose", {"ctx"}, {"ctt"}, "heads_back"), "perm", {0, 2, 1, 3});
  add_node(&m, "Reshape", {"ctt", "merged"}, {"c"}, "merge");
  add_node(&m, "DynamicQuantizeLinear", {"c"}, {"cq", "cs", "cz"}, "quantize_c");
  add_dq_product(&m, rng, "o", "cq", "cs", "cz", 16, 4, "Y", true);
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 6, 4});

  auto batched = load_built(m, "cpu", as_a_job(true));
  auto alone = load_built(m, "cpu", as_a_job(false));
  auto whole = load_built(m, "cpu");  // ONNX's semantics: one scale for the whole tensor
  ASSERT_TRUE(batched.ok()) << batched.status().message();
  ASSERT_TRUE(alone.ok() && whole.ok());
  EXPECT_EQ((*batched)->rows_alone(), "");
  EXPECT_EQ((*batched)->rows_quantized(), "node 'quantize_h' (DynamicQuantizeLinear)");
  EXPECT_EQ((*batched)->pass_stats().row_quantized_matmuls, 3);
  for (const Node& n : (*batched)->graph().nodes) {
    EXPECT_NE(n.op_type, "DynamicQuantizeLinear");
    EXPECT_NE(n.op_type, "MatMulInteger");
  }
  EXPECT_EQ((*alone)->rows_alone(), "node 'quantize_h' (DynamicQuantizeLinear)");
  EXPECT_EQ((*alone)->rows_quantized(), "");
  EXPECT_EQ((*alone)->pass_stats().row_quantized_matmuls, 0);

  const Tensor x = spread_rows(rng, 5, {6, 16});
  std::vector<Tensor> got, want, mixed;
  ASSERT_TRUE((*batched)->run({x}, &got).ok());
  ASSERT_TRUE((*alone)->run({x}, &want).ok());
  ASSERT_TRUE((*whole)->run({x}, &mixed).ok());
  ASSERT_EQ(got[0].shape(), (Shape{5, 6, 4}));
  ASSERT_EQ(want[0].shape(), got[0].shape());
  EXPECT_EQ(std::memcmp(got[0].raw(), want[0].raw(), got[0].nbytes()), 0) << "a row differs from the row alone";
  EXPECT_NE(std::memcmp(mixed[0].raw(), want[0].raw(), got[0].nbytes()), 0)
      << "the test's rows would give the same bits with one scale for all: it could not tell";
}

// Where a quantizer's input may not hold the rows in dimension 0, or its outputs go elsewhere than
// its products, the graph is left as it is, the model runs a row at a time, and why is said.
TEST(RowQuantizedPass, RefusedWhereRowsMayMoveOrTheScaleIsReadElsewhere) {
  struct Case {
    const char* what;
    std::function<void(onnx::ModelProto*)> before;  // makes "x" from "X" [N, 4, 16]
    bool scale_out = false, scale_read = false;
    const char* why;
  };
  const char* not_rows = "quantizes a value whose dimension 0 is not shown to be the rows of the batch";
  const std::vector<Case> cases = {
      {"Transpose moving the rows", [](onnx::ModelProto* m) {
         set_ints_attr(add_node(m, "Transpose", {"X"}, {"x"}, "t"), "perm", {1, 0, 2});
       }, false, false, not_rows},
      {"Reshape folding the rows together", [](onnx::ModelProto* m) {
         add_int64_tensor(m, "flat", {2}, {-1, 16});
         add_node(m, "Reshape", {"X", "flat"}, {"x"}, "fold");
       }, false, false, not_rows},
      {"a mean over the rows", [](onnx::ModelProto* m) {
         auto* r = add_node(m, "ReduceMean", {"X"}, {"mean"}, "mean");
         set_ints_attr(r, "axes", {0});
         add_node(m, "Sub", {"X", "mean"}, {"x"}, "center");
       }, false, false, not_rows},
      {"the scale a graph output", [](onnx::ModelProto* m) { add_node(m, "Identity", {"X"}, {"x"}, "id"); }, true, false,
       "gives a graph output"},
      {"the scale read by another node", [](onnx::ModelProto* m) { add_node(m, "Identity", {"X"}, {"x"}, "id"); }, false,
       true, "gives its scale to node 'other' (Mul)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::mt19937 rng(test_seed());
    auto m = new_model(17);
    add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 4, 16});
    c.before(&m);
    add_node(&m, "DynamicQuantizeLinear", {"x"}, {"q", "s", "z"}, "quantize");
    add_dq_product(&m, rng, "p", "q", "s", "z", 16, 3, "Y");
    add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 4, 3});
    if (c.scale_out) add_output(&m, "s", onnx::TensorProto_DataType_FLOAT, {});
    if (c.scale_read) {
      add_node(&m, "Mul", {"s", "s"}, {"s2"}, "other");
      add_output(&m, "s2", onnx::TensorProto_DataType_FLOAT, {});
    }
    auto e = load_built(m, "cpu", as_a_job(true));
    ASSERT_TRUE(e.ok()) << e.status().message();
    EXPECT_EQ((*e)->rows_alone(), "node 'quantize' (DynamicQuantizeLinear)");
    EXPECT_EQ((*e)->rows_quantized(), "");
    EXPECT_EQ((*e)->pass_stats().row_quantized_matmuls, 0);
    EXPECT_NE((*e)->rows_alone_why().find(std::string("node 'quantize' (DynamicQuantizeLinear) ") + c.why), std::string::npos)
        << (*e)->rows_alone_why();
    int quantizers = 0;
    for (const Node& n : (*e)->graph().nodes) quantizers += n.op_type == "DynamicQuantizeLinear";
    EXPECT_EQ(quantizers, 1);
  }
}

}  // namespace
}  // namespace shardscore
