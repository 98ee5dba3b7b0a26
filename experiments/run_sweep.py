"""Runs every point of a sweep as its own `lineage.main` process, skipping finished ones.

    python -m experiments.run_sweep --sweep=ladder_digits
    python -m experiments.run_sweep --sweep=ladder --seeds=0,1,2 --root=experiments/results/ladder
    python -m experiments.run_sweep --sweep=spectrum -- --config.num_train_steps=5000

Each point runs as `python -m lineage.main --config=<base config> --config.x=y ...
--workdir=<root>/<point>`, with its output in `<root>/<point>.log`. A point whose
`results.json` exists is skipped, so rerunning the same command resumes the sweep (and an
interrupted point resumes from its own checkpoint). A point that fails is logged with its
return code and log file and the sweep goes on; the runner exits 1 if any point failed.
Flags after `--` are appended to every point (e.g. a longer budget on a TPU VM). The same
command runs on a TPU VM: each point uses every local device.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from absl import app, flags, logging

from experiments import sweeps


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happened to one point: 'done' (ran now), 'skipped' (finished before) or 'failed'."""

    point: str
    status: str
    returncode: int = 0
    log: str = ''
    seconds: float = 0.0


def point_command(point: sweeps.Point, workdir: str, extra: Sequence[str] = ()) -> list[str]:
    """The command line that runs `point` in `workdir` with this Python."""
    return [sys.executable, '-m', 'lineage.main', *point.args(), *extra, f'--workdir={workdir}']


def run_sweep(
    points: Sequence[sweeps.Point],
    root: str,
    extra: Sequence[str] = (),
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
) -> list[Outcome]:
    """Runs the unfinished `points` one after another under `root`.

    Args:
      points: the sweep's points.
      root: directory holding one workdir (and one .log file) per point.
      extra: flags appended to every point's command.
      run: `subprocess.run` (tests pass a fake).

    Returns:
      One Outcome per point, in order.
    """
    os.makedirs(root, exist_ok=True)
    outcomes = []
    for i, point in enumerate(points):
        workdir = os.path.join(root, point.name)
        log_path = os.path.join(root, f'{point.name}.log')
        tag = f'[{i + 1}/{len(points)}] {point.name}'
        if os.path.exists(os.path.join(workdir, 'results.json')):
            logging.info('%s: finished before, skipped', tag)
            outcomes.append(Outcome(point.name, 'skipped'))
            continue
        command = point_command(point, workdir, extra)
        logging.info('%s: %s', tag, ' '.join(command))
        started = time.perf_counter()
        with open(log_path, 'a') as log:
            code = run(command, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
        seconds = time.perf_counter() - started
        if code == 0 and os.path.exists(os.path.join(workdir, 'results.json')):
            logging.info('%s: done in %.0f s', tag, seconds)
            outcomes.append(Outcome(point.name, 'done', 0, log_path, seconds))
        else:
            logging.error(
                '%s: FAILED (returncode %d) after %.0f s; see %s', tag, code, seconds, log_path
            )
            outcomes.append(Outcome(point.name, 'failed', code, log_path, seconds))
    return outcomes


def main(argv: list[str]) -> None:
    extra = argv[1:]
    if extra[:1] == ['--']:
        extra = extra[1:]
    name = flags.FLAGS.sweep
    seeds = [int(s) for s in flags.FLAGS.seeds] if flags.FLAGS.seeds else None
    try:
        points = sweeps.sweep_points(name, seeds)
    except ValueError as e:
        sys.exit(f'error: {e}')
    root = flags.FLAGS.root or os.path.join('experiments', 'results', name)
    outcomes = run_sweep(points, root, extra)
    failed = [o for o in outcomes if o.status == 'failed']
    counts = {s: sum(o.status == s for o in outcomes) for s in ('done', 'skipped', 'failed')}
    print(f'sweep {name}: ' + ', '.join(f'{n} {s}' for s, n in counts.items()))
    for o in failed:
        print(f'  failed: {o.point} (returncode {o.returncode}), log {o.log}')
    if failed:
        sys.exit(1)


if __name__ == '__main__':
    # Flags are defined here, not at import, so the module imports beside report (tests).
    flags.DEFINE_string('sweep', None, f'One of: {", ".join(sorted(sweeps.SWEEPS))}.')
    flags.DEFINE_list('seeds', None, "Seeds for every point; default: the sweep's own.")
    flags.DEFINE_string('root', None, 'Sweep directory; default experiments/results/<sweep>.')
    flags.mark_flag_as_required('sweep')
    app.run(main)
