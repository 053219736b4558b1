#!/usr/bin/env bash
# cxr-eval evaluates every test image exactly once whatever the rank count (1, 2, 3: the reduced
# means are equal); cxr-reduce gives the same summary as one process or under mpirun; malformed
# or missing rank files and NaN values are refused by name; a test-only dataset evaluated into an
# --out folder reduces on its own. The re-identification queries (privacy report) are the same
# whatever the rank count (the gallery is gathered from every rank) and reduce into the summary's
# privacy section.
source "$(dirname "$0")/train_common.sh"
evaluate="$CXR_BIN/app/cxr-eval"
reduce="$CXR_BIN/app/cxr-reduce"
"$train" "${tiny[@]}" --epochs 2 --batch-size 4 --norm group --run-dir "$CXR_TMP/run" 2>/dev/null || fail "training"
for n in 1 2 3; do
  cp -r "$CXR_TMP/run" "$CXR_TMP/run$n"
  mpi $n "$evaluate" --run "$CXR_TMP/run$n" --sigma 0.1,0.2 --batch-size 3 2>"$CXR_TMP/log" || { cat "$CXR_TMP/log"; fail "eval with $n ranks"; }
  "$reduce" "$CXR_TMP/run$n" --out "$CXR_TMP/sum$n" --no-plots 2>/dev/null || fail "reduce of the $n-rank evaluation"
done
python3 - "$CXR_TMP" "$ds/manifest.json" <<'PY'
import csv, glob, json, sys
t, manifest = sys.argv[1], json.load(open(sys.argv[2]))
n_test = manifest["splits"]["test"]["images"]
for n in (1, 2, 3):
    rows = [r for f in sorted(glob.glob(f"{t}/run{n}/eval/rank-*.csv")) for r in csv.DictReader(open(f))]
    assert len(glob.glob(f"{t}/run{n}/eval/rank-*.csv")) == n
    keys = [(r["image"], r["sigma"], r["method"]) for r in rows]
    assert len(keys) == len(set(keys)) == n_test * 2 * 4, (n, len(keys), len(set(keys)), n_test)
    assert all(r["lpips"] == "" for r in rows), "LPIPS must be empty when unavailable, never a number"
groups = {n: {(g["sigma"], g["method"]): g["psnr"]["mean"] for g in json.load(open(f"{t}/sum{n}/summary.json"))["groups"]} for n in (1, 2, 3)}
for n in (2, 3):
    for k, v in groups[1].items():
        assert abs(groups[n][k] - v) < 1e-5, (n, k, groups[n][k], v)
print(f"{n_test} test images x 2 sigmas x 4 methods, each exactly once with 1, 2, 3 ranks; means equal")
# Re-identification: clean once, obfuscated and denoised per sigma; the same ranks with 1, 2, 3 ranks.
matches = {n: sorted(tuple(r.values()) for f in glob.glob(f"{t}/run{n}/eval/match-*.csv") for r in csv.DictReader(open(f)))
           for n in (1, 2, 3)}
assert len(matches[1]) == n_test * 5, len(matches[1])
assert matches[1] == matches[2] == matches[3], "the re-identification ranks depend on the rank count"
clean = [r for r in csv.DictReader(open(f"{t}/run1/eval/match-00000.csv")) if r["query"] == "clean"]
assert clean and all(r["own_rank"] == "1" and r["gallery"] == str(n_test) for r in clean), "a clean image must match its own original first"
p = json.load(open(f"{t}/sum1/summary.json"))["privacy"]
cell = {(c["gallery"], c["sigma"], c["query"]): c for c in p["reidentification"]}
assert cell[("a", 0, "clean")]["top1"]["rate"] == 1.0
b = cell[("b", 0, "clean")]["top1"]  # the synthetic patients' studies share their anatomy
assert b["rate"] > 2 * b["chance"], b
assert {(d["sigma"], d["target"]) for d in p["deobfuscation"]} == {(0.1, "clean"), (0.2, "clean")}, p["deobfuscation"]
print(f"re-identification: {len(matches[1])} queries, equal with 1, 2, 3 ranks; follow-ups top-1 {b['rate']:.2f} vs chance {b['chance']:.2f}")
PY
ls "$CXR_TMP/run1/samples/sigma-0.1/"*.png >/dev/null || fail "no sample grids"

