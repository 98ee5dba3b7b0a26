"""An exclusive `flock` on a file that names its holder: one process at a time per directory.

The file holds the holder's host and pid, which a refused process names in its one-line error.
The kernel drops a `flock` when its process dies, so a process killed with kill -9 leaves nothing
that blocks the next one (the file stays, unlocked). Free of jax, so that the sweep runner, which
never starts a backend, takes the same lock as training (`lineage.workdir_lock`).
"""

from __future__ import annotations

import fcntl
import os
import socket

from absl import logging


def _holder(fd: int) -> str:
    """The holder as its lock file names it ('host H, pid P'), or 'holder unknown' (writing)."""
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 256).decode(errors='replace').strip()
    return text or 'holder unknown'


def try_lock(path: str) -> tuple[int | None, str]:
    """Takes the lock on `path` (created if missing) without waiting.

    Returns:
      (the descriptor holding it, '') or (None, the holder's description). Closing the
      descriptor releases the lock; it is not inherited by child processes.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        return None, holder
    except OSError as e:  # a file system without locks (some FUSE mounts): go on, but say so
        logging.warning(
            '%s cannot be locked (%s): a second process on it would not be stopped',
            path,
            e.strerror,
        )
    os.ftruncate(fd, 0)
    os.write(fd, f'host {socket.gethostname()}, pid {os.getpid()}\n'.encode())
    return fd, ''


def held_by(path: str) -> str | None:
    """The holder of the lock on `path` ('host H, pid P'), or None when no process holds it (or
    the file does not exist). Looks only: the file is neither created nor written."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(fd)
    except OSError:  # no locks on this file system: nothing can be known to hold it
        return None
    finally:
        os.close(fd)
    return None
