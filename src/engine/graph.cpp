#include "engine/graph.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <unordered_map>

#include "engine/contrib_ops.h"
#include "engine/op_registry.h"

namespace shardscore {

const Attribute* Node::attr(const std::string& n) const {
  auto it = attrs.find(n);
  return it == attrs.end() ? nullptr : &it->second;
}
int64_t Node::attr_int(const std::string& n, int64_t fallback) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kInt ? a->i : fallback;
}
float Node::attr_float(const std::string& n, float fallback) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kFloat ? a->f : fallback;
}
const std::vector<float>* Node::attr_floats(const std::string& n) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kFloats ? &a->floats : nullptr;
}
const std::vector<int64_t>* Node::attr_ints(const std::string& n) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kInts ? &a->ints : nullptr;
}
std::string Node::attr_string(const std::string& n, const std::string& fallback) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kString ? a->s : fallback;
}
std::string Node::describe() const { return "node '" + name + "' (" + op_type + ")"; }

std::string domain_display(const std::string& domain) { return domain.empty() ? "ai.onnx" : domain; }

namespace {

DType dtype_from_onnx(int32_t t) {
  switch (t) {
    case onnx::TensorProto_DataType_FLOAT: return DType::kFloat32;
    case onnx::TensorProto_DataType_DOUBLE: return DType::kFloat64;
    case onnx::TensorProto_DataType_FLOAT16: return DType::kFloat16;
    case onnx::TensorProto_DataType_BFLOAT16: return DType::kBFloat16;
    case onnx::TensorProto_DataType_INT8: return DType::kInt8;
    case onnx::TensorProto_DataType_INT16: return DType::kInt16;
    case onnx::TensorProto_DataType_INT32: return DType::kInt32;
    case onnx::TensorProto_DataType_INT64: return DType::kInt64;
    case onnx::TensorProto_DataType_UINT8: return DType::kUInt8;
    case onnx::TensorProto_DataType_UINT16: return DType::kUInt16;
    case onnx::TensorProto_DataType_UINT32: return DType::kUInt32;
    case onnx::TensorProto_DataType_UINT64: return DType::kUInt64;
    case onnx::TensorProto_DataType_BOOL: return DType::kBool;
    default: return DType::kUndefined;
  }
}

// Whether the model defines the op a node calls as a function of its own (ModelProto.functions).
bool defines_function(const onnx::ModelProto& model, const onnx::NodeProto& node) {
  for (const auto& f : model.functions())
    if (f.name() == node.op_type() && f.domain() == node.domain()) return true;
  return false;
}

constexpr const char* kInlineHint =
    "Inline them into plain ONNX ops first, with onnx 1.16 or later: python -c \"import onnx, onnx.inliner; "
    "onnx.save(onnx.inliner.inline_local_functions(onnx.load('MODEL.onnx')), 'MODEL-inlined.onnx')\"";

template <typename Dst, typename Field>
void copy_field(const Field& field, Tensor* t) {
  Dst* d = t->data<Dst>();
  for (int i = 0; i < field.size(); ++i) d[i] = static_cast<Dst>(field.Get(i));
}

struct ExternalSource {
  std::filesystem::path file;
  int64_t offset = 0;
};

// Finds an initializer's external data: `location` must name a file inside the model's folder
// (relative, no "..", no symbolic link out of it), and offset + length must lie within that file.
StatusOr<ExternalSource> locate_external_data(const onnx::TensorProto& p, const std::string& model_dir,
                                              const std::string& what, std::size_t want) {
  namespace fs = std::filesystem;
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (const std::exception&) {
      return data_loss(what + " has a malformed external-data " + kv.key() + " '" + kv.value() + "'");
    }
  }
  if (location.empty()) return data_loss(what + " is marked external but names no location");
  fs::path rel(location);
  if (rel.is_absolute() || std::any_of(rel.begin(), rel.end(), [](const fs::path& part) { return part == ".."; })) {
    return invalid_argument(what + " points at external data '" + location +
                            "' outside the model's folder; shardscore only reads external data beside the model");
  }
  std::error_code ec;
  const fs::path dir = fs::weakly_canonical(fs::path(model_dir.empty() ? "." : model_dir), ec);
  const fs::path file = fs::weakly_canonical(dir / rel, ec);
  auto [end, unused] = std::mismatch(dir.begin(), dir.end(), file.begin(), file.end());
  if (ec || end != dir.end()) {
    return invalid_argument(what + " points at external data '" + location + "', which resolves outside the model's folder");
  }
  if (!fs::is_regular_file(file, ec)) return not_found(what + ": external data file '" + file.string() + "' does not exist");
  const auto size = static_cast<int64_t>(fs::file_size(file, ec));
  if (length < 0) length = static_cast<int64_t>(want);
  if (offset < 0 || length != static_cast<int64_t>(want) || offset > size || length > size - offset) {
    return data_loss(what + ": external data in '" + file.string() + "' (offset " + std::to_string(offset) + ", length " +
                     std::to_string(length) + ", file " + std::to_string(size) + " bytes) does not hold the " +
                     std::to_string(want) + " bytes its shape needs");
  }
  return ExternalSource{file, offset};
}

