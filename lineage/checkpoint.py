"""Checkpoints in the workdir (orbax `CheckpointManager`): save, keep the last N, resume, SIGTERM.

A checkpoint holds the whole train state, `nnx.state((model, optimizer))`: parameters,
BatchNorm statistics, the dropout RNG stream, optimizer state and its step count. The step fixes
the position in the data (`Dataset.train_batches(..., start_step)`), so a resumed run continues
exactly where the saved one was. Beside the state each checkpoint stores a small JSON record:
the model and data set that wrote it (refused if the config now asks for another) and the time
trained so far.

Restoring goes straight into an abstract state (`jax.ShapeDtypeStruct`s carrying the target
shardings), so nothing is initialized only to be overwritten, and every array lands replicated
on the mesh as the train step expects.

Preemption: a TPU VM gets SIGTERM before it goes away. In one process, `Preemption` turns the
signal into a flag the loop polls between steps; across processes, JAX's preemption sync point
(`multihost_utils.reached_preemption_sync_point`) makes every host stop at the same step.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Any

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils


def _plain(value: Any) -> Any:
    """The JSON form of `value`, so a fingerprint compares equal after a save and a load."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _differences(old: Any, new: Any, prefix: str = '') -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _differences(old.get(key), new.get(key), f'{prefix}{key}.')
        return out
    if old != new:
        return [f'{prefix.rstrip(".")}: {old!r} there, {new!r} here']
    return []


class Checkpoints:
    """The run's checkpoints under `<workdir>/checkpoints`.

    Args:
      workdir: the run's directory.
      fingerprint: what the train state depends on (model config, classes, input shape);
        a checkpoint written under another fingerprint is refused.
      keep: how many of the latest checkpoints to keep.
    """

    def __init__(self, workdir: str, fingerprint: dict[str, Any], keep: int):
        self.workdir = workdir
        self.directory = os.path.abspath(os.path.join(workdir, 'checkpoints'))
        self.fingerprint = _plain(fingerprint)
        self.keep = keep
        self._manager: ocp.CheckpointManager | None = None
        self.saved_step: int | None = None

    def _reader(self) -> ocp.CheckpointManager | None:
        if not os.path.isdir(self.directory):
            return None
        return ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(read_only=True, create=False)
        )

    def check(self) -> tuple[int, dict[str, Any]]:
        """Reads (without writing anything) the latest checkpoint's step and record.

        Returns:
          (step, record); (0, {}) when there is no checkpoint yet.

        Raises:
          ValueError: the checkpoint was written for another model or data set.
        """
        reader = self._reader()
        step = reader.latest_step() if reader else None
        if step is None:
            return 0, {}
        record = reader.restore(step, args=ocp.args.Composite(record=ocp.args.JsonRestore()))
        record = dict(record['record'])
        found = record.get('fingerprint', {})
        if found != self.fingerprint:
            diff = '; '.join(_differences(found, self.fingerprint)) or 'no record'
            raise ValueError(
                f'{self.workdir} holds checkpoints of another model ({diff}); pass another '
                f'--workdir, or delete {self.directory} to start over'
            )
        return step, record

    @property
    def manager(self) -> ocp.CheckpointManager:
        if self._manager is None:
            self._manager = ocp.CheckpointManager(
                self.directory,
                options=ocp.CheckpointManagerOptions(max_to_keep=self.keep, create=True),
            )
        return self._manager

    def restore(self, step: int, abstract_state: Any) -> Any:
        """The train state saved at `step`, placed as `abstract_state`'s shardings say.

        Args:
          step: a saved step (from `check`).
          abstract_state: a pytree of `jax.ShapeDtypeStruct` with `sharding` set.
        """
        restored = self.manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state))
        )
        self.saved_step = step
        return restored['state']

    def save(self, step: int, state: Any, elapsed_s: float) -> None:
        """Saves `state` at `step` (asynchronously; the arrays are copied before it returns)."""
        if step == self.saved_step:
            return
        record = {'fingerprint': self.fingerprint, 'step': step, 'elapsed_s': elapsed_s}
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), record=ocp.args.JsonSave(record)
            ),
            force=True,
        )
        self.saved_step = step

    def close(self) -> None:
        """Waits for pending writes; call before the process exits."""
        if self._manager is not None:
            self._manager.wait_until_finished()
            self._manager.close()
            self._manager = None


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
