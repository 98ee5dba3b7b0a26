"""Image folders that would train to a meaningless result, or crash, are refused or skipped."""

import logging
import os

import pytest

from lineage import train
from lineage.data import build_dataset
from lineage.data import dataset_config as data_config
from tests.test_input_faults import folder, folder_config


def dataset_config(root, **fields):
    return data_config(name='image_folder', data_dir=str(root), image_size=8, **fields)


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
