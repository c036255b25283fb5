// Static memory planning of the CPU backend (src/engine/memory_plan.h).
#include "engine/memory_plan.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <cstring>
#include <random>

#include "common/test_seed.h"
#include "engine/engine.h"
#include "engine/onnx_builder.h"

namespace shardscore {
namespace {

long minor_page_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Batch-sized host buffers (tensor_heap_buffer) are reused, not faulted in page by page each batch:
// 64 MiB, a batch of 65,536 rows of 256 float32 features, allocated, written and freed four times.
TEST(TensorHeap, LargeBuffersAreReusedWithoutFreshPageFaults) {
  for (const std::size_t bytes : {std::size_t{40} << 20, std::size_t{64} << 20, std::size_t{200} << 20}) {
    auto cycle = [bytes] {
      auto b = tensor_heap_buffer(bytes);
      std::memset(b.get(), 1, bytes);
    };
    cycle();  // the first may fault its pages in
    const long before = minor_page_faults();
    for (int i = 0; i < 4; ++i) cycle();
    const long pages = static_cast<long>(bytes) / sysconf(_SC_PAGESIZE);
    EXPECT_LT(minor_page_faults() - before, pages / 2) << (bytes >> 20) << " MiB buffers: " << pages << " pages each";
  }
}

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

// Runs `engine` `runs` times on the same inputs; returns each run's heap allocations and checks
// that every run computed exactly what the first (unplanned, unfolded) one did.
std::vector<int64_t> run_repeatedly(const Engine& engine, const std::vector<Tensor>& in, int runs) {
  std::vector<std::vector<Tensor>> results(static_cast<std::size_t>(runs));
  std::vector<int64_t> heap(static_cast<std::size_t>(runs));
  for (int run = 0; run < runs; ++run) {
    const int64_t before = tensor_heap_allocations();
    EXPECT_TRUE(engine.run(in, &results[run]).ok());
    heap[run] = tensor_heap_allocations() - before;
  }
  for (int run = 1; run < runs; ++run)
    for (std::size_t k = 0; k < results[0].size(); ++k) {
      EXPECT_EQ(results[run][k].nbytes(), results[0][k].nbytes());
      EXPECT_EQ(std::memcmp(results[run][k].raw(), results[0][k].raw(), results[0][k].nbytes()), 0)
          << "run " << run << " output " << k;
    }
  return heap;
}

std::string source_dir() {
  const char* dir = std::getenv("SHARDSCORE_SOURCE_DIR");
  EXPECT_NE(dir, nullptr) << "SHARDSCORE_SOURCE_DIR is not set (ctest sets it)";
  return dir ? dir : "";
}

// Batch 1 of a shape runs everything; batch 2 skips the shape-only steps and records; batch 3
// makes the arena; from batch 4 on nothing but the outputs comes from the heap.
TEST(MemoryPlan, SteadyStateBatchesAllocateOnlyTheirOutputs) {
  auto engine = Engine::load(source_dir() + "/data/demo_mlp.onnx", "cpu", EngineOptions{.optimize = false});
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_trace(seed));
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  std::vector<float> x(100 * 30);
  for (auto& v : x) v = normal(gen);
  auto heap = run_repeatedly(*engine.value(), {Tensor::copy_of(DType::kFloat32, {100, 30}, x.data())}, 5);
  EXPECT_GT(heap[0], 10) << "the first batch allocates every intermediate";
  EXPECT_LE(heap[3], 2) << "steady state: the two outputs only";
  EXPECT_LE(heap[4], 2);
}

// The BERT fixture's Shape -> Gather -> Unsqueeze -> Concat chains are computed once per shape.
TEST(MemoryPlan, ShapeChainsAreComputedOncePerInputShape) {
  auto engine = Engine::load(source_dir() + "/tests/fixtures/bert_tiny.onnx", "cpu");
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_trace(seed));
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> token(0, 999);
  std::vector<int64_t> ids(6 * 16), mask(6 * 16, 1), types(6 * 16, 0);
  for (auto& v : ids) v = token(gen);
  for (int i = 12; i < 16; ++i) mask[16 + i] = 0;  // a padded row
  std::vector<Tensor> in{Tensor::copy_of(DType::kInt64, {6, 16}, ids.data()), Tensor::copy_of(DType::kInt64, {6, 16}, mask.data()),
                         Tensor::copy_of(DType::kInt64, {6, 16}, types.data())};
  auto heap = run_repeatedly(*engine.value(), in, 5);
  int shape_nodes = 0;
  for (const auto& n : engine.value()->graph().nodes) shape_nodes += n.op_type == "Shape";
  ASSERT_GT(shape_nodes, 0) << "the fixture no longer has Shape chains to fold";
  EXPECT_LT(heap[1], heap[0] - shape_nodes) << "batch 2 skipped at least the Shape steps";
  EXPECT_LE(heap[4], 1) << "steady state: the logits only";
}