# Reduce under mpirun: the same numbers as one process; plots written.
mpi 2 "$reduce" "$CXR_TMP/run1" "$CXR_TMP/run2" --out "$CXR_TMP/sum-mpi" 2>/dev/null || fail "reduce under mpirun"
"$reduce" "$CXR_TMP/run1" "$CXR_TMP/run2" --out "$CXR_TMP/sum-one" 2>"$CXR_TMP/reduce.log" || fail "reduce of two runs"
python3 - "$CXR_TMP" <<'PY'
import json, sys
t = sys.argv[1]
a, b = json.load(open(f"{t}/sum-mpi/summary.json")), json.load(open(f"{t}/sum-one/summary.json"))
assert a["groups"] == b["groups"] and a["paired"] == b["paired"]
runs = {(p["a"], p["b"]) for p in a["paired"]}
assert ("run1:model", "run2:model") in runs, runs  # the two runs compared image by image
PY
if command -v gnuplot >/dev/null; then
  [ -s "$CXR_TMP/sum-one/psnr_by_sigma.png" ] || fail "no PSNR plot"
  [ -s "$CXR_TMP/sum-one/privacy.png" ] || fail "no privacy plot"
else  # a machine without gnuplot (the GPU check's): tables, and a warning instead of plots
  grep -q "gnuplot failed or is not installed" "$CXR_TMP/reduce.log" || fail "no warning about the missing gnuplot"
fi
grep -q "| run1 | 0.1 |" "$CXR_TMP/sum-one/summary.md" || fail "summary.md lacks the quality table"
grep -q "^| a | 0.1 | obfuscated | - |" "$CXR_TMP/sum-one/summary.md" || fail "summary.md lacks the re-identification table"
grep -q "^| a | 0.1 | denoised | run2 |" "$CXR_TMP/sum-one/summary.md" || fail "summary.md lacks run2's denoised queries"

# Bad inputs, each named.
cp -r "$CXR_TMP/run2" "$CXR_TMP/bad"
rm "$CXR_TMP/bad/eval/rank-00001.csv"
expect_exit 2 "rank-00001.csv is missing" "$reduce" "$CXR_TMP/bad" --out "$CXR_TMP/x"
cp "$CXR_TMP/run2/eval/rank-00001.csv" "$CXR_TMP/bad/eval/"
sed -i '2d' "$CXR_TMP/bad/eval/match-00001.csv"
expect_exit 2 "re-identification rows, expected .*: an incomplete evaluation" "$reduce" "$CXR_TMP/bad" --out "$CXR_TMP/x"
rm "$CXR_TMP/bad/eval/match-00001.csv"
expect_exit 2 "match-00001.csv is missing" "$reduce" "$CXR_TMP/bad" --out "$CXR_TMP/x"
cp "$CXR_TMP/run2/eval/match-00001.csv" "$CXR_TMP/bad/eval/"
sed -i '3s/,model,[0-9.]*,/,model,nan,/; 3s/,noisy,[0-9.]*,/,noisy,nan,/; 3s/,gaussian,[0-9.]*,/,gaussian,nan,/; 3s/,median,[0-9.]*,/,median,nan,/' "$CXR_TMP/bad/eval/rank-00001.csv"
expect_exit 2 "rank-00001.csv:3: value nan is not finite" "$reduce" "$CXR_TMP/bad" --out "$CXR_TMP/x"
cp "$CXR_TMP/run2/eval/rank-00001.csv" "$CXR_TMP/bad/eval/"
sed -i '4s/,[^,]*,$/,/; 4s/^[^,]*,//' "$CXR_TMP/bad/eval/rank-00001.csv"
expect_exit 2 "rank-00001.csv:4: expected 10 fields" "$reduce" "$CXR_TMP/bad" --out "$CXR_TMP/x"
cp "$CXR_TMP/run2/eval/rank-00001.csv" "$CXR_TMP/bad/eval/"
sed -i '5d' "$CXR_TMP/bad/eval/rank-00001.csv"
expect_exit 2 "an incomplete evaluation" "$reduce" "$CXR_TMP/bad" --out "$CXR_TMP/x"
expect_exit 2 "has no evaluation" "$reduce" "$CXR_TMP/run" --out "$CXR_TMP/x"
expect_exit 2 "not a cxr-train run directory" "$evaluate" --run "$CXR_TMP/nowhere"
if ! "$CXR_BIN/app/cxr-inspect" --devices >/dev/null 2>&1; then
  expect_exit 2 "device cuda asked for" "$evaluate" --run "$CXR_TMP/run1" --device cuda --out "$CXR_TMP/nogpu"
fi
[ -e "$CXR_TMP/x" ] && fail "a refused reduce wrote output"
true

# Another hospital's test-only dataset: the filters tune on the run's own validation images (and
# the log says so), and the --out folder is one cxr-reduce reads on its own.
"$synth" --output "$CXR_TMP/h2" --count 30 --size 64 --seed 9 2>/dev/null
cat "$CXR_TMP/h2/train_val_list.txt" >>"$CXR_TMP/h2/test_list.txt"
: >"$CXR_TMP/h2/train_val_list.txt"
"$preprocess" --input "$CXR_TMP/h2" --output "$CXR_TMP/h2ds" --size 32 --shard-size 32 2>/dev/null
[ "$(json "$CXR_TMP/h2ds/manifest.json" "sorted(m['splits'])")" = "['test']" ] || fail "the hospital dataset is not test-only"
mpi 2 "$evaluate" --run "$CXR_TMP/run" --data "$CXR_TMP/h2ds" --out "$CXR_TMP/h2eval" --sigma 0.1 2>"$CXR_TMP/log" \
  || { cat "$CXR_TMP/log"; fail "eval of a test-only dataset"; }
