"""Faults a run survives, end to end through `train_and_evaluate`.

- a write cut short (what kill -9 during a checkpoint leaves: orbax's `<step>.orbax-checkpoint-
  tmp` folder) is ignored and cleaned; the run resumes from the last complete checkpoint;
- a damaged latest checkpoint (truncated or missing files) is passed over for the one before,
  with one warning naming both, and the rerun ends exactly as the uninterrupted run did;
- no checkpoint restores: one error naming each step and why, nothing changed;
- an unwritable or full workdir: one error before any training;
- a corrupt file in an image folder (not an image, or one cut short): skipped and counted, or
  rejected by name;
- a workdir trained on another data set or with another optimizer: refused in one line naming
  the fields that differ, nothing written; one whose data set moved resumes.

A real kill -9 at random moments is `experiments/bench/kill9_resume_check.py`, kept out of the
suite: even one trial is three launches of the command line (minutes on a loaded CPU). The
tmp-folder case below is what its kills mid-write leave.
"""

import errno
import glob
import io
import json
import logging
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from lineage import checkpoint, train, workdir_lock, workdir_probe
from lineage.data import dataset_config
from tests.tiny import STEPS, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def losses(workdir):
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
        return {r['step']: r['loss'] for r in map(json.loads, f) if 'loss' in r}


def snapshot(directory):
    """Every file's size and mtime, but the lock file's (it names the last run to hold it)."""
    out = {}
    for root, _, files in os.walk(directory):
        for name in files:
            if name == workdir_lock.LOCK_FILE:
                continue
            path = os.path.join(root, name)
            st = os.stat(path)
            out[os.path.relpath(path, directory)] = (st.st_size, st.st_mtime_ns)
    return out


def truncate(path):
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    """An uninterrupted run: checkpoints at steps 2, 4 and 5, and its results."""
    workdir = str(tmp_path_factory.mktemp('finished'))
    results = train.train_and_evaluate(tiny_config(), workdir)
    assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2', '4', '5']
    return workdir, results


def rerun_equals(finished, workdir):
    """Reruns `workdir` and checks it ends exactly as the uninterrupted run."""
    reference, expected = finished
    results = train.train_and_evaluate(tiny_config(), workdir)
    assert list(losses(workdir)) == list(range(1, STEPS + 1))
    np.testing.assert_allclose(
        list(losses(workdir).values()), list(losses(reference).values()), rtol=1e-6
    )
    assert results['correct'] == expected['correct']
    assert results['eval_loss'] == pytest.approx(expected['eval_loss'], rel=1e-6)
    assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2', '4', '5']
    return results


def cut_short(workdir, step):
    """Turns a finished checkpoint back into the tmp folder of a write that was killed."""
    final = os.path.join(workdir, 'checkpoints', str(step))
    tmp = final + '.orbax-checkpoint-tmp'
    os.rename(final, tmp)
    for path in glob.glob(os.path.join(tmp, 'state', 'ocdbt.process_0', 'd', '*')):
        truncate(path)
    os.remove(os.path.join(tmp, 'state', '_METADATA'))  # never got this far


def test_write_cut_short_is_ignored_and_cleaned(finished, tmp_path, caplog):
    workdir = str(tmp_path / 'run')
    shutil.copytree(finished[0], workdir)
    cut_short(workdir, STEPS)
    with caplog.at_level(logging.INFO):
        rerun_equals(finished, workdir)
    messages = [r.getMessage() for r in caplog.records]
    assert any(f'resumed from step 4 of {STEPS}' in m for m in messages)
    assert not any('is damaged (' in m for m in messages)  # an unfinished write is not damage
    assert not any('tmp' in name for name in os.listdir(os.path.join(workdir, 'checkpoints')))


