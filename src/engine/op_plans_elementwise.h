#pragma once
// The backend-independent half of the element-wise and ai.onnx.ml ops: attribute reading, opset
// differences, validation (with the exact error codes and messages), output dtypes and shapes, and
// the per-op plan the compute needs. The CPU functions (src/engine/cpu/elementwise.cpp,
// activation.cpp, shape_ops.cpp, ml_ops.cpp) and the CUDA functions (src/engine/cuda/elementwise.cpp,
// ml_ops.cpp) both call these and keep only their own compute.
//
// Contracts shared by every function here:
//  - `inputs` is the op context's input list (OpContext::inputs / CudaOpContext::inputs); a null or
//    absent entry is a missing optional input.
//  - Only shape() and dtype() of an input are read, except for inputs the CUDA backend reads on the
//    host (op_registry.cpp's cuda_host_inputs: Clip's min / max at opset >= 11,
//    ArrayFeatureExtractor's indices), whose values are read too.
//  - float16 is accepted wherever the CPU op accepts float32: the CPU sees float16 widened to
//    float32 by op_run_cpu, the CUDA backend sees it as is.
//  - Pointers in a plan point into the node's attributes or the inputs: valid while they are.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/quantize.h"
#include "common/status.h"
#include "engine/graph.h"
#include "engine/op_plans.h"
#include "engine/tensor.h"

namespace shardscore {

// plan_is_float or int32 / int64 (the arithmetic ops' types).
bool plan_is_arith(DType t);

// ---- broadcasting binary ops ----------------------------------------------------------------

// Two operands, their broadcast shape and the output dtype.
struct BinaryPlan {
  const Tensor* a = nullptr;
  const Tensor* b = nullptr;
  Shape shape;
  DType out = DType::kUndefined;
};

// Add / Sub / Mul / Div: inputs 0 and 1 required, of one type (InvalidArgument "input types
// differ"), broadcastable, of an arithmetic type (float32/16/64, int32, int64); out = a's type.
StatusOr<BinaryPlan> arith_binary_plan(const std::vector<const Tensor*>& inputs);
// PRelu: as arith_binary_plan, float types only, with the slope (input 1) broadcast one way to X's
// shape (InvalidArgument naming both shapes otherwise); y = x < 0 ? slope * x : x, so NaN and -0
// pass through.
StatusOr<BinaryPlan> prelu_plan(const std::vector<const Tensor*>& inputs);
// Equal: as arith_binary_plan but any numeric or bool type (not undefined); out = bool.
StatusOr<BinaryPlan> equal_plan(const std::vector<const Tensor*>& inputs);
// And / Or / Xor: inputs 0 and 1 required, both bool ("inputs must be bool"), broadcastable;
// out = bool.
StatusOr<BinaryPlan> logical_plan(const std::vector<const Tensor*>& inputs);
// Pow: base and exponent of arithmetic types (may differ; "base type" / "exponent type ... is not
// supported"); an integer base with a float exponent is Unimplemented; out = the base's type.
StatusOr<BinaryPlan> pow_plan(const std::vector<const Tensor*>& inputs);

// Max / Min: one or more inputs (InvalidArgument "needs at least one input"; none may be absent),
// all of one arithmetic type ("input types differ"), broadcast together; out = their type. NaN
// wins: an element is NaN where any input's is (ONNX leaves this open; a missing value must not
// vanish into a maximum).
struct MinMaxPlan {
  std::vector<const Tensor*> xs;
  Shape shape;
};
StatusOr<MinMaxPlan> min_max_plan(const std::vector<const Tensor*>& inputs);

// Where: condition (bool), X and Y (one type) broadcast together; out = X's type.
struct WherePlan {
  const Tensor* cond = nullptr;
  const Tensor* x = nullptr;
  const Tensor* y = nullptr;
  Shape shape;
};
StatusOr<WherePlan> where_plan(const std::vector<const Tensor*>& inputs);

// ---- unary ops ------------------------------------------------------------------------------

// Sqrt, Erf, Relu, Sigmoid, Tanh, LeakyRelu, HardSigmoid, HardSwish, Gelu: input 0 required and
// float (float32/16/64); the output has its type and shape. IsNaN: the same check, a bool output.
StatusOr<const Tensor*> float_unary_plan(const std::vector<const Tensor*>& inputs);
// Not: input 0 required and bool (InvalidArgument otherwise).
StatusOr<const Tensor*> not_plan(const std::vector<const Tensor*>& inputs);
// Neg: input 0 required, float or a signed integer (int8/16/32/64).
StatusOr<const Tensor*> neg_plan(const std::vector<const Tensor*>& inputs);

// Attributes of the parametrised activations (as doubles; the compute converts to its type).
struct ActivationParams {
  double alpha = 0;
  double beta = 0;
};
ActivationParams leaky_relu_params(const Node& node);    // alpha (0.01)
ActivationParams hard_sigmoid_params(const Node& node);  // alpha (0.2), beta (0.5)

// Gelu's `approximate` attribute: "none" (default) or "tanh"; anything else is InvalidArgument.
enum class GeluApprox { kNone, kTanh };
StatusOr<GeluApprox> gelu_plan(const Node& node);

// Clip: X (float32/16/64, int32, int64) and its bounds. Before opset 11 the bounds are the float
// attributes min / max (defaults -+FLT_MAX); from opset 11 the optional scalar inputs 1 and 2, of
// X's type (float16 and float32 count as one type), read on the host.
struct ClipBound {
  enum Kind { kNone, kFloat, kInt } kind = kNone;  // kNone: unbounded on this side
  double f = 0;                                    // kFloat: the value (an attribute or a float input)
  int64_t i = 0;                                   // kInt: the value of an integer input
  // The bound in T; `fallback` (lowest / max of T) when kNone.
  template <typename T>
  T as(T fallback) const {
    return kind == kNone ? fallback : kind == kFloat ? static_cast<T>(f) : static_cast<T>(i);
  }
};
struct ClipPlan {
  const Tensor* x = nullptr;
  ClipBound lo, hi;
};
StatusOr<ClipPlan> clip_plan(const Node& node, const std::vector<const Tensor*>& inputs);
// Calls f(T{}) for the Clip types computed as themselves (float32, float64, int32, int64) and
// returns true; false for others (float16: widened on the CPU, handled apart on CUDA).
template <typename F>
bool clip_dispatch(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32: f(float{}); return true;
    case DType::kFloat64: f(double{}); return true;
    case DType::kInt32: f(int32_t{}); return true;
    case DType::kInt64: f(int64_t{}); return true;
    default: return false;
  }
}

