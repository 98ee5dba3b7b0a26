"""Timing a train step, as both the sweep's estimate and the benchmarks do it: the timing loop
and the host's load average printed beside the numbers (the step and its synthetic batch come
from `lineage.run_builder`).

The sweep runner (experiments/sweeping/timed_rates.py, for `run_sweep --time_steps`) and the
benchmarks (experiments/bench/) time steps the same way, and neither imports the other's room
for it. The module imports the standard library only: the PyTorch and Keras workers
(experiments/bench/workers/) run under the peers' Python (`.venv-peers`, no flax) and time their
steps with it, without jax's imports in their memory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any


def time_steps(
    step: Callable[[], Any], warmup: int, steps: int, ready: Callable[[], Any] | None = None
) -> tuple[list[float], float]:
    """Runs `step` `warmup` times untimed, then `steps` times timed; `ready`, if given, between
    the two (a barrier, so that processes timed side by side time the same seconds).

    `step` must return only when its work is done (block on the device result), so that each
    duration is one whole step.

    Returns:
      (wall seconds of each timed step, CPU seconds of this process over all timed steps). On a
      shared machine the wall clock includes waiting for the cores; the process's CPU time
      (every thread's, user + system) is the work itself.
    """
    for _ in range(warmup):
        step()
    if ready is not None:
        ready()
    durations = []
    cpu_start = time.process_time()
    for _ in range(steps):
        start = time.perf_counter()
        step()
        durations.append(time.perf_counter() - start)
    return durations, time.process_time() - cpu_start


def first_step(step: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds of one call of `step` (the first: it compiles)."""
    start, cpu = time.perf_counter(), time.process_time()
    step()
    return time.perf_counter() - start, time.process_time() - cpu


def load() -> str:
    """The host's 1, 5 and 15 minute load averages."""
    return ' '.join(f'{v:.2f}' for v in os.getloadavg())
