// Model loading: graph_load_onnx / graph_parse_onnx and Engine::load, on the demo model and on
// models built here with ONNX's protobuf classes, each broken in one way.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/test_seed.h"
#include "engine/engine.h"
#include "engine/graph.h"
#include "engine/onnx_builder.h"

namespace shardscore {
namespace {
using namespace shardscore::onnx_builder;

// Relu(X) -> Y on float [N, 3]: a valid model the broken ones start from.
onnx::ModelProto relu_model() {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  add_node(&m, "Relu", {"X"}, {"Y"}, "relu");
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  return m;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---------------------------------------------------------------------------------------------
// The demo model (data/demo_mlp.onnx).

std::string demo_path() {
  const char* dir = std::getenv("SHARDSCORE_SOURCE_DIR");
  if (!dir) return "";
  return std::string(dir) + "/data/demo_mlp.onnx";
}
#define REQUIRE_DEMO_PATH(var)                                                                           \
  const std::string var = demo_path();                                                                   \
  ASSERT_FALSE(var.empty()) << "SHARDSCORE_SOURCE_DIR is not set (ctest sets it; when running the test " \
                               "binary by hand: SHARDSCORE_SOURCE_DIR=/path/to/repo ./tests/test_graph)"

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(GraphLoad, DemoModel_Signature) {
  REQUIRE_DEMO_PATH(path);
  auto g = graph_load_onnx(path);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->source, path);
  EXPECT_EQ(g->opsets.count(""), 1u);
  EXPECT_EQ(g->opsets.count("ai.onnx.ml"), 1u);

  ASSERT_EQ(g->inputs.size(), 1u);
  EXPECT_EQ(g->inputs[0].name, "X");
  EXPECT_EQ(g->inputs[0].dtype, DType::kFloat32);
  EXPECT_EQ(g->inputs[0].dims, (Shape{-1, 30}));

  ASSERT_EQ(g->outputs.size(), 2u);
  EXPECT_EQ(g->outputs[0].name, "label");
  EXPECT_EQ(g->outputs[0].dtype, DType::kInt64);
  EXPECT_EQ(g->outputs[1].name, "probabilities");
  EXPECT_EQ(g->outputs[1].dtype, DType::kFloat32);
  EXPECT_EQ(g->outputs[1].dims, (Shape{-1, 2}));

  ASSERT_FALSE(g->nodes.empty());
  EXPECT_FALSE(g->initializers.empty());
}

TEST(GraphLoad, DemoModel_NodesTopologicallySorted) {
  REQUIRE_DEMO_PATH(path);
  auto g = graph_load_onnx(path);
  ASSERT_TRUE(g.ok()) << g.status().message();
  std::set<std::string> available;
  for (const auto& in : g->inputs) available.insert(in.name);
  for (const auto& [name, t] : g->initializers) available.insert(name);
  for (const auto& n : g->nodes) {
    for (const auto& i : n.inputs) {
      EXPECT_TRUE(i.empty() || available.count(i)) << n.describe() << " reads '" << i << "' before it is produced";
    }
    for (const auto& o : n.outputs) available.insert(o);
  }
  for (const auto& o : g->outputs) EXPECT_TRUE(available.count(o.name)) << "output " << o.name << " never produced";
}

TEST(GraphLoad, DemoModel_ParseFromBytesMatchesLoad) {
  REQUIRE_DEMO_PATH(path);
  const std::string bytes = read_file(path);
  ASSERT_FALSE(bytes.empty());
  auto a = graph_load_onnx(path);
  auto b = graph_parse_onnx(bytes, "demo.onnx");
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->source, "demo.onnx");
  ASSERT_EQ(a->nodes.size(), b->nodes.size());
  for (std::size_t k = 0; k < a->nodes.size(); ++k) EXPECT_EQ(a->nodes[k].name, b->nodes[k].name);
}

// Row-wise reference of the demo MLP in double from its initializers:
// relu(x W0 + b0) -> relu(. W1 + b1) -> sigmoid(. W2 + b2) = P(class 1).
std::vector<double> demo_reference_p1(const Graph& g, const std::vector<float>& x, int64_t rows) {
  auto init = [&](const std::string& name) -> const Tensor& {
    auto it = g.initializers.find(name);
    EXPECT_NE(it, g.initializers.end()) << "demo model has no initializer '" << name << "' (regenerated?)";
    static const Tensor none;
    return it == g.initializers.end() ? none : it->second;
  };
  std::vector<double> out;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> h(x.begin() + r * 30, x.begin() + (r + 1) * 30);
    const char* layers[][2] = {
        {"coefficient", "intercepts"}, {"coefficient1", "intercepts1"}, {"coefficient2", "intercepts2"}};
    for (int l = 0; l < 3; ++l) {
      const Tensor& w = init(layers[l][0]);
      const Tensor& b = init(layers[l][1]);
      if (w.empty() || b.empty() || w.rank() != 2 || w.dim(0) != static_cast<int64_t>(h.size())) return {};
      std::vector<double> next(static_cast<std::size_t>(w.dim(1)));
      for (int64_t j = 0; j < w.dim(1); ++j) {
        double s = b.data<float>()[j];
        for (int64_t i = 0; i < w.dim(0); ++i) s += h[i] * w.data<float>()[i * w.dim(1) + j];
        next[j] = l < 2 ? std::max(s, 0.0) : 1.0 / (1.0 + std::exp(-s));
      }
      h = std::move(next);
    }
    out.push_back(h.at(0));
  }
  return out;
}

