"""Tests of `SeparableConv`, the Xception flow blocks and the spectrum's `SegmentedConv`.

Weight counts are the conv kernels of the modules themselves, built bias-free and without
BatchNorm (or with BatchNorm left out of the count), with `nnx.eval_shape` so nothing is
initialized or computed.
"""

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st
from one_step import forward, gradients

from lineage.blocks import build_block
from lineage.blocks.conv_bn import ConvBN
from lineage.blocks.separable import SeparableConv
from lineage.blocks.spectrum import SegmentedConv
from lineage.models.xception import exit_flow_block, middle_flow_block


def kernel_count(module: nnx.Module) -> int:
    """Conv kernel weights of every ConvBN inside `module` (no BatchNorm, no bias)."""
    return sum(m.kernel.size for _, m in nnx.iter_modules(module) if isinstance(m, ConvBN))


def param_count(module: nnx.Module) -> int:
    """Every trainable parameter (kernels, biases, BatchNorm scale and offset)."""
    return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def bare_conv(i: int, o: int, k: int) -> ConvBN:
    return nnx.eval_shape(lambda: ConvBN(i, o, k, norm=False, use_bias=False, rngs=nnx.Rngs(0)))


def bare_separable(i: int, o: int, k: int) -> SeparableConv:
    return nnx.eval_shape(
        lambda: SeparableConv(i, o, k, norm=False, use_bias=False, rngs=nnx.Rngs(0))
    )


def test_separable_vs_conv_2_to_3():
    conv, sep = bare_conv(2, 3, 3), bare_separable(2, 3, 3)
    assert param_count(conv) == 54
    assert param_count(sep.depthwise) == 18 and param_count(sep.pointwise) == 6
    assert param_count(sep) == 24
    assert round(param_count(sep) / param_count(conv), 3) == 0.444


@settings(max_examples=40, deadline=None)
@given(
    i=st.integers(1, 64),
    o=st.integers(1, 64),
    k=st.sampled_from([1, 3, 5, 7]),
)
def test_separable_ratio_is_one_over_o_plus_one_over_k_squared(i, o, k):
    ratio = Fraction(param_count(bare_separable(i, o, k)), param_count(bare_conv(i, o, k)))
    assert ratio == Fraction(1, o) + Fraction(1, k * k)


def test_depth_multiplier_widens_the_depthwise_conv():
    sep = nnx.eval_shape(lambda: SeparableConv(4, 8, 3, depth_multiplier=2, rngs=nnx.Rngs(0)))
    assert sep.depthwise.kernel.shape == (3, 3, 1, 8)
    assert sep.pointwise.kernel.shape == (1, 1, 8, 8)
    assert kernel_count(sep) == 9 * 8 + 8 * 8


def test_mid_act_is_applied_between_the_convs():
    """The Fig. 10 ablation: ReLU or ELU between depthwise and pointwise changes the output."""
    x = jax.random.normal(jax.random.key(0), (2, 6, 6, 4))
    outputs = {
        act: forward(SeparableConv(4, 4, mid_act=act, rngs=nnx.Rngs(0)), x)
        for act in ('none', 'relu', 'elu')
    }
    assert not np.allclose(outputs['none'], outputs['relu'])
    assert not np.allclose(outputs['relu'], outputs['elu'])
    np.testing.assert_allclose(
        outputs['none'], forward(SeparableConv(4, 4, mid_act=None, rngs=nnx.Rngs(0)), x)
    )
    with pytest.raises(ValueError, match='unknown activation'):
        SeparableConv(4, 4, mid_act='tanhh', rngs=nnx.Rngs(0))


def test_xception_flow_block_counts():
    """Keras applications.Xception: separable convs bias-free, BatchNorm after each pointwise."""
    middle = nnx.eval_shape(lambda: middle_flow_block(728, rngs=nnx.Rngs(0)))
    assert middle.shortcut is None
    assert param_count(middle) == 3 * (9 * 728 + 728 * 728 + 2 * 728) == 1_613_976
    exit_ = nnx.eval_shape(lambda: exit_flow_block(728, 1024, rngs=nnx.Rngs(0)))
    expected = (9 * 728 + 728 * 728 + 2 * 728) + (9 * 728 + 728 * 1024 + 2 * 1024)
    assert param_count(exit_) == expected + 728 * 1024 + 2 * 1024  # + 1x1 projection, BN


