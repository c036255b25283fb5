// Engine: backend choice, retrying batches that run out of memory, and float16 compute
// (--precision fp16's graph), all on the CPU backend (the CUDA backend's own tests skip here
// without a device).
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <thread>

#include "engine/engine.h"
#include "engine/onnx_builder.h"
#include "preprocess/transforms.h"
#ifdef SHARDSCORE_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace shardscore {
namespace {

std::string source_path(const std::string& rel) {
  const char* dir = std::getenv("SHARDSCORE_SOURCE_DIR");
  EXPECT_NE(dir, nullptr) << "SHARDSCORE_SOURCE_DIR is not set (ctest sets it)";
  return std::string(dir ? dir : ".") + "/" + rel;
}

// Inputs for a model's graph inputs at `rows` rows: normal floats; int64 token ids 0..6, other
// integer inputs (masks, token types) 1.
std::vector<Tensor> random_inputs(const Engine& e, int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<Tensor> in;
  for (const ValueInfo& v : e.graph().inputs) {
    Shape s = v.dims;
    for (std::size_t d = 0; d < s.size(); ++d)
      if (s[d] < 0) s[d] = d == 0 ? rows : 8;
    Tensor t(v.dtype, s);
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (v.dtype == DType::kFloat32) t.data<float>()[i] = normal(rng);
      else if (v.dtype == DType::kInt64) t.data<int64_t>()[i] = v.name == "input_ids" ? static_cast<int64_t>(rng() % 7) : 1;
      else ADD_FAILURE() << "test cannot fill input " << v.name;
    }
    in.push_back(t);
  }
  return in;
}

// The CPU backend, refusing batches above `max_rows` rows as a GPU out of memory would.
class SmallMemoryBackend final : public Backend {
 public:
  explicit SmallMemoryBackend(int64_t max_rows) : cpu_(backend_cpu_create()), max_rows_(max_rows) {}
  std::string_view name() const override { return "cpu"; }
  bool supports(const OpEntry& op) const override { return cpu_->supports(op); }
  Status run(const Plan& plan, std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const override {
    ++calls;
    if (inputs[0].dim(0) > max_rows_) return resource_exhausted("cudaMallocAsync failed: out of memory (simulated)");
    largest_run = std::max<int64_t>(largest_run, inputs[0].dim(0));
    return cpu_->run(plan, std::move(inputs), outputs);
  }
  mutable std::atomic<int> calls{0};
  mutable std::atomic<int64_t> largest_run{0};

 private:
  std::unique_ptr<Backend> cpu_;
  int64_t max_rows_;
};

TEST(Engine, OutOfMemoryBatchIsRetriedInHalvesAndJoinedInOrder) {
  const std::string model = source_path("data/demo_mlp.onnx");
  auto reference = Engine::load(model, "cpu");
  ASSERT_TRUE(reference.ok()) << reference.status().message();
  auto small = std::make_unique<SmallMemoryBackend>(3);
  SmallMemoryBackend* probe = small.get();
  auto e = Engine::load_with(model, std::move(small));
  ASSERT_TRUE(e.ok()) << e.status().message();

  std::vector<Tensor> in = random_inputs(**reference, 11, 7);
  std::vector<Tensor> want, got;
  ASSERT_TRUE((*reference)->run(in, &want).ok());
  const Status st = (*e)->run(in, &got);
  ASSERT_TRUE(st.ok()) << st.message();
  // 11 -> 5 + 6 -> (2 + 3) + (3 + 3): three refusals, four runs.
  EXPECT_EQ(probe->calls.load(), 7);
  EXPECT_EQ(probe->largest_run.load(), 3);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t k = 0; k < got.size(); ++k) {
    ASSERT_EQ(got[k].shape(), want[k].shape());
    ASSERT_EQ(got[k].dtype(), want[k].dtype());
    // Rows are independent of their batch on the CPU backend: the joined halves are the same bits.
    EXPECT_EQ(0, std::memcmp(got[k].raw(), want[k].raw(), got[k].nbytes())) << "output " << k;
  }
}

TEST(Engine, OutOfMemoryBelowTheFloorIsAnError) {
  EngineOptions options;
  options.min_retry_rows = 4;
  auto e = Engine::load_with(source_path("data/demo_mlp.onnx"), std::make_unique<SmallMemoryBackend>(2), options);
  ASSERT_TRUE(e.ok()) << e.status().message();
  std::vector<Tensor> out;
  const Status st = (*e)->run(random_inputs(**e, 9, 3), &out);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("out of memory even at 4 rows"), std::string::npos) << st.message();
}

TEST(Engine, UnknownBackendIsRefused) {
  auto e = Engine::load(source_path("data/demo_mlp.onnx"), "tpu");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find("'tpu' is not one of cpu, cuda, auto"), std::string::npos) << e.status().message();
}

TEST(Engine, CudaWithoutADeviceSaysSo) {
  if (cuda_visible_devices() > 0) GTEST_SKIP() << "a CUDA device is visible";
  auto e = Engine::load(source_path("data/demo_mlp.onnx"), "cuda");
  ASSERT_FALSE(e.ok());
#ifdef SHARDSCORE_HAVE_CUDA
  EXPECT_EQ(e.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(e.status().message().find("no CUDA device is visible"), std::string::npos) << e.status().message();
#else
  EXPECT_EQ(e.status().code(), StatusCode::kUnimplemented);
#endif
  auto a = Engine::load(source_path("data/demo_mlp.onnx"), "auto");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ((*a)->backend_name(), "cpu");
}

// Max |a - b| over max(1, max |b|), float32 outputs; integer outputs must be equal.
double compare_outputs(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  EXPECT_EQ(got.size(), want.size());
  double worst = 0;
  for (std::size_t k = 0; k < got.size() && k < want.size(); ++k) {
    EXPECT_EQ(got[k].dtype(), want[k].dtype());
    EXPECT_EQ(got[k].shape(), want[k].shape());
    if (got[k].shape() != want[k].shape() || got[k].dtype() != want[k].dtype()) return 1e9;
    if (want[k].dtype() != DType::kFloat32) {
      EXPECT_EQ(0, std::memcmp(got[k].raw(), want[k].raw(), got[k].nbytes())) << "output " << k;
      continue;
    }
    double scale = 1;
    for (int64_t i = 0; i < want[k].numel(); ++i) scale = std::max(scale, std::fabs(double{want[k].data<float>()[i]}));
    for (int64_t i = 0; i < want[k].numel(); ++i) {
      const double a = got[k].data<float>()[i], b = want[k].data<float>()[i];
      worst = std::max(worst, std::isnan(a) != std::isnan(b) ? 1e9 : std::isnan(a) ? 0.0 : std::fabs(a - b) / scale);
    }
  }
  return worst;
}

const char* const kFixtures[] = {"tests/fixtures/resnet_tiny.onnx", "tests/fixtures/mobilenet_tiny.onnx",
                                 "tests/fixtures/bert_tiny.onnx",   "tests/fixtures/bert_tiny_fp16.onnx",
                                 "tests/fixtures/resnet_tiny_fp16.onnx", "tests/fixtures/mlp_classifier.onnx",
                                 "tests/fixtures/mlp_regressor.onnx", "tests/fixtures/logreg.onnx",
                                 "tests/fixtures/bert_tiny_dynamo.onnx", "tests/fixtures/resnet_tiny_dynamo.onnx",
                                 "tests/fixtures/bert_tiny_sdpa.onnx", "tests/fixtures/bert_tiny_dynamo17.onnx",
                                 "data/demo_mlp.onnx"};

// EngineOptions::outputs: only those outputs, in that order, with the values the whole model gives
// them (the whole model is held to ONNX Runtime by the e2e tests); what only the others need is gone.
TEST(Engine, SelectedOutputsOnly) {
  const std::string model = source_path("data/demo_mlp.onnx");  // outputs: label (ArgMax), probabilities
  auto all = Engine::load(model, "cpu");
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ((*all)->graph().outputs.size(), 2u);
  std::vector<Tensor> inputs = random_inputs(**all, 37, 5), want;
  ASSERT_TRUE((*all)->run(inputs, &want).ok());
  auto count = [](const Engine& e, const char* op) {
    return std::count_if(e.graph().nodes.begin(), e.graph().nodes.end(), [&](const Node& n) { return n.op_type == op; });
  };
  EXPECT_EQ(count(**all, "ArgMax"), 1);
  for (bool optimize : {true, false}) {
    SCOPED_TRACE(optimize ? "optimized" : "not optimized");
    auto swapped = Engine::load(model, "cpu", EngineOptions{.optimize = optimize, .outputs = {"probabilities", "label"}});
    ASSERT_TRUE(swapped.ok()) << swapped.status().message();
    ASSERT_EQ((*swapped)->graph().outputs.size(), 2u);
    EXPECT_EQ((*swapped)->graph().outputs[0].name, "probabilities");
    std::vector<Tensor> got;
    ASSERT_TRUE((*swapped)->run(inputs, &got).ok());
    ASSERT_EQ(got.size(), 2u);
    EXPECT_LE(compare_outputs({got[1], got[0]}, want), 1e-6);

    auto one = Engine::load(model, "cpu", EngineOptions{.optimize = optimize, .outputs = {"probabilities"}});
    ASSERT_TRUE(one.ok()) << one.status().message();
    ASSERT_EQ((*one)->graph().outputs.size(), 1u);
    EXPECT_EQ(count(**one, "ArgMax"), 0) << "the label's ArgMax still runs";
    EXPECT_LT((*one)->graph().nodes.size(), (*swapped)->graph().nodes.size());
    ASSERT_TRUE((*one)->run(inputs, &got).ok());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_LE(compare_outputs(got, {want[1]}), 1e-6);
  }
  auto bad = Engine::load(model, "cpu", EngineOptions{.outputs = {"probabilities", "scores"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("has no output 'scores' (its outputs: label, probabilities)"), std::string::npos)
      << bad.status().message();
  auto twice = Engine::load(model, "cpu", EngineOptions{.outputs = {"label", "label"}});
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("asked for twice"), std::string::npos) << twice.status().message();
}

// A model whose input fixes the batch at B rows (torch.onnx.export without a dynamic axis): with
// fixed_batch_in_runs any number of rows runs, B at a time, the last run filled up with zero rows
// whose outputs are dropped; each row's result is the float64 reference's. Off, B rows only. An
// output without one entry per row (B > 1) cannot be cut into rows: refused, naming it.
// engine_probe_rows of a model, written to a temporary file and loaded on the CPU as a job does.
StatusOr<std::vector<Tensor>> probe_model(onnx::ModelProto m, const std::vector<RowSpec>& rows) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("shardscore_probe_" + std::to_string(::getpid()) + ".onnx")).string();
  std::ofstream(path, std::ios::binary) << onnx_builder::bytes_of(m);
  auto e = Engine::load(path, "cpu", EngineOptions{.fixed_batch_in_runs = true});
  std::filesystem::remove(path);
  if (!e.ok()) return e.status();
  return engine_probe_rows(**e, rows);
}

