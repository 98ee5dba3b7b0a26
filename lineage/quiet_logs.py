"""What the commands (`lineage.main`, `lineage.evaluate`) leave out of their logs: libraries'
routine chatter and the echoes of faults the command already reports in one line."""

from __future__ import annotations

import logging as std_logging
import os
import sys
from typing import Any

from absl import logging

from lineage import disk_full


class QuietLibraries(std_logging.Filter):
    """Drops orbax's per-save INFO chatter (dozens of lines a checkpoint); keeps warnings.

    Also drops its save threads' errors and tracebacks when the disk is full (the run ends on
    one line that says so, lineage/disk_full.py); the two warnings every read-only manager
    gives ('Given directory is read only'): that is how checkpoints are inspected before a run
    writes, not a fault; and JAX's INFO line on every CPU or GPU run that it found no TPU
    (libtpu).
    """

    def filter(self, record: std_logging.LogRecord) -> bool:
        if record.levelno < std_logging.WARNING and "backend 'tpu'" in record.getMessage():
            return False
        if f'{os.sep}orbax{os.sep}' not in record.pathname:
            return True
        message = record.getMessage()
        if disk_full.NO_SPACE in message or (
            record.exc_info and disk_full.causes(record.exc_info[1])
        ):
            return False  # its save threads' tracebacks: the run's one line reports a full disk
        return record.levelno >= std_logging.WARNING and not (
            'read only' in message or 'read_only=True' in message
        )


def quiet_closed_loop(unraisable: Any) -> None:
    """Drops 'Event loop is closed' from TensorStore's threads; reports anything else.

    When a damaged checkpoint fails to restore, orbax closes its event loop while TensorStore
    reads of the same checkpoint are still in flight; each then reports, from its own thread,
    that it cannot call back: dozens of tracebacks around the one line that names the damage.
    """
    error = unraisable.exc_value
    if isinstance(error, RuntimeError) and str(error) == 'Event loop is closed':
        return
    sys.__unraisablehook__(unraisable)


def install() -> None:
    """Filters the absl handler (`QuietLibraries`) and drops TensorStore's closed-loop echoes."""
    logging.get_absl_handler().addFilter(QuietLibraries())
    sys.unraisablehook = quiet_closed_loop