TEST(EngineLoad, DemoModel_RunsOnCpu) {
  REQUIRE_DEMO_PATH(path);
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_trace(seed));
  std::mt19937 rng(seed);
  auto engine = Engine::load(path, "cpu");
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  EXPECT_EQ((*engine)->backend_name(), "cpu");

  const int64_t rows = 5;
  std::normal_distribution<float> d(0, 1);  // the model's inputs are standardized features
  std::vector<float> x(rows * 30);
  for (auto& v : x) v = d(rng);
  std::vector<Tensor> outs;
  Status st = (*engine)->run({Tensor::copy_of(DType::kFloat32, {rows, 30}, x.data())}, &outs);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(outs.size(), 2u);
  const Tensor& label = outs[0];
  const Tensor& prob = outs[1];
  ASSERT_EQ(label.dtype(), DType::kInt64);
  ASSERT_EQ(label.shape(), (Shape{rows}));
  ASSERT_EQ(prob.dtype(), DType::kFloat32);
  ASSERT_EQ(prob.shape(), (Shape{rows, 2}));

  const auto ref_p1 = demo_reference_p1((*engine)->graph(), x, rows);
  ASSERT_EQ(ref_p1.size(), static_cast<std::size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float p0 = prob.data<float>()[r * 2], p1 = prob.data<float>()[r * 2 + 1];
    EXPECT_GE(p0, 0.0f);
    EXPECT_GE(p1, 0.0f);
    EXPECT_NEAR(double{p0} + double{p1}, 1.0, 1e-6) << "row " << r;
    EXPECT_NEAR(p1, ref_p1[r], 1e-5) << "row " << r;
    EXPECT_EQ(label.data<int64_t>()[r], p1 > p0 ? 1 : 0) << "row " << r << ": p = (" << p0 << ", " << p1 << ")";
  }
}

TEST(EngineLoad, DemoModel_AutoBackendAndBadInputs) {
  REQUIRE_DEMO_PATH(path);
  auto engine = Engine::load(path, "auto");
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  std::vector<Tensor> outs;
  std::vector<float> x(3 * 29, 0.5f);
  Status st = (*engine)->run({Tensor::copy_of(DType::kFloat32, {3, 29}, x.data())}, &outs);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
  EXPECT_TRUE(contains(st.message(), "'X'")) << st.message();
  std::vector<double> xd(3 * 30, 0.5);
  st = (*engine)->run({Tensor::copy_of(DType::kFloat64, {3, 30}, xd.data())}, &outs);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
  st = (*engine)->run({}, &outs);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
}

TEST(EngineLoad, UnknownBackend_InvalidArgument) {
  REQUIRE_DEMO_PATH(path);
  auto engine = Engine::load(path, "tpu");
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(engine.status().message(), "tpu")) << engine.status().message();
}

// ---------------------------------------------------------------------------------------------
// Files that are not (whole) models.

TEST(GraphLoad, MissingFile_NotFound) {
  const std::string path = "/nonexistent-shardscore-dir/model.onnx";
  auto g = graph_load_onnx(path);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kNotFound) << g.status().message();
  EXPECT_TRUE(contains(g.status().message(), path)) << g.status().message();
  auto e = Engine::load(path, "cpu");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound) << e.status().message();
}

TEST(GraphLoad, GarbageBytes_DataLoss) {
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_trace(seed));
  std::mt19937 rng(seed);
  std::string bytes(4096, '\0');
  for (auto& c : bytes) c = static_cast<char>(rng());
  auto g = graph_parse_onnx(bytes, "garbage.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kDataLoss) << g.status().message();
  EXPECT_TRUE(contains(g.status().message(), "garbage.onnx")) << g.status().message();

  auto empty = graph_parse_onnx("", "empty.onnx");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kDataLoss) << empty.status().message();
}

TEST(GraphLoad, TextFile_DataLoss) {
  const auto path =
      std::filesystem::temp_directory_path() / ("shardscore_test_graph_" + std::to_string(::getpid()) + ".onnx");
  {
    std::ofstream out(path);
    out << "this is not an ONNX model\n";
  }
  auto g = graph_load_onnx(path.string());
  std::filesystem::remove(path);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kDataLoss) << g.status().message();
  EXPECT_TRUE(contains(g.status().message(), path.string())) << g.status().message();
}

