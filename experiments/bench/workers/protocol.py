"""What every train-step benchmark worker shares: its flags and its one result line.

Each framework runs in its own process (experiments/train_benchmark.py starts them, alternating),
so one framework's threads, allocator and compilation caches never share a process with
another's. A worker prints exactly one line `RESULT {json}`; everything else it prints is log.
This file and experiments/step_timer.py, whose loop times the steps (`time_and_emit`), use the
standard library only: the peers' Python (`.venv-peers`) imports them too.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
from typing import Any

from experiments import step_timer

RESULT_PREFIX = 'RESULT '


def parse_args(description: str) -> argparse.Namespace:
    """The flags every worker takes: which network, at what shape, for how many steps."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--network', required=True, help="lineage's name, e.g. 'resnet50'")
    parser.add_argument('--image_size', type=int, required=True)
    parser.add_argument('--batch_size', type=int, required=True)
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps after the first')
    parser.add_argument('--steps', type=int, default=5, help='timed steps (0: first step only)')
    parser.add_argument(
        '--peer_model',
        default=None,
        help="the peer's name of the same architecture (lineage's ModelInfo.keras or .timm)",
    )
    parser.add_argument('--num_classes', type=int, default=1000)
    parser.add_argument('--learning_rate', type=float, default=0.01)
    parser.add_argument('--momentum', type=float, default=0.9)
    parser.add_argument(
        '--options', default='{}', help='worker-specific JSON options (e.g. lineage conv_impl)'
    )
    return parser.parse_args()


def peak_rss_mib() -> float:
    """This process's peak resident memory (`ru_maxrss`, KiB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(
    args: argparse.Namespace, framework: str, step_s: list[float], cpu_s: float, **fields: Any
) -> None:
    """Prints the worker's one `RESULT {json}` line: step times, images/s, peak memory, extras.

    images/s is the batch over the median timed step; images per CPU-second is the timed images
    over the CPU time they took (both None when no step was timed).
    """
    median = statistics.median(step_s) if step_s else None
    result = {
        'framework': framework,
        'network': args.network,
        'image_size': args.image_size,
        'batch_size': args.batch_size,
        'step_s': [round(s, 4) for s in step_s],
        'images_per_s': args.batch_size / median if median else None,
        'images_per_cpu_s': args.batch_size * len(step_s) / cpu_s if step_s and cpu_s else None,
        'peak_rss_mib': round(peak_rss_mib(), 1),
        **fields,
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def time_and_emit(
    args: argparse.Namespace,
    framework: str,
    one_step: Any,
    init: tuple[float, float],
    **fields: Any,
) -> None:
    """Times the first call of `one_step` (it compiles), then `args.warmup` untimed and
    `args.steps` timed calls, and emits them with `init` (wall and CPU seconds of building the
    model and optimizer) and `fields`."""
    first_s, first_cpu_s = step_timer.first_step(one_step)
    step_s, cpu_s = step_timer.time_steps(one_step, args.warmup, args.steps)
    emit(
        args, framework, step_s, cpu_s,
        init_s=round(init[0], 2), init_cpu_s=round(init[1], 2),
        first_step_s=round(first_s, 2), first_step_cpu_s=round(first_cpu_s, 2),
        **fields,
    )  # fmt: skip
