#include "config/schema.hpp"

namespace cxr::config {

const Schema& project_schema() {
  static const Schema schema = [] {
    Schema s;
    s.add({"seed", Type::Int, "0", 0, 9.0e15, {}, "seed for every random draw (split, shuffling, noise)"});

    // Where the ChestX-ray14 inputs are; empty = the standard names inside the --input root.
    s.add({"input.metadata", Type::String, "", {}, {}, {}, "metadata CSV (default: ROOT/Data_Entry_2017.csv, or _v2020, .gz)"});
    s.add({"input.train_val_list", Type::String, "", {}, {}, {}, "train/val list (default: ROOT/train_val_list.txt)"});
    s.add({"input.test_list", Type::String, "", {}, {}, {}, "test list (default: ROOT/test_list.txt)"});

    s.add({"preprocess.image_size", Type::Int, "256", 32, 1024, {}, "stored width and height in pixels"});
    s.add({"preprocess.shard_size", Type::Int, "1024", 1, 1000000, {}, "images per HDF5 shard"});
    s.add({"preprocess.limit", Type::Int, "0", 0, 1.0e9, {}, "process at most this many images (0 = all)"});
    s.add({"preprocess.gzip_level", Type::Int, "1", 0, 9, {}, "deflate level of the images dataset (0 = none)"});

    s.add({"split.mode", Type::String, "patient", {}, {}, {"patient", "image"},
           "patient: official test list, validation by patient; image: the reference's leaky random split"});
    s.add({"split.val_fraction", Type::Float, "0.1", 0.0, 0.9, {}, "patient mode: share of train_val patients used for validation"});
    s.add({"split.image_train_fraction", Type::Float, "0.5", 0.0, 1.0, {}, "image mode: share of images for training"});
    s.add({"split.image_val_fraction", Type::Float, "0.33", 0.0, 1.0, {}, "image mode: share of images for validation"});

    s.add({"data.dir", Type::String, "", {}, {}, {}, "dataset directory written by cxr-preprocess"});

    s.add({"model.name", Type::String, "unet", {}, {}, {"unet", "unetpp"}, "network"});
    s.add({"model.base_width", Type::Int, "64", 1, 1024, {}, "channels at full resolution (the reference: 64)"});
    s.add({"model.depth", Type::Int, "4", 1, 6, {}, "number of 2x downsamplings (the reference: 4)"});
    s.add({"model.norm", Type::String, "batch", {}, {}, {"batch", "syncbatch", "group", "none"},
           "norm layer: batch (per rank, buffers from rank 0), syncbatch (statistics over all ranks), group, none"});
    s.add({"model.groups", Type::Int, "8", 1, 1024, {}, "group norm: groups per layer"});
    s.add({"model.residual", Type::Bool, "false", {}, {}, {}, "predict the noise and subtract it from the input"});
    s.add({"model.deep_supervision", Type::Bool, "false", {}, {}, {}, "U-Net++: train every head x_0_j, average the losses"});

    s.add({"noise.mean", Type::Float, "0.1", -1.0, 1.0, {}, "mean of the additive Gaussian noise (the reference: 0.1)"});
    s.add({"noise.sigma", Type::Float, "0.1", 0.0, 2.0, {}, "standard deviation (the reference: 0.1, 0.2, 0.3)"});
    s.add({"noise.clip", Type::Bool, "true", {}, {}, {}, "clamp noisy images to [0, 1]"});
    s.add({"noise.mode", Type::String, "fixed", {}, {}, {"fixed", "resample"}, "fixed: one draw per image (the reference); resample: new noise every epoch"});

    s.add({"train.run_dir", Type::String, "", {}, {}, {}, "run directory (checkpoints, logs): shared storage on clusters"});
    s.add({"train.epochs", Type::Int, "50", 1, 100000, {}, "epochs"});
    s.add({"train.max_steps", Type::Int, "0", 0, 1.0e12, {}, "stop after this many optimizer steps in total (0: no limit)"});
    s.add({"train.batch_size", Type::Int, "16", 1, 65536, {}, "images per rank per step"});
    s.add({"train.lr", Type::Float, "0.001", 0.0, 10.0, {}, "learning rate (the reference: 1e-3 with Adam)"});
    s.add({"train.lr_scaling", Type::String, "none", {}, {}, {"none", "linear"},
           "linear: lr x global batch / train.reference_batch"});
    s.add({"train.reference_batch", Type::Int, "16", 1, 1.0e9, {}, "the global batch train.lr was tuned for"});
    s.add({"train.optimizer", Type::String, "adam", {}, {}, {"adam", "sgd"}, "adam (the reference's) or sgd with momentum"});
    s.add({"train.momentum", Type::Float, "0.9", 0.0, 0.999, {}, "sgd: momentum"});
    s.add({"train.weight_decay", Type::Float, "0.0", 0.0, 1.0, {}, "L2 weight decay (added to the gradient)"});
    s.add({"train.target", Type::String, "clean", {}, {}, {"clean", "noisy"},
           "clean: supervised; noisy: Noise2Noise, the target another noisy copy (no clean image needed; train.loss=mse)"});
    s.add({"train.loss", Type::String, "l1", {}, {}, {"l1", "mse", "l1_ssim"}, "training loss (the reference: l1)"});
    s.add({"train.ssim_weight", Type::Float, "0.16", 0.0, 1.0, {}, "l1_ssim: weight of (1 - SSIM)"});
    s.add({"train.schedule", Type::String, "constant", {}, {}, {"constant", "cosine", "step"}, "learning-rate schedule after warm-up"});
    s.add({"train.warmup_epochs", Type::Float, "0", 0.0, 1000.0, {}, "linear warm-up length"});
    s.add({"train.step_epochs", Type::Int, "20", 1, 100000, {}, "step schedule: epochs between decays"});
    s.add({"train.step_gamma", Type::Float, "0.1", 0.0, 1.0, {}, "step schedule: decay factor"});
    s.add({"train.grad_clip", Type::Float, "0", 0.0, 1.0e9, {}, "clip the global gradient norm to this (0: off)"});
    s.add({"train.amp", Type::String, "off", {}, {}, {"off", "fp16", "bf16"}, "mixed precision (fp16 with dynamic loss scaling needs CUDA)"});
    s.add({"train.strategy", Type::String, "ddp", {}, {}, {"ddp", "single", "dp"},
           "ddp: one process per device; single: one process; dp: one process, several local devices"});
    s.add({"train.dp_devices", Type::Int, "1", 1, 64, {}, "strategy dp on CPU: model replicas standing in for devices (GPUs: all visible)"});
    s.add({"train.device", Type::String, "auto", {}, {}, {"auto", "cpu", "cuda"}, "auto: CUDA when available"});
    s.add({"train.channels_last", Type::Bool, "true", {}, {}, {}, "CUDA: keep activations channels-last (faster convolutions with AMP)"});
    s.add({"train.deterministic", Type::Bool, "false", {}, {}, {}, "CUDA: deterministic cuDNN kernels, no autotuning (repeatable runs; slower)"});
    s.add({"train.overlap", Type::Bool, "true", {}, {}, {}, "start each gradient bucket's all-reduce during backward"});
    s.add({"train.mpi_progress", Type::Bool, "true", {}, {}, {},
           "with overlap over MPI: test the buckets in flight from every gradient hook, so the transfer moves during backward"});
    s.add({"train.bucket_mb", Type::Float, "25", 0.001, 4096.0, {}, "gradient bucket size in MB"});
    s.add({"train.val_every", Type::Int, "1", 0, 100000, {}, "validate every N epochs (0: never)"});
    s.add({"train.checkpoint_every", Type::Int, "1", 1, 100000, {}, "checkpoint every N epochs"});
    s.add({"train.keep_last", Type::Int, "3", 1, 1000, {}, "step checkpoints to keep (plus best.pt)"});
    s.add({"train.log_every", Type::Int, "10", 1, 1000000, {}, "rank 0 prints a line every N steps in batch logs"});
    s.add({"train.max_nonfinite", Type::Int, "20", 1, 1000000, {}, "abort after this many non-finite steps in a row"});
    s.add({"train.threads", Type::Int, "0", 0, 1024, {},
           "CPU threads per rank, shared by LibTorch and the loader's noise (0: OMP_NUM_THREADS, else the task's CPU set)"});
    s.add({"train.prefetch", Type::Int, "3", 1, 64, {}, "batches prepared ahead by the loader thread"});

    s.add({"dist.timeout_s", Type::Float, "600", 1.0, 1.0e6, {},
           "longest wait in any collective: a rank that waits longer reports what it waited for and aborts the job"});
    return s;
  }();
  return schema;
}

}  // namespace cxr::config
