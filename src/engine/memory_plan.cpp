#include "engine/memory_plan.h"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace shardscore {

namespace {
// Places in the arena keep cudaMalloc's 256-byte alignment: cuBLAS and cuDNN may choose their kernels
// by how the pointers they are given are aligned, and a batch replayed in the arena must run the
// kernels its recording (on fresh allocations) ran, for the same bits.
constexpr std::size_t kPlace = 256;
std::size_t round_to_place(std::size_t b) { return std::max<std::size_t>(kPlace, (b + kPlace - 1) / kPlace * kPlace); }
std::shared_ptr<std::byte> base_allocate(TensorAllocator* base, std::size_t bytes) {
  return base ? base->allocate(bytes) : tensor_heap_buffer(bytes);
}
void base_fill(TensorAllocator* base, void* p, int byte, std::size_t bytes) {
  if (base) base->fill(p, byte, bytes);
  else std::memset(p, byte, bytes);
}
}  // namespace

void RecordingAllocator::fill(void* p, int byte, std::size_t bytes) { base_fill(base_, p, byte, bytes); }
void ArenaAllocator::fill(void* p, int byte, std::size_t bytes) { base_fill(base_, p, byte, bytes); }

std::shared_ptr<std::byte> RecordingAllocator::allocate(std::size_t bytes) {
  auto heap = base_allocate(base_, bytes);
  std::size_t index;
  {
    std::lock_guard lock(state_->mutex);
    index = state_->events.size();
    state_->events.push_back({round_to_place(bytes), state_->clock++});
  }
  // The deleter notes when the last reference (the tensor or any view of it) went away.
  std::shared_ptr<State> state = state_;
  return std::shared_ptr<std::byte>(heap.get(), [state, index, heap](std::byte*) mutable {
    std::lock_guard lock(state->mutex);
    state->events[index].died = state->clock++;
    heap.reset();
  });
}

MemoryPlan RecordingAllocator::build_plan() const {
  std::lock_guard lock(state_->mutex);
  const auto& ev = state_->events;
  MemoryPlan plan;
  plan.sizes.resize(ev.size());
  plan.offsets.assign(ev.size(), -1);
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < ev.size(); ++i) {
    plan.sizes[i] = ev[i].bytes;
    if (ev[i].died >= 0) order.push_back(i);
    else plan.heap_bytes += ev[i].bytes;
  }
  // Greedy: largest first, each at the lowest offset clear of every placed buffer alive at the same time.
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return ev[a].bytes != ev[b].bytes ? ev[a].bytes > ev[b].bytes : a < b;
  });
  std::vector<std::size_t> placed;
  for (std::size_t i : order) {
    std::vector<std::pair<int64_t, int64_t>> busy;  // [begin, end) of overlapping-in-time buffers
    for (std::size_t j : placed) {
      const bool overlap = ev[i].born < ev[j].died && ev[j].born < ev[i].died;
      if (overlap) busy.emplace_back(plan.offsets[j], plan.offsets[j] + static_cast<int64_t>(ev[j].bytes));
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [b, e] : busy) {
      if (offset + static_cast<int64_t>(ev[i].bytes) <= b) break;
      offset = std::max(offset, e);
    }
    plan.offsets[i] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, static_cast<std::size_t>(offset) + ev[i].bytes);
    placed.push_back(i);
  }
  return plan;
}

Arena::Arena(std::size_t bytes, TensorAllocator* base) : data_(base_allocate(base, bytes)) {}

std::shared_ptr<std::byte> ArenaAllocator::allocate(std::size_t bytes) {
  const std::size_t i = next_++;
  if (!diverged_ && (i >= plan_.sizes.size() || round_to_place(bytes) != plan_.sizes[i])) diverged_ = true;
  if (diverged_ || plan_.offsets[i] < 0) return base_allocate(base_, bytes);
  // The buffer holds the arena: the backend reuses an arena only when nothing else holds it, so a
  // tensor outliving its batch (never planned so) can never see its memory reused under it.
  std::shared_ptr<Arena> keep = arena_;
  return std::shared_ptr<std::byte>(arena_->data() + plan_.offsets[i], [keep](std::byte*) {});
}

}  // namespace shardscore
