"""The up-front check that every file of an image folder decodes, and its on-disk cache.

A file can start and end like an image and still not decode: a JPEG whose body was scrambled
between an intact header and an intact FF D9 end (a bad sector, a broken copy). TensorFlow would
stop the run at the first batch holding it, with a traceback that names no file. So before any
training each file is decoded once, by the decoder the pipeline uses (`tf.io.decode_image`) to the
channels it uses (a CMYK JPEG or a GIF decodes to 3, not to 1), in a parallel `tf.data` map; a
file that fails to decode is a bad image like any other.

Verdicts are kept per split folder and channel count in `$XDG_CACHE_HOME/lineage/image_check/`
(default `~/.cache/lineage/image_check/`), keyed by each file's path, size, modification time,
status change time and inode, so a rerun on an unchanged folder decodes nothing, and a replaced or
touched file is checked again: even one swapped in at the same size and then given the old
modification time (`touch -r`), which changes its ctime (and, replaced by a rename, its inode).

A file can still change after the check (during a run). The pipeline then names it
(`naming_bad_files`), where TensorFlow's decode error names no file.
What the check costs on CIFAR-10: experiments/results/image_check.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from absl import logging

VERSION = 2  # of the cache's format and of what a verdict covers


def cache_path(root: str, channels: int = 0) -> str:
    """The cache file of the folder `root` decoded to `channels` (one per folder and channel
    count, named by the hash of both)."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache')
    named = f'{os.path.realpath(root)}:{channels}'
    digest = hashlib.sha256(named.encode()).hexdigest()[:20]
    return os.path.join(base, 'lineage', 'image_check', f'{digest}.json')


def _load(path: str) -> dict[str, list]:
    """{relative path: [*key, pixels, decodes]} (`_key`; decodes is None where the file was
    not decoded, over the pixel limit); empty when there is no usable cache."""
    try:
        with open(path) as f:
            data = json.load(f)
        return data['files'] if data.get('version') == VERSION else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _save(path: str, files: dict[str, list]) -> None:
    """Writes the cache atomically; a cache that cannot be written only costs the next run time."""
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, 'w') as f:
            json.dump({'version': VERSION, 'files': files}, f)
        os.replace(tmp, path)
    except OSError as e:
        logging.info('image_check: could not write the cache %s (%s)', path, e.strerror)


def decodes(paths: Sequence[str], channels: int = 0) -> list[bool]:
    """Whether each file decodes with `tf.io.decode_image` to `channels` (0: its own), as the
    input pipeline decodes it: a CMYK JPEG, a GIF or a palette BMP decodes to 3 channels but
    not to 1."""
    import tensorflow as tf

    if not paths:
        return []

    def decode(index):
        image = tf.io.decode_image(
            tf.io.read_file(tf.gather(names, index)), channels=channels, expand_animations=False
        )
        return index, tf.shape(image)  # an output that needs the decode, so it runs

    names = tf.constant(list(paths))
    survivors = (
        tf.data.Dataset.range(len(paths))
        .map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
        .ignore_errors()
        .batch(4096)
    )
    ok = np.zeros(len(paths), bool)
    for indices, _ in survivors.as_numpy_iterator():
        ok[indices] = True
    return ok.tolist()


def _stat(path: str) -> os.stat_result | None:
    """The file's status, following links; None for a broken or looping link (a bad file)."""
    try:
        return os.stat(path)
    except OSError:
        return None


def _key(st: os.stat_result) -> list[int]:
    """What a cached verdict is valid for: the file's size, mtime, ctime and inode. A file's
    ctime cannot be set back (`touch -r` sets only mtime and atime)."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _look(look: Callable[[str], int], path: str) -> int:
    """`look(path)`, 0 (not an image) where the file cannot be read: a bad file, not a crash."""
    try:
        return look(path)
    except OSError:
        return 0


def check_files(
    root: str,
    paths: Sequence[str],
    look: Callable[[str], int],
    max_pixels: int = 0,
    channels: int = 0,
) -> tuple[list[bool], list[int]]:
    """Whether each file under `root` is a whole image (`look`) within `max_pixels` that decodes
    to `channels` (0: its own).

    Files unchanged since a cached verdict (same `_key`) are not read. A file that cannot be
    read (a broken or looping link, no permission) is bad. A file over `max_pixels` is not
    decoded (a decompression bomb would take seconds and gigabytes); its size is cached, so a
    rerun with the limit raised decodes it then.

    Args:
      root: the folder holding `paths` (a split folder); the cache is kept per folder.
      paths: the files, under `root`.
      look: `path -> pixels its header states`, 0 when it is not a whole image; run first (a
        cheap look at its first and last bytes): a file it rejects is not decoded.
      max_pixels: the most pixels an image may state; 0 for no limit.
      channels: the channels the pipeline decodes to; verdicts are cached per channel count.

    Returns:
      (whether each file decodes, False where it was not decoded; the pixels its header states).
    """
    started = time.perf_counter()
    cache_file = cache_path(root, channels)
    cached = _load(cache_file)
    keys = [os.path.relpath(p, root) for p in paths]
    stats = [_stat(p) for p in paths]
    over = lambda px: 0 < max_pixels < px  # noqa: E731
    found: list[list | None] = []  # [pixels, decodes (None: not decoded)] per file, or None
    for key, st in zip(keys, stats, strict=True):
        hit = cached.get(key)
        fresh = hit is not None and st is not None and hit[:-2] == _key(st)
        found.append([0, False] if st is None else hit[-2:] if fresh else None)
    todo = [i for i, f in enumerate(found) if f is None or (f[1] is None and not over(f[0]))]
    if todo:
        # Reading headers is I/O-bound: threads hide the latency of network file systems.
        with ThreadPoolExecutor(16) as pool:
            sizes = list(
                pool.map(lambda p: _look(look, p), [paths[i] for i in todo], chunksize=256)
            )
        for i, px in zip(todo, sizes, strict=True):
            found[i] = [px, None if over(px) else False]
        whole = [i for i in todo if found[i][0] and not over(found[i][0])]
        for i, ok in zip(whole, decodes([paths[i] for i in whole], channels), strict=True):
            found[i][1] = ok
        rows = zip(keys, stats, found, strict=True)
        _save(cache_file, {k: [*_key(st), *f] for k, st, f in rows if st})
        logging.info(
            'image_check: decoded %d files of %s in %.1f s to check them (%d unchanged since '
            'the last check were not read; verdicts cached in %s)',
            len(whole),
            root,
            time.perf_counter() - started,
            len(paths) - len(todo),
            cache_file,
        )
    return [bool(f[1]) for f in found], [int(f[0]) for f in found]


def naming_bad_files(
    batches: Iterator, batch_paths: Callable[[int], Sequence[str]], channels: int
) -> Iterator:
    """`batches`, except that a decode failure in batch n ends them with one line naming the file.

    Args:
      batches: an iterator over a tf.data pipeline that reads and decodes image files.
      batch_paths: `n -> the files of batch n`.
      channels: the channels the pipeline decodes them to.

    Raises:
      ValueError: a file of the failing batch no longer decodes (the TensorFlow error is raised
        as it is where every file of that batch decodes).
    """
    import tensorflow as tf

    n = 0
    try:
        for batch in batches:
            yield batch
            n += 1
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError):
        paths = list(batch_paths(n))
        bad = [p for p, ok in zip(paths, decodes(paths, channels), strict=True) if not ok]
        if not bad:
            raise
        raise ValueError(
            f'{bad[0]!r} no longer decodes: it changed after the check before training; replace '
            'or remove it, then rerun'
        ) from None
