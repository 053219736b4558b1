#!/usr/bin/env bash
# Submits the whole pipeline as four chained jobs (each starts only if the one before succeeded):
#   preprocess -> train (requeued on preemption until done) -> eval -> reduce
#
#   slurm/submit-pipeline.sh --input /data/nih --data /scratch/cxr256 --run /scratch/runs/u01 \
#       --config configs/unet-sigma0.1-ddp-amp.yaml [--nodes 1] [--tasks-per-node 2] [--gpus-per-node 0]
#       [--partition P] [--account A] [--time 12:00:00] [--summary DIR] [--sigmas 0.1,0.2,0.3]
#       [--skip-preprocess] [--wait]
# Prints the job ids; with --wait it returns when the last job has ended, with its exit code.
set -euo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
input="" data="" run="" config="" summary="" sigmas="" nodes=1 tasks=2 gpus=0 partition="" account="" time="12:00:00"
skip_pre=0 wait=0
while [ $# -gt 0 ]; do
  case "$1" in
    --input) input=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --run) run=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --summary) summary=$2; shift 2 ;;
    --sigmas) sigmas=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --tasks-per-node) tasks=$2; shift 2 ;;
    --gpus-per-node) gpus=$2; shift 2 ;;
    --partition) partition=$2; shift 2 ;;
    --account) account=$2; shift 2 ;;
    --time) time=$2; shift 2 ;;
    --skip-preprocess) skip_pre=1; shift ;;
    --wait) wait=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "submit-pipeline.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$data" ] && [ -n "$run" ] || { echo "submit-pipeline.sh: --data and --run are required (see --help)" >&2; exit 2; }
[ "$skip_pre" -eq 1 ] || [ -n "$input" ] || { echo "submit-pipeline.sh: --input is required unless --skip-preprocess" >&2; exit 2; }
summary=${summary:-$run/summary}
logs="$run/slurm-logs"
mkdir -p "$logs"

common=(--parsable --chdir "$home" --export "ALL,CXR_HOME=$home")
[ -n "$partition" ] && common+=(--partition "$partition")
[ -n "$account" ] && common+=(--account "$account")
ranks=(--nodes "$nodes" --ntasks-per-node "$tasks" --ntasks $((nodes * tasks)))
[ "$gpus" -gt 0 ] && ranks+=(--gpus-per-node "$gpus")

dep=()
if [ "$skip_pre" -eq 0 ]; then
  pre=$(CXR_INPUT="$input" CXR_DATA="$data" CXR_CONFIG="$config" sbatch "${common[@]}" "${ranks[@]}" -o "$logs/preprocess-%j.out" \
        "$home/slurm/preprocess.sbatch")
  dep=(--dependency "afterok:$pre")
  echo "preprocess: job $pre"
fi
train=$(CXR_DATA="$data" CXR_RUN="$run" CXR_CONFIG="$config" sbatch "${common[@]}" "${ranks[@]}" "${dep[@]}" --time "$time" \
        -o "$logs/train-%j.out" "$home/slurm/train.sbatch")
echo "train:      job $train"
eval_job=$(CXR_RUN="$run" CXR_SIGMAS="$sigmas" sbatch "${common[@]}" "${ranks[@]}" --dependency "afterok:$train" \
           -o "$logs/eval-%j.out" "$home/slurm/eval.sbatch")
echo "eval:       job $eval_job"
reduce=$(CXR_RUNS="$run" CXR_SUMMARY="$summary" sbatch "${common[@]}" --ntasks 1 --dependency "afterok:$eval_job" \
         -o "$logs/reduce-%j.out" "$home/slurm/reduce.sbatch")
echo "reduce:     job $reduce -> $summary/summary.md"
echo "logs:       $logs"
if [ "$wait" -eq 1 ]; then
  # Poll until the reducer has left the queue; its state decides the exit code.
  while squeue -h -j "$reduce" 2>/dev/null | grep -q .; do sleep 3; done
  state=$(scontrol show job "$reduce" 2>/dev/null | grep -oE 'JobState=[A-Z_]+' | cut -d= -f2 || true)
  [ -f "$summary/summary.md" ] || { echo "the pipeline did not produce $summary/summary.md (reduce job state: ${state:-gone})" >&2; exit 1; }
  echo "done: $summary/summary.md"
fi
