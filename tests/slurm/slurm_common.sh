# Sourced by the Slurm tests: a reachable Slurm (../shared/slurm-local, started by .ci/run) or skip.
source "$(dirname "$0")/../integration/common.sh"
[ -f /tmp/slurm-local/env.sh ] && source /tmp/slurm-local/env.sh
command -v sbatch >/dev/null 2>&1 || skip "no sbatch: start a Slurm (../shared/slurm-local/start.sh, as .ci/run does)"
sinfo -h >/dev/null 2>&1 || skip "no Slurm controller answers (start ../shared/slurm-local/start.sh)"
home="$(cd "$(dirname "$0")/../.." && pwd)"
export CXR_BUILD="$CXR_BIN"  # the batch scripts run the tools of the build under test
# A tiny experiment: 32x32 images, a 4-wide U-Net.
cat > "$CXR_TMP/tiny.yaml" <<'YAML'
seed: 1
preprocess:
  image_size: 32
  shard_size: 32
model:
  base_width: 4
  depth: 2
  norm: group
train:
  batch_size: 4
  epochs: 2
  threads: 1
  log_every: 1000
YAML
# Waits until job $1 has left the queue (requeues included), at most $2 seconds.
wait_gone() {
  local t=0
  while squeue -h -j "$1" 2>/dev/null | grep -q .; do
    sleep 2; t=$((t + 2))
    [ "$t" -lt "$2" ] || { scancel "$1"; fail "job $1 still in the queue after $2 s"; }
  done
}
