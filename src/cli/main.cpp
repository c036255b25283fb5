// shardscore: the command line. Parses arguments on every rank, runs the job, reports once.
#include <mpi.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/log.h"
#include "config/job_config.h"
#include "engine/cpu/vector_math.h"
#include "engine/engine.h"
#include "engine/graph.h"
#include "hdf5/hdf5_util.h"
#include "job/run_job.h"
#include "mpi/mpi_util.h"
#include "report/metrics.h"
#include "shardscore/source_id.h"
#include "shardscore/version.h"
#ifdef SHARDSCORE_HAVE_CUDA
#include "kernels/cuda_runtime_info.h"
#endif

namespace po = boost::program_options;
using namespace shardscore;

namespace {

// The signal that asked the job to stop (0: none). Written by the handler, read by the job.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler stores to it");

// A warning signal received (SIGUSR1, SIGUSR2; 0: none), said once in the log.
std::atomic<int> g_notice_signal{0};

void on_stop_signal(int sig) { g_stop_signal.store(sig); }
void on_notice_signal(int sig) { g_notice_signal.store(sig); }

// SIGTERM (Slurm's time limit and scancel, mpirun's kill), SIGINT (Ctrl-C) and SIGHUP (a closed
// terminal or ssh session) stop the job at its next write round, which removes the unfinished
// output. A second Ctrl-C ends the process at once (SA_RESETHAND restores the default action);
// SIGTERM and SIGHUP keep the handler: at a time limit Slurm sends SIGTERM twice within
// milliseconds, and the second one killed the process before it could stop cleanly (SIGKILL,
// after Slurm's KillWait, ends it at once).
// SIGUSR1 and SIGUSR2, whose default action kills the process too, only warn (Slurm's --signal
// before a time limit): the job goes on and says so.
// A signal the process was started ignoring stays ignored: `nohup` ignores SIGHUP, a shell's
// background job SIGINT, and the user asked for that.
void install_unless_ignored(int sig, void (*handler)(int), int flags) {
  struct sigaction old {};
  if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) return;
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = flags;
  sigaction(sig, &sa, nullptr);
}

void install_stop_handlers() {
  for (int sig : {SIGTERM, SIGHUP}) install_unless_ignored(sig, on_stop_signal, SA_RESTART);
  install_unless_ignored(SIGINT, on_stop_signal, SA_RESETHAND | SA_RESTART);
  // A log pipe that closes (`| head`, a log shipper that died) must not kill the job half way,
  // leaving its partial output: its log lines are lost (EPIPE), the job finishes. A file-size limit
  // (ulimit -f) reached by the output: the write fails (EFBIG) and the job with it, cleanly.
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);
  for (int sig : {SIGUSR1, SIGUSR2}) install_unless_ignored(sig, on_notice_signal, SA_RESTART);
}

const char* kUsage =
    "shardscore " SHARDSCORE_VERSION " - score a large dataset with an ONNX model across MPI ranks\n"
    "\n"
    "Usage:\n"
    "  shardscore run --job JOB.toml [options]      (also under mpirun -np N or srun)\n"
    "  shardscore inspect MODEL.onnx                 inputs, outputs, ops, and what this build cannot run\n"
    "  shardscore --help | --version\n"
    "\n"
    "Commands:\n"
    "  run       read the input's rows (HDF5 or Parquet), split them into shards across the ranks,\n"
    "            preprocess, run the model, check every shard's quality, and write one output (an\n"
    "            HDF5 file or a Parquet folder) with the predictions in input order, plus a JSON\n"
    "            report beside it\n"
    "\n"
    "Exit codes: 0 success; 2 bad usage, job file or input (nothing written); 3 a quality check\n"
    "failed (output and report written); 1 any other failure (nothing written); 143 / 130 / 129\n"
    "stopped by SIGTERM (time limit, scancel) / SIGINT / SIGHUP (nothing written). SIGUSR1 and\n"
    "SIGUSR2 (Slurm's --signal) only warn: the job goes on.\n"
    "\n"
    "Options of 'run' (details and every job file key: 'shardscore run --help'):\n"
    "  --job FILE                 the job file (TOML)\n"
    "  --input, --output, --model PATH; --batch-size N; --backend cpu|cuda|auto;\n"
    "  --precision fp32|tf32|fp16|bf16\n"
    "                             short forms of the job keys input.path, output.path, ...\n"
    "  --set section.key=VALUE    override any job key (repeatable)\n"
    "  --dry-run                  check the job, model, inputs and paths and print the plan;\n"
    "                             score and write nothing (exit 0 when the job would start)\n"
    "  --quiet                    errors only\n";

