"""Where a train step's time goes: every XLA op of one network's step, timed by jax.profiler.

    python -m experiments.bench.profile_step --network=xception --image_size=128 --batch_size=32
    python -m experiments.bench.profile_step --ladder_block=separable   # a ladder rung, sweep shape
    python -m experiments.bench.profile_step --ladder_block=separable \
        --block_options='{"mid_act": "elu"}'
    python -m experiments.bench.profile_step --network=inception_v3 --image_size=128 \
        --batch_size=32 --auto_cpu=dense=xla --max_pool_cpu=reduce_window

Compiles the real train step (experiments/bench/workers/lineage_worker.py's `compile_step`),
times `--steps` steps (median wall seconds and process CPU seconds), then records `--traced`
more under `jax.profiler` and reads its Perfetto trace: each XLA op (a fusion, a dot, a
library call) is one event on the thread that ran it. Prints the step time, the ops' summed
time per step (above the wall time where two ops ran at once), that time per op category
(the fusion name without its number), and the `--top` ops with their output shape and the JAX
operation they came from (the HLO's `op_name`). A layer timed alone can rank forms
differently than the step it runs in (experiments/results/conv_forms.md, `AUTO_CPU`); this
shows what a form costs where it runs.

`--ladder_block` profiles that rung of the ladder at the train benchmark's ladder shape
(experiments/train_benchmark.py: widths 16/32/64, depths 1/1/1, 32x32, batch 64, 10 classes,
Nesterov momentum) instead of `--network`; `--block_options` (JSON) are that rung's block
options, as a sweep point sets them (`model.block_options`, e.g. separable_act's `mid_act`).

`--auto_cpu=kind=form,...` replaces entries of `lineage.blocks.conv_algorithms.AUTO_CPU` and
`--max_pool_cpu` the CPU form of `lineage.blocks.pooling.max_pool`, passed in as the forms the
step is traced with (`conv_impl`, `max_pool_form`): the A/B of a choice `auto` makes, inside
the step it is made for.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import re
import statistics
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # noqa: E402
from absl import app, flags  # noqa: E402

from experiments import step_timer  # noqa: E402
from experiments.bench.ladder_shape import LADDER_BATCH, LADDER_CLASSES, LADDER_MODEL  # noqa: E402
from experiments.bench.workers.lineage_worker import compile_step, step_config  # noqa: E402
from experiments.reporting import markdown  # noqa: E402
from experiments.step_timer import load  # noqa: E402
from experiments.sweeping import sweeps  # noqa: E402
from lineage import counting  # noqa: E402
from lineage.blocks import conv_algorithms, pooling  # noqa: E402
from lineage.metrics import host_info  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string('network', 'xception', "lineage's model name.")
flags.DEFINE_integer('image_size', 128, 'H = W of the input.')
flags.DEFINE_integer('batch_size', 32, 'Batch size.')
flags.DEFINE_integer('warmup', 2, 'Untimed steps after the first.')
flags.DEFINE_integer('steps', 5, 'Timed steps.')
flags.DEFINE_integer('traced', 2, 'Steps recorded by the profiler (after the timed ones).')
flags.DEFINE_integer('top', 25, 'Ops listed one by one.')
flags.DEFINE_enum('ladder_block', None, sweeps.RUNGS, 'A ladder rung, at the ladder rows shape.')
flags.DEFINE_string('block_options', '{}', "JSON options of --ladder_block's block.")
flags.DEFINE_list(
    'auto_cpu', [], 'kind=form overrides of conv_algorithms.AUTO_CPU, e.g. dense=xla.'
)
flags.DEFINE_enum('max_pool_cpu', None, pooling.MAX_POOL_FORMS, 'max_pool form on CPU.')


def hlo_ops(hlo_text: str) -> dict[str, tuple[str, str]]:
    """Instruction name -> (output shape, the JAX op_name it came from) of a compiled HLO."""
    ops = {}
    pattern = r'^\s*(?:ROOT )?%?([\w.\-]+) = (\S+) [\w-]+\((.*)$'
    for name, shape, rest in re.findall(pattern, hlo_text, re.M):
        op_name = re.search(r'op_name="([^"]+)"', rest)
        ops[name] = (shape.split('{')[0], op_name.group(1) if op_name else '')
    return ops


def op_seconds(trace_dir: str, steps: int, instructions) -> dict[str, float]:
    """Seconds per step of each op in `instructions`, summed over its events in the trace.

    Events named otherwise (the runtime's own: argument handling, thread-pool waits, the
    executor around the ops) are left out.
    """
    (path,) = glob.glob(f'{trace_dir}/plugins/profile/*/perfetto_trace.json.gz')
    with gzip.open(path) as f:
        events = json.load(f)
    events = events['traceEvents'] if isinstance(events, dict) else events
    seconds = collections.defaultdict(float)
    for event in events:
        if event.get('ph') == 'X' and event['name'] in instructions:
            seconds[event['name']] += event.get('dur', 0) / 1e6 / steps
    return seconds


def report(step_s, cpu_s, seconds, ops, top) -> list[str]:
    """The markdown lines: step time, time per op category, the `top` ops."""
    total = sum(seconds.values())
    categories = collections.defaultdict(float)
    for name, s in seconds.items():
        categories[re.sub(r'\.\d+$', '', name)] += s
    lines = [
        f'Step: {statistics.median(step_s):.3f} s wall (median of {len(step_s)}, '
        f'{min(step_s):.3f}-{max(step_s):.3f}), {cpu_s / len(step_s):.3f} CPU s per step; '
        f'ops {total:.3f} s per step in all.',
        '',
        *markdown.header(['op category', 's per step', 'share of ops']),
    ]
    for name, s in sorted(categories.items(), key=lambda kv: -kv[1])[:12]:
        lines.append(markdown.row([name, f'{s:.3f}', f'{s / total:.0%}']))
    if top:
        lines += ['', *markdown.header(['op', 's per step', 'output', 'from (op_name)'])]
    for name, s in sorted(seconds.items(), key=lambda kv: -kv[1])[:top]:
        shape, op_name = ops.get(name, ('', ''))
        lines.append(markdown.row([name, f'{s:.4f}', shape, op_name.removeprefix('jit(step)/')]))
    return lines


def main(argv):
    del argv
    overrides = {}
    for override in FLAGS.auto_cpu:
        kind, _, form = override.partition('=')
        if kind not in conv_algorithms.KINDS or form not in conv_algorithms.FORMS:
            raise app.UsageError(
                f'--auto_cpu={override}: use kind=form with a kind of '
                f'{", ".join(conv_algorithms.KINDS)} and a form of '
                f'{", ".join(conv_algorithms.FORMS)}'
            )
        overrides[kind] = form
    try:
        block_options = json.loads(FLAGS.block_options)
    except json.JSONDecodeError as e:
        raise app.UsageError(f'--block_options={FLAGS.block_options}: not JSON ({e})') from None
    if not isinstance(block_options, dict):
        raise app.UsageError(
            f'--block_options={FLAGS.block_options}: give a JSON object, e.g. {{"mid_act": "elu"}}'
        )
    if block_options and not FLAGS.ladder_block:
        raise app.UsageError('--block_options are options of --ladder_block; name the rung too')
    before = load()
    if FLAGS.ladder_block:
        FLAGS.network, FLAGS.image_size, FLAGS.batch_size = 'ladder', 32, LADDER_BATCH
        model = {'block': FLAGS.ladder_block, **LADDER_MODEL, 'block_options': block_options}
        config = step_config('ladder', LADDER_BATCH, 0.01, 0.9, model, True, overrides or 'auto')
        classes = LADDER_CLASSES
    else:
        config = step_config(
            FLAGS.network, FLAGS.batch_size, 0.01, 0.9, None, False, overrides or 'auto'
        )
        classes = 1000
    # The max_pool form is read while the step is traced, inside compile_step.
    with pooling.max_pool_form(FLAGS.max_pool_cpu):
        compiled, state, batch, run, _ = compile_step(config, FLAGS.image_size, classes)
    params = counting.param_count(run.state.model)

    def one_step():
        nonlocal state
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)

    step_s, cpu_s = step_timer.time_steps(one_step, 1 + FLAGS.warmup, FLAGS.steps)
    with tempfile.TemporaryDirectory() as trace_dir:
        jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
        for _ in range(FLAGS.traced):
            one_step()
        jax.profiler.stop_trace()
        ops = hlo_ops(compiled.as_text())
        seconds = op_seconds(trace_dir, FLAGS.traced, ops)
    auto_cpu = {**conv_algorithms.AUTO_CPU, **overrides}  # what auto took on CPU in this run
    host = host_info()
    title = (FLAGS.network, FLAGS.ladder_block, block_options and json.dumps(block_options))
    print(
        f'## {" ".join(filter(None, title))}, {FLAGS.image_size}x{FLAGS.image_size}, '
        f'batch {FLAGS.batch_size}\n\n'
        f'{params:,} parameters; AUTO_CPU {auto_cpu}, max_pool on CPU: '
        f'{FLAGS.max_pool_cpu or pooling.AUTO_CPU_FORM}; jax {jax.__version__}, '
        f'{host["cpu"]}, {host["cores"]} CPU cores; load average {before} before, {load()} after.\n'
    )
    print('\n'.join(report(step_s, cpu_s, seconds, ops, FLAGS.top)))


if __name__ == '__main__':
    app.run(main)
