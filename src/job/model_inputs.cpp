#include "job/model_inputs.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "mpi/mpi_util.h"
#include "reader/hdf5_reader.h"
#if SHARDSCORE_HAVE_PARQUET
#include "reader/parquet_reader.h"
#endif

namespace shardscore {

namespace {
// In any case, as the files of an input folder are matched: "SCORES.PARQUET" is Parquet too.
bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         std::equal(suffix.begin(), suffix.end(), s.end() - static_cast<std::ptrdiff_t>(suffix.size()),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); });
}
}  // namespace

bool job_input_is_parquet(const std::string& path, MPI_Comm comm) {
  std::error_code ec;
  return mpi_bcast_bool(ends_with(path, ".parquet") || ends_with(path, ".pq") || std::filesystem::is_directory(path, ec), 0, comm);
}

bool job_output_is_parquet(const std::string& path, MPI_Comm comm) {
  std::error_code ec;
  return mpi_bcast_bool(ends_with(path, ".parquet") || ends_with(path, ".pq") || ends_with(path, "/") ||
                            std::filesystem::is_directory(path, ec),
                        0, comm);
}

std::string input_binding_describe(const InputBinding& b) {
  return b.model_input + " <- " + b.dataset + " (" + b.reader->stored_type() + " " +
         shape_to_string(b.reader->row_shape()) + (b.nhwc ? ", NHWC -> NCHW" : "") +
         (b.on_backend ? ", preprocessed on the backend" : "") +
         (b.reader->read_mode().empty() ? "" : ", " + b.reader->read_mode()) + ")";
}

bool input_read_into_tensor(const InputBinding& b) {
  if (b.on_backend) return true;
  if (b.preprocessed) return !b.nhwc && b.reader->dtype() == b.model_dtype;  // float32 or float64 rows
  return b.reader->dtype() == b.model_dtype;
}

StatusOr<std::vector<std::string>> job_preprocess_on_backend(const JobConfig& job, Engine& engine,
                                                            std::vector<InputBinding>& inputs) {
  const std::string& where = job.preprocess.where;
  std::vector<std::string> moved;
  if (where == "host" || (where == "auto" && engine.backend_name() != "cuda")) return moved;
  std::vector<RawInput> raw;
  for (const InputBinding& b : inputs) {
    const DType t = b.reader->dtype();
    const bool small_int = t == DType::kUInt8 || t == DType::kInt8 || t == DType::kUInt16 || t == DType::kInt16;
    // Images and 1-D rows: their features are the model input's dimension 1, where mean / std go.
    const std::size_t rank = b.reader->row_shape().size();
    // The model's RawInput gives float32: a float64 model input stays on the host.
    if (!b.preprocessed || b.model_dtype != DType::kFloat32 || !small_int || !b.spec.impute.empty() ||
        !b.spec.clip_min.empty() || (rank != 1 && rank != 3)) {
      continue;
    }
    raw.push_back({b.model_input, t, b.nhwc, b.spec.scale, b.spec.mean, b.spec.std});
  }
  SS_RETURN_IF_ERROR(engine.take_raw_inputs(raw));
  for (InputBinding& b : inputs) {
    if (std::none_of(raw.begin(), raw.end(), [&](const RawInput& r) { return r.name == b.model_input; })) continue;
    b.on_backend = true;
    b.model_dtype = b.reader->dtype();
    b.model_row_shape = b.reader->row_shape();
    moved.push_back(b.model_input);
  }
  return moved;
}

