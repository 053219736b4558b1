#!/usr/bin/env bash
# The main job on the built-in default: a synthetic ChestX-ray14 root, sharded by cxr-preprocess
# with 2 MPI ranks. Builds first (installing missing packages). Output goes to out/demo/.
#   scripts/demo.sh [OUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/out/demo}"
build="${CXR_BUILD_DIR:-$root/build}"
"$root/scripts/build.sh" "$build"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
ranks="${CXR_DEMO_RANKS:-2}"
mpirun=(mpirun --oversubscribe -n "$ranks")

echo "== 1/2 cxr-synth: a synthetic ChestX-ray14 root (120 images, 1024x1024) in $out/nih"
if [ ! -f "$out/nih/test_list.txt" ]; then
  "$build/app/cxr-synth" --output "$out/nih" --count 120 --size 1024 --seed 0
else
  echo "   (already there)"
fi

echo "== 2/2 cxr-preprocess with $ranks ranks: HDF5 shards at 64x64 in $out/dataset"
"${mpirun[@]}" "$build/preprocess/cxr-preprocess" --input "$out/nih" --output "$out/dataset" \
  --config "$root/configs/demo.yaml"

echo
echo "== what it made"
python3 - "$out/dataset/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
t = m["totals"]
print(f"manifest: {sys.argv[1]}")
print(f"{'split':<6} {'images':>7} {'patients':>9} {'shards':>7}")
for name in ("train", "val", "test"):
    s = m["splits"].get(name, {"images": 0, "patients": 0, "shards": []})
    print(f"{name:<6} {s['images']:>7} {s['patients']:>9} {len(s['shards']):>7}")
print(f"listed {t['listed']}, written {t['written']}, skipped {t['skipped']}; "
      f"{m['timings']['images_per_s']:.1f} images/s over {m['timings']['ranks']} ranks")
PY
