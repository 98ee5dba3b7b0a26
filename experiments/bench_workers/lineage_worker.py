"""Lineage's train step, timed: the real jitted step of lineage/train_step.py on one network.

    python -m experiments.bench_workers.lineage_worker --network=resnet50 --image_size=32 \
        --batch_size=128 --options='{"conv_impl": "auto"}'

Builds the model and SGD-momentum optimizer exactly as training does (`create_train_state`,
`make_train_step`: NNX functional form, donated state, float32), on a one-device mesh. The step
is compiled ahead of time so that its time to first step splits into trace + lower, XLA
compile, and the first execution. Options (JSON): `conv_impl` ('auto' or a form of
lineage/blocks/convolution.py), `cache_dir` (a persistent compilation cache; off by default, so
compile times are those of a fresh process), `compiler_options` (XLA options for this compile,
e.g. `{"xla_backend_optimization_level": 1}`).
"""

from __future__ import annotations

import json
import time

import jax
import numpy as np
import optax
from ml_collections import ConfigDict

from experiments.bench_workers import protocol


def main() -> None:
    args = protocol.parse_args(__doc__.splitlines()[0])
    options = json.loads(args.options)
    if options.get('cache_dir'):
        jax.config.update('jax_compilation_cache_dir', options['cache_dir'])
        jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
        jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
    # Imported after the cache settings, which must precede the first compilation.
    from lineage import counting, parallel, train_step
    from lineage.blocks import convolution

    convolution.set_conv_impl(options.get('conv_impl', 'auto'))
    mesh = parallel.make_mesh(1)
    replicated = parallel.replicated(mesh)
    config = ConfigDict({'seed': 0, 'model': {'name': args.network}})
    tx = optax.sgd(args.learning_rate, momentum=args.momentum)

    start, cpu = time.perf_counter(), time.process_time()
    state_def = train_step.create_train_state(config, args.num_classes, None, tx, replicated)
    state = jax.block_until_ready(state_def.init())
    init_s, init_cpu_s = time.perf_counter() - start, time.process_time() - cpu

    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.image_size, args.image_size, 3)
    batch = jax.device_put(
        {
            'image': rng.standard_normal(shape, np.float32),
            'label': rng.integers(0, args.num_classes, args.batch_size).astype(np.int32),
        },
        parallel.batch_sharded(mesh),
    )
    step = train_step.make_train_step(state_def.graphdef, 0.0, replicated)

    start, cpu = time.perf_counter(), time.process_time()
    lowered = step.trace(state, batch).lower()
    lower_s, lower_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    compiled = lowered.compile(compiler_options=options.get('compiler_options'))
    compile_s = time.perf_counter() - start - lower_s
    compile_cpu_s = time.process_time() - cpu - lower_cpu_s
    state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    first_step_s, first_step_cpu_s = time.perf_counter() - start, time.process_time() - cpu

    def one_step():
        nonlocal state
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)

    step_s, cpu_s = protocol.time_steps(one_step, args.warmup, args.steps)
    protocol.emit(
        args,
        'lineage',
        step_s,
        cpu_s,
        params=counting.param_count(state_def.model),
        init_s=round(init_s, 2),
        init_cpu_s=round(init_cpu_s, 2),
        lower_s=round(lower_s, 2),
        lower_cpu_s=round(lower_cpu_s, 2),
        compile_s=round(compile_s, 2),
        compile_cpu_s=round(compile_cpu_s, 2),
        first_step_s=round(first_step_s, 2),
        first_step_cpu_s=round(first_step_cpu_s, 2),
        conv_impl=convolution.get_conv_impl(),
        compiler_options=options.get('compiler_options'),
        version=f'jax {jax.__version__}',
    )


if __name__ == '__main__':
    main()