TEST(GraphLoad, DemoModelTruncatedToHalf_Fails) {
  REQUIRE_DEMO_PATH(path);
  const std::string bytes = read_file(path);
  ASSERT_GT(bytes.size(), 100u);
  auto g = graph_parse_onnx(bytes.substr(0, bytes.size() / 2), "demo_half.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_TRUE(g.status().code() == StatusCode::kDataLoss || g.status().code() == StatusCode::kInvalidArgument)
      << status_code_name(g.status().code()) << ": " << g.status().message();
  EXPECT_TRUE(contains(g.status().message(), "demo_half.onnx")) << g.status().message();
}

// ---------------------------------------------------------------------------------------------
// Hand-built models.

TEST(GraphParse, HandBuiltModel_Loads) {
  // The base the broken models below start from is itself valid.
  auto g = graph_parse_onnx(bytes_of(relu_model()), "relu.onnx");
  ASSERT_TRUE(g.ok()) << g.status().message();
  ASSERT_EQ(g->nodes.size(), 1u);
  EXPECT_EQ(g->nodes[0].name, "relu");
  EXPECT_EQ(g->nodes[0].opset, 17);
  ASSERT_EQ(g->inputs.size(), 1u);
  EXPECT_EQ(g->inputs[0].dims, (Shape{-1, 3}));
  EXPECT_EQ(g->inputs[0].dim_params, (std::vector<std::string>{"N", ""}));
}

TEST(GraphParse, UnsupportedOp_Unimplemented) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {2, 3});
  auto* n = add_node(&m, "MaxUnpool", {"X", "I"}, {"Y"}, "my_unpool");
  auto* ks = n->add_attribute();
  ks->set_name("kernel_shape");
  ks->set_type(onnx::AttributeProto_AttributeType_INTS);
  ks->add_ints(2);
  ks->add_ints(2);
  add_input(&m, "I", onnx::TensorProto_DataType_INT64, {2, 3});
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {3, 2});
  auto g = graph_parse_onnx(bytes_of(m), "unpool.onnx");
  ASSERT_FALSE(g.ok());
  const std::string& msg = g.status().message();
  EXPECT_EQ(g.status().code(), StatusCode::kUnimplemented) << msg;
  EXPECT_TRUE(contains(msg, "MaxUnpool")) << msg;
  EXPECT_TRUE(contains(msg, "my_unpool")) << msg;
  EXPECT_TRUE(contains(msg, "opset 17")) << msg;
  EXPECT_TRUE(contains(msg, "unpool.onnx")) << msg;
}

// Values the engine has no tensors for are refused at load, naming the value and its type, not
// at the first batch with a message about the op that reads them.
TEST(GraphParse, InputsAndOutputsOfUnsupportedTypes_Unimplemented) {
  {
    auto m = new_model();
    add_input(&m, "text", onnx::TensorProto_DataType_STRING, {2});
    add_input(&m, "other", onnx::TensorProto_DataType_STRING, {2});
    add_node(&m, "Equal", {"text", "other"}, {"Y"});
    add_output(&m, "Y", onnx::TensorProto_DataType_BOOL, {2});
    auto g = graph_parse_onnx(bytes_of(m), "strings.onnx");
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.status().code(), StatusCode::kUnimplemented) << g.status().message();
    EXPECT_TRUE(contains(g.status().message(), "graph input 'text' (read by node 'Equal_0' (Equal)) has element type STRING"))
        << g.status().message();
  }
  {
    // An output: refused when the engine is to compute it, not when the job leaves it out.
    auto m = relu_model();
    m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(17);  // FLOAT8E4M3FN
    add_node(&m, "Neg", {"X"}, {"Z"}, "neg");
    add_output(&m, "Z", onnx::TensorProto_DataType_FLOAT, {-1, 3});
    auto g = graph_parse_onnx(bytes_of(m), "f8.onnx");
    ASSERT_TRUE(g.ok()) << g.status().message();
    ASSERT_EQ(g->unsupported_outputs.count("Y"), 1u);
    EXPECT_TRUE(contains(g->unsupported_outputs.at("Y"), "graph output 'Y' (made by node 'relu' (Relu)) has element type FLOAT8E4M3FN"))
        << g->unsupported_outputs.at("Y");
    const auto path = std::filesystem::temp_directory_path() / ("shardscore_f8_" + std::to_string(::getpid()) + ".onnx");
    std::ofstream(path, std::ios::binary) << bytes_of(m);
    auto all = Engine::load(path.string(), "cpu");
    auto z_only = Engine::load(path.string(), "cpu", EngineOptions{.outputs = {"Z"}});
    std::filesystem::remove(path);
    ASSERT_FALSE(all.ok());
    EXPECT_EQ(all.status().code(), StatusCode::kUnimplemented);
    EXPECT_TRUE(contains(all.status().message(), "graph output 'Y' (made by node 'relu' (Relu)) has element type FLOAT8E4M3FN"))
        << all.status().message();
    EXPECT_TRUE(z_only.ok()) << z_only.status().message();
  }
  {
    auto m = relu_model();
    m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(22);  // INT4 (ONNX 1.16)
    auto g = graph_parse_onnx(bytes_of(m), "i4.onnx");
    ASSERT_FALSE(g.ok());
    EXPECT_TRUE(contains(g.status().message(), "graph input 'X' (read by node 'relu' (Relu)) has element type INT4")) << g.status().message();
  }
  {
    // An initializer of such a type (a float8 zero point): named with the node that reads it.
    auto m = relu_model();
    add_node(&m, "Add", {"X", "W8"}, {"Z"}, "add8");
    onnx::TensorProto* w = m.mutable_graph()->add_initializer();
    w->set_name("W8");
    w->set_data_type(17);  // FLOAT8E4M3FN
    w->add_dims(1);
    w->set_raw_data(std::string(1, '\0'));
    auto g = graph_parse_onnx(bytes_of(m), "w8.onnx");
    ASSERT_FALSE(g.ok());
    EXPECT_TRUE(contains(g.status().message(), "initializer 'W8' (read by node 'add8' (Add))")) << g.status().message();
  }
  {
    auto m = relu_model();
    auto* t = m.mutable_graph()->mutable_input(0)->mutable_type();
    t->clear_tensor_type();
    t->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto_DataType_FLOAT);
    auto g = graph_parse_onnx(bytes_of(m), "seq.onnx");
    ASSERT_FALSE(g.ok());
    EXPECT_TRUE(contains(g.status().message(), "graph input 'X' (read by node 'relu' (Relu)) is not a tensor")) << g.status().message();
  }
}

