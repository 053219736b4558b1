#!/usr/bin/env bash
# The admins' scaling study on a real Slurm: 1 and 2 ranks (weak scaling), then one cxr-reduce
# with the speedup and efficiency table and plot. The points run apart (one after another, whole
# nodes), with the same threads per rank, beside an all-reduce benchmark, and the table gives
# median step times after a warm-up with their spread, and the scaling model's prediction beside them.
source "$(dirname "$0")/slurm_common.sh"
"$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/data" --config "$CXR_TMP/tiny.yaml" 2>/dev/null
"$home/slurm/scaling-study.sh" --data "$CXR_TMP/data" --out "$CXR_TMP/study" --config "$CXR_TMP/tiny.yaml" --ranks "1 2" \
  --mode weak --batch 4 --steps 12 --tasks-per-node 2 --time 10 --wait > "$CXR_TMP/study.log" 2>&1 \
  || { cat "$CXR_TMP/study.log" "$CXR_TMP/study/slurm-logs/"*; fail "scaling study"; }
cat "$CXR_TMP/study.log"
python3 - "$CXR_TMP/study/summary/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["scaling"]
weak = sorted((r["ranks"], r["efficiency"]) for r in s if r["kind"] == "weak")
assert [r for r, _ in weak] == [1, 2], weak
assert weak[0][1] == 1.0 and weak[1][1] > 0, weak
for r in s:
    assert r["step_s_median"] > 0 and r["step_s_spread"] >= 0 and r["warmup_steps"] >= 1, r
    # The scaling model (fitted to the 1-rank point and the all-reduce benchmark) beside each point.
    assert r["predicted_images_per_s"] > 0 and r["prediction_error"] is not None, r
print("weak scaling rows (ranks, efficiency):", weak, "prediction errors:", [round(r["prediction_error"], 3) for r in s])
PY
grep -q "median step s" "$CXR_TMP/study/summary/summary.md" || fail "the scaling table does not give median step times"
grep -q "### Projection: weak scaling" "$CXR_TMP/study/summary/summary.md" || fail "no projection in the summary"
# The points ran apart: the 2-rank job started after the 1-rank job had ended.
python3 - "$CXR_TMP/study/slurm-logs" <<'PY'
import glob, re, sys
def times(pattern):
    text = open(glob.glob(sys.argv[1] + "/" + pattern)[0]).read()
    stamps = re.findall(r"^\[(\d\d):(\d\d):(\d\d)\]", text, re.M)
    secs = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in stamps]
    return min(secs), max(secs)
one, two = times("train-1-*.out"), times("train-2-*.out")
assert one[1] <= two[0], f"the points overlapped: 1 rank {one}, 2 ranks {two}"
print("points apart: 1 rank", one, "then 2 ranks", two)
PY
# The same threads per rank in both points.
grep -h "intra-op/noise threads per local rank" "$CXR_TMP/study/slurm-logs/train-"*.out
grep -q "per local rank: 1/1$" "$CXR_TMP/study/slurm-logs/train-1-"*.out || fail "the 1-rank point does not use one thread"
grep -q "per local rank: 1/1, 1/1$" "$CXR_TMP/study/slurm-logs/train-2-"*.out || fail "the 2-rank point does not use one thread per rank"
# The all-reduce benchmark ran beside the points, checked.
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['rows'] and j['wrong'] == 0, j" "$CXR_TMP/study/allreduce-1nodes.json" \
  || fail "no all-reduce benchmark beside the points"
[ -s "$CXR_TMP/study/summary/scaling.png" ] || fail "no scaling plot"
