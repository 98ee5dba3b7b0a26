"""Runs every point of a sweep as its own `lineage.main` process, across sessions.

    python -m experiments.run_sweep --sweep=ladder_digits
    python -m experiments.run_sweep --sweep=ladder --epochs=10            # runs/cifar10/e10/
    python -m experiments.run_sweep --sweep=ladder --epochs=10 --jobs=2   # 2 points at once
    python -m experiments.run_sweep --sweep=ladder --epochs=10 --plan     # what is left, hours
    python -m experiments.run_sweep --sweep=ladder --epochs=10 --commands | parallel -j 2
    python -m experiments.run_sweep --sweep=ladder --epochs=10 --collect  # experiments/results/
    python -m experiments.run_sweep --sweep=claims --epochs=40 --hours=2.5  # what fits in 2.5 h
    python -m experiments.run_sweep --sweep=claims --epochs=40 --hours=2.5 --time_steps=20
    python -m experiments.run_sweep --sweep=spectrum -- --config.conv_impl=xla

Each point runs as `python -m lineage.main --config=<base config> --config.x=y ...
--workdir=<root>/<budget>/<point>`, with its output in `<root>/<budget>/<point>.log`. `--epochs`
sets one budget for the whole sweep (each point a full schedule of that many epochs) and names
the `<budget>` directory (`e10`), so runs at different budgets never share a workdir; without it
each point trains the config's own budget directly under the root. The CIFAR sweeps share one
root (`runs/cifar10`, the digits ones `runs/digits`), so a point two sweeps share (the ladder's
`separable` is separable_act's 'none') runs once.

`--jobs=N` runs N points at once, each pinned to its share of the runner's cores
(`experiments.sweeping.child_processes`: the cores split evenly, XLA's and TensorFlow's thread pools
sized to the share). `--commands` runs nothing: it prints one self-contained shell line per point
left (cd, environment, the `lineage.main` command, its log), for `parallel -j N`, a SLURM array or
one machine per point (`experiments.sweeping.point_commands`); `--collect` then gathers their
results as it gathers the runner's.

Across sessions: a point whose `results.json` exists is skipped, and so is one whose results are
committed under `experiments/results/<sweep>/<budget>/` (where `--collect` files them) of any sweep
on the same data set (equal_params reuses the ladder's points by name), so a fresh clone on a new
machine runs only what is left; an interrupted point resumes from its own checkpoint (lineage.main
does that), which lives in the root, on the machine that wrote it, unless `--collect` carried it
(`experiments.sweeping.collect`). SIGTERM (a session ending) is forwarded to every running point,
which saves a checkpoint and exits; the runner then starts no more points and exits 143, and the
same command resumes. The runner's points die with it (kill -9 included: each gets SIGTERM and
checkpoints); one runner at a time holds a root (a second is refused, naming the first), and a point
whose workdir a live run holds (a command of `--commands`, say) is skipped as 'busy'. Where the
machine itself lasts only a session, `--hours=H` starts only the points whose `--plan` estimate,
taken when the point's turn comes (so from the rates of the points this run finished too), fits in
what is left of H hours and defers the others (a longer-lived machine, or a `--collect` at the end,
lets them span sessions; a deferred point does not fail the run). `--time_steps=N` first times N
train steps of each point left that no run measured at this budget on this machine and share of its
cores (`experiments.sweeping.timed_rates`, in a child process, so that the runner never holds the
accelerator its points train on), and estimates those points from that: on a quiet machine, before
the sweep starts, it is what makes `--hours` fit a session. A point that fails is logged with its
return code and log file and the sweep goes on; the runner exits 1 if any point failed.

`--plan` prints the points left and an estimate of their hours (`experiments.sweeping.estimate`),
with `--jobs` the wall hours of running them N at once. `--collect` copies each finished point's
results.json, metrics.jsonl and log into `experiments/results/<sweep>/<budget>/`, and carries each
interrupted point's latest checkpoint into `experiments/results/carried/<data set>/<budget>/` for
the next machine to resume; it skips a point a live run holds, and says so. Flags after `--` are
appended to every point. The same command runs on a TPU VM: each point uses every local device.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from collections.abc import Callable, Collection, Sequence
from concurrent import futures
from typing import IO

from absl import app, flags, logging

from experiments.sweeping import child_processes, collect, estimate, sweeps
from experiments.sweeping.estimate import finished
from experiments.sweeping.point_commands import point_command, shell_commands
from lineage import file_lock, workdir_lock
from lineage.metrics import host_info

RESULTS_DIR = os.path.join('experiments', 'results')
# Interrupted points' checkpoints, by data set and budget like the runs root: one copy of a point
# that several sweeps share, found from any of them.
CARRIED_DIR = os.path.join(RESULTS_DIR, 'carried')
STOPPED = 143  # the shell's status for a process ended by SIGTERM
RUNNER_LOCK = '.run_sweep.lock'  # in the budget's root: one runner at a time there
POLL_S = 0.2  # how often the runner looks at its running points
WRITABLE = 'pass a directory this user can write'
STATUSES = ('done', 'skipped', 'busy', 'failed', 'stopped', 'deferred')


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happened to one point: 'done' (ran now), 'skipped' (finished before), 'busy' (another
    run holds its workdir; not started), 'failed', 'stopped' (SIGTERM: checkpointed, resumes on
    the next start) or 'deferred' (its estimate did not fit in what was left of --hours)."""

    point: str
    status: str
    returncode: int = 0
    log: str = ''
    seconds: float = 0.0


