#include "hdf5/hdf5_util.h"

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
herr_t keep_innermost(unsigned n, const H5E_error2_t* err, void* out) {
  // The stack walks from the innermost frame outward; frame 0 is the most specific.
  if (n == 0 && err->desc) *static_cast<std::string*>(out) = err->desc;
  return 0;
}
}  // namespace

std::string hdf5_last_error() {
  std::string desc;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_innermost, &desc);
  return desc.empty() ? "no HDF5 detail" : desc;
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
