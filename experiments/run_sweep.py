"""Runs every point of a sweep as its own `lineage.main` process, across sessions.

    python -m experiments.run_sweep --sweep=ladder_digits
    python -m experiments.run_sweep --sweep=ladder --epochs=10            # runs/cifar10/e10/
    python -m experiments.run_sweep --sweep=ladder --epochs=10 --plan     # what is left, hours
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

Across sessions: a point whose `results.json` exists is skipped, and so is one whose results are
committed under `experiments/results/<sweep>/<budget>/` (where `--collect` files them) of any
sweep on the same data set (equal_params reuses the ladder's points by name), so a
fresh clone on a new machine runs only what is left; an interrupted point resumes from its own
checkpoint (lineage.main does that), which lives in the root, on the machine that wrote it,
unless `--collect` carried it (below). SIGTERM (a session ending) is forwarded to the running
point, which saves a checkpoint and exits; the runner then stops without starting the next point
and exits 143, and the same command resumes. Where the machine itself lasts only a session,
`--hours=H` starts only the points whose `--plan` estimate, taken when the point's turn comes
(so from the rates of the points this run finished too), fits in what is left of H hours and
defers the others (a longer-lived machine, or a `--collect` at the end, lets them span sessions;
a deferred point does not fail the run). `--time_steps=N` first times N train steps of each
point left that no run measured at this budget on this machine (`experiments.step_rate`, in a
child process, so that the runner never holds the accelerator its points train on), and
estimates those points from that: on a quiet machine, before the sweep starts, it is what makes
`--hours` fit a session. A point that fails is logged with its return code and log file and the
sweep goes on; the runner exits 1 if any point failed.

`--plan` prints the points left and an estimate of their hours (`experiments.sweep_plan`).
`--collect` copies each finished point's results.json, metrics.jsonl and log (no checkpoints)
into `experiments/results/<sweep>/<budget>/`, for committing; it never writes over a file that
differs, except to complete one that the run appended to after it was collected. It carries each
interrupted point into `experiments/results/carried/<data set>/<budget>/`: its latest checkpoint
(a few hundred KB for the ladder's models), metrics.jsonl and log, once however many sweeps share
the point, which the next run (or `--plan`) of any of them on any machine, finding no checkpoint
of that point in its root, copies in and resumes from; once the point's results are collected,
`--collect` removes its carried files. Flags after
`--` are appended to every point. The same command runs on a TPU VM: each point uses every local
device.
"""

from __future__ import annotations

import dataclasses
import filecmp
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Sequence
from concurrent import futures

from absl import app, flags, logging

from experiments import sweep_plan, sweeps

