#!/usr/bin/env bash
# cxr-synth: the same seed gives the same files; another seed gives other images.
source "$(dirname "$0")/common.sh"
for d in a b; do "$synth" --output "$CXR_TMP/$d" --count 30 --size 64 --seed 9 2>/dev/null; done
"$synth" --output "$CXR_TMP/c" --count 30 --size 64 --seed 10 2>/dev/null
diff -r "$CXR_TMP/a" "$CXR_TMP/b" >/dev/null || fail "same seed, different output"
cmp -s "$CXR_TMP/a/images_001/images/00000001_000.png" "$CXR_TMP/c/images_001/images/00000001_000.png" && fail "different seeds, same image"
# Layout: several images per patient, PA and AP, RGBA files among them.
python3 - "$CXR_TMP/a" <<'PY'
import sys, collections
rows = open(sys.argv[1] + "/Data_Entry_2017.csv").read().splitlines()[1:]
patients = collections.Counter(r.split(",")[3] for r in rows)
views = {r.split(",")[6] for r in rows}
assert max(patients.values()) > 1, "no patient has follow-ups"
assert views == {"PA", "AP"}, views
PY
file "$CXR_TMP/a/images_001/images/"*.png 2>/dev/null | grep -q RGBA || python3 - "$CXR_TMP/a" <<'PY'
import sys, glob, struct
rgba = [f for f in glob.glob(sys.argv[1] + "/images_001/images/*.png") if open(f, "rb").read(26)[25] == 6]
assert rgba, "no RGBA PNG written"
PY