def _not_to_start(
    point: sweeps.Point, root: str, tag: str, committed: Collection[str], fits: Callable
) -> Outcome | None:
    """The Outcome of a point the runner does not start (finished, busy, deferred), else None."""
    workdir = os.path.join(root, point.name)
    here = finished(workdir)
    if here or point.name in committed:
        logging.info('%s: %s, skipped', tag, 'finished before' if here else 'results committed')
        return Outcome(point.name, 'skipped')
    holder = workdir_lock.held_by(workdir)
    if holder:
        logging.warning(
            '%s: its workdir is in use by another run (%s): busy, not started', tag, holder
        )
        return Outcome(point.name, 'busy')
    if not fits(point, tag):
        return Outcome(point.name, 'deferred')
    return None


def _deferral(hours: float | None, needs_hours, clock) -> Callable[[sweeps.Point, str], bool]:
    """`(point, tag) -> whether it fits` in what is left of `hours` from now (logging those that
    do not): `run_sweep`'s --hours."""
    started = clock()

    def fits(point: sweeps.Point, tag: str) -> bool:
        if hours is None:
            return True
        left = hours - (clock() - started) / 3600
        needs = needs_hours(point) if needs_hours else 0.0
        if needs > left:
            logging.warning(
                '%s: needs about %.2f h, %.2f h of --hours=%g left: deferred',
                tag, needs, max(left, 0.0), hours,
            )  # fmt: skip
        return needs <= left

    return fits


def _ended(child, point: str, root: str, tag: str, seconds: float, asked: bool) -> Outcome:
    """The Outcome of a point whose process ended with `child.returncode`."""
    code, log_path = child.returncode, os.path.join(root, f'{point}.log')
    if code == 0 and finished(os.path.join(root, point)):
        logging.info('%s: done in %.0f s', tag, seconds)
        return Outcome(point, 'done', 0, log_path, seconds)
    if asked:
        logging.warning('%s: stopped after %.0f s; the next start resumes it', tag, seconds)
        return Outcome(point, 'stopped', code, log_path, seconds)
    logging.error('%s: FAILED (returncode %d) after %.0f s; see %s', tag, code, seconds, log_path)
    return Outcome(point, 'failed', code, log_path, seconds)


def run_sweep(
    points: Sequence[sweeps.Point],
    root: str,
    extra: Sequence[str] = (),
    start: Callable[[list[str], IO, Sequence[int] | None], object] | None = None,
    committed: Collection[str] = (),
    hours: float | None = None,
    needs_hours: Callable[[sweeps.Point], float] | None = None,
    clock: Callable[[], float] = time.monotonic,
    jobs: int = 1,
) -> list[Outcome]:
    """Runs the unfinished `points` under `root`, `jobs` at a time, until done or SIGTERM.

    Args:
      points: the sweep's points, started in this order.
      root: directory holding one workdir (and one .log file) per point.
      extra: flags appended to every point's command.
      start: `(command, log file, cores or None) -> a started process` (`subprocess.Popen`'s
        `poll`, `returncode`, `send_signal`); tests pass a fake. Default:
        `child_processes.start`.
      committed: names of points whose results are committed (`estimate.committed`): finished
        elsewhere, so skipped like those with results.json under `root`.
      hours: the wall-clock hours this run may take (a session's length), or None. A point whose
        estimate (`needs_hours`) exceeds what is left of them when its turn comes is deferred,
        not started: its checkpoints would die with the machine before it finished, unless
        `--collect` carried them. Later, shorter points still run.
      needs_hours: point -> its estimated hours (`estimate.hours_left`), asked when the point's
        turn comes, so that a seed this run just finished sets the rate of the next; None: 0.
      clock: seconds, monotonic; tests pass a fake.
      jobs: points run at once, each on its share of the cores (`child_processes.cpu_shares`).

    Returns:
      One Outcome per point that was reached, in the points' order; after a SIGTERM the points
      not yet started are left out.
    """
    start = start or child_processes.start
    free = child_processes.cpu_shares(jobs)
    os.makedirs(root, exist_ok=True)
    outcomes: dict[int, Outcome] = {}
    running: dict[object, tuple] = {}
    fits = _deferral(hours, needs_hours, clock)
    queue = list(enumerate(points))
    with child_processes.Children() as children:
        while queue or running:
            while free and queue and not children.asked:
                i, point = queue.pop(0)
                tag = f'[{i + 1}/{len(points)}] {point.name}'
                if outcome := _not_to_start(point, root, tag, committed, fits):
                    outcomes[i] = outcome
                    continue
                command = point_command(point, os.path.join(root, point.name), extra)
                logging.info('%s: %s', tag, ' '.join(command))
                log_path = os.path.join(root, f'{point.name}.log')
                log, cores = open(log_path, 'a'), free.pop(0)
                child = start(command, log, cores)
                children.add(child)
                running[child] = (i, point, tag, log, cores, time.perf_counter())
            if children.asked:
                queue.clear()
            ended = [child for child in running if child.poll() is not None]
            if not ended and running:
                time.sleep(POLL_S)
            for child in ended:
                i, point, tag, log, cores, began = running.pop(child)
                children.remove(child)
                log.close()
                free.append(cores)
                seconds = time.perf_counter() - began
                outcomes[i] = _ended(child, point.name, root, tag, seconds, children.asked)
    return [outcomes[i] for i in sorted(outcomes)]


