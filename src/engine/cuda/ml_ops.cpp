// ai.onnx.ml (scikit-learn) ops on CUDA: the host side of kernels/ml_ops.cu. Each function
// validates as its CPU function does (src/engine/cpu/ml_ops.cpp), with the same messages, takes
// the same input types and gives the same output dtypes and shapes.
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
#include <cstdint>
#include <string>
#include <vector>

#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/cuda_util.h"
#include "kernels/ml_ops.h"

namespace shardscore {
namespace {

using kernels::MlPostTransform;

// `bytes` bytes of host memory at `src` as device memory in the op's scratch (nullptr for none).
// The bytes travel in the launches' arguments, so `src` need not outlive the call.
StatusOr<const void*> upload_table(CudaOpContext& ctx, const void* src, std::size_t bytes) {
  if (bytes == 0) return static_cast<const void*>(nullptr);
  void* dst = ctx.scratch(bytes);
  const auto* from = static_cast<const unsigned char*>(src);
  auto* to = static_cast<unsigned char*>(dst);
  for (std::size_t off = 0; off < bytes; off += kernels::kTableChunkBytes) {
    kernels::TableChunk chunk;
    chunk.bytes = static_cast<int64_t>(std::min<std::size_t>(kernels::kTableChunkBytes, bytes - off));
    std::copy(from + off, from + off + chunk.bytes, chunk.data);
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_write_table_chunk(chunk, to + off, ctx.lane.stream));
  }
  return static_cast<const void*>(dst);
}

template <typename T>
StatusOr<const T*> upload_vector(CudaOpContext& ctx, const std::vector<T>* v) {
  if (!v || v->empty()) return static_cast<const T*>(nullptr);
  SS_ASSIGN_OR_RETURN(const void* p, upload_table(ctx, v->data(), v->size() * sizeof(T)));
  return static_cast<const T*>(p);
}

// X as the CPU's ml_input_as_float_rows accepts it: 1-D or 2-D, any numeric type but bool
// (float16 is float32 by the time the CPU function sees it).
struct MlRows {
  int64_t rows = 0;
  int64_t features = 0;
  DType float_out = DType::kFloat32;  // the dtype of float results: float16 for a float16 X
};

StatusOr<MlRows> ml_rows(const Tensor& x) {
  if (x.rank() < 1 || x.rank() > 2) return invalid_argument("X must be 1-D or 2-D, got " + shape_to_string(x.shape()));
  const DType t = x.dtype();
  if (t == DType::kBool || t == DType::kUndefined) return unimplemented("X of type " + std::string(dtype_name(t)));
  MlRows r;
  r.rows = x.rank() == 1 ? 1 : x.dim(0);
  r.features = x.dim(x.rank() - 1);
  r.float_out = t == DType::kFloat16 ? DType::kFloat16 : DType::kFloat32;
  return r;
}

const std::vector<float>* floats_attr(const Node& n, const char* name) {
  const Attribute* a = n.attr(name);
  return a && a->type == Attribute::Type::kFloats ? &a->floats : nullptr;
}

std::string string_attr_or(const Node& n, const char* name, const std::string& fallback) {
  const Attribute* a = n.attr(name);
  return a && a->type == Attribute::Type::kString ? a->s : fallback;
}

}  // namespace

