"""What a sweep has left to run, and an estimate of its hours from measured images/s.

`python -m experiments.run_sweep --sweep=ladder --epochs=10 --plan` prints, per point left, where it
stands (new, or resuming at its latest checkpoint), the training images it still needs, the images/s
it is estimated at and the hours. Images/s come from the point's own metrics.jsonl when it was
interrupted (the median of its logged images/s: the machine and load that ran it, another machine's
for a point `run_sweep --collect` carried), else from finished runs of the same point (same data
set) found in the searched directories (the sweep's runs and experiments/results; not a run resumed
on another machine, whose rate mixes two CPUs): the median of their `train_images_per_sec`, over the
runs of the same length (train steps) where there are any, since a run's length moves its rate
(plain3x3 in experiments/results/ladder_1epoch against ladder/e40); failing that, runs of the same
block; failing that, DEFAULT_IMAGES_PER_SEC. Each point also pays a fixed overhead (compile, the
final eval), measured as a finished run's wall time less its training time, or DEFAULT_OVERHEAD_S.
Measured rates come from whatever machine and load ran them: a shared machine's runs make the
estimate long, and runs of other budgets, older code or another CPU can be off several times over.
Timed rates (`Evidence.timed`, from `experiments.sweeping.timed_rates`: the point's train step
timed on this machine) replace all but a point's own log and its own runs at this budget on this
machine (the same CPU and cores, `host` in results.json).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import statistics
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from experiments.sweeping import sweeps
from lineage.metrics import host_info

# Train examples per data set name (config.dataset.name) of the sweeps' configs: CIFAR-10's
# train split as the image folder holds it, and the digits' fixed train split.
TRAIN_EXAMPLES = {'image_folder': 50_000, 'cifar10': 50_000, 'digits': 1_437}
# Used when no finished run measured a point or its block: the 1-epoch CIFAR ladder's slowest
# rung (experiments/results/ladder_1epoch, 2 CPU cores) rounded down.
DEFAULT_IMAGES_PER_SEC = 150.0
DEFAULT_OVERHEAD_S = 120.0
# The share of its timed step's images/s that a 40-epoch CIFAR-10 run trained at, on 2 CPU
# cores (experiments/results/step_rates.md): the input pipeline, logging and checkpoints.
ACHIEVED_SHARE = 0.86
# Sources of a rate that timing the step does not replace: this point measured at this budget,
# on this machine.
SETTLED = ('its own log', 'this point, this budget here')


@dataclasses.dataclass(frozen=True)
class Left:
    """One point still to run."""

    point: str
    done_steps: int
    total_steps: int
    images: float  # training images still to go
    images_per_sec: float
    source: str  # where images_per_sec came from
    hours: float


def point_config(point: sweeps.Point) -> Any:
    """The point's full config: its base config file with its overrides applied."""
    path, _, options = point.config.partition(':')
    module = importlib.import_module(path.removesuffix('.py').replace('/', '.'))
    config = module.get_config(options) if options else module.get_config()
    config.update_from_flattened_dict(point.overrides)
    return config


