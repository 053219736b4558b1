#!/usr/bin/env bash
# Preemption on a real Slurm: USR1 to the batch script mid-training -> forwarded to the ranks ->
# checkpoint, exit 75 -> the script requeues the job -> the job runs again, resumes and finishes,
# with parameters identical to an uninterrupted run.
source "$(dirname "$0")/slurm_common.sh"
"$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/data" --config "$CXR_TMP/tiny.yaml" 2>/dev/null
args="--epochs 5"
mpi 2 "$CXR_BIN/app/cxr-train" --config "$CXR_TMP/tiny.yaml" --data "$CXR_TMP/data" --run-dir "$CXR_TMP/straight" $args 2>/dev/null \
  || fail "uninterrupted run"

jid=$(CXR_TEST_STEP_DELAY_MS=150 CXR_CONFIG="$CXR_TMP/tiny.yaml" CXR_DATA="$CXR_TMP/data" CXR_RUN="$CXR_TMP/run" CXR_TRAIN_ARGS="$args" \
      sbatch --parsable -n 2 --time 10 --chdir "$home" --export "ALL,CXR_HOME=$home" -o "$CXR_TMP/train.out" "$home/slurm/train.sbatch")
for _ in $(seq 1 300); do [ -f "$CXR_TMP/run/checkpoints/latest" ] && break; sleep 0.2; done
[ -f "$CXR_TMP/run/checkpoints/latest" ] || { cat "$CXR_TMP/train.out"; scancel "$jid"; fail "no checkpoint appeared"; }
sleep 1
scancel --batch --signal=USR1 "$jid"
wait_gone "$jid" 240
cat "$CXR_TMP/train.out"
grep -q "USR1 received" "$CXR_TMP/train.out" || fail "the batch script did not get USR1"
grep -q "requeueing job $jid" "$CXR_TMP/train.out" || fail "the job was not requeued"
grep -q "restart 1" "$CXR_TMP/train.out" || fail "the job did not run a second time"
grep -q "resuming from" "$CXR_TMP/train.out" || fail "the second run did not resume"
"$CXR_BIN/app/cxr-inspect" "$CXR_TMP/run" | grep -q "epochs done  5" || fail "the requeued run did not finish"
"$CXR_BIN/app/cxr-inspect" --diff "$CXR_TMP/straight" "$CXR_TMP/run" --tolerance 0 || fail "preempted and resumed run differs"
