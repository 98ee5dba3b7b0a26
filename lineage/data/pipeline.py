"""The tf.data plumbing shared by the TFDS and image-folder data sets.

A data set supplies a `Source`: for each epoch, this process's encoded examples in a fixed,
seed-determined order, plus its eval examples. This module turns it into the `Dataset` the
training loop sees:

- train: every process reads the same number of examples per epoch (the minimum over
  processes), so every process takes the same number of steps, `num_train // global_batch`;
  the partial last batch of an epoch is dropped. Each epoch is its own pipeline, ordered by a
  seed derived from (seed, epoch), so resuming at `start_step` jumps straight to the epoch and
  only skips `start_step % steps_per_epoch` batches of still-encoded examples in it.
- each example is read, decoded and given its random draws in one parallel map; the
  transform's per-batch stage (CIFAR crop and flip as gathers, normalization) runs after
  batching. Randomness is stateless per example, seeded by (seed, process, epoch, position):
  with `deterministic=True` the stream is the same for any number of threads.
- eval: this process's examples once, in order, then padding (mask 0) up to as many batches as
  the process with the most examples needs, so every process runs the same number of eval steps
  and every example counts exactly once over all processes.

Importing this module hides GPUs from TensorFlow (tf.data runs on the host; JAX owns the
accelerators) and imports TensorFlow, so data sets import it only when they are built.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf

from lineage.data import image_check
from lineage.data.dataset import Batch, Dataset
from lineage.data.preprocess import Transform

try:
    tf.config.set_visible_devices([], 'GPU')
except RuntimeError:  # TF already initialised its devices; they stay as they are
    pass


@dataclasses.dataclass(frozen=True)
class Source:
    """Examples ({'encoded': tf.string or a decoded uint8 image, 'label': tf.int32}) for one
    process.

    Attributes:
      train_epoch: `(epoch, seed, offset) -> tf.data.Dataset` of this process's train examples
        of `epoch` in their shuffled order, starting at position `offset`; the same arguments
        give the same order.
      train_per_epoch: examples every process reads per epoch (the minimum over processes).
      eval_examples: `() -> tf.data.Dataset` of this process's eval examples, in order.
      eval_local: how many examples `eval_examples` yields.
      eval_max: the most eval examples any process has; it sets the number of eval batches.
      read: `'encoded' -> bytes` applied in the decode map (`tf.io.read_file` when 'encoded'
        holds file paths), None when 'encoded' holds the image bytes. Reading inside the one
        per-example map, not in a map of its own, saves a stage of per-element overhead.
      channels: the channels the decode map decodes image files to (with `read`): a file that
        fails names itself by decoding to them again.
    """

    train_epoch: Callable[[int, int, int], tf.data.Dataset]
    train_per_epoch: int
    eval_examples: Callable[[], tf.data.Dataset]
    eval_local: int
    eval_max: int
    read: Callable[[tf.Tensor], tf.Tensor] | None = None
    channels: int = 0

    def encoded(self, example: dict[str, tf.Tensor]) -> tf.Tensor:
        """The image bytes of `example`."""
        return example['encoded'] if self.read is None else self.read(example['encoded'])


def even_split(num: int, index: int, count: int) -> tuple[int, int]:
    """[start, end) of part `index` of `count` near-equal parts of `num` items.

    The first `num % count` parts hold one extra item, as in `tfds.even_splits`.
    """
    if not 0 <= index < count:
        raise ValueError(f'process index {index} is outside [0, {count})')
    base, extra = divmod(num, count)
    start = index * base + min(index, extra)
    return start, start + base + (1 if index < extra else 0)


def derive_seed(*values: int) -> int:
    """A 31-bit seed mixed from integers (SeedSequence: well spread, stable across platforms)."""
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1)[0] >> 1)


def steps_per_epoch(train_per_epoch: int, batch_size: int) -> int:
    """Train steps per epoch for a per-process batch of `batch_size`.

    Raises:
      ValueError: the batch is larger than one process's share of an epoch.
    """
    steps = train_per_epoch // batch_size
    if steps < 1:
        raise ValueError(
            f'per-process batch {batch_size} is larger than the {train_per_epoch} train examples '
            'each process reads per epoch; lower the batch size'
        )
    return steps


def _options() -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = True
    # One thread per op: parallelism comes from parallel map, not from each op grabbing cores.
    options.threading.max_intra_op_parallelism = 1
    return options


def indexed_source(
    train_items: np.ndarray,
    train_labels: np.ndarray,
    eval_items: np.ndarray,
    eval_labels: np.ndarray,
    *,
    process_index: int,
    process_count: int,
    read: Callable[[tf.Tensor], tf.Tensor] | None = None,
    channels: int = 0,
) -> Source:
    """A `Source` over random-access items: file paths (`read=tf.io.read_file`, decoded to
    `channels`), bytes, or decoded images (a uint8 (N, H, W, C) array: the decoded-image cache,
    `lineage.data.cache`).

    Train: each epoch is a fresh permutation of the whole split drawn from (seed, epoch);
    process p reads part p of `process_count` equal parts of it (`N // process_count` each, so
    the few examples left over differ from epoch to epoch). Every process thus sees a uniform
    sample of the split, however the items are ordered. Eval: a contiguous `even_split` part.
    """
    train_items, train_labels = _items(train_items), np.asarray(train_labels, np.int32)
    eval_items, eval_labels = _items(eval_items), np.asarray(eval_labels, np.int32)
    per_process = len(train_items) // process_count
    eval_start, eval_end = even_split(len(eval_items), process_index, process_count)

    def examples(items: np.ndarray, labels: np.ndarray) -> tf.data.Dataset:
        if items.dtype != np.uint8:
            items = tf.constant(items, tf.string, shape=[len(items)])
        return tf.data.Dataset.from_tensor_slices({'encoded': items, 'label': labels})

    def train_epoch(epoch: int, seed: int, offset: int) -> tf.data.Dataset:
        order = np.random.default_rng(derive_seed(seed, epoch)).permutation(len(train_items))
        start = process_index * per_process
        mine = order[start + offset : start + per_process]
        return examples(train_items[mine], train_labels[mine])

    return Source(
        train_epoch=train_epoch,
        train_per_epoch=per_process,
        eval_examples=lambda: examples(
            eval_items[eval_start:eval_end], eval_labels[eval_start:eval_end]
        ),
        eval_local=eval_end - eval_start,
        eval_max=-(-len(eval_items) // process_count),
        read=read,
        channels=channels,
    )


def _items(items) -> np.ndarray:
    """Decoded images stay a uint8 array; paths and encodings become an object array (a numpy
    bytes array, dtype S, would strip trailing NUL bytes of encodings)."""
    if isinstance(items, np.ndarray) and items.dtype == np.uint8:
        return items
    return np.asarray(items, object)


def train_batches(
    source: Source,
    transform: Transform,
    *,
    batch_size: int,
    seed: int,
    start_step: int,
    process_index: int,
) -> Iterator[Batch]:
    """The endless train stream of this process, batch `start_step` first.

    Args:
      source: where the encoded examples come from.
      transform: the train transform (`lineage.data.preprocess`).
      batch_size: the per-process batch.
      seed: the run's data seed.
      start_step: the first step to yield (0 for a fresh run, the restored step on resume).
      process_index: this process, mixed into the augmentation seeds.

    Returns:
      An iterator of {'image': float32 (B, H, W, C), 'label': int32 (B,)} numpy batches.

    Raises:
      ValueError: the batch is larger than a process's share of an epoch, or start_step < 0.
    """
    steps = steps_per_epoch(source.train_per_epoch, batch_size)
    if start_step < 0:
        raise ValueError(f'start_step must be >= 0, got {start_step}')
    return _train_stream(source, transform, batch_size, seed, start_step, steps, process_index)


def _train_stream(source, transform, batch_size, seed, start_step, steps, process_index):
    epoch, step = divmod(start_step, steps)
    while True:
        offset, end = step * batch_size, steps * batch_size
        epoch_key = tf.random.experimental.stateless_fold_in(
            tf.constant([seed, process_index], tf.int64), epoch
        )

        def prepare(position, example, epoch_key=epoch_key):
            key = tf.random.experimental.stateless_fold_in(epoch_key, position)
            features = transform.example(source.encoded(example), key)
            return {**features, 'label': tf.cast(example['label'], tf.int32)}

        def finish(batch):
            return {'image': transform.batch(batch), 'label': batch['label']}

        ds = source.train_epoch(epoch, seed, offset).take(end - offset).enumerate(start=offset)
        ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.batch(batch_size, drop_remainder=True)
        ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.prefetch(tf.data.AUTOTUNE).with_options(_options())
        yield from _numpy(
            ds,
            source,
            lambda n, e=epoch, o=offset: source.train_epoch(e, seed, o + n * batch_size),
            batch_size,
        )
        epoch, step = epoch + 1, 0


def eval_batches(source: Source, transform: Transform, *, batch_size: int) -> Iterator[Batch]:
    """This process's eval examples once, padded to the same number of batches everywhere.

    Args:
      source: where the encoded examples come from.
      transform: the eval transform (`lineage.data.preprocess`).
      batch_size: the per-process batch.

    Returns:
      An iterator of {'image', 'label', 'mask'} numpy batches; 'mask' is 1.0 for real examples,
      0.0 for padding (whose image and label are zeros).
    """
    if batch_size < 1:
        raise ValueError(f'eval batch size must be >= 1, got {batch_size}')
    num_batches = -(-source.eval_max // batch_size)
    padding = num_batches * batch_size - source.eval_local

    def prepare(example):
        features = transform.example(source.encoded(example), tf.zeros([2], tf.int32))
        label = tf.cast(example['label'], tf.int32)
        return {**features, 'label': label, 'mask': tf.constant(1.0, tf.float32)}

    def finish(batch):
        real = batch['mask'][:, None, None, None] > 0
        image = tf.where(real, transform.batch(batch), 0.0)
        return {'image': image, 'label': batch['label'], 'mask': batch['mask']}

    ds = source.eval_examples().take(source.eval_local)
    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    blank = tf.nest.map_structure(lambda s: tf.zeros(s.shape, s.dtype), ds.element_spec)
    ds = ds.concatenate(tf.data.Dataset.from_tensors(blank).repeat(padding))
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.prefetch(tf.data.AUTOTUNE).with_options(_options())
    return _numpy(ds, source, lambda n: source.eval_examples().skip(n * batch_size), batch_size)


def _numpy(
    ds: tf.data.Dataset,
    source: Source,
    examples_from: Callable[[int], tf.data.Dataset],
    batch_size: int,
) -> Iterator[Batch]:
    """`ds`'s batches as numpy; where the examples are files, one that fails to decode is named.

    Args:
      ds: the batched pipeline.
      source: its source (`read` set: 'encoded' holds file paths).
      examples_from: `n -> the source's examples from batch n on`, in the pipeline's order.
      batch_size: examples per batch.
    """
    batches = ds.as_numpy_iterator()
    if source.read is None:
        return batches

    def paths(n: int) -> list[str]:
        examples = examples_from(n).take(batch_size).as_numpy_iterator()
        return [os.fsdecode(example['encoded']) for example in examples]

    return image_check.naming_bad_files(batches, paths, source.channels)


def make_dataset(
    source: Source,
    *,
    name: str,
    num_classes: int,
    image_shape: tuple[int, int, int],
    num_train: int,
    num_eval: int,
    train_preprocess: Transform,
    eval_preprocess: Transform,
    process_index: int,
) -> Dataset:
    """Wraps a `Source` and its transforms into the `Dataset` the training loop sees."""

    def train(batch_size: int, seed: int, start_step: int = 0) -> Iterator[Batch]:
        return train_batches(
            source,
            train_preprocess,
            batch_size=batch_size,
            seed=seed,
            start_step=start_step,
            process_index=process_index,
        )

    def evaluate(batch_size: int) -> Iterator[Batch]:
        return eval_batches(source, eval_preprocess, batch_size=batch_size)

    return Dataset(name, num_classes, image_shape, num_train, num_eval, train, evaluate)
