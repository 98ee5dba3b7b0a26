"""Bad input that is found before any training, with one line naming it and the fix."""

import os

import ml_collections
import numpy as np
import pytest
from PIL import Image

from configs import default
from lineage import plan, train
from lineage.data import build_dataset, dataset_config
from tests.test_faults import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def folder(root, counts):
    """`{split: {class: number of 8x8 PNGs}}` under `root`; a count of 0 is an empty folder."""
    for split, classes in counts.items():
        for name, count in classes.items():
            os.makedirs(root / split / name)
            for k in range(count):
                Image.fromarray(np.full((8, 8, 3), 30 * k, np.uint8)).save(
                    root / split / name / f'{k}.png'
                )


def folder_config(root):
    config = tiny_config(num_train_steps=2, batch_size=8)
    config.model.in_channels = 3
    config.dataset = dataset_config(
        name='image_folder', data_dir=str(root), image_size=8, preprocess='none'
    )
    return config


def test_empty_eval_split_is_found_before_training(tmp_path):
    folder(tmp_path / 'data', {'train': {'a': 8, 'b': 8}, 'test': {'a': 0, 'b': 0}})
    workdir = tmp_path / 'run'
    with pytest.raises(ValueError) as error:
        train.train_and_evaluate(folder_config(tmp_path / 'data'), str(workdir))
    assert str(error.value) == (
        'image_folder:data: the eval split is empty (0 examples); give it images, or set '
        '--config.dataset.eval_split'
    )
    assert not workdir.exists()


def test_empty_train_split_is_found_before_training(tmp_path):
    folder(tmp_path / 'data', {'train': {'a': 0, 'b': 0}, 'test': {'a': 2, 'b': 2}})
    workdir = tmp_path / 'run'
    with pytest.raises(ValueError, match=r"^image folder '.*' has no images under 'train'"):
        train.train_and_evaluate(folder_config(tmp_path / 'data'), str(workdir))
    assert not workdir.exists()


def test_checkpoints_that_is_a_file_is_found_before_training(tmp_path):
    (tmp_path / 'checkpoints').write_text('not a folder')
    with pytest.raises(ValueError) as error:
        train.train_and_evaluate(tiny_config(), str(tmp_path))
    assert str(error.value) == (
        f'{tmp_path}/checkpoints is a file, not the folder of checkpoints; move it away, or pass '
        'another --workdir'
    )
    assert sorted(os.listdir(tmp_path)) == ['checkpoints']


def test_config_without_the_standard_fields_is_one_line(tmp_path):
    config = ml_collections.ConfigDict({'model': {'name': 'ladder'}, 'seed': 0})
    with pytest.raises(ValueError) as error:
        train.train_and_evaluate(config, str(tmp_path / 'run'))
    message = str(error.value)
    assert message.startswith('the config has no dataset.name, batch_size, num_epochs, '), message
    assert message.endswith(
        'distributed; every config sets the fields of configs/default.py (a variant imports it '
        'and changes a few)'
    )
    assert not (tmp_path / 'run').exists()


def test_every_config_file_has_the_standard_fields():
    plan.check_fields(default.get_config())
    names = sorted(f for f in os.listdir(os.path.join(ROOT, 'configs')) if f.endswith('.py'))
    for name in names:
        module = __import__(f'configs.{name[:-3]}', fromlist=['get_config'])
        get_config = getattr(module, 'get_config', None)  # recipe.py holds shared frames
        if get_config and get_config.__code__.co_argcount == 0:  # sweeps take an argument
            plan.check_fields(get_config())


def test_a_batch_larger_than_the_train_split_is_refused(tmp_path):
    # An epoch would be less than one step: 8 epochs of 2,048 digits would train 8 steps, 11
    # passes over the 1,437 train images, and warmup_epochs would count steps as epochs.
    workdir = tmp_path / 'run'
    with pytest.raises(ValueError) as error:
        train.train_and_evaluate(
            tiny_config(batch_size=2048, num_train_steps=-1, num_epochs=8.0), str(workdir)
        )
    assert str(error.value) == (
        '--config.batch_size=2048 is larger than the train split of digits (1,437 examples), so '
        'an epoch would be less than one step; give a batch of at most 1437'
    )
    assert not workdir.exists()


def test_epochs_are_whole_train_steps_over_steps_per_epoch(tmp_path):
    # 1,437 digits in batches of 256: 5 steps an epoch (the partial sixth batch is not one).
    results = train.train_and_evaluate(
        tiny_config(batch_size=256, num_train_steps=7), str(tmp_path)
    )
    assert results['epochs'] == pytest.approx(7 / 5)


@pytest.mark.parametrize(
    'name, field, value',
    [
        ('digits', 'normalize', 'inception'),
        ('digits', 'grayscale_to_rgb', True),
        ('image_folder', 'shuffle_buffer', 500),
        ('cifar10', 'cache', False),
        ('mnist', 'on_bad_image', 'error'),
    ],
)
def test_a_field_the_data_set_does_not_read_is_refused(name, field, value):
    # The run would otherwise go on without it: the digits are not normalized per channel, an
    # image folder shuffles fully by index, and TFDS records are never decoded into the cache.
    config = dataset_config(name=name, image_size=16, **{field: value})
    with pytest.raises(ValueError) as error:
        build_dataset(config)
    assert str(error.value) == (
        f'--config.dataset.{field}={value!r} is not read by the {name} data set; leave it at '
        f'{dataset_config()[field]!r}, or set --config.dataset.name to a data set that reads it '
        '(lineage/data/config.py)'
    )


def test_a_field_at_its_default_is_not_refused():
    # Every field is in every config (so any can be set on the command line): at its default,
    # whatever its spelling, it passes whether the data set reads it or not.
    config = dataset_config(name='digits', image_size=16, mean=[], cache=True, max_shift=1)
    assert build_dataset(config).image_shape == (16, 16, 1)


@pytest.mark.parametrize('name', ['digits', 'image_folder', 'cifar10'])
def test_a_negative_image_size_is_refused_before_the_data_is_read(name):
    # It reached the model before: "ladder does not take images of shape (-4, -4, 3)".
    with pytest.raises(ValueError) as error:
        build_dataset(dataset_config(name=name, data_dir='/nonexistent', image_size=-4))
    assert str(error.value) == (
        '--config.dataset.image_size=-4: give the size to train at (1 or more), or 0 for the '
        "data's own"
    )
