"""The baseline rung: a plain stack of two kxk convolutions (VGG, Simonyan & Zisserman 2014).

Every later block of the lineage is measured against this one: the same input and output
widths, two full kxk convolutions, no branches, no reduction, no residual.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks.conv import ConvBN
from lineage.blocks.registry import register_block


class PlainConv(nnx.Module):
    """Two kxk ConvBN-ReLU layers, `in -> out` (stride on the first) then `out -> out`."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int,
        *,
        strides: int = 1,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        self.conv1 = ConvBN(
            in_features, out_features, kernel_size, strides=strides, dtype=dtype, rngs=rngs
        )
        self.conv2 = ConvBN(out_features, out_features, kernel_size, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.conv2(self.conv1(x))


@register_block('plain3x3')
def plain3x3(in_features, out_features, strides=1, *, rngs, dtype=None):
    return PlainConv(in_features, out_features, 3, strides=strides, dtype=dtype, rngs=rngs)


@register_block('plain5x5')
def plain5x5(in_features, out_features, strides=1, *, rngs, dtype=None):
    return PlainConv(in_features, out_features, 5, strides=strides, dtype=dtype, rngs=rngs)
