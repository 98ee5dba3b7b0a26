"""Collects a sweep's `results.json` files into tables and plots, and the claims table.

    python -m experiments.report --root=experiments/results/ladder/e40 --sweep=ladder
    python -m experiments.report --sweep=equal_params --budget=e40   # with the ladder's points
    python -m experiments.report --claims --budget=e40      # experiments/README.md's claims

Every `results.json` under `--root` is one run; runs of the same point with different seeds
(directories `<point>-s<seed>`) form one row. `--sweep` without `--root` reads the sweep's points
at `--budget` from whichever sweep directory holds each, as the claims do, and writes into
`experiments/results/<sweep>/<budget>/`: a sweep that shares points with another (`equal_params`
and `factorization` share the ladder's) gets its whole table and picture. Written into the root:

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

`--claims` rewrites the claims' rule, margins and tables (`experiments.reporting.claims`) between
the CLAIMS_BEGIN and CLAIMS_END lines of experiments/README.md, and their short table between the
SUMMARY_BEGIN and SUMMARY_END lines of README.md, from the committed results at `--budget`. A
point is found by its name in whichever sweep directory at that budget holds it
(`experiments/results/*/<budget>/<point>-s<seed>/`): the same point name is the same run, which the
runner files under every sweep that shares it or under one of them, so the equal-parameter claims
read the ladder's `separable` where no `equal_params` directory holds it, and nothing is copied. Two
directories holding different results under one run name is an error.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from absl import app, flags

from experiments.reporting import claims, plots, sweep_table
from experiments.sweeping import sweeps

# A budget directory's name (`sweeps.budget_tag`): e<epochs>.
BUDGET_DIR = re.compile(r'e(\d+(?:\.\d+)?)')
# The pictures a report draws, by the suffix of their file names (top1_<kind>.png).
PLOTS = ('by_arm', 'vs_params', 'vs_macs', 'vs_epochs')


def plot_title(root: str) -> str:
    """The plots' title: the root's name, with a budget directory read out
    (`experiments/results/ladder/e40` -> 'ladder, 40 epochs')."""
    path = os.path.normpath(root)
    name, parent = os.path.basename(path), os.path.basename(os.path.dirname(path))
    match = BUDGET_DIR.fullmatch(name)
    if match and parent:
        return f'{parent}, {match.group(1)} epochs'
    return name


def plot_all(
    runs: Sequence[dict[str, Any]],
    rows: Sequence[sweep_table.Row],
    root: str,
    front: set[str] | None,
) -> None:
    """The plots of `root` (experiments.reporting.plots): arms for a sweep of plots.MAX_ARMS points
    or fewer, else top-1 against parameters (with `front`, None across budgets) and against MACs;
    the learning curve when the runs span budgets."""
    name = plot_title(root)
    seed, lines = sweep_table.curve(runs)
    budgets = sorted({epochs for points in lines.values() for epochs, _ in points})
    path = {kind: os.path.join(root, f'top1_{kind}.png') for kind in PLOTS}
    drawn = ['by_arm'] if len(rows) <= plots.MAX_ARMS else ['vs_params', 'vs_macs']
    drawn += ['vs_epochs'] if len(budgets) > 1 else []
    for kind in set(PLOTS) - set(drawn):  # a picture of fewer or other runs would be stale
        if os.path.exists(path[kind]):
            os.remove(path[kind])
    if 'by_arm' in drawn:
        plots.arms(rows, path['by_arm'], name)
    else:
        plots.scatter(rows, 'params', path['vs_params'], name, front or set())
        plots.scatter(rows, 'macs', path['vs_macs'], name)
    if 'vs_epochs' in drawn:
        plots.curve(lines, budgets, seed, path['vs_epochs'], name)


def report(
    root: str,
    order: Sequence[str] | None = None,
    runs: Sequence[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Writes runs.csv, results.csv, results.md and the plots into `root`.

    Args:
      root: directory searched for results.json files, and written into.
      order: point names in the order the rows should take (others follow, as found).
      runs: the runs to report instead of those under `root` (`sweep_runs`).

    Returns:
      The table's records.

    Raises:
      ValueError: no results.json under `root`.
    """
    runs = sweep_table.load_runs(root) if runs is None else runs
    if not runs:
        raise ValueError(f'no results.json under {root}; run the sweep first')
    rows = sweep_table.summarize(runs)
    if order:
        rank = {name: i for i, name in enumerate(order)}
        rows.sort(key=lambda r: rank.get(r.point, len(rank)))
    one_budget = len({r.get('epochs') for r in runs}) == 1
    front = sweep_table.pareto_front(rows) if one_budget else None  # never a front across budgets
    records = sweep_table.table(rows, front)
    sweep_table.write_csv(os.path.join(root, 'results.csv'), records, sweep_table.COLUMNS)
    sweep_table.write_csv(os.path.join(root, 'runs.csv'), runs, sweep_table.RUN_COLUMNS)
    with open(os.path.join(root, 'results.md'), 'w') as f:
        f.write(sweep_table.markdown(records, runs))
    plot_all(runs, rows, root, front)
    return records


