"""The block registry: every lineage block by name, built from one contract.

A block is registered with a builder `build(in_features, out_features, strides, *, rngs,
dtype=None, **options) -> nnx.Module` mapping NHWC `(N, H, W, in_features)` to
`(N, ceil(H / strides), ceil(W / strides), out_features)`. The ladder network, the summary CLI
and the generic block tests take blocks by name through this contract, so a new block is one file
plus `@register_block('name')`. The registry is lineage's one `Registry` (lineage/registry.py).
"""

from __future__ import annotations

from typing import Any, Protocol

from flax import nnx

from lineage.registry import Registry


class BlockBuilder(Protocol):
    def __call__(
        self, in_features: int, out_features: int, strides: int, *, rngs: nnx.Rngs, **options: Any
    ) -> nnx.Module: ...


BLOCKS: Registry[BlockBuilder] = Registry('block', 'lineage.blocks')
register_block = BLOCKS.register
block_names = BLOCKS.names


def build_block(
    name: str, in_features: int, out_features: int, strides: int = 1, *, rngs: nnx.Rngs, **options
) -> nnx.Module:
    """Builds the block registered as `name`.

    Raises:
      ValueError: one line naming the unknown block and listing the choices.
    """
    return BLOCKS.get(name)(in_features, out_features, strides, rngs=rngs, **options)
