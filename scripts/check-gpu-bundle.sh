#!/usr/bin/env bash
# Checks scripts/gpu-bundle.sh and scripts/gpu-check.sh without a GPU: in a fresh Debian 12 root
# (debootstrap) that has only what the GPU machine has (a compiler, cmake, ninja, Python, and the
# Python torch wheel, bind-mounted from a venv here), none of the project's -dev packages, it runs
#   scripts/gpu-check.sh --allow-cpu
# which unpacks the bundle, builds against the wheel's LibTorch with the NCCL backend, runs the
# unit tests (the GPU cases skip) and a tiny CPU run of bench/gpu.sh. Proves that the bundle
# carries every dependency. Root only; about 15 minutes and 1 GB beside the venv; not part of CI.
#   sudo scripts/check-gpu-bundle.sh [WORK_DIR]
# Environment: CXR_TORCH_SITE (site-packages holding torch; default the CI's wheel venv).
set -euo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-/tmp/cxr-gpu-sim}"
site="${CXR_TORCH_SITE:-$(ls -d "$home"/build-torch-wheel/venv/lib/python3*/site-packages 2>/dev/null | head -1)}"
[ "$(id -u)" -eq 0 ] || { echo "check-gpu-bundle.sh: must run as root (debootstrap, chroot, mount)" >&2; exit 2; }
[ -d "$site/torch" ] || { echo "check-gpu-bundle.sh: no torch in '$site' (run .ci/run once, or set CXR_TORCH_SITE)" >&2; exit 2; }
[ -d "$home/.gpu-bundle/debs" ] || "$home/scripts/gpu-bundle.sh"
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
root="$work/root"
if [ ! -x "$root/usr/bin/g++" ]; then
  mkdir -p "$root"
  [ -x "$root/bin/bash" ] || debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian
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
[ -d /usr/local/cuda ] && bind /usr/local/cuda /usr/local/cuda  # the GPU machine has a CUDA toolkit too
chroot "$root" env PYTHONPATH=/site CXR_GPU_WORK=/tmp/cxr-gpu-check /repo/scripts/gpu-check.sh --allow-cpu --out /tmp/gpu-check-out
cp "$root/tmp/gpu-check-out/gpu-check.json" "$work/"
echo "== check-gpu-bundle.sh: the bundle built and tested cxr-denoise in a root without its packages ($work/gpu-check.json)"
