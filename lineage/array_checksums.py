"""A crc32 per array of a train state: a checkpoint whose bytes changed on disk is found.

A bit flip at the same size (a failing disk, a bad copy) restores without error, to other
values: orbax's files hold no checksum that it checks on every read. `Checkpoints.save`
(lineage/checkpoint.py) keeps `of(state)` in each checkpoint's JSON record, written with the
checkpoint, and `resume` calls `verify` on what it restored: a mismatch is damage, and the
checkpoint before it is taken.
"""

from __future__ import annotations

import zlib
from typing import Any

import jax
import numpy as np


def of(state: Any) -> dict[str, str]:
    """The crc32 of each array's bytes in `state`, by its path in the tree.

    Saved in each checkpoint's record and checked on restore: a checkpoint whose bytes changed
    at the same size (a bit flip on disk) restores without error, but not to these values.
    The arrays are replicated, so each process hashes its own copy.
    """
    sums = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        if isinstance(leaf, jax.Array):
            leaf = leaf.addressable_data(0)
        data = np.ascontiguousarray(np.asarray(leaf))
        sums[jax.tree_util.keystr(path)] = f'{zlib.crc32(data.tobytes()):08x}'
    return sums


def verify(state: Any, saved: dict[str, str] | None) -> None:
    """Raises naming the first array whose checksum is not the saved one (none saved: passes)."""
    if saved is None:  # written before checksums were kept
        return
    found = of(state)
    for key in sorted(set(saved) | set(found)):
        if saved.get(key) != found.get(key):
            raise ValueError(
                f'checksum mismatch in {key}: the bytes on disk changed since the save'
            )
