# Sourced by the training tests: a tiny dataset (32x32 from the synthetic fixture) and tools.
source "$(dirname "$0")/common.sh"
train="$CXR_BIN/app/cxr-train"
inspect="$CXR_BIN/app/cxr-inspect"
reduce="$CXR_BIN/app/cxr-reduce"
ds="$CXR_TMP/ds"
"$preprocess" --input "$CXR_FIXTURE" --output "$ds" --size 32 --shard-size 32 2>/dev/null
# Tiny, single-threaded (deterministic) models, on CPUs also where a GPU is present (several ranks
# on one GPU is not a layout NCCL allows; tests/integration/train_gpu.sh covers the GPU).
tiny=(--data "$ds" model.base_width=4 model.depth=2 train.threads=1 train.log_every=1000 seed=3 train.device=cpu)
