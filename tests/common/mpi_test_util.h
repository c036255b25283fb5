#pragma once
// Helpers for tests that run under mpirun.
#include <mpi.h>
#include <unistd.h>

#include <string>

namespace shardscore::testing {

inline int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
inline int world_size() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// A path every rank agrees on (rank 0's pid makes it unique per run).
inline std::string shared_temp_path(const std::string& stem) {
  long pid = static_cast<long>(::getpid());
  MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  return "/tmp/shardscore-test-" + std::to_string(pid) + "-" + stem;
}

// True on every rank iff `ok` was true on every rank.
inline bool all_ranks(bool ok) {
  int mine = ok ? 1 : 0, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all == 1;
}

}  // namespace shardscore::testing
