#!/usr/bin/env bash
# The GPU check: on a machine with a CUDA GPU, Python torch (whose LibTorch, CUDA libraries and
# NCCL the build uses), a C++ compiler, cmake and ninja, and no other packages or network, it
#   1. unpacks the dependency bundle made by scripts/gpu-bundle.sh (Debian packages, Open MPI wheel),
#   2. builds cxr-denoise against the Python torch's LibTorch (Release, NCCL backend on),
#   3. runs the test suite's GPU cases (ctest -L gpu) and the unit tests,
#   4. measures training images/s at 256x256 (bench/gpu.sh): cxr-train and the reference's Python
#      loop, U-Net and U-Net++, fp32/fp16/bf16, same GPU, same run,
# and writes OUT/gpu-check.json (machine, versions, tests, numbers, goals) and OUT/gpu-check.log
# (with machine.json, gpu-bench.json, ctest.log, and build.log when the build fails).
#
#   scripts/gpu-check.sh [--bundle DIR] [--out DIR] [--steps N] [--full-tests] [--no-tests] [--no-bench] [--allow-cpu]
#
#   --bundle DIR   the bundle (default .gpu-bundle)            --out DIR   results (default $OUT, else gpu-check-out)
#   --steps N      timed training steps per configuration (default 30, after 8 warm-up steps)
#   --full-tests   the whole ctest suite instead of the GPU cases and unit tests
#   --no-tests     skip the tests              --no-bench   skip the benchmark
# Environment: CXR_GPU_CMAKE_ARGS (more cmake arguments, e.g. -DCMAKE_EXE_LINKER_FLAGS=...),
# CXR_PYTHON (the Python with torch; default python3), CXR_GPU_WORK (unpack folder), CXR_GPU_BUILD
# (build folder; default build-gpu).
#   --allow-cpu    go on without a GPU (GPU cases skip; the benchmark runs tiny, on the CPU): for
#                  checking the bundle and this script on a machine without one (scripts/check-gpu-bundle.sh)
# Exit status: 0 all passed, 1 a build, test or benchmark failure, 2 bad arguments or bundle, 3 no GPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="$root/.gpu-bundle"
out="${OUT:-$root/gpu-check-out}"
steps=30
full_tests=0 tests=1 bench=1 allow_cpu=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle="$(cd "$2" && pwd)"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --full-tests) full_tests=1; shift ;;
    --no-tests) tests=0; shift ;;
    --no-bench) bench=0; shift ;;
    --allow-cpu) allow_cpu=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "gpu-check.sh: unknown argument '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"
exec > >(tee "$out/gpu-check.log") 2>&1
start=$SECONDS
step() { echo; echo "=== [$((SECONDS - start)) s] $*"; }
work="${CXR_GPU_WORK:-/tmp/cxr-gpu-check}"
build="${CXR_GPU_BUILD:-$root/build-gpu}"
py="${CXR_PYTHON:-python3}"
[ -d "$bundle/debs" ] && [ -d "$bundle/wheels" ] || { echo "gpu-check.sh: no bundle at $bundle (make it with scripts/gpu-bundle.sh)" >&2; exit 2; }

"$py" -c "import torch" 2>/dev/null || { echo "gpu-check.sh: $py cannot import torch (set CXR_PYTHON to the Python that has it)" >&2; exit 2; }

step "1/5 machine"
"$py" - "$out/machine.json" <<'PY'
import json, os, platform, subprocess, sys
import torch
info = {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
        "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    info.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), gpu_sm=f"{p.major}{p.minor}",
                multiprocessors=p.multi_processor_count, cudnn=torch.backends.cudnn.version(),
                nccl=".".join(map(str, v)) if isinstance(v := torch.cuda.nccl.version(), tuple) else str(v))
try:
    info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                    capture_output=True, text=True, timeout=30).stdout.strip()
except (OSError, subprocess.SubprocessError):
    info["driver"] = None
for tool in ("c++", "cmake", "ninja"):
    try:
        info[tool] = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        info[tool] = None
json.dump(info, open(sys.argv[1], "w"), indent=2)
print("\n".join(f"{k:>16}: {v}" for k, v in info.items()))
PY
gpu=$("$py" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["cuda_available"]))' "$out/machine.json")
if [ "$gpu" -ne 1 ] && [ "$allow_cpu" -ne 1 ]; then
  echo "gpu-check.sh: Python torch sees no CUDA device (give --allow-cpu to check the build without one)" >&2
  exit 3
fi

step "2/5 unpacking the dependency bundle into $work"
source "$root/scripts/gpu-env.sh" "$bundle" "$work"
"$mpi/bin/mpicc" --showme:version 2>/dev/null || true

