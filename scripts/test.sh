#!/usr/bin/env bash
# Builds cxr-denoise and runs its whole test suite (unit tests and MPI integration tests).
#   scripts/test.sh [BUILD_DIR] [extra cmake arguments...]
# Tests that need ../shared/data (the real NIH sample and metadata) skip, saying why, without it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
"$root/scripts/build.sh" "$@"
# Open MPI refuses to run as root unless told; CI and containers run as root.
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
cd "$build"
ctest --output-on-failure --timeout 900 -j "$(nproc)"
