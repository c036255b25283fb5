#pragma once
// Shard planning: a pure function of the dataset's rows and chunk layout, the shard size asked for
// and the number of ranks. No MPI, no I/O: testable on its own, and the same on every rank.
//
// A shard is a run of whole HDF5 chunks (for a contiguous dataset: a fixed block of rows), so a
// rank's reads never share a chunk with another rank's. Shard boundaries do not depend on the
// number of ranks; shards are handed to ranks in contiguous blocks, as evenly as counts allow.
// A batch is a run of rows inside one shard (batches never span shards).
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardscore {

struct Shard {
  int64_t id = 0;
  int64_t row_begin = 0;  // global row index, inclusive
  int64_t row_end = 0;    // exclusive
  int rank = 0;           // the rank that reads, scores and writes it
  int64_t rows() const { return row_end - row_begin; }
};

struct Batch {
  int64_t shard_id = 0;
  int64_t row_begin = 0;
  int64_t row_end = 0;
  int64_t rows() const { return row_end - row_begin; }
};

struct ShardPlan {
  int64_t total_rows = 0;
  int64_t shard_rows = 0;  // rows per shard (the last may be shorter)
  int num_ranks = 1;
  std::vector<Shard> shards;  // in row order; shards[i].id == i
};

// rows >= 0; chunk_rows >= 1 (rows per HDF5 chunk); target_shard_rows >= 1; num_ranks >= 1.
// shard_rows = max(1, floor(target / chunk_rows)) * chunk_rows.
StatusOr<ShardPlan> shard_plan_make(int64_t rows, int64_t chunk_rows, int64_t target_shard_rows, int num_ranks);

// A run of rows that must not be split between shards: a Parquet row group. Blocks are in row
// order; `group` tells which blocks may share a shard (a Parquet file: shards never span files).
struct ShardBlock {
  int64_t rows = 0;  // >= 1
  int64_t group = 0;
};

// Shards of whole blocks: a shard takes the next blocks of one group while its rows stay within
// target_shard_rows, and always at least one block (a row group larger than the target is a shard
// of its own). Rows are numbered through the blocks in order. Like shard_plan_make, boundaries do
// not depend on num_ranks and ranks get contiguous blocks of shards. plan.shard_rows is the target.
StatusOr<ShardPlan> shard_plan_make_blocks(const std::vector<ShardBlock>& blocks, int64_t target_shard_rows, int num_ranks);

// The plan in words, for the job's log: "1 shard of 10000 rows", "5 shards of 5000 rows (the last of
// 3000)", "12 shards of 100 to 300 rows" (sizes as planned, not the target), "no shards (no rows)".
std::string shard_plan_describe(const ShardPlan& plan);

// The shards of one rank, in row order.
std::vector<Shard> shard_plan_for_rank(const ShardPlan& plan, int rank);

// The batches of the given shards, in order; batch_size >= 1.
std::vector<Batch> shard_plan_batches(const std::vector<Shard>& shards, int64_t batch_size);

// The largest number of batches any rank has: the number of collective write rounds.
int64_t shard_plan_max_batches(const ShardPlan& plan, int64_t batch_size);

}  // namespace shardscore
