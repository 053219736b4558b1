#!/usr/bin/env bash
# N ranks with batch B each end with the same parameters as 1 rank with batch N*B on the same
# samples, for group, none and syncbatch norms, with gradient overlap on and off. Per-rank batch
# norm is not equivalent by design: there, every rank must hold rank 0's running statistics.
source "$(dirname "$0")/train_common.sh"
steps=(--epochs 1 train.val_every=0)
for norm in group none syncbatch; do
  "$train" "${tiny[@]}" "${steps[@]}" --max-steps 4 --norm $norm --batch-size 6 --run-dir "$CXR_TMP/$norm-1" 2>"$CXR_TMP/log" \
    || { cat "$CXR_TMP/log"; fail "1 rank, $norm"; }
  mpi 2 "$train" "${tiny[@]}" "${steps[@]}" --max-steps 4 --norm $norm --batch-size 3 train.overlap=true --run-dir "$CXR_TMP/$norm-2" 2>"$CXR_TMP/log" \
    || { cat "$CXR_TMP/log"; fail "2 ranks, $norm"; }
  mpi 3 "$train" "${tiny[@]}" "${steps[@]}" --max-steps 4 --norm $norm --batch-size 2 train.overlap=false train.bucket_mb=0.002 \
    --run-dir "$CXR_TMP/$norm-3" 2>"$CXR_TMP/log" || { cat "$CXR_TMP/log"; fail "3 ranks, $norm"; }
  for n in 2 3; do
    "$inspect" --diff "$CXR_TMP/$norm-1" "$CXR_TMP/$norm-$n" --tolerance 2e-5 || fail "$norm: $n ranks differ from 1 rank"
  done
done
# The comparison can fail: one step fewer gives clearly different parameters.
"$train" "${tiny[@]}" "${steps[@]}" --max-steps 3 --norm group --batch-size 6 --run-dir "$CXR_TMP/group-short" 2>/dev/null
"$inspect" --diff "$CXR_TMP/group-1" "$CXR_TMP/group-short" --tolerance 2e-5 && fail "4 steps and 3 steps compare equal"

# With several buckets (bucket_mb tiny above) and one bucket (default), 3 ranks still agree.
mpi 2 "$train" "${tiny[@]}" --epochs 1 --norm batch --batch-size 3 --run-dir "$CXR_TMP/batch-2" 2>"$CXR_TMP/log" \
  || { cat "$CXR_TMP/log"; fail "2 ranks, batch norm"; }
python3 - "$CXR_TMP/batch-2/logs" <<'PY'
import json, sys
def checksums(f):
    return [e["buffer_checksum"] for e in map(json.loads, open(f)) if e.get("event") == "epoch"]
a, b = checksums(sys.argv[1] + "/rank-00000.jsonl"), checksums(sys.argv[1] + "/rank-00001.jsonl")
assert a and a == b, f"batch-norm buffers differ between ranks: {a} vs {b}"
print("batch norm: running statistics identical on both ranks:", a)
PY

# strategy dp (one process, the batch split over model replicas; CPU replicas stand in for GPUs):
# the same parameters as one replica with the whole batch.
"$train" "${tiny[@]}" "${steps[@]}" --max-steps 4 --norm group --batch-size 6 train.strategy=dp train.dp_devices=2 \
  --run-dir "$CXR_TMP/dp-2" 2>"$CXR_TMP/log" || { cat "$CXR_TMP/log"; fail "dp with 2 replicas"; }
"$inspect" --diff "$CXR_TMP/group-1" "$CXR_TMP/dp-2" --tolerance 2e-5 || fail "dp over 2 replicas differs from 1 device"
"$train" "${tiny[@]}" "${steps[@]}" --max-steps 1 --norm group --batch-size 6 train.strategy=dp --run-dir "$CXR_TMP/dp-1" 2>"$CXR_TMP/log"
grep -q "dp with one device" "$CXR_TMP/log" || fail "dp on one device does not say so"
