// The CUDA backend. How a batch runs, and why:
//
// * A batch runs on one lane (a stream with its cuBLAS/cuDNN handles, pinned staging buffers and
//   device memory) from its copy in to its copy out, and lanes run at the same time: the job keeps
//   several batches in flight, so one batch's copies overlap another's kernels without any
//   cross-stream bookkeeping here.
// * Shape-only steps (Shape chains) run on the host with the CPU functions, once per input shape;
//   small host-side inputs (shapes, axes: OpEntry::cuda_host_inputs) are read from those results.
// * Device memory is planned as the CPU backend plans host memory (engine/memory_plan.h): the
//   first batch of a shape allocates stream-ordered, the second records its allocations, later
//   batches run in a per-lane arena, so the steady state never calls cudaMalloc.
// * With the arena's addresses fixed, a lane captures a shape as a CUDA graph at its first batch of
//   the shape after one it ran outside a capture (the shape's first or recording batch, or one in
//   the arena), and later batches replay it: one launch instead of one per kernel. A shape whose steps
//   cannot be captured (an op that reads device data on the host) simply keeps running step by step.
// * A value only a kernel sees that fails the op on the CPU (an index out of range, an integer
//   division by zero) is recorded in the lane's fault record (kernels/kernel_types.h), zeroed at
//   the start of each batch and read back with its outputs: the batch then fails with the CPU
//   function's error, naming the node, instead of scoring with a zero slice.
// * A kernel's fault on the device (an illegal address) shows at whichever call checks next, so
//   the error may name a later node; SHARDSCORE_CUDA_SYNC=1 (CudaBackendOptions::sync_steps) turns
//   graphs off and has the host wait after every step, so that the failing step's node is named.
// * SHARDSCORE_CUDA_PROFILE=1: where a batch's time goes. Graphs are off, every step and the
//   copies in and out are timed with events (the host waits after each), summed per op type, and
//   the table is logged when the backend goes away. For finding the slow part, not for rates.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/log.h"
#include "engine/backend.h"
#include "engine/cuda/cuda_op.h"
#include "engine/memory_plan.h"

namespace shardscore {
namespace {

// cuda_graph_counts(): batch shapes captured as graphs, those that could not be, and replays.
std::atomic<int64_t> g_graphs_captured{0}, g_graphs_refused{0}, g_graphs_replayed{0};

// Thrown by the device allocator (Tensor's constructor cannot return a Status); caught per step.
struct DeviceOutOfMemory : std::bad_alloc {};
// Any other failure of cudaMallocAsync (a sticky error after a kernel fault): not out of memory, so
// that the engine does not retry in halves on a broken context and the error names itself.
struct DeviceAllocFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Stream-ordered device memory on one lane's stream.
class DeviceAllocator final : public TensorAllocator {
 public:
  explicit DeviceAllocator(cudaStream_t stream) : stream_(stream) {}
  std::shared_ptr<std::byte> allocate(std::size_t bytes) override {
    void* p = nullptr;
    if (const cudaError_t e = cudaMallocAsync(&p, std::max<std::size_t>(bytes, 256), stream_); e != cudaSuccess) {
      (void)cudaGetLastError();
      if (e == cudaErrorMemoryAllocation) throw DeviceOutOfMemory();
      throw DeviceAllocFailed(cuda_status(e, "cudaMallocAsync(&p, bytes, stream)").message());
    }
    cudaStream_t s = stream_;
    // A failed free must not stay the thread's last error: the next launch check would report it.
    return std::shared_ptr<std::byte>(static_cast<std::byte*>(p), [s](std::byte* q) {
      if (cudaFreeAsync(q, s) != cudaSuccess) (void)cudaGetLastError();
    });
  }
  bool on_device() const override { return true; }
  void fill(void* p, int byte, std::size_t bytes) override { (void)cudaMemsetAsync(p, byte, bytes, stream_); }

 private:
  cudaStream_t stream_;
};

// Page-locked host memory that grows; async copies need it to overlap.
class PinnedBuffer {
 public:
  ~PinnedBuffer() {
    if (p_) cudaFreeHost(p_);
  }
  // At least 256 bytes: data() is never null after a reserve, so a batch of empty tensors copies
  // zero bytes from a real address.
  Status reserve(std::size_t bytes) {
    if (fits(bytes)) return ok_status();
    bytes = std::max<std::size_t>(bytes, 256);
    if (p_) cudaFreeHost(p_);
    p_ = nullptr;
    size_ = 0;
    SS_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&p_, bytes, cudaHostAllocDefault));
    size_ = bytes;
    return ok_status();
  }
  bool fits(std::size_t bytes) const { return std::max<std::size_t>(bytes, 256) <= size_; }
  std::byte* data() { return static_cast<std::byte*>(p_); }

 private:
  void* p_ = nullptr;
  std::size_t size_ = 0;
};

// Captures tried per lane and input shape before it runs step by step for good.
constexpr int kCaptureAttempts = 2;

// What a lane keeps per input shape once that shape's memory is planned.
struct LaneShape {
  std::shared_ptr<Arena> arena;
  int capture_attempts = 0;  // of kCaptureAttempts
  cudaGraphExec_t graph = nullptr;
  // Where the captured graph reads its inputs and leaves its outputs (arena addresses).
  std::vector<void*> input_ptrs;
  // Per graph output: the device tensor the graph leaves it in (dtype and shape; raw() is the
  // arena or constant address), or, where the output never reaches the device (a shape-only
  // result), the host value itself (fixed for this input shape).
  std::vector<Tensor> outputs;
  // Shape-only results that device steps read as data (BERT's position ids), uploaded once before
  // the capture: the graph copies them device to device, as a capture cannot copy pageable memory.
  std::map<int, Tensor> folded_dev;
  ~LaneShape() {
    if (graph) cudaGraphExecDestroy(graph);
  }
};

