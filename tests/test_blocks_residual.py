"""Tests of the residual blocks: `Bottleneck` (ResNet) and `InvertedResidual` (MobileNetV2).

Weight counts are the conv kernels of the modules themselves (bias-free convs; BatchNorm scale
and offset left out), built with `nnx.eval_shape` so nothing is initialized.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from one_step import forward, gradients

from lineage.blocks import build_block
from lineage.blocks.bottleneck import Bottleneck
from lineage.blocks.conv_bn import ConvBN
from lineage.blocks.inverted_residual import InvertedResidual


def kernel_count(module: nnx.Module) -> int:
    """Conv kernel weights of every ConvBN inside `module` (no BatchNorm, no bias)."""
    return sum(m.kernel.size for _, m in nnx.iter_modules(module) if isinstance(m, ConvBN))


def test_bottleneck_vs_plain_3x3_counts():
    plain = nnx.eval_shape(lambda: ConvBN(256, 256, 3, rngs=nnx.Rngs(0)))
    block = nnx.eval_shape(lambda: Bottleneck(256, 256, rngs=nnx.Rngs(0)))
    assert kernel_count(plain) == 589_824
    # 256->64 (1x1) + 64->64 (3x3) + 64->256 (1x1); identity shortcut adds nothing.
    assert kernel_count(block) == 16_384 + 36_864 + 16_384 == 69_632
    assert block.shortcut is None


def test_bottleneck_projection_when_shape_changes():
    widen = nnx.eval_shape(lambda: Bottleneck(64, 256, rngs=nnx.Rngs(0)))
    assert widen.shortcut is not None and widen.shortcut.kernel.shape == (1, 1, 64, 256)
    stride = nnx.eval_shape(lambda: Bottleneck(256, 256, strides=2, rngs=nnx.Rngs(0)))
    assert stride.shortcut is not None and stride.shortcut.strides == (2, 2)
    # The stride sits on the 3x3 conv (ResNet v1.5), not the first 1x1.
    assert stride.reduce.strides == (1, 1) and stride.conv.strides == (2, 2)


def test_inverted_residual_counts():
    # 16->96 expand, 96 depthwise 3x3, 96->24 linear projection.
    block = nnx.eval_shape(lambda: InvertedResidual(16, 24, expand_ratio=6, rngs=nnx.Rngs(0)))
    assert kernel_count(block) == 16 * 96 + 9 * 96 + 96 * 24
    assert block.depthwise.groups == 96
    # t = 1 skips the expansion conv (MobileNetV2 Table 2, first bottleneck).
    first = nnx.eval_shape(lambda: InvertedResidual(32, 16, expand_ratio=1, rngs=nnx.Rngs(0)))
    assert first.expand is None and kernel_count(first) == 9 * 32 + 32 * 16


def _zero_last_norm(norm: nnx.BatchNorm) -> None:
    norm.scale[...] = jnp.zeros_like(norm.scale[...])
    norm.bias[...] = jnp.zeros_like(norm.bias[...])


def test_residuals_pass_the_input_through():
    """With the residual branch's last BatchNorm zeroed, a block is its shortcut."""
    x = jax.random.uniform(jax.random.key(1), (2, 5, 5, 8))  # nonnegative: ReLU keeps it
    bottleneck = Bottleneck(8, 8, rngs=nnx.Rngs(0))
    _zero_last_norm(bottleneck.expand.norm)
    np.testing.assert_allclose(forward(bottleneck, x), x, atol=1e-6)
    inverted = InvertedResidual(8, 8, rngs=nnx.Rngs(0))
    _zero_last_norm(inverted.project.norm)
    np.testing.assert_allclose(forward(inverted, x - 0.5), x - 0.5, atol=1e-6)
    assert not InvertedResidual(8, 8, strides=2, rngs=nnx.Rngs(0)).use_residual
    assert not InvertedResidual(8, 16, rngs=nnx.Rngs(0)).use_residual


def test_inverted_residual_projection_is_linear():
    block = InvertedResidual(4, 8, rngs=nnx.Rngs(0))
    y = forward(block, jax.random.normal(jax.random.key(0), (2, 6, 6, 4)))
    assert (y < 0).any(), 'a ReLU after the projection would make every output >= 0'


def test_relu6_bottleneck_has_the_same_parameters_and_clips_the_projection():
    """MobileNetV2 Fig. 6a's non-linear bottleneck: ReLU6 after the projection, no new weights."""
    linear = build_block('inverted_residual', 4, 8, 2, rngs=nnx.Rngs(0))
    relu6 = build_block('inverted_residual', 4, 8, 2, rngs=nnx.Rngs(0), linear_bottleneck=False)
    sizes = [p.size for p in jax.tree.leaves(nnx.state(linear, nnx.Param))]
    assert sizes == [p.size for p in jax.tree.leaves(nnx.state(relu6, nnx.Param))]
    x = jax.random.normal(jax.random.key(0), (2, 6, 6, 4))
    y, y_linear = forward(relu6, x), forward(linear, x)
    assert float(y.min()) == 0.0 and float(y.max()) <= 6.0
    # Same weights (same seed): the ReLU6 variant is the linear one clipped to [0, 6].
    np.testing.assert_allclose(y, jnp.clip(y_linear, 0.0, 6.0), atol=1e-6)


BLOCKS = [('bottleneck', {}), ('inverted_residual', {}), ('inverted_residual', {'expand_ratio': 1})]


@pytest.mark.parametrize('name,options', BLOCKS)
@pytest.mark.parametrize('strides,size,expected', [(1, (7, 9), (7, 9)), (2, (7, 9), (4, 5))])
def test_block_shapes_and_gradients(name, options, strides, size, expected):
    block = build_block(name, 8, 16, strides, rngs=nnx.Rngs(0), **options)
    x = jax.random.normal(jax.random.key(0), (2, *size, 8))
    assert forward(block, x).shape == (2, *expected, 16)
    grads = gradients(block, x)
    leaves = jax.tree.leaves(grads)
    assert leaves and all(bool(jnp.isfinite(g).all()) for g in leaves)
    assert any(bool((g != 0).any()) for g in leaves)


@pytest.mark.parametrize('name,options', BLOCKS[:2])
def test_block_runs_in_bfloat16(name, options):
    block = build_block(name, 8, 8, 2, rngs=nnx.Rngs(0), dtype=jnp.bfloat16, **options)
    y = forward(block, jax.random.normal(jax.random.key(0), (2, 7, 9, 8)))
    assert y.dtype == jnp.bfloat16 and y.shape == (2, 4, 5, 8)
    assert bool(jnp.isfinite(y.astype(jnp.float32)).all())
    # float32 master weights under bfloat16 compute.
    params = jax.tree.leaves(nnx.state(block, nnx.Param))
    assert all(p.dtype == jnp.float32 for p in params)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='expand_ratio'):
        InvertedResidual(8, 8, expand_ratio=0.5, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match='mid_features'):
        Bottleneck(8, 2, rngs=nnx.Rngs(0))
