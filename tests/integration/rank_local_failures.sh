#!/usr/bin/env bash
# Failures seen by ONE rank end the whole job within seconds, non-zero, with that rank's message,
# rank and host on stderr; never a hang. Each case gives rank 1 alone a bad argument through
# mpirun's MPMD form (`-n 1 A : -n 1 B`), for every MPI tool; a stalled rank (SIGSTOP) ends the
# job through the collective timeout (dist.timeout_s). The same through srun: tests/slurm/faults.sh.
source "$(dirname "$0")/train_common.sh"
evaluate="$CXR_BIN/app/cxr-eval"
reduce="$CXR_BIN/app/cxr-reduce"
# shellcheck disable=SC2206
mpmd=("$CXR_MPIEXEC" $CXR_MPIEXEC_FLAGS -n 1)  # "${mpmd[@]}" A... : -n 1 B...
# shellcheck disable=SC2206
mpi2=("$CXR_MPIEXEC" $CXR_MPIEXEC_FLAGS -n 2)

# ends_within LIMIT_S EXPECTED_EXIT PATTERN cmd...: the command ends within LIMIT_S seconds with the
# exit code (or any non-zero one for "nonzero"), and stderr matches PATTERN.
ends_within() {
  local limit=$1 code=$2 pattern=$3; shift 3
  local start=$SECONDS rc=0
  timeout $((limit + 30)) "$@" >"$CXR_TMP/out.txt" 2>"$CXR_TMP/err.txt" || rc=$?
  local took=$((SECONDS - start))
  [ "$rc" -ne 124 ] || { cat "$CXR_TMP/err.txt" >&2; fail "hung: still running after $((limit + 30)) s: $*"; }
  [ "$took" -le "$limit" ] || { cat "$CXR_TMP/err.txt" >&2; fail "took $took s (limit $limit): $*"; }
  if [ "$code" = nonzero ]; then [ "$rc" -ne 0 ] || fail "exit 0, expected a failure: $*"
  else [ "$rc" -eq "$code" ] || { cat "$CXR_TMP/err.txt" >&2; fail "exit $rc, expected $code: $*"; }; fi
  grep -qE -- "$pattern" "$CXR_TMP/err.txt" || { cat "$CXR_TMP/err.txt" >&2; fail "stderr does not match '$pattern': $*"; }
  echo "ok ($took s, exit $rc): $(grep -E -m1 -- "$pattern" "$CXR_TMP/err.txt")"
}
# tiny without --data: rank 1 gets its own
run=("${tiny[@]:2}" --epochs 2 --batch-size 4 --norm group)
host=$(hostname)

# cxr-train: only rank 1 lacks the data. Both ranks end cleanly with exit 2; rank 1's message
# names it and its host, once.
ends_within 60 2 "on rank 1 \($host\) of 2: no dataset at $CXR_TMP/missing" \
  "${mpmd[@]}" "$train" "${run[@]}" --data "$ds" --run-dir "$CXR_TMP/t1" : -n 1 "$train" "${run[@]}" --data "$CXR_TMP/missing" --run-dir "$CXR_TMP/t1"
[ "$(grep -c "no dataset" "$CXR_TMP/err.txt")" -eq 1 ] || fail "rank 1's error was not printed exactly once"

# cxr-train: only rank 1 cannot see its --config file (a flag's own check fails on one node).
printf 'train:\n  batch_size: 4\n' > "$CXR_TMP/good.yaml"
ends_within 60 2 "on rank 1 \($host\) of 2: cxr-train: --config: File does not exist: $CXR_TMP/gone.yaml" \
  "${mpmd[@]}" "$train" "${run[@]}" --data "$ds" --config "$CXR_TMP/good.yaml" --run-dir "$CXR_TMP/t0" \
  : -n 1 "$train" "${run[@]}" --data "$ds" --config "$CXR_TMP/gone.yaml" --run-dir "$CXR_TMP/t0"

# cxr-train: only rank 1 cannot write its step log (its run directory is a file there).
touch "$CXR_TMP/not-a-dir"
ends_within 60 nonzero "on rank 1 \($host\) of 2: .*not-a-dir" \
  "${mpmd[@]}" "$train" "${run[@]}" --data "$ds" --run-dir "$CXR_TMP/t2" : -n 1 "$train" "${run[@]}" --data "$ds" --run-dir "$CXR_TMP/not-a-dir"

# cxr-train: rank 1 stops (SIGSTOP, a frozen node) at step 3: rank 0 waits in a collective until
# dist.timeout_s, says what it waited for, and aborts the job.
ends_within $((3 + 60)) nonzero "error on rank 0 of 2 .*has not finished after [0-9.]+ s \(dist.timeout_s = 3\)" \
  env CXR_TEST_STOP_AT=3:1 "${mpi2[@]}" "$train" "${run[@]}" --data "$ds" dist.timeout_s=3 --run-dir "$CXR_TMP/t3"

# An error every rank sees alike (a config key) stays collective: exit 2, printed once, no abort.
ends_within 60 2 "on all 2 ranks: .*unknown key 'train.lr_sheduel'" \
  "${mpi2[@]}" "$train" "${run[@]}" --data "$ds" train.lr_sheduel=cosine --run-dir "$CXR_TMP/t4"
[ "$(grep -c "unknown key" "$CXR_TMP/err.txt")" -eq 1 ] || fail "the config error was not printed exactly once"
if grep -q "MPI_ABORT" "$CXR_TMP/err.txt"; then fail "a collective error aborted the job"; fi

# A setting every rank refuses alike after the config is read (fp16 needs CUDA): collective too.
ends_within 60 2 "on all 2 ranks: train.amp=fp16 needs a CUDA device" \
  "${mpi2[@]}" "$train" "${run[@]}" --data "$ds" train.amp=fp16 --run-dir "$CXR_TMP/t5"
[ "$(grep -c "needs a CUDA device" "$CXR_TMP/err.txt")" -eq 1 ] || fail "the fp16 error was not printed exactly once"

# cxr-eval: only rank 1 is given a dataset that does not exist.
"$train" "${tiny[@]}" --epochs 1 --batch-size 4 --norm group --run-dir "$CXR_TMP/run" 2>/dev/null || fail "training"
ends_within 60 2 "on rank 1 \($host\) of 2: no dataset at $CXR_TMP/missing" \
  "${mpmd[@]}" "$evaluate" --run "$CXR_TMP/run" : -n 1 "$evaluate" --run "$CXR_TMP/run" --data "$CXR_TMP/missing"

# cxr-reduce: only rank 1 is given a run that was never evaluated.
"$evaluate" --run "$CXR_TMP/run" 2>/dev/null || fail "evaluation"
ends_within 60 2 "on rank 1 \($host\) of 2: .*not a cxr-train run|on rank 1 \($host\) of 2: .*missing" \
  "${mpmd[@]}" "$reduce" "$CXR_TMP/run" --out "$CXR_TMP/sum" --no-plots : -n 1 "$reduce" "$CXR_TMP/missing" --out "$CXR_TMP/sum" --no-plots

# cxr-preprocess: only rank 1 cannot write its shards (its output is a file there). No manifest.
ends_within 60 1 "on rank 1 \($host\) of 2: .*not-a-dir" \
  "${mpmd[@]}" "$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/ds2" --size 32 --shard-size 16 \
  : -n 1 "$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/not-a-dir" --size 32 --shard-size 16
grep -q "manifest.json not written" "$CXR_TMP/err.txt" || fail "preprocess does not say the manifest was not written"
[ ! -f "$CXR_TMP/ds2/manifest.json" ] || fail "a manifest was written although rank 1 failed"
