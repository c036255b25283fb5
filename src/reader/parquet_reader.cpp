#include "reader/parquet_reader.h"

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/util/float16.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/exception.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/schema.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>
#include <string_view>
#include <unordered_map>

#include "arrowio/arrow_util.h"

namespace shardscore {
namespace {

namespace fs = std::filesystem;

// kNull: Arrow's null type, a column with no value at all (pandas writes an all-None column so): as a
// feature, every value missing, whatever the column holds in other files.
enum class ColumnKind { kNumber, kString, kNull, kUnsupported };

bool is_string_type(const arrow::DataType& t) {
  return t.id() == arrow::Type::STRING || t.id() == arrow::Type::LARGE_STRING;
}

ColumnKind kind_of(const arrow::DataType& t) {
  switch (t.id()) {
    case arrow::Type::BOOL:
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::INT64:
    case arrow::Type::UINT8:
    case arrow::Type::UINT16:
    case arrow::Type::UINT32:
    case arrow::Type::UINT64:
    case arrow::Type::HALF_FLOAT:
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE:
      return ColumnKind::kNumber;
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
      return ColumnKind::kString;
    case arrow::Type::NA:
      return ColumnKind::kNull;
    case arrow::Type::DICTIONARY:
      return is_string_type(*static_cast<const arrow::DictionaryType&>(t).value_type()) ? ColumnKind::kString
                                                                                       : ColumnKind::kUnsupported;
    default:
      return ColumnKind::kUnsupported;
  }
}

bool is_integer_type(const arrow::DataType& t) { return arrow::is_integer(t.id()); }

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// A data file's name: *.parquet or *.pq in any case, not hidden or a marker (_SUCCESS, .crc).
bool is_data_name(const fs::path& p) {
  const std::string name = p.filename().string();
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return !name.empty() && name[0] != '_' && name[0] != '.' && (ext == ".parquet" || ext == ".pq");
}

// Whether a data file lies anywhere under folder `dir` (its hidden and marker folders aside); a
// folder that cannot be searched (permissions) is an error: it may hold data.
StatusOr<bool> holds_data(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    std::error_code e2;
    if (!name.empty() && (name[0] == '_' || name[0] == '.')) {
      if (it->is_directory(e2)) it.disable_recursion_pending();
      continue;
    }
    if (is_data_name(it->path()) && it->is_regular_file(e2)) return true;
  }
  if (ec) return invalid_argument("cannot search '" + dir.string() + "' for Parquet files: " + ec.message());
  return false;
}

// The Parquet files of `path`, sorted by name: the file itself, or the data files of a folder.
// What a folder holds that looks like data but would not be read is an error, never skipped:
// a link to a file that is gone, a folder of Parquet files inside it.
StatusOr<std::vector<std::string>> list_files(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return not_found("input '" + path + "' does not exist");
  if (!fs::is_directory(path, ec)) return std::vector<std::string>{path};
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '_' || name[0] == '.') continue;
    std::error_code e2;
    if (entry.is_directory(e2)) {
      SS_ASSIGN_OR_RETURN(const bool data, holds_data(entry.path()));
      if (data) {
        return invalid_argument("input folder '" + path + "' holds the folder '" + name +
                                "' with Parquet files in it, which would not be read: shardscore reads the files of "
                                "one folder, not of the folders inside it (Hive partitions, a table Spark wrote as a "
                                "folder); give that folder as input.path, or move its files up");
      }
      continue;
    }
    if (!is_data_name(entry.path())) continue;
    if (entry.is_regular_file(e2)) {
      files.push_back(entry.path().string());
    } else if (entry.is_symlink(e2)) {
      std::error_code why;
      (void)fs::status(entry.path(), why);  // only for why it cannot be followed
      return not_found("input folder '" + path + "' holds '" + name + "', a link to '" +
                       fs::read_symlink(entry.path(), e2).string() + "', " +
                       (!why || why == std::errc::no_such_file_or_directory ? std::string("which does not exist")
                                                                            : "which cannot be followed: " + why.message()));
    } else {
      return invalid_argument("input folder '" + path + "' holds '" + name + "', which is not a regular file");
    }
  }
  if (ec) return unavailable("cannot list input folder '" + path + "': " + ec.message());
  if (files.empty()) return not_found("input folder '" + path + "' holds no Parquet files (*.parquet, *.pq)");
  std::sort(files.begin(), files.end());
  return files;
}

