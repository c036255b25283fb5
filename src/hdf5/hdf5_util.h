#pragma once
// Shared HDF5 plumbing for the reader and the writer.
//
// Debian's parallel HDF5 is not built thread-safe: every HDF5 call in the process, from any
// thread, must hold hdf5_mutex(). The reader and writer do this internally; no other module calls
// HDF5.
#include <hdf5.h>

#include <mutex>
#include <string>
#include <utility>

#include "common/dtype.h"
#include "common/status.h"

namespace shardscore {

std::mutex& hdf5_mutex();

// Turns off HDF5's automatic error-stack printing (we report errors ourselves, once).
void hdf5_silence_errors();

// The process's HDF5 library lifetime, for a program that also uses MPI. hdf5_start_before_mpi()
// goes before MPI_Init: it opens the library with HDF5's own exit-time close turned off (once
// opened under MPI, HDF5 closes itself inside MPI_Finalize, out of the program's hands).
// hdf5_finish() goes before MPI_Finalize: it closes the library, unless a file failed to close
// (hdf5_close_file): HDF5 1.10 then keeps the identifier of a file it has already freed, and
// closing the library would crash on it, so the process leaves it; or a file was left open
// (hdf5_leave_open).
void hdf5_start_before_mpi();
void hdf5_finish();

// File descriptors each rank needs free for one collective open or create over MPI-IO, checked
// (check_free_descriptors, common/process_limits.h) and agreed on before it: the file's own and,
// while it opens, Open MPI's shared file pointer's (OMPIO's sm component maps a file of its own):
// 2 with Debian 12's Open MPI 4.1, measured; the rest is room for other components.
inline constexpr int kMpioOpenDescriptors = 4;

// H5Fclose, remembering a failure for hdf5_finish(). The closer for every file H5Id.
herr_t hdf5_close_file(hid_t file);
// For a file that this process leaves open on purpose (its identifier released, never closed):
// hdf5_finish() then leaves the library open too, as closing it would close the file.
void hdf5_leave_open();

// HDF5's reason for the last failure: the API call's message, then the innermost frame's where
// it differs (the most specific: "file write failed", an errno text); "no HDF5 detail" when empty.
std::string hdf5_last_error();

// Owns one HDF5 identifier and closes it with the matching H5*close.
class H5Id {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Id() = default;
  H5Id(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  H5Id(H5Id&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), closer_(o.closer_) {}
  H5Id& operator=(H5Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      closer_ = o.closer_;
    }
    return *this;
  }
  ~H5Id() { reset(); }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now and reports whether the close succeeded (file closes flush data).
  bool close() {
    if (id_ < 0) return true;
    herr_t rc = closer_(id_);
    id_ = H5I_INVALID_HID;
    return rc >= 0;
  }
  void reset() { close(); }
  // Forgets the identifier without closing it (see hdf5_leave_open).
  void release() { id_ = H5I_INVALID_HID; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Native HDF5 memory type for a dtype (borrowed; do not close). Negative for unsupported.
hid_t hdf5_native_type(DType t);
// Our dtype for an HDF5 dataset type (integer or float classes); kUndefined otherwise.
DType hdf5_dtype_of(hid_t type);

// Checks an HDF5 call that returns a negative value on failure; returns a Status naming `what`
// (e.g. "writing dataset '/label' of 'out.h5'") plus HDF5's own most specific reason.
#define SS_H5_CHECK(expr, what)                                                                  \
  do {                                                                                           \
    if ((expr) < 0) {                                                                            \
      return ::shardscore::unavailable(std::string(what) + " failed (" #expr "): " +             \
                                       ::shardscore::hdf5_last_error());                         \
    }                                                                                            \
  } while (0)

}  // namespace shardscore