// An LSTM on the CPU's joint weights (oneDNN, pass_recurrent_joint_weights) whose sequence_lens
// come with the data, so batches of one shape run different numbers of steps: its allocations must
// not follow the step count, or the arena recorded for the shape would be abandoned batch after
// batch. Steady state: as few allocations for long batches as for short ones.
TEST(MemoryPlan, RecurrentStepsAllocateNothingWhateverTheirCount) {
  using namespace onnx_builder;
  const int64_t seq = 12, n_in = 3, hid = 8, batch = 70;
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_trace(seed));
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  auto draw = [&](std::size_t n) {
    std::vector<float> v(n);
    for (auto& e : v) e = u(gen);
    return v;
  };
  auto m = new_model(14);
  add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {seq, -1, n_in});
  add_input(&m, "L", onnx::TensorProto_DataType_INT32, {-1});
  add_float_tensor(&m, "W", {1, 4 * hid, n_in}, draw(4 * hid * n_in));
  add_float_tensor(&m, "R", {1, 4 * hid, hid}, draw(4 * hid * hid));
  set_int_attr(add_node(&m, "LSTM", {"X", "W", "R", "", "L"}, {"", "Y_h"}, "lstm"), "hidden_size", hid);
  add_output(&m, "Y_h", onnx::TensorProto_DataType_FLOAT, {1, -1, hid});
  auto engine = load_built(m, "cpu");
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  ASSERT_EQ((*engine)->pass_stats().joint_recurrent, 1);
  const std::vector<float> x = draw(static_cast<std::size_t>(seq * batch * n_in));
  std::vector<int32_t> short_lens(batch), long_lens(batch);
  for (int64_t b = 0; b < batch; ++b) {
    short_lens[static_cast<std::size_t>(b)] = static_cast<int32_t>(b % 3);
    long_lens[static_cast<std::size_t>(b)] = static_cast<int32_t>(seq - b % 2);
  }
  std::vector<int64_t> heap;
  for (int run = 0; run < 8; ++run) {
    const std::vector<int32_t>& lens = run % 2 ? short_lens : long_lens;  // the second (recording) batch short
    std::vector<Tensor> out;
    const int64_t before = tensor_heap_allocations();
    ASSERT_TRUE((*engine)->run({Tensor::copy_of(DType::kFloat32, {seq, batch, n_in}, x.data()),
                                Tensor::copy_of(DType::kInt32, {batch}, lens.data())},
                               &out)
                    .ok());
    heap.push_back(tensor_heap_allocations() - before);
    ASSERT_EQ(out.size(), 1u);
  }
  // Long batches after the short recording one would fall back to the heap, one allocation per
  // step and tile (43 here before the fix); 3 is what the OpenBLAS path allocates too.
  for (int run = 4; run < 8; ++run) EXPECT_LE(heap[static_cast<std::size_t>(run)], 3) << "run " << run;
}

// Upsample (opset 9) and Resize at opset 10 hand their scales to the Resize plan without a tensor
// of their own: in steady state a batch allocates its output only.
TEST(MemoryPlan, UpsampleStepsAllocateOnlyTheirOutput) {
  using namespace onnx_builder;
  for (const char* op : {"Upsample", "Resize"}) {
    SCOPED_TRACE(op);
    auto m = new_model(std::string(op) == "Upsample" ? 9 : 10);
    add_input(&m, "X", onnx::TensorProto_DataType_FLOAT, {-1, 2, 3, 3});
    add_float_tensor(&m, "S", {4}, {1, 1, 2, 2});
    add_node(&m, op, {"X", "S"}, {"Y"}, "up");
    add_output(&m, "Y", onnx::TensorProto_DataType_FLOAT, {-1, 2, 6, 6});
    auto engine = load_built(m, "cpu");
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    std::vector<float> x(4 * 2 * 3 * 3, 1.5f);
    auto heap = run_repeatedly(*engine.value(), {Tensor::copy_of(DType::kFloat32, {4, 2, 3, 3}, x.data())}, 5);
    EXPECT_LE(heap[4], 1) << "steady state: the output only";
  }
}

}  // namespace
}  // namespace shardscore
