#include "writer/hdf5_writer.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>
#include <numeric>

#include "common/durable.h"
#include "common/env.h"
#include "common/log.h"
#include "common/process_limits.h"
#include "mpi/mpi_util.h"

namespace shardscore {

namespace {
// Bytes free to this user on the file system of `dir`; -1 when it cannot be read.
double free_bytes(const std::filesystem::path& dir) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return -1;
  return static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize);
}

// What a failed write may be short of ("" when it cannot be read): MPI-IO reports only "file
// write failed".
std::string space_note(const std::string& path) {
  const std::filesystem::path dir = folder_of(path);
  const double avail = free_bytes(dir);
  if (avail < 0) return "";
  return " (" + mib_text(avail) + " free on the file system of '" + dir.string() + "')";
}

// Reserves the blocks of bytes [0, bytes) of `path` without changing its size (fallocate with
// FALLOC_FL_KEEP_SIZE). Where the file system cannot reserve, checks its free space instead.
// Returns 0, or the errno that refuses the reservation (ENOSPC, EDQUOT, ...).
int reserve_file_space(const std::string& path, uint64_t bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = 0;
  if (::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(bytes)) != 0) err = errno;
  ::close(fd);
  if (err == EOPNOTSUPP || err == ENOSYS || err == EINVAL) {
    const double avail = free_bytes(folder_of(path));
    err = avail >= 0 && avail < static_cast<double>(bytes) ? ENOSPC : 0;
  }
  return err;
}
}  // namespace

