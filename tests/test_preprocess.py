"""Tests for lineage.data.preprocess: exact values of each family's train and eval transforms."""

import numpy as np
import pytest
import tensorflow as tf

from lineage.data import preprocess as pp

RNG = np.random.default_rng(0)


def png(image: np.ndarray) -> tf.Tensor:
    return tf.io.encode_png(image)


def jpeg(image: np.ndarray) -> tf.Tensor:
    return tf.io.encode_jpeg(image, quality=95)


def seed(i: int) -> tf.Tensor:
    return tf.constant([i, 7], tf.int32)


def unnormalize(out: np.ndarray, mean, std) -> np.ndarray:
    return (out * np.asarray(std) + np.asarray(mean)) * 255.0


def test_cifar_eval_is_exact_per_channel_normalization():
    image = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    fn = pp.make_preprocess('cifar', image_size=32, channels=3, train=False)
    out = fn(png(image), seed(0)).numpy()
    expected = (image / 255.0 - np.asarray(pp.CIFAR_MEAN)) / np.asarray(pp.CIFAR_STD)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_cifar_train_is_a_flipped_or_not_crop_of_the_4_pixel_padded_image():
    image = RNG.integers(1, 256, (32, 32, 3), dtype=np.uint8)  # no zeros: padding is visible
    padded = np.pad(image.astype(np.float64), ((4, 4), (4, 4), (0, 0)))
    fn = pp.make_preprocess('cifar', image_size=32, channels=3, train=True)
    seen = set()
    for i in range(12):
        out = np.round(unnormalize(fn(png(image), seed(i)).numpy(), pp.CIFAR_MEAN, pp.CIFAR_STD))
        matches = [
            (dy, dx, flip)
            for dy in range(9)
            for dx in range(9)
            for flip in (False, True)
            if np.array_equal(
                out,
                (
                    padded[dy : dy + 32, dx : dx + 32][:, ::-1]
                    if flip
                    else padded[dy : dy + 32, dx : dx + 32]
                ),
            )
        ]
        assert len(matches) == 1, f'seed {i}: output is not one crop of the padded image'
        seen.add(matches[0])
    assert len(seen) >= 6  # different seeds, different crops


def test_same_seed_same_augmentation_different_seed_differs():
    image = RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    for kind in ('cifar', 'imagenet'):
        fn = pp.make_preprocess(kind, image_size=32, channels=3, train=True)
        a, b = fn(png(image), seed(1)).numpy(), fn(png(image), seed(1)).numpy()
        c = fn(png(image), seed(2)).numpy()
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c), kind


def test_inception_window_area_and_aspect_ratio():
    shape = tf.constant([300, 400, 3])
    areas, ratios = [], []
    for i in range(200):
        y, x, h, w = pp.inception_window(shape, seed(i)).numpy()
        assert 0 <= y and y + h <= 300 and 0 <= x and x + w <= 400
        areas.append(h * w / (300 * 400))
        ratios.append(w / h)
    # Integer rounding of h and w moves the bounds by about one pixel.
    assert 0.075 <= min(areas) and max(areas) <= 1.0
    assert 0.74 <= min(ratios) and max(ratios) <= 1.35
    assert min(areas) < 0.2 and max(areas) > 0.7  # the range is actually used


@pytest.mark.parametrize('size', [224, 64])
def test_imagenet_eval_is_the_central_87_5_percent_resized(size):
    # 256x320 image, eval at `size`: crop the central 224x224 (0.875 x 256), resize to `size`.
    image = RNG.integers(0, 256, (256, 320, 3), dtype=np.uint8)
    fn = pp.make_preprocess('imagenet', image_size=size, channels=3, train=False)
    out = unnormalize(fn(png(image), seed(0)).numpy(), pp.IMAGENET_MEAN, pp.IMAGENET_STD)
    crop = image[16:240, 48:272].astype(np.float32)
    expected = tf.image.resize(crop, (size, size), antialias=True).numpy()
    assert out.shape == (size, size, 3)
    np.testing.assert_allclose(out, expected, atol=1e-3)


def test_jpeg_window_decode_matches_full_decode_then_crop():
    image = RNG.integers(0, 256, (96, 80, 3), dtype=np.uint8)
    image = tf.image.resize(image, (96, 80)).numpy().astype(np.uint8)
    encoded = jpeg(image)
    for kind in ('imagenet', 'none'):
        fn = pp.make_preprocess(kind, image_size=56, channels=3, train=False)
        via_window = fn(encoded, seed(0)).numpy()
        via_png = fn(png(tf.io.decode_jpeg(encoded).numpy()), seed(0)).numpy()
        scale = 255.0 / np.asarray(pp.IMAGENET_STD) if kind == 'imagenet' else 255.0
        # libjpeg may upsample chroma differently at the window edge: allow ~2 grey levels.
        assert np.abs((via_window - via_png) * scale).max() <= 2.5, kind


