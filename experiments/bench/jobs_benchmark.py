"""Summed train images/s of one sweep point on all the cores against N points on a share each.

    python -m experiments.bench.jobs_benchmark --output=experiments/results/jobs.md

What `run_sweep --jobs` trades: one point whose step uses every core, or N points at once, each
pinned to cores/N of them (`experiments.sweeping.child_processes.cpu_shares`, as the runner pins
them). Each process times the ladder rung's own train step (`experiments.sweeping.timed_rates`: the
point's config at the CIFAR-10 shape, one synthetic batch, so no input pipeline or evaluation),
compiles and warms up, waits at a barrier for the others, then times `--steps` steps; a row sums the
processes' images/s (global batch over the median step). Rows alternate jobs counts within each
round, so that load from elsewhere slows both alike; the table holds the median of `--rounds`. Only
a quiet machine gives numbers worth committing: the load average is printed beside them.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
from collections.abc import Sequence

import jax
from absl import app, flags

from experiments.reporting import markdown
from experiments.step_timer import load
from experiments.sweeping import child_processes, estimate, sweeps, timed_rates
from lineage.metrics import host_info

RUNGS = ('plain3x3', 'separable', 'inverted_residual')  # fast, middling, slow on CPU


def _time_one(rung: str, steps: int, warmup: int, cores, barrier, results) -> None:
    """A child: pins itself to `cores` before jax starts its thread pools, then times."""
    if cores is not None:
        os.sched_setaffinity(0, cores)
    flags.FLAGS.mark_as_parsed()  # a spawned child: the flags are the parent's, not its own
    (point,) = [p for p in sweeps.sweep_points('ladder', [0]) if p.name == f'{rung}-s0']
    config = estimate.point_config(point)
    results.put(timed_rates.step_images_per_sec(config, steps, warmup, ready=barrier.wait))


def summed_images_per_sec(rung: str, jobs: int, steps: int, warmup: int) -> float:
    """Images/s of `jobs` processes timing `rung` side by side, each on its share, summed."""
    spawn = multiprocessing.get_context('spawn')
    barrier, results = spawn.Barrier(jobs), spawn.Queue()
    children = [
        spawn.Process(target=_time_one, args=(rung, steps, warmup, cores, barrier, results))
        for cores in child_processes.cpu_shares(jobs)
    ]
    for child in children:
        child.start()
    rates = [results.get() for _ in children]
    for child in children:
        child.join()
    return sum(rates)


def report(rates: dict[str, dict[int, list[float]]], jobs: Sequence[int], before: str) -> str:
    """The markdown table: per rung, the median summed images/s per jobs count and the gain."""
    host = host_info()
    columns = ['rung', *(f'--jobs={n} img/s' for n in jobs), f'gain {jobs[-1]} / {jobs[0]}']
    lines = [
        f'{host["cpu"]}, {host["cores"]} CPU cores; jax {jax.__version__}; '
        f'{flags.FLAGS.steps} timed steps after {flags.FLAGS.warmup} warm-up ones per process, '
        f'median of {flags.FLAGS.rounds} rounds; load average {before} before, {load()} after.',
        '',
        f'    python -m experiments.bench.jobs_benchmark {" ".join(sys.argv[1:])}',
        '',
        *markdown.header(columns, list(range(1, len(columns)))),
    ]
    for rung, by_jobs in rates.items():
        medians = [statistics.median(by_jobs[n]) for n in jobs]
        cells = [rung, *(f'{m:,.0f}' for m in medians), f'{medians[-1] / medians[0]:.2f}x']
        lines.append(markdown.row(cells))
    return '\n'.join(lines) + '\n'


def main(argv: Sequence[str]) -> None:
    del argv
    jobs = [int(n) for n in flags.FLAGS.jobs]
    for n in jobs:
        try:
            child_processes.cpu_shares(n)
        except ValueError as e:
            sys.exit(f'error: {e}')
    before = load()
    rates: dict[str, dict[int, list[float]]] = {}
    for _ in range(flags.FLAGS.rounds):
        for rung in flags.FLAGS.rungs:
            for n in jobs:
                rate = summed_images_per_sec(rung, n, flags.FLAGS.steps, flags.FLAGS.warmup)
                rates.setdefault(rung, {}).setdefault(n, []).append(rate)
                print(f'{rung} --jobs={n}: {rate:,.0f} images/s', flush=True)
    text = report(rates, jobs, before)
    print(text)
    if flags.FLAGS.output:
        with open(flags.FLAGS.output, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    flags.DEFINE_list(
        'rungs', list(RUNGS), 'ladder rungs (experiments.sweeping.sweeps.RUNGS) to time'
    )
    flags.DEFINE_list('jobs', ['1', '2'], 'jobs counts to compare, the first the baseline')
    flags.DEFINE_integer('steps', 40, 'timed train steps per process')
    flags.DEFINE_integer('warmup', 5, 'untimed steps after the first (which compiles)')
    flags.DEFINE_integer('rounds', 2, 'times each row runs; the table holds the median')
    flags.DEFINE_string('output', '', 'also write the markdown report here')
    app.run(main)