def test_separable_rung_residual_option():
    x = jax.random.normal(jax.random.key(0), (2, 5, 5, 8))
    with_residual = build_block('separable', 8, 8, rngs=nnx.Rngs(0))
    without = build_block('separable', 8, 8, rngs=nnx.Rngs(0), residual=False)
    np.testing.assert_allclose(forward(with_residual, x) - forward(without, x), x, atol=1e-5)


def test_mobilenet_rung_is_plain3x3_with_separable_layers():
    """Howard et al. 2017, Table 4's comparison: the same two-layer stack, each 3x3 conv
    replaced by MobileNet v1's layer (Fig. 3 right: depthwise, BN, ReLU, 1x1, BN, ReLU)."""
    plain = nnx.eval_shape(lambda: build_block('plain3x3', 16, 32, 2, rngs=nnx.Rngs(0)))
    mobile = nnx.eval_shape(lambda: build_block('mobilenet_separable', 16, 32, 2, rngs=nnx.Rngs(0)))
    assert kernel_count(plain) == 9 * 16 * 32 + 9 * 32 * 32 == 13_824
    assert kernel_count(mobile) == (9 * 16 + 16 * 32) + (9 * 32 + 32 * 32) == 1_968
    first, second = mobile.conv1, mobile.conv2
    assert first.depthwise.strides == (2, 2) and second.depthwise.strides == (1, 1)
    for layer in (first, second):
        assert layer.depthwise.groups == layer.depthwise.in_features
        assert layer.depthwise.norm is not None and layer.pointwise.norm is not None
        assert layer.depthwise.act == layer.pointwise.act == 'relu'


SEGMENTS_C = 16


def test_spectrum_count_falls_from_one_segment_to_depthwise():
    counts = []
    for g in (1, 2, 4, 8, 16):
        block = nnx.eval_shape(
            lambda g=g: SegmentedConv(8, SEGMENTS_C, segments=g, rngs=nnx.Rngs(0))
        )
        assert block.spatial.kernel.shape == (3, 3, SEGMENTS_C // g, SEGMENTS_C)
        assert kernel_count(block) == 8 * SEGMENTS_C + 9 * SEGMENTS_C * SEGMENTS_C // g
        counts.append(param_count(block))
    assert all(a > b for a, b in zip(counts[:-1], counts[1:], strict=True)), counts
    # The default, g = C, is the extreme Inception: a depthwise 3x3 after the 1x1.
    extreme = nnx.eval_shape(lambda: SegmentedConv(8, SEGMENTS_C, rngs=nnx.Rngs(0)))
    assert extreme.segments == SEGMENTS_C and extreme.spatial.groups == SEGMENTS_C


def test_spectrum_rejects_segments_that_do_not_divide():
    with pytest.raises(ValueError, match='segments=3 must divide out_features=16'):
        build_block('spectrum', 8, 16, rngs=nnx.Rngs(0), segments=3)


# Options the generic block tests (tests/test_blocks_generic.py) do not set: they build every
# registered block with its defaults, in float32 and bfloat16.
BLOCKS = [
    ('separable', {'mid_act': 'relu'}),
    ('spectrum', {'segments': 1}),
    ('spectrum', {'segments': 4}),
]


@pytest.mark.parametrize('name,options', BLOCKS)
@pytest.mark.parametrize('strides,expected', [(1, (7, 9)), (2, (4, 5))])
def test_block_shapes_and_gradients(name, options, strides, expected):
    block = build_block(name, 8, 16, strides, rngs=nnx.Rngs(0), **options)
    x = jax.random.normal(jax.random.key(0), (2, 7, 9, 8))
    assert forward(block, x).shape == (2, *expected, 16)
    leaves = jax.tree.leaves(gradients(block, x))
    assert leaves and all(bool(jnp.isfinite(g).all()) for g in leaves)
    assert any(bool((g != 0).any()) for g in leaves)