def _root_problem(path: str) -> str | None:
    """Why `path` cannot be a runs root (a file on the way, no write permission), or None."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return f'{existing} is a file'
    if not os.access(existing, os.W_OK | os.X_OK):
        return f'{existing} is not writable'
    return None


def _flags() -> tuple[list[int] | None, float | None, int, int]:
    """(seeds, hours, time_steps, jobs) from the flags; bad ones exit with one line."""
    # One mode a run: `--plan --commands` would print commands that start carried points afresh
    # (a plan copies no carried checkpoint in), and `--plan --collect` would only collect.
    root = flags.FLAGS.root
    if root is not None and not root.strip():  # `--root=$UNSET` would run in the default root
        sys.exit('error: --root is empty; give a directory, or leave the flag out for the default')
    modes = [f'--{m}' for m in ('plan', 'collect', 'commands') if getattr(flags.FLAGS, m)]
    if len(modes) > 1:
        sys.exit(f'error: {" and ".join(modes)} are separate modes; give one of them a run')
    seeds = flags.FLAGS.seeds
    try:
        seeds = [int(s) for s in seeds] if seeds else None
    except ValueError:
        sys.exit(f'error: --seeds={",".join(seeds)}: give whole numbers, e.g. --seeds=0,1,2')
    hours = flags.FLAGS.hours
    if hours is not None and hours <= 0:
        sys.exit(f'error: --hours must be > 0, got {hours:g}')
    time_steps = flags.FLAGS.time_steps
    if time_steps < 0 or (time_steps and not (flags.FLAGS.plan or hours)):
        sys.exit(
            f'error: --time_steps={time_steps} times steps for an estimate: give a count > 0, '
            'with --plan or --hours'
        )
    jobs = flags.FLAGS.jobs
    try:
        child_processes.cpu_shares(jobs)
    except ValueError as e:
        sys.exit(f'error: {e}')
    return seeds, hours, time_steps, jobs


def _report(name: str, outcomes: Sequence[Outcome], points, hours: float | None) -> None:
    """Prints the run's counts and failures; exits 143 if stopped, 1 if a point failed."""
    failed = [o for o in outcomes if o.status == 'failed']
    counts = {s: sum(o.status == s for o in outcomes) for s in STATUSES}
    print(f'sweep {name}: ' + ', '.join(f'{n} {s}' for s, n in counts.items()))
    for o in failed:
        print(f'  failed: {o.point} (returncode {o.returncode}), log {o.log}')
    if counts['busy']:
        print(f'sweep {name}: the busy points are running elsewhere; collect them once they end')
    if counts['deferred']:
        print(
            f'sweep {name}: the deferred points need more than what was left of --hours={hours:g}; '
            'run them with more hours (see --plan)'
        )
    if counts['stopped'] or len(outcomes) < len(points):
        print(f'sweep {name}: stopped by SIGTERM; run the same command to resume')
        sys.exit(STOPPED)
    if failed:
        sys.exit(1)


