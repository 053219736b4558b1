#include "dist/communicator.hpp"

#include <mpi.h>

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

class MpiWork : public Work {
 public:
  explicit MpiWork(MPI_Request r) : request_(r) {}
  void wait() override {
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  ~MpiWork() override { wait(); }

 private:
  MPI_Request request_;
};

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(const World& world) : rank_(world.rank()), size_(world.size()) {
    // A communicator of our own, so tensor collectives never match host collectives by accident.
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
    MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), MPI_SUM, comm_);
  }
  std::unique_ptr<Work> all_reduce_sum_async(torch::Tensor& t) override {
    check_host(t);
    MPI_Request r = MPI_REQUEST_NULL;
    if (size_ > 1) MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), MPI_SUM, comm_, &r);
    return std::make_unique<MpiWork>(r);
  }
  void broadcast(torch::Tensor& t, int root) override {
    check_host(t);
    if (size_ == 1) return;
    MPI_Bcast(t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), root, comm_);
  }

 private:
  int rank_, size_;
  MPI_Comm comm_ = MPI_COMM_NULL;
};

struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, std::int64_t comm_slot) {
    ctx->saved_data["comm"] = comm_slot;
    torch::Tensor y = x.contiguous().clone();
    communicator_at(comm_slot)->all_reduce_sum(y);
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    torch::Tensor g = grads[0].contiguous().clone();
    communicator_at(ctx->saved_data["comm"].toInt())->all_reduce_sum(g);
    return {g, torch::Tensor()};
  }
  // Autograd's saved data holds IValues, not shared_ptrs: keep communicators in a registry.
  static std::vector<std::shared_ptr<Communicator>>& registry() {
    static std::vector<std::shared_ptr<Communicator>> r;
    return r;
  }
  static std::int64_t slot_of(const std::shared_ptr<Communicator>& c) {
    auto& r = registry();
    for (std::size_t i = 0; i < r.size(); ++i)
      if (r[i] == c) return static_cast<std::int64_t>(i);
    r.push_back(c);
    return static_cast<std::int64_t>(r.size() - 1);
  }
  static std::shared_ptr<Communicator> communicator_at(std::int64_t slot) { return registry().at(static_cast<std::size_t>(slot)); }
};

}  // namespace

std::shared_ptr<Communicator> make_mpi_communicator(const World& world) { return std::make_shared<MpiCommunicator>(world); }

torch::Tensor differentiable_all_reduce_sum(const torch::Tensor& t, const std::shared_ptr<Communicator>& comm) {
  if (!comm || comm->size() == 1) return t;
  return AllReduceSum::apply(t, AllReduceSum::slot_of(comm));
}

}  // namespace cxr::dist
