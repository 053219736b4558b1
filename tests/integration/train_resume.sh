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

# 1b. The same with SGD (its momentum buffers are part of the checkpoint).
sgd=("${run[@]}" train.optimizer=sgd train.lr=0.05)
"$train" "${sgd[@]}" --run-dir "$CXR_TMP/sgd-full" 2>/dev/null || fail "uninterrupted SGD run"
"$train" "${sgd[@]}" --run-dir "$CXR_TMP/sgd" --max-steps $((per_epoch + per_epoch / 2)) 2>/dev/null || fail "planned SGD stop"
"$train" "${sgd[@]}" --run-dir "$CXR_TMP/sgd" 2>"$CXR_TMP/log" || { cat "$CXR_TMP/log"; fail "resume of an SGD run"; }
"$inspect" --diff "$CXR_TMP/sgd-full" "$CXR_TMP/sgd" --tolerance 0 || fail "resumed SGD run differs from the uninterrupted one"

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

# 2b. A stop request that lands on an epoch's last step: the epoch is finished (validated,
#     logged once with its loss) before the checkpoint, and the resumed run still matches.
rc=0; CXR_TEST_SIGNAL_AT=$per_epoch:0 "$train" "${run[@]}" --run-dir "$CXR_TMP/edge" 2>"$CXR_TMP/log" || rc=$?
[ "$rc" -eq 75 ] || { cat "$CXR_TMP/log"; fail "exit $rc after a signal on the epoch's last step, expected 75"; }
"$train" "${run[@]}" --run-dir "$CXR_TMP/edge" 2>/dev/null || fail "resume after a signal on the epoch's last step"
"$inspect" --diff "$CXR_TMP/full" "$CXR_TMP/edge" --tolerance 0 || fail "the run stopped at an epoch's end differs"
python3 - "$CXR_TMP/edge/logs/rank-00000.jsonl" <<'PY'
import json, sys
epochs = [e for e in map(json.loads, open(sys.argv[1])) if e.get("event") == "epoch"]
assert [e["epoch"] for e in epochs] == [1, 2, 3], epochs
assert all(e["train_loss"] is not None and e["val_loss"] is not None for e in epochs), epochs
PY

# 3. kill -9 mid-epoch: the last complete checkpoint survives and the rerun catches up exactly.
CXR_TEST_STEP_DELAY_MS=60 "$train" "${run[@]}" --run-dir "$CXR_TMP/killed" 2>/dev/null &
pid=$!
for _ in $(seq 1 300); do [ -f "$CXR_TMP/killed/checkpoints/latest" ] && break; sleep 0.05; done
sleep 0.3
kill -9 $pid; wait $pid 2>/dev/null || true
"$inspect" "$CXR_TMP/killed" >/dev/null || fail "the checkpoint left by a killed run does not load"
"$train" "${run[@]}" --run-dir "$CXR_TMP/killed" 2>/dev/null || fail "resume after kill -9"
"$inspect" --diff "$CXR_TMP/full" "$CXR_TMP/killed" --tolerance 0 || fail "run resumed after kill -9 differs"
