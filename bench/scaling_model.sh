#!/usr/bin/env bash
# Validates the scaling model (docs/SCALING.md) on this machine: a weak-scaling study of U-Net
# base 32 at 64x64, batch 4 per rank, one intra-op thread per rank, at 1, 2, 3 and 4 ranks (3 and
# 4 oversubscribe a 2-core machine), plus the MPI all-reduce benchmark at 2 ranks. cxr-reduce
# fits the model to the 1-rank run and the benchmark and prints, next to each measured point,
# the images/s it predicts and the error. (The points run one after another; nothing else runs.)
#   bench/scaling_model.sh [STEPS] [RANKS...]      (defaults: 24 steps; 1 2 3 4)
# Writes bench/results/scaling-model-cpu${CXR_RESULT_TAG}.json.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
steps="${1:-24}"
shift || true
ranks=("${@:-1 2 3 4}")
read -r -a ranks <<<"${ranks[*]}"
synthetic_dataset 256 64 "$tmp/ds"
machine_line
echo "# $("$build/app/cxr-train" --version | head -1); U-Net base 32 at 64x64, batch 4 per rank, 1 thread per rank, $steps steps"
mpirun --oversubscribe -n 2 "$build/bench/cxr-bench" allreduce --backend mpi --max-bytes $((64 << 20)) --json "$results/allreduce-mpi-2-64mb.json" >/dev/null
runs=()
for n in "${ranks[@]}"; do
  mpirun --oversubscribe -n "$n" "$build/app/cxr-train" --data "$tmp/ds" model.base_width=32 train.threads=1 train.device=cpu \
    --epochs 100 --max-steps "$steps" train.val_every=0 train.checkpoint_every=1000 --batch-size 4 train.bucket_mb=5 \
    --run-dir "$tmp/ranks-$n" 2>/dev/null
  runs+=("$tmp/ranks-$n")
done
"$build/app/cxr-reduce" --training-only --no-plots "${runs[@]}" --allreduce "$results/allreduce-mpi-2-64mb.json" --out "$tmp/summary" 2>/dev/null
python3 - "$tmp/summary/summary.json" "$results/scaling-model-cpu${CXR_RESULT_TAG:-}.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
json.dump({"points": s["scaling"], "model": s["scaling_model"]}, open(sys.argv[2], "w"), indent=2)
print("| ranks | measured images/s | predicted images/s | error | median step s | spread |")
print("|---|---|---|---|---|---|")
for p in s["scaling"]:
    print(f"| {p['ranks']:.0f} | {p['images_per_s']:.2f} | {p['predicted_images_per_s']:.2f} | {100 * p['prediction_error']:+.1f} % | "
          f"{p['step_s_median']:.3f} | {100 * p['step_s_spread']:.0f} % |")
PY
sed -n '/### Projection/,$p' "$tmp/summary/summary.md"
