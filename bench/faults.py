#!/usr/bin/env python3
"""Fault injection on 2-rank cxr-train jobs: how long each fault takes to end the job, what is
printed, how much training is lost, and whether the next run resumes to exactly the parameters
of an uninterrupted run. The figures of docs/RELIABILITY.md; tests/integration/faults.sh and
tests/slurm/faults.sh run it with fewer trials and fail when a case does.

    bench/faults.py [--launchers mpirun,srun] [--trials 10] [--build build] [--work DIR]
                    [--json OUT.json] [--markdown OUT.md]

Faults (rank 1 unless said):
  input-error   rank 1 alone is given a dataset that does not exist (MPMD: mpirun A : B, srun --multi-prog)
  kill-9        SIGKILL of a random rank at a random step
  kill-in-save  rank 0 SIGKILLed between writing a checkpoint and publishing it
  stall         rank 1 stops (SIGSTOP) mid-epoch: the collective timeout (dist.timeout_s) ends the job
  nan           rank 1's loss is NaN at one step: every rank skips that step, the run goes on

A case passes when the job ends within 60 s of the fault (the stall: timeout + 60 s), non-zero,
with the expected message on stderr, and the resumed run equals the uninterrupted one bit for bit.
Exit status: 0 when every case passed, 1 otherwise. srun cases need a Slurm (skipped without).
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RANKS = 2
EPOCHS = 5
TIMEOUT_S = 10  # dist.timeout_s of the stall case
STEP_DELAY_MS = 120  # slows steps so that faults land mid-epoch


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args):
        self.build = os.path.abspath(args.build)
        self.work = args.work
        self.train = os.path.join(self.build, "app", "cxr-train")
        self.inspect = os.path.join(self.build, "app", "cxr-inspect")
        self.data = os.path.join(self.work, "data")
        self.env = dict(os.environ)
        if os.geteuid() == 0:
            self.env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        for k in [k for k in self.env if k.startswith("CXR_TEST_")]:
            del self.env[k]
        self.env["CXR_TEST_STEP_DELAY_MS"] = str(STEP_DELAY_MS)
        self.rng = random.Random(args.seed)

    # --- set-up -------------------------------------------------------------------------------
    def prepare(self):
        if not os.path.exists(os.path.join(self.data, "manifest.json")):
            synth = os.path.join(self.work, "synth")
            subprocess.run([os.path.join(self.build, "app", "cxr-synth"), "--output", synth, "--count", "100", "--size", "64"],
                           check=True, env=self.env, capture_output=True)
            subprocess.run([os.path.join(self.build, "preprocess", "cxr-preprocess"), "--input", synth, "--output", self.data,
                            "--size", "32", "--shard-size", "32"], check=True, env=self.env, capture_output=True)
        self.reference = os.path.join(self.work, "reference")
        if not os.path.exists(os.path.join(self.reference, "checkpoints", "latest")):
            rc, _, err = self.launch("mpirun", self.args(self.reference))
            if rc != 0:
                raise SystemExit("the uninterrupted reference run failed:\n" + err)
        self.steps_per_epoch = self.logged_steps(self.reference) // EPOCHS

    def args(self, run_dir, data=None):
        """cxr-train's arguments: a tiny model, one checkpoint per epoch, deterministic."""
        return [self.train, "--data", data or self.data, "--run-dir", run_dir, "--epochs", str(EPOCHS), "--batch-size", "4",
                "--norm", "group", "--seed", "7", "model.base_width=4", "model.depth=2", "train.threads=1", "train.device=cpu",
                "train.log_every=1000", f"dist.timeout_s={TIMEOUT_S}"]

    # --- launching ----------------------------------------------------------------------------
    def command(self, launcher, per_rank):
        """The launch command; per_rank: one argument list for all ranks, or one per rank (MPMD)."""
        if launcher == "mpirun":
            if isinstance(per_rank[0], list):
                cmd = ["mpirun", "--oversubscribe"]
                for i, a in enumerate(per_rank):
                    cmd += ([":"] if i else []) + ["-n", "1"] + a
                return cmd
            return ["mpirun", "--oversubscribe", "-n", str(RANKS)] + per_rank
        # srun with the flags slurm/cxr.env.sh uses (PMIx, --kill-on-bad-exit=1).
        base = ["srun", "--mpi=pmix", "--kill-on-bad-exit=1", "-n", str(RANKS), "--time=10"]
        if isinstance(per_rank[0], list):
            conf = os.path.join(self.work, f"multi-prog-{time.time_ns()}.conf")
            with open(conf, "w") as f:
                for r, a in enumerate(per_rank):
                    f.write(f"{r} " + " ".join(a) + "\n")
            return base + ["--multi-prog", conf]
        return base + per_rank

    def start(self, launcher, per_rank, extra_env=None):
        env = dict(self.env, **(extra_env or {}))
        return subprocess.Popen(self.command(launcher, per_rank), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)

    def launch(self, launcher, per_rank, extra_env=None, limit=300):
        p = self.start(launcher, per_rank, extra_env)
        try:
            out, err = p.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            return 124, out, err
        return p.returncode, out, err

    # --- watching the ranks -------------------------------------------------------------------
    @staticmethod
    def rank_pids(run_dir):
        """rank -> pid of the cxr-train processes working on run_dir."""
        pids = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
                if not cmd or not cmd[0].endswith(b"cxr-train") or run_dir.encode() not in cmd:
                    continue
                env = dict(e.split(b"=", 1) for e in open(f"/proc/{pid}/environ", "rb").read().split(b"\0") if b"=" in e)
            except OSError:
                continue
            for key in (b"OMPI_COMM_WORLD_RANK", b"PMIX_RANK", b"SLURM_PROCID"):
                if key in env:
                    pids[int(env[key])] = int(pid)
                    break
        return pids

    @staticmethod
    def state(pid):
        try:
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return None  # gone

    @staticmethod
    def logged_steps(run_dir, rank=0):
        path = os.path.join(run_dir, "logs", f"rank-{rank:05d}.jsonl")
        if not os.path.exists(path):
            return 0
        steps = 0
        for line in open(path):
            try:
                e = json.loads(line)
            except ValueError:
                continue  # a line cut by the kill
            if "event" not in e:
                steps = max(steps, e["step"])
        return steps

    @staticmethod
    def checkpoint_step(run_dir):
        latest = os.path.join(run_dir, "checkpoints", "latest")
        if not os.path.exists(latest):
            return 0
        return int(open(latest).read().strip().split("-")[1].split(".")[0])

    def wait_for_step(self, run_dir, step, proc, limit=120):
        t0 = time.time()
        while self.logged_steps(run_dir) < step:
            if proc.poll() is not None or time.time() - t0 > limit:
                return False
            time.sleep(0.02)
        return True

    # --- after the fault ----------------------------------------------------------------------
    def resume_equals_reference(self, launcher, run_dir):
        """Reruns the same command: it must resume from the last checkpoint (and say so) and end
        with the uninterrupted run's parameters, bit for bit."""
        last = self.checkpoint_step(run_dir)
        rc, _, err = self.launch(launcher, self.args(run_dir))
        if rc != 0:
            log(f"    the resumed run failed (exit {rc}):\n{err[-2000:]}")
            return False
        said = f"resuming from {run_dir}/checkpoints/step-{last:08d}.pt"
        if last > 0 and said not in err:
            log(f"    the rerun did not say '{said}'")
            return False
        d = subprocess.run([self.inspect, "--diff", self.reference, run_dir, "--tolerance", "0"], env=self.env,
                           capture_output=True, text=True)
        return d.returncode == 0

    def finish(self, proc, fault_time, limit):
        """Waits for the launcher; seconds from the fault to its end (None: it hung)."""
        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return None, 124, err
        return time.time() - fault_time, proc.returncode, err

    # --- the faults -----------------------------------------------------------------------------
    def input_error(self, launcher, trial):
        run = os.path.join(self.work, f"input-{launcher}-{trial}")
        t0 = time.time()
        rc, _, err = self.launch(launcher, [self.args(run), self.args(run, data=os.path.join(self.work, "missing"))], limit=120)
        return dict(seconds=time.time() - t0 if rc != 124 else None, exit=rc, stderr=err,
                    expect=["on rank 1 .*no dataset at"], lost=None, resumed=None)

    def kill_9(self, launcher, trial):
        run = os.path.join(self.work, f"kill9-{launcher}-{trial}")
        total = self.steps_per_epoch * EPOCHS
        at = self.rng.randint(2, total - 3)
        victim = self.rng.randrange(RANKS)
        p = self.start(launcher, self.args(run))
        if not self.wait_for_step(run, at, p):
            return dict(seconds=None, exit=p.wait(), stderr="the run ended before the fault", expect=[], lost=None, resumed=False)
        pids = self.rank_pids(run)
        done = self.logged_steps(run)
        os.kill(pids[victim], signal.SIGKILL)
        fault = time.time()
        seconds, rc, err = self.finish(p, fault, 120)
        lost = (done - self.checkpoint_step(run)) / self.steps_per_epoch
        expect = [rf"(process rank|task) {victim}\b.*(signal 9|Killed)"]  # what mpirun and srun say
        return dict(seconds=seconds, exit=rc, stderr=err, expect=expect, lost=lost,
                    resumed=self.resume_equals_reference(launcher, run), note=f"rank {victim} at step {done}")

    def kill_in_save(self, launcher, trial):
        run = os.path.join(self.work, f"save-{launcher}-{trial}")
        step = self.steps_per_epoch * 2  # the checkpoint that ends epoch 2
        p = self.start(launcher, self.args(run), {"CXR_TEST_KILL_IN_SAVE": str(step)})
        if not self.wait_for_step(run, step - 1, p):
            return dict(seconds=None, exit=p.wait(), stderr="the run ended before the fault", expect=[], lost=None, resumed=False)
        pid0 = self.rank_pids(run).get(0)
        while pid0 and self.state(pid0) not in (None, "Z") and p.poll() is None:
            time.sleep(0.01)
        fault = time.time()
        seconds, rc, err = self.finish(p, fault, 120)
        published = self.checkpoint_step(run)
        lost = (step - published) / self.steps_per_epoch
        problem = None if published == step - self.steps_per_epoch else f"latest names step {published}, not the previous checkpoint"
        return dict(seconds=seconds, exit=rc, stderr=err, expect=[r"(process rank|task) 0\b.*(signal 9|Killed)"], lost=lost,
                    resumed=self.resume_equals_reference(launcher, run), note=f"checkpoint of step {step}", problem=problem)

    def stall(self, launcher, trial):
        run = os.path.join(self.work, f"stall-{launcher}-{trial}")
        at = self.steps_per_epoch + self.rng.randint(1, self.steps_per_epoch - 1)
        p = self.start(launcher, self.args(run), {"CXR_TEST_STOP_AT": f"{at}:1"})
        fault = None
        t0 = time.time()
        while p.poll() is None and time.time() - t0 < 120:
            pid1 = self.rank_pids(run).get(1)
            if pid1 and self.state(pid1) == "T":
                fault = time.time()
                break
            time.sleep(0.02)
        if fault is None:
            return dict(seconds=None, exit=p.wait(), stderr="rank 1 never stopped", expect=[], lost=None, resumed=False)
        seconds, rc, err = self.finish(p, fault, TIMEOUT_S + 120)
        lost = (at - 1 - self.checkpoint_step(run)) / self.steps_per_epoch
        return dict(seconds=seconds, exit=rc, stderr=err, expect=[r"error on rank 0 .*has not finished after .*dist.timeout_s"], lost=lost,
                    resumed=self.resume_equals_reference(launcher, run), note=f"rank 1 stopped at step {at}", limit=TIMEOUT_S + 60)

    def nan(self, launcher, trial):
        run = os.path.join(self.work, f"nan-{launcher}-{trial}")
        rc, _, err = self.launch(launcher, self.args(run), {"CXR_TEST_NAN_AT": "3:1"})
        skipped = []
        for r in range(RANKS):
            with open(os.path.join(run, "logs", f"rank-{r:05d}.jsonl")) as f:
                skipped.append([e["step"] for e in map(json.loads, f) if "event" not in e and e["skipped"]])
        together = all(s == [3] for s in skipped)
        return dict(seconds=None, exit=rc, stderr=err, expect=[], lost=None, resumed=None, ok=rc == 0 and together,
                    note="every rank skipped step 3 only" if together else f"skipped steps per rank: {skipped}")


