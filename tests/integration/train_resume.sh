#!/usr/bin/env bash
# Resume equals an uninterrupted run, bit for bit on CPU: after a planned stop mid-epoch
# (--max-steps), after SIGUSR1 (checkpoint, exit 75 for requeue) with 2 ranks, and after kill -9
# in the middle of an epoch (resuming from the last end-of-epoch checkpoint).
source "$(dirname "$0")/train_common.sh"
run=("${tiny[@]}" --epochs 3 --batch-size 4 --norm batch train.val_every=1)

"$train" "${run[@]}" --run-dir "$CXR_TMP/full" 2>/dev/null || fail "uninterrupted run"
per_epoch=$(python3 -c "import json; print([e for e in map(json.loads, open('$CXR_TMP/full/logs/rank-00000.jsonl')) if e.get('event') == 'epoch'][0]['global_step'])")

# 1. Stop in the middle of epoch 2, then run the same command again.
"$train" "${run[@]}" --run-dir "$CXR_TMP/planned" --max-steps $((per_epoch + per_epoch / 2)) 2>/dev/null || fail "planned stop"
"$train" "${run[@]}" --run-dir "$CXR_TMP/planned" 2>"$CXR_TMP/log" || { cat "$CXR_TMP/log"; fail "resume after planned stop"; }
grep -q "resuming from" "$CXR_TMP/log" || fail "the second run did not resume"
"$inspect" --diff "$CXR_TMP/full" "$CXR_TMP/planned" --tolerance 0 || fail "resumed run differs from the uninterrupted one"

# 2. SIGUSR1 with 2 ranks: every rank agrees at the next step, checkpoints, exits 75.
mpi 2 "$train" "${run[@]}" --run-dir "$CXR_TMP/full2" 2>/dev/null || fail "uninterrupted 2-rank run"
CXR_TEST_STEP_DELAY_MS=100 mpi 2 "$train" "${run[@]}" --run-dir "$CXR_TMP/signal" 2>"$CXR_TMP/log" &
pid=$!
for _ in $(seq 1 300); do [ -f "$CXR_TMP/signal/checkpoints/latest" ] && break; sleep 0.05; done
sleep 0.4
pkill -USR1 -f "cxr-train .*$CXR_TMP/signal" || fail "no cxr-train process to signal"
rc=0; wait $pid || rc=$?
[ "$rc" -eq 75 ] || { cat "$CXR_TMP/log"; fail "exit $rc after SIGUSR1, expected 75 (requeue)"; }
grep -q "stop requested" "$CXR_TMP/log" || fail "no stop message"
mpi 2 "$train" "${run[@]}" --run-dir "$CXR_TMP/signal" 2>/dev/null || fail "resume after SIGUSR1"
"$inspect" --diff "$CXR_TMP/full2" "$CXR_TMP/signal" --tolerance 0 || fail "resumed 2-rank run differs"

# 3. kill -9 mid-epoch: the last complete checkpoint survives and the rerun catches up exactly.
CXR_TEST_STEP_DELAY_MS=60 "$train" "${run[@]}" --run-dir "$CXR_TMP/killed" 2>/dev/null &
pid=$!
for _ in $(seq 1 300); do [ -f "$CXR_TMP/killed/checkpoints/latest" ] && break; sleep 0.05; done
sleep 0.3
kill -9 $pid; wait $pid 2>/dev/null || true
"$inspect" "$CXR_TMP/killed" >/dev/null || fail "the checkpoint left by a killed run does not load"
"$train" "${run[@]}" --run-dir "$CXR_TMP/killed" 2>/dev/null || fail "resume after kill -9"
"$inspect" --diff "$CXR_TMP/full" "$CXR_TMP/killed" --tolerance 0 || fail "run resumed after kill -9 differs"
