# Sourced by the CPU benchmark scripts: where things are, a scratch directory removed on exit,
# Open MPI allowed to run as root (containers, CI), and a synthetic dataset on demand.
#   CXR_BUILD_DIR  the build to measure (default build/)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${CXR_BUILD_DIR:-$root/build}"
results="$root/bench/results"
mkdir -p "$results"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# synthetic_dataset COUNT SIZE DEST: cxr-synth images, preprocessed into shards at SIZE.
synthetic_dataset() {
  "$build/app/cxr-synth" --output "$tmp/synth-$1-$2" --count "$1" --size "$2" 2>/dev/null
  "$build/preprocess/cxr-preprocess" --input "$tmp/synth-$1-$2" --output "$3" --size "$2" 2>/dev/null
}

machine_line() { echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"; }
