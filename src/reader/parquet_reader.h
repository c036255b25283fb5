#pragma once
// Reads feature rows from Parquet: one file, or a folder of files (the `*.parquet` / `*.pq` files
// in it, sorted by name; names starting with '_' or '.' such as _SUCCESS are skipped), through
// Apache Arrow C++ (parquet::arrow). Row order is files by name, then row groups, then rows.
//
// Feature columns are chosen by name, or default to every integer, float and boolean column (and
// every column with a vocabulary) except the id and label columns. read_rows() delivers float32
// rows (float64 where ParquetInputSpec::dtype asks), features in the chosen order: numbers and booleans (0/1) converted, nulls as NaN (missing,
// for imputation and the missing-value check), string and dictionary-of-string columns mapped to
// their code in the column's vocabulary (position in the list; values not in it -> the unknown
// code). Only the row groups asked for and only the needed columns are read.
//
// open() reads every file's footer on the calling process (no MPI): every rank gets the same
// answer. read_rows()/read_ids() are for one thread at a time; they keep the current row group.
#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "reader/row_reader.h"

namespace parquet::arrow {
class FileReader;
}

namespace shardscore {

struct ParquetInputSpec {
  std::vector<std::string> columns;  // feature columns in model order; empty: the default above
  std::string id_column;             // optional: carried to the output instead of the row index
  std::string label_column;          // optional: never a feature; must exist
  // Vocabulary per string/dictionary column: value -> its index in the list.
  std::vector<std::pair<std::string, std::vector<std::string>>> categories;
  std::optional<int64_t> unknown_code;  // code of values outside the vocabulary; default: its size
  DType dtype = DType::kFloat32;        // the rows' type: kFloat32, or kFloat64 (a float64 model input)
};

// One row group of one file, placed in the global row order.
struct ParquetRowGroup {
  int file = 0;           // index into files()
  int index = 0;          // row group index inside the file
  int64_t row_begin = 0;  // global row index of its first row
  int64_t rows = 0;
};

// The id values of a range of rows, as Arrow holds them (any integer or string type; nulls kept).
struct RowIds {
  std::shared_ptr<arrow::Array> values;
};

class ParquetReader : public RowReader {
 public:
  // Errors, each naming the file and the column: NotFound (no such file or folder, no Parquet files
  // in the folder, a column missing from a file), DataLoss (not Parquet, truncated or corrupt footer),
  // InvalidArgument (a column of a type that cannot be a feature or id, a string column without a
  // vocabulary, a vocabulary for a numeric column, an id column whose type differs between files).
  static StatusOr<std::unique_ptr<ParquetReader>> open(const std::string& path, const ParquetInputSpec& spec);

  int64_t rows() const override { return rows_; }
  const std::vector<int64_t>& row_shape() const override { return row_shape_; }
  int64_t row_elements() const override { return static_cast<int64_t>(features_.size()); }
  DType dtype() const override { return dtype_; }
  const std::string& path() const override { return path_; }
  Status read_rows(int64_t row_begin, int64_t count, std::byte* dst) override;

  const std::vector<std::string>& files() const { return files_; }
  const std::vector<ParquetRowGroup>& row_groups() const { return groups_; }
  const std::vector<std::string>& feature_columns() const { return feature_names_; }
  // Without input.columns: the first file's columns that are not features ("name (type)"), being
  // neither numbers nor strings with a vocabulary (the id and label columns aside).
  const std::vector<std::string>& left_out_columns() const { return left_out_; }
  // "a, b, c (3 columns)" for logs and provenance.
  std::string describe_columns() const;
  bool has_ids() const { return !id_column_.empty(); }
  const std::string& id_column() const { return id_column_; }
  // The id column's values for rows [row_begin, row_begin + count) (has_ids() only).
  Status read_ids(int64_t row_begin, int64_t count, RowIds* out);

  ~ParquetReader() override;

 private:
  struct Feature;
  ParquetReader() = default;
  Status load_group(std::size_t g);
  template <class T>
  Status read_rows_as(int64_t row_begin, int64_t count, T* dst);
  std::size_t group_of(int64_t row) const;

  std::string path_;
  std::vector<std::string> files_;
  std::vector<ParquetRowGroup> groups_;
  std::vector<std::unique_ptr<Feature>> features_;
  std::vector<std::string> feature_names_, left_out_;
  std::string id_column_, label_column_;
  std::shared_ptr<arrow::DataType> id_type_;  // the id column's (has_ids())
  std::vector<int64_t> row_shape_;
  int64_t rows_ = 0;
  DType dtype_ = DType::kFloat32;  // ParquetInputSpec::dtype

  // The row group read last: its columns (features, then the id column if any).
  int open_file_ = -1;
  std::unique_ptr<parquet::arrow::FileReader> file_reader_;
  std::size_t loaded_group_ = SIZE_MAX;
  std::vector<std::shared_ptr<arrow::ChunkedArray>> loaded_;
};

}  // namespace shardscore