po::options_description run_options() {
  po::options_description o("Options for 'shardscore run'");
  o.add_options()
      ("help,h", "show this help")
      ("job,j", po::value<std::string>()->value_name("FILE"), "job file (TOML), required")
      ("input,i", po::value<std::string>()->value_name("PATH"), "override input.path")
      ("output,o", po::value<std::string>()->value_name("PATH"), "override output.path")
      ("model,m", po::value<std::string>()->value_name("PATH"), "override model.path")
      ("batch-size,b", po::value<long long>()->value_name("N"), "override run.batch_size")
      ("backend", po::value<std::string>()->value_name("NAME"),
       "override run.backend: cpu, cuda (each rank on its node-local GPU), or auto (cuda when a GPU is visible)")
      ("precision", po::value<std::string>()->value_name("P"),
       "override run.precision (cuda): fp32, tf32, fp16 or bf16; inputs and outputs stay float32")
      ("set,s", po::value<std::vector<std::string>>()->value_name("KEY=VALUE")->composing(),
       "override any job key, e.g. --set run.threads=4 (repeatable; a string key takes the value as written, "
       "quotes optional; other keys read it as TOML)")
      ("dry-run", po::bool_switch(),
       "check the job, the model and its ops, the inputs and the output and report paths, print the plan, and "
       "score and write nothing: exit 0 when the job would start (free space is checked only by a real run)")
      ("quiet,q", po::bool_switch(), "no progress lines or summary; errors only");
  return o;
}

std::string version_text() {
  const Status isa = cpu_isa_env_check();
  std::string out = "shardscore " SHARDSCORE_VERSION " (commit " SHARDSCORE_COMMIT ")\nbackends: cpu (oneDNN, OpenBLAS, oneTBB; instruction set " +
                    std::string(cpu_isa_name(cpu_isa())) + ", SHARDSCORE_CPU_ISA caps it" +
                    (isa.ok() ? std::string() : "; " + isa.message() + ", so a job refuses to run") + ")\n";
#ifdef SHARDSCORE_HAVE_CUDA
  // What the build links, and the devices this process sees (and why none, when none).
  const cuda::RuntimeInfo info = cuda::runtime_info();
  out += "cuda: built for sm_80/sm_90 (runtime " + std::to_string(info.runtime_version) + ", cuBLAS " +
         std::to_string(info.cublas_major) + "." + std::to_string(info.cublas_minor) + ", cuDNN " +
         std::to_string(info.cudnn_version) + "), " + std::to_string(info.device_count) + " device(s) visible" +
         (info.device_count == 0 && !info.device_error.empty() ? " (" + info.device_error + ")" : std::string()) + "\n";
#else
  out += "cuda: not built\n";
#endif
  out += "formats: " + job_formats() + "\n";
  return out;
}

std::string dims_text(const ValueInfo& v) {
  if (!v.rank_known) return "(shape not given)";
  std::string out = "[";
  for (std::size_t k = 0; k < v.dims.size(); ++k) {
    if (k) out += ", ";
    out += v.dims[k] >= 0 ? std::to_string(v.dims[k]) : (v.dim_params[k].empty() ? "?" : v.dim_params[k]);
  }
  return out + "]";
}

struct Outcome {
  int exit_code = 0;
  std::string error;    // printed once, by rank 0
  std::string message;  // stdout text (help, version), printed by rank 0
};

// Rank 0: the run's outcome to the job's Prometheus Pushgateway, when it names one. A push that
// fails is a warning: the run's own exit code stands (its output is as good as without metrics).
void push_metrics(const JobConfig::Metrics& to, const JobTally& tally, int exit_code, std::chrono::duration<double> took,
                  MPI_Comm comm, bool quiet) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  if (rank != 0 || to.pushgateway.empty()) return;
  JobMetrics m;
  m.exit_code = exit_code;
  m.finished_unix = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  m.seconds = took.count();
  m.ranks = size;
  m.tally = tally;
  const std::string group = metrics_group_path(to.job, to.instance);
  const Status st = metrics_push(to.pushgateway, group, metrics_text(m), 10.0);
  if (!st.ok()) {
    log_warning(st.message() + " (the run's exit code " + std::to_string(exit_code) + " stands)");
  } else if (!quiet) {
    log_line("metrics pushed to " + to.pushgateway + group);
  }
}

