"""One run at a time per workdir: an exclusive `flock` on `<workdir>/.lock`, held for the run.

Two runs writing one workdir would interleave their rows in metrics.jsonl and fight over the
checkpoint steps. A run takes the lock (`lineage.file_lock`) once its up-front checks pass and
keeps it until it returns; the lock file holds the holder's host and pid, which a second run
names in its one-line refusal. The kernel drops a `flock` when its process dies, so a run killed
with kill -9 leaves nothing that blocks the next one (the file stays, unlocked). The sweep runner
looks at the lock too: it neither starts nor collects a point whose run holds it.

In a multi-process run, process 0 takes the lock for all: the others share the workdir, and an
all-gather tells every process whether process 0 got it, so they all stop together.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from lineage import file_lock

LOCK_FILE = '.lock'


def held_by(workdir: str) -> str | None:
    """The run holding `workdir` ('host H, pid P'), or None: what the sweep runner asks before
    it starts or collects a point."""
    return file_lock.held_by(os.path.join(workdir, LOCK_FILE))


@contextlib.contextmanager
def hold(workdir: str) -> Iterator[None]:
    """Holds the lock on `workdir` (which must exist) while the body runs.

    Raises:
      ValueError: another run holds it; one line naming its host and pid.
    """
    # Imported here so that `held_by` serves the sweep runner, which never loads jax.
    import jax
    import numpy as np
    from jax.experimental import multihost_utils

    path = os.path.join(workdir, LOCK_FILE)
    fd, holder = file_lock.try_lock(path) if jax.process_index() == 0 else (None, '')
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
