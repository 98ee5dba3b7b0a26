"""Tests of the Inception blocks: GoogLeNet's (Fig. 2a/2b) and Inception v3's factorized ones.

Weight counts come from the modules themselves, built with `nnx.eval_shape` (nothing is
initialized): `kernel_count` is the bias-free conv weights, `counting.param_count` adds the
BatchNorm scale and offset (2 per channel).
"""

import jax
import numpy as np
import pytest
from abstract_models import abstract
from flax import nnx
from one_step import run_once

from lineage import counting
from lineage.blocks import build_block
from lineage.blocks.conv_bn import ConvBN
from lineage.blocks.factorized import FactorizedInception, GridReduction, SplitConv, factorize
from lineage.blocks.inception import Conv, Inception, NaiveInception, Tower, split_widths
from lineage.blocks.pooling import max_pool


def kernel_count(module: nnx.Module) -> int:
    """Conv kernel weights of every ConvBN inside `module` (no BatchNorm, no bias)."""
    return sum(m.kernel.size for _, m in nnx.iter_modules(module) if isinstance(m, ConvBN))


def tower(in_features, layers):
    return nnx.eval_shape(
        lambda: Tower(in_features, layers, strides=1, padding='same', dtype=None, rngs=nnx.Rngs(0))
    )


def test_factorization_arithmetic():
    assert kernel_count(tower(256, [Conv(64)])) == 16_384
    full = kernel_count(tower(256, factorize(5, 256, 512, 'none')))
    stacked = kernel_count(tower(256, factorize(5, 256, 512, 'stacked')))
    assert full == 3_276_800
    assert stacked == 589_824 + 1_179_648 == 1_769_472
    assert round(stacked / full, 2) == 0.54
    # Fig. 6: 1x3 then 3x1 is 2/3 of a 3x3, 1x7 then 7x1 is 2/7 of a 7x7 (equal widths).
    assert kernel_count(tower(256, factorize(3, 256, 256, 'asymmetric'))) == 393_216
    assert 393_216 / 589_824 == pytest.approx(2 / 3)
    seven = kernel_count(tower(64, factorize(7, 64, 64, 'asymmetric')))
    assert seven / (49 * 64 * 64) == pytest.approx(2 / 7)
    # Fig. 7: 1x3 and 3x1 side by side, 256 -> 256 + 256.
    assert kernel_count(tower(256, factorize(3, 256, 512, 'expanded'))) == 2 * 3 * 256 * 256
    # A 7x7 as stacked 3x3s is three of them (Sec. 3.1).
    assert [c.kernel for c in factorize(7, 8, 8, 'stacked')] == [3, 3, 3]


def test_googlenet_3a_and_the_naive_module():
    """Table 1's inception (3a) on 192 channels, and Fig. 2a with the same 1x1/3x3/5x5 widths."""
    block = abstract(lambda r: Inception(192, 64, 96, 128, 16, 32, 32, rngs=r))
    assert block.out_features == 256
    kernels = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32
    assert kernel_count(block) == kernels == 163_328
    assert counting.param_count(block) == kernels + 2 * (64 + 96 + 128 + 16 + 32 + 32)
    # The 5x5 tower is 5x5 (torchvision's googlenet has a 3x3 here).
    assert block.towers[2].layers[1].kernel_size == (5, 5)
    naive = abstract(lambda r: NaiveInception(192, 64, 128, 32, rngs=r))
    assert naive.out_features == 64 + 128 + 32 + 192  # the pool adds the input's 192
    assert kernel_count(naive) == 192 * 64 + 9 * 192 * 128 + 25 * 192 * 32 == 387_072
    # The registry's proportions give 3a exactly at 256 outputs.
    built = abstract(lambda r: build_block('inception', 192, 256, rngs=r))
    assert kernel_count(built) == 163_328


def test_naive_pool_tower_passes_the_input_through():
    x = jax.random.normal(jax.random.key(0), (2, 7, 9, 4))
    y = run_once(lambda x: NaiveInception(4, 2, 3, 1, strides=2, rngs=nnx.Rngs(0))(x), x)
    assert y.shape == (2, 4, 5, 2 + 3 + 1 + 4)
    np.testing.assert_array_equal(y[..., -4:], max_pool(x, 3, 2))


def test_registry_naive_widths():
    grow = abstract(lambda r: build_block('naive_inception', 64, 128, rngs=r))
    assert grow.project is None
    assert [t.out_features for t in grow.towers] == [18, 37, 9]  # 2:4:1 of 128 - 64
    assert grow.out_features == 18 + 37 + 9 + 64 == 128
    keep = abstract(lambda r: build_block('naive_inception', 64, 64, rngs=r))
    assert [t.out_features for t in keep.towers] == [18, 37, 9]
    assert keep.project.kernel.shape == (1, 1, 64 + 64, 64)


def convbn(kh, kw, i, o):
    """torchvision's BasicConv2d: bias-free conv plus BatchNorm scale and offset."""
    return kh * kw * i * o + 2 * o


