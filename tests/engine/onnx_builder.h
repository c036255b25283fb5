#pragma once
// Building small ONNX models in tests with libonnx's protobuf classes.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace shardscore::onnx_builder {

inline onnx::ModelProto new_model(int64_t opset = 17) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("test_graph");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  m.mutable_graph()->set_name("test");
  return m;
}

// dims: -1 is a symbolic dimension "N".
inline void set_type(onnx::ValueInfoProto* v, const std::string& name, int32_t elem_type, const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) {
    auto* dim = shape->add_dim();
    if (d < 0)
      dim->set_dim_param("N");
    else
      dim->set_dim_value(d);
  }
}
inline void add_input(onnx::ModelProto* m, const std::string& name, int32_t elem_type, const std::vector<int64_t>& dims) {
  set_type(m->mutable_graph()->add_input(), name, elem_type, dims);
}
inline void add_output(onnx::ModelProto* m, const std::string& name, int32_t elem_type, const std::vector<int64_t>& dims) {
  set_type(m->mutable_graph()->add_output(), name, elem_type, dims);
}
inline onnx::NodeProto* add_node(onnx::ModelProto* m, const std::string& op_type, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs, const std::string& name = "") {
  auto* n = m->mutable_graph()->add_node();
  n->set_op_type(op_type);
  if (!name.empty()) n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return n;
}
// A float initializer [2, 3] named `name` with raw_data of `raw_bytes` bytes (24 is complete).
inline onnx::TensorProto* add_float_initializer(onnx::ModelProto* m, const std::string& name, std::size_t raw_bytes) {
  auto* t = m->mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto_DataType_FLOAT);
  t->add_dims(2);
  t->add_dims(3);
  t->set_raw_data(std::string(raw_bytes, '\0'));
  return t;
}

inline std::string bytes_of(const onnx::ModelProto& m) {
  std::string s;
  EXPECT_TRUE(m.SerializeToString(&s));
  return s;
}

// An initializer of any shape and type holding `bytes` bytes of raw (little-endian, row-major) data.
inline onnx::TensorProto* add_raw_tensor(onnx::ModelProto* m, const std::string& name, int32_t data_type,
                                         const std::vector<int64_t>& dims, const void* data, std::size_t bytes) {
  auto* t = m->mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(data_type);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(std::string(static_cast<const char*>(data), bytes));
  return t;
}
inline onnx::TensorProto* add_float_tensor(onnx::ModelProto* m, const std::string& name, const std::vector<int64_t>& dims,
                                           const std::vector<float>& values) {
  return add_raw_tensor(m, name, onnx::TensorProto_DataType_FLOAT, dims, values.data(), values.size() * sizeof(float));
}
inline onnx::TensorProto* add_int64_tensor(onnx::ModelProto* m, const std::string& name, const std::vector<int64_t>& dims,
                                           const std::vector<int64_t>& values) {
  return add_raw_tensor(m, name, onnx::TensorProto_DataType_INT64, dims, values.data(), values.size() * sizeof(int64_t));
}

inline void set_int_attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto_AttributeType_INT);
  a->set_i(v);
}
inline void set_ints_attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto_AttributeType_INTS);
  for (int64_t x : v) a->add_ints(x);
}
inline void set_float_attr(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto_AttributeType_FLOAT);
  a->set_f(v);
}

// Loads a model built in the test through a temporary file, as a job loads one.
inline StatusOr<std::unique_ptr<Engine>> load_built(const onnx::ModelProto& m, const std::string& backend,
                                                    const EngineOptions& options = {}) {
  const auto path = std::filesystem::temp_directory_path() / ("shardscore_test_built_" + std::to_string(::getpid()) + ".onnx");
  std::ofstream(path, std::ios::binary) << bytes_of(m);
  auto e = Engine::load(path.string(), backend, options);
  std::filesystem::remove(path);
  return e;
}

}  // namespace shardscore::onnx_builder
