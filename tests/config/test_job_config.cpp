#include "config/job_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace shardscore {
namespace {

const char* kMinimal = R"(
[input]
path = "in.h5"
[model]
path = "m.onnx"
[output]
path = "out.h5"
)";

TEST(JobConfig, DefaultsApplyToAMinimalJob) {
  auto c = job_config_parse(kMinimal, "job.toml", {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->input.path, "in.h5");
  EXPECT_EQ(c->input.dataset, "/features");
  EXPECT_EQ(c->run.batch_size, 4096);
  EXPECT_EQ(c->run.shard_rows, 65536);
  EXPECT_EQ(c->run.threads, 0);
  EXPECT_EQ(c->run.backend, "cpu");
  EXPECT_FALSE(c->output.overwrite);
  EXPECT_TRUE(c->output.outputs.empty());  // every output of the model
  EXPECT_EQ(c->report_path(), "out.h5.report.json");
  EXPECT_TRUE(c->preprocess.mean.empty());
  EXPECT_EQ(c->preprocess.where, "auto");
  EXPECT_DOUBLE_EQ(c->checks.max_missing_fraction, 1.0);
  EXPECT_DOUBLE_EQ(c->checks.max_inf_fraction, 0.0);
  EXPECT_FALSE(c->checks.allow_nan_outputs);
}

TEST(JobConfig, ReadsEverySection) {
  auto c = job_config_parse(std::string(kMinimal) + R"(
[run]
batch_size = 100
threads = 3
progress_interval = 0.5
[preprocess]
impute = 0
mean = [1, 2.5]
std = [2.0, 4]
clip_min = -3.0
[checks]
max_missing_fraction = 0.25
allow_inf_outputs = true
)", "job.toml", {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->run.batch_size, 100);
  EXPECT_EQ(c->run.threads, 3);
  EXPECT_DOUBLE_EQ(c->run.progress_interval, 0.5);
  EXPECT_EQ(c->preprocess.impute, std::vector<double>({0.0}));
  EXPECT_EQ(c->preprocess.mean, std::vector<double>({1.0, 2.5}));
  EXPECT_EQ(c->preprocess.std, std::vector<double>({2.0, 4.0}));
  EXPECT_EQ(c->preprocess.clip_min, std::vector<double>({-3.0}));
  EXPECT_TRUE(c->preprocess.clip_max.empty());
  EXPECT_DOUBLE_EQ(c->checks.max_missing_fraction, 0.25);
  EXPECT_TRUE(c->checks.allow_inf_outputs);
}

TEST(JobConfig, OverridesWinInOrderAndAreRecordedInTheJobAsRun) {
  auto c = job_config_parse(kMinimal, "job.toml",
                            {"run.batch_size=7", "input.path=/data/x y.h5", "output.overwrite=true",
                             "preprocess.mean=[0.5, 1]", "run.batch_size=9", "output.report=\"r.json\""});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->run.batch_size, 9);
  EXPECT_EQ(c->input.path, "/data/x y.h5");
  EXPECT_TRUE(c->output.overwrite);
  EXPECT_EQ(c->preprocess.mean, std::vector<double>({0.5, 1.0}));
  EXPECT_EQ(c->report_path(), "r.json");
  EXPECT_NE(c->toml_text.find("batch_size = 9"), std::string::npos) << c->toml_text;
  EXPECT_NE(c->toml_text.find("/data/x y.h5"), std::string::npos);
  // The job as run parses back to the same job.
  auto again = job_config_parse(c->toml_text, "as-run", {});
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->run.batch_size, 9);
}

TEST(JobConfig, OutputsToWriteInTheirOrder) {
  auto c = job_config_parse(kMinimal, "job.toml", {"output.outputs=[\"probabilities\", \"label\"]"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->output.outputs, std::vector<std::string>({"probabilities", "label"}));
  auto again = job_config_parse(c->toml_text, "as-run", {});  // kept in the job as run
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->output.outputs, c->output.outputs);
}

TEST(JobConfig, UnknownKeysAreErrorsThatNameTheKey) {
  auto a = job_config_parse(std::string(kMinimal) + "[run]\nbogus_key = 1\n", "job.toml", {});
  EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("run.bogus_key"), std::string::npos) << a.status().message();
  EXPECT_NE(a.status().message().find("batch_size"), std::string::npos) << "lists the valid keys";

  auto b = job_config_parse(std::string(kMinimal) + "[nonsense]\nx = 1\n", "job.toml", {});
  EXPECT_NE(b.status().message().find("[nonsense]"), std::string::npos) << b.status().message();

  auto c = job_config_parse(kMinimal, "job.toml", {"input.bogus=1"});
  EXPECT_NE(c.status().message().find("input.bogus"), std::string::npos) << c.status().message();

  auto d = job_config_parse(std::string("top = 1\n") + kMinimal, "job.toml", {});
  EXPECT_NE(d.status().message().find("'top'"), std::string::npos) << d.status().message();
}

