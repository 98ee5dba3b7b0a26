"""TensorFlow Datasets image classification sets by name, read offline from a prepared data_dir.

    --config.dataset.name=cifar10 --config.dataset.data_dir=/data/tensorflow_datasets

Nothing here touches the network: the builder is made with `try_gcs=False` and never asked to
download. A data set that is not prepared in `data_dir` stops at once with one line saying how
to prepare it (`tfds build NAME --data_dir=...` on a machine with network, then copy the folder).

Each process reads its own part of a split (`tfds.split_for_jax_process`). Images stay encoded
until the parallel map (`tfds.decode.SkipDecoding`), so an Inception crop decodes only its window
and resuming skips undecoded records. Each train epoch is read with file order and shuffle
buffer seeded from (seed, epoch, process).

TFDS_NAMES lists the registered sets; any TFDS set with an `Image` and a `ClassLabel` as its
supervised keys works once its name is added there.
"""

from __future__ import annotations

import os
from typing import Any

from lineage.data import config as fields
from lineage.data.dataset import Dataset, register_dataset

TFDS_NAMES = (
    'beans',
    'caltech101',
    'caltech_birds2011',
    'cars196',
    'cassava',
    'cats_vs_dogs',
    'cifar10',
    'cifar100',
    'cifar10_1',
    'colorectal_histology',
    'deep_weeds',
    'emnist',
    'eurosat',
    'fashion_mnist',
    'food101',
    'imagenet2012',
    'imagenet_a',
    'imagenet_r',
    'imagenet_resized/32x32',
    'imagenet_resized/64x64',
    'imagenet_v2',
    'imagenette',
    'imagewang',
    'kmnist',
    'mnist',
    'oxford_flowers102',
    'oxford_iiit_pet',
    'places365_small',
    'plant_village',
    'quickdraw_bitmap',
    'resisc45',
    'stanford_dogs',
    'stl10',
    'svhn_cropped',
    'tf_flowers',
    'uc_merced',
)


def not_prepared_message(name: str, data_dir: str | None, manual: bool) -> str:
    """The one line that says how to get a data set that is not in `data_dir`."""
    where = data_dir or os.environ.get('TFDS_DATA_DIR', '~/tensorflow_datasets')
    manual_dir = ' --manual_dir=<folder with the downloaded archives>' if manual else ''
    return (
        f'TFDS data set {name!r} is not prepared in {where}: on a machine with network run '
        f'`tfds build {name} --data_dir={where}{manual_dir}` (or copy a prepared data_dir '
        'there), then pass --config.dataset.data_dir'
    )


def load_builder(name: str, data_dir: str | None) -> Any:
    """The prepared TFDS builder for `name`, or one clear ValueError line. Never downloads."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir, try_gcs=False)
    except Exception as e:  # tfds raises several types for unknown names and configs
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f'TFDS cannot make a builder for {name!r}: {first}') from None
    if not builder.is_prepared():
        manual = bool(getattr(builder, 'MANUAL_DOWNLOAD_INSTRUCTIONS', None))
        raise ValueError(not_prepared_message(name, data_dir, manual))
    return builder


def _supervised_keys(builder: Any) -> tuple[str, str]:
    """(image key, label key), checked to be an Image and a ClassLabel."""
    import tensorflow_datasets as tfds

    keys = builder.info.supervised_keys
    features = builder.info.features
    if (
        not keys
        or not isinstance(features[keys[0]], tfds.features.Image)
        or not isinstance(features[keys[1]], tfds.features.ClassLabel)
    ):
        raise ValueError(
            f'TFDS {builder.name!r} is not an image classification set (supervised keys '
            f'{keys}); pick another --config.dataset.name'
        )
    return keys[0], keys[1]


def _split_sizes(builder: Any, split: str, process_count: int) -> list[int]:
    """Examples of `split` held by each process (tfds.split_for_jax_process parts)."""
    import tensorflow_datasets as tfds

    try:
        builder.info.splits[split]
    except (KeyError, ValueError, AssertionError):
        raise ValueError(
            f'TFDS {builder.name!r} has no split {split!r} (it has: '
            f'{", ".join(sorted(builder.info.splits))}); set --config.dataset.train_split or '
            'eval_split'
        ) from None
    return [
        builder.info.splits[
            tfds.split_for_jax_process(split, process_index=i, process_count=process_count)
        ].num_examples
        for i in range(process_count)
    ]


def build(config: Any, process_index: int, process_count: int) -> Dataset:
    """The TFDS set `config.name` for this process (fields: see `lineage.data.config`)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from lineage.data import pipeline, preprocess

    name = config.name
    builder = load_builder(name, fields.get(config, 'data_dir') or None)
    image_key, label_key = _supervised_keys(builder)
    train_split = fields.get(config, 'train_split')
    eval_split = fields.get(config, 'eval_split') or next(
        (s for s in fields.EVAL_SPLIT_CHOICES if s in builder.info.splits), 'test'
    )
    train_sizes = _split_sizes(builder, train_split, process_count)
    eval_sizes = _split_sizes(builder, eval_split, process_count)
    decoders = {image_key: tfds.decode.SkipDecoding()}
    shuffle_buffer = fields.get(config, 'shuffle_buffer')

    def examples(split, shuffle_seed: int | None) -> tf.data.Dataset:
        part = tfds.split_for_jax_process(
            split, process_index=process_index, process_count=process_count
        )
        ds = builder.as_dataset(
            split=part,
            # Ordered data sets (disable_shuffling) refuse file shuffling.
            shuffle_files=shuffle_seed is not None and not builder.info.disable_shuffling,
            read_config=tfds.ReadConfig(shuffle_seed=shuffle_seed, try_autocache=False),
            decoders=decoders,
        )
        return ds.map(
            lambda ex: {'encoded': ex[image_key], 'label': tf.cast(ex[label_key], tf.int32)},
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    def train_epoch(epoch: int, seed: int, offset: int) -> tf.data.Dataset:
        epoch_seed = pipeline.derive_seed(seed, epoch, process_index)
        ds = examples(train_split, epoch_seed)
        ds = ds.shuffle(shuffle_buffer, seed=epoch_seed, reshuffle_each_iteration=False)
        return ds.skip(offset)  # still-encoded records: no image is decoded to skip

    source = pipeline.Source(
        train_epoch=train_epoch,
        train_per_epoch=min(train_sizes),
        eval_examples=lambda: examples(eval_split, None),
        eval_local=eval_sizes[process_index],
        eval_max=max(eval_sizes),
    )

    shape = builder.info.features[image_key].shape
    image_size = fields.get(config, 'image_size') or (shape[0] if shape[0] == shape[1] else None)
    if not image_size:
        raise ValueError(
            f'{name!r} images vary in size {shape}: set --config.dataset.image_size (e.g. 224)'
        )
    train_fn, eval_fn, image_shape = preprocess.from_config(
        config, image_size=image_size, channels=shape[-1] or 3
    )
    return pipeline.make_dataset(
        source,
        name=name,
        num_classes=builder.info.features[label_key].num_classes,
        image_shape=image_shape,
        num_train=sum(train_sizes),
        num_eval=sum(eval_sizes),
        train_preprocess=train_fn,
        eval_preprocess=eval_fn,
        process_index=process_index,
    )


# Every shared field but the image folder's: TFDS records are neither scanned for bad files nor
# decoded into the cache.
READS = frozenset(fields.DEFAULTS) - {
    'name',
    'on_bad_image',
    'max_image_pixels',
    'cache',
    'cache_max_mb',
}
for _name in TFDS_NAMES:
    register_dataset(_name, READS)(build)
