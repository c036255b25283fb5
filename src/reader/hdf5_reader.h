#pragma once
// Reads rows of an HDF5 dataset through parallel HDF5 (MPI-IO driver). The first dimension is
// rows; the others are each row's shape (features for a 2-D table, [C, H, W] for images, ...).
//
// open() is collective over `comm` (every rank opens the same file). read_rows() is independent:
// each rank reads only its own shards' hyperslabs, in the file's own element type (conversion to
// float32 is a preprocessing step). Thread-safe: calls take the process-wide HDF5 lock.
//
// Direct reads: HDF5 serializes every call in the process behind that lock, so one thread copies
// all of a rank's input. When a dataset's rows lie in the file as plain bytes of the machine's own
// type (contiguous, or chunked by whole rows with no filter; no userblock, no external file),
// read_rows() asks HDF5 only where they are (H5Dget_offset, H5Dget_chunk_info_by_coord) and reads
// them with pread() on the job's threads. Anything else (compressed or partial-row chunks, chunks
// never written, which read as the fill value, another byte order) goes through H5Dread; so do
// small chunks in numbers (HDF5 1.10 finds a chunk by walking its whole index, so looking up each
// of many small chunks costs more than reading them). SHARDSCORE_HDF5_DIRECT=0 turns direct reads
// off. Rows in chunks never written of a dataset whose fill time is "never" read as 0, as with the
// default fill value (HDF5 leaves the buffer as it was).
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
  // Before the collective open the ranks agree that each may open the file and has
  // kMpioOpenDescriptors file descriptors free (Unavailable naming the rank short of them).
  static StatusOr<std::unique_ptr<Hdf5Reader>> open(const std::string& path, const std::string& dataset, MPI_Comm comm);

  int64_t rows() const override { return rows_; }
  // Shape of one row (empty for a 1-D dataset) and its element count.
  const std::vector<int64_t>& row_shape() const override { return row_shape_; }
  int64_t row_elements() const override { return row_elements_; }
  DType dtype() const override { return dtype_; }
  std::string stored_type() const override { return float16_ ? "float16" : RowReader::stored_type(); }
  // Rows per chunk for a chunked dataset; 0 for contiguous storage.
  int64_t chunk_rows() const { return chunk_rows_; }
  // Whether read_rows() may read the file's bytes itself (see above).
  bool direct_reads() const { return fd_ >= 0; }
  // "direct reads (pread)", or "read through HDF5 (why not directly)".
  std::string read_mode() const override { return read_mode_; }
  const std::string& path() const override { return path_; }
  const std::string& dataset() const { return dataset_; }

  // Reads rows [row_begin, row_begin + count) into dst: count * row_elements() elements of
  // dtype(), row-major. DataLoss names the rows when the file cannot deliver them.
  Status read_rows(int64_t row_begin, int64_t count, std::byte* dst) override;

  ~Hdf5Reader() override;

 private:
  // One piece of a direct read: `bytes` at file offset `file` go to dst + `dst`.
  struct Extent {
    uint64_t file;
    std::size_t dst, bytes;
  };
  Hdf5Reader() = default;
  // Under the HDF5 lock, from open(): sets fd_ when the dataset allows direct reads.
  void plan_direct_reads(hid_t dcpl, hid_t file_type, const std::vector<hsize_t>& dims);
  // The file extents of rows [row_begin, row_begin + count); false when some of them are not
  // plain bytes in the file (a chunk never written): H5Dread reads those rows.
  bool direct_extents(int64_t row_begin, int64_t count, std::vector<Extent>* extents);
  Status read_extents(const std::vector<Extent>& extents, int64_t row_begin, int64_t count, std::byte* dst) const;

  std::string path_, dataset_;
  H5Id file_, dset_, space_, dxpl_;
  int64_t rows_ = 0, row_elements_ = 1, chunk_rows_ = 0;
  std::string read_mode_;
  int fd_ = -1;                          // the file, read-only, for direct reads
  uint64_t contiguous_addr_ = 0;         // contiguous layout: the data's file offset
  // Chunked datasets of at most this many chunks are read directly whatever their chunks' size.
  static constexpr uint64_t kDirectChunksAlways = 4096;
  std::vector<uint64_t> chunk_addr_;     // chunked layout: each chunk's file offset once looked up
                                         // (0: not yet; HADDR_UNDEF: read through H5Dread)
  std::vector<int64_t> row_shape_;
  DType dtype_ = DType::kUndefined;
  bool float16_ = false;  // stored as float16, read as float32
  bool fill_never_ = false;  // H5D_FILL_TIME_NEVER: H5Dread writes nothing for chunks never written
  // The file's size when opened: MPI-IO reads past the end of a file cut short while the job runs
  // as zeros, which H5Dread then returns as rows (direct reads see the short read themselves).
  uint64_t opened_size_ = 0;
};

}  // namespace shardscore
