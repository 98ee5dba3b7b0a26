"""Tests for lineage.data.tfds_dataset, offline: tiny data sets prepared here, and mock_data.

`store_as_tfds_dataset` writes real TFDS files (3 shards, so file shuffling is exercised) under
the names 'cifar10' and 'mnist', so the real readers run exactly as on a prepared data_dir.
The network is switched off for every test in this file.
"""

import collections
import socket

import numpy as np
import pytest
import tensorflow_datasets as tfds

from lineage.data import build_dataset, dataset_config
from lineage.data import tfds_dataset as td

TRAIN, TEST = 20, 9


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError('network is disabled in tests')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)


def store(name: str, data_dir: str, sizes: dict[str, int], shape) -> None:
    """Prepares `name` in `data_dir` with flat images whose grey level is the example id."""
    builder = tfds.builder(name, data_dir=data_dir, try_gcs=False)
    features = builder.info.features

    def examples(split, n, start):
        for i in range(start, start + n):
            example = {'image': np.full(shape, i, np.uint8), 'label': i % 10}
            if 'id' in features:
                example['id'] = f'{split}_{i}'
            yield i, example

    start, splits = 0, {}
    for split, n in sizes.items():
        splits[split] = list(examples(split, n, start))
        start += n
    tfds.dataset_builders.store_as_tfds_dataset(
        name=name,
        version=str(builder.version),
        config=builder.builder_config.name if builder.builder_config else None,
        features=features,
        split_datasets=splits,
        data_dir=data_dir,
        download_config=tfds.download.DownloadConfig(num_shards=3),
    )


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('tfds'))
    store('cifar10', root, {'train': TRAIN, 'test': TEST}, (32, 32, 3))
    store('mnist', root, {'train': TRAIN, 'test': TEST}, (28, 28, 1))
    store('imagenette', root, {'train': 8, 'validation': 3}, (40, 52, 3))  # sizes vary in TFDS
    return root


def build(data_dir, name='cifar10', process_index=0, process_count=1, **fields):
    config = dataset_config(name=name, data_dir=data_dir, **fields)
    return build_dataset(config, process_index, process_count)


def ids_of(images: np.ndarray) -> list[int]:
    return np.round(images.mean(axis=(1, 2, 3)) * 255).astype(int).tolist()


def test_prepared_data_dir_offline_sizes_and_exact_eval_over_two_processes(data_dir):
    parts = [build(data_dir, process_index=p, process_count=2, preprocess='none') for p in range(2)]
    ds = parts[0]
    assert (ds.name, ds.num_classes, ds.num_train, ds.num_eval) == ('cifar10', 10, TRAIN, TEST)
    assert ds.image_shape == (32, 32, 3)
    evals = [list(part.eval_batches(2)) for part in parts]  # 5 + 4 examples
    assert [len(e) for e in evals] == [3, 3]
    seen = collections.Counter()
    for batches in evals:
        for b in batches:
            real = b['mask'] == 1
            ids = ids_of(b['image'][real])
            assert b['label'][real].tolist() == [i % 10 for i in ids]
            seen.update(ids)
    assert sorted(seen) == list(range(TRAIN, TRAIN + TEST)) and set(seen.values()) == {1}


def test_train_epochs_permute_the_split_and_resume_exactly(data_dir):
    ds = build(data_dir, preprocess='none', shuffle_buffer=8)
    stream = ds.train_batches(5, 0, 0)
    batches = [next(stream) for _ in range(8)]  # two epochs of 4 steps
    first = [i for b in batches[:4] for i in ids_of(b['image'])]
    second = [i for b in batches[4:] for i in ids_of(b['image'])]
    assert sorted(first) == sorted(second) == list(range(TRAIN))
    assert first != second
    for k in (2, 5):
        resumed = next(ds.train_batches(5, 0, k))
        np.testing.assert_array_equal(resumed['image'], batches[k]['image'])


