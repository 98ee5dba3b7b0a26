"""GoogLeNet's multi-scale blocks (Szegedy et al. 2014, "Going deeper with convolutions", Fig. 2).

- `NaiveInception` (Fig. 2a): 1x1, 3x3 and 5x5 convolutions and a 3x3 max pool, side by side
  over the same input, concatenated. The pool passes its input channels through, so the output
  is always wider than the input and stacking the module blows the width up (the paper's Sec. 4).
- `Inception` (Fig. 2b): the same with 1x1 reductions before the 3x3 and the 5x5 and a 1x1
  projection after the pool; the widths are those of the paper's Table 1 (c1, c3r, c3, c5r, c5,
  pool_proj), so GoogLeNet is built exactly. The 5x5 tower really is 5x5: torchvision's
  `googlenet` has a 3x3 there (a known bug, pytorch/vision#906), 380,928 parameters short.

`InceptionModule` is the container every Inception block shares, these two and the factorized
Inception v3 modules of `lineage.blocks.factorized`: parallel towers of `ConvBN` layers and one
pooling tower over the same input, concatenated along channels. A tower is a list of layer specs
(`Conv` here, `factorized.Split` for Fig. 7 of the v3 paper); the stride of the module, and its
padding, sit on the last layer of each tower and on the pool.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from lineage.blocks import framework_convention
from lineage.blocks.conv_bn import ConvBN
from lineage.blocks.pooling import avg_pool, max_pool
from lineage.blocks.registry import register_block


@dataclasses.dataclass(frozen=True)
class Conv:
    """One layer of a tower: `layer(in_features, width, kernel, ...)`, by default a `ConvBN`-ReLU
    with `kernel` k or (kh, kw). The module's stride and padding reach it through `build`."""

    width: int
    kernel: int | tuple[int, int] = 1
    layer: ClassVar[Callable[..., nnx.Module]] = ConvBN

    @property
    def out_features(self) -> int:
        return self.width

    def build(self, in_features, *, strides, padding, dtype, rngs) -> nnx.Module:
        kw = dict(strides=strides, padding=padding, dtype=dtype, rngs=rngs)
        return self.layer(in_features, self.width, self.kernel, **kw)


class Tower(nnx.Module):
    """A chain of layers; the last one carries the module's stride and padding."""

    def __init__(self, in_features, layers: Sequence[Conv], *, strides, padding, dtype, rngs):
        built, width = [], in_features
        for i, spec in enumerate(layers):
            last = i == len(layers) - 1
            built.append(
                spec.build(
                    width,
                    strides=strides if last else 1,
                    padding=padding if last else 'same',
                    dtype=dtype,
                    rngs=rngs,
                )
            )
            width = spec.out_features
        self.layers = nnx.List(built)
        self.out_features = width

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers:
            x = layer(x)
        return x


class PoolTower(nnx.Module):
    """A 3x3 max or average pool, then a 1x1 projection to `proj` channels, or a pass-through."""

    def __init__(self, in_features, kind, proj, *, strides, padding, dtype, rngs):
        if kind not in ('max', 'avg'):
            raise ValueError(f"InceptionModule: pool={kind!r}; use 'max' or 'avg'")
        self.pool = max_pool if kind == 'max' else avg_pool
        self.strides = strides
        self.padding = framework_convention.same() if padding == 'same' else padding
        self.proj = None if proj is None else ConvBN(in_features, proj, 1, dtype=dtype, rngs=rngs)
        self.out_features = in_features if proj is None else proj

    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.pool(x, 3, self.strides, self.padding)
        return y if self.proj is None else self.proj(y)