Status read_external_data(const ExternalSource& src, const std::string& what, std::size_t want, void* dst) {
  std::ifstream in(src.file, std::ios::binary);
  in.seekg(src.offset);
  in.read(static_cast<char*>(dst), static_cast<std::streamsize>(want));
  if (!in) return data_loss(what + ": reading external data from '" + src.file.string() + "' failed");
  return ok_status();
}

// The number of values a typed data field holds for dtype dt (raw_data and external data aside).
int64_t typed_field_size(const onnx::TensorProto& p, DType dt) {
  switch (dt) {
    case DType::kFloat32: return p.float_data_size();
    case DType::kFloat64: return p.double_data_size();
    case DType::kInt64: return p.int64_data_size();
    case DType::kUInt32: case DType::kUInt64: return p.uint64_data_size();
    default: return p.int32_data_size();  // int32, int16, int8, uint16, uint8, bool, float16
  }
}

void copy_typed_field(const onnx::TensorProto& p, Tensor* t) {
  switch (t->dtype()) {
    case DType::kFloat32: copy_field<float>(p.float_data(), t); break;
    case DType::kFloat64: copy_field<double>(p.double_data(), t); break;
    case DType::kInt64: copy_field<int64_t>(p.int64_data(), t); break;
    case DType::kUInt32: copy_field<uint32_t>(p.uint64_data(), t); break;
    case DType::kUInt64: copy_field<uint64_t>(p.uint64_data(), t); break;
    case DType::kInt32: copy_field<int32_t>(p.int32_data(), t); break;
    case DType::kInt16: copy_field<int16_t>(p.int32_data(), t); break;
    case DType::kInt8: copy_field<int8_t>(p.int32_data(), t); break;
    case DType::kUInt16: case DType::kFloat16: case DType::kBFloat16: copy_field<uint16_t>(p.int32_data(), t); break;
    case DType::kUInt8: copy_field<uint8_t>(p.int32_data(), t); break;
    case DType::kBool: copy_field<bool>(p.int32_data(), t); break;
    default: break;
  }
}

// Every size is checked against the data actually present before anything is allocated, so a
// small file claiming a huge tensor is an error, never a huge allocation.
StatusOr<Tensor> tensor_from_proto(const onnx::TensorProto& p, const std::string& what, const std::string& model_dir) {
  DType dt = dtype_from_onnx(p.data_type());
  if (dt == DType::kUndefined) {
    return unimplemented(what + " has ONNX element type " + onnx_type_name(p.data_type()) + ", which shardscore does not support");
  }
  Shape shape;
  constexpr int64_t kMaxElements = int64_t{1} << 40;  // beyond any real model
  int64_t n = 1;
  for (int64_t d : p.dims()) {
    if (d < 0 || (d > 0 && n > kMaxElements / d)) return invalid_argument(what + " has an impossible shape");
    n *= d;
    shape.push_back(d);
  }
  const std::size_t want = static_cast<std::size_t>(n) * dtype_size(dt);
  if (p.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) {
    SS_ASSIGN_OR_RETURN(ExternalSource src, locate_external_data(p, model_dir, what, want));
    Tensor t(dt, shape);
    SS_RETURN_IF_ERROR(read_external_data(src, what, want, t.raw()));
    return t;
  }
  if (p.has_raw_data()) {
    if (p.raw_data().size() != want) {
      return data_loss(what + " holds " + std::to_string(p.raw_data().size()) + " bytes but its shape " +
                       shape_to_string(shape) + " needs " + std::to_string(want) + " (truncated model?)");
    }
    return Tensor::copy_of(dt, shape, p.raw_data().data());
  }
  const int64_t have = typed_field_size(p, dt);
  if (have != n) {
    return data_loss(what + " holds " + std::to_string(have) + " values but its shape " + shape_to_string(shape) +
                     " needs " + std::to_string(n) + " (truncated model?)");
  }
  Tensor t(dt, shape);
  copy_typed_field(p, &t);
  return t;
}

