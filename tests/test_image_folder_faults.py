"""Image folders that would train to a meaningless result, or crash, are refused or skipped."""

import io
import logging
import os

import numpy as np
import pytest
from PIL import Image

from lineage import train
from lineage.data import build_dataset, image_check, image_folder
from lineage.data import dataset_config as data_config
from tests.test_input_faults import folder, folder_config


def dataset_config(root, **fields):
    return data_config(name='image_folder', data_dir=str(root), **{'image_size': 8, **fields})


@pytest.mark.parametrize(
    'counts',
    [
        {'train': {'cat': 8}, 'test': {'cat': 2}},  # one class folder
        {'train': {'cat': 8, 'dog': 0}, 'test': {'cat': 2, 'dog': 2}},  # two, one of them empty
    ],
)
def test_one_class_is_refused_in_one_line(tmp_path, counts):
    folder(tmp_path / 'data', counts)
    workdir = tmp_path / 'run'
    with pytest.raises(ValueError) as error:
        train.train_and_evaluate(folder_config(tmp_path / 'data'), str(workdir))
    assert str(error.value) == (
        f"image folder '{tmp_path / 'data'}' has train images of one class only ('cat'); a "
        'classifier needs two or more: give each class a folder of images under train/'
    )
    assert not workdir.exists()


def test_broken_and_looping_links_are_skipped_and_counted_and_folders_read_once(tmp_path, caplog):
    data = tmp_path / 'data'
    folder(data, {'train': {'a': 6, 'b': 6}, 'test': {'a': 2, 'b': 2}})
    folder(tmp_path / 'more', {'b': {'extra': 2}})  # outside the folder, linked into class b
    train_dir = data / 'train'
    os.symlink('nowhere.jpg', train_dir / 'a' / 'x.jpg')  # dangling
    os.symlink('self.jpg', train_dir / 'a' / 'self.jpg')  # a loop: stat fails with ELOOP
    os.symlink('.', train_dir / 'a' / 'loop')  # a folder link to its own folder
    os.symlink('..', train_dir / 'b' / 'up')  # ... to the split folder
    os.symlink('.', train_dir / 'loop')  # a "class" that is the split folder itself
    os.symlink(tmp_path / 'more' / 'b' / 'extra', train_dir / 'b' / 'extra')  # followed, once
    with caplog.at_level(logging.WARNING):
        dataset = build_dataset(dataset_config(data, preprocess='none'), 0, 1)
    assert (dataset.num_classes, dataset.num_train, dataset.num_eval) == (2, 14, 4)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    skipped = [w for w in warnings if w.startswith('image_folder: skipped')]
    assert len(skipped) == 1 and skipped[0].startswith('image_folder: skipped 2 files'), warnings
    assert f'(first: {train_dir}/a/self.jpg)' in skipped[0]
    loops = [w for w in warnings if w.startswith('image_folder: did not follow')]
    assert len(loops) == 1 and loops[0].startswith('image_folder: did not follow 3 folder links'), (
        warnings
    )
    with pytest.raises(ValueError) as error:
        build_dataset(dataset_config(data, preprocess='none', on_bad_image='error'), 0, 1)
    assert str(error.value) == (
        f"'{train_dir}/a/self.jpg' is a broken or looping link (2 such files in {train_dir}); "
        'remove it, or set --config.dataset.on_bad_image=skip'
    )


def jpeg_pair() -> tuple[bytes, bytes]:
    """A 16x16 JPEG, and the same bytes with the coded data scrambled: the same size, intact
    header and end marker, and no decode."""
    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 256, (16, 16, 3), np.uint8)
    Image.fromarray(pixels).save(buffer, 'JPEG', quality=95)
    good = buffer.getvalue()
    bad = bytearray(good)
    sos = bad.index(b'\xff\xda')  # start of scan: its header, then the coded data
    start, end = sos + 2 + int.from_bytes(bad[sos + 2 : sos + 4], 'big'), len(bad) - 2
    bad[start:end] = np.random.default_rng(0).integers(0, 256, end - start, np.uint8).tobytes()
    return good, bytes(bad)


def swap_keeping_size_and_mtime(path, data):
    """Replaces the file's bytes as a copy tool would, then `touch -r`s it to the old mtime."""
    before = os.stat(path)
    new = f'{path}.new'
    with open(new, 'wb') as f:
        f.write(data)
    os.replace(new, path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_a_file_swapped_at_the_same_size_and_mtime_is_checked_again(tmp_path):
    good, bad = jpeg_pair()
    split = tmp_path / 'train'
    os.makedirs(split)
    path = split / 'a.jpg'
    path.write_bytes(good)
    assert image_check.check_files(str(split), [str(path)], image_folder.is_image) == [True]
    swap_keeping_size_and_mtime(path, bad)
    assert image_check.check_files(str(split), [str(path)], image_folder.is_image) == [False]


@pytest.mark.parametrize('cache', [True, False])
def test_a_decode_failure_in_training_names_the_file(tmp_path, monkeypatch, cache):
    """A file that no longer decodes when the pipeline reads it (its check passed on other
    bytes) ends the run in one line naming it, with the decoded-image cache and without."""
    good, bad = jpeg_pair()
    data = tmp_path / 'data'
    for split, count in (('train', 9), ('test', 2)):
        for name in ('a', 'b'):
            os.makedirs(data / split / name)
            for k in range(count):
                (data / split / name / f'{k}.jpg').write_bytes(good)
    monkeypatch.setattr(image_check, 'check_files', lambda root, paths, quick: [True] * len(paths))
    (data / 'train' / 'b' / '4.jpg').write_bytes(bad)  # after a check that passed
    config = dataset_config(data, preprocess='none', cache=cache)
    with pytest.raises(ValueError) as error:
        dataset = build_dataset(config, 0, 1)
        for _ in zip(range(3), dataset.train_batches(6, seed=0), strict=False):  # every image, once
            pass
    assert str(error.value) == (
        f"'{data}/train/b/4.jpg' no longer decodes: it changed after the check before training; "
        'replace or remove it, then rerun'
    )
