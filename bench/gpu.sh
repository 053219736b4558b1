#!/usr/bin/env bash
# The GPU training benchmark of docs/BENCHMARKS.md: images/s at 256x256 on one GPU for U-Net and
# U-Net++ (base width 64, batch norm), fp32 / fp16 / bf16, cxr-train (its whole step: shard
# reads, noise, pinned copies, forward, backward, optimizer, loss read) against the reference's
# Python loop (bench/reference_train.py, data in memory: compute alone) as published and tuned
# (cuDNN autotuning, channels-last), in the same run on the same GPU. scripts/gpu-check.sh runs it.
#
#   bench/gpu.sh [--build DIR] [--out DIR] [--steps 30] [--warmup 8] [--cpu-smoke]
#
# Writes OUT/gpu-bench.json (rows, ratios, goals) and prints a table. A goal checks that the
# step's parts timed on the GPU (CUDA events) add up to the step time within 5 %. --cpu-smoke runs one tiny
# configuration on the CPU (64x64, 2 steps) to check the script where there is no GPU.
# Environment: CXR_BENCH_PYTHON (a Python with torch; default python3).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"
out="$root/bench/results"
steps=30 warmup=8 smoke=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --cpu-smoke) smoke=1; shift ;;
    *) echo "bench/gpu.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
py="${CXR_BENCH_PYTHON:-python3}"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Configurations: model amp batch. The reference trained one GPU at batch 16 (fp32) and its
# DDP + AMP runs at 32 per GPU; batch 64 shows what a large GPU does when it is kept busy.
if [ "$smoke" -eq 1 ]; then
  device=cpu size=64 steps=2 warmup=1 images=64 loader_batch=8
  configs=("unet off 2")
else
  # The train split (about 70 % of the images) covers every step of the largest batch.
  device=cuda size=256 images=$(( (steps + warmup) * 64 * 10 / 6 + 64 )) loader_batch=64
  configs=("unet off 16" "unet fp16 16" "unet bf16 16" "unetpp off 16" "unetpp fp16 16" "unetpp bf16 16"
           "unet fp16 64" "unet bf16 64")
fi

echo "# $("$build/app/cxr-train" --version) on $device; $size x $size; $warmup warm-up + $steps timed steps"
"$build/app/cxr-synth" --output "$tmp/synth" --count "$images" --size "$size" 2>/dev/null
"$build/preprocess/cxr-preprocess" --input "$tmp/synth" --output "$tmp/ds" --size "$size" 2>/dev/null
"$build/bench/cxr-bench" loader --dataset "$tmp/ds" --batch "$loader_batch" --steps 10 --json "$tmp/loader.json" | tail -1

# cxr-train: one process per configuration, timed from its per-step log after the warm-up.
for c in "${configs[@]}"; do
  read -r model amp batch <<<"$c"
  run="$tmp/run-$model-$amp-$batch"
  "$build/app/cxr-train" --data "$tmp/ds" --model "$model" --norm batch --batch-size "$batch" --epochs 1000 \
    --max-steps $((warmup + steps)) --run-dir "$run" train.amp="$amp" train.device="$device" train.val_every=0 \
    train.checkpoint_every=100000 train.log_every=10 2>"$run.log" || { cat "$run.log"; echo "cxr-train failed: $c" >&2; exit 1; }
  "$py" - "$run" "$warmup" "$model" "$amp" "$batch" >>"$tmp/cxr.jsonl" <<'PY'