StatusOr<Attribute> attribute_from_proto(const onnx::AttributeProto& a, const std::string& what, const std::string& model_dir) {
  Attribute out;
  switch (a.type()) {
    case onnx::AttributeProto_AttributeType_FLOAT: out.type = Attribute::Type::kFloat; out.f = a.f(); break;
    case onnx::AttributeProto_AttributeType_INT: out.type = Attribute::Type::kInt; out.i = a.i(); break;
    case onnx::AttributeProto_AttributeType_STRING: out.type = Attribute::Type::kString; out.s = a.s(); break;
    case onnx::AttributeProto_AttributeType_TENSOR: {
      out.type = Attribute::Type::kTensor;
      SS_ASSIGN_OR_RETURN(out.t, tensor_from_proto(a.t(), what + " attribute '" + a.name() + "'", model_dir));
      break;
    }
    case onnx::AttributeProto_AttributeType_FLOATS:
      out.type = Attribute::Type::kFloats;
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case onnx::AttributeProto_AttributeType_INTS:
      out.type = Attribute::Type::kInts;
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case onnx::AttributeProto_AttributeType_STRINGS:
      out.type = Attribute::Type::kStrings;
      out.strings.assign(a.strings().begin(), a.strings().end());
      break;
    default:
      return unimplemented(what + " has attribute '" + a.name() + "' of a kind shardscore does not support (graph or sparse tensor)");
  }
  return out;
}

std::string lower_onnx_type_name(int32_t t) {
  std::string s = onnx_type_name(t);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ONNX's own spelling of a type ("tensor(string)", "seq(map(int64,tensor(float)))").
std::string onnx_type_text(const onnx::TypeProto& t) {
  if (t.has_tensor_type()) return "tensor(" + lower_onnx_type_name(t.tensor_type().elem_type()) + ")";
  if (t.has_sparse_tensor_type()) return "sparse_tensor(" + lower_onnx_type_name(t.sparse_tensor_type().elem_type()) + ")";
  if (t.has_sequence_type()) return "seq(" + onnx_type_text(t.sequence_type().elem_type()) + ")";
  if (t.has_map_type()) {
    return "map(" + lower_onnx_type_name(t.map_type().key_type()) + "," + onnx_type_text(t.map_type().value_type()) + ")";
  }
  if (t.has_optional_type()) return "optional(" + onnx_type_text(t.optional_type().elem_type()) + ")";
  return "undefined";
}

ValueInfo value_info_from_proto(const onnx::ValueInfoProto& v) {
  ValueInfo out;
  out.name = v.name();
  if (v.has_type() && !v.type().has_tensor_type()) {
    out.tensor = false;
    out.other_type = onnx_type_text(v.type());
  }
  if (v.type().has_tensor_type()) {
    const auto& tt = v.type().tensor_type();
    out.dtype = dtype_from_onnx(tt.elem_type());
    if (out.dtype == DType::kUndefined) out.other_type = lower_onnx_type_name(tt.elem_type());
    out.rank_known = tt.has_shape();
    if (tt.has_shape()) {
      for (const auto& d : tt.shape().dim()) {
        out.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
        out.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "");
      }
    }
  }
  return out;
}

