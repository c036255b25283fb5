// A test's fault in one HDF5 call, LD_PRELOADed into one rank of a job (test_errors.py's
// test_one_rank_failing_an_hdf5_call_fails_the_job_on_every_rank): the real library does everything
// else. SHARDSCORE_TEST_HDF5_FAULT=FUNCTION:N makes the N-th call of FUNCTION in this process fail,
// with "fault injected by the test (call N of FUNCTION)" on HDF5's error stack; N = 0 only counts the
// calls, and SHARDSCORE_TEST_HDF5_FAULT_COUNT=FILE gets the count at exit. A function made with
// SS_FAIL_AFTER runs first and then reports the failure, as a collective transfer that failed on one
// rank does; those made with SS_FAIL_BEFORE fail without calling the library, as an allocation
// failure does.
//
// SHARDSCORE_TEST_ALLOC_FAULT_BYTES=B refuses every scalable_aligned_malloc (oneTBB's allocator,
// which holds the job's batches and tensors) of exactly B bytes, as a node out of memory does.
#include <hdf5.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

struct Fault {
  std::string function;
  long nth = -1;  // -1: no fault asked for
  long calls = 0;
  Fault() {
    const char* spec = std::getenv("SHARDSCORE_TEST_HDF5_FAULT");
    if (spec == nullptr) return;
    const char* colon = std::strchr(spec, ':');
    if (colon == nullptr) return;
    function.assign(spec, colon);
    nth = std::strtol(colon + 1, nullptr, 10);
  }
  ~Fault() {
    const char* file = std::getenv("SHARDSCORE_TEST_HDF5_FAULT_COUNT");
    if (nth < 0 || file == nullptr) return;
    if (FILE* f = std::fopen(file, "w")) {
      std::fprintf(f, "%ld\n", calls);
      std::fclose(f);
    }
  }
  // True when this call of `name` is the one to fail.
  bool hit(const char* name) {
    if (nth < 0 || function != name) return false;
    if (++calls != nth) return false;
    H5Epush2(H5E_DEFAULT, __FILE__, name, __LINE__, H5E_ERR_CLS, H5E_ARGS, H5E_BADVALUE,
             "fault injected by the test (call %ld of %s)", nth, name);
    return true;
  }
};

Fault& fault() {
  static Fault f;
  return f;
}

template <typename F>
F real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

#define SS_FAIL_BEFORE(name, ret_t, params, args)                   \
  extern "C" ret_t name params {                                     \
    static const auto next = real<ret_t(*) params>(#name);           \
    if (fault().hit(#name)) return -1;                               \
    return next args;                                                \
  }

#define SS_FAIL_AFTER(name, params, args)                            \
  extern "C" herr_t name params {                                    \
    static const auto next = real<herr_t(*) params>(#name);          \
    const herr_t done = next args;                                   \
    if (fault().hit(#name)) return -1;                               \
    return done;                                                     \
  }

SS_FAIL_BEFORE(H5Pcreate, hid_t, (hid_t cls), (cls))
SS_FAIL_BEFORE(H5Dget_space, hid_t, (hid_t dset), (dset))
SS_FAIL_BEFORE(H5Screate_simple, hid_t, (int rank, const hsize_t* dims, const hsize_t* maxdims), (rank, dims, maxdims))
SS_FAIL_BEFORE(H5Sselect_hyperslab, herr_t,
               (hid_t space, H5S_seloper_t op, const hsize_t* start, const hsize_t* stride, const hsize_t* count,
                const hsize_t* block),
               (space, op, start, stride, count, block))
SS_FAIL_BEFORE(H5Dcreate2, hid_t, (hid_t loc, const char* name, hid_t type, hid_t space, hid_t lcpl, hid_t dcpl, hid_t dapl),
               (loc, name, type, space, lcpl, dcpl, dapl))
SS_FAIL_BEFORE(H5Acreate2, hid_t, (hid_t loc, const char* name, hid_t type, hid_t space, hid_t acpl, hid_t aapl),
               (loc, name, type, space, acpl, aapl))
SS_FAIL_BEFORE(H5Awrite, herr_t, (hid_t attr, hid_t type, const void* buf), (attr, type, buf))
SS_FAIL_AFTER(H5Dwrite, (hid_t dset, hid_t mem_type, hid_t mem_space, hid_t file_space, hid_t dxpl, const void* buf),
              (dset, mem_type, mem_space, file_space, dxpl, buf))

extern "C" void* scalable_aligned_malloc(size_t size, size_t alignment) {
  static const auto next = real<void* (*)(size_t, size_t)>("scalable_aligned_malloc");
  static const long refused = [] {
    const char* b = std::getenv("SHARDSCORE_TEST_ALLOC_FAULT_BYTES");
    return b == nullptr ? -1L : std::strtol(b, nullptr, 10);
  }();
  if (refused >= 0 && size == static_cast<size_t>(refused)) return nullptr;
  return next(size, alignment);
}