StatusOr<std::unique_ptr<Hdf5Writer>> Hdf5Writer::create(const std::string& path, int64_t total_rows,
                                                         const std::vector<OutputColumn>& columns, MPI_Comm comm) {
  std::unique_ptr<Hdf5Writer> w(new Hdf5Writer());
  w->path_ = path;
  w->total_rows_ = total_rows;
  w->columns_ = columns;
  w->columns_.push_back({"row_index", DType::kInt64, {}});
  const std::string what = "output '" + path + "'";

  w->comm_ = comm;
  std::lock_guard lock(hdf5_mutex());
  // What may fail on one rank alone is agreed before each collective call that rank would skip.
  SS_RETURN_IF_ERROR(mpi_agree_where(
      check_free_descriptors(kMpioOpenDescriptors).with_context("creating output file '" + path + "' over MPI-IO: "), comm));
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  SS_RETURN_IF_ERROR(mpi_agree_where(
      fapl.valid() ? ok_status() : unavailable("making the file access properties of " + what + " failed: " + hdf5_last_error()),
      comm));
  // Collective (it duplicates the communicator), so made by every rank before the next agreement.
  Status ready;
  if (H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL) < 0) {
    ready = unavailable("selecting MPI-IO for " + what + " failed: " + hdf5_last_error());
  } else if (H5Pset_all_coll_metadata_ops(fapl.get(), true) < 0 || H5Pset_coll_metadata_write(fapl.get(), true) < 0) {
    // Metadata reads and writes collective too: no rank touches metadata on its own.
    ready = unavailable("setting collective metadata for " + what + " failed: " + hdf5_last_error());
  }
  H5Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (ready.ok() && (!dcpl.valid() || H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER) < 0)) {
    ready = unavailable("setting the fill time for " + what + " failed: " + hdf5_last_error());
  }
  w->dxpl_ = H5Id(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  if (ready.ok() && (!w->dxpl_.valid() || H5Pset_dxpl_mpio(w->dxpl_.get(), H5FD_MPIO_COLLECTIVE) < 0)) {
    ready = unavailable("setting collective transfers for " + what + " failed: " + hdf5_last_error());
  }
  SS_RETURN_IF_ERROR(mpi_agree_where(ready, comm));
  // Not agreed: a create that fails on some ranks only has failed inside its collective calls,
  // and no agreement after it could bring the ranks together again.
  w->file_ = H5Id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), hdf5_close_file);
  if (!w->file_.valid()) {
    return unavailable("cannot create output file '" + path + "' (folder missing or not writable?): " + hdf5_last_error());
  }
  // The datasets change the file's metadata, which every rank must change alike: a rank whose call
  // failed makes the others' calls all the same, and the ranks agree at the end.
  Status made;
  MetadataTrail trail;
  for (const auto& c : w->columns_) {
    std::vector<hsize_t> dims{static_cast<hsize_t>(total_rows)};
    for (int64_t d : c.row_shape) dims.push_back(static_cast<hsize_t>(d));
    H5Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
    if (!space.valid() && made.ok()) {
      made = unavailable("creating the dataspace of '" + c.name + "' in " + what + " failed: " + hdf5_last_error());
    }
    H5Id ds(H5Dcreate2(w->file_.get(), c.name.c_str(), hdf5_native_type(c.dtype), space.get(), H5P_DEFAULT, dcpl.get(),
                       H5P_DEFAULT),
            H5Dclose);
    trail.add(ds.valid());
    if (!ds.valid() && made.ok()) {
      made = invalid_argument("cannot create dataset '" + c.name + "' in " + what + " (is the output name valid?): " +
                              hdf5_last_error());
    }
    H5Eclear2(H5E_DEFAULT);
    w->datasets_.push_back(std::move(ds));
  }
  SS_RETURN_IF_ERROR(w->agree_on_metadata(made, trail));

  // The whole file's space, reserved before any row is scored. A file system that fills up
  // during the run is not reliably reported by MPI-IO's collective writes (Open MPI 4.1's OMPIO
  // printed ENOSPC and returned success, leaving holes; ROMIO hung at 3 ranks), so it must not
  // fill up then. The datasets are allocated at creation (parallel HDF5 allocates early), so the
  // end of the last one bounds the rows; the margin is for the metadata written at close.
  // Rank 0 decides and tells the others: every rank fails here, or none.
  constexpr uint64_t kMetadataMargin = uint64_t{1} << 20;
  constexpr long long kNoStorage = -1;
  long long decision[2] = {0, 0};  // errno (or kNoStorage), bytes
  int rank = 0;
  SS_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  if (rank == 0 && !env_is("SHARDSCORE_OUTPUT_RESERVE", "0")) {
    uint64_t bytes = kMetadataMargin;
    for (std::size_t k = 0; k < w->datasets_.size(); ++k) {
      if (total_rows * shape_numel(w->columns_[k].row_shape) == 0) continue;  // no elements, no storage
      const haddr_t at = H5Dget_offset(w->datasets_[k].get());
      if (at == HADDR_UNDEF) decision[0] = kNoStorage;
      const uint64_t end = static_cast<uint64_t>(at) + H5Dget_storage_size(w->datasets_[k].get());
      bytes = std::max<uint64_t>(bytes, end + kMetadataMargin);
    }
    decision[1] = static_cast<long long>(bytes);
    if (decision[0] == 0) decision[0] = reserve_file_space(path, bytes);
  }
  SS_MPI_CHECK(MPI_Bcast(decision, 2, MPI_LONG_LONG, 0, comm));
  if (decision[0] == kNoStorage) return internal_error("a dataset of " + what + " has no storage after its creation");
  if (decision[0] != 0) {
    return unavailable("cannot reserve the " + mib_text(static_cast<double>(decision[1])) + " that " + what +
                       " needs: " + std::strerror(static_cast<int>(decision[0])) + space_note(path));
  }
  return w;
}

