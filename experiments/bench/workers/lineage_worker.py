"""Lineage's train step, timed: the real jitted step of lineage/train_step.py on one network.

    python -m experiments.bench.workers.lineage_worker --network=resnet50 --image_size=32 \
        --batch_size=128 --options='{"conv_impl": "auto"}'

Builds the model and SGD-momentum optimizer exactly as training does (`create_train_state`,
`make_train_step`: NNX functional form, donated state, float32), on a one-device mesh. The step
is compiled ahead of time so that its time to first step splits into trace + lower, XLA
compile, and the first execution. Options (JSON): `conv_impl` ('auto' or a form of
lineage/blocks/conv_forms.py), `cache_dir` (a persistent compilation cache; off by default, so
compile times are those of a fresh process), `compiler_options` (XLA options for this compile,
e.g. `{"xla_backend_optimization_level": 1}`), `model` (the model's keyword options, e.g. the
ladder's `{"block": "separable", "widths": [16, 32, 64], "depths": [1, 1, 1]}`), `nesterov`
(Nesterov momentum, as the ladder trains).
"""

from __future__ import annotations

import json
import time

import jax
import optax
from ml_collections import ConfigDict

from experiments.bench.workers import protocol
from experiments.step_timer import synthetic_batch, time_steps


def compile_step(
    network: str,
    image_size: int,
    batch_size: int,
    num_classes: int,
    learning_rate: float,
    momentum: float,
    compiler_options=None,
    model_options=None,
    nesterov: bool = False,
):
    """The jitted train step of `network`, compiled ahead of time, with its state and a batch.

    `model_options` are the model's keyword options (the ladder's `block`, `widths`, `depths`);
    `nesterov` makes the SGD momentum Nesterov's, as the ladder's configs train.

    Returns:
      (compiled step, state, batch, the model's parameter count, timings): timings holds wall
      and CPU seconds of init, trace + lower, and XLA compile.
    """
    from lineage import counting, parallel, train_step

    mesh = parallel.make_mesh(1)
    replicated = parallel.replicated(mesh)
    config = ConfigDict({'seed': 0, 'model': {'name': network, **(model_options or {})}})
    tx = optax.sgd(learning_rate, momentum=momentum, nesterov=nesterov)

    start, cpu = time.perf_counter(), time.process_time()
    state_def = train_step.create_train_state(config, num_classes, None, tx, replicated)
    state = jax.block_until_ready(state_def.init())
    init_s, init_cpu_s = time.perf_counter() - start, time.process_time() - cpu

    batch = synthetic_batch(mesh, batch_size, (image_size, image_size, 3), num_classes)
    step = train_step.make_train_step(state_def.graphdef, replicated)

    start, cpu = time.perf_counter(), time.process_time()
    lowered = step.trace(state, batch).lower()
    lower_s, lower_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    compiled = lowered.compile(compiler_options=compiler_options)
    compile_s, compile_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    timings = {
        'init_s': init_s,
        'init_cpu_s': init_cpu_s,
        'lower_s': lower_s,
        'lower_cpu_s': lower_cpu_s,
        'compile_s': compile_s,
        'compile_cpu_s': compile_cpu_s,
    }
    return compiled, state, batch, counting.param_count(state_def.model), timings


def main() -> None:
    args = protocol.parse_args(__doc__.splitlines()[0])
    options = json.loads(args.options)
    if options.get('cache_dir'):
        jax.config.update('jax_compilation_cache_dir', options['cache_dir'])
        jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
        jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
    # Imported after the cache settings, which must precede the first compilation.
    from lineage.blocks import conv_forms

    conv_forms.set_conv_impl(options.get('conv_impl', 'auto'))
    compiled, state, batch, params, timings = compile_step(
        args.network,
        args.image_size,
        args.batch_size,
        args.num_classes,
        args.learning_rate,
        args.momentum,
        options.get('compiler_options'),
        options.get('model'),
        options.get('nesterov', False),
    )
    start, cpu = time.perf_counter(), time.process_time()
    state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    # Time to the first step: trace + lower, XLA compile, and the first execution.
    first_step_s = timings['lower_s'] + timings['compile_s'] + time.perf_counter() - start
    first_step_cpu_s = timings['lower_cpu_s'] + timings['compile_cpu_s'] + time.process_time() - cpu

    def one_step():
        nonlocal state
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)

    step_s, cpu_s = time_steps(one_step, args.warmup, args.steps)
    protocol.emit(
        args,
        'lineage',
        step_s,
        cpu_s,
        params=params,
        **{key: round(value, 2) for key, value in timings.items()},
        first_step_s=round(first_step_s, 2),
        first_step_cpu_s=round(first_step_cpu_s, 2),
        conv_impl=conv_forms.get_conv_impl(),
        compiler_options=options.get('compiler_options'),
        version=f'jax {jax.__version__}',
    )


if __name__ == '__main__':
    main()
