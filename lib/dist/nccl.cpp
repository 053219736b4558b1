// The NCCL backend of dist::Communicator (CXR_HAVE_NCCL; otherwise asking for it is a clear error).
//
// All-reduces run on a side stream: it first waits (on the GPU, not the host) for an event
// recorded after the compute that produced the tensor, and the consumer's stream later waits for
// the all-reduce's event; the host never waits for NCCL here. Every collective leaves an event in
// an in-flight list that the watchdog probes: a collective that outlives dist.timeout_s, or an
// asynchronous NCCL error, makes it abort this communicator (ending GPU kernels stuck waiting for
// a dead peer) and then the job.
#include "common/error.hpp"
#include "dist/communicator.hpp"

#ifdef CXR_HAVE_NCCL
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <list>
#include <mutex>
#include <vector>
#endif

namespace cxr::dist {

#ifndef CXR_HAVE_NCCL
std::shared_ptr<Communicator> make_nccl_communicator(const World&, int, Watchdog*) {
  throw RuntimeError("this build of cxr-denoise has no NCCL backend: it was built against a LibTorch without CUDA "
                     "(rebuild with a CUDA LibTorch, for example the PyPI torch wheel's)");
}
#else
namespace {

void check_cuda(cudaError_t rc, const char* what, const char* file, int line) {
  if (rc != cudaSuccess)
    throw RuntimeError(std::string(file) + ":" + std::to_string(line) + ": " + what + ": " + cudaGetErrorString(rc));
}
#define CXR_CUDA(call) check_cuda((call), #call, __FILE__, __LINE__)

ncclDataType_t nccl_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kFloat16: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    case torch::kInt64: return ncclInt64;
    case torch::kInt32: return ncclInt32;
    case torch::kUInt8: return ncclUint8;
    default: throw RuntimeError(std::string("NCCL communicator: unsupported tensor type ") + c10::toString(t.scalar_type()));
  }
}

// A CUDA event, destroyed when its last user lets go (the in-flight list or a Work).
using Event = std::shared_ptr<CUevent_st>;
Event make_event() {
  cudaEvent_t e;
  CXR_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return Event(e, [](cudaEvent_t ev) { cudaEventDestroy(ev); });
}

// The step's clock on the GPU: timing events recorded in stream order, reused step after step,
// read (cudaEventElapsedTime from the origin) after the step's host synchronisation.
class CudaTimeline : public Timeline {
 public:
  explicit CudaTimeline(int device) : device_(device) {}
  ~CudaTimeline() override {
    for (auto e : events_) cudaEventDestroy(e);
  }
  void start() override {
    used_ = 0;
    mark();  // mark 0 is the origin
  }
  Mark mark() override { return mark_on(c10::cuda::getCurrentCUDAStream(device_).stream()); }
  Mark mark_on(cudaStream_t stream) {
    const c10::cuda::CUDAGuard guard(device_);
    if (used_ == events_.size()) {
      cudaEvent_t e;
      CXR_CUDA(cudaEventCreate(&e));
      events_.push_back(e);
    }
    CXR_CUDA(cudaEventRecord(events_[used_], stream));
    return used_++;
  }
  double seconds(Mark m) override {
    CXR_CUDA(cudaEventSynchronize(events_.at(m)));  // already done after the step's synchronisation
    float ms = 0;
    CXR_CUDA(cudaEventElapsedTime(&ms, events_[0], events_[m]));
    return ms / 1e3;
  }

 private:
  int device_;
  std::vector<cudaEvent_t> events_;
  std::size_t used_ = 0;
};

// Finished when the consumer's stream has been told to wait for the collective's event: the
// host does not wait.
class NcclWork : public Work {
 public:
  NcclWork(Event done, int device, std::optional<Timeline::Mark> start, std::optional<Timeline::Mark> end)
      : done_(std::move(done)), device_(device) {
    start_ = start;
    end_ = end;
  }
  void wait() override {
    if (!done_) return;
    CXR_CUDA(cudaStreamWaitEvent(c10::cuda::getCurrentCUDAStream(device_).stream(), done_.get(), 0));
    done_.reset();
  }
  ~NcclWork() override {
    try {
      wait();
    } catch (...) {
    }
  }

