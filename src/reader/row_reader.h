#pragma once
// What the job needs from an input, whatever its format: a number of rows, the shape and element
// type of one row, and reads of row ranges. Implemented by Hdf5Reader (one dataset) and
// ParquetReader (feature columns of one file or a folder of files).
//
// read_rows() is called by one thread at a time (the pipeline's serial read stage); an
// implementation may keep state between calls (the Parquet reader keeps its current row group).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/status.h"

namespace shardscore {

class RowReader {
 public:
  virtual ~RowReader() = default;
  virtual int64_t rows() const = 0;
  // Shape of one row (empty for one value per row) and its element count.
  virtual const std::vector<int64_t>& row_shape() const = 0;
  virtual int64_t row_elements() const = 0;
  // Element type of the rows read_rows() delivers.
  virtual DType dtype() const = 0;
  // The type as stored, for logs, the report and the ranks' comparison of inputs: dtype()'s name,
  // unless the reader converts as it reads (an HDF5 float16 dataset, delivered as float32).
  virtual std::string stored_type() const { return std::string(dtype_name(dtype())); }
  virtual const std::string& path() const = 0;
  // How rows are read, for the job's log ("" when there is nothing to say).
  virtual std::string read_mode() const { return {}; }
  // Reads rows [row_begin, row_begin + count) into dst: count * row_elements() elements of
  // dtype(), row-major. DataLoss names the file and rows when the input cannot deliver them. An
  // allocation refused on the way throws std::bad_alloc: out of memory is no fault of the file,
  // and the caller names the rows and what to lower.
  virtual Status read_rows(int64_t row_begin, int64_t count, std::byte* dst) = 0;
};

}  // namespace shardscore
