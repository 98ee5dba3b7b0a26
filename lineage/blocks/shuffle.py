"""ShuffleNet units: v1 (Zhang et al. 2017, Fig. 2) and v2 (Ma et al. 2018, Fig. 3).

v1 makes the 1x1 convs of a bottleneck cheap by grouping them (g groups: g times fewer weights
and MACs), and lets information cross the groups with a *channel shuffle* after the first one:
reshape the channels to (g, C/g), transpose, flatten, so that each group of the next grouped
conv reads one channel from every group of the last (Fig. 1). The unit (Fig. 2b):

    grouped 1x1 (BN, ReLU) -> shuffle -> 3x3 depthwise (BN) -> grouped 1x1 (BN) -> + x -> ReLU

The bottleneck width is a quarter of the output width (Sec. 3.2). The stride-2 unit (Fig. 2c)
strides the depthwise conv and replaces the addition by a concatenation with a 3x3/2 average
pool of the input, so the output has `in + branch` channels: here the branch makes
`out - in` channels, and `out > in` is required.

v2 follows four guidelines measured on hardware (Sec. 2): equal in/out widths (G1), no group
convs (G2), few branches (G3), few element-wise ops (G4). Its unit (Fig. 3c) splits the
channels in two halves; one passes untouched, the other goes through 1x1 (BN, ReLU) -> 3x3
depthwise (BN) -> 1x1 (BN, ReLU), and the halves are concatenated and shuffled (g = 2). The
downsampling unit (Fig. 3d) drops the split: both branches read the whole input, the left one
a 3x3/2 depthwise (BN) then 1x1 (BN, ReLU), and the concatenation doubles the width.

In the ladder (`build(in, out, strides)`), a stride-1 unit whose widths differ has no identity
to keep: v1 then drops the shortcut (its branch makes all `out` channels, as MobileNetV2 does),
and v2 uses the two-branch form of Fig. 3d at stride 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks.conv_bn import ConvBN
from lineage.blocks.pooling import avg_pool
from lineage.blocks.registry import register_block

BOTTLENECK_RATIO = 4  # v1: bottleneck width = out / 4 (Zhang et al. 2017, Sec. 3.2)


def channel_shuffle(x: jax.Array, groups: int) -> jax.Array:
    """Interleaves the channels of `groups` groups: `[a0 a1 | b0 b1] -> [a0 b0 a1 b1]`.

    Args:
      x: NHWC input whose channels are `groups` contiguous groups.
      groups: g; must divide the channels.

    Returns:
      `x` with channel `i * (C / g) + j` moved to `j * g + i`.
    """
    *rest, c = x.shape
    if c % groups:
        raise ValueError(f'channel_shuffle: groups={groups} must divide the {c} channels')
    return x.reshape(*rest, groups, c // groups).swapaxes(-1, -2).reshape(*rest, c)


class ShuffleV1Unit(nnx.Module):
    """The ShuffleNet v1 unit: grouped 1x1, shuffle, 3x3 depthwise, grouped 1x1; add or concat.

    Args:
      in_features, out_features, dtype, rngs: as for `ConvBN`.
      groups: g of both grouped 1x1 convs; must divide the input, bottleneck and branch widths.
      strides: 1 (residual addition) or 2 (concatenation with a 3x3/2 average pool).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        groups: int = 2,
        strides: int = 1,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if strides not in (1, 2):
            raise ValueError(f'shufflenet_v1: strides={strides}; use 1 or 2')
        if strides == 2 and out_features <= in_features:
            raise ValueError(
                f'shufflenet_v1: a stride-2 unit concatenates the pooled input, so out_features='
                f'{out_features} must exceed in_features={in_features}; widen the output'
            )
        mid = out_features // BOTTLENECK_RATIO
        branch = out_features - in_features if strides == 2 else out_features
        for what, width in (('in', in_features), ('bottleneck (out/4)', mid), ('branch', branch)):
            if width < groups or width % groups:
                raise ValueError(
                    f'shufflenet_v1: groups={groups} must divide the {what} width {width} '
                    f'({in_features} -> {out_features}, stride {strides}); pick widths that are '
                    f'multiples of {BOTTLENECK_RATIO * groups} or another groups'
                )
        self.groups = groups
        self.strides = strides
        self.reduce = ConvBN(in_features, mid, 1, groups=groups, dtype=dtype, rngs=rngs)
        self.depthwise = ConvBN(
            mid, mid, 3, strides=strides, groups=mid, act=None, dtype=dtype, rngs=rngs
        )
        # Linear: the ReLU follows the addition or concatenation.
        self.expand = ConvBN(mid, branch, 1, groups=groups, act=None, dtype=dtype, rngs=rngs)
        self.shortcut = 'concat' if strides == 2 else 'add' if in_features == out_features else None
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(self.dtype or x.dtype)
        y = channel_shuffle(self.reduce(x), self.groups)
        y = self.expand(self.depthwise(y))
        if self.shortcut == 'add':
            y = x + y
        elif self.shortcut == 'concat':
            y = jnp.concatenate([avg_pool(x, 3, self.strides), y], axis=-1)
        return jax.nn.relu(y)


class ShuffleV2Unit(nnx.Module):
    """The ShuffleNet v2 unit: channel split (or two branches), 1x1-dw3x3-1x1, concat, shuffle.

    Args:
      in_features, dtype, rngs: as for `ConvBN`.
      out_features: output channels (even: each branch makes half).
      strides: spatial stride of the depthwise convs (1 or 2).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        strides: int = 1,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if strides not in (1, 2):
            raise ValueError(f'shufflenet_v2: strides={strides}; use 1 or 2')
        if out_features % 2:
            raise ValueError(
                f'shufflenet_v2: out_features={out_features} is odd; each branch makes half, '
                'use an even width'
            )
        half = out_features // 2
        # Fig. 3c's split needs the untouched half to be half the output.
        self.split = strides == 1 and in_features == out_features
        conv = dict(dtype=dtype, rngs=rngs)
        if self.split:
            self.left = None
        else:
            self.left = nnx.Sequential(
                ConvBN(in_features, in_features, 3, strides=strides, groups=in_features,
                       act=None, **conv),
                ConvBN(in_features, half, 1, **conv),
            )  # fmt: skip
        right_in = half if self.split else in_features
        self.right = nnx.Sequential(
            ConvBN(right_in, half, 1, **conv),
            ConvBN(half, half, 3, strides=strides, groups=half, act=None, **conv),
            ConvBN(half, half, 1, **conv),
        )
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(self.dtype or x.dtype)
        if self.split:
            kept, x = jnp.split(x, 2, axis=-1)
        else:
            kept = self.left(x)
        return channel_shuffle(jnp.concatenate([kept, self.right(x)], axis=-1), 2)


@register_block('shufflenet_v1')
def shufflenet_v1(in_features, out_features, strides=1, *, rngs, dtype=None, groups=2):
    """The ShuffleNet v1 unit with `groups` (2 by default: the ladder's widths are powers of 2;
    the paper's headline network uses 3)."""
    return ShuffleV1Unit(
        in_features, out_features, groups=groups, strides=strides, dtype=dtype, rngs=rngs
    )


@register_block('shufflenet_v2')
def shufflenet_v2(in_features, out_features, strides=1, *, rngs, dtype=None):
    """The ShuffleNet v2 unit (the split form when `strides == 1` and `in == out`)."""
    return ShuffleV2Unit(in_features, out_features, strides=strides, dtype=dtype, rngs=rngs)
