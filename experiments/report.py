"""Collects a sweep's `results.json` files into tables and plots, and the claims table.

    python -m experiments.report --root=experiments/results/ladder/e40 --sweep=ladder
    python -m experiments.report --claims --budget=e40      # experiments/README.md's claims

Every `results.json` under `--root` is one run; runs of the same point with different seeds
(directories `<point>-s<seed>`) form one row. Written into the root:

  runs.csv                one line per run (the raw numbers behind every row);
  results.csv, results.md one row per point: block, parameters, MACs, seeds, top-1 mean, std,
                          95% confidence interval of the mean over seeds (t with n - 1 degrees
                          of freedom) and the seeds' min..max, accuracy per million parameters
                          (top-1 in percent divided by millions of parameters, as lineage.train
                          writes it), train images/s and wall time (means over seeds), Pareto
                          membership (none for runs of several budgets);
  top1_vs_params.png      top-1 against parameters (log scale), 95% CI bars, and the Pareto
                          front when every run has the same budget (never across budgets);
  top1_vs_macs.png        top-1 against MACs (log scale), 95% CI bars;
  top1_by_arm.png         instead of the two above, for a sweep of 3 points or fewer (the arms
                          of a comparison): one dot and 95% CI bar per arm;
  top1_vs_epochs.png      the learning curve, when the runs have more than one budget: top-1
                          of one seed (the lowest run) against epochs, one line per block.

The Pareto front is the points no other point beats on both axes: none has at most as many
parameters and at least as high a mean top-1, one of the two strictly.

`--claims` rewrites the claims' rule, margins and tables (`experiments.claims`) between the
CLAIMS_BEGIN and CLAIMS_END lines of experiments/README.md, from the committed results at
`--budget`. A point is found by its name in whichever sweep directory at that budget holds it
(`experiments/results/*/<budget>/<point>-s<seed>/`): the same point name is the same run, which
the runner files under every sweep that shares it or under one of them, so the equal-parameter
claims read the ladder's `separable` where no `equal_params` directory holds it, and nothing is
copied. Two directories holding different results under one run name is an error.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import statistics
import sys
from collections.abc import Sequence
from typing import Any

from absl import app, flags
from scipy import stats

from experiments import claims, plots, sweeps
from experiments import markdown as md


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


def plot_title(root: str) -> str:
    """The plots' title: the root's name, with a budget directory read out
    (`experiments/results/ladder/e40` -> 'ladder, 40 epochs')."""
    path = os.path.normpath(root)
    name, parent = os.path.basename(path), os.path.basename(os.path.dirname(path))
    match = re.fullmatch(r'e(\d+(?:\.\d+)?)', name)
    if match and parent:
        return f'{parent}, {match.group(1)} epochs'
    return name


def plot_all(
    runs: Sequence[dict[str, Any]], rows: Sequence[Row], root: str, front: set[str] | None
) -> None:
    """The plots of `root` (experiments.plots): arms for a sweep of plots.MAX_ARMS points or
    fewer, else top-1 against parameters (with `front`, None across budgets) and against MACs;
    the learning curve when the runs span budgets."""
    name = plot_title(root)
    seed, lines = curve(runs)
    budgets = sorted({epochs for points in lines.values() for epochs, _ in points})
    if len(rows) <= plots.MAX_ARMS:
        plots.arms(rows, os.path.join(root, 'top1_by_arm.png'), name)
    else:
        plots.scatter(
            rows, 'params', os.path.join(root, 'top1_vs_params.png'), name, front or set()
        )
        plots.scatter(rows, 'macs', os.path.join(root, 'top1_vs_macs.png'), name)
    if len(budgets) > 1:
        plots.curve(lines, budgets, seed, os.path.join(root, 'top1_vs_epochs.png'), name)


def report(root: str, order: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Writes runs.csv, results.csv, results.md and the plots into `root`.

    Args:
      root: directory searched for results.json files.
      order: point names in the order the rows should take (others follow, as found).

    Returns:
      The table's records.

    Raises:
      ValueError: no results.json under `root`.
    """
    runs = load_runs(root)
    if not runs:
        raise ValueError(f'no results.json under {root}; run the sweep first')
    rows = summarize(runs)
    if order:
        rank = {name: i for i, name in enumerate(order)}
        rows.sort(key=lambda r: rank.get(r.point, len(rank)))
    one_budget = len({r.get('epochs') for r in runs}) == 1
    front = pareto_front(rows) if one_budget else None  # never a front across budgets
    records = table(rows, front)
    write_csv(os.path.join(root, 'results.csv'), records, COLUMNS)
    write_csv(os.path.join(root, 'runs.csv'), runs, RUN_COLUMNS)
    with open(os.path.join(root, 'results.md'), 'w') as f:
        f.write(markdown(records, runs))
    plot_all(runs, rows, root, front)
    return records


