#pragma once
// The job: what to score, with which model, where to write, and the thresholds of the checks.
//
// A job is a TOML file (documented in README.md, "Job file") plus command-line overrides, each
// "section.key=value". Every key is checked against the schema below: an unknown section or key,
// or a value of the wrong type, is an InvalidArgument naming the key. Relative paths are taken
// relative to the current working directory.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace shardscore {

enum class InputFormat { kHdf5, kParquet };

struct JobConfig {
  struct Input {
    std::string path;
    std::string dataset = "/features";  // for a model with one input
    // For models with several inputs: model input name -> dataset, in the job's order. When
    // given, every model input must be named here (and `dataset` is not used).
    std::vector<std::pair<std::string, std::string>> datasets;
    // Parquet input only (see reader/parquet_reader.h): feature columns (empty: every numeric
    // column), the optional id and label columns, and the vocabulary of each string column.
    std::vector<std::string> columns;
    std::string id_column, label_column;
    std::vector<std::pair<std::string, std::vector<std::string>>> categories;
    std::optional<int64_t> unknown_category;  // default: the vocabulary's size
  } input;
  struct Model {
    std::string path;
  } model;
  struct Output {
    std::string path;
    std::string report;  // empty: <output path>.report.json
    bool overwrite = false;
    // The model outputs written, by name, in this order; empty: every output of the model. The
    // others, and whatever only they need, are not computed.
    std::vector<std::string> outputs;
  } output;
  struct Run {
    int64_t batch_size = 4096;
    int64_t shard_rows = 65536;  // target; rounded down to whole HDF5 chunks (at least one)
    int64_t threads = 0;         // 0: cores on the node / ranks on the node
    std::string backend = "cpu";    // cpu, cuda, auto
    std::string precision = "fp32"; // the CUDA backend's: fp32, tf32, fp16, bf16
    double progress_interval = 5.0;  // seconds between plain progress lines
  } run;
  // Each is empty (off), one value (all features) or one value per feature.
  // Applies to float model inputs; integer inputs (token ids, masks) are only cast.
  // "Feature" is the last dimension of a 2-D input and the channel of an image input.
  struct Preprocess {
    std::string layout = "nchw";  // "nhwc": image datasets [N,H,W,C] are transposed to [N,C,H,W]
    // Where the chain runs for inputs stored as 8- or 16-bit integers without impute or clip (uint8
    // images): "auto" (on the backend when it is CUDA, else on the host), "backend", "host".
    std::string where = "auto";
    double scale = 1.0;           // x -> x * scale, after imputation
    std::vector<double> impute;  // NaN -> this value
    std::vector<double> mean;    // x -> (x - mean) / std
    std::vector<double> std;
    std::vector<double> clip_min;  // applied after standardization
    std::vector<double> clip_max;
  } preprocess;
  struct Checks {
    double max_missing_fraction = 1.0;  // per input feature, NaN share before imputation
    double max_inf_fraction = 0.0;      // per input feature
    bool allow_nan_outputs = false;
    bool allow_inf_outputs = false;
  } checks;
  // Prometheus Pushgateway (report/metrics.h): empty URL = no push.
  struct Metrics {
    std::string pushgateway;
    std::string job = "shardscore";
    std::string instance;  // default: the job file's name without its extension ("nightly")
  } metrics;

  std::string source;     // where the job came from (file path), for messages
  // Every key the job sets ("input.columns"), in the schema's order: a key set to its default
  // counts, which the values above cannot tell (job_config_keys_only_for).
  std::vector<std::string> keys_set;
  std::string toml_text;  // the job as run: the file with every override applied
  // Report path with the default applied.
  // Beside the output: a Parquet folder "out.parquet/" gets "out.parquet.report.json".
  std::string report_path() const {
    if (!output.report.empty()) return output.report;
    std::string p = output.path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p + ".report.json";
  }
};

// Parses TOML text (named `source` in messages), applies overrides in order, validates.
StatusOr<JobConfig> job_config_parse(std::string_view toml_text, const std::string& source,
                                     const std::vector<std::string>& overrides);
// Reads the file, then as job_config_parse. A missing or unreadable file is NotFound.
StatusOr<JobConfig> job_config_load(const std::string& path, const std::vector<std::string>& overrides);

// Where a job that failed to load (an unknown key, a bad value, a syntax error elsewhere) pushes
// its failure: [metrics] of the file and the metrics.* overrides, read on their own. The pushgateway
// is empty where they name none or a bad one (or the file cannot be read or parsed).
JobConfig::Metrics job_config_metrics_of_failed(const std::string& path, const std::vector<std::string>& overrides);

// The keys that apply to input of `format` only ("input.columns", ... for Parquet; "input.dataset",
// "input.datasets" for HDF5), in the schema's order: the format of the input decides, when the job
// runs, whether the ones set are refused.
std::vector<std::string> job_config_keys_only_for(InputFormat format);

// One line per key: "section.key  default  meaning" (for run --help).
std::string job_config_describe_keys();

}  // namespace shardscore