def sweep_runs(results_dir: str, sweep: str, budget: str) -> list[dict[str, Any]]:
    """The runs of `sweep`'s points committed at `budget`, each from whichever sweep directory
    under `results_dir` holds it (`sweep_table.budget_runs`).

    Raises:
      ValueError: an unknown sweep, or none of its points committed at `budget`.
    """
    names = {sweeps.without_seed(p.name) for p in sweeps.sweep_points(sweep)}
    runs = [r for r in sweep_table.budget_runs(results_dir, budget) if r['point'] in names]
    if not runs:
        held = [
            b
            for b in all_budgets(results_dir)
            if any(r['point'] in names for r in sweep_table.budget_runs(results_dir, b))
        ]
        raise ValueError(
            f'no point of sweep {sweep!r} committed at budget {budget!r} in '
            f'{results_dir}/*/{budget}/; pass --budget= one of: '
            f'{", ".join(held) or "none (run and --collect the sweep first)"}'
        )
    return runs


CLAIMS_BEGIN = '<!-- claims table: generated by python -m experiments.report --claims -->'
CLAIMS_END = '<!-- end of claims table -->'
SUMMARY_BEGIN = '<!-- claims summary: generated by python -m experiments.report --claims -->'
SUMMARY_END = '<!-- end of claims summary -->'


def claim_rows(results_dir: str, budget: str) -> dict[str, sweep_table.Row]:
    """Every point committed at `budget` (`sweep_table.budget_rows`), for the claims.

    Raises:
      ValueError: no such directory, or no results at `budget`.
    """
    rows = sweep_table.budget_rows(results_dir, budget)
    if not rows:  # a mistyped budget would otherwise write a table of points "not yet run"
        held = ', '.join(all_budgets(results_dir)) or 'none (run a sweep first)'
        raise ValueError(
            f'no results at budget {budget!r} in {results_dir}/*/{budget}/; '
            f'pass --budget= one of: {held}'
        )
    return rows


def budgets_in(results_dir: str, sweep: str) -> list[str]:
    """The budget directories (`e<epochs>`) of one sweep's results."""
    root = os.path.join(results_dir, sweep)
    if not os.path.isdir(root):
        return []
    return [b for b in os.listdir(root) if BUDGET_DIR.fullmatch(b)]


def all_budgets(results_dir: str) -> list[str]:
    """The budget directories of every sweep's results under `results_dir`, sorted."""
    if not os.path.isdir(results_dir):
        return []
    return sorted({b for s in os.listdir(results_dir) for b in budgets_in(results_dir, s)})


def _marked(path: str, begin: str, end: str, flag: str) -> str:
    """The text of `path`, which must hold the lines `begin` and `end`."""
    if not os.path.isfile(path):
        raise ValueError(f'no file {path}; pass {flag}=<a file with the claims markers>')
    with open(path) as f:
        text = f.read()
    if begin not in text or end not in text:
        raise ValueError(f'{path} lacks the lines {begin!r} and {end!r}')
    return text


