"""Records which layers a forward pass ran and the shapes they produced.

Layers that do multiply-accumulates (`ConvBN`, `Dense`) call `record(self, output)`; outside a
`tracing()` context that is a no-op, so training pays nothing. `lineage.counting` runs a model
under `jax.eval_shape` inside `tracing()` to build per-layer parameter and MAC tables without
computing anything.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import jax

_TAPE: contextvars.ContextVar[list[tuple[Any, tuple[int, ...]]] | None] = contextvars.ContextVar(
    'lineage_layer_tape', default=None
)


def record(module: Any, output: jax.Array) -> None:
    """Appends `(module, output.shape)` to the active tape, if any."""
    tape = _TAPE.get()
    if tape is not None:
        tape.append((module, tuple(output.shape)))


@contextlib.contextmanager
def tracing() -> Iterator[list[tuple[Any, tuple[int, ...]]]]:
    """Collects `(module, output_shape)` for every recorded layer called inside the block."""
    tape: list[tuple[Any, tuple[int, ...]]] = []
    token = _TAPE.set(tape)
    try:
        yield tape
    finally:
        _TAPE.reset(token)
