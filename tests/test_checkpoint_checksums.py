"""A checksum per saved array: a checkpoint whose bytes changed at the same size (a bit flip on
disk) is damage, passed over for the one before as a truncated checkpoint is."""

import glob
import json
import logging
import os
import shutil

import numpy as np
import pytest

from lineage import checkpoint, train
from tests.test_faults import STEPS, finished, rerun_equals, tiny_config  # noqa: F401


def flip(path, count=400):
    """Inverts `count` bytes in the middle of `path`: the size stays, the content does not."""
    with open(path, 'r+b') as f:
        data = bytearray(f.read())
        middle = len(data) // 2 - count // 2
        data[middle : middle + count] = bytes(b ^ 0xFF for b in data[middle : middle + count])
        f.seek(0)
        f.write(data)


def record_of(workdir, step):
    with open(os.path.join(workdir, 'checkpoints', str(step), 'record', 'metadata')) as f:
        return json.load(f)


def test_each_checkpoint_records_a_checksum_per_array(finished):  # noqa: F811
    sums = record_of(finished[0], STEPS)['checksums']
    assert len(sums) > 10 and all(len(v) == 8 for v in sums.values())
    assert any('kernel' in key for key in sums)
    assert record_of(finished[0], 2)['checksums'] != sums  # trained between: other values


@pytest.fixture(scope='module')
def one_device(tmp_path_factory):
    """A finished run on one device: its arrays lie in the process's data file, where a flip
    restores without error (on 8 devices orbax reads a merged copy whose reads check it)."""
    workdir = str(tmp_path_factory.mktemp('one_device'))
    return workdir, train.train_and_evaluate(tiny_config(num_devices=1), workdir)


def test_a_bit_flip_is_damage_and_the_one_before_is_resumed(one_device, tmp_path, caplog):
    workdir = str(tmp_path / 'run')
    shutil.copytree(one_device[0], workdir)
    os.remove(os.path.join(workdir, 'results.json'))
    data = os.path.join(workdir, 'checkpoints', str(STEPS), 'state', 'ocdbt.process_0', 'd')
    largest = max(glob.glob(os.path.join(data, '*')), key=os.path.getsize)
    size = os.path.getsize(largest)
    flip(largest, count=size)  # all of it: the data are compressed, so a few bytes may be unread
    assert os.path.getsize(largest) == size
    with caplog.at_level(logging.WARNING):
        results = train.train_and_evaluate(tiny_config(num_devices=1), workdir)
    warnings = [r.getMessage() for r in caplog.records if 'is damaged (' in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f'checkpoint at step {STEPS} in {workdir}/checkpoints is damaged')
    # TensorStore's decompression sees this flip before the checksums do (the test below
    # checks those on arrays that decode); either way the step is damage.
    assert 'resumed from step 4 instead' in warnings[0]
    assert os.listdir(os.path.join(workdir, checkpoint.DAMAGED_DIR)) == [str(STEPS)]
    # Step 5 trained again from step 4: the uninterrupted run's result.
    assert results['correct'] == one_device[1]['correct']
    assert results['eval_loss'] == pytest.approx(one_device[1]['eval_loss'], rel=1e-6)


def test_arrays_that_disagree_with_their_checksum_are_damage(one_device, tmp_path, caplog):
    """The check itself, on arrays that decode: one recorded sum changed, as if the array's
    bytes had changed under it."""
    workdir = str(tmp_path / 'run')
    shutil.copytree(one_device[0], workdir)
    os.remove(os.path.join(workdir, 'results.json'))
    record = record_of(workdir, STEPS)
    key = sorted(k for k in record['checksums'] if 'kernel' in k)[0]
    record['checksums'][key] = format(int(record['checksums'][key], 16) ^ 1, '08x')
    with open(os.path.join(workdir, 'checkpoints', str(STEPS), 'record', 'metadata'), 'w') as f:
        json.dump(record, f)
    with caplog.at_level(logging.WARNING):
        results = train.train_and_evaluate(tiny_config(num_devices=1), workdir)
    warnings = [r.getMessage() for r in caplog.records if 'is damaged (' in r.getMessage()]
    assert len(warnings) == 1 and 'ValueError: checksum mismatch in ' in warnings[0], warnings
    assert 'resumed from step 4 instead' in warnings[0]
    assert results['correct'] == one_device[1]['correct']


def test_a_checkpoint_without_checksums_still_restores(finished, tmp_path):  # noqa: F811
    """Checkpoints written before checksums were kept resume as they did."""
    workdir = str(tmp_path / 'run')
    shutil.copytree(finished[0], workdir)
    shutil.rmtree(os.path.join(workdir, 'checkpoints', str(STEPS)))
    path = os.path.join(workdir, 'checkpoints', '4', 'record', 'metadata')
    record = record_of(workdir, 4)
    record.pop('checksums', None)
    with open(path, 'w') as f:
        json.dump(record, f)
    results = rerun_equals(finished, workdir)
    assert np.isfinite(results['eval_loss'])