def test_none_is_resize_only_in_unit_range():
    image = RNG.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    out = pp.make_preprocess('none', image_size=20, channels=3, train=True)(png(image), seed(3))
    np.testing.assert_allclose(out.numpy(), image / 255.0, atol=1e-6)


def test_odd_sizes_come_out_square_at_the_configured_size():
    for shape in [(17, 45, 3), (50, 13, 3), (33, 33, 3)]:
        image = RNG.integers(0, 256, shape, dtype=np.uint8)
        for kind in pp.KINDS:
            for train in (True, False):
                fn = pp.make_preprocess(kind, image_size=24, channels=3, train=train)
                out = fn(png(image), seed(0))
                assert out.shape == (24, 24, 3) and out.dtype == tf.float32, (shape, kind)


def test_grayscale_stays_one_channel_unless_asked():
    image = RNG.integers(0, 256, (28, 28, 1), dtype=np.uint8)
    gray = pp.make_preprocess('cifar', image_size=28, channels=1, train=False)
    out = gray(png(image), seed(0)).numpy()
    assert out.shape == (28, 28, 1)
    mean, std = pp.default_stats('cifar', 1)
    np.testing.assert_allclose(out, (image / 255.0 - mean[0]) / std[0], atol=1e-5)
    rgb = pp.make_preprocess('cifar', image_size=28, channels=1, train=False, grayscale_to_rgb=True)
    wide = rgb(png(image), seed(0)).numpy()
    assert wide.shape == (28, 28, 3)
    for c in range(3):
        np.testing.assert_allclose(wide[..., c], out[..., 0], atol=1e-6)


def test_auto_and_bad_settings():
    assert pp.resolve_kind('auto', 32) == 'cifar'
    assert pp.resolve_kind('auto', 224) == 'imagenet'
    with pytest.raises(ValueError, match='unknown preprocess'):
        pp.make_preprocess('inception', image_size=32, channels=3, train=True)
    with pytest.raises(ValueError, match='3 values each'):
        pp.make_preprocess('cifar', image_size=32, channels=3, train=True, mean=(0.5,), std=(0.5,))


@pytest.mark.parametrize(
    'kind, options, message',
    [
        (
            'imagenet',
            {'normalize': 'inception', 'mean': (0.4, 0.4, 0.4)},
            "config.dataset.mean/std are not read with normalize='inception', which sets its own; "
            "leave them unset, or set config.dataset.normalize='mean_std'",
        ),
        (
            'none',
            {'normalize': 'caffe'},
            "preprocess='none' scales pixels to [0, 1] and normalizes nothing; leave "
            'config.dataset.normalize, mean and std unset, or set config.dataset.preprocess to '
            "'cifar' or 'imagenet'",
        ),
        ('none', {'std': (0.2, 0.2, 0.2)}, "preprocess='none' scales pixels to [0, 1]"),
        (
            'cifar',
            {'std': (0.2, 0.0, 0.2)},
            'config.dataset.std=(0.2, 0.0, 0.2): each value divides the pixels; give ones > 0',
        ),
    ],
)
def test_a_normalization_the_transform_would_drop_or_divide_by_zero_is_refused(
    kind, options, message
):
    with pytest.raises(ValueError) as error:
        pp.make_preprocess(kind, image_size=32, channels=3, train=False, **options)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize('kind', pp.KINDS)
def test_batch_stage_treats_each_example_as_alone(kind):
    # The per-batch stage (gathers, flips, normalization) must not mix examples up.
    transform = pp.make_preprocess(kind, image_size=16, channels=3, train=True)
    images = [RNG.integers(0, 256, (16 + i, 16, 3), dtype=np.uint8) for i in range(5)]
    features = [transform.example(png(im), seed(i)) for i, im in enumerate(images)]
    stacked = {k: tf.stack([f[k] for f in features]) for k in features[0]}
    batched = transform.batch(stacked).numpy()
    for i, image in enumerate(images):
        np.testing.assert_allclose(batched[i], transform(png(image), seed(i)).numpy(), atol=1e-6)
    assert not np.allclose(batched[0], batched[1])
