"""A/B of `auto`'s CPU table inside one train step: each variant compiled, steps alternated.

    python -m experiments.bench.conv_table_ab --ladder_block=separable --rounds=10 \
        --variants='{"stem_im2col": {}, "stem_xla": {"dense": [[64, 1024, "xla"],
                     [null, null, "im2col"]]}}'
    python -m experiments.bench.conv_table_ab --network=resnet50 --image_size=32 --batch_size=128 \
        --variants='{"im2col": {"dense": [[null, null, "im2col"]]}, "auto": {}}'

A variant replaces rows of `lineage.blocks.conv_algorithms.AUTO_CPU` (kind -> `[[largest I, largest
Ho * Wo, form], ...]`; `{}` is the table as committed). Every variant's real train step
(experiments/bench/workers/lineage_worker.py's `compile_step`) is compiled in this one process,
then the variants take turns, one step each per round, so that a shared machine's load hits
them alike. Prints, per variant, the median wall and CPU seconds per step, and each later
variant's speedup over the first (per-round ratios: median and min-max).
"""

from __future__ import annotations

import json
import statistics
import time

import jax
from absl import app, flags

from experiments.bench.ladder_shape import LADDER_BATCH, LADDER_CLASSES, LADDER_MODEL
from experiments.bench.workers.lineage_worker import compile_step, step_config
from experiments.step_timer import load
from experiments.sweeping import sweeps
from lineage.blocks import conv_algorithms

FLAGS = flags.FLAGS
flags.DEFINE_string('network', 'resnet50', "lineage's model name (unless --ladder_block).")
flags.DEFINE_enum('ladder_block', None, sweeps.RUNGS, 'A ladder rung, at the ladder rows shape.')
flags.DEFINE_integer('image_size', 32, 'H = W of the input.')
flags.DEFINE_integer('batch_size', 128, 'Batch size.')
flags.DEFINE_integer('rounds', 10, 'Rounds of one step per variant.')
flags.DEFINE_string('variants', '{"auto": {}}', 'JSON: name -> {kind: [[I, Ho * Wo, form], ...]}.')


def compile_variant(rows: dict) -> list:
    """[compiled step, state, batch] with `rows` replacing AUTO_CPU's rows while it traces."""
    committed = dict(conv_algorithms.AUTO_CPU)
    conv_algorithms.AUTO_CPU.update({kind: tuple(map(tuple, r)) for kind, r in rows.items()})
    try:
        if FLAGS.ladder_block:
            model = {'block': FLAGS.ladder_block, **LADDER_MODEL}
            config = step_config('ladder', LADDER_BATCH, 0.01, 0.9, model, nesterov=True)
            size, classes = 32, LADDER_CLASSES
        else:
            config = step_config(FLAGS.network, FLAGS.batch_size, 0.01, 0.9)
            size, classes = FLAGS.image_size, 1000
        compiled, state, batch, _, _ = compile_step(config, size, classes)
    finally:
        conv_algorithms.AUTO_CPU.update(committed)
    return [compiled, state, batch]


def main(argv):
    del argv
    variants = {name: compile_variant(rows) for name, rows in json.loads(FLAGS.variants).items()}
    wall = {name: [] for name in variants}
    cpu = {name: [] for name in variants}
    before = load()
    for _ in range(FLAGS.rounds + 1):  # the first round warms up, untimed
        for name, run in variants.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            run[1], metrics = run[0](run[1], run[2])
            jax.block_until_ready(metrics)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - cpu_start)
    first = next(iter(variants))
    what = FLAGS.ladder_block and f'ladder {FLAGS.ladder_block}' or FLAGS.network
    print(f'{what}; load average {before} before, {load()} after; {FLAGS.rounds} rounds')
    for name in variants:
        cells = []
        for label, times in (('wall', wall), ('CPU', cpu)):
            own = times[name][1:]
            ratios = [a / b for a, b in zip(times[first][1:], own, strict=True)]
            cells.append(
                f'{label} {statistics.median(own):.3f} s, x{statistics.median(ratios):.2f} '
                f'[{min(ratios):.2f}-{max(ratios):.2f}]'
            )
        print(f'{name}: ' + '; '.join(cells) + f' (speedup over {first})')


if __name__ == '__main__':
    app.run(main)
