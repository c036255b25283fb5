#pragma once
// Helpers for the load-time rewrites that edit a Graph (engine/passes.h, engine/contrib_ops.h): names
// for new values, attribute values for new nodes, and initializers by name.
#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "engine/graph.h"

namespace shardscore {

// Names for new values: none is an initializer, a graph input, a node's output or a name given out
// before (a pass builds its nodes before they join the graph). A taken name gets primes appended.
class FreshNames {
 public:
  // Every name the graph has now counts as taken for the object's life, also once its node has
  // been moved out of g.nodes (a pass that rebuilds the node list); names added later count too.
  explicit FreshNames(const Graph& g) : g_(g) {
    for (const auto& in : g.inputs) given_.insert(in.name);
    for (const auto& n : g.nodes) given_.insert(n.outputs.begin(), n.outputs.end());
  }
  std::string operator()(std::string name) {
    while (taken(name)) name += "'";
    given_.insert(name);
    return name;
  }

 private:
  bool taken(const std::string& v) const {
    if (given_.count(v) || g_.initializers.count(v)) return true;
    for (const auto& in : g_.inputs)
      if (in.name == v) return true;
    for (const auto& n : g_.nodes)
      if (std::find(n.outputs.begin(), n.outputs.end(), v) != n.outputs.end()) return true;
    return false;
  }
  const Graph& g_;
  std::set<std::string> given_;
};

// The initializer named `name`, or nullptr where there is none.
inline const Tensor* initializer(const Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  return it == g.initializers.end() ? nullptr : &it->second;
}

inline Attribute string_attr(const std::string& s) {
  Attribute a;
  a.type = Attribute::Type::kString;
  a.s = s;
  return a;
}

inline Attribute int_attr(int64_t v) {
  Attribute a;
  a.type = Attribute::Type::kInt;
  a.i = v;
  return a;
}

inline Attribute float_attr(float v) {
  Attribute a;
  a.type = Attribute::Type::kFloat;
  a.f = v;
  return a;
}

inline Attribute tensor_attr(Tensor t) {
  Attribute a;
  a.type = Attribute::Type::kTensor;
  a.t = std::move(t);
  return a;
}

inline Attribute ints_attr(std::vector<int64_t> v) {
  Attribute a;
  a.type = Attribute::Type::kInts;
  a.ints = std::move(v);
  return a;
}

}  // namespace shardscore
