"""Depthwise separable convolution (Chollet 2017, "Xception"; Howard et al. 2017, "MobileNets").

A kxk conv from I to O channels mixes space and channels at once: k*k*I*O weights. The
separable conv splits the two jobs: a kxk depthwise conv filters each input channel on its own
(k*k*I weights), then a 1x1 pointwise conv mixes channels (I*O weights). The ratio is

    P_separable / P_conv = (k*k*I + I*O) / (k*k*I*O) = 1/O + 1/k^2,

e.g. 3x3 from 2 to 3 channels: 18 + 6 = 24 weights against 54 (0.444).

Two published layouts differ only in what sits between the two convs, so both are options:
  - Xception (Keras `SeparableConv2D`): nothing; the depthwise conv has no BatchNorm and no
    bias, BatchNorm follows the pointwise conv. The paper's Fig. 10 ablation puts an optional
    activation in between (none, ELU or ReLU) and finds none best: `mid_act`.
  - MobileNet v1 (Howard et al. 2017, Fig. 3 right): BatchNorm + ReLU after the depthwise conv
    too: `mid_norm=True, mid_act='relu'`.

The stage's two registered rungs are built from this layer:
  - 'separable': the Xception unit (`XceptionBlock`, Chollet 2017, Fig. 5): a few
    (ReLU -> SeparableConv -> BatchNorm), a 3x3 stride-2 max pool when it downsamples, and a
    residual (identity, or a 1x1 stride-s ConvBN projection when the shape changes). The ReLU
    comes *before* each separable conv, so the residual path carries the un-rectified sum
    (Keras `applications.Xception` layout, whose parameter count is the paper's Table 3). The
    Xception network's entry, middle and exit flows are this block (`lineage.models.xception`).
  - 'mobilenet_separable': `plain3x3`'s stack (`lineage.blocks.plain.PlainConv`) with each 3x3
    conv replaced by MobileNet v1's separable layer (Howard et al. 2017, Fig. 3 right): against
    `plain3x3` it is that paper's Table 4 comparison of full and separable convolution, with
    nothing else changed.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks import framework_convention
from lineage.blocks.conv_bn import Activation, ConvBN, activation
from lineage.blocks.plain import PlainConv
from lineage.blocks.pooling import max_pool
from lineage.blocks.registry import register_block


class SeparableConv(nnx.Module):
    """A kxk depthwise ConvBN then a 1x1 pointwise ConvBN.

    Args:
      dtype, rngs: as for `ConvBN`.
      in_features: input channels I.
      out_features: output channels O.
      kernel_size: depthwise kernel size k.
      strides: spatial stride, applied by the depthwise conv.
      depth_multiplier: depthwise filters per input channel (Keras `depth_multiplier`); the
        pointwise conv then reads `in_features * depth_multiplier` channels.
      mid_act: activation between the depthwise and pointwise convs: None (or 'none', the
        Xception default), 'relu', 'elu', ... (the paper's Fig. 10).
      mid_norm: BatchNorm after the depthwise conv (MobileNet v1) or not (Xception).
      norm: BatchNorm after the pointwise conv.
      act: activation after the pointwise conv (and its BatchNorm).
      use_bias: bias on the pointwise conv; defaults to `not norm`. The depthwise conv is always
        bias-free: a bias there is absorbed by the pointwise conv's bias or BatchNorm.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int = 3,
        *,
        strides: int = 1,
        depth_multiplier: int = 1,
        mid_act: Activation = None,
        mid_norm: bool = False,
        norm: bool = True,
        act: Activation = None,
        use_bias: bool | None = None,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if depth_multiplier < 1:
            raise ValueError(
                f'SeparableConv: depth_multiplier={depth_multiplier}; use an integer >= 1'
            )
        mid_act = None if mid_act == 'none' else mid_act
        activation(mid_act)  # fail at construction, not at the first call, on a bad name
        mid_features = in_features * depth_multiplier
        kw = dict(dtype=dtype, rngs=rngs)
        self.depthwise = ConvBN(
            in_features,
            mid_features,
            kernel_size,
            strides=strides,
            groups=in_features,
            norm=mid_norm,
            act=mid_act,
            use_bias=False,
            **kw,
        )
        self.pointwise = ConvBN(
            mid_features, out_features, 1, norm=norm, act=act, use_bias=use_bias, **kw
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.pointwise(self.depthwise(x))


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


# MobileNet v1's layer: 3x3 depthwise, BN, ReLU, 1x1 pointwise, BN, ReLU (Fig. 3 right).
MOBILENET_LAYER = functools.partial(SeparableConv, mid_norm=True, mid_act='relu', act='relu')


@register_block('mobilenet_separable')
def mobilenet_separable(in_features, out_features, strides=1, *, rngs, dtype=None):
    """`plain3x3` with MobileNet v1's depthwise separable layers in place of its 3x3 convs."""
    return PlainConv(
        in_features, out_features, 3, strides=strides, layer=MOBILENET_LAYER, dtype=dtype, rngs=rngs
    )
