#include "report/report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

namespace shardscore {
namespace {

ShardStats sample_shard(int64_t id, int64_t begin, int64_t end, int64_t nan0) {
  ShardStats s;
  s.id = id;
  s.row_begin = begin;
  s.row_end = end;
  s.rank = static_cast<int>(id % 2);
  s.rows_read = s.rows_scored = end - begin;
  s.seconds = 0.25;
  s.feature_nan = {nan0, 0};
  s.feature_inf = {0, 0};
  OutputStats o{"probabilities"};
  const float v[] = {0.25f, 0.75f, 0.5f};
  o.add(Tensor::copy_of(DType::kFloat32, {3}, v));
  s.outputs.push_back(o);
  return s;
}

TEST(Report, ShardStatisticsSurviveTheTripToRankZero) {
  std::vector<ShardStats> in{sample_shard(0, 0, 100, 3), sample_shard(1, 100, 150, 0)};
  auto out = report_decode_shards(report_encode_shards(in));
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].feature_nan, in[0].feature_nan);
  EXPECT_EQ((*out)[1].row_begin, 100);
  EXPECT_EQ((*out)[1].outputs[0].name, "probabilities");
  EXPECT_DOUBLE_EQ((*out)[1].outputs[0].mean, 0.5);
  EXPECT_DOUBLE_EQ((*out)[1].outputs[0].m2, in[1].outputs[0].m2);
  EXPECT_FALSE(report_decode_shards("{not json").ok());
}

TEST(Report, NonFiniteStatisticsSurviveTheTripToRankZero) {
  // float64 outputs near +-1e200 are finite, but their std accumulator overflows to Inf; the trip
  // to rank 0 failed ('type must be number, but is null') and the job with it.
  ShardStats s = sample_shard(0, 0, 2, 0);
  OutputStats o{"big"};
  const double v[] = {1e200, -1e200};
  o.add(Tensor::copy_of(DType::kFloat64, {2}, v));
  ASSERT_TRUE(std::isinf(o.m2));
  s.outputs = {o};
  s.outputs.push_back(OutputStats{"none"});  // no finite value: its min, max and mean as they start
  auto out = report_decode_shards(report_encode_shards({s}));
  ASSERT_TRUE(out.ok()) << out.status().message();
  const OutputStats& back = (*out)[0].outputs[0];
  EXPECT_EQ(back.min, -1e200);
  EXPECT_EQ(back.max, 1e200);
  EXPECT_TRUE(std::isinf(back.m2) && back.m2 > 0);
  const OutputStats& none = (*out)[0].outputs[1];
  const OutputStats fresh{"none"};
  for (const auto& [got, want] : {std::pair{none.min, fresh.min}, {none.max, fresh.max}, {none.mean, fresh.mean}}) {
    EXPECT_TRUE(got == want || (std::isnan(got) && std::isnan(want))) << got << " vs " << want;
  }
}

