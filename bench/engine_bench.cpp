// engine_bench: throughput of shardscore's engine on one ONNX model, the way a job runs it.
//
//   engine_bench --model M.onnx --batch B --threads T --warmup W --repeats R [--seq S] [--seed N]
//                [--json] [--dump DIR] [--profile] [--backend cpu|cuda] [--precision fp32|tf32|fp16|bf16]
//                [--outputs NAME[,NAME...]] [--rows-alone]
//
// --backend cuda (default cpu) runs the CUDA backend at --precision (default fp32): T batches in
// flight take T lanes (streams), as a job's T threads do; the engine alone, without the job's
// reading, preprocessing and writing, so that a GPU run tells the engine's rate from the job's.
// --profile is CPU only (the CUDA backend's per-op times: SHARDSCORE_CUDA_PROFILE=1, see
// engine/cuda/cuda_backend.cpp).
//
// Execution model (as in src/job/run_job.cpp): one batch runs single-threaded (OpenBLAS is pinned
// to one thread by the CPU backend); parallelism comes from running several batches at once on
// oneTBB threads. So one repeat = T batches of B items run concurrently (one per TBB thread,
// each on its own copy of the inputs), and items/s = T * B / wall time of the repeat. The figure
// reported is the median over R repeats (min and max as well), after W warmup repeats.
//
// --outputs keeps only those model outputs (a job's output.outputs: EngineOptions::outputs), e.g.
// BERT's pooler_output without its 393 KB-a-row last_hidden_state copied back.
//
// A quantize_dynamic model runs as a job runs it (EngineOptions::rows_alone_in_runs): whole
// batches, each row quantized by its own range, where pass_row_quantized_matmuls applies, a row at a
// time otherwise (stderr says which). --rows-alone runs it a row at a time anyway (the pass off).
//
// Inputs are random, built from each graph input's declared type and shape: the first dimension
// is B when symbolic, other symbolic dimensions are S (--seq); float inputs are standard normal;
// integer inputs named like *input_ids* are uniform in [0, 1000), *mask* are ones, *token_type*
// (and any other integer input) are zeros.
//
// --dump DIR writes the inputs and outputs of one batch (slot 0, first measured repeat) to DIR as
// raw little-endian arrays plus DIR/meta.json, so that another runtime can be checked against the
// same inputs. --profile adds, after the timing, one single-threaded pass over the plan timing
// every op (summed per op type) and prints it to stderr.
//
// Output: one line on stdout. With --json a JSON object; otherwise a human line. A model this
// build cannot run prints {"model":..., "error":..., "code":"Unimplemented"} and exits 2.
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/graph.h"
#include "engine/op_registry.h"
#include "engine/plan.h"
#include "engine/tensor.h"

namespace ss = shardscore;

namespace {

struct Args {
  std::string model;
  int64_t batch = 1;
  int threads = 1;
  int warmup = 1;
  int repeats = 5;
  int64_t seq = -1;
  uint64_t seed = 42;
  bool json = false;
  bool profile = false;
  std::string dump;
  std::string backend = "cpu";
  std::string precision = "fp32";
  std::vector<std::string> outputs;  // empty: all
  bool rows_alone = false;           // --rows-alone
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "engine_bench: " << why << "\n"
            << "usage: engine_bench --model M.onnx --batch B --threads T --warmup W --repeats R [--seq S] [--seed N]\n"
            << "                    [--json] [--dump DIR] [--profile] [--backend cpu|cuda] [--precision P]\n"
            << "                    [--outputs NAME[,NAME...]] [--rows-alone]\n";
  std::exit(2);
}

int64_t to_int(const std::string& flag, const std::string& v, int64_t min) {
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < min) usage(flag + " wants an integer >= " + std::to_string(min) + ", got '" + v + "'");
  return x;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(f + " needs a value");
      return argv[++i];
    };
    if (f == "--model") a.model = val();
    else if (f == "--batch") a.batch = to_int(f, val(), 1);
    else if (f == "--threads") a.threads = static_cast<int>(to_int(f, val(), 1));
    else if (f == "--warmup") a.warmup = static_cast<int>(to_int(f, val(), 0));
    else if (f == "--repeats") a.repeats = static_cast<int>(to_int(f, val(), 1));
    else if (f == "--seq") a.seq = to_int(f, val(), 1);
    else if (f == "--seed") a.seed = static_cast<uint64_t>(to_int(f, val(), 0));
    else if (f == "--json") a.json = true;
    else if (f == "--rows-alone") a.rows_alone = true;
    else if (f == "--profile") a.profile = true;
    else if (f == "--dump") a.dump = val();
    else if (f == "--backend") a.backend = val();
    else if (f == "--precision") a.precision = val();
    else if (f == "--outputs") {
      std::string list = val();
      for (std::size_t at = 0; at <= list.size();) {
        const std::size_t comma = std::min(list.find(',', at), list.size());
        a.outputs.push_back(list.substr(at, comma - at));
        at = comma + 1;
      }
    }
    else if (f == "--help" || f == "-h") usage("help");
    else usage("unknown argument '" + f + "'");
  }
  if (a.model.empty()) usage("--model is required");
  if (a.backend != "cpu" && a.backend != "cuda") usage("--backend is cpu or cuda, got '" + a.backend + "'");
  if (a.precision != "fp32" && a.precision != "tf32" && a.precision != "fp16" && a.precision != "bf16") {
    usage("--precision is fp32, tf32, fp16 or bf16, got '" + a.precision + "'");
  }
  if (a.profile && a.backend != "cpu") usage("--profile times the CPU backend's ops (on CUDA: SHARDSCORE_CUDA_PROFILE=1)");
  return a;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += c;
        }
    }
  }
  return o;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Random inputs for every graph input, per the recipe at the top of this file.
