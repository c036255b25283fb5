#include "reader/hdf5_reader.h"

#include <fcntl.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "common/env.h"
#include "common/process_limits.h"
#include "mpi/mpi_util.h"

namespace shardscore {
namespace {

// "float of 10 bytes", "compound of 24 bytes", ...: what a dataset holds, for an error.
std::string hdf5_type_text(hid_t type) {
  const char* cls = "another class";
  switch (H5Tget_class(type)) {
    case H5T_INTEGER: cls = "integer"; break;
    case H5T_FLOAT: cls = "float"; break;
    case H5T_STRING: cls = "string"; break;
    case H5T_BITFIELD: cls = "bitfield"; break;
    case H5T_OPAQUE: cls = "opaque"; break;
    case H5T_COMPOUND: cls = "compound"; break;
    case H5T_REFERENCE: cls = "reference"; break;
    case H5T_ENUM: cls = "enum"; break;
    case H5T_VLEN: cls = "variable-length"; break;
    case H5T_ARRAY: cls = "array"; break;
    default: break;
  }
  return std::string(cls) + " of " + std::to_string(H5Tget_size(type)) + " bytes";
}

// The name of the file holding object `id`, as it was opened ("" when HDF5 cannot say).
std::string hdf5_file_name(hid_t id) {
  const ssize_t n = H5Fget_name(id, nullptr, 0);
  if (n <= 0) return "";
  std::string name(static_cast<std::size_t>(n), '\0');
  H5Fget_name(id, name.data(), name.size() + 1);
  return name;
}

// Checks that `dataset` names an object in `file`, one link at a time: H5Lexists fails (rather than
// answering no) where a group on the way is missing or is a dataset, and a failure that is not
// such a "no" means the file's groups could not be read (corrupt after an intact superblock, which
// in parallel only rank 0 reads): DataLoss, not NotFound.
Status find_dataset(hid_t file, const std::string& path, const std::string& dataset) {
  const auto corrupt = [&] {
    return data_loss("input file '" + path + "' cannot be read where dataset '" + dataset +
                     "' should be (corrupt or truncated?): " + hdf5_last_error());
  };
  const std::string missing = "input file '" + path + "' has no dataset '" + dataset + "'";
  for (std::size_t at = 0; at != std::string::npos;) {
    at = dataset.find('/', at + 1);
    const std::string prefix = dataset.substr(0, at);
    if (prefix.empty() || prefix.back() == '/') continue;  // "//x", "/x/": an empty name between slashes
    const htri_t link = H5Lexists(file, prefix.c_str(), H5P_DEFAULT);
    if (link < 0) return corrupt();
    if (link == 0) return not_found(missing);
    const htri_t object = H5Oexists_by_name(file, prefix.c_str(), H5P_DEFAULT);
    if (object < 0) return corrupt();
    if (object == 0) return not_found(missing + " ('" + prefix + "' is a link to nothing)");
    if (at == std::string::npos || dataset.find_first_not_of('/', at) == std::string::npos) break;
    const hid_t o = H5Oopen(file, prefix.c_str(), H5P_DEFAULT);
    if (o < 0) return corrupt();
    const H5I_type_t type = H5Iget_type(o);
    H5Oclose(o);
    if (type != H5I_GROUP) return not_found(missing + " ('" + prefix + "' is not a group)");
  }
  return ok_status();
}

// A file whose superblock (version 2 or later) still says it is open for writing: its writer is
// running, or died before closing it, and what it left may be incomplete. Serial HDF5 refuses such
// a file; opened over MPI-IO it was read without a word. The superblock lies at 0, or after a
// userblock at 512, 1024, 2048, ... bytes; its consistency flags are byte 11 (bit 0: open for
// writing, bit 2: for SWMR writing).
Status check_closed_by_writer(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  static constexpr unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  for (std::streamoff at = 0; in; at = at == 0 ? 512 : at * 2) {
    unsigned char head[12] = {};
    in.seekg(at);
    if (!in.read(reinterpret_cast<char*>(head), sizeof head)) break;
    if (std::memcmp(head, kSignature, sizeof kSignature) != 0) continue;
    if (head[8] >= 2 && (head[11] & 0x05) != 0) {
      return invalid_argument("input file '" + path + "' is marked open for writing by another program (" +
                              std::string(head[11] & 0x04 ? "a SWMR writer" : "a writer") +
                              " still running, or one that died before closing it): its contents may be incomplete. "
                              "Wait for the writer to finish; if you know the file is complete, clear the mark with "
                              "'h5clear -s " + path + "'");
    }
    break;
  }
  return ok_status();
}

}  // namespace

StatusOr<std::unique_ptr<Hdf5Reader>> Hdf5Reader::open(const std::string& path, const std::string& dataset,
                                                       MPI_Comm comm) {
  std::unique_ptr<Hdf5Reader> r(new Hdf5Reader());
  r->path_ = path;
  r->dataset_ = dataset;
  const std::string what = "input '" + path + "'";

  // H5Fopen and H5Fclose over MPI-IO are collective: every rank checks what it can, and the ranks
  // agree before the open and after it, so that no rank returns (closing its file alone) while the
  // others wait in the next collective call. A file missing or different on one node's disk names
  // that rank and node (mpi_agree_where).
  // Checked before HDF5 so the message is plain; HDF5's own would be "unable to open file".
  std::lock_guard lock(hdf5_mutex());
  const Status found = [&]() -> Status {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return not_found("input file '" + path + "' does not exist");
    if (std::filesystem::is_directory(path, ec)) return invalid_argument("input '" + path + "' is a directory, not an HDF5 file");
    // Opened once first, so that what stops a process opening files (too many open, permissions)
    // is named as itself, not as a corrupt file.
    if (const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC); fd < 0) {
      return open_error(errno, "input file '" + path + "' cannot be opened");
    } else {
      ::close(fd);
    }
    if (const Status fds = check_free_descriptors(kMpioOpenDescriptors); !fds.ok()) {
      return fds.with_context("opening input file '" + path + "' over MPI-IO: ");
    }
    if (H5Fis_hdf5(path.c_str()) <= 0) {
      return data_loss("input file '" + path + "' is not an HDF5 file or is corrupt (no valid HDF5 signature)");
    }
    return check_closed_by_writer(path);
  }();
  SS_RETURN_IF_ERROR(mpi_agree_where(found, comm));
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  SS_RETURN_IF_ERROR(mpi_agree_where(
      fapl.valid() ? ok_status() : unavailable("creating file access list for " + what + " failed: " + hdf5_last_error()), comm));
  // Collective (it duplicates the communicator): made by every rank, then agreed before the open.
  SS_RETURN_IF_ERROR(mpi_agree_where(H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL) < 0
                                         ? unavailable("selecting MPI-IO for " + what + " failed: " + hdf5_last_error())
                                         : ok_status(),
                                     comm));
  const Status opened = [&]() -> Status {
    r->file_ = H5Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), hdf5_close_file);
    if (!r->file_.valid()) {
      return data_loss("input file '" + path + "' cannot be opened as HDF5 (corrupt or truncated?): " + hdf5_last_error());
    }
    SS_RETURN_IF_ERROR(find_dataset(r->file_.get(), path, dataset));
    r->dset_ = H5Id(H5Dopen2(r->file_.get(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
    if (!r->dset_.valid()) {
      return data_loss("dataset '" + dataset + "' in '" + path + "' cannot be opened: " + hdf5_last_error());
    }
    r->space_ = H5Id(H5Dget_space(r->dset_.get()), H5Sclose);
    SS_H5_CHECK(r->space_.get(), "reading the dataspace of '" + dataset + "' in " + what);
    const int ndims = H5Sget_simple_extent_ndims(r->space_.get());
    if (ndims < 1) {
      // H5S_NULL (no elements, as h5py writes h5py.Empty) also has no dimensions, but is no scalar.
      const bool null = H5Sget_simple_extent_type(r->space_.get()) == H5S_NULL;
      return invalid_argument("dataset '" + dataset + "' in '" + path + "' is " + (null ? "empty (a null dataspace)" : "a scalar") +
                              "; shardscore reads datasets whose first dimension is rows");
    }
    std::vector<hsize_t> dims(static_cast<std::size_t>(ndims));
    H5Sget_simple_extent_dims(r->space_.get(), dims.data(), nullptr);
    r->rows_ = static_cast<int64_t>(dims[0]);
    for (int d = 1; d < ndims; ++d) {
      r->row_shape_.push_back(static_cast<int64_t>(dims[d]));
      r->row_elements_ *= static_cast<int64_t>(dims[d]);
    }

    H5Id type(H5Dget_type(r->dset_.get()), H5Tclose);
    SS_H5_CHECK(type.get(), "reading the element type of '" + dataset + "' in " + what);
    r->dtype_ = hdf5_dtype_of(type.get());
    const H5T_class_t type_class = H5Tget_class(type.get());
    // float16 (numpy's, h5py writes it as a 2-byte IEEE float): HDF5 converts it to float32 as it reads.
    if (r->dtype_ == DType::kUndefined && type_class == H5T_FLOAT && H5Tget_size(type.get()) == 2) {
      r->dtype_ = DType::kFloat32;
      r->float16_ = true;
    }
    if (r->dtype_ == DType::kUndefined) {
      return invalid_argument("dataset '" + dataset + "' in '" + path + "' does not hold numbers shardscore reads (integers of " +
                              "1 to 8 bytes, float16, float32, float64): its HDF5 type is " + hdf5_type_text(type.get()));
    }

    H5Id dcpl(H5Dget_create_plist(r->dset_.get()), H5Pclose);
    // What parallel HDF5 cannot read fails here, not after the first rows are scored.
    if (H5Pget_layout(dcpl.get()) == H5D_VIRTUAL) {
      return invalid_argument("dataset '" + dataset + "' in '" + path + "' is a virtual dataset (VDS), which parallel HDF5 " +
                              "cannot read: copy its rows into a plain dataset first");
    }
    for (int k = 0, n = H5Pget_nfilters(dcpl.get()); k < n; ++k) {
      unsigned flags = 0, config = 0;
      std::size_t nvalues = 0;
      char name[128] = {};
      const H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(k), &flags, &nvalues, nullptr, sizeof name, name, &config);
      if (id >= 0 && H5Zfilter_avail(id) <= 0) {
        return invalid_argument("dataset '" + dataset + "' in '" + path + "' is stored with HDF5 filter " + std::to_string(id) +
                                (name[0] ? " ('" + std::string(name) + "')" : std::string()) +
                                ", which this build's HDF5 cannot decode: install the filter's plugin in a folder named by "
                                "HDF5_PLUGIN_PATH, or rewrite the dataset without it (h5repack -f NONE)");
      }
    }
    H5D_fill_time_t fill_time = H5D_FILL_TIME_IFSET;
    r->fill_never_ = H5Pget_fill_time(dcpl.get(), &fill_time) >= 0 && fill_time == H5D_FILL_TIME_NEVER;
    if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED) {
      std::vector<hsize_t> chunk(static_cast<std::size_t>(ndims));
      if (H5Pget_chunk(dcpl.get(), ndims, chunk.data()) == ndims) r->chunk_rows_ = static_cast<int64_t>(chunk[0]);
    }
    r->dxpl_ = H5Id(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
    SS_H5_CHECK(r->dxpl_.get(), "making the transfer properties for " + what);
    SS_H5_CHECK(H5Pset_dxpl_mpio(r->dxpl_.get(), H5FD_MPIO_INDEPENDENT), "setting independent reads for " + what);
    std::error_code size_error;
    r->opened_size_ = std::filesystem::file_size(path, size_error);
    r->plan_direct_reads(dcpl.get(), type.get(), dims);
    H5Eclear2(H5E_DEFAULT);  // a refused direct read is not an error
    return ok_status();
  }();
  SS_RETURN_IF_ERROR(mpi_agree_where(opened, comm));
  return r;
}