TEST(Engine, ProbeRowsTakesRowsScoredApartAndRefusesRowsThatMix) {
  using namespace onnx_builder;
  const auto model = [](bool mix) {
    auto m = new_model();
    add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3});
    add_float_tensor(&m, "W", {3, 2}, {0.5f, -1.f, 2.f, 0.25f, 1.5f, -0.75f});
    add_float_tensor(&m, "B", {2}, {0.125f, -3.f});
    add_node(&m, "MatMul", {"X", "W"}, {"P"});
    add_node(&m, "Add", {"P", "B"}, {mix ? "Q" : "Y"});
    if (mix) {  // Y = Q - mean over the rows of Q: every row moves with the others
      set_ints_attr(add_node(&m, "ReduceMean", {"Q"}, {"M"}), "axes", {0});
      add_node(&m, "Sub", {"Q", "M"}, {"Y"});
    }
    add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 2});
    return m;
  };
  auto apart = probe_model(model(false), {{DType::kFloat32, {3}}});
  ASSERT_TRUE(apart.ok()) << apart.status().message();
  ASSERT_EQ(apart->at(0).shape(), (Shape{2, 2}));  // the 2-row run's, of zeros: the bias
  EXPECT_EQ(apart->at(0).data<float>()[0], 0.125f);
  EXPECT_EQ(apart->at(0).data<float>()[3], -3.f);
  auto mixed = probe_model(model(true), {{DType::kFloat32, {3}}});
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(mixed.status().message().find("model output 'Y' mixes rows: row 0's value changes from 0 to -1.33333"),
            std::string::npos) << mixed.status().message();
}

TEST(Engine, ProbeRowsTakesInputsAndOutputsOfEveryKind) {
  // A float, an int64 and a bool input; an int64 label and a float per row ([N]), a float row and a
  // bool row: rows scored apart, so none is refused (none of the comparisons may be loose).
  using namespace onnx_builder;
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  add_input(&m, "ids", onnx::TensorProto_DataType_INT64, {-1, 4});
  add_input(&m, "mask", onnx::TensorProto_DataType_BOOL, {-1, 4});
  add_float_tensor(&m, "W", {3, 2}, {0.5f, -1.f, 2.f, 0.25f, 1.5f, -0.75f});
  add_float_tensor(&m, "T", {3, 2}, {0.5f, -1.5f, 3.f, 0.25f, -2.f, 1.f});
  add_node(&m, "MatMul", {"X", "W"}, {"P"});
  auto* argmax = add_node(&m, "ArgMax", {"P"}, {"label"});
  set_int_attr(argmax, "axis", 1);
  set_int_attr(argmax, "keepdims", 0);
  add_node(&m, "Gather", {"T", "ids"}, {"E"});  // [N, 4, 2]
  set_int_attr(add_node(&m, "Cast", {"mask"}, {"maskf"}), "to", onnx::TensorProto_DataType_FLOAT);
  auto* sum = add_node(&m, "ReduceMean", {"maskf"}, {"count"});
  set_ints_attr(sum, "axes", {1});
  set_int_attr(sum, "keepdims", 0);
  add_node(&m, "Not", {"mask"}, {"unmasked"});
  add_output(&m, "label", onnx::TensorProto_DataType_INT64, {-1});
  add_output(&m, "E", onnx::TensorProto_DataType_FLOAT, {-1, 4, 2});
  add_output(&m, "count", onnx::TensorProto_DataType_FLOAT, {-1});
  add_output(&m, "unmasked", onnx::TensorProto_DataType_BOOL, {-1, 4});
  auto probed = probe_model(m, {{DType::kFloat32, {3}}, {DType::kInt64, {4}}, {DType::kBool, {4}}});
  ASSERT_TRUE(probed.ok()) << probed.status().message();
  ASSERT_EQ(probed->size(), 4u);
  EXPECT_EQ(probed->at(0).shape(), (Shape{2}));
  EXPECT_EQ(probed->at(1).shape(), (Shape{2, 4, 2}));
  EXPECT_EQ(probed->at(2).shape(), (Shape{2}));
  EXPECT_EQ(probed->at(3).shape(), (Shape{2, 4}));
}

TEST(Engine, ProbeRowsOfAFixedBatchModel) {
  // Fixed at 4 rows: the 3-row runs are filled up to 4, so rows that mix within a run are seen; at 2,
  // rows 0 and 1 run together (the row of ones in row 0 moves row 1); at 1, each row runs alone and
  // nothing can mix (the mean over the run is the row's own).
  using namespace onnx_builder;
  for (const int64_t b : {int64_t{1}, int64_t{2}, int64_t{4}}) {
    for (const bool mix : {false, true}) {
      SCOPED_TRACE("fixed batch " + std::to_string(b) + (mix ? ", rows that mix" : ""));
      auto m = new_model();
      add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {b, 3});
      add_float_tensor(&m, "W", {3, 2}, {0.5f, -1.f, 2.f, 0.25f, 1.5f, -0.75f});
      add_node(&m, "MatMul", {"X", "W"}, {mix ? "P" : "Y"});
      if (mix) {
        set_ints_attr(add_node(&m, "ReduceMean", {"P"}, {"S"}), "axes", {0});
        add_node(&m, "Sub", {"P", "S"}, {"Y"});
      }
      add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {b, 2});
      auto probed = probe_model(m, {{DType::kFloat32, {3}}});
      if (mix && b >= 2) {
        ASSERT_FALSE(probed.ok());
        EXPECT_NE(probed.status().message().find("model output 'Y' mixes rows"), std::string::npos)
            << probed.status().message();
      } else {
        ASSERT_TRUE(probed.ok()) << probed.status().message();
        EXPECT_EQ(probed->at(0).shape(), (Shape{2, 2}));
      }
    }
  }
}

TEST(Engine, ProbeRowsRefusesACumulativeSumDownTheRows) {
  // Row 2 depends on rows 0 and 1 and not the other way: only the row of ones in row 0 shows it.
  using namespace onnx_builder;
  auto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  add_int64_tensor(&m, "axis", {}, {0});
  add_node(&m, "CumSum", {"X", "axis"}, {"Y"});
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  auto probed = probe_model(m, {{DType::kFloat32, {3}}});
  ASSERT_FALSE(probed.ok());
  EXPECT_NE(probed.status().message().find("model output 'Y' mixes rows: row 1's value changes from 0 to 1 when row 0 "
                                           "of its batch changes"),
            std::string::npos)
      << probed.status().message();
}

TEST(Engine, ProbeRowsComparesOnlyWhereARowOfOnesRuns) {
  // Token ids into a table of one row: id 1 is out of range, so the run with a row of ones fails and
  // the rows are not compared; 3 rows of zeros still check the output's shape.
  using namespace onnx_builder;
  auto m = new_model();
  add_input(&m, "ids", onnx::TensorProto_DataType_INT64, {-1, 4});
  add_float_tensor(&m, "T", {1, 2}, {0.5f, -1.5f});
  add_node(&m, "Gather", {"T", "ids"}, {"Y"});
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 4, 2});
  auto probed = probe_model(m, {{DType::kInt64, {4}}});
  ASSERT_TRUE(probed.ok()) << probed.status().message();
  EXPECT_EQ(probed->at(0).shape(), (Shape{2, 4, 2}));
}

TEST(Engine, FixedBatchModelRunsAnyRowCountInRuns) {
  using namespace onnx_builder;
  for (int64_t b : {1, 4}) {
    SCOPED_TRACE("fixed batch " + std::to_string(b));
    auto m = new_model();
    add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {b, 3});
    const std::vector<float> w = {0.5f, -1.f, 2.f, 0.25f, 1.5f, -0.75f};
    add_float_tensor(&m, "W", {3, 2}, w);
    add_node(&m, "MatMul", {"X", "W"}, {"Y"});
    add_node(&m, "ReduceSum", {"X"}, {"S"});  // every element of the run: not one per row
    add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {b, 2});
    const std::string path =
        (std::filesystem::temp_directory_path() / ("shardscore_fixed_" + std::to_string(::getpid()) + ".onnx")).string();
    std::ofstream(path, std::ios::binary) << bytes_of(m);
    add_output(&m, "S", onnx::TensorProto_DataType_FLOAT, {1, 1});
    const std::string path_s = path + ".s.onnx";
    std::ofstream(path_s, std::ios::binary) << bytes_of(m);
    auto strict = Engine::load(path, "cpu");
    auto runs = Engine::load(path, "cpu", EngineOptions{.fixed_batch_in_runs = true});
    auto with_sum = Engine::load(path_s, "cpu", EngineOptions{.fixed_batch_in_runs = true});
    std::filesystem::remove(path);
    std::filesystem::remove(path_s);
    ASSERT_TRUE(strict.ok() && runs.ok() && with_sum.ok()) << runs.status().message() << with_sum.status().message();
    EXPECT_EQ((*runs)->fixed_batch(), b);
    for (int64_t rows : {b, 7 * b + 1, int64_t{2}}) {
      SCOPED_TRACE(std::to_string(rows) + " rows");
      std::vector<float> x(static_cast<std::size_t>(rows * 3));
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 11) - 4.5f;
      const Tensor xt = Tensor::copy_of(DType::kFloat32, {rows, 3}, x.data());
      std::vector<Tensor> out;
      Status st = (*runs)->run({xt}, &out);
      ASSERT_TRUE(st.ok()) << st.message();
      ASSERT_EQ(out.at(0).shape(), (Shape{rows, 2}));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < 2; ++j) {
          double want = 0;
          for (int64_t k = 0; k < 3; ++k) want += static_cast<double>(x[r * 3 + k]) * w[k * 2 + j];
          EXPECT_NEAR(out[0].data<float>()[r * 2 + j], want, 1e-5) << "row " << r;
        }
      Status plain = (*strict)->run({xt}, &out);
      EXPECT_EQ(plain.ok(), rows == b) << plain.message();
      if (rows != b) EXPECT_NE(plain.message().find("expects shape"), std::string::npos) << plain.message();
      // (At B = 1 the sum over a run is its row's: [1, 1] is one entry per row.)
      Status cut = (*with_sum)->run({xt}, &out);
      EXPECT_EQ(cut.ok(), rows == b || b == 1) << cut.message();
      if (rows != b && b > 1)
        EXPECT_NE(cut.message().find("its output 'S' has shape [1, 1], not one entry per row"), std::string::npos) << cut.message();
    }
  }
}