std::string supported_ops_list() {
  std::set<std::string> names;
  // The shardscore domain's ops are made by the graph passes, never read from a model.
  for (const auto& e : op_registry_all())
    if (e.domain != "shardscore") names.insert(std::string(e.op_type));
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The model's graph with its nodes in an order where each reads only what is made before it, for
// ONNX's checker, which refuses a graph out of order (onnxruntime's float16 converter with
// keep_io_types appends its input Casts last; ONNX Runtime sorts and runs it, as shardscore does).
// Null when the graph is in order already (no copy of its weights). Call after sort_topologically
// has found every input made and no cycle.
std::unique_ptr<onnx::GraphProto> graph_in_order(const onnx::GraphProto& graph) {
  std::set<std::string> made{""};
  for (const auto& in : graph.input()) made.insert(in.name());
  for (const auto& t : graph.initializer()) made.insert(t.name());
  const auto ready = [&](const onnx::NodeProto& n) {
    return std::all_of(n.input().begin(), n.input().end(), [&](const std::string& i) { return made.count(i) > 0; });
  };
  bool in_order = true;
  for (const auto& n : graph.node()) {
    if (!ready(n)) {
      in_order = false;
      break;
    }
    made.insert(n.output().begin(), n.output().end());
  }
  if (in_order) return nullptr;
  made.clear();
  made.insert("");
  for (const auto& in : graph.input()) made.insert(in.name());
  for (const auto& t : graph.initializer()) made.insert(t.name());
  auto sorted = std::make_unique<onnx::GraphProto>(graph);
  sorted->clear_node();
  std::vector<bool> done(static_cast<std::size_t>(graph.node_size()), false);
  for (bool progress = true; progress;) {
    progress = false;
    for (int k = 0; k < graph.node_size(); ++k) {
      if (done[static_cast<std::size_t>(k)] || !ready(graph.node(k))) continue;
      *sorted->add_node() = graph.node(k);
      made.insert(graph.node(k).output().begin(), graph.node(k).output().end());
      done[static_cast<std::size_t>(k)] = true;
      progress = true;
    }
  }
  return sorted;
}

// Kahn's algorithm; reports dangling inputs and cycles by node name.
Status sort_topologically(Graph* g) {
  std::set<std::string> available;
  for (const auto& in : g->inputs) available.insert(in.name);
  for (const auto& [name, t] : g->initializers) available.insert(name);
  available.insert("");

  std::set<std::string> produced;
  for (const auto& n : g->nodes)
    for (const auto& o : n.outputs) {
      if (o.empty()) continue;
      if (available.count(o) || !produced.insert(o).second) {
        return invalid_argument("model '" + g->source + "': value '" + o + "' is produced twice (" + n.describe() + ")");
      }
    }
  for (const auto& n : g->nodes)
    for (const auto& i : n.inputs)
      if (!available.count(i) && !produced.count(i)) {
        return invalid_argument("model '" + g->source + "': " + n.describe() + " reads '" + i +
                                "', which no node, graph input or initializer provides (dangling input)");
      }

  std::vector<Node> sorted;
  std::vector<bool> done(g->nodes.size(), false);
  sorted.reserve(g->nodes.size());
  bool progress = true;
  while (sorted.size() < g->nodes.size() && progress) {
    progress = false;
    for (std::size_t k = 0; k < g->nodes.size(); ++k) {
      if (done[k]) continue;
      const Node& n = g->nodes[k];
      bool ready = std::all_of(n.inputs.begin(), n.inputs.end(), [&](const std::string& i) { return available.count(i) > 0; });
      if (!ready) continue;
      for (const auto& o : n.outputs) available.insert(o);
      sorted.push_back(n);
      done[k] = true;
      progress = true;
    }
  }
  if (sorted.size() < g->nodes.size()) {
    for (std::size_t k = 0; k < g->nodes.size(); ++k)
      if (!done[k]) return invalid_argument("model '" + g->source + "': the graph has a cycle through " + g->nodes[k].describe());
  }
  g->nodes = std::move(sorted);
  for (const auto& o : g->outputs)
    if (!available.count(o.name)) {
      return invalid_argument("model '" + g->source + "': graph output '" + o.name + "' is produced by no node");
    }
  return ok_status();
}

// ONNX's default domain, which models name "" or "ai.onnx", as "".
std::string canonical_domain(const std::string& domain) { return domain == "ai.onnx" ? std::string() : domain; }

// A node's name, or "<op type>_<k>" for an unnamed one (k: its position among the graph's nodes).
std::string node_name(const onnx::NodeProto& np, int k) {
  return np.name().empty() ? np.op_type() + "_" + std::to_string(k) : np.name();
}

// NotFound for a model path with nothing there; InvalidArgument for a folder, which reads as no
// bytes (the parse then called it 'not a valid ONNX model').
Status model_file_is_there(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return not_found("model file '" + path + "' does not exist");
  if (std::filesystem::is_directory(path, ec)) return invalid_argument("model file '" + path + "' is a folder, not an ONNX model");
  return ok_status();
}

}  // namespace

const char* const kInt64LabelsAdvice =
    "train the model on integer-coded classes (scikit-learn: y = LabelEncoder().fit_transform(y)) so that its "
    "labels are int64";

std::string value_info_type_name(const ValueInfo& v) {
  if (v.dtype != DType::kUndefined) return std::string(dtype_name(v.dtype));
  return v.other_type.empty() ? "undefined" : v.other_type;
}

std::string onnx_type_name(int32_t t) {
  if (onnx::TensorProto_DataType_IsValid(t)) return onnx::TensorProto_DataType_Name(t);
  switch (t) {  // onnx.proto of ONNX 1.14 - 1.16
    case 17: return "FLOAT8E4M3FN";
    case 18: return "FLOAT8E4M3FNUZ";
    case 19: return "FLOAT8E5M2";
    case 20: return "FLOAT8E5M2FNUZ";
    case 21: return "UINT4";
    case 22: return "INT4";
    case 23: return "FLOAT4E2M1";
    default: return "number " + std::to_string(t);
  }
}

StatusOr<Tensor> tensor_parse_onnx(const std::string& bytes, const std::string& what) {
  onnx::TensorProto p;
  if (!p.ParseFromString(bytes)) return data_loss(what + " is not a serialized ONNX tensor (protobuf parse failed)");
  if (p.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) {
    return unimplemented(what + " keeps its data in an external file");
  }
  return tensor_from_proto(p, what, "");
}

