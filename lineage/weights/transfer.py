"""Copies a foreign model's arrays into a lineage model's state, accounting for every one.

A `Transfer` holds the source's arrays by `(layer, weight)` name and the target's state
(parameters and BatchNorm statistics) by path. A mapping `put`s target paths from `take`n
source arrays; `finish` refuses the result, in one line, if any target array was left
unassigned or any source array unused, and `put` refuses any shape mismatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from flax import nnx

Path = tuple[Any, ...]


class TransferError(ValueError):
    """The source's weights do not fill the lineage model exactly; the message says where."""


def _name(path: Path) -> str:
    return '.'.join(str(p) for p in path)


class Transfer:
    """Source arrays -> a lineage model's `nnx.Param` and `nnx.BatchStat` arrays.

    Args:
      source: `{(layer, weight): array}`, e.g. `('block1_conv1', 'kernel')`.
      model: the lineage model (its structure and shapes; its values are replaced).
    """

    def __init__(self, source: Mapping[tuple[str, str], np.ndarray], model: nnx.Module):
        self.source = dict(source)
        self.used: set[tuple[str, str]] = set()
        state = nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat))
        self.target = dict(nnx.to_flat_state(state))
        self.values: dict[Path, np.ndarray] = {}

    def has(self, layer: str, weight: str) -> bool:
        """Whether the source holds `layer`'s `weight`."""
        return (layer, weight) in self.source

    def take(self, layer: str, weight: str) -> np.ndarray:
        """The source array `layer/weight`, marked used."""
        key = (layer, weight)
        if key not in self.source:
            raise TransferError(f'the weights file has no {layer}/{weight}; is it for this model?')
        self.used.add(key)
        return np.asarray(self.source[key])

    def put(self, path: Path, value: np.ndarray, origin: str) -> None:
        """Sets the lineage array at `path` to `value` (copied from `origin`, for messages)."""
        path = tuple(path)
        if path not in self.target:
            raise TransferError(f'lineage model has no {_name(path)} (for {origin})')
        shape = tuple(self.target[path].shape)
        if tuple(value.shape) != shape:
            raise TransferError(
                f'shape mismatch: {origin} is {tuple(value.shape)}, lineage {_name(path)} is '
                f'{shape}; check the model options (alpha, classes) against the weights'
            )
        if path in self.values:
            raise TransferError(f'lineage {_name(path)} assigned twice ({origin})')
        self.values[path] = np.asarray(value, self.target[path].dtype)

    def finish(self, model: nnx.Module) -> None:
        """Writes the transferred arrays into `model`.

        Raises:
          TransferError: naming the lineage arrays left unassigned or source arrays unused.
        """
        unassigned = [_name(p) for p in self.target if p not in self.values]
        unused = ['/'.join(k) for k in self.source if k not in self.used]
        if unassigned:
            more = f' and {len(unassigned) - 3} more' if len(unassigned) > 3 else ''
            raise TransferError(
                f'{len(unassigned)} lineage arrays left unassigned ({", ".join(unassigned[:3])}'
                f'{more}); the mapping does not cover this model'
            )
        if unused:
            more = f' and {len(unused) - 3} more' if len(unused) > 3 else ''
            raise TransferError(
                f'{len(unused)} weights in the file left unused ({", ".join(unused[:3])}{more}); '
                'is the file for this model and these options?'
            )
        nnx.update(
            model,
            nnx.from_flat_state([(p, v.replace(self.values[p])) for p, v in self.target.items()]),
        )
