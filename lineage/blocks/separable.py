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

The Xception entry/middle/exit blocks and the registered 'separable' rung built from this layer
are in `lineage.blocks.xception_blocks`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks.conv_bn import Activation, ConvBN, activation


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
