#!/usr/bin/env bash
# Failure paths of cxr-train: a non-finite loss on one rank is skipped on every rank together;
# too many in a row end the run; a rank that throws ends the whole job (no hang); a checkpoint
# of another model, a corrupt checkpoint and a bad config key are refused with a clear message.
source "$(dirname "$0")/train_common.sh"
run=("${tiny[@]}" --epochs 1 --batch-size 4 --norm group train.val_every=0)

# 1. NaN loss on rank 1 at step 3: both ranks skip step 3, and only it; the run finishes.
CXR_TEST_NAN_AT=3:1 mpi 2 "$train" "${run[@]}" --run-dir "$CXR_TMP/nan" 2>"$CXR_TMP/log" || { cat "$CXR_TMP/log"; fail "NaN run"; }
python3 - "$CXR_TMP/nan/logs" <<'PY'
import json, sys
for r in (0, 1):
    steps = [json.loads(l) for l in open(f"{sys.argv[1]}/rank-0000{r}.jsonl") if '"event"' not in l]
    skipped = [s["step"] for s in steps if s["skipped"]]
    assert skipped == [3], f"rank {r} skipped {skipped}, expected [3]"
print("both ranks skipped step 3 only")
PY

# 2. train.max_nonfinite=1: the first non-finite step ends the run, on every rank, exit 1.
expect_exit 1 "non-finite steps in a row" env CXR_TEST_NAN_AT=2:0 "$CXR_MPIEXEC" -n 2 $CXR_MPIEXEC_FLAGS "$train" "${run[@]}" train.max_nonfinite=1 --run-dir "$CXR_TMP/nan2"

# 3. A rank that throws: the job ends (MPI_Abort), naming the rank, instead of hanging.
expect_exit_any() { local rc=0; "$@" >"$CXR_TMP/out.txt" 2>"$CXR_TMP/err.txt" || rc=$?; echo $rc; }
rc=$(CXR_TEST_FAIL_AT=2:1 expect_exit_any timeout 120 "$CXR_MPIEXEC" -n 2 $CXR_MPIEXEC_FLAGS "$train" "${run[@]}" --run-dir "$CXR_TMP/fail")
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat "$CXR_TMP/err.txt"; fail "a failing rank gave exit $rc (124 = hung)"; }
grep -q "error on rank 1" "$CXR_TMP/err.txt" || { cat "$CXR_TMP/err.txt"; fail "the failing rank is not named"; }

# 4. A run dir holding another model's checkpoint is refused, and left as it was.
"$train" "${run[@]}" --max-steps 2 --run-dir "$CXR_TMP/other" 2>/dev/null
before=$(sha256sum "$CXR_TMP/other/checkpoints/"*.pt)
expect_exit 2 "holds a different model: it has 'unet base=4.*this run builds 'unet base=8" \
  "$train" "${run[@]}" model.base_width=8 --run-dir "$CXR_TMP/other"
[ "$before" == "$(sha256sum "$CXR_TMP/other/checkpoints/"*.pt)" ] || fail "a refused run changed the checkpoints"

# 5. A corrupt checkpoint behind `latest`: a clear error naming it.
cp -r "$CXR_TMP/other" "$CXR_TMP/corrupt"
f=$(cat "$CXR_TMP/corrupt/checkpoints/latest")
head -c 1000 "$CXR_TMP/other/checkpoints/$f" > "$CXR_TMP/corrupt/checkpoints/$f"
expect_exit 2 "checkpoint .*$f is not a cxr-denoise checkpoint" "$train" "${run[@]}" --run-dir "$CXR_TMP/corrupt"
expect_exit 2 "is not a cxr-denoise checkpoint" "$inspect" "$CXR_TMP/corrupt"

# 6. Config errors, collective with 2 ranks: exit 2, printed once, no abort.
printf 'train:\n  batch_size: 4\n  lr_sheduel: cosine\n' > "$CXR_TMP/bad.yaml"
expect_exit 2 "bad.yaml:3: unknown key 'train.lr_sheduel'" mpi 2 "$train" --config "$CXR_TMP/bad.yaml" --data "$ds" --run-dir "$CXR_TMP/x"
[ "$(grep -c "unknown key" "$CXR_TMP/err.txt")" -eq 1 ] || fail "the config error was not printed exactly once"
expect_exit 2 "no dataset at $CXR_TMP/nowhere" "$train" --data "$CXR_TMP/nowhere" --run-dir "$CXR_TMP/y"
expect_exit 2 "train.amp=fp16 needs a CUDA device" "$train" "${run[@]}" train.amp=fp16 --run-dir "$CXR_TMP/z"
if ! "$inspect" --devices >/dev/null 2>&1; then  # no usable GPU: asking for one is an error, not a CPU run
  expect_exit 2 "device cuda asked for, but this (LibTorch sees no CUDA device|build has no CUDA support)" \
    "$train" --data "$ds" model.base_width=4 model.depth=2 train.device=cuda --run-dir "$CXR_TMP/nogpu"
fi

# 7. Killed while writing a checkpoint (after the temporary file, before the rename): the
#    previous checkpoint stays `latest` and loads; the rerun resumes from it and finishes.
"$train" "${tiny[@]}" --epochs 2 --batch-size 4 --norm group --run-dir "$CXR_TMP/ckkill" --max-steps 4 2>/dev/null
rc=0; CXR_TEST_KILL_IN_SAVE=8 "$train" "${tiny[@]}" --epochs 2 --batch-size 4 --norm group --run-dir "$CXR_TMP/ckkill" --max-steps 8 \
  2>/dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "the run that should die in the middle of a checkpoint write did not"
[ "$(cat "$CXR_TMP/ckkill/checkpoints/latest")" == "step-00000004.pt" ] || fail "latest moved to a checkpoint that was never published"
"$inspect" "$CXR_TMP/ckkill" | grep -q "global step  4" || fail "the previous checkpoint does not load"
"$train" "${tiny[@]}" --epochs 2 --batch-size 4 --norm group --run-dir "$CXR_TMP/ckkill" 2>/dev/null || fail "resume after a killed write"
"$inspect" "$CXR_TMP/ckkill" | grep -q "epochs done  2" || fail "the resumed run did not finish"
if ls -a "$CXR_TMP/ckkill/checkpoints" | grep -q "\.tmp\."; then fail "the killed writer's temporary file was not cleaned up"; fi

# 8. Resuming continues one experiment: another noise sigma is refused by name; more epochs are
#    fine (and said); a mid-epoch checkpoint needs the rank count that made it.
expect_exit 2 "cannot resume .* with noise.sigma 0.1 -> 0.3" "$train" "${tiny[@]}" --epochs 2 --batch-size 4 --norm group \
  --run-dir "$CXR_TMP/ckkill" --sigma 0.3
"$train" "${tiny[@]}" --epochs 3 --batch-size 4 --norm group --run-dir "$CXR_TMP/ckkill" 2>"$CXR_TMP/log" || { cat "$CXR_TMP/log"; fail "extending a run"; }
grep -q "resuming with changed settings: train.epochs 2 -> 3" "$CXR_TMP/log" || fail "the changed epochs were not listed"
"$train" "${tiny[@]}" --epochs 2 --batch-size 4 --norm group --run-dir "$CXR_TMP/mid" --max-steps 5 2>/dev/null
expect_exit 2 "in the middle of an epoch with 2 ranks: it was made with 1" \
  mpi 2 "$train" "${tiny[@]}" --epochs 2 --batch-size 4 --norm group --run-dir "$CXR_TMP/mid"
