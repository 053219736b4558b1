# Shared by the integration tests (sourced). ctest sets:
#   CXR_BIN        build directory (tools under preprocess/, app/)
#   CXR_MPIEXEC    mpiexec, CXR_MPIEXEC_FLAGS its extra flags (--oversubscribe, ...)
#   CXR_SHARED     ../shared/data (may be absent)
#   CXR_FIXTURE    the synthetic root made by the synth_fixture test
#   CXR_TMP        a scratch directory for this test
set -euo pipefail
SKIP=77
preprocess="$CXR_BIN/preprocess/cxr-preprocess"
synth="$CXR_BIN/app/cxr-synth"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit $SKIP; }
mpi() { local n=$1; shift; "$CXR_MPIEXEC" -n "$n" $CXR_MPIEXEC_FLAGS "$@"; }

# The Python that has h5py (Debian's python3-h5py lives with /usr/bin/python3), or "".
h5py_python() {
  for py in /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c "import h5py" >/dev/null 2>&1; then echo "$py"; return; fi
  done
  echo ""
}

# expect_exit CODE PATTERN cmd...: the command exits with CODE and its stderr matches PATTERN.
expect_exit() {
  local code=$1 pattern=$2; shift 2
  local rc=0
  "$@" >"$CXR_TMP/out.txt" 2>"$CXR_TMP/err.txt" || rc=$?
  [ "$rc" -eq "$code" ] || { cat "$CXR_TMP/err.txt" >&2; fail "exit $rc, expected $code: $*"; }
  grep -qE -- "$pattern" "$CXR_TMP/err.txt" "$CXR_TMP/out.txt" || { cat "$CXR_TMP/err.txt" >&2; fail "output does not match '$pattern': $*"; }
}

json() { python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

rm -rf "$CXR_TMP"
mkdir -p "$CXR_TMP"
