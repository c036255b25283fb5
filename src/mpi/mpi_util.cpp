#include "mpi/mpi_util.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <vector>

namespace shardscore {

std::string mpi_error_string(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, buf, &len) != MPI_SUCCESS) return "unknown MPI error";
  return std::string(buf, len);
}

namespace {

// Collective: agrees on `local`, the failing one (or the lowest of several) saying `named(local)`
// where some rank did not fail. One reduction when every rank is OK, as most calls are: a write
// round of the HDF5 writer makes one.
template <typename Named>
Status agree(const Status& local, MPI_Comm comm, Named named) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  // The lowest failing rank (size: none), and whether any rank is OK (-1) or none (0).
  int mine[2] = {local.ok() ? size : rank, local.ok() ? -1 : 0}, least[2] = {size, 0};
  if (MPI_Allreduce(mine, least, 2, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) {
    return unavailable("MPI_Allreduce failed while ranks agreed on an error");
  }
  const int first_failed = least[0];
  if (first_failed == size) return ok_status();
  const Status said = rank == first_failed && least[1] == -1 ? named(local) : local;
  int code = static_cast<int>(said.code());
  MPI_Bcast(&code, 1, MPI_INT, first_failed, comm);
  std::string message = mpi_bcast_string(said.message(), first_failed, comm);
  return Status(static_cast<StatusCode>(code), message);
}

}  // namespace

Status mpi_agree(const Status& local, MPI_Comm comm) {
  return agree(local, comm, [](const Status& s) { return s; });
}

Status mpi_agree_where(const Status& local, MPI_Comm comm) {
  return agree(local, comm, [comm](const Status& s) { return s.with_context(mpi_rank_place(comm) + ": "); });
}

namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// a and b, or their first differing line when either is long or spans lines.
std::string differing_part(const std::string& a, const std::string& b) {
  auto quoted = [](const std::string& s) { return "'" + (s.size() > 160 ? s.substr(0, 160) + "..." : s) + "'"; };
  if (a.size() <= 160 && b.size() <= 160 && a.find('\n') == std::string::npos && b.find('\n') == std::string::npos) {
    return quoted(a) + " where rank 0 has " + quoted(b);
  }
  auto lines = [](const std::string& s) {
    std::vector<std::string> out;
    for (std::size_t p = 0;;) {
      const std::size_t e = s.find('\n', p);
      out.push_back(s.substr(p, e == std::string::npos ? std::string::npos : e - p));
      if (e == std::string::npos) return out;
      p = e + 1;
    }
  };
  const std::vector<std::string> la = lines(a), lb = lines(b);
  // The lines between the two texts' common first and last lines differ; of those, the first
  // that says something on each side (a line only one text has, as an override appended to a job
  // file, sits after a blank one).
  std::size_t head = 0, tail = 0;
  while (head < la.size() && head < lb.size() && la[head] == lb[head]) ++head;
  while (tail < la.size() - head && tail < lb.size() - head && la[la.size() - 1 - tail] == lb[lb.size() - 1 - tail]) ++tail;
  auto first_said = [&](const std::vector<std::string>& l) -> std::size_t {
    const std::size_t end = l.size() - tail;
    for (std::size_t i = head; i < end; ++i)
      if (l[i].find_first_not_of(" \t\r") != std::string::npos) return i;
    return head < end ? head : std::string::npos;
  };
  const std::size_t ia = first_said(la), ib = first_said(lb);
  if (ia == std::string::npos && ib == std::string::npos) return quoted(a) + " where rank 0 has " + quoted(b);
  // Each side's line by its own number; one number where they are the same line, or one side has none.
  const std::string x = ia == std::string::npos ? "(no such line)" : la[ia], y = ib == std::string::npos ? "(no such line)" : lb[ib];
  const bool both = ia != std::string::npos && ib != std::string::npos;
  return "line " + std::to_string((both ? ia : std::min(ia, ib)) + 1) + " " + quoted(x) + " where rank 0 has " +
         (both && ia != ib ? "line " + std::to_string(ib + 1) + " " : "") + quoted(y);
}

}  // namespace

