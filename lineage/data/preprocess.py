"""Decode and augmentation, per family, at any resolution, in TensorFlow ops.

Three recipes, each a train and an eval `Transform`:

- 'cifar' (He et al. 2016, "Deep Residual Learning", sec. 4.2): zero-pad by 4 pixels (size / 8
  at other resolutions), take a random `size x size` crop, flip left-right with probability 1/2,
  normalize each channel. Eval: normalize only. Images not already `size x size` are first
  resized (shorter side to `size`) and centre-cropped.
- 'imagenet' (Szegedy et al. 2015, "Going deeper with convolutions", sec. 6): the Inception
  crop, a random window of 8-100% of the image area with aspect ratio in [3/4, 4/3], resized to
  `size x size`, flipped with probability 1/2. Eval: the central 87.5% square (224 of 256),
  resized to `size x size`. JPEGs are decoded only inside the window (`decode_and_crop_jpeg`),
  which is most of the speed of an ImageNet pipeline.
- 'none': decode, resize/centre-crop to `size`, scale to [0, 1]; no augmentation, no
  normalization (for tests and for models that normalize themselves).

A `Transform` runs in two stages: `example` per image (decode, resize, the Inception crop, and
the random draws of the CIFAR crop and flip) and `batch` on whole batches (the CIFAR pad-crop-flip
as gathers, widening, normalization). For 32x32 images the per-example cost is op overhead, not
pixels, so moving ops onto the batch roughly doubles the images/s of a host core.

Randomness is stateless: each example's `seed` (shape [2]) comes from (run seed, epoch,
position), so a stream is the same however many threads decode it, and a resumed run draws the
same crops as an uninterrupted one. Grayscale images stay one channel unless
`grayscale_to_rgb` is set, which tiles them to three.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from lineage.data import config as fields

KINDS = fields.PREPROCESS_KINDS
# How pixels become inputs (all but 'none'): 'mean_std' with the family's or the config's
# statistics; keras.applications' two eval conventions: 'inception' ([-1, 1]: Xception,
# Inception v3, the MobileNets) and 'caffe' (BGR, the ImageNet mean subtracted in 0-255
# units, no scaling: ResNet50).
NORMALIZATIONS = ('mean_std', 'inception', 'caffe')
CAFFE_MEAN = (123.68 / 255, 116.779 / 255, 103.939 / 255)  # RGB, [0, 1] units

# Per-channel statistics of the CIFAR-10 train set and of ImageNet, in [0, 1] units.
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Inception eval: crop the central 224/256 of the shorter side, then resize.
EVAL_CROP_FRACTION = 0.875

Features = dict[str, tf.Tensor]


@dataclasses.dataclass(frozen=True)
class Transform:
    """One family's transform, in a per-example and a per-batch stage.

    Attributes:
      example: `(encoded, seed) -> features`: decodes one image (uint8 bytes -> 'image', float32
        (size, size, decoded channels) in [0, 255]) plus any per-example random draws ('aug').
      batch: `features -> images`: the batched features to float32 (B, size, size, C).
    """

    example: Callable[[tf.Tensor, tf.Tensor], Features]
    batch: Callable[[Features], tf.Tensor]

    def __call__(self, encoded: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """Both stages on one example (a batch of one): float32 (size, size, C)."""
        features = self.example(encoded, seed)
        return self.batch({k: v[None] for k, v in features.items()})[0]


def resolve_kind(kind: str, image_size: int) -> str:
    """'auto' -> 'cifar' for images up to 64 pixels, else 'imagenet'; checks the name."""
    if kind == 'auto':
        return 'cifar' if image_size <= 64 else 'imagenet'
    if kind not in KINDS:
        raise ValueError(
            f'unknown preprocess {kind!r}; set config.dataset.preprocess to one of: auto, '
            + ', '.join(KINDS)
        )
    return kind


def default_stats(kind: str, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The family's per-channel (mean, std); one channel gets the average of the three."""
    mean, std = (CIFAR_MEAN, CIFAR_STD) if kind == 'cifar' else (IMAGENET_MEAN, IMAGENET_STD)
    if channels == 1:
        return (sum(mean) / 3,), (sum(std) / 3,)
    return mean, std


def decode(encoded: tf.Tensor, channels: int) -> tf.Tensor:
    """Decodes JPEG/PNG/BMP/GIF bytes to uint8 (H, W, channels); GIF keeps its first frame."""
    image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
    image.set_shape([None, None, channels])
    return image


def as_image(item: tf.Tensor, channels: int) -> tf.Tensor:
    """The uint8 image of `item`: encoded bytes decoded, or the item itself when the decoded-image
    cache (`lineage.data.cache`) already holds it decoded; either way the same pixels."""
    return item if item.dtype == tf.uint8 else decode(item, channels)


