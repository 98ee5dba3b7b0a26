"""A sweep's runs as a table: one row per point, summarized over its seeds (mean, standard
deviation, 95% interval of the mean), the Pareto front of parameters against top-1, and the
table as CSV and Markdown. `python -m experiments.report` writes them into a sweep's root; the
claims (experiments/reporting/claims.py) read their rows from `budget_rows`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import statistics
from collections.abc import Sequence
from typing import Any

from scipy import stats

from experiments.reporting import markdown as md
from experiments.sweeping import sweeps


@dataclasses.dataclass(frozen=True)
class Row:
    """One point of a sweep, summarized over its seeds."""

    point: str
    block: str
    params: int
    macs: int
    seeds: tuple[int, ...]
    top1: tuple[float, ...]  # per seed, in [0, 1]
    images_per_sec: float | None
    wall_time_s: float

    @property
    def top1_mean(self) -> float:
        return statistics.fmean(self.top1)

    @property
    def top1_std(self) -> float | None:
        """Sample standard deviation over seeds; None with one seed."""
        return statistics.stdev(self.top1) if len(self.top1) > 1 else None

    @property
    def ci95(self) -> float | None:
        """Half-width of the 95% confidence interval of the mean over seeds (Student's t with
        n - 1 degrees of freedom); None with one seed."""
        n = len(self.top1)
        if n < 2:
            return None
        return float(stats.t.ppf(0.975, n - 1)) * self.top1_std / n**0.5

    @property
    def acc_per_mparams(self) -> float:
        """Mean top-1 in percent per million parameters."""
        return 100 * self.top1_mean / (self.params / 1e6)


def load_runs(root: str) -> list[dict[str, Any]]:
    """Every results.json under `root`, each with 'point' (its directory name without the
    seed suffix), 'run' (the directory name) and 'path' added; sorted by path."""
    runs = []
    for directory, _, files in sorted(os.walk(root)):
        if 'results.json' in files:
            path = os.path.join(directory, 'results.json')
            with open(path) as f:
                run = json.load(f)
            name = os.path.basename(directory)
            run.update(point=sweeps.without_seed(name), run=name, path=path)
            runs.append(run)
    return runs


def summarize(runs: Sequence[dict[str, Any]]) -> list[Row]:
    """One Row per point, in the order points first appear in `runs`.

    Raises:
      ValueError: runs of one point disagree on parameters or MACs (not the same model).
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(run['point'], []).append(run)
    rows = []
    for point, members in groups.items():
        shapes = {(r['params'], r['macs']) for r in members}
        if len(shapes) > 1:
            raise ValueError(
                f'point {point!r}: runs disagree on (params, MACs) {sorted(shapes)}; '
                'each point directory must hold one model'
            )
        speeds = [r['train_images_per_sec'] for r in members if r.get('train_images_per_sec')]
        rows.append(
            Row(
                point=point,
                block=str(members[0].get('block') or members[0].get('model')),
                params=int(members[0]['params']),
                macs=int(members[0]['macs']),
                seeds=tuple(int(r['config']['seed']) for r in members),
                top1=tuple(float(r['top1']) for r in members),
                images_per_sec=statistics.fmean(speeds) if speeds else None,
                wall_time_s=statistics.fmean(float(r['wall_time_s']) for r in members),
            )
        )
    return rows


def pareto_front(rows: Sequence[Row]) -> set[str]:
    """Points not dominated in (fewer parameters, higher mean top-1)."""
    front = set()
    for row in rows:
        dominated = any(
            other.params <= row.params
            and other.top1_mean >= row.top1_mean
            and (other.params < row.params or other.top1_mean > row.top1_mean)
            for other in rows
        )
        if not dominated:
            front.add(row.point)
    return front


COLUMNS = (
    'point', 'block', 'params', 'macs', 'seeds', 'top1_mean', 'top1_std', 'top1_ci95',
    'top1_min', 'top1_max', 'acc_per_mparams', 'train_images_per_sec', 'wall_time_s', 'pareto',
)  # fmt: skip


RUN_COLUMNS = (
    'run', 'point', 'block', 'params', 'macs', 'top1', 'top5', 'eval_loss', 'train_steps',
    'global_batch', 'train_images_per_sec', 'wall_time_s',
)  # fmt: skip