// Every attention of the exported BERT fixtures (TorchScript and dynamo exporters, dynamic sequence)
// becomes one shardscore.Attention, every LayerNormalization an AddLayerNormalization and every GELU
// chain one Gelu, and the float16 model's stay op chains (it rounds after each op); the values are
// held to ONNX Runtime by the e2e tests, and to the unfused attention here. SDPA's export too (Q and
// K scaled apart, K^T made by the graph, NaN rows zeroed by Where(IsNaN)); and dynamo's at opset 17,
// whose GELU chain is x * (0.5 * (1 + erf)).
TEST(Engine, BertFixturesFuseEveryAttentionAndGelu) {
  struct Case {
    const char* rel;
    bool fused, attention;
  };
  for (const auto& [rel, fused, attention] : {Case{"tests/fixtures/bert_tiny.onnx", true, true},
                                              Case{"tests/fixtures/bert_tiny_dynamo.onnx", true, true},
                                              Case{"tests/fixtures/bert_tiny_dynamo17.onnx", true, true},
                                              Case{"tests/fixtures/bert_tiny_dynseq.onnx", true, true},
                                              Case{"tests/fixtures/bert_tiny_sdpa.onnx", true, true},
                                              Case{"tests/fixtures/bert_tiny_fp16.onnx", false, false}}) {
    SCOPED_TRACE(rel);
    auto plain = Engine::load(source_path(rel), "cpu", EngineOptions{.optimize = false});
    auto on = Engine::load(source_path(rel), "cpu");
    auto off = Engine::load(source_path(rel), "cpu", EngineOptions{.fuse_attention = false});
    ASSERT_TRUE(plain.ok() && on.ok() && off.ok());
    int softmaxes = 0, left = 0, norms = 0, norms_left = 0, erfs = 0, erfs_left = 0;
    for (const auto& n : (*plain)->graph().nodes)
      softmaxes += n.op_type == "Softmax", norms += n.op_type == "LayerNormalization", erfs += n.op_type == "Erf";
    for (const auto& n : (*on)->graph().nodes)
      left += n.op_type == "Softmax", norms_left += n.op_type == "LayerNormalization", erfs_left += n.op_type == "Erf";
    ASSERT_GT(softmaxes, 0);
    // Every GELU chain, in the order its exporter wrote it, is one Gelu (then inside a FusedGemm);
    // the dynamo fixtures, at opset 20, have ONNX's Gelu instead of chains.
    const std::string name(rel);
    const bool chains = name.find("_dynamo.") == std::string::npos && name.find("_sdpa.") == std::string::npos;
    EXPECT_EQ(erfs > 0, chains);
    EXPECT_EQ((*on)->pass_stats().fused_gelus, fused ? erfs : 0);
    EXPECT_EQ(erfs_left, fused ? 0 : erfs);
    EXPECT_EQ((*on)->pass_stats().fused_attentions, attention ? softmaxes : 0);
    EXPECT_EQ(left, attention ? 0 : softmaxes);
    // ... and every LayerNormalization takes the residual (or embedding) Add before it.
    EXPECT_EQ((*on)->pass_stats().fused_add_layer_norms, fused ? norms : 0);
    EXPECT_EQ(norms_left, fused ? 0 : norms);
    EXPECT_EQ((*off)->pass_stats().fused_attentions, 0);
    // Rows with keys masked out (row r keeps its first length - 2r tokens): the op and the chain agree.
    std::vector<Tensor> inputs = random_inputs(**on, 3, 11);
    bool masked = false;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      Tensor& t = inputs[k];
      if ((*on)->graph().inputs[k].name != "attention_mask" || t.rank() != 2) continue;
      for (int64_t r = 0; r < t.dim(0); ++r)
        for (int64_t j = 0; j < t.dim(1); ++j) t.data<int64_t>()[r * t.dim(1) + j] = j < std::max<int64_t>(1, t.dim(1) - 2 * r);
      masked = true;
    }
    EXPECT_TRUE(masked) << "no attention_mask input";
    std::vector<Tensor> a, b;
    ASSERT_TRUE((*on)->run(inputs, &a).ok());
    ASSERT_TRUE((*off)->run(inputs, &b).ok());
    EXPECT_LE(compare_outputs(a, b), 1e-5);
  }
}

// Whole fixture models on the GPU against the CPU backend (itself held to ONNX Runtime by the
// e2e tests): float32 within 1e-4, float16 models and --precision fp16 within 1e-2; each shape
// run several times so the planned, captured and replayed batches are all compared.
TEST(Engine, CudaMatchesCpuOnEveryFixture) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  for (const char* rel : kFixtures) {
    SCOPED_TRACE(rel);
    const bool half_model = std::string(rel).find("fp16") != std::string::npos;
    auto cpu = Engine::load(source_path(rel), "cpu");
    auto gpu = Engine::load(source_path(rel), "cuda");
    EngineOptions fp16, bf16;
    fp16.cuda.precision = "fp16";
    bf16.cuda.precision = "bf16";
    auto gpu16 = Engine::load(source_path(rel), "cuda", fp16);
    auto gpubf16 = Engine::load(source_path(rel), "cuda", bf16);
    ASSERT_TRUE(cpu.ok() && gpu.ok() && gpu16.ok() && gpubf16.ok());
    for (int64_t rows : {8, 8, 8, 8, 3, 3, 3, 3}) {
      std::vector<Tensor> in = random_inputs(**cpu, rows, static_cast<uint32_t>(rows * 31 + 7)), want, got, got16;
      ASSERT_TRUE((*cpu)->run(in, &want).ok());
      const Status st = (*gpu)->run(in, &got);
      ASSERT_TRUE(st.ok()) << st.message();
      EXPECT_LE(compare_outputs(got, want), half_model ? 1e-2 : 1e-4) << rows << " rows";
      const Status st16 = (*gpu16)->run(in, &got16);
      ASSERT_TRUE(st16.ok()) << st16.message();
      std::vector<Tensor> want_f, got_f;  // labels of near-ties may differ at float16: compare scores only
      for (std::size_t k = 0; k < want.size(); ++k)
        if (want[k].dtype() == DType::kFloat32) {
          want_f.push_back(want[k]);
          got_f.push_back(got16[k]);
        }
      EXPECT_LE(compare_outputs(got_f, want_f), 2e-2) << rows << " rows, --precision fp16";
      std::vector<Tensor> gotbf, gotbf_f;
      const Status stbf = (*gpubf16)->run(in, &gotbf);
      ASSERT_TRUE(stbf.ok()) << stbf.message();
      for (std::size_t k = 0; k < want.size(); ++k)
        if (want[k].dtype() == DType::kFloat32) gotbf_f.push_back(gotbf[k]);
      EXPECT_LE(compare_outputs(gotbf_f, want_f), 1e-1) << rows << " rows, --precision bf16";
    }
  }
}

// The same batch gives the same bits every time: first run, planned memory, captured graph, replays.
TEST(Engine, CudaBatchesAreBitIdenticalAcrossRunsAndGraphReplays) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  auto e = Engine::load(source_path("tests/fixtures/bert_tiny.onnx"), "cuda");
  ASSERT_TRUE(e.ok()) << e.status().message();
  const CudaGraphCounts before = cuda_graph_counts();
  std::vector<Tensor> in = random_inputs(**e, 6, 5), first;
  ASSERT_TRUE((*e)->run(in, &first).ok());
  for (int i = 0; i < 6; ++i) {
    std::vector<Tensor> again;
    ASSERT_TRUE((*e)->run(in, &again).ok());
    for (std::size_t k = 0; k < first.size(); ++k)
      EXPECT_EQ(0, std::memcmp(first[k].raw(), again[k].raw(), first[k].nbytes())) << "run " << i << " output " << k;
  }
  // The later batches were replays of a captured graph (fused attention included), not step by step:
  // batch 3 was captured, 4 to 7 replayed it.
  const CudaGraphCounts after = cuda_graph_counts();
  EXPECT_GE(after.captured - before.captured, 1);
  EXPECT_GE(after.replayed - before.replayed, 4);
  EXPECT_EQ(after.refused, before.refused) << "a capture failed: see the log line 'cannot be captured'";
}

using onnx_builder::load_built;

