#include "job/run_job.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <map>
#include <new>
#include <thread>

#include "common/durable.h"
#include "common/log.h"
#include "common/process_limits.h"
#include "common/sha256.h"
#include "engine/engine.h"
#include "job/model_inputs.h"
#include "job/output_sink.h"
#include "mpi/mpi_util.h"
#include "preprocess/transforms.h"
#include "quality/shard_stats.h"
#include "reader/hdf5_reader.h"
#if SHARDSCORE_HAVE_PARQUET
#include "arrowio/arrow_util.h"
#include "reader/parquet_reader.h"
#endif
#include "report/report.h"
#include "shard/shard_plan.h"
#include "shardscore/source_id.h"
#include "shardscore/version.h"

namespace shardscore {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// "[begin, end)", as batch errors name their rows.
std::string batch_rows(const Batch& b) {
  // Appended piece by piece: "[" + std::string&& trips GCC 12's false -Wrestrict (its bug 105329).
  std::string s = "[";
  s += std::to_string(b.row_begin);
  s += ", ";
  s += std::to_string(b.row_end);
  s += ")";
  return s;
}

// What the user can change when a batch ran out of memory (ResourceExhausted, exit 1: another run,
// or another node, may have it): the engine's split batches too, or run_job's own buffers.
constexpr const char* kLessMemory = "lower run.batch_size (--set run.batch_size=N), or run fewer ranks per node";

// Everything one batch carries through the pipeline.
struct BatchWork {
  Batch batch;
  // One per model input: the rows as stored, for an input that the host converts (raw), or read
  // straight into the tensor the engine is fed (xs: input_read_into_tensor).
  std::vector<std::shared_ptr<std::byte>> raw;
  std::vector<Tensor> xs;
  std::shared_ptr<RowIds> ids;               // Parquet id column -> Parquet output only
  std::vector<Tensor> outputs;
  ShardStats stats;
  Status status;
  Clock::time_point started;
};

// Each output's type and per-row shape, from the model's trial on rows of zeros (engine_probe_rows).
StatusOr<std::vector<OutputColumn>> probe_outputs(const Engine& engine, const std::vector<InputBinding>& inputs) {
  std::vector<RowSpec> rows;
  for (const auto& b : inputs) rows.push_back({b.model_dtype, b.model_row_shape});
  auto outs_or = engine_probe_rows(engine, rows);
  if (!outs_or.ok()) {
    const Status& st = outs_or.status();
    if (engine_probe_refused(st)) return st;
    std::string cause;
    for (const auto& b : inputs)
      if (!b.shared_dim_mismatch.empty()) cause = " (" + b.shared_dim_mismatch + ")";
    return st.with_context("model '" + engine.graph().source + "' cannot run on the input's rows" + cause + ": ");
  }
  const std::vector<Tensor>& outs = outs_or.value();
  std::vector<OutputColumn> cols;
  for (std::size_t k = 0; k < outs.size(); ++k) {
    cols.push_back({engine.graph().outputs[k].name, outs[k].dtype(), Shape(outs[k].shape().begin() + 1, outs[k].shape().end())});
  }
  return cols;
}

// output.path without trailing slashes ("out.parquet/" names the folder "out.parquet").
std::string output_path_of(const JobConfig& job) {
  std::string p = job.output.path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// Whether `dir` can hold a new file: NotFound where it is missing, InvalidArgument where it, or a
// folder above it, is not a folder; open_error's code where a folder above it cannot be searched.
// `what` names it in messages ("report folder 'r' (output.report)").
Status check_folder(const std::filesystem::path& dir, const std::string& what, const std::string& note = "") {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return ok_status();
  const std::string named = what + " '" + dir.string() + "'" + note;
  for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
    const fs::file_status s = fs::status(p, ec);
    if (fs::exists(s)) {
      if (fs::is_directory(s)) break;
      const std::string kind = fs::is_regular_file(s) ? "a file" : "a device, FIFO or socket";
      if (p == dir) return invalid_argument(named + " is " + kind + ", not a folder");
      return invalid_argument(named + " does not exist: '" + p.string() + "' is " + kind + ", not a folder");
    }
    // stat refused for another reason than absence (EACCES: a folder above cannot be searched):
    // whether it exists is unknown, and "does not exist" would send the user looking for a typo.
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
      return open_error(ec.value(), named + " cannot be reached" + (p == dir ? "" : ": '" + p.string() + "'"));
    }
    if (p == p.parent_path()) break;
  }
  return not_found(named + " does not exist");
}

// Where the output is written until it is complete: a hidden name beside it, this process's own.
std::string temp_path_for(const std::string& output) {
  namespace fs = std::filesystem;
  fs::path out(output);
  fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  return (dir / ("." + out.filename().string() + ".partial-" + process_unique_suffix())).string();
}

Status check_output_path(const JobConfig& job, bool parquet) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string path = output_path_of(job);
  fs::path out(path);
  fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
#if !SHARDSCORE_HAVE_PARQUET
  if (parquet) {
    return unimplemented("output '" + job.output.path + "' is a Parquet folder, but this build has no Parquet support "
                         "(built without Apache Arrow C++; run scripts/setup.sh, which installs it, and rebuild)");
  }
