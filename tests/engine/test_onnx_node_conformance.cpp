// ONNX's own test data, through the Engine, on every backend.
//
// The oracle: onnx/backend/test/data of the pinned onnx wheel (scripts/requirements.txt), the test
// data ONNX ships for its backend test suite: node/ (one op per model, attribute by attribute),
// pytorch-converted/ and pytorch-operator/ (PyTorch layers and functions as torch exported them)
// and simple/ (small hand-made models). Each folder holds a model (model.onnx), its inputs
// (test_data_set_*/input_*.pb) and the expected outputs (output_*.pb): ONNX's reference
// implementation's, or PyTorch's. The data is found at configure time (SHARDSCORE_ONNX_TEST_DATA)
// or named by the environment variable of the same name (tools/gpu_check.sh).
//
// Which folders: every one whose ops the engine claims to run (graph_inspect_onnx lists nothing as
// unsupported), so a new op is held to ONNX's data the day its table row lands. A folder in scope
// either matches the expected outputs, or is refused with a clear error listed in kRefused below
// (an element type or a form shardscore does not support, with the text its error must contain).
// A refusal not listed fails, and so does a listed one that now loads and runs: the list stays true.
//
// How outputs are compared: shapes and element types exactly; integers and bools exactly; floats
// within |got - want| <= tol * max(1, |want|) per element, NaN where ONNX has NaN. tol: 1e-5 for
// float32 and float64 on the CPU backend (the reference rounds once; ours may round a few more
// times), 1e-4 on CUDA (another summation order); float16 outputs 1e-3 (one half-precision ulp:
// the engine computes float16 ops in float32 and rounds once, as ONNX Runtime does). A float16
// model's inputs and outputs are float32 at the engine's boundary (pass_float32_boundary), so the
// test widens ONNX's float16 tensors to float32 on the way in and to compare.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/float16.h"
#include "engine/engine.h"
#include "engine/graph.h"
#include "engine/tensor.h"