// A token id outside the vocabulary fails its batch with the CPU function's error naming the
// embedding's Gather, at every stage a batch shape goes through (first run, memory recording,
// planned arena; on CUDA also the graph capture and its replays, where only the kernel sees the
// id), and the engine's next batch runs with the bits the same batch gave before: nothing of the
// failed batch stays behind.
void check_bad_token_id_fails_its_batch(const std::string& backend) {
  auto e = Engine::load(source_path("tests/fixtures/bert_tiny.onnx"), backend);
  ASSERT_TRUE(e.ok()) << e.status().message();
  const std::vector<Tensor> good = random_inputs(**e, 6, 11);
  std::vector<Tensor> bad = good;
  ASSERT_EQ((*e)->graph().inputs[0].name, "input_ids");
  bad[0] = Tensor::copy_of(good[0].dtype(), good[0].shape(), good[0].raw());
  auto* ids = bad[0].data<int64_t>();
  const int64_t seq = bad[0].dim(1);
  ids[0 * seq + 1] = -1000;  // the vocabulary's first entry, counted from the end: valid
  ids[1 * seq + 0] = -1001;  // the first bad id in index order
  ids[4 * seq + 3] = 1000;
  std::vector<Tensor> first;
  for (int stage = 0; stage < 7; ++stage) {
    SCOPED_TRACE("bad batch " + std::to_string(stage + 1) + " on " + backend);
    std::vector<Tensor> out;
    const Status st = (*e)->run(bad, &out);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
    EXPECT_NE(st.message().find("node '/m/bert/embeddings/word_embeddings/Gather' (Gather): index -1001 is out of range "
                                "for axis 0 of size 1000"),
              std::string::npos)
        << st.message();
    std::vector<Tensor> again;
    ASSERT_TRUE((*e)->run(good, &again).ok());
    if (stage == 0) {
      first = again;
      continue;
    }
    ASSERT_EQ(again.size(), first.size());
    for (std::size_t k = 0; k < first.size(); ++k)
      EXPECT_EQ(0, std::memcmp(first[k].raw(), again[k].raw(), first[k].nbytes())) << "output " << k;
  }
}

TEST(Engine, BadTokenIdFailsItsBatchCpu) { check_bad_token_id_fails_its_batch("cpu"); }

TEST(Engine, CudaBadTokenIdFailsItsBatch) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  const CudaGraphCounts before = cuda_graph_counts();
  check_bad_token_id_fails_its_batch("cuda");
  // Batches were captured and replayed, so a replayed graph zeroed the record too.
  EXPECT_GE(cuda_graph_counts().captured - before.captured, 1);
  // And step by step in the planned arena (no graphs).
  ASSERT_EQ(setenv("SHARDSCORE_CUDA_GRAPHS", "0", 1), 0);
  check_bad_token_id_fails_its_batch("cuda");
  unsetenv("SHARDSCORE_CUDA_GRAPHS");
}

// Two steps of one batch with values only kernels see: an out-of-range Gather index and, after
// it, an integer division by zero. The first step's error is the batch's, as on the CPU, which
// stops there; the second shows when the first is clean.
void check_first_failing_step_names_the_batch(const std::string& backend) {
  using namespace onnx_builder;
  onnx::ModelProto m = new_model();
  add_input(&m, "ids", onnx::TensorProto_DataType_INT64, {-1, 2});
  add_input(&m, "d", onnx::TensorProto_DataType_INT64, {-1, 2});
  add_output(&m, "q", onnx::TensorProto_DataType_INT64, {-1, 2});
  add_int64_tensor(&m, "table", {5}, {10, 20, 30, 40, 50});
  add_node(&m, "Gather", {"table", "ids"}, {"g"}, "lookup");
  add_node(&m, "Div", {"g", "d"}, {"q"}, "divide");
  auto e = load_built(m, backend);
  ASSERT_TRUE(e.ok()) << e.status().message();
  auto tensor = [](std::vector<int64_t> v) {
    return Tensor::copy_of(DType::kInt64, Shape{static_cast<int64_t>(v.size() / 2), 2}, v.data());
  };
  const Tensor good_ids = tensor({0, 1, 2, 3, 4, -5}), bad_ids = tensor({0, 1, 2, 7, 4, 9});
  const Tensor good_d = tensor({1, 2, 3, 4, 5, 6}), zero_d = tensor({1, 0, 3, 4, 5, 6});
  for (int round = 0; round < 4; ++round) {  // every stage of a batch shape
    SCOPED_TRACE(backend + ", round " + std::to_string(round));
    std::vector<Tensor> out;
    Status st = (*e)->run({bad_ids, zero_d}, &out);
    EXPECT_NE(st.message().find("node 'lookup' (Gather): index 7 is out of range for axis 0 of size 5"), std::string::npos)
        << st.message();
    st = (*e)->run({good_ids, zero_d}, &out);
    EXPECT_NE(st.message().find("node 'divide' (Div): integer division by zero"), std::string::npos) << st.message();
    st = (*e)->run({good_ids, good_d}, &out);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_EQ(out.size(), 1u);
    const std::vector<int64_t> want = {10, 10, 10, 10, 10, 1};  // -5 is the first entry: 10 / 6
    EXPECT_EQ(std::vector<int64_t>(out[0].data<int64_t>(), out[0].data<int64_t>() + 6), want);
  }
}

// A bad index in a Gather whose result a later step reads on the host (a Reshape's shape): on CUDA
// the host waits for that value mid-batch, and must find the Gather's record then, before the
// zeros it wrote decide the Reshape (here they would make a shape error of their own).
void check_bad_value_read_on_the_host(const std::string& backend) {
  using namespace onnx_builder;
  onnx::ModelProto m = new_model();
  add_input(&m, "x", onnx::TensorProto_DataType_FLOAT, {-1, 4});
  add_input(&m, "pick", onnx::TensorProto_DataType_INT64, {2});
  add_output(&m, "y", onnx::TensorProto_DataType_FLOAT, {-1, -1});
  add_int64_tensor(&m, "shapes", {4}, {-1, 4, 2, 8});
  add_node(&m, "Gather", {"shapes", "pick"}, {"shape"}, "choose_shape");
  add_node(&m, "Reshape", {"x", "shape"}, {"y"}, "reshape");
  auto e = load_built(m, backend);
  ASSERT_TRUE(e.ok()) << e.status().message();
  std::vector<float> xv(16);
  for (std::size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<float>(i);
  const Tensor x = Tensor::copy_of(DType::kFloat32, Shape{4, 4}, xv.data());
  auto pick = [](std::vector<int64_t> v) { return Tensor::copy_of(DType::kInt64, Shape{2}, v.data()); };
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE(backend + ", round " + std::to_string(round));
    std::vector<Tensor> out;
    Status st = (*e)->run({x, pick({0, 9})}, &out);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
    EXPECT_NE(st.message().find("node 'choose_shape' (Gather): index 9 is out of range for axis 0 of size 4"),
              std::string::npos)
        << st.message();
    st = (*e)->run({x, pick({2, 3})}, &out);  // shape [2, 8]
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].shape(), (Shape{2, 8}));
    EXPECT_EQ(0, std::memcmp(out[0].raw(), xv.data(), xv.size() * sizeof(float)));
  }
}

TEST(Engine, BadValueReadOnTheHostCpu) { check_bad_value_read_on_the_host("cpu"); }

TEST(Engine, CudaBadValueReadOnTheHost) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  check_bad_value_read_on_the_host("cuda");
}

TEST(Engine, FirstFailingStepNamesTheBatchCpu) { check_first_failing_step_names_the_batch("cpu"); }

TEST(Engine, CudaFirstFailingStepNamesTheBatch) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  check_first_failing_step_names_the_batch("cuda");
}

#ifdef SHARDSCORE_HAVE_CUDA
// Device memory planned once per shape: after warm-up, 1000 batches allocate nothing more.
TEST(Engine, CudaDeviceMemoryFlatOver1000Batches) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  auto e = Engine::load(source_path("tests/fixtures/resnet_tiny.onnx"), "cuda");
  ASSERT_TRUE(e.ok()) << e.status().message();
  std::vector<Tensor> full = random_inputs(**e, 16, 1), tail = random_inputs(**e, 5, 2), out;
  std::size_t free_after_warmup = 0, free_at_end = 0, total = 0;
  const CudaGraphCounts before = cuda_graph_counts();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE((*e)->run(i % 10 == 9 ? tail : full, &out).ok()) << "batch " << i;
    if (i == 49) ASSERT_EQ(cudaMemGetInfo(&free_after_warmup, &total), cudaSuccess);
  }
  ASSERT_EQ(cudaMemGetInfo(&free_at_end, &total), cudaSuccess);
  EXPECT_EQ(free_at_end, free_after_warmup) << "device memory changed between batch 50 and batch 1000";
  // Both shapes (full batches and tails) replayed as graphs, as the bar's ResNet-50 batches are.
  const CudaGraphCounts after = cuda_graph_counts();
  EXPECT_GE(after.captured - before.captured, 2);
  EXPECT_GE(after.replayed - before.replayed, 990) << "batches ran step by step, not as graph replays";
  EXPECT_EQ(after.refused, before.refused) << "a capture failed: see the log line 'cannot be captured'";
}
#endif

// The CPU backend runs a convolution's Relu inside oneDNN when the batch brought no NaN or
// infinity in, and as its own NaN-keeping pass when it did: an image's results must not depend
// on which (other images' values), and a bad value must reach its own image's outputs, through
// every batch stage (unplanned, recording, planned arena).
void check_nonfinite_elsewhere_in_batch(const std::string& rel) {
  auto e = Engine::load(source_path(rel), "cpu");
  ASSERT_TRUE(e.ok()) << e.status().message();
  const int64_t rows = 4, bad = 2;
  const std::vector<Tensor> clean = random_inputs(**e, rows, 5);
  ASSERT_EQ(clean.size(), 1u);
  const int64_t per = clean[0].numel() / rows;
  for (int round = 0; round < 4; ++round) {
    for (const float poison : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()}) {
      SCOPED_TRACE(rel + " batch " + std::to_string(round) + ", " + std::to_string(poison) + " in image 2");
      std::vector<Tensor> want, got;
      ASSERT_TRUE((*e)->run({Tensor::copy_of(DType::kFloat32, clean[0].shape(), clean[0].raw())}, &want).ok());
      Tensor dirty = Tensor::copy_of(DType::kFloat32, clean[0].shape(), clean[0].raw());
      dirty.data<float>()[bad * per + per / 2 + 3] = poison;
      ASSERT_TRUE((*e)->run({dirty}, &got).ok());
      ASSERT_EQ(got.size(), want.size());
      for (std::size_t k = 0; k < got.size(); ++k) {
        if (want[k].dtype() != DType::kFloat32) continue;
        const int64_t cols = want[k].numel() / rows;
        for (int64_t r = 0; r < rows; ++r) {
          const float* a = want[k].data<float>() + r * cols;
          const float* b = got[k].data<float>() + r * cols;
          if (r == bad) {
            bool nonfinite = false;
            for (int64_t c = 0; c < cols; ++c) nonfinite = nonfinite || !std::isfinite(b[c]);
            EXPECT_TRUE(nonfinite) << "output " << k << ": the bad value vanished from its own image";
          } else {
            EXPECT_EQ(std::memcmp(a, b, static_cast<std::size_t>(cols) * sizeof(float)), 0)
                << "output " << k << " row " << r << " changed with a bad value in row " << bad;
          }
        }
      }
    }
  }
}

