#include "engine/op_registry.h"

#include <algorithm>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/float16.h"
#ifdef SHARDSCORE_HAVE_CUDA
#include "engine/cuda/cuda_ops.h"
#endif

namespace shardscore {
namespace {

// Opset ranges: the versions whose semantics the function implements (it reads node.opset where
// semantics changed inside the range, e.g. Softmax at 13, Reshape's allowzero at 14).
// kAsStored: the op moves or compares elements without arithmetic, so it runs on float16 as
// stored; every other op computes float16 in float32 (op_run_cpu).
constexpr bool kAsStored = true;
constexpr bool kComputes = false;

// Inputs the CUDA function reads on the host (OpEntry::cuda_host_inputs).
constexpr uint32_t kHost0 = 1u << 0, kHost1 = 1u << 1, kHost4 = 1u << 4, kHost12 = 0b110, kHost012 = 0b111, kHost23 = 0b1100,
                   kHost123 = 0b1110, kHost1234 = 0b11110;

// The CUDA column: cuda_<op> from src/engine/cuda/cuda_ops.h in a CUDA build (where an op without
// a CUDA function yet is a null constant there), nullptr otherwise.
#ifdef SHARDSCORE_HAVE_CUDA
#define SS_CUDA(name) cuda_##name
#else
#define SS_CUDA(name) nullptr
#endif

constexpr OpEntry kOps[] = {
    // domain, op type, opsets, CPU, CUDA, float16 (kAsStored or kComputes), CUDA host inputs
    {"", "Add", 7, 21, cpu_add, SS_CUDA(add)},
    {"", "Sub", 7, 21, cpu_sub, SS_CUDA(sub)},
    {"", "Mul", 7, 21, cpu_mul, SS_CUDA(mul)},
    {"", "Div", 7, 21, cpu_div, SS_CUDA(div)},
    {"", "Relu", 6, 21, cpu_relu, SS_CUDA(relu)},
    {"", "Sigmoid", 6, 21, cpu_sigmoid, SS_CUDA(sigmoid)},
    {"", "Tanh", 6, 21, cpu_tanh, SS_CUDA(tanh)},
    {"", "Softmax", 1, 21, cpu_softmax, SS_CUDA(softmax)},
    {"", "Gemm", 7, 21, cpu_gemm, SS_CUDA(gemm)},
    {"", "MatMul", 1, 21, cpu_matmul, SS_CUDA(matmul)},
    {"", "Flatten", 1, 21, cpu_flatten, SS_CUDA(flatten), kAsStored},
    {"", "Reshape", 5, 21, cpu_reshape, SS_CUDA(reshape), kAsStored, kHost1},
    {"", "Identity", 1, 21, cpu_identity, SS_CUDA(identity), kAsStored},
    {"", "Constant", 9, 21, cpu_constant, SS_CUDA(constant), kAsStored},
    {"", "Cast", 6, 21, cpu_cast, SS_CUDA(cast), kAsStored},  // 19 and 21 add only float8 / int4 types (refused)
    {"", "CastLike", 15, 21, cpu_cast, SS_CUDA(cast), kAsStored},  // Cast to input 1's type (cast_plan)
    {"", "Concat", 4, 21, cpu_concat, SS_CUDA(concat), kAsStored},
    {"", "ArgMax", 1, 21, cpu_argmax, SS_CUDA(argmax)},
    {"", "TopK", 1, 21, cpu_topk, SS_CUDA(topk), kComputes, kHost1},  // K (opset 10+) read on the host
    {"", "LpNormalization", 1, 21, cpu_lp_normalization, SS_CUDA(lp_normalization)},
    {"ai.onnx.ml", "ArrayFeatureExtractor", 1, 5, cpu_array_feature_extractor, SS_CUDA(array_feature_extractor), kComputes, kHost1},
    {"ai.onnx.ml", "LinearClassifier", 1, 5, cpu_linear_classifier, SS_CUDA(linear_classifier)},
    {"ai.onnx.ml", "LinearRegressor", 1, 5, cpu_linear_regressor, SS_CUDA(linear_regressor)},
    {"ai.onnx.ml", "Scaler", 1, 5, cpu_scaler, SS_CUDA(scaler)},
    {"ai.onnx.ml", "Normalizer", 1, 5, cpu_normalizer, SS_CUDA(normalizer)},
    // kAsStored: float16 X reaches the plans, which refuse it (the spec's types are float32,
    // float64, int32 and int64), rather than being widened.
    {"ai.onnx.ml", "Imputer", 1, 5, cpu_imputer, SS_CUDA(imputer), kAsStored},
    {"ai.onnx.ml", "Binarizer", 1, 5, cpu_binarizer, SS_CUDA(binarizer), kAsStored},
    {"ai.onnx.ml", "OneHotEncoder", 1, 5, cpu_one_hot_encoder, SS_CUDA(one_hot_encoder), kAsStored},
    {"ai.onnx.ml", "LabelEncoder", 1, 5, cpu_label_encoder, SS_CUDA(label_encoder), kAsStored},
    // Deprecated at ai.onnx.ml 5 (for TreeEnsemble); 3 adds the *_as_tensor forms (refused).
    {"ai.onnx.ml", "TreeEnsembleRegressor", 1, 4, cpu_tree_ensemble_regressor, SS_CUDA(tree_ensemble_regressor)},
    {"ai.onnx.ml", "TreeEnsembleClassifier", 1, 4, cpu_tree_ensemble_classifier, SS_CUDA(tree_ensemble_classifier)},
    {"ai.onnx.ml", "SVMRegressor", 1, 5, cpu_svm_regressor, SS_CUDA(svm_regressor)},
    {"ai.onnx.ml", "SVMClassifier", 1, 5, cpu_svm_classifier, SS_CUDA(svm_classifier)},
    // shardscore's own ops, made by the graph passes (src/engine/passes.cpp), never by exporters.
    {"shardscore", "FusedGemm", 1, 1, cpu_fused_gemm, SS_CUDA(fused_gemm)},
    {"shardscore", "FusedConv", 1, 1, cpu_fused_conv, SS_CUDA(fused_conv)},
    {"shardscore", "ToBlocked", 1, 1, cpu_to_blocked, SS_CUDA(to_blocked), kAsStored},
    {"shardscore", "FromBlocked", 1, 1, cpu_from_blocked, SS_CUDA(from_blocked), kAsStored},
    {"shardscore", "BlockedMaxPool", 1, 1, cpu_blocked_max_pool, SS_CUDA(blocked_max_pool)},
    {"shardscore", "RawInput", 1, 1, cpu_raw_input, SS_CUDA(raw_input)},
    {"shardscore", "Attention", 1, 1, cpu_attention, SS_CUDA(attention)},
    {"shardscore", "AddLayerNormalization", 1, 1, cpu_add_layer_normalization, SS_CUDA(add_layer_normalization)},
    {"shardscore", "RowQuantizedMatMul", 1, 1, cpu_row_quantized_matmul, SS_CUDA(row_quantized_matmul)},
    // ---- neural-network and math ops (cpu_ops_nn.h) ----
    {"", "Conv", 1, 21, cpu_conv, SS_CUDA(conv)},
    {"", "ConvTranspose", 1, 21, cpu_conv_transpose, SS_CUDA(conv_transpose)},
    // Recurrent ops (op_plans_rnn.h); 14 adds layout. sequence_lens is read on the host.
    {"", "RNN", 7, 21, cpu_rnn, SS_CUDA(rnn), kComputes, kHost4},
    {"", "GRU", 7, 21, cpu_gru, SS_CUDA(gru), kComputes, kHost4},
    {"", "LSTM", 7, 21, cpu_lstm, SS_CUDA(lstm), kComputes, kHost4},
    {"", "BatchNormalization", 9, 21, cpu_batch_normalization, SS_CUDA(batch_normalization)},
    {"", "MaxPool", 1, 21, cpu_max_pool, SS_CUDA(max_pool)},
    {"", "AveragePool", 1, 21, cpu_average_pool, SS_CUDA(average_pool)},
    {"", "GlobalAveragePool", 1, 21, cpu_global_average_pool, SS_CUDA(global_average_pool)},
    {"", "GlobalMaxPool", 1, 21, cpu_global_max_pool, SS_CUDA(global_max_pool)},
    {"", "Pad", 2, 21, cpu_pad, SS_CUDA(pad), kComputes, kHost123},
    {"", "Resize", 11, 21, cpu_resize, SS_CUDA(resize), kComputes, kHost23},  // roi is never read
    {"", "Resize", 10, 10, cpu_upsample, SS_CUDA(upsample), kComputes, kHost1},  // scales at input 1 (upsample_plan)
    {"", "Upsample", 7, 9, cpu_upsample, SS_CUDA(upsample), kComputes, kHost1},
    {"", "Clip", 6, 21, cpu_clip, SS_CUDA(clip), kComputes, kHost12},
    {"", "LeakyRelu", 6, 21, cpu_leaky_relu, SS_CUDA(leaky_relu)},
    {"", "PRelu", 7, 21, cpu_prelu, SS_CUDA(prelu)},
    {"", "HardSigmoid", 6, 21, cpu_hard_sigmoid, SS_CUDA(hard_sigmoid)},
    {"", "HardSwish", 14, 21, cpu_hard_swish, SS_CUDA(hard_swish)},
    {"", "Erf", 9, 21, cpu_erf, SS_CUDA(erf)},
    {"", "Gelu", 20, 21, cpu_gelu, SS_CUDA(gelu)},
    {"com.microsoft", "Gelu", 1, 1, cpu_gelu, SS_CUDA(gelu)},
    {"", "Sqrt", 6, 21, cpu_sqrt, SS_CUDA(sqrt)},
    {"", "Pow", 7, 21, cpu_pow, SS_CUDA(pow)},
    {"", "Neg", 6, 21, cpu_neg, SS_CUDA(neg)},
    {"", "Not", 1, 21, cpu_not, SS_CUDA(not)},
    {"", "IsNaN", 9, 21, cpu_isnan, SS_CUDA(isnan)},  // 20 adds only float8 types (refused)
    {"", "IsInf", 10, 21, cpu_isinf, SS_CUDA(isinf)},  // 20 adds only float8 types (refused)
    {"", "Equal", 7, 21, cpu_equal, SS_CUDA(equal)},
    {"", "And", 7, 21, cpu_and, SS_CUDA(and)},
    {"", "Or", 7, 21, cpu_or, SS_CUDA(or)},
    {"", "Xor", 7, 21, cpu_xor, SS_CUDA(xor)},
    {"", "Max", 8, 21, cpu_max, SS_CUDA(max)},
    {"", "Min", 8, 21, cpu_min, SS_CUDA(min)},
    {"", "Where", 9, 21, cpu_where, SS_CUDA(where), kAsStored},
    // math: rounding, exponentials, trigonometry, comparisons, Mod, Sum / Mean, Dropout (cpu_ops_nn.h)
    {"", "Exp", 6, 21, cpu_exp, SS_CUDA(exp)},
    {"", "Log", 6, 21, cpu_log, SS_CUDA(log)},
    {"", "Abs", 6, 21, cpu_abs, SS_CUDA(abs)},  // float, int8/16/32/64 (unsigned refused)
    {"", "Reciprocal", 6, 21, cpu_reciprocal, SS_CUDA(reciprocal)},
    {"", "Floor", 6, 21, cpu_floor, SS_CUDA(floor)},
    {"", "Ceil", 6, 21, cpu_ceil, SS_CUDA(ceil)},
    {"", "Round", 11, 21, cpu_round, SS_CUDA(round)},
    {"", "Sin", 7, 21, cpu_sin, SS_CUDA(sin)},
    {"", "Cos", 7, 21, cpu_cos, SS_CUDA(cos)},
    {"", "Sign", 9, 21, cpu_sign, SS_CUDA(sign)},  // float, int8/16/32/64 (unsigned refused)
    {"", "Softplus", 1, 21, cpu_softplus, SS_CUDA(softplus)},
    {"", "Mish", 18, 21, cpu_mish, SS_CUDA(mish)},
    {"", "Softsign", 1, 21, cpu_softsign, SS_CUDA(softsign)},
    {"", "Elu", 6, 21, cpu_elu, SS_CUDA(elu)},
    {"", "Selu", 6, 21, cpu_selu, SS_CUDA(selu)},
    {"", "Tan", 7, 21, cpu_tan, SS_CUDA(tan)},
    {"", "Asin", 7, 21, cpu_asin, SS_CUDA(asin)},
    {"", "Acos", 7, 21, cpu_acos, SS_CUDA(acos)},
    {"", "Atan", 7, 21, cpu_atan, SS_CUDA(atan)},
    {"", "Sinh", 9, 21, cpu_sinh, SS_CUDA(sinh)},
    {"", "Cosh", 9, 21, cpu_cosh, SS_CUDA(cosh)},
    {"", "Asinh", 9, 21, cpu_asinh, SS_CUDA(asinh)},
    {"", "Acosh", 9, 21, cpu_acosh, SS_CUDA(acosh)},
    {"", "Atanh", 9, 21, cpu_atanh, SS_CUDA(atanh)},
    {"", "Celu", 12, 21, cpu_celu, SS_CUDA(celu)},
    {"", "ThresholdedRelu", 10, 21, cpu_thresholded_relu, SS_CUDA(thresholded_relu)},
    {"", "Shrink", 9, 21, cpu_shrink, SS_CUDA(shrink)},  // float only (the spec's integers refused)
    {"", "Less", 7, 21, cpu_less, SS_CUDA(less)},
    {"", "Greater", 7, 21, cpu_greater, SS_CUDA(greater)},
    {"", "LessOrEqual", 12, 21, cpu_less_or_equal, SS_CUDA(less_or_equal)},
    {"", "GreaterOrEqual", 12, 21, cpu_greater_or_equal, SS_CUDA(greater_or_equal)},
    {"", "Mod", 10, 21, cpu_mod, SS_CUDA(mod)},
    {"", "Sum", 6, 21, cpu_sum, SS_CUDA(sum)},  // 6 and 7 require one shape: broadcasting is the superset
    {"", "Mean", 6, 21, cpu_mean, SS_CUDA(mean)},
    {"", "Dropout", 7, 21, cpu_dropout, SS_CUDA(dropout), kAsStored, kHost12},  // inference only
    // QDQ quantization (op_plans_elementwise.h): kComputes, so float16 / bfloat16 x and scales reach
    // the CPU widened to float32 (exactly) and DequantizeLinear's float32 y is rounded once to a
    // 16-bit scale's type; QuantizeLinear's integer y is never rounded. Opset 19 and 21 add float8
    // and int4 (refused by name), 21 blocked quantization (done) and output_dtype.
    {"", "QuantizeLinear", 10, 21, cpu_quantize_linear, SS_CUDA(quantize_linear)},
    {"", "DequantizeLinear", 10, 21, cpu_dequantize_linear, SS_CUDA(dequantize_linear)},
    // onnxruntime.quantization's quantize_dynamic: float32 x only (float16 reaches the plan, which
    // refuses it), and exact int32 products of int8 / uint8 operands (op_plans_nn.h).
    {"", "DynamicQuantizeLinear", 11, 21, cpu_dynamic_quantize_linear, SS_CUDA(dynamic_quantize_linear), kAsStored},
    {"", "MatMulInteger", 10, 21, cpu_matmul_integer, SS_CUDA(matmul_integer), kAsStored},
    {"", "ConvInteger", 10, 21, cpu_conv_integer, SS_CUDA(conv_integer), kAsStored},
    // ---- tensor, reduction and normalization ops (cpu_ops_tensor.h) ----
    {"", "Gather", 1, 21, cpu_gather, SS_CUDA(gather), kAsStored},
    {"", "GatherND", 11, 21, cpu_gather_nd, SS_CUDA(gather_nd), kAsStored},
    {"", "Transpose", 1, 21, cpu_transpose, SS_CUDA(transpose), kAsStored},
    {"", "DepthToSpace", 1, 21, cpu_depth_to_space, SS_CUDA(depth_to_space), kAsStored},
    {"", "SpaceToDepth", 1, 21, cpu_space_to_depth, SS_CUDA(space_to_depth), kAsStored},
    {"", "Einsum", 12, 21, cpu_einsum, SS_CUDA(einsum)},
    {"", "Expand", 8, 21, cpu_expand, SS_CUDA(expand), kAsStored, kHost1},
    {"", "Slice", 10, 21, cpu_slice, SS_CUDA(slice), kAsStored, kHost1234},
    {"", "Squeeze", 1, 21, cpu_squeeze, SS_CUDA(squeeze), kAsStored, kHost1},
    {"", "Unsqueeze", 1, 21, cpu_unsqueeze, SS_CUDA(unsqueeze), kAsStored, kHost1},
    {"", "Shape", 1, 21, cpu_shape, SS_CUDA(shape), kAsStored},
    {"", "Size", 1, 21, cpu_size, SS_CUDA(size), kAsStored},
    {"", "ConstantOfShape", 9, 21, cpu_constant_of_shape, SS_CUDA(constant_of_shape), kAsStored, kHost0},
    {"", "Range", 11, 21, cpu_range, SS_CUDA(range), kComputes, kHost012},
    {"", "Split", 2, 21, cpu_split, SS_CUDA(split), kAsStored, kHost1},
    {"", "ReduceMean", 1, 21, cpu_reduce_mean, SS_CUDA(reduce_mean), kComputes, kHost1},
    {"", "ReduceSum", 1, 21, cpu_reduce_sum, SS_CUDA(reduce_sum), kComputes, kHost1},
    {"", "ReduceMax", 1, 21, cpu_reduce_max, SS_CUDA(reduce_max), kComputes, kHost1},
    // ReduceMin 20 adds only bool (supported); 18 moved axes to input 1 for all seven.
    {"", "ReduceMin", 1, 21, cpu_reduce_min, SS_CUDA(reduce_min), kComputes, kHost1},
    {"", "ReduceProd", 1, 21, cpu_reduce_prod, SS_CUDA(reduce_prod), kComputes, kHost1},
    {"", "ReduceL1", 1, 21, cpu_reduce_l1, SS_CUDA(reduce_l1), kComputes, kHost1},
    {"", "ReduceL2", 1, 21, cpu_reduce_l2, SS_CUDA(reduce_l2), kComputes, kHost1},
    {"", "ReduceSumSquare", 1, 21, cpu_reduce_sum_square, SS_CUDA(reduce_sum_square), kComputes, kHost1},
    {"", "ReduceLogSum", 1, 21, cpu_reduce_log_sum, SS_CUDA(reduce_log_sum), kComputes, kHost1},
    {"", "ReduceLogSumExp", 1, 21, cpu_reduce_log_sum_exp, SS_CUDA(reduce_log_sum_exp), kComputes, kHost1},
    {"", "ArgMin", 1, 21, cpu_argmin, SS_CUDA(argmin)},
    {"", "LogSoftmax", 1, 21, cpu_log_softmax, SS_CUDA(log_softmax)},
    {"", "Tile", 6, 21, cpu_tile, SS_CUDA(tile), kAsStored, kHost1},  // 1's tiles/axis form: not supported
    {"", "Trilu", 14, 21, cpu_trilu, SS_CUDA(trilu), kAsStored, kHost1},
    {"", "CumSum", 11, 21, cpu_cumsum, SS_CUDA(cumsum), kComputes, kHost1},
    {"", "GatherElements", 11, 21, cpu_gather_elements, SS_CUDA(gather_elements), kAsStored},
    // kComputes: the CPU adds / multiplies float16 updates in float32 (op_run_cpu).
    {"", "ScatterND", 11, 21, cpu_scatter_nd, SS_CUDA(scatter_nd), kComputes},
    {"", "ScatterElements", 11, 21, cpu_scatter_elements, SS_CUDA(scatter_elements), kComputes},
    {"", "Scatter", 9, 10, cpu_scatter_elements, SS_CUDA(scatter_elements), kComputes},  // ScatterElements' old name
    {"", "OneHot", 9, 21, cpu_one_hot, SS_CUDA(one_hot), kAsStored, kHost1},  // depth read on the host
    {"", "EyeLike", 9, 21, cpu_eye_like, SS_CUDA(eye_like), kAsStored},
    {"", "LayerNormalization", 17, 21, cpu_layer_normalization, SS_CUDA(layer_normalization), kComputes, 0, 0b110},
    {"", "InstanceNormalization", 6, 21, cpu_instance_normalization, SS_CUDA(instance_normalization), kComputes},
    {"", "GroupNormalization", 18, 21, cpu_group_normalization, SS_CUDA(group_normalization), kComputes},
    {"", "LRN", 1, 21, cpu_lrn, SS_CUDA(lrn), kComputes},
};

}  // namespace

const OpEntry* op_registry_find(std::string_view domain, std::string_view op_type, int64_t opset) {
  for (const auto& e : kOps)
    if (e.domain == domain && e.op_type == op_type && opset >= e.min_opset && opset <= e.max_opset) return &e;
  return nullptr;
}

std::span<const OpEntry> op_registry_all() { return kOps; }

Status op_run_cpu(const OpEntry& op, OpContext& ctx) {
  // Whether any input is a 2-byte float (float16 or bfloat16), and the type of the first float input:
  // the op's T, which its float outputs take (Pow's float32 base with a float16 exponent gives
  // float32, as ONNX types it).
  bool any_half = false;
  DType first_float = DType::kUndefined;
  for (const Tensor* t : ctx.inputs) {
    if (!t) continue;
    any_half |= dtype_is_half(t->dtype());
    if (first_float == DType::kUndefined && dtype_is_float(t->dtype())) first_float = t->dtype();
  }
  if (op.float16_as_stored || !any_half) return op.cpu(ctx);
  const DType half = dtype_is_half(first_float) ? first_float : DType::kUndefined;  // outputs rounded to it
  ctx.reusable = 0;  // the op sees widened copies, not the values' own tensors
  std::vector<Tensor> widened(ctx.inputs.size());
  const std::vector<const Tensor*> original = ctx.inputs;
  for (std::size_t k = 0; k < ctx.inputs.size(); ++k) {
    const Tensor* t = ctx.inputs[k];
    if (!t || !dtype_is_half(t->dtype())) continue;
    widened[k] = Tensor(DType::kFloat32, t->shape());
    const uint16_t* src = t->data<uint16_t>();
    float* dst = widened[k].data<float>();
    for (int64_t i = 0, n = t->numel(); i < n; ++i) dst[i] = half_bits_to_float(t->dtype(), src[i]);
    ctx.inputs[k] = &widened[k];
  }
  Status st = op.cpu(ctx);
  ctx.inputs = original;
  SS_RETURN_IF_ERROR(st);
  for (std::size_t k = 0; k < ctx.outputs.size(); ++k) {
    Tensor& out = ctx.outputs[k];
    if (half == DType::kUndefined || out.empty() || out.dtype() != DType::kFloat32) continue;
    if (k < 32 && (op.float32_outputs >> k & 1u)) continue;
    Tensor h(half, out.shape());
    const float* src = out.data<float>();
    uint16_t* dst = h.data<uint16_t>();
    for (int64_t i = 0, n = out.numel(); i < n; ++i) dst[i] = double_to_half_bits(half, src[i]);
    out = std::move(h);
  }
  return ok_status();
}

bool BatchState::nonfinite_seen() {
  for (const Tensor& t : graph_inputs_) note_values(t);
  graph_inputs_.clear();
  return nonfinite_;
}

void BatchState::note_values(const Tensor& t) {
  if (!nonfinite_) nonfinite_ = !float32_all_finite(t);
}

}  // namespace shardscore