#endif
  SS_RETURN_IF_ERROR(check_folder(dir, "output folder"));
  // Checked here, before any row is read: otherwise only making the temporary output would find it,
  // and a report folder that defaults to this one would be named for it.
  if (::access(dir.c_str(), W_OK) != 0) {
    return invalid_argument("output folder '" + dir.string() + "' is not writable: " + std::strerror(errno));
  }
  // Only files (and a Parquet output's folder) are replaced: overwrite once put a report over the
  // system's /dev/full, and a FIFO or socket there is someone's, not an earlier output.
  for (const auto& [what, p] : {std::pair<std::string, fs::path>{"output", out}, {"report", fs::path(job.report_path())}}) {
    const fs::file_status s = fs::status(p, ec);
    if (fs::exists(s) && !fs::is_regular_file(s) && !fs::is_directory(s)) {
      return invalid_argument(what + " '" + p.string() + "' is a device, FIFO or socket, not a file; not writing over it");
    }
  }
  if (fs::exists(out, ec)) {
    if (!parquet && fs::is_directory(out, ec)) return invalid_argument("output '" + job.output.path + "' is a directory");
    if (!job.output.overwrite) {
      return already_exists("output '" + job.output.path + "' exists; set output.overwrite = true (or --set output.overwrite=true) to replace it");
    }
    // Overwrite removes a Parquet folder whole: only one that shardscore (or Spark) finished, or an empty one.
    if (parquet && fs::is_directory(out, ec) && !fs::exists(out / "_SUCCESS", ec) && !fs::exists(out / "_manifest.json", ec) &&
        !fs::is_empty(out, ec)) {
      return invalid_argument("output '" + job.output.path +
                              "' is a folder that is not a finished Parquet output (no _SUCCESS); not replacing it");
    }
  }
  // Whether `p` is `base` or lies inside it (symbolic links and relative paths resolved).
  const auto within = [](const fs::path& p, const fs::path& base) {
    std::error_code e;
    const fs::path a = fs::weakly_canonical(p, e), b = fs::weakly_canonical(base, e);
    const auto rel = a.lexically_relative(b);
    return !rel.empty() && *rel.begin() != "..";
  };
  // The finished output is moved over its path (a folder removed whole first): never over the
  // job's own input or model.
  if (within(job.input.path, path)) return invalid_argument("output '" + job.output.path + "' is or holds the input");
  if (within(job.model.path, path)) return invalid_argument("output '" + job.output.path + "' is or holds the model");
  // Nor over the job file, which the next night's run reads again.
  const std::string job_file = fs::is_regular_file(job.source, ec) ? job.source : std::string();
  if (!job_file.empty() && within(job_file, path)) {
    return invalid_argument("output '" + job.output.path + "' is or holds the job file");
  }
  // The report is written last: a folder that is not there would otherwise fail the job only
  // after every row was scored.
  const fs::path report(job.report_path());
  const fs::path report_dir = report.has_parent_path() ? report.parent_path() : fs::path(".");
  SS_RETURN_IF_ERROR(check_folder(report_dir, "report folder", " (output.report)"));
  if (::access(report_dir.c_str(), W_OK) != 0) {
    return invalid_argument("report folder '" + report_dir.string() + "' (output.report) is not writable: " +
                            std::strerror(errno));
  }
  if (fs::is_directory(report, ec)) return invalid_argument("report '" + report.string() + "' is a directory");
  // The output and the report are written under temporary names first, longer than their own: a
  // name that fits its folder but not with that failed only when it was made ("File name too long").
  const std::pair<fs::path, fs::path> named[] = {{out, fs::path(temp_path_for(path))},
                                                 {report, fs::path(report_temp_path(report.string()))}};
  for (const auto& [final_path, temp] : named) {
    const fs::path folder = final_path.has_parent_path() ? final_path.parent_path() : fs::path(".");
    const long name_max = ::pathconf(folder.c_str(), _PC_NAME_MAX);  // -1: no limit known
    const std::string name = final_path.filename().string(), temp_name = temp.filename().string();
    // The temporary name holds this process's id: counted at its longest (7 digits, Linux's largest
    // pid_max), so that the next run's does not pass the limit either.
    const long longest = static_cast<long>(temp_name.size() + 7 - std::to_string(::getpid()).size());
    if (name_max > 0 && longest > name_max) {
      return invalid_argument("the name '" + name + "' (" + (final_path == out ? "output" : "report") + ") is " +
                              std::to_string(name.size()) + " bytes, and with the temporary name shardscore writes it "
                              "under first (up to " + std::to_string(longest) + " bytes) it passes the folder's "
                              "limit of " + std::to_string(name_max) + ": shorten it by " +
                              std::to_string(longest - name_max) + " bytes or more");
    }
  }
  // The report is moved into place over whatever has its name: never the job's own files.
  const std::pair<std::string, std::string> own[] = {
      {"the output", path}, {"the input", job.input.path}, {"the model", job.model.path},
      {"the job file", job_file}};
  for (const auto& [what, other] : own) {
    if (!other.empty() && within(report, other)) {
      return invalid_argument("report '" + report.string() + "' (output.report) would overwrite " + what + " '" +
                              other + "'");
    }
  }
  if (fs::exists(report, ec) && !job.output.overwrite) {
    return already_exists("report '" + report.string() +
                          "' exists; set output.overwrite = true (or --set output.overwrite=true) to replace it");
  }
  return ok_status();
}

// Shards: whole Parquet row groups (never spanning files), or whole HDF5 chunks of the first input.
StatusOr<ShardPlan> plan_shards(const RowReader& r, const JobConfig& job, int size) {
#if SHARDSCORE_HAVE_PARQUET
  if (const auto* pq = dynamic_cast<const ParquetReader*>(&r)) {
    std::vector<ShardBlock> blocks;
    for (const auto& g : pq->row_groups()) blocks.push_back({g.rows, g.file});
    return shard_plan_make_blocks(blocks, job.run.shard_rows, size);
  }
#endif
  const auto* h5 = dynamic_cast<const Hdf5Reader*>(&r);
  // Contiguous storage: fixed row blocks.
  const int64_t chunk_rows = h5 && h5->chunk_rows() > 0 ? h5->chunk_rows() : 1;
  return shard_plan_make(r.rows(), chunk_rows, job.run.shard_rows, size);
}

// output.overwrite, once the job is about to write (rank 0): the earlier run's output and report go
// now, not only when this run's replace them, as Spark's overwrite mode does. A run that fails after
// this leaves nothing at the paths, where it left the earlier output and its report ("status":
// "passed") looking like its own. check_output_path has refused what must not be removed.
Status remove_earlier_output(const JobConfig& job, const std::string& output_path, bool talk) {
  namespace fs = std::filesystem;
  std::vector<std::string> removed;
  for (const auto& [what, path] : {std::pair<std::string, std::string>{"output", output_path}, {"report", job.report_path()}}) {
    std::error_code ec;
    const fs::file_status s = fs::symlink_status(path, ec);
    if (!fs::exists(s)) continue;
    if (fs::is_directory(s)) {
      fs::remove_all(path, ec);
    } else {
      fs::remove(path, ec);
    }
    if (ec) {
      return internal_error("output.overwrite: the earlier " + what + " '" + path + "' cannot be removed: " + ec.message());
    }
    removed.push_back(what + " '" + path + "'");
  }
  if (talk && !removed.empty()) {
    std::string line = "output.overwrite: removed the earlier ";
    for (std::size_t k = 0; k < removed.size(); ++k) line += (k ? " and " : "") + removed[k];
    log_line(line);
  }
  return ok_status();
}

// What plan_shards splits by, one line per Parquet file ("part-0.parquet: row groups of 10 10 4
// rows") or the HDF5 chunking: ranks that see other layouts under one name (a node-local copy
// exported or compacted otherwise) would plan other shards and lose or repeat rows.
std::string plan_layout(const RowReader& r) {
#if SHARDSCORE_HAVE_PARQUET
  if (const auto* pq = dynamic_cast<const ParquetReader*>(&r)) {
    std::vector<std::string> lines(pq->files().size());
    for (std::size_t f = 0; f < lines.size(); ++f) lines[f] = std::filesystem::path(pq->files()[f]).filename().string() + ": row groups of";
    for (const auto& g : pq->row_groups()) lines[static_cast<std::size_t>(g.file)].append(" ").append(std::to_string(g.rows));
    std::string text;
    for (const auto& line : lines) text += line + " rows\n";
    return text;
  }
#endif
  const auto* h5 = dynamic_cast<const Hdf5Reader*>(&r);
  if (!h5 || h5->chunk_rows() <= 0) return "contiguous";
  return "chunks of " + std::to_string(h5->chunk_rows()) + " rows";
}

