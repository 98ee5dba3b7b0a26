"""SIGTERM or Ctrl-C (SIGINT) as a stop request the training loop polls between steps.

A TPU VM gets SIGTERM before it goes away; a user at a terminal presses Ctrl-C. In one process,
`Preemption` turns either signal into a flag the loop polls between steps; across processes,
JAX's preemption sync point (`multihost_utils.reached_preemption_sync_point`) makes every host
stop at the same step. The loop then saves a checkpoint and returns (lineage/train.py), and the
command exits with 128 + the signal number (lineage/main.py). The handler holds from the first
step to results.json: a signal after the last step lets the final checkpoint finish, abandons
the final evaluation, and the run stops the same way (the rerun evaluates).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import jax
from jax.experimental import multihost_utils


class Preemption:
    """Context manager: has a stop (SIGTERM, or Ctrl-C's SIGINT) been asked for, as of this step?

    One process: the handler records the signal (the previous handlers come back on exit); a
    second Ctrl-C interrupts at once, for a run stuck before its next step. Several: JAX's
    coordination service spreads a SIGTERM and picks one step for all.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signum: int | None = None  # the signal that asked for the stop
        self._previous: dict[int, Any] = {}
        self._multi = jax.process_count() > 1

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def asked(self) -> bool:
        """Whether a stop was asked for, polled outside the step loop (the final evaluation).

        Always False across processes: there every host stops only at a step `reached` agreed.
        """
        return not self._multi and self.requested

    def _handler(self, signum, frame):
        del frame
        if signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> Preemption:
        if not self._multi and threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def reached(self, step: int) -> bool:
        """True when the run should save and stop after `step`."""
        if self._multi:
            if multihost_utils.reached_preemption_sync_point(step):
                self.signum = signal.SIGTERM  # what JAX's preemption notice listens for
                return True
            return False
        return self.requested
