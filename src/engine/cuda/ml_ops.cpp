// ai.onnx.ml (scikit-learn) ops on CUDA: the host side of kernels/ml_ops.cu. Validation, input
// types, output dtypes and shapes come from the plans shared with the CPU functions
// (src/engine/op_plans_elementwise.h); here only the uploads and launches.
//
// The CPU runs these ops on float16 through op_run_cpu: X widened to float32, float32 outputs
// rounded back to float16. So here a float16 X gives float16 probabilities / values (labels stay
// int64), computed in float32 and rounded once. Other X types convert to float32 as the CPU's
// ml_input_as_float_rows does, and the outputs are float32. These ops compute as the CPU does
// whatever --precision says (they are small; exactness matters more than speed).
//
// Attribute tables (coefficients, intercepts, class labels, offset / scale) reach the device in the
// op's scratch as kernel arguments, kernels::TableChunk by TableChunk, whatever their size:
// stream-ordered, no host staging, and captured in a CUDA graph with their contents. (A
// cudaMemcpyAsync from the attribute's pageable memory cannot be captured - it would make every
// batch of a model with a large table fall back from graph replay - and outside capture it may
// block the host until the lane's stream reaches it.)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/cuda_util.h"
#include "engine/op_plans_elementwise.h"
#include "engine/op_plans_svm.h"
#include "engine/op_plans_trees.h"
#include "kernels/ml_ops.h"

namespace shardscore {
namespace {

using kernels::MlPostTransform;

template <typename T>
StatusOr<const T*> upload_vector(CudaOpContext& ctx, const std::vector<T>* v) {
  if (!v || v->empty()) return static_cast<const T*>(nullptr);
  SS_ASSIGN_OR_RETURN(const void* p, cuda_upload_table(ctx, v->data(), v->size() * sizeof(T)));
  return static_cast<const T*>(p);
}

kernels::MlPostTransform kernel_post(MlPost p) {
  switch (p) {
    case MlPost::kNone: return MlPostTransform::kNone;
    case MlPost::kLogistic: return MlPostTransform::kLogistic;
    case MlPost::kSoftmax: return MlPostTransform::kSoftmax;
    case MlPost::kSoftmaxZero: return MlPostTransform::kSoftmaxZero;
  }
  return MlPostTransform::kNone;
}

}  // namespace

// ai.onnx.ml LinearClassifier: Y = class labels (int64), Z = post_transform(X * coefficients^T + intercepts).
// With one score column and two class labels, Z gets two columns (the negative class first) and a
// row's label is the positive class when its raw score is > 0. The argmax and the label lookup run
// on the device (class labels uploaded as a table).
Status cuda_linear_classifier(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(LinearClassifierPlan p, linear_classifier_plan(ctx.node, ctx.inputs));
  const Tensor* x = p.x;
  const MlRows& xr = p.xr;
  const int64_t rows = xr.rows, features = xr.features, targets = p.targets, cols = p.cols;
  const bool two_from_one = p.two_from_one;
  const MlPostTransform pt = kernel_post(p.post);
  const std::vector<float>* coef = p.coef;
  const std::vector<float>* intercepts = p.intercepts;

  SS_ASSIGN_OR_RETURN(const float* d_coef, upload_vector(ctx, coef));
  SS_ASSIGN_OR_RETURN(const float* d_intercepts, upload_vector(ctx, intercepts));
  SS_ASSIGN_OR_RETURN(const int64_t* d_labels, upload_vector(ctx, p.labels));

  Tensor y(DType::kInt64, {rows});
  Tensor z;
  const bool want_z = ctx.outputs.size() > 1;
  if (want_z) z = Tensor(xr.float_out, {rows, cols});
  if (rows * targets > 0) {
    auto* raw = static_cast<float*>(ctx.scratch(static_cast<std::size_t>(rows * targets) * sizeof(float)));
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_linear_scores(cuda_elem(x->dtype()), x->raw(), rows, features, d_coef,
                                                            d_intercepts, targets, kernels::Elem::kF32, raw,
                                                            ctx.lane.stream));
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_linear_classifier_finish(
        raw, rows, targets, two_from_one, pt, d_labels, y.data<int64_t>(), cuda_elem(xr.float_out),
        want_z ? z.raw() : nullptr, ctx.lane.stream));
  } else if (rows > 0) {
    // No score columns (no coefficients, no labels): the CPU reads labels[0] of an empty list here.
    SS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y.raw(), 0, y.nbytes(), ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  if (want_z) ctx.outputs[1] = std::move(z);
  return ok_status();
}

