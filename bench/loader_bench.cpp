#include "loader_bench.hpp"

#include <chrono>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>

#include "loader/dataset.hpp"
#include "noise/noise.hpp"

nlohmann::json bench_loader(const std::string& dataset, int batch, int steps, int threads) {
  torch::set_num_threads(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const cxr::loader::Dataset data(dataset, "train");
  const cxr::loader::DistributedSampler sampler(data.size(), static_cast<std::size_t>(batch), 0, 1, 1);
  const auto n = std::min<std::size_t>(static_cast<std::size_t>(steps), sampler.steps_per_epoch());
  if (n < 2) throw std::runtime_error(fmt::format("{} holds {} training images: too few for 2 batches of {}", dataset, data.size(), batch));
  // The first batch starts the thread and fills the queue: time from the second on.
  cxr::loader::Prefetcher loader(data, sampler, cxr::noise::NoiseOptions().sigma(0.1), 0, 0, n, 1, false);
  loader.next();
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t s = 1; s < n; ++s) loader.next();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double ips = static_cast<double>((n - 1) * static_cast<std::size_t>(batch)) / seconds;
  std::cout << fmt::format("# loader: {} batches of {} at {}x{}, {} intra-op threads\n", n - 1, batch, data.image_size(),
                           data.image_size(), torch::get_num_threads());
  std::cout << fmt::format("{:<22} {:>10.3f} {:>12.1f}\n", "read + noise", seconds, ips);
  return {{"what", "loader"}, {"dataset", dataset}, {"batch", batch}, {"batches", n - 1}, {"size", data.image_size()},
          {"threads", torch::get_num_threads()}, {"seconds", seconds}, {"images_per_s", ips}};
}