grep -q "has no 'val' split: the Gaussian and median baselines tune on the run's own validation images" "$CXR_TMP/log" \
  || fail "eval did not say where the baselines tuned"
"$reduce" "$CXR_TMP/h2eval" --out "$CXR_TMP/h2sum" --no-plots 2>"$CXR_TMP/log" || { cat "$CXR_TMP/log"; fail "reduce of an --out folder"; }
grep -q "| h2eval | 0.1 | 30 | .* / .* |$" "$CXR_TMP/h2sum/summary.md" || fail "no quality row for the test-only evaluation"
# A run whose own dataset has no validation split either: a clear refusal, unless the filters are left out.
cp -r "$CXR_TMP/run" "$CXR_TMP/run-noval"
sed -i "s|^\(  dir: \).*|\1$CXR_TMP/h2ds|" "$CXR_TMP/run-noval/config.yaml"
expect_exit 2 "nor the run's own dataset .* has a 'val' split" "$evaluate" --run "$CXR_TMP/run-noval" --data "$CXR_TMP/h2ds" --out "$CXR_TMP/y"
"$evaluate" --run "$CXR_TMP/run-noval" --data "$CXR_TMP/h2ds" --out "$CXR_TMP/y" --methods model,noisy 2>/dev/null || fail "eval without filters"
expect_exit 2 "is another run's directory" "$evaluate" --run "$CXR_TMP/run" --out "$CXR_TMP/run1"

# LPIPS with a backbone file (random weights of AlexNet's shapes, written the way
# scripts/convert_alexnet_weights.py writes real ones): a number per image, summarised.
py=$(h5py_python)  # Debian's python3 with numpy
"${py:-python3}" - "$CXR_TMP/lpips" <<'PY'
import json, sys
import numpy as np
rng = np.random.default_rng(0)
def write(path, tensors):
    layout, blob = [], b""
    for name, shape in tensors:
        data = (rng.standard_normal(shape) * 0.05).astype("<f4").tobytes()
        layout.append({"name": name, "shape": list(shape), "dtype": "float32_le", "offset_bytes": len(blob), "nbytes": len(data)})
        blob += data
    open(path + ".f32", "wb").write(blob)
    json.dump({"tensors": layout}, open(path + ".json", "w"))
convs = [(0, 64, 3, 11), (3, 192, 64, 5), (6, 384, 192, 3), (8, 256, 384, 3), (10, 256, 256, 3)]
write(sys.argv[1] + "-backbone", [t for i, o, c, k in convs for t in ((f"features.{i}.weight", (o, c, k, k)), (f"features.{i}.bias", (o,)))])
write(sys.argv[1] + "-lin", [(f"lin{n}.model.1.weight", (1, o, 1, 1)) for n, (i, o, c, k) in enumerate(convs)])
PY
cp -r "$CXR_TMP/run" "$CXR_TMP/run-lpips"
# LPIPS's AlexNet needs images of at least 32 px: evaluate at the dataset's 32 px.
mpi 2 "$evaluate" --run "$CXR_TMP/run-lpips" --lpips-backbone "$CXR_TMP/lpips-backbone.json" --lpips-lin "$CXR_TMP/lpips-lin.json" \
  2>"$CXR_TMP/log" || { cat "$CXR_TMP/log"; fail "eval with LPIPS"; }
python3 - "$CXR_TMP/run-lpips/eval" <<'PY'
import csv, glob, math, sys
rows = [r for f in glob.glob(sys.argv[1] + "/rank-*.csv") for r in csv.DictReader(open(f))]
vals = [float(r["lpips"]) for r in rows]
assert vals and all(math.isfinite(v) and v >= 0 for v in vals), "LPIPS values missing or invalid"
PY
"$reduce" "$CXR_TMP/run-lpips" --out "$CXR_TMP/sum-lpips" --no-plots 2>/dev/null
grep -q "LPIPS v0.1" "$CXR_TMP/sum-lpips/summary.md" || fail "summary does not name LPIPS"
python3 -c "import json,sys; g=json.load(open(sys.argv[1]))['groups']; assert all('lpips' in x for x in g)" "$CXR_TMP/sum-lpips/summary.json" \
  || fail "no LPIPS in the summary groups"
expect_exit 2 "needs --lpips-lin" "$evaluate" --run "$CXR_TMP/run-lpips" --lpips-backbone "$CXR_TMP/lpips-backbone.json"