namespace {

bool dtype_is_integer(DType t) {
  return t != DType::kUndefined && t != DType::kBool && !dtype_is_float(t);
}

Status bind_one(const JobConfig& job, const ValueInfo& in, InputBinding* b) {
  const RowReader& r = *b->reader;
  const std::string where = "dataset '" + b->dataset + "' in '" + job.input.path + "' (model input '" + in.name + "')";
  b->model_dtype = in.dtype;
  b->model_row_shape = r.row_shape();
  if (in.dtype == DType::kFloat32 || in.dtype == DType::kFloat64) {
    b->preprocessed = true;
    const Shape& rs = r.row_shape();
    if (rs.size() == 3) {  // an image
      b->nhwc = job.preprocess.layout == "nhwc";
      b->features = b->nhwc ? rs[2] : rs[0];
      b->inner = rs[0] * rs[1] * rs[2] / std::max<int64_t>(b->features, 1);
      if (b->nhwc) b->model_row_shape = {rs[2], rs[0], rs[1]};
    } else if (rs.size() == 1) {
      b->features = rs[0];
    } else {
      b->features = 1;
      b->inner = r.row_elements();
    }
  } else if (dtype_is_integer(in.dtype)) {
    if (!dtype_is_integer(r.dtype())) {
      return invalid_argument(where + " holds " + std::string(dtype_name(r.dtype())) + " but the model input takes " +
                              std::string(dtype_name(in.dtype)) + "; integer inputs (token ids, masks) need an integer dataset");
    }
  } else {
    return unimplemented("model '" + job.model.path + "' input '" + in.name + "' takes " + std::string(dtype_name(in.dtype)) +
                         "; this version feeds float32, float64 and integer inputs");
  }
  if (!in.dims.empty()) {
    bool fits = in.dims.size() == b->model_row_shape.size() + 1;
    for (std::size_t d = 1; fits && d < in.dims.size(); ++d) fits = in.dims[d] < 0 || in.dims[d] == b->model_row_shape[d - 1];
    if (!fits) {
      // A row's shape, beside the model's for one row: the dataset's own first dimension (its row
      // count) is not what differs.
      const Shape& row = b->model_row_shape;
      const Shape want(in.dims.begin() + 1, in.dims.end());
      std::string msg = where + " gives the model rows of shape " + shape_to_string(row) +
                        (row.empty() ? " (a dataset of one dimension: one value a row)" : "") +
                        " but the model expects rows of shape " + shape_to_string(want) + " (its input is " +
                        shape_to_string(in.dims) + ")";
      if (row.empty() && want == Shape{1}) {
        msg += "; store the values as a dataset of [rows, 1] (numpy: x.reshape(-1, 1))";
      } else if (const auto is = [](int64_t got, int64_t w) { return w < 0 || got == w; };
                 !b->nhwc && row.size() == 3 && want.size() == 3 && is(row[2], want[0]) && is(row[0], want[1]) &&
                 is(row[1], want[2])) {
        msg += "; the rows look channels-last ([H, W, C]): set preprocess.layout = \"nhwc\"";
      }
      if (b->model_row_shape.size() == 1 && in.dims.size() == 2) {
        msg = "input " + where + " has " + std::to_string(b->model_row_shape[0]) + " features but model '" +
              job.model.path + "' input '" + in.name + "' expects shape " + shape_to_string(in.dims);
#if SHARDSCORE_HAVE_PARQUET
        // Too few features: say which columns were left out of them.
        if (const auto* pq = dynamic_cast<const ParquetReader*>(&r);
            pq && !pq->left_out_columns().empty() && in.dims[1] > b->model_row_shape[0]) {
          msg += "; left out of the default features (neither numbers nor strings with a vocabulary in "
                 "input.categories): ";
          for (std::size_t k = 0; k < pq->left_out_columns().size(); ++k) msg += (k ? ", " : "") + pq->left_out_columns()[k];
        }
#endif
      }
      return invalid_argument(msg);
    }
  }
  if (b->preprocessed) {
    const Shape& rs = r.row_shape();
    if (rs.size() != 1 && rs.size() != 3) {
      // Rows of another rank have no features: their values take one preprocessing value each.
      for (const auto* v : {&job.preprocess.impute, &job.preprocess.mean, &job.preprocess.std, &job.preprocess.clip_min,
                            &job.preprocess.clip_max}) {
        if (v->size() > 1) {
          return invalid_argument(where + " has rows of shape " + shape_to_string(rs) +
                                  ": preprocess values are per feature for rows of one dimension and per channel for "
                                  "images (rows [C, H, W]); for other rows give one value for every element");
        }
      }
    }
    if (b->model_dtype == DType::kFloat64) {
      SS_ASSIGN_OR_RETURN(b->spec64, preprocess_spec_make64(job.preprocess.impute, job.preprocess.mean, job.preprocess.std,
                                                            job.preprocess.clip_min, job.preprocess.clip_max, b->features));
      b->spec64.scale = job.preprocess.scale;
    } else {
      SS_ASSIGN_OR_RETURN(b->spec, preprocess_spec_make(job.preprocess.impute, job.preprocess.mean, job.preprocess.std,
                                                        job.preprocess.clip_min, job.preprocess.clip_max, b->features));
      b->spec.scale = static_cast<float>(job.preprocess.scale);
    }
  }
  return ok_status();
}

}  // namespace

