"""A damaged checkpoint's restore ends on the one recovery line: the reads it abandons are quiet.

When one array of a checkpoint fails to read, orbax's restore raises while the other reads are
still in flight, and closes its event loop without cancelling them
(`orbax.checkpoint._src.asyncio_utils._run_sync_via_new_loop`). Each abandoned read, once
collected, reports from asyncio ("Task was destroyed but it is pending!", or "Task exception
was never retrieved", or "_GatheringFuture exception was never retrieved", for a read that failed
too) and from Python ("Exception ignored in:
<coroutine ...>"): on a large checkpoint, hundreds of lines around the one that names the damage,
some of them at any later time (a read still in flight is collected when it ends).
`abandoned_reads` does what orbax does, with reads that never end and one that fails unheard.
"""

import asyncio
import gc
import logging
import os
import shutil
import sys

import orbax.checkpoint as ocp

from tests.test_faults import STEPS, finished, rerun_equals  # noqa: F401 (a fixture)


def abandoned_reads():
    """Five reads of which three fail: one fails the restore, the errors of the other two nobody
    retrieves (one a task's, one a gather's), and two are left pending on a closed loop."""

    async def read():
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0)  # a clean-up that awaits: closing the coroutine raises

    async def damaged():
        await asyncio.sleep(0)
        raise ValueError('DATA_LOSS: Error reading "0.blocks.0.conv1.kernel.value"')

    async def restore():
        unheard = asyncio.ensure_future(damaged())  # noqa: F841 (ends in an error nobody reads)
        unheard_gather = asyncio.gather(damaged())  # noqa: F841 (the same, as a _GatheringFuture)
        await asyncio.gather(read(), read(), damaged())

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(restore())
    finally:
        loop.close()


def abandoned_reads_caught():
    try:
        abandoned_reads()
    except ValueError:
        pass


def test_a_damaged_restore_prints_only_the_recovery_line(
    finished,  # noqa: F811
    tmp_path,
    monkeypatch,
    capfd,
    caplog,
):
    workdir = str(tmp_path / 'run')
    shutil.copytree(finished[0], workdir)
    restore = ocp.CheckpointManager.restore

    def damaged(self, step, *args, **kwargs):
        items = kwargs.get('args')
        if step == STEPS and items is not None and 'state' in items:
            abandoned_reads()
        return restore(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, 'restore', damaged)
    # Python's own hook, as a user's run has it (pytest's turns the reports into warnings); the
    # quieting stays for the rest of a process, so this test's asyncio filters are its own.
    monkeypatch.setattr(sys, 'unraisablehook', sys.__unraisablehook__)
    monkeypatch.setattr(logging.getLogger('asyncio'), 'filters', [])
    capfd.readouterr()
    with caplog.at_level(logging.WARNING):
        rerun_equals(finished, workdir)
        gc.collect()  # whatever was left for later reports now
    err = capfd.readouterr().err
    assert 'Exception ignored' not in err and 'coroutine' not in err, err[-3000:]
    messages = [r.getMessage() for r in caplog.records]
    assert not any(m.startswith('Task ') or 'never retrieved' in m for m in messages), messages
    # A read that ends later, and is collected later, reports nothing either.
    with caplog.at_level(logging.WARNING):
        abandoned_reads_caught()
        gc.collect()
    assert 'Exception ignored' not in capfd.readouterr().err
    assert not any(
        r.getMessage().startswith('Task ') or 'never retrieved' in r.getMessage()
        for r in caplog.records
    )
    damage = [m for m in messages if 'is damaged (' in m]
    assert len(damage) == 1 and 'ValueError: DATA_LOSS' in damage[0], damage
    assert os.listdir(os.path.join(workdir, 'checkpoints_damaged')) == [str(STEPS)]
