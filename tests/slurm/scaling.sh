#!/usr/bin/env bash
# The admins' scaling study on a real Slurm: 1 and 2 ranks (weak scaling), then one cxr-reduce
# with the speedup and efficiency table and plot.
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
print("weak scaling rows:", weak)
PY
[ -s "$CXR_TMP/study/summary/scaling.png" ] || fail "no scaling plot"