def write_claims(readme: str, results_dir: str, budget: str, summary: str | None = None) -> str:
    """Replaces the lines between CLAIMS_BEGIN and CLAIMS_END of `readme` with the claims table
    and, given a `summary` file (the top README), those between SUMMARY_BEGIN and SUMMARY_END
    with its short form (`claims.summary_markdown`). Nothing is written unless every file has
    its markers and the results are there.

    Returns:
      The claims table.

    Raises:
      ValueError: a file is missing or lacks its marker lines; no results (`claim_rows`).
    """
    targets = [(readme, CLAIMS_BEGIN, CLAIMS_END, '--readme', claims.markdown)]
    if summary:
        targets.append((summary, SUMMARY_BEGIN, SUMMARY_END, '--summary', claims.summary_markdown))
    texts = [_marked(path, begin, end, flag) for path, begin, end, flag, _ in targets]
    rows = claim_rows(results_dir, budget)
    tables = [render(rows, budget) for *_, render in targets]
    for (path, begin, end, _, _), text, table in zip(targets, texts, tables, strict=True):
        head, rest = text.split(begin, 1)
        with open(path, 'w') as f:
            f.write(f'{head}{begin}\n{table}\n{end}{rest.split(end, 1)[1]}')
    return tables[0]


def main(argv: list[str]) -> None:
    del argv
    root, sweep = flags.FLAGS.root, flags.FLAGS.sweep
    for name in ('root', 'budget', 'results'):  # `--root=$UNSET` would read another directory
        value = getattr(flags.FLAGS, name)
        if value is not None and not value.strip():
            sys.exit(f'error: --{name} is empty; give a directory, or leave the flag out')
    if flags.FLAGS.claims:
        if root or sweep:  # the claims read every sweep's committed results under --results
            sys.exit(
                f'error: --claims reads the committed results under --results '
                f'({flags.FLAGS.results}), not --root or --sweep; leave those out'
            )
        try:
            table = write_claims(
                flags.FLAGS.readme, flags.FLAGS.results, flags.FLAGS.budget, flags.FLAGS.summary
            )
            print(table)
        except ValueError as e:
            sys.exit(f'error: {e}')
        return
    if not root and not sweep:
        sys.exit(
            'error: pass --root=<directory of results.json files>, --sweep=<name>, or --claims'
        )
    try:
        order = [sweeps.without_seed(p.name) for p in sweeps.sweep_points(sweep)] if sweep else None
        if root:
            runs = sweep_table.load_runs(root)
        else:
            results, budget = flags.FLAGS.results, flags.FLAGS.budget
            runs = sweep_runs(results, sweep, budget)
            root = os.path.join(results, sweep, budget)
            os.makedirs(root, exist_ok=True)
        records = report(root, order, runs)
    except ValueError as e:
        sys.exit(f'error: {e}')
    print(sweep_table.markdown(records, runs), end='')


if __name__ == '__main__':
    # Flags are defined here, not at import, so the module imports beside run_sweep (tests).
    flags.DEFINE_string('root', None, 'Directory searched for results.json files.')
    flags.DEFINE_string(
        'sweep', None, 'Rows in its point order; without --root, its points at --budget.'
    )
    flags.DEFINE_bool('claims', False, 'Rewrite the claims table of --readme instead.')
    flags.DEFINE_string('budget', 'e40', 'Claims, --sweep: the budget directory of the results.')
    flags.DEFINE_string('results', os.path.join('experiments', 'results'), 'Committed results.')
    flags.DEFINE_string('readme', os.path.join('experiments', 'README.md'), 'Claims: the file.')
    flags.DEFINE_string(
        'summary', 'README.md', 'Claims: the file for the short table; empty: none.'
    )
    app.run(main)
