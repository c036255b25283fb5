#pragma once
// Static memory planning: the buffers of one batch, sized once per input shape and reused by
// liveness, so a batch in steady state allocates nothing but its outputs. The CPU backend plans
// heap memory; the CUDA backend the same way device memory (each allocator takes a `base`: where
// its buffers really come from, nullptr for the heap).
//
// The first batch of a given input shape runs with a RecordingAllocator, which notes every
// buffer's size and when it was allocated and released (its last reference gone, views included).
// memory_plan_build() then places the buffers released during the batch in one arena, offsets
// chosen so that buffers alive at the same time never overlap; buffers still alive at the end
// (the graph's outputs) stay on the heap. Later batches of that shape run with an ArenaAllocator,
// which hands out the planned places in the same order — and falls back to the heap for the rest
// of the batch the moment a request differs from the recording.
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/tensor.h"

namespace shardscore {

struct MemoryPlan {
  std::vector<std::size_t> sizes;     // per allocation, in order (rounded up to 256 bytes: offsets keep cudaMalloc's alignment)
  std::vector<int64_t> offsets;       // arena offset per allocation; -1: heap
  std::size_t arena_bytes = 0;
  std::size_t heap_bytes = 0;         // what stays on the heap per batch (outputs)
};

class RecordingAllocator final : public TensorAllocator {
 public:
  explicit RecordingAllocator(TensorAllocator* base = nullptr) : base_(base) {}
  std::shared_ptr<std::byte> allocate(std::size_t bytes) override;
  bool on_device() const override { return base_ && base_->on_device(); }
  void fill(void* p, int byte, std::size_t bytes) override;
  // Call after the batch, when only the outputs still hold buffers.
  MemoryPlan build_plan() const;

 private:
  struct Event {
    std::size_t bytes;
    int64_t born, died = -1;  // event clock; -1: still alive
  };
  struct State {
    std::mutex mutex;
    std::vector<Event> events;
    int64_t clock = 0;
  };
  TensorAllocator* base_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// One arena per concurrently running batch; reused across batches of the same input shape.
class Arena {
 public:
  explicit Arena(std::size_t bytes, TensorAllocator* base = nullptr);
  std::byte* data() { return data_.get(); }

 private:
  std::shared_ptr<std::byte> data_;
};

class ArenaAllocator final : public TensorAllocator {
 public:
  ArenaAllocator(const MemoryPlan& plan, std::shared_ptr<Arena> arena, TensorAllocator* base = nullptr)
      : plan_(plan), arena_(std::move(arena)), base_(base) {}
  std::shared_ptr<std::byte> allocate(std::size_t bytes) override;
  bool on_device() const override { return base_ && base_->on_device(); }
  void fill(void* p, int byte, std::size_t bytes) override;
  // Whether every request matched the plan (false: the rest of the batch used the heap).
  bool followed_plan() const { return !diverged_; }

 private:
  const MemoryPlan& plan_;
  std::shared_ptr<Arena> arena_;
  TensorAllocator* base_;
  std::size_t next_ = 0;
  bool diverged_ = false;
};

}  // namespace shardscore