# torchvision inception_v3's modules, layer by layer (kernel h, w, in, out).
MIXED_5B = [
    (1, 1, 192, 64),
    (1, 1, 192, 48),
    (5, 5, 48, 64),
    (1, 1, 192, 64),
    (3, 3, 64, 96),
    (3, 3, 96, 96),
    (1, 1, 192, 32),
]
MIXED_6A = [(3, 3, 288, 384), (1, 1, 288, 64), (3, 3, 64, 96), (3, 3, 96, 96)]
MIXED_6B = [
    (1, 1, 768, 192),
    (1, 1, 768, 128),
    (1, 7, 128, 128),
    (7, 1, 128, 192),
    (1, 1, 768, 128),
    (7, 1, 128, 128),
    (1, 7, 128, 128),
    (7, 1, 128, 128),
    (1, 7, 128, 192),
    (1, 1, 768, 192),
]
MIXED_7A = [
    (1, 1, 768, 192),
    (3, 3, 192, 320),
    (1, 1, 768, 192),
    (1, 7, 192, 192),
    (7, 1, 192, 192),
    (3, 3, 192, 192),
]
MIXED_7B = [
    (1, 1, 1280, 320),
    (1, 1, 1280, 384),
    (1, 3, 384, 384),
    (3, 1, 384, 384),
    (1, 1, 1280, 448),
    (3, 3, 448, 384),
    (1, 3, 384, 384),
    (3, 1, 384, 384),
    (1, 1, 1280, 192),
]


@pytest.mark.parametrize(
    'make,layers,shape_in,shape_out',
    [
        (
            lambda r: FactorizedInception(
                192, 64, 48, 64, 64, 96, 32, c5m=96, single_kernel=5, rngs=r
            ),
            MIXED_5B,
            (35, 35, 192),
            (35, 35, 256),
        ),
        (
            lambda r: GridReduction(288, 0, 384, 64, 96, 96, rngs=r),
            MIXED_6A,
            (35, 35, 288),
            (17, 17, 768),
        ),
        (
            lambda r: FactorizedInception(
                768, 192, 128, 192, 128, 192, 192, factorization='asymmetric', n=7, rngs=r
            ),
            MIXED_6B,
            (17, 17, 768),
            (17, 17, 768),
        ),
        (
            lambda r: GridReduction(
                768, 192, 320, 192, 192, 192, factorization='asymmetric', n=7, rngs=r
            ),
            MIXED_7A,
            (17, 17, 768),
            (8, 8, 1280),
        ),
        (
            lambda r: FactorizedInception(
                1280, 320, 384, 768, 448, 768, 192, c5m=384, factorization='expanded', rngs=r
            ),
            MIXED_7B,
            (8, 8, 1280),
            (8, 8, 2048),
        ),
    ],
    ids=['5b_fig5', '6a_fig10', '6b_fig6', '7a_fig10', '7b_fig7'],
)
def test_inception_v3_modules_match_the_reference(make, layers, shape_in, shape_out):
    block = abstract(make)
    assert counting.param_count(block) == sum(convbn(*layer) for layer in layers)
    run, args, _ = counting.eval_forward(block, shape_in)
    assert jax.eval_shape(run, *args).shape == (1, *shape_out)  # shapes only, no compute
    assert block.out_features == shape_out[-1]


def test_fig5_single_tower_is_3x3_and_none_is_unfactorized():
    fig5 = abstract(lambda r: FactorizedInception(32, 8, 8, 16, 4, 8, 8, rngs=r))
    kernels = [layer.kernel_size for t in fig5.towers for layer in t.layers]
    assert kernels == [(1, 1), (1, 1), (3, 3), (1, 1), (3, 3), (3, 3)]
    base = abstract(
        lambda r: FactorizedInception(32, 8, 8, 16, 4, 8, 8, factorization='none', rngs=r)
    )
    assert [layer.kernel_size for layer in base.towers[2].layers] == [(1, 1), (5, 5)]
    # Stacking two 3x3s (4 -> 4 -> 8) is cheaper than the 5x5 (4 -> 8) it replaces.
    assert kernel_count(fig5.towers[2]) == 32 * 4 + 9 * 4 * 4 + 9 * 4 * 8 < 32 * 4 + 25 * 4 * 8


@pytest.mark.parametrize('name', ['factorized', 'factorized_asym', 'factorized_expanded'])
def test_factorized_rungs_differ_from_inception_in_the_towers_only(name):
    base = abstract(lambda r: build_block('inception', 32, 64, rngs=r))
    rung = abstract(lambda r: build_block(name, 32, 64, rngs=r))
    assert rung.pool.pool is base.pool.pool is max_pool
    assert rung.pool.out_features == base.pool.out_features
    assert [t.out_features for t in rung.towers] == [t.out_features for t in base.towers]
    assert [t.layers[0].kernel_size for t in rung.towers] == [(1, 1)] * 3  # the 1x1 reductions


def test_split_widths_sum_exactly():
    assert split_widths(256, (2, 4, 1, 1), 'b') == [64, 128, 32, 32]
    assert split_widths(100, (2, 4, 1, 1), 'b') == [25, 51, 12, 12]
    assert sum(split_widths(37, (2, 4, 1), 'b')) == 37
    # Shares below their minimum take channels from the widest one.
    assert split_widths(4, (2, 4, 1, 1), 'b') == [1, 1, 1, 1]
    assert split_widths(8, (2, 4, 1, 1), 'b', (1, 2, 2, 1)) == [2, 3, 2, 1]
    narrow = abstract(lambda r: build_block('factorized_expanded', 8, 8, rngs=r))
    assert narrow.out_features == 8


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='unknown factorization'):
        factorize(3, 8, 8, 'diagonal')
    with pytest.raises(ValueError, match='odd kernel'):
        factorize(4, 8, 8, 'stacked')
    with pytest.raises(ValueError, match='use at least 4'):
        build_block('inception', 8, 3, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match='halves need 2'):
        SplitConv(8, 1, 3, strides=1, padding='same', dtype=None, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="use 'stacked' or 'asymmetric'"):
        GridReduction(8, 4, 4, 4, 4, 4, factorization='expanded', rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="padding='same'"):
        SplitConv(8, 8, 3, strides=2, padding='valid', dtype=None, rngs=nnx.Rngs(0))
