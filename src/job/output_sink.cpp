#include "job/output_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "common/durable.h"
#include "common/log.h"
#include "common/sha256.h"
#include "mpi/mpi_util.h"
#include "writer/hdf5_writer.h"
#if SHARDSCORE_HAVE_PARQUET
#include "reader/parquet_reader.h"
#include "writer/parquet_writer.h"
#endif

namespace shardscore {
namespace {

namespace fs = std::filesystem;

class Hdf5Sink : public OutputSink {
 public:
  Hdf5Sink(OutputSinkSpec spec, std::unique_ptr<Hdf5Writer> writer, int ranks)
      : spec_(std::move(spec)), writer_(std::move(writer)), ranks_(ranks) {}
  Status write(const Batch& b, const std::vector<Tensor>& outputs, const RowIds*) override {
    return writer_->write_rows(b.row_begin, b.rows(), outputs);
  }
  Status write_nothing() override { return writer_->write_nothing(); }
  void add_provenance(const std::string& key, const std::string& value) override { spec_.provenance.emplace_back(key, value); }
  Status close() override {
    // Closing is collective: a rank whose attributes failed closes with the others.
    const Status attributes =
        writer_->write_attributes(spec_.provenance, {{"num_ranks", ranks_}, {"num_rows", spec_.total_rows}});
    collective_ = writer_->all_writes_collective();
    const Status closed = writer_->close();
    return attributes.ok() ? closed : attributes;
  }
  bool all_writes_collective() const override { return collective_; }
  Status commit(const std::string& final_path, bool replace) override {
    SS_RETURN_IF_ERROR(sync_path(spec_.temp_path));
    SS_RETURN_IF_ERROR(move_into_place(spec_.temp_path, final_path, replace, "output"));
    sync_parent_folder_or_warn(final_path);
    return ok_status();
  }
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& c : spec_.columns) out.push_back(c.name);
    out.push_back("row_index");
    return out;
  }

 private:
  OutputSinkSpec spec_;
  std::unique_ptr<Hdf5Writer> writer_;
  int ranks_;
  bool collective_ = true;
};

#if SHARDSCORE_HAVE_PARQUET
class ParquetSink : public OutputSink {
 public:
  explicit ParquetSink(OutputSinkSpec spec) : spec_(std::move(spec)) {}
  Status write(const Batch& b, const std::vector<Tensor>& outputs, const RowIds* ids) override {
    const Shard& shard = spec_.plan->shards[static_cast<std::size_t>(b.shard_id)];
    if (!part_) {
      part_ = std::make_unique<ParquetPartWriter>((fs::path(spec_.temp_path) / parquet_part_name(shard.id)).string(),
                                                  spec_.columns, spec_.id_name, spec_.provenance);
    }
    SS_RETURN_IF_ERROR(part_->append(b.row_begin, b.rows(), outputs, ids));
    if (b.row_end == shard.row_end) {  // the shard's last batch: its file is done
      if (part_->rows() != shard.rows()) {
        return internal_error("output file for shard " + std::to_string(shard.id) + " got " + std::to_string(part_->rows()) +
                              " of its " + std::to_string(shard.rows()) + " rows");
      }
      SS_RETURN_IF_ERROR(part_->close());
      part_.reset();
    }
    return ok_status();
  }
  Status write_nothing() override { return ok_status(); }
  void add_provenance(const std::string& key, const std::string& value) override {
    manifest_only_.emplace_back(key, value);
  }
  Status close() override {
    if (part_) return internal_error("output file '" + part_->path() + "' is unfinished at the end of the run");
    return ok_status();
  }
  bool all_writes_collective() const override { return true; }
  Status commit(const std::string& final_path, bool replace) override {
    std::vector<ParquetPart> parts;
    for (const auto& s : spec_.plan->shards) {
      ParquetPart p{parquet_part_name(s.id), s.id, s.row_begin, s.rows(), ""};
      // Hashing on rank 0 also proves every rank's file is visible where the output will be read.
      SS_ASSIGN_OR_RETURN(p.sha256, sha256_file_hex((fs::path(spec_.temp_path) / p.file).string()));
      parts.push_back(std::move(p));
    }
    if (parts.empty()) {
      // No rows: one file of none, so that the folder still has the columns and their types for a
      // reader (the ids' as the input's id column has them).
      ParquetPart p{parquet_part_name(0), 0, 0, 0, ""};
      const std::string file = (fs::path(spec_.temp_path) / p.file).string();
      ParquetPartWriter w(file, spec_.columns, spec_.id_name, spec_.provenance);
      std::vector<Tensor> none;
      for (const auto& c : spec_.columns) {
        Shape s{0};
        s.insert(s.end(), c.row_shape.begin(), c.row_shape.end());
        none.emplace_back(c.dtype, s);
      }
      SS_RETURN_IF_ERROR(w.append(0, 0, none, spec_.no_ids.get()));
      SS_RETURN_IF_ERROR(w.close());
      SS_ASSIGN_OR_RETURN(p.sha256, sha256_file_hex(file));
      parts.push_back(std::move(p));
    }
    Provenance provenance = spec_.provenance;
    provenance.insert(provenance.end(), manifest_only_.begin(), manifest_only_.end());
    SS_RETURN_IF_ERROR(parquet_folder_finish(spec_.temp_path, parts, names(), spec_.total_rows, provenance));
    SS_RETURN_IF_ERROR(move_into_place(spec_.temp_path, final_path, replace, "output"));
    sync_parent_folder_or_warn(final_path);
    return ok_status();
  }
  std::vector<std::string> names() const override {
    std::vector<std::string> out{spec_.id_name};
    for (const auto& c : spec_.columns) out.push_back(c.name);
    return out;
  }