void Hdf5Reader::plan_direct_reads(hid_t dcpl, hid_t file_type, const std::vector<hsize_t>& dims) {
  auto through_hdf5 = [this](const std::string& why) { read_mode_ = "read through HDF5 (" + why + ")"; };
  if (env_is("SHARDSCORE_HDF5_DIRECT", "0")) {
    return through_hdf5("SHARDSCORE_HDF5_DIRECT=0");
  }
  // The bytes are the values only in the machine's own type and byte order, and only where the
  // file's addresses start at byte 0 (no userblock) and the data is in this file.
  if (H5Tequal(file_type, hdf5_native_type(dtype_)) <= 0) return through_hdf5("stored in another byte order or type");
  if (H5Pget_external_count(dcpl) != 0) return through_hdf5("stored in external files");
  // An external link on the dataset's path puts it in another file, whose addresses these are not.
  if (const std::string here = hdf5_file_name(file_.get()); here.empty() || hdf5_file_name(dset_.get()) != here) {
    return through_hdf5("in another file, by an external link");
  }
  H5Id fcpl(H5Fget_create_plist(file_.get()), H5Pclose);
  hsize_t userblock = 1;
  if (!fcpl.valid() || H5Pget_userblock(fcpl.get(), &userblock) < 0 || userblock != 0) {
    return through_hdf5("the file has a userblock");
  }
  const H5D_layout_t layout = H5Pget_layout(dcpl);
  if (layout == H5D_CONTIGUOUS) {
    const haddr_t addr = H5Dget_offset(dset_.get());
    if (addr == HADDR_UNDEF) return through_hdf5("never written: its fill value");
    contiguous_addr_ = addr;
  } else if (layout == H5D_CHUNKED) {
    // Chunks of whole rows (a chunk is then chunk_rows_ consecutive rows), stored as they are.
    std::vector<hsize_t> chunk(dims.size());
    if (H5Pget_nfilters(dcpl) != 0) return through_hdf5("compressed or filtered chunks");
    if (H5Pget_chunk(dcpl, static_cast<int>(dims.size()), chunk.data()) < 0 || chunk_rows_ <= 0) {
      return through_hdf5("chunk shape unreadable");
    }
    for (std::size_t d = 1; d < dims.size(); ++d)
      if (chunk[d] != dims[d]) return through_hdf5("chunks split rows");
    // HDF5 1.10 looks a chunk up by walking the dataset's whole chunk index (about 10 ns a chunk,
    // measured), so n lookups cost n^2 steps: direct reads only where that is small against the
    // bytes read (a chunk of at least 256 bytes per chunk in the dataset, or few chunks).
    const uint64_t chunks = (static_cast<uint64_t>(rows_) + static_cast<uint64_t>(chunk_rows_) - 1) / static_cast<uint64_t>(chunk_rows_);
    const uint64_t chunk_bytes = static_cast<uint64_t>(chunk_rows_) * static_cast<uint64_t>(row_elements_) * dtype_size(dtype_);
    if (chunks > kDirectChunksAlways && chunk_bytes < 256 * chunks) {
      return through_hdf5(std::to_string(chunks) + " chunks of " + std::to_string(chunk_bytes) +
                          " bytes: finding each in the file would cost more than reading it");
    }
    chunk_addr_.assign(static_cast<std::size_t>((rows_ + chunk_rows_ - 1) / chunk_rows_), 0);
  } else {
    return through_hdf5("compact or virtual layout");
  }
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return through_hdf5(std::string("open: ") + std::strerror(errno));
  read_mode_ = "direct reads (pread)";
}

