# Settings shared by the cxr-denoise batch scripts (sourced, not run). Every value can be
# overridden from the environment at submission (sbatch exports it), or in a copy for your site.
#
#   CXR_HOME        the cxr-denoise checkout (default: the directory sbatch was called from)
#   CXR_BUILD       its build directory (default: $CXR_HOME/build)
#   CXR_CONTAINER   an Apptainer image (containers/): the tools then run inside it, one per rank
#   CXR_LAUNCH      srun (default) or mpirun
#   CXR_SRUN_MPI    srun's MPI plugin (default pmix; falls back to what `srun --mpi=list` offers)
#   CXR_CPU_BIND    srun CPU binding (default: --cpu-bind=cores)
#
# A rank that dies ends the job: srun runs with --kill-on-bad-exit=1 (whatever the site's
# KillOnBadExit), mpirun does so by default; a rank that stalls is ended by the tools' own
# collective timeout (dist.timeout_s). docs/RELIABILITY.md has the measured figures.

CXR_HOME=${CXR_HOME:-${SLURM_SUBMIT_DIR:-$PWD}}
CXR_BUILD=${CXR_BUILD:-$CXR_HOME/build}
CXR_LAUNCH=${CXR_LAUNCH:-srun}
CXR_SRUN_MPI=${CXR_SRUN_MPI:-pmix}
CXR_CPU_BIND=${CXR_CPU_BIND:---cpu-bind=cores}

# Threads per rank = the CPUs Slurm gave the task. With --cpus-per-task that is the number;
# without it the tools read the task's CPU set themselves (docs/ADMIN_GUIDE.md).
if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$SLURM_CPUS_PER_TASK}; fi
# Lustre and GPFS: HDF5's file locking fails or serialises reads on parallel file systems.
export HDF5_USE_FILE_LOCKING=FALSE
# NCCL: WARN prints problems only (INFO shows the chosen transport: look for "NET/IB" on
# InfiniBand clusters; "NET/Socket" there means NCCL fell back to TCP, see docs/TROUBLESHOOTING.md).
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
# Set NCCL_SOCKET_IFNAME (e.g. ib0 or hsn0) when NCCL picks a slow or unreachable interface;
# NCCL_IB_HCA selects InfiniBand adapters. Both are left to the site when unset.
# Open MPI as root (containers, CI): allowed only where the environment already says so.

# One line about the network the ranks will use, so a slow run can be told from a misconfigured
# one in the job log: InfiniBand devices present or not, and what NCCL has been told.
cxr_network_report() {
  local ib="none"
  [ -d /dev/infiniband ] && ib=$(ls /dev/infiniband 2>/dev/null | tr '\n' ' ')
  echo "[$(date +%T)] network: InfiniBand devices: ${ib}; NCCL_SOCKET_IFNAME=${NCCL_SOCKET_IFNAME:-unset}, NCCL_IB_HCA=${NCCL_IB_HCA:-unset}"
  if [ "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ] && [ "$ib" = none ] && [ -n "${SLURM_GPUS_ON_NODE:-}" ]; then
    echo "[$(date +%T)] warning: several GPU nodes but no /dev/infiniband here: NCCL will use TCP sockets (slow); see docs/TROUBLESHOOTING.md"
  fi
}

# The path of a tool: the build tree, or inside the container.
cxr_tool() {
  local name=$1
  if [ -n "${CXR_CONTAINER:-}" ]; then echo "apptainer exec --nv --bind ${CXR_BIND:-$PWD} $CXR_CONTAINER $name"; return; fi
  for dir in "$CXR_BUILD/app" "$CXR_BUILD/preprocess" "$CXR_BUILD/bench"; do
    [ -x "$dir/$name" ] && { echo "$dir/$name"; return; }
  done
  command -v "$name" || { echo "cxr.env.sh: $name not found under $CXR_BUILD (set CXR_BUILD or CXR_CONTAINER)" >&2; return 2; }
}

# srun's MPI plugin: the one asked for if this Slurm has it, else a PMIx variant, else pmi2.
cxr_srun_mpi() {
  local plugins
  plugins=$(srun --mpi=list 2>&1)
  for p in "$CXR_SRUN_MPI" pmix pmix_v5 pmix_v4 pmix_v3 pmi2; do
    if grep -qw -- "$p" <<<"$plugins"; then echo "$p"; return; fi
  done
  echo "$CXR_SRUN_MPI"
}

# Sets CXR_CMD to the command that runs TOOL ARGS... once per task of the job (one task per GPU
# on GPU nodes): srun with the MPI plugin, or mpirun.
cxr_command() {
  local tool
  tool=$(cxr_tool "$1") || return 2
  shift
  # shellcheck disable=SC2206
  local tool_words=($tool)
  if [ "$CXR_LAUNCH" = mpirun ]; then
    CXR_CMD=(mpirun -n "${SLURM_NTASKS:-1}" "${tool_words[@]}" "$@")
  else
    # shellcheck disable=SC2206
    CXR_CMD=(srun --mpi="$(cxr_srun_mpi)" --kill-on-bad-exit=1 $CXR_CPU_BIND "${tool_words[@]}" "$@")
  fi
  echo "[$(date +%T)] launch: ${CXR_LAUNCH} ${SLURM_NTASKS:-1} task(s): ${CXR_CMD[*]}"
}

# Runs TOOL ARGS... once per task, in the foreground.
cxr_launch() {
  cxr_command "$@" || return 2
  "${CXR_CMD[@]}"
}
