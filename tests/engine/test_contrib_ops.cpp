// ONNX Runtime's contrib ops expanded at load (engine/contrib_ops.h): what they become, what is
// refused and how. Their values are held to ONNX Runtime itself by tests/e2e/test_ops_vs_onnxruntime.py
// (the com.microsoft cases) and tests/e2e/test_fixtures.py (the bert_tiny*_ortopt fixtures).
#include "engine/contrib_ops.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/onnx_builder.h"

namespace shardscore {
namespace {
using namespace shardscore::onnx_builder;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

constexpr int32_t kF32 = onnx::TensorProto_DataType_FLOAT, kI32 = onnx::TensorProto_DataType_INT32;

onnx::ModelProto contrib_model() {
  onnx::ModelProto m = new_model(17);
  auto* op = m.add_opset_import();
  op->set_domain("com.microsoft");
  op->set_version(1);
  return m;
}

onnx::NodeProto* ms_node(onnx::ModelProto* m, const std::string& op, const std::vector<std::string>& in,
                         const std::vector<std::string>& out, const std::string& name = "") {
  auto* n = add_node(m, op, in, out, name);
  n->set_domain("com.microsoft");
  return n;
}

// x [N, 4, 6] -> Attention(W [6, 24], bias, mask) with 2 heads -> y [N, 4, 8]
void add_attention(onnx::ModelProto* m, const std::string& x, const std::string& mask, const std::string& y,
                   const std::string& name) {
  auto* n = ms_node(m, "Attention", {x, "W", "Wb", mask}, {y}, name);
  set_int_attr(n, "num_heads", 2);
}
void add_qkv_weights(onnx::ModelProto* m) {
  add_float_tensor(m, "W", {6, 24}, std::vector<float>(144, 0.1f));
  add_float_tensor(m, "Wb", {24}, std::vector<float>(24, 0.0f));
}
// The attention tests' frame: input x [N, 4, 6], output y [N, 4, 8], W and Wb; the nodes are the test's.
onnx::ModelProto attention_model() {
  onnx::ModelProto m = contrib_model();
  add_input(&m, "x", kF32, {-1, 4, 6});
  add_output(&m, "y", kF32, {-1, 4, 8});
  add_qkv_weights(&m);
  return m;
}
// A value typed int32 without a shape (onnxruntime.transformers' float16 conversion writes such value_info).
void set_type_only(onnx::ValueInfoProto* v, const std::string& name) {
  v->set_name(name);
  v->mutable_type()->mutable_tensor_type()->set_elem_type(kI32);
}

int count_ops(const Graph& g, const std::string& domain, const std::string& op) {
  return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(),
                                        [&](const Node& n) { return n.domain == domain && n.op_type == op; }));
}

TEST(ContribOps, ExpandsSixOpsOfComMicrosoftOpset1) {
  for (const char* op : {"BiasGelu", "FastGelu", "QuickGelu", "SkipLayerNormalization", "EmbedLayerNormalization", "Attention"}) {
    EXPECT_TRUE(contrib_op_expands("com.microsoft", op, 1)) << op;
    EXPECT_FALSE(contrib_op_expands("com.microsoft", op, 2)) << op;
    EXPECT_FALSE(contrib_op_expands("", op, 1)) << op;
  }
  EXPECT_FALSE(contrib_op_expands("com.microsoft", "MultiHeadAttention", 1));
  EXPECT_FALSE(contrib_op_expands("com.microsoft", "Gelu", 1));  // in the op table itself
}