bool Hdf5Reader::direct_extents(int64_t row_begin, int64_t count, std::vector<Extent>* extents) {
  const uint64_t row_bytes = static_cast<uint64_t>(row_elements_) * dtype_size(dtype_);
  if (chunk_addr_.empty()) {
    extents->push_back({contiguous_addr_ + static_cast<uint64_t>(row_begin) * row_bytes, 0,
                        static_cast<std::size_t>(count * row_bytes)});
    return true;
  }
  const int rank = static_cast<int>(row_shape_.size()) + 1;
  for (int64_t r = row_begin, end = row_begin + count; r < end;) {
    const int64_t k = r / chunk_rows_, first = k * chunk_rows_, stop = std::min(first + chunk_rows_, end);
    uint64_t& addr = chunk_addr_[static_cast<std::size_t>(k)];
    if (addr == 0) {
      std::vector<hsize_t> offset(static_cast<std::size_t>(rank), 0);
      offset[0] = static_cast<hsize_t>(first);
      unsigned filters = 0;
      haddr_t a = HADDR_UNDEF;
      hsize_t size = 0;
      const herr_t rc = H5Dget_chunk_info_by_coord(dset_.get(), offset.data(), &filters, &a, &size);
      // A chunk never written has size 0; an unfiltered chunk holds all its rows, at the edge too.
      const bool plain = rc >= 0 && a != HADDR_UNDEF && size == static_cast<hsize_t>(chunk_rows_) * row_bytes;
      addr = plain ? a : HADDR_UNDEF;
    }
    if (addr == HADDR_UNDEF) return false;
    const uint64_t file = addr + static_cast<uint64_t>(r - first) * row_bytes;
    const std::size_t dst = static_cast<std::size_t>((r - row_begin) * row_bytes);
    const std::size_t bytes = static_cast<std::size_t>((stop - r) * row_bytes);
    if (!extents->empty() && extents->back().file + extents->back().bytes == file) {
      extents->back().bytes += bytes;  // chunks written one after the other: one read
    } else {
      extents->push_back({file, dst, bytes});
    }
    r = stop;
  }
  return true;
}