// The ranks of the model's values as it declares them (graph inputs, outputs, value_info), and where
// it has a com.microsoft Attention, as ONNX's shape inference finds them too (for the mask it builds
// from its mask_index; best effort: a node inference cannot follow leaves its outputs out). Inference
// runs on a copy of the graph whose initializers above 4096 elements keep their type and shape only:
// the data it reads (axes, shapes) is small.
namespace {

std::map<std::string, int64_t> value_ranks(const onnx::ModelProto& model) {
  const auto collect = [](const onnx::GraphProto& gp, std::map<std::string, int64_t>* ranks) {
    for (const auto* list : {&gp.input(), &gp.output(), &gp.value_info()})
      for (const auto& v : *list)
        if (v.type().has_tensor_type() && v.type().tensor_type().has_shape())
          ranks->emplace(v.name(), v.type().tensor_type().shape().dim_size());
  };
  std::map<std::string, int64_t> ranks;
  const auto& gp = model.graph();
  collect(gp, &ranks);
  const bool attention = std::any_of(gp.node().begin(), gp.node().end(), [](const onnx::NodeProto& n) {
    return n.op_type() == "Attention" && n.domain() == "com.microsoft";
  });
  if (!attention) return ranks;
  onnx::GraphProto copy;
  const std::unique_ptr<onnx::GraphProto> sorted = graph_in_order(gp);
  *copy.mutable_node() = (sorted ? *sorted : gp).node();
  *copy.mutable_input() = gp.input();
  *copy.mutable_output() = gp.output();
  *copy.mutable_value_info() = gp.value_info();
  for (const auto& init : gp.initializer()) {
    int64_t n = 1;
    for (int64_t d : init.dims()) n *= d;
    if (n <= 4096 && init.data_location() != onnx::TensorProto_DataLocation_EXTERNAL) {
      *copy.add_initializer() = init;
      continue;
    }
    onnx::TensorProto* t = copy.add_initializer();
    t->set_name(init.name());
    t->set_data_type(init.data_type());
    *t->mutable_dims() = init.dims();
  }
  std::unordered_map<std::string, int> imports;
  for (const auto& op : model.opset_import()) imports[op.domain()] = static_cast<int>(op.version());
  try {
    onnx::shape_inference::InferShapes(&copy, imports);
  } catch (const std::exception&) {
    return ranks;  // what the model declares
  }
  // A mask is never a scalar: an inferred rank 0 is not taken (the model's own declarations are).
  std::map<std::string, int64_t> inferred;
  collect(copy, &inferred);
  for (const auto& [name, rank] : inferred)
    if (rank > 0) ranks.emplace(name, rank);
  return ranks;
}

}  // namespace

