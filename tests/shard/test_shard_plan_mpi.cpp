#include <gtest/gtest.h>

#include <vector>

#include "common/mpi_test_util.h"
#include "shard/shard_plan.h"

namespace shardscore {
namespace {
using namespace shardscore::testing;

// Each rank computes only its own part of the plan; gathered, the parts cover every row once.
TEST(ShardPlanMpi, RanksTogetherCoverEveryRowExactlyOnce) {
  const int rank = world_rank(), size = world_size();
  for (int64_t rows : {0LL, 1LL, 999LL, 23457LL}) {
    auto plan = shard_plan_make(rows, 100, 1000, size).value();
    std::vector<long long> mine;
    for (const auto& b : shard_plan_batches(shard_plan_for_rank(plan, rank), 64)) {
      mine.push_back(b.row_begin);
      mine.push_back(b.row_end);
    }
    int n = static_cast<int>(mine.size());
    std::vector<int> counts(static_cast<std::size_t>(size)), displs(static_cast<std::size_t>(size));
    MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    int total = 0;
    for (int r = 0; r < size; ++r) {
      displs[r] = total;
      total += counts[r];
    }
    std::vector<long long> all(static_cast<std::size_t>(std::max(total, 1)));
    MPI_Allgatherv(mine.data(), n, MPI_LONG_LONG, all.data(), counts.data(), displs.data(), MPI_LONG_LONG, MPI_COMM_WORLD);
    std::vector<int> seen(static_cast<std::size_t>(rows), 0);
    for (int i = 0; i < total; i += 2)
      for (long long r = all[i]; r < all[i + 1]; ++r) ++seen[r];
    for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(seen[r], 1) << "row " << r << " of " << rows;
  }
}

}  // namespace
}  // namespace shardscore
