"""The baseline rung: a plain stack of two kxk convolutions (VGG, Simonyan & Zisserman 2014).

Every later block of the lineage is measured against this one: the same input and output
widths, two full kxk convolutions, no branches, no reduction, no residual.

`single5x5` is ONE 5x5 conv where `plain3x3` has two 3x3: the same receptive field, and for
C -> C channels 25 C^2 weights against 18 C^2 (the factorization's 0.72, Szegedy et al. 2016,
Sec. 3.1; Simonyan & Zisserman 2014, Sec. 2.3). VGG ran exactly this comparison in Sec. 4.1,
replacing each pair of 3x3 convs of net B by one 5x5: "The top-1 error of the shallow net was
measured to be 7% higher than that of B".

`PlainConv` takes any layer in place of its convs: `mobilenet_separable`
(`lineage.blocks.separable`) is this stack with MobileNet v1's separable layers.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks.conv_bn import ConvBN
from lineage.blocks.registry import register_block


class PlainConv(nnx.Module):
    """Two kxk `layer`s, `in -> out` (stride on the first) then `out -> out`; ConvBN-ReLU by
    default, any layer called as `layer(in, out, kernel_size, strides=, dtype=, rngs=)`."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int,
        *,
        strides: int = 1,
        layer: Callable[..., nnx.Module] = ConvBN,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, rngs=rngs)
        self.conv1 = layer(in_features, out_features, kernel_size, strides=strides, **kw)
        self.conv2 = layer(out_features, out_features, kernel_size, **kw)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.conv2(self.conv1(x))


@register_block('plain3x3')
def plain3x3(in_features, out_features, strides=1, *, rngs, dtype=None):
    return PlainConv(in_features, out_features, 3, strides=strides, dtype=dtype, rngs=rngs)


@register_block('plain5x5')
def plain5x5(in_features, out_features, strides=1, *, rngs, dtype=None):
    return PlainConv(in_features, out_features, 5, strides=strides, dtype=dtype, rngs=rngs)


@register_block('single5x5')
def single5x5(in_features, out_features, strides=1, *, rngs, dtype=None):
    """One 5x5 ConvBN-ReLU, `in -> out`: the single conv that `plain3x3`'s two 3x3 factorize."""
    return ConvBN(in_features, out_features, 5, strides=strides, dtype=dtype, rngs=rngs)
