#pragma once
// cxr-train's loop: data-parallel training of a denoiser over MPI ranks; every rank of the world
// calls run_training(). One step: wait for the prefetched batch -> forward under autocast ->
// backward (gradient buckets all-reduced as they fill) -> wait for the buckets -> unscale / check
// for inf/NaN -> clip -> optimizer step (or skip, on every rank together) -> log. Between steps
// the ranks agree on stopping (SIGUSR1/SIGTERM): they checkpoint and exit with kExitRequeue.
#include "config/config.hpp"
#include "dist/world.hpp"

namespace cxr::train {

// kExitOk when training finished, kExitRequeue after a stop; CollectiveError for agreed errors.
int run_training(dist::World& world, const config::Config& config);

// Installs the SIGUSR1/SIGTERM handlers that ask training to stop at the next step.
void install_stop_handlers();

}  // namespace cxr::train
