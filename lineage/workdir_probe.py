"""The workdir, probed before any training: writable, with room for the run.

A run that would fail at its first checkpoint (a read-only folder, a full disk) fails here
instead, in one line naming the workdir and the fix, before a step is trained.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil

import jax

# Free space a run needs beyond its checkpoints: metrics, TensorBoard events, results.
MIN_FREE_BYTES = 16 * 2**20


def probe_workdir(workdir: str, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Checks, before any training, that `workdir` takes files and has room for the run.

    Creates `workdir`, writes, syncs and removes a small file (one per process, as every
    process writes its part of each checkpoint), then reads the free space.

    Args:
      workdir: the run's directory.
      min_free_bytes: free space below which the run is refused.

    Raises:
      ValueError: one line naming the workdir and what is wrong with it.
    """
    # Named by process and pid: a second run probing the same workdir has a file of its own.
    path = os.path.join(workdir, f'.write_probe.{jax.process_index()}.{os.getpid()}')
    try:
        os.makedirs(workdir, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, b'\0' * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.remove(path)
        free = shutil.disk_usage(workdir).free
    except OSError as e:
        with contextlib.suppress(OSError):
            os.remove(path)  # a write that failed for want of space leaves the file
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ValueError(
                f'workdir {workdir} is full ({e.strerror}); free some space or pass another '
                '--workdir'
            ) from None
        raise ValueError(
            f'workdir {workdir} is not writable ({e.strerror}: {e.filename}); pass a writable '
            '--workdir'
        ) from None
    if free < min_free_bytes:
        raise ValueError(
            f'workdir {workdir} has {free / 2**20:.1f} MiB free, under the '
            f'{min_free_bytes / 2**20:.1f} MiB this run needs (checkpoints and logs); free some '
            'space or pass another --workdir'
        )