// Two layers reading one mask_index (EmbedLayerNormalization's, as in the optimizer's BERT): the
// additive mask is built once; each Attention becomes three projections and shardscore.Attention.
TEST(ContribOps, AttentionLayersShareOneMask) {
  onnx::ModelProto m = attention_model();
  add_input(&m, "mask", kI32, {-1, 4});
  add_attention(&m, "x", "mask", "h", "layer0");
  add_attention(&m, "h", "mask", "y", "layer1");
  auto g = graph_parse_onnx(bytes_of(m), "attention.onnx");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(count_ops(*g, "com.microsoft", "Attention"), 0);
  EXPECT_EQ(count_ops(*g, "shardscore", "Attention"), 2);
  EXPECT_EQ(count_ops(*g, "", "MatMul"), 6);
  EXPECT_EQ(count_ops(*g, "", "Where"), 1);  // the 2-D raw mask, once
  std::vector<const Node*> attention;
  for (const auto& n : g->nodes)
    if (n.domain == "shardscore" && n.op_type == "Attention") attention.push_back(&n);
  ASSERT_EQ(attention.size(), 2u);
  ASSERT_EQ(attention[0]->inputs.size(), 4u);
  ASSERT_EQ(attention[1]->inputs.size(), 4u);
  EXPECT_EQ(attention[0]->inputs[3], attention[1]->inputs[3]);
  EXPECT_FLOAT_EQ(attention[0]->attr_float("scale", 0), 1.0f / std::sqrt(4.0f));  // head size 24 / 3 / 2
  EXPECT_EQ(attention[0]->attr_int("scale_divides", 1), 0);
  // the node order still holds: every input is made before it is read
  std::set<std::string> made;
  for (const auto& [name, t] : g->initializers) made.insert(name);
  for (const auto& in : g->inputs) made.insert(in.name);
  for (const auto& n : g->nodes) {
    for (const auto& i : n.inputs) EXPECT_TRUE(i.empty() || made.count(i)) << n.describe() << " reads " << i;
    made.insert(n.outputs.begin(), n.outputs.end());
  }
}

// A mask made in the graph has no declared rank: ONNX's shape inference gives it. Where nothing
// gives one, the node is refused by name.
TEST(ContribOps, MaskRankFromShapeInferenceOrRefused) {
  onnx::ModelProto m = attention_model();
  add_input(&m, "m", kF32, {-1, 4});
  add_float_tensor(&m, "zero", {}, {0.0f});
  add_node(&m, "Greater", {"m", "zero"}, {"keep"});
  set_int_attr(add_node(&m, "Cast", {"keep"}, {"keep_i32"}), "to", kI32);
  add_attention(&m, "x", "keep_i32", "y", "att");
  auto g = graph_parse_onnx(bytes_of(m), "inferred.onnx");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(count_ops(*g, "shardscore", "Attention"), 1);

  onnx::ModelProto u = attention_model();
  set_type_only(u.mutable_graph()->add_input(), "mask");
  add_attention(&u, "x", "mask", "y", "att");
  auto r = graph_parse_onnx(bytes_of(u), "unranked.onnx");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "unranked.onnx")) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "node 'att' (Attention)")) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "mask_index 'mask'")) << r.status().message();
}

// EmbedLayerNormalization's mask_index is [B] whatever the model says of it: onnxruntime.transformers'
// float16 conversion declares it in value_info with a type and no shape.
TEST(ContribOps, EmbedMaskIndexFeedsAttentionAsLengths) {
  onnx::ModelProto m = contrib_model();
  add_input(&m, "ids", kI32, {-1, 4});
  add_input(&m, "mask", kI32, {-1, 4});
  add_output(&m, "y", kF32, {-1, 4, 8});
  add_float_tensor(&m, "we", {10, 6}, std::vector<float>(60, 0.5f));
  add_float_tensor(&m, "pe", {8, 6}, std::vector<float>(48, 0.25f));
  add_float_tensor(&m, "g", {6}, std::vector<float>(6, 1.0f));
  add_float_tensor(&m, "b", {6}, std::vector<float>(6, 0.0f));
  add_qkv_weights(&m);
  ms_node(&m, "EmbedLayerNormalization", {"ids", "", "we", "pe", "", "g", "b", "mask"}, {"e", "mask_index"}, "emb");
  set_type_only(m.mutable_graph()->add_value_info(), "mask_index");
  add_attention(&m, "e", "mask_index", "y", "att");
  auto g = graph_parse_onnx(bytes_of(m), "embed.onnx");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(count_ops(*g, "", "Less"), 1);     // lengths: key j kept where j < length
  EXPECT_EQ(count_ops(*g, "", "Greater"), 0);  // not a raw mask
  EXPECT_EQ(count_ops(*g, "", "GreaterOrEqual"), 1);  // [2B] starts, zeros for [B]
}

