#!/usr/bin/env bash
# Installs what cxr-denoise needs to build and test, from Debian's packages. Idempotent: it
# installs only what is missing, and does nothing when all is there. As root it runs apt-get;
# otherwise it uses sudo when it can, or prints the command to run.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev                       # LibTorch 1.13 (CPU), the default flavour
  libopenmpi-dev openmpi-bin         # MPI
  libhdf5-dev hdf5-tools             # shards
  libyaml-cpp-dev                    # configs
  doctest-dev                        # unit tests
  libspng-dev zlib1g-dev             # PNG
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libssl-dev
  libboost-math-dev                  # t distribution for the reducer's paired tests
  gnuplot-nox                        # the reducer's plots
  python3 python3-venv python3-h5py python3-numpy python3-pil   # read-back and Pillow cross-checks, the wheel venv
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "cxr-denoise needs these packages (Debian/Ubuntu names): ${missing[*]}" >&2
  echo "Install their equivalents with your package manager, then run this again." >&2
  exit 2
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
  echo "Missing packages: ${missing[*]}" >&2
  echo "Run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 2
fi
echo "scripts/deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
