#pragma once
// Reads rows of an HDF5 dataset through parallel HDF5 (MPI-IO driver). The first dimension is
// rows; the others are each row's shape (features for a 2-D table, [C, H, W] for images, ...).
//
// open() is collective over `comm` (every rank opens the same file). read_rows() is independent:
// each rank reads only its own shards' hyperslabs, in the file's own element type (conversion to
// float32 is a preprocessing step). Thread-safe: calls take the process-wide HDF5 lock.
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/status.h"
#include "hdf5/hdf5_util.h"
#include "reader/row_reader.h"

namespace shardscore {

class Hdf5Reader : public RowReader {
 public:
  // Errors: NotFound (no file / no dataset), DataLoss (not HDF5 or corrupt),
  // InvalidArgument (a scalar dataset, not a numeric type). Each names the file and the dataset.
  static StatusOr<std::unique_ptr<Hdf5Reader>> open(const std::string& path, const std::string& dataset, MPI_Comm comm);

  int64_t rows() const override { return rows_; }
  // Shape of one row (empty for a 1-D dataset) and its element count.
  const std::vector<int64_t>& row_shape() const override { return row_shape_; }
  int64_t row_elements() const override { return row_elements_; }
  DType dtype() const override { return dtype_; }
  // Rows per chunk for a chunked dataset; 0 for contiguous storage.
  int64_t chunk_rows() const { return chunk_rows_; }
  const std::string& path() const override { return path_; }
  const std::string& dataset() const { return dataset_; }

  // Reads rows [row_begin, row_begin + count) into dst: count * row_elements() elements of
  // dtype(), row-major. DataLoss names the rows when the file cannot deliver them.
  Status read_rows(int64_t row_begin, int64_t count, std::byte* dst) override;

  ~Hdf5Reader() override;

 private:
  Hdf5Reader() = default;
  std::string path_, dataset_;
  H5Id file_, dset_, space_, dxpl_;
  int64_t rows_ = 0, row_elements_ = 1, chunk_rows_ = 0;
  std::vector<int64_t> row_shape_;
  DType dtype_ = DType::kUndefined;
};

}  // namespace shardscore
