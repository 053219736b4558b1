#!/usr/bin/env bash
# cxr-bench allreduce under mpirun: the nccl-tests-like table and its JSON twin, a checked result
# (a corrupted element, injected by a test hook, makes it exit non-zero and say so), and the
# trainer's own bucket layout for a model.
source "$(dirname "$0")/common.sh"
bench="$CXR_BIN/bench/cxr-bench"
mpi 2 "$bench" allreduce --backend mpi --min-bytes 1024 --max-bytes 262144 --factor 4 --warmup 1 --iters 3 \
  --json "$CXR_TMP/ar.json" >"$CXR_TMP/out.txt" 2>"$CXR_TMP/err.txt" || { cat "$CXR_TMP/err.txt"; fail "allreduce benchmark"; }
cat "$CXR_TMP/out.txt"
grep -q "size .*bytes .*count .*time(us) .*algbw .*busbw .*#wrong" "$CXR_TMP/out.txt" || fail "no table header"
grep -q "out of bounds values: 0 OK" "$CXR_TMP/out.txt" || fail "the check did not pass"
python3 - "$CXR_TMP/ar.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
sizes = [r["bytes"] for r in j["rows"]]
assert sizes == [1024, 4096, 16384, 65536, 262144], sizes
assert j["ranks"] == 2 and j["backend"] == "mpi" and j["wrong"] == 0
for r in j["rows"]:
    assert r["count"] * 4 == r["bytes"] and r["time_us"] > 0
    assert abs(r["busbw_gbs"] - r["algbw_gbs"] * 2 * (2 - 1) / 2) < 1e-9  # busbw = algbw x 2(n-1)/n
    assert abs(r["algbw_gbs"] - r["bytes"] / (r["time_us"] * 1e-6) / 1e9) < 1e-6 * r["algbw_gbs"] + 1e-12
print("allreduce: rows", sizes, "avg busbw", j["avg_busbw_gbs"])
PY

# A wrong result is caught: exit non-zero, "#wrong" counted, "ERROR" said.
rc=0
CXR_TEST_CORRUPT_ALLREDUCE=1 mpi 2 "$bench" allreduce --backend mpi --max-bytes 4096 --iters 2 >"$CXR_TMP/out.txt" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || { cat "$CXR_TMP/out.txt"; fail "a corrupted all-reduce exited 0"; }
grep -q "out of bounds values: [1-9][0-9]* ERROR" "$CXR_TMP/out.txt" || { cat "$CXR_TMP/out.txt"; fail "the corruption is not reported"; }

# The trainer's buckets: for U-Net base 8 depth 2 in 0.01 MB buckets, every parameter once.
mpi 2 "$bench" allreduce --backend mpi --buckets 0.01 --model unet --base-width 8 --depth 2 --iters 2 --json "$CXR_TMP/buckets.json" \
  >"$CXR_TMP/out.txt" 2>"$CXR_TMP/err.txt" || { cat "$CXR_TMP/err.txt"; fail "bucket benchmark"; }
grep -q "bucket 0" "$CXR_TMP/out.txt" || fail "no bucket rows"
python3 - "$CXR_TMP/buckets.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
rows = j["rows"]
assert len(rows) >= 2, rows
assert all(r["name"].startswith("bucket ") for r in rows)
assert all(r["bytes"] <= 0.01 * 1024 * 1024 or r["count"] > 0 for r in rows)
print("buckets:", len(rows), "total bytes", j["total_bytes"])
PY
# The layout is the trainer's: the same bucket count the trainer logs for that model and size.
"$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/ds" --size 32 --shard-size 32 2>/dev/null
mpi 2 "$CXR_BIN/app/cxr-train" --data "$CXR_TMP/ds" --run-dir "$CXR_TMP/run" model.base_width=8 model.depth=2 train.threads=1 \
  train.device=cpu train.bucket_mb=0.01 --max-steps 1 train.val_every=0 --norm group 2>"$CXR_TMP/train.log" || { cat "$CXR_TMP/train.log"; fail "training"; }
n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['rows']))" "$CXR_TMP/buckets.json")
grep -q "gradient buckets $n (0.01 MB" "$CXR_TMP/train.log" || { grep "gradient buckets" "$CXR_TMP/train.log"; fail "the benchmark's $n buckets are not the trainer's"; }
