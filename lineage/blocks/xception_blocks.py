"""The Xception entry, middle and exit flow blocks (Chollet 2017, Fig. 5).

Every block of the three flows has one shape: a few (ReLU -> SeparableConv -> BatchNorm) units,
then a 3x3 stride-2 max pool when the block downsamples, plus a residual connection (the
identity, or a 1x1 stride-s ConvBN projection when the shape changes). The ReLU comes *before*
each separable conv, so the residual path carries the un-rectified sum from block to block
(Keras `applications.Xception` layout, whose parameter count is the paper's Table 3).

  - entry flow: 64->128 (no leading ReLU: the stem's output is already rectified), 128->256,
    256->728, two separable convs each, stride 2;
  - middle flow: 728->728, three separable convs, identity residual, repeated 8 times;
  - exit flow: 728->728->1024, two separable convs (the width grows on the second), stride 2.

The registered 'separable' rung is one such block with two separable convs: the Xception unit
at the width and stride the ladder asks for.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks import framework_convention
from lineage.blocks.conv_bn import Activation, ConvBN
from lineage.blocks.pooling import max_pool
from lineage.blocks.registry import register_block
from lineage.blocks.separable import SeparableConv


class XceptionBlock(nnx.Module):
    """`reps` x (ReLU -> SeparableConv 3x3 -> BN), max pool if strided, plus a residual.

    Args:
      in_features, out_features, dtype, rngs: as for `ConvBN`.
      reps: number of separable convs.
      strides: 1, or 2 for a 3x3 stride-2 max pool after the separable convs.
      grow_first: change the width on the first separable conv (entry, middle flows) or on the
        last (exit flow: 728->728->1024).
      start_with_relu: rectify the block's input; False for the first entry block, whose input
        is already rectified by the stem.
      residual: add the shortcut (identity or projection); False gives the plain stack.
      mid_act: activation between depthwise and pointwise convs (Fig. 10), None by default.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        reps: int,
        strides: int = 1,
        grow_first: bool = True,
        start_with_relu: bool = True,
        residual: bool = True,
        mid_act: Activation = None,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if reps < 1:
            raise ValueError(f'XceptionBlock: reps={reps}; use at least one separable conv')
        if strides not in (1, 2):
            raise ValueError(f'XceptionBlock: strides={strides}; use 1 or 2')
        if grow_first:
            widths = [in_features] + [out_features] * reps
        else:
            widths = [in_features] * reps + [out_features]
        self.convs = nnx.List(
            [
                SeparableConv(a, b, 3, mid_act=mid_act, dtype=dtype, rngs=rngs)
                for a, b in zip(widths[:-1], widths[1:], strict=True)
            ]
        )
        self.strides = strides
        self.pool_padding = framework_convention.same()
        self.start_with_relu = start_with_relu
        needs_projection = strides != 1 or in_features != out_features
        self.shortcut = (
            ConvBN(in_features, out_features, 1, strides=strides, act=None, dtype=dtype, rngs=rngs)
            if residual and needs_projection
            else None
        )
        self.residual = residual
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(self.dtype or x.dtype)
        y = x
        for i, conv in enumerate(self.convs):
            if i > 0 or self.start_with_relu:
                y = jax.nn.relu(y)
            y = conv(y)
        if self.strides != 1:
            y = max_pool(y, 3, self.strides, self.pool_padding)
        if not self.residual:
            return y
        return y + (x if self.shortcut is None else self.shortcut(x))


def entry_flow_block(
    in_features: int, out_features: int, *, first: bool = False, rngs: nnx.Rngs, **kwargs
) -> XceptionBlock:
    """An entry-flow block: two separable convs, stride 2; `first` skips the leading ReLU."""
    return XceptionBlock(
        in_features,
        out_features,
        reps=2,
        strides=2,
        start_with_relu=not first,
        rngs=rngs,
        **kwargs,
    )


def middle_flow_block(features: int = 728, *, rngs: nnx.Rngs, **kwargs) -> XceptionBlock:
    """A middle-flow block: three separable convs at constant width, identity residual."""
    return XceptionBlock(features, features, reps=3, rngs=rngs, **kwargs)


def exit_flow_block(
    in_features: int = 728, out_features: int = 1024, *, rngs: nnx.Rngs, **kwargs
) -> XceptionBlock:
    """The exit-flow block: 728->728->1024 separable convs, stride 2, projection residual."""
    return XceptionBlock(
        in_features, out_features, reps=2, strides=2, grow_first=False, rngs=rngs, **kwargs
    )


@register_block('separable')
def separable(
    in_features, out_features, strides=1, *, rngs, dtype=None, mid_act=None, residual=True, reps=2
):
    """The Xception unit: `reps` (default 2) ReLU-SeparableConv-BN, max pool if strided,
    residual (identity or 1x1 projection) unless `residual=False`."""
    return XceptionBlock(
        in_features,
        out_features,
        reps=reps,
        strides=strides,
        residual=residual,
        mid_act=mid_act,
        dtype=dtype,
        rngs=rngs,
    )
