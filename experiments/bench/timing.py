"""Timing that stays fair when other jobs share the machine: round-robin calls, wall and CPU time.

Forms or blocks compared in one run are called in turn, one call each per round, so a change in
the host's load hits them alike; each call's process CPU time (all threads) is kept beside its
wall clock, since CPU time stays near the work done when other jobs stretch the wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np


def round_robin(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, np.ndarray]:
    """Times each call `repeats` times, one call of each per round, after one warm-up call each.

    Returns:
      `{name: array (repeats, 2)}` of wall-clock and process-CPU milliseconds per call. Under
      load from other jobs the wall clock grows while the CPU time stays near the work done.
    """
    for call in calls.values():
        jax.block_until_ready(call())
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            wall, cpu = time.perf_counter(), time.process_time()
            jax.block_until_ready(call())
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {name: np.array(t) * 1e3 for name, t in times.items()}


def timing_cells(times: np.ndarray, flops: float, compile_s: float | None) -> str:
    """The timing cells of a table row: median ms | min-max ms | CPU ms | GFLOP/s | compile s.

    Args:
      times: one entry of `round_robin`'s result.
      flops: floating-point operations per call.
      compile_s: seconds the call took to compile ('-' for None: not compiled, or not known).
    """
    wall, cpu = times[:, 0], times[:, 1]
    median = np.median(wall)
    return (
        f'{median:.0f} | {wall.min():.0f}-{wall.max():.0f} | {np.median(cpu):.0f} | '
        f'{flops / median / 1e6:.1f} | ' + ('-' if compile_s is None else f'{compile_s:.1f}')
    )
