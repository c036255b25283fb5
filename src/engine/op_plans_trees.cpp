#include "engine/op_plans_trees.h"

#include <climits>
#include <cmath>
#include <memory>
#include <map>
#include <string>
#include <utility>

#include "engine/op_plans.h"

namespace shardscore {
namespace {

std::string at(int64_t tree, int64_t node) {
  return "tree " + std::to_string(tree) + " node " + std::to_string(node);
}

StatusOr<TreeMode> mode_of(const std::string& s, int64_t tree, int64_t node) {
  if (s == "BRANCH_LEQ") return TreeMode::kLeq;
  if (s == "BRANCH_LT") return TreeMode::kLt;
  if (s == "BRANCH_GTE") return TreeMode::kGte;
  if (s == "BRANCH_GT") return TreeMode::kGt;
  if (s == "BRANCH_EQ") return TreeMode::kEq;
  if (s == "BRANCH_NEQ") return TreeMode::kNeq;
  if (s == "LEAF") return TreeMode::kLeaf;
  return invalid_argument(at(tree, node) + ": mode '" + s + "' is not one of BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, "
                          "BRANCH_GT, BRANCH_EQ, BRANCH_NEQ, LEAF");
}

StatusOr<TreePost> post_of(const Node& n) {
  const std::string s = n.attr_string("post_transform", "NONE");
  if (s == "NONE") return TreePost::kNone;
  if (s == "LOGISTIC") return TreePost::kLogistic;
  if (s == "SOFTMAX") return TreePost::kSoftmax;
  if (s == "SOFTMAX_ZERO") return TreePost::kSoftmaxZero;
  if (s == "PROBIT") return TreePost::kProbit;
  return invalid_argument("post_transform '" + s + "' is not one of NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT");
}

// The nodes_* attributes and the leaf weights (`prefix`: "target" or "class") as the flat array,
// checked (all but the feature ids against X's width); `targets` bounds the weights' ids.
StatusOr<std::shared_ptr<const TreeEnsembleFlat>> build_trees(const Node& n, const char* prefix, int64_t targets) {
  auto flat = std::make_shared<TreeEnsembleFlat>();
  TreeEnsembleFlat& p = *flat;
  for (const auto& [name, attr] : n.attrs)
    if (name.size() > 10 && name.compare(name.size() - 10, 10, "_as_tensor") == 0) {
      return unimplemented("attribute " + name + " is not supported (the float attributes only)");
    }
  const std::vector<int64_t>* tree_ids = n.attr_ints("nodes_treeids");
  const std::vector<int64_t>* node_ids = n.attr_ints("nodes_nodeids");
  const std::vector<int64_t>* features = n.attr_ints("nodes_featureids");
  const std::vector<float>* values = n.attr_floats("nodes_values");
  const std::vector<int64_t>* true_ids = n.attr_ints("nodes_truenodeids");
  const std::vector<int64_t>* false_ids = n.attr_ints("nodes_falsenodeids");
  const std::vector<int64_t>* missing = n.attr_ints("nodes_missing_value_tracks_true");
  const Attribute* modes = n.attr("nodes_modes");
  if (!tree_ids || !node_ids || !features || !true_ids || !false_ids || !modes ||
      modes->type != Attribute::Type::kStrings) {
    return invalid_argument("needs nodes_treeids, nodes_nodeids, nodes_featureids, nodes_modes, nodes_truenodeids "
                            "and nodes_falsenodeids");
  }
  const std::size_t count = tree_ids->size();
  auto same = [&](std::size_t k) { return k == count; };
  if (!same(node_ids->size()) || !same(features->size()) || !same(true_ids->size()) || !same(false_ids->size()) ||
      !same(modes->strings.size()) || (values && !same(values->size())) || (missing && !missing->empty() &&
      !same(missing->size()))) {
    return invalid_argument("the nodes_* attributes differ in length (" + std::to_string(count) + " nodes_treeids)");
  }
  if (count >= (std::size_t{1} << 31)) return invalid_argument("more than 2^31 tree nodes");

  // Trees in ascending id; a tree's nodes in attribute order.
  std::map<int64_t, std::vector<std::size_t>> trees;
  for (std::size_t i = 0; i < count; ++i) trees[(*tree_ids)[i]].push_back(i);
  std::vector<int32_t> flat_of(count);  // attribute position -> flat index
  std::map<std::pair<int64_t, int64_t>, int32_t> index;  // (tree, node id) -> flat index
  p.nodes.resize(count);
  int32_t next = 0;
  for (const auto& [tree, members] : trees)
    for (std::size_t i : members) {
      if (!index.emplace(std::make_pair(tree, (*node_ids)[i]), next).second) {
        return invalid_argument(at(tree, (*node_ids)[i]) + " appears twice");
      }
      flat_of[i] = next++;
    }
  for (std::size_t i = 0; i < count; ++i) {
    const int64_t tree = (*tree_ids)[i], id = (*node_ids)[i];
    TreeNodeFlat& f = p.nodes[flat_of[i]];
    SS_ASSIGN_OR_RETURN(const TreeMode mode, mode_of(modes->strings[i], tree, id));
    f.mode = static_cast<uint8_t>(mode);
    f.missing_true = missing && !missing->empty() && (*missing)[i] != 0;
    if (mode == TreeMode::kLeaf) continue;
    const int64_t feature = (*features)[i];
    if (feature < 0 || feature > INT32_MAX) {
      return invalid_argument(at(tree, id) + ": feature " + std::to_string(feature) + " is not a column of X");
    }
    f.feature = static_cast<int32_t>(feature);
    if (feature > p.max_feature) {
      p.max_feature = feature;
      p.max_feature_at = at(tree, id);
    }
    f.threshold = values ? static_cast<double>((*values)[i]) : 0.0;
    for (const bool is_true : {true, false}) {
      const int64_t child = is_true ? (*true_ids)[i] : (*false_ids)[i];
      const auto it = index.find({tree, child});
      if (it == index.end()) {
        return invalid_argument(at(tree, id) + ": its " + (is_true ? "true" : "false") + " child " +
                                std::to_string(child) + " is not a node of the tree");
      }
      (is_true ? f.true_next : f.false_next) = it->second;
    }
  }
  // Roots, and no cycles: a walk from the root never comes back to a node on its own path.
  std::vector<uint8_t> state(count, 0);  // 0 unseen, 1 on the current path, 2 done
  for (const auto& [tree, members] : trees) {
    const auto root = index.find({tree, 0});
    if (root == index.end()) return invalid_argument("tree " + std::to_string(tree) + " has no node 0 (its root)");
    p.roots.push_back(root->second);
    std::vector<std::pair<int32_t, int>> stack{{root->second, 0}};  // node, children visited
    state[root->second] = 1;
    while (!stack.empty()) {
      auto& [node, k] = stack.back();
      const TreeNodeFlat& f = p.nodes[node];
      if (f.mode == static_cast<uint8_t>(TreeMode::kLeaf) || k == 2) {
        state[node] = 2;
        stack.pop_back();
        continue;
      }
      const int32_t child = k++ == 0 ? f.true_next : f.false_next;
      if (state[child] == 1) {
        // Name the node by its ids: the flat index is ours, not the model's.
        for (std::size_t i = 0; i < count; ++i)
          if (flat_of[i] == node) return invalid_argument(at(tree, (*node_ids)[i]) + ": its children lead back to it (a cycle)");
      }
      if (state[child] == 0) {
        state[child] = 1;
        stack.emplace_back(child, 0);
      }
    }
  }

  // Leaf weights, grouped by leaf in attribute order.
  const std::string pre = prefix;
  const std::vector<int64_t>* w_trees = n.attr_ints((pre + "_treeids").c_str());
  const std::vector<int64_t>* w_nodes = n.attr_ints((pre + "_nodeids").c_str());
  const std::vector<int64_t>* w_ids = n.attr_ints((pre + "_ids").c_str());
  const std::vector<float>* w_values = n.attr_floats((pre + "_weights").c_str());
  const std::size_t wn = w_trees ? w_trees->size() : 0;
  if (!w_nodes || !w_ids || !w_values || w_nodes->size() != wn || w_ids->size() != wn || w_values->size() != wn) {
    return invalid_argument(pre + "_treeids, " + pre + "_nodeids, " + pre + "_ids and " + pre +
                            "_weights must be given with one length");
  }
  std::vector<std::vector<TreeWeightFlat>> per_node(count);
  for (std::size_t k = 0; k < wn; ++k) {
    const int64_t tree = (*w_trees)[k], id = (*w_nodes)[k], target = (*w_ids)[k];
    const auto it = index.find({tree, id});
    if (it == index.end()) return invalid_argument("a weight names " + at(tree, id) + ", which does not exist");
    if (p.nodes[it->second].mode != static_cast<uint8_t>(TreeMode::kLeaf)) {
      return invalid_argument("a weight names " + at(tree, id) + ", which is not a leaf");
    }
    if (target < 0 || target >= targets) {
      return invalid_argument(at(tree, id) + ": " + pre + " id " + std::to_string(target) + " is out of range for " +
                              std::to_string(targets) + (pre == "class" ? " classes" : " targets"));
    }
    // One target: a leaf's value is its first weight, as ONNX Runtime reads it (what skl2onnx's
    // decision_leaf output relies on: the leaf's id, once per class). ONNX's reference adds them all.
    if (targets == 1 && !per_node[it->second].empty()) continue;
    per_node[it->second].push_back({static_cast<int32_t>(target), (*w_values)[k]});
    if ((*w_values)[k] < 0) p.weights_all_positive = false;
    p.ids_all_zero &= target == 0;
    p.ids_all_one &= target == 1;
  }
  // One target: a leaf without a weight counts its nodes_values entry (0 as converters write it), so
  // MIN and MAX take it in, as ONNX Runtime does.
  for (std::size_t i = 0; targets == 1 && i < count; ++i) {
    if (p.nodes[flat_of[i]].mode == static_cast<uint8_t>(TreeMode::kLeaf) && per_node[flat_of[i]].empty()) {
      per_node[flat_of[i]].push_back({0, values ? (*values)[i] : 0.0f});
      if (values && (*values)[i] < 0) p.weights_all_positive = false;
    }
  }
  for (std::size_t i = 0; i < count; ++i) {
    p.nodes[i].weights_begin = static_cast<int32_t>(p.weights.size());
    p.nodes[i].weights_count = static_cast<int32_t>(per_node[i].size());
    p.weights.insert(p.weights.end(), per_node[i].begin(), per_node[i].end());
  }
  return std::shared_ptr<const TreeEnsembleFlat>(std::move(flat));
}

// p.flat from the node's cache (built on its first run), its feature ids checked against X.
Status take_trees(const Node& n, const char* prefix, TreeEnsemblePlan& p) {
  SS_ASSIGN_OR_RETURN(p.flat, n.cache.get_or_make<TreeEnsembleFlat>([&] { return build_trees(n, prefix, p.targets); }));
  if (p.flat->max_feature >= p.xr.features) {
    return invalid_argument(p.flat->max_feature_at + ": feature " + std::to_string(p.flat->max_feature) +
                            " is not a column of X (" + std::to_string(p.xr.features) + " features)");
  }
  return ok_status();
}

Status take_base(const Node& n, TreeEnsemblePlan& p) {
  if (const std::vector<float>* base = n.attr_floats("base_values")) p.base = *base;
  return ok_status();
}

}  // namespace

float tree_probit(float v) {
  // ONNX Runtime's ComputeProbit / ErfInv (ml_common.h), operation for operation in float32.
  float x = 2 * v - 1;
  const float sgn = x < 0 ? -1.0f : 1.0f;
  x = (1 - x) * (1 + x);
  const float lg = std::log(x);
  const float a = 2 / (3.14159f * 0.147f) + 0.5f * lg;
  const float b = 1 / (0.147f) * lg;
  const float c = -a + std::sqrt(a * a - b);
  return 1.41421356f * (sgn * std::sqrt(c));
}

StatusOr<TreeEnsemblePlan> tree_ensemble_regressor_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  TreeEnsemblePlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(p.xr, ml_rows_plan(*p.x));
  p.targets = n.attr_int("n_targets", 1);
  if (p.targets < 1) return invalid_argument("n_targets " + std::to_string(p.targets) + " must be at least 1");
  SS_RETURN_IF_ERROR(take_trees(n, "target", p));
  const std::string agg = n.attr_string("aggregate_function", "SUM");
  if (agg == "SUM") p.aggregate = TreeAggregate::kSum;
  else if (agg == "AVERAGE") p.aggregate = TreeAggregate::kAverage;
  else if (agg == "MIN") p.aggregate = TreeAggregate::kMin;
  else if (agg == "MAX") p.aggregate = TreeAggregate::kMax;
  else return invalid_argument("aggregate_function '" + agg + "' is not one of SUM, AVERAGE, MIN, MAX");
  SS_RETURN_IF_ERROR(take_base(n, p));
  if (!p.base.empty() && static_cast<int64_t>(p.base.size()) != p.targets) {
    return invalid_argument(std::to_string(p.base.size()) + " base_values for " + std::to_string(p.targets) +
                            " targets");
  }
  SS_ASSIGN_OR_RETURN(p.post, post_of(n));
  if (p.targets == 1 && p.post != TreePost::kNone && p.post != TreePost::kProbit) {
    return unimplemented("post_transform " + n.attr_string("post_transform", "") +
                         " with one target is not supported (NONE, PROBIT): ONNX Runtime leaves the value as it "
                         "is, the spec transforms it");
  }
  p.cols = p.targets;
  p.want_scores = true;
  return p;
}