CLAIMS_BEGIN = '<!-- claims table: generated by python -m experiments.report --claims -->'
CLAIMS_END = '<!-- end of claims table -->'


def budget_rows(results_dir: str, budget: str) -> dict[str, Row]:
    """Every point committed at `budget`, by name, from every sweep directory that holds it
    (`<results_dir>/*/<budget>/`): a point's name is its run, whichever sweeps share it.

    Raises:
      ValueError: one run name holds different results in two directories.
    """
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
    return {row.point: row for row in summarize(list(runs.values()))}


def claims_markdown(results_dir: str, budget: str) -> str:
    """The claims' rule and tables (experiments.claims) from the results at `budget`."""
    if not os.path.isdir(results_dir):
        raise ValueError(f'no directory {results_dir}; pass --results=<the results directory>')
    return claims.markdown(budget_rows(results_dir, budget), budget)


def write_claims(readme: str, results_dir: str, budget: str) -> str:
    """Replaces the lines between CLAIMS_BEGIN and CLAIMS_END of `readme` with the claims table.

    Raises:
      ValueError: `readme` is not a file or lacks the two marker lines.
    """
    if not os.path.isfile(readme):
        raise ValueError(f'no file {readme}; pass --readme=<a file with the claims markers>')
    with open(readme) as f:
        text = f.read()
    if CLAIMS_BEGIN not in text or CLAIMS_END not in text:
        raise ValueError(f'{readme} lacks the lines {CLAIMS_BEGIN!r} and {CLAIMS_END!r}')
    table = claims_markdown(results_dir, budget)
    head, rest = text.split(CLAIMS_BEGIN, 1)
    tail = rest.split(CLAIMS_END, 1)[1]
    with open(readme, 'w') as f:
        f.write(f'{head}{CLAIMS_BEGIN}\n{table}\n{CLAIMS_END}{tail}')
    return table


def main(argv: list[str]) -> None:
    del argv
    root, sweep = flags.FLAGS.root, flags.FLAGS.sweep
    if flags.FLAGS.claims:
        try:
            print(write_claims(flags.FLAGS.readme, flags.FLAGS.results, flags.FLAGS.budget))
        except ValueError as e:
            sys.exit(f'error: {e}')
        return
    if not root:
        sys.exit('error: pass --root=<directory of results.json files>, or --claims')
    order = None
    if sweep:
        order = [sweeps.without_seed(p.name) for p in sweeps.sweep_points(sweep)]
    try:
        records = report(root, order)
    except ValueError as e:
        sys.exit(f'error: {e}')
    print(markdown(records, load_runs(root)), end='')


if __name__ == '__main__':
    # Flags are defined here, not at import, so the module imports beside run_sweep (tests).
    flags.DEFINE_string('root', None, 'Directory searched for results.json files.')
    flags.DEFINE_string('sweep', None, 'Optional sweep name: rows in its point order.')
    flags.DEFINE_bool('claims', False, 'Rewrite the claims table of --readme instead.')
    flags.DEFINE_string('budget', 'e40', 'Claims: the budget directory the results sit in.')
    flags.DEFINE_string('results', os.path.join('experiments', 'results'), 'Claims: results.')
    flags.DEFINE_string('readme', os.path.join('experiments', 'README.md'), 'Claims: the file.')
    app.run(main)
