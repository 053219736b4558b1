#!/usr/bin/env bash
# The chained pipeline on a real (single-node) Slurm with 2 tasks: preprocess -> train -> eval ->
# reduce through slurm/submit-pipeline.sh, ending with a summary table.
source "$(dirname "$0")/slurm_common.sh"
"$home/slurm/submit-pipeline.sh" --input "$CXR_FIXTURE" --data "$CXR_TMP/data" --run "$CXR_TMP/run" --config "$CXR_TMP/tiny.yaml" \
  --tasks-per-node 2 --time 10 --sigmas 0.1,0.2 --wait > "$CXR_TMP/submit.log" 2>&1 || { cat "$CXR_TMP/submit.log" "$CXR_TMP/run/slurm-logs/"*; fail "pipeline"; }
cat "$CXR_TMP/submit.log"
grep -q "| run | 0.1 |" "$CXR_TMP/run/summary/summary.md" || fail "no quality table in the summary"
grep -q "| run | 0.2 |" "$CXR_TMP/run/summary/summary.md" || fail "sigma 0.2 missing from the summary"
[ "$(json "$CXR_TMP/data/manifest.json" "m['timings']['ranks']")" == 2 ] || fail "preprocess did not run on 2 ranks"
ls "$CXR_TMP/run/logs/rank-00001.jsonl" >/dev/null || fail "training did not run on 2 ranks"
ls "$CXR_TMP/run/eval/rank-00001.csv" >/dev/null || fail "evaluation did not run on 2 ranks"
grep -q "launch: srun" "$CXR_TMP/run/slurm-logs/"train-*.out || fail "training was not launched with srun"
# A failing stage stops the chain: afterok cancels what depends on it.
"$home/slurm/submit-pipeline.sh" --input "$CXR_TMP/nowhere" --data "$CXR_TMP/data2" --run "$CXR_TMP/run2" --config "$CXR_TMP/tiny.yaml" \
  --tasks-per-node 2 --time 5 --wait > "$CXR_TMP/submit2.log" 2>&1 && fail "a pipeline with a missing input succeeded"
grep -q "does not exist" "$CXR_TMP/run2/slurm-logs/"preprocess-*.out || fail "the preprocess log does not say what was wrong"
[ -d "$CXR_TMP/run2/checkpoints" ] && fail "training ran after preprocessing failed"
true
