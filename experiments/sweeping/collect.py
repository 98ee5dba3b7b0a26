"""What a sweep leaves for committing: finished points' results, interrupted points' checkpoints.

`collect` copies each finished point's results.json, metrics.jsonl and log (no checkpoints) into
`experiments/results/<sweep>/<budget>/`, never over a file that differs, except to complete one
that the run appended to after it was collected. `carry` copies each interrupted point's latest
checkpoint (a few hundred KB for the ladder's models), metrics.jsonl and log into
`experiments/results/carried/<data set>/<budget>/`, once however many sweeps share the point;
`resume_carried` puts it back into the runs root of any machine whose root holds no checkpoint
of the point, where `lineage.main` resumes it; once the point's results are collected, its
carried files are removed. Both skip the points named in `skip`: the runner passes those whose
workdir lock a live run holds (`lineage.workdir_lock.held_by`), which are neither finished nor
interrupted yet: their checkpoints and logs are still being written."""

from __future__ import annotations

import filecmp
import os
import shutil
import sys
from collections.abc import Collection, Sequence

from experiments.sweeping import estimate, sweeps
from experiments.sweeping.estimate import finished
from lineage import workdir_lock

# What a finished point leaves that is worth committing (checkpoints are not).
COLLECTED = ('results.json', 'metrics.jsonl')


def _extends(source: str, target: str) -> bool:
    """Whether `target` is a copy of `source` taken before the run appended to it (a log collected
    between results.json and the run's last line)."""
    with open(source, 'rb') as f:
        grown = f.read()
    with open(target, 'rb') as f:
        earlier = f.read()
    return len(grown) > len(earlier) and grown.startswith(earlier)


def collect(
    points: Sequence[sweeps.Point], root: str, destination: str, skip: Collection[str] = ()
) -> list[str]:
    """Copies each finished point's COLLECTED files and its log into `destination`, but for the
    points named in `skip` (live runs).

    Returns:
      The names of the points copied (or already there, identical).

    Raises:
      ValueError: a file in `destination` differs from the one it would be copied from, and is
        not an earlier, shorter copy of it.
    """
    copied = []
    for point in points:
        workdir = os.path.join(root, point.name)
        if point.name in skip or not finished(workdir):
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
    points: Sequence[sweeps.Point],
    root: str,
    carried_dir: str,
    committed: Collection[str] = (),
    skip: Collection[str] = (),
) -> dict[str, int]:
    """Copies each interrupted point's latest checkpoint, metrics.jsonl and log into
    `carried_dir`, for committing: a session's machine, and the checkpoints in its runs
    directory, last only the session, and `resume_carried` lets the next machine go on from
    there. A carried checkpoint is replaced only by a later step, and a point's carried files are
    removed once it is among `committed` (its results collected). The points named in `skip`
    (live runs) are not carried now.

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
        if point.name in skip or finished(workdir):
            continue
        step, before = estimate.latest_checkpoint(workdir), estimate.latest_checkpoint(kept)
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
        if estimate.resumes_from(workdir, kept) != kept:
            continue
        step = estimate.latest_checkpoint(kept)
        log = os.path.join(carried_dir, f'{point.name}.log')
        _copy_run(kept, log, workdir, os.path.join(root, f'{point.name}.log'), step)
        steps[point.name] = step
    return steps


def collect_sweep(
    name: str,
    seeds: Sequence[int] | None,
    epochs: float | None,
    points: Sequence[sweeps.Point],
    root: str,
    results_dir: str,
    carried_dir: str,
) -> None:
    """`run_sweep --collect` of sweep `name` (its `points`, at `epochs`, in `root`): each member
    sweep's finished points into `<results_dir>/<member>/<budget>/`, interrupted ones carried to
    `carried_dir`, with a line for each; points a live run holds are left for a later collect.
    Exits with one line if a collected file would be written over."""
    tag = sweeps.budget_tag(epochs)
    live = {p.name: h for p in points if (h := workdir_lock.held_by(os.path.join(root, p.name)))}
    for point, holder in live.items():
        print(f'  {point}: running ({holder}), skipped; collect it once it stops')
    for member in sweeps.members(name):
        destination = os.path.normpath(os.path.join(results_dir, member, tag))
        mine = sweeps.with_budget(member, sweeps.sweep_points(member, seeds), epochs)
        try:
            copied = collect(mine, root, destination, skip=live)
        except ValueError as e:
            sys.exit(f'error: {e}')
        there = sum(finished(os.path.join(destination, point.name)) for point in mine)
        print(
            f'sweep {member}: {len(copied)} copied from {root}; '
            f'{there} of {len(mine)} points finished in {destination}'
        )
    committed = estimate.committed(sweeps.same_data_set(name), results_dir, tag)
    carried = carry(points, root, carried_dir, committed, skip=live)
    for point, step in carried.items():
        print(f'  {point}: interrupted, its checkpoint at step {step} carried to {carried_dir}')
