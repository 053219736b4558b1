#!/usr/bin/env bash
# cxr-preprocess with 1, 2 and 3 ranks: byte-identical shards, the same counts, every listed image
# accounted for once, shards readable by h5py.
source "$(dirname "$0")/common.sh"
py=$(h5py_python)
for n in 1 2 3; do
  mpi "$n" "$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/ds$n" --size 64 --shard-size 16 2>"$CXR_TMP/log$n.txt" \
    || { cat "$CXR_TMP/log$n.txt"; fail "$n ranks failed"; }
  "${py:-python3}" "$(dirname "$0")/check_dataset.py" "$CXR_TMP/ds$n" "$CXR_FIXTURE" --expect-skipped 0
done
for n in 2 3; do
  (cd "$CXR_TMP/ds1" && find . -name '*.h5' | sort | xargs sha256sum) > "$CXR_TMP/sums1"
  (cd "$CXR_TMP/ds$n" && find . -name '*.h5' | sort | xargs sha256sum) > "$CXR_TMP/sums$n"
  diff "$CXR_TMP/sums1" "$CXR_TMP/sums$n" || fail "shards differ between 1 and $n ranks"
  for key in "m['totals']" "[(k, v['images'], v['patients']) for k, v in sorted(m['splits'].items())]"; do
    [ "$(json "$CXR_TMP/ds1/manifest.json" "$key")" == "$(json "$CXR_TMP/ds$n/manifest.json" "$key")" ] \
      || fail "manifest $key differs between 1 and $n ranks"
  done
  [ "$(json "$CXR_TMP/ds$n/manifest.json" "m['timings']['ranks']")" == "$n" ] || fail "manifest does not record $n ranks"
done
if [ -n "$py" ]; then
  # The images datasets themselves, compared through h5py.
  "$py" - "$CXR_TMP" <<'PY'
import sys, glob, h5py, numpy as np, os
t = sys.argv[1]
for f in sorted(glob.glob(t + "/ds1/*/*.h5")):
    rel = os.path.relpath(f, t + "/ds1")
    a = h5py.File(f, "r")["images"][:]
    for n in (2, 3):
        b = h5py.File(f"{t}/ds{n}/{rel}", "r")["images"][:]
        assert a.shape == b.shape and np.array_equal(a, b), f"{rel} differs with {n} ranks"
print("images datasets identical for 1, 2, 3 ranks")
PY
fi
# --limit keeps the first N images by name and says how many it left out.
"$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/limited" --size 32 --limit 10 2>/dev/null
[ "$(json "$CXR_TMP/limited/manifest.json" "m['totals']['written']")" == 10 ] || fail "--limit 10 did not write 10"
[ "$(json "$CXR_TMP/limited/manifest.json" "m['totals']['excluded_by_limit']")" == 90 ] || fail "--limit not reported"
