#pragma once
// Runs one scoring job over an MPI communicator: the program's data flow, end to end.
//
//   shard plan -> read (own shards only) -> preprocess -> engine -> quality stats -> collective write
//   -> gather statistics to rank 0 -> report -> exit code
//
// Collective over `comm`: every rank calls it with the same job. Every failure is agreed on by all
// ranks before the next collective, so all ranks return the same status and none hangs. On
// failure nothing is left at the output path; on success the output appears there atomically
// (written under a temporary name in the same folder, renamed by rank 0 once every rank is done).
#include <mpi.h>

#include <atomic>

#include <string>

#include "common/status.h"
#include "config/job_config.h"
#include "report/metrics.h"

namespace shardscore {

struct JobOptions {
  bool quiet = false;  // no progress or summary (errors still reported by the caller)
  // Set to a signal's number by the caller's handler (SIGTERM, SIGINT): the job stops at its next
  // write round on every rank, as after any failure (nothing written), with a status naming the
  // signal. Null: no signal stops it.
  const std::atomic<int>* stop_signal = nullptr;
  // Set to a signal's number by the caller's handler for a signal that only warns (SIGUSR1 or
  // SIGUSR2: Slurm's --signal before the time limit): rank 0 says once that the job goes on (it
  // cannot checkpoint) and stops cleanly on SIGTERM. Null: none.
  const std::atomic<int>* notice_signal = nullptr;
  JobTally* tally = nullptr;  // how far the job got (report/metrics.h), filled in as it goes when given
  // Check everything a run checks before its first row (job, model and its ops, inputs and their
  // shapes, output and report paths, the plan), print the plan, and return 0 with nothing created.
  bool dry_run = false;
};

// Returns 0 (all checks passed) or 3 (a quality check failed; output and report written), or the
// failure (the same on every rank).
StatusOr<int> job_run(const JobConfig& job, MPI_Comm comm, const JobOptions& options = {});

// The input/output formats this build handles: "hdf5" or "hdf5, parquet (Apache Arrow 17.0.0)".
std::string job_formats();

// Threads for this rank: `requested` (0 = as many as fit), capped so that the ranks on this node
// times threads never exceed the node's cores or this rank's CPU affinity. Collective. When the
// affinity (the launcher's CPU binding, taskset, a cpuset), not the node's cores per rank, is what leaves this rank
// fewer threads than requested or than its share of the node, *binding_note says so and how to
// change it (mpirun binds one or two ranks to one core each by default); when `requested` is more
// than the rank's share of the node's cores, it says so; otherwise it is cleared.
int job_threads_per_rank(int64_t requested, MPI_Comm comm, std::string* binding_note = nullptr);
// This rank's index among the ranks on its node (MPI_COMM_TYPE_SHARED): its GPU, modulo the
// devices it sees.
int job_node_local_rank(MPI_Comm comm);

}  // namespace shardscore
