"""The block registry: every lineage block by name, built from one contract.

A block is registered with a builder `build(in_features, out_features, strides, *, rngs,
dtype=None, **options) -> nnx.Module` mapping NHWC `(N, H, W, in_features)` to
`(N, ceil(H / strides), ceil(W / strides), out_features)`. The ladder network, the summary CLI
and the generic block tests take blocks by name through this contract, so a new block is one file
plus `@register_block('name')`. The registry is lineage's one `Registry` (lineage/registry.py).
"""

from __future__ import annotations

import inspect
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


# The arguments every builder takes (the contract above); the rest of its signature is options.
CONTRACT = ('in_features', 'out_features', 'strides', 'rngs', 'dtype')


def block_options(name: str) -> list[str] | None:
    """The options block `name`'s builder takes beyond the contract's arguments, in its order;
    None for a builder that takes any (`**options`)."""
    parameters = inspect.signature(BLOCKS.get(name)).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.name not in CONTRACT]


def build_block(
    name: str, in_features: int, out_features: int, strides: int = 1, *, rngs: nnx.Rngs, **options
) -> nnx.Module:
    """Builds the block registered as `name`.

    Raises:
      ValueError: one line naming the unknown block and listing the choices, or naming the
        options it does not take and listing those it does.
    """
    known = block_options(name)  # None: the builder checks its own
    unknown = [] if known is None else [k for k in options if k not in (*CONTRACT, *known)]
    if unknown:
        raise ValueError(
            f'block {name!r} takes no option {", ".join(map(repr, unknown))}; '
            f'its options: {", ".join(known) if known else "none"}'
        )
    return BLOCKS.get(name)(in_features, out_features, strides, rngs=rngs, **options)