 private:
  OutputSinkSpec spec_;
  Provenance manifest_only_;  // add_provenance's, after the part files' metadata was written
  std::unique_ptr<ParquetPartWriter> part_;  // the shard being written
};
#endif

}  // namespace

Status output_sink_check_columns(bool parquet, const std::vector<OutputColumn>& columns, const std::string& id_name) {
  const std::string format = parquet ? "Parquet" : "HDF5";
  const std::string fix = " (choose the outputs to write with output.outputs)";
  std::vector<std::string> seen{parquet ? id_name : std::string("row_index")};
  for (const OutputColumn& c : columns) {
    const std::string what = "model output '" + c.name + "' cannot be written to the " + format + " output: ";
    if (c.name.empty() || c.name == "." || (!parquet && c.name.find('/') != std::string::npos)) {
      return invalid_argument(what + "its name is not a valid " + std::string(parquet ? "column" : "dataset") + " name" + fix);
    }
    if (std::find(seen.begin(), seen.end(), c.name) != seen.end()) {
      return invalid_argument(what + (c.name == seen.front() ? "the " + std::string(parquet && id_name != "row_index" ? "id column" : "row index") +
                                                                   " is written under that name"
                                                             : "another output has that name") + fix);
    }
    seen.push_back(c.name);
    if (shape_numel(c.row_shape) == 0) {
      return invalid_argument(what + "its rows are " + shape_to_string(c.row_shape) + ", no values" + fix);
    }
  }
  return ok_status();
}

// The file holds the temporary path, which is this run's own (it names rank 0's host and pid), so
// that an older file of that name cannot pass.
Status output_folder_check_shared(const std::string& temp_path, MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const std::string probe = temp_path + ".shared";
  const std::string folder = folder_of(temp_path).string();
  Status made = ok_status();
  if (rank == 0) {  // write_file_synced removes what it could not finish
    made = write_file_synced(probe, temp_path).with_context("checking that every rank shares the output folder: ");
  }
  SS_RETURN_IF_ERROR(mpi_agree(made, comm));
  Status seen = ok_status();
  if (rank != 0) {
    std::string text;
    const int fd = ::open(probe.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
      ::close(fd);
    }
    if (fd < 0 && errno != ENOENT && errno != ENOTDIR) {  // those two: not there, as below
      seen = open_error(errno, "checking that this rank shares the output folder: '" + probe + "'");
    } else if (text != temp_path) {
      seen = invalid_argument("the output folder '" + folder + "' is not the one rank 0 writes to: rank 0 wrote '" + probe +
                              "' there and this rank does not see it (a folder on a node's own disk, such as /tmp or "
                              "local scratch?); the output must be on a file system that every rank shares");
    }
  }
  seen = mpi_agree_where(seen, comm);  // every rank has read it: rank 0 may remove it
  if (rank == 0) {
    std::error_code ec;
    if (!fs::remove(probe, ec) && ec) log_warning("could not remove '" + probe + "': " + ec.message());
  }
  return seen;
}

StatusOr<std::unique_ptr<OutputSink>> output_sink_create(bool parquet, const OutputSinkSpec& spec, MPI_Comm comm) {
  if (!parquet) {
    SS_ASSIGN_OR_RETURN(auto writer, Hdf5Writer::create(spec.temp_path, spec.total_rows, spec.columns, comm));
    int size = 1;
    MPI_Comm_size(comm, &size);
    return std::unique_ptr<OutputSink>(new Hdf5Sink(spec, std::move(writer), size));
  }
#if SHARDSCORE_HAVE_PARQUET
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) {
    std::error_code ec;
    if (!fs::create_directory(spec.temp_path, ec)) {
      return unavailable("cannot create output folder '" + spec.temp_path + "': " + (ec ? ec.message() : "it exists"));
    }
  }
  return std::unique_ptr<OutputSink>(new ParquetSink(spec));
#else
  (void)comm;
  return unimplemented("output '" + spec.temp_path +
                       "' is a Parquet folder, but this build has no Parquet support (built without Apache Arrow C++; "
                       "run scripts/setup.sh, which installs it, and rebuild)");
#endif
}

}  // namespace shardscore
