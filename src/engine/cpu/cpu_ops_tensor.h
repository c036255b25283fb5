#pragma once
// CPU functions of the tensor-manipulation, reduction and normalization ops: tensor_ops.cpp, reduce.cpp, normalization.cpp.
// Included by cpu_ops.h; the registry rows are in src/engine/op_registry.cpp.
//
// The data-movement ops (Gather, Transpose, Expand, Slice, Squeeze, Unsqueeze, Split) work on any
// element type by copying dtype_size() bytes per element. Reductions sum every reduced group in a
// fixed order (in double for float32), so a row's result never depends on the batch around it.
#include "engine/op_registry.h"

namespace shardscore {

// tensor_ops.cpp
Status cpu_gather_nd(OpContext& ctx);         // opsets 11-21: batch_dims, negative indices, int64 indices
Status cpu_gather(OpContext& ctx);            // opsets 1-21: any axis, negative indices, int32/int64 indices
Status cpu_transpose(OpContext& ctx);         // opsets 1-21: perm (default reverses)
Status cpu_depth_to_space(OpContext& ctx);    // opsets 1-21: blocksize, mode DCR / CRD (11+)
Status cpu_space_to_depth(OpContext& ctx);    // opsets 1-21: blocksize
Status cpu_einsum(OpContext& ctx);            // opsets 12-21: op_plans_tensor.h, EinsumPlan
Status cpu_expand(OpContext& ctx);            // opsets 8-21: bidirectional broadcast to the shape input
Status cpu_slice(OpContext& ctx);             // opsets 10-21: starts/ends/axes/steps inputs
Status cpu_squeeze(OpContext& ctx);           // axes attribute before 13, optional input from 13
Status cpu_unsqueeze(OpContext& ctx);         // axes attribute before 13, input from 13
Status cpu_shape(OpContext& ctx);             // start/end attributes from 15
Status cpu_constant_of_shape(OpContext& ctx); // value attribute (default float32 0)
Status cpu_range(OpContext& ctx);             // float32/float64/int16/int32/int64
Status cpu_split(OpContext& ctx);             // split attribute before 13, input from 13, num_outputs from 18
Status cpu_tile(OpContext& ctx);              // opsets 6-21: repeats input (host)
Status cpu_trilu(OpContext& ctx);             // opset 14-21: upper, k input (host)
Status cpu_cumsum(OpContext& ctx);            // opsets 11-21: exclusive, reverse, axis input (host)
Status cpu_gather_elements(OpContext& ctx);   // opsets 11-21: negative indices, int32/int64 indices
Status cpu_scatter_nd(OpContext& ctx);        // opsets 11-21: reduction none/add/mul (16), max/min (18)
Status cpu_scatter_elements(OpContext& ctx);  // ScatterElements 11-21 (reductions as ScatterND), Scatter 9-10
Status cpu_one_hot(OpContext& ctx);           // opsets 9-21
Status cpu_eye_like(OpContext& ctx);          // opsets 9-21
Status cpu_size(OpContext& ctx);              // opsets 1-21: the element count, int64 scalar (shape-only)

// reduce.cpp (also cpu_argmax, declared in cpu_ops.h)
Status cpu_reduce_mean(OpContext& ctx);  // axes attribute before 18, optional input from 18
Status cpu_reduce_sum(OpContext& ctx);   // axes attribute before 13, optional input from 13
Status cpu_reduce_max(OpContext& ctx);   // axes attribute before 18, optional input from 18
Status cpu_reduce_min(OpContext& ctx);         // axes attribute before 18, optional input from 18
Status cpu_reduce_prod(OpContext& ctx);        // likewise; numeric types
Status cpu_reduce_l1(OpContext& ctx);          // likewise; numeric types
Status cpu_reduce_l2(OpContext& ctx);          // likewise; float types
Status cpu_reduce_sum_square(OpContext& ctx);  // likewise; numeric types
Status cpu_reduce_log_sum(OpContext& ctx);     // likewise; float types
Status cpu_reduce_log_sum_exp(OpContext& ctx); // likewise; float types, max-shifted

// normalization.cpp
Status cpu_layer_normalization(OpContext& ctx);  // opset 17: axis, epsilon, Scale, optional B; Mean/InvStdDev too
Status cpu_instance_normalization(OpContext& ctx);  // opsets 6..21: per (n, c) over the spatial elements
Status cpu_group_normalization(OpContext& ctx);     // opsets 18, 21: per (n, group of channels)
Status cpu_lrn(OpContext& ctx);  // LRN (opsets 1, 13): across channels, in double
Status cpu_add_layer_normalization(OpContext& ctx);  // shardscore.AddLayerNormalization: LayerNormalization(A + B)

}  // namespace shardscore
