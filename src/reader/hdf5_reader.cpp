#include "reader/hdf5_reader.h"

#include <filesystem>

namespace shardscore {

StatusOr<std::unique_ptr<Hdf5Reader>> Hdf5Reader::open(const std::string& path, const std::string& dataset,
                                                       MPI_Comm comm) {
  std::unique_ptr<Hdf5Reader> r(new Hdf5Reader());
  r->path_ = path;
  r->dataset_ = dataset;
  const std::string what = "input '" + path + "'";

  // Checked before HDF5 so the message is plain; HDF5's own would be "unable to open file".
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return not_found("input file '" + path + "' does not exist");
  if (std::filesystem::is_directory(path, ec)) return invalid_argument("input '" + path + "' is a directory, not an HDF5 file");

  std::lock_guard lock(hdf5_mutex());
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    return data_loss("input file '" + path + "' is not an HDF5 file or is corrupt (no valid HDF5 signature)");
  }
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  SS_H5_CHECK(fapl.get(), "creating file access list for " + what);
  SS_H5_CHECK(H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL), "selecting MPI-IO for " + what);
  r->file_ = H5Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!r->file_.valid()) {
    return data_loss("input file '" + path + "' cannot be opened as HDF5 (corrupt or truncated?): " + hdf5_last_error());
  }
  if (H5Lexists(r->file_.get(), dataset.c_str(), H5P_DEFAULT) <= 0 ||
      H5Oexists_by_name(r->file_.get(), dataset.c_str(), H5P_DEFAULT) <= 0) {
    return not_found("input file '" + path + "' has no dataset '" + dataset + "'");
  }
  r->dset_ = H5Id(H5Dopen2(r->file_.get(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (!r->dset_.valid()) {
    return data_loss("dataset '" + dataset + "' in '" + path + "' cannot be opened: " + hdf5_last_error());
  }
  r->space_ = H5Id(H5Dget_space(r->dset_.get()), H5Sclose);
  SS_H5_CHECK(r->space_.get(), "reading the dataspace of '" + dataset + "' in " + what);
  const int ndims = H5Sget_simple_extent_ndims(r->space_.get());
  if (ndims < 1) {
    return invalid_argument("dataset '" + dataset + "' in '" + path + "' is a scalar; shardscore reads datasets whose first dimension is rows");
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
  if (r->dtype_ == DType::kUndefined) {
    return invalid_argument("dataset '" + dataset + "' in '" + path +
                            "' does not hold numbers (integer or float); its HDF5 type class is not numeric");
  }

  H5Id dcpl(H5Dget_create_plist(r->dset_.get()), H5Pclose);
  if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED) {
    std::vector<hsize_t> chunk(static_cast<std::size_t>(ndims));
    if (H5Pget_chunk(dcpl.get(), ndims, chunk.data()) == ndims) r->chunk_rows_ = static_cast<int64_t>(chunk[0]);
  }
  r->dxpl_ = H5Id(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  SS_H5_CHECK(H5Pset_dxpl_mpio(r->dxpl_.get(), H5FD_MPIO_INDEPENDENT), "setting independent reads for " + what);
  return r;
}

Status Hdf5Reader::read_rows(int64_t row_begin, int64_t count, std::byte* dst) {
  if (count == 0) return ok_status();
  if (row_begin < 0 || row_begin + count > rows_) {
    return internal_error("read of rows [" + std::to_string(row_begin) + ", " + std::to_string(row_begin + count) +
                          ") is outside dataset '" + dataset_ + "' with " + std::to_string(rows_) + " rows");
  }
  std::lock_guard lock(hdf5_mutex());
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
  return ok_status();
}

Hdf5Reader::~Hdf5Reader() {
  std::lock_guard lock(hdf5_mutex());
  dxpl_.reset();
  space_.reset();
  dset_.reset();
  file_.reset();
}

}  // namespace shardscore