ss::StatusOr<std::vector<ss::Tensor>> make_inputs(const ss::Graph& g, const Args& a) {
  std::mt19937_64 rng(a.seed);
  std::vector<ss::Tensor> out;
  for (const ss::ValueInfo& vi : g.inputs) {
    ss::Shape shape = vi.dims;
    if (shape.empty()) return ss::invalid_argument("input '" + vi.name + "' has no declared shape");
    for (std::size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] >= 0) continue;
      if (d == 0) {
        shape[d] = a.batch;
      } else if (a.seq > 0) {
        shape[d] = a.seq;
      } else {
        return ss::invalid_argument("input '" + vi.name + "' has symbolic dimension " + std::to_string(d) + " ('" +
                                    (d < vi.dim_params.size() ? vi.dim_params[d] : std::string()) +
                                    "'): give --seq");
      }
    }
    if (shape[0] != a.batch) {
      return ss::invalid_argument("input '" + vi.name + "' has a fixed first dimension " + std::to_string(shape[0]) +
                                  ", not the batch " + std::to_string(a.batch));
    }
    ss::Tensor t(vi.dtype, shape);
    const int64_t n = t.numel();
    const std::string name = lower(vi.name);
    switch (vi.dtype) {
      case ss::DType::kFloat32: {
        std::normal_distribution<float> nd(0.0f, 1.0f);
        float* p = t.data<float>();
        for (int64_t i = 0; i < n; ++i) p[i] = nd(rng);
        break;
      }
      case ss::DType::kFloat64: {
        std::normal_distribution<double> nd(0.0, 1.0);
        double* p = t.data<double>();
        for (int64_t i = 0; i < n; ++i) p[i] = nd(rng);
        break;
      }
      case ss::DType::kInt64:
      case ss::DType::kInt32: {
        std::uniform_int_distribution<int64_t> ud(0, 999);
        const bool ids = name.find("input_ids") != std::string::npos;
        const bool mask = name.find("mask") != std::string::npos;
        for (int64_t i = 0; i < n; ++i) {
          int64_t v = ids ? ud(rng) : (mask ? 1 : 0);
          if (vi.dtype == ss::DType::kInt64) t.data<int64_t>()[i] = v;
          else t.data<int32_t>()[i] = static_cast<int32_t>(v);
        }
        break;
      }
      default:
        return ss::invalid_argument("input '" + vi.name + "' has dtype " + std::string(ss::dtype_name(vi.dtype)) +
                                    ", which engine_bench cannot fill");
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<ss::Tensor> deep_copy(const std::vector<ss::Tensor>& in) {
  std::vector<ss::Tensor> out;
  out.reserve(in.size());
  for (const auto& t : in) out.push_back(ss::Tensor::copy_of(t.dtype(), t.shape(), t.raw()));
  return out;
}

void write_raw(const std::filesystem::path& p, const ss::Tensor& t) {
  std::ofstream f(p, std::ios::binary);
  f.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
  if (!f) {
    std::cerr << "engine_bench: cannot write " << p << "\n";
    std::exit(1);
  }
}

std::string shape_json(const ss::Shape& s) {
  std::string o = "[";
  for (std::size_t i = 0; i < s.size(); ++i) o += (i ? "," : "") + std::to_string(s[i]);
  return o + "]";
}

void dump(const std::string& dir, const ss::Graph& g, const std::vector<ss::Tensor>& in,
          const std::vector<ss::Tensor>& out) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  std::ostringstream meta;
  meta << "{\"inputs\":[";
  for (std::size_t k = 0; k < in.size(); ++k) {
    std::string file = "in_" + std::to_string(k) + ".bin";
    write_raw(fs::path(dir) / file, in[k]);
    meta << (k ? "," : "") << "{\"name\":\"" << json_escape(g.inputs[k].name) << "\",\"dtype\":\""
         << ss::dtype_name(in[k].dtype()) << "\",\"shape\":" << shape_json(in[k].shape()) << ",\"file\":\"" << file
         << "\"}";
  }
  meta << "],\"outputs\":[";
  for (std::size_t k = 0; k < out.size(); ++k) {
    std::string file = "out_" + std::to_string(k) + ".bin";
    write_raw(fs::path(dir) / file, out[k]);
    meta << (k ? "," : "") << "{\"name\":\"" << json_escape(g.outputs[k].name) << "\",\"dtype\":\""
         << ss::dtype_name(out[k].dtype()) << "\",\"shape\":" << shape_json(out[k].shape()) << ",\"file\":\"" << file
         << "\"}";
  }
  meta << "]}\n";
  std::ofstream(fs::path(dir) / "meta.json") << meta.str();
}