Status Hdf5Reader::read_extents(const std::vector<Extent>& extents, int64_t row_begin, int64_t count,
                                std::byte* dst) const {
  // Pieces of at most 4 MiB, so that a batch spreads over the threads.
  constexpr std::size_t kPiece = std::size_t{4} << 20;
  std::vector<Extent> pieces;
  for (const Extent& e : extents)
    for (std::size_t o = 0; o < e.bytes; o += kPiece) pieces.push_back({e.file + o, e.dst + o, std::min(kPiece, e.bytes - o)});
  std::atomic<bool> failed{false};
  std::mutex why_mutex;
  std::string why;
  // Isolated: while it waits, the reading thread takes only these pieces, not another batch's
  // forward pass, which would hold up the pipeline's serial read stage.
  tbb::this_task_arena::isolate([&] {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, pieces.size()), [&](const tbb::blocked_range<std::size_t>& range) {
      for (std::size_t i = range.begin(); i != range.end() && !failed.load(std::memory_order_relaxed); ++i) {
        std::byte* p = dst + pieces[i].dst;
        uint64_t at = pieces[i].file;
        std::size_t left = pieces[i].bytes;
        while (left > 0) {
          const ssize_t n = ::pread(fd_, p, left, static_cast<off_t>(at));
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) {
            const int err = errno;
            std::lock_guard lock(why_mutex);
            if (!failed.exchange(true)) {
              why = n == 0 ? "the file ends at byte " + std::to_string(at) + " (truncated?)" : std::string(std::strerror(err));
            }
            return;
          }
          p += n;
          at += static_cast<uint64_t>(n);
          left -= static_cast<std::size_t>(n);
        }
      }
    });
  });
  if (failed.load()) {
    return data_loss("reading rows [" + std::to_string(row_begin) + ", " + std::to_string(row_begin + count) +
                     ") of dataset '" + dataset_ + "' in '" + path_ + "' failed: " + why);
  }
  return ok_status();
}

