"""The decoded-image cache: an image folder's splits decoded once to uint8, held in memory.

Without it every image is read and JPEG-decoded again each epoch, on the same host cores as the
train step. With it (`config.dataset.cache`, on by default) the pipeline decodes each split once
when the data set is built and then feeds the decoded images to the same per-example transform,
which skips its decode (`preprocess.as_image`). The random draws are keyed by (seed, process,
epoch, position) alone, never by the bytes, so every batch is the same with and without the
cache. CIFAR-10 is 60,000 x 32 x 32 x 3 bytes, 176 MiB decoded.

The cache holds one array per split, so it needs every image of a split to decode to the same
size; and it serves the 'cifar' and 'none' preprocess, which decode whole images ('imagenet'
decodes only a crop's window of a JPEG, not bit-equal to a crop of the whole image). It is used
only where the splits fit `config.dataset.cache_max_mb` (checked up front from the first image's
size) and their images share one size; otherwise one line says why it is off and the pipeline
decodes per epoch as before. Measured effect: experiments/results/input_cache.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from absl import logging

from lineage.data import config as fields

MIB = 1 << 20
# Images decoded per batch of the one-off decoding pass: whole batches leave tf.data, not
# one image at a time.
BATCH = 512


def decoded_mb(num_images: int, shape: tuple[int, int, int]) -> float:
    """MiB that `num_images` decoded uint8 images of `shape` take."""
    return num_images * int(np.prod(shape)) / MIB


def decode_split(
    paths: Sequence[str], read: Callable, channels: int, shape: tuple[int, int, int]
) -> np.ndarray | None:
    """Every image of `paths` decoded to one uint8 (N, H, W, channels) array, in order.

    Args:
      paths: image files.
      read: `path tensor -> bytes tensor` (tf.io.read_file).
      channels: channels to decode to (as the transform does).
      shape: (H, W, channels) every image must decode to.

    Returns:
      The array, or None when an image decodes to another size (one log line says so).

    Raises:
      ValueError: an image does not decode (named).
    """
    import tensorflow as tf

    from lineage.data import image_check, preprocess

    def one(path):
        image = preprocess.decode(read(path), channels)
        same = tf.reduce_all(tf.equal(tf.shape(image), shape))
        # An image of another size is replaced by zeros here (so it batches) and named below.
        image = tf.cond(same, lambda: image, lambda: tf.zeros(shape, tf.uint8))
        return tf.ensure_shape(image, shape), same

    out = np.empty((len(paths), *shape), np.uint8)
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(list(paths), tf.string))
    ds = ds.map(one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(BATCH).prefetch(tf.data.AUTOTUNE)
    batches = image_check.naming_bad_files(
        ds.as_numpy_iterator(), lambda n: paths[n * BATCH : (n + 1) * BATCH], channels
    )
    for start, (images, same) in zip(range(0, len(paths), BATCH), batches, strict=True):
        if not same.all():
            bad = paths[start + int(np.argmin(same))]
            logging.info(
                'decoded-image cache off: %s is not %dx%d like the first image (the cache holds '
                'one size); the images are decoded every epoch instead',
                bad, shape[0], shape[1],
            )  # fmt: skip
            return None
        out[start : start + len(images)] = images
    return out


def cached_splits(
    config, train_paths: Sequence[str], eval_paths: Sequence[str], read: Callable, shape, kind
) -> tuple[np.ndarray, np.ndarray] | None:
    """(train, eval) decoded arrays when the cache is on and they fit, else None (with a line).

    Args:
      config: `config.dataset` (reads cache, cache_max_mb).
      train_paths, eval_paths: the splits' image files.
      read: `path tensor -> bytes tensor`.
      shape: (H, W, C) the first train image decodes to.
      kind: the resolved preprocess family ('cifar', 'imagenet', 'none').
    """
    if not fields.get(config, 'cache'):
        return None
    if kind == 'imagenet':
        logging.info(
            "decoded-image cache off: the 'imagenet' preprocess decodes each JPEG crop's window "
            'alone, whose pixels differ from a crop of the cached image'
        )
        return None
    limit = fields.get(config, 'cache_max_mb')
    need = decoded_mb(len(train_paths) + len(eval_paths), shape)
    if need > limit:
        logging.info(
            'decoded-image cache off: the splits take %.0f MiB decoded, over '
            'config.dataset.cache_max_mb=%d; raise it to cache them',
            need, limit,
        )  # fmt: skip
        return None
    train = decode_split(train_paths, read, shape[-1], shape)
    evaluation = None if train is None else decode_split(eval_paths, read, shape[-1], shape)
    if evaluation is None:
        return None
    logging.info('decoded-image cache: %d + %d images, %.0f MiB', len(train), len(evaluation), need)
    return train, evaluation