// torch's dynamo exporter writes ops as functions the model defines (pkg.onnxscript.torch_lib):
// the error says so and how to inline them, rather than list them among unknown ops.
TEST(GraphParse, ModelLocalFunctionCallNamesTheFunctionAndTheFix) {
  auto m = new_model();
  auto* imp = m.add_opset_import();
  imp->set_domain("pkg.onnxscript.torch_lib");
  imp->set_version(1);
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  add_node(&m, "aten_relu", {"X"}, {"Y"}, "call")->set_domain("pkg.onnxscript.torch_lib");
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  auto* f = m.add_functions();
  f->set_name("aten_relu");
  f->set_domain("pkg.onnxscript.torch_lib");
  f->add_input("self");
  f->add_output("out");
  auto* body = f->add_node();
  body->set_op_type("Relu");
  body->add_input("self");
  body->add_output("out");
  auto* fi = f->add_opset_import();
  fi->set_domain("");
  fi->set_version(17);
  auto g = graph_parse_onnx(bytes_of(m), "dynamo.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kUnimplemented);
  const std::string& msg = g.status().message();
  EXPECT_TRUE(contains(msg, "node 'call' calls 'aten_relu' (domain 'pkg.onnxscript.torch_lib'), a function the model defines"))
      << msg;
  EXPECT_TRUE(contains(msg, "onnx.inliner.inline_local_functions")) << msg;
  const auto path = std::filesystem::temp_directory_path() / ("shardscore_fn_" + std::to_string(::getpid()) + ".onnx");
  std::ofstream(path, std::ios::binary) << bytes_of(m);
  auto s = graph_inspect_onnx(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->unsupported.size(), 1u);
  EXPECT_TRUE(contains(s->unsupported[0], "aten_relu (pkg.onnxscript.torch_lib, a function the model defines): 1 node"))
      << s->unsupported[0];
  EXPECT_TRUE(contains(s->hint, "onnx.inliner.inline_local_functions")) << s->hint;
}

TEST(GraphParse, UnsupportedOp_UnnamedNodeGetsIndexName) {
  auto m = relu_model();
  add_node(&m, "MaxUnpool", {"Y"}, {"Z"});  // node index 1, no name
  auto g = graph_parse_onnx(bytes_of(m), "unpool2.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(contains(g.status().message(), "MaxUnpool_1")) << g.status().message();
}

TEST(GraphParse, UnsupportedOp_ListsTheOpsAModelMayUse) {
  // The list names ONNX ops, not the ops shardscore's passes make (FusedConv, RawInput, ...).
  auto m = relu_model();
  add_node(&m, "MaxUnpool", {"Y"}, {"Z"}, "unpool");
  auto g = graph_parse_onnx(bytes_of(m), "unpool3.onnx");
  ASSERT_FALSE(g.ok());
  const std::string msg = g.status().message();
  EXPECT_TRUE(contains(msg, "this build runs: ")) << msg;
  EXPECT_TRUE(contains(msg, "Conv, ")) << msg;
  EXPECT_TRUE(contains(msg, "LayerNormalization")) << msg;
  for (const char* internal : {"FusedConv", "FusedGemm", "RawInput", "ToBlocked", "BlockedMaxPool"}) {
    EXPECT_FALSE(contains(msg, internal)) << internal << " in: " << msg;
  }
}

TEST(GraphParse, SupportedOpAtUnsupportedOpset_Unimplemented) {
  // Cast is registered for opsets 6..21: at 22 the message names the opsets it runs at (not a list
  // of every op, which would name Cast as supported), and, 22 being past every op's, the opset to
  // export at.
  auto m = new_model(22);
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  auto* n = add_node(&m, "Cast", {"X"}, {"Y"}, "cast");
  auto* to = n->add_attribute();
  to->set_name("to");
  to->set_type(onnx::AttributeProto_AttributeType_INT);
  to->set_i(onnx::TensorProto_DataType_INT64);
  add_output(&m, "Y", onnx::TensorProto_DataType_INT64, {-1, 3});
  auto g = graph_parse_onnx(bytes_of(m), "cast22.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kUnimplemented) << g.status().message();
  EXPECT_TRUE(contains(g.status().message(), "opset 22")) << g.status().message();
  EXPECT_TRUE(contains(g.status().message(), "this build runs ops up to opset 21 (Cast at opsets 6-21): export it at "
                                             "opset 21 or below")) << g.status().message();
  EXPECT_FALSE(contains(g.status().message(), "Relu")) << g.status().message();
}

// Dangling inputs and cycles are found by shardscore's own checks, which run before ONNX's
// checker so the message names the value and the node plainly.
TEST(GraphParse, DanglingInput_Rejected) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  add_node(&m, "Add", {"X", "ghost_value"}, {"Y"}, "reads_ghost");
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  auto g = graph_parse_onnx(bytes_of(m), "m_ghost.onnx");
  ASSERT_FALSE(g.ok());
  const std::string& msg = g.status().message();
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument) << msg;
  EXPECT_TRUE(contains(msg, "m_ghost.onnx")) << msg;
  EXPECT_TRUE(contains(msg, "'ghost_value'")) << msg;
  EXPECT_TRUE(contains(msg, "reads_ghost")) << msg;
  EXPECT_TRUE(contains(msg, "dangling")) << msg;
  EXPECT_FALSE(contains(msg, "\n")) << "message is not one line: " << msg;
}

TEST(GraphParse, Cycle_Rejected) {
  // A reads B's output and B reads A's.
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  add_node(&m, "Relu", {"b_out"}, {"a_out"}, "node_a");
  add_node(&m, "Relu", {"a_out"}, {"b_out"}, "node_b");
  add_output(&m, "b_out", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  auto g = graph_parse_onnx(bytes_of(m), "m_two_nodes.onnx");
  ASSERT_FALSE(g.ok());
  const std::string& msg = g.status().message();
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument) << msg;
  EXPECT_TRUE(contains(msg, "m_two_nodes.onnx")) << msg;
  EXPECT_TRUE(contains(msg, "cycle")) << msg;
  EXPECT_TRUE(contains(msg, "node_a")) << msg;  // the first node left unsorted
  EXPECT_FALSE(contains(msg, "\n")) << "message is not one line: " << msg;
}

TEST(GraphParse, NodesOutOfOrderAreSortedNotRefused) {
  // onnxruntime's float16 converter with keep_io_types appends the input Cast after the nodes that
  // read it; ONNX Runtime runs such a model, and ONNX's checker refused it ("must be topologically
  // sorted"). It loads, sorted, and runs.
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  add_node(&m, "Neg", {"x_relu"}, {"Y"}, "second");
  add_node(&m, "Relu", {"X"}, {"x_relu"}, "first");
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  auto g = graph_parse_onnx(bytes_of(m), "unsorted.onnx");
  ASSERT_TRUE(g.ok()) << g.status().message();
  ASSERT_EQ(g->nodes.size(), 2u);
  EXPECT_EQ(g->nodes[0].name, "first");
  EXPECT_EQ(g->nodes[1].name, "second");
}

TEST(GraphParse, ShortRawData_DataLoss) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {2, 3});
  add_float_initializer(&m, "weights_w", 8);  // [2, 3] float needs 24 bytes
  add_node(&m, "Add", {"X", "weights_w"}, {"Y"}, "add");
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {2, 3});
  auto g = graph_parse_onnx(bytes_of(m), "short.onnx");
  ASSERT_FALSE(g.ok());
  const std::string& msg = g.status().message();
  EXPECT_EQ(g.status().code(), StatusCode::kDataLoss) << msg;
  EXPECT_TRUE(contains(msg, "'weights_w'")) << msg;

  // Control: the complete initializer loads.
  auto ok_model = new_model();
  add_input(&ok_model, "X", onnx::TensorProto_DataType_FLOAT, {2, 3});
  add_float_initializer(&ok_model, "weights_w", 24);
  add_node(&ok_model, "Add", {"X", "weights_w"}, {"Y"}, "add");
  add_output(&ok_model, "Y", onnx::TensorProto_DataType_FLOAT, {2, 3});
  auto g2 = graph_parse_onnx(bytes_of(ok_model), "complete.onnx");
  ASSERT_TRUE(g2.ok()) << g2.status().message();
  EXPECT_EQ(g2->initializers.at("weights_w").shape(), (Shape{2, 3}));
}

