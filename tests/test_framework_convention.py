"""Conventions as model options (lineage.blocks.framework_convention and
lineage.models.convention_presets)."""

import jax.numpy as jnp
import numpy as np
import pytest
from abstract_models import abstract_model
from flax import nnx

from lineage import counting
from lineage.blocks import framework_convention
from lineage.blocks.bottleneck import Bottleneck
from lineage.blocks.conv_bn import ConvBN, padding_amounts
from lineage.blocks.factorized import FactorizedInception
from lineage.blocks.pooling import max_pool
from lineage.models import build_model


def test_tf_same_padding_puts_the_odd_pad_at_the_end():
    # 3x3 stride 2: (0, 1) on an even grid, (1, 1) on an odd one; stride 1 is symmetric.
    assert padding_amounts('same_tf', (74, 75), (3, 3), (2, 2)) == [(0, 1), (1, 1)]
    assert padding_amounts('same_tf', (8, 8), (3, 3), (1, 1)) == [(1, 1), (1, 1)]
    assert padding_amounts('same', (74, 75), (3, 3), (2, 2)) == [(1, 1), (1, 1)]
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    # Windows start at 0 and 2: the maxima of rows/cols {0,1,2} and {2,3} (one padded).
    assert max_pool(x, 3, 2, 'same_tf')[0, :, :, 0].tolist() == [[10.0, 11.0], [14.0, 15.0]]
    assert max_pool(x, 3, 2, 'same')[0, :, :, 0].tolist() == [[5.0, 7.0], [13.0, 15.0]]


def test_layers_take_the_convention_they_are_built_under():
    with framework_convention.building(framework_convention.Convention('same_tf', 1e-3)):
        layer = ConvBN(2, 4, 3, strides=2, rngs=nnx.Rngs(0))
    plain = ConvBN(2, 4, 3, strides=2, rngs=nnx.Rngs(0))
    assert (layer.padding, layer.norm.epsilon) == ('same_tf', 1e-3)
    assert (plain.padding, plain.norm.epsilon) == ('same', 1e-5)


def test_resnet_v1_strides_the_first_1x1():
    v1 = nnx.eval_shape(lambda: Bottleneck(8, 16, strides=2, stride_in='1x1', rngs=nnx.Rngs(0)))
    v15 = nnx.eval_shape(lambda: Bottleneck(8, 16, strides=2, rngs=nnx.Rngs(0)))
    assert (v1.reduce.strides, v1.conv.strides) == ((2, 2), (1, 1))
    assert (v15.reduce.strides, v15.conv.strides) == ((1, 1), (2, 2))


@pytest.mark.parametrize(
    'name', ['xception', 'inception_v3', 'mobilenet_v1', 'mobilenet_v2', 'resnet50']
)
def test_keras_preset_keeps_the_parameter_count(name):
    keras = abstract_model(name, convention='keras')
    assert counting.param_count(keras) == counting.param_count(abstract_model(name))


def test_preset_errors_are_one_line():
    with pytest.raises(ValueError, match=r"convention='tf' is not defined.*choose one of keras"):
        build_model('resnet50', num_classes=10, rngs=nnx.Rngs(0), convention='tf')
    with pytest.raises(ValueError, match=r"act='relu' contradicts convention='keras'"):
        build_model(
            'mobilenet_v1', num_classes=10, rngs=nnx.Rngs(0), convention='keras', act='relu'
        )


def test_inception_double_tower_order():
    def kernels(order):  # Fig. 6's module at Mixed_6b's structure, narrow
        module = nnx.eval_shape(
            lambda: FactorizedInception(
                8,
                2,
                2,
                2,
                2,
                2,
                2,
                factorization='asymmetric',
                n=7,
                double_first=order,
                rngs=nnx.Rngs(0),
            )
        )
        return [layer.kernel_size for layer in module.towers[2].layers]

    assert kernels('1xn') == [(1, 1), (1, 7), (7, 1), (1, 7), (7, 1)]
    assert kernels('nx1') == [(1, 1), (7, 1), (1, 7), (7, 1), (1, 7)]
    assert np.all(np.array(kernels('nx1'))[1:, ::-1] == np.array(kernels('1xn'))[1:])
