#pragma once
// Where a job's predictions go: the one HDF5 file (all ranks write it together, collectively) or
// a Parquet folder (each rank writes one file per shard of its own; rank 0 finishes the folder).
// run_job drives either through this interface; which one follows output.path
// (job_output_is_parquet).
//
// Call order, on every rank: output_sink_create (then mpi_agree) -> write()/write_nothing() once per
// write round, in the rank's batch order -> close() (then mpi_agree) -> commit() on rank 0 only. The
// output is built under `temp_path` (a file or a folder beside output.path); rank 0 removes it on
// failure (the job's guard) and moves it into place in commit().
#include <mpi.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/tensor.h"
#include "shard/shard_plan.h"
#include "writer/output_column.h"

namespace shardscore {

struct RowIds;  // reader/parquet_reader.h: a batch's ids, for Parquet output

struct OutputSinkSpec {
  std::string temp_path;
  int64_t total_rows = 0;
  std::vector<OutputColumn> columns;  // model outputs
  const ShardPlan* plan = nullptr;    // outlives the sink
  // Provenance (HDF5 root attributes; Parquet schema metadata and manifest), the same on every rank.
  std::vector<std::pair<std::string, std::string>> provenance;
  std::string id_name = "row_index";  // Parquet output's first column
  // Parquet output with the input's ids: none of them, in their column's type, for the file that an
  // input of no rows still gets (null: the row index, int64).
  std::shared_ptr<const RowIds> no_ids;
};

class OutputSink {
 public:
  virtual ~OutputSink() = default;
  // One write round with this rank's next batch (ids: null, or the batch's ids for Parquet output).
  virtual Status write(const Batch& batch, const std::vector<Tensor>& outputs, const RowIds* ids) = 0;
  // One write round without data (collective formats need every rank in every round).
  virtual Status write_nothing() = 0;
  // One more provenance entry, known only once every row is scored (the checks' outcome), before
  // close(): every rank with the same value. HDF5: a root attribute; Parquet: in the manifest (the
  // part files' metadata is written as each is opened).
  virtual void add_provenance(const std::string& key, const std::string& value) = 0;
  // Collective: everything of this rank is on disk (HDF5: provenance attributes written, file closed).
  virtual Status close() = 0;
  // False when HDF5 did any write independently (see Hdf5Writer); true for Parquet (nothing shared).
  virtual bool all_writes_collective() const = 0;
  // Rank 0, after every rank's close(): completes the output (Parquet: manifest with checksums,
  // _SUCCESS) and moves it to `final_path`, replacing what is there (checked beforehand). The
  // output is flushed to disk (fsync) before the move and its folder after, so a node that crashes
  // after the move cannot leave `final_path` naming blocks that never reached the disk (a folder
  // that cannot be flushed after the move is a warning: the output is there).
  // replace: output.overwrite (else an output that appeared meanwhile, another job's, is kept and
  // this one fails with kAlreadyExists: move_into_place).
  virtual Status commit(const std::string& final_path, bool replace) = 0;
  // The datasets / columns written, for the report.
  virtual std::vector<std::string> names() const = 0;
};

// Whether the model outputs `columns` can be written as they are named and shaped, checked before
// any row is scored: a name the format cannot take (empty, '.', HDF5 names with '/'), one used twice
// or taken by the row index or id column (`id_name`: "row_index", or the Parquet input's id
// column), rows with no values (a dimension of 0). InvalidArgument naming the output.
[[nodiscard]] Status output_sink_check_columns(bool parquet, const std::vector<OutputColumn>& columns,
                                               const std::string& id_name);

// Collective: whether every rank sees the output's folder as rank 0 does. Rank 0 writes a file
// beside the temporary output (`temp_path` + ".shared"), every rank reads it back, rank 0 removes
// it. A rank that does not find it there (a folder on its node's own disk: /tmp, local scratch)
// fails every rank: InvalidArgument naming that rank and its node. Without it, an HDF5 output hung
// (that rank's part of the collective create failed alone) and a Parquet one failed on a part file
// with only 'No such file or directory'. Another failure to write or read the file (too many open
// files, a full disk) is Unavailable with its errno text. Call before output_sink_create, and
// before anything is removed or written.
[[nodiscard]] Status output_folder_check_shared(const std::string& temp_path, MPI_Comm comm);

// Collective over comm (HDF5 creates the file together; for Parquet rank 0 makes the folder).
StatusOr<std::unique_ptr<OutputSink>> output_sink_create(bool parquet, const OutputSinkSpec& spec, MPI_Comm comm);

}  // namespace shardscore
