"""SqueezeNet's Fire module (Iandola et al. 2016, "SqueezeNet", Sec. 3.2 and Fig. 1).

A 1x1 *squeeze* conv narrows the input to `s` channels; two *expand* convs read the squeezed
map side by side, a 1x1 with `e1` filters and a 3x3 with `e3`, and their outputs are
concatenated to `e1 + e3` channels. The paper's strategies 1 and 2 in one module: most filters
are 1x1 (9x fewer weights), and the few 3x3 filters see only `s` input channels.

In the ladder (`build(in, out, strides)`) the paper's two hyperparameters set the widths from
`out` (Sec. 5.1): the squeeze ratio SR = s / (e1 + e3) = 1/8 and pct3x3 = e3 / (e1 + e3) = 1/2,
so `e1 = e3 = out / 2` and `s = out / 8` (SqueezeNet itself: Fire(128 -> 16, 64, 64)).
SqueezeNet downsamples with 3x3/2 max pools between Fire modules ("late downsampling", Sec.
3.3); a stride-2 Fire here is that pool followed by the module.

SqueezeNet predates BatchNorm: its convs carry biases and no normalization (`norm=False`, used
by `lineage.models.squeezenet` to match torchvision's counts). The ladder's Fire normalizes
(`norm=True`, bias-free convs), like every other rung.
"""

from __future__ import annotations

from fractions import Fraction

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks.conv_bn import ConvBN
from lineage.blocks.pooling import max_pool
from lineage.blocks.registry import register_block


class Fire(nnx.Module):
    """1x1 squeeze (ReLU) -> [1x1 expand, 3x3 expand] (ReLU each) -> concatenated.

    Args:
      in_features, dtype, rngs: as for `ConvBN`.
      squeeze_features: s, the squeeze conv's width.
      expand1x1_features: e1, filters of the 1x1 expand conv.
      expand3x3_features: e3, filters of the 3x3 expand conv.
      strides: 1, or 2 for a 3x3/2 max pool before the module (SqueezeNet's downsampling).
      norm: BatchNorm after every conv (bias-free convs); False gives the paper's convs with
        bias and no normalization.
    """

    def __init__(
        self,
        in_features: int,
        squeeze_features: int,
        expand1x1_features: int,
        expand3x3_features: int,
        *,
        strides: int = 1,
        norm: bool = True,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if strides not in (1, 2):
            raise ValueError(f'Fire: strides={strides}; use 1 or 2')
        widths = (squeeze_features, expand1x1_features, expand3x3_features)
        if min(widths) < 1:
            raise ValueError(f'Fire: widths (s, e1, e3) = {widths}; each must be >= 1')
        conv = dict(norm=norm, use_bias=not norm, dtype=dtype, rngs=rngs)
        self.squeeze = ConvBN(in_features, squeeze_features, 1, **conv)
        self.expand1x1 = ConvBN(squeeze_features, expand1x1_features, 1, **conv)
        self.expand3x3 = ConvBN(squeeze_features, expand3x3_features, 3, **conv)
        self.strides = strides
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(self.dtype or x.dtype)
        if self.strides > 1:
            x = max_pool(x, 3, self.strides)
        s = self.squeeze(x)
        return jnp.concatenate([self.expand1x1(s), self.expand3x3(s)], axis=-1)


def fire_widths(
    out_features: int, squeeze_ratio: float = 0.125, pct3x3: float = 0.5
) -> tuple[int, int, int]:
    """`(s, e1, e3)` of a Fire module with `e1 + e3 = out_features` (the paper's SR, pct3x3).

    Raises:
      ValueError: when the ratios do not give whole channel counts of at least 1.
    """
    # Fractions, so that 0.125 * 64 is exactly 8 and 0.1 * 64 is refused rather than rounded.
    sr = Fraction(squeeze_ratio).limit_denominator(1000)
    pct = Fraction(pct3x3).limit_denominator(1000)
    squeeze, e3 = out_features * sr, out_features * pct
    if squeeze.denominator != 1 or e3.denominator != 1 or not 1 <= squeeze:
        raise ValueError(
            f'fire: out_features={out_features} with squeeze_ratio={squeeze_ratio}, '
            f'pct3x3={pct3x3} gives squeeze {float(squeeze):g} and 3x3 expand {float(e3):g} '
            'channels; use out_features divisible by both ratios (a multiple of 8 by default)'
        )
    e3 = int(e3)
    if not 1 <= e3 < out_features:
        raise ValueError(f'fire: pct3x3={pct3x3} leaves no 1x1 or no 3x3 expand; use 0 < pct < 1')
    return int(squeeze), out_features - e3, e3


@register_block('fire')
def fire(
    in_features,
    out_features,
    strides=1,
    *,
    rngs,
    dtype=None,
    squeeze_ratio=0.125,
    pct3x3=0.5,
    norm=True,
):
    """The Fire module with `s = out * squeeze_ratio`, `e3 = out * pct3x3`, `e1 = out - e3`."""
    squeeze, e1, e3 = fire_widths(out_features, squeeze_ratio, pct3x3)
    return Fire(in_features, squeeze, e1, e3, strides=strides, norm=norm, dtype=dtype, rngs=rngs)