TEST(JobConfig, WrongTypesAndBadValuesNameTheKey) {
  struct Case {
    std::string extra;
    std::vector<std::string> overrides;
    std::string key;
  } cases[] = {
      {"[run]\nbatch_size = \"big\"\n", {}, "run.batch_size"},
      {"", {"run.batch_size=0"}, "run.batch_size"},
      {"", {"run.batch_size=abc"}, "run.batch_size"},
      {"", {"run.threads=-1"}, "run.threads"},
      {"", {"run.backend=tpu"}, "run.backend"},
      {"", {"preprocess.where=gpu"}, "preprocess.where"},
      {"[preprocess]\nstd = [1, 0]\n", {}, "preprocess.std"},
      {"[preprocess]\nmean = [1, \"a\"]\n", {}, "preprocess.mean"},
      {"", {"preprocess.mean=nan"}, "preprocess.mean"},
      {"", {"preprocess.mean=[0, inf]"}, "preprocess.mean"},
      {"", {"preprocess.impute=nan"}, "preprocess.impute"},
      {"", {"preprocess.impute=-inf"}, "preprocess.impute"},
      {"", {"preprocess.clip_min=nan"}, "preprocess.clip_min"},
      {"", {"preprocess.clip_max=[1, nan]"}, "preprocess.clip_max"},
      {"", {"input.dataset=\"/x\"", "input.datasets={ a = \"/a\" }"}, "input.datasets"},
      {"[checks]\nmax_missing_fraction = 1.5\n", {}, "checks.max_missing_fraction"},
      {"", {"output.overwrite=yes"}, "output.overwrite"},
      {"", {"output.outputs=\"label\""}, "output.outputs"},
      {"", {"output.outputs=[1, 2]"}, "output.outputs"},
      {"", {"output.outputs=[\"label\", \"probabilities\", \"label\"]"}, "output.outputs"},
      {"", {"output.outputs=[\"\"]"}, "output.outputs"},
      {"", {"metrics.pushgateway=\"https://gw:9091\""}, "metrics.pushgateway"},
      {"", {"metrics.pushgateway=\"pushgateway:9091\""}, "metrics.pushgateway"},
      {"", {"metrics.pushgateway=\"http://\""}, "metrics.pushgateway"},
      {"", {"metrics.pushgateway=\"http://:9091\""}, "metrics.pushgateway"},
      {"", {"metrics.job=\"\""}, "metrics.job"},
      {"", {"metrics.instance=\"\""}, "metrics.instance"},
      {"", {"metrics.push=1"}, "metrics.push"},
      {"", {"noequals"}, "noequals"},
      {"", {"run=1"}, "run"},
      // Preprocessing computes in float32: these would be 0 or Inf there.
      {"", {"preprocess.scale=1e-46"}, "preprocess.scale"},
      {"", {"preprocess.scale=1e39"}, "preprocess.scale"},
      {"", {"preprocess.std=[1, 1e-46]"}, "preprocess.std"},
      {"", {"preprocess.std=1e39"}, "preprocess.std"},
      {"", {"preprocess.mean=1e39"}, "preprocess.mean"},
      {"", {"preprocess.impute=[0, -1e39]"}, "preprocess.impute"},
      // An integer a double cannot hold exactly (2^53 + 1) is read as a number, not dropped.
      {"", {"checks.max_missing_fraction=9007199254740993"}, "checks.max_missing_fraction"},
  };
  for (const auto& c : cases) {
    auto r = job_config_parse(std::string(kMinimal) + c.extra, "job.toml", c.overrides);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.key;
    EXPECT_NE(r.status().message().find(c.key), std::string::npos) << r.status().message();
  }  // An infinite clip bound is no bound, not an error; one dataset key alone is fine.
  EXPECT_TRUE(job_config_parse(kMinimal, "job.toml", {"preprocess.clip_min=-inf", "preprocess.clip_max=inf"}).ok());
  EXPECT_TRUE(job_config_parse(kMinimal, "job.toml", {"input.datasets={ a = \"/a\" }"}).ok());
  // Big integers are numbers (toml++ gave no double for them: the default stood in, or the job crashed).
  auto big = job_config_parse(kMinimal, "job.toml", {"preprocess.scale=9007199254740993", "preprocess.mean=[9007199254740993, 1]"});
  ASSERT_TRUE(big.ok()) << big.status().message();
  EXPECT_EQ(big.value().preprocess.scale, 9007199254740992.0);
  EXPECT_EQ(big.value().preprocess.mean, (std::vector<double>{9007199254740992.0, 1.0}));
  // A float32 subnormal is still a finite, non-zero divisor.
  EXPECT_TRUE(job_config_parse(kMinimal, "job.toml", {"preprocess.std=1e-40"}).ok());
}

