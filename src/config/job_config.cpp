#include "config/job_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

namespace shardscore {
namespace {

enum class Kind { kString, kInt, kFloat, kBool, kFloats, kStringTable, kStrings, kStringListTable };

struct KeySpec {
  const char* section;
  const char* key;
  Kind kind;
  const char* default_text;
  const char* help;
  std::optional<InputFormat> only_for = std::nullopt;  // a key of one input format's (run --help says which)
};

// The schema. Every key a job may hold (run --help prints it; the README's table says the same by hand).
constexpr KeySpec kKeys[] = {
    {"input", "path", Kind::kString, "(required)", "HDF5 file, or Parquet file or folder (*.parquet, *.pq, or a directory)"},
    {"input", "dataset", Kind::kString, "\"/features\"", "dataset of a one-input model: rows x ..., any numeric type", InputFormat::kHdf5},
    {"input", "datasets", Kind::kStringTable, "(one input)", "several model inputs: { input_name = \"/dataset\", ... }", InputFormat::kHdf5},
    {"input", "columns", Kind::kStrings, "(all numeric)", "feature columns, in the model's order", InputFormat::kParquet},
    {"input", "id_column", Kind::kString, "(row index)", "column written to Parquet output before the predictions", InputFormat::kParquet},
    {"input", "label_column", Kind::kString, "(none)", "label column, never a feature", InputFormat::kParquet},
    {"input", "categories", Kind::kStringListTable, "(none)", "vocabulary per string column { col = [\"a\", \"b\"] }: value -> index", InputFormat::kParquet},
    {"input", "unknown_category", Kind::kInt, "(vocabulary size)", "code of string values not in the vocabulary", InputFormat::kParquet},
    {"model", "path", Kind::kString, "(required)", "ONNX model file"},
    {"output", "path", Kind::kString, "(required)", "HDF5 file, or Parquet folder when it ends in .parquet, .pq or / (appears at the end)"},
    {"output", "report", Kind::kString, "<output>.report.json", "JSON report path"},
    {"output", "overwrite", Kind::kBool, "false", "replace an existing output and report"},
    {"output", "outputs", Kind::kStrings, "(all)", "model outputs to write, by name; the others are not computed"},
    {"run", "batch_size", Kind::kInt, "4096", "rows per inference batch"},
    {"run", "shard_rows", Kind::kInt, "65536", "rows per shard, rounded down to whole HDF5 chunks"},
    {"run", "threads", Kind::kInt, "0", "threads per rank; 0 = cores on the node / ranks on the node"},
    {"run", "backend", Kind::kString, "\"cpu\"", "cpu, cuda (the node-local GPU), or auto (cuda when a GPU is visible)"},
    {"run", "precision", Kind::kString, "\"fp32\"", "cuda: fp32, tf32, fp16 or bf16 (float32 accumulation; files stay float32)"},
    {"run", "progress_interval", Kind::kFloat, "5.0", "seconds between progress lines when not on a terminal"},
    {"preprocess", "layout", Kind::kString, "\"nchw\"", "image datasets: nchw, or nhwc (transposed to nchw)"},
    {"preprocess", "where", Kind::kString, "\"auto\"", "auto, backend or host: 8/16-bit integer inputs (uint8 images) without impute/clip are preprocessed by the backend (auto: when it is cuda)"},
    {"preprocess", "scale", Kind::kFloat, "1.0", "float inputs: x -> x * scale after imputation"},
    {"preprocess", "impute", Kind::kFloats, "(off)", "value replacing NaN: one, or one per feature (channel)"},
    {"preprocess", "mean", Kind::kFloats, "(off)", "standardization: x -> (x - mean) / std"},
    {"preprocess", "std", Kind::kFloats, "(off)", "standardization divisor, > 0"},
    {"preprocess", "clip_min", Kind::kFloats, "(off)", "lower clip after standardization"},
    {"preprocess", "clip_max", Kind::kFloats, "(off)", "upper clip after standardization"},
    {"checks", "max_missing_fraction", Kind::kFloat, "1.0", "largest NaN share a feature may have in a shard"},
    {"checks", "max_inf_fraction", Kind::kFloat, "0.0", "largest +-Inf share a feature may have in a shard"},
    {"checks", "allow_nan_outputs", Kind::kBool, "false", "accept NaN in model outputs"},
    {"checks", "allow_inf_outputs", Kind::kBool, "false", "accept +-Inf in model outputs"},
    {"metrics", "pushgateway", Kind::kString, "(off)", "Prometheus Pushgateway URL (http://host:9091, plain HTTP): rank 0 pushes the run's outcome when it ends"},
    {"metrics", "job", Kind::kString, "\"shardscore\"", "job label of the pushed metrics"},
    {"metrics", "instance", Kind::kString, "<job file name>", "instance label of the pushed metrics (default: the job file's name without .toml)"},
};

const char* format_name(InputFormat f) { return f == InputFormat::kParquet ? "Parquet" : "HDF5"; }

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kString: return "a string";
    case Kind::kInt: return "an integer";
    case Kind::kFloat: return "a number";
    case Kind::kBool: return "true or false";
    case Kind::kFloats: return "a number or a non-empty array of numbers";
    case Kind::kStringTable: return "a non-empty table of strings ({ name = \"value\", ... })";
    case Kind::kStrings: return "a non-empty array of strings";
    case Kind::kStringListTable: return "a non-empty table of non-empty string arrays ({ name = [\"a\", \"b\"], ... })";
  }
  return "?";
}