DAMAGE = {
    # Data files: the processes' and the merged index (which holds small arrays inline).
    'truncated arrays': lambda d: [
        truncate(p) for p in glob.glob(os.path.join(d, 'state', '**', 'd', '*'), recursive=True)
    ],
    'missing array metadata': lambda d: os.remove(os.path.join(d, 'state', '_METADATA')),
    'missing record': lambda d: os.remove(os.path.join(d, 'record', 'metadata')),
    'truncated record': lambda d: truncate(os.path.join(d, 'record', 'metadata')),
}


@pytest.mark.parametrize('damage', sorted(DAMAGE))
def test_damaged_latest_is_skipped_for_the_one_before(finished, tmp_path, caplog, damage):
    workdir = str(tmp_path / 'run')
    shutil.copytree(finished[0], workdir)
    DAMAGE[damage](os.path.join(workdir, 'checkpoints', str(STEPS)))
    with caplog.at_level(logging.WARNING):
        rerun_equals(finished, workdir)
    warnings = [r.getMessage() for r in caplog.records if 'is damaged (' in r.getMessage()]
    assert len(warnings) == 1, warnings  # one line, naming both steps
    assert warnings[0].startswith(f'checkpoint at step {STEPS} in {workdir}/checkpoints is damaged')
    assert 'resumed from step 4 instead' in warnings[0]
    # Set aside, not deleted: what was damaged can still be looked at.
    assert os.listdir(os.path.join(workdir, checkpoint.DAMAGED_DIR)) == [str(STEPS)]


def test_no_checkpoint_restores_is_one_error(finished, tmp_path):
    workdir = str(tmp_path / 'run')
    shutil.copytree(finished[0], workdir)
    for step in (2, 4, 5):
        os.remove(os.path.join(workdir, 'checkpoints', str(step), 'state', '_METADATA'))
    before = snapshot(workdir)
    with pytest.raises(ValueError) as error:
        train.train_and_evaluate(tiny_config(), workdir)
    message = str(error.value)
    assert '\n' not in message
    assert message.startswith(f'no checkpoint in {workdir}/checkpoints can be restored (step 5: ')
    assert '; step 4: FileNotFoundError: ' in message and '; step 2: ' in message, message
    assert message.endswith(
        f'delete {workdir}/checkpoints to start over, or pass another --workdir'
    )
    assert snapshot(workdir) == before


def test_no_record_reads_is_one_error_before_writing(finished, tmp_path):
    workdir = str(tmp_path / 'run')
    shutil.copytree(finished[0], workdir)
    for step in (2, 4, 5):
        truncate(os.path.join(workdir, 'checkpoints', str(step), 'record', 'metadata'))
    before = snapshot(workdir)
    with pytest.raises(ValueError, match=r'can be restored \(step 5: JSONDecodeError: '):
        train.train_and_evaluate(tiny_config(), workdir)
    assert snapshot(workdir) == before


def grayscale_folder(root, classes=10):
    """`classes` classes of two 16x16 grayscale PNGs per split: the digits' image shape."""
    rng = np.random.default_rng(0)
    for split in ('train', 'test'):
        for label in range(classes):
            os.makedirs(root / split / f'c{label}')
            for k in range(2):
                pixels = rng.integers(0, 256, (16, 16)).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / f'c{label}' / f'{k}.png')


def test_workdir_of_another_data_set_is_refused(finished, tmp_path):
    workdir = str(tmp_path / 'run')
    shutil.copytree(finished[0], workdir)
    grayscale_folder(tmp_path / 'data')
    before = snapshot(workdir)
    config = tiny_config(
        **{'dataset.name': 'image_folder', 'dataset.data_dir': str(tmp_path / 'data')}
    )
    with pytest.raises(ValueError) as error:
        train.train_and_evaluate(config, workdir)
    assert str(error.value) == (
        f'{workdir} holds checkpoints of another data set (data.eval: 360 there, 20 here; '
        "data.name: 'digits' there, 'image_folder' here; data.train: 1437 there, 20 here); "
        f'pass another --workdir, or delete {workdir}/checkpoints to start over'
    )
    assert snapshot(workdir) == before