// A float [2, 3] initializer "external_w" stored externally at `location`, read by Add.
onnx::ModelProto external_data_model(const std::string& location) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {2, 3});
  auto* w = add_float_initializer(&m, "external_w", 0);
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
  auto* loc = w->add_external_data();
  loc->set_key("location");
  loc->set_value(location);
  add_node(&m, "Add", {"X", "external_w"}, {"Y"}, "add");
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {2, 3});
  return m;
}

// A folder holding a model whose initializer lives in external data, for the confinement tests.
class ExternalData : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("shardscore_ext_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "model");
    const float w[6] = {1, 2, 3, 4, 5, 6};
    std::ofstream(dir_ / "model" / "w.bin", std::ios::binary).write(reinterpret_cast<const char*>(w), sizeof w);
    std::ofstream(dir_ / "outside.bin", std::ios::binary).write(reinterpret_cast<const char*>(w), sizeof w);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Writes the model (initializer at `location`) into dir_/model and loads it from its path.
  StatusOr<Graph> load(const std::string& location, int64_t length = -1) {
    auto m = external_data_model(location);
    if (length >= 0) {
      auto* kv = m.mutable_graph()->mutable_initializer(0)->add_external_data();
      kv->set_key("length");
      kv->set_value(std::to_string(length));
    }
    const auto path = dir_ / "model" / "m.onnx";
    std::ofstream(path, std::ios::binary) << bytes_of(m);
    return graph_load_onnx(path.string());
  }
  std::filesystem::path dir_;
};

