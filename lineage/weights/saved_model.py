"""A model's weights alone: what `lineage.import_weights` writes and `init_from` reads.

`<dir>/model/` holds the parameters and BatchNorm statistics as one orbax checkpoint (a nested
dict of arrays, `nnx.to_pure_dict`); `<dir>/model.json` says which model and options they
fit, and where they came from. No optimizer state: a run started from them begins its own.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

FINGERPRINT = 'model.json'
ARRAYS = 'model'


def is_saved_model(directory: str) -> bool:
    """Whether `directory` holds weights written by `save`."""
    return os.path.isfile(os.path.join(directory, FINGERPRINT))


def save(directory: str, model: nnx.Module, fingerprint: dict[str, Any]) -> None:
    """Writes `model`'s parameters and BatchNorm statistics, and `fingerprint`, to `directory`.

    Raises:
      ValueError: `directory` exists and is not empty (nothing is written over).
    """
    directory = os.path.abspath(directory)
    if os.path.isdir(directory) and os.listdir(directory):
        raise ValueError(f'{directory} is not empty; pass a new --output directory')
    os.makedirs(directory, exist_ok=True)
    state = nnx.to_pure_dict(nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat)))
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(os.path.join(directory, ARRAYS), state)
    with open(os.path.join(directory, FINGERPRINT), 'w') as f:
        json.dump(fingerprint, f, indent=2, sort_keys=True, default=str)


def read_fingerprint(directory: str) -> dict[str, Any]:
    """The JSON fingerprint `save` wrote beside the weights."""
    with open(os.path.join(directory, FINGERPRINT)) as f:
        return json.load(f)


def restore(directory: str) -> dict[tuple[Any, ...], np.ndarray]:
    """The saved arrays by path, e.g. `('head', 'fc', 'linear', 'kernel')`, as NumPy arrays."""
    with ocp.StandardCheckpointer() as checkpointer:
        tree = checkpointer.restore(os.path.join(os.path.abspath(directory), ARRAYS))
    return {path: np.asarray(v) for path, v in flatten(tree).items()}


def flatten(tree: Any, prefix: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    """A nested dict as `{path: leaf}`; digit keys (list indices, saved as strings) become ints."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out = {}
    for key, value in tree.items():
        key = int(key) if isinstance(key, str) and key.isdigit() else key
        out.update(flatten(value, (*prefix, key)))
    return out
