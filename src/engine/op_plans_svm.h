#pragma once
// Plans of the ai.onnx.ml support vector machines (SVMRegressor, SVMClassifier, ai.onnx.ml 1 to 5):
// the attributes checked against X, shared by the CPU (src/engine/cpu/ml_ops.cpp) and CUDA
// (src/engine/cuda/ml_ops.cpp with kernels/ml_ops.cu) functions.
//
// Semantics, as ONNX Runtime (1.19 and 1.32) computes them (the spec is terse), everything in double here
// (ONNX Runtime computes in float32; results agree to about 1e-6 relative):
//   * X converts to float32 first (as ONNX Runtime casts it), then to double;
//   * kernel K(x, v) from kernel_type and kernel_params [gamma, coef0, degree] (default 0, 0, 0):
//     LINEAR x.v, POLY (gamma x.v + coef0)^degree, RBF exp(-gamma |x - v|^2),
//     SIGMOID tanh(gamma x.v + coef0);
//   * SVMRegressor: n_supports > 0: s = sum_j coefficients[j] K(x, sv_j) + rho[0]; n_supports 0
//     (the linear form): s = x.coefficients + rho[0] whatever kernel_type says; one_class = 1:
//     s > 0 ? 1 : -1. Y [rows, 1].
//   * SVMClassifier with vectors_per_class (support vectors per class, in class order): for each
//     pair of classes i < j (in order (0,1), (0,2), ..., (1,2), ...) the score
//       d = sum_{v in class i} coefficients[(j-1) V + v] K(x, sv_v)
//         + sum_{v in class j} coefficients[i V + v] K(x, sv_v) + rho[pair]
//     (V: all support vectors) votes for i when d > 0, else for j; Y = the label of the first
//     class with the most votes (with or without probabilities). Z, without prob_a / prob_b:
//     the pair scores [rows, pairs] for more than two classes, with post_transform over them; two
//     classes: post_transform over [-d, d] (LOGISTIC: [logistic(-d), logistic(d)]), as ONNX's
//     reference implementation and ONNX Runtime 1.32 write it for LOGISTIC (1.19 wrote [1 - d, d]
//     for every post_transform but NONE; 1.32 still does for SOFTMAX and SOFTMAX_ZERO).
//     With prob_a / prob_b (one per pair): r_ij = 1 - logistic(d * A + B), clamped to
//     [1e-7, 1 - 1e-7], r_ji = 1 - r_ij, coupled into class probabilities by libsvm's iterative
//     method (at most 100 rounds, stopping when the error is below 0.005 / classes), Z [rows,
//     classes] = post_transform(probabilities).
//   * SVMClassifier without vectors_per_class (the linear form): s_c = x.coefficients_c + rho[0]
//     for each class c, Z = post_transform(s); Y = labels[argmax s] (first maximum), except with
//     two classes and no prob_a: labels[1] when every coefficient is >= 0 and max s >= 0.5, or
//     some coefficient is < 0 and max s > 0.
//   post_transform over several columns: LOGISTIC, SOFTMAX, SOFTMAX_ZERO as LinearClassifier's.
// Refused: classlabels_strings (Unimplemented, int64 labels only), post_transform PROBIT
// (Unimplemented), SVMRegressor's post_transform other than NONE (Unimplemented: skl2onnx writes
// NONE, and what ONNX Runtime makes of the others on one score column was not checked). InvalidArgument names each table whose
// size does not fit (support vectors, coefficients, rho, prob_a / prob_b, vectors_per_class, the
// class labels), a kernel_type that is not one of the four, kernel_params of other than 3 values,
// and fewer than two classes.
#include <cstdint>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"
#include "engine/op_plans_elementwise.h"
#include "engine/tensor.h"

namespace shardscore {

enum class SvmKernel { kLinear = 0, kPoly = 1, kRbf = 2, kSigmoid = 3 };

struct SvmKernelParams {
  SvmKernel kernel = SvmKernel::kLinear;
  double gamma = 0, coef0 = 0, degree = 0;
};

struct SvmRegressorPlan {
  const Tensor* x = nullptr;
  MlRows xr;
  SvmKernelParams k;
  const std::vector<float>* sv = nullptr;    // [vectors, features]; null in the linear form
  const std::vector<float>* coef = nullptr;  // [vectors], or [features] in the linear form
  int64_t vectors = 0;                       // 0: the linear form
  double rho = 0;
  bool one_class = false;
};
StatusOr<SvmRegressorPlan> svm_regressor_plan(const Node& node, const std::vector<const Tensor*>& inputs);

struct SvmClassifierPlan {
  const Tensor* x = nullptr;
  MlRows xr;
  SvmKernelParams k;
  const std::vector<float>* sv = nullptr;    // [vectors, features]; null in the linear form
  const std::vector<float>* coef = nullptr;  // [classes - 1, vectors], or [classes, features]
  const std::vector<float>* rho = nullptr;   // [pairs], or rho[0] for all (linear form)
  const std::vector<float>* prob_a = nullptr;  // [pairs] or null
  const std::vector<float>* prob_b = nullptr;
  const std::vector<int64_t>* labels = nullptr;  // [classes]
  std::vector<int64_t> starts;  // first support vector of each class (SVC form)
  std::vector<int64_t> counts;  // support vectors of each class (SVC form)
  int64_t classes = 0;
  int64_t pairs = 0;    // classes (classes - 1) / 2
  int64_t vectors = 0;  // 0: the linear form
  int64_t cols = 0;     // Z's columns
  bool linear = false;
  bool have_proba = false;
  // The pairwise coupling runs (the SVC form with prob_a / prob_b): only then do the backends
  // reserve its classes x classes matrices.
  bool couple() const { return have_proba && !linear; }
  bool all_positive = false;  // every coefficient >= 0 (the linear two-class label rule)
  MlPost post = MlPost::kNone;
};
StatusOr<SvmClassifierPlan> svm_classifier_plan(const Node& node, const std::vector<const Tensor*>& inputs);

}  // namespace shardscore