// Owns its stream and handles: also a lane whose creation failed half way releases what it got.
// The device must be current when one is destroyed.
struct Lane {
  CudaLane h;
  std::unique_ptr<DeviceAllocator> allocator;
  PinnedBuffer staging_in, staging_out;
  kernels::DeviceFault* fault_host = nullptr;  // pinned: h.fault's copy, read after a synchronize
  void* cublas_workspace = nullptr;
  std::map<std::string, std::unique_ptr<LaneShape>> shapes;
  // Planned shapes (ShapeMemory keys) this lane has run a batch of outside a capture (unplanned,
  // recording or in its arena): its cuBLAS, cuBLASLt and cuDNN handles have then done the shape's
  // calls once, so no first use of theirs (a lazily made buffer or plan) happens while capturing,
  // where it could refuse the capture.
  std::set<std::string> ran_outside_capture;
  // Batch shapes that ran out of device memory even with the lane's other shapes freed.
  std::set<std::string> too_large;
  ~Lane() {
    // Nothing may still run on the stream when its memory and handles go; the arenas' frees are
    // stream-ordered, so they go before the stream does.
    if (h.stream) (void)cudaStreamSynchronize(h.stream);
    shapes.clear();
    if (h.cudnn) cudnnDestroy(h.cudnn);
    if (h.cublaslt) cublasLtDestroy(h.cublaslt);
    if (h.cublas) cublasDestroy(h.cublas);
    if (h.stream) (void)cudaStreamSynchronize(h.stream);
    if (cublas_workspace) cudaFree(cublas_workspace);
    if (h.fault) cudaFree(h.fault);
    if (fault_host) cudaFreeHost(fault_host);
    if (h.stream) cudaStreamDestroy(h.stream);
    (void)cudaGetLastError();
  }
};

