"""Checkpoints in the workdir (orbax `CheckpointManager`): save, keep the last N, resume.

A checkpoint holds the whole train state, `nnx.state((model, optimizer))`: parameters,
BatchNorm statistics, the dropout RNG stream, optimizer state and its step count. The step fixes
the position in the data (`Dataset.train_batches(..., start_step)`), so a resumed run continues
exactly where the saved one was. Beside the state each checkpoint stores a small JSON record:
the model and data set that wrote it (refused if the config now asks for another), the time
trained so far and the machines that trained it.

Restoring goes straight into an abstract state (`jax.ShapeDtypeStruct`s carrying the target
shardings), so nothing is initialized only to be overwritten, and every array lands replicated
on the mesh as the train step expects.

Faults. orbax writes each checkpoint into `<step>.orbax-checkpoint-tmp` and renames it to
`<step>` once complete, so a process killed mid-write (kill -9, power) leaves at worst a tmp
folder, which `latest_step` never lists and the next writer removes. A finished checkpoint that
was damaged afterwards (truncated or missing files, or bytes changed at the same size, which
the crc32 of each array kept in the record finds) fails to restore: `resume` then takes the
one before it, logs one line naming both, and moves the damaged one to `checkpoints_damaged/`
(the step is trained and saved again). When no checkpoint restores, it says so in one line.
`probe` finds an unwritable or full workdir before any training (lineage/workdir_probe.py);
SIGTERM handling is lineage/preemption.py.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging as std_logging
import os
import shutil
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from jax.experimental import multihost_utils

from lineage import array_checksums
from lineage.workdir_probe import MIN_FREE_BYTES, probe_workdir

DAMAGED_DIR = 'checkpoints_damaged'
Loaded = TypeVar('Loaded')


def json_form(value: Any) -> Any:
    """The JSON form of `value`, so a fingerprint compares equal after a save and a load.

    A config holds tuples where the saved JSON holds lists: every comparison of a config with
    a saved fingerprint (here, and `lineage.init_from`) compares the JSON forms of both.
    """
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


class OtherModelError(ValueError):
    """The workdir's checkpoints were written for another model, data set, optimizer or
    training recipe."""


# What each top-level fingerprint key belongs to, for the refusal's wording (others: model).
_KINDS = {
    'data': 'data set',
    'num_classes': 'data set',
    'image_shape': 'data set',
    'optimizer': 'optimizer',
    'recipe': 'training recipe',
}


def _reason(error: BaseException) -> str:
    """An exception as one short line (tensorstore's messages run to pages)."""
    text = ' '.join(str(error).split())
    text = text if len(text) <= 160 else text[:157] + '...'
    return f'{type(error).__name__}: {text}'


class _AbandonedReadReports(std_logging.Filter):
    """asyncio's reports of an abandoned read: a task destroyed while pending, or a future (a
    task, or a gather of reads) that ended in an exception nobody retrieves."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        first_line = record.getMessage().partition('\n')[0]
        return not (
            first_line.startswith('Task was destroyed but it is pending')
            or first_line.endswith(' exception was never retrieved')
        )


def _quiet_coroutines(hook: Callable[[Any], None]) -> Callable[[Any], None]:
    """`hook` (a `sys.unraisablehook`) less its reports of coroutines collected unfinished."""

    def quiet(unraisable: Any) -> None:
        if not isinstance(unraisable.object, types.CoroutineType):
            hook(unraisable)

    quiet.quiets_coroutines = True
    return quiet


def _drop_abandoned_reads() -> None:
    """Silences, for the rest of the process, the reports of the reads a failed restore left in
    flight, and collects those that have ended.

    When one array of a damaged checkpoint fails to read, orbax's restore raises while the
    other reads are pending, and closes its event loop without cancelling them
    (orbax.checkpoint._src.asyncio_utils._run_sync_via_new_loop). Each, when collected, reports
    "Exception ignored in: <coroutine ...>" with a traceback, and asyncio may log "Task was
    destroyed but it is pending!" or, for a read that ended in an error meanwhile, "Task (or
    _GatheringFuture) exception was never retrieved" with its traceback: hundreds of lines around
    the one that names the damage. A read still in flight (tensorstore's threads, on a loaded
    machine) is collected any time later, up to the exit, so exactly those reports stay silenced
    from here on.
    """
    asyncio_logger = std_logging.getLogger('asyncio')
    if not any(isinstance(f, _AbandonedReadReports) for f in asyncio_logger.filters):
        asyncio_logger.addFilter(_AbandonedReadReports())
    if not getattr(sys.unraisablehook, 'quiets_coroutines', False):
        sys.unraisablehook = _quiet_coroutines(sys.unraisablehook)
    gc.collect()


def everywhere(ok: bool) -> bool:
    """Whether `ok` holds on every process (one all-gather when there are several)."""
    if jax.process_count() == 1:
        return ok
    return bool(np.all(multihost_utils.process_allgather(np.int32(ok))))


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
        self.fingerprint = json_form(fingerprint)
        self.keep = keep
        self._manager: ocp.CheckpointManager | None = None
        self.saved_step: int | None = None

    @contextlib.contextmanager
    def _reader(self) -> Iterator[ocp.CheckpointManager | None]:
        """A read-only manager of the checkpoints (None: no checkpoint folder), closed after."""
        if not os.path.isdir(self.directory):
            yield None
            return
        reader = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(read_only=True, create=False)
        )
        try:
            yield reader
        finally:
            reader.close()

    def _record(self, reader: ocp.CheckpointManager, step: int) -> dict[str, Any]:
        """The JSON record saved at `step`; refuses one written for another model."""
        record = reader.restore(step, args=ocp.args.Composite(record=ocp.args.JsonRestore()))
        record = dict(record['record'])
        found = record.get('fingerprint', {})
        # Only the keys both hold are compared: another lineage version may have written fewer
        # keys, or keys since retired. A record with no fingerprint at all is refused.
        shared = set(found) & set(self.fingerprint) if found else set(self.fingerprint)
        found = {k: v for k, v in found.items() if k in shared}
        mine = {k: v for k, v in self.fingerprint.items() if k in shared}
        if found != mine:
            keys = {k for k in set(found) | set(mine) if found.get(k) != mine.get(k)}
            kinds = {_KINDS.get(k, 'model') for k in keys}
            order = ('model', *dict.fromkeys(_KINDS.values()))
            what = ' and '.join(k for k in order if k in kinds)
            diff = '; '.join(_differences(found, mine)) or 'no record'
            raise OtherModelError(
                f'{self.workdir} holds checkpoints of another {what} ({diff}); pass another '
                f'--workdir, or delete {self.directory} to start over'
            )
        return record

    def _unusable(self, failures: list[tuple[int, str]]) -> ValueError:
        tried = '; '.join(f'step {step}: {reason}' for step, reason in failures)
        return ValueError(
            f'no checkpoint in {self.directory} can be restored ({tried}); delete '
            f'{self.directory} to start over, or pass another --workdir'
        )

    def _newest_first(
        self, load: Callable[[ocp.CheckpointManager, int], Loaded], on_all: bool
    ) -> tuple[int, Loaded | None, list[tuple[int, str]]]:
        """Tries `load(reader, step)` on each saved step, newest first, until one succeeds.

        Args:
          load: reads what the caller needs of one step; any exception means the step is
            damaged, except `OtherModelError`, which is raised.
          on_all: a step counts only if it loaded on every process.

        Returns:
          (step, what `load` returned, the newer steps that failed with why); (0, None, [])
          when there is no checkpoint.

        Raises:
          ValueError: checkpoints of another model, or none loads.
        """
        failures: list[tuple[int, str]] = []
        with self._reader() as reader:
            for step in sorted(reader.all_steps() if reader else (), reverse=True):
                loaded, reason = None, ''
                try:
                    loaded = load(reader, step)
                except OtherModelError:
                    raise
                except Exception as e:  # noqa: BLE001 (any failure to read means: damaged)
                    reason = _reason(e)
                if reason:  # the failure (and its traceback's frames) released: collect now
                    _drop_abandoned_reads()
                if everywhere(not reason) if on_all else not reason:
                    return step, loaded, failures
                failures.append((step, reason or 'failed on another process'))
        if failures:
            raise self._unusable(failures)
        return 0, None, []

    def check(self) -> tuple[int, dict[str, Any]]:
        """Reads (without writing anything) the latest readable checkpoint's step and record.

        A checkpoint whose record does not read is passed over for the one before it (`resume`
        reports it).

        Returns:
          (step, record); (0, {}) when there is no checkpoint yet.

        Raises:
          ValueError: the checkpoint was written for another model, data set or optimizer,
            there are checkpoints and none of their records reads, or `checkpoints` is a file.
        """
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise ValueError(
                f'{self.directory} is a file, not the folder of checkpoints; move it away, or '
                'pass another --workdir'
            )
        step, record, _ = self._newest_first(self._record, on_all=False)
        return step, record or {}

    def resume(self, abstract_state: Any) -> tuple[int, Any, dict[str, Any]]:
        """The latest checkpoint that restores, as (step, state, record).

        Checkpoints after it that fail to restore (truncated or missing files) are named in one
        warning beside the step resumed from, and moved to `<workdir>/checkpoints_damaged/`:
        the run trains those steps again and saves them anew. All processes restore; a
        checkpoint counts as restored only if it did on every process.

        Args:
          abstract_state: a pytree of `jax.ShapeDtypeStruct` with `sharding` set.

        Returns:
          (step, state, record); (0, None, {}) when there is no checkpoint.

        Raises:
          ValueError: checkpoints of another model, or none restores (one line naming the
            steps tried and why each failed).
        """

        def restore(reader: ocp.CheckpointManager, step: int) -> tuple[Any, dict[str, Any]]:
            record = self._record(reader, step)
            # Without it orbax guesses the tree and fails with a baffling structure error.
            metadata = os.path.join(self.directory, str(step), 'state', '_METADATA')
            if not os.path.exists(metadata):
                raise FileNotFoundError(f'{metadata} is missing')
            args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state))
            state = reader.restore(step, args=args)['state']
            array_checksums.verify(state, record.get('checksums'))
            return state, record

        step, loaded, failures = self._newest_first(restore, on_all=True)
        if loaded is None:
            return 0, None, {}
        if failures:
            self._set_aside([s for s, _ in failures])
            logging.warning(
                'checkpoint at step %s in %s is damaged (%s); resumed from step %d instead '
                '(the damaged one is now in %s)',
                ', '.join(str(s) for s, _ in failures),
                self.directory,
                '; '.join(r for _, r in failures),
                step,
                os.path.join(self.workdir, DAMAGED_DIR),
            )
        self.saved_step = step
        state, record = loaded
        return step, state, record

    def _set_aside(self, steps: list[int]) -> None:
        """Moves damaged step folders out of orbax's sight (process 0; the others wait)."""
        if jax.process_index() == 0:
            target = os.path.join(self.workdir, DAMAGED_DIR)
            os.makedirs(target, exist_ok=True)
            for step in steps:
                dest = os.path.join(target, str(step))
                shutil.rmtree(dest, ignore_errors=True)  # an older copy of the same step
                os.replace(os.path.join(self.directory, str(step)), dest)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices('lineage:checkpoints_set_aside')

    @property
    def manager(self) -> ocp.CheckpointManager:
        if self._manager is None:
            self._manager = ocp.CheckpointManager(
                self.directory,
                options=ocp.CheckpointManagerOptions(
                    max_to_keep=self.keep,
                    create=True,
                    # Tmp folders of writes a kill interrupted: never listed as steps, removed.
                    cleanup_tmp_directories=True,
                ),
            )
        return self._manager

    def probe(self, abstract_state: Any) -> None:
        """`probe_workdir` with room for this run's checkpoints (`keep` + 1 being written)."""
        state_bytes = sum(
            int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize
            for x in jax.tree.leaves(abstract_state)
            if hasattr(x, 'dtype') and not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
        )
        probe_workdir(self.workdir, MIN_FREE_BYTES + (self.keep + 1) * state_bytes)

    def save(
        self, step: int, state: Any, elapsed_s: float, hosts: Sequence[dict[str, Any]] = ()
    ) -> None:
        """Saves `state` at `step` (asynchronously; the arrays are copied before it returns).

        `elapsed_s` (the time trained so far) and `hosts` (the machines that trained it, as
        `metrics.host_info` names them) go into the JSON record beside the state.
        """
        if step == self.saved_step:
            return
        record = {
            'fingerprint': self.fingerprint,
            'step': step,
            'elapsed_s': elapsed_s,
            'hosts': list(hosts),
            'checksums': array_checksums.of(state),
        }
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
