"""One run at a time per workdir: an exclusive `flock` on `<workdir>/.lock`, held for the run.

Two runs writing one workdir would interleave their rows in metrics.jsonl and fight over the
checkpoint steps. A run takes the lock once its up-front checks pass and keeps it until it
returns; the lock file holds the holder's host and pid, which a second run names in its one-line
refusal. The kernel drops a `flock` when its process dies, so a run killed with kill -9 leaves
nothing that blocks the next one (the file stays, unlocked).

In a multi-process run, process 0 takes the lock for all: the others share the workdir, and an
all-gather tells every process whether process 0 got it, so they all stop together.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

LOCK_FILE = '.lock'


def _holder(fd: int) -> str:
    """The holder as its lock file names it ('host H, pid P'), or 'unknown' (still writing)."""
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 256).decode(errors='replace').strip()
    return text or 'holder unknown'


def _try_lock(path: str) -> tuple[int | None, str]:
    """(fd holding the lock, '') or (None, the holder's description)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        return None, holder
    except OSError as e:  # a file system without locks (some FUSE mounts): run, but say so
        logging.warning(
            'workdir %s cannot be locked (%s): a second run on it would not be stopped',
            os.path.dirname(path),
            e.strerror,
        )
    os.ftruncate(fd, 0)
    os.write(fd, f'host {socket.gethostname()}, pid {os.getpid()}\n'.encode())
    return fd, ''


@contextlib.contextmanager
def hold(workdir: str) -> Iterator[None]:
    """Holds the lock on `workdir` (which must exist) while the body runs.

    Raises:
      ValueError: another run holds it; one line naming its host and pid.
    """
    path = os.path.join(workdir, LOCK_FILE)
    fd, holder = _try_lock(path) if jax.process_index() == 0 else (None, '')
    locked = fd is not None or jax.process_index() != 0
    if jax.process_count() > 1:
        locked = bool(np.all(multihost_utils.process_allgather(np.int32(locked))))
    if not locked:
        if fd is not None:
            os.close(fd)
        where = f'({holder})' if holder else '(see process 0)'
        raise ValueError(
            f'workdir {workdir} is in use by another run {where}; wait for it to finish, or '
            'pass another --workdir'
        )
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the flock
