#include "shard/shard_plan.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "common/test_seed.h"

namespace shardscore {
namespace {

// Checks every property the rest of the program relies on, for one (rows, chunk, target, ranks).
void check_plan(int64_t rows, int64_t chunk, int64_t target, int ranks) {
  SCOPED_TRACE("rows=" + std::to_string(rows) + " chunk=" + std::to_string(chunk) + " target=" +
               std::to_string(target) + " ranks=" + std::to_string(ranks));
  auto plan_or = shard_plan_make(rows, chunk, target, ranks);
  ASSERT_TRUE(plan_or.ok()) << plan_or.status().message();
  const ShardPlan& plan = plan_or.value();
  EXPECT_EQ(plan.shard_rows % chunk, 0) << "shards are whole chunks";
  EXPECT_GE(plan.shard_rows, chunk);
  EXPECT_LE(plan.shard_rows, std::max(chunk, target));

  // Every row exactly once, in order, shard boundaries on chunk boundaries.
  std::vector<int> seen(static_cast<std::size_t>(rows), 0);
  int64_t expect_begin = 0;
  for (std::size_t i = 0; i < plan.shards.size(); ++i) {
    const Shard& s = plan.shards[i];
    EXPECT_EQ(s.id, static_cast<int64_t>(i));
    EXPECT_EQ(s.row_begin, expect_begin);
    EXPECT_GT(s.row_end, s.row_begin);
    EXPECT_EQ(s.row_begin % chunk, 0);
    EXPECT_TRUE(s.row_end == rows || s.row_end % chunk == 0);
    for (int64_t r = s.row_begin; r < s.row_end; ++r) ++seen[r];
    expect_begin = s.row_end;
  }
  EXPECT_EQ(expect_begin, rows);
  for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(seen[r], 1) << "row " << r;

  // Ranks own contiguous blocks of shards, in rank order, balanced to within one shard.
  std::vector<int64_t> per_rank(static_cast<std::size_t>(ranks), 0);
  int last_rank = 0;
  for (const Shard& s : plan.shards) {
    ASSERT_GE(s.rank, 0);
    ASSERT_LT(s.rank, ranks);
    EXPECT_GE(s.rank, last_rank);
    last_rank = s.rank;
    ++per_rank[s.rank];
  }
  auto [lo, hi] = std::minmax_element(per_rank.begin(), per_rank.end());
  EXPECT_LE(*hi - *lo, 1);

  // shard_plan_for_rank partitions the shards; batches partition each rank's rows.
  int64_t batch = 1 + rows / 7;
  int64_t covered = 0, max_batches = 0;
  for (int r = 0; r < ranks; ++r) {
    auto mine = shard_plan_for_rank(plan, r);
    EXPECT_EQ(static_cast<int64_t>(mine.size()), per_rank[r]);
    auto batches = shard_plan_batches(mine, batch);
    max_batches = std::max<int64_t>(max_batches, static_cast<int64_t>(batches.size()));
    for (const Batch& b : batches) {
      EXPECT_GE(b.rows(), 1);
      EXPECT_LE(b.rows(), batch);
      const Shard& s = plan.shards[static_cast<std::size_t>(b.shard_id)];
      EXPECT_GE(b.row_begin, s.row_begin);
      EXPECT_LE(b.row_end, s.row_end) << "a batch never spans shards";
      covered += b.rows();
    }
  }
  EXPECT_EQ(covered, rows);
  EXPECT_EQ(shard_plan_max_batches(plan, batch), max_batches);
}

TEST(ShardPlan, EdgeCases) {
  check_plan(0, 10, 100, 1);
  check_plan(0, 10, 100, 3);
  check_plan(1, 1, 1, 1);
  check_plan(1, 1000, 10, 4);  // fewer shards than ranks: some ranks idle
  check_plan(23457, 1000, 5000, 3);
  check_plan(1000, 1000, 1000, 2);
  check_plan(999, 7, 50, 5);
}

TEST(ShardPlan, SizesUpToInt64MaxMeanNoLimit) {
  // A user's "no limit" (run.shard_rows or run.batch_size = 9223372036854775807) once overflowed
  // rows + shard_rows - 1 (no shards: nothing scored) and b + batch_size (a negative batch end).
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  check_plan(1000, 1, kMax, 2);
  check_plan(1000, 64, kMax - 1, 3);
  auto plan = shard_plan_make(1000, 10, kMax, 1);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan.value().shards.size(), 1u);
  const auto batches = shard_plan_batches(plan.value().shards, kMax);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].row_begin, 0);
  EXPECT_EQ(batches[0].row_end, 1000);
  EXPECT_EQ(shard_plan_max_batches(plan.value(), kMax), 1);
}

