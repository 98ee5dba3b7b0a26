"""The block registry: every lineage block by name, built from one contract.

A block is registered with a builder `build(in_features, out_features, strides, *, rngs,
dtype=None, **options) -> nnx.Module` mapping NHWC `(N, H, W, in_features)` to
`(N, ceil(H / strides), ceil(W / strides), out_features)`. The ladder network, the summary CLI
and the generic block tests take blocks by name through this contract, so a new block is one file
plus `@register_block('name')`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from flax import nnx


class BlockBuilder(Protocol):
    def __call__(
        self, in_features: int, out_features: int, strides: int, *, rngs: nnx.Rngs, **options: Any
    ) -> nnx.Module: ...


_BLOCKS: dict[str, BlockBuilder] = {}


def register_block(name: str) -> Callable[[BlockBuilder], BlockBuilder]:
    """Decorator registering a block builder under `name` (names are unique)."""

    def decorator(builder: BlockBuilder) -> BlockBuilder:
        if name in _BLOCKS:
            raise ValueError(f'block {name!r} is registered twice; pick another name')
        _BLOCKS[name] = builder
        return builder

    return decorator


def block_names() -> list[str]:
    """Sorted names of all registered blocks."""
    import lineage.blocks  # noqa: F401  (registers the built-in blocks)

    return sorted(_BLOCKS)


def build_block(
    name: str, in_features: int, out_features: int, strides: int = 1, *, rngs: nnx.Rngs, **options
) -> nnx.Module:
    """Builds the block registered as `name`.

    Raises:
      ValueError: one line naming the unknown block and listing the choices.
    """
    names = block_names()
    if name not in _BLOCKS:
        raise ValueError(f'unknown block {name!r}; choose one of: {", ".join(names)}')
    return _BLOCKS[name](in_features, out_features, strides, rngs=rngs, **options)