Status mpi_agree_same(const std::vector<std::pair<std::string, std::string>>& facts, MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  // Ranks may hold different numbers of facts (job files that bind other inputs): every rank
  // compares as many, a fact it lacks counting as one of its own, so every call below has the
  // same counts on every rank.
  long long here = static_cast<long long>(facts.size()), most = 0;
  SS_MPI_CHECK(MPI_Allreduce(&here, &most, 1, MPI_LONG_LONG, MPI_MAX, comm));
  const auto n = static_cast<std::size_t>(most);
  auto name_of = [&](std::size_t k) { return k < facts.size() ? facts[k].first : std::string(); };
  auto value_of = [&](std::size_t k) { return k < facts.size() ? facts[k].second : std::string("(nothing)"); };
  std::vector<uint64_t> mine(n), root(n);
  for (std::size_t k = 0; k < n; ++k) mine[k] = root[k] = k < facts.size() ? fnv1a("+" + facts[k].second) : fnv1a("-");
  SS_MPI_CHECK(MPI_Bcast(root.data(), static_cast<int>(n), MPI_UINT64_T, 0, comm));
  int first_fact = static_cast<int>(n);
  for (std::size_t k = 0; k < n && first_fact == static_cast<int>(n); ++k)
    if (mine[k] != root[k]) first_fact = static_cast<int>(k);
  int differs_here = first_fact < static_cast<int>(n) ? rank : size, lowest = size;
  SS_MPI_CHECK(MPI_Allreduce(&differs_here, &lowest, 1, MPI_INT, MPI_MIN, comm));
  if (lowest == size) return ok_status();
  SS_MPI_CHECK(MPI_Bcast(&first_fact, 1, MPI_INT, lowest, comm));
  const auto k = static_cast<std::size_t>(first_fact);
  const std::string place = mpi_bcast_string(mpi_rank_place(comm), lowest, comm);
  const std::string their_name = mpi_bcast_string(name_of(k), lowest, comm), rank0_name = mpi_bcast_string(name_of(k), 0, comm);
  const std::string theirs = mpi_bcast_string(value_of(k), lowest, comm), rank0s = mpi_bcast_string(value_of(k), 0, comm);
  return invalid_argument("the ranks do not see the same job: " + place + " has another " +
                          (their_name.empty() ? rank0_name : their_name) + " than rank 0: " + differing_part(theirs, rank0s) +
                          " (a node-local copy that differs from the others', or ranks started with different job files?)");
}

std::string mpi_host_name() {
  int len = 0;
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  if (MPI_Get_processor_name(name, &len) != MPI_SUCCESS || len <= 0) return "";
  return std::string(name, static_cast<std::size_t>(len));
}

std::string mpi_rank_place(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const std::string host = mpi_host_name();
  return "rank " + std::to_string(rank) + (host.empty() ? "" : " on " + host);
}

StatusOr<std::vector<std::string>> mpi_gather_strings(const std::string& s, int root, MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int64_t len64 = static_cast<int64_t>(s.size());
  std::vector<int64_t> lens64(static_cast<std::size_t>(size));
  SS_MPI_CHECK(MPI_Gather(&len64, 1, MPI_INT64_T, lens64.data(), 1, MPI_INT64_T, root, comm));
  // MPI_Gatherv counts and displacements are ints: the root decides for everyone whether they fit,
  // so that no rank returns alone and leaves the others in the next collective.
  int64_t total = 0;
  for (int64_t l : lens64) total += l;
  int fits = rank != root || total <= INT_MAX ? 1 : 0;
  SS_MPI_CHECK(MPI_Bcast(&fits, 1, MPI_INT, root, comm));
  if (!fits) return unavailable("gathering strings to rank " + std::to_string(root) + ": more than MPI's int counts (2 GiB)");
  std::vector<int> lens(static_cast<std::size_t>(size)), displs(static_cast<std::size_t>(size));
  std::string all;
  if (rank == root) {
    int off = 0;
    for (int r = 0; r < size; ++r) {
      lens[r] = static_cast<int>(lens64[r]);
      displs[r] = off;
      off += lens[r];
    }
    all.resize(static_cast<std::size_t>(total));
  }
  SS_MPI_CHECK(MPI_Gatherv(s.data(), static_cast<int>(len64), MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, root, comm));
  std::vector<std::string> out;
  if (rank == root)
    for (int r = 0; r < size; ++r) out.push_back(all.substr(static_cast<std::size_t>(displs[r]), static_cast<std::size_t>(lens[r])));
  return out;
}

std::string mpi_bcast_string(const std::string& s, int root, MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  long long n = static_cast<long long>(s.size());
  MPI_Bcast(&n, 1, MPI_LONG_LONG, root, comm);
  std::vector<char> buf(rank == root ? s.begin() : s.begin(), rank == root ? s.end() : s.begin());
  buf.resize(static_cast<std::size_t>(n));
  if (n > 0) MPI_Bcast(buf.data(), static_cast<int>(n), MPI_CHAR, root, comm);
  return std::string(buf.begin(), buf.end());
}

bool mpi_bcast_bool(bool b, int root, MPI_Comm comm) {
  int v = b ? 1 : 0;
  MPI_Bcast(&v, 1, MPI_INT, root, comm);
  return v != 0;
}

}  // namespace shardscore