StatusOr<TreeEnsemblePlan> tree_ensemble_classifier_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  TreeEnsemblePlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(p.xr, ml_rows_plan(*p.x));
  const bool want_label = !n.outputs.empty() && !n.outputs[0].empty();
  p.want_scores = n.outputs.size() > 1 && !n.outputs[1].empty();
  const std::vector<int64_t>* ints = n.attr_ints("classlabels_int64s");
  const Attribute* strings = n.attr("classlabels_strings");
  if (strings && strings->type == Attribute::Type::kStrings && !strings->strings.empty()) {
    if (want_label) {
      return unsupported_string_labels("string class labels (classlabels_strings) are not supported: the engine has "
                                       "no string tensors (the scores output alone is)");
    }
    p.targets = static_cast<int64_t>(strings->strings.size());
  } else if (ints && !ints->empty()) {
    p.labels = ints;
    p.targets = static_cast<int64_t>(ints->size());
  } else {
    return invalid_argument("needs classlabels_int64s or classlabels_strings");
  }
  SS_RETURN_IF_ERROR(take_trees(n, "class", p));
  SS_RETURN_IF_ERROR(take_base(n, p));
  SS_ASSIGN_OR_RETURN(p.post, post_of(n));
  const bool ids_zero = p.flat->ids_all_zero, ids_one = p.flat->ids_all_one;
  if (p.targets == 2 && !p.flat->weights.empty() && (ids_zero || ids_one)) {
    if (ids_one) return unimplemented("a binary classifier whose weights are all for class 1 is not supported (class 0)");
    if (p.base.size() > 1) {
      return unimplemented("two base_values for a binary classifier with one weight column are not supported");
    }
    if (p.post != TreePost::kNone && p.post != TreePost::kLogistic) {
      return unimplemented("post_transform " + n.attr_string("post_transform", "") +
                           " for a binary classifier with one weight column is not supported (NONE, LOGISTIC)");
    }
    p.binary_one_column = true;
    p.cols = 2;
    return p;
  }
  if (p.targets == 2) {
    return unimplemented("two classes with weights on both are not supported (ONNX Runtime labels them by the sign of "
                         "class 1's score, the spec by the larger score)");
  }
  if (!p.base.empty() && static_cast<int64_t>(p.base.size()) != p.targets) {
    return invalid_argument(std::to_string(p.base.size()) + " base_values for " + std::to_string(p.targets) +
                            " classes");
  }
  p.cols = p.targets;
  return p;
}

}  // namespace shardscore