// Cast: input 0 required; `to` from the attribute (Unimplemented "cast to ONNX type N is not
// supported" when unknown). CastLike: `to` is input 1's element type (its values are not read).
// identity: to is X's type (the output is X itself).
struct CastPlan {
  const Tensor* x = nullptr;
  DType to = DType::kUndefined;
  bool identity = false;
};
StatusOr<CastPlan> cast_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- math ops: rounding, exponentials, trigonometry, comparisons, Mod, Sum / Mean, Dropout -----

// Exp, Log, Reciprocal, Floor, Ceil, Round, Sin, Cos, Softplus, Softsign, Elu, Selu: float_unary_plan.
// Abs and Sign: neg_plan (float or int8/16/32/64; unsigned integers are Unimplemented).
ActivationParams elu_params(const Node& node);   // alpha (1.0)
ActivationParams selu_params(const Node& node);  // alpha (1.67326319...), gamma (1.05070102...) as beta
ActivationParams celu_params(const Node& node);  // alpha (1.0)
Status celu_check(const Node& node);             // InvalidArgument for alpha 0
ActivationParams thresholded_relu_params(const Node& node);  // alpha (1.0)
ActivationParams shrink_params(const Node& node);  // lambd (0.5) as alpha, bias (0.0) as beta
// Tan, Asin, Acos, Atan (opset 7), Sinh, Cosh, Asinh, Acosh, Atanh (9), Celu (12: float32 in the
// spec, float64 too here), ThresholdedRelu (10), Shrink (9: float only here; the spec's integers
// are refused), IsInf (10: detect_negative, detect_positive; bool out): float_unary_plan.

// Less / Greater / LessOrEqual / GreaterOrEqual: inputs 0 and 1 required, of one type
// (InvalidArgument "input types differ"), broadcastable, any numeric type (bool: Unimplemented
// "element type bool is not supported"); out = bool.
StatusOr<BinaryPlan> compare_plan(const std::vector<const Tensor*>& inputs);

// Mod: as arith_binary_plan (float32/16/64, int32, int64; out = a's type) and the fmod attribute
// (0 or 1, InvalidArgument otherwise). fmod 0 (integers only): the remainder takes the divisor's sign
// (Python's %); fmod 1: the dividend's (C's fmod / %). A float input with fmod 0 is InvalidArgument, as
// the spec requires fmod 1 there. An integer divisor of 0 fails the op ("integer division by zero").
struct ModPlan {
  BinaryPlan b;
  bool fmod = false;
};
StatusOr<ModPlan> mod_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// Sum / Mean: min_max_plan's checks (one or more inputs of one type, broadcast together), float
// types only (the spec's T; int32 / int64: Unimplemented "element type ... is not supported").
StatusOr<MinMaxPlan> sum_mean_plan(const std::vector<const Tensor*>& inputs);