def test_same_seed_same_batches_different_seed_differs(data_dir):
    ds = build(data_dir, preprocess='cifar')
    a, b, c = (next(ds.train_batches(4, seed, 0)) for seed in (1, 1, 2))
    np.testing.assert_array_equal(a['image'], b['image'])
    np.testing.assert_array_equal(a['label'], b['label'])
    assert not np.array_equal(a['image'], c['image'])


def test_grayscale_widened_only_when_asked(data_dir):
    assert build(data_dir, 'mnist').image_shape == (28, 28, 1)
    ds = build(data_dir, 'mnist', grayscale_to_rgb=True, image_size=32)
    assert ds.image_shape == (32, 32, 3)
    batch = next(ds.train_batches(4, 0, 0))
    assert batch['image'].shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(batch['image'][..., 0], batch['image'][..., 2])


def test_under_mock_data(data_dir):
    # mock_data with the prepared metadata: TFDS's split sizes, random examples from TFDS.
    with tfds.testing.mock_data(num_examples=TRAIN, data_dir=data_dir):
        ds = build('/nonexistent', 'mnist', image_size=28, eval_split='train')
        batches = list(ds.eval_batches(8))
        train = next(ds.train_batches(4, 0, 0))
    assert (ds.num_train, ds.num_eval, ds.num_classes) == (TRAIN, TRAIN, 10)
    assert sum(b['mask'].sum() for b in batches) == TRAIN and len(batches) == 3
    assert train['image'].shape == (4, 28, 28, 1) and train['label'].dtype == np.int32
    assert np.all((train['label'] >= 0) & (train['label'] < 10))
    assert np.std(train['image']) > 0.1  # mock_data's random pixels came through decoding


def test_missing_data_set_says_how_to_prepare_it_in_one_line(tmp_path):
    with pytest.raises(ValueError) as error:
        build(str(tmp_path), 'cifar10')
    message = str(error.value)
    assert '\n' not in message
    assert f"'cifar10' is not prepared in {tmp_path}" in message
    assert f'`tfds build cifar10 --data_dir={tmp_path}`' in message
    with pytest.raises(ValueError, match='--manual_dir=<folder with the downloaded archives>'):
        build(str(tmp_path), 'imagenet2012')


def test_unknown_split_and_variable_size_say_what_to_set(data_dir):
    with pytest.raises(ValueError, match=r"has no split 'validation' \(it has: test, train\)"):
        build(data_dir, eval_split='validation')
    with pytest.raises(ValueError, match='vary in size .* set --config.dataset.image_size'):
        build(data_dir, 'imagenette')


def test_inception_pipeline_at_a_chosen_size_with_the_validation_split(data_dir):
    from lineage.data.preprocess import IMAGENET_MEAN, IMAGENET_STD

    ds = build(data_dir, 'imagenette', image_size=24, preprocess='imagenet')
    assert ds.num_eval == 3  # eval_split '' found 'validation'
    batch = next(ds.train_batches(4, 0, 0))
    assert batch['image'].shape == (4, 24, 24, 3)
    # Flat images stay flat through crop and resize: the id comes back from any pixel.
    pixels = (batch['image'] * np.array(IMAGENET_STD) + np.array(IMAGENET_MEAN)) * 255
    ids = np.round(pixels.mean(axis=(1, 2, 3))).astype(int)
    np.testing.assert_allclose(pixels, ids[:, None, None, None] * np.ones_like(pixels), atol=0.05)
    assert batch['label'].tolist() == (ids % 10).tolist() and set(ids) <= set(range(8))
    ds = build(data_dir, 'imagenette', image_size=96, preprocess='auto')
    (batch,) = list(ds.eval_batches(4))
    assert batch['image'].shape == (4, 96, 96, 3) and batch['mask'].tolist() == [1, 1, 1, 0]


def test_every_registered_name_is_an_image_classification_set(tmp_path):
    for name in td.TFDS_NAMES:
        builder = tfds.builder(name, data_dir=str(tmp_path), try_gcs=False)
        image, label = td._supervised_keys(builder)
        assert builder.info.features[label].num_classes >= 2, name