Status Hdf5Reader::read_rows(int64_t row_begin, int64_t count, std::byte* dst) {
  if (count == 0) return ok_status();
  if (row_begin < 0 || row_begin + count > rows_) {
    return internal_error("read of rows [" + std::to_string(row_begin) + ", " + std::to_string(row_begin + count) +
                          ") is outside dataset '" + dataset_ + "' with " + std::to_string(rows_) + " rows");
  }
  if (fd_ >= 0) {
    std::vector<Extent> extents;
    bool direct;
    {
      std::lock_guard lock(hdf5_mutex());
      direct = direct_extents(row_begin, count, &extents);
      H5Eclear2(H5E_DEFAULT);
    }
    if (direct) return read_extents(extents, row_begin, count, dst);
  }
  std::lock_guard lock(hdf5_mutex());
  if (fill_never_) std::memset(dst, 0, static_cast<std::size_t>(count * row_elements_) * dtype_size(dtype_));
  H5Id file_space(H5Scopy(space_.get()), H5Sclose);
  std::vector<hsize_t> start(row_shape_.size() + 1, 0), block{static_cast<hsize_t>(count)};
  start[0] = static_cast<hsize_t>(row_begin);
  for (int64_t d : row_shape_) block.push_back(static_cast<hsize_t>(d));
  const std::string what = "selecting rows of '" + dataset_ + "' in '" + path_ + "'";
  SS_H5_CHECK(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, block.data(), nullptr), what);
  H5Id mem_space(H5Screate_simple(static_cast<int>(block.size()), block.data(), nullptr), H5Sclose);
  if (H5Dread(dset_.get(), hdf5_native_type(dtype_), mem_space.get(), file_space.get(), dxpl_.get(), dst) < 0) {
    return data_loss("reading rows [" + std::to_string(row_begin) + ", " + std::to_string(row_begin + count) +
                     ") of dataset '" + dataset_ + "' in '" + path_ + "' failed (corrupt or truncated file?): " +
                     hdf5_last_error());
  }
  std::error_code size_error;
  const uintmax_t now = std::filesystem::file_size(path_, size_error);
  if (!size_error && now < opened_size_) {
    return data_loss("reading rows [" + std::to_string(row_begin) + ", " + std::to_string(row_begin + count) +
                     ") of dataset '" + dataset_ + "' in '" + path_ + "': the file was cut short while the job ran (" +
                     std::to_string(now) + " bytes, " + std::to_string(opened_size_) + " when opened)");
  }
  return ok_status();
}

Hdf5Reader::~Hdf5Reader() {
  if (fd_ >= 0) ::close(fd_);
  std::lock_guard lock(hdf5_mutex());
  dxpl_.reset();
  space_.reset();
  dset_.reset();
  file_.reset();
}

}  // namespace shardscore