// Dropout in inference: output = data (a float type, as stored); the optional mask is all ones
// ("nothing dropped"): bool from opset 10, data's type before. From opset 12 training_mode (input 2,
// a bool scalar read on the host) may be true only with a ratio (input 1, a float scalar read on
// the host; default 0.5) of 0: anything else is Unimplemented (inference only).
struct DropoutPlan {
  const Tensor* x = nullptr;
  bool want_mask = false;  // the node names output 1
  DType mask_dtype = DType::kBool;
};
StatusOr<DropoutPlan> dropout_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ---- ai.onnx.ml -----------------------------------------------------------------------------

// X as rows: 1-D or 2-D (InvalidArgument "X must be 1-D or 2-D"), any numeric type but bool
// (Unimplemented "X of type ..."). float_out: the dtype of float results - float16 for a float16
// X (the CPU gets the same by op_run_cpu's rounding), float32 otherwise.
struct MlRows {
  int64_t rows = 0;
  int64_t features = 0;
  DType float_out = DType::kFloat32;
};
StatusOr<MlRows> ml_rows_plan(const Tensor& x);

enum class MlPost { kNone, kLogistic, kSoftmax, kSoftmaxZero };
// A classifier's post_transform attribute (default NONE); Unimplemented for PROBIT and others.
StatusOr<MlPost> ml_post_plan(const Node& node);

// LinearClassifier: Y = labels [rows] int64, Z = post(X * coef^T + intercepts) [rows, cols].
// two_from_one: one score column and two labels (Z gets two columns, negative class first); its
// post_transform must be NONE or LOGISTIC (checked only when there are rows, as the CPU always did).
struct LinearClassifierPlan {
  const Tensor* x = nullptr;
  MlRows xr;
  const std::vector<float>* coef = nullptr;        // [targets, features]
  const std::vector<float>* intercepts = nullptr;  // null or empty: none
  const std::vector<int64_t>* labels = nullptr;
  int64_t targets = 0;
  int64_t cols = 0;
  bool two_from_one = false;
  MlPost post = MlPost::kNone;
};
StatusOr<LinearClassifierPlan> linear_classifier_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// LinearRegressor: Y [rows, targets] = X * coef^T + intercepts (post_transform NONE only).
struct LinearRegressorPlan {
  const Tensor* x = nullptr;
  MlRows xr;
  const std::vector<float>* coef = nullptr;
  const std::vector<float>* intercepts = nullptr;
  int64_t targets = 0;
};
StatusOr<LinearRegressorPlan> linear_regressor_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// Scaler: Y = (X - offset) * scale per feature (a one-value table broadcasts); Y has X's shape.
struct ScalerPlan {
  const Tensor* x = nullptr;
  MlRows xr;
  const std::vector<float>* offset = nullptr;  // null: 0
  const std::vector<float>* scale = nullptr;   // null: 1
  Shape out_shape;
};
StatusOr<ScalerPlan> scaler_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// Imputer: Y = X with each element of feature f that equals the replaced value (a NaN replaced
// value: each NaN) replaced by imputed[f] (a one-value table broadcasts). float32 / float64 X take
// imputed_value_floats and replaced_value_float (default 0), int32 / int64 X imputed_value_int64s
// and replaced_value_int64 (default 0); Y has X's type and shape (1-D or 2-D; a 1-D X's elements
// are its features).
struct ImputerPlan {
  const Tensor* x = nullptr;
  MlRows xr;
  bool is_float = true;
  const std::vector<float>* floats = nullptr;    // is_float
  const std::vector<int64_t>* ints = nullptr;    // !is_float
  float replaced_float = 0;
  int64_t replaced_int = 0;
  int64_t count = 0;  // imputed values: 1 or xr.features
};
StatusOr<ImputerPlan> imputer_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// Binarizer: Y = 1 where X > threshold, else 0, in X's type (float32, float64, int32, int64; an
// integer compared as a double); a NaN stays NaN (ONNX Runtime fails on it, ONNX's reference
// gives 0: missing data stays visible to the output checks).
struct BinarizerPlan {
  const Tensor* x = nullptr;
  double threshold = 0;
};
StatusOr<BinarizerPlan> binarizer_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// OneHotEncoder: Y [X's shape..., C] float32, Y[..., k] = 1 where X's value is cats_int64s[k], else
// 0. X int32 / int64, or float32 / float64 truncated toward zero as ONNX Runtime casts them (a NaN,
// an Inf or a value beyond int64 matches no category). A value in no category gives zeros, or with
// zeros = 0 fails the batch (one_hot_unknown_message). cats_strings is refused (no string
// tensors), as are repeated categories.
// The categories sorted, built once per node (NodeCache) as LabelEncoder's tables are: a binary
// search per element on both backends, no sorting or hashing per batch.
struct OneHotTables {
  std::vector<int64_t> sorted;  // cats_int64s ascending (each once: repeats are refused)
  std::vector<int64_t> index;   // index[j]: the position in cats_int64s of sorted[j] (Y's column)
  int64_t count() const { return static_cast<int64_t>(sorted.size()); }
  // Y's column of category c, or -1 when c is none of them.
  int64_t column(int64_t c) const;
};
struct OneHotEncoderPlan {
  const Tensor* x = nullptr;
  std::shared_ptr<const OneHotTables> tables;
  bool zeros = true;
  Shape out_shape;
  const OneHotTables& t() const { return *tables; }
};
StatusOr<OneHotEncoderPlan> one_hot_encoder_plan(const Node& node, const std::vector<const Tensor*>& inputs);
// The error for a value in no category when zeros is 0, the same on every backend: has_category
// false for a value that names none (NaN, Inf, beyond int64), else category is the value's
// (a float truncated toward zero).
std::string one_hot_unknown_message(bool has_category, int64_t category, int64_t count);