// ai.onnx.ml LinearRegressor: Y[rows, targets] = X * coefficients^T + intercepts (post_transform NONE).
Status cuda_linear_regressor(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(LinearRegressorPlan p, linear_regressor_plan(ctx.node, ctx.inputs));
  const Tensor* x = p.x;
  const MlRows& xr = p.xr;
  const int64_t targets = p.targets, features = xr.features;
  const std::vector<float>* coef = p.coef;
  const std::vector<float>* intercepts = p.intercepts;
  Tensor y(xr.float_out, {xr.rows, targets});
  if (y.numel() > 0) {
    SS_ASSIGN_OR_RETURN(const float* d_coef, upload_vector(ctx, coef));
    SS_ASSIGN_OR_RETURN(const float* d_intercepts, upload_vector(ctx, intercepts));
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_linear_scores(cuda_elem(x->dtype()), x->raw(), xr.rows, features, d_coef,
                                                            d_intercepts, targets, cuda_elem(xr.float_out), y.raw(),
                                                            ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml Scaler: Y = (X - offset) * scale, per feature (one value broadcasts to all).
Status cuda_scaler(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ScalerPlan p, scaler_plan(ctx.node, ctx.inputs));
  const Tensor* x = p.x;
  const MlRows& xr = p.xr;
  const int64_t features = xr.features;
  const std::vector<float>* offset = p.offset;
  const std::vector<float>* scale = p.scale;
  Tensor y(xr.float_out, p.out_shape);
  if (y.numel() > 0) {
    SS_ASSIGN_OR_RETURN(const float* d_offset, upload_vector(ctx, offset));
    SS_ASSIGN_OR_RETURN(const float* d_scale, upload_vector(ctx, scale));
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_scaler(
        cuda_elem(x->dtype()), x->raw(), xr.rows, features, d_offset, d_offset ? static_cast<int64_t>(offset->size()) : 0,
        d_scale, d_scale ? static_cast<int64_t>(scale->size()) : 0, cuda_elem(xr.float_out), y.raw(), ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml Imputer (op_plans_elementwise.h): one kernel, the imputed values as a table.
Status cuda_imputer(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ImputerPlan p, imputer_plan(ctx.node, ctx.inputs));
  Tensor y(p.x->dtype(), p.x->shape());
  if (y.numel() > 0) {
    SS_ASSIGN_OR_RETURN(const float* floats, upload_vector(ctx, p.floats));
    SS_ASSIGN_OR_RETURN(const int64_t* ints, upload_vector(ctx, p.ints));
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_imputer(cuda_elem(p.x->dtype()), p.x->raw(), y.raw(), y.numel(),
                                                      p.xr.features, floats, ints, p.count, p.replaced_float,
                                                      p.replaced_int, ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml OneHotEncoder (op_plans_elementwise.h): the plan's sorted categories with their
// positions, a binary search per element; a value in no category with zeros 0 is a fault record.
Status cuda_one_hot_encoder(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(OneHotEncoderPlan p, one_hot_encoder_plan(ctx.node, ctx.inputs));
  Tensor y(DType::kFloat32, p.out_shape);
  if (y.numel() > 0) {
    SS_ASSIGN_OR_RETURN(const int64_t* d_cats, upload_vector(ctx, &p.t().sorted));
    SS_ASSIGN_OR_RETURN(const int64_t* d_index, upload_vector(ctx, &p.t().index));
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_one_hot_encoder(cuda_elem(p.x->dtype()), p.x->raw(), p.x->numel(), d_cats,
                                                              d_index, p.t().count(), !p.zeros, ctx.fault(),
                                                              y.data<float>(), ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml LabelEncoder with numbers (op_plans_elementwise.h): the plan's sorted tables, a binary
// search per element.
Status cuda_label_encoder(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(LabelEncoderPlan p, label_encoder_plan(ctx.node, ctx.inputs));
  Tensor y(p.t().y_dtype, p.x->shape());
  if (y.numel() > 0) {
    SS_ASSIGN_OR_RETURN(const int64_t* ikeys, upload_vector(ctx, &p.t().ikeys));
    SS_ASSIGN_OR_RETURN(const double* fkeys, upload_vector(ctx, &p.t().fkeys));
    SS_ASSIGN_OR_RETURN(const int64_t* ivalues, upload_vector(ctx, &p.t().ivalues));
    SS_ASSIGN_OR_RETURN(const double* fvalues, upload_vector(ctx, &p.t().fvalues));
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_label_encoder(
        cuda_elem(p.x->dtype()), p.x->raw(), y.numel(), ikeys, fkeys, p.t().keys(), p.t().nan_key, cuda_elem(p.t().y_dtype), ivalues,
        fvalues, p.t().idefault, p.t().fdefault, y.raw(), ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml Binarizer (op_plans_elementwise.h).
Status cuda_binarizer(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(BinarizerPlan p, binarizer_plan(ctx.node, ctx.inputs));
  Tensor y(p.x->dtype(), p.x->shape());
  SS_LAUNCH_RETURN_IF_ERROR(
      kernels::launch_binarizer(cuda_elem(p.x->dtype()), p.x->raw(), y.raw(), y.numel(), p.threshold, ctx.lane.stream));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml Normalizer: each row divided by its MAX / L1 / L2 norm as the CPU computes it
// (op_plans_elementwise.h), one thread per row.
Status cuda_normalizer(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(NormalizerPlan p, normalizer_plan(ctx.node, ctx.inputs));
  Tensor y(p.xr.float_out, p.out_shape);
  if (y.numel() > 0) {
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_normalizer(cuda_elem(p.x->dtype()), p.x->raw(), p.xr.rows, p.xr.features,
                                                         static_cast<int>(p.norm), cuda_elem(p.xr.float_out), y.raw(),
                                                         ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ---- tree ensembles ----

static_assert(sizeof(kernels::TreeNode) == sizeof(TreeNodeFlat) &&
              offsetof(kernels::TreeNode, threshold) == offsetof(TreeNodeFlat, threshold) &&
              offsetof(kernels::TreeNode, feature) == offsetof(TreeNodeFlat, feature) &&
              offsetof(kernels::TreeNode, true_next) == offsetof(TreeNodeFlat, true_next) &&
              offsetof(kernels::TreeNode, false_next) == offsetof(TreeNodeFlat, false_next) &&
              offsetof(kernels::TreeNode, weights_begin) == offsetof(TreeNodeFlat, weights_begin) &&
              offsetof(kernels::TreeNode, weights_count) == offsetof(TreeNodeFlat, weights_count) &&
              offsetof(kernels::TreeNode, mode) == offsetof(TreeNodeFlat, mode) &&
              offsetof(kernels::TreeNode, missing_true) == offsetof(TreeNodeFlat, missing_true));
static_assert(sizeof(kernels::TreeWeight) == sizeof(TreeWeightFlat) &&
              offsetof(kernels::TreeWeight, value) == offsetof(TreeWeightFlat, value));

namespace {

// Both tree ops: the flat arrays travel as tables (cuda_upload_table: captured in a CUDA graph with
// their contents), one thread per row walks every tree. y: labels to fill or null; z: scores.
Status cuda_tree_ensemble_run(CudaOpContext& ctx, const TreeEnsemblePlan& p, Tensor* y, Tensor* z) {
  const int64_t rows = p.xr.rows;
  if (rows == 0) return ok_status();
  kernels::TreeEnsembleArgs a;
  const TreeEnsembleFlat& f = *p.flat;
  SS_ASSIGN_OR_RETURN(const void* nodes, cuda_upload_table(ctx, f.nodes.data(), f.nodes.size() * sizeof(TreeNodeFlat)));
  SS_ASSIGN_OR_RETURN(const void* weights,
                      cuda_upload_table(ctx, f.weights.data(), f.weights.size() * sizeof(TreeWeightFlat)));
  a.nodes = static_cast<const kernels::TreeNode*>(nodes);
  a.weights = static_cast<const kernels::TreeWeight*>(weights);
  SS_ASSIGN_OR_RETURN(a.roots, upload_vector(ctx, &f.roots));
  a.trees = static_cast<int64_t>(f.roots.size());
  a.targets = p.targets;
  a.cols = p.cols;
  a.aggregate = static_cast<int>(p.aggregate);
  // The kernel hands 1 to 3 to ml_post_row as MlPostTransform and runs 4 (PROBIT) itself.
  static_assert(static_cast<int>(TreePost::kLogistic) == static_cast<int>(kernels::MlPostTransform::kLogistic) &&
                static_cast<int>(TreePost::kSoftmax) == static_cast<int>(kernels::MlPostTransform::kSoftmax) &&
                static_cast<int>(TreePost::kSoftmaxZero) == static_cast<int>(kernels::MlPostTransform::kSoftmaxZero) &&
                static_cast<int>(TreePost::kProbit) == 4);
  a.post = static_cast<int>(p.post);
  SS_ASSIGN_OR_RETURN(a.base, upload_vector(ctx, &p.base));
  a.binary_one_column = p.binary_one_column;
  a.binary_probability = f.weights_all_positive && p.post == TreePost::kNone;  // s is a probability
  if (y) {
    SS_ASSIGN_OR_RETURN(a.labels, upload_vector(ctx, p.labels));
  }
  auto* acc = static_cast<double*>(ctx.scratch(static_cast<std::size_t>(rows * p.targets) * sizeof(double)));
  auto* has = static_cast<unsigned char*>(ctx.scratch(static_cast<std::size_t>(rows * p.targets)));
  auto* zf = static_cast<float*>(ctx.scratch(static_cast<std::size_t>(rows * p.cols) * sizeof(float)));
  SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_tree_ensemble(
      cuda_elem(p.x->dtype()), p.x->raw(), rows, p.xr.features, a, acc, has, zf, y ? y->data<int64_t>() : nullptr,
      cuda_elem(p.xr.float_out), z ? z->raw() : nullptr, ctx.lane.stream));
  return ok_status();
}

}  // namespace

// ai.onnx.ml TreeEnsembleRegressor: Y [rows, n_targets] (op_plans_trees.h).
Status cuda_tree_ensemble_regressor(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const TreeEnsemblePlan p, tree_ensemble_regressor_plan(ctx.node, ctx.inputs));
  Tensor z(p.xr.float_out, {p.xr.rows, p.cols});
  SS_RETURN_IF_ERROR(cuda_tree_ensemble_run(ctx, p, nullptr, &z));
  ctx.outputs[0] = std::move(z);
  return ok_status();
}

// ai.onnx.ml TreeEnsembleClassifier: Y labels [rows] int64, Z scores [rows, cols] (op_plans_trees.h).
Status cuda_tree_ensemble_classifier(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const TreeEnsemblePlan p, tree_ensemble_classifier_plan(ctx.node, ctx.inputs));
  const bool want_z = ctx.outputs.size() > 1;
  Tensor y, z;
  if (p.labels) y = Tensor(DType::kInt64, {p.xr.rows});
  if (want_z) z = Tensor(p.xr.float_out, {p.xr.rows, p.cols});
  SS_RETURN_IF_ERROR(cuda_tree_ensemble_run(ctx, p, p.labels ? &y : nullptr, want_z ? &z : nullptr));
  if (p.labels) ctx.outputs[0] = std::move(y);
  if (want_z) ctx.outputs[1] = std::move(z);
  return ok_status();
}

namespace {

void svm_kernel_args(const SvmKernelParams& k, kernels::SvmArgs* a) {
  a->kernel = static_cast<int>(k.kernel);
  a->gamma = k.gamma;
  a->coef0 = k.coef0;
  a->degree = k.degree;
}

}  // namespace

// ai.onnx.ml SVMRegressor: Y [rows, 1] (op_plans_svm.h); one thread per row.
Status cuda_svm_regressor(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const SvmRegressorPlan p, svm_regressor_plan(ctx.node, ctx.inputs));
  const int64_t rows = p.xr.rows;
  Tensor y(p.xr.float_out, {rows, 1});
  if (rows > 0) {
    kernels::SvmArgs a;
    svm_kernel_args(p.k, &a);
    SS_ASSIGN_OR_RETURN(a.sv, upload_vector(ctx, p.sv));  // null without support vectors
    SS_ASSIGN_OR_RETURN(a.coef, upload_vector(ctx, p.coef));
    a.vectors = p.vectors;
    a.rho0 = p.rho;
    a.one_class = p.one_class;
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_svm_regressor(cuda_elem(p.x->dtype()), p.x->raw(), rows, p.xr.features,
                                                            a, cuda_elem(p.xr.float_out), y.raw(), ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml SVMClassifier: Y labels [rows] int64, Z scores [rows, cols] (op_plans_svm.h); one
// thread per row, its kernel values, pair scores and (with probabilities) coupling matrices in the
// op's scratch.
Status cuda_svm_classifier(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const SvmClassifierPlan p, svm_classifier_plan(ctx.node, ctx.inputs));
  const int64_t rows = p.xr.rows;
  const bool want_z = ctx.outputs.size() > 1;
  Tensor y(DType::kInt64, {rows});
  Tensor z;
  if (want_z) z = Tensor(p.xr.float_out, {rows, p.cols});
  if (rows > 0) {
    kernels::SvmArgs a;
    svm_kernel_args(p.k, &a);
    SS_ASSIGN_OR_RETURN(a.sv, upload_vector(ctx, p.sv));  // null in the linear form
    SS_ASSIGN_OR_RETURN(a.coef, upload_vector(ctx, p.coef));
    SS_ASSIGN_OR_RETURN(a.rho, upload_vector(ctx, p.rho));
    SS_ASSIGN_OR_RETURN(a.prob_a, upload_vector(ctx, p.prob_a));  // both null without probabilities
    SS_ASSIGN_OR_RETURN(a.prob_b, upload_vector(ctx, p.prob_b));
    SS_ASSIGN_OR_RETURN(a.labels, upload_vector(ctx, p.labels));
    SS_ASSIGN_OR_RETURN(a.starts, upload_vector(ctx, &p.starts));
    SS_ASSIGN_OR_RETURN(a.counts, upload_vector(ctx, &p.counts));
    a.vectors = p.vectors;  // 0 in the linear form
    a.classes = p.classes;
    a.pairs = p.pairs;
    a.cols = p.cols;
    a.have_proba = p.have_proba;
    a.all_positive = p.all_positive;
    a.post = kernel_post(p.post);
    const int64_t per_row = kernels::svm_row_scratch(a).size;
    auto* work = static_cast<double*>(ctx.scratch(static_cast<std::size_t>(rows * per_row) * sizeof(double)));
    auto* votes = static_cast<int64_t*>(ctx.scratch(static_cast<std::size_t>(rows * p.classes) * sizeof(int64_t)));
    auto* zf = static_cast<float*>(ctx.scratch(static_cast<std::size_t>(rows * p.cols) * sizeof(float)));
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_svm_classifier(
        cuda_elem(p.x->dtype()), p.x->raw(), rows, p.xr.features, a, work, votes, zf, y.data<int64_t>(),
        cuda_elem(p.xr.float_out), want_z ? z.raw() : nullptr, ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  if (want_z) ctx.outputs[1] = std::move(z);
  return ok_status();
}

// shardscore.RawInput: the stored integer rows (a quarter of float32's bytes for uint8 images) to the
// model's float input in one kernel; mean and std travel as device tables.
Status cuda_raw_input(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const RawInputPlan p, raw_input_plan(ctx.node, ctx.inputs));
  Tensor y(p.to, p.out_shape);
  if (y.numel() > 0) {
    SS_ASSIGN_OR_RETURN(const float* d_mean, upload_vector(ctx, p.mean));
    SS_ASSIGN_OR_RETURN(const float* d_std, upload_vector(ctx, p.std));
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_raw_input(cuda_elem(p.x->dtype()), p.x->raw(), p.outer, p.channels, p.inner,
                                                        p.nhwc, p.scale, d_mean, d_std, cuda_elem(p.to), y.raw(),
                                                        ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

// ai.onnx.ml ArrayFeatureExtractor: selects entries of X's last dimension by the int64 indices Y.
// Output shape is X's with the last dimension replaced by |Y| ([1, |Y|] for a 1-D X), as ONNX
// Runtime does. Elements move as stored (a float16 X comes out as the CPU's widen-and-round gives it).
//
// The registry row marks Y a host input (cuda_host_inputs kHost1): the indices are checked exactly
// as the CPU does and uploaded as kernel arguments. The device branch below is kept for a Y that
// arrives as device data (should the registry row change): the host cannot check each index
// there, and an out-of-range index yields zero bits instead of the CPU's InvalidArgument.
Status cuda_array_feature_extractor(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(ArrayFeatureExtractorPlan p, array_feature_extractor_plan(ctx.inputs));
  const Tensor* x = p.x;
  const Tensor* y = p.indices;
  if (x->dtype() == DType::kUndefined) return unimplemented("element type undefined is not supported");
  const int64_t last = p.last, k = p.k, rows = p.rows;
  const int64_t* indices = nullptr;
  Tensor z(x->dtype(), p.out_shape);
  if (rows * k > 0) {
    if (y->on_device()) {
      indices = y->data<int64_t>();
    } else {
      SS_ASSIGN_OR_RETURN(const void* table, cuda_upload_table(ctx, y->raw(), y->nbytes()));
      indices = static_cast<const int64_t*>(table);
    }
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_array_feature_extractor(cuda_elem(x->dtype()), x->raw(), rows, last,
                                                                      indices, k, z.raw(), ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(z);
  return ok_status();
}

}  // namespace shardscore
