#!/usr/bin/env bash
# The overlap benchmark of docs/BENCHMARKS.md ("Overlap"): 2 ranks (1 thread each) train a U-Net
# of base width 32 (7.8 M parameters, 31 MB of fp32 gradients) with gradient buckets of 5 MB
# (7 buckets), in three ways, interleaved and repeated in one run of this script:
#   on       train.overlap=true: each bucket's MPI_Iallreduce starts from the autograd hook when
#            it fills, and every hook tests the buckets in flight (MPI progress during backward)
#   noprog   the same without the tests (train.mpi_progress=false): MPI moves only when called
#   off      train.overlap=false: every bucket is all-reduced after backward
# cxr-reduce reads the step logs: medians after the warm-up of forward, backward, the
# all-reduce's time on the wire and its exposed part, overlap = 1 - exposed / wire, busbw. The
# three runs see the same data and seeds: their parameters must be bit-identical (checked).
#   bench/overlap.sh [EPOCHS] [REPEATS]     (defaults 5 epochs of 4 steps, 2 repeats)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
epochs="${1:-5}"
repeats="${2:-2}"
synthetic_dataset 64 64 "$tmp/ds"
machine_line
echo "# $("$build/app/cxr-train" --version | head -1); mpirun -n 2, U-Net base 32 at 64x64, batch 4 per rank, bucket_mb 5, $epochs epochs"
declare -A mode=([on]="train.overlap=true" [noprog]="train.overlap=true train.mpi_progress=false" [off]="train.overlap=false")
runs=()
for r in $(seq 1 "$repeats"); do
  for m in on noprog off; do
    # shellcheck disable=SC2086
    mpirun --oversubscribe -n 2 "$build/app/cxr-train" --data "$tmp/ds" model.base_width=32 train.threads=1 train.device=cpu \
      --epochs "$epochs" train.val_every=0 train.checkpoint_every=1000 --batch-size 4 train.bucket_mb=5 ${mode[$m]} \
      --run-dir "$tmp/$m-$r" 2>/dev/null
    runs+=("$tmp/$m-$r")
  done
done
for r in $(seq 1 "$repeats"); do
  for m in noprog off; do
    "$build/app/cxr-inspect" --diff "$tmp/on-1" "$tmp/$m-$r" >/dev/null || { echo "on-1 and $m-$r end with different parameters" >&2; exit 1; }
  done
done
echo "# parameters: bit-identical in all $((3 * repeats)) runs"
"$build/app/cxr-reduce" --training-only --no-plots "${runs[@]}" --out "$tmp/summary" 2>/dev/null
python3 - "$tmp/summary/summary.json" "$results/overlap-mpi-2.json" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
keys = ("step_s_median", "forward_s", "backward_s", "comm_wire_s", "comm_exposed_s", "optim_s", "overlap", "busbw_gb_s")
rows = [{"run": r["run"], **{k: r["training"][k] for k in keys}} for r in runs]
json.dump({"bytes_per_step": runs[0]["training"]["comm_bytes"], "runs": rows}, open(sys.argv[2], "w"), indent=2)
print("| run | step s | forward s | backward s | comm wire s | comm exposed s | optimizer s | overlap | busbw GB/s |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['run']} | {r['step_s_median']:.3f} | {r['forward_s']:.3f} | {r['backward_s']:.3f} | {r['comm_wire_s']:.4f} | "
          f"{r['comm_exposed_s']:.4f} | {r['optim_s']:.4f} | {r['overlap']:.2f} | {r['busbw_gb_s']:.2f} |")
PY