// Rank 0: what earlier runs of this output left because they were killed before they could clean up
// (SIGKILL after Slurm's KillWait, the OOM killer, a lost node): their temporary output and report.
// Only said, never removed: another run may be writing this output right now, from another node.
void warn_leftovers(const JobConfig& job, const std::string& output_path) {
  namespace fs = std::filesystem;
  const fs::path out(output_path), report(job.report_path());
  const std::pair<fs::path, std::string> patterns[] = {
      {folder_of(output_path), "." + out.filename().string() + ".partial-"},
      {folder_of(job.report_path()), report.filename().string() + ".tmp-"}};
  std::string list;
  int count = 0;
  uintmax_t total = 0;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& [dir, prefix] : patterns) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind(prefix, 0) != 0) continue;
      uintmax_t bytes = 0;
      std::error_code e;
      if (it->is_directory(e)) {
        for (fs::recursive_directory_iterator r(it->path(), e), rend; !e && r != rend; r.increment(e))
          if (r->is_regular_file(e)) bytes += r->file_size(e);
      } else {
        bytes = it->file_size(e);
      }
      const auto age = std::chrono::duration<double, std::ratio<3600>>(now - it->last_write_time(e)).count();
      char hours[32];
      std::snprintf(hours, sizeof hours, "%.1f h old", age);
      list += (count ? ", " : "") + it->path().string() + " (" + mib_text(static_cast<double>(bytes)) + ", " + hours + ")";
      total += bytes;
      ++count;
    }
  }
  if (count == 0) return;
  log_warning(std::to_string(count) + " file(s) left by earlier runs of this output that were killed before they could " +
              "clean up, " + mib_text(static_cast<double>(total)) + " in all: " + list +
              "; remove them once no other run is writing this output");
}

// One file descriptor held from the start of a run, and given up for the removal of its temporary
// output when it fails: a Parquet folder is removed through an open directory, and a run that failed
// because the process ran out of file descriptors (EMFILE: a part file could not be created) still
// holds them all then. Without it the removal failed too, and the empty temporary folder stayed.
class ReservedFd {
 public:
  ReservedFd() : fd_(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {}
  ReservedFd(const ReservedFd&) = delete;
  ReservedFd& operator=(const ReservedFd&) = delete;
  ~ReservedFd() { give_up(); }
  void give_up() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Removes the temporary output on rank 0 unless released: a failed run leaves nothing behind.
class TempFileGuard {
 public:
  TempFileGuard(std::string path, bool owner, ReservedFd& reserve) : path_(std::move(path)), owner_(owner), reserve_(reserve) {}
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  ~TempFileGuard() {
    if (!owner_ || released_) return;
    reserve_.give_up();
    // Other ranks may be removing their own unfinished Parquet part files from the folder at the
    // same time, and remove_all gives up at the first entry that vanishes under it: so again,
    // until the folder is gone (a few tries: nothing new is written into it once a run failed).
    std::error_code ec;
    for (int attempt = 0; attempt < 50; ++attempt) {
      ec.clear();
      std::filesystem::remove_all(path_, ec);
      std::error_code gone;
      if (!std::filesystem::exists(path_, gone) && !gone) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    log_warning("could not remove the unfinished output '" + path_ + "'" + (ec ? ": " + ec.message() : std::string()) +
                "; remove it by hand");
  }
  void release() { released_ = true; }

 private:
  std::string path_;
  bool owner_;
  ReservedFd& reserve_;
  bool released_ = false;
};

// Rank 0's progress lines, timed from `start` (the scoring pipeline's start): rows/s so far and
// the time left. The last line gives the pipeline's whole span and rate, as the summary's
// "scoring" part does: "scoring 1.5 s, 100 rows/s" in both.
class Progress {
 public:
  Progress(bool enabled, int64_t total, double interval, Clock::time_point start)
      : enabled_(enabled), tty_(isatty(STDERR_FILENO) != 0), total_(total), interval_(interval), start_(start) {}
  void update(int64_t done) {
    if (!enabled_) return;
    const double now = seconds_since(start_);
    if (now - last_ < (tty_ ? 0.25 : interval_)) return;
    last_ = now;
    const double rate = now > 0 ? static_cast<double>(done) / now : 0;
    char line[160];
    std::snprintf(line, sizeof line, "scored %lld / %lld rows (%.1f%%), %.0f rows/s, ETA %.0f s",
                  static_cast<long long>(done), static_cast<long long>(total_), percent(done), rate,
                  rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0);
    if (tty_) log_live(line);
    else log_line(line);
  }
  // The last line, over the pipeline's span (`scoring_seconds`, as the report and summary have it).
  void finish(int64_t done, double scoring_seconds) {
    if (!enabled_) return;
    char line[96];
    std::snprintf(line, sizeof line, "scored %lld / %lld rows (%.1f%%): scoring ", static_cast<long long>(done),
                  static_cast<long long>(total_), percent(done));
    log_line(line + span_and_rate(static_cast<double>(done), scoring_seconds));
  }

 private:
  double percent(int64_t done) const {
    return total_ > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0;
  }
  bool enabled_, tty_;
  int64_t total_;
  double interval_;
  Clock::time_point start_;
  double last_ = 0;
};

}  // namespace

std::string job_formats() {
#if SHARDSCORE_HAVE_PARQUET
  return "hdf5, parquet (Apache Arrow " + arrow_build_version() + ")";
#else
  return "hdf5";
#endif
}

int job_node_local_rank(MPI_Comm comm) {
  MPI_Comm node;
  int local_rank = 0;
  if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_free(&node);
  }
  return local_rank;
}

int job_threads_per_rank(int64_t requested, MPI_Comm comm, std::string* binding_note) {
  MPI_Comm node;
  int local_ranks = 1;
  if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
    MPI_Comm_size(node, &local_ranks);
    MPI_Comm_free(&node);
  }
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  int affinity = cores;
  if (sched_getaffinity(0, sizeof set, &set) == 0) affinity = std::max(1, CPU_COUNT(&set));
  const int share = std::max(1, cores / std::max(1, local_ranks));
  const int cap = std::max(1, std::min(share, affinity));
  const int threads = requested > 0 ? static_cast<int>(std::min<int64_t>(requested, cap)) : cap;
  const int64_t wanted = requested > 0 ? std::min<int64_t>(requested, share) : share;
  if (binding_note) {
    binding_note->clear();
    if (affinity < wanted) {
      *binding_note = "this rank may run on " + std::to_string(affinity) + " of the node's " + std::to_string(cores) +
                      " cores (its CPU affinity: the launcher's binding, taskset or a cpuset), so it runs " + std::to_string(threads) + " thread(s), not " +
                      std::to_string(wanted) + "; for more, start it with mpirun --bind-to none (or --map-by slot:PE=" +
                      std::to_string(wanted) + ") or srun --cpus-per-task=" + std::to_string(wanted);
    } else if (requested > share) {
      *binding_note = "run.threads = " + std::to_string(requested) + " is more than this rank's share of the node (" +
                      std::to_string(cores) + " cores / " + std::to_string(local_ranks) +
                      " rank(s) on it), so it runs " + std::to_string(threads) + " thread(s)";
    }
  }
  return threads;
}

