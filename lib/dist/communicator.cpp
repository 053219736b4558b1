#include "dist/communicator.hpp"

#include <mpi.h>

#include <chrono>
#include <exception>
#include <mutex>
#include <vector>

#include "common/error.hpp"

namespace cxr::dist {
namespace {

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kInt32: return MPI_INT32_T;
    case torch::kUInt8: return MPI_UINT8_T;
    default: throw RuntimeError(std::string("MPI communicator: unsupported tensor type ") + c10::toString(t.scalar_type()));
  }
}

void check_host(const torch::Tensor& t) {
  if (!t.device().is_cpu()) throw RuntimeError("MPI communicator: tensor is on " + t.device().str() + ", expected CPU");
  if (!t.is_contiguous()) throw RuntimeError("MPI communicator: tensor must be contiguous");
}

std::string describe(const char* op, const torch::Tensor& t) {
  return std::string(op) + " of " + std::to_string(t.numel()) + " " + c10::toString(t.scalar_type()) + " values";
}

// The host's clock (thread-safe: a collective's end may be seen by another thread).
class HostTimeline : public Timeline {
 public:
  void start() override {
    std::lock_guard<std::mutex> lock(mutex_);
    marks_.clear();
    origin_ = Clock::now();
  }
  Mark mark() override {
    const auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mutex_);
    marks_.push_back(now);
    return marks_.size() - 1;
  }
  double seconds(Mark m) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::chrono::duration<double>(marks_.at(m) - origin_).count();
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::mutex mutex_;
  Clock::time_point origin_ = Clock::now();
  std::vector<Clock::time_point> marks_;
};

class MpiWork : public Work {
 public:
  MpiWork(Watchdog& watchdog, std::string what, Timeline* timeline)
      : watchdog_(watchdog), what_(std::move(what)), timeline_(timeline) {
    if (timeline_) start_ = timeline_->mark();
  }
  MPI_Request* request() { return &request_; }
  void wait() override {
    if (request_ != MPI_REQUEST_NULL) {
      const auto watch = watchdog_.watch(what_);
      MPI_Wait(&request_, MPI_STATUS_IGNORE);
    }
    seen_finished();
  }
  bool test() override {
    int done = 1;
    if (request_ != MPI_REQUEST_NULL) MPI_Test(&request_, &done, MPI_STATUS_IGNORE);
    if (done) seen_finished();
    return done != 0;
  }
  // Unwinding from an error, peers may never complete the collective: leave the request (the
  // job is about to end) rather than wait for ever.
  ~MpiWork() override {
    if (std::uncaught_exceptions() == 0) wait();
  }

 private:
  void seen_finished() {
    if (timeline_ && !end_) end_ = timeline_->mark();
  }

  MPI_Request request_ = MPI_REQUEST_NULL;
  Watchdog& watchdog_;
  std::string what_;
  Timeline* timeline_;
};

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(const World& world) : rank_(world.rank()), size_(world.size()), watchdog_(world.watchdog()) {
    // A communicator of our own, so tensor collectives never match host collectives by accident.
    const auto watch = watchdog_.watch("MPI_Comm_dup");
    MPI_Comm_dup(world.comm(), &comm_);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce_sum(torch::Tensor& t) override {
    check_host(t);
    if (size_ == 1) return;
    const auto watch = watchdog_.watch(describe("MPI_Allreduce", t));
    MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), MPI_SUM, comm_);
  }
  std::unique_ptr<Work> all_reduce_sum_async(torch::Tensor& t, Timeline* timeline) override {
    check_host(t);
    auto work = std::make_unique<MpiWork>(watchdog_, describe("MPI_Iallreduce", t), timeline);
    if (size_ > 1) MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), MPI_SUM, comm_, work->request());
    return work;
  }
  std::unique_ptr<Timeline> make_timeline() override { return std::make_unique<HostTimeline>(); }
  void broadcast(torch::Tensor& t, int root) override {
    check_host(t);
    if (size_ == 1) return;
    const auto watch = watchdog_.watch(describe("MPI_Bcast", t));
    MPI_Bcast(t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), root, comm_);
  }

 private:
  int rank_, size_;
  Watchdog& watchdog_;
  MPI_Comm comm_ = MPI_COMM_NULL;
};

// Weak: a communicator dies with its owner (the trainer), before the World and its watchdog.
std::vector<std::weak_ptr<Communicator>> slots;

}  // namespace

std::shared_ptr<Communicator> make_mpi_communicator(const World& world) { return std::make_shared<MpiCommunicator>(world); }

std::int64_t autograd_slot(const std::shared_ptr<Communicator>& comm) {
  for (std::size_t i = 0; i < slots.size(); ++i)
    if (slots[i].lock() == comm) return static_cast<std::int64_t>(i);
  slots.push_back(comm);
  return static_cast<std::int64_t>(slots.size() - 1);
}

Communicator& communicator_in_slot(std::int64_t slot) {
  const auto comm = slots.at(static_cast<std::size_t>(slot)).lock();
  if (!comm) throw RuntimeError("a synchronised batch norm outlived its communicator");
  return *comm;  // its owner keeps it alive while the model runs
}

}  // namespace cxr::dist