// A mask_index computed by standard ops (the optimizer's ReduceSum where it fuses no
// EmbedLayerNormalization) and typed without a shape in value_info, as its float16 conversion
// leaves it: ONNX's shape inference gives its rank, 1 (the checker's own edit of such values, an
// empty shape, must not make it 0).
TEST(ContribOps, ShapelessValueInfoMaskFromReduceSum) {
  onnx::ModelProto m = attention_model();
  add_input(&m, "mask", onnx::TensorProto_DataType_INT64, {-1, 4});
  add_int64_tensor(&m, "axis1", {1}, {1});
  set_int_attr(add_node(&m, "Cast", {"mask"}, {"mask_i32"}), "to", kI32);
  set_int_attr(add_node(&m, "ReduceSum", {"mask_i32", "axis1"}, {"lengths"}), "keepdims", 0);
  for (const char* v : {"mask_i32", "lengths"}) set_type_only(m.mutable_graph()->add_value_info(), v);
  add_attention(&m, "x", "lengths", "y", "att");
  auto g = graph_parse_onnx(bytes_of(m), "reducesum.onnx");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(count_ops(*g, "", "Less"), 1);  // lengths, not a raw mask
  EXPECT_EQ(count_ops(*g, "", "Greater"), 0);
}

TEST(ContribOps, RefusalsNameTheNodeAndTheReason) {
  const auto attention_with = [](auto edit) {
    onnx::ModelProto m = attention_model();
    auto* n = ms_node(&m, "Attention", {"x", "W", "Wb"}, {"y"}, "att");
    set_int_attr(n, "num_heads", 2);
    edit(&m, n);
    return m;
  };
  struct Case {
    onnx::ModelProto model;
    StatusCode code;
    std::string needle;
  };
  std::vector<Case> cases;
  cases.push_back({attention_with([](onnx::ModelProto* m, onnx::NodeProto* n) {
                     add_input(m, "Wg", kF32, {6, 24});
                     n->set_input(1, "Wg");
                   }),
                   StatusCode::kUnimplemented, "weights 'Wg' that are not a constant matrix"});
  cases.push_back({attention_with([](onnx::ModelProto*, onnx::NodeProto* n) { set_ints_attr(n, "qkv_hidden_sizes", {8, 6, 10}); }),
                   StatusCode::kInvalidArgument, "Q's equal to K's"});
  cases.push_back({attention_with([](onnx::ModelProto*, onnx::NodeProto* n) { n->mutable_attribute(0)->set_i(5); }),
                   StatusCode::kInvalidArgument, "num_heads 5"});
  cases.push_back({attention_with([](onnx::ModelProto*, onnx::NodeProto* n) { n->clear_attribute(); }),
                   StatusCode::kInvalidArgument, "num_heads must be given"});
  cases.push_back({attention_with([](onnx::ModelProto* m, onnx::NodeProto* n) {
                     add_float_tensor(m, "past", {2, 1, 2, 1, 4}, std::vector<float>(16, 0.0f));
                     n->add_input("");
                     n->add_input("past");
                   }),
                   StatusCode::kUnimplemented, "past / present"});
  {
    onnx::ModelProto m = contrib_model();
    add_input(&m, "ids", kI32, {-1, 4});
    add_input(&m, "seg", kI32, {-1, 4});
    add_output(&m, "y", kF32, {-1, 4, 3});
    add_float_tensor(&m, "we", {10, 3}, std::vector<float>(30, 0.5f));
    add_float_tensor(&m, "pe", {8, 3}, std::vector<float>(24, 0.5f));
    add_float_tensor(&m, "g", {3}, {1, 1, 1});
    add_float_tensor(&m, "b", {3}, {0, 0, 0});
    ms_node(&m, "EmbedLayerNormalization", {"ids", "seg", "we", "pe", "", "g", "b"}, {"y"}, "emb");
    cases.push_back({m, StatusCode::kInvalidArgument, "segment_ids and segment_embedding must be given together"});
  }
  {
    onnx::ModelProto m = contrib_model();
    add_input(&m, "x", kF32, {-1, 4, 3});
    add_output(&m, "y", kF32, {-1, 4, 3});
    add_output(&m, "mean", kF32, {-1, 4, 1});
    add_float_tensor(&m, "g", {3}, {1, 1, 1});
    ms_node(&m, "SkipLayerNormalization", {"x", "x", "g"}, {"y", "mean"}, "skip");
    cases.push_back({m, StatusCode::kUnimplemented, "mean / inv_std_var"});
  }
  for (const auto& c : cases) {
    auto g = graph_parse_onnx(bytes_of(c.model), "contrib.onnx");
    ASSERT_FALSE(g.ok()) << c.needle;
    EXPECT_EQ(g.status().code(), c.code) << g.status().message();
    EXPECT_TRUE(contains(g.status().message(), "contrib.onnx")) << g.status().message();
    EXPECT_TRUE(contains(g.status().message(), "(com.microsoft)")) << g.status().message();
    EXPECT_TRUE(contains(g.status().message(), c.needle)) << g.status().message();
  }
}