// The leaf column of top-level field `name`, or -1 where it is nested or absent. By the field, not
// by parquet's dotted path, which a flat column named "a.b" shares with field b of a struct a.
int flat_column_index(const parquet::arrow::FileReader& reader, const std::string& name) {
  for (const auto& f : reader.manifest().schema_fields)
    if (f.field && f.field->name() == name) return f.is_leaf() ? f.column_index : -1;
  return -1;
}

StatusOr<std::unique_ptr<parquet::arrow::FileReader>> open_parquet(const std::string& file) {
  SS_ARROW_ASSIGN_OR_RETURN(auto in, arrow::io::ReadableFile::Open(file), StatusCode::kNotFound,
                            "input file '" + file + "' cannot be opened");
  try {
    std::unique_ptr<parquet::arrow::FileReader> reader;
    SS_ARROW_CHECK(parquet::arrow::OpenFile(in, arrow::default_memory_pool(), &reader), StatusCode::kDataLoss,
                   "input file '" + file + "' is not a Parquet file or is truncated or corrupt");
    return reader;
  } catch (const std::bad_alloc&) {
    return resource_exhausted("input file '" + file + "': out of host memory reading its footer");
  } catch (const std::exception& e) {
    return data_loss("input file '" + file + "' is not a Parquet file or is truncated or corrupt: " + e.what());
  }
}

}  // namespace

struct ParquetReader::Feature {
  std::string name;
  bool categorical = false;
  std::unordered_map<std::string, float, StringHash, std::equal_to<>> vocab;
  float unknown = 0;
  // Codes of the last dictionary seen (a row group's dictionary is shared by its batches).
  std::shared_ptr<arrow::Array> dictionary;
  std::vector<float> dictionary_codes;

  float code_of(std::string_view v) const {
    auto it = vocab.find(v);
    return it == vocab.end() ? unknown : it->second;
  }
};

std::string ParquetReader::describe_columns() const {
  std::string out;
  for (const auto& n : feature_names_) out += (out.empty() ? "" : ", ") + n;
  return out + " (" + std::to_string(feature_names_.size()) + " columns)";
}

