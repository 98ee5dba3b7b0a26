"""The bottleneck residual block (He et al. 2015, "Deep Residual Learning", Fig. 5 right).

A 1x1 conv reduces the width to `mid = out / 4`, a 3x3 conv works at that reduced width, and a
1x1 conv expands back to `out`; the input is added to the result. At 256 channels the three
convs hold 256*64 + 9*64*64 + 64*256 = 69,632 weights where one plain 3x3 256->256 holds
589,824: the reduction is what makes 50-layer networks affordable.

The stride sits on the 3x3 conv by default (torchvision's "ResNet v1.5"), not on the first 1x1
as in the paper: a strided 1x1 discards three quarters of its input positions unread.
`stride_in='1x1'` puts it back on the first 1x1 (the paper's v1, Keras's `ResNet50`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks.conv_bn import ConvBN
from lineage.blocks.registry import register_block

EXPANSION = 4  # out / mid, the paper's Fig. 5 right (64 -> 256)
STRIDE_IN = ('3x3', '1x1')  # v1.5 (torchvision), v1 (the paper, Keras)


class Bottleneck(nnx.Module):
    """1x1 reduce -> 3x3 (strided) -> 1x1 expand, plus a shortcut, then ReLU.

    The shortcut is the identity when the shape is unchanged, otherwise a 1x1 ConvBN projection
    with the block's stride (the paper's option B).

    Args:
      in_features, out_features, dtype, rngs: as for `ConvBN`.
      mid_features: width of the 3x3 conv; defaults to `out_features // 4`.
      strides: spatial stride (1 or 2), applied by the projection and by one main-path conv.
      stride_in: which main-path conv strides: '3x3' (v1.5) or '1x1' (the first, v1).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        mid_features: int | None = None,
        strides: int = 1,
        stride_in: str = '3x3',
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if stride_in not in STRIDE_IN:
            raise ValueError(f'Bottleneck: stride_in={stride_in!r}; use one of {STRIDE_IN}')
        mid = out_features // EXPANSION if mid_features is None else mid_features
        if mid < 1:
            raise ValueError(
                f'Bottleneck: out_features={out_features} gives no middle width; use '
                f'out_features >= {EXPANSION} or pass mid_features'
            )
        first = strides if stride_in == '1x1' else 1
        self.reduce = ConvBN(in_features, mid, 1, strides=first, dtype=dtype, rngs=rngs)
        self.conv = ConvBN(mid, mid, 3, strides=strides // first, dtype=dtype, rngs=rngs)
        # Linear: the ReLU comes after the residual sum.
        self.expand = ConvBN(mid, out_features, 1, act=None, dtype=dtype, rngs=rngs)
        self.shortcut = (
            ConvBN(in_features, out_features, 1, strides=strides, act=None, dtype=dtype, rngs=rngs)
            if strides != 1 or in_features != out_features
            else None
        )
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(self.dtype or x.dtype)
        y = self.expand(self.conv(self.reduce(x)))
        identity = x if self.shortcut is None else self.shortcut(x)
        return jax.nn.relu(y + identity)


@register_block('bottleneck')
def bottleneck(in_features, out_features, strides=1, *, rngs, dtype=None, mid_features=None):
    """The ResNet bottleneck, middle width `out / 4` unless `mid_features` is given."""
    return Bottleneck(
        in_features,
        out_features,
        mid_features=mid_features,
        strides=strides,
        dtype=dtype,
        rngs=rngs,
    )