constexpr std::size_t kCublasWorkspace = 32u << 20;  // fixed, so cuBLAS never allocates inside a capture

}  // namespace

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, CudaPrecision precision, bool graphs, bool profile, bool sync_steps, bool cudnn_epilogue,
              bool cublaslt_bias, std::size_t max_lanes)
      : device_(device),
        precision_(precision),
        graphs_(graphs && !profile && !sync_steps),
        profile_(profile),
        sync_steps_(sync_steps),
        cudnn_epilogue_(cudnn_epilogue),
        cublaslt_bias_(cublaslt_bias),
        max_lanes_(max_lanes) {}
  ~CudaBackend() override {
    cudaSetDevice(device_);
    if (profile_) log_profile();
    // Lanes first: their streams may still reference constants (cudaFree waits for the device
    // anyway, but a lane's arenas are freed on its stream, which must still exist).
    lanes_.clear();
    busy_.clear();
    memory_.clear();
    constants_.clear();
  }

  std::string_view name() const override { return "cuda"; }
  std::string device() const override { return device_text_; }
  bool supports(const OpEntry& op) const override { return op.cuda != nullptr; }

  Status run(const Plan& plan, std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const override {
    SS_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
    using Constants = std::vector<std::pair<int, Tensor>>;
    SS_ASSIGN_OR_RETURN(Constants * constants, device_constants(plan));
    Lane* lane = nullptr;
    SS_RETURN_IF_ERROR(acquire_lane(&lane));
    // The lane goes back whatever happens: a lane left busy would hang a later call for good.
    struct Release {
      const CudaBackend* self;
      Lane* lane;
      ~Release() { self->release_lane(lane); }
    } release{this, lane};
    const std::string key = plan_key(plan, inputs);
    Status st = run_guarded(lane, plan, *constants, inputs, outputs);
    // A lane keeps each shape's arena (and graph) for good; out of device memory, for a new shape (a
    // shard's tail, or the engine's retry at half size), those of its other shapes go first. Not for a
    // shape that did not fit even so: the engine runs it in halves from then on, whose arenas must stay.
    const bool device_memory = st.code() == StatusCode::kResourceExhausted &&
                               st.message().find("host memory") == std::string::npos &&
                               st.message().find("cudaHostAlloc") == std::string::npos;
    if (device_memory && !lane->too_large.count(key) && drop_other_shapes(*lane, key)) {
      log_line("cuda: " + st.message() + " for batch shape " + key.substr(key.find('|') + 1) +
               "; this lane freed the memory of its other batch shapes and runs the batch again");
      st = run_guarded(lane, plan, *constants, std::move(inputs), outputs);
      if (st.code() == StatusCode::kResourceExhausted) lane->too_large.insert(key);
    }
    return st;
  }

  Status init_first_lane() const {
    Lane* lane = nullptr;
    SS_RETURN_IF_ERROR(acquire_lane(&lane));
    release_lane(lane);
    return ok_status();
  }

 private:
  // run_on_lane with its exceptions as statuses; nothing of the batch is left running on the lane.
  Status run_guarded(Lane* lane, const Plan& plan, const std::vector<std::pair<int, Tensor>>& constants,
                     std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const {
    try {
      return run_on_lane(*lane, plan, constants, std::move(inputs), outputs);
    } catch (const DeviceOutOfMemory&) {
      (void)cudaStreamSynchronize(lane->h.stream);
      return resource_exhausted("out of device memory");
    } catch (const std::bad_alloc&) {
      (void)cudaStreamSynchronize(lane->h.stream);
      return resource_exhausted("out of host memory");
    } catch (const DeviceAllocFailed& e) {
      (void)cudaStreamSynchronize(lane->h.stream);
      return internal_error(e.what());
    } catch (const std::exception& e) {
      // Nothing of the batch may still run when the lane goes back: the next batch on it reuses
      // its staging buffers.
      (void)cudaStreamSynchronize(lane->h.stream);
      return internal_error(std::string("CUDA backend: ") + e.what());
    }
  }

  // Frees the lane's arenas and graphs of shapes other than `keep` (the lane is idle: the failed
  // batch waited for its stream); true if there were any.
  static bool drop_other_shapes(Lane& lane, const std::string& keep) {
    bool dropped = false;
    for (auto it = lane.shapes.begin(); it != lane.shapes.end();) {
      if (it->first == keep) {
        ++it;
        continue;
      }
      drop_graph(*it->second);
      it = lane.shapes.erase(it);  // the arena's free is stream-ordered
      dropped = true;
    }
    if (dropped) (void)cudaStreamSynchronize(lane.h.stream);
    return dropped;
  }

  // A job sees a handful of batch shapes (full batches, shard tails); more run unplanned.
  static constexpr std::size_t kMaxPlannedShapes = 16;

  struct ShapeMemory {
    std::mutex mutex;
    bool folded_ready = false, plan_ready = false;
    std::vector<std::pair<int, Tensor>> folded;  // slot -> host result of a shape-only step
    MemoryPlan plan;
  };

  // A free lane, or a new one while there are fewer than the limit. Where a new lane cannot be
  // made (device memory for its cuBLAS workspace, a handle) and others exist, the limit drops to the
  // lanes there are and the call waits for one of them: a job that already runs loses overlap, not
  // a batch. Only the first lane's failure is the caller's.
  Status acquire_lane(Lane** out) const {
    std::unique_lock lock(lanes_mutex_);
    for (;;) {
      for (;;) {
        for (auto& l : lanes_) {
          if (!busy_[l.get()]) {
            busy_[l.get()] = true;
            *out = l.get();
            return ok_status();
          }
        }
        if (lanes_.size() < lane_limit_) break;
        lanes_cv_.wait(lock);
      }
      auto lane = std::make_unique<Lane>();
      std::unique_lock device_wide(capture_mutex_);
      Status st = init_lane(*lane);
      if (!st.ok()) lane.reset();  // releases what it got
      device_wide.unlock();
      if (st.ok()) {
        busy_[lane.get()] = true;
        *out = lane.get();
        lanes_.push_back(std::move(lane));
        return ok_status();
      }
      (void)cudaGetLastError();
      if (lanes_.empty()) return st;
      lane_limit_ = lanes_.size();
      log_line("cuda: lane " + std::to_string(lanes_.size() + 1) + " could not be made (" + st.message() +
               "); the device runs " + std::to_string(lane_limit_) + " lane(s)");
    }
  }

  // A lane's stream, handles and buffers; on failure the lane holds what it got (its destructor
  // releases it).
  Status init_lane(Lane& lane) const {
    lane.h.device = device_;
    lane.h.precision = precision_;
    lane.h.cudnn_epilogue = cudnn_epilogue_;
    lane.h.cublaslt_bias = cublaslt_bias_;
    SS_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&lane.h.stream, cudaStreamNonBlocking));
    SS_CUBLAS_RETURN_IF_ERROR(cublasCreate(&lane.h.cublas));
    SS_CUBLAS_RETURN_IF_ERROR(cublasSetStream(lane.h.cublas, lane.h.stream));
    SS_CUDA_RETURN_IF_ERROR(cudaMalloc(&lane.cublas_workspace, kCublasWorkspace));
    SS_CUBLAS_RETURN_IF_ERROR(cublasSetWorkspace(lane.h.cublas, lane.cublas_workspace, kCublasWorkspace));
    SS_CUDA_RETURN_IF_ERROR(cudaMalloc(reinterpret_cast<void**>(&lane.h.fault), sizeof(kernels::DeviceFault)));
    SS_CUDA_RETURN_IF_ERROR(cudaHostAlloc(reinterpret_cast<void**>(&lane.fault_host), sizeof(kernels::DeviceFault), cudaHostAllocDefault));
    // float32 means float32: TF32 tensor cores only when asked for (--precision tf32). float16
    // and bfloat16 products accumulate in float32, split-K reductions included (cuBLAS may
    // otherwise reduce the partial sums in the output type).
    const cublasMath_t math = precision_ == CudaPrecision::kTf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
    SS_CUBLAS_RETURN_IF_ERROR(cublasSetMathMode(
        lane.h.cublas, static_cast<cublasMath_t>(math | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    SS_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&lane.h.cublaslt));
    SS_CUDNN_RETURN_IF_ERROR(cudnnCreate(&lane.h.cudnn));
    SS_CUDNN_RETURN_IF_ERROR(cudnnSetStream(lane.h.cudnn, lane.h.stream));
    lane.allocator = std::make_unique<DeviceAllocator>(lane.h.stream);
    return ok_status();
  }

  // Grows a lane's pinned staging outside any capture (cudaFreeHost synchronizes the device).
  Status reserve_staging(PinnedBuffer& buffer, std::size_t bytes) const {
    if (buffer.fits(bytes)) return ok_status();
    std::unique_lock device_wide(capture_mutex_);
    return buffer.reserve(bytes);
  }

  void release_lane(Lane* lane) const {
    {
      std::lock_guard lock(lanes_mutex_);
      busy_[lane] = false;
    }
    lanes_cv_.notify_one();
  }

  // The plan's initializers on the device, uploaded once per plan.
  StatusOr<std::vector<std::pair<int, Tensor>>*> device_constants(const Plan& plan) const {
    std::lock_guard lock(constants_mutex_);
    auto it = constants_.find(plan.id);
    if (it != constants_.end()) return &it->second;
    std::vector<std::pair<int, Tensor>> dev;
    std::unique_lock device_wide(capture_mutex_);
    for (const auto& [slot, t] : plan.constants) {
      void* p = nullptr;
      SS_CUDA_RETURN_IF_ERROR(cudaMalloc(&p, std::max<std::size_t>(t.nbytes(), 256)));
      std::shared_ptr<std::byte> buf(static_cast<std::byte*>(p), [](std::byte* q) { cudaFree(q); });
      if (t.nbytes()) SS_CUDA_RETURN_IF_ERROR(cudaMemcpy(p, t.raw(), t.nbytes(), cudaMemcpyHostToDevice));
      dev.emplace_back(slot, Tensor::wrap(t.dtype(), t.shape(), std::move(buf), true));
    }
    // cudaMemcpy from pageable memory may return before the DMA lands, and the lanes' streams are
    // non-blocking (no implicit order with the legacy stream): wait for the uploads.
    SS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(cudaStreamLegacy));
    return &constants_.emplace(plan.id, std::move(dev)).first->second;
  }

  static std::string plan_key(const Plan& plan, const std::vector<Tensor>& inputs) {
    std::string key = std::to_string(plan.id);
    for (const auto& t : inputs) key.append("|").append(dtype_name(t.dtype())).append(shape_to_string(t.shape()));
    return key;
  }

  Status run_on_lane(Lane& lane, const Plan& plan, const std::vector<std::pair<int, Tensor>>& constants,
                     std::vector<Tensor> inputs, std::vector<Tensor>* outputs) const {
    const std::string key = plan_key(plan, inputs);
    std::shared_ptr<ShapeMemory> memory;
    {
      std::lock_guard lock(memory_mutex_);
      auto it = memory_.find(key);
      if (it != memory_.end()) memory = it->second;
      else if (memory_.size() < kMaxPlannedShapes) memory = memory_.emplace(key, std::make_shared<ShapeMemory>()).first->second;
    }
    Batch b{lane, plan, constants};
    if (!memory) return run_batch(b, std::move(inputs), outputs, lane.allocator.get());

    std::unique_lock stage(memory->mutex);
    if (!memory->folded_ready) {
      std::vector<std::pair<int, Tensor>> folded;
      b.keep_folded = &folded;
      SS_RETURN_IF_ERROR(run_batch(b, std::move(inputs), outputs, lane.allocator.get()));
      memory->folded = std::move(folded);
      memory->folded_ready = true;
      lane.ran_outside_capture.insert(key);
      return ok_status();
    }
    b.folded = &memory->folded;
    if (!memory->plan_ready) {
      RecordingAllocator recorder(lane.allocator.get());
      SS_RETURN_IF_ERROR(run_batch(b, std::move(inputs), outputs, &recorder));
      memory->plan = recorder.build_plan();
      memory->plan_ready = true;
      lane.ran_outside_capture.insert(key);
      return ok_status();
    }
    stage.unlock();

    auto it = lane.shapes.find(key);
    if (it == lane.shapes.end()) {
      // Only a lane shape with its arena goes into the map (the arena's allocation may throw).
      auto fresh = std::make_unique<LaneShape>();
      try {
        fresh->arena = std::make_shared<Arena>(memory->plan.arena_bytes, lane.allocator.get());
      } catch (const DeviceOutOfMemory&) {
        return resource_exhausted("out of device memory for the batch's arena (" +
                                  std::to_string(memory->plan.arena_bytes) + " bytes)");
      }
      it = lane.shapes.emplace(key, std::move(fresh)).first;
    }
    auto& ls = it->second;
    if (ls->graph) {
      bool launch_failed = false;
      Status st = replay(lane, plan, *ls, inputs, outputs, &launch_failed);
      if (!st.ok()) {
        (void)cudaStreamSynchronize(lane.h.stream);  // the staging buffers are reused next batch
        (void)cudaGetLastError();
      }
      if (!launch_failed) return st;
      // The graph would not start (nothing of it ran): this shape runs step by step from now on,
      // this batch included, where a real error shows as itself.
      log_line("cuda: batch shape " + key.substr(key.find('|') + 1) + " stops replaying its CUDA graph (" +
               st.message() + "); it runs step by step");
      drop_graph(*ls);
      ls->capture_attempts = kCaptureAttempts;
    }
    if (graphs_ && lane.ran_outside_capture.count(key) && ls->capture_attempts < kCaptureAttempts) {
      ++ls->capture_attempts;
      upload_folded(lane, plan, memory->folded, *ls);
      b.capture = ls.get();
      ArenaAllocator allocator(memory->plan, ls->arena, lane.allocator.get());
      Status st = run_batch(b, inputs, outputs, &allocator);
      if (!st.ok() && !b.capture_failed && !ls->graph) {
        --ls->capture_attempts;  // it failed before its capture began (staging, input memory)
        ls->input_ptrs.clear();  // the inputs copied before the failure: the next attempt records them all again
        return st;
      }
      if (!b.capture_failed) {
        if (!allocator.followed_plan()) {  // its addresses are not all the arena's
          drop_graph(*ls);
          log_line("cuda: batch shape " + key.substr(key.find('|') + 1) +
                   " allocated outside its memory plan while captured; it runs step by step");
        }
        (ls->graph ? g_graphs_captured : g_graphs_refused).fetch_add(1, std::memory_order_relaxed);
        return st;
      }
      g_graphs_refused.fetch_add(1, std::memory_order_relaxed);
      if (b.launch_failed) ls->capture_attempts = kCaptureAttempts;  // as a replay's launch failure
      // Whatever went wrong under capture (a step that needs the host to wait for the device, or an
      // error), the batch runs again step by step: a real error then shows as itself. A later batch
      // of the shape tries once more (what went wrong may have been passing: memory for an upload,
      // another thread's call).
      if (ls->capture_attempts == kCaptureAttempts) {
        log_line("cuda: batch shape " + key.substr(key.find('|') + 1) +
                 " cannot be captured as a CUDA graph; it runs step by step (" + b.capture_error + ")");
      }
      drop_graph(*ls);
      b.capture = nullptr;
    }
    ArenaAllocator allocator(memory->plan, ls->arena, lane.allocator.get());
    SS_RETURN_IF_ERROR(run_batch(b, std::move(inputs), outputs, &allocator));
    lane.ran_outside_capture.insert(key);
    return ok_status();
  }

  // Uploads the shape-only results that a device step reads as data into ls.folded_dev (outside the
  // batch's memory plan). One that cannot be uploaded is left out: the capture then refuses.
  void upload_folded(Lane& lane, const Plan& plan, const std::vector<std::pair<int, Tensor>>& folded,
                     LaneShape& ls) const {
    ScopedTensorAllocator device(lane.allocator.get());
    std::unique_lock device_wide(capture_mutex_);  // copies from pageable memory
    for (const auto& step : plan.steps) {
      if (step.shape_only) continue;
      for (std::size_t k = 0; k < step.inputs.size(); ++k) {
        const int s = step.inputs[k];
        if (s < 0 || (k < 32 && (step.op->cuda_host_inputs >> k) & 1u) || ls.folded_dev.count(s)) continue;
        auto f = std::find_if(folded.begin(), folded.end(), [&](const auto& e) { return e.first == s; });
        if (f == folded.end() || f->second.empty()) continue;
        try {
          Tensor d(f->second.dtype(), f->second.shape());
          if (cudaMemcpyAsync(d.raw(), f->second.raw(), f->second.nbytes(), cudaMemcpyHostToDevice, lane.h.stream) != cudaSuccess) {
            (void)cudaGetLastError();
            continue;
          }
          ls.folded_dev.emplace(s, std::move(d));
        } catch (const std::exception&) {
        }
      }
    }
  }

  static void drop_graph(LaneShape& ls) {
    if (ls.graph) cudaGraphExecDestroy(ls.graph);
    ls.graph = nullptr;
    ls.input_ptrs.clear();
    ls.outputs.clear();
    ls.folded_dev.clear();  // stream-ordered frees: after anything of the graph still running
  }

  struct Batch {
    Batch(Lane& l, const Plan& p, const std::vector<std::pair<int, Tensor>>& c) : lane(l), plan(p), constants(c) {}
    Lane& lane;
    const Plan& plan;
    const std::vector<std::pair<int, Tensor>>& constants;
    const std::vector<std::pair<int, Tensor>>* folded = nullptr;  // skip shape-only steps, take these
    std::vector<std::pair<int, Tensor>>* keep_folded = nullptr;   // record shape-only results here
    LaneShape* capture = nullptr;                       // capture the steps as this shape's graph
    bool capture_failed = false;
    bool launch_failed = false;  // the captured graph would not launch: the shape stops capturing
    std::string capture_error;
  };

  // One batch: inputs in, steps (captured as a graph when asked), outputs out. Whatever way it
  // ends, nothing of it is left running on the lane's stream: the next batch on the lane reuses
  // the pinned staging buffers (and may reallocate them) and the arena.
  Status run_batch(Batch& b, std::vector<Tensor> inputs, std::vector<Tensor>* outputs, TensorAllocator* allocator) const {
    Status st = run_batch_once(b, std::move(inputs), outputs, allocator);
    if (!st.ok() || b.capture_failed) {
      (void)cudaStreamSynchronize(b.lane.h.stream);
      (void)cudaGetLastError();  // not to be reported later by an unrelated launch
    }
    return st;
  }

  Status run_batch_once(Batch& b, std::vector<Tensor> inputs, std::vector<Tensor>* outputs,
                        TensorAllocator* allocator) const {
    Lane& lane = b.lane;
    const Plan& plan = b.plan;
    const cudaStream_t stream = lane.h.stream;
    std::vector<Tensor> dev(static_cast<std::size_t>(plan.num_slots)), host(dev.size());
    for (const auto& [s, t] : plan.constants) host[s] = t;
    for (const auto& [s, t] : b.constants) dev[s] = t;
    if (b.folded)
      for (const auto& [s, t] : *b.folded) host[s] = t;

    Status st;
    {
      ScopedTensorAllocator scope(allocator);
      // Copy in: through pinned staging, so the copy is asynchronous and overlaps other lanes.
      std::size_t in_bytes = 0;
      for (const auto& t : inputs) in_bytes += (t.nbytes() + 255) / 256 * 256;
      SS_RETURN_IF_ERROR(reserve_staging(lane.staging_in, in_bytes));
      // The previous batch's copy in on this lane finished: run_batch synchronizes before returning.
      std::size_t off = 0;
      for (std::size_t k = 0; k < inputs.size(); ++k) {
        const Tensor& t = inputs[k];
        Tensor d;
        try {
          d = Tensor(t.dtype(), t.shape());
        } catch (const DeviceOutOfMemory&) {
          return resource_exhausted("out of device memory for the batch's inputs");
        }
        std::memcpy(lane.staging_in.data() + off, t.raw(), t.nbytes());
        SS_RETURN_IF_ERROR(timed(stream, "(copy in)", [&]() -> Status {
          SS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(d.raw(), lane.staging_in.data() + off, t.nbytes(), cudaMemcpyHostToDevice, stream));
          return ok_status();
        }));
        off += (t.nbytes() + 255) / 256 * 256;
        if (b.capture) b.capture->input_ptrs.push_back(d.raw());
        host[plan.input_slots[k]] = inputs[k];
        dev[plan.input_slots[k]] = std::move(d);
      }

      std::shared_lock capture_lock(capture_mutex_, std::defer_lock);
      if (b.capture) capture_lock.lock();
      bool capturing = b.capture && cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess;
      if (b.capture && !capturing) {
        b.capture_failed = true;
        b.capture_error = std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(cudaGetLastError());
        return ok_status();
      }
      // No exception may leave while the stream captures: it would stay in capture mode, and
      // every later call on the lane would fail.
      try {
        st = run_steps(b, dev, host, capturing);
      } catch (const std::bad_alloc&) {
        st = resource_exhausted("out of memory");
      } catch (const std::exception& e) {
        if (!capturing) throw;
        st = internal_error(std::string("under graph capture: ") + e.what());
      }
      if (capturing) {
        cudaGraph_t graph = nullptr;
        const cudaError_t end = cudaStreamEndCapture(stream, &graph);  // always: ends even an invalidated capture
        capture_lock.unlock();
        cudaError_t inst = cudaErrorUnknown;
        if (st.ok() && end == cudaSuccess && graph) inst = cudaGraphInstantiate(&b.capture->graph, graph, 0);
        if (graph) cudaGraphDestroy(graph);
        if (!st.ok() || inst != cudaSuccess) {
          b.capture_failed = true;
          b.capture_error = !st.ok()              ? st.message()
                            : end != cudaSuccess  ? std::string("cudaStreamEndCapture: ") + cudaGetErrorString(end)
                                                  : std::string("cudaGraphInstantiate: ") + cudaGetErrorString(inst);
          b.capture->graph = nullptr;
          return ok_status();  // run_batch waits for the copies in, enqueued before the capture
        }
        // A graph output that never reached the device (a shape-only result) is fixed for this
        // input shape: replay hands out the host value.
        for (int s : plan.output_slots) b.capture->outputs.push_back(dev[s].empty() ? host[s] : dev[s]);
        if (const cudaError_t e = cudaGraphLaunch(b.capture->graph, stream); e != cudaSuccess) {
          // A graph that cannot start is not kept: the batch runs again step by step, where a real
          // error shows as itself (run_on_lane drops the graph).
          b.capture_failed = b.launch_failed = true;
          b.capture_error = std::string("cudaGraphLaunch: ") + cudaGetErrorString(e);
          return ok_status();
        }
      }
      if (!st.ok()) {
        // A step that failed on the host may come after one whose kernel recorded a bad value: the
        // CPU would have stopped at that earlier one, so its error wins (run_batch waits anyway).
        if (const Status fault = read_fault_after_sync(lane, plan, ""); fault.code() == StatusCode::kInvalidArgument) return fault;
        return st;
      }
      std::vector<const Tensor*> outs;
      std::vector<const Tensor*> host_outs;
      for (int s : plan.output_slots) {
        outs.push_back(dev[s].empty() ? nullptr : &dev[s]);
        host_outs.push_back(&host[s]);
      }
      SS_RETURN_IF_ERROR(copy_out(lane, plan, outs, host_outs, outputs));
    }
    return ok_status();
  }

  // Runs the plan's steps on the lane's stream. While capturing, a step that needs the host to
  // wait for device data fails (the caller then runs the batch again without capturing).
  Status run_steps(Batch& b, std::vector<Tensor>& dev, std::vector<Tensor>& host, bool capturing) const {
    const cudaStream_t stream = b.lane.h.stream;
    // A captured graph zeroes it too (a memset node), so every replay starts with a clean record.
    SS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(b.lane.h.fault, 0, sizeof(kernels::DeviceFault), stream));
    for (std::size_t step_index = 0; step_index < b.plan.steps.size(); ++step_index) {
      const auto& step = b.plan.steps[step_index];
      if (step.shape_only && b.folded) {
        for (int s : step.free_after) dev[s] = host[s] = Tensor();
        continue;
      }
      Status st;
      if (step.shape_only) {
        // On the host with the CPU function: inputs are host values (Shape reads only the shape).
        ScopedTensorAllocator heap(nullptr);
        OpContext ctx{*step.node, {}, {}};
        for (int s : step.inputs) ctx.inputs.push_back(s < 0 ? nullptr : !host[s].empty() ? &host[s] : dev[s].empty() ? nullptr : &dev[s]);
        ctx.outputs.resize(step.outputs.size());
        st = op_run_cpu(*step.op, ctx);
        if (!st.ok()) return st.with_context(step.node->describe() + ": ");
        for (std::size_t k = 0; k < step.outputs.size(); ++k) {
          if (step.outputs[k] < 0) continue;
          host[step.outputs[k]] = std::move(ctx.outputs[k]);
          if (b.keep_folded) b.keep_folded->emplace_back(step.outputs[k], host[step.outputs[k]]);
        }
      } else {
        CudaOpContext ctx(*step.node, b.lane.h, step_index);
        for (std::size_t k = 0; k < step.inputs.size(); ++k) {
          const int s = step.inputs[k];
          if (s < 0) {
            ctx.inputs.push_back(nullptr);
            continue;
          }
          const bool on_host = k < 32 && (step.op->cuda_host_inputs >> k) & 1u;
          if (on_host) {
            // A graph input deciding a launch (a Reshape's shape fed by the job) differs from batch
            // to batch: a graph would replay the captured batch's launch.
            if (capturing && std::find(b.plan.input_slots.begin(), b.plan.input_slots.end(), s) != b.plan.input_slots.end())
              return unavailable(step.node->describe() + " reads a graph input on the host");
            if (host[s].empty() && !dev[s].empty()) {
              // A value computed on the device decides a launch: wait for it (cannot be captured).
              if (capturing) return unavailable(step.node->describe() + " reads device data on the host");
              ScopedTensorAllocator heap(nullptr);
              Tensor h(dev[s].dtype(), dev[s].shape());
              {
                std::unique_lock device_wide(capture_mutex_);  // into pageable memory (not capturing here)
                SS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(h.raw(), dev[s].raw(), dev[s].nbytes(), cudaMemcpyDeviceToHost, stream));
              }
              // A zero slice must not decide a launch.
              SS_RETURN_IF_ERROR(read_fault_after_sync(b.lane, b.plan, step.node->describe() + ", reading an input on the host: "));
              host[s] = std::move(h);
            }
            ctx.inputs.push_back(host[s].empty() ? nullptr : &host[s]);
          } else {
            if (dev[s].empty() && !host[s].empty()) {
              // A shape-only result read as data (BERT's position ids: Gather of a constant table
              // at Range(Shape)). From pageable memory, which a capture cannot copy; under capture
              // from the copy uploaded before it (upload_folded), into the buffer the plan gives.
              const Tensor* up = nullptr;
              if (b.capture) {
                auto f = b.capture->folded_dev.find(s);
                if (f != b.capture->folded_dev.end()) up = &f->second;
              }
              if (capturing && !up) return unavailable(step.node->describe() + " reads a shape-only result as device data");
              try {
                Tensor d(host[s].dtype(), host[s].shape());
                // From pageable memory only where not capturing (so capture_mutex_ is not held shared here).
                std::unique_lock device_wide(capture_mutex_, std::defer_lock);
                if (!up) device_wide.lock();
                SS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(d.raw(), up ? up->raw() : host[s].raw(), host[s].nbytes(),
                                                        up ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice, stream));
                dev[s] = std::move(d);
              } catch (const DeviceOutOfMemory&) {
                return resource_exhausted(step.node->describe() + ": out of device memory");
              }
            }
            ctx.inputs.push_back(dev[s].empty() ? nullptr : &dev[s]);
          }
        }
        ctx.outputs.resize(step.outputs.size());
        try {
          st = timed(stream, step.node->domain.empty() ? step.node->op_type : step.node->domain + ":" + step.node->op_type,
                     [&] { return step.op->cuda(ctx); });
        } catch (const DeviceOutOfMemory&) {
          st = resource_exhausted("out of device memory");
        } catch (const DeviceAllocFailed& e) {
          st = internal_error(e.what());
        }
        if (!st.ok() && sync_steps_) {
          // The hint asks for this very switch: the node named is already the right one.
          std::string m = st.message();
          if (const auto at = m.find(kDeviceFaultHint); at != std::string::npos) m.erase(at);
          st = Status(st.code(), std::move(m));
        }
        if (st.ok() && sync_steps_) {
          // Not cuda_status: its hint asks for this very switch.
          if (const cudaError_t e = cudaStreamSynchronize(stream); e != cudaSuccess) {
            st = internal_error(std::string("its work failed on the device: ") + cudaGetErrorName(e) + " (" +
                                cudaGetErrorString(e) + ")");
          }
        }
        if (!st.ok()) return st.with_context(step.node->describe() + ": ");
        for (std::size_t k = 0; k < step.outputs.size(); ++k) {
          if (step.outputs[k] < 0) continue;
          if (ctx.outputs[k].empty()) {
            return internal_error(step.node->describe() + " did not produce output '" + step.node->outputs[k] + "'");
          }
          if (!ctx.outputs[k].on_device()) {
            return internal_error(step.node->describe() + ": its CUDA function returned a host tensor");
          }
          dev[step.outputs[k]] = std::move(ctx.outputs[k]);
        }
      }
      for (int s : step.free_after) dev[s] = host[s] = Tensor();
    }
    return ok_status();
  }

  // Synchronizes the lane's stream with its fault record copied back, and fails as the CPU
  // function of the first failing step would have (a node's error, InvalidArgument). A CUDA error
  // of the copy or the wait (a kernel's fault on the device) is prefixed with `during`.
  static Status read_fault_after_sync(Lane& lane, const Plan& plan, const std::string& during) {
    if (const cudaError_t e = cudaMemcpyAsync(lane.fault_host, lane.h.fault, sizeof(kernels::DeviceFault),
                                              cudaMemcpyDeviceToHost, lane.h.stream);
        e != cudaSuccess) {
      return cuda_status(e, "cudaMemcpyAsync(lane.fault_host, lane.h.fault, ...)").with_context(during);
    }
    if (const cudaError_t e = cudaStreamSynchronize(lane.h.stream); e != cudaSuccess)
      return cuda_status(e, "cudaStreamSynchronize(lane.h.stream)").with_context(during);
    const kernels::DeviceFault f = *lane.fault_host;
    if (f.tag == 0) return ok_status();
    const std::size_t step = f.tag - 1;
    const std::string node = step < plan.steps.size() ? plan.steps[step].node->describe() : "step " + std::to_string(step);
    return device_fault_status(f).with_context(node + ": ");
  }

  // Device outputs to host tensors through pinned staging; one synchronization per batch.
  Status copy_out(Lane& lane, const Plan& plan, const std::vector<const Tensor*>& dev_outs,
                  const std::vector<const Tensor*>& host_outs, std::vector<Tensor>* outputs) const {
    std::size_t bytes = 0;
    for (const Tensor* t : dev_outs)
      if (t) bytes += (t->nbytes() + 255) / 256 * 256;
    SS_RETURN_IF_ERROR(reserve_staging(lane.staging_out, bytes));
    std::size_t off = 0;
    SS_RETURN_IF_ERROR(timed(lane.h.stream, "(copy out)", [&]() -> Status {
      for (const Tensor* t : dev_outs) {
        if (!t) continue;
        SS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(lane.staging_out.data() + off, t->raw(), t->nbytes(), cudaMemcpyDeviceToHost, lane.h.stream));
        off += (t->nbytes() + 255) / 256 * 256;
      }
      return ok_status();
    }));
    SS_RETURN_IF_ERROR(read_fault_after_sync(lane, plan, "after the last step, copying the outputs to the host: "));
    outputs->clear();
    off = 0;
    ScopedTensorAllocator heap(nullptr);
    for (std::size_t k = 0; k < dev_outs.size(); ++k) {
      if (const Tensor* t = dev_outs[k]) {
        outputs->push_back(Tensor::copy_of(t->dtype(), t->shape(), lane.staging_out.data() + off));
        off += (t->nbytes() + 255) / 256 * 256;
      } else {
        outputs->push_back(*host_outs[k]);  // a constant or shape-only output, already on the host
      }
    }
    return ok_status();
  }

  // Copies the inputs in, launches the shape's graph and copies the outputs out. *launch_failed
  // says the graph itself would not start (the error is cudaGraphLaunch's).
  Status replay(Lane& lane, const Plan& plan, LaneShape& ls, const std::vector<Tensor>& inputs,
                std::vector<Tensor>* outputs, bool* launch_failed) const {
    std::size_t in_bytes = 0;
    for (const auto& t : inputs) in_bytes += (t.nbytes() + 255) / 256 * 256;
    SS_RETURN_IF_ERROR(reserve_staging(lane.staging_in, in_bytes));
    std::size_t off = 0;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      std::memcpy(lane.staging_in.data() + off, inputs[k].raw(), inputs[k].nbytes());
      SS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ls.input_ptrs[k], lane.staging_in.data() + off, inputs[k].nbytes(),
                                              cudaMemcpyHostToDevice, lane.h.stream));
      off += (inputs[k].nbytes() + 255) / 256 * 256;
    }
    if (const cudaError_t e = cudaGraphLaunch(ls.graph, lane.h.stream); e != cudaSuccess) {
      *launch_failed = true;
      return cuda_status(e, "cudaGraphLaunch(ls.graph, lane.h.stream)");
    }
    g_graphs_replayed.fetch_add(1, std::memory_order_relaxed);
    std::vector<const Tensor*> outs, host_outs;
    for (const auto& t : ls.outputs) {
      outs.push_back(t.on_device() ? &t : nullptr);
      host_outs.push_back(&t);
    }
    return copy_out(lane, plan, outs, host_outs, outputs);
  }

  const int device_;
  const std::string device_text_ = describe_device(device_);
  const CudaPrecision precision_;
  const bool graphs_;
  const bool profile_;
  const bool sync_steps_;
  const bool cudnn_epilogue_;
  const bool cublaslt_bias_;
  const std::size_t max_lanes_;

  static std::string describe_device(int device) {
    std::string text = "GPU " + std::to_string(device);
    cudaDeviceProp prop{};
    char bus[32] = {};
    const bool named = cudaGetDeviceProperties(&prop, device) == cudaSuccess;
    const bool placed = cudaDeviceGetPCIBusId(bus, sizeof bus, device) == cudaSuccess;
    (void)cudaGetLastError();
    if (named || placed) {
      text += " (" + std::string(named ? prop.name : "") + (named && placed ? ", " : "") +
              (placed ? "PCI " + std::string(bus) : std::string()) + ")";
    }
    return text;
  }

  // SHARDSCORE_CUDA_PROFILE: per op type (or "(copy in)" / "(copy out)"), milliseconds and calls.
  mutable std::mutex profile_mutex_;
  mutable std::map<std::string, std::pair<double, int64_t>> profile_ms_;

  // Runs f on the stream between two events and adds the time between them to `what`.
  template <typename F>
  Status timed(cudaStream_t stream, const std::string& what, F&& f) const {
    if (!profile_) return f();
    cudaEvent_t e0 = nullptr, e1 = nullptr;
    SS_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e0));
    SS_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e1));
    struct Destroy {
      cudaEvent_t a, b;
      ~Destroy() {
        cudaEventDestroy(a);
        cudaEventDestroy(b);
      }
    } destroy{e0, e1};
    SS_CUDA_RETURN_IF_ERROR(cudaEventRecord(e0, stream));
    Status st = f();
    SS_CUDA_RETURN_IF_ERROR(cudaEventRecord(e1, stream));
    SS_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(e1));
    float ms = 0;
    SS_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, e0, e1));
    std::lock_guard lock(profile_mutex_);
    auto& [total, calls] = profile_ms_[what];
    total += ms;
    ++calls;
    return st;
  }

  void log_profile() const {
    std::lock_guard lock(profile_mutex_);
    double all = 0;
    for (const auto& [what, v] : profile_ms_) all += v.first;
    std::vector<std::pair<double, std::string>> rows;
    for (const auto& [what, v] : profile_ms_) rows.emplace_back(v.first, what);
    std::sort(rows.rbegin(), rows.rend());
    log_line("cuda profile (SHARDSCORE_CUDA_PROFILE=1, device " + std::to_string(device_) + "): " +
             std::to_string(all) + " ms in all");
    for (const auto& [ms, what] : rows) {
      char line[160];
      std::snprintf(line, sizeof line, "  %-32s %8lld calls %12.3f ms %6.1f%%", what.c_str(),
                    static_cast<long long>(profile_ms_.at(what).second), ms, all > 0 ? 100.0 * ms / all : 0.0);
      log_line(line);
    }
  }

  // Held shared while a lane's stream captures a graph, and exclusive around the calls that may
  // synchronize the whole device (cudaMalloc / cudaFree, cudaHostAlloc / cudaFreeHost, copies from
  // pageable memory): CUDA refuses those while any stream of the context captures, and one made by
  // another lane's thread would invalidate that capture. Taken after lanes_mutex_,
  // constants_mutex_ and a ShapeMemory's mutex, never the other way round.
  mutable std::shared_mutex capture_mutex_;
  mutable std::mutex lanes_mutex_;
  mutable std::condition_variable lanes_cv_;
  mutable std::vector<std::unique_ptr<Lane>> lanes_;
  mutable std::map<const Lane*, bool> busy_;
  mutable std::size_t lane_limit_ = max_lanes_;  // lowered where a lane could not be made

  mutable std::mutex constants_mutex_;
  mutable std::map<uint64_t, std::vector<std::pair<int, Tensor>>> constants_;

  mutable std::mutex memory_mutex_;
  mutable std::map<std::string, std::shared_ptr<ShapeMemory>> memory_;
};

