"""Factorized Inception modules (Szegedy et al. 2015, "Rethinking the Inception Architecture").

Inception v3 keeps GoogLeNet's towers and replaces each large convolution by cheaper ones with
the same receptive field. `factorize(kernel, in, out, factorization)` is the one place that
happens, and the factorization is its parameter:

- 'none': one kxk conv, the unfactorized baseline.
- 'stacked' (Sec. 3.1, Fig. 5): (k - 1) / 2 stacked 3x3 convs, the inner ones `mid` wide (the
  input's width by default). A 5x5 conv 256->512 holds 3,276,800 weights; 3x3 256->256 then
  3x3 256->512 hold 589,824 + 1,179,648 = 1,769,472, 0.54 of it (18 / 25 = 0.72 at equal
  widths, the paper's "28% saving").
- 'asymmetric' (Sec. 3.2, Fig. 6): a 1xk conv (in -> mid) then a kx1 conv (mid -> out): 2 / k of
  the kxk at equal widths (2/3 for 3x3, 2/7 for 7x7).
- 'expanded' (Fig. 7, Sec. 6): the 1xk and the kx1 side by side on the same input and
  concatenated, `out` split between them: the expanded filter bank of the coarsest grid.

`FactorizedInception` is GoogLeNet's `Inception` module (1x1 | 1x1->3x3 | 1x1->5x5 | pool->1x1)
with its towers factorized by one parameter: Fig. 5, 6 or 7. `GridReduction` is Fig. 10, the
stride-2 module that halves the grid while it widens the filter bank, in the reference code's two
forms (torchvision `InceptionB` and `InceptionD`). Both are `InceptionModule`s built from
`ConvBN`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks.conv_bn import ConvBN
from lineage.blocks.inception import Conv, Inception, InceptionModule, split_widths
from lineage.blocks.registry import register_block

FACTORIZATIONS = ('none', 'stacked', 'asymmetric', 'expanded')
DOUBLE_FIRST = ('1xn', 'nx1')  # Fig. 6's order; TF-slim's, Keras's and torchvision's


class SplitConv(nnx.Module):
    """A 1xn and an nx1 ConvBN on the same input, concatenated (Fig. 7); widths ceil/floor half."""

    def __init__(self, in_features, out_features, n, *, strides, padding, dtype, rngs):
        if out_features < 2:
            raise ValueError(f'SplitConv: out_features={out_features}; the 1xn | nx1 halves need 2')
        if padding != 'same':
            raise ValueError("SplitConv: 1xn and nx1 halves only line up with padding='same'")
        kw = dict(strides=strides, dtype=dtype, rngs=rngs)
        self.row = ConvBN(in_features, out_features - out_features // 2, (1, n), **kw)
        self.col = ConvBN(in_features, out_features // 2, (n, 1), **kw)

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.concatenate([self.row(x), self.col(x)], axis=-1)


@dataclasses.dataclass(frozen=True)
class Split(Conv):
    """Layer spec for `SplitConv`: `width` channels in all, kernels 1xn and nx1 (n = `kernel`)."""

    kernel: int = 3
    layer: ClassVar[Callable[..., nnx.Module]] = SplitConv


def factorize(
    kernel: int, in_features: int, out_features: int, factorization: str, *, mid: int | None = None
) -> list[Conv]:
    """The layers that replace one `kernel` x `kernel` conv `in_features -> out_features`.

    Args:
      kernel: the receptive field k to keep (odd).
      in_features: input channels of the conv being replaced.
      out_features: its output channels.
      factorization: one of `FACTORIZATIONS` (see the module docstring).
      mid: width between the factors ('stacked', 'asymmetric'); defaults to `in_features`.

    Returns:
      Layer specs for a `Tower`, applied in order.
    """
    mid = in_features if mid is None else mid
    if factorization not in FACTORIZATIONS:
        raise ValueError(f'unknown factorization {factorization!r}; choose one of {FACTORIZATIONS}')
    if factorization == 'none':
        return [Conv(out_features, kernel)]
    if kernel < 3 or kernel % 2 == 0:
        raise ValueError(f'factorize: kernel={kernel}; factorizations need an odd kernel >= 3')
    if factorization == 'stacked':
        return [Conv(mid, 3)] * ((kernel - 3) // 2) + [Conv(out_features, 3)]
    if factorization == 'asymmetric':
        return [Conv(mid, (1, kernel)), Conv(out_features, (kernel, 1))]
    return [Split(out_features, kernel)]


class FactorizedInception(Inception):
    """Inception v3's module: GoogLeNet's (Fig. 2b) with its towers' spatial steps factorized.

    The "5x5" tower is always two 3x3 steps (Fig. 5), `c5r -> c5m -> c5`; `factorization` says
    what each spatial step is:

    - 'stacked' (Fig. 5): 3x3 convs. The "3x3" tower is `single_kernel` x `single_kernel`: 3 in
      the figure, 5 in the reference code's 35x35 modules (torchvision `InceptionA`).
    - 'asymmetric' (Fig. 6): every step a 1xn -> nx1 pair (n = 7 on the 17x17 grid,
      torchvision `InceptionC`; the 1xn keeps its input's width). The reference code runs the
      "5x5" tower's pairs nx1 -> 1xn instead (`double_first='nx1'`), with the same widths.
    - 'expanded' (Fig. 7): the last step of both towers is the 1xn | nx1 bank, the first step of
      the "5x5" tower a 3x3 (torchvision `InceptionE`).
    - 'none': the unfactorized module (1x1->3x3, 1x1->5x5), for ablations.

    Args:
      in_features, c1, c3r, c3, c5r, c5, pool_proj: as for `Inception`, positionally.
      c5m: width between the two steps of the "5x5" tower; defaults to `c5r`.
      factorization: 'stacked', 'asymmetric', 'expanded' or 'none'.
      n: kernel of the asymmetric and expanded factors.
      double_first: under 'asymmetric', the "5x5" tower's pairs start with '1xn' (Fig. 6) or
        'nx1' (TF-slim, Keras, torchvision).
      single_kernel: kernel of the "3x3" tower under 'stacked' and 'none'.
      pool: 'avg' (the reference code) or 'max'.
      strides, padding, dtype, rngs: as for `InceptionModule`, by keyword.
    """

    def __init__(
        self,
        *widths: int,
        c5m: int | None = None,
        factorization: str = 'stacked',
        n: int = 3,
        double_first: str = '1xn',
        single_kernel: int = 3,
        pool: str = 'avg',
        **options,
    ):
        if double_first not in DOUBLE_FIRST:
            raise ValueError(
                f'FactorizedInception: double_first={double_first!r}; use one of {DOUBLE_FIRST}'
            )
        self.factorization, self.n, self.c5m = factorization, n, c5m
        self.double_first, self.single_kernel = double_first, single_kernel
        super().__init__(*widths, pool=pool, **options)

    def single(self, c3r: int, c3: int) -> list[Conv]:
        f = self.factorization
        if f in ('none', 'stacked'):
            return [Conv(c3, self.single_kernel)]
        return factorize(self.n, c3r, c3, f)

    def double(self, c5r: int, c5: int) -> list[Conv]:
        f, n = self.factorization, self.n
        c5m = c5r if self.c5m is None else self.c5m
        if f in ('none', 'stacked'):
            return factorize(5, c5r, c5, f, mid=c5m)
        if f == 'asymmetric':
            pairs = factorize(n, c5r, c5m, f) + factorize(n, c5m, c5, f)
            if self.double_first == 'nx1':
                return [Conv(c.width, c.kernel[::-1]) for c in pairs]
            return pairs
        return factorize(3, c5r, c5m, 'none') + factorize(n, c5m, c5, f)


class GridReduction(InceptionModule):
    """Fig. 10: halve the grid and widen the filter bank in one module, stride 2 in every tower.

    Towers: [1x1 c3r ->] 3x3 c3 /2 | 1x1 c5r -> step c5m -> 3x3 c5 /2 | 3x3 max pool /2, the pool
    passing the input through, so the output has `c3 + c5 + in_features` channels. The middle
    step is a 3x3 ('stacked', torchvision `InceptionB`: c3r=0, 384, 64, 96, 96) or a 1xn -> nx1
    pair ('asymmetric', n = 7, `InceptionD`: 192, 320, 192, 192, 192).

    Args:
      in_features: input channels.
      c3r: reduce width before the first tower's 3x3; 0 for none.
      c3, c5r, c5m, c5: the other widths, as above.
      factorization: 'stacked' or 'asymmetric'.
      n: kernel of the asymmetric pair.
      strides: 2 (the point of the module); 1 keeps the grid.
      padding: 'valid' as in the reference code (35 -> 17 -> 8), or 'same' (ceil(H / 2)).
      dtype, rngs: as for `InceptionModule`.
    """

    def __init__(
        self,
        in_features: int,
        c3r: int,
        c3: int,
        c5r: int,
        c5m: int,
        c5: int,
        *,
        factorization: str = 'stacked',
        n: int = 3,
        strides: int = 2,
        padding: str = 'valid',
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if factorization not in ('stacked', 'asymmetric'):
            raise ValueError(
                f"GridReduction: factorization={factorization!r}; use 'stacked' or 'asymmetric'"
            )
        step = factorize(3 if factorization == 'stacked' else n, c5r, c5m, factorization)
        reduce = [Conv(c3r)] if c3r else []  # InceptionB's 3x3 reads its input directly
        towers = [[*reduce, Conv(c3, 3)], [Conv(c5r), *step, Conv(c5, 3)]]
        kw = dict(strides=strides, padding=padding, dtype=dtype, rngs=rngs)
        super().__init__(in_features, towers, pool='max', pool_proj=None, **kw)


def _factorized(factorization, in_features, out_features, strides, rngs, dtype, n=3):
    # The `inception` block's widths (GoogLeNet 3a's proportions) and max pool, so that these
    # rungs differ from it by the factorization alone; c5m = c5r: the inner step keeps the
    # reduced width. Fig. 7's 1xn | nx1 bank needs 2 channels per expanded tower.
    least = (1, 2, 2, 1) if factorization == 'expanded' else (1, 1, 1, 1)
    c1, c3, c5, pool_proj = split_widths(out_features, (2, 4, 1, 1), factorization, least)
    c3r, c5r = max(1, 3 * c3 // 4), max(1, c5 // 2)
    return FactorizedInception(
        in_features,
        c1,
        c3r,
        c3,
        c5r,
        c5,
        pool_proj,
        factorization=factorization,
        n=n,
        pool='max',
        strides=strides,
        dtype=dtype,
        rngs=rngs,
    )


@register_block('factorized')
def factorized(in_features, out_features, strides=1, *, rngs, dtype=None):
    """Fig. 5 (5x5 as two 3x3) at the `inception` block's widths and pool."""
    return _factorized('stacked', in_features, out_features, strides, rngs, dtype)


@register_block('factorized_asym')
def factorized_asym(in_features, out_features, strides=1, *, rngs, dtype=None, n=3):
    """Fig. 6 (every 3x3 as 1xn -> nx1, n=3 unless given), the `inception` block's widths, pool."""
    return _factorized('asymmetric', in_features, out_features, strides, rngs, dtype, n)


@register_block('factorized_expanded')
def factorized_expanded(in_features, out_features, strides=1, *, rngs, dtype=None, n=3):
    """Fig. 7 (the 1xn | nx1 bank) at the `inception` block's widths and pool."""
    return _factorized('expanded', in_features, out_features, strides, rngs, dtype, n)