// LabelEncoder with numbers (ai.onnx.ml 1-4): Y = the value of X's key, else the default, Y of the
// values' type. Keys float32 (keys_floats, or keys_tensor), float64 or int64 (keys_int64s, or
// keys_tensor), of X's type; values float32 (values_floats; default_float, default -0.0), float64 or
// int64 (values_int64s; default_int64, default -1), or values_tensor and default_tensor (opset 4).
// A key given twice keeps its first value (ONNX Runtime's map); a NaN key matches NaN from opset 4
// on (before it, as in ONNX Runtime, NaN never matches). Strings are refused (no string tensors).
// The tables, built once per node (NodeCache) from its attributes: sorting the keys is no work for
// every batch.
struct LabelTables {
  DType key_type = DType::kUndefined;  // X must be of it
  DType y_dtype = DType::kUndefined;
  bool int_keys = false;
  std::vector<double> fkeys;   // !int_keys: ascending, each once, no NaN
  std::vector<int64_t> ikeys;  // int_keys: ascending, each once
  bool int_values = false;
  // Value of sorted key j at [j]; with nan_key, the NaN key's value last.
  std::vector<double> fvalues;
  std::vector<int64_t> ivalues;
  bool nan_key = false;
  double fdefault = -0.0;
  int64_t idefault = -1;
  int64_t keys() const { return static_cast<int64_t>(int_keys ? ikeys.size() : fkeys.size()); }
};
struct LabelEncoderPlan {
  const Tensor* x = nullptr;
  std::shared_ptr<const LabelTables> tables;
  const LabelTables& t() const { return *tables; }
};
StatusOr<LabelEncoderPlan> label_encoder_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// QuantizeLinear and DequantizeLinear (opsets 10 to 21; src/common/quantize.h computes one
// element). QuantizeLinear: x float32 / float16 / bfloat16 / int32 (int32 at opsets 10 to 18, with
// a float y_scale), y_scale float32 / float16 / bfloat16, y_zero_point (optional) int8 / uint8, and from opset 21 int16 / uint16, which gives y's
// type; without one, opset 21's output_dtype does, else uint8 (zero point 0). DequantizeLinear: x
// int8 / uint8 / int16 / uint16 / int32, x_scale as above, x_zero_point (optional) of x's type; y
// takes the scale's type (float32 as the CPU sees it). Refused with a message: float8 and int4
// types (Unimplemented, by name: they fail at load already when a tensor has them, here when
// output_dtype asks for them), int16 / uint16 before opset 21, where ONNX adds them (a
// QuantizeLinear zero point, a DequantizeLinear x: InvalidArgument, naming the opset), a zero
// point of another type or shape than the scale's (InvalidArgument), a scale of another type
// (InvalidArgument: so opset 19 and 21's int32 y_scale for an int32 x too, and a float y_scale
// with an int32 x there, which ONNX does not type).
// Granularity by the scale's shape: one element (a scalar, or [1]) is per-tensor; a 1-D scale of
// x.shape[axis] elements is per-axis (opset >= 13, axis default 1, negative counts from the end);
// block_size > 0 (opset 21) is blocked: the scale has x's rank, x's dimensions except along axis,
// where it has ceil(D / block_size), element d of the axis using scale element d / block_size.
// `geom` says which scale (and zero point) element each element of x uses; both backends read it.
struct QuantizeLinearPlan {
  const Tensor* x = nullptr;
  const Tensor* scale = nullptr;
  const Tensor* zero_point = nullptr;  // nullptr: 0
  DType y_dtype = DType::kUndefined;
  QuantGeometry geom;
};
StatusOr<QuantizeLinearPlan> quantize_linear_plan(const Node& node, const std::vector<const Tensor*>& inputs);
StatusOr<QuantizeLinearPlan> dequantize_linear_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// DynamicQuantizeLinear (opset 11): x float32 (the only type ONNX gives it) quantized into y uint8
// of x's shape with y_scale (float32 []) and y_zero_point (uint8 []) from x's least and greatest
// values (src/common/quantize.h, dynamic_quantize_params; a NaN takes no part in them and gives
// y 0, on purpose: ONNX Runtime 1.32 does the same for short tensors, but in longer ones its
// vectorized min / max lets the NaN into the scale, making every y 0). The scale follows the whole tensor, so a row's y depends on the rest of its batch: a model
// with this op runs one row at a time (Engine, rows_alone), as ONNX Runtime scores a batch of one.
struct DynamicQuantizeLinearPlan {
  const Tensor* x = nullptr;
};
StatusOr<DynamicQuantizeLinearPlan> dynamic_quantize_linear_plan(const std::vector<const Tensor*>& inputs);

