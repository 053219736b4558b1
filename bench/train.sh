#!/usr/bin/env bash
# The training benchmark of docs/BENCHMARKS.md: U-Net and U-Net++ (base width 64) at 256x256 on
# this machine's CPUs, cxr-train with 1 rank (2 threads) and 2 ranks (1 thread each, the same
# global batch), against the reference's Python PyTorch step (same network, batch and settings)
# run in the same script. Reports images/s and cxr-train's time split from its per-step logs
# (the first step, a warm-up, is left out).
#   bench/train.sh [STEPS] [BATCH]        (defaults 3 timed steps, global batch 2)
# Environment: CXR_BUILD_DIR (default build/), CXR_BENCH_PYTHON (a Python with torch; default:
# build-torch-wheel/venv/bin/python, the CI's wheel venv).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
steps="${1:-3}"
batch="${2:-2}"
py="${CXR_BENCH_PYTHON:-$root/build-torch-wheel/venv/bin/python}"
sample="$root/../shared/data/nih-sample"
if [ -d "$sample" ]; then src="$sample"; else src="$tmp/synth"; "$build/app/cxr-synth" --output "$src" --count 80 --size 256 2>/dev/null; fi
"$build/preprocess/cxr-preprocess" --input "$src" --output "$tmp/ds" --size 256 2>/dev/null

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
echo "# $("$build/app/cxr-train" --version); global batch $batch at 256x256, $steps timed steps after 1 warm-up"
summary() {  # run dir, label
  python3 - "$1" "$2" "$results/train-$2.json" <<'PY'
import json, sys, glob
rows = [[json.loads(l) for l in open(f) if '"event"' not in l] for f in sorted(glob.glob(sys.argv[1] + "/logs/rank-*.jsonl"))]
timed = [r[1:] for r in rows]  # drop the warm-up step
n = len(timed[0])
step = sum(s["step_s"] for s in timed[0]) / n
parts = {k: max(sum(s[k] for s in t) / n for t in timed) for k in ("data_s", "compute_s", "comm_exposed_s", "optim_s")}
ips = sum(s["images_per_s"] for s in timed[0]) / n
out = {"label": sys.argv[2], "ranks": len(rows), "step_s": step, "images_per_s": ips, **parts,
       "max_rss_mb": max(t[-1]["max_rss_mb"] for t in timed)}
json.dump(out, open(sys.argv[3], "w"), indent=2)
print(f"{sys.argv[2]:<28} {ips:>8.3f} img/s  step {step:6.2f} s  data {parts['data_s']:.3f}  compute {parts['compute_s']:.2f}"
      f"  comm {parts['comm_exposed_s']:.3f}  optim {parts['optim_s']:.3f}  rss {out['max_rss_mb']:.0f} MB")
PY
}
for model in unet unetpp; do
  common=(--data "$tmp/ds" --model $model --norm batch --epochs 1 --max-steps $((steps + 1)) train.val_every=0 train.log_every=1)
  "$build/app/cxr-train" "${common[@]}" --batch-size "$batch" train.threads=2 --run-dir "$tmp/$model-1" 2>/dev/null
  summary "$tmp/$model-1" "$model-cxr-1rank"
  if [ $((batch % 2)) -eq 0 ]; then
    mpirun --oversubscribe -n 2 "$build/app/cxr-train" "${common[@]}" --batch-size $((batch / 2)) train.threads=1 --run-dir "$tmp/$model-2" 2>/dev/null
    summary "$tmp/$model-2" "$model-cxr-2ranks"
  fi
  if [ -x "$py" ]; then
    "$py" "$root/bench/reference_train.py" --model $model --batch "$batch" --steps "$steps" --threads 2 --json "$results/train-$model-python.json"
  else
    echo "# no Python with torch at $py: reference timing skipped (set CXR_BENCH_PYTHON)"
  fi
done
