#include "hdf5/hdf5_util.h"

#include <atomic>

namespace shardscore {

std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

void hdf5_silence_errors() {
  std::lock_guard lock(hdf5_mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

namespace {
std::atomic<bool> g_file_close_failed{false};  // or a file left open

struct Frames {
  std::string api, innermost;
};
herr_t keep_ends(unsigned n, const H5E_error2_t* err, void* out) {
  // Walking downward: frame 0 is the API call, the last frame the innermost.
  auto* f = static_cast<Frames*>(out);
  if (!err->desc) return 0;
  if (n == 0) f->api = err->desc;
  f->innermost = err->desc;
  return 0;
}
}  // namespace

void hdf5_start_before_mpi() {
  std::lock_guard lock(hdf5_mutex());
  H5dont_atexit();
  H5open();
}

void hdf5_finish() {
  std::lock_guard lock(hdf5_mutex());
  if (!g_file_close_failed.load()) H5close();
}

void hdf5_leave_open() { g_file_close_failed = true; }

herr_t hdf5_close_file(hid_t file) {
  const herr_t rc = H5Fclose(file);
  if (rc < 0) g_file_close_failed = true;
  return rc;
}

std::string hdf5_last_error() {
  Frames f;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_ends, &f);
  if (f.api.empty()) return f.innermost.empty() ? "no HDF5 detail" : f.innermost;
  return f.innermost.empty() || f.innermost == f.api ? f.api : f.api + ": " + f.innermost;
}

hid_t hdf5_native_type(DType t) {
  switch (t) {
    case DType::kFloat32: return H5T_NATIVE_FLOAT;
    case DType::kFloat64: return H5T_NATIVE_DOUBLE;
    case DType::kInt8: return H5T_NATIVE_INT8;
    case DType::kInt16: return H5T_NATIVE_INT16;
    case DType::kInt32: return H5T_NATIVE_INT32;
    case DType::kInt64: return H5T_NATIVE_INT64;
    case DType::kUInt8: return H5T_NATIVE_UINT8;
    case DType::kUInt16: return H5T_NATIVE_UINT16;
    case DType::kUInt32: return H5T_NATIVE_UINT32;
    case DType::kUInt64: return H5T_NATIVE_UINT64;
    case DType::kBool: return H5T_NATIVE_HBOOL;  // stored as one byte
    default: return -1;
  }
}

DType hdf5_dtype_of(hid_t type) {
  H5T_class_t cls = H5Tget_class(type);
  std::size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT) {
    if (size == 4) return DType::kFloat32;
    if (size == 8) return DType::kFloat64;
    return DType::kUndefined;
  }
  if (cls == H5T_INTEGER) {
    bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
    switch (size) {
      case 1: return is_signed ? DType::kInt8 : DType::kUInt8;
      case 2: return is_signed ? DType::kInt16 : DType::kUInt16;
      case 4: return is_signed ? DType::kInt32 : DType::kUInt32;
      case 8: return is_signed ? DType::kInt64 : DType::kUInt64;
      default: return DType::kUndefined;
    }
  }
  return DType::kUndefined;
}

}  // namespace shardscore
