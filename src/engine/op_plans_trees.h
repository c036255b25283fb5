#pragma once
// Plans of the ai.onnx.ml tree ensembles (TreeEnsembleRegressor, TreeEnsembleClassifier, opsets 1
// to 4 of ai.onnx.ml): the node attributes checked and laid out as one flat array that both
// backends walk (CPU: src/engine/cpu/ml_ops.cpp; CUDA: src/engine/cuda/ml_ops.cpp with
// kernels/ml_ops.cu). The array is built on the node's first run and kept in its NodeCache; each
// run checks only X against it (its width covers every feature id).
//
// Semantics, as ONNX Runtime (1.19 and 1.32) computes them where the spec is silent:
//   * a branch compares double(x[feature]) with double(threshold) (float32 X: the float32 compare;
//     float64 X: compared as stored; integer X converted): BRANCH_LEQ x <= t, LT x < t, GTE x >= t,
//     GT x > t, EQ x == t, NEQ x != t goes to the true child, otherwise the false child; a NaN goes
//     to the true child when the node's nodes_missing_value_tracks_true is 1 (else wherever its
//     comparison sends it: false, except NEQ);
//   * each tree (in ascending tree id) adds the weights of the leaf the row reaches (in attribute
//     order) to their target / class: SUM, AVERAGE (sum / number of trees), MIN or MAX (over the
//     trees' weights for that target; a target no leaf reached is 0), accumulated in double, then
//     base_values added; the result rounded to float32, then post_transform (float32, as the
//     LinearClassifier's; PROBIT is ONNX Runtime's sqrt(2) * erfinv(2p - 1) with its erfinv
//     approximation). A row's result never depends on its batch.
//   * one target or class (n_targets = 1): a leaf's value is its first weight only, and a leaf
//     without a weight counts its nodes_values entry (0 as converters write it; MIN and MAX take it
//     in). skl2onnx's decision_leaf output lists each leaf's id once per class: ONNX Runtime gives
//     the id, as scikit-learn's apply() does, where the ONNX reference adds the repeats;
//   * classifier, several score columns (more than two classes): Y = the label of the first
//     largest score among the classes a leaf or a base value reached, Z = post(scores);
//   * classifier, binary with one weight column (two labels, every class_id 0; what exporters write
//     for sklearn, XGBoost and LightGBM binary models): s = sum + base_values[0] (one base value or
//     none); Y = labels[1] when s > 0.5 (all class_weights >= 0 and post_transform NONE: s is a
//     probability) or s > 0 (s is a margin, or LOGISTIC: the larger score's, as the ONNX reference;
//     ONNX Runtime 1.32 labels by s > 0.5 there when every weight is >= 0), else labels[0];
//     Z = [1 - s, s] (a probability), or [logistic(-s), logistic(s)] (LOGISTIC, whatever the
//     weights' signs: as the ONNX reference and ONNX Runtime from 1.2x; 1.19 skipped LOGISTIC when
//     every weight was >= 0), or [-s, s] (mixed signs, NONE).
// Refused with Unimplemented, naming what: the *_as_tensor attributes, string class labels when
// the node asks for its label output, PROBIT / SOFTMAX / SOFTMAX_ZERO / two base values /
// class_id 1 in the binary one-column form, two classes with weights on both (ONNX Runtime labels
// these by the sign of class 1's score, the spec by the larger score), and a one-target regressor
// with LOGISTIC / SOFTMAX / SOFTMAX_ZERO (ONNX Runtime skips those, the spec applies them).
// InvalidArgument names the tree and node of a structure error: unequal nodes_* lengths, a mode
// that is not one of the seven, a node id twice in a tree, no node 0 (the root) in a tree, a
// branch child that is not in its tree, a cycle, a feature id outside X's columns, a weight on a
// node that is not a leaf or a target / class id out of range.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"
#include "engine/op_plans_elementwise.h"
#include "engine/tensor.h"

namespace shardscore {

enum class TreeMode : uint8_t { kLeq, kLt, kGte, kGt, kEq, kNeq, kLeaf };
enum class TreeAggregate : int32_t { kSum, kAverage, kMin, kMax };
enum class TreePost : int32_t { kNone, kLogistic, kSoftmax, kSoftmaxZero, kProbit };

// One node of the flat array (32 bytes; kernels/ml_ops.h's kernels::TreeNode has the same layout).
struct TreeNodeFlat {
  double threshold = 0;
  int32_t feature = 0;
  int32_t true_next = -1;   // index into the flat array (branches)
  int32_t false_next = -1;
  int32_t weights_begin = 0;  // leaves: their weights are [weights_begin, weights_begin + weights_count)
  int32_t weights_count = 0;
  uint8_t mode = 0;           // TreeMode
  uint8_t missing_true = 0;
  uint8_t pad[2] = {};
};
static_assert(sizeof(TreeNodeFlat) == 32);

struct TreeWeightFlat {
  int32_t target = 0;  // target (regressor) or class index (classifier)
  float value = 0;
};
static_assert(sizeof(TreeWeightFlat) == 8);

// The checked trees of one node, built from its attributes on the node's first run and kept in
// its NodeCache (a large forest's build costs far more than a batch's walk).
struct TreeEnsembleFlat {
  std::vector<TreeNodeFlat> nodes;  // tree by tree (ascending tree id), each tree's nodes in attribute order
  std::vector<int32_t> roots;       // per tree, its node 0's index in `nodes`
  std::vector<TreeWeightFlat> weights;
  bool weights_all_positive = true;
  bool ids_all_zero = true, ids_all_one = true;  // every weight's target / class id is 0 (1)
  int64_t max_feature = -1;                      // over the branches, and the first branch that reads it
  std::string max_feature_at;
};

struct TreeEnsemblePlan {
  const Tensor* x = nullptr;
  MlRows xr;
  std::shared_ptr<const TreeEnsembleFlat> flat;
  int64_t targets = 0;  // regressor: n_targets; classifier: classes (accumulator columns)
  TreeAggregate aggregate = TreeAggregate::kSum;
  std::vector<float> base;  // empty or one per target
  TreePost post = TreePost::kNone;
  // Classifier only.
  const std::vector<int64_t>* labels = nullptr;  // null: string labels and no label output
  bool binary_one_column = false;
  bool want_scores = false;  // the node names output 1 (Z)
  int64_t cols = 0;          // Z's columns: 2 in the binary one-column form, else targets
};

StatusOr<TreeEnsemblePlan> tree_ensemble_regressor_plan(const Node& node, const std::vector<const Tensor*>& inputs);
StatusOr<TreeEnsemblePlan> tree_ensemble_classifier_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ONNX Runtime's PROBIT: sqrt(2) * erfinv(2v - 1) with its erfinv approximation, in float32.
float tree_probit(float v);

}  // namespace shardscore
