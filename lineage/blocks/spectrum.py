"""The Inception-to-Xception spectrum as one module (Chollet 2017, Sec. 1.2, Figs. 2-4).

Chollet's argument: a simplified Inception module (Fig. 2: parallel 1x1 -> 3x3 towers) is a 1x1
conv whose output channels are split into g non-overlapping segments, each segment filtered by
its own 3x3 conv (Fig. 3). The segment count g is a dial:

  - g = 1: one big 3x3 conv over all channels, a regular conv after a 1x1;
  - g = 3 or 4: an Inception module with that many towers;
  - g = C: one 3x3 filter per channel, a depthwise conv: the "extreme" Inception (Fig. 4), which
    is a depthwise separable conv with the pointwise conv first.

`SegmentedConv` is the 1x1 conv followed by a 3x3 conv grouped over `segments` (feature groups),
so an ablation can sweep the hypothesis itself. Its weights are I*C + 9*C*C/g, strictly falling
as g grows from 1 to C. Unlike Xception's separable conv, each conv is followed by BatchNorm and
ReLU (the Inception modules' convention); `mid_act=None` removes the ReLU between the two (the
Xception paper's Fig. 10 finding).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks.conv_bn import Activation, ConvBN
from lineage.blocks.registry import register_block


class SegmentedConv(nnx.Module):
    """1x1 ConvBN `in -> out`, then a 3x3 ConvBN `out -> out` grouped over `segments`.

    Args:
      in_features, out_features, dtype, rngs: as for `ConvBN`; the output's C channels are the
        1x1 conv's width, split into segments.
      segments: g, the number of channel segments of the 3x3 conv; must divide `out_features`.
        None means g = C (depthwise, the extreme Inception).
      strides: spatial stride, applied by the 3x3 conv.
      mid_act: activation after the 1x1 conv; 'relu' (Inception) by default.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        segments: int | None = None,
        strides: int = 1,
        mid_act: Activation = 'relu',
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        segments = out_features if segments is None else segments
        if segments < 1 or out_features % segments:
            raise ValueError(
                f'SegmentedConv: segments={segments} must divide out_features={out_features}; '
                f'pick a divisor from 1 (one 3x3 conv) to {out_features} (depthwise)'
            )
        self.segments = segments
        self.pointwise = ConvBN(
            in_features,
            out_features,
            1,
            act=None if mid_act == 'none' else mid_act,
            dtype=dtype,
            rngs=rngs,
        )
        self.spatial = ConvBN(
            out_features,
            out_features,
            3,
            strides=strides,
            groups=segments,
            dtype=dtype,
            rngs=rngs,
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.spatial(self.pointwise(x))


@register_block('spectrum')
def spectrum(
    in_features, out_features, strides=1, *, rngs, dtype=None, segments=None, mid_act='relu'
):
    """A point on the Inception-Xception spectrum; `segments` from 1 to `out_features`
    (default: `out_features`, the extreme Inception)."""
    return SegmentedConv(
        in_features,
        out_features,
        segments=segments,
        strides=strides,
        mid_act=mid_act,
        dtype=dtype,
        rngs=rngs,
    )