 private:
  Event done_;
  int device_;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(const World& world, int device, Watchdog& watchdog)
      : rank_(world.rank()), size_(world.size()), device_(device), watchdog_(watchdog),
        side_(c10::cuda::getStreamFromPool(true, device)) {
    CXR_CUDA(cudaSetDevice(device));  // before ncclCommInitRank: the communicator binds to it
    ncclUniqueId id;
    if (rank_ == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    {
      const auto watch = watchdog_.watch("setting up NCCL (MPI_Bcast of the unique id, ncclCommInitRank)");
      MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, world.comm());
      check(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
    }
    probe_ = watchdog_.add_probe([this](double timeout_s) { return probe(timeout_s); });
    hook_ = watchdog_.add_abort_hook([this] { abort_communicator(); });
  }
  ~NcclCommunicator() override {
    watchdog_.remove_probe(probe_);
    watchdog_.remove_abort_hook(hook_);
    std::lock_guard<std::mutex> lock(mutex_);
    in_flight_.clear();
    // Unwinding from an error, peers may never join a destroy (it synchronises): abort instead.
    if (comm_) std::uncaught_exceptions() > 0 ? ncclCommAbort(comm_) : ncclCommDestroy(comm_);
    comm_ = nullptr;
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }

  std::unique_ptr<Work> all_reduce_sum_async(torch::Tensor& t, Timeline* timeline) override {
    check_tensor(t);
    const c10::cuda::CUDAGuard guard(device_);
    cudaStream_t compute = c10::cuda::getCurrentCUDAStream(device_).stream();
    const Event ready = make_event();
    CXR_CUDA(cudaEventRecord(ready.get(), compute));                // the gradient is written
    CXR_CUDA(cudaStreamWaitEvent(side_.stream(), ready.get(), 0));  // the side stream waits for it on the GPU
    auto* clock = dynamic_cast<CudaTimeline*>(timeline);  // only this communicator's timelines can mark its stream
    std::optional<Timeline::Mark> start, end;
    if (clock) start = clock->mark_on(side_.stream());
    check(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<std::size_t>(t.numel()), nccl_type(t), ncclSum, comm_,
                        side_.stream()),
          "ncclAllReduce");
    if (clock) end = clock->mark_on(side_.stream());
    t.record_stream(side_);  // the caching allocator must not reuse t before the side stream is done
    return std::make_unique<NcclWork>(track(side_.stream(), "ncclAllReduce", t), device_, start, end);
  }
  void all_reduce_sum(torch::Tensor& t) override { all_reduce_sum_async(t, nullptr)->wait(); }
  std::unique_ptr<Timeline> make_timeline() override { return std::make_unique<CudaTimeline>(device_); }
  void broadcast(torch::Tensor& t, int root) override {
    check_tensor(t);
    const c10::cuda::CUDAGuard guard(device_);
    cudaStream_t compute = c10::cuda::getCurrentCUDAStream(device_).stream();
    check(ncclBroadcast(t.data_ptr(), t.data_ptr(), static_cast<std::size_t>(t.numel()), nccl_type(t), root, comm_, compute),
          "ncclBroadcast");
    track(compute, "ncclBroadcast", t);
  }

 private:
  struct InFlight {
    Event done;
    std::string what;
    std::chrono::steady_clock::time_point since;
  };

  // Records the end of the collective just queued on `stream` for the watchdog's probe.
  Event track(cudaStream_t stream, const char* op, const torch::Tensor& t) {
    Event done = make_event();
    CXR_CUDA(cudaEventRecord(done.get(), stream));
    std::lock_guard<std::mutex> lock(mutex_);
    in_flight_.push_back({done,
                          fmt::format("{} of {} {} values on cuda:{}", op, t.numel(), c10::toString(t.scalar_type()), device_),
                          std::chrono::steady_clock::now()});
    return done;
  }

  // On the watchdog thread: forgets finished collectives; reports an asynchronous NCCL error or
  // the oldest collective still running after the timeout.
  std::optional<std::string> probe(double timeout_s) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!comm_) return std::nullopt;
    cudaSetDevice(device_);
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm_, &async);
    if (async != ncclSuccess && async != ncclInProgress)
      return fmt::format("NCCL asynchronous error on rank {}: {} (NCCL_DEBUG=INFO says more)", rank_, ncclGetErrorString(async));
    const auto now = std::chrono::steady_clock::now();
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
      const cudaError_t q = cudaEventQuery(it->done.get());
      if (q == cudaSuccess) {
        it = in_flight_.erase(it);
        continue;
      }
      if (q != cudaErrorNotReady) return fmt::format("CUDA error while waiting for {}: {}", it->what, cudaGetErrorString(q));
      if (auto late = Watchdog::overdue(it->what, it->since, now, timeout_s))
        return *late + "; NCCL communicator aborted";
      ++it;
    }
    return std::nullopt;
  }

  // On the watchdog thread, before the job ends: lets kernels spinning on a dead peer finish.
  void abort_communicator() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
  }

  void check(ncclResult_t rc, const char* what) {
    if (rc != ncclSuccess)
      throw RuntimeError(std::string(what) + " failed on rank " + std::to_string(rank_) + ": " + ncclGetErrorString(rc) +
                         " (NCCL_DEBUG=INFO says more)");
  }
  void check_tensor(const torch::Tensor& t) const {
    if (!t.is_cuda() || t.get_device() != device_)
      throw RuntimeError("NCCL communicator: tensor on " + t.device().str() + ", expected cuda:" + std::to_string(device_));
    if (!t.is_contiguous()) throw RuntimeError("NCCL communicator: tensor must be contiguous");
  }

  int rank_, size_, device_;
  Watchdog& watchdog_;
  ncclComm_t comm_ = nullptr;
  c10::cuda::CUDAStream side_;
  std::mutex mutex_;
  std::list<InFlight> in_flight_;
  int probe_ = -1, hook_ = -1;
};

}  // namespace

std::shared_ptr<Communicator> make_nccl_communicator(const World& world, int device, Watchdog* watchdog) {
  return std::make_shared<NcclCommunicator>(world, device, watchdog ? *watchdog : world.watchdog());
}
#endif

}  // namespace cxr::dist