import glob, json, sys
run, warmup, model, amp, batch = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
rows = [r for r in map(json.loads, open(glob.glob(run + "/logs/rank-00000.jsonl")[0])) if "event" not in r][warmup:]
t = sum(r["step_s"] for r in rows)
# The step's parts, timed on the GPU with CUDA events (forward, backward, exposed all-reduce,
# optimizer) plus the host's data wait, against the host's whole step: they must add up.
parts = ("data_s", "forward_s", "backward_s", "comm_exposed_s", "optim_s")
split = sorted(sum(r[k] for k in parts) / r["step_s"] for r in rows)[len(rows) // 2]
print(json.dumps({"split_over_step": split, "model": model, "amp": amp, "batch": batch, "steps": len(rows), "images_per_s": batch * len(rows) / t,
                  "step_s": t / len(rows), "data_wait_s": sum(r["data_s"] for r in rows) / len(rows),
                  "skipped_steps": sum(1 for r in rows if r["skipped"]), "peak_gpu_mb": max(r["peak_gpu_mb"] for r in rows)}))
PY
  tail -1 "$tmp/cxr.jsonl"
done

# The reference's Python loop: one process for all configurations of a batch size.
flavours=reference,tuned
[ "$smoke" -eq 0 ] || flavours=reference
python_rows=()
for batch in $(printf '%s\n' "${configs[@]}" | awk '{print $3}' | sort -un); do
  models=$(printf '%s\n' "${configs[@]}" | awk -v b="$batch" '$3 == b {print $1}' | sort -u | paste -sd,)
  amps=$(printf '%s\n' "${configs[@]}" | awk -v b="$batch" '$3 == b {print $2}' | sort -u | paste -sd,)
  "$py" "$root/bench/reference_train.py" --device "$device" --model "$models" --amp "$amps" --batch "$batch" \
    --flavour "$flavours" --size "$size" --steps "$steps" --warmup "$warmup" --json "$tmp/python-$batch.json"
  python_rows+=("$tmp/python-$batch.json")
done

"$py" - "$tmp/cxr.jsonl" "$tmp/loader.json" "$out/gpu-bench.json" "$device" "${python_rows[@]}" <<'PY'
import json, sys
cxr = [json.loads(l) for l in open(sys.argv[1])]
loader, dest, device = json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
py = []
for f in sys.argv[5:]:
    rows = json.load(open(f))
    py += rows if isinstance(rows, list) else [rows]
def python(model, amp, batch, flavour):
    m = [r for r in py if (r["model"], r["amp"], r["batch"], r["flavour"]) == (model, amp, batch, flavour)]
    return m[0]["images_per_s"] if m else None
rows = []
print(f"\n{'model':<8} {'amp':<5} {'batch':>5} {'cxr-train':>10} {'py ref':>8} {'py tuned':>9} {'x ref':>6} {'x tuned':>8}"
      f" {'data wait':>10} {'GPU MB':>7}")
for c in cxr:
    ref, tuned = python(c["model"], c["amp"], c["batch"], "reference"), python(c["model"], c["amp"], c["batch"], "tuned")
    row = dict(c, python_reference_images_per_s=ref, python_tuned_images_per_s=tuned,
               ratio_vs_reference=c["images_per_s"] / ref if ref else None,
               ratio_vs_tuned=c["images_per_s"] / tuned if tuned else None)
    rows.append(row)
    f = lambda v, w, p=1: f"{v:>{w}.{p}f}" if v is not None else f"{'-':>{w}}"
    print(f"{c['model']:<8} {c['amp']:<5} {c['batch']:>5} {f(c['images_per_s'], 10)} {f(ref, 8)} {f(tuned, 9)}"
          f" {f(row['ratio_vs_reference'], 6, 2)} {f(row['ratio_vs_tuned'], 8, 2)} {f(c['data_wait_s'] * 1000, 8)}ms {f(c['peak_gpu_mb'], 7, 0)}")
goals = {}
published = python("unet", "off", 16, "reference")  # the study's one-GPU loop: fp32, batch 16
best_amp = max((r["images_per_s"] for r in rows if r["model"] == "unet" and r["amp"] != "off"), default=None)
if published and best_amp:
    goals["unet_amp_vs_published_reference_loop"] = {"cxr_images_per_s": best_amp, "reference_images_per_s": published,
                                                     "ratio": best_amp / published, "goal": 1.5, "met": best_amp / published >= 1.5}
    goals["unet_amp_1000_images_per_s"] = {"cxr_images_per_s": best_amp, "goal": 1000, "met": best_amp >= 1000}
    print(f"\ngoal 1.5x the reference loop (U-Net fp32 batch 16, {published:.1f} img/s): cxr-train with AMP {best_amp:.1f} img/s, "
          f"{best_amp / published:.2f}x -> {'met' if best_amp / published >= 1.5 else 'NOT met'}")
    print(f"goal 1000 img/s for U-Net with AMP: {best_amp:.1f} -> {'met' if best_amp >= 1000 else 'NOT met'}")
worst = max((r["split_over_step"] for r in rows), key=lambda v: abs(1 - v)) if rows else None
if worst is not None:
    goals["step_split_adds_up"] = {"worst_median_ratio": worst, "goal": "within 5 % of the step", "met": abs(1 - worst) <= 0.05}
    print(f"data + forward + backward + exposed all-reduce + optimizer over the step time (median per configuration, worst): "
          f"{worst:.3f} -> {'met' if abs(1 - worst) <= 0.05 else 'NOT met'} (goal: within 5 %)")
print(f"loader alone (read + noise, batch {loader['batch']}): {loader['images_per_s']:.0f} images/s with {loader['threads']} threads")
json.dump({"device": device, "rows": rows, "loader": loader, "python": py, "goals": goals}, open(dest, "w"), indent=2)
print(f"wrote {dest}")
PY
