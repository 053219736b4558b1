#!/usr/bin/env bash
# Checks scripts/gpu-bundle.sh and scripts/gpu-check.sh without a GPU: in a fresh root made by
# debootstrap (Debian 12, or another system, below) that has only what the GPU machine has (a
# compiler, cmake, ninja, Python, the Python torch wheel bind-mounted from a venv here, and the
# CUDA toolkit), none of the project's -dev packages, and a clean environment, it runs
#   scripts/gpu-check.sh --allow-cpu
# which unpacks the bundle, builds against the wheel's LibTorch with the NCCL backend, runs the
# unit tests (the GPU cases skip) and a tiny CPU run of bench/gpu.sh. Proves that the bundle
# carries every dependency. Root only; about 5 minutes (15 with a new root) and 1 GB beside the
# venv; step 4 of .ci/run. Skips, saying why, where nvcc cannot compile inside the root.
#   sudo scripts/check-gpu-bundle.sh [WORK_DIR [gpu-check.sh options, e.g. --full-tests]]
# Environment: CXR_TORCH_SITE (site-packages holding torch; default the CI's wheel venv);
# CXR_CHECK_DISTRO: bookworm (default), trixie, or noble (Ubuntu 24.04 with Python 3.12, as the
# GPU image is; CXR_TORCH_SITE must then hold a torch for Python 3.12, e.g. from
# `pip install --target DIR --python-version 3.12 --only-binary=:all: torch==2.11.0`).
set -euo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
distro="${CXR_CHECK_DISTRO:-bookworm}"
case "$distro" in
  bookworm) default_work=/tmp/cxr-gpu-sim ;;
  trixie|noble) default_work=/tmp/cxr-gpu-sim-$distro ;;
  *) echo "check-gpu-bundle.sh: CXR_CHECK_DISTRO '$distro' is not bookworm, trixie or noble" >&2; exit 2 ;;
esac
work="$(realpath -m "${1:-$default_work}")"  # absolute: it is also a path inside the root
shift || true
site="${CXR_TORCH_SITE:-$(ls -d "$home"/build-torch-wheel/venv/lib/python3*/site-packages 2>/dev/null | head -1)}"
[ "$(id -u)" -eq 0 ] || { echo "check-gpu-bundle.sh: must run as root (debootstrap, chroot, mount)" >&2; exit 2; }
[ -d "$site/torch" ] || { echo "check-gpu-bundle.sh: no torch in '$site' (run .ci/run once, or set CXR_TORCH_SITE)" >&2; exit 2; }
[ -d "$home/.gpu-bundle/debs" ] || "$home/scripts/gpu-bundle.sh"
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
root="$work/root"
if [ ! -x "$root/usr/bin/g++" ]; then
  mkdir -p "$root"
  if [ "$distro" = noble ]; then
    # Debian 12 has no Ubuntu keyring: the first download is unchecked; apt in the root checks
    # signatures from then on with the keyring debootstrap installed there.
    [ -x "$root/bin/bash" ] || debootstrap --variant=minbase --no-check-gpg --components=main,universe \
      noble "$root" http://archive.ubuntu.com/ubuntu /usr/share/debootstrap/scripts/gutsy
  else
    [ -x "$root/bin/bash" ] || debootstrap --variant=minbase "$distro" "$root" http://deb.debian.org/debian
  fi
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    g++ cmake ninja-build python3 python3-numpy >/dev/null"
fi
mounts=()
bind() {  # bind SRC DEST-inside-root
  mkdir -p "$root$2"
  mount --bind "$1" "$root$2"
  mounts=("$root$2" "${mounts[@]}")
}
trap 'for m in "${mounts[@]}"; do umount "$m"; done' EXIT
bind /proc /proc
bind /dev /dev
bind /sys /sys
bind "$home" /repo
bind "$site" /site
# A clean environment, as on a machine of its own: the host's LIBRARY_PATH, CUDA variables,
# TMPDIR and so on name paths that may not exist in the root.
in_root=(chroot "$root" env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}"
         PATH=/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
# The GPU machine has a CUDA toolkit too, and LibTorch's CMake files need a working nvcc when
# LibTorch has CUDA. Mount it at its real path and link /usr/local/cuda to it as here.
rm -f "$root/usr/local/cuda" 2>/dev/null || rmdir "$root/usr/local/cuda" 2>/dev/null || true
if [ -d /usr/local/cuda ]; then
  cuda_real="$(readlink -f /usr/local/cuda)"
  bind "$cuda_real" "$cuda_real"
  [ "$cuda_real" = /usr/local/cuda ] || ln -sfn "$cuda_real" "$root/usr/local/cuda"
  # nvcc finds its parts from /proc/self/exe, which some sandboxes (gVisor) answer with the
  # path outside the chroot: let that path lead back into the root.
  if [ ! -e "$root$root" ]; then mkdir -p "$(dirname "$root$root")" && ln -s / "$root$root"; fi
  printf '__global__ void k() {}\nint main() { k<<<1, 1>>>(); return 0; }\n' > "$root/tmp/cxr-nvcc-check.cu"
  if ! "${in_root[@]}" nvcc /tmp/cxr-nvcc-check.cu -o /tmp/cxr-nvcc-check > "$work/nvcc-check.log" 2>&1; then
    # Then LibTorch cannot be configured in the root at all: a limit of this machine, not of
    # the bundle. Say so and why, rather than fail on something the GPU machine does not have.
    cat "$work/nvcc-check.log"
    echo "check-gpu-bundle.sh: SKIPPED: nvcc ($cuda_real) cannot compile in the root on this machine" \
         "(output above), so LibTorch's CMake files cannot be used there" >&2
    exit 0
  fi
fi
# The build folder lives in the root: each root has its own compiler.
"${in_root[@]}" PYTHONPATH=/site CXR_GPU_WORK=/tmp/cxr-gpu-check CXR_GPU_BUILD=/tmp/cxr-gpu-build \
  /repo/scripts/gpu-check.sh --allow-cpu --out /tmp/gpu-check-out "$@"
cp "$root/tmp/gpu-check-out/gpu-check.json" "$work/"
echo "== check-gpu-bundle.sh: the bundle built and tested cxr-denoise in a root without its packages ($work/gpu-check.json)"