StatusOr<Graph> graph_parse_onnx(const std::string& bytes, const std::string& source) {
  onnx::ModelProto model;
  if (bytes.empty() || !model.ParseFromString(bytes)) {
    return data_loss("model file '" + source + "' is not a valid ONNX model (protobuf parse failed: truncated or not ONNX)");
  }
  if (!model.has_graph() || model.ir_version() <= 0) {
    return data_loss("model file '" + source + "' is not a valid ONNX model (no graph or no IR version)");
  }
  Graph g;
  g.source = source;
  const std::string model_dir = std::filesystem::path(source).parent_path().string();
  g.ir_version = model.ir_version();
  g.producer = model.producer_name() + (model.producer_version().empty() ? "" : " " + model.producer_version());
  for (const auto& op : model.opset_import()) {
    const std::string d = canonical_domain(op.domain());
    g.opsets[d] = op.version();
  }
  // A model of ai.onnx.ml ops alone need not import the default domain (onnxmltools' XGBoost
  // export does not); a default-domain node without it is refused below, naming the node.

  const auto& gp = model.graph();
  // Unsupported ops first: it is the most useful thing to tell a user whose model will not run.
  // A model past the newest opset this build runs a domain at was exported for a newer ONNX; its ops
  // are judged at that newest opset too, so that an op this build lacks at every opset (a gap) is
  // named before the opset, which is named alone only when nothing else stands in the way.
  const auto newest_opset = [](const std::string& domain) {
    int64_t newest = 0;
    for (const auto& e : op_registry_all())
      if (e.domain == domain) newest = std::max<int64_t>(newest, e.max_opset);
    return newest;
  };
  const auto runs_below = [&](const std::string& domain, const std::string& op, int64_t opset) {
    const int64_t newest = newest_opset(domain);
    return newest > 0 && opset > newest && op_registry_find(domain, op, static_cast<int>(newest));
  };
  int first_gap = -1, first_past = -1;
  for (int k = 0; k < gp.node_size(); ++k) {
    const auto& np = gp.node(k);
    const std::string domain = canonical_domain(np.domain());
    const std::string name = node_name(np, k);
    auto it = g.opsets.find(domain);
    if (it == g.opsets.end()) {
      return invalid_argument("model '" + source + "': node '" + name + "' (" + np.op_type() + ") uses domain '" +
                       domain_display(domain) + "', which the model does not import");
    }
    if (op_registry_find(domain, np.op_type(), it->second) || contrib_op_expands(domain, np.op_type(), it->second)) continue;
    if (runs_below(domain, np.op_type(), it->second)) {
      if (first_past < 0) first_past = k;
      continue;
    }
    if (first_gap >= 0) continue;
    if (defines_function(model, np)) {
      return unimplemented("model '" + source + "': node '" + name + "' calls '" + np.op_type() + "' (domain '" +
                           domain_display(domain) + "'), a function the model defines itself (torch's dynamo exporter "
                           "writes them); shardscore does not expand model-local functions. " + kInlineHint);
    }
    first_gap = k;
  }
  if (first_gap >= 0 || first_past >= 0) {
    const int k = first_gap >= 0 ? first_gap : first_past;
    const auto& np = gp.node(k);
    const std::string domain = canonical_domain(np.domain());
    const std::string name = node_name(np, k);
    const int64_t opset = g.opsets[domain];
    // An op this build has at other opsets: say which, rather than list it among the ops it runs.
    std::string ranges;
    for (const auto& e : op_registry_all()) {
      if (e.domain == domain && e.op_type == np.op_type()) {
        ranges += (ranges.empty() ? "" : ", ") + std::to_string(e.min_opset) + "-" + std::to_string(e.max_opset);
      }
    }
    // "the model imports opset 22 of domain 'ai.onnx', and this build runs ops up to opset 21 ...: export ..."
    const auto past = [&](const onnx::NodeProto& node, const std::string& op_ranges) {
      const std::string d = canonical_domain(node.domain());
      const std::string newest = std::to_string(newest_opset(d));
      return "the model imports opset " + std::to_string(g.opsets[d]) + " of domain '" + domain_display(d) +
             "', and this build runs ops up to opset " + newest +
             (op_ranges.empty() ? "" : " (" + node.op_type() + " at opsets " + op_ranges + ")") + ": export it at opset " +
             newest + " or below (torch.onnx.export(..., opset_version=" + newest + "), skl2onnx's target_opset)";
    };
    std::string why;
    if (first_gap < 0) {
      why = past(np, ranges);
    } else if (!ranges.empty()) {
      why = "this build runs " + np.op_type() + " at opsets " + ranges + " only";
    } else if (domain.empty() && (np.op_type() == "QLinearMatMul" || np.op_type() == "QLinearConv")) {
      why = "the model is quantized in onnxruntime.quantization's QOperator format; this build runs QDQ models "
            "(quantize_static's default QuantizeLinear / DequantizeLinear pairs), quantize_dynamic's "
            "(DynamicQuantizeLinear, MatMulInteger, ConvInteger) and float ones";
    } else if (domain == "ai.onnx.ml" && np.op_type() == "ZipMap") {
      why = "ZipMap turns the probabilities into a list of maps, which no file column holds; export the classifier "
            "without it (skl2onnx: to_onnx(model, X, options={'zipmap': False})) to have them as a matrix";
    } else {
      why = "this build runs: " + supported_ops_list();
    }
    if (first_gap >= 0 && first_past >= 0) why += "; besides, " + past(gp.node(first_past), "");
    // The other gaps, by op type: the user's next question.
    std::vector<std::string> others;
    for (int j = k + 1; j < gp.node_size(); ++j) {
      const auto& other = gp.node(j);
      const std::string d = canonical_domain(other.domain());
      if (other.op_type() == np.op_type() || op_registry_find(d, other.op_type(), g.opsets[d]) ||
          contrib_op_expands(d, other.op_type(), g.opsets[d]) ||
          runs_below(d, other.op_type(), g.opsets[d]) ||
          std::find(others.begin(), others.end(), other.op_type()) != others.end()) {
        continue;
      }
      others.push_back(other.op_type());
    }
    std::string also;
    for (const auto& o : others) also += (also.empty() ? "" : ", ") + o;
    if (!also.empty()) also = " (it lacks " + also + " too: 'shardscore inspect " + source + "' lists every node)";
    return unimplemented("model '" + source + "' uses unsupported op '" + np.op_type() + "' (node '" + name +
                         "', domain '" + domain_display(domain) + "', opset " + std::to_string(opset) + ")" + also +
                         "; " + why);
  }

  auto note_external = [&g](const onnx::TensorProto& p) {
    if (p.data_location() != onnx::TensorProto_DataLocation_EXTERNAL) return;
    for (const auto& kv : p.external_data()) {
      if (kv.key() == "location" && std::find(g.external_data.begin(), g.external_data.end(), kv.value()) == g.external_data.end())
        g.external_data.push_back(kv.value());
    }
  };
  // " (read by node 'N' (Op))", the first node that reads `value`, or with reads false " (made by
  // node 'N' (Op))", the node that makes it; "" where there is none.
  auto node_of = [&gp](const std::string& value, bool reads) -> std::string {
    for (int k = 0; k < gp.node_size(); ++k) {
      const auto& np = gp.node(k);
      const auto& names = reads ? np.input() : np.output();
      if (std::find(names.begin(), names.end(), value) == names.end()) continue;
      return std::string(reads ? " (read by" : " (made by") + " node '" +
             node_name(np, k) + "' (" + np.op_type() + "))";
    }
    return "";
  };
  for (const auto& init : gp.initializer()) {
    std::string what = "model '" + source + "': initializer '" + init.name() + "'";
    // A type the engine has no tensors for (a float8 or int4 zero point): name the node that reads it.
    if (dtype_from_onnx(init.data_type()) == DType::kUndefined) what += node_of(init.name(), true);
    SS_ASSIGN_OR_RETURN(Tensor t, tensor_from_proto(init, what, model_dir));
    g.initializers[init.name()] = std::move(t);
    note_external(init);
  }
  for (const auto& np : gp.node())
    for (const auto& a : np.attribute())
      if (a.has_t()) note_external(a.t());
  for (const auto& in : gp.input())
    if (!g.initializers.count(in.name())) g.inputs.push_back(value_info_from_proto(in));
  for (const auto& out : gp.output()) g.outputs.push_back(value_info_from_proto(out));
  // A value of a type the engine has no tensors for (strings, float8, int4, sequences, optionals)
  // is refused here, by name, rather than failing the first batch with a message about its op.
  for (const auto* list : {&gp.input(), &gp.output()}) {
    const bool inputs = list == &gp.input();
    for (const auto& v : *list) {
      if (inputs && g.initializers.count(v.name())) continue;
      const std::string what = "model '" + source + "': graph " + (inputs ? "input" : "output") + " '" + v.name() +
                               "'" + node_of(v.name(), inputs);
      if (!v.has_type()) continue;  // the checker and the ops speak for untyped values
      std::string why;
      if (!v.type().has_tensor_type()) {
        why = what + " is not a tensor (a sequence, map or optional value); shardscore runs tensors only";
      } else if (const int32_t et = v.type().tensor_type().elem_type();
                 et != onnx::TensorProto_DataType_UNDEFINED && dtype_from_onnx(et) == DType::kUndefined) {
        why = what + " has element type " + onnx_type_name(et) + ", which shardscore does not support";
        if (et == onnx::TensorProto_DataType_STRING && !inputs) {
          why += std::string(" (a classifier's string labels: ") + kInt64LabelsAdvice + ")";
        }
      }
      if (why.empty()) continue;
      if (inputs) return unimplemented(why);
      g.unsupported_outputs[v.name()] = why;  // refused by Engine::load unless left out (EngineOptions::outputs)
    }
  }
  if (g.inputs.empty()) return invalid_argument("model '" + source + "' has no graph inputs");
  if (g.outputs.empty()) return invalid_argument("model '" + source + "' has no graph outputs");

  for (int k = 0; k < gp.node_size(); ++k) {
    const auto& np = gp.node(k);
    Node n;
    n.op_type = np.op_type();
    n.domain = canonical_domain(np.domain());
    n.name = node_name(np, k);
    n.opset = g.opsets[n.domain];
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& a : np.attribute()) {
      SS_ASSIGN_OR_RETURN(n.attrs[a.name()], attribute_from_proto(a, "model '" + source + "': " + n.describe(), model_dir));
    }
    g.nodes.push_back(std::move(n));
  }
  SS_RETURN_IF_ERROR(sort_topologically(&g));
  // Before the checker below gives every value typed without a shape an empty one (rank 0).
  const std::map<std::string, int64_t> ranks = value_ranks(model);
  // ONNX's own checker last: our checks above name the culprit more plainly (and the checker looks
  // for external data relative to the working directory, which shardscore refuses before).
  // The installed libonnx checks only the opsets it knows (Debian 12's libonnx 1.12: up to 17). A
  // newer opset is not an error: shardscore's own checks above (ops, opset ranges, dangling inputs,
  // cycles, data sizes) still hold, and each op function implements its opset's semantics.
  bool checker_knows_opsets = true;
  const auto& known = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  for (const auto& op : model.opset_import()) {
    auto it = known.find(canonical_domain(op.domain()));
    if (it != known.end() && op.version() > it->second.second) checker_knows_opsets = false;
  }
  if (checker_knows_opsets) try {
    // check_model(ModelProto) would look for external data relative to the working directory:
    // give the checker the model's folder instead (shardscore has read and confined it above).
    onnx::checker::CheckerContext ctx;
    ctx.set_ir_version(static_cast<int>(model.ir_version()));
    std::unordered_map<std::string, int> imports;
    for (const auto& op : model.opset_import()) imports[op.domain()] = static_cast<int>(op.version());
    ctx.set_opset_imports(imports);
    ctx.set_model_dir(model_dir);
    onnx::checker::LexicalScopeContext lex;
    // ONNX leaves a tensor's shape out where its rank is unknown (skl2onnx does for some outputs,
    // and ONNX Runtime runs them), but Debian's libonnx 1.12 checker demands the field: it is given
    // a shape of no dimensions there (the model is this function's own copy), which it does not
    // look into further.
    for (auto* list : {model.mutable_graph()->mutable_input(), model.mutable_graph()->mutable_output(),
                       model.mutable_graph()->mutable_value_info()})
      for (auto& v : *list)
        if (v.type().has_tensor_type() && !v.type().tensor_type().has_shape()) {
          v.mutable_type()->mutable_tensor_type()->mutable_shape();
        }
    const std::unique_ptr<onnx::GraphProto> sorted = graph_in_order(model.graph());
    onnx::checker::check_graph(sorted ? *sorted : model.graph(), ctx, lex);
  } catch (const std::bad_alloc&) {
    // The machine's memory, not the model: no "bad model" exit code for an operator to believe.
    return resource_exhausted("out of memory while checking model '" + source + "'");
  } catch (const std::exception& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');  // one line, keeping the node the checker names
    return invalid_argument("model '" + source + "' fails ONNX validation: " + what);
  }
  // ONNX Runtime's contrib ops become the table's ops; Attention's mask needs its mask_index's rank.
  SS_RETURN_IF_ERROR(expand_contrib_ops(&g, ranks));
  return g;
}

