#!/usr/bin/env bash
# A killed cxr-preprocess leaves only complete shards; running it again keeps them, redoes the
# rest and ends with the same bytes as an uninterrupted run. --force redoes everything.
source "$(dirname "$0")/common.sh"
"$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/clean" --size 64 --shard-size 8 2>/dev/null

CXR_TEST_IMAGE_DELAY_MS=40 "$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/killed" --size 64 --shard-size 8 \
  2>/dev/null &
pid=$!
# Kill it once two shards are complete and it is in the middle of a third.
for _ in $(seq 1 400); do
  n=$( (find "$CXR_TMP/killed" -name 'shard-*.h5' 2>/dev/null || true) | wc -l)
  [ "$n" -ge 2 ] && break
  sleep 0.05
done
sleep 0.1
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
[ -f "$CXR_TMP/killed/manifest.json" ] && fail "a killed run wrote a manifest"
done_before=$(find "$CXR_TMP/killed" -name 'shard-*.h5' | wc -l)
[ "$done_before" -ge 2 ] || fail "expected at least 2 finished shards before the kill, found $done_before"
[ "$done_before" -lt 13 ] || fail "the run finished before it was killed"
# Every shard under its final name is complete (only temporary names can be partial).
py=$(h5py_python)
if [ -n "$py" ]; then
  "$py" -c "import h5py,glob,sys; [h5py.File(f,'r')['images'][:] for f in glob.glob(sys.argv[1]+'/*/shard-*.h5')]" "$CXR_TMP/killed"
fi

"$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/killed" --size 64 --shard-size 8 2>"$CXR_TMP/resume.log"
grep -q "reused" "$CXR_TMP/resume.log" || { cat "$CXR_TMP/resume.log"; fail "the rerun did not report reused shards"; }
reused=$(grep -oE '[0-9]+ shards reused' "$CXR_TMP/resume.log" | grep -oE '^[0-9]+')
[ "$reused" -ge "$done_before" ] || fail "reused $reused shards, $done_before were complete"
find "$CXR_TMP/killed" -name '.*tmp*' | grep -q . && fail "temporary files left behind"
(cd "$CXR_TMP/clean" && find . -name '*.h5' | sort | xargs sha256sum) > "$CXR_TMP/a"
(cd "$CXR_TMP/killed" && find . -name '*.h5' | sort | xargs sha256sum) > "$CXR_TMP/b"
diff "$CXR_TMP/a" "$CXR_TMP/b" || fail "resumed dataset differs from the uninterrupted one"

"$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/killed" --size 64 --shard-size 8 --force 2>"$CXR_TMP/force.log"
grep -q " 0 shards reused" "$CXR_TMP/force.log" || { cat "$CXR_TMP/force.log"; fail "--force reused shards"; }

# Other settings into the same directory: refused without --force, nothing touched.
before=$(cd "$CXR_TMP/killed" && find . -name '*.h5' | sort | xargs sha256sum)
expect_exit 2 "already holds a dataset made from other inputs or settings" \
  "$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/killed" --size 32 --shard-size 8
[ "$before" == "$(cd "$CXR_TMP/killed" && find . -name '*.h5' | sort | xargs sha256sum)" ] || fail "a refused run changed shards"
# With --force: replaced, and shards the new plan does not have are removed.
"$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/killed" --size 32 --shard-size 50 --force 2>/dev/null
n=$(find "$CXR_TMP/killed" -name 'shard-*.h5' | wc -l)
expected=$(json "$CXR_TMP/killed/manifest.json" "sum(len(s['shards']) for s in m['splits'].values())")
[ "$n" -eq "$expected" ] && [ "$n" -lt 13 ] || fail "expected $expected shards after --force with shard size 50, found $n"