// SkipLayerNormalization's sum output is the Add's own (read by the next layer in pre-norm models);
// BiasGelu is the Add then com.microsoft's own Gelu.
TEST(ContribOps, SkipLayerNormalizationAndBiasGelu) {
  onnx::ModelProto m = contrib_model();
  add_input(&m, "x", kF32, {-1, 4, 3});
  add_input(&m, "skip", kF32, {-1, 4, 3});
  add_output(&m, "y", kF32, {-1, 4, 3});
  add_output(&m, "sum", kF32, {-1, 4, 3});
  add_float_tensor(&m, "g", {3}, {1, 2, 3});
  add_float_tensor(&m, "bias", {3}, {0.5f, 0, -0.5f});
  auto* skip = ms_node(&m, "SkipLayerNormalization", {"x", "skip", "g", "", "bias"}, {"ln", "", "", "sum"}, "skip");
  set_float_attr(skip, "epsilon", 1e-5f);
  ms_node(&m, "BiasGelu", {"ln", "bias"}, {"y"}, "gelu");
  auto g = graph_parse_onnx(bytes_of(m), "skip.onnx");
  ASSERT_TRUE(g.ok()) << g.status().message();
  ASSERT_EQ(g->nodes.size(), 5u);
  EXPECT_EQ(g->nodes[0].op_type, "Add");
  EXPECT_EQ(g->nodes[0].inputs, (std::vector<std::string>{"x", "skip"}));
  EXPECT_EQ(g->nodes[1].op_type, "Add");
  EXPECT_EQ(g->nodes[1].outputs[0], "sum");
  EXPECT_EQ(g->nodes[2].op_type, "LayerNormalization");
  EXPECT_EQ(g->nodes[2].opset, 17);
  EXPECT_EQ(g->nodes[2].inputs, (std::vector<std::string>{"sum", "g"}));
  EXPECT_FLOAT_EQ(g->nodes[2].attr_float("epsilon", 0), 1e-5f);
  EXPECT_EQ(g->nodes[2].outputs[0], "ln");
  EXPECT_EQ(g->nodes[3].op_type, "Add");
  EXPECT_EQ(g->nodes[4].op_type, "Gelu");
  EXPECT_EQ(g->nodes[4].domain, "com.microsoft");
  EXPECT_EQ(g->nodes[4].outputs[0], "y");
}

TEST(ContribOps, InspectDoesNotListThemAsMissing) {
  onnx::ModelProto m = contrib_model();
  add_input(&m, "x", kF32, {-1, 3});
  add_output(&m, "y", kF32, {-1, 3});
  ms_node(&m, "FastGelu", {"x"}, {"y"});
  const auto path = std::filesystem::temp_directory_path() / ("shardscore_test_contrib_" + std::to_string(::getpid()) + ".onnx");
  {
    std::ofstream out(path, std::ios::binary);
    out << bytes_of(m);
  }
  auto s = graph_inspect_onnx(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->unsupported.empty()) << s->unsupported[0];
  EXPECT_EQ(s->op_counts["com.microsoft:FastGelu"], 1);
}

}  // namespace
}  // namespace shardscore