TEST(JobConfig, NumbersOutOfRangeAreNamedWithTheValueGiven) {
  const std::pair<const char*, const char*> cases[] = {
      {"run.batch_size=0", "job key 'run.batch_size' must be at least 1, not 0"},
      {"run.shard_rows=-5", "job key 'run.shard_rows' must be at least 1, not -5"},
      {"run.threads=-1", "job key 'run.threads' must be 0 (auto) or more, not -1"},
      {"run.progress_interval=0", "job key 'run.progress_interval' must be > 0, not 0"},
      {"run.progress_interval=-0.25", "job key 'run.progress_interval' must be > 0, not -0.25"},
      {"checks.max_missing_fraction=1.5", "job key 'checks.max_missing_fraction' must be between 0 and 1, not 1.5"},
      {"checks.max_inf_fraction=-0.1", "job key 'checks.max_inf_fraction' must be between 0 and 1, not -0.1"},
      {"preprocess.scale=1e-46", "(magnitudes from about 1.4e-45 to 3.4e38), not 1e-46"},
      {"preprocess.std=-1", "(about 1.4e-45 to 3.4e38), not -1"},
      {"preprocess.std=[1, 0, 2]", "(about 1.4e-45 to 3.4e38), not 0 (its value 2 of 3)"},
      {"preprocess.mean=[0, inf]", "job key 'preprocess.mean' must hold numbers finite in float32 (below 3.4e38 in "
                                   "magnitude), not inf (its value 2 of 2)"},
      {"preprocess.clip_max=[1, nan]", "job key 'preprocess.clip_max' must hold numbers, not nan (its value 2 of 2)"},
  };
  for (const auto& [override_, message] : cases) {
    auto r = job_config_parse(kMinimal, "job.toml", {override_});
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << override_;
    const std::string got = r.status().message(), want = message;
    EXPECT_TRUE(got.size() >= want.size() && got.compare(got.size() - want.size(), want.size(), want) == 0)
        << override_ << ": " << got;
  }
}

TEST(JobConfig, ARequiredKeySetEmptyIsCalledEmpty) {
  auto e = job_config_parse(kMinimal, "job.toml", {"input.path="});
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.status().message(), "job key 'input.path' is empty (in job.toml or on the command line); it is required");
  e = job_config_parse(kMinimal, "job.toml", {"output.path=\"\""});
  EXPECT_EQ(e.status().message(), "job key 'output.path' is empty (in job.toml or on the command line); it is required");
  e = job_config_parse("[input]\npath = \"in.h5\"\n[output]\npath = \"o.h5\"\n", "job.toml", {});
  EXPECT_EQ(e.status().message(), "job key 'model.path' is required (set it in job.toml or on the command line)");
}

