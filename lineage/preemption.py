"""SIGTERM as a stop request the training loop polls between steps (TPU VM preemption).

A TPU VM gets SIGTERM before it goes away. In one process, `Preemption` turns the signal into a
flag the loop polls between steps; across processes, JAX's preemption sync point
(`multihost_utils.reached_preemption_sync_point`) makes every host stop at the same step. The
loop then saves a checkpoint and returns (lineage/train.py).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import jax
from jax.experimental import multihost_utils


class Preemption:
    """Context manager: has a preemption (SIGTERM) been asked for, as of this step?

    One process: the SIGTERM handler sets a flag (the previous handler comes back on exit).
    Several: JAX's coordination service spreads the notice and picks one step for all.
    """

    def __init__(self):
        self.requested = False
        self._previous: Any = None
        self._multi = jax.process_count() > 1

    def _handler(self, signum, frame):
        del signum, frame
        self.requested = True

    def __enter__(self) -> Preemption:
        if not self._multi and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def reached(self, step: int) -> bool:
        """True when the run should save and stop after `step`."""
        if self._multi:
            return multihost_utils.reached_preemption_sync_point(step)
        return self.requested