class InceptionModule(nnx.Module):
    """Parallel conv towers and a pooling tower over one input, concatenated along channels.

    Args:
      in_features, dtype, rngs: as for `ConvBN`.
      towers: one list of layer specs per conv tower, e.g. `[[Conv(64)], [Conv(96), Conv(128, 3)]]`.
      pool: 'max' or 'avg', a 3x3 window.
      pool_proj: width of the 1x1 after the pool; None passes the pooled input through.
      strides: spatial stride of the module, on the last layer of every tower and on the pool.
      padding: padding of those strided layers: 'same' (ceil(H / s) outputs) or 'valid'.
    """

    def __init__(
        self,
        in_features: int,
        towers: Sequence[Sequence[Conv]],
        *,
        pool: str = 'max',
        pool_proj: int | None = None,
        strides: int = 1,
        padding: str = 'same',
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        widths = [s.out_features for tower in towers for s in tower]
        if not towers or not all(towers) or min(widths) < 1 or (pool_proj or 1) < 1:
            raise ValueError(
                f'InceptionModule: every tower needs layers of width >= 1 (got widths {widths}, '
                f'pool_proj={pool_proj}); drop empty towers or widen them'
            )
        kw = dict(strides=strides, padding=padding, dtype=dtype, rngs=rngs)
        self.towers = nnx.List([Tower(in_features, t, **kw) for t in towers])
        self.pool = PoolTower(in_features, pool, pool_proj, **kw)
        self.in_features = in_features
        self.out_features = sum(t.out_features for t in self.towers) + self.pool.out_features
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        # Cast once so the pass-through pool tower concatenates in the compute dtype.
        x = x.astype(self.dtype or x.dtype)
        return jnp.concatenate([t(x) for t in self.towers] + [self.pool(x)], axis=-1)


class NaiveInception(InceptionModule):
    """Fig. 2a: 1x1, 3x3 and 5x5 convs and a 3x3 max pool, concatenated.

    The output has `c1 + c3 + c5 + in_features` channels (the pool adds no filters). With
    `project`, a 1x1 ConvBN maps that concatenation to `project` channels: how the naive module
    can keep a fixed width at all, at the cost the paper's Fig. 2b then avoids.

    Args:
      in_features: input channels.
      c1, c3, c5: widths of the 1x1, 3x3 and 5x5 convs.
      project: width of an optional 1x1 after the concatenation.
      strides, padding, dtype, rngs: as for `InceptionModule`.
    """

    def __init__(
        self,
        in_features: int,
        c1: int,
        c3: int,
        c5: int,
        *,
        project: int | None = None,
        strides: int = 1,
        padding: str = 'same',
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        towers = [[Conv(c1, 1)], [Conv(c3, 3)], [Conv(c5, 5)]]
        kw = dict(strides=strides, padding=padding, dtype=dtype, rngs=rngs)
        super().__init__(in_features, towers, pool='max', **kw)
        self.project = (
            None
            if project is None
            else ConvBN(self.out_features, project, 1, dtype=dtype, rngs=rngs)
        )
        self.out_features = self.out_features if project is None else project

    def __call__(self, x: jax.Array) -> jax.Array:
        y = super().__call__(x)
        return y if self.project is None else self.project(y)


class Inception(InceptionModule):
    """Fig. 2b, GoogLeNet's module: 1x1 | 1x1->3x3 | 1x1->5x5 | 3x3 max pool->1x1.

    The spatial step of each reduced tower comes from `single` and `double` (a 3x3 and a 5x5
    here), so that Inception v3's module (`lineage.blocks.factorized.FactorizedInception`) is
    this one with those two steps factorized.

    Args:
      in_features: input channels.
      c1, c3r, c3, c5r, c5, pool_proj: the paper's Table 1 columns "#1x1", "#3x3 reduce",
        "#3x3", "#5x5 reduce", "#5x5", "pool proj" (3a: 64, 96, 128, 16, 32, 32).
      pool: 'max' (the paper) or 'avg'.
      strides, padding, dtype, rngs: as for `InceptionModule`.
    """

    def __init__(
        self,
        in_features: int,
        c1: int,
        c3r: int,
        c3: int,
        c5r: int,
        c5: int,
        pool_proj: int,
        *,
        pool: str = 'max',
        strides: int = 1,
        padding: str = 'same',
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        towers = [
            [Conv(c1)],
            [Conv(c3r), *self.single(c3r, c3)],
            [Conv(c5r), *self.double(c5r, c5)],
        ]
        kw = dict(strides=strides, padding=padding, dtype=dtype, rngs=rngs)
        super().__init__(in_features, towers, pool=pool, pool_proj=pool_proj, **kw)

    def single(self, c3r: int, c3: int) -> list[Conv]:
        """The "3x3" tower after its 1x1 reduce."""
        return [Conv(c3, 3)]

    def double(self, c5r: int, c5: int) -> list[Conv]:
        """The "5x5" tower after its 1x1 reduce."""
        return [Conv(c5, 5)]


def split_widths(
    total: int, weights: Sequence[int], block: str, minimums: Sequence[int] | None = None
) -> list[int]:
    """Splits `total` channels in proportion to `weights`, summing exactly to `total`.

    Each share is rounded down and the remainder goes to the largest weight; a share below its
    minimum (1 by default) then takes channels from the widest share, so narrow networks still
    get every tower.

    Raises:
      ValueError: when `total` is below the sum of the minimums.
    """
    minimums = [1] * len(weights) if minimums is None else list(minimums)
    if total < sum(minimums):
        raise ValueError(
            f'{block}: {total} channels cannot feed {len(weights)} towers of at least '
            f'{minimums} channels; use at least {sum(minimums)}'
        )
    widths = [total * w // sum(weights) for w in weights]
    widths[weights.index(max(weights))] += total - sum(widths)
    for i, least in enumerate(minimums):
        while widths[i] < least:
            widths[max(range(len(widths)), key=lambda j: widths[j] - minimums[j])] -= 1
            widths[i] += 1
    return widths


# Registry builders for the ladder network. GoogLeNet's 3a module (Table 1) sets the proportions:
# 1x1 : 3x3 : 5x5 : pool = 64 : 128 : 32 : 32 = 2 : 4 : 1 : 1 of the output, 3x3 reduce = 3/4 of
# the 3x3 (96 / 128), 5x5 reduce = 1/2 of the 5x5 (16 / 32). At out_features=256 the rule gives
# 3a exactly.
INCEPTION_SHARES = (2, 4, 1, 1)
NAIVE_SHARES = (2, 4, 1)  # 1x1 : 3x3 : 5x5, the conv towers of the same module


@register_block('inception')
def inception(in_features, out_features, strides=1, *, rngs, dtype=None):
    """Fig. 2b with GoogLeNet 3a's proportions (see `INCEPTION_SHARES`)."""
    c1, c3, c5, pool_proj = split_widths(out_features, INCEPTION_SHARES, 'inception')
    c3r, c5r = max(1, 3 * c3 // 4), max(1, c5 // 2)
    return Inception(
        in_features, c1, c3r, c3, c5r, c5, pool_proj, strides=strides, dtype=dtype, rngs=rngs
    )


@register_block('naive_inception')
def naive_inception(in_features, out_features, strides=1, *, rngs, dtype=None):
    """Fig. 2a; the pool passes `in_features` through, so the conv towers make up the rest.

    When `out_features - in_features >= 3` the 1x1, 3x3 and 5x5 convs split that difference
    2 : 4 : 1 and the concatenation is exactly `out_features` wide. Otherwise (a stage that keeps
    its width) they split `out_features` 2 : 4 : 1 and a 1x1 ConvBN projects the
    `out_features + in_features` concatenation back to `out_features`.
    """
    grow = out_features - in_features
    if grow >= len(NAIVE_SHARES):
        c1, c3, c5 = split_widths(grow, NAIVE_SHARES, 'naive_inception')
        project = None
    else:
        c1, c3, c5 = split_widths(out_features, NAIVE_SHARES, 'naive_inception')
        project = out_features
    return NaiveInception(
        in_features, c1, c3, c5, project=project, strides=strides, dtype=dtype, rngs=rngs
    )