Status Hdf5Writer::select_rows(std::size_t k, int64_t row_begin, int64_t rows, H5Id* file_space, H5Id* mem_space) const {
  const OutputColumn& c = columns_[k];
  const std::string what = "selecting rows of dataset '" + c.name + "' of '" + path_ + "'";
  *file_space = H5Id(H5Dget_space(datasets_[k].get()), H5Sclose);
  SS_H5_CHECK(file_space->get(), what);
  std::vector<hsize_t> start{static_cast<hsize_t>(row_begin)}, count{static_cast<hsize_t>(rows)};
  for (int64_t d : c.row_shape) {
    start.push_back(0);
    count.push_back(static_cast<hsize_t>(d));
  }
  if (rows > 0) {
    SS_H5_CHECK(H5Sselect_hyperslab(file_space->get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr), what);
    *mem_space = H5Id(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
    SS_H5_CHECK(mem_space->get(), what);
  } else {
    SS_H5_CHECK(H5Sselect_none(file_space->get()), what);
    hsize_t one = 1;
    *mem_space = H5Id(H5Screate_simple(1, &one, nullptr), H5Sclose);
    SS_H5_CHECK(mem_space->get(), what);
    SS_H5_CHECK(H5Sselect_none(mem_space->get()), what);
  }
  return ok_status();
}

Status Hdf5Writer::write_selection(int64_t row_begin, int64_t rows, const std::vector<const void*>& buffers, Status ready) {
  // Every H5Dwrite is collective. What may fail on one rank before them (the caller's checks,
  // this rank's dataspaces and selections) is agreed first: a rank that left the round there
  // would leave the others waiting in an H5Dwrite.
  std::vector<H5Id> file_spaces(columns_.size()), mem_spaces(columns_.size());
  for (std::size_t k = 0; k < columns_.size() && ready.ok(); ++k) {
    ready = select_rows(k, row_begin, rows, &file_spaces[k], &mem_spaces[k]);
  }
  SS_RETURN_IF_ERROR(mpi_agree_where(ready, comm_));
  // A write can still fail on some ranks only (a full disk under one rank's stripe): the others
  // go on to the next dataset's write, so a rank whose write failed takes part in the rest of the
  // round too, and returns its first failure after it.
  Status first_failure;
  for (std::size_t k = 0; k < columns_.size(); ++k) {
    const OutputColumn& c = columns_[k];
    const std::string what = "writing dataset '" + c.name + "' of '" + path_ + "'";
    static const int64_t kNoData = 0;
    const void* buf = rows > 0 ? buffers[k] : &kNoData;
    if (H5Dwrite(datasets_[k].get(), hdf5_native_type(c.dtype), mem_spaces[k].get(), file_spaces[k].get(), dxpl_.get(),
                 buf) < 0) {
      // Not agreed (the others have made their part of it): named by its rank, which may be alone.
      if (first_failure.ok()) {
        first_failure = unavailable(mpi_rank_place(comm_) + ": " + what + " failed: " + hdf5_last_error() + space_note(path_));
      }
      H5Eclear2(H5E_DEFAULT);
      continue;
    }
    uint32_t local_cause = 0, global_cause = 0;
    if (H5Pget_mpio_no_collective_cause(dxpl_.get(), &local_cause, &global_cause) < 0) {
      if (first_failure.ok()) first_failure = unavailable(what + ": cannot read whether it was collective: " + hdf5_last_error());
      H5Eclear2(H5E_DEFAULT);
      continue;
    }
    non_collective_cause_ |= global_cause;
  }
  return first_failure;
}

Status Hdf5Writer::write_rows(int64_t row_begin, int64_t rows, const std::vector<Tensor>& outputs) {
  // A batch that fails these checks still takes part in the round (see write_selection).
  Status ready;
  std::vector<int64_t> row_index;
  std::vector<const void*> buffers;
  if (outputs.size() + 1 != columns_.size()) {
    ready = internal_error("writer got " + std::to_string(outputs.size()) + " outputs for " +
                           std::to_string(columns_.size() - 1) + " datasets");
  } else if (row_begin < 0 || row_begin + rows > total_rows_) {
    ready = internal_error("write of rows outside the output's " + std::to_string(total_rows_) + " rows");
  }
  for (std::size_t k = 0; k < outputs.size() && ready.ok(); ++k) {
    const int64_t want = rows * shape_numel(columns_[k].row_shape);
    if (outputs[k].dtype() != columns_[k].dtype || outputs[k].numel() != want) {
      ready = internal_error("output '" + columns_[k].name + "' has " + std::to_string(outputs[k].numel()) + " " +
                             std::string(dtype_name(outputs[k].dtype())) + " values for " + std::to_string(rows) + " rows");
    }
    buffers.push_back(outputs[k].raw());
  }
  if (ready.ok()) {
    try {
      row_index.resize(static_cast<std::size_t>(rows));
      std::iota(row_index.begin(), row_index.end(), row_begin);
      buffers.push_back(row_index.data());
    } catch (const std::bad_alloc&) {  // agreed like the checks above, not thrown past the round
      ready = resource_exhausted("the row index of " + std::to_string(rows) + " rows for '" + path_ +
                                 "': out of host memory");
    }
  }
  if (!ready.ok()) rows = 0;
  std::lock_guard lock(hdf5_mutex());
  return write_selection(row_begin, rows, buffers, ready);
}

Status Hdf5Writer::write_nothing() {
  std::lock_guard lock(hdf5_mutex());
  return write_selection(0, 0, std::vector<const void*>(columns_.size(), nullptr), ok_status());
}

Status Hdf5Writer::write_attributes(const std::vector<std::pair<std::string, std::string>>& strings,
                                    const std::vector<std::pair<std::string, int64_t>>& ints) {
  std::lock_guard lock(hdf5_mutex());
  const std::string what = "writing attributes of '" + path_ + "'";
  // Creating an attribute changes the file's metadata, which every rank must change alike: a rank
  // whose call failed goes on with the others' calls and returns its first failure at the end.
  Status first_failure;
  auto check = [&](auto result, const std::string& name) {
    if (result >= 0) return true;
    if (first_failure.ok()) first_failure = unavailable(what + " (" + name + ") failed: " + hdf5_last_error());
    H5Eclear2(H5E_DEFAULT);
    return false;
  };
  H5Id scalar(H5Screate(H5S_SCALAR), H5Sclose);
  check(scalar.get(), "a scalar dataspace");
  // Variable-length strings (as h5py writes a str): the text lives in the global heap, so a long
  // one (a job file with a large vocabulary) does not meet the 64 KiB limit of an object header.
  H5Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  check(type.get(), "a string type") && check(H5Tset_size(type.get(), H5T_VARIABLE), "a string type") &&
      check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "a string type");
  MetadataTrail trail;
  auto write_one = [&](const std::string& name, hid_t file_type, hid_t mem_type, const void* value) {
    H5Id attr(H5Acreate2(file_.get(), name.c_str(), file_type, scalar.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const bool created = check(attr.get(), name);
    trail.add(created);
    if (created) trail.add(check(H5Awrite(attr.get(), mem_type, value), name));
  };
  for (const auto& [name, value] : strings) {
    const char* text = value.c_str();
    write_one(name, type.get(), type.get(), &text);
  }
  for (const auto& [name, value] : ints) write_one(name, H5T_NATIVE_INT64, H5T_NATIVE_INT64, &value);
  return agree_on_metadata(first_failure, trail);
}

Status Hdf5Writer::agree_on_metadata(const Status& local, const MetadataTrail& trail) {
  // The smallest and the largest trail in one reduction: alike when they are the same.
  unsigned long long mine[2] = {trail.hash, ~trail.hash}, least[2] = {0, 0};
  SS_MPI_CHECK(MPI_Allreduce(mine, least, 2, MPI_UNSIGNED_LONG_LONG, MPI_MIN, comm_));
  Status agreed = mpi_agree_where(local, comm_);
  if (least[0] == ~least[1]) return agreed;
  // Not closed: nor are its datasets, whose closing may write their metadata too. The library
  // stays open at exit (hdf5_leave_open); the file itself is removed as any failed job's is.
  for (H5Id& ds : datasets_) ds.release();
  dxpl_.reset();
  file_.release();
  hdf5_leave_open();
  left_open_ = true;
  // Unavailable whatever the failure said: what fails on one rank alone is that rank's trouble
  // (memory), not the job's (a dataset name is the same on every rank).
  return unavailable(agreed.message() + " (the ranks' views of the output's metadata now differ, so no rank can "
                                        "close it: it is left open and removed)");
}

Status Hdf5Writer::close() {
  std::lock_guard lock(hdf5_mutex());
  if (left_open_) return ok_status();
  datasets_.clear();
  dxpl_.reset();
  if (!file_.close()) {
    return unavailable("closing output '" + path_ + "' failed: " + hdf5_last_error() + space_note(path_));
  }
  return ok_status();
}

Hdf5Writer::~Hdf5Writer() {
  std::lock_guard lock(hdf5_mutex());
  datasets_.clear();
  dxpl_.reset();
  file_.reset();
}

}  // namespace shardscore