TEST_F(ExternalData, BesideTheModelLoads) {
  auto g = load("w.bin");
  ASSERT_TRUE(g.ok()) << g.status().message();
  const Tensor& w = g->initializers.at("external_w");
  ASSERT_EQ(w.numel(), 6);
  EXPECT_EQ(w.data<float>()[0], 1.0f);
  EXPECT_EQ(w.data<float>()[5], 6.0f);
  EXPECT_EQ(g->external_data, std::vector<std::string>({"w.bin"}));  // named once, as the model names it
  // And the model runs with it.
  auto e = Engine::load((dir_ / "model" / "m.onnx").string(), "cpu");
  ASSERT_TRUE(e.ok()) << e.status().message();
  const float x[6] = {10, 10, 10, 10, 10, 10};
  std::vector<Tensor> out;
  ASSERT_TRUE(e.value()->run({Tensor::copy_of(DType::kFloat32, {2, 3}, x)}, &out).ok());
  EXPECT_EQ(out.at(0).data<float>()[5], 16.0f);
}

TEST_F(ExternalData, PathsLeavingTheModelsFolderAreRefused) {
  for (const std::string& loc : std::vector<std::string>{"../outside.bin", "sub/../../outside.bin", (dir_ / "outside.bin").string()}) {
    auto g = load(loc);
    ASSERT_FALSE(g.ok()) << loc;
    EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument) << g.status().message();
    EXPECT_TRUE(contains(g.status().message(), "outside the model's folder")) << g.status().message();
    EXPECT_TRUE(contains(g.status().message(), "'external_w'")) << g.status().message();
  }
  // A symbolic link inside the folder that points out of it is refused too.
  std::filesystem::create_symlink(dir_ / "outside.bin", dir_ / "model" / "link.bin");
  auto g = load("link.bin");
  ASSERT_FALSE(g.ok());
  EXPECT_TRUE(contains(g.status().message(), "outside the model's folder")) << g.status().message();
}

TEST_F(ExternalData, MissingOrShortDataIsAnError) {
  auto missing = load("nope.bin");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().message();
  EXPECT_TRUE(contains(missing.status().message(), "nope.bin"));
  auto wrong_length = load("w.bin", 12);
  EXPECT_EQ(wrong_length.status().code(), StatusCode::kDataLoss) << wrong_length.status().message();
  std::filesystem::resize_file(dir_ / "model" / "w.bin", 10);
  auto short_file = load("w.bin");
  EXPECT_EQ(short_file.status().code(), StatusCode::kDataLoss) << short_file.status().message();
}

TEST(GraphInspect, SummarizesEvenModelsThisBuildCannotRun) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  add_float_initializer(&m, "W", 6);
  add_node(&m, "MaxUnpool", {"X", "W"}, {"Y"}, "e1");
  add_node(&m, "Relu", {"Y"}, {"Z"}, "r1");
  add_output(&m, "Z", onnx::TensorProto_DataType_FLOAT, {-1, 2});
  const auto path = std::filesystem::temp_directory_path() / ("shardscore_inspect_" + std::to_string(::getpid()) + ".onnx");
  std::ofstream(path, std::ios::binary) << bytes_of(m);
  auto s = graph_inspect_onnx(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->nodes, 2);
  EXPECT_EQ(s->op_counts.at("MaxUnpool"), 1);
  EXPECT_EQ(s->op_counts.at("Relu"), 1);
  EXPECT_EQ(s->parameters, 6);
  ASSERT_EQ(s->inputs.size(), 1u) << "initializers are not inputs";
  EXPECT_EQ(s->inputs[0].dims, (Shape{-1, 3}));
  ASSERT_EQ(s->unsupported.size(), 1u);
  EXPECT_TRUE(contains(s->unsupported[0], "MaxUnpool (ai.onnx, opset 17): 1 node")) << s->unsupported[0];
  EXPECT_EQ(graph_inspect_onnx("/nonexistent.onnx").status().code(), StatusCode::kNotFound);
}

