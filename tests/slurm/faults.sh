#!/usr/bin/env bash
# Failures on a real Slurm (srun with PMIx, as slurm/cxr.env.sh launches): the fault-injection
# cases of bench/faults.py (rank-local input error through --multi-prog, kill -9 of a rank, kill
# -9 in a checkpoint write, a stalled rank, NaN on one rank), and the thread budget Slurm's CPU
# allocation gives: --cpus-per-task=1 is one intra-op thread per rank.
source "$(dirname "$0")/slurm_common.sh"

# The batch scripts' launcher ends the step when a rank dies.
( source "$home/slurm/cxr.env.sh"; SLURM_NTASKS=2 cxr_command cxr-train --help >/dev/null; [[ " ${CXR_CMD[*]} " == *" --kill-on-bad-exit=1 "* ]] ) \
  || fail "slurm/cxr.env.sh does not launch srun with --kill-on-bad-exit=1"

python3 "$home/bench/faults.py" --launchers srun --trials 2 --build "$CXR_BIN" --work "$CXR_TMP/work" \
  --markdown "$CXR_TMP/faults.md" || fail "a fault case failed under srun (see above)"

# Threads from the task's CPUs: OMP_NUM_THREADS unset, the local Slurm allocates without binding
# (TaskPlugin=task/none), so SLURM_CPUS_PER_TASK caps the mask of 2 CPUs; with 2 tasks the ranks
# also share the mask. Either way: one intra-op thread per rank.
"$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/data" --config "$CXR_TMP/tiny.yaml" 2>/dev/null
for n in 1 2; do
  srun --mpi=pmix -n $n --cpus-per-task=1 env -u OMP_NUM_THREADS "$CXR_BIN/app/cxr-train" --config "$CXR_TMP/tiny.yaml" \
    --data "$CXR_TMP/data" --run-dir "$CXR_TMP/threads-$n" --max-steps 1 train.threads=0 2>"$CXR_TMP/threads-$n.log" \
    || { cat "$CXR_TMP/threads-$n.log"; fail "srun -n $n --cpus-per-task=1"; }
  grep "threads on" "$CXR_TMP/threads-$n.log"
  expected=$([ $n -eq 1 ] && echo "1/1" || echo "1/1, 1/1")
  grep -q "threads on .*: $n rank(s); .* uses 1 (.*); intra-op/noise threads per local rank: $expected\$" "$CXR_TMP/threads-$n.log" \
    || fail "srun -n $n --cpus-per-task=1 did not give one intra-op thread per rank"
done
# Without the cap, one task gets the whole mask (2 CPUs here): the test above can fail.
srun --mpi=pmix -n 1 --cpus-per-task=2 env -u OMP_NUM_THREADS "$CXR_BIN/app/cxr-train" --config "$CXR_TMP/tiny.yaml" \
  --data "$CXR_TMP/data" --run-dir "$CXR_TMP/threads-wide" --max-steps 1 train.threads=0 2>"$CXR_TMP/threads-wide.log" \
  || { cat "$CXR_TMP/threads-wide.log"; fail "srun -n 1 --cpus-per-task=2"; }
if [ "$(nproc)" -ge 2 ]; then
  grep -q "uses 2 (CPU affinity: 2 CPUs); intra-op/noise threads per local rank: 2/1\$" "$CXR_TMP/threads-wide.log" || { grep "threads on" "$CXR_TMP/threads-wide.log"; fail "2 CPUs per task did not give 2 threads"; }
fi
