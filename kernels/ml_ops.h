#pragma once
// ai.onnx.ml (scikit-learn) kernels: LinearClassifier, LinearRegressor, Scaler, SVMRegressor, SVMClassifier,
// ArrayFeatureExtractor, and the by-value upload of the small attribute tables they read; Imputer
// and Binarizer, which keep X's type (no float32 conversion).
//
// Numerics follow the CPU functions (src/engine/cpu/ml_ops.cpp) step by step: X converts to
// float32 first (static_cast, as ml_input_as_float_rows does; float16 and bfloat16 widen exactly), products
// accumulate in double in the CPU's order (one thread per output, no atomics, so results are
// deterministic and never depend on the batch), post-transforms use the CPU's formulas, and a
// float16 / bfloat16 result rounds once from float32 as float_to_half does (NaN kept quiet with its
// payload).
#include "kernels/kernel_types.h"

namespace shardscore::kernels {

// Up to kTableChunkBytes bytes of a host table, passed by value as a kernel argument (so the
// upload is stream-ordered, needs no pinned or pageable host copy, and is captured in a CUDA
// graph with its contents). 32000 bytes: kernel parameters may take up to 32764 bytes from CUDA
// 12.1 on Volta and newer (every GPU a CUDA 13 build runs on), so a large coefficient table takes
// a few launches rather than hundreds.
inline constexpr int kTableChunkBytes = 32000;
struct TableChunk {
  int64_t bytes = 0;
  alignas(8) unsigned char data[kTableChunkBytes] = {};
};
// dst[0, chunk.bytes) = chunk.data[0, chunk.bytes) (dst is device memory).
cudaError_t launch_write_table_chunk(const TableChunk& chunk, void* dst, cudaStream_t stream);

// out[r, t] = float(intercepts[t] + sum_f double(float(x[r, f])) * double(coef[t, f])), the sum
// taken in order f = 0, 1, ... from the intercept (0 when `intercepts` is null).
// x: [rows, features] of x_elem (kF32, kF64, kF16, kBF16, kI8..kI64, kU8..kU64);
// coef: [targets, features] float32; out: [rows, targets] of out_elem (kF32, kF16 or kBF16).
cudaError_t launch_linear_scores(Elem x_elem, const void* x, int64_t rows, int64_t features, const float* coef,
                                 const float* intercepts, int64_t targets, Elem out_elem, void* out,
                                 cudaStream_t stream);

enum class MlPostTransform { kNone, kLogistic, kSoftmax, kSoftmaxZero };

// LinearClassifier's labels and probabilities from the raw scores [rows, targets] (float32), one
// thread per row. two_from_one (targets == 1, two labels): label = raw > 0 ? labels[1] : labels[0],
// z = [-raw, raw] (kNone) or [1 - p, p] with p = logistic(raw) (kLogistic; other transforms are
// refused on the host). Otherwise label = labels[argmax] (first maximum by >, as the CPU: a NaN
// never displaces an earlier column, and one in column 0 is never displaced) and z = post(raw) per
// row. `labels` is device int64 (null when there are none: labels are then 0);
// `z` (of z_elem: kF32, kF16 or kBF16) may be null when the node has no Z output.
cudaError_t launch_linear_classifier_finish(const float* raw, int64_t rows, int64_t targets, bool two_from_one,
                                            MlPostTransform post, const int64_t* labels, int64_t* y, Elem z_elem,
                                            void* z, cudaStream_t stream);

// y[r, f] = (float(x[r, f]) - offset[f']) * scale[f'] in float32, with f' = 0 for a one-value
// table, f otherwise; a null table (count 0) means offset 0 / scale 1. x as launch_linear_scores;
// y of y_elem (kF32, kF16 or kBF16).
cudaError_t launch_scaler(Elem x_elem, const void* x, int64_t rows, int64_t features, const float* offset,
                          int64_t offset_count, const float* scale, int64_t scale_count, Elem y_elem, void* y,
                          cudaStream_t stream);

// Imputer over x's n elements (element i is feature i % features): x_elem kF32 / kF64 compare with
// replaced_float (a NaN: every NaN) and take floats[f'] (f' = 0 for a one-value table, else the
// feature), widened; kI32 / kI64 compare with replaced_int and take ints[f']. y has x's type.
// Device tables; cudaErrorInvalidValue for another Elem.
cudaError_t launch_imputer(Elem x_elem, const void* x, void* y, int64_t n, int64_t features, const float* floats,
                           const int64_t* ints, int64_t count, float replaced_float, int64_t replaced_int,
                           cudaStream_t stream);

// Binarizer: y = 1 where x > threshold (compared as a double), else 0, a NaN kept; x_elem kF32,
// kF64, kI32 or kI64, y of x's type.
cudaError_t launch_binarizer(Elem x_elem, const void* x, void* y, int64_t n, double threshold, cudaStream_t stream);

// OneHotEncoder: y [n, count] float32 zeroed, then y[i, index[j]] = 1 where x[i]'s category (int32 /
// int64 as is, float32 / float64 truncated toward zero; NaN, Inf and values beyond int64 none) is
// sorted_cats[j] (ascending; device tables). A value in no category leaves its row zero and, with
// fail_unknown, is recorded in `fault` (kUnknownCategory, position i, extent count).
cudaError_t launch_one_hot_encoder(Elem x_elem, const void* x, int64_t n, const int64_t* sorted_cats,
                                   const int64_t* index, int64_t count, bool fail_unknown, const FaultSink& fault,
                                   float* y, cudaStream_t stream);

// LabelEncoder with numbers: y[i] = values[j] where x[i] is key j (a binary search of the ascending
// keys: int64 ikeys for a kI64 x, else double fkeys for kF32 / kF64 x; a NaN x is key `keys`, the
// last value, when nan_key), else the default. Values and default as double (kF32 / kF64 y) or int64
// (kI64 y). Device tables.
cudaError_t launch_label_encoder(Elem x_elem, const void* x, int64_t n, const int64_t* ikeys, const double* fkeys,
                                 int64_t keys, bool nan_key, Elem y_elem, const int64_t* ivalues,
                                 const double* fvalues, int64_t idefault, double fdefault, void* y,
                                 cudaStream_t stream);

// Normalizer, one thread per row of x [rows, features] (x_elem as launch_linear_scores), y of
// y_elem (kF32, kF16, kBF16), as the CPU computes it: norm 0 (MAX): y = v / max(v) in float32
// (max over float(x), unchanged when it is 0); 1 (L1): y = float(double(v) / sum |v|); 2 (L2):
// y = float(copysign(sqrt(v^2 / sum v^2), v)); sums in double in the row's order, a row whose sum
// is 0 unchanged.
cudaError_t launch_normalizer(Elem x_elem, const void* x, int64_t rows, int64_t features, int norm, Elem y_elem, void* y,
                              cudaStream_t stream);

// ---- TreeEnsembleRegressor / TreeEnsembleClassifier (engine/op_plans_trees.h) ----

// One node of the flat tree array, laid out as engine/op_plans_trees.h's TreeNodeFlat (the host
// checks the layout). mode: 0 BRANCH_LEQ, 1 LT, 2 GTE, 3 GT, 4 EQ, 5 NEQ, 6 LEAF.
struct TreeNode {
  double threshold;
  int32_t feature;
  int32_t true_next;
  int32_t false_next;
  int32_t weights_begin;
  int32_t weights_count;
  uint8_t mode;
  uint8_t missing_true;
  uint8_t pad[2];
};
struct TreeWeight {
  int32_t target;
  float value;
};

// What launch_tree_ensemble reads besides x: device tables (null where absent) and the plan's
// choices (aggregate: 0 SUM, 1 AVERAGE, 2 MIN, 3 MAX; post: 0 NONE, 1 LOGISTIC, 2 SOFTMAX,
// 3 SOFTMAX_ZERO, 4 PROBIT).
struct TreeEnsembleArgs {
  const TreeNode* nodes = nullptr;
  const int32_t* roots = nullptr;
  int64_t trees = 0;
  const TreeWeight* weights = nullptr;
  int64_t targets = 0;  // accumulator columns
  int64_t cols = 0;     // z's columns
  int aggregate = 0;
  int post = 0;
  const float* base = nullptr;  // null or `targets` values
  bool binary_one_column = false;
  bool binary_probability = true;  // binary one-column: s is a probability (weights >= 0, post NONE)
  const int64_t* labels = nullptr;  // null: no label output
};

// One thread per row, as the CPU's tree_accumulate / tree_finish_row: the trees in order, each
// walked from its root comparing double(x) with the double threshold, leaf weights accumulated in
// double (acc / has: device scratch of rows x targets, each row's slice its own thread's), the
// scores rounded to float32 into zf (device scratch, rows x cols), post-transformed there with the
// CPU's float32 formulas, then written to z (z_elem kF32, kF16 or kBF16; null: not wanted) and the
// labels to y (null: not wanted). x as launch_linear_scores.
cudaError_t launch_tree_ensemble(Elem x_elem, const void* x, int64_t rows, int64_t features, const TreeEnsembleArgs& a,
                                 double* acc, unsigned char* has, float* zf, int64_t* y, Elem z_elem, void* z,
                                 cudaStream_t stream);

// shardscore.RawInput (engine/op_plans_elementwise.h): y [outer, channels, inner] from integer x
// (kU8, kI8, kU16 or kI16) laid out as y, or [outer, inner, channels] when nhwc; v = float(x),
// v * scale unless scale is 1, then (v - mean[c]) / std[c] when mean is not null (device tables of
// `channels` floats), each rounded on its own as the CPU does, then v to y_elem (kF32, kF16, kBF16).
cudaError_t launch_raw_input(Elem x_elem, const void* x, int64_t outer, int64_t channels, int64_t inner, bool nhwc,
                             float scale, const float* mean, const float* std, Elem y_elem, void* y, cudaStream_t stream);

// z[r, i] = x[r, indices[i]] for rows x k entries of `elem` (any; moved as bits, except that a
// float16 or bfloat16 signalling NaN comes out quiet, as the CPU's widen-and-round does). An index outside
// [0, last) - which the host cannot see when the indices are device data - writes zero bits.
cudaError_t launch_array_feature_extractor(Elem elem, const void* x, int64_t rows, int64_t last,
                                           const int64_t* indices, int64_t k, void* z, cudaStream_t stream);

// ---- SVMRegressor / SVMClassifier (engine/op_plans_svm.h) ----

// What the SVM kernels read besides x: device tables (null where absent) and the plan's choices.
// kernel: 0 LINEAR, 1 POLY, 2 RBF, 3 SIGMOID.
struct SvmArgs {
  int kernel = 0;
  double gamma = 0, coef0 = 0, degree = 0;
  const float* sv = nullptr;      // [vectors, features]; null in the linear form
  const float* coef = nullptr;    // regressor: [vectors] or [features]; classifier: [classes - 1, vectors] or [classes, features]
  const float* rho = nullptr;     // classifier: [pairs] (SVC form) or rho[0] (linear form)
  const float* prob_a = nullptr;  // classifier: [pairs] or null
  const float* prob_b = nullptr;
  const int64_t* labels = nullptr;  // classifier: [classes]
  const int64_t* starts = nullptr;  // classifier, SVC form: first vector of each class
  const int64_t* counts = nullptr;  // classifier, SVC form: vectors of each class
  int64_t vectors = 0;              // 0: the linear form
  int64_t classes = 0, pairs = 0, cols = 0;
  double rho0 = 0;                  // regressor
  bool one_class = false;           // regressor
  bool have_proba = false, all_positive = false;
  MlPostTransform post = MlPostTransform::kNone;
};

// One row's scratch of launch_svm_classifier (SVC form), offsets in doubles from the row's start:
// the kernel values [vectors], the pair scores [pairs], then only where the pairwise coupling runs
// (vectors > 0 and have_proba, as SvmClassifierPlan::couple) r [classes^2], Q [classes^2], Qp
// [classes] and the probabilities [classes] (else those offsets are size, and nothing is there).
// The kernel takes its pointers from it and the host sizes the scratch by it, so the two cannot
// disagree.
struct SvmRowScratch {
  int64_t kv = 0, d = 0, rr = 0, q = 0, qp = 0, prob = 0, size = 0;
};
__host__ __device__ inline SvmRowScratch svm_row_scratch(const SvmArgs& a) {
  SvmRowScratch w;
  w.d = w.kv + a.vectors;
  w.rr = w.d + a.pairs;
  const int64_t k = a.vectors > 0 && a.have_proba ? a.classes : 0;
  w.q = w.rr + k * k;
  w.qp = w.q + k * k;
  w.prob = w.qp + k;
  w.size = w.prob + k;
  return w;
}

// One thread per row, as the CPU's cpu_svm_regressor: y[r] = float(sum_v coef[v] K(x_r, sv_v) +
// rho0) (or x_r . coef + rho0 in the linear form), +-1 with one_class; in double. y of y_elem (kF32,
// kF16 or kBF16). x as launch_linear_scores.
cudaError_t launch_svm_regressor(Elem x_elem, const void* x, int64_t rows, int64_t features, const SvmArgs& a,
                                 Elem y_elem, void* y, cudaStream_t stream);

// One thread per row, as the CPU's cpu_svm_classifier step by step: kernel values, pair scores and
// votes, Platt probabilities and their coupling in double (work: device scratch of rows x
// svm_row_scratch(a).size doubles, votes: rows x classes int64), scores rounded to float32 into
// zf (rows x cols) and post-transformed there with the CPU's float32 formulas, then written to z
// (z_elem kF32, kF16 or kBF16; null: not wanted) and the labels to y.
cudaError_t launch_svm_classifier(Elem x_elem, const void* x, int64_t rows, int64_t features, const SvmArgs& a,
                                  double* work, int64_t* votes, float* zf, int64_t* y, Elem z_elem, void* z,
                                  cudaStream_t stream);

}  // namespace shardscore::kernels