StatusOr<int> job_run(const JobConfig& job, MPI_Comm comm, const JobOptions& options) {
  const auto t0 = Clock::now();
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const bool talk = rank == 0 && !options.quiet;
  // For rank 0's removal of the temporary output, should the run fail. Every rank holds one, so all
  // run out of descriptors at the same point (with one rank short of the others, a limit was found at
  // which Open MPI's shared file pointer failed on one rank only and the job hung).
  ReservedFd reserved_fd;
  JobTally unused;
  JobTally& tally = options.tally ? *options.tally : unused;  // every rank keeps its own; rank 0's is pushed

  std::string binding_note;
  const int threads = job_threads_per_rank(job.run.threads, comm, &binding_note);
  if (talk && !binding_note.empty()) log_line("note: rank 0: " + binding_note);
  tbb::global_control thread_cap(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));

  // Ranks started with other job files would open other datasets, or as many in another order,
  // in the collective opens below: compared first.
  SS_RETURN_IF_ERROR(mpi_agree_same({{"job file (with its overrides)", job.toml_text}}, comm));

  // ---- load the model, bind its inputs to datasets: every rank, then agree ----
  hdf5_silence_errors();
  EngineOptions engine_options;
  // One GPU per rank by node-local rank, among the devices this rank sees: all of the node's
  // (ranks then share them round-robin) or, under Slurm's GPU binding, its own.
  engine_options.cuda.device = job_node_local_rank(comm);
  engine_options.cuda.precision = job.run.precision;
  engine_options.outputs = job.output.outputs;
  engine_options.fixed_batch_in_runs = true;  // a model exported without a dynamic batch axis still scores
  engine_options.rows_alone_in_runs = true;   // a quantize_dynamic model's rows do not depend on their batch
  auto engine_or = Engine::load(job.model.path, job.run.backend, engine_options);
  // A failure on some ranks only (no GPU on one node, a model or input missing from a node-local
  // disk) names the rank and its node; one that every rank hits reads as itself.
  SS_RETURN_IF_ERROR(mpi_agree_where(engine_or.status(), comm));
  Engine& engine = *engine_or.value();
  // One backend on every rank: under run.backend = auto, a node whose GPU is missing would score its
  // shards on the CPU, other bits mixed into one output without a word. The error carries why auto
  // chose as it did, on that rank and on rank 0 (each logs it only on agreement).
  {
    const std::string mine(engine.backend_name());
    const std::string why = engine.backend_note().empty() ? "" : " (" + engine.backend_note() + ")";
    const std::string first = mpi_bcast_string(mine + "\n" + why, 0, comm);
    const std::size_t cut = first.find('\n');
    Status same = ok_status();
    if (first.substr(0, cut) != mine) {
      same = invalid_argument("it scores on the " + mine + " backend" + why + ", where rank 0 scores on the " +
                              first.substr(0, cut) + " backend" + first.substr(cut + 1) +
                              "; one output takes one backend's bits: run.backend = auto chooses on each node, so "
                              "set cpu or cuda (--backend) for every rank");
    }
    SS_RETURN_IF_ERROR(mpi_agree_where(same, comm));
  }
  if (talk && !engine.backend_note().empty()) log_line(engine.backend_note());
  if (talk && engine.backend_name() == "cpu" && job.run.precision != "fp32") {
    log_line("note: run.precision = " + job.run.precision +
             " applies on the CUDA backend only; the CPU backend computes in the model's own types");
  }
  // The model's SHA-256, and its external data files' (the weights, when the exporter put them
  // beside the model) in sha256sum's format ("<hash>  <file>" lines, files as the model names
  // them), so that `sha256sum -c` in the model's folder checks them. One rank per node and model
  // file hashes them (the ranks of a node that load the same file, by its resolved path: a
  // node-local copy may differ) and tells the others, so that the ranks can check they run one
  // model without every rank reading the weights again.
  Status st = ok_status();
  std::string sha = "", data_sums = "";
  std::vector<std::pair<std::string, std::string>> data_shas;  // node-local rank 0's (rank 0's for the report)
  MPI_Comm node = MPI_COMM_NULL, same_file = MPI_COMM_NULL;
  SS_MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node));
  {
    std::error_code ec;
    const std::string real = std::filesystem::weakly_canonical(job.model.path, ec).string();
    const int color = static_cast<int>(std::hash<std::string>{}(ec ? job.model.path : real) & 0x7fffffff);
    SS_MPI_CHECK(MPI_Comm_split(node, color, rank, &same_file));
    MPI_Comm_free(&node);
    node = same_file;
  }
  int node_rank = 0;
  MPI_Comm_rank(node, &node_rank);
  if (node_rank == 0) {
    auto sha_or = sha256_file_hex(job.model.path);
    st = sha_or.status();
    if (st.ok()) sha = sha_or.value();
    const std::filesystem::path dir = std::filesystem::path(job.model.path).parent_path();
    for (std::size_t i = 0; st.ok() && i < engine.graph().external_data.size(); ++i) {
      const std::string& file = engine.graph().external_data[i];
      auto data_or = sha256_file_hex((dir / file).string());
      st = data_or.status();
      if (!st.ok()) break;
      data_shas.emplace_back(file, data_or.value());
      data_sums += data_or.value() + "  " + file + "\n";
    }
  }
  st = mpi_agree(st, node);  // the hashing rank's outcome, on the ranks of its node and file
  sha = mpi_bcast_string(sha, 0, node);
  data_sums = mpi_bcast_string(data_sums, 0, node);
  MPI_Comm_free(&node);
  SS_RETURN_IF_ERROR(mpi_agree_where(st, comm));
  // One model on every rank: another one under the same name (a node-local copy) would score some
  // shards differently without a word, and bind other inputs in other collective opens.
  SS_RETURN_IF_ERROR(mpi_agree_same(
      {{"model (SHA-256 of the model and its external data)", sha + (data_sums.empty() ? "" : "\n" + data_sums)}}, comm));
  // Where this rank runs: an error of one of its batches says so (and which GPU, on CUDA).
  const std::string place = mpi_rank_place(comm);
  const std::string device = engine.backend_device();
  const std::string batch_place = place + (device.empty() ? "" : ", " + device) + ": ";
  auto inputs_or = job_bind_inputs(job, engine.graph(), comm);
  SS_RETURN_IF_ERROR(mpi_agree_where(inputs_or.status(), comm));
  std::vector<InputBinding>& inputs = inputs_or.value();
  auto moved_or = job_preprocess_on_backend(job, engine, inputs);
  SS_RETURN_IF_ERROR(mpi_agree(moved_or.status(), comm));
  if (talk) {
    for (const auto& name : moved_or.value()) {
      log_line("input '" + name + "': preprocessing runs in the model on the " + std::string(engine.backend_name()) +
               " backend (preprocess.where = " + job.preprocess.where + ")");
    }
  }
  const RowReader& first = *inputs[0].reader;
  const bool parquet_out = job_output_is_parquet(job.output.path, comm);
  const std::string output_path = output_path_of(job);
  const int64_t total_rows = first.rows();
  // The checked features, in the statistics' order (feature_offset), with their values per row.
  int preprocessed_inputs = 0;
  for (const auto& b : inputs) preprocessed_inputs += b.preprocessed ? 1 : 0;
  std::vector<FeatureInfo> features;
  for (const auto& b : inputs) {
    for (int64_t f = 0; b.preprocessed && f < b.features; ++f) {
      std::string name = "feature " + std::to_string(features.size());
      if (preprocessed_inputs > 1) name += " (input '" + b.model_input + "', its feature " + std::to_string(f) + ")";
      features.push_back({std::move(name), b.inner});
    }
  }
  const auto num_features = static_cast<int64_t>(features.size());

  auto columns_or = probe_outputs(engine, inputs);
  st = columns_or.status();
  if (st.ok()) {
    st = output_sink_check_columns(parquet_out, columns_or.value(),
                                   job.input.id_column.empty() ? std::string("row_index") : job.input.id_column);
  }
  if (st.ok() && rank == 0) st = check_output_path(job, parquet_out);
  SS_RETURN_IF_ERROR(mpi_agree(st, comm));
  if (talk) warn_leftovers(job, output_path);
  const std::vector<OutputColumn>& columns = columns_or.value();

  // Every rank plans the shards from what it sees; a rank that sees another job file, input, layout
  // or model would plan other shards or rounds of collective writes (rows lost or repeated, or a wait
  // forever) or score with another model.
  std::vector<std::pair<std::string, std::string>> facts;
  for (const auto& b : inputs) {
    facts.emplace_back("input '" + b.model_input + "'", b.dataset + ": " + std::to_string(b.reader->rows()) + " rows of " +
                                                            b.reader->stored_type() + " " +
                                                            shape_to_string(b.reader->row_shape()));
  }
  facts.emplace_back("layout of the input's rows (what the shards follow)", plan_layout(first));
  SS_RETURN_IF_ERROR(mpi_agree_same(facts, comm));
  const std::string created = mpi_bcast_string(utc_now_iso8601(), 0, comm);
  const std::string temp_path = mpi_bcast_string(temp_path_for(output_path), 0, comm);

  tally.input_rows = total_rows;

  // ---- plan ----
  SS_ASSIGN_OR_RETURN(ShardPlan plan, plan_shards(first, job, size));
  tally.shards = static_cast<int64_t>(plan.shards.size());
  const std::vector<Shard> my_shards = shard_plan_for_rank(plan, rank);
  const std::vector<Batch> my_batches = shard_plan_batches(my_shards, job.run.batch_size);
  const int64_t rounds = shard_plan_max_batches(plan, job.run.batch_size);
  if (talk) {
    const Graph& g = engine.graph();
    log_line("job " + job.source + ": " + std::to_string(total_rows) + " rows from " + job.input.path);
    for (const auto& b : inputs) log_line("  " + input_binding_describe(b));
    std::string opsets;  // "opset 17", and the other domains' ("ai.onnx.ml 3") where there are any
    for (const auto& [domain, version] : g.opsets)
      opsets += (opsets.empty() ? "" : ", ") + (domain.empty() ? "opset" : domain) + " " + std::to_string(version);
    log_line("model " + job.model.path + " (" + (g.producer.empty() ? "unknown producer" : g.producer) + ", " + opsets +
             ", " + std::to_string(g.nodes.size()) + " nodes), backend " +
             std::string(engine.backend_name()) +
             (engine.backend_name() == "cuda" ? " (precision " + job.run.precision + "; " + place + ": " + device +
                                                    ", of " + std::to_string(cuda_visible_devices()) + " visible)"
                                              : std::string()));
    log_line("graph passes: " + engine.pass_stats().describe());
    log_line(std::to_string(size) + " rank(s) x " + std::to_string(threads) + " thread(s); " +
             shard_plan_describe(plan) + "; batch " +
             std::to_string(job.run.batch_size) + " rows");
    if (const int64_t fixed = engine.fixed_batch(); fixed > 0 && fixed != job.run.batch_size) {
      log_line("note: the model takes exactly " + std::to_string(fixed) +
               " row(s) a run (its inputs fix their first dimension), so each batch runs " + std::to_string(fixed) +
               " row(s) at a time; a model exported with a dynamic batch dimension runs whole batches, faster "
               "(torch.onnx.export(..., dynamic_axes={'<input>': {0: 'batch'}}))");
    }
    if (!engine.rows_quantized().empty()) {
      log_line("note: the model quantizes its activations by their range (" + engine.rows_quantized() +
               ", onnxruntime.quantization.quantize_dynamic), which would make a row's result depend on the rows "
               "batched with it; each row is quantized by its own range within its batch (" +
               std::to_string(engine.pass_stats().row_quantized_matmuls) +
               " products), as ONNX Runtime scores a batch of one, so results do not depend on run.batch_size or "
               "the rank count");
    }
    if (!engine.rows_alone().empty()) {
      log_line("note: the model quantizes its activations by their range (" + engine.rows_alone() +
               ", onnxruntime.quantization.quantize_dynamic), which would make a row's result depend on the rows "
               "batched with it; each row runs alone, as ONNX Runtime scores a batch of one, so results do not "
               "depend on run.batch_size or the rank count" +
               (engine.rows_alone_why().empty() ? std::string()
                                                : " (slower than whole batches, which need each row quantized "
                                                  "apart: " + engine.rows_alone_why() + ")"));
    }
    if (plan.shards.size() < static_cast<std::size_t>(size) && total_rows > 0) {
      log_line("note: " + std::to_string(size - static_cast<int>(plan.shards.size())) + " of " + std::to_string(size) +
               " ranks have no shard and only take part in the collective writes (run.shard_rows " +
               std::to_string(job.run.shard_rows) + " makes " + std::to_string(plan.shards.size()) +
               " shards; a smaller value spreads the rows)");
    }
  }
  // A run that scores nothing passes (there is nothing to check), but a nightly input left empty
  // upstream is rarely meant: said even under --quiet, as the warnings are.
  if (rank == 0 && total_rows == 0) {
    log_warning("input '" + job.input.path + "' has no rows: the output will have none, and the job passes");
  }
  // The pipeline's oneTBB workers (threads - 1 of them) start when it does; a worker that oneTBB
  // could not start from another worker would abort the job (common/process_limits.h).
  {
    Status st = check_threads_can_start(threads - 1);
    if (!st.ok()) {
      st = unavailable("cannot start this rank's " + std::to_string(threads - 1) + " oneTBB worker thread(s) (it runs " +
                       std::to_string(threads) + " threads): " + st.message() +
                       "; a limit on this user's tasks (ulimit -u, a cgroup's pids.max) or on its memory (ulimit -v) "
                       "is too low: lower run.threads (--set run.threads=N) or raise the limit");
    }
    SS_RETURN_IF_ERROR(mpi_agree_where(st, comm));
  }
  // Before the dry run's end and before an earlier output is removed (output.overwrite): a folder
  // that some rank does not share must not cost last night's output.
  SS_RETURN_IF_ERROR(output_folder_check_shared(temp_path, comm));
  if (options.dry_run) {
    // It has no write rounds to stop at: a signal during it (absorbed by the handler) is said here,
    // not "ready to run".
    const int sig = options.stop_signal ? options.stop_signal->load() : 0;
    SS_RETURN_IF_ERROR(mpi_agree(sig == 0 ? ok_status()
                                          : unavailable(std::string("stopped by SIG") + sigabbrev_np(sig) + " during the dry run"),
                                 comm));
    if (rank == 0 && !options.quiet) {
      std::printf("dry run: the job is ready to run: %lld rows in %zu %s on %d rank(s) -> %s (nothing was "
                  "scored or written; free space is checked when the output is created)\n",
                  static_cast<long long>(total_rows), plan.shards.size(), plan.shards.size() == 1 ? "shard" : "shards",
                  size, output_path.c_str());
      std::fflush(stdout);
    }
    return 0;
  }
  if (job.output.overwrite) {
    const Status removed = rank == 0 ? remove_earlier_output(job, output_path, talk) : ok_status();
    SS_RETURN_IF_ERROR(mpi_agree(removed, comm));
  }

  // ---- create the output under its temporary name ----
  // The paths are recorded as the job gave them; a relative one is relative to this.
  std::error_code cwd_error;
  // Rank 0's: the provenance is one value, and collective metadata writes need it the same on every
  // rank (HDF5 kept the last rank's where the ranks' differed).
  const std::string working_directory = mpi_bcast_string(std::filesystem::current_path(cwd_error).string(), 0, comm);
  OutputSinkSpec sink_spec;
  sink_spec.temp_path = temp_path;
  sink_spec.total_rows = total_rows;
  sink_spec.columns = columns;
  sink_spec.plan = &plan;
  sink_spec.provenance = {{"model_sha256", sha},
                          {"model_external_data_sha256", data_sums},
                          {"model_path", job.model.path},
                          {"input_path", job.input.path},
                          {"input_dataset", inputs[0].dataset},
                          {"working_directory", working_directory},
                          {"job_toml", job.toml_text},
                          {"shardscore_version", SHARDSCORE_VERSION},
                          {"shardscore_commit", SHARDSCORE_COMMIT},
                          {"backend", std::string(engine.backend_name())},
                          {"precision", engine.backend_name() == "cuda" ? job.run.precision : std::string("fp32")},
                          {"created_utc", created}};
  // Ids travel from a Parquet input's id column to a Parquet output; otherwise the row index is written.
  [[maybe_unused]] RowReader* id_source = nullptr;  // used only when Parquet is built
