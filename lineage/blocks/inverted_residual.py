"""The inverted residual block (Sandler et al. 2018, "MobileNetV2", Fig. 3b and Table 1).

The ResNet bottleneck is wide-narrow-wide with the residual between wide ends; MobileNetV2
inverts it: a 1x1 conv *expands* the narrow input by a factor t, a 3x3 depthwise conv filters
at that width, and a 1x1 conv projects back to a narrow output. The residual joins the narrow
ends, when the stride is 1 and the widths match.

The projection is linear (no activation): the paper's Sec. 3.2 argues that a ReLU on a
low-dimensional manifold destroys information, and Fig. 6a measures it against a ReLU6 in the
projection; `linear_bottleneck=False` builds that ReLU6 variant (same parameters) for the
ablation. The other convs use ReLU6. With t = 1 the expansion conv is skipped (the first block
of Table 2).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks.conv_bn import ConvBN
from lineage.blocks.registry import register_block


class InvertedResidual(nnx.Module):
    """1x1 expand by t (ReLU6) -> 3x3 depthwise (ReLU6) -> 1x1 linear projection (+ input).

    Args:
      in_features, out_features, dtype, rngs: as for `ConvBN`.
      expand_ratio: t; the hidden width is `round(in_features * t)` (torchvision). 1 skips the
        expansion conv.
      strides: spatial stride of the depthwise conv (1 or 2).
      linear_bottleneck: a linear projection (the paper's); False puts ReLU6 after it
        (Sandler et al. 2018, Fig. 6a's non-linear bottleneck).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        expand_ratio: float = 6,
        strides: int = 1,
        linear_bottleneck: bool = True,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if expand_ratio < 1:
            raise ValueError(
                f'InvertedResidual: expand_ratio={expand_ratio}; use t >= 1 (t = 1 skips the '
                'expansion conv)'
            )
        if strides not in (1, 2):
            raise ValueError(f'InvertedResidual: strides={strides}; use 1 or 2')
        hidden = int(round(in_features * expand_ratio))
        self.expand = (
            ConvBN(in_features, hidden, 1, act='relu6', dtype=dtype, rngs=rngs)
            if expand_ratio != 1
            else None
        )
        self.depthwise = ConvBN(
            hidden, hidden, 3, strides=strides, groups=hidden, act='relu6', dtype=dtype, rngs=rngs
        )
        project_act = None if linear_bottleneck else 'relu6'
        self.project = ConvBN(hidden, out_features, 1, act=project_act, dtype=dtype, rngs=rngs)
        self.use_residual = strides == 1 and in_features == out_features
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(self.dtype or x.dtype)
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.depthwise(y))
        return x + y if self.use_residual else y


@register_block('inverted_residual')
def inverted_residual(
    in_features,
    out_features,
    strides=1,
    *,
    rngs,
    dtype=None,
    expand_ratio=6,
    linear_bottleneck=True,
):
    """The MobileNetV2 block, expansion t = 6 and a linear projection unless told otherwise."""
    return InvertedResidual(
        in_features,
        out_features,
        expand_ratio=expand_ratio,
        strides=strides,
        linear_bottleneck=linear_bottleneck,
        dtype=dtype,
        rngs=rngs,
    )
