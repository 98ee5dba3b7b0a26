"""The sweep runner's child processes: each on its share of the cores, none outliving the runner.

A point's `lineage.main` runs pinned to its share of the runner's cores (CPU affinity, set in the
child before it starts). Nothing else needs setting: XLA's CPU client sizes its Eigen thread pool
(threads named `tf_XLAEigen`) and TensorFlow its compute pool (`tf_Compute`, which tf.data's
parallel maps run on) from the cores in the process's affinity mask when they start, so a point
on one core runs one thread of each (tests/test_sweep_jobs.py checks the XLA pool).

A child is also asked for SIGTERM when the runner dies (Linux's parent-death signal), so that a
runner killed with kill -9 takes its points with it, each saving a checkpoint as it does on any
SIGTERM, rather than leaving them training on their own beside the next runner. SIGTERM to the
runner reaches every running point the same way (`Children`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections.abc import Sequence
from typing import IO

from absl import logging

_LIBC = ctypes.CDLL(None, use_errno=True) if hasattr(os, 'sched_setaffinity') else None
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def cpu_shares(jobs: int) -> list[tuple[int, ...] | None]:
    """The cores of each of `jobs` slots: the runner's cores (its affinity) split into equal,
    disjoint shares, the remainder to the first; one slot keeps the runner's own (None: no pin).

    Raises:
      ValueError: more jobs than cores.
    """
    cores = sorted(os.sched_getaffinity(0)) if _LIBC is not None else [0]
    if not 1 <= jobs <= len(cores):
        raise ValueError(
            f'--jobs={jobs}: this runner may use {len(cores)} cores (its CPU affinity); give 1 to '
            f'{len(cores)}, one core or more a point'
        )
    if jobs == 1:
        return [None]
    size, extra = divmod(len(cores), jobs)
    shares, start = [], 0
    for slot in range(jobs):
        end = start + size + (slot < extra)
        shares.append(tuple(cores[start:end]))
        start = end
    return shares


def _in_child(cores: Sequence[int] | None, runner: int) -> None:
    """Runs in the forked child before exec: its share of the cores, SIGTERM when the runner
    dies (and at once if it died while this child was forking)."""
    if cores is not None:
        os.sched_setaffinity(0, cores)
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != runner:
            os.kill(os.getpid(), signal.SIGTERM)


def start(command: Sequence[str], log: IO, cores: Sequence[int] | None) -> subprocess.Popen:
    """Starts `command` with its output in `log`, on `cores` (None: the runner's)."""
    runner = os.getpid()
    return subprocess.Popen(
        list(command),
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: _in_child(cores, runner),
    )


class Children:
    """While active, SIGTERM is recorded and forwarded to every running child, not fatal: each
    point saves a checkpoint and exits, and the runner starts no more."""

    def __init__(self):
        self.asked = False
        self.running: list[subprocess.Popen] = []

    def _handler(self, signum, frame):
        del frame
        self.asked = True
        logging.warning('SIGTERM: stopping the running points (they checkpoint); rerun to resume')
        for child in self.running:
            if child.poll() is None:
                child.send_signal(signum)

    def add(self, child: subprocess.Popen) -> None:
        self.running.append(child)
        if self.asked and child.poll() is None:  # the signal came while the child was starting
            child.send_signal(signal.SIGTERM)

    def remove(self, child: subprocess.Popen) -> None:
        self.running.remove(child)

    def __enter__(self):
        self._previous = signal.signal(signal.SIGTERM, self._handler)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self._previous)