// A word of the command line that is neither an option nor an option's value ("", none): the usage
// error that names it, and what it may have been meant as.
std::string stray_word_error(const po::parsed_options& parsed, const po::options_description& opts) {
  for (const auto& o : parsed.options) {
    // Boost keeps such words as options without a name (position_key >= 0); store() drops them.
    if (o.position_key < 0 || o.original_tokens.empty()) continue;
    const std::string& word = o.original_tokens.front();
    std::string hint;
    if (opts.find_nothrow(word, false, false, false) != nullptr) {
      hint = ": did you mean --" + word + "?";
    } else if (word.size() > 5 && word.compare(word.size() - 5, 5, ".toml") == 0) {
      hint = ": did you mean --job " + word + "?";
    } else if (word.find('=') != std::string::npos && word.substr(0, word.find('=')).find('.') != std::string::npos) {
      hint = ": it looks like a job key; --set takes one section.key=VALUE, give --set again for each (--set " + word + ")";
    } else {
      hint = ": each option takes one value (quote a value that holds spaces)";
    }
    return "unexpected word '" + word + "' on the command line: not an option or an option's value" + hint +
           " (see 'shardscore run --help')";
  }
  return "";
}

Outcome run_command(const std::vector<std::string>& args, MPI_Comm comm) {
  po::options_description opts = run_options();
  po::variables_map vm;
  try {
    const po::parsed_options parsed = po::command_line_parser(args).options(opts).run();
    if (std::string stray = stray_word_error(parsed, opts); !stray.empty()) return {2, stray, ""};
    po::store(parsed, vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return {2, std::string(e.what()) + " (see 'shardscore run --help')", ""};
  }
  if (vm.count("help")) {
    std::ostringstream out;
    out << "Usage: shardscore run --job JOB.toml [options]\n\n" << opts
        << "\nJob file keys (section.key, default, meaning):\n" << job_config_describe_keys();
    return {0, "", out.str()};
  }
  if (!vm.count("job")) return {2, "'shardscore run' needs --job FILE.toml (see 'shardscore run --help')", ""};

  std::vector<std::string> overrides;
  if (vm.count("input")) overrides.push_back("input.path=" + vm["input"].as<std::string>());
  if (vm.count("output")) overrides.push_back("output.path=" + vm["output"].as<std::string>());
  if (vm.count("model")) overrides.push_back("model.path=" + vm["model"].as<std::string>());
  if (vm.count("batch-size")) overrides.push_back("run.batch_size=" + std::to_string(vm["batch-size"].as<long long>()));
  if (vm.count("backend")) overrides.push_back("run.backend=" + vm["backend"].as<std::string>());
  if (vm.count("precision")) overrides.push_back("run.precision=" + vm["precision"].as<std::string>());
  // A key given by a short form and by --set too is ambiguous (which one the user meant cannot be
  // told: --set won, whatever the order); --set twice is not, the later one wins (documented).
  const std::size_t short_forms = overrides.size();
  if (vm.count("set")) {
    for (const auto& s : vm["set"].as<std::vector<std::string>>()) {
      const std::string key = s.substr(0, s.find('='));
      for (std::size_t k = 0; k < short_forms; ++k) {
        if (overrides[k].substr(0, overrides[k].find('=')) == key) {
          return {2, "job key '" + key + "' is given twice, by a short option (" + overrides[k] + ") and by --set " + s +
                         ": give it once", ""};
        }
      }
      overrides.push_back(s);
    }
  }

  auto job = job_config_load(vm["job"].as<std::string>(), overrides);
  // Every rank reads the job file itself. A rank that cannot (a file on the first node's own disk,
  // a relative path from another working directory) fails every rank, naming itself and its node;
  // alone, it left the others waiting in the job's first collective.
  const Status loaded = mpi_agree_where(job.status(), comm);
  if (!loaded.ok()) {
    // A job file that names a gateway and fails to load is a failed night like any other: pushed,
    // so that an alert on the exit code fires (a dry run is a check, not a run).
    const Outcome failed{exit_code_for(loaded), loaded.message(), ""};
    if (!vm["dry-run"].as<bool>()) {
      push_metrics(job.ok() ? job.value().metrics : job_config_metrics_of_failed(vm["job"].as<std::string>(), overrides),
                   JobTally{}, failed.exit_code, std::chrono::duration<double>(0), comm, vm["quiet"].as<bool>());
    }
    return failed;
  }
  JobOptions options;
  JobTally tally;
  options.quiet = vm["quiet"].as<bool>();
  options.stop_signal = &g_stop_signal;
  options.notice_signal = &g_notice_signal;
  options.tally = &tally;
  options.dry_run = vm["dry-run"].as<bool>();
  install_stop_handlers();
  const auto t0 = std::chrono::steady_clock::now();
  auto result = job_run(job.value(), comm, options);
  Outcome outcome{result.ok() ? result.value() : exit_code_for(result.status()),
                  result.ok() ? "" : result.status().message(), ""};
  // Stopped by a signal: the shell's code for it (128 + its number: 143 for SIGTERM, 130 for SIGINT),
  // on every rank, whichever got it (rank 0 pushes the metrics). Every rank is here: job_run's
  // failures are agreed.
  int signalled = g_stop_signal.load(), any_signal = 0;
  if (MPI_Allreduce(&signalled, &any_signal, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS) any_signal = signalled;
  if (!result.ok() && any_signal != 0) outcome.exit_code = 128 + any_signal;
  if (!options.dry_run) {  // a check is not a run: nothing to alert on
    push_metrics(job.value().metrics, tally, outcome.exit_code, std::chrono::steady_clock::now() - t0, comm, options.quiet);
  }
  return outcome;
}

Outcome inspect_command(const std::vector<std::string>& args) {
  const auto usage_error = [](const std::string& why) {
    return Outcome{2, why + ": 'shardscore inspect' takes one MODEL.onnx and no options but --help (usage: shardscore "
                              "inspect MODEL.onnx)", ""};
  };
  if (std::find(args.begin(), args.end(), "--help") != args.end() || std::find(args.begin(), args.end(), "-h") != args.end()) {
    return {0, "", "Usage: shardscore inspect MODEL.onnx\n\nShows the model's inputs and outputs, opsets, op counts and\n"
                   "parameters, and the ops this build cannot run; with every op there and fixed row\n"
                   "shapes, it runs the model on two rows of zeros (CPU), as a job does before scoring\n"
                   "(then on three, to check that its rows are scored independently).\n"
                   "Exit code 0 when this build can run the model, 2 when it cannot (or the file is not\n"
                   "an ONNX model).\n\n"
                   "Parameters: the elements of the initializers and of tensor attributes (Constant\n"
                   "nodes), and the numbers in the ai.onnx.ml ops' float and int attribute arrays\n"
                   "(coefficients, intercepts, support vectors, tree node and leaf tables, scaler and\n"
                   "encoder values, class labels). Single-number settings (a Binarizer's threshold,\n"
                   "n_targets) and the standard ops' attributes (kernel_shape, pads) are not counted.\n"};
  }
  // An option is named before a second word: "inspect -x m.onnx" is about -x.
  for (const auto& a : args)
    if (a.size() > 1 && a[0] == '-') return usage_error("unknown option '" + a + "'");
  if (args.size() > 1) return usage_error("unexpected word '" + args[1] + "' on the command line");
  if (args.empty()) return {2, "usage: shardscore inspect MODEL.onnx", ""};
  auto m = graph_inspect_onnx(args[0]);
  if (!m.ok()) return {exit_code_for(m.status()), m.status().message(), ""};
  std::ostringstream out;
  out << "model:      " << m->path << "\n";
  out << "producer:   " << (m->producer.empty() ? "(none)" : m->producer) << ", IR version " << m->ir_version << "\n";
  out << "opsets:    ";
  for (const auto& [domain, version] : m->opsets) out << " " << domain_display(domain) << " " << version;
  out << "\ninputs:\n";
  const auto value_line = [](const ValueInfo& v) {
    return "  " + v.name + "  " + value_info_type_name(v) + (v.tensor ? " " + dims_text(v) : std::string()) + "\n";
  };
  for (const auto& v : m->inputs) out << value_line(v);
  out << "outputs:\n";
  for (const auto& v : m->outputs) out << value_line(v);
  out << "parameters: " << m->parameters << " (" << m->parameter_bytes
      << " bytes; initializers, tensor attributes and ai.onnx.ml attribute arrays)\n";
  out << "nodes:      " << m->nodes << "\n";
  for (const auto& [op, count] : m->op_counts) out << "  " << op << " " << count << "\n";
  if (m->unsupported.empty()) {
    // Every op is there; what an op refuses by its attributes or shapes (string class labels, a
    // broadcast it does not take) shows when it runs: two rows of zeros, as a job probes the model
    // before scoring, where the rows' shape follows from the model alone.
    std::string shapes_unknown;
    for (const auto& v : m->inputs)
      for (std::size_t d = 1; d < v.dims.size(); ++d)
        if (v.dims[d] < 0 && shapes_unknown.empty()) shapes_unknown = v.name;
    if (!shapes_unknown.empty()) {
      out << "this build can run every op of this model (not tried on rows: input '" << shapes_unknown
          << "' has dimensions that only the data decides)\n";
      return {0, "", out.str()};
    }
    std::string rows_note;  // how a job quantizes a quantize_dynamic model's rows
    Status tried = [&]() -> Status {
      EngineOptions as_a_job;
      as_a_job.fixed_batch_in_runs = true;
      as_a_job.rows_alone_in_runs = true;
      SS_ASSIGN_OR_RETURN(auto engine, Engine::load(args[0], "cpu", as_a_job));
      if (!engine->rows_quantized().empty()) {
        rows_note = "it quantizes its activations by their range (" + engine->rows_quantized() +
                    "): on the CPU a job runs whole batches, each row quantized by its own range (" +
                    std::to_string(engine->pass_stats().row_quantized_matmuls) + " products)\n";
      } else if (!engine->rows_alone().empty()) {
        rows_note = "it quantizes its activations by their range (" + engine->rows_alone() +
                    "): a job runs it a row at a time" +
                    (engine->rows_alone_why().empty() ? std::string() : " (" + engine->rows_alone_why() + ")") + "\n";
      }
      std::vector<RowSpec> rows;
      for (const auto& v : engine->graph().inputs) {
        if (v.dims.empty()) return invalid_argument("input '" + v.name + "' is a scalar, not rows");
        // A fixed first dimension too: the job runs such a model its rows at a time.
        rows.push_back({v.dtype, Shape(v.dims.begin() + 1, v.dims.end())});
      }
      return engine_probe_rows(*engine, rows).status();
    }();
    if (tried.ok()) {
      out << "this build can run every op of this model, and ran it on two rows of zeros (then three, its rows "
             "independent)\n"
          << rows_note;
      return {0, "", out.str()};
    }
    // A refusal of what the trial found (rows that mix) came after the model ran.
    const bool ran = engine_probe_refused(tried);
    out << (ran ? "this build has every op of this model and ran it on rows of zeros, but refuses it: "
                : "this build has every op of this model but cannot run it on two rows of zeros: ")
        << tried.message() << "\n";
    return {2, "", out.str()};
  }
  out << "this build cannot run:\n";
  for (const auto& u : m->unsupported) out << "  " << u << "\n";
  if (!m->hint.empty()) out << m->hint << "\n";
  // The summary is the answer; the exit code says it cannot run.
  return {2, "", out.str()};
}

}  // namespace

int main(int argc, char** argv) {
  hdf5_start_before_mpi();
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);

  Outcome outcome;
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (provided < MPI_THREAD_SERIALIZED) {
      outcome = {1, "the MPI library does not provide MPI_THREAD_SERIALIZED, which shardscore needs", ""};
    } else if (args.empty()) {
      outcome = {2, "no command given; usage: shardscore run --job JOB.toml (see 'shardscore --help')", ""};
    } else if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      outcome = {0, "", kUsage};
    } else if (args[0] == "--version" || args[0] == "-V") {
      outcome = {0, "", version_text()};
    } else if (args[0] == "inspect") {
      outcome = inspect_command(std::vector<std::string>(args.begin() + 1, args.end()));
    } else if (args[0] == "run") {
      outcome = run_command(std::vector<std::string>(args.begin() + 1, args.end()), MPI_COMM_WORLD);
    } else {
      outcome = {2, "unknown command '" + args[0] + "' (commands: run, inspect; see 'shardscore --help')", ""};
    }
  } catch (const std::exception& e) {
    // Not agreed with the other ranks: the only safe way out is to take the whole job down.
    log_error("rank " + std::to_string(rank) + ": unexpected failure: " + e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  if (rank == 0) {
    log_end_live();  // a progress line left open on a terminal
    if (!outcome.message.empty()) std::fputs(outcome.message.c_str(), outcome.error.empty() ? stdout : stderr);
    if (!outcome.error.empty()) log_error(outcome.error);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  hdf5_finish();
  MPI_Finalize();
  return outcome.exit_code;
}
