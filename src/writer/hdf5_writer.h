#pragma once
// Writes the job's one output file through parallel HDF5, all ranks together.
//
// Layout: one dataset per model output, named after it, shaped [rows, <the output's per-row
// shape>], plus /row_index (int64, each row's global input index). Row i of every dataset is
// input row i. Every call below is collective over the communicator given to create(): all ranks
// call it, in the same order, the same number of times (a rank with nothing to write calls
// write_nothing()). Transfers are collective MPI-IO; all_writes_collective() tells whether HDF5
// really did them collectively.
#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/status.h"
#include "engine/tensor.h"
#include "hdf5/hdf5_util.h"
#include "writer/output_column.h"

namespace shardscore {

class Hdf5Writer {
 public:
  // Creates (truncating) `path` with the datasets for `total_rows` rows. First the ranks agree that
  // each has kMpioOpenDescriptors file descriptors free: Unavailable naming the rank short of them
  // (its ulimit -n), rather than a failure inside the collective create on that rank alone. A
  // failure to make the datasets is agreed too (see agree_on_metadata).
  static StatusOr<std::unique_ptr<Hdf5Writer>> create(const std::string& path, int64_t total_rows,
                                                      const std::vector<OutputColumn>& columns, MPI_Comm comm);

  // Writes rows [row_begin, row_begin + rows) of every dataset; outputs[k] holds rows x row_shape
  // elements of columns[k].dtype. A failure before the transfers (bad outputs, a selection) on any
  // rank is agreed: every rank returns it, naming that rank, and nothing is written. A transfer
  // that fails on some ranks fails there, after the round's other transfers.
  Status write_rows(int64_t row_begin, int64_t rows, const std::vector<Tensor>& outputs);
  // Takes part in one collective write round without data.
  Status write_nothing();
  // String and integer attributes on the root group; every rank passes the same values. A failure
  // on any rank is agreed (every rank returns it, naming that rank); call close() after it all the
  // same.
  Status write_attributes(const std::vector<std::pair<std::string, std::string>>& strings,
                          const std::vector<std::pair<std::string, int64_t>>& ints);
  // Closes the file (flushing it), unless a failure left it open. After close() the writer is spent.
  Status close();

  bool all_writes_collective() const { return non_collective_cause_ == 0; }
  // Union of H5Pget_mpio_no_collective_cause's global causes over all writes (0: none).
  uint32_t no_collective_cause() const { return non_collective_cause_; }

  ~Hdf5Writer();

 private:
  Hdf5Writer() = default;
  // One collective round: writes buffers[k] to rows [row_begin, row_begin + rows) of dataset k,
  // none when rows = 0; writes nothing on any rank when `ready` or a selection failed on any rank.
  Status write_selection(int64_t row_begin, int64_t rows, const std::vector<const void*>& buffers, Status ready);
  // Which calls of a run of changes to the file's metadata succeeded on this rank, in order, as one
  // number that ranks compare.
  struct MetadataTrail {
    unsigned long long hash = 1469598103934665603ull;  // FNV-1a over one byte per call
    void add(bool done) { hash = (hash ^ (done ? 1u : 2u)) * 1099511628211ull; }
  };
  // Collective: the ranks' agreed status of a run of changes to the file's metadata (datasets,
  // attributes), each rank passing its first failure and its trail. Where the trails differ (some
  // calls failed on some ranks only), the ranks' views of the metadata differ and closing the file
  // (a collective flush) would wait forever: every rank then leaves the file open, unclosed (close()
  // and the destructor do nothing), and the status, Unavailable, says so.
  Status agree_on_metadata(const Status& local, const MetadataTrail& trail);
  // Dataset k's file and memory dataspaces for those rows (none selected when rows = 0).
  Status select_rows(std::size_t k, int64_t row_begin, int64_t rows, H5Id* file_space, H5Id* mem_space) const;

  std::string path_;
  std::vector<OutputColumn> columns_;  // the outputs, then row_index last
  std::vector<H5Id> datasets_;
  H5Id file_, dxpl_;
  MPI_Comm comm_ = MPI_COMM_NULL;  // create()'s: the caller keeps it alive while the writer is
  int64_t total_rows_ = 0;
  uint32_t non_collective_cause_ = 0;
  bool left_open_ = false;  // agree_on_metadata gave the file up
};

}  // namespace shardscore
