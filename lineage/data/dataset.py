"""The data interface every input pipeline implements, and the registry that picks one by name.

The training loop sees only `Dataset`: per-process numpy batches of NHWC float32 images and int32
labels, plus the split sizes. Train batches are an infinite, seed-deterministic stream that can
start at any step (so a resumed run sees the same data as an uninterrupted one). Eval batches
cover the eval split exactly once: the last batch is padded and `mask` marks the real examples,
and every process yields the same number of batches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from lineage.data import config as fields
from lineage.registry import Registry

Batch = dict[str, np.ndarray]  # 'image': (B, H, W, C) float32, 'label': (B,) int32[, 'mask']


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A data set as the training loop sees it, for this process.

    Attributes:
      name: the data set's name, for logs and results.
      num_classes: number of label classes.
      image_shape: (H, W, C) of the images the batches carry.
      num_train: examples in the whole train split (all processes).
      num_eval: examples in the whole eval split (all processes).
      train_batches: `(batch_size, seed, start_step) -> iterator` of this process's train
        batches of `batch_size` (the per-process batch), step `start_step` first.
      eval_batches: `(batch_size) -> iterator` of this process's eval batches with 'mask'
        (1.0 for real examples, 0.0 for padding); each example of the split appears exactly
        once, over all processes, with mask 1.
    """

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]
    num_train: int
    num_eval: int
    train_batches: Callable[[int, int, int], Iterator[Batch]]
    eval_batches: Callable[[int], Iterator[Batch]]


# builder(config.dataset, process_index, process_count) -> Dataset, registered with the
# `config.dataset` fields it reads besides `name` (a frozenset; None: not checked).
DatasetBuilder = Callable[[Any, int, int], Dataset]
DATASETS: Registry[DatasetBuilder] = Registry('data set', 'lineage.data')
register_dataset = DATASETS.register
dataset_names = DATASETS.names


def build_dataset(config: Any, process_index: int = 0, process_count: int = 1) -> Dataset:
    """Builds the data set named `config.name` for this process.

    Raises:
      ValueError: one line naming the unknown data set and listing the choices, a field set
        for a data set that does not read it (`lineage.data.config.refuse_unread`), or an
        image_size below 0.
    """
    builder, reads = DATASETS.get(config.name), DATASETS.info(config.name)
    fields.check_image_size(config)
    if reads is not None:
        fields.refuse_unread(config, config.name, reads)
    return builder(config, process_index, process_count)