def main(argv: list[str]) -> None:
    extra = argv[1:]
    if extra[:1] == ['--']:
        extra = extra[1:]
    name, epochs = flags.FLAGS.sweep, flags.FLAGS.epochs
    seeds, hours, time_steps, jobs = _flags()
    try:
        points = sweeps.with_budget(name, sweeps.sweep_points(name, seeds), epochs)
    except ValueError as e:
        sys.exit(f'error: {e}')
    tag, top = sweeps.budget_tag(epochs), flags.FLAGS.root or sweeps.default_root(name)
    root = os.path.join(top, tag) if tag else top
    if problem := _root_problem(root):
        sys.exit(f'error: --root={top}: {problem}; {WRITABLE}')
    committed = estimate.committed(sweeps.same_data_set(name), RESULTS_DIR, tag)
    carried_dir = os.path.join(CARRIED_DIR, os.path.basename(sweeps.default_root(name)), tag)
    if flags.FLAGS.collect:
        if not os.path.isdir(root):  # a mistyped root would collect nothing, silently
            sys.exit(
                f'error: --root={top}: no directory {root} to collect from; '
                'pass the root the runner used'
            )
        return collect.collect_sweep(name, seeds, epochs, points, root, RESULTS_DIR, carried_dir)
    if not flags.FLAGS.plan:  # a plan writes nothing: it reads the carried checkpoints in place
        for point, step in collect.resume_carried(points, root, carried_dir).items():
            logging.info('%s: resumes from step %d, carried in %s', point, step, carried_dir)
    if flags.FLAGS.commands:
        print('\n'.join(shell_commands(points, root, extra, committed)))
        return
    share = child_processes.cpu_shares(jobs)[0]
    host = {**host_info(), 'cores': len(share)} if share else host_info()
    evidence = estimate.Evidence(
        root, [top, RESULTS_DIR], committed, host=host, carried=carried_dir
    )
    if time_steps:
        # Imports jax; the steps run in a child process.
        from experiments.sweeping import timed_rates

        try:
            to_time = estimate.to_time(points, estimate.remaining(points, evidence))
            timed = timed_rates.time_points_apart(to_time, time_steps, share)
        except futures.process.BrokenProcessPool:
            sys.exit(
                f'error: --time_steps={time_steps}: the process timing the steps died (out of '
                'memory?); leave --time_steps out to estimate from the runs measured so far'
            )
        evidence = dataclasses.replace(evidence, timed=timed)
    if flags.FLAGS.plan:
        print(estimate.describe(name, points, evidence, jobs))
        return
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as e:  # what the permission bits do not say (a read-only or virtual file system)
        sys.exit(f'error: --root={top}: cannot create {root} ({e.strerror}); {WRITABLE}')
    lock, holder = file_lock.try_lock(os.path.join(root, RUNNER_LOCK))
    if lock is None:
        sys.exit(
            f'error: {root} is in use by another sweep runner ({holder}); wait for it, or stop '
            'it with SIGTERM (its points checkpoint)'
        )
    needs_hours = functools.partial(estimate.hours_left, evidence=evidence)
    outcomes = run_sweep(
        points, root, extra, committed=committed, hours=hours, needs_hours=needs_hours, jobs=jobs
    )
    _report(name, outcomes, points, hours)


if __name__ == '__main__':
    # Flags are defined here, not at import, so the module imports beside report (tests).
    flags.DEFINE_string(
        'sweep',
        None,
        f'One of: {", ".join(sorted([*sweeps.SWEEPS, *sweeps.COMPOSITES]))}.',
    )
    flags.DEFINE_list('seeds', None, "Seeds for every point; default: the sweep's own.")
    flags.DEFINE_float('epochs', None, 'Budget of every point, in epochs (a full schedule each).')
    flags.DEFINE_string('root', None, 'Runs directory; default runs/cifar10 (runs/digits).')
    flags.DEFINE_integer(
        'jobs', 1, 'Points run at once, each pinned to cores/jobs cores (--plan and --hours too).'
    )
    flags.DEFINE_bool('plan', False, 'Print the points left and an estimate of their hours.')
    flags.DEFINE_bool(
        'commands', False, 'Print one shell line per point left, for parallel or a SLURM array.'
    )
    flags.DEFINE_bool('collect', False, 'Copy finished points into experiments/results/<sweep>.')
    flags.DEFINE_float(
        'hours', None, "Wall-clock hours this run may take: start only points whose --plan "
        "estimate fits in what is left (a session's length; leave a margin)."
    )  # fmt: skip
    flags.DEFINE_integer(
        'time_steps', 0, 'With --plan or --hours: time this many train steps of each point left '
        'that no run measured at this budget, here, and estimate it from them (quiet machine).'
    )  # fmt: skip
    flags.mark_flag_as_required('sweep')
    app.run(main)