StatusOr<std::unique_ptr<Backend>> backend_cuda_create(const CudaBackendOptions& options) {
  int count = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    return unavailable(std::string("no CUDA device is visible") +
                       (e != cudaSuccess ? std::string(" (") + cudaGetErrorString(e) + ")" : std::string()));
  }
  const int device = options.device % count;
  CudaPrecision precision = CudaPrecision::kFp32;
  if (options.precision == "tf32") precision = CudaPrecision::kTf32;
  else if (options.precision == "fp16") precision = CudaPrecision::kFp16;
  else if (options.precision == "bf16") precision = CudaPrecision::kBf16;  // the engine converts the graph
  else if (options.precision != "fp32") return invalid_argument("precision '" + options.precision + "' is not one of fp32, tf32, fp16, bf16");
  // The measuring switches: SHARDSCORE_CUDA_<name> set to exactly `value` (env_is, common/env.h).
  const bool graphs = !env_is("SHARDSCORE_CUDA_GRAPHS", "0");
  const bool profile = env_is("SHARDSCORE_CUDA_PROFILE", "1");
  if (profile) log_line("cuda: SHARDSCORE_CUDA_PROFILE=1: every step timed, CUDA graphs off (slower; for finding the slow part)");
  const bool sync_steps = options.sync_steps || env_is("SHARDSCORE_CUDA_SYNC", "1");
  if (sync_steps) log_line("cuda: SHARDSCORE_CUDA_SYNC=1: the host waits after every step, CUDA graphs off (slower; a device fault names its node)");
  const bool cudnn_epilogue = options.cudnn_epilogue || env_is("SHARDSCORE_CUDA_CUDNN_EPILOGUE", "1");
  const bool cublaslt_bias = options.cublaslt_bias && !env_is("SHARDSCORE_CUDA_CUBLASLT_BIAS", "0");
  int max_lanes = options.max_lanes;
  if (const char* lanes_env = std::getenv("SHARDSCORE_CUDA_LANES"); lanes_env && *lanes_env) {
    char* end = nullptr;
    const long v = std::strtol(lanes_env, &end, 10);
    if (*end != '\0' || v < 1 || v > 64) {
      return invalid_argument("SHARDSCORE_CUDA_LANES='" + std::string(lanes_env) + "' is not a number of lanes from 1 to 64");
    }
    max_lanes = static_cast<int>(v);
  }
  if (max_lanes < 1 || max_lanes > 64) return invalid_argument("max_lanes " + std::to_string(max_lanes) + " is not from 1 to 64");
  SS_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  auto backend = std::make_unique<CudaBackend>(device, precision, graphs, profile, sync_steps, cudnn_epilogue,
                                               cublaslt_bias, static_cast<std::size_t>(max_lanes));
  SS_RETURN_IF_ERROR(backend->init_first_lane());
  return std::unique_ptr<Backend>(std::move(backend));
}

CudaGraphCounts cuda_graph_counts() { return {g_graphs_captured.load(), g_graphs_refused.load(), g_graphs_replayed.load()}; }

int cuda_visible_devices() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

}  // namespace shardscore
