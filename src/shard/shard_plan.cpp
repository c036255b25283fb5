#include "shard/shard_plan.h"

#include <algorithm>
#include <string>

namespace shardscore {
namespace {
int rank_of_shard(int64_t i, int64_t n, int num_ranks) {
  // Contiguous blocks: rank r owns shards [floor(r*n/size), floor((r+1)*n/size)).
  // Inverting that: the rank of shard i is the largest r with floor(r*n/size) <= i.
  return static_cast<int>(((i + 1) * num_ranks - 1) / n);
}
}  // namespace

StatusOr<ShardPlan> shard_plan_make(int64_t rows, int64_t chunk_rows, int64_t target_shard_rows, int num_ranks) {
  if (rows < 0) return invalid_argument("shard plan: negative row count " + std::to_string(rows));
  if (chunk_rows < 1) return invalid_argument("shard plan: chunk rows must be >= 1, got " + std::to_string(chunk_rows));
  if (target_shard_rows < 1) return invalid_argument("shard plan: shard rows must be >= 1");
  if (num_ranks < 1) return invalid_argument("shard plan: number of ranks must be >= 1");

  ShardPlan plan;
  plan.total_rows = rows;
  plan.num_ranks = num_ranks;
  plan.shard_rows = std::max<int64_t>(1, target_shard_rows / chunk_rows) * chunk_rows;
  // Sizes up to INT64_MAX are a user's "no limit": no sum here may pass it.
  const int64_t n = rows / plan.shard_rows + (rows % plan.shard_rows != 0 ? 1 : 0);
  plan.shards.reserve(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    Shard s;
    s.id = i;
    s.row_begin = i * plan.shard_rows;
    s.row_end = s.row_begin + std::min(plan.shard_rows, rows - s.row_begin);
    s.rank = rank_of_shard(i, n, num_ranks);
    plan.shards.push_back(s);
  }
  return plan;
}

StatusOr<ShardPlan> shard_plan_make_blocks(const std::vector<ShardBlock>& blocks, int64_t target_shard_rows, int num_ranks) {
  if (target_shard_rows < 1) return invalid_argument("shard plan: shard rows must be >= 1");
  if (num_ranks < 1) return invalid_argument("shard plan: number of ranks must be >= 1");
  ShardPlan plan;
  plan.num_ranks = num_ranks;
  plan.shard_rows = target_shard_rows;
  int64_t row = 0;
  for (std::size_t b = 0; b < blocks.size();) {
    if (blocks[b].rows < 1) return invalid_argument("shard plan: block " + std::to_string(b) + " has no rows");
    Shard s;
    s.id = static_cast<int64_t>(plan.shards.size());
    s.row_begin = row;
    int64_t rows = blocks[b].rows;
    const int64_t group = blocks[b].group;
    for (++b; b < blocks.size() && blocks[b].group == group && rows + blocks[b].rows <= target_shard_rows; ++b) {
      if (blocks[b].rows < 1) return invalid_argument("shard plan: block " + std::to_string(b) + " has no rows");
      rows += blocks[b].rows;
    }
    row += rows;
    s.row_end = row;
    plan.shards.push_back(s);
  }
  plan.total_rows = row;
  const int64_t n = static_cast<int64_t>(plan.shards.size());
  for (auto& s : plan.shards) s.rank = rank_of_shard(s.id, n, num_ranks);
  return plan;
}

std::string shard_plan_describe(const ShardPlan& plan) {
  const auto& shards = plan.shards;
  if (shards.empty()) return "no shards (no rows)";
  const auto [lo, hi] = std::minmax_element(shards.begin(), shards.end(),
                                            [](const Shard& a, const Shard& b) { return a.rows() < b.rows(); });
  const std::string count = std::to_string(shards.size()) + (shards.size() == 1 ? " shard of " : " shards of ");
  if (lo->rows() == hi->rows()) return count + std::to_string(lo->rows()) + " rows";
  // HDF5's usual plan: every shard the planned size but the last, which holds what is left.
  const bool all_but_last = std::all_of(shards.begin(), shards.end() - 1, [&](const Shard& s) { return s.rows() == hi->rows(); });
  if (all_but_last && shards.back().rows() < hi->rows()) {
    return count + std::to_string(hi->rows()) + " rows (the last of " + std::to_string(shards.back().rows()) + ")";
  }
  return count + std::to_string(lo->rows()) + " to " + std::to_string(hi->rows()) + " rows";
}

std::vector<Shard> shard_plan_for_rank(const ShardPlan& plan, int rank) {
  std::vector<Shard> out;
  for (const auto& s : plan.shards)
    if (s.rank == rank) out.push_back(s);
  return out;
}

std::vector<Batch> shard_plan_batches(const std::vector<Shard>& shards, int64_t batch_size) {
  std::vector<Batch> out;
  for (const auto& s : shards) {
    for (int64_t b = s.row_begin; b < s.row_end;) {
      const int64_t end = b + std::min(batch_size, s.row_end - b);  // no overflow at batch_size INT64_MAX
      out.push_back(Batch{s.id, b, end});
      b = end;
    }
  }
  return out;
}

int64_t shard_plan_max_batches(const ShardPlan& plan, int64_t batch_size) {
  int64_t best = 0;
  for (int r = 0; r < plan.num_ranks; ++r) {
    best = std::max<int64_t>(best, static_cast<int64_t>(shard_plan_batches(shard_plan_for_rank(plan, r), batch_size).size()));
  }
  return best;
}

}  // namespace shardscore