step "3/5 building against $("$py" -c 'import torch; print("torch", torch.__version__)')"
torch_dir=$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
build_start=$SECONDS
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_dir;$CXR_DEPS/usr" "${CXR_GPU_CMAKE[@]}"
            -DCXR_SHARED_DATA="$root/../shared/data" ${CXR_GPU_CMAKE_ARGS:-})
# A build folder this script configured with other paths (another torch or bundle folder)
# starts afresh; one it did not make is left alone.
if [ -f "$build/CMakeCache.txt" ] && [ "$(cat "$build/.cxr-gpu-args" 2>/dev/null)" != "${cmake_args[*]}" ]; then
  [ -f "$build/.cxr-gpu-args" ] || { echo "gpu-check.sh: $build holds another build; set CXR_GPU_BUILD to another folder" >&2; exit 2; }
  rm -rf "$build"
fi
mkdir -p "$build"
echo "${cmake_args[*]}" > "$build/.cxr-gpu-args"
cmake -S "$root" -B "$build" "${cmake_args[@]}" > "$work/cmake.log" 2>&1 || {
  cat "$work/cmake.log"
  # What CMake's own compiler checks ran and printed (a failing nvcc shows only there).
  for f in "$work/cmake.log" "$build"/CMakeFiles/CMake{Error.log,Output.log,ConfigureLog.yaml}; do
    [ -f "$f" ] && cp "$f" "$out/"
  done
  [ -f "$build/CMakeFiles/CMakeError.log" ] && tail -40 "$build/CMakeFiles/CMakeError.log"
  echo "gpu-check.sh: cmake failed (logs in $out)" >&2; exit 1; }
grep -E "^-- cxr:" "$work/cmake.log" || true
ninja -C "$build" > "$work/build.log" 2>&1 || {
  cp "$work/build.log" "$out/"; tail -50 "$work/build.log"; echo "gpu-check.sh: build failed ($out/build.log)" >&2; exit 1; }
build_s=$((SECONDS - build_start))
if ! "$build/app/cxr-inspect" --devices && [ "$gpu" -eq 1 ]; then
  echo "gpu-check.sh: Python torch sees a GPU but the build does not (see above)" >&2
  exit 1
fi
echo "built in $build_s s"

step "4/5 tests"
tests_rc=0
: > "$work/ctest.log"
if [ "$tests" -eq 0 ]; then
  echo "skipped (--no-tests)"
elif [ "$full_tests" -eq 1 ]; then
  (cd "$build" && ctest -j "$(nproc)" --output-on-failure --timeout 900) > "$work/ctest.log" 2>&1 || tests_rc=$?
else
  (cd "$build" && ctest -L gpu --output-on-failure -V --timeout 300 && ctest -R '^unit\.' -j "$(nproc)" --output-on-failure) \
    > "$work/ctest.log" 2>&1 || tests_rc=$?
fi
grep -E "tests passed|Test +#|gpu resume:|amp (off|fp16|bf16):|eval:|SKIP" "$work/ctest.log" | sed 's/^[0-9]*: //' || true
cp "$work/ctest.log" "$out/"
[ "$tests_rc" -eq 0 ] || tail -60 "$work/ctest.log"

bench_rc=0
if [ "$bench" -eq 1 ]; then
  step "5/5 training images/s (bench/gpu.sh)"
  bench_args=(--build "$build" --out "$out" --steps "$steps")
  [ "$gpu" -eq 1 ] || bench_args+=(--cpu-smoke)
  CXR_BENCH_PYTHON="$py" "$root/bench/gpu.sh" "${bench_args[@]}" || bench_rc=$?
fi

"$py" - "$out" "$build_s" "$tests_rc" "$bench_rc" "$work/ctest.log" <<'PY'
import json, os, re, sys
out, build_s, tests_rc, bench_rc, ctest_log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
log = open(ctest_log).read()
tests = {"exit": tests_rc, "summary": re.findall(r"\d+% tests passed.*", log),
         "results": re.findall(r"Test +#\d+: (\S+) \.+\**\s*(\w+(?: \w+)?)", log),
         "gpu_resume": re.findall(r"gpu resume: .*", log), "gpu_training": re.findall(r"amp (?:off|fp16|bf16): .*", log)}
report = {"machine": json.load(open(os.path.join(out, "machine.json"))), "build_s": build_s, "tests": tests}
bench = os.path.join(out, "gpu-bench.json")
if os.path.exists(bench):
    report["bench"] = json.load(open(bench))
report["bench_exit"] = bench_rc
json.dump(report, open(os.path.join(out, "gpu-check.json"), "w"), indent=2)
print(f"wrote {out}/gpu-check.json")
PY
step "done: build ok, tests exit $tests_rc, benchmark exit $bench_rc"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ] || exit 1