def _decode_window(encoded: tf.Tensor, channels: int, window_fn) -> tf.Tensor:
    """Decodes only the window `window_fn(shape) -> [y, x, h, w]`; JPEGs never decode the rest.

    A JPEG's window decoded alone is not bit-equal to the same window cropped from the whole
    decoded image (experiments/results/input_cache.md), so the decoded-image cache, which must
    not change a batch, stays off for 'imagenet'.
    """

    def jpeg():
        window = window_fn(tf.io.extract_jpeg_shape(encoded))
        return tf.io.decode_and_crop_jpeg(encoded, window, channels=channels)

    def other():
        image = decode(encoded, channels)
        y, x, h, w = tf.unstack(window_fn(tf.shape(image)))
        return image[y : y + h, x : x + w]

    image = tf.cond(tf.io.is_jpeg(encoded), jpeg, other)
    image.set_shape([None, None, channels])
    return image


def central_window(shape: tf.Tensor, fraction: float) -> tf.Tensor:
    """The central square of side `fraction` x the shorter side of `shape`, as [y, x, h, w]."""
    h, w = shape[0], shape[1]
    side = tf.cast(fraction * tf.cast(tf.minimum(h, w), tf.float32), tf.int32)
    side = tf.maximum(side, 1)
    return tf.stack([(h - side) // 2, (w - side) // 2, side, side])


def inception_window(shape: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """A random window of 8-100% of the area, aspect ratio 3/4-4/3, as [y, x, h, w].

    After 10 failed draws (tiny images) the window is the whole image.
    """
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape,
        bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=(3 / 4, 4 / 3),
        area_range=(0.08, 1.0),
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    return tf.stack([begin[0], begin[1], size[0], size[1]])


def _resize(image: tf.Tensor, size: int) -> tf.Tensor:
    """Resizes to (size, size) as float32, skipping the op when already that size."""
    image = tf.cast(image, tf.float32)
    shape = tf.shape(image)
    same = tf.logical_and(tf.equal(shape[0], size), tf.equal(shape[1], size))
    image = tf.cond(
        same,
        lambda: image,
        lambda: tf.image.resize(image, (size, size), method='bilinear', antialias=True),
    )
    return image


def make_preprocess(
    kind: str,
    *,
    image_size: int,
    channels: int,
    train: bool,
    grayscale_to_rgb: bool = False,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    normalize: str = 'mean_std',
) -> Transform:
    """The `Transform` of one family, to float32 (image_size, image_size, C).

    Args:
      kind: 'cifar', 'imagenet', 'none' or 'auto' (see `resolve_kind`).
      image_size: output height and width.
      channels: channels to decode (1 for grayscale data, 3 for colour).
      train: augment (train) or the deterministic eval transform.
      grayscale_to_rgb: tile one-channel images to three (C = 3 then).
      mean, std: per-channel statistics in [0, 1] units, of length `channels`; None takes the
        family's defaults (`default_stats`); std's values > 0.
      normalize: one of `NORMALIZATIONS`; 'inception' and 'caffe' set mean and std themselves
        (and refuse them). Kind 'none' normalizes nothing: it refuses all three set.

    Returns:
      The transform; `seed` is an int tensor of shape [2] (ignored at eval).

    Raises:
      ValueError: an unknown kind or normalize, or statistics it would not use or cannot.
    """
    kind = resolve_kind(kind, image_size)
    if channels not in (1, 3):
        raise ValueError(f'images must have 1 or 3 channels, got {channels}')
    scale, shift, bgr = _normalization(kind, channels, mean, std, normalize)
    pad = max(1, image_size // 8)  # 4 pixels at 32x32, as in He et al.
    crop_train = kind == 'cifar' and train
    return Transform(
        example=_example_stage(kind, image_size, channels, train, pad),
        batch=_batch_stage(
            image_size, channels, pad if crop_train else 0, scale, shift, bgr, grayscale_to_rgb
        ),
    )


def _normalization(
    kind: str,
    channels: int,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    normalize: str,
) -> tuple[tf.Tensor, tf.Tensor, bool]:
    """(scale, shift, bgr): inputs are `pixels * scale + shift` (pixels in [0, 255]), with the
    channels reversed to BGR where `bgr`; checks `normalize` and the statistics' lengths."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(
            f'unknown normalize {normalize!r}; set config.dataset.normalize to one of: '
            + ', '.join(NORMALIZATIONS)
        )
    if normalize != 'mean_std' and channels != 3:
        raise ValueError(f"normalize={normalize!r} needs 3-channel images; use 'mean_std'")
    # Settings the run would otherwise go on without: refused, not dropped.
    if normalize != 'mean_std' and (mean or std):
        raise ValueError(
            f'config.dataset.mean/std are not read with normalize={normalize!r}, which sets its '
            "own; leave them unset, or set config.dataset.normalize='mean_std'"
        )
    if kind == 'none' and (normalize != 'mean_std' or mean or std):
        raise ValueError(
            "preprocess='none' scales pixels to [0, 1] and normalizes nothing; leave "
            'config.dataset.normalize, mean and std unset, or set config.dataset.preprocess to '
            "'cifar' or 'imagenet'"
        )
    if normalize == 'inception':
        mean, std = (0.5,) * 3, (0.5,) * 3
    elif normalize == 'caffe':
        mean, std = CAFFE_MEAN, (1 / 255,) * 3
    bgr = normalize == 'caffe'
    if kind == 'none':
        return tf.constant(1 / 255.0), tf.constant(0.0), bgr
    default_mean, default_std = default_stats(kind, channels)
    mean, std = tuple(mean or default_mean), tuple(std or default_std)
    if len(mean) != channels or len(std) != channels:
        raise ValueError(
            f'config.dataset.mean/std need {channels} values each (one per decoded channel), '
            f'got {len(mean)} and {len(std)}'
        )
    if min(std) <= 0:
        raise ValueError(f'config.dataset.std={std}: each value divides the pixels; give ones > 0')
    # (x / 255 - mean) / std as one multiply-add.
    scale = tf.constant([1 / (255.0 * s) for s in std], tf.float32)
    shift = tf.constant([-m / s for m, s in zip(mean, std, strict=True)], tf.float32)
    return scale, shift, bgr


def _square(encoded: tf.Tensor, image_size: int, channels: int) -> tf.Tensor:
    """The central square, resized to image_size (a no-op for image_size x image_size).

    Small images decode whole: one branch on the decoded shape is cheaper per example than
    windowed JPEG decoding.
    """
    image = as_image(encoded, channels)
    shape = tf.shape(image)
    same = tf.logical_and(tf.equal(shape[0], image_size), tf.equal(shape[1], image_size))

    def crop_and_resize():
        y, x, h, w = tf.unstack(central_window(shape, 1.0))
        return _resize(image[y : y + h, x : x + w], image_size)

    return tf.cond(same, lambda: tf.cast(image, tf.float32), crop_and_resize)


def _example_stage(
    kind: str, image_size: int, channels: int, train: bool, pad: int
) -> Callable[[tf.Tensor, tf.Tensor], Features]:
    """The per-example stage: decode (the Inception crop or the central square) and, for the
    CIFAR train crop, its random draws ('aug')."""
    crop_train = kind == 'cifar' and train

    def example(encoded: tf.Tensor, seed: tf.Tensor) -> Features:
        if kind == 'imagenet' and train:
            crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
            window = _decode_window(
                encoded, channels, lambda shape: inception_window(shape, crop_seed)
            )
            image = _resize(window, image_size)
            image = tf.image.stateless_random_flip_left_right(image, flip_seed)
        elif kind == 'imagenet':
            window = _decode_window(
                encoded, channels, lambda shape: central_window(shape, EVAL_CROP_FRACTION)
            )
            image = _resize(window, image_size)
        else:
            image = _square(encoded, image_size, channels)
        image.set_shape([image_size, image_size, channels])
        features = {'image': image}
        if crop_train:
            # Row offset, column offset in [0, 2 pad], flip in {0, 1}: one uniform draw over
            # 2 (2 pad + 1) values each, reduced exactly.
            draw = tf.random.stateless_uniform([3], seed, 0, 2 * (2 * pad + 1), tf.int32)
            features['aug'] = draw % tf.constant([2 * pad + 1, 2 * pad + 1, 2])
        return features

    return example


def _batch_stage(
    image_size: int,
    channels: int,
    crop_pad: int,
    scale: tf.Tensor,
    shift: tf.Tensor,
    bgr: bool,
    grayscale_to_rgb: bool,
) -> Callable[[Features], tf.Tensor]:
    """The per-batch stage: the CIFAR pad-crop-flip (when `crop_pad` > 0) as gathers, then
    normalization, BGR and widening to three channels."""

    def batch(features: Features) -> tf.Tensor:
        images = features['image']
        if crop_pad:
            pad = crop_pad
            dy, dx, flip = tf.unstack(features['aug'], axis=1)
            padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
            rows = dy[:, None] + tf.range(image_size)[None]
            cols = dx[:, None] + tf.range(image_size)[None]
            images = tf.gather(padded, rows, axis=1, batch_dims=1)
            images = tf.gather(images, cols, axis=2, batch_dims=1)
            images = tf.where(flip[:, None, None, None] == 1, tf.reverse(images, [2]), images)
        images = images * scale + shift
        if bgr:
            images = tf.reverse(images, [3])
        if grayscale_to_rgb and channels == 1:
            images = tf.image.grayscale_to_rgb(images)
        return images

    return batch


def from_config(
    config: Any, *, image_size: int, channels: int
) -> tuple[Transform, Transform, tuple[int, int, int]]:
    """(train transform, eval transform, output image shape) from `config.dataset`.

    Args:
      config: `config.dataset` (reads preprocess, grayscale_to_rgb, mean, std, normalize).
      image_size: the resolution to produce.
      channels: the channels the data decodes to (1 or 3).
    """
    grayscale_to_rgb = fields.get(config, 'grayscale_to_rgb')
    options = dict(
        image_size=image_size,
        channels=channels,
        grayscale_to_rgb=grayscale_to_rgb,
        mean=fields.get(config, 'mean') or None,
        std=fields.get(config, 'std') or None,
        normalize=fields.get(config, 'normalize'),
    )
    kind = fields.get(config, 'preprocess')
    shape = (image_size, image_size, 3 if grayscale_to_rgb else channels)
    return (
        make_preprocess(kind, train=True, **options),
        make_preprocess(kind, train=False, **options),
        shape,
    )