StatusOr<ModelSummary> graph_inspect_onnx(const std::string& path) {
  SS_RETURN_IF_ERROR(model_file_is_there(path));
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  onnx::ModelProto model;
  if (!in || !model.ParseFromString(bytes.str()) || !model.has_graph()) {
    return data_loss("model file '" + path + "' is not a valid ONNX model (protobuf parse failed: truncated or not ONNX)");
  }
  ModelSummary m;
  m.path = path;
  m.producer = model.producer_name() + (model.producer_version().empty() ? "" : " " + model.producer_version());
  m.ir_version = model.ir_version();
  for (const auto& op : model.opset_import()) m.opsets[canonical_domain(op.domain())] = op.version();
  const auto& gp = model.graph();
  std::set<std::string> init_names;
  for (const auto& init : gp.initializer()) {
    init_names.insert(init.name());
    int64_t n = 1;
    for (int64_t d : init.dims()) n *= d;
    m.parameters += n;
    DType dt = dtype_from_onnx(init.data_type());
    m.parameter_bytes += n * static_cast<int64_t>(dtype_size(dt));
  }
  for (const auto& in_vi : gp.input())
    if (!init_names.count(in_vi.name())) m.inputs.push_back(value_info_from_proto(in_vi));
  for (const auto& out : gp.output()) m.outputs.push_back(value_info_from_proto(out));
  std::map<std::string, int64_t> unsupported;
  for (const auto& np : gp.node()) {
    const std::string domain = canonical_domain(np.domain());
    ++m.op_counts[domain.empty() ? np.op_type() : domain + ":" + np.op_type()];
    ++m.nodes;
    auto it = m.opsets.find(domain);
    const int64_t opset = it == m.opsets.end() ? 0 : it->second;
    if (!op_registry_find(domain, np.op_type(), opset) && !contrib_op_expands(domain, np.op_type(), opset)) {
      ++unsupported[np.op_type() + " (" + domain_display(domain) +
                    (defines_function(model, np) ? ", a function the model defines)" : ", opset " + std::to_string(opset) + ")")];
      if (defines_function(model, np)) m.hint = std::string("The model calls functions it defines itself. ") + kInlineHint;
    }
    // Values a model keeps in attributes are parameters too: tensors (Constant nodes, as some
    // exporters store weights; the ai.onnx.ml ops' *_as_tensor tables) and the ai.onnx.ml ops'
    // number arrays, float and int64 (coefficients, intercepts, scales, support vectors, tree
    // node tables and leaf weights, encoder categories, class labels). Single numbers (a
    // Binarizer's threshold, n_targets) are settings, and so are the standard ops' int arrays
    // (kernel_shape, pads, axes): not counted.
    for (const auto& a : np.attribute()) {
      if (a.has_t()) {
        int64_t n = 1;
        for (int64_t d : a.t().dims()) n *= d;
        m.parameters += n;
        m.parameter_bytes += n * static_cast<int64_t>(dtype_size(dtype_from_onnx(a.t().data_type())));
      } else if (domain == "ai.onnx.ml") {
        m.parameters += a.floats_size() + a.ints_size();
        m.parameter_bytes += a.floats_size() * static_cast<int64_t>(sizeof(float)) +
                             a.ints_size() * static_cast<int64_t>(sizeof(int64_t));
      }
    }
  }
  for (const auto& [op, count] : unsupported) m.unsupported.push_back(op + ": " + std::to_string(count) + " node(s)");
  return m;
}

StatusOr<Graph> graph_load_onnx(const std::string& path) {
  SS_RETURN_IF_ERROR(model_file_is_there(path));
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == 0) return not_found("model file '" + path + "' cannot be read");
    return open_error(errno, "model file '" + path + "' cannot be opened");  // a permission, too many open files
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return graph_parse_onnx(bytes.str(), path);
}

}  // namespace shardscore
