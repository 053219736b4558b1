// The NCCL backend of dist::Communicator, for CUDA tensors. Built when LibTorch has CUDA and NCCL
// is found (CXR_HAVE_NCCL); otherwise asking for it is a clear error.
//
// Set-up as the NCCL documentation describes it for MPI programs: rank 0 creates the unique id,
// MPI broadcasts it, every rank selects its device, then ncclCommInitRank. All-reduces run on a
// side stream: it first waits (on the GPU, not the host) for an event recorded after the compute
// that produced the tensor, and the consumer's stream later waits for the all-reduce's event.
// NCCL errors are polled with a timeout; a failure or a hang aborts the communicator and throws,
// so a broken peer ends the job instead of hanging it.
#include "common/error.hpp"
#include "dist/communicator.hpp"

#ifdef CXR_HAVE_NCCL
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#endif

namespace cxr::dist {

#ifndef CXR_HAVE_NCCL
bool nccl_available() { return false; }

std::shared_ptr<Communicator> make_nccl_communicator(const World&, int) {
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

// Seconds to wait for a collective before declaring the job hung (CXR_NCCL_TIMEOUT_S, default 600).
double nccl_timeout_s() {
  const char* v = std::getenv("CXR_NCCL_TIMEOUT_S");
  return v ? std::atof(v) : 600.0;
}

class NcclCommunicator;

class NcclWork : public Work {
 public:
  NcclWork(NcclCommunicator* owner, cudaEvent_t done) : owner_(owner), done_(done) {}
  ~NcclWork() override;
  void wait() override;

 private:
  NcclCommunicator* owner_;
  cudaEvent_t done_;
  bool waited_ = false;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(const World& world, int device)
      : rank_(world.rank()), size_(world.size()), device_(device), side_(c10::cuda::getStreamFromPool(true, device)) {
    CXR_CUDA(cudaSetDevice(device));  // before ncclCommInitRank: the communicator binds to it
    ncclUniqueId id;
    if (rank_ == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, world.comm());
    check(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
  }
  ~NcclCommunicator() override {
    if (comm_) ncclCommDestroy(comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }

  std::unique_ptr<Work> all_reduce_sum_async(torch::Tensor& t) override {
    check_tensor(t);
    const c10::cuda::CUDAGuard guard(device_);
    cudaStream_t compute = c10::cuda::getCurrentCUDAStream(device_).stream();
    cudaEvent_t ready, done;
    CXR_CUDA(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    CXR_CUDA(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    CXR_CUDA(cudaEventRecord(ready, compute));           // the gradient is written
    CXR_CUDA(cudaStreamWaitEvent(side_.stream(), ready, 0));  // the side stream waits for it on the GPU
    check(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<std::size_t>(t.numel()), nccl_type(t), ncclSum, comm_,
                        side_.stream()),
          "ncclAllReduce");
    CXR_CUDA(cudaEventRecord(done, side_.stream()));
    CXR_CUDA(cudaEventDestroy(ready));
    t.record_stream(side_);  // the caching allocator must not reuse t before the side stream is done
    return std::make_unique<NcclWork>(this, done);
  }
  void all_reduce_sum(torch::Tensor& t) override { all_reduce_sum_async(t)->wait(); }
  void broadcast(torch::Tensor& t, int root) override {
    check_tensor(t);
    const c10::cuda::CUDAGuard guard(device_);
    check(ncclBroadcast(t.data_ptr(), t.data_ptr(), static_cast<std::size_t>(t.numel()), nccl_type(t), root, comm_,
                        c10::cuda::getCurrentCUDAStream(device_).stream()),
          "ncclBroadcast");
  }

  // The consumer's stream waits for `done`; meanwhile the host polls for asynchronous NCCL errors
  // until the work is finished or the timeout passes.
  void wait_for(cudaEvent_t done) {
    CXR_CUDA(cudaStreamWaitEvent(c10::cuda::getCurrentCUDAStream(device_).stream(), done, 0));
    const auto start = std::chrono::steady_clock::now();
    while (true) {
      const cudaError_t q = cudaEventQuery(done);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) CXR_CUDA(q);
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (async != ncclSuccess || waited > nccl_timeout_s()) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        throw RuntimeError(async != ncclSuccess ? std::string("NCCL asynchronous error: ") + ncclGetErrorString(async)
                                                : "NCCL all-reduce did not finish in " + std::to_string(nccl_timeout_s()) +
                                                      " s (a peer rank died or hangs); communicator aborted");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

 private:
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
  ncclComm_t comm_ = nullptr;
  c10::cuda::CUDAStream side_;
};

NcclWork::~NcclWork() {
  if (!waited_) {
    try {
      wait();
    } catch (...) {
    }
  }
  cudaEventDestroy(done_);
}

void NcclWork::wait() {
  if (waited_) return;
  waited_ = true;
  owner_->wait_for(done_);
}

}  // namespace

bool nccl_available() { return true; }

std::shared_ptr<Communicator> make_nccl_communicator(const World& world, int device) {
  return std::make_shared<NcclCommunicator>(world, device);
}
#endif

}  // namespace cxr::dist