CASES = [("input-error", "rank-local input error on rank 1"), ("kill-9", "kill -9 of one rank at a random step"),
         ("kill-in-save", "kill -9 of rank 0 during a checkpoint write"),
         ("stall", f"rank 1 stalled (SIGSTOP), dist.timeout_s = {TIMEOUT_S}"), ("nan", "NaN loss on rank 1 at step 3")]


def judge(r):
    """Whether one trial passed, and why not."""
    if "ok" in r:
        return r["ok"], "" if r["ok"] else r.get("note", "")
    limit = r.get("limit", 60)
    if r.get("problem"):
        return False, r["problem"]
    if r["seconds"] is None:
        return False, "hung or never reached the fault"
    if r["exit"] == 0:
        return False, "exit 0"
    if r["seconds"] > limit:
        return False, f"took {r['seconds']:.1f} s > {limit} s"
    for pattern in r["expect"]:
        if not re.search(pattern, r["stderr"]):
            return False, f"stderr lacks '{pattern}'"
    if r["resumed"] is False:
        return False, "the resumed run differs from the uninterrupted one"
    return True, ""


def first_line(stderr, patterns):
    for line in stderr.splitlines():
        if patterns and re.search(patterns[0], line):
            return line.strip()[:160]
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--launchers", default="mpirun,srun")
    ap.add_argument("--trials", type=int, default=10, help="trials of kill-9 (the other faults: up to 3)")
    ap.add_argument("--cases", default=",".join(c for c, _ in CASES))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--work", default=None, help="scratch directory (default: a new temporary one, removed after)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    keep = args.work is not None
    args.work = os.path.abspath(args.work or tempfile.mkdtemp(prefix="cxr-faults-"))
    os.makedirs(args.work, exist_ok=True)
    bench = Bench(args)
    launchers = []
    for launcher in args.launchers.split(","):
        if launcher == "srun" and (shutil.which("srun") is None or subprocess.run(["sinfo", "-h"], capture_output=True).returncode):
            log("srun: no Slurm answers here, its cases are skipped")
            continue
        launchers.append(launcher)
    bench.prepare()
    log(f"reference: {bench.steps_per_epoch} steps per epoch, {EPOCHS} epochs, a checkpoint per epoch")
    rows, all_ok = [], True
    for launcher in launchers:
        for case, title in CASES:
            if case not in args.cases.split(","):
                continue
            trials = args.trials if case == "kill-9" else min(args.trials, 3 if case != "nan" else 1)
            results = []
            for t in range(trials):
                r = getattr(bench, case.replace("-", "_"))(launcher, t)
                ok, why = judge(r)
                r.update(passed=ok, why=why)
                results.append(r)
                took = "" if r["seconds"] is None else f", {r['seconds']:.1f} s"
                note = f", {r['note']}" if r.get("note") else ""
                log(f"{case:<13} {launcher:<6} trial {t + 1}/{trials}: {'ok' if ok else 'FAILED: ' + why}{took}, exit {r['exit']}{note}")
                if not ok:
                    log("  stderr: " + r["stderr"][-1500:].replace("\n", "\n  "))
            all_ok &= all(r["passed"] for r in results)
            secs = [r["seconds"] for r in results if r["seconds"] is not None]
            lost = [r["lost"] for r in results if r["lost"] is not None]
            resumed = [r["resumed"] for r in results if r["resumed"] is not None]
            rows.append({"fault": title, "case": case, "launcher": launcher, "trials": trials,
                         "passed": sum(r["passed"] for r in results),
                         "max_seconds_to_end": max(secs) if secs else None,
                         "exit_codes": sorted({r["exit"] for r in results}),
                         "max_data_lost_intervals": max(lost) if lost else None,
                         "resumed_bit_exact": (all(resumed) if resumed else None),
                         "printed": first_line(results[0]["stderr"], results[0]["expect"]) or results[0].get("note", "")})
    table = ["| fault | launcher | trials (passed) | max s to end | exit | data lost (checkpoint intervals) | resumed bit-exact | printed |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append("| {} | {} | {} ({}) | {} | {} | {} | {} | {} |".format(
            r["fault"], r["launcher"], r["trials"], r["passed"],
            "-" if r["max_seconds_to_end"] is None else f"{r['max_seconds_to_end']:.1f}",
            ", ".join(map(str, r["exit_codes"])),
            "-" if r["max_data_lost_intervals"] is None else f"{r['max_data_lost_intervals']:.2f}",
            {True: "yes", False: "NO", None: "-"}[r["resumed_bit_exact"]], r["printed"].replace("|", "/")))
    print("\n".join(table))
    machine = f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}"
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "command": " ".join(sys.argv), "rows": rows}, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"<!-- {' '.join(sys.argv)}; {machine} -->\n" + "\n".join(table) + "\n")
    if not keep:
        shutil.rmtree(args.work, ignore_errors=True)
    sys.exit(0 if all_ok and rows else 1)


if __name__ == "__main__":
    main()
