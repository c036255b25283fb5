// Shard plans over whole blocks (Parquet row groups, grouped by file).
#include <gtest/gtest.h>

#include <random>

#include "common/test_seed.h"
#include "shard/shard_plan.h"

namespace shardscore {
namespace {

// Every property the job relies on, for one block layout, target and rank count.
void check_block_plan(const std::vector<ShardBlock>& blocks, int64_t target, int ranks) {
  SCOPED_TRACE("blocks=" + std::to_string(blocks.size()) + " target=" + std::to_string(target) + " ranks=" + std::to_string(ranks));
  auto plan_or = shard_plan_make_blocks(blocks, target, ranks);
  ASSERT_TRUE(plan_or.ok()) << plan_or.status().message();
  const ShardPlan& plan = plan_or.value();

  // Block boundaries in global rows, and the group each block starts.
  std::vector<int64_t> starts;
  int64_t rows = 0;
  for (const auto& b : blocks) {
    starts.push_back(rows);
    rows += b.rows;
  }
  EXPECT_EQ(plan.total_rows, rows);
  auto block_at = [&](int64_t row) {
    return static_cast<std::size_t>(std::upper_bound(starts.begin(), starts.end(), row) - starts.begin()) - 1;
  };
  int64_t expect_begin = 0;
  int last_rank = 0;
  for (std::size_t i = 0; i < plan.shards.size(); ++i) {
    const Shard& s = plan.shards[i];
    EXPECT_EQ(s.id, static_cast<int64_t>(i));
    EXPECT_EQ(s.row_begin, expect_begin) << "shards cover the rows in order";
    ASSERT_GT(s.row_end, s.row_begin);
    const std::size_t first = block_at(s.row_begin), last = block_at(s.row_end - 1);
    EXPECT_EQ(starts[first], s.row_begin) << "a shard starts on a block boundary";
    EXPECT_EQ(starts[last] + blocks[last].rows, s.row_end) << "a shard ends on a block boundary";
    EXPECT_EQ(blocks[first].group, blocks[last].group) << "a shard never spans groups (files)";
    EXPECT_TRUE(first == last || s.rows() <= target) << "only a single block may exceed the target";
    // Greedy: the next block would not have fitted (or starts another group).
    if (last + 1 < blocks.size() && blocks[last + 1].group == blocks[first].group) {
      EXPECT_GT(s.rows() + blocks[last + 1].rows, target);
    }
    EXPECT_GE(s.rank, last_rank);
    EXPECT_LE(s.rank, ranks - 1);
    last_rank = s.rank;
    expect_begin = s.row_end;
  }
  EXPECT_EQ(expect_begin, rows);
  // Balanced to within one shard per rank.
  std::vector<int64_t> per_rank(static_cast<std::size_t>(ranks), 0);
  for (const auto& s : plan.shards) ++per_rank[s.rank];
  const auto [lo, hi] = std::minmax_element(per_rank.begin(), per_rank.end());
  EXPECT_LE(*hi - *lo, 1);
}

TEST(ShardPlanBlocks, RowGroupsOfSeveralFiles) {
  // Two files: 3 row groups of 1000 then one of 500; then 2 of 1000.
  std::vector<ShardBlock> blocks{{1000, 0}, {1000, 0}, {1000, 0}, {500, 0}, {1000, 1}, {1000, 1}};
  auto plan = shard_plan_make_blocks(blocks, 2000, 3);
  ASSERT_TRUE(plan.ok());
  const auto& s = plan.value().shards;
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].row_begin, 0);
  EXPECT_EQ(s[0].row_end, 2000);
  EXPECT_EQ(s[1].row_end, 3500);  // 1000 + 500: the rest of file 0
  EXPECT_EQ(s[2].row_begin, 3500);  // file 1 starts its own shard
  EXPECT_EQ(s[2].row_end, 5500);
  EXPECT_EQ(s[2].rank, 2);
  check_block_plan(blocks, 2000, 3);
}

TEST(ShardPlanBlocks, BoundariesDoNotDependOnRanks) {
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_trace(seed));
  std::mt19937_64 gen(seed);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<ShardBlock> blocks;
    int64_t group = 0;
    const int n = static_cast<int>(gen() % 40) + 1;
    for (int b = 0; b < n; ++b) {
      if (gen() % 5 == 0) ++group;
      blocks.push_back({static_cast<int64_t>(gen() % 3000) + 1, group});
    }
    const int64_t target = static_cast<int64_t>(gen() % 5000) + 1;
    auto one = shard_plan_make_blocks(blocks, target, 1);
    ASSERT_TRUE(one.ok());
    for (int ranks : {1, 2, 3, 7, 64}) {
      check_block_plan(blocks, target, ranks);
      auto many = shard_plan_make_blocks(blocks, target, ranks);
      ASSERT_EQ(many.value().shards.size(), one.value().shards.size());
      for (std::size_t i = 0; i < one.value().shards.size(); ++i) {
        EXPECT_EQ(many.value().shards[i].row_begin, one.value().shards[i].row_begin);
        EXPECT_EQ(many.value().shards[i].row_end, one.value().shards[i].row_end);
      }
    }
  }
}

TEST(ShardPlanBlocks, BigBlockIsItsOwnShardAndNoBlocksNoShards) {
  auto plan = shard_plan_make_blocks({{10, 0}, {100000, 0}, {10, 0}}, 1000, 2);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan.value().shards.size(), 3u);
  EXPECT_EQ(plan.value().shards[1].rows(), 100000);
  auto empty = shard_plan_make_blocks({}, 1000, 4);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty.value().shards.empty());
  EXPECT_FALSE(shard_plan_make_blocks({{0, 0}}, 1000, 1).ok());
  EXPECT_FALSE(shard_plan_make_blocks({{5, 0}}, 0, 1).ok());
}

}  // namespace
}  // namespace shardscore
