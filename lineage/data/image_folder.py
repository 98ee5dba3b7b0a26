"""An image folder as a data set: `<data_dir>/<split>/<class>/<image>`, torchvision-style.

    cifar10-jpeg/train/airplane/0000.jpg ...   cifar10-jpeg/test/truck/0999.jpg

Class names are the sorted union of the class folders of both splits (a class missing from one
split keeps its label; one the train split lacks is a warning), split sizes are the files found.
Images are JPEG, PNG, BMP or GIF (recognized by their first bytes, whatever their extension), of
any size: preprocessing resizes them. Every image is decoded to the channels of the first train
image (1 for a grayscale one, else 3: an RGBA PNG loses its alpha). Anything else in a class
folder (a README, an HTML error page renamed .jpg, an image whose download stopped midway,
recognized by its last bytes, or one that does not decode to those channels, found by decoding
every file once before training: `image_check`) is a bad image: skipped with one counted
warning (`on_bad_image='skip'`, the default, as a folder gathered from the web usually holds a
few) or rejected naming the file (`'error'`); so is a broken or looping link. Links to folders
are followed, but no folder is read twice: a link back to a folder already read (a loop) is not
followed, with one warning. Hidden files and folders (`.DS_Store`, `.ipynb_checkpoints`) are
ignored.

Each split is decoded once into memory where it fits (`config.dataset.cache`,
`lineage.data.cache`), with the same batches as decoding every epoch.

Train order is a fresh permutation of the whole split each epoch (`pipeline.indexed_source`),
so the files' order on disk does not matter.

    --config.dataset.name=image_folder --config.dataset.data_dir=../shared/data/cifar10-jpeg
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from absl import logging

from lineage.data import config as fields
from lineage.data import image_check, image_header
from lineage.data.dataset import Dataset, register_dataset

# File signatures (magic numbers) of the formats tf.io.decode_image reads.
JPEG, PNG, BMP = b'\xff\xd8\xff', b'\x89PNG\r\n\x1a\n', b'BM'
GIF = (b'GIF87a', b'GIF89a')
SIGNATURES = (JPEG, PNG, BMP, *GIF)
# How far from a file's end its end marker may sit (writers may pad after it).
TAIL = 64


@dataclasses.dataclass(frozen=True)
class FolderSplit:
    """The images of one split: paths, integer labels, the files that were not images, and the
    images over the pixel limit with the pixels their headers state, and the channels the
    images were checked to decode to."""

    paths: list[str]
    labels: list[int]
    bad: list[str]
    large: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    channels: int = 0


def is_image(path: str) -> bool:
    """Whether the file starts like a JPEG, PNG, BMP or GIF and ends like a whole one.

    The end is what a cut-off download lacks, while its header still reads fine (and decoding
    would then stop the run midway): JPEG's end-of-image marker FF D9 and PNG's IEND chunk in
    the last TAIL bytes, GIF's trailer byte 3B last, and a BMP as long as its header says.
    """
    with open(path, 'rb') as f:
        head = f.read(8)
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - TAIL))
        tail = f.read()
    if head.startswith(JPEG):
        return b'\xff\xd9' in tail
    if head.startswith(PNG):
        return b'IEND\xaeB`\x82' in tail
    if head.startswith(GIF):
        return tail.endswith(b'\x3b')
    if head.startswith(BMP):
        return len(head) >= 6 and size >= int.from_bytes(head[2:6], 'little')
    return False


def _holds(folder: str, root: str) -> bool:
    """Whether the real folder `folder` is the real folder `root` or one above it."""
    return folder == root or root.startswith(folder.rstrip(os.sep) + os.sep)


def _folders(root: str) -> tuple[list[str], list[str]]:
    """(class folder names, links that lead back to `root` or above it: loops) in `root`."""
    real = os.path.realpath(root)
    names, loops = [], []
    for e in sorted(os.scandir(root), key=lambda e: e.name):
        if e.is_dir() and e.name[0] != '.':
            (loops if _holds(os.path.realpath(e.path), real) else names).append(e.name)
    return names, [os.path.join(root, name) for name in loops]


def class_names(data_dir: str, splits: Sequence[str]) -> list[str]:
    """Sorted union of the class folders under each `data_dir/<split>`; a link that leads back
    to the split folder (or above it) is a loop, not a class."""
    names = set()
    for split in splits:
        names.update(_folders(os.path.join(data_dir, split))[0])
    return sorted(names)


def _walk_once(top: str, split: str, seen: set[str], links: list[str]) -> list[str]:
    """The files under `top` in sorted order, following folder links but entering each real
    folder once: a link to a folder already read, or to one above the split, goes to `links`.

    Args:
      top: a class folder.
      split: the real path of the split folder.
      seen: real paths of the folders read so far; grows.
      links: the folder links not followed; grows.
    """
    files = []
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        kept = []
        for d in sorted(d for d in dirnames if d[0] != '.'):
            real = os.path.realpath(os.path.join(dirpath, d))
            if real in seen or _holds(real, split):
                links.append(os.path.join(dirpath, d))
            else:
                seen.add(real)
                kept.append(d)
        dirnames[:] = kept
        files.extend(os.path.join(dirpath, f) for f in sorted(filenames) if f[0] != '.')
    return files


def look(path: str) -> int:
    """The pixels a whole image's header states (1 where it states none that reads: decoding
    decides); 0 for a file that is not a whole image (`is_image`)."""
    return (image_header.pixels(path) or 1) if is_image(path) else 0


def scan_split(
    root: str, classes: Sequence[str], max_pixels: int = 0, channels: int | None = None
) -> FolderSplit:
    """Lists `root/<class>/**` in sorted order; checks each file's first and last bytes, then
    that it decodes to `channels` (`image_check`, cached); None: to the channels of the first
    file that reads as an image (`_native_shape`), which the pipeline then decodes every image to.

    Files directly in `root` (outside any class folder) count as bad images, and so do broken
    or looping links. Folder links are followed, but no real folder is read twice (one
    warning counts the links not followed). Images over `max_pixels` (0: no limit) are not
    decoded, and are listed apart.
    """
    candidates, labels = [], []
    links = _folders(root)[1]
    split = os.path.realpath(root)
    seen = {split}
    for label, name in enumerate(classes):
        class_dir = os.path.join(root, name)
        real = os.path.realpath(class_dir)
        if not os.path.isdir(class_dir):
            continue
        if real in seen:  # a class folder linked to another one
            links.append(class_dir)
            continue
        seen.add(real)
        files = _walk_once(class_dir, split, seen, links)
        candidates.extend(files)
        labels.extend([label] * len(files))
    if links:
        logging.warning(
            'image_folder: did not follow %d folder links in %s that lead to a folder read '
            'already or above the split: a loop, or a second path to the same images (first: %s)',
            len(links),
            root,
            links[0],
        )
    stray = sorted(
        e.path for e in os.scandir(root) if not e.is_dir() and e.name[0] != '.'
    )  # files (and broken links) next to the class folders
    if channels is None:
        channels = _first_channels(candidates)
    ok, pixels = image_check.check_files(root, candidates, look, max_pixels, channels)
    large = [0 < max_pixels < px for px in pixels]
    good = [k and not big for k, big in zip(ok, large, strict=True)]
    return FolderSplit(
        paths=[p for p, g in zip(candidates, good, strict=True) if g],
        labels=[y for y, g in zip(labels, good, strict=True) if g],
        bad=stray + [p for p, k, big in zip(candidates, ok, large, strict=True) if not (k or big)],
        large=[(p, px) for p, px, big in zip(candidates, pixels, large, strict=True) if big],
        channels=channels,
    )


def resolve_splits(data_dir: str, train_split: str, eval_split: str) -> tuple[str, str]:
    """Checks the split folders exist; '' for eval picks test, validation or val."""
    if not os.path.isdir(data_dir):
        raise ValueError(
            f'image folder {data_dir!r} does not exist; set --config.dataset.data_dir to a folder '
            'holding <split>/<class>/<images>'
        )
    present = sorted(e.name for e in os.scandir(data_dir) if e.is_dir() and e.name[0] != '.')
    if not eval_split:
        eval_split = next((s for s in fields.EVAL_SPLIT_CHOICES if s in present), '')
    for split, field in ((train_split, 'train_split'), (eval_split, 'eval_split')):
        if split not in present:
            parent, name = os.path.split(os.path.normpath(os.path.abspath(data_dir)))
            splits = (train_split, eval_split, *fields.EVAL_SPLIT_CHOICES)
            fix = (  # data_dir named a split folder itself, e.g. <data_dir>/train
                f'pass its parent, --config.dataset.data_dir={parent}'
                if name in splits and split and os.path.isdir(os.path.join(parent, split))
                else f'set --config.dataset.{field}'
            )
            raise ValueError(
                f'image folder {data_dir!r} has no {split or "test/validation/val"!r} folder '
                f'(it has: {", ".join(present) or "nothing"}); {fix}'
            )
    return train_split, eval_split


def _report_bad(split_dir: str, bad: list[str], policy: str, channels: int) -> None:
    if not bad:
        return
    # TensorFlow decodes no GIF, palette or RGBA BMP, or CMYK JPEG to one channel.
    gray = ', or not decodable to grayscale like the first train image' if channels == 1 else ''
    if policy == 'error':
        what = (
            'a broken or looping link'
            if not os.path.exists(bad[0])
            else f'not a JPEG/PNG/BMP/GIF image, or is cut short or corrupt{gray}'
        )
        raise ValueError(
            f'{bad[0]!r} is {what} ({len(bad)} such files in {split_dir}); remove it, or set '
            '--config.dataset.on_bad_image=skip'
        )
    logging.warning(
        'image_folder: skipped %d files in %s that are not JPEG/PNG/BMP/GIF images, are cut '
        'short or corrupt, or are broken links%s (first: %s); '
        'set --config.dataset.on_bad_image=error to stop instead',
        len(bad),
        split_dir,
        gray,
        bad[0],
    )


def _report_large(split_dir: str, large: list[tuple[str, int]], policy: str, limit: int) -> None:
    if not large:
        return
    (path, pixels), guard = large[0], 'a guard against decompression bombs'
    if policy == 'error':
        raise ValueError(
            f'{path!r} is {pixels:,} pixels, over --config.dataset.max_image_pixels={limit:,} '
            f'({guard}); raise it to use the image, or remove it'
        )
    logging.warning(
        'image_folder: skipped %d images in %s over config.dataset.max_image_pixels=%s pixels, '
        '%s (first: %s, %s pixels); raise it to use them',
        len(large),
        split_dir,
        f'{limit:,}',
        guard,
        path,
        f'{pixels:,}',
    )


def _first_channels(paths: Sequence[str]) -> int:
    """The channels (`_native_shape`) of the first of `paths` that is a whole image (`look`)
    whose header PIL reads; 0 where none is."""
    for path in paths:
        try:
            if look(path):
                return _native_shape(path)[2]
        except OSError:  # unreadable, or a header PIL does not read: a bad file, checked below
            continue
    return 0


def _native_shape(path: str) -> tuple[int, int, int]:
    """(height, width, channels) of an image file, from its header."""
    from PIL import Image

    with Image.open(path) as image:
        channels = 1 if image.mode in ('1', 'L', 'LA', 'I', 'I;16', 'F') else 3
        return image.height, image.width, channels


def _report_missing_classes(
    splits: dict[str, FolderSplit], classes: Sequence[str], train_split: str, eval_split: str
) -> None:
    """Logs the classes a split has no images of: a warning for the train split, whose missing
    classes' eval images can only be misclassified."""
    for split, found in splits.items():
        present = set(found.labels)
        missing = [c for i, c in enumerate(classes) if i not in present]
        if missing and split == train_split:
            logging.warning(
                'image_folder: split %r has no images of %s, which %r has: the model never '
                'learns them, so top-1 cannot reach 100%%', split, ', '.join(missing), eval_split
            )  # fmt: skip
        elif missing:
            logging.info('image_folder: split %r has no images of %s', split, ', '.join(missing))


