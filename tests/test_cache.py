"""The decoded-image cache: the same batches as decoding every epoch; one line when it is off."""

import logging
import os

import numpy as np
from PIL import Image

from lineage.data import build_dataset, dataset_config


def write_folder(root, size=8, per_class=6):
    """Random-noise images of one size (JPEG and PNG): any change of pixel or order shows."""
    rng = np.random.default_rng(0)
    for split, count in (('train', per_class), ('test', 2)):
        for name in ('a', 'b', 'c'):
            os.makedirs(root / split / name)
            for k in range(count):
                pixels = rng.integers(0, 256, (size, size, 3), np.uint8)
                fmt, ext = ('JPEG', 'jpg') if k % 2 else ('PNG', 'png')
                Image.fromarray(pixels).save(root / split / name / f'{k}.{ext}', fmt)


def build(root, **fields):
    fields = {'preprocess': 'cifar', **fields}
    config = dataset_config(name='image_folder', data_dir=str(root), **fields)
    return build_dataset(config)


def take(stream, n):
    return [next(stream) for _ in range(n)]


def test_cached_batches_equal_decoded_every_epoch(tmp_path, caplog):
    write_folder(tmp_path)
    with caplog.at_level(logging.INFO):
        cached = build(tmp_path, cache=True)
    assert 'decoded-image cache: 18 + 6 images, 0 MiB' in caplog.text
    plain = build(tmp_path, cache=False)
    # 18 images at batch 4: 4 steps an epoch, so 10 steps cross two epoch boundaries; and a
    # resumed stream (start at step 5) too.
    for start in (0, 5):
        with_cache = take(cached.train_batches(4, 3, start), 10 - start)
        without = take(plain.train_batches(4, 3, start), 10 - start)
        for a, b in zip(with_cache, without, strict=True):
            np.testing.assert_array_equal(a['label'], b['label'])
            np.testing.assert_array_equal(a['image'], b['image'])
    # The augmentation is live: the same images recur with other crops in the next epoch.
    assert not np.array_equal(with_cache[0]['image'], with_cache[4]['image'])
    for a, b in zip(cached.eval_batches(4), plain.eval_batches(4), strict=True):
        for key in ('image', 'label', 'mask'):
            np.testing.assert_array_equal(a[key], b[key])


def cache_lines(caplog):
    """The decoded-image cache's log lines (the image check's own lines say 'cached' too)."""
    return [
        r.getMessage() for r in caplog.records if r.getMessage().startswith('decoded-image cache')
    ]


def test_cache_off_with_one_line_over_the_cap_for_mixed_sizes_or_window_decoding(tmp_path, caplog):
    write_folder(tmp_path)
    with caplog.at_level(logging.INFO):
        build(tmp_path, cache_max_mb=0)
    lines = cache_lines(caplog)
    assert lines == [
        'decoded-image cache off: the splits take 0 MiB decoded, over '
        'config.dataset.cache_max_mb=0; raise it to cache them'
    ]
    caplog.clear()
    odd = tmp_path / 'train' / 'b' / '9.png'
    Image.new('RGB', (5, 8)).save(odd)
    with caplog.at_level(logging.INFO):
        dataset = build(tmp_path, image_size=8)
    lines = cache_lines(caplog)
    assert lines == [
        f'decoded-image cache off: {odd} is not 8x8 like the first image (the cache holds one '
        'size); the images are decoded every epoch instead'
    ]
    assert next(dataset.train_batches(4, 0, 0))['image'].shape == (4, 8, 8, 3)
    caplog.clear()
    odd.unlink()
    with caplog.at_level(logging.INFO):
        build(tmp_path, preprocess='imagenet')
    lines = cache_lines(caplog)
    assert lines == [
        "decoded-image cache off: the 'imagenet' preprocess decodes each JPEG crop's window "
        'alone, whose pixels differ from a crop of the cached image'
    ]


def test_jpeg_window_decoding_is_not_a_crop_of_the_decoded_image(tmp_path):
    """Why 'imagenet' keeps the cache off: decode_and_crop_jpeg's pixels are not a crop of the
    whole decoded image (if TensorFlow ever makes them equal, the cache could serve it too)."""
    import tensorflow as tf

    pixels = np.random.default_rng(0).integers(0, 256, (40, 40, 3), np.uint8)
    Image.fromarray(pixels).save(tmp_path / 'x.jpg', 'JPEG')
    encoded = tf.io.read_file(str(tmp_path / 'x.jpg'))
    window = tf.constant([3, 5, 20, 17])
    alone = tf.io.decode_and_crop_jpeg(encoded, window, channels=3).numpy().astype(int)
    whole = tf.io.decode_jpeg(encoded, channels=3).numpy().astype(int)[3:23, 5:22]
    assert alone.shape == whole.shape == (20, 17, 3)
    assert np.abs(alone - whole).max() > 0