#if SHARDSCORE_HAVE_PARQUET
  if (auto* pq = dynamic_cast<ParquetReader*>(inputs[0].reader.get()); pq && pq->has_ids() && parquet_out) {
    id_source = pq;
    sink_spec.id_name = pq->id_column();
    auto none = std::make_shared<RowIds>();
    const Status ids = pq->read_ids(0, 0, none.get());
    SS_RETURN_IF_ERROR(mpi_agree(ids, comm));
    sink_spec.no_ids = std::move(none);
  }
#endif
  if (parquet_out) {
    sink_spec.provenance.push_back({"num_ranks", std::to_string(size)});
    sink_spec.provenance.push_back({"num_rows", std::to_string(total_rows)});
  }
  // Before the sink, so destroyed after it: on a failure every rank closes the HDF5 file (collective)
  // before rank 0 removes it, rather than rank 0 removing a file the ranks still have open.
  TempFileGuard guard(temp_path, rank == 0, reserved_fd);
  auto sink_or = output_sink_create(parquet_out, sink_spec, comm);
  SS_RETURN_IF_ERROR(mpi_agree(sink_or.status(), comm));
  OutputSink& sink = *sink_or.value();

  // ---- the pipeline: read (in order) -> preprocess + infer (parallel) -> collective write (in order) ----
  std::map<int64_t, ShardStats> shard_stats;
  std::map<int64_t, Clock::time_point> shard_started;
  for (const auto& s : my_shards) {
    ShardStats& ss = shard_stats[s.id];
    ss.id = s.id;
    ss.row_begin = s.row_begin;
    ss.row_end = s.row_end;
    ss.rank = rank;
    ss.feature_nan.assign(static_cast<std::size_t>(num_features), 0);
    ss.feature_inf.assign(static_cast<std::size_t>(num_features), 0);
    for (const auto& c : columns) ss.outputs.push_back(OutputStats{c.name});
  }
  const auto t_scoring = Clock::now();
  Progress progress(talk, total_rows, job.run.progress_interval, t_scoring);
  std::atomic<bool> stop{false};
  // A signal the caller caught (SIGTERM, SIGINT): the next write round stops every rank.
  const auto signalled = [&] { return options.stop_signal && options.stop_signal->load() != 0; };
  bool collectives_over = false;  // set on every rank in the same round once any rank failed
  Status first_error;             // this rank's own first failure
  int64_t rounds_done = 0, rows_done_global = 0;

  bool notice_said = false;
  // One collective write round; `w` is null for a rank that has run out of batches.
  auto round = [&](BatchWork* w) {
    if (collectives_over) return;
    Status mine = first_error.ok() && w ? w->status : first_error;
    if (options.notice_signal && !notice_said && options.notice_signal->load() != 0) {
      notice_said = true;
      if (talk) {
        log_line(std::string("received SIG") + sigabbrev_np(options.notice_signal->load()) +
                 " (Slurm's --signal warning?): the job goes on (it cannot checkpoint) and stops cleanly, writing "
                 "nothing, on SIGTERM");
      }
    }
    if (mine.ok() && signalled()) {
      const int sig = options.stop_signal->load();
      const char* why = sig == SIGINT ? "Ctrl-C" : sig == SIGHUP ? "the terminal or ssh session closed" : "a time limit, scancel or kill";
      mine = unavailable(std::string("stopped by SIG") + sigabbrev_np(sig) + " (" + why + ") after " + std::to_string(rows_done_global) +
                         " of " + std::to_string(total_rows) + " rows; nothing written");
    }
    if (!mine.ok() && first_error.ok()) first_error = mine;
    long long local[2] = {mine.ok() ? 0 : 1, w && mine.ok() ? w->batch.rows() : 0};
    long long global[2] = {0, 0};
    {
      // Debian's MPI-IO calls happen under the HDF5 lock; holding it keeps MPI use serialized.
      std::lock_guard lock(hdf5_mutex());
      MPI_Allreduce(local, global, 2, MPI_LONG_LONG, MPI_SUM, comm);
    }
    ++rounds_done;
    if (global[0] > 0) {
      collectives_over = true;
      stop = true;
      return;
    }
    Status ws = w ? sink.write(w->batch, w->outputs, w->ids.get()) : sink.write_nothing();
    if (!ws.ok()) {
      first_error = ws;
      stop = true;
    }
    if (w) {
      ShardStats& ss = shard_stats[w->batch.shard_id];
      ss.merge(w->stats);
      auto [it, fresh] = shard_started.try_emplace(w->batch.shard_id, w->started);
      ss.seconds = std::chrono::duration<double>(Clock::now() - it->second).count();
    }
    rows_done_global += global[1];
    tally.rows_scored = rows_done_global;
    progress.update(rows_done_global);
  };

  std::size_t next = 0;
  const std::size_t tokens = static_cast<std::size_t>(2 * threads + 1);
  // The pipeline (and the readers' parallel_for within it) runs in an arena of its own, of the
  // rank's threads, ended before thread_cap is: at run.threads = 1 it has no worker slot, so no
  // worker is ever asked for. In the calling thread's implicit arena, the pipeline left a demand
  // for workers that the cap of 0 workers never met; when thread_cap went out of scope, oneTBB
  // raised the limit and started a worker for that demand after the run, and a pthread_create
  // refused then (ulimit -u, a cgroup's pids.max) threw from global_control's destructor:
  // std::terminate, exit 134 after the output was committed. An ended arena asks for nothing.
  tbb::task_arena arena(threads);
  arena.execute([&] {
    tbb::parallel_pipeline(
        tokens,
        tbb::make_filter<void, std::shared_ptr<BatchWork>>(
            tbb::filter_mode::serial_in_order,
            [&](tbb::flow_control& fc) -> std::shared_ptr<BatchWork> {
              if (next >= my_batches.size() || stop || signalled()) {
                fc.stop();
                return nullptr;
              }
              auto w = std::make_shared<BatchWork>();
              w->batch = my_batches[next++];
              w->started = Clock::now();
              try {
                w->raw.resize(inputs.size());
                w->xs.resize(inputs.size());
                for (std::size_t k = 0; k < inputs.size() && w->status.ok(); ++k) {
                  const InputBinding& b = inputs[k];
                  RowReader& r = *b.reader;
                  std::byte* dst = nullptr;
                  if (input_read_into_tensor(b)) {
                    Shape shape{w->batch.rows()};
                    shape.insert(shape.end(), b.model_row_shape.begin(), b.model_row_shape.end());
                    w->xs[k] = Tensor(b.model_dtype, shape);
                    dst = static_cast<std::byte*>(w->xs[k].raw());
                  } else {
                    w->raw[k] = tensor_heap_buffer(static_cast<std::size_t>(w->batch.rows() * r.row_elements()) * dtype_size(r.dtype()));
                    dst = w->raw[k].get();
                  }
                  w->status = r.read_rows(w->batch.row_begin, w->batch.rows(), dst);
                }
                if (!w->status.ok()) w->status = w->status.with_context(batch_place);
#if SHARDSCORE_HAVE_PARQUET
                if (id_source && w->status.ok()) {
                  w->ids = std::make_shared<RowIds>();
                  w->status = static_cast<ParquetReader*>(id_source)->read_ids(w->batch.row_begin, w->batch.rows(), w->ids.get());
                }
#endif
              } catch (const std::bad_alloc&) {
                w->status = resource_exhausted(batch_place + "reading rows " + batch_rows(w->batch) +
                                               ": out of host memory; " + kLessMemory);
              } catch (const std::exception& e) {
                w->status = internal_error(batch_place + "reading a batch: " + e.what());
              }
              return w;
            }) &
            tbb::make_filter<std::shared_ptr<BatchWork>, std::shared_ptr<BatchWork>>(
                tbb::filter_mode::parallel,
                [&](std::shared_ptr<BatchWork> w) {
                  if (!w->status.ok() || stop) return w;
                  try {
                    const int64_t rows = w->batch.rows();
                    w->stats.feature_nan.assign(static_cast<std::size_t>(num_features), 0);
                    w->stats.feature_inf.assign(static_cast<std::size_t>(num_features), 0);
                    std::vector<Tensor> xs;
                    for (std::size_t k = 0; k < inputs.size(); ++k) {
                      const InputBinding& b = inputs[k];
                      if (!w->raw[k]) {  // read into the tensor (on the backend: the model converts it)
                        if (b.preprocessed && !b.on_backend) {
                          int64_t* nan = w->stats.feature_nan.data() + b.feature_offset;
                          int64_t* inf = w->stats.feature_inf.data() + b.feature_offset;
                          if (b.model_dtype == DType::kFloat64) {
                            preprocess_rows_in_place(w->xs[k].data<double>(), rows, b.features, b.spec64, nan, inf, b.inner);
                          } else {
                            preprocess_rows_in_place(w->xs[k].data<float>(), rows, b.features, b.spec, nan, inf, b.inner);
                          }
                        }
                        xs.push_back(std::move(w->xs[k]));
                        continue;
                      }
                      Shape shape{rows};
                      shape.insert(shape.end(), b.model_row_shape.begin(), b.model_row_shape.end());
                      Tensor x(b.model_dtype, shape);
                      if (b.preprocessed) {
                        int64_t* nan = w->stats.feature_nan.data() + b.feature_offset;
                        int64_t* inf = w->stats.feature_inf.data() + b.feature_offset;
                        if (b.model_dtype == DType::kFloat64) {
                          preprocess_rows(w->raw[k].get(), b.reader->dtype(), rows, b.features, b.spec64, x.data<double>(),
                                          nan, inf, b.inner, b.nhwc);
                        } else {
                          preprocess_rows(w->raw[k].get(), b.reader->dtype(), rows, b.features, b.spec, x.data<float>(), nan,
                                          inf, b.inner, b.nhwc);
                        }
                      } else {
                        const Status cast = preprocess_cast(w->raw[k].get(), b.reader->dtype(), rows, x.numel() / std::max<int64_t>(rows, 1),
                                                            static_cast<std::byte*>(x.raw()), b.model_dtype, w->batch.row_begin);
                        if (!cast.ok()) {
                          w->status = cast.with_context(batch_place + "input '" + b.model_input + "' (" + b.dataset + "): ");
                          return w;
                        }
                      }
                      xs.push_back(std::move(x));
                    }
                    w->raw = {};
                    w->xs = {};
                    w->stats.rows_read = rows;
                    Status s = engine.run(std::move(xs), &w->outputs);
                    if (!s.ok()) {
                      w->status = s.with_context(batch_place + "scoring rows " + batch_rows(w->batch) + ": ");
                      if (s.code() == StatusCode::kResourceExhausted) {
                        w->status = Status(s.code(), w->status.message() + "; " + kLessMemory);
                      }
                      return w;
                    }
                    for (std::size_t k = 0; k < w->outputs.size(); ++k) {
                      const Tensor& o = w->outputs[k];
                      if (o.dtype() != columns[k].dtype || o.rank() < 1 || o.dim(0) != rows ||
                          o.numel() != rows * shape_numel(columns[k].row_shape)) {
                        w->status = internal_error(batch_place + "model output '" + columns[k].name + "' changed shape to " +
                                                   shape_to_string(o.shape()) + " for a batch of " + std::to_string(rows) + " rows");
                        return w;
                      }
                      OutputStats os{columns[k].name};
                      os.add(o);
                      w->stats.outputs.push_back(os);
                    }
                    w->stats.rows_scored = rows;
                  } catch (const std::bad_alloc&) {
                    w->status = resource_exhausted(batch_place + "scoring rows " + batch_rows(w->batch) +
                                                   ": out of host memory; " + kLessMemory);
                  } catch (const std::exception& e) {
                    w->status = internal_error(batch_place + "scoring a batch: " + e.what());
                  }
                  return w;
                }) &
            tbb::make_filter<std::shared_ptr<BatchWork>, void>(tbb::filter_mode::serial_in_order,
                                                              [&](std::shared_ptr<BatchWork> w) { round(w.get()); }));
  });
  arena.terminate();
  // Ranks with fewer batches keep taking part until every rank has written its last one.
  while (!collectives_over && rounds_done < rounds) round(nullptr);
  const double scoring_seconds = seconds_since(t_scoring);

  SS_RETURN_IF_ERROR(mpi_agree(first_error, comm));

  // ---- gather statistics to rank 0 ----
  std::vector<ShardStats> mine;
  for (auto& [id, s] : shard_stats) mine.push_back(s);
  // With where the rank ran (host, and the card on CUDA), so that a shard's numbers lead back to
  // its hardware: "<host>\t<device>\n<shards>" (neither name holds a tab or a newline).
  SS_ASSIGN_OR_RETURN(const std::vector<std::string> wires,
                      mpi_gather_strings(mpi_host_name() + '\t' + (device.empty() ? "cpu" : device) + '\n' +
                                             report_encode_shards(mine),
                                         0, comm));

  // ---- rank 0: verdicts ----
  st = ok_status();
  std::vector<ShardVerdict> verdicts;
  std::vector<RunInfo::Placement> placement;
  int64_t failed = 0;   // shards that failed a check
  std::string quality;  // the output's own record of the checks (its consumers may not read the report)
  if (rank == 0) {
    for (int r = 0; r < size && st.ok(); ++r) {
      const std::string& wire = wires[static_cast<std::size_t>(r)];
      const std::size_t nl = std::min(wire.find('\n'), wire.size()), tab = std::min(wire.find('\t'), nl);
      placement.push_back({r, wire.substr(0, tab), tab < nl ? wire.substr(tab + 1, nl - tab - 1) : ""});
      auto part = report_decode_shards(nl < wire.size() ? wire.substr(nl + 1) : "");
      st = part.status();
      if (st.ok())
        for (auto& s : part.value()) verdicts.push_back({s, quality_evaluate(s, job.checks, features)});
    }
    std::sort(verdicts.begin(), verdicts.end(), [](const ShardVerdict& a, const ShardVerdict& b) { return a.stats.id < b.stats.id; });
    int64_t scored = 0;
    for (const auto& v : verdicts) scored += v.stats.rows_scored;
    if (st.ok() && (verdicts.size() != plan.shards.size() || scored != total_rows)) {
      st = internal_error("scored " + std::to_string(scored) + " of " + std::to_string(total_rows) + " rows in " +
                          std::to_string(verdicts.size()) + " of " + std::to_string(plan.shards.size()) + " shards");
    }
    failed = std::count_if(verdicts.begin(), verdicts.end(), [](const ShardVerdict& v) { return !v.passed(); });
    quality = failed == 0 ? "passed" : "checks_failed (" + std::to_string(failed) + " of " + std::to_string(verdicts.size()) +
                                           " shards; the report names them)";
  }
  SS_RETURN_IF_ERROR(mpi_agree(st, comm));
  sink.add_provenance("quality_status", mpi_bcast_string(quality, 0, comm));

  // ---- provenance, close ----
  SS_RETURN_IF_ERROR(mpi_agree_where(sink.close(), comm));
  const bool collective = sink.all_writes_collective();
  progress.finish(rows_done_global, scoring_seconds);

  // ---- rank 0: rename, report ----
  int exit_code = 0;
  if (rank == 0) {
    RunInfo info;
    info.version = SHARDSCORE_VERSION;
    info.commit = SHARDSCORE_COMMIT;
    info.working_directory = working_directory;
    info.ranks = size;
    info.threads_per_rank = threads;
    info.backend = std::string(engine.backend_name());
    info.model_path = job.model.path;
    info.model_sha256 = sha;
    info.model_external_data = data_shas;
    info.input_path = job.input.path;
    info.input_dataset = inputs[0].dataset;
    info.input_dtype = first.stored_type();
    info.input_rows = total_rows;
    info.input_features = num_features;
    info.features = features;
    for (const auto& b : inputs) {
      info.input_bindings.push_back({b.model_input, b.dataset, b.reader->stored_type(), b.reader->row_shape()});
    }
    info.output_path = job.output.path;
    info.output_format = parquet_out ? "parquet" : "hdf5";
    info.output_datasets = sink.names();
    info.seconds = seconds_since(t0);
    info.scoring_seconds = scoring_seconds;
    info.collective_writes = collective;
    info.placement = std::move(placement);
    if (failed > 0) exit_code = 3;
    // The report is written before the output moves into place, so that a report that cannot
    // be written (a full disk) leaves no output that looks complete.
    st = report_write_temp(job.report_path(), report_json(info, verdicts));
    if (st.ok()) st = sink.commit(output_path, job.output.overwrite);
    if (st.ok()) {
      guard.release();
      st = report_commit(job.report_path(), job.output.overwrite);
      if (!st.ok()) {
        // The output is in place without its report (another job's report appeared there): a
        // failed job leaves no output that looks complete, so this one is taken back.
        std::error_code ec;
        std::filesystem::remove_all(output_path, ec);
        // Synced as the move was, so that a crash after the error does not bring the output back.
        if (!ec) sync_parent_folder(output_path).ignore();
        st = Status(st.code(), st.message() + (ec ? "; this job's output '" + output_path + "' is in place but could not be removed: " +
                                                        ec.message()
                                                  : "; this job's output is removed again"));
      }
    }
    if (st.ok()) {
      tally.rows_written = total_rows;
      tally.shards_failed_checks = failed;
    } else {
      report_discard(job.report_path());
    }
    if (st.ok() && !options.quiet) std::fputs(report_summary(info, verdicts, job.report_path()).c_str(), stdout);
    // --quiet keeps errors: a run that ends with exit 3 says why in one line.
    if (st.ok() && options.quiet && failed > 0) {
      log_error("quality checks failed on " + std::to_string(failed) + " of " + std::to_string(verdicts.size()) +
                " shards (exit 3); the output is written and the report '" + job.report_path() + "' names them");
    }
    std::fflush(stdout);
  }
  SS_RETURN_IF_ERROR(mpi_agree(st, comm));
  SS_MPI_CHECK(MPI_Bcast(&exit_code, 1, MPI_INT, 0, comm));
  return exit_code;
}

}  // namespace shardscore