const KeySpec* find_key(std::string_view section, std::string_view key) {
  for (const auto& k : kKeys)
    if (section == k.section && key == k.key) return &k;
  return nullptr;
}

bool known_section(std::string_view section) {
  for (const auto& k : kKeys)
    if (section == k.section) return true;
  return false;
}

std::string keys_of_section(std::string_view section) {
  std::string out;
  for (const auto& k : kKeys) {
    if (section != k.section) continue;
    if (!out.empty()) out += ", ";
    out += k.key;
  }
  return out;
}

std::string section_list() {
  std::string out;
  std::string_view last;
  for (const auto& k : kKeys) {
    if (last == k.section) continue;
    if (!out.empty()) out += ", ";
    out += k.section;
    last = k.section;
  }
  return out;
}

Status check_kind(const toml::node& node, const KeySpec& spec, const std::string& where) {
  bool good = false;
  switch (spec.kind) {
    case Kind::kString: good = node.is_string(); break;
    case Kind::kInt: good = node.is_integer(); break;
    case Kind::kFloat: good = node.is_number(); break;
    case Kind::kBool: good = node.is_boolean(); break;
    case Kind::kStringTable:
      good = node.is_table() && node.as_table()->size() > 0 &&
             std::all_of(node.as_table()->begin(), node.as_table()->end(), [](const auto& kv) { return kv.second.is_string(); });
      break;
    case Kind::kStrings:
      good = node.is_array() && node.as_array()->size() > 0 &&
             std::all_of(node.as_array()->begin(), node.as_array()->end(), [](const toml::node& e) { return e.is_string(); });
      break;
    case Kind::kStringListTable:
      good = node.is_table() && node.as_table()->size() > 0 &&
             std::all_of(node.as_table()->begin(), node.as_table()->end(), [](const auto& kv) {
               const toml::array* a = kv.second.as_array();
               return a && a->size() > 0 &&
                      std::all_of(a->begin(), a->end(), [](const toml::node& e) { return e.is_string(); });
             });
      break;
    case Kind::kFloats:
      good = node.is_number() ||
             (node.is_array() && node.as_array()->size() > 0 &&
              std::all_of(node.as_array()->begin(), node.as_array()->end(),
                          [](const toml::node& e) { return e.is_number(); }));
      break;
  }
  if (good) return ok_status();
  return invalid_argument("job key '" + std::string(spec.section) + "." + spec.key + "' must be " +
                          kind_name(spec.kind) + where);
}

// Rejects anything not in the schema; reports the first offender with the keys it could have been.
Status validate_schema(const toml::table& root, const std::string& source) {
  const std::string where = " (in " + source + ")";
  for (const auto& [section_key, node] : root) {
    std::string section(section_key.str());
    if (!node.is_table()) {
      return invalid_argument("unknown job key '" + section + "'" + where + ": keys belong in a section (" +
                              section_list() + ")");
    }
    if (!known_section(section)) {
      return invalid_argument("unknown job section '[" + section + "]'" + where + "; sections are: " +
                              section_list());
    }
    for (const auto& [key, value] : *node.as_table()) {
      const KeySpec* spec = find_key(section, key.str());
      if (!spec) {
        return invalid_argument("unknown job key '" + section + "." + std::string(key.str()) + "'" + where +
                                "; keys in [" + section + "] are: " + keys_of_section(section));
      }
      SS_RETURN_IF_ERROR(check_kind(value, *spec, where));
    }
  }
  return ok_status();
}

