"""A sweep point's train step, timed on the machine at hand: images/s for `--plan`'s estimate.

    python -m experiments.sweeping.timed_rates --sweep=spectrum --epochs=40 --steps=20

`run_sweep --plan --time_steps=20` (and `--hours` with it) times the step of each point that no
run has measured at the sweep's budget, instead of taking a rate from runs at other budgets or of
other code and machines. The step is lineage's own, built from the point's config by training's
builder (`lineage.run_builder`: model, optimizer with its schedule, `conv_impl`, one mesh over
the config's devices), and run on one synthetic batch of the data set's image shape, so the
input pipeline and the evaluations are not in it: runs achieve a share of this rate
(`estimate.ACHIEVED_SHARE`). Timing is only worth its seconds on an otherwise quiet machine:
beside a running sweep both slow down.

Run as a module, it times each distinct point of a sweep and sets the rate beside those its
committed runs (experiments/results/<sweep>/<budget>/) trained at on this same host (CPU and
cores): their share of the step's rate is where `estimate.ACHIEVED_SHARE` comes from.
"""

from __future__ import annotations

import glob
import json
import multiprocessing
import os
import statistics
from collections.abc import Callable, Collection, Sequence
from concurrent import futures
from typing import Any

import jax
from absl import app, flags, logging

from experiments import step_timer
from experiments.reporting import markdown
from experiments.step_timer import load
from experiments.sweeping import estimate, sweeps
from lineage import run_builder
from lineage.metrics import host_info

# (side, channels) of the images of the sweeps' data sets when `dataset.image_size` is 0.
NATIVE_IMAGES = {'image_folder': (32, 3), 'cifar10': (32, 3), 'digits': (32, 1)}
NUM_CLASSES = 10  # CIFAR-10 and the digits


def image_shape(dataset: Any) -> tuple[int, int, int]:
    """(H, W, C) of the batches `config.dataset` yields."""
    side, channels = NATIVE_IMAGES[dataset.name]
    side = dataset.get('image_size') or side
    return side, side, 3 if dataset.get('grayscale_to_rgb') else channels


def step_images_per_sec(
    config: Any, steps: int, warmup: int = 2, ready: Callable[[], Any] | None = None
) -> float:
    """Global batch / the median wall seconds of `steps` train steps of `config`, after `warmup`
    untimed ones (and the first, which compiles); `ready` as for `step_timer.time_steps`."""
    run = run_builder.build_run(config, estimate.TRAIN_EXAMPLES[config.dataset.name], NUM_CLASSES)
    state = run.state.init()
    batch = run_builder.synthetic_batch(run, image_shape(config.dataset))

    def one_step():
        nonlocal state
        state, metrics = run.train_step(state, batch)
        return jax.block_until_ready(metrics)

    seconds, _ = step_timer.time_steps(one_step, 1 + warmup, steps, ready)
    return run.plan.global_batch / statistics.median(seconds)


def time_points(points: Sequence[sweeps.Point], steps: int) -> dict[str, float]:
    """A point's name without its seed -> its step's images/s, for each of `points`."""
    rates = {}
    for i, point in enumerate(points):
        rate = step_images_per_sec(estimate.point_config(point), steps)
        rates[sweeps.without_seed(point.name)] = rate
        logging.info(
            '[%d/%d] %s: train step at %.0f images/s (%d steps timed)',
            i + 1, len(points), point.name, rate, steps,
        )  # fmt: skip
    return rates


def time_points_apart(
    points: Sequence[sweeps.Point], steps: int, cores: Collection[int] | None = None
) -> dict[str, float]:
    """`time_points` in a child process, as the sweep runner needs it: the jax that times the
    steps holds the accelerator (a TPU's lock, most of a GPU's memory) until its process exits,
    and the points the runner starts next train on that accelerator. The child runs on `cores`
    (None: this process's), a point's share under `run_sweep --jobs`. A child that dies raises
    `concurrent.futures.process.BrokenProcessPool`."""
    spawn = multiprocessing.get_context('spawn')
    pin = {'initializer': os.sched_setaffinity, 'initargs': (0, cores)} if cores else {}
    with futures.ProcessPoolExecutor(1, mp_context=spawn, **pin) as child:
        return child.submit(_time_points_logged, list(points), steps).result()


def _time_points_logged(points: list[sweeps.Point], steps: int) -> dict[str, float]:
    flags.FLAGS.mark_as_parsed()  # a spawned child: the flags are the runner's, not its own
    logging.use_absl_handler()
    logging.set_verbosity(logging.INFO)
    return time_points(points, steps)


def trained_here(
    results_dir: str, sweep: str, tag: str, point: str, host: dict[str, Any]
) -> list[float]:
    """Train images/s of the committed runs (any seed) of `point` that ran on `host` (its CPU and
    cores, as `estimate.remaining` judges a rate settled); a run that `--collect` filed under two of
    the sweep's members (a shared point) counts once."""
    rates = {}
    for member in sweeps.members(sweep):
        pattern = os.path.join(results_dir, member, tag, f'{point}-s*', 'results.json')
        for path in glob.glob(pattern):
            with open(path) as f:
                run = json.load(f)
            here = run.get('host') == host and estimate.one_machine(run)
            if here and run.get('train_images_per_sec'):
                rates[os.path.basename(os.path.dirname(path))] = run['train_images_per_sec']
    return list(rates.values())


def main(argv: list[str]) -> None:
    del argv
    name, epochs = flags.FLAGS.sweep, flags.FLAGS.epochs
    try:
        points = sweeps.with_budget(name, sweeps.sweep_points(name, [0]), epochs)
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    tag, host, before = sweeps.budget_tag(epochs), host_info(), load()
    rates = time_points(points, flags.FLAGS.steps)
    lines = [
        f'## {name} at {tag or "its own budget"}: train step timed here, against runs on this CPU',
        '',
        f'{host["cpu"]}, {host["cores"]} CPU cores; jax {jax.__version__}; median of '
        f'{flags.FLAGS.steps} steps; load average {before} before, {load()} after.',
        '',
        *markdown.header(
            ['point', 'step images/s', 'runs here', 'trained images/s', 'share'], [1, 2, 3, 4]
        ),
    ]
    shares = []
    for point in map(sweeps.without_seed, (p.name for p in points)):
        trained = trained_here(os.path.join('experiments', 'results'), name, tag, point, host)
        cells = [point, f'{rates[point]:,.0f}', len(trained), '', '']
        if trained:
            median = statistics.median(trained)
            shares.append(median / rates[point])
            cells[3:] = [f'{median:,.0f}', f'{shares[-1]:.2f}']
        lines.append(markdown.row(cells))
    if shares:
        lines += ['', f'Median share: {statistics.median(shares):.2f} ({len(shares)} points).']
    print('\n'.join(lines))


if __name__ == '__main__':
    flags.DEFINE_string('sweep', None, 'A sweep of experiments/sweeping/sweeps.py.')
    flags.DEFINE_float('epochs', None, 'Budget of every point, in epochs.')
    flags.DEFINE_integer('steps', 20, 'Timed steps per point.')
    flags.mark_flag_as_required('sweep')
    app.run(main)
