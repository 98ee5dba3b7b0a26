"""The `config.dataset` fields every input pipeline reads, with their defaults.

`dataset_config()` returns them as a ConfigDict for `configs/*.py` to embed, so each field can be
overridden on the command line of a locked config:

    --config.dataset.name=image_folder --config.dataset.data_dir=../shared/data/cifar10-jpeg

Each data set registers the fields it reads; one set away from its default for a data set that
does not read it (a data_dir beside 'digits', a cache setting for TFDS) is refused before any
work, since the run would go on without it.

Fields:
  name: a registered data set: 'image_folder', a TFDS name ('cifar10', 'imagenet2012', ...;
    `lineage.data.dataset_names()` lists them) or 'digits'.
  data_dir: the image folder's root (holding `<split>/<class>/*.jpg|png`), or the TFDS data
    directory ('' = TFDS's default, `$TFDS_DATA_DIR` or ~/tensorflow_datasets).
  image_size: output height and width; 0 = the data's own size (TFDS features of fixed shape,
    or the first image of an image folder).
  preprocess: 'cifar' (pad-crop-flip), 'imagenet' (Inception crop), 'none' (resize only, [0, 1])
    or 'auto' ('cifar' up to 64 pixels, else 'imagenet'); see `lineage.data.preprocess`.
  grayscale_to_rgb: tile one-channel images to three channels (for RGB models on MNIST).
  mean, std: per-channel normalization in [0, 1] units; () = the preprocess family's defaults.
  normalize: 'mean_std' (with mean, std), or keras.applications' eval conventions 'inception'
    ([-1, 1]) and 'caffe' (BGR minus the ImageNet mean, 0-255 units); see
    `lineage.data.preprocess.NORMALIZATIONS`.
  train_split, eval_split: split names (TFDS slicing such as 'train[:90%]' works for TFDS);
    eval_split '' picks 'test', else 'validation', else 'val'.
  shuffle_buffer: examples in the TFDS shuffle buffer (image folders shuffle fully by index).
  cache, cache_max_mb: image folders only: decode each split once into memory (uint8) and
    augment per epoch, the same batches as without (`lineage.data.cache`); used where the splits
    fit cache_max_mb MiB decoded and their images share one size, else one line says it is off.
  on_bad_image: image folders only: 'skip' files that are not JPEG/PNG/BMP/GIF images with one
    counted warning, or 'error' naming the first such file.
  max_image_pixels: image folders only: an image whose header states more pixels is not decoded
    but skipped or refused as on_bad_image says (a decompression bomb: a small file that decodes
    to gigabytes); 0 = no limit. The default is PIL's `Image.MAX_IMAGE_PIXELS`.
"""

from __future__ import annotations

from typing import Any

import ml_collections

DEFAULTS: dict[str, Any] = {
    'name': 'image_folder',
    'data_dir': '',
    'image_size': 0,
    'preprocess': 'auto',
    'grayscale_to_rgb': False,
    'mean': (),
    'std': (),
    'normalize': 'mean_std',
    'train_split': 'train',
    'eval_split': '',
    'shuffle_buffer': 10_000,
    'on_bad_image': 'skip',
    'cache': True,
    'cache_max_mb': 4096,
    'max_image_pixels': 89_478_485,
}

EVAL_SPLIT_CHOICES = ('test', 'validation', 'val')
# The preprocessing families (`lineage.data.preprocess`); 'auto' picks one by image size.
PREPROCESS_KINDS = ('cifar', 'imagenet', 'none')


def dataset_config(**fields: Any) -> ml_collections.ConfigDict:
    """All `config.dataset` fields with their defaults, then `fields` (which may add fields
    that one data set alone reads, such as the digits' `max_shift`)."""
    return ml_collections.ConfigDict({**DEFAULTS, **fields})


def refuse_unread(config: Any, name: str, reads: frozenset[str]) -> None:
    """Refuses a shared field (`DEFAULTS`) set away from its default for a data set that does not
    read it (`reads`: the fields it does, besides `name`): the run would go on without it.

    Raises:
      ValueError: one line naming the field, the data set and the fix.
    """
    for field, default in DEFAULTS.items():
        value = get(config, field)
        if isinstance(value, list):
            value = tuple(value)
        if field != 'name' and field not in reads and value != default:
            raise ValueError(
                f'--config.dataset.{field}={value!r} is not read by the {name} data set; leave '
                f'it at {default!r}, or set --config.dataset.name to a data set that reads it '
                '(lineage/data/config.py)'
            )


def check_image_size(config: Any) -> None:
    """Refuses an image_size below 0, before a data set scans its files or a model sees it.

    Raises:
      ValueError: one line naming the value and what to give.
    """
    size = get(config, 'image_size')
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(
            f'--config.dataset.image_size={size!r}: give the size to train at (1 or more), or 0 '
            "for the data's own"
        )


def get(config: Any, field: str) -> Any:
    """`config.<field>`, or its default when a config leaves the field out."""
    value = config.get(field)
    return DEFAULTS[field] if value is None else value
