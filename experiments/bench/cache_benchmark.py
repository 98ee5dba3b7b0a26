"""The decoded-image cache, before and after: each ladder rung's time split between the input
pipeline and the train step, and its images/s, with images decoded every epoch and from the cache.

    python -m experiments.bench.cache_benchmark                    # all 8 rungs, CIFAR-10 folder
    python -m experiments.bench.cache_benchmark --rungs=plain3x3,separable --steps=20 --rounds=3

The CIFAR-10 image folder with configs/ladder_cifar10.py's model and batch (widths 16/32/64,
batch 64, the 'cifar' augmentation), as the sweeps train it. Two streams are built once: one
decoding every image each epoch (`cache=False`, before) and one from the decoded-image cache
(`cache=True`, after).

On a CPU host the pipeline's threads and the step share the cores, so waiting for a batch shows
little of the pipeline's cost: it shows up as a slower step. The split is therefore measured in
CPU time (process CPU seconds over all threads, which holds near the work done however loaded
the machine is): the pipeline alone per batch (each stream, `--pipeline_batches` batches), and
the step alone per batch (one batch already on the device). Then, per rung, the two streams
feed the step in turn, `--steps` steps each per round for `--rounds` rounds, so a change in the
machine's load hits both alike; their images/s is the batch over the wall time per step. The
load average is printed with the numbers; results: experiments/results/input_cache.md.
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # noqa: E402
from absl import app, flags  # noqa: E402

from configs import ladder_cifar10  # noqa: E402
from experiments.step_timer import load  # noqa: E402
from experiments.sweeping import sweeps  # noqa: E402
from lineage import parallel, run_builder  # noqa: E402
from lineage.data import build_dataset  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string('data_dir', '../shared/data/cifar10-jpeg', 'Image folder (split/class/*).')
flags.DEFINE_list('rungs', list(sweeps.RUNGS), 'Ladder rungs to time.')
flags.DEFINE_integer('steps', 8, 'Steps per stream per round (and for the step alone).')
flags.DEFINE_integer('rounds', 2, 'Rounds; each runs both streams in turn.')
flags.DEFINE_integer('pipeline_batches', 60, 'Batches timed for each pipeline alone.')

MODES = ('decoded each epoch', 'cache')


def cpu_and_wall(fn, repeats):
    """(CPU ms, wall ms) per call of `fn`, over `repeats` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        fn()
    return [(t1 - t0) * 1e3 / repeats for t0, t1 in ((cpu, time.process_time()),
                                                     (wall, time.perf_counter()))]  # fmt: skip


def time_rung(run: run_builder.Run, streams) -> tuple[float, dict[str, float]]:
    """(step CPU ms alone, {mode: images/s fed by that stream}) of `run`'s train step."""
    state = [run.state.init()]
    fixed = parallel.global_batch(next(streams['cache']), run.batch_sharded)

    def run_step(batch_fn):
        state[0], metrics = run.train_step(state[0], batch_fn())
        jax.block_until_ready(metrics)

    run_step(lambda: fixed)  # compile
    step_cpu, _ = cpu_and_wall(lambda: run_step(lambda: fixed), FLAGS.steps)
    walls = {mode: [] for mode in MODES}
    for _ in range(FLAGS.rounds):
        for mode in MODES:

            def feed(m=mode):
                return parallel.global_batch(next(streams[m]), run.batch_sharded)

            walls[mode].append(cpu_and_wall(lambda f=feed: run_step(f), FLAGS.steps)[1])
    batch = run.plan.process_batch
    return step_cpu, {m: batch / statistics.median(w) * 1e3 for m, w in walls.items()}


def main(argv: list[str]) -> None:
    del argv
    config = ladder_cifar10.get_config()
    config.dataset.data_dir = FLAGS.data_dir
    cores = len(os.sched_getaffinity(0))
    print(f'host: {cores} CPU cores (shared with other jobs), load average {load()}')
    datasets, streams = {}, {}
    for mode in MODES:
        config.dataset.cache = mode == 'cache'
        start = time.perf_counter()
        datasets[mode] = build_dataset(config.dataset)
        print(f'{mode}: data set built in {time.perf_counter() - start:.1f} s')
    mesh = parallel.make_mesh()
    batch = config.batch_size  # one process feeds the whole batch
    for mode in MODES:
        streams[mode] = iter(datasets[mode].train_batches(batch, 0, 0))
        for _ in range(5):  # tf.data's autotuner settles
            next(streams[mode])
    pipeline_cpu = {mode: [] for mode in MODES}
    for _ in range(2):
        for mode in MODES:
            cpu, wall = cpu_and_wall(lambda m=mode: next(streams[m]), FLAGS.pipeline_batches)
            pipeline_cpu[mode].append(cpu)
            print(f'pipeline alone, {mode}: {batch / wall * 1e3:,.0f} images/s, {cpu:.1f} CPU '
                  f'ms a batch (load {load()})')  # fmt: skip
    input_ms = {mode: statistics.median(v) for mode, v in pipeline_cpu.items()}

    rows = []
    for rung in FLAGS.rungs:
        config.model.block = rung
        run = run_builder.build_run(config, datasets['cache'].num_train, 10, mesh)
        step_cpu, rates = time_rung(run, streams)
        before, after = input_ms[MODES[0]], input_ms[MODES[1]]
        rows.append(
            f'| {rung} | {step_cpu:.0f} | {before:.0f} ({before / (before + step_cpu):.0%}) | '
            f'{after:.0f} ({after / (after + step_cpu):.0%}) | {rates[MODES[0]]:.0f} | '
            f'{rates[MODES[1]]:.0f} | {rates[MODES[1]] / rates[MODES[0]]:.2f} |'
        )
        print(rows[-1], f'(load {load()})', flush=True)
    print(f'\nbatch {batch}; CPU ms per batch; images/s: medians over {FLAGS.rounds} rounds of '
          f'{FLAGS.steps} steps')  # fmt: skip
    print('| rung | step CPU ms | input CPU ms, decoded each epoch (share) | input CPU ms, cache '
          '(share) | images/s before | images/s after | after/before |')  # fmt: skip
    print('|---|---|---|---|---|---|---|')
    print('\n'.join(rows))
    print(f'load average at the end: {load()}')


if __name__ == '__main__':
    app.run(main)
