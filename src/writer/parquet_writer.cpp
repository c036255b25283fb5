#include "writer/parquet_writer.h"

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "arrowio/arrow_util.h"
#include "common/durable.h"
#include "reader/parquet_reader.h"

namespace shardscore {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<arrow::DataType> arrow_type_of(DType t) {
  switch (t) {
    case DType::kFloat32: return arrow::float32();
    case DType::kFloat64: return arrow::float64();
    case DType::kFloat16: return arrow::float16();
    case DType::kInt8: return arrow::int8();
    case DType::kInt16: return arrow::int16();
    case DType::kInt32: return arrow::int32();
    case DType::kInt64: return arrow::int64();
    case DType::kUInt8: return arrow::uint8();
    case DType::kUInt16: return arrow::uint16();
    case DType::kUInt32: return arrow::uint32();
    case DType::kUInt64: return arrow::uint64();
    case DType::kBool: return arrow::boolean();
    default: return nullptr;
  }
}

std::shared_ptr<arrow::DataType> column_type(const OutputColumn& c) {
  auto t = arrow_type_of(c.dtype);
  if (c.row_shape.empty()) return t;
  return arrow::fixed_size_list(t, static_cast<int32_t>(shape_numel(c.row_shape)));
}

// The tensor's values as an Arrow array of `rows` entries (copied: the tensor is the batch's).
StatusOr<std::shared_ptr<arrow::Array>> tensor_to_array(const Tensor& t, const OutputColumn& c, int64_t rows,
                                                        const std::string& what) {
  const int64_t n = t.numel();
  std::shared_ptr<arrow::Array> values;
  if (c.dtype == DType::kBool) {
    arrow::BooleanBuilder b;
    SS_ARROW_CHECK(b.AppendValues(static_cast<const uint8_t*>(t.raw()), n), StatusCode::kUnavailable, what);
    SS_ARROW_CHECK(b.Finish(&values), StatusCode::kUnavailable, what);
  } else {
    SS_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Buffer> buf, arrow::AllocateBuffer(static_cast<int64_t>(t.nbytes())),
                              StatusCode::kUnavailable, what);
    std::memcpy(buf->mutable_data(), t.raw(), t.nbytes());
    values = arrow::MakeArray(arrow::ArrayData::Make(arrow_type_of(c.dtype), n, {nullptr, std::move(buf)}, 0));
  }
  if (c.row_shape.empty()) return values;
  SS_ARROW_ASSIGN_OR_RETURN(auto list,
                            arrow::FixedSizeListArray::FromArrays(values, static_cast<int32_t>(shape_numel(c.row_shape))),
                            StatusCode::kInternal, what);
  if (list->length() != rows) return internal_error(what + ": " + std::to_string(list->length()) + " rows, want " + std::to_string(rows));
  return std::static_pointer_cast<arrow::Array>(list);
}

}  // namespace

std::string parquet_part_name(int64_t shard_id) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "part-%05lld.parquet", static_cast<long long>(shard_id));
  return buf;
}

ParquetPartWriter::ParquetPartWriter(std::string path, std::vector<OutputColumn> columns, std::string id_name,
                                     Provenance metadata)
    : path_(std::move(path)), columns_(std::move(columns)), id_name_(std::move(id_name)), metadata_(std::move(metadata)) {
  fs::path p(path_);
  temp_path_ = (p.parent_path() / ("." + p.filename().string() + ".tmp")).string();
}

Status ParquetPartWriter::open(const RowIds* ids) {
  const std::string what = "creating output file '" + temp_path_ + "'";
  arrow::FieldVector fields;
  fields.push_back(arrow::field(id_name_, ids ? ids->values->type() : arrow::int64(), ids != nullptr));
  std::vector<std::string> keys, values;
  for (const auto& [k, v] : metadata_) {
    keys.push_back(k);
    values.push_back(v);
  }
  for (const auto& c : columns_) {
    if (!arrow_type_of(c.dtype)) {
      return unimplemented("model output '" + c.name + "' has type " + std::string(dtype_name(c.dtype)) +
                           ", which the Parquet writer cannot store");
    }
    fields.push_back(arrow::field(c.name, column_type(c), false));
    if (!c.row_shape.empty()) {
      keys.push_back("shardscore.row_shape." + c.name);
      values.push_back(shape_to_string(c.row_shape));
    }
  }
  auto schema = arrow::schema(fields)->WithMetadata(arrow::key_value_metadata(keys, values));
  // Created here rather than by Arrow, so that the failure (too many open files, permissions, a
  // missing folder) reads as the errno it is, the file named once.
  const int fd = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    const int err = errno;
    std::string why = std::strerror(err);
    if (struct rlimit lim; err == EMFILE && ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
      why += " (this process may have " + std::to_string(lim.rlim_cur) + " files open: ulimit -n)";
    }
    return unavailable("cannot create output file '" + temp_path_ + "': " + why);
  }
  auto stream = arrow::io::FileOutputStream::Open(fd);  // owns fd once it succeeds (closes it on Close())
  if (!stream.ok()) {
    ::close(fd);
    return arrow_to_status(stream.status(), StatusCode::kUnavailable, what);
  }
  out_ = std::move(stream).ValueUnsafe();
  auto props = parquet::WriterProperties::Builder().compression(parquet::Compression::SNAPPY)->build();
  // Stores the Arrow schema too, so readers get the same types (fixed-size lists, dictionaries) back.
  auto arrow_props = parquet::ArrowWriterProperties::Builder().store_schema()->build();
  try {
    SS_ARROW_ASSIGN_OR_RETURN(writer_,
                              parquet::arrow::FileWriter::Open(*schema, arrow::default_memory_pool(), out_, props, arrow_props),
                              StatusCode::kUnavailable, what);
  } catch (const std::exception& e) {
    return unavailable(what + ": " + e.what());
  }
  return ok_status();
}

