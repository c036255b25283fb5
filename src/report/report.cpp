#include "report/report.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "common/durable.h"

namespace shardscore {

using nlohmann::json;

bool ShardVerdict::passed() const {
  return std::all_of(checks.begin(), checks.end(), [](const CheckResult& c) { return c.passed; });
}

namespace {

// JSON has no NaN/Inf: non-finite numbers are written as null.
json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// Between ranks a statistic keeps its value whatever it is: a non-finite one (the std accumulator
// of float64 outputs near 1e200 overflows) travels as "inf", "-inf" or "nan".
json wire_number(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
}
double number_from_wire(const json& v) {
  if (!v.is_string()) return v.get<double>();
  const std::string s = v.get<std::string>();
  if (s == "inf") return HUGE_VAL;
  if (s == "-inf") return -HUGE_VAL;
  if (s == "nan") return std::nan("");
  throw std::invalid_argument("not a number: '" + s + "'");
}

json stats_to_wire(const ShardStats& s) {
  json o = {{"id", s.id}, {"row_begin", s.row_begin}, {"row_end", s.row_end}, {"rank", s.rank},
            {"rows_read", s.rows_read}, {"rows_scored", s.rows_scored}, {"seconds", wire_number(s.seconds)},
            {"nan", s.feature_nan}, {"inf", s.feature_inf}, {"outputs", json::array()}};
  for (const auto& x : s.outputs) {
    o["outputs"].push_back({{"name", x.name}, {"count", x.count}, {"nan", x.nan}, {"inf", x.inf},
                            {"min", wire_number(x.min)}, {"max", wire_number(x.max)}, {"mean", wire_number(x.mean)},
                            {"m2", wire_number(x.m2)}});
  }
  return o;
}

ShardStats stats_from_wire(const json& o) {
  ShardStats s;
  s.id = o.at("id");
  s.row_begin = o.at("row_begin");
  s.row_end = o.at("row_end");
  s.rank = o.at("rank");
  s.rows_read = o.at("rows_read");
  s.rows_scored = o.at("rows_scored");
  s.seconds = number_from_wire(o.at("seconds"));
  s.feature_nan = o.at("nan").get<std::vector<int64_t>>();
  s.feature_inf = o.at("inf").get<std::vector<int64_t>>();
  for (const auto& x : o.at("outputs")) {
    OutputStats os;
    os.name = x.at("name");
    os.count = x.at("count");
    os.nan = x.at("nan");
    os.inf = x.at("inf");
    os.min = number_from_wire(x.at("min"));
    os.max = number_from_wire(x.at("max"));
    os.mean = number_from_wire(x.at("mean"));
    os.m2 = number_from_wire(x.at("m2"));
    s.outputs.push_back(os);
  }
  return s;
}

}  // namespace

std::string report_encode_shards(const std::vector<ShardStats>& shards) {
  json a = json::array();
  for (const auto& s : shards) a.push_back(stats_to_wire(s));
  return a.dump();
}

StatusOr<std::vector<ShardStats>> report_decode_shards(const std::string& text) {
  try {
    std::vector<ShardStats> out;
    for (const auto& o : json::parse(text)) out.push_back(stats_from_wire(o));
    return out;
  } catch (const std::exception& e) {
    return internal_error(std::string("shard statistics from a rank could not be decoded: ") + e.what());
  }
}

std::string report_json(const RunInfo& info, const std::vector<ShardVerdict>& shards) {
  int64_t rows_read = 0, rows_scored = 0;
  json jshards = json::array(), failures = json::array();
  for (const auto& v : shards) {
    const ShardStats& s = v.stats;
    rows_read += s.rows_read;
    rows_scored += s.rows_scored;
    json features = json::array();
    for (std::size_t j = 0; j < s.feature_nan.size(); ++j) {
      features.push_back({{"index", j}, {"nan", s.feature_nan[j]}, {"inf", s.feature_inf[j]},
                          {"missing_fraction", feature_share(s, s.feature_nan[j], info.features, j)}});
    }
    json outputs = json::array();
    for (const auto& o : s.outputs) {
      bool any = o.count > 0;
      outputs.push_back({{"name", o.name}, {"nan", o.nan}, {"inf", o.inf},
                         {"min", any ? number(o.min) : json(nullptr)}, {"max", any ? number(o.max) : json(nullptr)},
                         {"mean", any ? number(o.mean) : json(nullptr)}, {"std", any ? number(o.stddev()) : json(nullptr)}});
    }
    json checks = json::array();
    for (const auto& c : v.checks) {
      checks.push_back({{"check", c.check}, {"target", c.target}, {"value", number(c.value)},
                        {"threshold", number(c.threshold)}, {"passed", c.passed}});
      if (!c.passed) {
        failures.push_back({{"shard", s.id}, {"rank", s.rank}, {"row_begin", s.row_begin}, {"row_end", s.row_end},
                            {"check", c.check}, {"target", c.target}, {"value", number(c.value)},
                            {"threshold", number(c.threshold)}});
      }
    }
    jshards.push_back({{"id", s.id}, {"rank", s.rank}, {"row_begin", s.row_begin}, {"row_end", s.row_end},
                       {"rows_read", s.rows_read}, {"rows_scored", s.rows_scored}, {"seconds", s.seconds},
                       {"verdict", v.passed() ? "pass" : "fail"}, {"features", features}, {"outputs", outputs},
                       {"checks", checks}});
  }
  json bindings = json::array();
  for (const auto& b : info.input_bindings) {
    bindings.push_back({{"model_input", b.model_input}, {"dataset", b.dataset}, {"dtype", b.dtype}, {"row_shape", b.row_shape}});
  }
  json external = json::array();
  for (const auto& [file, sha] : info.model_external_data) external.push_back({{"file", file}, {"sha256", sha}});
  json placement = json::array();
  for (const auto& p : info.placement) placement.push_back({{"rank", p.rank}, {"host", p.host}, {"device", p.device}});
  const bool passed = failures.empty();
  json r = {
      {"shardscore_version", info.version},
      {"shardscore_commit", info.commit},
      {"status", passed ? "passed" : "checks_failed"},
      {"exit_code", passed ? 0 : 3},
      {"working_directory", info.working_directory},
      {"ranks", info.ranks},
      {"threads_per_rank", info.threads_per_rank},
      {"backend", info.backend},
      {"placement", placement},
      {"model", {{"path", info.model_path}, {"sha256", info.model_sha256}, {"external_data", external}}},
      {"input", {{"path", info.input_path}, {"dataset", info.input_dataset}, {"rows", info.input_rows},
                 {"features", info.input_features}, {"dtype", info.input_dtype}, {"datasets", bindings}}},
      {"output", {{"path", info.output_path}, {"format", info.output_format}, {"datasets", info.output_datasets}}},
      {"rows_read", rows_read},
      {"rows_scored", rows_scored},
      {"seconds", info.seconds},
      {"rows_per_second", info.seconds > 0 ? static_cast<double>(rows_scored) / info.seconds : 0.0},
      {"scoring_seconds", info.scoring_seconds},
      {"io", {{"collective_writes", info.collective_writes}}},
      {"shards", jshards},
      {"failures", failures},
  };
  return r.dump(2) + "\n";
}

std::string report_temp_path(const std::string& path) { return path + ".tmp-" + process_unique_suffix(); }

Status report_write_temp(const std::string& path, const std::string& text) {
  return write_file_synced(report_temp_path(path), text).with_context("report: ");
}

Status report_commit(const std::string& path, bool replace) {
  SS_RETURN_IF_ERROR(move_into_place(report_temp_path(path), path, replace, "report"));
  sync_parent_folder_or_warn(path);
  return ok_status();
}

void report_discard(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(report_temp_path(path), ec);
}

Status report_write_file(const std::string& path, const std::string& text) {
  SS_RETURN_IF_ERROR(report_write_temp(path, text));
  return report_commit(path);
}

std::string span_and_rate(double rows, double seconds) {
  char text[64];
  std::snprintf(text, sizeof text, "%.1f s, %.0f rows/s", seconds, seconds > 0 ? rows / seconds : 0.0);
  return text;
}

std::string report_summary(const RunInfo& info, const std::vector<ShardVerdict>& shards, const std::string& report_path) {
  int64_t rows = 0;
  int failed = 0;
  for (const auto& v : shards) {
    rows += v.stats.rows_scored;
    failed += v.passed() ? 0 : 1;
  }
  std::ostringstream out;
  // Both rates, each named: the whole job's (the report's seconds and rows_per_second, model load
  // and set-up included) and the scoring pipeline's (scoring_seconds), which the last progress
  // line gives in the same words.
  const std::string rate = "job " + span_and_rate(static_cast<double>(rows), info.seconds) + "; scoring " +
                           span_and_rate(static_cast<double>(rows), info.scoring_seconds);
  out << "shardscore " << info.version << ": scored " << rows << " of " << info.input_rows << " rows in "
      << shards.size() << " shards on " << info.ranks << " rank(s), backend " << info.backend << " (" << rate << ")\n";
  out << "output: " << info.output_path << "\nreport: " << report_path << "\n";
  if (failed == 0) {
    out << "quality: all " << shards.size() << " shards passed\n";
    return out.str();
  }
  out << "quality: " << failed << " of " << shards.size() << " shards FAILED checks\n";
  int listed = 0;
  for (const auto& v : shards)
    for (const auto& c : v.checks) {
      if (c.passed) continue;
      if (++listed > 20) break;
      char line[256];
      std::snprintf(line, sizeof line, "  shard %lld (rows %lld-%lld): %s on %s = %.6g (threshold %.6g)\n",
                    static_cast<long long>(v.stats.id), static_cast<long long>(v.stats.row_begin),
                    static_cast<long long>(v.stats.row_end), c.check.c_str(), c.target.c_str(), c.value, c.threshold);
      out << line;
    }
  if (listed > 20) out << "  ... more in the report\n";
  return out.str();
}

}  // namespace shardscore