Status apply_override(toml::table& root, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos) {
    return invalid_argument("override '" + assignment + "' is not of the form section.key=value");
  }
  std::string path = assignment.substr(0, eq);
  std::string value_text = assignment.substr(eq + 1);
  auto dot = path.find('.');
  if (dot == std::string::npos || path.find('.', dot + 1) != std::string::npos) {
    return invalid_argument("override key '" + path + "' must be section.key (for example run.batch_size)");
  }
  std::string section = path.substr(0, dot), key = path.substr(dot + 1);
  const KeySpec* spec = find_key(section, key);
  if (!spec) {
    if (!known_section(section))
      return invalid_argument("unknown job key '" + path + "' in --set; sections are: " + section_list());
    return invalid_argument("unknown job key '" + path + "' in --set; keys in [" + section +
                            "] are: " + keys_of_section(section));
  }
  toml::table* table = root[section].as_table();
  if (!table) {
    root.insert_or_assign(section, toml::table{});
    table = root[section].as_table();
  }
  if (spec->kind == Kind::kString) {
    // Paths and names are taken literally; quotes are optional.
    std::string v = value_text;
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    table->insert_or_assign(key, v);
    return ok_status();
  }
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value_text);
  } catch (const toml::parse_error& e) {
    return invalid_argument("override '" + assignment + "': value is not " + kind_name(spec->kind));
  }
  table->insert_or_assign(key, *parsed.get("v"));
  return ok_status();
}

// A number key's value as a double. toml++'s value<double>() gives nothing for an integer that a
// double cannot hold exactly (2^53 + 1), which value_or then replaced by the default.
double number_of(const toml::node& node) {
  if (const auto* i = node.as_integer()) return static_cast<double>(i->get());
  return node.value<double>().value();
}

double number_or(const toml::table& root, const char* section, const char* key, double fallback) {
  const toml::node* n = root[section][key].node();
  return n && n->is_number() ? number_of(*n) : fallback;
}

std::vector<double> floats_of(const toml::node* node) {
  std::vector<double> out;
  if (!node) return out;
  if (node->is_number()) {
    out.push_back(number_of(*node));
  } else if (const toml::array* a = node->as_array()) {
    for (const auto& e : *a) out.push_back(number_of(e));
  }
  return out;
}

std::string string_or(const toml::table& root, const char* section, const char* key, std::string fallback) {
  if (auto v = root[section][key].value<std::string>()) return *v;
  return fallback;
}

bool pushgateway_url_ok(const std::string& url) {
  return url.rfind("http://", 0) == 0 && url.size() > 7 && url[7] != '/' && url[7] != ':';
}

// [metrics] of a parsed job file, with its defaults (the instance: the job file's name).
JobConfig::Metrics metrics_of(const toml::table& root, const std::string& source) {
  JobConfig::Metrics m;
  m.pushgateway = string_or(root, "metrics", "pushgateway", "");
  m.job = string_or(root, "metrics", "job", m.job);
  const std::string stem = std::filesystem::path(source).stem().string();
  m.instance = string_or(root, "metrics", "instance", stem.empty() ? "shardscore" : stem);
  return m;
}

Status require(const toml::table& root, const char* section, const char* key, const std::string& source) {
  const std::string name = std::string(section) + "." + key;
  if (!root[section][key]) {
    return invalid_argument("job key '" + name + "' is required (set it in " + source + " or on the command line)");
  }
  if (root[section][key].value_or(std::string()).empty()) {
    return invalid_argument("job key '" + name + "' is empty (in " + source + " or on the command line); it is required");
  }
  return ok_status();
}

// A number as the job wrote it: the fewest digits that read back as the same double ("0.1", "1e-50").
std::string number_text(double v) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::string(buf, end);
}
std::string number_text(int64_t v) { return std::to_string(v); }