// Normalizer: each row of X (a 1-D X is one row) divided by its norm, as ONNX Runtime computes it
// (the spec's formulas are looser): MAX divides by the row's largest value (not its largest
// magnitude), L1 by the sum of magnitudes, L2 gives sign(x) * sqrt(x^2 / sum(x^2)); a row whose
// divisor is 0 comes out as X. X converts to float32 first (float32 / float64 / int32 / int64 per
// the spec; other numeric types as ml_rows_plan admits them); Y has X's shape, float32 (float16 for
// a float16 X, as the other ai.onnx.ml ops). norm: "MAX" (default), "L1" or "L2"; anything else is
// InvalidArgument naming it.
enum class NormalizerNorm { kMax, kL1, kL2 };
struct NormalizerPlan {
  const Tensor* x = nullptr;
  MlRows xr;
  NormalizerNorm norm = NormalizerNorm::kMax;
  Shape out_shape;
};
StatusOr<NormalizerPlan> normalizer_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// shardscore.RawInput, made by pass_raw_inputs (never by exporters): a graph input fed as stored
// (int8, uint8, int16 or uint16 rows) converted in one pass as the job's host chain converts it
// (preprocess_rows): v = float(x); v = v * scale (scale != 1); v = v - mean[c]; v = v / std[c]
// (mean and std given); each a float32 operation rounded on its own, in that order, then v rounded
// once to `to` (float32, float16 or bfloat16). nhwc = 1: X is [N, d2, ..., C] and Y [N, C, d2, ...];
// otherwise Y has X's shape. c indexes Y's dimension 1. Attributes: to (ONNX type code, FLOAT by
// default), nhwc (int), scale (float), mean and std (floats). InvalidArgument names an X that is
// not an 8- or 16-bit integer, a `to` that is not a float type, and mean / std of unequal lengths or
// of a length that is not Y's dimension 1.
struct RawInputPlan {
  const Tensor* x = nullptr;
  Shape out_shape;
  DType to = DType::kFloat32;
  bool nhwc = false;
  float scale = 1.0f;                         // 1: no multiplication
  const std::vector<float>* mean = nullptr;   // null (with std): no standardization
  const std::vector<float>* std = nullptr;
  int64_t outer = 0, channels = 1, inner = 1;  // Y as [outer, channels, inner]
};
StatusOr<RawInputPlan> raw_input_plan(const Node& node, const std::vector<const Tensor*>& inputs);

// ArrayFeatureExtractor: Z = X's entries at the int64 indices Y along the last dimension; Z's
// shape is X's with the last dimension replaced by |Y| ([1, |Y|] for a 1-D X). Host indices are
// range-checked; device indices (only should the registry stop marking Y a host input) cannot be.
struct ArrayFeatureExtractorPlan {
  const Tensor* x = nullptr;
  const Tensor* indices = nullptr;
  int64_t last = 0;  // X's last dimension
  int64_t k = 0;     // number of indices
  int64_t rows = 0;  // X's elements / last
  Shape out_shape;
};
StatusOr<ArrayFeatureExtractorPlan> array_feature_extractor_plan(const std::vector<const Tensor*>& inputs);

}  // namespace shardscore