// ai.onnx.ml LinearClassifier: Y = class labels (int64), Z = post_transform(X * coefficients^T + intercepts).
// With one score column and two class labels, Z gets two columns (the negative class first) and a
// row's label is the positive class when its raw score is > 0. The argmax and the label lookup run
// on the device (class labels uploaded as a table).
Status cuda_linear_classifier(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(MlRows xr, ml_rows(*x));
  const Node& n = ctx.node;
  if (n.attr("classlabels_strings")) return unimplemented("string class labels are not supported (int64 labels only)");
  const Attribute* labels_attr = n.attr("classlabels_ints");
  const std::vector<float>* coef = floats_attr(n, "coefficients");
  const std::vector<float>* intercepts = floats_attr(n, "intercepts");
  if (!labels_attr || !coef) return invalid_argument("LinearClassifier needs coefficients and classlabels_ints");
  const std::vector<int64_t>& labels = labels_attr->ints;
  const int64_t rows = xr.rows, features = xr.features;
  if (features == 0 || static_cast<int64_t>(coef->size()) % features != 0) {
    return invalid_argument(std::to_string(coef->size()) + " coefficients do not fit " + std::to_string(features) + " features");
  }
  const int64_t targets = static_cast<int64_t>(coef->size()) / features;
  if (intercepts && !intercepts->empty() && static_cast<int64_t>(intercepts->size()) != targets) {
    return invalid_argument(std::to_string(intercepts->size()) + " intercepts for " + std::to_string(targets) + " targets");
  }
  const bool two_from_one = targets == 1 && labels.size() == 2;
  if (!two_from_one && static_cast<int64_t>(labels.size()) != targets) {
    return invalid_argument(std::to_string(labels.size()) + " class labels for " + std::to_string(targets) + " score columns");
  }
  const int64_t cols = two_from_one ? 2 : targets;

  const std::string post = string_attr_or(n, "post_transform", "NONE");
  MlPostTransform pt = MlPostTransform::kNone;
  if (two_from_one) {
    if (post == "LOGISTIC") {
      pt = MlPostTransform::kLogistic;
    } else if (post != "NONE" && rows > 0) {  // the CPU refuses it inside its loop over rows
      return unimplemented("post_transform '" + post + "' with one score column is not supported (NONE, LOGISTIC)");
    }
  } else if (post == "LOGISTIC") {
    pt = MlPostTransform::kLogistic;
  } else if (post == "SOFTMAX") {
    pt = MlPostTransform::kSoftmax;
  } else if (post == "SOFTMAX_ZERO") {
    pt = MlPostTransform::kSoftmaxZero;
  } else if (post != "NONE") {
    return unimplemented("post_transform '" + post + "' is not supported (NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO)");
  }

  SS_ASSIGN_OR_RETURN(const float* d_coef, upload_vector(ctx, coef));
  SS_ASSIGN_OR_RETURN(const float* d_intercepts, upload_vector(ctx, intercepts));
  SS_ASSIGN_OR_RETURN(const int64_t* d_labels, upload_vector(ctx, &labels));

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
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(MlRows xr, ml_rows(*x));
  const Node& n = ctx.node;
  const std::vector<float>* coef = floats_attr(n, "coefficients");
  const std::vector<float>* intercepts = floats_attr(n, "intercepts");
  const int64_t targets = n.attr_int("targets", 1);
  const int64_t features = xr.features;
  if (!coef || targets < 1 || static_cast<int64_t>(coef->size()) != targets * features) {
    return invalid_argument("coefficients do not fit " + std::to_string(targets) + " targets x " + std::to_string(features) +
                            " features");
  }
  if (intercepts && !intercepts->empty() && static_cast<int64_t>(intercepts->size()) != targets) {
    return invalid_argument(std::to_string(intercepts->size()) + " intercepts for " + std::to_string(targets) + " targets");
  }
  const std::string post = string_attr_or(n, "post_transform", "NONE");
  if (post != "NONE") return unimplemented("post_transform '" + post + "' is not supported for LinearRegressor (NONE)");
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
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(MlRows xr, ml_rows(*x));
  const int64_t features = xr.features;
  const std::vector<float>* offset = floats_attr(ctx.node, "offset");
  const std::vector<float>* scale = floats_attr(ctx.node, "scale");
  for (const auto* v : {offset, scale})
    if (v && v->size() != 1 && static_cast<int64_t>(v->size()) != features) {
      return invalid_argument(std::to_string(v->size()) + " offset/scale values for " + std::to_string(features) + " features");
    }
  Tensor y(xr.float_out, x->rank() == 1 ? Shape{features} : Shape{xr.rows, features});
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

// ai.onnx.ml ArrayFeatureExtractor: selects entries of X's last dimension by the int64 indices Y.
// Output shape is X's with the last dimension replaced by |Y| ([1, |Y|] for a 1-D X), as ONNX
// Runtime does. Elements move as stored (a float16 X comes out as the CPU's widen-and-round gives it).
//
// The registry row marks Y a host input (cuda_host_inputs kHost1): the indices are checked exactly
// as the CPU does and uploaded as kernel arguments. The device branch below is kept for a Y that
// arrives as device data (should the registry row change): the host cannot check each index
// there, and an out-of-range index yields zero bits instead of the CPU's InvalidArgument.
Status cuda_array_feature_extractor(CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(const Tensor* x, cuda_required_input(ctx, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* y, cuda_required_input(ctx, 1));
  if (y->dtype() != DType::kInt64) return invalid_argument("indices must be int64");
  if (x->rank() < 1) return invalid_argument("X must have at least one dimension");
  if (x->dtype() == DType::kUndefined) return unimplemented("element type undefined is not supported");
  const int64_t last = x->dim(x->rank() - 1);
  const int64_t k = y->numel();
  const int64_t* indices = nullptr;
  if (!y->on_device()) {
    const int64_t* idx = y->data<int64_t>();
    for (int64_t i = 0; i < k; ++i)
      if (idx[i] < 0 || idx[i] >= last) {
        return invalid_argument("index " + std::to_string(idx[i]) + " is out of range for a last dimension of " + std::to_string(last));
      }
  } else if (last == 0 && k > 0) {
    return invalid_argument("indices are out of range for a last dimension of 0");
  }
  Shape out = x->shape();
  if (out.size() == 1) out.insert(out.begin(), 1);
  out.back() = k;
  Tensor z(x->dtype(), out);
  const int64_t rows = x->numel() / std::max<int64_t>(last, 1);
  if (rows * k > 0) {
    if (y->on_device()) {
      indices = y->data<int64_t>();
    } else {
      SS_ASSIGN_OR_RETURN(const void* p, upload_table(ctx, y->raw(), y->nbytes()));
      indices = static_cast<const int64_t*>(p);
    }
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_array_feature_extractor(cuda_elem(x->dtype()), x->raw(), rows, last,
                                                                      indices, k, z.raw(), ctx.lane.stream));
  }
  ctx.outputs[0] = std::move(z);
  return ok_status();
}

}  // namespace shardscore
