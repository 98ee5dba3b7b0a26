"""The embedded digits data set: split, resizing, deterministic resumable stream, exact eval."""

import numpy as np
import pytest
from ml_collections import ConfigDict

from lineage.data import build_dataset, dataset_names
from lineage.data import digits as digits_lib


@pytest.fixture(scope='module')
def data():
    return build_dataset(ConfigDict({'name': 'digits', 'image_size': 16, 'max_shift': 2}))


def test_registered_and_split_sizes(data):
    assert 'digits' in dataset_names()
    assert (data.num_train, data.num_eval) == (1437, 360)
    assert data.image_shape == (16, 16, 1) and data.num_classes == 10


def test_split_is_stratified_and_fixed():
    _, train_y, _, test_y = digits_lib.load_digits(8)
    assert len(train_y) + len(test_y) == 1797
    # Every class holds 174-183 examples; stratification puts 20% (+-1) of each in test.
    counts = np.bincount(test_y, minlength=10)
    totals = counts + np.bincount(train_y, minlength=10)
    assert np.all(np.abs(counts - 0.2 * totals) <= 1)
    _, _, _, again = digits_lib.load_digits(32)
    np.testing.assert_array_equal(test_y, again)


def test_resize_matrix_is_bilinear():
    m = digits_lib.resize_matrix(8, 32)
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    ramp = np.arange(8.0)
    up = m @ ramp
    # Interior outputs interpolate the ramp linearly at half-pixel centres; edges clamp.
    np.testing.assert_allclose(up[2:-2], (np.arange(32)[2:-2] + 0.5) / 4 - 0.5)
    assert up[0] == 0 and up[-1] == 7


def test_train_stream_is_deterministic_and_resumable(data):
    first = [b for _, b in zip(range(30), data.train_batches(64, 3, 0), strict=False)]
    again = next(data.train_batches(64, 3, 0))
    np.testing.assert_array_equal(first[0]['image'], again['image'])
    resumed = next(data.train_batches(64, 3, 25))
    np.testing.assert_array_equal(first[25]['image'], resumed['image'])
    np.testing.assert_array_equal(first[25]['label'], resumed['label'])
    other = next(data.train_batches(64, 4, 0))
    assert not np.array_equal(first[0]['label'], other['label'])
    assert first[0]['image'].dtype == np.float32 and first[0]['label'].dtype == np.int32


def test_processes_slice_the_same_global_batch():
    cfg = ConfigDict({'name': 'digits', 'image_size': 8, 'max_shift': 1})
    whole = next(build_dataset(cfg).train_batches(12, 0, 5))
    parts = [next(build_dataset(cfg, p, 3).train_batches(4, 0, 5)) for p in range(3)]
    np.testing.assert_array_equal(np.concatenate([p['image'] for p in parts]), whole['image'])
    np.testing.assert_array_equal(np.concatenate([p['label'] for p in parts]), whole['label'])


def test_each_epoch_is_a_permutation():
    ids = np.arange(10, dtype=np.int32)
    images = ids.astype(np.float32)[:, None, None, None]
    stream = digits_lib.train_stream(images, ids, 4, 0, 0, 0, 1, 0)
    seen = np.concatenate([next(stream)['label'] for _ in range(5)])  # 20 = two epochs
    np.testing.assert_array_equal(np.sort(seen[:10]), ids)
    np.testing.assert_array_equal(np.sort(seen[10:]), ids)
    assert not np.array_equal(seen[:10], seen[10:])  # each epoch reshuffled


@pytest.mark.parametrize('processes,batch', [(1, 64), (1, 360), (3, 50), (8, 7)])
def test_eval_covers_each_example_once(processes, batch):
    cfg = ConfigDict({'name': 'digits', 'image_size': 8})
    _, _, test_x, _ = digits_lib.load_digits(8)
    seen, counts = [], []
    for p in range(processes):
        batches = list(build_dataset(cfg, p, processes).eval_batches(batch))
        counts.append(len(batches))
        for b in batches:
            assert b['image'].shape == (batch, 8, 8, 1)
            seen.append(b['image'][b['mask'] == 1])
    assert len(set(counts)) == 1  # every process takes the same number of eval steps
    np.testing.assert_array_equal(np.concatenate(seen), test_x)


def test_shift_moves_pixels():
    img = np.zeros((1, 4, 4, 1), np.float32)
    img[0, 1, 1] = 1
    out = digits_lib.shift(img, np.array([[1, -1]]), fill=-5.0)
    assert out[0, 2, 0, 0] == 1 and out[0, 0, 0, 0] == -5.0 and out.sum() == 1 - 5.0 * 7


@pytest.mark.parametrize(
    'field, value, message',
    [
        ('data_dir', '/data/cifar10', "data_dir='/data/cifar10' is not read by the digits"),
        ('eval_split', 'validation', "eval_split='validation': digits has one fixed train/test"),
        ('train_split', 'train[:90%]', "train_split='train[:90%]': digits has one fixed"),
    ],
)
def test_other_data_named_beside_digits_is_refused(field, value, message):
    # configs/default.py is digits: a folder given without --config.dataset.name would train on
    # the digits unnoticed.
    with pytest.raises(ValueError, match=f'^--config.dataset.{message}'.replace('[', r'\[')):
        build_dataset(ConfigDict({'name': 'digits', 'image_size': 16, field: value}))
    build_dataset(ConfigDict({'name': 'digits', 'image_size': 16, 'eval_split': 'test'}))


def test_image_size_0_is_the_native_8_and_below_8_is_refused():
    # 0 is "the data's own size" for every data set (lineage/data/config.py).
    assert build_dataset(ConfigDict({'name': 'digits', 'image_size': 0})).image_shape == (8, 8, 1)
    with pytest.raises(ValueError, match=r'^digits: image_size=7 is below the native 8; use 8 or'):
        build_dataset(ConfigDict({'name': 'digits', 'image_size': 7}))