def test_a_run_resumes_with_its_data_moved_but_not_with_other_data(tmp_path):
    """The data set is known by what it holds, not by its path."""
    grayscale_folder(tmp_path / 'here')
    workdir = str(tmp_path / 'run')
    config = tiny_config(
        **{'dataset.name': 'image_folder', 'dataset.data_dir': str(tmp_path / 'here')}
    )
    first = train.train_and_evaluate(config, workdir)
    os.rename(tmp_path / 'here', tmp_path / 'there')
    config.dataset.data_dir = str(tmp_path / 'there')
    assert train.train_and_evaluate(config, workdir)['top1'] == first['top1']
    os.remove(tmp_path / 'there' / 'train' / 'c0' / '0.png')
    before = snapshot(workdir)
    with pytest.raises(ValueError, match=r'another data set \(data.train: 20 there, 19 here\)'):
        train.train_and_evaluate(config, workdir)
    assert snapshot(workdir) == before


def test_workdir_of_another_optimizer_is_refused(finished, tmp_path):
    workdir = str(tmp_path / 'run')
    shutil.copytree(finished[0], workdir)
    before = snapshot(workdir)
    with pytest.raises(ValueError) as error:
        train.train_and_evaluate(tiny_config(**{'optimizer.name': 'adamw'}), workdir)
    message = str(error.value)
    assert message.startswith(f'{workdir} holds checkpoints of another optimizer ('), message
    assert "optimizer.name: 'sgd' there, 'adamw' here" in message
    assert snapshot(workdir) == before


def untouched(workdir):
    """Nothing of a run was written: no checkpoints, metrics or results."""
    if not os.path.exists(workdir):
        return True
    return not set(os.listdir(workdir)) & {'checkpoints', 'metrics.jsonl', 'results.json'}


def test_workdir_under_a_file_is_reported_before_training(tmp_path):
    (tmp_path / 'file').write_text('not a folder')
    workdir = str(tmp_path / 'file' / 'run')
    with pytest.raises(
        ValueError,
        match=rf'^workdir {workdir} is not writable \(Not a directory: .*\); pass a writable '
        r'--workdir$',
    ):
        train.train_and_evaluate(tiny_config(), workdir)


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes into read-only folders')
def test_read_only_workdir_is_reported_before_training(tmp_path):
    workdir = tmp_path / 'run'
    workdir.mkdir()
    workdir.chmod(0o500)
    try:
        with pytest.raises(ValueError, match=r'is not writable \(Permission denied: '):
            train.train_and_evaluate(tiny_config(), str(workdir))
    finally:
        workdir.chmod(0o700)
    assert untouched(str(workdir))


def test_full_disk_is_reported_before_training(tmp_path, monkeypatch):
    workdir = str(tmp_path / 'run')
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        workdir_probe.shutil, 'disk_usage', lambda path: usage._replace(free=3 * 2**20)
    )
    with pytest.raises(
        ValueError,
        match=rf'^workdir {workdir} has 3.0 MiB free, under the 16.\d MiB this run needs '
        r'\(checkpoints and logs\); free some space or pass another --workdir$',
    ):
        train.train_and_evaluate(tiny_config(), workdir)
    assert untouched(workdir)