TEST(Engine, NonFiniteInOneImageLeavesTheOthersBitsResNet) { check_nonfinite_elsewhere_in_batch("tests/fixtures/resnet_tiny.onnx"); }
TEST(Engine, NonFiniteInOneImageLeavesTheOthersBitsMobileNet) { check_nonfinite_elsewhere_in_batch("tests/fixtures/mobilenet_tiny.onnx"); }

// A NaN made inside the graph, before the convolutions (Sqrt of a negative input), comes into
// them through a ToBlocked: the Relu after them must keep it too, and the other images' bits stay.
TEST(Engine, NaNMadeBeforeTheConvolutionsReachesTheOutput) {
  using namespace onnx_builder;
  onnx::ModelProto m = new_model();
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 16, 4, 4});
  add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 16, 4, 4});
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> w(16 * 16 * 9), b(16);
  for (auto& v : w) v = u(rng);
  for (auto& v : b) v = u(rng);
  add_float_tensor(&m, "W", {16, 16, 3, 3}, w);
  add_float_tensor(&m, "B", {16}, b);
  add_node(&m, "Sqrt", {"X"}, {"S"});
  set_ints_attr(add_node(&m, "Conv", {"S", "W", "B"}, {"C"}), "pads", {1, 1, 1, 1});
  add_node(&m, "Relu", {"C"}, {"Y"});
  auto e = load_built(m, "cpu");
  ASSERT_TRUE(e.ok()) << e.status().message();
  int on_onednn = 0;
  for (const auto& n : (*e)->graph().nodes) on_onednn += n.op_type == "FusedConv" && n.attr("dst_layout") != nullptr;
  ASSERT_EQ(on_onednn, 1) << "the convolution is no longer run by oneDNN: this test would test nothing";

  const int64_t rows = 3, per = 16 * 16;
  std::vector<float> x(static_cast<std::size_t>(rows * per));
  for (auto& v : x) v = 0.1f + std::fabs(u(rng));
  for (int round = 0; round < 4; ++round) {  // unplanned, recording and planned batches
    std::vector<Tensor> want, got;
    ASSERT_TRUE((*e)->run({Tensor::copy_of(DType::kFloat32, {rows, 16, 4, 4}, x.data())}, &want).ok());
    std::vector<float> bad = x;
    bad[per + 5 * 16 + 5] = -1.0f;  // image 1, channel 5, pixel (1, 1): Sqrt makes it NaN
    ASSERT_TRUE((*e)->run({Tensor::copy_of(DType::kFloat32, {rows, 16, 4, 4}, bad.data())}, &got).ok());
    for (int64_t r : {0, 2})
      EXPECT_EQ(std::memcmp(want[0].data<float>() + r * per, got[0].data<float>() + r * per, per * sizeof(float)), 0)
          << "batch " << round << ": image " << r << " changed";
    int64_t nan = 0;
    for (int64_t i = 0; i < per; ++i) nan += std::isnan(got[0].data<float>()[per + i]);
    EXPECT_EQ(nan, 16 * 9) << "batch " << round << ": the NaN pixel reaches the 3x3 window around it in all 16 channels";
  }
}

// --precision fp16's and bf16's graphs: every float32 weight in that type, float32 at the boundary,
// results within its precision of the float32 model's (which the e2e tests hold to ONNX Runtime).
void check_half_compute(const std::string& rel, DType half, double tol) {
  const std::string model = source_path(rel);
  auto f32 = Engine::load(model, "cpu");
  EngineOptions options;
  options.compute = half;
  auto f16 = Engine::load(model, "cpu", options);
  ASSERT_TRUE(f32.ok() && f16.ok()) << (f32.ok() ? f16.status().message() : f32.status().message());
  int float32_weights = 0, float16_weights = 0;
  for (const auto& [name, t] : (*f16)->graph().initializers) {
    float32_weights += t.dtype() == DType::kFloat32;
    float16_weights += t.dtype() == half;
  }
  EXPECT_EQ(float32_weights, 0);
  EXPECT_GT(float16_weights, 0);
  for (std::size_t k = 0; k < (*f16)->graph().inputs.size(); ++k)
    EXPECT_EQ((*f16)->graph().inputs[k].dtype, (*f32)->graph().inputs[k].dtype) << "the boundary stays as it was";
  std::vector<Tensor> in = random_inputs(**f32, 5, 11), want, got;
  ASSERT_TRUE((*f32)->run(in, &want).ok());
  const Status st = (*f16)->run(in, &got);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t k = 0; k < got.size(); ++k) {
    ASSERT_EQ(got[k].dtype(), want[k].dtype());
    ASSERT_EQ(got[k].shape(), want[k].shape());
    if (want[k].dtype() != DType::kFloat32) continue;  // labels: argmax of the compared scores
    double scale = 0, worst = 0;
    for (int64_t i = 0; i < want[k].numel(); ++i) scale = std::max(scale, std::fabs(double{want[k].data<float>()[i]}));
    bool differs = false;
    for (int64_t i = 0; i < want[k].numel(); ++i) {
      const double a = got[k].data<float>()[i], b = want[k].data<float>()[i];
      worst = std::max(worst, std::fabs(a - b));
      differs = differs || a != b;
    }
    EXPECT_LE(worst, tol * std::max(1.0, scale)) << rel << " output " << k;
    EXPECT_TRUE(differs) << dtype_name(half) << " compute gave float32's exact bits: was it " << dtype_name(half) << " at all?";
  }
}

TEST(Engine, Float16ComputeResNet) { check_half_compute("tests/fixtures/resnet_tiny.onnx", DType::kFloat16, 1e-2); }
TEST(Engine, Float16ComputeBert) { check_half_compute("tests/fixtures/bert_tiny.onnx", DType::kFloat16, 1e-2); }
TEST(Engine, Float16ComputeMlp) { check_half_compute("data/demo_mlp.onnx", DType::kFloat16, 1e-2); }
// torch 2.11's export: the attention mask through GatherND / And / Where, its float32-min fill
// becoming -inf in float16.
TEST(Engine, Float16ComputeBertDynamo) {
  check_half_compute("tests/fixtures/bert_tiny_dynamo.onnx", DType::kFloat16, 1e-2);
}
TEST(Engine, BFloat16ComputeBertDynamo) {
  check_half_compute("tests/fixtures/bert_tiny_dynamo.onnx", DType::kBFloat16, 8e-2);
}
// bfloat16 keeps 8 significant bits to float16's 11: eight times the tolerance.
TEST(Engine, BFloat16ComputeResNet) { check_half_compute("tests/fixtures/resnet_tiny.onnx", DType::kBFloat16, 8e-2); }
TEST(Engine, BFloat16ComputeBert) { check_half_compute("tests/fixtures/bert_tiny.onnx", DType::kBFloat16, 8e-2); }
TEST(Engine, BFloat16ComputeMlp) { check_half_compute("data/demo_mlp.onnx", DType::kBFloat16, 8e-2); }

