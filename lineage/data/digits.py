"""The embedded data set: scikit-learn's handwritten digits, so the default run needs no network.

1,797 real 8x8 grayscale digits (UCI "Optical Recognition of Handwritten Digits", Alpaydin &
Kaynak 1998) ship inside the scikit-learn package. They are upsampled bilinearly to
`image_size` (32 by default, a CIFAR-sized input for the same networks), standardized with the
train split's mean and standard deviation, and split once, stratified by class, with a fixed
seed: 1,437 train and 360 test examples whatever the run's seed.

The train stream is a function of (seed, step) alone: step `s` takes positions
`s * G .. (s + 1) * G - 1` of an endless sequence of per-epoch permutations, G being the global
batch, and process `p` of `P` takes its `G / P` slice. So a resumed run sees exactly the batches
an uninterrupted one would, and 1 or many processes see the same global batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from lineage.data.dataset import Batch, Dataset, register_dataset

NUM_CLASSES = 10
NATIVE_SIZE = 8  # the digits are 8x8
TEST_FRACTION = 0.2
SPLIT_SEED = 0  # fixed: the test split never depends on the run's seed


def resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out_size, in_size) matrix of bilinear (half-pixel centre) interpolation weights.

    `M @ column` resizes one axis; `M @ image @ M.T` resizes both. Edges are clamped, as in
    `jax.image.resize(..., 'linear')` when upsampling.
    """
    centres = (np.arange(out_size) + 0.5) * in_size / out_size - 0.5
    centres = np.clip(centres, 0, in_size - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, in_size - 1)
    frac = centres - low
    matrix = np.zeros((out_size, in_size))
    matrix[np.arange(out_size), low] += 1 - frac
    matrix[np.arange(out_size), high] += frac
    return matrix


def load_digits(image_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed stratified split, upsampled and standardized.

    Returns:
      (train_images, train_labels, test_images, test_labels); images (N, S, S, 1) float32,
      labels (N,) int32.
    """
    from sklearn import datasets, model_selection  # imported here: only this data set needs it

    digits = datasets.load_digits()
    images = digits.images.astype(np.float64) / 16.0  # pixel values are 0..16
    labels = digits.target.astype(np.int32)
    train_idx, test_idx = model_selection.train_test_split(
        np.arange(len(labels)), test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    resize = resize_matrix(images.shape[1], image_size)
    images = np.einsum('oh,nhw,pw->nop', resize, images, resize)
    mean, std = images[train_idx].mean(), images[train_idx].std()
    images = ((images - mean) / std).astype(np.float32)[..., None]
    return images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]


def shift(images: np.ndarray, offsets: np.ndarray, fill: float) -> np.ndarray:
    """Translates each image by its (dy, dx) offset, filling uncovered pixels with `fill`."""
    out = np.full_like(images, fill)
    size_h, size_w = images.shape[1:3]
    for i, (dy, dx) in enumerate(offsets):
        src_h = slice(max(0, -dy), size_h - max(0, dy))
        dst_h = slice(max(0, dy), size_h - max(0, -dy))
        src_w = slice(max(0, -dx), size_w - max(0, dx))
        dst_w = slice(max(0, dx), size_w - max(0, -dx))
        out[i, dst_h, dst_w] = images[i, src_h, src_w]
    return out


def train_stream(
    images: np.ndarray,
    labels: np.ndarray,
    global_batch: int,
    seed: int,
    start_step: int,
    process_index: int,
    process_count: int,
    max_shift: int,
) -> Iterator[Batch]:
    """This process's slices of the global train batches, step `start_step` first."""
    n = len(labels)
    local = global_batch // process_count
    step = start_step
    while True:
        positions = np.arange(step * global_batch, (step + 1) * global_batch)
        epochs = positions // n
        order = {e: np.random.default_rng([seed, e]).permutation(n) for e in np.unique(epochs)}
        idx = np.array([order[e][p % n] for e, p in zip(epochs, positions, strict=True)])
        batch_images = images[idx]
        if max_shift:
            # Augmentation drawn for the whole global batch, then sliced: independent of P.
            rng = np.random.default_rng([seed, step, 1])
            offsets = rng.integers(-max_shift, max_shift + 1, size=(global_batch, 2))
            batch_images = shift(batch_images, offsets, fill=float(images.min()))
        part = slice(process_index * local, (process_index + 1) * local)
        yield {'image': batch_images[part], 'label': labels[idx][part]}
        step += 1


def eval_stream(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    process_index: int,
    process_count: int,
) -> Iterator[Batch]:
    """This process's contiguous share of the test split, padded and masked to full batches."""
    per_process = -(-len(labels) // process_count)
    start = min(process_index * per_process, len(labels))
    stop = min(start + per_process, len(labels))
    num_batches = -(-per_process // batch_size)  # the same on every process
    for b in range(num_batches):
        lo, hi = min(start + b * batch_size, stop), min(start + (b + 1) * batch_size, stop)
        real = hi - lo
        image = np.zeros((batch_size, *images.shape[1:]), np.float32)
        label = np.zeros((batch_size,), np.int32)
        image[:real], label[:real] = images[lo:hi], labels[lo:hi]
        mask = (np.arange(batch_size) < real).astype(np.float32)
        yield {'image': image, 'label': label, 'mask': mask}


def _check_splits(config: Any) -> None:
    """The digits have one fixed train/test split; another split name would be ignored."""
    for field, names in (('train_split', ('train',)), ('eval_split', ('', 'test'))):
        value = config.get(field, names[0])
        if value not in names:
            raise ValueError(
                f'--config.dataset.{field}={value!r}: digits has one fixed train/test split; '
                f'leave {field} unset, or set --config.dataset.name to a data set that has it'
            )


@register_dataset('digits', frozenset({'image_size', 'train_split', 'eval_split'}))
def build(config: Any, process_index: int = 0, process_count: int = 1) -> Dataset:
    """The digits `Dataset` for this process.

    Args:
      config: `config.dataset`; reads `image_size` (default 32; 0 is the native 8) and
        `max_shift` (random translation of train images in pixels, default 0).
      process_index: this process's index.
      process_count: number of processes.

    Returns:
      The `Dataset`; `train_batches(batch_size, ...)` takes the per-process batch size.
    """
    _check_splits(config)
    image_size = int(config.get('image_size', 32)) or NATIVE_SIZE
    max_shift = int(config.get('max_shift', 0))
    if image_size < NATIVE_SIZE:
        raise ValueError(
            f'digits: image_size={image_size} is below the native {NATIVE_SIZE}; use '
            f'{NATIVE_SIZE} or more'
        )
    train_x, train_y, test_x, test_y = load_digits(image_size)

    def train_batches(batch_size: int, seed: int, start_step: int = 0) -> Iterator[Batch]:
        return train_stream(
            train_x,
            train_y,
            batch_size * process_count,
            seed,
            start_step,
            process_index,
            process_count,
            max_shift,
        )

    def eval_batches(batch_size: int) -> Iterator[Batch]:
        return eval_stream(test_x, test_y, batch_size, process_index, process_count)

    return Dataset(
        name='digits',
        num_classes=NUM_CLASSES,
        image_shape=(image_size, image_size, 1),
        num_train=len(train_y),
        num_eval=len(test_y),
        train_batches=train_batches,
        eval_batches=eval_batches,
    )