def test_no_space_on_the_probe_write_is_reported_before_training(tmp_path, monkeypatch):
    workdir = str(tmp_path / 'run')

    def no_space(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(workdir_probe.os, 'write', no_space)
    with pytest.raises(
        ValueError,
        match=rf'^workdir {workdir} is full \(No space left on device\); free some space or '
        r'pass another --workdir$',
    ):
        train.train_and_evaluate(tiny_config(), workdir)
    monkeypatch.undo()
    assert os.listdir(workdir) == []  # not even the probe file is left


def image_folder(root, bad):
    """Two classes of small PNGs (12 train, 6 test per class) and the given bad files."""
    rng = np.random.default_rng(0)
    for split, count in (('train', 12), ('test', 6)):
        for label, name in enumerate(('circle', 'square')):
            os.makedirs(root / split / name)
            for k in range(count):
                pixels = rng.integers(0, 128, (8, 8, 3)) + 100 * label  # classes differ in mean
                Image.fromarray(pixels.astype(np.uint8)).save(root / split / name / f'{k}.png')
    for path, data in bad.items():
        (root / path).write_bytes(data)


def folder_config(root, **dataset):
    config = tiny_config(num_train_steps=2, batch_size=8)
    config.model.in_channels = 3
    config.dataset = dataset_config(
        name='image_folder', data_dir=str(root), image_size=8, preprocess='none', **dataset
    )
    return config


def cut_short_png() -> bytes:
    """The first 60% of a 16x16 noise PNG: a valid header and a body a download cut off."""
    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 256, (16, 16, 3), np.uint8)
    Image.fromarray(pixels).save(buffer, 'PNG')
    data = buffer.getvalue()
    return data[: len(data) * 6 // 10]


def scrambled_jpeg() -> bytes:
    """A 16x16 JPEG whose header and FF D9 end are intact and whose coded data is noise."""
    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 256, (16, 16, 3), np.uint8)
    Image.fromarray(pixels).save(buffer, 'JPEG', quality=95)
    data = bytearray(buffer.getvalue())
    sos = data.index(b'\xff\xda')  # start of scan: its header, then the coded data
    start, end = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], 'big'), len(data) - 2
    data[start:end] = np.random.default_rng(0).integers(0, 256, end - start, np.uint8).tobytes()
    return bytes(data)


BAD = {
    'train/circle/download.png': b'<html><body>503 Service Unavailable</body></html>',
    'test/square/empty.jpg': b'',
    'test/circle/cut.png': cut_short_png(),
    'test/square/scrambled.jpg': scrambled_jpeg(),
}


def test_corrupt_images_are_skipped_and_counted(tmp_path, caplog):
    image_folder(tmp_path / 'data', BAD)
    workdir = str(tmp_path / 'run')
    with caplog.at_level(logging.WARNING):
        results = train.train_and_evaluate(folder_config(tmp_path / 'data'), workdir)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    skipped = [w for w in warnings if w.startswith('image_folder: skipped')]
    assert len(skipped) == 2, warnings
    assert skipped[0].startswith('image_folder: skipped 1 files') and 'download.png' in skipped[0]
    # test: cut.png, empty.jpg, scrambled.jpg (which only decoding finds)
    assert skipped[1].startswith('image_folder: skipped 3 files')
    assert 'cut.png' in skipped[1]  # the first in sorted order
    assert results['num_eval'] == 12 and results['train_steps'] == 2  # every good image, once
    assert 0 <= results['correct'] <= 12


def test_corrupt_image_rejected_by_name_when_asked(tmp_path):
    image_folder(tmp_path / 'data', BAD)
    workdir = str(tmp_path / 'run')
    with pytest.raises(
        ValueError,
        match=r"^'.*/train/circle/download.png' is not a JPEG/PNG/BMP/GIF image, or is cut short "
        r'or corrupt \(1 such files in .*/train\); remove it, or set '
        r'--config.dataset.on_bad_image=skip$',
    ):
        train.train_and_evaluate(folder_config(tmp_path / 'data', on_bad_image='error'), workdir)
    assert not os.path.exists(workdir)


def test_image_corrupt_in_its_middle_rejected_by_name_before_training(tmp_path):
    image_folder(tmp_path / 'data', {'train/square/scrambled.jpg': scrambled_jpeg()})
    workdir = str(tmp_path / 'run')
    with pytest.raises(
        ValueError, match=r"^'.*/train/square/scrambled.jpg' is not a JPEG/PNG/BMP/GIF image, or "
    ):
        train.train_and_evaluate(folder_config(tmp_path / 'data', on_bad_image='error'), workdir)
    assert not os.path.exists(workdir)