// One batch through the plan, op by op (the CPU backend's loop, with a clock around each op),
// seconds summed per op type. The graph is the CPU engine's own (Engine::load: the same passes and
// switches, SHARDSCORE_FUSE_ATTENTION included), planned the same way.
ss::Status profile(const Args& a, const std::vector<ss::Tensor>& inputs) {
  SS_ASSIGN_OR_RETURN(std::unique_ptr<ss::Engine> engine, ss::Engine::load(a.model, "cpu", ss::EngineOptions{.outputs = a.outputs, .rows_alone_in_runs = true, .rows_quantized_in_batch = !a.rows_alone}));
  const ss::PassStats& ps = engine->pass_stats();
  SS_ASSIGN_OR_RETURN(ss::Plan plan, ss::plan_build(engine->graph()));
  using clock = std::chrono::steady_clock;
  std::map<std::string, std::pair<double, int>> per_op;
  double total = 0;
  for (int rep = 0; rep < 2; ++rep) {  // first pass warms up, second is recorded
    std::vector<ss::Tensor> slots(static_cast<std::size_t>(plan.num_slots));
    for (const auto& [s, t] : plan.constants) slots[s] = t;
    for (std::size_t k = 0; k < inputs.size(); ++k) slots[plan.input_slots[k]] = inputs[k];
    for (const auto& step : plan.steps) {
      ss::OpContext ctx{*step.node, {}, {}};
      for (int s : step.inputs) ctx.inputs.push_back(s >= 0 && !slots[s].empty() ? &slots[s] : nullptr);
      ctx.outputs.resize(step.outputs.size());
      auto t0 = clock::now();
      ss::Status st = ss::op_run_cpu(*step.op, ctx);
      double dt = std::chrono::duration<double>(clock::now() - t0).count();
      if (!st.ok()) return st.with_context(step.node->describe() + ": ");
      if (rep == 1) {
        std::string key = step.node->domain.empty() ? step.node->op_type : step.node->domain + ":" + step.node->op_type;
        per_op[key].first += dt;
        per_op[key].second += 1;
        total += dt;
      }
      for (std::size_t k = 0; k < step.outputs.size(); ++k)
        if (step.outputs[k] >= 0) slots[step.outputs[k]] = std::move(ctx.outputs[k]);
      for (int s : step.free_after) slots[s] = ss::Tensor();
    }
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> rows(per_op.begin(), per_op.end());
  std::sort(rows.begin(), rows.end(), [](auto& x, auto& y) { return x.second.first > y.second.first; });
  std::fprintf(stderr, "profile: one batch of %lld, single thread, %.4f s in ops (%s)\n",
               static_cast<long long>(a.batch), total, ps.describe().c_str());
  std::fprintf(stderr, "  %-36s %6s %10s %7s\n", "op", "nodes", "seconds", "share");
  for (const auto& [op, v] : rows) {
    std::fprintf(stderr, "  %-36s %6d %10.4f %6.1f%%\n", op.c_str(), v.second, v.first,
                 total > 0 ? 100.0 * v.first / total : 0.0);
  }
  return ss::ok_status();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  auto fail = [&](const ss::Status& st) {
    if (a.json) {
      std::cout << "{\"model\":\"" << json_escape(a.model) << "\",\"batch\":" << a.batch << ",\"threads\":" << a.threads
                << ",\"error\":\"" << json_escape(st.message()) << "\",\"code\":\"" << ss::status_code_name(st.code())
                << "\"}" << std::endl;
    }
    std::cerr << "engine_bench: " << st.message() << "\n";
    return st.code() == ss::StatusCode::kUnimplemented || st.code() == ss::StatusCode::kInvalidArgument ? 2 : 1;
  };

  using clock = std::chrono::steady_clock;
  auto t_load = clock::now();
  ss::EngineOptions options;
  options.cuda.precision = a.precision;
  options.outputs = a.outputs;
  options.rows_alone_in_runs = true;  // as a job runs a quantize_dynamic model
  options.rows_quantized_in_batch = !a.rows_alone;
  auto loaded = ss::Engine::load(a.model, a.backend, options);
  if (!loaded.ok()) return fail(loaded.status());
  const ss::Engine& engine = *loaded.value();
  if (!engine.rows_quantized().empty()) {
    std::fprintf(stderr, "engine_bench: %s: whole batches, each row quantized apart (%d products)\n",
                 engine.rows_quantized().c_str(), engine.pass_stats().row_quantized_matmuls);
  }
  if (!engine.rows_alone().empty()) {
    std::fprintf(stderr, "engine_bench: %s: a row at a time%s%s\n", engine.rows_alone().c_str(),
                 engine.rows_alone_why().empty() ? "" : ": ", engine.rows_alone_why().c_str());
  }
  if (!engine.backend_note().empty()) std::fprintf(stderr, "%s\n", engine.backend_note().c_str());
  const double load_s = std::chrono::duration<double>(clock::now() - t_load).count();

  auto made = make_inputs(engine.graph(), a);
  if (!made.ok()) return fail(made.status());
  const std::vector<ss::Tensor>& base = made.value();

  const int T = a.threads;
  std::vector<std::vector<ss::Tensor>> slot_inputs;
  for (int s = 0; s < T; ++s) slot_inputs.push_back(deep_copy(base));

  tbb::global_control cap(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(T));
  tbb::task_arena arena(T);

  std::vector<ss::Status> statuses(static_cast<std::size_t>(T));
  std::vector<std::vector<ss::Tensor>> outs(static_cast<std::size_t>(T));
  auto one_repeat = [&]() -> double {
    auto t0 = clock::now();
    arena.execute([&] {
      tbb::parallel_for(
          0, T, 1,
          [&](int s) {
            // Engine::run takes its inputs by value: a vector of tensors sharing the slot's buffers.
            statuses[s] = engine.run(slot_inputs[s], &outs[s]);
          },
          tbb::simple_partitioner());
    });
    double dt = std::chrono::duration<double>(clock::now() - t0).count();
    return dt;
  };
  auto check = [&]() -> ss::Status {
    for (const auto& st : statuses)
      if (!st.ok()) return st;
    return ss::ok_status();
  };

  for (int w = 0; w < a.warmup; ++w) {
    one_repeat();
    if (auto st = check(); !st.ok()) return fail(st);
  }
  std::vector<double> times;
  for (int r = 0; r < a.repeats; ++r) {
    times.push_back(one_repeat());
    if (auto st = check(); !st.ok()) return fail(st);
    if (r == 0 && !a.dump.empty()) dump(a.dump, engine.graph(), slot_inputs[0], outs[0]);
  }

  const double med = median(times);
  const double mn = *std::min_element(times.begin(), times.end());
  const double mx = *std::max_element(times.begin(), times.end());
  const double items = static_cast<double>(T) * static_cast<double>(a.batch);
  std::ostringstream line;
  line.precision(6);
  if (a.json) {
    line << "{\"model\":\"" << json_escape(a.model) << "\",\"backend\":\"" << a.backend << "\",\"precision\":\""
         << a.precision << "\",\"batch\":" << a.batch << ",\"threads\":" << T
         << ",\"seq\":" << a.seq << ",\"warmup\":" << a.warmup << ",\"repeats\":" << a.repeats
         << ",\"items_per_repeat\":" << static_cast<int64_t>(items) << ",\"median_s\":" << med << ",\"min_s\":" << mn
         << ",\"max_s\":" << mx << ",\"items_per_s\":" << items / med << ",\"items_per_s_best\":" << items / mn
         << ",\"times_s\":["
         << [&] {
              std::ostringstream o;
              o.precision(6);
              for (std::size_t i = 0; i < times.size(); ++i) o << (i ? "," : "") << times[i];
              return o.str();
            }()
         << "],\"load_s\":" << load_s << ",\"passes\":\"" << json_escape(engine.pass_stats().describe()) << "\"}";
  } else {
    line << a.model << " (" << a.backend << (a.backend == "cuda" ? " " + a.precision : "") << "): " << T
         << " thread(s) x batch " << a.batch << ": median " << med << " s (min " << mn
         << ", max " << mx << ") over " << a.repeats << " repeats -> " << items / med << " items/s";
  }
  std::cout << line.str() << std::endl;

  if (a.profile) {
    ss::Status st = profile(a, base);
    if (!st.ok()) return fail(st);
  }
  return 0;
}