namespace {

// The keys the job sets that are for the other format's input: refused, as every key the job does
// not use is, rather than left without effect.
Status check_input_format_keys(const JobConfig& job, bool parquet) {
  const InputFormat other = parquet ? InputFormat::kHdf5 : InputFormat::kParquet;
  const std::vector<std::string> others = job_config_keys_only_for(other);
  std::vector<std::string> set;
  for (const auto& key : job.keys_set)
    if (std::find(others.begin(), others.end(), key) != others.end()) set.push_back("'" + key + "'");
  if (set.empty()) return ok_status();
  const auto list = [](const std::vector<std::string>& keys) {
    std::string out;
    for (std::size_t k = 0; k < keys.size(); ++k) out += (k ? (k + 1 == keys.size() ? " and " : ", ") : "") + keys[k];
    return out;
  };
  std::string all;
  for (const auto& key : others) all += (all.empty() ? "" : ", ") + key;
  return invalid_argument(std::string(set.size() == 1 ? "job key " : "job keys ") + list(set) + (set.size() == 1 ? " is" : " are") +
                          " for " + (parquet ? "HDF5" : "Parquet") + " input, but '" + job.input.path + "' is read as " +
                          (parquet ? "Parquet (a *.parquet or *.pq file, or a folder), which feeds one model input from "
                                     "its columns"
                                   : "HDF5 (Parquet input is a *.parquet or *.pq file, or a folder)") +
                          "; remove " + (set.size() == 1 ? "it" : "them") + " (the keys for " + (parquet ? "HDF5" : "Parquet") +
                          " input only: " + all + ")");
}

StatusOr<std::vector<InputBinding>> bind_parquet(const JobConfig& job, const Graph& graph) {
  if (graph.inputs.size() != 1) {
    return invalid_argument("model '" + job.model.path + "' has " + std::to_string(graph.inputs.size()) +
                            " inputs; Parquet input feeds models with one (float) input");
  }
#if SHARDSCORE_HAVE_PARQUET
  ParquetInputSpec spec;
  spec.columns = job.input.columns;
  spec.id_column = job.input.id_column;
  spec.label_column = job.input.label_column;
  spec.categories = job.input.categories;
  spec.unknown_code = job.input.unknown_category;
  // A float64 model input is fed float64 rows: double columns exactly, not through float32.
  if (graph.inputs[0].dtype == DType::kFloat64) spec.dtype = DType::kFloat64;
  SS_ASSIGN_OR_RETURN(auto reader, ParquetReader::open(job.input.path, spec));
  InputBinding b;
  b.model_input = graph.inputs[0].name;
  b.dataset = "columns " + reader->describe_columns();
  b.reader = std::move(reader);
  SS_RETURN_IF_ERROR(bind_one(job, graph.inputs[0], &b));
  std::vector<InputBinding> out;
  out.push_back(std::move(b));
  return out;
#else
  return unimplemented("input '" + job.input.path +
                       "' is Parquet, but this build has no Parquet support (built without Apache Arrow C++; "
                       "run scripts/setup.sh, which installs it, and rebuild)");
#endif
}

// Where `b` is fed another size than an input bound before it in a dimension both name alike:
// "datasets 'A' and 'B' give model inputs ... sizes 24 and 16 in dimension 'S'", or "".
std::string shared_dim_mismatch(const Graph& graph, const std::vector<InputBinding>& bound, const ValueInfo& in,
                                const InputBinding& b) {
  for (std::size_t d = 1; d < in.dim_params.size() && d <= b.model_row_shape.size(); ++d) {
    if (in.dim_params[d].empty()) continue;
    for (const InputBinding& o : bound) {
      const auto other = std::find_if(graph.inputs.begin(), graph.inputs.end(), [&](const ValueInfo& v) { return v.name == o.model_input; });
      if (other == graph.inputs.end()) continue;
      for (std::size_t e = 1; e < other->dim_params.size() && e <= o.model_row_shape.size(); ++e) {
        if (other->dim_params[e] != in.dim_params[d] || o.model_row_shape[e - 1] == b.model_row_shape[d - 1]) continue;
        return "datasets '" + o.dataset + "' and '" + b.dataset + "' give model inputs '" + o.model_input + "' and '" +
               in.name + "' sizes " + std::to_string(o.model_row_shape[e - 1]) + " and " +
               std::to_string(b.model_row_shape[d - 1]) + " in dimension '" + in.dim_params[d] +
               "', which the model names alike";
      }
    }
  }
  return "";
}

}  // namespace