def table(rows: Sequence[Row], front: set[str] | None) -> list[dict[str, Any]]:
    """The rows as dictionaries of COLUMNS (top-1 in percent); 'pareto' None without a `front`
    (runs of several budgets)."""
    out = []
    for r in rows:
        std, ci = r.top1_std, r.ci95
        out.append({
            'point': r.point,
            'block': r.block,
            'params': r.params,
            'macs': r.macs,
            'seeds': len(r.seeds),
            'top1_mean': 100 * r.top1_mean,
            'top1_std': None if std is None else 100 * std,
            'top1_ci95': None if ci is None else 100 * ci,
            'top1_min': 100 * min(r.top1),
            'top1_max': 100 * max(r.top1),
            'acc_per_mparams': r.acc_per_mparams,
            'train_images_per_sec': r.images_per_sec,
            'wall_time_s': r.wall_time_s,
            'pareto': None if front is None else r.point in front,
        })  # fmt: skip
    return out


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return '-'
    if isinstance(value, bool):
        return 'yes' if value else ''
    if isinstance(value, float):
        return f'{value:.{digits}f}'
    if isinstance(value, int):
        return f'{value:,}'
    return str(value)


def write_csv(path: str, records: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction='ignore')
        writer.writeheader()
        writer.writerows(records)


def markdown(records: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]]) -> str:
    """The results table in Markdown, under a line stating the data and budget of the runs."""
    budget = sorted(
        {
            f'{r["dataset"]}, {r["train_steps"]} steps of {r["global_batch"]} '
            f'({r["epochs"]:.2f} epochs), {r["devices"]["count"]} {r["devices"]["kind"]} device(s)'
            for r in runs
        }
    )
    lines = [f'Runs: {"; ".join(budget)}.', '']
    lines += md.header([
        'point', 'block', 'params', 'MACs', 'seeds', 'top-1 % mean ± std', '95% CI',
        'seeds min..max', 'top-1 % per M params', 'train img/s', 'wall s', 'Pareto',
    ])  # fmt: skip
    for r in records:
        spread = f'{r["top1_min"]:.2f}..{r["top1_max"]:.2f}' if r['seeds'] > 1 else '-'
        ci = '-' if r['top1_ci95'] is None else (
            f'[{r["top1_mean"] - r["top1_ci95"]:.2f}, {r["top1_mean"] + r["top1_ci95"]:.2f}]'
        )  # fmt: skip
        std = '' if r['top1_std'] is None else f' ± {r["top1_std"]:.2f}'
        lines.append(md.row([
            r['point'], r['block'], _fmt(r['params']), _fmt(r['macs']), r['seeds'],
            f'{r["top1_mean"]:.2f}{std}', ci, spread, _fmt(r['acc_per_mparams'], 1),
            _fmt(r['train_images_per_sec'], 1), _fmt(r['wall_time_s'], 0), _fmt(r['pareto']),
        ]))  # fmt: skip
    return '\n'.join(lines) + '\n'


def curve(runs: Sequence[dict[str, Any]]) -> tuple[int, dict[str, list[tuple[float, float]]]]:
    """The learning curve of one seed, the lowest any run has (the curve sweep runs seed 0):
    that seed and, per block, (epochs, top-1 in percent) for each budget, shortest first."""
    seed = min(int(r['config']['seed']) for r in runs)
    groups: dict[str, list[tuple[float, float]]] = {}
    for r in runs:
        if int(r['config']['seed']) == seed:
            groups.setdefault(r['block'], []).append((round(r['epochs'], 2), 100 * r['top1']))
    return seed, {block: sorted(points) for block, points in groups.items()}


def budget_rows(results_dir: str, budget: str) -> dict[str, Row]:
    """Every point committed at `budget`, by name, from every sweep directory that holds it
    (`<results_dir>/*/<budget>/`): a point's name is its run, whichever sweeps share it.

    Raises:
      ValueError: one run name holds different results in two directories.
    """
    return {row.point: row for row in summarize(budget_runs(results_dir, budget))}


def budget_runs(results_dir: str, budget: str) -> list[dict[str, Any]]:
    """Every run committed at `budget`, once, from whichever sweep directory holds it (the first
    in name order); `budget_rows` in runs.

    Raises:
      ValueError: no directory `results_dir`; one run name holds different results in two
        directories.
    """
    if not os.path.isdir(results_dir):
        raise ValueError(f'no directory {results_dir}; pass --results=<the results directory>')
    runs: dict[str, dict[str, Any]] = {}
    for sweep in sorted(os.listdir(results_dir)):
        root = os.path.join(results_dir, sweep, budget)
        for run in load_runs(root) if os.path.isdir(root) else []:
            seen = runs.setdefault(run['run'], run)
            if (seen['top1'], seen['params']) != (run['top1'], run['params']):
                raise ValueError(
                    f'run {run["run"]!r} differs between {seen["path"]} and {run["path"]}; '
                    'one point name must be one run: rename one of them'
                )
    return list(runs.values())
