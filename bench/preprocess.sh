#!/usr/bin/env bash
# The data-path benchmark of docs/BENCHMARKS.md: on the real NIH sample (1024x1024 PNGs),
#   - the floor: read + decode only, and decode + resize to 256 (one core);
#   - cxr-preprocess images/s with 1 and 2 ranks (each rank one core);
#   - HDF5 read speed of the shards it wrote (one reader);
#   - shard size and speed per deflate level (why gzip level 1 is the default).
#   bench/preprocess.sh [NIH_ROOT] [RESULTS_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
input="${1:-$root/../shared/data/nih-sample}"
results="${2:-$root/bench/results}"
build="${CXR_BUILD_DIR:-$root/build}"
[ -d "$input" ] || { echo "no NIH root at $input" >&2; exit 2; }
"$root/scripts/build.sh" "$build" >/dev/null
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mkdir -p "$results"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
"$build/bench/cxr-bench" decode --input "$input" --size 256 --json "$results/decode.json"
# The reference's Python preprocessing on the same files (Pillow in a venv under the build dir).
venv="$build/bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import PIL" 2>/dev/null || "$venv/bin/pip" install -q pillow
"$venv/bin/python" "$root/bench/pil_baseline.py" "$input" --size 256 --json "$results/pil.json"
for n in 1 2; do
  mpirun --oversubscribe -n "$n" "$build/preprocess/cxr-preprocess" --input "$input" --output "$tmp/ds$n" --size 256 \
    --shard-size 32 2>/dev/null
  python3 - "$tmp/ds$n/manifest.json" "$results/preprocess-$n.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); t = m["timings"]
json.dump(t, open(sys.argv[2], "w"), indent=2)
per = " ".join(f"{r['images_per_s']:.1f}" for r in t["per_rank"])
print(f"# cxr-preprocess, {t['ranks']} rank(s): {t['decoded']} images in {t['write_s']:.2f} s = "
      f"{t['images_per_s']:.1f} images/s total; per rank: {per}")
PY
done
"$build/bench/cxr-bench" read --dataset "$tmp/ds1" --json "$results/read.json"
"$build/bench/cxr-bench" compression --input "$input" --size 256 --json "$results/compression.json"