// The error of a number key whose value is out of its range, naming the value given: "job key
// 'run.batch_size' must be at least 1, not 0". For one value of a list, `values` is the list's size
// and `index` the value's.
template <typename T>
Status key_out_of_range(const char* key, T value, const std::string& need, std::size_t index = 0, std::size_t values = 1) {
  return invalid_argument(std::string("job key '") + key + "' must " + need + ", not " + number_text(value) +
                          (values > 1 ? " (its value " + std::to_string(index + 1) + " of " + std::to_string(values) + ")"
                                      : std::string()));
}

}  // namespace

StatusOr<JobConfig> job_config_parse(std::string_view toml_text, const std::string& source,
                                     const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return invalid_argument("job file " + source + " is not valid TOML (line " + std::to_string(where.line) +
                            ", column " + std::to_string(where.column) + "): " + std::string(e.description()));
  }
  SS_RETURN_IF_ERROR(validate_schema(root, source));
  for (const auto& o : overrides) SS_RETURN_IF_ERROR(apply_override(root, o));
  SS_RETURN_IF_ERROR(validate_schema(root, source + " with overrides"));

  JobConfig c;
  c.source = source;
  c.input.path = string_or(root, "input", "path", "");
  c.input.dataset = string_or(root, "input", "dataset", c.input.dataset);
  if (const toml::table* t = root["input"]["datasets"].as_table()) {
    for (const auto& [name, value] : *t) c.input.datasets.emplace_back(std::string(name.str()), *value.value<std::string>());
  }
  if (const toml::array* a = root["input"]["columns"].as_array()) {
    for (const auto& e : *a) c.input.columns.push_back(*e.value<std::string>());
  }
  c.input.id_column = string_or(root, "input", "id_column", "");
  c.input.label_column = string_or(root, "input", "label_column", "");
  if (const toml::table* t = root["input"]["categories"].as_table()) {
    for (const auto& [name, value] : *t) {
      std::vector<std::string> vocab;
      for (const auto& e : *value.as_array()) vocab.push_back(*e.value<std::string>());
      c.input.categories.emplace_back(std::string(name.str()), std::move(vocab));
    }
  }
  if (auto u = root["input"]["unknown_category"].value<int64_t>()) c.input.unknown_category = *u;
  c.preprocess.layout = string_or(root, "preprocess", "layout", c.preprocess.layout);
  c.preprocess.scale = number_or(root, "preprocess", "scale", c.preprocess.scale);
  c.preprocess.where = string_or(root, "preprocess", "where", c.preprocess.where);
  c.model.path = string_or(root, "model", "path", "");
  c.output.path = string_or(root, "output", "path", "");
  c.output.report = string_or(root, "output", "report", "");
  c.output.overwrite = root["output"]["overwrite"].value_or(false);
  if (const toml::array* a = root["output"]["outputs"].as_array()) {
    for (const auto& e : *a) c.output.outputs.push_back(*e.value<std::string>());
  }
  c.run.batch_size = root["run"]["batch_size"].value_or(c.run.batch_size);
  c.run.shard_rows = root["run"]["shard_rows"].value_or(c.run.shard_rows);
  c.run.threads = root["run"]["threads"].value_or(c.run.threads);
  c.run.backend = string_or(root, "run", "backend", c.run.backend);
  c.run.precision = string_or(root, "run", "precision", c.run.precision);
  c.run.progress_interval = number_or(root, "run", "progress_interval", c.run.progress_interval);
  c.preprocess.impute = floats_of(root["preprocess"]["impute"].node());
  c.preprocess.mean = floats_of(root["preprocess"]["mean"].node());
  c.preprocess.std = floats_of(root["preprocess"]["std"].node());
  c.preprocess.clip_min = floats_of(root["preprocess"]["clip_min"].node());
  c.preprocess.clip_max = floats_of(root["preprocess"]["clip_max"].node());
  c.checks.max_missing_fraction = number_or(root, "checks", "max_missing_fraction", c.checks.max_missing_fraction);
  c.checks.max_inf_fraction = number_or(root, "checks", "max_inf_fraction", c.checks.max_inf_fraction);
  c.checks.allow_nan_outputs = root["checks"]["allow_nan_outputs"].value_or(false);
  c.checks.allow_inf_outputs = root["checks"]["allow_inf_outputs"].value_or(false);
  c.metrics = metrics_of(root, source);
  for (const auto& k : kKeys)
    if (root[k.section][k.key]) c.keys_set.push_back(std::string(k.section) + "." + k.key);

  SS_RETURN_IF_ERROR(require(root, "input", "path", source));
  SS_RETURN_IF_ERROR(require(root, "model", "path", source));
  SS_RETURN_IF_ERROR(require(root, "output", "path", source));
  if (c.input.dataset.empty()) return invalid_argument("job key 'input.dataset' must not be empty");
  if (c.run.batch_size < 1) return key_out_of_range("run.batch_size", c.run.batch_size, "be at least 1");
  if (c.run.shard_rows < 1) return key_out_of_range("run.shard_rows", c.run.shard_rows, "be at least 1");
  if (c.run.threads < 0) return key_out_of_range("run.threads", c.run.threads, "be 0 (auto) or more");
  if (c.run.backend != "cpu" && c.run.backend != "cuda" && c.run.backend != "auto") {
    return invalid_argument("job key 'run.backend' is '" + c.run.backend + "': cpu, cuda or auto");
  }
  if (c.run.precision != "fp32" && c.run.precision != "tf32" && c.run.precision != "fp16" && c.run.precision != "bf16") {
    return invalid_argument("job key 'run.precision' is '" + c.run.precision + "': fp32, tf32, fp16 or bf16");
  }
  if (!(c.run.progress_interval > 0)) return key_out_of_range("run.progress_interval", c.run.progress_interval, "be > 0");
  if (!c.metrics.pushgateway.empty() && !pushgateway_url_ok(c.metrics.pushgateway)) {
    return invalid_argument("job key 'metrics.pushgateway' is '" + c.metrics.pushgateway +
                            "': an http:// URL with a host (e.g. http://pushgateway:9091; https is not supported)");
  }
  if (c.metrics.job.empty()) return invalid_argument("job key 'metrics.job' must not be empty");
  if (c.metrics.instance.empty()) return invalid_argument("job key 'metrics.instance' must not be empty");
  if (c.preprocess.layout != "nchw" && c.preprocess.layout != "nhwc") {
    return invalid_argument("job key 'preprocess.layout' is '" + c.preprocess.layout + "': nchw or nhwc");
  }
  if (c.preprocess.where != "auto" && c.preprocess.where != "backend" && c.preprocess.where != "host") {
    return invalid_argument("job key 'preprocess.where' is '" + c.preprocess.where + "': auto, backend or host");
  }
  // Preprocessing computes in float32: a value float32 rounds to 0 or Inf would zero or overflow
  // every feature as silently as a 0 or an Inf in the job file.
  const auto as_float = [](double v) { return static_cast<float>(v); };
  if (!std::isfinite(as_float(c.preprocess.scale)) || as_float(c.preprocess.scale) == 0) {
    return key_out_of_range("preprocess.scale", c.preprocess.scale,
                            "be a number that float32, where preprocessing computes, holds as finite and non-zero "
                            "(magnitudes from about 1.4e-45 to 3.4e38)");
  }
  for (const auto& [name, ds] : c.input.datasets)
    if (ds.empty()) return invalid_argument("job key 'input.datasets' maps '" + name + "' to an empty dataset path");
  for (const auto& [name, vocab] : c.input.categories) {
    std::vector<std::string> sorted = vocab;
    std::sort(sorted.begin(), sorted.end());
    auto dup = std::adjacent_find(sorted.begin(), sorted.end());
    if (dup != sorted.end()) {
      return invalid_argument("job key 'input.categories' lists '" + *dup + "' twice in the vocabulary of '" + name + "'");
    }
  }
  if (!c.input.datasets.empty() && root["input"]["dataset"]) {
    return invalid_argument("job keys 'input.dataset' and 'input.datasets' are both set: one model input or several, "
                            "not both");
  }
  if (!c.input.label_column.empty() &&
      std::find(c.input.columns.begin(), c.input.columns.end(), c.input.label_column) != c.input.columns.end()) {
    return invalid_argument("job key 'input.label_column' ('" + c.input.label_column +
                            "') is also listed in 'input.columns': a label is never a feature");
  }
  {
    std::vector<std::string> sorted = c.input.columns;
    std::sort(sorted.begin(), sorted.end());
    auto dup = std::adjacent_find(sorted.begin(), sorted.end());
    if (dup != sorted.end()) return invalid_argument("job key 'input.columns' lists column '" + *dup + "' twice");
  }
  {
    std::vector<std::string> sorted = c.output.outputs;
    std::sort(sorted.begin(), sorted.end());
    auto dup = std::adjacent_find(sorted.begin(), sorted.end());
    if (dup != sorted.end()) return invalid_argument("job key 'output.outputs' lists output '" + *dup + "' twice");
    if (!sorted.empty() && sorted.front().empty()) return invalid_argument("job key 'output.outputs' holds an empty name");
  }
  // NaN would make a step a no-op (impute), every value NaN (mean) or the bound vanish (clip).
  for (const auto& [key, values] : {std::pair<const char*, const std::vector<double>*>{"impute", &c.preprocess.impute},
                                    {"mean", &c.preprocess.mean}, {"clip_min", &c.preprocess.clip_min},
                                    {"clip_max", &c.preprocess.clip_max}}) {
    for (std::size_t i = 0; i < values->size(); ++i) {
      const double v = (*values)[i];
      if (std::isnan(v) || (std::isinf(as_float(v)) && (key == std::string("impute") || key == std::string("mean")))) {
        return key_out_of_range((std::string("preprocess.") + key).c_str(), v,
                                key[0] == 'c' ? "hold numbers" : "hold numbers finite in float32 (below 3.4e38 in magnitude)",
                                i, values->size());
      }
    }
  }
  for (std::size_t i = 0; i < c.preprocess.std.size(); ++i) {
    const double s = c.preprocess.std[i];
    if (!(as_float(s) > 0) || !std::isfinite(as_float(s))) {
      return key_out_of_range("preprocess.std", s,
                              "hold values > 0 that float32, where preprocessing computes, holds as finite and non-zero "
                              "(about 1.4e-45 to 3.4e38)",
                              i, c.preprocess.std.size());
    }
  }
  auto frac_ok = [](double f) { return f >= 0 && f <= 1; };
  if (!frac_ok(c.checks.max_missing_fraction))
    return key_out_of_range("checks.max_missing_fraction", c.checks.max_missing_fraction, "be between 0 and 1");
  if (!frac_ok(c.checks.max_inf_fraction))
    return key_out_of_range("checks.max_inf_fraction", c.checks.max_inf_fraction, "be between 0 and 1");

  std::ostringstream normalized;
  normalized << root;
  c.toml_text = normalized.str();
  return c;
}