namespace shardscore {
namespace {

namespace fs = std::filesystem;

// Folders in scope the engine refuses on purpose: the folder's name (a trailing * matches every
// name it begins), and the text the error must contain.
struct Refusal {
  const char* prefix;  // a name, or a prefix ending in *
  const char* error_contains;
};
constexpr Refusal kRefused[] = {
    // Element types outside what each op computes in (float32/64, int32/64; bool for logic ops).
    {"node/test_add_uint8", "element type uint8 is not supported"},
    {"node/test_sub_uint8", "element type uint8 is not supported"},
    {"node/test_mul_uint8", "element type uint8 is not supported"},
    {"node/test_div_uint8", "element type uint8 is not supported"},
    {"node/test_clip_default_int8_inbounds", "element type int8 is not supported"},
    {"node/test_clip_default_int8_max", "element type int8 is not supported"},
    {"node/test_clip_default_int8_min", "element type int8 is not supported"},
    {"node/test_max_int8", "element type int8 is not supported"},
    {"node/test_max_int16", "element type int16 is not supported"},
    {"node/test_max_uint*", "is not supported"},
    {"node/test_min_int8", "element type int8 is not supported"},
    {"node/test_min_int16", "element type int16 is not supported"},
    {"node/test_min_uint*", "is not supported"},
    {"node/test_maxpool_2d_uint8", "element type uint8 is not supported"},
    {"node/test_pow_types_float32_uint*", "exponent type uint"},
    {"node/test_mod_mixed_sign_int8", "element type int8 is not supported"},
    {"node/test_mod_mixed_sign_int16", "element type int16 is not supported"},
    {"node/test_mod_uint*", "is not supported"},
    {"node/test_pow_types_int32_float32", "integer base with a float exponent is not supported"},
    {"node/test_pow_types_int64_float32", "integer base with a float exponent is not supported"},
    // Graph inputs and outputs the engine has no tensors for: refused at load, by name.
    {"node/test_cast_FLOAT16_to_FLOAT8*", "which shardscore does not support"},
    {"node/test_cast_FLOAT16_to_INT4", "element type INT4"},
    {"node/test_cast_FLOAT16_to_UINT4", "element type UINT4"},
    {"node/test_cast_FLOAT8*", "which shardscore does not support"},
    // QuantizeLinear / DequantizeLinear to and from float8 and 4-bit types (their tensors are refused
    // at load, by name; the 8- and 16-bit folders, per-axis and blocked, run).
    {"node/test_dequantizelinear_e4m3fn*", "element type FLOAT8E4M3FN"},
    {"node/test_dequantizelinear_e5m2", "element type FLOAT8E5M2"},
    {"node/test_dequantizelinear_int4", "element type INT4"},
    {"node/test_dequantizelinear_uint4", "element type UINT4"},
    {"node/test_quantizelinear_e4m3fn", "element type FLOAT8E4M3FN"},
    {"node/test_quantizelinear_e5m2", "element type FLOAT8E5M2"},
    {"node/test_quantizelinear_int4", "element type INT4"},
    {"node/test_quantizelinear_uint4", "element type UINT4"},
    {"node/test_cast_FLOAT_to_FLOAT8*", "which shardscore does not support"},
    {"node/test_cast_FLOAT_to_INT4", "element type INT4"},
    {"node/test_cast_FLOAT_to_UINT4", "element type UINT4"},
    {"node/test_cast_FLOAT_to_STRING", "element type STRING"},
    {"node/test_cast_INT4*", "element type INT4"},
    {"node/test_cast_UINT4*", "element type UINT4"},
    {"node/test_cast_STRING*", "element type STRING"},
    {"node/test_cast_no_saturate*", "which shardscore does not support"},
    {"node/test_castlike_FLOAT8*", "which shardscore does not support"},
    {"node/test_castlike_FLOAT_to_FLOAT8*", "which shardscore does not support"},
    {"node/test_castlike_FLOAT_to_STRING*", "element type STRING"},
    {"node/test_castlike_STRING*", "element type STRING"},
    {"node/test_equal_string*", "element type STRING"},
    {"node/test_ai_onnx_ml_label_encoder_string*", "element type STRING"},
    {"node/test_ai_onnx_ml_label_encoder_tensor*", "element type STRING"},
    {"node/test_identity_opt", "is not a tensor"},
    {"node/test_identity_sequence", "is not a tensor"},
    // Models a scoring job cannot take: no input rows.
    {"node/test_constant", "has no graph inputs"},
    // Forms of supported ops that are refused: convolution and pooling over 3 spatial dimensions,
    // MaxPool's Indices, Dropout in training mode (its random mask would make scores differ run to
    // run), BatchNormalization in training mode, and Resize's cubic mode, antialias, axes,
    // half_pixel_symmetric and tf_crop_and_resize.
    {"node/test_convtranspose_3d", "runs on 1-D and 2-D spatial input only"},
    {"node/test_averagepool_3d*", "runs on 1-D and 2-D spatial input only"},
    {"node/test_maxpool_3d*", "runs on 1-D and 2-D spatial input only"},
    {"node/test_maxpool_with_argmax*", "second output (Indices) is not supported"},
    {"pytorch-converted/test_AvgPool3d*", "runs on 1-D and 2-D spatial input only"},
    {"pytorch-converted/test_Conv3d*", "runs on 1-D and 2-D spatial input only"},
    {"pytorch-converted/test_MaxPool3d*", "runs on 1-D and 2-D spatial input only"},
    {"node/test_training_dropout", "training_mode=true and ratio"},
    {"node/test_training_dropout_default", "training_mode=true and ratio"},
    {"node/test_training_dropout_default_mask", "training_mode=true and ratio"},
    {"node/test_training_dropout_mask", "training_mode=true and ratio"},
    {"node/test_batchnorm_epsilon_training_mode", "training_mode=1 is not supported"},
    {"node/test_batchnorm_example_training_mode", "training_mode=1 is not supported"},
    {"node/test_resize_downsample_scales_cubic*", "mode 'cubic' is not supported"},
    {"node/test_resize_downsample_sizes_cubic*", "mode 'cubic' is not supported"},
    {"node/test_resize_upsample_scales_cubic*", "mode 'cubic' is not supported"},
    {"node/test_resize_upsample_sizes_cubic*", "mode 'cubic' is not supported"},
    {"node/test_resize_downsample_scales_linear_antialias", "antialias=1 is not supported"},
    {"node/test_resize_downsample_sizes_linear_antialias", "antialias=1 is not supported"},
    {"node/test_resize_downsample_scales_linear_half_pixel_symmetric", "'half_pixel_symmetric' is not supported"},
    {"node/test_resize_upsample_scales_linear_half_pixel_symmetric", "'half_pixel_symmetric' is not supported"},
    {"node/test_resize_tf_crop_and_resize*", "'tf_crop_and_resize' is not supported"},
    {"node/test_resize_downsample_sizes_nearest_not_*", "the axes attribute is not supported"},
    {"node/test_resize_upsample_sizes_nearest_not_larger", "the axes attribute is not supported"},
    {"node/test_resize_upsample_scales_nearest_axes_*", "the axes attribute is not supported"},
    {"node/test_resize_upsample_sizes_nearest_axes_*", "the axes attribute is not supported"},
};

// Folders where ONNX's reference implementation departs from ONNX Runtime, and shardscore follows
// ONNX Runtime and the spec's text: skipped here, with the reason; the op differential against
// ONNX Runtime (tests/e2e/test_ops_vs_onnxruntime.py) covers the form.
struct Skip {
  const char* name;
  const char* why;
};
constexpr Skip kSkipped[] = {
    {"node/test_resize_downsample_scales_linear_align_corners",
     "align_corners with a fractional output length (4 x 0.6 = 2.4): the spec's length_resized is the "
     "resized tensor's length (2), as ONNX Runtime takes it (output [1, 4]); ONNX's reference divides by "
     "2.4 - 1 instead (output [1, 3.142857])"},
};

// The folder holding ONNX's test data sets (node/, pytorch-converted/, ...).
std::string data_dir() {
  if (const char* e = std::getenv("SHARDSCORE_ONNX_TEST_DATA"); e && *e) return e;
#ifdef SHARDSCORE_ONNX_TEST_DATA
  return SHARDSCORE_ONNX_TEST_DATA;
#else
  return "";
#endif
}

// The data sets run here: single ops (node), PyTorch layers and functions as torch exported them
// (pytorch-converted, pytorch-operator), and small hand-made models (simple).
constexpr const char* kDataSets[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
// Not light/: its whole CNNs have every weight made by ConstantOfShape (one value per tensor), so
// their expected outputs are constants (ResNet-50's: 0.001 for each of the 1,000 classes) that a
// wrong convolution, pooling or input would give as well: no oracle.

fs::path model_path(const std::string& id) { return fs::path(data_dir()) / id / "model.onnx"; }

// The folders in scope as "<data set>/<folder>", sorted; empty when the data is not there (the
// test then fails, below).
std::vector<std::string> cases_in_scope() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const char* set : kDataSets) {
    const fs::path root = fs::path(data_dir()) / set;
    if (data_dir().empty() || !fs::is_directory(root, ec)) continue;
    for (const auto& e : fs::directory_iterator(root, ec)) {
      const std::string id = std::string(set) + "/" + e.path().filename().string();
      if (!e.is_directory() || !fs::exists(e.path() / "model.onnx")) continue;
      StatusOr<ModelSummary> s = graph_inspect_onnx(model_path(id).string());
      if (s.ok() && s->unsupported.empty()) out.push_back(id);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::vector<std::string>& all_cases() {
  static const std::vector<std::string> cases = cases_in_scope();
  return cases;
}

bool name_matches(const std::string& name, std::string pattern) {
  if (pattern.empty() || pattern.back() != '*') return name == pattern;
  pattern.pop_back();
  return name.rfind(pattern, 0) == 0;
}

const Refusal* refusal_for(const std::string& name) {
  for (const Refusal& r : kRefused)
    if (name_matches(name, r.prefix)) return &r;
  return nullptr;
}

StatusOr<std::string> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return not_found("cannot open " + p.string());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// ONNX's data holds bfloat16 values as uint16 (numpy has no bfloat16): read them as the model
// declares them.
Tensor as_declared(const Tensor& t, DType declared) {
  if (declared == DType::kBFloat16 && t.dtype() == DType::kUInt16) return Tensor::copy_of(declared, t.shape(), t.raw());
  return t;
}

// A tensor with float16 / bfloat16 elements widened to float32 (the engine's boundary type).
Tensor widened(const Tensor& t) {
  if (t.dtype() != DType::kFloat16 && t.dtype() != DType::kBFloat16) return t;
  Tensor out(DType::kFloat32, t.shape());
  const uint16_t* in = t.data<uint16_t>();
  for (int64_t i = 0; i < t.numel(); ++i) out.data<float>()[i] = half_bits_to_float(t.dtype(), in[i]);
  return out;
}

struct NamedTensor {
  std::string name;
  Tensor t;
};

// The protos of one data set ("input" or "output"), in file order, with their names.
StatusOr<std::vector<NamedTensor>> read_set(const fs::path& dir, const std::string& kind) {
  std::vector<NamedTensor> out;
  for (int i = 0;; ++i) {
    const fs::path p = dir / (kind + "_" + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    SS_ASSIGN_OR_RETURN(std::string bytes, read_bytes(p));
    SS_ASSIGN_OR_RETURN(Tensor t, tensor_parse_onnx(bytes, p.string()));
    out.push_back({p.stem().string(), std::move(t)});
  }
  return out;
}

// Data set `k` of a case: its inputs and expected outputs, in file order. False when there is none.
StatusOr<bool> read_data_set(const std::string& id, int k, std::vector<NamedTensor>* ins, std::vector<NamedTensor>* wants) {
  const fs::path data = fs::path(data_dir()) / id / ("test_data_set_" + std::to_string(k));
  if (!fs::is_directory(data)) return false;
  SS_ASSIGN_OR_RETURN(*ins, read_set(data, "input"));
  SS_ASSIGN_OR_RETURN(*wants, read_set(data, "output"));
  return true;
}

double element(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kFloat32: return t.data<float>()[i];
    case DType::kFloat64: return t.data<double>()[i];
    case DType::kInt8: return t.data<int8_t>()[i];
    case DType::kInt16: return t.data<int16_t>()[i];
    case DType::kInt32: return t.data<int32_t>()[i];
    case DType::kInt64: return static_cast<double>(t.data<int64_t>()[i]);
    case DType::kUInt8: return t.data<uint8_t>()[i];
    case DType::kUInt16: return t.data<uint16_t>()[i];
    case DType::kUInt32: return t.data<uint32_t>()[i];
    case DType::kUInt64: return static_cast<double>(t.data<uint64_t>()[i]);
    case DType::kBool: return t.data<bool>()[i] ? 1 : 0;
    default: return std::nan("");
  }
}

bool exact_type(DType t) { return t != DType::kFloat32 && t != DType::kFloat64; }

// "" when `got` matches `want` (tol as in the header), else what differs.
std::string compare(const std::string& what, const Tensor& got, const Tensor& want, double tol) {
  std::ostringstream m;
  if (got.dtype() != want.dtype()) {
    m << what << ": element type " << dtype_name(got.dtype()) << ", ONNX has " << dtype_name(want.dtype());
    return m.str();
  }
  if (got.shape() != want.shape()) {
    m << what << ": shape " << shape_to_string(got.shape()) << ", ONNX has " << shape_to_string(want.shape());
    return m.str();
  }
  if (got.dtype() == DType::kInt64 || got.dtype() == DType::kUInt64) {  // exact beyond 2^53
    if (std::memcmp(got.raw(), want.raw(), got.nbytes()) != 0) return what + ": 64-bit integers differ";
    return "";
  }
  const bool exact = exact_type(got.dtype());
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = element(got, i), w = element(want, i);
    const bool bad = std::isnan(w) ? !std::isnan(g)
                     : exact       ? g != w
                     : std::isinf(w) ? g != w
                                     : !(std::abs(g - w) <= tol * std::max(1.0, std::abs(w)));
    if (bad) {
      m.precision(9);
      m << what << ": element " << i << " is " << g << ", ONNX has " << w << " (tolerance " << tol << ")";
      return m.str();
    }
  }
  return "";
}

class OnnxNodeTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(OnnxNodeTest, MatchesOnnxReference) {
  const auto& [backend, name] = GetParam();
  if (backend == "cuda" && cuda_visible_devices() == 0) GTEST_SKIP() << "no CUDA device visible";
  for (const Skip& k : kSkipped)
    if (name == k.name) GTEST_SKIP() << k.why;
  const Refusal* refused = refusal_for(name);
  // The model file's own types of its inputs and outputs (the engine's are float32 for halves).
  StatusOr<ModelSummary> declared = graph_inspect_onnx(model_path(name).string());
  ASSERT_TRUE(declared.ok()) << declared.status().message();

  std::string error;  // the engine's refusal, at load or at run
  StatusOr<std::unique_ptr<Engine>> engine = Engine::load(model_path(name).string(), backend);
  if (!engine.ok()) error = engine.status().message();

  bool ran_any = false;
  for (int set = 0; error.empty(); ++set) {
    std::vector<NamedTensor> ins_, wants_;
    StatusOr<bool> more = read_data_set(name, set, &ins_, &wants_);
    ASSERT_TRUE(more.ok()) << more.status().message();
    if (!*more) break;
    const auto* ins = &ins_;
    const auto* wants = &wants_;
    const Graph& g = (*engine)->graph();
    // input_k.pb is the model's k-th graph input (not an initializer), as ONNX's runner feeds them.
    ASSERT_EQ(ins->size(), g.inputs.size()) << "inputs of " << name;
    ASSERT_EQ(ins->size(), declared->inputs.size()) << "inputs of " << name;
    ASSERT_EQ(wants->size(), declared->outputs.size()) << "outputs of " << name;
    std::vector<Tensor> feed;
    for (std::size_t k = 0; k < ins->size(); ++k) feed.push_back(widened(as_declared((*ins)[k].t, declared->inputs[k].dtype)));
    std::vector<Tensor> outs;
    Status st = (*engine)->run(std::move(feed), &outs);
    if (!st.ok()) {
      error = st.message();
      break;
    }
    ran_any = true;
    ASSERT_EQ(outs.size(), wants->size()) << "outputs of " << name;
    for (std::size_t k = 0; k < outs.size(); ++k) {
      const Tensor want_raw = as_declared((*wants)[k].t, declared->outputs[k].dtype);
      const bool half = want_raw.dtype() == DType::kFloat16 || want_raw.dtype() == DType::kBFloat16;
      const double tol = half ? (want_raw.dtype() == DType::kBFloat16 ? 8e-3 : 1e-3) : backend == "cpu" ? 1e-5 : 1e-4;
      const std::string diff =
          compare("output '" + g.outputs[k].name + "' of data set " + std::to_string(set), outs[k], widened(want_raw), tol);
      EXPECT_EQ(diff, "") << name;
    }
  }
  if (refused) {
    EXPECT_FALSE(ran_any) << name << " is listed in kRefused (\"" << refused->error_contains
                          << "\") but now runs: take it off the list";
    EXPECT_NE(error.find(refused->error_contains), std::string::npos)
        << name << ": the error should contain \"" << refused->error_contains << "\"; it is: " << error;
  } else {
    EXPECT_EQ(error, "") << name << " is refused but not listed in kRefused";
    EXPECT_TRUE(ran_any || !error.empty()) << name << " has no test data set";
  }
}

std::vector<std::string> backends() {
#ifdef SHARDSCORE_HAVE_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

// "cpu__node__test_add", "cuda__pytorch_converted__test_Conv1d" (tools/make_gpu_bundle.sh reads
// the folders back from these names).
std::string case_name(const ::testing::TestParamInfo<OnnxNodeTest::ParamType>& info) {
  std::string id = std::get<1>(info.param);
  for (char& c : id) c = c == '-' ? '_' : c;
  const std::size_t slash = id.find('/');
  return std::get<0>(info.param) + "__" + id.substr(0, slash) + "__" + id.substr(slash + 1);
}

INSTANTIATE_TEST_SUITE_P(Node, OnnxNodeTest,
                         ::testing::Combine(::testing::ValuesIn(backends()), ::testing::ValuesIn(all_cases())),
                         case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OnnxNodeTest);

// The data must be there, and the op table must reach most of it: a loader or inspect regression
// that took folders out of scope would otherwise shrink the suite silently.
TEST(OnnxNodeData, IsThereAndInScope) {
  ASSERT_FALSE(data_dir().empty()) << "no SHARDSCORE_ONNX_TEST_DATA (configure with the venv: scripts/setup.sh)";
  ASSERT_TRUE(fs::is_directory(fs::path(data_dir()) / "node")) << data_dir();
  const auto in_set = [](const char* set) {
    return std::count_if(all_cases().begin(), all_cases().end(),
                         [&](const std::string& c) { return c.rfind(std::string(set) + "/", 0) == 0; });
  };
  EXPECT_GE(in_set("node"), 450) << "node folders in scope";
  for (const Skip& k : kSkipped)
    EXPECT_NE(std::find(all_cases().begin(), all_cases().end(), k.name), all_cases().end())
        << "kSkipped entry '" << k.name << "' is no folder in scope: take it off the list";
  for (const Refusal& r : kRefused) {
    const bool used = std::any_of(all_cases().begin(), all_cases().end(),
                                  [&](const std::string& c) { return name_matches(c, r.prefix); });
    EXPECT_TRUE(used) << "kRefused entry '" << r.prefix << "' matches no folder in scope: take it off the list";
  }
}

}  // namespace
}  // namespace shardscore