// Parameters kept in attributes count: a Constant node's tensor (as some exporters store weights)
// and an ai.onnx.ml op's float and int arrays (a Scaler's offset and scale, a LabelEncoder's keys
// and values here); an initializer too.
TEST(GraphInspect, CountsParametersKeptInAttributes) {
  auto m = new_model();
  auto* ml = m.add_opset_import();
  ml->set_domain("ai.onnx.ml");
  ml->set_version(3);
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  add_float_initializer(&m, "W", 24);  // [2, 3]: 6
  auto* scaler = add_node(&m, "Scaler", {"X"}, {"S"}, "scaler");
  scaler->set_domain("ai.onnx.ml");
  for (const char* name : {"offset", "scale"}) {
    auto* a = scaler->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_FLOATS);
    for (float v : {1.f, 2.f, 3.f}) a->add_floats(v);
  }
  auto* c = add_node(&m, "Constant", {}, {"B"}, "bias");
  auto* value = c->add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto_AttributeType_TENSOR);
  value->mutable_t()->set_data_type(onnx::TensorProto_DataType_FLOAT);
  value->mutable_t()->add_dims(4);
  value->mutable_t()->set_raw_data(std::string(16, '\0'));
  // An ai.onnx.ml op's int arrays count too (a LabelEncoder's keys: 2, with its 2 float values);
  // a standard op's int arrays are settings (Transpose's perm): not counted.
  auto* encoder = add_node(&m, "LabelEncoder", {"K"}, {"V"}, "encoder");
  encoder->set_domain("ai.onnx.ml");
  auto* keys = encoder->add_attribute();
  keys->set_name("keys_int64s");
  keys->set_type(onnx::AttributeProto_AttributeType_INTS);
  for (int64_t k : {3, 7}) keys->add_ints(k);
  auto* values = encoder->add_attribute();
  values->set_name("values_floats");
  values->set_type(onnx::AttributeProto_AttributeType_FLOATS);
  for (float v : {0.5f, 1.5f}) values->add_floats(v);
  auto* transpose = add_node(&m, "Transpose", {"S"}, {"T"}, "t1");
  auto* perm = transpose->add_attribute();
  perm->set_name("perm");
  perm->set_type(onnx::AttributeProto_AttributeType_INTS);
  for (int64_t k : {1, 0}) perm->add_ints(k);
  add_node(&m, "Relu", {"S"}, {"Z"}, "r1");
  add_output(&m, "Z", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  const auto path = std::filesystem::temp_directory_path() / ("shardscore_inspect_attrs_" + std::to_string(::getpid()) + ".onnx");
  std::ofstream(path, std::ios::binary) << bytes_of(m);
  auto s = graph_inspect_onnx(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->parameters, 6 + 3 + 3 + 4 + 2 + 2);
  EXPECT_EQ(s->parameter_bytes, (6 + 3 + 3 + 4 + 2) * 4 + 2 * 8);
}

TEST(GraphParse, MlOpWithoutMlDomainImport_Rejected) {
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {2, 5});
  auto* idx = m.mutable_graph()->add_initializer();
  idx->set_name("indices");
  idx->set_data_type(onnx::TensorProto_DataType_INT64);
  idx->add_dims(2);
  idx->add_int64_data(1);
  idx->add_int64_data(0);
  auto* n = add_node(&m, "ArrayFeatureExtractor", {"X", "indices"}, {"Y"}, "afe");
  n->set_domain("ai.onnx.ml");
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {2, 2});
  auto g = graph_parse_onnx(bytes_of(m), "noml.onnx");
  ASSERT_FALSE(g.ok());
  const std::string& msg = g.status().message();
  EXPECT_TRUE(contains(msg, "ai.onnx.ml")) << msg;
  EXPECT_TRUE(contains(msg, "afe")) << msg;

  // Control: importing the domain makes the same model load.
  auto* ml = m.add_opset_import();
  ml->set_domain("ai.onnx.ml");
  ml->set_version(3);
  auto g2 = graph_parse_onnx(bytes_of(m), "ml.onnx");
  ASSERT_TRUE(g2.ok()) << g2.status().message();
  EXPECT_EQ(g2->nodes.at(0).domain, "ai.onnx.ml");
  EXPECT_EQ(g2->nodes.at(0).opset, 3);
}