def total_steps(config: Any) -> tuple[int, int]:
    """(steps, global batch) of a config, as lineage.plan computes them."""
    batch = config.batch_size
    if config.num_train_steps > 0:
        return config.num_train_steps, batch
    per_epoch = max(1, TRAIN_EXAMPLES[config.dataset.name] // batch)
    return max(1, math.ceil(config.num_epochs * per_epoch)), batch


def latest_checkpoint(workdir: str) -> int:
    """The step of the newest finished checkpoint in `workdir` (0 when none)."""
    directory = os.path.join(workdir, 'checkpoints')
    if not os.path.isdir(directory):
        return 0
    return max((int(n) for n in os.listdir(directory) if n.isdigit()), default=0)


def finished(workdir: str) -> bool:
    """Whether the point in `workdir` finished: `lineage.main` wrote its results.json."""
    return os.path.exists(os.path.join(workdir, 'results.json'))


def resumes_from(workdir: str, kept: str) -> str:
    """The workdir a point resumes from: `kept`, its carried copy (`run_sweep --collect`), where
    that holds a checkpoint and `workdir` holds neither a checkpoint nor results.json
    (`collect.resume_carried` then copies it in before the point starts); else `workdir`."""
    fresh = not latest_checkpoint(workdir) and not finished(workdir)
    return kept if kept and fresh and latest_checkpoint(kept) else workdir


def logged_rate(workdir: str) -> float | None:
    """Median images/s an interrupted run logged in its metrics.jsonl; None when none."""
    path = os.path.join(workdir, 'metrics.jsonl')
    if not os.path.exists(path):
        return None
    with open(path) as f:
        rates = [json.loads(line).get('images_per_sec') for line in f if line.strip()]
    rates = [r for r in rates if r]
    return statistics.median(rates) if rates else None


def _family(dataset: str) -> str:
    return 'digits' if dataset.startswith('digits') else 'cifar10'


def one_machine(run: Mapping[str, Any]) -> bool:
    """Whether a run's results.json rate and wall time are one machine's: not a run resumed on
    another machine (a carried checkpoint), whose `hosts` name two CPUs."""
    return len(run.get('hosts', [])) <= 1


def measured(directories: Sequence[str]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(data family, point name or block) -> [{'ips', 'overhead', 'steps', 'host'}] of finished
    runs."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for top in directories:
        for directory, _, files in os.walk(top):
            if 'results.json' not in files:
                continue
            with open(os.path.join(directory, 'results.json')) as f:
                run = json.load(f)
            ips = run.get('train_images_per_sec')
            if not ips or 'train_steps' not in run or not one_machine(run):
                continue
            train_s = run['train_steps'] * run['global_batch'] / ips
            entry = {
                'ips': ips,
                'overhead': max(0.0, run['wall_time_s'] - train_s),
                'steps': run['train_steps'],
                'host': run.get('host'),
            }
            family = _family(str(run.get('dataset', '')))
            point = sweeps.without_seed(os.path.basename(directory))
            for key in {point, f'block:{run.get("block")}'}:
                found.setdefault((family, key), []).append(entry)
    return found


def committed(sweep_names: Sequence[str], results_dir: str, tag: str) -> set[str]:
    """Names of the points with a results.json under `<results_dir>/<sweep>/<tag>/<point>/`, for
    each of `sweep_names`: where `run_sweep --collect` files them for committing. They finished
    on some machine, so a fresh clone (a new session's machine, a TPU VM) need not train them."""
    names = set()
    for sweep in sweep_names:
        directory = os.path.join(results_dir, sweep, tag)
        if os.path.isdir(directory):
            names.update(
                n
                for n in os.listdir(directory)
                if os.path.isfile(os.path.join(directory, n, 'results.json'))
            )
    return names


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What a sweep's estimate goes on, gathered once by its caller (`run_sweep`).

    root: the directory holding one workdir per point (checkpoints, metrics.jsonl, results.json).
    directories: where finished runs are searched for their measured rates (`measured`).
    committed: names of the points whose results are committed (as the function `committed` finds
      them): finished elsewhere, so not left to run.
    timed: a point's name without its seed -> its step's images/s timed on this machine
      (`experiments.sweeping.timed_rates`), which runs achieve `ACHIEVED_SHARE` of.
    host: the machine the points will run on as `host_info` names it (default: this process's);
      with `run_sweep --jobs`, this CPU and one point's share of its cores, so that a rate
      measured at that share comes first.
    carried: the directory of checkpoints `run_sweep --collect` carried (one workdir per point),
      read for a point whose workdir under `root` holds no checkpoint: where it will resume.
    """

    root: str
    directories: Sequence[str]
    committed: Collection[str] = ()
    timed: Mapping[str, float] = dataclasses.field(default_factory=dict)
    host: Mapping[str, Any] = dataclasses.field(default_factory=host_info)
    carried: str = ''


def remaining(points: Sequence[sweeps.Point], evidence: Evidence) -> list[Left]:
    """The points of `points` neither named in `evidence.committed` nor with results.json under
    `evidence.root`, each with its estimate from the runs measured by now."""
    rates, here = measured(evidence.directories), dict(evidence.host)
    left = []
    for point in points:
        workdir = os.path.join(evidence.root, point.name)
        if point.name in evidence.committed or finished(workdir):
            continue
        kept = os.path.join(evidence.carried, point.name) if evidence.carried else ''
        workdir = resumes_from(workdir, kept)
        config = point_config(point)
        family = _family(config.dataset.name)
        steps, batch = total_steps(config)
        done = min(latest_checkpoint(workdir), steps)
        name = sweeps.without_seed(point.name)
        keys = ((name, 'this point'), (f'block:{config.model.block}', 'its block'))
        ips, source = logged_rate(workdir), 'its own log'
        for key, found_in in keys if ips is None else ():
            if (family, key) in rates:
                runs = rates[(family, key)]
                same_budget = [e for e in runs if e['steps'] == steps]
                here_too = [e for e in same_budget if e['host'] == here]
                ips = statistics.median(e['ips'] for e in here_too or same_budget or runs)
                budget = 'this budget' if same_budget else 'other budgets'
                source = f'{found_in}, {budget}{" here" if here_too else ""}'
                break
        else:
            if ips is None:
                ips, source = DEFAULT_IMAGES_PER_SEC, 'default'
        if source not in SETTLED and name in evidence.timed:
            ips, source = evidence.timed[name] * ACHIEVED_SHARE, 'its step timed here'
        overheads = [e['overhead'] for (f, k), r in rates.items() if f == family for e in r]
        overhead = statistics.median(overheads) if overheads else DEFAULT_OVERHEAD_S
        images = (steps - done) * batch
        hours = (images / ips + overhead) / 3600
        left.append(Left(point.name, done, steps, images, ips, source, hours))
    return left


def hours_left(point: sweeps.Point, evidence: Evidence) -> float:
    """`remaining`'s hours for one point (0 when it is finished), from the runs measured by now:
    `run_sweep` asks when the point's turn comes, after the points before it finished."""
    left = remaining([point], evidence)
    return left[0].hours if left else 0.0


def describe(name: str, points: Sequence[sweeps.Point], evidence: Evidence, jobs: int = 1) -> str:
    """The estimate as text: one line per point left, then the total; with `jobs` > 1, also the
    wall hours of running them `jobs` at a time."""
    left = remaining(points, evidence)
    in_results = sum(p.name in evidence.committed for p in points)
    lines = [
        f'sweep {name} in {evidence.root}: {len(points) - len(left)} of {len(points)} points '
        f'finished ({in_results} of them committed), {len(left)} left (images/s measured in '
        f'{", ".join(evidence.directories)})'
    ]
    for p in left:
        where = f'resumes at step {p.done_steps}' if p.done_steps else 'new'
        lines.append(
            f'  {p.point:<32} {where:<22} {p.images / 1e6:6.2f}M images at {p.images_per_sec:6.0f}'
            f' img/s ({p.source}): {p.hours:5.2f} h'
        )
    total = f'total: {sum(p.hours for p in left):.1f} h for {len(left)} points'
    if jobs > 1:
        total += (
            f'; {wall_hours([p.hours for p in left], jobs):.1f} h of wall clock at --jobs={jobs} '
            f'(each point at its rate on a share of {evidence.host["cores"]} core(s))'
        )
    lines.append(total)
    return '\n'.join(lines)


def wall_hours(hours: Sequence[float], jobs: int) -> float:
    """Wall hours of points taking `hours` each, run in order `jobs` at a time as `run_sweep`
    runs them: each starts when the first of the running ones ends."""
    slots = [0.0] * jobs
    for h in hours:
        slots[slots.index(min(slots))] += h
    return max(slots)


def to_time(points: Sequence[sweeps.Point], left: Sequence[Left]) -> list[sweeps.Point]:
    """One point (the first seed) per distinct point of `left` (`remaining`'s answer for
    `points`) whose rate is not `SETTLED`: those whose step is worth timing."""
    unsettled = {p.point for p in left if p.source not in SETTLED}
    chosen = {}
    for point in points:
        if point.name in unsettled:
            chosen.setdefault(sweeps.without_seed(point.name), point)
    return list(chosen.values())