StatusOr<std::vector<InputBinding>> job_bind_inputs(const JobConfig& job, const Graph& graph, MPI_Comm comm) {
  // Every rank has the same job (agreed before) and, from rank 0, the same format: all refuse alike.
  const bool parquet = job_input_is_parquet(job.input.path, comm);
  SS_RETURN_IF_ERROR(check_input_format_keys(job, parquet));
  if (parquet) return bind_parquet(job, graph);
  std::vector<std::pair<std::string, std::string>> wanted;  // model input -> dataset
  if (job.input.datasets.empty()) {
    if (graph.inputs.size() != 1) {
      std::string names;
      for (const auto& in : graph.inputs) names += (names.empty() ? "" : ", ") + in.name;
      return invalid_argument("model '" + job.model.path + "' has " + std::to_string(graph.inputs.size()) + " inputs (" + names +
                              "): name a dataset for each in input.datasets, e.g. { " + graph.inputs[0].name + " = \"/" +
                              graph.inputs[0].name + "\", ... }");
    }
    wanted.emplace_back(graph.inputs[0].name, job.input.dataset);
  } else {
    std::set<std::string> model_names;
    for (const auto& in : graph.inputs) model_names.insert(in.name);
    for (const auto& [name, ds] : job.input.datasets) {
      if (!model_names.count(name)) {
        return invalid_argument("job key 'input.datasets' names '" + name + "', which is not an input of model '" +
                                job.model.path + "'");
      }
    }
    for (const auto& in : graph.inputs) {
      auto it = std::find_if(job.input.datasets.begin(), job.input.datasets.end(), [&](const auto& kv) { return kv.first == in.name; });
      if (it == job.input.datasets.end()) {
        return invalid_argument("model input '" + in.name + "' has no dataset: add it to job key 'input.datasets'");
      }
      wanted.emplace_back(in.name, it->second);
    }
  }

  std::vector<InputBinding> out;
  int64_t offset = 0;
  for (std::size_t k = 0; k < wanted.size(); ++k) {
    InputBinding b;
    b.model_input = wanted[k].first;
    b.dataset = wanted[k].second;
    SS_ASSIGN_OR_RETURN(auto reader, Hdf5Reader::open(job.input.path, b.dataset, comm));  // agreed inside
    b.reader = std::move(reader);
    // What the file holds decides these, and a node-local copy may differ: agreed before the next
    // collective open (or the return that closes the files), which every rank must reach together.
    Status st = bind_one(job, graph.inputs[k], &b);
    if (st.ok() && !out.empty() && b.reader->rows() != out[0].reader->rows()) {
      st = invalid_argument("datasets '" + out[0].dataset + "' and '" + b.dataset + "' in '" + job.input.path + "' have " +
                            std::to_string(out[0].reader->rows()) + " and " + std::to_string(b.reader->rows()) +
                            " rows; every model input needs one row per input row");
    }
    if (st.ok()) b.shared_dim_mismatch = shared_dim_mismatch(graph, out, graph.inputs[k], b);
    SS_RETURN_IF_ERROR(mpi_agree_where(st, comm));
    b.feature_offset = offset;
    if (b.preprocessed) offset += b.features;
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace shardscore