// Without an import of the default domain a default-domain node is refused, naming it; a model of
// ai.onnx.ml ops alone loads (onnxmltools' XGBoost export imports ai.onnx.ml only).
TEST(GraphParse, NoDefaultOpset_RefusedOnlyForDefaultDomainNodes) {
  auto m = relu_model();
  m.clear_opset_import();
  auto* ml = m.add_opset_import();
  ml->set_domain("ai.onnx.ml");
  ml->set_version(3);
  auto g = graph_parse_onnx(bytes_of(m), "noopset.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_TRUE(contains(g.status().message(), "noopset.onnx")) << g.status().message();
  EXPECT_TRUE(contains(g.status().message(), "node 'relu' (Relu) uses domain 'ai.onnx', which the model does not import"))
      << g.status().message();

  auto only_ml = new_model();
  only_ml.clear_opset_import();
  auto* imp = only_ml.add_opset_import();
  imp->set_domain("ai.onnx.ml");
  imp->set_version(1);
  add_input(&only_ml, "X", onnx::TensorProto_DataType_FLOAT, {-1, 2});
  auto* scaler = add_node(&only_ml, "Scaler", {"X"}, {"Y"}, "scaler");
  scaler->set_domain("ai.onnx.ml");
  for (const char* name : {"offset", "scale"}) {
    auto* a = scaler->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_FLOATS);
    a->add_floats(1.f);
    a->add_floats(2.f);
  }
  add_output(&only_ml, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 2});
  const auto path = std::filesystem::temp_directory_path() / ("shardscore_mlonly_" + std::to_string(::getpid()) + ".onnx");
  std::ofstream(path, std::ios::binary) << bytes_of(only_ml);
  auto e = Engine::load(path.string(), "cpu");
  std::filesystem::remove(path);
  ASSERT_TRUE(e.ok()) << e.status().message();
  const float x[] = {3.f, 5.f, -1.f, 0.f};
  std::vector<Tensor> out;
  ASSERT_TRUE((*e)->run({Tensor::copy_of(DType::kFloat32, {2, 2}, x)}, &out).ok());
  const float want[] = {(3.f - 1.f) * 1.f, (5.f - 2.f) * 2.f, (-1.f - 1.f) * 1.f, (0.f - 2.f) * 2.f};  // (x - offset) * scale
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(out.at(0).data<float>()[i], want[i]) << i;
}

}  // namespace
}  // namespace shardscore

namespace shardscore {
namespace {
using namespace shardscore::onnx_builder;

// Debian's libonnx 1.12 knows schemas up to opset 17; an opset-18 model (ReduceMean with its axes
// as an input) must still load — shardscore's own checks apply — and compute the right thing.
TEST(GraphParse, Opset18BeyondTheInstalledCheckerLoadsAndRuns) {
  auto m = new_model(18);
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 4});
  auto* axes = m.mutable_graph()->add_initializer();
  axes->set_name("axes");
  axes->set_data_type(onnx::TensorProto_DataType_INT64);
  axes->add_dims(1);
  axes->add_int64_data(1);
  add_node(&m, "ReduceMean", {"X", "axes"}, {"Y"}, "mean");
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 1});
  const auto path = std::filesystem::temp_directory_path() / ("shardscore_opset18_" + std::to_string(::getpid()) + ".onnx");
  std::ofstream(path, std::ios::binary) << bytes_of(m);
  auto e = Engine::load(path.string(), "cpu");
  std::filesystem::remove(path);
  ASSERT_TRUE(e.ok()) << e.status().message();
  const float x[8] = {1, 2, 3, 6, -4, 0, 4, 8};
  std::vector<Tensor> out;
  ASSERT_TRUE(e.value()->run({Tensor::copy_of(DType::kFloat32, {2, 4}, x)}, &out).ok());
  ASSERT_EQ(out.at(0).shape(), (Shape{2, 1}));
  EXPECT_FLOAT_EQ(out[0].data<float>()[0], 3.0f);
  EXPECT_FLOAT_EQ(out[0].data<float>()[1], 2.0f);
}

}  // namespace
}  // namespace shardscore

namespace shardscore {
namespace {
using namespace shardscore::onnx_builder;

// A few bytes claiming a 2^38-element tensor (1 TiB of float32) must be refused by comparing the
// claim with the data present — before anything is allocated (else this test dies of bad_alloc).
TEST(GraphParse, HugeClaimedTensorsAreRefusedWithoutAllocating) {
  for (bool raw : {true, false}) {
    auto m = relu_model();
    auto* t = m.mutable_graph()->add_initializer();
    t->set_name("huge");
    t->set_data_type(onnx::TensorProto_DataType_FLOAT);
    t->add_dims(int64_t{1} << 38);
    if (raw) t->set_raw_data(std::string(16, '\0'));
    else t->add_float_data(1.0f);
    auto g = graph_parse_onnx(bytes_of(m), "huge.onnx");
    EXPECT_EQ(g.status().code(), StatusCode::kDataLoss) << g.status().message();
    EXPECT_TRUE(contains(g.status().message(), "'huge'")) << g.status().message();
  }
  auto m = relu_model();
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name("impossible");
  t->set_data_type(onnx::TensorProto_DataType_FLOAT);
  for (int k = 0; k < 6; ++k) t->add_dims(int64_t{1} << 20);  // 2^120 elements: overflows int64
  auto g = graph_parse_onnx(bytes_of(m), "impossible.onnx");
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument) << g.status().message();
  EXPECT_TRUE(contains(g.status().message(), "impossible shape")) << g.status().message();
}

}  // namespace
}  // namespace shardscore
