"""A disk that fills up mid-run, reported in one line: what could not be written, what was saved.

A full disk surfaces in many forms: `OSError` ENOSPC from a plain write (metrics.jsonl), a
TensorFlow `ResourceExhaustedError` from TensorBoard's writer, TensorStore's
`RESOURCE_EXHAUSTED ... No space left on device` from an orbax save, each often raised again
while the run closes its writers. `reported(workdir)` turns any of them into one
`DiskFullError` naming the first file that could not be written and the last complete
checkpoint, which the rerun (after space is freed) resumes from exactly: a checkpoint cut short
by the full disk is a `<step>.orbax-checkpoint-tmp` folder that the rerun removes, and
metrics.jsonl lines past the checkpoint (or cut short) are dropped (lineage/metrics.py).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator

NO_SPACE = 'No space left on device'


class DiskFullError(ValueError):
    """The disk filled up mid-run; the message names where and what was saved."""


def causes(error: BaseException) -> list[BaseException]:
    """The disk-full errors in `error`'s chain of causes, the first raised first."""
    found, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)) or (
            NO_SPACE in str(error)
        ):
            found.append(error)
        error = error.__cause__ or error.__context__
    return found[::-1]


def _where(errors: list[BaseException], workdir: str) -> str:
    """The first file that could not be written, as far as the errors name one."""
    for error in errors:
        if isinstance(error, OSError) and error.filename:
            return str(error.filename)
        for path in re.findall(r'(/[^"\s;:]+)', str(error)):
            if path.startswith(os.path.abspath(workdir)):
                return path
    return workdir


def _last_checkpoint(workdir: str) -> int | None:
    """The latest complete checkpoint's step (orbax renames a step's folder once complete)."""
    directory = os.path.join(workdir, 'checkpoints')
    steps = (
        [int(n) for n in os.listdir(directory) if n.isdigit()] if os.path.isdir(directory) else []
    )
    return max(steps, default=None)


def message(errors: list[BaseException], workdir: str) -> str:
    """The one line: what could not be written, what was saved, what to do."""
    step = _last_checkpoint(workdir)
    saved = (
        f'the last complete checkpoint is step {step} in {os.path.join(workdir, "checkpoints")}, '
        'which a rerun resumes from'
        if step is not None
        else 'no checkpoint was saved, so a rerun starts over'
    )
    return (
        f'disk full: could not write {_where(errors, workdir)} ({NO_SPACE}); {saved}: free '
        f'some space in {workdir} and rerun'
    )


@contextlib.contextmanager
def reported(workdir: str) -> Iterator[None]:
    """Re-raises a disk-full error escaping the block as one `DiskFullError` line."""
    try:
        yield
    except Exception as e:
        full = causes(e)
        if not full:
            raise
        raise DiskFullError(message(full, workdir)) from None
