"""Which conv form is fastest here: every form of every layer kind, forward + backward.

    python -m experiments.bench.conv_benchmark                     # 128x32x32x128, float32
    python -m experiments.bench.conv_benchmark --strides=1,2 --repeats=9 --dtype=bfloat16
    python -m experiments.bench.conv_benchmark --peers_python=.venv-peers/bin/python  # + PyTorch

For each layer kind (depthwise 3x3, pointwise 1x1, grouped 3x3, dense 3x3) at each stride,
times the forward output and the gradients w.r.t. input and kernel for a fixed cotangent (what
a train step computes for the layer) for every form in
`lineage.blocks.conv_algorithms.FORMS`. Forms are timed round-robin, one call each per round, so a
change in the machine's load hits them alike; the table gives the median over rounds, the
min-max spread, the median process CPU time (all threads; it stays near the work done when
other jobs stretch the wall clock), GFLOP/s (3 x 2 x MACs: forward, input gradient, kernel
gradient), and marks
the form `auto` picks on this backend. The load average is printed before and after: other jobs
on the host slow every form.

With `--peers_python` (an interpreter with torch, requirements-peers.txt), each layer also gets
a `torch` row: the same layer in PyTorch (experiments/bench/workers/torch_conv_worker.py,
channels_last, oneDNN), timed in its own process right after lineage's forms (float32 only;
its compile cell is '-').
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

from experiments.bench.timing import round_robin, timing_cells  # noqa: E402
from experiments.bench.worker_calls import call_worker, missing_peer_note  # noqa: E402
from experiments.reporting import markdown  # noqa: E402
from experiments.step_timer import load  # noqa: E402
from lineage.blocks import conv_algorithms  # noqa: E402
from lineage.blocks.conv_bn import same_padding  # noqa: E402

FLAGS = flags.FLAGS
COLUMNS = ['layer', 'stride', 'form', 'median ms', 'min-max ms', 'CPU ms', 'GFLOP/s', 'compile s']


def define_flags() -> None:
    """The command's flags, defined when run (not at import: tests import this module beside
    other modules that define `--strides`)."""
    flags.DEFINE_integer('batch', 128, 'N of the NHWC input.')
    flags.DEFINE_integer('size', 32, 'H = W of the input.')
    flags.DEFINE_integer('channels', 128, 'Input and output channels.')
    flags.DEFINE_integer('groups', 4, 'Groups of the grouped conv (ResNeXt-style).')
    flags.DEFINE_list('strides', ['1', '2'], 'Strides to time.')
    flags.DEFINE_list('kinds', list(conv_algorithms.KINDS), 'Layer kinds to time.')
    flags.DEFINE_list('forms', list(conv_algorithms.FORMS), 'Forms to time.')
    flags.DEFINE_integer('repeats', 5, 'Timed rounds after one warm-up call per form.')
    flags.DEFINE_enum('dtype', 'float32', ['float32', 'bfloat16'], 'Input and kernel dtype.')
    flags.DEFINE_string('peers_python', '', 'Python with torch: adds a PyTorch row per layer.')


def layer(kind: str, channels: int, groups: int) -> tuple[tuple[int, int], int]:
    """`(kernel_size, groups)` of the benchmark layer of `kind`."""
    return {
        'depthwise': ((3, 3), channels),
        'pointwise': ((1, 1), 1),
        'grouped': ((3, 3), groups),
        'dense': ((3, 3), 1),
    }[kind]


def step_fn(form: str, kernel_size, strides, groups):
    """A jitted fwd+bwd of one conv in `form`: returns `(y, dx, dkernel)` for cotangent `ct`.

    `y` is returned, as a train step keeps it for BatchNorm; a scalar loss like `<y, ct>` would
    let XLA fuse the forward into a reduction and never write `y`.
    """
    pads = same_padding(kernel_size, (1, 1))

    def run(x, kernel, ct):
        def f(x, kernel):
            return conv_algorithms.FORMS[form](x, kernel, strides, pads, (1, 1), groups)

        y, vjp = jax.vjp(f, x, kernel)
        return (y, *vjp(ct.astype(y.dtype)))

    return jax.jit(run)


def torch_times(
    python: str, kind: str, stride: int, shape: tuple[int, int, int], groups: int, repeats: int
) -> tuple[np.ndarray | None, str | None]:
    """PyTorch's timings of the layer, as `round_robin`'s entries, or (None, why there are none).

    Args:
      python: an interpreter with torch.
      shape: `(batch, size, channels)` of the NHWC input.
    """
    batch, size, channels = shape
    command = [python, '-m', 'experiments.bench.workers.torch_conv_worker']
    command += [f'--kind={kind}', f'--stride={stride}', f'--batch={batch}', f'--size={size}']
    command += [f'--channels={channels}', f'--groups={groups}', f'--repeats={repeats}']
    result, why = call_worker(command)
    return (None, why) if result is None else (np.array(result['times_ms']), None)


def main(argv: list[str]) -> None:
    del argv
    dtype = jnp.dtype(FLAGS.dtype)
    n, s, c = FLAGS.batch, FLAGS.size, FLAGS.channels
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((n, s, s, c)), dtype)
    print(
        f'# conv forms, fwd+bwd, NHWC {n}x{s}x{s}x{c} -> {c} channels, {FLAGS.dtype}, '
        f'backend {jax.default_backend()}, {os.cpu_count()} CPUs, jax {jax.__version__}'
    )
    peer_note = None
    if FLAGS.peers_python and FLAGS.dtype != 'float32':
        peer_note = f'torch: skipped (float32 only, not {FLAGS.dtype})'
    elif FLAGS.peers_python:
        peer_note = missing_peer_note(FLAGS.peers_python, 'torch')
    if peer_note:
        print(f'# {peer_note}')
    print(f'# load average before: {load()}')
    print('\n'.join(markdown.header(COLUMNS)))
    for stride in (int(v) for v in FLAGS.strides):
        for kind in FLAGS.kinds:
            kernel_size, groups = layer(kind, c, FLAGS.groups)
            kernel = jnp.asarray(rng.standard_normal((*kernel_size, c // groups, c)) * 0.05, dtype)
            o = (s - 1) // stride + 1
            ct = jnp.asarray(rng.standard_normal((n, o, o, c)), jnp.float32)
            macs = n * o * o * kernel_size[0] * kernel_size[1] * (c // groups) * c
            auto = conv_algorithms.auto_form(kind, in_features=c // groups, positions=o * o)
            calls, compile_s = {}, {}
            for form in FLAGS.forms:
                start = time.perf_counter()
                jitted = step_fn(form, kernel_size, (stride, stride), groups)
                compiled = jitted.lower(x, kernel, ct).compile()
                compile_s[form] = time.perf_counter() - start
                calls[form] = functools.partial(compiled, x, kernel, ct)
            times = round_robin(calls, FLAGS.repeats)
            for form in FLAGS.forms:
                cells = timing_cells(times[form], 6 * macs, compile_s[form])
                mark = ' (auto)' if form == auto else ''
                print(markdown.row([kind, stride, form + mark, cells]), flush=True)
            if FLAGS.peers_python and not peer_note:
                peer, why = torch_times(
                    FLAGS.peers_python, kind, stride, (n, s, c), FLAGS.groups, FLAGS.repeats
                )
                cells = timing_cells(peer, 6 * macs, None) if why is None else f'- ({why})'
                print(markdown.row([kind, stride, 'torch', cells]), flush=True)
    print(f'# load average after: {load()}')


if __name__ == '__main__':
    define_flags()
    app.run(main)
