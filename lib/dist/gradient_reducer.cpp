#include "dist/gradient_reducer.hpp"

#include <algorithm>

#include "common/error.hpp"
#include "common/test_hooks.hpp"

namespace cxr::dist {

GradientReducer::GradientReducer(std::vector<torch::Tensor> params, std::shared_ptr<Communicator> comm, double bucket_mb,
                                 bool overlap, bool drive_progress)
    : params_(std::move(params)), comm_(std::move(comm)), overlap_(overlap), drive_progress_(drive_progress) {
  where_.resize(params_.size());
  const auto limit = static_cast<std::int64_t>(bucket_mb * 1024 * 1024);
  Bucket current;
  std::int64_t bytes = 0, offset = 0;
  const auto close_bucket = [&] {
    current.flat = torch::zeros({offset}, params_[current.params.front()].options().requires_grad(false));
    buckets_.push_back(std::move(current));
    current = Bucket();
    bytes = offset = 0;
  };
  for (std::size_t k = params_.size(); k-- > 0;) {
    const torch::Tensor& p = params_[k];
    const std::int64_t size = p.numel() * p.element_size();
    if (!current.params.empty() && bytes + size > limit) close_bucket();
    where_[k] = {buckets_.size(), current.params.size()};
    current.params.push_back(k);
    current.offsets.push_back(offset);
    offset += p.numel();
    bytes += size;
  }
  if (!current.params.empty()) close_bucket();
  if (comm_->size() > 1) {
    for (std::size_t k = 0; k < params_.size(); ++k)
      params_[k].register_hook([this, k](const torch::Tensor& grad) { on_ready(k, grad); });
  }
}

std::vector<std::int64_t> GradientReducer::bucket_numels() const {
  std::vector<std::int64_t> out;
  for (const auto& b : buckets_) out.push_back(b.flat.numel());
  return out;
}

std::int64_t GradientReducer::bytes_per_step() const {
  if (comm_->size() == 1) return 0;
  std::int64_t bytes = 0;
  for (const auto& b : buckets_) bytes += b.flat.numel() * b.flat.element_size();
  return bytes;
}

void GradientReducer::prepare(Timeline* timeline) {
  timeline_ = timeline;
  for (auto& b : buckets_) {
    b.ready = 0;
    b.work.reset();
    b.wire.reset();
  }
}

void GradientReducer::start(Bucket& bucket) { bucket.work = comm_->all_reduce_sum_async(bucket.flat, timeline_); }

void GradientReducer::on_ready(std::size_t k, const torch::Tensor& grad) {
  auto [b, slot] = where_[k];
  Bucket& bucket = buckets_[b];
  bucket.flat.narrow(0, bucket.offsets[slot], params_[k].numel()).copy_(grad.reshape({-1}));
  if (++bucket.ready == bucket.params.size() && overlap_) start(bucket);
  if (overlap_ && drive_progress_)
    for (auto& other : buckets_)
      if (other.work) other.work->test();
}

void GradientReducer::finish() {
  if (comm_->size() == 1) return;
  for (auto& bucket : buckets_) {
    if (bucket.ready != bucket.params.size())
      throw RuntimeError("gradient reducer: " + std::to_string(bucket.params.size() - bucket.ready) +
                         " parameter(s) got no gradient this step (every parameter must take part in the loss)");
    if (!bucket.work) start(bucket);
  }
  // The average over ranks (a test hook can make the factor wrong, to prove the equivalence
  // test notices).
  const double inv = test_hooks().grad_factor / comm_->size();
  for (auto& bucket : buckets_) {
    bucket.work->wait();
    for (auto& other : buckets_)  // note the end of those that finished meanwhile
      if (other.work) other.work->test();
    bucket.wire = bucket.work->wire();
    bucket.work.reset();
    bucket.flat.mul_(inv);
    for (std::size_t s = 0; s < bucket.params.size(); ++s) {
      torch::Tensor& p = params_[bucket.params[s]];
      p.mutable_grad().copy_(bucket.flat.narrow(0, bucket.offsets[s], p.numel()).view_as(p));
    }
  }
}

double GradientReducer::wire_seconds() const {
  std::vector<std::pair<double, double>> intervals;
  for (const auto& b : buckets_)
    if (b.wire) intervals.emplace_back(timeline_->seconds(b.wire->first), timeline_->seconds(b.wire->second));
  std::sort(intervals.begin(), intervals.end());
  double covered = 0, end = -1e300;
  for (const auto& [from, to] : intervals) {
    if (to <= end) continue;
    covered += to - std::max(from, end);
    end = to;
  }
  return covered;
}

}  // namespace cxr::dist