# Every shared field but the TFDS shuffle buffer: an image folder shuffles fully, by index.
READS = frozenset(fields.DEFAULTS) - {'name', 'shuffle_buffer'}


@register_dataset('image_folder', READS)
def build(config: Any, process_index: int, process_count: int) -> Dataset:
    """The image folder at `config.data_dir`, this process's part (see `lineage.data.config`)."""
    import tensorflow as tf  # only once a folder is used: importing lineage.data stays light

    from lineage.data import cache, pipeline, preprocess

    data_dir = fields.get(config, 'data_dir')
    policy = fields.get(config, 'on_bad_image')
    if policy not in ('skip', 'error'):
        raise ValueError(f"on_bad_image must be 'skip' or 'error', got {policy!r}")
    train_split, eval_split = resolve_splits(
        data_dir, fields.get(config, 'train_split'), fields.get(config, 'eval_split')
    )
    classes = class_names(data_dir, (train_split, eval_split))
    if not classes:
        raise ValueError(f'image folder {data_dir!r} has no class folders under {train_split!r}')
    limit = fields.get(config, 'max_image_pixels')
    splits, channels = {}, None  # the train split's first image sets the channels of both
    for split in (train_split, eval_split):
        split_dir = os.path.join(data_dir, split)
        splits[split] = scan_split(split_dir, classes, limit, channels)
        channels = splits[split].channels
        _report_bad(split_dir, splits[split].bad, policy, channels)
        _report_large(split_dir, splits[split].large, policy, limit)
    train, evaluation = splits[train_split], splits[eval_split]
    if not train.paths:
        raise ValueError(f'image folder {data_dir!r} has no images under {train_split!r}')
    trained = sorted({classes[label] for label in train.labels})
    if len(trained) < 2:  # it would train to predict that class, and score 100% on it
        raise ValueError(
            f'image folder {data_dir!r} has {train_split} images of one class only '
            f'({trained[0]!r}); a classifier needs two or more: give each class a folder of '
            f'images under {train_split}/'
        )
    logging.info('image_folder: %d classes: %s', len(classes), ', '.join(classes))
    _report_missing_classes(splits, classes, train_split, eval_split)

    height, width, _ = _native_shape(train.paths[0])
    channels = train.channels
    image_size = fields.get(config, 'image_size')
    if not image_size:
        if height != width:
            raise ValueError(
                f'{train.paths[0]!r} is {height}x{width}, not square: set '
                '--config.dataset.image_size to the resolution to train at'
            )
        image_size = height
    train_fn, eval_fn, image_shape = preprocess.from_config(
        config, image_size=image_size, channels=channels
    )
    kind = preprocess.resolve_kind(fields.get(config, 'preprocess'), image_size)
    shape = (height, width, channels)
    decoded = cache.cached_splits(
        config, train.paths, evaluation.paths, tf.io.read_file, shape, kind
    )
    train_items, eval_items = decoded or (train.paths, evaluation.paths)
    source = pipeline.indexed_source(
        train_items,
        train.labels,
        eval_items,
        evaluation.labels,
        process_index=process_index,
        process_count=process_count,
        read=None if decoded else tf.io.read_file,
        channels=channels,
    )
    return pipeline.make_dataset(
        source,
        name=f'image_folder:{os.path.basename(os.path.normpath(data_dir))}',
        num_classes=len(classes),
        image_shape=image_shape,
        num_train=len(train.paths),
        num_eval=len(evaluation.paths),
        train_preprocess=train_fn,
        eval_preprocess=eval_fn,
        process_index=process_index,
    )
