#!/usr/bin/env bash
# Checks containers/cxr-cpu.def without Apptainer (which Debian 12 does not package): makes a fresh
# Debian 12 root with debootstrap, copies the repository in as %files does, and runs the
# definition's %post and %test sections in it with chroot. Root only; takes 15-30 minutes and
# about 4 GB; not part of the default test run.
#   sudo containers/check-cpu-def.sh [WORK_DIR]
set -euo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-/tmp/cxr-cpu-def}"
def="$home/containers/cxr-cpu.def"
[ "$(id -u)" -eq 0 ] || { echo "check-cpu-def.sh: must run as root (debootstrap, chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
section() { awk -v s="%$1" '$1 == s {on = 1; next} /^%/ {on = 0} on' "$def"; }
root="$work/root"
if [ ! -x "$root/bin/bash" ]; then
  mkdir -p "$root"
  mirror=$(awk '/^MirrorURL:/ {print $2}' "$def")
  debootstrap --variant=minbase bookworm "$root" "$mirror"
fi
rm -rf "$root/opt/cxr-denoise"
mkdir -p "$root/opt/cxr-denoise"
(cd "$home" && git ls-files -z | xargs -0 cp --parents -t "$root/opt/cxr-denoise")   # %files: . /opt/cxr-denoise
section post > "$root/post.sh"
section test > "$root/test.sh"
mount --bind /proc "$root/proc"
trap 'umount "$root/proc"' EXIT
echo "== %post"
chroot "$root" /bin/bash -e /post.sh
echo "== %test"
chroot "$root" /bin/bash -e /test.sh
echo "== containers/cxr-cpu.def: %post and %test passed in a fresh Debian 12 root ($root)"