TEST(ShardPlan, RandomizedProperties) {
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_trace(seed));
  std::mt19937 gen(seed);
  for (int i = 0; i < 200; ++i) {
    int64_t rows = std::uniform_int_distribution<int64_t>(0, 20000)(gen);
    int64_t chunk = std::uniform_int_distribution<int64_t>(1, 3000)(gen);
    int64_t target = std::uniform_int_distribution<int64_t>(1, 9000)(gen);
    int ranks = std::uniform_int_distribution<int>(1, 9)(gen);
    check_plan(rows, chunk, target, ranks);
  }
}

TEST(ShardPlan, ShardBoundariesDoNotDependOnRankCount) {
  auto a = shard_plan_make(100000, 1000, 16000, 1).value();
  auto b = shard_plan_make(100000, 1000, 16000, 7).value();
  ASSERT_EQ(a.shards.size(), b.shards.size());
  for (std::size_t i = 0; i < a.shards.size(); ++i) {
    EXPECT_EQ(a.shards[i].row_begin, b.shards[i].row_begin);
    EXPECT_EQ(a.shards[i].row_end, b.shards[i].row_end);
  }
  EXPECT_EQ(a.shard_rows, 16000);
}

TEST(ShardPlan, ShardRowsRoundDownToWholeChunksButNeverBelowOne) {
  EXPECT_EQ(shard_plan_make(10000, 300, 1000, 1).value().shard_rows, 900);
  EXPECT_EQ(shard_plan_make(10000, 300, 100, 1).value().shard_rows, 300);
}

TEST(ShardPlan, RejectsNonsense) {
  EXPECT_FALSE(shard_plan_make(-1, 1, 1, 1).ok());
  EXPECT_FALSE(shard_plan_make(10, 0, 1, 1).ok());
  EXPECT_FALSE(shard_plan_make(10, 1, 0, 1).ok());
  EXPECT_FALSE(shard_plan_make(10, 1, 1, 0).ok());
}

TEST(ShardPlan, DescribeStatesThePlanNotTheTarget) {
  const auto described = [](StatusOr<ShardPlan> plan) { return shard_plan_describe(plan.value()); };
  EXPECT_EQ(described(shard_plan_make(10000, 1000, 65536, 2)), "1 shard of 10000 rows");  // the target: 65536
  EXPECT_EQ(described(shard_plan_make(20000, 1000, 5000, 3)), "4 shards of 5000 rows");
  EXPECT_EQ(described(shard_plan_make(23000, 1000, 5000, 1)), "5 shards of 5000 rows (the last of 3000)");
  EXPECT_EQ(described(shard_plan_make(0, 1000, 5000, 1)), "no shards (no rows)");
  // Row groups of 300 in one file and of 100 in another, target 100: each group a shard.
  std::vector<ShardBlock> groups;
  for (int k = 0; k < 3; ++k) groups.push_back({300, 0});
  for (int k = 0; k < 9; ++k) groups.push_back({100, 1});
  EXPECT_EQ(described(shard_plan_make_blocks(groups, 100, 2)), "12 shards of 100 to 300 rows");
  EXPECT_EQ(described(shard_plan_make_blocks({{250, 0}}, 100, 1)), "1 shard of 250 rows");
}

}  // namespace
}  // namespace shardscore
