#pragma once
// cxr-eval: a trained model (and the noisy input and classical filters, as floors) on one split,
// every image exactly once across ranks, per-image metrics to eval/rank-NNNNN.csv, and image
// grids (clean | noisy | denoised | error) to samples/. Collective: every rank calls it.
#include <string>
#include <vector>

#include "dist/world.hpp"

namespace cxr::eval {

struct EvalOptions {
  std::string run_dir;
  std::string checkpoint = "best";      // best | latest | a file
  std::string data_dir;                 // default: the run's data.dir
  std::string split = "test";
  std::vector<double> sigmas;           // default: the run's noise.sigma
  std::vector<std::string> methods = {"model", "noisy", "gaussian", "median"};
  std::string out_dir;                  // default: the run directory
  std::string device = "auto";          // auto | cpu | cuda (the local rank's GPU)
  int batch_size = 8;
  int samples = 4;                      // image grids per sigma
  std::uint64_t noise_seed = 0;         // the same noisy test images for every run and model
  std::string lpips_backbone;           // converted AlexNet features (.json); empty: LPIPS unavailable
  std::string lpips_lin;                // LPIPS v0.1 lin weights (.json), e.g. shared/data/lpips/converted
  double timeout_s = 600;               // dist.timeout_s: the longest wait in any collective
};

int run_evaluation(dist::World& world, const EvalOptions& options);

}  // namespace cxr::eval
