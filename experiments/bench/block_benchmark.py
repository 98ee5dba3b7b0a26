"""What each lineage block costs on paper and on this machine, side by side.

    python -m experiments.bench.block_benchmark                        # every block, auto and xla
    python -m experiments.bench.block_benchmark --blocks=plain3x3,separable --batch=128 --repeats=9

For every block in the registry (`lineage.blocks.block_names()`), built `in -> out` channels
at one input shape, prints its parameters and MACs per example (`lineage.counting`) beside the
wall clock of one train-mode forward + backward (BatchNorm on batch statistics, gradients of
all parameters, as the train step computes them): median and min-max over `--repeats` timed
calls after a warm-up, the median process CPU time, the compile time, and the achieved GFLOP/s,
counting 2 flops per MAC and the backward pass as twice the forward (input and weight
gradients), so 6 x MACs x batch.

Each block is compiled once per conv form in `--impls` (`lineage.blocks.conv_algorithms`: 'auto'
is what training uses; 'xla' is plain `lax.conv`), and the forms are timed round-robin so the
machine's load hits them alike. The load average is printed before and after.
"""

from __future__ import annotations

import functools
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from flax import nnx  # noqa: E402

from experiments.bench.timing import round_robin, timing_cells  # noqa: E402
from experiments.reporting import markdown  # noqa: E402
from experiments.step_timer import load  # noqa: E402
from lineage import counting  # noqa: E402
from lineage.blocks import block_names, build_block, conv_algorithms  # noqa: E402

FLAGS = flags.FLAGS
COLUMNS = [
    'block', 'params', 'MMACs/example', 'conv impl',
    'median ms', 'min-max ms', 'CPU ms', 'GFLOP/s', 'compile s',
]  # fmt: skip
flags.DEFINE_list('blocks', [], 'Blocks to time (default: every registered block).')
flags.DEFINE_integer('batch', 32, 'N of the NHWC input.')
flags.DEFINE_integer('size', 32, 'H = W of the input.')
flags.DEFINE_integer('in_features', 128, 'Input channels.')
flags.DEFINE_integer('out_features', 128, 'Output channels.')
flags.DEFINE_integer('strides', 1, 'Block stride.')
flags.DEFINE_list(
    'impls', ['auto', 'xla'], 'Conv forms to compare (conv_algorithms.set_conv_impl).'
)
flags.DEFINE_integer('repeats', 5, 'Timed calls per form after one warm-up call.')


def train_step(block: nnx.Module):
    """`(state, x, ct) -> (grads, batch_stats)` of `<block(x), ct>`, as a pure function."""
    graphdef, state = nnx.split(block)

    def step(state, x, ct):
        module = nnx.merge(graphdef, state)

        def loss(module):
            return jnp.vdot(module(x).astype(jnp.float32), ct)

        grads = nnx.grad(loss)(module)
        return grads, nnx.state(module, nnx.BatchStat)

    return step, state


def main(argv: list[str]) -> None:
    del argv
    names = FLAGS.blocks or block_names()
    n, s, cin, cout, stride = (
        FLAGS.batch,
        FLAGS.size,
        FLAGS.in_features,
        FLAGS.out_features,
        FLAGS.strides,
    )
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((n, s, s, cin)), jnp.float32)
    print(
        f'# blocks, train-mode fwd+bwd, NHWC {n}x{s}x{s}x{cin} -> {cout} channels, stride '
        f'{stride}, float32, backend {jax.default_backend()}, {os.cpu_count()} CPUs, '
        f'jax {jax.__version__}'
    )
    print(f'# load average before: {load()}')
    print('\n'.join(markdown.header(COLUMNS)))
    for name in names:
        block = build_block(name, cin, cout, stride, rngs=nnx.Rngs(0))
        params = counting.param_count(block)
        macs = counting.total_macs(block, (s, s, cin))
        o = (s - 1) // stride + 1
        ct = jnp.asarray(rng.standard_normal((n, o, o, cout)), jnp.float32)
        calls, compile_s = {}, {}
        for impl in FLAGS.impls:
            start = time.perf_counter()
            # A fresh step function per form: jit's cache keys on the function, and the form is
            # read while tracing.
            step, state = train_step(block)
            with conv_algorithms.conv_impl(impl):
                compiled = jax.jit(step).lower(state, x, ct).compile()
            compile_s[impl] = time.perf_counter() - start
            calls[impl] = functools.partial(compiled, state, x, ct)
        times = round_robin(calls, FLAGS.repeats)
        for impl in FLAGS.impls:
            cells = timing_cells(times[impl], 6 * macs * n, compile_s[impl])
            print(markdown.row([name, f'{params:,}', f'{macs / 1e6:.1f}', impl, cells]), flush=True)
    print(f'# load average after: {load()}')


if __name__ == '__main__':
    app.run(main)
