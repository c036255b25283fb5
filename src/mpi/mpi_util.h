#pragma once
// MPI helpers for the modules at the edge of the program (reader, writer, job). The engine,
// preprocessing, quality checks and shard planning never include this.
#include <mpi.h>

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace shardscore {

// Checks an MPI call; returns an Unavailable status naming the call and MPI's error string.
#define SS_MPI_CHECK(expr)                                                                    \
  do {                                                                                        \
    int ss_mpi_rc_ = (expr);                                                                  \
    if (ss_mpi_rc_ != MPI_SUCCESS) {                                                          \
      return ::shardscore::unavailable(std::string("MPI call " #expr " failed: ") +           \
                                       ::shardscore::mpi_error_string(ss_mpi_rc_));           \
    }                                                                                         \
  } while (0)

std::string mpi_error_string(int code);

// Collective: every rank passes its own status and every rank gets back the same one — OK if all
// were OK, else the failure of the lowest failing rank (code and message). Call it before any
// collective that a failed rank would skip, so no rank fails alone and none hangs.
Status mpi_agree(const Status& local, MPI_Comm comm);

// Collective: as mpi_agree, but when some ranks failed and others did not, the message names the
// lowest failing rank and its node (mpi_rank_place): what only one node explains (a file missing
// from its local disk, its GPU) points there, and what every rank hits alike reads as itself.
Status mpi_agree_where(const Status& local, MPI_Comm comm);

// Collective: whether every rank sees the same facts of the job (name and value pairs, the same
// names in the same order on every rank: the job file as run, each input's rows and row shape, the
// model's SHA-256). OK when they agree; otherwise every rank returns the same InvalidArgument naming
// the lowest rank that differs from rank 0, its node, the first fact it differs in and both values
// (their first differing line, for long ones). Ranks that read different files under one name (a
// stale copy on one node's local disk, other job files) would otherwise split the rows differently
// and wait in different collectives, or mix two models' scores silently.
Status mpi_agree_same(const std::vector<std::pair<std::string, std::string>>& facts, MPI_Comm comm);

// This rank's node as MPI names it (MPI_Get_processor_name: the host name); "" when MPI cannot say.
std::string mpi_host_name();
// "rank <r> on <node>": for errors that only one rank's hardware or node explains, so the user
// knows which node to look at.
std::string mpi_rank_place(MPI_Comm comm);

// Collective: every rank's string, in rank order, on `root` (an empty vector elsewhere). Every rank
// returns the same error when the strings together exceed MPI's int counts (2 GiB).
StatusOr<std::vector<std::string>> mpi_gather_strings(const std::string& s, int root, MPI_Comm comm);

// Collective: rank `root`'s string on every rank.
std::string mpi_bcast_string(const std::string& s, int root, MPI_Comm comm);
// Collective: rank `root`'s flag on every rank.
bool mpi_bcast_bool(bool b, int root, MPI_Comm comm);

}  // namespace shardscore