StatusOr<std::unique_ptr<ParquetReader>> ParquetReader::open(const std::string& path, const ParquetInputSpec& spec) {
  std::unique_ptr<ParquetReader> r(new ParquetReader());
  r->path_ = path;
  r->id_column_ = spec.id_column;
  r->label_column_ = spec.label_column;
  if (spec.dtype != DType::kFloat32 && spec.dtype != DType::kFloat64) {
    return internal_error("Parquet rows are float32 or float64, not " + std::string(dtype_name(spec.dtype)));
  }
  r->dtype_ = spec.dtype;
  SS_ASSIGN_OR_RETURN(r->files_, list_files(path));

  std::set<std::string> vocab_columns;
  for (const auto& [name, values] : spec.categories) vocab_columns.insert(name);
  // Without input.columns, what makes a column a feature: a number, or a string with a vocabulary
  // (never the id or the label).
  const auto default_feature = [&](const arrow::Field& field) {
    const std::string& n = field.name();
    return n != spec.id_column && n != spec.label_column && (kind_of(*field.type()) == ColumnKind::kNumber || vocab_columns.count(n));
  };
  std::shared_ptr<arrow::DataType> id_type;
  for (std::size_t f = 0; f < r->files_.size(); ++f) {
    const std::string& file = r->files_[f];
    SS_ASSIGN_OR_RETURN(auto reader, open_parquet(file));
    std::shared_ptr<arrow::Schema> schema;
    std::shared_ptr<parquet::FileMetaData> meta;
    try {
      SS_ARROW_CHECK(reader->GetSchema(&schema), StatusCode::kDataLoss, "input file '" + file + "' has an unreadable schema");
      meta = reader->parquet_reader()->metadata();
    } catch (const std::bad_alloc&) {
      return resource_exhausted("input file '" + file + "': out of host memory reading its schema");
    } catch (const std::exception& e) {
      return data_loss("input file '" + file + "' has an unreadable schema: " + e.what());
    }

    // Feature columns come from the first file (by name, or every number column).
    if (f == 0) {
      if (!spec.columns.empty()) {
        r->feature_names_ = spec.columns;
      } else {
        for (const auto& field : schema->fields()) {
          const std::string& n = field->name();
          if (n == spec.id_column || n == spec.label_column) continue;
          if (default_feature(*field)) {
            r->feature_names_.push_back(n);
          } else {
            r->left_out_.push_back(n + " (" + field->type()->ToString() + ")");
          }
        }
        if (r->feature_names_.empty()) {
          return invalid_argument("input file '" + file +
                                  "' has no integer, float or boolean columns to use as features; name them in input.columns");
        }
      }
      for (const auto& [name, values] : spec.categories) {
        if (std::find(r->feature_names_.begin(), r->feature_names_.end(), name) == r->feature_names_.end()) {
          return invalid_argument("job key 'input.categories' names column '" + name + "', which is not a feature column");
        }
      }
    } else if (spec.columns.empty()) {
      // The default features are the first file's: a feature column only a later file has would be
      // left out of every row without a word.
      for (const auto& field : schema->fields()) {
        const std::string& n = field->name();
        if (default_feature(*field) && std::find(r->feature_names_.begin(), r->feature_names_.end(), n) == r->feature_names_.end()) {
          return invalid_argument("input file '" + file + "' has column '" + n + "' (" + field->type()->ToString() +
                                  ") that the first file '" + r->files_[0] +
                                  "' lacks: the default features are the first file's number columns; name the features in "
                                  "input.columns");
        }
      }
    }

    auto field_of = [&](const std::string& name, const char* role) -> StatusOr<std::shared_ptr<arrow::Field>> {
      if (const auto n = schema->GetAllFieldIndices(name).size(); n > 1) {
        return invalid_argument("input file '" + file + "' has " + std::to_string(n) + " columns named '" + name + "' (" +
                                role + "): which one is meant cannot be told");
      }
      auto field = schema->GetFieldByName(name);
      if (!field) return not_found("input file '" + file + "' has no column '" + name + "' (" + role + ")");
      if (flat_column_index(*reader, name) < 0) {
        return invalid_argument("column '" + name + "' in '" + file + "' is nested (" + field->type()->ToString() +
                                "); shardscore reads flat columns");
      }
      return field;
    };
    for (const auto& name : r->feature_names_) {
      SS_ASSIGN_OR_RETURN(auto field, field_of(name, "feature"));
      const ColumnKind kind = kind_of(*field->type());
      const bool has_vocab = vocab_columns.count(name) > 0;
      const std::string where = "column '" + name + "' in '" + file + "' has type " + field->type()->ToString();
      if (kind == ColumnKind::kUnsupported) {
        return invalid_argument(where + "; feature columns must be integer, float, boolean, or string with a vocabulary");
      }
      if (kind == ColumnKind::kString && !has_vocab) {
        return invalid_argument(where + "; give its vocabulary in input.categories (e.g. { " + name + " = [\"a\", \"b\"] })");
      }
      if (kind == ColumnKind::kNumber && has_vocab) {
        return invalid_argument(where + " but input.categories gives it a vocabulary; vocabularies are for string columns");
      }
    }
    if (!spec.id_column.empty()) {
      SS_ASSIGN_OR_RETURN(auto field, field_of(spec.id_column, "input.id_column"));
      if (!is_integer_type(*field->type()) && kind_of(*field->type()) != ColumnKind::kString) {
        return invalid_argument("id column '" + spec.id_column + "' in '" + file + "' has type " + field->type()->ToString() +
                                "; ids must be integers or strings");
      }
      if (id_type && !id_type->Equals(*field->type())) {
        return invalid_argument("id column '" + spec.id_column + "' has type " + id_type->ToString() + " in '" + r->files_[0] +
                                "' but " + field->type()->ToString() + " in '" + file + "'");
      }
      id_type = field->type();
      r->id_type_ = id_type;
    }
    if (!spec.label_column.empty()) SS_RETURN_IF_ERROR(field_of(spec.label_column, "input.label_column").status());

    for (int g = 0; g < meta->num_row_groups(); ++g) {
      int64_t n = 0;
      try {
        n = meta->RowGroup(g)->num_rows();
      } catch (const std::bad_alloc&) {
        return resource_exhausted("input file '" + file + "': out of host memory reading row group " + std::to_string(g));
      } catch (const std::exception& e) {
        return data_loss("input file '" + file + "' has a corrupt row group " + std::to_string(g) + ": " + e.what());
      }
      if (n < 0) return data_loss("input file '" + file + "' claims " + std::to_string(n) + " rows in row group " + std::to_string(g));
      if (n == 0) continue;
      r->groups_.push_back({static_cast<int>(f), g, r->rows_, n});
      r->rows_ += n;
    }
  }

  for (const auto& name : r->feature_names_) {
    auto feat = std::make_unique<Feature>();
    feat->name = name;
    for (const auto& [cname, values] : spec.categories) {
      if (cname != name) continue;
      feat->categorical = true;
      for (std::size_t i = 0; i < values.size(); ++i) feat->vocab.emplace(values[i], static_cast<float>(i));
      feat->unknown = static_cast<float>(spec.unknown_code.value_or(static_cast<int64_t>(values.size())));
    }
    r->features_.push_back(std::move(feat));
  }
  r->row_shape_ = {static_cast<int64_t>(r->features_.size())};
  return r;
}