TEST(Report, JsonFollowsTheDocumentedSchemaAndNamesFailures) {
  JobConfig::Checks checks;
  checks.max_missing_fraction = 0.02;
  std::vector<ShardVerdict> v;
  for (const auto& s : {sample_shard(0, 0, 100, 3), sample_shard(1, 100, 150, 0)}) v.push_back({s, quality_evaluate(s, checks)});
  RunInfo info;
  info.version = "9.9.9";
  info.ranks = 2;
  info.backend = "cpu";
  info.input_rows = 150;
  info.output_datasets = {"probabilities", "row_index"};
  info.seconds = 2;
  info.scoring_seconds = 1.5;
  info.working_directory = "/scratch/run7";
  info.placement = {{0, "node-a", "cpu"}, {1, "node-b", "GPU 1 (Some GPU, PCI 0000:4C:00.0)"}};
  auto j = nlohmann::json::parse(report_json(info, v));
  for (const char* key : {"shardscore_version", "shardscore_commit", "status", "exit_code", "working_directory", "ranks", "backend", "placement", "model", "input", "output",
                          "rows_read", "rows_scored", "seconds", "rows_per_second", "scoring_seconds", "io", "shards", "failures"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  const auto want_placement = nlohmann::json::array(
      {{{"rank", 0}, {"host", "node-a"}, {"device", "cpu"}},
       {{"rank", 1}, {"host", "node-b"}, {"device", "GPU 1 (Some GPU, PCI 0000:4C:00.0)"}}});
  EXPECT_EQ(j["placement"], want_placement);
  EXPECT_EQ(j["status"], "checks_failed");
  EXPECT_EQ(j["exit_code"], 3);
  EXPECT_EQ(j["working_directory"], "/scratch/run7");
  EXPECT_EQ(j["rows_scored"], 150);
  EXPECT_DOUBLE_EQ(j["rows_per_second"].get<double>(), 75.0);
  EXPECT_DOUBLE_EQ(j["scoring_seconds"].get<double>(), 1.5);
  ASSERT_EQ(j["failures"].size(), 1u);
  EXPECT_EQ(j["failures"][0]["shard"], 0);
  EXPECT_EQ(j["failures"][0]["check"], "max_missing_fraction");
  EXPECT_EQ(j["failures"][0]["target"], "feature 0");
  EXPECT_DOUBLE_EQ(j["failures"][0]["value"].get<double>(), 0.03);
  EXPECT_EQ(j["shards"][0]["verdict"], "fail");
  EXPECT_EQ(j["shards"][1]["verdict"], "pass");
  auto out = j["shards"][1]["outputs"][0];
  EXPECT_DOUBLE_EQ(out["mean"].get<double>(), 0.5);
  EXPECT_NEAR(out["std"].get<double>(), 0.2041241452, 1e-9);
  EXPECT_DOUBLE_EQ(j["shards"][0]["features"][0]["missing_fraction"].get<double>(), 0.03);

  std::string summary = report_summary(info, v, "r.json");
  EXPECT_NE(summary.find("1 of 2 shards FAILED"), std::string::npos) << summary;
  // The whole job's rate and the scoring pipeline's (the progress lines' rate), each named.
  EXPECT_NE(summary.find("(job 2.0 s, 75 rows/s; scoring 1.5 s, 100 rows/s)"), std::string::npos) << summary;
  EXPECT_NE(summary.find("max_missing_fraction on feature 0"), std::string::npos) << summary;
}

TEST(Report, WritesTheFileAtomically) {
  const std::string path = ::testing::TempDir() + "/report_test.json";
  ASSERT_TRUE(report_write_file(path, "{\"a\": 1}\n").ok());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "{\"a\": 1}\n");
  EXPECT_FALSE(std::ifstream(report_temp_path(path)).good());
  EXPECT_FALSE(report_write_file("/nonexistent-dir/x.json", "{}").ok());
}

// The job writes the report under its temporary name before it moves the output into place, and
// moves or discards it after.
TEST(Report, TemporaryFileIsCommittedOrDiscarded) {
  const std::string path = ::testing::TempDir() + "/report_temp_test.json";
  std::remove(path.c_str());  // an earlier run's
  // Per process: two jobs writing one report path at once never write into the same file, even with
  // one pid (both pid 1 in containers, or on two nodes): host, pid and a random part.
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  const std::string suffix = report_temp_path(path).substr(path.size());
  EXPECT_TRUE(std::regex_match(suffix, std::regex("\\.tmp-" + std::string(host) + "-" + std::to_string(::getpid()) +
                                                  "-[0-9a-f]{8}")))
      << suffix;
  EXPECT_EQ(report_temp_path(path), report_temp_path(path)) << "the same name for the whole process";
  ASSERT_TRUE(report_write_temp(path, "{\"b\": 2}\n").ok());
  EXPECT_TRUE(std::ifstream(report_temp_path(path)).good());
  EXPECT_FALSE(std::ifstream(path).good()) << "written under its final name before the commit";
  report_discard(path);
  EXPECT_FALSE(std::ifstream(report_temp_path(path)).good());

  ASSERT_TRUE(report_write_temp(path, "{\"b\": 2}\n").ok());
  ASSERT_TRUE(report_commit(path).ok());
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  EXPECT_EQ(text.str(), "{\"b\": 2}\n");
  EXPECT_FALSE(std::ifstream(report_temp_path(path)).good());
  EXPECT_FALSE(report_commit(::testing::TempDir() + "/no_such_report.json").ok());
}

}  // namespace
}  // namespace shardscore