RESULTS_DIR = os.path.join('experiments', 'results')
# Interrupted points' checkpoints, by data set and budget like the runs root: one copy of a point
# that several sweeps share, found from any of them.
CARRIED_DIR = os.path.join(RESULTS_DIR, 'carried')
# What a finished point leaves that is worth committing (checkpoints are not).
COLLECTED = ('results.json', 'metrics.jsonl')
STOPPED = 143  # the shell's status for a process ended by SIGTERM


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happened to one point: 'done' (ran now), 'skipped' (finished before), 'failed',
    'stopped' (SIGTERM: checkpointed, resumes on the next start) or 'deferred' (its estimate
    did not fit in what was left of --hours; not started)."""

    point: str
    status: str
    returncode: int = 0
    log: str = ''
    seconds: float = 0.0


def point_command(point: sweeps.Point, workdir: str, extra: Sequence[str] = ()) -> list[str]:
    """The command line that runs `point` in `workdir` with this Python."""
    return [sys.executable, '-m', 'lineage.main', *point.args(), *extra, f'--workdir={workdir}']


def finished(workdir: str) -> bool:
    return os.path.exists(os.path.join(workdir, 'results.json'))


class _Terminations:
    """While active, SIGTERM is recorded and forwarded to the running child, not fatal."""

    def __init__(self):
        self.asked = False
        self.child: subprocess.Popen | None = None

    def _handler(self, signum, frame):
        del frame
        self.asked = True
        logging.warning('SIGTERM: stopping the running point (it checkpoints); rerun to resume')
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)

    def __enter__(self):
        self._previous = signal.signal(signal.SIGTERM, self._handler)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self._previous)


def _run_child(command, log, terminations: _Terminations) -> int:
    """Runs `command` with its output in `log`; SIGTERM to us reaches it too."""
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    terminations.child = child
    if terminations.asked:  # the signal came while the child was starting
        child.send_signal(signal.SIGTERM)
    try:
        return child.wait()
    finally:
        terminations.child = None


def run_sweep(
    points: Sequence[sweeps.Point],
    root: str,
    extra: Sequence[str] = (),
    run: Callable[..., int] | None = None,
    committed: Collection[str] = (),
    hours: float | None = None,
    needs_hours: Callable[[sweeps.Point], float] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[Outcome]:
    """Runs the unfinished `points` one after another under `root`, until done or SIGTERM.

    Args:
      points: the sweep's points.
      root: directory holding one workdir (and one .log file) per point.
      extra: flags appended to every point's command.
      run: `(command, log file, terminations) -> return code`; tests pass a fake.
      committed: names of points whose results are committed (`sweep_plan.committed`): finished
        elsewhere, so skipped like those with results.json under `root`.
      hours: the wall-clock hours this run may take (a session's length), or None. A point whose
        estimate (`needs_hours`) exceeds what is left of them is deferred, not started: its
        checkpoints would die with the machine before it finished, unless `--collect` carried
        them. Later, shorter points still run.
      needs_hours: point -> its estimated hours (`sweep_plan.hours_left`), asked when the point's
        turn comes, so that a seed this run just finished sets the rate of the next; None: 0.
      clock: seconds, monotonic; tests pass a fake.

    Returns:
      One Outcome per point that was reached, in order; after a SIGTERM the rest are left out.
    """
    run = run or _run_child
    os.makedirs(root, exist_ok=True)
    outcomes = []
    started_run = clock()
    with _Terminations() as terminations:
        for i, point in enumerate(points):
            workdir = os.path.join(root, point.name)
            log_path = os.path.join(root, f'{point.name}.log')
            tag = f'[{i + 1}/{len(points)}] {point.name}'
            here = finished(workdir)
            if here or point.name in committed:
                logging.info(
                    '%s: %s, skipped', tag, 'finished before' if here else 'results committed'
                )
                outcomes.append(Outcome(point.name, 'skipped'))
                continue
            if terminations.asked:
                break
            if hours is not None:
                left = hours - (clock() - started_run) / 3600
                needs = needs_hours(point) if needs_hours else 0.0
                if needs > left:
                    logging.warning(
                        '%s: needs about %.2f h, %.2f h of --hours=%g left: deferred',
                        tag, needs, max(left, 0.0), hours,
                    )  # fmt: skip
                    outcomes.append(Outcome(point.name, 'deferred'))
                    continue
            command = point_command(point, workdir, extra)
            logging.info('%s: %s', tag, ' '.join(command))
            started = time.perf_counter()
            with open(log_path, 'a') as log:
                code = run(command, log, terminations)
            seconds = time.perf_counter() - started
            if code == 0 and finished(workdir):
                logging.info('%s: done in %.0f s', tag, seconds)
                outcomes.append(Outcome(point.name, 'done', 0, log_path, seconds))
            elif terminations.asked:
                logging.warning('%s: stopped after %.0f s; the next start resumes it', tag, seconds)
                outcomes.append(Outcome(point.name, 'stopped', code, log_path, seconds))
                break
            else:
                logging.error(
                    '%s: FAILED (returncode %d) after %.0f s; see %s', tag, code, seconds, log_path
                )
                outcomes.append(Outcome(point.name, 'failed', code, log_path, seconds))
    return outcomes


def _extends(source: str, target: str) -> bool:
    """Whether `target` is a copy of `source` taken before the run appended to it (a log collected
    between results.json and the run's last line)."""
    with open(source, 'rb') as f:
        grown = f.read()
    with open(target, 'rb') as f:
        earlier = f.read()
    return len(grown) > len(earlier) and grown.startswith(earlier)


def collect(points: Sequence[sweeps.Point], root: str, destination: str) -> list[str]:
    """Copies each finished point's COLLECTED files and its log into `destination`.

    Returns:
      The names of the points copied (or already there, identical).

    Raises:
      ValueError: a file in `destination` differs from the one it would be copied from, and is
        not an earlier, shorter copy of it.
    """
    copied = []
    for point in points:
        workdir = os.path.join(root, point.name)
        if not finished(workdir):
            continue
        pairs = [
            (os.path.join(workdir, f), os.path.join(destination, point.name, f)) for f in COLLECTED
        ]
        log = os.path.join(root, f'{point.name}.log')
        pairs.append((log, os.path.join(destination, f'{point.name}.log')))
        for source, target in pairs:
            if not os.path.exists(source):
                continue
            if os.path.exists(target):
                if filecmp.cmp(source, target, shallow=False):
                    continue
                if not _extends(source, target):
                    raise ValueError(
                        f'{target} exists and differs from {source}; move it away or pick '
                        'another budget (--epochs) for the new runs'
                    )
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(source, target)
        copied.append(point.name)
    return copied


def _copy_run(source: str, source_log: str, target: str, target_log: str, step: int) -> None:
    """Copies one run's checkpoint at `step`, its metrics.jsonl and its log, replacing the
    checkpoints, metrics.jsonl and log at the target."""
    shutil.rmtree(os.path.join(target, 'checkpoints'), ignore_errors=True)
    shutil.copytree(
        os.path.join(source, 'checkpoints', str(step)),
        os.path.join(target, 'checkpoints', str(step)),
    )
    for from_path, to_path in (
        (os.path.join(source, 'metrics.jsonl'), os.path.join(target, 'metrics.jsonl')),
        (source_log, target_log),
    ):
        if os.path.exists(from_path):
            shutil.copyfile(from_path, to_path)


def carry(
    points: Sequence[sweeps.Point], root: str, carried_dir: str, committed: Collection[str] = ()
) -> dict[str, int]:
    """Copies each interrupted point's latest checkpoint, metrics.jsonl and log into
    `carried_dir`, for committing: a session's machine, and the checkpoints in its runs
    directory, last only the session, and `resume_carried` lets the next machine go on from
    there. A carried checkpoint is replaced only by a later step, and a point's carried files are
    removed once it is among `committed` (its results collected).

    Returns:
      {point: the step carried} for every point carried now or before.
    """
    steps = {}
    for point in points:
        workdir, kept = os.path.join(root, point.name), os.path.join(carried_dir, point.name)
        kept_log = os.path.join(carried_dir, f'{point.name}.log')
        if point.name in committed:
            shutil.rmtree(kept, ignore_errors=True)
            if os.path.exists(kept_log):
                os.remove(kept_log)
            continue
        if finished(workdir):
            continue
        step, before = sweep_plan.latest_checkpoint(workdir), sweep_plan.latest_checkpoint(kept)
        if step > before:
            _copy_run(workdir, os.path.join(root, f'{point.name}.log'), kept, kept_log, step)
        if max(step, before):
            steps[point.name] = max(step, before)
    return steps


def resume_carried(points: Sequence[sweeps.Point], root: str, carried_dir: str) -> dict[str, int]:
    """Puts each point's checkpoint carried in `carried_dir`, with its metrics.jsonl and log, into
    the point's workdir under `root` where that holds no checkpoint and no results:
    `lineage.main` then resumes the point there.

    Returns:
      {point: the step it now resumes from} for the points given a checkpoint.
    """
    steps = {}
    for point in points:
        workdir, kept = os.path.join(root, point.name), os.path.join(carried_dir, point.name)
        step = sweep_plan.latest_checkpoint(kept)
        if not step or finished(workdir) or sweep_plan.latest_checkpoint(workdir):
            continue
        log = os.path.join(carried_dir, f'{point.name}.log')
        _copy_run(kept, log, workdir, os.path.join(root, f'{point.name}.log'), step)
        steps[point.name] = step
    return steps


def main(argv: list[str]) -> None:
    extra = argv[1:]
    if extra[:1] == ['--']:
        extra = extra[1:]
    name, epochs = flags.FLAGS.sweep, flags.FLAGS.epochs
    seeds = [int(s) for s in flags.FLAGS.seeds] if flags.FLAGS.seeds else None
    try:
        points = sweeps.with_budget(name, sweeps.sweep_points(name, seeds), epochs)
    except ValueError as e:
        sys.exit(f'error: {e}')
    hours = flags.FLAGS.hours
    if hours is not None and hours <= 0:
        sys.exit(f'error: --hours must be > 0, got {hours:g}')
    time_steps = flags.FLAGS.time_steps
    if time_steps < 0 or (time_steps and not (flags.FLAGS.plan or hours)):
        sys.exit(
            f'error: --time_steps={time_steps} times steps for an estimate: give a count > 0, '
            'with --plan or --hours'
        )
    tag = sweeps.budget_tag(epochs)
    root = os.path.join(flags.FLAGS.root or sweeps.default_root(name), tag)
    committed = sweep_plan.committed(sweeps.same_data_set(name), RESULTS_DIR, tag)
    searched = [flags.FLAGS.root or sweeps.default_root(name), RESULTS_DIR]
    carried_dir = os.path.join(CARRIED_DIR, os.path.basename(sweeps.default_root(name)), tag)
    if flags.FLAGS.collect:
        for member in sweeps.members(name):
            destination = os.path.join(RESULTS_DIR, member, tag)
            mine = sweeps.with_budget(member, sweeps.sweep_points(member, seeds), epochs)
            try:
                copied = collect(mine, root, destination)
            except ValueError as e:
                sys.exit(f'error: {e}')
            there = sum(finished(os.path.join(destination, point.name)) for point in mine)
            print(
                f'sweep {member}: {len(copied)} copied from {root}; '
                f'{there} of {len(mine)} points finished in {destination}'
            )
        committed = sweep_plan.committed(sweeps.same_data_set(name), RESULTS_DIR, tag)
        for point, step in carry(points, root, carried_dir, committed).items():
            print(f'  {point}: interrupted, its checkpoint at step {step} carried to {carried_dir}')
        return
    for point, step in resume_carried(points, root, carried_dir).items():
        logging.info('%s: resumes from step %d, carried in %s', point, step, carried_dir)
    timed = {}
    if time_steps:
        from experiments import step_rate  # imports jax; the steps run in a child process

        try:
            timed = step_rate.time_points_apart(
                sweep_plan.to_time(points, root, searched, committed), time_steps
            )
        except futures.process.BrokenProcessPool:
            sys.exit(
                f'error: --time_steps={time_steps}: the process timing the steps died (out of '
                'memory?); leave --time_steps out to estimate from the runs measured so far'
            )
    if flags.FLAGS.plan:
        print(sweep_plan.describe(name, points, root, searched, committed, timed))
        return

    def needs_hours(point: sweeps.Point) -> float:
        return sweep_plan.hours_left(point, root, searched, committed, timed)

    outcomes = run_sweep(
        points, root, extra, committed=committed, hours=hours, needs_hours=needs_hours
    )
    failed = [o for o in outcomes if o.status == 'failed']
    statuses = ('done', 'skipped', 'failed', 'stopped', 'deferred')
    counts = {s: sum(o.status == s for o in outcomes) for s in statuses}
    print(f'sweep {name}: ' + ', '.join(f'{n} {s}' for s, n in counts.items()))
    for o in failed:
        print(f'  failed: {o.point} (returncode {o.returncode}), log {o.log}')
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
    flags.DEFINE_bool('plan', False, 'Print the points left and an estimate of their hours.')
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