ParquetReader::~ParquetReader() = default;

std::size_t ParquetReader::group_of(int64_t row) const {
  auto it = std::upper_bound(groups_.begin(), groups_.end(), row,
                             [](int64_t v, const ParquetRowGroup& g) { return v < g.row_begin; });
  return static_cast<std::size_t>(it - groups_.begin()) - 1;
}

Status ParquetReader::load_group(std::size_t g) {
  if (g == loaded_group_) return ok_status();
  const ParquetRowGroup& rg = groups_[g];
  const std::string& file = files_[static_cast<std::size_t>(rg.file)];
  loaded_.clear();
  loaded_group_ = SIZE_MAX;
  if (rg.file != open_file_) {
    file_reader_.reset();
    open_file_ = -1;
    SS_ASSIGN_OR_RETURN(file_reader_, open_parquet(file));
    open_file_ = rg.file;
  }
  const std::string what = "reading row group " + std::to_string(rg.index) + " of '" + file + "' (corrupt or truncated?)";
  std::vector<std::string> names = feature_names_;
  if (has_ids()) names.push_back(id_column_);
  std::shared_ptr<arrow::Table> table;
  try {
    std::vector<int> indices;
    for (const auto& n : names) indices.push_back(flat_column_index(*file_reader_, n));
    std::sort(indices.begin(), indices.end());
    indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
    SS_ARROW_CHECK(file_reader_->ReadRowGroup(rg.index, indices, &table), StatusCode::kDataLoss, what);
  } catch (const std::bad_alloc&) {
    throw;  // out of memory, not a corrupt file: run_job names the rows and what to lower
  } catch (const std::exception& e) {
    return data_loss(what + ": " + e.what());
  }
  if (table->num_rows() != rg.rows) {
    return data_loss(what + ": got " + std::to_string(table->num_rows()) + " rows, the footer says " + std::to_string(rg.rows));
  }
  for (const auto& n : names) {
    auto col = table->GetColumnByName(n);
    if (!col) return internal_error(what + ": column '" + n + "' missing from the rows read");
    loaded_.push_back(std::move(col));
  }
  loaded_group_ = g;
  return ok_status();
}

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();  // a vocabulary's null code

// Calls f(chunk, start in chunk, count, rows done before) for the pieces of rows [off, off + n).
template <typename F>
void for_each_piece(const arrow::ChunkedArray& c, int64_t off, int64_t n, F&& f) {
  int64_t pos = 0, done = 0;
  for (const auto& chunk : c.chunks()) {
    if (done >= n) break;
    const int64_t len = chunk->length(), want = off + done;
    if (want < pos + len) {
      const int64_t take = std::min(pos + len - want, n - done);
      f(*chunk, want - pos, take, done);
      done += take;
    }
    pos += len;
  }
}

