#pragma once
// cxr-bench allreduce: the collective the trainer's gradients ride on, measured the way
// nccl-tests measures it: in-place all-reduce (sum) of growing messages over every rank, a few
// warm-up iterations, then timed ones; time per call, algorithm bandwidth (bytes / time) and bus
// bandwidth (algbw x 2(n-1)/n: what each link carries in a ring, comparable across rank counts);
// after the timed loop the result of one more call is checked, and wrong elements set the exit
// code. With --buckets it times the trainer's own gradient buckets for a model instead.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "dist/world.hpp"

struct AllReduceBenchOptions {
  std::string backend = "auto";  // auto (NCCL when a GPU is there), mpi, nccl
  std::string dtype = "float32";  // float32; bfloat16 and float16 with NCCL
  std::int64_t min_bytes = 1 << 10, max_bytes = std::int64_t{512} << 20;
  int factor = 2, warmup = 5, iters = 20;
  double buckets_mb = 0;  // > 0: the trainer's bucket layout for the model below, at this size
  std::string model = "unet";
  int base_width = 64, depth = 4;
};

// Collective. Rank 0 prints the table; every rank returns the same JSON; "wrong" > 0 on errors.
nlohmann::json bench_allreduce(cxr::dist::World& world, const AllReduceBenchOptions& options);
