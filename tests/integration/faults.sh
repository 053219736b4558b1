#!/usr/bin/env bash
# The fault-injection figures (bench/faults.py) under mpirun, with 2 trials of the random kill:
# every fault ends the 2-rank job in time with the right message, and the next run resumes to
# exactly the parameters of an uninterrupted run. The srun half: tests/slurm/faults.sh.
source "$(dirname "$0")/common.sh"
python3 "$(dirname "$0")/../../bench/faults.py" --launchers mpirun --trials 2 --build "$CXR_BIN" --work "$CXR_TMP/work" \
  --markdown "$CXR_TMP/faults.md" || fail "a fault case failed (see above)"