template <typename ArrowType, typename T>
void convert_numbers(const arrow::Array& a, int64_t start, int64_t n, T* dst, int64_t stride) {
  const auto& arr = static_cast<const arrow::NumericArray<ArrowType>&>(a);
  const auto* v = arr.raw_values() + start;
  if (arr.null_count() == 0) {
    for (int64_t i = 0; i < n; ++i) dst[i * stride] = static_cast<T>(v[i]);
  } else {
    const T nan = std::numeric_limits<T>::quiet_NaN();
    for (int64_t i = 0; i < n; ++i) dst[i * stride] = arr.IsNull(start + i) ? nan : static_cast<T>(v[i]);
  }
}

template <typename StringArrayType, typename T, typename Lookup>
void convert_strings(const arrow::Array& a, int64_t start, int64_t n, T* dst, int64_t stride, Lookup&& code_of) {
  const auto& arr = static_cast<const StringArrayType&>(a);
  for (int64_t i = 0; i < n; ++i) {
    dst[i * stride] = arr.IsNull(start + i) ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(code_of(arr.GetView(start + i)));
  }
}

}  // namespace

Status ParquetReader::read_rows(int64_t row_begin, int64_t count, std::byte* dst_bytes) {
  if (count == 0) return ok_status();
  if (row_begin < 0 || row_begin + count > rows_) {
    return internal_error("read of rows [" + std::to_string(row_begin) + ", " + std::to_string(row_begin + count) +
                          ") is outside the " + std::to_string(rows_) + " rows of '" + path_ + "'");
  }
  if (dtype_ == DType::kFloat64) return read_rows_as(row_begin, count, reinterpret_cast<double*>(dst_bytes));
  return read_rows_as(row_begin, count, reinterpret_cast<float*>(dst_bytes));
}

