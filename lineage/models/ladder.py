"""The ladder: one controlled network in which only the block type changes.

Every rung of the lineage (plain kxk stacks, multi-scale Inception modules, 1x1 reductions,
factorized, bottleneck, depthwise-separable, inverted-residual blocks, ...) is measured in the
same frame: the same stem, the same stage widths and depths, the same downsampling points and
the same head, so differences in accuracy, parameters and MACs come from the block alone.

    stem:   3x3 ConvBN-ReLU, in_channels -> stem_width (stride stem_stride)
    stage i: depths[i] blocks of `block`, widths[i] wide; the first block of every stage after
             the first has stride 2 (and takes the previous stage's width)
    head:   global average pool, dropout, dense -> num_classes

Blocks come by name from `lineage.blocks.build_block`, so a new rung is one block file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks import ClassifierHead, ConvBN, build_block
from lineage.models.registry import register_model

# The paper and table the registrations below come from (ModelInfo.paper).
PAPER = "none: lineage's own controlled network, one block type per rung (this file)"


class Ladder(nnx.Module):
    """Stem, stages of one block type, classifier head.

    Args:
      num_classes, dtype, rngs: as for every model (`lineage/models/registry.py`).
      block: registered block name (see `lineage.blocks.block_names()`).
      widths: output channels of each stage.
      depths: blocks in each stage.
      block_options: extra keyword options for every block (e.g. an expansion ratio); one left
        None is the block's own default.
      in_channels: input image channels (1 for digits, 3 for colour images).
      stem_width: stem output channels; defaults to `widths[0]`.
      stem_stride: stride of the stem convolution (1 at 32x32, 2 for larger inputs).
      dropout: dropout rate before the classifier.
    """

    def __init__(
        self,
        *,
        block: str = 'plain3x3',
        widths: Sequence[int] = (32, 64, 128),
        depths: Sequence[int] = (1, 1, 1),
        num_classes: int,
        block_options: Mapping[str, Any] | None = None,
        in_channels: int = 3,
        stem_width: int | None = None,
        stem_stride: int = 1,
        dropout: float = 0.0,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        widths, depths = tuple(int(w) for w in widths), tuple(int(d) for d in depths)
        if not widths or len(widths) != len(depths) or min(widths + depths) < 1:
            raise ValueError(
                f'ladder: widths {widths} and depths {depths} must be non-empty, of equal length, '
                'with every width and depth >= 1'
            )
        block_options = {k: v for k, v in (block_options or {}).items() if v is not None}
        self.block_name = block
        stem_width = int(stem_width or widths[0])
        self.stem = ConvBN(in_channels, stem_width, 3, strides=stem_stride, dtype=dtype, rngs=rngs)
        blocks = []
        features = stem_width
        for stage, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            for i in range(depth):
                strides = 2 if (stage > 0 and i == 0) else 1
                blocks.append(
                    build_block(
                        block, features, width, strides, rngs=rngs, dtype=dtype, **block_options
                    )
                )
                features = width
        self.blocks = nnx.List(blocks)
        self.head = ClassifierHead(features, num_classes, dropout=dropout, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


@register_model('ladder', input_size=32, paper=PAPER, params=425_736)  # plain3x3, 32/64/128
def ladder(**options) -> Ladder:
    """The ladder network; `Ladder`'s defaults are the CIFAR-size frame (32x32 input, 3 stages)."""
    return Ladder(**options)
