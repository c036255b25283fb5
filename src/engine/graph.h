#pragma once
// The engine's model IR: an ONNX graph loaded, validated and topologically sorted.
//
// graph_load_onnx() parses the file with libonnx's protobuf classes and refuses, each with one
// message naming the culprit: a missing file (NotFound), bytes that are not an ONNX model
// (DataLoss), an op this build cannot run (Unimplemented: op type, node name, domain, opset), a
// graph input of a type the engine has no tensors for (Unimplemented: strings, float8, int4,
// sequences, ...; such outputs are noted in Graph::unsupported_outputs), a model failing ONNX's
// checker, dangling inputs and cycles (InvalidArgument).
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/tensor.h"

namespace shardscore {

struct Attribute {
  enum class Type { kFloat, kInt, kString, kTensor, kFloats, kInts, kStrings, kOther };
  Type type = Type::kOther;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

// What an op derives from its node's attributes once and reuses on every batch (the tree
// ensembles' checked flat node arrays). Thread-safe. A copied Node starts with an empty cache (a
// pass may edit the copy's attributes); a moved one keeps it. Attributes must not change once an
// op has filled it (passes run before any batch).
class NodeCache {
 public:
  NodeCache() = default;
  NodeCache(const NodeCache&) {}
  NodeCache& operator=(const NodeCache&) {
    state_ = std::make_shared<State>();
    return *this;
  }
  NodeCache(NodeCache&&) noexcept = default;
  NodeCache& operator=(NodeCache&&) noexcept = default;

  // The value stored by an earlier call, else make() (a StatusOr<std::shared_ptr<const T>>),
  // stored when it succeeds. Concurrent first calls build it once. T must be the same type on
  // every call for a node (one op per node).
  template <class T, class F>
  StatusOr<std::shared_ptr<const T>> get_or_make(F&& make) const {
    if (!state_) return make();  // a moved-from Node
    std::lock_guard lock(state_->mutex);
    if (state_->value) return std::static_pointer_cast<const T>(state_->value);
    StatusOr<std::shared_ptr<const T>> made = make();
    if (made.ok()) state_->value = *made;
    return made;
  }

 private:
  struct State {
    std::mutex mutex;
    std::shared_ptr<const void> value;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

struct Node {
  std::string name;     // as in the model, or "<op_type>_<index>" when the model has none
  std::string op_type;
  std::string domain;   // "" for the default ONNX domain
  int64_t opset = 0;    // the model's opset for this node's domain
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attrs;
  NodeCache cache;  // derived from attrs by the node's op on its first run

  const Attribute* attr(const std::string& name) const;
  int64_t attr_int(const std::string& name, int64_t fallback) const;
  float attr_float(const std::string& name, float fallback) const;
  // A list or string attribute of that type, else nullptr / the fallback.
  const std::vector<float>* attr_floats(const std::string& name) const;
  const std::vector<int64_t>* attr_ints(const std::string& name) const;
  std::string attr_string(const std::string& name, const std::string& fallback) const;
  // "node 'name' (OpType)" for messages.
  std::string describe() const;
};

struct ValueInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  Shape dims;  // -1 where the dimension is symbolic or unknown
  std::vector<std::string> dim_params;  // symbolic names ("N", "batch"), "" where fixed
  // The declared type where dtype cannot say it (kUndefined): for a tensor, ONNX's element type
  // name in lower case ("string", "complex64", "float8e4m3fn"; "undefined" where the model gives
  // none); otherwise the type as ONNX writes one ("seq(map(int64,tensor(float)))"). Empty for a
  // DType, and for a value declared without any type.
  std::string other_type;
  bool tensor = true;  // false for sequences, maps, optionals and sparse tensors (dims then empty)
  bool rank_known = true;  // false for a tensor declared without a shape (dims then empty)
};
// How to have int64 class labels where a classifier has strings (the engine has no string tensors):
// the advice of a STRING graph output and of the classifier plans' refusal alike.
extern const char* const kInt64LabelsAdvice;

// The value's type as inspect prints it: dtype_name, or other_type ("undefined" where neither).
std::string value_info_type_name(const ValueInfo& v);

struct Graph {
  std::string source;  // the model path
  int64_t ir_version = 0;
  std::string producer;
  std::map<std::string, int64_t> opsets;  // domain ("" = default) -> version
  std::vector<ValueInfo> inputs;          // graph inputs that are not initializers
  std::vector<ValueInfo> outputs;
  std::map<std::string, Tensor> initializers;
  std::vector<Node> nodes;  // topological order
  // The files holding the model's external data (initializers and tensor attributes stored beside
  // the model, as torch's dynamo exporter writes them), as the model names them (relative to its
  // folder), each once, in the order first named. Provenance hashes them with the model file.
  std::vector<std::string> external_data;
  // Graph outputs of a type the engine has no tensors for (strings, float8, sequences, ...): name
  // -> the message that names it, its type and the node that makes it. Engine::load refuses the
  // ones it is asked to compute. (Such graph inputs are refused by the loader.)
  std::map<std::string, std::string> unsupported_outputs;
  // ONNX Runtime contrib ops (com.microsoft) the loader expanded into the table's ops (engine/contrib_ops.h).
  int expanded_contrib_ops = 0;
};

StatusOr<Graph> graph_load_onnx(const std::string& path);
// ONNX's name of an element type code (TensorProto.DataType), also for the types newer than this
// build's libonnx (float8, 4-bit); "number N" for a code ONNX does not define.
std::string onnx_type_name(int32_t t);
// As graph_load_onnx, from the serialized bytes; `source` names the model in messages.
StatusOr<Graph> graph_parse_onnx(const std::string& bytes, const std::string& source);
// One serialized ONNX TensorProto (a .pb file of ONNX's backend test data) as a Tensor; `what`
// names it in messages. DataLoss for bytes that do not parse or hold the wrong amount of data,
// Unimplemented for an element type shardscore does not support; external data is refused.
StatusOr<Tensor> tensor_parse_onnx(const std::string& bytes, const std::string& what);

// What `shardscore inspect` shows: a model's interface and contents, whether or not this build can
// run it. Only a file that is not an ONNX model at all is an error.
struct ModelSummary {
  std::string path;
  std::string producer;
  int64_t ir_version = 0;
  std::map<std::string, int64_t> opsets;     // domain ("" = default) -> version
  std::vector<ValueInfo> inputs, outputs;    // inputs exclude initializers
  std::map<std::string, int64_t> op_counts;  // "Conv", or "domain:Op" outside the default domain
  int64_t nodes = 0;
  // Elements in all initializers, tensor attributes (Constant nodes') and the ai.onnx.ml ops'
  // float and int arrays (coefficients, tree tables, categories, labels); not single-number
  // attributes, nor the standard ops' int arrays (kernel_shape, pads).
  int64_t parameters = 0;
  int64_t parameter_bytes = 0;  // their size as stored (external data included)
  // Ops this build cannot run, as "Op (domain, opset N): K nodes".
  std::vector<std::string> unsupported;
  // How to make the model runnable, when that is known (functions the model defines: inline them).
  std::string hint;
};
StatusOr<ModelSummary> graph_inspect_onnx(const std::string& path);

// ONNX's domain name for messages: "ai.onnx" for the default domain.
std::string domain_display(const std::string& domain);

}  // namespace shardscore