Status ParquetPartWriter::append(int64_t row_begin, int64_t rows, const std::vector<Tensor>& outputs, const RowIds* ids) {
  if (closed_) return internal_error("append to closed output file '" + path_ + "'");
  if (outputs.size() != columns_.size()) {
    return internal_error("writer got " + std::to_string(outputs.size()) + " outputs for " + std::to_string(columns_.size()) + " columns");
  }
  if (!writer_) SS_RETURN_IF_ERROR(open(ids));
  const std::string what = "writing rows [" + std::to_string(row_begin) + ", " + std::to_string(row_begin + rows) +
                           ") to '" + temp_path_ + "'";
  arrow::ArrayVector arrays;
  if (ids) {
    if (!ids->values || ids->values->length() != rows) return internal_error(what + ": id count does not match the rows");
    arrays.push_back(ids->values);
  } else {
    arrow::Int64Builder b;
    SS_ARROW_CHECK(b.Reserve(rows), StatusCode::kUnavailable, what);
    for (int64_t r = 0; r < rows; ++r) b.UnsafeAppend(row_begin + r);
    std::shared_ptr<arrow::Array> a;
    SS_ARROW_CHECK(b.Finish(&a), StatusCode::kUnavailable, what);
    arrays.push_back(std::move(a));
  }
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    const OutputColumn& c = columns_[k];
    if (outputs[k].dtype() != c.dtype || outputs[k].numel() != rows * shape_numel(c.row_shape)) {
      return internal_error(what + ": output '" + c.name + "' has " + std::to_string(outputs[k].numel()) + " " +
                            std::string(dtype_name(outputs[k].dtype())) + " values");
    }
    SS_ASSIGN_OR_RETURN(auto a, tensor_to_array(outputs[k], c, rows, what));
    arrays.push_back(std::move(a));
  }
  auto batch = arrow::RecordBatch::Make(writer_->schema(), rows, std::move(arrays));
  try {
    SS_ARROW_CHECK(writer_->WriteRecordBatch(*batch), StatusCode::kUnavailable, what);
  } catch (const std::exception& e) {
    return unavailable(what + ": " + e.what());
  }
  rows_ += rows;
  return ok_status();
}

Status ParquetPartWriter::close() {
  if (!writer_) return internal_error("output file '" + path_ + "' closed before any rows were written");
  const std::string what = "finishing output file '" + temp_path_ + "'";
  try {
    SS_ARROW_CHECK(writer_->Close(), StatusCode::kUnavailable, what);
  } catch (const std::exception& e) {
    return unavailable(what + ": " + e.what());
  }
  SS_ARROW_CHECK(out_->Close(), StatusCode::kUnavailable, what);
  SS_RETURN_IF_ERROR(sync_path(temp_path_));  // by the rank that wrote it; rank 0 syncs the folder
  std::error_code ec;
  fs::rename(temp_path_, path_, ec);
  if (ec) return unavailable("cannot move '" + temp_path_ + "' to '" + path_ + "': " + ec.message());
  closed_ = true;
  return ok_status();
}

ParquetPartWriter::~ParquetPartWriter() {
  if (closed_) return;
  writer_.reset();
  if (out_) out_->Close().ok();  // already failing: the file goes anyway
  std::error_code ec;
  fs::remove(temp_path_, ec);
}

Status parquet_folder_finish(const std::string& folder, const std::vector<ParquetPart>& parts,
                             const std::vector<std::string>& columns, int64_t total_rows, const Provenance& provenance) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& p : parts) {
    files.push_back({{"path", p.file}, {"shard", p.shard}, {"row_begin", p.row_begin}, {"rows", p.rows}, {"sha256", p.sha256}});
  }
  nlohmann::json prov = nlohmann::json::object();
  for (const auto& [k, v] : provenance) prov[k] = v;
  const nlohmann::json manifest = {{"format", "shardscore-parquet-1"}, {"rows", total_rows}, {"columns", columns},
                                   {"files", files}, {"provenance", prov}};
  const fs::path dir(folder);
  const fs::path tmp = dir / "._manifest.json.tmp";
  SS_RETURN_IF_ERROR(write_file_synced(tmp.string(), manifest.dump(2) + "\n"));
  std::error_code ec;
  fs::rename(tmp, dir / "_manifest.json", ec);
  if (ec) return unavailable("cannot move the manifest into '" + folder + "': " + ec.message());
  SS_RETURN_IF_ERROR(write_file_synced((dir / "_SUCCESS").string(), ""));
  return sync_path(folder);  // the parts' renames, the manifest and _SUCCESS
}

}  // namespace shardscore
