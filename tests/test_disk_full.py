"""A disk that fills up mid-run: one line naming the file and the checkpoint saved; the rerun,
once space is freed, ends exactly as the uninterrupted run did."""

import errno
import os
import shutil

import pytest

from lineage import checkpoint, metrics, train
from lineage.disk_full import DiskFullError
from tests.test_faults import finished, rerun_equals, tiny_config  # noqa: F401 (a fixture)

NO_SPACE = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullFile:
    """A file on a full disk: writes fail as the kernel's do."""

    def write(self, data):
        raise NO_SPACE

    def flush(self):
        pass

    def close(self):
        pass


def test_disk_full_writing_metrics_is_one_line_and_the_rerun_is_exact(
    finished,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    workdir = str(tmp_path / 'run')
    write = metrics.Metrics.write

    def filling(self, step, scalars):
        if step == 3:
            self._file = FullFile()
        write(self, step, scalars)

    monkeypatch.setattr(metrics.Metrics, 'write', filling)
    with pytest.raises(DiskFullError) as error:
        train.train_and_evaluate(tiny_config(), workdir)
    assert str(error.value) == (
        f'disk full: could not write {workdir}/metrics.jsonl (No space left on device); the '
        f'last complete checkpoint is step 2 in {workdir}/checkpoints, which a rerun resumes '
        f'from: free some space in {workdir} and rerun'
    )
    monkeypatch.undo()
    rerun_equals(finished, workdir)


def test_disk_full_in_a_checkpoint_write_names_it(tmp_path, monkeypatch):
    workdir = str(tmp_path / 'run')
    save = checkpoint.Checkpoints.save

    def filling(self, step, *args):
        if step == 4:  # what TensorStore raises when orbax writes an array
            tmp = os.path.join(self.directory, f'{step}.orbax-checkpoint-tmp', 'state')
            raise ValueError(
                f'RESOURCE_EXHAUSTED: Error writing local file "{tmp}/_sharding": Failed to '
                'write 11171 bytes to file 8: No space left on device'
            )
        save(self, step, *args)

    monkeypatch.setattr(checkpoint.Checkpoints, 'save', filling)
    with pytest.raises(DiskFullError) as error:
        train.train_and_evaluate(tiny_config(), workdir)
    assert str(error.value).startswith(
        f'disk full: could not write {workdir}/checkpoints/4.orbax-checkpoint-tmp/state/_sharding '
        f'(No space left on device); the last complete checkpoint is step 2 in '
    )
    shutil.rmtree(workdir)
