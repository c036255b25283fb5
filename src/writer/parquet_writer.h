#pragma once
// Writes predictions as a Parquet folder through Apache Arrow C++: one file per shard, then a
// manifest and a _SUCCESS marker. No MPI: each rank writes its own shards' files; the job has
// rank 0 finish the folder once every rank is done.
//
// A part file holds the shard's rows in order. Columns: the id column (the input's id column,
// values and type as read, or `row_index`: int64 global row index), then one column per model
// output (a scalar per row: its type; a per-row shape: fixed_size_list of the flattened values).
// The schema metadata carries the job's provenance (the same keys as the HDF5 output's attributes)
// and `shardscore.row_shape.<output>` for outputs with a per-row shape.
//
// Folder layout (what parquet_folder_finish writes, in this order):
//   part-00000.parquet ...   one per shard, named by shard id
//   _manifest.json           {"format": "shardscore-parquet-1", "rows", "columns", "files": [{"path",
//                             "shard", "row_begin", "rows", "sha256"}], "provenance": {...}}
//   _SUCCESS                 empty; present only when the folder is complete
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/tensor.h"
#include "writer/output_column.h"

namespace parquet::arrow {
class FileWriter;
}
namespace arrow::io {
class FileOutputStream;
}

namespace shardscore {

struct RowIds;  // reader/parquet_reader.h

using Provenance = std::vector<std::pair<std::string, std::string>>;

// "part-00042.parquet" for shard 42.
std::string parquet_part_name(int64_t shard_id);

// One shard's file. Not thread-safe; one writer per shard, used by one thread.
class ParquetPartWriter {
 public:
  // Rows go to the temporary sibling ".<name>.tmp" of `path`, renamed to `path` by close().
  // `id_name`: the id column's name; rows written without ids get it as int64 row indices.
  ParquetPartWriter(std::string path, std::vector<OutputColumn> columns, std::string id_name, Provenance metadata);
  ParquetPartWriter(const ParquetPartWriter&) = delete;
  ParquetPartWriter& operator=(const ParquetPartWriter&) = delete;

  // Appends `rows` rows: outputs[k] holds rows x columns[k].row_shape values of columns[k].dtype;
  // ids (null: write row_begin, row_begin + 1, ...) holds `rows` ids, of the same type every call.
  // The file is created by the first call. Unavailable names the file on I/O failure.
  Status append(int64_t row_begin, int64_t rows, const std::vector<Tensor>& outputs, const RowIds* ids);
  // Writes the footer, closes, flushes the file to disk (fsync), renames it into place. At least one
  // append must have come.
  Status close();
  const std::string& path() const { return path_; }
  int64_t rows() const { return rows_; }

  // An unfinished file (no close(), or a failed one) is removed.
  ~ParquetPartWriter();

 private:
  Status open(const RowIds* ids);

  std::string path_, temp_path_;
  std::vector<OutputColumn> columns_;
  std::string id_name_;
  Provenance metadata_;
  std::shared_ptr<arrow::io::FileOutputStream> out_;
  std::unique_ptr<parquet::arrow::FileWriter> writer_;
  int64_t rows_ = 0;
  bool closed_ = false;
};

struct ParquetPart {
  std::string file;  // name inside the folder
  int64_t shard = 0, row_begin = 0, rows = 0;
  std::string sha256;
};

// Writes _manifest.json (through a temporary name) and then _SUCCESS into `folder`, which already
// holds every part, then syncs the folder (its entries reach the disk). `columns`: the column names
// in file order.
Status parquet_folder_finish(const std::string& folder, const std::vector<ParquetPart>& parts,
                             const std::vector<std::string>& columns, int64_t total_rows, const Provenance& provenance);

}  // namespace shardscore
