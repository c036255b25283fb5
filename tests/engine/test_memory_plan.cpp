// Static memory planning of the CPU backend (src/engine/cpu/memory_plan.h).
#include "engine/cpu/memory_plan.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "engine/engine.h"

namespace shardscore {
namespace {

TEST(MemoryPlan, BuffersAliveTogetherNeverOverlapAndOthersShare) {
  RecordingAllocator rec;
  {
    ScopedTensorAllocator scope(&rec);
    Tensor a(DType::kFloat32, {256});  // 1024 B
    Tensor b(DType::kFloat32, {128});  //  512 B, alive with a
    a = Tensor();                      // a dies
    Tensor c(DType::kFloat32, {256});  // can reuse a's place
    Tensor view = c.reshaped({16, 16});
    c = Tensor();                      // c lives on through the view
    Tensor d(DType::kFloat32, {64});   // alive with b and the view
    Tensor result(DType::kFloat32, {8});
    static Tensor keep;                // the "output": still alive after the batch
    keep = result;
  }
  const MemoryPlan plan = rec.build_plan();
  ASSERT_EQ(plan.sizes.size(), 5u);
  EXPECT_EQ(plan.offsets[4], -1) << "a buffer alive after the batch stays on the heap";
  EXPECT_EQ(plan.offsets[0], plan.offsets[2]) << "c takes a's place: they never live together";
  auto disjoint = [&](int i, int j) {
    return plan.offsets[i] + static_cast<int64_t>(plan.sizes[i]) <= plan.offsets[j] ||
           plan.offsets[j] + static_cast<int64_t>(plan.sizes[j]) <= plan.offsets[i];
  };
  EXPECT_TRUE(disjoint(0, 1));
  EXPECT_TRUE(disjoint(1, 2));
  EXPECT_TRUE(disjoint(1, 3));
  EXPECT_TRUE(disjoint(2, 3)) << "c is still alive through its view when d is made";
  EXPECT_EQ(plan.arena_bytes, 1024u + 512u + 256u);
}

TEST(MemoryPlan, ArenaFollowsThePlanAndFallsBackWhenRequestsDiffer) {
  MemoryPlan plan;
  plan.sizes = {1024, 512};
  plan.offsets = {0, 1024};
  plan.arena_bytes = 1536;
  auto arena = std::make_shared<Arena>(plan.arena_bytes);
  ArenaAllocator alloc(plan, arena);
  auto a = alloc.allocate(1000);
  EXPECT_EQ(a.get(), arena->data());
  auto b = alloc.allocate(2000);  // not what was recorded
  EXPECT_FALSE(alloc.followed_plan());
  EXPECT_NE(b.get(), arena->data() + 1024) << "after a mismatch everything comes from the heap";
  EXPECT_GT(arena.use_count(), 1) << "arena buffers hold the arena";
}

// The engine: a batch in steady state takes nothing from the heap but its outputs, and computes
// exactly what the first (unplanned) batch computed.
TEST(MemoryPlan, SteadyStateBatchesAllocateOnlyTheirOutputs) {
  const char* dir = std::getenv("SHARDSCORE_SOURCE_DIR");
  ASSERT_NE(dir, nullptr) << "SHARDSCORE_SOURCE_DIR is not set (ctest sets it)";
  auto engine = Engine::load(std::string(dir) + "/data/demo_mlp.onnx", "cpu", EngineOptions{.optimize = false});
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  std::mt19937 gen(std::random_device{}());
  std::normal_distribution<float> normal;
  std::vector<float> x(100 * 30);
  for (auto& v : x) v = normal(gen);
  const Tensor in = Tensor::copy_of(DType::kFloat32, {100, 30}, x.data());
  std::vector<std::vector<Tensor>> results(3);
  std::vector<int64_t> heap(3);
  for (int run = 0; run < 3; ++run) {
    const int64_t before = tensor_heap_allocations();
    ASSERT_TRUE(engine.value()->run({in}, &results[run]).ok());
    heap[run] = tensor_heap_allocations() - before;
  }
  EXPECT_GT(heap[0], 10) << "the unplanned first batch allocates every intermediate";
  EXPECT_LE(heap[2], static_cast<int64_t>(results[2].size())) << "steady state: outputs only";
  for (int run = 1; run < 3; ++run)
    for (std::size_t k = 0; k < results[0].size(); ++k) {
      ASSERT_EQ(results[run][k].nbytes(), results[0][k].nbytes());
      EXPECT_EQ(std::memcmp(results[run][k].raw(), results[0][k].raw(), results[0][k].nbytes()), 0)
          << "run " << run << " output " << k;
    }
}

}  // namespace
}  // namespace shardscore