// Engine::take_raw_inputs: uint8 NHWC images fed as stored give exactly the bits of the host chain
// (preprocess_rows) feeding float32 NCHW, at float32 and at float16 compute (the conversion stays
// float32 and is rounded once to float16, as the boundary Cast it replaces did), with an image
// holding 0 and 255 everywhere.
TEST(Engine, RawInputsGiveTheHostChainsBits) {
  const std::string model = source_path("tests/fixtures/resnet_tiny.onnx");
  const int64_t rows = 5, h = 32, w = 32, c = 3;
  std::mt19937 rng(20261204);
  Tensor u8(DType::kUInt8, {rows, h, w, c});
  for (int64_t i = 0; i < u8.numel(); ++i) u8.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
  std::fill_n(u8.data<uint8_t>(), h * w * c, uint8_t{0});
  std::fill_n(u8.data<uint8_t>() + h * w * c, h * w * c, uint8_t{255});
  RawInput raw{"images", DType::kUInt8, true, 1.0f / 255, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  PreprocessSpec spec;
  spec.scale = raw.scale;
  spec.mean = raw.mean;
  spec.std = raw.std;
  Tensor x(DType::kFloat32, {rows, c, h, w});
  std::vector<int64_t> nan(3), inf(3);
  preprocess_rows(static_cast<const std::byte*>(u8.raw()), DType::kUInt8, rows, c, spec, x.data<float>(), nan.data(),
                  inf.data(), h * w, true);
  for (const DType compute : {DType::kFloat32, DType::kFloat16}) {
    SCOPED_TRACE(dtype_name(compute));
    EngineOptions options;
    options.compute = compute;
    auto host = Engine::load(model, "cpu", options);
    auto in_model = Engine::load(model, "cpu", options);
    ASSERT_TRUE(host.ok() && in_model.ok());
    const Status st = (*in_model)->take_raw_inputs({raw});
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ((*in_model)->graph().inputs[0].dtype, DType::kUInt8);
    EXPECT_EQ((*in_model)->graph().inputs[0].dims, (Shape{-1, h, w, c}));
    // One node does the conversion; under float16 it also takes the place of the boundary Cast.
    const Graph& gm = (*in_model)->graph();
    ASSERT_FALSE(gm.nodes.empty());
    EXPECT_EQ(gm.nodes[0].op_type, "RawInput");
    EXPECT_EQ(gm.nodes.size(), (*host)->graph().nodes.size() + (compute == DType::kFloat32 ? 1u : 0u));
    std::vector<Tensor> want, got;
    ASSERT_TRUE((*host)->run({x}, &want).ok());
    const Status run = (*in_model)->run({u8}, &got);
    ASSERT_TRUE(run.ok()) << run.message();
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(got[0].nbytes(), want[0].nbytes());
    EXPECT_EQ(std::memcmp(got[0].raw(), want[0].raw(), got[0].nbytes()), 0) << "not the host chain's bits";
    // Fed float32 now, it names the input and the type.
    std::vector<Tensor> again;
    const Status wrong = (*in_model)->run({x}, &again);
    EXPECT_FALSE(wrong.ok());
    EXPECT_NE(wrong.message().find("'images' expects uint8"), std::string::npos) << wrong.message();
  }
}

TEST(Engine, RawInputsRefused) {
  auto e = Engine::load(source_path("tests/fixtures/resnet_tiny.onnx"), "cpu");
  ASSERT_TRUE(e.ok());
  auto expect_refused = [&](const RawInput& r, const std::string& fragment) {
    const Status st = (*e)->take_raw_inputs({r});
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
    EXPECT_NE(st.message().find(fragment), std::string::npos) << st.message();
    EXPECT_EQ((*e)->graph().inputs[0].dtype, DType::kFloat32) << "unchanged on error";
  };
  expect_refused({"pixels", DType::kUInt8}, "'pixels' is not an input");
  expect_refused({"images", DType::kFloat64}, "only 8- and 16-bit integers");
  expect_refused({"images", DType::kUInt8, false, 1.0f, {0.5f, 0.5f}, {1.0f, 1.0f}}, "2 mean / std values");
  auto bert = Engine::load(source_path("tests/fixtures/bert_tiny.onnx"), "cpu");
  ASSERT_TRUE(bert.ok());
  const Status st = (*bert)->take_raw_inputs({{"input_ids", DType::kUInt16}});
  EXPECT_NE(st.message().find("is int64, not float32"), std::string::npos) << st.message();
}

// The CUDA backend with its convolutions in NHWC (SHARDSCORE_CUDA_NHWC=1's graph) against the CPU
// backend's NCHW: float32 within 1e-4, --precision fp16 within 2e-2.
TEST(Engine, CudaNhwcConvsMatchCpu) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  for (const char* rel : {"tests/fixtures/resnet_tiny.onnx", "tests/fixtures/mobilenet_tiny.onnx",
                          "tests/fixtures/resnet_tiny_dynamo.onnx"}) {
    SCOPED_TRACE(rel);
    auto cpu = Engine::load(source_path(rel), "cpu");
    EngineOptions nhwc, nhwc16;
    nhwc.nhwc_convs = nhwc16.nhwc_convs = true;
    nhwc16.cuda.precision = "fp16";
    auto gpu = Engine::load(source_path(rel), "cuda", nhwc);
    auto gpu16 = Engine::load(source_path(rel), "cuda", nhwc16);
    ASSERT_TRUE(cpu.ok() && gpu.ok() && gpu16.ok());
    EXPECT_GT((*gpu)->pass_stats().nhwc_convs, 0);
    for (int64_t rows : {8, 8, 8, 8, 3}) {
      std::vector<Tensor> in = random_inputs(**cpu, rows, static_cast<uint32_t>(rows * 17 + 1)), want, got, got16;
      ASSERT_TRUE((*cpu)->run(in, &want).ok());
      Status st = (*gpu)->run(in, &got);
      ASSERT_TRUE(st.ok()) << st.message();
      EXPECT_LE(compare_outputs(got, want), 1e-4) << rows << " rows";
      st = (*gpu16)->run(in, &got16);
      ASSERT_TRUE(st.ok()) << st.message();
      EXPECT_LE(compare_outputs(got16, want), 2e-2) << rows << " rows, fp16";
    }
  }
}

// Thread t runs in[t] `runs` times, all threads at once: (*st)[t] is its first failure (or ok),
// (*got)[t] its last outputs.
void run_from_threads(const Engine& e, const std::vector<std::vector<Tensor>>& in, std::vector<std::vector<Tensor>>* got,
                      std::vector<Status>* st, int runs = 3) {
  got->assign(in.size(), {});
  st->assign(in.size(), ok_status());
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < in.size(); ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < runs && (*st)[t].ok(); ++r) (*st)[t] = e.run(in[t], &(*got)[t]);
    });
  for (auto& th : threads) th.join();
}

// resnet_tiny on the CPU backend and on CUDA with at most max_lanes lanes.
void load_resnet_tiny_on_cpu_and_cuda(int max_lanes, std::unique_ptr<Engine>* cpu, std::unique_ptr<Engine>* gpu) {
  const std::string model = source_path("tests/fixtures/resnet_tiny.onnx");
  auto c = Engine::load(model, "cpu");
  EngineOptions options;
  options.cuda.max_lanes = max_lanes;
  auto g = Engine::load(model, "cuda", options);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE(g.ok()) << g.status().message();
  *cpu = std::move(*c);
  *gpu = std::move(*g);
}

// CudaBackendOptions::max_lanes: with one lane, batches from four threads wait for it in turn and
// every one still gets the CPU backend's outputs.
TEST(Engine, CudaOneLaneServesConcurrentBatches) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  std::unique_ptr<Engine> cpu, gpu;
  ASSERT_NO_FATAL_FAILURE(load_resnet_tiny_on_cpu_and_cuda(1, &cpu, &gpu));
  std::vector<std::vector<Tensor>> in(4), want(4), got;
  std::vector<Status> st;
  for (int t = 0; t < 4; ++t) {
    in[t] = random_inputs(*cpu, 3 + t, static_cast<uint32_t>(100 + t));
    ASSERT_TRUE(cpu->run(in[t], &want[t]).ok());
  }
  run_from_threads(*gpu, in, &got, &st);
  for (int t = 0; t < 4; ++t) {
    ASSERT_TRUE(st[t].ok()) << st[t].message();
    EXPECT_LE(compare_outputs(got[t], want[t]), 1e-4) << "thread " << t;
  }
}

// Four lanes, four threads, one batch shape: each lane captures the shape only after running it
// once outside a capture (its cuBLAS and cuDNN handles' first use is not captured), so no capture is
// refused, the later batches replay graphs, and every output is the CPU backend's.
TEST(Engine, CudaEveryLaneCapturesItsShapeWithoutARefusal) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  std::unique_ptr<Engine> cpu, gpu;
  ASSERT_NO_FATAL_FAILURE(load_resnet_tiny_on_cpu_and_cuda(4, &cpu, &gpu));
  const std::vector<Tensor> in = random_inputs(*cpu, 4, 31);
  std::vector<Tensor> want;
  ASSERT_TRUE(cpu->run(in, &want).ok());
  const CudaGraphCounts before = cuda_graph_counts();
  std::vector<std::vector<Tensor>> got;
  std::vector<Status> st;
  run_from_threads(*gpu, std::vector<std::vector<Tensor>>(4, in), &got, &st, 12);
  for (int t = 0; t < 4; ++t) {
    ASSERT_TRUE(st[t].ok()) << "thread " << t << ": " << st[t].message();
    EXPECT_LE(compare_outputs(got[t], want), 1e-4) << "thread " << t;
  }
  const CudaGraphCounts after = cuda_graph_counts();
  EXPECT_GE(after.captured - before.captured, 1);
  EXPECT_GE(after.replayed - before.replayed, 1);
  EXPECT_EQ(after.refused, before.refused) << "a capture failed: see the log line 'cannot be captured'";
}

// CudaBackendOptions::sync_steps (SHARDSCORE_CUDA_SYNC=1): the host waits after every step and
// nothing is captured; the outputs are the CPU backend's and a bad token id still names its node.
TEST(Engine, CudaSyncStepsRunsStepByStep) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  const std::string model = source_path("tests/fixtures/bert_tiny.onnx");
  auto c = Engine::load(model, "cpu");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EngineOptions options;
  options.cuda.sync_steps = true;
  auto g = Engine::load(model, "cuda", options);
  ASSERT_TRUE(g.ok()) << g.status().message();
  const std::vector<Tensor> in = random_inputs(**c, 6, 17);
  std::vector<Tensor> want;
  ASSERT_TRUE((*c)->run(in, &want).ok());
  const CudaGraphCounts before = cuda_graph_counts();
  for (int r = 0; r < 5; ++r) {
    std::vector<Tensor> got;
    ASSERT_TRUE((*g)->run(in, &got).ok()) << "batch " << r;
    EXPECT_LE(compare_outputs(got, want), 1e-4) << "batch " << r;
  }
  const CudaGraphCounts after = cuda_graph_counts();
  EXPECT_EQ(after.captured, before.captured) << "a graph was captured with sync_steps on";
  EXPECT_EQ(after.replayed, before.replayed) << "a graph was replayed with sync_steps on";
  std::vector<Tensor> bad = in;
  bad[0] = Tensor::copy_of(in[0].dtype(), in[0].shape(), in[0].raw());
  bad[0].data<int64_t>()[2] = 5000;
  std::vector<Tensor> out;
  const Status st = (*g)->run(bad, &out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("node '/m/bert/embeddings/word_embeddings/Gather' (Gather): index 5000 is out of range"),
            std::string::npos)
      << st.message();
}

#ifdef SHARDSCORE_HAVE_CUDA
// A lane that cannot be made (here: no device memory left for its cuBLAS workspace) while another
// exists does not fail its batch: the backend keeps the lane it has and the batches wait for it.
TEST(Engine, CudaLaneThatCannotBeMadeWaitsForAnother) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  std::unique_ptr<Engine> cpu, gpu;
  ASSERT_NO_FATAL_FAILURE(load_resnet_tiny_on_cpu_and_cuda(4, &cpu, &gpu));
  const std::vector<Tensor> in = random_inputs(*cpu, 4, 7);
  std::vector<Tensor> want;
  ASSERT_TRUE(cpu->run(in, &want).ok());
  // One lane, its memory planned and its graph captured for this shape, before memory runs out.
  for (int r = 0; r < 4; ++r) {
    std::vector<Tensor> out;
    ASSERT_TRUE(gpu->run(in, &out).ok());
  }
  std::size_t free_bytes = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  constexpr std::size_t kLeft = 8u << 20;  // below a lane's 32 MiB cuBLAS workspace
  void* filler = nullptr;
  if (free_bytes <= kLeft || cudaMalloc(&filler, free_bytes - kLeft) != cudaSuccess) {
    (void)cudaGetLastError();
    GTEST_SKIP() << "could not take the device's free memory (" << free_bytes << " bytes)";
  }
  std::vector<std::vector<Tensor>> got;
  std::vector<Status> st;
  // Enough batches that the threads overlap and a second lane is asked for (the log says it failed).
  testing::internal::CaptureStderr();
  run_from_threads(*gpu, std::vector<std::vector<Tensor>>(4, in), &got, &st, 50);
  const std::string log = testing::internal::GetCapturedStderr();
  cudaFree(filler);
  EXPECT_NE(log.find("could not be made"), std::string::npos) << "no lane creation failed:\n" << log;
  for (int t = 0; t < 4; ++t) {
    ASSERT_TRUE(st[t].ok()) << "thread " << t << ": " << st[t].message();
    EXPECT_LE(compare_outputs(got[t], want), 1e-4) << "thread " << t;
  }
}
#endif

