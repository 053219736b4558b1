#pragma once
// Checkpoints in a run directory on shared storage:
//
//   checkpoints/step-00001234.pt   model, optimizer, loss scaler, position, config, metrics
//   checkpoints/latest             the file name of the newest checkpoint, replaced last
//   checkpoints/best.pt            the checkpoint with the lowest validation loss so far
//
// Rank 0 writes each file under a temporary name, fsyncs, renames and fsyncs the directory, and
// only then moves `latest`: a crash at any instant leaves the previous checkpoint loadable.
// LibTorch's own writer truncates its target in place, so it never writes to a final name.
// Resuming reads them back through check_resumable: what may change between the runs.
#include <torch/torch.h>

#include <optional>
#include <string>

#include "config/config.hpp"
#include "models/models.hpp"

namespace cxr::train {

struct TrainState {
  std::int64_t epoch = 0;          // the epoch in progress
  std::int64_t step_in_epoch = 0;  // steps of that epoch already done
  std::int64_t global_step = 0;
  double loss_scale = 1.0;
  std::int64_t scale_growth_tracker = 0;
  std::optional<double> best_val_loss;  // none until a validation ran
  std::optional<double> last_val_loss;
  std::int64_t ranks = 1;          // world size that made it: a mid-epoch position is per rank count
};

struct CheckpointContent {
  TrainState state;
  std::string model_name;
  std::string model_signature;  // options that must match to load the parameters
  std::string config_yaml;
};

// "unet base=16 depth=4 norm=group residual=0 ds=0 in=1 out=1"
std::string model_signature(const models::ModelOptions& o);

class CheckpointStore {
 public:
  CheckpointStore(std::string run_dir, int keep_last);
  // Rank 0 only. Writes step-NNNNNNNN.pt, moves `latest`, prunes old ones; also best.pt if `best`.
  std::string save(const models::DenoiserImpl& model, torch::optim::Optimizer& optimizer, const CheckpointContent& content,
                   bool best);
  // The file `latest` names, if any (InputError if `latest` points at a missing file).
  std::optional<std::string> latest() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int keep_last_;
};

// Loads a checkpoint into `model` (and `optimizer` when given). Refuses, with a message naming the
// file and the mismatch, a checkpoint of another model or of incompatible options.
CheckpointContent load_checkpoint(const std::string& path, models::DenoiserImpl& model, torch::optim::Optimizer* optimizer);

// Reads only the metadata and the parameters (for cxr-inspect).
struct CheckpointSummary {
  CheckpointContent content;
  std::vector<std::pair<std::string, torch::Tensor>> tensors;  // model parameters and buffers by name
};
CheckpointSummary read_checkpoint(const std::string& path);

// A checkpoint file from a path that may be a run dir (meaning its `latest`, or `best` when
// `prefer_best`), a checkpoints/ dir, or a file.
std::string resolve_checkpoint(const std::string& path, bool prefer_best);

// Resuming continues one experiment: the guards the checkpoint `path` must pass before this run
// loads it. The noise, the seed, the per-rank batch and the optimizer must not change (they define
// what is trained and where a mid-epoch position points), and a mid-epoch position needs the rank
// count that made it. Throws InputError naming the keys. Other changes (more epochs, another lr)
// are allowed; rank 0 (`root`) lists them in the log.
void check_resumable(const CheckpointContent& checkpoint, const config::Config& config, int ranks, const std::string& path,
                     bool root);

}  // namespace cxr::train
