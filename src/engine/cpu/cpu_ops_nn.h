#pragma once
// CPU functions of the neural-network and elementwise-math ops: nn.cpp, activation.cpp (and the math ops in elementwise.cpp).
// Included by cpu_ops.h; the registry rows are in src/engine/op_registry.cpp.
#include "engine/op_plans_nn.h"  // Window2d, window_geometry, require_nchw: shared with the CUDA backend
#include "engine/op_registry.h"

namespace shardscore {

// shardscore.FusedConv: Conv + residual Add + Relu, made by the fusion pass (src/engine/passes.cpp).
Status cpu_fused_conv(OpContext& ctx);
Status cpu_to_blocked(OpContext& ctx);    // shardscore.ToBlocked (pass_blocked_conv_layout): NCHW -> blocked
Status cpu_from_blocked(OpContext& ctx);  // shardscore.FromBlocked: blocked -> NCHW (attribute channels)
Status cpu_blocked_max_pool(OpContext& ctx);  // shardscore.BlockedMaxPool: MaxPool on blocked X (MaxPool's attributes)

// Exact Gelu in float32, in the order of the graph torch exports for it (Div by sqrt 2, Erf, Add 1,
// Mul x, Mul 0.5), with a vectorized erf; in place allowed. Shared by Gelu and FusedGemm.
void cpu_gelu_f32(const float* x, float* y, int64_t n);

// nn.cpp — 2-D NCHW convolution and pooling, normalization, padding and resizing
Status cpu_conv(OpContext& ctx);                  // im2col + BLAS, one image (and group) per product
Status cpu_conv_transpose(OpContext& ctx);        // BLAS product per image and group, then col2im
Status cpu_batch_normalization(OpContext& ctx);   // inference mode only
Status cpu_max_pool(OpContext& ctx);              // output Y only (no Indices)
Status cpu_average_pool(OpContext& ctx);
Status cpu_global_average_pool(OpContext& ctx);
Status cpu_global_max_pool(OpContext& ctx);
Status cpu_pad(OpContext& ctx);                   // constant / reflect / edge / wrap, any rank
Status cpu_resize(OpContext& ctx);                // nearest (any rank), linear (last two dims)
Status cpu_upsample(OpContext& ctx);  // Upsample 7-9 and Resize 10: Resize with asymmetric coordinates (upsample_plan)

// rnn.cpp — RNN, GRU, LSTM (engine/op_plans_rnn.h): tiles of 64 batch rows
Status cpu_rnn(OpContext& ctx);
Status cpu_gru(OpContext& ctx);
Status cpu_lstm(OpContext& ctx);

// activation.cpp — float32 / float64 (Clip also integers); NaN passes through
Status cpu_clip(OpContext& ctx);
Status cpu_leaky_relu(OpContext& ctx);
Status cpu_prelu(OpContext& ctx);  // elementwise.cpp
Status cpu_hard_sigmoid(OpContext& ctx);
Status cpu_hard_swish(OpContext& ctx);
Status cpu_erf(OpContext& ctx);
Status cpu_gelu(OpContext& ctx);  // ai.onnx opset 20+ and com.microsoft opset 1

// elementwise.cpp — math and logic with numpy-style broadcasting
Status cpu_sqrt(OpContext& ctx);
Status cpu_pow(OpContext& ctx);
Status cpu_neg(OpContext& ctx);
Status cpu_not(OpContext& ctx);
Status cpu_isnan(OpContext& ctx);  // float to bool
Status cpu_isinf(OpContext& ctx);  // float to bool; detect_negative, detect_positive
Status cpu_equal(OpContext& ctx);
Status cpu_and(OpContext& ctx);  // And / Or / Xor (opsets 7-21): bool, broadcasting
Status cpu_or(OpContext& ctx);
Status cpu_xor(OpContext& ctx);
Status cpu_max(OpContext& ctx);  // Max / Min (opsets 8-21): variadic, broadcasting, NaN wins
Status cpu_min(OpContext& ctx);
Status cpu_where(OpContext& ctx);

// activation.cpp — float32 / float64 (float16 widened by op_run_cpu); NaN passes through
Status cpu_exp(OpContext& ctx);
Status cpu_log(OpContext& ctx);
Status cpu_reciprocal(OpContext& ctx);
Status cpu_floor(OpContext& ctx);
Status cpu_ceil(OpContext& ctx);
Status cpu_round(OpContext& ctx);  // halves to even
Status cpu_sin(OpContext& ctx);
Status cpu_cos(OpContext& ctx);
Status cpu_softplus(OpContext& ctx);
Status cpu_mish(OpContext& ctx);
Status cpu_softsign(OpContext& ctx);
Status cpu_elu(OpContext& ctx);
Status cpu_selu(OpContext& ctx);
Status cpu_tan(OpContext& ctx);
Status cpu_asin(OpContext& ctx);
Status cpu_acos(OpContext& ctx);
Status cpu_atan(OpContext& ctx);
Status cpu_sinh(OpContext& ctx);
Status cpu_cosh(OpContext& ctx);
Status cpu_asinh(OpContext& ctx);
Status cpu_acosh(OpContext& ctx);
Status cpu_atanh(OpContext& ctx);
Status cpu_celu(OpContext& ctx);
Status cpu_thresholded_relu(OpContext& ctx);
Status cpu_shrink(OpContext& ctx);  // lambd, bias

// elementwise.cpp — Abs and Sign (float, int8/16/32/64), comparisons (any numeric type to bool),
// Mod, Sum / Mean (variadic, broadcasting), Dropout (inference: the input as is, a mask of ones)
Status cpu_abs(OpContext& ctx);
Status cpu_sign(OpContext& ctx);
Status cpu_less(OpContext& ctx);
Status cpu_greater(OpContext& ctx);
Status cpu_less_or_equal(OpContext& ctx);
Status cpu_greater_or_equal(OpContext& ctx);
Status cpu_mod(OpContext& ctx);
Status cpu_sum(OpContext& ctx);
Status cpu_mean(OpContext& ctx);
Status cpu_dropout(OpContext& ctx);

}  // namespace shardscore