#ifdef SHARDSCORE_HAVE_CUDA
// A lane keeps each batch shape's arena and graph; when a new shape finds the device out of memory,
// the lane frees its other shapes' and runs the batch again (the log says so) rather than failing it
// or halving it (which would log "engine: a batch of"). The full shape's arena (256 images) dwarfs
// what the 8-image batch needs; that shape ran once before on another engine, so its kernels are
// loaded and its convolution algorithms chosen.
TEST(Engine, CudaOutOfMemoryFreesTheLanesOtherShapes) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  std::unique_ptr<Engine> cpu, gpu, warm;
  ASSERT_NO_FATAL_FAILURE(load_resnet_tiny_on_cpu_and_cuda(1, &cpu, &gpu));
  ASSERT_NO_FATAL_FAILURE(load_resnet_tiny_on_cpu_and_cuda(1, &cpu, &warm));
  const std::vector<Tensor> full = random_inputs(*cpu, 256, 41), half = random_inputs(*cpu, 8, 42);
  std::vector<Tensor> want, out;
  ASSERT_TRUE(cpu->run(half, &want).ok());
  ASSERT_TRUE(warm->run(half, &out).ok());
  warm.reset();
  for (int r = 0; r < 4; ++r) {  // the full shape's arena and graph
    ASSERT_TRUE(gpu->run(full, &out).ok());
  }
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::size_t free_bytes = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  constexpr std::size_t kLeft = 1u << 20;  // under the memory pool's 2 MiB chunk
  void* filler = nullptr;
  if (free_bytes <= kLeft || cudaMalloc(&filler, free_bytes - kLeft) != cudaSuccess) {
    (void)cudaGetLastError();
    GTEST_SKIP() << "could not take the device's free memory (" << free_bytes << " bytes)";
  }
  testing::internal::CaptureStderr();
  std::vector<Tensor> got;
  const Status st = gpu->run(half, &got);
  const std::string log = testing::internal::GetCapturedStderr();
  cudaFree(filler);
  ASSERT_TRUE(st.ok()) << st.message() << "\n" << log;
  EXPECT_NE(log.find("freed the memory of its other batch shapes"), std::string::npos) << log;
  EXPECT_EQ(log.find("engine: a batch of"), std::string::npos) << "the batch was halved:\n" << log;
  EXPECT_LE(compare_outputs(got, want), 1e-4);
}
#endif

// CudaBackendOptions::cublaslt_bias: products with a bias row through cuBLASLt's bias epilogue
// (the default) and through the broadcast of C both match the CPU backend, at fp32 and fp16.
TEST(Engine, CudaCublasLtBiasMatchesCpu) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  for (const char* rel : {"tests/fixtures/bert_tiny.onnx", "data/demo_mlp.onnx", "tests/fixtures/mlp_regressor.onnx"}) {
    SCOPED_TRACE(rel);
    auto cpu = Engine::load(source_path(rel), "cpu");
    ASSERT_TRUE(cpu.ok());
    std::vector<Tensor> in = random_inputs(**cpu, 6, 20261205), want;
    ASSERT_TRUE((*cpu)->run(in, &want).ok());
    for (const char* precision : {"fp32", "fp16"}) {
      for (bool lt : {true, false}) {
        SCOPED_TRACE(std::string(precision) + (lt ? ", cuBLASLt bias" : ", broadcast C"));
        EngineOptions options;
        options.cuda.precision = precision;
        options.cuda.cublaslt_bias = lt;
        auto gpu = Engine::load(source_path(rel), "cuda", options);
        ASSERT_TRUE(gpu.ok()) << gpu.status().message();
        std::vector<Tensor> got;
        const CudaFusedPaths before = cuda_fused_paths();
        const Status st = (*gpu)->run(in, &got);
        ASSERT_TRUE(st.ok()) << st.message();
        EXPECT_LE(compare_outputs(got, want), std::string(precision) == "fp32" ? 1e-4 : 2e-2);
        const CudaFusedPaths after = cuda_fused_paths();
        EXPECT_EQ(after.cublaslt_bias_refused, before.cublaslt_bias_refused) << "cuBLASLt had no algorithm: C was broadcast";
        if (lt) EXPECT_GT(after.cublaslt_bias_runs, before.cublaslt_bias_runs) << "no product went through cuBLASLt";
        else EXPECT_EQ(after.cublaslt_bias_runs, before.cublaslt_bias_runs) << "the switch did not turn cuBLASLt off";
      }
    }
  }
}

// CudaBackendOptions::cudnn_epilogue: NHWC FusedConvs with bias, residual and Relu inside cuDNN's
// fused call, against the CPU backend: float32 within 1e-4, fp16 within 2e-2, and a NaN pixel in
// one image must give NaN in that image's outputs, as on the CPU (cuDNN's activations turn NaN into
// 0 unless the descriptor says otherwise: this is what shows whether the fused kernels listen).
TEST(Engine, CudaCudnnEpilogueMatchesCpu) {
  if (cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  for (const char* rel : {"tests/fixtures/resnet_tiny.onnx", "tests/fixtures/resnet_tiny_dynamo.onnx"}) {
    SCOPED_TRACE(rel);
    auto cpu = Engine::load(source_path(rel), "cpu");
    ASSERT_TRUE(cpu.ok());
    for (const char* precision : {"fp32", "fp16"}) {
      SCOPED_TRACE(precision);
      EngineOptions options;
      options.nhwc_convs = true;
      options.cuda.cudnn_epilogue = true;
      options.cuda.precision = precision;
      auto gpu = Engine::load(source_path(rel), "cuda", options);
      ASSERT_TRUE(gpu.ok()) << gpu.status().message();
      const double tol = std::string(precision) == "fp32" ? 1e-4 : 2e-2;
      for (bool nan : {false, true}) {
        std::vector<Tensor> in = random_inputs(**cpu, 4, 20261204), want, got;
        if (nan) in[0].data<float>()[in[0].numel() / 4 + 5] = std::numeric_limits<float>::quiet_NaN();  // image 1
        ASSERT_TRUE((*cpu)->run(in, &want).ok());
        if (nan) ASSERT_TRUE(std::isnan(want[0].data<float>()[want[0].numel() / 4])) << "the CPU reference lost the NaN";
        const CudaFusedPaths before = cuda_fused_paths();
        const Status st = (*gpu)->run(in, &got);
        ASSERT_TRUE(st.ok()) << st.message();
        EXPECT_GT(cuda_fused_paths().cudnn_epilogue_runs, before.cudnn_epilogue_runs) << "the fused call never ran";
        EXPECT_EQ(cuda_fused_paths().cudnn_epilogue_refused, before.cudnn_epilogue_refused)
            << "cuDNN refused the fused call: our own pass ran";
        EXPECT_LE(compare_outputs(got, want), tol) << (nan ? "with a NaN pixel (1e9: NaN where the CPU has none, or none where it has)" : "");
      }
    }
  }
}

// pass_nhwc_convs, run on the CPU backend (its NHWC FusedConv is the reference the CUDA one is
// tested against): the same outputs as the NCHW graph within float32 summation, and convolutions
// that feed convolutions pass NHWC values with no transpose between them.
TEST(Engine, NhwcConvsGiveTheSameOutputs) {
  struct Case {
    const char* rel;
    int max_transposes;  // into the first convolution after the (NCHW) stem and MaxPool, out of the last
  } cases[] = {{"tests/fixtures/resnet_tiny.onnx", 2}, {"tests/fixtures/resnet_tiny_dynamo.onnx", 2},
               {"tests/fixtures/mobilenet_tiny.onnx", 1000}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.rel);
    auto plain = Engine::load(source_path(c.rel), "cpu");
    EngineOptions options;
    options.nhwc_convs = true;
    auto nhwc = Engine::load(source_path(c.rel), "cpu", options);
    ASSERT_TRUE(plain.ok() && nhwc.ok()) << (nhwc.ok() ? plain.status().message() : nhwc.status().message());
    EXPECT_GT((*nhwc)->pass_stats().nhwc_convs, 0);
    int transposes = 0, nhwc_nodes = 0;
    for (const Node& n : (*nhwc)->graph().nodes) {
      transposes += n.op_type == "Transpose";
      const Attribute* layout = n.attr("layout");
      nhwc_nodes += layout && layout->s == "NHWC";
    }
    EXPECT_EQ(nhwc_nodes, (*nhwc)->pass_stats().nhwc_convs);
    EXPECT_LE(transposes, c.max_transposes);
    for (int64_t rows : {1, 6}) {
      std::vector<Tensor> in = random_inputs(**plain, rows, static_cast<uint32_t>(rows + 3)), want, got;
      ASSERT_TRUE((*plain)->run(in, &want).ok());
      const Status st = (*nhwc)->run(in, &got);
      ASSERT_TRUE(st.ok()) << st.message();
      EXPECT_LE(compare_outputs(got, want), 1e-5) << rows << " rows";
    }
  }
}

// ---- rows_alone: quantize_dynamic's DynamicQuantizeLinear ----