TEST(JobConfig, ReadsTheParquetInputKeys) {
  const std::string job = R"(
[input]
path = "scores_in/"
columns = ["age", "colour", "income"]
id_column = "customer"
label_column = "churned"
categories = { colour = ["red", "green", "blue"] }
unknown_category = 7
[model]
path = "m.onnx"
[output]
path = "out.parquet"
)";
  auto r = job_config_parse(job, "job.toml", {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  const JobConfig& c = r.value();
  EXPECT_EQ(c.input.columns, (std::vector<std::string>{"age", "colour", "income"}));
  EXPECT_EQ(c.input.id_column, "customer");
  EXPECT_EQ(c.input.label_column, "churned");
  ASSERT_EQ(c.input.categories.size(), 1u);
  EXPECT_EQ(c.input.categories[0].first, "colour");
  EXPECT_EQ(c.input.categories[0].second, (std::vector<std::string>{"red", "green", "blue"}));
  EXPECT_EQ(c.input.unknown_category, 7);

  auto d = job_config_parse(kMinimal, "job.toml", {});
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d.value().input.columns.empty());
  EXPECT_FALSE(d.value().input.unknown_category.has_value());

  struct Case {
    std::vector<std::string> overrides;
    std::string key;
  } bad[] = {
      {{"input.columns=[1, 2]"}, "input.columns"},
      {{"input.columns=[]"}, "input.columns"},
      {{"input.columns=[\"a\", \"a\"]"}, "input.columns"},
      {{"input.categories={ c = \"red\" }"}, "input.categories"},
      {{"input.categories={ c = [\"red\", \"red\"] }"}, "input.categories"},
      {{"input.unknown_category=1.5"}, "input.unknown_category"},
      {{"input.id_columns=x"}, "input.id_columns"},
      {{"input.columns=[\"a\", \"churned\"]", "input.label_column=\"churned\""}, "input.label_column"},
  };
  for (const auto& c : bad) {
    auto e = job_config_parse(kMinimal, "job.toml", c.overrides);
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << c.key;
    EXPECT_NE(e.status().message().find(c.key), std::string::npos) << e.status().message();
  }
  // An empty list is refused for being empty, which the message says (not only "an array").
  for (const char* o : {"input.columns=[]", "output.outputs=[]"}) {
    auto e = job_config_parse(kMinimal, "job.toml", {o});
    EXPECT_NE(e.status().message().find("non-empty array of strings"), std::string::npos) << e.status().message();
  }
}

TEST(JobConfig, KeysOfOneInputFormatAndTheKeysAJobSets) {
  EXPECT_EQ(job_config_keys_only_for(InputFormat::kParquet),
            (std::vector<std::string>{"input.columns", "input.id_column", "input.label_column", "input.categories",
                                      "input.unknown_category"}));
  EXPECT_EQ(job_config_keys_only_for(InputFormat::kHdf5), (std::vector<std::string>{"input.dataset", "input.datasets"}));
  // A key set to its default is set all the same (the values cannot tell): the schema's order.
  auto c = job_config_parse(kMinimal, "job.toml", {"run.batch_size=4096", "input.dataset=/features"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->keys_set, (std::vector<std::string>{"input.path", "input.dataset", "model.path", "output.path",
                                                   "run.batch_size"}));
  const std::string d = job_config_describe_keys();
  EXPECT_NE(d.find("Parquet input: code of string values"), std::string::npos) << d;
  EXPECT_NE(d.find("HDF5 input: dataset of a one-input model"), std::string::npos) << d;
}

TEST(JobConfig, RequiredKeysAndSyntaxErrors) {
  auto a = job_config_parse("[input]\npath = \"x\"\n", "job.toml", {});
  EXPECT_NE(a.status().message().find("model.path"), std::string::npos) << a.status().message();
  auto b = job_config_parse("[input\npath = ", "broken.toml", {});
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(b.status().message().find("broken.toml"), std::string::npos);
  EXPECT_NE(b.status().message().find("line 1"), std::string::npos) << b.status().message();
}

TEST(JobConfig, LoadsFromFileAndReportsAMissingOne) {
  const std::string path = ::testing::TempDir() + "/job_config_test.toml";
  {
    std::ofstream(path) << kMinimal;
  }
  auto c = job_config_load(path, {"run.batch_size=5"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->source, path);
  EXPECT_EQ(c->run.batch_size, 5);
  std::remove(path.c_str());
  auto missing = job_config_load(path, {});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
}

TEST(JobConfig, MetricsAreOffByDefaultAndLabelledByTheJobFile) {
  auto c = job_config_parse(kMinimal, "jobs/nightly.toml", {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->metrics.pushgateway.empty());
  EXPECT_EQ(c->metrics.job, "shardscore");
  EXPECT_EQ(c->metrics.instance, "nightly");
  c = job_config_parse(std::string(kMinimal) + "[metrics]\npushgateway = \"http://gw.example:9091/prefix\"\n"
                       "job = \"scoring\"\ninstance = \"eu-west\"\n", "jobs/nightly.toml", {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->metrics.pushgateway, "http://gw.example:9091/prefix");
  EXPECT_EQ(c->metrics.job, "scoring");
  EXPECT_EQ(c->metrics.instance, "eu-west");
}

TEST(JobConfig, DescribeKeysListsEverySection) {
  std::string d = job_config_describe_keys();
  for (const char* k : {"input.path", "input.dataset", "model.path", "output.overwrite", "run.batch_size",
                        "preprocess.impute", "checks.max_missing_fraction", "metrics.pushgateway"}) {
    EXPECT_NE(d.find(k), std::string::npos) << k;
  }
}

}  // namespace
}  // namespace shardscore
