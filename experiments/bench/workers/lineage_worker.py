"""Lineage's train step, timed: the real jitted step of lineage/train_step.py on one network.

    python -m experiments.bench.workers.lineage_worker --network=resnet50 --image_size=32 \
        --batch_size=128 --options='{"conv_impl": "auto"}'

Builds the step as training does (`lineage.run_builder.build_run`: NNX functional form,
donated state, float32) from a config (`step_config`) that sets the peers' optimizer, SGD with
momentum at a constant rate, on a one-device mesh. The step is compiled ahead of time so that
its time to first step splits into trace + lower, XLA compile, and the first execution. Options
(JSON): `conv_impl` ('auto', a form of lineage/blocks/conv_algorithms.py, or a form per layer
kind), `cache_dir` (a persistent compilation cache; off by default, so compile times are those
of a fresh process), `compiler_options` (XLA options for this compile, e.g.
`{"xla_backend_optimization_level": 1}`), `model` (the model's keyword options, e.g. the
ladder's `{"block": "separable", "widths": [16, 32, 64], "depths": [1, 1, 1]}`), `nesterov`
(Nesterov momentum, as the ladder trains).
"""

from __future__ import annotations

import json
import time
from typing import Any

import jax

from experiments.bench.workers import protocol
from experiments.step_timer import time_steps


def step_config(
    network: str,
    batch_size: int,
    learning_rate: float,
    momentum: float,
    model_options: dict[str, Any] | None = None,
    nesterov: bool = False,
    conv_impl: Any = 'auto',
) -> Any:
    """The config the worker's step is built from: `network` with `model_options`, float32,
    one device, and the peers' optimizer: SGD with (Nesterov) momentum at a constant rate, no
    weight decay, clipping or label smoothing (torch.optim.SGD and keras.optimizers.SGD as
    bench/workers/torch_worker.py and keras_worker.py run them)."""
    from ml_collections import ConfigDict

    from configs import default

    config = default.get_config()
    config.model = ConfigDict({'name': network, **(model_options or {})})
    config.batch_size = batch_size
    config.num_devices = 1
    config.dtype = 'float32'
    del config['conv_impl']  # a form per layer kind is a dict, not the field's string
    config.conv_impl = conv_impl
    config.label_smoothing = 0.0
    config.optimizer.update(
        name='sgd', learning_rate=learning_rate, lr_reference_batch=0, momentum=momentum,
        nesterov=nesterov, weight_decay=0.0, grad_clip_norm=0.0,
    )  # fmt: skip
    config.schedule.update(name='constant', warmup_epochs=0.0)
    return config


def compile_step(config: Any, image_size: int, num_classes: int, compiler_options=None):
    """The run's jitted train step (`lineage.run_builder`), compiled ahead of time under the
    config's conv form, with its state and a synthetic batch.

    Returns:
      (compiled step, state, batch, the run, timings): timings holds wall and CPU seconds of
      build + init, trace + lower, and XLA compile.
    """
    from lineage import run_builder

    start, cpu = time.perf_counter(), time.process_time()
    # One epoch is one batch: the constant schedule reads no step count.
    run = run_builder.build_run(config, config.batch_size, num_classes)
    state = jax.block_until_ready(run.state.init())
    init_s, init_cpu_s = time.perf_counter() - start, time.process_time() - cpu

    batch = run_builder.synthetic_batch(run, (image_size, image_size, 3))
    start, cpu = time.perf_counter(), time.process_time()
    lowered = run.train_step.trace(state, batch).lower()
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
    return compiled, state, batch, run, timings


def main() -> None:
    args = protocol.parse_args(__doc__.splitlines()[0])
    options = json.loads(args.options)
    if options.get('cache_dir'):
        jax.config.update('jax_compilation_cache_dir', options['cache_dir'])
        jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
        jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
    # Imported after the cache settings, which must precede the first compilation.
    from lineage import counting

    config = step_config(
        args.network,
        args.batch_size,
        args.learning_rate,
        args.momentum,
        options.get('model'),
        options.get('nesterov', False),
        options.get('conv_impl', 'auto'),
    )
    compiled, state, batch, run, timings = compile_step(
        config, args.image_size, args.num_classes, options.get('compiler_options')
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
        params=counting.param_count(run.state.model),
        **{key: round(value, 2) for key, value in timings.items()},
        first_step_s=round(first_step_s, 2),
        first_step_cpu_s=round(first_step_cpu_s, 2),
        conv_impl=run.conv_impl,
        compiler_options=options.get('compiler_options'),
        version=f'jax {jax.__version__}',
    )


if __name__ == '__main__':
    main()