// x [N, 4] -> DynamicQuantizeLinear -> MatMulInteger by int8 W [4, 3] -> Cast -> * (scale * W scale) -> y [N, 3]
// (as onnxruntime.quantization.quantize_dynamic writes a MatMul); `scalar_output` also outputs the scale.
onnx::ModelProto dynamic_quant_model(bool scalar_output = false) {
  using namespace onnx_builder;
  onnx::ModelProto m = new_model(17);
  add_input(&m, "x", onnx::TensorProto_DataType_FLOAT, {-1, 4});
  add_output(&m, "y", onnx::TensorProto_DataType_FLOAT, {-1, 3});
  if (scalar_output) add_output(&m, "s", onnx::TensorProto_DataType_FLOAT, {});
  const int8_t w[12] = {12, -7, 100, -128, 5, 33, 77, -90, 1, 0, 127, -64};
  add_raw_tensor(&m, "W", onnx::TensorProto_DataType_INT8, {4, 3}, w, sizeof w);
  add_float_tensor(&m, "Ws", {}, {0.01f});
  add_node(&m, "DynamicQuantizeLinear", {"x"}, {"q", "s", "z"}, "quantize");
  add_node(&m, "MatMulInteger", {"q", "W", "z"}, {"i"}, "product");
  set_int_attr(add_node(&m, "Cast", {"i"}, {"f"}, "cast"), "to", onnx::TensorProto_DataType_FLOAT);
  add_node(&m, "Mul", {"s", "Ws"}, {"sw"}, "scales");
  add_node(&m, "Mul", {"f", "sw"}, {"y"}, "rescale");
  return m;
}
Tensor rows_of_floats(const std::vector<float>& v, int64_t cols) {
  return Tensor::copy_of(DType::kFloat32, {static_cast<int64_t>(v.size()) / cols, cols}, v.data());
}

// A row's result does not depend on the rows batched with it: row 1, a hundred times larger, would
// widen a whole-batch scale and move rows 0 and 2. Each row is as it is alone.
EngineOptions rows_alone_options() {
  EngineOptions o;
  o.rows_alone_in_runs = true;
  return o;
}

TEST(Engine, DynamicQuantizeLinearModelRunsRowsAlone) {
  auto plain = load_built(dynamic_quant_model(), "cpu");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ((*plain)->rows_alone(), "") << "only where the options ask";
  const std::vector<float> rows = {0.5f, -1.25f, 2.0f, 0.125f, 50.0f, -80.0f, 120.0f, 3.0f, -0.75f, 0.3f, 1.1f, -2.2f};
  std::vector<Tensor> whole_batch, row0;  // without the option the rows mix: the test input shows it
  ASSERT_TRUE((*plain)->run({rows_of_floats(rows, 4)}, &whole_batch).ok());
  ASSERT_TRUE((*plain)->run({rows_of_floats(std::vector<float>(rows.begin(), rows.begin() + 4), 4)}, &row0).ok());
  EXPECT_NE(std::memcmp(whole_batch[0].data<float>(), row0[0].data<float>(), 3 * sizeof(float)), 0);
  // A row at a time (the rewrite off), and in one batch with each row quantized apart (on, the
  // default): each row as it is alone, in both. The row alone runs the model's own nodes.
  EngineOptions alone_options = rows_alone_options();
  alone_options.rows_quantized_in_batch = false;
  auto alone = load_built(dynamic_quant_model(), "cpu", alone_options);
  ASSERT_TRUE(alone.ok()) << alone.status().message();
  EXPECT_EQ((*alone)->rows_alone(), "node 'quantize' (DynamicQuantizeLinear)");
  EXPECT_EQ((*alone)->pass_stats().constant_integer_weights, 1) << "W is an initializer: converted once";
  auto batched = load_built(dynamic_quant_model(), "cpu", rows_alone_options());
  ASSERT_TRUE(batched.ok()) << batched.status().message();
  EXPECT_EQ((*batched)->rows_alone(), "");
  EXPECT_EQ((*batched)->rows_quantized(), "node 'quantize' (DynamicQuantizeLinear)");
  EXPECT_EQ((*batched)->pass_stats().row_quantized_matmuls, 1);
  for (const auto* e : {&*alone, &*batched}) {
    std::vector<Tensor> all;
    ASSERT_TRUE((*e)->run({rows_of_floats(rows, 4)}, &all).ok());
    ASSERT_EQ(all.size(), 1u);
    ASSERT_EQ(all[0].shape(), (Shape{3, 3}));
    for (int64_t r = 0; r < 3; ++r) {
      std::vector<Tensor> one;
      ASSERT_TRUE((*alone)->run({rows_of_floats(std::vector<float>(rows.begin() + 4 * r, rows.begin() + 4 * r + 4), 4)}, &one).ok());
      EXPECT_EQ(std::memcmp(one[0].data<float>(), all[0].data<float>() + 3 * r, 3 * sizeof(float)), 0)
          << "row " << r << (e == &*alone ? " a row at a time" : " quantized apart in one batch");
    }
  }
}

// The quantize_dynamic fixtures as a job loads them: BERT's (torch-exported: heads split by
// Reshapes to shapes built from Shape, attention fused by graph_optimize) runs whole batches, each
// row's bits those of the row alone; ResNet's ConvInteger keeps its rows apart, a row at a time.
TEST(Engine, QuantizeDynamicFixturesRunWholeBatchesWhereTheyCan) {
  EngineOptions alone_options = rows_alone_options();
  alone_options.rows_quantized_in_batch = false;
  {
    auto batched = Engine::load(source_path("tests/fixtures/bert_tiny_dq.onnx"), "cpu", rows_alone_options());
    auto alone = Engine::load(source_path("tests/fixtures/bert_tiny_dq.onnx"), "cpu", alone_options);
    ASSERT_TRUE(batched.ok() && alone.ok()) << (batched.ok() ? alone.status().message() : batched.status().message());
    EXPECT_EQ((*batched)->rows_alone(), "") << (*batched)->rows_alone_why();
    EXPECT_NE((*batched)->rows_quantized(), "");
    EXPECT_EQ((*batched)->pass_stats().row_quantized_matmuls, 14);
    EXPECT_GT((*batched)->pass_stats().fused_attentions, 0);
    EXPECT_NE((*alone)->rows_alone(), "");
    const std::vector<Tensor> in = random_inputs(**batched, 9, 20261208);
    std::vector<Tensor> got, want;
    ASSERT_TRUE((*batched)->run(in, &got).ok());
    ASSERT_TRUE((*alone)->run(in, &want).ok());
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t k = 0; k < got.size(); ++k) {
      ASSERT_EQ(got[k].shape(), want[k].shape());
      EXPECT_EQ(std::memcmp(got[k].raw(), want[k].raw(), got[k].nbytes()), 0) << "output " << k;
    }
  }
  auto resnet = Engine::load(source_path("tests/fixtures/resnet_tiny_dq.onnx"), "cpu", rows_alone_options());
  ASSERT_TRUE(resnet.ok()) << resnet.status().message();
  EXPECT_NE((*resnet)->rows_alone(), "");
  EXPECT_EQ((*resnet)->rows_quantized(), "");
  EXPECT_NE((*resnet)->rows_alone_why().find("(ConvInteger), not only MatMulIntegers"), std::string::npos)
      << (*resnet)->rows_alone_why();
}

// The CPU backend under another name: the rewrite is the CPU backend's, so another backend runs a
// row at a time and says why.
class RenamedCpuBackend final : public Backend {
 public:
  RenamedCpuBackend() : cpu_(backend_cpu_create()) {}
  std::string_view name() const override { return "renamed"; }
  bool supports(const OpEntry& op) const override { return cpu_->supports(op); }
  Status run(const Plan& plan, std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const override {
    return cpu_->run(plan, std::move(inputs), outputs);
  }

 private:
  std::unique_ptr<Backend> cpu_;
};

TEST(Engine, RowsQuantizedApartOnTheCpuBackendOnly) {
  const auto path = std::filesystem::temp_directory_path() / ("shardscore_rows_" + std::to_string(::getpid()) + ".onnx");
  std::ofstream(path, std::ios::binary) << onnx_builder::bytes_of(dynamic_quant_model());
  auto other = Engine::load_with(path.string(), std::make_unique<RenamedCpuBackend>(), rows_alone_options());
  std::filesystem::remove(path);
  ASSERT_TRUE(other.ok()) << other.status().message();
  EXPECT_EQ((*other)->rows_alone(), "node 'quantize' (DynamicQuantizeLinear)");
  EXPECT_EQ((*other)->rows_quantized(), "");
  EXPECT_NE((*other)->rows_alone_why().find("node 'quantize' (DynamicQuantizeLinear) runs on the renamed backend, which "
                                           "quantizes a row at a time"),
            std::string::npos)
      << (*other)->rows_alone_why();
}

TEST(Engine, DynamicQuantizeLinearModelRefusals) {
  // A reduced precision: the model computes in its own integer one.
  EngineOptions half;
  half.compute = DType::kFloat16;
  auto e = load_built(dynamic_quant_model(), "cpu", half);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(e.status().message().find("quantizes its activations itself (node 'quantize' (DynamicQuantizeLinear)): it "
                                      "computes in its own integer precision, so run it at float32, not float16"),
            std::string::npos)
      << e.status().message();
  // A batch fixed at 2 rows, quantized together.
  onnx::ModelProto fixed = dynamic_quant_model();
  fixed.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_value(2);
  auto f = load_built(fixed, "cpu", rows_alone_options());
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("fixes its batch at 2 rows and quantizes them together (node 'quantize' "
                                      "(DynamicQuantizeLinear) takes its scale from all of them)"),
            std::string::npos)
      << f.status().message();
  // An output without one entry per row (the scale) cannot be joined row by row.
  auto s = load_built(dynamic_quant_model(true), "cpu", rows_alone_options());
  ASSERT_TRUE(s.ok()) << s.status().message();
  std::vector<Tensor> out;
  const Status st = (*s)->run({rows_of_floats({1, 2, 3, 4, 5, 6, 7, 8}, 4)}, &out);
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
  EXPECT_NE(st.message().find("runs one row at a time (node 'quantize' (DynamicQuantizeLinear) quantizes by the range "
                              "of all it is given), but its output 's' has shape [] for one row"),
            std::string::npos)
      << st.message();
}

}  // namespace
}  // namespace shardscore
