#pragma once
// The run report: per-shard statistics and verdicts as JSON beside the output (schema in
// README.md, "Report"), and a short human summary. Also the wire format that carries shard
// statistics from every rank to rank 0.
#include <string>
#include <vector>

#include "common/status.h"
#include "quality/shard_stats.h"

namespace shardscore {

struct RunInfo {
  std::string version;
  std::string commit;  // the sources' commit (SHARDSCORE_COMMIT): which build wrote the output
  // Rank 0's working directory: the paths below are recorded as the job gave them, and a relative
  // one is relative to it.
  std::string working_directory;
  int ranks = 1;
  std::string backend;
  std::string model_path, model_sha256;
  // The model's external data files (as the model names them) and their SHA-256; empty without.
  std::vector<std::pair<std::string, std::string>> model_external_data;
  std::string input_path, input_dataset, input_dtype;
  int64_t input_rows = 0, input_features = 0;
  struct Binding {
    std::string model_input, dataset, dtype;
    std::vector<int64_t> row_shape;
  };
  std::vector<Binding> input_bindings;  // one per model input
  std::vector<FeatureInfo> features;    // per checked input feature (quality/shard_stats.h); may be empty
  std::string output_path;
  std::string output_format = "hdf5";  // "hdf5" (one file) or "parquet" (a folder)
  std::vector<std::string> output_datasets;
  double seconds = 0;          // the whole job: model load, setup, scoring, report
  double scoring_seconds = 0;  // the pipeline alone on rank 0: first read to last collective write
  bool collective_writes = true;
  int threads_per_rank = 1;
  // Where each rank ran, in rank order: its host and what scored there ("cpu", or the GPU as
  // Backend::device() names it).
  struct Placement {
    int rank = 0;
    std::string host, device;
  };
  std::vector<Placement> placement;
};

struct ShardVerdict {
  ShardStats stats;
  std::vector<CheckResult> checks;
  bool passed() const;
};

// Shard statistics <-> bytes (JSON text), for gathering to rank 0.
std::string report_encode_shards(const std::vector<ShardStats>& shards);
StatusOr<std::vector<ShardStats>> report_decode_shards(const std::string& text);

// Whole report as JSON text (shards in id order).
std::string report_json(const RunInfo& info, const std::vector<ShardVerdict>& shards);
// `path`.tmp-<pid>: this process's temporary name for the report (two jobs writing the same
// report path at once never share one).
std::string report_temp_path(const std::string& path);
// Writes text to report_temp_path(path) and flushes it to disk (fsync); removes it again when that
// fails (a full disk).
Status report_write_temp(const std::string& path, const std::string& text);
// Moves report_temp_path(path) to `path` and syncs its folder (sync_parent_folder_or_warn).
// replace: output.overwrite (else a report that appeared meanwhile is kept: kAlreadyExists).
Status report_commit(const std::string& path, bool replace = true);
// Removes report_temp_path(path), if there is one.
void report_discard(const std::string& path);
// Writes text to path via a temporary file and a rename (report_write_temp, report_commit).
Status report_write_file(const std::string& path, const std::string& text);
// A few lines for stdout: totals, throughput, verdict, and each failed check.
std::string report_summary(const RunInfo& info, const std::vector<ShardVerdict>& shards, const std::string& report_path);

// "1.5 s, 100 rows/s": a span and its rate (0 rows/s for a span of 0), as the summary gives the
// job's and the scoring pipeline's and the last progress line the scoring pipeline's.
std::string span_and_rate(double rows, double seconds);

}  // namespace shardscore