template <class T>
Status ParquetReader::read_rows_as(int64_t row_begin, int64_t count, T* dst) {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const int64_t stride = static_cast<int64_t>(features_.size());
  while (count > 0) {
    const std::size_t g = group_of(row_begin);
    SS_RETURN_IF_ERROR(load_group(g));
    const int64_t off = row_begin - groups_[g].row_begin;
    const int64_t n = std::min(count, groups_[g].rows - off);
    for (std::size_t j = 0; j < features_.size(); ++j) {
      Feature& feat = *features_[j];
      bool supported = true;
      for_each_piece(*loaded_[j], off, n, [&](const arrow::Array& a, int64_t start, int64_t len, int64_t done) {
        T* out = dst + done * stride + static_cast<int64_t>(j);
        switch (a.type_id()) {
          case arrow::Type::BOOL: {
            const auto& b = static_cast<const arrow::BooleanArray&>(a);
            for (int64_t i = 0; i < len; ++i) out[i * stride] = b.IsNull(start + i) ? nan : (b.Value(start + i) ? T{1} : T{0});
            break;
          }
          case arrow::Type::INT8: convert_numbers<arrow::Int8Type>(a, start, len, out, stride); break;
          case arrow::Type::INT16: convert_numbers<arrow::Int16Type>(a, start, len, out, stride); break;
          case arrow::Type::INT32: convert_numbers<arrow::Int32Type>(a, start, len, out, stride); break;
          case arrow::Type::INT64: convert_numbers<arrow::Int64Type>(a, start, len, out, stride); break;
          case arrow::Type::UINT8: convert_numbers<arrow::UInt8Type>(a, start, len, out, stride); break;
          case arrow::Type::UINT16: convert_numbers<arrow::UInt16Type>(a, start, len, out, stride); break;
          case arrow::Type::UINT32: convert_numbers<arrow::UInt32Type>(a, start, len, out, stride); break;
          case arrow::Type::UINT64: convert_numbers<arrow::UInt64Type>(a, start, len, out, stride); break;
          case arrow::Type::HALF_FLOAT: {  // raw values are the IEEE half bits
            const auto& h = static_cast<const arrow::HalfFloatArray&>(a);
            for (int64_t i = 0; i < len; ++i) {
              out[i * stride] = h.IsNull(start + i) ? nan : static_cast<T>(arrow::util::Float16::FromBits(h.Value(start + i)).ToFloat());
            }
            break;
          }
          case arrow::Type::FLOAT: convert_numbers<arrow::FloatType>(a, start, len, out, stride); break;
          case arrow::Type::DOUBLE: convert_numbers<arrow::DoubleType>(a, start, len, out, stride); break;
          case arrow::Type::NA:
            for (int64_t i = 0; i < len; ++i) out[i * stride] = nan;
            break;
          case arrow::Type::STRING:
            convert_strings<arrow::StringArray>(a, start, len, out, stride, [&](std::string_view v) { return feat.code_of(v); });
            break;
          case arrow::Type::LARGE_STRING:
            convert_strings<arrow::LargeStringArray>(a, start, len, out, stride, [&](std::string_view v) { return feat.code_of(v); });
            break;
          case arrow::Type::DICTIONARY: {
            const auto& d = static_cast<const arrow::DictionaryArray&>(a);
            if (d.dictionary() != feat.dictionary) {
              const auto& dict = *d.dictionary();
              feat.dictionary_codes.assign(static_cast<std::size_t>(dict.length()), kNaN);
              if (dict.type_id() == arrow::Type::STRING) {
                convert_strings<arrow::StringArray>(dict, 0, dict.length(), feat.dictionary_codes.data(), 1,
                                                    [&](std::string_view v) { return feat.code_of(v); });
              } else if (dict.type_id() == arrow::Type::LARGE_STRING) {
                convert_strings<arrow::LargeStringArray>(dict, 0, dict.length(), feat.dictionary_codes.data(), 1,
                                                         [&](std::string_view v) { return feat.code_of(v); });
              } else {
                supported = false;
                return;
              }
              feat.dictionary = d.dictionary();
            }
            for (int64_t i = 0; i < len; ++i) {
              out[i * stride] = d.IsNull(start + i)
                                    ? nan
                                    : static_cast<T>(feat.dictionary_codes[static_cast<std::size_t>(d.GetValueIndex(start + i))]);
            }
            break;
          }
          default:
            supported = false;
        }
      });
      if (!supported) {
        return invalid_argument("column '" + feat.name + "' in '" + files_[static_cast<std::size_t>(groups_[g].file)] +
                                "' holds " + loaded_[j]->type()->ToString() + " values in row group " +
                                std::to_string(groups_[g].index) + "; feature columns must be integer, float, boolean or string");
      }
    }
    dst += n * stride;
    row_begin += n;
    count -= n;
  }
  return ok_status();
}

Status ParquetReader::read_ids(int64_t row_begin, int64_t count, RowIds* out) {
  if (!has_ids()) return internal_error("read_ids without an id column");
  if (count == 0) {  // of the column's type also when there are no rows at all
    SS_ARROW_ASSIGN_OR_RETURN(out->values, arrow::MakeEmptyArray(id_type_), StatusCode::kInternal,
                              "making no ids of column '" + id_column_ + "'");
    return ok_status();
  }
  arrow::ArrayVector pieces;
  while (count > 0) {
    const std::size_t g = group_of(row_begin);
    SS_RETURN_IF_ERROR(load_group(g));
    const int64_t off = row_begin - groups_[g].row_begin;
    const int64_t n = std::min(count, groups_[g].rows - off);
    for_each_piece(*loaded_.back(), off, n, [&](const arrow::Array& a, int64_t start, int64_t len, int64_t) {
      pieces.push_back(a.Slice(start, len));
    });
    row_begin += n;
    count -= n;
  }
  if (pieces.size() == 1) {
    out->values = pieces[0];
    return ok_status();
  }
  SS_ARROW_ASSIGN_OR_RETURN(out->values, arrow::Concatenate(pieces), StatusCode::kInternal,
                            "joining ids of column '" + id_column_ + "'");
  return ok_status();
}

}  // namespace shardscore
