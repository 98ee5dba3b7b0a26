"""One conv layer's forward + backward in PyTorch, timed: the peer row of conv_benchmark.py.

    .venv-peers/bin/python -m experiments.bench.workers.torch_conv_worker --kind=dense \
        --stride=1 --batch=128 --size=32 --channels=128

The layer `experiments/bench/conv_benchmark.py` times in every lineage form, in `torch.nn.Conv2d`:
float32, channels_last (input and weight; PyTorch's fast CPU layout for convs, oneDNN's
kernels), same padding, no bias. Each call computes what lineage's timed call does: the output
(kept), and the gradients of input and weight for a fixed cotangent. PyTorch's default CPU
threads. Prints one `RESULT {json}` line: wall and process-CPU milliseconds of each timed call.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from experiments.bench.workers import protocol

KINDS = ('depthwise', 'pointwise', 'grouped', 'dense')  # conv_benchmark.layer's, without jax


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--kind', required=True, choices=KINDS)
    parser.add_argument('--stride', type=int, default=1)
    parser.add_argument('--batch', type=int, default=128)
    parser.add_argument('--size', type=int, default=32)
    parser.add_argument('--channels', type=int, default=128)
    parser.add_argument('--groups', type=int, default=4, help='groups of the grouped conv')
    parser.add_argument('--repeats', type=int, default=5, help='timed calls after one warm-up')
    args = parser.parse_args()

    n, s, c = args.batch, args.size, args.channels
    kernel_size = 1 if args.kind == 'pointwise' else 3
    groups = {'depthwise': c, 'grouped': args.groups}.get(args.kind, 1)
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(
        c, c, kernel_size, stride=args.stride, padding=kernel_size // 2, groups=groups, bias=False
    ).to(memory_format=torch.channels_last)
    x = torch.randn(n, c, s, s).contiguous(memory_format=torch.channels_last).requires_grad_()
    o = (s - 1) // args.stride + 1
    ct = torch.randn(n, c, o, o).contiguous(memory_format=torch.channels_last)

    def call():
        y = conv(x)
        dx, dw = torch.autograd.grad(y, (x, conv.weight), ct)
        return y, dx, dw

    call()
    times = []
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        times.append([(time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3])
    result = {'times_ms': times, 'version': f'torch {torch.__version__}'}
    print(protocol.RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == '__main__':
    main()
