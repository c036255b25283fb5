#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include "common/log.h"
#include "engine/cpu/onednn.h"
#include "engine/cpu/vector_math.h"

namespace shardscore {

#ifndef SHARDSCORE_HAVE_CUDA
StatusOr<std::unique_ptr<Backend>> backend_cuda_create(const CudaBackendOptions&) {
  return unimplemented("this build has no CUDA backend (built without nvcc)");
}
int cuda_visible_devices() { return 0; }
CudaFusedPaths cuda_fused_paths() { return {}; }
CudaGraphCounts cuda_graph_counts() { return {}; }
#endif

StatusOr<std::unique_ptr<Engine>> Engine::load(const std::string& model_path, const std::string& backend,
                                               const EngineOptions& given) {
  EngineOptions options = given;
  if (env_is("SHARDSCORE_FUSE_ATTENTION", "0")) options.fuse_attention = false;
  SS_RETURN_IF_ERROR(cpu_isa_env_check());  // the host's own work and the CPU backend follow it
  if (backend == "cpu") return load_with(model_path, backend_cpu_create(), options);
  // --precision fp16 / bf16: the graph in that type (pass_to_half).
  EngineOptions cuda_options = options;
  if (env_is("SHARDSCORE_CUDA_NHWC", "1")) cuda_options.nhwc_convs = true;
  if (options.cuda.precision == "fp16") cuda_options.compute = DType::kFloat16;
  if (options.cuda.precision == "bf16") cuda_options.compute = DType::kBFloat16;
  if (backend == "cuda") {
    SS_ASSIGN_OR_RETURN(std::unique_ptr<Backend> b, backend_cuda_create(options.cuda));
    return load_with(model_path, std::move(b), cuda_options);
  }
  if (backend == "auto") {
    std::string why_cpu;
    if (cuda_visible_devices() > 0) {
      StatusOr<std::unique_ptr<Backend>> b = backend_cuda_create(options.cuda);
      if (b.ok()) {
        StatusOr<std::unique_ptr<Engine>> e = load_with(model_path, std::move(*b), cuda_options);
        if (e.ok() || e.status().code() != StatusCode::kUnimplemented) return e;
        why_cpu = "CUDA cannot run this model (" + e.status().message() + ")";
      } else {
        why_cpu = b.status().message();
      }
    }
#if SHARDSCORE_HAVE_CUDA
    else {
      // Why none is visible (no driver, one too old for this build, CUDA_VISIBLE_DEVICES) is what
      // someone who expected a GPU needs; creating the backend says it.
      const StatusOr<std::unique_ptr<Backend>> b = backend_cuda_create(options.cuda);
      why_cpu = b.ok() ? std::string("no CUDA device visible") : b.status().message();
    }
#endif
    StatusOr<std::unique_ptr<Engine>> e = load_with(model_path, backend_cpu_create(), options);
    if (e.ok() && !why_cpu.empty()) (*e)->backend_note_ = "backend auto: " + why_cpu + "; using the CPU backend";
    return e;
  }
  return invalid_argument("backend '" + backend + "' is not one of cpu, cuda, auto");
}

StatusOr<std::unique_ptr<Engine>> Engine::load_with(const std::string& model_path, std::unique_ptr<Backend> backend,
                                                    const EngineOptions& options) {
  std::unique_ptr<Engine> e(new Engine());
  e->options_ = options;
  SS_ASSIGN_OR_RETURN(e->graph_, graph_load_onnx(model_path));
  e->pass_stats_.expanded_contrib_ops = e->graph_.expanded_contrib_ops;
  if (!options.outputs.empty()) SS_RETURN_IF_ERROR(pass_select_outputs(&e->graph_, options.outputs, &e->pass_stats_));
  for (const ValueInfo& out : e->graph_.outputs) {
    auto bad = e->graph_.unsupported_outputs.find(out.name);
    if (bad != e->graph_.unsupported_outputs.end()) return unimplemented(bad->second);
  }
  SS_RETURN_IF_ERROR(pass_float32_boundary(&e->graph_));
  // oneDNN's blocked layout is the CPU backend's; other backends take plain NCHW convolutions.
  const int64_t conv_block = backend->name() == "cpu" && !options.nhwc_convs ? onednn_channel_block() : 0;
  SS_RETURN_IF_ERROR(pass_spatial_1d_as_2d(&e->graph_, &e->pass_stats_));  // the backends' convolutions are 2-D
  if (options.optimize) SS_RETURN_IF_ERROR(graph_optimize(&e->graph_, &e->pass_stats_, conv_block, options.fuse_attention));
  if (options.optimize && options.nhwc_convs) SS_RETURN_IF_ERROR(pass_nhwc_convs(&e->graph_, &e->pass_stats_));
  std::string quantizer;  // a DynamicQuantizeLinear node, described
  for (const Node& n : e->graph_.nodes) {
    if (n.domain.empty() && n.op_type == "DynamicQuantizeLinear" && quantizer.empty()) quantizer = n.describe();
  }
  if (options.compute != DType::kFloat32 && !quantizer.empty()) {
    return unimplemented("model '" + e->graph_.source + "' quantizes its activations itself (" + quantizer +
                         "): it computes in its own integer precision, so run it at float32, not " +
                         std::string(dtype_name(options.compute)));
  }
  if (options.compute != DType::kFloat32) SS_RETURN_IF_ERROR(pass_to_half(&e->graph_, options.compute));
  if (options.optimize && backend->name() == "cpu") {
    if (options.rows_alone_in_runs && options.rows_quantized_in_batch && !quantizer.empty() && e->fixed_batch() < 0) {
      SS_RETURN_IF_ERROR(pass_row_quantized_matmuls(&e->graph_, &e->pass_stats_, &e->rows_alone_why_));
      if (e->pass_stats_.row_quantized_matmuls > 0) {
        e->rows_quantized_ = quantizer;
        quantizer.clear();  // none left
      }
    }
    SS_RETURN_IF_ERROR(pass_constant_matmul_weights(&e->graph_, &e->pass_stats_));
    SS_RETURN_IF_ERROR(pass_recurrent_joint_weights(&e->graph_, &e->pass_stats_));
    SS_RETURN_IF_ERROR(pass_constant_integer_weights(&e->graph_, &e->pass_stats_));
  } else if (options.rows_alone_in_runs && options.rows_quantized_in_batch && !quantizer.empty()) {
    e->rows_alone_why_ = quantizer + (backend->name() == "cpu"
                                          ? std::string(" runs with the graph passes off (EngineOptions::optimize)")
                                          : " runs on the " + std::string(backend->name()) +
                                                " backend, which quantizes a row at a time (rows quantized apart "
                                                "within a batch are the CPU backend's)");
  }
  e->backend_ = std::move(backend);
  // The plan points into graph_, which lives as long as the engine.
  SS_ASSIGN_OR_RETURN(e->plan_, plan_build(e->graph_));
  for (const auto& step : e->plan_.steps) {
    if (!e->backend_->supports(*step.op)) {
      return unimplemented("backend '" + std::string(e->backend_->name()) + "' cannot run " + step.node->describe());
    }
  }
  if (options.rows_alone_in_runs && !quantizer.empty()) {
    if (const int64_t fixed = e->fixed_batch(); fixed > 1) {
      return unimplemented("model '" + e->graph_.source + "' fixes its batch at " + std::to_string(fixed) +
                           " rows and quantizes them together (" + quantizer + " takes its scale from all of them), so "
                           "a row's result would depend on the rows scored with it: export it with a dynamic batch "
                           "axis (torch.onnx.export(..., dynamic_axes={'<input>': {0: 'batch'}})) before quantizing");
    }
    if (e->fixed_batch() < 0) e->rows_alone_ = quantizer;
  }
  tensor_heap_release_kept();  // the passes' temporaries (weights before folding)
  return e;
}

Status Engine::take_raw_inputs(const std::vector<RawInput>& raw) {
  if (raw.empty()) return ok_status();
  Graph g = graph_;
  SS_RETURN_IF_ERROR(pass_raw_inputs(&g, raw));
  SS_ASSIGN_OR_RETURN(Plan plan, plan_build(g));
  for (const auto& step : plan.steps) {
    if (!backend_->supports(*step.op)) {
      return unimplemented("backend '" + std::string(backend_->name()) + "' cannot run " + step.node->describe());
    }
  }
  // The plan points into the graph: rebuilt on graph_ once it holds the new graph.
  graph_ = std::move(g);
  SS_ASSIGN_OR_RETURN(plan_, plan_build(graph_));
  return ok_status();
}

int64_t Engine::fixed_batch() const {
  int64_t batch = -1;
  for (const ValueInfo& vi : graph_.inputs) {
    if (vi.dims.empty() || vi.dims[0] < 0 || (batch >= 0 && vi.dims[0] != batch)) return -1;
    batch = vi.dims[0];
  }
  return batch;
}

Status Engine::run(std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const {
  if (inputs.size() != graph_.inputs.size()) {
    return invalid_argument("model '" + graph_.source + "' takes " + std::to_string(graph_.inputs.size()) +
                            " inputs, got " + std::to_string(inputs.size()));
  }
  // The rows the inputs hold: host tensors with one first dimension; -1 otherwise.
  int64_t rows = -1;
  for (const Tensor& t : inputs) {
    if (t.rank() == 0 || t.on_device() || (rows >= 0 && t.dim(0) != rows)) {
      rows = -1;
      break;
    }
    rows = t.dim(0);
  }
  if (options_.fixed_batch_in_runs) {
    const int64_t batch = fixed_batch();
    if (batch > 0 && rows > 0 && rows != batch) return run_in_fixed_batches(inputs, batch, outputs);
  }
  if (!rows_alone_.empty() && rows > 1) return run_in_fixed_batches(inputs, 1, outputs);
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const ValueInfo& vi = graph_.inputs[k];
    const Tensor& t = inputs[k];
    if (vi.dtype != DType::kUndefined && t.dtype() != vi.dtype) {
      return invalid_argument("model input '" + vi.name + "' expects " + std::string(dtype_name(vi.dtype)) + ", got " +
                              std::string(dtype_name(t.dtype())));
    }
    if (!vi.dims.empty()) {
      bool fits = static_cast<int64_t>(vi.dims.size()) == t.rank();
      for (std::size_t d = 0; fits && d < vi.dims.size(); ++d) fits = vi.dims[d] < 0 || vi.dims[d] == t.dim(d);
      if (!fits) {
        return invalid_argument("model input '" + vi.name + "' expects shape " + shape_to_string(vi.dims) + ", got " +
                                shape_to_string(t.shape()));
      }
    }
  }
  return run_splitting(std::move(inputs), outputs);
}

namespace {

// Rows [first, first + count) of a host tensor whose first dimension is the batch.
Tensor rows_of(const Tensor& t, int64_t first, int64_t count) {
  Shape s = t.shape();
  const std::size_t row_bytes = t.nbytes() / static_cast<std::size_t>(s[0]);
  s[0] = count;
  return Tensor::copy_of(t.dtype(), s, static_cast<const std::byte*>(t.raw()) + first * row_bytes);
}

// Rows [first, first + count) of a host tensor, followed by rows of zeros up to `rows` rows.
Tensor rows_padded(const Tensor& t, int64_t first, int64_t count, int64_t rows) {
  Shape s = t.shape();
  const std::size_t row_bytes = t.nbytes() / static_cast<std::size_t>(s[0]);
  s[0] = rows;
  Tensor out(t.dtype(), s);
  std::memcpy(out.raw(), static_cast<const std::byte*>(t.raw()) + first * row_bytes, count * row_bytes);
  std::memset(static_cast<std::byte*>(out.raw()) + count * row_bytes, 0, (rows - count) * row_bytes);
  return out;
}

}  // namespace

Status Engine::run_in_fixed_batches(const std::vector<Tensor>& inputs, int64_t batch, std::vector<Tensor>* outputs) const {
  const int64_t rows = inputs[0].dim(0);
  std::vector<std::vector<Tensor>> parts;  // per output, the runs' rows in order
  for (int64_t first = 0; first < rows; first += batch) {
    const int64_t count = std::min(batch, rows - first);
    std::vector<Tensor> run_inputs, run_outputs;
    for (const Tensor& t : inputs) run_inputs.push_back(rows_padded(t, first, count, batch));
    SS_RETURN_IF_ERROR(run(std::move(run_inputs), &run_outputs));
    parts.resize(run_outputs.size());
    for (std::size_t k = 0; k < run_outputs.size(); ++k) {
      const Tensor& y = run_outputs[k];
      // Every run's rows of one shape and type, or they cannot be joined (an output whose row shape
      // follows the values, as NonZero's or a TopK's with k from the data).
      if (!parts[k].empty() && y.rank() > 0 && parts[k][0].rank() > 0 &&
          (y.dtype() != parts[k][0].dtype() ||
           Shape(y.shape().begin() + 1, y.shape().end()) != Shape(parts[k][0].shape().begin() + 1, parts[k][0].shape().end()))) {
        return unimplemented("model '" + graph_.source + "' gives output '" + graph_.outputs[k].name + "' rows of shape " +
                             shape_to_string(Shape(y.shape().begin() + 1, y.shape().end())) + " in one run and " +
                             shape_to_string(Shape(parts[k][0].shape().begin() + 1, parts[k][0].shape().end())) +
                             " in another, which one output cannot hold");
      }
      if ((y.rank() == 0 || y.dim(0) != batch) && !rows_alone_.empty()) {
        return unimplemented("model '" + graph_.source + "' runs one row at a time (" + rows_alone_ +
                             " quantizes by the range of all it is given), but its output '" + graph_.outputs[k].name +
                             "' has shape " + shape_to_string(y.shape()) + " for one row, not one entry per row");
      }
      if (y.rank() == 0 || y.dim(0) != batch) {
        return unimplemented("model '" + graph_.source + "' takes " + std::to_string(batch) +
                             " rows a run (its inputs fix their first dimension), but its output '" + graph_.outputs[k].name +
                             "' has shape " + shape_to_string(y.shape()) + ", not one entry per row");
      }
      parts[k].push_back(count == batch ? y : rows_of(y, 0, count));
    }
  }
  outputs->clear();
  for (auto& runs : parts) {
    Shape s = runs[0].shape();
    s[0] = rows;
    Tensor joined(runs[0].dtype(), s);
    std::size_t at = 0;
    for (const Tensor& y : runs) {
      std::memcpy(static_cast<std::byte*>(joined.raw()) + at, y.raw(), y.nbytes());
      at += y.nbytes();
    }
    outputs->push_back(std::move(joined));
  }
  return ok_status();
}

Status Engine::run_splitting(std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const {
  std::vector<Tensor> kept = inputs;  // shares the buffers: a retry needs them
  Status st = backend_->run(plan_, std::move(inputs), outputs);
  if (st.code() != StatusCode::kResourceExhausted) return st;
  int64_t rows = -1;
  for (const Tensor& t : kept) {
    if (t.rank() == 0 || t.on_device() || (rows >= 0 && t.dim(0) != rows)) return st;
    rows = t.dim(0);
  }
  const int64_t half = rows / 2;
  if (rows < 2 || half < options_.min_retry_rows) {
    return st.with_context("out of memory even at " + std::to_string(rows) + " rows: ");
  }
  log_line("engine: a batch of " + std::to_string(rows) + " rows ran out of memory (" + st.message() +
           "); retrying as " + std::to_string(half) + " + " + std::to_string(rows - half) + " rows");
  std::vector<Tensor> first, second, out_first, out_second;
  for (const Tensor& t : kept) {
    first.push_back(rows_of(t, 0, half));
    second.push_back(rows_of(t, half, rows - half));
  }
  kept.clear();
  SS_RETURN_IF_ERROR(run_splitting(std::move(first), &out_first));
  SS_RETURN_IF_ERROR(run_splitting(std::move(second), &out_second));
  outputs->clear();
  for (std::size_t k = 0; k < out_first.size(); ++k) {
    const Tensor& a = out_first[k];
    const Tensor& b = out_second[k];
    if (a.rank() == 0 || a.dim(0) != half || b.dim(0) != rows - half || a.dtype() != b.dtype()) {
      return internal_error("output '" + graph_.outputs[k].name + "' is not one row per input row, so a batch that ran out of memory cannot be split");
    }
    Shape s = a.shape();
    s[0] = rows;
    Tensor joined(a.dtype(), s);
    std::memcpy(joined.raw(), a.raw(), a.nbytes());
    std::memcpy(static_cast<std::byte*>(joined.raw()) + a.nbytes(), b.raw(), b.nbytes());
    outputs->push_back(std::move(joined));
  }
  return ok_status();
}

namespace {

// How engine_probe_rows' refusals begin (engine_probe_refused).
const std::string kProbeRefusal = "model output '";

// `count` rows of zeros of each input, row `ones` of them ones (-1: none).
std::vector<Tensor> probe_inputs(const std::vector<RowSpec>& rows, int64_t count, int64_t ones) {
  std::vector<Tensor> xs;
  for (const RowSpec& r : rows) {
    Shape shape{count};
    shape.insert(shape.end(), r.row_shape.begin(), r.row_shape.end());
    Tensor x(r.dtype, shape);
    std::memset(x.raw(), 0, x.nbytes());
    const int64_t per_row = count > 0 ? x.numel() / count : 0;
    for (int64_t i = ones * per_row; ones >= 0 && i < (ones + 1) * per_row; ++i) {
      auto* b = static_cast<std::byte*>(x.raw()) + static_cast<std::size_t>(i) * dtype_size(r.dtype);
      switch (r.dtype) {
        case DType::kFloat32: *reinterpret_cast<float*>(b) = 1.0f; break;
        case DType::kFloat64: *reinterpret_cast<double*>(b) = 1.0; break;
        case DType::kFloat16: *reinterpret_cast<uint16_t*>(b) = 0x3C00; break;
        case DType::kBFloat16: *reinterpret_cast<uint16_t*>(b) = 0x3F80; break;
        default: {  // integers and bool: 1 in the lowest byte (little-endian)
          *b = std::byte{1};
          break;
        }
      }
    }
    xs.push_back(std::move(x));
  }
  return xs;
}

// Element i of a float32 / float64 tensor as a double, compared by value (any NaN equal to any
// other, -0 to +0) and shown in the refusal; nullopt for the other types, compared bit for bit.
std::optional<double> float_value(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kFloat32: return t.data<float>()[i];
    case DType::kFloat64: return t.data<double>()[i];
    default: return std::nullopt;
  }
}

// A recurrent op in layout 0 whose input is a graph input (directly, or through Casts and the
// job's RawInput): it reads the rows' dimension 0 as time, the likely cause of a refusal, named.
std::string recurrent_time_major_hint(const Graph& g) {
  std::set<std::string> from_inputs;
  for (const auto& in : g.inputs) from_inputs.insert(in.name);
  for (const Node& n : g.nodes) {
    if (n.inputs.empty() || n.outputs.empty() || !from_inputs.count(n.inputs[0])) continue;
    if ((n.op_type == "Cast" && n.domain.empty()) || (n.op_type == "RawInput" && n.domain == "shardscore")) {
      from_inputs.insert(n.outputs[0]);
    } else if (n.domain.empty() && (n.op_type == "LSTM" || n.op_type == "GRU" || n.op_type == "RNN") &&
               n.attr_int("layout", 0) == 0) {
      return "; " + n.describe() + " reads dimension 0 of the model's input as time (layout 0): a model for "
             "shardscore takes batch-major rows [batch, seq_length, ...] and transposes them for the op, as torch "
             "exports batch_first=True layers";
    }
  }
  return "";
}

}  // namespace

bool engine_probe_refused(const Status& st) {
  return st.code() == StatusCode::kUnimplemented && st.message().rfind(kProbeRefusal, 0) == 0;
}

StatusOr<std::vector<Tensor>> engine_probe_rows(const Engine& engine, const std::vector<RowSpec>& rows) {
  const auto& outputs = engine.graph().outputs;
  const std::string recurrent_hint = recurrent_time_major_hint(engine.graph());
  // Every output's shape: `rows` entries in dimension 0, each of the 2-row run's row shape.
  const auto check_shapes = [&](const std::vector<Tensor>& got, int64_t count, const std::vector<Tensor>* two,
                                const char* how) -> Status {
    for (std::size_t k = 0; k < got.size(); ++k) {
      const Tensor& t = got[k];
      const bool rows_ok = t.rank() >= 1 && t.dim(0) == count;
      if (rows_ok && (!two || Shape(t.shape().begin() + 1, t.shape().end()) ==
                                  Shape((*two)[k].shape().begin() + 1, (*two)[k].shape().end()))) {
        continue;
      }
      return unimplemented(kProbeRefusal + outputs[k].name + "' has shape " + shape_to_string(t.shape()) + " for " +
                           std::to_string(count) + " rows" + how +
                           (two ? " and " + shape_to_string((*two)[k].shape()) + " for 2" : std::string()) +
                           " (the trial on rows of zeros before scoring); shardscore writes outputs with one entry "
                           "per input row, in their first dimension, of one shape whatever the rows" + recurrent_hint);
    }
    return ok_status();
  };
  // The rows other than `one_row` of the runs on zeros and with that row of ones: equal (float_value).
  const auto compare_rows = [&](const std::vector<Tensor>& zeros, const std::vector<Tensor>& ones, int64_t one_row) -> Status {
    for (std::size_t k = 0; k < zeros.size(); ++k) {
      const Tensor& a = zeros[k];
      const Tensor& b = ones[k];
      const int64_t per_row = a.numel() / 3;
      const std::size_t size = dtype_size(a.dtype());
      for (int64_t i = 0; i < a.numel(); ++i) {
        if (i / per_row == one_row) continue;
        const auto va = float_value(a, i), vb = float_value(b, i);
        const bool same = va && vb ? (*va == *vb || (std::isnan(*va) && std::isnan(*vb)))
                                   : std::memcmp(static_cast<const std::byte*>(a.raw()) + i * size,
                                                 static_cast<const std::byte*>(b.raw()) + i * size, size) == 0;
        if (same) continue;
        const auto text = [](double v) {
          std::ostringstream o;
          o << v;
          return o.str();
        };
        return unimplemented(kProbeRefusal + outputs[k].name + "' mixes rows: row " + std::to_string(i / per_row) +
                             "'s value " + (va && vb ? "changes from " + text(*va) + " to " + text(*vb) : "changes") +
                             " when row " + std::to_string(one_row) +
                             " of its batch changes (the trial on rows of zeros, then one row of ones, before "
                             "scoring); scored batch by batch, its values would follow run.batch_size and the rank "
                             "count (a reduction, a cumulative sum or a normalization across rows, or a Reshape that "
                             "folds them together), so shardscore does not score it" + recurrent_hint);
      }
    }
    return ok_status();
  };
  std::vector<Tensor> two, zeros, ones;
  SS_RETURN_IF_ERROR(engine.run(probe_inputs(rows, 2, -1), &two));
  SS_RETURN_IF_ERROR(check_shapes(two, 2, nullptr, ""));
  SS_RETURN_IF_ERROR(engine.run(probe_inputs(rows, 3, -1), &zeros).with_context("3 rows of zeros: "));
  SS_RETURN_IF_ERROR(check_shapes(zeros, 3, &two, ""));
  // The same 3 rows with row 2, then row 0, of ones: the same shapes take the same kernels, so the
  // other rows, scored apart, keep their bits. Row 2 catches what looks at later rows, row 0 what
  // looks at earlier ones (CumSum down the rows) and a model fixed at 2 rows, which runs rows 0 and 1
  // together and row 2 apart. Where ones cannot run (an index out of range) nothing is compared.
  for (const int64_t one_row : {int64_t{2}, int64_t{0}}) {
    if (!engine.run(probe_inputs(rows, 3, one_row), &ones).ok()) return two;
    SS_RETURN_IF_ERROR(check_shapes(ones, 3, &two, one_row == 2 ? " (the last of ones)" : " (the first of ones)"));
    SS_RETURN_IF_ERROR(compare_rows(zeros, ones, one_row));
  }
  return two;
}

}  // namespace shardscore
