#!/usr/bin/env bash
# A scaling study for HPC admins: the same training run at several rank counts, each in its own
# run directory, then one cxr-reduce over all of them with speedup and parallel efficiency.
#
#   slurm/scaling-study.sh --data /scratch/cxr256 --out /scratch/scaling --config configs/unet-sigma0.1-ddp-amp.yaml \
#       [--ranks "1 2 4 8"] [--mode strong|weak] [--batch 8] [--steps 50] [--tasks-per-node 4] [--gpus-per-node 4]
#       [--partition P] [--account A] [--time 01:00:00] [--wait]
#   strong: the global batch (--batch x the smallest rank count) is split over the ranks;
#   weak:   every rank keeps --batch images per step.
# Results: OUT/summary/summary.md (Scaling table) and OUT/summary/scaling.png, and per node count
# the all-reduce benchmark (OUT/allreduce-Nnodes.json, cxr-bench allreduce) beside the points.
# Every point gets nodes of its own (--exclusive), and the points run one after another, so no
# point measures another's load; the reducer reads the median step time after a warm-up and
# flags a point whose steps spread too widely. Leave out --exclusive with --shared (a test box).
set -euo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="" out="" config="" ranks_list="1 2 4" mode=weak batch=8 steps=50 per_node=4 gpus=0 partition="" account="" time="01:00:00" wait=0
exclusive=(--exclusive)
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --ranks) ranks_list=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --tasks-per-node) per_node=$2; shift 2 ;;
    --gpus-per-node) gpus=$2; shift 2 ;;
    --partition) partition=$2; shift 2 ;;
    --account) account=$2; shift 2 ;;
    --time) time=$2; shift 2 ;;
    --wait) wait=1; shift ;;
    --shared) exclusive=(); shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "scaling-study.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$data" ] && [ -n "$out" ] || { echo "scaling-study.sh: --data and --out are required (see --help)" >&2; exit 2; }
case "$mode" in strong|weak) ;; *) echo "scaling-study.sh: --mode is strong or weak" >&2; exit 2 ;; esac
mkdir -p "$out/slurm-logs"
common=(--parsable --chdir "$home" --export "ALL,CXR_HOME=$home" --time "$time")
[ -n "$partition" ] && common+=(--partition "$partition")
[ -n "$account" ] && common+=(--account "$account")
smallest=$(tr ' ' '\n' <<<"$ranks_list" | sort -n | head -1)
jobs=() runs=() after=() benched=" " gpu_opt=()
[ "$gpus" -gt 0 ] && gpu_opt=(--gpus-per-node "$gpus")
for n in $ranks_list; do
  per_rank=$batch
  if [ "$mode" = strong ]; then
    global=$((batch * smallest))
    [ $((global % n)) -eq 0 ] || { echo "scaling-study.sh: global batch $global does not split over $n ranks" >&2; exit 2; }
    per_rank=$((global / n))
  fi
  nodes=$(( (n + per_node - 1) / per_node ))
  place=(--nodes "$nodes" --ntasks "$n" --ntasks-per-node $((n < per_node ? n : per_node)))
  place+=("${gpu_opt[@]}")
  run="$out/ranks-$n"
  rm -rf "$run"  # a scaling point measures a fresh run, never a resumed one
  # The all-reduce benchmark once per node count, on the same nodes' layout, before its points.
  if [[ "$benched" != *" $nodes "* ]]; then
    bench_id=$(CXR_BENCH_JSON="$out/allreduce-${nodes}nodes.json" \
               sbatch "${common[@]}" "${exclusive[@]}" "${after[@]}" --nodes "$nodes" --ntasks $((nodes * per_node)) \
                 --ntasks-per-node "$per_node" "${gpu_opt[@]}" -o "$out/slurm-logs/allreduce-$nodes-%j.out" "$home/slurm/allreduce.sbatch")
    echo "all-reduce benchmark on $nodes node(s): job $bench_id"
    after=(--dependency "afterany:$bench_id")
    benched+="$nodes "
  fi
  id=$(CXR_DATA="$data" CXR_RUN="$run" CXR_CONFIG="$config" \
       CXR_TRAIN_ARGS="--batch-size $per_rank --max-steps $steps --epochs 1000 train.val_every=0 train.log_every=10" \
       sbatch "${common[@]}" "${exclusive[@]}" "${after[@]}" "${place[@]}" -o "$out/slurm-logs/train-$n-%j.out" "$home/slurm/train.sbatch")
  echo "$n rank(s), batch $per_rank per rank: job $id"
  after=(--dependency "afterany:$id")  # one point at a time: none measures another's load
  jobs+=("$id")
  runs+=("$run")
done
deps=$(IFS=:; echo "${jobs[*]}")
# The benchmarks' JSON files are matched when the reduce job runs (they do not exist yet): with
# them cxr-reduce puts the scaling model's prediction next to each point (docs/SCALING.md).
reduce=$(CXR_RUNS="${runs[*]}" CXR_SUMMARY="$out/summary" CXR_REDUCE_ARGS="--training-only" CXR_ALLREDUCE="$out/allreduce-*nodes.json" \
         sbatch "${common[@]}" --ntasks 1 --dependency "afterok:$deps" -o "$out/slurm-logs/reduce-%j.out" "$home/slurm/reduce.sbatch")
echo "reduce: job $reduce -> $out/summary/summary.md"
if [ "$wait" -eq 1 ]; then
  while squeue -h -j "$reduce" 2>/dev/null | grep -q .; do sleep 3; done
  [ -f "$out/summary/summary.md" ] || { echo "the study did not produce $out/summary/summary.md" >&2; exit 1; }
  sed -n '/^## Scaling/,$p' "$out/summary/summary.md"
fi
