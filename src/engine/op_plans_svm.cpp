#include "engine/op_plans_svm.h"

#include <string>

#include "engine/op_plans.h"

namespace shardscore {
namespace {

// A float list attribute that is given and not empty, else nullptr (an empty table is an absent one).
const std::vector<float>* svm_floats(const Node& n, const char* name) {
  const std::vector<float>* v = n.attr_floats(name);
  return v && !v->empty() ? v : nullptr;
}

std::string count(std::size_t n) { return std::to_string(n); }

StatusOr<SvmKernelParams> svm_kernel_params(const Node& n, bool linear_form) {
  SvmKernelParams k;
  const std::string type = n.attr_string("kernel_type", "LINEAR");
  if (type == "LINEAR") k.kernel = SvmKernel::kLinear;
  else if (type == "POLY") k.kernel = SvmKernel::kPoly;
  else if (type == "RBF") k.kernel = SvmKernel::kRbf;
  else if (type == "SIGMOID") k.kernel = SvmKernel::kSigmoid;
  else return invalid_argument("kernel_type '" + type + "' is not one of LINEAR, POLY, RBF, SIGMOID");
  if (const std::vector<float>* p = svm_floats(n, "kernel_params")) {
    if (p->size() != 3) {
      return invalid_argument("kernel_params has " + count(p->size()) + " values; it takes 3 (gamma, coef0, degree)");
    }
    k.gamma = (*p)[0];
    k.coef0 = (*p)[1];
    k.degree = (*p)[2];
  }
  if (linear_form) k.kernel = SvmKernel::kLinear;  // no support vectors: coefficients are the weights
  return k;
}

}  // namespace

StatusOr<SvmRegressorPlan> svm_regressor_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  SvmRegressorPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(p.xr, ml_rows_plan(*p.x));
  const int64_t features = p.xr.features;
  p.vectors = n.attr_int("n_supports", 0);
  if (p.vectors < 0) return invalid_argument("n_supports " + std::to_string(p.vectors) + " is negative");
  SS_ASSIGN_OR_RETURN(p.k, svm_kernel_params(n, p.vectors == 0));
  p.coef = svm_floats(n, "coefficients");
  const std::vector<float>* rho = svm_floats(n, "rho");
  if (!p.coef) return invalid_argument("SVMRegressor needs coefficients");
  if (!rho) return invalid_argument("SVMRegressor needs rho");
  p.rho = (*rho)[0];
  if (p.vectors > 0) {
    p.sv = svm_floats(n, "support_vectors");
    const std::size_t want = static_cast<std::size_t>(p.vectors * features);
    if (!p.sv || p.sv->size() != want) {
      return invalid_argument(count(p.sv ? p.sv->size() : 0) + " support_vectors values do not fit n_supports " +
                              std::to_string(p.vectors) + " x " + std::to_string(features) + " features of X");
    }
    if (static_cast<int64_t>(p.coef->size()) != p.vectors) {
      return invalid_argument(count(p.coef->size()) + " coefficients for n_supports " + std::to_string(p.vectors));
    }
  } else if (static_cast<int64_t>(p.coef->size()) != features) {
    return invalid_argument(count(p.coef->size()) + " coefficients (the linear form, n_supports 0) for " +
                            std::to_string(features) + " features of X");
  }
  p.one_class = n.attr_int("one_class", 0) != 0;
  const std::string post = n.attr_string("post_transform", "NONE");
  if (post != "NONE") return unimplemented("post_transform '" + post + "' is not supported for SVMRegressor (NONE)");
  return p;
}

StatusOr<SvmClassifierPlan> svm_classifier_plan(const Node& n, const std::vector<const Tensor*>& inputs) {
  SvmClassifierPlan p;
  SS_ASSIGN_OR_RETURN(p.x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(p.xr, ml_rows_plan(*p.x));
  if (n.attr("classlabels_strings")) return unsupported_string_labels("string class labels are not supported (int64 labels only)");
  p.labels = n.attr_ints("classlabels_ints");
  if (!p.labels || p.labels->size() < 2) {
    return invalid_argument("SVMClassifier needs classlabels_ints with at least 2 classes, got " +
                            count(p.labels ? p.labels->size() : 0));
  }
  p.classes = static_cast<int64_t>(p.labels->size());
  p.pairs = p.classes * (p.classes - 1) / 2;
  const int64_t features = p.xr.features;

  const std::vector<int64_t>* per_class = n.attr_ints("vectors_per_class");
  p.linear = !per_class || per_class->empty();
  SS_ASSIGN_OR_RETURN(p.k, svm_kernel_params(n, p.linear));
  p.coef = svm_floats(n, "coefficients");
  p.rho = svm_floats(n, "rho");
  if (!p.coef) return invalid_argument("SVMClassifier needs coefficients");
  if (!p.rho) return invalid_argument("SVMClassifier needs rho");
  p.prob_a = svm_floats(n, "prob_a");
  p.prob_b = svm_floats(n, "prob_b");
  const std::size_t na = p.prob_a ? p.prob_a->size() : 0, nb = p.prob_b ? p.prob_b->size() : 0;
  if (na != nb) return invalid_argument(count(na) + " prob_a and " + count(nb) + " prob_b values (they go in pairs)");
  p.have_proba = na > 0;

  if (p.linear) {
    if (static_cast<int64_t>(p.coef->size()) != p.classes * features) {
      return invalid_argument(count(p.coef->size()) + " coefficients (the linear form, no vectors_per_class) for " +
                              std::to_string(p.classes) + " classes x " + std::to_string(features) +
                              " features of X");
    }
    p.cols = p.classes;
    p.all_positive = true;
    for (float c : *p.coef) p.all_positive = p.all_positive && c >= 0;
  } else {
    if (static_cast<int64_t>(per_class->size()) != p.classes) {
      return invalid_argument(count(per_class->size()) + " vectors_per_class entries for " +
                              std::to_string(p.classes) + " class labels");
    }
    for (int64_t c : *per_class) {
      if (c < 0) return invalid_argument("vectors_per_class has a negative count " + std::to_string(c));
      p.starts.push_back(p.vectors);
      p.counts.push_back(c);
      p.vectors += c;
    }
    p.sv = svm_floats(n, "support_vectors");
    const std::size_t want = static_cast<std::size_t>(p.vectors * features);
    if (p.vectors == 0 || !p.sv || p.sv->size() != want) {
      return invalid_argument(count(p.sv ? p.sv->size() : 0) + " support_vectors values do not fit " +
                              std::to_string(p.vectors) + " vectors (vectors_per_class) x " +
                              std::to_string(features) + " features of X");
    }
    if (static_cast<int64_t>(p.coef->size()) != (p.classes - 1) * p.vectors) {
      return invalid_argument(count(p.coef->size()) + " coefficients for " + std::to_string(p.classes - 1) +
                              " rows x " + std::to_string(p.vectors) + " support vectors");
    }
    if (static_cast<int64_t>(p.rho->size()) != p.pairs) {
      return invalid_argument(count(p.rho->size()) + " rho values for " + std::to_string(p.pairs) + " class pairs");
    }
    if (p.have_proba && static_cast<int64_t>(na) != p.pairs) {
      return invalid_argument(count(na) + " prob_a / prob_b values for " + std::to_string(p.pairs) + " class pairs");
    }
    p.cols = p.have_proba ? p.classes : (p.classes > 2 ? p.pairs : 2);
  }

  SS_ASSIGN_OR_RETURN(p.post, ml_post_plan(n));
  return p;
}

}  // namespace shardscore