StatusOr<JobConfig> job_config_load(const std::string& path, const std::vector<std::string>& overrides) {
  // A folder opens as an empty stream: its "job" lacked input.path, which sent the user to the keys.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return invalid_argument("job file '" + path + "' is a folder, not a TOML file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("job file '" + path + "' cannot be read (missing or no permission)");
  std::ostringstream text;
  text << in.rdbuf();
  return job_config_parse(text.str(), path, overrides);
}

JobConfig::Metrics job_config_metrics_of_failed(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  toml::table root;
  try {
    root = toml::parse(text.str(), path);
  } catch (const toml::parse_error&) {
    root = toml::table{};  // only the overrides, then
  }
  for (const auto& o : overrides)
    if (o.rfind("metrics.", 0) == 0) (void)apply_override(root, o);  // a bad one is the job's error already
  for (const char* key : {"pushgateway", "job", "instance"}) {
    const toml::node* n = root["metrics"][key].node();
    if (n && !n->is_string()) return {};
  }
  JobConfig::Metrics m = metrics_of(root, path);
  if (!pushgateway_url_ok(m.pushgateway) || m.job.empty() || m.instance.empty()) m.pushgateway.clear();
  return m;
}

std::vector<std::string> job_config_keys_only_for(InputFormat format) {
  std::vector<std::string> out;
  for (const auto& k : kKeys)
    if (k.only_for == format) out.push_back(std::string(k.section) + "." + k.key);
  return out;
}

std::string job_config_describe_keys() {
  std::ostringstream out;
  for (const auto& k : kKeys) {
    std::string name = std::string(k.section) + "." + k.key;
    out << "  " << name << std::string(name.size() < 28 ? 28 - name.size() : 1, ' ') << k.default_text
        << std::string(std::string_view(k.default_text).size() < 22 ? 22 - std::string_view(k.default_text).size() : 1, ' ')
        << (k.only_for ? std::string(format_name(*k.only_for)) + " input: " : std::string()) << k.help << "\n";
  }
  return out.str();
}

}  // namespace shardscore
